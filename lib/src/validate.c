/* Validation: every input error of semantics 4 is found here, with its
 * position, before any output is written; what the computation needs from
 * the whole batch (the mean's denominator) is derived on the way. */
#include <float.h>
#include <math.h>

#include "internal.h"

xent_status xent__fail(xent_error *err, xent_status status, xent_arg arg,
                       int64_t row, int64_t col) {
  if (err != NULL) {
    err->status = status;
    err->arg = arg;
    err->row = row;
    err->col = col;
  }
  return status;
}

static int in_unit(double v) {
  return v >= 0.0 && v <= 1.0;
}

/* The scan of row n of converted logits, a stack block at a time: the
 * whole row may not be written anywhere before validation ends. */
static void scan_converted(const xent_problem *p, const xent__kernels *k,
                           size_t n, xent__scan *out) {
  enum { BLOCK = 256 };
  double buf[BLOCK];
  const size_t C = p->classes;
  out->max = -INFINITY;
  out->min_finite = INFINITY;
  out->masked = 0;
  out->bad = 0;
  for (size_t i = 0; i < C; i += BLOCK) {
    const size_t m = C - i < BLOCK ? C - i : BLOCK;
    xent__scan part;
    xent__row_part(p, k, n, i, m, buf);
    k->scan(buf, m, &part);
    out->max = part.max > out->max ? part.max : out->max;
    out->min_finite =
        part.min_finite < out->min_finite ? part.min_finite : out->min_finite;
    out->masked += part.masked;
    out->bad |= part.bad;
  }
}

static xent_status check_options(const xent_problem *p, xent__plan *plan,
                                 xent_error *err) {
  if ((unsigned)p->dtype > XENT_BF16)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_LOGITS, -1, -1);
  if ((unsigned)p->smoothing > XENT_SMOOTH_OTHERS)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_SMOOTHING, -1, -1);
  if ((unsigned)p->reduction > XENT_REDUCE_NONE)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_REDUCTION, -1, -1);
  if ((unsigned)p->pairing > XENT_PAIR_EXPLICIT)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_MIXUP_PAIRING, -1, -1);
  plan->k = xent__kernels_get(p->kernel);
  if (plan->k == NULL)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_KERNEL, -1, -1);
  if ((p->targets == NULL) == (p->soft_targets == NULL))
    return xent__fail(err, XENT_ERR_TARGETS, XENT_ARG_TARGETS, -1, -1);
  if (!in_unit(p->label_smoothing))
    return xent__fail(err, XENT_ERR_SMOOTHING, XENT_ARG_LABEL_SMOOTHING, -1,
                      -1);
  plan->hard = p->targets != NULL;
  plan->mixup = p->mixup_lambda != NULL;
  if (!plan->hard && p->smoothing == XENT_SMOOTH_OTHERS)
    return xent__fail(err, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, -1, -1);
  if (!plan->hard && plan->mixup)
    return xent__fail(err, XENT_ERR_MIXUP_SOFT, XENT_ARG_MIXUP_LAMBDA, -1, -1);
  return XENT_OK;
}

static xent_status check_vectors(const xent_problem *p, xent__plan *plan,
                                 int check_weights, xent_error *err) {
  const size_t N = p->n, C = p->classes;
  if (plan->mixup) {
    if (p->lambda_count != 1 && p->lambda_count != N)
      return xent__fail(err, XENT_ERR_SHAPE, XENT_ARG_MIXUP_LAMBDA, -1, -1);
    for (size_t i = 0; i < p->lambda_count; i++)
      if (!in_unit(p->mixup_lambda[i]))
        return xent__fail(err, XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA,
                          p->lambda_count == 1 ? -1 : (int64_t)i, -1);
    if (p->pairing == XENT_PAIR_EXPLICIT) {
      if (p->partners == NULL)
        return xent__fail(err, XENT_ERR_NULL, XENT_ARG_MIXUP_PAIRING, -1, -1);
      for (size_t i = 0; i < N; i++)
        if (p->partners[i] < 0 || (uint64_t)p->partners[i] >= N)
          return xent__fail(err, XENT_ERR_PARTNER, XENT_ARG_MIXUP_PAIRING,
                            (int64_t)i, -1);
    }
  }
  plan->weight_all = (double)C;
  if (p->class_weights != NULL && check_weights) {
    double sum = 0;
    for (size_t c = 0; c < C; c++) {
      const double w = p->class_weights[c];
      if (!(w >= 0.0 && w < INFINITY))
        return xent__fail(err, XENT_ERR_WEIGHT, XENT_ARG_CLASS_WEIGHTS, -1,
                          (int64_t)c);
      sum += w;
    }
    if (!(sum < INFINITY))
      return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_CLASS_WEIGHTS, -1, -1);
    plan->weight_all = sum;
  }
  if (plan->hard)
    for (size_t n = 0; n < N; n++) {
      const int64_t t = p->targets[n];
      if (t != p->ignore_index && (t < 0 || (uint64_t)t >= C))
        return xent__fail(err, XENT_ERR_LABEL, XENT_ARG_TARGETS, (int64_t)n,
                          -1);
    }
  return XENT_OK;
}

