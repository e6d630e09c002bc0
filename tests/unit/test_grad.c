/*
 * test_grad.c - the gradient of every mode checked by central differences
 * in double: (loss(x + h e_i) - loss(x - h e_i)) / 2h against grad_i, for
 * the mean, sum and none reductions (for none, `loss` is the sum of the
 * per-row losses, whose gradient is the per-row gradient). The analytic
 * gradient is also compared with the reference formula of testutil.h.
 */
#include <stdio.h>

#include "testutil.h"

#define H 1e-5
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8

static double loss_at(const xent_problem *pb) {
  double loss = NAN;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  xent_error err;
  const xent_status st = xent_evaluate(pb, &out, ws, ws_size, &err);
  ck_assert_msg(st == XENT_OK, "xent_evaluate: %s (arg %d row %lld col %lld)",
                xent_status_name(st), (int)err.arg, (long long)err.row,
                (long long)err.col);
  free(ws);
  return loss;
}

static double *grad_of(const xent_problem *pb) {
  double *grad = xt_doubles(pb->n * pb->classes);
  const xent_outputs out = {NULL, NULL, grad, NULL, NULL, NULL, NULL};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  XT_STATUS(xent_evaluate(pb, &out, ws, ws_size, NULL), XENT_OK);
  free(ws);
  return grad;
}

/* Central differences on double logits for the three reductions. */
static void grad_check(const xent_problem *base, const char *what) {
  const size_t count = base->n * base->classes;
  double *x = xt_doubles(count);
  memcpy(x, base->logits, count * sizeof(double));
  double *ref_grad = xt_doubles(count);
  for (int red = 0; red < 3; red++) {
    xent_problem pb = *base;
    pb.reduction = (xent_reduction)red;
    pb.logits = x;
    double *grad = grad_of(&pb);
    xt_ref ref = {0.0, 0.0, NULL, ref_grad, NULL, NULL};
    xt_ref_eval(&pb, &ref);
    size_t checked = 0;
    for (size_t i = 0; i < count; i++) {
      ck_assert_msg(xt_close(grad[i], ref_grad[i], 1e-12, 1e-13),
                    "%s, reduction %d: grad[%zu] = %.17g, formula %.17g", what,
                    red, i, grad[i], ref_grad[i]);
      const double x0 = x[i];
      if (!isfinite(x0)) {
        /* masked class or an ignored row's NaN: gradient exactly 0 */
        ck_assert_msg(grad[i] == 0.0, "%s: grad[%zu] = %.17g at x = %g", what,
                      i, grad[i], x0);
        continue;
      }
      x[i] = x0 + H;
      const double up = loss_at(&pb);
      x[i] = x0 - H;
      const double down = loss_at(&pb);
      x[i] = x0;
      const double fd = (up - down) / (2.0 * H);
      ck_assert_msg(xt_close(grad[i], fd, FD_RTOL, FD_ATOL),
                    "%s, reduction %d: grad[%zu] = %.17g, central difference "
                    "%.17g",
                    what, red, i, grad[i], fd);
      checked++;
    }
    ck_assert_uint_gt(checked, 0);
    free(grad);
  }
  free(ref_grad);
  free(x);
}

/* A reproducible batch of logits in [-3, 3]. */
static double *random_logits(uint64_t seed, size_t count) {
  xt_rng rng = {seed};
  double *x = xt_doubles(count);
  for (size_t i = 0; i < count; i++) {
    x[i] = xt_range(&rng, -3.0, 3.0);
  }
  return x;
}

static const int64_t T5[5] = {0, 3, 1, 4, 3};

START_TEST(grad_hard) {
  double *x = random_logits(1, 5 * 6);
  const xent_problem pb = xt_hard(5, 6, x, T5);
  grad_check(&pb, "hard");
  free(x);
}
END_TEST

START_TEST(grad_smoothing_uniform) {
  double *x = random_logits(2, 5 * 6);
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.label_smoothing = 0.1;
  grad_check(&pb, "smoothing uniform");
  pb.label_smoothing = 1.0;
  grad_check(&pb, "smoothing uniform eps 1");
  free(x);
}
END_TEST

