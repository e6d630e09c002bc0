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

/* Row n of the logits as doubles: the logits themselves for F64, else
 * converted into buf (classes doubles). */
const double *xent__row(const xent_problem *p, const xent__kernels *k, size_t n,
                        double *buf);

/* Mixup partner of row n (n itself without mixup). */
size_t xent__partner(const xent_problem *p, size_t n);
/* Mixup lambda of row n (1 without mixup). */
double xent__lambda(const xent_problem *p, size_t n);

/* On- and off-target values of a smoothed one-hot over K unmasked classes
 * (semantics 1.1). */
void xent__onoff(const xent_problem *p, size_t k, double *on, double *off);

xent_status xent__fail(xent_error *err, xent_status status, xent_arg arg,
                       int64_t row, int64_t col);

#endif
