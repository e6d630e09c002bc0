/*
 * errors.h - the one list of every failure xentd reports.
 *
 * X(KIND, HTTP status, code, when): the enum xs_err_kind, the status and
 * code of the error body (errors.c) and README.md's table of errors
 * (printed by `xs-describe errors`, checked by `make errors-table`) all
 * come from this list.
 */
#ifndef XENTD_ERRORS_H
#define XENTD_ERRORS_H

#define XS_ERROR_KINDS(X)                                                      \
  X(INVALID_JSON, 400, "invalid_json",                                         \
    "the body is not JSON; the message gives line and column. JSON has "       \
    "no NaN/Infinity literals: send `null` for a masked class")                \
  X(INVALID_ARGUMENT, 400, "invalid_argument",                                 \
    "a field has the wrong type, shape or range; `field` points at the "       \
    "first offending value")                                                   \
  X(UNAUTHORIZED, 401, "unauthorized",                                         \
    "with `WWW-Authenticate: Bearer`: --auth-token-file is set and the "       \
    "request has no `Authorization: Bearer <token>` of the file")              \
  X(NOT_FOUND, 404, "not_found",                                               \
    "unknown path (`GET /v1` lists the endpoints)")                            \
  X(METHOD_NOT_ALLOWED, 405, "method_not_allowed",                             \
    "wrong method for the path; the `Allow` header names the right one")       \
  X(LENGTH_REQUIRED, 411, "length_required",                                   \
    "a POST with neither `Content-Length` nor a chunked body")                 \
  X(PAYLOAD_TOO_LARGE, 413, "payload_too_large",                               \
    "over a configured size: a body over `--max-body-bytes` (refused "         \
    "from `Content-Length` before it is read, and the connection "             \
    "closes; a chunked body is dropped as it passes the limit and "            \
    "answered when it ends), an array over `--max-rows` or `--max-"            \
    "elements` (refused while it is read), or a request that needs more"       \
    " memory than `--max-memory`")                                             \
  X(UNSUPPORTED_MEDIA, 415, "unsupported_media_type",                          \
    "a POST whose `Content-Type` is not `application/json`")                   \
  X(UNPROCESSABLE, 422, "unprocessable",                                       \
    "well-formed but not computable (every row ignored, target mass on "       \
    "a masked class)")                                                         \
  X(OVERLOADED, 429, "overloaded",                                             \
    "with `Retry-After`: more loss/targets requests than `--max-in-"           \
    "flight` are computing or sending their answers (an answer holds its "     \
    "place until its last byte is handed to the socket), or the memory "       \
    "budget (`--max-memory`) is taken by other requests right now")            \
  X(INTERNAL, 500, "internal",                                                 \
    "a bug in xentd; please report it with the request")                       \
  X(SHUTTING_DOWN, 503, "shutting_down",                                       \
    "with `Retry-After`: `/readyz` once xentd has received SIGTERM")

typedef enum xs_err_kind {
  XS_ERR_NONE = 0,
#define XS__ERR_ENUM(kind, status, code, doc) XS_ERR_##kind,
  XS_ERROR_KINDS(XS__ERR_ENUM)
#undef XS__ERR_ENUM
      XS_ERR_COUNT
} xs_err_kind;

#endif /* XENTD_ERRORS_H */
