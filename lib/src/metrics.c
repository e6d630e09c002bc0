/* Whole-dataset metrics: configuration, state, update, merge and the
 * figures (xent.h, "Whole-dataset metrics"). An update computes every row's
 * values into the workspace while it validates, and writes the state only
 * once the whole batch is known to be valid. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "metrics.h"

/* --------------------------------------------------- the configuration -- */

void xent_metrics_config_init(xent_metrics_config *config, size_t classes) {
  if (config == NULL)
    return;
  memset(config, 0, sizeof *config);
  config->classes = classes;
  config->bins = XENT_ECE_BINS;
  config->ignore_index = -100;
  static const size_t defaults[] = {1, 5};
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
    const size_t k = defaults[i] < classes ? defaults[i] : classes;
    if (k >= 1 && (config->top_k_count == 0 ||
                   config->top_k[config->top_k_count - 1] != k))
      config->top_k[config->top_k_count++] = k;
  }
}

int xent__metrics_layout_of(const xent_metrics_config *c,
                            xent__metrics_layout *l) {
  memset(l, 0, sizeof *l);
  const size_t B = c->bins, C = c->classes;
  size_t off = sizeof(struct xent_metrics);
  if (B > XENT_METRICS_MAX_BINS || C > XENT_METRICS_MAX_CLASSES)
    return 0;
  l->bin_count = off;
  off += B * sizeof(uint64_t);
  l->bin_correct = off;
  off += B * sizeof(uint64_t);
  l->bin_conf = off;
  off += B * sizeof(xent__acc);
  if (c->confusion) {
    if (C > SIZE_MAX / sizeof(uint64_t) / C ||
        C * C * sizeof(uint64_t) > SIZE_MAX - off)
      return 0;
    l->confusion = off;
    off += C * C * sizeof(uint64_t);
  } else if (c->per_class) {
    l->support = off;
    l->predicted = off + C * sizeof(uint64_t);
    l->tp = off + 2 * C * sizeof(uint64_t);
    off += 3 * C * sizeof(uint64_t);
  }
  l->size = off;
  return 1;
}

xent_status xent__metrics_config_valid(const xent_metrics_config *c,
                                       xent_error *err) {
  if (c->classes < 1 || c->classes > XENT_METRICS_MAX_CLASSES)
    return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_CLASSES, -1, -1);
  if (c->bins < 1 || c->bins > XENT_METRICS_MAX_BINS)
    return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_BINS, -1, -1);
  if (c->top_k_count > XENT_METRICS_MAX_TOP_K)
    return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_TOP_K, -1, -1);
  for (size_t j = 0; j < c->top_k_count; j++) {
    const size_t k = c->top_k[j];
    if (k < 1 || k > c->classes || (j > 0 && k <= c->top_k[j - 1]))
      return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_TOP_K, (int64_t)j, -1);
  }
  xent__metrics_layout l;
  if (!xent__metrics_layout_of(c, &l))
    return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_CONFUSION, -1, -1);
  return XENT_OK;
}

void xent__metrics_config_norm(const xent_metrics_config *in,
                               xent_metrics_config *out) {
  xent_metrics_config c;
  memset(&c, 0, sizeof c);
  c.classes = in->classes;
  c.bins = in->bins;
  c.top_k_count = in->top_k_count;
  for (size_t j = 0; j < in->top_k_count && j < XENT_METRICS_MAX_TOP_K; j++)
    c.top_k[j] = in->top_k[j];
  c.confusion = in->confusion != 0;
  c.per_class = in->per_class != 0;
  c.ignore_index = in->ignore_index;
  *out = c;
}

