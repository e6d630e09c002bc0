/*
 * test_targets.c - the target distribution q (semantics 1): smoothed one-hot
 * in both conventions, mixup pairings, per-row lambda, soft targets, masked
 * classes, ignored rows. Expected values are hand values or the formulas of
 * semantics 1 written out in the test.
 */
#include "testutil.h"

#define TOL 1e-15

static xent_problem hard(size_t n, size_t classes, const int64_t *targets) {
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = n;
  pb.classes = classes;
  pb.targets = targets;
  return pb;
}

/* xent_targets into a fresh buffer; fails the test on error. */
static double *targets_of(const xent_problem *pb) {
  double *q = xt_doubles(pb->n * pb->classes);
  xent_error err;
  const xent_status st = xent_targets(pb, q, &err);
  ck_assert_msg(st == XENT_OK, "xent_targets: %s (arg %d row %lld col %lld)",
                xent_status_name(st), (int)err.arg, (long long)err.row,
                (long long)err.col);
  return q;
}

/* The article: eps = 0.1, 10 classes -> on-target 0.91, off-target 0.01. */
START_TEST(article_values_uniform) {
  const int64_t t[2] = {3, 0};
  xent_problem pb = hard(2, 10, t);
  pb.label_smoothing = 0.1;
  double *q = targets_of(&pb);
  for (size_t n = 0; n < 2; n++) {
    for (size_t c = 0; c < 10; c++) {
      const double want = (int64_t)c == t[n] ? 0.91 : 0.01;
      XT_CLOSE(q[n * 10 + c], want, TOL, 0.0);
    }
  }
  free(q);
}
END_TEST

/* fairseq's convention: on 1 - eps = 0.9, off eps / (K - 1) = 0.1 / 9. */
START_TEST(others_convention) {
  const int64_t t[1] = {7};
  xent_problem pb = hard(1, 10, t);
  pb.label_smoothing = 0.1;
  pb.smoothing = XENT_SMOOTH_OTHERS;
  double *q = targets_of(&pb);
  double sum = 0.0;
  for (size_t c = 0; c < 10; c++) {
    XT_CLOSE(q[c], c == 7 ? 0.9 : 0.1 / 9.0, TOL, 0.0);
    sum += q[c];
  }
  XT_CLOSE(sum, 1.0, 1e-15, 0.0);
  free(q);
}
END_TEST

START_TEST(eps_zero_is_one_hot) {
  const int64_t t[3] = {0, 4, 2};
  for (int conv = 0; conv < 2; conv++) {
    xent_problem pb = hard(3, 5, t);
    pb.smoothing = (xent_smoothing)conv;
    double *q = targets_of(&pb);
    for (size_t n = 0; n < 3; n++) {
      for (size_t c = 0; c < 5; c++) {
        ck_assert(q[n * 5 + c] == ((int64_t)c == t[n] ? 1.0 : 0.0));
      }
    }
    free(q);
  }
}
END_TEST

/* eps = 1: uniform gives 1/K everywhere; others gives 0 on the target. */
START_TEST(eps_one) {
  const int64_t t[1] = {1};
  xent_problem pb = hard(1, 4, t);
  pb.label_smoothing = 1.0;
  double *q = targets_of(&pb);
  for (size_t c = 0; c < 4; c++) {
    XT_CLOSE(q[c], 0.25, TOL, 0.0);
  }
  free(q);
  pb.smoothing = XENT_SMOOTH_OTHERS;
  q = targets_of(&pb);
  for (size_t c = 0; c < 4; c++) {
    XT_CLOSE(q[c], c == 1 ? 0.0 : 1.0 / 3.0, TOL, 1e-300);
  }
  free(q);
}
END_TEST

/* One class: K = 1, the uniform convention gives 1 - eps + eps = 1. */
START_TEST(one_class) {
  const int64_t t[2] = {0, 0};
  xent_problem pb = hard(2, 1, t);
  pb.label_smoothing = 0.5;
  double *q = targets_of(&pb);
  XT_CLOSE(q[0], 1.0, TOL, 0.0);
  XT_CLOSE(q[1], 1.0, TOL, 0.0);
  free(q);
}
END_TEST

/* flip with odd N = 5: partner of n is 4 - n; the middle row is its own
 * partner, so it is unmixed. */
