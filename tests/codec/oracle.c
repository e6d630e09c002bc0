/*
 * oracle.c - the jansson reading of a request body, the oracle that the
 * streaming parser (server/codec/request.c) is held to by the differential
 * tests and fuzzers. It was xentd's own parser before the streaming one:
 * jansson builds the whole tree, then the fields are read from it.
 *
 * Checks run in a fixed order, and the first failure is reported with the
 * JSON path of the offending value: the limits (every array as the stream
 * counts it), unknown keys (document order), then the batch (logits,
 * shape, class_axis), targets / soft_targets, loss, class_weights,
 * pos_weight, label_smoothing, smoothing, mixup, ignore_index,
 * target_threshold, sum_classes, focal_alpha, focal_gamma, poly_epsilon,
 * precision, reduction, outputs. Values are checked here for type and shape
 * only; ranges (labels, eps, lambda, partners, weights) are the library's
 * to check, so that the service and the library cannot disagree about
 * them.
 *
 * K-dimensional arrays (logits, targets, soft_targets) are read as the
 * tree shows them: the rank and the dimensions along the first elements
 * (logits[0], logits[0][0], ...), every element then held to them, depth
 * first, an array's length before what is inside it.
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
  double *pos_weight;
  double *alpha;
  int64_t *shape;
  int lambda_scalar; /* mixup.lambda was one number, not an array */
} xs__owned;

typedef struct ctx {
  const xs_limits *lim;
  xs_error *err;
  xs__owned *own;
  xent_problem *pb;
  unsigned outputs;
  xs_precision precision;
  /* the batch's layout (POST /v1/loss) */
  xs_request *req;
  int rank;
  size_t dims[XS_MAX_RANK];
  int cax;
  int flat;
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

/* ------------------------------------------------- K-dimensional arrays -- */

/* The rank and dimensions an array shows along its first elements (at
 * most XS_MAX_RANK). */
static int descent(json_t *a, size_t *dims) {
  int r = 0;
  json_t *cur = a;
  while (json_is_array(cur) && r < XS_MAX_RANK) {
    dims[r++] = json_array_size(cur);
    if (json_array_size(cur) == 0)
      break;
    cur = json_array_get(cur, 0);
  }
  return r;
}

/* The leaves the stream stores of an array of this rank: every element at
 * the rank's level, under arrays only. */
static size_t leaves(json_t *a, int level, int rank) {
  if (level == rank)
    return json_array_size(a);
  size_t n = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *e = json_array_get(a, i);
    if (json_is_array(e))
      n += leaves(e, level + 1, rank);
  }
  return n;
}

/* What a leaf of a K-dimensional array must be. */
typedef enum { LEAF_LOGIT, LEAF_NUMBER, LEAF_INTEGER } leaf_kind;

static const char *leaf_what(leaf_kind k) {
  return k == LEAF_LOGIT    ? "must be a number or null (masked)"
         : k == LEAF_NUMBER ? "must be a number"
                            : "must be an integer";
}

/* Every element of array a at `level` (1 for the value) against the
 * dimensions, depth first, a sub-array's length before its content; the
 * leaves go to out (doubles or int64) in row-major order. */
static int check_nested(ctx *c, json_t *a, int level, int rank,
                        const size_t *dims, const char *path, leaf_kind kind,
                        void *out, size_t *at) {
  char field[sizeof c->err->field];
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *e = json_array_get(a, i);
    snprintf(field, sizeof field, "%s[%zu]", path, i);
    if (level < rank) {
      if (!json_is_array(e))
        return bad(c, field, "must be an array of %s",
                   kind == LEAF_INTEGER ? "integers" : "numbers");
      if (json_array_size(e) != dims[level])
        return bad(c, field, "has %zu entries, expected %zu",
                   json_array_size(e), dims[level]);
      if (check_nested(c, e, level + 1, rank, dims, field, kind, out, at) != 0)
        return -1;
      continue;
    }
    if (kind == LEAF_INTEGER) {
      if (!json_is_integer(e))
        return bad(c, field, "%s", leaf_what(kind));
      ((int64_t *)out)[(*at)++] = (int64_t)json_integer_value(e);
    } else if (json_is_number(e)) {
      ((double *)out)[(*at)++] = json_number_value(e);
    } else if (kind == LEAF_LOGIT && json_is_null(e)) {
      ((double *)out)[(*at)++] = -INFINITY;
    } else {
      return bad(c, field, "%s", leaf_what(kind));
    }
  }
  return 0;
}

