/*
 * log.h - xentd's log lines on stderr: one line per event, as text or as
 * one JSON object per line. Each line is written with a single write(2), so
 * lines from different threads never interleave.
 */
#ifndef XENTD_LOG_H
#define XENTD_LOG_H

#include <stdint.h>

typedef enum xs_log_format { XS_LOG_TEXT = 0, XS_LOG_JSON = 1 } xs_log_format;

/* Chooses the format of every later line (default text). Call before any
 * thread is started. */
void xs_log_init(xs_log_format format);

/* A free-text line at level "info" or "error". */
void xs_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void xs_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One request as the access log records it. */
typedef struct xs_access_entry {
  const char *method;
  const char *path;
  int status; /* 0 when the client left before an answer was queued */
  uint64_t bytes_in;
  uint64_t bytes_out;
  double duration_ms;
} xs_access_entry;

void xs_log_access(const xs_access_entry *e);

#endif /* XENTD_LOG_H */
