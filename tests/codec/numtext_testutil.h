/*
 * numtext_testutil.h - helpers of the number text tests (test_numtext.c,
 * test_numtext_long.c): bit casts, the JSON number grammar, the
 * shortest-text check and the layout of numtext.h as a reference.
 */
#ifndef XENTD_TESTS_NUMTEXT_TESTUTIL_H
#define XENTD_TESTS_NUMTEXT_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline double bits_to_double(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}
static inline uint64_t double_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}
static inline float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* JSON number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * on the whole of s[0..n). */
static inline int is_json_number_n(const char *s, size_t n) {
  const char *const e = s + n;
  if (s < e && *s == '-')
    s++;
  if (s < e && *s == '0')
    s++;
  else if (s < e && *s >= '1' && *s <= '9')
    while (s < e && *s >= '0' && *s <= '9')
      s++;
  else
    return 0;
  if (s < e && *s == '.') {
    s++;
    if (!(s < e && *s >= '0' && *s <= '9'))
      return 0;
    while (s < e && *s >= '0' && *s <= '9')
      s++;
  }
  if (s < e && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < e && (*s == '+' || *s == '-'))
      s++;
    if (!(s < e && *s >= '0' && *s <= '9'))
      return 0;
    while (s < e && *s >= '0' && *s <= '9')
      s++;
  }
  return s == e;
}

static inline int is_json_number(const char *s) {
  return is_json_number_n(s, strlen(s));
}

/* Significant digits of a number text (no leading or trailing zeros) into
 * d; returns their count (0 for zero) and the decimal exponent of the last
 * kept digit in *exp10 (the value is digits * 10^exp10). */
static inline int sig_digits(const char *s, char *d, int *exp10) {
  int k = 0, frac = 0, seen_point = 0, e = 0;
  const char *p = s;
  for (; *p != '\0' && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') {
      seen_point = 1;
      continue;
    }
    if (*p < '0' || *p > '9')
      continue;
    frac += seen_point;
    if (k == 0 && *p == '0')
      continue;
    d[k++] = *p;
  }
  if (*p == 'e' || *p == 'E')
    e = atoi(p + 1);
  int trailing = 0;
  while (k > 0 && d[k - 1] == '0') {
    k--;
    trailing++;
  }
  d[k] = '\0';
  if (exp10 != NULL)
    *exp10 = e - frac + trailing;
  return k;
}

/* numtext.h's layout of a nonzero number: '-' when neg, then the k
 * significant digits d (no trailing zero) of which the first has decimal
 * exponent e. Plain for -7 < e < 15 ("0.000001", "123.25", "100"), else
 * "d.ddde-7" / "de+15". out: at least k + 24 bytes. */
static inline void layout_text(int neg, const char *d, int k, int e,
                               char *out) {
  char *o = out;
  if (neg)
    *o++ = '-';
  if (e <= -7 || e >= 15) {
    *o++ = d[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, d + 1, (size_t)(k - 1));
      o += k - 1;
    }
    snprintf(o, 16, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    return;
  }
  if (e < 0) {
    *o++ = '0';
    *o++ = '.';
    for (int i = -1; i > e; i--)
      *o++ = '0';
    memcpy(o, d, (size_t)k);
    o += k;
  } else {
    for (int i = 0; i < k || i <= e; i++) {
      if (i == e + 1)
        *o++ = '.';
      *o++ = i < k ? d[i] : '0';
    }
  }
  *o = '\0';
}

/* A printed nonzero text is in numtext.h's layout: laid out again from its
 * own digits and exponent, it is the same bytes. Cheap (no conversion), so
 * run on every value; which digits is the round trip's and %.*e's part. */
static inline int layout_holds(const char *text) {
  char d[40], again[64];
  int e10;
  const int k = sig_digits(text, d, &e10);
  if (k == 0)
    return strcmp(text, "0") == 0 || strcmp(text, "-0") == 0;
  layout_text(text[0] == '-', d, k, e10 + k - 1, again);
  return strcmp(text, again) == 0;
}

/* What the printer must print for a nonzero v when the shortest digits
 * that read back number k: v correctly rounded to k significant digits
 * ("%.*e", which for a float's value is exact in double) in numtext.h's
 * layout. */
static inline void reference_text(double v, int k, char *out) {
  char tmp[400], d[40];
  snprintf(tmp, sizeof tmp, "%.*e", k - 1, v);
  const char *p = tmp + (tmp[0] == '-');
  int n = 0;
  for (; *p != 'e'; p++)
    if (*p != '.')
      d[n++] = *p;
  const int e = atoi(p + 1);
  while (n > 1 && d[n - 1] == '0') /* 9.96 to 2 digits is "1.0e+01" */
    n--;
  layout_text(tmp[0] == '-', d, n, e, out);
}

/* The text's digits rounded to one significant digit fewer ("%.*e") read
 * back to v: the printer's text was not the shortest. The two decimals of
 * that length around the digits are tried first (strtod only): when neither
 * reads back, neither does the rounded one, which is one of them. */
static inline int shorter_reads_back(const char *text, double v, int is_float) {
  char digits[40];
  int e10;
  const int k = sig_digits(text, digits, &e10);
  if (k <= 1)
    return 0;
  unsigned long long a = strtoull(digits, NULL, 10) / 10;
  int any = 0;
  for (int i = 0; i < 2; i++, a++) {
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%llue%d", a, e10 + 1);
    any |= is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v;
  }
  if (!any)
    return 0;
  /* one of them reads back (v a power of two, where the interval that
   * reads back is lopsided): is it the rounded one? */
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%.*e", k - 2, v);
  return is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v;
}

#endif
