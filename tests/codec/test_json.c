/*
 * test_json: the tokenizer's byte sink for long strings (json.h,
 * xs_json_string_sink). A string value after the key "data" goes to the
 * sink; its ASCII prefix (escapes of ASCII bytes unescaped) must arrive
 * there and the rest in the string's event, so that prefix + rest is the
 * unescaped string, whatever pieces the document comes in, with no length
 * limit; and a broken string must give the error it gives without a sink,
 * at the same line and column. And numbers out of range are named as
 * jansson names them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct ctx {
  xs_json *j;
  xs_json_sink sink;
  size_t max; /* the sink may not grow past this */
  int armed, events;
  char *rest; /* the last string event's text */
  size_t rest_len;
  int rest_events;
} ctx;

static int grow(xs_json_sink *s, size_t at_least) {
  ctx *c = (ctx *)((char *)s - offsetof(ctx, sink));
  if (at_least > c->max)
    return -1;
  size_t cap = s->cap < 16 ? 16 : s->cap;
  while (cap < at_least)
    cap *= 2;
  char *d = realloc(s->data, cap);
  ck_assert_ptr_nonnull(d);
  s->data = d;
  s->cap = cap;
  return 0;
}

static xs_json_sink *on_open(void *x, int is_object) {
  (void)x;
  (void)is_object;
  return NULL;
}

static void on_close(void *x, int is_object) {
  (void)x;
  (void)is_object;
}

static void on_key(void *x, const char *s, size_t len) {
  ctx *c = x;
  if (len == 4 && memcmp(s, "data", 4) == 0) {
    xs_json_string_sink(c->j, &c->sink);
    c->armed++;
  }
}

static void on_scalar(void *x, const xs_json_value *v) {
  ctx *c = x;
  c->events++;
  if (v->kind != XS_JSON_STRING)
    return;
  free(c->rest);
  c->rest = malloc(v->len + 1);
  memcpy(c->rest, v->str, v->len);
  c->rest[v->len] = '\0';
  c->rest_len = v->len;
  c->rest_events++;
}

static const xs_json_handler handler = {on_open, on_close, on_key, on_scalar};

/* Parses doc in pieces of `piece` bytes (0: whole); returns 0 or -1. */
static int run(ctx *c, const char *doc, size_t len, size_t piece, size_t max,
               int use_sink) {
  memset(c, 0, sizeof *c);
  c->sink.type = use_sink ? XS_SINK_BYTES : XS_SINK_OFF;
  c->sink.grow = grow;
  c->max = max;
  c->j = xs_json_new(&handler, c);
  ck_assert_ptr_nonnull(c->j);
  int rc = 0;
  if (piece == 0)
    piece = len == 0 ? 1 : len;
  for (size_t at = 0; at < len && rc == 0; at += piece)
    rc = xs_json_feed(c->j, doc + at, len - at < piece ? len - at : piece);
  if (rc == 0)
    rc = xs_json_finish(c->j);
  return rc;
}

static void done(ctx *c) {
  xs_json_free(c->j);
  free(c->sink.data);
  free(c->rest);
}

/* The whole string the handler saw: the sink's bytes and the rest. */
static char *whole(const ctx *c) {
  const size_t n = c->sink.len + c->rest_len;
  char *s = malloc(n + 1);
  if (c->sink.len > 0)
    memcpy(s, c->sink.data, c->sink.len);
  if (c->rest_len > 0)
    memcpy(s + c->sink.len, c->rest, c->rest_len);
  s[n] = '\0';
  return s;
}

/* Every split of doc into two pieces and byte by byte: the same string. */
static void same_every_split(const char *doc, const char *want,
                             size_t want_sink) {
  const size_t len = strlen(doc);
  for (size_t cut = 0; cut <= len; cut++) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.sink.type = XS_SINK_BYTES;
    c.sink.grow = grow;
    c.max = (size_t)-1;
    c.j = xs_json_new(&handler, &c);
    ck_assert_int_eq(xs_json_feed(c.j, doc, cut), 0);
    ck_assert_int_eq(xs_json_feed(c.j, doc + cut, len - cut), 0);
    ck_assert_int_eq(xs_json_finish(c.j), 0);
    char *got = whole(&c);
    ck_assert_msg(strcmp(got, want) == 0, "cut %zu: \"%s\"", cut, got);
    ck_assert_uint_eq(c.sink.len, want_sink);
    ck_assert_int_eq(c.rest_events, 1);
    free(got);
    done(&c);
  }
  ctx c;
  ck_assert_int_eq(run(&c, doc, len, 1, (size_t)-1, 1), 0);
  char *got = whole(&c);
  ck_assert_str_eq(got, want);
  free(got);
  done(&c);
}

