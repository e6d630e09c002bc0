/*
 * request.c - the streaming parser of request bodies, driven by the field
 * table (fields.h), and the binding of what it read into a libxent problem.
 *
 * The tokenizer (json.c) reports events; this file keeps where they fall:
 * which field's value is being read and, inside an array, the index at
 * each level. Numbers of an array go straight into that field's storage
 * through a sink; the storage grows by doubling, each growth taken from the
 * request's memory share first, and an array that passes --max-rows or
 * --max-elements stops the request then and there (413), before another
 * byte is stored.
 *
 * Which error a request with several gets (each reported with its JSON
 * path, built from the field and the indices):
 *   1. invalid JSON (line and column), which may come at the last byte:
 *      once another error is found the parser stops storing but keeps
 *      checking the syntax;
 *   2. a limit or the memory budget (413, 429) and a body that is not an
 *      object;
 *   3. the first unknown key;
 *   4. POST /v1/loss: the batch's layout (loss_batch: shape, class_axis,
 *      the logits' dimensions against them, the rows' limit);
 *   5. per field, in the table's order: a missing required field, the
 *      field's shape against the batch (N rows, C classes, the positions
 *      of K-dimensional inputs), then the first wrong value inside it
 *      (type, ragged row), a row of the wrong length before any error in
 *      it.
 * Ranges (labels, eps, lambda, partners, weights) are checked by libxent,
 * so that the service and the library cannot disagree about them; an
 * option the request's loss does not use is refused when the request
 * runs (run.c).
 *
 * Limits: an array stops the request when it passes --max-elements (the
 * leaves of logits, targets, soft_targets and of per-class arrays) or
 * --max-rows (the entries of per-row arrays; the rows of an array of
 * arrays, when a row past the limit opens).
 *
 * Not detected: duplicate keys inside a value that is refused anyway (an
 * unknown field's object); jansson reports those as invalid JSON.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "json.h"
#include "mstate.h"
#include "v2.h"

/* An array value being read: its storage (a sink for numbers) and shape.
 * A K-dimensional array (the field's kdim bodies) has the rank its first
 * elements give: the value's first element, that element's first, and so
 * on down to one that is not an array (or an empty array), as a reader of
 * the whole tree finds it; every other element is then held to it. While
 * the rank is unknown each array opened is offered the sink, so that the
 * numbers of the innermost arrays go straight into the storage. */
typedef struct arr {
  xs_json_sink sink;
  struct xs_parser *p;
  xs_field_id id;
  int rank;                 /* of the value; 0 while it is unknown  */
  int level;                /* open levels, 0 when closed         */
  size_t idx[XS_MAX_RANK];  /* current element at each level      */
  size_t dims[XS_MAX_RANK]; /* lengths found (the first elements') */
  int known[XS_MAX_RANK];   /* dims[k] has been found              */
  size_t row_start;         /* sink.len when the leaf opened       */
  size_t max;               /* largest element count allowed       */
} arr;

typedef struct val {
  int form; /* XS_FORM_* */
  int present;
  double d;
  int64_t i;
  int e;
  unsigned bits;
  arr a;
  int has_err;
  xs_error err;
  /* Where the error is inside an array: its indices (none: the whole). */
  size_t err_idx[XS_MAX_RANK];
  int err_nidx;
} val;

struct xs_parser {
  v2_state *v2; /* an Open Inference Protocol body: v2.c reads it */
  xs_json *json;
  unsigned body;
  unsigned eff; /* the body a report turned out to be (else body)    */
  xs_limits lim;
  xs_mem *mem;
  val v[XS_F_COUNT];
  int depth;       /* containers open                           */
  xs_field_id obj; /* whose members come at obj_depth (NONE: top) */
  int obj_depth;
  xs_field_id cur; /* the field whose value is being read       */
  int pending;     /* a key was read, its value comes next      */
  int skip;        /* depth of a container skipped, or 0        */
  int stopped;     /* a request-wide error: nothing is stored   */
  xs_error global;
  /* The first unknown key at the top (reported before the fields, as a
   * reader of the whole tree would); one inside an object field is that
   * field's error. */
  int has_unknown;
  xs_error unknown;
  char unknown_key[2][64];
  size_t unknown_len[2];
  int unknown_seen[2];
  /* The element of "states" being read (depth of its object, 0: none),
   * its reader, and the states merged so far. */
  int st_depth;
  xs_mstate_reader *mr;
  xs_mstate merged;
};

/* ---------------------------------------------------------------- errors -- */

static void stop(xs_parser *p, const xs_error *err);

/* "a number", "an integer >= 1", "one of \"a\", \"b\"", ... */
static void describe_elem(const xs_field *f, xs_elem e, char *buf,
                          size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  switch (e) {
  case XS_E_NUMBER:
    snprintf(buf, size, f->nullable ? "a number or null (masked)" : "a number");
    break;
  case XS_E_INTEGER:
    if (f->has_min && f->arg == XENT_ARG_NONE)
      snprintf(buf, size, "an integer >= %.0f", f->min);
    else
      snprintf(buf, size, "an integer");
    break;
  case XS_E_ENUM:
    used = (size_t)snprintf(buf, size, "one of ");
    for (int i = 0; f->names[i] != NULL && used < size; i++)
      used += (size_t)snprintf(buf + used, size - used, "%s\"%s\"",
                               i > 0 ? ", " : "", f->names[i]);
    break;
  case XS_E_OBJECT:
    snprintf(buf, size,
             f->array.elem == XS_E_OBJECT ? "a metrics state" : "an object");
    break;
  case XS_E_BOOL:
    snprintf(buf, size, "true or false");
    break;
  case XS_E_NONE:
    break;
  }
}

