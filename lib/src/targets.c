/* The target distribution on its own (timm's mixup_target), and the
 * explicit reference path that builds it to check the closed form. */
#include <math.h>
#include <string.h>

#include "internal.h"

static int ignored(const xent_problem *p, size_t r) {
  return p->targets != NULL && p->targets[r] == p->ignore_index;
}

/* Masked classes of row r, read one logit at a time. */
static size_t count_masked(const xent_problem *p, size_t r) {
  size_t masked = 0;
  for (size_t c = 0; c < p->classes; c++)
    masked += xent__logit(p, r, c) == -INFINITY;
  return masked;
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
  const int cf = xent__cfirst(p);
  for (size_t r = 0; r < plan.rows; r++) {
    xent__target tg;
    if (!cf) {
      double *q = out + r * C;
      if (ignored(p, r)) {
        memset(q, 0, C * sizeof *q);
        continue;
      }
      /* Once the input is valid the output row may hold the converted
       * logits: xent__fill_q reads each x[c] before it writes q[c]. */
      const double *x = NULL;
      size_t masked = 0;
      if (plan.any_masked) {
        x = xent__row(p, plan.k, r, q);
        for (size_t c = 0; c < C; c++)
          masked += x[c] == -INFINITY;
      }
      xent__target_row(p, &plan, r, x, masked, &tg, NULL);
      xent__fill_q(p, &tg, x, r, q);
      continue;
    }
    /* channels-first: q of a position is strided, one class at a time */
    if (ignored(p, r)) {
      for (size_t c = 0; c < C; c++)
        out[xent__index(p, r, c)] = 0.0;
      continue;
    }
    const size_t masked = plan.any_masked ? count_masked(p, r) : 0;
    xent__target_row(p, &plan, r, NULL, masked, &tg, NULL);
    for (size_t c = 0; c < C; c++)
      out[xent__index(p, r, c)] =
          masked > 0 && xent__logit(p, r, c) == -INFINITY ? 0.0
                                                          : xent__q(&tg, c);
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
  /* an unknown family is validation's ERR_OPTION */
  if (p->family != XENT_LOSS_CROSS_ENTROPY && p->family <= XENT_LOSS_POLY1)
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_FAMILY, -1, -1);
  xent__plan plan;
  const xent_status st =
      xent__validate(p, XENT__CHECK_LOGITS | XENT__CHECK_REDUCE, &plan, err);
  if (st != XENT_OK)
    return st;
  const size_t C = p->classes;
  double total = 0;
  for (size_t r = 0; r < plan.rows; r++) {
    double *q = scratch + r * C;
    if (ignored(p, r)) {
      if (out->per_sample != NULL)
        out->per_sample[r] = 0.0;
      for (size_t c = 0; out->grad != NULL && c < C; c++)
        out->grad[xent__index(p, r, c)] = 0.0;
      continue;
    }
    xent__target tg;
    xent__target_row(p, &plan, r, NULL, count_masked(p, r), &tg, NULL);
    xent__fill_q(p, &tg, NULL, r, q);
    double m = -INFINITY;
    for (size_t c = 0; c < C; c++)
      m = fmax(m, xent__logit(p, r, c));
    double s = 0;
    for (size_t c = 0; c < C; c++)
      s += exp(xent__logit(p, r, c) - m);
    const double logs = log(s);
    double loss = 0, wq = 0;
    for (size_t c = 0; c < C; c++) {
      if (xent__logit(p, r, c) == -INFINITY)
        continue;
      loss -= xent__weight(p, c) * q[c] * (xent__logit(p, r, c) - m - logs);
      wq += xent__weight(p, c) * q[c];
    }
    total += loss;
    if (out->per_sample != NULL)
      out->per_sample[r] = loss;
    for (size_t c = 0; out->grad != NULL && c < C; c++) {
      const double x = xent__logit(p, r, c);
      out->grad[xent__index(p, r, c)] =
          x == -INFINITY
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
