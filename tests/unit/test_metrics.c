/*
 * test_metrics.c - the whole-dataset metrics (xent_metrics_*) and the exact
 * sum under them (xent_fsum): the configuration and its defaults, hand cases
 * (ties in top-k, confidences on bin edges, one class, every row ignored,
 * per-class figures, calibration), agreement with xent_evaluate's per-row
 * statistics, errors that leave the state untouched, merges refused with
 * the differing field, the byte format (versions, truncation, every byte
 * changed), counts near 2^63, and the exactness promise: any split of the
 * rows into batches, merged in any order and grouping, gives the same bytes
 * and the same figures, bit for bit, as one update.
 */
#include <float.h>
#include <stdio.h>

#include "testutil.h"

/* ------------------------------------------------------------ helpers -- */

static xent_metrics *new_state(const xent_metrics_config *cfg) {
  const size_t size = xent_metrics_state_size(cfg);
  ck_assert_msg(size > 0, "state size 0 for a valid configuration");
  xent_metrics *m = (xent_metrics *)xt_alloc(1, size);
  XT_STATUS(xent_metrics_init(m, size, cfg, NULL), XENT_OK);
  return m;
}

static xent_status update_dtype(xent_metrics *m, size_t n, const void *x,
                                xent_dtype dtype, const int64_t *t,
                                xent_error *err) {
  xent_metrics_config cfg;
  XT_STATUS(xent_metrics_get_config(m, &cfg, NULL), XENT_OK);
  const size_t ws = xent_metrics_workspace_size(&cfg, n);
  ck_assert(ws > 0);
  double *work = xt_doubles(ws / sizeof(double) + 1);
  xent_metrics_batch b;
  memset(&b, 0, sizeof b);
  b.n = n;
  b.dtype = dtype;
  b.logits = x;
  b.targets = t;
  const xent_status st = xent_metrics_update(m, &b, work, ws, err);
  free(work);
  return st;
}

static void update(xent_metrics *m, size_t n, const double *x,
                   const int64_t *t) {
  xent_error err;
  const xent_status st = update_dtype(m, n, x, XENT_F64, t, &err);
  ck_assert_msg(st == XENT_OK, "update: %s (arg %d row %lld col %lld)",
                xent_status_name(st), (int)err.arg, (long long)err.row,
                (long long)err.col);
}

/* The serialized bytes (malloc'd) and their number. */
static unsigned char *bytes_of(const xent_metrics *m, size_t *len) {
  XT_STATUS(xent_metrics_serialize(m, NULL, 0, len, NULL), XENT_OK);
  unsigned char *buf = (unsigned char *)xt_alloc(*len, 1);
  size_t written = 0;
  XT_STATUS(xent_metrics_serialize(m, buf, *len, &written, NULL), XENT_OK);
  ck_assert_uint_eq(written, *len);
  return buf;
}

static int same_bytes(const xent_metrics *a, const xent_metrics *b) {
  size_t na, nb;
  unsigned char *ba = bytes_of(a, &na), *bb = bytes_of(b, &nb);
  const int same = na == nb && memcmp(ba, bb, na) == 0;
  free(ba);
  free(bb);
  return same;
}

/* A result with every array, allocated for the state's configuration. */
typedef struct full_result {
  xent_metrics_result r;
  xent_metrics_bin *bins;
  xent_metrics_class *classes;
  uint64_t *confusion;
  size_t nbins, nclasses;
} full_result;

static void compute(const xent_metrics *m, full_result *f) {
  xent_metrics_config cfg;
  XT_STATUS(xent_metrics_get_config(m, &cfg, NULL), XENT_OK);
  memset(f, 0, sizeof *f);
  f->nbins = cfg.bins;
  f->nclasses = cfg.classes;
  f->bins = (xent_metrics_bin *)xt_alloc(cfg.bins, sizeof *f->bins);
  f->r.reliability = f->bins;
  if (cfg.per_class || cfg.confusion) {
    f->classes =
        (xent_metrics_class *)xt_alloc(cfg.classes, sizeof *f->classes);
    f->r.per_class = f->classes;
  }
  if (cfg.confusion) {
    f->confusion =
        (uint64_t *)xt_alloc(cfg.classes * cfg.classes, sizeof(uint64_t));
    f->r.confusion = f->confusion;
  }
  xent_error err;
  const xent_status st = xent_metrics_compute(m, &f->r, &err);
  ck_assert_msg(st == XENT_OK, "compute: %s", xent_status_name(st));
}

static void free_result(full_result *f) {
  free(f->bins);
  free(f->classes);
  free(f->confusion);
}

/* Bit-for-bit equality of two results (doubles compared as bits: -0 and +0
 * differ, as they would in the bytes a server prints). */
