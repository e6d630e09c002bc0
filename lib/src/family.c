/* The loss of one row for each family, with its gradient, q, probabilities
 * and element losses (formulas in xent.h, "Loss families"). A row arrives
 * valid, not ignored, with contiguous double logits; evaluate.c handles
 * layouts, blocks, ignored rows, reductions and statistics. */
#include <math.h>
#include <string.h>

#include "internal.h"

size_t xent__family_scratch(const xent_problem *p) {
  switch (p->family) {
  case XENT_LOSS_SOFTMAX_FOCAL:
  case XENT_LOSS_POLY1:
    return 1; /* exp(x - m), then p, when probs is not asked for */
  case XENT_LOSS_BINARY_CROSS_ENTROPY:
  case XENT_LOSS_SIGMOID_FOCAL:
    return 1; /* q, when it is not the soft targets themselves */
  case XENT_LOSS_CROSS_ENTROPY:
    break;
  }
  return 0;
}

static void zero_masked(const double *x, size_t C, double *v) {
  for (size_t c = 0; c < C; c++)
    if (x[c] == -INFINITY)
      v[c] = 0.0;
}

/* ------------------------------------------------------- cross-entropy -- */

/* l_n summed over every class, for rows where the closed form would
 * subtract large terms: with 'others' and eps > (K-1)/K the one-hot part
 * `peak` is negative. */
static double hard_loss_by_class(const xent_problem *p, const double *x,
                                 const xent__softrow *r, const xent__target *tg,
                                 double *wq) {
  double acc = 0, w_sum = 0;
  for (size_t c = 0; c < p->classes; c++) {
    if (x[c] == -INFINITY)
      continue;
    const double wqc = xent__weight(p, c) * xent__q(tg, c);
    acc += wqc * (x[c] - r->m - r->logs);
    w_sum += wqc;
  }
  *wq = w_sum;
  return -acc;
}

/* l_n for hard labels in closed form (semantics 2); *wq gets sum_c w_c q_c.
 * a = sum over unmasked c of w_c (x_c - m). Every term has the sign of its
 * sum while peak >= 0. */
static double hard_loss(const xent_problem *p, const double *x,
                        const xent__softrow *r, const xent__target *tg,
                        double a, double *wq) {
  if (tg->peak < 0.0)
    return hard_loss_by_class(p, x, r, tg, wq);
  double acc = tg->off > 0.0 ? tg->off * (a - r->logs * tg->sw) : 0.0;
  if (tg->own != 0.0)
    acc += tg->own * xent__weight(p, tg->t) * (x[tg->t] - r->m - r->logs);
  if (tg->other != 0.0)
    acc += tg->other * xent__weight(p, tg->t2) * (x[tg->t2] - r->m - r->logs);
  *wq = tg->wq;
  return -acc;
}

/* Soft targets: the same sum over every class (hard_loss_by_class). */
#define soft_loss hard_loss_by_class

/* grad row = e * wq / (s D) - w q / D, with e = exp(x - m) already in g
 * (or the probabilities already in probs). */
static void ce_grad(const xent_problem *p, const xent__plan *plan,
                    const double *x, const xent__softrow *r,
                    const xent__target *tg, double wq, double d,
                    const double *pr, double *g) {
  const size_t C = p->classes;
  const double *w = p->class_weights;
  const double a = pr != NULL ? wq / d : wq / d / r->s;
  if (tg->y == NULL && tg->peak < 0.0) {
    /* 'others' beyond eps = (K-1)/K: the label's q is off + a negative
     * peak, which the closed form would subtract after the fact */
    const double *src = pr != NULL ? pr : g;
    for (size_t c = 0; c < C; c++)
      g[c] = src[c] * a - xent__weight(p, c) * xent__q(tg, c) / d;
    if (tg->masked > 0)
      zero_masked(x, C, g);
    return;
  }
  plan->k->axpw(g, pr != NULL ? pr : g, C, a, tg->off / d, w);
  if (tg->y == NULL) {
    if (tg->own != 0.0)
      g[tg->t] -= tg->own * xent__weight(p, tg->t) / d;
    if (tg->other != 0.0)
      g[tg->t2] -= tg->other * xent__weight(p, tg->t2) / d;
  } else {
    for (size_t c = 0; c < C; c++)
      g[c] -= xent__weight(p, c) * tg->keep * tg->y[c * tg->ys] / d;
  }
  if (tg->masked > 0)
    zero_masked(x, C, g);
}

