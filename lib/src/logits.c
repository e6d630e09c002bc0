/* Reading the logits (and arrays of their shape): the one place that knows
 * their element types and layouts. Every entry point (evaluation, targets,
 * validation) reads them through these functions, so a new input type or
 * layout is added here and nowhere else. */
#include <string.h>

#include "internal.h"

size_t xent__block_rows(const xent_problem *p) {
  if (!xent__cfirst(p))
    return 1;
  /* about 4096 doubles a tile, at least one cache line of positions */
  size_t b = 4096 / p->classes;
  b = b < 8 ? 8 : (b > XENT__BLOCK_MAX ? XENT__BLOCK_MAX : b);
  return b < p->inner ? b : p->inner;
}

double xent__logit(const xent_problem *p, size_t r, size_t c) {
  const size_t i = xent__index(p, r, c);
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

/* count consecutive logits from element index i, as doubles */
static void widen(const xent_problem *p, const xent__kernels *k, size_t i,
                  size_t count, double *dst) {
  switch (p->dtype) {
  case XENT_F32:
    k->widen((const float *)p->logits + i, count, dst);
    return;
  case XENT_F16:
    k->widen_f16((const uint16_t *)p->logits + i, count, dst);
    return;
  case XENT_BF16:
    k->widen_bf16((const uint16_t *)p->logits + i, count, dst);
    return;
  case XENT_F64:
    break;
  }
  memcpy(dst, (const double *)p->logits + i, count * sizeof *dst);
}

void xent__load(const xent_problem *p, const xent__kernels *k, size_t r0,
                size_t count, size_t c0, size_t cols, double *dst, size_t ld) {
  if (!xent__cfirst(p)) {
    for (size_t i = 0; i < count; i++)
      widen(p, k, (r0 + i) * p->classes + c0, cols, dst + i * ld);
    return;
  }
  /* One class of `count` positions is contiguous: read it in one piece
   * and transpose, never one strided position at a time. */
  if (p->dtype == XENT_F64) {
    k->transpose((const double *)p->logits + xent__index(p, r0, c0), p->inner,
                 cols, count, dst, ld);
    return;
  }
  double run[XENT__BLOCK_MAX];
  for (size_t i = 0; i < count; i += XENT__BLOCK_MAX) {
    const size_t m = count - i < XENT__BLOCK_MAX ? count - i : XENT__BLOCK_MAX;
    for (size_t c = 0; c < cols; c++) {
      widen(p, k, xent__index(p, r0 + i, c0 + c), m, run);
      for (size_t j = 0; j < m; j++)
        dst[(i + j) * ld + c] = run[j];
    }
  }
}

void xent__load_tile(const xent_problem *p, const xent__kernels *k, size_t r0,
                     size_t count, size_t c0, size_t cols, double *dst,
                     size_t ld) {
  for (size_t c = 0; c < cols; c++)
    widen(p, k, xent__index(p, r0, c0 + c), count, dst + c * ld);
}

void xent__load_soft_tile(const xent_problem *p, size_t r0, size_t count,
                          double *dst, size_t ld) {
  for (size_t c = 0; c < p->classes; c++)
    memcpy(dst + c * ld, p->soft_targets + xent__index(p, r0, c),
           count * sizeof *dst);
}

const double *xent__row(const xent_problem *p, const xent__kernels *k, size_t r,
                        double *buf) {
  if (p->dtype == XENT_F64 && !xent__cfirst(p))
    return (const double *)p->logits + r * p->classes;
  xent__load(p, k, r, 1, 0, p->classes, buf, p->classes);
  return buf;
}

void xent__load_soft(const xent_problem *p, const xent__kernels *k, size_t r0,
                     size_t count, size_t c0, size_t cols, double *dst,
                     size_t ld) {
  if (!xent__cfirst(p)) {
    for (size_t i = 0; i < count; i++)
      memcpy(dst + i * ld, p->soft_targets + xent__index(p, r0 + i, c0),
             cols * sizeof *dst);
    return;
  }
  k->transpose(p->soft_targets + xent__index(p, r0, c0), p->inner, cols, count,
               dst, ld);
}

void xent__store(const xent_problem *p, const xent__kernels *k, double *out,
                 size_t r0, size_t count, const double *src, size_t ld) {
  const size_t C = p->classes;
  if (!xent__cfirst(p)) {
    for (size_t i = 0; i < count; i++)
      memcpy(out + (r0 + i) * C, src + i * ld, C * sizeof *out);
    return;
  }
  k->transpose(src, ld, count, C, out + xent__index(p, r0, 0), p->inner);
}

void xent__store_tile(const xent_problem *p, double *out, size_t r0,
                      size_t count, const double *src, size_t ld) {
  for (size_t c = 0; c < p->classes; c++)
    memcpy(out + xent__index(p, r0, c), src + c * ld, count * sizeof *out);
}
