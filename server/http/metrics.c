/*
 * metrics.c - counters behind GET /metrics (see metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "xent.h"

enum {
  STATUS_MIN = XS_STATUS_MIN,
  STATUS_MAX = XS_STATUS_MAX,
  STATUS_SLOTS = XS_STATUS_SLOTS
};

/* Upper bounds of the latency buckets, in seconds; +Inf is implicit. */
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,  0.05,  0.1,    0.25,  0.5,
                                   1.0,    2.5,   5.0,    10.0};
enum { BUCKETS = XS_LATENCY_BUCKETS };
_Static_assert(sizeof bucket_le / sizeof bucket_le[0] == XS_LATENCY_BUCKETS,
               "one bound per bucket");

static const char *const route_names[XS_ROUTE_COUNT] = {"loss",
                                                        "targets",
                                                        "metrics_eval",
                                                        "metrics_merge",
                                                        "metrics_report",
                                                        "healthz",
                                                        "readyz",
                                                        "metrics",
                                                        "v1",
                                                        "v2_infer",
                                                        "v2",
                                                        "other"};

void xs_metrics_init(xs_metrics *m) {
  for (int r = 0; r < XS_ROUTE_COUNT; r++) {
    for (int s = 0; s < STATUS_SLOTS; s++)
      atomic_init(&m->requests[r][s], 0);
    for (int b = 0; b <= BUCKETS; b++)
      atomic_init(&m->duration_bucket[r][b], 0);
    atomic_init(&m->duration_ns[r], 0);
  }
  atomic_init(&m->bytes_in_total, 0);
  atomic_init(&m->bytes_out_total, 0);
  atomic_init(&m->rows_total, 0);
  atomic_init(&m->in_flight, 0);
}

/* A route the table knows, else "other". */
static xs_route known(xs_route route) {
  return (unsigned)route < XS_ROUTE_COUNT ? route : XS_ROUTE_OTHER;
}

const char *xs_route_name(xs_route route) {
  return route_names[known(route)];
}

void xs_metrics_request_begin(xs_metrics *m) {
  atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
}

void xs_metrics_answered(xs_metrics *m, xs_route route, int status) {
  route = known(route);
  if (status >= STATUS_MIN && status <= STATUS_MAX) {
    atomic_fetch_add_explicit(&m->requests[route][status - STATUS_MIN], 1,
                              memory_order_relaxed);
  }
}

void xs_metrics_request_end(xs_metrics *m, xs_route route, uint64_t bytes_in,
                            uint64_t bytes_out, double seconds) {
  route = known(route);
  size_t b = 0;
  while (b < BUCKETS && seconds > bucket_le[b]) {
    b++;
  }
  atomic_fetch_add_explicit(&m->duration_bucket[route][b], 1,
                            memory_order_relaxed);
  const double ns = seconds > 0 ? seconds * 1e9 : 0;
  atomic_fetch_add_explicit(&m->duration_ns[route], (uint_fast64_t)ns,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&m->bytes_in_total, bytes_in, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->bytes_out_total, bytes_out,
                            memory_order_relaxed);
  /* Last, so that a request counted as done is no longer in flight. */
  atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_release);
}

void xs_metrics_add_rows(xs_metrics *m, uint64_t rows) {
  atomic_fetch_add_explicit(&m->rows_total, rows, memory_order_relaxed);
}

int64_t xs_metrics_in_flight(const xs_metrics *m) {
  return (int64_t)atomic_load_explicit(&m->in_flight, memory_order_acquire);
}

static int put(xs_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int put(xs_buf *out, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line) {
    return -1;
  }
  return xs_buf_append(out, line, (size_t)n);
}

