/*
 * models.c - the Open Inference Protocol models and their metadata (see
 * models.h). Inputs and parameters are not listed here: they are the rows
 * of the field table (fields.c) with a v2 name, for the model's body.
 */
#include "models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec_priv.h"
#include "fields.h"
#include "v2.h"

static const struct {
  const char *name;
  size_t size;
} dtypes[XS_V2_DTYPE_COUNT] = {
    [XS_V2_FP64] = {"FP64", 8},   [XS_V2_FP32] = {"FP32", 4},
    [XS_V2_FP16] = {"FP16", 2},   [XS_V2_BF16] = {"BF16", 2},
    [XS_V2_INT64] = {"INT64", 8}, [XS_V2_INT32] = {"INT32", 4},
    [XS_V2_BYTES] = {"BYTES", 0},
};

const char *xs_v2_dtype_name(xs_v2_dtype t) {
  return (unsigned)t < XS_V2_DTYPE_COUNT ? dtypes[t].name : "";
}

size_t xs_v2_dtype_size(xs_v2_dtype t) {
  return (unsigned)t < XS_V2_DTYPE_COUNT ? dtypes[t].size : 0;
}

xs_v2_dtype xs_v2_dtype_find(const char *s, size_t len) {
  for (int i = 0; i < XS_V2_DTYPE_COUNT; i++)
    if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, s, len) == 0)
      return (xs_v2_dtype)i;
  return XS_V2_NONE;
}

int xs_v2_dtype_in(xs_v2_dtype t, const char *list) {
  const char *name = xs_v2_dtype_name(t);
  const size_t n = strlen(name);
  for (const char *p = list; p != NULL && *p != '\0';) {
    const char *sp = strchr(p, ' ');
    const size_t k = sp != NULL ? (size_t)(sp - p) : strlen(p);
    if (n > 0 && k == n && memcmp(p, name, n) == 0)
      return 1;
    p = sp != NULL ? sp + 1 : NULL;
  }
  return 0;
}

static const xs_output_def loss_outputs[] = {
    {"loss", XS_OT_FP64, XS_OS_ONE, XS_OV_LOSS, XS_OUT_LOSS,
     "the reduced loss (for reduction none, the sum of the rows)"},
    {"per_sample", XS_OT_FP64, XS_OS_N, XS_OV_PER_SAMPLE, XS_OUT_PER_SAMPLE,
     "each row's (position's) loss, before the mean's division; 0 for "
     "ignored rows"},
    {"grad", XS_OT_LOGITS, XS_OS_NC, XS_OV_GRAD, XS_OUT_GRAD,
     "d loss / d logits; for reduction none, row n is d l_n / d x_n"},
    {"targets", XS_OT_LOGITS, XS_OS_NC, XS_OV_TARGETS, XS_OUT_TARGETS,
     "q, the smoothed / mixed target rows before class weights"},
    {"probs", XS_OT_LOGITS, XS_OS_NC, XS_OV_PROBS, XS_OUT_PROBS,
     "softmax rows (sigmoid per class for the binary losses); 0 for a "
     "masked class"},
    {"predicted", XS_OT_INT64, XS_OS_N, XS_OV_PREDICTED, XS_OUT_STATS,
     "argmax of each row (lowest index on ties); -1 for an ignored row"},
    {"accuracy", XS_OT_FP64, XS_OS_ONE, XS_OV_ACCURACY, XS_OUT_STATS,
     "share of counted rows whose argmax is the row's label"},
    {"mean_confidence", XS_OT_FP64, XS_OS_ONE, XS_OV_MEAN_CONFIDENCE,
     XS_OUT_STATS, "mean of the rows' largest probability"},
    {"ece", XS_OT_FP64, XS_OS_ONE, XS_OV_ECE, XS_OUT_STATS,
     "expected calibration error, 15 equal-width confidence bins"},
    {"mean_entropy", XS_OT_FP64, XS_OS_ONE, XS_OV_MEAN_ENTROPY, XS_OUT_STATS,
     "mean of the rows' entropy -sum p log p"},
    {"elementwise", XS_OT_LOGITS, XS_OS_NC, XS_OV_ELEMENTWISE,
     XS_OUT_ELEMENTWISE,
     "binary losses: each class's loss l_nc before any reduction"},
};

