/*
 * errors.c - the error kinds' table (errors.h), the one error body, and
 * the mapping of every libxent status onto a kind and a field path.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"

static const struct {
  int status;
  const char *code;
  const char *doc;
} kinds[XS_ERR_COUNT] = {[XS_ERR_NONE] = {200, "ok", ""},
#define XS__ERR_ROW(kind, status, code, doc)                                   \
  [XS_ERR_##kind] = {status, code, doc},
                         XS_ERROR_KINDS(XS__ERR_ROW)
#undef XS__ERR_ROW
};

int xs_error_http_status(xs_err_kind kind) {
  if ((unsigned)kind >= XS_ERR_COUNT)
    return 500;
  return kinds[kind].status;
}

const char *xs_error_code(xs_err_kind kind) {
  if ((unsigned)kind >= XS_ERR_COUNT)
    return "internal";
  return kinds[kind].code;
}

const char *xs_error_doc(xs_err_kind kind) {
  if ((unsigned)kind >= XS_ERR_COUNT)
    return "";
  return kinds[kind].doc;
}

void xs_error_set(xs_error *err, xs_err_kind kind, const char *fmt, ...) {
  char msg[sizeof err->message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  xs__set_error(err, kind, "", "%s", msg);
}

int xs_error_write(const xs_error *err, xs_buf *out) {
  static const char head[] = "{\"error\":{\"code\":";
  if (xs_buf_append(out, head, sizeof head - 1) != 0 ||
      xs__buf_json_string(out, xs_error_code(err->kind)) != 0 ||
      xs_buf_append(out, ",\"message\":", 11) != 0 ||
      xs__buf_json_string(out, err->message) != 0 ||
      xs_buf_append(out, ",\"field\":", 9) != 0 ||
      xs__buf_json_string(out, err->field) != 0 ||
      xs_buf_append(out, "}}", 2) != 0)
    return -1;
  return 0;
}

int xs_error_write_v2(const xs_error *err, xs_buf *out) {
  static const char head[] = "{\"error\":";
  if (xs_buf_append(out, head, sizeof head - 1) != 0 ||
      xs__buf_json_string(out, err->message) != 0 ||
      xs_buf_append(out, "}", 1) != 0)
    return -1;
  return 0;
}

char *xs__field_path(char *buf, size_t size, xs_field_id id, const int64_t *idx,
                     int nidx) {
  const xs_field *f = xs_field_get(id);
  size_t used = 0;
  if (size == 0)
    return buf;
  buf[0] = '\0';
  if (f == NULL)
    return buf;
  int n = snprintf(buf, size, "%s", f->path);
  used = n > 0 ? (size_t)n : 0;
  for (int i = 0; i < nidx && used < size; i++) {
    n = snprintf(buf + used, size - used, "[%" PRId64 "]", idx[i]);
    used += n > 0 ? (size_t)n : 0;
  }
  return buf;
}

/* Every libxent status. Input errors are the client's (400); a well-formed
 * request that has no finite answer is 422; a status the codec should have
 * made impossible (NULL pointers, workspace) is a bug of ours (500). */
static xs_err_kind kind_of(xent_status status) {
  switch (status) {
  case XENT_OK:
    return XS_ERR_NONE;
  case XENT_ERR_SHAPE:
  case XENT_ERR_OPTION:
  case XENT_ERR_LOGIT:
  case XENT_ERR_ROW_MASKED:
  case XENT_ERR_LABEL:
  case XENT_ERR_SOFT_TARGET:
  case XENT_ERR_WEIGHT:
  case XENT_ERR_SMOOTHING:
  case XENT_ERR_CONVENTION:
  case XENT_ERR_LAMBDA:
  case XENT_ERR_PARTNER:
  case XENT_ERR_IGNORED_PARTNER:
  case XENT_ERR_MIXUP_SOFT:
  case XENT_ERR_TARGETS:
  case XENT_ERR_FOCAL_GAMMA:
  case XENT_ERR_FOCAL_ALPHA:
  case XENT_ERR_POLY_EPSILON:
  case XENT_ERR_BINARY_TARGET:
  case XENT_ERR_POS_WEIGHT:
  case XENT_ERR_THRESHOLD:
  case XENT_ERR_NOT_APPLICABLE:
  case XENT_ERR_CONFIG:
  case XENT_ERR_CONFIG_MISMATCH:
  case XENT_ERR_STATE_FORMAT:
  case XENT_ERR_STATE_VERSION:
  case XENT_ERR_STATE_CHECKSUM:
  case XENT_ERR_VALUE:
    return XS_ERR_INVALID_ARGUMENT;
  case XENT_ERR_MASKED_TARGET:
  case XENT_ERR_ZERO_DENOMINATOR:
  case XENT_ERR_OVERFLOW:
  case XENT_ERR_COUNT_LIMIT:
    return XS_ERR_UNPROCESSABLE;
  case XENT_ERR_NULL:
  case XENT_ERR_WORKSPACE:
  case XENT_ERR_STATE:
  case XENT_ERR_BUFFER:
    return XS_ERR_INTERNAL;
  }
  return XS_ERR_INTERNAL;
}

