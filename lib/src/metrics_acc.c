/* The exact accumulator of the metrics (see metrics.h for the
 * representation and its invariants) and xent_fsum. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "metrics.h"

#define DIGIT_BITS 32
#define DIGIT_MASK UINT64_C(0xffffffff)
/* Bit position, in units of 2^-1074, of the value 1. */
#define ONE_POS 1074
#define TOP (XENT__ACC_DIGITS - 1)

void xent__acc_zero(xent__acc *a) {
  memset(a, 0, sizeof *a);
}

/*
 * a += x 2^pos units (or -=), x < 2^64, with pos / 32 + 2 < 68 whenever the
 * third digit receives a part. x 2^s (s = pos mod 32) is split into the
 * parts that fall on three digits: each of x's 32-bit halves shifted by s
 * stays below 2^63, so nothing overflows, and every digit changes by less
 * than 2^33 (the middle one receives two parts below 2^32 and 2^31).
 */
static void add_bits(xent__acc *a, uint64_t x, unsigned pos, int negative) {
  const unsigned i = pos / DIGIT_BITS, s = pos % DIGIT_BITS;
  const uint64_t lo = (x & DIGIT_MASK) << s;
  const uint64_t hi = (x >> DIGIT_BITS) << s;
  const int64_t p0 = (int64_t)(lo & DIGIT_MASK);
  const int64_t p1 = (int64_t)((lo >> DIGIT_BITS) + (hi & DIGIT_MASK));
  const int64_t p2 = (int64_t)(hi >> DIGIT_BITS);
  if (negative) {
    a->d[i] -= p0;
    a->d[i + 1] -= p1;
    if (p2 != 0)
      a->d[i + 2] -= p2;
  } else {
    a->d[i] += p0;
    a->d[i + 1] += p1;
    if (p2 != 0)
      a->d[i + 2] += p2;
  }
}

/* A finite double as mantissa * 2^pos units; the mantissa is 0 for +-0. */
static uint64_t split(double v, unsigned *pos, int *negative) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  const unsigned e = (unsigned)(bits >> 52) & 0x7ffu;
  uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
  if (e != 0)
    m |= UINT64_C(1) << 52;
  /* A normal double is m 2^(e - 1075) = m 2^(e - 1) units; a subnormal
   * (e = 0) is m units. */
  *pos = e != 0 ? e - 1 : 0;
  *negative = (int)(bits >> 63);
  return m;
}

void xent__acc_add(xent__acc *a, double v) {
  unsigned pos;
  int neg;
  const uint64_t m = split(v, &pos, &neg);
  if (m != 0)
    add_bits(a, m, pos, neg);
}

void xent__acc_add_int(xent__acc *a, uint64_t v, int negative) {
  if (v != 0)
    add_bits(a, v, ONE_POS, negative);
}

/* m (53 bits) times t (64 bits) as four 32 x 32-bit products, each below
 * 2^64, at their positions: the 117-bit product is never formed. The
 * highest position, 2045 + 64, still leaves its third digit in range. */
void xent__acc_add_scaled(xent__acc *a, double v, uint64_t times) {
  unsigned pos;
  int neg;
  const uint64_t m = split(v, &pos, &neg);
  if (m == 0 || times == 0)
    return;
  const uint64_t m_lo = m & DIGIT_MASK, m_hi = m >> DIGIT_BITS;
  const uint64_t t_lo = times & DIGIT_MASK, t_hi = times >> DIGIT_BITS;
  add_bits(a, m_lo * t_lo, pos, neg);
  add_bits(a, m_lo * t_hi, pos + DIGIT_BITS, neg);
  add_bits(a, m_hi * t_lo, pos + DIGIT_BITS, neg);
  add_bits(a, m_hi * t_hi, pos + 2 * DIGIT_BITS, neg);
}

/*
 * Carries from the lowest digit up: digit + carry = q 2^32 + r with
 * 0 <= r < 2^32, by floor division (r is the low 32 bits of the two's
 * complement value, exact for int64_t; q = (t - r) / 2^32 is an exact
 * division, no shift of a negative number). The top digit keeps what is
 * left, with its sign.
 */
void xent__acc_normalize(xent__acc *a) {
  int64_t carry = 0;
  for (int i = 0; i < TOP; i++) {
    const int64_t t = a->d[i] + carry;
    const int64_t r = (int64_t)((uint64_t)t & DIGIT_MASK);
    carry = (t - r) / ((int64_t)1 << DIGIT_BITS);
    a->d[i] = r;
  }
  a->d[TOP] += carry;
}

void xent__acc_merge(xent__acc *a, const xent__acc *b) {
  for (int i = 0; i < XENT__ACC_DIGITS; i++)
    a->d[i] += b->d[i];
  xent__acc_normalize(a);
}

int xent__acc_sign(const xent__acc *a) {
  if (a->d[TOP] < 0)
    return -1;
  for (int i = 0; i < XENT__ACC_DIGITS; i++)
    if (a->d[i] != 0)
      return 1;
  return 0;
}

void xent__acc_negate(xent__acc *a) {
  for (int i = 0; i < XENT__ACC_DIGITS; i++)
    a->d[i] = -a->d[i];
  xent__acc_normalize(a);
}

