/*
 * test_shutdown.c - SIGTERM against a real xentd, ordered by what the
 * daemon says (its gauges, its log, /readyz, the kernel's queues), never
 * by sleeping:
 *   - three ~5 MB uploads half sent when the signal comes are all read to
 *     the end and answered 200 (no reset, no broken pipe), then exit 0;
 *   - --drain-delay 2: /readyz answers 503 at once while /v1/loss is still
 *     served (answers say Connection: close); after the delay the listener
 *     closes, and a second request on a connection kept alive from before
 *     gets 503 shutting_down with Connection: close;
 *   - a connection waiting in the kernel's listen backlog when the
 *     listener closes (the one thread of --threads 1 busy on a large
 *     request) is accepted and served; connections there refused for
 *     --max-connections do not keep the listener open;
 *   - a connection accepted before SIGTERM that has sent no request yet
 *     is not closed as idle: its request, sent after the listener closed,
 *     is answered 200;
 *   - one that never sends holds the drain for --shutdown-timeout, no
 *     longer (the log names it), or until a second SIGTERM; exit 0;
 *   - a connection accepted but not yet announced to xentd's callbacks
 *     when the listener closes (the accepting thread held there by an
 *     LD_PRELOAD shim, hold_accept.c) is awaited and answered 200;
 *   - SIGTERM while clients keep opening connections: every answer is the
 *     right 200 or 503 shutting_down, a connection without an answer was
 *     reset (from the listen backlog), never closed after its request was
 *     read, and xentd exits 0 (under ThreadSanitizer this is where closing
 *     the listening socket raced libmicrohttpd's thread).
 */
#include <check.h>
#include <errno.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "daemon.h"
#include "hostile.h"
#include "http_util.h"

static const char small_body[] = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";
static const char *const json_ct[] = {"Content-Type: application/json", NULL};

static double small_loss(void) {
  return log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
}

static const char no_new[] = "no new connections";

/* A /v1/loss body of rows x classes logits all 0.25, asking for the loss
 * only: every row's loss is ln(classes), and so is the mean. */
static void flat_body(xt_str *b, int rows, int classes) {
  xt_str_add(b, "{\"outputs\": [\"loss\"], \"targets\": [0");
  for (int i = 1; i < rows; i++)
    xt_str_addf(b, ",%d", i % classes);
  xt_str_add(b, "], \"logits\": [");
  for (int i = 0; i < rows; i++) {
    xt_str_add(b, i > 0 ? ",[0.25" : "[0.25");
    for (int j = 1; j < classes; j++)
      xt_str_add(b, ",0.25");
    xt_str_add(b, "]");
  }
  xt_str_add(b, "]}");
}

static void assert_loss(const xh_answer *a, double want, const char *what) {
  const double loss = xt_jnum(json_object_get(a->json, "loss"));
  ck_assert_msg(xt_close(loss, want, 1e-12, 1e-12),
                "%s: loss %.17g, expected %.17g (body %.200s)", what, loss,
                want, a->body.data);
}

static int says_close(const xh_answer *a) {
  char value[64];
  return xh_header(a, "Connection", value, sizeof value) != NULL &&
         strcmp(value, "close") == 0;
}

/* The daemon logs `text` within ms milliseconds. */
static void assert_log(const xt_daemon *d, const char *text, int ms) {
  ck_assert_msg(xh_wait_log(d, text, 1, ms), "no \"%s\" log line", text);
}

/* The daemon exits 0 within a minute. */
static void assert_exit_0(xt_daemon *d) {
  const int status = xt_daemon_wait(d, 60000);
  ck_assert_msg(status == 0, "exit status %d", status);
}

/* `what` was answered 200; otherwise the failure carries xentd's log, once
 * the daemon is gone (it has nothing left to do). */
static void assert_200(const xt_daemon *d, int status, const xh_answer *a,
                       const char *what) {
  if (status == 200)
    return;
  xh_wait_log(d, "info stopped", 1, 20000);
  char *log = xh_log(d);
  ck_assert_msg(0, "%s: status %d (%zu bytes came: %.200s); xentd's log:\n%s",
                what, status, a->rest.len, a->rest.data ? a->rest.data : "",
                log);
  free(log);
}

