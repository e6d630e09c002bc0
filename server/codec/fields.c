/*
 * fields.c - the table of request fields (see fields.h).
 */
#include "fields.h"

#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"

static const char *const smoothing_names[] = {"uniform", "others", "binary",
                                              NULL};
/* In the order of xent_family. */
static const char *const loss_names[] = {
    "cross_entropy", "binary_cross_entropy",
    "sigmoid_focal", "softmax_focal",
    "poly1",         NULL};
static const char *const pairing_names[] = {"flip", "roll", NULL};
static const char *const reduction_names[] = {"mean", "sum", "none", NULL};
/* In the order of the XS_OUT_* bits. */
static const char *const output_names[] = {"loss",        "per_sample", "grad",
                                           "targets",     "probs",      "stats",
                                           "elementwise", NULL};
static const char *const precision_names[] = {"float64", "float32", NULL};

#define AT(m) XS_AT(m)
#define NO_FORM                                                                \
  { XS_E_NONE, XS_S_NONE, 0 }
#define BOTH (XS_BODY_LOSS | XS_BODY_TARGETS)
#define METRICS (XS_BODY_METRICS | XS_BODY_REPORT)
#define OPTIONS (XS_BODY_METRICS | XS_BODY_MERGE | XS_BODY_REPORT)
#define BINARY                                                                 \
  (XS_FAMILY(XENT_LOSS_BINARY_CROSS_ENTROPY) |                                 \
   XS_FAMILY(XENT_LOSS_SIGMOID_FOCAL))
#define FOCAL                                                                  \
  (XS_FAMILY(XENT_LOSS_SIGMOID_FOCAL) | XS_FAMILY(XENT_LOSS_SOFTMAX_FOCAL))