START_TEST(grad_smoothing_others) {
  double *x = random_logits(3, 5 * 6);
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.label_smoothing = 0.3;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  grad_check(&pb, "smoothing others");
  free(x);
}
END_TEST

START_TEST(grad_mixup_flip) {
  double *x = random_logits(4, 5 * 6);
  const double lam = 0.35;
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.label_smoothing = 0.1;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  pb.pairing = XENT_PAIR_FLIP;
  grad_check(&pb, "mixup flip");
  free(x);
}
END_TEST

START_TEST(grad_mixup_roll) {
  double *x = random_logits(5, 5 * 6);
  const double lam[5] = {0.1, 0.5, 0.0, 1.0, 0.77};
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.label_smoothing = 0.2;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  pb.mixup_lambda = lam;
  pb.lambda_count = 5;
  pb.pairing = XENT_PAIR_ROLL;
  grad_check(&pb, "mixup roll, per-row lambda, others");
  free(x);
}
END_TEST

START_TEST(grad_mixup_explicit) {
  double *x = random_logits(6, 5 * 6);
  const double lam[5] = {0.6, 0.2, 0.9, 0.4, 0.5};
  const int64_t partners[5] = {4, 4, 2, 0, 1};
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.mixup_lambda = lam;
  pb.lambda_count = 5;
  pb.pairing = XENT_PAIR_EXPLICIT;
  pb.partners = partners;
  grad_check(&pb, "mixup explicit");
  free(x);
}
END_TEST

