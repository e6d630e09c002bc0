/*
 * test_stats.c - evaluation statistics (semantics 5): predicted class with
 * ties to the lowest index, confidence, entropy, accuracy and the 15-bin
 * expected calibration error, by hand on small cases and against a plain
 * implementation on random ones.
 */
#include "testutil.h"

typedef struct stats_run {
  xent_stats st;
  int64_t predicted[16];
  double confidence[16];
  double entropy[16];
} stats_run;

static void run_stats(const xent_problem *pb, stats_run *r) {
  ck_assert(pb->n <= 16);
  memset(r, 0, sizeof *r);
  r->st.predicted = r->predicted;
  r->st.confidence = r->confidence;
  r->st.entropy = r->entropy;
  const xent_outputs out = {NULL, NULL, NULL, NULL, NULL, &r->st, NULL};
  xent_error err;
  const xent_status st = xent_evaluate(pb, &out, NULL, 0, &err);
  ck_assert_msg(st == XENT_OK, "xent_evaluate: %s (arg %d row %lld col %lld)",
                xent_status_name(st), (int)err.arg, (long long)err.row,
                (long long)err.col);
}

/* torch.argmax: the lowest index among equal maxima. */
START_TEST(predicted_ties_lowest_index) {
  const double x[4 * 4] = {1.0,       3.0, 3.0, 0.0, 2.0, 2.0, 2.0, 2.0,
                           -INFINITY, 5.0, 5.0, 1.0, 0.0, 0.0, 0.0, 7.0};
  const int64_t t[4] = {1, 3, 2, 3};
  xent_problem pb = xt_hard(4, 4, x, t);
  stats_run r;
  run_stats(&pb, &r);
  ck_assert_int_eq(r.predicted[0], 1);
  ck_assert_int_eq(r.predicted[1], 0);
  ck_assert_int_eq(r.predicted[2], 1);
  ck_assert_int_eq(r.predicted[3], 3);
  const double e = exp(1.0);
  XT_CLOSE(r.confidence[0], e * e * e / (e + 2.0 * e * e * e + 1.0), 1e-15,
           0.0);
  XT_CLOSE(r.confidence[1], 0.25, 1e-15, 0.0);
  XT_CLOSE(r.confidence[2], 1.0 / (2.0 + exp(-4.0)), 1e-15, 0.0);
  /* rows 0 and 3 are right: 2 of 4 */
  XT_CLOSE(r.st.accuracy, 0.5, 0.0, 0.0);
  ck_assert_uint_eq(r.st.counted, 4);
}
END_TEST

/* p = [0.25, 0.75]: confidence 0.75, entropy -(0.25 ln 0.25 + 0.75 ln 0.75)
 * = 0.5623351446188083; a masked class adds 0 log 0 = 0; one class has
 * entropy 0 and confidence 1. */
START_TEST(confidence_and_entropy) {
  const double x[3 * 3] = {0.0, log(3.0), -INFINITY, 0.0,      -INFINITY,
                           0.0, 1e4,      -1e4,      -INFINITY};
  const int64_t t[3] = {1, 0, 0};
  xent_problem pb = xt_hard(3, 3, x, t);
  stats_run r;
  run_stats(&pb, &r);
  XT_CLOSE(r.confidence[0], 0.75, 1e-15, 0.0);
  XT_CLOSE(r.entropy[0], -(0.25 * log(0.25) + 0.75 * log(0.75)), 1e-14, 0.0);
  XT_CLOSE(r.entropy[0], 0.5623351446188083, 1e-14, 0.0);
  XT_CLOSE(r.confidence[1], 0.5, 1e-15, 0.0);
  XT_CLOSE(r.entropy[1], log(2.0), 1e-15, 0.0);
  /* p = [1, 0, 0] exactly: entropy 0, not NaN */
  ck_assert(r.confidence[2] == 1.0);
  XT_CLOSE(r.entropy[2], 0.0, 0.0, 1e-300);
  XT_CLOSE(r.st.mean_confidence, (0.75 + 0.5 + 1.0) / 3.0, 1e-15, 0.0);
  XT_CLOSE(r.st.mean_entropy,
           (-(0.25 * log(0.25) + 0.75 * log(0.75)) + log(2.0)) / 3.0, 1e-14,
           0.0);
  /* predicted 1, 0 (tie between 0 and 2), 0: all right */
  XT_CLOSE(r.st.accuracy, 1.0, 0.0, 0.0);

  const double one[2] = {3.0, -2.0};
  const int64_t t0[2] = {0, 0};
  pb = xt_hard(2, 1, one, t0);
  run_stats(&pb, &r);
  ck_assert(r.confidence[0] == 1.0 && r.confidence[1] == 1.0);
  ck_assert(r.entropy[0] == 0.0 && r.entropy[1] == 0.0);
  XT_CLOSE(r.st.accuracy, 1.0, 0.0, 0.0);
  XT_CLOSE(r.st.ece, 0.0, 0.0, 1e-300);
}
END_TEST

