/*
 * libFuzzer target: arbitrary bytes given to xent_metrics_parse_config and
 * xent_metrics_parse, the way xentd will read a state posted to
 * /v1/metrics/merge. abort() (a crash for libFuzzer) when an invariant does
 * not hold:
 *  - a refusal is ERR_STATE_FORMAT, ERR_STATE_VERSION or ERR_STATE_CHECKSUM
 *    with a byte offset inside the input, the same from parse_config and
 *    parse, and parse leaves the state's memory untouched;
 *  - accepted bytes are canonical: serialized again they are the same bytes
 *    (version 1: the same fields as version 2, see same_encoding);
 *  - the figures of an accepted state are finite and in their ranges, its
 *    bins and classes add up, and it merges with itself (or reports the
 *    count limit).
 * States larger than MAX_STATE bytes are not allocated: parse must still
 * refuse malformed bytes, and say ERR_BUFFER for valid ones.
 * Seeds (corpus/metrics_state/): states written by xent_metrics_serialize
 * for small configurations (the file names say which), when it wrote
 * version 1, and older-version and truncated variants of them; the -v2 seed
 * is one of them as version 2 writes it. Most are of format version 1, which
 * has no checksum: mutations of them reach the decoder's checks, where nearly
 * every mutation of a version 2 state stops at its checksum.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_STATE = 1 << 22 };

static void broken(const char *what, xent_status st) {
  fprintf(stderr, "fuzz invariant broken: %s (%s)\n", what,
          xent_status_name(st));
  abort();
}

static int in_unit(double v) {
  return v >= 0.0 && v <= 1.0;
}

static void check_refusal(xent_status st, const xent_error *err, size_t size,
                          const char *what) {
  if ((st != XENT_ERR_STATE_FORMAT && st != XENT_ERR_STATE_VERSION &&
       st != XENT_ERR_STATE_CHECKSUM) ||
      err->status != st || err->row < 0 || (uint64_t)err->row > size)
    broken(what, st);
}

/* The figures of a parsed state. */
static void check_figures(const xent_metrics *m,
                          const xent_metrics_config *cfg) {
  xent_metrics_bin *bins = calloc(cfg->bins, sizeof *bins);
  xent_metrics_class *cls = NULL;
  if (cfg->per_class || cfg->confusion)
    cls = calloc(cfg->classes, sizeof *cls);
  if (bins == NULL || ((cfg->per_class || cfg->confusion) && cls == NULL))
    broken("out of memory", XENT_OK);
  xent_metrics_result r;
  memset(&r, 0, sizeof r);
  r.reliability = bins;
  r.per_class = cls;
  xent_error err;
  const xent_status st = xent_metrics_compute(m, &r, &err);
  if (st != XENT_OK)
    broken("compute refused a parsed state", st);
  const double figures[] = {r.accuracy,
                            r.ece,
                            r.ece_l2,
                            r.mce,
                            r.mean_confidence,
                            r.macro.precision,
                            r.macro.recall,
                            r.macro.f1,
                            r.weighted.precision,
                            r.weighted.recall,
                            r.weighted.f1};
  for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++)
    if (!in_unit(figures[i]))
      broken("a ratio outside [0, 1]", XENT_OK);
  if (!(r.nll >= 0.0 && r.nll < INFINITY) || !(r.brier >= 0.0) ||
      !(r.brier <= 3.0) || !(r.mean_entropy >= 0.0) ||
      !(r.mean_entropy < INFINITY))
    broken("nll, brier or entropy out of range", XENT_OK);
  if (r.defined != (r.counted > 0))
    broken("defined", XENT_OK);
  double prev = r.accuracy;
  for (size_t j = 0; j < r.top_k_count; j++) {
    if (!in_unit(r.top_k_accuracy[j]) || r.top_k_accuracy[j] < prev ||
        (r.top_k[j] == 1 && r.top_k_accuracy[j] != r.accuracy))
      broken("top-k accuracies", XENT_OK);
    prev = r.top_k_accuracy[j];
  }
  uint64_t total = 0;
  for (size_t b = 0; b < cfg->bins; b++) {
    total += bins[b].count;
    if (bins[b].correct > bins[b].count || !in_unit(bins[b].accuracy) ||
        !in_unit(bins[b].mean_confidence) ||
        bins[b].empty != (bins[b].count == 0))
      broken("a bin", XENT_OK);
  }
  if (total != r.counted)
    broken("bins do not add up to counted", XENT_OK);
  uint64_t support = 0, predicted = 0;
  for (size_t c = 0; cls != NULL && c < cfg->classes; c++) {
    support += cls[c].support;
    predicted += cls[c].predicted;
    if (cls[c].correct > cls[c].support || cls[c].correct > cls[c].predicted ||
        !in_unit(cls[c].precision) || !in_unit(cls[c].recall) ||
        !in_unit(cls[c].f1))
      broken("a class", XENT_OK);
  }
  if (cls != NULL && (support != r.counted || predicted != r.counted))
    broken("classes do not add up to counted", XENT_OK);
  free(bins);
  free(cls);
}