/* A K-dimensional field other than the logits: its dimensions against E
 * (want of them), then its elements. The leaves into *out. */
static int get_kdim(ctx *c, json_t *v, const char *name, const size_t *E,
                    int want, leaf_kind kind, void **out) {
  if (!json_is_array(v))
    return bad(c, name, "must be an array");
  size_t D[XS_MAX_RANK];
  const int r = descent(v, D);
  char field[sizeof c->err->field];
  for (int k = 0; k < r && k < want; k++) {
    if (D[k] == E[k])
      continue;
    snprintf(field, sizeof field, "%s", name);
    for (int z = 0; z < k; z++)
      strncat(field, "[0]", sizeof field - strlen(field) - 1);
    return bad(c, field, "has %zu entries, expected %zu", D[k], E[k]);
  }
  if (r != want) {
    snprintf(field, sizeof field, "%s", name);
    for (int z = 0; z < (r < want ? r : want); z++)
      strncat(field, "[0]", sizeof field - strlen(field) - 1);
    return bad(c, field, "has the wrong number of dimensions");
  }
  size_t count = 1;
  for (int k = 0; k < want; k++)
    count *= E[k];
  void *a = alloc_array(count, 8);
  if (a == NULL)
    return no_memory(c);
  *out = a;
  size_t at = 0;
  return check_nested(c, v, 1, want, E, name, kind, a, &at);
}

/* ------------------------------------------------------------- the batch -- */

/* logits, shape and class_axis: the batch of POST /v1/loss (the order of
 * request.c's loss_batch), then the logits' values. */
static int get_batch(ctx *c, json_t *root) {
  json_t *v = json_object_get(root, "logits");
  json_t *sh = json_object_get(root, "shape");
  json_t *ax = json_object_get(root, "class_axis");
  if (v == NULL)
    return bad(c, "logits", "is required");
  if (!json_is_array(v))
    return bad(c, "logits", "must be an array of rows");
  size_t want = 1;
  size_t k = 0;
  if (sh != NULL) {
    int64_t *dims = NULL;
    const int rc = get_int_vector(c, sh, "shape", 0, &dims, &k);
    c->own->shape = dims;
    if (rc != 0)
      return -1;
    if (k < 2 || k > XS_MAX_RANK)
      return bad(c, "shape", "must have 2 to %d entries", XS_MAX_RANK);
    for (size_t i = 0; i < k; i++)
      if (dims[i] < 1) {
        char field[32];
        snprintf(field, sizeof field, "shape[%zu]", i);
        return bad(c, field, "must be >= 1");
      }
    for (size_t i = 0; i < k; i++) {
      if ((uint64_t)dims[i] > c->lim->max_elements / want)
        return too_large(c, "shape", want, (size_t)dims[i]);
      want *= (size_t)dims[i];
    }
  }
  if (ax != NULL && !json_is_integer(ax))
    return bad(c, "class_axis", "must be an integer");
  size_t D[XS_MAX_RANK];
  const int r = descent(v, D);
  if (sh != NULL) {
    if (r > 1)
      return bad(c, "logits[0]", "must be a number or null (masked)");
    if (D[0] != want)
      return bad(c, "shape", "holds %zu elements, logits has %zu", want, D[0]);
    c->flat = 1;
    c->rank = (int)k;
    for (size_t i = 0; i < k; i++)
      c->dims[i] = (size_t)c->own->shape[i];
  } else {
    if (D[0] == 0)
      return bad(c, "logits", "must have at least one row");
    if (r < 2)
      return bad(c, "logits[0]", "must be an array of numbers");
    for (int i = 1; i < r; i++)
      if (D[i] == 0) {
        char field[64] = "logits";
        for (int z = 0; z < i; z++)
          strcat(field, "[0]");
        return bad(c, field, "must not be empty");
      }
    c->rank = r;
    memcpy(c->dims, D, sizeof D);
  }
  const int64_t axis = ax != NULL ? (int64_t)json_integer_value(ax) : 1;
  const int64_t R = c->rank;
  const int64_t norm = axis < 0 ? axis + R : axis;
  if (norm != 1 && norm != R - 1)
    return bad(c, "class_axis", "is out of range");
  c->cax = R > 2 && norm == R - 1 ? c->rank - 1 : 1;
  const size_t N = c->dims[0], C = c->dims[c->cax];
  size_t inner = 1;
  for (int i = 1; i < c->rank; i++)
    if (i != c->cax)
      inner *= c->dims[i];
  if (N > c->lim->max_rows)
    return too_large(c, "logits", N, C * inner);
  size_t total = N * C * inner;
  double *x = alloc_array(total, sizeof *x);
  if (x == NULL)
    return no_memory(c);
  c->own->logits = x;
  size_t at = 0;
  if (c->flat) {
    const size_t flat_dims[1] = {total};
    if (check_nested(c, v, 1, 1, flat_dims, "logits", LEAF_LOGIT, x, &at) != 0)
      return -1;
  } else if (check_nested(c, v, 1, c->rank, c->dims, "logits", LEAF_LOGIT, x,
                          &at) != 0) {
    return -1;
  }
  c->pb->n = N;
  c->pb->classes = C;
  c->pb->inner = inner;
  c->pb->class_axis = c->cax == 1 ? XENT_CLASS_AXIS_1 : XENT_CLASS_AXIS_LAST;
  c->pb->dtype = XENT_F64;
  c->pb->logits = x;
  c->req->class_axis = axis;
  c->req->rank = c->rank;
  memcpy(c->req->dims, c->dims, sizeof c->dims);
  c->req->flat = c->flat;
  c->req->shape = c->own->shape;
  c->req->shape_len = sh != NULL ? k : 0;
  return 0;
}

