/*
 * test_positions.c - channels-first K-dimensional inputs (class axis 1) of
 * at most 64 classes, which a kernel with position kernels (AVX-512)
 * computes a vector of positions at a time, looping over the classes.
 * Every output must equal, bit for bit, the 2-D problem of the same
 * positions, which every kernel computes row by row, and the channels-last
 * layout of the same positions; with every kernel the CPU has.
 *
 * The cases cover every family; classes 1, 2, 3, 7, 21, 64 and 65 (past
 * the position path); inner sizes that are not multiples of eight and
 * that span more than one block of positions; masked classes, ignored
 * positions (some with NaN or infinite logits, which ignored rows may
 * hold), class weights, soft targets, label smoothing (uniform; 'others',
 * also beyond eps = (K-1)/K where the row path takes the position; Keras'
 * binary), mixup with each pairing and lambdas 0 and 1, target_threshold,
 * pos_weight, focal alpha and gamma (special and general exponents),
 * poly-1 epsilon, ties at the largest logit, logits of every element type,
 * every reduction, and subsets of the outputs (a softmax family asked for
 * the loss alone reads the label's exp from libm).
 */
#include <stdio.h>

#include "testutil.h"

static const xent_kernel KERNELS[3] = {XENT_KERNEL_SCALAR, XENT_KERNEL_AVX2,
                                       XENT_KERNEL_AVX512};

static const xent_family FAMILIES[5] = {
    XENT_LOSS_CROSS_ENTROPY, XENT_LOSS_BINARY_CROSS_ENTROPY,
    XENT_LOSS_SIGMOID_FOCAL, XENT_LOSS_SOFTMAX_FOCAL, XENT_LOSS_POLY1};

static const size_t CLASSES[7] = {1, 2, 3, 7, 21, 64, 65};

static const size_t INNER[5] = {3, 5, 13, 29, 131};

enum { VARIANTS = 24 };

static int is_binary(xent_family f) {
  return f == XENT_LOSS_BINARY_CROSS_ENTROPY || f == XENT_LOSS_SIGMOID_FOCAL;
}

/* Index of (n, c, d) in the channels-first, channels-last and 2-D layouts
 * (the 2-D problem has rows n * I + d). */
static size_t at_first(size_t n, size_t c, size_t d, size_t C, size_t I) {
  return (n * C + c) * I + d;
}

static size_t at_last(size_t n, size_t c, size_t d, size_t C, size_t I) {
  return (n * I + d) * C + c;
}

/* The logits of one layout in each element type. */
typedef struct logits {
  double *f64;
  float *f32;
  uint16_t *h16;
} logits;

/* One case: its data in the three layouts and its options. */
typedef struct kcase {
  char what[200];
  size_t N, C, I;
  xent_problem base; /* options shared by the three layouts */
  logits xf, xl, x2;
  double *yf, *yl, *y2;
  int64_t *t;
  double lam[4];
  int64_t partners[4];
  int64_t *partners2;
  double *lam2;
  double w[65], pw[65], alpha[65];
  int soft, mixup, lam_one; /* soft targets; mixup, one lambda for all */
  unsigned outputs;         /* bit 0 loss, 1 per_sample, 2 grad, 3 targets,  */
                            /* 4 probs, 5 stats, 6 elementwise               */
} kcase;

static void set_logit(kcase *k, size_t n, size_t c, size_t d, double v,
                      uint16_t h) {
  const size_t f = at_first(n, c, d, k->C, k->I);
  const size_t l = at_last(n, c, d, k->C, k->I);
  const size_t r = (n * k->I + d) * k->C + c;
  k->xf.f64[f] = k->xl.f64[l] = k->x2.f64[r] = v;
  k->xf.f32[f] = k->xl.f32[l] = k->x2.f32[r] = (float)v;
  k->xf.h16[f] = k->xl.h16[l] = k->x2.h16[r] = h;
}

static void set_soft(kcase *k, size_t n, size_t c, size_t d, double v) {
  k->yf[at_first(n, c, d, k->C, k->I)] = v;
  k->yl[at_last(n, c, d, k->C, k->I)] = v;
  k->y2[(n * k->I + d) * k->C + c] = v;
}

