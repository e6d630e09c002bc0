/*
 * test_logits.c - the logits reader (lib/src/logits.c): binary16 (XENT_F16)
 * and bfloat16 (XENT_BF16) bit patterns are widened to double exactly, by
 * the scalar code and by every vector kernel, so that every output equals
 * the output for the same values given as doubles; K-dimensional layouts
 * (class axis 1, transposed a block at a time, and class axis last) equal
 * the 2-D problem of their positions bit for bit. Expected values are the
 * formats' definitions written out by hand (testutil.h's xt_half / xt_bf16
 * use ldexp; the library shifts bits) and hand values.
 */
#include <stdio.h>

#include "testutil.h"

static const xent_kernel KERNELS[4] = {XENT_KERNEL_AUTO, XENT_KERNEL_SCALAR,
                                       XENT_KERNEL_AVX2, XENT_KERNEL_AVX512};

static const char *dtype_name(xent_dtype d) {
  return d == XENT_F16 ? "f16" : "bf16";
}

static double widen(xent_dtype d, uint16_t h) {
  return d == XENT_F16 ? xt_half(h) : xt_bf16(h);
}

static int is_nan_or_pinf(xent_dtype d, uint16_t h) {
  const double v = widen(d, h);
  return isnan(v) || v == INFINITY;
}

/* A batch of hard labels with logits of a 16-bit type. */
static xent_problem half_hard(size_t n, size_t classes, xent_dtype dtype,
                              const uint16_t *h, const int64_t *t) {
  xent_problem pb = xt_hard(n, classes, NULL, t);
  pb.dtype = dtype;
  pb.logits = h;
  return pb;
}

/* Everything xent_evaluate writes, for one problem. */
typedef struct result {
  double loss;
  double *per_sample;
  double *grad;
  double *q;
  double *probs;
} result;

static void eval_all(const xent_problem *pb, result *r) {
  const size_t nc = pb->n * pb->classes;
  r->per_sample = xt_doubles(pb->n);
  r->grad = xt_doubles(nc);
  r->q = xt_doubles(nc);
  r->probs = xt_doubles(nc);
  const xent_outputs out = {&r->loss, r->per_sample, r->grad, r->q,
                            r->probs, NULL,          NULL};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  xent_error err;
  const xent_status st = xent_evaluate(pb, &out, ws, ws_size, &err);
  ck_assert_msg(st == XENT_OK,
                "xent_evaluate (%s kernel): %s (arg %d row %lld col %lld)",
                xent_kernel_name(pb->kernel), xent_status_name(st),
                (int)err.arg, (long long)err.row, (long long)err.col);
  free(ws);
}

static void result_free(result *r) {
  free(r->per_sample);
  free(r->grad);
  free(r->q);
  free(r->probs);
}

/* Every output of `half` equals the output of `dbl` bit for bit: after the
 * widening both run the same double arithmetic. */
static void assert_same(const char *what, const xent_problem *half,
                        const xent_problem *dbl) {
  for (size_t k = 0; k < 4; k++) {
    if (xt_skip_kernel(KERNELS[k])) {
      continue;
    }
    xent_problem a = *half;
    xent_problem b = *dbl;
    a.kernel = b.kernel = KERNELS[k];
    result ra, rb;
    eval_all(&a, &ra);
    eval_all(&b, &rb);
    const size_t nc = a.n * a.classes;
    ck_assert_msg(ra.loss == rb.loss, "%s, %s kernel: loss %.17g vs %.17g",
                  what, xent_kernel_name(KERNELS[k]), ra.loss, rb.loss);
    /* one assertion per array: Check records every passing one */
    size_t i = 0;
    while (i < a.n && ra.per_sample[i] == rb.per_sample[i]) {
      i++;
    }
    ck_assert_msg(i == a.n, "%s, %s kernel: per_sample[%zu] %.17g vs %.17g",
                  what, xent_kernel_name(KERNELS[k]), i,
                  ra.per_sample[i < a.n ? i : 0],
                  rb.per_sample[i < a.n ? i : 0]);
    i = 0;
    while (i < nc && ra.grad[i] == rb.grad[i] && ra.probs[i] == rb.probs[i] &&
           ra.q[i] == rb.q[i]) {
      i++;
    }
    const size_t j = i < nc ? i : 0;
    ck_assert_msg(i == nc,
                  "%s, %s kernel: element %zu grad %.17g/%.17g probs "
                  "%.17g/%.17g q %.17g/%.17g",
                  what, xent_kernel_name(KERNELS[k]), i, ra.grad[j], rb.grad[j],
                  ra.probs[j], rb.probs[j], ra.q[j], rb.q[j]);
    result_free(&ra);
    result_free(&rb);
  }
}