/* What the whole value must be: "a number or an array of N numbers". */
static void describe_value(const xs_field *f, char *buf, size_t size) {
  static const char *const dim_names[] = {"", "N ", "C ", ""};
  static const char *const plural[] = {"",      "numbers",        "integers",
                                       "names", "metrics states", "booleans"};
  char scalar[128] = "";
  char array[128] = "";
  if (f->scalar.elem != XS_E_NONE)
    describe_elem(f, f->scalar.elem, scalar, sizeof scalar);
  if (f->array.elem != XS_E_NONE) {
    if (f->rank == 2)
      snprintf(array, sizeof array, "an array of %srows of %s%s",
               dim_names[f->dims[0]], dim_names[f->dims[1]],
               plural[f->array.elem]);
    else
      snprintf(array, sizeof array, "an array of %s%s", dim_names[f->dims[0]],
               plural[f->array.elem]);
  }
  snprintf(buf, size, "%s%s%s", scalar,
           scalar[0] != '\0' && array[0] != '\0' ? " or " : "", array);
}

/* Records the first error of field id (the field is then done). */
static void field_error(xs_parser *p, xs_field_id id, const size_t *idx,
                        int nidx, xs_err_kind kind, const char *fmt, ...)
    XS__PRINTF(6, 7);
static void field_error(xs_parser *p, xs_field_id id, const size_t *idx,
                        int nidx, xs_err_kind kind, const char *fmt, ...) {
  val *v = &p->v[id];
  if (v->has_err)
    return;
  int64_t at[XS_MAX_RANK + 1];
  for (int i = 0; i < nidx; i++) {
    at[i] = (int64_t)idx[i];
    if (i < XS_MAX_RANK)
      v->err_idx[i] = idx[i];
  }
  v->err_nidx = nidx < XS_MAX_RANK ? nidx : XS_MAX_RANK;
  char path[sizeof v->err.field];
  xs__field_path(path, sizeof path, id, at, nidx);
  char msg[sizeof v->err.message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  xs__set_error(&v->err, kind, path, "%s %s", path, msg);
  v->has_err = 1;
}

/* Is the field's error inside the array at indices idx[0 .. n-1]? */
static int error_inside(const val *v, const size_t *idx, int n) {
  if (!v->has_err || v->err_nidx <= n)
    return 0;
  for (int i = 0; i < n; i++)
    if (v->err_idx[i] != idx[i])
      return 0;
  return 1;
}

static void type_error(xs_parser *p, xs_field_id id) {
  char what[2 * 128 + 8]; /* scalar, " or ", array */
  describe_value(xs_field_get(id), what, sizeof what);
  field_error(p, id, NULL, 0, XS_ERR_INVALID_ARGUMENT, "must be %s", what);
}

/* --------------------------------------------------------------- arrays -- */

static size_t elem_size(const xs_field *f) {
  return f->array.elem == XS_E_INTEGER ? sizeof(int64_t) : sizeof(double);
}

static void arr_release(xs_parser *p, arr *a) {
  if (a->sink.data != NULL)
    xs__free(p->mem, a->sink.data,
             a->sink.cap * elem_size(xs_field_get(a->id)));
  a->sink.data = NULL;
  a->sink.cap = a->sink.len = 0;
  a->sink.type = XS_SINK_OFF;
}

static int arr_grow(xs_json_sink *sink, size_t at_least) {
  arr *a = (arr *)sink; /* the sink is the first member */
  xs_parser *p = a->p;
  const xs_field *f = xs_field_get(a->id);
  xs_error err;
  if (p->stopped)
    return -1;
  if (at_least > a->max) {
    xs__set_error(&err, XS_ERR_PAYLOAD_TOO_LARGE, f->path,
                  "%s has more than %zu %s, the limit of this server "
                  "(--max-rows %zu, --max-elements %zu)",
                  f->path, a->max, a->rank != 1 ? "elements" : "entries",
                  p->lim.max_rows, p->lim.max_elements);
    stop(p, &err);
    return -1;
  }
  size_t cap = sink->cap < 64 ? 64 : sink->cap;
  while (cap < at_least)
    cap = cap > SIZE_MAX / 4 ? at_least : cap * 2;
  if (cap > a->max)
    cap = a->max;
  const size_t es = elem_size(f);
  if (xs__realloc(p->mem, &sink->data, sink->cap * es, cap * es, &err) != 0) {
    stop(p, &err);
    return -1;
  }
  sink->cap = cap;
  return 0;
}

/* Is the field K-dimensional in the body being read? */
static int is_kdim(const xs_parser *p, const xs_field *f) {
  return (f->kdim & p->body) != 0;
}

/* The most elements a field may hold in all (its leaf count). */
static size_t arr_max(const xs_parser *p, const xs_field *f) {
  if (f->rank == 2 || is_kdim(p, f))
    return p->lim.max_elements;
  if (f->dims[0] == XS_DIM_N)
    return p->lim.max_rows;
  return p->lim.max_elements;
}

static void push_f64(xs_parser *p, arr *a, double x) {
  if (a->sink.len == a->sink.cap && arr_grow(&a->sink, a->sink.len + 1) != 0)
    return;
  (void)p;
  ((double *)a->sink.data)[a->sink.len++] = x;
}

static void push_i64(xs_parser *p, arr *a, int64_t x) {
  if (a->sink.len == a->sink.cap && arr_grow(&a->sink, a->sink.len + 1) != 0)
    return;
  (void)p;
  ((int64_t *)a->sink.data)[a->sink.len++] = x;
}

/* The sink for the leaf array that just opened (NULL for name lists). */
static xs_json_sink *leaf_open(xs_parser *p, arr *a) {
  const xs_field *f = xs_field_get(a->id);
  a->row_start = a->sink.len;
  if (f->array.elem == XS_E_ENUM || f->array.elem == XS_E_OBJECT || p->stopped)
    return NULL;
  a->sink.type = f->array.elem == XS_E_INTEGER ? XS_SINK_I64 : XS_SINK_F64;
  a->sink.allow_null = f->nullable;
  a->sink.grow = arr_grow;
  return &a->sink;
}

/* Elements of the current leaf so far. */
static size_t leaf_count(const arr *a) {
  const xs_field *f = xs_field_get(a->id);
  if (f->array.elem == XS_E_ENUM || f->array.elem == XS_E_OBJECT)
    return a->idx[a->level - 1];
  return a->sink.len - a->row_start;
}

/* ----------------------------------------------------------- the events -- */

static void stop(xs_parser *p, const xs_error *err) {
  if (p->stopped)
    return;
  p->stopped = 1;
  p->global = *err;
  for (int i = 0; i < XS_F_COUNT; i++)
    arr_release(p, &p->v[i].a);
  xs_mstate_free(&p->merged, p->mem);
  if (p->mr != NULL)
    xs_mstate_reader_begin(p->mr); /* gives its bytes back */
}

/* ------------------------------------------------------ metrics states -- */

/* An element of "states" opens: its events go to the state reader. */
static void state_begin(xs_parser *p) {
  val *v = &p->v[XS_F_STATES];
  if (v->has_err) { /* the field is refused already: skip the rest */
    v->a.idx[0]++;
    p->skip = p->depth;
    return;
  }
  if (p->mr == NULL)
    p->mr = xs_mstate_reader_new(p->json, p->mem, &p->lim);
  if (p->mr == NULL) {
    xs_error err;
    xs_error_set(&err, XS_ERR_INTERNAL, "out of memory");
    stop(p, &err);
    return;
  }
  xs_mstate_reader_begin(p->mr);
  p->st_depth = p->depth;
}

/* The element's object closed: read it and merge it into the others. */
static void state_end(xs_parser *p) {
  val *v = &p->v[XS_F_STATES];
  char where[32];
  snprintf(where, sizeof where, "states[%zu]", v->a.idx[0]);
  p->st_depth = 0;
  v->a.idx[0]++;
  xs_error err;
  if (xs_mstate_reader_end(p->mr, where, &p->merged, &err) == 0)
    return;
  if (err.kind != XS_ERR_INVALID_ARGUMENT) { /* budget, limits, ours */
    stop(p, &err);
    return;
  }
  v->err = err;
  v->has_err = 1;
  v->err_nidx = 0;
  xs_mstate_free(&p->merged, p->mem);
}

static void skip_value(xs_parser *p) {
  p->skip = p->depth;
  p->cur = XS_F_NONE;
}

static xs_json_sink *on_open(void *ctx, int is_object) {
  xs_parser *p = ctx;
  p->depth++;
  if (p->st_depth != 0 && !p->stopped)
    return xs_mstate_reader_open(p->mr, is_object);
  if (p->depth == 1) {
    if (!is_object) {
      xs_error err;
      xs__set_error(&err, XS_ERR_INVALID_ARGUMENT, "",
                    "the request body must be a JSON object");
      stop(p, &err);
    }
    p->obj = XS_F_NONE;
    p->obj_depth = 1;
    return NULL;
  }
  if (p->stopped || p->skip != 0)
    return NULL;
  if (p->pending) {
    p->pending = 0;
    const xs_field_id id = p->cur;
    if (id == XS_F_NONE) {
      skip_value(p);
      return NULL;
    }
    const xs_field *f = xs_field_get(id);
    val *v = &p->v[id];
    if (is_object) {
      if (f->scalar.elem == XS_E_OBJECT) {
        v->form = XS_FORM_SCALAR;
        p->obj = id;
        p->obj_depth = p->depth;
        p->cur = XS_F_NONE;
      } else {
        type_error(p, id);
        skip_value(p);
      }
      return NULL;
    }
    if (f->array.elem == XS_E_NONE) {
      type_error(p, id);
      skip_value(p);
      return NULL;
    }
    v->form = XS_FORM_ARRAY;
    arr *a = &v->a;
    a->p = p;
    a->id = id;
    a->rank = is_kdim(p, f) ? 0 : f->rank;
    a->level = 1;
    a->idx[0] = 0;
    a->max = arr_max(p, f);
    return a->rank <= 1 ? leaf_open(p, a) : NULL;
  }
  const xs_field_id id = p->cur;
  if (id == XS_F_NONE) {
    skip_value(p);
    return NULL;
  }
  const xs_field *f = xs_field_get(id);
  arr *a = &p->v[id].a;
  const int level = a->level + 1;
  if (is_object && f->array.elem == XS_E_OBJECT && a->level == a->rank) {
    state_begin(p);
    return NULL;
  }
  /* Finding the rank: the array open is a leaf when this element is not
   * its first one, not an array, or one level too deep. */
  if (a->rank == 0 &&
      (is_object || leaf_count(a) > 0 || a->level == XS_MAX_RANK)) {
    a->rank = a->level;
  }
  if (is_object || (a->rank != 0 && level > a->rank)) {
    /* An array or an object where an element belongs. */
    size_t at[XS_MAX_RANK];
    for (int i = 0; i < a->level; i++)
      at[i] = a->idx[i];
    if (a->level == a->rank)
      at[a->level - 1] = leaf_count(a);
    char what[128];
    if (a->level < a->rank)
      snprintf(what, sizeof what, "an array of %s",
               f->array.elem == XS_E_INTEGER ? "integers" : "numbers");
    else
      describe_elem(f, f->array.elem, what, sizeof what);
    field_error(p, id, at, a->level, XS_ERR_INVALID_ARGUMENT, "must be %s",
                what);
    /* It still counts as an element, so that the row's length stays right. */
    if (a->level < a->rank || f->array.elem == XS_E_ENUM ||
        f->array.elem == XS_E_OBJECT)
      a->idx[a->level - 1]++;
    else if (f->array.elem == XS_E_INTEGER)
      push_i64(p, a, 0);
    else
      push_f64(p, a, 0.0);
    p->skip = p->depth;
    return NULL;
  }
  if (level == 2 && a->idx[0] + 1 > p->lim.max_rows) {
    xs_error err;
    xs__set_error(&err, XS_ERR_PAYLOAD_TOO_LARGE, f->path,
                  "%s has more than %zu rows, the limit of this server "
                  "(--max-rows)",
                  f->path, p->lim.max_rows);
    stop(p, &err);
    return NULL;
  }
  a->level = level;
  a->idx[level - 1] = 0;
  return a->rank == 0 || level == a->rank ? leaf_open(p, a) : NULL;
}

static void on_close(void *ctx, int is_object) {
  xs_parser *p = ctx;
  const int d = p->depth--;
  if (p->stopped)
    return;
  if (p->st_depth != 0) {
    if (d > p->st_depth)
      xs_mstate_reader_close(p->mr, is_object);
    else
      state_end(p);
    return;
  }
  if (p->skip != 0) {
    if (d == p->skip)
      p->skip = 0;
    return;
  }
  if (is_object) {
    if (d == p->obj_depth && p->obj != XS_F_NONE) {
      p->obj = XS_F_NONE;
      p->obj_depth = 1;
    }
    return;
  }
  const xs_field_id id = p->cur;
  if (id == XS_F_NONE)
    return;
  const xs_field *f = xs_field_get(id);
  arr *a = &p->v[id].a;
  const int level = a->level;
  if (a->rank == 0)
    a->rank = level; /* an array of numbers only, or empty: the leaves */
  const size_t n = level == a->rank ? leaf_count(a) : a->idx[level - 1];
  if (level == a->rank)
    a->sink.type = XS_SINK_OFF;
  /* A row's length is the first row's at its level: the one whose
   * indices are all 0 (the outer array's, its own). */
  int row0 = 1;
  for (int i = 0; i < level - 1; i++)
    row0 &= a->idx[i] == 0;
  if (!a->known[level - 1]) {
    if (row0) {
      a->known[level - 1] = 1;
      a->dims[level - 1] = n;
    }
  } else if (a->dims[level - 1] != n) {
    /* A row of the wrong length is reported before a wrong value in it,
     * as a reader of the whole tree checks the length first. */
    val *v = &p->v[id];
    if (error_inside(v, a->idx, level - 1))
      v->has_err = 0;
    char first[8 * XS_MAX_RANK + 8] = "";
    for (int i = 1; i < level && 3 * i < (int)sizeof first; i++)
      strcat(first, "[0]");
    field_error(p, id, a->idx, level - 1, XS_ERR_INVALID_ARGUMENT,
                "has %zu entries, %s%s has %zu", n,
                level == 2 ? "row 0" : f->path, level == 2 ? "" : first,
                a->dims[level - 1]);
  }
  a->level = level - 1;
  if (a->level > 0) {
    a->idx[a->level - 1]++;
    return;
  }
  p->cur = XS_F_NONE; /* the field's value is complete */
}

static void on_key(void *ctx, const char *s, size_t len) {
  xs_parser *p = ctx;
  if (p->st_depth != 0 && !p->stopped) {
    xs_mstate_reader_key(p->mr, s, len);
    return;
  }
  if (p->skip != 0 || p->depth != p->obj_depth)
    return;
  const xs_field_id id = xs_field_find(p->obj, s, len, p->body);
  p->pending = 1;
  p->cur = id;
  if (id == XS_F_NONE) {
    const int at = p->obj != XS_F_NONE;
    if (!p->unknown_seen[at]) {
      p->unknown_seen[at] = 1;
      const size_t keep = len < sizeof p->unknown_key[at] ? len : 0;
      memcpy(p->unknown_key[at], s, keep);
      p->unknown_len[at] = keep;
      /* "mixup." + the key, cut at a character boundary. */
      xs_error e;
      char path[sizeof e.field];
      const xs_field *parent = xs_field_get(p->obj);
      size_t used = 0;
      if (parent != NULL) {
        used = strlen(parent->path);
        memcpy(path, parent->path, used);
        path[used++] = '.';
      }
      xs__copy_utf8(path + used, sizeof path - used, s, len);
      xs__set_error(&e, XS_ERR_INVALID_ARGUMENT, path,
                    "%s is not a known field", path);
      if (!at) {
        p->unknown = e;
        p->has_unknown = 1;
      } else if (!p->v[p->obj].has_err) {
        p->v[p->obj].err = e;
        p->v[p->obj].has_err = 1;
      }
    } else if (p->unknown_len[at] == len && len > 0 &&
               memcmp(p->unknown_key[at], s, len) == 0) {
      xs_json_fail(p->json, "duplicate object key");
    }
    return;
  }
  val *v = &p->v[id];
  if (v->present) {
    xs_json_fail(p->json, "duplicate object key \"%s\"",
                 xs_field_get(id)->path);
    return;
  }
  v->present = 1;
}

/* Stores a scalar of field id given as its scalar form. */
static void take_scalar(xs_parser *p, xs_field_id id, const xs_json_value *x) {
  const xs_field *f = xs_field_get(id);
  val *v = &p->v[id];
  const xs_elem e = f->scalar.elem;
  if (e == XS_E_NUMBER && x->kind == XS_JSON_NUMBER) {
    v->d = xs_json_number(&x->num);
  } else if (e == XS_E_INTEGER && x->kind == XS_JSON_NUMBER && x->num.is_int) {
    if (f->has_min && f->arg == XENT_ARG_NONE && (double)x->num.i < f->min) {
      type_error(p, id);
      return;
    }
    v->i = x->num.i;
  } else if (e == XS_E_BOOL &&
             (x->kind == XS_JSON_TRUE || x->kind == XS_JSON_FALSE)) {
    v->e = x->kind == XS_JSON_TRUE;
  } else if (e == XS_E_ENUM && x->kind == XS_JSON_STRING) {
    int which = -1;
    for (int i = 0; f->names[i] != NULL; i++)
      if (strlen(f->names[i]) == x->len &&
          memcmp(f->names[i], x->str, x->len) == 0)
        which = i;
    if (which < 0) {
      char what[128];
      describe_elem(f, e, what, sizeof what);
      field_error(p, id, NULL, 0, XS_ERR_INVALID_ARGUMENT, "must be %s", what);
      return;
    }
    v->e = which;
  } else {
    type_error(p, id);
    return;
  }
  v->form = XS_FORM_SCALAR;
}

static void on_scalar(void *ctx, const xs_json_value *x) {
  xs_parser *p = ctx;
  if (p->stopped || p->skip != 0)
    return;
  if (p->st_depth != 0) {
    xs_mstate_reader_scalar(p->mr, x);
    return;
  }
  if (p->pending) {
    p->pending = 0;
    if (p->cur != XS_F_NONE)
      take_scalar(p, p->cur, x);
    p->cur = XS_F_NONE;
    return;
  }
  const xs_field_id id = p->cur;
  if (id == XS_F_NONE)
    return;
  const xs_field *f = xs_field_get(id);
  arr *a = &p->v[id].a;
  const int level = a->level;
  char what[128];
  if (a->rank == 0)
    a->rank = level; /* a value that is not an array: a leaf */
  if (level < a->rank) {
    /* A value where a row belongs. */
    field_error(p, id, a->idx, level, XS_ERR_INVALID_ARGUMENT,
                "must be an array of %s",
                f->array.elem == XS_E_INTEGER ? "integers" : "numbers");
    a->idx[level - 1]++;
    return;
  }
  const size_t k = leaf_count(a);
  int ok = 0;
  switch (f->array.elem) {
  case XS_E_NUMBER:
    if (x->kind == XS_JSON_NUMBER) {
      push_f64(p, a, xs_json_number(&x->num));
      ok = 1;
    } else if (x->kind == XS_JSON_NULL && f->nullable) {
      push_f64(p, a, -INFINITY);
      ok = 1;
    }
    break;
  case XS_E_INTEGER:
    if (x->kind == XS_JSON_NUMBER && x->num.is_int) {
      push_i64(p, a, x->num.i);
      ok = 1;
    }
    break;
  case XS_E_ENUM:
    if (x->kind == XS_JSON_STRING)
      for (int i = 0; f->names[i] != NULL; i++)
        if (strlen(f->names[i]) == x->len &&
            memcmp(f->names[i], x->str, x->len) == 0) {
          p->v[id].bits |= 1u << i;
          ok = 1;
        }
    a->idx[level - 1]++;
    break;
  case XS_E_OBJECT:
    a->idx[level - 1]++;
    break;
  case XS_E_BOOL:
  case XS_E_NONE:
    break;
  }
  if (ok || p->stopped)
    return;
  size_t at[XS_MAX_RANK + 1];
  for (int i = 0; i < level - 1; i++)
    at[i] = a->idx[i];
  at[level - 1] = k;
  describe_elem(f, f->array.elem, what, sizeof what);
  field_error(p, id, at, level, XS_ERR_INVALID_ARGUMENT, "must be %s", what);
  /* Keep counting, so that the row's length stays right. */
  if (f->array.elem == XS_E_NUMBER)
    push_f64(p, a, 0.0);
  else if (f->array.elem == XS_E_INTEGER)
    push_i64(p, a, 0);
}

static const xs_json_handler handler = {on_open, on_close, on_key, on_scalar};

/* ----------------------------------------------------------- the parser -- */

xs_parser *xs_parser_new(unsigned body, const xs_limits *lim, xs_mem *mem) {
  xs_parser *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->json = xs_json_new(&handler, p);
  if (p->json == NULL) {
    free(p);
    return NULL;
  }
  p->body = body;
  p->lim.max_elements = lim != NULL ? lim->max_elements : SIZE_MAX;
  p->lim.max_rows = lim != NULL ? lim->max_rows : SIZE_MAX;
  p->lim.max_confusion_classes =
      lim != NULL ? lim->max_confusion_classes : SIZE_MAX;
  p->mem = mem;
  p->obj = XS_F_NONE;
  p->cur = XS_F_NONE;
  for (int i = 0; i < XS_F_COUNT; i++)
    p->v[i].a.id = (xs_field_id)i;
  return p;
}

xs_parser *xs_parser_new_v2(const xs_model *m, uint64_t header_len,
                            uint64_t body_len, const xs_limits *lim,
                            xs_mem *mem) {
  xs_parser *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->v2 = xs__v2_new(m, header_len, body_len, lim, mem);
  if (p->v2 == NULL) {
    free(p);
    return NULL;
  }
  return p;
}

void xs_parser_free(xs_parser *p) {
  if (p == NULL)
    return;
  if (p->v2 != NULL) {
    xs__v2_free(p->v2);
    free(p);
    return;
  }
  for (int i = 0; i < XS_F_COUNT; i++)
    arr_release(p, &p->v[i].a);
  xs_mstate_free(&p->merged, p->mem);
  xs_mstate_reader_free(p->mr);
  xs_json_free(p->json);
  free(p);
}

int xs_parser_feed(xs_parser *p, const char *data, size_t n) {
  if (p->v2 != NULL)
    return xs__v2_feed(p->v2, data, n);
  const int rc = xs_json_feed(p->json, data, n);
  return rc != 0 || p->stopped ? -1 : 0;
}

/* The syntax error, worded for a client. */
static void syntax_error(const xs_json_error *je, xs_error *err) {
  if (je->nonfinite)
    xs__set_error(err, XS_ERR_INVALID_JSON, "",
                  "invalid JSON at line %" PRIu64 ", column %" PRIu64
                  ": JSON has no NaN or Infinity; send null for a masked "
                  "class (-inf)",
                  je->line, je->column);
  else
    xs__set_error(err, XS_ERR_INVALID_JSON, "",
                  "invalid JSON at line %" PRIu64 ", column %" PRIu64 ": %s",
                  je->line, je->column, je->text);
}

/* The batch: N rows (samples), C classes and, for POST /v1/loss, the
 * logits' layout. */
typedef struct batch {
  size_t N, C;
  int rank;                 /* of the logits as laid out (2: N x C)  */
  size_t dims[XS_MAX_RANK]; /* their dimensions                       */
  int cax;                  /* the index of C in dims                 */
  size_t inner;             /* positions per sample                   */
  int flat;                 /* the arrays are flat (`shape`)          */
} batch;

/* "[0][0]": n times "[0]" after the path of field id. */
static void first_path(char *buf, size_t size, xs_field_id id, int n) {
  int64_t zeros[XS_MAX_RANK] = {0};
  xs__field_path(buf, size, id, zeros, n);
}

/* The dimensions a K-dimensional field must have in the batch: the
 * logits' (soft targets), or without C (targets); one flat dimension with
 * `shape`. Returns their number. */
static int expected_dims(const batch *b, const xs_field *f, size_t *E) {
  const int has_c = f->rank == 2;
  if (b->flat) {
    E[0] = b->N * b->inner * (has_c ? b->C : 1);
    return 1;
  }
  int k = 0;
  for (int i = 0; i < b->rank; i++)
    if (has_c || i != b->cax)
      E[k++] = b->dims[i];
  return k;
}

/* A K-dimensional field against the batch: its dimensions, as its first
 * elements give them, are E's, level by level. */
static int check_kdim(const xs_parser *p, xs_field_id id, const batch *b,
                      xs_error *err) {
  const xs_field *f = xs_field_get(id);
  const arr *a = &p->v[id].a;
  size_t E[XS_MAX_RANK];
  const int want = expected_dims(b, f, E);
  const int r = a->rank;
  char path[sizeof err->field];
  for (int k = 0; k < r && k < want; k++) {
    if (a->dims[k] == E[k])
      continue;
    first_path(path, sizeof path, id, k);
    if (k == 0 && want == 1)
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path,
                    "%s has %zu entries, expected %zu", path, a->dims[0], E[0]);
    else if (k == 0)
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path,
                    "%s has %zu rows, logits has %zu", path, a->dims[0], E[0]);
    else if (k == 1 && want == 2 && f->rank == 2)
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path,
                    "%s has %zu entries, logits has %zu classes", path,
                    a->dims[1], E[1]);
    else
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path,
                    "%s has %zu entries, expected %zu", path, a->dims[k], E[k]);
    return -1;
  }
  if (r != want) {
    char what[128];
    if (r < want)
      snprintf(what, sizeof what, "an array of %s",
               f->array.elem == XS_E_INTEGER ? "integers" : "numbers");
    else
      describe_elem(f, f->array.elem, what, sizeof what);
    first_path(path, sizeof path, id, r < want ? r : want);
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path, "%s must be %s%s", path,
                  what,
                  b->flat ? " (with shape, the arrays are flat)"
                          : " (the logits give the dimensions)");
    return -1;
  }
  return 0;
}