/* A logit as the element type holds it: v rounded to float, or a random
 * half / bfloat16 pattern of moderate size (v is then its value). */
static double typed_logit(xt_rng *rng, xent_dtype dt, double v, uint16_t *h) {
  *h = 0;
  if (dt == XENT_F32)
    return (double)(float)v;
  if (dt == XENT_F16) {
    /* exponent 10 .. 19: |value| in [2^-5, 2^5) */
    *h =
        (uint16_t)((xt_next(rng) & 0x8000u) |
                   ((10u + xt_index(rng, 10)) << 10) | (xt_next(rng) & 0x3ffu));
    return xt_half(*h);
  }
  if (dt == XENT_BF16) {
    const float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    *h = (uint16_t)(bits >> 16);
    return xt_bf16(*h);
  }
  return v;
}

static uint16_t minus_inf_bits(xent_dtype dt) {
  return dt == XENT_F16 ? 0xFC00u : 0xFF80u;
}

static uint16_t nan_bits(xent_dtype dt) {
  return dt == XENT_F16 ? 0x7E00u : 0x7FC0u;
}

static uint16_t plus_inf_bits(xent_dtype dt) {
  return dt == XENT_F16 ? 0x7C00u : 0x7F80u;
}

static size_t partner_sample(const kcase *k, size_t n) {
  switch (k->base.pairing) {
  case XENT_PAIR_FLIP:
    return k->N - 1 - n;
  case XENT_PAIR_ROLL:
    return (n + k->N - 1) % k->N;
  case XENT_PAIR_EXPLICIT:
    return (size_t)k->partners[n];
  }
  return n;
}

/*
 * A valid case of family f with C classes: the variant's bits choose the
 * main features (soft targets or mixup, masked classes, ignored positions,
 * weights, smoothing), the generator the rest. Masked classes are never a
 * position's label or its partner's label, and leave enough classes for
 * the smoothing convention.
 */
