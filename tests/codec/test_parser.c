/*
 * test_parser: the streaming request parser (server/codec/request.c)
 * against the jansson reading of the same bodies (tests/codec/oracle.c),
 * the oracle. For every body both accept it and build the same request
 * (every field, every double bit for bit), or both refuse it with the same
 * error kind and field. And the streaming parser gives the same answer
 * whatever pieces the body arrives in (every split point, byte by byte,
 * random pieces).
 *
 * Bodies: every api/examples folder, a few thousand generated requests
 * (random shapes, options, key order, whitespace and number spellings),
 * mutations of them, and hand-written cases. Run from the repository root
 * (the examples are read at test time).
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
#include "oracle.h"

typedef enum { LOSS, TARGETS } endpoint;

static const xs_limits limits = {1000000, 10000, 1000};

/* ----------------------------------------------------------- comparing -- */

static int oracle(endpoint ep, const char *body, size_t len,
                  const xs_limits *lim, xs_request *req, xs_error *err) {
  return ep == LOSS ? oracle_parse_loss(body, len, lim, req, err)
                    : oracle_parse_targets(body, len, lim, req, err);
}

static unsigned body_of(endpoint ep) {
  return ep == LOSS ? XS_BODY_LOSS : XS_BODY_TARGETS;
}

/* The streaming parser, the whole body in one piece. */
static int stream(endpoint ep, const char *body, size_t len,
                  const xs_limits *lim, xs_request *req, xs_error *err) {
  return xs_parse(body_of(ep), body, len, lim, req, err);
}

/* The streaming parser, the body in pieces of 1..max_piece bytes chosen
 * from seed (max_piece 1: byte by byte). */
static int stream_pieces(endpoint ep, const char *body, size_t len,
                         const xs_limits *lim, xs_request *req, xs_error *err,
                         uint64_t seed, size_t max_piece) {
  xs_parser *p = xs_parser_new(body_of(ep), lim, NULL);
  ck_assert_ptr_nonnull(p);
  size_t at = 0;
  while (at < len) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t k = 1 + (size_t)((seed >> 33) % max_piece);
    if (k > len - at)
      k = len - at;
    xs_parser_feed(p, body + at, k);
    at += k;
  }
  const int rc = xs_parser_finish(p, req, err);
  xs_parser_free(p);
  return rc;
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
  for (int i = 0; i < XS_F_COUNT; i++)
    if (a->forms[i] != b->forms[i])
      return xs_field_get((xs_field_id)i)->path; /* how it was given */
  if (p->n != q->n || p->classes != q->classes)
    return "n / classes";
  if (p->inner != q->inner || p->class_axis != q->class_axis)
    return "inner / class_axis";
  if (a->rank != b->rank || a->flat != b->flat ||
      a->class_axis != b->class_axis ||
      memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) != 0)
    return "the layout (rank, dims, flat, class_axis)";
  if (a->shape_len != b->shape_len ||
      !same_array(a->shape, b->shape, a->shape_len, sizeof(int64_t)))
    return "shape";
  if (p->dtype != q->dtype || (p->logits != NULL && p->dtype != XENT_F64))
    return "dtype";
  const size_t n = p->n * p->inner, C = p->classes;
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
  if (!same_array(p->partners, q->partners, p->n, sizeof(int64_t)))
    return "partners";
  if (p->reduction != q->reduction)
    return "reduction";
  if (p->kernel != q->kernel)
    return "kernel";
  if (p->family != q->family)
    return "loss";
  if (!same_array(p->pos_weight, q->pos_weight, C, sizeof(double)))
    return "pos_weight";
  if (memcmp(&p->target_threshold, &q->target_threshold, sizeof(double)) != 0)
    return "target_threshold";
  if (p->sum_classes != q->sum_classes)
    return "sum_classes";
  if (memcmp(&p->focal_alpha, &q->focal_alpha, sizeof(double)) != 0 ||
      !same_array(p->focal_alpha_per_class, q->focal_alpha_per_class, C,
                  sizeof(double)))
    return "focal_alpha";
  if (memcmp(&p->focal_gamma, &q->focal_gamma, sizeof(double)) != 0)
    return "focal_gamma";
  if (memcmp(&p->poly_epsilon, &q->poly_epsilon, sizeof(double)) != 0)
    return "poly_epsilon";
  return "";
}

/* At most this much of a body in a failure message (Check's limit). */
#define SHOWN(len) ((int)((len) < 300 ? (len) : 300))

typedef struct outcome {
  int valid; /* both accepted it */
} outcome;

static void no_arrays(const xs_request *r, const char *who, const char *body,
                      size_t len) {
  for (int i = 0; i < XS_F_COUNT; i++)
    ck_assert_msg(r->owned[i] == NULL, "%s kept an array after an error: %.*s",
                  who, SHOWN(len), body);
}

static uint64_t piece_seed = 0x9E3779B97F4A7C15ULL;

/* The streaming parser (whole, and in random pieces) and the oracle on one
 * body. Fails the test on any disagreement. */
