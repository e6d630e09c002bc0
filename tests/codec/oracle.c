/*
 * oracle.c - the jansson reading of a request body, the oracle that the
 * streaming parser (server/codec/request.c) is held to by the differential
 * tests and fuzzers. It was xentd's own parser before the streaming one:
 * jansson builds the whole tree, then the fields are read from it.
 *
 * Checks run in a fixed order, and the first failure is reported with the
 * JSON path of the offending value: unknown keys (document order), then
 * logits, targets / soft_targets, class_weights, label_smoothing,
 * smoothing, mixup, ignore_index, reduction, outputs, precision. Values are
 * checked here for type and shape only; ranges (labels, eps, lambda,
 * partners, weights) are the library's to check, so that the service and
 * the library cannot disagree about them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "codec_priv.h"
#include "oracle.h"

/* What the jansson path allocates; moved into xs_request.owned. */
typedef struct xs__owned {
  double *logits;
  int64_t *targets;
  double *soft_targets;
  double *class_weights;
  double *lambda;
  int64_t *partners;
  int lambda_scalar; /* mixup.lambda was one number, not an array */
} xs__owned;

typedef struct ctx {
  const xs_limits *lim;
  xs_error *err;
  xs__owned *own;
  xent_problem *pb;
  unsigned outputs;
  xs_precision precision;
} ctx;

/* 400 invalid_argument naming `field`. Always returns -1. */
static int bad(ctx *c, const char *field, const char *fmt, ...)
    XS__PRINTF(3, 4);
static int bad(ctx *c, const char *field, const char *fmt, ...) {
  char msg[sizeof c->err->message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char path[sizeof c->err->field];
  xs__copy_utf8(path, sizeof path, field, strlen(field));
  field = path;
  xs__set_error(c->err, XS_ERR_INVALID_ARGUMENT, field, "%s %s", field, msg);
  return -1;
}

static int too_large(ctx *c, const char *field, size_t rows, size_t cols) {
  xs__set_error(c->err, XS_ERR_PAYLOAD_TOO_LARGE, field,
                "%s: %zu x %zu is over the limits of this server (%zu rows, "
                "%zu elements)",
                field, rows, cols, c->lim->max_rows, c->lim->max_elements);
  return -1;
}

static int no_memory(ctx *c) {
  xs__set_error(c->err, XS_ERR_INTERNAL, "", "out of memory");
  return -1;
}

/* malloc of count elements of size bytes, overflow-checked; count may be 0. */
static void *alloc_array(size_t count, size_t size) {
  if (count > SIZE_MAX / size)
    return NULL;
  return malloc(count * size == 0 ? 1 : count * size);
}

/* ------------------------------------------------------------ JSON text -- */

static int is_delim(char ch) {
  return ch == '[' || ch == ']' || ch == ',' || ch == ':' || ch == '{' ||
         ch == '}' || ch == '-' || ch == '+' || ch == ' ' || ch == '\t' ||
         ch == '\n' || ch == '\r';
}

/* Does the text hold a bare NaN / Infinity / inf token (as Python's json
 * and numpy print them)? Only consulted when parsing failed. */
static int has_nonfinite_literal(const char *s, size_t len) {
  static const char *const words[] = {"infinity", "nan", "inf"};
  for (size_t i = 0; i < len; i++) {
    if (i > 0 && !is_delim(s[i - 1]))
      continue;
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
      const size_t k = strlen(words[w]);
      if (len - i < k)
        continue;
      size_t j = 0;
      while (j < k && (s[i + j] | 0x20) == words[w][j])
        j++;
      if (j == k && (i + k == len || is_delim(s[i + k])))
        return 1;
    }
  }
  return 0;
}

