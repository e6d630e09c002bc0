/*
 * libFuzzer target: an Open Inference Protocol infer body (the binary
 * tensor data extension's framing and the JSON header) through the codec
 * as xentd reads it (server/codec/codec.h: xs_parser_new_v2).
 *
 * Input: byte 0's top bit chooses the model (cross_entropy, mixup_target),
 * its other 7 bits and byte 1 the Inference-Header-Content-Length (0: the
 * whole body is JSON); the rest is the body. The body is parsed twice,
 * whole and in pieces whose sizes its own bytes choose (1 + low 4 bits of
 * the byte a piece starts at), then run (xs_run, xs_response_read) when
 * it parses. abort() on a broken invariant:
 *  - whole and in pieces: the same verdict, the same request bit for bit,
 *    or the same error kind and message;
 *  - a failure: a 4xx kind, a one-line non-empty message, and the error
 *    body {"error": message};
 *  - a success: the header is JSON (jansson, duplicates refused) whose
 *    inputs are the request's arrays with the shapes declared (N and C of
 *    the batch, mixup_lambda [1] or [N]), binary tensors holding the very
 *    bytes that follow the header in input order, JSON data the numbers
 *    written (rounded to the datatype); nothing over the limits;
 *  - a run: a 4xx failure, or an answer whose JSON header lists the
 *    outputs asked (names, datatypes, shapes) with JSON data or binary
 *    sizes that add up to the bytes that follow, every number finite;
 *  - memory: each parse draws on a budget of its own (1 MiB, as
 *    --max-memory) and gives every byte back once freed.
 * ASan / UBSan / LeakSanitizer catch the rest (make check-fuzz). The seeds
 * (tests/fuzz/corpus/v2/, one .bin file each) carry the same 2-byte prefix.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "fuzz_check.h"
#include "models.h"
#include "v2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
static void broken(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz invariant broken: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

/* ------------------------------------------------------------- parsing -- */

/* The memory budget of each parse, as xentd's --max-memory: a declared
 * binary_data_size over it is refused (413), never allocated. */
enum { FUZZ_BUDGET = 1 << 20 };

static int parse(const xs_model *m, uint64_t header_len, const char *body,
                 size_t len, int pieces, xs_mem *mem, xs_request *req,
                 xs_error *err) {
  const xs_limits lim = {FUZZ_MAX_ELEMENTS, FUZZ_MAX_ROWS, 8};
  xs_parser *p = xs_parser_new_v2(m, header_len, 0, &lim, mem);
  if (p == NULL)
    broken("out of memory");
  if (!pieces) {
    xs_parser_feed(p, body, len);
  } else {
    size_t at = 0;
    while (at < len) {
      size_t k = 1 + ((unsigned char)body[at] & 15);
      if (k > len - at)
        k = len - at;
      xs_parser_feed(p, body + at, k);
      at += k;
    }
  }
  memset(err, 0, sizeof *err);
  const int rc = xs_parser_finish(p, req, err);
  xs_parser_free(p);
  return rc;
}

static void check_failure(const xs_error *err, const char *when) {
  const int status = xs_error_http_status(err->kind);
  if (status < 400 || status > 499)
    broken("%s: status %d (%s): %.256s", when, status, xs_error_code(err->kind),
           err->message);
  if (memchr(err->message, '\0', sizeof err->message) == NULL)
    broken("%s: message not terminated", when);
  if (err->message[0] == '\0' || strchr(err->message, '\n') != NULL ||
      strchr(err->message, '\r') != NULL)
    broken("%s: message not one non-empty line: \"%s\"", when, err->message);
  xs_buf out;
  xs_buf_init(&out);
  if (xs_error_write_v2(err, &out) != 0)
    broken("xs_error_write_v2 failed");
  json_error_t je;
  json_t *root = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &je);
  const json_t *e = json_object_get(root, "error");
  if (root == NULL || json_object_size(root) != 1 || !json_is_string(e) ||
      strcmp(json_string_value(e), err->message) != 0)
    broken("%s: error body %.*s", when, (int)out.len, out.data);
  json_decref(root);
  xs_buf_free(&out);
}