/* The first error of the fields, in the table's order, with the shapes
 * checked against the batch's N rows and C classes (and positions). */
static int check_fields(xs_parser *p, const batch *b, xs_error *err) {
  const size_t N = b->N, C = b->C;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field_id id = (xs_field_id)i;
    const xs_field *f = xs_field_get(id);
    const val *v = &p->v[id];
    if ((f->bodies & p->eff) == 0) {
      if (v->present) { /* a report's field of the other kind */
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, f->path,
                      "%s cannot be given with %s", f->path,
                      p->eff == XS_BODY_MERGE ? "states" : "logits");
        return -1;
      }
      continue;
    }
    if (f->parent != XS_F_NONE && !p->v[f->parent].present)
      continue;
    if (id == XS_F_TARGETS && p->body == XS_BODY_LOSS) {
      const int t = v->present, s = p->v[XS_F_SOFT_TARGETS].present;
      if (t == s) {
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT,
                      t ? "soft_targets" : "targets", "%s",
                      t ? "soft_targets cannot be given with targets"
                        : "targets is required (or soft_targets)");
        return -1;
      }
    }
    if (!v->present) {
      if ((f->required & p->eff) != 0) {
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, f->path, "%s is required",
                      f->path);
        return -1;
      }
      continue;
    }
    /* The array's length against N, then row 0's against C, before any
     * error inside it (as a reader of the whole tree checks them). The
     * fields that define N and C are what they are. */
    const int defines =
        p->eff == XS_BODY_TARGETS ? id == XS_F_TARGETS : id == XS_F_LOGITS;
    if (v->form == XS_FORM_ARRAY && !defines && is_kdim(p, f) &&
        check_kdim(p, id, b, err) != 0)
      return -1;
    if (v->form == XS_FORM_ARRAY && !defines && !is_kdim(p, f)) {
      const arr *a = &v->a;
      const size_t want[3] = {0, N, C};
      if (f->dims[0] != XS_DIM_ANY && a->known[0] &&
          a->dims[0] != want[f->dims[0]]) {
        if (f->rank == 2)
          xs__set_error(err, XS_ERR_INVALID_ARGUMENT, f->path,
                        "%s has %zu rows, logits has %zu", f->path, a->dims[0],
                        want[f->dims[0]]);
        else
          xs__set_error(err, XS_ERR_INVALID_ARGUMENT, f->path,
                        "%s has %zu entries, expected %zu", f->path, a->dims[0],
                        want[f->dims[0]]);
        return -1;
      }
      if (f->rank == 2 && f->dims[1] != XS_DIM_ANY && a->known[1] &&
          a->dims[1] != want[f->dims[1]]) {
        char path[sizeof err->field];
        snprintf(path, sizeof path, "%s[0]", f->path);
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path,
                      "%s has %zu entries, logits has %zu classes", path,
                      a->dims[1], want[f->dims[1]]);
        return -1;
      }
    }
    if (v->has_err) {
      *err = v->err;
      return -1;
    }
  }
  return 0;
}