static outcome compare(endpoint ep, const char *body, size_t len,
                       const xs_limits *lim) {
  xs_request ro, rs, rq;
  xs_error eo, es, eq;
  const int o = oracle(ep, body, len, lim, &ro, &eo);
  const int s = stream(ep, body, len, lim, &rs, &es);
  piece_seed += 0x632BE59BD9B4E019ULL;
  const int q = stream_pieces(ep, body, len, lim, &rq, &eq, piece_seed,
                              1 + (size_t)(piece_seed >> 60));
  /* Whole or in pieces: the same answer. */
  ck_assert_msg(q == s, "pieces %d, whole %d: %.*s", q, s, SHOWN(len), body);
  if (s != 0) {
    ck_assert_msg(eq.kind == es.kind && strcmp(eq.field, es.field) == 0 &&
                      strcmp(eq.message, es.message) == 0,
                  "pieces: %s (%s), whole: %s (%s): %.*s", eq.message, eq.field,
                  es.message, es.field, SHOWN(len), body);
  } else {
    const char *d = difference(&rq, &rs);
    ck_assert_msg(d[0] == '\0', "pieces and whole differ in %s: %.*s", d,
                  SHOWN(len), body);
  }
  /* A raw NUL byte is never JSON. jansson 2.14 drops one that follows a
   * number (its stream puts the byte back and then takes it for the end
   * of its buffer), so on such bodies it is no oracle: the stream must
   * refuse them as invalid JSON, and that is all. */
  if (memchr(body, '\0', len) != NULL) {
    ck_assert_msg(s != 0 && es.kind == XS_ERR_INVALID_JSON,
                  "took a body with a NUL byte: %.*s", SHOWN(len), body);
    if (o == 0)
      oracle_request_free(&ro);
    outcome out = {0};
    return out;
  }
  /* Against the oracle. */
  ck_assert_msg(s == o, "stream %s (%s %s), oracle %s (%s %s): %.*s",
                s == 0 ? "took" : "refused", es.field, es.message,
                o == 0 ? "took" : "refused", eo.field, eo.message, (int)len,
                body);
  if (s == 0) {
    const char *d = difference(&rs, &ro);
    ck_assert_msg(d[0] == '\0', "stream and oracle differ in %s: %.*s", d,
                  SHOWN(len), body);
  } else {
    /* Over a limit, the stream names the first array in the body that
     * passes it (it stops storing there); the oracle, which sees them all,
     * the first in the table's order. */
    const int any_field = es.kind == XS_ERR_PAYLOAD_TOO_LARGE;
    ck_assert_msg(es.kind == eo.kind &&
                      (any_field || strcmp(es.field, eo.field) == 0),
                  "stream: %s %s (%s); oracle: %s %s (%s): %.*s",
                  xs_error_code(es.kind), es.field, es.message,
                  xs_error_code(eo.kind), eo.field, eo.message, (int)len, body);
    no_arrays(&rs, "stream", body, len);
    no_arrays(&rq, "stream in pieces", body, len);
  }
  xs_request_free(&rs);
  xs_request_free(&rq);
  oracle_request_free(&ro);
  outcome out = {s == 0};
  return out;
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
  int bodies = 0, valid = 0;
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
      bodies++;
      valid += o.valid;
      free(body);
    }
  }
  closedir(dir);
  ck_assert_msg(bodies >= 80 && valid >= 30, "%d bodies, %d valid", bodies,
                valid);
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

/* The layout of a generated /v1/loss batch: N x C, or K-dimensional
 * (positions d1..dk, the classes second or last), nested or flat with a
 * shape. */
typedef struct layout {
  size_t n, C;
  int k; /* position dimensions */
  size_t pos[3];
  int last; /* classes on the last axis */
  int flat; /* sent flat, with "shape" */
} layout;

static size_t layout_inner(const layout *l) {
  size_t inner = 1;
  for (int i = 0; i < l->k; i++)
    inner *= l->pos[i];
  return inner;
}

/* The dimensions of an array of the batch: the logits' (with_c) or the
 * targets'. Returns their number. */
static int layout_dims(const layout *l, int with_c, size_t *dims) {
  int r = 0;
  dims[r++] = l->n;
  if (with_c && !l->last)
    dims[r++] = l->C;
  for (int i = 0; i < l->k; i++)
    dims[r++] = l->pos[i];
  if (with_c && l->last)
    dims[r++] = l->C;
  return r;
}

/* A nested array of these dimensions: numbers (nulls too when nulls),
 * or integers (ints). */
static void nested(text *t, const size_t *dims, int rank, int nulls, int ints) {
  add(t, "[");
  for (size_t i = 0; i < dims[0]; i++) {
    if (i > 0)
      add(t, ",");
    space(t);
    if (rank > 1)
      nested(t, dims + 1, rank - 1, nulls, ints);
    else if (ints)
      integer(t);
    else if (nulls && pick(8) == 0)
      add(t, "null");
    else
      number(t);
  }
  add(t, "]");
}

/* An array of the batch, as the layout sends it. */
static void batch_array(text *t, const layout *l, int with_c, int nulls,
                        int ints) {
  size_t dims[XS_MAX_RANK];
  int r = layout_dims(l, with_c, dims);
  if (l->flat) {
    size_t count = 1;
    for (int i = 0; i < r; i++)
      count *= dims[i];
    dims[0] = count;
    r = 1;
  }
  nested(t, dims, r, nulls, ints);
}

/* A random request the jansson path accepts. With kdim, /v1/loss bodies
 * are K-dimensional or flat half of the time. */
