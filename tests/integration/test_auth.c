/*
 * test_auth.c - bearer tokens (--auth-token-file) against a real xentd:
 * every route but the probes answers 401 with WWW-Authenticate: Bearer and
 * the error body of its API (/v1: {"error": {"code", "message", "field"}},
 * /v2: {"error": message}) unless the request carries a token of the file;
 * near misses are refused; --metrics-public opens /metrics alone; SIGHUP
 * reloads the file (a file that cannot be used keeps the tokens in use);
 * a non-loopback --bind without tokens logs a warning.
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "hostile.h"
#include "http_util.h"

static xt_daemon g_daemon;
static char g_dir[64];
static char g_tokens[128];

/* The file: a comment, two tokens (the second between blanks), a blank
 * line. */
#define TOKEN_ONE "token-one-abcdef"
#define TOKEN_TWO "second-token-0123456789"
static const char token_file[] = "# xent test tokens\n" TOKEN_ONE "\n"
                                 "\n"
                                 "   " TOKEN_TWO "  \t\n";

static const char small_body[] = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
static const char v2_body[] =
    "{\"inputs\": [{\"name\": \"logits\", \"shape\": [1, 3], \"datatype\": "
    "\"FP64\", \"data\": [1, 2, 3]}, {\"name\": \"targets\", \"shape\": [1], "
    "\"datatype\": \"INT64\", \"data\": [2]}]}";

static double small_loss(void) {
  return log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
}

static int make_dir(char *dir, size_t size) {
  snprintf(dir, size, "/tmp/xentd-auth-XXXXXX");
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static void suite_setup(void) {
  if (make_dir(g_dir, sizeof g_dir) != 0) {
    fprintf(stderr, "cannot make a temporary folder\n");
    exit(1);
  }
  snprintf(g_tokens, sizeof g_tokens, "%s/tokens", g_dir);
  if (xh_write_file(g_tokens, token_file) != 0) {
    fprintf(stderr, "cannot write %s\n", g_tokens);
    exit(1);
  }
  const char *const args[] = {"--auth-token-file", g_tokens, "--access-log",
                              "off", NULL};
  xh_shared_start(&g_daemon, args);
}

static void suite_teardown(void) {
  xh_shared_stop(&g_daemon);
  unlink(g_tokens);
  rmdir(g_dir);
}

/* A request with one Authorization header (none when NULL). */
static int ask(const char *base, const char *method, const char *path,
               const char *authorization, xh_answer *a) {
  char auth[512];
  const char *headers[3] = {NULL, NULL, NULL};
  int n = 0;
  const char *body = NULL;
  if (authorization != NULL) {
    snprintf(auth, sizeof auth, "Authorization: %s", authorization);
    headers[n++] = auth;
  }
  if (strcmp(method, "POST") == 0) {
    headers[n++] = "Content-Type: application/json";
    body = strncmp(path, "/v2", 3) == 0 ? v2_body : small_body;
  }
  return xh_roundtrip(base, method, path, headers, body,
                      body != NULL ? strlen(body) : 0, a);
}

/* 401, WWW-Authenticate: Bearer, a JSON body in the shape of its API. */
static void assert_unauthorized(const xh_answer *a, int status, int v2,
                                const char *what) {
  char value[128];
  ck_assert_msg(status == 401, "%s: status %d, expected 401: %.200s", what,
                status, a->body.data);
  ck_assert_msg(xh_header(a, "WWW-Authenticate", value, sizeof value) != NULL &&
                    strcmp(value, "Bearer") == 0,
                "%s: WWW-Authenticate is \"%s\", not \"Bearer\"", what,
                xh_header(a, "WWW-Authenticate", value, sizeof value) != NULL
                    ? value
                    : "(absent)");
  ck_assert_msg(xh_header(a, "Content-Type", value, sizeof value) != NULL &&
                    strncmp(value, "application/json", 16) == 0,
                "%s: Content-Type %s", what, value);
  const json_t *e = json_object_get(a->json, "error");
  ck_assert_msg(json_object_size(a->json) == 1 && e != NULL,
                "%s: body %.200s is not {\"error\": ...}", what, a->body.data);
  if (v2) {
    ck_assert_msg(json_is_string(e) && json_string_length(e) > 0,
                  "%s: a /v2 error is {\"error\": message}: %.200s", what,
                  a->body.data);
  } else {
    const json_t *code = json_object_get(e, "code");
    const json_t *message = json_object_get(e, "message");
    const json_t *field = json_object_get(e, "field");
    ck_assert_msg(json_is_string(code) &&
                      strcmp(json_string_value(code), "unauthorized") == 0 &&
                      json_is_string(message) &&
                      json_string_length(message) > 0 && json_is_string(field),
                  "%s: /v1 error body %.200s", what, a->body.data);
  }
}

typedef struct route {
  const char *method;
  const char *path;
  int v2;
} route;

static const route guarded[] = {
    {"POST", "/v1/loss", 0},
    {"POST", "/v1/targets", 0},
    {"GET", "/v1", 0},
    {"GET", "/metrics", 0},
    {"GET", "/no/such/path", 0},
    {"POST", "/v1/nope", 0},
    {"POST", "/v2/models/cross_entropy/infer", 1},
    {"POST", "/v2/models/mixup_target/infer", 1},
    {"GET", "/v2", 1},
    {"GET", "/v2/models/cross_entropy", 1},
    {"GET", "/v2/models/cross_entropy/ready", 1},
    {"GET", "/v2/models/no_such_model", 1},
};

START_TEST(test_guarded_without_token) {
  const route *rt = &guarded[_i];
  xh_answer a;
  char what[128];
  snprintf(what, sizeof what, "%s %s without a token", rt->method, rt->path);
  assert_unauthorized(&a, ask(g_daemon.url, rt->method, rt->path, NULL, &a),
                      rt->v2, what);
  printf("auth: %s: 401, WWW-Authenticate: Bearer, %s\n", what,
         rt->v2 ? "{\"error\": message}" : "code unauthorized");
  xh_answer_free(&a);
}
END_TEST

/* The probes never ask for a token. */
START_TEST(test_probes_open) {
  static const char *const probes[] = {"/healthz", "/readyz", "/v2/health/live",
                                       "/v2/health/ready"};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    xh_answer a;
    const int status = ask(g_daemon.url, "GET", probes[i], NULL, &a);
    ck_assert_msg(status == 200, "GET %s without a token: %d %.200s", probes[i],
                  status, a.body.data);
    xh_answer_free(&a);
  }
}
END_TEST

