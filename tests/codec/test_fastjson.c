/*
 * test_fastjson: the fast request parser (server/fastjson.c) against the
 * jansson path it stands in for. The jansson path is the reference: for
 * every body, either the fast path declines it, or both build the same
 * xs_request (every field, every double bit for bit); and the public
 * xs_parse_loss / xs_parse_targets always answer exactly what the jansson
 * path answers, error message and field included.
 *
 * Bodies: every api/examples folder, a few thousand generated requests
 * (random shapes, options, key order, whitespace and number spellings),
 * mutations of them, and hand-written cases the fast path must decline.
 * Run from the repository root (the examples are read at test time).
 */
#include <check.h>
#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"

typedef enum { LOSS, TARGETS } endpoint;

static const xs_limits limits = {1000000, 10000};

/* ----------------------------------------------------------- comparing -- */

static int fast(endpoint ep, const char *body, size_t len, const xs_limits *lim,
                xs_request *req) {
  return ep == LOSS ? xs__fast_parse_loss(body, len, lim, req)
                    : xs__fast_parse_targets(body, len, lim, req);
}

static int slow(endpoint ep, const char *body, size_t len, const xs_limits *lim,
                xs_request *req, xs_error *err) {
  return ep == LOSS ? xs__parse_loss_jansson(body, len, lim, req, err)
                    : xs__parse_targets_jansson(body, len, lim, req, err);
}

static int public(endpoint ep, const char *body, size_t len,
                  const xs_limits *lim, xs_request *req, xs_error *err) {
  return ep == LOSS ? xs_parse_loss(body, len, lim, req, err)
                    : xs_parse_targets(body, len, lim, req, err);
}

/* Same array contents (both NULL, or both count elements equal bytes). */
static int same_array(const void *a, const void *b, size_t count, size_t size) {
  if ((a == NULL) != (b == NULL))
    return 0;
  return a == NULL || memcmp(a, b, count * size) == 0;
}

/* "" when a and b are the same request, else the first difference. */
static const char *difference(const xs_request *a, const xs_request *b) {
  const xent_problem *p = &a->problem, *q = &b->problem;
  if (a->outputs != b->outputs)
    return "outputs";
  if (a->precision != b->precision)
    return "precision";
  if ((a->owned == NULL) != (b->owned == NULL))
    return "owned";
  if (a->owned != NULL && ((const xs__owned *)a->owned)->lambda_scalar !=
                              ((const xs__owned *)b->owned)->lambda_scalar)
    return "lambda_scalar";
  if (p->n != q->n || p->classes != q->classes)
    return "n / classes";
  if (p->dtype != q->dtype || p->dtype != XENT_F64)
    return "dtype";
  const size_t n = p->n, C = p->classes;
  if (!same_array(p->logits, q->logits, n * C, sizeof(double)))
    return "logits";
  if (!same_array(p->targets, q->targets, n, sizeof(int64_t)))
    return "targets";
  if (!same_array(p->soft_targets, q->soft_targets, n * C, sizeof(double)))
    return "soft_targets";
  if (!same_array(p->class_weights, q->class_weights, C, sizeof(double)))
    return "class_weights";
  if (p->ignore_index != q->ignore_index)
    return "ignore_index";
  if (memcmp(&p->label_smoothing, &q->label_smoothing, sizeof(double)) != 0)
    return "label_smoothing";
  if (p->smoothing != q->smoothing)
    return "smoothing";
  if (p->lambda_count != q->lambda_count)
    return "lambda_count";
  if (!same_array(p->mixup_lambda, q->mixup_lambda, p->lambda_count,
                  sizeof(double)))
    return "mixup_lambda";
  if (p->pairing != q->pairing)
    return "pairing";
  if (!same_array(p->partners, q->partners, n, sizeof(int64_t)))
    return "partners";
  if (p->reduction != q->reduction)
    return "reduction";
  if (p->kernel != q->kernel)
    return "kernel";
  return "";
}

typedef struct outcome {
  int handled; /* the fast path took the body */
  int valid;   /* the jansson path accepted it */
} outcome;

/* The two paths on one body, and the public entry point against the
 * jansson path. Fails the test on any disagreement. */