static const xs_field table[XS_F_COUNT] = {
    [XS_F_LOGITS] =
        {.path = "logits",
         .key = "logits",
         .parent = XS_F_NONE,
         .bodies = XS_BODY_LOSS | METRICS,
         .required = XS_BODY_LOSS | XS_BODY_METRICS,
         .scalar = NO_FORM,
         .array = {XS_E_NUMBER, XS_S_F64_PTR, AT(problem.logits)},
         .rank = 2,
         .dims = {XS_DIM_N, XS_DIM_C, XS_DIM_POS},
         .kdim = XS_BODY_LOSS,
         .nullable = 1,
         .arg = XENT_ARG_LOGITS,
         .v2_input = "logits",
         .v2_dtypes = "FP32 FP64 FP16 BF16",
         .doc = "N rows of C numbers, the logits; null is a masked class "
                "(-inf)"},
    [XS_F_SHAPE] = {.path = "shape",
                    .key = "shape",
                    .parent = XS_F_NONE,
                    .bodies = XS_BODY_LOSS,
                    .scalar = NO_FORM,
                    .array = {XS_E_INTEGER, XS_S_I64_PTR, AT(shape)},
                    .rank = 1,
                    .dims = {XS_DIM_ANY},
                    .count_member = AT(shape_len),
                    .has_min = 1,
                    .min = 1,
                    .arg = XENT_ARG_NONE,
                    .doc = "the logits' shape when they are sent flat (row-"
                           "major): [N, C, d1, ..., dk], or [N, d1, ..., dk, "
                           "C] with class_axis -1; targets, soft_targets and "
                           "the answers are flat too"},
    [XS_F_CLASS_AXIS] =
        {.path = "class_axis",
         .key = "class_axis",
         .parent = XS_F_NONE,
         .bodies = XS_BODY_LOSS,
         .scalar = {XS_E_INTEGER, XS_S_I64, AT(class_axis)},
         .array = NO_FORM,
         .def = "1",
         .arg = XENT_ARG_CLASS_AXIS,
         .v2_param = "class_axis",
         .doc = "where C is in the logits: 1, (N, C, d1, ..., dk) as PyTorch, "
                "or -1 (the last axis, also given as its index), (N, d1, ..., "
                "dk, C) as Keras and optax"},
    [XS_F_TARGETS] =
        {.path = "targets",
         .key = "targets",
         .parent = XS_F_NONE,
         .bodies = BOTH | METRICS,
         .required = XS_BODY_TARGETS | XS_BODY_METRICS,
         .scalar = NO_FORM,
         .array = {XS_E_INTEGER, XS_S_I64_PTR, AT(problem.targets)},
         .rank = 1,
         .dims = {XS_DIM_N, XS_DIM_POS},
         .kdim = XS_BODY_LOSS,
         .arg = XENT_ARG_TARGETS,
         .v2_input = "targets",
         .v2_dtypes = "INT64 INT32",
         .doc = "N class indices in [0, C) (hard labels), or ignore_index"},
    [XS_F_SOFT_TARGETS] =
        {.path = "soft_targets",
         .key = "soft_targets",
         .parent = XS_F_NONE,
         .bodies = XS_BODY_LOSS,
         .scalar = NO_FORM,
         .array = {XS_E_NUMBER, XS_S_F64_PTR, AT(problem.soft_targets)},
         .rank = 2,
         .dims = {XS_DIM_N, XS_DIM_C, XS_DIM_POS},
         .kdim = XS_BODY_LOSS,
         .has_min = 1,
         .min = 0,
         .arg = XENT_ARG_SOFT_TARGETS,
         .v2_input = "soft_targets",
         .v2_dtypes = "FP32 FP64",
         .doc = "N rows of C class probabilities >= 0 (PyTorch's probability "
                "targets), instead of targets"},
    [XS_F_NUM_CLASSES] = {.path = "num_classes",
                          .key = "num_classes",
                          .parent = XS_F_NONE,
                          .bodies = XS_BODY_TARGETS,
                          .required = XS_BODY_TARGETS,
                          .scalar = {XS_E_INTEGER, XS_S_SIZE,
                                     AT(problem.classes)},
                          .array = NO_FORM,
                          .has_min = 1,
                          .min = 1,
                          .arg = XENT_ARG_NONE,
                          .v2_param = "num_classes",
                          .doc = "C, the number of classes (timm's "
                                 "num_classes)"},
    [XS_F_LOSS] = {.path = "loss",
                   .key = "loss",
                   .parent = XS_F_NONE,
                   .bodies = XS_BODY_LOSS,
                   .scalar = {XS_E_ENUM, XS_S_INT, AT(problem.family)},
                   .array = NO_FORM,
                   .names = loss_names,
                   .def = "\"cross_entropy\"",
                   .arg = XENT_ARG_FAMILY,
                   .v2_param = "loss",
                   .doc = "the loss: cross_entropy (PyTorch), "
                          "binary_cross_entropy (PyTorch's with logits, one "
                          "sigmoid per class), sigmoid_focal (torchvision), "
                          "softmax_focal (Keras), poly1 (optax)"},
    [XS_F_CLASS_WEIGHTS] =
        {.path = "class_weights",
         .key = "class_weights",
         .parent = XS_F_NONE,
         .bodies = XS_BODY_LOSS,
         .scalar = NO_FORM,
         .array = {XS_E_NUMBER, XS_S_F64_PTR, AT(problem.class_weights)},
         .rank = 1,
         .dims = {XS_DIM_C},
         .has_min = 1,
         .min = 0,
         .arg = XENT_ARG_CLASS_WEIGHTS,
         .v2_input = "class_weights",
         .v2_dtypes = "FP32 FP64",
         .doc = "C weights >= 0, one per class (PyTorch's weight)"},
    [XS_F_POS_WEIGHT] =
        {.path = "pos_weight",
         .key = "pos_weight",
         .parent = XS_F_NONE,
         .bodies = XS_BODY_LOSS,
         .scalar = NO_FORM,
         .array = {XS_E_NUMBER, XS_S_F64_PTR, AT(problem.pos_weight)},
         .rank = 1,
         .dims = {XS_DIM_C},
         .has_min = 1,
         .min = 0,
         .arg = XENT_ARG_POS_WEIGHT,
         .families = BINARY,
         .v2_input = "pos_weight",
         .v2_dtypes = "FP32 FP64",
         .doc = "C weights >= 0 of the positive term, one per class "
                "(PyTorch's pos_weight)"},
    [XS_F_LABEL_SMOOTHING] = {.path = "label_smoothing",
                              .key = "label_smoothing",
                              .parent = XS_F_NONE,
                              .bodies = BOTH,
                              .scalar = {XS_E_NUMBER, XS_S_F64,
                                         AT(problem.label_smoothing)},
                              .array = NO_FORM,
                              .has_min = 1,
                              .has_max = 1,
                              .min = 0,
                              .max = 1,
                              .def = "0",
                              .arg = XENT_ARG_LABEL_SMOOTHING,
                              .v2_param = "label_smoothing",
                              .doc = "eps, the label smoothing"},
    [XS_F_SMOOTHING] =
        {.path = "smoothing",
         .key = "smoothing",
         .parent = XS_F_NONE,
         .bodies = BOTH,
         .scalar = {XS_E_ENUM, XS_S_INT, AT(problem.smoothing)},
         .array = NO_FORM,
         .names = smoothing_names,
         .def = "\"uniform\"",
         .arg = XENT_ARG_SMOOTHING,
         .v2_param = "smoothing",
         .doc = "the convention: uniform puts 1 - eps + eps/K on the target "
                "and eps/K elsewhere (PyTorch, timm), others 1 - eps and "
                "eps/(K-1) (fairseq), binary t (1 - eps) + eps/2 on every "
                "target (Keras; the binary losses only)"},
    [XS_F_MIXUP] = {.path = "mixup",
                    .key = "mixup",
                    .parent = XS_F_NONE,
                    .bodies = BOTH,
                    .scalar = {XS_E_OBJECT, XS_S_NONE, 0},
                    .array = NO_FORM,
                    .arg = XENT_ARG_NONE,
                    .doc = "timm's mixup of the smoothed one-hot targets "
                           "(hard targets only): {lambda, pairing}"},
    [XS_F_MIXUP_LAMBDA] = {.path = "mixup.lambda",
                           .key = "lambda",
                           .parent = XS_F_MIXUP,
                           .bodies = BOTH,
                           .required = BOTH,
                           .scalar = {XS_E_NUMBER, XS_S_F64_PTR,
                                      AT(problem.mixup_lambda)},
                           .array = {XS_E_NUMBER, XS_S_F64_PTR,
                                     AT(problem.mixup_lambda)},
                           .rank = 1,
                           .dims = {XS_DIM_N},
                           .count_member = AT(problem.lambda_count),
                           .has_min = 1,
                           .has_max = 1,
                           .min = 0,
                           .max = 1,
                           .arg = XENT_ARG_MIXUP_LAMBDA,
                           .v2_input = "mixup_lambda",
                           .v2_dtypes = "FP32 FP64",
                           .v2_param = "mixup_lambda",
                           .doc = "lambda: one for the batch, or one per row"},
    [XS_F_MIXUP_PAIRING] =
        {.path = "mixup.pairing",
         .key = "pairing",
         .parent = XS_F_MIXUP,
         .bodies = BOTH,
         .scalar = {XS_E_ENUM, XS_S_INT, AT(problem.pairing)},
         .array = {XS_E_INTEGER, XS_S_I64_PTR, AT(problem.partners)},
         .rank = 1,
         .dims = {XS_DIM_N},
         .array_flag_member = AT(problem.pairing),
         .array_flag_value = XENT_PAIR_EXPLICIT,
         .names = pairing_names,
         .def = "\"flip\"",
         .arg = XENT_ARG_MIXUP_PAIRING,
         .v2_input = "mixup_partner",
         .v2_dtypes = "INT64 INT32",
         .v2_param = "mixup_pairing",
         .doc = "each row's partner: flip is row N-1-n (timm), roll row "
                "(n-1) mod N (torchvision), or N row indices"},
    [XS_F_IGNORE_INDEX] = {.path = "ignore_index",
                           .key = "ignore_index",
                           .parent = XS_F_NONE,
                           .bodies = BOTH | OPTIONS,
                           .scalar = {XS_E_INTEGER, XS_S_I64,
                                      AT(problem.ignore_index)},
                           .array = NO_FORM,
                           .def = "-100",
                           .arg = XENT_ARG_IGNORE_INDEX,
                           .v2_param = "ignore_index",
                           .doc = "a label that removes its row (PyTorch's "
                                  "ignore_index)"},
    [XS_F_TARGET_THRESHOLD] = {.path = "target_threshold",
                               .key = "target_threshold",
                               .parent = XS_F_NONE,
                               .bodies = XS_BODY_LOSS,
                               .scalar = {XS_E_NUMBER, XS_S_F64,
                                          AT(problem.target_threshold)},
                               .array = NO_FORM,
                               .def = "-1",
                               .arg = XENT_ARG_TARGET_THRESHOLD,
                               .families = BINARY,
                               .v2_param = "target_threshold",
                               .doc = "after smoothing and mixup, a target "
                                      "above it becomes 1 and any other 0 "
                                      "(timm's BinaryCrossEntropy); negative: "
                                      "off"},
    [XS_F_SUM_CLASSES] = {.path = "sum_classes",
                          .key = "sum_classes",
                          .parent = XS_F_NONE,
                          .bodies = XS_BODY_LOSS,
                          .scalar = {XS_E_BOOL, XS_S_INT,
                                     AT(problem.sum_classes)},
                          .array = NO_FORM,
                          .def = "false",
                          .arg = XENT_ARG_SUM_CLASSES,
                          .families = BINARY,
                          .v2_param = "sum_classes",
                          .doc = "the mean divides by the rows, not the "
                                 "elements (timm's BinaryCrossEntropy "
                                 "sum_classes; reduction mean only)"},
    [XS_F_FOCAL_ALPHA] =
        {.path = "focal_alpha",
         .key = "focal_alpha",
         .parent = XS_F_NONE,
         .bodies = XS_BODY_LOSS,
         .scalar = {XS_E_NUMBER, XS_S_F64, AT(problem.focal_alpha)},
         .array = {XS_E_NUMBER, XS_S_F64_PTR,
                   AT(problem.focal_alpha_per_class)},
         .rank = 1,
         .dims = {XS_DIM_C},
         .has_max = 1,
         .max = 1,
         .def = "0.25",
         .arg = XENT_ARG_FOCAL_ALPHA,
         .families = FOCAL,
         .v2_input = "focal_alpha",
         .v2_dtypes = "FP32 FP64",
         .v2_param = "focal_alpha",
         .doc = "alpha, the weight of the positive class (torchvision); a "
                "negative value removes it; or, for softmax_focal, C values in "
                "[0, 1], one per class (Keras)"},
    [XS_F_FOCAL_GAMMA] = {.path = "focal_gamma",
                          .key = "focal_gamma",
                          .parent = XS_F_NONE,
                          .bodies = XS_BODY_LOSS,
                          .scalar = {XS_E_NUMBER, XS_S_F64,
                                     AT(problem.focal_gamma)},
                          .array = NO_FORM,
                          .has_min = 1,
                          .min = 0,
                          .def = "2",
                          .arg = XENT_ARG_FOCAL_GAMMA,
                          .families = FOCAL,
                          .v2_param = "focal_gamma",
                          .doc = "gamma, the focusing exponent of (1 - "
                                 "p_t)^gamma"},
    [XS_F_POLY_EPSILON] = {.path = "poly_epsilon",
                           .key = "poly_epsilon",
                           .parent = XS_F_NONE,
                           .bodies = XS_BODY_LOSS,
                           .scalar = {XS_E_NUMBER, XS_S_F64,
                                      AT(problem.poly_epsilon)},
                           .array = NO_FORM,
                           .def = "2",
                           .arg = XENT_ARG_POLY_EPSILON,
                           .families = XS_FAMILY(XENT_LOSS_POLY1),
                           .v2_param = "poly_epsilon",
                           .doc = "epsilon of poly-1: cross-entropy + epsilon "
                                  "(1 - p_t) (optax's poly_loss_cross_"
                                  "entropy)"},
    [XS_F_PRECISION] =
        {.path = "precision",
         .key = "precision",
         .parent = XS_F_NONE,
         .bodies = BOTH,
         .scalar = {XS_E_ENUM, XS_S_INT, AT(precision)},
         .array = NO_FORM,
         .names = precision_names,
         .def = "\"float64\"",
         .arg = XENT_ARG_NONE,
         .doc = "how numbers are printed: the shortest text that reads back "
                "to the same float64, or to the same float32"},
    [XS_F_REDUCTION] = {.path = "reduction",
                        .key = "reduction",
                        .parent = XS_F_NONE,
                        .bodies = XS_BODY_LOSS,
                        .scalar = {XS_E_ENUM, XS_S_INT, AT(problem.reduction)},
                        .array = NO_FORM,
                        .names = reduction_names,
                        .def = "\"mean\"",
                        .arg = XENT_ARG_REDUCTION,
                        .v2_param = "reduction",
                        .doc = "mean, sum or none (PyTorch's reduction)"},
    [XS_F_OUTPUTS] = {.path = "outputs",
                      .key = "outputs",
                      .parent = XS_F_NONE,
                      .bodies = XS_BODY_LOSS,
                      .scalar = NO_FORM,
                      .array = {XS_E_ENUM, XS_S_BITS, AT(outputs)},
                      .rank = 1,
                      .dims = {XS_DIM_ANY},
                      .names = output_names,
                      .def = "[\"loss\",\"per_sample\",\"grad\"]",
                      .arg = XENT_ARG_OUTPUTS,
                      .doc = "which results to answer"},
    [XS_F_TOP_K] = {.path = "top_k",
                    .key = "top_k",
                    .parent = XS_F_NONE,
                    .bodies = OPTIONS,
                    .scalar = NO_FORM,
                    .array = {XS_E_INTEGER, XS_S_I64_PTR, AT(metrics.top_k)},
                    .rank = 1,
                    .dims = {XS_DIM_ANY},
                    .count_member = AT(metrics.top_k_count),
                    .def = "[1,5]",
                    .arg = XENT_ARG_TOP_K,
                    .v2_input = "top_k",
                    .v2_dtypes = "INT64 INT32",
                    .doc = "the k of top_k_accuracy, at most 8, increasing, "
                           "each in [1, C]; the default [1, 5] is capped at "
                           "C"},
    [XS_F_BINS] = {.path = "bins",
                   .key = "bins",
                   .parent = XS_F_NONE,
                   .bodies = OPTIONS,
                   .scalar = {XS_E_INTEGER, XS_S_SIZE, AT(metrics.bins)},
                   .array = NO_FORM,
                   .has_min = 1,
                   .has_max = 1,
                   .min = 1,
                   .max = XENT_METRICS_MAX_BINS,
                   .def = "15",
                   .arg = XENT_ARG_BINS,
                   .v2_param = "bins",
                   .doc = "equal-width confidence bins of ece, ece_l2, mce "
                          "and the reliability diagram"},
    [XS_F_CONFUSION] = {.path = "confusion",
                        .key = "confusion",
                        .parent = XS_F_NONE,
                        .bodies = OPTIONS,
                        .scalar = {XS_E_BOOL, XS_S_INT, AT(metrics.confusion)},
                        .array = NO_FORM,
                        .def = "false",
                        .arg = XENT_ARG_CONFUSION,
                        .v2_param = "confusion",
                        .doc = "answer the C x C confusion matrix (rows the "
                               "label, columns the prediction; C at most "
                               "--max-confusion-classes)"},
    [XS_F_PER_CLASS] = {.path = "per_class",
                        .key = "per_class",
                        .parent = XS_F_NONE,
                        .bodies = OPTIONS,
                        .scalar = {XS_E_BOOL, XS_S_INT, AT(metrics.per_class)},
                        .array = NO_FORM,
                        .def = "false",
                        .arg = XENT_ARG_PER_CLASS,
                        .v2_param = "per_class",
                        .doc = "answer precision, recall, F1 and support per "
                               "class, with their macro and weighted "
                               "averages"},
    [XS_F_STATES] = {.path = "states",
                     .key = "states",
                     .parent = XS_F_NONE,
                     .bodies = XS_BODY_MERGE | XS_BODY_REPORT,
                     .required = XS_BODY_MERGE,
                     .scalar = NO_FORM,
                     .array = {XS_E_OBJECT, XS_S_NONE, 0},
                     .rank = 1,
                     .dims = {XS_DIM_ANY},
                     .arg = XENT_ARG_STATE,
                     .v2_input = "states",
                     .v2_dtypes = "BYTES",
                     .doc = "metrics states of earlier answers, merged as "
                            "if their rows had come in one request"},
};

