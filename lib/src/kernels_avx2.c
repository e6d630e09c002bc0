/* AVX2 + FMA kernels, four doubles a step, exp from SLEEF. Compiled for
 * that target whatever the build's flags; chosen at run time only on CPUs
 * that have it. */
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "kernels.h"

static double hsum4(__m256d v) {
  const __m128d lo = _mm256_castpd256_pd128(v);
  const __m128d hi = _mm256_extractf128_pd(v, 1);
  const __m128d s = _mm_add_pd(lo, hi);
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static void scan_avx2(const double *x, size_t n, xent__scan *out) {
  const __m256d pinf = _mm256_set1_pd(INFINITY);
  const __m256d ninf = _mm256_set1_pd(-INFINITY);
  const __m256d one = _mm256_set1_pd(1.0);
  __m256d vmax = ninf, vmin = pinf, bad = _mm256_setzero_pd();
  __m256d count = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d v = _mm256_loadu_pd(x + i);
    bad = _mm256_or_pd(bad, _mm256_cmp_pd(v, pinf, _CMP_NLT_UQ));
    const __m256d is_masked = _mm256_cmp_pd(v, ninf, _CMP_EQ_OQ);
    count = _mm256_add_pd(count, _mm256_and_pd(is_masked, one));
    vmin = _mm256_min_pd(vmin, _mm256_blendv_pd(v, pinf, is_masked));
    vmax = _mm256_max_pd(vmax, v);
  }
  double lanes_max[4], lanes_min[4];
  _mm256_storeu_pd(lanes_max, vmax);
  _mm256_storeu_pd(lanes_min, vmin);
  xent__scan tail;
  xent__kernels_scalar.scan(x + i, n - i, &tail);
  double mx = tail.max, mn = tail.min_finite;
  for (int k = 0; k < 4; k++) {
    mx = lanes_max[k] > mx ? lanes_max[k] : mx;
    mn = lanes_min[k] < mn ? lanes_min[k] : mn;
  }
  out->max = mx;
  out->min_finite = mn;
  out->masked = tail.masked + (size_t)hsum4(count);
  out->bad = tail.bad || _mm256_movemask_pd(bad) != 0;
}

static void expsum_avx2(const double *x, size_t n, double m, const double *w,
                        double *e, xent__sums *out) {
  const __m256d vm = _mm256_set1_pd(m);
  const __m256d ninf = _mm256_set1_pd(-INFINITY);
  const __m256d zero = _mm256_setzero_pd();
  __m256d s = zero, a = zero, b = zero, r = zero;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d d = _mm256_sub_pd(_mm256_loadu_pd(x + i), vm);
    const __m256d ex = Sleef_expd4_u10avx2(d);
    if (e != NULL)
      _mm256_storeu_pd(e + i, ex);
    s = _mm256_add_pd(s, ex);
    r = _mm256_add_pd(r, _mm256_and_pd(_mm256_cmp_pd(d, zero, _CMP_LT_OQ), ex));
    const __m256d finite = _mm256_cmp_pd(d, ninf, _CMP_GT_OQ);
    const __m256d wd = w != NULL ? _mm256_mul_pd(_mm256_loadu_pd(w + i), d) : d;
    a = _mm256_add_pd(a, _mm256_and_pd(finite, wd));
    b = _mm256_add_pd(b, _mm256_and_pd(finite, _mm256_mul_pd(ex, d)));
  }
  xent__sums tail;
  xent__kernels_scalar.expsum(x + i, n - i, m, w != NULL ? w + i : NULL,
                              e != NULL ? e + i : NULL, &tail);
  out->s = hsum4(s) + tail.s;
  out->a = hsum4(a) + tail.a;
  out->b = hsum4(b) + tail.b;
  out->r = hsum4(r) + tail.r;
}

static void axpw_avx2(double *dst, const double *src, size_t n, double alpha,
                      double beta, const double *w) {
  const __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d bw =
        w != NULL ? _mm256_mul_pd(vb, _mm256_loadu_pd(w + i)) : vb;
    _mm256_storeu_pd(dst + i,
                     _mm256_fmsub_pd(_mm256_loadu_pd(src + i), va, bw));
  }
  xent__kernels_scalar.axpw(dst + i, src + i, n - i, alpha, beta,
                            w != NULL ? w + i : NULL);
}

static void widen_f16_scalar_fallback(const uint16_t *src, size_t n,
                                      double *dst) {
  xent__kernels_scalar.widen_f16(src, n, dst);
}

