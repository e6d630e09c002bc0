/* The target distribution on its own (timm's mixup_target), and the
 * explicit reference path that builds it to check the closed form. */
#include <math.h>
#include <string.h>

#include "internal.h"

static double weight(const xent_problem *p, size_t c) {
  return p->class_weights != NULL ? p->class_weights[c] : 1.0;
}

/* q of row n into q; `x` is the row's logits as doubles, or NULL when no
 * class is masked. */
static void fill_row(const xent_problem *p, size_t n, const double *x,
                     double *q) {
  const size_t C = p->classes;
  size_t masked = 0;
  if (x != NULL)
    for (size_t c = 0; c < C; c++)
      masked += x[c] == -INFINITY;
  double peak, off;
  xent__onoff(p, C - masked, &peak, &off);
  if (p->targets == NULL) {
    const double keep = 1.0 - p->label_smoothing;
    const double *y = p->soft_targets + n * C;
    for (size_t c = 0; c < C; c++)
      q[c] = (x != NULL && x[c] == -INFINITY) ? 0.0 : keep * y[c] + off;
    return;
  }
  const double lam = xent__lambda(p, n);
  const size_t t = (size_t)p->targets[n];
  const size_t t2 = (size_t)p->targets[xent__partner(p, n)];
  const int own = x == NULL || x[t] != -INFINITY;
  const int other =
      p->mixup_lambda != NULL && (x == NULL || x[t2] != -INFINITY);
  for (size_t c = 0; c < C; c++)
    q[c] = (x != NULL && x[c] == -INFINITY) ? 0.0 : off;
  if (own)
    q[t] += peak * lam;
  if (other)
    q[t2] += peak * (1.0 - lam);
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
    fill_row(p, n, p->logits != NULL ? xent__row(p, plan.k, n, q) : NULL, q);
  }
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}

static double logit(const xent_problem *p, size_t n, size_t c) {
  const size_t i = n * p->classes + c;
  return p->dtype == XENT_F64 ? ((const double *)p->logits)[i]
                              : (double)((const float *)p->logits)[i];
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
    fill_row(p, n, xent__row(p, plan.k, n, q), q);
    double m = -INFINITY;
    for (size_t c = 0; c < C; c++)
      m = fmax(m, logit(p, n, c));
    double s = 0;
    for (size_t c = 0; c < C; c++)
      s += exp(logit(p, n, c) - m);
    const double logs = log(s);
    double loss = 0, wq = 0;
    for (size_t c = 0; c < C; c++) {
      if (logit(p, n, c) == -INFINITY)
        continue;
      loss -= weight(p, c) * q[c] * (logit(p, n, c) - m - logs);
      wq += weight(p, c) * q[c];
    }
    total += loss;
    if (out->per_sample != NULL)
      out->per_sample[n] = loss;
    if (g != NULL)
      for (size_t c = 0; c < C; c++) {
        const double x = logit(p, n, c);
        g[c] = x == -INFINITY ? 0.0
                              : (exp(x - m - logs) * wq - weight(p, c) * q[c]) /
                                    plan.denom;
      }
  }
  if (out->loss != NULL)
    *out->loss = p->reduction == XENT_REDUCE_MEAN ? total / plan.denom : total;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
