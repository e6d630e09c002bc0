/* AVX-512F kernels, eight doubles a step, exp from SLEEF. Full vectors use
 * plain loads and stores; only the tail is masked, because masked stores
 * are slow on some CPUs (AMD Zen 4 and later). Compiled with -mavx512f and
 * chosen at run time only on CPUs that have it. */
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "kernels.h"

static __mmask8 tail_mask(size_t left) {
  return (__mmask8)((1u << left) - 1u);
}

/* The sum of the eight lanes in a fixed order, ((v4 + v0) + (v6 + v2)) +
 * ((v5 + v1) + (v7 + v3)): GCC's _mm512_reduce_add_pd, written out so that
 * no compiler picks another and the position kernels below can add eight
 * partial sums of positions in the same order. */
static inline __m512d hsum8_lanes(const __m512d p[8]) {
  return _mm512_add_pd(
      _mm512_add_pd(_mm512_add_pd(p[4], p[0]), _mm512_add_pd(p[6], p[2])),
      _mm512_add_pd(_mm512_add_pd(p[5], p[1]), _mm512_add_pd(p[7], p[3])));
}

static double hsum8(__m512d v) {
  const __m256d h =
      _mm256_add_pd(_mm512_extractf64x4_pd(v, 1), _mm512_extractf64x4_pd(v, 0));
  const __m128d q =
      _mm_add_pd(_mm256_extractf128_pd(h, 1), _mm256_castpd256_pd128(h));
  return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

/* One step of the scan over the lanes in k; inactive lanes hold -inf. */
static void scan_step(__m512d v, __mmask8 k, __m512d *vmax, __m512d *vmin,
                      __mmask8 *bad, size_t *masked) {
  const __m512d pinf = _mm512_set1_pd(INFINITY);
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  *bad |= _mm512_mask_cmp_pd_mask(k, v, pinf, _CMP_NLT_UQ);
  const __mmask8 is_masked = _mm512_mask_cmp_pd_mask(k, v, ninf, _CMP_EQ_OQ);
  *masked += (size_t)__builtin_popcount(is_masked);
  *vmin = _mm512_mask_min_pd(*vmin, (__mmask8)(k & ~is_masked), *vmin, v);
  *vmax = _mm512_max_pd(*vmax, v);
}

static void scan_avx512(const double *x, size_t n, xent__scan *out) {
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  __m512d vmax = ninf, vmin = _mm512_set1_pd(INFINITY);
  __mmask8 bad = 0;
  size_t masked = 0, i = 0;
  for (; i + 8 <= n; i += 8)
    scan_step(_mm512_loadu_pd(x + i), 0xff, &vmax, &vmin, &bad, &masked);
  if (i < n) {
    const __mmask8 k = tail_mask(n - i);
    scan_step(_mm512_mask_loadu_pd(ninf, k, x + i), k, &vmax, &vmin, &bad,
              &masked);
  }
  out->max = _mm512_reduce_max_pd(vmax);
  out->min_finite = _mm512_reduce_min_pd(vmin);
  out->masked = masked;
  out->bad = bad != 0;
}

/* scan_step's lanes are rows here: G vectors of eight rows a step, so that
 * each class is read in runs of 8 G positions, and the next run of each
 * class is prefetched (the classes are far apart: the hardware follows
 * few such streams). */
enum { G = 8 };

static void scan_cols_avx512(const double *x, size_t ld, size_t n, size_t count,
                             size_t ahead, xent__scan *out) {
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  const __m512d pinf = _mm512_set1_pd(INFINITY), one = _mm512_set1_pd(1.0);
  for (size_t i0 = 0; i0 < count; i0 += 8 * G) {
    __mmask8 k[G], bad[G];
    __m512d vmax[G], vmin[G], masked[G];
    for (size_t g = 0; g < G; g++) {
      const size_t at = i0 + 8 * g;
      k[g] = at >= count ? 0 : count - at >= 8 ? 0xff : tail_mask(count - at);
      bad[g] = 0;
      vmax[g] = ninf;
      vmin[g] = pinf;
      masked[g] = _mm512_setzero_pd();
    }
    for (size_t c = 0; c < n; c++) {
      const double *col = x + c * ld + i0;
      for (size_t j = 8 * G; j < 16 * G && i0 + j < count + ahead; j += 8)
        _mm_prefetch((const char *)(col + j), _MM_HINT_T0);
      for (size_t g = 0; g < G; g++) {
        const __m512d v = k[g] == 0xff
                              ? _mm512_loadu_pd(col + 8 * g)
                              : _mm512_mask_loadu_pd(ninf, k[g], col + 8 * g);
        bad[g] |= _mm512_mask_cmp_pd_mask(k[g], v, pinf, _CMP_NLT_UQ);
        const __mmask8 is_masked =
            _mm512_mask_cmp_pd_mask(k[g], v, ninf, _CMP_EQ_OQ);
        masked[g] = _mm512_mask_add_pd(masked[g], is_masked, masked[g], one);
        vmin[g] = _mm512_mask_min_pd(vmin[g], (__mmask8)(k[g] & ~is_masked),
                                     vmin[g], v);
        vmax[g] = _mm512_max_pd(vmax[g], v);
      }
    }
    for (size_t g = 0; g < G; g++) {
      double mx[8], mn[8], cnt[8];
      _mm512_storeu_pd(mx, vmax[g]);
      _mm512_storeu_pd(mn, vmin[g]);
      _mm512_storeu_pd(cnt, masked[g]);
      for (size_t l = 0; l < 8 && i0 + 8 * g + l < count; l++) {
        xent__scan *sc = &out[i0 + 8 * g + l];
        sc->max = mx[l] > sc->max ? mx[l] : sc->max;
        sc->min_finite = mn[l] < sc->min_finite ? mn[l] : sc->min_finite;
        sc->masked += (size_t)cnt[l];
        sc->bad |= (bad[g] >> l) & 1;
      }
    }
  }
}

/* scan_cols_avx512's order: G vectors of rows a class, the next run of
 * each class prefetched. */
static void soft_cols_avx512(const double *y, size_t ld, const double *w,
                             size_t n, size_t count, size_t ahead, double hi,
                             int *ok, double *sum) {
  const __m512d zero = _mm512_setzero_pd(), vhi = _mm512_set1_pd(hi);
  for (size_t i0 = 0; i0 < count; i0 += 8 * G) {
    __mmask8 k[G], bad[G];
    __m512d s[G];
    for (size_t g = 0; g < G; g++) {
      const size_t at = i0 + 8 * g;
      k[g] = at >= count ? 0 : count - at >= 8 ? 0xff : tail_mask(count - at);
      bad[g] = 0;
      s[g] = zero;
    }
    for (size_t c = 0; c < n; c++) {
      const double *col = y + c * ld + i0;
      const __m512d wc = _mm512_set1_pd(w != NULL ? w[c] : 1.0);
      for (size_t j = 8 * G; j < 16 * G && i0 + j < count + ahead; j += 8)
        _mm_prefetch((const char *)(col + j), _MM_HINT_T0);
      for (size_t g = 0; g < G; g++) {
        const __m512d v = k[g] == 0xff
                              ? _mm512_loadu_pd(col + 8 * g)
                              : _mm512_maskz_loadu_pd(k[g], col + 8 * g);
        const __mmask8 in = _mm512_cmp_pd_mask(v, zero, _CMP_GE_OQ) &
                            _mm512_cmp_pd_mask(v, vhi, _CMP_LE_OQ);
        bad[g] |= (__mmask8)(k[g] & ~in);
        s[g] = _mm512_add_pd(s[g], _mm512_mul_pd(wc, v));
      }
    }
    for (size_t g = 0; g < G; g++) {
      double lanes[8];
      _mm512_storeu_pd(lanes, s[g]);
      for (size_t l = 0; l < 8 && i0 + 8 * g + l < count; l++) {
        ok[i0 + 8 * g + l] &= !((bad[g] >> l) & 1);
        sum[i0 + 8 * g + l] += lanes[l];
      }
    }
  }
}

typedef struct sums8 {
  __m512d s, a, b, r;
} sums8;

/* exp(d) of one vector, accumulated; returns exp(d) for the caller to
 * store. */
static __m512d expsum_step(__m512d d, __m512d w, sums8 *acc) {
  const __m512d ex = Sleef_expd8_u10avx512f(d);
  const __mmask8 finite =
      _mm512_cmp_pd_mask(d, _mm512_set1_pd(-INFINITY), _CMP_GT_OQ);
  acc->s = _mm512_add_pd(acc->s, ex);
  const __mmask8 below = _mm512_cmp_pd_mask(d, _mm512_setzero_pd(), _CMP_LT_OQ);
  acc->r = _mm512_mask_add_pd(acc->r, below, acc->r, ex);
  acc->a = _mm512_mask_add_pd(acc->a, finite, acc->a, _mm512_mul_pd(w, d));
  acc->b = _mm512_mask_add_pd(acc->b, finite, acc->b, _mm512_mul_pd(ex, d));
  return ex;
}

static void expsum_avx512(const double *x, size_t n, double m, const double *w,
                          double *e, xent__sums *out) {
  const __m512d vm = _mm512_set1_pd(m);
  const __m512d one = _mm512_set1_pd(1.0);
  sums8 acc = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
               _mm512_setzero_pd()};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d d = _mm512_sub_pd(_mm512_loadu_pd(x + i), vm);
    const __m512d ex =
        expsum_step(d, w != NULL ? _mm512_loadu_pd(w + i) : one, &acc);
    if (e != NULL)
      _mm512_storeu_pd(e + i, ex);
  }
  if (i < n) {
    const __mmask8 k = tail_mask(n - i);
    const __m512d ninf = _mm512_set1_pd(-INFINITY);
    const __m512d d = _mm512_sub_pd(_mm512_mask_loadu_pd(ninf, k, x + i), vm);
    const __m512d ex =
        expsum_step(d, w != NULL ? _mm512_maskz_loadu_pd(k, w + i) : one, &acc);
    if (e != NULL)
      _mm512_mask_storeu_pd(e + i, k, ex);
  }
  out->s = hsum8(acc.s);
  out->a = hsum8(acc.a);
  out->b = hsum8(acc.b);
  out->r = hsum8(acc.r);
}

