/*
 * test_codec: the JSON codec of xentd. Parse errors with their exact field
 * paths and HTTP statuses, library errors mapped through the one table,
 * and response bodies compared with values computed by hand.
 *
 * Request texts are written with single quotes for readability; q()
 * turns them into JSON.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "codec_priv.h"
#include "writer.h"

static const xs_limits limits = {1000000, 10000, 1000};

/* The text with ' replaced by ", in a static buffer. */
static const char *q(const char *s) {
  static char buf[8192];
  size_t i = 0;
  for (; s[i] != '\0' && i + 1 < sizeof buf; i++)
    buf[i] = s[i] == '\'' ? '"' : s[i];
  buf[i] = '\0';
  return buf;
}

typedef enum { LOSS, TARGETS } endpoint;

static int parse(endpoint ep, const char *body, const xs_limits *lim,
                 xs_request *req, xs_error *err) {
  return xs_parse(ep == LOSS ? XS_BODY_LOSS : XS_BODY_TARGETS, body,
                  strlen(body), lim, req, err);
}

/* The request must fail to parse with this status, code and field. */
static void parse_fails_lim(endpoint ep, const char *text, const xs_limits *lim,
                            int status, const char *code, const char *field) {
  xs_request req;
  xs_error err;
  const char *body = q(text);
  const int rc = parse(ep, body, lim, &req, &err);
  ck_assert_msg(rc == -1, "parsed: %s", body);
  ck_assert_msg(xs_error_http_status(err.kind) == status,
                "%s: status %d, want %d (%s)", body,
                xs_error_http_status(err.kind), status, err.message);
  ck_assert_str_eq(xs_error_code(err.kind), code);
  ck_assert_msg(strcmp(err.field, field) == 0, "%s: field \"%s\", want \"%s\"",
                body, err.field, field);
  for (int i = 0; i < XS_F_COUNT; i++)
    ck_assert_ptr_null(req.owned[i]);
  ck_assert_msg(err.message[0] != '\0', "empty message");
}

static void parse_fails(endpoint ep, const char *text, int status,
                        const char *code, const char *field) {
  parse_fails_lim(ep, text, &limits, status, code, field);
}

static void bad_arg(const char *text, const char *field) {
  parse_fails(LOSS, text, 400, "invalid_argument", field);
}

/* Parses (must succeed) and runs; returns the run's rc with out/err set. */
static int run(endpoint ep, const char *text, xs_buf *out, xs_error *err) {
  xs_request req;
  const char *body = q(text);
  ck_assert_msg(parse(ep, body, &limits, &req, err) == 0,
                "parse failed: %s: %s (field %s)", body, err->message,
                err->field);
  xs_buf_init(out);
  const int rc = xs_run_to_buf(&req, out, err);
  xs_request_free(&req);
  return rc;
}

/* The run must fail with this status and field. */
static void run_fails(endpoint ep, const char *text, int status,
                      const char *field) {
  xs_buf out;
  xs_error err;
  const int rc = run(ep, text, &out, &err);
  xs_buf_free(&out);
  ck_assert_msg(rc == -1, "ran: %s", q(text));
  ck_assert_msg(xs_error_http_status(err.kind) == status,
                "%s: status %d, want %d (%s)", q(text),
                xs_error_http_status(err.kind), status, err.message);
  ck_assert_msg(strcmp(err.field, field) == 0, "%s: field \"%s\", want \"%s\"",
                q(text), err.field, field);
}

/* Runs and returns the body parsed back by jansson (caller decrefs); the
 * exact text goes to *text when not NULL (caller frees). */
static json_t *run_ok(endpoint ep, const char *req_text, char **text) {
  xs_buf out;
  xs_error err;
  const int rc = run(ep, req_text, &out, &err);
  ck_assert_msg(rc == 0, "%s: %s (field %s)", q(req_text), err.message,
                err.field);
  json_error_t je;
  json_t *j = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &je);
  ck_assert_msg(j != NULL, "response is not JSON: %s (%s)", out.data, je.text);
  if (text != NULL)
    *text = xs_buf_take(&out, NULL);
  xs_buf_free(&out);
  return j;
}

static void near(double got, double want, const char *what) {
  const double tol = 1e-12 + 1e-12 * fabs(want);
  ck_assert_msg(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got,
                want);
}

static double num_at(json_t *j, const char *key, int i, int k) {
  json_t *v = json_object_get(j, key);
  ck_assert_msg(v != NULL, "no \"%s\" in response", key);
  if (i >= 0)
    v = json_array_get(v, (size_t)i);
  if (k >= 0)
    v = json_array_get(v, (size_t)k);
  ck_assert_msg(json_is_number(v), "%s[%d][%d] is not a number", key, i, k);
  return json_number_value(v);
}

/* ------------------------------------------------------------ invalid_json */

