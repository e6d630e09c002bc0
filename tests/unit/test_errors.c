/*
 * test_errors.c - every status of XENT_STATUS_MAP that an input can
 * produce, with the position the header promises in xent_error, and the
 * promise that a failed call writes no output: every output is filled with
 * a sentinel first and must still hold it afterwards.
 */
#include <stdio.h>

#include "testutil.h"

#define MAXN 8
#define MAXC 8
#define SENTINEL (-777.25)
#define ANY_ARG ((xent_arg)-1) /* the header leaves the argument open */

/* Every output buffer, filled with the sentinel. */
typedef struct bufs {
  double loss;
  double per_sample[MAXN];
  double grad[MAXN * MAXC];
  double q[MAXN * MAXC];
  double probs[MAXN * MAXC];
  int64_t predicted[MAXN];
  double confidence[MAXN];
  double entropy[MAXN];
  double elem[MAXN * MAXC];
  xent_stats stats;
} bufs;

static void fill(bufs *b) {
  b->loss = SENTINEL;
  for (size_t i = 0; i < MAXN; i++) {
    b->per_sample[i] = SENTINEL;
    b->predicted[i] = -777;
    b->confidence[i] = SENTINEL;
    b->entropy[i] = SENTINEL;
  }
  for (size_t i = 0; i < MAXN * MAXC; i++) {
    b->grad[i] = SENTINEL;
    b->q[i] = SENTINEL;
    b->probs[i] = SENTINEL;
    b->elem[i] = SENTINEL;
  }
  b->stats.accuracy = SENTINEL;
  b->stats.mean_confidence = SENTINEL;
  b->stats.mean_entropy = SENTINEL;
  b->stats.ece = SENTINEL;
  b->stats.counted = 777;
  b->stats.predicted = b->predicted;
  b->stats.confidence = b->confidence;
  b->stats.entropy = b->entropy;
}

static void assert_untouched(const bufs *b, const char *what) {
  ck_assert_msg(b->loss == SENTINEL, "%s: loss written (%.17g)", what, b->loss);
  for (size_t i = 0; i < MAXN; i++) {
    ck_assert_msg(b->per_sample[i] == SENTINEL, "%s: per_sample[%zu] written",
                  what, i);
    ck_assert_msg(b->predicted[i] == -777, "%s: predicted[%zu] written", what,
                  i);
    ck_assert_msg(b->confidence[i] == SENTINEL, "%s: confidence[%zu] written",
                  what, i);
    ck_assert_msg(b->entropy[i] == SENTINEL, "%s: entropy[%zu] written", what,
                  i);
  }
  for (size_t i = 0; i < MAXN * MAXC; i++) {
    ck_assert_msg(b->grad[i] == SENTINEL, "%s: grad[%zu] written", what, i);
    ck_assert_msg(b->q[i] == SENTINEL, "%s: targets[%zu] written", what, i);
    ck_assert_msg(b->probs[i] == SENTINEL, "%s: probs[%zu] written", what, i);
    ck_assert_msg(b->elem[i] == SENTINEL, "%s: elementwise[%zu] written", what,
                  i);
  }
  ck_assert_msg(b->stats.accuracy == SENTINEL &&
                    b->stats.mean_confidence == SENTINEL &&
                    b->stats.mean_entropy == SENTINEL &&
                    b->stats.ece == SENTINEL && b->stats.counted == 777,
                "%s: stats written", what);
}

static void assert_err(const xent_error *err, xent_status status, xent_arg arg,
                       int64_t row, int64_t col, const char *what) {
  ck_assert_msg(err->status == status, "%s: err.status %s, expected %s", what,
                xent_status_name(err->status), xent_status_name(status));
  if (arg != ANY_ARG) {
    ck_assert_msg(err->arg == arg, "%s: err.arg '%s' (%d), expected '%s' (%d)",
                  what, xent_arg_name(err->arg), (int)err->arg,
                  xent_arg_name(arg), (int)arg);
  }
  ck_assert_msg(err->row == row, "%s: err.row %lld, expected %lld", what,
                (long long)err->row, (long long)row);
  ck_assert_msg(err->col == col, "%s: err.col %lld, expected %lld", what,
                (long long)err->col, (long long)col);
}

enum { EVAL = 1, TARGETS = 2, EXPLICIT = 4, ALL = 7 };

/*
 * Runs the functions named in `which` on pb and checks the status, the
 * detail and that no output was touched; once with an xent_error and once
 * with err NULL.
 */
static void expect(const xent_problem *pb, unsigned which, xent_status status,
                   xent_arg arg, int64_t row, int64_t col, const char *what) {
  ck_assert(pb->n * pb->inner <= MAXN && pb->classes <= MAXC);
  bufs b;
  double ws[1024];
  double scratch[MAXN * MAXC];
  const size_t ws_size = xent_workspace_size(pb);
  ck_assert_uint_le(ws_size, sizeof ws);
  char label[160];
  for (int with_err = 0; with_err < 2; with_err++) {
    xent_error err = {(xent_status)99, (xent_arg)99, 12345, 12345};
    xent_error *e = with_err ? &err : NULL;
    if (which & EVAL) {
      fill(&b);
      /* every output that applies: stats for the softmax families,
       * elementwise for the binary ones */
      const int binary = pb->family == XENT_LOSS_BINARY_CROSS_ENTROPY ||
                         pb->family == XENT_LOSS_SIGMOID_FOCAL;
      const xent_outputs out = {&b.loss,
                                b.per_sample,
                                b.grad,
                                b.q,
                                b.probs,
                                binary ? NULL : &b.stats,
                                binary ? b.elem : NULL};
      snprintf(label, sizeof label, "%s [xent_evaluate]", what);
      const xent_status st = xent_evaluate(pb, &out, ws, ws_size, e);
      ck_assert_msg(st == status, "%s: returned %s, expected %s", label,
                    xent_status_name(st), xent_status_name(status));
      assert_untouched(&b, label);
      if (e != NULL) {
        assert_err(e, status, arg, row, col, label);
      }
    }
    if (which & TARGETS) {
      fill(&b);
      snprintf(label, sizeof label, "%s [xent_targets]", what);
      const xent_status st = xent_targets(pb, b.q, e);
      ck_assert_msg(st == status, "%s: returned %s, expected %s", label,
                    xent_status_name(st), xent_status_name(status));
      assert_untouched(&b, label);
      if (e != NULL) {
        assert_err(e, status, arg, row, col, label);
      }
    }
    if (which & EXPLICIT) {
      fill(&b);
      const xent_outputs out = {&b.loss, b.per_sample, b.grad, NULL,
                                NULL,    NULL,         NULL};
      snprintf(label, sizeof label, "%s [xent_evaluate_explicit]", what);
      const xent_status st = xent_evaluate_explicit(pb, &out, scratch, e);
      ck_assert_msg(st == status, "%s: returned %s, expected %s", label,
                    xent_status_name(st), xent_status_name(status));
      assert_untouched(&b, label);
      if (e != NULL) {
        assert_err(e, status, arg, row, col, label);
      }
    }
  }
}

