/*
 * test_http.c - xentd over real sockets: every endpoint and status, numbers
 * against hand-computed values, keep-alive, concurrent clients, graceful
 * shutdown, the idle timeout, and survival after bad requests.
 *
 * The daemon is $XENT_URL when set (then no daemon is started and the tests
 * that need one of their own are listed as not run), else a fresh xentd
 * ($XENTD) on an ephemeral port.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "http_util.h"
#include "xent.h"

#define REL 1e-12
#define ABS 1e-12

/* Body limit of the daemon the suite starts. */
#define OWN_MAX_BODY 262144

static xt_daemon g_daemon;
static int g_bad_exit; /* a shared daemon did not exit 0 on SIGTERM */
static const char *g_base;
static long g_max_body; /* the limit in force, from GET /v1 or our flag */

#define ASSERT_CLOSE(got, want)                                                \
  do {                                                                         \
    const double g_ = (got), w_ = (want);                                      \
    ck_assert_msg(xt_close(g_, w_, REL, ABS), "%s = %.17g, expected %.17g",    \
                  #got, g_, w_);                                               \
  } while (0)

#define ASSERT_STATUS(r, want)                                                 \
  ck_assert_msg((r)->status == (want), "status %ld, expected %d; body: %s %s", \
                (r)->status, (want), (r)->body ? (r)->body : "", (r)->error)

static long post(const char *path, const char *body, xt_resp *r) {
  return xt_request(NULL, g_base, "POST", path, NULL, body, strlen(body), r);
}

static long get(const char *path, xt_resp *r) {
  return xt_request(NULL, g_base, "GET", path, NULL, NULL, 0, r);
}

static const json_t *member(const xt_resp *r, const char *key) {
  const json_t *v = json_object_get(r->json, key);
  ck_assert_msg(v != NULL, "answer has no \"%s\": %s", key, r->body);
  return v;
}

static void assert_array(const json_t *arr, const double *want, size_t n,
                         const char *what) {
  ck_assert_msg(json_is_array(arr) && json_array_size(arr) == n,
                "%s: expected an array of %zu", what, n);
  for (size_t i = 0; i < n; i++) {
    const double got = xt_jat(arr, i);
    ck_assert_msg(xt_close(got, want[i], REL, ABS),
                  "%s[%zu] = %.17g, expected %.17g", what, i, got, want[i]);
  }
}

static void assert_matrix(const json_t *m, const double *want, size_t n,
                          size_t c, const char *what) {
  ck_assert_msg(json_is_array(m) && json_array_size(m) == n,
                "%s: expected %zu rows", what, n);
  for (size_t i = 0; i < n; i++) {
    const json_t *row = json_array_get(m, i);
    ck_assert_msg(json_is_array(row) && json_array_size(row) == c,
                  "%s[%zu]: expected %zu values", what, i, c);
    for (size_t j = 0; j < c; j++) {
      const double got = xt_jat(row, j);
      ck_assert_msg(xt_close(got, want[i * c + j], REL, ABS),
                    "%s[%zu][%zu] = %.17g, expected %.17g", what, i, j, got,
                    want[i * c + j]);
    }
  }
}

static void assert_error(const xt_resp *r, int status, const char *code,
                         const char *field) {
  ASSERT_STATUS(r, status);
  ck_assert_msg(r->json != NULL, "error body is not JSON: %s", r->body);
  ck_assert_msg(strcmp(xt_err_code(r), code) == 0, "code \"%s\", expected %s",
                xt_err_code(r), code);
  ck_assert_msg(xt_err_message(r)[0] != '\0', "error without a message");
  if (field != NULL) {
    ck_assert_msg(strcmp(xt_err_field(r), field) == 0,
                  "field \"%s\", expected \"%s\" (message: %s)",
                  xt_err_field(r), field, xt_err_message(r));
  }
}

/* --------------------------------------------------------- fixtures ---- */

/* Finds a number under a key that names the body limit, anywhere. */
static long find_body_limit(const json_t *v) {
  const char *key;
  json_t *child;
  size_t i;
  if (json_is_object(v)) {
    json_object_foreach((json_t *)v, key, child) {
      if (json_is_integer(child) && strstr(key, "body") != NULL) {
        return (long)json_integer_value(child);
      }
      const long found = find_body_limit(child);
      if (found > 0) {
        return found;
      }
    }
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, child) {
      const long found = find_body_limit(child);
      if (found > 0) {
        return found;
      }
    }
  }
  return 0;
}

static void suite_setup(void) {
  static const char *const args[] = {"--max-body-bytes",
                                     "262144",
                                     "--max-memory",
                                     "268435456",
                                     "--access-log",
                                     "off",
                                     NULL};
  xt_resp r;
  curl_global_init(CURL_GLOBAL_ALL);
  g_base = xt_daemon_url_from_env();
  if (g_base == NULL) {
    if (xt_daemon_start(&g_daemon, args, 10000) != 0) {
      fprintf(stderr, "cannot start %s\n", xt_daemon_binary());
      exit(1);
    }
    g_base = g_daemon.url;
  }
  g_max_body = 0;
  if (get("/v1", &r) == 200) {
    g_max_body = find_body_limit(r.json);
  }
  xt_resp_free(&r);
  if (g_max_body <= 0) {
    g_max_body = OWN_MAX_BODY;
  }
}

static void suite_teardown(void) {
  if (g_daemon.pid > 0) {
    const int status = xt_daemon_stop(&g_daemon, 20000);
    if (status != 0) {
      fprintf(stderr, "xentd exit status %d after SIGTERM (expected 0)\n",
              status);
      g_bad_exit = 1;
    }
  }
  curl_global_cleanup();
}

/* ----------------------------------------------------- service routes -- */

START_TEST(test_healthz) {
  xt_resp r;
  get("/healthz", &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_str_eq(json_string_value(member(&r, "status")), "ok");
  ck_assert_str_eq(json_string_value(member(&r, "version")),
                   XENT_VERSION_STRING);
  ck_assert_msg(strncmp(r.ctype, "application/json", 16) == 0,
                "Content-Type %s", r.ctype);
  xt_resp_free(&r);
}
END_TEST

START_TEST(test_readyz) {
  xt_resp r;
  get("/readyz", &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_str_eq(json_string_value(member(&r, "status")), "ok");
  ck_assert_str_eq(json_string_value(member(&r, "version")),
                   XENT_VERSION_STRING);
  xt_resp_free(&r);
}
END_TEST

START_TEST(test_v1_info) {
  xt_resp r;
  get("/v1", &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_msg(strstr(r.body, XENT_VERSION_STRING) != NULL,
                "GET /v1 does not give the version: %s", r.body);
  ck_assert_msg(g_max_body > 0, "no body limit");
  if (xt_daemon_url_from_env() == NULL) {
    ck_assert_msg(find_body_limit(r.json) == OWN_MAX_BODY,
                  "GET /v1 does not report --max-body-bytes %d: %s",
                  OWN_MAX_BODY, r.body);
    json_t *limits = json_object_get(r.json, "limits");
    ck_assert_int_eq(json_integer_value(json_object_get(limits, "max_memory")),
                     268435456);
  }
  /* The fields of POST /v1/targets, in the table's order. */
  static const char *const names[] = {
      "targets",      "num_classes",   "label_smoothing", "smoothing", "mixup",
      "mixup.lambda", "mixup.pairing", "ignore_index",    "precision"};
  json_t *fields =
      json_object_get(json_object_get(r.json, "fields"), "/v1/targets");
  ck_assert_uint_eq(json_array_size(fields), sizeof names / sizeof names[0]);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(fields, i), "name")),
        names[i]);
  /* logits of POST /v1/loss: N rows of C numbers or null, required. */
  json_t *logits = json_array_get(
      json_object_get(json_object_get(r.json, "fields"), "/v1/loss"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(logits, "name")),
                   "logits");
  ck_assert(json_is_true(json_object_get(logits, "nullable")));
  ck_assert(json_is_true(json_object_get(logits, "required")));
  xt_resp_free(&r);
}
END_TEST

/* Sums the samples of a metric line prefix that mention `label`. */
static double metric_sum(const char *text, const char *name,
                         const char *label) {
  double sum = 0.0;
  const size_t nl = strlen(name);
  for (const char *line = text; line != NULL && *line != '\0';) {
    const char *eol = strchr(line, '\n');
    const size_t len = eol ? (size_t)(eol - line) : strlen(line);
    if (len > nl && strncmp(line, name, nl) == 0 &&
        (line[nl] == '{' || line[nl] == ' ')) {
      char buf[512];
      const size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
      memcpy(buf, line, n);
      buf[n] = '\0';
      if (label == NULL || strstr(buf, label) != NULL) {
        const char *sp = strrchr(buf, ' ');
        sum += sp ? strtod(sp + 1, NULL) : 0.0;
      }
    }
    line = eol ? eol + 1 : NULL;
  }
  return sum;
}

