/* Reading the logits: the one place that knows their element types. Every
 * entry point (evaluation, targets, validation) reads them through these
 * functions, so a new input type is added here and nowhere else. */
#include "internal.h"

double xent__logit(const xent_problem *p, size_t n, size_t c) {
  const size_t i = n * p->classes + c;
  switch (p->dtype) {
  case XENT_F32:
    return (double)((const float *)p->logits)[i];
  case XENT_F16:
    return xent__half_to_double(((const uint16_t *)p->logits)[i]);
  case XENT_BF16:
    return xent__bf16_to_double(((const uint16_t *)p->logits)[i]);
  case XENT_F64:
    break;
  }
  return ((const double *)p->logits)[i];
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
  switch (p->dtype) {
  case XENT_F32:
    k->widen((const float *)p->logits + i, count, dst);
    break;
  case XENT_F16:
    k->widen_f16((const uint16_t *)p->logits + i, count, dst);
    break;
  case XENT_BF16:
    k->widen_bf16((const uint16_t *)p->logits + i, count, dst);
    break;
  case XENT_F64:
    break;
  }
}

const double *xent__row(const xent_problem *p, const xent__kernels *k, size_t n,
                        double *buf) {
  if (p->dtype == XENT_F64)
    return (const double *)p->logits + n * p->classes;
  xent__row_part(p, k, n, 0, p->classes, buf);
  return buf;
}