START_TEST(mixup_flip_odd) {
  const int64_t t[5] = {0, 1, 2, 3, 4};
  const double lam = 0.7;
  xent_problem pb = hard(5, 5, t);
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  double *q = targets_of(&pb);
  const double want[5][5] = {
      {0.7, 0.0, 0.0, 0.0, 0.3}, {0.0, 0.7, 0.0, 0.3, 0.0},
      {0.0, 0.0, 1.0, 0.0, 0.0}, {0.0, 0.3, 0.0, 0.7, 0.0},
      {0.3, 0.0, 0.0, 0.0, 0.7},
  };
  XT_ARRAY_CLOSE(q, &want[0][0], 25, 1e-15, 1e-16);
  free(q);
}
END_TEST

/* roll with N = 5: partner of n is (n - 1) mod 5. */
START_TEST(mixup_roll_odd) {
  const int64_t t[5] = {0, 1, 2, 3, 4};
  const double lam = 0.7;
  xent_problem pb = hard(5, 5, t);
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  pb.pairing = XENT_PAIR_ROLL;
  double *q = targets_of(&pb);
  const double want[5][5] = {
      {0.7, 0.0, 0.0, 0.0, 0.3}, {0.3, 0.7, 0.0, 0.0, 0.0},
      {0.0, 0.3, 0.7, 0.0, 0.0}, {0.0, 0.0, 0.3, 0.7, 0.0},
      {0.0, 0.0, 0.0, 0.3, 0.7},
  };
  XT_ARRAY_CLOSE(q, &want[0][0], 25, 1e-15, 1e-16);
  free(q);
}
END_TEST

/* explicit pairs with N = 3, one row paired with itself. */
START_TEST(mixup_explicit_odd) {
  const int64_t t[3] = {0, 1, 2};
  const int64_t partners[3] = {2, 1, 0};
  const int64_t partners2[3] = {1, 2, 1};
  const double lam = 0.25;
  xent_problem pb = hard(3, 3, t);
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  pb.pairing = XENT_PAIR_EXPLICIT;
  pb.partners = partners;
  double *q = targets_of(&pb);
  const double want[3][3] = {
      {0.25, 0.0, 0.75}, {0.0, 1.0, 0.0}, {0.75, 0.0, 0.25}};
  XT_ARRAY_CLOSE(q, &want[0][0], 9, 1e-15, 1e-16);
  free(q);
  pb.partners = partners2;
  q = targets_of(&pb);
  const double want2[3][3] = {
      {0.25, 0.75, 0.0}, {0.0, 0.25, 0.75}, {0.0, 0.75, 0.25}};
  XT_ARRAY_CLOSE(q, &want2[0][0], 9, 1e-15, 1e-16);
  free(q);
}
END_TEST

/* One lambda per row (timm's elem mode). */
START_TEST(mixup_per_row_lambda) {
  const int64_t t[3] = {0, 1, 2};
  const double lam[3] = {0.9, 0.4, 0.0};
  xent_problem pb = hard(3, 3, t);
  pb.mixup_lambda = lam;
  pb.lambda_count = 3;
  pb.pairing = XENT_PAIR_ROLL; /* partners 2, 0, 1 */
  double *q = targets_of(&pb);
  const double want[3][3] = {{0.9, 0.0, 0.1}, {0.6, 0.4, 0.0}, {0.0, 1.0, 0.0}};
  XT_ARRAY_CLOSE(q, &want[0][0], 9, 1e-15, 1e-16);
  free(q);
}
END_TEST

/* Smoothing first, then mixing (timm's order): C = 4, eps = 0.2 gives on 0.85,
 * off 0.05; lam = 0.6 between labels 0 and 1 gives
 * [0.6 * 0.85 + 0.4 * 0.05, 0.6 * 0.05 + 0.4 * 0.85, 0.05, 0.05]
 * = [0.53, 0.37, 0.05, 0.05]. */
START_TEST(mixup_with_smoothing) {
  const int64_t t[2] = {0, 1};
  const double lam = 0.6;
  xent_problem pb = hard(2, 4, t);
  pb.label_smoothing = 0.2;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  double *q = targets_of(&pb);
  const double want[2][4] = {{0.53, 0.37, 0.05, 0.05},
                             {0.37, 0.53, 0.05, 0.05}};
  XT_ARRAY_CLOSE(q, &want[0][0], 8, 1e-15, 1e-16);
  free(q);
  /* others: on 0.8, off 0.2 / 3 */
  pb.smoothing = XENT_SMOOTH_OTHERS;
  q = targets_of(&pb);
  const double off = 0.2 / 3.0;
  const double want2[4] = {0.6 * 0.8 + 0.4 * off, 0.6 * off + 0.4 * 0.8, off,
                           off};
  XT_ARRAY_CLOSE(q, want2, 4, 1e-15, 1e-16);
  free(q);
}
END_TEST