static void request_layout(text *t, endpoint ep, const layout *l) {
  enum { KEYS = 24 };
  const char *order[KEYS];
  int count = 0;
  static const char *const smoothings[] = {"uniform", "others", "binary"};
  static const char *const reductions[] = {"mean", "sum", "none"};
  static const char *const precisions[] = {"float64", "float32"};
  static const char *const outputs[] = {
      "loss", "per_sample", "grad", "targets", "probs", "stats", "elementwise"};
  static const char *const losses[] = {"cross_entropy", "binary_cross_entropy",
                                       "sigmoid_focal", "softmax_focal",
                                       "poly1"};
  const size_t n = l->n, C = l->C;
  const int soft = ep == LOSS && pick(3) == 0;
  if (ep == LOSS)
    order[count++] = "logits";
  else
    order[count++] = "num_classes";
  order[count++] = soft ? "soft_targets" : "targets";
  if (l->flat)
    order[count++] = "shape";
  if (l->last || (l->k > 0 && pick(3) == 0))
    order[count++] = "class_axis";
  const char *const optional[] = {
      "label_smoothing", "smoothing",        "mixup",
      "ignore_index",    "precision",        "class_weights",
      "reduction",       "outputs",          "loss",
      "pos_weight",      "target_threshold", "sum_classes",
      "focal_alpha",     "focal_gamma",      "poly_epsilon"};
  const int n_optional = ep == LOSS ? 15 : 5;
  for (int k = 0; k < n_optional; k++)
    if (pick(k < 8 ? 2 : 5) == 0 || (k < 8 && pick(2)))
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
      batch_array(t, l, 1, 1, 0);
    else if (strcmp(key, "soft_targets") == 0)
      batch_array(t, l, 1, 0, 0);
    else if (strcmp(key, "targets") == 0 && ep == LOSS)
      batch_array(t, l, 0, 0, 1);
    else if (strcmp(key, "targets") == 0)
      integer_array(t, n);
    else if (strcmp(key, "shape") == 0) {
      size_t dims[XS_MAX_RANK];
      const int r = layout_dims(l, 1, dims);
      add(t, "[");
      for (int i = 0; i < r; i++)
        add(t, "%s%zu", i > 0 ? "," : "", dims[i]);
      add(t, "]");
    } else if (strcmp(key, "class_axis") == 0) {
      const int rank = 2 + l->k;
      if (l->last)
        add(t, "%d", pick(2) ? -1 : rank - 1);
      else
        add(t, "%d", pick(2) || rank == 2 ? 1 : 1 - rank);
    } else if (strcmp(key, "num_classes") == 0)
      add(t, "%zu", C);
    else if (strcmp(key, "label_smoothing") == 0 ||
             strcmp(key, "target_threshold") == 0 ||
             strcmp(key, "focal_gamma") == 0 ||
             strcmp(key, "poly_epsilon") == 0)
      number(t);
    else if (strcmp(key, "smoothing") == 0)
      add(t, "\"%s\"", smoothings[pick(3)]);
    else if (strcmp(key, "mixup") == 0)
      mixup(t, n);
    else if (strcmp(key, "ignore_index") == 0)
      integer(t);
    else if (strcmp(key, "precision") == 0)
      add(t, "\"%s\"", precisions[pick(2)]);
    else if (strcmp(key, "class_weights") == 0 ||
             strcmp(key, "pos_weight") == 0)
      number_array(t, C);
    else if (strcmp(key, "focal_alpha") == 0) {
      if (pick(2))
        number(t);
      else
        number_array(t, C);
    } else if (strcmp(key, "sum_classes") == 0)
      add(t, pick(2) ? "true" : "false");
    else if (strcmp(key, "loss") == 0)
      add(t, "\"%s\"", losses[pick(5)]);
    else if (strcmp(key, "reduction") == 0)
      add(t, "\"%s\"", reductions[pick(3)]);
    else if (strcmp(key, "outputs") == 0) {
      add(t, "[");
      const int m = (int)pick(8);
      for (int i = 0; i < m; i++)
        add(t, "%s\"%s\"", i > 0 ? ", " : "", outputs[pick(7)]);
      add(t, "]");
    }
    space(t);
  }
  add(t, "}");
  space(t);
}

/* A random layout of n x C: half of the time K-dimensional or flat. */
static layout random_layout(size_t n, size_t C, int kdim) {
  layout l;
  memset(&l, 0, sizeof l);
  l.n = n;
  l.C = C;
  if (kdim && pick(2)) {
    l.k = (int)pick(3);
    for (int i = 0; i < l.k; i++)
      l.pos[i] = 1 + pick(3);
    l.last = l.k > 0 && pick(2);
    l.flat = pick(3) == 0;
  }
  return l;
}

static void request(text *t, endpoint ep, size_t n, size_t C) {
  const layout l = random_layout(n, C, ep == LOSS);
  request_layout(t, ep, &l);
}

START_TEST(generated_requests_agree) {
  text t = {NULL, 0, 0};
  int valid = 0, total = 0;
  for (int iter = 0; iter < 3000; iter++) {
    const endpoint ep = pick(4) == 0 ? TARGETS : LOSS;
    const size_t n = 1 + pick(6), C = 1 + pick(7);
    t.len = 0;
    const layout l = random_layout(n, C, ep == LOSS);
    request_layout(&t, ep, &l);
    const size_t all = n * C * layout_inner(&l);
    /* Limits: none, ample, exactly met, or one short (then 413). The
     * entries of shape count too (at most 4 here). */
    const xs_limits exact = {all < 4 ? 4 : all, n, 1000};
    const xs_limits short_rows = {all, n - 1, 1000};
    const xs_limits short_elems = {all - 1, n, 1000};
    const xs_limits *const lims[] = {NULL,   &limits,     &limits,
                                     &exact, &short_rows, &short_elems};
    const unsigned which = pick(6);
    const outcome o = compare(ep, t.s, t.len, lims[which]);
    const int fits = which < 4;
    ck_assert_msg(o.valid == fits, "%s a generated body: %s",
                  o.valid ? "took" : "refused", t.s);
    valid += o.valid;
    total++;
  }
  free(t.s);
  ck_assert_int_gt(valid, total / 2);
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
    ck_assert_msg(o.valid, "refused: %s", t.s);
  }
  free(t.s);
}
END_TEST

/* Random damage to valid bodies: the streaming parser answers as the
 * oracle does, accepted or refused, with the same error. */
START_TEST(mutated_requests_agree) {
  static const char alphabet[] = "{}[],:\"0-+.eE \\nul1x\xc3\xa9\t";
  text t = {NULL, 0, 0};
  int valid = 0;
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
    valid += o.valid;
  }
  free(t.s);
  /* Some damage leaves a valid body (a digit changed): both kinds occur. */
  ck_assert_int_gt(valid, 0);
  ck_assert_int_lt(valid, 6000);
}
END_TEST

/* ----------------------------------------------------- by-hand bodies -- */

/* The stream and the oracle agree on the body. */
static void agrees(endpoint ep, const char *body) {
  compare_str(ep, body);
}