const char *xs_family_name(xent_family f) {
  return (unsigned)f <= XENT_LOSS_POLY1 ? loss_names[f] : "";
}

const xs_field *xs_field_get(xs_field_id id) {
  if ((unsigned)id >= XS_F_COUNT)
    return NULL;
  return &table[id];
}

xs_field_id xs_field_find(xs_field_id parent, const char *key, size_t len,
                          unsigned body) {
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = &table[i];
    if (f->parent == parent && (f->bodies & body) != 0 &&
        strlen(f->key) == len && memcmp(f->key, key, len) == 0)
      return (xs_field_id)i;
  }
  return XS_F_NONE;
}

const char *xs_field_enum_name(xs_field_id id, int index) {
  const xs_field *f = xs_field_get(id);
  if (f == NULL || f->names == NULL || index < 0)
    return NULL;
  for (int i = 0; f->names[i] != NULL; i++)
    if (i == index)
      return f->names[i];
  return NULL;
}

xs_field_id xs_field_of_arg(xent_arg arg, unsigned body) {
  if (arg == XENT_ARG_NONE)
    return XS_F_NONE;
  for (int i = 0; i < XS_F_COUNT; i++)
    if (table[i].arg == arg && (table[i].bodies & body) != 0)
      return (xs_field_id)i;
  return XS_F_NONE;
}

