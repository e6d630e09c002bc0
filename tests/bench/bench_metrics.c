/*
 * bench_metrics.c - whole-dataset metrics throughput of libxent on an
 * ImageNet-sized validation set: 50,000 x 1,000 logits, float64 and
 * float32, the same array bench_metrics_py.py gives numpy and scikit-learn.
 *
 * The data come from a counter-based generator (splitmix64 of the element
 * index) that bench_metrics_py.py computes the same way in numpy, so both
 * sides see bit-identical logits: x = 4 (u1 + u2 - 1) per element (u uniform
 * in [0, 1)), label y = splitmix64 % C per row, and +5 on the label's logit
 * for about 70% of the rows (a classifier that is mostly right).
 *
 * Timed, as the median of --runs runs after one warm-up (CLOCK_MONOTONIC):
 *   whole    init a state, one update with every row, compute every figure
 *   batches  the same rows in batches of 1,000, one state each, merged,
 *            then computed: the work of workers and /v1/metrics/merge
 * Configuration: 1,000 classes, 15 bins, top-k {1, 5}, confusion matrix
 * (per-class P/R/F1 from it); kernel AUTO. The workspace is allocated once,
 * outside the timing.
 *
 * Usage: bench_metrics [--tsv] [--runs N] [--rows N]
 *   --tsv  one tab-separated line per measurement:
 *          xent <dtype> <mode> <rows> <classes> <median_s> <runs_s,...>
 *          and one per dtype with the figures, for the cross-check:
 *          figures <dtype> accuracy top5 nll brier ece macro_f1 weighted_f1
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xent.h"

#define MAX_RUNS 51
#define CLASSES 1000
#define BATCH 1000

static const uint64_t GOLDEN = UINT64_C(0x9E3779B97F4A7C15);
static const uint64_t SEED_X = UINT64_C(0x5eed0001);
static const uint64_t SEED_Y = UINT64_C(0x5eed0002);
static const uint64_t SEED_B = UINT64_C(0x5eed0003);

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* The k-th output (k >= 1) of splitmix64 seeded with `seed`. */
static uint64_t draw(uint64_t seed, uint64_t k) {
  return mix(seed + k * GOLDEN);
}