/* The batch of POST /v1/loss, from logits, shape and class_axis. Their
 * errors come first, in this order: shape's own (its type, 2 to
 * XS_MAX_RANK dimensions each >= 1), class_axis's type, the logits' form
 * against them (flat with shape, else at least N x C; no empty
 * dimension; shape's element count), class_axis's range, the rows' limit;
 * then every field in the table's order. */
static int loss_batch(xs_parser *p, batch *b, xs_error *err) {
  const val *lg = &p->v[XS_F_LOGITS];
  const val *sh = &p->v[XS_F_SHAPE];
  const val *ax = &p->v[XS_F_CLASS_AXIS];
  if (!lg->present || lg->form != XS_FORM_ARRAY)
    return 0; /* reported in the table's order */
  char path[sizeof err->field];
  size_t want = 1;
  if (sh->present) {
    if (sh->has_err) {
      *err = sh->err;
      return -1;
    }
    const size_t k = sh->a.dims[0];
    const int64_t *v = sh->a.sink.data;
    if (k < 2 || k > XS_MAX_RANK) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "shape",
                    "shape has %zu entries: the logits have 2 to %d "
                    "dimensions, [N, C, d1, ..., dk]",
                    k, XS_MAX_RANK);
      return -1;
    }
    for (size_t i = 0; i < k; i++)
      if (v[i] < 1) {
        snprintf(path, sizeof path, "shape[%zu]", i);
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path,
                      "%s is %" PRId64 ": every dimension must be >= 1", path,
                      v[i]);
        return -1;
      }
    for (size_t i = 0; i < k; i++) {
      if ((uint64_t)v[i] > p->lim.max_elements / want) {
        xs__set_error(err, XS_ERR_PAYLOAD_TOO_LARGE, "shape",
                      "shape holds more than %zu elements, the limit of "
                      "this server (--max-elements)",
                      p->lim.max_elements);
        return -1;
      }
      want *= (size_t)v[i];
    }
  }
  if (ax->present && ax->has_err) {
    *err = ax->err;
    return -1;
  }
  const arr *a = &lg->a;
  const int r = a->rank;
  if (sh->present) {
    if (r > 1) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "logits[0]",
                    "logits[0] must be a number or null (masked): with "
                    "shape, the logits are flat");
      return -1;
    }
    if (a->dims[0] != want) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "shape",
                    "shape holds %zu elements, logits has %zu", want,
                    a->dims[0]);
      return -1;
    }
    b->flat = 1;
    b->rank = (int)sh->a.dims[0];
    for (int i = 0; i < b->rank; i++)
      b->dims[i] = (size_t)((const int64_t *)sh->a.sink.data)[i];
  } else {
    if (a->dims[0] == 0) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "logits",
                    "logits must have at least one row");
      return -1;
    }
    if (r < 2) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "logits[0]",
                    "logits[0] must be an array of numbers (or send the "
                    "logits flat with a shape)");
      return -1;
    }
    for (int k = 1; k < r; k++)
      if (a->dims[k] == 0) {
        first_path(path, sizeof path, XS_F_LOGITS, k);
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, path, "%s must have %s",
                      path,
                      r == 2 ? "at least one class" : "at least one entry");
        return -1;
      }
    b->rank = r;
    for (int i = 0; i < r; i++)
      b->dims[i] = a->dims[i];
  }
  const int64_t axis = ax->present ? ax->i : 1;
  const int64_t R = b->rank;
  const int64_t norm = axis < 0 ? axis + R : axis;
  if (norm != 1 && norm != R - 1) {
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "class_axis",
                  "class_axis is %" PRId64 ": the classes of %d-dimensional "
                  "logits are axis 1 (PyTorch) or -1 = %d (the last, Keras)",
                  axis, b->rank, b->rank - 1);
    return -1;
  }
  b->cax = R > 2 && norm == R - 1 ? b->rank - 1 : 1;
  b->N = b->dims[0];
  b->C = b->dims[b->cax];
  b->inner = 1;
  for (int i = 1; i < b->rank; i++)
    if (i != b->cax)
      b->inner *= b->dims[i];
  if (b->N > p->lim.max_rows) {
    xs__set_error(err, XS_ERR_PAYLOAD_TOO_LARGE, "logits",
                  "logits has %zu rows, more than %zu, the limit of this "
                  "server (--max-rows)",
                  b->N, p->lim.max_rows);
    return -1;
  }
  return 0;
}

