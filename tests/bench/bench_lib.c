/*
 * bench_lib.c - forward plus backward throughput of libxent.
 *
 * For each batch shape, logit type (double, float32) and exp kernel the CPU
 * supports, times xent_evaluate with the loss and the gradient as outputs
 * (hard labels, label_smoothing 0.1, reduction mean) and prints nanoseconds
 * per logit: the median over several runs of CLOCK_MONOTONIC time, each run
 * long enough (about 30 ms by default) to make the clock's resolution
 * irrelevant.
 *
 * Before timing, every kernel's loss and gradient are compared with the
 * scalar kernel's on the same data (they must agree to 1e-12 relative), so a
 * fast but wrong kernel does not go unnoticed.
 *
 * Then every loss family (cross-entropy with label_smoothing 0.1, binary
 * cross-entropy and sigmoid focal on dense 0/1 targets, softmax focal and
 * poly-1 on hard labels, the families' default parameters) at 256 x 1000
 * and at (8, 21, 128, 128), a channels-first segmentation-like batch:
 * loss and gradient, double logits, the best kernel, checked against the
 * scalar kernel the same way.
 *
 * Usage: bench_lib [--tsv] [--runs N] [--ms M]
 *   --tsv   one tab-separated line per measurement:
 *           xent <dtype> <kernel> <n> <classes> <ns_per_logit> <loss> <runs>
 *           where <runs> lists every run's ns per logit, comma-separated;
 *           for the families
 *           xentf <family> <dtype> <kernel> <shape> <ns_per_logit> <loss>
 *           <runs> with <shape> such as 8x21x128x128
 *   --runs  timed runs per measurement (median taken), default 11
 *   --ms    target milliseconds per run, default 30
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xent.h"

#define MAX_RUNS 101

typedef struct shape {
  size_t n;
  size_t classes;
} shape;

static const shape shapes[] = {{256, 1000}, {64, 32000}, {8192, 10}};

static const xent_kernel kernels[] = {XENT_KERNEL_AUTO, XENT_KERNEL_SCALAR,
                                      XENT_KERNEL_AVX2, XENT_KERNEL_AVX512};

typedef struct batch {
  size_t n;
  size_t classes;
  double *logits64;
  float *logits32;
  int64_t *targets;
  double *grad;
  double *grad_ref;
  void *workspace;
  size_t workspace_size;
} batch;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: deterministic data, the same on every run. */
static uint64_t next_u64(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * UINT64_C(2685821657736338717);
}

static double next_unit(uint64_t *state) {
  return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a;
  const double y = *(const double *)b;
  return (x > y) - (x < y);
}

static void batch_free(batch *b) {
  free(b->logits64);
  free(b->logits32);
  free(b->targets);
  free(b->grad);
  free(b->grad_ref);
  free(b->workspace);
  memset(b, 0, sizeof *b);
}

static int batch_alloc(batch *b, size_t n, size_t classes) {
  const size_t count = n * classes;
  memset(b, 0, sizeof *b);
  b->n = n;
  b->classes = classes;
  b->logits64 = malloc(count * sizeof *b->logits64);
  b->logits32 = malloc(count * sizeof *b->logits32);
  b->targets = malloc(n * sizeof *b->targets);
  b->grad = malloc(count * sizeof *b->grad);
  b->grad_ref = malloc(count * sizeof *b->grad_ref);
  if (!b->logits64 || !b->logits32 || !b->targets || !b->grad || !b->grad_ref) {
    batch_free(b);
    return -1;
  }
  uint64_t state = UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)count;
  for (size_t i = 0; i < count; i++) {
    /* Sum of four uniforms: roughly normal, spread like trained logits. */
    double v = 0.0;
    for (int k = 0; k < 4; k++)
      v += next_unit(&state);
    b->logits64[i] = 3.0 * (v - 2.0);
    b->logits32[i] = (float)b->logits64[i];
  }
  for (size_t r = 0; r < n; r++)
    b->targets[r] = (int64_t)(next_u64(&state) % classes);
  return 0;
}