static int same_double(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

static void assert_same_result(const full_result *a, const full_result *b,
                               const char *what) {
  const xent_metrics_result *x = &a->r, *y = &b->r;
  ck_assert_msg(x->counted == y->counted && x->defined == y->defined, "%s",
                what);
  const double xs[] = {x->accuracy,        x->nll,
                       x->brier,           x->ece,
                       x->ece_l2,          x->mce,
                       x->mean_confidence, x->mean_entropy,
                       x->macro.precision, x->macro.recall,
                       x->macro.f1,        x->weighted.precision,
                       x->weighted.recall, x->weighted.f1};
  const double ys[] = {y->accuracy,        y->nll,
                       y->brier,           y->ece,
                       y->ece_l2,          y->mce,
                       y->mean_confidence, y->mean_entropy,
                       y->macro.precision, y->macro.recall,
                       y->macro.f1,        y->weighted.precision,
                       y->weighted.recall, y->weighted.f1};
  for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
    ck_assert_msg(same_double(xs[i], ys[i]), "%s: figure %zu %.17g vs %.17g",
                  what, i, xs[i], ys[i]);
  ck_assert_uint_eq(x->top_k_count, y->top_k_count);
  for (size_t j = 0; j < x->top_k_count; j++)
    ck_assert_msg(same_double(x->top_k_accuracy[j], y->top_k_accuracy[j]),
                  "%s: top_k[%zu]", what, j);
  ck_assert(x->per_class_defined == y->per_class_defined);
  ck_assert_uint_eq(x->macro_classes, y->macro_classes);
  for (size_t k = 0; k < a->nbins; k++) {
    const xent_metrics_bin *p = &a->bins[k], *q = &b->bins[k];
    ck_assert_msg(p->count == q->count && p->correct == q->correct &&
                      p->empty == q->empty &&
                      same_double(p->mean_confidence, q->mean_confidence) &&
                      same_double(p->accuracy, q->accuracy),
                  "%s: bin %zu", what, k);
  }
  for (size_t c = 0; a->classes != NULL && c < a->nclasses; c++) {
    const xent_metrics_class *p = &a->classes[c], *q = &b->classes[c];
    ck_assert_msg(p->support == q->support && p->predicted == q->predicted &&
                      p->correct == q->correct && p->in_macro == q->in_macro &&
                      same_double(p->precision, q->precision) &&
                      same_double(p->recall, q->recall) &&
                      same_double(p->f1, q->f1),
                  "%s: class %zu", what, c);
  }
  if (a->confusion != NULL)
    ck_assert_msg(memcmp(a->confusion, b->confusion,
                         a->nclasses * a->nclasses * sizeof(uint64_t)) == 0,
                  "%s: confusion", what);
}

/* ------------------------------------------------------- configuration -- */

START_TEST(config_defaults_and_cap) {
  static const struct {
    size_t classes, count, k0, k1;
  } cases[] = {
      {1000, 2, 1, 5}, {5, 2, 1, 5}, {4, 2, 1, 4}, {2, 2, 1, 2}, {1, 1, 1, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    xent_metrics_config c;
    memset(&c, 0x5a, sizeof c);
    xent_metrics_config_init(&c, cases[i].classes);
    ck_assert_uint_eq(c.classes, cases[i].classes);
    ck_assert_uint_eq(c.bins, 15);
    ck_assert_uint_eq(c.top_k_count, cases[i].count);
    ck_assert_uint_eq(c.top_k[0], cases[i].k0);
    if (cases[i].count > 1)
      ck_assert_uint_eq(c.top_k[1], cases[i].k1);
    ck_assert(c.confusion == 0 && c.per_class == 0);
    ck_assert_int_eq(c.ignore_index, -100);
    XT_STATUS(xent_metrics_config_check(&c, NULL), XENT_OK);
  }
  xent_metrics_config_init(NULL, 3); /* no crash, nothing to check */
}
END_TEST

static void assert_config_error(const xent_metrics_config *c, xent_arg arg,
                                int64_t row, const char *what) {
  xent_error err;
  XT_STATUS(xent_metrics_config_check(c, &err), XENT_ERR_CONFIG);
  ck_assert_msg(err.arg == arg && err.row == row,
                "%s: arg %d row %lld, expected arg %d row %lld", what,
                (int)err.arg, (long long)err.row, (int)arg, (long long)row);
  ck_assert_uint_eq(xent_metrics_state_size(c), 0);
  ck_assert_uint_eq(xent_metrics_workspace_size(c, 4), 0);
}

START_TEST(config_errors) {
  xent_metrics_config c;
  xent_metrics_config_init(&c, 0);
  assert_config_error(&c, XENT_ARG_CLASSES, -1, "classes 0");
  xent_metrics_config_init(&c, XENT_METRICS_MAX_CLASSES + 1);
  c.top_k_count = 0;
  assert_config_error(&c, XENT_ARG_CLASSES, -1, "too many classes");
  xent_metrics_config_init(&c, 10);
  c.bins = 0;
  assert_config_error(&c, XENT_ARG_BINS, -1, "bins 0");
  c.bins = XENT_METRICS_MAX_BINS + 1;
  assert_config_error(&c, XENT_ARG_BINS, -1, "too many bins");
  xent_metrics_config_init(&c, 10);
  c.top_k_count = 3;
  c.top_k[0] = 1;
  c.top_k[1] = 5;
  c.top_k[2] = 5;
  assert_config_error(&c, XENT_ARG_TOP_K, 2, "duplicate k");
  c.top_k[2] = 3;
  assert_config_error(&c, XENT_ARG_TOP_K, 2, "decreasing k");
  c.top_k[0] = 0;
  assert_config_error(&c, XENT_ARG_TOP_K, 0, "k = 0");
  c.top_k[0] = 1;
  c.top_k[2] = 11;
  assert_config_error(&c, XENT_ARG_TOP_K, 2, "k > classes");
  c.top_k_count = XENT_METRICS_MAX_TOP_K + 1;
  assert_config_error(&c, XENT_ARG_TOP_K, -1, "too many k");
  /* k = classes is allowed; top_k may be empty */
  c.top_k_count = 1;
  c.top_k[0] = 10;
  XT_STATUS(xent_metrics_config_check(&c, NULL), XENT_OK);
  c.top_k_count = 0;
  XT_STATUS(xent_metrics_config_check(&c, NULL), XENT_OK);
  XT_STATUS(xent_metrics_config_check(NULL, NULL), XENT_ERR_NULL);
  ck_assert_uint_eq(xent_metrics_state_size(NULL), 0);
}
END_TEST

START_TEST(statuses_and_args_pinned) {
  static const struct {
    xent_status status;
    int value;
    const char *name;
  } st[] = {
      {XENT_ERR_CONFIG, 30, "ERR_CONFIG"},
      {XENT_ERR_CONFIG_MISMATCH, 31, "ERR_CONFIG_MISMATCH"},
      {XENT_ERR_STATE, 32, "ERR_STATE"},
      {XENT_ERR_STATE_FORMAT, 33, "ERR_STATE_FORMAT"},
      {XENT_ERR_STATE_VERSION, 34, "ERR_STATE_VERSION"},
      {XENT_ERR_BUFFER, 35, "ERR_BUFFER"},
      {XENT_ERR_COUNT_LIMIT, 36, "ERR_COUNT_LIMIT"},
      {XENT_ERR_VALUE, 37, "ERR_VALUE"},
      {XENT_ERR_STATE_CHECKSUM, 38, "ERR_STATE_CHECKSUM"},
  };
  for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
    ck_assert_int_eq((int)st[i].status, st[i].value);
    ck_assert_str_eq(xent_status_name(st[i].status), st[i].name);
    ck_assert_str_ne(xent_strerror(st[i].status), "unknown status");
  }
  size_t count = 0;
#define COUNT_STATUS(name, value, message)                                     \
  if ((value) >= 30 && (value) < 40) {                                         \
    count++;                                                                   \
    ck_assert_str_eq(xent_strerror(XENT_##name), message);                     \
  }
  XENT_STATUS_MAP(COUNT_STATUS)
#undef COUNT_STATUS
  ck_assert_uint_eq(count, sizeof st / sizeof st[0]);
  ck_assert_str_eq(xent_status_name((xent_status)39), "UNKNOWN");
  static const struct {
    xent_arg arg;
    int value;
    const char *name;
  } args[] = {{XENT_ARG_CLASSES, 30, "classes"},
              {XENT_ARG_BINS, 31, "bins"},
              {XENT_ARG_TOP_K, 32, "top_k"},
              {XENT_ARG_CONFUSION, 33, "confusion"},
              {XENT_ARG_PER_CLASS, 34, "per_class"},
              {XENT_ARG_STATE, 35, "state"},
              {XENT_ARG_SOURCE, 36, "source"},
              {XENT_ARG_SERIALIZED, 37, "serialized"},
              {XENT_ARG_VALUES, 38, "values"}};
  for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
    ck_assert_int_eq((int)args[i].arg, args[i].value);
    ck_assert_str_eq(xent_arg_name(args[i].arg), args[i].name);
  }
  const xent_error e = {XENT_ERR_CONFIG_MISMATCH, XENT_ARG_TOP_K, 1, -1};
  char buf[160];
  ck_assert_str_eq(xent_error_format(&e, buf, sizeof buf),
                   "top_k[1]: the two metrics states have different "
                   "configurations");
}
END_TEST

/* ---------------------------------------------------- the exact sum -- */

/*
 * An independent exact sum: Shewchuk's non-overlapping partials (two-sum),
 * then the partials added from the largest with a half-way correction, the
 * algorithm of Python's math.fsum. Only for values whose partial sums do
 * not overflow.
 */
static double ref_fsum(const double *v, size_t n) {
  double *partials = xt_doubles(n + 1);
  size_t np = 0;
  for (size_t k = 0; k < n; k++) {
    double x = v[k];
    size_t i = 0;
    for (size_t j = 0; j < np; j++) {
      double y = partials[j];
      if (fabs(x) < fabs(y)) {
        const double t = x;
        x = y;
        y = t;
      }
      const double hi = x + y;
      const double lo = y - (hi - x);
      if (lo != 0.0)
        partials[i++] = lo;
      x = hi;
    }
    partials[i] = x;
    np = i + 1;
  }
  double hi = 0.0, lo = 0.0;
  if (np > 0) {
    hi = partials[--np];
    while (np > 0) {
      const double x = hi, y = partials[--np];
      hi = x + y;
      lo = y - (hi - x);
      if (lo != 0.0)
        break;
    }
    if (np > 0 && ((lo < 0.0 && partials[np - 1] < 0.0) ||
                   (lo > 0.0 && partials[np - 1] > 0.0))) {
      const double y = lo * 2.0, x = hi + y;
      if (y == x - hi)
        hi = x;
    }
  }
  free(partials);
  return hi;
}

static double fsum(const double *v, size_t n) {
  double s = -777.0;
  xent_error err;
  XT_STATUS(xent_fsum(v, n, &s, &err), XENT_OK);
  return s;
}

#define XT_BITS_EQ(got, want)                                                  \
  do {                                                                         \
    const double xt_bg_ = (got), xt_bw_ = (want);                              \
    ck_assert_msg(same_double(xt_bg_, xt_bw_), "%s = %a (%.17g), expected %a", \
                  #got, xt_bg_, xt_bg_, xt_bw_);                               \
  } while (0)

START_TEST(fsum_exact_by_hand) {
  const double a[] = {1e300, 1.0, -1e300};
  XT_BITS_EQ(fsum(a, 3), 1.0);
  const double b[] = {1.0, 1e100, 1.0, -1e100};
  XT_BITS_EQ(fsum(b, 4), 2.0);
  const double c[] = {0.1, 0.2, 0.3, -0.6};
  XT_BITS_EQ(fsum(c, 4), 0x1p-55); /* the exact sum of the four doubles */
  /* ties to even: 2^53 + 1 is half-way to 2^53 + 2 */
  const double d[] = {0x1p53, 1.0};
  XT_BITS_EQ(fsum(d, 2), 0x1p53);
  const double e[] = {0x1p53, 1.0, 0x1p-60};
  XT_BITS_EQ(fsum(e, 3), 0x1p53 + 2.0);
  const double f[] = {0x1p53 + 2.0, 1.0};
  XT_BITS_EQ(fsum(f, 2), 0x1p53 + 4.0);
  const double g[] = {1.0, 0x1p-53};
  XT_BITS_EQ(fsum(g, 2), 1.0);
  const double h[] = {1.0, 0x1p-53, 0x1p-1074};
  XT_BITS_EQ(fsum(h, 3), 1.0 + 0x1p-52);
  const double neg[] = {-1.0, -0x1p-53, -0x1p-1074};
  XT_BITS_EQ(fsum(neg, 3), -1.0 - 0x1p-52);
  /* 1000 subnormals, 2^-1074 .. 1000 2^-1074: exactly 500500 2^-1074 */
  double sub[1000];
  for (int i = 0; i < 1000; i++)
    sub[i] = 0x1p-1074 * (double)(i + 1);
  XT_BITS_EQ(fsum(sub, 1000), 500500.0 * 0x1p-1074);
  /* the largest values: DBL_MAX + DBL_MAX - DBL_MAX is DBL_MAX */
  const double big[] = {DBL_MAX, DBL_MAX, -DBL_MAX};
  XT_BITS_EQ(fsum(big, 3), DBL_MAX);
  const double near[] = {DBL_MAX, 0x1p969};
  XT_BITS_EQ(fsum(near, 2), DBL_MAX);
  /* cancellation to exactly zero, and the empty sum */
  const double zero[] = {1.5, -0.5, -1.0};
  XT_BITS_EQ(fsum(zero, 3), 0.0);
  XT_BITS_EQ(fsum(NULL, 0), 0.0);
}
END_TEST

START_TEST(fsum_errors) {
  double s = 5.0;
  xent_error err;
  const double over[] = {DBL_MAX, DBL_MAX};
  XT_STATUS(xent_fsum(over, 2, &s, &err), XENT_ERR_OVERFLOW);
  /* half-way between DBL_MAX and 2^1024 rounds to even: 2^1024 */
  const double tie[] = {DBL_MAX, 0x1p970};
  XT_STATUS(xent_fsum(tie, 2, &s, &err), XENT_ERR_OVERFLOW);
  const double bad[] = {1.0, 2.0, NAN, INFINITY};
  XT_STATUS(xent_fsum(bad, 4, &s, &err), XENT_ERR_VALUE);
  ck_assert(err.arg == XENT_ARG_VALUES && err.row == 2);
  XT_STATUS(xent_fsum(bad + 3, 1, &s, &err), XENT_ERR_VALUE);
  ck_assert(err.row == 0);
  ck_assert(s == 5.0);
  XT_STATUS(xent_fsum(NULL, 1, &s, &err), XENT_ERR_NULL);
  XT_STATUS(xent_fsum(bad, 1, NULL, &err), XENT_ERR_NULL);
}
END_TEST

/* Values whose floating-point sum depends on the order: every order gives
 * the same exact sum, equal to the independent one. */
START_TEST(fsum_order_independent) {
  xt_rng rng = {2027};
  enum { N = 257 };
  double v[N];
  int order_matters = 0;
  for (int trial = 0; trial < 200; trial++) {
    for (int i = 0; i < N; i++) {
      const double mag = ldexp(1.0, (int)xt_index(&rng, 200) - 100);
      v[i] = xt_range(&rng, -1.0, 1.0) * mag;
      if (i % 7 == 3)
        v[i] = -v[i - 1]; /* exact cancellations */
      if (trial % 5 == 0 && i % 11 == 0)
        v[i] = 0x1p-1074 * (double)xt_index(&rng, 1u << 20);
    }
    const double want = ref_fsum(v, N);
    double naive = 0.0;
    for (int i = 0; i < N; i++)
      naive += v[i];
    XT_BITS_EQ(fsum(v, N), want);
    for (int shuffle = 0; shuffle < 5; shuffle++) {
      for (int i = N - 1; i > 0; i--) {
        const size_t j = xt_index(&rng, (size_t)i + 1);
        const double t = v[i];
        v[i] = v[j];
        v[j] = t;
      }
      double again = 0.0;
      for (int i = 0; i < N; i++)
        again += v[i];
      order_matters += again != naive; /* the plain sum changes, */
      XT_BITS_EQ(fsum(v, N), want);    /* fsum does not */
    }
  }
  ck_assert_msg(order_matters > 500, "only %d orders changed the plain sum",
                order_matters);
  /* a case where the naive sums of two orders differ */
  const double o1[] = {1.0, 1e16, -1e16};
  const double o2[] = {1e16, -1e16, 1.0};
  ck_assert((o1[0] + o1[1]) + o1[2] != (o2[0] + o2[1]) + o2[2]);
  XT_BITS_EQ(fsum(o1, 3), fsum(o2, 3));
  XT_BITS_EQ(fsum(o1, 3), 1.0);
}
END_TEST

/* ----------------------------------------------------------- hand cases -- */

/*
 * Ties in top-k, on the probabilities argmax compares (ties to the lower
 * index, so that top-1 is the accuracy); probabilities that underflow to 0
 * are ordered by their logits, as the exact probabilities are:
 *   row 0 [1, 1, 1, 0] label 2: classes 0 and 1 tie with 2 and come first:
 *         rank 2, in the top 3 only;
 *   row 1 [0, 1e-20, -5, -5] label 1: p_0 == p_1 (exp(-1e-20) rounds to 1):
 *         rank 1 though its logit is the largest; predicted 0;
 *   row 2 [0, -800, -900, -5] label 2: p_1 = p_2 = 0, class 1's logit is
 *         larger: rank 3;
 *   row 3 [0, -900, -800, -5] label 1: p_1 = p_2 = 0 again, and class 2's
 *         logit is larger: rank 3, the last (scikit-learn's
 *         top_k_accuracy_score on the logits agrees; by index alone it
 *         would be 2).
 *   row 4 [3, 1, 2, 0] label 0: rank 0.
 * top-1 = 1/5 (= accuracy), top-2 = 2/5, top-3 = 3/5, top-4 = 5/5.
 */
START_TEST(top_k_ties) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 4);
  cfg.top_k_count = 4;
  for (size_t j = 0; j < 4; j++)
    cfg.top_k[j] = j + 1;
  cfg.confusion = 1;
  xent_metrics *m = new_state(&cfg);
  const double x[5 * 4] = {1,    1,  1, 0,    0,    1e-20, -5, -5, 0, -800,
                           -900, -5, 0, -900, -800, -5,    3,  1,  2, 0};
  const int64_t t[5] = {2, 1, 2, 1, 0};
  update(m, 5, x, t);
  full_result f;
  compute(m, &f);
  XT_BITS_EQ(f.r.accuracy, 0.2);
  XT_BITS_EQ(f.r.top_k_accuracy[0], 0.2);
  XT_BITS_EQ(f.r.top_k_accuracy[1], 0.4);
  XT_BITS_EQ(f.r.top_k_accuracy[2], 0.6);
  XT_BITS_EQ(f.r.top_k_accuracy[3], 1.0);
  /* predictions: 0, 0, 0, 0, 0 */
  for (size_t y = 0; y < 4; y++)
    for (size_t p = 1; p < 4; p++)
      ck_assert_uint_eq(f.confusion[y * 4 + p], 0);
  ck_assert_uint_eq(f.confusion[0], 1);
  ck_assert_uint_eq(f.confusion[4], 2);
  ck_assert_uint_eq(f.confusion[8], 2);
  free_result(&f);
  free(m);
}
END_TEST

/* A masked class (-inf) comes after every class with a finite logit, even
 * one whose probability underflows to 0 like its own: [0, -inf, -900]
 * label 2 has rank 1 (class 0 only), so it is in the top 2; by index alone
 * the masked class 1 would come first. */
START_TEST(top_k_masked_after_underflow) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 3);
  cfg.top_k_count = 2;
  cfg.top_k[0] = 1;
  cfg.top_k[1] = 2;
  xent_metrics *m = new_state(&cfg);
  const double x[3] = {0, -INFINITY, -900};
  const int64_t t[1] = {2};
  update(m, 1, x, t);
  full_result f;
  compute(m, &f);
  XT_BITS_EQ(f.r.top_k_accuracy[0], 0.0);
  XT_BITS_EQ(f.r.top_k_accuracy[1], 1.0);
  free_result(&f);
  free(m);
}
END_TEST

