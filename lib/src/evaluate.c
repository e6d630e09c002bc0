/* xent_evaluate: validation first, then one pass over the rows that
 * computes each output asked for (family.c has each family's row). Rows
 * are read in place when they are contiguous doubles, else converted (and,
 * channels-first, transposed a block of positions at a time) into the
 * workspace; outputs of transposed blocks are written back the same way.
 * Channels-first blocks of few classes go to the kernel's position path
 * instead when it has one: the block is read as it lies, class by class,
 * and the kernel works on vectors of positions (xent__cfblock). */
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
  size_t ld;                 /* channels-first tiles: doubles per class  */
  size_t x, y;               /* logits and soft targets of a block       */
  size_t grad, q, probs, el; /* output tiles of a transposed block      */
  size_t family;             /* the family's scratch rows                */
  size_t kscratch;           /* position path: the kernel's scratch     */
  size_t arrays;             /* position path: per-position results     */
  size_t row;                /* position path: one row and its targets  */
  size_t total;
} layout;

/* The position path's per-position arrays: loss, the four sums of
 * xent__softrow, and the redo flags (bytes, in the last array). */
enum { POS_ARRAYS = 6 };

static int use_positions(const xent_problem *p, const xent__kernels *k) {
  return xent__cfirst(p) && k != NULL && k->positions != NULL &&
         p->classes <= XENT__CF_CLASSES;
}

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
  /* whole vectors of eight positions fit in a tile's class; one vector
   * more, so that the classes of a vector do not share a few cache sets */
  l->ld = (l->block + 7) / 8 * 8 + 8;
  l->x = l->y = l->grad = l->q = l->probs = l->el = SIZE_MAX;
  l->kscratch = l->arrays = l->row = SIZE_MAX;
  if (xent__cfirst(p)) {
    const size_t tile = mul_sat(l->ld, C);
    l->x = add_sat(&off, tile);
    if (p->soft_targets != NULL)
      l->y = add_sat(&off, tile);
    l->grad = add_sat(&off, tile);
    l->q = add_sat(&off, tile);
    l->probs = add_sat(&off, tile);
    if (binary)
      l->el = add_sat(&off, tile);
    if (C <= XENT__CF_CLASSES) {
      l->kscratch = add_sat(&off, 16 * C);
      l->arrays = add_sat(&off, POS_ARRAYS * l->ld);
      l->row = add_sat(&off, 2 * C);
    }
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
static size_t argmax_p(const double *x, size_t xs, const xent__softrow *r,
                       size_t C) {
  const double top = 1.0 / r->s;
  for (size_t c = 0; c < C; c++) {
    const double d = x[c * xs] - r->m;
    if (d == 0.0 || (d > -1e-12 && exp(d) / r->s == top))
      return c;
  }
  return 0;
}

/* The row's own label for the statistics: the hard label, or the first
 * largest soft target. */
static size_t own_label(const double *y, size_t ys, size_t t, size_t C) {
  if (y == NULL)
    return t;
  size_t best = 0;
  for (size_t c = 1; c < C; c++)
    if (y[c * ys] > y[best * ys])
      best = c;
  return best;
}

static void zero_row(double *v, size_t C) {
  if (v != NULL)
    memset(v, 0, C * sizeof *v);
}

/* What an ignored row leaves outside the n x classes outputs. */
static void ignored_values(const xent_outputs *out, size_t r) {
  if (out->per_sample != NULL)
    out->per_sample[r] = 0.0;
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

static void ignored_row(const xent_problem *p, const xent__plan *plan,
                        const xent_outputs *out, size_t r, const double *x,
                        const xent__rowout *o) {
  const size_t C = p->classes;
  zero_row(o->grad, C);
  zero_row(o->q, C);
  zero_row(o->elem, C);
  if (o->probs != NULL) {
    if (plan->binary)
      zero_row(o->probs, C);
    else
      ignored_probs(plan->k, x, C, o->probs);
  }
  ignored_values(out, r);
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

/* One evaluation pass: what every block needs. */
typedef struct pass {
  const xent_problem *p;
  const xent__plan *plan;
  const xent_outputs *out;
  double *elem; /* out->elementwise for the binary families, else NULL */
  layout l;
  double *ws;
  stat_acc acc;
  double total;
} pass;

/* A valid, non-ignored row on the row path: x its logits, y its soft
 * targets (contiguous; NULL: where xent__target_row finds them). Returns
 * the loss, writes o, the softmax sums and the row's own label. */
static double row_loss(pass *ps, size_t r, const double *x, const double *y,
                       const xent__rowout *o, xent__softrow *sr,
                       size_t *label) {
  const xent_problem *p = ps->p;
  xent__scan sc;
  ps->plan->k->scan(x, p->classes, &sc);
  xent__target tg;
  xent__target_row(p, ps->plan, r, x, sc.masked, &tg, NULL);
  if (y != NULL) {
    tg.y = y;
    tg.ys = 1;
  }
  sr->m = sc.max;
  sr->s = sr->logs = sr->b = 0.0;
  const double loss = xent__family_row(p, ps->plan, x, &tg, ps->plan->denom, o,
                                       part(ps->ws, ps->l.family), sr);
  /* the statistics' label: a scan of the soft targets */
  *label =
      ps->out->stats != NULL ? own_label(tg.y, tg.ys, tg.t, p->classes) : 0;
  return loss;
}

/* A computed row: its loss into the total and per_sample, its statistics
 * (predicted: the argmax of its probabilities). In row order, so that the
 * sums are the same whichever path computed the row. */
static void row_end(pass *ps, size_t r, double loss, const xent__softrow *sr,
                    size_t predicted, size_t label) {
  const xent_outputs *out = ps->out;
  ps->total += loss;
  if (out->per_sample != NULL)
    out->per_sample[r] = loss;
  if (out->stats != NULL) {
    const double entropy = sr->logs - sr->b / sr->s;
    stat_row(&ps->acc, out->stats, r, predicted, label, 1.0 / sr->s,
             entropy > 0.0 ? entropy : 0.0);
  }
}

/* Every row on the row path: in place, one at a time, or channels-first a
 * transposed block of positions at a time. */
static void rows_pass(pass *ps) {
  const xent_problem *p = ps->p;
  const xent__plan *plan = ps->plan;
  const xent_outputs *out = ps->out;
  const size_t R = plan->rows, C = p->classes;
  const xent__kernels *k = plan->k;
  const int cf = xent__cfirst(p);
  const layout *l = &ps->l;
  double *ws = ps->ws;
  double *xt = part(ws, l->x), *yt = part(ws, l->y);
  double *gt = part(ws, l->grad), *qt = part(ws, l->q);
  double *pt = part(ws, l->probs), *et = part(ws, l->el);
  for (size_t r0 = 0; r0 < R;) {
    size_t count = 1;
    const double *xb;
    if (cf) {
      const size_t left = p->inner - r0 % p->inner;
      count = left < l->block ? left : l->block;
      xent__load(p, k, r0, count, 0, C, xt, C);
      if (!plan->hard)
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
          out_row(out->probs, pt, r, i, C), out_row(ps->elem, et, r, i, C)};
      if (plan->hard && p->targets[r] == p->ignore_index) {
        ignored_row(p, plan, out, r, x, &o);
        continue;
      }
      xent__softrow sr;
      size_t label;
      const double loss = row_loss(
          ps, r, x, cf && !plan->hard ? yt + i * C : NULL, &o, &sr, &label);
      row_end(ps, r, loss, &sr, out->stats != NULL ? argmax_p(x, 1, &sr, C) : 0,
              label);
    }
    if (cf) {
      if (out->grad != NULL)
        xent__store(p, k, out->grad, r0, count, gt, C);
      if (out->targets != NULL)
        xent__store(p, k, out->targets, r0, count, qt, C);
      if (out->probs != NULL)
        xent__store(p, k, out->probs, r0, count, pt, C);
      if (ps->elem != NULL)
        xent__store(p, k, ps->elem, r0, count, et, C);
    }
    r0 += count;
  }
}

/* Copies a row's output from buf into position i of a block's tile. */
static void scatter_row(double *tile, const double *buf, size_t C, size_t ld,
                        size_t i) {
  if (tile == NULL)
    return;
  for (size_t c = 0; c < C; c++)
    tile[c * ld + i] = buf[c];
}

/* Position i of a block that the kernel left to the row path. */
static double redo_row(pass *ps, const xent__cfblock *b, size_t r, size_t i,
                       xent__softrow *sr, size_t *predicted, size_t *label) {
  const size_t C = ps->p->classes, ld = b->ld;
  double *x = part(ps->ws, ps->l.row), *y = x + C;
  for (size_t c = 0; c < C; c++)
    x[c] = b->x[c * ld + i];
  if (b->y != NULL)
    for (size_t c = 0; c < C; c++)
      y[c] = b->y[c * ld + i];
  /* the kernel's scratch is free once it has returned */
  double *rows = part(ps->ws, ps->l.kscratch);
  const xent__rowout o = {b->grad != NULL ? rows : NULL,
                          b->q != NULL ? rows + C : NULL,
                          b->probs != NULL ? rows + 2 * C : NULL,
                          b->elem != NULL ? rows + 3 * C : NULL};
  const double loss =
      row_loss(ps, r, x, b->y != NULL ? y : NULL, &o, sr, label);
  scatter_row(b->grad, o.grad, C, ld, i);
  scatter_row(b->q, o.q, C, ld, i);
  scatter_row(b->probs, o.probs, C, ld, i);
  scatter_row(b->elem, o.elem, C, ld, i);
  *predicted = ps->out->stats != NULL ? argmax_p(x, 1, sr, C) : 0;
  return loss;
}

/* Channels-first with the kernel's position path: each block of positions
 * of one sample is read class by class into tiles, computed by the kernel
 * into output tiles and written out class by class (a contiguous run of
 * positions each); then its rows end in order as on the row path. */
static void positions_pass(pass *ps) {
  const xent_problem *p = ps->p;
  const xent__plan *plan = ps->plan;
  const xent_outputs *out = ps->out;
  const size_t R = plan->rows, C = p->classes, I = p->inner;
  const size_t B = ps->l.block, ld = ps->l.ld;
  double *ws = ps->ws;
  double *xt = part(ws, ps->l.x), *yt = part(ws, ps->l.y);
  double *gt = out->grad != NULL ? part(ws, ps->l.grad) : NULL;
  double *qt = out->targets != NULL ? part(ws, ps->l.q) : NULL;
  double *pt = out->probs != NULL ? part(ws, ps->l.probs) : NULL;
  double *et = ps->elem != NULL ? part(ws, ps->l.el) : NULL;
  double *arr = part(ws, ps->l.arrays);
  const int stats = out->stats != NULL;
  /* double logits and soft targets used as they are by a binary family:
   * each element is read and written once, so the kernel takes the arrays
   * where they lie, a class's run of positions at a time, without tiles */
  const int in_place = p->dtype == XENT_F64 && plan->binary && !plan->hard &&
                       p->label_smoothing == 0.0 && p->target_threshold < 0.0;
  for (size_t r0 = 0; r0 < R;) {
    const size_t left = I - r0 % I, count = left < B ? left : B;
    const double *xb = xt, *yb = plan->hard ? NULL : yt;
    double *gb = gt, *qb = qt, *pb = pt, *eb = et;
    size_t bld = ld;
    if (in_place) {
      const size_t at = xent__index(p, r0, 0);
      xb = (const double *)p->logits + at;
      yb = p->soft_targets + at;
      gb = gt != NULL ? out->grad + at : NULL;
      qb = qt != NULL ? out->targets + at : NULL;
      pb = pt != NULL ? out->probs + at : NULL;
      eb = et != NULL ? ps->elem + at : NULL;
      bld = I;
    } else {
      xent__load_tile(p, plan->k, r0, count, 0, C, xt, ld);
      if (!plan->hard)
        xent__load_soft_tile(p, r0, count, yt, ld);
    }
    const xent__cfblock b = {
        p,
        plan->denom,
        plan->weight_all,
        xent__lambda(p, r0),
        count,
        xb,
        bld,
        plan->hard ? p->targets + r0 : NULL,
        plan->hard && plan->mixup ? p->targets + xent__partner(p, r0) : NULL,
        yb,
        gb,
        qb,
        pb,
        eb,
        part(ws, ps->l.kscratch),
        arr,
        stats ? arr + ld : NULL,
        arr + 2 * ld,
        arr + 3 * ld,
        arr + 4 * ld,
        (unsigned char *)(arr + 5 * ld)};
    plan->k->positions(&b);
    for (size_t i = 0; i < count; i++) {
      const size_t r = r0 + i;
      if (plan->hard && p->targets[r] == p->ignore_index) {
        ignored_values(out, r);
        continue;
      }
      xent__softrow sr = {0.0, 1.0, 0.0, 0.0};
      size_t predicted = 0, label = 0;
      double loss;
      if (b.redo[i]) {
        loss = redo_row(ps, &b, r, i, &sr, &predicted, &label);
      } else {
        loss = b.loss[i];
        if (stats) {
          sr.m = b.m[i];
          sr.s = b.s[i];
          sr.logs = b.logs[i];
          sr.b = b.b[i];
          predicted = argmax_p(xt + i, ld, &sr, C);
          label =
              plan->hard ? (size_t)p->targets[r] : own_label(yt + i, ld, 0, C);
        }
      }
      row_end(ps, r, loss, &sr, predicted, label);
    }
    if (gt != NULL && !in_place)
      xent__store_tile(p, out->grad, r0, count, gt, ld);
    if (qt != NULL && !in_place)
      xent__store_tile(p, out->targets, r0, count, qt, ld);
    if (pt != NULL && !in_place)
      xent__store_tile(p, out->probs, r0, count, pt, ld);
    if (et != NULL && !in_place)
      xent__store_tile(p, ps->elem, r0, count, et, ld);
    r0 += count;
  }
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
  xent__plan plan;
  st = xent__validate(p, XENT__CHECK_LOGITS | XENT__CHECK_REDUCE, &plan, err);
  if (st != XENT_OK)
    return st;
  pass ps;
  memset(&ps, 0, sizeof ps);
  ps.p = p;
  ps.plan = &plan;
  ps.out = out;
  /* read for the binary families only: callers written before the member
   * existed may leave it unset */
  ps.elem = binary ? out->elementwise : NULL;
  layout_of(p, &ps.l);
  ps.ws = workspace;
  if (use_positions(p, plan.k))
    positions_pass(&ps);
  else
    rows_pass(&ps);
  if (out->stats != NULL)
    stat_finish(&ps.acc, out->stats);
  if (out->loss != NULL)
    *out->loss =
        p->reduction == XENT_REDUCE_MEAN ? ps.total / plan.denom : ps.total;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