/* logits 1, 2, 3 as exact halves and bfloat16s, target 2: the plain
 * cross-entropy hand value log(e + e^2 + e^3) - 3 = 0.40760596444438. */
START_TEST(hand_value_123) {
  const uint16_t f16[3] = {0x3C00, 0x4000, 0x4200};
  const uint16_t bf16[3] = {0x3F80, 0x4000, 0x4040};
  const int64_t t[1] = {2};
  for (int d = 0; d < 2; d++) {
    xent_problem pb = xt_hard(1, 3, NULL, t);
    pb.dtype = d == 0 ? XENT_F16 : XENT_BF16;
    pb.logits = d == 0 ? (const void *)f16 : (const void *)bf16;
    result r;
    eval_all(&pb, &r);
    XT_CLOSE(r.loss, log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0, 1e-15, 0.0);
    XT_CLOSE(r.loss, 0.40760596444438, 1e-13, 0.0);
    const double s = exp(1.0) + exp(2.0) + exp(3.0);
    const double want[3] = {exp(1.0) / s, exp(2.0) / s, exp(3.0) / s - 1.0};
    XT_ARRAY_CLOSE(r.grad, want, 3, 1e-14, 1e-16);
    result_free(&r);
  }
}
END_TEST

/*
 * Exact values, written out: each pattern v in a row [v, 0] and a row
 * [0, v], target 1, against the same rows given as the double literals.
 */
START_TEST(hand_values_exact) {
  static const struct {
    xent_dtype dtype;
    uint16_t bits;
    double value;
  } cases[] = {
      {XENT_F16, 0x3C00, 1.0},
      {XENT_F16, 0x3555, 0.333251953125},
      {XENT_F16, 0x0001, 5.9604644775390625e-08}, /* 2^-24, subnormal */
      {XENT_F16, 0x03FF, 6.097555160522461e-05},  /* largest subnormal */
      {XENT_F16, 0x7BFF, 65504.0},                /* largest finite */
      {XENT_F16, 0xC000, -2.0},
      {XENT_F16, 0x8001, -5.9604644775390625e-08},
      {XENT_F16, 0x8000, -0.0},
      {XENT_BF16, 0x3F80, 1.0},
      {XENT_BF16, 0x4049, 3.140625},
      {XENT_BF16, 0xC2F7, -123.5},
      {XENT_BF16, 0x7F7F, 3.3895313892515355e+38}, /* largest finite */
      {XENT_BF16, 0x0001, 9.183549615799121e-41},  /* 2^-133, subnormal */
      {XENT_BF16, 0x0080, 1.1754943508222875e-38}, /* smallest normal */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_msg(widen(cases[i].dtype, cases[i].bits) == cases[i].value,
                  "test's own conversion of 0x%04x", cases[i].bits);
    const uint16_t h[4] = {cases[i].bits, 0, 0, cases[i].bits};
    const double x[4] = {cases[i].value, 0.0, 0.0, cases[i].value};
    const int64_t t[2] = {1, 1};
    xent_problem half = half_hard(2, 2, cases[i].dtype, h, t);
    half.reduction = XENT_REDUCE_NONE;
    xent_problem dbl = xt_hard(2, 2, x, t);
    dbl.reduction = XENT_REDUCE_NONE;
    char what[64];
    snprintf(what, sizeof what, "%s 0x%04x", dtype_name(cases[i].dtype),
             cases[i].bits);
    assert_same(what, &half, &dbl);
    /* and the loss is the formula's: -lp_1 of [v, 0] = log(1 + e^v); like
     * PyTorch's, log_softmax takes log(s) with s = 1 + e^(v - m), so the
     * absolute error is that of the 1 in s (1e-16), whatever the value */
    result r;
    eval_all(&half, &r);
    const double v = cases[i].value;
    const double want0 = v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
    XT_CLOSE(r.per_sample[0], want0, 1e-14, 1e-15);
    result_free(&r);
  }
}
END_TEST

