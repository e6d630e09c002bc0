/*
 * Number text: the shortest decimal that reads back to exactly the same
 * double (strtod) or float (strtof).
 *
 * Which length to print: the shortest p such that the value rounded to p
 * significant digits (as "%.*e" rounds) reads back to the value. The search
 * starts at 15 digits (6 for a float): at that length at most one decimal
 * lies within the value's rounding interval, so when it reads back its
 * trailing zeros are the only possible saving and no shorter length is
 * worth trying. Subnormals have wider intervals and search from 1 digit.
 *
 * Fast path (normal numbers): the value v = m * 2^q is scaled to
 * D = v * 10^(n-1-e10) in [10^(n-1), 10^n) (n = 17, or 9 for a float) with
 * one 64 x 128-bit multiplication by a table of 10^k (numfmt_pow10.h),
 * keeping 64 fraction bits; D is exact to far better than 2^-40. Rounding D
 * to p digits and comparing the candidate with half an ulp of v (scaled
 * the same way) decides both the digits and whether they read back, with
 * no strtod. Whenever a comparison falls within 2^-48 of a tie or of the
 * interval's edge, the slow path decides instead.
 *
 * Slow path: print the n digits with snprintf, round that digit string to
 * fewer digits (printing again when the dropped part is exactly "500..0",
 * where the string itself may have been rounded) and check each candidate
 * with strtod / strtof.
 *
 * The text is JSON and follows JavaScript's Number#toString layout:
 * plain notation for 1e-7 < |v| < 1e15 ("0.5", "123", "-0"), otherwise
 * "1.5e-7" / "1e+15". Integral values print without ".0". The upper bound
 * is JavaScript's 1e21 lowered so that no integer text exceeds int64:
 * parsers such as jansson refuse "100000000000000000000".
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numtext.h"
#include "pow10.h"

__extension__ typedef unsigned __int128 u128;

/* Digits of |v| (as from %.{n-1}e): digits[0..n-1] and the exponent of the
 * first digit. */
static void sci_digits(double v, int n, char *digits, int *exp10) {
  char tmp[48];
  snprintf(tmp, sizeof tmp, "%.*e", n - 1, fabs(v));
  /* tmp is "d.ddd...e+XX" (or "de+XX" when n == 1). */
  const char *p = tmp;
  int k = 0;
  digits[k++] = *p++;
  if (*p == '.')
    p++;
  while (*p >= '0' && *p <= '9')
    digits[k++] = *p++;
  *exp10 = atoi(p + 1);
}

/* Writes sign, digits d[0..k-1] (no trailing zeros) with exponent e in the
 * JavaScript layout into out; returns the length. */
static size_t layout(int neg, const char *d, int k, int e, char *out) {
  char *o = out;
  if (neg)
    *o++ = '-';
  if (e >= 0 && e < 15) {
    if (k <= e + 1) {
      memcpy(o, d, (size_t)k);
      o += k;
      for (int i = k; i <= e; i++)
        *o++ = '0';
    } else {
      memcpy(o, d, (size_t)e + 1);
      o += e + 1;
      *o++ = '.';
      memcpy(o, d + e + 1, (size_t)(k - e - 1));
      o += k - e - 1;
    }
  } else if (e < 0 && e > -7) {
    *o++ = '0';
    *o++ = '.';
    for (int i = -1; i > e; i--)
      *o++ = '0';
    memcpy(o, d, (size_t)k);
    o += k;
  } else {
    *o++ = d[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, d + 1, (size_t)k - 1);
      o += k - 1;
    }
    *o++ = 'e';
    int x = e;
    if (x < 0) {
      *o++ = '-';
      x = -x;
    } else {
      *o++ = '+';
    }
    char rev[8];
    int r = 0;
    do {
      rev[r++] = (char)('0' + x % 10);
      x /= 10;
    } while (x > 0);
    while (r > 0)
      *o++ = rev[--r];
  }
  *o = '\0';
  return (size_t)(o - out);
}

/* Rounds the n-digit string full to p digits into d (half up on the text);
 * adjusts *e on a carry out of the first digit. Returns the number of
 * digits left after dropping trailing zeros, or 0 when the dropped part is
 * exactly half a unit (the caller must print the value itself). */
static int round_digits(const char *full, int n, int p, char *d, int *e) {
  memcpy(d, full, (size_t)p);
  if (p < n) {
    const char first = full[p];
    if (first == '5') {
      int rest_zero = 1;
      for (int i = p + 1; i < n; i++)
        if (full[i] != '0') {
          rest_zero = 0;
          break;
        }
      if (rest_zero)
        return 0;
    }
    if (first >= '5') {
      int i = p - 1;
      while (i >= 0 && d[i] == '9')
        d[i--] = '0';
      if (i >= 0) {
        d[i]++;
      } else {
        d[0] = '1';
        (*e)++;
      }
    }
  }
  int k = p;
  while (k > 1 && d[k - 1] == '0')
    k--;
  return k;
}

