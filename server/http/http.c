/*
 * http.c - routes, limits and answers of xentd (see http.h).
 *
 * The libmicrohttpd access handler is called several times per request:
 * once when the headers are in (the request state is created here and the
 * route, method, size and media type are judged), once per piece of body,
 * and once more when the request is complete, when the answer is queued.
 * Answering on the first call would make libmicrohttpd 0.9.75 close the
 * connection, so only a request whose declared body is over the limit is
 * answered there: its body is then never read and the connection closes.
 */
#include "http.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "xent.h"

struct xs_http {
  struct MHD_Daemon *daemon;
  xs_config cfg;
  xs_limits limits;
  atomic_int draining;
  atomic_uint compute_in_flight; /* POSTs between headers and completion */
  MHD_socket quiesced_fd;
  unsigned port;
  char health_body[128];
  size_t health_len;
  char info_body[2048];
  size_t info_len;
};

/* One request, from its headers to its completion callback. */
typedef struct req_state {
  xs_route route;
  xs_error err; /* decided before the body is read; kind NONE if fine */
  xs_buf body;
  uint64_t bytes_in;
  uint64_t bytes_out;
  int status;  /* 0 until an answer is queued */
  int counted; /* holds a place in compute_in_flight */
  struct timespec t0;
  char method[16];
  char path[256];
} req_state;

typedef enum route_kind { ROUTE_GET, ROUTE_POST } route_kind;

typedef struct route_def {
  const char *path;
  xs_route route;
  route_kind kind;
} route_def;

static const route_def routes[] = {
    {"/v1/loss", XS_ROUTE_LOSS, ROUTE_POST},
    {"/v1/targets", XS_ROUTE_TARGETS, ROUTE_POST},
    {"/healthz", XS_ROUTE_HEALTHZ, ROUTE_GET},
    {"/readyz", XS_ROUTE_READYZ, ROUTE_GET},
    {"/metrics", XS_ROUTE_METRICS, ROUTE_GET},
    {"/v1", XS_ROUTE_V1, ROUTE_GET},
};

static const char json_type[] = "application/json";
static const char metrics_type[] = "text/plain; version=0.0.4; charset=utf-8";