/* lambda 1 is the identity; lambda 0 is the partner's target alone. */
/* 'others' at eps = 1 gives the label 1 - eps = 0. When a row and its
 * partner share the label, q there is lam * 0 + (1 - lam) * 0: exactly 0,
 * not a rounding residue of off - lam off - (1 - lam) off. */
START_TEST(mixup_same_label_exact_zero) {
  const int64_t t[3] = {1, 0, 1}; /* flip: rows 0 and 2 share label 1 */
  const double lams[4] = {0.8, 0.3, 0.1, 0.7};
  for (size_t i = 0; i < 4; i++) {
    xent_problem pb = xt_hard(3, 4, NULL, t);
    pb.smoothing = XENT_SMOOTH_OTHERS;
    pb.label_smoothing = 1.0;
    pb.mixup_lambda = &lams[i];
    pb.lambda_count = 1;
    double q[12];
    XT_STATUS(xent_targets(&pb, q, NULL), XENT_OK);
    ck_assert_msg(q[0 * 4 + 1] == 0.0 && q[2 * 4 + 1] == 0.0,
                  "lambda %g: q = %.17g, %.17g", lams[i], q[1], q[9]);
    XT_CLOSE(q[0], 1.0 / 3.0, 1e-15, 0.0);
  }
}
END_TEST

START_TEST(mixup_lambda_zero_and_one) {
  const int64_t t[4] = {2, 0, 3, 1};
  const int64_t flipped[4] = {1, 3, 0, 2};
  for (int conv = 0; conv < 2; conv++) {
    xent_problem plain = hard(4, 5, t);
    plain.label_smoothing = 0.3;
    plain.smoothing = (xent_smoothing)conv;
    double *q_plain = targets_of(&plain);
    xent_problem part = plain;
    part.targets = flipped;
    double *q_part = targets_of(&part);

    const double one = 1.0;
    const double zero = 0.0;
    xent_problem mix = plain;
    mix.mixup_lambda = &one;
    mix.lambda_count = 1;
    double *q = targets_of(&mix);
    XT_ARRAY_CLOSE(q, q_plain, 20, 1e-15, 0.0);
    free(q);
    mix.mixup_lambda = &zero;
    q = targets_of(&mix);
    XT_ARRAY_CLOSE(q, q_part, 20, 1e-15, 0.0);
    free(q);
    free(q_plain);
    free(q_part);
  }
}
END_TEST

/* Soft targets: q = (1 - eps) y + eps / K; rows need not sum to 1. */
START_TEST(soft_targets_smoothing) {
  const double y[2 * 4] = {0.2, 0.8, 0.0, 0.0, 2.0, 0.0, 0.5, 0.0};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 2;
  pb.classes = 4;
  pb.soft_targets = y;
  double *q = targets_of(&pb);
  XT_ARRAY_CLOSE(q, y, 8, 0.0, 0.0); /* eps = 0: q = y exactly */
  free(q);
  pb.label_smoothing = 0.1;
  q = targets_of(&pb);
  const double want[8] = {0.9 * 0.2 + 0.025,
                          0.9 * 0.8 + 0.025,
                          0.025,
                          0.025,
                          0.9 * 2.0 + 0.025,
                          0.025,
                          0.9 * 0.5 + 0.025,
                          0.025};
  XT_ARRAY_CLOSE(q, want, 8, 1e-15, 1e-17);
  free(q);
}
END_TEST

/* Masked classes (-inf logits): K counts the unmasked classes only, and the
 * masked ones get 0. Row 0 masks class 1 of 4: K = 3, eps = 0.3:
 * uniform on 0.8 off 0.1; others on 0.7 off 0.15. */