static void axpw_avx512(double *dst, const double *src, size_t n, double alpha,
                        double beta, const double *w) {
  const __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d bw =
        w != NULL ? _mm512_mul_pd(vb, _mm512_loadu_pd(w + i)) : vb;
    _mm512_storeu_pd(dst + i,
                     _mm512_fmsub_pd(_mm512_loadu_pd(src + i), va, bw));
  }
  if (i < n) {
    const __mmask8 k = tail_mask(n - i);
    const __m512d bw =
        w != NULL ? _mm512_mul_pd(vb, _mm512_maskz_loadu_pd(k, w + i)) : vb;
    const __m512d v = _mm512_maskz_loadu_pd(k, src + i);
    _mm512_mask_storeu_pd(dst + i, k, _mm512_fmsub_pd(v, va, bw));
  }
}

static void widen_avx512(const float *src, size_t n, double *dst) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm512_storeu_pd(dst + i, _mm512_cvtps_pd(_mm256_loadu_ps(src + i)));
  xent__kernels_scalar.widen(src + i, n - i, dst + i);
}

/* vcvtph2ps on 512 bits is part of AVX-512F. */
static void widen_f16_avx512(const uint16_t *src, size_t n, double *dst) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 f =
        _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i)));
    _mm512_storeu_pd(dst + i, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
    _mm512_storeu_pd(dst + i + 8,
                     _mm512_cvtps_pd(_mm256_castpd_ps(
                         _mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
  }
  xent__kernels_scalar.widen_f16(src + i, n - i, dst + i);
}

/* bfloat16 is the top half of a binary32: shift it there. */
static void widen_bf16_avx512(const uint16_t *src, size_t n, double *dst) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i))),
        16);
    const __m512 f = _mm512_castsi512_ps(w);
    _mm512_storeu_pd(dst + i, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
    _mm512_storeu_pd(dst + i + 8,
                     _mm512_cvtps_pd(_mm256_castpd_ps(
                         _mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
  }
  xent__kernels_scalar.widen_bf16(src + i, n - i, dst + i);
}

/* xent__upow on a vector: the same special cases, SLEEF's pow otherwise */
static __m512d upow8(__m512d u, double e) {
  const __m512d one = _mm512_set1_pd(1.0);
  if (e == 0.0)
    return one;
  if (e == 1.0)
    return u;
  if (e == 2.0)
    return _mm512_mul_pd(u, u);
  if (e == 3.0)
    return _mm512_mul_pd(_mm512_mul_pd(u, u), u);
  if (e == 0.5)
    return _mm512_sqrt_pd(u);
  if (e == -0.5)
    return _mm512_div_pd(one, _mm512_sqrt_pd(u));
  if (e == -1.0)
    return _mm512_div_pd(one, u);
  if (e == -2.0)
    return _mm512_div_pd(one, _mm512_mul_pd(u, u));
  return Sleef_powd8_u10avx512f(u, _mm512_set1_pd(e));
}

static __m512d neg8(__m512d v) {
  const __m512i sign = _mm512_set1_epi64((long long)0x8000000000000000ULL);
  return _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(v), sign));
}

/* binary_row_scalar's element in the same order of operations: the loss
 * of logits xv with targets t, class weights w and (has_pw) pos_weight pw,
 * its gradient into *gx and sigmoid(x) into *sig; all three 0 where x is
 * -inf. Shared by the row and the position kernels. */
static inline __attribute__((always_inline)) __m512d
binary_elem(const xent__binary *b, __m512d xv, __m512d t, __m512d w, int has_pw,
            __m512d pw, __m512d *gx_out, __m512d *sig_out) {
  const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  const double gamma = b->gamma, alpha = b->alpha;
  const __mmask8 live = _mm512_cmp_pd_mask(xv, ninf, _CMP_NEQ_UQ);
  const __m512d nx = neg8(xv);
  const __m512d nabs = _mm512_min_pd(xv, nx); /* -|x| */
  const __m512d ea = Sleef_expd8_u10avx512f(nabs);
  const __m512d ea1 = _mm512_add_pd(one, ea);
  const __m512d lg = Sleef_logd8_u10avx512f(ea1);
  const __m512d mv = _mm512_max_pd(nx, zero);
  const __mmask8 neg = _mm512_cmp_pd_mask(xv, zero, _CMP_LT_OQ);
  const __m512d sig = _mm512_div_pd(_mm512_mask_mov_pd(one, neg, ea), ea1);
  const __m512d one_t = _mm512_sub_pd(one, t);
  __m512d ce, dce;
  if (has_pw) {
    const __m512d pwt = _mm512_mul_pd(pw, t);
    const __m512d lw =
        _mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(pw, one), t), one);
    ce = _mm512_add_pd(_mm512_mul_pd(one_t, xv),
                       _mm512_mul_pd(lw, _mm512_add_pd(lg, mv)));
    dce = _mm512_sub_pd(
        _mm512_mul_pd(_mm512_sub_pd(_mm512_add_pd(pwt, one), t), sig), pwt);
  } else {
    ce = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(one_t, xv), mv), lg);
    dce = _mm512_sub_pd(sig, t);
  }
  __m512d loss, gx;
  if (!b->focal) {
    loss = _mm512_mul_pd(ce, w);
    gx = _mm512_div_pd(_mm512_mul_pd(dce, w), _mm512_set1_pd(b->d));
  } else {
    const __m512d u = _mm512_sub_pd(
        one, _mm512_add_pd(_mm512_mul_pd(sig, t),
                           _mm512_mul_pd(_mm512_sub_pd(one, sig), one_t)));
    const __m512d mod = upow8(u, gamma);
    const __m512d at =
        _mm512_add_pd(_mm512_mul_pd(_mm512_set1_pd(alpha), t),
                      _mm512_mul_pd(_mm512_set1_pd(1.0 - alpha), one_t));
    const __m512d cm = _mm512_mul_pd(ce, mod);
    loss = _mm512_mul_pd(alpha >= 0.0 ? _mm512_mul_pd(at, cm) : cm, w);
    const __m512d g0 =
        b->mean ? _mm512_mul_pd(_mm512_set1_pd(1.0 / b->d), w) : w;
    const __m512d gl = alpha >= 0.0 ? _mm512_mul_pd(g0, at) : g0;
    __m512d gu = zero;
    if (gamma != 0.0) {
      gu = _mm512_mul_pd(
          _mm512_mul_pd(gl, ce),
          _mm512_mul_pd(_mm512_set1_pd(gamma), upow8(u, gamma - 1.0)));
      if (gamma < 1.0)
        gu = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(u, zero, _CMP_NEQ_UQ), gu);
    }
    const __m512d gpt = neg8(gu);
    const __m512d gp =
        _mm512_add_pd(_mm512_mul_pd(gpt, t), neg8(_mm512_mul_pd(gpt, one_t)));
    gx = _mm512_add_pd(
        _mm512_mul_pd(_mm512_mul_pd(gp, _mm512_sub_pd(one, sig)), sig),
        _mm512_mul_pd(dce, _mm512_mul_pd(gl, mod)));
  }
  *gx_out = _mm512_maskz_mov_pd(live, gx);
  *sig_out = _mm512_maskz_mov_pd(live, sig);
  return _mm512_maskz_mov_pd(live, loss);
}

