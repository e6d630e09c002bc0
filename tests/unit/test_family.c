/*
 * test_family.c - the loss families (lib/src/family.c): hand values of each
 * (computed with 40-digit arithmetic and written out here), the smoothing
 * conventions of timm and Keras against hand-derived targets, timm's
 * target_threshold after mixup against a transcription of its code, the
 * focal losses reducing to cross-entropy and BCE, the binary families'
 * denominators with ignore_index, masked classes and sum_classes, the
 * outputs' relations, every kernel, and a central-difference gradient check
 * in double for every family and reduction. The definitions used by the
 * random checks are written from the formulas, not from libxent's code.
 */
#include <stdio.h>

#include "testutil.h"

#define H 1e-5
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8

static const xent_family FAMILIES[5] = {
    XENT_LOSS_CROSS_ENTROPY, XENT_LOSS_BINARY_CROSS_ENTROPY,
    XENT_LOSS_SIGMOID_FOCAL, XENT_LOSS_SOFTMAX_FOCAL, XENT_LOSS_POLY1};
static const char *FAMILY_NAMES[5] = {"cross-entropy", "bce", "sigmoid focal",
                                      "softmax focal", "poly-1"};

static int is_binary(xent_family f) {
  return f == XENT_LOSS_BINARY_CROSS_ENTROPY || f == XENT_LOSS_SIGMOID_FOCAL;
}

/* Everything xent_evaluate writes for a 2-D problem. */
typedef struct result {
  double loss;
  double *per_sample;
  double *grad;
  double *q;
  double *probs;
  double *elem;
} result;

static xent_status eval_status(const xent_problem *pb, result *r,
                               xent_error *err) {
  const size_t rows = pb->n * pb->inner;
  const size_t count = rows * pb->classes;
  r->per_sample = xt_doubles(rows);
  r->grad = xt_doubles(count);
  r->q = xt_doubles(count);
  r->probs = xt_doubles(count);
  r->elem = xt_doubles(count);
  const xent_outputs out = {&r->loss, r->per_sample, r->grad, r->q,
                            r->probs, NULL,          r->elem};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  const xent_status st = xent_evaluate(pb, &out, ws, ws_size, err);
  free(ws);
  return st;
}

static void eval_all(const xent_problem *pb, result *r) {
  xent_error err;
  const xent_status st = eval_status(pb, r, &err);
  ck_assert_msg(st == XENT_OK, "xent_evaluate: %s (arg %s row %lld col %lld)",
                xent_status_name(st), xent_arg_name(err.arg),
                (long long)err.row, (long long)err.col);
}

static void result_free(result *r) {
  free(r->per_sample);
  free(r->grad);
  free(r->q);
  free(r->probs);
  free(r->elem);
}

static double loss_of(const xent_problem *pb) {
  double loss = NAN;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  XT_STATUS(xent_evaluate(pb, &out, ws, ws_size, NULL), XENT_OK);
  free(ws);
  return loss;
}

static xent_problem soft_problem(size_t n, size_t classes, const double *x,
                                 const double *y, xent_family family) {
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = n;
  pb.classes = classes;
  pb.logits = x;
  pb.soft_targets = y;
  pb.family = family;
  return pb;
}

/* ----------------------------------------------------------- hand values */

/* BCE, x = [0, 2, -1], targets [1, 0, 0.5]: the elements are
 * -(t log s(x) + (1 - t) log(1 - s(x))): log 2, log(1 + e^2) and
 * (softplus(1) + softplus(-1)) / 2; the gradient of the mean is
 * (s(x) - t) / 3. */
START_TEST(bce_hand_values) {
  const double x[3] = {0.0, 2.0, -1.0};
  const double y[3] = {1.0, 0.0, 0.5};
  xent_problem pb = soft_problem(1, 3, x, y, XENT_LOSS_BINARY_CROSS_ENTROPY);
  result r;
  eval_all(&pb, &r);
  const double el[3] = {0.69314718055994530942, 2.1269280110429724964,
                        0.81326168751822283405};
  XT_ARRAY_CLOSE(r.elem, el, 3, 1e-15, 0.0);
  XT_CLOSE(r.per_sample[0], el[0] + el[1] + el[2], 1e-15, 0.0);
  XT_CLOSE(r.loss, 1.2111122930403802133, 1e-15, 0.0);
  const double g[3] = {-0.16666666666666666667, 0.29359902599262748135,
                       -0.077019526210001626417};
  XT_ARRAY_CLOSE(r.grad, g, 3, 1e-15, 0.0);
  const double pr[3] = {0.5, 1.0 / (1.0 + exp(-2.0)), 1.0 / (1.0 + exp(1.0))};
  XT_ARRAY_CLOSE(r.probs, pr, 3, 1e-15, 0.0);
  XT_ARRAY_CLOSE(r.q, y, 3, 0.0, 0.0);
  result_free(&r);
}
END_TEST

/* weight [2, 0.5, 1], pos_weight [3, 1, 0.5]: the elements are
 * -w (pw t log s(x) + (1 - t) log(1 - s(x))) and the gradient (sum)
 * w ((pw t + 1 - t) s(x) - pw t): -3 exactly for x = 0, t = 1, pw 3, w 2. */
START_TEST(bce_weights_pos_weight_hand) {
  const double x[3] = {0.0, 2.0, -1.0};
  const double y[3] = {1.0, 0.0, 0.5};
  const double w[3] = {2.0, 0.5, 1.0};
  const double pw[3] = {3.0, 1.0, 0.5};
  xent_problem pb = soft_problem(1, 3, x, y, XENT_LOSS_BINARY_CROSS_ENTROPY);
  pb.class_weights = w;
  pb.pos_weight = pw;
  pb.reduction = XENT_REDUCE_SUM;
  result r;
  eval_all(&pb, &r);
  const double el[3] = {4.1588830833596718565, 1.0634640055214862482,
                        0.48494626563866712554};
  XT_ARRAY_CLOSE(r.elem, el, 3, 1e-15, 0.0);
  XT_CLOSE(r.loss, el[0] + el[1] + el[2], 1e-15, 0.0);
  const double g[3] = {-3.0, 0.44039853898894122203, -0.048293933972503659438};
  XT_ARRAY_CLOSE(r.grad, g, 3, 1e-15, 0.0);
  result_free(&r);
}
END_TEST

