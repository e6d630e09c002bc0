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

double xent__upow(double u, double e) {
  if (e == 0.0)
    return 1.0;
  if (e == 1.0)
    return u;
  if (e == 2.0)
    return u * u;
  if (e == 3.0)
    return u * u * u;
  if (e == 0.5)
    return sqrt(u);
  if (e == -0.5)
    return 1.0 / sqrt(u);
  if (e == -1.0)
    return 1.0 / u;
  if (e == -2.0)
    return 1.0 / (u * u);
  return pow(u, e);
}

/*
 * Element by element in PyTorch's and torchvision's operation order (see
 * xent.h), so that results agree with theirs where their formulas lose
 * digits (1 - p_t near 0, log(1 + e) for tiny e). The vector kernels do the
 * same operations in the same order.
 */
static double binary_row_scalar(const xent__binary *b, const double *x,
                                const double *q, size_t n, double *grad,
                                double *probs, double *elem) {
  double acc[LANES] = {0};
  const double gamma = b->gamma, alpha = b->alpha;
  for (size_t i = 0; i < n; i++) {
    const double xc = x[i];
    double loss = 0.0, gx = 0.0, sig = 0.0;
    if (xc != -INFINITY) {
      const double t = q[i];
      const double w = b->w != NULL ? b->w[i] : 1.0;
      const double ea = exp(-fabs(xc));
      const double lg = log(1.0 + ea);
      const double mv = xc < 0.0 ? -xc : 0.0;
      /* torch's 1 / (1 + exp(-x)); for x < 0 the same from exp(x), one
       * exp fewer, within an ulp of it (sigma < 1/2 there) */
      sig = xc < 0.0 ? ea / (1.0 + ea) : 1.0 / (1.0 + ea);
      const double one_t = 1.0 - t;
      double ce, dce; /* the BCE element and its d/dx, no weight */
      if (b->pw != NULL) {
        const double pw = b->pw[i];
        ce = one_t * xc + ((pw - 1.0) * t + 1.0) * (lg + mv);
        dce = ((pw * t + 1.0) - t) * sig - pw * t;
      } else {
        ce = (one_t * xc + mv) + lg;
        dce = sig - t;
      }
      if (!b->focal) {
        loss = ce * w;
        gx = dce * w / b->d;
      } else {
        const double u = 1.0 - (sig * t + (1.0 - sig) * one_t);
        const double mod = xent__upow(u, gamma);
        const double at = alpha * t + (1.0 - alpha) * one_t;
        loss = (alpha >= 0.0 ? at * (ce * mod) : ce * mod) * w;
        /* autograd's chain from g0 = dL/dl: alpha_t, ce * mod, u^gamma,
         * 1 - p_t, p_t, sigmoid; plus ce's own backward. Where u = 0
         * with gamma < 1 torchvision's u^(gamma - 1) is infinite: the
         * term's limit, 0 (xent.h). */
        const double g0 = b->mean ? 1.0 / b->d * w : w;
        const double gl = alpha >= 0.0 ? g0 * at : g0;
        double gu = 0.0;
        if (gamma != 0.0 && !(u == 0.0 && gamma < 1.0))
          gu = gl * ce * (gamma * xent__upow(u, gamma - 1.0));
        const double gpt = -gu;
        const double gp = gpt * t + -(gpt * one_t);
        gx = gp * (1.0 - sig) * sig + dce * (gl * mod);
      }
    }
    acc[i % LANES] += loss;
    if (grad != NULL)
      grad[i] = gx;
    if (probs != NULL)
      probs[i] = sig;
    if (elem != NULL)
      elem[i] = loss;
  }
  double total = 0.0;
  for (int k = 0; k < LANES; k++)
    total += acc[k];
  return total;
}

static void transpose_scalar(const double *src, size_t stride, size_t rows,
                             size_t cols, double *dst, size_t ld) {
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < cols; j++)
      dst[j * ld + i] = src[i * stride + j];
}

static int soft_sum_scalar(const double *y, const double *w, size_t n,
                           double hi, double *sum) {
  double s[4] = {0, 0, 0, 0};
  int ok = 1;
  for (size_t i = 0; i < n; i++) {
    const double v = y[i];
    ok &= (v >= 0.0) & (v <= hi);
    s[i % 4] += (w != NULL ? w[i] : 1.0) * v;
  }
  *sum = (s[0] + s[1]) + (s[2] + s[3]);
  return ok;
}

static void scan_cols_scalar(const double *x, size_t ld, size_t n, size_t count,
                             size_t ahead, xent__scan *out) {
  (void)ahead;
  for (size_t c = 0; c < n; c++) {
    const double *col = x + c * ld;
    for (size_t i = 0; i < count; i++) {
      const double v = col[i];
      xent__scan *s = &out[i];
      s->bad |= !(v < INFINITY);
      if (v == -INFINITY)
        s->masked++;
      else if (v < s->min_finite)
        s->min_finite = v;
      if (v > s->max)
        s->max = v;
    }
  }
}

static void soft_cols_scalar(const double *y, size_t ld, const double *w,
                             size_t n, size_t count, size_t ahead, double hi,
                             int *ok, double *sum) {
  (void)ahead;
  for (size_t c = 0; c < n; c++) {
    const double *col = y + c * ld, wc = w != NULL ? w[c] : 1.0;
    for (size_t i = 0; i < count; i++) {
      ok[i] &= (col[i] >= 0.0) & (col[i] <= hi);
      sum[i] += wc * col[i];
    }
  }
}

const xent__kernels xent__kernels_scalar = {XENT_KERNEL_SCALAR,
                                            scan_scalar,
                                            expsum_scalar,
                                            axpw_scalar,
                                            widen_scalar,
                                            widen_f16_scalar,
                                            widen_bf16_scalar,
                                            binary_row_scalar,
                                            transpose_scalar,
                                            soft_sum_scalar,
                                            scan_cols_scalar,
                                            soft_cols_scalar,
                                            NULL};

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
