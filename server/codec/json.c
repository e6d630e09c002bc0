/*
 * json.c - the streaming tokenizer (see json.h).
 *
 * The grammar is a state per position (what may come next) plus a stack of
 * open containers, one bit each (object or array). A piece of input is read
 * in one loop over its bytes; a token (string, number, literal) that the
 * piece cuts short is copied into `carry` and finished from the next
 * pieces, so that the loop itself never looks back. Whitespace, structural
 * characters and the tokens inside one piece are read in place, without a
 * copy; a string is copied only when it holds escapes.
 *
 * Line and column are not counted per byte: the newlines of a piece are
 * counted with memchr up to where a position is needed (a token carried
 * at its end, an error) and on to its end once it is read, so that each
 * byte is looked at once.
 */
#include "json.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum state {
  ST_START,      /* before the top-level '{' or '['                  */
  ST_VALUE,      /* a value (after ':' or an array's ',')            */
  ST_FIRST_ELEM, /* after '[': a value or ']'                         */
  ST_FIRST_KEY,  /* after '{': a key or '}'                           */
  ST_KEY,        /* after an object's ',': a key                      */
  ST_COLON,      /* after a key                                       */
  ST_NEXT,       /* after a value: ',' or the closing bracket         */
  ST_END,        /* after the top-level value: whitespace only        */
  ST_ERROR
} state;

typedef enum carry_kind {
  CARRY_NONE,
  CARRY_STRING, /* from the opening quote                             */
  CARRY_PLAIN,  /* inside a string going to a byte sink, what came sunk  */
  CARRY_NUMBER,
  CARRY_LITERAL
} carry_kind;

enum { SINK_STACK = 16 };

struct xs_json {
  const xs_json_handler *h;
  void *ctx;
  state st;
  uint32_t depth;
  uint8_t is_object[XS_JSON_MAX_DEPTH / 8 + 1]; /* bit per depth */
  /* Sinks in effect, innermost last: the array at depth sink_depth[i]. */
  xs_json_sink *sink[SINK_STACK];
  uint32_t sink_depth[SINK_STACK];
  int sinks;
  /* A token cut by the end of a piece. */
  carry_kind carry;
  int carry_is_key;
  int carry_escaped; /* the carried string ends inside an escape */
  char *cbuf;
  size_t clen, ccap;
  /* The byte sink of the next value, and of the string being read; the
   * start of an escape the piece ended in (CARRY_PLAIN). */
  xs_json_sink *ss_next, *ss;
  char pend[8];
  size_t npend;
  uint64_t carry_line, carry_col, carry_offset;
  /* Unescaped string text. */
  char *sbuf;
  size_t scap;
  /* Position: bytes and newlines before the current piece. */
  const char *piece;
  size_t plen;
  uint64_t offset;
  uint64_t lines;   /* newlines before the piece                  */
  uint64_t line_at; /* offset just after the last of them         */
  /* The same before `counted` in the piece: its bytes are counted once as
   * positions move forward, so that a piece is read once in all. */
  const char *counted;
  uint64_t counted_lines, counted_line_at;
  const char *tok; /* start of the token in the piece, or NULL   */
  xs_json_error err;
};

/* ------------------------------------------------------------ plumbing -- */

xs_json *xs_json_new(const xs_json_handler *h, void *ctx) {
  xs_json *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  j->h = h;
  j->ctx = ctx;
  j->st = ST_START;
  return j;
}

void xs_json_free(xs_json *j) {
  if (j == NULL)
    return;
  free(j->cbuf);
  free(j->sbuf);
  free(j);
}

void xs_json_string_sink(xs_json *j, xs_json_sink *sink) {
  j->ss_next = sink;
}

size_t xs_json_held(const xs_json *j) {
  return j->ccap + j->scap;
}

const xs_json_error *xs_json_get_error(const xs_json *j) {
  return j->st == ST_ERROR ? &j->err : NULL;
}

/* Counts the newlines of the piece up to `at` into the `counted` fields,
 * from where they stopped (or from the piece's start for an earlier byte),
 * with memchr rather than byte by byte. */
static void count_to(xs_json *j, const char *at) {
  const char *s = j->counted;
  if (s == NULL || at < s) {
    s = j->piece;
    j->counted_lines = j->lines;
    j->counted_line_at = j->line_at;
  }
  while (s < at && (s = memchr(s, '\n', (size_t)(at - s))) != NULL) {
    j->counted_lines++;
    s++;
    j->counted_line_at = j->offset + (uint64_t)(s - j->piece);
  }
  j->counted = at;
}