static void widen_avx2(const float *src, size_t n, double *dst) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(dst + i, _mm256_cvtps_pd(_mm_loadu_ps(src + i)));
  xent__kernels_scalar.widen(src + i, n - i, dst + i);
}

/* bfloat16 is the top half of a binary32: shift it there. */
static void widen_bf16_avx2(const uint16_t *src, size_t n, double *dst) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
    const __m256 f =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    _mm256_storeu_pd(dst + i, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
    _mm256_storeu_pd(dst + i + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
  }
  xent__kernels_scalar.widen_bf16(src + i, n - i, dst + i);
}

/* Only in the table chosen when CPUID reports F16C (kernels.c). */
__attribute__((target("f16c"))) static void
widen_f16_f16c(const uint16_t *src, size_t n, double *dst) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f =
        _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i)));
    _mm256_storeu_pd(dst + i, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
    _mm256_storeu_pd(dst + i + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
  }
  xent__kernels_scalar.widen_f16(src + i, n - i, dst + i);
}

/* xent__upow on a vector: the same special cases, SLEEF's pow otherwise */
static __m256d upow4(__m256d u, double e) {
  const __m256d one = _mm256_set1_pd(1.0);
  if (e == 0.0)
    return one;
  if (e == 1.0)
    return u;
  if (e == 2.0)
    return _mm256_mul_pd(u, u);
  if (e == 3.0)
    return _mm256_mul_pd(_mm256_mul_pd(u, u), u);
  if (e == 0.5)
    return _mm256_sqrt_pd(u);
  if (e == -0.5)
    return _mm256_div_pd(one, _mm256_sqrt_pd(u));
  if (e == -1.0)
    return _mm256_div_pd(one, u);
  if (e == -2.0)
    return _mm256_div_pd(one, _mm256_mul_pd(u, u));
  return Sleef_powd4_u10avx2(u, _mm256_set1_pd(e));
}

static __m256d neg4(__m256d v) {
  return _mm256_xor_pd(v, _mm256_set1_pd(-0.0));
}

/* binary_row_scalar's operations in the same order, four elements at a
 * time; the tail goes to the scalar kernel. */