int xent__acc_cmp(const xent__acc *a, const xent__acc *b) {
  if (a->d[TOP] != b->d[TOP])
    return a->d[TOP] < b->d[TOP] ? -1 : 1;
  for (int i = TOP - 1; i >= 0; i--)
    if (a->d[i] != b->d[i])
      return a->d[i] < b->d[i] ? -1 : 1;
  return 0;
}

int xent__acc_is_normal(const xent__acc *a) {
  for (int i = 0; i < TOP; i++)
    if (a->d[i] < 0 || a->d[i] > (int64_t)DIGIT_MASK)
      return 0;
  return a->d[TOP] >= -((int64_t)1 << 31) && a->d[TOP] < ((int64_t)1 << 31);
}

/* Bit j of a non-negative normal accumulator. */
static unsigned bit_at(const xent__acc *a, int j) {
  return (unsigned)(((uint64_t)a->d[j / DIGIT_BITS] >> (j % DIGIT_BITS)) & 1u);
}

/* Whether any bit below position j (j >= 0) is set. */
static int any_below(const xent__acc *a, int j) {
  const int i = j / DIGIT_BITS, s = j % DIGIT_BITS;
  if (((uint64_t)a->d[i] & ((UINT64_C(1) << s) - 1)) != 0)
    return 1;
  for (int k = 0; k < i; k++)
    if (a->d[k] != 0)
      return 1;
  return 0;
}

/*
 * Binary long division of the integer I = |V| (in units) by den, one
 * dividend bit at a time from the top, producing quotient bits of the same
 * weights: at most about 64 + log2(den) steps, because it stops as soon as
 * the quotient has 64 significant bits (or has reached weight 2^-64 units,
 * for quotients below 2^-1074 * 2^-11). The remainder stays below den; the
 * doubled remainder may need 65 bits, kept as a carry bit (`hi`), and the
 * subtraction wraps correctly modulo 2^64 because its true result is below
 * den.
 *
 * Rounding: the double's last bit has weight max(lead - 52, 0) units, lead
 * being the quotient's leading bit (weight 0 is 2^-1074: the subnormal
 * spacing). The 64-bit quotient always has at least 11 bits below that
 * position; with the sticky bit (remainder or unread dividend bits nonzero)
 * they decide round to nearest, ties to even, exactly.
 */
double xent__acc_div(const xent__acc *a, uint64_t den) {
  xent__acc v = *a;
  int neg = 0;
  if (xent__acc_sign(&v) < 0) {
    xent__acc_negate(&v);
    neg = 1;
  }
  int top = TOP;
  while (top >= 0 && v.d[top] == 0)
    top--;
  if (top < 0 || den == 0)
    return 0.0;
  int j = top * DIGIT_BITS + DIGIT_BITS - 1;
  while (bit_at(&v, j) == 0)
    j--;
  uint64_t rem = 0, q = 0;
  int nb = 0;
  for (;; j--) {
    const unsigned bit = j >= 0 ? bit_at(&v, j) : 0u;
    const uint64_t hi = rem >> 63;
    rem = (rem << 1) | bit;
    unsigned qb = 0;
    if (hi != 0 || rem >= den) {
      rem -= den;
      qb = 1;
    }
    if (nb > 0 || qb != 0) {
      q = (q << 1) | qb;
      nb++;
    }
    if (nb == 64 || j == -64)
      break;
  }
  /* |V| / den = (q + f) 2^j units, 0 <= f < 1, f > 0 iff sticky. */
  const int sticky = rem != 0 || (j > 0 && any_below(&v, j));
  int lsb = j + nb - 53;
  if (lsb < 0)
    lsb = 0;
  const int shift = lsb - j; /* 11 .. 64 */
  uint64_t mant, rest, half;
  if (shift >= 64) {
    mant = 0;
    rest = q;
    half = UINT64_C(1) << 63;
  } else {
    mant = q >> shift;
    rest = q & ((UINT64_C(1) << shift) - 1);
    half = UINT64_C(1) << (shift - 1);
  }
  if (rest > half || (rest == half && (sticky || (mant & 1u))))
    mant++;
  const double r = ldexp((double)mant, lsb - ONE_POS);
  return neg ? -r : r;
}

xent_status xent_fsum(const double *values, size_t n, double *sum,
                      xent_error *err) {
  if (sum == NULL || (values == NULL && n > 0))
    return xent__fail(err, XENT_ERR_NULL,
                      sum == NULL ? XENT_ARG_NONE : XENT_ARG_VALUES, -1, -1);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(values[i]))
      return xent__fail(err, XENT_ERR_VALUE, XENT_ARG_VALUES, (int64_t)i, -1);
  xent__acc a;
  xent__acc_zero(&a);
  size_t pending = 0;
  for (size_t i = 0; i < n; i++) {
    xent__acc_add(&a, values[i]);
    if (++pending == XENT__ACC_MAX_PENDING) {
      xent__acc_normalize(&a);
      pending = 0;
    }
  }
  xent__acc_normalize(&a);
  /* n < 2^64 values below 2^1024 stay below 2^1088: within the range. */
  const double r = xent__acc_div(&a, 1);
  if (!isfinite(r))
    return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_VALUES, -1, -1);
  *sum = r;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