static void make_case(kcase *k, xt_rng *rng, xent_family f, size_t C,
                      int variant) {
  memset(k, 0, sizeof *k);
  const int binary = is_binary(f);
  k->C = C;
  k->N = 1 + xt_index(rng, 3);
  k->I = INNER[xt_index(rng, 5)];
  const size_t N = k->N, I = k->I, rows = N * I, nc = rows * C;
  const int soft = k->soft = variant % 3 == 1;
  const int mixup = k->mixup = variant % 3 == 2;
  k->lam_one = variant / 12 % 2;
  const int masked = variant / 3 % 2;
  const int ignored = !soft && !mixup && variant / 6 % 2;
  const int weights = variant / 12 % 2;
  xent_problem *b = &k->base;
  xent_problem_init(b);
  b->family = f;
  b->classes = C;
  const xent_dtype dtypes[6] = {XENT_F64, XENT_F64, XENT_F64,
                                XENT_F32, XENT_F16, XENT_BF16};
  b->dtype = dtypes[xt_index(rng, 6)];
  /* smoothing: none, uniform, 'others' (also past (K-1)/K), binary */
  const int sm = (int)xt_index(rng, 4);
  if (sm == 1) {
    b->label_smoothing = xt_index(rng, 2) ? 0.1 : xt_unif(rng);
  } else if (sm == 2 && !soft && C >= 3) {
    b->smoothing = XENT_SMOOTH_OTHERS;
    b->label_smoothing = xt_index(rng, 2) ? 0.2 : 0.97;
  } else if (sm == 3 && binary) {
    b->smoothing = XENT_SMOOTH_BINARY;
    b->label_smoothing = 0.2;
  }
  const size_t min_live =
      b->smoothing == XENT_SMOOTH_OTHERS && b->label_smoothing > 0.0 ? 2 : 1;
  if (weights) {
    for (size_t c = 0; c < C; c++)
      k->w[c] = C > 1 && xt_index(rng, 8) == 0 ? 0.0 : xt_range(rng, 0.2, 2.0);
    b->class_weights = k->w;
  }
  for (size_t c = 0; c < C; c++) {
    k->pw[c] = xt_range(rng, 0.0, 3.0);
    k->alpha[c] = xt_unif(rng);
  }
  b->reduction = (xent_reduction)xt_index(rng, 3);
  if (binary) {
    if (xt_index(rng, 3) == 0)
      b->pos_weight = k->pw;
    if (xt_index(rng, 4) == 0)
      b->target_threshold = 0.5;
    if (b->reduction == XENT_REDUCE_MEAN && xt_index(rng, 4) == 0)
      b->sum_classes = 1;
  }
  if (f == XENT_LOSS_SIGMOID_FOCAL || f == XENT_LOSS_SOFTMAX_FOCAL) {
    const double gammas[7] = {0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0};
    b->focal_gamma = gammas[xt_index(rng, 7)];
    const size_t a = xt_index(rng, 4);
    b->focal_alpha = a == 0 ? -1.0 : a == 1 ? xt_unif(rng) : 0.25;
    if (f == XENT_LOSS_SOFTMAX_FOCAL && a == 3)
      b->focal_alpha_per_class = k->alpha;
  }
  if (f == XENT_LOSS_POLY1 && xt_index(rng, 2))
    b->poly_epsilon = xt_range(rng, -1.5, 3.0);
  if (mixup) {
    for (size_t n = 0; n < N; n++) {
      const size_t pick = xt_index(rng, 4);
      k->lam[n] = pick == 0 ? 0.0 : pick == 1 ? 1.0 : xt_unif(rng);
      k->partners[n] = (int64_t)xt_index(rng, N);
    }
    b->pairing = (xent_pairing)xt_index(rng, 3);
  }
  k->outputs = 0x7f;
  if (xt_index(rng, 3) == 0) {
    const unsigned subsets[6] = {0x01, 0x03, 0x04, 0x10, 0x08, 0x20 | 0x40};
    k->outputs = subsets[xt_index(rng, 6)];
  }
  k->xf.f64 = xt_doubles(nc);
  k->xl.f64 = xt_doubles(nc);
  k->x2.f64 = xt_doubles(nc);
  k->xf.f32 = (float *)xt_alloc(nc, sizeof(float));
  k->xl.f32 = (float *)xt_alloc(nc, sizeof(float));
  k->x2.f32 = (float *)xt_alloc(nc, sizeof(float));
  k->xf.h16 = (uint16_t *)xt_alloc(nc, sizeof(uint16_t));
  k->xl.h16 = (uint16_t *)xt_alloc(nc, sizeof(uint16_t));
  k->x2.h16 = (uint16_t *)xt_alloc(nc, sizeof(uint16_t));
  k->yf = xt_doubles(nc);
  k->yl = xt_doubles(nc);
  k->y2 = xt_doubles(nc);
  k->t = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  k->partners2 = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  k->lam2 = xt_doubles(rows);
  /* labels first: masking must spare the partner's */
  for (size_t r = 0; r < rows; r++) {
    k->t[r] = (int64_t)xt_index(rng, C);
    if (ignored && xt_index(rng, 6) == 0)
      k->t[r] = -100;
  }
  const int ties = xt_index(rng, 4) == 0;
  const double spread = xt_index(rng, 5) == 0 ? 30.0 : 5.0;
  unsigned char *mask = (unsigned char *)xt_alloc(C, 1);
  for (size_t n = 0; n < N; n++) {
    for (size_t d = 0; d < I; d++) {
      const size_t r = n * I + d;
      const size_t r2 = partner_sample(k, n) * I + d;
      k->partners2[r] = (int64_t)r2;
      k->lam2[r] = k->lam[n];
      /* the classes masked at this position */
      size_t live = C;
      for (size_t c = 0; c < C; c++) {
        mask[c] = 0;
        const int label = !soft && ((int64_t)c == k->t[r] ||
                                    (mixup && (int64_t)c == k->t[r2]));
        if (masked && !label && live > min_live && xt_index(rng, 4) == 0) {
          mask[c] = 1;
          live--;
        }
      }
      const int junk = k->t[r] == -100 && xt_index(rng, 3) == 0;
      for (size_t c = 0; c < C; c++) {
        double v = ties ? (double)((int)xt_index(rng, 4) - 2)
                        : xt_range(rng, -spread, spread);
        uint16_t h;
        v = typed_logit(rng, b->dtype, v, &h);
        if (mask[c]) {
          v = -INFINITY;
          h = minus_inf_bits(b->dtype);
        }
        if (junk && c == C / 2) {
          /* an ignored row is not validated: NaN, +inf or all masked */
          const size_t kind = xt_index(rng, 3);
          v = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY;
          h = kind == 0   ? nan_bits(b->dtype)
              : kind == 1 ? plus_inf_bits(b->dtype)
                          : minus_inf_bits(b->dtype);
        }
        set_logit(k, n, c, d, v, h);
        double y = 0.0;
        if (!mask[c])
          y = binary
                  ? (xt_index(rng, 2) ? (double)xt_index(rng, 2) : xt_unif(rng))
                  : xt_range(rng, 0.0, 2.0);
        set_soft(k, n, c, d, y);
      }
    }
  }
  free(mask);
  snprintf(k->what, sizeof k->what,
           "family %d C %zu N %zu I %zu variant %d dtype %d smoothing %d eps "
           "%g reduction %d outputs 0x%x",
           (int)f, C, N, I, variant, (int)b->dtype, (int)b->smoothing,
           b->label_smoothing, (int)b->reduction, k->outputs);
}