/* The problem is valid: xent_evaluate succeeds and writes a finite loss
 * different from the sentinel, and so does xent_targets. */
static void expect_ok(const xent_problem *pb, const char *what) {
  double ws[1024];
  double loss = SENTINEL;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  xent_error err;
  ck_assert_uint_le(xent_workspace_size(pb), sizeof ws);
  const xent_status st = xent_evaluate(pb, &out, ws, sizeof ws, &err);
  ck_assert_msg(st == XENT_OK, "%s: xent_evaluate returned %s (arg %s)", what,
                xent_status_name(st), xent_arg_name(err.arg));
  ck_assert_msg(loss != SENTINEL && isfinite(loss), "%s: loss %.17g", what,
                loss);
  double q[MAXN * MAXC];
  XT_STATUS(xent_targets(pb, q, NULL), XENT_OK);
}

/* xent_targets accepts the problem (the loss's own parameters are not its
 * business). */
static void expect_ok_targets(const xent_problem *pb) {
  double q[MAXN * MAXC];
  XT_STATUS(xent_targets(pb, q, NULL), XENT_OK);
}

/* A valid 4 x 5 batch; each test breaks one thing. */
static double X[4 * 5] = {0.5, 1.0, -1.0, 2.0, 0.0, 1.5, 0.5,  0.25, -0.5, 3.0,
                          0.0, 0.0, 0.0,  0.0, 0.0, 2.0, -2.0, 1.0,  1.0,  0.5};
static const int64_t T[4] = {3, 0, 4, 1};

static xent_problem valid(double *x, const int64_t *t) {
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 4;
  pb.classes = 5;
  pb.logits = x;
  pb.targets = t;
  return pb;
}

/* The valid batch passes, and err then reads OK/NONE/-1/-1. */
START_TEST(valid_batch_is_ok) {
  xent_problem pb = valid(X, T);
  bufs b;
  fill(&b);
  const xent_outputs out = {&b.loss, b.per_sample, b.grad, b.q,
                            b.probs, &b.stats,     NULL};
  xent_error err = {(xent_status)99, (xent_arg)99, 5, 5};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_OK);
  assert_err(&err, XENT_OK, XENT_ARG_NONE, -1, -1, "valid");
  ck_assert(b.loss != SENTINEL && b.per_sample[3] != SENTINEL);
  ck_assert(b.per_sample[4] == SENTINEL); /* nothing past n */
  ck_assert(b.grad[4 * 5] == SENTINEL);
}
END_TEST

START_TEST(err_null) {
  xent_problem pb = valid(X, T);
  bufs b;
  fill(&b);
  const xent_outputs out = {&b.loss, NULL, NULL, NULL, NULL, NULL, NULL};
  xent_error err;
  XT_STATUS(xent_evaluate(NULL, &out, NULL, 0, &err), XENT_ERR_NULL);
  assert_err(&err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1, "problem NULL");
  XT_STATUS(xent_evaluate(NULL, &out, NULL, 0, NULL), XENT_ERR_NULL);
  XT_STATUS(xent_evaluate(&pb, NULL, NULL, 0, &err), XENT_ERR_NULL);
  assert_err(&err, XENT_ERR_NULL, ANY_ARG, -1, -1, "outputs NULL");
  ck_assert(err.arg == XENT_ARG_NONE || err.arg == XENT_ARG_OUTPUTS);
  XT_STATUS(xent_targets(NULL, b.q, &err), XENT_ERR_NULL);
  XT_STATUS(xent_targets(&pb, NULL, &err), XENT_ERR_NULL);
  assert_err(&err, XENT_ERR_NULL, ANY_ARG, -1, -1, "targets out NULL");
  double scratch[20];
  XT_STATUS(xent_evaluate_explicit(NULL, &out, scratch, &err), XENT_ERR_NULL);
  XT_STATUS(xent_evaluate_explicit(&pb, NULL, scratch, &err), XENT_ERR_NULL);
  XT_STATUS(xent_evaluate_explicit(&pb, &out, NULL, &err), XENT_ERR_NULL);
  assert_err(&err, XENT_ERR_NULL, XENT_ARG_WORKSPACE, -1, -1, "scratch NULL");
  ck_assert(b.loss == SENTINEL);

  pb.logits = NULL;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_NULL, XENT_ARG_LOGITS, -1, -1,
         "logits NULL");
  /* xent_targets works without logits */
  pb.label_smoothing = 0.1;
  XT_STATUS(xent_targets(&pb, b.q, &err), XENT_OK);

  pb = valid(X, T);
  const double lam = 0.5;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  pb.pairing = XENT_PAIR_EXPLICIT;
  expect(&pb, ALL, XENT_ERR_NULL, XENT_ARG_MIXUP_PAIRING, -1, -1,
         "explicit partners NULL");
}
END_TEST

START_TEST(err_shape) {
  xent_problem pb = valid(X, T);
  pb.n = 0;
  expect(&pb, ALL, XENT_ERR_SHAPE, XENT_ARG_SHAPE, -1, -1, "n = 0");
  pb = valid(X, T);
  pb.classes = 0;
  expect(&pb, ALL, XENT_ERR_SHAPE, XENT_ARG_SHAPE, -1, -1, "classes = 0");
  /* n x classes does not fit in memory: refused before any access */
  pb = valid(X, T);
  pb.n = SIZE_MAX / 2;
  pb.classes = 4;
  xent_error err;
  double loss = SENTINEL;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_ERR_SHAPE);
  ck_assert(loss == SENTINEL);
  /* lambda_count must be 1 or n */
  pb = valid(X, T);
  const double lam[4] = {0.5, 0.5, 0.5, 0.5};
  pb.mixup_lambda = lam;
  pb.lambda_count = 2;
  expect(&pb, ALL, XENT_ERR_SHAPE, XENT_ARG_MIXUP_LAMBDA, -1, -1,
         "lambda_count 2 of 4 rows");
  pb.lambda_count = 0;
  expect(&pb, ALL, XENT_ERR_SHAPE, XENT_ARG_MIXUP_LAMBDA, -1, -1,
         "lambda_count 0");
}
END_TEST

