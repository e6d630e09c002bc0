/*
 * hostile.h - raw-socket helpers of the hostile-client tests (slow clients,
 * framing, shutdown, tokens): requests written byte for byte, answers read
 * and parsed by hand (status, every header, a Content-Length or chunked
 * body, the bytes after it), the moment a connection closes, the daemon's
 * gauges and log, and the kernel's view of a socket (/proc/net/tcp).
 *
 * Nothing here waits a fixed time: every wait is a bounded poll for an
 * event (bytes, a close, a gauge value, a log line).
 */
#ifndef XT_HOSTILE_H
#define XT_HOSTILE_H

#include <check.h>
#include <stddef.h>

#include "daemon.h"
#include "http_util.h"

/* Monotonic seconds. */
double xh_now(void);

/* Appends n bytes (which may hold NULs) to s. */
void xh_add_bytes(xt_str *s, const void *data, size_t n);

/* A TCP connection to base ("http://127.0.0.1:PORT") from the local
 * address src (NULL: the kernel picks), or -1. */
int xh_connect(const char *base, const char *src);

/* The local port of a connected socket, or -1. */
int xh_local_port(int fd);

/* One answer read off a socket. */
typedef struct xh_answer {
  int status;   /* 0 until a whole answer has been read            */
  int chunked;  /* it came with Transfer-Encoding: chunked          */
  xt_str head;  /* status line and headers, blank line excluded     */
  xt_str body;  /* the body (a chunked one decoded)                 */
  xt_str rest;  /* bytes that came after the answer                 */
  json_t *json; /* the body parsed, or NULL                        */
} xh_answer;

void xh_answer_free(xh_answer *a);

/* Reads one answer from fd within timeout_ms: a head, then a body of
 * Content-Length bytes, a chunked body, or (neither) the bytes up to the
 * close. Bytes already read past the answer land in a->rest. Returns the
 * status, or 0 when no whole answer came (a->head and a->rest hold what
 * did). */
int xh_read_answer(int fd, int timeout_ms, xh_answer *a);

/* The value of header `name` in a->head (case-insensitive), copied into
 * buf; NULL when absent. */
const char *xh_header(const xh_answer *a, const char *name, char *buf,
                      size_t size);

/* "code" of a /v1 error body ({"error": {"code": ...}}), "" when absent. */
const char *xh_error_code(const xh_answer *a);

/* Writes "METHOD PATH HTTP/1.1", Host, the header lines of `headers`
 * ("Name: value", NULL-terminated; may be NULL) and, when body is not
 * NULL, Content-Length and the body. 0, or -1 when the peer is gone. */
int xh_send_request(int fd, const char *method, const char *path,
                    const char *const *headers, const char *body, size_t len);

/* A request on a connection of its own: connect, send, read the answer
 * (timeout 30 s), close. Returns the status (0: no whole answer). */
int xh_roundtrip(const char *base, const char *method, const char *path,
                 const char *const *headers, const char *body, size_t len,
                 xh_answer *a);

/* Waits up to timeout_ms for the peer to close fd (EOF or reset),
 * appending whatever comes to got (may be NULL). 1 closed, 0 still open. */
int xh_wait_closed(int fd, int timeout_ms, xt_str *got);

/* Is fd still open and silent (no byte, no close) right now? */
int xh_open_and_silent(int fd);

/* Sends data one byte every interval_ms (a slow client), watching for the
 * peer to close between bytes; stops at the close, or once limit_ms have
 * passed since the start (after the last byte it keeps watching until
 * then; limit_ms 0: it returns at the last byte). Returns the
 * monotonic second (xh_now) at which the close was seen, or -1 when the
 * connection stayed open. Bytes received are appended to got (may be
 * NULL). */
double xh_trickle(int fd, const char *data, size_t len, int interval_ms,
                  int limit_ms, xt_str *got);

/* A metric from GET /metrics, summed over its label sets; token (may be
 * NULL) goes as a bearer token. NAN when absent or unreachable. */
double xh_metric(const char *base, const char *name, const char *token);

/* Polls GET /metrics until `name` reads want: 1, or 0 after timeout_ms
 * (the last value read in *last, when not NULL). */
int xh_wait_metric(const char *base, const char *name, double want,
                   int timeout_ms, double *last);

/* The daemon's whole stderr log so far (free it); never NULL. */
char *xh_log(const xt_daemon *d);

/* Times text occurs in the daemon's log. */
int xh_log_count(const xt_daemon *d, const char *text);

/* Polls the daemon's log until text occurs `times` times: 1, or 0 after
 * timeout_ms. */
int xh_wait_log(const xt_daemon *d, const char *text, int times,
                int timeout_ms);

/* From /proc/net/tcp: the receive queue of the IPv4 socket on local port
 * lport whose peer is on port rport; rport 0 means the listening socket,
 * whose queue is its accept backlog. -1 when there is no such socket. */
long xh_tcp_rx_queue(int lport, int rport);
/* The state (/proc/net/tcp: 1 ESTABLISHED, 3 SYN_RECV, ...) of the socket
 * with local port lport and remote port rport, or -1. */
int xh_tcp_state(int lport, int rport);

/* Writes text to path (replacing it through a temporary file and a
 * rename, so a reader never sees half of it). 0 or -1. */
int xh_write_file(const char *path, const char *text);

/* A daemon shared by a test case's fixture: started with args (the process
 * exits 1 when it cannot start), and stopped with SIGTERM; an exit status
 * other than 0 is remembered and fails xh_run_suite. */
void xh_shared_start(xt_daemon *d, const char *const *args);
void xh_shared_stop(xt_daemon *d);

/* The main() of a hostile-client test: runs s, and returns EXIT_SUCCESS
 * when every test passed and every shared daemon exited 0. These tests
 * start daemons of their own; XENT_URL is noted and ignored. */
int xh_run_suite(const char *prog, Suite *s);

#endif /* XT_HOSTILE_H */
