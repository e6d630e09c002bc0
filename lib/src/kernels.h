/* The three loops that touch every logit, one implementation per
 * instruction set; everything else in libxent is per-row scalar code. */
#ifndef XENT_KERNELS_H
#define XENT_KERNELS_H

#include <stddef.h>

#include "xent.h"

/* What one read of a row tells: max over the row, min over its finite
 * values (+inf when none), the count of -inf entries, whether any entry
 * is NaN or +inf. */
typedef struct xent__scan {
  double max;
  double min_finite;
  size_t masked;
  int bad;
} xent__scan;

/* Sums over a row given its max m, with d_c = x_c - m:
 *   s = sum_c exp(d_c)
 *   a = sum over finite d_c of w_c d_c  (w NULL: weight 1)
 *   b = sum over finite d_c of exp(d_c) d_c                              */
typedef struct xent__sums {
  double s;
  double a;
  double b;
} xent__sums;

typedef struct xent__kernels {
  xent_kernel id;
  void (*scan)(const double *x, size_t n, xent__scan *out);
  /* When e is not NULL it receives exp(x_c - m). */
  void (*expsum)(const double *x, size_t n, double m, const double *w,
                 double *e, xent__sums *out);
  /* dst_c = src_c * alpha - beta * w_c   (w NULL: weight 1); dst may be
   * src. */
  void (*axpw)(double *dst, const double *src, size_t n, double alpha,
               double beta, const double *w);
  /* dst_c = (double)src_c */
  void (*widen)(const float *src, size_t n, double *dst);
} xent__kernels;

/* The kernels for `kernel` (AUTO resolved), or NULL when unsupported. */
const xent__kernels *xent__kernels_get(xent_kernel kernel);

extern const xent__kernels xent__kernels_scalar;
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
extern const xent__kernels xent__kernels_avx2;
extern const xent__kernels xent__kernels_avx512;
#endif

#endif