/* The shared search: n = digits that always round-trip, start = first
 * length to try; is_float selects strtof. */
static size_t shortest(double v, int n, int start, int is_float, char *buf) {
  if (v == 0)
    return layout(signbit(v) != 0, "0", 1, 0, buf);
  if (!isfinite(v)) {
    /* Never asked for (the caller guarantees finite); stay valid JSON. */
    memcpy(buf, "null", 5);
    return 4;
  }
  const int neg = v < 0;
  char full[20];
  int e_full;
  sci_digits(v, n, full, &e_full);
  for (int p = start; p <= n; p++) {
    char d[20];
    int e = e_full;
    int k = round_digits(full, n, p, d, &e);
    if (k == 0) {
      sci_digits(v, p, d, &e);
      k = p;
      while (k > 1 && d[k - 1] == '0')
        k--;
    }
    const size_t len = layout(neg, d, k, e, buf);
    if (p == n)
      return len;
    if (is_float) {
      if (strtof(buf, NULL) == (float)v)
        return len;
    } else if (strtod(buf, NULL) == v) {
      return len;
    }
  }
  return 0; /* not reached: n digits always round-trip */
}

static const uint64_t pow10_u64[] = {1ULL,
                                     10ULL,
                                     100ULL,
                                     1000ULL,
                                     10000ULL,
                                     100000ULL,
                                     1000000ULL,
                                     10000000ULL,
                                     100000000ULL,
                                     1000000000ULL,
                                     10000000000ULL,
                                     100000000000ULL,
                                     1000000000000ULL,
                                     10000000000000ULL,
                                     100000000000000ULL,
                                     1000000000000000ULL,
                                     10000000000000000ULL,
                                     100000000000000000ULL};

/* The low 128 bits of (m * M) >> r, M = hi * 2^64 + lo, 0 < r < 192. */
static u128 mul_shift(uint64_t m, uint64_t hi, uint64_t lo, int r) {
  const u128 p_lo = (u128)m * lo;
  const u128 mid = (u128)m * hi + (p_lo >> 64);
  const uint64_t w0 = (uint64_t)p_lo;
  const uint64_t w1 = (uint64_t)mid;
  const uint64_t w2 = (uint64_t)(mid >> 64);
  const u128 top = ((u128)w2 << 64) | w1;
  if (r >= 128)
    return (u128)w2 >> (r - 128);
  if (r >= 64)
    return top >> (r - 64);
  return ((((u128)w1 << 64) | w0) >> r) | ((u128)w2 << (128 - r));
}

/* N / 10^j and N % 10^j; constant divisors for the lengths the fast path
 * tries, so that the compiler multiplies instead of dividing. */
static uint64_t div_pow10(uint64_t N, int j, uint64_t *rem) {
  uint64_t q;
  switch (j) {
  case 0:
    *rem = 0;
    return N;
  case 1:
    q = N / 10;
    break;
  case 2:
    q = N / 100;
    break;
  case 3:
    q = N / 1000;
    break;
  default:
    q = N / pow10_u64[j];
    break;
  }
  *rem = N - q * pow10_u64[j];
  return q;
}

/* Margin, in units of 2^-64 of the last digit, within which the fast path
 * declines to decide (its errors are below 2^-5 of these units). */
#define XS__EPS ((u128)1 << 16)

/*
 * v = m * 2^q > 0, m < 2^mbits normal (top bit set); n digits always
 * round-trip; lower_closer: the next value down is half as far (m is a
 * power of two). Writes the text and returns its length, or 0 when a
 * comparison was too close to call.
 */
