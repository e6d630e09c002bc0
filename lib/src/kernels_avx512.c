/* AVX-512F kernels, eight doubles a step with masked tails, exp from SLEEF.
 * Compiled for that target whatever the build's flags; chosen at run time
 * only on CPUs that have it. */
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "kernels.h"

static __mmask8 tail_mask(size_t left) {
  return left >= 8 ? (__mmask8)0xff : (__mmask8)((1u << left) - 1u);
}

static void scan_avx512(const double *x, size_t n, xent__scan *out) {
  const __m512d pinf = _mm512_set1_pd(INFINITY);
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  __m512d vmax = ninf, vmin = pinf;
  __mmask8 bad = 0;
  size_t masked = 0;
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 k = tail_mask(n - i);
    const __m512d v = _mm512_mask_loadu_pd(ninf, k, x + i);
    bad |= _mm512_mask_cmp_pd_mask(k, v, pinf, _CMP_NLT_UQ);
    const __mmask8 is_masked = _mm512_mask_cmp_pd_mask(k, v, ninf, _CMP_EQ_OQ);
    masked += (size_t)__builtin_popcount(is_masked);
    vmin = _mm512_mask_min_pd(vmin, (__mmask8)(k & ~is_masked), vmin, v);
    vmax = _mm512_max_pd(vmax, v);
  }
  out->max = _mm512_reduce_max_pd(vmax);
  out->min_finite = _mm512_reduce_min_pd(vmin);
  out->masked = masked;
  out->bad = bad != 0;
}

static void expsum_avx512(const double *x, size_t n, double m, const double *w,
                          double *e, xent__sums *out) {
  const __m512d vm = _mm512_set1_pd(m);
  const __m512d ninf = _mm512_set1_pd(-INFINITY);
  const __m512d zero = _mm512_setzero_pd();
  __m512d s = zero, a = zero, b = zero;
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 k = tail_mask(n - i);
    const __m512d d = _mm512_sub_pd(_mm512_mask_loadu_pd(ninf, k, x + i), vm);
    const __m512d ex = Sleef_expd8_u10avx512f(d);
    if (e != NULL)
      _mm512_mask_storeu_pd(e + i, k, ex);
    s = _mm512_add_pd(s, ex);
    const __mmask8 finite = _mm512_cmp_pd_mask(d, ninf, _CMP_GT_OQ);
    const __m512d wd =
        w != NULL ? _mm512_mul_pd(_mm512_maskz_loadu_pd(k, w + i), d) : d;
    a = _mm512_mask_add_pd(a, finite, a, wd);
    b = _mm512_mask_add_pd(b, finite, b, _mm512_mul_pd(ex, d));
  }
  out->s = _mm512_reduce_add_pd(s);
  out->a = _mm512_reduce_add_pd(a);
  out->b = _mm512_reduce_add_pd(b);
}

static void axpw_avx512(double *dst, const double *src, size_t n, double alpha,
                        double beta, const double *w) {
  const __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 k = tail_mask(n - i);
    const __m512d bw =
        w != NULL ? _mm512_mul_pd(vb, _mm512_maskz_loadu_pd(k, w + i)) : vb;
    const __m512d v = _mm512_maskz_loadu_pd(k, src + i);
    _mm512_mask_storeu_pd(dst + i, k, _mm512_fmsub_pd(v, va, bw));
  }
}

const xent__kernels xent__kernels_avx512 = {XENT_KERNEL_AVX512, scan_avx512,
                                            expsum_avx512, axpw_avx512};
#else
typedef int xent__no_avx512; /* ISO C forbids an empty translation unit */
#endif
