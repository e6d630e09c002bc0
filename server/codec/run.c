/*
 * run.c - running a parsed request through libxent and describing its 200
 * body for the writer (writer.h). The outputs' memory is taken from the
 * request's share before it is allocated; the body is printed later, block
 * by block, from the outputs themselves.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "models.h"
#include "mstate.h"
#include "numtext.h"
#include "report.h"
#include "writer.h"

enum {
  OUT_PER_SAMPLE,
  OUT_GRAD,
  OUT_ELEMENTWISE,
  OUT_TARGETS,
  OUT_PROBS,
  OUT_PREDICTED,
  OUT_WORKSPACE,
  OUT_M_STATE,     /* a metrics state computed here                 */
  OUT_M_BINS,      /* xent_metrics_bin[bins]                        */
  OUT_M_CLASSES,   /* xent_metrics_class[C]                         */
  OUT_M_PER_CLASS, /* precision, recall, f1 (double), support (int64) */
  OUT_M_CONFUSION, /* uint64[C * C]                                 */
  OUT_M_TEXT,      /* the metrics' scalars and reliability, as text */
  OUT_M_JSON,      /* the state's JSON text                         */
  OUT_M_V2,        /* top_k, bin counts, confidences, accuracies    */
  OUT_M_V2STATE,   /* the state as one BYTES element                */
  OUT_COUNT
};

struct xs_response {
  xs_writer w; /* first: xs_run zeroes what follows */
  xs_mem *mem;
  void *buf[OUT_COUNT];
  size_t bytes[OUT_COUNT];
  double loss;
  xent_stats stats;
  int64_t shape[XS_MAX_RANK + 1]; /* the batch's rank and dimensions */
  /* Open Inference Protocol answers */
  double scalars[XS_V2_MAX_OUTPUTS]; /* one-element outputs            */
  int64_t iscalars[XS_V2_MAX_OUTPUTS];
  char *header; /* the JSON header, when binary   */
  size_t header_len;
  uint64_t length; /* the exact length, or 0 (streamed)                 */
  char *id_json;   /* the request's id as a JSON string                 */
  /* Whole-dataset metrics (their arrays are in buf[OUT_M_*]). */
  xent_metrics_result metrics;
  xent_metrics_config metrics_cfg;
  int svg;          /* the body is a report's picture */
  xs_buf svg_text;  /* the picture                    */
  uint64_t svg_mem; /* bytes of the budget it holds   */
  size_t state_len; /* of the state's JSON text in buf[OUT_M_JSON] */
};
_Static_assert(offsetof(struct xs_response, w) == 0,
               "xs_run zeroes what follows the writer");

void xs_response_free(xs_response *r) {
  if (r == NULL)
    return;
  for (int i = 0; i < OUT_COUNT; i++)
    xs__free(r->mem, r->buf[i], r->bytes[i]);
  free(r->header);
  free(r->id_json);
  xs_buf_free(&r->svg_text);
  xs_mem_give(r->mem, r->svg_mem);
  free(r);
}

/* count elements of size bytes into slot i, when wanted. */
static int alloc_out(xs_response *r, int i, int wanted, size_t count,
                     size_t size, xs_error *err) {
  if (!wanted)
    return 0;
  if (count > SIZE_MAX / size) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the outputs are too large");
    return -1;
  }
  r->bytes[i] = count * size == 0 ? 1 : count * size;
  r->buf[i] = xs__alloc(r->mem, r->bytes[i], err);
  if (r->buf[i] == NULL) {
    r->bytes[i] = 0;
    return -1;
  }
  return 0;
}

/* Options given that the request's loss does not use (the field table's
 * `families`), and outputs it does not have: 400 naming the field. libxent
 * refuses the ones it can tell from their values; a scalar with a default
 * (focal_gamma, poly_epsilon) it cannot, so xentd refuses any option given
 * to a loss that ignores it. */
static int check_family(const xs_request *req, xs_error *err) {
  const xent_family fam = req->problem.family;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    if (f->families == 0 || req->forms[i] == XS_FORM_ABSENT ||
        (f->families & XS_FAMILY(fam)) != 0)
      continue;
    char uses[128] = "";
    size_t used = 0;
    for (int k = 0; k <= XENT_LOSS_POLY1 && used < sizeof uses; k++)
      if (f->families & XS_FAMILY(k))
        used += (size_t)snprintf(uses + used, sizeof uses - used, "%s%s",
                                 used > 0 ? ", " : "",
                                 xs_family_name((xent_family)k));
    xs__field_error(err, req, (xs_field_id)i,
                    "is not an option of loss %s (only of %s)",
                    xs_family_name(fam), uses);
    return -1;
  }
  /* libxent's binary kernel reads the one focal_alpha: a per-class alpha
   * would be ignored by sigmoid_focal, so it is refused. */
  if (fam == XENT_LOSS_SIGMOID_FOCAL &&
      req->forms[XS_F_FOCAL_ALPHA] == XS_FORM_ARRAY) {
    xs__field_error(err, req, XS_F_FOCAL_ALPHA,
                    "is one number for sigmoid_focal (one value per class "
                    "is for softmax_focal)");
    return -1;
  }
  const int binary =
      fam == XENT_LOSS_BINARY_CROSS_ENTROPY || fam == XENT_LOSS_SIGMOID_FOCAL;
  if ((req->outputs & XS_OUT_ELEMENTWISE) && !binary) {
    xs__field_error(err, req, XS_F_OUTPUTS,
                    "elementwise is an output of binary_cross_entropy and "
                    "sigmoid_focal only");
    return -1;
  }
  return 0;
}

