/*
 * mstate.c - the JSON form of a metrics state (see mstate.h): its member
 * table, base64, the writer, the reader and the merge.
 */
#include "mstate.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_priv.h"

/* ---------------------------------------------------------- the members -- */

typedef enum member_id {
  M_VERSION,
  M_N,
  M_COUNTED,
  M_CLASSES,
  M_BINS,
  M_TOP_K,
  M_CONFUSION,
  M_PER_CLASS,
  M_IGNORE_INDEX,
  M_DATA,
  M_COUNT
} member_id;

typedef enum mtype { T_INT, T_BOOL, T_INTS, T_STRING } mtype;

typedef struct member {
  const char *name;
  mtype type;
  int required;
  const char *doc;
} member;

static const member members[M_COUNT] = {
    [M_VERSION] = {"version", T_INT, 1,
                   "the version of this form; a server reads only the "
                   "versions it knows"},
    [M_N] = {"n", T_INT, 1, "rows seen, ignored rows included"},
    [M_COUNTED] = {"counted", T_INT, 0,
                   "rows counted (their label is not ignore_index)"},
    [M_CLASSES] = {"classes", T_INT, 0, "C"},
    [M_BINS] = {"bins", T_INT, 0, "confidence bins"},
    [M_TOP_K] = {"top_k", T_INTS, 0, "the k of top_k_accuracy"},
    [M_CONFUSION] = {"confusion", T_BOOL, 0, "the confusion matrix is kept"},
    [M_PER_CLASS] = {"per_class", T_BOOL, 0, "per-class counts are kept"},
    [M_IGNORE_INDEX] = {"ignore_index", T_INT, 0, "the label of rows left out"},
    [M_DATA] = {"data", T_STRING, 1,
                "base64 of libxent's portable state: integer counts and "
                "exact sums (xent_metrics_serialize)"},
};

static const char *const type_name[] = {"integer", "boolean", "array",
                                        "string"};

int xs_mstate_describe(xs_buf *out) {
  int rc = xs_buf_append(out, "[", 1);
  for (int i = 0; i < M_COUNT; i++) {
    char head[128];
    snprintf(head, sizeof head, "%s{\"name\":\"%s\",\"type\":\"%s\"",
             i > 0 ? "," : "", members[i].name, type_name[members[i].type]);
    rc |= xs_buf_append(out, head, strlen(head));
    if (members[i].type == T_INTS)
      rc |= xs_buf_append(out, ",\"items\":\"integer\"", 18);
    rc |= members[i].required ? xs_buf_append(out, ",\"required\":true", 16)
                              : xs_buf_append(out, ",\"required\":false", 17);
    rc |= xs_buf_append(out, ",\"doc\":", 7);
    rc |= xs__buf_json_string(out, members[i].doc);
    rc |= xs_buf_append(out, "}", 1);
  }
  return rc | xs_buf_append(out, "]", 1) ? -1 : 0;
}

/* -------------------------------------------------------------- base64 -- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_len(size_t n) {
  return (n + 2) / 3 * 4;
}

static void b64_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v =
        (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  if (i < n) {
    const uint32_t v =
        (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Decodes n characters of canonical padded base64 in place (the bytes are
 * written behind the characters read): the byte count, or -1 at the first
 * character out of place (*bad, its index). */
static int64_t b64_decode(char *s, size_t n, size_t *bad) {
  if (n % 4 != 0) {
    *bad = n;
    return -1;
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      const unsigned char c = (unsigned char)s[i + (size_t)k];
      v[k] = b64_value(c);
      if (c == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
        v[k] = 0;
        pad++;
      } else if (v[k] < 0) {
        *bad = i + (size_t)k;
        return -1;
      }
    }
    const uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                       (uint32_t)v[2] << 6 | (uint32_t)v[3];
    /* Canonical: the bits a padded group leaves unused are zero. */
    if ((pad == 1 && (x & 0xFF) != 0) || (pad == 2 && (x & 0xFFFF) != 0)) {
      *bad = i + (size_t)(3 - pad);
      return -1;
    }
    s[o++] = (char)(x >> 16);
    if (pad < 2)
      s[o++] = (char)(x >> 8);
    if (pad < 1)
      s[o++] = (char)x;
  }
  return (int64_t)o;
}

