/*
 * models.h - the models of the Open Inference Protocol endpoint (models.c).
 *
 * A model is a request body of the field table (its inputs are the fields
 * with a v2 tensor name, its parameters those with a v2 parameter name)
 * plus a table of outputs. The metadata answered at GET /v2/models/<name>
 * and the reading of an infer request both come from these two tables.
 */
#ifndef XENTD_MODELS_H
#define XENTD_MODELS_H

#include <stdint.h>

#include "codec.h"

/* The datatypes of the protocol that xentd reads or writes. */
typedef enum xs_v2_dtype {
  XS_V2_FP64 = 0,
  XS_V2_FP32,
  XS_V2_FP16,
  XS_V2_BF16,
  XS_V2_INT64,
  XS_V2_INT32,
  XS_V2_BYTES, /* elements of any length: a 4-byte little-endian length,
                  then the bytes (binary); strings (JSON)          */
  XS_V2_DTYPE_COUNT,
  XS_V2_NONE = -1
} xs_v2_dtype;

/* "FP64", ... and the bytes of one element. */
const char *xs_v2_dtype_name(xs_v2_dtype t);
size_t xs_v2_dtype_size(xs_v2_dtype t);
xs_v2_dtype xs_v2_dtype_find(const char *s, size_t len);
/* Does the space-separated list (a field's v2_dtypes) name t? */
int xs_v2_dtype_in(xs_v2_dtype t, const char *list);

/* What an output's datatype follows. */
typedef enum xs_out_type {
  XS_OT_FP64,   /* always FP64                                         */
  XS_OT_INT64,  /* always INT64                                        */
  XS_OT_LOGITS, /* the logits' datatype: FP64, or FP32 for the others  */
  XS_OT_BYTES   /* one BYTES element                                   */
} xs_out_type;

/* [1], [N], [N, C]; and the metrics': [K] top-k values, [B] bins, [C]
 * classes, [C, C]. For K-dimensional logits, [N] is one value per
 * position, [N, d1, ..., dk], and [N, C] the logits' shape. */
typedef enum xs_out_shape {
  XS_OS_ONE,
  XS_OS_N,
  XS_OS_NC,
  XS_OS_K,
  XS_OS_B,
  XS_OS_C,
  XS_OS_CC
} xs_out_shape;

/* What an output prints. */
typedef enum xs_out_value {
  XS_OV_LOSS,
  XS_OV_PER_SAMPLE,
  XS_OV_GRAD,
  XS_OV_TARGETS,
  XS_OV_PROBS,
  XS_OV_ELEMENTWISE,
  XS_OV_PREDICTED,
  XS_OV_ACCURACY,
  XS_OV_MEAN_CONFIDENCE,
  XS_OV_ECE,
  XS_OV_MEAN_ENTROPY,
  /* classification_metrics */
  XS_OV_M_ROWS,
  XS_OV_M_COUNTED,
  XS_OV_M_ACCURACY,
  XS_OV_M_TOP_K,
  XS_OV_M_TOP_K_ACCURACY,
  XS_OV_M_NLL,
  XS_OV_M_BRIER,
  XS_OV_M_ECE,
  XS_OV_M_ECE_L2,
  XS_OV_M_MCE,
  XS_OV_M_MEAN_CONFIDENCE,
  XS_OV_M_MEAN_ENTROPY,
  XS_OV_M_BIN_COUNT,
  XS_OV_M_BIN_CONFIDENCE,
  XS_OV_M_BIN_ACCURACY,
  XS_OV_M_PRECISION,
  XS_OV_M_RECALL,
  XS_OV_M_F1,
  XS_OV_M_SUPPORT,
  XS_OV_M_CONFUSION,
  XS_OV_M_STATE
} xs_out_value;

typedef struct xs_output_def {
  const char *name;
  xs_out_type type;
  xs_out_shape shape;
  xs_out_value value;
  unsigned needs; /* the XS_OUT_* computation it needs */
  const char *doc;
} xs_output_def;

struct xs_model {
  const char *name;
  unsigned body; /* XS_BODY_* of the field table */
  const xs_output_def *outputs;
  int noutputs;
  unsigned defaults; /* bit i: outputs[i] is answered when none is asked */
  const char *doc;
};

/* The output of m called name, or -1. */
int xs_model_output(const xs_model *m, const char *name, size_t len);

#endif /* XENTD_MODELS_H */