/* A per-position array (per_sample, predicted) as the request lays out
 * its targets: (N, d1, ..., dk) nested, or flat. */
static void put_positions(const xs_request *req, xs_writer *w, const void *v,
                          int ints) {
  const size_t n = req->problem.n * req->problem.inner;
  if (req->rank <= 2 || req->flat) {
    if (ints)
      xs_writer_ivec(w, v, n);
    else
      xs_writer_vec(w, v, n);
    return;
  }
  size_t dims[XS_MAX_RANK];
  int k = 0;
  const int cax =
      req->problem.class_axis == XENT_CLASS_AXIS_1 ? 1 : req->rank - 1;
  for (int i = 0; i < req->rank; i++)
    if (i != cax)
      dims[k++] = req->dims[i];
  xs_writer_nd(w, v, ints, k, dims);
}

/* An array of the logits' shape (grad, targets, probs, elementwise). */
static void put_like_logits(const xs_request *req, xs_writer *w,
                            const double *v) {
  const xent_problem *pb = &req->problem;
  if (req->flat)
    xs_writer_vec(w, v, pb->n * pb->classes * pb->inner);
  else if (req->rank <= 2)
    xs_writer_mat(w, v, pb->n, pb->classes);
  else
    xs_writer_nd(w, v, 0, req->rank, req->dims);
}

static int run_loss(const xs_request *req, xs_response *r, xs_error *err) {
  const xent_problem *pb = &req->problem;
  const size_t N = pb->n, C = pb->classes, inner = pb->inner;
  const unsigned want = req->outputs;
  if (check_family(req, err) != 0)
    return -1;
  if ((N != 0 && inner > SIZE_MAX / N) ||
      (N * inner != 0 && C > SIZE_MAX / (N * inner))) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the batch is too large");
    return -1;
  }
  const size_t n = N * inner; /* positions */
  const size_t nc = n * C;
  if (alloc_out(r, OUT_PER_SAMPLE, want & XS_OUT_PER_SAMPLE, n, sizeof(double),
                err) != 0 ||
      alloc_out(r, OUT_GRAD, want & XS_OUT_GRAD, nc, sizeof(double), err) !=
          0 ||
      alloc_out(r, OUT_TARGETS, want & XS_OUT_TARGETS, nc, sizeof(double),
                err) != 0 ||
      alloc_out(r, OUT_PROBS, want & XS_OUT_PROBS, nc, sizeof(double), err) !=
          0 ||
      alloc_out(r, OUT_ELEMENTWISE, want & XS_OUT_ELEMENTWISE, nc,
                sizeof(double), err) != 0 ||
      alloc_out(r, OUT_PREDICTED, want & XS_OUT_STATS, n, sizeof(int64_t),
                err) != 0)
    return -1;
  const size_t ws_size = xent_workspace_size(pb);
  if (alloc_out(r, OUT_WORKSPACE, ws_size > 0, ws_size, 1, err) != 0)
    return -1;
  xent_outputs o;
  o.loss = (want & XS_OUT_LOSS) ? &r->loss : NULL;
  o.per_sample = r->buf[OUT_PER_SAMPLE];
  o.grad = r->buf[OUT_GRAD];
  o.targets = r->buf[OUT_TARGETS];
  o.probs = r->buf[OUT_PROBS];
  o.stats = (want & XS_OUT_STATS) ? &r->stats : NULL;
  o.elementwise = r->buf[OUT_ELEMENTWISE];
  r->stats.predicted = r->buf[OUT_PREDICTED];
  xent_error xe;
  if (xent_evaluate(pb, &o, r->buf[OUT_WORKSPACE], ws_size, &xe) != XENT_OK) {
    xs__error_from_xent(err, req, &xe);
    return -1;
  }
  /* The workspace is not needed to print. */
  xs__free(r->mem, r->buf[OUT_WORKSPACE], r->bytes[OUT_WORKSPACE]);
  r->buf[OUT_WORKSPACE] = NULL;
  if (req->proto == XS_PROTO_V2)
    return 0;

  xs_writer *w = &r->w;
  xs_writer_lit(w, "{\"n\":");
  xs_writer_int(w, (int64_t)N);
  xs_writer_lit(w, ",\"classes\":");
  xs_writer_int(w, (int64_t)C);
  if (xs_request_kdim(req)) {
    xs_writer_lit(w, ",\"shape\":");
    r->shape[0] = (int64_t)req->rank;
    for (int i = 0; i < req->rank; i++)
      r->shape[i + 1] = (int64_t)req->dims[i];
    xs_writer_ivec(w, r->shape + 1, (size_t)req->rank);
  }
  if (o.loss != NULL) {
    xs_writer_lit(w, ",\"loss\":");
    xs_writer_num(w, r->loss);
  }
  if (o.per_sample != NULL) {
    xs_writer_lit(w, ",\"per_sample\":");
    put_positions(req, w, o.per_sample, 0);
  }
  if (o.grad != NULL) {
    xs_writer_lit(w, ",\"grad\":");
    put_like_logits(req, w, o.grad);
  }
  if (o.targets != NULL) {
    xs_writer_lit(w, ",\"targets\":");
    put_like_logits(req, w, o.targets);
  }
  if (o.probs != NULL) {
    xs_writer_lit(w, ",\"probs\":");
    put_like_logits(req, w, o.probs);
  }
  if (o.elementwise != NULL) {
    xs_writer_lit(w, ",\"elementwise\":");
    put_like_logits(req, w, o.elementwise);
  }
  if (o.stats != NULL) {
    xs_writer_lit(w, ",\"stats\":{\"accuracy\":");
    xs_writer_num(w, r->stats.accuracy);
    xs_writer_lit(w, ",\"mean_confidence\":");
    xs_writer_num(w, r->stats.mean_confidence);
    xs_writer_lit(w, ",\"ece\":");
    xs_writer_num(w, r->stats.ece);
    xs_writer_lit(w, ",\"mean_entropy\":");
    xs_writer_num(w, r->stats.mean_entropy);
    xs_writer_lit(w, ",\"predicted\":");
    put_positions(req, w, r->stats.predicted, 1);
    xs_writer_lit(w, ",\"counted\":");
    xs_writer_int(w, (int64_t)r->stats.counted);
    xs_writer_lit(w, "}");
  }
  xs_writer_lit(w, "}");
  return 0;
}