START_TEST(err_option) {
  xent_problem pb = valid(X, T);
  pb.dtype = (xent_dtype)4;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_OPTION, XENT_ARG_LOGITS, -1, -1,
         "dtype 4 (one past XENT_BF16)");
  pb = valid(X, T);
  pb.smoothing = (xent_smoothing)3;
  pb.label_smoothing = 0.1;
  expect(&pb, ALL, XENT_ERR_OPTION, XENT_ARG_SMOOTHING, -1, -1,
         "smoothing 3 (one past XENT_SMOOTH_BINARY)");
  pb = valid(X, T);
  pb.reduction = (xent_reduction)3;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_OPTION, XENT_ARG_REDUCTION, -1, -1,
         "reduction 3");
  pb = valid(X, T);
  const double lam = 0.5;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  pb.pairing = (xent_pairing)3;
  expect(&pb, ALL, XENT_ERR_OPTION, XENT_ARG_MIXUP_PAIRING, -1, -1,
         "pairing 3");
  pb = valid(X, T);
  pb.kernel = (xent_kernel)4;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_OPTION, XENT_ARG_KERNEL, -1, -1,
         "kernel 4");
  /* a kernel this CPU or build lacks */
  const xent_kernel kernels[2] = {XENT_KERNEL_AVX2, XENT_KERNEL_AVX512};
  for (size_t i = 0; i < 2; i++) {
    pb.kernel = kernels[i];
    if (!xent_kernel_supported(kernels[i])) {
      expect(&pb, EVAL, XENT_ERR_OPTION, XENT_ARG_KERNEL, -1, -1,
             "unsupported kernel");
    } else {
      double loss;
      const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
      XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    }
  }
  /* the explicit path computes loss, per_sample and grad only */
  pb = valid(X, T);
  double scratch[20];
  double q[20];
  double probs[20];
  xent_stats st;
  memset(&st, 0, sizeof st);
  const xent_outputs bad[3] = {{NULL, NULL, NULL, q, NULL, NULL, NULL},
                               {NULL, NULL, NULL, NULL, probs, NULL, NULL},
                               {NULL, NULL, NULL, NULL, NULL, &st, NULL}};
  for (size_t i = 0; i < 3; i++) {
    for (size_t j = 0; j < 20; j++) {
      q[j] = probs[j] = SENTINEL;
    }
    xent_error err;
    XT_STATUS(xent_evaluate_explicit(&pb, &bad[i], scratch, &err),
              XENT_ERR_OPTION);
    assert_err(&err, XENT_ERR_OPTION, XENT_ARG_OUTPUTS, -1, -1,
               "explicit outputs");
    for (size_t j = 0; j < 20; j++) {
      ck_assert(q[j] == SENTINEL && probs[j] == SENTINEL);
    }
  }
}
END_TEST

START_TEST(err_logit) {
  double x[20];
  memcpy(x, X, sizeof x);
  xent_problem pb = valid(x, T);
  x[1 * 5 + 2] = NAN;
  expect(&pb, ALL, XENT_ERR_LOGIT, XENT_ARG_LOGITS, 1, 2, "NaN logit");
  memcpy(x, X, sizeof x);
  x[3 * 5 + 4] = INFINITY;
  expect(&pb, ALL, XENT_ERR_LOGIT, XENT_ARG_LOGITS, 3, 4, "+inf logit");
  /* the first bad entry of the row is named */
  x[3 * 5 + 1] = NAN;
  expect(&pb, ALL, XENT_ERR_LOGIT, XENT_ARG_LOGITS, 3, 1, "two bad logits");
  /* float logits */
  float xf[20];
  for (size_t i = 0; i < 20; i++) {
    xf[i] = (float)X[i];
  }
  xf[2 * 5 + 3] = NAN;
  pb.logits = xf;
  pb.dtype = XENT_F32;
  expect(&pb, ALL, XENT_ERR_LOGIT, XENT_ARG_LOGITS, 2, 3, "float NaN");
  xf[2 * 5 + 3] = INFINITY;
  expect(&pb, ALL, XENT_ERR_LOGIT, XENT_ARG_LOGITS, 2, 3, "float +inf");
  /* ...but not in an ignored row */
  const int64_t t[4] = {3, 0, -100, 1};
  pb.targets = t;
  bufs b;
  fill(&b);
  double ws[MAXC];
  const xent_outputs out = {&b.loss, b.per_sample, b.grad, b.q,
                            b.probs, &b.stats,     NULL};
  XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, NULL), XENT_OK);
  ck_assert(b.per_sample[2] == 0.0);
  ck_assert(b.predicted[2] == -1);
  for (size_t c = 0; c < 5; c++) {
    ck_assert(b.grad[2 * 5 + c] == 0.0 && b.probs[2 * 5 + c] == 0.0);
  }
}
END_TEST

START_TEST(err_row_masked) {
  double x[20];
  memcpy(x, X, sizeof x);
  for (size_t c = 0; c < 5; c++) {
    x[2 * 5 + c] = -INFINITY;
  }
  xent_problem pb = valid(x, T);
  expect(&pb, ALL, XENT_ERR_ROW_MASKED, XENT_ARG_LOGITS, 2, -1,
         "row 2 all masked");
  /* one class, masked */
  const double one[1] = {-INFINITY};
  const int64_t t0[1] = {0};
  pb = valid((double *)one, t0);
  pb.n = 1;
  pb.classes = 1;
  expect(&pb, ALL, XENT_ERR_ROW_MASKED, XENT_ARG_LOGITS, 0, -1,
         "single masked class");
}
END_TEST

START_TEST(err_label) {
  xent_problem pb = valid(X, T);
  const int64_t t1[4] = {3, 0, 4, 5};
  pb.targets = t1;
  expect(&pb, ALL, XENT_ERR_LABEL, XENT_ARG_TARGETS, 3, -1, "label = C");
  const int64_t t2[4] = {3, -1, 4, 1};
  pb.targets = t2;
  expect(&pb, ALL, XENT_ERR_LABEL, XENT_ARG_TARGETS, 1, -1, "label -1");
  const int64_t t3[4] = {-100, 0, 4, 1};
  pb.targets = t3;
  pb.ignore_index = -1;
  expect(&pb, ALL, XENT_ERR_LABEL, XENT_ARG_TARGETS, 0, -1,
         "-100 when ignore_index is -1");
  const int64_t t4[4] = {3, 0, INT64_MAX, INT64_MIN};
  pb.targets = t4;
  expect(&pb, ALL, XENT_ERR_LABEL, XENT_ARG_TARGETS, 2, -1, "INT64_MAX");
}
END_TEST