/* -------------------------------------------------------------- writer -- */

/* The figures the readable members show, from the state. */
typedef struct summary {
  xent_metrics_config cfg;
  uint64_t counted;
} summary;

static int summarize(const xent_metrics *st, summary *s, xs_error *err) {
  xent_error xe;
  xent_metrics_result r;
  memset(&r, 0, sizeof r);
  if (xent_metrics_get_config(st, &s->cfg, &xe) != XENT_OK ||
      xent_metrics_compute(st, &r, &xe) != XENT_OK) {
    xs_error_set(err, XS_ERR_INTERNAL, "a metrics state is broken: %s",
                 xent_strerror(xe.status));
    return -1;
  }
  s->counted = r.counted;
  return 0;
}

/* The members before "data" as JSON text ending in ",\"data\":\"". */
static size_t header(char *buf, size_t size, const summary *s, uint64_t rows) {
  size_t o = 0;
  for (int i = 0; i < M_DATA && o < size; i++) {
    o += (size_t)snprintf(buf + o, size - o, "%s\"%s\":", i == 0 ? "{" : ",",
                          members[i].name);
    if (o >= size)
      break;
    switch ((member_id)i) {
    case M_VERSION:
      o += (size_t)snprintf(buf + o, size - o, "%d", XS_MSTATE_VERSION);
      break;
    case M_N:
      o += (size_t)snprintf(buf + o, size - o, "%" PRIu64, rows);
      break;
    case M_COUNTED:
      o += (size_t)snprintf(buf + o, size - o, "%" PRIu64, s->counted);
      break;
    case M_CLASSES:
      o += (size_t)snprintf(buf + o, size - o, "%zu", s->cfg.classes);
      break;
    case M_BINS:
      o += (size_t)snprintf(buf + o, size - o, "%zu", s->cfg.bins);
      break;
    case M_TOP_K:
      o += (size_t)snprintf(buf + o, size - o, "[");
      for (size_t k = 0; k < s->cfg.top_k_count && o < size; k++)
        o += (size_t)snprintf(buf + o, size - o, "%s%zu", k > 0 ? "," : "",
                              s->cfg.top_k[k]);
      if (o < size)
        o += (size_t)snprintf(buf + o, size - o, "]");
      break;
    case M_CONFUSION:
      o += (size_t)snprintf(buf + o, size - o, "%s",
                            s->cfg.confusion ? "true" : "false");
      break;
    case M_PER_CLASS:
      o += (size_t)snprintf(buf + o, size - o, "%s",
                            s->cfg.per_class ? "true" : "false");
      break;
    case M_IGNORE_INDEX:
      o += (size_t)snprintf(buf + o, size - o, "%" PRId64, s->cfg.ignore_index);
      break;
    case M_DATA:
    case M_COUNT:
      break;
    }
  }
  if (o < size)
    o +=
        (size_t)snprintf(buf + o, size - o, ",\"%s\":\"", members[M_DATA].name);
  return o;
}

