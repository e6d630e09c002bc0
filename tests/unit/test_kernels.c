/*
 * test_kernels.c - every exp kernel this CPU and build support (SCALAR,
 * AVX2, AVX512, and AUTO) gives the same results as SCALAR to about 1e-14
 * relative, on random data whose class counts are and are not multiples of
 * the vector widths (1 .. 33, 100, 1000, 32000), with masked classes at
 * every position, float and double logits, weights, smoothing and soft
 * targets. The SCALAR results themselves are checked against the reference.
 */
#include <stdio.h>

#include "testutil.h"

#define RTOL 1e-14

typedef struct result {
  double loss;
  double *per_sample;
  double *grad;
  double *q;
  double *probs;
  xent_stats st;
  int64_t *predicted;
  double *confidence;
  double *entropy;
} result;

static void run(const xent_problem *pb, result *r) {
  const size_t n = pb->n;
  const size_t nc = pb->n * pb->classes;
  r->per_sample = xt_doubles(n);
  r->grad = xt_doubles(nc);
  r->q = xt_doubles(nc);
  r->probs = xt_doubles(nc);
  r->predicted = (int64_t *)xt_alloc(n, sizeof(int64_t));
  r->confidence = xt_doubles(n);
  r->entropy = xt_doubles(n);
  memset(&r->st, 0, sizeof r->st);
  r->st.predicted = r->predicted;
  r->st.confidence = r->confidence;
  r->st.entropy = r->entropy;
  const xent_outputs out = {&r->loss, r->per_sample, r->grad, r->q,
                            r->probs, &r->st,        NULL};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  xent_error err;
  const xent_status st = xent_evaluate(pb, &out, ws, ws_size, &err);
  ck_assert_msg(st == XENT_OK, "kernel %s: %s (arg %d row %lld col %lld)",
                xent_kernel_name(pb->kernel), xent_status_name(st),
                (int)err.arg, (long long)err.row, (long long)err.col);
  free(ws);
}

static void result_free(result *r) {
  free(r->per_sample);
  free(r->grad);
  free(r->q);
  free(r->probs);
  free(r->predicted);
  free(r->confidence);
  free(r->entropy);
}

/* |a - b| <= RTOL |b| + atol, naming the kernel, case and index. */
static void same(const char *what, const char *kernel, const char *name,
                 size_t i, double got, double want, double atol) {
  ck_assert_msg(xt_close(got, want, RTOL, atol),
                "%s, kernel %s: %s[%zu] = %.17g, scalar %.17g (diff %.3g)",
                what, kernel, name, i, got, want, got - want);
}

static void compare(const char *what, const xent_problem *pb, const result *a,
                    const result *s) {
  const char *k = xent_kernel_name(pb->kernel);
  const size_t n = pb->n;
  const size_t C = pb->classes;
  same(what, k, "loss", 0, a->loss, s->loss, 1e-300);
  for (size_t r = 0; r < n; r++) {
    same(what, k, "per_sample", r, a->per_sample[r], s->per_sample[r], 1e-300);
    ck_assert_msg(a->predicted[r] == s->predicted[r],
                  "%s, kernel %s: predicted[%zu] = %lld, scalar %lld", what, k,
                  r, (long long)a->predicted[r], (long long)s->predicted[r]);
    same(what, k, "confidence", r, a->confidence[r], s->confidence[r], 1e-300);
    same(what, k, "entropy", r, a->entropy[r], s->entropy[r], 1e-15);
    /* a gradient entry p_j S - w_j q_j loses digits to cancellation; the
     * floor is RTOL times the size of the row's terms */
    double scale = 0.0;
    for (size_t c = 0; c < C; c++) {
      scale = fmax(scale, fabs(s->grad[r * C + c]));
    }
    for (size_t c = 0; c < C; c++) {
      const size_t i = r * C + c;
      same(what, k, "grad", i, a->grad[i], s->grad[i], RTOL * scale);
      same(what, k, "probs", i, a->probs[i], s->probs[i], 1e-300);
      same(what, k, "targets", i, a->q[i], s->q[i], 1e-300);
    }
  }
  same(what, k, "accuracy", 0, a->st.accuracy, s->st.accuracy, 0.0);
  same(what, k, "mean_confidence", 0, a->st.mean_confidence,
       s->st.mean_confidence, 1e-300);
  same(what, k, "mean_entropy", 0, a->st.mean_entropy, s->st.mean_entropy,
       1e-15);
  same(what, k, "ece", 0, a->st.ece, s->st.ece, 1e-15);
  ck_assert_uint_eq(a->st.counted, s->st.counted);
}