/* ... and the answer is this error. */
static void answer_is(endpoint ep, const char *body, xs_err_kind kind,
                      const char *field) {
  agrees(ep, body);
  xs_request req;
  xs_error err;
  ck_assert_int_eq(stream(ep, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_msg(err.kind == kind && strcmp(err.field, field) == 0,
                "%s: kind %d field \"%s\" (%s)", body, (int)err.kind, err.field,
                err.message);
}

#define OK_TAIL ",\"targets\":[0]}"

START_TEST(invalid_json_refused) {
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
    ck_assert_msg(!compare_str(LOSS, bodies[i]).valid, "took: %s", bodies[i]);
  answer_is(LOSS, "{\"logits\":[[NaN, 1]]" OK_TAIL, XS_ERR_INVALID_JSON, "");
  answer_is(LOSS, "{\"logits\":[[1]]" OK_TAIL "x", XS_ERR_INVALID_JSON, "");
  answer_is(LOSS, "[1]", XS_ERR_INVALID_ARGUMENT, "");
  /* A NUL byte inside the length. */
  const char nul[] = "{\"logits\":[[1]],\0\"targets\":[0]}";
  ck_assert(!compare(LOSS, nul, sizeof nul - 1, &limits).valid);
  ck_assert(!compare(LOSS, "", 0, &limits).valid);
}
END_TEST

START_TEST(keys_and_strings) {
  /* duplicates, at the top and in mixup */
  answer_is(LOSS, "{\"logits\":[[1]],\"logits\":[[2]]" OK_TAIL,
            XS_ERR_INVALID_JSON, "");
  answer_is(LOSS,
            "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"lambda\":0}" OK_TAIL,
            XS_ERR_INVALID_JSON, "");
  answer_is(
      LOSS,
      "{\"logits\":[[1]],\"mixup\":{\"pairing\":\"flip\",\"pairing\":\"roll\","
      "\"lambda\":1}" OK_TAIL,
      XS_ERR_INVALID_JSON, "");
  /* duplicates that would otherwise parse: the later value must not win */
  answer_is(LOSS,
            "{\"logits\":[[1]],\"reduction\":\"sum\",\"reduction\":"
            "\"mean\"" OK_TAIL,
            XS_ERR_INVALID_JSON, "");
  answer_is(TARGETS,
            "{\"targets\":[0],\"num_classes\":2,\"label_smoothing\":0.1,"
            "\"label_smoothing\":0.1}",
            XS_ERR_INVALID_JSON, "");
  answer_is(LOSS, "{\"logits\":[[1]],\"outputs\":[],\"outputs\":[]" OK_TAIL,
            XS_ERR_INVALID_JSON, "");
  /* unknown keys, and keys of the other endpoint */
  answer_is(LOSS, "{\"logits\":[[1]],\"weight\":[1]" OK_TAIL,
            XS_ERR_INVALID_ARGUMENT, "weight");
  answer_is(LOSS, "{\"logits\":[[1]],\"num_classes\":1" OK_TAIL,
            XS_ERR_INVALID_ARGUMENT, "num_classes");
  answer_is(TARGETS,
            "{\"targets\":[0],\"num_classes\":2,\"reduction\":\"sum\"}",
            XS_ERR_INVALID_ARGUMENT, "reduction");
  answer_is(LOSS,
            "{\"logits\":[[1]],\"mixup\":{\"lambda\":1,\"beta\":2}" OK_TAIL,
            XS_ERR_INVALID_ARGUMENT, "mixup.beta");
  agrees(LOSS, "{\"\":1,\"logits\":[[1]]" OK_TAIL);
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
    agrees(LOSS, valid[i]);
    const outcome o = compare_str(LOSS, valid[i]);
    ck_assert_msg(o.valid == (i != 4), "%s", valid[i]);
  }
  agrees(LOSS, "{\"logits\":[[1]],\"reduction\":\"m\xc3\xa9\"" OK_TAIL);
  agrees(LOSS, "{\"logits\":[[1]],\"reduction\":\"me\tan\"" OK_TAIL);
  agrees(LOSS, "{\"logits\":[[1]],\"reduction\":\"MEAN\"" OK_TAIL);
  agrees(LOSS,
         "{\"logits\":[[1]],\"reduction\":\"averaged_over_the_batch\"" OK_TAIL);
}
END_TEST

START_TEST(types_and_shapes) {
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
    agrees(LOSS, loss[i]);
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
    agrees(TARGETS, targets[i]);
}
END_TEST

/* K-dimensional batches, flat ones with a shape, the loss families'
 * options: the stream and the oracle agree, on these errors too. */
START_TEST(kdim_and_families) {
  const char *const valid[] = {
      "{\"logits\":[[[1,2],[3,4],[5,6]]],\"targets\":[[0,2]]}",
      "{\"logits\":[[[1,2,3],[4,5,6]]],\"targets\":[[0,2]],\"class_axis\":-1}",
      "{\"logits\":[[[1,2,3],[4,5,6]]],\"targets\":[[0,2]],\"class_axis\":2}",
      "{\"logits\":[1,2,3,4,5,6],\"shape\":[1,3,2],\"targets\":[0,2]}",
      "{\"logits\":[1,2,3,4,5,6],\"shape\":[2,3],\"targets\":[0,2]}",
      "{\"logits\":[[[[1],[2]]]],\"soft_targets\":[[[[1],[0]]]]}",
      "{\"logits\":[[1,2]],\"soft_targets\":[[1,0]],\"loss\":"
      "\"binary_cross_entropy\",\"pos_weight\":[1,2],\"target_threshold\":0.5,"
      "\"sum_classes\":true,\"outputs\":[\"elementwise\"],\"smoothing\":"
      "\"binary\"}",
      "{\"logits\":[[1,2]],\"targets\":[1],\"loss\":\"softmax_focal\","
      "\"focal_alpha\":[0.5,0.25],\"focal_gamma\":0}",
      "{\"logits\":[[1,2]],\"targets\":[1],\"loss\":\"poly1\","
      "\"poly_epsilon\":-1}",
  };
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
    ck_assert_msg(compare_str(LOSS, valid[i]).valid, "refused: %s", valid[i]);
  static const struct {
    const char *body, *field;
  } bad[] = {
      {"{\"logits\":[[[1,2],[3]]],\"targets\":[[0,1]]}", "logits[0][1]"},
      {"{\"logits\":[[[1,\"x\"],[3]]],\"targets\":[[0,1]]}", "logits[0][0][1]"},
      {"{\"logits\":[[[1,2],[3,\"x\"]],[[1,2]]],\"targets\":[[0,1],[0,1]]}",
       "logits[0][1][1]"},
      {"{\"logits\":[[[1,2],[3,4]],[[1,\"x\"]]],\"targets\":[[0,1],[0,1]]}",
       "logits[1]"},
      {"{\"logits\":[[[1,[2]]]],\"targets\":[[0]]}", "logits[0][0][1]"},
      {"{\"logits\":[[[1,2]],[3]],\"targets\":[[0],[0]]}", "logits[1][0]"},
      {"{\"logits\":[[[]]],\"targets\":[[0]]}", "logits[0][0]"},
      {"{\"logits\":[[]],\"targets\":[0]}", "logits[0]"},
      {"{\"logits\":[1,2],\"targets\":[0]}", "logits[0]"},
      {"{\"logits\":[[[[[[[[[1]]]]]]]]],\"targets\":[[0]]}",
       "logits[0][0][0][0][0][0][0][0]"},
      {"{\"logits\":[1,2,3,4,5],\"shape\":[2,3],\"targets\":[0,2]}", "shape"},
      {"{\"logits\":[[1,2,3]],\"shape\":[1,3],\"targets\":[0]}", "logits[0]"},
      {"{\"logits\":[1,2],\"shape\":[2],\"targets\":[0]}", "shape"},
      {"{\"logits\":[1,2],\"shape\":[0,2],\"targets\":[0]}", "shape[0]"},
      {"{\"logits\":[1,2],\"shape\":\"1x2\",\"targets\":[0]}", "shape"},
      {"{\"logits\":[1,2],\"shape\":[1,2.0],\"targets\":[0]}", "shape[1]"},
      {"{\"logits\":[1,2],\"shape\":[1,2],\"targets\":[[0]]}", "targets[0]"},
      {"{\"logits\":[1,2,3,4],\"shape\":[1,2,2],\"targets\":[0]}", "targets"},
      {"{\"logits\":[[[1,2,3],[4,5,6]]],\"targets\":[[0,2]],\"class_axis\":0}",
       "class_axis"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"class_axis\":2}", "class_axis"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"class_axis\":1.0}", "class_axis"},
      {"{\"logits\":[[[1,2],[3,4],[5,6]]],\"targets\":[0,2]}", "targets"},
      {"{\"logits\":[[[1,2],[3,4],[5,6]]],\"targets\":[[0,2,1]]}",
       "targets[0]"},
      {"{\"logits\":[[[1,2],[3,4],[5,6]]],\"targets\":[[[0],[2]]]}",
       "targets[0][0]"},
      {"{\"logits\":[[[1,2],[3,4],[5,6]]],\"targets\":[[0,0.5]]}",
       "targets[0][1]"},
      {"{\"logits\":[[[1,2],[3,4]]],\"soft_targets\":[[1,0]]}",
       "soft_targets[0][0]"},
      {"{\"logits\":[[[1,2],[3,4]]],\"soft_targets\":[[[1,0],[0,null]]]}",
       "soft_targets[0][1][1]"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"loss\":\"bce\"}", "loss"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"sum_classes\":1}", "sum_classes"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"focal_alpha\":\"x\"}",
       "focal_alpha"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"focal_alpha\":[1]}",
       "focal_alpha"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"pos_weight\":[1,null]}",
       "pos_weight[1]"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"focal_gamma\":[2]}",
       "focal_gamma"},
      {"{\"logits\":[[1,2]],\"targets\":[0],\"outputs\":[\"elementwis\"]}",
       "outputs[0]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    answer_is(LOSS, bad[i].body, XS_ERR_INVALID_ARGUMENT, bad[i].field);
  /* Every element counts against --max-elements, rows against
   * --max-rows (flat: the shape's N). */
  const xs_limits small = {6, 2, 1000};
  const char *const too_big[] = {
      "{\"logits\":[[[1,2,3,4],[5,6,7,8]]],\"targets\":[[0,0,0,0]]}",
      "{\"logits\":[1,2,3,4,5,6,7],\"shape\":[1,7],\"targets\":[0]}",
      "{\"logits\":[1,2,3],\"shape\":[3,1],\"targets\":[0,0,0]}",
      "{\"logits\":[1,2],\"shape\":[1,2,4],\"targets\":[0]}",
  };
  for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
    const char *body = too_big[i];
    xs_request req;
    xs_error err;
    compare(LOSS, body, strlen(body), &small);
    ck_assert_int_eq(stream(LOSS, body, strlen(body), &small, &req, &err), -1);
    ck_assert_msg(err.kind == XS_ERR_PAYLOAD_TOO_LARGE, "%s: %s", body,
                  err.message);
  }
}
END_TEST

/* The layout a K-dimensional request is read into, and the answer
 * printed in it. */
START_TEST(kdim_values_and_answer) {
  const char *body = "{\"logits\":[[[0,1],[2,3],[4,5]]],\"targets\":[[1,2]],"
                     "\"class_axis\":-1,\"outputs\":[\"per_sample\",\"grad\","
                     "\"probs\"]}";
  xs_request req;
  xs_error err;
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_str_eq(err.field, "targets[0]"); /* 3 positions, C = 2 last */
  body = "{\"logits\":[[[0,1],[2,3],[4,5]]],\"targets\":[[1,0,1]],"
         "\"class_axis\":-1,\"outputs\":[\"per_sample\",\"grad\"]}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_uint_eq(req.problem.n, 1);
  ck_assert_uint_eq(req.problem.classes, 2);
  ck_assert_uint_eq(req.problem.inner, 3);
  ck_assert_int_eq(req.problem.class_axis, XENT_CLASS_AXIS_LAST);
  ck_assert_int_eq(req.rank, 3);
  xs_buf out;
  xs_buf_init(&out);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), 0);
  ck_assert_msg(strncmp(out.data,
                        "{\"n\":1,\"classes\":2,\"shape\":[1,3,2],"
                        "\"per_sample\":[[",
                        strlen("{\"n\":1,\"classes\":2,\"shape\":[1,3,2],"
                               "\"per_sample\":[[")) == 0 &&
                    strstr(out.data, "\"grad\":[[[") != NULL &&
                    strstr(out.data, "]]]}") != NULL,
                "%s", out.data);
  xs_buf_free(&out);
  xs_request_free(&req);
  /* Flat with a shape: flat answers. */
  body = "{\"logits\":[0,1,2,3,4,5],\"shape\":[1,2,3],\"targets\":[1,0,1],"
         "\"outputs\":[\"per_sample\",\"grad\"]}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_uint_eq(req.problem.classes, 2);
  ck_assert_uint_eq(req.problem.inner, 3);
  ck_assert_int_eq(req.problem.class_axis, XENT_CLASS_AXIS_1);
  xs_buf_init(&out);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), 0);
  ck_assert_msg(strstr(out.data, "\"shape\":[1,2,3],\"per_sample\":[") !=
                        NULL &&
                    strstr(out.data, "\"per_sample\":[[") == NULL &&
                    strstr(out.data, "\"grad\":[[") == NULL,
                "%s", out.data);
  xs_buf_free(&out);
  xs_request_free(&req);
  /* An error inside names the nested path, or the flat index. */
  body = "{\"logits\":[[[0,1],[2,3],[4,5]]],\"targets\":[[1,0,7]],"
         "\"class_axis\":-1}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), -1);
  ck_assert_str_eq(err.field, "targets[0][2]");
  xs_request_free(&req);
  body = "{\"logits\":[0,1,2,3,4,null],\"shape\":[1,2,3],\"targets\":[1,0,1]}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), -1);
  ck_assert_str_eq(err.field, "targets[2]"); /* its label's logit is -inf */
  xs_request_free(&req);
  /* Every class of position 2 masked: its class 0 is named, and the
   * message says which classes. */
  body = "{\"logits\":[0,1,null,3,4,null],\"shape\":[1,2,3],\"targets\":[1,0,"
         "1]}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), -1);
  ck_assert_str_eq(err.field, "logits[2]");
  ck_assert_msg(strstr(err.message, "logits[0][:][2]") != NULL, "%s",
                err.message);
  xs_request_free(&req);
  body = "{\"logits\":[[[0,1,null],[3,4,null]]],\"targets\":[[1,0,1]]}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), -1);
  ck_assert_str_eq(err.field, "logits[0][0][2]");
  xs_request_free(&req);
  body = "{\"logits\":[[[0,3],[1,4],[null,null]]],\"targets\":[[1,0,1]],"
         "\"class_axis\":-1}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), -1);
  ck_assert_str_eq(err.field, "logits[0][2]"); /* the classes, one array */
  xs_request_free(&req);
  xs_buf_free(&out);
}
END_TEST