START_TEST(err_masked_target) {
  double x[20];
  memcpy(x, X, sizeof x);
  x[2 * 5 + 4] = -INFINITY; /* row 2's own label */
  xent_problem pb = valid(x, T);
  expect(&pb, ALL, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, 2, 4,
         "hard label masked");
  pb.label_smoothing = 0.3;
  expect(&pb, ALL, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, 2, 4,
         "hard label masked, smoothed");
  /* the mixup partner's label, masked in the mixing row: flip pairs row 1
   * (label 0) with row 2 (label 4); class 4 is masked in row 1 */
  memcpy(x, X, sizeof x);
  x[1 * 5 + 4] = -INFINITY;
  pb = valid(x, T);
  const double lam = 0.6;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  /* xent.h: the partner's label is named through the masked logit */
  expect(&pb, ALL, XENT_ERR_MASKED_TARGET, XENT_ARG_LOGITS, 1, 4,
         "partner label masked");
  /* soft mass > 0 on a masked class */
  memcpy(x, X, sizeof x);
  x[3 * 5 + 2] = -INFINITY;
  double y[20];
  for (size_t i = 0; i < 20; i++) {
    y[i] = 0.2;
  }
  pb = valid(x, NULL);
  pb.soft_targets = y;
  expect(&pb, ALL, XENT_ERR_MASKED_TARGET, XENT_ARG_SOFT_TARGETS, 3, 2,
         "soft mass on masked class");
  y[3 * 5 + 2] = 0.0; /* zero mass there is fine */
  double loss;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
}
END_TEST

START_TEST(err_soft_target) {
  double y[20];
  for (size_t i = 0; i < 20; i++) {
    y[i] = 0.2;
  }
  xent_problem pb = valid(X, NULL);
  pb.soft_targets = y;
  y[1 * 5 + 1] = NAN;
  expect(&pb, ALL, XENT_ERR_SOFT_TARGET, XENT_ARG_SOFT_TARGETS, 1, 1, "NaN");
  y[1 * 5 + 1] = 0.2;
  y[0 * 5 + 2] = -0.5;
  expect(&pb, ALL, XENT_ERR_SOFT_TARGET, XENT_ARG_SOFT_TARGETS, 0, 2,
         "negative");
  y[0 * 5 + 2] = 0.2;
  y[3 * 5 + 0] = INFINITY;
  expect(&pb, ALL, XENT_ERR_SOFT_TARGET, XENT_ARG_SOFT_TARGETS, 3, 0, "+inf");
  y[3 * 5 + 0] = -INFINITY;
  expect(&pb, ALL, XENT_ERR_SOFT_TARGET, XENT_ARG_SOFT_TARGETS, 3, 0, "-inf");
}
END_TEST

START_TEST(err_weight) {
  double w[5] = {1.0, 1.0, 1.0, 1.0, 1.0};
  xent_problem pb = valid(X, T);
  pb.class_weights = w;
  /* xent_targets does not use class weights (q is before weights), so it
   * does not judge them: only the loss paths refuse them. */
  w[2] = -1.0;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_WEIGHT, XENT_ARG_CLASS_WEIGHTS, -1, 2,
         "negative");
  w[2] = NAN;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_WEIGHT, XENT_ARG_CLASS_WEIGHTS, -1, 2,
         "NaN");
  w[2] = 1.0;
  w[4] = INFINITY;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_WEIGHT, XENT_ARG_CLASS_WEIGHTS, -1, 4,
         "+inf");
  double q[4 * 5];
  ck_assert_int_eq(xent_targets(&pb, q, NULL), XENT_OK);
}
END_TEST

START_TEST(err_smoothing) {
  const double bad[4] = {-0.1, 1.0000001, NAN, INFINITY};
  for (size_t i = 0; i < 4; i++) {
    xent_problem pb = valid(X, T);
    pb.label_smoothing = bad[i];
    char what[64];
    snprintf(what, sizeof what, "eps = %g", bad[i]);
    expect(&pb, ALL, XENT_ERR_SMOOTHING, XENT_ARG_LABEL_SMOOTHING, -1, -1,
           what);
  }
}
END_TEST

START_TEST(err_convention) {
  /* others with soft targets */
  double y[20];
  for (size_t i = 0; i < 20; i++) {
    y[i] = 0.2;
  }
  xent_problem pb = valid(X, NULL);
  pb.soft_targets = y;
  pb.label_smoothing = 0.1;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  expect(&pb, ALL, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, -1, -1,
         "others with soft targets");
  /* others with one class */
  const double one[2] = {0.0, 1.0};
  const int64_t t0[2] = {0, 0};
  pb = valid((double *)one, t0);
  pb.n = 2;
  pb.classes = 1;
  pb.label_smoothing = 0.1;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  expect(&pb, ALL, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, 0, -1,
         "others with C = 1");
  /* others where row 1 keeps one unmasked class */
  double x[20];
  memcpy(x, X, sizeof x);
  for (size_t c = 1; c < 5; c++) {
    x[1 * 5 + c] = -INFINITY;
  }
  pb = valid(x, T);
  pb.label_smoothing = 0.1;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  expect(&pb, ALL, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, 1, -1,
         "others with K = 1 in row 1");
  /* the uniform convention is fine there */
  pb.smoothing = XENT_SMOOTH_UNIFORM;
  double loss;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
}
END_TEST

START_TEST(err_lambda) {
  double lam[4] = {0.5, 0.5, 1.5, 0.5};
  xent_problem pb = valid(X, T);
  pb.mixup_lambda = lam;
  pb.lambda_count = 4;
  expect(&pb, ALL, XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA, 2, -1,
         "lambda[2] = 1.5");
  lam[2] = 0.5;
  lam[3] = NAN;
  expect(&pb, ALL, XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA, 3, -1,
         "lambda[3] NaN");
  lam[3] = -0.0001;
  expect(&pb, ALL, XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA, 3, -1,
         "lambda[3] < 0");
  /* One lambda for the batch: it is not a per-row value, so no row (the
   * HTTP API names the field "mixup.lambda" without an index). */
  const double one = -0.5;
  pb.mixup_lambda = &one;
  pb.lambda_count = 1;
  expect(&pb, ALL, XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA, -1, -1,
         "scalar lambda -0.5");
}
END_TEST