/* First metric family of TYPE `type` whose name contains `part`. */
static int metric_name(const char *text, const char *type, const char *part,
                       char *out, size_t size) {
  for (const char *p = strstr(text, "# TYPE "); p != NULL;
       p = strstr(p + 1, "# TYPE ")) {
    char name[128];
    char kind[32];
    if (sscanf(p, "# TYPE %127s %31s", name, kind) == 2 &&
        strcmp(kind, type) == 0 && strstr(name, part) != NULL) {
      snprintf(out, size, "%s", name);
      return 1;
    }
  }
  return 0;
}

START_TEST(test_metrics) {
  xt_resp a, b, r;
  char requests[128];
  double before, after;
  get("/metrics", &a);
  ASSERT_STATUS(&a, 200);
  ck_assert_msg(strncmp(a.ctype, "text/plain", 10) == 0, "Content-Type %s",
                a.ctype);
  ck_assert_msg(strstr(a.body, "version=0.0.4") != NULL ||
                    strstr(a.ctype, "0.0.4") != NULL,
                "not Prometheus text 0.0.4: %s", a.ctype);
  ck_assert_msg(strstr(a.body, "# HELP ") != NULL, "no # HELP");
  ck_assert_msg(
      metric_name(a.body, "counter", "request", requests, sizeof requests),
      "no request counter:\n%s", a.body);
  ck_assert_msg(strstr(a.body, " histogram\n") != NULL, "no latency histogram");
  ck_assert_msg(strstr(a.body, "_bucket{") != NULL, "no histogram buckets");
  before = metric_sum(a.body, requests, "404");
  get("/no-such-route-for-metrics", &r);
  ASSERT_STATUS(&r, 404);
  xt_resp_free(&r);
  get("/metrics", &b);
  ASSERT_STATUS(&b, 200);
  after = metric_sum(b.body, requests, "404");
  ck_assert_msg(after >= before + 1.0,
                "%s with code 404 went from %g to %g after a 404", requests,
                before, after);
  xt_resp_free(&a);
  xt_resp_free(&b);
}
END_TEST

START_TEST(test_not_found) {
  xt_resp r;
  get("/nope", &r);
  assert_error(&r, 404, "not_found", NULL);
  xt_resp_free(&r);
  post("/v1/lossy", "{}", &r);
  assert_error(&r, 404, "not_found", NULL);
  xt_resp_free(&r);
}
END_TEST

/* Escapes in a path are decoded ("%74" is 't', "%2f" '/') except "%00",
 * which would end the path early: "/healthz%00x" is not /healthz but a path
 * with no route, in each route family's own error shape. */
START_TEST(test_escaped_path) {
  xt_resp r;
  get("/heal%74hz", &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);
  get("/v1%2fmetrics", &r); /* "/v1/metrics", which takes POST */
  assert_error(&r, 405, "method_not_allowed", NULL);
  xt_resp_free(&r);
  static const char *const nul[] = {"/healthz%00x", "/healthz%00",
                                    "/v1%00/loss"};
  for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++) {
    get(nul[i], &r);
    assert_error(&r, 404, "not_found", NULL);
    xt_resp_free(&r);
  }
  post("/v1/loss%00", "{\"logits\": [[1, 2]], \"targets\": [0]}", &r);
  assert_error(&r, 404, "not_found", NULL);
  xt_resp_free(&r);
  /* /v2 answers in the protocol's shape: {"error": "..."} */
  get("/v2/health/live%00", &r);
  ck_assert_msg(r.status == 404 && r.json != NULL &&
                    json_is_string(json_object_get(r.json, "error")),
                "GET /v2/health/live%%00: %ld %s", r.status, r.body);
  xt_resp_free(&r);
  get("/v2/health/live%2500", &r); /* "%25" is '%': "/v2/health/live%00" */
  ck_assert_msg(r.status == 404, "GET /v2/health/live%%2500: %ld %s", r.status,
                r.body);
  xt_resp_free(&r);
}
END_TEST

START_TEST(test_method_not_allowed) {
  xt_resp r;
  get("/v1/loss", &r);
  assert_error(&r, 405, "method_not_allowed", NULL);
  ck_assert_msg(strstr(r.allow, "POST") != NULL, "Allow: \"%s\"", r.allow);
  xt_resp_free(&r);
  xt_request(NULL, g_base, "DELETE", "/v1/targets", NULL, NULL, 0, &r);
  assert_error(&r, 405, "method_not_allowed", NULL);
  ck_assert_msg(strstr(r.allow, "POST") != NULL, "Allow: \"%s\"", r.allow);
  xt_resp_free(&r);
  post("/healthz", "{}", &r);
  assert_error(&r, 405, "method_not_allowed", NULL);
  ck_assert_msg(strstr(r.allow, "GET") != NULL, "Allow: \"%s\"", r.allow);
  xt_resp_free(&r);
  xt_request(NULL, g_base, "PUT", "/metrics", NULL, "x", 1, &r);
  assert_error(&r, 405, "method_not_allowed", NULL);
  ck_assert_msg(strstr(r.allow, "GET") != NULL, "Allow: \"%s\"", r.allow);
  xt_resp_free(&r);
}
END_TEST

START_TEST(test_unsupported_media) {
  static const char body[] = "{\"logits\":[[1,2,3]],\"targets\":[2]}";
  xt_resp r;
  xt_request(NULL, g_base, "POST", "/v1/loss", "text/plain", body, strlen(body),
             &r);
  assert_error(&r, 415, "unsupported_media_type", NULL);
  xt_resp_free(&r);
  xt_request(NULL, g_base, "POST", "/v1/loss",
             "application/x-www-form-urlencoded", body, strlen(body), &r);
  assert_error(&r, 415, "unsupported_media_type", NULL);
  xt_resp_free(&r);
  /* Parameters of the JSON type are fine. */
  xt_request(NULL, g_base, "POST", "/v1/loss",
             "application/json; charset=utf-8", body, strlen(body), &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------ numeric answers -- */

/* logits [[1,2,3]], target [2]: loss = log(e + e^2 + e^3) - 3, and the
 * gradient is softmax minus the one-hot row. */
START_TEST(test_loss_hard_label) {
  const double z = exp(1.0) + exp(2.0) + exp(3.0);
  const double loss = log(z) - 3.0;
  const double grad[3] = {exp(1.0) / z, exp(2.0) / z, exp(3.0) / z - 1.0};
  xt_resp r;
  post("/v1/loss", "{\"logits\": [[1, 2, 3]], \"targets\": [2]}", &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_int_eq(json_integer_value(member(&r, "n")), 1);
  ck_assert_int_eq(json_integer_value(member(&r, "classes")), 3);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), loss);
  assert_array(member(&r, "per_sample"), &loss, 1, "per_sample");
  assert_matrix(member(&r, "grad"), grad, 1, 3, "grad");
  ck_assert_msg(json_object_get(r.json, "probs") == NULL,
                "probs sent without being asked for");
  ck_assert_msg(json_object_get(r.json, "targets") == NULL,
                "targets sent without being asked for");
  xt_resp_free(&r);
}
END_TEST

/* eps = 0.1 over [[1,2,3]] with target 2: lp_c = c + 1 - log z.
 * uniform: q = (0.1/3, 0.1/3, 0.9 + 0.1/3); others: q = (0.05, 0.05, 0.9). */
START_TEST(test_loss_smoothing_conventions) {
  const double logz = log(exp(1.0) + exp(2.0) + exp(3.0));
  const double lp[3] = {1.0 - logz, 2.0 - logz, 3.0 - logz};
  const double qu[3] = {0.1 / 3, 0.1 / 3, 0.9 + 0.1 / 3};
  const double qo[3] = {0.05, 0.05, 0.9};
  const double lu = -(qu[0] * lp[0] + qu[1] * lp[1] + qu[2] * lp[2]);
  const double lo = -(qo[0] * lp[0] + qo[1] * lp[1] + qo[2] * lp[2]);
  xt_resp r;
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3]], \"targets\": [2], \"label_smoothing\": 0.1,"
       " \"outputs\": [\"loss\", \"targets\"]}",
       &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), lu);
  assert_matrix(member(&r, "targets"), qu, 1, 3, "targets");
  ck_assert_msg(json_object_get(r.json, "grad") == NULL, "grad not asked for");
  xt_resp_free(&r);
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3]], \"targets\": [2], \"label_smoothing\": 0.1,"
       " \"smoothing\": \"others\", \"outputs\": [\"loss\", \"targets\"]}",
       &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), lo);
  assert_matrix(member(&r, "targets"), qo, 1, 3, "targets");
  xt_resp_free(&r);
}
END_TEST

