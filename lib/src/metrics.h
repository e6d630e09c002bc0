/* Shared between the metrics translation units (metrics*.c); not
 * installed. */
#ifndef XENT_METRICS_H
#define XENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "xent.h"

/* ------------------------------------------------ the exact accumulator -- */

/*
 * An exact sum of doubles ("superaccumulator", metrics_acc.c).
 *
 * Value: V = sum_i d[i] 2^(32 i) units, i = 0 .. 67, one unit being 2^-1074,
 * the smallest subnormal double: every finite double is a whole number of
 * units below 2^2098. The 68 digits of 32 bits span 2176 bits: 2098 for one
 * double, 63 more for a sum of 2^63 of them, and room for the sign.
 *
 * Digits are int64_t holding 32-bit digits; their upper bits are carry-save
 * room. An add splits the value's 53-bit mantissa over at most three
 * adjacent digits, each changed by less than 2^33, and carries nothing. So
 * after k adds since the last normalisation every digit is below
 * 2^32 + k 2^33 in magnitude: XENT__ACC_MAX_PENDING adds are safe, far from
 * int64 overflow, and callers normalise at least that often.
 *
 * Normal form (what xent__acc_normalize leaves): d[0..66] in [0, 2^32) and
 * d[67] in [-2^31, 2^31): the two's complement digits of V, unique for each
 * value. Equal sums therefore have equal digits, which is what makes merged
 * states and their serialisation bit-identical. Every function below except
 * the adds expects and leaves normal form.
 */
enum { XENT__ACC_DIGITS = 68 };
#define XENT__ACC_MAX_PENDING ((size_t)1 << 28)

typedef struct xent__acc {
  int64_t d[XENT__ACC_DIGITS];
} xent__acc;

void xent__acc_zero(xent__acc *a);
/* a += v, v finite; no normalisation. */
void xent__acc_add(xent__acc *a, double v);
/* a += v (negative: a -= v), v an integer; no normalisation. */
void xent__acc_add_int(xent__acc *a, uint64_t v, int negative);
/* a += v * times exactly, v finite; no normalisation. */
void xent__acc_add_scaled(xent__acc *a, double v, uint64_t times);
void xent__acc_normalize(xent__acc *a);
/* a += b, both normal; leaves a normal. a may be b. */
void xent__acc_merge(xent__acc *a, const xent__acc *b);
/* -1, 0 or 1. */
int xent__acc_sign(const xent__acc *a);
void xent__acc_negate(xent__acc *a);
/* Compares two normal accumulators: -1, 0, 1. */
int xent__acc_cmp(const xent__acc *a, const xent__acc *b);
/* Whether a is in normal form. */
int xent__acc_is_normal(const xent__acc *a);
/* V / den rounded once to the nearest double, ties to even (den >= 1).
 * +-inf when the rounded quotient is beyond the double range. */
double xent__acc_div(const xent__acc *a, uint64_t den);

/* ------------------------------------------------------------ the state -- */

#define XENT__METRICS_MAGIC UINT64_C(0x31534d544e455802) /* "\2XENTMS1" */
/* The largest count a state holds: counts stay exact in int64 and every
 * accumulated sum stays within the accumulator's headroom. */
#define XENT__METRICS_MAX_COUNT ((uint64_t)INT64_MAX)

/*
 * The state's fixed part; the arrays follow at the offsets of its layout.
 * Every counted row adds to counted, to correct when predicted == label, to
 * top_correct[j] when its rank < top_k[j], its four values to the four
 * accumulators, and to its bin: bin_count, bin_correct and its confidence
 * to bin_conf. Per class (per_class without confusion): support[label],
 * predicted[pred], tp[label] when right. Confusion: confusion[label][pred].
 * A confidence above 1/2 is added as 1 - (s - 1) / s (metrics.c), an exact
 * real that keeps 1 - confidence precise when the confidence rounds near 1.
 */
struct xent_metrics {
  uint64_t magic;
  uint64_t size;              /* the layout's size: bytes in use */
  xent_metrics_config config; /* normalised by xent__metrics_config_norm */
  uint64_t counted;
  uint64_t correct;
  uint64_t top_correct[XENT_METRICS_MAX_TOP_K];
  xent__acc confidence;
  xent__acc nll;
  xent__acc brier;
  xent__acc entropy;
};

/* Byte offsets of the arrays from the start of the state (0: absent). */
typedef struct xent__metrics_layout {
  size_t bin_count;   /* uint64_t[bins]   */
  size_t bin_correct; /* uint64_t[bins]   */
  size_t bin_conf;    /* xent__acc[bins]  */
  size_t support;     /* uint64_t[C], per_class without confusion */
  size_t predicted;   /* uint64_t[C], idem */
  size_t tp;          /* uint64_t[C], idem */
  size_t confusion;   /* uint64_t[C * C]  */
  size_t size;        /* total bytes      */
} xent__metrics_layout;

/* The layout of a valid configuration; 0 when a size overflows size_t. */
int xent__metrics_layout_of(const xent_metrics_config *c,
                            xent__metrics_layout *l);

/* The configuration as a state keeps it: booleans 0/1, top_k entries past
 * top_k_count zero, so that equal configurations are equal bytes. */
void xent__metrics_config_norm(const xent_metrics_config *in,
                               xent_metrics_config *out);

/* Checks a configuration: ERR_CONFIG with the field (and the top_k index)
 * in err. */
xent_status xent__metrics_config_valid(const xent_metrics_config *c,
                                       xent_error *err);

/* What xent_metrics_merge checks before it adds anything: the same
 * configuration, and the counts' limit (src's fixed part only is read). */
xent_status xent__metrics_merge_check(const xent_metrics *dst,
                                      const xent_metrics *src, xent_error *err);
/* dst's fixed part (counts and the four sums) += src's. */
void xent__metrics_add_head(xent_metrics *dst, const xent_metrics *src);

/* XENT_OK when `state` is an initialised state, else ERR_STATE with `arg`. */
xent_status xent__metrics_state_ok(const xent_metrics *state, xent_arg arg,
                                   xent_error *err);

static inline uint64_t *xent__u64_at(xent_metrics *m, size_t off) {
  return (uint64_t *)(void *)((unsigned char *)m + off);
}
static inline const uint64_t *xent__cu64_at(const xent_metrics *m, size_t off) {
  return (const uint64_t *)(const void *)((const unsigned char *)m + off);
}
static inline xent__acc *xent__acc_at(xent_metrics *m, size_t off) {
  return (xent__acc *)(void *)((unsigned char *)m + off);
}
static inline const xent__acc *xent__cacc_at(const xent_metrics *m,
                                             size_t off) {
  return (const xent__acc *)(const void *)((const unsigned char *)m + off);
}

#endif
