/* The target distribution of one row (semantics 1), described once: which
 * labels, lambda, the smoothed on/off values over the row's unmasked
 * classes, the weights it needs. Loss, gradient, q and validation all read
 * this description, so a pairing mode or a smoothing convention is added
 * here only. */
#include <math.h>

#include "internal.h"

size_t xent__partner(const xent_problem *p, size_t n) {
  if (p->mixup_lambda == NULL)
    return n;
  switch (p->pairing) {
  case XENT_PAIR_FLIP:
    return p->n - 1 - n;
  case XENT_PAIR_ROLL:
    return (n + p->n - 1) % p->n;
  case XENT_PAIR_EXPLICIT:
    return (size_t)p->partners[n];
  }
  return n;
}

double xent__lambda(const xent_problem *p, size_t n) {
  if (p->mixup_lambda == NULL)
    return 1.0;
  return p->lambda_count == 1 ? p->mixup_lambda[0] : p->mixup_lambda[n];
}

/* On-top-of-off value `peak` and off value of a smoothed one-hot over K
 * unmasked classes (semantics 1.1): the label gets off + peak. */
static void onoff(const xent_problem *p, size_t k, double *peak, double *off) {
  const double eps = p->label_smoothing;
  if (eps == 0.0) {
    *peak = 1.0;
    *off = 0.0;
  } else if (p->smoothing == XENT_SMOOTH_UNIFORM) {
    *off = eps / (double)k;
    *peak = 1.0 - eps;
  } else {
    *off = eps / (double)(k - 1);
    *peak = 1.0 - eps - *off;
  }
}

static int masked_at(const xent_problem *p, size_t n, const double *x,
                     size_t c) {
  return (x != NULL ? x[c] : xent__logit(p, n, c)) == -INFINITY;
}

/* Sum of the weights of the classes not masked in row n. */
static double weight_unmasked(const xent_problem *p, const xent__plan *plan,
                              size_t n, const double *x, size_t masked) {
  if (masked == 0)
    return plan->weight_all;
  double sum = 0;
  for (size_t c = 0; c < p->classes; c++)
    if (!masked_at(p, n, x, c))
      sum += xent__weight(p, c);
  return sum;
}

xent_status xent__target_row(const xent_problem *p, const xent__plan *plan,
                             size_t n, const double *x, size_t masked,
                             xent__target *tg, xent_error *err) {
  const size_t C = p->classes;
  const double eps = p->label_smoothing;
  tg->masked = masked;
  tg->K = C - masked;
  if (p->smoothing == XENT_SMOOTH_OTHERS && eps > 0.0 && tg->K < 2)
    return xent__fail(err, XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, (int64_t)n,
                      -1);
  onoff(p, tg->K, &tg->peak, &tg->off);
  tg->keep = 1.0 - eps;
  tg->sw = weight_unmasked(p, plan, n, x, masked);
  tg->lam = xent__lambda(p, n);
  tg->mix = 0;
  tg->own = tg->other = 0.0;
  tg->t = tg->t2 = 0;
  tg->wq = 0.0;
  tg->dn = 1.0;
  if (p->targets == NULL) {
    tg->y = p->soft_targets + n * C;
    return XENT_OK;
  }
  tg->y = NULL;
  tg->t = tg->t2 = (size_t)p->targets[n];
  /* A masked label may carry weight only when its one-hot part is 0: with
   * 'others' the off value eps/(K-1) assumes the label is among the K. */
  const int strict = p->smoothing == XENT_SMOOTH_OTHERS || eps < 1.0;
  const double lam = tg->lam;
  double w_sum = tg->off * tg->sw;
  if (masked > 0 && masked_at(p, n, x, tg->t)) {
    if (lam > 0.0 && strict)
      return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS,
                        (int64_t)n, (int64_t)tg->t);
  } else {
    tg->own = tg->peak * lam;
    w_sum += tg->own * xent__weight(p, tg->t);
  }
  tg->dn = lam * xent__weight(p, tg->t);
  if (p->mixup_lambda != NULL) {
    const int64_t label = p->targets[xent__partner(p, n)];
    if (label == p->ignore_index)
      return xent__fail(err, XENT_ERR_IGNORED_PARTNER, XENT_ARG_MIXUP_PAIRING,
                        (int64_t)n, -1);
    tg->mix = 1;
    tg->t2 = (size_t)label;
    if (masked > 0 && masked_at(p, n, x, tg->t2)) {
      if (1.0 - lam > 0.0 && strict)
        return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_LOGITS,
                          (int64_t)n, (int64_t)tg->t2);
    } else {
      tg->other = tg->peak * (1.0 - lam);
      w_sum += tg->other * xent__weight(p, tg->t2);
    }
    tg->dn += (1.0 - lam) * xent__weight(p, tg->t2);
  }
  tg->wq = w_sum;
  return XENT_OK;
}

void xent__fill_q(const xent_problem *p, const xent__target *tg,
                  const double *x, size_t n, double *q) {
  /* reads x[c] before it writes q[c]: x may be q itself */
  for (size_t c = 0; c < p->classes; c++)
    q[c] = tg->masked > 0 && masked_at(p, n, x, c) ? 0.0 : xent__q(tg, c);
}