/* Mixup, flip, lambda 0.7: q0 = 0.7 e2 + 0.3 e0, q1 = 0.7 e0 + 0.3 e2;
 * mean over N = 2 rows (timm SoftTargetCrossEntropy). */
START_TEST(test_loss_mixup) {
  const double x[6] = {1, 2, 3, 3, 1, 2};
  const double q[6] = {0.3, 0, 0.7, 0.7, 0, 0.3};
  double per[2], grad[6];
  xt_resp r;
  xt_ref_ce(x, q, NULL, 2, 3, 2.0, per, grad, NULL);
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3], [3, 1, 2]], \"targets\": [2, 0],"
       " \"mixup\": {\"lambda\": 0.7}, \"outputs\": [\"loss\", \"per_sample\","
       " \"grad\", \"targets\"]}",
       &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), (per[0] + per[1]) / 2);
  assert_array(member(&r, "per_sample"), per, 2, "per_sample");
  assert_matrix(member(&r, "grad"), grad, 2, 3, "grad");
  assert_matrix(member(&r, "targets"), q, 2, 3, "targets");
  xt_resp_free(&r);
  /* Per-row lambdas and an explicit pairing: row 0 pairs with itself. */
  {
    const double q2[6] = {0, 0, 1, 0.75, 0, 0.25};
    xt_ref_ce(x, q2, NULL, 2, 3, 2.0, per, grad, NULL);
    post("/v1/loss",
         "{\"logits\": [[1, 2, 3], [3, 1, 2]], \"targets\": [2, 0],"
         " \"mixup\": {\"lambda\": [0.5, 0.75], \"pairing\": [0, 0]}}",
         &r);
    ASSERT_STATUS(&r, 200);
    ASSERT_CLOSE(xt_jnum(member(&r, "loss")), (per[0] + per[1]) / 2);
    assert_matrix(member(&r, "grad"), grad, 2, 3, "grad");
    xt_resp_free(&r);
  }
}
END_TEST

/* Soft targets [0.2, 0.3, 0.5], reduction sum: loss = -sum y lp. */
START_TEST(test_loss_soft_targets) {
  const double logz = log(exp(1.0) + exp(2.0) + exp(3.0));
  const double loss = -(0.2 * (1 - logz) + 0.3 * (2 - logz) + 0.5 * (3 - logz));
  xt_resp r;
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3]], \"soft_targets\": [[0.2, 0.3, 0.5]],"
       " \"reduction\": \"sum\"}",
       &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), loss);
  xt_resp_free(&r);
}
END_TEST

/* Weights (1, 2, 3), targets [2, ignored, 1]: l0 = -3 lp_02, l2 = -2 lp_21,
 * mean = (l0 + l2) / (3 + 2), the ignored row contributes 0. */
START_TEST(test_loss_weights_ignore) {
  const double x[9] = {1, 2, 3, 0, 0, 0, 0.5, -1, 2};
  const double q[9] = {0, 0, 1, 0, 0, 0, 0, 1, 0};
  const double w[3] = {1, 2, 3};
  double per[3], grad[9];
  xt_resp r;
  xt_ref_ce(x, q, w, 3, 3, 5.0, per, grad, NULL);
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3], [0, 0, 0], [0.5, -1, 2]],"
       " \"targets\": [2, 7, 1], \"ignore_index\": 7,"
       " \"class_weights\": [1, 2, 3]}",
       &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_msg(per[1] == 0.0, "reference broken");
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), (per[0] + per[2]) / 5.0);
  assert_array(member(&r, "per_sample"), per, 3, "per_sample");
  assert_matrix(member(&r, "grad"), grad, 3, 3, "grad");
  xt_resp_free(&r);
}
END_TEST

/* reduction none: no loss member, row n of grad is dl_n/dx_n. */
START_TEST(test_loss_reduction_none) {
  const double x[6] = {1, 2, 3, 3, 1, 2};
  const double q[6] = {0, 0, 1, 1, 0, 0};
  double per[2], grad[6];
  xt_resp r;
  xt_ref_ce(x, q, NULL, 2, 3, 1.0, per, grad, NULL);
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3], [3, 1, 2]], \"targets\": [2, 0],"
       " \"reduction\": \"none\"}",
       &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_msg(json_object_get(r.json, "loss") == NULL,
                "loss present for reduction none: %s", r.body);
  assert_array(member(&r, "per_sample"), per, 2, "per_sample");
  assert_matrix(member(&r, "grad"), grad, 2, 3, "grad");
  xt_resp_free(&r);
}
END_TEST

/* A masked class (null): [[null, 0, 0]] target 1 gives loss log 2,
 * probs (0, 1/2, 1/2), grad (0, -1/2, 1/2); printed as 0. */
START_TEST(test_loss_masked_class) {
  const double probs[3] = {0, 0.5, 0.5};
  const double grad[3] = {0, -0.5, 0.5};
  const double q[3] = {0, 0.9 + 0.05, 0.05};
  xt_resp r;
  post("/v1/loss",
       "{\"logits\": [[null, 0, 0]], \"targets\": [1],"
       " \"outputs\": [\"loss\", \"grad\", \"probs\"]}",
       &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), log(2.0));
  assert_matrix(member(&r, "probs"), probs, 1, 3, "probs");
  assert_matrix(member(&r, "grad"), grad, 1, 3, "grad");
  xt_resp_free(&r);
  /* Smoothing spreads over the K = 2 unmasked classes only. */
  post("/v1/loss",
       "{\"logits\": [[null, 0, 0]], \"targets\": [1], \"label_smoothing\": "
       "0.1, \"outputs\": [\"loss\", \"targets\"]}",
       &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), log(2.0));
  assert_matrix(member(&r, "targets"), q, 1, 3, "targets");
  xt_resp_free(&r);
}
END_TEST

/* Logits of 1e4: [[10000, 0]] target 1 gives loss 10000 (exp(-1e4) is far
 * below one ulp of 1e4), finite. */
START_TEST(test_loss_large_logits) {
  xt_resp r;
  post("/v1/loss", "{\"logits\": [[10000, 0]], \"targets\": [1]}", &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), 10000.0);
  xt_resp_free(&r);
}
END_TEST

/* Statistics: rows [2,1,0] (label 0) and [0,3,0] (label 2).
 * predicted (0, 1), accuracy 1/2; confidences c0 = e^2/(e^2+e+1),
 * c1 = e^3/(e^3+2); ECE with 15 bins: c0 = 0.665 in bin 9, c1 = 0.909 in
 * bin 13, so ece = (|1 - c0| + |0 - c1|) / 2. */
START_TEST(test_loss_stats) {
  const double e = exp(1.0);
  const double z0 = e * e + e + 1, z1 = e * e * e + 2;
  const double c0 = e * e / z0, c1 = e * e * e / z1;
  double h0 = 0, h1 = 0;
  const double p0[3] = {e * e / z0, e / z0, 1 / z0};
  const double p1[3] = {1 / z1, e * e * e / z1, 1 / z1};
  const json_t *stats, *pred;
  xt_resp r;
  for (int j = 0; j < 3; j++) {
    h0 -= p0[j] * log(p0[j]);
    h1 -= p1[j] * log(p1[j]);
  }
  post("/v1/loss",
       "{\"logits\": [[2, 1, 0], [0, 3, 0]], \"targets\": [0, 2],"
       " \"outputs\": [\"stats\"]}",
       &r);
  ASSERT_STATUS(&r, 200);
  stats = member(&r, "stats");
  ck_assert_msg(json_object_get(r.json, "loss") == NULL, "loss not asked for");
  ASSERT_CLOSE(xt_jnum(json_object_get(stats, "accuracy")), 0.5);
  ASSERT_CLOSE(xt_jnum(json_object_get(stats, "mean_confidence")),
               (c0 + c1) / 2);
  ASSERT_CLOSE(xt_jnum(json_object_get(stats, "mean_entropy")), (h0 + h1) / 2);
  ASSERT_CLOSE(xt_jnum(json_object_get(stats, "ece")),
               (fabs(1 - c0) + fabs(0 - c1)) / 2);
  ck_assert_int_eq(json_integer_value(json_object_get(stats, "counted")), 2);
  pred = json_object_get(stats, "predicted");
  ck_assert_msg(json_array_size(pred) == 2, "predicted: 2 values");
  ck_assert_int_eq(json_integer_value(json_array_get(pred, 0)), 0);
  ck_assert_int_eq(json_integer_value(json_array_get(pred, 1)), 1);
  xt_resp_free(&r);
}
END_TEST