int xs_mstate_write(const xent_metrics *st, uint64_t rows, xs_mem *mem,
                    char **text, size_t *len, size_t *size, xs_error *err) {
  *text = NULL;
  *len = *size = 0;
  summary s;
  if (summarize(st, &s, err) != 0)
    return -1;
  char head[512];
  const size_t hl = header(head, sizeof head, &s, rows);
  if (hl >= sizeof head) {
    xs_error_set(err, XS_ERR_INTERNAL, "a metrics state header overflows");
    return -1;
  }
  size_t bytes = 0;
  xent_error xe;
  if (xent_metrics_serialize(st, NULL, 0, &bytes, &xe) != XENT_OK) {
    xs_error_set(err, XS_ERR_INTERNAL, "a metrics state is broken: %s",
                 xent_strerror(xe.status));
    return -1;
  }
  /* The bytes go at the end of the block and are encoded forwards into
   * it: base64 never overtakes what it has still to read. */
  const size_t chars = b64_len(bytes);
  const size_t total = hl + chars + 2;
  const size_t block = total + bytes + 1;
  char *t = xs__alloc(mem, block, err);
  if (t == NULL)
    return -1;
  unsigned char *raw = (unsigned char *)t + total + 1;
  size_t written = 0;
  if (xent_metrics_serialize(st, raw, bytes, &written, &xe) != XENT_OK ||
      written != bytes) {
    xs__free(mem, t, block);
    xs_error_set(err, XS_ERR_INTERNAL, "a metrics state did not serialize");
    return -1;
  }
  memcpy(t, head, hl);
  b64_encode(raw, bytes, t + hl);
  memcpy(t + hl + chars, "\"}", 2);
  t[total] = '\0';
  *text = t;
  *len = total;
  *size = block;
  return 0;
}

void xs_mstate_free(xs_mstate *s, xs_mem *mem) {
  if (s == NULL)
    return;
  if (s->state != NULL)
    xs__free(mem, s->state, s->size);
  s->state = NULL;
  s->size = 0;
  s->rows = 0;
}

/* -------------------------------------------------------------- reader -- */

struct xs_mstate_reader {
  xs_json_sink data; /* first: the sink's grow finds the reader */
  xs_json *json;
  xs_mem *mem;
  size_t max_classes, max_confusion;
  int depth; /* containers open inside the state object */
  int cur;   /* the member whose value comes next, or -1 */
  int pending;
  int present[M_COUNT];
  int64_t ival[M_COUNT];
  int64_t top_k[XENT_METRICS_MAX_TOP_K];
  size_t top_k_count;
  int top_k_over;
  int data_rest; /* the data string had bytes outside the base64 alphabet */
  int has_err;
  xs_error err; /* field relative to the object */
  int grow_failed;
  xs_error grow_err;
};

static int data_grow(xs_json_sink *sink, size_t at_least) {
  xs_mstate_reader *r = (xs_mstate_reader *)sink;
  size_t cap = sink->cap < 256 ? 256 : sink->cap;
  while (cap < at_least)
    cap = cap > SIZE_MAX / 2 ? at_least : cap * 2;
  if (xs__realloc(r->mem, &sink->data, sink->cap, cap, &r->grow_err) != 0) {
    r->grow_failed = 1;
    return -1;
  }
  sink->cap = cap;
  return 0;
}

static void data_release(xs_mstate_reader *r) {
  if (r->data.data != NULL)
    xs__free(r->mem, r->data.data, r->data.cap);
  r->data.data = NULL;
  r->data.len = r->data.cap = 0;
}

xs_mstate_reader *xs_mstate_reader_new(xs_json *j, xs_mem *mem,
                                       const xs_limits *lim) {
  xs_mstate_reader *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->json = j;
  r->mem = mem;
  r->max_classes = lim != NULL ? lim->max_elements : SIZE_MAX;
  r->max_confusion = lim != NULL ? lim->max_confusion_classes : SIZE_MAX;
  r->cur = -1;
  return r;
}

void xs_mstate_reader_free(xs_mstate_reader *r) {
  if (r == NULL)
    return;
  data_release(r);
  free(r);
}

void xs_mstate_reader_begin(xs_mstate_reader *r) {
  data_release(r);
  xs_json *j = r->json;
  xs_mem *mem = r->mem;
  const size_t mc = r->max_classes, mx = r->max_confusion;
  memset(r, 0, sizeof *r);
  r->json = j;
  r->mem = mem;
  r->max_classes = mc;
  r->max_confusion = mx;
  r->cur = -1;
}