/* Line, column and offset of byte `at` of the current piece. */
static void position(xs_json *j, const char *at, uint64_t *line, uint64_t *col,
                     uint64_t *offset) {
  uint64_t lines = j->lines, line_at = j->line_at;
  size_t n = 0;
  if (j->piece != NULL) {
    count_to(j, at);
    lines = j->counted_lines;
    line_at = j->counted_line_at;
    n = (size_t)(at - j->piece);
  }
  *offset = j->offset + n;
  *line = lines + 1;
  *col = *offset - line_at + 1;
}

static void vfail_at(xs_json *j, uint64_t line, uint64_t col, uint64_t offset,
                     const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static void vfail_at(xs_json *j, uint64_t line, uint64_t col, uint64_t offset,
                     const char *fmt, va_list ap) {
  if (j->st == ST_ERROR)
    return;
  j->st = ST_ERROR;
  j->err.line = line;
  j->err.column = col;
  j->err.offset = offset;
  vsnprintf(j->err.text, sizeof j->err.text, fmt, ap);
  for (char *s = j->err.text; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      *s = '?';
}

/* A syntax error at byte `at` of the piece (NULL: at the carried token). */
static int fail(xs_json *j, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(xs_json *j, const char *at, const char *fmt, ...) {
  uint64_t line, col, offset;
  if (at == NULL) {
    line = j->carry_line;
    col = j->carry_col;
    offset = j->carry_offset;
  } else {
    position(j, at, &line, &col, &offset);
  }
  va_list ap;
  va_start(ap, fmt);
  vfail_at(j, line, col, offset, fmt, ap);
  va_end(ap);
  return -1;
}

void xs_json_fail(xs_json *j, const char *fmt, ...) {
  uint64_t line, col, offset;
  if (j->tok != NULL)
    position(j, j->tok, &line, &col, &offset);
  else {
    line = j->carry_line;
    col = j->carry_col;
    offset = j->carry_offset;
  }
  va_list ap;
  va_start(ap, fmt);
  vfail_at(j, line, col, offset, fmt, ap);
  va_end(ap);
}

static int grow_to(char **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  size_t c = *cap < 64 ? 64 : *cap;
  while (c < need)
    c *= 2;
  char *b = realloc(*buf, c);
  if (b == NULL)
    return -1;
  *buf = b;
  *cap = c;
  return 0;
}

static int carry_append(xs_json *j, const char *p, size_t n) {
  if (j->clen + n > XS_JSON_MAX_TOKEN)
    return fail(j, NULL,
                "a string or number longer than %d bytes is not accepted",
                XS_JSON_MAX_TOKEN);
  if (grow_to(&j->cbuf, &j->ccap, j->clen + n + 1) != 0)
    return fail(j, NULL, "out of memory");
  memcpy(j->cbuf + j->clen, p, n);
  j->clen += n;
  return 0;
}

/* Starts carrying the token at p (to the end of the piece). */
static int carry_start(xs_json *j, carry_kind kind, const char *p,
                       const char *end) {
  position(j, p, &j->carry_line, &j->carry_col, &j->carry_offset);
  j->carry = kind;
  j->clen = 0;
  j->carry_escaped = 0;
  if (kind == CARRY_STRING) /* does the piece end inside an escape? */
    for (const char *q = p + 1; q < end; q++)
      j->carry_escaped = j->carry_escaped ? 0 : *q == '\\';
  return carry_append(j, p, (size_t)(end - p));
}

static int is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && is_ws(*p))
    p++;
  return p;
}

/* A byte that may start a number token: a digit or '-', in one test (a
 * branch on which of the two would go wrong half the time: signs of data
 * come at random). Bit b of the mask is byte b below 64. */
static int is_numstart(char c) {
  const unsigned u = (unsigned char)c;
  const uint64_t starts = 0x03FF000000000000ULL | 1ULL << '-';
  return (int)((starts >> (u & 63)) & (u < 64));
}

static int top_is_object(const xs_json *j) {
  const uint32_t d = j->depth;
  return (j->is_object[d / 8] >> (d % 8)) & 1;
}

static xs_json_sink *active_sink(const xs_json *j) {
  if (j->sinks == 0 || j->sink_depth[j->sinks - 1] != j->depth)
    return NULL;
  xs_json_sink *s = j->sink[j->sinks - 1];
  return s->type != XS_SINK_OFF ? s : NULL;
}

/* --------------------------------------------------------------- values -- */

/* After a scalar or a closed container: what may follow. */
static void value_done(xs_json *j) {
  if (j->st != ST_ERROR) /* the handler may have failed the document */
    j->st = j->depth == 0 ? ST_END : ST_NEXT;
}

static void emit(xs_json *j, const xs_json_value *v) {
  j->h->scalar(j->ctx, v);
  value_done(j);
}

static int is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* NaN, Infinity, inf in any case: what Python's json and numpy print. */
static int is_nonfinite_word(const char *s, size_t n) {
  static const char *const words[] = {"nan", "infinity", "inf"};
  for (int w = 0; w < 3; w++) {
    if (strlen(words[w]) != n)
      continue;
    size_t i = 0;
    while (i < n && (s[i] | 0x20) == words[w][i])
      i++;
    if (i == n)
      return 1;
  }
  return 0;
}

/* Appends a number (or a masked null) to the sink when it takes it. */
static int sink_take(xs_json_sink *s, const xs_number *num, int is_null) {
  if (s->type == XS_SINK_F64) {
    if (is_null && !s->allow_null)
      return 0;
  } else if (s->type != XS_SINK_I64 || is_null || !num->is_int) {
    return 0;
  }
  if (s->len == s->cap && (s->grow == NULL || s->grow(s, s->len + 1) != 0))
    return 0;
  if (s->type == XS_SINK_F64)
    ((double *)s->data)[s->len++] = is_null ? -INFINITY : xs_json_number(num);
  else
    ((int64_t *)s->data)[s->len++] = num->i;
  return 1;
}

static int number_done(xs_json *j, const xs_number *num) {
  xs_json_sink *s = active_sink(j);
  if (s != NULL && sink_take(s, num, 0)) {
    value_done(j);
    return 0;
  }
  xs_json_value v;
  v.kind = XS_JSON_NUMBER;
  v.num = *num;
  v.str = NULL;
  v.len = 0;
  emit(j, &v);
  return 0;
}

/* A byte that may continue a number token as far as its extent goes:
 * the token is the longest run of them, and must be one JSON number
 * ("1.5x", "01", "-Infinity" are refused whole, wherever pieces end).
 * Without branches: it is asked after every number of an array. */
static int is_numchar(char c) {
  const unsigned u = (unsigned char)c;
  return ((u - '0') < 10) | ((u - '+') < 4 && u != ',') |
         (((u | 0x20) - 'a') < 26);
}

/* The number token [s, e), at `at` in the piece (NULL: carried). */
static int number_token(xs_json *j, const char *at, const char *s,
                        const char *e) {
  xs_number num;
  size_t len = 0;
  const xs_numscan rc = xs_scan_number(s, e, 1, &num, &len);
  if (len == (size_t)(e - s) && rc == XS_NUM_OK)
    return number_done(j, &num);
  if (len == (size_t)(e - s) && rc == XS_NUM_RANGE)
    return fail(j, at, "%s",
                num.is_int ? "too big integer" : "real number overflow");
  fail(j, at, "invalid number");
  j->err.nonfinite =
      s < e && *s == '-' && is_nonfinite_word(s + 1, (size_t)(e - s - 1));
  return -1;
}

static const char *const literal_text[] = {"null", "true", "false"};
static const xs_json_kind literal_kind[] = {XS_JSON_NULL, XS_JSON_TRUE,
                                            XS_JSON_FALSE};

static int literal_done(xs_json *j, const char *at, const char *s, size_t n) {
  for (int i = 0; i < 3; i++)
    if (strlen(literal_text[i]) == n && memcmp(s, literal_text[i], n) == 0) {
      xs_json_sink *sk = active_sink(j);
      if (i == 0 && sk != NULL && sink_take(sk, NULL, 1)) {
        value_done(j);
        return 0;
      }
      xs_json_value v;
      memset(&v, 0, sizeof v);
      v.kind = literal_kind[i];
      emit(j, &v);
      return 0;
    }
  fail(j, at, "invalid token");
  j->err.nonfinite = is_nonfinite_word(s, n);
  return -1;
}

/* JSON's two-character escapes: 1 with the byte \e stands for in *out,
 * else 0 (\u is not one of them). */
static int simple_escape(char e, char *out) {
  static const char names[] = "\"\\/bfnrt", bytes[] = "\"\\/\b\f\n\r\t";
  const char *hit = e != '\0' ? strchr(names, e) : NULL;
  if (hit == NULL)
    return 0;
  *out = bytes[hit - names];
  return 1;
}

/* Hex value of 4 digits at p, or -1. */
static long hex4(const char *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    const int d = xs_hex_digit(p[i]);
    if (d < 0)
      return -1;
    v = v << 4 | d;
  }
  return v;
}

