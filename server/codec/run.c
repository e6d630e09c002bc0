/*
 * run.c - running a parsed request through libxent and describing its 200
 * body for the writer (writer.h). The outputs' memory is taken from the
 * request's share before it is allocated; the body is printed later, block
 * by block, from the outputs themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"
#include "writer.h"

enum {
  OUT_PER_SAMPLE,
  OUT_GRAD,
  OUT_TARGETS,
  OUT_PROBS,
  OUT_PREDICTED,
  OUT_WORKSPACE,
  OUT_COUNT
};

struct xs_response {
  xs_writer w;
  xs_mem *mem;
  void *buf[OUT_COUNT];
  size_t bytes[OUT_COUNT];
  double loss;
  xent_stats stats;
};

void xs_response_free(xs_response *r) {
  if (r == NULL)
    return;
  for (int i = 0; i < OUT_COUNT; i++)
    xs__free(r->mem, r->buf[i], r->bytes[i]);
  free(r);
}

/* count elements of size bytes into slot i, when wanted. */
static int alloc_out(xs_response *r, int i, int wanted, size_t count,
                     size_t size, xs_error *err) {
  if (!wanted)
    return 0;
  if (count > SIZE_MAX / size) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the outputs are too large");
    return -1;
  }
  r->bytes[i] = count * size == 0 ? 1 : count * size;
  r->buf[i] = xs__alloc(r->mem, r->bytes[i], err);
  if (r->buf[i] == NULL) {
    r->bytes[i] = 0;
    return -1;
  }
  return 0;
}

static int run_loss(const xs_request *req, xs_response *r, xs_error *err) {
  const xent_problem *pb = &req->problem;
  const size_t n = pb->n, C = pb->classes;
  const unsigned want = req->outputs;
  if (n != 0 && C > SIZE_MAX / n) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the batch is too large");
    return -1;
  }
  const size_t nc = n * C;
  if (alloc_out(r, OUT_PER_SAMPLE, want & XS_OUT_PER_SAMPLE, n, sizeof(double),
                err) != 0 ||
      alloc_out(r, OUT_GRAD, want & XS_OUT_GRAD, nc, sizeof(double), err) !=
          0 ||
      alloc_out(r, OUT_TARGETS, want & XS_OUT_TARGETS, nc, sizeof(double),
                err) != 0 ||
      alloc_out(r, OUT_PROBS, want & XS_OUT_PROBS, nc, sizeof(double), err) !=
          0 ||
      alloc_out(r, OUT_PREDICTED, want & XS_OUT_STATS, n, sizeof(int64_t),
                err) != 0)
    return -1;
  const size_t ws_size = xent_workspace_size(pb);
  if (alloc_out(r, OUT_WORKSPACE, ws_size > 0, ws_size, 1, err) != 0)
    return -1;
  xent_outputs o;
  o.loss = (want & XS_OUT_LOSS) ? &r->loss : NULL;
  o.per_sample = r->buf[OUT_PER_SAMPLE];
  o.grad = r->buf[OUT_GRAD];
  o.targets = r->buf[OUT_TARGETS];
  o.probs = r->buf[OUT_PROBS];
  o.stats = (want & XS_OUT_STATS) ? &r->stats : NULL;
  r->stats.predicted = r->buf[OUT_PREDICTED];
  xent_error xe;
  if (xent_evaluate(pb, &o, r->buf[OUT_WORKSPACE], ws_size, &xe) != XENT_OK) {
    xs__error_from_xent(err, req, &xe);
    return -1;
  }
  /* The workspace is not needed to print. */
  xs__free(r->mem, r->buf[OUT_WORKSPACE], r->bytes[OUT_WORKSPACE]);
  r->buf[OUT_WORKSPACE] = NULL;

  xs_writer *w = &r->w;
  xs_writer_lit(w, "{\"n\":");
  xs_writer_int(w, (int64_t)n);
  xs_writer_lit(w, ",\"classes\":");
  xs_writer_int(w, (int64_t)C);
  if (o.loss != NULL) {
    xs_writer_lit(w, ",\"loss\":");
    xs_writer_num(w, r->loss);
  }
  if (o.per_sample != NULL) {
    xs_writer_lit(w, ",\"per_sample\":");
    xs_writer_vec(w, o.per_sample, n);
  }
  if (o.grad != NULL) {
    xs_writer_lit(w, ",\"grad\":");
    xs_writer_mat(w, o.grad, n, C);
  }
  if (o.targets != NULL) {
    xs_writer_lit(w, ",\"targets\":");
    xs_writer_mat(w, o.targets, n, C);
  }
  if (o.probs != NULL) {
    xs_writer_lit(w, ",\"probs\":");
    xs_writer_mat(w, o.probs, n, C);
  }
  if (o.stats != NULL) {
    xs_writer_lit(w, ",\"stats\":{\"accuracy\":");
    xs_writer_num(w, r->stats.accuracy);
    xs_writer_lit(w, ",\"mean_confidence\":");
    xs_writer_num(w, r->stats.mean_confidence);
    xs_writer_lit(w, ",\"ece\":");
    xs_writer_num(w, r->stats.ece);
    xs_writer_lit(w, ",\"mean_entropy\":");
    xs_writer_num(w, r->stats.mean_entropy);
    xs_writer_lit(w, ",\"predicted\":");
    xs_writer_ivec(w, r->stats.predicted, n);
    xs_writer_lit(w, ",\"counted\":");
    xs_writer_int(w, (int64_t)r->stats.counted);
    xs_writer_lit(w, "}");
  }
  xs_writer_lit(w, "}");
  return 0;
}

