/*
 * bench_parse: milliseconds to parse one 256 x 1000 /v1/loss body of
 * 17-digit numbers (about 5 MB) with the jansson oracle (the whole tree
 * first, tests/codec/oracle.c) and with the streaming parser, whole and in
 * 64 KiB pieces as a socket delivers it; best of 5 each. Not a test:
 * prints figures only (after checking that both built the same logits).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "codec_priv.h"
#include "oracle.h"

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

  const xs_limits lim = {(size_t)N * C, N, 1000};
  double best_jansson = 1e9, best_stream = 1e9, best_pieces = 1e9;
  int same = 1;
  for (int r = 0; r < ROUNDS; r++) {
    xs_request a, b, c;
    xs_error err;
    double t0 = now();
    const int ra = oracle_parse_loss(body, len, &lim, &a, &err);
    double t1 = now();
    best_jansson = fmin(best_jansson, t1 - t0);
    /* jansson freed its tree, a quarter of a million small blocks that
     * glibc keeps in its fast bins; the next large request merges them all
     * (malloc_consolidate, about 2 ms here), and without this one it would
     * be the stream parser's first, timed below. */
    void *volatile settle = malloc(1 << 16);
    free(settle);
    t0 = now();
    const int rb = xs_parse(XS_BODY_LOSS, body, len, &lim, &b, &err);
    t1 = now();
    best_stream = fmin(best_stream, t1 - t0);
    t0 = now();
    xs_parser *p = xs_parser_new(XS_BODY_LOSS, &lim, NULL);
    for (size_t at = 0; at < len; at += 65536)
      xs_parser_feed(p, body + at, len - at < 65536 ? len - at : 65536);
    const int rc = xs_parser_finish(p, &c, &err);
    xs_parser_free(p);
    t1 = now();
    best_pieces = fmin(best_pieces, t1 - t0);
    if (ra != 0 || rb != 0 || rc != 0) {
      fprintf(stderr, "bench_parse: a parse failed (%d %d %d)\n", ra, rb, rc);
      return 1;
    }
    same = same &&
           memcmp(a.problem.logits, b.problem.logits,
                  (size_t)N * C * sizeof(double)) == 0 &&
           memcmp(c.problem.logits, b.problem.logits,
                  (size_t)N * C * sizeof(double)) == 0;
    oracle_request_free(&a);
    xs_request_free(&b);
    xs_request_free(&c);
  }
  printf("body: %d x %d, %.2f MB of %%.17g numbers\n", N, C, (double)len / 1e6);
  printf("jansson (oracle)       %7.2f ms\n", best_jansson * 1e3);
  printf("stream, whole          %7.2f ms (%.1f ns per number)\n",
         best_stream * 1e3, best_stream * 1e9 / (N * C));
  printf("stream, 64 KiB pieces  %7.2f ms\n", best_pieces * 1e3);
  printf("speed-up               %7.1fx; logits identical: %s\n",
         best_jansson / best_stream, same ? "yes" : "NO");
  free(body);
  return same ? 0 : 1;
}