static outcome compare(endpoint ep, const char *body, size_t len,
                       const xs_limits *lim) {
  xs_request rf, rs, rp;
  xs_error es, ep_err;
  memset(&rf, 0x5a, sizeof rf);
  const xs_request poison = rf;
  const int f = fast(ep, body, len, lim, &rf);
  const int s = slow(ep, body, len, lim, &rs, &es);
  const int p = public(ep, body, len, lim, &rp, &ep_err);
  ck_assert_msg(f == 0 || f == 1, "fast path returned %d", f);
  outcome o = {f == 0, s == 0};
  if (f != 0)
    ck_assert_msg(memcmp(&rf, &poison, sizeof rf) == 0,
                  "declined but wrote the request: %.*s", (int)len, body);
  if (f == 0) {
    ck_assert_msg(s == 0,
                  "fast path took a body jansson refuses (%s, %s): %.*s",
                  es.field, es.message, (int)len, body);
    const char *d = difference(&rf, &rs);
    ck_assert_msg(d[0] == '\0', "fast and jansson differ in %s: %.*s", d,
                  (int)len, body);
  }
  ck_assert_int_eq(p, s);
  ck_assert_int_eq(ep_err.kind, es.kind);
  ck_assert_str_eq(ep_err.field, es.field);
  ck_assert_str_eq(ep_err.message, es.message);
  if (s == 0) {
    const char *d = difference(&rp, &rs);
    ck_assert_msg(d[0] == '\0', "public and jansson differ in %s: %.*s", d,
                  (int)len, body);
  } else {
    ck_assert_ptr_null(rp.owned);
    ck_assert_ptr_null(rs.owned);
  }
  if (f == 0)
    xs_request_free(&rf);
  xs_request_free(&rs);
  xs_request_free(&rp);
  return o;
}

static outcome compare_str(endpoint ep, const char *body) {
  return compare(ep, body, strlen(body), &limits);
}

/* ------------------------------------------------------------- examples -- */

static char *read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  ck_assert_ptr_nonnull(buf);
  for (;;) {
    if (n == cap) {
      ck_assert_msg(cap < ((size_t)1 << 28), "%s: too big", path);
      cap *= 2;
      buf = realloc(buf, cap);
      ck_assert_ptr_nonnull(buf);
    }
    const size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0)
      break;
  }
  fclose(fp);
  *len = n;
  return buf;
}

START_TEST(every_example) {
  const char *root = "api/examples";
  DIR *dir = opendir(root);
  ck_assert_msg(dir != NULL, "cannot open %s (run from the repo root)", root);
  int bodies = 0, handled = 0, valid = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char path[512];
    size_t len = 0;
    endpoint ep = LOSS;
    snprintf(path, sizeof path, "%s/%s/path", root, de->d_name);
    char *route = read_file(path, &len);
    if (route != NULL) {
      while (len > 0 && (route[len - 1] == '\n' || route[len - 1] == ' '))
        len--;
      const int is_targets = len == 11 && memcmp(route, "/v1/targets", 11) == 0;
      const int is_loss = len == 8 && memcmp(route, "/v1/loss", 8) == 0;
      free(route);
      if (!is_targets && !is_loss)
        continue;
      ep = is_targets ? TARGETS : LOSS;
    }
    const char *const names[] = {"request.json", "request.txt"};
    for (int k = 0; k < 2; k++) {
      snprintf(path, sizeof path, "%s/%s/%s", root, de->d_name, names[k]);
      char *body = read_file(path, &len);
      if (body == NULL)
        continue;
      const outcome o = compare(ep, body, len, &limits);
      /* Every valid example is a plain body: the fast path must take it. */
      ck_assert_msg(o.handled == o.valid, "%s: valid %d, handled %d", path,
                    o.valid, o.handled);
      bodies++;
      handled += o.handled;
      valid += o.valid;
      free(body);
    }
  }
  closedir(dir);
  ck_assert_msg(bodies >= 80 && valid >= 30 && handled == valid,
                "%d bodies, %d valid, %d handled", bodies, valid, handled);
}
END_TEST

/* ---------------------------------------------------- generated bodies -- */

static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 2685821657736338717ULL;
}

/* Uniform in [0, k). */
static unsigned pick(unsigned k) {
  return (unsigned)(rnd() % k);
}

typedef struct text {
  char *s;
  size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...) XS__PRINTF(2, 3);
static void add(text *t, const char *fmt, ...) {
  if (t->s == NULL) {
    t->cap = 4096;
    t->s = malloc(t->cap);
    ck_assert_ptr_nonnull(t->s);
  }
  for (int tries = 0; tries < 2; tries++) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    t->cap = (t->cap + (size_t)n) * 2;
    t->s = realloc(t->s, t->cap);
    ck_assert_ptr_nonnull(t->s);
  }
  ck_abort_msg("add: no room");
}

/* JSON whitespace, often none. */
static void space(text *t) {
  static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n", "  "};
  add(t, "%s", ws[pick(8)]);
}

static double random_double(void) {
  for (int tries = 0; tries < 100; tries++) {
    uint64_t bits = rnd();
    double d;
    memcpy(&d, &bits, sizeof d);
    if (isfinite(d))
      return d;
  }
  return 0.5;
}