/* ------------------------------------------------------------ describe -- */

static const char *const elem_type[] = {"",       "number", "integer",
                                        "string", "object", "boolean"};
static const char *const dim_name[] = {"any", "N", "C", "d..."};

static int lit(xs_buf *out, const char *s) {
  return xs_buf_append(out, s, strlen(s));
}

static int names(xs_buf *out, const char *const *list) {
  int rc = lit(out, "[");
  for (int i = 0; list[i] != NULL; i++) {
    if (i > 0)
      rc |= lit(out, ",");
    rc |= xs__buf_json_string(out, list[i]);
  }
  return rc | lit(out, "]");
}

static int number(xs_buf *out, double v) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.17g", v);
  return lit(out, buf);
}

int xs_fields_describe(unsigned body, xs_buf *out) {
  int rc = lit(out, "[");
  int first = 1;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = &table[i];
    if ((f->bodies & body) == 0)
      continue;
    rc |= lit(out, first ? "{\"name\":" : ",{\"name\":");
    first = 0;
    rc |= xs__buf_json_string(out, f->path);
    rc |= lit(out, ",\"type\":");
    const int has_scalar = f->scalar.elem != XS_E_NONE;
    const int has_array = f->array.elem != XS_E_NONE;
    if (has_scalar && has_array) {
      rc |= lit(out, "[");
      rc |= xs__buf_json_string(out, elem_type[f->scalar.elem]);
      rc |= lit(out, ",\"array\"]");
    } else {
      rc |= xs__buf_json_string(out, has_array ? "array"
                                               : elem_type[f->scalar.elem]);
    }
    if (has_array) {
      rc |= lit(out, ",\"items\":");
      rc |= xs__buf_json_string(out, elem_type[f->array.elem]);
      rc |= lit(out, ",\"shape\":[");
      const int rank = f->rank + ((f->kdim & body) != 0);
      for (int k = 0; k < rank; k++) {
        if (k > 0)
          rc |= lit(out, ",");
        rc |= xs__buf_json_string(out, dim_name[f->dims[k]]);
      }
      rc |= lit(out, "]");
    }
    if (f->nullable)
      rc |= lit(out, ",\"nullable\":true");
    if (f->names != NULL) {
      rc |= lit(out, ",\"enum\":");
      rc |= names(out, f->names);
    }
    if (f->has_min) {
      rc |= lit(out, ",\"minimum\":");
      rc |= number(out, f->min);
    }
    if (f->has_max) {
      rc |= lit(out, ",\"maximum\":");
      rc |= number(out, f->max);
    }
    if (f->def != NULL) {
      rc |= lit(out, ",\"default\":");
      rc |= lit(out, f->def);
    }
    if (f->families != 0) {
      rc |= lit(out, ",\"losses\":[");
      int k = 0;
      for (int fam = 0; loss_names[fam] != NULL; fam++)
        if (f->families & XS_FAMILY(fam)) {
          rc |= lit(out, k++ > 0 ? "," : "");
          rc |= xs__buf_json_string(out, loss_names[fam]);
        }
      rc |= lit(out, "]");
    }
    rc |= lit(out, (f->required & body) != 0 ? ",\"required\":true"
                                             : ",\"required\":false");
    rc |= lit(out, ",\"doc\":");
    rc |= xs__buf_json_string(out, f->doc);
    rc |= lit(out, "}");
  }
  return rc | lit(out, "]") ? -1 : 0;
}

int xs_fields_options(xs_buf *out) {
  int rc = lit(out, "{");
  int first = 1;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = &table[i];
    if (f->names == NULL)
      continue;
    char key[64];
    snprintf(key, sizeof key, "%s", f->path);
    for (char *c = key; *c != '\0'; c++)
      if (*c == '.')
        *c = '_';
    rc |= lit(out, first ? "" : ",");
    first = 0;
    rc |= xs__buf_json_string(out, key);
    rc |= lit(out, ":");
    rc |= names(out, f->names);
  }
  return rc | lit(out, "}") ? -1 : 0;
}
