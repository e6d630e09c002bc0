/*
 * The invariants the fuzz targets assert (see fuzz_check.h). The request
 * targets go through server/codec/codec.h as xentd does; the differential
 * targets hold the streaming parser to the jansson oracle
 * (tests/codec/oracle.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "fuzz_check.h"
#include "oracle.h"

/* The only way out of a broken invariant: libFuzzer saves the input. */
static void fail(const char *what, const char *text, size_t len) {
  fprintf(stderr, "fuzz invariant broken: %s\n", what);
  if (text != NULL)
    fprintf(stderr, "body (%zu bytes): %.*s\n", len,
            len > 2000 ? 2000 : (int)len, text);
  abort();
}

/* Case-insensitive search for "nan" or "inf" anywhere in the text: no key
 * of a response contains either, so any hit is a non-finite number. */
static int has_nonfinite_text(const char *s, size_t len) {
  for (size_t i = 0; i + 3 <= len; i++) {
    char w[4];
    for (size_t k = 0; k < 3; k++) {
      const char ch = s[i + k];
      w[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    w[3] = '\0';
    if (strcmp(w, "nan") == 0 || strcmp(w, "inf") == 0)
      return 1;
  }
  return 0;
}

static int is_count(const json_t *v, size_t want) {
  return json_is_integer(v) && json_integer_value(v) >= 0 &&
         (size_t)json_integer_value(v) == want;
}

/* v is an array of n numbers (integers when ints is set). */
static int is_vector(const json_t *v, size_t n, int ints) {
  if (!json_is_array(v) || json_array_size(v) != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_array_get(v, i);
    if (ints ? !json_is_integer(x) : !json_is_number(x))
      return 0;
  }
  return 1;
}

/* v is n arrays of C numbers. */
static int is_matrix(const json_t *v, size_t n, size_t C) {
  if (!json_is_array(v) || json_array_size(v) != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_vector(json_array_get(v, i), C, 0))
      return 0;
  return 1;
}

/* v is nested arrays of these dimensions (numbers, or integers). */
static int is_nested(const json_t *v, const size_t *dims, int rank, int ints) {
  if (rank == 1)
    return is_vector(v, dims[0], ints);
  if (!json_is_array(v) || json_array_size(v) != dims[0])
    return 0;
  for (size_t i = 0; i < dims[0]; i++)
    if (!is_nested(json_array_get(v, i), dims + 1, rank - 1, ints))
      return 0;
  return 1;
}

/* The dimensions an answer's array has: the logits' (with_c) or one value
 * per position, nested as the request, or flat. Returns the rank. */
static int answer_dims(const xs_request *req, int with_c, size_t *dims) {
  const xent_problem *pb = &req->problem;
  if (req->flat) {
    dims[0] = pb->n * pb->inner * (with_c ? pb->classes : 1);
    return 1;
  }
  const int cax = pb->class_axis == XENT_CLASS_AXIS_1 ? 1 : req->rank - 1;
  int r = 0;
  for (int i = 0; i < req->rank; i++)
    if (with_c || i != cax)
      dims[r++] = req->dims[i];
  return r;
}

/* A key is present exactly when it was asked for, with the right shape. */
static void check_output(const json_t *root, const char *key, int wanted,
                         int shape_ok, const char *body, size_t len) {
  const json_t *v = json_object_get(root, key);
  if ((v != NULL) != (wanted != 0)) {
    fprintf(stderr, "key \"%s\": %s\n", key,
            wanted ? "requested but absent" : "present but not requested");
    fail("response keys differ from the requested outputs", body, len);
  }
  if (v != NULL && !shape_ok) {
    fprintf(stderr, "key \"%s\" has the wrong type or shape\n", key);
    fail("response output shape", body, len);
  }
}

static void check_loss_body(const json_t *root, const xs_request *req,
                            const char *body, size_t len) {
  const size_t n = req->problem.n, C = req->problem.classes;
  const unsigned out = req->outputs;
  const int want_loss =
      (out & XS_OUT_LOSS) != 0 && req->problem.reduction != XENT_REDUCE_NONE;
  if (!is_count(json_object_get(root, "n"), n) ||
      !is_count(json_object_get(root, "classes"), C))
    fail("\"n\" / \"classes\" differ from the parsed problem", body, len);
  size_t keys = 2;
  size_t pdims[XS_MAX_RANK], ldims[XS_MAX_RANK];
  const int prank = answer_dims(req, 0, pdims);
  const int lrank = answer_dims(req, 1, ldims);
  const int kdim = req->rank > 2 || req->flat;
  const json_t *shape = json_object_get(root, "shape");
  check_output(root, "shape", kdim, is_vector(shape, (size_t)req->rank, 1),
               body, len);
  keys += shape != NULL;
  const json_t *v = json_object_get(root, "loss");
  check_output(root, "loss", want_loss, json_is_number(v), body, len);
  keys += v != NULL;
  v = json_object_get(root, "per_sample");
  check_output(root, "per_sample", out & XS_OUT_PER_SAMPLE,
               is_nested(v, pdims, prank, 0), body, len);
  keys += v != NULL;
  static const struct {
    const char *key;
    unsigned bit;
  } matrices[] = {{"grad", XS_OUT_GRAD},
                  {"targets", XS_OUT_TARGETS},
                  {"probs", XS_OUT_PROBS},
                  {"elementwise", XS_OUT_ELEMENTWISE}};
  for (size_t k = 0; k < sizeof matrices / sizeof matrices[0]; k++) {
    v = json_object_get(root, matrices[k].key);
    check_output(root, matrices[k].key, out & matrices[k].bit,
                 is_nested(v, ldims, lrank, 0), body, len);
    keys += v != NULL;
  }
  v = json_object_get(root, "stats");
  int stats_ok = json_is_object(v) && json_object_size(v) == 6;
  if (stats_ok) {
    static const char *const nums[] = {"accuracy", "mean_confidence", "ece",
                                       "mean_entropy"};
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
      stats_ok &= json_is_number(json_object_get(v, nums[k]));
    stats_ok &= is_nested(json_object_get(v, "predicted"), pdims, prank, 1);
    stats_ok &= json_is_integer(json_object_get(v, "counted"));
  }
  check_output(root, "stats", out & XS_OUT_STATS, stats_ok, body, len);
  keys += v != NULL;
  if (json_object_size(root) != keys)
    fail("response has keys nobody asked for", body, len);
}

static void check_targets_body(const json_t *root, const xs_request *req,
                               const char *body, size_t len) {
  if (json_object_size(root) != 1 ||
      !is_matrix(json_object_get(root, "targets"), req->problem.n,
                 req->problem.classes))
    fail("/v1/targets body is not {\"targets\": N x C numbers}", body, len);
}

static void check_success(const xs_buf *out, const xs_request *req,
                          fuzz_endpoint ep) {
  if (out->data == NULL || out->len == 0)
    fail("run succeeded with an empty body", NULL, 0);
  if (has_nonfinite_text(out->data, out->len))
    fail("response has nan/inf text", out->data, out->len);
  json_error_t je;
  json_t *root = json_loadb(out->data, out->len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL) {
    fprintf(stderr, "jansson: line %d column %d: %s\n", je.line, je.column,
            je.text);
    fail("response is not valid JSON", out->data, out->len);
  }
  if (!json_is_object(root))
    fail("response is not a JSON object", out->data, out->len);
  if (ep == FUZZ_LOSS)
    check_loss_body(root, req, out->data, out->len);
  else
    check_targets_body(root, req, out->data, out->len);
  json_decref(root);
}

static void check_failure(const xs_error *err) {
  const int status = xs_error_http_status(err->kind);
  if (status < 400 || status > 499) {
    fprintf(stderr, "status %d code %s field \"%.128s\" message \"%.256s\"\n",
            status, xs_error_code(err->kind), err->field, err->message);
    fail("a bad request is not answered with a 4xx status", NULL, 0);
  }
  if (memchr(err->message, '\0', sizeof err->message) == NULL ||
      memchr(err->field, '\0', sizeof err->field) == NULL)
    fail("error message or field is not NUL-terminated", NULL, 0);
  if (strchr(err->message, '\n') != NULL || strchr(err->message, '\r'))
    fail("error message is not one line", err->message, strlen(err->message));

  xs_buf body;
  xs_buf_init(&body);
  if (xs_error_write(err, &body) != 0)
    fail("xs_error_write failed", NULL, 0);
  json_error_t je;
  json_t *root = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL) {
    fprintf(stderr, "jansson: line %d column %d: %s\n", je.line, je.column,
            je.text);
    fail("error body is not valid JSON", body.data, body.len);
  }
  const json_t *e = json_object_get(root, "error");
  const json_t *code = json_object_get(e, "code");
  if (!json_is_object(root) || json_object_size(root) != 1 ||
      !json_is_object(e) || json_object_size(e) != 3 || !json_is_string(code) ||
      json_string_length(code) == 0 ||
      strcmp(json_string_value(code), xs_error_code(err->kind)) != 0 ||
      !json_is_string(json_object_get(e, "message")) ||
      !json_is_string(json_object_get(e, "field")))
    fail("error body is not {\"error\":{\"code\",\"message\",\"field\"}}",
         body.data, body.len);
  json_decref(root);
  xs_buf_free(&body);
}

int fuzz_check_request(const uint8_t *data, size_t size, fuzz_endpoint ep) {
  const xs_limits lim = {FUZZ_MAX_ELEMENTS, FUZZ_MAX_ROWS, 1000};
  const char *body = (const char *)data;
  xs_request req;
  xs_error err;
  memset(&err, 0, sizeof err);
  const int parsed = xs_parse(ep == FUZZ_LOSS ? XS_BODY_LOSS : XS_BODY_TARGETS,
                              body, size, &lim, &req, &err);
  if (parsed != 0) {
    /* Nothing to free: the codec leaves no allocation behind (LSan). */
    check_failure(&err);
    return 0;
  }
  if (req.problem.n > FUZZ_MAX_ROWS ||
      (req.problem.n != 0 && req.problem.classes * req.problem.inner >
                                 FUZZ_MAX_ELEMENTS / req.problem.n))
    fail("a request over the limits was accepted", body, size);

  xs_buf out;
  xs_buf_init(&out);
  memset(&err, 0, sizeof err);
  const int ran = xs_run_to_buf(&req, &out, &err);
  if (ran == 0)
    check_success(&out, &req, ep);
  else
    check_failure(&err);
  xs_buf_free(&out);
  xs_request_free(&req);
  return 0;
}

/* One metrics body through the codec, in one piece or two; the answer or
 * the error into *out / *err. 0 answered, -1 refused. */
static int metrics_once(unsigned body, const char *text, size_t len, size_t cut,
                        xs_buf *out, xs_error *err) {
  const xs_limits lim = {FUZZ_MAX_ELEMENTS, FUZZ_MAX_ROWS, 8};
  xs_parser *p = xs_parser_new(body, &lim, NULL);
  if (p == NULL)
    fail("out of memory", NULL, 0);
  xs_parser_feed(p, text, cut);
  xs_parser_feed(p, text + cut, len - cut);
  xs_request req;
  int rc = xs_parser_finish(p, &req, err);
  xs_parser_free(p);
  if (rc != 0)
    return -1;
  rc = xs_run_to_buf(&req, out, err);
  xs_request_free(&req);
  return rc;
}

int fuzz_check_metrics(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  static const unsigned bodies[] = {XS_BODY_METRICS, XS_BODY_MERGE,
                                    XS_BODY_REPORT};
  const unsigned body = bodies[data[0] % 3];
  const char *text = (const char *)data + 2;
  const size_t len = size - 2;
  const size_t cut = len == 0 ? 0 : data[1] % (len + 1);
  xs_buf whole, pieces;
  xs_buf_init(&whole);
  xs_buf_init(&pieces);
  xs_error e1, e2;
  memset(&e1, 0, sizeof e1);
  memset(&e2, 0, sizeof e2);
  const int r1 = metrics_once(body, text, len, len, &whole, &e1);
  const int r2 = metrics_once(body, text, len, cut, &pieces, &e2);
  if (r1 != r2)
    fail("whole and in pieces, one answered and one refused", text, len);
  if (r1 != 0) {
    if (e1.kind != e2.kind || strcmp(e1.field, e2.field) != 0)
      fail("whole and in pieces refused alike but not with the same error",
           e1.field, strlen(e1.field));
    check_failure(&e1);
  } else {
    if (whole.len != pieces.len || memcmp(whole.data, pieces.data, whole.len))
      fail("whole and in pieces answered differently", text, len);
    if (whole.len > 0 && whole.data[0] == '<') {
      if (body != XS_BODY_REPORT || strstr(whole.data, "</svg>") == NULL)
        fail("a picture that is not a whole SVG document", whole.data,
             whole.len);
    } else {
      json_error_t je;
      json_t *root =
          json_loadb(whole.data, whole.len, JSON_REJECT_DUPLICATES, &je);
      if (root == NULL || !json_is_object(root) ||
          !json_is_object(json_object_get(root, "metrics")) ||
          !json_is_object(json_object_get(root, "state")))
        fail("a metrics answer is not {..., metrics, state}", whole.data,
             whole.len);
      json_decref(root);
    }
  }
  xs_buf_free(&whole);
  xs_buf_free(&pieces);
  return 0;
}

/* Same length-n array in both (both NULL, or equal bytes). */
static int same_array(const void *a, const void *b, size_t n, size_t size) {
  if ((a == NULL) != (b == NULL))
    return 0;
  return a == NULL || n == 0 || memcmp(a, b, n * size) == 0;
}

static int same_double(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

/* Every field of the problem, the arrays compared bit for bit. */
static const char *problem_difference(const xs_request *x,
                                      const xs_request *y) {
  const xent_problem *a = &x->problem, *b = &y->problem;
  if (a->n != b->n || a->classes != b->classes)
    return "n / classes";
  if (a->inner != b->inner || a->class_axis != b->class_axis)
    return "inner / class_axis";
  if (x->rank != y->rank || x->flat != y->flat ||
      x->class_axis != y->class_axis ||
      memcmp(x->dims, y->dims, (size_t)x->rank * sizeof x->dims[0]) != 0)
    return "the layout";
  for (int i = 0; i < XS_F_COUNT; i++)
    if (x->forms[i] != y->forms[i])
      return "how a field was given";
  const size_t n = a->n * a->inner, C = a->classes;
  if (a->dtype != b->dtype)
    return "dtype";
  const size_t lsize = a->dtype == XENT_F32 ? sizeof(float) : sizeof(double);
  if (!same_array(a->logits, b->logits, n * C, lsize))
    return "logits";
  if (!same_array(a->targets, b->targets, n, sizeof(int64_t)))
    return "targets";
  if (!same_array(a->soft_targets, b->soft_targets, n * C, sizeof(double)))
    return "soft_targets";
  if (!same_array(a->class_weights, b->class_weights, C, sizeof(double)))
    return "class_weights";
  if (a->ignore_index != b->ignore_index)
    return "ignore_index";
  if (!same_double(a->label_smoothing, b->label_smoothing))
    return "label_smoothing";
  if (a->smoothing != b->smoothing)
    return "smoothing";
  if (a->lambda_count != b->lambda_count)
    return "lambda_count";
  if (!same_array(a->mixup_lambda, b->mixup_lambda, a->lambda_count,
                  sizeof(double)))
    return "mixup_lambda";
  if (a->pairing != b->pairing)
    return "pairing";
  if (!same_array(a->partners, b->partners, a->n, sizeof(int64_t)))
    return "partners";
  if (a->family != b->family)
    return "loss";
  if (!same_array(a->pos_weight, b->pos_weight, C, sizeof(double)))
    return "pos_weight";
  if (!same_double(a->target_threshold, b->target_threshold) ||
      a->sum_classes != b->sum_classes ||
      !same_double(a->focal_alpha, b->focal_alpha) ||
      !same_array(a->focal_alpha_per_class, b->focal_alpha_per_class, C,
                  sizeof(double)) ||
      !same_double(a->focal_gamma, b->focal_gamma) ||
      !same_double(a->poly_epsilon, b->poly_epsilon))
    return "a loss family's option";
  if (a->reduction != b->reduction)
    return "reduction";
  if (a->kernel != b->kernel)
    return "kernel";
  if (x->outputs != y->outputs)
    return "outputs";
  if (x->precision != y->precision)
    return "precision";
  if (x->forms[XS_F_MIXUP_LAMBDA] != y->forms[XS_F_MIXUP_LAMBDA])
    return "the form of mixup.lambda";
  return NULL;
}

/* Runs a request with every output; the body, or the error's kind and
 * field, go into text. */
static void run_all(xs_request *req, fuzz_endpoint ep, xs_buf *text) {
  const int binary = req->problem.family == XENT_LOSS_BINARY_CROSS_ENTROPY ||
                     req->problem.family == XENT_LOSS_SIGMOID_FOCAL;
  req->outputs |= XS_OUT_LOSS | XS_OUT_PER_SAMPLE | XS_OUT_GRAD |
                  XS_OUT_TARGETS | XS_OUT_PROBS |
                  (binary ? XS_OUT_ELEMENTWISE : XS_OUT_STATS);
  xs_error err;
  memset(&err, 0, sizeof err);
  (void)ep;
  const int rc = xs_run_to_buf(req, text, &err);
  if (rc != 0) {
    text->len = 0;
    const char *code = xs_error_code(err.kind);
    if (xs_buf_append(text, code, strlen(code)) != 0 ||
        xs_buf_append(text, " ", 1) != 0 ||
        xs_buf_append(text, err.field, strlen(err.field)) != 0)
      fail("out of memory", NULL, 0);
  }
}

/* The streaming parser with the body cut into pieces at the places the
 * input's own bytes choose (a byte's low bits are the next piece's
 * length), so that the fuzzer explores the cuts too. */
static int parse_in_pieces(fuzz_endpoint ep, const char *body, size_t size,
                           const xs_limits *lim, xs_request *req,
                           xs_error *err) {
  xs_parser *p = xs_parser_new(ep == FUZZ_LOSS ? XS_BODY_LOSS : XS_BODY_TARGETS,
                               lim, NULL);
  if (p == NULL)
    fail("out of memory", NULL, 0);
  size_t at = 0;
  while (at < size) {
    size_t k = 1 + ((unsigned char)body[at] & 15);
    if (k > size - at)
      k = size - at;
    xs_parser_feed(p, body + at, k);
    at += k;
  }
  const int rc = xs_parser_finish(p, req, err);
  xs_parser_free(p);
  return rc;
}

int fuzz_check_diff(const uint8_t *data, size_t size, fuzz_endpoint ep) {
  const xs_limits lim = {FUZZ_MAX_ELEMENTS, FUZZ_MAX_ROWS, 1000};
  const char *body = (const char *)data;
  xs_request stream, pieces, oracle;
  xs_error es, ep_, eo;
  memset(&es, 0, sizeof es);
  memset(&eo, 0, sizeof eo);
  const int rs = xs_parse(ep == FUZZ_LOSS ? XS_BODY_LOSS : XS_BODY_TARGETS,
                          body, size, &lim, &stream, &es);
  const int rp = parse_in_pieces(ep, body, size, &lim, &pieces, &ep_);
  const int ro = ep == FUZZ_LOSS
                     ? oracle_parse_loss(body, size, &lim, &oracle, &eo)
                     : oracle_parse_targets(body, size, &lim, &oracle, &eo);
  if (rp != rs ||
      (rs != 0 && (ep_.kind != es.kind || strcmp(ep_.field, es.field) != 0 ||
                   strcmp(ep_.message, es.message) != 0))) {
    fprintf(stderr, "whole: %s; in pieces: %s\n", es.message, ep_.message);
    fail("the body in pieces is answered differently", body, size);
  }
  /* A raw NUL byte is never JSON. jansson 2.14 drops one that follows a
   * number (its stream puts the byte back and then takes it for the end
   * of its buffer), so on such bodies it is no oracle: the stream must
   * refuse them as invalid JSON, and that is all. */
  if (memchr(body, '\0', size) != NULL) {
    if (rs == 0 || es.kind != XS_ERR_INVALID_JSON)
      fail("a body with a NUL byte was not refused as invalid JSON", body,
           size);
    if (ro == 0)
      oracle_request_free(&oracle);
    return 0;
  }
  if (rs != ro) {
    fprintf(stderr, "stream: %s %.128s: %.256s\noracle: %s %.128s: %.256s\n",
            xs_error_code(es.kind), es.field, es.message,
            xs_error_code(eo.kind), eo.field, eo.message);
    fail("the stream and the oracle disagree on accepting the body", body,
         size);
  }
  if (rs != 0) {
    /* Duplicate keys inside the value of an unknown field: the stream
     * skips that value without keeping its keys and refuses the field
     * (request.c says so); jansson refuses the duplicate. Both are 400. */
    if (es.kind == XS_ERR_INVALID_ARGUMENT && eo.kind == XS_ERR_INVALID_JSON &&
        strstr(eo.message, "duplicate object key") != NULL &&
        strstr(es.message, "is not a known field") != NULL)
      return 0;
    /* Over a limit the stream names the first array in the body that
     * passes it; the oracle, the first in the table's order. */
    if (es.kind != eo.kind || (es.kind != XS_ERR_PAYLOAD_TOO_LARGE &&
                               strcmp(es.field, eo.field) != 0)) {
      fprintf(stderr, "stream: %s %.128s\noracle: %s %.128s\n",
              xs_error_code(es.kind), es.field, xs_error_code(eo.kind),
              eo.field);
      fail("the stream and the oracle report different errors", body, size);
    }
    return 0;
  }
  const char *what = problem_difference(&stream, &oracle);
  if (what == NULL)
    what = problem_difference(&pieces, &stream);
  if (what != NULL) {
    fprintf(stderr, "first difference: %s\n", what);
    fail("the stream and the oracle parsed the body differently", body, size);
  }
  xs_buf a, b;
  xs_buf_init(&a);
  xs_buf_init(&b);
  run_all(&stream, ep, &a);
  run_all(&oracle, ep, &b);
  if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
    fprintf(stderr, "stream: %.*s\noracle: %.*s\n", (int)a.len, a.data,
            (int)b.len, b.data);
    fail("the stream's and the oracle's requests print different bodies", body,
         size);
  }
  xs_buf_free(&a);
  xs_buf_free(&b);
  xs_request_free(&stream);
  xs_request_free(&pieces);
  oracle_request_free(&oracle);
  return 0;
}