START_TEST(not_json) {
  parse_fails(LOSS, "{'logits': [[1,2]", 400, "invalid_json", "");
  parse_fails(LOSS, "", 400, "invalid_json", "");
  parse_fails(LOSS, "{'logits': [[1,2]]} x", 400, "invalid_json", "");

  xs_request req;
  xs_error err;
  const char *body = q("{'logits':\n  [[1, 2,]], 'targets': [0]}");
  ck_assert_int_eq(
      xs_parse(XS_BODY_LOSS, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_int_eq(err.kind, XS_ERR_INVALID_JSON);
  ck_assert_msg(strstr(err.message, "line 2, column") != NULL, "%s",
                err.message);
  /* A length shorter than the text: only the prefix is parsed. */
  body = q("{'logits': [[1]], 'targets': [0]}");
  ck_assert_int_eq(xs_parse(XS_BODY_LOSS, body, 10, &limits, &req, &err), -1);
  ck_assert_int_eq(err.kind, XS_ERR_INVALID_JSON);
}
END_TEST

START_TEST(nan_and_infinity_literals) {
  const char *texts[] = {"{'logits': [[NaN, 1]], 'targets': [0]}",
                         "{'logits': [[1, -Infinity]], 'targets': [0]}",
                         "{'logits': [[1, Infinity]], 'targets': [0]}",
                         "{'logits': [[1, nan]], 'targets': [0]}"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    xs_request req;
    xs_error err;
    const char *body = q(texts[i]);
    ck_assert_int_eq(
        xs_parse(XS_BODY_LOSS, body, strlen(body), &limits, &req, &err), -1);
    ck_assert_int_eq(err.kind, XS_ERR_INVALID_JSON);
    ck_assert_msg(strstr(err.message, "null") != NULL &&
                      strstr(err.message, "line 1, column") != NULL,
                  "%s", err.message);
  }
  /* A word that merely contains "nan" is not taken for one. */
  xs_request req;
  xs_error err;
  const char *body = q("{'banana': [1,}");
  ck_assert_int_eq(
      xs_parse(XS_BODY_LOSS, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_ptr_null(strstr(err.message, "null"));
}
END_TEST

START_TEST(duplicate_keys) {
  parse_fails(LOSS, "{'logits': [[1]], 'logits': [[2]], 'targets': [0]}", 400,
              "invalid_json", "");
  parse_fails(LOSS,
              "{'logits': [[1]], 'targets': [0], 'mixup': {'lambda': 1, "
              "'lambda': 0}}",
              400, "invalid_json", "");
}
END_TEST

/* -------------------------------------------------------- invalid_argument */

START_TEST(shape_of_body) {
  bad_arg("[1, 2]", "");
  bad_arg("{'targets': [0]}", "logits");
  bad_arg("{'logits': 3, 'targets': [0]}", "logits");
  bad_arg("{'logits': [], 'targets': []}", "logits");
  bad_arg("{'logits': [[]], 'targets': [0]}", "logits[0]");
  bad_arg("{'logits': [1, 2], 'targets': [0]}", "logits[0]");
  bad_arg("{'logits': [[1], 2], 'targets': [0, 0]}", "logits[1]");
}
END_TEST

START_TEST(unknown_keys) {
  bad_arg("{'logits': [[1]], 'targets': [0], 'weight': [1]}", "weight");
  /* The first unknown key in document order. */
  bad_arg("{'zeta': 1, 'logits': [[1]], 'alpha': 2, 'targets': [0]}", "zeta");
  bad_arg("{'logits': [[1]], 'targets': [0], 'mixup': {'lambda': 1, "
          "'alpha': 0.2}}",
          "mixup.alpha");
  parse_fails(TARGETS, "{'targets': [0], 'num_classes': 2, 'logits': [[1]]}",
              400, "invalid_argument", "logits");
}
END_TEST

START_TEST(ragged_logits) {
  bad_arg("{'logits': [[1,2,3],[1,2],[1,2,3]], 'targets': [0,0,0]}",
          "logits[1]");
  bad_arg("{'logits': [[1,2,3],[1,2,3],[1,2,3,4]], 'targets': [0,0,0]}",
          "logits[2]");
}
END_TEST

START_TEST(logit_types) {
  bad_arg("{'logits': [[0,1,2,3,4,5,6,7],[0,1,2,3,4,5,6,'7']], "
          "'targets': [0,0]}",
          "logits[1][7]");
  bad_arg("{'logits': [[true]], 'targets': [0]}", "logits[0][0]");
  bad_arg("{'logits': [[1, [2]]], 'targets': [0]}", "logits[0][1]");
  bad_arg("{'logits': [[1, {}]], 'targets': [0]}", "logits[0][1]");
}
END_TEST

START_TEST(limits_are_413) {
  const xs_limits small = {100, 4, 1000};
  parse_fails_lim(LOSS,
                  "{'logits': [[1],[1],[1],[1],[1]], 'targets': [0,0,0,0,0]}",
                  &small, 413, "payload_too_large", "logits");
  /* 2 rows of 51 classes: 102 elements > 100. */
  char text[1024] = "{'logits': [[0";
  for (int r = 0; r < 2; r++) {
    for (int c = 1; c < 51; c++)
      strcat(text, ",0");
    strcat(text, r == 0 ? "],[0" : "]], 'targets': [0,0]}");
  }
  parse_fails_lim(LOSS, text, &small, 413, "payload_too_large", "logits");
  /* The same rows at 50 classes fit. */
  xs_request req;
  xs_error err;
  const char *body = q("{'logits': [[1],[1],[1],[1]], 'targets': [0,0,0,0]}");
  ck_assert_int_eq(
      xs_parse(XS_BODY_LOSS, body, strlen(body), &small, &req, &err), 0);
  xs_request_free(&req);
  parse_fails_lim(TARGETS, "{'targets': [0,0], 'num_classes': 51}", &small, 413,
                  "payload_too_large", "targets");
}
END_TEST

START_TEST(target_types) {
  bad_arg("{'logits': [[1,2]]}", "targets");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'soft_targets': [[1,0]]}",
          "soft_targets");
  bad_arg("{'logits': [[1,2],[1,2]], 'targets': [0]}", "targets");
  bad_arg("{'logits': [[1,2],[1,2]], 'targets': 0}", "targets");
  bad_arg("{'logits': [[1],[1],[1],[1]], 'targets': [0,0,0,1.0]}",
          "targets[3]");
  bad_arg("{'logits': [[1],[1]], 'targets': [0,'1']}", "targets[1]");
  bad_arg("{'logits': [[1],[1]], 'targets': [0,null]}", "targets[1]");
  bad_arg("{'logits': [[1,2,3]], 'soft_targets': [[0,1,'x']]}",
          "soft_targets[0][2]");
  bad_arg("{'logits': [[1,2,3]], 'soft_targets': [[0,null,1]]}",
          "soft_targets[0][1]");
  bad_arg("{'logits': [[1,2,3]], 'soft_targets': [[0,0,1],[1,0,0]]}",
          "soft_targets");
  bad_arg("{'logits': [[1,2,3],[1,2,3]], 'soft_targets': [[0,0,1],[1,0]]}",
          "soft_targets[1]");
}
END_TEST

START_TEST(option_types) {
  bad_arg("{'logits': [[1,2,3,4,5]], 'targets': [0], "
          "'class_weights': [1,1,1,1,'1']}",
          "class_weights[4]");
  bad_arg("{'logits': [[1,2,3]], 'targets': [0], 'class_weights': [1,1]}",
          "class_weights");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'label_smoothing': '0.1'}",
          "label_smoothing");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'smoothing': 'fair'}",
          "smoothing");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'ignore_index': 1.5}",
          "ignore_index");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'reduction': 'avg'}",
          "reduction");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'outputs': 'loss'}", "outputs");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'outputs': ['loss','logits']}",
          "outputs[1]");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'outputs': ['loss', 3]}",
          "outputs[1]");
  bad_arg("{'logits': [[1,2]], 'targets': [0], 'precision': 'float16'}",
          "precision");
}
END_TEST

