/*
 * fastjson.c - a fast path for the common request body: one strict,
 * bounded pass over the text straight into the request model, without
 * building a jansson tree (whose per-character lexer is nearly the whole
 * cost of a large request).
 *
 * It only ever answers "handled" for a body the jansson path (request.c)
 * accepts, and then builds the same xs_request, bit for bit. Anything else
 * -- a syntax error, an escape or non-ASCII byte in a string, a duplicate
 * or unknown key, a wrong type or shape, a limit exceeded, an integer too
 * long to be sure of -- is "not handled": everything built is freed and the
 * caller runs the jansson path, which then reports the error exactly as it
 * always does. So this file never has to word an error.
 *
 * Numbers follow the JSON grammar exactly. As in jansson, a token without
 * fraction or exponent is an integer (long long), so "-0" is +0.0 as a
 * number; any other token is the correctly rounded double of its text
 * (what glibc's strtod gives, which jansson calls).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "numfmt_pow10.h"

__extension__ typedef unsigned __int128 u128;

enum { HANDLED = 0, NOT_HANDLED = 1 };

static atomic_ulong fast_hits;

unsigned long xs__fast_parse_hits(void) {
  return atomic_load_explicit(&fast_hits, memory_order_relaxed);
}

/* ------------------------------------------------------ growable arrays -- */

typedef struct dvec {
  double *a;
  size_t len, cap;
} dvec;

typedef struct ivec {
  int64_t *a;
  size_t len, cap;
} ivec;

/* A larger block for an array of *cap elements of size bytes, or NULL
 * when out of memory or already at max elements (a vector longer than that
 * is never part of a valid request); on NULL the old block stays valid. */
static void *grow(void *a, size_t *cap, size_t size, size_t max) {
  if (*cap >= max)
    return NULL;
  size_t next = *cap < 64 ? 64 : *cap * 2;
  if (next > max)
    next = max;
  if (next > SIZE_MAX / size)
    return NULL;
  void *p = realloc(a, next * size);
  if (p != NULL)
    *cap = next;
  return p;
}

static int dpush(dvec *v, double x, size_t max) {
  if (v->len == v->cap) {
    double *a = grow(v->a, &v->cap, sizeof *a, max);
    if (a == NULL)
      return -1;
    v->a = a;
  }
  v->a[v->len++] = x;
  return 0;
}

static int ipush(ivec *v, int64_t x, size_t max) {
  if (v->len == v->cap) {
    int64_t *a = grow(v->a, &v->cap, sizeof *a, max);
    if (a == NULL)
      return -1;
    v->a = a;
  }
  v->a[v->len++] = x;
  return 0;
}

/* -------------------------------------------------------------- scanner -- */

typedef struct scan {
  const char *p, *end;
  size_t max_elements, max_rows;
} scan;

static void ws(scan *s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

/* The next byte (after whitespace) is ch: consumes it. */
static int eat(scan *s, char ch) {
  ws(s);
  if (s->p == s->end || *s->p != ch)
    return -1;
  s->p++;
  return 0;
}

/* After whitespace: ',' (returns 1, consumed), or `close` (returns 0,
 * consumed), else -1. */
static int next_or_close(scan *s, char close) {
  ws(s);
  if (s->p < s->end) {
    if (*s->p == ',') {
      s->p++;
      return 1;
    }
    if (*s->p == close) {
      s->p++;
      return 0;
    }
  }
  return -1;
}

/* An empty container: after '[' or '{', whitespace then `close`. */
static int is_empty(scan *s, char close) {
  ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    return 1;
  }
  return 0;
}

/* A string of printable ASCII without escapes, into buf (size cap). */
static int string(scan *s, char *buf, size_t cap) {
  if (eat(s, '"') != 0)
    return -1;
  size_t n = 0;
  for (; s->p < s->end; s->p++) {
    const unsigned char ch = (unsigned char)*s->p;
    if (ch == '"') {
      s->p++;
      buf[n] = '\0';
      return 0;
    }
    if (ch < 0x20 || ch > 0x7e || ch == '\\' || n + 1 >= cap)
      return -1;
    buf[n++] = (char)ch;
  }
  return -1;
}

/* Index of a string value in names[] (NULL-terminated). */
static int enum_value(scan *s, const char *const *names, int *out) {
  char buf[16];
  if (string(s, buf, sizeof buf) != 0)
    return -1;
  for (int i = 0; names[i] != NULL; i++)
    if (strcmp(buf, names[i]) == 0) {
      *out = i;
      return 0;
    }
  return -1;
}