static void member_error(xs_mstate_reader *r, const char *field,
                         const char *fmt, ...) XS__PRINTF(3, 4);
static void member_error(xs_mstate_reader *r, const char *field,
                         const char *fmt, ...) {
  if (r->has_err)
    return;
  char msg[sizeof r->err.message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  xs__set_error(&r->err, XS_ERR_INVALID_ARGUMENT, field, "%s", msg);
  r->has_err = 1;
}

static void type_error(xs_mstate_reader *r, int id) {
  static const char *const what[] = {"an integer", "true or false",
                                     "an array of integers", "a string"};
  member_error(r, members[id].name, "must be %s", what[members[id].type]);
}

xs_json_sink *xs_mstate_reader_open(xs_mstate_reader *r, int is_object) {
  r->depth++;
  if (r->depth == 1 && r->pending) {
    r->pending = 0;
    if (r->cur >= 0 && (is_object || members[r->cur].type != T_INTS))
      type_error(r, r->cur);
    else if (r->cur >= 0)
      return NULL; /* top_k's elements come as scalars */
    r->cur = -1;
    return NULL;
  }
  if (r->depth == 2 && r->cur == M_TOP_K)
    type_error(r, M_TOP_K); /* a container inside top_k */
  return NULL;
}

void xs_mstate_reader_close(xs_mstate_reader *r, int is_object) {
  (void)is_object;
  if (--r->depth == 0)
    r->cur = -1;
}

void xs_mstate_reader_key(xs_mstate_reader *r, const char *s, size_t len) {
  if (r->depth != 0)
    return;
  r->pending = 1;
  r->cur = -1;
  for (int i = 0; i < M_COUNT; i++)
    if (strlen(members[i].name) == len && memcmp(members[i].name, s, len) == 0)
      r->cur = i;
  if (r->cur < 0) {
    char key[64];
    xs__copy_utf8(key, sizeof key, s, len);
    member_error(r, key, "is not a member of a metrics state");
    return;
  }
  if (r->present[r->cur]) {
    xs_json_fail(r->json, "duplicate object key \"%s\"", members[r->cur].name);
    return;
  }
  r->present[r->cur] = 1;
  if (r->cur == M_DATA) {
    data_release(r);
    r->data.type = XS_SINK_BYTES;
    r->data.grow = data_grow;
    xs_json_string_sink(r->json, &r->data);
  }
}

/* The rest of `data` after its leading ASCII run (the tokenizer's string
 * sink unescapes "\/" to "/" as it goes, as PHP writes it), from its first
 * non-ASCII character on: never base64, which the decoder finds. */
static void data_rest(xs_mstate_reader *r, const char *s, size_t len) {
  xs_json_sink *d = &r->data;
  if (d->type != XS_SINK_BYTES)
    return; /* a grow failed: recorded */
  if (d->cap - d->len < len && d->grow(d, d->len + len) != 0)
    return;
  memcpy((char *)d->data + d->len, s, len);
  d->len += len;
}

void xs_mstate_reader_scalar(xs_mstate_reader *r, const xs_json_value *v) {
  if (r->depth == 1 && r->cur == M_TOP_K) {
    /* An element of top_k. */
    if (v->kind != XS_JSON_NUMBER || !v->num.is_int)
      type_error(r, M_TOP_K);
    else if (r->top_k_count == XENT_METRICS_MAX_TOP_K)
      r->top_k_over = 1;
    else
      r->top_k[r->top_k_count++] = v->num.i;
    return;
  }
  if (r->depth != 0 || !r->pending)
    return;
  r->pending = 0;
  const int id = r->cur;
  r->cur = -1;
  if (id < 0)
    return;
  switch (members[id].type) {
  case T_INT:
    if (v->kind == XS_JSON_NUMBER && v->num.is_int)
      r->ival[id] = v->num.i;
    else
      type_error(r, id);
    break;
  case T_BOOL:
    if (v->kind == XS_JSON_TRUE || v->kind == XS_JSON_FALSE)
      r->ival[id] = v->kind == XS_JSON_TRUE;
    else
      type_error(r, id);
    break;
  case T_INTS:
    type_error(r, id);
    break;
  case T_STRING:
    if (v->kind != XS_JSON_STRING)
      type_error(r, id);
    else if (v->len > 0)
      data_rest(r, v->str, v->len);
    break;
  }
}

/* Sets err from the reader's error, placed at `where`. */
static void placed(xs_error *err, const xs_error *e, const char *where) {
  char field[sizeof err->field];
  const int n = snprintf(field, sizeof field, "%s%s%.64s", where,
                         e->field[0] != '\0' ? "." : "", e->field);
  (void)n; /* a path longer than the field is cut */
  xs__set_error(err, e->kind, field, "%s %s", field, e->message);
}

/* The readable members against the configuration in `data`, in the
 * table's order. */
static int check_members(xs_mstate_reader *r, const xent_metrics_config *c) {
  int64_t want[M_COUNT] = {0};
  want[M_CLASSES] = (int64_t)c->classes;
  want[M_BINS] = (int64_t)c->bins;
  want[M_CONFUSION] = c->confusion != 0;
  want[M_PER_CLASS] = c->per_class != 0;
  want[M_IGNORE_INDEX] = c->ignore_index;
  for (int id = M_CLASSES; id <= M_IGNORE_INDEX; id++) {
    if (!r->present[id])
      continue;
    if (id == M_TOP_K) {
      int same = r->top_k_count == c->top_k_count && !r->top_k_over;
      for (size_t k = 0; same && k < c->top_k_count; k++)
        same = r->top_k[k] == (int64_t)c->top_k[k];
      if (!same) {
        member_error(r, "top_k", "does not match the state's data");
        return -1;
      }
    } else if (r->ival[id] != want[id]) {
      member_error(r, members[id].name,
                   "is %" PRId64 " but the state's data says %" PRId64,
                   r->ival[id], want[id]);
      return -1;
    }
  }
  return 0;
}

static int add_bytes(xs_mstate_reader *r, const char *where, size_t bytes,
                     xs_mstate *acc, xs_error *err);

/* Bytes the library refused (malformed, another version, changed): 400
 * naming the byte. */
static void refused_bytes(xs_mstate_reader *r, const xent_error *xe) {
  member_error(r, "data",
               "is not a metrics state this server reads: %s (byte %lld)",
               xent_strerror(xe->status), (long long)xe->row);
}

/* refused_bytes, placed at `where`; returns -1. */
static int bytes_error(xs_mstate_reader *r, const char *where,
                       const xent_error *xe, xs_error *err) {
  refused_bytes(r, xe);
  placed(err, &r->err, where);
  return -1;
}

/* The state the others are added to, empty, of the first state's
 * configuration: 0, or -1 with err. */
static int first_state(xs_mstate_reader *r, const char *where,
                       const xent_metrics_config *cfg, size_t bytes,
                       xs_mstate *acc, xs_error *err) {
  /* Every byte is checked before the state's size is believed: a few
   * bytes that claim millions of classes are malformed (400), not a
   * request over the limits or the budget (413). With no room given, the
   * library checks them all and stops short of writing (ERR_BUFFER). */
  uint64_t probe;
  xent_error xe;
  if (xent_metrics_parse(r->data.data, bytes, (xent_metrics *)&probe, 0, &xe) !=
      XENT_ERR_BUFFER) {
    return bytes_error(r, where, &xe, err);
  }
  /* The limits a request's own batch has, before the memory is taken. */
  if (cfg->classes > r->max_classes ||
      (cfg->confusion && cfg->classes > r->max_confusion)) {
    const int conf = cfg->classes <= r->max_classes;
    xs__set_error(err, XS_ERR_PAYLOAD_TOO_LARGE, where,
                  "%s: a state of %zu classes%s is over the limit of this "
                  "server (%s %zu)",
                  where, cfg->classes, conf ? " with a confusion matrix" : "",
                  conf ? "--max-confusion-classes" : "--max-elements",
                  conf ? r->max_confusion : r->max_classes);
    return -1;
  }
  const size_t size = xent_metrics_state_size(cfg);
  void *st = xs__alloc(r->mem, size, err);
  if (st == NULL)
    return -1;
  if (xent_metrics_init(st, size, cfg, &xe) != XENT_OK) {
    xs__free(r->mem, st, size);
    xs_error_set(err, XS_ERR_INTERNAL, "a metrics state cannot be made: %s",
                 xent_strerror(xe.status));
    return -1;
  }
  acc->state = st;
  acc->size = size;
  acc->rows = 0;
  return 0;
}

int xs_mstate_reader_end(xs_mstate_reader *r, const char *where, xs_mstate *acc,
                         xs_error *err) {
  if (r->grow_failed) {
    *err = r->grow_err;
    data_release(r);
    return -1;
  }
  for (int i = 0; i < M_COUNT && !r->has_err; i++)
    if (members[i].required && !r->present[i])
      member_error(r, members[i].name, "is required");
  if (!r->has_err && r->ival[M_VERSION] != XS_MSTATE_VERSION)
    member_error(r, "version",
                 "is %" PRId64 "; this server reads metrics states of "
                 "version %d",
                 r->ival[M_VERSION], XS_MSTATE_VERSION);
  if (!r->has_err && r->ival[M_N] < 0)
    member_error(r, "n", "must be >= 0");
  size_t bad = 0;
  int64_t bytes = -1;
  if (!r->has_err) {
    bytes = r->data.type != XS_SINK_BYTES
                ? -1
                : b64_decode(r->data.data, r->data.len, &bad);
    if (bytes < 0 && bad == r->data.len)
      member_error(r, "data",
                   "is not base64 (RFC 4648, padded): its %zu characters "
                   "are not a multiple of 4",
                   r->data.len);
    else if (bytes < 0)
      member_error(r, "data",
                   "is not base64 (RFC 4648, padded) at character %zu "
                   "(counted from 0, escapes read)",
                   bad);
  }
  xent_metrics_config cfg;
  xent_error xe;
  if (!r->has_err && xent_metrics_parse_config(r->data.data, (size_t)bytes,
                                               &cfg, &xe) == XENT_OK)
    check_members(r, &cfg);
  else if (!r->has_err)
    refused_bytes(r, &xe);
  if (r->has_err) {
    placed(err, &r->err, where);
    data_release(r);
    return -1;
  }
  /* Every state is added to the others from its bytes, the first to an
   * empty state of its configuration: the work and memory are those of
   * what was sent, not of a state laid out for each (a few bytes of an
   * empty confusion matrix of 1000 classes would be 8 MB each). A later
   * state's configuration is the first's or is refused, so the limits and
   * the memory are the first's to pass. */
  if (acc->state == NULL &&
      first_state(r, where, &cfg, (size_t)bytes, acc, err) != 0) {
    data_release(r);
    return -1;
  }
  return add_bytes(r, where, (size_t)bytes, acc, err);
}

/* The counted rows a state's bytes hold against its readable members. */
static int check_rows(xs_mstate_reader *r, const char *where, uint64_t counted,
                      xs_error *err) {
  const uint64_t rows = (uint64_t)r->ival[M_N];
  if (r->present[M_COUNTED] && (uint64_t)r->ival[M_COUNTED] != counted) {
    member_error(r, "counted",
                 "is %" PRId64 " but the state's data says %" PRIu64,
                 r->ival[M_COUNTED], counted);
    placed(err, &r->err, where);
    return -1;
  }
  if (rows < counted) {
    member_error(r, "n",
                 "is %" PRIu64 ", fewer than the %" PRIu64 " rows counted",
                 rows, counted);
    placed(err, &r->err, where);
    return -1;
  }
  return 0;
}

/* A state's rows seen onto the others' (an int64 everywhere). */
static int add_rows(xs_mstate_reader *r, const char *where, xs_mstate *acc,
                    xs_error *err) {
  const uint64_t rows = (uint64_t)r->ival[M_N];
  if (acc->rows > (uint64_t)INT64_MAX - rows) {
    xs__set_error(err, XS_ERR_UNPROCESSABLE, where,
                  "%s: more than 2^63 - 1 rows would be seen (n)", where);
    return -1;
  }
  acc->rows += rows;
  return 0;
}

/* A merge's failure: its field is the first difference of configuration
 * (400), or its counts' limit (422). */
static void merge_error(xent_status st, const xent_error *xe, const char *where,
                        xs_error *err) {
  if (st == XENT_ERR_CONFIG_MISMATCH) {
    char field[sizeof err->field];
    const int n =
        snprintf(field, sizeof field, "%s.%s", where, xent_arg_name(xe->arg));
    (void)n; /* a path longer than the field is cut */
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, field,
                  "%s differs from the first state's: states of different "
                  "configurations do not merge",
                  field);
    return;
  }
  xs__set_error(
      err, st == XENT_ERR_COUNT_LIMIT ? XS_ERR_UNPROCESSABLE : XS_ERR_INTERNAL,
      where, "%s: %s", where, xent_strerror(st));
}