/* float32 printing: the value reads back to the float32 of the double. */
START_TEST(test_loss_float32) {
  const double loss = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
  double got;
  xt_resp r;
  post("/v1/loss",
       "{\"logits\": [[1, 2, 3]], \"targets\": [2], \"precision\": "
       "\"float32\"}",
       &r);
  ASSERT_STATUS(&r, 200);
  got = xt_jnum(member(&r, "loss"));
  ck_assert_msg((float)got == (float)loss,
                "loss %.9g, float32 of %.17g is %.9g", got, loss,
                (double)(float)loss);
  /* float32(0.40760596444438013) = 0.40760597586631775, whose shortest
   * float32 text is 0.40760598 (0.407606 reads back to another float). */
  ck_assert_msg(strstr(r.body, "\"loss\":0.40760598,") != NULL ||
                    strstr(r.body, "\"loss\": 0.40760598,") != NULL,
                "not the shortest float32 text of %.17g: %s", loss, r.body);
  xt_resp_free(&r);
}
END_TEST

/* timm mixup_target([0, 2], 3, lam 0.7, smoothing 0.1): off = 0.1/3,
 * on = 0.9 + 0.1/3, rows mixed with the flipped batch. */
START_TEST(test_targets_endpoint) {
  const double off = 0.1 / 3, on = 0.9 + 0.1 / 3;
  const double q[6] = {0.7 * on + 0.3 * off, off, 0.7 * off + 0.3 * on,
                       0.7 * off + 0.3 * on, off, 0.7 * on + 0.3 * off};
  xt_resp r;
  post("/v1/targets",
       "{\"targets\": [0, 2], \"num_classes\": 3, \"label_smoothing\": 0.1,"
       " \"mixup\": {\"lambda\": 0.7, \"pairing\": \"flip\"}}",
       &r);
  ASSERT_STATUS(&r, 200);
  assert_matrix(member(&r, "targets"), q, 2, 3, "targets");
  xt_resp_free(&r);
  post("/v1/targets", "{\"targets\": [0, 9], \"num_classes\": 3}", &r);
  assert_error(&r, 400, "invalid_argument", "targets[1]");
  xt_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------- errors -- */

START_TEST(test_invalid_json) {
  xt_resp r;
  post("/v1/loss", "{\"logits\": [[1, 2, 3]],\n \"targets\": [2", &r);
  assert_error(&r, 400, "invalid_json", NULL);
  ck_assert_msg(strstr(xt_err_message(&r), "line 2") != NULL &&
                    strstr(xt_err_message(&r), "column") != NULL,
                "no line 2 / column in \"%s\"", xt_err_message(&r));
  xt_resp_free(&r);
  post("/v1/loss", "{\"logits\": [[NaN, 1]], \"targets\": [0]}", &r);
  assert_error(&r, 400, "invalid_json", NULL);
  ck_assert_msg(strstr(xt_err_message(&r), "null") != NULL,
                "message does not say to send null: \"%s\"",
                xt_err_message(&r));
  xt_resp_free(&r);
  post("/v1/loss", "", &r);
  ck_assert_msg(r.status == 400, "empty body: status %ld", r.status);
  xt_resp_free(&r);
  post("/v1/loss", "[1, 2]", &r);
  ck_assert_msg(r.status == 400, "array body: status %ld", r.status);
  xt_resp_free(&r);
}
END_TEST

typedef struct bad_case {
  const char *body;
  const char *field;
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"logits\": [[0,0,0,0,0],[0,0,0,0,0],[0,0,0,0,0],[0,0,0,0,0]],"
     " \"targets\": [0, 1, 4, 7]}",
     "targets[3]"},
    {"{\"logits\": [[0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,\"x\"]],"
     " \"targets\": [0, 1]}",
     "logits[1][7]"},
    {"{\"logits\": [[1, 2], [3, 4]], \"targets\": [0, 1],"
     " \"mixup\": {\"lambda\": 1.5}}",
     "mixup.lambda"},
    {"{\"logits\": [[1, 2], [3, 4]], \"targets\": [0, 1],"
     " \"mixup\": {\"lambda\": [0.5, -0.25]}}",
     "mixup.lambda[1]"},
    {"{\"logits\": [[1, 2], [3, 4]], \"targets\": [0, 1],"
     " \"mixup\": {\"lambda\": 0.5, \"pairing\": [1, 2]}}",
     "mixup.pairing[1]"},
    {"{\"logits\": [[1, 2], [3, 4]], \"targets\": [0, 1],"
     " \"label_smoothing\": 1.5}",
     "label_smoothing"},
    {"{\"logits\": [[1, 2, 3], [3, 4]], \"targets\": [0, 1]}", "logits[1]"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0], \"class_weights\": [1, -1, "
     "1]}",
     "class_weights[1]"},
    {"{\"logits\": [[1, 2, 3]], \"soft_targets\": [[0.5, -0.5, 1]]}",
     "soft_targets[0][1]"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0], \"reduction\": \"avg\"}",
     "reduction"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0], \"smoothing\": \"both\"}",
     "smoothing"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0], \"outputs\": [\"loss\","
     " \"hessian\"]}",
     "outputs[1]"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0], \"precision\": \"float16\"}",
     "precision"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0.5]}", "targets[0]"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0], \"colour\": 1}", "colour"},
    {"{\"logits\": [[1, 2, 3]], \"targets\": [0, 1]}", "targets"},
    {"{\"logits\": [], \"targets\": []}", "logits"},
    {"{\"logits\": [[1, 2, 3]], \"soft_targets\": [[0, 0, 1]],"
     " \"mixup\": {\"lambda\": 0.5}}",
     "mixup|mixup.lambda"},
};

/* Whether field is one of the '|'-separated alternatives of want. */
static int field_is(const char *field, const char *want) {
  const size_t len = strlen(field);
  for (const char *p = want; p != NULL; p = strchr(p, '|')) {
    p += *p == '|';
    if (strncmp(p, field, len) == 0 && (p[len] == '\0' || p[len] == '|')) {
      return 1;
    }
  }
  return 0;
}

START_TEST(test_invalid_argument) {
  const bad_case *c = &bad_cases[_i];
  xt_resp r;
  post("/v1/loss", c->body, &r);
  ck_assert_msg(r.status == 400 &&
                    strcmp(xt_err_code(&r), "invalid_argument") == 0 &&
                    field_is(xt_err_field(&r), c->field),
                "case %d: %s\n  -> %ld %s (expected 400 invalid_argument with"
                " field %s)",
                _i, c->body, r.status, r.body, c->field);
  xt_resp_free(&r);
}
END_TEST