/* Row n with soft targets: their values, mass on masked classes, and
 * sum_c w_c q_c (into *wq). */
static xent_status check_soft_row(const xent_problem *p, size_t n,
                                  const xent__target *tg, double *wq,
                                  xent_error *err) {
  double w_sum = 0;
  for (size_t c = 0; c < p->classes; c++) {
    const double v = tg->y[c];
    if (!(v >= 0.0 && v < INFINITY))
      return xent__fail(err, XENT_ERR_SOFT_TARGET, XENT_ARG_SOFT_TARGETS,
                        (int64_t)n, (int64_t)c);
    if (tg->masked > 0 && xent__logit(p, n, c) == -INFINITY) {
      if (v * tg->keep > 0.0)
        return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_SOFT_TARGETS,
                          (int64_t)n, (int64_t)c);
    } else {
      w_sum += xent__weight(p, c) * v;
    }
  }
  *wq = tg->keep * w_sum + tg->off * tg->sw;
  return XENT_OK;
}

xent_status xent__validate(const xent_problem *p, unsigned what,
                           xent__plan *plan, xent_error *err) {
  if (p == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const size_t N = p->n, C = p->classes;
  if (N == 0 || C == 0 || N > SIZE_MAX / C / sizeof(double) ||
      N > (size_t)INT64_MAX || C > (size_t)INT64_MAX)
    return xent__fail(err, XENT_ERR_SHAPE, XENT_ARG_SHAPE, -1, -1);
  if ((what & XENT__CHECK_LOGITS) && p->logits == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_LOGITS, -1, -1);
  xent_status st = check_options(p, plan, err);
  if (st == XENT_OK)
    st = check_vectors(p, plan, (what & XENT__CHECK_REDUCE) != 0, err);
  if (st != XENT_OK)
    return st;

  const int has_logits = p->logits != NULL;
  const double log_classes = log((double)C);
  plan->any_masked = 0;
  double dsum = 0, bound_sum = 0, wq_max = 0;
  for (size_t n = 0; n < N; n++) {
    if (plan->hard && p->targets[n] == p->ignore_index)
      continue;
    size_t masked = 0;
    double span = 0;
    if (has_logits) {
      xent__scan sc;
      if (p->dtype == XENT_F64)
        plan->k->scan(xent__row(p, plan->k, n, NULL), C, &sc);
      else
        scan_converted(p, plan->k, n, &sc);
      if (sc.bad) {
        size_t c = 0;
        while (c < C && xent__logit(p, n, c) < INFINITY)
          c++;
        return xent__fail(err, XENT_ERR_LOGIT, XENT_ARG_LOGITS, (int64_t)n,
                          (int64_t)c);
      }
      if (sc.masked == C)
        return xent__fail(err, XENT_ERR_ROW_MASKED, XENT_ARG_LOGITS, (int64_t)n,
                          -1);
      masked = sc.masked;
      span = sc.max - sc.min_finite;
      plan->any_masked |= masked > 0;
    }
    xent__target tg;
    st = xent__target_row(p, plan, n, NULL, masked, &tg, err);
    double wq = tg.wq;
    if (st == XENT_OK && !plan->hard)
      st = check_soft_row(p, n, &tg, &wq, err);
    if (st != XENT_OK)
      return st;
    /* |lp_c| <= span + log K, so |l_n| <= wq (span + log K): bounding it
     * here keeps infinities out of every output. */
    if (!(what & XENT__CHECK_REDUCE))
      continue;
    /* The closed form's partial sums (smoothing only) are bounded by
     * sw (span + log K). */
    const double log_k = masked == 0 ? log_classes : log((double)tg.K);
    const double bound = wq * (span + log_k + 1.0);
    const double spread = tg.off > 0.0 ? tg.sw * (span + log_k + 1.0) : 0.0;
    if (!(bound < DBL_MAX / 16) || !(spread < DBL_MAX / 16))
      return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_LOGITS, (int64_t)n,
                        -1);
    bound_sum += bound;
    wq_max = wq > wq_max ? wq : wq_max;
    dsum += tg.dn;
  }
  plan->denom = 1.0;
  if (what & XENT__CHECK_REDUCE) {
    if (p->reduction == XENT_REDUCE_MEAN) {
      plan->denom = plan->hard ? dsum : (double)N;
      if (!(plan->denom > 0.0))
        return xent__fail(err, XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION,
                          -1, -1);
    }
    /* 1/D bounds every coefficient the gradient divides by D. */
    if (!(bound_sum / plan->denom < DBL_MAX / 16) ||
        !(2.0 * wq_max / plan->denom < DBL_MAX / 16) ||
        !(1.0 / plan->denom < DBL_MAX / 16))
      return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_NONE, -1, -1);
  }
  return XENT_OK;
}