/* One number, in one of many spellings JSON allows; every one finite. */
static void number(text *t) {
  static const char *const fixed[] = {"0",
                                      "-0",
                                      "0.0",
                                      "-0.0",
                                      "-0e0",
                                      "0E-5",
                                      "1E+2",
                                      "1e2",
                                      "-1E-2",
                                      "5e-324",
                                      "4.9406564584124654e-324",
                                      "2.4703282292062328e-324",
                                      "2.2250738585072011e-308",
                                      "2.2250738585072014e-308",
                                      "1.7976931348623157e308",
                                      "-1.7976931348623157E+308",
                                      "1e-400",
                                      "9007199254740993.0",
                                      "9007199254740993e0",
                                      "123456789012345678",
                                      "-999999999999999999",
                                      "0.1",
                                      "0.30000000000000004",
                                      "1.00000000000000000000000000001",
                                      "3.14159265358979323846264338327950288",
                                      "0.000000000000000000000000000001234"};
  switch (pick(10)) {
  case 0:
    add(t, "%s", fixed[pick(sizeof fixed / sizeof fixed[0])]);
    break;
  case 1:
    add(t, "%.17g", random_double());
    break;
  case 2: /* logit-like: the common case */
  case 3:
    add(t, "%.17g", ((double)(rnd() >> 11) * 0x1p-53 - 0.5) * 20.0);
    break;
  case 4:
    add(t, "%.3f", ((double)(rnd() >> 11) * 0x1p-53 - 0.5) * 2e6);
    break;
  case 5:
    add(t, "%" PRId64,
        (int64_t)(rnd() % 1999999999999999999ULL) -
            (int64_t)999999999999999999LL);
    break;
  case 6: { /* digits and an exponent, in every letter case and sign */
    const int digits = 1 + (int)pick(22);
    if (pick(2))
      add(t, "-");
    add(t, "%d", 1 + (int)pick(9));
    if (digits > 1 && pick(3) != 0) {
      add(t, ".");
      for (int i = 1; i < digits; i++)
        add(t, "%d", (int)pick(10));
    }
    static const char *const e[] = {"e", "E", "e+", "E+", "e-", "E-"};
    const int which = (int)pick(6);
    add(t, "%s%d", e[which], (int)pick(which >= 4 ? 330 : 300));
    break;
  }
  case 7: /* 19 digits near a halfway point between two doubles */
  {
    const double d = random_double();
    const double next = nextafter(d, INFINITY);
    if (!isfinite(next)) {
      add(t, "%.18e", d);
      break;
    }
    const long double mid = (long double)d / 2 + (long double)next / 2;
    add(t, "%.18Le", mid);
    break;
  }
  case 8:
    add(t, "%.18e", random_double());
    break;
  default:
    add(t, "%.17g", ldexp((double)(rnd() >> 11), (int)pick(2070) - 1100));
    break;
  }
}

static void integer(text *t) {
  switch (pick(4)) {
  case 0:
    add(t, "%" PRId64,
        (int64_t)(rnd() % 1999999999999999999ULL) -
            (int64_t)999999999999999999LL);
    break;
  case 1:
    add(t, "-100");
    break;
  default:
    add(t, "%d", (int)pick(8) - 1);
    break;
  }
}

static void number_array(text *t, size_t count) {
  add(t, "[");
  space(t);
  for (size_t i = 0; i < count; i++) {
    if (i > 0) {
      space(t);
      add(t, ",");
      space(t);
    }
    number(t);
  }
  space(t);
  add(t, "]");
}

static void integer_array(text *t, size_t count) {
  add(t, "[");
  for (size_t i = 0; i < count; i++) {
    if (i > 0) {
      space(t);
      add(t, ",");
    }
    space(t);
    integer(t);
  }
  space(t);
  add(t, "]");
}

static void matrix(text *t, size_t n, size_t C, int nulls) {
  add(t, "[");
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      add(t, ",");
    space(t);
    add(t, "[");
    for (size_t j = 0; j < C; j++) {
      if (j > 0) {
        add(t, ",");
        space(t);
      }
      if (nulls && pick(8) == 0)
        add(t, "null");
      else
        number(t);
    }
    add(t, "]");
  }
  space(t);
  add(t, "]");
}

static void mixup(text *t, size_t n) {
  add(t, "{");
  space(t);
  const int lambda_first = (int)pick(2);
  const int pairing = (int)pick(4); /* absent, flip, roll, array */
  for (int part = 0; part < 2; part++) {
    if (part == lambda_first) {
      if (part == 1 && pairing != 0)
        add(t, ",");
      add(t, "\"lambda\"");
      space(t);
      add(t, ":");
      space(t);
      if (pick(2))
        number(t);
      else
        number_array(t, n);
    } else if (pairing != 0) {
      if (part == 1)
        add(t, ",");
      add(t, "\"pairing\":");
      space(t);
      if (pairing == 3)
        integer_array(t, n);
      else
        add(t, pairing == 1 ? "\"flip\"" : "\"roll\"");
    }
    space(t);
  }
  add(t, "}");
}