/* Predicted class and the per-row values agree with xent_evaluate's
 * statistics and per-row loss, one row at a time (the mean of one row is the
 * row's value): the prediction bit for bit, the values to 1e-15 absolute
 * (log1p(s - 1) and (s - 1) / s against log s and 1 / s). */
START_TEST(rows_match_evaluate) {
  xt_rng rng = {77};
  for (int trial = 0; trial < 300; trial++) {
    const size_t C = 1 + xt_index(&rng, 12);
    double x[12];
    const double spread = trial % 3 == 0 ? 1e-15 : 4.0;
    for (size_t c = 0; c < C; c++) {
      x[c] = trial % 4 == 1 ? (double)xt_index(&rng, 3)
                            : xt_range(&rng, -spread, spread);
      if (C > 1 && xt_index(&rng, 5) == 0)
        x[c] = -INFINITY;
    }
    const int64_t t[1] = {(int64_t)xt_index(&rng, C)};
    x[t[0]] = x[t[0]] == -INFINITY ? 0.0 : x[t[0]];
    xent_metrics_config cfg;
    xent_metrics_config_init(&cfg, C);
    xent_metrics *m = new_state(&cfg);
    update(m, 1, x, t);
    full_result f;
    compute(m, &f);

    xent_problem pb = xt_hard(1, C, x, t);
    pb.reduction = XENT_REDUCE_SUM;
    int64_t pred[1];
    double conf[1], ent[1], per[1];
    xent_stats st;
    memset(&st, 0, sizeof st);
    st.predicted = pred;
    st.confidence = conf;
    st.entropy = ent;
    xent_outputs out;
    memset(&out, 0, sizeof out);
    out.per_sample = per;
    out.stats = &st;
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    XT_BITS_EQ(f.r.accuracy, pred[0] == t[0] ? 1.0 : 0.0);
    XT_BITS_EQ(f.r.top_k_accuracy[0], f.r.accuracy);
    /* xent_evaluate rounds log s and 1 / s first: a few 1e-16 apart */
    XT_CLOSE(f.r.mean_confidence, conf[0], 0.0, 1e-15);
    XT_CLOSE(f.r.mean_entropy, ent[0], 1e-15, 1e-15);
    XT_CLOSE(f.r.nll, per[0], 1e-15, 1e-15);
    XT_CLOSE(f.r.ece, st.ece, 1e-15, 1e-15);
    if (conf[0] <= 0.5) /* such a confidence enters the sums as it is */
      XT_BITS_EQ(f.r.mean_confidence, conf[0]);
    free_result(&f);
    free(m);
  }
}
END_TEST

/* Ties everywhere: top-1 always equals accuracy, and on bigger batches the
 * accuracy and the 15-bin ece agree with xent_evaluate's statistics. */
START_TEST(top1_is_accuracy_and_ece_matches_stats) {
  xt_rng rng = {909};
  for (int trial = 0; trial < 60; trial++) {
    const size_t n = 1 + xt_index(&rng, 200), C = 1 + xt_index(&rng, 30);
    double *x = xt_doubles(n * C);
    int64_t *t = (int64_t *)xt_alloc(n, sizeof *t);
    for (size_t i = 0; i < n * C; i++)
      x[i] = trial % 2 ? (double)xt_index(&rng, 4) * 0.5
                       : xt_range(&rng, -3.0, 3.0);
    for (size_t r = 0; r < n; r++)
      t[r] = xt_index(&rng, 6) == 0 ? -100 : (int64_t)xt_index(&rng, C);
    xent_metrics_config cfg;
    xent_metrics_config_init(&cfg, C);
    cfg.top_k_count = 1;
    cfg.top_k[0] = 1;
    xent_metrics *m = new_state(&cfg);
    update(m, n, x, t);
    full_result f;
    compute(m, &f);
    XT_BITS_EQ(f.r.top_k_accuracy[0], f.r.accuracy);
    xent_problem pb = xt_hard(n, C, x, t);
    pb.reduction = XENT_REDUCE_SUM;
    xent_stats st;
    memset(&st, 0, sizeof st);
    xent_outputs out;
    memset(&out, 0, sizeof out);
    out.stats = &st;
    XT_STATUS(xent_evaluate(&pb, &out, NULL, 0, NULL), XENT_OK);
    ck_assert_uint_eq(f.r.counted, st.counted);
    if (st.counted > 0) {
      XT_CLOSE(f.r.accuracy, st.accuracy, 1e-15, 0.0);
      XT_CLOSE(f.r.ece, st.ece, 1e-13, 1e-15);
      XT_CLOSE(f.r.mean_confidence, st.mean_confidence, 1e-13, 0.0);
    }
    free_result(&f);
    free(m);
    free(x);
    free(t);
  }
}
END_TEST

/*
 * A confidence exactly on a bin edge belongs to the bin below: logits
 * [0, 0, 0] give p = 1/3 (the double), which is the edge 1/3 of 3 bins (bin
 * 0, not 1) and the edge 5/15 of 15 bins (bin 4, not 5). The row
 * [ln 1.125, 0, 0] has confidence 0.36: bin 1 of 3, bin 5 of 15.
 */