/* Length of the valid UTF-8 sequence at p (p < end), 0 when invalid, or
 * -1 when it may be valid but is cut by end. */
static int utf8_seq(const unsigned char *p, const unsigned char *end) {
  const unsigned c = p[0];
  int n;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  unsigned cp = c & (0x7Fu >> n);
  for (int i = 1; i < n; i++) {
    if (p + i >= end)
      return -1;
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

static size_t put_utf8(char *o, unsigned long cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/*
 * A string's text from `start` (after its opening quote, or where a sunk
 * run of it ended); `quote` is the opening quote in the piece, where its
 * errors point, or NULL for a carried token (at the token). Returns the
 * byte after the closing quote with *s, *n the unescaped text (in place
 * when it has no escape, else in sbuf); or NULL when the piece ends first
 * (*n = 0) or the string is invalid (*n = 1, the error set).
 */
static const char *read_string(xs_json *j, const char *quote, const char *start,
                               const char *end, const char **s, size_t *n) {
  const char *q = start;
  /* Plain ASCII and valid UTF-8 without escapes: no copy. */
  for (;;) {
    while (q < end && (unsigned char)*q >= 0x20 && *q != '"' && *q != '\\' &&
           (unsigned char)*q < 0x80)
      q++;
    if (q == end) {
      *n = 0;
      return NULL;
    }
    if ((unsigned char)*q >= 0x80) {
      const int k =
          utf8_seq((const unsigned char *)q, (const unsigned char *)end);
      if (k < 0) {
        *n = 0;
        return NULL;
      }
      if (k == 0) {
        *n = 1;
        fail(j, quote, "invalid UTF-8 in a string");
        return NULL;
      }
      q += k;
      continue;
    }
    break;
  }
  if (*q == '"') {
    *s = start;
    *n = (size_t)(q - start);
    return q + 1;
  }
  if (*q != '\\') {
    *n = 1;
    fail(j, quote, "control character 0x%02x in a string", (unsigned char)*q);
    return NULL;
  }
  /* Escapes: unescape into sbuf, grown as the text goes (it never grows
   * by more than 4 bytes per byte read). */
  size_t o = (size_t)(q - start);
  if (grow_to(&j->sbuf, &j->scap, o + 16) != 0) {
    *n = 1;
    fail(j, NULL, "out of memory");
    return NULL;
  }
  memcpy(j->sbuf, start, o);
  while (q < end) {
    const unsigned char c = (unsigned char)*q;
    if (o + 8 > j->scap && grow_to(&j->sbuf, &j->scap, o + 8) != 0) {
      *n = 1;
      fail(j, NULL, "out of memory");
      return NULL;
    }
    if (c == '"') {
      *s = j->sbuf;
      *n = o;
      return q + 1;
    }
    if (c < 0x20) {
      *n = 1;
      fail(j, quote, "control character 0x%02x in a string", c);
      return NULL;
    }
    if (c >= 0x80) {
      const int k =
          utf8_seq((const unsigned char *)q, (const unsigned char *)end);
      if (k <= 0) {
        *n = (size_t)(k == 0);
        if (k == 0)
          fail(j, quote, "invalid UTF-8 in a string");
        return NULL;
      }
      memcpy(j->sbuf + o, q, (size_t)k);
      o += (size_t)k;
      q += k;
      continue;
    }
    if (c != '\\') {
      j->sbuf[o++] = (char)c;
      q++;
      continue;
    }
    if (end - q < 2) {
      *n = 0;
      return NULL;
    }
    const char e = q[1];
    if (simple_escape(e, &j->sbuf[o])) {
      o++;
      q += 2;
      continue;
    }
    if (e != 'u') {
      *n = 1;
      fail(j, quote, "invalid escape");
      return NULL;
    }
    if (end - q < 6) {
      /* Cut short: an error already if a digit so far is not hex. */
      for (const char *h = q + 2; h < end; h++)
        if (xs_hex_digit(*h) < 0) {
          *n = 1;
          fail(j, quote, "invalid escape");
          return NULL;
        }
      *n = 0;
      return NULL;
    }
    long cp = hex4(q + 2);
    if (cp < 0) {
      *n = 1;
      fail(j, quote, "invalid escape");
      return NULL;
    }
    q += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      *n = 1;
      fail(j, quote, "invalid Unicode '\\u%04lX'", cp);
      return NULL;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (end - q < 6) {
        /* Cut short: an error already unless what came is "\u" + hex. */
        int ok = 1;
        for (long i = 0; i < end - q; i++)
          ok &= i == 0   ? q[i] == '\\'
                : i == 1 ? q[i] == 'u'
                         : xs_hex_digit(q[i]) >= 0;
        if (!ok) {
          *n = 1;
          fail(j, quote, "invalid Unicode '\\u%04lX'", cp);
          return NULL;
        }
        *n = 0;
        return NULL;
      }
      const long lo = q[0] == '\\' && q[1] == 'u' ? hex4(q + 2) : -1;
      if (lo < 0xDC00 || lo > 0xDFFF) {
        *n = 1;
        fail(j, quote, "invalid Unicode '\\u%04lX'", cp);
        return NULL;
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      q += 6;
    }
    if (cp == 0) {
      *n = 1;
      fail(j, quote, "\\u0000 is not allowed");
      return NULL;
    }
    o += put_utf8(j->sbuf + o, (unsigned long)cp);
  }
  *n = 0;
  return NULL;
}

static void string_done(xs_json *j, const char *s, size_t n, int is_key) {
  if (is_key) {
    j->h->key(j->ctx, s, n);
    if (j->st != ST_ERROR)
      j->st = ST_COLON;
    return;
  }
  xs_json_value v;
  memset(&v, 0, sizeof v);
  v.kind = XS_JSON_STRING;
  v.str = s;
  v.len = n;
  emit(j, &v);
}

/* ----------------------------------------------------------- containers -- */

static int open_container(xs_json *j, const char *at, int is_object) {
  if (j->depth + 1 >= XS_JSON_MAX_DEPTH)
    return fail(j, at, "maximum parsing depth reached");
  j->depth++;
  const uint32_t d = j->depth;
  if (is_object)
    j->is_object[d / 8] |= (uint8_t)(1u << (d % 8));
  else
    j->is_object[d / 8] &= (uint8_t) ~(1u << (d % 8));
  xs_json_sink *s = j->h->open(j->ctx, is_object);
  if (!is_object && s != NULL && j->sinks < SINK_STACK) {
    j->sink[j->sinks] = s;
    j->sink_depth[j->sinks] = d;
    j->sinks++;
  }
  if (j->st != ST_ERROR)
    j->st = is_object ? ST_FIRST_KEY : ST_FIRST_ELEM;
  return 0;
}

static void close_container(xs_json *j) {
  const int obj = top_is_object(j);
  if (j->sinks > 0 && j->sink_depth[j->sinks - 1] == j->depth)
    j->sinks--;
  j->depth--;
  j->h->close(j->ctx, obj);
  value_done(j);
}

/*
 * sink_run's usual case on its own: numbers into a double sink with room
 * left, each followed by ',' (whitespace around it), the sink's length
 * and capacity held in locals. From a value's first byte p (not
 * whitespace); returns where it stopped: at a value it leaves to sink_run
 * (a null, a full sink, anything not a whole number), with the state
 * unchanged or ST_VALUE, or after a number not followed by ',' (ST_NEXT).
 */
static const char *f64_run(xs_json *j, xs_json_sink *s, const char *p,
                           const char *end) {
  double *const data = s->data;
  size_t len = s->len;
  const size_t cap = s->cap;
  while (len < cap && is_numstart(*p)) {
    xs_number num;
    size_t n;
    if (xs_scan_number(p, end, 0, &num, &n) != XS_NUM_OK)
      break;
    const char *q = p + n;
    if (q == end)
      break;         /* cut by the piece */
    if (*q != ',') { /* not the usual ", " right after the number */
      if (is_numchar(*q))
        break; /* not a number alone */
      data[len++] = xs_json_number(&num);
      q = skip_ws(q, end);
      if (q == end || *q != ',') {
        j->st = ST_NEXT;
        p = q;
        break;
      }
    } else {
      data[len++] = xs_json_number(&num);
    }
    j->st = ST_VALUE;
    p = q + 1;
    if (p < end && *p == ' ')
      p++;
    p = skip_ws(p, end);
    if (p == end)
      break;
  }
  s->len = len;
  return p;
}

/*
 * The fast path: numbers (and masked nulls) of an array with a sink, read
 * in place while they come whole. Returns where it stopped; the general
 * loop takes over there in a consistent state.
 */
static const char *sink_run(xs_json *j, xs_json_sink *s, const char *p,
                            const char *end) {
  for (;;) {
    p = skip_ws(p, end);
    if (p == end)
      return p;
    if (s->type == XS_SINK_F64) {
      p = f64_run(j, s, p, end);
      if (p == end || j->st == ST_NEXT)
        return p;
    }
    const char c = *p;
    if (is_numstart(c)) {
      xs_number num;
      size_t len;
      if (xs_scan_number(p, end, 0, &num, &len) != XS_NUM_OK ||
          p + len == end || is_numchar(p[len]))
        return p; /* cut by the piece, or not a number alone */
      if (s->type == XS_SINK_F64 && s->len < s->cap) /* sink_take's usual */
        ((double *)s->data)[s->len++] = xs_json_number(&num);
      else if (!sink_take(s, &num, 0))
        return p;
      p += len;
    } else if (c == 'n' && s->allow_null && end - p > 4 &&
               memcmp(p, "null", 4) == 0 && !is_word(p[4])) {
      if (!sink_take(s, NULL, 1))
        return p;
      p += 4;
    } else {
      return p;
    }
    j->st = ST_NEXT;
    p = skip_ws(p, end);
    if (p == end || *p != ',')
      return p;
    p++;
    j->st = ST_VALUE;
  }
}

/* Appends n bytes to a byte sink, switching it off when it cannot grow. */
static void bytes_take(xs_json_sink *s, const char *p, size_t n) {
  if (s->type != XS_SINK_BYTES || n == 0)
    return;
  if (s->cap - s->len < n &&
      (s->len + n < n || s->grow == NULL || s->grow(s, s->len + n) != 0)) {
    s->type = XS_SINK_OFF;
    return;
  }
  memcpy((char *)s->data + s->len, p, n);
  s->len += n;
}

/*
 * An escape at q (a backslash) whose value is one ASCII byte other than
 * NUL: its length (2, or 6 for \u0001 to \u007F) with the byte in *out; 0
 * when the piece ends inside what may still be one; -1 otherwise (invalid,
 * \u0000, or a code point above 0x7F), left to read_string, which words
 * the error or takes the character.
 */
static int ascii_escape(const char *q, const char *end, char *out) {
  if (end - q < 2)
    return 0;
  if (simple_escape(q[1], out))
    return 2;
  if (q[1] != 'u')
    return -1;
  const ptrdiff_t have = end - q < 6 ? end - q : 6;
  for (ptrdiff_t i = 2; i < have; i++)
    if (xs_hex_digit(q[i]) < 0)
      return -1;
  if (have < 6)
    return 0;
  const long cp = hex4(q + 2);
  if (cp <= 0 || cp >= 0x80)
    return -1;
  *out = (char)cp;
  return 6;
}

static const char *carry_continue(xs_json *j, const char *p, const char *end,
                                  int final);

/* The rest of a sunk string, from `text` (n bytes, where the sink stopped,
 * the end of the piece or of the pending escape), carried from here on as
 * an ordinary string; its position stays the opening quote's. 0 or -1. */
static int carry_rest(xs_json *j, const char *text, size_t n) {
  j->ss = NULL;
  j->carry = CARRY_STRING;
  j->carry_is_key = 0;
  j->clen = 0;
  j->carry_escaped = 0;
  for (size_t i = 0; i < n; i++)
    j->carry_escaped = j->carry_escaped ? 0 : text[i] == '\\';
  return carry_append(j, "\"", 1) != 0 || carry_append(j, text, n) != 0 ? -1
                                                                        : 0;
}

/*
 * The content of a string going to the byte sink j->ss, from p (just
 * after the opening quote, or the start of a piece). Plain bytes and
 * escapes of ASCII bytes go to the sink as they come, so a long string
 * escaped throughout ("\/" for "/", as PHP writes base64) is never held
 * whole; an escape cut by the piece waits in j->pend. From anything else
 * (non-ASCII, an escape of it, an error) the rest is read as an ordinary
 * string whose errors point at the opening quote (its position is in
 * carry_line/col/offset).
 */
static const char *plain_string(xs_json *j, const char *p, const char *end) {
  const char *q = p;
  for (;;) {
    while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 &&
           *q != '"' && *q != '\\')
      q++;
    bytes_take(j->ss, p, (size_t)(q - p));
    if (q == end) {
      j->carry = CARRY_PLAIN;
      return end;
    }
    if (*q != '\\')
      break;
    char c;
    const int k = ascii_escape(q, end, &c);
    if (k < 0)
      break;
    if (k == 0) {
      j->npend = (size_t)(end - q);
      memcpy(j->pend, q, j->npend);
      j->carry = CARRY_PLAIN;
      return end;
    }
    bytes_take(j->ss, &c, 1);
    q += k;
    p = q;
  }
  j->carry = CARRY_NONE;
  j->ss = NULL;
  if (*q == '"') {
    string_done(j, q, 0, 0);
    return q + 1;
  }
  /* The rest from q, its errors at the opening quote (carry_line/col). */
  const char *s = NULL;
  size_t n = 0;
  const char *after = read_string(j, NULL, q, end, &s, &n);
  if (after != NULL) {
    string_done(j, s, n, 0);
    return after;
  }
  if (n != 0)
    return NULL;
  /* Cut by the piece: carry the rest as a string of its own. */
  return carry_rest(j, q, (size_t)(end - q)) == 0 ? end : NULL;
}

/* The piece after one that ended inside an escape of a sunk string: the
 * escape completed from it, then the string goes on; or, when it is not
 * an ASCII escape, the rest carried as an ordinary string from it. */
static const char *pending_escape(xs_json *j, const char *p, const char *end) {
  char buf[sizeof j->pend + 6];
  const size_t have = j->npend;
  const size_t more =
      (size_t)(end - p) < 6 - have ? (size_t)(end - p) : 6 - have;
  memcpy(buf, j->pend, have);
  memcpy(buf + have, p, more);
  char c;
  const int k = ascii_escape(buf, buf + have + more, &c);
  if (k > 0) {
    j->npend = 0;
    bytes_take(j->ss, &c, 1);
    return plain_string(j, p + ((size_t)k - have), end);
  }
  if (k == 0) { /* the piece was shorter than the escape: all of it waits */
    memcpy(j->pend + have, p, more);
    j->npend = have + more;
    return end;
  }
  j->npend = 0;
  if (carry_rest(j, j->pend, have) != 0)
    return NULL;
  return carry_continue(j, p, end, 0);
}

/* A value starting at p (not whitespace). */
static const char *value(xs_json *j, const char *p, const char *end) {
  const char c = *p;
  xs_json_sink *ss = j->ss_next;
  j->ss_next = NULL;
  j->tok = p;
  if (c == '"' && ss != NULL && ss->type == XS_SINK_BYTES) {
    position(j, p, &j->carry_line, &j->carry_col, &j->carry_offset);
    j->ss = ss;
    j->npend = 0;
    return plain_string(j, p + 1, end);
  }
  if (c == '{' || c == '[') {
    if (open_container(j, p, c == '{') != 0)
      return NULL;
    return p + 1;
  }
  if (c == '"') {
    const char *s = NULL;
    size_t n = 0;
    const char *after = read_string(j, p, p + 1, end, &s, &n);
    if (after != NULL) {
      string_done(j, s, n, 0);
      return after;
    }
    if (n != 0)
      return NULL;
    j->carry_is_key = 0;
    return carry_start(j, CARRY_STRING, p, end) == 0 ? end : NULL;
  }
  if ((c >= '0' && c <= '9') || c == '-') {
    const char *q = p;
    while (q < end && is_numchar(*q))
      q++;
    if (q == end)
      return carry_start(j, CARRY_NUMBER, p, end) == 0 ? end : NULL;
    return number_token(j, p, p, q) == 0 ? q : NULL;
  }
  if (is_word(c)) {
    const char *q = p;
    while (q < end && is_word(*q))
      q++;
    if (q == end)
      return carry_start(j, CARRY_LITERAL, p, end) == 0 ? end : NULL;
    if (literal_done(j, p, p, (size_t)(q - p)) != 0)
      return NULL;
    return q;
  }
  fail(j, p, "unexpected character '%c'", c);
  return NULL;
}

/* ---------------------------------------------------------------- carry -- */

/* Finishes the carried token with bytes from p; returns where the token
 * ended in this piece (end when it goes on), or NULL on an error. */
static const char *carry_continue(xs_json *j, const char *p, const char *end,
                                  int final) {
  j->tok = NULL;
  if (j->carry == CARRY_PLAIN) {
    if (!final)
      return j->npend > 0 ? pending_escape(j, p, end) : plain_string(j, p, end);
    fail(j, NULL, "premature end of input in a string");
    return NULL;
  }
  if (j->carry == CARRY_STRING) {
    const char *q = p;
    int esc = j->carry_escaped;
    /* To the closing quote, or a control byte (an error that
     * read_string words as it would have without the cut). */
    while (q < end && (unsigned char)*q >= 0x20) {
      if (esc)
        esc = 0;
      else if (*q == '\\')
        esc = 1;
      else if (*q == '"')
        break;
      q++;
    }
    const int closed = q < end;
    if (carry_append(j, p, (size_t)(q - p) + (size_t)closed) != 0)
      return NULL;
    if (!closed) {
      j->carry_escaped = esc;
      if (!final)
        return end;
      /* The input ended inside the string: an error in what came, as
       * read_string finds it, or else the end itself. */
      const char *s = NULL;
      size_t n = 0;
      if (read_string(j, NULL, j->cbuf + 1, j->cbuf + j->clen, &s, &n) ==
              NULL &&
          n == 0)
        fail(j, NULL, "premature end of input in a string");
      return NULL;
    }
    const char *s = NULL;
    size_t n = 0;
    const char *cend = j->cbuf + j->clen;
    const char *after = read_string(j, NULL, j->cbuf + 1, cend, &s, &n);
    if (after == NULL) {
      if (n == 0) /* cut inside an escape or a UTF-8 sequence */
        fail(j, NULL, "invalid string");
      return NULL;
    }
    j->carry = CARRY_NONE;
    string_done(j, s, n, j->carry_is_key);
    return q + 1;
  }
  const char *q = p;
  if (j->carry == CARRY_NUMBER)
    while (q < end && is_numchar(*q))
      q++;
  else
    while (q < end && is_word(*q))
      q++;
  if (carry_append(j, p, (size_t)(q - p)) != 0)
    return NULL;
  if (q == end && !final)
    return end;
  const carry_kind kind = j->carry;
  j->carry = CARRY_NONE;
  if (kind == CARRY_LITERAL)
    return literal_done(j, NULL, j->cbuf, j->clen) == 0 ? q : NULL;
  return number_token(j, NULL, j->cbuf, j->cbuf + j->clen) == 0 ? q : NULL;
}

/* ----------------------------------------------------------------- feed -- */

static int feed(xs_json *j, const char *data, size_t n) {
  const char *p = data, *const end = data + n;
  if (j->carry != CARRY_NONE) {
    p = carry_continue(j, p, end, 0);
    if (p == NULL)
      return -1;
  }
  while (p < end) {
    p = skip_ws(p, end);
    if (p == end)
      break;
    const char c = *p;
    switch (j->st) {
    case ST_START:
      if (c != '{' && c != '[')
        return fail(j, p, "'[' or '{' expected");
      p = value(j, p, end);
      break;
    case ST_FIRST_ELEM:
      if (c == ']') {
        close_container(j);
        p++;
        break;
      }
      /* fall through */
    case ST_VALUE: {
      xs_json_sink *s = active_sink(j);
      if (s != NULL) {
        const char *q = sink_run(j, s, p, end);
        if (q != p) {
          p = q;
          break;
        }
      }
      p = value(j, p, end);
      break;
    }
    case ST_FIRST_KEY:
      if (c == '}') {
        close_container(j);
        p++;
        break;
      }
      /* fall through */
    case ST_KEY: {
      if (c != '"')
        return fail(j, p, "string or '}' expected");
      j->tok = p;
      const char *s = NULL;
      size_t len = 0;
      const char *after = read_string(j, p, p + 1, end, &s, &len);
      if (after != NULL) {
        string_done(j, s, len, 1);
        p = after;
      } else if (len != 0) {
        return -1;
      } else {
        j->carry_is_key = 1;
        if (carry_start(j, CARRY_STRING, p, end) != 0)
          return -1;
        p = end;
      }
      break;
    }
    case ST_COLON:
      if (c != ':')
        return fail(j, p, "':' expected");
      j->st = ST_VALUE;
      p++;
      break;
    case ST_NEXT:
      if (c == ',') {
        j->st = top_is_object(j) ? ST_KEY : ST_VALUE;
        p++;
      } else if (c == (top_is_object(j) ? '}' : ']')) {
        close_container(j);
        p++;
      } else {
        return fail(j, p,
                    top_is_object(j) ? "',' or '}' expected"
                                     : "',' or ']' expected");
      }
      break;
    case ST_END:
      return fail(j, p, "end of file expected");
    case ST_ERROR:
      return -1;
    }
    if (p == NULL || j->st == ST_ERROR)
      return -1;
  }
  return 0;
}

int xs_json_feed(xs_json *j, const char *data, size_t n) {
  if (j->st == ST_ERROR)
    return -1;
  j->piece = data;
  j->plen = n;
  j->counted = NULL;
  const int rc = feed(j, data, n);
  if (rc == 0 && n > 0) {
    count_to(j, data + n);
    j->lines = j->counted_lines;
    j->line_at = j->counted_line_at;
  }
  j->offset += n;
  j->piece = NULL;
  j->counted = NULL;
  j->tok = NULL;
  return rc;
}

int xs_json_finish(xs_json *j) {
  if (j->st == ST_ERROR)
    return -1;
  j->piece = NULL;
  if (j->carry != CARRY_NONE) {
    static const char nothing[1] = {0};
    if (carry_continue(j, nothing, nothing, 1) == NULL)
      return -1;
  }
  if (j->st == ST_END)
    return 0;
  j->carry_line = j->lines + 1;
  j->carry_offset = j->offset;
  j->carry_col = j->offset - j->line_at + 1;
  return fail(j, NULL,
              j->st == ST_START ? "'[' or '{' expected"
                                : "premature end of input");
}