/* Where a libxent error is: the field, its indices as the request nests
 * the field (v1), and the flat index of the element (a flat /v1 array, a
 * v2 tensor); `whole` when it is a position's classes of channels-first
 * logits, named by its class 0, `note` then says which. */
typedef struct place {
  xs_field_id id;
  int64_t idx[XS_MAX_RANK];
  int nidx;
  int batch;    /* laid out as the batch: logits, soft_targets, targets */
  int64_t flat; /* its flat index, when batch                           */
  int whole;    /* a whole row (position) named by its first element   */
  char note[96];
} place;

/* The indices of position `row` (n * inner + d) of the batch: n, then d
 * spread over the positions' dimensions. Returns their number. */
static int position_indices(const xs_request *req, int64_t row, int64_t *out) {
  const size_t inner = req->problem.inner > 0 ? req->problem.inner : 1;
  const int cax =
      req->problem.class_axis == XENT_CLASS_AXIS_1 ? 1 : req->rank - 1;
  int k = 0;
  out[k++] = row / (int64_t)inner;
  int64_t d = row % (int64_t)inner;
  int npos = 0;
  size_t pd[XS_MAX_RANK];
  for (int i = 1; i < req->rank && i < XS_MAX_RANK; i++)
    if (i != cax)
      pd[npos++] = req->dims[i];
  for (int i = npos - 1; i >= 0; i--) {
    out[k + i] = d % (int64_t)pd[i];
    d /= (int64_t)pd[i];
  }
  return k + npos;
}

/* A batch array's place: logits-shaped (with classes) or per position. */
static void batch_place(const xs_request *req, const xs_field *f,
                        const xent_error *xe, place *pl) {
  const xent_problem *pb = &req->problem;
  const int64_t C = (int64_t)pb->classes;
  const int64_t inner = pb->inner > 0 ? (int64_t)pb->inner : 1;
  const int last = pb->class_axis == XENT_CLASS_AXIS_LAST;
  int64_t pos[XS_MAX_RANK];
  const int np = position_indices(req, xe->row, pos);
  pl->batch = 1;
  if (f->rank != 2) { /* one value per position: targets */
    memcpy(pl->idx, pos, (size_t)np * sizeof pos[0]);
    pl->nidx = np;
    pl->flat = xe->row;
    return;
  }
  const int64_t n = pos[0], d = xe->row % inner;
  const int64_t col = xe->col >= 0 ? xe->col : 0;
  pl->flat = last ? xe->row * C + col : (n * C + col) * inner + d;
  if (xe->col < 0 && (last || req->rank <= 2)) {
    /* the row's classes are one array: name it */
    memcpy(pl->idx, pos, (size_t)np * sizeof pos[0]);
    pl->nidx = np;
    pl->whole = 1;
    return;
  }
  int k = 0;
  pl->idx[k++] = n;
  if (!last)
    pl->idx[k++] = col;
  for (int i = 1; i < np; i++)
    pl->idx[k++] = pos[i];
  if (last)
    pl->idx[k++] = col;
  pl->nidx = k;
  if (xe->col < 0) { /* channels first: the classes are spread out */
    pl->whole = 1;
    size_t used = (size_t)snprintf(pl->note, sizeof pl->note,
                                   "the classes of %s", f->path);
    for (int i = 0; i < k && used < sizeof pl->note; i++)
      used += i == 1 ? (size_t)snprintf(pl->note + used, sizeof pl->note - used,
                                        "[:]")
                     : (size_t)snprintf(pl->note + used, sizeof pl->note - used,
                                        "[%" PRId64 "]", pl->idx[i]);
  }
}

/* The field and the indices a libxent error points at, from the error's
 * structure: its argument names the field (through the table), row and
 * col index it as deep as the field's form goes. */
static void error_place(const xs_request *req, const xent_error *xe,
                        place *pl) {
  memset(pl, 0, sizeof *pl);
  pl->id = XS_F_NONE;
  if (xe->status == XENT_ERR_MIXUP_SOFT) {
    pl->id = XS_F_MIXUP;
    return;
  }
  const xs_field_id id = xe->arg == XENT_ARG_SHAPE || xe->arg == XENT_ARG_INNER
                             ? XS_F_LOGITS
                             : xs_field_of_arg(xe->arg, req->body);
  pl->id = id;
  if (id == XS_F_NONE)
    return;
  const xs_field *f = xs_field_get(id);
  /* A field with no array form, or the array as a whole: no index. A
   * field that may be an array is indexed by the row or column at fault
   * even when given as one value (a flip pairing's row 1; the batch
   * lambda's row is -1). */
  if (f->array.elem == XS_E_NONE || xe->status == XENT_ERR_SHAPE)
    return;
  if ((f->kdim & req->body) != 0 && xe->row >= 0) {
    batch_place(req, f, xe, pl);
    return;
  }
  if (f->rank == 1 && f->dims[0] == XS_DIM_C) {
    if (xe->col >= 0)
      pl->idx[pl->nidx++] = xe->col;
  } else {
    if (xe->row >= 0)
      pl->idx[pl->nidx++] = xe->row;
    if (f->rank == 2 && xe->col >= 0)
      pl->idx[pl->nidx++] = xe->col;
    pl->whole = f->rank == 2 && xe->row >= 0 && xe->col < 0;
  }
}