/* ------------------------------------------------ whole-dataset metrics -- */

/* Text appended to a buffer of known room (the caller sized it). */
typedef struct text {
  char *p;
  size_t len, cap;
} text;

static void put(text *t, const char *s) {
  const size_t n = strlen(s);
  if (t->len + n <= t->cap) {
    memcpy(t->p + t->len, s, n);
    t->len += n;
  }
}

static void put_num(text *t, double v, int defined) {
  char b[40];
  if (!defined) {
    put(t, "null");
    return;
  }
  b[xs_format_double(v, b)] = '\0';
  put(t, b);
}

static void put_u64(text *t, uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%" PRIu64, v);
  put(t, b);
}

/* The configuration of a /v1/metrics request: the defaults for C, then
 * what the request gives (top_k is checked here, to name the entry). */
static int metrics_config(const xs_request *req, xent_metrics_config *c,
                          xs_error *err) {
  const xs_metrics_req *m = &req->metrics;
  const size_t C = req->problem.classes;
  xent_metrics_config_init(c, C);
  if (req->forms[XS_F_BINS] != 0)
    c->bins = m->bins;
  if (req->forms[XS_F_TOP_K] != 0) {
    if (m->top_k_count > XENT_METRICS_MAX_TOP_K) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "top_k",
                    "top_k has %zu values, at most %d are kept", m->top_k_count,
                    XENT_METRICS_MAX_TOP_K);
      return -1;
    }
    for (size_t i = 0; i < m->top_k_count; i++) {
      const int64_t k = m->top_k[i];
      char field[32];
      snprintf(field, sizeof field, "top_k[%zu]", i);
      if (k < 1 || (uint64_t)k > C || (i > 0 && k <= m->top_k[i - 1])) {
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, field,
                      "%s is %" PRId64 ": each k must be in [1, %zu] (the "
                      "classes), increasing, without repeats",
                      field, k, C);
        return -1;
      }
      c->top_k[i] = (size_t)k;
    }
    c->top_k_count = m->top_k_count;
  }
  c->confusion = m->confusion;
  c->per_class = m->per_class;
  c->ignore_index = req->problem.ignore_index;
  xent_error xe;
  if (xent_metrics_config_check(c, &xe) != XENT_OK) {
    xs__error_from_xent(err, req, &xe);
    return -1;
  }
  return 0;
}

/* The state of a metrics request: one batch's rows (its own state), or
 * the merged states the request holds. */
static const xent_metrics *metrics_state(const xs_request *req, xs_response *r,
                                         xs_error *err) {
  if (req->body == XS_BODY_MERGE)
    return req->metrics.state;
  const xent_problem *pb = &req->problem;
  xent_metrics_config c;
  if (metrics_config(req, &c, err) != 0)
    return NULL;
  const size_t size = xent_metrics_state_size(&c);
  const size_t ws = xent_metrics_workspace_size(&c, pb->n);
  if (size == 0 || ws == 0) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the metrics are too large");
    return NULL;
  }
  if (alloc_out(r, OUT_M_STATE, 1, size, 1, err) != 0 ||
      alloc_out(r, OUT_WORKSPACE, 1, ws, 1, err) != 0)
    return NULL;
  xent_metrics *st = r->buf[OUT_M_STATE];
  xent_error xe;
  xent_metrics_batch b;
  memset(&b, 0, sizeof b);
  b.n = pb->n;
  b.dtype = pb->dtype;
  b.logits = pb->logits;
  b.targets = pb->targets;
  /* One kernel on every machine: states from different replicas merge
   * bit for bit. */
  b.kernel = XENT_KERNEL_SCALAR;
  if (xent_metrics_init(st, size, &c, &xe) != XENT_OK ||
      xent_metrics_update(st, &b, r->buf[OUT_WORKSPACE], ws, &xe) != XENT_OK) {
    xs__error_from_xent(err, req, &xe);
    return NULL;
  }
  xs__free(r->mem, r->buf[OUT_WORKSPACE], r->bytes[OUT_WORKSPACE]);
  r->buf[OUT_WORKSPACE] = NULL;
  return st;
}