/* torchvision's sigmoid_focal_loss, gamma 2: alpha_t ce (1 - p_t)^2 with
 * p_t = p t + (1 - p)(1 - t), alpha_t = alpha t + (1 - alpha)(1 - t); and
 * with alpha -1 (no alpha term). */
START_TEST(sigmoid_focal_hand_values) {
  const double x[3] = {0.0, 2.0, -1.0};
  const double y[3] = {1.0, 0.0, 0.5};
  xent_problem pb = soft_problem(1, 3, x, y, XENT_LOSS_SIGMOID_FOCAL);
  pb.reduction = XENT_REDUCE_NONE;
  result r;
  eval_all(&pb, &r);
  const double el[3] = {0.043321698784996581839, 1.2375586345660566541,
                        0.10165771093977785426};
  XT_ARRAY_CLOSE(r.elem, el, 3, 1e-15, 0.0);
  XT_CLOSE(r.per_sample[0], el[0] + el[1] + el[2], 1e-15, 0.0);
  result_free(&r);
  pb.focal_alpha = -1.0;
  eval_all(&pb, &r);
  const double el2[3] = {0.17328679513998632735, 1.6500781794214088722,
                         0.20331542187955570851};
  XT_ARRAY_CLOSE(r.elem, el2, 3, 1e-15, 0.0);
  result_free(&r);
}
END_TEST

/* logits [1, 2, 3] (p = 0.0900..., 0.2447..., 0.6652...): softmax focal,
 * gamma 2, alpha 0.25: -0.25 (1 - p_t)^2 log p_t, for t = 2 and t = 0;
 * poly-1: -log p_t + eps (1 - p_t), eps 2 for t = 2, eps 1 for t = 0. */
