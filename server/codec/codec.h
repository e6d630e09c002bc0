/*
 * codec.h - the JSON request model of xentd, kept apart from the HTTP layer
 * so that a second protocol (the Open Inference Protocol) can fill the same
 * request model. Owns: parsing a request body into a libxent problem,
 * running it, and printing the response into one output buffer; the one
 * table that maps every failure to an HTTP status and error body.
 */
#ifndef XENTD_CODEC_H
#define XENTD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "xent.h"

/* A growable byte buffer; responses are printed straight into one. */
typedef struct xs_buf {
  char *data;
  size_t len;
  size_t cap;
} xs_buf;

void xs_buf_init(xs_buf *b);
void xs_buf_free(xs_buf *b);
/* Detaches the data (caller frees with free()); the buffer becomes empty. */
char *xs_buf_take(xs_buf *b, size_t *len);
int xs_buf_append(xs_buf *b, const char *s, size_t n); /* 0 ok, -1 ENOMEM */

/* Every failure the service reports. The table in errors.c maps each to an
 * HTTP status and the `code` string of the error body. */
typedef enum xs_err_kind {
  XS_ERR_NONE = 0,
  XS_ERR_INVALID_JSON,       /* 400 invalid_json            */
  XS_ERR_INVALID_ARGUMENT,   /* 400 invalid_argument        */
  XS_ERR_NOT_FOUND,          /* 404 not_found               */
  XS_ERR_METHOD_NOT_ALLOWED, /* 405 method_not_allowed      */
  XS_ERR_LENGTH_REQUIRED,    /* 411 length_required         */
  XS_ERR_PAYLOAD_TOO_LARGE,  /* 413 payload_too_large       */
  XS_ERR_UNSUPPORTED_MEDIA,  /* 415 unsupported_media_type  */
  XS_ERR_UNPROCESSABLE,      /* 422 unprocessable           */
  XS_ERR_OVERLOADED,         /* 429 overloaded              */
  XS_ERR_SHUTTING_DOWN,      /* 503 shutting_down           */
  XS_ERR_INTERNAL            /* 500 internal                */
} xs_err_kind;

typedef struct xs_error {
  xs_err_kind kind;
  char message[256]; /* one line, no addresses or paths                  */
  char field[128];   /* JSON path of the offending value, "" when none   */
} xs_error;

/* HTTP status and code string of a kind (the one table). */
int xs_error_http_status(xs_err_kind kind);
const char *xs_error_code(xs_err_kind kind);
/* Sets err from a libxent failure: kind from the table, field as a JSON
 * path ("targets[3]", "logits[1][7]", "mixup.lambda[2]"), message. */
void xs_error_from_xent(xs_error *err, const xent_error *xe);
/* Prints the one error body {"error":{"code","message","field"}} into out.
 * Returns 0, or -1 when out of memory. */
int xs_error_write(const xs_error *err, xs_buf *out);

/* Limits the codec enforces (the HTTP layer enforces body bytes). */
typedef struct xs_limits {
  size_t max_elements; /* largest n * classes                            */
  size_t max_rows;     /* largest n                                       */
} xs_limits;

typedef enum xs_precision { XS_FLOAT64 = 0, XS_FLOAT32 = 1 } xs_precision;

enum { /* bits of xs_request.outputs */
       XS_OUT_LOSS = 1 << 0,
       XS_OUT_PER_SAMPLE = 1 << 1,
       XS_OUT_GRAD = 1 << 2,
       XS_OUT_TARGETS = 1 << 3,
       XS_OUT_PROBS = 1 << 4,
       XS_OUT_STATS = 1 << 5
};

/* A parsed request: a libxent problem plus the buffers it points into,
 * which the request owns. */
typedef struct xs_request {
  xent_problem problem;
  unsigned outputs;
  xs_precision precision;
  void *owned; /* codec-private storage, freed by xs_request_free */
} xs_request;

/* POST /v1/loss and POST /v1/targets: parse, validate shapes and types.
 * Returns 0, or -1 with err set (no allocation left behind). */
int xs_parse_loss(const char *body, size_t len, const xs_limits *lim,
                  xs_request *req, xs_error *err);
int xs_parse_targets(const char *body, size_t len, const xs_limits *lim,
                     xs_request *req, xs_error *err);
void xs_request_free(xs_request *req);

/* Runs libxent on a parsed request and prints the 200 response body into
 * out. Returns 0, or -1 with err set (out then holds nothing useful). */
int xs_run_loss(const xs_request *req, xs_buf *out, xs_error *err);
int xs_run_targets(const xs_request *req, xs_buf *out, xs_error *err);

/* Shortest decimal text that reads back (strtod / strtof) to exactly v:
 * writes at most 32 bytes plus NUL into buf, returns the length. Non-finite
 * values are never printed by the service; the caller guarantees finite. */
size_t xs_format_double(double v, char *buf);
size_t xs_format_float(float v, char *buf);

#endif /* XENTD_CODEC_H */
