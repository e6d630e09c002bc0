/*
 * codec_priv.h - helpers shared by the codec's own files (buf.c, errors.c,
 * numfmt.c, request.c, response.c). Not part of the interface with the HTTP
 * layer; everything here is xs__-prefixed.
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

/* Room for n more bytes (plus a NUL) at b->data + b->len: 0, or -1 when out
 * of memory (the buffer is then unchanged). */
int xs__buf_reserve(xs_buf *b, size_t n);

/* Appends s as a JSON string literal (with the quotes), escaping quotes,
 * backslashes and control characters. s must be valid UTF-8. */
int xs__buf_json_string(xs_buf *b, const char *s);

/* Copies at most size - 1 bytes of src into dst, cutting only at a UTF-8
 * character boundary; always NUL-terminates (size > 0). */
void xs__copy_utf8(char *dst, size_t size, const char *src);

/* Drops a UTF-8 sequence cut short at the end of s (of length n). */
void xs__utf8_trim(char *s, size_t n);

/* Sets kind, field (a copy) and a printf-formatted message. */
void xs__set_error(xs_error *err, xs_err_kind kind, const char *field,
                   const char *fmt, ...) XS__PRINTF(4, 5);

/* Decimal text of an integer; writes at most 21 bytes plus NUL. */
size_t xs__format_int(int64_t v, char *buf);

/* What request.c keeps for response.c besides the problem. */
typedef struct xs__owned {
  double *logits;
  int64_t *targets;
  double *soft_targets;
  double *class_weights;
  double *lambda;
  int64_t *partners;
  int lambda_scalar; /* mixup.lambda was one number, not an array */
} xs__owned;

/* fastjson.c: the fast path of xs_parse_loss / xs_parse_targets for the
 * common body (plain ASCII strings, known keys once each, valid shapes).
 * Returns 0 with req filled exactly as the jansson path fills it, or 1
 * "not handled" (anything else, errors included) with req untouched and
 * nothing allocated. */
int xs__fast_parse_loss(const char *body, size_t len, const xs_limits *lim,
                        xs_request *req);
int xs__fast_parse_targets(const char *body, size_t len, const xs_limits *lim,
                           xs_request *req);
/* Requests the fast path has handled since start (for tests). */
unsigned long xs__fast_parse_hits(void);

/* request.c: the jansson-only paths, which word every error. */
int xs__parse_loss_jansson(const char *body, size_t len, const xs_limits *lim,
                           xs_request *req, xs_error *err);
int xs__parse_targets_jansson(const char *body, size_t len,
                              const xs_limits *lim, xs_request *req,
                              xs_error *err);

#endif /* XENTD_CODEC_PRIV_H */