/* N and C of the batch: from logits (loss, metrics), or targets and
 * num_classes. */
static int batch_shape(xs_parser *p, batch *b, xs_error *err) {
  const val *lg = &p->v[XS_F_LOGITS];
  b->rank = 2;
  b->cax = 1;
  b->inner = 1;
  if (p->eff == XS_BODY_MERGE)
    return 0; /* the states know their classes */
  if (p->eff == XS_BODY_LOSS)
    return loss_batch(p, b, err);
  if (p->eff == XS_BODY_METRICS) {
    if (!lg->present || lg->form != XS_FORM_ARRAY)
      return 0; /* reported in the table's order */
    /* An empty batch or an empty row 0 comes before an error inside. */
    const int empty = (lg->a.known[0] && lg->a.dims[0] == 0) ||
                      (lg->a.known[1] && lg->a.dims[1] == 0);
    if (lg->has_err && !empty)
      return 0;
    b->N = lg->a.dims[0];
    b->C = lg->a.dims[1];
    if (b->N == 0) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "logits",
                    "logits must have at least one row");
      return -1;
    }
    if (b->C == 0) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "logits[0]",
                    "logits[0] must have at least one class");
      return -1;
    }
    return 0;
  }
  const val *t = &p->v[XS_F_TARGETS];
  const val *k = &p->v[XS_F_NUM_CLASSES];
  if (!t->present || t->has_err || t->form != XS_FORM_ARRAY)
    return 0;
  b->N = t->a.dims[0];
  if (b->N == 0) {
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "targets",
                  "targets must have at least one label");
    return -1;
  }
  if (!k->present || k->has_err || k->form != XS_FORM_SCALAR)
    return 0;
  b->C = (size_t)k->i;
  if (b->N > p->lim.max_rows || b->C > p->lim.max_elements / b->N) {
    xs__set_error(err, XS_ERR_PAYLOAD_TOO_LARGE, "targets",
                  "targets: %zu x %zu is over the limits of this server "
                  "(--max-rows %zu, --max-elements %zu)",
                  b->N, b->C, p->lim.max_rows, p->lim.max_elements);
    return -1;
  }
  return 0;
}