static double unit(uint64_t v) {
  return (double)(v >> 11) * 0x1.0p-53;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void generate(size_t n, double *x, float *xf, int64_t *t) {
  for (size_t r = 0; r < n; r++) {
    for (size_t c = 0; c < CLASSES; c++) {
      const uint64_t i = (uint64_t)(r * CLASSES + c);
      const double ua = unit(draw(SEED_X, 2 * i + 1));
      const double ub = unit(draw(SEED_X, 2 * i + 2));
      x[r * CLASSES + c] = (ua + ub - 1.0) * 4.0;
    }
    t[r] = (int64_t)(draw(SEED_Y, r + 1) % CLASSES);
    if (unit(draw(SEED_B, r + 1)) < 0.7)
      x[r * CLASSES + (size_t)t[r]] += 5.0;
  }
  for (size_t i = 0; i < n * CLASSES; i++)
    xf[i] = (float)x[i];
}

typedef struct bench {
  size_t n;
  xent_metrics_config cfg;
  size_t state_size;
  xent_metrics *state;
  xent_metrics *part;
  void *work;
  size_t work_size;
  xent_metrics_bin bins[15];
  xent_metrics_class *classes;
  uint64_t *confusion;
  xent_metrics_result result;
} bench;

static int check(xent_status st, const xent_error *err, const char *what) {
  if (st == XENT_OK)
    return 0;
  char msg[256];
  fprintf(stderr, "bench_metrics: %s: %s\n", what,
          xent_error_format(err, msg, sizeof msg));
  return -1;
}

static int update(bench *b, xent_metrics *m, xent_dtype dtype,
                  const void *logits, const int64_t *t, size_t rows) {
  xent_metrics_batch batch;
  memset(&batch, 0, sizeof batch);
  batch.n = rows;
  batch.dtype = dtype;
  batch.logits = logits;
  batch.targets = t;
  xent_error err;
  return check(xent_metrics_update(m, &batch, b->work, b->work_size, &err),
               &err, "update");
}

static int compute(bench *b) {
  memset(&b->result, 0, sizeof b->result);
  b->result.reliability = b->bins;
  b->result.per_class = b->classes;
  b->result.confusion = b->confusion;
  xent_error err;
  return check(xent_metrics_compute(b->state, &b->result, &err), &err,
               "compute");
}

/* One timed run; mode 0: whole, 1: batches. */
static int run(bench *b, int mode, xent_dtype dtype, const void *logits,
               const int64_t *t) {
  xent_error err;
  const size_t esize = dtype == XENT_F32 ? sizeof(float) : sizeof(double);
  if (check(xent_metrics_init(b->state, b->state_size, &b->cfg, &err), &err,
            "init"))
    return -1;
  if (mode == 0)
    return update(b, b->state, dtype, logits, t, b->n) || compute(b);
  for (size_t r = 0; r < b->n; r += BATCH) {
    const size_t rows = b->n - r < BATCH ? b->n - r : BATCH;
    if (check(xent_metrics_init(b->part, b->state_size, &b->cfg, &err), &err,
              "init") ||
        update(b, b->part, dtype, (const char *)logits + r * CLASSES * esize,
               t + r, rows) ||
        check(xent_metrics_merge(b->state, b->part, &err), &err, "merge"))
      return -1;
  }
  return compute(b);
}

int main(int argc, char **argv) {
  int tsv = 0, runs = 5;
  size_t n = 50000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tsv") == 0)
      tsv = 1;
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
      n = (size_t)strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: %s [--tsv] [--runs N] [--rows N]\n", argv[0]);
      return 2;
    }
  }
  if (runs < 1 || runs > MAX_RUNS || n < 1 || n > 10000000) {
    fprintf(stderr, "bench_metrics: --runs 1..%d, --rows 1..1e7\n", MAX_RUNS);
    return 2;
  }
  bench b;
  memset(&b, 0, sizeof b);
  b.n = n;
  xent_metrics_config_init(&b.cfg, CLASSES);
  b.cfg.confusion = 1;
  b.state_size = xent_metrics_state_size(&b.cfg);
  b.work_size = xent_metrics_workspace_size(&b.cfg, n);
  b.state = malloc(b.state_size);
  b.part = malloc(b.state_size);
  b.work = malloc(b.work_size);
  b.classes = malloc(CLASSES * sizeof *b.classes);
  b.confusion = malloc(CLASSES * CLASSES * sizeof *b.confusion);
  double *x = malloc(n * CLASSES * sizeof *x);
  float *xf = malloc(n * CLASSES * sizeof *xf);
  int64_t *t = malloc(n * sizeof *t);
  int status = 1;
  if (!b.state || !b.part || !b.work || !b.classes || !b.confusion || !x ||
      !xf || !t) {
    fprintf(stderr, "bench_metrics: out of memory\n");
    goto done;
  }
  generate(n, x, xf, t);
  static const char *modes[2] = {"whole", "batches"};
  for (int d = 0; d < 2; d++) {
    const xent_dtype dtype = d == 0 ? XENT_F64 : XENT_F32;
    const void *logits = d == 0 ? (const void *)x : (const void *)xf;
    const char *dname = d == 0 ? "float64" : "float32";
    for (int mode = 0; mode < 2; mode++) {
      double secs[MAX_RUNS];
      if (run(&b, mode, dtype, logits, t)) /* warm-up */
        goto done;
      for (int r = 0; r < runs; r++) {
        const double t0 = now_seconds();
        if (run(&b, mode, dtype, logits, t))
          goto done;
        secs[r] = now_seconds() - t0;
      }
      double sorted[MAX_RUNS];
      memcpy(sorted, secs, (size_t)runs * sizeof *secs);
      qsort(sorted, (size_t)runs, sizeof *sorted, cmp_double);
      const double med = runs % 2
                             ? sorted[runs / 2]
                             : 0.5 * (sorted[runs / 2 - 1] + sorted[runs / 2]);
      if (tsv) {
        printf("xent\t%s\t%s\t%zu\t%d\t%.6f\t", dname, modes[mode], n, CLASSES,
               med);
        for (int r = 0; r < runs; r++)
          printf("%s%.6f", r ? "," : "", secs[r]);
        printf("\n");
      } else {
        printf("%-8s %-8s %zu x %d: %.1f ms (%.2f ns per logit)\n", dname,
               modes[mode], n, CLASSES, med * 1e3,
               med * 1e9 / ((double)n * CLASSES));
      }
    }
    const xent_metrics_result *r = &b.result;
    printf("%sfigures\t%s\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\n",
           tsv ? "" : "# ", dname, r->accuracy, r->top_k_accuracy[1], r->nll,
           r->brier, r->ece, r->macro.f1, r->weighted.f1);
  }
  if (tsv)
    printf("#\txent\t%s\t%s\n", xent_version_string(),
           xent_kernel_name(xent_kernel_best()));
  status = 0;
done:
  free(b.state);
  free(b.part);
  free(b.work);
  free(b.classes);
  free(b.confusion);
  free(x);
  free(xf);
  free(t);
  return status;
}