START_TEST(softmax_focal_and_poly_hand_values) {
  const double x[2 * 3] = {1.0, 2.0, 3.0, 1.0, 2.0, 3.0};
  const int64_t t[2] = {2, 0};
  xent_problem pb = xt_hard(2, 3, x, t);
  pb.family = XENT_LOSS_SOFTMAX_FOCAL;
  pb.reduction = XENT_REDUCE_NONE;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.per_sample[0], 0.011419449741971222191, 1e-14, 0.0);
  XT_CLOSE(r.per_sample[1], 0.49840113364465765614, 1e-14, 0.0);
  const double pr[3] = {0.090030573170380457998, 0.24472847105479765247,
                        0.66524095577482188953};
  XT_ARRAY_CLOSE(r.probs, pr, 3, 1e-15, 0.0);
  result_free(&r);
  pb.family = XENT_LOSS_POLY1;
  eval_all(&pb, &r);
  XT_CLOSE(r.per_sample[0], 1.0771240528947365254, 1e-14, 0.0);
  result_free(&r);
  pb.poly_epsilon = 1.0;
  eval_all(&pb, &r);
  XT_CLOSE(r.per_sample[1], 3.3175753912739998465, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* ------------------------------------------------------- the definitions */

static double softplus(double z) {
  return fmax(z, 0.0) + log1p(exp(-fabs(z)));
}

static double sigmoid(double z) {
  return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* The loss of every row by the formulas of xent.h, from q as xent_targets
 * gives it (checked on its own elsewhere), for a valid 2-D problem with
 * double logits. Returns the reduced loss; rows into per (may be NULL). */
static double definition(const xent_problem *pb, double *per) {
  const size_t n = pb->n, C = pb->classes;
  const double *x = pb->logits;
  double *q = xt_doubles(n * C);
  XT_STATUS(xent_targets(pb, q, NULL), XENT_OK);
  const int binary = is_binary(pb->family);
  double total = 0.0, denom = 0.0;
  for (size_t r = 0; r < n; r++) {
    const int ignored = pb->targets && pb->targets[r] == pb->ignore_index;
    double m = -INFINITY, s = 0.0;
    size_t k = 0;
    for (size_t c = 0; c < C; c++) {
      m = fmax(m, x[r * C + c]);
      k += x[r * C + c] != -INFINITY;
    }
    for (size_t c = 0; c < C; c++) {
      s += exp(x[r * C + c] - m);
    }
    double l = 0.0;
    for (size_t c = 0; !ignored && c < C; c++) {
      const double xc = x[r * C + c], t = q[r * C + c];
      if (xc == -INFINITY) {
        continue;
      }
      const double w = pb->class_weights ? pb->class_weights[c] : 1.0;
      if (binary) {
        const double pw = pb->pos_weight ? pb->pos_weight[c] : 1.0;
        const double ce = pw * t * softplus(-xc) + (1.0 - t) * softplus(xc);
        if (pb->family == XENT_LOSS_BINARY_CROSS_ENTROPY) {
          l += w * ce;
        } else {
          const double p = sigmoid(xc);
          const double pt = p * t + (1.0 - p) * (1.0 - t);
          const double a = pb->focal_alpha;
          const double at = a >= 0 ? a * t + (1.0 - a) * (1.0 - t) : 1.0;
          l += w * at * ce * pow(1.0 - pt, pb->focal_gamma);
        }
        continue;
      }
      const double lp = xc - m - log(s);
      const double p = exp(lp);
      if (pb->family == XENT_LOSS_SOFTMAX_FOCAL) {
        const double a = pb->focal_alpha_per_class
                             ? pb->focal_alpha_per_class[c]
                             : (pb->focal_alpha < 0 ? 1.0 : pb->focal_alpha);
        l -= w * a * pow(1.0 - p, pb->focal_gamma) * t * lp;
      } else if (pb->family == XENT_LOSS_POLY1) {
        l += w * t * (-lp + pb->poly_epsilon * (1.0 - p));
      } else {
        l -= w * t * lp;
      }
    }
    if (per != NULL) {
      per[r] = l;
    }
    total += l;
    if (ignored) {
      continue;
    }
    if (binary) {
      denom += pb->sum_classes ? 1.0 : (double)k;
    } else if (pb->soft_targets) {
      denom += 1.0;
    } else {
      const size_t t1 = (size_t)pb->targets[r];
      double lam = 1.0;
      size_t t2 = t1;
      if (pb->mixup_lambda) {
        lam = pb->mixup_lambda[pb->lambda_count == 1 ? 0 : r];
        t2 = (size_t)pb->targets[xt_partner(pb, r)];
      }
      const double w1 = pb->class_weights ? pb->class_weights[t1] : 1.0;
      const double w2 = pb->class_weights ? pb->class_weights[t2] : 1.0;
      denom += lam * w1 + (1.0 - lam) * w2;
    }
  }
  free(q);
  return pb->reduction == XENT_REDUCE_MEAN ? total / denom : total;
}

/* -------------------------------------------------- reductions to others */

/*
 * A confident row: logits [12, 0, 0, 0], target 0, softmax focal gamma 2,
 * alpha 0.25. 1 - p_0 = 3e^-12 / s is taken as the other classes' sum, not
 * 1 - p_0, and its ratio to lp_0 with log1p, so the gradient keeps every
 * digit (50-digit values from mpmath's numerical derivative); the loss
 * itself uses log(s) as PyTorch's log_softmax does (absolute error 1e-16
 * in lp_0, here 2e-11 relative).
 */
START_TEST(softmax_focal_confident_row) {
  const double x[4] = {12.0, 0.0, 0.0, 0.0};
  const int64_t t[1] = {0};
  xent_problem pb = xt_hard(1, 4, x, t);
  pb.family = XENT_LOSS_SOFTMAX_FOCAL;
  pb.reduction = XENT_REDUCE_SUM;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, 1.56560576378780911920875e-15, 1e-10, 0.0);
  const double g[4] = {
      -4.696745147041852766892174e-15, 1.565581715680617588964058e-15,
      1.565581715680617588964058e-15, 1.565581715680617588964058e-15};
  XT_ARRAY_CLOSE(r.grad, g, 4, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* Softmax focal with gamma 0 and alpha 1 is cross-entropy: every output,
 * with smoothing, weights, masked classes, mixup and soft targets. */
START_TEST(softmax_focal_gamma0_alpha1_is_ce) {
  xt_rng rng = {31};
  for (int trial = 0; trial < 40; trial++) {
    const size_t n = 1 + xt_index(&rng, 6), C = 3 + xt_index(&rng, 40);
    double *x = xt_doubles(n * C), *y = xt_doubles(n * C);
    double w[43], lam[6];
    int64_t t[6];
    for (size_t i = 0; i < n * C; i++) {
      x[i] = xt_range(&rng, -6.0, 6.0);
      y[i] = xt_unif(&rng);
    }
    for (size_t c = 0; c < C; c++) {
      w[c] = xt_range(&rng, 0.1, 2.0);
    }
    for (size_t r = 0; r < n; r++) {
      t[r] = (int64_t)xt_index(&rng, C);
      lam[r] = xt_unif(&rng);
      x[r * C + (t[r] + 1) % C] = -INFINITY; /* a masked class, not a label */
      y[r * C + (t[r] + 1) % C] = 0.0;
    }
    if (trial % 4 == 3) {
      for (size_t r = 0; r < n; r++) { /* partners' labels unmasked */
        x[r * C + (t[r] + 1) % C] = 0.0;
      }
    }
    xent_problem pb = xt_hard(n, C, x, t);
    pb.label_smoothing = trial % 2 ? 0.2 : 0.0;
    pb.class_weights = trial % 3 ? w : NULL;
    pb.reduction = (xent_reduction)(trial % 3);
    if (trial % 4 == 2) {
      pb.targets = NULL;
      pb.soft_targets = y;
    } else if (trial % 4 == 3) {
      pb.mixup_lambda = lam;
      pb.lambda_count = n;
    }
    result ce, fo;
    eval_all(&pb, &ce);
    pb.family = XENT_LOSS_SOFTMAX_FOCAL;
    pb.focal_gamma = 0.0;
    pb.focal_alpha = 1.0;
    eval_all(&pb, &fo);
    XT_CLOSE(fo.loss, ce.loss, 1e-13, 0.0);
    XT_ARRAY_CLOSE(fo.per_sample, ce.per_sample, n, 1e-13, 1e-300);
    for (size_t i = 0; i < n * C; i++) {
      /* a gradient entry is a difference: relative to its row's scale */
      ck_assert_msg(fabs(fo.grad[i] - ce.grad[i]) <=
                        1e-13 * (fabs(ce.grad[i]) + 1e-2),
                    "trial %d grad[%zu] focal %.17g ce %.17g", trial, i,
                    fo.grad[i], ce.grad[i]);
    }
    XT_ARRAY_CLOSE(fo.probs, ce.probs, n * C, 1e-15, 1e-300);
    XT_ARRAY_CLOSE(fo.q, ce.q, n * C, 0.0, 0.0);
    /* alpha < 0 is no alpha term: the same */
    pb.focal_alpha = -1.0;
    result fo2;
    eval_all(&pb, &fo2);
    ck_assert(fo2.loss == fo.loss);
    result_free(&fo2);
    result_free(&ce);
    result_free(&fo);
    free(x);
    free(y);
  }
}
END_TEST

/* Sigmoid focal with gamma 0 and no alpha term is binary cross-entropy. */
START_TEST(sigmoid_focal_gamma0_is_bce) {
  xt_rng rng = {32};
  const size_t n = 4, C = 19;
  double x[4 * 19], y[4 * 19], w[19], pw[19];
  for (size_t i = 0; i < n * C; i++) {
    x[i] = xt_range(&rng, -8.0, 8.0);
    y[i] = xt_unif(&rng);
  }
  for (size_t c = 0; c < C; c++) {
    w[c] = xt_range(&rng, 0.0, 2.0);
    pw[c] = xt_range(&rng, 0.0, 3.0);
  }
  for (int red = 0; red < 3; red++) {
    xent_problem pb = soft_problem(n, C, x, y, XENT_LOSS_BINARY_CROSS_ENTROPY);
    pb.class_weights = w;
    pb.pos_weight = pw;
    pb.reduction = (xent_reduction)red;
    result a, b;
    eval_all(&pb, &a);
    pb.family = XENT_LOSS_SIGMOID_FOCAL;
    pb.focal_gamma = 0.0;
    pb.focal_alpha = -1.0;
    eval_all(&pb, &b);
    XT_CLOSE(b.loss, a.loss, 1e-15, 0.0);
    XT_ARRAY_CLOSE(b.elem, a.elem, n * C, 1e-15, 0.0);
    XT_ARRAY_CLOSE(b.grad, a.grad, n * C, 1e-14, 1e-300);
    result_free(&a);
    result_free(&b);
  }
}
END_TEST

/* ------------------------------------------------ smoothing conventions */

/*
 * timm's BinaryCrossEntropy(smoothing=0.1) on index targets, C = 4:
 * off_value = 0.1 / 4 = 0.025, on_value = 1 - 0.1 + 0.025 = 0.925, the
 * label's class on, the others off; the loss is BCE against those
 * targets. With one class masked K = 3: off 0.1/3, on 0.9 + 0.1/3.
 */
START_TEST(bce_timm_smoothing) {
  const double x[2 * 4] = {0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -3.0, 0.25};
  const int64_t t[2] = {2, 0};
  xent_problem pb = xt_hard(2, 4, x, t);
  pb.family = XENT_LOSS_BINARY_CROSS_ENTROPY;
  pb.label_smoothing = 0.1;
  result r;
  eval_all(&pb, &r);
  const double q[8] = {0.025, 0.025, 0.925, 0.025, 0.925, 0.025, 0.025, 0.025};
  XT_ARRAY_CLOSE(r.q, q, 8, 1e-15, 0.0);
  xent_problem soft = soft_problem(2, 4, x, q, XENT_LOSS_BINARY_CROSS_ENTROPY);
  result s;
  eval_all(&soft, &s);
  XT_CLOSE(r.loss, s.loss, 1e-15, 0.0);
  XT_ARRAY_CLOSE(r.grad, s.grad, 8, 1e-15, 0.0);
  result_free(&s);
  result_free(&r);
  /* a masked class: K = 3 */
  double xm[2 * 4];
  memcpy(xm, x, sizeof xm);
  xm[1] = -INFINITY;
  pb.logits = xm;
  eval_all(&pb, &r);
  XT_CLOSE(r.q[0], 0.1 / 3.0, 1e-15, 0.0);
  ck_assert(r.q[1] == 0.0 && r.grad[1] == 0.0 && r.elem[1] == 0.0);
  XT_CLOSE(r.q[2], 0.9 + 0.1 / 3.0, 1e-15, 0.0);
  XT_CLOSE(r.q[4], 0.925, 1e-15, 0.0);
  /* the mean is over the 7 elements that exist */
  double sum = 0.0;
  for (size_t i = 0; i < 8; i++) {
    sum += r.elem[i];
  }
  XT_CLOSE(r.loss, sum / 7.0, 1e-15, 0.0);
  result_free(&r);
}
END_TEST

/*
 * Keras' BinaryCrossentropy(label_smoothing=0.2): y (1 - 0.2) + 0.2 / 2 on
 * every target: a one-hot row becomes 0.9 / 0.1, a soft 0.3 becomes
 * 0.3 * 0.8 + 0.1 = 0.34, whatever C.
 */
START_TEST(bce_keras_smoothing) {
  const double x[3] = {0.5, -1.0, 2.0};
  const int64_t t[1] = {1};
  xent_problem pb = xt_hard(1, 3, x, t);
  pb.family = XENT_LOSS_BINARY_CROSS_ENTROPY;
  pb.label_smoothing = 0.2;
  pb.smoothing = XENT_SMOOTH_BINARY;
  double q[3];
  XT_STATUS(xent_targets(&pb, q, NULL), XENT_OK);
  const double want[3] = {0.1, 0.9, 0.1};
  XT_ARRAY_CLOSE(q, want, 3, 1e-15, 0.0);
  const double y[3] = {0.3, 0.0, 1.0};
  xent_problem soft = soft_problem(1, 3, x, y, XENT_LOSS_SIGMOID_FOCAL);
  soft.label_smoothing = 0.2;
  soft.smoothing = XENT_SMOOTH_BINARY;
  XT_STATUS(xent_targets(&soft, q, NULL), XENT_OK);
  const double want2[3] = {0.34, 0.1, 0.9};
  XT_ARRAY_CLOSE(q, want2, 3, 1e-15, 0.0);
  /* and the loss is the family's on those targets */
  result a, b;
  eval_all(&soft, &a);
  xent_problem plain = soft_problem(1, 3, x, want2, XENT_LOSS_SIGMOID_FOCAL);
  eval_all(&plain, &b);
  XT_CLOSE(a.loss, b.loss, 1e-15, 0.0);
  result_free(&a);
  result_free(&b);
}
END_TEST

/*
 * timm: Mixup(label_smoothing=eps) builds mixup_target, then
 * BinaryCrossEntropy(target_threshold=thr) does target.gt(thr). Transcribed
 * here from timm/data/mixup.py and timm/loss/binary_cross_entropy.py:
 *   off = eps / C; on = 1 - eps + off
 *   y1 = one_hot(target, C, on, off); y2 = one_hot(target.flip(0), ...)
 *   q = y1 * lam + y2 * (1 - lam); q = (q > thr)
 */
START_TEST(timm_threshold_after_mixup) {
  enum { N = 5, C = 6 };
  xt_rng rng = {33};
  double x[N * C];
  for (size_t i = 0; i < N * C; i++) {
    x[i] = xt_range(&rng, -4.0, 4.0);
  }
  const int64_t t[N] = {0, 3, 3, 5, 1};
  const double eps = 0.1, thr = 0.2;
  const double lams[3] = {0.7, 0.15, 0.5};
  for (size_t li = 0; li < 3; li++) {
    const double lam = lams[li];
    double want[N * C];
    const double off = eps / C, on = 1.0 - eps + off;
    for (size_t r = 0; r < N; r++) {
      for (size_t c = 0; c < C; c++) {
        const double y1 = (int64_t)c == t[r] ? on : off;
        const double y2 = (int64_t)c == t[N - 1 - r] ? on : off;
        const double q = y1 * lam + y2 * (1.0 - lam);
        want[r * C + c] = q > thr ? 1.0 : 0.0;
      }
    }
    xent_problem pb = xt_hard(N, C, x, t);
    pb.family = XENT_LOSS_BINARY_CROSS_ENTROPY;
    pb.label_smoothing = eps;
    pb.mixup_lambda = &lam;
    pb.lambda_count = 1;
    pb.target_threshold = thr;
    result r;
    eval_all(&pb, &r);
    XT_ARRAY_CLOSE(r.q, want, N * C, 0.0, 0.0);
    /* lambda 0.7: the own label passes (0.7 * 0.925 + ...), the partner's
     * too (0.3 * 0.925 > 0.2); lambda 0.15: only the partner's */
    if (li == 0) {
      ck_assert(want[0 * C + 0] == 1.0 && want[0 * C + 1] == 1.0);
    } else if (li == 1) {
      ck_assert(want[0 * C + 0] == 0.0 && want[0 * C + 1] == 1.0);
    }
    xent_problem soft =
        soft_problem(N, C, x, want, XENT_LOSS_BINARY_CROSS_ENTROPY);
    result s;
    eval_all(&soft, &s);
    XT_CLOSE(r.loss, s.loss, 1e-15, 0.0);
    XT_ARRAY_CLOSE(r.grad, s.grad, N * C, 0.0, 0.0);
    result_free(&s);
    result_free(&r);
  }
  /* strictly greater: a target equal to the threshold becomes 0 */
  const double y[2] = {0.5, 0.75};
  xent_problem pb = soft_problem(1, 2, x, y, XENT_LOSS_SIGMOID_FOCAL);
  pb.target_threshold = 0.5;
  double q[2];
  XT_STATUS(xent_targets(&pb, q, NULL), XENT_OK);
  ck_assert(q[0] == 0.0 && q[1] == 1.0);
}
END_TEST

/* ------------------------------------------ binary families' denominators */

/* An ignored row contributes nothing and leaves the mean's element count:
 * the mean equals the mean over the batch without that row. sum_classes
 * divides by the rows instead (timm: loss.sum(-1).mean()). */
START_TEST(binary_denominators) {
  enum { N = 4, C = 5 };
  xt_rng rng = {34};
  double x[N * C], xk[(N - 1) * C];
  for (size_t i = 0; i < N * C; i++) {
    x[i] = xt_range(&rng, -4.0, 4.0);
  }
  int64_t t[N] = {1, -100, 4, 0};
  const int64_t tk[N - 1] = {1, 4, 0};
  memcpy(xk, x, C * sizeof(double));
  memcpy(xk + C, x + 2 * C, 2 * C * sizeof(double));
  for (int f = 1; f <= 2; f++) {
    xent_problem pb = xt_hard(N, C, x, t);
    pb.family = FAMILIES[f];
    pb.label_smoothing = 0.1;
    xent_problem kept = xt_hard(N - 1, C, xk, tk);
    kept.family = FAMILIES[f];
    kept.label_smoothing = 0.1;
    result a, b;
    eval_all(&pb, &a);
    eval_all(&kept, &b);
    XT_CLOSE(a.loss, b.loss, 1e-15, 0.0);
    double sum = 0.0;
    for (size_t r = 0; r < N; r++) {
      sum += a.per_sample[r];
    }
    XT_CLOSE(a.loss, sum / (3.0 * C), 1e-15, 0.0);
    ck_assert(a.per_sample[1] == 0.0);
    for (size_t c = 0; c < C; c++) {
      ck_assert(a.grad[C + c] == 0.0 && a.elem[C + c] == 0.0 &&
                a.q[C + c] == 0.0 && a.probs[C + c] == 0.0);
    }
    result_free(&a);
    result_free(&b);
    pb.sum_classes = 1;
    eval_all(&pb, &a);
    XT_CLOSE(a.loss, sum / 3.0, 1e-15, 0.0);
    result_free(&a);
    /* every row ignored: the mean has no elements */
    int64_t all[N] = {-100, -100, -100, -100};
    pb.targets = all;
    xent_error err;
    XT_STATUS(eval_status(&pb, &a, &err), XENT_ERR_ZERO_DENOMINATOR);
    result_free(&a);
  }
}
END_TEST

/* ------------------------------------------------------------ soft poly-1 */

/* Soft targets that do not sum to 1: optax's sum_c q_c (1 - p_c), which is
 * not 1 - sum_c q_c p_c then. */
START_TEST(poly1_soft_unnormalised) {
  const double x[3] = {1.0, 2.0, 3.0};
  const double y[3] = {0.5, 0.25, 1.0}; /* sums to 1.75 */
  xent_problem pb = soft_problem(1, 3, x, y, XENT_LOSS_POLY1);
  pb.poly_epsilon = 1.5;
  result r;
  eval_all(&pb, &r);
  const double s = exp(1.0) + exp(2.0) + exp(3.0);
  double ce = 0.0, poly = 0.0;
  for (size_t c = 0; c < 3; c++) {
    ce -= y[c] * (x[c] - log(s));
    poly += y[c] * (1.0 - exp(x[c]) / s);
  }
  XT_CLOSE(r.loss, ce + 1.5 * poly, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* ------------------------------------------------------ random vs formula */

/* Random problems of every family with every option that applies, against
 * the definitions above. */
START_TEST(random_against_definition) {
  xt_rng rng = {35};
  for (int trial = 0; trial < 200; trial++) {
    const xent_family fam = FAMILIES[trial % 5];
    const int binary = is_binary(fam);
    const size_t n = 1 + xt_index(&rng, 7), C = 2 + xt_index(&rng, 30);
    double *x = xt_doubles(n * C), *y = xt_doubles(n * C);
    double w[32], pw[32], alpha[32], lam[7];
    int64_t t[7];
    for (size_t i = 0; i < n * C; i++) {
      x[i] = xt_range(&rng, -7.0, 7.0);
      y[i] = binary ? xt_unif(&rng) : xt_range(&rng, 0.0, 2.0);
    }
    for (size_t c = 0; c < C; c++) {
      w[c] = xt_range(&rng, 0.0, 2.0);
      pw[c] = xt_range(&rng, 0.0, 3.0);
      alpha[c] = xt_unif(&rng);
    }
    size_t ignored = 0;
    for (size_t r = 0; r < n; r++) {
      t[r] = (int64_t)xt_index(&rng, C);
      lam[r] = xt_unif(&rng);
      if (C > 2 && trial % 7 == 0) {
        x[r * C + (t[r] + 1) % C] = -INFINITY;
        y[r * C + (t[r] + 1) % C] = 0.0;
      }
      if (trial % 6 == 1 && ignored + 1 < n && xt_unif(&rng) < 0.3) {
        t[r] = -100;
        ignored++;
      }
    }
    xent_problem pb = xt_hard(n, C, x, t);
    pb.family = fam;
    pb.reduction = (xent_reduction)(trial / 5 % 3);
    pb.class_weights = trial % 3 ? w : NULL;
    pb.label_smoothing = trial % 2 ? xt_range(&rng, 0.0, 0.5) : 0.0;
    if (binary) {
      pb.pos_weight = trial % 4 ? pw : NULL;
      pb.smoothing = trial % 8 < 3 ? XENT_SMOOTH_BINARY : XENT_SMOOTH_UNIFORM;
      pb.target_threshold = trial % 9 == 0 ? 0.3 : -1.0;
      pb.sum_classes = pb.reduction == XENT_REDUCE_MEAN && trial % 10 == 0;
      pb.focal_alpha = trial % 4 == 3 ? -1.0 : xt_unif(&rng);
    } else {
      pb.focal_alpha_per_class =
          fam == XENT_LOSS_SOFTMAX_FOCAL && trial % 4 == 1 ? alpha : NULL;
      pb.focal_alpha = xt_unif(&rng);
      pb.poly_epsilon = xt_range(&rng, -1.0, 3.0);
    }
    pb.focal_gamma = (double)(trial % 4) * 0.75;
    if (trial % 5 == 2 && trial % 6 != 1 && trial % 7 != 0) {
      pb.targets = NULL;
      pb.soft_targets = y;
      if (pb.smoothing == XENT_SMOOTH_OTHERS) {
        pb.smoothing = XENT_SMOOTH_UNIFORM;
      }
    } else if (trial % 3 == 1 && trial % 6 != 1 && trial % 7 != 0) {
      pb.mixup_lambda = lam;
      pb.lambda_count = n;
    }
    result r;
    eval_all(&pb, &r);
    double *per = xt_doubles(n);
    const double want = definition(&pb, per);
    char what[96];
    snprintf(what, sizeof what, "trial %d (%s)", trial,
             FAMILY_NAMES[trial % 5]);
    ck_assert_msg(xt_close(r.loss, want, 1e-12, 1e-300),
                  "%s: loss %.17g, definition %.17g", what, r.loss, want);
    for (size_t i = 0; i < n; i++) {
      /* |lp| of a near-certain class has an absolute error of 1e-16 in
       * every log_softmax that sums s first */
      ck_assert_msg(xt_close(r.per_sample[i], per[i], 1e-12, 1e-14),
                    "%s: per_sample[%zu] %.17g, definition %.17g", what, i,
                    r.per_sample[i], per[i]);
    }
    free(per);
    result_free(&r);
    free(x);
    free(y);
  }
}
END_TEST

/* ------------------------------------------------------------- gradients */

/* Central differences on double logits, each family and reduction. */
static void grad_check(const xent_problem *base, const char *what) {
  const size_t count = base->n * base->inner * base->classes;
  double *x = xt_doubles(count);
  memcpy(x, base->logits, count * sizeof(double));
  for (int red = 0; red < 3; red++) {
    xent_problem pb = *base;
    pb.logits = x;
    pb.reduction = (xent_reduction)red;
    if (pb.sum_classes && red != 0) {
      continue;
    }
    result r;
    eval_all(&pb, &r);
    size_t checked = 0;
    for (size_t i = 0; i < count; i++) {
      const double x0 = x[i];
      if (!isfinite(x0)) {
        ck_assert_msg(r.grad[i] == 0.0, "%s: grad[%zu] = %.17g at x = %g", what,
                      i, r.grad[i], x0);
        continue;
      }
      x[i] = x0 + H;
      const double up = loss_of(&pb);
      x[i] = x0 - H;
      const double down = loss_of(&pb);
      x[i] = x0;
      const double fd = (up - down) / (2.0 * H);
      if (!xt_close(r.grad[i], fd, FD_RTOL, FD_ATOL)) {
        ck_assert_msg(0,
                      "%s, reduction %d: grad[%zu] = %.17g, central "
                      "difference %.17g",
                      what, red, i, r.grad[i], fd);
      }
      checked++;
    }
    ck_assert_uint_gt(checked, 0);
    result_free(&r);
  }
  free(x);
}

START_TEST(grad_every_family) {
  xt_rng rng = {36};
  enum { N = 5, C = 7 };
  double x[N * C], y[N * C], w[C], pw[C], alpha[C];
  for (size_t i = 0; i < N * C; i++) {
    x[i] = xt_range(&rng, -3.0, 3.0);
    y[i] = xt_unif(&rng);
  }
  for (size_t c = 0; c < C; c++) {
    w[c] = xt_range(&rng, 0.2, 2.0);
    pw[c] = xt_range(&rng, 0.2, 3.0);
    alpha[c] = xt_unif(&rng);
  }
  x[2 * C + 3] = -INFINITY; /* a masked class */
  y[2 * C + 3] = 0.0;
  int64_t t[N] = {0, 6, 1, -100, 4};
  const double lam[N] = {0.3, 0.9, 0.5, 0.1, 0.6};
  const double gammas[4] = {0.0, 0.5, 2.0, 3.7};
  for (size_t f = 0; f < 5; f++) {
    for (int variant = 0; variant < 4; variant++) {
      xent_problem pb = xt_hard(N, C, x, t);
      pb.family = FAMILIES[f];
      pb.class_weights = w;
      pb.focal_gamma = gammas[variant];
      pb.focal_alpha = variant == 1 ? -1.0 : 0.3;
      pb.poly_epsilon = variant == 2 ? -1.0 : 2.0;
      if (is_binary(FAMILIES[f])) {
        pb.pos_weight = variant % 2 ? pw : NULL;
        pb.sum_classes = variant == 3;
      } else if (FAMILIES[f] == XENT_LOSS_SOFTMAX_FOCAL && variant == 3) {
        pb.focal_alpha_per_class = alpha;
      }
      switch (variant) {
      case 0: /* hard labels, ignore_index, smoothing */
        pb.label_smoothing = 0.15;
        break;
      case 1: /* soft targets */
        pb.targets = NULL;
        pb.soft_targets = y;
        pb.label_smoothing = 0.1;
        break;
      case 2: /* mixup, no ignored row */
        t[3] = 2;
        pb.mixup_lambda = lam;
        pb.lambda_count = N;
        pb.pairing = XENT_PAIR_ROLL;
        break;
      default: /* mixup, one lambda, the binary convention */
        t[3] = 2;
        pb.mixup_lambda = lam;
        pb.lambda_count = 1;
        if (is_binary(FAMILIES[f])) {
          pb.smoothing = XENT_SMOOTH_BINARY;
          pb.label_smoothing = 0.2;
        }
        break;
      }
      char what[96];
      snprintf(what, sizeof what, "%s, variant %d", FAMILY_NAMES[f], variant);
      grad_check(&pb, what);
      t[3] = -100;
    }
  }
}
END_TEST

/* K-dimensional inputs, both class axes: N 2, C 4, inner 3; hard labels
 * with an ignored position and smoothing, soft targets, mixup of whole
 * samples. */
START_TEST(grad_kdim) {
  xt_rng rng = {39};
  enum { N = 2, C = 4, I = 3 };
  double x[N * C * I], y[N * C * I], w[C];
  for (size_t i = 0; i < N * C * I; i++) {
    x[i] = xt_range(&rng, -3.0, 3.0);
    y[i] = xt_unif(&rng);
  }
  for (size_t c = 0; c < C; c++) {
    w[c] = xt_range(&rng, 0.2, 2.0);
  }
  int64_t t[N * I] = {0, 3, 1, 2, -100, 3};
  const double lam[N] = {0.3, 0.8};
  for (size_t f = 0; f < 5; f++) {
    for (int axis = 0; axis < 2; axis++) {
      for (int variant = 0; variant < 3; variant++) {
        xent_problem pb = xt_hard(N, C, x, t);
        pb.inner = I;
        pb.class_axis = (xent_class_axis)axis;
        pb.family = FAMILIES[f];
        pb.class_weights = w;
        pb.focal_gamma = 1.5;
        if (variant == 0) {
          pb.label_smoothing = 0.1;
        } else if (variant == 1) {
          pb.targets = NULL;
          pb.soft_targets = y;
        } else {
          t[4] = 1;
          pb.mixup_lambda = lam;
          pb.lambda_count = N;
        }
        char what[96];
        snprintf(what, sizeof what, "%s, K-dim axis %s, variant %d",
                 FAMILY_NAMES[f], axis ? "last" : "1", variant);
        grad_check(&pb, what);
        t[4] = -100;
      }
    }
  }
}
END_TEST

/* ------------------------------------------------------ outputs, kernels */

/* per_sample sums the element losses, probs is the sigmoid, the loss of
 * NONE is the sum; stats is refused for the binary families; the softmax
 * families never read `elementwise` (code that predates it may leave it
 * unset). */
START_TEST(outputs_relations) {
  xt_rng rng = {37};
  enum { N = 3, C = 11 };
  double x[N * C], y[N * C];
  for (size_t i = 0; i < N * C; i++) {
    x[i] = xt_range(&rng, -5.0, 5.0);
    y[i] = xt_unif(&rng);
  }
  for (int f = 1; f <= 2; f++) {
    xent_problem pb = soft_problem(N, C, x, y, FAMILIES[f]);
    pb.reduction = XENT_REDUCE_NONE;
    result r;
    eval_all(&pb, &r);
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
      double s = 0.0;
      for (size_t c = 0; c < C; c++) {
        s += r.elem[i * C + c];
        XT_CLOSE(r.probs[i * C + c], sigmoid(x[i * C + c]), 1e-15, 0.0);
      }
      XT_CLOSE(r.per_sample[i], s, 1e-15, 0.0);
      total += r.per_sample[i];
    }
    XT_CLOSE(r.loss, total, 1e-15, 0.0);
    result_free(&r);
    xent_stats st;
    memset(&st, 0, sizeof st);
    const xent_outputs out = {NULL, NULL, NULL, NULL, NULL, &st, NULL};
    xent_error err;
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_ERR_WORKSPACE);
    double ws[4 * C];
    XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, &err),
              XENT_ERR_NOT_APPLICABLE);
    ck_assert(err.arg == XENT_ARG_OUTPUTS);
  }
  const int64_t t[N] = {0, 1, 2};
  xent_problem pb = xt_hard(N, C, x, t);
  double sentinel[N * C];
  for (size_t i = 0; i < N * C; i++) {
    sentinel[i] = -7.0;
  }
  double loss;
  const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, sentinel};
  for (int f = 0; f < 5; f += f == 0 ? 3 : 1) {
    pb.family = FAMILIES[f];
    double ws[2 * C];
    XT_STATUS(xent_evaluate(&pb, &out, ws, sizeof ws, NULL), XENT_OK);
    for (size_t i = 0; i < N * C; i++) {
      ck_assert(sentinel[i] == -7.0);
    }
  }
}
END_TEST