/* ----------------------------------------------- whole against pieces -- */

static size_t logit_size(xent_dtype t) {
  return t == XENT_F64 ? 8 : t == XENT_F32 ? 4 : 2;
}

static int same(const void *a, const void *b, size_t bytes) {
  if ((a == NULL) != (b == NULL))
    return 0;
  return a == NULL || bytes == 0 || memcmp(a, b, bytes) == 0;
}

static const char *difference(const xs_request *x, const xs_request *y) {
  const xent_problem *a = &x->problem, *b = &y->problem;
  if (a->n != b->n || a->classes != b->classes || a->dtype != b->dtype)
    return "n / classes / dtype";
  const size_t n = a->n, C = a->classes;
  if (!same(a->logits, b->logits, n * C * logit_size(a->dtype)))
    return "logits";
  if (!same(a->targets, b->targets, n * sizeof(int64_t)))
    return "targets";
  if (!same(a->soft_targets, b->soft_targets, n * C * sizeof(double)))
    return "soft_targets";
  if (!same(a->class_weights, b->class_weights, C * sizeof(double)))
    return "class_weights";
  if (a->lambda_count != b->lambda_count ||
      !same(a->mixup_lambda, b->mixup_lambda, a->lambda_count * sizeof(double)))
    return "mixup_lambda";
  if (a->pairing != b->pairing ||
      !same(a->partners, b->partners, n * sizeof(int64_t)))
    return "pairing";
  if (a->ignore_index != b->ignore_index ||
      memcmp(&a->label_smoothing, &b->label_smoothing, sizeof(double)) != 0 ||
      a->smoothing != b->smoothing || a->reduction != b->reduction)
    return "parameters";
  if (x->outputs != y->outputs || x->v2.noutputs != y->v2.noutputs ||
      x->v2.binary != y->v2.binary || x->v2.out_f32 != y->v2.out_f32 ||
      memcmp(x->v2.outputs, y->v2.outputs, sizeof x->v2.outputs) != 0)
    return "outputs";
  if ((x->v2.id == NULL) != (y->v2.id == NULL) ||
      (x->v2.id != NULL && strcmp(x->v2.id, y->v2.id) != 0))
    return "id";
  return NULL;
}

/* -------------------------------------------- the request as declared -- */

static const json_t *input_named(const json_t *inputs, const char *name) {
  const json_t *found = NULL;
  for (size_t i = 0; i < json_array_size(inputs); i++) {
    const json_t *t = json_array_get(inputs, i);
    const json_t *nm = json_object_get(t, "name");
    if (json_is_string(nm) && strcmp(json_string_value(nm), name) == 0)
      found = t;
  }
  return found;
}

static int64_t dim(const json_t *t, size_t k) {
  const json_t *d = json_array_get(json_object_get(t, "shape"), k);
  return json_is_integer(d) ? (int64_t)json_integer_value(d) : -1;
}

static size_t rank(const json_t *t) {
  return json_array_size(json_object_get(t, "shape"));
}

static const char *dtype_of(const json_t *t) {
  const json_t *d = json_object_get(t, "datatype");
  return json_is_string(d) ? json_string_value(d) : "";
}

/* The declared binary size of input t, or -1 for JSON data. */
static int64_t binary_size(const json_t *t) {
  const json_t *s =
      json_object_get(json_object_get(t, "parameters"), "binary_data_size");
  return json_is_integer(s) ? (int64_t)json_integer_value(s) : -1;
}

/* Where input t's binary bytes begin in the body: after the header and
 * the binary inputs before it. */
static size_t binary_offset(const json_t *inputs, const json_t *t,
                            size_t header_len) {
  size_t at = header_len;
  for (size_t i = 0; i < json_array_size(inputs); i++) {
    const json_t *u = json_array_get(inputs, i);
    if (u == t)
      break;
    if (binary_size(u) > 0)
      at += (size_t)binary_size(u);
  }
  return at;
}

/* The k-th number of input t's JSON data, flattened row-major (booleans
 * are 1 and 0, as the codec reads them). */