static double binary_row_avx2(const xent__binary *b, const double *x,
                              const double *q, size_t n, double *grad,
                              double *probs, double *elem) {
  const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  const __m256d ninf = _mm256_set1_pd(-INFINITY);
  const __m256d vd = _mm256_set1_pd(b->d), inv_d = _mm256_set1_pd(1.0 / b->d);
  const double gamma = b->gamma, alpha = b->alpha;
  const __m256d va = _mm256_set1_pd(alpha), va1 = _mm256_set1_pd(1.0 - alpha);
  const __m256d vg = _mm256_set1_pd(gamma);
  __m256d acc = zero;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d xv = _mm256_loadu_pd(x + i);
    const __m256d live = _mm256_cmp_pd(xv, ninf, _CMP_NEQ_UQ);
    const __m256d t = _mm256_loadu_pd(q + i);
    const __m256d w = b->w != NULL ? _mm256_loadu_pd(b->w + i) : one;
    const __m256d nx = neg4(xv);
    const __m256d nabs = _mm256_min_pd(xv, nx); /* -|x| */
    const __m256d ea = Sleef_expd4_u10avx2(nabs);
    const __m256d ea1 = _mm256_add_pd(one, ea);
    const __m256d lg = Sleef_logd4_u10avx2(ea1);
    const __m256d mv = _mm256_max_pd(nx, zero);
    const __m256d neg = _mm256_cmp_pd(xv, zero, _CMP_LT_OQ);
    const __m256d sig = _mm256_div_pd(_mm256_blendv_pd(one, ea, neg), ea1);
    const __m256d one_t = _mm256_sub_pd(one, t);
    __m256d ce, dce;
    if (b->pw != NULL) {
      const __m256d pw = _mm256_loadu_pd(b->pw + i);
      const __m256d pwt = _mm256_mul_pd(pw, t);
      const __m256d lw =
          _mm256_add_pd(_mm256_mul_pd(_mm256_sub_pd(pw, one), t), one);
      ce = _mm256_add_pd(_mm256_mul_pd(one_t, xv),
                         _mm256_mul_pd(lw, _mm256_add_pd(lg, mv)));
      dce = _mm256_sub_pd(
          _mm256_mul_pd(_mm256_sub_pd(_mm256_add_pd(pwt, one), t), sig), pwt);
    } else {
      ce = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(one_t, xv), mv), lg);
      dce = _mm256_sub_pd(sig, t);
    }
    __m256d loss, gx;
    if (!b->focal) {
      loss = _mm256_mul_pd(ce, w);
      gx = _mm256_div_pd(_mm256_mul_pd(dce, w), vd);
    } else {
      const __m256d u = _mm256_sub_pd(
          one, _mm256_add_pd(_mm256_mul_pd(sig, t),
                             _mm256_mul_pd(_mm256_sub_pd(one, sig), one_t)));
      const __m256d mod = upow4(u, gamma);
      const __m256d at =
          _mm256_add_pd(_mm256_mul_pd(va, t), _mm256_mul_pd(va1, one_t));
      const __m256d cm = _mm256_mul_pd(ce, mod);
      loss = _mm256_mul_pd(alpha >= 0.0 ? _mm256_mul_pd(at, cm) : cm, w);
      const __m256d g0 = b->mean ? _mm256_mul_pd(inv_d, w) : w;
      const __m256d gl = alpha >= 0.0 ? _mm256_mul_pd(g0, at) : g0;
      __m256d gu = zero;
      if (gamma != 0.0) {
        gu = _mm256_mul_pd(_mm256_mul_pd(gl, ce),
                           _mm256_mul_pd(vg, upow4(u, gamma - 1.0)));
        if (gamma < 1.0)
          gu = _mm256_and_pd(_mm256_cmp_pd(u, zero, _CMP_NEQ_UQ), gu);
      }
      const __m256d gpt = neg4(gu);
      const __m256d gp =
          _mm256_add_pd(_mm256_mul_pd(gpt, t), neg4(_mm256_mul_pd(gpt, one_t)));
      gx = _mm256_add_pd(
          _mm256_mul_pd(_mm256_mul_pd(gp, _mm256_sub_pd(one, sig)), sig),
          _mm256_mul_pd(dce, _mm256_mul_pd(gl, mod)));
    }
    loss = _mm256_and_pd(live, loss);
    acc = _mm256_add_pd(acc, loss);
    if (grad != NULL)
      _mm256_storeu_pd(grad + i, _mm256_and_pd(live, gx));
    if (probs != NULL)
      _mm256_storeu_pd(probs + i, _mm256_and_pd(live, sig));
    if (elem != NULL)
      _mm256_storeu_pd(elem + i, loss);
  }
  xent__binary tail = *b;
  tail.w = b->w != NULL ? b->w + i : NULL;
  tail.pw = b->pw != NULL ? b->pw + i : NULL;
  const double rest = xent__kernels_scalar.binary_row(
      &tail, x + i, q + i, n - i, grad != NULL ? grad + i : NULL,
      probs != NULL ? probs + i : NULL, elem != NULL ? elem + i : NULL);
  return hsum4(acc) + rest;
}

static void transpose_fallback(const double *src, size_t stride, size_t rows,
                               size_t cols, double *dst, size_t ld) {
  xent__kernels_scalar.transpose(src, stride, rows, cols, dst, ld);
}

static int soft_sum_fallback(const double *y, const double *w, size_t n,
                             double hi, double *sum) {
  return xent__kernels_scalar.soft_sum(y, w, n, hi, sum);
}

static void scan_cols_fallback(const double *x, size_t ld, size_t n,
                               size_t count, size_t ahead, xent__scan *out) {
  xent__kernels_scalar.scan_cols(x, ld, n, count, ahead, out);
}

static void soft_cols_fallback(const double *y, size_t ld, const double *w,
                               size_t n, size_t count, size_t ahead, double hi,
                               int *ok, double *sum) {
  xent__kernels_scalar.soft_cols(y, ld, w, n, count, ahead, hi, ok, sum);
}

const xent__kernels xent__kernels_avx2 = {XENT_KERNEL_AVX2,
                                          scan_avx2,
                                          expsum_avx2,
                                          axpw_avx2,
                                          widen_avx2,
                                          widen_f16_scalar_fallback,
                                          widen_bf16_avx2,
                                          binary_row_avx2,
                                          transpose_fallback,
                                          soft_sum_fallback,
                                          scan_cols_fallback,
                                          soft_cols_fallback,
                                          NULL};
const xent__kernels xent__kernels_avx2_f16c = {XENT_KERNEL_AVX2,
                                               scan_avx2,
                                               expsum_avx2,
                                               axpw_avx2,
                                               widen_avx2,
                                               widen_f16_f16c,
                                               widen_bf16_avx2,
                                               binary_row_avx2,
                                               transpose_fallback,
                                               soft_sum_fallback,
                                               scan_cols_fallback,
                                               soft_cols_fallback,
                                               NULL};
#else
typedef int xent__no_avx2; /* ISO C forbids an empty translation unit */
#endif
