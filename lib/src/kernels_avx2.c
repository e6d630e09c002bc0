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

static void sigmoid_terms_avx2(const double *x, size_t n, double *ea,
                               double *en, double *lg) {
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256d one = _mm256_set1_pd(1.0);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d v = _mm256_loadu_pd(x + i);
    const __m256d a = Sleef_expd4_u10avx2(_mm256_or_pd(v, sign));
    _mm256_storeu_pd(ea + i, a);
    _mm256_storeu_pd(en + i, Sleef_expd4_u10avx2(_mm256_xor_pd(v, sign)));
    _mm256_storeu_pd(lg + i, Sleef_logd4_u10avx2(_mm256_add_pd(one, a)));
  }
  xent__kernels_scalar.sigmoid_terms(x + i, n - i, ea + i, en + i, lg + i);
}

const xent__kernels xent__kernels_avx2 = {
    XENT_KERNEL_AVX2, scan_avx2,         expsum_avx2,
    axpw_avx2,        widen_avx2,        widen_f16_scalar_fallback,
    widen_bf16_avx2,  sigmoid_terms_avx2};
const xent__kernels xent__kernels_avx2_f16c = {
    XENT_KERNEL_AVX2, scan_avx2,      expsum_avx2,     axpw_avx2,
    widen_avx2,       widen_f16_f16c, widen_bf16_avx2, sigmoid_terms_avx2};
#else
typedef int xent__no_avx2; /* ISO C forbids an empty translation unit */
#endif
