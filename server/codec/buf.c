/* The growable buffer, JSON strings, error messages, integer text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"

void xs_buf_init(xs_buf *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void xs_buf_free(xs_buf *b) {
  if (b == NULL)
    return;
  free(b->data);
  xs_buf_init(b);
}

char *xs_buf_take(xs_buf *b, size_t *len) {
  char *data = b->data;
  if (len != NULL)
    *len = b->len;
  xs_buf_init(b);
  return data;
}

/* Grows to at least need bytes: to exactly need when `exact`, else to
 * twice the capacity when that is more (appends of unknown total). */
static int grow(xs_buf *b, size_t need, int exact) {
  if (need <= b->cap)
    return 0;
  size_t cap = need;
  if (!exact && b->cap <= SIZE_MAX / 2 && b->cap * 2 > need)
    cap = b->cap * 2;
  if (!exact && cap < 256)
    cap = 256;
  char *data = realloc(b->data, cap);
  if (data == NULL)
    return -1;
  b->data = data;
  b->cap = cap;
  return 0;
}

int xs_buf_reserve(xs_buf *b, size_t n) {
  /* One spare byte so that the data can always be NUL-terminated. */
  if (n >= SIZE_MAX - b->len)
    return -1;
  return grow(b, b->len + n + 1, 1);
}

int xs_buf_append(xs_buf *b, const char *s, size_t n) {
  if (n >= SIZE_MAX - b->len || grow(b, b->len + n + 1, 0) != 0)
    return -1;
  if (n > 0)
    memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p) {
  size_t n;
  unsigned min;
  if (p[0] < 0x80)
    return 1;
  if (p[0] >= 0xC2 && p[0] <= 0xDF) {
    n = 2;
    min = 0x80;
  } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
    n = 3;
    min = 0x800;
  } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  unsigned cp = p[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

int xs__buf_json_string(xs_buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (xs_buf_append(b, "\"", 1) != 0)
    return -1;
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    const unsigned char c = *p;
    char esc[6];
    size_t n = 2;
    esc[0] = '\\';
    if (c == '"' || c == '\\') {
      esc[1] = (char)c;
    } else if (c == '\n') {
      esc[1] = 'n';
    } else if (c == '\t') {
      esc[1] = 't';
    } else if (c == '\r') {
      esc[1] = 'r';
    } else if (c < 0x20 || c == 0x7f) {
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      n = 6;
    } else {
      /* Valid UTF-8 passes through; a stray byte becomes '?' so that the
       * body is always valid JSON. */
      const size_t k = utf8_len(p);
      if (k == 0) {
        esc[0] = '?';
        n = 1;
      } else {
        if (xs_buf_append(b, (const char *)p, k) != 0)
          return -1;
        p += k;
        continue;
      }
    }
    if (xs_buf_append(b, esc, n) != 0)
      return -1;
    p++;
  }
  return xs_buf_append(b, "\"", 1);
}

/* Drops a UTF-8 sequence cut short at the end of s. */
static void utf8_trim(char *s, size_t n) {
  size_t i = n;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
    i--;
  if (i == 0)
    return;
  const unsigned char lead = (unsigned char)s[i - 1];
  size_t want = 1;
  if (lead >= 0xF0)
    want = 4;
  else if (lead >= 0xE0)
    want = 3;
  else if (lead >= 0xC0)
    want = 2;
  if (n - (i - 1) < want)
    s[i - 1] = '\0';
}

void xs__copy_utf8(char *dst, size_t size, const char *src, size_t n) {
  if (size == 0)
    return;
  if (n >= size)
    n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
  utf8_trim(dst, n);
}

/* Messages are one line whatever the client sent: control characters (a
 * key may hold "\n") become '?'. The field keeps the key verbatim; the
 * error body escapes it. */
static void one_line(char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = '?';
}

void xs__set_error(xs_error *err, xs_err_kind kind, const char *field,
                   const char *fmt, ...) {
  err->kind = kind;
  if (field == NULL)
    field = "";
  xs__copy_utf8(err->field, sizeof err->field, field, strlen(field));
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  if (n < 0)
    err->message[0] = '\0';
  else if ((size_t)n >= sizeof err->message)
    utf8_trim(err->message, sizeof err->message - 1);
  one_line(err->message);
}

size_t xs__format_int(int64_t v, char *buf) {
  char rev[24];
  int r = 0;
  /* Negate in unsigned arithmetic so that INT64_MIN works. */
  uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
  do {
    rev[r++] = (char)('0' + u % 10);
    u /= 10;
  } while (u > 0);
  char *o = buf;
  if (v < 0)
    *o++ = '-';
  while (r > 0)
    *o++ = rev[--r];
  *o = '\0';
  return (size_t)(o - buf);
}