static json_t *load(const char *body, size_t len, xs_error *err) {
  json_error_t je;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (root != NULL) {
    if (!json_is_object(root)) {
      json_decref(root);
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "",
                    "the request body must be a JSON object");
      return NULL;
    }
    return root;
  }
  /* jansson's text may quote the input: keep it to printable ASCII. */
  char text[sizeof je.text];
  size_t k = 0;
  for (; k + 1 < sizeof text && je.text[k] != '\0'; k++) {
    const unsigned char ch = (unsigned char)je.text[k];
    text[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  text[k] = '\0';
  const int line = je.line > 0 ? je.line : 1;
  const int column = je.column > 0 ? je.column : 1;
  if (has_nonfinite_literal(body, len))
    xs__set_error(err, XS_ERR_INVALID_JSON, "",
                  "invalid JSON at line %d, column %d: JSON has no NaN or "
                  "Infinity; send null for a masked class (-inf)",
                  line, column);
  else
    xs__set_error(err, XS_ERR_INVALID_JSON, "",
                  "invalid JSON at line %d, column %d: %s", line, column, text);
  return NULL;
}

/* Unknown keys, in document order. prefix is "" or "mixup.". */
static int check_keys(ctx *c, json_t *obj, const char *const *allowed,
                      const char *prefix) {
  const char *key;
  json_t *value;
  json_object_foreach(obj, key, value) {
    int known = 0;
    for (size_t i = 0; allowed[i] != NULL; i++)
      if (strcmp(key, allowed[i]) == 0)
        known = 1;
    if (!known) {
      char field[sizeof c->err->field];
      snprintf(field, sizeof field, "%s%s", prefix, key);
      return bad(c, field, "is not a known field");
    }
  }
  return 0;
}

/* --------------------------------------------------------------- values -- */

static int get_number(ctx *c, json_t *v, const char *field, double *out) {
  if (!json_is_number(v))
    return bad(c, field, "must be a number");
  *out = json_number_value(v);
  return 0;
}

static int get_int(ctx *c, json_t *v, const char *field, int64_t *out) {
  if (!json_is_integer(v))
    return bad(c, field, "must be an integer");
  *out = (int64_t)json_integer_value(v);
  return 0;
}

/* One of names[] (NULL-terminated); its index in *out. */
static int get_enum(ctx *c, json_t *v, const char *field,
                    const char *const *names, int *out) {
  const char *s = json_string_value(v);
  if (s != NULL)
    for (int i = 0; names[i] != NULL; i++)
      if (strcmp(s, names[i]) == 0) {
        *out = i;
        return 0;
      }
  char list[128] = "";
  for (int i = 0; names[i] != NULL; i++) {
    const size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s\"%s\"", i > 0 ? ", " : "",
             names[i]);
  }
  return bad(c, field, "must be one of %s", list);
}

/* An array of exactly n numbers (JSON integers or reals). */
static int get_vector(ctx *c, json_t *v, const char *name, size_t n,
                      double **out) {
  if (!json_is_array(v))
    return bad(c, name, "must be an array of %zu numbers", n);
  if (json_array_size(v) != n)
    return bad(c, name, "has %zu entries, expected %zu", json_array_size(v), n);
  double *a = alloc_array(n, sizeof *a);
  if (a == NULL)
    return no_memory(c);
  *out = a;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(v, i);
    if (!json_is_number(e)) {
      char field[sizeof c->err->field];
      snprintf(field, sizeof field, "%s[%zu]", name, i);
      return bad(c, field, "must be a number");
    }
    a[i] = json_number_value(e);
  }
  return 0;
}

/* An array of exactly n JSON integers (n == 0: any length >= 0, returned in
 * *count). */
static int get_int_vector(ctx *c, json_t *v, const char *name, size_t n,
                          int64_t **out, size_t *count) {
  if (!json_is_array(v))
    return bad(c, name, "must be an array of integers");
  const size_t size = json_array_size(v);
  if (n > 0 && size != n)
    return bad(c, name, "has %zu entries, expected %zu", size, n);
  int64_t *a = alloc_array(size, sizeof *a);
  if (a == NULL)
    return no_memory(c);
  *out = a;
  for (size_t i = 0; i < size; i++) {
    json_t *e = json_array_get(v, i);
    if (!json_is_integer(e)) {
      char field[sizeof c->err->field];
      snprintf(field, sizeof field, "%s[%zu]", name, i);
      return bad(c, field, "must be an integer");
    }
    a[i] = (int64_t)json_integer_value(e);
  }
  if (count != NULL)
    *count = size;
  return 0;
}

/* Row i of a matrix with C columns into dst; null is -inf when allowed. */
static int get_row(ctx *c, json_t *row, const char *name, size_t i, size_t C,
                   int allow_null, double *dst) {
  char field[sizeof c->err->field];
  if (!json_is_array(row) || json_array_size(row) != C) {
    snprintf(field, sizeof field, "%s[%zu]", name, i);
    if (!json_is_array(row))
      return bad(c, field, "must be an array of %zu numbers", C);
    return bad(c, field, "has %zu entries, row 0 has %zu", json_array_size(row),
               C);
  }
  for (size_t j = 0; j < C; j++) {
    json_t *e = json_array_get(row, j);
    if (json_is_number(e)) {
      dst[j] = json_number_value(e);
    } else if (allow_null && json_is_null(e)) {
      dst[j] = -INFINITY;
    } else {
      snprintf(field, sizeof field, "%s[%zu][%zu]", name, i, j);
      return bad(c, field,
                 allow_null ? "must be a number or null (masked)"
                            : "must be a number");
    }
  }
  return 0;
}