START_TEST(mixup_types) {
  const char *six = "{'logits': [[1],[1],[1],[1],[1],[1]], "
                    "'targets': [0,0,0,0,0,0], 'mixup': ";
  char text[512];
  const struct {
    const char *mixup;
    const char *field;
  } cases[] = {
      {"0.5}", "mixup"},
      {"{}}", "mixup.lambda"},
      {"{'lambda': 'x'}}", "mixup.lambda"},
      {"{'lambda': [0.5, 0.5]}}", "mixup.lambda"},
      {"{'lambda': [0.5, 'a', 0.5, 0.5, 0.5, 0.5]}}", "mixup.lambda[1]"},
      {"{'lambda': [0.5, 0.5, 0.5, 0.5, 0.5, null]}}", "mixup.lambda[5]"},
      {"{'lambda': 0.5, 'pairing': 'shuffle'}}", "mixup.pairing"},
      {"{'lambda': 0.5, 'pairing': 3}}", "mixup.pairing"},
      {"{'lambda': 0.5, 'pairing': [5,4,3,2,1,1.5]}}", "mixup.pairing[5]"},
      {"{'lambda': 0.5, 'pairing': [0,1]}}", "mixup.pairing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(text, sizeof text, "%s%s", six, cases[i].mixup);
    bad_arg(text, cases[i].field);
  }
}
END_TEST

START_TEST(targets_endpoint_errors) {
  parse_fails(TARGETS, "{'num_classes': 3}", 400, "invalid_argument",
              "targets");
  parse_fails(TARGETS, "{'targets': [], 'num_classes': 3}", 400,
              "invalid_argument", "targets");
  parse_fails(TARGETS, "{'targets': [0]}", 400, "invalid_argument",
              "num_classes");
  parse_fails(TARGETS, "{'targets': [0], 'num_classes': 0}", 400,
              "invalid_argument", "num_classes");
  parse_fails(TARGETS, "{'targets': [0], 'num_classes': 2.0}", 400,
              "invalid_argument", "num_classes");
  parse_fails(TARGETS, "{'targets': [0, 1.5], 'num_classes': 2}", 400,
              "invalid_argument", "targets[1]");
  run_fails(TARGETS, "{'targets': [0, 3], 'num_classes': 3}", 400,
            "targets[1]");
  run_fails(TARGETS,
            "{'targets': [0, 1], 'num_classes': 3, 'label_smoothing': -0.1}",
            400, "label_smoothing");
  run_fails(TARGETS,
            "{'targets': [0, 1], 'num_classes': 3, 'mixup': {'lambda': 1.5}}",
            400, "mixup.lambda");
}
END_TEST

/* -------------------------------------------------- library errors (run) -- */

START_TEST(library_errors) {
  xs_buf out;
  xs_error err;
  ck_assert_int_eq(
      run(LOSS, "{'logits': [[1,2,3],[1,2,3]], 'targets': [0, 5]}", &out, &err),
      -1);
  xs_buf_free(&out);
  ck_assert_str_eq(err.field, "targets[1]");
  ck_assert_int_eq(xs_error_http_status(err.kind), 400);
  ck_assert_msg(strstr(err.message, "targets[1] = 5 is outside [0, 3)") != NULL,
                "%s", err.message);

  run_fails(LOSS, "{'logits': [[1,2],[null,null]], 'targets': [0,0]}", 400,
            "logits[1]");
  /* Hard label on a masked class: 422 naming the label. */
  run_fails(LOSS,
            "{'logits': [[1,2,3],[1,2,3],[0,null,0]], 'targets': [0,0,1]}", 422,
            "targets[2]");
  run_fails(LOSS,
            "{'logits': [[1,2,3]], 'soft_targets': [[0,0.5,0.5]], "
            "'class_weights': [1,-1,1]}",
            400, "class_weights[1]");
  run_fails(LOSS, "{'logits': [[1,2,3]], 'soft_targets': [[0,1,-0.5]]}", 400,
            "soft_targets[0][2]");
  run_fails(LOSS, "{'logits': [[1,null,3]], 'soft_targets': [[0,0.5,0.5]]}",
            422, "soft_targets[0][1]");
  run_fails(LOSS, "{'logits': [[1,2]], 'targets': [0], 'label_smoothing': 1.5}",
            400, "label_smoothing");
  run_fails(LOSS,
            "{'logits': [[1,2],[1,2]], 'targets': [0,1], "
            "'mixup': {'lambda': 2}}",
            400, "mixup.lambda");
  run_fails(LOSS,
            "{'logits': [[1,2],[1,2]], 'targets': [0,1], "
            "'mixup': {'lambda': [0.5, 1.5]}}",
            400, "mixup.lambda[1]");
  run_fails(LOSS,
            "{'logits': [[1,2],[1,2]], 'targets': [0,1], "
            "'mixup': {'lambda': 0.5, 'pairing': [0, 7]}}",
            400, "mixup.pairing[1]");
  run_fails(LOSS,
            "{'logits': [[1,2]], 'soft_targets': [[0,1]], "
            "'mixup': {'lambda': 0.5}}",
            400, "mixup");
  run_fails(LOSS,
            "{'logits': [[1,2]], 'soft_targets': [[0,1]], "
            "'smoothing': 'others', 'label_smoothing': 0.1}",
            400, "smoothing");
  /* Every row ignored: the mean has no denominator. */
  run_fails(LOSS, "{'logits': [[1,2],[1,2]], 'targets': [-100,-100]}", 422,
            "reduction");
  run_fails(LOSS, "{'logits': [[1e308,-1e308]], 'targets': [0]}", 422,
            "logits[0]");
}
END_TEST

START_TEST(error_table) {
  /* A /v1/loss request: the field table maps arguments to its fields. */
  xs_request ereq;
  memset(&ereq, 0, sizeof ereq);
  xent_problem_init(&ereq.problem);
  ereq.body = XS_BODY_LOSS;
  const struct {
    xent_error xe;
    int status;
    const char *field;
  } cases[] = {
      {{XENT_ERR_LOGIT, XENT_ARG_LOGITS, 1, 7}, 400, "logits[1][7]"},
      {{XENT_ERR_MASKED_TARGET, XENT_ARG_TARGETS, 2, 5}, 422, "targets[2]"},
      {{XENT_ERR_MASKED_TARGET, XENT_ARG_SOFT_TARGETS, 0, 2},
       422,
       "soft_targets[0][2]"},
      {{XENT_ERR_WEIGHT, XENT_ARG_CLASS_WEIGHTS, -1, 4},
       400,
       "class_weights[4]"},
      {{XENT_ERR_LAMBDA, XENT_ARG_MIXUP_LAMBDA, 2, -1}, 400, "mixup.lambda[2]"},
      {{XENT_ERR_PARTNER, XENT_ARG_MIXUP_PAIRING, 5, -1},
       400,
       "mixup.pairing[5]"},
      {{XENT_ERR_CONVENTION, XENT_ARG_SMOOTHING, 3, -1}, 400, "smoothing"},
      {{XENT_ERR_SMOOTHING, XENT_ARG_LABEL_SMOOTHING, -1, -1},
       400,
       "label_smoothing"},
      {{XENT_ERR_ZERO_DENOMINATOR, XENT_ARG_REDUCTION, -1, -1},
       422,
       "reduction"},
      {{XENT_ERR_OVERFLOW, XENT_ARG_NONE, -1, -1}, 422, ""},
      {{XENT_ERR_SHAPE, XENT_ARG_SHAPE, -1, -1}, 400, "logits"},
      {{XENT_ERR_NULL, XENT_ARG_LOGITS, -1, -1}, 500, ""},
      {{XENT_ERR_WORKSPACE, XENT_ARG_WORKSPACE, -1, -1}, 500, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    xs_error err;
    xs__error_from_xent(&err, &ereq, &cases[i].xe);
    ck_assert_msg(xs_error_http_status(err.kind) == cases[i].status,
                  "case %zu: status %d", i, xs_error_http_status(err.kind));
    ck_assert_msg(strcmp(err.field, cases[i].field) == 0,
                  "case %zu: field \"%s\", want \"%s\"", i, err.field,
                  cases[i].field);
    ck_assert_msg(err.message[0] != '\0', "case %zu: no message", i);
  }
  /* Every library status maps to 400, 422 or 500 (OK to none). */
#define XS_T_STATUS(name, value, message)                                      \
  {                                                                            \
    xent_error xe = {XENT_##name, XENT_ARG_NONE, -1, -1};                      \
    xs_error err;                                                              \
    xs__error_from_xent(&err, &ereq, &xe);                                     \
    const int st = xs_error_http_status(err.kind);                             \
    if (XENT_##name == XENT_OK)                                                \
      ck_assert_int_eq(err.kind, XS_ERR_NONE);                                 \
    else                                                                       \
      ck_assert_msg(st == 400 || st == 422 || st == 500, "%s -> %d", #name,    \
                    st);                                                       \
  }
  XENT_STATUS_MAP(XS_T_STATUS)
#undef XS_T_STATUS
  const struct {
    xs_err_kind kind;
    int status;
    const char *code;
  } kinds[] = {{XS_ERR_INVALID_JSON, 400, "invalid_json"},
               {XS_ERR_INVALID_ARGUMENT, 400, "invalid_argument"},
               {XS_ERR_NOT_FOUND, 404, "not_found"},
               {XS_ERR_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
               {XS_ERR_LENGTH_REQUIRED, 411, "length_required"},
               {XS_ERR_PAYLOAD_TOO_LARGE, 413, "payload_too_large"},
               {XS_ERR_UNSUPPORTED_MEDIA, 415, "unsupported_media_type"},
               {XS_ERR_UNPROCESSABLE, 422, "unprocessable"},
               {XS_ERR_OVERLOADED, 429, "overloaded"},
               {XS_ERR_SHUTTING_DOWN, 503, "shutting_down"},
               {XS_ERR_INTERNAL, 500, "internal"}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    ck_assert_int_eq(xs_error_http_status(kinds[i].kind), kinds[i].status);
    ck_assert_str_eq(xs_error_code(kinds[i].kind), kinds[i].code);
  }
}
END_TEST

/* The error body is JSON and carries a key with quotes and a control
 * character through intact. */
START_TEST(error_body) {
  const char *body = "{\"logits\": [[1]], \"targets\": [0], "
                     "\"we\\\"ird\\u0001\": 1}";
  xs_request req;
  xs_error err;
  ck_assert_int_eq(
      xs_parse(XS_BODY_LOSS, body, strlen(body), &limits, &req, &err), -1);
  ck_assert_str_eq(err.field, "we\"ird\x01");
  xs_buf out;
  xs_buf_init(&out);
  ck_assert_int_eq(xs_error_write(&err, &out), 0);
  json_error_t je;
  json_t *j = json_loadb(out.data, out.len, 0, &je);
  ck_assert_msg(j != NULL, "%s", out.data);
  json_t *e = json_object_get(j, "error");
  ck_assert_str_eq(json_string_value(json_object_get(e, "code")),
                   "invalid_argument");
  ck_assert_str_eq(json_string_value(json_object_get(e, "field")),
                   "we\"ird\x01");
  ck_assert_str_eq(json_string_value(json_object_get(e, "message")),
                   err.message);
  json_decref(j);
  xs_buf_free(&out);

  /* A long multi-byte key is cut at a character boundary: still UTF-8. */
  char big[1024];
  strcpy(big, "{\"logits\": [[1]], \"targets\": [0], \"");
  for (int i = 0; i < 100; i++)
    strcat(big, "\xc3\xa9"); /* é */
  strcat(big, "\": 1}");
  ck_assert_int_eq(
      xs_parse(XS_BODY_LOSS, big, strlen(big), &limits, &req, &err), -1);
  xs_buf_init(&out);
  ck_assert_int_eq(xs_error_write(&err, &out), 0);
  j = json_loadb(out.data, out.len, 0, &je);
  ck_assert_msg(j != NULL, "not JSON: %s", je.text);
  const char *f =
      json_string_value(json_object_get(json_object_get(j, "error"), "field"));
  ck_assert_ptr_nonnull(f);
  ck_assert_msg(strlen(f) > 100 && strlen(f) % 2 == 0 && strchr(f, '?') == NULL,
                "field cut inside a character: %s", f);
  json_decref(j);
  xs_buf_free(&out);
}
END_TEST

START_TEST(buffer) {
  xs_buf b;
  xs_buf_init(&b);
  for (int i = 0; i < 1000; i++)
    ck_assert_int_eq(xs_buf_append(&b, "abc", 3), 0);
  ck_assert_uint_eq(b.len, 3000);
  ck_assert_int_eq(memcmp(b.data + 2997, "abc", 3), 0);
  size_t len = 0;
  char *data = xs_buf_take(&b, &len);
  ck_assert_uint_eq(len, 3000);
  ck_assert_ptr_null(b.data);
  ck_assert_uint_eq(b.len, 0);
  free(data);
  xs_buf_free(&b);
  xs_buf_free(NULL);
  xs_request_free(NULL);
}
END_TEST

/* Integer text (buf.c), the writer's other number; doubles and floats are
 * test_numtext's. */
START_TEST(int_texts) {
  char buf[32];
  ck_assert_uint_eq(xs__format_int(0, buf), 1);
  ck_assert_str_eq(buf, "0");
  xs__format_int(-1, buf);
  ck_assert_str_eq(buf, "-1");
  xs__format_int(1234567890123LL, buf);
  ck_assert_str_eq(buf, "1234567890123");
  ck_assert_uint_eq(xs__format_int(INT64_MIN, buf), 20);
  ck_assert_str_eq(buf, "-9223372036854775808");
  xs__format_int(INT64_MAX, buf);
  ck_assert_str_eq(buf, "9223372036854775807");
}
END_TEST

/* ---------------------------------------------------- responses by hand -- */

/* logits [1,2,3], label 2: loss = log(e + e^2 + e^3) - 3, grad = p - onehot
 * with p_j = e^j / (e + e^2 + e^3). */
START_TEST(one_row_by_hand) {
  char *text = NULL;
  json_t *j = run_ok(LOSS, "{'logits': [[1,2,3]], 'targets': [2]}", &text);
  const double S = exp(1.0) + exp(2.0) + exp(3.0);
  const double loss = log(S) - 3.0;
  ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "classes")), 3);
  near(num_at(j, "loss", -1, -1), loss, "loss");
  near(num_at(j, "per_sample", 0, -1), loss, "per_sample[0]");
  near(num_at(j, "grad", 0, 0), exp(1.0) / S, "grad[0][0]");
  near(num_at(j, "grad", 0, 1), exp(2.0) / S, "grad[0][1]");
  near(num_at(j, "grad", 0, 2), exp(3.0) / S - 1.0, "grad[0][2]");
  ck_assert_ptr_null(json_object_get(j, "probs"));
  ck_assert_ptr_null(json_object_get(j, "targets"));
  ck_assert_ptr_null(json_object_get(j, "stats"));
  ck_assert_uint_eq(json_object_size(j), 5);
  ck_assert_msg(strncmp(text, "{\"n\":1,\"classes\":3,\"loss\":", 26) == 0,
                "%s", text);
  json_decref(j);
  free(text);
}
END_TEST

/* Two equal logits and a masked one: every number is exact. p = [1/2, 0,
 * 1/2], q = [1, 0, 0], grad = p - q, loss = log 2. */
START_TEST(masked_class_prints_zero) {
  char *text = NULL;
  json_t *j = run_ok(LOSS,
                     "{'logits': [[0,null,0]], 'targets': [0], 'outputs': "
                     "['probs','grad','targets','loss']}",
                     &text);
  ck_assert_str_eq(text, "{\"n\":1,\"classes\":3,\"loss\":0.6931471805599453,"
                         "\"grad\":[[-0.5,0,0.5]],\"targets\":[[1,0,0]],"
                         "\"probs\":[[0.5,0,0.5]]}");
  json_decref(j);
  free(text);
}
END_TEST

/* eps = 0.2 over K = 2 classes: q = [0.9, 0.1]; equal logits give
 * lp = -log 2 for both, so loss = log 2 whatever q is. */
START_TEST(label_smoothing_by_hand) {
  json_t *j = run_ok(LOSS,
                     "{'logits': [[0,0]], 'targets': [0], "
                     "'label_smoothing': 0.2, 'outputs': ['loss','targets']}",
                     NULL);
  near(num_at(j, "loss", -1, -1), log(2.0), "loss");
  near(num_at(j, "targets", 0, 0), 0.9, "q[0][0]");
  near(num_at(j, "targets", 0, 1), 0.1, "q[0][1]");
  json_decref(j);
  /* others convention: on 1 - eps, off eps / (K - 1). */
  j = run_ok(LOSS,
             "{'logits': [[0,0,0]], 'targets': [1], 'label_smoothing': 0.2, "
             "'smoothing': 'others', 'outputs': ['targets']}",
             NULL);
  near(num_at(j, "targets", 0, 0), 0.1, "q[0][0]");
  near(num_at(j, "targets", 0, 1), 0.8, "q[0][1]");
  near(num_at(j, "targets", 0, 2), 0.1, "q[0][2]");
  json_decref(j);
}
END_TEST

/* timm mixup_target(target=[0,1], num_classes=3, lam=0.7, smoothing=0.1):
 * off = 0.1/3, on = 0.9 + off; flip pairs row 0 with row 1. */
START_TEST(targets_endpoint_by_hand) {
  char *text = NULL;
  json_t *j = run_ok(TARGETS,
                     "{'targets': [0, 1], 'num_classes': 3, "
                     "'label_smoothing': 0.1, 'mixup': {'lambda': 0.7}}",
                     &text);
  const double off = 0.1 / 3.0, on = 0.9 + off;
  const double want[2][3] = {{0.7 * on + 0.3 * off, 0.7 * off + 0.3 * on, off},
                             {0.7 * off + 0.3 * on, 0.7 * on + 0.3 * off, off}};
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 3; c++)
      near(num_at(j, "targets", r, c), want[r][c], "q");
  ck_assert_uint_eq(json_object_size(j), 1);
  json_decref(j);
  free(text);
  /* Plain one-hot is exact text. */
  j = run_ok(TARGETS, "{'targets': [2, -100], 'num_classes': 3}", &text);
  ck_assert_str_eq(text, "{\"targets\":[[0,0,1],[0,0,0]]}");
  json_decref(j);
  free(text);
}
END_TEST

/* Sum reduction with an ignored row: its loss and gradient are 0. */
START_TEST(ignore_and_reductions) {
  char *text = NULL;
  json_t *j = run_ok(LOSS,
                     "{'logits': [[1,2,3],[5,6,7]], 'targets': [2, 7], "
                     "'ignore_index': 7, 'reduction': 'sum'}",
                     &text);
  const double S = exp(1.0) + exp(2.0) + exp(3.0);
  near(num_at(j, "loss", -1, -1), log(S) - 3.0, "loss");
  near(num_at(j, "per_sample", 1, -1), 0.0, "per_sample[1]");
  ck_assert_msg(strstr(text, ",[0,0,0]]") != NULL, "%s", text);
  json_decref(j);
  free(text);
  /* reduction none: no "loss", even by default. */
  j = run_ok(LOSS,
             "{'logits': [[1,2,3],[1,2,3]], 'targets': [2,0], "
             "'reduction': 'none'}",
             NULL);
  ck_assert_ptr_null(json_object_get(j, "loss"));
  near(num_at(j, "per_sample", 1, -1), log(S) - 1.0, "per_sample[1]");
  json_decref(j);
  /* mean of two rows: half the sum. */
  j = run_ok(LOSS, "{'logits': [[1,2,3],[1,2,3]], 'targets': [2,0]}", NULL);
  near(num_at(j, "loss", -1, -1), (log(S) - 3.0 + log(S) - 1.0) / 2, "mean");
  near(num_at(j, "grad", 1, 0), (exp(1.0) / S - 1.0) / 2, "grad[1][0]");
  json_decref(j);
}
END_TEST

/* logits [3,1,0] and [0,2,0], labels [0,0]: row 0 predicts 0 (right), row
 * 1 predicts 1 (wrong). */
START_TEST(stats_by_hand) {
  char *text = NULL;
  json_t *j = run_ok(LOSS,
                     "{'logits': [[3,1,0],[0,2,0]], 'targets': [0,0], "
                     "'outputs': ['stats']}",
                     &text);
  ck_assert_msg(strstr(text, "\"predicted\":[0,1],\"counted\":2}") != NULL,
                "%s", text);
  json_t *s = json_object_get(j, "stats");
  near(json_number_value(json_object_get(s, "accuracy")), 0.5, "accuracy");
  const double c0 = exp(3.0) / (exp(3.0) + exp(1.0) + 1.0);
  const double c1 = exp(2.0) / (exp(2.0) + 2.0);
  near(json_number_value(json_object_get(s, "mean_confidence")), (c0 + c1) / 2,
       "mean_confidence");
  ck_assert_ptr_nonnull(json_object_get(s, "ece"));
  ck_assert_ptr_nonnull(json_object_get(s, "mean_entropy"));
  json_decref(j);
  free(text);
}
END_TEST

/* float32 text reads back (as float) to the float64 answer rounded to
 * float, and is never longer than 9 significant digits. */
START_TEST(float32_precision) {
  json_t *j64 = run_ok(LOSS, "{'logits': [[1,2,3]], 'targets': [2]}", NULL);
  char *text = NULL;
  json_t *j32 = run_ok(LOSS,
                       "{'logits': [[1,2,3]], 'targets': [2], "
                       "'precision': 'float32'}",
                       &text);
  const char *at = strstr(text, "\"loss\":") + 7;
  const float got = strtof(at, NULL);
  ck_assert_msg(got == (float)num_at(j64, "loss", -1, -1), "%s", text);
  int digits = 0;
  for (const char *p = at; *p != ',' && *p != 'e'; p++)
    digits += *p >= '0' && *p <= '9';
  ck_assert_msg(digits <= 10, "%s", text); /* "0." plus <= 9 digits */
  for (int c = 0; c < 3; c++)
    ck_assert((float)num_at(j32, "grad", 0, c) ==
              (float)num_at(j64, "grad", 0, c));
  json_decref(j64);
  json_decref(j32);
  free(text);
}
END_TEST

/* A bigger batch: the response parses, probabilities sum to 1 and every
 * gradient row of the mean sums to 0. */
START_TEST(bigger_batch) {
  enum { N = 64, C = 100 };
  char *body = malloc((size_t)N * C * 24 + 4096);
  ck_assert_ptr_nonnull(body);
  size_t len = 0;
  len += (size_t)sprintf(body + len, "{\"logits\": [");
  unsigned seed = 12345;
  for (int r = 0; r < N; r++) {
    len += (size_t)sprintf(body + len, "%s[", r > 0 ? "," : "");
    for (int c = 0; c < C; c++) {
      seed = seed * 1103515245u + 12345u;
      len += (size_t)sprintf(body + len, "%s%.17g", c > 0 ? "," : "",
                             ((double)(seed >> 8) / 16777216.0 - 0.5) * 20.0);
    }
    len += (size_t)sprintf(body + len, "]");
  }
  len += (size_t)sprintf(body + len, "], \"targets\": [");
  for (int r = 0; r < N; r++)
    len += (size_t)sprintf(body + len, "%s%d", r > 0 ? "," : "", (r * 7) % C);
  len += (size_t)sprintf(body + len,
                         "], \"outputs\": [\"grad\", \"probs\", \"stats\"]}");
  xs_request req;
  xs_error err;
  ck_assert_int_eq(xs_parse(XS_BODY_LOSS, body, len, &limits, &req, &err), 0);
  free(body);
  xs_buf out;
  xs_buf_init(&out);
  ck_assert_int_eq(xs_run_to_buf(&req, &out, &err), 0);
  xs_request_free(&req);
  json_error_t je;
  json_t *j = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &je);
  ck_assert_msg(j != NULL, "%s", je.text);
  xs_buf_free(&out);
  for (int r = 0; r < N; r++) {
    double ps = 0, gs = 0;
    for (int c = 0; c < C; c++) {
      ps += num_at(j, "probs", r, c);
      gs += num_at(j, "grad", r, c);
    }
    near(ps, 1.0, "sum p");
    ck_assert_msg(fabs(gs) < 1e-15, "grad row %d sums to %g", r, gs);
  }
  ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "stats"),
                                                    "predicted")),
                    N);
  json_decref(j);
}
END_TEST

