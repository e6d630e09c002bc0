/*
 * numtext_testutil.h - helpers of the number text tests (test_numtext.c,
 * test_numtext_long.c): bit casts, the JSON number grammar, and the
 * shortest-text check.
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
