/* The three loops that touch every logit, one implementation per
 * instruction set; everything else in libxent is per-row scalar code. */
#ifndef XENT_KERNELS_H
#define XENT_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xent.h"

/* IEEE binary16 and bfloat16 bit patterns to double: every value of both
 * formats is a double exactly, infinities and NaN included. */
static inline double xent__half_to_double(uint16_t h) {
  const uint64_t sign = (uint64_t)(h >> 15) << 63;
  const unsigned exp = (h >> 10) & 0x1fu;
  const uint64_t man = h & 0x3ffu;
  uint64_t bits;
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24, exact in double */
    const double v = (double)man * 0x1p-24;
    return sign ? -v : v;
  }
  if (exp == 31)
    bits = sign | (UINT64_C(0x7ff) << 52) | (man << 42);
  else
    bits = sign | ((uint64_t)(exp - 15 + 1023) << 52) | (man << 42);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static inline double xent__bf16_to_double(uint16_t h) {
  const uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return (double)f;
}

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
 *   b = sum over finite d_c of exp(d_c) d_c
 *   r = sum over d_c < 0 of exp(d_c): s without the largest logits, from
 *       which 1 - p of the largest is taken without cancellation         */
typedef struct xent__sums {
  double s;
  double a;
  double b;
  double r;
} xent__sums;

/* The constants of a row of the binary families. */
typedef struct xent__binary {
  const double *w;  /* class weights, NULL: 1                            */
  const double *pw; /* pos_weight, NULL: none                            */
  int focal;        /* sigmoid focal (else binary cross-entropy)         */
  double gamma;     /* focal: exponent                                   */
  double alpha;     /* focal: alpha, < 0: no alpha term                  */
  double d;         /* the mean's denominator (1 otherwise)              */
  int mean;         /* reduction MEAN: focal gradients start from 1/d    */
} xent__binary;

/*
 * A block of channels-first positions (class axis 1, inner > 1) for the
 * position kernels: `count` consecutive positions of one sample, every
 * class. The kernel loops over the classes with a vector of positions, so
 * that what a row pays once (its max, exp sum and log, its targets) is paid
 * once per vector of positions instead of once per row of a few classes.
 * Each position gets the operations of the row path (family.c and the row
 * kernels of the same instruction set) in the same order, so its results
 * are the row path's bit for bit.
 */
typedef struct xent__cfblock {
  const xent_problem *p; /* family, weights, options of the targets       */
  double d;              /* the mean's denominator (1 otherwise)          */
  double weight_all;     /* sum of every class weight (classes when none) */
  double lam;            /* the sample's mixup lambda (1 without mixup)   */
  size_t count;          /* positions, 1 .. ld                            */
  const double *x;       /* class c of position i at x[c * ld + i]        */
  size_t ld;             /* a multiple of 8; the inner size when x, y and */
                         /* the outputs are the arrays themselves (double */
                         /* logits, binary, soft targets used as they are)*/
  const int64_t *t;      /* the positions' labels; NULL: soft targets         */
  const int64_t *t2;     /* the partner sample's labels there; NULL: no mixup */
  const double *y;       /* soft targets, as x                                */
  double *grad, *q, *probs, *elem; /* outputs as x (whole vectors of 8    */
                                   /* are written into tiles, only the   */
                                   /* block's positions into the arrays);*/
                                   /* NULL: not asked                    */
  double *e;                       /* scratch: 16 * classes doubles       */
  double *loss;                    /* count: the positions' losses        */
  double *m, *s, *logs, *b; /* count each, softmax families: the sums of  */
                            /* xent__softrow, for the statistics          */
  unsigned char *redo; /* count: 1 where the row path has to compute the  */
                       /* position (the kernel's outputs there are junk)  */
} xent__cfblock;

/* The position kernels take at most this many classes; beyond it a row's
 * fixed costs are small beside its classes. */
enum { XENT__CF_CLASSES = 64 };

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
  /* dst_c = src_c for binary16 (widen_f16) and bfloat16 bit patterns */
  void (*widen_f16)(const uint16_t *src, size_t n, double *dst);
  void (*widen_bf16)(const uint16_t *src, size_t n, double *dst);
  /* One row of binary cross-entropy or sigmoid focal loss with targets q
   * (family.c and xent.h give the formulas and their operation order):
   * returns the sum of the element losses; grad, probs (sigmoid) and elem
   * (element losses) are written when not NULL, 0 on masked (-inf)
   * classes. */
  double (*binary_row)(const xent__binary *b, const double *x, const double *q,
                       size_t n, double *grad, double *probs, double *elem);
  /* dst[j * ld + i] = src[i * stride + j] for i < rows, j < cols: the
   * blocks of channels-first positions, into and out of the workspace. */
  void (*transpose)(const double *src, size_t stride, size_t rows, size_t cols,
                    double *dst, size_t ld);
  /* Soft targets of a row: nonzero when every y_c is in [0, hi] (NaN is
   * not), and *sum = sum_c w_c y_c (w NULL: 1) in any order. */
  int (*soft_sum)(const double *y, const double *w, size_t n, double hi,
                  double *sum);
  /* The scans of `count` rows stored class by class (channels-first
   * positions): class c of row i at x[c * ld + i], n classes, merged into
   * out[i] (max and min taken, masked added, bad or-ed). The next `ahead`
   * values of each class may be prefetched. */
  void (*scan_cols)(const double *x, size_t ld, size_t n, size_t count,
                    size_t ahead, xent__scan *out);
  /* soft_sum of `count` rows stored class by class, as scan_cols: ok[i]
   * cleared unless every value of row i is in [0, hi], sum[i] += sum_c w_c
   * y_c (w NULL: 1). */
  void (*soft_cols)(const double *y, size_t ld, const double *w, size_t n,
                    size_t count, size_t ahead, double hi, int *ok,
                    double *sum);
  /* A channels-first block, every family (xent__cfblock); NULL when the
   * instruction set has no position kernels. Writes every output of the
   * block's positions, zeros for ignored ones, as the row path does. A
   * binary family with soft targets used as they are (no smoothing, no
   * threshold) and double logits gets the arrays themselves (evaluate.c):
   * it must then write nothing beyond the block's positions. */
  void (*positions)(const xent__cfblock *block);
} xent__kernels;

/* u^e with PyTorch's special cases of pow(tensor, scalar) (0, 1, 2, 3,
 * 1/2, -1/2, -1, -2), so that the common exponents round as torch's do. */
double xent__upow(double u, double e);

/* The kernels for `kernel` (AUTO resolved), or NULL when unsupported. */
const xent__kernels *xent__kernels_get(xent_kernel kernel);

extern const xent__kernels xent__kernels_scalar;
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
extern const xent__kernels xent__kernels_avx2;
extern const xent__kernels xent__kernels_avx2_f16c; /* needs F16C too   */
extern const xent__kernels xent__kernels_avx512;
#endif

#endif