/* Runs of tokens printed in place (writer.c's print_run) give the same
 * bytes as tokens printed one by one, whatever the read sizes, and the
 * numbers read back exactly. */
static void fill_writer(xs_writer *w, const double *m, size_t rows,
                        size_t cols) {
  static const size_t dims[3] = {3, 200, 130}; /* 78000 elements */
  xs_writer_init(w, XS_FLOAT64);
  xs_writer_lit(w, "{\"grad\":");
  xs_writer_mat(w, m, rows, cols);
  xs_writer_lit(w, ",\"v\":");
  xs_writer_vec(w, m, rows * cols);
  xs_writer_lit(w, ",\"nd\":");
  xs_writer_nd(w, m, 0, 3, dims);
  w->f32 = 1;
  xs_writer_lit(w, ",\"f\":");
  xs_writer_vec(w, m, 1001);
  w->f32 = 0;
  xs_writer_lit(w, ",\"e\":");
  xs_writer_mat(w, m, 3, 0);
  xs_writer_lit(w, ",\"z\":");
  xs_writer_vec(w, m, 0);
  xs_writer_lit(w, ",\"im\":");
  xs_writer_imat(w, (const int64_t *)m, 40, 50);
  xs_writer_lit(w, ",\"iv\":");
  xs_writer_ivec(w, (const int64_t *)m, 700);
  xs_writer_lit(w, "}");
}

