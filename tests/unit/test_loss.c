/*
 * test_loss.c - per-row losses, reductions, class weights, ignore_index,
 * masked classes, extreme logits, and the closed form against the explicit
 * definition (semantics 2 and 3). Expected values are hand values, formulas
 * written out here, or the independent reference of testutil.h.
 */
#include <pthread.h>

#include "testutil.h"

/* Everything xent_evaluate can write, allocated for a problem. */
typedef struct result {
  double loss;
  double *per_sample;
  double *grad;
  double *q;
  double *probs;
} result;

static void eval_all(const xent_problem *pb, result *r) {
  r->per_sample = xt_doubles(pb->n);
  r->grad = xt_doubles(pb->n * pb->classes);
  r->q = xt_doubles(pb->n * pb->classes);
  r->probs = xt_doubles(pb->n * pb->classes);
  const xent_outputs out = {&r->loss, r->per_sample, r->grad, r->q,
                            r->probs, NULL,          NULL};
  const size_t ws_size = xent_workspace_size(pb);
  double *ws = ws_size ? xt_doubles(ws_size / sizeof(double) + 1) : NULL;
  xent_error err;
  const xent_status st = xent_evaluate(pb, &out, ws, ws_size, &err);
  ck_assert_msg(st == XENT_OK, "xent_evaluate: %s (arg %d row %lld col %lld)",
                xent_status_name(st), (int)err.arg, (long long)err.row,
                (long long)err.col);
  free(ws);
}

static void result_free(result *r) {
  free(r->per_sample);
  free(r->grad);
  free(r->q);
  free(r->probs);
}

/* log(sum_c exp(x_c)) over the finite entries, shifted by the max. */
static double logsumexp(const double *x, size_t count) {
  double m = -INFINITY;
  for (size_t c = 0; c < count; c++) {
    m = x[c] > m ? x[c] : m;
  }
  double s = 0.0;
  for (size_t c = 0; c < count; c++) {
    s += exp(x[c] - m);
  }
  return m + log(s);
}

/* logits [1, 2, 3], target 2: log(e + e^2 + e^3) - 3 = 0.407605964444380... */
START_TEST(hand_value_plain_ce) {
  const double x[3] = {1.0, 2.0, 3.0};
  const int64_t t[1] = {2};
  xent_problem pb = xt_hard(1, 3, x, t);
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0, 1e-15, 0.0);
  XT_CLOSE(r.loss, 0.40760596444438, 1e-13, 0.0);
  XT_CLOSE(r.per_sample[0], 0.40760596444438, 1e-13, 0.0);
  /* grad = p - onehot, p = e^c / (e + e^2 + e^3) */
  const double s = exp(1.0) + exp(2.0) + exp(3.0);
  const double want[3] = {exp(1.0) / s, exp(2.0) / s, exp(3.0) / s - 1.0};
  XT_ARRAY_CLOSE(r.grad, want, 3, 1e-14, 1e-16);
  XT_CLOSE(r.probs[0], 0.090030573170380462, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* eps = 0: the mean of logsumexp(x_n) - x_{n,t_n}, in both conventions. */
START_TEST(eps_zero_is_plain_ce) {
  xt_rng rng = {7};
  double x[6 * 8];
  int64_t t[6];
  for (size_t i = 0; i < 48; i++) {
    x[i] = xt_range(&rng, -5.0, 5.0);
  }
  double want = 0.0;
  for (size_t n = 0; n < 6; n++) {
    t[n] = (int64_t)xt_index(&rng, 8);
    want += logsumexp(x + n * 8, 8) - x[n * 8 + (size_t)t[n]];
  }
  want /= 6.0;
  for (int conv = 0; conv < 2; conv++) {
    xent_problem pb = xt_hard(6, 8, x, t);
    pb.smoothing = (xent_smoothing)conv;
    result r;
    eval_all(&pb, &r);
    XT_CLOSE(r.loss, want, 1e-13, 0.0);
    result_free(&r);
  }
}
END_TEST

/* The article: timm's LabelSmoothingCrossEntropy,
 * (1 - eps) * nll + eps * mean_c(-lp_c), equals the uniform convention. */
START_TEST(article_identity_uniform) {
  const double x[2 * 10] = {0.3, -1.2, 2.5, 0.0, 1.1, -0.7, 0.9,
                            3.3, -2.0, 0.4, 1.0, 1.0, 1.0,  2.0,
                            0.5, -3.0, 0.0, 0.1, 0.2, 7.0};
  const int64_t t[2] = {7, 3};
  const double eps = 0.1;
  double want = 0.0;
  for (size_t n = 0; n < 2; n++) {
    const double lse = logsumexp(x + n * 10, 10);
    double mean_neg_lp = 0.0;
    for (size_t c = 0; c < 10; c++) {
      mean_neg_lp += (lse - x[n * 10 + c]) / 10.0;
    }
    const double nll = lse - x[n * 10 + (size_t)t[n]];
    want += ((1.0 - eps) * nll + eps * mean_neg_lp) / 2.0;
  }
  xent_problem pb = xt_hard(2, 10, x, t);
  pb.label_smoothing = eps;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, want, 1e-13, 0.0);
  result_free(&r);
}
END_TEST