static const xs_output_def targets_outputs[] = {
    {"targets", XS_OT_FP64, XS_OS_NC, XS_OV_TARGETS, XS_OUT_TARGETS,
     "q, timm's mixup_target: N rows of num_classes values"},
};

static const xs_output_def metrics_outputs[] = {
    {"n", XS_OT_INT64, XS_OS_ONE, XS_OV_M_ROWS, 0,
     "rows seen, ignored rows included"},
    {"counted", XS_OT_INT64, XS_OS_ONE, XS_OV_M_COUNTED, 0,
     "rows counted (label not ignore_index); with 0, every figure is NaN"},
    {"accuracy", XS_OT_FP64, XS_OS_ONE, XS_OV_M_ACCURACY, 0,
     "share of rows whose argmax (lowest index on ties) is the label"},
    {"top_k", XS_OT_INT64, XS_OS_K, XS_OV_M_TOP_K, 0,
     "the k of top_k_accuracy"},
    {"top_k_accuracy", XS_OT_FP64, XS_OS_K, XS_OV_M_TOP_K_ACCURACY, 0,
     "share of rows whose label is among the k largest logits (ties to the "
     "lower index)"},
    {"nll", XS_OT_FP64, XS_OS_ONE, XS_OV_M_NLL, 0,
     "mean of -log softmax(x)[y]"},
    {"brier", XS_OT_FP64, XS_OS_ONE, XS_OV_M_BRIER, 0,
     "mean over rows of sum_c (p_c - [c = y])^2"},
    {"ece", XS_OT_FP64, XS_OS_ONE, XS_OV_M_ECE, 0,
     "expected calibration error over the bins"},
    {"ece_l2", XS_OT_FP64, XS_OS_ONE, XS_OV_M_ECE_L2, 0,
     "sqrt of sum_b (n_b / N) (acc_b - conf_b)^2"},
    {"mce", XS_OT_FP64, XS_OS_ONE, XS_OV_M_MCE, 0,
     "largest |acc_b - conf_b| of a non-empty bin"},
    {"mean_confidence", XS_OT_FP64, XS_OS_ONE, XS_OV_M_MEAN_CONFIDENCE, 0,
     "mean of the rows' largest probability"},
    {"mean_entropy", XS_OT_FP64, XS_OS_ONE, XS_OV_M_MEAN_ENTROPY, 0,
     "mean of the rows' entropy -sum p log p"},
    {"reliability_count", XS_OT_INT64, XS_OS_B, XS_OV_M_BIN_COUNT, 0,
     "rows per confidence bin (k/B, (k+1)/B], the first closed at 0"},
    {"reliability_confidence", XS_OT_FP64, XS_OS_B, XS_OV_M_BIN_CONFIDENCE, 0,
     "mean confidence per bin; NaN for an empty bin"},
    {"reliability_accuracy", XS_OT_FP64, XS_OS_B, XS_OV_M_BIN_ACCURACY, 0,
     "accuracy per bin; NaN for an empty bin"},
    {"precision", XS_OT_FP64, XS_OS_C, XS_OV_M_PRECISION, XS_OUT_M_PER_CLASS,
     "per class tp / predicted, 0 when nothing is predicted (per_class)"},
    {"recall", XS_OT_FP64, XS_OS_C, XS_OV_M_RECALL, XS_OUT_M_PER_CLASS,
     "per class tp / support, 0 without support (per_class)"},
    {"f1", XS_OT_FP64, XS_OS_C, XS_OV_M_F1, XS_OUT_M_PER_CLASS,
     "per class 2 tp / (support + predicted) (per_class)"},
    {"support", XS_OT_INT64, XS_OS_C, XS_OV_M_SUPPORT, XS_OUT_M_PER_CLASS,
     "rows per true label (per_class)"},
    {"confusion", XS_OT_INT64, XS_OS_CC, XS_OV_M_CONFUSION, XS_OUT_M_CONFUSION,
     "counts, rows the label, columns the prediction (confusion)"},
    {"state", XS_OT_BYTES, XS_OS_ONE, XS_OV_M_STATE, 0,
     "the metrics state as JSON text, for a later merge (input states)"},
};