static int add_bytes(xs_mstate_reader *r, const char *where, size_t bytes,
                     xs_mstate *acc, xs_error *err) {
  xent_error xe;
  uint64_t counted = 0;
  const xent_status st = xent_metrics_merge_serialized(acc->state, r->data.data,
                                                       bytes, &counted, &xe);
  data_release(r);
  if (st == XENT_ERR_STATE_FORMAT || st == XENT_ERR_STATE_VERSION ||
      st == XENT_ERR_STATE_CHECKSUM)
    return bytes_error(r, where, &xe, err);
  /* A state's own faults come first, as they would alone: its readable
   * members against its bytes, then whether it merges with the others. */
  const int valid = st == XENT_OK || st == XENT_ERR_CONFIG_MISMATCH ||
                    st == XENT_ERR_COUNT_LIMIT;
  if (valid && check_rows(r, where, counted, err) != 0)
    return -1;
  if (st != XENT_OK) {
    merge_error(st, &xe, where, err);
    return -1;
  }
  return add_rows(r, where, acc, err);
}

/* ------------------------------------------------------- one document -- */

typedef struct doc {
  xs_mstate_reader *r;
  int depth;
  int not_object;
} doc;

static xs_json_sink *doc_open(void *ctx, int is_object) {
  doc *d = ctx;
  if (d->depth++ == 0) {
    d->not_object = !is_object;
    return NULL;
  }
  return xs_mstate_reader_open(d->r, is_object);
}