START_TEST(test_unprocessable) {
  xt_resp r;
  post("/v1/loss", "{\"logits\": [[1, 2], [3, 4]], \"targets\": [-100, -100]}",
       &r);
  assert_error(&r, 422, "unprocessable", NULL);
  xt_resp_free(&r);
  post("/v1/loss",
       "{\"logits\": [[1, 2], [3, 4]], \"targets\": [5, 5],"
       " \"ignore_index\": 5, \"class_weights\": [1, 1]}",
       &r);
  assert_error(&r, 422, "unprocessable", NULL);
  xt_resp_free(&r);
  /* Target mass on a masked class. */
  post("/v1/loss", "{\"logits\": [[0, 1], [null, 1]], \"targets\": [1, 0]}",
       &r);
  assert_error(&r, 422, "unprocessable", NULL);
  ck_assert_msg(strstr(xt_err_field(&r), "[1]") != NULL,
                "field \"%s\" does not name row 1", xt_err_field(&r));
  xt_resp_free(&r);
  /* Every row ignored, but reduction sum is defined: 0. */
  post("/v1/loss",
       "{\"logits\": [[1, 2]], \"targets\": [-100], \"reduction\": \"sum\"}",
       &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_msg(xt_jnum(member(&r, "loss")) == 0.0, "loss %s", r.body);
  xt_resp_free(&r);
}
END_TEST

/* A body whose Content-Length is over the limit: refused with 413 before a
 * single byte of it is sent. */
START_TEST(test_too_large_content_length) {
  xt_str req = {0};
  xt_str ans = {0};
  int status;
  const int fd = xt_raw_connect(g_base);
  ck_assert_msg(fd >= 0, "cannot connect");
  xt_str_addf(&req,
              "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Length: %ld\r\n\r\n",
              g_max_body + 1);
  ck_assert_int_eq(xt_raw_send(fd, req.data, req.len), 0);
  status = xt_raw_read_response(fd, 5000, &ans);
  ck_assert_msg(status == 413, "status %d, answer: %s", status,
                ans.data ? ans.data : "(nothing within 5 s)");
  ck_assert_msg(strstr(ans.data, "payload_too_large") != NULL, "%s", ans.data);
  close(fd);
  xt_str_free(&req);
  xt_str_free(&ans);
}
END_TEST

/* A large body sent by libcurl with a Content-Length, padded JSON. */
START_TEST(test_too_large_body_curl) {
  const size_t len = (size_t)g_max_body + 100;
  char *body = malloc(len);
  xt_resp r;
  ck_assert_ptr_nonnull(body);
  memset(body, ' ', len);
  memcpy(body, "{\"logits\": [[1, 2]], \"targets\": [1]}", 36);
  xt_request(NULL, g_base, "POST", "/v1/loss", NULL, body, len, &r);
  assert_error(&r, 413, "payload_too_large", NULL);
  xt_resp_free(&r);
  /* Exactly at the limit is accepted (spaces are valid JSON padding). */
  xt_request(NULL, g_base, "POST", "/v1/loss", NULL, body, (size_t)g_max_body,
             &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);
  free(body);
}
END_TEST

/* Sends a chunked POST /v1/loss head and then `chunks` chunks of `size`
 * spaces (no Content-Length); stops early when the daemon answers or closes.
 * Returns the number of chunks sent. */
static long send_chunked(int fd, long chunks, int size) {
  static char chunk[65536 + 32];
  static const char head[] =
      "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\n[\r\n";
  const int n = snprintf(chunk, sizeof chunk, "%x\r\n", size);
  long i;
  memset(chunk + n, ' ', (size_t)size);
  memcpy(chunk + n + size, "\r\n", 2);
  if (xt_raw_send(fd, head, strlen(head)) != 0) {
    return 0;
  }
  for (i = 0; i < chunks; i++) {
    if (xt_raw_send(fd, chunk, (size_t)n + (size_t)size + 2) != 0 ||
        xt_raw_readable(fd, 1)) {
      break;
    }
  }
  return i;
}

/* A chunked body (no Content-Length) over the limit that then ends: 413. */
START_TEST(test_too_large_chunked) {
  enum { CHUNK = 8192 };
  xt_str ans = {0};
  const int fd = xt_raw_connect(g_base);
  const long chunks = g_max_body / CHUNK + 2;
  int status;
  ck_assert_msg(fd >= 0, "cannot connect");
  if (send_chunked(fd, chunks, CHUNK) == chunks) {
    xt_raw_send(fd, "0\r\n\r\n", 5);
  }
  status = xt_raw_read_response(fd, 5000, &ans);
  ck_assert_msg(
      status == 413, "status %d for %ld bytes over a limit of %ld: %s", status,
      chunks * CHUNK, g_max_body, ans.data ? ans.data : "(no answer)");
  ck_assert_msg(strstr(ans.data, "payload_too_large") != NULL, "%s", ans.data);
  close(fd);
  xt_str_free(&ans);
}
END_TEST

/* A chunked body that never ends is cut off past the limit: the daemon
 * closes the connection (answering 413 if it answers at all) long before
 * 64 times the limit went in, and keeps serving. */
START_TEST(test_too_large_chunked_cut_off) {
  enum { CHUNK = 65536 };
  xt_str ans = {0};
  xt_resp r;
  const int fd = xt_raw_connect(g_base);
  const long chunks = 64 * g_max_body / CHUNK + 8;
  long sent;
  int closed;
  ck_assert_msg(fd >= 0, "cannot connect");
  sent = send_chunked(fd, chunks, CHUNK);
  closed = xt_raw_read_until_close(fd, 5000, &ans);
  ck_assert_msg(sent < chunks && closed,
                "the daemon took %ld chunks of %d bytes past a limit of %ld "
                "(closed: %d)",
                sent, CHUNK, g_max_body, closed);
  ck_assert_msg(ans.data == NULL || strncmp(ans.data, "HTTP/1.1 413", 12) == 0,
                "answer to an endless body: %s", ans.data);
  close(fd);
  xt_str_free(&ans);
  get("/healthz", &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);
}
END_TEST

/* -------------------------------------------------------- connections -- */

START_TEST(test_keep_alive) {
  CURL *h = curl_easy_init();
  static const char body[] = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
  const double loss = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
  xt_resp r;
  xt_request(h, g_base, "POST", "/v1/loss", NULL, body, strlen(body), &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_int_eq(r.connects, 1);
  xt_resp_free(&r);
  for (int i = 0; i < 5; i++) {
    xt_request(h, g_base, "POST", "/v1/loss", NULL, body, strlen(body), &r);
    ASSERT_STATUS(&r, 200);
    ck_assert_msg(r.connects == 0, "request %d opened %ld new connection(s)",
                  i + 2, r.connects);
    ASSERT_CLOSE(xt_jnum(member(&r, "loss")), loss);
    xt_resp_free(&r);
  }
  /* An error answer keeps the connection too. */
  xt_request(h, g_base, "POST", "/v1/loss", NULL, "{", 1, &r);
  ASSERT_STATUS(&r, 400);
  xt_resp_free(&r);
  xt_request(h, g_base, "GET", "/healthz", NULL, NULL, 0, &r);
  ASSERT_STATUS(&r, 200);
  ck_assert_msg(r.connects == 0, "a 400 closed the connection");
  xt_resp_free(&r);
  curl_easy_cleanup(h);
}
END_TEST

/* ------------------------------------------------- concurrent clients -- */

enum { THREADS = 8, PER_THREAD = 200, MAXN = 6, MAXC = 9 };

typedef struct worker {
  unsigned long long seed;
  int index;
  int failures;
  int done;
  char first[600];
} worker;

static double rnd(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0;
}

static size_t rnd_int(unsigned long long *s, size_t lo, size_t hi) {
  return lo + (size_t)(rnd(s) * (double)(hi - lo + 1));
}

static void worker_fail(worker *w, const char *what, const xt_resp *r) {
  if (w->failures++ == 0) {
    snprintf(w->first, sizeof w->first,
             "thread %d request %d: %s: status %ld %.200s %s", w->index,
             w->done, what, r->status, r->body, r->error);
  }
}

/* First value of matrix m that differs from want, described in why. */
static int matrix_ok(const json_t *m, const double *want, size_t n, size_t c,
                     char *why, size_t size) {
  if (json_array_size(m) != n) {
    snprintf(why, size, "%zu rows, expected %zu", json_array_size(m), n);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *row = json_array_get(m, i);
    if (json_array_size(row) != c) {
      snprintf(why, size, "row %zu: %zu values, expected %zu", i,
               json_array_size(row), c);
      return 0;
    }
    for (size_t j = 0; j < c; j++) {
      const double got = xt_jat(row, j);
      if (!xt_close(got, want[i * c + j], REL, ABS)) {
        snprintf(why, size, "[%zu][%zu] = %.17g, expected %.17g", i, j, got,
                 want[i * c + j]);
        return 0;
      }
    }
  }
  return 1;
}

static int loss_ok(const xt_resp *r, double want, char *why, size_t size) {
  const double got = xt_jnum(json_object_get(r->json, "loss"));
  if (xt_close(got, want, REL, ABS)) {
    return 1;
  }
  snprintf(why, size, "loss = %.17g, expected %.17g", got, want);
  return 0;
}

static void one_request(worker *w, CURL *h) {
  unsigned long long *s = &w->seed;
  const int kind = (int)rnd_int(s, 0, 4);
  const size_t n = rnd_int(s, 1, MAXN), c = rnd_int(s, 2, MAXC);
  double x[MAXN * MAXC], q[MAXN * MAXC], per[MAXN], grad[MAXN * MAXC];
  size_t t[MAXN];
  const double eps = (double)rnd_int(s, 0, 4) / 16.0;
  xt_str body = {0};
  xt_resp r;
  char why[200] = "wrong answer";
  for (size_t i = 0; i < n * c; i++) {
    x[i] = (double)((long)rnd_int(s, 0, 4096) - 2048) / 256.0;
  }
  for (size_t i = 0; i < n; i++) {
    t[i] = rnd_int(s, 0, c - 1);
    for (size_t j = 0; j < c; j++) {
      q[i * c + j] = (j == t[i] ? 1.0 - eps : 0.0) + eps / (double)c;
    }
  }
  if (kind == 0 || kind == 4) { /* hard labels, mean; 4: a bad label */
    const size_t bad = rnd_int(s, 0, n - 1);
    double sum = 0;
    xt_str_add(&body, "{\"logits\": ");
    xt_str_add_matrix(&body, x, n, c);
    xt_str_add(&body, ", \"targets\": [");
    for (size_t i = 0; i < n; i++) {
      xt_str_addf(&body, i ? ", %zu" : "%zu", kind == 4 && i == bad ? c : t[i]);
    }
    xt_str_addf(&body, "], \"label_smoothing\": %.17g}", eps);
    xt_request(h, g_base, "POST", "/v1/loss", NULL, body.data, body.len, &r);
    if (kind == 4) {
      char field[32];
      snprintf(field, sizeof field, "targets[%zu]", bad);
      if (r.status != 400 || strcmp(xt_err_field(&r), field) != 0) {
        worker_fail(w, "bad label", &r);
      }
    } else {
      xt_ref_ce(x, q, NULL, n, c, (double)n, per, grad, NULL);
      for (size_t i = 0; i < n; i++) {
        sum += per[i];
      }
      if (r.status != 200 || !loss_ok(&r, sum / n, why, sizeof why) ||
          !matrix_ok(json_object_get(r.json, "grad"), grad, n, c, why,
                     sizeof why)) {
        worker_fail(w, why, &r);
      }
    }
  } else if (kind == 1) { /* soft targets, sum */
    double y[MAXN * MAXC];
    double sum = 0;
    for (size_t i = 0; i < n * c; i++) {
      y[i] = (double)rnd_int(s, 0, 64) / 64.0;
    }
    for (size_t i = 0; i < n * c; i++) {
      q[i] = (1.0 - eps) * y[i] + eps / (double)c;
    }
    xt_str_add(&body, "{\"logits\": ");
    xt_str_add_matrix(&body, x, n, c);
    xt_str_add(&body, ", \"soft_targets\": ");
    xt_str_add_matrix(&body, y, n, c);
    xt_str_addf(&body, ", \"label_smoothing\": %.17g, \"reduction\": \"sum\"}",
                eps);
    xt_request(h, g_base, "POST", "/v1/loss", NULL, body.data, body.len, &r);
    xt_ref_ce(x, q, NULL, n, c, 1.0, per, grad, NULL);
    for (size_t i = 0; i < n; i++) {
      sum += per[i];
    }
    if (r.status != 200 || !loss_ok(&r, sum, why, sizeof why) ||
        !matrix_ok(json_object_get(r.json, "grad"), grad, n, c, why,
                   sizeof why)) {
      worker_fail(w, why, &r);
    }
  } else if (kind == 2) { /* /v1/targets with mixup flip */
    const double lam = (double)rnd_int(s, 0, 8) / 8.0;
    double m[MAXN * MAXC];
    for (size_t i = 0; i < n; i++) {
      for (size_t j = 0; j < c; j++) {
        m[i * c + j] = lam * q[i * c + j] + (1 - lam) * q[(n - 1 - i) * c + j];
      }
    }
    xt_str_add(&body, "{\"targets\": [");
    for (size_t i = 0; i < n; i++) {
      xt_str_addf(&body, i ? ", %zu" : "%zu", t[i]);
    }
    xt_str_addf(&body,
                "], \"num_classes\": %zu, \"label_smoothing\": %.17g,"
                " \"mixup\": {\"lambda\": %.17g}}",
                c, eps, lam);
    xt_request(h, g_base, "POST", "/v1/targets", NULL, body.data, body.len, &r);
    if (r.status != 200 || !matrix_ok(json_object_get(r.json, "targets"), m, n,
                                      c, why, sizeof why)) {
      worker_fail(w, why, &r);
    }
  } else { /* health */
    xt_request(h, g_base, "GET", "/healthz", NULL, NULL, 0, &r);
    if (r.status != 200) {
      worker_fail(w, "healthz", &r);
    }
  }
  xt_resp_free(&r);
  xt_str_free(&body);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  CURL *h = curl_easy_init();
  for (w->done = 0; w->done < PER_THREAD && h != NULL; w->done++) {
    one_request(w, h);
  }
  curl_easy_cleanup(h);
  return NULL;
}

START_TEST(test_concurrent_clients) {
  pthread_t tid[THREADS];
  worker w[THREADS];
  int total = 0;
  for (int i = 0; i < THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].seed = 0x9E3779B97F4A7C15ULL * (unsigned long long)(i + 1);
    w[i].index = i;
    ck_assert_int_eq(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(tid[i], NULL);
  }
  for (int i = 0; i < THREADS; i++) {
    if (w[i].failures) {
      fprintf(stderr, "%s\n", w[i].first);
    }
    ck_assert_int_eq(w[i].done, PER_THREAD);
    total += w[i].failures;
  }
  ck_assert_msg(total == 0, "%d of %d answers wrong; first: %s", total,
                THREADS * PER_THREAD, w[0].failures ? w[0].first : "see above");
}
END_TEST

/* ------------------------------------------- survival after bad input -- */

START_TEST(test_survives_bad_requests) {
  static const char *const garbage[] = {
      "\x01\x02\xff\xfe garbage\r\n\r\n",
      "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
      "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Length: "
      "99999999999999999999999\r\n\r\n",
      "POST /v1/loss HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: application/json\r\n\r\nzz\r\n",
  };
  const double loss = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
  xt_resp r;
  for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
    xt_str ans = {0};
    const int fd = xt_raw_connect(g_base);
    ck_assert_msg(fd >= 0, "cannot connect (garbage %zu)", i);
    xt_raw_send(fd, garbage[i], strlen(garbage[i]));
    /* Either an error answer or a closed connection, quickly. */
    xt_raw_read_until_close(fd, 3000, &ans);
    ck_assert_msg(ans.data == NULL || strncmp(ans.data, "HTTP/1.1 2", 10) != 0,
                  "garbage %zu answered with success: %s", i, ans.data);
    close(fd);
    xt_str_free(&ans);
  }
  post("/v1/loss", "{\"logits\": [[1, 2, 3]], \"targets\": [2", &r);
  ASSERT_STATUS(&r, 400);
  xt_resp_free(&r);
  post("/v1/loss", "{\"logits\": [[1e308, -1e308]], \"targets\": [1]}", &r);
  ck_assert_msg(r.status == 400 || r.status == 422 || r.status == 200,
                "huge logits: %ld %s", r.status, r.body);
  xt_resp_free(&r);
  post("/v1/loss", "{\"logits\": [[1, 2, 3]], \"targets\": [99999999999]}", &r);
  assert_error(&r, 400, "invalid_argument", "targets[0]");
  xt_resp_free(&r);
  post("/v1/loss", "{\"logits\": [[1, 2, 3]], \"targets\": [1e400]}", &r);
  ck_assert_msg(r.status == 400, "1e400: %ld %s", r.status, r.body);
  xt_resp_free(&r);
  {
    const size_t len = (size_t)g_max_body * 2;
    char *big = malloc(len);
    ck_assert_ptr_nonnull(big);
    memset(big, '[', len);
    xt_request(NULL, g_base, "POST", "/v1/loss", NULL, big, len, &r);
    ASSERT_STATUS(&r, 413);
    xt_resp_free(&r);
    /* Deep nesting within the limit. */
    xt_request(NULL, g_base, "POST", "/v1/loss", NULL, big,
               (size_t)g_max_body / 2, &r);
    ASSERT_STATUS(&r, 400);
    xt_resp_free(&r);
    free(big);
  }
  post("/v1/loss", "{\"logits\": [[1, 2, 3]], \"targets\": [2]}", &r);
  ASSERT_STATUS(&r, 200);
  ASSERT_CLOSE(xt_jnum(member(&r, "loss")), loss);
  xt_resp_free(&r);
  get("/healthz", &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);
}
END_TEST

/* ------------------------------------- tests with a daemon of their own -- */

/* Polls GET /metrics until the gauge `name` reads `want`: waits for the
 * daemon to reach a state, with a deadline, instead of guessing a time. */
static void wait_for_gauge(const char *url, const char *name, double want) {
  const long long deadline = xt_now_ms() + 10000;
  for (;;) {
    xt_resp m;
    xt_request(NULL, url, "GET", "/metrics", NULL, NULL, 0, &m);
    const double v = m.status == 200 ? metric_sum(m.body, name, NULL) : -1;
    xt_resp_free(&m);
    if (v == want)
      return;
    ck_assert_msg(xt_now_ms() < deadline, "%s reads %g, not %g after 10 s",
                  name, v, want);
    sched_yield();
  }
}

/* An upload that sends half its body, says so, and sends the rest when
 * the main thread tells it to (a mutex and a condition, no polling). */
typedef struct slow_upload {
  const char *base;
  const char *body;
  size_t len;
  size_t sent;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started; /* first half handed to libcurl (or the upload ended) */
  int go_on;   /* main thread: send the rest                          */
  xt_resp resp;
} slow_upload;

static void slow_set(slow_upload *u, int *flag) {
  pthread_mutex_lock(&u->mu);
  *flag = 1;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
}

/* Waits (at most 20 s) until *flag is set; returns it. */
static int slow_wait(slow_upload *u, const int *flag) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&u->mu);
  int rc = 0;
  while (!*flag && rc == 0)
    rc = pthread_cond_timedwait(&u->cv, &u->mu, &until);
  const int v = *flag;
  pthread_mutex_unlock(&u->mu);
  return v;
}

