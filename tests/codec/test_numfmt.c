/*
 * test_numfmt: xs_format_double / xs_format_float print the shortest
 * decimal that reads back to exactly the same value.
 *
 * Properties checked on every value (over a million in all): strtod /
 * strtof of the text gives the identical bits, the text is a JSON number
 * of at most 32 bytes. On a subset: the digits are those of "%.*e" with the
 * same number of digits (correct rounding) and one digit fewer does not
 * round-trip with "%.*g" (shortest). Loops run over fixed counts and
 * report the first failures, then one assertion per test.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "numtext.h"

/* xorshift64*: fixed seeds, so every run checks the same values. */
static uint64_t rng_state;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

static double bits_to_double(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}
static uint64_t double_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}
static float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* JSON number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int is_json_number(const char *s) {
  if (*s == '-')
    s++;
  if (*s == '0')
    s++;
  else if (*s >= '1' && *s <= '9')
    while (*s >= '0' && *s <= '9')
      s++;
  else
    return 0;
  if (*s == '.') {
    s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-')
      s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0';
}

/* Significant digits of a number text (no leading or trailing zeros) into
 * d; returns their count (0 for zero). */
static int sig_digits(const char *s, char *d) {
  int k = 0;
  for (; *s != '\0' && *s != 'e' && *s != 'E'; s++) {
    if (*s < '0' || *s > '9')
      continue;
    if (k == 0 && *s == '0')
      continue;
    d[k++] = *s;
  }
  while (k > 0 && d[k - 1] == '0')
    k--;
  d[k] = '\0';
  return k;
}

typedef struct tally {
  long checked;
  long failed;
  long shortest_checked;
} tally;

static void fail_note(tally *t, const char *what, double v, const char *text) {
  if (t->failed < 10)
    fprintf(stderr, "numfmt: %s: %.17g (bits %016llx) printed \"%s\"\n", what,
            v, (unsigned long long)double_bits(v), text);
  t->failed++;
}

static void check_double(tally *t, double v, int check_shortest) {
  if (!isfinite(v)) /* nextafter(DBL_MAX, inf) */
    return;
  char buf[64];
  memset(buf, 'x', sizeof buf);
  const size_t len = xs_format_double(v, buf);
  t->checked++;
  if (len > 32 || len != strlen(buf) || !is_json_number(buf)) {
    fail_note(t, "not a JSON number of <= 32 bytes", v, buf);
    return;
  }
  const double back = strtod(buf, NULL);
  if (double_bits(back) != double_bits(v)) {
    fail_note(t, "does not round-trip", v, buf);
    return;
  }
  if (!check_shortest || v == 0)
    return;
  t->shortest_checked++;
  char ours[40], ref[40], tmp[400];
  const int k = sig_digits(buf, ours);
  snprintf(tmp, sizeof tmp, "%.*e", k - 1, v);
  sig_digits(tmp, ref);
  if (strcmp(ours, ref) != 0) {
    fail_note(t, "digits differ from %.*e", v, buf);
    return;
  }
  if (k > 1) {
    snprintf(tmp, sizeof tmp, "%.*g", k - 1, v);
    if (strtod(tmp, NULL) == v)
      fail_note(t, "not shortest (one digit fewer round-trips)", v, buf);
  }
}

static void check_float(tally *t, float v, int check_shortest) {
  if (!isfinite(v))
    return;
  char buf[64];
  memset(buf, 'x', sizeof buf);
  const size_t len = xs_format_float(v, buf);
  t->checked++;
  if (len > 32 || len != strlen(buf) || !is_json_number(buf)) {
    fail_note(t, "float: not a JSON number of <= 32 bytes", v, buf);
    return;
  }
  const float back = strtof(buf, NULL);
  if (float_bits(back) != float_bits(v)) {
    fail_note(t, "float: does not round-trip", v, buf);
    return;
  }
  if (!check_shortest || v == 0)
    return;
  t->shortest_checked++;
  char ours[40], ref[40], tmp[400];
  const int k = sig_digits(buf, ours);
  snprintf(tmp, sizeof tmp, "%.*e", k - 1, (double)v);
  sig_digits(tmp, ref);
  if (strcmp(ours, ref) != 0) {
    fail_note(t, "float: digits differ from %.*e", v, buf);
    return;
  }
  if (k > 1) {
    snprintf(tmp, sizeof tmp, "%.*g", k - 1, (double)v);
    if (strtof(tmp, NULL) == v)
      fail_note(t, "float: not shortest (one digit fewer round-trips)", v, buf);
  }
}

static void expect_text_double(double v, const char *want) {
  char buf[40];
  xs_format_double(v, buf);
  ck_assert_msg(strcmp(buf, want) == 0, "%.17g printed \"%s\", want \"%s\"", v,
                buf, want);
}

static void expect_text_float(float v, const char *want) {
  char buf[40];
  xs_format_float(v, buf);
  ck_assert_msg(strcmp(buf, want) == 0, "%.9g printed \"%s\", want \"%s\"",
                (double)v, buf, want);
}

/* Texts a person can check: the shortest forms are well known. */
START_TEST(known_texts) {
  expect_text_double(0.0, "0");
  expect_text_double(-0.0, "-0");
  expect_text_double(1.0, "1");
  expect_text_double(-2.0, "-2");
  expect_text_double(0.1, "0.1");
  expect_text_double(0.2 + 0.1, "0.30000000000000004");
  expect_text_double(1.0 / 3.0, "0.3333333333333333");
  expect_text_double(2.0 / 3.0, "0.6666666666666666");
  expect_text_double(100.0, "100");
  expect_text_double(1e21, "1e+21");
  /* integer text stays below int64 (jansson refuses larger integers) */
  expect_text_double(1e20, "1e+20");
  expect_text_double(1e15, "1e+15");
  expect_text_double(999999999999999.0, "999999999999999");
  expect_text_double(123456789012345678.0, "1.2345678901234568e+17");
  expect_text_double(1e-7, "1e-7");
  expect_text_double(1.5e-7, "1.5e-7");
  expect_text_double(1e-6, "0.000001");
  expect_text_double(123.456, "123.456");
  expect_text_double(5e-324, "5e-324");
  expect_text_double(-5e-324, "-5e-324");
  expect_text_double(DBL_MAX, "1.7976931348623157e+308");
  expect_text_double(DBL_MIN, "2.2250738585072014e-308");
  expect_text_double(9007199254740993.0, "9.007199254740992e+15");
  expect_text_double(1e23, "1e+23");
  expect_text_double(0.5, "0.5");
  expect_text_double(1.0 - DBL_EPSILON / 2, "0.9999999999999999");
  expect_text_double(1.0 + DBL_EPSILON, "1.0000000000000002");
  expect_text_float(0.1f, "0.1");
  expect_text_float(1.0f / 3.0f, "0.33333334");
  expect_text_float(-0.0f, "-0");
  expect_text_float(16777216.0f, "16777216");
  expect_text_float(FLT_MAX, "3.4028235e+38");
  expect_text_float(FLT_MIN, "1.1754944e-38");
  expect_text_float(1e-45f, "1e-45");
  expect_text_float(0.3f, "0.3");
}
END_TEST

START_TEST(int_texts) {
  char buf[32];
  xs__format_int(0, buf);
  ck_assert_str_eq(buf, "0");
  xs__format_int(-1, buf);
  ck_assert_str_eq(buf, "-1");
  xs__format_int(1234567890123LL, buf);
  ck_assert_str_eq(buf, "1234567890123");
  xs__format_int(INT64_MIN, buf);
  ck_assert_str_eq(buf, "-9223372036854775808");
  xs__format_int(INT64_MAX, buf);
  ck_assert_str_eq(buf, "9223372036854775807");
}
END_TEST

/* Edges: zeros, extremes, every power of two and of ten, integers, and the
 * neighbours of each. */
START_TEST(edge_doubles) {
  tally t = {0, 0, 0};
  const double fixed[] = {0.0,      -0.0,   DBL_MIN, -DBL_MIN,   DBL_MAX,
                          -DBL_MAX, 5e-324, -5e-324, DBL_EPSILON};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    check_double(&t, fixed[i], 1);
  for (int e = -1074; e <= 1023; e++) {
    const double p = ldexp(1.0, e);
    check_double(&t, p, 1);
    check_double(&t, -p, 1);
    check_double(&t, nextafter(p, 0), 1);
    check_double(&t, nextafter(p, INFINITY), 1);
  }
  for (int e = -323; e <= 308; e++) {
    char s[16];
    snprintf(s, sizeof s, "1e%d", e);
    const double p = strtod(s, NULL);
    check_double(&t, p, 1);
    check_double(&t, nextafter(p, 0), 1);
    check_double(&t, nextafter(p, INFINITY), 1);
    snprintf(s, sizeof s, "9.5e%d", e);
    check_double(&t, strtod(s, NULL), 1);
  }
  for (int i = -100000; i <= 100000; i++)
    check_double(&t, (double)i, i % 7 == 0);
  for (int i = 0; i < 2000; i++) /* large integers near 2^53 */
    check_double(&t, 9007199254740992.0 - 1000.0 + 2.0 * i, 1);
  /* Exact ties: 16 digits ending in 5 round to 15 digits half-way. */
  for (int i = 0; i < 2000; i++)
    check_double(&t, 1234567890123455.0 + 10.0 * i, 1);
  fprintf(stderr, "edge_doubles: %ld values, %ld shortest-checked\n", t.checked,
          t.shortest_checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

/* A million random bit patterns, 100k random subnormals, 100k values of
 * the sizes losses and gradients have. */
START_TEST(random_doubles) {
  tally t = {0, 0, 0};
  rng_state = 0x9E3779B97F4A7C15ULL;
  for (long i = 0; i < 1000000; i++) {
    const double v = bits_to_double(rng());
    if (isfinite(v))
      check_double(&t, v, i % 8 == 0);
  }
  for (long i = 0; i < 100000; i++) {
    const uint64_t mant = rng() & ((1ULL << 52) - 1);
    check_double(&t, bits_to_double(mant | (rng() & (1ULL << 63))), i % 4 == 0);
  }
  for (long i = 0; i < 100000; i++) {
    const double u = (double)(rng() >> 11) / 9007199254740992.0;
    check_double(&t, (u - 0.5) * pow(10.0, (double)(i % 12) - 8), i % 4 == 0);
  }
  fprintf(stderr, "random_doubles: %ld values, %ld shortest-checked\n",
          t.checked, t.shortest_checked);
  ck_assert_msg(t.checked > 1100000, "only %ld checked", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

START_TEST(edge_and_random_floats) {
  tally t = {0, 0, 0};
  const float fixed[] = {0.0f,    -0.0f,  FLT_MIN, -FLT_MIN,
                         FLT_MAX, 1e-45f, -1e-45f, FLT_EPSILON};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    check_float(&t, fixed[i], 1);
  for (int e = -149; e <= 127; e++) {
    const float p = ldexpf(1.0f, e);
    check_float(&t, p, 1);
    check_float(&t, nextafterf(p, 0), 1);
    check_float(&t, nextafterf(p, INFINITY), 1);
  }
  for (int e = -45; e <= 38; e++) {
    char s[16];
    snprintf(s, sizeof s, "1e%d", e);
    check_float(&t, strtof(s, NULL), 1);
  }
  for (int i = -70000; i <= 70000; i++)
    check_float(&t, (float)i, i % 7 == 0);
  for (int i = 0; i < 2000; i++) /* 7 digits ending in 5: ties at 6 */
    check_float(&t, (float)(1000005 + 10 * i), 1);
  rng_state = 0xD1B54A32D192ED03ULL;
  for (long i = 0; i < 1000000; i++) {
    const float v = bits_to_float((uint32_t)(rng() >> 32));
    if (isfinite(v))
      check_float(&t, v, i % 8 == 0);
  }
  for (long i = 0; i < 50000; i++) /* subnormal floats */
    check_float(&t, bits_to_float((uint32_t)(rng() >> 41)), i % 2 == 0);
  fprintf(stderr, "floats: %ld values, %ld shortest-checked\n", t.checked,
          t.shortest_checked);
  ck_assert_msg(t.checked > 1000000, "only %ld checked", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

static Suite *numfmt_suite(void) {
  Suite *s = suite_create("numfmt");
  TCase *tc = tcase_create("text");
  tcase_add_test(tc, known_texts);
  tcase_add_test(tc, int_texts);
  suite_add_tcase(s, tc);
  TCase *tr = tcase_create("roundtrip");
  /* Millions of values; valgrind runs them ~50x slower. */
  tcase_set_timeout(tr, 1800);
  tcase_add_test(tr, edge_doubles);
  tcase_add_test(tr, random_doubles);
  tcase_add_test(tr, edge_and_random_floats);
  suite_add_tcase(s, tr);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(numfmt_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