/*
 * ECE by hand, 15 bins (k/15, (k+1)/15]:
 *   row 0: p = [1/4, 3/4], label 1: confidence 0.75, right, bin 11
 *   row 1: p = [3/4, 1/4], label 1: confidence 0.75, wrong, bin 11
 *   row 2: p = [1/10, 9/10], label 1: confidence 0.9, right, bin 13
 *   row 3: p = [1/2, 1/2], label 1: predicted 0 (tie), wrong, bin 7
 *   row 4: ignored (would be confident and wrong)
 * ECE = 2/4 |1/2 - 0.75| + 1/4 |1 - 0.9| + 1/4 |0 - 0.5| = 0.275;
 * accuracy 1/2; mean confidence (0.75 + 0.75 + 0.9 + 0.5) / 4 = 0.725.
 */
START_TEST(ece_by_hand) {
  const double x[5 * 2] = {0.0,      log(3.0), log(3.0), 0.0,  0.0,
                           log(9.0), 0.0,      0.0,      30.0, 0.0};
  const int64_t t[5] = {1, 1, 1, 1, -100};
  xent_problem pb = xt_hard(5, 2, x, t);
  stats_run r;
  run_stats(&pb, &r);
  ck_assert_uint_eq(r.st.counted, 4);
  XT_CLOSE(r.st.ece, 0.275, 1e-14, 0.0);
  XT_CLOSE(r.st.accuracy, 0.5, 0.0, 0.0);
  XT_CLOSE(r.st.mean_confidence, 0.725, 1e-15, 0.0);
  ck_assert_int_eq(r.predicted[0], 1);
  ck_assert_int_eq(r.predicted[1], 0);
  ck_assert_int_eq(r.predicted[2], 1);
  ck_assert_int_eq(r.predicted[3], 0);
  /* the ignored row */
  ck_assert_int_eq(r.predicted[4], -1);
  ck_assert(r.confidence[4] == 0.0);
  ck_assert(r.entropy[4] == 0.0);
}
END_TEST

/* Statistics do not depend on targets' smoothing, weights or reduction. */
START_TEST(stats_independent_of_options) {
  const double x[5 * 2] = {0.0,      log(3.0), log(3.0), 0.0,  0.0,
                           log(9.0), 0.0,      0.0,      30.0, 0.0};
  const int64_t t[5] = {1, 1, 1, 1, -100};
  const double w[2] = {0.5, 3.0};
  xent_problem pb = xt_hard(5, 2, x, t);
  pb.label_smoothing = 0.4;
  pb.class_weights = w;
  pb.reduction = XENT_REDUCE_NONE;
  stats_run r;
  run_stats(&pb, &r);
  XT_CLOSE(r.st.ece, 0.275, 1e-14, 0.0);
  XT_CLOSE(r.st.accuracy, 0.5, 0.0, 0.0);
}
END_TEST