/* The v1 path: the field and its indices, or one flat index when the
 * request sends the batch flat. */
static void v1_path(char *buf, size_t size, const xs_request *req, place *pl) {
  if (pl->batch && req->flat) {
    xs__field_path(buf, size, pl->id, &pl->flat, 1);
    if (pl->whole && pl->note[0] == '\0')
      pl->nidx = 0; /* the message says which row */
    return;
  }
  xs__field_path(buf, size, pl->id, pl->idx, pl->nidx);
  if (pl->whole && pl->note[0] == '\0')
    pl->whole = 0; /* the path is the row itself */
}

/* An Open Inference Protocol path: the tensor (or, for a value given as a
 * request parameter, the parameter) and one flat element index. */
static void v2_path(char *buf, size_t size, const xs_request *req, place *pl) {
  const xs_field *f = xs_field_get(pl->id);
  buf[0] = '\0';
  if (f == NULL)
    return;
  const int tensor = req->forms[pl->id] == XS_FORM_ARRAY && f->v2_input != NULL;
  const char *name = tensor                ? f->v2_input
                     : f->v2_param != NULL ? f->v2_param
                     : f->v2_input != NULL ? f->v2_input
                                           : f->path;
  if (!tensor || pl->nidx == 0) {
    snprintf(buf, size, "%s", name);
    pl->nidx = 0;
    pl->whole = 0;
    return;
  }
  int64_t flat = pl->idx[0];
  if (pl->batch)
    flat = pl->flat;
  else if (pl->nidx == 2 || pl->whole)
    flat = pl->idx[0] * (int64_t)req->problem.classes +
           (pl->nidx == 2 ? pl->idx[1] : 0);
  snprintf(buf, size, "%s[%" PRId64 "]", name, flat);
  /* A whole row of a flat tensor is named by its first element, and the
   * message says which row (nidx 0). */
  pl->nidx = pl->whole ? 0 : 1;
}

void xs__field_error(xs_error *err, const xs_request *req, xs_field_id id,
                     const char *fmt, ...) {
  place pl;
  memset(&pl, 0, sizeof pl);
  pl.id = id;
  char field[sizeof err->field];
  if (req->proto == XS_PROTO_V2)
    v2_path(field, sizeof field, req, &pl);
  else
    xs__field_path(field, sizeof field, id, NULL, 0);
  char msg[sizeof err->message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  xs__set_error(err, XS_ERR_INVALID_ARGUMENT, field, "%s %s", field, msg);
}

void xs__error_from_xent(xs_error *err, const xs_request *req,
                         const xent_error *xe) {
  const xs_err_kind kind = kind_of(xe->status);
  const char *text = xent_strerror(xe->status);
  if (kind == XS_ERR_INTERNAL) {
    xs__set_error(err, kind, "", "internal error (%s)",
                  xent_status_name(xe->status));
    return;
  }
  const xent_problem *pb = &req->problem;
  place pl;
  error_place(req, xe, &pl);
  char field[sizeof err->field];
  if (req->proto == XS_PROTO_V2)
    v2_path(field, sizeof field, req, &pl);
  else
    v1_path(field, sizeof field, req, &pl);
  const int nidx = pl.whole ? 0 : pl.nidx;
  const int64_t row = xe->row;
  const size_t positions = pb->n * (pb->inner > 0 ? pb->inner : 1);
  if (xe->status == XENT_ERR_LABEL && xe->arg == XENT_ARG_TARGETS && row >= 0 &&
      (size_t)row < positions && pb->targets != NULL)
    xs__set_error(err, kind, field,
                  "%s = %" PRId64 " is outside [0, %zu) and is not "
                  "ignore_index (%" PRId64 ")",
                  field, pb->targets[row], pb->classes, pb->ignore_index);
  else if (xe->status == XENT_ERR_PARTNER && row >= 0 && (size_t)row < pb->n &&
           pb->partners != NULL)
    xs__set_error(err, kind, field, "%s = %" PRId64 " is outside [0, %zu)",
                  field, pb->partners[row], pb->n);
  else if (field[0] == '\0')
    xs__set_error(err, kind, "", "%s", text);
  else if (pl.whole && pl.note[0] != '\0')
    xs__set_error(err, kind, field, "%s: %s (%s)", field, text, pl.note);
  else if (nidx == 0 && row >= 0)
    xs__set_error(err, kind, field, "%s: %s (row %" PRId64 ")", field, text,
                  row);
  else
    xs__set_error(err, kind, field, "%s: %s", field, text);
}