static size_t slow_read(char *buf, size_t size, size_t nmemb, void *user) {
  slow_upload *u = user;
  size_t room = size * nmemb;
  const size_t half = u->len / 2;
  size_t n;
  if (u->sent < half) {
    n = half - u->sent < room ? half - u->sent : room;
  } else {
    slow_set(u, &u->started);
    slow_wait(u, &u->go_on);
    n = u->len - u->sent < room ? u->len - u->sent : room;
  }
  memcpy(buf, u->body + u->sent, n);
  u->sent += n;
  return n;
}

static void *slow_main(void *arg) {
  slow_upload *u = arg;
  CURL *h = curl_easy_init();
  struct curl_slist *hd = NULL;
  xt_str s = {0};
  char url[256];
  snprintf(url, sizeof url, "%s/v1/loss", u->base);
  hd = curl_slist_append(hd, "Content-Type: application/json");
  hd = curl_slist_append(hd, "Expect:");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)u->len);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, slow_read);
  curl_easy_setopt(h, CURLOPT_READDATA, u);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, xt_curl_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  if (curl_easy_perform(h) == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &u->resp.status);
  }
  u->resp.body = s.data;
  u->resp.len = s.len;
  if (s.data != NULL) {
    u->resp.json = json_loadb(s.data, s.len, 0, NULL);
  }
  slow_set(u, &u->started);
  curl_slist_free_all(hd);
  curl_easy_cleanup(h);
  return NULL;
}