/* binary_elem on the lanes in k of a row (inactive lanes hold -inf, as
 * masked classes do, and give 0). Returns the element losses. */
static inline __attribute__((always_inline)) __m512d
binary_step(const xent__binary *b, __mmask8 k, size_t i, const double *x,
            const double *q, double *grad, double *probs, double *elem) {
  const __m512d one = _mm512_set1_pd(1.0);
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  const int full = k == 0xff;
  const __m512d xv =
      full ? _mm512_loadu_pd(x + i) : _mm512_mask_loadu_pd(ninf, k, x + i);
  const __m512d t =
      full ? _mm512_loadu_pd(q + i) : _mm512_maskz_loadu_pd(k, q + i);
  __m512d w = one, pw = one;
  if (b->w != NULL)
    w = full ? _mm512_loadu_pd(b->w + i)
             : _mm512_mask_loadu_pd(one, k, b->w + i);
  if (b->pw != NULL)
    pw = full ? _mm512_loadu_pd(b->pw + i)
              : _mm512_mask_loadu_pd(one, k, b->pw + i);
  __m512d gx, pr;
  const __m512d loss = binary_elem(b, xv, t, w, b->pw != NULL, pw, &gx, &pr);
  if (full) {
    if (grad != NULL)
      _mm512_storeu_pd(grad + i, gx);
    if (probs != NULL)
      _mm512_storeu_pd(probs + i, pr);
    if (elem != NULL)
      _mm512_storeu_pd(elem + i, loss);
  } else {
    if (grad != NULL)
      _mm512_mask_storeu_pd(grad + i, k, gx);
    if (probs != NULL)
      _mm512_mask_storeu_pd(probs + i, k, pr);
    if (elem != NULL)
      _mm512_mask_storeu_pd(elem + i, k, loss);
  }
  return loss;
}

/* Eight elements a step; the tail is one masked step (a scalar tail would
 * take libm's exp and log for up to 7 classes of every row). */
static double binary_row_avx512(const xent__binary *b, const double *x,
                                const double *q, size_t n, double *grad,
                                double *probs, double *elem) {
  __m512d acc = _mm512_setzero_pd(), acc2 = acc;
  size_t i = 0;
  /* two independent steps per iteration: each is one long chain (exp,
   * log, division) that a single step leaves latency-bound */
  for (; i + 16 <= n; i += 16) {
    acc = _mm512_add_pd(acc, binary_step(b, 0xff, i, x, q, grad, probs, elem));
    acc2 = _mm512_add_pd(acc2,
                         binary_step(b, 0xff, i + 8, x, q, grad, probs, elem));
  }
  acc = _mm512_add_pd(acc, acc2);
  for (; i + 8 <= n; i += 8)
    acc = _mm512_add_pd(acc, binary_step(b, 0xff, i, x, q, grad, probs, elem));
  if (i < n)
    acc = _mm512_add_pd(
        acc, binary_step(b, tail_mask(n - i), i, x, q, grad, probs, elem));
  return hsum8(acc);
}

/* One 8 x 8 block, of which rows x cols (each 1..8) are real: masked
 * loads and stores at the edges, the block's other lanes are ignored. */
static void transpose8(const double *src, size_t stride, size_t rows,
                       size_t cols, double *dst, size_t ld) {
  const __mmask8 cm = tail_mask(cols), rm = tail_mask(rows);
  __m512d r[8], t[8], u[8];
  for (size_t k = 0; k < 8; k++)
    r[k] = k < rows ? (cols == 8 ? _mm512_loadu_pd(src + k * stride)
                                 : _mm512_maskz_loadu_pd(cm, src + k * stride))
                    : _mm512_setzero_pd();
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);
    t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0x88);
    u[k + 1] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0x88);
    u[k + 2] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0xdd);
    u[k + 3] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0xdd);
  }
  __m512d c[8];
  for (int k = 0; k < 4; k++) {
    c[k] = _mm512_shuffle_f64x2(u[k], u[k + 4], 0x88);
    c[k + 4] = _mm512_shuffle_f64x2(u[k], u[k + 4], 0xdd);
  }
  for (size_t k = 0; k < cols; k++) {
    if (rows == 8)
      _mm512_storeu_pd(dst + k * ld, c[k]);
    else
      _mm512_mask_storeu_pd(dst + k * ld, rm, c[k]);
  }
}

/* 8 x 8 blocks transposed in registers: pairs within 128-bit lanes, then
 * lanes in two rounds; edge blocks masked. */
static void transpose_avx512(const double *src, size_t stride, size_t rows,
                             size_t cols, double *dst, size_t ld) {
  for (size_t i = 0; i < rows; i += 8) {
    const size_t ri = rows - i < 8 ? rows - i : 8;
    for (size_t j = 0; j < cols; j += 8)
      transpose8(src + i * stride + j, stride, ri, cols - j < 8 ? cols - j : 8,
                 dst + j * ld + i, ld);
  }
}

static int soft_sum_avx512(const double *y, const double *w, size_t n,
                           double hi, double *sum) {
  const __m512d zero = _mm512_setzero_pd(), vhi = _mm512_set1_pd(hi);
  const __m512d one = _mm512_set1_pd(1.0);
  __m512d s = zero;
  __mmask8 ok = 0xff;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d v = _mm512_loadu_pd(y + i);
    ok &= _mm512_cmp_pd_mask(v, zero, _CMP_GE_OQ) &
          _mm512_cmp_pd_mask(v, vhi, _CMP_LE_OQ);
    s = _mm512_add_pd(
        s, _mm512_mul_pd(w != NULL ? _mm512_loadu_pd(w + i) : one, v));
  }
  if (i < n) {
    const __mmask8 k = tail_mask(n - i);
    const __m512d v = _mm512_maskz_loadu_pd(k, y + i);
    ok &= (__mmask8)(_mm512_cmp_pd_mask(v, zero, _CMP_GE_OQ) &
                     _mm512_cmp_pd_mask(v, vhi, _CMP_LE_OQ)) |
          (__mmask8)~k;
    s = _mm512_add_pd(
        s, _mm512_mul_pd(w != NULL ? _mm512_maskz_loadu_pd(k, w + i) : one, v));
  }
  *sum = hsum8(s);
  return ok == 0xff;
}

/* ------------------------------------------------------ position kernels -- */
/*
 * Channels-first blocks (xent__cfblock): eight positions a vector, the
 * classes in a loop. Every position gets its row's operations in the row
 * path's order, lane by lane: family.c's scalar arithmetic as the same
 * vector operations (each rounds as the scalar one), the row kernels' exp
 * sums with class c in partial c % 8, added in hsum8's order, and libm
 * where family.c calls libm (log of the exp sum, log1p, pow, exp), one lane
 * at a time. So a position's results equal its row's bit for bit.
 */

static inline __m512d load8(const double *src, __mmask8 in) {
  return in == 0xff ? _mm512_loadu_pd(src) : _mm512_maskz_loadu_pd(in, src);
}

/* A vector of a tile: whole, the tile's rows have room. */
static inline void store8(double *dst, __m512d v) {
  _mm512_storeu_pd(dst, v);
}

/* The lanes in `in` only (a block used where it lies has no room). */
static inline void store_in(double *dst, __m512d v, __mmask8 in) {
  if (in == 0xff)
    _mm512_storeu_pd(dst, v);
  else
    _mm512_mask_storeu_pd(dst, in, v);
}