/*
 * Every bit pattern of a format except NaN and +inf, each in a row [v, 0]
 * with target 1 (loss log(1 + e^v)) and a row [0, v] with target 1 (loss
 * log(1 + e^-v)): one of the two is sensitive to v whatever its sign, so
 * the library's widening equals the definition's on all of them.
 * the library's widening equals the definition's on all of them. Rows of
 * two classes: the scalar conversion (vector kernels hand tails to it).
 */
static void every_pattern(xent_dtype dtype) {
  uint16_t *h = (uint16_t *)xt_alloc(2 * 2 * 65536, sizeof(uint16_t));
  double *x = xt_doubles(2 * 2 * 65536);
  int64_t *t = (int64_t *)xt_alloc(2 * 65536, sizeof(int64_t));
  size_t rows = 0;
  for (uint32_t b = 0; b < 65536; b++) {
    if (is_nan_or_pinf(dtype, (uint16_t)b)) {
      continue;
    }
    const double v = widen(dtype, (uint16_t)b);
    for (int side = 0; side < 2; side++) {
      h[2 * rows + (size_t)side] = (uint16_t)b;
      h[2 * rows + (size_t)(1 - side)] = 0;
      x[2 * rows + (size_t)side] = v;
      x[2 * rows + (size_t)(1 - side)] = 0.0;
      /* [v, 0] -> log(1 + e^v); [0, v] -> log(1 + e^-v), or the zero
       * class when v = -inf masks v's class */
      t[rows] = side == 1 && v == -INFINITY ? 0 : 1;
      rows++;
    }
  }
  xent_problem half = half_hard(rows, 2, dtype, h, t);
  half.reduction = XENT_REDUCE_SUM;
  xent_problem dbl = xt_hard(rows, 2, x, t);
  dbl.reduction = XENT_REDUCE_SUM;
  assert_same(dtype_name(dtype), &half, &dbl);
  free(h);
  free(x);
  free(t);
}

START_TEST(every_half_pattern) {
  every_pattern(XENT_F16);
}
END_TEST

START_TEST(every_bf16_pattern) {
  every_pattern(XENT_BF16);
}
END_TEST

/*
 * The vector widening: rows of 37 classes (two 16-wide steps and a tail of
 * 5; four 8-wide steps and a tail of 5), zeros except one test value at
 * position i % 37, so every lane and tail position is exercised; the target
 * is the value's class in one row and a zero class in the next. Every
 * eleventh pattern, which still visits all 37 positions (valgrind runs
 * this too).
 */
static void vector_widening(xent_dtype dtype) {
  enum { C = 37 };
  const size_t max_rows = 2 * 65536 / 11 + 2;
  uint16_t *h = (uint16_t *)xt_alloc(max_rows * C, sizeof(uint16_t));
  double *x = xt_doubles(max_rows * C);
  int64_t *t = (int64_t *)xt_alloc(max_rows, sizeof(int64_t));
  size_t rows = 0;
  for (uint32_t b = 0; b < 65536; b += 11) {
    if (is_nan_or_pinf(dtype, (uint16_t)b)) {
      continue;
    }
    const size_t pos = (size_t)b % C;
    for (int k = 0; k < 2; k++) {
      h[rows * C + pos] = (uint16_t)b;
      x[rows * C + pos] = widen(dtype, (uint16_t)b);
      const int masked = x[rows * C + pos] == -INFINITY;
      t[rows] = (int64_t)(k == 0 && !masked ? pos : (pos + 1) % C);
      rows++;
    }
  }
  xent_problem half = half_hard(rows, C, dtype, h, t);
  half.label_smoothing = 0.1;
  xent_problem dbl = xt_hard(rows, C, x, t);
  dbl.label_smoothing = 0.1;
  assert_same(dtype_name(dtype), &half, &dbl);
  free(h);
  free(x);
  free(t);
}

START_TEST(vector_widening_f16) {
  vector_widening(XENT_F16);
}
END_TEST

START_TEST(vector_widening_bf16) {
  vector_widening(XENT_BF16);
}
END_TEST

/* Every NaN pattern and +inf is ERR_LOGIT at its position, from
 * xent_evaluate and xent_targets, with no output written; in an ignored
 * row it is allowed. */