static size_t fast_shortest(int neg, uint64_t m, int q, int mbits,
                            int lower_closer, int n, int start, char *buf) {
  /* log10(v) is in [q + mbits - 1, q + mbits) * log10(2). */
  int e10 = (int)floor((double)(q + mbits - 1) * 0.30102999566398120);
  u128 D = 0, H = 0;
  int tries = 0;
  for (;;) {
    const int k = n - 1 - e10;
    if (k < XS__POW10_MIN || k > XS__POW10_MAX || ++tries > 3)
      return 0;
    const int idx = k - XS__POW10_MIN;
    /* D = v * 10^k * 2^64 = m * M * 2^(q + e + 64) */
    const int r = -(q + xs__pow10[idx].e + 64);
    if (r <= 0 || r + 1 >= 128)
      return 0;
    D = mul_shift(m, xs__pow10[idx].hi, xs__pow10[idx].lo, r);
    const uint64_t N = (uint64_t)(D >> 64);
    if (N < pow10_u64[n - 1]) {
      e10--;
      continue;
    }
    if (N >= pow10_u64[n]) {
      e10++;
      continue;
    }
    /* Half an ulp of v, scaled alike: 2^(q-1) * M * 2^(e + 64). */
    H = ((((u128)xs__pow10[idx].hi) << 64) | xs__pow10[idx].lo) >> (r + 1);
    break;
  }
  const u128 H_low = lower_closer ? H >> 1 : H;
  const uint64_t N = (uint64_t)(D >> 64);
  for (int p = start; p <= n; p++) {
    const uint64_t div = pow10_u64[n - p];
    uint64_t low;
    uint64_t X = div_pow10(N, n - p, &low);
    const u128 rem = ((u128)low << 64) | (uint64_t)D;
    const u128 half = (u128)div << 63;
    if (rem + XS__EPS > half && rem < half + XS__EPS)
      return 0; /* too close to a tie of the rounding to p digits */
    if (rem > half)
      X++;
    const u128 Xs = (u128)(X * div) << 64;
    const u128 diff = Xs >= D ? Xs - D : D - Xs;
    const u128 bound = Xs >= D ? H : H_low;
    if (diff + XS__EPS < bound) {
      /* X has p digits, or is 10^p after a carry. */
      char d[24];
      int e = e10;
      int len = p;
      if (X == pow10_u64[p]) {
        X = 1;
        len = 1;
        e++;
      }
      for (int i = len - 1; i >= 0; i--) {
        d[i] = (char)('0' + X % 10);
        X /= 10;
      }
      while (len > 1 && d[len - 1] == '0')
        len--;
      return layout(neg, d, len, e, buf);
    }
    if (diff <= bound + XS__EPS)
      return 0; /* too close to the edge of the interval */
  }
  return 0;
}

size_t xs_format_double(double v, char *buf) {
  if (isfinite(v) && fabs(v) >= DBL_MIN) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    const int be = (int)((bits >> 52) & 0x7FF);
    const uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    const size_t len = fast_shortest(v < 0, m, be - 1075, 53,
                                     m == (1ULL << 52) && be > 1, 17, 15, buf);
    if (len > 0)
      return len;
  }
  return shortest(v, 17, fabs(v) >= DBL_MIN ? 15 : 1, 0, buf);
}

size_t xs_format_float(float v, char *buf) {
  if (isfinite(v) && fabsf(v) >= FLT_MIN) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    const int be = (int)((bits >> 23) & 0xFF);
    const uint64_t m = (bits & ((1U << 23) - 1)) | (1U << 23);
    const size_t len = fast_shortest(v < 0, m, be - 150, 24,
                                     m == (1U << 23) && be > 1, 9, 6, buf);
    if (len > 0)
      return len;
  }
  return shortest((double)v, 9, fabsf(v) >= FLT_MIN ? 6 : 1, 1, buf);
}

/* ------------------------------------------------------------ scanning -- */

/* Temporary scanner: the JSON grammar, then strtod on a NUL-terminated copy
 * (glibc's strtod is correctly rounded). */
xs_numscan xs_scan_number(const char *p, const char *end, int final,
                          xs_number *out, size_t *len) {
  const char *s = p;
  if (s < end && *s == '-')
    s++;
  if (s == end)
    goto incomplete;
  if (*s == '0') {
    s++;
  } else if (*s >= '1' && *s <= '9') {
    while (s < end && *s >= '0' && *s <= '9')
      s++;
  } else {
    *len = (size_t)(s - p);
    return XS_NUM_INVALID;
  }
  int is_int = 1;
  if (s < end && *s == '.') {
    is_int = 0;
    s++;
    if (s == end)
      goto incomplete;
    if (*s < '0' || *s > '9') {
      *len = (size_t)(s - p);
      return XS_NUM_INVALID;
    }
    while (s < end && *s >= '0' && *s <= '9')
      s++;
  }
  if (s < end && (*s == 'e' || *s == 'E')) {
    is_int = 0;
    s++;
    if (s < end && (*s == '+' || *s == '-'))
      s++;
    if (s == end)
      goto incomplete;
    if (*s < '0' || *s > '9') {
      *len = (size_t)(s - p);
      return XS_NUM_INVALID;
    }
    while (s < end && *s >= '0' && *s <= '9')
      s++;
  }
  if (s == end && !final)
    goto incomplete;
  {
    const size_t n = (size_t)(s - p);
    char small[64];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (buf == NULL) {
      *len = 0;
      return XS_NUM_INVALID;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    *len = n;
    xs_numscan rc = XS_NUM_OK;
    out->is_int = is_int;
    out->i = 0;
    if (is_int) {
      errno = 0;
      const long long v = strtoll(buf, NULL, 10);
      if (errno == ERANGE)
        rc = XS_NUM_RANGE;
      out->i = (int64_t)v;
    }
    out->d = strtod(buf, NULL);
    if (isinf(out->d))
      rc = XS_NUM_RANGE;
    if (buf != small)
      free(buf);
    return rc;
  }
incomplete:
  if (final) {
    *len = (size_t)(s - p);
    return XS_NUM_INVALID;
  }
  *len = (size_t)(s - p);
  return XS_NUM_INCOMPLETE;
}