START_TEST(limits_are_413) {
  const xs_limits small = {6, 2, 1000};
  const char *const too_big[] = {
      "{\"logits\":[[1,2,3,4,5,6,7]],\"targets\":[0]}",
      "{\"logits\":[[1],[2],[3]],\"targets\":[0,0,0]}",
      "{\"logits\":[[1,2,3,4],[5,6,7,8]],\"targets\":[0,0]}",
  };
  for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
    const char *body = too_big[i];
    xs_request req;
    xs_error err;
    compare(LOSS, body, strlen(body), &small);
    ck_assert_int_eq(stream(LOSS, body, strlen(body), &small, &req, &err), -1);
    ck_assert_int_eq(err.kind, XS_ERR_PAYLOAD_TOO_LARGE);
    ck_assert_str_eq(err.field, "logits");
  }
  const char *fits = "{\"logits\":[[1,2,3],[4,5,6]],\"targets\":[0,0]}";
  ck_assert(compare(LOSS, fits, strlen(fits), &small).valid);
  const char *t = "{\"targets\":[0,1],\"num_classes\":4}";
  ck_assert(!compare(TARGETS, t, strlen(t), &small).valid);
  t = "{\"targets\":[0,1],\"num_classes\":3}";
  ck_assert(compare(TARGETS, t, strlen(t), &small).valid);
}
END_TEST