/* The scalars, top_k_accuracy and reliability of a result as the text of
 * the "metrics" object's first members, without its braces. */
static void metrics_text(text *t, const xent_metrics_result *m,
                         const xent_metrics_config *c) {
  const int d = m->defined;
  const struct {
    const char *key;
    double v;
  } first[] = {{"\"accuracy\":", m->accuracy}};
  put(t, first[0].key);
  put_num(t, first[0].v, d);
  put(t, ",\"top_k_accuracy\":");
  if (!d) {
    put(t, "null");
  } else {
    put(t, "{");
    for (size_t k = 0; k < m->top_k_count; k++) {
      put(t, k > 0 ? ",\"" : "\"");
      put_u64(t, m->top_k[k]);
      put(t, "\":");
      put_num(t, m->top_k_accuracy[k], 1);
    }
    put(t, "}");
  }
  const struct {
    const char *key;
    double v;
  } rest[] = {{",\"nll\":", m->nll},
              {",\"brier\":", m->brier},
              {",\"ece\":", m->ece},
              {",\"ece_l2\":", m->ece_l2},
              {",\"mce\":", m->mce},
              {",\"mean_confidence\":", m->mean_confidence},
              {",\"mean_entropy\":", m->mean_entropy}};
  for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
    put(t, rest[i].key);
    put_num(t, rest[i].v, d);
  }
  put(t, ",\"reliability\":");
  if (!d) {
    put(t, "null");
    return;
  }
  for (size_t b = 0; b < c->bins; b++) {
    const xent_metrics_bin *bin = &m->reliability[b];
    put(t, b == 0 ? "[{\"count\":" : ",{\"count\":");
    put_u64(t, bin->count);
    put(t, ",\"mean_confidence\":");
    put_num(t, bin->mean_confidence, !bin->empty);
    put(t, ",\"accuracy\":");
    put_num(t, bin->accuracy, !bin->empty);
    put(t, "}");
  }
  put(t, "]");
}

static void average(xs_writer *w, const char *key,
                    const xent_metrics_average *a) {
  xs_writer_lit(w, key);
  xs_writer_lit(w, "{\"precision\":");
  xs_writer_num(w, a->precision);
  xs_writer_lit(w, ",\"recall\":");
  xs_writer_num(w, a->recall);
  xs_writer_lit(w, ",\"f1\":");
  xs_writer_num(w, a->f1);
}

/* The arrays of a classification_metrics answer that the result does not
 * hold as they print: top_k as int64, the bins as columns (NaN for an
 * empty bin), the state's JSON text when it is asked; every figure NaN
 * when no row was counted. */
static int metrics_v2(const xs_request *req, xs_response *r,
                      const xent_metrics *st, xs_error *err) {
  xent_metrics_result *m = &r->metrics;
  const size_t K = m->top_k_count, B = r->metrics_cfg.bins;
  if (alloc_out(r, OUT_M_V2, 1, K + 3 * B, 8, err) != 0)
    return -1;
  int64_t *tk = r->buf[OUT_M_V2], *count = tk + K;
  double *conf = (double *)(count + B), *acc = conf + B;
  for (size_t k = 0; k < K; k++) {
    tk[k] = (int64_t)m->top_k[k];
    if (!m->defined)
      m->top_k_accuracy[k] = NAN;
  }
  for (size_t b = 0; b < B; b++) {
    const xent_metrics_bin *bin = &m->reliability[b];
    count[b] = (int64_t)bin->count;
    conf[b] = bin->empty ? NAN : bin->mean_confidence;
    acc[b] = bin->empty ? NAN : bin->accuracy;
  }
  const xs_model *model = req->v2.model;
  for (int i = 0; i < req->v2.noutputs; i++)
    if (model->outputs[req->v2.outputs[i]].value == XS_OV_M_STATE) {
      char *json = NULL;
      size_t len = 0;
      if (xs_mstate_write(st, req->metrics.rows, r->mem, &json, &len,
                          &r->bytes[OUT_M_JSON], err) != 0)
        return -1;
      r->buf[OUT_M_JSON] = json;
      r->state_len = len;
    }
  return 0;
}

/* The state output as one BYTES element: binary, a 4-byte little-endian
 * length and the text; JSON, a string of the text (it holds quotes, never
 * a backslash or a control byte). Into OUT_M_V2STATE. */