static double cross_entropy_row(const xent_problem *p, const xent__plan *plan,
                                const double *x, const xent__target *tg,
                                double d, const xent__rowout *o,
                                xent__softrow *r) {
  const size_t C = p->classes;
  const xent__kernels *k = plan->k;
  xent__sums sums;
  k->expsum(x, C, r->m, p->class_weights, o->probs != NULL ? o->probs : o->grad,
            &sums);
  r->s = sums.s;
  r->logs = log(sums.s);
  r->b = sums.b;
  double wq;
  const double loss = tg->y == NULL ? hard_loss(p, x, r, tg, sums.a, &wq)
                                    : soft_loss(p, x, r, tg, &wq);
  if (o->probs != NULL)
    k->axpw(o->probs, o->probs, C, 1.0 / r->s, 0.0, NULL);
  if (o->grad != NULL)
    ce_grad(p, plan, x, r, tg, wq, d, o->probs, o->grad);
  return loss;
}

/* --------------------------------------- softmax focal and poly-1 ------ */

static double focal_alpha(const xent_problem *p, size_t c) {
  if (p->focal_alpha_per_class != NULL)
    return p->focal_alpha_per_class[c];
  return p->focal_alpha < 0.0 ? 1.0 : p->focal_alpha;
}

/*
 * Both are sums over classes of w_c q_c f(p_c, lp_c); the gradient has the
 * cross-entropy shape dl/dx_j = p_j Z - tau_j, Z = sum_c tau_c. 1 - p_c is
 * taken without cancellation: for a largest logit it is the other classes'
 * exp sum (the kernel's r, plus the other largest ones) over s, elsewhere
 * p_c < 1/2; log p of a lone largest logit is -log1p(r); and its gradient
 * is written p_c (Z - tau_c) - (1 - p_c) tau_c, which does not cancel
 * either.
 */
typedef struct softfam {
  int focal;
  double gamma, eps;
  double s, inv_s, logs, m;
  double rest; /* sum of exp over the classes but one largest         */
  int lone;    /* a single class has the largest logit                */
} softfam;

/* Loss term and tau of class c with target mass wq (w_c q_c > 0). */
static double softfam_class(const xent_problem *p, const softfam *f,
                            const double *x, size_t c, double e, double wq,
                            double *tau, double *u_out) {
  const double pc = e * f->inv_s;
  const int top = x[c] == f->m;
  const double u = top ? f->rest / f->s : 1.0 - pc;
  const double lp = (x[c] - f->m) - f->logs;
  *u_out = u;
  if (!f->focal) {
    *tau = wq * (1.0 + f->eps * pc);
    return wq * (-lp + f->eps * u);
  }
  const double a = focal_alpha(p, c);
  const double fu = xent__upow(u, f->gamma);
  double b = a * (f->gamma == 0.0 ? 1.0 : 0.0);
  if (u > 0.0) {
    /* lp / u; for a lone largest logit both are small: log1p keeps it */
    const double ratio =
        top && f->lone ? -f->s * log1p(f->rest) / f->rest : lp / u;
    b = a * fu * (1.0 - f->gamma * pc * ratio);
  }
  *tau = wq * b;
  return -wq * a * fu * lp;
}

/* Hard labels without smoothing: q is 0 but at the label and the partner's
 * label, so after the exp-sum the row is O(1) and one scaling. */
static double softfam_sparse(const xent_problem *p, const xent__kernels *k,
                             const softfam *f, const double *x,
                             const xent__target *tg, double d,
                             const xent__rowout *o, double *e) {
  const size_t C = p->classes;
  size_t lab[2];
  double mass[2];
  size_t nl = 0;
  if (tg->own != 0.0) {
    lab[nl] = tg->t;
    mass[nl++] = tg->own;
  }
  if (tg->other != 0.0) {
    if (nl == 1 && tg->t2 == tg->t) {
      mass[0] += tg->other;
    } else {
      lab[nl] = tg->t2;
      mass[nl++] = tg->other;
    }
  }
  double loss = 0, z = 0, tau[2], u[2], pl[2];
  for (size_t i = 0; i < nl; i++) {
    const size_t c = lab[i];
    const double ec = e != NULL ? e[c] : exp(x[c] - f->m);
    pl[i] = ec * f->inv_s;
    loss += softfam_class(p, f, x, c, ec, xent__weight(p, c) * mass[i], &tau[i],
                          &u[i]);
    z += tau[i];
  }
  if (o->probs != NULL)
    k->axpw(o->probs, o->probs, C, f->inv_s, 0.0, NULL);
  if (o->grad != NULL) {
    if (o->probs != NULL)
      k->axpw(o->grad, o->probs, C, z / d, 0.0, NULL);
    else
      k->axpw(o->grad, o->grad, C, z * f->inv_s / d, 0.0, NULL);
    for (size_t i = 0; i < nl; i++) {
      const size_t c = lab[i];
      const double others = nl == 2 ? tau[1 - i] : 0.0;
      if (x[c] == f->m && f->lone)
        o->grad[c] = (pl[i] * others - u[i] * tau[i]) / d;
      else
        o->grad[c] = (pl[i] * z - tau[i]) / d;
    }
  }
  return loss;
}

