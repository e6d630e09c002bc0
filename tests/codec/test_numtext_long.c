/*
 * test_numtext_long (make check-long): every one of the 2^32 float bit
 * patterns except NaN and the infinities. Each text is a JSON number of at
 * most 25 bytes, strtof reads it back to the same bits, it is the shortest
 * (neither decimal with one digit fewer around it reads back), and it is
 * byte for byte "%.*e" of as many digits in numtext.h's layout (the
 * digits nearest the value, as the printer before it printed them).
 * Sixteen tests of 2^28 patterns each (one Check test of all of them
 * outlives Check's timer), two threads each, one per core; tens of
 * minutes, not part of `make check` (which checks every 257th pattern).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "numtext.h"
#include "numtext_testutil.h"

enum { THREADS = 2 };

typedef struct part {
  uint64_t first, end; /* patterns first, first + THREADS, ... below end */
  long checked, failed;
  char note[10][160];
} part;

static void note(part *w, uint32_t u, const char *what, const char *text) {
  if (w->failed < 10)
    snprintf(w->note[w->failed], sizeof w->note[0], "%08x (%.9g): %s \"%s\"", u,
             (double)bits_to_float(u), what, text);
  w->failed++;
}

/* text is reference_text's (for zero: "0" or "-0"); ref gets that. */
static int as_reference(float v, const char *text, char *ref) {
  if (v == 0) {
    strcpy(ref, signbit(v) ? "-0" : "0");
  } else {
    char digits[40];
    reference_text(v, sig_digits(text, digits, NULL), ref);
  }
  return strcmp(text, ref) == 0;
}

static void *run(void *arg) {
  part *const w = arg;
  for (uint64_t u = w->first; u < w->end; u += THREADS) {
    const float v = bits_to_float((uint32_t)u);
    if (!isfinite(v))
      continue;
    char buf[64], ref[64];
    const size_t len = xs_format_float(v, buf);
    w->checked++;
    if (len > 25 || len != strlen(buf) || !is_json_number(buf))
      note(w, (uint32_t)u, "not a JSON number of <= 25 bytes", buf);
    else if (float_bits(strtof(buf, NULL)) != (uint32_t)u)
      note(w, (uint32_t)u, "does not round-trip", buf);
    else if (shorter_reads_back(buf, v, 1))
      note(w, (uint32_t)u, "not shortest", buf);
    else if (!as_reference(v, buf, ref))
      note(w, (uint32_t)u, "differs from the reference", ref);
  }
  return NULL;
}

START_TEST(every_float) {
  /* _i: which 2^28 patterns */
  static part parts[THREADS];
  pthread_t th[THREADS];
  const uint64_t base = (uint64_t)_i << 28;
  for (int i = 0; i < THREADS; i++) {
    memset(&parts[i], 0, sizeof parts[i]);
    parts[i].first = base + (uint64_t)i;
    parts[i].end = base + (1ULL << 28);
    ck_assert_int_eq(pthread_create(&th[i], NULL, run, &parts[i]), 0);
  }
  long checked = 0, failed = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    checked += parts[i].checked;
    failed += parts[i].failed;
    for (long k = 0; k < parts[i].failed && k < 10; k++)
      fprintf(stderr, "numtext: %s\n", parts[i].note[k]);
  }
  fprintf(stderr, "every_float %08llx..: %ld floats, %ld failed\n",
          (unsigned long long)base, checked, failed);
  /* patterns 7f800000..7fffffff and ff800000..ffffffff: NaN and infinity */
  const long skipped = _i == 7 || _i == 15 ? 1L << 23 : 0;
  ck_assert_int_eq(checked, (1L << 28) - skipped);
  ck_assert_msg(failed == 0, "%ld of %ld failed", failed, checked);
}
END_TEST

int main(void) {
  Suite *s = suite_create("numtext_long");
  TCase *tc = tcase_create("all floats");
  tcase_set_timeout(tc, 3600);
  tcase_add_loop_test(tc, every_float, 0, 16);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