static const char *state_element(xs_response *r, int binary, size_t *len,
                                 xs_error *err) {
  const char *js = r->buf[OUT_M_JSON];
  const size_t n = r->state_len;
  size_t quotes = 0;
  for (size_t i = 0; !binary && i < n; i++)
    quotes += js[i] == '"';
  const size_t size = binary ? 4 + n : n + quotes + 4;
  xs__free(r->mem, r->buf[OUT_M_V2STATE], r->bytes[OUT_M_V2STATE]);
  r->buf[OUT_M_V2STATE] = NULL;
  if (alloc_out(r, OUT_M_V2STATE, 1, size, 1, err) != 0)
    return NULL;
  unsigned char *o = r->buf[OUT_M_V2STATE];
  if (binary) {
    const uint32_t n32 = (uint32_t)n;
    o[0] = (unsigned char)n32;
    o[1] = (unsigned char)(n32 >> 8);
    o[2] = (unsigned char)(n32 >> 16);
    o[3] = (unsigned char)(n32 >> 24);
    memcpy(o + 4, js, n);
  } else {
    size_t k = 0;
    o[k++] = '[';
    o[k++] = '"';
    for (size_t i = 0; i < n; i++) {
      if (js[i] == '"')
        o[k++] = '\\';
      o[k++] = (unsigned char)js[i];
    }
    o[k++] = '"';
    o[k++] = ']';
  }
  *len = size;
  return (const char *)o;
}

/* POST /v1/metrics/report: the picture of the metrics, its bytes taken
 * from the budget at their bound before it is drawn. */
static int report(xs_response *r, const xent_metrics_config *c,
                  const xent_metrics_result *m, xs_error *err) {
  const size_t bound = xs_report_svg_bound(c);
  if (bound == SIZE_MAX) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the picture is too large");
    return -1;
  }
  if (xs_mem_take(r->mem, bound, err) != 0)
    return -1;
  r->svg_mem = bound;
  if (xs_report_svg(&r->svg_text, c, m) != 0) {
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  r->svg = 1;
  r->length = r->svg_text.len;
  xs_writer_raw(&r->w, r->svg_text.data, r->svg_text.len);
  return 0;
}

static int run_metrics(const xs_request *req, xs_response *r, xs_error *err) {
  const xent_metrics *st = metrics_state(req, r, err);
  if (st == NULL)
    return -1;
  xent_metrics_config c;
  xent_error xe;
  if (xent_metrics_get_config(st, &c, &xe) != XENT_OK) {
    xs_error_set(err, XS_ERR_INTERNAL, "a metrics state is broken");
    return -1;
  }
  const size_t C = c.classes;
  const int per_class = c.per_class != 0;
  if (alloc_out(r, OUT_M_BINS, 1, c.bins, sizeof(xent_metrics_bin), err) != 0 ||
      alloc_out(r, OUT_M_CLASSES, per_class, C, sizeof(xent_metrics_class),
                err) != 0 ||
      alloc_out(r, OUT_M_PER_CLASS, per_class, C, 4 * sizeof(double), err) !=
          0 ||
      alloc_out(r, OUT_M_CONFUSION, c.confusion, C * C, sizeof(uint64_t),
                err) != 0)
    return -1;
  xent_metrics_result m;
  memset(&m, 0, sizeof m);
  m.reliability = r->buf[OUT_M_BINS];
  m.per_class = r->buf[OUT_M_CLASSES];
  m.confusion = r->buf[OUT_M_CONFUSION];
  if (xent_metrics_compute(st, &m, &xe) != XENT_OK) {
    xs_error_set(err, XS_ERR_INTERNAL, "the metrics of a state failed: %s",
                 xent_strerror(xe.status));
    return -1;
  }
  r->metrics = m;
  r->metrics_cfg = c;
  if (req->metrics.report)
    return report(r, &c, &m, err);
  if (per_class) {
    double *pr = r->buf[OUT_M_PER_CLASS], *rc = pr + C, *f1 = rc + C;
    int64_t *sup = (int64_t *)(f1 + C);
    for (size_t k = 0; k < C; k++) {
      pr[k] = m.defined ? m.per_class[k].precision : NAN;
      rc[k] = m.defined ? m.per_class[k].recall : NAN;
      f1[k] = m.defined ? m.per_class[k].f1 : NAN;
      sup[k] = (int64_t)m.per_class[k].support;
    }
  }
  if (req->proto == XS_PROTO_V2)
    return metrics_v2(req, r, st, err);
  /* The scalars and the bins as text: at most 48 bytes a number. */
  const size_t room = 1024 + 64 * 48 + (size_t)c.bins * 160;
  if (alloc_out(r, OUT_M_TEXT, 1, room, 1, err) != 0)
    return -1;
  text t = {r->buf[OUT_M_TEXT], 0, room};
  metrics_text(&t, &m, &c);
  char *json = NULL;
  size_t json_len = 0;
  if (xs_mstate_write(st, req->metrics.rows, r->mem, &json, &json_len,
                      &r->bytes[OUT_M_JSON], err) != 0)
    return -1;
  r->buf[OUT_M_JSON] = json;

  xs_writer *w = &r->w;
  xs_writer_lit(w, "{\"n\":");
  xs_writer_int(w, (int64_t)req->metrics.rows);
  xs_writer_lit(w, ",\"classes\":");
  xs_writer_int(w, (int64_t)C);
  xs_writer_lit(w, ",\"counted\":");
  xs_writer_int(w, (int64_t)m.counted);
  xs_writer_lit(w, ",\"metrics\":{");
  xs_writer_raw(w, t.p, t.len);
  if (per_class) {
    xs_writer_lit(w, ",\"per_class\":");
    if (!m.defined) {
      xs_writer_lit(w, "null");
    } else {
      const double *pr = r->buf[OUT_M_PER_CLASS], *rc = pr + C, *f1 = rc + C;
      const int64_t *sup = (const int64_t *)(f1 + C);
      xs_writer_lit(w, "{\"precision\":");
      xs_writer_vec(w, pr, C);
      xs_writer_lit(w, ",\"recall\":");
      xs_writer_vec(w, rc, C);
      xs_writer_lit(w, ",\"f1\":");
      xs_writer_vec(w, f1, C);
      xs_writer_lit(w, ",\"support\":");
      xs_writer_ivec(w, sup, C);
      average(w, ",\"macro\":", &m.macro);
      xs_writer_lit(w, ",\"classes\":");
      xs_writer_int(w, (int64_t)m.macro_classes);
      xs_writer_lit(w, "}");
      average(w, ",\"weighted\":", &m.weighted);
      xs_writer_lit(w, "}}");
    }
  }
  if (c.confusion) {
    xs_writer_lit(w, ",\"confusion\":");
    if (!m.defined)
      xs_writer_lit(w, "null");
    else
      xs_writer_imat(w, (const int64_t *)m.confusion, C, C);
  }
  xs_writer_lit(w, "},\"state\":");
  xs_writer_raw(w, json, json_len);
  xs_writer_lit(w, "}");
  return 0;
}