/* A strict prefix of a JSON object is never JSON: every one is refused. */
START_TEST(every_prefix_refused) {
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
    ck_assert(compare(ep, body, len, &limits).valid);
    for (size_t k = 0; k < len; k++) {
      const outcome o = compare(ep, body, k, &limits);
      ck_assert_msg(!o.valid, "took prefix %zu", k);
    }
  }
}
END_TEST

/* ------------------------------------------------------ values by hand -- */

START_TEST(values_of_a_request) {
  const char *body = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
  xs_request req;
  xs_error err;
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
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
  ck_assert_int_eq(stream(TARGETS, body, strlen(body), &limits, &req, &err), 0);
  ck_assert(req.problem.mixup_lambda[0] == 0.75 &&
            req.problem.lambda_count == 1);
  ck_assert_int_eq(req.forms[XS_F_MIXUP_LAMBDA], XS_FORM_SCALAR);
  ck_assert_uint_eq(req.problem.classes, 3);
  ck_assert_uint_eq(req.outputs, XS_OUT_TARGETS);
  xs_request_free(&req);
}
END_TEST

/* Values a person can check: -0 is an integer (so +0.0), -0.0 is -0.0,
 * null is -inf, the extremes of the double range. */
START_TEST(values_by_hand) {
  const char *body = "{\"logits\": [[-0, -0.0, null, 5e-324, "
                     "1.7976931348623157e308, 1E+2, 0.1, 1e-400]], "
                     "\"targets\": [0], \"label_smoothing\": -0}";
  xs_request req;
  xs_error err;
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), 0);
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

/* Escapes in keys and names, any whitespace, keys in any order: the same
 * request as the plain body. */
START_TEST(spellings_of_one_request) {
  const char *plain = "{\"logits\":[[1,2],[3,4]],\"targets\":[1,0],"
                      "\"reduction\":\"sum\",\"mixup\":{\"lambda\":0.5}}";
  const char *const others[] = {
      "{\"logit\\u0073\":[[1,2],[3,4]],\"targets\":[1,0],"
      "\"reduction\":\"su\\u006d\",\"mixup\":{\"lambd\\u0061\":0.5}}",
      " \n{ \"mixup\" :{\"lambda\":5e-1}\t,\"reduction\":\"sum\" ,\r\n"
      "\"targets\":[ 1 , 0 ],\"logits\":[[1.0,2E0],[30e-1,0.4e1]]}\n ",
      "{\"targets\":[1,0],\"logits\":[[1,2],[3,4]],\"mixup\":{\"lambda\":0.5},"
      "\"reduction\":\"\\u0073um\"}",
  };
  xs_request want, got;
  xs_error err;
  ck_assert_int_eq(stream(LOSS, plain, strlen(plain), &limits, &want, &err), 0);
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    ck_assert_msg(
        stream(LOSS, others[i], strlen(others[i]), &limits, &got, &err) == 0,
        "%s: %s", others[i], err.message);
    const char *d = difference(&got, &want);
    ck_assert_msg(d[0] == '\0', "%s differs in %s", others[i], d);
    xs_request_free(&got);
    compare_str(LOSS, others[i]);
  }
  xs_request_free(&want);
}
END_TEST

/* Every split point of a body, and byte by byte: the same answer, for a
 * valid body and for bodies whose error sits at each kind of token. */
