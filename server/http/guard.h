/*
 * guard.h - deadlines for the phases of a connection, which libmicrohttpd
 * 0.9.75 does not have (its --timeout is an idle timeout that every byte
 * restarts, so a client sending one byte every two seconds is never
 * closed).
 *
 * Every connection is registered when it opens and carries a phase:
 *   IDLE     waiting for a request line: at most --timeout seconds in all,
 *            however steadily bytes come;
 *   HEADERS  the request line is in (or, at shutdown, a first request is
 *            awaited): the headers within --header-timeout;
 *   BODY     the headers are in: the body within --body-timeout;
 *   BUSY     the request is complete: computing and answering (no
 *            deadline: the client reads at its own pace under the idle
 *            timeout).
 * A reaper thread looks at the deadlines a few times a second and shuts a
 * late connection's socket down (shutdown(2), not close: the descriptor
 * stays libmicrohttpd's, which then closes the connection itself). A
 * connection is unregistered when libmicrohttpd reports it closed, which
 * it does before it closes the descriptor; the table's lock orders the two,
 * so a descriptor is never shut down after it has been reused.
 */
#ifndef XENTD_GUARD_H
#define XENTD_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef enum xs_phase {
  XS_PHASE_IDLE = 0,
  XS_PHASE_HEADERS,
  XS_PHASE_BODY,
  XS_PHASE_BUSY,
  XS_PHASE_COUNT
} xs_phase;

typedef struct xs_guard xs_guard;
typedef struct xs_guard_conn xs_guard_conn;

/* Deadlines in seconds (0: none) for IDLE, HEADERS and BODY. Starts the
 * reaper thread; NULL when it cannot. */
xs_guard *xs_guard_new(double idle, double headers, double body);
/* Stops the reaper and frees the table; NULL is fine. */
void xs_guard_free(xs_guard *g);

/* A connection whose first request is awaited counts as busy, under the
 * headers' deadline, before any byte of it came (one taken from the listen
 * backlog at shutdown); it is not counted as a request. */
void xs_guard_await(xs_guard *g, xs_guard_conn *c);
/* xs_guard_await on every connection that is IDLE before its first request
 * (its client may have sent one that is not read yet). */
void xs_guard_await_unused(xs_guard *g);
/* known[fd] = 1 for the socket fd of every registered connection, fd < n. */
void xs_guard_mark(xs_guard *g, unsigned char *known, size_t n);

/* A connection opened on socket fd: registered in IDLE. */
xs_guard_conn *xs_guard_open(xs_guard *g, int fd);
/* Its phase from now on (the deadline runs from now). */
void xs_guard_phase(xs_guard *g, xs_guard_conn *c, xs_phase phase);
/* Requests begun on it before this one (0 for the first). */
uint64_t xs_guard_requests(const xs_guard_conn *c);
/* It closed (NULL is fine). */
void xs_guard_close(xs_guard *g, xs_guard_conn *c);

/* Connections open; those with a request begun (HEADERS, BODY or BUSY);
 * connections shut down for a deadline, by the phase they were in. */
uint64_t xs_guard_open_count(xs_guard *g);
uint64_t xs_guard_busy_count(xs_guard *g);
uint64_t xs_guard_timeouts(xs_guard *g, xs_phase phase);

#endif /* XENTD_GUARD_H */