START_TEST(plain_and_escaped_strings) {
  /* All plain: everything in the sink, an empty rest. */
  same_every_split("{\"data\":\"QUJD+/=\"}", "QUJD+/=", 7);
  /* Escapes of ASCII bytes go to the sink unescaped; from the first
   * non-ASCII character (here escaped) the rest is the string's event. */
  same_every_split("{\"data\":\"ab\\ncd\\u00e9\\\"\"}", "ab\ncd\xc3\xa9\"", 5);
  same_every_split("{\"data\":\"a\\/b\\u002F\\u002fc\\\\\\\"\"}", "a/b//c\\\"",
                   8);
  /* \u0000 and escapes above 0x7F are read_string's, however cut. */
  same_every_split("{\"data\":\"x\\/\\u0041\\u0080\\/\"}", "x/A\xc2\x80/", 3);
  same_every_split("{\"data\":\"\\ud83d\\ude00/\"}", "\xf0\x9f\x98\x80/", 0);
  /* Non-ASCII UTF-8 ends the plain run as well. */
  same_every_split("{\"data\":\"xy\xc3\xa9z\"}", "xy\xc3\xa9z", 2);
  /* An empty string; an escape first. */
  same_every_split("{\"data\":\"\"}", "", 0);
  same_every_split("{\"data\":\"\\t1\"}", "\t1", 2);
  /* Another key's string is not sunk; the sink serves one value only. */
  ctx c;
  const char *doc = "{\"data\":7,\"name\":\"plain\"}";
  ck_assert_int_eq(run(&c, doc, strlen(doc), 0, (size_t)-1, 1), 0);
  ck_assert_uint_eq(c.sink.len, 0);
  ck_assert_str_eq(c.rest, "plain");
  ck_assert_int_eq(c.events, 2);
  done(&c);
}
END_TEST

/* A plain string of 3 MiB, three times XS_JSON_MAX_TOKEN, in pieces of
 * 4 KiB: accepted, every byte in the sink. Without a sink the same
 * document is refused (the carried token limit). */
START_TEST(longer_than_a_token) {
  const size_t n = 3u << 20;
  char *doc = malloc(n + 32);
  size_t len = (size_t)sprintf(doc, "{\"data\":\"");
  for (size_t i = 0; i < n; i++)
    doc[len + i] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345678"
        "9+/"[i % 64];
  len += n;
  len += (size_t)sprintf(doc + len, "\"}");
  ctx c;
  ck_assert_int_eq(run(&c, doc, len, 4096, (size_t)-1, 1), 0);
  ck_assert_uint_eq(c.sink.len, n);
  ck_assert_int_eq(memcmp(c.sink.data, doc + 9, n), 0);
  ck_assert_uint_eq(c.rest_len, 0);
  ck_assert_uint_le(xs_json_held(c.j), 64);
  done(&c);
  ck_assert_int_eq(run(&c, doc, len, 4096, (size_t)-1, 0), -1);
  ck_assert_ptr_nonnull(strstr(xs_json_get_error(c.j)->text, "longer than"));
  done(&c);
  /* A sink that may not grow past 1000 bytes is switched off: the string
   * is still read to its end, the document is valid. */
  ck_assert_int_eq(run(&c, doc, len, 4096, 1000, 1), 0);
  ck_assert_int_eq(c.sink.type, XS_SINK_OFF);
  ck_assert_uint_le(c.sink.len, 1000);
  ck_assert_int_eq(c.rest_events, 1);
  done(&c);
  free(doc);
}
END_TEST

/* 3 MiB of base64 as PHP writes it, every "/" as "\/" (and a few as
 * "\u002F"), in pieces of 4093 bytes (so escapes are cut at every
 * offset): all of it unescaped in the sink, nothing held, no rest. */