START_TEST(every_split_point) {
  const char *const bodies[] = {
      "{\"logits\": [[1.5, null, -2e-3], [0, 1E+2, -0]], \"targets\": [2, "
      "-100], \"mixup\": {\"lambda\": [0.25, 1], \"pairing\": [1, 0]}, "
      "\"outputs\": [\"loss\", \"grad\"], \"reduction\": \"s\\u0075m\"}",
      "{\"logits\": [[1.5, nan, 2]], \"targets\": [0]}",
      "{\"logits\": [[1.5, 2]], \"targets\": [0], \"k\\u00e9y\": [1]}",
      "{\"logits\": [[1.5, 2]], \"targets\": [0.5]}",
      "{\"logits\": [[1.5, 2]], \"targets\": [0], \"targets\": [1]}",
      "{\"logits\": [[1.5, 2]], \"targets\": [0]} x",
      "{\"logits\": [[1.5, -Infinity]], \"targets\": [0]}",
  };
  for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
    const char *body = bodies[b];
    const size_t len = strlen(body);
    xs_request want, got;
    xs_error ew, eg;
    const int rw = stream(LOSS, body, len, &limits, &want, &ew);
    for (size_t k = 0; k <= len; k++) {
      xs_parser *p = xs_parser_new(XS_BODY_LOSS, &limits, NULL);
      xs_parser_feed(p, body, k);
      xs_parser_feed(p, body + k, len - k);
      const int rg = xs_parser_finish(p, &got, &eg);
      xs_parser_free(p);
      ck_assert_msg(rg == rw, "split at %zu: %d, whole %d: %s", k, rg, rw,
                    body);
      if (rw == 0) {
        const char *d = difference(&got, &want);
        ck_assert_msg(d[0] == '\0', "split at %zu differs in %s", k, d);
        xs_request_free(&got);
      } else {
        ck_assert_msg(eg.kind == ew.kind && strcmp(eg.field, ew.field) == 0,
                      "split at %zu: %s (%s), whole %s (%s)", k, eg.message,
                      eg.field, ew.message, ew.field);
      }
    }
    xs_request got1;
    xs_error e1;
    ck_assert_int_eq(stream_pieces(LOSS, body, len, &limits, &got1, &e1, 1, 1),
                     rw);
    if (rw == 0) {
      ck_assert_str_eq(difference(&got1, &want), "");
      xs_request_free(&got1);
      xs_request_free(&want);
    } else {
      ck_assert_str_eq(e1.message, ew.message);
    }
  }
}
END_TEST

