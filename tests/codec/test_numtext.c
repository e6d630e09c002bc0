/*
 * test_numtext: server/codec/numtext.h, both directions.
 *
 * Printer: on every value, strtod / strtof of the text gives the identical
 * bits, the text is a JSON number of at most 25 bytes that writes nothing
 * past buf[32], and laid out again from its own digits it is the same
 * bytes; on subsets, neither neighbouring decimal with one digit fewer
 * reads back (shortest) and the text is byte for byte "%.*e" with as many
 * digits (correctly rounded) in numtext.h's layout, the one the printer
 * before it had (clients and api/examples depend on it). Floats: every
 * 257th bit pattern and the edges of every exponent here; all 2^32 in
 * test_numtext_long (make check-long).
 *
 * Scanner: values against glibc strtod on millions of random tokens, exact
 * half-way points between doubles written out in full, long zero runs;
 * grammar rejections, INCOMPLETE on every prefix, int64 limits, and the
 * answers of jansson 2.14 (the service's oracle) on the edge cases.
 *
 * Loops run over fixed counts and seeds, report their first failures on
 * stderr, then make one assertion per test.
 */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numtext.h"

#include "numtext_testutil.h"

/* xorshift64*: fixed seeds, so every run checks the same values. */
static uint64_t rng_state;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

/* NUMTEXT_SCALE (environment, default 1) divides the bulk tests' counts:
 * the make rule sets 4 under valgrind (RUNNER), which is ~50x slower. */
static long scale = 1;
static long n_of(long count) {
  return count / scale;
}

typedef struct tally {
  long checked;
  long failed;
  long shortest_checked;
} tally;

static void fail_note(tally *t, const char *what, double v, const char *text) {
  if (t->failed < 10)
    fprintf(stderr, "numtext: %s: %.17g (bits %016llx) printed \"%s\"\n", what,
            v, (unsigned long long)double_bits(v), text);
  t->failed++;
}

/* Prints v into a buffer full of 'x' and checks the text's form, its
 * layout, and that nothing past buf[32] changed. */
static size_t print_checked(tally *t, double v, int is_float, char *buf) {
  memset(buf, 'x', 64);
  const size_t len =
      is_float ? xs_format_float((float)v, buf) : xs_format_double(v, buf);
  for (int i = XS_NUMTEXT_BUF; i < 64; i++)
    if (buf[i] != 'x') {
      fail_note(t, "wrote past buf[32]", v, buf);
      return 0;
    }
  if (len > 25 || len != strlen(buf) || !is_json_number(buf)) {
    fail_note(t, "not a JSON number of <= 25 bytes", v, buf);
    return 0;
  }
  if (!layout_holds(buf)) {
    fail_note(t, "not in numtext.h's layout", v, buf);
    return 0;
  }
  return len;
}

/* v printed as a double, or as a float when is_float (v is then a float's
 * value): the text must read back to v and, with check_shortest, be the
 * "%.*e" digits of its own length laid out, with no shorter text reading
 * back. */
static void check_value(tally *t, double v, int is_float, int check_shortest) {
  if (!isfinite(v))
    return;
  const char *const kind = is_float ? "float: " : "";
  char buf[64], why[64];
  t->checked++;
  if (print_checked(t, v, is_float, buf) == 0)
    return;
  const int back = is_float
                       ? float_bits(strtof(buf, NULL)) == float_bits((float)v)
                       : double_bits(strtod(buf, NULL)) == double_bits(v);
  if (!back) {
    snprintf(why, sizeof why, "%sdoes not round-trip", kind);
    fail_note(t, why, v, buf);
    return;
  }
  if (!check_shortest || v == 0)
    return;
  t->shortest_checked++;
  char digits[40], ref[64];
  reference_text(v, sig_digits(buf, digits, NULL), ref);
  if (strcmp(buf, ref) != 0) {
    snprintf(why, sizeof why, "%sdiffers from %%.*e laid out", kind);
    fail_note(t, why, v, buf);
  } else if (shorter_reads_back(buf, v, is_float)) {
    snprintf(why, sizeof why, "%snot shortest (one digit fewer reads back)",
             kind);
    fail_note(t, why, v, buf);
  }
}

static void check_double(tally *t, double v, int check_shortest) {
  check_value(t, v, 0, check_shortest);
}

static void check_float(tally *t, float v, int check_shortest) {
  check_value(t, v, 1, check_shortest);
}

