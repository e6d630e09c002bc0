/* Shared between libxent's translation units; not installed. */
#ifndef XENT_INTERNAL_H
#define XENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "xent.h"

/* What validation learns about a batch that the computation needs. */
typedef struct xent__plan {
  const xent__kernels *k;
  double denom;      /* D of semantics 3 (1 for sum and none)            */
  double weight_all; /* sum of all class weights (classes when none)     */
  int any_masked;    /* some validated row has a -inf logit              */
  int hard;          /* hard labels (else soft targets)                  */
  int mixup;         /* mixup applies                                    */
  int binary;        /* binary cross-entropy or sigmoid focal            */
  size_t rows;       /* n * inner: rows of C classes (positions)         */
} xent__plan;

/* What a caller of xent__validate wants checked. */
enum {
  XENT__CHECK_LOGITS = 1, /* logits present and to be validated           */
  XENT__CHECK_REDUCE = 2  /* reduction, loss parameters, denominator and  */
                          /* overflow bounds                              */
};

xent_status xent__validate(const xent_problem *p, unsigned what,
                           xent__plan *plan, xent_error *err);

/* The shape alone (n, classes, inner): the part of validation that must
 * come before the workspace size, which is computed from it. */
xent_status xent__check_shape(const xent_problem *p, xent_error *err);

xent_status xent__fail(xent_error *err, xent_status status, xent_arg arg,
                       int64_t row, int64_t col);

static inline int xent__is_binary(xent_family f) {
  return f == XENT_LOSS_BINARY_CROSS_ENTROPY || f == XENT_LOSS_SIGMOID_FOCAL;
}

/* ----------------------------------------------------------- geometry -- */
/* A row is one position (n, d) of C classes: n * inner + d. With the class
 * axis last (or inner 1) row r is contiguous at r * C; with the class axis
 * 1 class c of row r is at (n C + c) inner + d. Targets, per_sample and the
 * statistics' arrays are indexed by r in both layouts. */

static inline int xent__cfirst(const xent_problem *p) {
  return p->class_axis == XENT_CLASS_AXIS_1 && p->inner > 1;
}

/* Index of element (r, c) in the logits and every array of their shape. */
static inline size_t xent__index(const xent_problem *p, size_t r, size_t c) {
  if (!xent__cfirst(p))
    return r * p->classes + c;
  return (r / p->inner * p->classes + c) * p->inner + r % p->inner;
}

/* Rows per block of the channels-first path: positions of one sample
 * transposed together into the workspace. */
enum { XENT__BLOCK_MAX = 128 };
size_t xent__block_rows(const xent_problem *p);

/* ------------------------------------------------------------- logits -- */
/* Every read of the logits goes through these functions (logits.c): they
 * alone know the element types and the layouts. */

/* One logit as a double. */
double xent__logit(const xent_problem *p, size_t r, size_t c);

/* Logits of rows [r0, r0 + count), classes [c0, c0 + cols), as doubles into
 * dst, row i at dst + i * ld. With the class axis 1 the rows are positions
 * of one sample. */
void xent__load(const xent_problem *p, const xent__kernels *k, size_t r0,
                size_t count, size_t c0, size_t cols, double *dst, size_t ld);

/* Channels-first: the logits of positions [r0, r0 + count) of one sample,
 * classes [c0, c0 + cols), class by class (the layout's own order), as
 * doubles: class c0 + c of position r0 + i at dst[c * ld + i]. */
void xent__load_tile(const xent_problem *p, const xent__kernels *k, size_t r0,
                     size_t count, size_t c0, size_t cols, double *dst,
                     size_t ld);

/* The same for soft targets. */
void xent__load_soft_tile(const xent_problem *p, size_t r0, size_t count,
                          double *dst, size_t ld);

/* Row r of the logits as doubles: the logits themselves when they are
 * contiguous doubles, else loaded into buf (classes doubles). */
const double *xent__row(const xent_problem *p, const xent__kernels *k, size_t r,
                        double *buf);

/* The same for soft targets (double, the logits' layout). */
void xent__load_soft(const xent_problem *p, const xent__kernels *k, size_t r0,
                     size_t count, size_t c0, size_t cols, double *dst,
                     size_t ld);

/* Writes rows [r0, r0 + count) of an n x classes output in the logits'
 * layout from src (row i at src + i * ld). */
void xent__store(const xent_problem *p, const xent__kernels *k, double *out,
                 size_t r0, size_t count, const double *src, size_t ld);

/* Channels-first: writes positions [r0, r0 + count) of one sample of an
 * output from a tile in the order of xent__load_tile. */
void xent__store_tile(const xent_problem *p, double *out, size_t r0,
                      size_t count, const double *src, size_t ld);