/* The dimensions targets (with_c 0) or soft_targets (1) must have. */
static int batch_dims(const ctx *c, int with_c, size_t *E) {
  if (c->flat) {
    E[0] = c->pb->n * c->pb->inner * (with_c ? c->pb->classes : 1);
    return 1;
  }
  int k = 0;
  for (int i = 0; i < c->rank; i++)
    if (with_c || i != c->cax)
      E[k++] = c->dims[i];
  return k;
}

static int get_soft_targets(ctx *c, json_t *v) {
  size_t E[XS_MAX_RANK];
  const int want = batch_dims(c, 1, E);
  void *y = NULL;
  const int rc = get_kdim(c, v, "soft_targets", E, want, LEAF_NUMBER, &y);
  c->own->soft_targets = y;
  if (rc != 0)
    return -1;
  c->pb->soft_targets = y;
  return 0;
}

static int get_loss_targets(ctx *c, json_t *v) {
  size_t E[XS_MAX_RANK];
  const int want = batch_dims(c, 0, E);
  void *t = NULL;
  const int rc = get_kdim(c, v, "targets", E, want, LEAF_INTEGER, &t);
  c->own->targets = t;
  if (rc != 0)
    return -1;
  c->pb->targets = t;
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
  static const char *const names[] = {"loss",        "per_sample", "grad",
                                      "targets",     "probs",      "stats",
                                      "elementwise", NULL};
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
  static const char *const smoothings[] = {"uniform", "others", "binary", NULL};
  json_t *v;
  if ((v = json_object_get(root, "label_smoothing")) != NULL &&
      get_number(c, v, "label_smoothing", &c->pb->label_smoothing) != 0)
    return -1;
  if ((v = json_object_get(root, "smoothing")) != NULL) {
    int which = 0;
    if (get_enum(c, v, "smoothing", smoothings, &which) != 0)
      return -1;
    c->pb->smoothing = (xent_smoothing)which;
  }
  if ((v = json_object_get(root, "mixup")) != NULL && get_mixup(c, v) != 0)
    return -1;
  if ((v = json_object_get(root, "ignore_index")) != NULL &&
      get_int(c, v, "ignore_index", &c->pb->ignore_index) != 0)
    return -1;
  return 0;
}