START_TEST(err_partner) {
  const double lam = 0.5;
  int64_t partners[4] = {1, 4, 0, 2};
  xent_problem pb = valid(X, T);
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  pb.pairing = XENT_PAIR_EXPLICIT;
  pb.partners = partners;
  expect(&pb, ALL, XENT_ERR_PARTNER, XENT_ARG_MIXUP_PAIRING, 1, -1,
         "partner = n");
  partners[1] = 3;
  partners[3] = -1;
  expect(&pb, ALL, XENT_ERR_PARTNER, XENT_ARG_MIXUP_PAIRING, 3, -1,
         "partner -1");
  partners[3] = INT64_MIN;
  expect(&pb, ALL, XENT_ERR_PARTNER, XENT_ARG_MIXUP_PAIRING, 3, -1,
         "partner INT64_MIN");
}
END_TEST

START_TEST(err_ignored_partner) {
  const double lam = 0.5;
  const int64_t t[4] = {-100, 0, 4, 1};
  xent_problem pb = valid(X, t);
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  /* flip: row 3 mixes with the ignored row 0 */
  expect(&pb, ALL, XENT_ERR_IGNORED_PARTNER, XENT_ARG_MIXUP_PAIRING, 3, -1,
         "flip");
  /* roll: row 1 mixes with row 0 */
  pb.pairing = XENT_PAIR_ROLL;
  expect(&pb, ALL, XENT_ERR_IGNORED_PARTNER, XENT_ARG_MIXUP_PAIRING, 1, -1,
         "roll");
  /* explicit: row 2 takes row 0 */
  const int64_t partners[4] = {1, 2, 0, 3};
  pb.pairing = XENT_PAIR_EXPLICIT;
  pb.partners = partners;
  expect(&pb, ALL, XENT_ERR_IGNORED_PARTNER, XENT_ARG_MIXUP_PAIRING, 2, -1,
         "explicit");
  /* the ignored row itself may take any partner */
  const int64_t fine[4] = {1, 2, 3, 1};
  pb.partners = fine;
  double loss;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
}
END_TEST

START_TEST(err_mixup_soft) {
  double y[20];
  for (size_t i = 0; i < 20; i++) {
    y[i] = 0.2;
  }
  const double lam = 0.5;
  xent_problem pb = valid(X, NULL);
  pb.soft_targets = y;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  expect(&pb, ALL, XENT_ERR_MIXUP_SOFT, XENT_ARG_MIXUP_LAMBDA, -1, -1,
         "mixup with soft targets");
}
END_TEST

START_TEST(err_targets) {
  double y[20] = {0};
  xent_problem pb = valid(X, NULL);
  expect(&pb, ALL, XENT_ERR_TARGETS, XENT_ARG_TARGETS, -1, -1, "neither");
  pb.targets = T;
  pb.soft_targets = y;
  expect(&pb, ALL, XENT_ERR_TARGETS, XENT_ARG_TARGETS, -1, -1, "both");
}
END_TEST

START_TEST(err_zero_denominator) {
  const int64_t t[4] = {-100, -100, -100, -100};
  xent_problem pb = valid(X, t);
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION,
         -1, -1, "every row ignored");
  /* the targets are simply all zero */
  double q[20];
  XT_STATUS(xent_targets(&pb, q, NULL), XENT_OK);
  for (size_t i = 0; i < 20; i++) {
    ck_assert(q[i] == 0.0);
  }
  /* sum and none are defined: 0 */
  for (int red = 1; red < 3; red++) {
    pb.reduction = (xent_reduction)red;
    double loss = SENTINEL;
    const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    ck_assert(loss == 0.0);
  }
  /* zero weight on every label that counts */
  const double w[5] = {0.0, 0.0, 1.0, 0.0, 0.0};
  pb = valid(X, T); /* labels 3, 0, 4, 1 */
  pb.class_weights = w;
  pb.label_smoothing = 0.1;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION,
         -1, -1, "zero weights");
  /* and with mixup: lam w_t + (1 - lam) w_partner = 0 */
  const double lam = 0.3;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION,
         -1, -1, "zero weights with mixup");
}
END_TEST

START_TEST(err_overflow) {
  /* logits spanning more than the double range */
  double x[20];
  memcpy(x, X, sizeof x);
  x[1 * 5 + 0] = 1e308;
  x[1 * 5 + 1] = -1e308;
  xent_problem pb = valid(x, T);
  expect(&pb, EVAL | EXPLICIT, XENT_ERR_OVERFLOW, ANY_ARG, 1, -1,
         "logit span 2e308");
  /* weights of 1e300 with logits spanning 1e10 */
  memcpy(x, X, sizeof x);
  x[0] = 1e10;
  const double w[5] = {1e300, 1e300, 1e300, 1e300, 1e300};
  pb = valid(x, T);
  pb.class_weights = w;
  xent_error err;
  double loss = SENTINEL;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_ERR_OVERFLOW);
  ck_assert(loss == SENTINEL);
  /* weights whose sum overflows */
  const double big[5] = {1e308, 1e308, 1e308, 1e308, 1e308};
  pb = valid(X, T);
  pb.class_weights = big;
  pb.label_smoothing = 0.5;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_ERR_OVERFLOW);
  ck_assert(loss == SENTINEL);
  /* +-1e4 is far from it */
  memcpy(x, X, sizeof x);
  x[0] = 1e4;
  x[1] = -1e4;
  pb = valid(x, T);
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_OK);
  ck_assert(isfinite(loss));
}
END_TEST

START_TEST(err_workspace) {
  float xf[20];
  for (size_t i = 0; i < 20; i++) {
    xf[i] = (float)X[i];
  }
  xent_problem pb = valid(NULL, T);
  pb.logits = xf;
  pb.dtype = XENT_F32;
  const size_t need = xent_workspace_size(&pb);
  ck_assert_uint_ge(need, 5 * sizeof(double));
  double ws[MAXC + 1];
  ck_assert_uint_le(need, sizeof ws);
  bufs b;
  for (int variant = 0; variant < 3; variant++) {
    fill(&b);
    const xent_outputs out = {&b.loss, b.per_sample, b.grad, b.q,
                              b.probs, &b.stats,     NULL};
    void *wsp = variant == 0 ? NULL : ws;
    const size_t size = variant == 0 ? need : variant == 1 ? need - 1 : 0;
    xent_error err;
    XT_STATUS(xent_evaluate(&pb, &out, wsp, size, &err), XENT_ERR_WORKSPACE);
    assert_err(&err, XENT_ERR_WORKSPACE, XENT_ARG_WORKSPACE, -1, -1,
               "workspace");
    assert_untouched(&b, "workspace");
  }
  fill(&b);
  const xent_outputs out = {&b.loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, ws, need, NULL), XENT_OK);
  ck_assert(b.loss != SENTINEL);
}
END_TEST

/* Inputs whose intermediate values would leave the double range are
 * refused before anything is written, never answered with inf. */