/* fairseq: (1 - eps) * nll + eps / (K - 1) * sum_{c != t} -lp_c. */
START_TEST(others_convention_loss) {
  const double x[5] = {0.5, 1.5, -0.5, 2.0, 0.0};
  const int64_t t[1] = {1};
  const double eps = 0.25;
  const double lse = logsumexp(x, 5);
  double others = 0.0;
  for (size_t c = 0; c < 5; c++) {
    others += c == 1 ? 0.0 : lse - x[c];
  }
  const double want = (1.0 - eps) * (lse - x[1]) + eps / 4.0 * others;
  xent_problem pb = xt_hard(1, 5, x, t);
  pb.label_smoothing = eps;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, want, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* mean = sum / N, sum = sum of l_n, none: loss is the sum; per_sample and q
 * do not depend on the reduction; grad of mean = grad of sum / N. */
START_TEST(reductions) {
  const double x[3 * 4] = {0.1, 0.2, 0.3, 0.4, -1.0, 2.0,
                           0.5, 0.5, 3.0, 1.0, 2.0,  0.0};
  const int64_t t[3] = {3, 0, 2};
  xent_problem pb = xt_hard(3, 4, x, t);
  pb.label_smoothing = 0.05;
  result r[3];
  for (int red = 0; red < 3; red++) {
    pb.reduction = (xent_reduction)red;
    eval_all(&pb, &r[red]);
  }
  const double sum =
      r[1].per_sample[0] + r[1].per_sample[1] + r[1].per_sample[2];
  XT_CLOSE(r[1].loss, sum, 1e-15, 0.0);
  XT_CLOSE(r[0].loss, sum / 3.0, 1e-15, 0.0);
  XT_CLOSE(r[2].loss, sum, 1e-15, 0.0);
  for (int red = 0; red < 3; red += 2) {
    XT_ARRAY_CLOSE(r[red].per_sample, r[1].per_sample, 3, 0.0, 0.0);
    XT_ARRAY_CLOSE(r[red].q, r[1].q, 12, 0.0, 0.0);
    XT_ARRAY_CLOSE(r[red].probs, r[1].probs, 12, 0.0, 0.0);
  }
  XT_ARRAY_CLOSE(r[2].grad, r[1].grad, 12, 1e-15, 0.0);
  for (size_t i = 0; i < 12; i++) {
    XT_CLOSE(r[0].grad[i], r[1].grad[i] / 3.0, 1e-15, 1e-300);
  }
  /* per-row losses by hand */
  for (size_t n = 0; n < 3; n++) {
    const double lse = logsumexp(x + n * 4, 4);
    double want = 0.0;
    for (size_t c = 0; c < 4; c++) {
      const double q = ((int64_t)c == t[n] ? 0.95 : 0.0) + 0.05 / 4.0;
      want -= q * (x[n * 4 + c] - lse);
    }
    XT_CLOSE(r[1].per_sample[n], want, 1e-14, 0.0);
  }
  for (int red = 0; red < 3; red++) {
    result_free(&r[red]);
  }
}
END_TEST

/* PyTorch's weighted mean: l_n = -w_t lp_t, D = sum of w_t. */
START_TEST(class_weights_mean) {
  const double x[3 * 3] = {1.0, 2.0, 3.0, 0.0, 0.0, 0.0, -1.0, 4.0, 2.0};
  const int64_t t[3] = {0, 2, 2};
  const double w[3] = {0.5, 1.0, 3.0};
  double num = 0.0;
  double den = 0.0;
  for (size_t n = 0; n < 3; n++) {
    const size_t tn = (size_t)t[n];
    num += w[tn] * (logsumexp(x + n * 3, 3) - x[n * 3 + tn]);
    den += w[tn];
  }
  xent_problem pb = xt_hard(3, 3, x, t);
  pb.class_weights = w;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(den, 6.5, 0.0, 0.0);
  XT_CLOSE(r.loss, num / den, 1e-14, 0.0);
  result_free(&r);
  pb.reduction = XENT_REDUCE_SUM;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, num, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/*
 * pytorch#104776: class weights with label smoothing AND ignore_index. The
 * expected mean, by the formula of semantics 2/3 written two ways:
 *   l_n = - sum_c w_c q_nc lp_nc, q = (1 - eps) onehot + eps / C
 *   D   = sum of w_{t_n} over the rows that are not ignored
 * and PyTorch's decomposition (1 - eps) * nll + eps / C * smooth, both with
 * the denominator D.
 */
START_TEST(weights_smoothing_ignore_index) {
  const double x[5 * 3] = {1.0, 0.5,  -0.5, NAN, NAN, NAN,  0.2, 0.3,
                           2.1, -1.0, 0.0,  1.0, 0.7, -0.2, 0.4};
  const int64_t t[5] = {0, -100, 2, 1, 1};
  const double w[3] = {0.5, 2.0, 1.5};
  const double eps = 0.2;
  double num = 0.0;
  double nll = 0.0;
  double smooth = 0.0;
  double den = 0.0;
  for (size_t n = 0; n < 5; n++) {
    if (t[n] == -100) {
      continue;
    }
    const size_t tn = (size_t)t[n];
    const double lse = logsumexp(x + n * 3, 3);
    for (size_t c = 0; c < 3; c++) {
      const double q = (c == tn ? 1.0 - eps : 0.0) + eps / 3.0;
      num -= w[c] * q * (x[n * 3 + c] - lse);
      smooth -= w[c] * (x[n * 3 + c] - lse);
    }
    nll -= w[tn] * (x[n * 3 + tn] - lse);
    den += w[tn];
  }
  XT_CLOSE(den, 0.5 + 1.5 + 2.0 + 2.0, 0.0, 0.0);
  const double want = num / den;
  XT_CLOSE(want, ((1.0 - eps) * nll + eps / 3.0 * smooth) / den, 1e-14, 0.0);
  xent_problem pb = xt_hard(5, 3, x, t);
  pb.class_weights = w;
  pb.label_smoothing = eps;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, want, 1e-14, 0.0);
  ck_assert(r.per_sample[1] == 0.0);
  for (size_t c = 0; c < 3; c++) {
    ck_assert(r.grad[3 + c] == 0.0);
    ck_assert(r.q[3 + c] == 0.0);
    ck_assert(r.probs[3 + c] == 0.0); /* NaN logits: no probabilities */
  }
  /* the gradient, row by row (semantics 3): (p_c S_n - w_c q_nc) / D with
   * S_n = sum_c w_c q_nc; the ignored row (NaN logits) is 0 */
  double grad[15] = {0};
  for (size_t n = 0; n < 5; n++) {
    if (t[n] == -100) {
      continue;
    }
    const size_t tn = (size_t)t[n];
    const double lse = logsumexp(x + n * 3, 3);
    double s = 0.0;
    for (size_t c = 0; c < 3; c++) {
      s += w[c] * ((c == tn ? 1.0 - eps : 0.0) + eps / 3.0);
    }
    for (size_t c = 0; c < 3; c++) {
      const double q = (c == tn ? 1.0 - eps : 0.0) + eps / 3.0;
      grad[n * 3 + c] = (exp(x[n * 3 + c] - lse) * s - w[c] * q) / den;
    }
  }
  XT_ARRAY_CLOSE(r.grad, grad, 15, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* Ignored rows: loss 0, not in D; valid logits still get probabilities. */
START_TEST(ignore_index_rows) {
  const double x[3 * 2] = {0.0, 1.0, 5.0, -5.0, 2.0, 2.0};
  const int64_t t[3] = {1, 7, 0};
  xent_problem pb = xt_hard(3, 2, x, t);
  pb.ignore_index = 7;
  result r;
  eval_all(&pb, &r);
  const double l0 = log(1.0 + exp(-1.0));
  const double l2 = log(2.0);
  XT_CLOSE(r.per_sample[0], l0, 1e-15, 0.0);
  ck_assert(r.per_sample[1] == 0.0);
  XT_CLOSE(r.per_sample[2], l2, 1e-15, 0.0);
  XT_CLOSE(r.loss, (l0 + l2) / 2.0, 1e-15, 0.0);
  XT_CLOSE(r.probs[2], 1.0 / (1.0 + exp(-10.0)), 1e-15, 0.0);
  XT_CLOSE(r.probs[3], exp(-10.0) / (1.0 + exp(-10.0)), 1e-14, 0.0);
  ck_assert(r.grad[2] == 0.0 && r.grad[3] == 0.0);
  /* grad of the mean over 2 rows: (p - onehot) / 2 */
  XT_CLOSE(r.grad[4], 0.5 * (0.5 - 1.0), 1e-15, 0.0);
  XT_CLOSE(r.grad[5], 0.5 * 0.5, 1e-15, 0.0);
  result_free(&r);
}
END_TEST

/* Mixup with weights: D = sum (lam w_t + (1 - lam) w_partner). */
START_TEST(mixup_weights_denominator) {
  const double x[3 * 3] = {0.5, 1.0, -1.0, 2.0, 0.0, 1.0, -0.5, 0.5, 0.0};
  const int64_t t[3] = {0, 1, 2};
  const double w[3] = {1.0, 2.0, 4.0};
  const double lam = 0.7;
  double num = 0.0;
  double den = 0.0;
  for (size_t n = 0; n < 3; n++) {
    const size_t a = (size_t)t[n];
    const size_t b = (size_t)t[2 - n]; /* flip */
    const double lse = logsumexp(x + n * 3, 3);
    num += lam * w[a] * (lse - x[n * 3 + a]) +
           (1.0 - lam) * w[b] * (lse - x[n * 3 + b]);
    den += lam * w[a] + (1.0 - lam) * w[b];
  }
  XT_CLOSE(den, 0.7 * 1 + 0.3 * 4 + 2.0 + 0.7 * 4 + 0.3 * 1, 1e-15, 0.0);
  xent_problem pb = xt_hard(3, 3, x, t);
  pb.class_weights = w;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, num / den, 1e-14, 0.0);
  result_free(&r);
}
END_TEST

/* Without weights and ignores, the mixup mean divides by N (timm's
 * SoftTargetCrossEntropy), and by linearity each row is
 * lam CE(x, s(t)) + (1 - lam) CE(x, s(t_partner)). */
START_TEST(mixup_linearity) {
  const double x[4 * 5] = {0.1, 0.9, -0.3, 1.2, 0.0, 2.0, -1.0, 0.5, 0.5, 0.3,
                           0.0, 0.0, 0.0,  0.0, 1.0, 3.0, 2.0,  1.0, 0.0, -1.0};
  const int64_t t[4] = {1, 3, 4, 0};
  const int64_t rolled[4] = {0, 1, 3, 4}; /* t[(n - 1) mod 4] */
  const double lam[4] = {0.2, 0.5, 0.9, 1.0};
  for (int conv = 0; conv < 2; conv++) {
    xent_problem base = xt_hard(4, 5, x, t);
    base.label_smoothing = 0.15;
    base.smoothing = (xent_smoothing)conv;
    result a, b, m;
    eval_all(&base, &a);
    xent_problem part = base;
    part.targets = rolled;
    eval_all(&part, &b);
    xent_problem mix = base;
    mix.mixup_lambda = lam;
    mix.lambda_count = 4;
    mix.pairing = XENT_PAIR_ROLL;
    eval_all(&mix, &m);
    double sum = 0.0;
    for (size_t n = 0; n < 4; n++) {
      const double want =
          lam[n] * a.per_sample[n] + (1.0 - lam[n]) * b.per_sample[n];
      XT_CLOSE(m.per_sample[n], want, 1e-14, 0.0);
      sum += want;
    }
    XT_CLOSE(m.loss, sum / 4.0, 1e-14, 0.0);
    result_free(&a);
    result_free(&b);
    result_free(&m);
  }
}
END_TEST

/* lambda 1 is plain; lambda 0 is the partner's labels, for flip and roll. */
START_TEST(mixup_lambda_zero_one_loss) {
  const double x[3 * 4] = {0.5, -0.5, 1.5, 0.0, 1.0, 1.0,
                           2.0, -2.0, 0.3, 0.1, 0.2, 0.9};
  const int64_t t[3] = {2, 0, 3};
  const int64_t flipped[3] = {3, 0, 2};
  const int64_t rolled[3] = {3, 2, 0};
  const double one = 1.0;
  const double zero = 0.0;
  xent_problem base = xt_hard(3, 4, x, t);
  base.label_smoothing = 0.1;
  result plain, r;
  eval_all(&base, &plain);
  xent_problem mix = base;
  mix.mixup_lambda = &one;
  mix.lambda_count = 1;
  for (int pairing = 0; pairing < 2; pairing++) {
    mix.pairing = (xent_pairing)pairing;
    eval_all(&mix, &r);
    XT_CLOSE(r.loss, plain.loss, 1e-15, 0.0);
    XT_ARRAY_CLOSE(r.grad, plain.grad, 12, 1e-14, 1e-17);
    result_free(&r);
  }
  mix.mixup_lambda = &zero;
  for (int pairing = 0; pairing < 2; pairing++) {
    mix.pairing = (xent_pairing)pairing;
    xent_problem other = base;
    other.targets = pairing == 0 ? flipped : rolled;
    result o;
    eval_all(&other, &o);
    eval_all(&mix, &r);
    XT_CLOSE(r.loss, o.loss, 1e-15, 0.0);
    XT_ARRAY_CLOSE(r.per_sample, o.per_sample, 3, 1e-15, 0.0);
    XT_ARRAY_CLOSE(r.grad, o.grad, 12, 1e-14, 1e-17);
    result_free(&r);
    result_free(&o);
  }
  result_free(&plain);
}
END_TEST

/* Soft targets: the mean divides by N even with weights; rows need not sum
 * to 1, and the gradient keeps the factor sum_c w_c q_c. */
START_TEST(soft_targets_loss) {
  const double x[2 * 3] = {1.0, 0.0, -1.0, 0.5, 0.5, 2.0};
  const double y[2 * 3] = {0.5, 0.5, 0.0, 0.0, 2.0, 1.0};
  const double w[3] = {2.0, 1.0, 0.5};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 2;
  pb.classes = 3;
  pb.logits = x;
  pb.soft_targets = y;
  pb.class_weights = w;
  double want = 0.0;
  double grad[6];
  for (size_t n = 0; n < 2; n++) {
    const double lse = logsumexp(x + n * 3, 3);
    double wq = 0.0;
    for (size_t c = 0; c < 3; c++) {
      want -= w[c] * y[n * 3 + c] * (x[n * 3 + c] - lse) / 2.0;
      wq += w[c] * y[n * 3 + c];
    }
    for (size_t c = 0; c < 3; c++) {
      grad[n * 3 + c] =
          (exp(x[n * 3 + c] - lse) * wq - w[c] * y[n * 3 + c]) / 2.0;
    }
  }
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, want, 1e-14, 0.0);
  XT_ARRAY_CLOSE(r.grad, grad, 6, 1e-14, 1e-15);
  result_free(&r);
}
END_TEST

/* Logits of +-1e4: exact, finite results. Row [1e4, -1e4, 0]: lp = [0,
 * -2e4, -1e4] exactly in double (exp(-1e4) underflows to 0). */
START_TEST(extreme_logits) {
  const double x[3 * 3] = {1e4, -1e4, 0.0, 1e4, -1e4, 0.0, 1e4, -1e4, 0.0};
  const int64_t t[3] = {0, 1, 2};
  xent_problem pb = xt_hard(3, 3, x, t);
  pb.reduction = XENT_REDUCE_SUM;
  result r;
  eval_all(&pb, &r);
  ck_assert(r.per_sample[0] == 0.0);
  ck_assert(r.per_sample[1] == 2e4);
  ck_assert(r.per_sample[2] == 1e4);
  ck_assert(r.loss == 3e4);
  const double grad[9] = {0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 1.0, 0.0, -1.0};
  XT_ARRAY_CLOSE(r.grad, grad, 9, 0.0, 0.0);
  result_free(&r);
  /* with smoothing eps = 0.3, C = 3: l = -(0.8 lp_t + 0.1 (sum of others)) */
  pb.label_smoothing = 0.3;
  eval_all(&pb, &r);
  XT_CLOSE(r.per_sample[0], 0.1 * 2e4 + 0.1 * 1e4, 1e-15, 0.0);
  XT_CLOSE(r.per_sample[1], 0.8 * 2e4 + 0.1 * 1e4, 1e-15, 0.0);
  XT_CLOSE(r.per_sample[2], 0.8 * 1e4 + 0.1 * 2e4, 1e-15, 0.0);
  /* p = (1, 0, 0) in every row (exp(-1e4) and exp(-2e4) are 0), q the
   * smoothed one-hot (0.8 on the label, 0.1 off): grad = p - q for SUM */
  const double sgrad[9] = {1.0 - 0.8, -0.1,      -0.1, 1.0 - 0.1, -0.8,
                           -0.1,      1.0 - 0.1, -0.1, -0.8};
  XT_ARRAY_CLOSE(r.grad, sgrad, 9, 1e-15, 0.0);
  result_free(&r);
  /* very large equal logits: the shift by the max keeps them exact */
  const double big[2] = {1e300, 1e300};
  const int64_t t0[1] = {0};
  xent_problem pb2 = xt_hard(1, 2, big, t0);
  eval_all(&pb2, &r);
  XT_CLOSE(r.loss, log(2.0), 1e-15, 0.0);
  result_free(&r);
}
END_TEST

/* C = 1: log_softmax is 0, so loss and gradient are 0, probability 1. */
START_TEST(one_class_loss) {
  const double x[3] = {5.0, -7.0, 1e4};
  const int64_t t[3] = {0, 0, 0};
  xent_problem pb = xt_hard(3, 1, x, t);
  pb.label_smoothing = 0.4;
  result r;
  eval_all(&pb, &r);
  ck_assert(r.loss == 0.0);
  for (size_t n = 0; n < 3; n++) {
    ck_assert(r.per_sample[n] == 0.0);
    ck_assert(r.grad[n] == 0.0);
    ck_assert(r.probs[n] == 1.0);
    ck_assert(r.q[n] == 1.0);
  }
  result_free(&r);
}
END_TEST

/* Masked classes: logits [1, -inf, 3], target 2 -> log(1 + e^-2); the
 * masked class has probability 0 and gradient 0. */
START_TEST(masked_class_loss) {
  const double x[3] = {1.0, -INFINITY, 3.0};
  const int64_t t[1] = {2};
  xent_problem pb = xt_hard(1, 3, x, t);
  result r;
  eval_all(&pb, &r);
  XT_CLOSE(r.loss, log(1.0 + exp(-2.0)), 1e-15, 0.0);
  XT_CLOSE(r.loss, 0.1269280110429726, 1e-14, 0.0);
  ck_assert(r.probs[1] == 0.0);
  ck_assert(r.grad[1] == 0.0);
  XT_CLOSE(r.grad[0], 1.0 / (1.0 + exp(2.0)), 1e-15, 0.0);
  result_free(&r);
  /* with smoothing 0.2: K = 2, q = [0.1, 0, 0.9] */
  pb.label_smoothing = 0.2;
  eval_all(&pb, &r);
  const double lse = log(exp(1.0) + exp(3.0));
  XT_CLOSE(r.loss, -(0.1 * (1.0 - lse) + 0.9 * (3.0 - lse)), 1e-15, 0.0);
  ck_assert(r.grad[1] == 0.0 && r.q[1] == 0.0);
  result_free(&r);
}
END_TEST

/* Every combination on random data against the plain reference. */
START_TEST(random_against_reference) {
  xt_rng rng = {2024};
  for (int trial = 0; trial < 200; trial++) {
    const size_t n = 1 + xt_index(&rng, 7);
    const size_t classes = 1 + xt_index(&rng, 10);
    double *x = xt_doubles(n * classes);
    double *y = xt_doubles(n * classes);
    double w[10];
    double lam[7];
    int64_t t[7];
    int64_t partners[7];
    for (size_t i = 0; i < n * classes; i++) {
      x[i] = xt_range(&rng, -4.0, 4.0);
      y[i] = xt_unif(&rng) < 0.3 ? 0.0 : xt_unif(&rng);
    }
    for (size_t c = 0; c < classes; c++) {
      w[c] = xt_range(&rng, 0.1, 3.0);
    }
    const int soft = trial % 5 == 4;
    const int mixup = !soft && trial % 3 == 0;
    size_t ignored = 0;
    for (size_t r = 0; r < n; r++) {
      t[r] = (int64_t)xt_index(&rng, classes);
      lam[r] = xt_unif(&rng);
      partners[r] = (int64_t)xt_index(&rng, n);
      if (!mixup && !soft && xt_unif(&rng) < 0.2 && ignored + 1 < n) {
        t[r] = -100;
        ignored++;
      }
      const size_t c = xt_index(&rng, classes);
      if (!mixup && classes > 2 && (t[r] < 0 || (size_t)t[r] != c) &&
          xt_unif(&rng) < 0.3) {
        x[r * classes + c] = -INFINITY;
        y[r * classes + c] = 0.0;
      }
    }
    xent_problem pb = xt_hard(n, classes, x, soft ? NULL : t);
    pb.soft_targets = soft ? y : NULL;
    pb.class_weights = trial % 2 ? w : NULL;
    pb.label_smoothing = trial % 4 == 0 ? 0.0 : xt_unif(&rng);
    pb.smoothing = !soft && classes > 2 && trial % 7 < 3 ? XENT_SMOOTH_OTHERS
                                                         : XENT_SMOOTH_UNIFORM;
    pb.reduction = (xent_reduction)(trial % 3);
    if (mixup) {
      pb.mixup_lambda = lam;
      pb.lambda_count = trial % 2 ? n : 1;
      pb.pairing = (xent_pairing)(trial % 3 == 0 ? (trial / 3) % 3 : 0);
      pb.partners = partners;
    }
    result r;
    eval_all(&pb, &r);
    double *grad = xt_doubles(n * classes);
    double *q = xt_doubles(n * classes);
    double *p = xt_doubles(n * classes);
    double *ps = xt_doubles(n);
    xt_ref ref = {0.0, 0.0, ps, grad, q, p};
    xt_ref_eval(&pb, &ref);
    XT_CLOSE(r.loss, ref.loss, 1e-12, 1e-12);
    XT_ARRAY_CLOSE(r.per_sample, ps, n, 1e-12, 1e-12);
    XT_ARRAY_CLOSE(r.grad, grad, n * classes, 1e-12, 1e-13);
    XT_ARRAY_CLOSE(r.q, q, n * classes, 1e-13, 1e-15);
    XT_ARRAY_CLOSE(r.probs, p, n * classes, 1e-13, 1e-15);
    result_free(&r);
    free(grad);
    free(q);
    free(p);
    free(ps);
    free(x);
    free(y);
  }
}
END_TEST

/* The closed form (xent_evaluate) equals the definition
 * (xent_evaluate_explicit) to 1e-12 for hard labels with smoothing, mixup,
 * weights and ignore_index, in every reduction. */
START_TEST(closed_form_equals_explicit) {
  xt_rng rng = {99};
  for (int trial = 0; trial < 300; trial++) {
    const size_t n = 1 + xt_index(&rng, 12);
    const size_t classes = 1 + xt_index(&rng, 40);
    double *x = xt_doubles(n * classes);
    double *w = xt_doubles(classes);
    double lam[12];
    int64_t t[12];
    int64_t partners[12];
    for (size_t i = 0; i < n * classes; i++) {
      x[i] = xt_range(&rng, -8.0, 8.0);
    }
    for (size_t c = 0; c < classes; c++) {
      w[c] = xt_range(&rng, 0.0, 2.0);
    }
    const int mixup = trial % 2;
    size_t ignored = 0;
    for (size_t r = 0; r < n; r++) {
      t[r] = (int64_t)xt_index(&rng, classes);
      lam[r] = xt_unif(&rng);
      partners[r] = (int64_t)xt_index(&rng, n);
      if (!mixup && xt_unif(&rng) < 0.25 && ignored + 1 < n) {
        t[r] = -100;
        ignored++;
      }
    }
    xent_problem pb = xt_hard(n, classes, x, t);
    pb.class_weights = trial % 3 ? w : NULL;
    pb.label_smoothing = trial % 4 ? xt_unif(&rng) : 0.0;
    pb.smoothing = classes >= 2 && trial % 5 < 2 ? XENT_SMOOTH_OTHERS
                                                 : XENT_SMOOTH_UNIFORM;
    pb.reduction = (xent_reduction)(trial % 3);
    if (mixup) {
      pb.mixup_lambda = lam;
      pb.lambda_count = trial % 4 == 1 ? 1 : n;
      pb.pairing = (xent_pairing)((trial / 2) % 3);
      pb.partners = partners;
    }
    double loss_a = 0.0;
    double loss_b = 0.0;
    double *ps_a = xt_doubles(n);
    double *ps_b = xt_doubles(n);
    double *g_a = xt_doubles(n * classes);
    double *g_b = xt_doubles(n * classes);
    double *scratch = xt_doubles(n * classes);
    const xent_outputs out_a = {&loss_a, ps_a, g_a, NULL, NULL, NULL, NULL};
    const xent_outputs out_b = {&loss_b, ps_b, g_b, NULL, NULL, NULL, NULL};
    xent_error err;
    XT_STATUS(xent_evaluate(&pb, &out_a, NULL, 0, &err), XENT_OK);
    XT_STATUS(xent_evaluate_explicit(&pb, &out_b, scratch, &err), XENT_OK);
    XT_CLOSE(loss_a, loss_b, 1e-12, 1e-300);
    XT_ARRAY_CLOSE(ps_a, ps_b, n, 1e-12, 1e-300);
    for (size_t i = 0; i < n * classes; i++) {
      /* a gradient entry is a difference; compare relative to its row */
      ck_assert_msg(fabs(g_a[i] - g_b[i]) <= 1e-12 * (fabs(g_b[i]) + 1e-3),
                    "trial %d grad[%zu]: closed %.17g explicit %.17g", trial, i,
                    g_a[i], g_b[i]);
    }
    free(ps_a);
    free(ps_b);
    free(g_a);
    free(g_b);
    free(scratch);
    free(x);
    free(w);
  }
}
END_TEST

/* Float logits are converted to double on read: the results equal those of
 * the same values given as doubles. */
START_TEST(float32_logits) {
  xt_rng rng = {5};
  const size_t n = 5;
  const size_t classes = 37;
  float xf[5 * 37];
  double xd[5 * 37];
  int64_t t[5];
  for (size_t i = 0; i < n * classes; i++) {
    xf[i] = (float)xt_range(&rng, -6.0, 6.0);
    xd[i] = (double)xf[i];
  }
  xf[3] = -INFINITY;
  xd[3] = -INFINITY;
  for (size_t r = 0; r < n; r++) {
    t[r] = (int64_t)(r * 7 % classes);
  }
  t[2] = -100;
  xent_problem pb = xt_hard(n, classes, xd, t);
  pb.label_smoothing = 0.1;
  result a, b;
  eval_all(&pb, &a);
  pb.logits = xf;
  pb.dtype = XENT_F32;
  ck_assert_uint_ge(xent_workspace_size(&pb), classes * sizeof(double));
  eval_all(&pb, &b);
  XT_CLOSE(b.loss, a.loss, 1e-15, 0.0);
  XT_ARRAY_CLOSE(b.per_sample, a.per_sample, n, 1e-15, 0.0);
  XT_ARRAY_CLOSE(b.grad, a.grad, n * classes, 1e-15, 1e-300);
  XT_ARRAY_CLOSE(b.probs, a.probs, n * classes, 1e-15, 1e-300);
  XT_ARRAY_CLOSE(b.q, a.q, n * classes, 0.0, 0.0);
  result_free(&a);
  result_free(&b);
}
END_TEST

/* Asking for fewer outputs gives the same numbers; all NULL validates. */
START_TEST(output_subsets) {
  const double x[2 * 4] = {0.5, 1.5, -1.0, 0.0, 2.0, 2.5, 0.1, -0.1};
  const int64_t t[2] = {1, 3};
  xent_problem pb = xt_hard(2, 4, x, t);
  pb.label_smoothing = 0.1;
  result all;
  eval_all(&pb, &all);
  double loss = -1.0;
  xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
  XT_CLOSE(loss, all.loss, 1e-15, 0.0);
  double grad[8];
  out = (xent_outputs){NULL, NULL, grad, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
  XT_ARRAY_CLOSE(grad, all.grad, 8, 1e-15, 1e-17);
  double probs[8];
  out = (xent_outputs){NULL, NULL, NULL, NULL, probs, NULL, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
  XT_ARRAY_CLOSE(probs, all.probs, 8, 1e-15, 0.0);
  for (size_t n = 0; n < 2; n++) {
    XT_CLOSE(probs[n * 4] + probs[n * 4 + 1] + probs[n * 4 + 2] +
                 probs[n * 4 + 3],
             1.0, 1e-15, 0.0);
  }
  out = (xent_outputs){NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  xent_error err;
  memset(&err, 0x5a, sizeof err);
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, &err), XENT_OK);
  ck_assert_int_eq(err.status, XENT_OK);
  ck_assert_int_eq(err.arg, XENT_ARG_NONE);
  ck_assert_int_eq(err.row, -1);
  ck_assert_int_eq(err.col, -1);
  result_free(&all);
}
END_TEST

/* The explicit path accepts only loss, per_sample and grad. */
START_TEST(explicit_outputs) {
  const double x[2 * 3] = {0.5, 1.5, -1.0, 2.0, 2.5, 0.1};
  const int64_t t[2] = {1, -100};
  xent_problem pb = xt_hard(2, 3, x, t);
  double scratch[6];
  double loss = 0.0;
  double ps[2];
  const xent_outputs out = {&loss, ps, NULL, NULL, NULL, NULL, NULL};
  XT_STATUS(xent_evaluate_explicit(&pb, &out, scratch, NULL), XENT_OK);
  XT_CLOSE(loss, log(exp(0.5) + exp(1.5) + exp(-1.0)) - 1.5, 1e-15, 0.0);
  ck_assert(ps[1] == 0.0);
}
END_TEST

/* "may be called from any number of threads at once": four threads, each
 * evaluating its own problem 20 times with every kernel, get the results
 * of a serial run. */
typedef struct job {
  xent_problem pb;
  double *x;
  int64_t t[8];
  double want;
  int bad;
} job;

static void *job_run(void *arg) {
  job *j = (job *)arg;
  for (int rep = 0; rep < 20; rep++) {
    j->pb.kernel = (xent_kernel)(rep % 4);
    if (xt_skip_kernel(j->pb.kernel)) {
      continue;
    }
    double loss = 0.0;
    const xent_outputs out = {&loss, NULL, NULL, NULL, NULL, NULL, NULL};
    if (xent_evaluate(&j->pb, &out, NULL, 0, NULL) != XENT_OK ||
        !xt_close(loss, j->want, 1e-14, 0.0)) {
      j->bad++;
    }
  }
  return NULL;
}

START_TEST(threads_concurrent) {
  job jobs[4];
  xt_rng rng = {404};
  for (size_t k = 0; k < 4; k++) {
    const size_t classes = 100 + 37 * k;
    jobs[k].x = xt_doubles(8 * classes);
    for (size_t i = 0; i < 8 * classes; i++) {
      jobs[k].x[i] = xt_range(&rng, -5.0, 5.0);
    }
    for (size_t r = 0; r < 8; r++) {
      jobs[k].t[r] = (int64_t)xt_index(&rng, classes);
    }
    jobs[k].pb = xt_hard(8, classes, jobs[k].x, jobs[k].t);
    jobs[k].pb.label_smoothing = 0.1 * (double)k;
    jobs[k].pb.kernel = XENT_KERNEL_SCALAR;
    const xent_outputs out = {&jobs[k].want, NULL, NULL, NULL,
                              NULL,          NULL, NULL};
    XT_STATUS(xent_evaluate(&jobs[k].pb, &out, NULL, 0, NULL), XENT_OK);
    jobs[k].bad = 0;
  }
  pthread_t th[4];
  for (size_t k = 0; k < 4; k++) {
    ck_assert_int_eq(pthread_create(&th[k], NULL, job_run, &jobs[k]), 0);
  }
  for (size_t k = 0; k < 4; k++) {
    ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    ck_assert_msg(jobs[k].bad == 0, "thread %zu: %d wrong results", k,
                  jobs[k].bad);
    free(jobs[k].x);
  }
}
END_TEST

/* 'others' with eps = 1 puts q = 1/(K-1) on every class but the label:
 * the one-hot part is negative and the closed form would subtract large
 * terms. Logits {-1e5, 0, 0}, label 0: q = {0, 1/2, 1/2}, lp_1 = lp_2 =
 * -log 2 (e^-1e5 vanishes), so the loss is log 2 exactly. */
START_TEST(others_negative_peak_exact) {
  const double x[3] = {-1e5, 0.0, 0.0};
  const int64_t t[1] = {0};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 1;
  pb.classes = 3;
  pb.logits = x;
  pb.targets = t;
  pb.label_smoothing = 1.0;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  double loss = 0;
  xent_outputs out = {0};
  out.loss = &loss;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
  XT_CLOSE(loss, log(2.0), 1e-15, 0.0);
}
END_TEST

/* Weights of 1e304 on 100 rows: D = 1e306 and s D would overflow. All
 * logits 0 over 1000 classes, labels 0: p = 1e-3, so the gradient is
 * (1e-3 - 1) / 100 at the label and 1e-3 / 100 elsewhere, whether or not
 * the probabilities are asked for too. */
START_TEST(huge_weights_gradient) {
  enum { N = 100, C = 1000 };
  double *x = calloc(N * C, sizeof *x), *g = calloc(N * C, sizeof *g);
  double *pr = calloc(N * C, sizeof *pr), *w = malloc(C * sizeof *w);
  int64_t *t = calloc(N, sizeof *t);
  for (int c = 0; c < C; c++)
    w[c] = 1e304;
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = N;
  pb.classes = C;
  pb.logits = x;
  pb.targets = t;
  pb.class_weights = w;
  for (int with_probs = 0; with_probs < 2; with_probs++) {
    double loss = 0;
    xent_outputs out = {0};
    out.loss = &loss;
    out.grad = g;
    out.probs = with_probs ? pr : NULL;
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    XT_CLOSE(loss, log(1000.0), 1e-14, 0.0);
    XT_CLOSE(g[0], (1e-3 - 1.0) / 100, 1e-13, 0.0);
    XT_CLOSE(g[1], 1e-3 / 100, 1e-13, 0.0);
    XT_CLOSE(g[(N - 1) * C + 999], 1e-3 / 100, 1e-13, 0.0);
  }
  free(x);
  free(g);
  free(pr);
  free(w);
  free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("loss");
  XT_ADD(s, hand_value_plain_ce);
  XT_ADD(s, eps_zero_is_plain_ce);
  XT_ADD(s, article_identity_uniform);
  XT_ADD(s, others_convention_loss);
  XT_ADD(s, reductions);
  XT_ADD(s, class_weights_mean);
  XT_ADD(s, weights_smoothing_ignore_index);
  XT_ADD(s, ignore_index_rows);
  XT_ADD(s, mixup_weights_denominator);
  XT_ADD(s, mixup_linearity);
  XT_ADD(s, mixup_lambda_zero_one_loss);
  XT_ADD(s, soft_targets_loss);
  XT_ADD(s, extreme_logits);
  XT_ADD(s, one_class_loss);
  XT_ADD(s, masked_class_loss);
  XT_ADD(s, random_against_reference);
  XT_ADD(s, closed_form_equals_explicit);
  XT_ADD(s, float32_logits);
  XT_ADD(s, output_subsets);
  XT_ADD(s, explicit_outputs);
  XT_ADD(s, threads_concurrent);
  XT_ADD(s, others_negative_peak_exact);
  XT_ADD(s, huge_weights_gradient);
  return xt_run(s);
}