/* The scalar kernel against the plain reference of testutil.h. */
static void check_scalar(const char *what, const xent_problem *pb,
                         const result *s) {
  const size_t nc = pb->n * pb->classes;
  double *ps = xt_doubles(pb->n);
  double *grad = xt_doubles(nc);
  double *p = xt_doubles(nc);
  xt_ref ref = {0.0, 0.0, ps, grad, NULL, p};
  xt_ref_eval(pb, &ref);
  ck_assert_msg(xt_close(s->loss, ref.loss, 1e-12, 1e-12),
                "%s: scalar loss %.17g, reference %.17g", what, s->loss,
                ref.loss);
  XT_ARRAY_CLOSE(s->per_sample, ps, pb->n, 1e-12, 1e-12);
  XT_ARRAY_CLOSE(s->probs, p, nc, 1e-12, 1e-300);
  /* p W - w q cancels on the target classes: an absolute floor of 1e-14
   * (far below semantics 6's 1e-12) lets the last digits differ there. */
  XT_ARRAY_CLOSE(s->grad, grad, nc, 1e-11, 1e-14);
  free(ps);
  free(grad);
  free(p);
}

static const size_t CLASS_COUNTS[] = {1,  2,  3,  4,  5,  7,   8,    9,    15,
                                      16, 17, 31, 32, 33, 100, 1000, 32000};
#define N_COUNTS (sizeof CLASS_COUNTS / sizeof CLASS_COUNTS[0])

/* One shape, several option sets, every supported kernel. */
static void kernels_agree(size_t classes) {
  const size_t n = classes >= 1000 ? 3 : 6;
  const size_t nc = n * classes;
  xt_rng rng = {1000 + classes};
  double *x = xt_doubles(nc);
  float *xf = (float *)xt_alloc(nc, sizeof(float));
  double *y = xt_doubles(nc);
  double *w = xt_doubles(classes);
  int64_t t[6];
  for (size_t i = 0; i < nc; i++) {
    x[i] = xt_range(&rng, -10.0, 10.0);
    y[i] = xt_unif(&rng) < 0.5 ? 0.0 : xt_unif(&rng);
  }
  for (size_t c = 0; c < classes; c++) {
    w[c] = xt_range(&rng, 0.1, 2.0);
  }
  for (size_t r = 0; r < n; r++) {
    t[r] = (int64_t)xt_index(&rng, classes);
    /* masked classes: the first, the last (a vector tail) and one inside */
    if (classes >= 3) {
      const size_t at[3] = {0, classes - 1, xt_index(&rng, classes)};
      for (size_t j = (r % 3); j < 3; j++) {
        if ((size_t)t[r] != at[j]) {
          x[r * classes + at[j]] = -INFINITY;
          y[r * classes + at[j]] = 0.0;
        }
      }
    }
  }
  if (n > 2) {
    t[1] = -100;
  }
  /* a row of equal logits (ties) and a row of extreme ones */
  for (size_t c = 0; c < classes; c++) {
    x[2 * classes + c] = c % 2 ? 1.5 : x[2 * classes + c];
    if (n > 5) {
      x[5 * classes + c] = c == (size_t)t[5] ? 1e4 : -1e4;
    }
  }
  for (size_t i = 0; i < nc; i++) {
    xf[i] = (float)x[i];
  }
  const xent_kernel kernels[3] = {XENT_KERNEL_AVX2, XENT_KERNEL_AVX512,
                                  XENT_KERNEL_AUTO};
  for (int variant = 0; variant < 4; variant++) {
    xent_problem pb;
    xent_problem_init(&pb);
    pb.n = n;
    pb.classes = classes;
    pb.logits = x;
    pb.targets = t;
    switch (variant) {
    case 0: /* plain cross-entropy */
      break;
    case 1: /* smoothing and weights */
      pb.label_smoothing = 0.1;
      pb.class_weights = w;
      pb.smoothing = classes >= 5 ? XENT_SMOOTH_OTHERS : XENT_SMOOTH_UNIFORM;
      break;
    case 2: /* soft targets, weights, sum */
      pb.targets = NULL;
      pb.soft_targets = y;
      pb.class_weights = w;
      pb.label_smoothing = 0.3;
      pb.reduction = XENT_REDUCE_SUM;
      break;
    default: /* float logits, smoothing, none */
      pb.logits = xf;
      pb.dtype = XENT_F32;
      pb.label_smoothing = 0.2;
      pb.reduction = XENT_REDUCE_NONE;
      break;
    }
    char what[96];
    snprintf(what, sizeof what, "C = %zu, variant %d", classes, variant);
    pb.kernel = XENT_KERNEL_SCALAR;
    result scalar;
    run(&pb, &scalar);
    check_scalar(what, &pb, &scalar);
    for (size_t k = 0; k < 3; k++) {
      if (xt_skip_kernel(kernels[k])) {
        continue;
      }
      pb.kernel = kernels[k];
      result other;
      run(&pb, &other);
      compare(what, &pb, &other, &scalar);
      result_free(&other);
    }
    result_free(&scalar);
  }
  free(x);
  free(xf);
  free(y);
  free(w);
}

