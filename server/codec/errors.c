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

/* The field and the indices a libxent error points at, from the error's
 * structure: its argument names the field (through the table), row and
 * col index it as deep as the field's form goes. */
static xs_field_id error_place(const xs_request *req, const xent_error *xe,
                               int64_t *idx, int *nidx) {
  *nidx = 0;
  if (xe->status == XENT_ERR_MIXUP_SOFT)
    return XS_F_MIXUP;
  xs_field_id id = xe->arg == XENT_ARG_SHAPE
                       ? XS_F_LOGITS
                       : xs_field_of_arg(xe->arg, req->body);
  if (id == XS_F_NONE)
    return id;
  const xs_field *f = xs_field_get(id);
  /* A field with no array form, or the array as a whole: no index. A
   * field that may be an array is indexed by the row or column at fault
   * even when given as one value (a flip pairing's row 1; the batch
   * lambda's row is -1). */
  if (f->array.elem == XS_E_NONE || xe->status == XENT_ERR_SHAPE)
    return id;
  /* The label of a row that masks it: the row's entry in targets. */
  if (xe->status == XENT_ERR_MASKED_TARGET && xe->arg == XENT_ARG_TARGETS) {
    if (xe->row >= 0)
      idx[(*nidx)++] = xe->row;
    return id;
  }
  if (f->rank == 1 && f->dims[0] == XS_DIM_C) {
    if (xe->col >= 0)
      idx[(*nidx)++] = xe->col;
  } else {
    if (xe->row >= 0)
      idx[(*nidx)++] = xe->row;
    if (f->rank == 2 && xe->col >= 0)
      idx[(*nidx)++] = xe->col;
  }
  return id;
}

/* An Open Inference Protocol path: the tensor (or, for a value given as a
 * request parameter, the parameter) and one flat element index. */
static void v2_path(char *buf, size_t size, const xs_request *req,
                    xs_field_id id, const int64_t *idx, int *nidx) {
  const xs_field *f = xs_field_get(id);
  buf[0] = '\0';
  if (f == NULL)
    return;
  const int tensor = req->forms[id] == XS_FORM_ARRAY && f->v2_input != NULL;
  const char *name = tensor                ? f->v2_input
                     : f->v2_param != NULL ? f->v2_param
                     : f->v2_input != NULL ? f->v2_input
                                           : f->path;
  if (!tensor || *nidx == 0) {
    snprintf(buf, size, "%s", name);
    *nidx = 0;
    return;
  }
  int64_t flat = idx[0];
  const int whole_row = f->rank == 2 && *nidx == 1;
  if (*nidx == 2 || whole_row)
    flat = idx[0] * (int64_t)req->problem.classes + (*nidx == 2 ? idx[1] : 0);
  snprintf(buf, size, "%s[%" PRId64 "]", name, flat);
  /* A whole row of a flat tensor is named by its first element, and the
   * message says which row (nidx 0). */
  *nidx = whole_row ? 0 : 1;
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
  int64_t idx[2];
  int nidx = 0;
  const xs_field_id id = error_place(req, xe, idx, &nidx);
  char field[sizeof err->field];
  if (req->proto == XS_PROTO_V2)
    v2_path(field, sizeof field, req, id, idx, &nidx);
  else
    xs__field_path(field, sizeof field, id, idx, nidx);
  const int64_t row = xe->row;
  if (xe->status == XENT_ERR_LABEL && xe->arg == XENT_ARG_TARGETS && row >= 0 &&
      (size_t)row < pb->n && pb->targets != NULL)
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
  else if (nidx == 0 && row >= 0)
    xs__set_error(err, kind, field, "%s: %s (row %" PRId64 ")", field, text,
                  row);
  else
    xs__set_error(err, kind, field, "%s: %s", field, text);
}
