/*
 * Running a parsed request through libxent and printing the 200 body
 * straight into the output buffer: one pass over the numbers, no jansson
 * value per number.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_priv.h"

/* A writer that remembers the first allocation failure, so that printing
 * code needs no check per call. */
typedef struct writer {
  xs_buf *b;
  xs_precision precision;
  int failed;
} writer;

static void put(writer *w, const char *s, size_t n) {
  if (!w->failed && xs_buf_append(w->b, s, n) != 0)
    w->failed = 1;
}

static void put_lit(writer *w, const char *s) {
  put(w, s, strlen(s));
}

static void put_num(writer *w, double v) {
  if (w->failed || xs__buf_reserve(w->b, 34) != 0) {
    w->failed = 1;
    return;
  }
  char *at = w->b->data + w->b->len;
  /* float32 text only where a float can hold the value; a double beyond
   * FLT_MAX prints in full rather than as an infinity. */
  if (w->precision == XS_FLOAT32 && fabs(v) <= FLT_MAX)
    w->b->len += xs_format_float((float)v, at);
  else
    w->b->len += xs_format_double(v, at);
}

static void put_int(writer *w, int64_t v) {
  char tmp[24];
  put(w, tmp, xs__format_int(v, tmp));
}

static void put_vector(writer *w, const double *v, size_t n) {
  put(w, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      put(w, ",", 1);
    put_num(w, v[i]);
  }
  put(w, "]", 1);
}

static void put_matrix(writer *w, const double *m, size_t n, size_t C) {
  put(w, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      put(w, ",", 1);
    put_vector(w, m + i * C, C);
  }
  put(w, "]", 1);
}

/* A libxent failure, with the message made concrete where the request
 * holds the offending value. */
static void set_xent_error(const xs_request *req, const xent_error *xe,
                           xs_error *err) {
  const xent_problem *pb = &req->problem;
  const xs__owned *own = req->owned;
  xs_error_from_xent(err, xe);
  if (xe->status == XENT_ERR_LABEL && xe->arg == XENT_ARG_TARGETS &&
      xe->row >= 0 && (size_t)xe->row < pb->n && pb->targets != NULL) {
    xs__set_error(err, err->kind, err->field,
                  "%s = %lld is outside [0, %zu) and is not ignore_index "
                  "(%lld)",
                  err->field, (long long)pb->targets[xe->row], pb->classes,
                  (long long)pb->ignore_index);
  } else if (xe->status == XENT_ERR_PARTNER && xe->row >= 0 &&
             (size_t)xe->row < pb->n && pb->partners != NULL) {
    xs__set_error(err, err->kind, err->field, "%s = %lld is outside [0, %zu)",
                  err->field, (long long)pb->partners[xe->row], pb->n);
  } else if (own != NULL && own->lambda_scalar &&
             strncmp(err->field, "mixup.lambda[", 13) == 0) {
    /* One lambda for the batch: the path has no index. */
    char msg[sizeof err->message];
    memcpy(msg, err->message, sizeof msg);
    const char *colon = strchr(msg, ':');
    xs__set_error(err, err->kind, "mixup.lambda", "mixup.lambda%s",
                  colon != NULL ? colon : "");
  }
}

static int out_of_memory(xs_buf *out, size_t start, xs_error *err) {
  out->len = start;
  if (out->data != NULL)
    out->data[start] = '\0';
  xs__set_error(err, XS_ERR_INTERNAL, "", "out of memory");
  return -1;
}

/* count doubles, overflow-checked; NULL when not wanted. */
static double *alloc_doubles(int wanted, size_t count, int *failed) {
  if (!wanted)
    return NULL;
  double *p = NULL;
  if (count <= SIZE_MAX / sizeof *p)
    p = malloc(count == 0 ? 1 : count * sizeof *p);
  if (p == NULL)
    *failed = 1;
  return p;
}