static const xs_model models[] = {
    {"cross_entropy", XS_BODY_LOSS, loss_outputs,
     sizeof loss_outputs / sizeof loss_outputs[0], 0x7,
     "what POST /v1/loss does, for every loss (one model, the parameter "
     "loss: cross_entropy by default, binary_cross_entropy, sigmoid_focal, "
     "softmax_focal, poly1) with label smoothing and mixup; logits [N, C] "
     "or K-dimensional [N, C, d1, ..., dk] ([N, d1, ..., dk, C] with "
     "class_axis -1), targets [N, d1, ..., dk]"},
    {"mixup_target", XS_BODY_TARGETS, targets_outputs,
     sizeof targets_outputs / sizeof targets_outputs[0], 0x1,
     "what POST /v1/targets does: timm's mixup_target"},
    {"classification_metrics", XS_BODY_METRICS | XS_BODY_MERGE, metrics_outputs,
     sizeof metrics_outputs / sizeof metrics_outputs[0], 0x107fff,
     "what POST /v1/metrics and /v1/metrics/merge do: whole-dataset "
     "metrics of logits and targets, or of merged states"},
};

enum { MODELS = sizeof models / sizeof models[0] };

const xs_model *xs_model_find(const char *name, size_t len) {
  for (int i = 0; i < MODELS; i++)
    if (strlen(models[i].name) == len && memcmp(models[i].name, name, len) == 0)
      return &models[i];
  return NULL;
}

const char *xs_model_name(const xs_model *m) {
  return m->name;
}

unsigned xs_model_body(const xs_model *m) {
  return m->body;
}

int xs_model_count(void) {
  return MODELS;
}

const xs_model *xs_model_at(int i) {
  return i >= 0 && i < MODELS ? &models[i] : NULL;
}

int xs_model_index(const xs_model *m) {
  return (int)(m - models);
}

int xs_model_output(const xs_model *m, const char *name, size_t len) {
  for (int i = 0; i < m->noutputs; i++)
    if (strlen(m->outputs[i].name) == len &&
        memcmp(m->outputs[i].name, name, len) == 0)
      return i;
  return -1;
}

static int lit(xs_buf *out, const char *s) {
  return xs_buf_append(out, s, strlen(s));
}

/* The first word of a datatype list: what metadata shows. */
static int first_dtype(xs_buf *out, const char *list) {
  const char *sp = strchr(list, ' ');
  const size_t n = sp != NULL ? (size_t)(sp - list) : strlen(list);
  return lit(out, "\"") | xs_buf_append(out, list, n) | lit(out, "\"");
}

static const char *const json_type[] = {"",       "number", "integer",
                                        "string", "object", "boolean"};

int xs_model_metadata(const xs_model *m, xs_buf *out) {
  int rc = lit(out, "{\"name\":");
  rc |= xs__buf_json_string(out, m->name);
  rc |= lit(out, ",\"versions\":[\"1\"],\"platform\":\"xent\",\"inputs\":[");
  int first = 1;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    if ((f->bodies & m->body) == 0 || f->v2_input == NULL)
      continue;
    rc |= lit(out, first ? "{\"name\":" : ",{\"name\":");
    first = 0;
    rc |= xs__buf_json_string(out, f->v2_input);
    rc |= lit(out, ",\"datatype\":");
    rc |= first_dtype(out, f->v2_dtypes);
    rc |= lit(out, f->rank == 2 ? ",\"shape\":[-1,-1]}" : ",\"shape\":[-1]}");
  }
  rc |= lit(out, "],\"outputs\":[");
  for (int i = 0; i < m->noutputs; i++) {
    const xs_output_def *o = &m->outputs[i];
    static const char *const types[] = {"FP64", "INT64", "FP32", "BYTES"};
    static const char *const shapes[] = {"[1]",  "[-1]", "[-1,-1]", "[-1]",
                                         "[-1]", "[-1]", "[-1,-1]"};
    rc |= lit(out, i > 0 ? ",{\"name\":\"" : "{\"name\":\"");
    rc |= lit(out, o->name);
    rc |= lit(out, "\",\"datatype\":\"");
    rc |= lit(out, types[o->type]);
    rc |= lit(out, "\",\"shape\":");
    rc |= lit(out, shapes[o->shape]);
    rc |= lit(out, "}");
  }
  /* Not in the protocol's schema (clients ignore it): the request
   * parameters the model reads. */
  rc |= lit(out, "],\"parameters\":[");
  first = 1;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    if ((f->bodies & m->body) == 0 || f->v2_param == NULL)
      continue;
    rc |= lit(out, first ? "{\"name\":" : ",{\"name\":");
    first = 0;
    rc |= xs__buf_json_string(out, f->v2_param);
    rc |= lit(out, ",\"type\":\"");
    rc |= lit(out, json_type[f->scalar.elem]);
    rc |= lit(out, "\"");
    if (f->names != NULL) {
      rc |= lit(out, ",\"enum\":[");
      for (int k = 0; f->names[k] != NULL; k++) {
        rc |= lit(out, k > 0 ? ",\"" : "\"");
        rc |= lit(out, f->names[k]);
        rc |= lit(out, "\"");
      }
      rc |= lit(out, "]");
    }
    if (f->def != NULL) {
      rc |= lit(out, ",\"default\":");
      rc |= lit(out, f->def);
    }
    rc |= lit(out, ",\"doc\":");
    rc |= xs__buf_json_string(out, f->doc);
    rc |= lit(out, "}");
  }
  rc |= lit(out, "]}");
  return rc != 0 ? -1 : 0;
}

