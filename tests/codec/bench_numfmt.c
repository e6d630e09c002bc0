/*
 * bench_numfmt: nanoseconds per number of xs_format_double / _float on
 * values shaped like a 256 x 1000 gradient (small reals of every size),
 * against plain snprintf("%.17g"). Not a test: prints figures only.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "codec.h"
#include "numtext.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  enum { COUNT = 256 * 1000, ROUNDS = 4 };
  double *v = malloc(COUNT * sizeof *v);
  if (v == NULL)
    return 1;
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < COUNT; i++) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    const double u = (double)((s * 2685821657736338717ULL) >> 11) * 0x1p-53;
    /* softmax-like magnitudes: mostly 1e-6 .. 1e-2, a few near 1 */
    v[i] = (i % 1000 == 0 ? u - 1.0 : u * 1e-3) * exp(-(double)(i % 7));
  }
  char buf[40];
  size_t bytes = 0;
  double best[3] = {1e9, 1e9, 1e9};
  for (int r = 0; r < ROUNDS; r++) {
    double t0 = now();
    for (int i = 0; i < COUNT; i++)
      bytes += xs_format_double(v[i], buf);
    double t1 = now();
    best[0] = fmin(best[0], (t1 - t0) / COUNT * 1e9);
    t0 = now();
    for (int i = 0; i < COUNT; i++)
      bytes += xs_format_float((float)v[i], buf);
    t1 = now();
    best[1] = fmin(best[1], (t1 - t0) / COUNT * 1e9);
    t0 = now();
    for (int i = 0; i < COUNT; i++)
      bytes += (size_t)snprintf(buf, sizeof buf, "%.17g", v[i]);
    t1 = now();
    best[2] = fmin(best[2], (t1 - t0) / COUNT * 1e9);
  }
  printf("xs_format_double  %6.1f ns/number\n", best[0]);
  printf("xs_format_float   %6.1f ns/number\n", best[1]);
  printf("snprintf %%.17g    %6.1f ns/number (reference)\n", best[2]);
  printf("256x1000 grad as float64 text: %.1f ms\n", best[0] * COUNT * 1e-6);
  free(v);
  return bytes == 0;
}