/* A large request is in flight (half its body sent) when SIGTERM arrives:
 * readiness turns 503 on an open connection, the request is answered in
 * full and correctly, then the daemon exits 0. */
START_TEST(test_graceful_shutdown) {
  enum { GN = 200, GC = 100 };
  static double x[GN * GC], q[GN * GC], per[GN];
  static const char *const args[] = {"--shutdown-timeout", "20", "--access-log",
                                     "off", NULL};
  xt_daemon d;
  xt_str body = {0};
  slow_upload u;
  pthread_t tid;
  CURL *h;
  xt_resp r;
  double sum = 0;
  int status;
  unsigned long long seed = 12345;
  memset(q, 0, sizeof q);
  xt_str_add(&body, "{\"targets\": [");
  for (int i = 0; i < GN; i++) {
    const int t = (int)rnd_int(&seed, 0, GC - 1);
    q[i * GC + t] = 1.0;
    xt_str_addf(&body, i ? ",%d" : "%d", t);
  }
  for (int i = 0; i < GN * GC; i++) {
    x[i] = (double)((long)rnd_int(&seed, 0, 8192) - 4096) / 512.0;
  }
  xt_str_add(&body, "], \"outputs\": [\"loss\"], \"logits\": ");
  xt_str_add_matrix(&body, x, GN, GC);
  xt_str_add(&body, "}");
  xt_ref_ce(x, q, NULL, GN, GC, 1.0, per, NULL, NULL);
  for (int i = 0; i < GN; i++) {
    sum += per[i];
  }

  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  h = curl_easy_init();
  xt_request(h, d.url, "GET", "/readyz", NULL, NULL, 0, &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);

  memset(&u, 0, sizeof u);
  u.base = d.url;
  u.body = body.data;
  u.len = body.len;
  pthread_mutex_init(&u.mu, NULL);
  pthread_cond_init(&u.cv, NULL);
  ck_assert_int_eq(pthread_create(&tid, NULL, slow_main, &u), 0);
  ck_assert_msg(slow_wait(&u, &u.started), "the upload did not start");
  /* The daemon has begun the upload (its request line is in): it and this
   * GET /metrics are the two requests in flight. */
  wait_for_gauge(d.url, "xentd_requests_in_flight", 2);
  /* Spare connections, open before the signal: an answer given just as
   * the drain begins may close its connection. */
  CURL *spare[3];
  for (int i = 0; i < 3; i++) {
    spare[i] = curl_easy_init();
    xt_request(spare[i], d.url, "GET", "/healthz", NULL, NULL, 0, &r);
    ASSERT_STATUS(&r, 200);
    xt_resp_free(&r);
  }
  xt_daemon_signal(&d, SIGTERM);
  /* Readiness turns 503 on the connections opened before the signal. */
  const long long deadline = xt_now_ms() + 10000;
  for (int i = 0;;) {
    xt_request(i < 3 ? spare[i] : h, d.url, "GET", "/readyz", NULL, NULL, 0,
               &r);
    if (r.status == 0 && i < 3) { /* that connection was closed */
      xt_resp_free(&r);
      i++;
      continue;
    }
    const int drained = r.status != 200 || xt_now_ms() > deadline;
    xt_resp_free(&r);
    if (drained)
      break;
    sched_yield();
  }
  for (int i = 0; i < 3; i++)
    curl_easy_cleanup(spare[i]);
  xt_request(h, d.url, "GET", "/readyz", NULL, NULL, 0, &r);
  ck_assert_msg(r.status == 503 &&
                    strcmp(xt_err_code(&r), "shutting_down") == 0,
                "readyz while draining: %ld %s %s", r.status, r.body, r.error);
  ck_assert_msg(r.retry_after[0] != '\0', "503 without Retry-After");
  xt_resp_free(&r);
  curl_easy_cleanup(h);

  slow_set(&u, &u.go_on);
  pthread_join(tid, NULL);
  pthread_mutex_destroy(&u.mu);
  pthread_cond_destroy(&u.cv);
  ck_assert_msg(u.resp.status == 200, "request in flight: status %ld %.300s",
                u.resp.status, u.resp.body ? u.resp.body : "");
  ASSERT_CLOSE(xt_jnum(json_object_get(u.resp.json, "loss")), sum / GN);
  xt_resp_free(&u.resp);
  xt_str_free(&body);
  status = xt_daemon_wait(&d, 30000);
  ck_assert_msg(status == 0, "exit status %d after SIGTERM", status);
}
END_TEST

/* --timeout 1: a connection that sent half a request, and one that sent
 * nothing, are closed by the daemon within a few seconds. */
START_TEST(test_idle_timeout) {
  static const char *const args[] = {"--timeout", "1", NULL};
  static const char partial[] =
      "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"lo";
  xt_daemon d;
  xt_resp r;
  int fd, idle, closed, status;
  long long t0, elapsed;
  xt_str ans = {0};
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  fd = xt_raw_connect(d.url);
  idle = xt_raw_connect(d.url);
  ck_assert_msg(fd >= 0 && idle >= 0, "cannot connect");
  t0 = xt_now_ms();
  ck_assert_int_eq(xt_raw_send(fd, partial, strlen(partial)), 0);
  closed = xt_raw_read_until_close(fd, 6000, &ans);
  elapsed = xt_now_ms() - t0;
  ck_assert_msg(closed, "stalled connection still open after 6 s");
  ck_assert_msg(elapsed >= 500, "closed after %lld ms, before the timeout",
                elapsed);
  ck_assert_msg(ans.data == NULL || strncmp(ans.data, "HTTP/1.1 2", 10) != 0,
                "partial request answered with success: %s", ans.data);
  xt_str_free(&ans);
  closed = xt_raw_read_until_close(idle, 6000, &ans);
  ck_assert_msg(closed, "idle connection still open after 6 s");
  xt_str_free(&ans);
  close(fd);
  close(idle);
  xt_request(NULL, d.url, "GET", "/healthz", NULL, NULL, 0, &r);
  ASSERT_STATUS(&r, 200);
  xt_resp_free(&r);
  status = xt_daemon_stop(&d, 20000);
  ck_assert_msg(status == 0, "exit status %d after SIGTERM", status);
}
END_TEST

