/*
 * metrics.h - xentd's counters, exported at GET /metrics in the Prometheus
 * text format 0.0.4. Every update is a relaxed atomic add: no lock is taken
 * on the request path.
 */
#ifndef XENTD_METRICS_H
#define XENTD_METRICS_H

#include <stdint.h>

#include "codec.h"

/* The routes, as the `route` label names them. */
typedef enum xs_route {
  XS_ROUTE_LOSS = 0,
  XS_ROUTE_TARGETS,
  XS_ROUTE_HEALTHZ,
  XS_ROUTE_READYZ,
  XS_ROUTE_METRICS,
  XS_ROUTE_V1,
  XS_ROUTE_OTHER, /* every path that is not a route (404) */
  XS_ROUTE_COUNT
} xs_route;

/* "loss", "targets", "healthz", "readyz", "metrics", "v1", "other". */
const char *xs_route_name(xs_route route);

/* A request started (in flight + 1). */
void xs_metrics_request_begin(void);
/* A request ended (in flight - 1). status 0 (no answer) is not counted by
 * code; bytes and duration are. */
void xs_metrics_request_end(xs_route route, int status, uint64_t bytes_in,
                            uint64_t bytes_out, double seconds);
void xs_metrics_add_rows(uint64_t rows);
int64_t xs_metrics_in_flight(void);

/* Prints every metric into out. Returns 0, or -1 when out of memory. */
int xs_metrics_render(xs_buf *out);

#endif /* XENTD_METRICS_H */