static void nan_inf(xent_dtype dtype) {
  size_t seen = 0;
  for (uint32_t b = 0; b < 65536; b++) {
    if (!is_nan_or_pinf(dtype, (uint16_t)b)) {
      continue;
    }
    seen++;
    uint16_t h[3 * 5] = {0};
    h[1 * 5 + 3] = (uint16_t)b;
    int64_t t[3] = {0, 1, 2};
    xent_problem pb = half_hard(3, 5, dtype, h, t);
    double loss = -7.0;
    double q[15];
    for (size_t i = 0; i < 15; i++) {
      q[i] = -7.0;
    }
    double ws[5];
    const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
    xent_error err;
    ck_assert_uint_le(xent_workspace_size(&pb), sizeof ws);
    XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, &err), XENT_ERR_LOGIT);
    ck_assert_msg(err.arg == XENT_ARG_LOGITS && err.row == 1 && err.col == 3,
                  "%s 0x%04x: arg %d row %lld col %lld", dtype_name(dtype), b,
                  (int)err.arg, (long long)err.row, (long long)err.col);
    ck_assert(loss == -7.0);
    XT_STATUS(xent_targets(&pb, q, &err), XENT_ERR_LOGIT);
    ck_assert(err.row == 1 && err.col == 3);
    for (size_t i = 0; i < 15; i++) {
      ck_assert(q[i] == -7.0);
    }
    t[1] = -100; /* an ignored row is not read for the loss */
    XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, &err), XENT_OK);
    XT_CLOSE(loss, log(5.0), 1e-15, 0.0);
  }
  /* binary16: 2 x 1023 NaN patterns and +inf; bfloat16: 2 x 127 and +inf */
  ck_assert_uint_eq(seen, dtype == XENT_F16 ? 2047 : 255);
}

START_TEST(nan_and_inf_f16) {
  nan_inf(XENT_F16);
}
END_TEST

START_TEST(nan_and_inf_bf16) {
  nan_inf(XENT_BF16);
}
END_TEST

/* -inf (0xFC00 / 0xFF80) masks a class exactly as -INFINITY does in
 * double, for the loss, q (xent_targets) and the explicit path; a row of
 * -inf only is ERR_ROW_MASKED and a label on a masked class
 * ERR_MASKED_TARGET, with their positions. */
START_TEST(minus_inf_masks) {
  for (int d = 0; d < 2; d++) {
    const xent_dtype dtype = d == 0 ? XENT_F16 : XENT_BF16;
    const uint16_t ninf = d == 0 ? 0xFC00 : 0xFF80;
    const uint16_t one = d == 0 ? 0x3C00 : 0x3F80;
    const uint16_t two = d == 0 ? 0x4000 : 0x4000;
    uint16_t h[2 * 4] = {one, ninf, two, 0, ninf, one, 0, two};
    const double x[2 * 4] = {1.0,       -INFINITY, 2.0, 0.0,
                             -INFINITY, 1.0,       0.0, 2.0};
    int64_t t[2] = {2, 3};
    xent_problem half = half_hard(2, 4, dtype, h, t);
    half.label_smoothing = 0.3;
    xent_problem dbl = xt_hard(2, 4, x, t);
    dbl.label_smoothing = 0.3;
    assert_same(dtype_name(dtype), &half, &dbl);
    double qa[8], qb[8];
    XT_STATUS(xent_targets(&half, qa, NULL), XENT_OK);
    XT_STATUS(xent_targets(&dbl, qb, NULL), XENT_OK);
    XT_ARRAY_CLOSE(qa, qb, 8, 0.0, 0.0);
    ck_assert(qa[1] == 0.0 && qa[4] == 0.0);
    XT_CLOSE(qa[0], 0.1, 1e-15, 0.0); /* eps / K, K = 3 unmasked */
    double la, lb, scratch[8];
    const xent_outputs oa = {&la, NULL, NULL, NULL, NULL, NULL, NULL};
    const xent_outputs ob = {&lb, NULL, NULL, NULL, NULL, NULL, NULL};
    XT_STATUS(xent_evaluate_explicit(&half, &oa, scratch, NULL), XENT_OK);
    XT_STATUS(xent_evaluate_explicit(&dbl, &ob, scratch, NULL), XENT_OK);
    ck_assert(la == lb);
    /* a label on a masked class */
    t[1] = 0;
    double ws[4];
    xent_error err;
    XT_STATUS(xent_evaluate(&half, &oa, ws, sizeof ws, &err),
              XENT_ERR_MASKED_TARGET);
    ck_assert(err.arg == XENT_ARG_TARGETS && err.row == 1 && err.col == 0);
    /* every class of row 0 masked */
    t[1] = 3;
    h[0] = h[2] = h[3] = ninf;
    XT_STATUS(xent_evaluate(&half, &oa, ws, sizeof ws, &err),
              XENT_ERR_ROW_MASKED);
    ck_assert(err.arg == XENT_ARG_LOGITS && err.row == 0 && err.col == -1);
  }
}
END_TEST

