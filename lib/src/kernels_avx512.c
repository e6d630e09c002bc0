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
  out->s = _mm512_reduce_add_pd(acc.s);
  out->a = _mm512_reduce_add_pd(acc.a);
  out->b = _mm512_reduce_add_pd(acc.b);
  out->r = _mm512_reduce_add_pd(acc.r);
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

/* -|x| and -x are sign-bit operations; the tail goes to the scalar code
 * as in widen. */
static void sigmoid_terms_avx512(const double *x, size_t n, double *ea,
                                 double *en, double *lg) {
  const __m512i sign = _mm512_set1_epi64((long long)0x8000000000000000ULL);
  const __m512d one = _mm512_set1_pd(1.0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512i v = _mm512_castpd_si512(_mm512_loadu_pd(x + i));
    const __m512d a =
        Sleef_expd8_u10avx512f(_mm512_castsi512_pd(_mm512_or_si512(v, sign)));
    _mm512_storeu_pd(ea + i, a);
    _mm512_storeu_pd(en + i, Sleef_expd8_u10avx512f(_mm512_castsi512_pd(
                                 _mm512_xor_si512(v, sign))));
    _mm512_storeu_pd(lg + i, Sleef_logd8_u10avx512f(_mm512_add_pd(one, a)));
  }
  xent__kernels_scalar.sigmoid_terms(x + i, n - i, ea + i, en + i, lg + i);
}

const xent__kernels xent__kernels_avx512 = {
    XENT_KERNEL_AVX512, scan_avx512,         expsum_avx512,
    axpw_avx512,        widen_avx512,        widen_f16_avx512,
    widen_bf16_avx512,  sigmoid_terms_avx512};
#else
typedef int xent__no_avx512; /* ISO C forbids an empty translation unit */
#endif