/* Authorization values that must not pass. */
static const char *const near_misses[] = {
    "Bearer token-one-abcdeX",  /* same length, last byte          */
    "Bearer Xoken-one-abcdef",  /* same length, first byte         */
    "Bearer token-one-abcde",   /* a prefix: shorter               */
    "Bearer token-one-abcdefg", /* longer                          */
    "Bearer TOKEN-ONE-ABCDEF",  /* tokens are case-sensitive       */
    "Bearer " TOKEN_ONE TOKEN_TWO,
    "Bearer " TOKEN_ONE " " TOKEN_TWO,
    "Bearer # xent test tokens", /* the comment line is no token   */
    "Bearer",
    "Bearer ",
    TOKEN_ONE,                            /* no scheme      */
    "Basic dG9rZW4tb25lLWFiY2RlZg==",     /* base64(token)  */
    "Basic dXNlcjp0b2tlbi1vbmUtYWJjZGVm", /* user:token     */
    "Token " TOKEN_ONE,
    "Bearer:" TOKEN_ONE,
};

START_TEST(test_near_misses) {
  const char *value = near_misses[_i];
  xh_answer a;
  char what[160];
  snprintf(what, sizeof what, "GET /v1 with Authorization: %s", value);
  assert_unauthorized(&a, ask(g_daemon.url, "GET", "/v1", value, &a), 0, what);
  xh_answer_free(&a);
  snprintf(what, sizeof what, "POST /v1/loss with Authorization: %s", value);
  assert_unauthorized(&a, ask(g_daemon.url, "POST", "/v1/loss", value, &a), 0,
                      what);
  xh_answer_free(&a);
}
END_TEST

/* Both tokens open every route; the scheme's case does not matter
 * (RFC 9110 11.1); an unknown path with a token is a 404. */