/* f of the lanes in k, libm's, one lane at a time; the others keep v. */
static __m512d lanes_libm(__m512d v, __mmask8 k, double (*f)(double)) {
  if (k == 0)
    return v;
  double a[8];
  _mm512_storeu_pd(a, v);
  for (int i = 0; i < 8; i++)
    if ((k >> i) & 1)
      a[i] = f(a[i]);
  return _mm512_loadu_pd(a);
}

/* xent__upow of the lanes in k: its special cases as upow8 has them (each
 * operation rounds as the scalar one), libm's pow for the others. */
static __m512d upow_libm(__m512d u, double e, __mmask8 k) {
  if (e == 0.0 || e == 1.0 || e == 2.0 || e == 3.0 || e == 0.5 || e == -0.5 ||
      e == -1.0 || e == -2.0)
    return upow8(u, e);
  double a[8];
  _mm512_storeu_pd(a, u);
  for (int i = 0; i < 8; i++)
    if ((k >> i) & 1)
      a[i] = pow(a[i], e);
  return _mm512_loadu_pd(a);
}

static inline __m512d bcast(double v) {
  return _mm512_set1_pd(v);
}

static inline __mmask8 label_is(__m512i t, size_t c) {
  return _mm512_cmpeq_epi64_mask(t, _mm512_set1_epi64((long long)c));
}

/* A vector of eight positions: what the row path derives for each row
 * (xent__scan, xent__target). */
typedef struct pos8 {
  __mmask8 in;   /* lanes within the block                              */
  __mmask8 act;  /* of those, not ignored                               */
  __mmask8 bad;  /* a NaN or +inf logit (possible in ignored rows only) */
  __m512i t, t2; /* labels, and the partner's (t without mixup)         */
  __m512d m;     /* max logit                                           */
  __m512d masked;
  __m512d sw;        /* weights of the unmasked classes                 */
  __m512d xt, xt2;   /* logits at the labels                            */
  __m512d wt, wt2;   /* weights of the labels                           */
  __m512d at, at2;   /* softmax focal alpha of the labels               */
  __m512d off, peak; /* smoothed one-hot                                */
  __m512d own, other, wq;
} pos8;

static double alpha_of(const xent_problem *p, size_t c) {
  if (p->focal_alpha_per_class != NULL)
    return p->focal_alpha_per_class[c];
  return p->focal_alpha < 0.0 ? 1.0 : p->focal_alpha;
}

/* Lanes of in whose label t is a class (0 <= t < C). */
static inline __mmask8 pos_in_range(__mmask8 in, __m512i t, size_t C) {
  return _mm512_mask_cmplt_epu64_mask(in, t, _mm512_set1_epi64((long long)C));
}

/* Element offsets of class t of each lane in a tile: t ld + lane. */
static inline __m512i pos_offsets(__m512i t, size_t ld) {
  return _mm512_add_epi64(_mm512_mul_epu32(t, _mm512_set1_epi64((long long)ld)),
                          _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
}

/* alpha_of the labels t on the lanes in k, 1 on the others. */
static __m512d pos_alpha(const xent_problem *p, __mmask8 k, __m512i t) {
  const __m512d one = bcast(1.0);
  if (p->focal_alpha_per_class != NULL)
    return _mm512_mask_i64gather_pd(one, k, t, p->focal_alpha_per_class, 8);
  return _mm512_mask_mov_pd(one, k, bcast(alpha_of(p, 0)));
}

/* The logit, weight (w, else 1) and softmax focal alpha (else 1) at the
 * labels t of the lanes in `in` whose label is a class (an ignored
 * position's too when ignore_index is one); 0, 1, 1 on the others. */
static inline void at_labels(const xent_problem *p, __mmask8 in, __m512i t,
                             const double *x, size_t ld, const double *w,
                             int focal, __m512d *xt, __m512d *wt, __m512d *at) {
  const __mmask8 e = pos_in_range(in, t, p->classes);
  *xt = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), e, pos_offsets(t, ld), x,
                                 8);
  if (w != NULL)
    *wt = _mm512_mask_i64gather_pd(_mm512_set1_pd(1.0), e, t, w, 8);
  if (focal)
    *at = pos_alpha(p, e, t);
}

/* The scan of each row (max, masked classes, bad values), the weights of
 * its unmasked classes and, with hard labels, the logits, weights and
 * alphas at the labels. */
static void pos_scan(const xent__cfblock *b, size_t i0, pos8 *v) {
  const xent_problem *p = b->p;
  const size_t C = p->classes, left = b->count - i0;
  const double *w = p->class_weights;
  const __m512d one = bcast(1.0), zero = _mm512_setzero_pd();
  const __m512d ninf = bcast(-INFINITY), pinf = bcast(INFINITY);
  const int hard = b->t != NULL;
  /* in locals: v's mask bytes may alias anything, and stores to them in
   * the loop would have every pointer reloaded */
  const __mmask8 in = left >= 8 ? 0xff : tail_mask(left);
  __mmask8 act = in, bad = 0;
  __m512i t = _mm512_setzero_si512(), t2 = t;
  if (hard) {
    t = _mm512_maskz_loadu_epi64(in, b->t + i0);
    act &= (__mmask8)~_mm512_cmpeq_epi64_mask(
        t, _mm512_set1_epi64((long long)p->ignore_index));
    t2 = b->t2 != NULL ? _mm512_maskz_loadu_epi64(in, b->t2 + i0) : t;
  }
  const double *const x = b->x + i0;
  const size_t ld = b->ld;
  /* what the family and the options read: the partner's label with
   * mixup, weights when there are some, alpha for softmax focal */
  const int two = hard && b->t2 != NULL;
  const int focal = p->family == XENT_LOSS_SOFTMAX_FOCAL;
  __m512d m = ninf, masked = zero, sw = zero;
  __m512d xt = zero, xt2 = zero, wt = one, wt2 = one, at = one, at2 = one;
  for (size_t c = 0; c < C; c++) {
    const __m512d xv = load8(x + c * ld, in);
    m = _mm512_max_pd(m, xv);
    const __mmask8 isn = _mm512_cmp_pd_mask(xv, ninf, _CMP_EQ_OQ);
    masked = _mm512_mask_add_pd(masked, isn, masked, one);
    bad |= _mm512_cmp_pd_mask(xv, pinf, _CMP_NLT_UQ);
    if (w != NULL)
      sw = _mm512_mask_add_pd(sw, (__mmask8)~isn, sw, bcast(w[c]));
  }
  /* the values at the labels gathered, on the lanes whose label is a
   * class (an ignored position's too when ignore_index is one) */
  if (hard) {
    at_labels(p, in, t, x, ld, w, focal, &xt, &wt, &at);
    if (two)
      at_labels(p, in, t2, x, ld, w, focal, &xt2, &wt2, &at2);
  }
  v->in = in;
  v->act = act;
  v->bad = bad;
  v->t = t;
  v->t2 = t2;
  if (!two) {
    xt2 = xt;
    wt2 = wt;
    at2 = at;
  }
  /* without weights the sum of ones over the unmasked classes is K,
   * exactly */
  if (w == NULL)
    sw = _mm512_sub_pd(bcast((double)C), masked);
  v->m = m;
  v->masked = masked;
  /* weight_unmasked: the batch's sum when nothing is masked */
  v->sw = _mm512_mask_mov_pd(sw, _mm512_cmp_pd_mask(masked, zero, _CMP_EQ_OQ),
                             bcast(b->weight_all));
  v->xt = xt;
  v->xt2 = xt2;
  v->wt = wt;
  v->wt2 = wt2;
  v->at = at;
  v->at2 = at2;
}