/* The half types need one row of doubles of workspace, like float. */
START_TEST(workspace) {
  const uint16_t h[2 * 3] = {0x3C00, 0x4000, 0x4200, 0, 0, 0};
  const int64_t t[2] = {0, 1};
  for (int d = 0; d < 2; d++) {
    xent_problem pb = half_hard(2, 3, d == 0 ? XENT_F16 : XENT_BF16, h, t);
    ck_assert_uint_ge(xent_workspace_size(&pb), 3 * sizeof(double));
    double loss;
    const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
    xent_error err;
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_ERR_WORKSPACE);
    ck_assert(err.arg == XENT_ARG_WORKSPACE);
    double ws[3];
    XT_STATUS(xent_evaluate(&pb, &out, ws, 2 * sizeof(double), &err),
              XENT_ERR_WORKSPACE);
    XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, &err), XENT_OK);
  }
}
END_TEST

/* Random half logits with every option against the reference of
 * testutil.h, which widens with its own conversion. */
START_TEST(random_against_reference) {
  xt_rng rng = {1616};
  for (int trial = 0; trial < 60; trial++) {
    const size_t n = 1 + xt_index(&rng, 9);
    const size_t classes = 2 + xt_index(&rng, 70);
    const xent_dtype dtype = trial % 2 ? XENT_F16 : XENT_BF16;
    uint16_t *h = (uint16_t *)xt_alloc(n * classes, sizeof(uint16_t));
    int64_t t[9];
    double w[72];
    for (size_t i = 0; i < n * classes; i++) {
      /* random finite patterns of moderate size: exponent bits limited */
      uint16_t b;
      do {
        b = (uint16_t)xt_next(&rng);
      } while (is_nan_or_pinf(dtype, b) || fabs(widen(dtype, b)) > 300.0);
      h[i] = b;
    }
    for (size_t r = 0; r < n; r++) {
      size_t c = xt_index(&rng, classes);
      while (widen(dtype, h[r * classes + c]) == -INFINITY) {
        c = (c + 1) % classes;
      }
      t[r] = (int64_t)c;
    }
    for (size_t c = 0; c < classes; c++) {
      w[c] = xt_range(&rng, 0.1, 2.0);
    }
    xent_problem pb = half_hard(n, classes, dtype, h, t);
    pb.class_weights = trial % 3 ? w : NULL;
    pb.label_smoothing = xt_unif(&rng) * 0.5;
    pb.reduction = (xent_reduction)(trial % 3);
    result r;
    eval_all(&pb, &r);
    double *ref_ps = xt_doubles(n);
    double *ref_g = xt_doubles(n * classes);
    xt_ref ref = {0.0, 0.0, ref_ps, ref_g, NULL, NULL};
    xt_ref_eval(&pb, &ref);
    XT_CLOSE(r.loss, ref.loss, 1e-12, 1e-300);
    XT_ARRAY_CLOSE(r.per_sample, ref_ps, n, 1e-12, 1e-300);
    XT_ARRAY_CLOSE(r.grad, ref_g, n * classes, 1e-11, 1e-15);
    result_free(&r);
    free(ref_ps);
    free(ref_g);
    free(h);
  }
}
END_TEST

/* ---------------------------------------------------- K-dimensional -- */

/* Everything xent_evaluate writes, for any layout and family. */
typedef struct full {
  double loss;
  double *per_sample, *grad, *q, *probs, *elem;
  int64_t *predicted;
  double *confidence, *entropy;
  xent_stats st;
} full;

static void eval_full(const xent_problem *pb, full *r) {
  const size_t rows = pb->n * pb->inner, nc = rows * pb->classes;
  const int binary = pb->family == XENT_LOSS_BINARY_CROSS_ENTROPY ||
                     pb->family == XENT_LOSS_SIGMOID_FOCAL;
  r->per_sample = xt_doubles(rows);
  r->grad = xt_doubles(nc);
  r->q = xt_doubles(nc);
  r->probs = xt_doubles(nc);
  r->elem = xt_doubles(nc);
  r->predicted = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  r->confidence = xt_doubles(rows);
  r->entropy = xt_doubles(rows);
  memset(&r->st, 0, sizeof r->st);
  r->st.predicted = r->predicted;
  r->st.confidence = r->confidence;
  r->st.entropy = r->entropy;
  const xent_outputs out = {&r->loss, r->per_sample,          r->grad, r->q,
                            r->probs, binary ? NULL : &r->st, r->elem};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  xent_error err;
  const xent_status st = xent_evaluate(pb, &out, ws, ws_size, &err);
  ck_assert_msg(st == XENT_OK, "xent_evaluate: %s (arg %s row %lld col %lld)",
                xent_status_name(st), xent_arg_name(err.arg),
                (long long)err.row, (long long)err.col);
  free(ws);
}

