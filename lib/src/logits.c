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

/* The classes of a channels-first block are far apart, more streams than
 * the hardware prefetcher follows: each run asks for the next block's
 * run of its class (in the same sample, so within the array). */
static void prefetch_run(const void *at, size_t bytes, int write) {
#if defined(__GNUC__)
  const char *b = (const char *)at;
  for (size_t i = 0; i < bytes; i += 64) {
    if (write)
      __builtin_prefetch(b + i, 1);
    else
      __builtin_prefetch(b + i, 0);
  }
#else
  (void)at;
  (void)bytes;
  (void)write;
#endif
}

static size_t dtype_size(xent_dtype d) {
  return d == XENT_F64 ? 8 : d == XENT_F32 ? 4 : 2;
}

/* Positions of the block after [r0, r0 + count) in the same sample, up to
 * count: how far a run may be prefetched. */
static size_t next_run(const xent_problem *p, size_t r0, size_t count) {
  const size_t left = p->inner - r0 % p->inner - count;
  return left < count ? left : count;
}

void xent__load_tile(const xent_problem *p, const xent__kernels *k, size_t r0,
                     size_t count, size_t c0, size_t cols, double *dst,
                     size_t ld) {
  const size_t es = dtype_size(p->dtype), ahead = next_run(p, r0, count);
  for (size_t c = 0; c < cols; c++) {
    const size_t i = xent__index(p, r0, c0 + c);
    prefetch_run((const char *)p->logits + (i + count) * es, ahead * es, 0);
    widen(p, k, i, count, dst + c * ld);
  }
}

void xent__load_soft_tile(const xent_problem *p, size_t r0, size_t count,
                          double *dst, size_t ld) {
  const size_t ahead = next_run(p, r0, count);
  for (size_t c = 0; c < p->classes; c++) {
    const double *from = p->soft_targets + xent__index(p, r0, c);
    prefetch_run(from + count, ahead * sizeof *dst, 0);
    memcpy(dst + c * ld, from, count * sizeof *dst);
  }
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
  const size_t ahead = next_run(p, r0, count);
  for (size_t c = 0; c < p->classes; c++) {
    double *to = out + xent__index(p, r0, c);
    prefetch_run(to + count, ahead * sizeof *out, 1);
    memcpy(to, src + c * ld, count * sizeof *out);
  }
}
