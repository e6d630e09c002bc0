/*
 * test_numtext_long (make check-long): every one of the 2^32 float bit
 * patterns except NaN and the infinities. Each text is a JSON number of at
 * most 25 bytes, strtof reads it back to the same bits, it is the shortest
 * (neither decimal with one digit fewer around it reads back), and it is
 * byte for byte what the old server/numfmt.c printed. Two threads, one per
 * core; minutes, not part of `make check` (which checks every 257th).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "numtext.h"
#include "numtext_testutil.h"

size_t xs_old_format_float(float v, char *buf);

enum { THREADS = 2 };

typedef struct part {
  uint32_t first; /* patterns first, first + THREADS, ... */
  long checked, failed;
  char note[10][160];
} part;

static void note(part *w, uint32_t u, const char *what, const char *text) {
  if (w->failed < 10)
    snprintf(w->note[w->failed], sizeof w->note[0], "%08x (%.9g): %s \"%s\"", u,
             (double)bits_to_float(u), what, text);
  w->failed++;
}

static void *run(void *arg) {
  part *const w = arg;
  for (uint64_t u = w->first; u <= 0xFFFFFFFFULL; u += THREADS) {
    const float v = bits_to_float((uint32_t)u);
    if (!isfinite(v))
      continue;
    char buf[64], old[64];
    const size_t len = xs_format_float(v, buf);
    w->checked++;
    if (len > 25 || len != strlen(buf) || !is_json_number(buf))
      note(w, (uint32_t)u, "not a JSON number of <= 25 bytes", buf);
    else if (float_bits(strtof(buf, NULL)) != (uint32_t)u)
      note(w, (uint32_t)u, "does not round-trip", buf);
    else if (shorter_reads_back(buf, v, 1))
      note(w, (uint32_t)u, "not shortest", buf);
    else if (xs_old_format_float(v, old), strcmp(buf, old) != 0)
      note(w, (uint32_t)u, "differs from numfmt.c's", old);
    if ((u & 0x0FFFFFFF) == w->first)
      fprintf(stderr, "test_numtext_long: %08llx\n", (unsigned long long)u);
  }
  return NULL;
}

START_TEST(every_float) {
  static part parts[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    parts[i].first = (uint32_t)i;
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
  fprintf(stderr, "every_float: %ld floats, %ld failed\n", checked, failed);
  /* 2^32 minus 2 * 2^23 NaN and infinity patterns */
  ck_assert_int_eq(checked, 4278190080L);
  ck_assert_msg(failed == 0, "%ld of %ld failed", failed, checked);
}
END_TEST

int main(void) {
  Suite *s = suite_create("numtext_long");
  TCase *tc = tcase_create("all floats");
  tcase_set_timeout(tc, 6 * 3600);
  tcase_add_test(tc, every_float);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
