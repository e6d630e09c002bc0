/*
 * bench_numtext: nanoseconds per number of server/codec/numtext.c against
 * the C library in the same run: snprintf "%.17g" / "%.9g" (round-trip
 * text, not the shortest) for the printers, strtod for the scanner. Best
 * of ROUNDS rounds each, rounds interleaved. Not a test: prints figures
 * only (and exits non-zero if the scanner disagrees with strtod on the
 * inputs).
 *
 * Inputs: 256 x 1000 values shaped like a gradient (softmax-like sizes), and
 * as text for the parsers: "%.17g" of (u - 0.5) * 8 (bench_parse's
 * logits), the shortest texts of the gradient, and one fixed token.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numtext.h"

#ifdef XS_NUMTEXT_COUNT_FALLBACKS
extern unsigned long xs__numtext_fallbacks;
#endif

/* ------------------------------------------------------------ harness -- */

enum { COUNT = 256 * 1000, ROUNDS = 15 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The clock the benchmark gets (the machine's cores are shared, and their
 * speed moves): a chain of dependent adds, one per cycle on x86-64. 0 when
 * not measured. */
static double ghz(void) {
#if defined(__x86_64__)
  double best = 1e9;
  uint64_t x = 0;
  for (int r = 0; r < 3; r++) {
    const double t0 = now();
    for (long i = 0; i < 5000000; i++)
      __asm__ volatile("add $1, %0" : "+r"(x));
    best = fmin(best, now() - t0);
  }
  return x == 0 ? 0 : 5e6 / best * 1e-9;
#else
  return 0;
#endif
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

/* A text of COUNT tokens separated by ", "; starts[i] is token i. */
typedef struct corpus {
  char *text;
  const char **starts;
  const char *end;
  double *want; /* strtod of each token */
} corpus;

static void corpus_fill(corpus *c, char *text, size_t len) {
  c->text = text;
  c->end = text + len;
  c->starts = malloc(COUNT * sizeof *c->starts);
  c->want = malloc(COUNT * sizeof *c->want);
  if (c->starts == NULL || c->want == NULL)
    exit(1);
  const char *p = text;
  for (int i = 0; i < COUNT; i++) {
    c->starts[i] = p;
    char *e;
    c->want[i] = strtod(p, &e);
    p = e + 2;
  }
}

static void corpus_free(corpus *c) {
  free(c->text);
  free(c->starts);
  free(c->want);
}

/* Which printer or parser a timing runs. With XS_BENCH_BEFORE (make
 * bench-numtext-before), the printer of an earlier revision too, built
 * from git with its functions renamed before_format_*. */
#ifdef XS_BENCH_BEFORE
size_t before_format_double(double v, char *buf);
size_t before_format_float(float v, char *buf);
enum {
  P_NEW_D,
  P_SNPRINTF_D,
  P_OLD_D,
  P_NEW_F,
  P_SNPRINTF_F,
  P_OLD_F,
  P_COUNT
};
static const char *const print_names[P_COUNT] = {
    "double  xs_format_double", "double  snprintf %.17g",
    "double  " XS_BENCH_BEFORE, "float   xs_format_float",
    "float   snprintf %.9g",    "float   " XS_BENCH_BEFORE};
#else
enum { P_NEW_D, P_SNPRINTF_D, P_NEW_F, P_SNPRINTF_F, P_COUNT };
static const char *const print_names[P_COUNT] = {
    "double  xs_format_double", "double  snprintf %.17g",
    "float   xs_format_float", "float   snprintf %.9g"};
#endif

static double time_print(int which, const double *v, size_t *bytes) {
  char buf[64];
  size_t sum = 0;
  const double t0 = now();
  for (int i = 0; i < COUNT; i++) {
    switch (which) {
    case P_NEW_D:
      sum += xs_format_double(v[i], buf);
      break;
    case P_SNPRINTF_D:
      sum += (size_t)snprintf(buf, sizeof buf, "%.17g", v[i]);
      break;
#ifdef XS_BENCH_BEFORE
    case P_OLD_D:
      sum += before_format_double(v[i], buf);
      break;
    case P_OLD_F:
      sum += before_format_float((float)v[i], buf);
      break;
#endif
    case P_NEW_F:
      sum += xs_format_float((float)v[i], buf);
      break;
    default:
      sum += (size_t)snprintf(buf, sizeof buf, "%.9g", (double)(float)v[i]);
      break;
    }
  }
  const double t = (now() - t0) / COUNT * 1e9;
  *bytes += sum;
  return t;
}

enum { S_NEW, S_STRTOD, S_COUNT };
static const char *const scan_names[S_COUNT] = {"xs_scan_number", "strtod"};

/* ns per token, each value stored into got[] as a parser fills an array;
 * then (untimed) *bad counts the values that differ from strtod's. */
static double time_scan(int which, const corpus *c, double *got, long *bad) {
  const double t0 = now();
  for (int i = 0; i < COUNT; i++) {
    const char *p = c->starts[i];
    double d = 0;
    if (which == S_NEW) {
      xs_number n;
      size_t len;
      const xs_numscan r = xs_scan_number(p, c->end, 1, &n, &len);
      if (r == XS_NUM_OK)
        d = n.d;
      else if (r == XS_NUM_RANGE) /* overflow: as strtod's HUGE_VAL */
        d = *p == '-' ? -HUGE_VAL : HUGE_VAL;
    } else {
      d = strtod(p, NULL);
    }
    got[i] = d;
  }
  const double t = (now() - t0) / COUNT * 1e9;
  for (int i = 0; i < COUNT; i++)
    *bad += got[i] != c->want[i];
  return t;
}

static char *print_all(const double *v, int style, size_t *len) {
  const size_t cap = (size_t)COUNT * 48;
  char *text = malloc(cap);
  if (text == NULL)
    exit(1);
  size_t n = 0;
  for (int i = 0; i < COUNT; i++) {
    if (style == 0)
      n += (size_t)snprintf(text + n, cap - n, "%.17g", v[i]);
    else if (style == 1)
      n += xs_format_double(v[i], text + n);
    else
      n += (size_t)snprintf(text + n, cap - n, "-0.0012345678901234567");
    memcpy(text + n, ", ", 3);
    n += 2;
  }
  *len = n;
  return text;
}

/* Random tokens of nd_min..nd_max significant digits and exponents
 * -330..310, for the fallback count. */
static char *random_tokens(int nd_min, int nd_max, size_t *len) {
  const size_t cap = (size_t)COUNT * 64;
  char *text = malloc(cap);
  if (text == NULL)
    exit(1);
  size_t n = 0;
  for (int i = 0; i < COUNT; i++) {
    const int nd = nd_min + (int)(rng() % (uint64_t)(nd_max - nd_min + 1));
    text[n++] = (char)('1' + rng() % 9);
    if (nd > 1)
      text[n++] = '.';
    for (int j = 1; j < nd; j++)
      text[n++] = (char)('0' + rng() % 10);
    n += (size_t)snprintf(text + n, cap - n, "e%d, ", (int)(rng() % 641) - 330);
  }
  *len = n - 2;
  return text;
}

int main(void) {
  double *v = malloc(COUNT * sizeof *v), *logits = malloc(COUNT * sizeof *v);
  double *got = malloc(COUNT * sizeof *got);
  if (v == NULL || logits == NULL || got == NULL)
    return 1;
  for (int i = 0; i < COUNT; i++) {
    const double u = (double)(rng() >> 11) * 0x1p-53;
    /* softmax-like magnitudes: mostly 1e-6 .. 1e-2, a few near 1 */
    v[i] = (i % 1000 == 0 ? u - 1.0 : u * 1e-3) * exp(-(double)(i % 7));
    logits[i] = ((double)(rng() >> 11) * 0x1p-53 - 0.5) * 8.0;
  }
  size_t bytes = 0;
  double best_p[P_COUNT];
  for (int w = 0; w < P_COUNT; w++)
    best_p[w] = 1e9;
  /* cycles: ns times the clock measured in the same round */
  double cyc_p[P_COUNT], cyc_s[3][S_COUNT];
  double clock_lo = 1e9, clock_hi = 0;
  for (int w = 0; w < P_COUNT; w++)
    cyc_p[w] = 1e9;
  for (int r = 0; r < ROUNDS; r++) {
    const double g = ghz();
    clock_lo = fmin(clock_lo, g);
    clock_hi = fmax(clock_hi, g);
    for (int w = 0; w < P_COUNT; w++) {
      const double t = time_print(w, v, &bytes);
      best_p[w] = fmin(best_p[w], t);
      cyc_p[w] = fmin(cyc_p[w], t * g);
    }
  }

  const char *const corpus_names[3] = {"logits \"%.17g\"", "gradient, shortest",
                                       "-0.0012345678901234567"};
  corpus cs[3];
  for (int k = 0; k < 3; k++) {
    size_t len;
    char *text = print_all(k == 0 ? logits : v, k, &len);
    corpus_fill(&cs[k], text, len);
  }
  double best_s[3][S_COUNT];
  long bad[S_COUNT] = {0, 0};
  for (int k = 0; k < 3; k++)
    for (int w = 0; w < S_COUNT; w++)
      best_s[k][w] = 1e9;
  for (int k = 0; k < 3; k++)
    for (int w = 0; w < S_COUNT; w++)
      cyc_s[k][w] = 1e9;
  for (int r = 0; r < ROUNDS; r++) {
    const double g = ghz();
    clock_lo = fmin(clock_lo, g);
    clock_hi = fmax(clock_hi, g);
    for (int k = 0; k < 3; k++)
      for (int w = 0; w < S_COUNT; w++) {
        const double t = time_scan(w, &cs[k], got, &bad[w]);
        best_s[k][w] = fmin(best_s[k][w], t);
        cyc_s[k][w] = fmin(cyc_s[k][w], t * g);
      }
  }

  printf("ns per number, best of %d rounds of %d (same run)", ROUNDS, COUNT);
  FILE *const la = fopen("/proc/loadavg", "r");
  char load[64];
  if (la != NULL && fgets(load, sizeof load, la) != NULL)
    printf("; load average %.14s", load); /* other jobs share the cores */
  if (la != NULL)
    fclose(la);
  if (clock_hi > 0)
    printf(";\nclock %.2f..%.2f GHz over the rounds (the cores are shared)",
           clock_lo, clock_hi);
  printf("\n\n");
  printf("| printer                  | ns/number | cycles | libc / this |\n");
  printf("|--------------------------|-----------|--------|-------------|\n");
  for (int w = 0; w < P_COUNT; w++) {
    const int libc = w < P_NEW_F ? P_SNPRINTF_D : P_SNPRINTF_F;
    printf("| %-24s | %9.1f | %6.0f | %10.2fx |\n", print_names[w], best_p[w],
           cyc_p[w], best_p[libc] / best_p[w]);
  }
#ifdef XS_BENCH_BEFORE
  printf("(before / this: double %.2fx, float %.2fx)\n",
         best_p[P_OLD_D] / best_p[P_NEW_D], best_p[P_OLD_F] / best_p[P_NEW_F]);
#endif
  printf("\n| parser: ns (cycles)      |");
  for (int k = 0; k < 3; k++)
    printf(" %-22s |", corpus_names[k]);
  printf("\n|--------------------------|");
  for (int k = 0; k < 3; k++)
    printf("------------------------|");
  printf("\n");
  for (int w = 0; w < S_COUNT; w++) {
    printf("| %-24s |", scan_names[w]);
    for (int k = 0; k < 3; k++)
      printf(" %6.1f (%4.0f) %6.2fx  |", best_s[k][w], cyc_s[k][w],
             best_s[k][S_STRTOD] / best_s[k][w]);
    printf("\n");
  }
  printf("(x: libc / this, above 1 is faster than snprintf or strtod; cycles: "
         "ns times the clock of the same round)\n");
#ifdef XS_NUMTEXT_COUNT_FALLBACKS
  /* How often xs_scan_number falls back to strtod. */
  printf("\nxs_scan_number strtod fallbacks:\n");
  const int ranges[4][2] = {{1, 17}, {18, 19}, {20, 25}, {26, 40}};
  for (int k = 0; k < 3; k++) {
    xs__numtext_fallbacks = 0;
    long b = 0;
    time_scan(S_NEW, &cs[k], got, &b);
    printf("  %-28s %lu of %d\n", corpus_names[k], xs__numtext_fallbacks,
           COUNT);
  }
  for (int k = 0; k < 4; k++) {
    unsigned long total = 0;
    long b = 0;
    for (int rep = 0; rep < 10; rep++) {
      size_t len;
      corpus rc;
      char *text = random_tokens(ranges[k][0], ranges[k][1], &len);
      corpus_fill(&rc, text, len);
      xs__numtext_fallbacks = 0;
      time_scan(S_NEW, &rc, got, &b);
      total += xs__numtext_fallbacks;
      corpus_free(&rc);
    }
    printf("  random, %2d..%2d digits        %lu of %d (%.4f%%)%s\n",
           ranges[k][0], ranges[k][1], total, 10 * COUNT,
           100.0 * (double)total / (10.0 * COUNT), b ? " WRONG VALUES" : "");
    bad[S_NEW] += b;
  }
#endif
  for (int k = 0; k < 3; k++)
    corpus_free(&cs[k]);
  free(v);
  free(logits);
  free(got);
  if (bad[S_NEW] != 0) {
    printf("values differ from strtod: %ld\n", bad[S_NEW]);
    return 1;
  }
  return bytes == 0;
}