static int flat_number(const json_t *v, size_t *k, size_t want, double *out) {
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      if (flat_number(json_array_get(v, i), k, want, out))
        return 1;
    return 0;
  }
  if (*k == want) {
    *out = json_is_true(v)    ? 1.0
           : json_is_false(v) ? 0.0
                              : json_number_value(v);
    return 1;
  }
  (*k)++;
  return 0;
}

static double json_elem(const json_t *t, size_t i) {
  size_t k = 0;
  double x = NAN;
  if (!flat_number(json_object_get(t, "data"), &k, i, &x))
    broken("%s: JSON element %zu missing",
           json_string_value(json_object_get(t, "name")), i);
  return x;
}

/* Element i of input t as the request must hold it: the body's bytes, or
 * the JSON number rounded to the datatype. Stored as the codec stores it:
 * double, int64, or (logits) the datatype's own bytes. */
static void expect_doubles(const json_t *inputs, const json_t *t,
                           const double *got, size_t count, const char *body,
                           size_t header_len, const char *what) {
  const char *dt = dtype_of(t);
  const int64_t bin = binary_size(t);
  const size_t at = binary_offset(inputs, t, header_len);
  for (size_t i = 0; i < count; i++) {
    double want;
    if (bin >= 0 && strcmp(dt, "FP64") == 0) {
      memcpy(&want, body + at + 8 * i, 8);
    } else if (bin >= 0) {
      float f;
      memcpy(&f, body + at + 4 * i, 4);
      want = f;
    } else {
      want = json_elem(t, i);
      if (strcmp(dt, "FP32") == 0)
        want = (float)want;
    }
    if (memcmp(&want, &got[i], sizeof want) != 0 &&
        !(isnan(want) && isnan(got[i])))
      broken("%s[%zu] = %.17g, the body says %.17g", what, i, got[i], want);
  }
}

static void expect_ints(const json_t *inputs, const json_t *t,
                        const int64_t *got, size_t count, const char *body,
                        size_t header_len, const char *what) {
  const int64_t bin = binary_size(t);
  const size_t at = binary_offset(inputs, t, header_len);
  const int wide = strcmp(dtype_of(t), "INT64") == 0;
  for (size_t i = 0; i < count; i++) {
    int64_t want;
    if (bin >= 0 && wide) {
      memcpy(&want, body + at + 8 * i, 8);
    } else if (bin >= 0) {
      int32_t v;
      memcpy(&v, body + at + 4 * i, 4);
      want = v;
    } else {
      want = (int64_t)json_elem(t, i);
    }
    if (want != got[i])
      broken("%s[%zu] = %lld, the body says %lld", what, i, (long long)got[i],
             (long long)want);
  }
}

static void expect_logits(const json_t *inputs, const json_t *t,
                          const xent_problem *pb, const char *body,
                          size_t header_len) {
  const char *dt = dtype_of(t);
  const xent_dtype want_t = strcmp(dt, "FP64") == 0   ? XENT_F64
                            : strcmp(dt, "FP32") == 0 ? XENT_F32
                            : strcmp(dt, "FP16") == 0 ? XENT_F16
                                                      : XENT_BF16;
  if (pb->dtype != want_t)
    broken("logits: dtype %d for %s", (int)pb->dtype, dt);
  const size_t es = logit_size(pb->dtype), count = pb->n * pb->classes;
  if (binary_size(t) >= 0) {
    if (memcmp(pb->logits, body + binary_offset(inputs, t, header_len),
               count * es) != 0)
      broken("logits: not the body's bytes");
    return;
  }
  for (size_t i = 0; i < count; i++) {
    const double x = json_elem(t, i);
    unsigned char want[8];
    if (es == 8) {
      memcpy(want, &x, 8);
    } else if (es == 4) {
      const float f = (float)x;
      memcpy(want, &f, 4);
    } else {
      const uint16_t h =
          pb->dtype == XENT_F16 ? xs__to_half(x) : xs__to_bfloat16(x);
      memcpy(want, &h, 2);
    }
    if (memcmp(want, (const char *)pb->logits + i * es, es) != 0)
      broken("logits[%zu]: not the JSON number %.17g in %s", i, x, dt);
  }
}