/* A random request the jansson path accepts. */
static void request(text *t, endpoint ep, size_t n, size_t C) {
  enum { KEYS = 11 };
  const char *order[KEYS];
  int count = 0;
  static const char *const smoothings[] = {"uniform", "others"};
  static const char *const reductions[] = {"mean", "sum", "none"};
  static const char *const precisions[] = {"float64", "float32"};
  static const char *const outputs[] = {"loss",    "per_sample", "grad",
                                        "targets", "probs",      "stats"};
  const int soft = ep == LOSS && pick(3) == 0;
  if (ep == LOSS)
    order[count++] = "logits";
  else
    order[count++] = "num_classes";
  order[count++] = soft ? "soft_targets" : "targets";
  const char *const optional[] = {
      "label_smoothing", "smoothing",     "mixup",     "ignore_index",
      "precision",       "class_weights", "reduction", "outputs"};
  const int n_optional = ep == LOSS ? 8 : 5;
  for (int k = 0; k < n_optional; k++)
    if (pick(2))
      order[count++] = optional[k];
  for (int i = count - 1; i > 0; i--) {
    const int j = (int)pick((unsigned)i + 1);
    const char *tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  space(t);
  add(t, "{");
  for (int k = 0; k < count; k++) {
    const char *key = order[k];
    if (k > 0)
      add(t, ",");
    space(t);
    add(t, "\"%s\"", key);
    space(t);
    add(t, ":");
    space(t);
    if (strcmp(key, "logits") == 0)
      matrix(t, n, C, 1);
    else if (strcmp(key, "soft_targets") == 0)
      matrix(t, n, C, 0);
    else if (strcmp(key, "targets") == 0)
      integer_array(t, n);
    else if (strcmp(key, "num_classes") == 0)
      add(t, "%zu", C);
    else if (strcmp(key, "label_smoothing") == 0)
      number(t);
    else if (strcmp(key, "smoothing") == 0)
      add(t, "\"%s\"", smoothings[pick(2)]);
    else if (strcmp(key, "mixup") == 0)
      mixup(t, n);
    else if (strcmp(key, "ignore_index") == 0)
      integer(t);
    else if (strcmp(key, "precision") == 0)
      add(t, "\"%s\"", precisions[pick(2)]);
    else if (strcmp(key, "class_weights") == 0)
      number_array(t, C);
    else if (strcmp(key, "reduction") == 0)
      add(t, "\"%s\"", reductions[pick(3)]);
    else if (strcmp(key, "outputs") == 0) {
      add(t, "[");
      const int m = (int)pick(8);
      for (int i = 0; i < m; i++)
        add(t, "%s\"%s\"", i > 0 ? ", " : "", outputs[pick(6)]);
      add(t, "]");
    }
    space(t);
  }
  add(t, "}");
  space(t);
}

START_TEST(generated_requests_agree) {
  text t = {NULL, 0, 0};
  int handled = 0, total = 0;
  for (int iter = 0; iter < 3000; iter++) {
    const endpoint ep = pick(4) == 0 ? TARGETS : LOSS;
    const size_t n = 1 + pick(6), C = 1 + pick(7);
    t.len = 0;
    request(&t, ep, n, C);
    /* Limits: none, ample, exactly met, or one short (then 413). */
    const xs_limits exact = {n * C, n};
    const xs_limits short_rows = {n * C, n - 1};
    const xs_limits short_elems = {n * C - 1, n};
    const xs_limits *const lims[] = {NULL,   &limits,     &limits,
                                     &exact, &short_rows, &short_elems};
    const unsigned which = pick(6);
    const outcome o = compare(ep, t.s, t.len, lims[which]);
    const int fits = which < 4;
    ck_assert_msg(o.valid == fits, "jansson %s a generated body: %s",
                  o.valid ? "took" : "refused", t.s);
    ck_assert_msg(o.handled == fits, "fast path %s a generated body: %s",
                  o.handled ? "took" : "declined", t.s);
    handled += o.handled;
    total++;
  }
  free(t.s);
  ck_assert_int_gt(handled, total / 2);
}
END_TEST

/* Many numbers of every spelling: the doubles are those of jansson. */
START_TEST(numbers_agree_bit_for_bit) {
  text t = {NULL, 0, 0};
  for (int iter = 0; iter < 100; iter++) {
    t.len = 0;
    add(&t, "{\"targets\":[0],\"logits\":");
    add(&t, "[");
    number_array(&t, 2000);
    add(&t, "]}");
    const outcome o = compare(LOSS, t.s, t.len, &limits);
    ck_assert_msg(o.valid && o.handled, "valid %d, handled %d", o.valid,
                  o.handled);
  }
  free(t.s);
}
END_TEST

/* Random damage to valid bodies: whatever the fast path takes, jansson
 * takes the same way; the public answer is always jansson's. */
START_TEST(mutated_requests_agree) {
  static const char alphabet[] = "{}[],:\"0-+.eE \\nul1x\xc3\xa9\t";
  text t = {NULL, 0, 0};
  int handled = 0, valid = 0;
  for (int iter = 0; iter < 6000; iter++) {
    const endpoint ep = pick(4) == 0 ? TARGETS : LOSS;
    t.len = 0;
    request(&t, ep, 1 + pick(3), 1 + pick(4));
    const int edits = 1 + (int)pick(2);
    for (int e = 0; e < edits && t.len > 1; e++) {
      const size_t at = pick((unsigned)t.len);
      switch (pick(3)) {
      case 0: /* replace */
        t.s[at] = alphabet[pick(sizeof alphabet - 1)];
        break;
      case 1: /* delete */
        memmove(t.s + at, t.s + at + 1, t.len - at - 1);
        t.len--;
        break;
      default: { /* insert */
        add(&t, " ");
        memmove(t.s + at + 1, t.s + at, t.len - at - 1);
        t.s[at] = alphabet[pick(sizeof alphabet - 1)];
        break;
      }
      }
    }
    const outcome o = compare(ep, t.s, t.len, &limits);
    handled += o.handled;
    valid += o.valid;
  }
  free(t.s);
  /* Some damage leaves a valid body (a digit changed): both kinds occur. */
  ck_assert_int_gt(valid, 0);
  ck_assert_int_gt(handled, 0);
  ck_assert_int_lt(valid, 6000);
}
END_TEST

/* ------------------------------------------------------------ declining -- */

/* The fast path must decline the body; the public answer is jansson's. */
static void declined(endpoint ep, const char *body) {
  xs_request req;
  const int f = fast(ep, body, strlen(body), &limits, &req);
  ck_assert_msg(f == 1, "fast path took: %s", body);
  compare_str(ep, body);
}

/* Declined, and the public answer is this error. */
static void declined_err(endpoint ep, const char *body, xs_err_kind kind,
                         const char *field) {
  declined(ep, body);
  xs_request req;
  xs_error err;
  ck_assert_int_eq(public(ep, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_msg(err.kind == kind && strcmp(err.field, field) == 0,
                "%s: kind %d field \"%s\" (%s)", body, (int)err.kind, err.field,
                err.message);
}

#define OK_TAIL ",\"targets\":[0]}"

START_TEST(invalid_json_declined) {
  const char *const bodies[] = {
      "",
      " ",
      "{",
      "}",
      "[]",
      "null",
      "{\"logits\":[[1]]" OK_TAIL " x",
      "{\"logits\":[[1]]" OK_TAIL "}",
      "{\"logits\":[[1,]]" OK_TAIL,
      "{\"logits\":[[1],]" OK_TAIL,
      "{\"logits\":[[1]],}",
      "{\"logits\" [[1]]" OK_TAIL,
      "{\"logits\":[[1] [2]]" OK_TAIL,
      "{'logits':[[1]]" OK_TAIL,
      "{\"logits\":[[NaN]]" OK_TAIL,
      "{\"logits\":[[nan]]" OK_TAIL,
      "{\"logits\":[[Infinity]]" OK_TAIL,
      "{\"logits\":[[-Infinity]]" OK_TAIL,
      "{\"logits\":[[01]]" OK_TAIL,
      "{\"logits\":[[-01]]" OK_TAIL,
      "{\"logits\":[[00]]" OK_TAIL,
      "{\"logits\":[[1.]]" OK_TAIL,
      "{\"logits\":[[.5]]" OK_TAIL,
      "{\"logits\":[[-.5]]" OK_TAIL,
      "{\"logits\":[[+1]]" OK_TAIL,
      "{\"logits\":[[-]]" OK_TAIL,
      "{\"logits\":[[1e]]" OK_TAIL,
      "{\"logits\":[[1e+]]" OK_TAIL,
      "{\"logits\":[[1.5.3]]" OK_TAIL,
      "{\"logits\":[[0x10]]" OK_TAIL,
      "{\"logits\":[[1 2]]" OK_TAIL,
      "{\"logits\":[[nul]]" OK_TAIL,
      "{\"logits\":[[nulll]]" OK_TAIL,
      "{\"logits\":[[true]]" OK_TAIL,
      "{\"logits\":[[1e309]]" OK_TAIL,
      "{\"logits\":[[-1e400]]" OK_TAIL,
      "{\"logits\":[[99999999999999999999]]" OK_TAIL,
      "{\"logits\":[[1]]\f" OK_TAIL,
      "\xef\xbb\xbf{\"logits\":[[1]]" OK_TAIL,
      "{\"logits\":[[1]],\"targets\":[0],\"reduction\":\"mean}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    declined(LOSS, bodies[i]);
  declined_err(LOSS, "{\"logits\":[[NaN, 1]]" OK_TAIL, XS_ERR_INVALID_JSON, "");
  declined_err(LOSS, "{\"logits\":[[1]]" OK_TAIL "x", XS_ERR_INVALID_JSON, "");
  declined_err(LOSS, "[1]", XS_ERR_INVALID_ARGUMENT, "");
  /* A NUL byte inside the length. */
  const char nul[] = "{\"logits\":[[1]],\0\"targets\":[0]}";
  xs_request req;
  ck_assert_int_eq(fast(LOSS, nul, sizeof nul - 1, &limits, &req), 1);
  compare(LOSS, nul, sizeof nul - 1, &limits);
  ck_assert_int_eq(fast(LOSS, NULL, 0, &limits, &req), 1);
}
END_TEST

START_TEST(keys_and_strings_declined) {
  /* duplicates, at the top and in mixup */
  declined_err(LOSS, "{\"logits\":[[1]],\"logits\":[[2]]" OK_TAIL,
               XS_ERR_INVALID_JSON, "");
  declined_err(
      LOSS, "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"lambda\":0}" OK_TAIL,
      XS_ERR_INVALID_JSON, "");
  declined_err(
      LOSS,
      "{\"logits\":[[1]],\"mixup\":{\"pairing\":\"flip\",\"pairing\":\"roll\","
      "\"lambda\":1}" OK_TAIL,
      XS_ERR_INVALID_JSON, "");
  /* duplicates that would otherwise parse: the later value must not win */
  declined_err(LOSS,
               "{\"logits\":[[1]],\"reduction\":\"sum\",\"reduction\":"
               "\"mean\"" OK_TAIL,
               XS_ERR_INVALID_JSON, "");
  declined_err(TARGETS,
               "{\"targets\":[0],\"num_classes\":2,\"label_smoothing\":0.1,"
               "\"label_smoothing\":0.1}",
               XS_ERR_INVALID_JSON, "");
  declined_err(LOSS, "{\"logits\":[[1]],\"outputs\":[],\"outputs\":[]" OK_TAIL,
               XS_ERR_INVALID_JSON, "");
  /* unknown keys, and keys of the other endpoint */
  declined_err(LOSS, "{\"logits\":[[1]],\"weight\":[1]" OK_TAIL,
               XS_ERR_INVALID_ARGUMENT, "weight");
  declined_err(LOSS, "{\"logits\":[[1]],\"num_classes\":1" OK_TAIL,
               XS_ERR_INVALID_ARGUMENT, "num_classes");
  declined_err(TARGETS,
               "{\"targets\":[0],\"num_classes\":2,\"reduction\":\"sum\"}",
               XS_ERR_INVALID_ARGUMENT, "reduction");
  declined_err(LOSS,
               "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"beta\":2}" OK_TAIL,
               XS_ERR_INVALID_ARGUMENT, "mixup.beta");
  declined(LOSS, "{\"\":1,\"logits\":[[1]]" OK_TAIL);
  /* escapes and non-ASCII: valid JSON, left to jansson */
  const char *const valid[] = {
      "{\"logit\\u0073\":[[1]]" OK_TAIL,
      "{\"logits\":[[1]],\"reduction\":\"su\\u006d\"" OK_TAIL,
      "{\"logits\":[[1]],\"precision\":\"float\\u00332\"" OK_TAIL,
      "{\"logits\":[[1]],\"outputs\":[\"lo\\u0073s\"]" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"pairing\":\"\\/"
      "flip\"}" OK_TAIL,
  };
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    declined(LOSS, valid[i]);
    const outcome o = compare_str(LOSS, valid[i]);
    ck_assert_msg(o.valid == (i != 4), "%s", valid[i]);
  }
  declined(LOSS, "{\"logits\":[[1]],\"reduction\":\"m\xc3\xa9\"" OK_TAIL);
  declined(LOSS, "{\"logits\":[[1]],\"reduction\":\"me\tan\"" OK_TAIL);
  declined(LOSS, "{\"logits\":[[1]],\"reduction\":\"MEAN\"" OK_TAIL);
  declined(
      LOSS,
      "{\"logits\":[[1]],\"reduction\":\"averaged_over_the_batch\"" OK_TAIL);
}
END_TEST

START_TEST(types_and_shapes_declined) {
  const char *const loss[] = {
      "{}",
      "{\"targets\":[0]}",
      "{\"logits\":[[1]]}",
      "{\"logits\":[]" OK_TAIL,
      "{\"logits\":[[]]" OK_TAIL,
      "{\"logits\":[1]" OK_TAIL,
      "{\"logits\":3" OK_TAIL,
      "{\"logits\":null" OK_TAIL,
      "{\"logits\":[[1],[1,2]],\"targets\":[0,0]}",
      "{\"logits\":[[1,2],[1]],\"targets\":[0,0]}",
      "{\"logits\":[[1,\"2\"]]" OK_TAIL,
      "{\"logits\":[[1]],\"targets\":[0,0]}",
      "{\"logits\":[[1]],\"targets\":[]}",
      "{\"logits\":[[1]],\"targets\":0}",
      "{\"logits\":[[1]],\"targets\":[0.0]}",
      "{\"logits\":[[1]],\"targets\":[1e0]}",
      "{\"logits\":[[1]],\"targets\":[null]}",
      "{\"logits\":[[1]],\"targets\":[1234567890123456789]}",
      "{\"logits\":[[1]],\"targets\":[-9223372036854775809]}",
      "{\"logits\":[[1]],\"soft_targets\":[[1]],\"targets\":[0]}",
      "{\"logits\":[[1]],\"soft_targets\":[[1,0]]}",
      "{\"logits\":[[1]],\"soft_targets\":[[null]]}",
      "{\"logits\":[[1]],\"soft_targets\":[[1],[1]]}",
      "{\"logits\":[[1]],\"soft_targets\":[]}",
      "{\"logits\":[[1]],\"class_weights\":[1,2]" OK_TAIL,
      "{\"logits\":[[1]],\"class_weights\":1" OK_TAIL,
      "{\"logits\":[[1]],\"class_weights\":[null]" OK_TAIL,
      "{\"logits\":[[1]],\"label_smoothing\":\"0.1\"" OK_TAIL,
      "{\"logits\":[[1]],\"label_smoothing\":null" OK_TAIL,
      "{\"logits\":[[1]],\"smoothing\":\"other\"" OK_TAIL,
      "{\"logits\":[[1]],\"smoothing\":1" OK_TAIL,
      "{\"logits\":[[1]],\"ignore_index\":-100.0" OK_TAIL,
      "{\"logits\":[[1]],\"ignore_index\":99999999999999999999" OK_TAIL,
      "{\"logits\":[[1]],\"reduction\":null" OK_TAIL,
      "{\"logits\":[[1]],\"outputs\":\"loss\"" OK_TAIL,
      "{\"logits\":[[1]],\"outputs\":[\"loss\",\"gradient\"]" OK_TAIL,
      "{\"logits\":[[1]],\"outputs\":[\"loss\",]" OK_TAIL,
      "{\"logits\":[[1]],\"precision\":\"float16\"" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":1" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"pairing\":\"flip\"}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":[1,1]}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":[]}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":null}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"pairing\":\"none\"}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"pairing\":[0,0]}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"pairing\":[0.0]}" OK_TAIL,
      "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"pairing\":3}" OK_TAIL,
  };
  for (size_t i = 0; i < sizeof loss / sizeof loss[0]; i++)
    declined(LOSS, loss[i]);
  const char *const targets[] = {
      "{\"num_classes\":2}",
      "{\"targets\":[0]}",
      "{\"targets\":[],\"num_classes\":2}",
      "{\"targets\":[0],\"num_classes\":0}",
      "{\"targets\":[0],\"num_classes\":-1}",
      "{\"targets\":[0],\"num_classes\":2.0}",
      "{\"targets\":[0],\"num_classes\":\"2\"}",
      "{\"targets\":[0],\"num_classes\":99999999999999999999}",
      "{\"targets\":[0.5],\"num_classes\":2}",
      "{\"targets\":[0],\"num_classes\":2,\"mixup\":{\"lambda\":[1,1]}}",
      "{\"logits\":[[1]],\"targets\":[0],\"num_classes\":2}",
  };
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
    declined(TARGETS, targets[i]);
}
END_TEST

START_TEST(limits_declined) {
  const xs_limits small = {6, 2};
  const char *const too_big[] = {
      "{\"logits\":[[1,2,3,4,5,6,7]],\"targets\":[0]}",
      "{\"logits\":[[1],[2],[3]],\"targets\":[0,0,0]}",
      "{\"logits\":[[1,2,3,4],[5,6,7,8]],\"targets\":[0,0]}",
  };
  for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
    const char *body = too_big[i];
    xs_request req;
    xs_error err;
    ck_assert_int_eq(fast(LOSS, body, strlen(body), &small, &req), 1);
    compare(LOSS, body, strlen(body), &small);
    ck_assert_int_eq(xs_parse_loss(body, strlen(body), &small, &req, &err), -1);
    ck_assert_int_eq(err.kind, XS_ERR_PAYLOAD_TOO_LARGE);
    ck_assert_str_eq(err.field, "logits");
  }
  const char *fits = "{\"logits\":[[1,2,3],[4,5,6]],\"targets\":[0,0]}";
  ck_assert(compare(LOSS, fits, strlen(fits), &small).handled);
  const char *t = "{\"targets\":[0,1],\"num_classes\":4}";
  ck_assert(!compare(TARGETS, t, strlen(t), &small).handled);
  t = "{\"targets\":[0,1],\"num_classes\":3}";
  ck_assert(compare(TARGETS, t, strlen(t), &small).handled);
}
END_TEST