static int get_logits(ctx *c, json_t *v) {
  if (v == NULL)
    return bad(c, "logits", "is required");
  if (!json_is_array(v))
    return bad(c, "logits", "must be an array of rows");
  const size_t n = json_array_size(v);
  if (n == 0)
    return bad(c, "logits", "must have at least one row");
  json_t *row0 = json_array_get(v, 0);
  if (!json_is_array(row0))
    return bad(c, "logits[0]", "must be an array of numbers");
  const size_t C = json_array_size(row0);
  if (C == 0)
    return bad(c, "logits[0]", "must have at least one class");
  if (n > c->lim->max_rows || C > c->lim->max_elements / n)
    return too_large(c, "logits", n, C);
  double *x = alloc_array(n * C, sizeof *x);
  if (x == NULL)
    return no_memory(c);
  c->own->logits = x;
  for (size_t i = 0; i < n; i++)
    if (get_row(c, json_array_get(v, i), "logits", i, C, 1, x + i * C) != 0)
      return -1;
  c->pb->n = n;
  c->pb->classes = C;
  c->pb->dtype = XENT_F64;
  c->pb->logits = x;
  return 0;
}

static int get_soft_targets(ctx *c, json_t *v) {
  const size_t n = c->pb->n, C = c->pb->classes;
  if (!json_is_array(v))
    return bad(c, "soft_targets", "must be an array of %zu rows", n);
  if (json_array_size(v) != n)
    return bad(c, "soft_targets", "has %zu rows, logits has %zu",
               json_array_size(v), n);
  double *y = alloc_array(n * C, sizeof *y);
  if (y == NULL)
    return no_memory(c);
  c->own->soft_targets = y;
  for (size_t i = 0; i < n; i++)
    if (get_row(c, json_array_get(v, i), "soft_targets", i, C, 0, y + i * C) !=
        0)
      return -1;
  c->pb->soft_targets = y;
  return 0;
}

static int get_targets(ctx *c, json_t *v, size_t n) {
  int64_t *t = NULL;
  size_t count = 0;
  const int rc = get_int_vector(c, v, "targets", n, &t, &count);
  c->own->targets = t;
  if (rc != 0)
    return -1;
  c->pb->targets = t;
  return 0;
}

static int get_mixup(ctx *c, json_t *v) {
  static const char *const keys[] = {"lambda", "pairing", NULL};
  static const char *const pairings[] = {"flip", "roll", NULL};
  const size_t n = c->pb->n;
  if (!json_is_object(v))
    return bad(c, "mixup",
               "must be an object {\"lambda\": ..., \"pairing\": ...}");
  if (check_keys(c, v, keys, "mixup.") != 0)
    return -1;
  json_t *lam = json_object_get(v, "lambda");
  if (lam == NULL)
    return bad(c, "mixup.lambda", "is required");
  if (json_is_array(lam)) {
    if (get_vector(c, lam, "mixup.lambda", n, &c->own->lambda) != 0)
      return -1;
    c->pb->lambda_count = n;
  } else if (json_is_number(lam)) {
    c->own->lambda = malloc(sizeof *c->own->lambda);
    if (c->own->lambda == NULL)
      return no_memory(c);
    c->own->lambda[0] = json_number_value(lam);
    c->own->lambda_scalar = 1;
    c->pb->lambda_count = 1;
  } else {
    return bad(c, "mixup.lambda", "must be a number or an array of %zu numbers",
               n);
  }
  c->pb->mixup_lambda = c->own->lambda;
  json_t *pairing = json_object_get(v, "pairing");
  if (pairing == NULL) {
    c->pb->pairing = XENT_PAIR_FLIP;
  } else if (json_is_array(pairing)) {
    if (get_int_vector(c, pairing, "mixup.pairing", n, &c->own->partners,
                       NULL) != 0)
      return -1;
    c->pb->pairing = XENT_PAIR_EXPLICIT;
    c->pb->partners = c->own->partners;
  } else {
    int which = 0;
    if (!json_is_string(pairing))
      return bad(c, "mixup.pairing",
                 "must be \"flip\", \"roll\" or an array of %zu integers", n);
    if (get_enum(c, pairing, "mixup.pairing", pairings, &which) != 0)
      return -1;
    c->pb->pairing = which == 0 ? XENT_PAIR_FLIP : XENT_PAIR_ROLL;
  }
  return 0;
}

