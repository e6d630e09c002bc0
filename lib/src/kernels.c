/* Portable kernels and the run-time choice between instruction sets. */
#include <math.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "kernels.h"

static void scan_scalar(const double *x, size_t n, xent__scan *out) {
  double mx = -INFINITY, mn = INFINITY;
  size_t masked = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const double v = x[i];
    bad |= !(v < INFINITY); /* NaN or +inf */
    if (v == -INFINITY)
      masked++;
    else if (v < mn)
      mn = v;
    if (v > mx)
      mx = v;
  }
  out->max = mx;
  out->min_finite = mn;
  out->masked = masked;
  out->bad = bad;
}

/* Eight partial sums, as the AVX-512 kernel keeps: one running sum over a
 * long row loses digits the vector kernels keep. */
enum { LANES = 8 };

static void expsum_scalar(const double *x, size_t n, double m, const double *w,
                          double *e, xent__sums *out) {
  double s[LANES] = {0}, a[LANES] = {0}, b[LANES] = {0}, r[LANES] = {0};
  for (size_t i = 0; i < n; i++) {
    const double d = x[i] - m;
    const double ex = exp(d);
    if (e != NULL)
      e[i] = ex;
    s[i % LANES] += ex;
    if (d != -INFINITY) {
      a[i % LANES] += (w != NULL ? w[i] : 1.0) * d;
      b[i % LANES] += ex * d;
    }
    if (d < 0.0)
      r[i % LANES] += ex;
  }
  out->s = out->a = out->b = out->r = 0;
  for (int k = 0; k < LANES; k++) {
    out->s += s[k];
    out->a += a[k];
    out->b += b[k];
    out->r += r[k];
  }
}

static void axpw_scalar(double *dst, const double *src, size_t n, double alpha,
                        double beta, const double *w) {
  for (size_t i = 0; i < n; i++)
    dst[i] = src[i] * alpha - beta * (w != NULL ? w[i] : 1.0);
}

static void widen_scalar(const float *src, size_t n, double *dst) {
  for (size_t i = 0; i < n; i++)
    dst[i] = (double)src[i];
}

static void widen_f16_scalar(const uint16_t *src, size_t n, double *dst) {
  for (size_t i = 0; i < n; i++)
    dst[i] = xent__half_to_double(src[i]);
}

static void widen_bf16_scalar(const uint16_t *src, size_t n, double *dst) {
  for (size_t i = 0; i < n; i++)
    dst[i] = xent__bf16_to_double(src[i]);
}

static void sigmoid_terms_scalar(const double *x, size_t n, double *ea,
                                 double *en, double *lg) {
  for (size_t i = 0; i < n; i++) {
    ea[i] = exp(-fabs(x[i]));
    en[i] = exp(-x[i]);
    lg[i] = log(1.0 + ea[i]);
  }
}

const xent__kernels xent__kernels_scalar = {
    XENT_KERNEL_SCALAR, scan_scalar,         expsum_scalar,
    axpw_scalar,        widen_scalar,        widen_f16_scalar,
    widen_bf16_scalar,  sigmoid_terms_scalar};

int xent_kernel_supported(xent_kernel kernel) {
  switch (kernel) {
  case XENT_KERNEL_AUTO:
  case XENT_KERNEL_SCALAR:
    return 1;
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
  case XENT_KERNEL_AVX2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case XENT_KERNEL_AVX512:
    return __builtin_cpu_supports("avx512f") != 0;
#else
  case XENT_KERNEL_AVX2:
  case XENT_KERNEL_AVX512:
    return 0;
#endif
  }
  return 0;
}

xent_kernel xent_kernel_best(void) {
  if (xent_kernel_supported(XENT_KERNEL_AVX512))
    return XENT_KERNEL_AVX512;
  if (xent_kernel_supported(XENT_KERNEL_AVX2))
    return XENT_KERNEL_AVX2;
  return XENT_KERNEL_SCALAR;
}

const char *xent_kernel_name(xent_kernel kernel) {
  switch (kernel) {
  case XENT_KERNEL_AUTO:
    return "auto";
  case XENT_KERNEL_SCALAR:
    return "scalar";
  case XENT_KERNEL_AVX2:
    return "avx2";
  case XENT_KERNEL_AVX512:
    return "avx512";
  }
  return "unknown";
}

#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
/* F16C (the half-precision conversions), read from CPUID directly: clang
 * 14's __builtin_cpu_supports does not know the name. */
static int cpu_has_f16c(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
#endif

const xent__kernels *xent__kernels_get(xent_kernel kernel) {
  if (kernel == XENT_KERNEL_AUTO)
    kernel = xent_kernel_best();
  if (!xent_kernel_supported(kernel))
    return NULL;
  switch (kernel) {
#if defined(__x86_64__) && defined(XENT_HAVE_SLEEF)
  case XENT_KERNEL_AVX2:
    return cpu_has_f16c() ? &xent__kernels_avx2_f16c : &xent__kernels_avx2;
  case XENT_KERNEL_AVX512:
    return &xent__kernels_avx512;
#endif
  case XENT_KERNEL_SCALAR:
    return &xent__kernels_scalar;
  default:
    return NULL;
  }
}