static void problem_for(const batch *b, xent_dtype dtype, xent_kernel kernel,
                        xent_problem *p) {
  xent_problem_init(p);
  p->n = b->n;
  p->classes = b->classes;
  p->dtype = dtype;
  p->logits =
      dtype == XENT_F32 ? (const void *)b->logits32 : (const void *)b->logits64;
  p->targets = b->targets;
  p->label_smoothing = 0.1;
  p->reduction = XENT_REDUCE_MEAN;
  p->kernel = kernel;
}

/* Makes the workspace at least as large as this problem needs. */
static int ensure_workspace(batch *b, const xent_problem *p) {
  const size_t need = xent_workspace_size(p);
  if (need <= b->workspace_size)
    return 0;
  free(b->workspace);
  b->workspace = malloc(need);
  b->workspace_size = b->workspace ? need : 0;
  return b->workspace ? 0 : -1;
}

static int evaluate(batch *b, const xent_problem *p, double *loss,
                    double *grad) {
  xent_outputs out = {0};
  xent_error err;
  out.loss = loss;
  out.grad = grad;
  const xent_status st =
      xent_evaluate(p, &out, b->workspace, b->workspace_size, &err);
  if (st != XENT_OK) {
    char msg[256];
    fprintf(stderr, "bench_lib: xent_evaluate failed: %s\n",
            xent_error_format(&err, msg, sizeof msg));
    return -1;
  }
  return 0;
}

/* Compares a kernel's results with the scalar kernel's. */
static int check_kernel(batch *b, xent_dtype dtype, xent_kernel kernel,
                        double *loss_out) {
  xent_problem p;
  double loss_ref = 0.0;
  double loss = 0.0;
  problem_for(b, dtype, XENT_KERNEL_SCALAR, &p);
  if (ensure_workspace(b, &p) || evaluate(b, &p, &loss_ref, b->grad_ref))
    return -1;
  problem_for(b, dtype, kernel, &p);
  if (ensure_workspace(b, &p) || evaluate(b, &p, &loss, b->grad))
    return -1;
  const size_t count = b->n * b->classes;
  /* Gradient entries are of order 1/n; where p and q nearly cancel, an
   * entry is compared with that scale instead of with itself. */
  const double floor_abs = 1e-14 / (double)b->n;
  int bad =
      !(fabs(loss - loss_ref) <= 1e-12 * fabs(loss_ref)) || !isfinite(loss);
  size_t where = 0;
  for (size_t i = 0; i < count && !bad; i++) {
    const double d = fabs(b->grad[i] - b->grad_ref[i]);
    if (!(d <= 1e-12 * fabs(b->grad_ref[i]) + floor_abs)) {
      bad = 1;
      where = i;
    }
  }
  if (bad) {
    fprintf(stderr,
            "bench_lib: kernel %s (%s logits, %zu x %zu) differs from "
            "scalar: loss %.17g vs %.17g; grad[%zu] %.17g vs %.17g\n",
            xent_kernel_name(kernel), dtype == XENT_F32 ? "float32" : "double",
            b->n, b->classes, loss, loss_ref, where, b->grad[where],
            b->grad_ref[where]);
    return -1;
  }
  *loss_out = loss;
  return 0;
}

/* One measured configuration: a batch, a logit type and a kernel. */
typedef struct config {
  batch *b;
  xent_dtype dtype;
  xent_kernel kernel;
  long iters;
  double loss;
  double ns[MAX_RUNS]; /* per run, ns per logit */
} config;

#define MAX_CONFIGS 24

/* Warms up and finds how many calls make one run of about target_ms. */
static int calibrate(config *c, double target_ms) {
  xent_problem p;
  problem_for(c->b, c->dtype, c->kernel, &p);
  if (ensure_workspace(c->b, &p))
    return -1;
  for (int i = 0; i < 2; i++)
    if (evaluate(c->b, &p, &c->loss, c->b->grad))
      return -1;
  const double t0 = now_seconds();
  if (evaluate(c->b, &p, &c->loss, c->b->grad))
    return -1;
  const double one = fmax(now_seconds() - t0, 1e-7);
  const double iters = target_ms * 1e-3 / one;
  c->iters = iters < 1.0 ? 1 : iters > 1e6 ? 1000000 : (long)iters;
  return 0;
}

