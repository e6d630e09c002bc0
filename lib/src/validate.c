/* Validation: every input error of semantics 4 and of the loss families'
 * parameters is found here, with its position, before any output is
 * written; what the computation needs from the whole batch (the mean's
 * denominator) is derived on the way. */
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

static int is_focal(xent_family f) {
  return f == XENT_LOSS_SIGMOID_FOCAL || f == XENT_LOSS_SOFTMAX_FOCAL;
}

/* Bounds of the loss and of the gradient, summed or maximised over rows. */
typedef struct bounds {
  double wp_sum; /* binary: sum_c w_c (1 + max(1, pw_c))                  */
  double wp_max; /* binary: max_c w_c max(1, pw_c)                        */
  double loss;   /* sum over rows of a bound on |l_r|                     */
  double grad;   /* max over rows of a bound on |dl_r/dx| times D         */
} bounds;

/* Row scans of up to ROWS rows at once through a stack tile: the logits
 * may not be written anywhere before validation ends. Channels-first rows
 * are read as they lie, a class of up to ROWS positions at a time, and
 * scanned across positions (scan_cols). */
enum { ROWS = 64, TILE = 1024 };

static void scan_rows(const xent_problem *p, const xent__kernels *k, size_t r0,
                      size_t count, xent__scan *sc) {
  const size_t C = p->classes;
  if (p->dtype == XENT_F64 && !xent__cfirst(p)) {
    k->scan(xent__row(p, k, r0, NULL), C, sc);
    return;
  }
  double buf[TILE];
  const size_t cols = TILE / count;
  for (size_t i = 0; i < count; i++) {
    sc[i].max = -INFINITY;
    sc[i].min_finite = INFINITY;
    sc[i].masked = 0;
    sc[i].bad = 0;
  }
  if (xent__cfirst(p)) {
    if (p->dtype == XENT_F64) {
      /* the next block of the same sample, for the prefetch */
      const size_t left = p->inner - r0 % p->inner - count;
      k->scan_cols((const double *)p->logits + xent__index(p, r0, 0), p->inner,
                   C, count, left < ROWS ? left : ROWS, sc);
      return;
    }
    for (size_t c0 = 0; c0 < C; c0 += cols) {
      const size_t m = C - c0 < cols ? C - c0 : cols;
      xent__load_tile(p, k, r0, count, c0, m, buf, count);
      k->scan_cols(buf, count, m, count, 0, sc);
    }
    return;
  }
  for (size_t c0 = 0; c0 < C; c0 += cols) {
    const size_t m = C - c0 < cols ? C - c0 : cols;
    xent__load(p, k, r0, count, c0, m, buf, m);
    for (size_t i = 0; i < count; i++) {
      xent__scan part;
      k->scan(buf + i * m, m, &part);
      xent__scan *s = &sc[i];
      s->max = part.max > s->max ? part.max : s->max;
      s->min_finite =
          part.min_finite < s->min_finite ? part.min_finite : s->min_finite;
      s->masked += part.masked;
      s->bad |= part.bad;
    }
  }
}

static xent_status check_options(const xent_problem *p, unsigned what,
                                 xent__plan *plan, xent_error *err) {
  if ((unsigned)p->dtype > XENT_BF16)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_LOGITS, -1, -1);
  if ((unsigned)p->family > XENT_LOSS_POLY1)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_FAMILY, -1, -1);
  if ((unsigned)p->smoothing > XENT_SMOOTH_BINARY)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_SMOOTHING, -1, -1);
  if ((unsigned)p->reduction > XENT_REDUCE_NONE)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_REDUCTION, -1, -1);
  if ((unsigned)p->pairing > XENT_PAIR_EXPLICIT)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_MIXUP_PAIRING, -1, -1);
  if ((unsigned)p->class_axis > XENT_CLASS_AXIS_LAST)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_CLASS_AXIS, -1, -1);
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
  plan->binary = xent__is_binary(p->family);
  if (!plan->hard && p->smoothing == XENT_SMOOTH_OTHERS)
    return xent__fail(err, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, -1, -1);
  if (!plan->hard && plan->mixup)
    return xent__fail(err, XENT_ERR_MIXUP_SOFT, XENT_ARG_MIXUP_LAMBDA, -1, -1);
  /* options that change q */
  if (!plan->binary && p->smoothing == XENT_SMOOTH_BINARY)
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_SMOOTHING, -1, -1);
  if (isnan(p->target_threshold))
    return xent__fail(err, XENT_ERR_THRESHOLD, XENT_ARG_TARGET_THRESHOLD, -1,
                      -1);
  if (!plan->binary && p->target_threshold >= 0.0)
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_TARGET_THRESHOLD,
                      -1, -1);
  if (!(what & XENT__CHECK_REDUCE))
    return XENT_OK;
  /* the loss's own parameters */
  if (!plan->binary && p->pos_weight != NULL)
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_POS_WEIGHT, -1,
                      -1);
  if (p->sum_classes && (!plan->binary || p->reduction != XENT_REDUCE_MEAN))
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_SUM_CLASSES, -1,
                      -1);
  if (!is_focal(p->family) && p->focal_alpha_per_class != NULL)
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_FOCAL_ALPHA, -1,
                      -1);
  if (is_focal(p->family)) {
    if (!(p->focal_gamma >= 0.0 && p->focal_gamma < INFINITY))
      return xent__fail(err, XENT_ERR_FOCAL_GAMMA, XENT_ARG_FOCAL_GAMMA, -1,
                        -1);
    if (!(p->focal_alpha <= 1.0))
      return xent__fail(err, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1,
                        -1);
  }
  if (p->family == XENT_LOSS_POLY1 && !isfinite(p->poly_epsilon))
    return xent__fail(err, XENT_ERR_POLY_EPSILON, XENT_ARG_POLY_EPSILON, -1,
                      -1);
  return XENT_OK;
}

