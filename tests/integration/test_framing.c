/*
 * test_framing.c - requests whose length is ambiguous or malformed, and
 * headers too large for a connection's memory, against a real xentd.
 *
 * A body's length must be given once (RFC 9112 6.3): a repeated
 * Content-Length, or one beside Transfer-Encoding, is answered 400 at once
 * and the connection is closed, so that a proxy in front and xentd can
 * never disagree on where a request ends; so is a Transfer-Encoding other
 * than chunked (libmicrohttpd would read that body until the client
 * closes, leaving it without an answer). "chunked" is any case. Each case is
 * sent with its body and, in the same write, a second request (GET /healthz):
 * that second request must never be answered, nor the body taken for one. A
 * negative or non-numeric Content-Length is libmicrohttpd's own 400 (HTML) and
 * a close. Headers over the connection memory (64 KiB) get 431.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "hostile.h"
#include "http_util.h"

static xt_daemon g_daemon;

static const char small_body[] = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
static const char second[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

static void suite_setup(void) {
  static const char *const args[] = {"--access-log", "off", NULL};
  xh_shared_start(&g_daemon, args);
}

static void suite_teardown(void) {
  xh_shared_stop(&g_daemon);
}

typedef struct framing_case {
  const char *name;
  const char *lengths; /* the framing header lines, each ending in CRLF */
  const char *says;    /* in xentd's JSON 400; NULL: libmicrohttpd's own */
} framing_case;

/* The body is small_body, 39 bytes. */
static const framing_case cases[] = {
    {"Content-Length twice, equal",
     "Content-Length: 39\r\nContent-Length: 39\r\n",
     "Content-Length is given 2 times"},
    {"Content-Length twice, 5 then 39",
     "Content-Length: 5\r\nContent-Length: 39\r\n",
     "Content-Length is given 2 times"},
    {"Content-Length twice, 39 then 5",
     "Content-Length: 39\r\nContent-Length: 5\r\n",
     "Content-Length is given 2 times"},
    {"Content-Length then Transfer-Encoding: chunked",
     "Content-Length: 39\r\nTransfer-Encoding: chunked\r\n",
     "Content-Length and Transfer-Encoding together"},
    {"Transfer-Encoding: chunked then Content-Length",
     "Transfer-Encoding: chunked\r\nContent-Length: 39\r\n",
     "Content-Length and Transfer-Encoding together"},
    {"Transfer-Encoding: gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n",
     "Transfer-Encoding: gzip, chunked is not supported"},
    {"Transfer-Encoding: chunked, identity",
     "Transfer-Encoding: chunked, identity\r\n",
     "Transfer-Encoding: chunked, identity is not supported"},
    {"Transfer-Encoding: identity", "Transfer-Encoding: identity\r\n",
     "Transfer-Encoding: identity is not supported"},
    {"Transfer-Encoding twice, chunked",
     "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
     "Transfer-Encoding is given 2 times"},
    {"Content-Length: -1", "Content-Length: -1\r\n", NULL},
    {"Content-Length: -39", "Content-Length: -39\r\n", NULL},
    {"Content-Length: abc", "Content-Length: abc\r\n", NULL},
    {"Content-Length: 39abc", "Content-Length: 39abc\r\n", NULL},
};

/* Times `needle` occurs in the n bytes at hay. */
static int occurrences(const char *hay, size_t n, const char *needle) {
  const size_t k = strlen(needle);
  int count = 0;
  for (size_t i = 0; k <= n && i <= n - k; i++)
    if (memcmp(hay + i, needle, k) == 0)
      count++;
  return count;
}