/* xent__target_row's on/off values, label masses and sum_c w_c q_c. */
static void pos_targets(const xent__cfblock *b, pos8 *v) {
  const xent_problem *p = b->p;
  const double eps = p->label_smoothing, lam = b->lam;
  const __m512d one = bcast(1.0), zero = _mm512_setzero_pd();
  const __m512d ninf = bcast(-INFINITY);
  const __m512d K = _mm512_sub_pd(bcast((double)p->classes), v->masked);
  if (eps == 0.0) {
    v->peak = one;
    v->off = zero;
  } else if (p->smoothing == XENT_SMOOTH_UNIFORM) {
    v->off = _mm512_div_pd(bcast(eps), K);
    v->peak = bcast(1.0 - eps);
  } else if (p->smoothing == XENT_SMOOTH_BINARY) {
    v->off = bcast(0.5 * eps);
    v->peak = bcast(1.0 - eps);
  } else {
    v->off = _mm512_div_pd(bcast(eps), _mm512_sub_pd(K, one));
    v->peak = _mm512_sub_pd(bcast(1.0 - eps), v->off);
  }
  v->own = v->other = zero;
  if (b->t == NULL) {
    v->wq = zero;
    return;
  }
  const __mmask8 lm = _mm512_cmp_pd_mask(v->xt, ninf, _CMP_EQ_OQ);
  v->own =
      _mm512_maskz_mov_pd((__mmask8)~lm, _mm512_mul_pd(v->peak, bcast(lam)));
  __m512d ws = _mm512_mul_pd(v->off, v->sw);
  ws = _mm512_mask_add_pd(ws, (__mmask8)~lm, ws, _mm512_mul_pd(v->own, v->wt));
  if (b->t2 != NULL) {
    const __mmask8 l2m = _mm512_cmp_pd_mask(v->xt2, ninf, _CMP_EQ_OQ);
    const __mmask8 same = _mm512_cmpeq_epi64_mask(v->t2, v->t) &
                          _mm512_cmp_pd_mask(v->own, zero, _CMP_NEQ_UQ);
    const __mmask8 k1 = (__mmask8)(~l2m & same), k2 = (__mmask8)(~l2m & ~same);
    ws = _mm512_mask_add_pd(
        ws, k1, ws, _mm512_mul_pd(_mm512_sub_pd(v->peak, v->own), v->wt));
    v->own = _mm512_mask_mov_pd(v->own, k1, v->peak);
    v->other =
        _mm512_maskz_mov_pd(k2, _mm512_mul_pd(v->peak, bcast(1.0 - lam)));
    ws = _mm512_mask_add_pd(ws, k2, ws, _mm512_mul_pd(v->other, v->wt2));
  }
  v->wq = ws;
}

/* q of class c (xent__q, xent__fill_q): 0 on masked classes (isn) and
 * ignored positions. */
static __m512d pos_q(const xent__cfblock *b, const pos8 *v, size_t c,
                     __m512d yv, __mmask8 isn, double thr) {
  __m512d q;
  if (b->t == NULL) {
    q = _mm512_add_pd(_mm512_mul_pd(bcast(1.0 - b->p->label_smoothing), yv),
                      v->off);
  } else {
    q = _mm512_mask_add_pd(v->off, label_is(v->t, c), v->off, v->own);
    q = _mm512_mask_add_pd(q, label_is(v->t2, c), q, v->other);
  }
  if (thr >= 0.0)
    q = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(q, bcast(thr), _CMP_GT_OQ),
                            bcast(1.0));
  return _mm512_maskz_mov_pd((__mmask8)(v->act & ~isn), q);
}

/* The exp sums of expsum_avx512 (w NULL: weight 1) for each position;
 * exp(x - m) of class c into e + 8 c. Only the sums in `want` (SUM_A,
 * SUM_B, SUM_R; s always) are added up, the others are left 0. */
enum { SUM_A = 1, SUM_B = 2, SUM_R = 4 };

static void pos_expsum(const xent__cfblock *b, size_t i0, const pos8 *v,
                       const double *w, unsigned want, double *e, sums8 *out) {
  const size_t C = b->p->classes;
  const __m512d zero = _mm512_setzero_pd(), ninf = bcast(-INFINITY);
  /* the exps first: a SLEEF call leaves no vector register as it was, so
   * sums kept across the calls would go to memory and back every time */
  for (size_t c = 0; c < C; c++)
    _mm512_storeu_pd(e + 8 * c,
                     Sleef_expd8_u10avx512f(_mm512_sub_pd(
                         load8(b->x + c * b->ld + i0, v->in), v->m)));
  __m512d S[8], A[8], B[8], R[8];
  for (size_t k = C; k < 8; k++)
    S[k] = A[k] = B[k] = R[k] = zero;
  for (size_t k = 0; k < 8 && k < C; k++) {
    __m512d s = zero, a = zero, bb = zero, r = zero;
    for (size_t c = k; c < C; c += 8) {
      const __m512d d =
          _mm512_sub_pd(load8(b->x + c * b->ld + i0, v->in), v->m);
      const __m512d ex = _mm512_loadu_pd(e + 8 * c);
      s = _mm512_add_pd(s, ex);
      if (want & SUM_R)
        r = _mm512_mask_add_pd(r, _mm512_cmp_pd_mask(d, zero, _CMP_LT_OQ), r,
                               ex);
      if (want & (SUM_A | SUM_B)) {
        const __mmask8 fin = _mm512_cmp_pd_mask(d, ninf, _CMP_GT_OQ);
        if (want & SUM_A)
          a = _mm512_mask_add_pd(a, fin, a,
                                 w != NULL ? _mm512_mul_pd(bcast(w[c]), d) : d);
        if (want & SUM_B)
          bb = _mm512_mask_add_pd(bb, fin, bb, _mm512_mul_pd(ex, d));
      }
    }
    S[k] = s;
    A[k] = a;
    B[k] = bb;
    R[k] = r;
  }
  out->s = hsum8_lanes(S);
  out->a = want & SUM_A ? hsum8_lanes(A) : zero;
  out->b = want & SUM_B ? hsum8_lanes(B) : zero;
  out->r = want & SUM_R ? hsum8_lanes(R) : zero;
}

/* The softmax sums of the positions for the statistics, their losses and
 * which of them the row path has to redo. */
static void pos_finish(const xent__cfblock *b, size_t i0, const pos8 *v,
                       const sums8 *sm, __m512d logs, __m512d loss,
                       __mmask8 redo) {
  if (b->m != NULL) {
    store8(b->m + i0, v->m);
    store8(b->s + i0, sm->s);
    store8(b->logs + i0, logs);
    store8(b->b + i0, sm->b);
  }
  store8(b->loss + i0, _mm512_maskz_mov_pd(v->act, loss));
  for (size_t i = 0; i < 8 && i0 + i < b->count; i++)
    b->redo[i0 + i] = (unsigned char)((redo >> i) & 1);
}

/* Lanes whose probabilities an ignored row gets: valid logits (the row
 * path's ignored_probs); every lane not ignored. */
static __mmask8 probs_lanes(const pos8 *v, size_t C) {
  const __mmask8 all_masked =
      _mm512_cmp_pd_mask(v->masked, bcast((double)C), _CMP_EQ_OQ);
  return (__mmask8)(v->act | (v->in & ~v->bad & ~all_masked));
}

/* cross_entropy_row (family.c) on eight positions. Hard labels with a
 * negative one-hot part ('others' beyond eps = (K-1)/K) are left to the
 * row path. */
