/*
 * testutil.h - helpers shared by the Check unit tests of libxent.
 *
 * - XT_CLOSE / XT_ARRAY_CLOSE: float comparison with a relative and an
 *   absolute tolerance that print both operands with %.17g on failure.
 * - xt_rng: a small deterministic generator (splitmix64), so that every
 *   "random" case is the same on every run.
 * - xt_ref_eval: an independent, deliberately plain implementation of
 *   /work/shared/spec/semantics.md (sections 1-3): it builds q explicitly,
 *   computes log_softmax with libm and sums - w_c q_c lp_c over every class.
 *   It shares no code with libxent; the tests compare the library with it.
 */
#ifndef XENT_TESTUTIL_H
#define XENT_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xent.h"

/* ------------------------------------------------------------ asserts -- */

/* |got - want| <= atol + rtol * |want|, and both are finite (or both equal
 * infinities). NaN never compares close. */
static inline int xt_close(double got, double want, double rtol, double atol) {
  if (isnan(got) || isnan(want)) {
    return 0;
  }
  if (isinf(got) || isinf(want)) {
    return got == want;
  }
  return fabs(got - want) <= atol + rtol * fabs(want);
}

#define XT_CLOSE(got, want, rtol, atol)                                        \
  do {                                                                         \
    const double xt_g_ = (got);                                                \
    const double xt_w_ = (want);                                               \
    ck_assert_msg(xt_close(xt_g_, xt_w_, (rtol), (atol)),                      \
                  "%s = %.17g, expected %s = %.17g (diff %.3g, rtol %g, "      \
                  "atol %g)",                                                  \
                  #got, xt_g_, #want, xt_w_, xt_g_ - xt_w_, (double)(rtol),    \
                  (double)(atol));                                             \
  } while (0)

/* Element-wise comparison of two arrays of `count` doubles; names the first
 * index that differs. */
#define XT_ARRAY_CLOSE(got, want, count, rtol, atol)                           \
  do {                                                                         \
    const double *xt_ga_ = (got);                                              \
    const double *xt_wa_ = (want);                                             \
    const size_t xt_n_ = (count);                                              \
    for (size_t xt_i_ = 0; xt_i_ < xt_n_; xt_i_++) {                           \
      ck_assert_msg(xt_close(xt_ga_[xt_i_], xt_wa_[xt_i_], (rtol), (atol)),    \
                    "%s[%zu] = %.17g, expected %s[%zu] = %.17g (diff %.3g, "   \
                    "rtol %g, atol %g)",                                       \
                    #got, xt_i_, xt_ga_[xt_i_], #want, xt_i_, xt_wa_[xt_i_],   \
                    xt_ga_[xt_i_] - xt_wa_[xt_i_], (double)(rtol),             \
                    (double)(atol));                                           \
    }                                                                          \
  } while (0)

/* Exact equality for statuses, with their names. */
#define XT_STATUS(got, want)                                                   \
  do {                                                                         \
    const xent_status xt_sg_ = (got);                                          \
    const xent_status xt_sw_ = (want);                                         \
    ck_assert_msg(xt_sg_ == xt_sw_, "%s returned %s (%d), expected %s (%d)",   \
                  #got, xent_status_name(xt_sg_), (int)xt_sg_,                 \
                  xent_status_name(xt_sw_), (int)xt_sw_);                      \
  } while (0)

/* ------------------------------------------------------------- random -- */

typedef struct xt_rng {
  uint64_t state;
} xt_rng;

