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

/* binary_row_scalar's operations in the same order, on the lanes in k
 * (inactive lanes hold -inf, as masked classes do, and give 0). Returns
 * the element losses. */
static inline __attribute__((always_inline)) __m512d
binary_step(const xent__binary *b, __mmask8 k, size_t i, const double *x,
            const double *q, double *grad, double *probs, double *elem) {
  const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  const double gamma = b->gamma, alpha = b->alpha;
  const int full = k == 0xff;
  const __m512d xv =
      full ? _mm512_loadu_pd(x + i) : _mm512_mask_loadu_pd(ninf, k, x + i);
  const __mmask8 live = _mm512_cmp_pd_mask(xv, ninf, _CMP_NEQ_UQ);
  const __m512d t =
      full ? _mm512_loadu_pd(q + i) : _mm512_maskz_loadu_pd(k, q + i);
  __m512d w = one;
  if (b->w != NULL)
    w = full ? _mm512_loadu_pd(b->w + i)
             : _mm512_mask_loadu_pd(one, k, b->w + i);
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
  if (b->pw != NULL) {
    const __m512d pw = full ? _mm512_loadu_pd(b->pw + i)
                            : _mm512_mask_loadu_pd(one, k, b->pw + i);
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
  loss = _mm512_maskz_mov_pd(live, loss);
  gx = _mm512_maskz_mov_pd(live, gx);
  const __m512d pr = _mm512_maskz_mov_pd(live, sig);
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

const xent__kernels xent__kernels_avx512 = {
    XENT_KERNEL_AVX512, scan_avx512,      expsum_avx512,     axpw_avx512,
    widen_avx512,       widen_f16_avx512, widen_bf16_avx512, binary_row_avx512,
    transpose_avx512,   soft_sum_avx512};
#else
typedef int xent__no_avx512; /* ISO C forbids an empty translation unit */
#endif
