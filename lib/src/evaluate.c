/* xent_evaluate: validation first, then one pass over the rows that
 * computes each output asked for (family.c has each family's row). Rows
 * are read in place when they are contiguous doubles, else converted (and,
 * channels-first, transposed a block of positions at a time) into the
 * workspace; outputs of transposed blocks are written back the same way. */
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
  problem->family = XENT_LOSS_CROSS_ENTROPY;
  problem->target_threshold = -1.0;
  problem->focal_alpha = 0.25;
  problem->focal_gamma = 2.0;
  problem->poly_epsilon = 2.0;
  problem->inner = 1;
  problem->class_axis = XENT_CLASS_AXIS_1;
}

/* The workspace, in doubles: offsets of each part (SIZE_MAX: absent). */
typedef struct layout {
  size_t block;              /* rows per block                           */
  size_t x, y;               /* logits and soft targets of a block       */
  size_t grad, q, probs, el; /* output tiles of a transposed block      */
  size_t family;             /* the family's scratch rows                */
  size_t total;
} layout;

/* a * b, saturating: the problem is not validated yet */
static size_t mul_sat(size_t a, size_t b) {
  return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t add_sat(size_t *off, size_t count) {
  const size_t at = *off;
  *off = count > SIZE_MAX - at ? SIZE_MAX : at + count;
  return at;
}

static void layout_of(const xent_problem *p, layout *l) {
  const size_t C = p->classes;
  const int binary = xent__is_binary(p->family);
  size_t off = 0;
  l->block = xent__block_rows(p);
  l->x = l->y = l->grad = l->q = l->probs = l->el = SIZE_MAX;
  if (xent__cfirst(p)) {
    const size_t tile = mul_sat(l->block, C);
    l->x = add_sat(&off, tile);
    if (p->soft_targets != NULL)
      l->y = add_sat(&off, tile);
    l->grad = add_sat(&off, tile);
    l->q = add_sat(&off, tile);
    l->probs = add_sat(&off, tile);
    if (binary)
      l->el = add_sat(&off, tile);
  } else if (p->dtype != XENT_F64) {
    l->x = add_sat(&off, C);
  }
  l->family = add_sat(&off, mul_sat(xent__family_scratch(p), C));
  l->total = off;
}

size_t xent_workspace_size(const xent_problem *problem) {
  if (problem == NULL)
    return 0;
  layout l;
  layout_of(problem, &l);
  return mul_sat(l.total, sizeof(double));
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

/* torch.argmax of the softmax: the first class whose p = exp(x - m) / s
 * equals the largest, 1/s. Logits below the max by more than 1e-12 cannot
 * round to it, so exp is taken only near the max. */
static size_t argmax_p(const double *x, const xent__softrow *r, size_t C) {
  const double top = 1.0 / r->s;
  for (size_t c = 0; c < C; c++) {
    const double d = x[c] - r->m;
    if (d == 0.0 || (d > -1e-12 && exp(d) / r->s == top))
      return c;
  }
  return 0;
}

/* The row's own label for the statistics: the hard label, or the first
 * largest soft target. */
static size_t own_label(const xent__target *tg, size_t C) {
  if (tg->y == NULL)
    return tg->t;
  size_t best = 0;
  for (size_t c = 1; c < C; c++)
    if (tg->y[c * tg->ys] > tg->y[best * tg->ys])
      best = c;
  return best;
}

static void zero_row(double *v, size_t C) {
  if (v != NULL)
    memset(v, 0, C * sizeof *v);
}

static void ignored_row(const xent_problem *p, const xent__plan *plan,
                        const xent_outputs *out, size_t r, const double *x,
                        const xent__rowout *o) {
  const size_t C = p->classes;
  if (out->per_sample != NULL)
    out->per_sample[r] = 0.0;
  zero_row(o->grad, C);
  zero_row(o->q, C);
  zero_row(o->elem, C);
  if (o->probs != NULL) {
    if (plan->binary)
      zero_row(o->probs, C);
    else
      ignored_probs(plan->k, x, C, o->probs);
  }
  xent_stats *st = out->stats;
  if (st != NULL) {
    if (st->predicted != NULL)
      st->predicted[r] = -1;
    if (st->confidence != NULL)
      st->confidence[r] = 0.0;
    if (st->entropy != NULL)
      st->entropy[r] = 0.0;
  }
}

/* A part of the workspace, or NULL when the layout has none. */
static double *part(double *ws, size_t offset) {
  return ws != NULL && offset != SIZE_MAX ? ws + offset : NULL;
}

/* Row i of an output: in place (rows contiguous) or in the block's tile. */
static double *out_row(double *dst, double *tile, size_t r, size_t i,
                       size_t C) {
  if (dst == NULL)
    return NULL;
  return tile != NULL ? tile + i * C : dst + r * C;
}

xent_status xent_evaluate(const xent_problem *p, const xent_outputs *out,
                          void *workspace, size_t workspace_size,
                          xent_error *err) {
  if (p == NULL || out == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  xent_status st = xent__check_shape(p, err);
  if (st != XENT_OK)
    return st;
  const size_t need = xent_workspace_size(p);
  if (need > 0 && (workspace == NULL || workspace_size < need))
    return xent__fail(err, XENT_ERR_WORKSPACE, XENT_ARG_WORKSPACE, -1, -1);
  const int binary = xent__is_binary(p->family);
  if (binary && out->stats != NULL)
    return xent__fail(err, XENT_ERR_NOT_APPLICABLE, XENT_ARG_OUTPUTS, -1, -1);
  /* read for the binary families only: callers written before the member
   * existed may leave it unset */
  double *const elementwise = binary ? out->elementwise : NULL;
  xent__plan plan;
  st = xent__validate(p, XENT__CHECK_LOGITS | XENT__CHECK_REDUCE, &plan, err);
  if (st != XENT_OK)
    return st;

  const size_t R = plan.rows, C = p->classes;
  const xent__kernels *k = plan.k;
  const double d = plan.denom;
  const int cf = xent__cfirst(p);
  layout l;
  layout_of(p, &l);
  double *ws = workspace;
  double *scratch = part(ws, l.family);
  double *xt = part(ws, l.x), *yt = part(ws, l.y);
  double *gt = part(ws, l.grad), *qt = part(ws, l.q);
  double *pt = part(ws, l.probs), *et = part(ws, l.el);
  stat_acc acc;
  memset(&acc, 0, sizeof acc);
  double total = 0;
  for (size_t r0 = 0; r0 < R;) {
    size_t count = 1;
    const double *xb;
    if (cf) {
      const size_t left = p->inner - r0 % p->inner;
      count = left < l.block ? left : l.block;
      xent__load(p, k, r0, count, 0, C, xt, C);
      if (!plan.hard)
        xent__load_soft(p, k, r0, count, 0, C, yt, C);
      xb = xt;
    } else {
      xb = xent__row(p, k, r0, xt);
    }
    for (size_t i = 0; i < count; i++) {
      const size_t r = r0 + i;
      const double *x = xb + i * C;
      const xent__rowout o = {
          out_row(out->grad, gt, r, i, C), out_row(out->targets, qt, r, i, C),
          out_row(out->probs, pt, r, i, C), out_row(elementwise, et, r, i, C)};
      if (plan.hard && p->targets[r] == p->ignore_index) {
        ignored_row(p, &plan, out, r, x, &o);
        continue;
      }
      xent__scan sc;
      k->scan(x, C, &sc);
      xent__target tg;
      xent__target_row(p, &plan, r, x, sc.masked, &tg, NULL);
      if (cf && !plan.hard) {
        tg.y = yt + i * C;
        tg.ys = 1;
      }
      xent__softrow sr = {sc.max, 0.0, 0.0, 0.0};
      const double loss =
          xent__family_row(p, &plan, x, &tg, d, &o, scratch, &sr);
      total += loss;
      if (out->per_sample != NULL)
        out->per_sample[r] = loss;
      if (out->stats != NULL) {
        const double entropy = sr.logs - sr.b / sr.s;
        stat_row(&acc, out->stats, r, argmax_p(x, &sr, C), own_label(&tg, C),
                 1.0 / sr.s, entropy > 0.0 ? entropy : 0.0);
      }
    }
    if (cf) {
      if (out->grad != NULL)
        xent__store(p, k, out->grad, r0, count, gt, C);
      if (out->targets != NULL)
        xent__store(p, k, out->targets, r0, count, qt, C);
      if (out->probs != NULL)
        xent__store(p, k, out->probs, r0, count, pt, C);
      if (elementwise != NULL)
        xent__store(p, k, elementwise, r0, count, et, C);
    }
    r0 += count;
  }
  if (out->stats != NULL)
    stat_finish(&acc, out->stats);
  if (out->loss != NULL)
    *out->loss = p->reduction == XENT_REDUCE_MEAN ? total / d : total;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