/* A per-class vector of non-negative finite values (class weights,
 * pos_weight): its sum into *sum; the first bad class is `status`. */
static xent_status check_per_class(const double *v, size_t C,
                                   xent_status status, xent_arg arg,
                                   double *sum, xent_error *err) {
  double s = 0;
  for (size_t c = 0; c < C; c++) {
    if (!(v[c] >= 0.0 && v[c] < INFINITY))
      return xent__fail(err, status, arg, -1, (int64_t)c);
    s += v[c];
  }
  if (!(s < INFINITY))
    return xent__fail(err, XENT_ERR_OVERFLOW, arg, -1, -1);
  *sum = s;
  return XENT_OK;
}

static xent_status check_vectors(const xent_problem *p, xent__plan *plan,
                                 int reduce, bounds *b, xent_error *err) {
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
  xent_status st = XENT_OK;
  if (reduce) {
    double sum;
    if (p->class_weights != NULL) {
      st = check_per_class(p->class_weights, C, XENT_ERR_WEIGHT,
                           XENT_ARG_CLASS_WEIGHTS, &sum, err);
      if (st != XENT_OK)
        return st;
      plan->weight_all = sum;
    }
    if (p->pos_weight != NULL) {
      st = check_per_class(p->pos_weight, C, XENT_ERR_POS_WEIGHT,
                           XENT_ARG_POS_WEIGHT, &sum, err);
      if (st != XENT_OK)
        return st;
    }
    const double *a = p->focal_alpha_per_class;
    if (a != NULL)
      for (size_t c = 0; c < C; c++)
        if (!in_unit(a[c]))
          return xent__fail(err, XENT_ERR_FOCAL_ALPHA, XENT_ARG_FOCAL_ALPHA, -1,
                            (int64_t)c);
    if (plan->binary) {
      b->wp_sum = b->wp_max = 0.0;
      for (size_t c = 0; c < C; c++) {
        const double pw = p->pos_weight != NULL ? p->pos_weight[c] : 1.0;
        const double wp = xent__weight(p, c) * (pw > 1.0 ? pw : 1.0);
        b->wp_sum += xent__weight(p, c) + wp;
        b->wp_max = wp > b->wp_max ? wp : b->wp_max;
      }
    }
  }
  if (plan->hard)
    for (size_t r = 0; r < plan->rows; r++) {
      const int64_t t = p->targets[r];
      if (t != p->ignore_index && (t < 0 || (uint64_t)t >= C))
        return xent__fail(err, XENT_ERR_LABEL, XENT_ARG_TARGETS, (int64_t)r,
                          -1);
    }
  return XENT_OK;
}

/* The soft_sum of a row computed ahead (channels-first blocks), or ok -1:
 * not computed. */
typedef struct soft_pre {
  int ok[ROWS];
  double sum[ROWS];
} soft_pre;

/* soft_sum of rows [r0, r0 + count) of channels-first soft targets, read
 * as they lie, a class of `count` positions at a time (soft_cols). */
static void soft_rows(const xent_problem *p, const xent__plan *plan, size_t r0,
                      size_t count, soft_pre *pre) {
  for (size_t i = 0; i < count; i++) {
    pre->ok[i] = 1;
    pre->sum[i] = 0.0;
  }
  const size_t left = p->inner - r0 % p->inner - count;
  plan->k->soft_cols(p->soft_targets + xent__index(p, r0, 0), p->inner,
                     p->class_weights, p->classes, count,
                     left < ROWS ? left : ROWS, plan->binary ? 1.0 : DBL_MAX,
                     pre->ok, pre->sum);
}

