/*
 * test_logits.c - the logits reader (lib/src/logits.c): binary16 (XENT_F16)
 * and bfloat16 (XENT_BF16) bit patterns are widened to double exactly, by
 * the scalar code and by every vector kernel, so that every output equals
 * the output for the same values given as doubles. Expected values are the
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
    if (!xent_kernel_supported(KERNELS[k])) {
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
  return xt_run(s);
}