/* Syntax errors carry their line and column. */
START_TEST(line_and_column) {
  const char *body = "{\"logits\": [[1, 2],\n  [3, 4x]],\n \"targets\": [0]}";
  xs_request req;
  xs_error err;
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_int_eq(err.kind, XS_ERR_INVALID_JSON);
  ck_assert_msg(strstr(err.message, "line 2, column 7") != NULL, "%s",
                err.message);
  body = "{\"logits\": [[1, 2]],\n\"targets\": [0],\n\"x\": NaN}";
  ck_assert_int_eq(stream(LOSS, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_msg(strstr(err.message, "line 3, column 6") != NULL &&
                    strstr(err.message, "send null") != NULL,
                "%s", err.message);
}
END_TEST

/* A budget that keeps spares hands a freed large block to the next block
 * of the same mapped size (2 MiB steps), gives every spare back before
 * mapping any other, keeps at most its maximum and XS_SPARE_SLOTS blocks,
 * and counts none of them as reserved. */
START_TEST(spare_blocks) {
  enum { MIB = 1 << 20 };
  xs_budget budget;
  xs_budget_init(&budget, 256 * MIB);
  xs_budget_keep_spares(&budget, 8 * MIB);
  xs_mem mem = {&budget, 0, 0};
  xs_error err;
  char *p = xs__alloc(&mem, 3 * MIB, &err); /* a 4 MiB mapping */
  ck_assert_ptr_nonnull(p);
  memset(p, 0x5A, 3 * MIB);
  xs__free(&mem, p, 3 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 4 * MIB);
  char *q = xs__alloc(&mem, 3 * MIB + MIB / 2, &err); /* 4 MiB again */
  ck_assert_ptr_eq(q, p);
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  ck_assert_int_eq(q[3 * MIB - 1], 0x5A); /* the same bytes: not cleared */
  xs__free(&mem, q, 3 * MIB + MIB / 2);
  char *r = xs__alloc(&mem, MIB, &err); /* 2 MiB: the 4 MiB spare goes */
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  xs__free(&mem, r, MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 2 * MIB);
  /* Five 2 MiB blocks freed: four slots, 8 MiB kept, every byte of them
   * touched, so all resident whatever the page size. */
  char *five[5];
  for (int i = 0; i < 5; i++) {
    five[i] = xs__alloc(&mem, 2 * MIB, &err);
    ck_assert_ptr_nonnull(five[i]);
    memset(five[i], i, 2 * MIB);
  }
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  for (int i = 0; i < 5; i++)
    xs__free(&mem, five[i], 2 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 8 * MIB);
  ck_assert_uint_eq(xs_budget_spare_resident(&budget), 8 * MIB);
  /* Larger than the maximum: never kept. */
  char *big = xs__alloc(&mem, 10 * MIB, &err);
  ck_assert_ptr_nonnull(big);
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  xs__free(&mem, big, 10 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  /* Growing a block moves it: the old mapping becomes a spare. */
  void *g = NULL;
  ck_assert_int_eq(xs__realloc(&mem, &g, 0, MIB, &err), 0);
  ck_assert_int_eq(xs__realloc(&mem, &g, MIB, 3 * MIB, &err), 0);
  ck_assert_uint_eq(xs_budget_spare(&budget), 2 * MIB);
  xs__free(&mem, g, 3 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 6 * MIB);
  /* Spares are no request's: the share and the budget are empty. */
  ck_assert_uint_eq(mem.used, 0);
  xs_mem_close(&mem);
  ck_assert_uint_eq(xs_budget_used(&budget), 0);
  xs_budget_close(&budget);
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  /* The slot limit alone: five 2 MiB blocks under a 16 MiB maximum keep
   * four. The byte limit alone: 6 MiB kept, then another 6 MiB block is
   * not (12 MiB would pass 8). A block shrunk in place is kept at its new
   * mapped size and handed to the next block of that size. */
  xs_budget_keep_spares(&budget, 16 * MIB);
  xs_mem m1 = {&budget, 0, 0};
  for (int i = 0; i < 5; i++)
    five[i] = xs__alloc(&m1, 2 * MIB, &err);
  for (int i = 0; i < 5; i++)
    xs__free(&m1, five[i], 2 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 8 * MIB);
  xs_budget_close(&budget);
  xs_budget_keep_spares(&budget, 8 * MIB);
  char *six_a = xs__alloc(&m1, 6 * MIB, &err);
  char *six_b = xs__alloc(&m1, 6 * MIB, &err);
  ck_assert(six_a != NULL && six_b != NULL);
  xs__free(&m1, six_a, 6 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 6 * MIB);
  xs__free(&m1, six_b, 6 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 6 * MIB);
  void *s5 = NULL;
  ck_assert_int_eq(xs__realloc(&m1, &s5, 0, 5 * MIB, &err), 0); /* 6 MiB */
  ck_assert_ptr_eq(s5, six_a);
  ck_assert_int_eq(xs__realloc(&m1, &s5, 5 * MIB, MIB, &err), 0);
  ck_assert_ptr_eq(s5, six_a); /* shrunk in place to 2 MiB */
  xs__free(&m1, s5, MIB);
  ck_assert_uint_eq(xs_budget_spare(&budget), 2 * MIB);
  char *two = xs__alloc(&m1, 2 * MIB, &err);
  ck_assert_ptr_eq(two, six_a);
  xs__free(&m1, two, 2 * MIB);
  ck_assert_uint_eq(m1.used, 0);
  xs_mem_close(&m1);
  xs_budget_close(&budget);
  ck_assert_uint_eq(xs_budget_spare(&budget), 0);
  ck_assert_uint_eq(xs_budget_used(&budget), 0);
  /* A budget that keeps none (every test's and fuzzer's): unmapped. */
  xs_budget none;
  xs_budget_init(&none, 256 * MIB);
  xs_mem m2 = {&none, 0, 0};
  p = xs__alloc(&m2, 3 * MIB, &err);
  ck_assert_ptr_nonnull(p);
  xs__free(&m2, p, 3 * MIB);
  ck_assert_uint_eq(xs_budget_spare(&none), 0);
  xs_mem_close(&m2);
}
END_TEST

/* The request's arrays are held in its memory share, and given back. */
START_TEST(memory_is_accounted) {
  xs_budget budget;
  xs_budget_init(&budget, 1 << 20);
  xs_mem mem = {&budget, 0, 0};
  const char *body = "{\"logits\": [[1, 2, 3], [4, 5, 6]], \"targets\": [2, 0],"
                     " \"class_weights\": [1, 1, 2]}";
  xs_parser *p = xs_parser_new(XS_BODY_LOSS, &limits, &mem);
  xs_parser_feed(p, body, strlen(body));
  xs_request req;
  xs_error err;
  ck_assert_int_eq(xs_parser_finish(p, &req, &err), 0);
  xs_parser_free(p);
  /* 6 logits, 2 targets, 3 weights: 11 * 8 bytes, once trimmed. */
  ck_assert_uint_eq(mem.used, 11 * 8);
  xs_mem_trim(&mem);
  ck_assert_uint_eq(xs_budget_used(&budget), 11 * 8);
  xs_response *resp = NULL;
  ck_assert_int_eq(xs_run(&req, &mem, &resp, &err), 0);
  /* per_sample 2, grad 6 doubles on top. */
  ck_assert_uint_eq(mem.used, (11 + 2 + 6) * 8);
  xs_request_free(&req);
  xs_response_free(resp);
  ck_assert_uint_eq(mem.used, 0);
  xs_mem_close(&mem);
  ck_assert_uint_eq(xs_budget_used(&budget), 0);

  /* A budget too small for the arrays: 413 (never fits). */
  xs_budget tiny;
  xs_budget_init(&tiny, 100);
  xs_mem m2 = {&tiny, 0, 0};
  p = xs_parser_new(XS_BODY_LOSS, &limits, &m2);
  xs_parser_feed(p, body, strlen(body));
  ck_assert_int_eq(xs_parser_finish(p, &req, &err), -1);
  ck_assert_int_eq(err.kind, XS_ERR_PAYLOAD_TOO_LARGE);
  xs_parser_free(p);
  ck_assert_uint_eq(m2.used, 0);
  xs_mem_close(&m2);
  ck_assert_uint_eq(xs_budget_used(&tiny), 0);

  /* A budget held by another request: 429 (fits, but not now). */
  xs_mem other = {&budget, 0, 0};
  ck_assert_int_eq(xs_mem_reserve(&other, (1 << 20) - 64, &err), 0);
  xs_mem m3 = {&budget, 0, 0};
  p = xs_parser_new(XS_BODY_LOSS, &limits, &m3);
  xs_parser_feed(p, body, strlen(body));
  ck_assert_int_eq(xs_parser_finish(p, &req, &err), -1);
  ck_assert_int_eq(err.kind, XS_ERR_OVERLOADED);
  xs_parser_free(p);
  xs_mem_close(&m3);
  xs_mem_close(&other);
  ck_assert_uint_eq(xs_budget_used(&budget), 0);
}
END_TEST

static Suite *parser_suite(void) {
  Suite *s = suite_create("parser");
  TCase *te = tcase_create("against the oracle");
  tcase_set_timeout(te, 120);
  tcase_add_test(te, every_example);
  tcase_add_test(te, generated_requests_agree);
  tcase_add_test(te, numbers_agree_bit_for_bit);
  tcase_add_test(te, mutated_requests_agree);
  suite_add_tcase(s, te);
  TCase *td = tcase_create("by hand");
  tcase_set_timeout(td, 60);
  tcase_add_test(td, invalid_json_refused);
  tcase_add_test(td, keys_and_strings);
  tcase_add_test(td, types_and_shapes);
  tcase_add_test(td, limits_are_413);
  tcase_add_test(td, kdim_and_families);
  tcase_add_test(td, kdim_values_and_answer);
  tcase_add_test(td, every_prefix_refused);
  tcase_add_test(td, values_of_a_request);
  tcase_add_test(td, values_by_hand);
  tcase_add_test(td, spellings_of_one_request);
  tcase_add_test(td, every_split_point);
  tcase_add_test(td, line_and_column);
  tcase_add_test(td, memory_is_accounted);
  tcase_add_test(td, spare_blocks);
  suite_add_tcase(s, td);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(parser_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