START_TEST(grad_soft_targets) {
  double *x = random_logits(7, 4 * 5);
  /* rows that do not sum to 1, and a zero row */
  const double y[4 * 5] = {0.2, 0.3, 0.5, 0.0, 0.0, 1.5, 0.0, 0.0, 0.5, 1.0,
                           0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 4;
  pb.classes = 5;
  pb.logits = x;
  pb.soft_targets = y;
  grad_check(&pb, "soft targets");
  pb.label_smoothing = 0.25;
  grad_check(&pb, "soft targets smoothed");
  free(x);
}
END_TEST

START_TEST(grad_class_weights) {
  double *x = random_logits(8, 5 * 6);
  const double w[6] = {0.5, 2.0, 1.0, 0.0, 3.5, 1.25};
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.class_weights = w;
  grad_check(&pb, "weights");
  pb.label_smoothing = 0.15;
  grad_check(&pb, "weights + smoothing");
  pb.smoothing = XENT_SMOOTH_OTHERS;
  grad_check(&pb, "weights + others");
  free(x);
}
END_TEST

START_TEST(grad_class_weights_mixup_soft) {
  double *x = random_logits(9, 5 * 6);
  const double w[6] = {0.5, 2.0, 1.0, 0.7, 3.5, 1.25};
  const double lam = 0.6;
  xent_problem pb = xt_hard(5, 6, x, T5);
  pb.class_weights = w;
  pb.label_smoothing = 0.1;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  grad_check(&pb, "weights + mixup");
  xt_rng rng = {10};
  double y[5 * 6];
  for (size_t i = 0; i < 30; i++) {
    y[i] = xt_unif(&rng);
  }
  xent_problem soft = pb;
  soft.targets = NULL;
  soft.mixup_lambda = NULL;
  soft.lambda_count = 0;
  soft.soft_targets = y;
  grad_check(&soft, "weights + soft targets");
  free(x);
}
END_TEST

START_TEST(grad_ignore_index) {
  double *x = random_logits(11, 5 * 4);
  x[1 * 4 + 0] = NAN; /* ignored rows may hold anything */
  x[1 * 4 + 2] = INFINITY;
  const int64_t t[5] = {2, -100, 0, -100, 3};
  xent_problem pb = xt_hard(5, 4, x, t);
  grad_check(&pb, "ignore_index");
  const double w[4] = {1.5, 0.5, 2.0, 1.0};
  pb.class_weights = w;
  pb.label_smoothing = 0.2;
  grad_check(&pb, "ignore_index + weights + smoothing");
  const int64_t t2[5] = {1, 1, 0, 3, 1};
  pb.targets = t2;
  pb.ignore_index = 1;
  x[1 * 4 + 0] = 0.25;
  x[1 * 4 + 2] = -0.5;
  grad_check(&pb, "ignore_index = 1");
  free(x);
}
END_TEST

START_TEST(grad_masked_classes) {
  double *x = random_logits(12, 5 * 6);
  x[0 * 6 + 1] = -INFINITY;
  x[0 * 6 + 5] = -INFINITY;
  x[3 * 6 + 0] = -INFINITY;
  xent_problem pb = xt_hard(5, 6, x, T5);
  grad_check(&pb, "masked");
  pb.label_smoothing = 0.3;
  grad_check(&pb, "masked + smoothing uniform");
  pb.smoothing = XENT_SMOOTH_OTHERS;
  grad_check(&pb, "masked + smoothing others");
  const double w[6] = {0.5, 2.0, 1.0, 0.7, 3.5, 1.25};
  pb.class_weights = w;
  grad_check(&pb, "masked + others + weights");
  /* soft targets with zero mass on the masked classes */
  double y[5 * 6];
  for (size_t i = 0; i < 30; i++) {
    y[i] = isfinite(x[i]) ? 0.1 * (double)(i % 7) : 0.0;
  }
  xent_problem soft = pb;
  soft.targets = NULL;
  soft.smoothing = XENT_SMOOTH_UNIFORM;
  soft.soft_targets = y;
  grad_check(&soft, "masked + soft targets");
  free(x);
}
END_TEST

/* Everything at once on a bigger batch. */
START_TEST(grad_combined) {
  const size_t n = 9;
  const size_t classes = 11;
  double *x = random_logits(13, n * classes);
  xt_rng rng = {14};
  int64_t t[9];
  double w[11];
  for (size_t r = 0; r < n; r++) {
    t[r] = (int64_t)xt_index(&rng, classes);
    x[r * classes + (size_t)(t[r] + 1) % classes] = -INFINITY;
  }
  t[4] = -100;
  for (size_t c = 0; c < classes; c++) {
    w[c] = xt_range(&rng, 0.2, 2.0);
  }
  xent_problem pb = xt_hard(n, classes, x, t);
  pb.class_weights = w;
  pb.label_smoothing = 0.37;
  grad_check(&pb, "combined uniform");
  pb.smoothing = XENT_SMOOTH_OTHERS;
  grad_check(&pb, "combined others");
  free(x);
}
END_TEST

/*
 * 'others' at eps = 1 (peak = -off < 0): the label's target is exactly 0,
 * so its gradient is p_t WQ / D = p_t (WQ = 1 without weights) to the last
 * digits, even when p_t is 1e-11: no off * w subtracted and added back.
 */
START_TEST(grad_others_negative_peak) {
  const double x[4] = {5.0, 0.0, -20.0, 2.0};
  const int64_t t[1] = {2};
  xent_problem pb = xt_hard(1, 4, x, t);
  pb.smoothing = XENT_SMOOTH_OTHERS;
  pb.label_smoothing = 1.0;
  double *g = grad_of(&pb);
  const double s = exp(5.0) + exp(0.0) + exp(-20.0) + exp(2.0);
  XT_CLOSE(g[2], exp(-20.0) / s, 1e-14, 0.0);
  XT_CLOSE(g[0], exp(5.0) / s - 1.0 / 3.0, 1e-14, 0.0);
  free(g);
}
END_TEST

/*
 * One class: p = 1 and q = 1 - eps + eps/1 = 1 whatever the logit, so the
 * loss is exactly 0 (-0, as PyTorch's -log_softmax gives) and the gradient
 * p S - w q is exactly +0 (not a rounding residue, not NaN) for every
 * reduction. (A central difference of
 * this constant loss would be 0 whatever the library did: it checks
 * nothing, so the values are asserted instead.)
 */
START_TEST(grad_one_class) {
  double x[3] = {0.5, -2.0, 4.0};
  const int64_t t[3] = {0, 0, 0};
  for (int red = 0; red < 3; red++) {
    xent_problem pb = xt_hard(3, 1, x, t);
    pb.label_smoothing = 0.5;
    pb.reduction = (xent_reduction)red;
    double loss = -1.0, per[3], grad[3], probs[3], q[3];
    const xent_outputs out = {red == XENT_REDUCE_NONE ? NULL : &loss,
                              per,
                              grad,
                              q,
                              probs,
                              NULL,
                              NULL};
    const size_t ws_size = xent_workspace_size(&pb);
    double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
    XT_STATUS(xent_evaluate(&pb, &out, ws, ws_size, NULL), XENT_OK);
    free(ws);
    if (red != XENT_REDUCE_NONE)
      ck_assert(loss == 0.0);
    for (size_t n = 0; n < 3; n++) {
      ck_assert_msg(per[n] == 0.0, "per_sample[%zu] %a", n, per[n]);
      ck_assert_msg(grad[n] == 0.0 && !signbit(grad[n]), "grad[%zu] %a", n,
                    grad[n]);
      ck_assert(probs[n] == 1.0 && q[n] == 1.0);
    }
  }
}
END_TEST

/*
 * Float logits: values on a grid of 2^-8 in [-4, 4] and a step of 2^-14, so
 * that x +- h is exact in float; the loss is evaluated through the float
 * path each time.
 */
START_TEST(grad_float32) {
  const size_t n = 5;
  const size_t classes = 7;
  const float h = 0x1.0p-14f;
  float xf[5 * 7];
  xt_rng rng = {15};
  for (size_t i = 0; i < n * classes; i++) {
    xf[i] = (float)((double)((int)xt_index(&rng, 2049) - 1024) / 256.0);
  }
  xf[2] = -INFINITY;
  const int64_t t[5] = {0, 6, -100, 3, 3};
  const double w[7] = {1.0, 0.5, 2.0, 1.5, 0.25, 1.0, 3.0};
  const double lam = 0.3;
  for (int mode = 0; mode < 3; mode++) {
    xent_problem pb;
    xent_problem_init(&pb);
    pb.n = n;
    pb.classes = classes;
    pb.dtype = XENT_F32;
    pb.logits = xf;
    pb.targets = t;
    pb.label_smoothing = 0.1;
    if (mode >= 1) {
      pb.class_weights = w;
    }
    const int64_t t_mix[5] = {0, 6, 1, 3, 3};
    if (mode == 2) {
      pb.targets = t_mix;
      pb.mixup_lambda = &lam;
      pb.lambda_count = 1;
    }
    for (int red = 0; red < 3; red++) {
      pb.reduction = (xent_reduction)red;
      double *grad = grad_of(&pb);
      for (size_t i = 0; i < n * classes; i++) {
        const float x0 = xf[i];
        if (!isfinite(x0)) {
          ck_assert(grad[i] == 0.0);
          continue;
        }
        xf[i] = x0 + h;
        ck_assert((double)xf[i] == (double)x0 + (double)h);
        const double up = loss_at(&pb);
        xf[i] = x0 - h;
        const double down = loss_at(&pb);
        xf[i] = x0;
        const double fd = (up - down) / (2.0 * (double)h);
        ck_assert_msg(xt_close(grad[i], fd, 1e-6, 1e-8),
                      "float32 mode %d reduction %d: grad[%zu] = %.17g, "
                      "central difference %.17g",
                      mode, red, i, grad[i], fd);
      }
      free(grad);
    }
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("grad");
  XT_ADD(s, grad_hard);
  XT_ADD(s, grad_smoothing_uniform);
  XT_ADD(s, grad_smoothing_others);
  XT_ADD(s, grad_mixup_flip);
  XT_ADD(s, grad_mixup_roll);
  XT_ADD(s, grad_mixup_explicit);
  XT_ADD(s, grad_soft_targets);
  XT_ADD(s, grad_class_weights);
  XT_ADD(s, grad_class_weights_mixup_soft);
  XT_ADD(s, grad_ignore_index);
  XT_ADD(s, grad_masked_classes);
  XT_ADD(s, grad_combined);
  XT_ADD(s, grad_one_class);
  XT_ADD(s, grad_others_negative_peak);
  XT_ADD(s, grad_float32);
  return xt_run(s);
}