START_TEST(err_overflow_bounds) {
  /* logits 0 and -1e307: the smoothed sum over 19 classes exceeds DBL_MAX */
  double x[19];
  x[0] = 0.0;
  for (int c = 1; c < 19; c++)
    x[c] = -1e307;
  const int64_t t[2] = {0, 0};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 1;
  pb.classes = 19;
  pb.logits = x;
  pb.targets = t;
  pb.label_smoothing = 0.1;
  double loss = -7.0;
  xent_outputs out = {0};
  out.loss = &loss;
  xent_error e;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &e), XENT_ERR_OVERFLOW);
  ck_assert_int_eq(e.arg, XENT_ARG_LOGITS);
  ck_assert_int_eq(e.row, 0);
  ck_assert(loss == -7.0);
  /* subnormal weights: the mean divides by D = 1e-310 */
  const double z[4] = {0.0, 0.0, 0.0, 0.0};
  const double w[2] = {1e-310, 1e-310};
  pb.n = 2;
  pb.classes = 2;
  pb.logits = z;
  pb.class_weights = w;
  pb.label_smoothing = 0.5;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &e), XENT_ERR_OVERFLOW);
  ck_assert(loss == -7.0);
}
END_TEST

/* 'others' spreads eps over the K-1 classes beside the label; a masked
 * label is outside the K, so even eps = 1 cannot leave it out. */
START_TEST(err_others_masked_label) {
  const double x[3] = {-INFINITY, 0.0, 1.0};
  const int64_t t[1] = {0};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 1;
  pb.classes = 3;
  pb.logits = x;
  pb.targets = t;
  pb.label_smoothing = 1.0;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  double loss = -7.0;
  xent_outputs out = {0};
  out.loss = &loss;
  xent_error e;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &e), XENT_ERR_MASKED_TARGET);
  ck_assert_int_eq(e.row, 0);
  ck_assert_int_eq(e.col, 0);
  /* uniform with eps = 1 gives the label no mass: q = {0, 1/2, 1/2} */
  pb.smoothing = XENT_SMOOTH_UNIFORM;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &e), XENT_OK);
  const double lse = log(1.0 + exp(1.0));
  XT_CLOSE(loss, 0.5 * lse + 0.5 * (lse - 1.0), 1e-15, 0.0);
}
END_TEST

/* ------------------------------------------------------ loss families -- */

static const double S[4 * 5] = {0.0, 0.5, 1.0, 0.25, 0.0, 1.0, 1.0,
                                0.0, 0.0, 0.5, 0.1,  0.2, 0.3, 0.4,
                                0.5, 0.0, 0.0, 0.0,  0.0, 1.0};

static xent_problem binary(double *x, const double *soft, xent_family f) {
  xent_problem pb = valid(x, NULL);
  pb.targets = NULL;
  pb.soft_targets = soft;
  pb.family = f;
  return pb;
}

static const xent_family FOCALS[2] = {XENT_LOSS_SIGMOID_FOCAL,
                                      XENT_LOSS_SOFTMAX_FOCAL};

START_TEST(err_focal_gamma) {
  const double bad[3] = {-1.0, NAN, INFINITY};
  for (size_t f = 0; f < 2; f++) {
    for (size_t i = 0; i < 3; i++) {
      xent_problem pb = valid(X, T);
      pb.family = FOCALS[f];
      pb.focal_gamma = bad[i];
      expect(&pb, EVAL, XENT_ERR_FOCAL_GAMMA, XENT_ARG_FOCAL_GAMMA, -1, -1,
             "focal_gamma");
      /* q does not depend on gamma */
      expect_ok_targets(&pb);
    }
  }
  /* the other families do not read it */
  xent_problem pb = valid(X, T);
  pb.focal_gamma = NAN;
  expect_ok(&pb, "cross-entropy, gamma NaN");
}
END_TEST

START_TEST(err_focal_alpha) {
  for (size_t f = 0; f < 2; f++) {
    xent_problem pb = valid(X, T);
    pb.family = FOCALS[f];
    pb.focal_alpha = 1.5;
    expect(&pb, EVAL, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1, -1,
           "focal_alpha 1.5");
    pb.focal_alpha = NAN;
    expect(&pb, EVAL, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1, -1,
           "focal_alpha NaN");
    pb.focal_alpha = -1.0; /* no alpha term */
    expect_ok(&pb, "focal_alpha -1");
    pb.focal_alpha = 1.0;
    expect_ok(&pb, "focal_alpha 1");
    double per_class[5] = {0.1, 0.2, 1.5, 0.3, 0.4};
    pb.focal_alpha_per_class = per_class;
    expect(&pb, EVAL, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1, 2,
           "focal_alpha_per_class[2] 1.5");
    per_class[2] = 0.5;
    per_class[1] = -0.1;
    expect(&pb, EVAL, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1, 1,
           "focal_alpha_per_class[1] -0.1");
    per_class[1] = 0.0;
    per_class[4] = NAN;
    expect(&pb, EVAL, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1, 4,
           "focal_alpha_per_class[4] NaN");
    per_class[4] = 1.0;
    expect_ok(&pb, "focal_alpha_per_class in [0, 1]");
  }
}
END_TEST

START_TEST(err_poly_epsilon) {
  const double bad[3] = {INFINITY, -INFINITY, NAN};
  for (size_t i = 0; i < 3; i++) {
    xent_problem pb = valid(X, T);
    pb.family = XENT_LOSS_POLY1;
    pb.poly_epsilon = bad[i];
    expect(&pb, EVAL, XENT_ERR_POLY_EPSILON, XENT_ARG_POLY_EPSILON, -1, -1,
           "poly_epsilon");
  }
  xent_problem pb = valid(X, T);
  pb.family = XENT_LOSS_POLY1;
  pb.poly_epsilon = -1.0; /* Leng et al. also try negative values */
  expect_ok(&pb, "poly_epsilon -1");
}
END_TEST

START_TEST(err_binary_target) {
  const double bad[3] = {1.5, -0.25, NAN};
  for (size_t f = 0; f < 2; f++) {
    const xent_family fam =
        f ? XENT_LOSS_SIGMOID_FOCAL : XENT_LOSS_BINARY_CROSS_ENTROPY;
    for (size_t i = 0; i < 3; i++) {
      double s[4 * 5];
      memcpy(s, S, sizeof s);
      s[2 * 5 + 3] = bad[i];
      xent_problem pb = binary(X, s, fam);
      expect(&pb, EVAL | TARGETS, XENT_ERR_BINARY_TARGET, XENT_ARG_SOFT_TARGETS,
             2, 3, "binary target outside [0, 1]");
    }
    xent_problem pb = binary(X, S, fam);
    expect_ok(&pb, "binary targets in [0, 1]");
  }
  /* cross-entropy's soft targets may exceed 1 */
  double s[4 * 5];
  memcpy(s, S, sizeof s);
  s[2 * 5 + 3] = 1.5;
  xent_problem pb = binary(X, s, XENT_LOSS_CROSS_ENTROPY);
  expect_ok(&pb, "cross-entropy soft target 1.5");
}
END_TEST