static int time_run(config *c, int run) {
  xent_problem p;
  problem_for(c->b, c->dtype, c->kernel, &p);
  const double start = now_seconds();
  for (long i = 0; i < c->iters; i++)
    if (evaluate(c->b, &p, &c->loss, c->b->grad))
      return -1;
  const double seconds = now_seconds() - start;
  c->ns[run] = seconds * 1e9 /
               ((double)c->iters * (double)c->b->n * (double)c->b->classes);
  return 0;
}

static double median(const double *values, int count) {
  double sorted[MAX_RUNS];
  memcpy(sorted, values, (size_t)count * sizeof *values);
  qsort(sorted, (size_t)count, sizeof sorted[0], cmp_double);
  return count % 2 ? sorted[count / 2]
                   : 0.5 * (sorted[count / 2 - 1] + sorted[count / 2]);
}

static void report(const config *c, int runs, int tsv) {
  const char *dname = c->dtype == XENT_F32 ? "float32" : "double";
  if (!tsv) {
    printf("%5zu x %-5zu %-8s %-7s %14.3f\n", c->b->n, c->b->classes, dname,
           xent_kernel_name(c->kernel), median(c->ns, runs));
    return;
  }
  printf("xent\t%s\t%s\t%zu\t%zu\t%.4f\t%.17g\t", dname,
         xent_kernel_name(c->kernel), c->b->n, c->b->classes,
         median(c->ns, runs), c->loss);
  for (int r = 0; r < runs; r++)
    printf("%s%.4f", r ? "," : "", c->ns[r]);
  printf("\n");
}

/* ----------------------------------------------------------- families -- */

typedef struct fshape {
  size_t n, classes, inner;
  const char *label;
} fshape;

static const fshape fshapes[] = {{256, 1000, 1, "256x1000"},
                                 {8, 21, 128 * 128, "8x21x128x128"}};

static const struct {
  xent_family family;
  const char *name;
} families[] = {{XENT_LOSS_CROSS_ENTROPY, "cross_entropy"},
                {XENT_LOSS_BINARY_CROSS_ENTROPY, "bce"},
                {XENT_LOSS_SIGMOID_FOCAL, "sigmoid_focal"},
                {XENT_LOSS_SOFTMAX_FOCAL, "softmax_focal"},
                {XENT_LOSS_POLY1, "poly1"}};

enum { NFAMILIES = sizeof families / sizeof families[0] };
enum { NFSHAPES = sizeof fshapes / sizeof fshapes[0] };

/* One family measurement: its own data, outputs and workspace. */
typedef struct fconfig {
  const fshape *shape;
  size_t family;
  double *logits;
  int64_t *targets;
  double *soft;
  double *grad;
  double *grad_ref;
  void *workspace;
  size_t workspace_size;
  long iters;
  double loss;
  double ns[MAX_RUNS];
} fconfig;

static void fconfig_free(fconfig *f) {
  free(f->logits);
  free(f->targets);
  free(f->soft);
  free(f->grad);
  free(f->grad_ref);
  free(f->workspace);
}

static void fproblem(const fconfig *f, xent_kernel kernel, xent_problem *p) {
  xent_problem_init(p);
  p->n = f->shape->n;
  p->classes = f->shape->classes;
  p->inner = f->shape->inner;
  p->logits = f->logits;
  p->family = families[f->family].family;
  p->kernel = kernel;
  const int binary = p->family == XENT_LOSS_BINARY_CROSS_ENTROPY ||
                     p->family == XENT_LOSS_SIGMOID_FOCAL;
  if (binary)
    p->soft_targets = f->soft;
  else
    p->targets = f->targets;
  if (p->family == XENT_LOSS_CROSS_ENTROPY)
    p->label_smoothing = 0.1;
}