static int render_counter(xs_buf *out, const char *name, const char *help,
                          uint64_t value) {
  int rc = put(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  rc |= put(out, "%s %" PRIu64 "\n", name, value);
  return rc;
}

int xs_metrics_render(const xs_metrics *m, const xs_gauges *g, xs_buf *out) {
  int rc = 0;
  rc |= put(out,
            "# HELP xentd_build_info Version of xentd and of the libxent it "
            "runs.\n# TYPE xentd_build_info gauge\n"
            "xentd_build_info{version=\"%s\",kernel=\"%s\"} 1\n",
            xent_version_string(), xent_kernel_name(xent_kernel_best()));

  rc |=
      put(out, "# HELP xentd_requests_total Requests answered, by route "
               "and HTTP status code.\n# TYPE xentd_requests_total counter\n");
  for (int r = 0; r < XS_ROUTE_COUNT; r++) {
    for (int s = 0; s < STATUS_SLOTS; s++) {
      const uint64_t v =
          atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);
      if (v != 0) {
        rc |= put(
            out, "xentd_requests_total{route=\"%s\",code=\"%d\"} %" PRIu64 "\n",
            route_names[r], s + STATUS_MIN, v);
      }
    }
  }

  rc |= put(out, "# HELP xentd_request_duration_seconds Time from the request "
                 "headers to the end of the answer, by route.\n"
                 "# TYPE xentd_request_duration_seconds histogram\n");
  for (int r = 0; r < XS_ROUTE_COUNT; r++) {
    uint64_t counts[BUCKETS + 1];
    uint64_t total = 0;
    for (int b = 0; b <= BUCKETS; b++) {
      counts[b] =
          atomic_load_explicit(&m->duration_bucket[r][b], memory_order_relaxed);
      total += counts[b];
    }
    if (total == 0) {
      continue;
    }
    uint64_t cumulative = 0;
    for (int b = 0; b < BUCKETS; b++) {
      cumulative += counts[b];
      rc |= put(out,
                "xentd_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                "%" PRIu64 "\n",
                route_names[r], bucket_le[b], cumulative);
    }
    const double sum =
        (double)atomic_load_explicit(&m->duration_ns[r], memory_order_relaxed) /
        1e9;
    rc |=
        put(out,
            "xentd_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
            "%" PRIu64 "\n"
            "xentd_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
            "xentd_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
            route_names[r], total, route_names[r], sum, route_names[r], total);
  }

  rc |= render_counter(
      out, "xentd_bytes_in_total", "Request body bytes received.",
      atomic_load_explicit(&m->bytes_in_total, memory_order_relaxed));
  rc |= render_counter(
      out, "xentd_bytes_out_total", "Response body bytes sent.",
      atomic_load_explicit(&m->bytes_out_total, memory_order_relaxed));
  rc |= render_counter(
      out, "xentd_rows_evaluated_total",
      "Batch rows evaluated by /v1/loss and /v1/targets.",
      atomic_load_explicit(&m->rows_total, memory_order_relaxed));
  rc |= put(out,
            "# HELP xentd_requests_in_flight Requests started and not yet "
            "answered.\n# TYPE xentd_requests_in_flight gauge\n"
            "xentd_requests_in_flight %" PRId64 "\n",
            xs_metrics_in_flight(m));
  rc |= put(out,
            "# HELP xentd_compute_in_flight Loss/targets requests holding a "
            "compute place (--max-in-flight).\n"
            "# TYPE xentd_compute_in_flight gauge\n"
            "xentd_compute_in_flight %" PRIu64 "\n",
            g->compute_in_flight);
  rc |= put(out,
            "# HELP xentd_memory_reserved_bytes Bytes of the memory budget "
            "reserved by requests.\n"
            "# TYPE xentd_memory_reserved_bytes gauge\n"
            "xentd_memory_reserved_bytes %" PRIu64 "\n"
            "# HELP xentd_memory_budget_bytes The memory budget "
            "(--max-memory).\n"
            "# TYPE xentd_memory_budget_bytes gauge\n"
            "xentd_memory_budget_bytes %" PRIu64 "\n"
            "# HELP xentd_memory_spare_bytes Resident bytes of the freed "
            "large blocks kept for the next request, outside the budget.\n"
            "# TYPE xentd_memory_spare_bytes gauge\n"
            "xentd_memory_spare_bytes %" PRIu64 "\n",
            g->memory_reserved, g->memory_budget, g->memory_spare);
  return rc != 0 ? -1 : 0;
}