/* A report is of one batch (logits) or of merged states: which one. */
static int report_kind(xs_parser *p, xs_error *err) {
  p->eff = p->body;
  if (p->body != XS_BODY_REPORT)
    return 0;
  const int lg = p->v[XS_F_LOGITS].present, st = p->v[XS_F_STATES].present;
  if (lg == st) {
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, lg ? "states" : "logits", "%s",
                  lg ? "states cannot be given with logits: a report "
                       "is of one batch or of merged states"
                     : "logits and targets are required, or states");
    return -1;
  }
  p->eff = lg ? XS_BODY_METRICS : XS_BODY_MERGE;
  return 0;
}

static void *member(xs_request *req, size_t at) {
  return (char *)req + (at - 1);
}

/* Moves field id's value into req. */
static int bind(xs_parser *p, xs_field_id id, xs_request *req, xs_error *err) {
  const xs_field *f = xs_field_get(id);
  val *v = &p->v[id];
  req->forms[id] = (unsigned char)v->form;
  if (v->form == XS_FORM_SCALAR) {
    const xs_form *fm = &f->scalar;
    switch (fm->store) {
    case XS_S_F64:
      memcpy(member(req, fm->member), &v->d, sizeof v->d);
      break;
    case XS_S_I64:
      memcpy(member(req, fm->member), &v->i, sizeof v->i);
      break;
    case XS_S_SIZE: {
      const size_t s = (size_t)v->i;
      memcpy(member(req, fm->member), &s, sizeof s);
      break;
    }
    case XS_S_INT:
      memcpy(member(req, fm->member), &v->e, sizeof v->e);
      break;
    case XS_S_F64_PTR: {
      double *one = xs__alloc(p->mem, sizeof *one, err);
      if (one == NULL)
        return -1;
      *one = v->d;
      req->owned[id] = one;
      req->owned_size[id] = sizeof *one;
      const double *cp = one;
      memcpy(member(req, fm->member), &cp, sizeof cp);
      if (f->count_member != 0) {
        const size_t count = 1;
        memcpy(member(req, f->count_member), &count, sizeof count);
      }
      break;
    }
    case XS_S_NONE:
    case XS_S_BITS:
    case XS_S_I64_PTR:
      break;
    }
    return 0;
  }
  if (v->form != XS_FORM_ARRAY)
    return 0;
  const xs_form *fm = &f->array;
  arr *a = &v->a;
  if (fm->store == XS_S_NONE) /* states: merged while they were read */
    return 0;
  if (fm->store == XS_S_BITS) {
    memcpy(member(req, fm->member), &v->bits, sizeof v->bits);
    return 0;
  }
  /* Give back the unused tail of the storage. */
  const size_t es = elem_size(f);
  if (a->sink.cap > a->sink.len &&
      xs__realloc(p->mem, &a->sink.data, a->sink.cap * es, a->sink.len * es,
                  err) == 0)
    a->sink.cap = a->sink.len;
  req->owned[id] = a->sink.data;
  req->owned_size[id] = (a->sink.cap == 0 ? 1 : a->sink.cap) * es;
  const void *ptr = a->sink.data;
  memcpy(member(req, fm->member), &ptr, sizeof ptr);
  a->sink.data = NULL;
  a->sink.cap = a->sink.len = 0;
  if (f->count_member != 0) {
    const size_t count = a->dims[0];
    memcpy(member(req, f->count_member), &count, sizeof count);
  }
  if (f->array_flag_member != 0)
    memcpy(member(req, f->array_flag_member), &f->array_flag_value,
           sizeof f->array_flag_value);
  return 0;
}