/* The process starts, binds an ephemeral port and logs where: the line is
 * written before the port file that xt_daemon_start waits for. */
START_TEST(test_startup_log) {
  xt_daemon d;
  char log[4096];
  char want[64];
  int status;
  ck_assert_int_eq(xt_daemon_start(&d, NULL, 10000), 0);
  snprintf(want, sizeof want, "listening on 127.0.0.1:%d", d.port);
  xt_daemon_log(&d, log, sizeof log);
  ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in:\n%s", want, log);
  status = xt_daemon_stop(&d, 20000);
  ck_assert_msg(status == 0, "exit status %d after SIGTERM", status);
}
END_TEST

/* A POST with neither Content-Length nor a chunked body: 411. */
START_TEST(test_length_required) {
  static const char head[] = "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\n\r\n";
  xt_str ans = {0};
  const int fd = xt_raw_connect(g_base);
  ck_assert_msg(fd >= 0, "cannot connect");
  ck_assert_int_eq(xt_raw_send(fd, head, strlen(head)), 0);
  const int status = xt_raw_read_response(fd, 5000, &ans);
  ck_assert_msg(status == 411, "status %d, answer: %s", status,
                ans.data ? ans.data : "(nothing within 5 s)");
  ck_assert_msg(strstr(ans.data, "\"length_required\"") != NULL, "%s",
                ans.data);
  close(fd);
  xt_str_free(&ans);
}
END_TEST

/* --max-in-flight 1: a request holds its place from the end of its body
 * until the last byte of its answer is handed to the socket, not while its
 * body trickles in. A client that stops reading a 30 MB answer keeps the
 * place (the socket buffers are full), so a second POST gets 429 with
 * Retry-After; once the first client has read its answer, the place is
 * free: a POST sent right after that is never refused. Ten rounds, ordered
 * by the daemon's own gauge and the socket's flow, never by time. */
START_TEST(test_overloaded) {
  static const char *const args[] = {"--max-in-flight", "1", NULL};
  static const char small[] = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
  enum { ROWS = 1000, COLS = 4000 };
  xt_daemon d;
  xt_str big = {0};
  xt_str head = {0};
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  /* Every logit 0: each grad value prints as about 8 characters. */
  xt_str_addf(&big, "{\"targets\": [0");
  for (int i = 1; i < ROWS; i++)
    xt_str_addf(&big, ",%d", i % COLS);
  xt_str_addf(&big, "], \"logits\": [");
  for (int i = 0; i < ROWS; i++) {
    xt_str_addf(&big, i > 0 ? ",[0" : "[0");
    for (int j = 1; j < COLS; j++)
      xt_str_addf(&big, ",0");
    xt_str_addf(&big, "]");
  }
  xt_str_addf(&big, "]}");
  xt_str_addf(&head,
              "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
              big.len);
  /* A body that trickles in holds nothing. */
  const int slow = xt_raw_connect(d.url);
  ck_assert_int_eq(xt_raw_send(slow, head.data, head.len), 0);
  ck_assert_int_eq(xt_raw_send(slow, big.data, 10), 0);
  for (int round = 0; round < 10; round++) {
    xt_str ans = {0};
    xt_resp r;
    xt_request(NULL, d.url, "POST", "/v1/loss", NULL, small, strlen(small), &r);
    ck_assert_msg(r.status == 200, "round %d: with a body trickling, %ld",
                  round, r.status);
    xt_resp_free(&r);
    const int fd = xt_raw_connect(d.url);
    ck_assert_msg(fd >= 0, "cannot connect");
    ck_assert_int_eq(xt_raw_send(fd, head.data, head.len), 0);
    ck_assert_int_eq(xt_raw_send(fd, big.data, big.len), 0);
    /* Not read yet: the answer fills the socket and waits. */
    wait_for_gauge(d.url, "xentd_compute_in_flight", 1);
    xt_request(NULL, d.url, "POST", "/v1/loss", NULL, small, strlen(small), &r);
    assert_error(&r, 429, "overloaded", NULL);
    ck_assert_str_eq(r.retry_after, "1");
    xt_resp_free(&r);
    ck_assert_int_eq(xt_raw_read_chunked(fd, 60000, &ans), 200);
    /* Every row's loss is ln(4000) = 8.2940496401020276...; the mean of a
     * thousand of them is that up to the rounding of their sum. */
    const char *at = strstr(ans.data, "\"loss\":");
    ck_assert_msg(at != NULL, "%.200s", ans.data);
    const double loss = strtod(at + 7, NULL);
    ck_assert_msg(fabs(loss - log(4000.0)) <= 1e-12 * loss, "loss %.17g", loss);
    xt_request(NULL, d.url, "POST", "/v1/loss", NULL, small, strlen(small), &r);
    ck_assert_msg(r.status == 200,
                  "round %d: a request sent after the answer got %ld", round,
                  r.status);
    xt_resp_free(&r);
    close(fd);
    xt_str_free(&ans);
  }
  close(slow);
  xt_str_free(&head);
  xt_str_free(&big);
  ck_assert_int_eq(xt_daemon_stop(&d, 20000), 0);
}
END_TEST

static Suite *http_suite(int own_daemon) {
  Suite *s = suite_create("xentd over HTTP");
  TCase *tc = tcase_create("routes");
  TCase *tl = tcase_create("load");
  TCase *to = tcase_create("own daemon");
  tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_healthz);
  tcase_add_test(tc, test_readyz);
  tcase_add_test(tc, test_v1_info);
  tcase_add_test(tc, test_metrics);
  tcase_add_test(tc, test_not_found);
  tcase_add_test(tc, test_escaped_path);
  tcase_add_test(tc, test_method_not_allowed);
  tcase_add_test(tc, test_unsupported_media);
  tcase_add_test(tc, test_loss_hard_label);
  tcase_add_test(tc, test_loss_smoothing_conventions);
  tcase_add_test(tc, test_loss_mixup);
  tcase_add_test(tc, test_loss_soft_targets);
  tcase_add_test(tc, test_loss_weights_ignore);
  tcase_add_test(tc, test_loss_reduction_none);
  tcase_add_test(tc, test_loss_masked_class);
  tcase_add_test(tc, test_loss_large_logits);
  tcase_add_test(tc, test_loss_stats);
  tcase_add_test(tc, test_loss_float32);
  tcase_add_test(tc, test_targets_endpoint);
  tcase_add_test(tc, test_invalid_json);
  tcase_add_loop_test(tc, test_invalid_argument, 0,
                      (int)(sizeof bad_cases / sizeof bad_cases[0]));
  tcase_add_test(tc, test_unprocessable);
  tcase_add_test(tc, test_too_large_content_length);
  tcase_add_test(tc, test_length_required);
  tcase_add_test(tc, test_too_large_body_curl);
  tcase_add_test(tc, test_too_large_chunked);
  tcase_add_test(tc, test_too_large_chunked_cut_off);
  tcase_add_test(tc, test_keep_alive);
  tcase_add_test(tc, test_survives_bad_requests);
  suite_add_tcase(s, tc);
  tcase_add_unchecked_fixture(tl, suite_setup, suite_teardown);
  tcase_set_timeout(tl, 300);
  tcase_add_test(tl, test_concurrent_clients);
  suite_add_tcase(s, tl);
  if (own_daemon) {
    tcase_set_timeout(to, 120);
    tcase_add_test(to, test_startup_log);
    tcase_add_test(to, test_graceful_shutdown);
    tcase_add_test(to, test_idle_timeout);
    tcase_add_test(to, test_overloaded);
    suite_add_tcase(s, to);
  } else {
    printf("test_http: XENT_URL is set: not run here, they need a daemon of "
           "their own: test_startup_log, test_graceful_shutdown, "
           "test_idle_timeout, test_overloaded\n");
  }
  return s;
}

int main(void) {
  const int own = xt_daemon_url_from_env() == NULL;
  SRunner *sr = srunner_create(http_suite(own));
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (g_bad_exit) {
    printf("test_http: a shared xentd did not exit 0 on SIGTERM\n");
  }
  return failed == 0 && !g_bad_exit ? EXIT_SUCCESS : EXIT_FAILURE;
}