static void case_free(kcase *k) {
  logits *all[3] = {&k->xf, &k->xl, &k->x2};
  for (int i = 0; i < 3; i++) {
    free(all[i]->f64);
    free(all[i]->f32);
    free(all[i]->h16);
  }
  free(k->yf);
  free(k->yl);
  free(k->y2);
  free(k->t);
  free(k->partners2);
  free(k->lam2);
}

static const void *logits_of(const logits *l, xent_dtype dt) {
  if (dt == XENT_F32)
    return l->f32;
  if (dt == XENT_F16 || dt == XENT_BF16)
    return l->h16;
  return l->f64;
}

/* layout: 0 channels-first, 1 channels-last, 2 the 2-D problem, whose
 * mixup pairs row n I + d with row partner(n) I + d explicitly. */
static xent_problem problem_of(const kcase *k, int layout, xent_kernel kern) {
  xent_problem p = k->base;
  p.kernel = kern;
  const logits *x = layout == 0 ? &k->xf : layout == 1 ? &k->xl : &k->x2;
  p.logits = logits_of(x, p.dtype);
  if (k->soft)
    p.soft_targets = layout == 0 ? k->yf : layout == 1 ? k->yl : k->y2;
  else
    p.targets = k->t;
  if (layout == 2) {
    p.n = k->N * k->I;
    p.inner = 1;
  } else {
    p.n = k->N;
    p.inner = k->I;
    p.class_axis = layout == 0 ? XENT_CLASS_AXIS_1 : XENT_CLASS_AXIS_LAST;
  }
  if (k->mixup) {
    p.mixup_lambda = k->lam;
    p.lambda_count = k->lam_one ? 1 : k->N;
    p.partners = k->partners;
    if (layout == 2) {
      p.pairing = XENT_PAIR_EXPLICIT;
      p.partners = k->partners2;
      if (!k->lam_one) {
        p.mixup_lambda = k->lam2;
        p.lambda_count = p.n;
      }
    }
  }
  return p;
}

/* Everything an evaluation writes. */
typedef struct outs {
  xent_status status;
  xent_error err;
  double loss;
  double *per_sample, *grad, *q, *probs, *elem;
  int64_t *predicted;
  double *confidence, *entropy;
  xent_stats st;
} outs;

static void evaluate(const xent_problem *p, unsigned which, outs *o) {
  const size_t rows = p->n * p->inner, nc = rows * p->classes;
  const int binary = is_binary(p->family);
  memset(o, 0, sizeof *o);
  o->per_sample = xt_doubles(rows);
  o->grad = xt_doubles(nc);
  o->q = xt_doubles(nc);
  o->probs = xt_doubles(nc);
  o->elem = xt_doubles(nc);
  o->predicted = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  o->confidence = xt_doubles(rows);
  o->entropy = xt_doubles(rows);
  o->st.predicted = o->predicted;
  o->st.confidence = o->confidence;
  o->st.entropy = o->entropy;
  const xent_outputs out = {
      which & 0x01 ? &o->loss : NULL, which & 0x02 ? o->per_sample : NULL,
      which & 0x04 ? o->grad : NULL,  which & 0x08 ? o->q : NULL,
      which & 0x10 ? o->probs : NULL, (which & 0x20) && !binary ? &o->st : NULL,
      which & 0x40 ? o->elem : NULL};
  /* exactly the size asked for: AddressSanitizer sees any write past it */
  const size_t need = xent_workspace_size(p);
  void *ws = need > 0 ? malloc(need) : NULL;
  ck_assert(need == 0 || ws != NULL);
  o->status = xent_evaluate(p, &out, ws, need, &o->err);
  free(ws);
}