/* The small layouts by hand. */
static void small_text(void (*add)(xs_writer *), const char *want) {
  xs_writer w;
  char out[256];
  xs_writer_init(&w, XS_FLOAT64);
  add(&w);
  const size_t n = xs_writer_read(&w, out, sizeof out - 1);
  out[n] = '\0';
  ck_assert_str_eq(out, want);
}

static const double small_m[4] = {1.0, 2.5, -3.0, 0.1};
static const int64_t small_i[4] = {7, -8, 0, 123456789012};
static void add_mat(xs_writer *w) {
  xs_writer_mat(w, small_m, 2, 2);
}
static void add_imat(xs_writer *w) {
  xs_writer_imat(w, small_i, 2, 2);
}
static void add_vec(xs_writer *w) {
  xs_writer_vec(w, small_m, 3);
}
static void add_ivec(xs_writer *w) {
  xs_writer_ivec(w, small_i, 4);
}
static void add_empty(xs_writer *w) {
  xs_writer_vec(w, small_m, 0);
  xs_writer_mat(w, small_m, 0, 2);
  xs_writer_mat(w, small_m, 2, 0);
}

/* Reads the body in reads of step bytes (0: random sizes); one assertion
 * at the end (Check records every one). */
static size_t read_all(xs_writer *w, char *out, size_t cap, size_t step) {
  size_t len = 0, n;
  unsigned seed = 7;
  for (;;) {
    size_t want = step > 0 ? step : 1 + (seed % 70000);
    if (want > cap - len)
      want = cap - len;
    n = want > 0 ? xs_writer_read(w, out + len, want) : 0;
    if (n == 0)
      break;
    len += n;
    seed = seed * 1103515245u + 12345u;
  }
  ck_assert_uint_eq(xs_writer_read(w, out, 0), 0);
  ck_assert_msg(xs_writer_read(w, out + len, cap - len) == 0,
                "the body did not end within the writer's bound %zu", cap);
  return len;
}

