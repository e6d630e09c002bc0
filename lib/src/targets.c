/* The target distribution on its own (timm's mixup_target), and the
 * explicit reference path that builds it to check the closed form. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* q of row n into q; `x` is the row's logits as doubles (it may be q
 * itself), or NULL when there are no logits. */
static void fill_row(const xent_problem *p, const xent__plan *plan, size_t n,
                     const double *x, double *q) {
  size_t masked = 0;
  if (x != NULL)
    for (size_t c = 0; c < p->classes; c++)
      masked += x[c] == -INFINITY;
  xent__target tg;
  xent__target_row(p, plan, n, x, masked, &tg, NULL);
  xent__fill_q(p, &tg, x, n, q);
}

static int ignored(const xent_problem *p, size_t n) {
  return p->targets != NULL && p->targets[n] == p->ignore_index;
}

xent_status xent_targets(const xent_problem *p, double *out, xent_error *err) {
  if (p == NULL || out == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  xent__plan plan;
  const unsigned what = p->logits != NULL ? XENT__CHECK_LOGITS : 0;
  const xent_status st = xent__validate(p, what, &plan, err);
  if (st != XENT_OK)
    return st;
  const size_t C = p->classes;
  for (size_t n = 0; n < p->n; n++) {
    double *q = out + n * C;
    if (ignored(p, n)) {
      memset(q, 0, C * sizeof *q);
      continue;
    }
    /* Once the input is valid the output row may hold the converted
     * logits: fill_row reads each x[c] before it writes q[c]. */
    fill_row(p, &plan, n, p->logits != NULL ? xent__row(p, plan.k, n, q) : NULL,
             q);
  }
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}

xent_status xent_evaluate_explicit(const xent_problem *p,
                                   const xent_outputs *out, double *scratch,
                                   xent_error *err) {
  if (p == NULL || out == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  if (scratch == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_WORKSPACE, -1, -1);
  if (out->targets != NULL || out->probs != NULL || out->stats != NULL)
    return xent__fail(err, XENT_ERR_OPTION, XENT_ARG_OUTPUTS, -1, -1);
  xent__plan plan;
  const xent_status st =
      xent__validate(p, XENT__CHECK_LOGITS | XENT__CHECK_REDUCE, &plan, err);
  if (st != XENT_OK)
    return st;
  const size_t C = p->classes;
  double total = 0;
  for (size_t n = 0; n < p->n; n++) {
    double *q = scratch + n * C;
    double *g = out->grad != NULL ? out->grad + n * C : NULL;
    if (ignored(p, n)) {
      if (out->per_sample != NULL)
        out->per_sample[n] = 0.0;
      if (g != NULL)
        memset(g, 0, C * sizeof *g);
      continue;
    }
    fill_row(p, &plan, n, xent__row(p, plan.k, n, q), q);
    double m = -INFINITY;
    for (size_t c = 0; c < C; c++)
      m = fmax(m, xent__logit(p, n, c));
    double s = 0;
    for (size_t c = 0; c < C; c++)
      s += exp(xent__logit(p, n, c) - m);
    const double logs = log(s);
    double loss = 0, wq = 0;
    for (size_t c = 0; c < C; c++) {
      if (xent__logit(p, n, c) == -INFINITY)
        continue;
      loss -= xent__weight(p, c) * q[c] * (xent__logit(p, n, c) - m - logs);
      wq += xent__weight(p, c) * q[c];
    }
    total += loss;
    if (out->per_sample != NULL)
      out->per_sample[n] = loss;
    if (g != NULL)
      for (size_t c = 0; c < C; c++) {
        const double x = xent__logit(p, n, c);
        g[c] = x == -INFINITY
                   ? 0.0
                   : (exp(x - m - logs) * wq - xent__weight(p, c) * q[c]) /
                         plan.denom;
      }
  }
  if (out->loss != NULL)
    *out->loss = p->reduction == XENT_REDUCE_MEAN ? total / plan.denom : total;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