/* -------------------------------------------------------- row targets -- */

/* Class weight w_c (1 without class_weights). */
static inline double xent__weight(const xent_problem *p, size_t c) {
  return p->class_weights != NULL ? p->class_weights[c] : 1.0;
}

/* Mixup partner of row r: the same position of the partner sample (r
 * itself without mixup). */
size_t xent__partner(const xent_problem *p, size_t r);
/* Mixup lambda of row r: its sample's (1 without mixup). */
double xent__lambda(const xent_problem *p, size_t r);

/*
 * One row's targets q (semantics 1), derived once per row by
 * xent__target_row and read by the loss, the gradient, q itself and
 * validation. For an unmasked class c:
 *   hard: q_c = off + own [c == t] + other [c == t2]
 *   soft: q_c = keep * y_c + off
 * then, for the binary families with a threshold, q_c = q_c > thr; and
 * q_c = 0 on a masked class.
 */
typedef struct xent__target {
  const double *y;   /* soft targets of the row; NULL for hard labels     */
  size_t ys;         /* stride between the classes of y                   */
  size_t t, t2;      /* own label, partner's label (t2 == t: no mixup)    */
  int mix;           /* the partner's label takes part                    */
  double lam;        /* lambda of the row (1 without mixup)               */
  double keep;       /* 1 - eps, the share soft targets keep              */
  double peak, off;  /* smoothed one-hot: off + peak at the label (1.1)   */
  double own, other; /* peak * lam at t, peak * (1 - lam) at t2; 0 when   */
                     /* that label's class is masked in this row          */
  double thr;        /* binary families' target_threshold; < 0: none      */
  size_t masked;     /* masked classes of the row                         */
  size_t K;          /* classes - masked                                  */
  double sw;         /* sum of the weights of the unmasked classes        */
  double wq;         /* hard labels: sum_c w_c q_c (softmax families)     */
  double dn;         /* the row's share of the mean's denominator D       */
} xent__target;

/*
 * The target description of row r, which has `masked` masked classes; `x`
 * is the row's logits as doubles, or NULL (then the logits are read through
 * xent__logit when they are set and a class is masked). Checks what a row's
 * targets can get wrong against its logits (the 'others' convention's K,
 * label mass on a masked class, an ignored partner) and returns that error,
 * else XENT_OK. Soft values themselves are checked by the validation.
 */
xent_status xent__target_row(const xent_problem *p, const xent__plan *plan,
                             size_t r, const double *x, size_t masked,
                             xent__target *tg, xent_error *err);

/* The description of row r, which has no masked class, when there is no
 * mixup, from the description tg0 of another such row: equal to
 * xent__target_row's field for field, without its checks (none can fail
 * when tg0's did not). */
void xent__target_like(const xent_problem *p, const xent__plan *plan,
                       const xent__target *tg0, size_t r, xent__target *tg);

/* q_c of an unmasked class c. */
static inline double xent__q(const xent__target *tg, size_t c) {
  double q;
  if (tg->y != NULL) {
    q = tg->keep * tg->y[c * tg->ys] + tg->off;
  } else {
    q = tg->off;
    if (c == tg->t)
      q += tg->own;
    if (c == tg->t2)
      q += tg->other;
  }
  if (tg->thr >= 0.0)
    q = q > tg->thr ? 1.0 : 0.0;
  return q;
}

/* The row's q into q (C values); `x` as for xent__target_row. */
void xent__fill_q(const xent_problem *p, const xent__target *tg,
                  const double *x, size_t r, double *q);

/* ------------------------------------------------------------ families -- */

/* Where one row's results go: C values each, NULL when not asked for. */
typedef struct xent__rowout {
  double *grad;
  double *q;
  double *probs;
  double *elem;
} xent__rowout;

/* What a row of a softmax family leaves for the statistics. */
typedef struct xent__softrow {
  double m;    /* max logit                                                */
  double s;    /* sum_c exp(x_c - m)                                       */
  double logs; /* log(s)                                                   */
  double b;    /* sum_c exp(x_c - m) (x_c - m), for the entropy            */
} xent__softrow;

/* Scratch rows of C doubles the family's row functions need. */
size_t xent__family_scratch(const xent_problem *p);

/*
 * The loss l_r of one valid, non-ignored row with logits x (contiguous) and
 * targets tg, and its outputs in o; d is the mean's denominator (1
 * otherwise). `scratch` holds xent__family_scratch(p) rows. For the softmax
 * families sr receives what the statistics need.
 */
double xent__family_row(const xent_problem *p, const xent__plan *plan,
                        const double *x, const xent__target *tg, double d,
                        const xent__rowout *o, double *scratch,
                        xent__softrow *sr);

#endif