START_TEST(writer_runs) {
  enum { ROWS = 300, COLS = 400 };
  double *m = malloc(sizeof(double) * ROWS * COLS);
  ck_assert_ptr_nonnull(m);
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < (size_t)ROWS * COLS; i++) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    m[i] =
        ((double)(s >> 11) * 0x1p-53 - 0.5) * pow(10.0, (double)(i % 17) - 8);
  }
  /* The reference: one byte a read, so every token is printed on its own
   * and copied out. */
  xs_writer w;
  fill_writer(&w, m, ROWS, COLS);
  const size_t cap = (size_t)xs_writer_bound(&w);
  char *one = malloc(cap), *two = malloc(cap);
  ck_assert(one != NULL && two != NULL);
  const size_t len = read_all(&w, one, cap, 1);
  const size_t steps[] = {65536, 7, 100, 0};
  for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
    fill_writer(&w, m, ROWS, COLS);
    ck_assert_uint_eq(read_all(&w, two, cap, steps[k]), len);
    ck_assert_msg(memcmp(one, two, len) == 0, "read size %zu differs",
                  steps[k]);
  }
  /* The text is JSON whose numbers read back to the doubles. */
  json_error_t je;
  json_t *j = json_loadb(one, len, JSON_REJECT_DUPLICATES, &je);
  ck_assert_msg(j != NULL, "%s", je.text);
  json_t *v = json_object_get(j, "v");
  ck_assert_uint_eq(json_array_size(v), (size_t)ROWS * COLS);
  for (size_t i = 0; i < (size_t)ROWS * COLS; i += 997)
    ck_assert(json_real_value(json_array_get(v, i)) == m[i]);
  ck_assert(json_real_value(json_array_get(
                json_array_get(json_object_get(j, "grad"), ROWS - 1),
                COLS - 1)) == m[ROWS * COLS - 1]);
  ck_assert(
      (float)json_real_value(json_array_get(json_object_get(j, "f"), 1000)) ==
      (float)m[1000]); /* float32 text reads back as a float */
  ck_assert_uint_eq(json_array_size(json_object_get(j, "e")), 3);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "z")), 0);
  const int64_t *im = (const int64_t *)m;
  ck_assert(json_integer_value(json_array_get(
                json_array_get(json_object_get(j, "im"), 39), 49)) ==
            im[39 * 50 + 49]);
  ck_assert(json_integer_value(json_array_get(json_object_get(j, "iv"), 699)) ==
            im[699]);
  json_decref(j);
  small_text(add_mat, "[[1,2.5],[-3,0.1]]");
  small_text(add_imat, "[[7,-8],[0,123456789012]]");
  small_text(add_vec, "[1,2.5,-3]");
  small_text(add_ivec, "[7,-8,0,123456789012]");
  small_text(add_empty, "[][][[],[]]");
  free(one);
  free(two);
  free(m);
}
END_TEST