static int run_targets(const xs_request *req, xs_response *r, xs_error *err) {
  const xent_problem *pb = &req->problem;
  const size_t n = pb->n, C = pb->classes;
  if (n != 0 && C > SIZE_MAX / n) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the batch is too large");
    return -1;
  }
  if (alloc_out(r, OUT_TARGETS, 1, n * C, sizeof(double), err) != 0)
    return -1;
  xent_problem p = *pb;
  p.logits = NULL; /* no class is masked: K = classes */
  xent_error xe;
  if (xent_targets(&p, r->buf[OUT_TARGETS], &xe) != XENT_OK) {
    xs__error_from_xent(err, req, &xe);
    return -1;
  }
  if (req->proto == XS_PROTO_V2)
    return 0;
  xs_writer_lit(&r->w, "{\"targets\":");
  xs_writer_mat(&r->w, r->buf[OUT_TARGETS], n, C);
  xs_writer_lit(&r->w, "}");
  return 0;
}

/* ------------------------------------------- Open Inference Protocol -- */

/* An output slot of doubles turned into FP32 in place (each double rounded
 * once; float i is written over bytes [4i, 4i + 4), which hold doubles
 * already read), and the storage shrunk to the floats: a binary FP32
 * answer needs no second buffer. */
static const float *as_f32(xs_response *r, int slot, size_t count,
                           xs_error *err) {
  char *b = r->buf[slot]; /* bytes: the two types overlap */
  /* Eight at a time through locals, which the compiler turns into vector
   * conversions (one scalar conversion a value was a tenth of a v2 binary
   * request). A block is read whole before its floats are written, and they
   * land below the doubles of every later block: 4 i + 32 <= 8 (i + 8). */
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    double x[8];
    float v[8];
    memcpy(x, b + i * sizeof x[0], sizeof x);
    for (size_t k = 0; k < 8; k++)
      v[k] = (float)x[k];
    memcpy(b + i * sizeof v[0], v, sizeof v);
  }
  for (; i < count; i++) {
    double x;
    memcpy(&x, b + i * sizeof x, sizeof x);
    const float v = (float)x;
    memcpy(b + i * sizeof v, &v, sizeof v);
  }
  if (xs__realloc(r->mem, &r->buf[slot], r->bytes[slot], count * sizeof(float),
                  err) != 0)
    return NULL;
  r->bytes[slot] = count * sizeof(float) == 0 ? 1 : count * sizeof(float);
  return r->buf[slot];
}

/* The response of an infer request: a JSON object of outputs in the order
 * asked, each with its data (JSON) or its binary_data_size (binary, its
 * bytes after the object, as the binary tensor data extension says). */