START_TEST(bin_edges) {
  const double x[2 * 3] = {0.0, 0.0, 0.0, log(1.125), 0.0, 0.0};
  const int64_t t[2] = {0, 1};
  const size_t bins[2] = {3, 15};
  const size_t edge_bin[2] = {0, 4}, other_bin[2] = {1, 5};
  for (int i = 0; i < 2; i++) {
    xent_metrics_config cfg;
    xent_metrics_config_init(&cfg, 3);
    cfg.bins = bins[i];
    xent_metrics *m = new_state(&cfg);
    update(m, 2, x, t);
    full_result f;
    compute(m, &f);
    for (size_t b = 0; b < bins[i]; b++) {
      const uint64_t want = b == edge_bin[i] || b == other_bin[i];
      ck_assert_msg(f.bins[b].count == want, "B %zu: bin %zu count %llu",
                    bins[i], b, (unsigned long long)f.bins[b].count);
      ck_assert(f.bins[b].empty == !want);
    }
    XT_BITS_EQ(f.bins[edge_bin[i]].mean_confidence, 1.0 / 3.0);
    XT_BITS_EQ(f.bins[edge_bin[i]].accuracy, 1.0);
    XT_BITS_EQ(f.bins[other_bin[i]].accuracy, 0.0);
    XT_CLOSE(f.bins[other_bin[i]].mean_confidence, 0.36, 1e-15, 0.0);
    /* ece = (|1 - 1/3| + |0 - 0.36|) / 2; mce = 2/3 */
    XT_CLOSE(f.r.ece, (2.0 / 3.0 + 0.36) / 2.0, 1e-15, 0.0);
    XT_CLOSE(f.r.mce, 2.0 / 3.0, 1e-15, 0.0);
    XT_CLOSE(f.r.ece_l2, sqrt((4.0 / 9.0 + 0.36 * 0.36) / 2.0), 1e-15, 0.0);
    free_result(&f);
    free(m);
  }
}
END_TEST

/* One class: every row is certain and right. */
START_TEST(one_class) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 1);
  cfg.per_class = 1;
  xent_metrics *m = new_state(&cfg);
  const double x[3] = {3.0, -2.0, 1e300};
  const int64_t t[3] = {0, 0, -100};
  update(m, 3, x, t);
  full_result f;
  compute(m, &f);
  ck_assert_uint_eq(f.r.counted, 2);
  ck_assert_uint_eq(f.r.top_k_count, 1);
  XT_BITS_EQ(f.r.accuracy, 1.0);
  XT_BITS_EQ(f.r.top_k_accuracy[0], 1.0);
  XT_BITS_EQ(f.r.nll, 0.0);
  XT_BITS_EQ(f.r.brier, 0.0);
  XT_BITS_EQ(f.r.mean_entropy, 0.0);
  XT_BITS_EQ(f.r.mean_confidence, 1.0);
  XT_BITS_EQ(f.r.ece, 0.0);
  XT_BITS_EQ(f.r.mce, 0.0);
  ck_assert_uint_eq(f.bins[14].count, 2);
  ck_assert(f.r.per_class_defined && f.r.macro_classes == 1);
  XT_BITS_EQ(f.classes[0].precision, 1.0);
  XT_BITS_EQ(f.classes[0].f1, 1.0);
  XT_BITS_EQ(f.r.macro.recall, 1.0);
  XT_BITS_EQ(f.r.weighted.f1, 1.0);
  free_result(&f);
  free(m);
}
END_TEST

/* Every row ignored: counted 0, every figure undefined (0), and the state
 * merges as the identity. */
START_TEST(all_ignored) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 3);
  cfg.confusion = 1;
  xent_metrics *empty = new_state(&cfg);
  xent_metrics *fresh = new_state(&cfg);
  const double x[2 * 3] = {NAN, 0.0, 1.0, -INFINITY, -INFINITY, -INFINITY};
  const int64_t t[2] = {-100, -100};
  update(empty, 2, x, t); /* ignored rows are not read */
  ck_assert(same_bytes(empty, fresh));
  full_result f;
  compute(empty, &f);
  ck_assert(f.r.counted == 0 && f.r.defined == 0);
  ck_assert(f.r.per_class_defined == 0 && f.r.macro_classes == 0);
  XT_BITS_EQ(f.r.accuracy, 0.0);
  XT_BITS_EQ(f.r.nll, 0.0);
  XT_BITS_EQ(f.r.ece, 0.0);
  XT_BITS_EQ(f.r.top_k_accuracy[0], 0.0);
  for (size_t b = 0; b < 15; b++)
    ck_assert(f.bins[b].empty && f.bins[b].count == 0);
  for (size_t c = 0; c < 3; c++)
    ck_assert(!f.classes[c].in_macro && f.classes[c].f1 == 0.0);
  free_result(&f);

  xent_metrics *full = new_state(&cfg);
  const double y[2 * 3] = {1.0, 2.0, 0.5, 0.0, 0.0, 3.0};
  const int64_t u[2] = {1, 0};
  update(full, 2, y, u);
  xent_metrics *copy = new_state(&cfg);
  XT_STATUS(xent_metrics_merge(copy, full, NULL), XENT_OK);
  XT_STATUS(xent_metrics_merge(copy, empty, NULL), XENT_OK);
  XT_STATUS(xent_metrics_merge(empty, full, NULL), XENT_OK);
  ck_assert(same_bytes(copy, full) && same_bytes(empty, full));
  free(empty);
  free(fresh);
  free(full);
  free(copy);
}
END_TEST

/*
 * Per-class figures by hand, 4 classes, labels / predictions:
 *   (0,0) (0,1) (1,1) (1,1) (2,1) (3,3)-ignored... class 3 never appears.
 * Rows: label 0 pred 0; label 0 pred 1; label 1 pred 1; label 1 pred 1;
 * label 2 pred 1. class 0: tp 1, support 2, predicted 1: P 1, R 1/2,
 * F1 2/3. class 1: tp 2, support 2, predicted 4: P 1/2, R 1, F1 2/3.
 * class 2: tp 0, support 1, predicted 0: P 0 (0/0), R 0, F1 0. class 3:
 * absent from labels and predictions: left out of the macro average.
 * macro P = (1 + 1/2 + 0) / 3 = 1/2, R = (1/2 + 1 + 0) / 3 = 1/2,
 * F1 = (2/3 + 2/3 + 0) / 3 = 4/9; weighted P = (2 + 1 + 0) / 5 = 3/5,
 * R = (1 + 2 + 0) / 5 = 3/5, F1 = (4/3 + 4/3) / 5 = 8/15.
 */
START_TEST(per_class_by_hand) {
  const double x[5 * 4] = {5, 0, 0, 0, 0, 5, 0, 0, 0, 5,
                           0, 0, 0, 5, 0, 0, 0, 5, 0, 0};
  const int64_t t[5] = {0, 0, 1, 1, 2};
  for (int with_confusion = 0; with_confusion < 2; with_confusion++) {
    xent_metrics_config cfg;
    xent_metrics_config_init(&cfg, 4);
    cfg.per_class = !with_confusion;
    cfg.confusion = with_confusion;
    xent_metrics *m = new_state(&cfg);
    update(m, 5, x, t);
    full_result f;
    compute(m, &f);
    const xent_metrics_class *k = f.classes;
    XT_BITS_EQ(k[0].precision, 1.0);
    XT_BITS_EQ(k[0].recall, 0.5);
    XT_BITS_EQ(k[0].f1, 2.0 / 3.0);
    XT_BITS_EQ(k[1].precision, 0.5);
    XT_BITS_EQ(k[1].recall, 1.0);
    XT_BITS_EQ(k[1].f1, 2.0 / 3.0);
    ck_assert(k[2].precision == 0.0 && k[2].recall == 0.0 && k[2].f1 == 0.0);
    ck_assert(k[2].in_macro && !k[3].in_macro);
    ck_assert(k[1].support == 2 && k[1].predicted == 4 && k[1].correct == 2);
    ck_assert_uint_eq(f.r.macro_classes, 3);
    XT_BITS_EQ(f.r.macro.precision, 0.5);
    XT_BITS_EQ(f.r.macro.recall, 0.5);
    XT_CLOSE(f.r.macro.f1, 4.0 / 9.0, 1e-16, 0.0);
    XT_BITS_EQ(f.r.weighted.precision, 0.6);
    XT_BITS_EQ(f.r.weighted.recall, 0.6);
    XT_CLOSE(f.r.weighted.f1, 8.0 / 15.0, 1e-16, 0.0);
    XT_BITS_EQ(f.r.accuracy, 0.6);
    if (with_confusion) {
      const uint64_t want[16] = {1, 1, 0, 0, 0, 2, 0, 0,
                                 0, 1, 0, 0, 0, 0, 0, 0};
      ck_assert(memcmp(f.confusion, want, sizeof want) == 0);
    }
    free_result(&f);
    free(m);
  }
}
END_TEST

/* The means divide the exact sum once: n identical rows give exactly the
 * row's values whatever n (the sum n v is exact, n v / n = v). */
START_TEST(identical_rows_give_the_row) {
  const double row[4] = {0.3, -1.7, 2.9, 0.11};
  const size_t counts[] = {1, 3, 7, 1000, 12345};
  full_result one;
  memset(&one, 0, sizeof one);
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 4);
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    const size_t n = counts[i];
    double *x = xt_doubles(n * 4);
    int64_t *t = (int64_t *)xt_alloc(n, sizeof *t);
    for (size_t r = 0; r < n; r++) {
      memcpy(x + 4 * r, row, sizeof row);
      t[r] = 1;
    }
    xent_metrics *m = new_state(&cfg);
    update(m, n, x, t);
    full_result f;
    compute(m, &f);
    if (i == 0) {
      one = f;
    } else {
      XT_BITS_EQ(f.r.nll, one.r.nll);
      XT_BITS_EQ(f.r.brier, one.r.brier);
      XT_BITS_EQ(f.r.mean_confidence, one.r.mean_confidence);
      XT_BITS_EQ(f.r.mean_entropy, one.r.mean_entropy);
      XT_BITS_EQ(f.r.ece, one.r.ece);
      for (size_t b = 0; b < f.nbins; b++) {
        ck_assert_uint_eq(f.bins[b].count, one.bins[b].count * n);
        XT_BITS_EQ(f.bins[b].mean_confidence, one.bins[b].mean_confidence);
      }
      free_result(&f);
    }
    free(m);
    free(x);
    free(t);
  }
  /* p = softmax(row): the brier score of the row by the definition */
  double p[4], s = 0.0;
  for (int c = 0; c < 4; c++)
    s += exp(row[c] - 2.9);
  double brier = 0.0;
  for (int c = 0; c < 4; c++) {
    p[c] = exp(row[c] - 2.9) / s;
    brier += (p[c] - (c == 1)) * (p[c] - (c == 1));
  }
  XT_CLOSE(one.r.brier, brier, 1e-14, 0.0);
  XT_CLOSE(one.r.nll, -log(p[1]), 1e-14, 0.0);
  XT_CLOSE(one.r.mean_confidence, p[2], 1e-15, 0.0);
  free_result(&one);
}
END_TEST