/* xentd whose own deadlines cannot fire under load (--header-timeout
 * 3600), with --shutdown-timeout `timeout`; --threads 1 when one_thread. */
static void start_patient(xt_daemon *d, const char *timeout, int one_thread) {
  const char *const args[] = {"--header-timeout",
                              "3600",
                              "--shutdown-timeout",
                              timeout,
                              "--access-log",
                              "off",
                              one_thread ? "--threads" : NULL,
                              "1",
                              NULL};
  ck_assert_int_eq(xt_daemon_start(d, args, 10000), 0);
}

/* Connecting fails with ECONNREFUSED: nothing listens any more. */
static void assert_refused(const char *base) {
  const int fd = xh_connect(base, NULL);
  const int err = errno;
  if (fd >= 0)
    close(fd);
  ck_assert_msg(fd < 0 && err == ECONNREFUSED,
                "a new connection after the listener closed: %s",
                fd >= 0 ? "accepted by the kernel" : strerror(err));
}

/* Three uploads of about 5 MB each are half sent when SIGTERM comes. The
 * listener closes; each upload is sent to its end without a reset or a
 * broken pipe and answered 200 with its own loss; xentd exits 0. */
START_TEST(test_uploads_finish) {
  static const char *const args[] = {"--shutdown-timeout", "60", "--access-log",
                                     "off", NULL};
  enum { UPLOADS = 3 };
  static const int rows[UPLOADS] = {500, 400, 250};
  static const int classes[UPLOADS] = {2000, 2500, 4000};
  xt_daemon d;
  xt_str body[UPLOADS] = {{0}};
  int fd[UPLOADS];
  double reserved = 0;
  double got;
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  for (int k = 0; k < UPLOADS; k++) {
    flat_body(&body[k], rows[k], classes[k]);
    xt_str head = {0};
    xt_str_addf(&head,
                "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                body[k].len);
    fd[k] = xh_connect(d.url, NULL);
    ck_assert_msg(fd[k] >= 0, "cannot connect");
    ck_assert_int_eq(xt_raw_send(fd[k], head.data, head.len), 0);
    ck_assert_int_eq(xt_raw_send(fd[k], body[k].data, body[k].len / 2), 0);
    reserved += 4.0 * (double)body[k].len; /* the estimate of each */
    xt_str_free(&head);
  }
  /* All three begun, their headers judged (each reserved its estimate). */
  ck_assert_msg(xh_wait_metric(d.url, "xentd_requests_in_flight", UPLOADS + 1,
                               20000, &got),
                "xentd_requests_in_flight reads %g", got);
  ck_assert_msg(xh_wait_metric(d.url, "xentd_memory_reserved_bytes", reserved,
                               20000, &got),
                "xentd_memory_reserved_bytes reads %g, not %g", got, reserved);
  xt_daemon_signal(&d, SIGTERM);
  assert_log(&d, no_new, 20000);
  assert_refused(d.url);
  for (int k = 0; k < UPLOADS; k++) {
    const size_t half = body[k].len / 2;
    const int rc = xt_raw_send(fd[k], body[k].data + half, body[k].len - half);
    ck_assert_msg(rc == 0,
                  "upload %d: the rest of the body could not be "
                  "sent: %s",
                  k, strerror(errno));
  }
  for (int k = 0; k < UPLOADS; k++) {
    xh_answer a;
    char what[64];
    const int status = xh_read_answer(fd[k], 60000, &a);
    snprintf(what, sizeof what, "upload %d (%d x %d, %zu bytes)", k, rows[k],
             classes[k], body[k].len);
    ck_assert_msg(status == 200, "%s: status %d %.300s", what, status,
                  a.rest.data ? a.rest.data : "");
    assert_loss(&a, log((double)classes[k]), what);
    ck_assert_msg(says_close(&a), "%s: no Connection: close while draining",
                  what);
    printf("shutdown: %s begun before SIGTERM: 200, loss %.17g = ln(%d)\n",
           what, xt_jnum(json_object_get(a.json, "loss")), classes[k]);
    xh_answer_free(&a);
    close(fd[k]);
    xt_str_free(&body[k]);
  }
  assert_exit_0(&d);
}
END_TEST

/* --drain-delay 2. Before SIGTERM, connections A and B each had a request
 * answered and stay open, and U has sent half a POST (a request begun, so
 * the daemon is still finishing work after the delay). After the signal:
 * a fresh /readyz answers 503 (and /v2/health/ready), a fresh POST
 * /v1/loss is answered 200 with Connection: close, so is a second request
 * on A; the listener closes about 2 s after the signal; then B's second
 * request gets 503 shutting_down with Connection: close and Retry-After;
 * U's request is finished and answered 200; xentd exits 0. */
START_TEST(test_drain_delay) {
  static const char *const args[] = {"--drain-delay", "2", "--access-log",
                                     "off", NULL};
  xt_daemon d;
  xh_answer a;
  int keep[2];
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  for (int i = 0; i < 2; i++) {
    keep[i] = xh_connect(d.url, NULL);
    ck_assert_msg(keep[i] >= 0, "cannot connect");
    ck_assert_int_eq(xh_send_request(keep[i], "GET", "/healthz", NULL, NULL, 0),
                     0);
    ck_assert_int_eq(xh_read_answer(keep[i], 10000, &a), 200);
    ck_assert_msg(!says_close(&a), "Connection: close before any signal");
    xh_answer_free(&a);
  }
  xt_str u_head = {0};
  xt_str_addf(&u_head,
              "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
              "%.10s",
              strlen(small_body), small_body);
  const int u = xh_connect(d.url, NULL);
  ck_assert_msg(u >= 0, "cannot connect");
  ck_assert_int_eq(xt_raw_send(u, u_head.data, u_head.len), 0);
  xt_str_free(&u_head);
  double got;
  ck_assert_msg(
      xh_wait_metric(d.url, "xentd_requests_in_flight", 2, 20000, &got),
      "xentd_requests_in_flight reads %g with U begun", got);
  const double t_signal = xh_now();
  xt_daemon_signal(&d, SIGTERM);
  int probes = 0;
  int status = 0;
  for (const double until = xh_now() + 10.0; xh_now() < until;) {
    probes++;
    status = xh_roundtrip(d.url, "GET", "/readyz", NULL, NULL, 0, &a);
    if (status == 503)
      break;
    ck_assert_msg(status == 200, "/readyz: %d", status);
    xh_answer_free(&a);
  }
  ck_assert_msg(status == 503, "/readyz still %d 10 s after SIGTERM", status);
  ck_assert_msg(strcmp(xh_error_code(&a), "shutting_down") == 0,
                "/readyz 503 body: %.200s", a.body.data);
  xh_answer_free(&a);
  status = xh_roundtrip(d.url, "GET", "/v2/health/ready", NULL, NULL, 0, &a);
  ck_assert_msg(
      status == 503 && json_is_string(json_object_get(a.json, "error")),
      "/v2/health/ready while draining: %d %.200s", status, a.body.data);
  xh_answer_free(&a);
  /* Still serving, on a fresh connection and on a kept-alive one. */
  status = xh_roundtrip(d.url, "POST", "/v1/loss", json_ct, small_body,
                        strlen(small_body), &a);
  ck_assert_msg(status == 200, "POST /v1/loss during the drain delay: %d",
                status);
  assert_loss(&a, small_loss(), "during the drain delay");
  ck_assert_msg(says_close(&a), "answer during the drain without "
                                "Connection: close");
  xh_answer_free(&a);
  ck_assert_int_eq(xh_send_request(keep[0], "POST", "/v1/loss", json_ct,
                                   small_body, strlen(small_body)),
                   0);
  status = xh_read_answer(keep[0], 10000, &a);
  ck_assert_msg(status == 200, "kept-alive request during the delay: %d",
                status);
  ck_assert_msg(says_close(&a), "kept-alive answer during the drain without "
                                "Connection: close");
  xh_answer_free(&a);
  ck_assert_msg(xh_wait_closed(keep[0], 5000, NULL),
                "the connection stayed open after Connection: close");
  close(keep[0]);
  /* All of that came before the listener closed. */
  ck_assert_msg(xh_log_count(&d, no_new) == 0,
                "the listener closed before the requests of the drain "
                "delay were sent (%.3f s after the signal): a machine too "
                "busy to tell",
                xh_now() - t_signal);
  const double probed = xh_now() - t_signal;
  assert_log(&d, no_new, 20000);
  const double closed_after = xh_now() - t_signal;
  printf("shutdown: --drain-delay 2: /readyz 503 after %d probe(s); "
         "/v1/loss served 200 until %.3f s; listener closed after %.3f s\n",
         probes, probed, closed_after);
  ck_assert_msg(closed_after >= 2.0 - 0.05 && closed_after <= 2.0 + 1.5,
                "the listener closed %.3f s after SIGTERM, not about 2 s",
                closed_after);
  assert_refused(d.url);
  /* A second request on a connection kept alive from before. */
  ck_assert_int_eq(xh_send_request(keep[1], "GET", "/healthz", NULL, NULL, 0),
                   0);
  status = xh_read_answer(keep[1], 10000, &a);
  char retry[32];
  ck_assert_msg(status == 503, "second request after the delay: %d", status);
  ck_assert_msg(strcmp(xh_error_code(&a), "shutting_down") == 0,
                "503 body: %.200s", a.body.data);
  ck_assert_msg(says_close(&a), "the 503 without Connection: close");
  ck_assert_msg(xh_header(&a, "Retry-After", retry, sizeof retry) != NULL,
                "the 503 without Retry-After");
  ck_assert_msg(xh_wait_closed(keep[1], 5000, NULL),
                "the connection stayed open after the 503");
  printf("shutdown: second request on a kept-alive connection after the "
         "delay: 503 %s, Connection: close, Retry-After: %s\n",
         xh_error_code(&a), retry);
  xh_answer_free(&a);
  close(keep[1]);
  /* U, begun before the signal, is finished and answered. */
  ck_assert_int_eq(xt_raw_send(u, small_body + 10, strlen(small_body) - 10), 0);
  status = xh_read_answer(u, 10000, &a);
  ck_assert_msg(status == 200, "U, begun before the signal: %d", status);
  assert_loss(&a, small_loss(), "U");
  xh_answer_free(&a);
  close(u);
  assert_exit_0(&d);
}
END_TEST

/* A deflate body of rows x classes zeros, loss only: about 47 KB that
 * inflate to 32 MB; parsing them keeps a thread busy for a while. */
static void bomb(xt_str *out, int rows, int classes) {
  xt_str plain = {0};
  xt_str_add(&plain, "{\"outputs\": [\"loss\"], \"targets\": [0");
  for (int i = 1; i < rows; i++)
    xt_str_addf(&plain, ",%d", i % classes);
  xt_str_add(&plain, "], \"logits\": [");
  xt_str row = {0};
  xt_str_add(&row, "[0");
  for (int j = 1; j < classes; j++)
    xt_str_add(&row, ",0");
  xt_str_add(&row, "]");
  for (int i = 0; i < rows; i++) {
    if (i > 0)
      xt_str_add(&plain, ",");
    xt_str_add(&plain, row.data);
  }
  xt_str_add(&plain, "]}");
  uLongf size = compressBound((uLong)plain.len);
  Bytef *z = malloc(size);
  ck_assert_ptr_nonnull(z);
  ck_assert_int_eq(
      compress2(z, &size, (const Bytef *)plain.data, (uLong)plain.len, 9),
      Z_OK);
  xt_str_addf(out,
              "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Encoding: deflate\r\n"
              "Content-Length: %lu\r\n\r\n",
              (unsigned long)size);
  xh_add_bytes(out, z, size);
  free(z);
  xt_str_free(&row);
  xt_str_free(&plain);
}

/* --threads 1: the one thread is busy with a large request (B) when C
 * connects and sends its request; the kernel holds C in the listen
 * backlog (seen in /proc/net/tcp). SIGTERM closes the listener: C is taken
 * from the backlog and served, B is answered, xentd exits 0. */
START_TEST(test_backlog_served) {
  static const char *const args[] = {
      "--threads", "1", "--shutdown-timeout", "60", "--access-log",
      "off",       NULL};
  enum { ROWS = 4000, CLASSES = 4000 };
  xt_daemon d;
  xt_str big = {0};
  xh_answer a;
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  bomb(&big, ROWS, CLASSES);
  const int b = xh_connect(d.url, NULL);
  ck_assert_msg(b >= 0, "cannot connect");
  ck_assert_int_eq(xt_raw_send(b, big.data, big.len), 0);
  /* The daemon's side of B has read every byte: its thread is inflating
   * and parsing them. */
  const int bport = xh_local_port(b);
  long queued = -1;
  for (const double until = xh_now() + 20.0; xh_now() < until;)
    if ((queued = xh_tcp_rx_queue(d.port, bport)) == 0)
      break;
  ck_assert_msg(queued == 0, "the daemon did not read B (%ld bytes queued)",
                queued);
  const int c = xh_connect(d.url, NULL);
  ck_assert_msg(c >= 0, "cannot connect C");
  ck_assert_int_eq(xh_send_request(c, "GET", "/healthz", NULL, NULL, 0), 0);
  const long backlog = xh_tcp_rx_queue(d.port, 0);
  ck_assert_msg(backlog == 1,
                "C is not in the listen backlog (the queue holds %ld): the "
                "daemon was not busy, the case is not exercised",
                backlog);
  xt_daemon_signal(&d, SIGTERM);
  assert_log(&d, no_new, 20000);
  const int status_b = xh_read_answer(b, 60000, &a);
  ck_assert_msg(status_b == 200, "B: status %d", status_b);
  assert_loss(&a, log((double)CLASSES), "B");
  xh_answer_free(&a);
  assert_200(&d, xh_read_answer(c, 60000, &a), &a,
             "C, in the backlog when the listener closed");
  ck_assert_msg(says_close(&a), "C's answer without Connection: close");
  xh_answer_free(&a);
  ck_assert_msg(xh_log_count(&d, "could not be served") == 0,
                "xentd logged a backlog connection it could not serve");
  printf("shutdown: C waited in the listen backlog (queue %ld) while the one "
         "thread parsed B; after SIGTERM both answered 200\n",
         backlog);
  close(b);
  close(c);
  xt_str_free(&big);
  assert_exit_0(&d);
}
END_TEST

/* A connection that xentd has taken from the listen backlog and that has
 * sent nothing: the handshake is complete (xentd's side ESTABLISHED) and
 * the backlog is empty (only this test connects), within 20 s. */
static int silent_connection(const xt_daemon *d) {
  const int fd = xh_connect(d->url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  const int port = xh_local_port(fd);
  int accepted = 0;
  for (const double until = xh_now() + 20.0; !accepted && xh_now() < until;)
    accepted =
        xh_tcp_state(d->port, port) == 1 && xh_tcp_rx_queue(d->port, 0) == 0;
  ck_assert_msg(accepted, "xentd did not accept the connection");
  return fd;
}

/* --threads 1 --max-connections 16: fifteen kept-alive connections and B,
 * whose large request keeps the one thread busy, fill the limit; three
 * more wait in the listen backlog when SIGTERM comes. Taken from it, they
 * are refused (past the limit): the listener closes then, not at the end
 * of --shutdown-timeout (an hour here); B is answered; xentd exits 0. */
START_TEST(test_refused_backlog_ends) {
  static const char *const args[] = {"--threads",
                                     "1",
                                     "--max-connections",
                                     "16",
                                     "--shutdown-timeout",
                                     "3600",
                                     "--header-timeout",
                                     "3600",
                                     "--access-log",
                                     "off",
                                     NULL};
  enum { KEPT = 15, WAITING = 3, ROWS = 4000, CLASSES = 4000 };
  xt_daemon d;
  xt_str big = {0};
  xh_answer a;
  int kept[KEPT], waiting[WAITING];
  ck_assert_int_eq(xt_daemon_start(&d, args, 10000), 0);
  for (int i = 0; i < KEPT; i++) {
    kept[i] = xh_connect(d.url, NULL);
    ck_assert_msg(kept[i] >= 0, "cannot connect");
    ck_assert_int_eq(xh_send_request(kept[i], "POST", "/v1/loss", json_ct,
                                     small_body, strlen(small_body)),
                     0);
    ck_assert_int_eq(xh_read_answer(kept[i], 60000, &a), 200);
    xh_answer_free(&a);
  }
  bomb(&big, ROWS, CLASSES);
  const int b = xh_connect(d.url, NULL);
  ck_assert_msg(b >= 0, "cannot connect");
  ck_assert_int_eq(xt_raw_send(b, big.data, big.len), 0);
  const int bport = xh_local_port(b);
  long queued = -1;
  for (const double until = xh_now() + 20.0; xh_now() < until;)
    if ((queued = xh_tcp_rx_queue(d.port, bport)) == 0)
      break;
  ck_assert_msg(queued == 0, "the daemon did not read B (%ld bytes queued)",
                queued);
  for (int i = 0; i < WAITING; i++) {
    waiting[i] = xh_connect(d.url, NULL);
    ck_assert_msg(waiting[i] >= 0, "cannot connect");
    ck_assert_int_eq(xh_send_request(waiting[i], "POST", "/v1/loss", json_ct,
                                     small_body, strlen(small_body)),
                     0);
  }
  const long backlog = xh_tcp_rx_queue(d.port, 0);
  ck_assert_msg(backlog == WAITING,
                "the listen backlog holds %ld, not %d: the daemon was not "
                "busy, the case is not exercised",
                backlog, (int)WAITING);
  xt_daemon_signal(&d, SIGTERM);
  assert_log(&d, no_new, 120000);
  const int status_b = xh_read_answer(b, 60000, &a);
  ck_assert_msg(status_b == 200, "B: status %d", status_b);
  assert_loss(&a, log((double)CLASSES), "B");
  xh_answer_free(&a);
  for (int i = 0; i < WAITING; i++) {
    const int status = xh_read_answer(waiting[i], 60000, &a);
    ck_assert_msg(status == 0, "a connection past --max-connections: %d",
                  status);
    xh_answer_free(&a);
    close(waiting[i]);
  }
  for (int i = 0; i < KEPT; i++)
    close(kept[i]);
  close(b);
  xt_str_free(&big);
  assert_exit_0(&d);
  printf("shutdown: %d connections refused from the backlog (--max-connections "
         "16): the listener closed once they were taken, B answered 200, "
         "exit 0\n",
         (int)WAITING);
}
END_TEST

/* A connection is accepted (the listen backlog is empty again) and sends
 * nothing before SIGTERM. Once the listener has closed it sends its
 * request: answered 200 with Connection: close, not closed as idle. */
START_TEST(test_unused_connection_served) {
  xt_daemon d;
  xh_answer a;
  start_patient(&d, "3600", 0);
  const int fd = silent_connection(&d);
  xt_daemon_signal(&d, SIGTERM);
  assert_log(&d, no_new, 20000);
  const int sent = xh_send_request(fd, "POST", "/v1/loss", json_ct, small_body,
                                   strlen(small_body));
  ck_assert_msg(sent == 0, "the connection accepted before SIGTERM was "
                           "closed before it sent its request");
  const int status = xh_read_answer(fd, 60000, &a);
  ck_assert_msg(status == 200,
                "a connection accepted before SIGTERM, its request sent "
                "after the listener closed: status %d (%zu bytes came)",
                status, a.rest.len);
  assert_loss(&a, small_loss(), "the unused connection");
  ck_assert_msg(says_close(&a), "its answer without Connection: close");
  xh_answer_free(&a);
  close(fd);
  assert_exit_0(&d);
  printf("shutdown: a connection accepted before SIGTERM sent its request "
         "after the listener closed: 200, Connection: close\n");
}
END_TEST

/* --shutdown-timeout bounds the wait for a connection that never sends:
 * with --header-timeout 3600 it is the shutdown's deadline that closes it,
 * and the log says so. */
START_TEST(test_silent_connection_bounded) {
  xt_daemon d;
  start_patient(&d, "1", 0);
  const int fd = silent_connection(&d);
  xt_daemon_signal(&d, SIGTERM);
  static const char line[] =
      "connections still busy after --shutdown-timeout; closing them";
  assert_log(&d, line, 30000);
  ck_assert_msg(xh_wait_closed(fd, 10000, NULL), "the connection is open");
  close(fd);
  assert_exit_0(&d);
  printf("shutdown: a silent connection held the drain for --shutdown-timeout "
         "1, then was closed; exit 0\n");
}
END_TEST

/* A second SIGTERM stops the drain at once: a silent connection that the
 * drain would await for an hour is closed, and xentd exits 0. */
START_TEST(test_second_signal_stops) {
  xt_daemon d;
  start_patient(&d, "3600", 0);
  const int fd = silent_connection(&d);
  xt_daemon_signal(&d, SIGTERM);
  assert_log(&d, no_new, 20000);
  xt_daemon_signal(&d, SIGTERM);
  static const char second[] = "second signal 15: stopping now";
  static const char closing[] = "connections still busy; closing them";
  assert_log(&d, second, 30000);
  assert_log(&d, closing, 30000);
  ck_assert_msg(xh_wait_closed(fd, 10000, NULL), "the connection is open");
  close(fd);
  assert_exit_0(&d);
  printf("shutdown: a second SIGTERM while the drain awaited a silent "
         "connection: stopped at once, exit 0\n");
}
END_TEST

/* hold_accept.so holds this test's connection between accept(2) and
 * libmicrohttpd's announcing it, until the listener stops listening. The
 * request, sent whole before SIGTERM, is answered 200: the listener's
 * close waits until the connection is announced, then awaits it. */
START_TEST(test_unannounced_connection_served) {
  const char *so = getenv("XT_HOLD_ACCEPT_SO");
  ck_assert_msg(so != NULL && access(so, R_OK) == 0,
                "XT_HOLD_ACCEPT_SO names no shim (make check-shutdown sets "
                "it): %s",
                so != NULL ? so : "unset");
  char dir[] = "/tmp/xentd-hold-XXXXXX";
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
  char arm[64];
  snprintf(arm, sizeof arm, "%s/arm", dir);
  xt_daemon d;
  xh_answer a;
  setenv("LD_PRELOAD", so, 1);
  setenv("XT_HOLD_ACCEPT", arm, 1);
  start_patient(&d, "3600", 1);
  unsetenv("LD_PRELOAD");
  unsetenv("XT_HOLD_ACCEPT");
  /* The client's port is chosen first, so that the shim holds this
   * connection and no other (xt_daemon_start's probe, say). */
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(fd >= 0 &&
                    bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
                    getsockname(fd, (struct sockaddr *)&addr, &len) == 0,
                "cannot bind a client socket: %s", strerror(errno));
  char port[16];
  snprintf(port, sizeof port, "%u\n", (unsigned)ntohs(addr.sin_port));
  ck_assert_int_eq(xh_write_file(arm, port), 0);
  addr.sin_port = htons((unsigned short)d.port);
  ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
                "cannot connect: %s", strerror(errno));
  ck_assert_int_eq(xh_send_request(fd, "POST", "/v1/loss", json_ct, small_body,
                                   strlen(small_body)),
                   0);
  int holding = 0;
  for (const double until = xh_now() + 20.0; !holding && xh_now() < until;)
    holding = access(arm, F_OK) != 0;
  ck_assert_msg(holding,
                "the shim did not take the connection (is %s preloaded?)", so);
  xt_daemon_signal(&d, SIGTERM);
  static const char what[] =
      "a connection accepted, not yet announced, when the listener closed";
  assert_200(&d, xh_read_answer(fd, 60000, &a), &a, what);
  assert_loss(&a, small_loss(), what);
  xh_answer_free(&a);
  close(fd);
  rmdir(dir);
  assert_exit_0(&d);
  printf("shutdown: a connection held between accept and its announcement "
         "when the listener closed: awaited, 200\n");
}
END_TEST

/* Clients that open a connection for each request, until one is refused or
 * xentd has exited. */
typedef struct traffic {
  const char *url;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int served;    /* 200 with the right loss                             */
  int draining;  /* 503 shutting_down                                   */
  int cut;       /* reset or closed with no byte of an answer           */
  int signaled;  /* SIGTERM has been sent                               */
  int ended;     /* xentd has exited: stop (its port may be reused)     */
  int cut_early; /* cuts before SIGTERM                                 */
  char odd[256]; /* the first answer that is none of the above, or ""   */
} traffic;

static void note_odd(traffic *t, const char *what, const xh_answer *a) {
  if (t->odd[0] == '\0')
    snprintf(t->odd, sizeof t->odd, "%s: status %d, %.120s%.80s", what,
             a->status, a->body.data ? a->body.data : "",
             a->rest.data ? a->rest.data : "");
}

/* The peer reset fd (TCP state CLOSE), as the kernel resets a connection
 * still in the listen backlog when the listener shuts; a peer that read
 * the request and closed leaves it in CLOSE_WAIT. */
static int reset_by_peer(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
         ti.tcpi_state == TCP_CLOSE;
}

static void *traffic_main(void *arg) {
  traffic *t = arg;
  const double until = xh_now() + 120.0;
  while (xh_now() < until) {
    pthread_mutex_lock(&t->mu);
    const int ended = t->ended;
    pthread_mutex_unlock(&t->mu);
    if (ended)
      break;
    const int fd = xh_connect(t->url, NULL);
    if (fd < 0)
      break; /* refused: nothing listens any more */
    static const char *const hdr[] = {"Content-Type: application/json",
                                      "Connection: close", NULL};
    xh_answer a;
    memset(&a, 0, sizeof a);
    const int sent = xh_send_request(fd, "POST", "/v1/loss", hdr, small_body,
                                     strlen(small_body));
    const int status = sent == 0 ? xh_read_answer(fd, 60000, &a) : 0;
    pthread_mutex_lock(&t->mu);
    if (status == 200 && xt_close(xt_jnum(json_object_get(a.json, "loss")),
                                  small_loss(), 1e-12, 1e-12))
      t->served++;
    else if (status == 503 && strcmp(xh_error_code(&a), "shutting_down") == 0)
      t->draining++;
    else if (status == 0 && a.rest.len == 0 && reset_by_peer(fd)) {
      t->cut++;
      t->cut_early += !t->signaled;
    } else if (status == 0 && a.rest.len == 0)
      note_odd(t, "closed with no answer, no reset", &a);
    else
      note_odd(t, "an answer", &a);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    close(fd);
    xh_answer_free(&a);
  }
  return NULL;
}

/* Three clients keep sending small requests on new connections; once 20
 * have been served, SIGTERM. Eight rounds, each with its own daemon. */
START_TEST(test_signal_under_traffic) {
  enum { CLIENTS = 3, BEFORE = 20, ROUNDS = 8 };
  for (int round = 0; round < ROUNDS; round++) {
    xt_daemon d;
    start_patient(&d, "3600", 1);
    traffic t;
    memset(&t, 0, sizeof t);
    t.url = d.url;
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    pthread_t tid[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
      ck_assert_int_eq(pthread_create(&tid[i], NULL, traffic_main, &t), 0);
    pthread_mutex_lock(&t.mu);
    while (t.served + t.draining + t.cut < BEFORE && t.odd[0] == '\0')
      pthread_cond_wait(&t.cv, &t.mu);
    t.signaled = 1;
    pthread_mutex_unlock(&t.mu);
    xt_daemon_signal(&d, SIGTERM);
    const int status = xt_daemon_wait(&d, 60000);
    pthread_mutex_lock(&t.mu);
    t.ended = 1;
    pthread_mutex_unlock(&t.mu);
    for (int i = 0; i < CLIENTS; i++)
      pthread_join(tid[i], NULL);
    ck_assert_msg(t.odd[0] == '\0', "round %d: %s", round, t.odd);
    ck_assert_msg(t.cut_early == 0,
                  "round %d: %d connections cut before SIGTERM", round,
                  t.cut_early);
    ck_assert_msg(t.served >= BEFORE, "round %d: %d served before the end",
                  round, t.served);
    ck_assert_msg(status == 0, "round %d: exit status %d", round, status);
    printf("shutdown: SIGTERM under traffic, round %d: %d answered 200, %d "
           "503 shutting_down, %d reset from the backlog, exit 0\n",
           round, t.served, t.draining, t.cut);
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
  }
}
END_TEST

static Suite *shutdown_suite(void) {
  Suite *s = suite_create("xentd shutting down");
  TCase *tc = tcase_create("shutdown");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, test_uploads_finish);
  tcase_add_test(tc, test_drain_delay);
  tcase_add_test(tc, test_backlog_served);
  tcase_add_test(tc, test_refused_backlog_ends);
  tcase_add_test(tc, test_unused_connection_served);
  tcase_add_test(tc, test_unannounced_connection_served);
  tcase_add_test(tc, test_silent_connection_bounded);
  tcase_add_test(tc, test_second_signal_stops);
  tcase_add_test(tc, test_signal_under_traffic);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xh_run_suite("test_shutdown", shutdown_suite());
}