/* Every kernel gives the scalar kernel's results for every family, with
 * class counts around the vector widths. */
START_TEST(kernels_agree) {
  static const xent_kernel kernels[3] = {XENT_KERNEL_AVX2, XENT_KERNEL_AVX512,
                                         XENT_KERNEL_AUTO};
  xt_rng rng = {38};
  const size_t counts[6] = {1, 3, 8, 13, 33, 250};
  for (size_t ci = 0; ci < 6; ci++) {
    const size_t n = 3, C = counts[ci];
    double *x = xt_doubles(n * C), *y = xt_doubles(n * C);
    for (size_t i = 0; i < n * C; i++) {
      x[i] = xt_range(&rng, -30.0, 30.0);
      y[i] = xt_unif(&rng);
    }
    for (size_t f = 0; f < 5; f++) {
      xent_problem pb = soft_problem(n, C, x, y, FAMILIES[f]);
      pb.kernel = XENT_KERNEL_SCALAR;
      pb.focal_gamma = 1.5;
      result a;
      eval_all(&pb, &a);
      for (size_t k = 0; k < 3; k++) {
        if (xt_skip_kernel(kernels[k])) {
          continue;
        }
        pb.kernel = kernels[k];
        result b;
        eval_all(&pb, &b);
        char what[64];
        snprintf(what, sizeof what, "%s C=%zu %s", FAMILY_NAMES[f], C,
                 xent_kernel_name(kernels[k]));
        ck_assert_msg(xt_close(b.loss, a.loss, 1e-14, 0.0), "%s: loss", what);
        for (size_t i = 0; i < n * C; i++) {
          ck_assert_msg(xt_close(b.grad[i], a.grad[i], 1e-13, 1e-17) &&
                            xt_close(b.probs[i], a.probs[i], 1e-14, 1e-300),
                        "%s: element %zu grad %.17g vs %.17g", what, i,
                        b.grad[i], a.grad[i]);
        }
        result_free(&b);
      }
      result_free(&a);
    }
    free(x);
    free(y);
  }
}
END_TEST