START_TEST(err_pos_weight) {
  const double bad[3] = {-1.0, NAN, INFINITY};
  for (size_t i = 0; i < 3; i++) {
    double pw[5] = {1.0, 2.0, 0.5, 0.0, 3.0};
    pw[2] = bad[i];
    xent_problem pb = binary(X, S, XENT_LOSS_BINARY_CROSS_ENTROPY);
    pb.pos_weight = pw;
    expect(&pb, EVAL, XENT_ERR_POS_WEIGHT, XENT_ARG_POS_WEIGHT, -1, 2,
           "pos_weight[2]");
    pb.family = XENT_LOSS_SIGMOID_FOCAL;
    expect(&pb, EVAL, XENT_ERR_POS_WEIGHT, XENT_ARG_POS_WEIGHT, -1, 2,
           "pos_weight[2], sigmoid focal");
  }
}
END_TEST

START_TEST(err_threshold) {
  xent_problem pb = binary(X, S, XENT_LOSS_BINARY_CROSS_ENTROPY);
  pb.target_threshold = NAN;
  expect(&pb, EVAL | TARGETS, XENT_ERR_THRESHOLD, XENT_ARG_TARGET_THRESHOLD, -1,
         -1, "target_threshold NaN");
  pb.target_threshold = 0.0;
  expect_ok(&pb, "target_threshold 0");
  pb.target_threshold = INFINITY; /* every target 0 */
  expect_ok(&pb, "target_threshold +inf");
}
END_TEST

/* Each option on a family or reduction that does not use it. */
START_TEST(err_not_applicable) {
  const double pw[5] = {1.0, 1.0, 1.0, 1.0, 1.0};
  const double alpha[5] = {0.5, 0.5, 0.5, 0.5, 0.5};
  xent_problem pb = valid(X, T);
  pb.pos_weight = pw;
  expect(&pb, EVAL, XENT_ERR_NOT_APPLICABLE, XENT_ARG_POS_WEIGHT, -1, -1,
         "pos_weight, cross-entropy");
  pb = valid(X, T);
  pb.family = XENT_LOSS_POLY1;
  pb.sum_classes = 1;
  expect(&pb, EVAL, XENT_ERR_NOT_APPLICABLE, XENT_ARG_SUM_CLASSES, -1, -1,
         "sum_classes, poly-1");
  pb = binary(X, S, XENT_LOSS_BINARY_CROSS_ENTROPY);
  pb.sum_classes = 1;
  pb.reduction = XENT_REDUCE_SUM;
  expect(&pb, EVAL, XENT_ERR_NOT_APPLICABLE, XENT_ARG_SUM_CLASSES, -1, -1,
         "sum_classes, reduction sum");
  pb.reduction = XENT_REDUCE_MEAN;
  expect_ok(&pb, "sum_classes, mean");
  pb = valid(X, T);
  pb.family = XENT_LOSS_POLY1;
  pb.focal_alpha_per_class = alpha;
  expect(&pb, EVAL, XENT_ERR_NOT_APPLICABLE, XENT_ARG_FOCAL_ALPHA, -1, -1,
         "focal_alpha_per_class, poly-1");
  pb = valid(X, T);
  pb.smoothing = XENT_SMOOTH_BINARY;
  pb.label_smoothing = 0.1;
  expect(&pb, ALL, XENT_ERR_NOT_APPLICABLE, XENT_ARG_SMOOTHING, -1, -1,
         "binary smoothing, cross-entropy");
  pb = valid(X, T);
  pb.family = XENT_LOSS_SOFTMAX_FOCAL;
  pb.target_threshold = 0.5;
  expect(&pb, EVAL | TARGETS, XENT_ERR_NOT_APPLICABLE,
         XENT_ARG_TARGET_THRESHOLD, -1, -1, "target_threshold, softmax focal");
  /* statistics are the softmax's: not for the binary families */
  pb = binary(X, S, XENT_LOSS_SIGMOID_FOCAL);
  double ws[1024];
  xent_stats st;
  memset(&st, 0, sizeof st);
  st.counted = 777;
  const xent_outputs out = {NULL, NULL, NULL, NULL, NULL, &st, NULL};
  xent_error err;
  XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, &err),
            XENT_ERR_NOT_APPLICABLE);
  ck_assert(err.arg == XENT_ARG_OUTPUTS && st.counted == 777);
  /* the explicit path is cross-entropy's */
  double loss = SENTINEL, scratch[4 * 5];
  const xent_outputs lo = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  for (int f = 1; f <= 4; f++) {
    pb = valid(X, T);
    pb.family = (xent_family)f;
    XT_STATUS(xent_evaluate_explicit(&pb, &lo, scratch, &err),
              XENT_ERR_NOT_APPLICABLE);
    ck_assert(err.arg == XENT_ARG_FAMILY && loss == SENTINEL);
  }
}
END_TEST

START_TEST(err_family_and_layout_options) {
  xent_problem pb = valid(X, T);
  pb.family = (xent_family)5;
  expect(&pb, ALL, XENT_ERR_OPTION, XENT_ARG_FAMILY, -1, -1,
         "family 5 (one past XENT_LOSS_POLY1)");
  pb = valid(X, T);
  pb.class_axis = (xent_class_axis)2;
  expect(&pb, ALL, XENT_ERR_OPTION, XENT_ARG_CLASS_AXIS, -1, -1,
         "class_axis 2");
  pb = valid(X, T);
  pb.inner = 0;
  expect(&pb, ALL, XENT_ERR_SHAPE, XENT_ARG_INNER, -1, -1, "inner 0");
  /* n x inner x classes does not fit in memory */
  pb = valid(X, T);
  pb.inner = SIZE_MAX / 4;
  double loss = SENTINEL;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_ERR_SHAPE);
  ck_assert(loss == SENTINEL);
}
END_TEST

/* The binary families: a label or soft mass on a masked class, no element
 * left for the mean, results out of the double range. */
