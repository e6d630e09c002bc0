/*
 * json.h - a strict streaming JSON tokenizer (RFC 8259) for request bodies.
 *
 * Bytes are pushed in pieces of any size, as they arrive from the socket;
 * the tokenizer keeps its place between pieces (a token cut by a piece's
 * end is carried over, up to XS_JSON_MAX_TOKEN bytes) and reports what it
 * reads as events to a handler. Nothing of the document is kept: the
 * handler decides what to store. Syntax errors stop the tokenizer with a
 * line, a column and a message; every later byte is ignored.
 *
 * The fast path is an array of numbers: when the handler answers the
 * opening of an array with a sink, the tokenizer writes the numbers of that
 * array straight into it, without an event per number. Anything else in
 * such an array (a string, a nested array, a number cut by a piece's end)
 * arrives as an ordinary event, so the sink changes speed, not meaning.
 *
 * What it accepts is exactly RFC 8259 JSON as jansson 2.14 reads it with
 * JSON_REJECT_DUPLICATES (the project's oracle, see tests/codec): an object
 * or an array at the top (no bare scalars), UTF-8 only, no "\u0000" in
 * strings, integers within int64, reals within the double range, depth at
 * most XS_JSON_MAX_DEPTH. Duplicate keys are the handler's to find: it
 * knows the keys that matter (json.c never stores keys).
 */
#ifndef XENTD_JSON_H
#define XENTD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "numtext.h"

enum {
  XS_JSON_MAX_DEPTH = 2048,       /* as jansson's JSON_PARSER_MAX_DEPTH */
  XS_JSON_MAX_TOKEN = 1024 * 1024 /* longest string or number carried */
};

typedef enum xs_json_kind {
  XS_JSON_NULL,
  XS_JSON_TRUE,
  XS_JSON_FALSE,
  XS_JSON_NUMBER,
  XS_JSON_STRING
} xs_json_kind;

/* The double a number stands for, as jansson's json_number_value gives
 * it: an integer token is converted from its int64 ("-0" is +0.0). */
static inline double xs_json_number(const xs_number *n) {
  return n->is_int ? (double)n->i : n->d;
}

/* A scalar value. A string is valid UTF-8 without NUL, unescaped, and
 * only valid during the event. */
typedef struct xs_json_value {
  xs_json_kind kind;
  xs_number num;
  const char *str;
  size_t len;
} xs_json_value;

/*
 * Where the numbers of one array go. While `type` is not XS_SINK_OFF, the
 * tokenizer appends each number it reads whole within a piece to `data`:
 * as a double (XS_SINK_F64) or, when the token is a JSON integer, as an
 * int64 (XS_SINK_I64). Before writing past cap it calls grow(sink,
 * at_least), which returns 0 after making room (data, cap), or -1; the
 * number then arrives as an event. With allow_null, a null is stored as
 * -INFINITY (F64 only). The handler may switch a sink off at any time.
 */
typedef enum xs_sink_type {
  XS_SINK_OFF = 0,
  XS_SINK_F64,
  XS_SINK_I64,
  XS_SINK_BYTES /* a string's bytes: see xs_json_string_sink */
} xs_sink_type;

typedef struct xs_json_sink {
  xs_sink_type type;
  void *data;
  size_t len, cap;
  int allow_null;
  int (*grow)(struct xs_json_sink *sink, size_t at_least);
} xs_json_sink;

typedef struct xs_json_handler {
  /* '{' (is_object) or '['; for an array the handler may return a sink. */
  xs_json_sink *(*open)(void *ctx, int is_object);
  /* '}' or ']': the container that `open` opened last is complete. */
  void (*close)(void *ctx, int is_object);
  /* A member's key (unescaped UTF-8, no NUL), before its value. */
  void (*key)(void *ctx, const char *s, size_t len);
  /* A scalar value (an array element or a member's value). */
  void (*scalar)(void *ctx, const xs_json_value *v);
} xs_json_handler;

typedef struct xs_json_error {
  uint64_t line;   /* 1-based */
  uint64_t column; /* 1-based, in bytes */
  uint64_t offset; /* bytes before the offending one */
  char text[160];  /* what is wrong, printable ASCII */
  int nonfinite;   /* the token was NaN, Infinity or inf (any case)  */
} xs_json_error;

typedef struct xs_json xs_json;

/* A tokenizer reporting to h with ctx; NULL when out of memory. */
xs_json *xs_json_new(const xs_json_handler *h, void *ctx);
void xs_json_free(xs_json *j);

/* Pushes the next n bytes. Returns 0, or -1 once the document is invalid
 * (then xs_json_error tells why; later calls do nothing and return -1). */
int xs_json_feed(xs_json *j, const char *data, size_t n);

/* The input has ended: 0 when it was one complete document (followed by
 * whitespace only), else -1 with the error set. */
int xs_json_finish(xs_json *j);

/* The syntax error, or NULL while there is none. */
const xs_json_error *xs_json_get_error(const xs_json *j);

/* Sets a syntax error found by the handler (a duplicate key), at the
 * position of the token just reported. */
void xs_json_fail(xs_json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The next value, when it is a string, goes to `sink` (XS_SINK_BYTES) as it
 * is read: its leading run of ASCII (printable bytes, and escapes of ASCII
 * bytes but NUL, unescaped: "\/" is "/") is appended to sink->data (char)
 * as the pieces arrive, with no length limit but what sink->grow allows,
 * and the string's scalar event then carries only the rest, from its first
 * other character, unescaped (len 0 when the whole string was such ASCII;
 * the rest is carried as any string, up to XS_JSON_MAX_TOKEN). A grow that
 * fails switches the sink off; the string is still read. Long strings (a base64
 * state) so cost no copy and no carry. Call it from `key`, for that
 * member's value; it applies to one value, whatever its kind.
 */
void xs_json_string_sink(xs_json *j, xs_json_sink *sink);

/* Bytes held by the tokenizer itself (carried token, string scratch). */
size_t xs_json_held(const xs_json *j);

#endif /* XENTD_JSON_H */
