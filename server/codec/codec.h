/*
 * codec.h - xentd's request codec: request bodies in, response bodies out,
 * with no knowledge of HTTP or sockets (server/http/ holds that).
 *
 * A body is read by a streaming parser (request.c) driven by the one field
 * table (fields.h), as its bytes arrive; limits and the memory budget are
 * enforced while it reads. The parsed request is a libxent problem plus
 * the arrays it points into. Running it (run.c) computes the outputs and
 * gives a response that is printed piece by piece into the caller's
 * buffers (writer.c), so that a large answer is never held as text.
 * Every failure is an xs_error whose kind comes from the one list of
 * errors.h.
 */
#ifndef XENTD_CODEC_H
#define XENTD_CODEC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "fields.h"
#include "xent.h"

/* ------------------------------------------------------------- buffers -- */

/* A growable byte buffer, always NUL-terminated when data != NULL. */
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
/* Room for n more bytes (plus the NUL), growing to exactly what is needed
 * when it must grow: 0, or -1 when out of memory. */
int xs_buf_reserve(xs_buf *b, size_t n);

/* -------------------------------------------------------------- errors -- */

typedef struct xs_error {
  xs_err_kind kind;
  char message[256]; /* one line, no addresses or paths                  */
  char field[128];   /* JSON path of the offending value, "" when none   */
} xs_error;

/* HTTP status, `code` and documentation line of a kind (errors.h). */
int xs_error_http_status(xs_err_kind kind);
const char *xs_error_code(xs_err_kind kind);
const char *xs_error_doc(xs_err_kind kind);
/* Prints the one error body {"error":{"code","message","field"}} into out.
 * Returns 0, or -1 when out of memory. */
