/*
 * bench_parse: milliseconds to parse one 256 x 1000 /v1/loss body of
 * 17-digit numbers (about 5 MB) with the jansson path and with the fast
 * path (server/fastjson.c), best of 5 each. Not a test: prints figures only
 * (after checking that both paths built the same logits).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "codec_priv.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  enum { N = 256, C = 1000, ROUNDS = 5 };
  const size_t cap = (size_t)N * C * 28 + 4096;
  char *body = malloc(cap);
  if (body == NULL)
    return 1;
  size_t len = (size_t)snprintf(body, cap, "{\"logits\": [");
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < N; i++) {
    len += (size_t)snprintf(body + len, cap - len, "%s[", i > 0 ? ", " : "");
    for (int j = 0; j < C; j++) {
      s ^= s >> 12;
      s ^= s << 25;
      s ^= s >> 27;
      const double u = (double)((s * 2685821657736338717ULL) >> 11) * 0x1p-53;
      len += (size_t)snprintf(body + len, cap - len, "%s%.17g",
                              j > 0 ? ", " : "", (u - 0.5) * 8.0);
    }
    len += (size_t)snprintf(body + len, cap - len, "]");
  }
  len += (size_t)snprintf(body + len, cap - len, "], \"targets\": [");
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(body + len, cap - len, "%s%d", i > 0 ? ", " : "",
                            (i * 7) % C);
  len += (size_t)snprintf(body + len, cap - len, "]}");

  const xs_limits lim = {(size_t)N * C, N};
  double best_jansson = 1e9, best_fast = 1e9, best_public = 1e9;
  int same = 1;
  for (int r = 0; r < ROUNDS; r++) {
    xs_request a, b, c;
    xs_error err;
    double t0 = now();
    const int ra = xs__parse_loss_jansson(body, len, &lim, &a, &err);
    double t1 = now();
    best_jansson = fmin(best_jansson, t1 - t0);
    t0 = now();
    const int rb = xs__fast_parse_loss(body, len, &lim, &b);
    t1 = now();
    best_fast = fmin(best_fast, t1 - t0);
    t0 = now();
    const int rc = xs_parse_loss(body, len, &lim, &c, &err);
    t1 = now();
    best_public = fmin(best_public, t1 - t0);
    if (ra != 0 || rb != 0 || rc != 0) {
      fprintf(stderr, "bench_parse: a parse failed (%d %d %d)\n", ra, rb, rc);
      return 1;
    }
    same = same && memcmp(a.problem.logits, b.problem.logits,
                          (size_t)N * C * sizeof(double)) == 0;
    xs_request_free(&a);
    xs_request_free(&b);
    xs_request_free(&c);
  }
  printf("body: %d x %d, %.2f MB of %%.17g numbers\n", N, C, (double)len / 1e6);
  printf("jansson path       %7.2f ms\n", best_jansson * 1e3);
  printf("fast path          %7.2f ms\n", best_fast * 1e3);
  printf("xs_parse_loss      %7.2f ms (fast path taken)\n", best_public * 1e3);
  printf("speed-up           %7.1fx; logits identical: %s\n",
         best_jansson / best_fast, same ? "yes" : "NO");
  free(body);
  return same ? 0 : 1;
}