static double softmax_family_row(const xent_problem *p, const xent__plan *plan,
                                 const double *x, const xent__target *tg,
                                 double d, const xent__rowout *o,
                                 double *scratch, xent__softrow *r) {
  const size_t C = p->classes;
  const int sparse = tg->y == NULL && tg->off == 0.0;
  double *e = o->probs != NULL ? o->probs : sparse ? o->grad : scratch;
  xent__sums sums;
  plan->k->expsum(x, C, r->m, NULL, e, &sums);
  r->s = sums.s;
  r->logs = log(sums.s);
  r->b = sums.b;
  /* s = r + (number of largest logits), each of which has exp 1 */
  const double others_at_max = rint(sums.s - sums.r) - 1.0;
  const softfam f = {p->family == XENT_LOSS_SOFTMAX_FOCAL,
                     p->focal_gamma,
                     p->poly_epsilon,
                     sums.s,
                     1.0 / sums.s,
                     r->logs,
                     r->m,
                     sums.r + others_at_max,
                     others_at_max == 0.0};
  if (sparse)
    return softfam_sparse(p, plan->k, &f, x, tg, d, o, e);
  double *tau = o->grad;
  double loss = 0, z_below = 0, z_top = 0;
  for (size_t c = 0; c < C; c++) {
    if (x[c] == -INFINITY) {
      e[c] = 0.0;
      if (tau != NULL)
        tau[c] = 0.0;
      continue;
    }
    const double ec = e[c];
    e[c] = ec * f.inv_s;
    const double wq = xent__weight(p, c) * xent__q(tg, c);
    double t = 0.0, u;
    if (wq != 0.0)
      loss += softfam_class(p, &f, x, c, ec, wq, &t, &u);
    if (tau != NULL) {
      tau[c] = t;
      if (x[c] == f.m)
        z_top += t;
      else
        z_below += t;
    }
  }
  if (tau != NULL) {
    const double z = z_below + z_top;
    for (size_t c = 0; c < C; c++) {
      if (x[c] == -INFINITY)
        continue;
      const double pc = e[c];
      if (x[c] == f.m && f.lone)
        tau[c] = (pc * z_below - (f.rest / f.s) * tau[c]) / d;
      else
        tau[c] = (pc * z - tau[c]) / d;
    }
  }
  return loss;
}

/* ------------------------------------------ binary cross-entropy, focal -- */

/* The element math is the kernel's (binary_row, kernels.c); here are the
 * targets: soft targets as they are when nothing changes them, else q
 * built into the targets output or the scratch row. */
static double binary_row(const xent_problem *p, const xent__plan *plan,
                         const double *x, const xent__target *tg, double d,
                         const xent__rowout *o, double *scratch) {
  const size_t C = p->classes;
  const double *q;
  if (tg->y != NULL && tg->ys == 1 && tg->keep == 1.0 && tg->off == 0.0 &&
      tg->thr < 0.0) {
    q = tg->y; /* 0 on masked classes: validation made sure */
    if (o->q != NULL)
      memcpy(o->q, q, C * sizeof *o->q);
  } else {
    double *qb = o->q != NULL ? o->q : scratch;
    xent__fill_q(p, tg, x, 0, qb);
    q = qb;
  }
  const xent__binary b = {p->class_weights,
                          p->pos_weight,
                          p->family == XENT_LOSS_SIGMOID_FOCAL,
                          p->focal_gamma,
                          p->focal_alpha,
                          d,
                          p->reduction == XENT_REDUCE_MEAN};
  return plan->k->binary_row(&b, x, q, C, o->grad, o->probs, o->elem);
}

double xent__family_row(const xent_problem *p, const xent__plan *plan,
                        const double *x, const xent__target *tg, double d,
                        const xent__rowout *o, double *scratch,
                        xent__softrow *sr) {
  switch (p->family) {
  case XENT_LOSS_SOFTMAX_FOCAL:
  case XENT_LOSS_POLY1:
    if (o->q != NULL)
      xent__fill_q(p, tg, x, 0, o->q);
    return softmax_family_row(p, plan, x, tg, d, o, scratch, sr);
  case XENT_LOSS_BINARY_CROSS_ENTROPY:
  case XENT_LOSS_SIGMOID_FOCAL:
    return binary_row(p, plan, x, tg, d, o, scratch);
  case XENT_LOSS_CROSS_ENTROPY:
    break;
  }
  const double loss = cross_entropy_row(p, plan, x, tg, d, o, sr);
  if (o->q != NULL)
    xent__fill_q(p, tg, x, 0, o->q);
  return loss;
}