static void full_free(full *r) {
  free(r->per_sample);
  free(r->grad);
  free(r->q);
  free(r->probs);
  free(r->elem);
  free(r->predicted);
  free(r->confidence);
  free(r->entropy);
}

/* Index of (n, c, d) in the channels-first and channels-last layouts. */
static size_t at_first(size_t n, size_t c, size_t d, size_t C, size_t I) {
  return (n * C + c) * I + d;
}

static size_t at_last(size_t n, size_t c, size_t d, size_t C, size_t I) {
  return (n * I + d) * C + c;
}

/* a (channels-first or -last, n x C x I) equals b (2-D, rows n * I + d),
 * element for element and bit for bit */
static void same_layout(const char *what, const double *a, const double *b,
                        size_t N, size_t C, size_t I, int first) {
  for (size_t n = 0; n < N; n++) {
    for (size_t d = 0; d < I; d++) {
      for (size_t c = 0; c < C; c++) {
        const size_t i =
            first ? at_first(n, c, d, C, I) : at_last(n, c, d, C, I);
        const size_t j = (n * I + d) * C + c;
        if (!(a[i] == b[j])) {
          ck_assert_msg(0, "%s: (n %zu, c %zu, d %zu) %.17g vs 2-D %.17g", what,
                        n, c, d, a[i], b[j]);
        }
      }
    }
  }
}

static void same_rows(const char *what, const double *a, const double *b,
                      size_t rows) {
  for (size_t r = 0; r < rows; r++) {
    if (!(a[r] == b[r])) {
      ck_assert_msg(0, "%s: position %zu %.17g vs 2-D %.17g", what, r, a[r],
                    b[r]);
    }
  }
}

/*
 * A K-dimensional problem, either class axis, equals the 2-D problem of
 * its N x I positions bit for bit: every family, reduction, element type,
 * smoothing, weights, masked classes, ignored positions, soft targets;
 * inner sizes on both sides of the transposition block (8 .. 64 positions)
 * and class counts that make the block short or long. With mixup, whole
 * samples are paired: the same as 2-D explicit pairing of row n I + d with
 * row pi(n) I + d and sample n's lambda.
 */