START_TEST(masked_classes) {
  const double logits[2 * 4] = {0.5, -INFINITY, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0};
  const int64_t t[2] = {2, 2};
  xent_problem pb = hard(2, 4, t);
  pb.logits = logits;
  pb.label_smoothing = 0.3;
  double *q = targets_of(&pb);
  const double want[8] = {0.1, 0.0, 0.8, 0.1, 0.075, 0.075, 0.775, 0.075};
  XT_ARRAY_CLOSE(q, want, 8, 1e-15, 1e-17);
  free(q);
  pb.smoothing = XENT_SMOOTH_OTHERS;
  q = targets_of(&pb);
  const double want2[8] = {0.15, 0.0, 0.7, 0.15, 0.1, 0.1, 0.7, 0.1};
  XT_ARRAY_CLOSE(q, want2, 8, 1e-15, 1e-17);
  free(q);
  /* Without logits nothing is masked: K = 4 on both rows. */
  pb.logits = NULL;
  pb.smoothing = XENT_SMOOTH_UNIFORM;
  q = targets_of(&pb);
  XT_ARRAY_CLOSE(q + 4, want + 4, 4, 1e-15, 1e-17);
  XT_ARRAY_CLOSE(q, want + 4, 4, 1e-15, 1e-17);
  free(q);
}
END_TEST

/* Float logits mask classes the same way (K = 2 of 3 in row 0). */
START_TEST(masked_float32) {
  const float logits[2 * 3] = {1.0f, -INFINITY, 0.5f, 0.0f, 0.0f, 0.0f};
  const int64_t t[2] = {0, 2};
  xent_problem pb = hard(2, 3, t);
  pb.logits = logits;
  pb.dtype = XENT_F32;
  pb.label_smoothing = 0.4;
  double *q = targets_of(&pb);
  const double want[6] = {0.8, 0.0, 0.2, 0.4 / 3.0, 0.4 / 3.0, 0.6 + 0.4 / 3.0};
  XT_ARRAY_CLOSE(q, want, 6, 1e-15, 0.0);
  free(q);
}
END_TEST

/* Masked classes with soft targets: a zero soft target may sit on a masked
 * class; smoothing spreads over the 2 unmasked classes. */
START_TEST(masked_soft_targets) {
  const double logits[3] = {0.0, -INFINITY, 1.0};
  const double y[3] = {0.4, 0.0, 0.6};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 1;
  pb.classes = 3;
  pb.logits = logits;
  pb.soft_targets = y;
  pb.label_smoothing = 0.5;
  double *q = targets_of(&pb);
  const double want[3] = {0.5 * 0.4 + 0.25, 0.0, 0.5 * 0.6 + 0.25};
  XT_ARRAY_CLOSE(q, want, 3, 1e-15, 0.0);
  free(q);
}
END_TEST

/* Masked classes with mixup: the mixing row's mask sets K for both
 * smoothed one-hots. */
START_TEST(masked_mixup) {
  const double logits[2 * 3] = {-INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0};
  const int64_t t[2] = {1, 2};
  const double lam = 0.5;
  xent_problem pb = hard(2, 3, t);
  pb.logits = logits;
  pb.label_smoothing = 0.2;
  pb.mixup_lambda = &lam;
  pb.lambda_count = 1;
  double *q = targets_of(&pb);
  /* row 0: K = 2, on 0.9 off 0.1 over classes 1, 2; mix of 1 and 2 */
  /* row 1: K = 3, on 0.8 + 0.2/3, off 0.2/3; mix of 2 and 1 */
  const double off = 0.2 / 3.0;
  const double on = 0.8 + off;
  const double want[6] = {
      0.0, 0.5, 0.5, off, 0.5 * on + 0.5 * off, 0.5 * on + 0.5 * off};
  XT_ARRAY_CLOSE(q, want, 6, 1e-15, 1e-17);
  free(q);
}
END_TEST

START_TEST(ignored_rows_are_zero) {
  const int64_t t[3] = {-100, 1, -100};
  xent_problem pb = hard(3, 4, t);
  pb.label_smoothing = 0.2;
  double *q = targets_of(&pb);
  for (size_t c = 0; c < 4; c++) {
    ck_assert(q[0 * 4 + c] == 0.0);
    ck_assert(q[2 * 4 + c] == 0.0);
    XT_CLOSE(q[4 + c], c == 1 ? 0.85 : 0.05, 1e-15, 0.0);
  }
  free(q);
  /* An ignore_index inside [0, C) removes the rows with that label. */
  const int64_t t2[3] = {2, 1, 2};
  pb = hard(3, 4, t2);
  pb.ignore_index = 2;
  q = targets_of(&pb);
  for (size_t c = 0; c < 4; c++) {
    ck_assert(q[0 * 4 + c] == 0.0);
    ck_assert(q[2 * 4 + c] == 0.0);
    ck_assert(q[4 + c] == (c == 1 ? 1.0 : 0.0));
  }
  free(q);
}
END_TEST