START_TEST(err_binary_rows) {
  double x[4 * 5];
  memcpy(x, X, sizeof x);
  x[1 * 5 + 1] = -INFINITY; /* S[1][1] = 1 */
  xent_problem pb = binary(x, S, XENT_LOSS_BINARY_CROSS_ENTROPY);
  expect(&pb, EVAL | TARGETS, XENT_ERR_MASKED_TARGET, XENT_ARG_SOFT_TARGETS, 1,
         1, "soft mass on a masked class");
  x[1 * 5 + 1] = X[1 * 5 + 1];
  x[1 * 5 + 2] = -INFINITY; /* S[1][2] = 0: allowed */
  expect_ok(&pb, "no soft mass on the masked class");
  const int64_t t[4] = {3, 2, 4, 1};
  pb = valid(x, t);
  pb.family = XENT_LOSS_SIGMOID_FOCAL;
  expect(&pb, EVAL | TARGETS, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, 1, 2,
         "label on a masked class");
  const int64_t none[4] = {-100, -100, -100, -100};
  pb = valid(X, none);
  pb.family = XENT_LOSS_BINARY_CROSS_ENTROPY;
  expect(&pb, EVAL, XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION, -1, -1,
         "every row ignored");
  memcpy(x, X, sizeof x);
  x[2 * 5 + 1] = 1e307;
  pb = binary(x, S, XENT_LOSS_BINARY_CROSS_ENTROPY);
  expect(&pb, EVAL, XENT_ERR_OVERFLOW, XENT_ARG_LOGITS, 2, -1,
         "a logit of 1e307");
  const double pw[5] = {1.0, 1.0, 1e306, 1.0, 1.0};
  pb = binary(X, S, XENT_LOSS_SIGMOID_FOCAL);
  pb.pos_weight = pw;
  expect(&pb, EVAL, XENT_ERR_OVERFLOW, XENT_ARG_LOGITS, 0, -1,
         "pos_weight 1e306");
}
END_TEST

/* K-dimensional inputs: `row` is the position n * inner + d in either
 * layout, lambda and partner errors name the sample. n = 2, C = 3,
 * inner = 4. */
START_TEST(err_kdim_positions) {
  enum { N = 2, C = 3, I = 4 };
  double x[N * C * I];
  double y[N * C * I];
  int64_t t[N * I] = {0, 1, 2, 0, 1, 2, 0, 1};
  for (size_t i = 0; i < N * C * I; i++) {
    x[i] = 0.25 * (double)(i % 7);
    y[i] = 0.5;
  }
  for (int axis = 0; axis < 2; axis++) {
    xent_problem pb = valid(x, t);
    pb.n = N;
    pb.classes = C;
    pb.inner = I;
    pb.class_axis = (xent_class_axis)axis;
    /* (n 1, c 0, d 1): position 5 */
    const size_t at = axis == 0 ? (1 * C + 0) * I + 1 : 5 * C + 0;
    x[at] = NAN;
    expect(&pb, ALL, XENT_ERR_LOGIT, XENT_ARG_LOGITS, 5, 0, "K-dim NaN");
    x[at] = 0.0;
    /* every class of position 3 masked */
    for (size_t c = 0; c < C; c++) {
      x[axis == 0 ? (0 * C + c) * I + 3 : 3 * C + c] = -INFINITY;
    }
    expect(&pb, ALL, XENT_ERR_ROW_MASKED, XENT_ARG_LOGITS, 3, -1,
           "K-dim row masked");
    for (size_t c = 0; c < C; c++) {
      x[axis == 0 ? (0 * C + c) * I + 3 : 3 * C + c] = 1.0;
    }
    /* label 1 of position 0 masked */
    const size_t m = axis == 0 ? (0 * C + 1) * I + 0 : 0 * C + 1;
    x[m] = -INFINITY;
    t[0] = 1;
    expect(&pb, ALL, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, 0, 1,
           "K-dim masked label");
    x[m] = 0.0;
    t[0] = 0;
    t[6] = 3;
    expect(&pb, ALL, XENT_ERR_LABEL, XENT_ARG_TARGETS, 6, -1, "K-dim label");
    t[6] = 0;
    /* mixup: position 2 of sample 0 pairs with position 2 of sample 1 */
    const double lam[N] = {0.5, 1.5};
    pb.mixup_lambda = lam;
    pb.lambda_count = N;
    expect(&pb, ALL, XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA, 1, -1,
           "K-dim lambda per sample");
    const double lam_ok[N] = {0.5, 0.5};
    pb.mixup_lambda = lam_ok;
    t[1 * I + 2] = -100;
    expect(&pb, ALL, XENT_ERR_IGNORED_PARTNER, XENT_ARG_MIXUP_PAIRING, 2, -1,
           "K-dim ignored partner");
    t[1 * I + 2] = 2;
    pb.mixup_lambda = NULL;
    /* soft targets: (n 0, c 1, d 2) is position 2, class 1 */
    pb.targets = NULL;
    pb.soft_targets = y;
    pb.family = XENT_LOSS_BINARY_CROSS_ENTROPY;
    const size_t s = axis == 0 ? (0 * C + 1) * I + 2 : 2 * C + 1;
    y[s] = 1.25;
    expect(&pb, EVAL | TARGETS, XENT_ERR_BINARY_TARGET, XENT_ARG_SOFT_TARGETS,
           2, 1, "K-dim binary target");
    y[s] = 0.5;
    expect_ok(&pb, "K-dim valid");
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("errors");
  XT_ADD(s, valid_batch_is_ok);
  XT_ADD(s, err_null);
  XT_ADD(s, err_shape);
  XT_ADD(s, err_option);
  XT_ADD(s, err_logit);
  XT_ADD(s, err_row_masked);
  XT_ADD(s, err_label);
  XT_ADD(s, err_masked_target);
  XT_ADD(s, err_soft_target);
  XT_ADD(s, err_weight);
  XT_ADD(s, err_smoothing);
  XT_ADD(s, err_convention);
  XT_ADD(s, err_lambda);
  XT_ADD(s, err_partner);
  XT_ADD(s, err_ignored_partner);
  XT_ADD(s, err_mixup_soft);
  XT_ADD(s, err_targets);
  XT_ADD(s, err_zero_denominator);
  XT_ADD(s, err_overflow);
  XT_ADD(s, err_workspace);
  XT_ADD(s, err_overflow_bounds);
  XT_ADD(s, err_others_masked_label);
  XT_ADD(s, err_focal_gamma);
  XT_ADD(s, err_focal_alpha);
  XT_ADD(s, err_poly_epsilon);
  XT_ADD(s, err_binary_target);
  XT_ADD(s, err_pos_weight);
  XT_ADD(s, err_threshold);
  XT_ADD(s, err_not_applicable);
  XT_ADD(s, err_family_and_layout_options);
  XT_ADD(s, err_binary_rows);
  XT_ADD(s, err_kdim_positions);
  return xt_run(s);
}