static int fevaluate(fconfig *f, xent_kernel kernel, double *loss,
                     double *grad) {
  xent_problem p;
  fproblem(f, kernel, &p);
  const size_t need = xent_workspace_size(&p);
  if (need > f->workspace_size) {
    free(f->workspace);
    f->workspace = malloc(need);
    f->workspace_size = f->workspace ? need : 0;
    if (f->workspace == NULL)
      return -1;
  }
  xent_outputs out = {0};
  out.loss = loss;
  out.grad = grad;
  xent_error err;
  const xent_status st =
      xent_evaluate(&p, &out, f->workspace, f->workspace_size, &err);
  if (st != XENT_OK) {
    char msg[256];
    fprintf(stderr, "bench_lib: %s: xent_evaluate failed: %s\n",
            families[f->family].name, xent_error_format(&err, msg, sizeof msg));
    return -1;
  }
  return 0;
}

static int fconfig_init(fconfig *f, const fshape *fs, size_t family,
                        double target_ms) {
  memset(f, 0, sizeof *f);
  f->shape = fs;
  f->family = family;
  const size_t rows = fs->n * fs->inner;
  const size_t count = rows * fs->classes;
  f->logits = malloc(count * sizeof *f->logits);
  f->targets = malloc(rows * sizeof *f->targets);
  f->soft = malloc(count * sizeof *f->soft);
  f->grad = malloc(count * sizeof *f->grad);
  f->grad_ref = malloc(count * sizeof *f->grad_ref);
  if (!f->logits || !f->targets || !f->soft || !f->grad || !f->grad_ref)
    return -1;
  uint64_t state = UINT64_C(0x243F6A8885A308D3) ^ (uint64_t)count;
  for (size_t i = 0; i < count; i++) {
    double v = 0.0;
    for (int k = 0; k < 4; k++)
      v += next_unit(&state);
    f->logits[i] = 3.0 * (v - 2.0);
    f->soft[i] = next_unit(&state) < 0.1 ? 1.0 : 0.0;
  }
  for (size_t r = 0; r < rows; r++)
    f->targets[r] = (int64_t)(next_u64(&state) % fs->classes);
  /* the best kernel against the scalar one, as check_kernel does */
  double loss_ref = 0.0;
  if (fevaluate(f, XENT_KERNEL_SCALAR, &loss_ref, f->grad_ref) ||
      fevaluate(f, XENT_KERNEL_AUTO, &f->loss, f->grad))
    return -1;
  const double floor_abs = 1e-14 / (double)rows;
  int bad = !(fabs(f->loss - loss_ref) <= 1e-12 * fabs(loss_ref));
  for (size_t i = 0; i < count && !bad; i++)
    bad = !(fabs(f->grad[i] - f->grad_ref[i]) <=
            1e-12 * fabs(f->grad_ref[i]) + floor_abs);
  if (bad) {
    fprintf(stderr, "bench_lib: %s %s: the best kernel differs from scalar\n",
            families[family].name, fs->label);
    return -1;
  }
  for (int i = 0; i < 2; i++)
    if (fevaluate(f, XENT_KERNEL_AUTO, &f->loss, f->grad))
      return -1;
  const double t0 = now_seconds();
  if (fevaluate(f, XENT_KERNEL_AUTO, &f->loss, f->grad))
    return -1;
  const double one = fmax(now_seconds() - t0, 1e-7);
  const double iters = target_ms * 1e-3 / one;
  f->iters = iters < 1.0 ? 1 : iters > 1e6 ? 1000000 : (long)iters;
  return 0;
}

static int ftime_run(fconfig *f, int run) {
  const double start = now_seconds();
  for (long i = 0; i < f->iters; i++)
    if (fevaluate(f, XENT_KERNEL_AUTO, &f->loss, f->grad))
      return -1;
  const double seconds = now_seconds() - start;
  const double logits =
      (double)f->shape->n * (double)f->shape->inner * (double)f->shape->classes;
  f->ns[run] = seconds * 1e9 / ((double)f->iters * logits);
  return 0;
}

static void freport(const fconfig *f, int runs, int tsv) {
  if (!tsv) {
    printf("%-14s %-13s %14.3f\n", families[f->family].name, f->shape->label,
           median(f->ns, runs));
    return;
  }
  printf("xentf\t%s\tdouble\t%s\t%s\t%.4f\t%.17g\t", families[f->family].name,
         xent_kernel_name(xent_kernel_best()), f->shape->label,
         median(f->ns, runs), f->loss);
  for (int r = 0; r < runs; r++)
    printf("%s%.4f", r ? "," : "", f->ns[r]);
  printf("\n");
}