/* Every array of a parsed request against the header that declared it. */
static void check_declared(const xs_model *m, const xs_request *req,
                           const char *body, size_t len, size_t header_len) {
  const xent_problem *pb = &req->problem;
  const size_t n = pb->n, C = pb->classes;
  const int loss = xs_model_body(m) == XS_BODY_LOSS;
  if (req->proto != XS_PROTO_V2 || req->body != xs_model_body(m))
    broken("proto / body");
  if (n == 0 || C == 0 || n > FUZZ_MAX_ROWS || C > FUZZ_MAX_ELEMENTS / n)
    broken("a %zu x %zu batch was accepted", n, C);
  if (req->v2.noutputs <= 0 || req->v2.noutputs > XS_V2_MAX_OUTPUTS)
    broken("%d outputs", req->v2.noutputs);
  /* Reading every element: ASan checks each array is as long as that. */
  volatile double sink = 0;
  if (pb->logits != NULL)
    for (size_t i = 0; i < n * C * logit_size(pb->dtype); i++)
      sink += ((const unsigned char *)pb->logits)[i];
  const size_t hlen = header_len > 0 ? header_len : len;
  if (hlen > len)
    broken("a header of %zu bytes in a body of %zu was accepted", hlen, len);
  if (memchr(body, '\0', hlen) != NULL)
    broken("a header with a NUL byte was accepted");
  json_error_t je;
  json_t *root = json_loadb(body, hlen, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL) {
    broken("the codec accepted a header jansson refuses: %s (line %d column "
           "%d)",
           je.text, je.line, je.column);
  }
  const json_t *inputs = json_object_get(root, "inputs");
  const json_t *tl = input_named(inputs, "logits");
  const json_t *tt = input_named(inputs, "targets");
  const json_t *ts = input_named(inputs, "soft_targets");
  const json_t *tw = input_named(inputs, "class_weights");
  const json_t *tlam = input_named(inputs, "mixup_lambda");
  const json_t *tp = input_named(inputs, "mixup_partner");
  if (loss) {
    if (tl == NULL || rank(tl) != 2 || dim(tl, 0) != (int64_t)n ||
        dim(tl, 1) != (int64_t)C || pb->logits == NULL)
      broken("logits: declared shape differs from %zu x %zu", n, C);
    expect_logits(inputs, tl, pb, body, header_len);
  } else if (pb->logits != NULL) {
    broken("mixup_target with logits");
  }
  if ((tt != NULL) != (pb->targets != NULL) ||
      (tt != NULL && (rank(tt) != 1 || dim(tt, 0) != (int64_t)n)))
    broken("targets: declared and read differ");
  if (tt != NULL)
    expect_ints(inputs, tt, pb->targets, n, body, header_len, "targets");
  if ((ts != NULL) != (pb->soft_targets != NULL) ||
      (ts != NULL &&
       (rank(ts) != 2 || dim(ts, 0) != (int64_t)n || dim(ts, 1) != (int64_t)C)))
    broken("soft_targets: declared and read differ");
  if (ts != NULL)
    expect_doubles(inputs, ts, pb->soft_targets, n * C, body, header_len,
                   "soft_targets");
  if ((tw != NULL) != (pb->class_weights != NULL) ||
      (tw != NULL && (rank(tw) != 1 || dim(tw, 0) != (int64_t)C)))
    broken("class_weights: declared and read differ");
  if (tw != NULL)
    expect_doubles(inputs, tw, pb->class_weights, C, body, header_len,
                   "class_weights");
  if (tlam != NULL) {
    if (pb->mixup_lambda == NULL || rank(tlam) != 1 ||
        (uint64_t)dim(tlam, 0) != pb->lambda_count ||
        (pb->lambda_count != 1 && pb->lambda_count != n))
      broken("mixup_lambda: declared [%lld], read %zu values",
             (long long)dim(tlam, 0), pb->lambda_count);
    expect_doubles(inputs, tlam, pb->mixup_lambda, pb->lambda_count, body,
                   header_len, "mixup_lambda");
  } else if (pb->mixup_lambda != NULL && pb->lambda_count != 1) {
    broken("mixup_lambda from a parameter holds %zu values", pb->lambda_count);
  }
  if ((tp != NULL) != (pb->pairing == XENT_PAIR_EXPLICIT) ||
      (tp != NULL &&
       (pb->partners == NULL || rank(tp) != 1 || dim(tp, 0) != (int64_t)n)))
    broken("mixup_partner: declared and read differ");
  if (tp != NULL)
    expect_ints(inputs, tp, pb->partners, n, body, header_len, "mixup_partner");
  if (!loss) {
    const json_t *nc =
        json_object_get(json_object_get(root, "parameters"), "num_classes");
    if (!json_is_integer(nc) || (size_t)json_integer_value(nc) != C)
      broken("num_classes is not C = %zu", C);
  }
  (void)sink;
  json_decref(root);
}