/*
 * Nearly certain rows keep their relative precision: logits [30, 0, 0] with
 * label 0 give s - 1 = 2 e^-30 = 1.87e-13, so nll = log1p(2 e^-30), 1 -
 * confidence = 2 e^-30 / s (the ece and mce of one right row), brier =
 * ((2 e^-30)^2 + 2 e^-60) / s^2 = 6 e^-60 / s^2, entropy = log1p(2 e^-30) +
 * 60 e^-30 / s. Computed as log(s) and 1 - 1/s they would keep about 4 of
 * their 16 digits. With label 1, the nll is 30 + log1p(2 e^-30).
 */
START_TEST(nearly_certain_rows) {
  const double x[2 * 3] = {30.0, 0.0, 0.0, 30.0, 0.0, 0.0};
  const double rest = 2.0 * exp(-30.0), s = 1.0 + rest;
  const int64_t t0[1] = {0}, t1[1] = {1};
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 3);
  xent_metrics *m = new_state(&cfg);
  update(m, 1, x, t0);
  full_result f;
  compute(m, &f);
  XT_CLOSE(f.r.nll, log1p(rest), 1e-15, 0.0);
  XT_CLOSE(f.r.ece, rest / s, 1e-15, 0.0);
  XT_CLOSE(f.r.mce, rest / s, 1e-15, 0.0);
  XT_CLOSE(f.r.ece_l2, rest / s, 1e-15, 0.0);
  XT_CLOSE(f.r.brier, 6.0 * exp(-60.0) / (s * s), 1e-15, 0.0);
  XT_CLOSE(f.r.mean_entropy, log1p(rest) + 60.0 * exp(-30.0) / s, 1e-15, 0.0);
  XT_CLOSE(1.0 - f.r.mean_confidence, rest / s, 1e-3, 0.0);   /* rounded */
  ck_assert(fabs(log(s) - log1p(rest)) > 1e-5 * log1p(rest)); /* the point */
  free_result(&f);
  free(m);
  m = new_state(&cfg);
  update(m, 1, x + 3, t1);
  compute(m, &f);
  XT_CLOSE(f.r.nll, 30.0 + log1p(rest), 1e-15, 0.0);
  XT_CLOSE(f.r.ece, 1.0 - rest / s, 1e-15, 0.0); /* confident and wrong */
  XT_CLOSE(f.r.brier,
           (1.0 + exp(-30.0)) * (1.0 + exp(-30.0)) / (s * s) +
               (1.0 + exp(-60.0)) / (s * s),
           1e-15, 0.0);
  free_result(&f);
  free(m);
}
END_TEST

/* Float logits: the state of the same values given as doubles. */
START_TEST(float_logits) {
  xt_rng rng = {5};
  enum { N = 40, C = 9 };
  float xf[N * C];
  double xd[N * C];
  int64_t t[N];
  for (size_t i = 0; i < N * C; i++) {
    xf[i] = (float)xt_range(&rng, -4.0, 4.0);
    xd[i] = (double)xf[i];
  }
  for (size_t r = 0; r < N; r++)
    t[r] = r % 9 == 4 ? -100 : (int64_t)xt_index(&rng, C);
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, C);
  cfg.confusion = 1;
  xent_metrics *a = new_state(&cfg), *b = new_state(&cfg);
  XT_STATUS(update_dtype(a, N, xf, XENT_F32, t, NULL), XENT_OK);
  XT_STATUS(update_dtype(b, N, xd, XENT_F64, t, NULL), XENT_OK);
  ck_assert(same_bytes(a, b));
  free(a);
  free(b);
}
END_TEST

/* ------------------------------------------------------------- errors -- */

/* The update's errors, each with its position, and the state untouched. */
START_TEST(update_errors_leave_state) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 3);
  cfg.per_class = 1;
  xent_metrics *m = new_state(&cfg);
  const double good[2 * 3] = {0.5, 1.0, -1.0, 2.0, 0.0, 0.0};
  const int64_t gt[2] = {1, 0};
  update(m, 2, good, gt);
  size_t before_len;
  unsigned char *before = bytes_of(m, &before_len);
  static const struct {
    double x[3 * 3];
    int64_t t[3];
    xent_status status;
    xent_arg arg;
    int64_t row, col;
  } cases[] = {
      {{0, 0, 0, 0, 0, 0, 0, 0, 0},
       {0, 3, 1},
       XENT_ERR_LABEL,
       XENT_ARG_TARGETS,
       1,
       -1},
      {{0, 0, 0, 0, 0, 0, 0, 0, 0},
       {0, 1, -5},
       XENT_ERR_LABEL,
       XENT_ARG_TARGETS,
       2,
       -1},
      {{0, 0, 0, 0, NAN, 0, 0, 0, 0},
       {0, 1, 2},
       XENT_ERR_LOGIT,
       XENT_ARG_LOGITS,
       1,
       1},
      {{0, 0, 0, 0, 0, 0, 0, 0, INFINITY},
       {0, 1, 2},
       XENT_ERR_LOGIT,
       XENT_ARG_LOGITS,
       2,
       2},
      {{0, 0, 0, -INFINITY, -INFINITY, -INFINITY, 0, 0, 0},
       {0, 1, 2},
       XENT_ERR_ROW_MASKED,
       XENT_ARG_LOGITS,
       1,
       -1},
      {{0, 0, 0, 0, 0, 0, 0, -INFINITY, 0},
       {0, 1, 1},
       XENT_ERR_MASKED_TARGET,
       XENT_ARG_TARGETS,
       2,
       1},
      {{0, 0, 0, 1e308, -1e308, 0, 0, 0, 0},
       {0, 1, 2},
       XENT_ERR_OVERFLOW,
       XENT_ARG_LOGITS,
       1,
       1},
      /* the last row is bad: nothing before it is kept either */
      {{0, 0, 0, 0, 0, 0, 0, NAN, 0},
       {0, 1, 2},
       XENT_ERR_LOGIT,
       XENT_ARG_LOGITS,
       2,
       1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    xent_error err;
    const xent_status st =
        update_dtype(m, 3, cases[i].x, XENT_F64, cases[i].t, &err);
    ck_assert_msg(
        st == cases[i].status && err.status == st && err.arg == cases[i].arg &&
            err.row == cases[i].row && err.col == cases[i].col,
        "case %zu: %s arg %d row %lld col %lld", i, xent_status_name(st),
        (int)err.arg, (long long)err.row, (long long)err.col);
    size_t len;
    unsigned char *after = bytes_of(m, &len);
    ck_assert_msg(len == before_len && memcmp(before, after, len) == 0,
                  "case %zu: the state changed", i);
    free(after);
  }
  /* an ignored row may hold anything */
  const double odd[2 * 3] = {NAN, INFINITY, -INFINITY, 0, 0, 0};
  const int64_t ot[2] = {-100, 2};
  update(m, 2, odd, ot);

  /* arguments */
  xent_metrics_batch b;
  memset(&b, 0, sizeof b);
  b.n = 2;
  b.logits = good;
  b.targets = gt;
  double work[64];
  xent_error err;
  const size_t ws = xent_metrics_workspace_size(&cfg, 2);
  ck_assert(ws <= sizeof work);
  XT_STATUS(xent_metrics_update(NULL, &b, work, ws, &err), XENT_ERR_NULL);
  XT_STATUS(xent_metrics_update(m, NULL, work, ws, &err), XENT_ERR_NULL);
  XT_STATUS(xent_metrics_update(m, &b, NULL, ws, &err), XENT_ERR_WORKSPACE);
  XT_STATUS(xent_metrics_update(m, &b, work, ws - 1, &err), XENT_ERR_WORKSPACE);
  XT_STATUS(xent_metrics_update(m, &b, (char *)work + 1, ws, &err),
            XENT_ERR_WORKSPACE);
  b.n = 0;
  XT_STATUS(xent_metrics_update(m, &b, work, ws, &err), XENT_ERR_SHAPE);
  b.n = 2;
  b.dtype = (xent_dtype)77;
  XT_STATUS(xent_metrics_update(m, &b, work, ws, &err), XENT_ERR_OPTION);
  b.dtype = XENT_F64;
  b.kernel = (xent_kernel)99;
  XT_STATUS(xent_metrics_update(m, &b, work, ws, &err), XENT_ERR_OPTION);
  b.kernel = XENT_KERNEL_AUTO;
  b.logits = NULL;
  XT_STATUS(xent_metrics_update(m, &b, work, ws, &err), XENT_ERR_NULL);
  ck_assert(err.arg == XENT_ARG_LOGITS);
  b.logits = good;
  b.targets = NULL;
  XT_STATUS(xent_metrics_update(m, &b, work, ws, &err), XENT_ERR_NULL);
  ck_assert(err.arg == XENT_ARG_TARGETS);
  free(before);
  free(m);
}
END_TEST