static void kdim_case(xt_rng *rng, size_t N, size_t C, size_t I, int variant) {
  const xent_family fams[5] = {
      XENT_LOSS_CROSS_ENTROPY, XENT_LOSS_BINARY_CROSS_ENTROPY,
      XENT_LOSS_SIGMOID_FOCAL, XENT_LOSS_SOFTMAX_FOCAL, XENT_LOSS_POLY1};
  const xent_family fam = fams[variant % 5];
  const int binary = variant % 5 == 1 || variant % 5 == 2;
  const size_t rows = N * I, nc = rows * C;
  double *x2 = xt_doubles(nc), *y2 = xt_doubles(nc);
  double *xf = xt_doubles(nc), *xl = xt_doubles(nc);
  double *yf = xt_doubles(nc), *yl = xt_doubles(nc);
  float *ff = (float *)xt_alloc(nc, sizeof(float));
  float *fl = (float *)xt_alloc(nc, sizeof(float));
  int64_t *t = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  int64_t *partners2 = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  double *lam2 = xt_doubles(rows), *lam = xt_doubles(N), *w = xt_doubles(C);
  const int use_f32 = variant % 3 == 1;
  const int soft = variant % 4 == 2;
  const int mixup = !soft && variant % 4 == 3;
  for (size_t n = 0; n < N; n++) {
    lam[n] = xt_unif(rng);
    for (size_t d = 0; d < I; d++) {
      const size_t r = n * I + d;
      t[r] = (int64_t)xt_index(rng, C);
      if (!mixup && xt_unif(rng) < 0.1) {
        t[r] = -100;
      }
      for (size_t c = 0; c < C; c++) {
        double v = xt_range(rng, -5.0, 5.0);
        if (use_f32) {
          v = (double)(float)v;
        }
        if (!mixup && C > 2 && (int64_t)c == (t[r] + 1) % (int64_t)C &&
            xt_unif(rng) < 0.2) {
          v = -INFINITY;
        }
        const double yv = v == -INFINITY ? 0.0 : xt_unif(rng);
        x2[r * C + c] = v;
        y2[r * C + c] = yv;
        xf[at_first(n, c, d, C, I)] = v;
        xl[at_last(n, c, d, C, I)] = v;
        ff[at_first(n, c, d, C, I)] = (float)v;
        fl[at_last(n, c, d, C, I)] = (float)v;
        yf[at_first(n, c, d, C, I)] = yv;
        yl[at_last(n, c, d, C, I)] = yv;
      }
    }
  }
  for (size_t c = 0; c < C; c++) {
    w[c] = xt_range(rng, 0.1, 2.0);
  }
  for (size_t r = 0; r < rows; r++) {
    partners2[r] = (int64_t)(((N - 1 - r / I) * I) + r % I); /* flip */
    lam2[r] = lam[r / I];
  }
  xent_problem base;
  xent_problem_init(&base);
  base.family = fam;
  base.classes = C;
  base.class_weights = variant % 2 ? w : NULL;
  base.label_smoothing = variant % 3 == 0 ? 0.1 : 0.0;
  base.reduction = (xent_reduction)(variant / 5 % 3);
  base.focal_gamma = 1.5;
  if (binary && variant % 7 == 0 && base.reduction == XENT_REDUCE_MEAN) {
    base.sum_classes = 1;
  }
  xent_problem two = base;
  two.n = rows;
  two.logits = x2;
  two.targets = soft ? NULL : t;
  two.soft_targets = soft ? y2 : NULL;
  if (mixup) {
    two.mixup_lambda = lam2;
    two.lambda_count = rows;
    two.pairing = XENT_PAIR_EXPLICIT;
    two.partners = partners2;
  }
  full want;
  eval_full(&two, &want);
  for (int first = 0; first < 2; first++) {
    xent_problem k = base;
    k.n = N;
    k.inner = I;
    k.class_axis = first ? XENT_CLASS_AXIS_1 : XENT_CLASS_AXIS_LAST;
    if (use_f32) {
      k.dtype = XENT_F32;
      k.logits = first ? (const void *)ff : (const void *)fl;
    } else {
      k.logits = first ? xf : xl;
    }
    k.targets = soft ? NULL : t;
    k.soft_targets = soft ? (first ? yf : yl) : NULL;
    if (mixup) {
      k.mixup_lambda = lam;
      k.lambda_count = N;
    }
    if (first && (use_f32 || I > 1)) {
      ck_assert_uint_gt(xent_workspace_size(&k), 0);
    }
    full got;
    eval_full(&k, &got);
    char what[128];
    snprintf(what, sizeof what, "N %zu C %zu I %zu variant %d axis %s", N, C, I,
             variant, first ? "1" : "last");
    ck_assert_msg(got.loss == want.loss, "%s: loss %.17g vs %.17g", what,
                  got.loss, want.loss);
    same_rows(what, got.per_sample, want.per_sample, rows);
    same_layout(what, got.grad, want.grad, N, C, I, first);
    same_layout(what, got.q, want.q, N, C, I, first);
    same_layout(what, got.probs, want.probs, N, C, I, first);
    if (binary) {
      same_layout(what, got.elem, want.elem, N, C, I, first);
    } else {
      same_rows(what, got.confidence, want.confidence, rows);
      same_rows(what, got.entropy, want.entropy, rows);
      for (size_t r = 0; r < rows; r++) {
        ck_assert(got.predicted[r] == want.predicted[r]);
      }
      ck_assert(got.st.accuracy == want.st.accuracy &&
                got.st.ece == want.st.ece && got.st.counted == want.st.counted);
    }
    /* xent_targets writes q in the layout too */
    double *q = xt_doubles(nc);
    XT_STATUS(xent_targets(&k, q, NULL), XENT_OK);
    same_layout(what, q, want.q, N, C, I, first);
    free(q);
    full_free(&got);
  }
  full_free(&want);
  free(x2);
  free(y2);
  free(xf);
  free(xl);
  free(yf);
  free(yl);
  free(ff);
  free(fl);
  free(t);
  free(partners2);
  free(lam2);
  free(lam);
  free(w);
}