/* Soft targets: accuracy against the argmax of the soft target. */
START_TEST(soft_target_accuracy) {
  const double x[3 * 3] = {2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0};
  const double y[3 * 3] = {0.7, 0.2, 0.1, 0.5, 0.0, 0.5, 0.0, 0.4, 0.6};
  xent_problem pb = xt_hard(3, 3, x, NULL);
  pb.soft_targets = y;
  stats_run r;
  run_stats(&pb, &r);
  /* row 0 right; row 1: argmax of y is 0 (tie, lowest), predicted 1: wrong;
   * row 2 right */
  XT_CLOSE(r.st.accuracy, 2.0 / 3.0, 1e-15, 0.0);
  ck_assert_uint_eq(r.st.counted, 3);
}
END_TEST

/* Ties in a soft target: its argmax is the lowest index too. */
START_TEST(soft_target_ties_lowest_index) {
  const double x[2 * 3] = {2.0, 0.0, 0.0, 0.0, 3.0, 0.0};
  const double y[2 * 3] = {0.5, 0.0, 0.5, 0.0, 0.5, 0.5};
  xent_problem pb = xt_hard(2, 3, x, NULL);
  pb.soft_targets = y;
  stats_run r;
  run_stats(&pb, &r);
  /* row 0: predicted 0, soft argmax 0 (not 2); row 1: predicted 1, soft
   * argmax 1 (not 2): both right */
  XT_CLOSE(r.st.accuracy, 1.0, 0.0, 0.0);
}
END_TEST

/*
 * A confidence exactly on a bin edge: 1/3 = 5/15 belongs to bin 4,
 * (4/15, 5/15], not to bin 5 with a confidence of 0.36. Rows:
 *   A: logits [0, 0, 0], label 0: predicted 0 (tie), right, confidence 1/3
 *   B: logits [ln 1.125, 0, 0], label 1: p_0 = 1.125 / 3.125 = 0.36, wrong
 * ECE = 1/2 |1 - 1/3| + 1/2 |0 - 0.36| = 1/3 + 0.18 (in one bin it would
 * be |1/2 - (1/3 + 0.36) / 2| = 0.15333...).
 */
START_TEST(ece_bin_edge) {
  const double x[2 * 3] = {0.0, 0.0, 0.0, log(1.125), 0.0, 0.0};
  const int64_t t[2] = {0, 1};
  xent_problem pb = xt_hard(2, 3, x, t);
  stats_run r;
  run_stats(&pb, &r);
  XT_CLOSE(r.confidence[0], 1.0 / 3.0, 1e-15, 0.0);
  XT_CLOSE(r.confidence[1], 0.36, 1e-14, 0.0);
  XT_CLOSE(r.st.ece, 1.0 / 3.0 + 0.18, 1e-14, 0.0);
}
END_TEST

/* Entropy is never negative, even for rows that are one-hot up to
 * rounding; and it matches -sum p log p. */
START_TEST(entropy_never_negative) {
  for (int i = 0; i < 60; i++) {
    const double big = 10.0 + 12.5 * i; /* 10 .. 747.5 */
    const double x[3] = {big, 0.0, -big};
    const int64_t t[1] = {0};
    xent_problem pb = xt_hard(1, 3, x, t);
    stats_run r;
    run_stats(&pb, &r);
    ck_assert_msg(r.entropy[0] >= 0.0, "logit %g: entropy %.17g", big,
                  r.entropy[0]);
    const double p1 = exp(-big) / (1.0 + exp(-big) + exp(-2.0 * big));
    const double p0 = 1.0 / (1.0 + exp(-big) + exp(-2.0 * big));
    const double p2 = exp(-2.0 * big) * p0;
    double h = -p0 * log(p0);
    h -= p1 > 0.0 ? p1 * log(p1) : 0.0;
    h -= p2 > 0.0 ? p2 * log(p2) : 0.0;
    XT_CLOSE(r.entropy[0], h, 1e-9, 1e-300);
  }
}
END_TEST