static void outs_free(outs *o) {
  free(o->per_sample);
  free(o->grad);
  free(o->q);
  free(o->probs);
  free(o->elem);
  free(o->predicted);
  free(o->confidence);
  free(o->entropy);
}

/* a (layout 0 or 1) against the 2-D b: element (n, c, d) of a is row
 * n I + d, class c of b. == (so -0 equals +0; NaN never equals). */
static void same_matrix(const char *ctx, const char *name, const kcase *k,
                        int layout, const double *a, const double *b) {
  const size_t C = k->C, I = k->I;
  for (size_t n = 0; n < k->N; n++)
    for (size_t d = 0; d < I; d++)
      for (size_t c = 0; c < C; c++) {
        const size_t i =
            layout == 0 ? at_first(n, c, d, C, I) : at_last(n, c, d, C, I);
        const size_t j = (n * I + d) * C + c;
        if (!(a[i] == b[j]))
          ck_assert_msg(0,
                        "%s: %s (n %zu, c %zu, d %zu) = %.17g, row path %.17g",
                        ctx, name, n, c, d, a[i], b[j]);
      }
}

static void same_vector(const char *ctx, const char *name, const double *a,
                        const double *b, size_t rows) {
  for (size_t r = 0; r < rows; r++)
    if (!(a[r] == b[r]))
      ck_assert_msg(0, "%s: %s[%zu] = %.17g, row path %.17g", ctx, name, r,
                    a[r], b[r]);
}

/* Returns 1 when both evaluations succeeded and agree, 0 when both
 * failed the same way. */
static int compare(const char *ctx, const kcase *k, int layout, const outs *a,
                   const outs *b) {
  const size_t rows = k->N * k->I;
  ck_assert_msg(a->status == b->status, "%s: status %s, row path %s", ctx,
                xent_status_name(a->status), xent_status_name(b->status));
  if (a->status != XENT_OK) {
    /* zero weights may leave a mean without denominator: the same error,
     * at the same place */
    ck_assert_msg(a->err.arg == b->err.arg && a->err.row == b->err.row &&
                      a->err.col == b->err.col,
                  "%s: %s at (%lld, %lld), row path at (%lld, %lld)", ctx,
                  xent_status_name(a->status), (long long)a->err.row,
                  (long long)a->err.col, (long long)b->err.row,
                  (long long)b->err.col);
    return 0;
  }
  ck_assert_msg(a->loss == b->loss, "%s: loss %.17g, row path %.17g", ctx,
                a->loss, b->loss);
  same_vector(ctx, "per_sample", a->per_sample, b->per_sample, rows);
  same_matrix(ctx, "grad", k, layout, a->grad, b->grad);
  same_matrix(ctx, "targets", k, layout, a->q, b->q);
  same_matrix(ctx, "probs", k, layout, a->probs, b->probs);
  same_matrix(ctx, "elementwise", k, layout, a->elem, b->elem);
  same_vector(ctx, "confidence", a->confidence, b->confidence, rows);
  same_vector(ctx, "entropy", a->entropy, b->entropy, rows);
  for (size_t r = 0; r < rows; r++)
    ck_assert_msg(a->predicted[r] == b->predicted[r],
                  "%s: predicted[%zu] %lld, row path %lld", ctx, r,
                  (long long)a->predicted[r], (long long)b->predicted[r]);
  ck_assert_msg(
      a->st.counted == b->st.counted && a->st.accuracy == b->st.accuracy &&
          a->st.mean_confidence == b->st.mean_confidence &&
          a->st.mean_entropy == b->st.mean_entropy && a->st.ece == b->st.ece,
      "%s: statistics differ from the row path's", ctx);
  return 1;
}

/* One case in both K-dimensional layouts against its 2-D problem, with
 * every kernel; counts the comparisons of successful evaluations. */
