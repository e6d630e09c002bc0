/*
 * codec_priv.h - helpers shared by the codec's own files. Not part of the
 * interface with the HTTP layer; everything here is xs__-prefixed.
 */
#ifndef XENTD_CODEC_PRIV_H
#define XENTD_CODEC_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#if defined(__GNUC__)
#define XS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define XS__PRINTF(f, a)
#endif

/* Appends s as a JSON string literal (with the quotes), escaping quotes,
 * backslashes and control characters; a byte that is not UTF-8 becomes
 * '?'. */
int xs__buf_json_string(xs_buf *b, const char *s);

/* Copies at most size - 1 bytes of src (n bytes, need not be terminated)
 * into dst, cutting only at a UTF-8 character boundary; always
 * NUL-terminates (size > 0). */
void xs__copy_utf8(char *dst, size_t size, const char *src, size_t n);

/* Sets kind, field (a copy) and a printf-formatted one-line message. */
void xs__set_error(xs_error *err, xs_err_kind kind, const char *field,
                   const char *fmt, ...) XS__PRINTF(4, 5);

/* The JSON path of a field with nidx array indices ("logits[1][7]"; a
 * field given as a scalar has none) into buf; returns buf. */
char *xs__field_path(char *buf, size_t size, xs_field_id id, const int64_t *idx,
                     int nidx);

/* Sets err from a libxent failure on req: kind from the status, `field`
 * from the argument, row and column (through the field table), message
 * made concrete with the offending value where the request holds it. */
void xs__error_from_xent(xs_error *err, const xs_request *req,
                         const xent_error *xe);

/* 400 invalid_argument naming field id as the request's protocol names it
 * (v1 path, v2 tensor or parameter): "<name> <printf text>". */
void xs__field_error(xs_error *err, const xs_request *req, xs_field_id id,
                     const char *fmt, ...) XS__PRINTF(4, 5);

/* Decimal text of an integer; writes at most 21 bytes plus NUL. */
size_t xs__format_int(int64_t v, char *buf);

/* Memory the codec takes from a request's share (mem may be NULL):
 * malloc / realloc / free that take and give the bytes. On failure they
 * return NULL (or -1) with err set (413, 429 or 500). */
void *xs__alloc(xs_mem *mem, size_t bytes, xs_error *err);
int xs__realloc(xs_mem *mem, void **p, size_t old_bytes, size_t new_bytes,
                xs_error *err);
void xs__free(xs_mem *mem, void *p, size_t bytes);

#endif /* XENTD_CODEC_PRIV_H */