static int run_targets(const xs_request *req, xs_response *r, xs_error *err) {
  const xent_problem *pb = &req->problem;
  const size_t n = pb->n, C = pb->classes;
  if (n != 0 && C > SIZE_MAX / n) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE, "the batch is too large");
    return -1;
  }
  if (alloc_out(r, OUT_TARGETS, 1, n * C, sizeof(double), err) != 0)
    return -1;
  xent_problem p = *pb;
  p.logits = NULL; /* no class is masked: K = classes */
  xent_error xe;
  if (xent_targets(&p, r->buf[OUT_TARGETS], &xe) != XENT_OK) {
    xs__error_from_xent(err, req, &xe);
    return -1;
  }
  xs_writer_lit(&r->w, "{\"targets\":");
  xs_writer_mat(&r->w, r->buf[OUT_TARGETS], n, C);
  xs_writer_lit(&r->w, "}");
  return 0;
}

int xs_run(const xs_request *req, xs_mem *mem, xs_response **resp,
           xs_error *err) {
  *resp = NULL;
  xs_response *r = calloc(1, sizeof *r);
  if (r == NULL) {
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  r->mem = mem;
  xs_writer_init(&r->w, req->precision);
  const int rc = req->body == XS_BODY_TARGETS ? run_targets(req, r, err)
                                              : run_loss(req, r, err);
  if (rc == 0 && r->w.overflow) {
    xs_error_set(err, XS_ERR_INTERNAL, "the response has too many parts");
    xs_response_free(r);
    return -1;
  }
  if (rc != 0) {
    xs_response_free(r);
    return -1;
  }
  *resp = r;
  return 0;
}

size_t xs_response_read(xs_response *r, char *buf, size_t max) {
  return xs_writer_read(&r->w, buf, max);
}

uint64_t xs_response_bound(const xs_response *r) {
  return xs_writer_bound(&r->w);
}

int xs_run_to_buf(const xs_request *req, xs_buf *out, xs_error *err) {
  xs_response *r = NULL;
  if (xs_run(req, NULL, &r, err) != 0)
    return -1;
  const uint64_t bound = xs_response_bound(r);
  const size_t start = out->len;
  if (bound >= SIZE_MAX || xs_buf_reserve(out, (size_t)bound) != 0) {
    xs_response_free(r);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  out->len += xs_response_read(r, out->data + start, (size_t)bound);
  out->data[out->len] = '\0';
  char probe;
  const int complete = xs_response_read(r, &probe, 1) == 0;
  xs_response_free(r);
  if (!complete) {
    xs_error_set(err, XS_ERR_INTERNAL, "the response overran its bound");
    return -1;
  }
  return 0;
}
