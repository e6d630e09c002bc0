/* Reading the logits: the one place that knows their element types. Every
 * entry point (evaluation, targets, validation) reads them through these
 * functions, so a new input type is added here and nowhere else. */
#include "internal.h"

double xent__logit(const xent_problem *p, size_t n, size_t c) {
  const size_t i = n * p->classes + c;
  if (p->dtype == XENT_F64)
    return ((const double *)p->logits)[i];
  return (double)((const float *)p->logits)[i];
}

void xent__row_part(const xent_problem *p, const xent__kernels *k, size_t n,
                    size_t c0, size_t count, double *dst) {
  const size_t i = n * p->classes + c0;
  if (p->dtype == XENT_F64) {
    const double *src = (const double *)p->logits + i;
    for (size_t c = 0; c < count; c++)
      dst[c] = src[c];
    return;
  }
  k->widen((const float *)p->logits + i, count, dst);
}

const double *xent__row(const xent_problem *p, const xent__kernels *k, size_t n,
                        double *buf) {
  if (p->dtype == XENT_F64)
    return (const double *)p->logits + n * p->classes;
  xent__row_part(p, k, n, 0, p->classes, buf);
  return buf;
}