/* ---------------------------------------------------------- the answer -- */

static int is_string(const json_t *v, const char *want) {
  return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

static void check_answer(const xs_model *m, const xs_request *req,
                         xs_response *resp) {
  const uint64_t bound = xs_response_bound(resp);
  char *buf = malloc((size_t)bound + 1);
  if (buf == NULL)
    broken("out of memory");
  size_t total = 0;
  for (;;) {
    const size_t k = xs_response_read(
        resp, buf + total,
        (size_t)bound + 1 - total > 4096 ? 4096 : (size_t)bound + 1 - total);
    if (k == 0)
      break;
    total += k;
    if (total > bound)
      broken("the answer overran its bound of %llu bytes",
             (unsigned long long)bound);
  }
  const uint64_t length = xs_response_length(resp);
  const uint64_t hlen = xs_response_header_length(resp);
  if ((length > 0 && length != total) || hlen > total)
    broken("length %llu, header %llu, %zu bytes read",
           (unsigned long long)length, (unsigned long long)hlen, total);
  const size_t jlen = hlen > 0 ? (size_t)hlen : total;
  json_error_t je;
  json_t *root = json_loadb(buf, jlen, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL)
    broken("answer header is not JSON: %s: %.*s", je.text,
           (int)(jlen > 2000 ? 2000 : jlen), buf);
  if (!is_string(json_object_get(root, "model_name"), xs_model_name(m)) ||
      !is_string(json_object_get(root, "model_version"), "1"))
    broken("model_name / model_version");
  const json_t *id = json_object_get(root, "id");
  if ((id != NULL) != (req->v2.id != NULL) ||
      (id != NULL && !is_string(id, req->v2.id)))
    broken("id not echoed");
  const json_t *outs = json_object_get(root, "outputs");
  if (json_array_size(outs) != (size_t)req->v2.noutputs)
    broken("%zu outputs for %d asked", json_array_size(outs), req->v2.noutputs);
  const size_t n = req->problem.n, C = req->problem.classes;
  size_t at = jlen;
  for (int i = 0; i < req->v2.noutputs; i++) {
    const xs_output_def *def = &m->outputs[req->v2.outputs[i]];
    const json_t *o = json_array_get(outs, (size_t)i);
    const char *dt = json_string_value(json_object_get(o, "datatype"));
    const char *want_dt = def->type == XS_OT_INT64 ? "INT64"
                          : def->type == XS_OT_LOGITS && req->v2.out_f32
                              ? "FP32"
                              : "FP64";
    if (!is_string(json_object_get(o, "name"), def->name) || dt == NULL ||
        strcmp(dt, want_dt) != 0)
      broken("output %d: name or datatype", i);
    const json_t *shape = json_object_get(o, "shape");
    const size_t count = def->shape == XS_OS_ONE ? 1
                         : def->shape == XS_OS_N ? n
                                                 : n * C;
    const size_t r = def->shape == XS_OS_NC ? 2 : 1;
    if (json_array_size(shape) != r ||
        json_integer_value(json_array_get(shape, 0)) !=
            (json_int_t)(def->shape == XS_OS_ONE ? 1 : n) ||
        (r == 2 &&
         json_integer_value(json_array_get(shape, 1)) != (json_int_t)C))
      broken("output %s: shape", def->name);
    const size_t es = strcmp(dt, "FP32") == 0 ? 4 : 8;
    const json_t *size =
        json_object_get(json_object_get(o, "parameters"), "binary_data_size");
    const int binary = (req->v2.binary >> i) & 1;
    if (binary) {
      if (!json_is_integer(size) ||
          (size_t)json_integer_value(size) != count * es ||
          at + count * es > total)
        broken("output %s: binary_data_size", def->name);
      for (size_t k = 0; k < count && es == 8 && def->type != XS_OT_INT64;
           k++) {
        double x;
        memcpy(&x, buf + at + 8 * k, 8);
        if (!isfinite(x))
          broken("output %s[%zu] is not finite", def->name, k);
      }
      for (size_t k = 0; k < count && es == 4; k++) {
        float x;
        memcpy(&x, buf + at + 4 * k, 4);
        if (!isfinite(x))
          broken("output %s[%zu] is not finite", def->name, k);
      }
      at += count * es;
    } else {
      const json_t *d = json_object_get(o, "data");
      if (size != NULL || json_array_size(d) != count)
        broken("output %s: JSON data of %zu values", def->name,
               json_array_size(d));
      for (size_t k = 0; k < count; k++) {
        const json_t *x = json_array_get(d, k);
        if (def->type == XS_OT_INT64 ? !json_is_integer(x) : !json_is_number(x))
          broken("output %s[%zu] is not a number", def->name, k);
      }
    }
  }
  if (at != total)
    broken("%zu bytes after the outputs", total - at);
  json_decref(root);
  free(buf);
}

/* ---------------------------------------------------------------- entry -- */

/* After the request and the answer are freed, their memory share holds
 * nothing: every allocation was given back. */
static void close_share(xs_mem *mem, const char *what) {
  if (mem->used != 0)
    broken("%s: %llu bytes of the budget still used", what,
           (unsigned long long)mem->used);
  xs_mem_close(mem);
  if (mem->budget->used != 0)
    broken("%s: the budget keeps %llu bytes", what,
           (unsigned long long)mem->budget->used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  const xs_model *m = xs_model_at(data[0] >> 7);
  const uint64_t header_len = ((uint64_t)(data[0] & 0x7f) << 8) | data[1];
  const char *body = (const char *)data + 2;
  const size_t len = size - 2;
  xs_budget bw, bc;
  xs_budget_init(&bw, FUZZ_BUDGET);
  xs_budget_init(&bc, FUZZ_BUDGET);
  xs_mem mw = {&bw, 0, 0}, mc = {&bc, 0, 0};
  xs_request whole, cut;
  xs_error ew, ec;
  const int rw = parse(m, header_len, body, len, 0, &mw, &whole, &ew);
  const int rc = parse(m, header_len, body, len, 1, &mc, &cut, &ec);
  if (rw != rc)
    broken("whole: %s; in pieces: %s", rw == 0 ? "parsed" : ew.message,
           rc == 0 ? "parsed" : ec.message);
  if (rw != 0) {
    check_failure(&ew, "parse");
    check_failure(&ec, "parse in pieces");
    if (ew.kind != ec.kind || strcmp(ew.message, ec.message) != 0)
      broken("whole: %s; in pieces: %s", ew.message, ec.message);
    close_share(&mw, "a refused body");
    close_share(&mc, "a refused body in pieces");
    return 0;
  }
  const char *what = difference(&whole, &cut);
  if (what != NULL)
    broken("whole and in pieces differ: %s", what);
  xs_request_free(&cut);
  close_share(&mc, "a request in pieces");
  check_declared(m, &whole, body, len, (size_t)header_len);
  xs_response *resp = NULL;
  xs_error er;
  memset(&er, 0, sizeof er);
  if (xs_run(&whole, &mw, &resp, &er) != 0)
    check_failure(&er, "run");
  else
    check_answer(m, &whole, resp);
  xs_response_free(resp);
  xs_request_free(&whole);
  close_share(&mw, "a request and its answer");
  return 0;
}