int xs_error_write(const xs_error *err, xs_buf *out);
/* The Open Inference Protocol's error body, {"error": "<message>"}. */
int xs_error_write_v2(const xs_error *err, xs_buf *out);
/* Sets kind, an empty field and a printf-formatted one-line message. */
void xs_error_set(xs_error *err, xs_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* -------------------------------------------------------------- memory -- */

/* Freed large blocks a budget may keep for reuse (mem.c): a new mapping
 * is cleared by the kernel, a kept one is not. */
enum { XS_SPARE_SLOTS = 4 };

/* The daemon's memory budget: bytes reserved by every request at once. */
typedef struct xs_budget {
  _Atomic uint64_t used;
  uint64_t limit;
  /* Spare blocks: at most spare_max bytes (0: none kept), outside `used`,
   * guarded by spare_lock (held for a few loads and stores, never across
   * a system call). */
  atomic_flag spare_lock;
  uint64_t spare_max;
  int nspare;
  struct {
    void *p;
    size_t size; /* of the mapping */
  } spare[XS_SPARE_SLOTS];
} xs_budget;

/* A budget of limit bytes that keeps no spare blocks. */
void xs_budget_init(xs_budget *b, uint64_t limit);
uint64_t xs_budget_used(const xs_budget *b);
/* Keeps up to max bytes of freed large blocks for reuse: a request taking
 * a block of the same size gets one at once, without the kernel clearing
 * fresh pages; any other large block first gives every spare back to the
 * system. Resident memory is then at most what it would be with no spares
 * plus max. Spares are not part of `used` (they hold no request's data),
 * so the daemon may hold up to max beyond the budget. */
void xs_budget_keep_spares(xs_budget *b, uint64_t max);
/* Bytes of spare blocks kept now (their mappings' sizes). */
uint64_t xs_budget_spare(xs_budget *b);
/* Bytes of them resident (mincore): all of them with huge pages; without,
 * only the pages their last user touched. */
uint64_t xs_budget_spare_resident(xs_budget *b);
/* Gives every spare block back to the system; the budget keeps none
 * until xs_budget_keep_spares is called again. */
void xs_budget_close(xs_budget *b);

/* One request's share of a budget (budget NULL: no limit, only counted).
 * `held` bytes are reserved from the budget; `used` of them are taken by
 * the codec's allocations. A request may reserve an estimate first (from
 * its Content-Length); every large allocation is taken from the share,
 * which reserves more when the estimate is passed. */
typedef struct xs_mem {
  xs_budget *budget;
  uint64_t held;
  uint64_t used;
} xs_mem;

/* Reserves n more bytes: 0, or -1 with err set: 413 when held + n could
 * never fit the budget, 429 when it does not fit now (other requests hold
 * it). */
int xs_mem_reserve(xs_mem *m, uint64_t n, xs_error *err);
/* Takes n bytes for an allocation, reserving what the share lacks: 0 or
 * -1 with err set as for xs_mem_reserve. */
int xs_mem_take(xs_mem *m, uint64_t n, xs_error *err);
/* An allocation of n bytes was freed (the reservation stays). */
void xs_mem_give(xs_mem *m, uint64_t n);
/* Gives back the reserved bytes that are not used. */
void xs_mem_trim(xs_mem *m);
/* Gives back everything reserved; used must be 0 by now. */
void xs_mem_close(xs_mem *m);

/* ------------------------------------------------------------ requests -- */

/* Limits the codec enforces while it reads (the HTTP layer enforces body
 * bytes). Going over one is 413 payload_too_large. */
typedef struct xs_limits {
  size_t max_elements;          /* largest array (n * classes * ...)    */
  size_t max_rows;              /* largest n                            */
  size_t max_confusion_classes; /* largest C of a confusion matrix      */
} xs_limits;

typedef enum xs_precision { XS_FLOAT64 = 0, XS_FLOAT32 = 1 } xs_precision;

enum { /* bits of xs_request.outputs, in the order of the `outputs` names */
       XS_OUT_LOSS = 1 << 0,
       XS_OUT_PER_SAMPLE = 1 << 1,
       XS_OUT_GRAD = 1 << 2,
       XS_OUT_TARGETS = 1 << 3,
       XS_OUT_PROBS = 1 << 4,
       XS_OUT_STATS = 1 << 5,
       XS_OUT_ELEMENTWISE = 1 << 6,
       /* what a classification_metrics output needs of its state */
       XS_OUT_M_PER_CLASS = 1 << 7,
       XS_OUT_M_CONFUSION = 1 << 8
};

/* The protocol a request came in. */
typedef enum xs_proto { XS_PROTO_V1 = 0, XS_PROTO_V2 = 1 } xs_proto;

/* A model of the Open Inference Protocol (models.c). */
typedef struct xs_model xs_model;

enum { XS_V2_MAX_OUTPUTS = 32 };

/* What an Open Inference Protocol request adds to a problem. */
typedef struct xs_v2_request {
  const xs_model *model;
  char *id; /* "id" to echo (owned), or NULL                 */
  int outputs[XS_V2_MAX_OUTPUTS]; /* model output indices, request order  */
  int noutputs;
  uint32_t binary; /* bit i: outputs[i] is answered binary          */
  int out_f32;     /* logits-typed outputs are FP32, else FP64      */
} xs_v2_request;

/* What a whole-dataset metrics request adds to a problem (the batch's
 * logits, targets and ignore_index are the problem's). */
typedef struct xs_metrics_req {
  const int64_t *top_k; /* top_k as given (forms[XS_F_TOP_K] says if) */
  size_t top_k_count;
  size_t bins;   /* 0: the default                                 */
  int confusion; /* answer the confusion matrix                    */
  int per_class; /* answer per-class figures                       */
  int report;    /* answer the picture (POST /v1/metrics/report)   */
  /* XS_BODY_MERGE: the states merged while they were read (owned,
   * state_size bytes) and the rows they have seen. */
  xent_metrics *state;
  size_t state_size;
  uint64_t rows;
} xs_metrics_req;

/* How a field was given (xs_request.forms). */
enum { XS_FORM_ABSENT = 0, XS_FORM_SCALAR = 1, XS_FORM_ARRAY = 2 };

/* A parsed request: a libxent problem plus the arrays it points into,
 * which the request owns (their bytes are held in `mem`). */
typedef struct xs_request {
  xent_problem problem;
  xs_proto proto;
  unsigned body; /* XS_BODY_*                                           */
  unsigned outputs;
  xs_precision precision;
  unsigned char forms[XS_F_COUNT];
  void *owned[XS_F_COUNT];
  size_t owned_size[XS_F_COUNT]; /* bytes of each, as allocated    */
  xs_mem *mem;
  xs_v2_request v2;
  xs_metrics_req metrics;
  /* The layout of the batch (POST /v1/loss, model cross_entropy): the
   * logits' dimensions as the request lays them out, rank 2 for N x C;
   * problem.inner and problem.class_axis say the same to libxent. */
  int64_t class_axis;   /* as given: 1 (default) or -1, or rank - 1 */
  const int64_t *shape; /* the field `shape` (flat arrays), or NULL */
  size_t shape_len;     /* its entries                              */
  int rank;             /* of the logits (2: N x C)                 */
  size_t dims[XS_MAX_RANK];
  int flat; /* the arrays are flat: answers are too     */
} xs_request;

/* The batch is more than N x C nested rows (K-dimensional or flat): its
 * answer says its shape. */
static inline int xs_request_kdim(const xs_request *req) {
  return req->rank > 2 || req->flat;
}

/* The streaming parser of one request body. */
typedef struct xs_parser xs_parser;

/* A parser for `body` (one XS_BODY_*); lim NULL: no limit; mem NULL: no
 * budget. NULL when out of memory. A report body (XS_BODY_REPORT) is
 * parsed as a metrics or a merge body, whichever it holds: req->body says
 * which, req->metrics.report is set. */
xs_parser *xs_parser_new(unsigned body, const xs_limits *lim, xs_mem *mem);
/* The next n bytes of the body. Returns 0, or -1 once the request has
 * failed (feeding more is allowed and only checks the JSON syntax, which
 * takes precedence in the error finally reported). */
int xs_parser_feed(xs_parser *p, const char *data, size_t n);
/* The body has ended: 0 with req filled (it then owns the arrays), or -1
 * with err set and nothing left in req. */
int xs_parser_finish(xs_parser *p, xs_request *req, xs_error *err);
/* Frees the parser and whatever it still holds; NULL is fine. */
void xs_parser_free(xs_parser *p);

/* A parser of an Open Inference Protocol infer body for model m: a JSON
 * header of header_len bytes (0: the whole body is JSON) followed by the
 * binary tensor data of the inputs that declare binary_data_size; body_len
 * is the body's length when it is known (0: chunked or compressed), which
 * the binary sizes must then fill exactly. */
xs_parser *xs_parser_new_v2(const xs_model *m, uint64_t header_len,
                            uint64_t body_len, const xs_limits *lim,
                            xs_mem *mem);

/* The whole body at once (tests, fuzzers): new, feed, finish, free. */
int xs_parse(unsigned body, const char *text, size_t len, const xs_limits *lim,
             xs_request *req, xs_error *err);

/* Frees the arrays and gives their bytes back; NULL is fine. */
void xs_request_free(xs_request *req);

/* -------------------------------------------- Open Inference Protocol -- */

/* The model called name (len bytes), or NULL. */
const xs_model *xs_model_find(const char *name, size_t len);
/* Its name, "cross_entropy", and the XS_BODY_* whose fields it reads. */
const char *xs_model_name(const xs_model *m);
unsigned xs_model_body(const xs_model *m);
/* The models, in order (i < xs_model_count()). */
int xs_model_count(void);
const xs_model *xs_model_at(int i);
/* i such that xs_model_at(i) == m. */
int xs_model_index(const xs_model *m);
/* The model's metadata object (name, versions, platform, inputs, outputs
 * with datatype and shape, parameters), from the field and output tables.
 * Returns 0, or -1 when out of memory. */
int xs_model_metadata(const xs_model *m, xs_buf *out);

/* ----------------------------------------------------------- responses -- */

/* A computed answer, printed on demand. */
typedef struct xs_response xs_response;

/* Runs libxent on a parsed request (its body's computation), taking the
 * outputs' memory from mem (NULL: none). Returns 0 with *resp, or -1 with
 * err set. The response refers to nothing of req. */
int xs_run(const xs_request *req, xs_mem *mem, xs_response **resp,
           xs_error *err);
/* Writes the next at most max bytes of the 200 body into buf; returns how
 * many (0: the body is complete). */
size_t xs_response_read(xs_response *r, char *buf, size_t max);
/* An upper bound of the body's total length, in bytes. */
uint64_t xs_response_bound(const xs_response *r);
/* The exact length of the body, or 0 when it is only known as it is
 * printed (then stream it chunked). */
uint64_t xs_response_length(const xs_response *r);
/* The body's media type: "application/json", "application/octet-stream"
 * (binary tensors follow a JSON header) or "image/svg+xml" (a report). */
const char *xs_response_content_type(const xs_response *r);
/* For a body with binary tensors: the length of its JSON header
 * (Inference-Header-Content-Length), else 0. */
uint64_t xs_response_header_length(const xs_response *r);
/* Frees the outputs and gives their bytes back; NULL is fine. */
void xs_response_free(xs_response *r);

/* Run and print the whole body into out (tests, fuzzers). */
int xs_run_to_buf(const xs_request *req, xs_buf *out, xs_error *err);

#endif /* XENTD_CODEC_H */