/* An option of another loss, and the families' own ranges: 400 naming the
 * field (libxent's ERR_NOT_APPLICABLE, or xentd's own check for the
 * scalars with defaults). */
START_TEST(family_errors) {
  static const struct {
    const char *body, *field;
  } cases[] = {
      {"{'logits': [[1, 2]], 'targets': [0], 'focal_gamma': 1}", "focal_gamma"},
      {"{'logits': [[1, 2]], 'targets': [0], 'focal_alpha': 0.5}",
       "focal_alpha"},
      {"{'logits': [[1, 2]], 'targets': [0], 'poly_epsilon': 1, 'loss': "
       "'softmax_focal'}",
       "poly_epsilon"},
      {"{'logits': [[1, 2]], 'targets': [0], 'pos_weight': [1, 1], 'loss': "
       "'poly1'}",
       "pos_weight"},
      {"{'logits': [[1, 2]], 'targets': [0], 'target_threshold': -1}",
       "target_threshold"},
      {"{'logits': [[1, 2]], 'targets': [0], 'sum_classes': false}",
       "sum_classes"},
      {"{'logits': [[1, 2]], 'targets': [0], 'smoothing': 'binary'}",
       "smoothing"},
      {"{'logits': [[1, 2]], 'targets': [0], 'outputs': ['elementwise']}",
       "outputs"},
      {"{'logits': [[1, 2]], 'targets': [0], 'outputs': ['stats'], 'loss': "
       "'binary_cross_entropy'}",
       "outputs"},
      {"{'logits': [[1, 2]], 'targets': [0], 'loss': 'sigmoid_focal', "
       "'focal_gamma': -0.5}",
       "focal_gamma"},
      {"{'logits': [[1, 2]], 'targets': [0], 'loss': 'sigmoid_focal', "
       "'focal_alpha': 1.5}",
       "focal_alpha"},
      {"{'logits': [[1, 2]], 'targets': [0], 'loss': 'softmax_focal', "
       "'focal_alpha': [0.5, 2]}",
       "focal_alpha[1]"},
      {"{'logits': [[1, 2]], 'targets': [0], 'loss': 'sigmoid_focal', "
       "'focal_alpha': [0.5, 0.5]}",
       "focal_alpha"},
      {"{'logits': [[1, 2]], 'soft_targets': [[0.5, 1.5]], 'loss': "
       "'binary_cross_entropy'}",
       "soft_targets[0][1]"},
      {"{'logits': [[1, 2]], 'targets': [0], 'loss': "
       "'binary_cross_entropy', 'pos_weight': [1, -1]}",
       "pos_weight[1]"},
      {"{'logits': [[1, 2]], 'targets': [0], 'loss': "
       "'binary_cross_entropy', 'sum_classes': true, 'reduction': 'sum'}",
       "sum_classes"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_fails(LOSS, cases[i].body, 400, cases[i].field);
}
END_TEST

/* PyTorch's binary_cross_entropy_with_logits at x = 0 by hand: each
 * element is log 2, the mean over N x C elements log 2, the gradient
 * (sigmoid(0) - y) / (N C); with pos_weight 3 the positive element is
 * 3 log 2 and its gradient (3 y sigmoid(0) + (1 - y) sigmoid(0) - 3 y) / 2. */
START_TEST(binary_by_hand) {
  json_t *j = run_ok(LOSS,
                     "{'logits': [[0, 0]], 'soft_targets': [[1, 0]], 'loss': "
                     "'binary_cross_entropy', 'outputs': ['loss', "
                     "'per_sample', 'grad', 'elementwise', 'probs']}",
                     NULL);
  near(num_at(j, "loss", -1, -1), log(2.0), "loss");
  near(num_at(j, "per_sample", 0, -1), 2 * log(2.0), "per_sample");
  near(num_at(j, "grad", 0, 0), -0.25, "grad[0][0]");
  near(num_at(j, "grad", 0, 1), 0.25, "grad[0][1]");
  near(num_at(j, "elementwise", 0, 1), log(2.0), "elementwise");
  near(num_at(j, "probs", 0, 0), 0.5, "probs");
  json_decref(j);
  j = run_ok(LOSS,
             "{'logits': [[0, 0]], 'soft_targets': [[1, 0]], 'loss': "
             "'binary_cross_entropy', 'pos_weight': [3, 5]}",
             NULL);
  near(num_at(j, "per_sample", 0, -1), 4 * log(2.0), "per_sample");
  near(num_at(j, "grad", 0, 0), (1.5 - 3.0) / 2, "grad[0][0]");
  json_decref(j);
}
END_TEST

/* A K-dimensional answer printed through buffers of any size is the same
 * text, nested as the request (class axis first or last). */
START_TEST(kdim_printing) {
  const char *const bodies[] = {
      "{'logits': [[[1, 2, 3], [4, 5, 6]], [[0, 0, 1], [1, 0, 0]]], "
      "'targets': [[0, 1, 1], [1, 1, 0]], 'outputs': ['per_sample', 'grad', "
      "'probs', 'targets', 'stats']}",
      "{'logits': [[[1, 2], [3, 4], [5, 6]], [[0, 0], [1, 1], [0, 0]]], "
      "'targets': [[0, 1, 0], [1, 1, 0]], 'class_axis': -1, 'outputs': "
      "['per_sample', 'grad', 'stats']}",
      "{'logits': [[[[1], [2]], [[3], [4]]]], 'targets': [[[0], [1]]], "
      "'loss': 'sigmoid_focal', 'outputs': ['per_sample', 'grad', "
      "'elementwise']}",
  };
  for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
    char *whole = NULL;
    json_t *j = run_ok(LOSS, bodies[b], &whole);
    /* per_sample is (N, d1, ..., dk); grad the logits' shape */
    json_t *ps = json_object_get(j, "per_sample");
    json_t *g = json_object_get(j, "grad");
    ck_assert(json_is_array(json_array_get(ps, 0)));
    ck_assert(json_is_array(json_array_get(json_array_get(g, 0), 0)));
    ck_assert(json_is_array(json_object_get(j, "shape")));
    json_decref(j);
    /* the same text, a byte or a few at a time */
    xs_request req;
    xs_error err;
    const char *body = q(bodies[b]);
    for (size_t step = 1; step <= 7; step += 3) {
      ck_assert_int_eq(parse(LOSS, body, &limits, &req, &err), 0);
      xs_response *r = NULL;
      ck_assert_int_eq(xs_run(&req, NULL, &r, &err), 0);
      xs_buf got;
      xs_buf_init(&got);
      char chunk[8];
      size_t k;
      while ((k = xs_response_read(r, chunk, step)) > 0)
        ck_assert_int_eq(xs_buf_append(&got, chunk, k), 0);
      ck_assert_str_eq(got.data, whole);
      ck_assert_uint_le(got.len, xs_response_bound(r));
      xs_buf_free(&got);
      xs_response_free(r);
      xs_request_free(&req);
    }
    free(whole);
  }
}
END_TEST

/* Every default the field table documents (GET /v1, the contract) is the
 * value a request that leaves the field out gets: xent_problem_init's for
 * the library's options, the request's own for class_axis. */
START_TEST(table_defaults_are_the_parsed_ones) {
  xs_request req;
  xs_error err;
  const char *body = "{\"logits\": [[1, 2]], \"targets\": [0]}";
  ck_assert_int_eq(parse(LOSS, body, &limits, &req, &err), 0);
  int checked = 0;
  for (int i = 0; i < XS_F_COUNT; i++) {
    const xs_field *f = xs_field_get((xs_field_id)i);
    if (f->def == NULL || f->scalar.member == 0 ||
        (f->bodies & XS_BODY_LOSS) == 0)
      continue;
    const char *at = (const char *)&req + (f->scalar.member - 1);
    switch (f->scalar.store) {
    case XS_S_F64: {
      double v;
      memcpy(&v, at, sizeof v);
      ck_assert_msg(v == strtod(f->def, NULL), "%s: default %s, parsed %.17g",
                    f->path, f->def, v);
      break;
    }
    case XS_S_I64: {
      int64_t v;
      memcpy(&v, at, sizeof v);
      ck_assert_msg(v == strtoll(f->def, NULL, 10),
                    "%s: default %s, parsed %lld", f->path, f->def,
                    (long long)v);
      break;
    }
    case XS_S_INT: {
      int v;
      memcpy(&v, at, sizeof v);
      if (f->scalar.elem == XS_E_BOOL) {
        ck_assert_msg(v == (strcmp(f->def, "true") == 0), "%s: default %s",
                      f->path, f->def);
      } else {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"",
                 xs_field_enum_name((xs_field_id)i, v));
        ck_assert_msg(strcmp(quoted, f->def) == 0, "%s: default %s, parsed %s",
                      f->path, f->def, quoted);
      }
      break;
    }
    default:
      continue;
    }
    checked++;
  }
  /* label_smoothing, class_axis, loss, smoothing, ignore_index,
   * target_threshold, sum_classes, focal_alpha, focal_gamma,
   * poly_epsilon, precision, reduction */
  ck_assert_int_ge(checked, 12);
  xs_request_free(&req);
}
END_TEST