START_TEST(test_with_token) {
  static const char *const good[] = {"Bearer " TOKEN_ONE, "Bearer " TOKEN_TWO,
                                     "bearer " TOKEN_ONE,
                                     "Bearer   " TOKEN_ONE};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    xh_answer a;
    int status = ask(g_daemon.url, "GET", "/v1", good[i], &a);
    ck_assert_msg(status == 200, "GET /v1 with %s: %d", good[i], status);
    xh_answer_free(&a);
    status = ask(g_daemon.url, "GET", "/metrics", good[i], &a);
    ck_assert_msg(status == 200 && strstr(a.body.data, "xentd_build_info"),
                  "GET /metrics with %s: %d", good[i], status);
    xh_answer_free(&a);
    status = ask(g_daemon.url, "POST", "/v1/loss", good[i], &a);
    ck_assert_msg(status == 200, "POST /v1/loss with %s: %d %.200s", good[i],
                  status, a.body.data);
    const double loss = xt_jnum(json_object_get(a.json, "loss"));
    ck_assert_msg(xt_close(loss, small_loss(), 1e-12, 1e-12),
                  "loss %.17g, expected %.17g", loss, small_loss());
    xh_answer_free(&a);
    status = ask(g_daemon.url, "POST", "/v2/models/cross_entropy/infer",
                 good[i], &a);
    ck_assert_msg(status == 200, "v2 infer with %s: %d %.200s", good[i], status,
                  a.body.data);
    const json_t *out = json_array_get(json_object_get(a.json, "outputs"), 0);
    ck_assert_msg(
        strcmp(json_string_value(json_object_get(out, "name")), "loss") == 0 &&
            xt_close(xt_jat(json_object_get(out, "data"), 0), small_loss(),
                     1e-12, 1e-12),
        "v2 loss output: %.300s", a.body.data);
    xh_answer_free(&a);
    status = ask(g_daemon.url, "GET", "/no/such/path", good[i], &a);
    ck_assert_msg(status == 404 && strcmp(xh_error_code(&a), "not_found") == 0,
                  "unknown path with %s: %d %.200s", good[i], status,
                  a.body.data);
    xh_answer_free(&a);
  }
}
END_TEST

/* --metrics-public on: /metrics without a token, nothing else. */
START_TEST(test_metrics_public) {
  const char *const args[] = {"--auth-token-file",
                              g_tokens,
                              "--metrics-public",
                              "on",
                              "--access-log",
                              "off",
                              NULL};
  xt_daemon d;
  xh_answer a;
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  int status = ask(d.url, "GET", "/metrics", NULL, &a);
  ck_assert_msg(status == 200 && strstr(a.body.data, "xentd_build_info"),
                "/metrics with --metrics-public on, no token: %d", status);
  xh_answer_free(&a);
  assert_unauthorized(&a, ask(d.url, "GET", "/v1", NULL, &a), 0,
                      "GET /v1 with --metrics-public on");
  xh_answer_free(&a);
  assert_unauthorized(&a, ask(d.url, "POST", "/v1/loss", NULL, &a), 0,
                      "POST /v1/loss with --metrics-public on");
  xh_answer_free(&a);
  ck_assert_int_eq(xt_daemon_stop(&d, 20000), 0);
}
END_TEST

static int status_with(const char *base, const char *token) {
  char value[256];
  xh_answer a;
  snprintf(value, sizeof value, "Bearer %s", token);
  const int status = ask(base, "GET", "/v1", value, &a);
  xh_answer_free(&a);
  return status;
}

/* SIGHUP reloads the file: the old token is refused after, the new one
 * accepted, also on a connection kept alive from before. A file with no
 * token, then no file at all, are refused by the reload (a log line each)
 * and the tokens in use stay. */
START_TEST(test_reload) {
  char dir[64], file[128];
  ck_assert_int_eq(make_dir(dir, sizeof dir), 0);
  snprintf(file, sizeof file, "%s/tokens", dir);
  ck_assert_int_eq(xh_write_file(file, "old-token-aaaa\n"), 0);
  const char *const args[] = {"--auth-token-file", file, "--access-log", "off",
                              NULL};
  xt_daemon d;
  xh_answer a;
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  ck_assert_int_eq(status_with(d.url, "old-token-aaaa"), 200);
  ck_assert_int_eq(status_with(d.url, "new-token-bbbbbb"), 401);
  const int kept = xh_connect(d.url, NULL);
  const char *const old_auth[] = {"Authorization: Bearer old-token-aaaa", NULL};
  ck_assert_int_eq(xh_send_request(kept, "GET", "/v1", old_auth, NULL, 0), 0);
  ck_assert_int_eq(xh_read_answer(kept, 10000, &a), 200);
  xh_answer_free(&a);

  ck_assert_int_eq(xh_write_file(file, "# rotated\nnew-token-bbbbbb\n"), 0);
  xt_daemon_signal(&d, SIGHUP);
  ck_assert_msg(xh_wait_log(&d, "SIGHUP: reloaded --auth-token-file (1 tokens)",
                            1, 10000),
                "no reload log line");
  ck_assert_int_eq(status_with(d.url, "old-token-aaaa"), 401);
  ck_assert_int_eq(status_with(d.url, "new-token-bbbbbb"), 200);
  ck_assert_int_eq(xh_send_request(kept, "GET", "/v1", old_auth, NULL, 0), 0);
  assert_unauthorized(&a, xh_read_answer(kept, 10000, &a), 0,
                      "the old token on a connection kept alive from before "
                      "the reload");
  xh_answer_free(&a);
  close(kept);

  ck_assert_int_eq(xh_write_file(file, "# nothing here\n\n"), 0);
  xt_daemon_signal(&d, SIGHUP);
  ck_assert_msg(xh_wait_log(&d, "SIGHUP: kept the tokens in use", 1, 10000),
                "no log line for a file without tokens");
  ck_assert_int_eq(status_with(d.url, "new-token-bbbbbb"), 200);
  ck_assert_int_eq(unlink(file), 0);
  xt_daemon_signal(&d, SIGHUP);
  ck_assert_msg(xh_wait_log(&d, "SIGHUP: kept the tokens in use", 2, 10000),
                "no log line for a missing file");
  ck_assert_int_eq(status_with(d.url, "new-token-bbbbbb"), 200);
  ck_assert_int_eq(status_with(d.url, "old-token-aaaa"), 401);
  char *log = xh_log(&d);
  for (const char *line = log; *line != '\0';) {
    const size_t n = strcspn(line, "\n");
    const char *hup = strstr(line, "SIGHUP");
    if (hup != NULL && hup < line + n)
      printf("auth: reload: %.*s\n", (int)n, line);
    line += n + (line[n] != '\0');
  }
  free(log);
  ck_assert_int_eq(xt_daemon_stop(&d, 20000), 0);
  rmdir(dir);
}
END_TEST