/* An ignored row with NaN logits is fine (it does not exist for the loss). */
START_TEST(ignored_row_with_nan_logits) {
  const double logits[2 * 2] = {NAN, INFINITY, 0.0, 1.0};
  const int64_t t[2] = {-100, 0};
  xent_problem pb = hard(2, 2, t);
  pb.logits = logits;
  double *q = targets_of(&pb);
  const double want[4] = {0.0, 0.0, 1.0, 0.0};
  XT_ARRAY_CLOSE(q, want, 4, 0.0, 0.0);
  free(q);
}
END_TEST

/* Random cases: every hard-label row sums to 1, and xent_targets equals the
 * q written by xent_evaluate and the reference's q. */
START_TEST(random_against_reference) {
  xt_rng rng = {42};
  for (int trial = 0; trial < 60; trial++) {
    const size_t n = 1 + xt_index(&rng, 9);
    const size_t classes = 1 + xt_index(&rng, 12);
    double *logits = xt_doubles(n * classes);
    int64_t *t = (int64_t *)xt_alloc(n, sizeof(int64_t));
    double lam[9];
    for (size_t i = 0; i < n * classes; i++) {
      logits[i] = xt_range(&rng, -3.0, 3.0);
    }
    for (size_t r = 0; r < n; r++) {
      t[r] = (int64_t)xt_index(&rng, classes);
      lam[r] = xt_unif(&rng);
      /* mask one non-target class now and then */
      const size_t c = xt_index(&rng, classes);
      if (classes > 2 && (int64_t)c != t[r] && xt_unif(&rng) < 0.3) {
        logits[r * classes + c] = -INFINITY;
      }
    }
    xent_problem pb = hard(n, classes, t);
    pb.logits = logits;
    pb.label_smoothing = xt_unif(&rng) < 0.2 ? 0.0 : xt_unif(&rng);
    pb.smoothing =
        classes >= 3 && trial % 2 ? XENT_SMOOTH_OTHERS : XENT_SMOOTH_UNIFORM;
    if (trial % 3 == 0) {
      /* mixup: partner labels must be unmasked in the mixing row */
      for (size_t r = 0; r < n; r++) {
        for (size_t c = 0; c < classes; c++) {
          if (logits[r * classes + c] == -INFINITY) {
            logits[r * classes + c] = 0.5;
          }
        }
      }
      pb.mixup_lambda = lam;
      pb.lambda_count = trial % 2 ? n : 1;
      pb.pairing = (xent_pairing)(trial % 2);
    }
    double *q = targets_of(&pb);
    double *q_eval = xt_doubles(n * classes);
    double *q_ref = xt_doubles(n * classes);
    const xent_outputs out = {.targets = q_eval};
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    xt_ref ref = {.q = q_ref};
    xt_ref_eval(&pb, &ref);
    XT_ARRAY_CLOSE(q, q_ref, n * classes, 1e-14, 1e-16);
    XT_ARRAY_CLOSE(q_eval, q, n * classes, 1e-15, 0.0);
    for (size_t r = 0; r < n; r++) {
      double sum = 0.0;
      for (size_t c = 0; c < classes; c++) {
        sum += q[r * classes + c];
      }
      XT_CLOSE(sum, 1.0, 1e-14, 0.0);
    }
    free(q);
    free(q_eval);
    free(q_ref);
    free(logits);
    free(t);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("targets");
  XT_ADD(s, article_values_uniform);
  XT_ADD(s, others_convention);
  XT_ADD(s, eps_zero_is_one_hot);
  XT_ADD(s, eps_one);
  XT_ADD(s, one_class);
  XT_ADD(s, mixup_flip_odd);
  XT_ADD(s, mixup_roll_odd);
  XT_ADD(s, mixup_explicit_odd);
  XT_ADD(s, mixup_per_row_lambda);
  XT_ADD(s, mixup_with_smoothing);
  XT_ADD(s, mixup_lambda_zero_and_one);
  XT_ADD(s, mixup_same_label_exact_zero);
  XT_ADD(s, soft_targets_smoothing);
  XT_ADD(s, masked_classes);
  XT_ADD(s, masked_float32);
  XT_ADD(s, masked_soft_targets);
  XT_ADD(s, masked_mixup);
  XT_ADD(s, ignored_rows_are_zero);
  XT_ADD(s, ignored_row_with_nan_logits);
  XT_ADD(s, random_against_reference);
  return xt_run(s);
}