START_TEST(state_errors) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 5);
  const size_t size = xent_metrics_state_size(&cfg);
  uint64_t *mem = (uint64_t *)xt_alloc(size / 8 + 2, 8);
  xent_metrics *m = (xent_metrics *)mem;
  xent_error err;
  /* not initialised */
  memset(mem, 0x3c, size);
  xent_metrics_result r;
  memset(&r, 0, sizeof r);
  XT_STATUS(xent_metrics_compute(m, &r, &err), XENT_ERR_STATE);
  ck_assert(err.arg == XENT_ARG_STATE);
  size_t len;
  XT_STATUS(xent_metrics_serialize(m, NULL, 0, &len, &err), XENT_ERR_STATE);
  /* too small, misaligned */
  XT_STATUS(xent_metrics_init(m, size - 1, &cfg, &err), XENT_ERR_BUFFER);
  ck_assert(err.arg == XENT_ARG_STATE);
  XT_STATUS(xent_metrics_init((xent_metrics *)(void *)((char *)mem + 4), size,
                              &cfg, &err),
            XENT_ERR_BUFFER);
  XT_STATUS(xent_metrics_init(NULL, size, &cfg, &err), XENT_ERR_NULL);
  cfg.bins = 0;
  XT_STATUS(xent_metrics_init(m, size, &cfg, &err), XENT_ERR_CONFIG);
  cfg.bins = 15;
  XT_STATUS(xent_metrics_init(m, size, &cfg, &err), XENT_OK);
  /* what the state does not keep */
  xent_metrics_class cls[5];
  uint64_t cm[25];
  r.per_class = cls;
  XT_STATUS(xent_metrics_compute(m, &r, &err), XENT_ERR_CONFIG);
  ck_assert(err.arg == XENT_ARG_PER_CLASS);
  r.per_class = NULL;
  r.confusion = cm;
  XT_STATUS(xent_metrics_compute(m, &r, &err), XENT_ERR_CONFIG);
  ck_assert(err.arg == XENT_ARG_CONFUSION);
  XT_STATUS(xent_metrics_compute(m, NULL, &err), XENT_ERR_NULL);
  /* serialize into a buffer too small */
  XT_STATUS(xent_metrics_serialize(m, NULL, 0, &len, &err), XENT_OK);
  unsigned char *buf = (unsigned char *)xt_alloc(len, 1);
  memset(buf, 0xee, len);
  XT_STATUS(xent_metrics_serialize(m, buf, len - 1, &len, &err),
            XENT_ERR_BUFFER);
  ck_assert(err.arg == XENT_ARG_SERIALIZED && buf[0] == 0xee);
  XT_STATUS(xent_metrics_serialize(m, buf, len, NULL, &err), XENT_ERR_NULL);
  /* memory overwritten after init */
  mem[1] ^= 8;
  XT_STATUS(xent_metrics_serialize(m, NULL, 0, &len, &err), XENT_ERR_STATE);
  xent_metrics_config got;
  XT_STATUS(xent_metrics_get_config(m, &got, &err), XENT_ERR_STATE);
  free(buf);
  free(mem);
}
END_TEST

/* A merge of different configurations names the first field that differs. */
START_TEST(merge_mismatch_names_field) {
  xent_metrics_config base;
  xent_metrics_config_init(&base, 10);
  base.top_k_count = 3;
  base.top_k[2] = 7;
  xent_metrics *a = new_state(&base);
  static const struct {
    xent_arg arg;
    int64_t row;
  } want[] = {{XENT_ARG_CLASSES, -1},     {XENT_ARG_BINS, -1},
              {XENT_ARG_TOP_K, 1},        {XENT_ARG_TOP_K, -1},
              {XENT_ARG_CONFUSION, -1},   {XENT_ARG_PER_CLASS, -1},
              {XENT_ARG_IGNORE_INDEX, -1}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    xent_metrics_config c = base;
    switch (i) {
    case 0:
      c.classes = 11;
      break;
    case 1:
      c.bins = 10;
      break;
    case 2:
      c.top_k[1] = 6;
      break;
    case 3:
      c.top_k_count = 2;
      break;
    case 4:
      c.confusion = 1;
      break;
    case 5:
      c.per_class = 1;
      break;
    default:
      c.ignore_index = -1;
      break;
    }
    xent_metrics *b = new_state(&c);
    xent_error err;
    XT_STATUS(xent_metrics_merge(a, b, &err), XENT_ERR_CONFIG_MISMATCH);
    ck_assert_msg(err.arg == want[i].arg && err.row == want[i].row,
                  "case %zu: arg %s row %lld", i, xent_arg_name(err.arg),
                  (long long)err.row);
    XT_STATUS(xent_metrics_merge(b, a, &err), XENT_ERR_CONFIG_MISMATCH);
    ck_assert(err.arg == want[i].arg);
    free(b);
  }
  /* booleans compare as booleans */
  xent_metrics_config c = base;
  c.per_class = 0;
  xent_metrics *b = new_state(&c);
  XT_STATUS(xent_metrics_merge(a, b, NULL), XENT_OK);
  XT_STATUS(xent_metrics_merge(a, NULL, NULL), XENT_ERR_NULL);
  memset(b, 0, 64);
  xent_error err;
  XT_STATUS(xent_metrics_merge(a, b, &err), XENT_ERR_STATE);
  ck_assert(err.arg == XENT_ARG_SOURCE);
  XT_STATUS(xent_metrics_merge(b, a, &err), XENT_ERR_STATE);
  ck_assert(err.arg == XENT_ARG_STATE);
  free(a);
  free(b);
}
END_TEST

/*
 * Counts beyond 2^53, by merging a state into itself: 3 rows doubled 61
 * times are 3 2^61 rows. Ratios of such counts go through the accumulator's
 * division and must still be correctly rounded (2/3 and 1/3 as the
 * doubles), and the means are unchanged. The sum of 1, 2, .. 2^62 rows is
 * the largest count, 2^63 - 1: one row more is refused, in update and merge.
 */
START_TEST(counts_beyond_2_53) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 3);
  cfg.per_class = 1;
  xent_metrics *m = new_state(&cfg);
  const double x[3 * 3] = {2, 0, 0, 0, 2, 0, 0, 0, 2};
  const int64_t t[3] = {0, 1, 0};
  update(m, 3, x, t);
  full_result small;
  compute(m, &small);
  for (int i = 0; i < 61; i++)
    XT_STATUS(xent_metrics_merge(m, m, NULL), XENT_OK);
  full_result big;
  compute(m, &big);
  ck_assert(big.r.counted == UINT64_C(3) << 61);
  XT_BITS_EQ(big.r.accuracy, 2.0 / 3.0);
  XT_BITS_EQ(big.classes[0].recall, 0.5);
  XT_BITS_EQ(big.classes[0].f1, 2.0 / 3.0);
  XT_BITS_EQ(big.classes[2].precision, 0.0);
  XT_BITS_EQ(big.r.nll, small.r.nll);
  XT_BITS_EQ(big.r.mean_confidence, small.r.mean_confidence);
  XT_BITS_EQ(big.r.ece, small.r.ece);
  XT_BITS_EQ(big.r.macro.f1, small.r.macro.f1);
  XT_BITS_EQ(big.r.weighted.recall, small.r.weighted.recall);
  /* 3 2^61 doubled is 3 2^62 > 2^63 - 1 */
  xent_error err;
  XT_STATUS(xent_metrics_merge(m, m, &err), XENT_ERR_COUNT_LIMIT);
  /* the bytes survive a round trip */
  size_t len;
  unsigned char *buf = bytes_of(m, &len);
  xent_metrics *back = new_state(&cfg);
  XT_STATUS(
      xent_metrics_parse(buf, len, back, xent_metrics_state_size(&cfg), &err),
      XENT_OK);
  ck_assert(same_bytes(m, back));
  free(buf);
  free_result(&small);
  free_result(&big);

  /* 2^63 - 1 rows */
  xent_metrics *one = new_state(&cfg), *all = new_state(&cfg);
  update(one, 1, x, t);
  for (int i = 0; i < 63; i++) {
    XT_STATUS(xent_metrics_merge(all, one, NULL), XENT_OK);
    if (i < 62)
      XT_STATUS(xent_metrics_merge(one, one, NULL), XENT_OK);
  }
  full_result f;
  compute(all, &f);
  ck_assert(f.r.counted == (uint64_t)INT64_MAX);
  XT_BITS_EQ(f.r.accuracy, 1.0);
  free_result(&f);
  XT_STATUS(update_dtype(all, 1, x, XENT_F64, t, &err), XENT_ERR_COUNT_LIMIT);
  const int64_t ignored[1] = {-100};
  XT_STATUS(update_dtype(all, 1, x, XENT_F64, ignored, &err), XENT_OK);
  XT_STATUS(xent_metrics_merge(all, one, &err), XENT_ERR_COUNT_LIMIT);
  ck_assert(err.arg == XENT_ARG_SOURCE);
  free(m);
  free(back);
  free(one);
  free(all);
}
END_TEST

/* ---------------------------------------------------------- the bytes -- */

static xent_metrics *sample_state(const xent_metrics_config *cfg, uint64_t seed,
                                  size_t n) {
  xt_rng rng = {seed};
  const size_t C = cfg->classes;
  double *x = xt_doubles(n * C);
  int64_t *t = (int64_t *)xt_alloc(n, sizeof *t);
  for (size_t i = 0; i < n * C; i++)
    x[i] = xt_range(&rng, -3.0, 3.0);
  for (size_t r = 0; r < n; r++)
    t[r] = r % 5 == 2 ? cfg->ignore_index : (int64_t)xt_index(&rng, C);
  xent_metrics *m = new_state(cfg);
  update(m, n, x, t);
  free(x);
  free(t);
  return m;
}

/* Larger states are not allocated here (a changed byte of `classes` with
 * confusion asks for up to 2 PB): parse must then refuse the bytes or, when
 * they are valid, say the buffer is too small. */
#define PARSE_MAX_STATE ((size_t)1 << 20)

static xent_status parse(const unsigned char *buf, size_t len,
                         xent_metrics **out, xent_error *err) {
  xent_metrics_config cfg;
  *out = NULL;
  xent_status st = xent_metrics_parse_config(buf, len, &cfg, err);
  if (st != XENT_OK)
    return st;
  const size_t size = xent_metrics_state_size(&cfg);
  ck_assert(size > 0);
  if (size > PARSE_MAX_STATE) {
    uint64_t small[64];
    st = xent_metrics_parse(buf, len, (xent_metrics *)(void *)small,
                            sizeof small, err);
    ck_assert(st != XENT_OK);
    return st;
  }
  xent_metrics *m = (xent_metrics *)xt_alloc(1, size);
  memset(m, 0xa5, size);
  st = xent_metrics_parse(buf, len, m, size, err);
  if (st != XENT_OK) {
    /* nothing written on failure (one assertion: Check records each) */
    size_t i = 0;
    while (i < size && ((unsigned char *)m)[i] == 0xa5)
      i++;
    ck_assert_msg(i == size, "state written at %zu", i);
    free(m);
    return st;
  }
  *out = m;
  return st;
}

