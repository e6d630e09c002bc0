/*
 * The one table of failures: every xs_err_kind with its HTTP status and
 * code, the mapping of every libxent status onto it, and the error body.
 */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"

static const struct {
  int status;
  const char *code;
} kinds[] = {
    [XS_ERR_NONE] = {200, "ok"},
    [XS_ERR_INVALID_JSON] = {400, "invalid_json"},
    [XS_ERR_INVALID_ARGUMENT] = {400, "invalid_argument"},
    [XS_ERR_NOT_FOUND] = {404, "not_found"},
    [XS_ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed"},
    [XS_ERR_LENGTH_REQUIRED] = {411, "length_required"},
    [XS_ERR_PAYLOAD_TOO_LARGE] = {413, "payload_too_large"},
    [XS_ERR_UNSUPPORTED_MEDIA] = {415, "unsupported_media_type"},
    [XS_ERR_UNPROCESSABLE] = {422, "unprocessable"},
    [XS_ERR_OVERLOADED] = {429, "overloaded"},
    [XS_ERR_SHUTTING_DOWN] = {503, "shutting_down"},
    [XS_ERR_INTERNAL] = {500, "internal"},
};

int xs_error_http_status(xs_err_kind kind) {
  if ((unsigned)kind >= sizeof kinds / sizeof kinds[0])
    return 500;
  return kinds[kind].status;
}

const char *xs_error_code(xs_err_kind kind) {
  if ((unsigned)kind >= sizeof kinds / sizeof kinds[0])
    return "internal";
  return kinds[kind].code;
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
    return XS_ERR_INVALID_ARGUMENT;
  case XENT_ERR_MASKED_TARGET:
  case XENT_ERR_ZERO_DENOMINATOR:
  case XENT_ERR_OVERFLOW:
    return XS_ERR_UNPROCESSABLE;
  case XENT_ERR_NULL:
  case XENT_ERR_WORKSPACE:
    return XS_ERR_INTERNAL;
  }
  return XS_ERR_INTERNAL;
}

/* Arguments that are one JSON value, not an array: no index in the path. */
static int is_scalar_arg(xent_arg arg) {
  switch (arg) {
  case XENT_ARG_LABEL_SMOOTHING:
  case XENT_ARG_SMOOTHING:
  case XENT_ARG_REDUCTION:
  case XENT_ARG_IGNORE_INDEX:
  case XENT_ARG_NONE:
  case XENT_ARG_SHAPE:
  case XENT_ARG_OUTPUTS:
  case XENT_ARG_WORKSPACE:
  case XENT_ARG_KERNEL:
    return 1;
  default:
    return 0;
  }
}

void xs_error_from_xent(xs_error *err, const xent_error *xe) {
  const xs_err_kind kind = kind_of(xe->status);
  const char *text = xent_strerror(xe->status);
  if (kind == XS_ERR_INTERNAL) {
    xs__set_error(err, kind, "", "internal error (%s)",
                  xent_status_name(xe->status));
    return;
  }
  const char *name = xent_arg_name(xe->arg);
  if (xe->arg == XENT_ARG_SHAPE)
    name = "logits";
  if (xe->status == XENT_ERR_MIXUP_SOFT)
    name = "mixup";
  char field[sizeof err->field];
  if (is_scalar_arg(xe->arg) || xe->status == XENT_ERR_MIXUP_SOFT ||
      (xe->status == XENT_ERR_SHAPE && xe->arg == XENT_ARG_MIXUP_LAMBDA))
    snprintf(field, sizeof field, "%s", name);
  else if (xe->status == XENT_ERR_MASKED_TARGET &&
           xe->arg == XENT_ARG_TARGETS && xe->row >= 0)
    /* A hard label: the offending value is the label of the row. */
    snprintf(field, sizeof field, "%s[%lld]", name, (long long)xe->row);
  else if (xe->row >= 0 && xe->col >= 0)
    snprintf(field, sizeof field, "%s[%lld][%lld]", name, (long long)xe->row,
             (long long)xe->col);
  else if (xe->row >= 0)
    snprintf(field, sizeof field, "%s[%lld]", name, (long long)xe->row);
  else if (xe->col >= 0)
    snprintf(field, sizeof field, "%s[%lld]", name, (long long)xe->col);
  else
    snprintf(field, sizeof field, "%s", name);

  if (field[0] == '\0')
    xs__set_error(err, kind, "", "%s", text);
  else if (is_scalar_arg(xe->arg) && xe->row >= 0)
    xs__set_error(err, kind, field, "%s: %s (row %lld)", field, text,
                  (long long)xe->row);
  else
    xs__set_error(err, kind, field, "%s: %s", field, text);
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