static inline uint64_t xt_next(xt_rng *rng) {
  uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double xt_unif(xt_rng *rng) {
  return (double)(xt_next(rng) >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi). */
static inline double xt_range(xt_rng *rng, double lo, double hi) {
  return lo + (hi - lo) * xt_unif(rng);
}

/* Uniform integer in [0, count). */
static inline size_t xt_index(xt_rng *rng, size_t count) {
  return (size_t)(xt_next(rng) % (uint64_t)count);
}

/* Zeroed allocation that fails the test instead of returning NULL. */
static inline void *xt_alloc(size_t count, size_t size) {
  void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
  ck_assert_msg(p != NULL, "out of memory (%zu x %zu)", count, size);
  return p;
}

static inline double *xt_doubles(size_t count) {
  return (double *)xt_alloc(count, sizeof(double));
}

/* ------------------------------------------------- reference semantics -- */

/* A batch of hard labels with every other option at its default. */
static inline xent_problem xt_hard(size_t n, size_t classes,
                                   const double *logits,
                                   const int64_t *targets) {
  xent_problem pb;
  xent_problem_init(&pb);
  pb.n = n;
  pb.classes = classes;
  pb.logits = logits;
  pb.targets = targets;
  return pb;
}

/* binary16 and bfloat16 bit patterns to double, written from the formats'
 * definitions with ldexp (the library shifts bits instead). */
static inline double xt_half(uint16_t h) {
  const int sign = h >> 15;
  const int exp = (h >> 10) & 0x1f;
  const int man = h & 0x3ff;
  double v;
  if (exp == 0x1f) {
    v = man != 0 ? NAN : INFINITY;
  } else if (exp == 0) {
    v = ldexp((double)man, -24);
  } else {
    v = ldexp((double)(man + 1024), exp - 25);
  }
  return sign ? -v : v;
}

static inline double xt_bf16(uint16_t h) {
  const int sign = h >> 15;
  const int exp = (h >> 7) & 0xff;
  const int man = h & 0x7f;
  double v;
  if (exp == 0xff) {
    v = man != 0 ? NAN : INFINITY;
  } else if (exp == 0) {
    v = ldexp((double)man, -133);
  } else {
    v = ldexp((double)(man + 128), exp - 134);
  }
  return sign ? -v : v;
}

static inline double xt_logit(const xent_problem *pb, size_t n, size_t c) {
  const size_t i = n * pb->classes + c;
  switch (pb->dtype) {
  case XENT_F32:
    return (double)((const float *)pb->logits)[i];
  case XENT_F16:
    return xt_half(((const uint16_t *)pb->logits)[i]);
  case XENT_BF16:
    return xt_bf16(((const uint16_t *)pb->logits)[i]);
  default:
    return ((const double *)pb->logits)[i];
  }
}

static inline size_t xt_partner(const xent_problem *pb, size_t n) {
  switch (pb->pairing) {
  case XENT_PAIR_FLIP:
    return pb->n - 1 - n;
  case XENT_PAIR_ROLL:
    return (n + pb->n - 1) % pb->n;
  default:
    return (size_t)pb->partners[n];
  }
}

static inline int xt_ignored(const xent_problem *pb, size_t n) {
  return pb->targets != NULL && pb->targets[n] == pb->ignore_index;
}

/* Results of xt_ref_eval; every pointer may be NULL (not written). */
typedef struct xt_ref {
  double loss;        /* reduced loss (sum of l_n for NONE) */
  double denom;       /* D of the mean (semantics 3) */
  double *per_sample; /* n */
  double *grad;       /* n x classes */
  double *q;          /* n x classes */
  double *p;          /* n x classes */
} xt_ref;

/*
 * The definition, for a valid problem: q built explicitly (semantics 1),
 * l_n = - sum_c w_c q_nc lp_nc (2), D and the gradient (3). Straight loops.
 */
static inline void xt_ref_eval(const xent_problem *pb, xt_ref *r) {
  const size_t nrows = pb->n;
  const size_t ncls = pb->classes;
  double *lp = xt_doubles(ncls);
  double *p = xt_doubles(ncls);
  double *q = xt_doubles(ncls);
  double total = 0.0;
  double denom = 0.0;
  for (size_t n = 0; n < nrows; n++) {
    const int ignored = xt_ignored(pb, n);
    /* log_softmax: m = max x, s = sum exp(x - m), lp = (x - m) - log s */
    double m = -INFINITY;
    size_t k = 0;
    int valid = 1;
    for (size_t c = 0; c < ncls; c++) {
      const double x = xt_logit(pb, n, c);
      if (isnan(x) || x == INFINITY) {
        valid = 0;
      }
      if (x != -INFINITY) {
        k++;
      }
      if (x > m) {
        m = x;
      }
    }
    if (k == 0) {
      valid = 0;
    }
    double s = 0.0;
    for (size_t c = 0; valid && c < ncls; c++) {
      const double x = xt_logit(pb, n, c);
      if (x != -INFINITY) {
        s += exp(x - m);
      }
    }
    for (size_t c = 0; c < ncls; c++) {
      const double x = xt_logit(pb, n, c);
      if (valid && x != -INFINITY) {
        lp[c] = (x - m) - log(s);
        p[c] = exp(x - m) / s;
      } else {
        lp[c] = 0.0;
        p[c] = 0.0;
      }
    }
    /* q */
    double dn = 0.0;
    for (size_t c = 0; c < ncls; c++) {
      q[c] = 0.0;
    }
    if (!ignored) {
      const double eps = pb->label_smoothing;
      const double kd = (double)k;
      if (pb->soft_targets != NULL) {
        for (size_t c = 0; c < ncls; c++) {
          if (xt_logit(pb, n, c) != -INFINITY) {
            q[c] = (1.0 - eps) * pb->soft_targets[n * ncls + c] + eps / kd;
          }
        }
        dn = 1.0;
      } else {
        double on, off;
        if (pb->smoothing == XENT_SMOOTH_OTHERS) {
          on = 1.0 - eps;
          off = eps / (kd - 1.0);
        } else {
          on = 1.0 - eps + eps / kd;
          off = eps / kd;
        }
        const size_t t = (size_t)pb->targets[n];
        double lam = 1.0;
        size_t tp = t;
        if (pb->mixup_lambda != NULL) {
          lam = pb->mixup_lambda[pb->lambda_count == 1 ? 0 : n];
          tp = (size_t)pb->targets[xt_partner(pb, n)];
        }
        for (size_t c = 0; c < ncls; c++) {
          if (xt_logit(pb, n, c) == -INFINITY) {
            continue;
          }
          const double s1 = c == t ? on : off;
          const double s2 = c == tp ? on : off;
          q[c] = pb->mixup_lambda != NULL ? lam * s1 + (1.0 - lam) * s2 : s1;
        }
        const double wt = pb->class_weights ? pb->class_weights[t] : 1.0;
        const double wp = pb->class_weights ? pb->class_weights[tp] : 1.0;
        dn = pb->mixup_lambda != NULL ? lam * wt + (1.0 - lam) * wp : wt;
      }
    }
    double loss = 0.0;
    double wq = 0.0;
    for (size_t c = 0; c < ncls; c++) {
      const double w = pb->class_weights ? pb->class_weights[c] : 1.0;
      loss -= w * q[c] * lp[c];
      wq += w * q[c];
    }
    if (ignored) {
      loss = 0.0;
    }
    total += loss;
    denom += dn;
    if (r->per_sample != NULL) {
      r->per_sample[n] = loss;
    }
    for (size_t c = 0; c < ncls; c++) {
      const double w = pb->class_weights ? pb->class_weights[c] : 1.0;
      if (r->q != NULL) {
        r->q[n * ncls + c] = q[c];
      }
      if (r->p != NULL) {
        r->p[n * ncls + c] = p[c];
      }
      if (r->grad != NULL) {
        const int masked = xt_logit(pb, n, c) == -INFINITY;
        r->grad[n * ncls + c] =
            (ignored || masked) ? 0.0 : p[c] * wq - w * q[c];
      }
    }
  }
  if (pb->soft_targets != NULL) {
    denom = (double)nrows;
  }
  r->denom = denom;
  if (pb->reduction == XENT_REDUCE_MEAN) {
    r->loss = total / denom;
    for (size_t i = 0; r->grad != NULL && i < nrows * ncls; i++) {
      r->grad[i] /= denom;
    }
  } else {
    r->loss = total;
  }
  free(lp);
  free(p);
  free(q);
}

/* -------------------------------------------------------------- skips -- */

/*
 * A kernel this CPU or build lacks (no AVX2 or AVX-512, a build without
 * SLEEF): the comparison against it cannot run. Says so once per kernel
 * and process on stdout as "SKIP: ...", which tests/run-check counts as a
 * skipped check in the stage's summary: a build that compares scalar with
 * scalar shows it. Returns 1 when the caller must skip.
 */
static inline int xt_skip_kernel(xent_kernel k) {
  static _Atomic unsigned said;
  if (xent_kernel_supported(k))
    return 0;
  const unsigned bit = 1u << ((unsigned)k & 7u);
  if ((atomic_fetch_or(&said, bit) & bit) == 0) {
    printf("SKIP: the %s kernel is not supported here (CPU or build)\n",
           xent_kernel_name(k));
    fflush(stdout);
  }
  return 1;
}

/* ---------------------------------------------------------- the suite -- */

/* Runs one suite and returns the process exit status. */
static inline int xt_run(Suite *suite) {
  SRunner *runner = srunner_create(suite);
  srunner_run_all(runner, CK_NORMAL);
  const int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Adds a test case with one test and a generous timeout (sanitizers and
 * valgrind are slow). */
#define XT_ADD(suite, fn)                                                      \
  do {                                                                         \
    TCase *xt_tc_ = tcase_create(#fn);                                         \
    tcase_set_timeout(xt_tc_, 120);                                            \
    tcase_add_test(xt_tc_, fn);                                                \
    suite_add_tcase((suite), xt_tc_);                                          \
  } while (0)

#endif /* XENT_TESTUTIL_H */