static void doc_close(void *ctx, int is_object) {
  doc *d = ctx;
  if (--d->depth > 0)
    xs_mstate_reader_close(d->r, is_object);
}

static void doc_key(void *ctx, const char *s, size_t len) {
  doc *d = ctx;
  xs_mstate_reader_key(d->r, s, len);
}

static void doc_scalar(void *ctx, const xs_json_value *v) {
  doc *d = ctx;
  xs_mstate_reader_scalar(d->r, v);
}

static const xs_json_handler doc_handler = {doc_open, doc_close, doc_key,
                                            doc_scalar};

int xs_mstate_parse(const char *text, size_t len, const char *where,
                    xs_mem *mem, const xs_limits *lim, xs_mstate *acc,
                    xs_error *err) {
  doc d = {NULL, 0, 0};
  xs_json *j = xs_json_new(&doc_handler, &d);
  d.r = j != NULL ? xs_mstate_reader_new(j, mem, lim) : NULL;
  if (d.r == NULL) {
    xs_json_free(j);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  int rc = 0;
  if (xs_json_feed(j, text, len) != 0 || xs_json_finish(j) != 0) {
    const xs_json_error *je = xs_json_get_error(j);
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, where,
                  "%s is not a JSON metrics state: %s at column %" PRIu64,
                  where, je->text, je->column);
    rc = -1;
  } else if (d.not_object) {
    xs__set_error(err, XS_ERR_INVALID_ARGUMENT, where,
                  "%s must be a JSON object (a metrics state)", where);
    rc = -1;
  } else {
    rc = xs_mstate_reader_end(d.r, where, acc, err);
  }
  xs_mstate_reader_free(d.r);
  xs_json_free(j);
  return rc;
}