/* The loss families' options of POST /v1/loss after ignore_index. */
static int get_family_options(ctx *c, json_t *root) {
  json_t *v;
  if ((v = json_object_get(root, "target_threshold")) != NULL &&
      get_number(c, v, "target_threshold", &c->pb->target_threshold) != 0)
    return -1;
  if ((v = json_object_get(root, "sum_classes")) != NULL) {
    if (!json_is_boolean(v))
      return bad(c, "sum_classes", "must be true or false");
    c->pb->sum_classes = json_is_true(v);
  }
  if ((v = json_object_get(root, "focal_alpha")) != NULL) {
    if (json_is_array(v)) {
      if (get_vector(c, v, "focal_alpha", c->pb->classes, &c->own->alpha) != 0)
        return -1;
      c->pb->focal_alpha_per_class = c->own->alpha;
    } else if (get_number(c, v, "focal_alpha", &c->pb->focal_alpha) != 0) {
      return -1;
    }
  }
  if ((v = json_object_get(root, "focal_gamma")) != NULL &&
      get_number(c, v, "focal_gamma", &c->pb->focal_gamma) != 0)
    return -1;
  if ((v = json_object_get(root, "poly_epsilon")) != NULL &&
      get_number(c, v, "poly_epsilon", &c->pb->poly_epsilon) != 0)
    return -1;
  return 0;
}

static int get_precision(ctx *c, json_t *root) {
  static const char *const precisions[] = {"float64", "float32", NULL};
  json_t *v;
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
  free(own->pos_weight);
  free(own->alpha);
  free(own->shape);
  free(own);
}

/* Shared start: zeroed request, parsed root object. */
static json_t *begin(const char *body, size_t len, const xs_limits *lim,
                     xs_request *req, xs_error *err, ctx *c) {
  memset(req, 0, sizeof *req);
  xent_problem_init(&req->problem);
  req->class_axis = 1;
  req->rank = 2;
  c->req = req;
  c->rank = 2;
  c->cax = 1;
  c->flat = 0;
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
  if (rc != 0) {
    json_decref(root);
    free_owned(c->own);
    memset(req, 0, sizeof *req);
    xent_problem_init(&req->problem);
    req->class_axis = 1;
    req->rank = 2;
    return -1;
  }
  /* The arrays move into the request, as the streaming parser leaves
   * them; forms say how each field was given. */
  xs__owned *o = c->own;
  void *const arrays[XS_F_COUNT] = {[XS_F_LOGITS] = o->logits,
                                    [XS_F_SHAPE] = o->shape,
                                    [XS_F_TARGETS] = o->targets,
                                    [XS_F_SOFT_TARGETS] = o->soft_targets,
                                    [XS_F_CLASS_WEIGHTS] = o->class_weights,
                                    [XS_F_POS_WEIGHT] = o->pos_weight,
                                    [XS_F_MIXUP_LAMBDA] = o->lambda,
                                    [XS_F_MIXUP_PAIRING] = o->partners,
                                    [XS_F_FOCAL_ALPHA] = o->alpha};
  for (int i = 0; i < XS_F_COUNT; i++) {
    req->owned[i] = arrays[i];
    if (arrays[i] != NULL)
      req->forms[i] = XS_FORM_ARRAY;
  }
  if (o->lambda != NULL && o->lambda_scalar)
    req->forms[XS_F_MIXUP_LAMBDA] = XS_FORM_SCALAR;
  /* Every other field given: how (the run refuses an option of another
   * loss by its form). */
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    if ((f->bodies & req->body) == 0 || req->forms[i] != XS_FORM_ABSENT)
      continue;
    json_t *obj = root;
    if (f->parent != XS_F_NONE)
      obj = json_object_get(root, xs_field_get(f->parent)->key);
    json_t *v = json_is_object(obj) ? json_object_get(obj, f->key) : NULL;
    if (v != NULL)
      req->forms[i] = json_is_array(v) ? XS_FORM_ARRAY : XS_FORM_SCALAR;
  }
  json_decref(root);
  free(o);
  req->outputs = c->outputs;
  req->precision = c->precision;
  if (req->problem.reduction == XENT_REDUCE_NONE)
    req->outputs &= ~(unsigned)XS_OUT_LOSS; /* no reduced loss to give */
  return 0;
}

/* The limits as the stream enforces them while it reads (request.c):
 * per-row arrays by --max-rows, per-class ones and K-dimensional ones by
 * --max-elements (their leaves), the rows of an array of arrays by
 * --max-rows. A 413 comes before anything but invalid JSON. */