/* The configuration of C classes with layout `variant` (0-3): bins only,
 * with the confusion matrix (1), with per-class counts (2), both (3). */
static void layout_variant(xent_metrics_config *cfg, size_t C, int variant) {
  xent_metrics_config_init(cfg, C);
  cfg->confusion = variant & 1;
  cfg->per_class = (variant & 2) != 0;
}

START_TEST(bytes_round_trip) {
  for (int variant = 0; variant < 4; variant++) {
    xent_metrics_config cfg;
    layout_variant(&cfg, 7, variant);
    cfg.bins = 4 + (size_t)variant;
    cfg.ignore_index = variant == 3 ? 6 : -100;
    xent_metrics *m = sample_state(&cfg, 100 + (uint64_t)variant, 50);
    size_t len;
    unsigned char *buf = bytes_of(m, &len);
    ck_assert(memcmp(buf, "XENTMTRC", 8) == 0);
    ck_assert(buf[8] == XENT_METRICS_FORMAT_VERSION && buf[9] == 0);
    xent_metrics *back;
    xent_error err;
    XT_STATUS(parse(buf, len, &back, &err), XENT_OK);
    ck_assert(same_bytes(m, back));
    full_result a, b;
    compute(m, &a);
    compute(back, &b);
    assert_same_result(&a, &b, "round trip");
    xent_metrics_config got;
    XT_STATUS(xent_metrics_parse_config(buf, len, &got, NULL), XENT_OK);
    ck_assert(got.classes == 7 && got.bins == cfg.bins &&
              got.confusion == cfg.confusion &&
              got.per_class == cfg.per_class &&
              got.ignore_index == cfg.ignore_index && got.top_k_count == 2);
    /* a state too small for it */
    XT_STATUS(xent_metrics_parse(buf, len, back,
                                 xent_metrics_state_size(&cfg) - 8, &err),
              XENT_ERR_BUFFER);
    free_result(&a);
    free_result(&b);
    free(buf);
    free(m);
    free(back);
  }
}
END_TEST

/* A copy of a state (its layout's size). */
static xent_metrics *copy_state(const xent_metrics *m,
                                const xent_metrics_config *cfg) {
  const size_t size = xent_metrics_state_size(cfg);
  xent_metrics *c = (xent_metrics *)xt_alloc(1, size);
  memcpy(c, m, size);
  return c;
}

/* Merging a state's bytes is parsing them and merging the state, bit for
 * bit, for each layout (bins, per-class counts, the sparse confusion
 * matrix); an empty state takes a state whole. Refusals leave dst as it
 * was: malformed bytes (every cut), another configuration (arg naming the
 * field), the counts' limit. */
START_TEST(merge_serialized_is_parse_and_merge) {
  for (int variant = 0; variant < 4; variant++) {
    xent_metrics_config cfg;
    layout_variant(&cfg, 6, variant);
    xent_metrics *a = sample_state(&cfg, 200 + (uint64_t)variant, 40);
    xent_metrics *b = sample_state(&cfg, 300 + (uint64_t)variant, 25);
    size_t len;
    unsigned char *buf = bytes_of(b, &len);
    xent_metrics *want = copy_state(a, &cfg), *got = copy_state(a, &cfg);
    XT_STATUS(xent_metrics_merge(want, b, NULL), XENT_OK);
    uint64_t counted = 0;
    xent_error err;
    XT_STATUS(xent_metrics_merge_serialized(got, buf, len, &counted, &err),
              XENT_OK);
    ck_assert(same_bytes(want, got));
    full_result fw, fg;
    compute(want, &fw);
    compute(got, &fg);
    assert_same_result(&fw, &fg, "merge_serialized");
    ck_assert_uint_eq(counted, 20); /* 25 rows, every fifth ignored */
    free_result(&fw);
    free_result(&fg);
    /* into an empty state: the state itself */
    xent_metrics *empty = new_state(&cfg);
    XT_STATUS(xent_metrics_merge_serialized(empty, buf, len, NULL, NULL),
              XENT_OK);
    ck_assert(same_bytes(empty, b));
    /* every cut of the bytes: refused, dst untouched */
    for (size_t cut = 0; cut < len; cut += 3) {
      XT_STATUS(xent_metrics_merge_serialized(got, buf, cut, NULL, &err),
                XENT_ERR_STATE_FORMAT);
      ck_assert(same_bytes(want, got));
    }
    free(buf);
    free(empty);
    free(want);
    free(got);
    free(a);
    free(b);
  }
  /* another configuration: refused naming it, dst untouched */
  xent_metrics_config c1, c2;
  xent_metrics_config_init(&c1, 4);
  xent_metrics_config_init(&c2, 4);
  c2.bins = 10;
  xent_metrics *x = sample_state(&c1, 5, 10), *y = sample_state(&c2, 6, 10);
  xent_metrics *before = copy_state(x, &c1);
  size_t len;
  unsigned char *buf = bytes_of(y, &len);
  xent_error err;
  uint64_t counted = 0;
  XT_STATUS(xent_metrics_merge_serialized(x, buf, len, &counted, &err),
            XENT_ERR_CONFIG_MISMATCH);
  ck_assert(err.arg == XENT_ARG_BINS);
  ck_assert(same_bytes(x, before));
  ck_assert_uint_eq(counted, 8); /* valid bytes: 10 rows, 2 ignored */
  free(buf);
  /* the counts' limit: 2^61 rows, and its bytes added three times: 2^62,
   * 3 2^61, then 2^63 > 2^63 - 1 */
  xent_metrics *big = sample_state(&c1, 7, 1);
  for (int i = 0; i < 61; i++)
    XT_STATUS(xent_metrics_merge(big, big, NULL), XENT_OK);
  buf = bytes_of(big, &len);
  XT_STATUS(xent_metrics_merge_serialized(big, buf, len, NULL, &err), XENT_OK);
  XT_STATUS(xent_metrics_merge_serialized(big, buf, len, NULL, &err), XENT_OK);
  XT_STATUS(xent_metrics_merge_serialized(big, buf, len, NULL, &err),
            XENT_ERR_COUNT_LIMIT);
  ck_assert(err.arg == XENT_ARG_SOURCE);
  XT_STATUS(xent_metrics_merge_serialized(NULL, buf, len, NULL, &err),
            XENT_ERR_NULL);
  free(buf);
  free(big);
  free(before);
  free(x);
  free(y);
}
END_TEST

/* CRC-32 one bit at a time, from its definition (IEEE 802.3, reflected:
 * shift right, xor 0xEDB88320 when the bit shifted out is 1). */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c & 1u) ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* The total length, bytes 16 to 23. */
static void set_length(unsigned char *p, size_t n) {
  for (int i = 0; i < 8; i++)
    p[16 + i] = (unsigned char)((uint64_t)n >> (8 * i));
}

/* The last four bytes are the CRC-32 of the others: the definition above,
 * which gives the standard check value 0xCBF43926 for "123456789" (zlib's
 * crc32, Python's zlib.crc32). */
START_TEST(checksum_is_crc32) {
  ck_assert_uint_eq(crc32_bitwise((const unsigned char *)"123456789", 9),
                    0xcbf43926u);
  for (int variant = 0; variant < 4; variant++) {
    xent_metrics_config cfg;
    layout_variant(&cfg, 9, variant);
    xent_metrics *m = sample_state(&cfg, 400 + (uint64_t)variant, 60);
    size_t len;
    unsigned char *buf = bytes_of(m, &len);
    ck_assert_uint_eq(buf[8], 2);
    ck_assert_uint_eq(le32(buf + 16), len); /* the length holds the sum */
    ck_assert_uint_eq(le32(buf + len - 4), crc32_bitwise(buf, len - 4));
    /* a changed checksum is refused, pointing at it */
    buf[len - 1] ^= 0x10;
    xent_metrics *out;
    xent_error err;
    XT_STATUS(parse(buf, len, &out, &err), XENT_ERR_STATE_CHECKSUM);
    ck_assert(err.arg == XENT_ARG_SERIALIZED && (size_t)err.row == len - 4);
    xent_metrics_config got;
    XT_STATUS(xent_metrics_parse_config(buf, len, &got, &err),
              XENT_ERR_STATE_CHECKSUM);
    free(buf);
    free(m);
  }
}
END_TEST

/* Version 1, the layout without the checksum, is still read: a state's
 * bytes as version 1 parse and merge to the same state, which writes
 * version 2 again; version 1 with four bytes after it is refused. */
START_TEST(version1_still_read) {
  for (int variant = 0; variant < 4; variant++) {
    xent_metrics_config cfg;
    layout_variant(&cfg, 5, variant);
    xent_metrics *m = sample_state(&cfg, 500 + (uint64_t)variant, 30);
    size_t len;
    unsigned char *v2 = bytes_of(m, &len);
    unsigned char *v1 = (unsigned char *)xt_alloc(len, 1);
    memcpy(v1, v2, len);
    v1[8] = 1;
    set_length(v1, len - 4);
    xent_metrics *out;
    xent_error err;
    XT_STATUS(parse(v1, len - 4, &out, &err), XENT_OK);
    ck_assert(same_bytes(m, out));
    size_t len2;
    unsigned char *again = bytes_of(out, &len2);
    ck_assert(len2 == len && memcmp(again, v2, len) == 0);
    xent_metrics *e = new_state(&cfg);
    XT_STATUS(xent_metrics_merge_serialized(e, v1, len - 4, NULL, &err),
              XENT_OK);
    ck_assert(same_bytes(m, e));
    free(out);
    /* the checksum read as version 1: bytes after the end */
    set_length(v1, len);
    XT_STATUS(parse(v1, len, &out, &err), XENT_ERR_STATE_FORMAT);
    ck_assert((size_t)err.row == len - 4);
    free(again);
    free(e);
    free(v1);
    free(v2);
    free(m);
  }
}
END_TEST

/* Versions other than 1 and 2 are refused with their own status, pointing
 * at the version field; a wrong magic is a format error at byte 0. */