/* --------------------------------------------------------------- numbers -- */

/* N * 2^e (N = n2:n1:n0, N >= 2^64) rounded to the nearest double, ties to
 * even; -1 unless the result is a normal double. */
static int round_192(uint64_t n2, uint64_t n1, uint64_t n0, int e,
                     double *out) {
  uint64_t top;
  int sticky, bits;
  if (n2 != 0) {
    const int lz = __builtin_clzll(n2);
    top = lz == 0 ? n2 : (n2 << lz) | (n1 >> (64 - lz));
    sticky = (lz == 0 ? n1 : n1 << lz) != 0 || n0 != 0;
    bits = 192 - lz;
  } else if (n1 != 0) {
    const int lz = __builtin_clzll(n1);
    top = lz == 0 ? n1 : (n1 << lz) | (n0 >> (64 - lz));
    sticky = (lz == 0 ? n0 : n0 << lz) != 0;
    bits = 128 - lz;
  } else {
    return -1;
  }
  /* value = (top + s) * 2^(e + bits - 64), 0 <= s < 1, s > 0 iff sticky */
  uint64_t m = top >> 11;
  const uint64_t rest = top & 0x7ff;
  if (rest > 0x400 || (rest == 0x400 && (sticky || (m & 1) != 0)))
    m++;
  int scale = e + bits - 64 + 11; /* value ~ m * 2^scale */
  if (m == (1ULL << 53)) {
    m >>= 1;
    scale++;
  }
  const int biased = scale + 52 + 1023;
  if (biased < 1 || biased > 2046)
    return -1;
  const uint64_t u = ((uint64_t)biased << 52) | (m & ((1ULL << 52) - 1));
  memcpy(out, &u, sizeof u);
  return 0;
}

/* w * 10^q (w > 0) correctly rounded, or -1 when not decided here. With
 * 10^q = (T + f) * 2^e (0 <= f < 1, the table), the exact value lies in
 * [w T, w T + w) * 2^e; rounding is monotonic, so when both ends round to
 * the same double, that is the answer. */
static int decimal_to_double(uint64_t w, int q, double *out) {
  if (q < XS__POW10_MIN || q > XS__POW10_MAX)
    return -1;
  const int k = q - XS__POW10_MIN;
  const u128 plo = (u128)w * xs__pow10[k].lo;
  const u128 phi = (u128)w * xs__pow10[k].hi + (plo >> 64);
  const uint64_t n0 = (uint64_t)plo, n1 = (uint64_t)phi,
                 n2 = (uint64_t)(phi >> 64);
  const uint64_t u0 = n0 + w;
  const uint64_t c0 = u0 < n0;
  const uint64_t u1 = n1 + c0;
  const uint64_t u2 = n2 + (c0 != 0 && u1 == 0);
  double lo, hi;
  if (round_192(n2, n1, n0, xs__pow10[k].e, &lo) != 0 ||
      round_192(u2, u1, u0, xs__pow10[k].e, &hi) != 0 || lo != hi)
    return -1;
  *out = lo;
  return 0;
}