static void set_error(xs_error *err, xs_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(xs_error *err, xs_err_kind kind, const char *fmt, ...) {
  va_list ap;
  err->kind = kind;
  err->field[0] = '\0';
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

static double seconds_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t0->tv_sec) +
         (double)(now.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* "application/json", any case, optionally followed by parameters. */
static int is_json_type(const char *ct) {
  if (ct == NULL) {
    return 0;
  }
  while (*ct == ' ' || *ct == '\t') {
    ct++;
  }
  const size_t n = sizeof json_type - 1;
  if (strncasecmp(ct, json_type, n) != 0) {
    return 0;
  }
  ct += n;
  while (*ct == ' ' || *ct == '\t') {
    ct++;
  }
  return *ct == '\0' || *ct == ';';
}

/* Copies at most size - 1 bytes of s (a log field, truncated if long). */
static void copy_field(char *dst, size_t size, const char *s) {
  snprintf(dst, size, "%s", s != NULL ? s : "");
}

/* Queues an answer whose body is taken from out (out becomes empty). */
static enum MHD_Result queue(xs_http *h, struct MHD_Connection *c, req_state *r,
                             int status, xs_buf *out, const char *content_type,
                             const char *hname, const char *hvalue) {
  size_t len = 0;
  char *data = xs_buf_take(out, &len);
  struct MHD_Response *resp =
      data != NULL
          ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
          : MHD_create_response_from_buffer(0, (void *)"",
                                            MHD_RESPMEM_PERSISTENT);
  if (resp == NULL) {
    free(data);
    return MHD_NO;
  }
  enum MHD_Result ok =
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (h->cfg.replica_name[0] != '\0') {
    ok &= MHD_add_response_header(resp, "X-Xent-Replica", h->cfg.replica_name);
  }
  if (hname != NULL) {
    ok &= MHD_add_response_header(resp, hname, hvalue);
  }
  if (atomic_load_explicit(&h->draining, memory_order_relaxed)) {
    ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  }
  const enum MHD_Result queued =
      ok == MHD_YES ? MHD_queue_response(c, (unsigned)status, resp) : MHD_NO;
  MHD_destroy_response(resp);
  if (queued == MHD_YES) {
    r->status = status;
    r->bytes_out = len;
  }
  return queued;
}

/* Queues a copy of a body built once at start (health, /v1). */
static enum MHD_Result queue_static(xs_http *h, struct MHD_Connection *c,
                                    req_state *r, int status, const char *body,
                                    size_t len) {
  xs_buf out;
  xs_buf_init(&out);
  if (xs_buf_append(&out, body, len) != 0) {
    xs_buf_free(&out);
    return MHD_NO;
  }
  return queue(h, c, r, status, &out, json_type, NULL, NULL);
}

static enum MHD_Result queue_error(xs_http *h, struct MHD_Connection *c,
                                   req_state *r, const xs_error *err) {
  xs_buf out;
  xs_buf_init(&out);
  const int status = xs_error_http_status(err->kind);
  if (xs_error_write(err, &out) != 0) {
    xs_buf_free(&out);
    return MHD_NO;
  }
  const char *hname = NULL;
  const char *hvalue = NULL;
  char allow[32];
  if (err->kind == XS_ERR_METHOD_NOT_ALLOWED) {
    hname = MHD_HTTP_HEADER_ALLOW;
    snprintf(allow, sizeof allow, "%s",
             r->route == XS_ROUTE_LOSS || r->route == XS_ROUTE_TARGETS
                 ? "POST"
                 : "GET, HEAD");
    hvalue = allow;
  } else if (err->kind == XS_ERR_SHUTTING_DOWN ||
             err->kind == XS_ERR_OVERLOADED) {
    hname = MHD_HTTP_HEADER_RETRY_AFTER;
    hvalue = "1";
  }
  return queue(h, c, r, status, &out, json_type, hname, hvalue);
}

static int is_chunked(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te != NULL && strstr(te, "chunked") != NULL;
}

/* Judges a request from its headers alone (first call). */
static void judge_headers(xs_http *h, struct MHD_Connection *c, const char *url,
                          const char *method, req_state *r) {
  const route_def *def = NULL;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (strcmp(routes[i].path, url) == 0) {
      def = &routes[i];
      break;
    }
  }
  if (def == NULL) {
    r->route = XS_ROUTE_OTHER;
    set_error(&r->err, XS_ERR_NOT_FOUND,
              "no such path; GET /v1 lists the endpoints");
    return;
  }
  r->route = def->route;
  if (def->kind == ROUTE_GET) {
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
      set_error(&r->err, XS_ERR_METHOD_NOT_ALLOWED,
                "%s takes GET or HEAD, not %.16s", def->path, method);
    }
    return;
  }
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
    set_error(&r->err, XS_ERR_METHOD_NOT_ALLOWED, "%s takes POST, not %.16s",
              def->path, method);
    return;
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL) {
    errno = 0;
    char *end = NULL;
    const unsigned long long n = strtoull(cl, &end, 10);
    const int bad = errno != 0 || end == cl || *end != '\0';
    if (bad || n > h->cfg.max_body_bytes) {
      set_error(&r->err, XS_ERR_PAYLOAD_TOO_LARGE,
                "the body is over the limit of %llu bytes (--max-body-bytes)",
                (unsigned long long)h->cfg.max_body_bytes);
      return;
    }
  }
  if (cl == NULL && !is_chunked(c)) {
    set_error(&r->err, XS_ERR_LENGTH_REQUIRED,
              "a POST needs Content-Length (or a chunked body)");
    return;
  }
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!is_json_type(ct)) {
    set_error(&r->err, XS_ERR_UNSUPPORTED_MEDIA,
              "send the body as Content-Type: application/json");
    return;
  }
  /* Bounds the bodies held at once (each up to --max-body-bytes). */
  const unsigned n = atomic_fetch_add(&h->compute_in_flight, 1u);
  if (n >= h->cfg.max_in_flight) {
    atomic_fetch_sub(&h->compute_in_flight, 1u);
    set_error(&r->err, XS_ERR_OVERLOADED,
              "%u requests are in flight (--max-in-flight); retry later", n);
    return;
  }
  r->counted = 1;
}

/* Takes one piece of body: kept for a request that is fine, dropped (but
 * counted) for one that already failed. */
static void take_body(xs_http *h, req_state *r, const char *data, size_t n) {
  r->bytes_in += n;
  if (r->bytes_in > h->cfg.max_body_bytes) {
    if (r->err.kind == XS_ERR_NONE) {
      set_error(&r->err, XS_ERR_PAYLOAD_TOO_LARGE,
                "the body is over the limit of %llu bytes (--max-body-bytes)",
                (unsigned long long)h->cfg.max_body_bytes);
    }
    xs_buf_free(&r->body);
    xs_buf_init(&r->body);
    return;
  }
  const int keep = r->route == XS_ROUTE_LOSS || r->route == XS_ROUTE_TARGETS;
  if (r->err.kind != XS_ERR_NONE || !keep) {
    return;
  }
  if (xs_buf_append(&r->body, data, n) != 0) {
    set_error(&r->err, XS_ERR_INTERNAL, "out of memory reading the body");
    xs_buf_free(&r->body);
    xs_buf_init(&r->body);
  }
}