/* Round trip and shortest, without "%.*e" (a third of the cost). */
static void check_float_shortest(tally *t, float v) {
  if (!isfinite(v))
    return;
  char buf[64];
  t->checked++;
  if (print_checked(t, v, 1, buf) == 0)
    return;
  if (float_bits(strtof(buf, NULL)) != float_bits(v))
    fail_note(t, "float: does not round-trip", v, buf);
  else if (shorter_reads_back(buf, v, 1))
    fail_note(t, "float: not shortest (one digit fewer reads back)", v, buf);
}

/* The text is "%.*e" of as many digits, laid out (reference_text): the
 * digits nearest v at their length, in numtext.h's layout. Neither round
 * trip nor shortest (check_double / check_float add those). */
static void as_reference(tally *t, double v, int is_float) {
  const double x = is_float ? (double)(float)v : v;
  if (!isfinite(x) || x == 0)
    return;
  char buf[64], digits[40], ref[64];
  if (is_float)
    xs_format_float((float)v, buf);
  else
    xs_format_double(v, buf);
  t->checked++;
  reference_text(x, sig_digits(buf, digits, NULL), ref);
  if (strcmp(buf, ref) != 0 && t->failed++ < 10)
    fprintf(stderr, "numtext: %s %.17g: printed \"%s\", reference \"%s\"\n",
            is_float ? "float" : "double", v, buf, ref);
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

/* ================================================================ printer */

/* Texts a person can check, and the layout's edges. */
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
  expect_text_double(1e20, "1e+20");
  expect_text_double(1e15, "1e+15");
  expect_text_double(-1e15, "-1e+15");
  expect_text_double(999999999999999.0, "999999999999999");
  expect_text_double(123456789012345.6, "123456789012345.6");
  expect_text_double(100000000000000.0, "100000000000000");
  expect_text_double(123456789012345678.0, "1.2345678901234568e+17");
  expect_text_double(1e-7, "1e-7");
  expect_text_double(1.5e-7, "1.5e-7");
  expect_text_double(nextafter(1e-6, 0), "9.999999999999997e-7");
  expect_text_double(1e-6, "0.000001");
  expect_text_double(-1.2345678901234567e-6, "-0.0000012345678901234567");
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
  expect_text_double(1024.0, "1024");
  expect_text_double(0x1p-1022 * 3, "6.675221575521604e-308");
  expect_text_float(0.1f, "0.1");
  expect_text_float(1.0f / 3.0f, "0.33333334");
  expect_text_float(-0.0f, "-0");
  expect_text_float(16777216.0f, "16777216");
  expect_text_float(FLT_MAX, "3.4028235e+38");
  expect_text_float(FLT_MIN, "1.1754944e-38");
  expect_text_float(1e-45f, "1e-45");
  expect_text_float(0.3f, "0.3");
  expect_text_float(1e15f, "1e+15"); /* 999999986991104: "1e15" reads back */
  expect_text_float(1e-7f, "1e-7");
  char buf[40];
  ck_assert_uint_eq(xs_format_double(INFINITY, buf), 4);
  ck_assert_str_eq(buf, "null");
  ck_assert_uint_eq(xs_format_float(NAN, buf), 4);
  ck_assert_str_eq(buf, "null");
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
  for (long i = 0; i < n_of(1000000); i++) {
    const double v = bits_to_double(rng());
    if (isfinite(v))
      check_double(&t, v, i % 8 == 0);
  }
  for (long i = 0; i < n_of(100000); i++) {
    const uint64_t mant = rng() & ((1ULL << 52) - 1);
    check_double(&t, bits_to_double(mant | (rng() & (1ULL << 63))), i % 4 == 0);
  }
  for (long i = 0; i < n_of(100000); i++) {
    const double u = (double)(rng() >> 11) / 9007199254740992.0;
    check_double(&t, (u - 0.5) * pow(10.0, (double)(i % 12) - 8), i % 4 == 0);
  }
  fprintf(stderr, "random_doubles: %ld values, %ld shortest-checked\n",
          t.checked, t.shortest_checked);
  ck_assert_msg(t.checked > n_of(1100000), "only %ld checked", t.checked);
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
  for (long i = 0; i < n_of(1000000); i++) {
    const float v = bits_to_float((uint32_t)(rng() >> 32));
    if (isfinite(v))
      check_float(&t, v, i % 8 == 0);
  }
  for (long i = 0; i < n_of(50000); i++) /* subnormal floats */
    check_float(&t, bits_to_float((uint32_t)(rng() >> 41)), i % 2 == 0);
  fprintf(stderr, "floats: %ld values, %ld shortest-checked\n", t.checked,
          t.shortest_checked);
  ck_assert_msg(t.checked > n_of(1000000), "only %ld checked", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

/* Every 257th float bit pattern (257 is odd, so every mantissa residue and
 * exponent comes up) and, for every exponent, its 64 smallest and 64
 * largest mantissas; each: round trip, shortest, layout; the edges and
 * every 16th of the others also against "%.*e" laid out. */
START_TEST(sampled_floats) {
  tally t = {0, 0, 0};
  const uint64_t stride = 257 * (uint64_t)scale; /* odd: every residue */
  for (uint64_t u = 0; u <= 0xFFFFFFFFULL; u += stride) {
    const float v = bits_to_float((uint32_t)u);
    if ((u / stride) % 16 == 0)
      check_float(&t, v, 1);
    else
      check_float_shortest(&t, v);
  }
  for (uint32_t sign = 0; sign < 2; sign++)
    for (uint32_t e = 0; e < 255; e++)
      for (uint32_t m = 0; m < 64; m++) {
        const uint32_t base = (sign << 31) | (e << 23);
        check_float(&t, bits_to_float(base | m), 1);
        check_float(&t, bits_to_float(base | (0x7FFFFFu - m)), 1);
      }
  fprintf(stderr, "sampled_floats: %ld values, %ld against %%.*e too\n",
          t.checked, t.shortest_checked);
  ck_assert_msg(t.checked > n_of(16000000), "only %ld checked", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

/* "%.*e" laid out, byte for byte, on millions of doubles and floats:
 * random bits, the gradient's shapes, integers, every power of two and ten
 * with their neighbours, the layout's switch points. */
START_TEST(as_reference_text) {
  tally t = {0, 0, 0};
  rng_state = 0x2545F4914F6CDD1DULL;
  for (long i = 0; i < n_of(1500000); i++) {
    as_reference(&t, bits_to_double(rng()), 0);
    as_reference(&t, bits_to_float((uint32_t)(rng() >> 32)), 1);
  }
  for (long i = 0; i < n_of(500000); i++) {
    const double u = (double)(rng() >> 11) * 0x1p-53;
    const double g =
        (i % 1000 == 0 ? u - 1.0 : u * 1e-3) * exp(-(double)(i % 7));
    as_reference(&t, g, 0);
    as_reference(&t, g, 1);
    as_reference(&t, (u - 0.5) * 8.0, 0);
    as_reference(&t, (double)(int64_t)(rng() >> (i % 64)), 0);
  }
  for (int e = -1074; e <= 1023; e++) {
    const double p = ldexp(1.0, e);
    as_reference(&t, p, 0);
    as_reference(&t, nextafter(p, 0), 0);
    as_reference(&t, nextafter(p, INFINITY), 0);
    as_reference(&t, p, 1);
  }
  for (int e = -324; e <= 308; e++)
    for (int m = 1; m <= 99; m++) {
      char s[32];
      snprintf(s, sizeof s, "%d.%de%d", m / 10, m % 10, e);
      const double p = strtod(s, NULL);
      as_reference(&t, p, 0);
      as_reference(&t, nextafter(p, 0), 0);
      as_reference(&t, nextafter(p, INFINITY), 0);
      as_reference(&t, p, 1);
    }
  fprintf(stderr, "as_reference_text: %ld values\n", t.checked);
  ck_assert_msg(t.checked > n_of(5000000), "only %ld checked", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld differ from the reference", t.failed,
                t.checked);
}
END_TEST

/* ================================================================ scanner */

typedef struct scanned {
  xs_numscan r;
  size_t len;
  xs_number n;
} scanned;

/* Scans s[0..strlen) with end right after it. */
static scanned scan_str(const char *s, int final) {
  scanned x;
  memset(&x.n, 0x5A, sizeof x.n);
  x.len = 999;
  x.r = xs_scan_number(s, s + strlen(s), final, &x.n, &x.len);
  return x;
}

static void expect_scan(const char *s, xs_numscan r, size_t len) {
  const scanned x = scan_str(s, 1);
  ck_assert_msg(x.r == r && x.len == len, "\"%s\": got %d len %zu, want %d %zu",
                s, x.r, x.len, r, len);
}

/* RANGE over the whole of s, and which limit: is_int (int64) or not (a
 * real beyond DBL_MAX); json.c names it in its error message. */
static void expect_range(const char *s, int is_int) {
  const scanned x = scan_str(s, 1);
  ck_assert_msg(x.r == XS_NUM_RANGE && x.len == strlen(s) &&
                    x.n.is_int == is_int,
                "\"%s\": got %d len %zu is_int %d, want RANGE is_int %d", s,
                x.r, x.len, x.n.is_int, is_int);
}

static void expect_real(const char *s, double want) {
  const scanned x = scan_str(s, 1);
  ck_assert_msg(x.r == XS_NUM_OK && x.len == strlen(s) && !x.n.is_int &&
                    double_bits(x.n.d) == double_bits(want),
                "\"%s\": got %d len %zu is_int %d %.17g, want %.17g", s, x.r,
                x.len, x.n.is_int, x.n.d, want);
}

static void expect_int(const char *s, int64_t want) {
  const scanned x = scan_str(s, 1);
  ck_assert_msg(x.r == XS_NUM_OK && x.len == strlen(s) && x.n.is_int &&
                    x.n.i == want && x.n.d == (double)want,
                "\"%s\": got %d len %zu is_int %d %lld, want %lld", s, x.r,
                x.len, x.n.is_int, (long long)x.n.i, (long long)want);
}

START_TEST(grammar) {
  /* rejections: *len is the bytes before the bad one */
  expect_scan("01", XS_NUM_INVALID, 1);
  expect_scan("-01", XS_NUM_INVALID, 2);
  expect_scan("00", XS_NUM_INVALID, 1);
  expect_scan("1.", XS_NUM_INVALID, 2);
  expect_scan(".5", XS_NUM_INVALID, 0);
  expect_scan("+1", XS_NUM_INVALID, 0);
  expect_scan("1e", XS_NUM_INVALID, 2);
  expect_scan("1e+", XS_NUM_INVALID, 3);
  expect_scan("1E-x", XS_NUM_INVALID, 3);
  expect_scan("-", XS_NUM_INVALID, 1);
  expect_scan("--1", XS_NUM_INVALID, 1);
  expect_scan("-.5", XS_NUM_INVALID, 1);
  expect_scan("1.e5", XS_NUM_INVALID, 2);
  expect_scan("1.5e", XS_NUM_INVALID, 4);
  expect_scan("a", XS_NUM_INVALID, 0);
  expect_scan("-a", XS_NUM_INVALID, 1);
  expect_scan("\xff", XS_NUM_INVALID, 0);
  expect_scan("1.\xff", XS_NUM_INVALID, 2);
  /* the token ends at the first byte that cannot continue it */
  expect_scan("0x10", XS_NUM_OK, 1);
  expect_scan("123,", XS_NUM_OK, 3);
  expect_scan("1.5]", XS_NUM_OK, 3);
  expect_scan("1e5}", XS_NUM_OK, 3);
  expect_scan("12 ", XS_NUM_OK, 2);
  expect_scan("1.5e3x", XS_NUM_OK, 5);
  expect_scan("1.25.5", XS_NUM_OK, 4);
  expect_scan("1e5e5", XS_NUM_OK, 3);
  expect_scan("-0-", XS_NUM_OK, 2);
  expect_scan("7\xff", XS_NUM_OK, 1);
  /* values and kinds */
  expect_int("0", 0);
  expect_int("-0", 0);
  ck_assert(signbit(scan_str("-0", 1).n.d)); /* as strtod("-0") */
  expect_real("-0.0", -0.0);
  expect_real("0e5", 0.0);
  expect_real("-0e-5", -0.0);
  expect_real("1E+2", 100.0);
  expect_real("1e2", 100.0);
  expect_real("1.5", 1.5);
  expect_real("0.5", 0.5);
  expect_real("-0.0012345678901234567", -0.0012345678901234567);
  expect_real("1e-400", 0.0);
  expect_real("-1e-400", -0.0);
  expect_real("0e99999999999999999999", 0.0);
  expect_real("0.0000e-99999999999999999999", 0.0);
  expect_real("2.4703282292062327e-324", 0.0); /* just below half of min */
  expect_real("2.4703282292062328e-324", 5e-324);
  expect_real("4.9406564584124654e-324", 5e-324);
  expect_real("2.2250738585072011e-308", 2.225073858507201e-308);
  expect_real("1.7976931348623157e308", DBL_MAX);
  expect_real("1.7976931348623158e308", DBL_MAX);
  expect_range("1.7976931348623159e308", 0);
  expect_range("1e400", 0);
  expect_range("-1e400", 0);
  expect_range("1e99999999999999999999", 0);
  expect_real("4503599627370496.5", 4503599627370496.0); /* tie: even */
  expect_real("4503599627370497.5", 4503599627370498.0);
  expect_real("9007199254740993.0", 9007199254740992.0);
  expect_real("9007199254740993.00000000000000000000001", 9007199254740994.0);
}
END_TEST

START_TEST(int64_limits) {
  expect_int("9223372036854775807", INT64_MAX);
  expect_range("9223372036854775808", 1);
  expect_int("-9223372036854775808", INT64_MIN);
  expect_range("-9223372036854775809", 1);
  expect_range("10000000000000000000", 1);
  expect_range("123456789012345678901234567890", 1);
  expect_int("999999999999999999", 999999999999999999LL);
  expect_int("-1", -1);
  /* as a real, the same digits are fine */
  expect_real("9223372036854775808.0", 9223372036854775808.0);
  expect_real("123456789012345678901234567890e0", 1.2345678901234568e29);
  /* d is the correctly rounded double of the integer */
  const scanned x = scan_str("9007199254740993", 1);
  ck_assert(x.r == XS_NUM_OK && x.n.is_int && x.n.i == 9007199254740993LL);
  ck_assert(x.n.d == 9007199254740992.0);
}
END_TEST

/* Writes a random JSON number token into s (at most 120 bytes): 1..40
 * significant digits with the point anywhere, leading zeros, exponents
 * across the whole range and past it. */
static size_t random_token(char *s) {
  size_t n = 0;
  if (rng() & 1)
    s[n++] = '-';
  const int nd = 1 + (int)(rng() % 40);
  const int intd = (int)(rng() % (uint64_t)(nd + 1));
  if (intd == 0) {
    s[n++] = '0';
  } else {
    s[n++] = (char)('1' + rng() % 9);
    for (int j = 1; j < intd; j++)
      s[n++] = (char)('0' + rng() % 10);
  }
  if (nd > intd) {
    s[n++] = '.';
    const int zeros = rng() % 4 == 0 ? (int)(rng() % 12) : 0;
    for (int j = 0; j < zeros; j++)
      s[n++] = '0';
    for (int j = intd; j < nd; j++)
      s[n++] = (char)('0' + rng() % 10);
  }
  const int kind = (int)(rng() % 8);
  if (kind < 5) {
    const int e = (int)(rng() % 700) - 360;
    n += (size_t)sprintf(s + n, "%s%s%d", rng() & 1 ? "e" : "E",
                         e >= 0 && (rng() & 1) ? "+" : "", e);
  } else if (kind == 5) { /* near the subnormal and overflow edges */
    const int e = (rng() & 1 ? -300 : 290) - (int)(rng() % 30) - intd;
    n += (size_t)sprintf(s + n, "e%d", e);
  }
  s[n] = '\0';
  return n;
}

typedef struct scan_tally {
  long checked, failed;
} scan_tally;

/* What the scanner must answer for the whole of s[0..n) followed by a
 * byte that cannot continue it: INVALID off the grammar; for an integer
 * token, RANGE outside int64 (strtoll's ERANGE, as in jansson), else OK;
 * for others RANGE when strtod overflows, else OK with strtod's value. */
static xs_numscan expected(const char *s, size_t n, double *d, int *is_int) {
  char buf[1200];
  memcpy(buf, s, n);
  buf[n] = '\0';
  *is_int = memchr(s, '.', n) == NULL && memchr(s, 'e', n) == NULL &&
            memchr(s, 'E', n) == NULL;
  *d = strtod(buf, NULL);
  if (!is_json_number_n(s, n))
    return XS_NUM_INVALID;
  if (*is_int) {
    errno = 0;
    (void)strtoll(buf, NULL, 10);
    return errno == ERANGE ? XS_NUM_RANGE : XS_NUM_OK;
  }
  return isinf(*d) ? XS_NUM_RANGE : XS_NUM_OK;
}

/* The scanner on s[0..n) followed by tail (or nothing), against
 * expected(). */
static void check_token(scan_tally *t, const char *s, size_t n,
                        const char *tail) {
  char buf[1200];
  const size_t tl = strlen(tail);
  memcpy(buf, s, n);
  memcpy(buf + n, tail, tl + 1);
  xs_number x;
  size_t len = 999;
  memset(&x, 0x5A, sizeof x);
  const xs_numscan r = xs_scan_number(buf, buf + n + tl, 1, &x, &len);
  t->checked++;
  double want;
  int is_int;
  const xs_numscan want_r = expected(s, n, &want, &is_int);
  int ok = r == want_r;
  if (ok && r == XS_NUM_RANGE)
    ok = len == n && x.is_int == is_int;
  if (ok && r == XS_NUM_OK)
    ok =
        len == n && double_bits(x.d) == double_bits(want) && x.is_int == is_int;
  if (!ok && t->failed++ < 10)
    fprintf(stderr,
            "numtext: scan \"%.*s\"+\"%s\": got %d len %zu %.17g, want %d "
            "%.17g\n",
            (int)n, s, tail, r, len, r == XS_NUM_OK ? x.d : 0.0, want_r, want);
}

START_TEST(random_tokens) {
  scan_tally t = {0, 0};
  rng_state = 0x6A09E667F3BCC909ULL;
  char s[160];
  for (long i = 0; i < n_of(2000000); i++) {
    const size_t n = random_token(s);
    check_token(&t, s, n, i % 3 == 0 ? "" : i % 3 == 1 ? ", 1, 2, 3]" : "]");
  }
  /* printed doubles: shortest, %.17g, %.16e */
  for (long i = 0; i < n_of(300000); i++) {
    const double v = bits_to_double(rng());
    if (!isfinite(v))
      continue;
    size_t n = xs_format_double(v, s);
    check_token(&t, s, n, ",");
    n = (size_t)snprintf(s, sizeof s, "%.17g", v);
    check_token(&t, s, n, "");
    n = (size_t)snprintf(s, sizeof s, "%.16e", v);
    check_token(&t, s, n, " ");
  }
  fprintf(stderr, "random_tokens: %ld tokens\n", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

/* Exact half-way points between neighbouring doubles, written out in full
 * (up to ~770 digits, from long double, which holds them exactly), and the
 * same just above and just below. */
START_TEST(halfway_points) {
  scan_tally t = {0, 0};
  rng_state = 0xBB67AE8584CAA73BULL;
  for (long i = 0; i < n_of(60000); i++) {
    double a;
    switch (i % 4) {
    case 0: /* any */
      a = fabs(bits_to_double(rng()));
      break;
    case 1: /* subnormal */
      a = bits_to_double(rng() >> 12);
      break;
    case 2: /* the gradient's sizes */
      a = ldexp((double)(rng() >> 11), -53 - (int)(rng() % 30));
      break;
    default: /* near 1 and the integers of 2^53 */
      a = ldexp((double)((rng() >> 11) | 1), (int)(rng() % 4) - 52);
      break;
    }
    if (!isfinite(a) || a == DBL_MAX)
      continue;
    const long double mid = ((long double)a + nextafter(a, INFINITY)) / 2;
    char full[1000], mant[1000], text[1100];
    snprintf(full, sizeof full, "%.800Le", mid);
    const char *const e = strchr(full, 'e');
    size_t m = (size_t)(e - full);
    while (full[m - 1] == '0') /* drop the mantissa's trailing zeros */
      m--;
    if (full[m - 1] == '.')
      m--;
    memcpy(mant, full, m);
    mant[m] = '\0';
    const int point = strchr(mant, '.') != NULL;
    /* exactly half-way */
    int n = snprintf(text, sizeof text, "%s%s", mant, e);
    check_token(&t, text, (size_t)n, ",");
    /* just above: a 1 after the last digit */
    n = snprintf(text, sizeof text, "%s%s00001%s", mant, point ? "" : ".", e);
    check_token(&t, text, (size_t)n, "]");
    /* just below: the last digit (never 0) one lower, then 9s */
    mant[m - 1]--;
    n = snprintf(text, sizeof text, "%s%s99999%s", mant, point ? "" : ".", e);
    check_token(&t, text, (size_t)n, "");
  }
  /* the half-way point above DBL_MAX rounds to infinity: RANGE */
  check_token(&t, "1.797693134862315807937289714053034150799e308", 45, "");
  fprintf(stderr, "halfway_points: %ld tokens\n", t.checked);
  ck_assert_msg(t.checked > n_of(150000), "only %ld checked", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

/* Long runs of zeros and digits, hundreds of them. */
START_TEST(long_tokens) {
  scan_tally t = {0, 0};
  char s[1100];
  for (int z = 0; z <= 400; z += (z < 40 ? 1 : 17)) {
    char zeros[420];
    memset(zeros, '0', (size_t)z);
    zeros[z] = '\0';
    for (int f = 0; f < 8; f++) {
      int n = 0;
      switch (f) {
      case 0:
        n = snprintf(s, sizeof s, "0.%s1", zeros);
        break;
      case 1:
        n = snprintf(s, sizeof s, "1%s", zeros);
        break;
      case 2:
        n = snprintf(s, sizeof s, "1%s.0", zeros);
        break;
      case 3:
        n = snprintf(s, sizeof s, "1.%s1", zeros);
        break;
      case 4:
        n = snprintf(s, sizeof s, "-0.%s5e%d", zeros, z);
        break;
      case 5:
        n = snprintf(s, sizeof s, "1%se-%d", zeros, z);
        break;
      case 6:
        n = snprintf(s, sizeof s, "9.%s9e-%d", zeros, z);
        break;
      default:
        n = snprintf(s, sizeof s, "0.%se%d", zeros, z);
        break;
      }
      check_token(&t, s, (size_t)n, ",");
      check_token(&t, s, (size_t)n, "");
    }
  }
  /* 100..1000 random digits */
  rng_state = 0x3C6EF372FE94F82BULL;
  for (long i = 0; i < n_of(3000); i++) {
    const int nd = 100 + (int)(rng() % 900);
    size_t n = 0;
    s[n++] = (char)('1' + rng() % 9);
    const int point = (int)(rng() % (uint64_t)nd);
    for (int j = 1; j < nd; j++) {
      if (j == point)
        s[n++] = '.';
      s[n++] = (char)('0' + (i % 3 == 0 ? 0 : rng() % 10));
    }
    n += (size_t)snprintf(s + n, sizeof s - n, "e%d",
                          (int)(rng() % 800) - 400 - point);
    check_token(&t, s, n, "]");
  }
  fprintf(stderr, "long_tokens: %ld tokens\n", t.checked);
  ck_assert_msg(t.failed == 0, "%ld of %ld failed", t.failed, t.checked);
}
END_TEST

/* Every prefix of a token (final = 0) is INCOMPLETE; with its next byte it
 * is OK, as the whole token with final = 1; with final = 1 a prefix is OK
 * (as strtod reads it) exactly when it is a number itself, else INVALID. */
START_TEST(incomplete_prefixes) {
  long checked = 0, failed = 0;
  rng_state = 0x510E527FADE682D1ULL;
  char s[200];
  for (long i = 0; i < n_of(20000); i++) {
    size_t n = random_token(s);
    if (i < 6) { /* and a few by hand */
      const char *fixed[] = {"-0", "0", "1E+2", "-0.0e-0", "123", "9.5e-7"};
      n = strlen(strcpy(s, fixed[i]));
    }
    xs_number whole;
    size_t whole_len;
    const xs_numscan wr = xs_scan_number(s, s + n, 1, &whole, &whole_len);
    for (size_t k = 1; k <= n; k++) {
      xs_number x;
      size_t len;
      checked++;
      const xs_numscan r0 = xs_scan_number(s, s + k, 0, &x, &len);
      int ok = r0 == XS_NUM_INCOMPLETE && len == k;
      const xs_numscan r1 = xs_scan_number(s, s + k, 1, &x, &len);
      double want;
      int is_int;
      const xs_numscan want_r = expected(s, k, &want, &is_int);
      ok = ok && r1 == want_r;
      if (r1 == XS_NUM_OK)
        ok = ok && len == k && double_bits(x.d) == double_bits(want);
      else if (r1 == XS_NUM_INVALID)
        ok = ok && len <= k;
      if (!ok && failed++ < 10)
        fprintf(stderr, "numtext: prefix \"%.*s\" of \"%s\": %d / %d\n", (int)k,
                s, s, r0, r1);
    }
    /* with a delimiter after it, final = 0 is enough */
    s[n] = ',';
    xs_number x;
    size_t len;
    const xs_numscan r = xs_scan_number(s, s + n + 1, 0, &x, &len);
    checked++;
    if ((r != wr || len != whole_len ||
         (r == XS_NUM_OK && double_bits(x.d) != double_bits(whole.d))) &&
        failed++ < 10)
      fprintf(stderr, "numtext: \"%.*s,\" with final 0: %d, whole %d\n", (int)n,
              s, r, wr);
  }
  fprintf(stderr, "incomplete_prefixes: %ld scans\n", checked);
  ck_assert_msg(failed == 0, "%ld of %ld failed", failed, checked);
}
END_TEST

/* jansson 2.14 on the same tokens: an error exactly when RANGE or INVALID,
 * an integer exactly when is_int, the same value. */
static void jansson_agrees(long *failed, const char *tok) {
  char doc[1200];
  snprintf(doc, sizeof doc, "[%s]", tok);
  json_error_t err;
  json_t *j = json_loads(doc, 0, &err);
  const scanned x = scan_str(tok, 1);
  int ok;
  if (j == NULL) {
    ok = x.r == XS_NUM_RANGE || x.r == XS_NUM_INVALID ||
         (x.r == XS_NUM_OK && x.len != strlen(tok));
  } else {
    const json_t *v = json_array_get(j, 0);
    ok = x.r == XS_NUM_OK && x.len == strlen(tok);
    if (ok && json_is_integer(v))
      ok = x.n.is_int && x.n.i == json_integer_value(v);
    else if (ok)
      ok = !x.n.is_int && double_bits(x.n.d) == double_bits(json_real_value(v));
    json_decref(j);
  }
  if (!ok && (*failed)++ < 10)
    fprintf(stderr, "numtext: jansson disagrees on \"%s\" (%d)\n", tok, x.r);
}

START_TEST(as_jansson) {
  long failed = 0;
  const char *toks[] = {"0",
                        "-0",
                        "-0.0",
                        "1E+2",
                        "0e5",
                        "9223372036854775807",
                        "9223372036854775808",
                        "-9223372036854775808",
                        "-9223372036854775809",
                        "1e400",
                        "-1e400",
                        "1e-400",
                        "4.9e-324",
                        "2.4703282292062328e-324",
                        "1.7976931348623158e308",
                        "1.7976931348623159e308",
                        "01",
                        "1.",
                        ".5",
                        "+1",
                        "1e",
                        "-",
                        "1.e5",
                        "0x10",
                        "123456789012345678901234567890",
                        "123456789012345678901234567890.5",
                        NULL};
  for (int i = 0; toks[i] != NULL; i++)
    jansson_agrees(&failed, toks[i]);
  rng_state = 0x9B05688C2B3E6C1FULL;
  char s[160];
  for (long i = 0; i < n_of(30000); i++) {
    random_token(s);
    jansson_agrees(&failed, s);
  }
  ck_assert_msg(failed == 0, "%ld disagreements", failed);
}
END_TEST

static Suite *numtext_suite(void) {
  Suite *s = suite_create("numtext");
  TCase *tc = tcase_create("small");
  tcase_add_test(tc, known_texts);
  tcase_add_test(tc, grammar);
  tcase_add_test(tc, int64_limits);
  suite_add_tcase(s, tc);
  TCase *tr = tcase_create("bulk");
  /* Millions of values; valgrind runs them ~50x slower. */
  tcase_set_timeout(tr, 3600);
  tcase_add_test(tr, edge_doubles);
  tcase_add_test(tr, random_doubles);
  tcase_add_test(tr, edge_and_random_floats);
  tcase_add_test(tr, sampled_floats);
  tcase_add_test(tr, as_reference_text);
  tcase_add_test(tr, random_tokens);
  tcase_add_test(tr, halfway_points);
  tcase_add_test(tr, long_tokens);
  tcase_add_test(tr, incomplete_prefixes);
  tcase_add_test(tr, as_jansson);
  suite_add_tcase(s, tr);
  return s;
}

int main(void) {
  const char *const env = getenv("NUMTEXT_SCALE");
  if (env != NULL && atol(env) > 0)
    scale = atol(env);
  SRunner *sr = srunner_create(numtext_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