static void run_case(const kcase *k, size_t *compared, size_t *failed) {
  for (size_t ki = 0; ki < 3; ki++) {
    if (xt_skip_kernel(KERNELS[ki]))
      continue;
    outs want;
    const xent_problem two = problem_of(k, 2, KERNELS[ki]);
    evaluate(&two, k->outputs, &want);
    for (int layout = 0; layout < 2; layout++) {
      char ctx[300];
      snprintf(ctx, sizeof ctx, "%s kernel %s %s", k->what,
               xent_kernel_name(KERNELS[ki]),
               layout == 0 ? "channels-first" : "channels-last");
      const xent_problem kp = problem_of(k, layout, KERNELS[ki]);
      outs got;
      evaluate(&kp, k->outputs, &got);
      if (compare(ctx, k, layout, &got, &want))
        (*compared)++;
      else
        (*failed)++;
      outs_free(&got);
    }
    outs_free(&want);
  }
}

/* Every class count and variant of one family. */
START_TEST(positions_equal_rows) {
  xt_rng rng = {0x5eed0000u + (uint64_t)_i};
  size_t compared = 0, failed = 0;
  for (size_t ci = 0; ci < sizeof CLASSES / sizeof CLASSES[0]; ci++) {
    for (int v = 0; v < VARIANTS; v++) {
      kcase k;
      make_case(&k, &rng, FAMILIES[_i], CLASSES[ci], v);
      run_case(&k, &compared, &failed);
      case_free(&k);
    }
  }
  /* the generator makes valid cases but for a rare zero denominator */
  ck_assert_msg(failed * 50 <= compared, "%zu of %zu evaluations failed",
                failed, compared + failed);
}
END_TEST

/*
 * Softmax focal loss and poly-1 on hard labels without smoothing, asked for
 * the loss and per_sample only: the row path then has no exp row and takes
 * the label's exp(x_t - m) from libm, which SLEEF's exp differs from in a
 * few last bits; many positions, so that such a value is among them.
 */
START_TEST(loss_alone_takes_libm_exp) {
  const size_t N = 4, C = 21, I = 509, rows = N * I;
  double *xf = xt_doubles(rows * C), *x2 = xt_doubles(rows * C);
  int64_t *t = (int64_t *)xt_alloc(rows, sizeof(int64_t));
  xt_rng rng = {77};
  for (size_t n = 0; n < N; n++)
    for (size_t d = 0; d < I; d++) {
      t[n * I + d] = (int64_t)xt_index(&rng, C);
      for (size_t c = 0; c < C; c++) {
        const double v = xt_range(&rng, -8.0, 8.0);
        xf[at_first(n, c, d, C, I)] = v;
        x2[(n * I + d) * C + c] = v;
      }
    }
  const xent_family fams[2] = {XENT_LOSS_SOFTMAX_FOCAL, XENT_LOSS_POLY1};
  for (size_t f = 0; f < 2; f++)
    for (size_t ki = 0; ki < 3; ki++) {
      if (xt_skip_kernel(KERNELS[ki]))
        continue;
      xent_problem two = xt_hard(rows, C, x2, t);
      two.family = fams[f];
      two.focal_gamma = 2.5;
      two.kernel = KERNELS[ki];
      xent_problem k = two;
      k.n = N;
      k.inner = I;
      k.logits = xf;
      outs want, got;
      evaluate(&two, 0x03, &want);
      evaluate(&k, 0x03, &got);
      ck_assert(want.status == XENT_OK && got.status == XENT_OK);
      ck_assert_msg(got.loss == want.loss,
                    "family %d kernel %s: loss %.17g, "
                    "row path %.17g",
                    (int)fams[f], xent_kernel_name(KERNELS[ki]), got.loss,
                    want.loss);
      same_vector(xent_kernel_name(KERNELS[ki]), "per_sample", got.per_sample,
                  want.per_sample, rows);
      outs_free(&want);
      outs_free(&got);
    }
  free(xf);
  free(x2);
  free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("positions");
  TCase *tc = tcase_create("positions_equal_rows");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, positions_equal_rows, 0, 5);
  suite_add_tcase(s, tc);
  XT_ADD(s, loss_alone_takes_libm_exp);
  return xt_run(s);
}