static enum MHD_Result answer_compute(xs_http *h, struct MHD_Connection *c,
                                      req_state *r) {
  xs_request req;
  xs_error err;
  xs_buf out;
  memset(&req, 0, sizeof req);
  memset(&err, 0, sizeof err);
  xs_buf_init(&out);
  const char *body = r->body.data != NULL ? r->body.data : "";
  const int loss = r->route == XS_ROUTE_LOSS;
  int rc = loss ? xs_parse_loss(body, r->body.len, &h->limits, &req, &err)
                : xs_parse_targets(body, r->body.len, &h->limits, &req, &err);
  /* The parsed request owns what it needs; the text can go now. */
  xs_buf_free(&r->body);
  xs_buf_init(&r->body);
  if (rc == 0) {
    rc =
        loss ? xs_run_loss(&req, &out, &err) : xs_run_targets(&req, &out, &err);
    if (rc == 0) {
      xs_metrics_add_rows(req.problem.n);
    }
    xs_request_free(&req);
  }
  if (rc != 0) {
    xs_buf_free(&out);
    if (err.kind == XS_ERR_NONE) {
      set_error(&err, XS_ERR_INTERNAL, "the request failed without a reason");
    }
    return queue_error(h, c, r, &err);
  }
  return queue(h, c, r, 200, &out, json_type, NULL, NULL);
}