START_TEST(versions_refused) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 4);
  xent_metrics *m = sample_state(&cfg, 3, 10);
  size_t len;
  unsigned char *buf = bytes_of(m, &len);
  const uint32_t versions[] = {0, 3, 0x01000002u, 0xffffffffu};
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
    unsigned char *copy = (unsigned char *)xt_alloc(len, 1);
    memcpy(copy, buf, len);
    for (int k = 0; k < 4; k++)
      copy[8 + k] = (unsigned char)(versions[i] >> (8 * k));
    xent_metrics *out;
    xent_error err;
    XT_STATUS(parse(copy, len, &out, &err), XENT_ERR_STATE_VERSION);
    ck_assert(err.arg == XENT_ARG_SERIALIZED && err.row == 8);
    /* also with only the first twelve bytes: the version is enough */
    XT_STATUS(parse(copy, 12, &out, &err), XENT_ERR_STATE_VERSION);
    free(copy);
  }
  buf[0] = 'Y';
  xent_metrics *out;
  xent_error err;
  XT_STATUS(parse(buf, len, &out, &err), XENT_ERR_STATE_FORMAT);
  ck_assert(err.row == 0);
  XT_STATUS(parse(NULL, 0, &out, &err), XENT_ERR_STATE_FORMAT);
  XT_STATUS(xent_metrics_parse_config(NULL, 5, &cfg, &err), XENT_ERR_NULL);
  free(buf);
  free(m);
}
END_TEST

/* Every truncation and every change of a byte (each of its bits alone, and
 * all eight) is refused, with a byte offset inside the input: the checksum
 * catches every change within 32 bits. (Before it, 194 of 1,928 single-bit
 * changes of a small state were other valid states.) */
START_TEST(bytes_every_change) {
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, 5);
  cfg.confusion = 1;
  cfg.bins = 6;
  cfg.top_k_count = 3;
  cfg.top_k[1] = 3;
  cfg.top_k[2] = 5;
  xent_metrics *m = sample_state(&cfg, 11, 30);
  size_t len;
  unsigned char *buf = bytes_of(m, &len);
  for (size_t cut = 0; cut < len; cut++) {
    xent_metrics *out;
    xent_error err;
    XT_STATUS(parse(buf, cut, &out, &err), XENT_ERR_STATE_FORMAT);
    ck_assert(err.row >= 0 && (size_t)err.row <= cut);
  }
  size_t accepted = 0, refused = 0, by_checksum = 0;
  const unsigned char deltas[] = {1, 2, 4, 8, 16, 32, 64, 128, 0xff};
  for (size_t i = 0; i < len; i++)
    for (size_t d = 0; d < sizeof deltas; d++) {
      buf[i] ^= deltas[d];
      xent_metrics *out;
      xent_error err;
      const xent_status st = parse(buf, len, &out, &err);
      if (st == XENT_OK) {
        size_t n2;
        unsigned char *again = bytes_of(out, &n2);
        ck_assert_msg(n2 == len && memcmp(again, buf, len) == 0,
                      "byte %zu ^ %u: accepted but encodes differently", i,
                      deltas[d]);
        free(again);
        free(out);
        accepted++;
      } else if (st == XENT_ERR_BUFFER) {
        accepted++; /* valid, for a state too large to allocate here */
      } else {
        ck_assert_msg(st == XENT_ERR_STATE_FORMAT ||
                          st == XENT_ERR_STATE_VERSION ||
                          st == XENT_ERR_STATE_CHECKSUM,
                      "byte %zu: %s", i, xent_status_name(st));
        ck_assert(err.row >= 0 && (size_t)err.row <= len);
        /* past the version, but for the length, only the checksum tells */
        if (i >= 12 && (i < 16 || i >= 24))
          ck_assert_msg(st == XENT_ERR_STATE_CHECKSUM &&
                            (size_t)err.row == len - 4,
                        "byte %zu: %s at %lld", i, xent_status_name(st),
                        (long long)err.row);
        by_checksum += st == XENT_ERR_STATE_CHECKSUM;
        refused++;
      }
      buf[i] ^= deltas[d];
    }
  printf("bytes_every_change: %zu bytes, %zu truncations refused; of %zu "
         "changed bytes %zu refused (%zu by the checksum), %zu accepted\n",
         len, len, accepted + refused, refused, by_checksum, accepted);
  ck_assert_uint_eq(accepted, 0);
  ck_assert_uint_eq(refused, len * sizeof deltas);
  free(buf);
  free(m);
}
END_TEST

/* ------------------------------------------------ the exactness promise -- */

/* Merges the pool's states pairwise in random order and grouping until one
 * is left; returns it (the others are freed). */
static xent_metrics *merge_randomly(xent_metrics **pool, size_t count,
                                    xt_rng *rng) {
  while (count > 1) {
    const size_t i = xt_index(rng, count);
    size_t j = xt_index(rng, count - 1);
    j += j >= i;
    XT_STATUS(xent_metrics_merge(pool[i], pool[j], NULL), XENT_OK);
    free(pool[j]);
    pool[j] = pool[count - 1];
    count--;
  }
  return pool[0];
}

START_TEST(merge_exactness) {
  xt_rng rng = {424242};
  enum { N = 1500, C = 37, SPLITS = 20 };
  double *x = xt_doubles(N * C);
  float *xf = (float *)xt_alloc(N * C, sizeof(float));
  int64_t *t = (int64_t *)xt_alloc(N, sizeof *t);
  for (size_t i = 0; i < N * C; i++) {
    /* spreads from ties to confident rows */
    const double scale = (i / C) % 4 == 0 ? 0.0 : (double)((i / C) % 9);
    x[i] = xt_range(&rng, -1.0, 1.0) * scale;
    if (xt_index(&rng, 17) == 0)
      x[i] = -INFINITY;
    xf[i] = (float)x[i];
  }
  for (size_t r = 0; r < N; r++) {
    t[r] = xt_index(&rng, 8) == 0 ? -100 : (int64_t)xt_index(&rng, C);
    if (t[r] >= 0) {
      x[r * C + (size_t)t[r]] = xt_range(&rng, -2.0, 2.0);
      xf[r * C + (size_t)t[r]] = (float)x[r * C + (size_t)t[r]];
    }
  }
  xent_metrics_config cfg;
  xent_metrics_config_init(&cfg, C);
  cfg.top_k_count = 4;
  cfg.top_k[1] = 2;
  cfg.top_k[2] = 5;
  cfg.top_k[3] = 10;
  cfg.confusion = 1;
  cfg.bins = 20;
  xent_metrics_config cfg2 = cfg;
  cfg2.confusion = 0;
  cfg2.per_class = 1;
  const xent_metrics_config *cfgs[2] = {&cfg, &cfg2};
  size_t total_batches = 0, total_merges = 0;
  for (int which = 0; which < 2; which++) {
    const xent_dtype dtype = which == 0 ? XENT_F64 : XENT_F32;
    const void *logits = which == 0 ? (const void *)x : (const void *)xf;
    const size_t esize = which == 0 ? sizeof(double) : sizeof(float);
    xent_metrics *whole = new_state(cfgs[which]);
    XT_STATUS(update_dtype(whole, N, logits, dtype, t, NULL), XENT_OK);
    size_t want_len;
    unsigned char *want = bytes_of(whole, &want_len);
    full_result want_r;
    compute(whole, &want_r);
    ck_assert(want_r.r.counted > N / 2);
    for (int split = 0; split < SPLITS; split++) {
      /* cut points: random batch sizes, from single rows to large ones */
      const size_t batches = 1 + xt_index(&rng, 60);
      xent_metrics **pool =
          (xent_metrics **)xt_alloc(batches, sizeof(xent_metrics *));
      size_t start = 0;
      for (size_t b = 0; b < batches; b++) {
        const size_t left = N - start, rest = batches - b;
        size_t len = b + 1 == batches ? left : xt_index(&rng, 2 * left / rest);
        len = len == 0 ? 1 : len;
        len = len > left - (rest - 1) ? left - (rest - 1) : len;
        pool[b] = new_state(cfgs[which]);
        XT_STATUS(update_dtype(pool[b], len,
                               (const char *)logits + start * C * esize, dtype,
                               t + start, NULL),
                  XENT_OK);
        start += len;
      }
      ck_assert_uint_eq(start, N);
      total_batches += batches;
      total_merges += batches - 1;
      xent_metrics *merged = merge_randomly(pool, batches, &rng);
      size_t got_len;
      unsigned char *got = bytes_of(merged, &got_len);
      ck_assert_msg(got_len == want_len && memcmp(got, want, got_len) == 0,
                    "split %d (%zu batches): bytes differ", split, batches);
      full_result got_r;
      compute(merged, &got_r);
      assert_same_result(&got_r, &want_r, "split");
      free_result(&got_r);
      free(got);
      free(merged);
      free(pool);
    }
    free_result(&want_r);
    free(want);
    free(whole);
  }
  printf("merge_exactness: %d splits x 2 configurations, %zu batches, %zu "
         "merges: bytes and figures identical\n",
         SPLITS, total_batches, total_merges);
  free(x);
  free(xf);
  free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("metrics");
  XT_ADD(s, config_defaults_and_cap);
  XT_ADD(s, config_errors);
  XT_ADD(s, statuses_and_args_pinned);
  XT_ADD(s, fsum_exact_by_hand);
  XT_ADD(s, fsum_errors);
  XT_ADD(s, fsum_order_independent);
  XT_ADD(s, top_k_ties);
  XT_ADD(s, top_k_masked_after_underflow);
  XT_ADD(s, merge_serialized_is_parse_and_merge);
  XT_ADD(s, rows_match_evaluate);
  XT_ADD(s, top1_is_accuracy_and_ece_matches_stats);
  XT_ADD(s, bin_edges);
  XT_ADD(s, one_class);
  XT_ADD(s, all_ignored);
  XT_ADD(s, per_class_by_hand);
  XT_ADD(s, identical_rows_give_the_row);
  XT_ADD(s, nearly_certain_rows);
  XT_ADD(s, float_logits);
  XT_ADD(s, update_errors_leave_state);
  XT_ADD(s, state_errors);
  XT_ADD(s, merge_mismatch_names_field);
  XT_ADD(s, counts_beyond_2_53);
  XT_ADD(s, bytes_round_trip);
  XT_ADD(s, checksum_is_crc32);
  XT_ADD(s, version1_still_read);
  XT_ADD(s, versions_refused);
  XT_ADD(s, bytes_every_change);
  XT_ADD(s, merge_exactness);
  return xt_run(s);
}