START_TEST(kernels_agree_loop) {
  kernels_agree(CLASS_COUNTS[_i]);
}
END_TEST

/* Every class count from 1 to 70 with plain targets: tails of every length
 * for 4- and 8-wide vectors. */
START_TEST(kernels_agree_every_tail) {
  xt_rng rng = {77};
  for (size_t classes = 1; classes <= 70; classes++) {
    const size_t n = 2;
    double x[2 * 70];
    int64_t t[2];
    for (size_t i = 0; i < n * classes; i++) {
      x[i] = xt_range(&rng, -30.0, 30.0);
    }
    t[0] = (int64_t)(classes - 1);
    t[1] = 0;
    xent_problem pb;
    xent_problem_init(&pb);
    pb.n = n;
    pb.classes = classes;
    pb.logits = x;
    pb.targets = t;
    pb.label_smoothing = 0.05;
    pb.kernel = XENT_KERNEL_SCALAR;
    result scalar;
    run(&pb, &scalar);
    char what[64];
    snprintf(what, sizeof what, "tail C = %zu", classes);
    check_scalar(what, &pb, &scalar);
    const xent_kernel kernels[2] = {XENT_KERNEL_AVX2, XENT_KERNEL_AVX512};
    for (size_t k = 0; k < 2; k++) {
      if (xt_skip_kernel(kernels[k])) {
        continue;
      }
      pb.kernel = kernels[k];
      result other;
      run(&pb, &other);
      compare(what, &pb, &other, &scalar);
      result_free(&other);
    }
    result_free(&scalar);
  }
}
END_TEST

/* AUTO is the best kernel: identical results. */
START_TEST(auto_is_best) {
  const size_t classes = 37;
  double x[3 * 37];
  const int64_t t[3] = {0, 36, 17};
  xt_rng rng = {3};
  for (size_t i = 0; i < 3 * classes; i++) {
    x[i] = xt_range(&rng, -5.0, 5.0);
  }
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 3;
  pb.classes = classes;
  pb.logits = x;
  pb.targets = t;
  result a, b;
  run(&pb, &a);
  pb.kernel = xent_kernel_best();
  run(&pb, &b);
  ck_assert(a.loss == b.loss);
  XT_ARRAY_CLOSE(a.grad, b.grad, 3 * classes, 0.0, 0.0);
  result_free(&a);
  result_free(&b);
}
END_TEST

/*
 * The softmax denominator of a long row, s = sum_c exp(x_c - m), summed
 * with compensation here: confidence = 1/s of every kernel must be right to
 * 1e-14 relative (the kernels' order of summation must not cost digits).
 */
START_TEST(long_row_accuracy) {
  const size_t classes = 32000;
  double *x = xt_doubles(classes);
  xt_rng rng = {8};
  for (size_t c = 0; c < classes; c++) {
    x[c] = c % 2 ? 1.5 : xt_range(&rng, -10.0, 10.0);
  }
  double m = -INFINITY;
  for (size_t c = 0; c < classes; c++) {
    m = fmax(m, x[c]);
  }
  /* Neumaier's compensated sum: exact to about one unit in the last place
   * whatever the order (long double would not do: valgrind computes it in
   * double precision) */
  double s = 0.0;
  double comp = 0.0;
  for (size_t c = 0; c < classes; c++) {
    const double e = exp(x[c] - m);
    const double sum = s + e;
    comp += fabs(s) >= fabs(e) ? (s - sum) + e : (e - sum) + s;
    s = sum;
  }
  const double want = 1.0 / (s + comp);
  const int64_t t[1] = {0};
  const xent_kernel kernels[3] = {XENT_KERNEL_SCALAR, XENT_KERNEL_AVX2,
                                  XENT_KERNEL_AVX512};
  for (size_t k = 0; k < 3; k++) {
    if (xt_skip_kernel(kernels[k])) {
      continue;
    }
    xent_problem pb;
    xent_problem_init(&pb);
    pb.n = 1;
    pb.classes = classes;
    pb.logits = x;
    pb.targets = t;
    pb.kernel = kernels[k];
    double conf = 0.0;
    xent_stats st;
    memset(&st, 0, sizeof st);
    st.confidence = &conf;
    const xent_outputs out = {NULL, NULL, NULL, NULL, NULL, &st, NULL};
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    ck_assert_msg(xt_close(conf, want, 1e-14, 0.0),
                  "kernel %s: 1/s = %.17g, compensated sum gives %.17g "
                  "(relative error %.3g)",
                  xent_kernel_name(kernels[k]), conf, want,
                  (conf - want) / want);
  }
  free(x);
}
END_TEST

int main(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("kernels_agree");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, kernels_agree_loop, 0, (int)N_COUNTS);
  suite_add_tcase(s, tc);
  XT_ADD(s, kernels_agree_every_tail);
  XT_ADD(s, auto_is_best);
  XT_ADD(s, long_row_accuracy);
  return xt_run(s);
}