static void ce_vec(const xent__cfblock *b, size_t i0) {
  const xent_problem *p = b->p;
  const size_t C = p->classes;
  const double *w = p->class_weights;
  const __m512d one = bcast(1.0), zero = _mm512_setzero_pd();
  const __m512d ninf = bcast(-INFINITY), vd = bcast(b->d);
  pos8 v;
  pos_scan(b, i0, &v);
  pos_targets(b, &v);
  sums8 sm;
  /* a for the smoothed closed form, b for the statistics */
  pos_expsum(b, i0, &v, w,
             (p->label_smoothing > 0.0 ? SUM_A : 0u) |
                 (b->m != NULL ? SUM_B : 0u),
             b->e, &sm);
  const __m512d logs = lanes_libm(sm.s, v.act, log);
  const double keep = 1.0 - p->label_smoothing;
  __mmask8 redo = 0;
  __m512d loss, wq;
  if (b->t != NULL) {
    redo = v.act & _mm512_cmp_pd_mask(v.peak, zero, _CMP_LT_OQ);
    /* hard_loss */
    __m512d acc = _mm512_maskz_mov_pd(
        _mm512_cmp_pd_mask(v.off, zero, _CMP_GT_OQ),
        _mm512_mul_pd(v.off, _mm512_sub_pd(sm.a, _mm512_mul_pd(logs, v.sw))));
    acc = _mm512_mask_add_pd(
        acc, _mm512_cmp_pd_mask(v.own, zero, _CMP_NEQ_UQ), acc,
        _mm512_mul_pd(_mm512_mul_pd(v.own, v.wt),
                      _mm512_sub_pd(_mm512_sub_pd(v.xt, v.m), logs)));
    acc = _mm512_mask_add_pd(
        acc, _mm512_cmp_pd_mask(v.other, zero, _CMP_NEQ_UQ), acc,
        _mm512_mul_pd(_mm512_mul_pd(v.other, v.wt2),
                      _mm512_sub_pd(_mm512_sub_pd(v.xt2, v.m), logs)));
    loss = neg8(acc);
    wq = v.wq;
  } else {
    /* soft_loss: every class in order */
    __m512d acc = zero, ws = zero;
    for (size_t c = 0; c < C; c++) {
      const __m512d xv = load8(b->x + c * b->ld + i0, v.in);
      const __m512d yv = load8(b->y + c * b->ld + i0, v.in);
      const __m512d q = _mm512_add_pd(_mm512_mul_pd(bcast(keep), yv), v.off);
      const __m512d wqc = w != NULL ? _mm512_mul_pd(bcast(w[c]), q) : q;
      const __mmask8 live = _mm512_cmp_pd_mask(xv, ninf, _CMP_NEQ_UQ);
      acc = _mm512_mask_add_pd(
          acc, live, acc,
          _mm512_mul_pd(wqc, _mm512_sub_pd(_mm512_sub_pd(xv, v.m), logs)));
      ws = _mm512_mask_add_pd(ws, live, ws, wqc);
    }
    loss = neg8(acc);
    wq = ws;
  }
  if (b->grad != NULL || b->probs != NULL || b->q != NULL) {
    const __m512d inv_s = _mm512_div_pd(one, sm.s);
    const __m512d wqd = _mm512_div_pd(wq, vd);
    const __m512d ga = b->probs != NULL ? wqd : _mm512_div_pd(wqd, sm.s);
    const __m512d beta = _mm512_div_pd(v.off, vd);
    const __m512d ownd = _mm512_div_pd(_mm512_mul_pd(v.own, v.wt), vd);
    const __m512d othd = _mm512_div_pd(_mm512_mul_pd(v.other, v.wt2), vd);
    const __mmask8 ownk = _mm512_cmp_pd_mask(v.own, zero, _CMP_NEQ_UQ);
    const __mmask8 othk = _mm512_cmp_pd_mask(v.other, zero, _CMP_NEQ_UQ);
    const __mmask8 pk = probs_lanes(&v, C);
    for (size_t c = 0; c < C; c++) {
      const __m512d xv = load8(b->x + c * b->ld + i0, v.in);
      const __mmask8 isn = _mm512_cmp_pd_mask(xv, ninf, _CMP_EQ_OQ);
      const __mmask8 keep_lanes = (__mmask8)(v.act & ~isn);
      const __m512d ev = _mm512_loadu_pd(b->e + 8 * c);
      const __m512d pr = _mm512_mul_pd(ev, inv_s);
      const __m512d yv =
          b->t == NULL ? load8(b->y + c * b->ld + i0, v.in) : zero;
      const size_t at = c * b->ld + i0;
      if (b->probs != NULL)
        store8(b->probs + at, _mm512_maskz_mov_pd(pk, pr));
      if (b->grad != NULL) {
        const __m512d bw = w != NULL ? _mm512_mul_pd(beta, bcast(w[c])) : beta;
        __m512d g = _mm512_fmsub_pd(b->probs != NULL ? pr : ev, ga, bw);
        if (b->t != NULL) {
          g = _mm512_mask_sub_pd(g, label_is(v.t, c) & ownk, g, ownd);
          g = _mm512_mask_sub_pd(g, label_is(v.t2, c) & othk, g, othd);
        } else {
          const double wk = (w != NULL ? w[c] : 1.0) * keep;
          g = _mm512_sub_pd(g, _mm512_div_pd(_mm512_mul_pd(bcast(wk), yv), vd));
        }
        store8(b->grad + at, _mm512_maskz_mov_pd(keep_lanes, g));
      }
      if (b->q != NULL)
        store8(b->q + at, pos_q(b, &v, c, yv, isn, -1.0));
    }
  }
  pos_finish(b, i0, &v, &sm, logs, loss, redo);
}

/* softmax_family_row's constants (family.c's softfam) for eight rows. */
typedef struct sf8 {
  int focal;
  double gamma, eps;
  __m512d s, inv_s, logs, m, rest;
  __mmask8 lone;
  __m512d lp1; /* log1p(rest) on the lanes that need it */
} sf8;

/* softfam_class on the lanes in k: class logits xc, exp ec, target mass wq
 * and alpha a; the loss term is returned, tau and u written. */
static __m512d sf_class(const sf8 *f, __m512d xc, __m512d ec, __m512d wq,
                        __m512d a, __mmask8 k, __m512d *tau, __m512d *u_out) {
  const __m512d one = bcast(1.0), zero = _mm512_setzero_pd();
  const __m512d pc = _mm512_mul_pd(ec, f->inv_s);
  const __mmask8 top = _mm512_cmp_pd_mask(xc, f->m, _CMP_EQ_OQ);
  const __m512d u = _mm512_mask_mov_pd(_mm512_sub_pd(one, pc), top,
                                       _mm512_div_pd(f->rest, f->s));
  const __m512d lp = _mm512_sub_pd(_mm512_sub_pd(xc, f->m), f->logs);
  *u_out = u;
  if (!f->focal) {
    *tau =
        _mm512_mul_pd(wq, _mm512_add_pd(one, _mm512_mul_pd(bcast(f->eps), pc)));
    return _mm512_mul_pd(
        wq, _mm512_add_pd(neg8(lp), _mm512_mul_pd(bcast(f->eps), u)));
  }
  const __m512d fu = upow_libm(u, f->gamma, k);
  __m512d bv = _mm512_mul_pd(a, bcast(f->gamma == 0.0 ? 1.0 : 0.0));
  const __mmask8 up = _mm512_cmp_pd_mask(u, zero, _CMP_GT_OQ);
  const __mmask8 tl = top & f->lone;
  const __m512d ratio = _mm512_mask_mov_pd(
      _mm512_div_pd(lp, u), tl,
      _mm512_div_pd(_mm512_mul_pd(neg8(f->s), f->lp1), f->rest));
  bv = _mm512_mask_mov_pd(
      bv, up,
      _mm512_mul_pd(
          _mm512_mul_pd(a, fu),
          _mm512_sub_pd(
              one, _mm512_mul_pd(_mm512_mul_pd(bcast(f->gamma), pc), ratio))));
  *tau = _mm512_mul_pd(wq, bv);
  return _mm512_mul_pd(_mm512_mul_pd(_mm512_mul_pd(neg8(wq), a), fu), lp);
}