/* Row r with soft targets: their values (non-negative and finite, or in
 * [0, 1] for the binary families), mass on masked classes, and
 * sum_c w_c q_c (into *wq). */
static xent_status check_soft_row(const xent_problem *p, const xent__plan *plan,
                                  size_t r, const xent__target *tg, int pre_ok,
                                  double pre_sum, double *wq, xent_error *err) {
  const size_t C = p->classes;
  if (tg->masked == 0) {
    /* the common case in one kernel pass (wq only bounds the results);
     * the loop below finds the position of an error */
    double sum = pre_sum;
    int ok = pre_ok;
    if (ok < 0 && tg->ys == 1)
      ok = plan->k->soft_sum(tg->y, p->class_weights, C,
                             plan->binary ? 1.0 : DBL_MAX, &sum);
    if (ok > 0) {
      *wq = tg->keep * sum + tg->off * tg->sw;
      return XENT_OK;
    }
  }
  double w_sum = 0;
  for (size_t c = 0; c < C; c++) {
    const double v = tg->y[c * tg->ys];
    if (plan->binary ? !in_unit(v) : !(v >= 0.0 && v < INFINITY))
      return xent__fail(
          err, plan->binary ? XENT_ERR_BINARY_TARGET : XENT_ERR_SOFT_TARGET,
          XENT_ARG_SOFT_TARGETS, (int64_t)r, (int64_t)c);
    if (tg->masked > 0 && xent__logit(p, r, c) == -INFINITY) {
      if (v * tg->keep > 0.0)
        return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_SOFT_TARGETS,
                          (int64_t)r, (int64_t)c);
    } else {
      w_sum += xent__weight(p, c) * v;
    }
  }
  *wq = tg->keep * w_sum + tg->off * tg->sw;
  return XENT_OK;
}

/*
 * Bounds on |l_r| and on the gradient (times D) of a valid row whose
 * finite logits span `span` and reach `absmax` in absolute value: inputs
 * whose results could overflow are refused before anything is written.
 * |lp_c| <= span + log K, so |l_r| <= wq (span + log K) for the softmax
 * families; a binary element is below w (1 + max(1, pw)) (|x| + 1).
 */
static int row_bounds(const xent_problem *p, const xent__target *tg, double wq,
                      double span, double absmax, double log_k, const bounds *b,
                      double *loss, double *grad) {
  const double lim = DBL_MAX / 16;
  const double lp = span + log_k + 1.0;
  const double gamma = p->focal_gamma;
  switch (p->family) {
  case XENT_LOSS_CROSS_ENTROPY: {
    /* the closed form's partial sums (smoothing only): sw (span + log K) */
    const double spread = tg->off > 0.0 ? tg->sw * lp : 0.0;
    *loss = wq * lp;
    *grad = 2.0 * wq;
    return spread < lim;
  }
  case XENT_LOSS_SOFTMAX_FOCAL:
    /* B_c <= alpha_c (1 + 2 (|lp_c| + 1)) */
    *loss = wq * lp;
    *grad = 2.0 * wq * (1.0 + 2.0 * (lp + 1.0));
    return 1;
  case XENT_LOSS_POLY1:
    *loss = wq * (lp + fabs(p->poly_epsilon));
    *grad = 2.0 * wq * (1.0 + fabs(p->poly_epsilon));
    return 1;
  case XENT_LOSS_BINARY_CROSS_ENTROPY:
  case XENT_LOSS_SIGMOID_FOCAL:
    break;
  }
  *loss = b->wp_sum * (absmax + 1.0);
  *grad = 2.0 * b->wp_max;
  if (p->family == XENT_LOSS_SIGMOID_FOCAL && gamma > 0.0)
    /* gamma (1 - p_t)^(gamma - 1) p (1 - p) ce: 1 - p_t is 0 or at least
     * 2^-53, so the power is below 2^53 when gamma < 1 */
    *grad +=
        b->wp_max * (2.0 * absmax + 2.0) * gamma * (gamma < 1.0 ? 0x1p53 : 1.0);
  return 1;
}

xent_status xent__check_shape(const xent_problem *p, xent_error *err) {
  const size_t N = p->n, C = p->classes, I = p->inner;
  if (I == 0)
    return xent__fail(err, XENT_ERR_SHAPE, XENT_ARG_INNER, -1, -1);
  if (N == 0 || C == 0 || N > SIZE_MAX / I || N * I > SIZE_MAX / C / 64 ||
      N * I > (size_t)INT64_MAX || C > (size_t)INT64_MAX)
    return xent__fail(err, XENT_ERR_SHAPE, XENT_ARG_SHAPE, -1, -1);
  return XENT_OK;
}