static int run_families(int runs, double target_ms, int tsv) {
  static fconfig fc[NFAMILIES * NFSHAPES];
  size_t nfc = 0;
  int status = 0;
  for (size_t s = 0; s < NFSHAPES && status == 0; s++)
    for (size_t f = 0; f < NFAMILIES && status == 0; f++)
      if (fconfig_init(&fc[nfc++], &fshapes[s], f, target_ms)) {
        fprintf(stderr, "bench_lib: %s %s: setup failed\n", families[f].name,
                fshapes[s].label);
        status = 1;
      }
  for (int r = 0; r < runs && status == 0; r++)
    for (size_t i = 0; i < nfc && status == 0; i++)
      status = ftime_run(&fc[i], r) ? 1 : 0;
  if (status == 0) {
    if (!tsv)
      printf("\nloss families: loss + grad, double logits, kernel %s; "
             "median of %d runs\n%-14s %-13s %14s\n",
             xent_kernel_name(xent_kernel_best()), runs, "family", "shape",
             "ns per logit");
    for (size_t i = 0; i < nfc; i++)
      freport(&fc[i], runs, tsv);
  }
  for (size_t i = 0; i < nfc; i++)
    fconfig_free(&fc[i]);
  return status;
}

int main(int argc, char **argv) {
  int tsv = 0;
  int runs = 11;
  double target_ms = 30.0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tsv") == 0) {
      tsv = 1;
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
      target_ms = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--tsv] [--runs N] [--ms M]\n", argv[0]);
      return 2;
    }
  }
  if (runs < 1 || runs > MAX_RUNS || !(target_ms > 0.0 && target_ms < 1e5)) {
    fprintf(stderr, "bench_lib: --runs must be 1..%d, --ms 0..1e5\n", MAX_RUNS);
    return 2;
  }
  enum { NSHAPES = sizeof shapes / sizeof shapes[0] };
  static batch batches[NSHAPES];
  static config configs[MAX_CONFIGS];
  const xent_dtype dtypes[] = {XENT_F64, XENT_F32};
  size_t nconfigs = 0;
  int status = 0;
  for (size_t s = 0; s < NSHAPES; s++) {
    if (batch_alloc(&batches[s], shapes[s].n, shapes[s].classes)) {
      fprintf(stderr, "bench_lib: out of memory\n");
      status = 1;
      goto done;
    }
    for (size_t d = 0; d < 2; d++)
      for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (!xent_kernel_supported(kernels[k]))
          continue;
        config *c = &configs[nconfigs++];
        c->b = &batches[s];
        c->dtype = dtypes[d];
        c->kernel = kernels[k];
        if (check_kernel(c->b, c->dtype, c->kernel, &c->loss) ||
            calibrate(c, target_ms)) {
          status = 1;
          goto done;
        }
      }
  }
  /* Round robin: run r of every configuration before run r + 1 of any, so
   * that load from other processes spreads over all of them alike. */
  for (int r = 0; r < runs; r++)
    for (size_t i = 0; i < nconfigs; i++)
      if (time_run(&configs[i], r)) {
        status = 1;
        goto done;
      }
  if (tsv) {
    printf("#\txent\t%s\t%s\n", xent_version_string(),
           xent_kernel_name(xent_kernel_best()));
  } else {
    printf("libxent %s, best kernel %s; loss + grad, label_smoothing 0.1, "
           "mean; median of %d runs\n",
           xent_version_string(), xent_kernel_name(xent_kernel_best()), runs);
    printf("%-12s %-8s %-7s %14s\n", "size", "logits", "kernel",
           "ns per logit");
  }
  for (size_t i = 0; i < nconfigs; i++)
    report(&configs[i], runs, tsv);
  for (size_t s = 0; s < NSHAPES; s++)
    batch_free(&batches[s]);
  return run_families(runs, target_ms, tsv);
done:
  for (size_t s = 0; s < NSHAPES; s++)
    batch_free(&batches[s]);
  return status;
}