static Suite *codec_suite(void) {
  Suite *s = suite_create("codec");
  TCase *tp = tcase_create("parse");
  tcase_add_test(tp, not_json);
  tcase_add_test(tp, nan_and_infinity_literals);
  tcase_add_test(tp, duplicate_keys);
  tcase_add_test(tp, shape_of_body);
  tcase_add_test(tp, unknown_keys);
  tcase_add_test(tp, ragged_logits);
  tcase_add_test(tp, logit_types);
  tcase_add_test(tp, limits_are_413);
  tcase_add_test(tp, target_types);
  tcase_add_test(tp, option_types);
  tcase_add_test(tp, mixup_types);
  tcase_add_test(tp, targets_endpoint_errors);
  suite_add_tcase(s, tp);
  TCase *te = tcase_create("errors");
  tcase_add_test(te, library_errors);
  tcase_add_test(te, error_table);
  tcase_add_test(te, error_body);
  tcase_add_test(te, buffer);
  tcase_add_test(te, int_texts);
  suite_add_tcase(s, te);
  TCase *tr = tcase_create("responses");
  tcase_set_timeout(tr, 120);
  tcase_add_test(tr, one_row_by_hand);
  tcase_add_test(tr, masked_class_prints_zero);
  tcase_add_test(tr, label_smoothing_by_hand);
  tcase_add_test(tr, targets_endpoint_by_hand);
  tcase_add_test(tr, ignore_and_reductions);
  tcase_add_test(tr, stats_by_hand);
  tcase_add_test(tr, float32_precision);
  tcase_add_test(tr, bigger_batch);
  tcase_add_test(tr, writer_runs);
  tcase_add_test(tr, family_errors);
  tcase_add_test(tr, binary_by_hand);
  tcase_add_test(tr, kdim_printing);
  tcase_add_test(tr, table_defaults_are_the_parsed_ones);
  suite_add_tcase(s, tr);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(codec_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