static int get_outputs(ctx *c, json_t *v) {
  static const char *const names[] = {"loss",  "per_sample", "grad", "targets",
                                      "probs", "stats",      NULL};
  if (!json_is_array(v))
    return bad(c, "outputs", "must be an array of output names");
  unsigned bits = 0;
  for (size_t i = 0; i < json_array_size(v); i++) {
    char field[32];
    snprintf(field, sizeof field, "outputs[%zu]", i);
    int which = 0;
    if (get_enum(c, json_array_get(v, i), field, names, &which) != 0)
      return -1;
    bits |= 1u << which; /* names[] follows the XS_OUT_* bit order */
  }
  c->outputs = bits;
  return 0;
}

/* Options common to both endpoints, in the documented order. */
static int get_options(ctx *c, json_t *root) {
  static const char *const smoothings[] = {"uniform", "others", NULL};
  static const char *const precisions[] = {"float64", "float32", NULL};
  json_t *v;
  if ((v = json_object_get(root, "label_smoothing")) != NULL &&
      get_number(c, v, "label_smoothing", &c->pb->label_smoothing) != 0)
    return -1;
  if ((v = json_object_get(root, "smoothing")) != NULL) {
    int which = 0;
    if (get_enum(c, v, "smoothing", smoothings, &which) != 0)
      return -1;
    c->pb->smoothing = which == 0 ? XENT_SMOOTH_UNIFORM : XENT_SMOOTH_OTHERS;
  }
  if ((v = json_object_get(root, "mixup")) != NULL && get_mixup(c, v) != 0)
    return -1;
  if ((v = json_object_get(root, "ignore_index")) != NULL &&
      get_int(c, v, "ignore_index", &c->pb->ignore_index) != 0)
    return -1;
  if ((v = json_object_get(root, "precision")) != NULL) {
    int which = 0;
    if (get_enum(c, v, "precision", precisions, &which) != 0)
      return -1;
    c->precision = which == 0 ? XS_FLOAT64 : XS_FLOAT32;
  }
  return 0;
}

/* ------------------------------------------------------------- requests -- */

static void free_owned(xs__owned *own) {
  if (own == NULL)
    return;
  free(own->logits);
  free(own->targets);
  free(own->soft_targets);
  free(own->class_weights);
  free(own->lambda);
  free(own->partners);
  free(own);
}

/* Shared start: zeroed request, parsed root object. */
static json_t *begin(const char *body, size_t len, const xs_limits *lim,
                     xs_request *req, xs_error *err, ctx *c) {
  memset(req, 0, sizeof *req);
  xent_problem_init(&req->problem);
  err->kind = XS_ERR_NONE;
  err->message[0] = '\0';
  err->field[0] = '\0';
  static const xs_limits unlimited = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
  c->lim = lim != NULL ? lim : &unlimited;
  c->err = err;
  c->pb = &req->problem;
  c->outputs = XS_OUT_LOSS | XS_OUT_PER_SAMPLE | XS_OUT_GRAD;
  c->precision = XS_FLOAT64;
  c->own = calloc(1, sizeof *c->own);
  if (c->own == NULL) {
    no_memory(c);
    return NULL;
  }
  json_t *root = load(body != NULL ? body : "", body != NULL ? len : 0, err);
  if (root == NULL) {
    free_owned(c->own);
    c->own = NULL;
  }
  return root;
}

static int finish(int rc, json_t *root, xs_request *req, ctx *c) {
  json_decref(root);
  if (rc != 0) {
    free_owned(c->own);
    memset(req, 0, sizeof *req);
    xent_problem_init(&req->problem);
    return -1;
  }
  /* The arrays move into the request, as the streaming parser leaves
   * them; forms say how each field was given. */
  xs__owned *o = c->own;
  void *const arrays[XS_F_COUNT] = {[XS_F_LOGITS] = o->logits,
                                    [XS_F_TARGETS] = o->targets,
                                    [XS_F_SOFT_TARGETS] = o->soft_targets,
                                    [XS_F_CLASS_WEIGHTS] = o->class_weights,
                                    [XS_F_MIXUP_LAMBDA] = o->lambda,
                                    [XS_F_MIXUP_PAIRING] = o->partners};
  for (int i = 0; i < XS_F_COUNT; i++) {
    req->owned[i] = arrays[i];
    if (arrays[i] != NULL)
      req->forms[i] = XS_FORM_ARRAY;
  }
  if (o->lambda != NULL && o->lambda_scalar)
    req->forms[XS_F_MIXUP_LAMBDA] = XS_FORM_SCALAR;
  free(o);
  req->outputs = c->outputs;
  req->precision = c->precision;
  if (req->problem.reduction == XENT_REDUCE_NONE)
    req->outputs &= ~(unsigned)XS_OUT_LOSS; /* no reduced loss to give */
  return 0;
}