START_TEST(test_ambiguous_length) {
  const framing_case *fc = &cases[_i];
  xt_str req = {0};
  xt_str after = {0};
  xh_answer a;
  char value[128];
  xt_str_addf(&req,
              "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\n%s\r\n%s%s",
              fc->lengths, small_body, second);
  const int fd = xh_connect(g_daemon.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  ck_assert_int_eq(xt_raw_send(fd, req.data, req.len), 0);
  const int status = xh_read_answer(fd, 10000, &a);
  ck_assert_msg(status == 400, "%s: status %d, expected 400: %.300s%.300s",
                fc->name, status, a.head.data ? a.head.data : "",
                a.rest.data ? a.rest.data : "");
  /* The connection closes after it, whatever else was sent... */
  ck_assert_msg(xh_wait_closed(fd, 5000, &after),
                "%s: the connection is still open 5 s after the 400", fc->name);
  /* ...and a request written after the answer goes nowhere. */
  xt_raw_send(fd, second, strlen(second)); /* fails once it is reset */
  ck_assert_msg(xh_wait_closed(fd, 5000, &after), "%s: open again?", fc->name);
  xt_str_add(&a.rest, after.data != NULL ? after.data : "");
  ck_assert_msg(
      strcmp(xh_header(&a, "Connection", value, sizeof value) != NULL ? value
                                                                      : "",
             "close") == 0,
      "%s: the 400 says Connection: %s, not close", fc->name,
      xh_header(&a, "Connection", value, sizeof value) != NULL ? value
                                                               : "(none)");
  if (fc->says != NULL) {
    ck_assert_msg(strcmp(xh_error_code(&a), "invalid_argument") == 0,
                  "%s: error body %.300s", fc->name, a.body.data);
    ck_assert_msg(a.body.data != NULL && strstr(a.body.data, fc->says),
                  "%s: the message does not say \"%s\": %.300s", fc->name,
                  fc->says, a.body.data);
    ck_assert_msg(a.rest.len == 0,
                  "%s: %zu bytes after the 400 (a second answer?): %.300s",
                  fc->name, a.rest.len, a.rest.data);
    printf("framing: %s: 400 %s, closed, nothing after it\n", fc->name,
           xh_error_code(&a));
  } else {
    /* libmicrohttpd's HTML answer. Whatever follows it must not be an
     * answer to the bytes sent after it: no status but 400, one body. */
    xt_str all = {0};
    xt_str_addf(&all, "%s\r\n\r\n", a.head.data);
    xt_str_add(&all, a.body.data != NULL ? a.body.data : "");
    xt_str_add(&all, a.rest.data != NULL ? a.rest.data : "");
    const int heads = occurrences(all.data, all.len, "HTTP/1.1 ");
    const int bad = occurrences(all.data, all.len, "HTTP/1.1 400 ");
    const int bodies = occurrences(all.data, all.len, "<html>");
    ck_assert_msg(heads == bad, "%s: a status other than 400 came: %.600s",
                  fc->name, all.data);
    ck_assert_msg(bodies == 1, "%s: %d HTML bodies came: %.600s", fc->name,
                  bodies, all.data);
    ck_assert_msg(strstr(all.data, "\"loss\"") == NULL,
                  "%s: the body was computed: %.600s", fc->name, all.data);
    printf("framing: %s: libmicrohttpd's 400, closed, no second answer%s\n",
           fc->name,
           bad > 1 ? " (NOTE: libmicrohttpd 0.9.75 wrote its 400 status line "
                     "and headers twice before the one body)"
                   : "");
    xt_str_free(&all);
  }
  close(fd);
  xh_answer_free(&a);
  xt_str_free(&after);
  xt_str_free(&req);
}
END_TEST

/* A request with `count` headers of `each` bytes of value. */
static void big_headers(xt_str *req, int count, size_t each) {
  xt_str_add(req, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  char *value = malloc(each + 1);
  ck_assert_ptr_nonnull(value);
  memset(value, 'a', each);
  value[each] = '\0';
  for (int i = 0; i < count; i++)
    xt_str_addf(req, "X-Big-%d: %s\r\n", i, value);
  xt_str_add(req, "\r\n");
  free(value);
}

/* Sends req (as far as the daemon takes it) and reads one answer. */
static int send_and_read(const xt_str *req, xh_answer *a, int *closed) {
  const int fd = xh_connect(g_daemon.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  /* The daemon may answer and close before it has read everything: a
   * failed send is expected then. */
  xt_raw_send(fd, req->data, req->len);
  const int status = xh_read_answer(fd, 10000, a);
  *closed = xh_wait_closed(fd, 5000, NULL);
  close(fd);
  return status;
}

/* Headers over 64 KiB (xentd's XS_CONN_MEMORY), as one header or as many:
 * 431, connection closed; 40 KiB of headers are still served. */
START_TEST(test_headers_too_large) {
  static const struct {
    int count;
    size_t each;
    int want;
  } sizes[] = {{1, 300 * 1024, 431},
               {1, 70 * 1024, 431},
               {40, 2048, 431},
               {1, 40 * 1024, 200},
               {16, 2048, 200}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    xt_str req = {0};
    xh_answer a;
    int closed = 0;
    big_headers(&req, sizes[i].count, sizes[i].each);
    const int status = send_and_read(&req, &a, &closed);
    printf("framing: %d header(s) of %zu bytes (%zu bytes of request): %d%s\n",
           sizes[i].count, sizes[i].each, req.len, status,
           closed ? ", closed" : ", kept open");
    ck_assert_msg(status == sizes[i].want,
                  "%d header(s) of %zu bytes: status %d, expected %d: %.200s",
                  sizes[i].count, sizes[i].each, status, sizes[i].want,
                  a.head.data ? a.head.data : "");
    if (sizes[i].want == 431)
      ck_assert_msg(closed, "the 431 left the connection open");
    xh_answer_free(&a);
    xt_str_free(&req);
  }
  xh_answer a;
  ck_assert_int_eq(
      xh_roundtrip(g_daemon.url, "GET", "/healthz", NULL, NULL, 0, &a), 200);
  xh_answer_free(&a);
}
END_TEST

/* A chunked body whose Transfer-Encoding is spelled in another case
 * (transfer codings are case-insensitive, RFC 9112 7) is read and
 * answered: the loss of [[1, 2, 3]] with target 2 is
 * log(e + e^2 + e^3) - 3 = 0.40760596444438...; the connection then serves
 * the next request. */
START_TEST(test_chunked_any_case) {
  static const char *const spellings[] = {"Chunked", "CHUNKED", "chunked"};
  for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
    xt_str req = {0};
    xh_answer a;
    xt_str_addf(&req,
                "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                "Transfer-Encoding: %s\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                spellings[i], strlen(small_body), small_body);
    const int fd = xh_connect(g_daemon.url, NULL);
    ck_assert_msg(fd >= 0, "cannot connect");
    ck_assert_int_eq(xt_raw_send(fd, req.data, req.len), 0);
    const int status = xh_read_answer(fd, 10000, &a);
    ck_assert_msg(status == 200, "Transfer-Encoding: %s: status %d: %.300s",
                  spellings[i], status, a.body.data ? a.body.data : "");
    ck_assert_msg(strstr(a.body.data, "\"loss\":0.4076059644443") != NULL,
                  "Transfer-Encoding: %s: %.300s", spellings[i], a.body.data);
    /* The same connection serves the next request. */
    xh_answer b;
    ck_assert_int_eq(xt_raw_send(fd, second, strlen(second)), 0);
    const int next = xh_read_answer(fd, 10000, &b);
    ck_assert_msg(next == 200, "Transfer-Encoding: %s: the next request: %d",
                  spellings[i], next);
    printf("framing: Transfer-Encoding: %s: 200, loss read, the connection "
           "serves the next request\n",
           spellings[i]);
    close(fd);
    xh_answer_free(&a);
    xh_answer_free(&b);
    xt_str_free(&req);
  }
}
END_TEST

/* After every case above, the daemon serves a request on the same kind of
 * connection as usual (nothing was left half-read in it). */
START_TEST(test_still_serving) {
  const char *const json[] = {"Content-Type: application/json", NULL};
  xh_answer a;
  const int status = xh_roundtrip(g_daemon.url, "POST", "/v1/loss", json,
                                  small_body, strlen(small_body), &a);
  ck_assert_msg(status == 200, "status %d", status);
  xh_answer_free(&a);
}
END_TEST

static Suite *framing_suite(void) {
  Suite *s = suite_create("xentd and request framing");
  TCase *tc = tcase_create("framing");
  tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_ambiguous_length, 0,
                      (int)(sizeof cases / sizeof cases[0]));
  tcase_add_test(tc, test_headers_too_large);
  tcase_add_test(tc, test_chunked_any_case);
  tcase_add_test(tc, test_still_serving);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xh_run_suite("test_framing", framing_suite());
}