START_TEST(long_escaped_string) {
  const size_t n = 3u << 20;
  char *doc = malloc(6 * n + 32), *want = malloc(n);
  size_t len = (size_t)sprintf(doc, "{\"data\":\"");
  for (size_t i = 0; i < n; i++) {
    want[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345678"
              "9+/"[i % 64];
    if (want[i] != '/')
      doc[len++] = want[i];
    else
      len += (size_t)sprintf(doc + len, i % 128 == 63 ? "\\/" : "\\u002F");
  }
  len += (size_t)sprintf(doc + len, "\"}");
  ctx c;
  ck_assert_int_eq(run(&c, doc, len, 4093, (size_t)-1, 1), 0);
  ck_assert_uint_eq(c.sink.len, n);
  ck_assert_int_eq(memcmp(c.sink.data, want, n), 0);
  ck_assert_uint_eq(c.rest_len, 0);
  ck_assert_int_eq(c.rest_events, 1);
  ck_assert_uint_le(xs_json_held(c.j), 64);
  done(&c);
  free(doc);
  free(want);
}
END_TEST

/* Broken strings: the error, its line and its column are those without a
 * sink, whole or byte by byte. */
START_TEST(errors_as_without_a_sink) {
  static const char *const docs[] = {
      "{\"data\":\"abc\\x\"}",      "{\"data\":\"abc\x01\"}",
      "{\"data\":\"ab\xff\"}",      "{\n \"data\":\"abcdef",
      "{\"data\":\"abc\\ud800x\"}", "{\"data\":\"a\\u0000\"}",
      "{\"data\":\"abc\\u12\"}",    "{\"data\":\"abc\"]",
      "{\"data\":\"a\\/\\u00",      "{\"data\":\"a\\/\\",
      "{\"data\":\"a\\/\\u00g1\"}", "{\"data\":\"a\\/\\u0000\"}",
      "{\"data\":\"a\\/\\udc00\"}", "{\"data\":\"a\\/\\q\"}",
  };
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    const size_t len = strlen(docs[i]);
    for (size_t piece = 0; piece <= 1; piece++) {
      ctx a, b;
      ck_assert_int_eq(run(&a, docs[i], len, piece, (size_t)-1, 0), -1);
      ck_assert_int_eq(run(&b, docs[i], len, piece, (size_t)-1, 1), -1);
      const xs_json_error *ea = xs_json_get_error(a.j);
      const xs_json_error *eb = xs_json_get_error(b.j);
      ck_assert_msg(strcmp(ea->text, eb->text) == 0 && ea->line == eb->line &&
                        ea->column == eb->column,
                    "%s (piece %zu): %s %d:%d against %s %d:%d", docs[i], piece,
                    ea->text, (int)ea->line, (int)ea->column, eb->text,
                    (int)eb->line, (int)eb->column);
      done(&a);
      done(&b);
    }
  }
}
END_TEST

/* A number token beyond the limits: jansson's message for each limit,
 * whole and byte by byte (the token then carried across pieces). */
START_TEST(out_of_range_numbers) {
  static const char *const docs[][2] = {
      {"[1e400]", "real number overflow"},
      {"[-1.8e308]", "real number overflow"},
      {"{\"a\":99999999999999999999}", "too big integer"},
      {"[-9223372036854775809]", "too big integer"},
  };
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
    for (size_t piece = 0; piece <= 1; piece++) {
      ctx c;
      ck_assert_int_eq(
          run(&c, docs[i][0], strlen(docs[i][0]), piece, (size_t)-1, 0), -1);
      const char *const text = xs_json_get_error(c.j)->text;
      ck_assert_msg(strstr(text, docs[i][1]) != NULL,
                    "%s (piece %zu): \"%s\", want \"%s\"", docs[i][0], piece,
                    text, docs[i][1]);
      done(&c);
    }
}
END_TEST

int main(void) {
  Suite *s = suite_create("json");
  TCase *tc = tcase_create("string sink");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, plain_and_escaped_strings);
  tcase_add_test(tc, longer_than_a_token);
  tcase_add_test(tc, long_escaped_string);
  tcase_add_test(tc, errors_as_without_a_sink);
  suite_add_tcase(s, tc);
  TCase *tn = tcase_create("numbers");
  tcase_add_test(tn, out_of_range_numbers);
  suite_add_tcase(s, tn);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