/* A strict prefix of a JSON object is never JSON: every one is declined. */
START_TEST(every_prefix_declined) {
  const char *const bodies[] = {
      "{\"logits\": [[1.5, null, -2e-3], [0, 1E+2, -0]], \"targets\": [2, "
      "-100], \"mixup\": {\"lambda\": [0.25, 1], \"pairing\": [1, 0]}, "
      "\"outputs\": [\"loss\", \"grad\"], \"reduction\": \"sum\"}",
      "{\"targets\": [1, 0], \"num_classes\": 3, \"label_smoothing\": 0.1, "
      "\"smoothing\": \"others\", \"precision\": \"float32\"}"};
  for (int b = 0; b < 2; b++) {
    const endpoint ep = b == 0 ? LOSS : TARGETS;
    const char *body = bodies[b];
    const size_t len = strlen(body);
    ck_assert(compare(ep, body, len, &limits).handled);
    for (size_t k = 0; k < len; k++) {
      xs_request req;
      ck_assert_msg(fast(ep, body, k, &limits, &req) == 1, "took prefix %zu",
                    k);
      const outcome o = compare(ep, body, k, &limits);
      ck_assert(!o.valid);
    }
  }
}
END_TEST

/* ----------------------------------------------------- the fast path runs --
 */

START_TEST(fast_path_is_taken) {
  const char *body = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
  xs_request req;
  xs_error err;
  unsigned long before = xs__fast_parse_hits();
  ck_assert_int_eq(xs_parse_loss(body, strlen(body), &limits, &req, &err), 0);
  ck_assert_uint_eq(xs__fast_parse_hits(), before + 1);
  /* The values, by hand. */
  ck_assert_uint_eq(req.problem.n, 1);
  ck_assert_uint_eq(req.problem.classes, 3);
  const double *x = req.problem.logits;
  ck_assert(x[0] == 1.0 && x[1] == 2.0 && x[2] == 3.0);
  ck_assert_int_eq(req.problem.targets[0], 2);
  ck_assert_int_eq(req.problem.ignore_index, -100);
  ck_assert_uint_eq(req.outputs, XS_OUT_LOSS | XS_OUT_PER_SAMPLE | XS_OUT_GRAD);
  ck_assert_int_eq(err.kind, XS_ERR_NONE);
  xs_request_free(&req);

  body = "{\"targets\": [1, 0], \"num_classes\": 3, \"mixup\": {\"lambda\": "
         "0.75}}";
  before = xs__fast_parse_hits();
  ck_assert_int_eq(xs_parse_targets(body, strlen(body), &limits, &req, &err),
                   0);
  ck_assert_uint_eq(xs__fast_parse_hits(), before + 1);
  ck_assert(req.problem.mixup_lambda[0] == 0.75 &&
            req.problem.lambda_count == 1);
  ck_assert_uint_eq(req.outputs, XS_OUT_TARGETS);
  xs_request_free(&req);

  /* Declined bodies do not count. */
  body = "{\"logits\": [[1, 2, 3]], \"targets\": [2], \"targets\": [1]}";
  before = xs__fast_parse_hits();
  ck_assert_int_eq(xs_parse_loss(body, strlen(body), &limits, &req, &err), -1);
  ck_assert_uint_eq(xs__fast_parse_hits(), before);
}
END_TEST

