/* xent_evaluate: validation first, then one pass over the rows that
 * computes each output asked for. Per row the logits are read three times
 * (max, exp-sum, gradient), exp is computed once per logit. */
#include <math.h>
#include <string.h>

#include "internal.h"

void xent_problem_init(xent_problem *problem) {
  if (problem == NULL)
    return;
  memset(problem, 0, sizeof *problem);
  problem->dtype = XENT_F64;
  problem->ignore_index = -100;
  problem->smoothing = XENT_SMOOTH_UNIFORM;
  problem->pairing = XENT_PAIR_FLIP;
  problem->reduction = XENT_REDUCE_MEAN;
  problem->kernel = XENT_KERNEL_AUTO;
}

size_t xent_workspace_size(const xent_problem *problem) {
  if (problem == NULL || problem->dtype == XENT_F64)
    return 0;
  return problem->classes * sizeof(double);
}

/* Running sums of the statistics. */
typedef struct stat_acc {
  size_t counted, correct;
  double confidence, entropy;
  size_t bin_count[XENT_ECE_BINS];
  double bin_conf[XENT_ECE_BINS], bin_correct[XENT_ECE_BINS];
} stat_acc;

/* The bin of a confidence: (k/15, (k+1)/15], the first closed at 0. */
static int ece_bin(double conf) {
  int k = (int)ceil(conf * XENT_ECE_BINS) - 1;
  k = k < 0 ? 0 : (k >= XENT_ECE_BINS ? XENT_ECE_BINS - 1 : k);
  while (k > 0 && conf <= (double)k / XENT_ECE_BINS)
    k--;
  while (k < XENT_ECE_BINS - 1 && conf > (double)(k + 1) / XENT_ECE_BINS)
    k++;
  return k;
}