START_TEST(kdim_equals_positions) {
  xt_rng rng = {4242};
  const size_t shapes[][3] = {{2, 3, 1},  {3, 4, 7},   {2, 21, 64},
                              {2, 5, 65}, {1, 2, 130}, {3, 300, 9},
                              {4, 1, 5},  {2, 40, 100}};
  int variant = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    for (int k = 0; k < 8; k++) {
      kdim_case(&rng, shapes[s][0], shapes[s][1], shapes[s][2], variant++);
    }
  }
}
END_TEST

/*
 * PyTorch's mean for K-dimensional hard labels, by hand: logits (2, 2, 3)
 * channels-first, targets (2, 3) with one ignored position, weights
 * [1, 3]: sum over the five kept positions of w_t (lse - x_t), over the
 * sum of their w_t = 1 + 3 + 3 + 1 + 3 = 11.
 */
START_TEST(kdim_mean_by_hand) {
  /* x[n][c][d] */
  const double x[2 * 2 * 3] = {0.0, 1.0, 2.0, 1.0, 0.0, -1.0,
                               2.0, 2.0, 0.5, 0.0, 3.0, 0.5};
  const int64_t t[2 * 3] = {0, 1, 1, -100, 0, 1};
  const double w[2] = {1.0, 3.0};
  xent_problem pb = xt_hard(2, 2, x, t);
  pb.inner = 3;
  pb.class_weights = w;
  double want = 0.0, denom = 0.0;
  for (size_t n = 0; n < 2; n++) {
    for (size_t d = 0; d < 3; d++) {
      const int64_t label = t[n * 3 + d];
      if (label < 0) {
        continue;
      }
      const double a = x[(n * 2 + 0) * 3 + d], b = x[(n * 2 + 1) * 3 + d];
      const double lse = log(exp(a) + exp(b));
      want += w[label] * (lse - (label == 0 ? a : b));
      denom += w[label];
    }
  }
  ck_assert(denom == 11.0);
  full r;
  eval_full(&pb, &r);
  XT_CLOSE(r.loss, want / denom, 1e-15, 0.0);
  ck_assert(r.per_sample[3] == 0.0);
  full_free(&r);
  /* the explicit path reads the same layout */
  double loss, scratch[2 * 2 * 3];
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate_explicit(&pb, &out, scratch, NULL), XENT_OK);
  XT_CLOSE(loss, want / denom, 1e-15, 0.0);
}
END_TEST

/* Channels-first input needs the workspace it reports, even for double
 * logits; channels-last double cross-entropy needs none. */
START_TEST(kdim_workspace) {
  double x[2 * 3 * 10] = {0};
  int64_t t[2 * 10] = {0};
  xent_problem pb = xt_hard(2, 3, x, t);
  pb.inner = 10;
  pb.class_axis = XENT_CLASS_AXIS_LAST;
  ck_assert_uint_eq(xent_workspace_size(&pb), 0);
  pb.class_axis = XENT_CLASS_AXIS_1;
  const size_t need = xent_workspace_size(&pb);
  ck_assert_uint_ge(need, 10 * 3 * sizeof(double));
  double loss;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  xent_error err;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_ERR_WORKSPACE);
  double *ws = xt_doubles(need / sizeof(double) + 1);
  XT_STATUS(xent_evaluate(&pb, &out, ws, need - 1, &err), XENT_ERR_WORKSPACE);
  XT_STATUS(xent_evaluate(&pb, &out, ws, need, &err), XENT_OK);
  XT_CLOSE(loss, log(3.0), 1e-15, 0.0);
  free(ws);
}
END_TEST

int main(void) {
  Suite *s = suite_create("logits");
  XT_ADD(s, hand_value_123);
  XT_ADD(s, hand_values_exact);
  XT_ADD(s, every_half_pattern);
  XT_ADD(s, every_bf16_pattern);
  XT_ADD(s, vector_widening_f16);
  XT_ADD(s, vector_widening_bf16);
  XT_ADD(s, nan_and_inf_f16);
  XT_ADD(s, nan_and_inf_bf16);
  XT_ADD(s, minus_inf_masks);
  XT_ADD(s, workspace);
  XT_ADD(s, random_against_reference);
  XT_ADD(s, kdim_equals_positions);
  XT_ADD(s, kdim_mean_by_hand);
  XT_ADD(s, kdim_workspace);
  return xt_run(s);
}
