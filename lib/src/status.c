/* Version, status and argument names: every string comes from the one list
 * in xent.h, so the enum and its text cannot drift apart. */
#include <stdio.h>

#include "xent.h"

unsigned xent_version_number(void) {
  return XENT_VERSION_NUMBER;
}

const char *xent_version_string(void) {
  return XENT_VERSION_STRING;
}

/* The metrics statuses are constants, not enumerators (see
 * XENT_METRICS_STATUS_MAP): each must equal its entry in the list. */
#define XENT__STATUS_PINNED(name, value, message)                              \
  _Static_assert((int)XENT_##name == (value), "XENT_" #name);
XENT_METRICS_STATUS_MAP(XENT__STATUS_PINNED)
#undef XENT__STATUS_PINNED

/* The switches are on int: case values outside the enumerators are the
 * metrics statuses. */
const char *xent_strerror(xent_status status) {
  switch ((int)status) {
#define XENT__STATUS_TEXT(name, value, message)                                \
  case XENT_##name:                                                            \
    return message;
    XENT_STATUS_MAP(XENT__STATUS_TEXT)
    XENT_METRICS_STATUS_MAP(XENT__STATUS_TEXT)
#undef XENT__STATUS_TEXT
  }
  return "unknown status";
}

const char *xent_status_name(xent_status status) {
  switch ((int)status) {
#define XENT__STATUS_NAME(name, value, message)                                \
  case XENT_##name:                                                            \
    return #name;
    XENT_STATUS_MAP(XENT__STATUS_NAME)
    XENT_METRICS_STATUS_MAP(XENT__STATUS_NAME)
#undef XENT__STATUS_NAME
  }
  return "UNKNOWN";
}

const char *xent_arg_name(xent_arg arg) {
  switch (arg) {
#define XENT__ARG_TEXT(name, value, field)                                     \
  case XENT_ARG_##name:                                                        \
    return field;
    XENT_ARG_MAP(XENT__ARG_TEXT)
#undef XENT__ARG_TEXT
  }
  return "";
}

char *xent_error_format(const xent_error *err, char *buf, size_t size) {
  if (buf == NULL || size == 0)
    return buf;
  if (err == NULL) {
    snprintf(buf, size, "%s", xent_strerror(XENT_ERR_NULL));
    return buf;
  }
  const char *field = xent_arg_name(err->arg);
  const char *message = xent_strerror(err->status);
  if (field[0] == '\0')
    snprintf(buf, size, "%s", message);
  else if (err->row >= 0 && err->col >= 0)
    snprintf(buf, size, "%s[%lld][%lld]: %s", field, (long long)err->row,
             (long long)err->col, message);
  else if (err->row >= 0)
    snprintf(buf, size, "%s[%lld]: %s", field, (long long)err->row, message);
  else if (err->col >= 0)
    snprintf(buf, size, "%s[%lld]: %s", field, (long long)err->col, message);
  else
    snprintf(buf, size, "%s: %s", field, message);
  return buf;
}