static size_t first_max(const double *v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

static void stat_row(stat_acc *acc, const xent_stats *st, size_t n,
                     size_t predicted, size_t label, double conf,
                     double entropy) {
  const int correct = predicted == label;
  acc->counted++;
  acc->correct += (size_t)correct;
  acc->confidence += conf;
  acc->entropy += entropy;
  const int b = ece_bin(conf);
  acc->bin_count[b]++;
  acc->bin_conf[b] += conf;
  acc->bin_correct[b] += correct;
  if (st->predicted != NULL)
    st->predicted[n] = (int64_t)predicted;
  if (st->confidence != NULL)
    st->confidence[n] = conf;
  if (st->entropy != NULL)
    st->entropy[n] = entropy;
}

static void stat_finish(const stat_acc *acc, xent_stats *st) {
  st->counted = acc->counted;
  if (acc->counted == 0) {
    st->accuracy = st->mean_confidence = st->mean_entropy = st->ece = 0;
    return;
  }
  const double cnt = (double)acc->counted;
  st->accuracy = (double)acc->correct / cnt;
  st->mean_confidence = acc->confidence / cnt;
  st->mean_entropy = acc->entropy / cnt;
  double ece = 0;
  for (int b = 0; b < XENT_ECE_BINS; b++)
    ece += fabs(acc->bin_correct[b] - acc->bin_conf[b]);
  st->ece = ece / cnt;
}

/* Softmax of an ignored row when its logits are valid, zeros otherwise:
 * an ignored row is not validated. */
static void ignored_probs(const xent__kernels *k, const double *x, size_t C,
                          double *probs) {
  xent__scan sc;
  k->scan(x, C, &sc);
  if (sc.bad || sc.masked == C) {
    memset(probs, 0, C * sizeof *probs);
    return;
  }
  xent__sums sums;
  k->expsum(x, C, sc.max, NULL, probs, &sums);
  k->axpw(probs, probs, C, 1.0 / sums.s, 0.0, NULL);
}

/* Everything a row's outputs need, found by the row's two sums. */
typedef struct row_ctx {
  const double *x;
  double m, logs, s;
  size_t masked;
} row_ctx;

/* torch.argmax of the softmax: the first class whose p = exp(x - m) / s
 * equals the largest, 1/s. Logits below the max by more than 1e-12 cannot
 * round to it, so exp is taken only near the max. */
static size_t argmax_p(const row_ctx *r, size_t C) {
  const double top = 1.0 / r->s;
  for (size_t c = 0; c < C; c++) {
    const double d = r->x[c] - r->m;
    if (d == 0.0 || (d > -1e-12 && exp(d) / r->s == top))
      return c;
  }
  return 0;
}

static void zero_masked(const double *x, size_t C, double *v) {
  for (size_t c = 0; c < C; c++)
    if (x[c] == -INFINITY)
      v[c] = 0.0;
}

/* l_n summed over every class, for rows where the closed form would
 * subtract large terms: with 'others' and eps > (K-1)/K the one-hot part
 * `peak` is negative. */
static double hard_loss_by_class(const xent_problem *p, const row_ctx *r,
                                 const xent__target *tg, double *wq) {
  double acc = 0, w_sum = 0;
  for (size_t c = 0; c < p->classes; c++) {
    if (r->x[c] == -INFINITY)
      continue;
    const double wqc = xent__weight(p, c) * xent__q(tg, c);
    acc += wqc * (r->x[c] - r->m - r->logs);
    w_sum += wqc;
  }
  *wq = w_sum;
  return -acc;
}

/* l_n for hard labels in closed form (semantics 2); *wq gets sum_c w_c q_c.
 * a = sum over unmasked c of w_c (x_c - m). Every term has the sign of its
 * sum while peak >= 0. */
static double hard_loss(const xent_problem *p, const row_ctx *r,
                        const xent__target *tg, double a, double *wq) {
  if (tg->peak < 0.0)
    return hard_loss_by_class(p, r, tg, wq);
  double acc = tg->off > 0.0 ? tg->off * (a - r->logs * tg->sw) : 0.0;
  if (tg->own != 0.0)
    acc += tg->own * xent__weight(p, tg->t) * (r->x[tg->t] - r->m - r->logs);
  if (tg->other != 0.0)
    acc +=
        tg->other * xent__weight(p, tg->t2) * (r->x[tg->t2] - r->m - r->logs);
  *wq = tg->wq;
  return -acc;
}

static double soft_loss(const xent_problem *p, const row_ctx *r,
                        const xent__target *tg, double *wq) {
  double acc = 0, w_sum = 0;
  for (size_t c = 0; c < p->classes; c++) {
    if (r->x[c] == -INFINITY)
      continue;
    const double wqc = xent__weight(p, c) * xent__q(tg, c);
    acc += wqc * (r->x[c] - r->m - r->logs);
    w_sum += wqc;
  }
  *wq = w_sum;
  return -acc;
}

/* grad row = e * wq / (s D) - w q / D, with e = exp(x - m) already in g
 * (or the probabilities already in probs). */
static void grad_row(const xent_problem *p, const xent__plan *plan,
                     const row_ctx *r, const xent__target *tg, double wq,
                     double d, const double *pr, double *g) {
  const size_t C = p->classes;
  const double *w = p->class_weights;
  if (pr != NULL)
    plan->k->axpw(g, pr, C, wq / d, tg->off / d, w);
  else
    plan->k->axpw(g, g, C, wq / d / r->s, tg->off / d, w);
  if (tg->y == NULL) {
    if (tg->own != 0.0)
      g[tg->t] -= tg->own * xent__weight(p, tg->t) / d;
    if (tg->other != 0.0)
      g[tg->t2] -= tg->other * xent__weight(p, tg->t2) / d;
  } else {
    for (size_t c = 0; c < C; c++)
      g[c] -= xent__weight(p, c) * tg->keep * tg->y[c] / d;
  }
  if (r->masked > 0)
    zero_masked(r->x, C, g);
}

static void ignored_row(const xent_problem *p, const xent__plan *plan,
                        const xent_outputs *out, size_t n, double *buf) {
  const size_t C = p->classes;
  if (out->per_sample != NULL)
    out->per_sample[n] = 0.0;
  if (out->grad != NULL)
    memset(out->grad + n * C, 0, C * sizeof(double));
  if (out->targets != NULL)
    memset(out->targets + n * C, 0, C * sizeof(double));
  if (out->probs != NULL)
    ignored_probs(plan->k, xent__row(p, plan->k, n, buf), C,
                  out->probs + n * C);
  xent_stats *st = out->stats;
  if (st != NULL) {
    if (st->predicted != NULL)
      st->predicted[n] = -1;
    if (st->confidence != NULL)
      st->confidence[n] = 0.0;
    if (st->entropy != NULL)
      st->entropy[n] = 0.0;
  }
}

xent_status xent_evaluate(const xent_problem *p, const xent_outputs *out,
                          void *workspace, size_t workspace_size,
                          xent_error *err) {
  if (p == NULL || out == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const size_t need = xent_workspace_size(p);
  if (need > 0 && (workspace == NULL || workspace_size < need))
    return xent__fail(err, XENT_ERR_WORKSPACE, XENT_ARG_WORKSPACE, -1, -1);
  xent__plan plan;
  const xent_status st =
      xent__validate(p, XENT__CHECK_LOGITS | XENT__CHECK_REDUCE, &plan, err);
  if (st != XENT_OK)
    return st;

  const size_t N = p->n, C = p->classes;
  const xent__kernels *k = plan.k;
  const double d = plan.denom;
  double *buf = workspace;
  stat_acc acc;
  memset(&acc, 0, sizeof acc);
  double total = 0;
  for (size_t n = 0; n < N; n++) {
    if (plan.hard && p->targets[n] == p->ignore_index) {
      ignored_row(p, &plan, out, n, buf);
      continue;
    }
    row_ctx r;
    r.x = xent__row(p, k, n, buf);
    xent__scan sc;
    k->scan(r.x, C, &sc);
    r.m = sc.max;
    r.masked = sc.masked;
    double *pr = out->probs != NULL ? out->probs + n * C : NULL;
    double *g = out->grad != NULL ? out->grad + n * C : NULL;
    xent__sums sums;
    k->expsum(r.x, C, r.m, p->class_weights, pr != NULL ? pr : g, &sums);
    r.s = sums.s;
    r.logs = log(sums.s);
    xent__target tg;
    xent__target_row(p, &plan, n, r.x, r.masked, &tg, NULL);

    double wq;
    const double loss = plan.hard ? hard_loss(p, &r, &tg, sums.a, &wq)
                                  : soft_loss(p, &r, &tg, &wq);
    total += loss;
    if (out->per_sample != NULL)
      out->per_sample[n] = loss;
    if (pr != NULL)
      k->axpw(pr, pr, C, 1.0 / r.s, 0.0, NULL);
    if (g != NULL)
      grad_row(p, &plan, &r, &tg, wq, d, pr, g);
    if (out->targets != NULL)
      xent__fill_q(p, &tg, r.x, n, out->targets + n * C);
    if (out->stats != NULL) {
      const size_t pred = argmax_p(&r, C);
      const size_t label = plan.hard ? (size_t)p->targets[n]
                                     : first_max(p->soft_targets + n * C, C);
      const double entropy = r.logs - sums.b / r.s;
      stat_row(&acc, out->stats, n, pred, label, 1.0 / r.s,
               entropy > 0.0 ? entropy : 0.0);
    }
  }
  if (out->stats != NULL)
    stat_finish(&acc, out->stats);
  if (out->loss != NULL)
    *out->loss = p->reduction == XENT_REDUCE_MEAN ? total / d : total;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