int xs_run_loss(const xs_request *req, xs_buf *out, xs_error *err) {
  const xent_problem *pb = &req->problem;
  const size_t n = pb->n, C = pb->classes;
  const size_t start = out->len;
  unsigned want = req->outputs;
  if (pb->reduction == XENT_REDUCE_NONE)
    want &= ~(unsigned)XS_OUT_LOSS;
  if (n != 0 && C > SIZE_MAX / sizeof(double) / n)
    return out_of_memory(out, start, err);
  const size_t nc = n * C;

  int failed = 0;
  double loss = 0;
  xent_stats stats;
  memset(&stats, 0, sizeof stats);
  xent_outputs o;
  o.loss = (want & XS_OUT_LOSS) ? &loss : NULL;
  o.per_sample = alloc_doubles(want & XS_OUT_PER_SAMPLE, n, &failed);
  o.grad = alloc_doubles(want & XS_OUT_GRAD, nc, &failed);
  o.targets = alloc_doubles(want & XS_OUT_TARGETS, nc, &failed);
  o.probs = alloc_doubles(want & XS_OUT_PROBS, nc, &failed);
  o.stats = (want & XS_OUT_STATS) ? &stats : NULL;
  if (o.stats != NULL) {
    stats.predicted = malloc((n == 0 ? 1 : n) * sizeof *stats.predicted);
    failed |= stats.predicted == NULL;
  }
  const size_t ws_size = xent_workspace_size(pb);
  void *ws = NULL;
  if (ws_size > 0) {
    ws = malloc(ws_size); /* malloc's alignment suits double */
    failed |= ws == NULL;
  }

  int rc = 0;
  if (failed) {
    rc = out_of_memory(out, start, err);
  } else {
    xent_error xe;
    const xent_status st = xent_evaluate(pb, &o, ws, ws_size, &xe);
    if (st != XENT_OK) {
      set_xent_error(req, &xe, err);
      rc = -1;
    }
  }
  if (rc == 0) {
    writer w = {out, req->precision, 0};
    /* Reserve for the usual case at once: ~20 bytes per number. */
    size_t numbers = 0;
    numbers += (o.grad != NULL) + (o.targets != NULL) + (o.probs != NULL);
    if (numbers > 0 && nc <= SIZE_MAX / 24 / numbers &&
        xs__buf_reserve(out, numbers * nc * 24) != 0)
      w.failed = 1;
    put_lit(&w, "{\"n\":");
    put_int(&w, (int64_t)n);
    put_lit(&w, ",\"classes\":");
    put_int(&w, (int64_t)C);
    if (o.loss != NULL) {
      put_lit(&w, ",\"loss\":");
      put_num(&w, loss);
    }
    if (o.per_sample != NULL) {
      put_lit(&w, ",\"per_sample\":");
      put_vector(&w, o.per_sample, n);
    }
    if (o.grad != NULL) {
      put_lit(&w, ",\"grad\":");
      put_matrix(&w, o.grad, n, C);
    }
    if (o.targets != NULL) {
      put_lit(&w, ",\"targets\":");
      put_matrix(&w, o.targets, n, C);
    }
    if (o.probs != NULL) {
      put_lit(&w, ",\"probs\":");
      put_matrix(&w, o.probs, n, C);
    }
    if (o.stats != NULL) {
      put_lit(&w, ",\"stats\":{\"accuracy\":");
      put_num(&w, stats.accuracy);
      put_lit(&w, ",\"mean_confidence\":");
      put_num(&w, stats.mean_confidence);
      put_lit(&w, ",\"ece\":");
      put_num(&w, stats.ece);
      put_lit(&w, ",\"mean_entropy\":");
      put_num(&w, stats.mean_entropy);
      put_lit(&w, ",\"predicted\":[");
      for (size_t i = 0; i < n; i++) {
        if (i > 0)
          put(&w, ",", 1);
        put_int(&w, stats.predicted[i]);
      }
      put_lit(&w, "],\"counted\":");
      put_int(&w, (int64_t)stats.counted);
      put_lit(&w, "}");
    }
    put_lit(&w, "}");
    if (w.failed)
      rc = out_of_memory(out, start, err);
  }
  free(o.per_sample);
  free(o.grad);
  free(o.targets);
  free(o.probs);
  free(stats.predicted);
  free(ws);
  return rc;
}

int xs_run_targets(const xs_request *req, xs_buf *out, xs_error *err) {
  const xent_problem *pb = &req->problem;
  const size_t n = pb->n, C = pb->classes;
  const size_t start = out->len;
  if (n != 0 && C > SIZE_MAX / sizeof(double) / n)
    return out_of_memory(out, start, err);
  int failed = 0;
  double *q = alloc_doubles(1, n * C, &failed);
  if (failed)
    return out_of_memory(out, start, err);
  xent_problem p = *pb;
  p.logits = NULL; /* no class is masked: K = classes */
  xent_error xe;
  const xent_status st = xent_targets(&p, q, &xe);
  if (st != XENT_OK) {
    set_xent_error(req, &xe, err);
    free(q);
    return -1;
  }
  writer w = {out, req->precision, 0};
  put_lit(&w, "{\"targets\":");
  put_matrix(&w, q, n, C);
  put_lit(&w, "}");
  free(q);
  if (w.failed)
    return out_of_memory(out, start, err);
  return 0;
}