xent_status xent__validate(const xent_problem *p, unsigned what,
                           xent__plan *plan, xent_error *err) {
  if (p == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  xent_status st = xent__check_shape(p, err);
  if (st != XENT_OK)
    return st;
  const size_t N = p->n, C = p->classes, I = p->inner;
  plan->rows = N * I;
  if ((what & XENT__CHECK_LOGITS) && p->logits == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_LOGITS, -1, -1);
  const int reduce = (what & XENT__CHECK_REDUCE) != 0;
  bounds b = {0, 0, 0, 0};
  st = check_options(p, what, plan, err);
  if (st == XENT_OK)
    st = check_vectors(p, plan, reduce, &b, err);
  if (st != XENT_OK)
    return st;

  const size_t R = plan->rows;
  const int has_logits = p->logits != NULL;
  const double log_classes = log((double)C);
  plan->any_masked = 0;
  double dsum = 0;
  /* a row with no masked class, whose description the next such rows
   * share but for the label (without mixup) */
  xent__target tg0;
  int have0 = 0;
  for (size_t r0 = 0; r0 < R;) {
    size_t count = 1;
    if (xent__cfirst(p)) {
      const size_t left = I - r0 % I;
      count = left < ROWS ? left : ROWS;
    }
    xent__scan sc[ROWS];
    soft_pre pre;
    const int ignored0 = plan->hard && p->targets[r0] == p->ignore_index;
    if (has_logits && (count > 1 || !ignored0))
      scan_rows(p, plan->k, r0, count, sc);
    for (size_t i = 0; i < count; i++)
      pre.ok[i] = -1;
    if (!plan->hard && xent__cfirst(p))
      soft_rows(p, plan, r0, count, &pre);
    for (size_t i = 0; i < count; i++) {
      const size_t r = r0 + i;
      if (plan->hard && p->targets[r] == p->ignore_index)
        continue;
      size_t masked = 0;
      double span = 0, absmax = 0;
      if (has_logits) {
        if (sc[i].bad) {
          size_t c = 0;
          while (c < C && xent__logit(p, r, c) < INFINITY)
            c++;
          return xent__fail(err, XENT_ERR_LOGIT, XENT_ARG_LOGITS, (int64_t)r,
                            (int64_t)c);
        }
        if (sc[i].masked == C)
          return xent__fail(err, XENT_ERR_ROW_MASKED, XENT_ARG_LOGITS,
                            (int64_t)r, -1);
        masked = sc[i].masked;
        span = sc[i].max - sc[i].min_finite;
        absmax = fmax(fabs(sc[i].max), fabs(sc[i].min_finite));
        plan->any_masked |= masked > 0;
      }
      xent__target tg;
      const xent__target *tp = &tg;
      if (have0 && masked == 0) {
        /* without class weights a label changes nothing read below */
        if (plan->hard && p->class_weights == NULL)
          tp = &tg0;
        else
          xent__target_like(p, plan, &tg0, r, &tg);
      } else {
        st = xent__target_row(p, plan, r, NULL, masked, &tg, err);
        if (st == XENT_OK && masked == 0 && !plan->mixup) {
          tg0 = tg;
          have0 = 1;
        }
      }
      double wq = tp->wq;
      if (st == XENT_OK && !plan->hard)
        st = check_soft_row(p, plan, r, tp, pre.ok[i], pre.sum[i], &wq, err);
      if (st != XENT_OK)
        return st;
      if (!reduce)
        continue;
      const double log_k = masked == 0 ? log_classes : log((double)tp->K);
      double loss, grad;
      const int ok =
          row_bounds(p, tp, wq, span, absmax, log_k, &b, &loss, &grad);
      const double lim = DBL_MAX / 16;
      if (!ok || !(loss < lim) || !(grad < lim))
        return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_LOGITS, (int64_t)r,
                          -1);
      b.loss += loss;
      b.grad = grad > b.grad ? grad : b.grad;
      dsum += tp->dn;
    }
    r0 += count;
  }
  plan->denom = 1.0;
  if (reduce) {
    if (p->reduction == XENT_REDUCE_MEAN) {
      plan->denom = plan->hard || plan->binary ? dsum : (double)R;
      if (!(plan->denom > 0.0))
        return xent__fail(err, XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION,
                          -1, -1);
    }
    /* 1/D bounds every coefficient the gradient divides by D. */
    if (!(b.loss / plan->denom < DBL_MAX / 16) ||
        !(b.grad / plan->denom < DBL_MAX / 16) ||
        !(1.0 / plan->denom < DBL_MAX / 16))
      return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_NONE, -1, -1);
  }
  return XENT_OK;
}
