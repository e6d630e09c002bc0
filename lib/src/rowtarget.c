/* The target distribution of one row (semantics 1), described once: which
 * labels, lambda, the smoothed on/off values over the row's unmasked
 * classes, the weights it needs. Loss, gradient, q and validation all read
 * this description, so a pairing mode or a smoothing convention is added
 * here only. */
#include <math.h>

#include "internal.h"

/* Whole samples are paired: position d of sample n with position d of
 * the partner sample, as timm's mixup pairs images. */
size_t xent__partner(const xent_problem *p, size_t r) {
  if (p->mixup_lambda == NULL)
    return r;
  const size_t n = r / p->inner, d = r % p->inner;
  size_t j = n;
  switch (p->pairing) {
  case XENT_PAIR_FLIP:
    j = p->n - 1 - n;
    break;
  case XENT_PAIR_ROLL:
    j = (n + p->n - 1) % p->n;
    break;
  case XENT_PAIR_EXPLICIT:
    j = (size_t)p->partners[n];
    break;
  }
  return j * p->inner + d;
}

double xent__lambda(const xent_problem *p, size_t r) {
  if (p->mixup_lambda == NULL)
    return 1.0;
  return p->lambda_count == 1 ? p->mixup_lambda[0]
                              : p->mixup_lambda[r / p->inner];
}

/* On-top-of-off value `peak` and off value of a smoothed one-hot over K
 * unmasked classes (semantics 1.1): the label gets off + peak. BINARY is
 * Keras' t (1 - eps) + eps/2, the same whatever K. */
static void onoff(const xent_problem *p, size_t k, double *peak, double *off) {
  const double eps = p->label_smoothing;
  if (eps == 0.0) {
    *peak = 1.0;
    *off = 0.0;
  } else if (p->smoothing == XENT_SMOOTH_UNIFORM) {
    *off = eps / (double)k;
    *peak = 1.0 - eps;
  } else if (p->smoothing == XENT_SMOOTH_BINARY) {
    *off = 0.5 * eps;
    *peak = 1.0 - eps;
  } else {
    *off = eps / (double)(k - 1);
    *peak = 1.0 - eps - *off;
  }
}

static int masked_at(const xent_problem *p, size_t r, const double *x,
                     size_t c) {
  return (x != NULL ? x[c] : xent__logit(p, r, c)) == -INFINITY;
}

/* Sum of the weights of the classes not masked in row r. */
static double weight_unmasked(const xent_problem *p, const xent__plan *plan,
                              size_t r, const double *x, size_t masked) {
  if (masked == 0)
    return plan->weight_all;
  double sum = 0;
  for (size_t c = 0; c < p->classes; c++)
    if (!masked_at(p, r, x, c))
      sum += xent__weight(p, c);
  return sum;
}

xent_status xent__target_row(const xent_problem *p, const xent__plan *plan,
                             size_t r, const double *x, size_t masked,
                             xent__target *tg, xent_error *err) {
  const size_t C = p->classes;
  const double eps = p->label_smoothing;
  const int64_t n = (int64_t)r;
  tg->masked = masked;
  tg->K = C - masked;
  if (p->smoothing == XENT_SMOOTH_OTHERS && eps > 0.0 && tg->K < 2)
    return xent__fail(err, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, n, -1);
  onoff(p, tg->K, &tg->peak, &tg->off);
  tg->keep = 1.0 - eps;
  tg->thr = plan->binary ? p->target_threshold : -1.0;
  tg->sw = weight_unmasked(p, plan, r, x, masked);
  tg->lam = xent__lambda(p, r);
  tg->mix = 0;
  tg->own = tg->other = 0.0;
  tg->t = tg->t2 = 0;
  tg->wq = 0.0;
  /* binary families: the mean is over elements, or rows (sum_classes) */
  const int elements = plan->binary && !p->sum_classes;
  tg->dn = elements ? (double)tg->K : 1.0;
  if (p->targets == NULL) {
    tg->y = p->soft_targets + xent__index(p, r, 0);
    tg->ys = xent__cfirst(p) ? p->inner : 1;
    return XENT_OK;
  }
  tg->y = NULL;
  tg->ys = 1;
  tg->t = tg->t2 = (size_t)p->targets[r];
  /* A masked label may carry weight only when its one-hot part is 0: with
   * 'others' the off value eps/(K-1) assumes the label is among the K. */
  const int strict = p->smoothing == XENT_SMOOTH_OTHERS || eps < 1.0;
  const double lam = tg->lam;
  double w_sum = tg->off * tg->sw;
  if (masked > 0 && masked_at(p, r, x, tg->t)) {
    if (lam > 0.0 && strict)
      return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, n,
                        (int64_t)tg->t);
  } else {
    tg->own = tg->peak * lam;
    w_sum += tg->own * xent__weight(p, tg->t);
  }
  if (!plan->binary)
    tg->dn = lam * xent__weight(p, tg->t);
  if (p->mixup_lambda != NULL) {
    const int64_t label = p->targets[xent__partner(p, r)];
    if (label == p->ignore_index)
      return xent__fail(err, XENT_ERR_IGNORED_PARTNER, XENT_ARG_MIXUP_PAIRING,
                        n, -1);
    tg->mix = 1;
    tg->t2 = (size_t)label;
    if (masked > 0 && masked_at(p, r, x, tg->t2)) {
      if (1.0 - lam > 0.0 && strict)
        return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_LOGITS, n,
                          (int64_t)tg->t2);
    } else if (tg->t2 == tg->t && tg->own != 0.0) {
      /* both one-hot parts on one class: lam + (1 - lam) is 1, and peak
       * alone keeps q exact (0 for 'others' at eps = 1) */
      w_sum += (tg->peak - tg->own) * xent__weight(p, tg->t);
      tg->own = tg->peak;
    } else {
      tg->other = tg->peak * (1.0 - lam);
      w_sum += tg->other * xent__weight(p, tg->t2);
    }
    if (!plan->binary)
      tg->dn += (1.0 - lam) * xent__weight(p, tg->t2);
  }
  tg->wq = w_sum;
  return XENT_OK;
}

void xent__target_like(const xent_problem *p, const xent__plan *plan,
                       const xent__target *tg0, size_t r, xent__target *tg) {
  *tg = *tg0;
  if (p->targets == NULL) {
    tg->y = p->soft_targets + xent__index(p, r, 0);
    return;
  }
  /* xent__target_row's label part when the label is not masked */
  tg->t = tg->t2 = (size_t)p->targets[r];
  const double w = xent__weight(p, tg->t);
  tg->own = tg->peak * tg->lam;
  tg->wq = tg->off * tg->sw + tg->own * w;
  if (!plan->binary)
    tg->dn = tg->lam * w;
}

void xent__fill_q(const xent_problem *p, const xent__target *tg,
                  const double *x, size_t r, double *q) {
  if (tg->y == NULL && tg->masked == 0 && tg->thr < 0.0) {
    /* the additions of xent__q, in its order */
    for (size_t c = 0; c < p->classes; c++)
      q[c] = tg->off;
    q[tg->t] += tg->own;
    q[tg->t2] += tg->other;
    return;
  }
  /* reads x[c] before it writes q[c]: x may be q itself */
  for (size_t c = 0; c < p->classes; c++)
    q[c] = tg->masked > 0 && masked_at(p, r, x, c) ? 0.0 : xent__q(tg, c);
}