static xs_field_id v2_field(const char *name, const xs_model *m, int input) {
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    const char *v = input ? f->v2_input : f->v2_param;
    if ((f->bodies & m->body) != 0 && v != NULL && strcmp(v, name) == 0)
      return (xs_field_id)i;
  }
  return XS_F_NONE;
}

xs_field_id xs__v2_input_field(const char *name, const xs_model *m) {
  return v2_field(name, m, 1);
}

xs_field_id xs__v2_param_field(const char *name, const xs_model *m) {
  return v2_field(name, m, 0);
}

/*
 * Rounding a double to a narrower binary format with p significand bits
 * (11 for binary16, 8 for bfloat16) and exponent range [emin, emax]:
 * done once, from the double, so that no intermediate float rounds first.
 * The value is scaled to an integer significand at the target's ulp and
 * rounded half to even with the bits below it (all of them, as a sticky
 * bit); subnormals share the ulp of the smallest normal.
 */
static uint16_t narrow(double x, int p, int ebits) {
  const int bias = (1 << (ebits - 1)) - 1;
  const int emin = 1 - bias;
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 63) << 15);
  const uint16_t inf = (uint16_t)(sign | (((1u << ebits) - 1) << (p - 1)));
  if (isnan(x))
    return (uint16_t)(inf | (1u << (p - 2)));
  const double a = fabs(x);
  if (isinf(a))
    return inf;
  if (a == 0)
    return sign;
  int e;
  frexp(a, &e); /* a = f * 2^e, f in [0.5, 1): a's exponent is e - 1 */
  int exp = e - 1;
  if (exp < emin)
    exp = emin; /* subnormal: the smallest normal's ulp */
  /* significand at the target's ulp: a / 2^(exp - (p - 1)), exact in
   * double (a has 53 bits; the scale is a power of two). */
  const double scaled = ldexp(a, (p - 1) - exp);
  double m = floor(scaled);
  const double rest = scaled - m;
  if (rest > 0.5 || (rest == 0.5 && fmod(m, 2.0) != 0.0))
    m += 1.0;
  uint32_t mant = (uint32_t)m;
  if (mant == (1u << p)) { /* rounded up to the next binade */
    mant >>= 1;
    exp++;
  }
  if (mant < (1u << (p - 1))) /* subnormal (or zero) */
    return (uint16_t)(sign | mant);
  if (exp + bias >= (1 << ebits) - 1)
    return inf;
  return (uint16_t)(sign | ((uint32_t)(exp + bias) << (p - 1)) |
                    (mant & ((1u << (p - 1)) - 1)));
}

uint16_t xs__to_half(double x) {
  return narrow(x, 11, 5);
}

uint16_t xs__to_bfloat16(double x) {
  return narrow(x, 8, 8);
}