/* ------------------------------------------------------- the requests -- */

/* An option of a merge against the states' configuration: the same, or
 * refused naming the option. */
static int same_option(const char *field, int given, int64_t asked,
                       int64_t made, xs_error *err) {
  if (!given || asked == made)
    return 0;
  xs__set_error(err, XS_ERR_INVALID_ARGUMENT, field,
                "%s is %" PRId64 " but the states were made with %" PRId64,
                field, asked, made);
  return -1;
}

/* The same for a boolean option, named as JSON writes it. */
static int same_flag(const char *field, int given, int asked, int made,
                     xs_error *err) {
  if (!given || asked == made)
    return 0;
  xs__set_error(err, XS_ERR_INVALID_ARGUMENT, field,
                "%s is %s but the states were made with %s", field,
                asked ? "true" : "false", made ? "true" : "false");
  return -1;
}

int xs__metrics_finish(xs_request *req, xs_mstate *merged,
                       size_t max_confusion_classes, xs_error *err) {
  xs_metrics_req *m = &req->metrics;
  size_t C = req->problem.classes;
  if (req->body == XS_BODY_METRICS) {
    m->rows = req->problem.n;
  } else {
    if (merged->state == NULL) {
      xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "states",
                    "states must hold at least one metrics state");
      return -1;
    }
    m->state = merged->state;
    m->state_size = merged->size;
    m->rows = merged->rows;
    req->owned[XS_F_STATES] = merged->state;
    req->owned_size[XS_F_STATES] = merged->size;
    memset(merged, 0, sizeof *merged);
    xent_metrics_config c;
    xent_error xe;
    if (xent_metrics_get_config(m->state, &c, &xe) != XENT_OK) {
      xs_error_set(err, XS_ERR_INTERNAL, "a merged metrics state is broken");
      return -1;
    }
    C = c.classes;
    if (req->forms[XS_F_TOP_K] != 0) {
      int same = m->top_k_count == c.top_k_count;
      for (size_t k = 0; same && k < c.top_k_count; k++)
        same = m->top_k[k] == (int64_t)c.top_k[k];
      if (!same) {
        xs__set_error(err, XS_ERR_INVALID_ARGUMENT, "top_k",
                      "top_k differs from the states' top_k");
        return -1;
      }
    }
    if (same_option("bins", req->forms[XS_F_BINS] != 0, (int64_t)m->bins,
                    (int64_t)c.bins, err) != 0 ||
        same_flag("confusion", req->forms[XS_F_CONFUSION] != 0,
                  m->confusion != 0, c.confusion != 0, err) != 0 ||
        same_flag("per_class", req->forms[XS_F_PER_CLASS] != 0,
                  m->per_class != 0, c.per_class != 0, err) != 0 ||
        same_option("ignore_index", req->forms[XS_F_IGNORE_INDEX] != 0,
                    req->problem.ignore_index, c.ignore_index, err) != 0)
      return -1;
    m->confusion = c.confusion;
    m->per_class = c.per_class;
  }
  if (m->confusion && C > max_confusion_classes) {
    xs__set_error(err, XS_ERR_PAYLOAD_TOO_LARGE, "confusion",
                  "confusion: a matrix of %zu classes is over the limit of "
                  "this server (--max-confusion-classes %zu)",
                  C, max_confusion_classes);
    return -1;
  }
  return 0;
}
