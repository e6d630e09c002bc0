/*
 * metrics.h - xentd's counters, exported at GET /metrics in the Prometheus
 * text format 0.0.4. They live in the daemon's handle (one xs_metrics per
 * xs_http); every update is a relaxed atomic add: no lock is taken on the
 * request path.
 */
#ifndef XENTD_METRICS_H
#define XENTD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "codec.h"

/* The routes, as the `route` label names them. */
typedef enum xs_route {
  XS_ROUTE_LOSS = 0,
  XS_ROUTE_TARGETS,
  XS_ROUTE_EVAL_METRICS, /* POST /v1/metrics                         */
  XS_ROUTE_EVAL_MERGE,   /* POST /v1/metrics/merge                   */
  XS_ROUTE_EVAL_REPORT,  /* POST /v1/metrics/report                  */
  XS_ROUTE_HEALTHZ,
  XS_ROUTE_READYZ,
  XS_ROUTE_METRICS,
  XS_ROUTE_V1,
  XS_ROUTE_V2_INFER, /* POST /v2/models/<model>[/versions/<v>]/infer */
  XS_ROUTE_V2,       /* the other /v2 routes: metadata, health     */
  XS_ROUTE_OTHER,    /* every path that is not a route (404)       */
  XS_ROUTE_COUNT
} xs_route;

/* "loss", "targets", "healthz", "readyz", "metrics", "v1", "v2_infer",
 * "v2", "other". */
const char *xs_route_name(xs_route route);

enum { XS_STATUS_MIN = 100, XS_STATUS_MAX = 599 };
enum { XS_STATUS_SLOTS = XS_STATUS_MAX - XS_STATUS_MIN + 1 };
enum { XS_LATENCY_BUCKETS = 14 };

typedef struct xs_metrics {
  atomic_uint_fast64_t requests[XS_ROUTE_COUNT][XS_STATUS_SLOTS];
  /* Non-cumulative: the last slot counts what is above the last bound. */
  atomic_uint_fast64_t duration_bucket[XS_ROUTE_COUNT][XS_LATENCY_BUCKETS + 1];
  atomic_uint_fast64_t duration_ns[XS_ROUTE_COUNT];
  atomic_uint_fast64_t bytes_in_total;
  atomic_uint_fast64_t bytes_out_total;
  atomic_uint_fast64_t rows_total;
  atomic_int_fast64_t in_flight;
} xs_metrics;

/* The gauges the HTTP layer keeps itself, read when rendering. */
typedef struct xs_gauges {
  uint64_t compute_in_flight; /* compute slots taken (--max-in-flight) */
  uint64_t memory_reserved;   /* bytes of the budget taken             */
  uint64_t memory_budget;     /* --max-memory                          */
  uint64_t memory_spare;      /* resident bytes of kept freed blocks   */
} xs_gauges;

/* Zeroes every counter. */
void xs_metrics_init(xs_metrics *m);

/* A request started (in flight + 1). */
void xs_metrics_request_begin(xs_metrics *m);
/* A request's answer was queued with this status: counted by route and code
 * before the first byte leaves, so a client that has its answer finds it
 * counted at GET /metrics. */
void xs_metrics_answered(xs_metrics *m, xs_route route, int status);
/* A request ended (in flight - 1): its bytes and duration. */
void xs_metrics_request_end(xs_metrics *m, xs_route route, uint64_t bytes_in,
                            uint64_t bytes_out, double seconds);
void xs_metrics_add_rows(xs_metrics *m, uint64_t rows);
int64_t xs_metrics_in_flight(const xs_metrics *m);

/* Prints every metric into out. Returns 0, or -1 when out of memory. */
int xs_metrics_render(const xs_metrics *m, const xs_gauges *g, xs_buf *out);

#endif /* XENTD_METRICS_H */
