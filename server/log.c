/*
 * log.c - stderr log lines (see log.h).
 */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide, not in the daemon's handle, and on purpose: the log's one
 * destination, stderr, is the process's; lines come from main() before
 * any handle exists (a bad option, a port in use) and from libmicrohttpd's
 * logger; and the format is set once, before the first thread starts, and
 * only read afterwards, so no lock is needed. Each line is one write(2). */
static xs_log_format log_format = XS_LOG_TEXT;

void xs_log_init(xs_log_format format) {
  log_format = format;
}

/* "2026-11-28T00:40:00.123Z" into buf (at least 32 bytes). */
static void timestamp(char *buf, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  const size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* Appends s as the inside of a JSON string (no quotes), escaping quotes,
 * backslashes and control bytes, so that a URL can never forge a line or a
 * field. Stops before overflowing; returns the new length. */
static size_t escape_into(char *buf, size_t len, size_t size, const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (; *s != '\0'; s++) {
    const unsigned char ch = (unsigned char)*s;
    char tmp[7];
    size_t n = 0;
    if (ch == '"' || ch == '\\') {
      tmp[n++] = '\\';
      tmp[n++] = (char)ch;
    } else if (ch < 0x20 || ch == 0x7f) {
      tmp[n++] = '\\';
      tmp[n++] = 'u';
      tmp[n++] = '0';
      tmp[n++] = '0';
      tmp[n++] = hex[ch >> 4];
      tmp[n++] = hex[ch & 15];
    } else {
      tmp[n++] = (char)ch;
    }
    if (len + n + 1 >= size) {
      break;
    }
    memcpy(buf + len, tmp, n);
    len += n;
  }
  buf[len] = '\0';
  return len;
}

/* Appends formatted text; keeps the buffer NUL-terminated on truncation. */
static size_t append(char *buf, size_t len, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t len, size_t size, const char *fmt, ...) {
  if (len + 1 >= size) {
    return len;
  }
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(buf + len, size - len, fmt, ap);
  va_end(ap);
  if (n < 0) {
    return len;
  }
  return (size_t)n < size - len ? len + (size_t)n : size - 1;
}

static void emit(char *line, size_t len, size_t size) {
  if (len + 1 >= size) {
    len = size - 2;
  }
  line[len++] = '\n';
  size_t off = 0;
  while (off < len) {
    const ssize_t w = write(STDERR_FILENO, line + off, len - off);
    if (w <= 0) {
      return;
    }
    off += (size_t)w;
  }
}

static void vlog(const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void vlog(const char *level, const char *fmt, va_list ap) {
  char msg[1024];
  char line[2048];
  char ts[40];
  vsnprintf(msg, sizeof msg, fmt, ap);
  timestamp(ts, sizeof ts);
  size_t len = 0;
  if (log_format == XS_LOG_JSON) {
    len = append(line, len, sizeof line,
                 "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level);
    len = escape_into(line, len, sizeof line - 3, msg);
    len = append(line, len, sizeof line, "\"}");
  } else {
    len = append(line, len, sizeof line, "%s %s %s", ts, level, msg);
  }
  emit(line, len, sizeof line);
}

void xs_log_info(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("info", fmt, ap);
  va_end(ap);
}

void xs_log_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("error", fmt, ap);
  va_end(ap);
}

void xs_log_access(const xs_access_entry *e) {
  char line[1024];
  char ts[40];
  char method[64];
  char path[640];
  timestamp(ts, sizeof ts);
  escape_into(method, 0, sizeof method, e->method != NULL ? e->method : "");
  escape_into(path, 0, sizeof path, e->path != NULL ? e->path : "");
  size_t len = 0;
  if (log_format == XS_LOG_JSON) {
    len = append(line, len, sizeof line,
                 "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"access\","
                 "\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
                 "\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                 ",\"duration_ms\":%.3f}",
                 ts, method, path, e->status, e->bytes_in, e->bytes_out,
                 e->duration_ms);
  } else {
    len = append(line, len, sizeof line,
                 "%s access method=%s path=\"%s\" status=%d bytes_in=%" PRIu64
                 " bytes_out=%" PRIu64 " duration_ms=%.3f",
                 ts, method, path, e->status, e->bytes_in, e->bytes_out,
                 e->duration_ms);
  }
  emit(line, len, sizeof line);
}