static int check_limits(ctx *c, json_t *root, int loss) {
  static const struct {
    const char *key;
    int kdim; /* loss body: K-dimensional */
    int rows; /* else: limited by --max-rows (1) or --max-elements (0) */
    int fixed_rank;
  } arrays[] = {{"logits", 1, 0, 2},       {"targets", 1, 1, 1},
                {"soft_targets", 1, 0, 2}, {"class_weights", 0, 0, 1},
                {"pos_weight", 0, 0, 1},   {"focal_alpha", 0, 0, 1},
                {"shape", 0, 0, 1}};
  for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
    if (!loss && strcmp(arrays[k].key, "targets") != 0)
      continue;
    json_t *v = json_object_get(root, arrays[k].key);
    if (!json_is_array(v))
      continue;
    if (loss && arrays[k].kdim) {
      size_t D[XS_MAX_RANK];
      const int r = descent(v, D);
      if (r >= 2)
        for (size_t i = c->lim->max_rows; i < json_array_size(v); i++)
          if (json_is_array(json_array_get(v, i)))
            return too_large(c, arrays[k].key, json_array_size(v), 0);
      if (leaves(v, 1, r) > c->lim->max_elements)
        return too_large(c, arrays[k].key, json_array_size(v), 0);
      continue;
    }
    const size_t max = arrays[k].rows ? c->lim->max_rows : c->lim->max_elements;
    if (json_array_size(v) > max)
      return too_large(c, arrays[k].key, json_array_size(v), 0);
  }
  json_t *m = json_object_get(root, "mixup");
  if (json_is_object(m)) {
    const char *const keys[] = {"lambda", "pairing"};
    for (int k = 0; k < 2; k++) {
      json_t *v = json_object_get(m, keys[k]);
      if (json_is_array(v) && json_array_size(v) > c->lim->max_rows)
        return too_large(c, "mixup", json_array_size(v), 0);
    }
  }
  return 0;
}

static int parse_loss(ctx *c, json_t *root) {
  static const char *const keys[] = {
      "logits",           "shape",        "class_axis",
      "targets",          "soft_targets", "loss",
      "class_weights",    "pos_weight",   "label_smoothing",
      "smoothing",        "mixup",        "ignore_index",
      "target_threshold", "sum_classes",  "focal_alpha",
      "focal_gamma",      "poly_epsilon", "precision",
      "reduction",        "outputs",      NULL};
  static const char *const reductions[] = {"mean", "sum", "none", NULL};
  static const char *const losses[] = {"cross_entropy", "binary_cross_entropy",
                                       "sigmoid_focal", "softmax_focal",
                                       "poly1",         NULL};
  if (check_limits(c, root, 1) != 0)
    return -1;
  if (check_keys(c, root, keys, "") != 0)
    return -1;
  if (get_batch(c, root) != 0)
    return -1;
  json_t *t = json_object_get(root, "targets");
  json_t *s = json_object_get(root, "soft_targets");
  if ((t == NULL) == (s == NULL))
    return bad(c, t == NULL ? "targets" : "soft_targets", "%s",
               t == NULL ? "is required (or soft_targets)"
                         : "cannot be given with targets");
  if (t != NULL && get_loss_targets(c, t) != 0)
    return -1;
  if (s != NULL && get_soft_targets(c, s) != 0)
    return -1;
  json_t *v = json_object_get(root, "loss");
  if (v != NULL) {
    int which = 0;
    if (get_enum(c, v, "loss", losses, &which) != 0)
      return -1;
    c->pb->family = (xent_family)which;
  }
  if ((v = json_object_get(root, "class_weights")) != NULL) {
    if (get_vector(c, v, "class_weights", c->pb->classes,
                   &c->own->class_weights) != 0)
      return -1;
    c->pb->class_weights = c->own->class_weights;
  }
  if ((v = json_object_get(root, "pos_weight")) != NULL) {
    if (get_vector(c, v, "pos_weight", c->pb->classes, &c->own->pos_weight) !=
        0)
      return -1;
    c->pb->pos_weight = c->own->pos_weight;
  }
  if (get_options(c, root) != 0 || get_family_options(c, root) != 0 ||
      get_precision(c, root) != 0)
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
  if (check_limits(c, root, 0) != 0)
    return -1;
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
  c->req->dims[0] = n;
  c->req->dims[1] = (size_t)classes;
  if (get_targets(c, t, n) != 0)
    return -1;
  if (get_options(c, root) != 0)
    return -1;
  return get_precision(c, root);
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