/* No row counts: counted 0 and every mean 0. */
START_TEST(no_row_counted) {
  const double x[2 * 2] = {0.0, 1.0, 2.0, 3.0};
  const int64_t t[2] = {-100, -100};
  xent_problem pb = xt_hard(2, 2, x, t);
  pb.reduction = XENT_REDUCE_SUM;
  stats_run r;
  memset(&r, 0x7f, sizeof r);
  run_stats(&pb, &r);
  ck_assert_uint_eq(r.st.counted, 0);
  ck_assert(r.st.accuracy == 0.0 && r.st.mean_confidence == 0.0);
  ck_assert(r.st.mean_entropy == 0.0 && r.st.ece == 0.0);
  ck_assert_int_eq(r.predicted[0], -1);
  ck_assert_int_eq(r.predicted[1], -1);
}
END_TEST

/* Per-row arrays are optional. */
START_TEST(per_row_arrays_optional) {
  const double x[2 * 3] = {0.0, 1.0, 2.0, 2.0, 1.0, 0.0};
  const int64_t t[2] = {2, 1};
  xent_problem pb = xt_hard(2, 3, x, t);
  xent_stats st;
  memset(&st, 0, sizeof st);
  const xent_outputs out = {NULL, NULL, NULL, NULL, NULL, &st, NULL};
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
  XT_CLOSE(st.accuracy, 0.5, 0.0, 0.0);
  const double conf = 1.0 / (1.0 + exp(-1.0) + exp(-2.0));
  XT_CLOSE(st.mean_confidence, conf, 1e-15, 0.0);
}
END_TEST

/* The ECE of semantics 5 written plainly: bins by comparison with k/15. */
static void ref_stats(const xent_problem *pb, xent_stats *st, int64_t *pred,
                      double *conf, double *ent) {
  const size_t C = pb->classes;
  double *p = xt_doubles(pb->n * C);
  xt_ref ref = {0.0, 0.0, NULL, NULL, NULL, p};
  xt_ref_eval(pb, &ref);
  double bin_n[XENT_ECE_BINS] = {0};
  double bin_acc[XENT_ECE_BINS] = {0};
  double bin_conf[XENT_ECE_BINS] = {0};
  size_t counted = 0;
  double right = 0.0, sum_conf = 0.0, sum_ent = 0.0;
  for (size_t n = 0; n < pb->n; n++) {
    if (xt_ignored(pb, n)) {
      pred[n] = -1;
      conf[n] = 0.0;
      ent[n] = 0.0;
      continue;
    }
    size_t best = 0;
    double h = 0.0;
    for (size_t c = 0; c < C; c++) {
      const double v = p[n * C + c];
      if (v > p[n * C + best]) {
        best = c;
      }
      if (v > 0.0) {
        h -= v * log(v);
      }
    }
    size_t label = 0;
    if (pb->targets != NULL) {
      label = (size_t)pb->targets[n];
    } else {
      for (size_t c = 1; c < C; c++) {
        if (pb->soft_targets[n * C + c] > pb->soft_targets[n * C + label]) {
          label = c;
        }
      }
    }
    pred[n] = (int64_t)best;
    conf[n] = p[n * C + best];
    ent[n] = h;
    counted++;
    right += best == label;
    sum_conf += conf[n];
    sum_ent += h;
    int k = 0;
    while (k < XENT_ECE_BINS - 1 && conf[n] > (double)(k + 1) / XENT_ECE_BINS) {
      k++;
    }
    bin_n[k] += 1.0;
    bin_acc[k] += best == label;
    bin_conf[k] += conf[n];
  }
  double ece = 0.0;
  for (int k = 0; k < XENT_ECE_BINS; k++) {
    if (bin_n[k] > 0) {
      ece += bin_n[k] / (double)counted *
             fabs(bin_acc[k] / bin_n[k] - bin_conf[k] / bin_n[k]);
    }
  }
  st->counted = counted;
  st->accuracy = right / (double)counted;
  st->mean_confidence = sum_conf / (double)counted;
  st->mean_entropy = sum_ent / (double)counted;
  st->ece = ece;
  free(p);
}

