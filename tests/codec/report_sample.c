/*
 * report_sample: the SVG of a synthetic evaluation, from a fixed seed, on
 * stdout (the README's picture, api/report-example.svg, and the pictures
 * check-report renders).
 *
 *   report_sample [--rows N] [--classes C] [--bins B] [--no-confusion]
 *                 [--ignored]
 *
 * Defaults: 2000 rows, 10 classes, 15 bins, the confusion matrix kept.
 * --ignored labels every row ignore_index: nothing is counted.
 *
 * The model is calibrated by construction, then made overconfident: each
 * row's logits z are (nearly) Gaussian noise plus a bonus on a latent class,
 * its label is drawn from softmax(z), and the logits reported are 1.5 z, which
 * sharpens every probability. The diagram shows bars below the diagonal.
 * Rows go through xent_metrics_update in batches of 256 with the scalar
 * kernel, so that every x86-64 machine gives the same bytes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "report.h"
#include "xent.h"

#define SEED 0x5eed2024c0ffee01ULL
#define BATCH 256

static uint64_t rng_state = SEED;

/* splitmix64 (Steele, Lea and Flood 2014). */
static uint64_t next_u64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 bits. */
static double uniform(void) {
  return (double)(next_u64() >> 11) * 0x1.0p-53;
}

/* About a standard normal: the sum of 12 uniforms less 6 (Irwin-Hall),
 * plain arithmetic, so no libm function changes the picture's bytes. */
static double normal(void) {
  double sum = -6;
  for (int i = 0; i < 12; i++)
    sum += uniform();
  return sum;
}

static int fail(const char *what) {
  fprintf(stderr, "report_sample: %s\n", what);
  return EXIT_FAILURE;
}

static int xfail(const xent_error *err) {
  char msg[256];
  return fail(xent_error_format(err, msg, sizeof msg));
}

static int parse_size(const char *s, size_t *out) {
  char *end = NULL;
  const unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v == 0)
    return -1;
  *out = (size_t)v;
  return 0;
}

int main(int argc, char **argv) {
  size_t rows = 2000, classes = 10, bins = 15;
  int confusion = 1, ignored = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    size_t *target = NULL;
    if (strcmp(a, "--rows") == 0)
      target = &rows;
    else if (strcmp(a, "--classes") == 0)
      target = &classes;
    else if (strcmp(a, "--bins") == 0)
      target = &bins;
    else if (strcmp(a, "--no-confusion") == 0)
      confusion = 0;
    else if (strcmp(a, "--ignored") == 0)
      ignored = 1;
    else
      return fail("usage: report_sample [--rows N] [--classes C] [--bins B] "
                  "[--no-confusion] [--ignored]");
    if (target != NULL && (i + 1 >= argc || parse_size(argv[++i], target)))
      return fail("--rows, --classes and --bins take a positive integer");
  }

  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, classes);
  cfg.bins = bins;
  cfg.confusion = confusion;
  xent_error err;
  if (xent_metrics_config_check(&cfg, &err) != XENT_OK)
    return xfail(&err);
  const size_t state_size = xent_metrics_state_size(&cfg);
  const size_t work_size = xent_metrics_workspace_size(&cfg, BATCH);
  xent_metrics *state = malloc(state_size);
  double *work = malloc(work_size);
  double *logits = malloc(BATCH * classes * sizeof *logits);
  double *p = malloc(classes * sizeof *p);
  int64_t *targets = malloc(BATCH * sizeof *targets);
  xent_metrics_bin *reliability = malloc(bins * sizeof *reliability);
  uint64_t *matrix =
      confusion ? malloc(classes * classes * sizeof *matrix) : NULL;
  if (state == NULL || work == NULL || logits == NULL || p == NULL ||
      targets == NULL || reliability == NULL || (confusion && matrix == NULL))
    return fail("out of memory");
  if (xent_metrics_init(state, state_size, &cfg, &err) != XENT_OK)
    return xfail(&err);

  for (size_t done = 0; done < rows;) {
    const size_t n = rows - done < BATCH ? rows - done : BATCH;
    for (size_t r = 0; r < n; r++) {
      double *z = logits + r * classes;
      const size_t latent = (size_t)(uniform() * (double)classes);
      double top = -INFINITY;
      for (size_t c = 0; c < classes; c++) {
        z[c] = normal();
        if (c == latent)
          z[c] += 2.5 + 2.5 * uniform();
        if (z[c] > top)
          top = z[c];
      }
      double sum = 0;
      for (size_t c = 0; c < classes; c++)
        sum += p[c] = exp(z[c] - top);
      /* The label follows softmax(z): z is calibrated. */
      const double u = uniform() * sum;
      size_t y = 0;
      for (double acc = p[0]; acc <= u && y + 1 < classes; acc += p[++y])
        ;
      targets[r] = ignored ? cfg.ignore_index : (int64_t)y;
      for (size_t c = 0; c < classes; c++)
        z[c] *= 1.5;
    }
    xent_metrics_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n = n;
    batch.dtype = XENT_F64;
    batch.logits = logits;
    batch.targets = targets;
    batch.kernel = XENT_KERNEL_SCALAR;
    if (xent_metrics_update(state, &batch, work, work_size, &err) != XENT_OK)
      return xfail(&err);
    done += n;
  }

  xent_metrics_result result;
  memset(&result, 0, sizeof result);
  result.reliability = reliability;
  result.confusion = matrix;
  if (xent_metrics_compute(state, &result, &err) != XENT_OK)
    return xfail(&err);

  xs_buf svg;
  xs_buf_init(&svg);
  if (xs_report_svg(&svg, &cfg, &result) != 0)
    return fail("out of memory");
  const size_t bound = xs_report_svg_bound(&cfg);
  if (svg.len > bound) {
    fprintf(stderr, "report_sample: %zu bytes, above the bound %zu\n", svg.len,
            bound);
    return EXIT_FAILURE;
  }
  fprintf(stderr, "report_sample: %zu bytes (bound %zu), ECE %.6f, N %llu\n",
          svg.len, bound, result.ece, (unsigned long long)result.counted);
  const int ok =
      fwrite(svg.data, 1, svg.len, stdout) == svg.len && fflush(stdout) == 0;
  xs_buf_free(&svg);
  free(matrix);
  free(reliability);
  free(targets);
  free(p);
  free(logits);
  free(work);
  free(state);
  return ok ? EXIT_SUCCESS : fail("cannot write stdout");
}
