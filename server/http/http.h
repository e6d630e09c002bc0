/*
 * http.h - xentd's HTTP layer: a libmicrohttpd daemon (thread pool, epoll)
 * that routes requests, enforces the body limit, calls the codec (codec.h)
 * and answers every failure with the codec's one error body.
 */
#ifndef XENTD_HTTP_H
#define XENTD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct xs_http xs_http;

/* Starts listening and serving on cfg's address with cfg's limits (cfg is
 * copied). Returns NULL with a one-line reason in err on failure. */
xs_http *xs_http_start(const xs_config *cfg, char *err, size_t err_size);

/* The TCP port actually bound (useful with port 0). */
unsigned xs_http_port(const xs_http *h);

/* Starts the graceful shutdown: /readyz and /v2/health/ready answer 503
 * from now on and answers carry "Connection: close"; requests are still
 * served (--drain-delay lets a load balancer take the replica out). */
void xs_http_drain(xs_http *h);

/* Then: the listener is to close. Those already in the listen backlog are
 * still taken (and served, unless past --max-connections), every
 * connection that has not begun a request is awaited, and a later request
 * on a kept-alive connection gets 503 shutting_down with "Connection:
 * close". Returns at once. */
void xs_http_close_listener(xs_http *h);
/* Polled after xs_http_close_listener, from the same thread: 1 once the
 * backlog has been taken, the listener shut, and every connection accepted
 * is known (busy if it must be waited for); 0 until then. */
int xs_http_listener_closed(xs_http *h);

/* SIGHUP: reads the certificate, key and tokens again; what cannot be
 * read is kept as it was (with a log line). Connections stay up. */
void xs_http_reload(xs_http *h);

/* Connections with a request begun (request line in) and not yet
 * answered, or a first request awaited at shutdown. */
uint64_t xs_http_busy(const xs_http *h);

/* Stops the daemon (closing every connection) and frees h; NULL is fine. */
void xs_http_stop(xs_http *h);

#endif /* XENTD_HTTP_H */