/* Values a person can check: -0 is an integer (so +0.0), -0.0 is -0.0,
 * null is -inf, the extremes of the double range. */
START_TEST(values_by_hand) {
  const char *body = "{\"logits\": [[-0, -0.0, null, 5e-324, "
                     "1.7976931348623157e308, 1E+2, 0.1, 1e-400]], "
                     "\"targets\": [0], \"label_smoothing\": -0}";
  xs_request req;
  ck_assert_int_eq(fast(LOSS, body, strlen(body), &limits, &req), 0);
  const double *x = req.problem.logits;
  ck_assert(x[0] == 0.0 && !signbit(x[0]));
  ck_assert(x[1] == 0.0 && signbit(x[1]));
  ck_assert(isinf(x[2]) && x[2] < 0);
  ck_assert(x[3] == 0x1p-1074);
  ck_assert(x[4] == DBL_MAX);
  ck_assert(x[5] == 100.0);
  ck_assert(x[6] == 0x1.999999999999ap-4);
  ck_assert(x[7] == 0.0 && !signbit(x[7]));
  ck_assert(!signbit(req.problem.label_smoothing));
  xs_request_free(&req);
  compare_str(LOSS, body);
}
END_TEST

static Suite *fastjson_suite(void) {
  Suite *s = suite_create("fastjson");
  TCase *te = tcase_create("equivalence");
  tcase_set_timeout(te, 120);
  tcase_add_test(te, every_example);
  tcase_add_test(te, generated_requests_agree);
  tcase_add_test(te, numbers_agree_bit_for_bit);
  tcase_add_test(te, mutated_requests_agree);
  suite_add_tcase(s, te);
  TCase *td = tcase_create("declined");
  tcase_set_timeout(td, 60);
  tcase_add_test(td, invalid_json_declined);
  tcase_add_test(td, keys_and_strings_declined);
  tcase_add_test(td, types_and_shapes_declined);
  tcase_add_test(td, limits_declined);
  tcase_add_test(td, every_prefix_declined);
  suite_add_tcase(s, td);
  TCase *tf = tcase_create("fast");
  tcase_add_test(tf, fast_path_is_taken);
  tcase_add_test(tf, values_by_hand);
  suite_add_tcase(s, tf);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(fastjson_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