static int parse_loss(ctx *c, json_t *root) {
  static const char *const keys[] = {
      "logits",    "targets", "soft_targets",  "label_smoothing",
      "smoothing", "mixup",   "class_weights", "ignore_index",
      "reduction", "outputs", "precision",     NULL};
  static const char *const reductions[] = {"mean", "sum", "none", NULL};
  if (check_keys(c, root, keys, "") != 0)
    return -1;
  if (get_logits(c, json_object_get(root, "logits")) != 0)
    return -1;
  json_t *t = json_object_get(root, "targets");
  json_t *s = json_object_get(root, "soft_targets");
  if ((t == NULL) == (s == NULL))
    return bad(c, t == NULL ? "targets" : "soft_targets", "%s",
               t == NULL ? "is required (or soft_targets)"
                         : "cannot be given with targets");
  if (t != NULL && get_targets(c, t, c->pb->n) != 0)
    return -1;
  if (s != NULL && get_soft_targets(c, s) != 0)
    return -1;
  json_t *v = json_object_get(root, "class_weights");
  if (v != NULL) {
    if (get_vector(c, v, "class_weights", c->pb->classes,
                   &c->own->class_weights) != 0)
      return -1;
    c->pb->class_weights = c->own->class_weights;
  }
  if (get_options(c, root) != 0)
    return -1;
  if ((v = json_object_get(root, "reduction")) != NULL) {
    int which = 0;
    if (get_enum(c, v, "reduction", reductions, &which) != 0)
      return -1;
    c->pb->reduction = which == 0   ? XENT_REDUCE_MEAN
                       : which == 1 ? XENT_REDUCE_SUM
                                    : XENT_REDUCE_NONE;
  }
  if ((v = json_object_get(root, "outputs")) != NULL && get_outputs(c, v) != 0)
    return -1;
  return 0;
}

int oracle_parse_loss(const char *body, size_t len, const xs_limits *lim,
                      xs_request *req, xs_error *err) {
  ctx c;
  json_t *root = begin(body, len, lim, req, err, &c);
  if (root == NULL)
    return -1;
  req->body = XS_BODY_LOSS;
  return finish(parse_loss(&c, root), root, req, &c);
}

static int parse_targets(ctx *c, json_t *root) {
  static const char *const keys[] = {
      "targets", "num_classes",  "label_smoothing", "smoothing",
      "mixup",   "ignore_index", "precision",       NULL};
  if (check_keys(c, root, keys, "") != 0)
    return -1;
  json_t *t = json_object_get(root, "targets");
  if (t == NULL)
    return bad(c, "targets", "is required");
  if (!json_is_array(t))
    return bad(c, "targets", "must be an array of integers");
  const size_t n = json_array_size(t);
  if (n == 0)
    return bad(c, "targets", "must have at least one label");
  json_t *k = json_object_get(root, "num_classes");
  if (k == NULL)
    return bad(c, "num_classes", "is required");
  if (!json_is_integer(k) || json_integer_value(k) < 1)
    return bad(c, "num_classes", "must be an integer >= 1");
  const json_int_t classes = json_integer_value(k);
  if (n > c->lim->max_rows ||
      (unsigned long long)classes >
          (unsigned long long)(c->lim->max_elements / n))
    return too_large(c, "targets", n, (size_t)classes);
  c->pb->n = n;
  c->pb->classes = (size_t)classes;
  if (get_targets(c, t, n) != 0)
    return -1;
  return get_options(c, root);
}

int oracle_parse_targets(const char *body, size_t len, const xs_limits *lim,
                         xs_request *req, xs_error *err) {
  ctx c;
  json_t *root = begin(body, len, lim, req, err, &c);
  if (root == NULL)
    return -1;
  const int rc = parse_targets(&c, root);
  c.outputs = XS_OUT_TARGETS;
  req->body = XS_BODY_TARGETS;
  return finish(rc, root, req, &c);
}

void oracle_request_free(xs_request *req) {
  for (int i = 0; i < XS_F_COUNT; i++)
    free(req->owned[i]);
  memset(req, 0, sizeof *req);
  xent_problem_init(&req->problem);
}
