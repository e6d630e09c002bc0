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
} xent__plan;

/* What a caller of xent__validate wants checked. */
enum {
  XENT__CHECK_LOGITS = 1, /* logits present and to be validated           */
  XENT__CHECK_REDUCE = 2  /* reduction, denominator and overflow bounds   */
};

xent_status xent__validate(const xent_problem *p, unsigned what,
                           xent__plan *plan, xent_error *err);

xent_status xent__fail(xent_error *err, xent_status status, xent_arg arg,
                       int64_t row, int64_t col);

/* ------------------------------------------------------------- logits -- */
/* Every read of the logits goes through these two (logits.c): they alone
 * know the input types. */

/* Row n of the logits as doubles: the logits themselves for F64, else
 * converted into buf (classes doubles). */
const double *xent__row(const xent_problem *p, const xent__kernels *k, size_t n,
                        double *buf);

/* Logits of row n, classes [c0, c0 + count), as doubles into dst. */
void xent__row_part(const xent_problem *p, const xent__kernels *k, size_t n,
                    size_t c0, size_t count, double *dst);

/* One logit as a double. */
double xent__logit(const xent_problem *p, size_t n, size_t c);

/* -------------------------------------------------------- row targets -- */

/* Class weight w_c (1 without class_weights). */
static inline double xent__weight(const xent_problem *p, size_t c) {
  return p->class_weights != NULL ? p->class_weights[c] : 1.0;
}

/* Mixup partner of row n (n itself without mixup). */
size_t xent__partner(const xent_problem *p, size_t n);
/* Mixup lambda of row n (1 without mixup). */
double xent__lambda(const xent_problem *p, size_t n);

/*
 * One row's target distribution q (semantics 1), derived once per row by
 * xent__target_row and read by the loss, the gradient, q itself and
 * validation. For an unmasked class c:
 *   hard: q_c = off + own [c == t] + other [c == t2]
 *   soft: q_c = keep * y_c + off
 * and q_c = 0 on a masked class.
 */
typedef struct xent__target {
  const double *y;   /* soft targets of the row; NULL for hard labels     */
  size_t t, t2;      /* own label, partner's label (t2 == t: no mixup)    */
  int mix;           /* the partner's label takes part                    */
  double lam;        /* lambda of the row (1 without mixup)               */
  double keep;       /* 1 - eps, the share soft targets keep              */
  double peak, off;  /* smoothed one-hot: off + peak at the label (1.1)   */
  double own, other; /* peak * lam at t, peak * (1 - lam) at t2; 0 when   */
                     /* that label's class is masked in this row          */
  size_t masked;     /* masked classes of the row                         */
  size_t K;          /* classes - masked                                  */
  double sw;         /* sum of the weights of the unmasked classes        */
  double wq;         /* hard labels: sum_c w_c q_c                        */
  double dn;         /* the row's share of the mean's denominator D       */
} xent__target;

/*
 * The target description of row n, which has `masked` masked classes; `x`
 * is the row's logits as doubles, or NULL (then the logits are read through
 * xent__logit when they are set and a class is masked). Checks what a row's
 * targets can get wrong against its logits (the 'others' convention's K,
 * label mass on a masked class, an ignored partner) and returns that error,
 * else XENT_OK. Soft values themselves are checked by the validation.
 */
xent_status xent__target_row(const xent_problem *p, const xent__plan *plan,
                             size_t n, const double *x, size_t masked,
                             xent__target *tg, xent_error *err);

/* q_c of an unmasked class c. */
static inline double xent__q(const xent__target *tg, size_t c) {
  if (tg->y != NULL)
    return tg->keep * tg->y[c] + tg->off;
  double q = tg->off;
  if (c == tg->t)
    q += tg->own;
  if (c == tg->t2)
    q += tg->other;
  return q;
}

/* The row's q into q (C values); `x` as for xent__target_row. */
void xent__fill_q(const xent_problem *p, const xent__target *tg,
                  const double *x, size_t n, double *q);

#endif