static enum MHD_Result answer(xs_http *h, struct MHD_Connection *c,
                              req_state *r) {
  if (r->err.kind != XS_ERR_NONE) {
    return queue_error(h, c, r, &r->err);
  }
  switch (r->route) {
  case XS_ROUTE_LOSS:
  case XS_ROUTE_TARGETS:
    return answer_compute(h, c, r);
  case XS_ROUTE_READYZ:
    if (atomic_load_explicit(&h->draining, memory_order_relaxed)) {
      xs_error err;
      set_error(&err, XS_ERR_SHUTTING_DOWN, "xentd is shutting down");
      return queue_error(h, c, r, &err);
    }
    return queue_static(h, c, r, 200, h->health_body, h->health_len);
  case XS_ROUTE_HEALTHZ:
    return queue_static(h, c, r, 200, h->health_body, h->health_len);
  case XS_ROUTE_V1:
    return queue_static(h, c, r, 200, h->info_body, h->info_len);
  case XS_ROUTE_METRICS: {
    xs_buf out;
    xs_buf_init(&out);
    if (xs_metrics_render(&out) != 0) {
      xs_buf_free(&out);
      xs_error err;
      set_error(&err, XS_ERR_INTERNAL, "out of memory printing the metrics");
      return queue_error(h, c, r, &err);
    }
    return queue(h, c, r, 200, &out, metrics_type, NULL, NULL);
  }
  case XS_ROUTE_OTHER:
  case XS_ROUTE_COUNT:
    break;
  }
  xs_error err;
  set_error(&err, XS_ERR_NOT_FOUND,
            "no such path; GET /v1 lists the endpoints");
  return queue_error(h, c, r, &err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
  (void)version;
  xs_http *h = cls;
  req_state *r = *req_cls;
  if (r == NULL) {
    r = calloc(1, sizeof *r);
    if (r == NULL) {
      return MHD_NO;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    xs_buf_init(&r->body);
    copy_field(r->method, sizeof r->method, method);
    copy_field(r->path, sizeof r->path, url);
    *req_cls = r;
    xs_metrics_request_begin();
    judge_headers(h, c, url, method, r);
    if (r->err.kind == XS_ERR_PAYLOAD_TOO_LARGE) {
      /* Refused before reading: the connection closes after the answer. */
      return queue_error(h, c, r, &r->err);
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    take_body(h, r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    /* libmicrohttpd 0.9.75 cannot answer while the body is still coming:
     * a chunked body past the limit is dropped as it arrives, and answered
     * 413 when it ends; a client that keeps sending past twice the limit is
     * disconnected without an answer. */
    if (r->bytes_in / 2 > h->cfg.max_body_bytes) {
      return MHD_NO;
    }
    return MHD_YES;
  }
  return answer(h, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c;
  (void)toe;
  xs_http *h = cls;
  req_state *r = *req_cls;
  if (r == NULL) {
    return;
  }
  if (r->counted) {
    atomic_fetch_sub(&h->compute_in_flight, 1u);
  }
  const double seconds = seconds_since(&r->t0);
  xs_metrics_request_end(r->route, r->status, r->bytes_in, r->bytes_out,
                         seconds);
  if (h->cfg.access_log) {
    const xs_access_entry e = {r->method,   r->path,      r->status,
                               r->bytes_in, r->bytes_out, seconds * 1e3};
    xs_log_access(&e);
  }
  xs_buf_free(&r->body);
  free(r);
  *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* Printed by 0.9.75 whenever a thread pool is used, even with the logger
   * given first; it says nothing about this daemon. */
  if (strncmp(msg, "MHD_OPTION_EXTERNAL_LOGGER is not the first", 43) == 0) {
    return;
  }
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
    msg[--n] = '\0';
  }
  xs_log_error("libmicrohttpd: %s", msg);
}

static void build_bodies(xs_http *h) {
  const char *version = xent_version_string();
  int n = snprintf(h->health_body, sizeof h->health_body,
                   "{\"status\":\"ok\",\"version\":\"%s\"}", version);
  h->health_len = n > 0 ? (size_t)n : 0;
  n = snprintf(
      h->info_body, sizeof h->info_body,
      "{\"name\":\"xent\",\"version\":\"%s\",\"kernel\":\"%s\","
      "\"limits\":{\"max_body_bytes\":%llu,\"max_elements\":%llu,"
      "\"max_rows\":%llu,\"max_in_flight\":%llu,\"timeout_seconds\":%llu},"
      "\"endpoints\":[\"POST /v1/loss\",\"POST /v1/targets\",\"GET /v1\","
      "\"GET /healthz\",\"GET /readyz\",\"GET /metrics\"],"
      "\"content_types\":[\"application/json\"],"
      "\"options\":{\"outputs\":[\"loss\",\"per_sample\",\"grad\","
      "\"targets\",\"probs\",\"stats\"],"
      "\"reduction\":[\"mean\",\"sum\",\"none\"],"
      "\"smoothing\":[\"uniform\",\"others\"],"
      "\"mixup_pairing\":[\"flip\",\"roll\"],"
      "\"precision\":[\"float64\",\"float32\"]}}",
      version, xent_kernel_name(xent_kernel_best()),
      (unsigned long long)h->cfg.max_body_bytes,
      (unsigned long long)h->cfg.max_elements,
      (unsigned long long)h->cfg.max_rows,
      (unsigned long long)h->cfg.max_in_flight,
      (unsigned long long)h->cfg.timeout);
  h->info_len = n > 0 ? (size_t)n : 0;
}

xs_http *xs_http_start(const xs_config *cfg, char *err, size_t err_size) {
  xs_http *h = calloc(1, sizeof *h);
  if (h == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  h->cfg = *cfg;
  h->limits.max_elements = (size_t)cfg->max_elements;
  h->limits.max_rows = (size_t)cfg->max_rows;
  h->quiesced_fd = MHD_INVALID_SOCKET;
  atomic_init(&h->draining, 0);
  atomic_init(&h->compute_in_flight, 0u);
  build_bodies(h);

  struct sockaddr_in sa4;
  struct sockaddr_in6 sa6;
  const struct sockaddr *sa;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  memset(&sa4, 0, sizeof sa4);
  memset(&sa6, 0, sizeof sa6);
  if (inet_pton(AF_INET, cfg->bind, &sa4.sin_addr) == 1) {
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons((uint16_t)cfg->port);
    sa = (const struct sockaddr *)&sa4;
  } else if (inet_pton(AF_INET6, cfg->bind, &sa6.sin6_addr) == 1) {
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons((uint16_t)cfg->port);
    sa = (const struct sockaddr *)&sa6;
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, err_size, "--bind '%s' is not a numeric address", cfg->bind);
    free(h);
    return NULL;
  }

  const unsigned threads = xs_config_threads(cfg);
  h->daemon = MHD_start_daemon(
      flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_SOCK_ADDR, sa,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->timeout,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_log, h, MHD_OPTION_END);
  if (h->daemon == NULL) {
    snprintf(err, err_size, "cannot listen on %s port %llu (in use?)",
             cfg->bind, (unsigned long long)cfg->port);
    free(h);
    return NULL;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info != NULL ? info->port : (unsigned)cfg->port;
  return h;
}

unsigned xs_http_port(const xs_http *h) {
  return h->port;
}

void xs_http_drain(xs_http *h) {
  if (atomic_exchange(&h->draining, 1) == 0) {
    h->quiesced_fd = MHD_quiesce_daemon(h->daemon);
  }
}

int64_t xs_http_in_flight(const xs_http *h) {
  (void)h;
  return xs_metrics_in_flight();
}

void xs_http_stop(xs_http *h) {
  if (h == NULL) {
    return;
  }
  MHD_stop_daemon(h->daemon);
  if (h->quiesced_fd != MHD_INVALID_SOCKET) {
    close(h->quiesced_fd);
  }
  free(h);
}