static void request_init(xs_request *req, unsigned body, xs_mem *mem) {
  memset(req, 0, sizeof *req);
  xent_problem_init(&req->problem);
  req->body = body;
  req->mem = mem;
  req->precision = XS_FLOAT64;
  req->class_axis = 1;
  req->rank = 2;
}

int xs_parser_finish(xs_parser *p, xs_request *req, xs_error *err) {
  if (p->v2 != NULL)
    return xs__v2_finish(p->v2, req, err);
  request_init(req, p->body, p->mem);
  err->kind = XS_ERR_NONE;
  err->message[0] = '\0';
  err->field[0] = '\0';
  if (xs_json_finish(p->json) != 0) {
    syntax_error(xs_json_get_error(p->json), err);
    return -1;
  }
  if (p->stopped) {
    *err = p->global;
    return -1;
  }
  if (p->has_unknown) {
    *err = p->unknown;
    return -1;
  }
  if (report_kind(p, err) != 0)
    return -1;
  batch b;
  memset(&b, 0, sizeof b);
  if (batch_shape(p, &b, err) != 0 || check_fields(p, &b, err) != 0)
    return -1;
  if (p->eff != XS_BODY_LOSS) {
    b.dims[0] = b.N;
    b.dims[1] = b.C;
  }
  for (int i = 0; i < XS_F_COUNT; i++)
    if (p->v[i].present && bind(p, (xs_field_id)i, req, err) != 0) {
      xs_request_free(req);
      request_init(req, p->body, p->mem);
      return -1;
    }
  req->problem.n = b.N;
  req->problem.classes = b.C;
  req->problem.inner = b.inner;
  req->problem.class_axis =
      b.cax == 1 ? XENT_CLASS_AXIS_1 : XENT_CLASS_AXIS_LAST;
  req->rank = b.rank;
  memcpy(req->dims, b.dims, sizeof req->dims);
  req->flat = b.flat;
  req->body = p->eff;
  req->metrics.report = p->body == XS_BODY_REPORT;
  if ((p->eff == XS_BODY_METRICS || p->eff == XS_BODY_MERGE) &&
      xs__metrics_finish(req, &p->merged, p->lim.max_confusion_classes, err) !=
          0) {
    xs_request_free(req);
    request_init(req, p->body, p->mem);
    return -1;
  }
  if (p->body == XS_BODY_LOSS) {
    req->problem.dtype = XENT_F64;
    if (!p->v[XS_F_OUTPUTS].present)
      req->outputs = XS_OUT_LOSS | XS_OUT_PER_SAMPLE | XS_OUT_GRAD;
  } else {
    req->outputs = XS_OUT_TARGETS;
  }
  if (req->problem.reduction == XENT_REDUCE_NONE)
    req->outputs &= ~(unsigned)XS_OUT_LOSS; /* no reduced loss to give */
  return 0;
}

void xs_request_free(xs_request *req) {
  if (req == NULL)
    return;
  for (int i = 0; i < XS_F_COUNT; i++)
    xs__free(req->mem, req->owned[i], req->owned_size[i]);
  free(req->v2.id);
  request_init(req, req->body, req->mem);
}

int xs_parse(unsigned body, const char *text, size_t len, const xs_limits *lim,
             xs_request *req, xs_error *err) {
  xs_parser *p = xs_parser_new(body, lim, NULL);
  if (p == NULL) {
    request_init(req, body, NULL);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  xs_parser_feed(p, text != NULL ? text : "", text != NULL ? len : 0);
  const int rc = xs_parser_finish(p, req, err);
  xs_parser_free(p);
  return rc;
}