/* Accepted bytes written again: the same bytes, or for version 1 (read,
 * never written) the same fields under version 2, the length 4 more and a
 * checksum after them that the library reads back. */
static int same_encoding(const uint8_t *in, size_t size, const uint8_t *out,
                         size_t len) {
  if (in[8] != 1)
    return len == size && memcmp(out, in, size) == 0;
  uint64_t length = 0;
  for (int i = 0; i < 8; i++)
    length |= (uint64_t)out[16 + i] << (8 * i);
  xent_metrics_config cfg;
  return len == size + 4 && length == len && memcmp(out, in, 8) == 0 &&
         out[8] == XENT_METRICS_FORMAT_VERSION && out[9] == 0 &&
         memcmp(out + 12, in + 12, 4) == 0 &&
         memcmp(out + 24, in + 24, size - 24) == 0 &&
         xent_metrics_parse_config(out, len, &cfg, NULL) == XENT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xent_metrics_config cfg;
  xent_error err;
  uint64_t tiny[16];
  xent_status st = xent_metrics_parse_config(data, size, &cfg, &err);
  if (st != XENT_OK) {
    check_refusal(st, &err, size, "parse_config refusal");
    const xent_error first = err;
    st = xent_metrics_parse(data, size, (xent_metrics *)(void *)tiny,
                            sizeof tiny, &err);
    if (st != first.status || err.row != first.row)
      broken("parse and parse_config disagree", st);
    return 0;
  }
  const size_t need = xent_metrics_state_size(&cfg);
  if (need == 0)
    broken("parse_config accepted an invalid configuration", st);
  if (need > MAX_STATE) {
    st = xent_metrics_parse(data, size, (xent_metrics *)(void *)tiny,
                            sizeof tiny, &err);
    if (st != XENT_ERR_BUFFER)
      check_refusal(st, &err, size, "refusal of a large state");
    return 0;
  }
  unsigned char *mem = malloc(need);
  if (mem == NULL)
    broken("out of memory", XENT_OK);
  memset(mem, 0xa5, need);
  xent_metrics *m = (xent_metrics *)(void *)mem;
  st = xent_metrics_parse(data, size, m, need, &err);
  /* The same bytes added to an empty state of their configuration. */
  unsigned char *mem2 = malloc(need);
  xent_metrics *e = (xent_metrics *)(void *)mem2;
  if (mem2 == NULL || xent_metrics_init(e, need, &cfg, NULL) != XENT_OK)
    broken("an empty state", XENT_OK);
  unsigned char *empty = malloc(need);
  if (empty == NULL)
    broken("out of memory", XENT_OK);
  memcpy(empty, mem2, need);
  uint64_t counted = 0;
  xent_error err2;
  const xent_status st2 =
      xent_metrics_merge_serialized(e, data, size, &counted, &err2);
  if (st != XENT_OK) {
    check_refusal(st, &err, size, "parse refusal");
    for (size_t i = 0; i < need; i++)
      if (mem[i] != 0xa5)
        broken("a refused parse wrote the state", st);
    if (st2 != st || err2.row != err.row || memcmp(mem2, empty, need) != 0)
      broken("merge_serialized refused otherwise, or changed the state", st2);
    free(mem);
    free(mem2);
    free(empty);
    return 0;
  }
  free(empty);
  if (st2 != XENT_OK)
    broken("merge_serialized refused accepted bytes", st2);
  if (memcmp(mem2, mem, need) != 0)
    broken("merge_serialized into an empty state is not parse", st2);
  size_t len = 0;
  st = xent_metrics_serialize(m, NULL, 0, &len, &err);
  unsigned char *again = st == XENT_OK ? malloc(len ? len : 1) : NULL;
  if (again == NULL)
    broken("serialize size", st);
  st = xent_metrics_serialize(m, again, len, &len, &err);
  if (st != XENT_OK || !same_encoding(data, size, again, len))
    broken("accepted bytes do not serialize back to themselves", st);
  free(again);
  check_figures(m, &cfg);
  xent_metrics_result r;
  memset(&r, 0, sizeof r);
  xent_metrics_compute(m, &r, NULL);
  if (counted != r.counted)
    broken("merge_serialized's counted", XENT_OK);
  st = xent_metrics_merge(m, m, &err);
  if (r.counted <= (uint64_t)INT64_MAX / 2 ? st != XENT_OK
                                           : st != XENT_ERR_COUNT_LIMIT)
    broken("merge with itself", st);
  /* its bytes added to it: the same as the merge with itself */
  if (xent_metrics_merge_serialized(e, data, size, NULL, &err2) != st ||
      memcmp(mem2, mem, need) != 0)
    broken("merge_serialized is not parse and merge", st);
  free(mem);
  free(mem2);
  return 0;
}