/* Extreme logits: every output finite, saturated elements exact (BCE's
 * element for x = 1e4, t = 0 is 1e4; for t = 1 it is 0), the gradient
 * of a saturated focal element 0 even with gamma < 1, where torchvision's
 * autograd gives NaN. */
START_TEST(extreme_logits) {
  const double x[4] = {1e4, -1e4, 800.0, -800.0};
  const double y[4] = {0.0, 1.0, 1.0, 0.0};
  for (int f = 1; f <= 2; f++) {
    xent_problem pb = soft_problem(1, 4, x, y, FAMILIES[f]);
    pb.reduction = XENT_REDUCE_SUM;
    pb.focal_gamma = 0.5;
    result r;
    eval_all(&pb, &r);
    for (size_t c = 0; c < 4; c++) {
      ck_assert_msg(isfinite(r.grad[c]) && isfinite(r.elem[c]),
                    "family %d: element %zu %g grad %g", f, c, r.elem[c],
                    r.grad[c]);
    }
    if (f == 1) {
      ck_assert(r.elem[0] == 1e4 && r.elem[1] == 1e4);
      ck_assert(r.elem[2] == 0.0 && r.elem[3] == 0.0);
      ck_assert(r.grad[0] == 1.0 && r.grad[1] == -1.0);
      ck_assert(r.grad[2] == 0.0 && r.grad[3] == 0.0);
    } else {
      ck_assert(r.elem[2] == 0.0 && r.elem[3] == 0.0);
      ck_assert(r.grad[2] == 0.0 && r.grad[3] == 0.0);
    }
    result_free(&r);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("family");
  XT_ADD(s, bce_hand_values);
  XT_ADD(s, bce_weights_pos_weight_hand);
  XT_ADD(s, sigmoid_focal_hand_values);
  XT_ADD(s, softmax_focal_and_poly_hand_values);
  XT_ADD(s, softmax_focal_confident_row);
  XT_ADD(s, softmax_focal_gamma0_alpha1_is_ce);
  XT_ADD(s, sigmoid_focal_gamma0_is_bce);
  XT_ADD(s, bce_timm_smoothing);
  XT_ADD(s, bce_keras_smoothing);
  XT_ADD(s, timm_threshold_after_mixup);
  XT_ADD(s, binary_denominators);
  XT_ADD(s, poly1_soft_unnormalised);
  XT_ADD(s, random_against_definition);
  XT_ADD(s, grad_every_family);
  XT_ADD(s, grad_kdim);
  XT_ADD(s, outputs_relations);
  XT_ADD(s, kernels_agree);
  XT_ADD(s, extreme_logits);
  return xt_run(s);
}