/* The log up to the daemon's exit: SIGTERM, wait for "stopped". */
static char *log_at_exit(xt_daemon *d) {
  xt_daemon_signal(d, SIGTERM);
  ck_assert_msg(xh_wait_log(d, "info stopped", 1, 20000), "no \"stopped\"");
  char *log = xh_log(d);
  ck_assert_int_eq(xt_daemon_wait(d, 20000), 0);
  return log;
}

/* --bind 0.0.0.0 without a token file: a warning line at start; with a
 * token file, or on 127.0.0.1, none. */
START_TEST(test_bind_warning) {
  static const char warning[] =
      "--bind 0.0.0.0 is not a loopback address and no --auth-token-file is "
      "set";
  const char *const open_args[] = {"--bind", "0.0.0.0", "--access-log", "off",
                                   NULL};
  const char *const token_args[] = {
      "--bind", "0.0.0.0", "--auth-token-file", g_tokens, "--access-log",
      "off",    NULL};
  const char *const loop_args[] = {"--access-log", "off", NULL};
  const char *const *cases[] = {open_args, token_args, loop_args};
  const int want[] = {1, 0, 0};
  const char *names[] = {"--bind 0.0.0.0, no tokens", "--bind 0.0.0.0, tokens",
                         "--bind 127.0.0.1, no tokens"};
  for (int i = 0; i < 3; i++) {
    xt_daemon d;
    ck_assert_int_eq(xt_daemon_start(&d, cases[i], 10000), 0);
    char *log = log_at_exit(&d);
    const char *line = strstr(log, warning);
    ck_assert_msg((line != NULL) == want[i], "%s: warning %s in:\n%s", names[i],
                  line != NULL ? "present" : "absent", log);
    if (line != NULL) {
      const char *start = line;
      while (start > log && start[-1] != '\n')
        start--;
      printf("auth: %s: %.*s\n", names[i], (int)strcspn(start, "\n"), start);
    } else {
      printf("auth: %s: no warning\n", names[i]);
    }
    free(log);
  }
}
END_TEST

static Suite *auth_suite(void) {
  Suite *s = suite_create("xentd and bearer tokens");
  TCase *tc = tcase_create("tokens");
  TCase *own = tcase_create("own daemon");
  tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_guarded_without_token, 0,
                      (int)(sizeof guarded / sizeof guarded[0]));
  tcase_add_test(tc, test_probes_open);
  tcase_add_loop_test(tc, test_near_misses, 0,
                      (int)(sizeof near_misses / sizeof near_misses[0]));
  tcase_add_test(tc, test_with_token);
  suite_add_tcase(s, tc);
  /* The own-daemon tests read the token file the fixture wrote. */
  tcase_add_unchecked_fixture(own, suite_setup, suite_teardown);
  tcase_set_timeout(own, 60);
  tcase_add_test(own, test_metrics_public);
  tcase_add_test(own, test_reload);
  tcase_add_test(own, test_bind_warning);
  suite_add_tcase(s, own);
  return s;
}

int main(void) {
  return xh_run_suite("test_auth", auth_suite());
}