xent_status xent_metrics_config_check(const xent_metrics_config *config,
                                      xent_error *err) {
  if (config == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const xent_status st = xent__metrics_config_valid(config, err);
  if (st == XENT_OK && err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return st;
}

size_t xent_metrics_state_size(const xent_metrics_config *config) {
  xent__metrics_layout l;
  if (config == NULL || xent__metrics_config_valid(config, NULL) != XENT_OK ||
      !xent__metrics_layout_of(config, &l))
    return 0;
  return l.size;
}

/* ----------------------------------------------------------- the state -- */

static int aligned(const void *p, size_t alignment) {
  return (uintptr_t)p % alignment == 0;
}

xent_status xent__metrics_state_ok(const xent_metrics *state, xent_arg arg,
                                   xent_error *err) {
  xent__metrics_layout l;
  if (!aligned(state, sizeof(uint64_t)) ||
      state->magic != XENT__METRICS_MAGIC ||
      xent__metrics_config_valid(&state->config, NULL) != XENT_OK ||
      !xent__metrics_layout_of(&state->config, &l) || state->size != l.size ||
      state->counted > XENT__METRICS_MAX_COUNT)
    return xent__fail(err, XENT_ERR_STATE, arg, -1, -1);
  return XENT_OK;
}

static xent_status ok(xent_error *err) {
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}

xent_status xent_metrics_init(xent_metrics *state, size_t state_size,
                              const xent_metrics_config *config,
                              xent_error *err) {
  if (state == NULL || config == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const xent_status st = xent__metrics_config_valid(config, err);
  if (st != XENT_OK)
    return st;
  xent__metrics_layout l;
  xent__metrics_layout_of(config, &l);
  if (state_size < l.size || !aligned(state, sizeof(uint64_t)))
    return xent__fail(err, XENT_ERR_BUFFER, XENT_ARG_STATE, -1, -1);
  /* All-zero bytes are the empty state: zero counts, zero accumulators in
   * normal form. */
  memset(state, 0, l.size);
  state->magic = XENT__METRICS_MAGIC;
  state->size = l.size;
  xent__metrics_config_norm(config, &state->config);
  return ok(err);
}

xent_status xent_metrics_get_config(const xent_metrics *state,
                                    xent_metrics_config *config,
                                    xent_error *err) {
  if (state == NULL || config == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const xent_status st = xent__metrics_state_ok(state, XENT_ARG_STATE, err);
  if (st != XENT_OK)
    return st;
  *config = state->config;
  return ok(err);
}

/* ------------------------------------------------------------- per row -- */

/* What one counted row contributes; computed before the state is touched.
 * conf = 1 / s and doubt = (s - 1) / s (see row_values). */
typedef struct row_rec {
  double conf, doubt, nll, brier, entropy;
  size_t label, pred, rank, bin;
} row_rec;

size_t xent_metrics_workspace_size(const xent_metrics_config *config,
                                   size_t n) {
  if (config == NULL || xent__metrics_config_valid(config, NULL) != XENT_OK)
    return 0;
  const size_t rows = 2 * config->classes * sizeof(double);
  if (n > (SIZE_MAX - rows) / sizeof(row_rec))
    return 0;
  return rows + n * sizeof(row_rec);
}

/* The bin of a confidence: evaluate.c's ece_bin with B bins,
 * (k/B, (k+1)/B] with edges the doubles k/B, the first bin closed at 0. */
static size_t conf_bin(double conf, size_t B) {
  const double b = (double)B;
  const double guess = ceil(conf * b) - 1.0;
  size_t k = guess < 0.0 ? 0 : (guess >= b - 1.0 ? B - 1 : (size_t)guess);
  while (k > 0 && conf <= (double)k / b)
    k--;
  while (k < B - 1 && conf > (double)(k + 1) / b)
    k++;
  return k;
}

/* evaluate.c's argmax_p (test_metrics holds the two together): the first
 * class whose p = exp(x - m) / s equals the largest, 1 / s; a logit below
 * the max by more than 1e-12 cannot round to it. The same pass finds
 * *at_max, the first class at the max itself (where argmax_p stops at the
 * latest: its p is 1 / s). */
static size_t argmax_p(const double *x, double m, double s, size_t *at_max) {
  const double top = 1.0 / s;
  size_t pred = SIZE_MAX, c = 0;
  for (;; c++) {
    const double d = x[c] - m;
    if (d == 0.0)
      break;
    if (pred == SIZE_MAX && d > -1e-12 && exp(d) / s == top)
      pred = c;
  }
  *at_max = c;
  return pred == SIZE_MAX ? c : pred;
}

/*
 * The label's rank in the order argmax_p uses: the classes whose
 * P_c = exp(x_c - m) / s (libm exp, as argmax_p) is larger than P_y, or
 * equal with a lower index; when P_y < 2^-1000, equal with a larger logit
 * too (below). P is computed only where it can decide: with
 * d = x - m, when P_y >= 2^-1000 (normal with room) and d_c is more than
 * about 1e-12 above (below) d_y, exp(d_c) / exp(d_y) exceeds 1 + 9e-13 (is
 * below 1 - 9e-13) even after d_y + 1e-12 is rounded, which one rounding of
 * exp (under 1 ulp) and one of the division cannot undo: P_c > P_y
 * (P_c < P_y, or P_c is subnormal and so below P_y). Only classes in the
 * window, or every class when P_y is tiny, need their P.
 * Only ranks below `limit` (the largest k) matter: the count may stop at
 * `limit` (checked every 64 classes, to keep the loop branch-free).
 */
static size_t label_rank(const double *x, size_t C, double m, double s,
                         size_t y, size_t limit) {
  const double dy = x[y] - m;
  const double py = exp(dy) / s;
  size_t ahead = 0;
  if (!(py >= 0x1p-1000)) {
    /* Down here exp has lost the logits' order: every P of a logit more
     * than about 745 below the max is 0. Equal P are ordered by their
     * logits, the order of the exact P, then by index; y is far from the
     * prediction (P >= 1/C), so the top-1 stays the accuracy. */
    for (size_t c = 0; c < C && ahead < limit; c++) {
      if (c == y)
        continue;
      const double pc = exp(x[c] - m) / s;
      ahead +=
          pc > py || (pc == py && (x[c] > x[y] || (x[c] == x[y] && c < y)));
    }
    return ahead;
  }
  const double hi = dy + 1e-12, lo = dy - 1e-12;
  size_t near = 0;
  for (size_t c0 = 0; c0 < C && ahead < limit; c0 += 64) {
    const size_t end = C - c0 < 64 ? C : c0 + 64;
    for (size_t c = c0; c < end; c++) {
      const double d = x[c] - m;
      ahead += (size_t)(d > hi);
      near += (size_t)((d >= lo) & (d <= hi));
    }
  }
  if (ahead >= limit)
    return ahead;
  if (near > 1) /* y itself is in the window */
    for (size_t c = 0; c < C; c++) {
      const double d = x[c] - m;
      if (c == y || d < lo || d > hi)
        continue;
      const double pc = exp(d) / s;
      ahead += pc > py || (pc == py && c < y);
    }
  return ahead;
}

/* Sums of e_c and e_c^2 over c in [from, to) into four partial sums by
 * class index (c mod 4), so that a row's values depend on the row alone. */
static void sum_range(const double *e, size_t from, size_t to, double *r,
                      double *q) {
  size_t c = from;
  for (; c < to && c % 4 != 0; c++) {
    r[c % 4] += e[c];
    q[c % 4] += e[c] * e[c];
  }
  double r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
  double q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
  for (; c + 4 <= to; c += 4) {
    r0 += e[c];
    r1 += e[c + 1];
    r2 += e[c + 2];
    r3 += e[c + 3];
    q0 += e[c] * e[c];
    q1 += e[c + 1] * e[c + 1];
    q2 += e[c + 2] * e[c + 2];
    q3 += e[c + 3] * e[c + 3];
  }
  r[0] = r0;
  r[1] = r1;
  r[2] = r2;
  r[3] = r3;
  q[0] = q0;
  q[1] = q1;
  q[2] = q2;
  q[3] = q3;
  for (; c < to; c++) {
    r[c % 4] += e[c];
    q[c % 4] += e[c] * e[c];
  }
}

/*
 * Validates row n (the checks xent__validate makes on logits, and the nll's
 * overflow) and computes its values.
 *
 * With e_c = exp(x_c - m) and s = sum_c e_c as xent_evaluate, the class a
 * at the max has e_a = 1 exactly, so rest = s - 1 is summed without it:
 * log s = log1p(rest) and 1 - confidence = rest / s keep their relative
 * precision when a row is nearly certain (s - 1 below 1e-6, as for most
 * rows of a trained classifier), where log(s) and 1 - 1/s would keep only
 * about 1e-16 / (s - 1) of it. So
 *   nll     = log1p(rest) - (x_y - m)   (= -((x_y - m) - log s), the
 *             log_softmax of xent_evaluate, with log s computed this way)
 *   entropy = log1p(rest) - sum_c e_c (x_c - m) / s
 *   doubt   = rest / s                  (1 - max p)
 *   brier   = (1 - p_y)^2 + sum_{c != y} p_c^2
 *           = ((sum_{c != y} e_c)^2 + sum_{c != y} e_c^2) / s^2
 * The prediction, the rank and the bin use p = exp(x - m) / s and the
 * confidence 1 / s exactly as xent_evaluate's statistics. The confidence a
 * row adds to the sums is 1 / s up to 1/2 and the exact real 1 - doubt
 * above (add_confidence): each keeps the relative precision of both the
 * confidence and 1 - confidence, which the calibration gaps are made of.
 */
static xent_status row_values(const xent__kernels *k, const double *x, size_t C,
                              size_t B, size_t top_k, size_t n, size_t y,
                              double *e, row_rec *r, xent_error *err) {
  xent__scan sc;
  k->scan(x, C, &sc);
  if (sc.bad) {
    size_t c = 0;
    while (c < C && x[c] < INFINITY)
      c++;
    return xent__fail(err, XENT_ERR_LOGIT, XENT_ARG_LOGITS, (int64_t)n,
                      (int64_t)c);
  }
  if (sc.masked == C)
    return xent__fail(err, XENT_ERR_ROW_MASKED, XENT_ARG_LOGITS, (int64_t)n,
                      -1);
  if (x[y] == -INFINITY)
    return xent__fail(err, XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, (int64_t)n,
                      (int64_t)y);
  const double m = sc.max;
  const double dy = x[y] - m;
  if (dy == -INFINITY)
    return xent__fail(err, XENT_ERR_OVERFLOW, XENT_ARG_LOGITS, (int64_t)n,
                      (int64_t)y);
  xent__sums sums;
  k->expsum(x, C, m, NULL, e, &sums);
  const double s = sums.s;
  size_t a;
  const size_t pred = argmax_p(x, m, s, &a);
  /* rest and the brier sums from one pass that skips a and y */
  const size_t lo = a < y ? a : y, hi = a < y ? y : a;
  double rs[4] = {0.0, 0.0, 0.0, 0.0}, qs[4] = {0.0, 0.0, 0.0, 0.0};
  sum_range(e, 0, lo, rs, qs);
  sum_range(e, lo + 1, hi, rs, qs);
  sum_range(e, hi + 1, C, rs, qs);
  const double others = (rs[0] + rs[1]) + (rs[2] + rs[3]); /* not a, y */
  const double others_sq = (qs[0] + qs[1]) + (qs[2] + qs[3]);
  const double rest = a == y ? others : others + e[y];
  const double not_y = a == y ? others : others + e[a];
  const double not_y_sq = a == y ? others_sq : others_sq + e[a] * e[a];
  const double logs = log1p(rest);
  const double entropy = logs - sums.b / s;
  r->conf = 1.0 / s;
  r->doubt = rest / s;
  r->nll = logs - dy;
  r->brier = (not_y * not_y + not_y_sq) / (s * s);
  r->entropy = entropy > 0.0 ? entropy : 0.0;
  r->label = y;
  r->pred = pred;
  /* rank 0 exactly when the prediction is right; else only ranks below the
   * largest k matter */
  r->rank = pred == y ? 0 : top_k == 0 ? 1 : label_rank(x, C, m, s, y, top_k);
  r->bin = conf_bin(r->conf, B);
  return XENT_OK;
}

/* ---------------------------------------------------------- the update -- */

/* Adds a row's confidence: 1 / s, or above 1/2 the exact 1 - doubt (two
 * adds). */
static void add_confidence(xent__acc *a, const row_rec *r) {
  if (r->conf > 0.5) {
    xent__acc_add_int(a, 1, 0);
    xent__acc_add(a, -r->doubt);
  } else {
    xent__acc_add(a, r->conf);
  }
}

static void normalize_all(xent_metrics *st, const xent__metrics_layout *l) {
  xent__acc_normalize(&st->confidence);
  xent__acc_normalize(&st->nll);
  xent__acc_normalize(&st->brier);
  xent__acc_normalize(&st->entropy);
  xent__acc *bin_conf = xent__acc_at(st, l->bin_conf);
  for (size_t b = 0; b < st->config.bins; b++)
    xent__acc_normalize(&bin_conf[b]);
}

static void commit(xent_metrics *st, const row_rec *rec, size_t count) {
  const xent_metrics_config *cfg = &st->config;
  const size_t C = cfg->classes;
  xent__metrics_layout l;
  xent__metrics_layout_of(cfg, &l);
  uint64_t *bin_count = xent__u64_at(st, l.bin_count);
  uint64_t *bin_correct = xent__u64_at(st, l.bin_correct);
  xent__acc *bin_conf = xent__acc_at(st, l.bin_conf);
  uint64_t *confusion = l.confusion ? xent__u64_at(st, l.confusion) : NULL;
  uint64_t *support = l.support ? xent__u64_at(st, l.support) : NULL;
  uint64_t *predicted = l.predicted ? xent__u64_at(st, l.predicted) : NULL;
  uint64_t *tp = l.tp ? xent__u64_at(st, l.tp) : NULL;
  size_t pending = 0;
  for (size_t i = 0; i < count; i++) {
    const row_rec *r = &rec[i];
    const unsigned right = r->pred == r->label;
    st->counted++;
    st->correct += right;
    for (size_t j = 0; j < cfg->top_k_count; j++)
      st->top_correct[j] += r->rank < cfg->top_k[j];
    add_confidence(&st->confidence, r);
    xent__acc_add(&st->nll, r->nll);
    xent__acc_add(&st->brier, r->brier);
    xent__acc_add(&st->entropy, r->entropy);
    bin_count[r->bin]++;
    bin_correct[r->bin] += right;
    add_confidence(&bin_conf[r->bin], r);
    if (confusion != NULL) {
      confusion[r->label * C + r->pred]++;
    } else if (support != NULL) {
      support[r->label]++;
      predicted[r->pred]++;
      tp[r->label] += right;
    }
    /* at most two adds per row to each accumulator */
    if (++pending == XENT__ACC_MAX_PENDING / 2) {
      normalize_all(st, &l);
      pending = 0;
    }
  }
  normalize_all(st, &l);
}

xent_status xent_metrics_update(xent_metrics *state,
                                const xent_metrics_batch *batch,
                                void *workspace, size_t workspace_size,
                                xent_error *err) {
  if (state == NULL || batch == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  xent_status st = xent__metrics_state_ok(state, XENT_ARG_STATE, err);
  if (st != XENT_OK)
    return st;
  if (batch->logits == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_LOGITS, -1, -1);
  if (batch->targets == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_TARGETS, -1, -1);
  const xent_metrics_config *cfg = &state->config;
  const size_t N = batch->n, C = cfg->classes;

  /* Shape, dtype, kernel and labels, as for a loss (logits NULL: they are
   * read below, row by row, through xent__row like every other reader). */
  xent_problem p;
  xent_problem_init(&p);
  p.n = N;
  p.classes = C;
  p.dtype = batch->dtype;
  p.targets = batch->targets;
  p.ignore_index = cfg->ignore_index;
  p.kernel = batch->kernel;
  xent__plan plan;
  st = xent__validate(&p, 0, &plan, err);
  if (st != XENT_OK)
    return st;
  const size_t need = xent_metrics_workspace_size(cfg, N);
  if (need == 0 || workspace == NULL || workspace_size < need ||
      !aligned(workspace, sizeof(double)))
    return xent__fail(err, XENT_ERR_WORKSPACE, XENT_ARG_WORKSPACE, -1, -1);
  size_t count = 0;
  for (size_t n = 0; n < N; n++)
    count += batch->targets[n] != cfg->ignore_index;
  if (count > XENT__METRICS_MAX_COUNT - state->counted)
    return xent__fail(err, XENT_ERR_COUNT_LIMIT, XENT_ARG_TARGETS, -1, -1);

  p.logits = batch->logits;
  double *row = workspace;
  double *e = row + C;
  row_rec *rec = (row_rec *)(void *)(e + C);
  const size_t top_k = cfg->top_k_count ? cfg->top_k[cfg->top_k_count - 1] : 0;
  size_t i = 0;
  for (size_t n = 0; n < N; n++) {
    if (batch->targets[n] == cfg->ignore_index)
      continue;
    const double *x = xent__row(&p, plan.k, n, row);
    st = row_values(plan.k, x, C, cfg->bins, top_k, n,
                    (size_t)batch->targets[n], e, &rec[i++], err);
    if (st != XENT_OK)
      return st;
  }
  commit(state, rec, count);
  return ok(err);
}

/* ----------------------------------------------------------- the merge -- */

static xent_status config_diff(const xent_metrics_config *a,
                               const xent_metrics_config *b, xent_error *err) {
  const xent_status st = XENT_ERR_CONFIG_MISMATCH;
  if (a->classes != b->classes)
    return xent__fail(err, st, XENT_ARG_CLASSES, -1, -1);
  if (a->bins != b->bins)
    return xent__fail(err, st, XENT_ARG_BINS, -1, -1);
  for (size_t j = 0; j < a->top_k_count && j < b->top_k_count; j++)
    if (a->top_k[j] != b->top_k[j])
      return xent__fail(err, st, XENT_ARG_TOP_K, (int64_t)j, -1);
  if (a->top_k_count != b->top_k_count)
    return xent__fail(err, st, XENT_ARG_TOP_K, -1, -1);
  if (a->confusion != b->confusion)
    return xent__fail(err, st, XENT_ARG_CONFUSION, -1, -1);
  if (a->per_class != b->per_class)
    return xent__fail(err, st, XENT_ARG_PER_CLASS, -1, -1);
  if (a->ignore_index != b->ignore_index)
    return xent__fail(err, st, XENT_ARG_IGNORE_INDEX, -1, -1);
  return XENT_OK;
}

static void add_counts(uint64_t *dst, const uint64_t *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] += src[i];
}

xent_status xent__metrics_merge_check(const xent_metrics *dst,
                                      const xent_metrics *src,
                                      xent_error *err) {
  const xent_status st = config_diff(&dst->config, &src->config, err);
  if (st != XENT_OK)
    return st;
  /* Every count is at most `counted`, so this bounds them all. */
  if (src->counted > XENT__METRICS_MAX_COUNT - dst->counted)
    return xent__fail(err, XENT_ERR_COUNT_LIMIT, XENT_ARG_SOURCE, -1, -1);
  return XENT_OK;
}

void xent__metrics_add_head(xent_metrics *dst, const xent_metrics *src) {
  dst->counted += src->counted;
  dst->correct += src->correct;
  add_counts(dst->top_correct, src->top_correct, XENT_METRICS_MAX_TOP_K);
  xent__acc_merge(&dst->confidence, &src->confidence);
  xent__acc_merge(&dst->nll, &src->nll);
  xent__acc_merge(&dst->brier, &src->brier);
  xent__acc_merge(&dst->entropy, &src->entropy);
}

xent_status xent_metrics_merge(xent_metrics *dst, const xent_metrics *src,
                               xent_error *err) {
  if (dst == NULL || src == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  xent_status st = xent__metrics_state_ok(dst, XENT_ARG_STATE, err);
  if (st == XENT_OK)
    st = xent__metrics_state_ok(src, XENT_ARG_SOURCE, err);
  if (st == XENT_OK)
    st = xent__metrics_merge_check(dst, src, err);
  if (st != XENT_OK)
    return st;
  const size_t B = dst->config.bins, C = dst->config.classes;
  xent__metrics_layout l;
  xent__metrics_layout_of(&dst->config, &l);
  xent__metrics_add_head(dst, src);
  add_counts(xent__u64_at(dst, l.bin_count), xent__cu64_at(src, l.bin_count),
             B);
  add_counts(xent__u64_at(dst, l.bin_correct),
             xent__cu64_at(src, l.bin_correct), B);
  for (size_t b = 0; b < B; b++)
    xent__acc_merge(xent__acc_at(dst, l.bin_conf) + b,
                    xent__cacc_at(src, l.bin_conf) + b);
  if (l.confusion)
    add_counts(xent__u64_at(dst, l.confusion), xent__cu64_at(src, l.confusion),
               C * C);
  if (l.support)
    add_counts(xent__u64_at(dst, l.support), xent__cu64_at(src, l.support),
               3 * C); /* support, predicted and tp are contiguous */
  return ok(err);
}

/* --------------------------------------------------------- the figures -- */

#define EXACT_INT ((uint64_t)1 << 53)

/* a / b rounded once (0 when b is 0): the division of two doubles when both
 * are exact, else the accumulator's. */
static double ratio(uint64_t a, uint64_t b) {
  if (b == 0)
    return 0.0;
  if (a <= EXACT_INT && b <= EXACT_INT)
    return (double)a / (double)b;
  xent__acc t;
  xent__acc_zero(&t);
  xent__acc_add_int(&t, a, 0);
  xent__acc_normalize(&t);
  return xent__acc_div(&t, b);
}

static void class_figures(uint64_t support, uint64_t predicted, uint64_t tp,
                          xent_metrics_class *o) {
  o->support = support;
  o->predicted = predicted;
  o->correct = tp;
  o->precision = ratio(tp, predicted);
  o->recall = ratio(tp, support);
  /* 2 tp and support + predicted are below 2^64: counts are below 2^63. */
  o->f1 = ratio(2 * tp, support + predicted);
  o->in_macro = support > 0 || predicted > 0;
}

enum { CLASS_BLOCK = 64 };

/* Support, predicted and tp of classes c0 .. c0 + nc - 1. From the confusion
 * matrix, column sums a block of columns at a time: each row of the matrix
 * is read in contiguous pieces, with no scratch memory. */
static void class_counts(const xent_metrics *st, const xent__metrics_layout *l,
                         size_t c0, size_t nc, uint64_t *support,
                         uint64_t *predicted, uint64_t *tp) {
  const size_t C = st->config.classes;
  if (l->confusion == 0) {
    memcpy(support, xent__cu64_at(st, l->support) + c0, nc * sizeof *support);
    memcpy(predicted, xent__cu64_at(st, l->predicted) + c0,
           nc * sizeof *predicted);
    memcpy(tp, xent__cu64_at(st, l->tp) + c0, nc * sizeof *tp);
    return;
  }
  const uint64_t *cm = xent__cu64_at(st, l->confusion);
  for (size_t k = 0; k < nc; k++) {
    const uint64_t *row = cm + (c0 + k) * C;
    uint64_t sum = 0;
    for (size_t j = 0; j < C; j++)
      sum += row[j];
    support[k] = sum;
    predicted[k] = 0;
    tp[k] = row[c0 + k];
  }
  for (size_t i = 0; i < C; i++) {
    const uint64_t *row = cm + i * C + c0;
    for (size_t k = 0; k < nc; k++)
      predicted[k] += row[k];
  }
}

/* Per-class figures, and their macro and weighted averages when counted. */
static void per_class(const xent_metrics *st, const xent__metrics_layout *l,
                      xent_metrics_result *res) {
  const size_t C = st->config.classes;
  xent__acc macro[3], weighted[3];
  for (int f = 0; f < 3; f++) {
    xent__acc_zero(&macro[f]);
    xent__acc_zero(&weighted[f]);
  }
  size_t in_macro = 0;
  for (size_t c0 = 0; c0 < C; c0 += CLASS_BLOCK) {
    const size_t nc = C - c0 < CLASS_BLOCK ? C - c0 : CLASS_BLOCK;
    uint64_t support[CLASS_BLOCK], predicted[CLASS_BLOCK], tp[CLASS_BLOCK];
    class_counts(st, l, c0, nc, support, predicted, tp);
    for (size_t k = 0; k < nc; k++) {
      xent_metrics_class o;
      class_figures(support[k], predicted[k], tp[k], &o);
      if (res->per_class != NULL)
        res->per_class[c0 + k] = o;
      const double fig[3] = {o.precision, o.recall, o.f1};
      for (int f = 0; f < 3 && o.in_macro; f++) {
        xent__acc_add(&macro[f], fig[f]);
        xent__acc_add_scaled(&weighted[f], fig[f], o.support);
      }
      in_macro += (size_t)o.in_macro;
    }
  }
  if (st->counted == 0)
    return;
  double m[3], w[3];
  for (int f = 0; f < 3; f++) {
    xent__acc_normalize(&macro[f]);
    xent__acc_normalize(&weighted[f]);
    m[f] = xent__acc_div(&macro[f], in_macro);
    w[f] = xent__acc_div(&weighted[f], st->counted);
  }
  res->per_class_defined = 1;
  res->macro_classes = in_macro;
  res->macro.precision = m[0];
  res->macro.recall = m[1];
  res->macro.f1 = m[2];
  res->weighted.precision = w[0];
  res->weighted.recall = w[1];
  res->weighted.f1 = w[2];
}

/* Calibration: the reliability bins, ece, ece_l2 and mce. A bin's gap
 * correct_b - S_b, S_b the sum of its confidences, is formed exactly; ece
 * sums the gaps' absolute values exactly. ece_l2 squares each gap once
 * rounded (a square is not kept exactly). */
static void calibration(const xent_metrics *st, const xent__metrics_layout *l,
                        xent_metrics_result *res) {
  const uint64_t *count = xent__cu64_at(st, l->bin_count);
  const uint64_t *correct = xent__cu64_at(st, l->bin_correct);
  const xent__acc *conf = xent__cacc_at(st, l->bin_conf);
  xent__acc ece, l2;
  xent__acc_zero(&ece);
  xent__acc_zero(&l2);
  double mce = 0.0;
  for (size_t b = 0; b < st->config.bins; b++) {
    if (res->reliability != NULL) {
      xent_metrics_bin *o = &res->reliability[b];
      o->count = count[b];
      o->correct = correct[b];
      o->mean_confidence = count[b] ? xent__acc_div(&conf[b], count[b]) : 0.0;
      o->accuracy = ratio(correct[b], count[b]);
      o->empty = count[b] == 0;
    }
    if (count[b] == 0)
      continue;
    xent__acc gap = conf[b];
    xent__acc_negate(&gap);
    xent__acc_add_int(&gap, correct[b], 0);
    xent__acc_normalize(&gap);
    const double g = xent__acc_div(&gap, 1);
    xent__acc_add(&l2, g * g / (double)count[b]);
    if (xent__acc_sign(&gap) < 0)
      xent__acc_negate(&gap);
    xent__acc_merge(&ece, &gap);
    const double bin_gap = xent__acc_div(&gap, count[b]);
    mce = bin_gap > mce ? bin_gap : mce;
  }
  if (st->counted == 0)
    return;
  xent__acc_normalize(&l2);
  res->ece = xent__acc_div(&ece, st->counted);
  res->ece_l2 = sqrt(xent__acc_div(&l2, st->counted));
  res->mce = mce;
}

xent_status xent_metrics_compute(const xent_metrics *state,
                                 xent_metrics_result *result, xent_error *err) {
  if (state == NULL || result == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const xent_status st = xent__metrics_state_ok(state, XENT_ARG_STATE, err);
  if (st != XENT_OK)
    return st;
  const xent_metrics_config *cfg = &state->config;
  xent__metrics_layout l;
  xent__metrics_layout_of(cfg, &l);
  const int has_classes = l.confusion != 0 || l.support != 0;
  if (result->per_class != NULL && !has_classes)
    return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_PER_CLASS, -1, -1);
  if (result->confusion != NULL && l.confusion == 0)
    return xent__fail(err, XENT_ERR_CONFIG, XENT_ARG_CONFUSION, -1, -1);

  xent_metrics_result r;
  memset(&r, 0, sizeof r);
  r.reliability = result->reliability;
  r.per_class = result->per_class;
  r.confusion = result->confusion;
  const uint64_t N = state->counted;
  r.counted = N;
  r.defined = N > 0;
  r.top_k_count = cfg->top_k_count;
  for (size_t j = 0; j < cfg->top_k_count; j++) {
    r.top_k[j] = cfg->top_k[j];
    r.top_k_accuracy[j] = ratio(state->top_correct[j], N);
  }
  if (N > 0) {
    r.accuracy = ratio(state->correct, N);
    r.mean_confidence = xent__acc_div(&state->confidence, N);
    r.nll = xent__acc_div(&state->nll, N);
    r.brier = xent__acc_div(&state->brier, N);
    r.mean_entropy = xent__acc_div(&state->entropy, N);
  }
  calibration(state, &l, &r);
  if (has_classes)
    per_class(state, &l, &r);
  if (r.confusion != NULL)
    memcpy(r.confusion, xent__cu64_at(state, l.confusion),
           cfg->classes * cfg->classes * sizeof(uint64_t));
  *result = r;
  return ok(err);
}