START_TEST(random_against_reference) {
  xt_rng rng = {31};
  for (int trial = 0; trial < 100; trial++) {
    const size_t n = 1 + xt_index(&rng, 16);
    const size_t classes = 1 + xt_index(&rng, 9);
    double *x = xt_doubles(n * classes);
    double *y = xt_doubles(n * classes);
    int64_t t[16];
    for (size_t i = 0; i < n * classes; i++) {
      x[i] = xt_range(&rng, -2.5, 2.5);
      y[i] = xt_unif(&rng);
    }
    size_t ignored = 0;
    for (size_t r = 0; r < n; r++) {
      t[r] = (int64_t)xt_index(&rng, classes);
      if (xt_unif(&rng) < 0.2 && ignored + 1 < n) {
        t[r] = -100;
        ignored++;
      }
      const size_t c = xt_index(&rng, classes);
      if (classes > 1 && (t[r] < 0 || (size_t)t[r] != c)) {
        x[r * classes + c] = -INFINITY;
        y[r * classes + c] = 0.0;
      }
    }
    xent_problem pb = xt_hard(n, classes, x, t);
    if (trial % 4 == 3) {
      pb.targets = NULL;
      pb.soft_targets = y;
    }
    stats_run r;
    run_stats(&pb, &r);
    xent_stats want;
    int64_t pred[16];
    double conf[16], ent[16];
    ref_stats(&pb, &want, pred, conf, ent);
    ck_assert_uint_eq(r.st.counted, want.counted);
    XT_CLOSE(r.st.accuracy, want.accuracy, 1e-15, 0.0);
    XT_CLOSE(r.st.mean_confidence, want.mean_confidence, 1e-13, 0.0);
    XT_CLOSE(r.st.mean_entropy, want.mean_entropy, 1e-12, 1e-14);
    XT_CLOSE(r.st.ece, want.ece, 1e-12, 1e-14);
    for (size_t i = 0; i < n; i++) {
      ck_assert_int_eq(r.predicted[i], pred[i]);
    }
    XT_ARRAY_CLOSE(r.confidence, conf, n, 1e-13, 0.0);
    XT_ARRAY_CLOSE(r.entropy, ent, n, 1e-12, 1e-14);
    free(x);
    free(y);
  }
}
END_TEST

/* torch.argmax of the probabilities: logits {0, 1e-20} give p = {0.5,
 * 0.5} exactly (exp(-1e-20) rounds to 1), so the prediction is class 0,
 * though the larger logit is class 1. */
START_TEST(predicted_ties_in_p_not_x) {
  const double x[2] = {0.0, 1e-20};
  const int64_t t[1] = {0};
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = 1;
  pb.classes = 2;
  pb.logits = x;
  pb.targets = t;
  int64_t pred[1] = {-5};
  xent_stats st;
  memset(&st, 0, sizeof st);
  st.predicted = pred;
  xent_outputs out = {0};
  out.stats = &st;
  XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
  ck_assert_int_eq(pred[0], 0);
  XT_CLOSE(st.accuracy, 1.0, 0.0, 0.0);
  XT_CLOSE(st.mean_confidence, 0.5, 0.0, 0.0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("stats");
  XT_ADD(s, predicted_ties_lowest_index);
  XT_ADD(s, confidence_and_entropy);
  XT_ADD(s, ece_by_hand);
  XT_ADD(s, stats_independent_of_options);
  XT_ADD(s, soft_target_accuracy);
  XT_ADD(s, soft_target_ties_lowest_index);
  XT_ADD(s, ece_bin_edge);
  XT_ADD(s, entropy_never_negative);
  XT_ADD(s, no_row_counted);
  XT_ADD(s, per_row_arrays_optional);
  XT_ADD(s, random_against_reference);
  XT_ADD(s, predicted_ties_in_p_not_x);
  return xt_run(s);
}