/* softmax_family_row (softmax focal, poly-1) on eight positions. */
static void softfam_vec(const xent__cfblock *b, size_t i0) {
  const xent_problem *p = b->p;
  const size_t C = p->classes;
  const double *w = p->class_weights;
  const __m512d one = bcast(1.0), zero = _mm512_setzero_pd();
  const __m512d ninf = bcast(-INFINITY), vd = bcast(b->d);
  const int hard = b->t != NULL;
  pos8 v;
  pos_scan(b, i0, &v);
  pos_targets(b, &v);
  double *e = b->e, *tau = b->e + 8 * C;
  sums8 sm;
  pos_expsum(b, i0, &v, NULL, SUM_R | (b->m != NULL ? SUM_B : 0u), e, &sm);
  sf8 f;
  f.focal = p->family == XENT_LOSS_SOFTMAX_FOCAL;
  f.gamma = p->focal_gamma;
  f.eps = p->poly_epsilon;
  f.s = sm.s;
  f.inv_s = _mm512_div_pd(one, sm.s);
  f.logs = lanes_libm(sm.s, v.act, log);
  f.m = v.m;
  const __m512d others_at_max = _mm512_sub_pd(
      _mm512_roundscale_pd(_mm512_sub_pd(sm.s, sm.r),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
      one);
  f.rest = _mm512_add_pd(sm.r, others_at_max);
  f.lone = v.act & _mm512_cmp_pd_mask(others_at_max, zero, _CMP_EQ_OQ);
  f.lp1 = zero;
  const __mmask8 pk = probs_lanes(&v, C);
  __m512d loss = zero;
  if (hard && p->label_smoothing == 0.0) {
    /* softfam_sparse: the label and the partner's label only */
    const __mmask8 k0 = v.act & _mm512_cmp_pd_mask(v.own, zero, _CMP_NEQ_UQ);
    const __mmask8 k1 = v.act & _mm512_cmp_pd_mask(v.other, zero, _CMP_NEQ_UQ);
    const int stored = b->grad != NULL || b->probs != NULL;
    __m512d e0 = zero, e1 = zero;
    if (stored) {
      /* exp row entries at the labels: e[8 t + lane] */
      e0 = _mm512_mask_i64gather_pd(zero, pos_in_range(v.in, v.t, C),
                                    pos_offsets(v.t, 8), e, 8);
      if (k1 != 0)
        e1 = _mm512_mask_i64gather_pd(zero, pos_in_range(v.in, v.t2, C),
                                      pos_offsets(v.t2, 8), e, 8);
    } else {
      /* the row path has no exp row to read then: libm's exp */
      e0 = lanes_libm(_mm512_sub_pd(v.xt, v.m), k0, exp);
      e1 = lanes_libm(_mm512_sub_pd(v.xt2, v.m), k1, exp);
    }
    if (f.focal) {
      const __mmask8 top0 = _mm512_cmp_pd_mask(v.xt, v.m, _CMP_EQ_OQ) & k0;
      const __mmask8 top1 = _mm512_cmp_pd_mask(v.xt2, v.m, _CMP_EQ_OQ) & k1;
      f.lp1 = lanes_libm(f.rest, (top0 | top1) & f.lone, log1p);
    }
    /* the partner's label counts on the lanes of k1 only: none without
     * mixup, and its divisions are not free */
    __m512d tau0, u0, tau1 = zero, u1 = zero, term1 = zero;
    const __m512d term0 = sf_class(&f, v.xt, e0, _mm512_mul_pd(v.wt, v.own),
                                   v.at, k0, &tau0, &u0);
    if (k1 != 0)
      term1 = sf_class(&f, v.xt2, e1, _mm512_mul_pd(v.wt2, v.other), v.at2, k1,
                       &tau1, &u1);
    loss = _mm512_mask_add_pd(loss, k0, loss, term0);
    loss = _mm512_mask_add_pd(loss, k1, loss, term1);
    __m512d z = _mm512_mask_add_pd(zero, k0, zero, tau0);
    z = _mm512_mask_add_pd(z, k1, z, tau1);
    if (b->grad != NULL || b->probs != NULL || b->q != NULL) {
      const __m512d scale = b->probs != NULL
                                ? _mm512_div_pd(z, vd)
                                : _mm512_div_pd(_mm512_mul_pd(z, f.inv_s), vd);
      const __mmask8 both = k0 & k1;
      const __m512d oth0 = _mm512_maskz_mov_pd(both, tau1);
      const __m512d oth1 = _mm512_maskz_mov_pd(both, tau0);
      const __m512d pl0 = _mm512_mul_pd(e0, f.inv_s);
      const __m512d pl1 = _mm512_mul_pd(e1, f.inv_s);
      const __mmask8 lt0 = _mm512_cmp_pd_mask(v.xt, v.m, _CMP_EQ_OQ) & f.lone;
      const __mmask8 lt1 = _mm512_cmp_pd_mask(v.xt2, v.m, _CMP_EQ_OQ) & f.lone;
      const __m512d g0 = _mm512_div_pd(
          _mm512_mask_mov_pd(
              _mm512_sub_pd(_mm512_mul_pd(pl0, z), tau0), lt0,
              _mm512_sub_pd(_mm512_mul_pd(pl0, oth0), _mm512_mul_pd(u0, tau0))),
          vd);
      const __m512d g1 =
          k1 == 0 ? zero
                  : _mm512_div_pd(
                        _mm512_mask_mov_pd(
                            _mm512_sub_pd(_mm512_mul_pd(pl1, z), tau1), lt1,
                            _mm512_sub_pd(_mm512_mul_pd(pl1, oth1),
                                          _mm512_mul_pd(u1, tau1))),
                        vd);
      for (size_t c = 0; c < C; c++) {
        const size_t at = c * b->ld + i0;
        const __m512d ev = _mm512_loadu_pd(e + 8 * c);
        const __m512d pr = _mm512_mul_pd(ev, f.inv_s);
        if (b->probs != NULL)
          store8(b->probs + at, _mm512_maskz_mov_pd(pk, pr));
        if (b->grad != NULL)
          store8(b->grad + at,
                 _mm512_maskz_mov_pd(
                     v.act, _mm512_mul_pd(b->probs != NULL ? pr : ev, scale)));
        if (b->q != NULL) {
          const __m512d xv = load8(b->x + c * b->ld + i0, v.in);
          store8(b->q + at,
                 pos_q(b, &v, c, zero, _mm512_cmp_pd_mask(xv, ninf, _CMP_EQ_OQ),
                       -1.0));
        }
      }
      /* the labels' gradients over the others', the partner's last as the
       * row path writes them (k0 and k1 are within act) */
      if (b->grad != NULL) {
        _mm512_mask_i64scatter_pd(b->grad + i0, k0, pos_offsets(v.t, b->ld), g0,
                                  8);
        if (k1 != 0)
          _mm512_mask_i64scatter_pd(b->grad + i0, k1, pos_offsets(v.t2, b->ld),
                                    g1, 8);
      }
    }
    pos_finish(b, i0, &v, &sm, f.logs, loss, 0);
    return;
  }
  /* dense targets: every class in order */
  if (f.focal)
    f.lp1 = lanes_libm(f.rest, f.lone, log1p);
  const double keep = 1.0 - p->label_smoothing;
  __m512d zb = zero, zt = zero;
  for (size_t c = 0; c < C; c++) {
    const __m512d xv = load8(b->x + c * b->ld + i0, v.in);
    const __mmask8 live = _mm512_cmp_pd_mask(xv, ninf, _CMP_NEQ_UQ);
    const __m512d ec = _mm512_loadu_pd(e + 8 * c);
    _mm512_storeu_pd(e + 8 * c, _mm512_mul_pd(ec, f.inv_s));
    __m512d q;
    if (hard) {
      q = _mm512_mask_add_pd(v.off, label_is(v.t, c), v.off, v.own);
      q = _mm512_mask_add_pd(q, label_is(v.t2, c), q, v.other);
    } else {
      q = _mm512_add_pd(
          _mm512_mul_pd(bcast(keep), load8(b->y + c * b->ld + i0, v.in)),
          v.off);
    }
    const __m512d wq = w != NULL ? _mm512_mul_pd(bcast(w[c]), q) : q;
    const __mmask8 k = live & v.act & _mm512_cmp_pd_mask(wq, zero, _CMP_NEQ_UQ);
    __m512d t, u;
    const __m512d term =
        sf_class(&f, xv, ec, wq, bcast(alpha_of(p, c)), k, &t, &u);
    loss = _mm512_mask_add_pd(loss, k, loss, term);
    t = _mm512_maskz_mov_pd(k, t);
    _mm512_storeu_pd(tau + 8 * c, t);
    const __mmask8 top = _mm512_cmp_pd_mask(xv, v.m, _CMP_EQ_OQ);
    zt = _mm512_mask_add_pd(zt, live & top, zt, t);
    zb = _mm512_mask_add_pd(zb, live & ~top, zb, t);
  }
  if (b->grad != NULL || b->probs != NULL || b->q != NULL) {
    const __m512d z = _mm512_add_pd(zb, zt);
    const __m512d rs = _mm512_div_pd(f.rest, f.s);
    for (size_t c = 0; c < C; c++) {
      const size_t at = c * b->ld + i0;
      const __m512d xv = load8(b->x + c * b->ld + i0, v.in);
      const __mmask8 isn = _mm512_cmp_pd_mask(xv, ninf, _CMP_EQ_OQ);
      const __m512d pc = _mm512_loadu_pd(e + 8 * c);
      if (b->probs != NULL)
        store8(b->probs + at, _mm512_maskz_mov_pd(pk, pc));
      if (b->grad != NULL) {
        const __m512d tc = _mm512_loadu_pd(tau + 8 * c);
        const __mmask8 lt = _mm512_cmp_pd_mask(xv, v.m, _CMP_EQ_OQ) & f.lone;
        const __m512d g = _mm512_div_pd(
            _mm512_mask_mov_pd(
                _mm512_sub_pd(_mm512_mul_pd(pc, z), tc), lt,
                _mm512_sub_pd(_mm512_mul_pd(pc, zb), _mm512_mul_pd(rs, tc))),
            vd);
        store8(b->grad + at, _mm512_maskz_mov_pd((__mmask8)(v.act & ~isn), g));
      }
      if (b->q != NULL) {
        const __m512d yv = hard ? zero : load8(b->y + c * b->ld + i0, v.in);
        store8(b->q + at, pos_q(b, &v, c, yv, isn, -1.0));
      }
    }
  }
  pos_finish(b, i0, &v, &sm, f.logs, loss, 0);
}

/* binary_row_avx512 on eight positions: the element of class c is
 * binary_elem of the row kernel, and each position's losses are added as
 * the row kernel adds them (two accumulators over blocks of 16 classes,
 * then the rest, lane c % 8, then hsum8). */
static __m512d bin_class(const xent__cfblock *b, const xent__binary *prm,
                         const pos8 *v, size_t c, size_t i0, int direct) {
  const xent_problem *p = b->p;
  const size_t at = c * b->ld + i0;
  const __m512d xv = load8(b->x + c * b->ld + i0, v->in);
  __m512d q;
  const __m512d yv =
      b->y != NULL ? load8(b->y + c * b->ld + i0, v->in) : _mm512_setzero_pd();
  if (direct) {
    q = yv;
  } else {
    const __mmask8 isn = _mm512_cmp_pd_mask(xv, bcast(-INFINITY), _CMP_EQ_OQ);
    q = pos_q(b, v, c, yv, isn, p->target_threshold);
  }
  const __m512d w = prm->w != NULL ? bcast(prm->w[c]) : bcast(1.0);
  const __m512d pw = prm->pw != NULL ? bcast(prm->pw[c]) : bcast(1.0);
  __m512d gx, sig;
  __m512d loss = binary_elem(prm, xv, q, w, prm->pw != NULL, pw, &gx, &sig);
  if (v->act != v->in) {
    loss = _mm512_maskz_mov_pd(v->act, loss);
    gx = _mm512_maskz_mov_pd(v->act, gx);
    sig = _mm512_maskz_mov_pd(v->act, sig);
  }
  if (b->grad != NULL)
    store_in(b->grad + at, gx, v->in);
  if (b->probs != NULL)
    store_in(b->probs + at, sig, v->in);
  if (b->elem != NULL)
    store_in(b->elem + at, loss, v->in);
  if (b->q != NULL)
    store_in(b->q + at, q, v->in);
  return loss;
}

static void binary_vec(const xent__cfblock *b, size_t i0) {
  const xent_problem *p = b->p;
  const size_t C = p->classes, C16 = C & ~(size_t)15;
  const __m512d zero = _mm512_setzero_pd();
  /* soft targets used as they are (family.c's binary_row) */
  const int direct =
      b->t == NULL && p->label_smoothing == 0.0 && p->target_threshold < 0.0;
  pos8 v;
  if (direct) {
    const size_t left = b->count - i0;
    v.in = v.act = left >= 8 ? 0xff : tail_mask(left);
  } else {
    pos_scan(b, i0, &v);
    pos_targets(b, &v);
  }
  const xent__binary prm = {p->class_weights,
                            p->pos_weight,
                            p->family == XENT_LOSS_SIGMOID_FOCAL,
                            p->focal_gamma,
                            p->focal_alpha,
                            b->d,
                            p->reduction == XENT_REDUCE_MEAN};
  __m512d P[8];
  for (size_t k = C; k < 8; k++)
    P[k] = zero;
  for (size_t k = 0; k < 8 && k < C; k++) {
    __m512d acc = zero, acc2 = zero;
    size_t c = k;
    for (; c < C16; c += 8) {
      const __m512d l = bin_class(b, &prm, &v, c, i0, direct);
      if (c & 8)
        acc2 = _mm512_add_pd(acc2, l);
      else
        acc = _mm512_add_pd(acc, l);
    }
    acc = _mm512_add_pd(acc, acc2);
    for (; c < C; c += 8)
      acc = _mm512_add_pd(acc, bin_class(b, &prm, &v, c, i0, direct));
    P[k] = acc;
  }
  store8(b->loss + i0, _mm512_maskz_mov_pd(v.act, hsum8_lanes(P)));
  for (size_t i = 0; i < 8 && i0 + i < b->count; i++)
    b->redo[i0 + i] = 0;
}

/* binary_vec with soft targets used as they are, the classes in the
 * outer loop: each class's run of positions is read and written in one
 * piece, so the arrays may be used where they lie (b->ld the inner size,
 * any value). A[v] and A2[v] are binary_vec's acc and acc2 of the eight
 * lanes c % 8 for vector v, added to in the same order. */
static void binary_direct(const xent__cfblock *b) {
  enum { NV = 16 };
  const xent_problem *p = b->p;
  const size_t C = p->classes, C16 = C & ~(size_t)15;
  const __m512d zero = _mm512_setzero_pd();
  const xent__binary prm = {p->class_weights,
                            p->pos_weight,
                            p->family == XENT_LOSS_SIGMOID_FOCAL,
                            p->focal_gamma,
                            p->focal_alpha,
                            b->d,
                            p->reduction == XENT_REDUCE_MEAN};
  for (size_t j0 = 0; j0 < b->count; j0 += 8 * NV) {
    const size_t left = b->count - j0;
    const size_t nv = left >= 8 * NV ? NV : (left + 7) / 8;
    __m512d A[NV][8], A2[NV][8];
    pos8 v[NV];
    for (size_t j = 0; j < nv; j++) {
      const size_t l = left - 8 * j;
      v[j].in = v[j].act = l >= 8 ? 0xff : tail_mask(l);
      for (size_t k = 0; k < 8; k++)
        A[j][k] = A2[j][k] = zero;
    }
    for (size_t c = 0; c < C; c++) {
      if (c == C16)
        for (size_t j = 0; j < nv; j++)
          for (size_t k = 0; k < 8; k++)
            A[j][k] = _mm512_add_pd(A[j][k], A2[j][k]);
      for (size_t j = 0; j < nv; j++) {
        const __m512d l = bin_class(b, &prm, &v[j], c, j0 + 8 * j, 1);
        __m512d *acc = c < C16 && (c & 8) ? &A2[j][c % 8] : &A[j][c % 8];
        *acc = _mm512_add_pd(*acc, l);
      }
    }
    if (C16 == C)
      for (size_t j = 0; j < nv; j++)
        for (size_t k = 0; k < 8; k++)
          A[j][k] = _mm512_add_pd(A[j][k], A2[j][k]);
    for (size_t j = 0; j < nv; j++) {
      store8(b->loss + j0 + 8 * j,
             _mm512_maskz_mov_pd(v[j].act, hsum8_lanes(A[j])));
      for (size_t i = 0; i < 8 && j0 + 8 * j + i < b->count; i++)
        b->redo[j0 + 8 * j + i] = 0;
    }
  }
}

static void positions_avx512(const xent__cfblock *b) {
  void (*vec)(const xent__cfblock *, size_t) = ce_vec;
  switch (b->p->family) {
  case XENT_LOSS_BINARY_CROSS_ENTROPY:
  case XENT_LOSS_SIGMOID_FOCAL:
    if (b->t == NULL && b->p->label_smoothing == 0.0 &&
        b->p->target_threshold < 0.0) {
      binary_direct(b);
      return;
    }
    vec = binary_vec;
    break;
  case XENT_LOSS_SOFTMAX_FOCAL:
  case XENT_LOSS_POLY1:
    vec = softfam_vec;
    break;
  case XENT_LOSS_CROSS_ENTROPY:
    break;
  }
  for (size_t i0 = 0; i0 < b->count; i0 += 8)
    vec(b, i0);
}

const xent__kernels xent__kernels_avx512 = {
    XENT_KERNEL_AVX512, scan_avx512,      expsum_avx512,     axpw_avx512,
    widen_avx512,       widen_f16_avx512, widen_bf16_avx512, binary_row_avx512,
    transpose_avx512,   soft_sum_avx512,  scan_cols_avx512,  soft_cols_avx512,
    positions_avx512};
#else
typedef int xent__no_avx512; /* ISO C forbids an empty translation unit */
#endif