/* strtod on a copy of the token, which must read all of it. */
static int slow_double(const char *t, size_t n, double *out) {
  char buf[128];
  if (n >= sizeof buf)
    return -1;
  memcpy(buf, t, n);
  buf[n] = '\0';
  char *end = NULL;
  const double v = strtod(buf, &end);
  if (end != buf + n)
    return -1;
  *out = v;
  return 0;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight ASCII digits at p (first digit in the lowest byte) as their
 * value, or -1 when the eight bytes are not all digits. */
static int64_t eight_digits(const char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  if ((v & 0xF0F0F0F0F0F0F0F0ULL) != 0x3030303030303030ULL ||
      ((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) !=
          0x3030303030303030ULL)
    return -1;
  v -= 0x3030303030303030ULL;
  v = v * 10 + (v >> 8); /* two-digit values in bytes 0, 2, 4, 6 */
  v = ((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32)) +
       ((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32))) >>
      32;
  return (int64_t)(uint32_t)v;
}
#else
static int64_t eight_digits(const char *p) {
  (void)p;
  return -1;
}
#endif

/* A JSON number token. *is_int: it has neither fraction nor exponent.
 * For an integer token, *iv holds it (at most 18 digits, else -1); for
 * others, *dv holds its double (non-finite: -1, jansson refuses those). */
static int number(scan *s, int *is_int, int64_t *iv, double *dv) {
  const char *p = s->p, *const end = s->end, *const start = p;
  int neg = 0;
  if (p < end && *p == '-') {
    neg = 1;
    p++;
  }
  if (p == end)
    return -1;
  uint64_t w = 0;
  int digits = 0; /* significant digits in w */
  int q = 0;
  int slow = 0;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    do {
      if (digits < 19) {
        w = w * 10 + (uint64_t)(*p - '0');
        digits++;
      } else {
        slow = 1;
      }
      p++;
    } while (p < end && *p >= '0' && *p <= '9');
  } else {
    return -1;
  }
  int real = 0;
  if (p < end && *p == '.') {
    real = 1;
    p++;
    if (p == end || *p < '0' || *p > '9')
      return -1;
    /* Eight digits at a time while w has room (leading zeros then count
     * as significant: at worst a long number takes the strtod path). */
    while (digits <= 11 && end - p >= 8) {
      const int64_t chunk = eight_digits(p);
      if (chunk < 0)
        break;
      w = w * 100000000 + (uint64_t)chunk;
      digits += 8;
      q -= 8;
      p += 8;
    }
    while (p < end && *p >= '0' && *p <= '9') {
      const uint64_t d = (uint64_t)(*p - '0');
      if (w == 0 && d == 0) {
        q--;
      } else if (digits < 19) {
        w = w * 10 + d;
        digits++;
        q--;
      } else {
        slow = 1;
      }
      p++;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    real = 1;
    p++;
    int eneg = 0;
    if (p < end && (*p == '+' || *p == '-')) {
      eneg = *p == '-';
      p++;
    }
    if (p == end || *p < '0' || *p > '9')
      return -1;
    int x = 0;
    do {
      if (x < 100000)
        x = x * 10 + (*p - '0');
      else
        slow = 1;
      p++;
    } while (p < end && *p >= '0' && *p <= '9');
    q += eneg ? -x : x;
  }
  s->p = p;
  *is_int = !real;
  if (!real) {
    if (slow || digits > 18)
      return -1; /* maybe outside long long: jansson decides */
    *iv = neg ? -(int64_t)w : (int64_t)w;
    return 0;
  }
  double v;
  if (!slow && w == 0) {
    v = 0.0;
  } else if (slow || decimal_to_double(w, q, &v) != 0) {
    if (slow_double(start, (size_t)(p - start), dv) != 0 || isinf(*dv))
      return -1;
    return 0;
  }
  *dv = neg ? -v : v;
  return 0;
}

/* A number (integer or real) as jansson's json_number_value gives it. */
static int number_value(scan *s, double *out) {
  int is_int;
  int64_t iv = 0;
  if (number(s, &is_int, &iv, out) != 0)
    return -1;
  if (is_int)
    *out = (double)iv;
  return 0;
}

/* A JSON integer token (json_is_integer). */
static int integer_value(scan *s, int64_t *out) {
  int is_int;
  double dv;
  ws(s);
  if (number(s, &is_int, out, &dv) != 0 || !is_int)
    return -1;
  return 0;
}

/* ------------------------------------------------------------- containers --
 */

/* [n, n, ...] into v (any length, bounded by max elements). */
static int number_array(scan *s, dvec *v) {
  if (eat(s, '[') != 0)
    return -1;
  if (is_empty(s, ']'))
    return 0;
  int more;
  do {
    double x;
    ws(s);
    if (number_value(s, &x) != 0 || dpush(v, x, s->max_elements) != 0)
      return -1;
  } while ((more = next_or_close(s, ']')) == 1);
  return more;
}

static int integer_array(scan *s, ivec *v) {
  if (eat(s, '[') != 0)
    return -1;
  if (is_empty(s, ']'))
    return 0;
  int more;
  do {
    int64_t x;
    if (integer_value(s, &x) != 0 || ipush(v, x, s->max_elements) != 0)
      return -1;
  } while ((more = next_or_close(s, ']')) == 1);
  return more;
}

typedef struct matrix {
  dvec v;
  size_t rows, cols;
} matrix;

/* [[...], ...]: rows of equal length (which may be 0); null is -inf when
 * allowed. Over max rows or max elements: -1 (never a valid request). */
static int matrix_value(scan *s, int allow_null, matrix *m) {
  if (eat(s, '[') != 0)
    return -1;
  if (is_empty(s, ']'))
    return 0;
  int more;
  do {
    if (eat(s, '[') != 0)
      return -1;
    const size_t before = m->v.len;
    if (!is_empty(s, ']')) {
      int more_cols;
      do {
        double x;
        ws(s);
        if (allow_null && s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0) {
          s->p += 4;
          x = -INFINITY;
        } else if (number_value(s, &x) != 0) {
          return -1;
        }
        if (dpush(&m->v, x, s->max_elements) != 0)
          return -1;
      } while ((more_cols = next_or_close(s, ']')) == 1);
      if (more_cols != 0)
        return -1;
    }
    const size_t cols = m->v.len - before;
    if (m->rows == 0)
      m->cols = cols;
    else if (cols != m->cols)
      return -1;
    if (++m->rows > s->max_rows)
      return -1;
  } while ((more = next_or_close(s, ']')) == 1);
  return more;
}

/* -------------------------------------------------------------- request -- */

enum key {
  K_LOGITS,
  K_TARGETS,
  K_SOFT_TARGETS,
  K_LABEL_SMOOTHING,
  K_SMOOTHING,
  K_MIXUP,
  K_CLASS_WEIGHTS,
  K_IGNORE_INDEX,
  K_REDUCTION,
  K_OUTPUTS,
  K_PRECISION,
  K_NUM_CLASSES,
  K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "logits",    "targets", "soft_targets",  "label_smoothing",
    "smoothing", "mixup",   "class_weights", "ignore_index",
    "reduction", "outputs", "precision",     "num_classes"};

#define BIT(k) (1u << (k))
static const unsigned loss_keys =
    BIT(K_LOGITS) | BIT(K_TARGETS) | BIT(K_SOFT_TARGETS) |
    BIT(K_LABEL_SMOOTHING) | BIT(K_SMOOTHING) | BIT(K_MIXUP) |
    BIT(K_CLASS_WEIGHTS) | BIT(K_IGNORE_INDEX) | BIT(K_REDUCTION) |
    BIT(K_OUTPUTS) | BIT(K_PRECISION);
static const unsigned targets_keys =
    BIT(K_TARGETS) | BIT(K_NUM_CLASSES) | BIT(K_LABEL_SMOOTHING) |
    BIT(K_SMOOTHING) | BIT(K_MIXUP) | BIT(K_IGNORE_INDEX) | BIT(K_PRECISION);

/* Everything read, before the checks that need the whole body. */
typedef struct fields {
  unsigned seen;
  matrix logits, soft;
  ivec targets, partners;
  dvec weights, lambda;
  int lambda_seen, lambda_scalar, pairing_seen, pairing_name;
  double label_smoothing;
  int smoothing, reduction, precision;
  int64_t ignore_index, num_classes;
  unsigned outputs;
} fields;

static void fields_free(fields *f) {
  free(f->logits.v.a);
  free(f->soft.v.a);
  free(f->targets.a);
  free(f->partners.a);
  free(f->weights.a);
  free(f->lambda.a);
}

static int mixup_value(scan *s, fields *f) {
  static const char *const pairings[] = {"flip", "roll", NULL};
  if (eat(s, '{') != 0)
    return -1;
  if (is_empty(s, '}'))
    return 0;
  int more;
  do {
    char key[16];
    if (string(s, key, sizeof key) != 0 || eat(s, ':') != 0)
      return -1;
    ws(s);
    if (strcmp(key, "lambda") == 0 && !f->lambda_seen) {
      f->lambda_seen = 1;
      if (s->p < s->end && *s->p == '[') {
        if (number_array(s, &f->lambda) != 0)
          return -1;
      } else {
        double x;
        if (number_value(s, &x) != 0 || dpush(&f->lambda, x, 1) != 0)
          return -1;
        f->lambda_scalar = 1;
      }
    } else if (strcmp(key, "pairing") == 0 && !f->pairing_seen) {
      f->pairing_seen = 1;
      if (s->p < s->end && *s->p == '[') {
        if (integer_array(s, &f->partners) != 0)
          return -1;
      } else if (enum_value(s, pairings, &f->pairing_name) != 0) {
        return -1;
      } else {
        f->pairing_name++; /* 1 flip, 2 roll; 0 stays "an array" */
      }
    } else {
      return -1; /* unknown or repeated */
    }
  } while ((more = next_or_close(s, '}')) == 1);
  return more;
}

static int outputs_value(scan *s, fields *f) {
  static const char *const names[] = {"loss",  "per_sample", "grad", "targets",
                                      "probs", "stats",      NULL};
  if (eat(s, '[') != 0)
    return -1;
  f->outputs = 0;
  if (is_empty(s, ']'))
    return 0;
  int more;
  do {
    int which;
    if (enum_value(s, names, &which) != 0)
      return -1;
    f->outputs |= 1u << which; /* names[] follows the XS_OUT_* bit order */
  } while ((more = next_or_close(s, ']')) == 1);
  return more;
}

static int value(scan *s, fields *f, enum key k) {
  static const char *const smoothings[] = {"uniform", "others", NULL};
  static const char *const precisions[] = {"float64", "float32", NULL};
  static const char *const reductions[] = {"mean", "sum", "none", NULL};
  ws(s);
  switch (k) {
  case K_LOGITS:
    return matrix_value(s, 1, &f->logits);
  case K_SOFT_TARGETS:
    return matrix_value(s, 0, &f->soft);
  case K_TARGETS:
    return integer_array(s, &f->targets);
  case K_CLASS_WEIGHTS:
    return number_array(s, &f->weights);
  case K_LABEL_SMOOTHING:
    return number_value(s, &f->label_smoothing);
  case K_SMOOTHING:
    return enum_value(s, smoothings, &f->smoothing);
  case K_MIXUP:
    return mixup_value(s, f);
  case K_IGNORE_INDEX:
    return integer_value(s, &f->ignore_index);
  case K_REDUCTION:
    return enum_value(s, reductions, &f->reduction);
  case K_OUTPUTS:
    return outputs_value(s, f);
  case K_PRECISION:
    return enum_value(s, precisions, &f->precision);
  case K_NUM_CLASSES:
    return integer_value(s, &f->num_classes);
  case K_COUNT:
    break;
  }
  return -1;
}

/* The whole body: one object of the allowed keys, each at most once. */
static int body_value(scan *s, fields *f, unsigned allowed) {
  if (eat(s, '{') != 0)
    return -1;
  if (!is_empty(s, '}')) {
    int more;
    do {
      char key[24];
      if (string(s, key, sizeof key) != 0 || eat(s, ':') != 0)
        return -1;
      int k = 0;
      while (k < K_COUNT && strcmp(key, key_names[k]) != 0)
        k++;
      if (k == K_COUNT || (allowed & BIT(k)) == 0 || (f->seen & BIT(k)) != 0)
        return -1;
      f->seen |= BIT(k);
      if (value(s, f, (enum key)k) != 0)
        return -1;
    } while ((more = next_or_close(s, '}')) == 1);
    if (more != 0)
      return -1;
  }
  ws(s);
  return s->p == s->end ? 0 : -1;
}

/* mixup as request.c's get_mixup leaves it, for n rows. */
static int mixup_check(const fields *f, size_t n) {
  if ((f->seen & BIT(K_MIXUP)) == 0)
    return 0;
  if (!f->lambda_seen || (!f->lambda_scalar && f->lambda.len != n))
    return -1;
  if (f->pairing_seen && f->pairing_name == 0 && f->partners.len != n)
    return -1;
  return 0;
}

/* Moves the fields into req: the problem exactly as request.c sets it. */
static int build(fields *f, xs_request *req, unsigned outputs) {
  xs__owned *own = calloc(1, sizeof *own);
  if (own == NULL)
    return -1;
  memset(req, 0, sizeof *req);
  xent_problem *pb = &req->problem;
  xent_problem_init(pb);
  if (f->seen & BIT(K_LOGITS)) {
    pb->n = f->logits.rows;
    pb->classes = f->logits.cols;
    pb->dtype = XENT_F64;
    pb->logits = own->logits = f->logits.v.a;
    f->logits.v.a = NULL;
  } else {
    pb->n = f->targets.len;
    pb->classes = (size_t)f->num_classes;
  }
  if (f->seen & BIT(K_TARGETS)) {
    pb->targets = own->targets = f->targets.a;
    f->targets.a = NULL;
  }
  if (f->seen & BIT(K_SOFT_TARGETS)) {
    pb->soft_targets = own->soft_targets = f->soft.v.a;
    f->soft.v.a = NULL;
  }
  if (f->seen & BIT(K_CLASS_WEIGHTS)) {
    pb->class_weights = own->class_weights = f->weights.a;
    f->weights.a = NULL;
  }
  if (f->seen & BIT(K_LABEL_SMOOTHING))
    pb->label_smoothing = f->label_smoothing;
  if (f->seen & BIT(K_SMOOTHING))
    pb->smoothing =
        f->smoothing == 0 ? XENT_SMOOTH_UNIFORM : XENT_SMOOTH_OTHERS;
  if (f->seen & BIT(K_MIXUP)) {
    pb->mixup_lambda = own->lambda = f->lambda.a;
    f->lambda.a = NULL;
    own->lambda_scalar = f->lambda_scalar;
    pb->lambda_count = f->lambda_scalar ? 1 : pb->n;
    if (!f->pairing_seen || f->pairing_name == 1) {
      pb->pairing = XENT_PAIR_FLIP;
    } else if (f->pairing_name == 2) {
      pb->pairing = XENT_PAIR_ROLL;
    } else {
      pb->pairing = XENT_PAIR_EXPLICIT;
      pb->partners = own->partners = f->partners.a;
      f->partners.a = NULL;
    }
  }
  if (f->seen & BIT(K_IGNORE_INDEX))
    pb->ignore_index = f->ignore_index;
  if (f->seen & BIT(K_REDUCTION))
    pb->reduction = f->reduction == 0   ? XENT_REDUCE_MEAN
                    : f->reduction == 1 ? XENT_REDUCE_SUM
                                        : XENT_REDUCE_NONE;
  req->owned = own;
  req->outputs = outputs;
  req->precision = (f->seen & BIT(K_PRECISION)) && f->precision == 1
                       ? XS_FLOAT32
                       : XS_FLOAT64;
  if (pb->reduction == XENT_REDUCE_NONE)
    req->outputs &= ~(unsigned)XS_OUT_LOSS; /* as request.c's finish() */
  return 0;
}

static void scan_init(scan *s, const char *body, size_t len,
                      const xs_limits *lim) {
  s->p = body;
  s->end = body != NULL ? body + len : NULL;
  s->max_elements = lim != NULL ? lim->max_elements : SIZE_MAX;
  s->max_rows = lim != NULL ? lim->max_rows : SIZE_MAX;
}

static int loss_check(const fields *f) {
  const size_t n = f->logits.rows, C = f->logits.cols;
  if ((f->seen & BIT(K_LOGITS)) == 0 || n == 0 || C == 0)
    return -1;
  const int t = (f->seen & BIT(K_TARGETS)) != 0;
  const int st = (f->seen & BIT(K_SOFT_TARGETS)) != 0;
  if (t == st)
    return -1;
  if (t && f->targets.len != n)
    return -1;
  if (st && (f->soft.rows != n || f->soft.cols != C))
    return -1;
  if ((f->seen & BIT(K_CLASS_WEIGHTS)) && f->weights.len != C)
    return -1;
  return mixup_check(f, n);
}

int xs__fast_parse_loss(const char *body, size_t len, const xs_limits *lim,
                        xs_request *req) {
  if (body == NULL)
    return NOT_HANDLED;
  scan s;
  scan_init(&s, body, len, lim);
  fields f;
  memset(&f, 0, sizeof f);
  f.outputs = XS_OUT_LOSS | XS_OUT_PER_SAMPLE | XS_OUT_GRAD;
  int rc = NOT_HANDLED;
  /* matrix_value bounds rows and elements as it goes, so logits within
   * the limits is all that is left to check. */
  if (body_value(&s, &f, loss_keys) == 0 && loss_check(&f) == 0 &&
      build(&f, req, f.outputs) == 0)
    rc = HANDLED;
  fields_free(&f);
  if (rc == HANDLED)
    atomic_fetch_add_explicit(&fast_hits, 1, memory_order_relaxed);
  return rc;
}

int xs__fast_parse_targets(const char *body, size_t len, const xs_limits *lim,
                           xs_request *req) {
  if (body == NULL)
    return NOT_HANDLED;
  scan s;
  scan_init(&s, body, len, lim);
  fields f;
  memset(&f, 0, sizeof f);
  int rc = NOT_HANDLED;
  if (body_value(&s, &f, targets_keys) == 0) {
    const size_t n = f.targets.len;
    const int ok = (f.seen & BIT(K_TARGETS)) && n > 0 &&
                   (f.seen & BIT(K_NUM_CLASSES)) && f.num_classes >= 1 &&
                   n <= s.max_rows &&
                   (uint64_t)f.num_classes <= s.max_elements / n &&
                   mixup_check(&f, n) == 0;
    if (ok && build(&f, req, XS_OUT_TARGETS) == 0)
      rc = HANDLED;
  }
  fields_free(&f);
  if (rc == HANDLED)
    atomic_fetch_add_explicit(&fast_hits, 1, memory_order_relaxed);
  return rc;
}