static int layout_v2(const xs_request *req, xs_response *r, xs_error *err) {
  const xs_model *m = req->v2.model;
  const size_t n = req->problem.n, C = req->problem.classes;
  xs_writer *w = &r->w;
  struct {
    const void *p;
    size_t len;
  } bin[XS_V2_MAX_OUTPUTS];
  int nbin = 0;
  xs_writer_lit(w, "{\"model_name\":\"");
  xs_writer_lit(w, xs_model_name(m));
  xs_writer_lit(w, "\",\"model_version\":\"1\"");
  if (req->v2.id != NULL) {
    xs_buf id;
    xs_buf_init(&id);
    if (xs__buf_json_string(&id, req->v2.id) != 0) {
      xs_buf_free(&id);
      xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
      return -1;
    }
    r->id_json = id.data;
    xs_writer_lit(w, ",\"id\":");
    xs_writer_raw(w, id.data, id.len);
  }
  xs_writer_lit(w, ",\"outputs\":[");
  for (int i = 0; i < req->v2.noutputs; i++) {
    const xs_output_def *o = &m->outputs[req->v2.outputs[i]];
    const int f32 = o->type == XS_OT_LOGITS && req->v2.out_f32;
    const int binary = (req->v2.binary >> i) & 1;
    const char *dtype = o->type == XS_OT_INT64   ? "INT64"
                        : o->type == XS_OT_BYTES ? "BYTES"
                        : f32                    ? "FP32"
                                                 : "FP64";
    xs_writer_lit(w, i > 0 ? ",{\"name\":\"" : "{\"name\":\"");
    xs_writer_lit(w, o->name);
    xs_writer_lit(w, "\",\"datatype\":\"");
    xs_writer_lit(w, dtype);
    xs_writer_lit(w, "\",\"shape\":[");
    /* The shape's dimensions: per position (N, d1, ..., dk), the
     * logits' own, or the metrics'. */
    const size_t MC = r->metrics_cfg.classes;
    size_t dims[XS_MAX_RANK] = {1, 0};
    int rank = 1;
    const int cax =
        req->problem.class_axis == XENT_CLASS_AXIS_1 ? 1 : req->rank - 1;
    switch (o->shape) {
    case XS_OS_ONE:
      break;
    case XS_OS_N:
      dims[0] = n;
      for (int k = 1; k < req->rank && req->body == XS_BODY_LOSS; k++)
        if (k != cax)
          dims[rank++] = req->dims[k];
      break;
    case XS_OS_NC:
      dims[0] = n;
      dims[1] = C;
      rank = 2;
      if (req->body == XS_BODY_LOSS) {
        rank = req->rank;
        for (int k = 0; k < rank; k++)
          dims[k] = req->dims[k];
      }
      break;
    case XS_OS_K:
      dims[0] = r->metrics.top_k_count;
      break;
    case XS_OS_B:
      dims[0] = r->metrics_cfg.bins;
      break;
    case XS_OS_C:
      dims[0] = MC;
      break;
    case XS_OS_CC:
      dims[0] = MC;
      dims[1] = MC;
      rank = 2;
      break;
    }
    size_t count = 1;
    for (int k = 0; k < rank; k++) {
      if (k > 0)
        xs_writer_lit(w, ",");
      xs_writer_int(w, (int64_t)dims[k]);
      count *= dims[k];
    }
    xs_writer_lit(w, "]");
    /* The values. */
    const double *d = NULL;
    const int64_t *ints = NULL;
    const char *bytes_el = NULL; /* a BYTES element, as it prints */
    size_t bytes_len = 0;
    int slot = -1;
    const xent_metrics_result *mr = &r->metrics;
    const double undef = mr->defined ? 0.0 : NAN; /* NaN: no counted row */
    const int64_t *mv2 = r->buf[OUT_M_V2];
    const size_t K = mr->top_k_count, B = r->metrics_cfg.bins;
    const double *pc = r->buf[OUT_M_PER_CLASS];
    switch (o->value) {
    case XS_OV_M_ROWS:
      r->iscalars[i] = (int64_t)req->metrics.rows;
      ints = &r->iscalars[i];
      break;
    case XS_OV_M_COUNTED:
      r->iscalars[i] = (int64_t)mr->counted;
      ints = &r->iscalars[i];
      break;
    case XS_OV_M_ACCURACY:
      r->scalars[i] = mr->accuracy + undef;
      break;
    case XS_OV_M_NLL:
      r->scalars[i] = mr->nll + undef;
      break;
    case XS_OV_M_BRIER:
      r->scalars[i] = mr->brier + undef;
      break;
    case XS_OV_M_ECE:
      r->scalars[i] = mr->ece + undef;
      break;
    case XS_OV_M_ECE_L2:
      r->scalars[i] = mr->ece_l2 + undef;
      break;
    case XS_OV_M_MCE:
      r->scalars[i] = mr->mce + undef;
      break;
    case XS_OV_M_MEAN_CONFIDENCE:
      r->scalars[i] = mr->mean_confidence + undef;
      break;
    case XS_OV_M_MEAN_ENTROPY:
      r->scalars[i] = mr->mean_entropy + undef;
      break;
    case XS_OV_M_TOP_K:
      ints = mv2;
      break;
    case XS_OV_M_TOP_K_ACCURACY:
      d = mr->top_k_accuracy;
      break;
    case XS_OV_M_BIN_COUNT:
      ints = mv2 + K;
      break;
    case XS_OV_M_BIN_CONFIDENCE:
      d = (const double *)(mv2 + K + B);
      break;
    case XS_OV_M_BIN_ACCURACY:
      d = (const double *)(mv2 + K + 2 * B);
      break;
    case XS_OV_M_PRECISION:
      d = pc;
      break;
    case XS_OV_M_RECALL:
      d = pc + MC;
      break;
    case XS_OV_M_F1:
      d = pc + 2 * MC;
      break;
    case XS_OV_M_SUPPORT:
      ints = (const int64_t *)(pc + 3 * MC);
      break;
    case XS_OV_M_CONFUSION:
      ints = (const int64_t *)mr->confusion;
      break;
    case XS_OV_M_STATE:
      bytes_el = state_element(r, binary, &bytes_len, err);
      if (bytes_el == NULL)
        return -1;
      break;
    case XS_OV_LOSS:
      r->scalars[i] = r->loss;
      break;
    case XS_OV_ACCURACY:
      r->scalars[i] = r->stats.accuracy;
      break;
    case XS_OV_MEAN_CONFIDENCE:
      r->scalars[i] = r->stats.mean_confidence;
      break;
    case XS_OV_ECE:
      r->scalars[i] = r->stats.ece;
      break;
    case XS_OV_MEAN_ENTROPY:
      r->scalars[i] = r->stats.mean_entropy;
      break;
    case XS_OV_PER_SAMPLE:
      d = r->buf[OUT_PER_SAMPLE];
      break;
    case XS_OV_GRAD:
      d = r->buf[OUT_GRAD];
      slot = OUT_GRAD;
      break;
    case XS_OV_TARGETS:
      d = r->buf[OUT_TARGETS];
      slot = OUT_TARGETS;
      break;
    case XS_OV_PROBS:
      d = r->buf[OUT_PROBS];
      slot = OUT_PROBS;
      break;
    case XS_OV_ELEMENTWISE:
      d = r->buf[OUT_ELEMENTWISE];
      slot = OUT_ELEMENTWISE;
      break;
    case XS_OV_PREDICTED:
      ints = r->buf[OUT_PREDICTED];
      break;
    }
    if (o->shape == XS_OS_ONE && ints == NULL && bytes_el == NULL)
      d = &r->scalars[i];
    if (binary) {
      const void *bytes = bytes_el != NULL ? (const void *)bytes_el
                          : ints != NULL   ? (const void *)ints
                                           : (const void *)d;
      size_t len = bytes_el != NULL ? bytes_len : count * 8;
      if (f32 && slot >= 0) {
        bytes = as_f32(r, slot, count, err);
        if (bytes == NULL)
          return -1;
        len = count * 4;
      }
      bin[nbin].p = bytes;
      bin[nbin].len = len;
      nbin++;
      xs_writer_lit(w, ",\"parameters\":{\"binary_data_size\":");
      xs_writer_int(w, (int64_t)len);
      xs_writer_lit(w, "}}");
    } else {
      xs_writer_lit(w, ",\"data\":");
      w->f32 = f32;
      if (bytes_el != NULL)
        xs_writer_raw(w, bytes_el, bytes_len);
      else if (ints != NULL)
        xs_writer_ivec(w, ints, count);
      else
        xs_writer_vec(w, d, count);
      w->f32 = 0;
      xs_writer_lit(w, "}");
    }
  }
  xs_writer_lit(w, "]}");
  if (nbin == 0 || w->overflow)
    return 0;
  /* Binary tensors follow the JSON header, whose length the client is
   * told first: print the header whole, then the tensors as they lie. */
  const uint64_t bound = xs_writer_bound(w);
  r->header = malloc((size_t)bound + 1);
  if (r->header == NULL) {
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  r->header_len = xs_writer_read(w, r->header, (size_t)bound);
  xs_writer_init(w, req->precision);
  xs_writer_raw(w, r->header, r->header_len);
  r->length = r->header_len;
  for (int i = 0; i < nbin; i++) {
    xs_writer_raw(w, bin[i].p, bin[i].len);
    r->length += bin[i].len;
  }
  return 0;
}

int xs_run(const xs_request *req, xs_mem *mem, xs_response **resp,
           xs_error *err) {
  *resp = NULL;
  xs_response *r = malloc(sizeof *r);
  if (r == NULL) {
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  /* Zeroed but for the writer, which xs_writer_init sets (its parts are
   * set as they are added). */
  memset((char *)r + sizeof r->w, 0, sizeof *r - sizeof r->w);
  r->mem = mem;
  xs_writer_init(&r->w, req->precision);
  int rc = req->body == XS_BODY_TARGETS ? run_targets(req, r, err)
           : req->body == XS_BODY_LOSS  ? run_loss(req, r, err)
                                        : run_metrics(req, r, err);
  if (rc == 0 && req->proto == XS_PROTO_V2)
    rc = layout_v2(req, r, err);
  if (rc == 0 && r->w.overflow) {
    xs_error_set(err, XS_ERR_INTERNAL, "the response has too many parts");
    xs_response_free(r);
    return -1;
  }
  if (rc != 0) {
    xs_response_free(r);
    return -1;
  }
  *resp = r;
  return 0;
}

size_t xs_response_read(xs_response *r, char *buf, size_t max) {
  return xs_writer_read(&r->w, buf, max);
}

uint64_t xs_response_bound(const xs_response *r) {
  return xs_writer_bound(&r->w);
}

uint64_t xs_response_length(const xs_response *r) {
  return r->length;
}

const char *xs_response_content_type(const xs_response *r) {
  if (r->svg)
    return "image/svg+xml";
  return xs_response_header_length(r) > 0 ? "application/octet-stream"
                                          : "application/json";
}

uint64_t xs_response_header_length(const xs_response *r) {
  return r->length > 0 ? r->header_len : 0;
}

int xs_run_to_buf(const xs_request *req, xs_buf *out, xs_error *err) {
  xs_response *r = NULL;
  if (xs_run(req, NULL, &r, err) != 0)
    return -1;
  const uint64_t bound = xs_response_bound(r);
  const size_t start = out->len;
  if (bound >= SIZE_MAX || xs_buf_reserve(out, (size_t)bound) != 0) {
    xs_response_free(r);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  out->len += xs_response_read(r, out->data + start, (size_t)bound);
  out->data[out->len] = '\0';
  char probe;
  const int complete = xs_response_read(r, &probe, 1) == 0;
  xs_response_free(r);
  if (!complete) {
    xs_error_set(err, XS_ERR_INTERNAL, "the response overran its bound");
    return -1;
  }
  return 0;
}
