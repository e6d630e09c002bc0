/*
 * test_slow.c - slow and greedy clients against a real xentd: the
 * deadlines that bytes do not restart (--timeout for a request line,
 * --header-timeout, --body-timeout), a crowd of slow connections that must
 * not starve normal requests nor hold compute places, and the connection
 * limits (--max-connections-per-ip, --max-connections).
 *
 * Every daemon is started here on port 0 and stopped here. A deadline is
 * measured from a moment the client knows to be no later than the one the
 * daemon starts its clock at (before connect, before the request line,
 * before the end of the headers), on the monotonic clock, so a close
 * earlier than the deadline is a real early close; the upper bound allows
 * the reaper's 0.2 s period and a loaded machine.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "hostile.h"
#include "http_util.h"

/* The deadlines of the daemon the deadline tests start. */
enum { IDLE_S = 3, HEADER_S = 2, BODY_S = 2 };
/* A close may come this much before the deadline (clock granularity)... */
#define EARLY_MARGIN 0.05
/* ...and this much after it (reaper period 0.2 s, a busy machine). */
#define LATE_BOUND 1.5

static const char small_body[] = "{\"logits\": [[1, 2, 3]], \"targets\": [2]}";

static double small_loss(void) {
  return log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
}

static void start(xt_daemon *d, const char *const *args) {
  ck_assert_msg(xt_daemon_start(d, args, 10000) == 0, "xentd did not start");
}

static void stop(xt_daemon *d) {
  const int status = xt_daemon_stop(d, 30000);
  ck_assert_msg(status == 0, "xentd exit status %d after SIGTERM", status);
}

static const char *const deadline_args[] = {"--timeout",
                                            "3",
                                            "--header-timeout",
                                            "2",
                                            "--body-timeout",
                                            "2",
                                            "--access-log",
                                            "off",
                                            NULL};

static void assert_closed_in(const char *what, double t0, double closed_at,
                             double deadline, const xt_str *got) {
  ck_assert_msg(closed_at > 0,
                "%s: still open %.1f s after the deadline of %g s", what,
                LATE_BOUND + 2.0, deadline);
  const double after = closed_at - t0;
  printf("slow: %s: closed after %.3f s (deadline %g s)\n", what, after,
         deadline);
  ck_assert_msg(after >= deadline - EARLY_MARGIN,
                "%s: closed after %.3f s, before its deadline of %g s", what,
                after, deadline);
  ck_assert_msg(after <= deadline + LATE_BOUND,
                "%s: closed after %.3f s, more than %g s past its deadline of "
                "%g s",
                what, after, LATE_BOUND, deadline);
  ck_assert_msg(got->len == 0, "%s: the daemon sent %zu bytes: %.200s", what,
                got->len, got->data);
}

/* A request line that comes a byte every 100 ms never ends within
 * --timeout (3 s): the connection is closed at 3 s although bytes keep
 * coming, and nothing is answered. */
START_TEST(test_request_line_trickle) {
  xt_daemon d;
  xt_str line = {0};
  xt_str got = {0};
  start(&d, deadline_args);
  xt_str_add(&line, "GET /");
  for (int i = 0; i < 200; i++)
    xt_str_add(&line, "a");
  xt_str_add(&line, " HTTP/1.1\r\n");
  const double t0 = xh_now(); /* before connect: before the daemon's clock */
  const int fd = xh_connect(d.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  const double closed =
      xh_trickle(fd, line.data, line.len, 100,
                 (int)((IDLE_S + LATE_BOUND + 2) * 1000), &got);
  assert_closed_in("request line, a byte every 100 ms", t0, closed, IDLE_S,
                   &got);
  close(fd);
  xt_str_free(&line);
  xt_str_free(&got);
  stop(&d);
}
END_TEST

/* The request line at once, then header bytes every 100 ms: closed at
 * --header-timeout (2 s) from the request line. */
START_TEST(test_header_trickle) {
  static const char line[] = "GET /healthz HTTP/1.1\r\n";
  xt_daemon d;
  xt_str headers = {0};
  xt_str got = {0};
  start(&d, deadline_args);
  xt_str_add(&headers, "Host: 127.0.0.1\r\nX-Slow: ");
  for (int i = 0; i < 200; i++)
    xt_str_add(&headers, "a");
  const int fd = xh_connect(d.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  const double t0 = xh_now(); /* before the request line is sent */
  ck_assert_int_eq(xt_raw_send(fd, line, strlen(line)), 0);
  const double closed =
      xh_trickle(fd, headers.data, headers.len, 100,
                 (int)((HEADER_S + LATE_BOUND + 2) * 1000), &got);
  assert_closed_in("headers, a byte every 100 ms", t0, closed, HEADER_S, &got);
  close(fd);
  xt_str_free(&headers);
  xt_str_free(&got);
  stop(&d);
}
END_TEST

/* Whole headers, then body bytes every 100 ms: closed at --body-timeout
 * (2 s) from the end of the headers. */
START_TEST(test_body_trickle) {
  static const char head[] = "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 1000\r\n\r\n";
  xt_daemon d;
  xt_str body = {0};
  xt_str got = {0};
  start(&d, deadline_args);
  xt_str_add(&body, "{\"logits\": [[0");
  for (int i = 0; i < 100; i++)
    xt_str_add(&body, ",0");
  const int fd = xh_connect(d.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  const double t0 = xh_now(); /* before the headers end */
  ck_assert_int_eq(xt_raw_send(fd, head, strlen(head)), 0);
  const double closed =
      xh_trickle(fd, body.data, body.len, 100,
                 (int)((BODY_S + LATE_BOUND + 2) * 1000), &got);
  assert_closed_in("body, a byte every 100 ms", t0, closed, BODY_S, &got);
  close(fd);
  xt_str_free(&body);
  xt_str_free(&got);
  stop(&d);
}
END_TEST

/* Each phase slow but within its own deadline: the request line over
 * 1.4 s (< 3), the headers over 1.3 s (< 2), the body over 1.2 s (< 2);
 * 3.9 s in all, past --timeout, and still served: a deadline belongs to
 * its phase, not to the connection. */
START_TEST(test_slow_within_deadlines) {
  static const char line[] = "POST /v1/loss HTTP/1.1\r\n";
  xt_daemon d;
  xt_str headers = {0};
  xh_answer a;
  start(&d, deadline_args);
  xt_str_addf(&headers,
              "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\n\r\n",
              strlen(small_body));
  const int fd = xh_connect(d.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  const double t0 = xh_now();
  ck_assert_msg(
      xh_trickle(fd, line, strlen(line), 1400 / (int)strlen(line), 0, NULL) < 0,
      "closed while the request line came");
  ck_assert_msg(xh_trickle(fd, headers.data, headers.len,
                           1300 / (int)headers.len, 0, NULL) < 0,
                "closed while the headers came");
  ck_assert_msg(xh_trickle(fd, small_body, strlen(small_body),
                           1200 / (int)strlen(small_body), 0, NULL) < 0,
                "closed while the body came");
  const int status = xh_read_answer(fd, 10000, &a);
  printf("slow: request sent over %.3f s, each phase within its deadline: "
         "status %d\n",
         xh_now() - t0, status);
  ck_assert_msg(status == 200, "status %d: %.300s%.300s", status,
                a.head.data ? a.head.data : "", a.rest.data ? a.rest.data : "");
  const double loss = xt_jnum(json_object_get(a.json, "loss"));
  ck_assert_msg(xt_close(loss, small_loss(), 1e-12, 1e-12),
                "loss %.17g, expected %.17g", loss, small_loss());
  xh_answer_free(&a);
  xt_str_free(&headers);
  close(fd);
  stop(&d);
}
END_TEST

/* -------------------------------------------------- a crowd of slow ones -- */

enum { SLOW_HEADERS = 200, SLOW_BODIES = 50, NORMAL = 20 };
#define SLOW_BODY_LENGTH 100000

typedef struct crowd {
  int fd[SLOW_HEADERS + SLOW_BODIES];
  atomic_int stop;
  atomic_int rounds;    /* passes over all 250 connections            */
  atomic_int sent;      /* bytes trickled in all                         */
  atomic_int send_fail; /* sends the daemon refused (it closed one)      */
} crowd;

/* One more byte on every slow connection every 200 ms: header bytes on
 * the first 200, body digits on the others. */
static void *trickler(void *arg) {
  crowd *c = arg;
  while (!atomic_load(&c->stop)) {
    for (int i = 0; i < SLOW_HEADERS + SLOW_BODIES; i++) {
      const char *byte = i < SLOW_HEADERS ? "a" : "0";
      if (send(c->fd[i], byte, 1, MSG_NOSIGNAL) == 1)
        atomic_fetch_add(&c->sent, 1);
      else
        atomic_fetch_add(&c->send_fail, 1);
    }
    atomic_fetch_add(&c->rounds, 1);
    /* A client's pace, not an ordering of events. */
    xt_sleep_ms(200);
  }
  return NULL;
}

/* 200 connections stuck in their headers and 50 in their bodies (all
 * trickling) do not stop 20 normal requests from being answered at once,
 * and hold no compute place: with --max-in-flight 4, the gauge
 * xentd_compute_in_flight reads 0 throughout. */
START_TEST(test_slow_crowd) {
  static const char *const args[] = {"--timeout",
                                     "60",
                                     "--header-timeout",
                                     "60",
                                     "--body-timeout",
                                     "60",
                                     "--max-in-flight",
                                     "4",
                                     "--access-log",
                                     "off",
                                     NULL};
  static const char head_part[] =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  xt_daemon d;
  crowd c;
  pthread_t tid;
  xt_str body_head = {0};
  double got;
  start(&d, args);
  memset(&c, 0, sizeof c);
  xt_str_addf(&body_head,
              "POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              "{\"logits\": [[0",
              SLOW_BODY_LENGTH);
  for (int i = 0; i < SLOW_HEADERS + SLOW_BODIES; i++) {
    c.fd[i] = xh_connect(d.url, NULL);
    ck_assert_msg(c.fd[i] >= 0, "cannot open slow connection %d", i);
    const int rc = i < SLOW_HEADERS
                       ? xt_raw_send(c.fd[i], head_part, strlen(head_part))
                       : xt_raw_send(c.fd[i], body_head.data, body_head.len);
    ck_assert_int_eq(rc, 0);
  }
  /* The daemon has begun all 250 (plus the /metrics request asking), and
   * has judged the 50 bodies' headers: each reserved 4 x its length. */
  ck_assert_msg(xh_wait_metric(d.url, "xentd_requests_in_flight",
                               SLOW_HEADERS + SLOW_BODIES + 1, 20000, &got),
                "xentd_requests_in_flight reads %g, not %d", got,
                SLOW_HEADERS + SLOW_BODIES + 1);
  ck_assert_msg(xh_wait_metric(d.url, "xentd_memory_reserved_bytes",
                               SLOW_BODIES * 4.0 * SLOW_BODY_LENGTH, 20000,
                               &got),
                "xentd_memory_reserved_bytes reads %g, not %g", got,
                SLOW_BODIES * 4.0 * SLOW_BODY_LENGTH);
  ck_assert_int_eq(pthread_create(&tid, NULL, trickler, &c), 0);
  double worst = 0;
  for (int i = 0; i < NORMAL; i++) {
    xh_answer a;
    const char *const json[] = {"Content-Type: application/json", NULL};
    /* Request i goes after the trickler's pass i + 1: the bodies are
     * still coming, a byte each every 200 ms, while it is served. */
    for (const double until = xh_now() + 30.0;
         atomic_load(&c.rounds) <= i && xh_now() < until;)
      xt_sleep_ms(5);
    ck_assert_msg(atomic_load(&c.rounds) > i, "the trickler is stuck");
    const double t = xh_now();
    const int status = xh_roundtrip(d.url, "POST", "/v1/loss", json, small_body,
                                    strlen(small_body), &a);
    const double took = xh_now() - t;
    worst = took > worst ? took : worst;
    ck_assert_msg(status == 200, "normal request %d: status %d %.200s", i,
                  status, a.rest.data ? a.rest.data : "");
    const double loss = xt_jnum(json_object_get(a.json, "loss"));
    ck_assert_msg(xt_close(loss, small_loss(), 1e-12, 1e-12),
                  "normal request %d: loss %.17g, expected %.17g", i, loss,
                  small_loss());
    ck_assert_msg(took < 3.0, "normal request %d took %.3f s", i, took);
    xh_answer_free(&a);
    const double places = xh_metric(d.url, "xentd_compute_in_flight", NULL);
    ck_assert_msg(places == 0,
                  "after normal request %d, with 50 bodies trickling, "
                  "xentd_compute_in_flight reads %g",
                  i, places);
  }
  atomic_store(&c.stop, 1);
  pthread_join(tid, NULL);
  printf("slow: %d normal requests beside %d slow headers and %d slow bodies "
         "(%d bytes trickled in %d passes): slowest %.3f s; "
         "xentd_compute_in_flight 0 "
         "after each\n",
         NORMAL, SLOW_HEADERS, SLOW_BODIES, atomic_load(&c.sent),
         atomic_load(&c.rounds), worst);
  ck_assert_msg(atomic_load(&c.send_fail) == 0,
                "%d trickled bytes were refused: a slow connection closed "
                "before its 60 s deadline",
                atomic_load(&c.send_fail));
  for (int i = 0; i < SLOW_HEADERS + SLOW_BODIES; i++) {
    ck_assert_msg(xh_open_and_silent(c.fd[i]),
                  "slow connection %d was answered or closed before its "
                  "deadline",
                  i);
    close(c.fd[i]);
  }
  /* Every slow request is gone with its connection. */
  ck_assert_msg(
      xh_wait_metric(d.url, "xentd_requests_in_flight", 1, 20000, &got),
      "xentd_requests_in_flight reads %g after the slow clients "
      "left, not 1",
      got);
  ck_assert_msg(
      xh_wait_metric(d.url, "xentd_memory_reserved_bytes", 0, 20000, &got),
      "xentd_memory_reserved_bytes reads %g after the slow clients left", got);
  xt_str_free(&body_head);
  stop(&d);
}
END_TEST

/* ------------------------------------------------------ connection limits --
 */

/* n connections that each had one request answered and stay open. */
static void hold_connections(const char *base, const char *src, int *fd,
                             int n) {
  for (int i = 0; i < n; i++) {
    xh_answer a;
    fd[i] = xh_connect(base, src);
    ck_assert_msg(fd[i] >= 0, "cannot open connection %d", i);
    ck_assert_int_eq(xh_send_request(fd[i], "GET", "/healthz", NULL, NULL, 0),
                     0);
    const int status = xh_read_answer(fd[i], 10000, &a);
    ck_assert_msg(status == 200, "held connection %d: status %d", i, status);
    xh_answer_free(&a);
  }
}

/* A connection past a limit: returns the seconds until the daemon closed
 * it (-1: still open after wait_ms), with what it sent in got. */
static double refused_after(const char *base, const char *src, int wait_ms,
                            xt_str *got) {
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const double t0 = xh_now();
  const int fd = xh_connect(base, src);
  ck_assert_msg(fd >= 0, "cannot connect");
  xt_raw_send(fd, req, strlen(req)); /* may already fail: it is closed */
  const int closed = xh_wait_closed(fd, wait_ms, got);
  const double after = xh_now() - t0;
  close(fd);
  return closed ? after : -1;
}

/* --max-connections-per-ip 5: with five connections open from 127.0.0.1,
 * a sixth from it is closed at once, unanswered; one from 127.0.0.2 is
 * served; once one of the five closes, 127.0.0.1 is served again. */
START_TEST(test_per_ip_limit) {
  static const char *const args[] = {"--max-connections-per-ip", "5",
                                     "--access-log", "off", NULL};
  enum { LIMIT = 5 };
  xt_daemon d;
  int held[LIMIT];
  xt_str got = {0};
  xh_answer a;
  start(&d, args);
  hold_connections(d.url, "127.0.0.1", held, LIMIT);
  const double after = refused_after(d.url, "127.0.0.1", 5000, &got);
  printf("slow: connection %d from 127.0.0.1 with --max-connections-per-ip "
         "%d: closed after %.4f s\n",
         LIMIT + 1, LIMIT, after);
  ck_assert_msg(after >= 0,
                "connection %d from one address still open after "
                "5 s (limit %d)",
                LIMIT + 1, LIMIT);
  ck_assert_msg(after < 1.0, "connection %d closed only after %.3f s",
                LIMIT + 1, after);
  ck_assert_msg(got.len == 0, "the refused connection was answered: %.200s",
                got.data);
  xt_str_free(&got);
  /* Another address is not limited by 127.0.0.1's connections. */
  const int other = xh_connect(d.url, "127.0.0.2");
  ck_assert_msg(other >= 0, "cannot connect from 127.0.0.2");
  ck_assert_int_eq(xh_send_request(other, "GET", "/healthz", NULL, NULL, 0), 0);
  ck_assert_int_eq(xh_read_answer(other, 10000, &a), 200);
  xh_answer_free(&a);
  close(other);
  /* One of the five leaves: a new one from 127.0.0.1 is served (once the
   * daemon has seen the close; bounded retries). */
  close(held[0]);
  int served = 0, refused = 0;
  for (const double until = xh_now() + 10.0; !served && xh_now() < until;) {
    const int fd = xh_connect(d.url, "127.0.0.1");
    ck_assert_msg(fd >= 0, "cannot connect");
    /* A refused one may be closed before the request is even sent. */
    (void)xh_send_request(fd, "GET", "/healthz", NULL, NULL, 0);
    served = xh_read_answer(fd, 10000, &a) == 200;
    refused += !served;
    xh_answer_free(&a);
    close(fd);
  }
  ck_assert_msg(served, "no connection from 127.0.0.1 served within 10 s of "
                        "one of the five closing");
  printf("slow: after one of the five closed, 127.0.0.1 served again (%d "
         "refused while the daemon had not seen the close yet)\n",
         refused);
  for (int i = 1; i < LIMIT; i++)
    close(held[i]);
  stop(&d);
}
END_TEST

/* --max-connections 16: with sixteen connections open, a seventeenth is
 * closed at once ("past it a new one is closed at once", --help), not left
 * waiting in the listen backlog. */
START_TEST(test_max_connections) {
  static const char *const args[] = {"--max-connections", "16", "--access-log",
                                     "off", NULL};
  enum { LIMIT = 16 };
  xt_daemon d;
  int held[LIMIT];
  xt_str got = {0};
  start(&d, args);
  hold_connections(d.url, NULL, held, LIMIT);
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const double t0 = xh_now();
  const int fd = xh_connect(d.url, NULL);
  ck_assert_msg(fd >= 0, "cannot connect");
  xt_raw_send(fd, req, strlen(req)); /* may already fail: it is closed */
  const int closed = xh_wait_closed(fd, 3000, &got);
  const double after = closed ? xh_now() - t0 : -1;
  /* Where it is: the kernel's accept queue of the listening socket. */
  const long backlog = xh_tcp_rx_queue(d.port, 0);
  close(fd);
  printf("slow: connection %d with --max-connections %d: %s %.3f s "
         "(the listen backlog holds %ld)\n",
         LIMIT + 1, LIMIT, after >= 0 ? "closed after" : "still open after",
         after >= 0 ? after : 3.0, backlog);
  for (int i = 0; i < LIMIT; i++)
    close(held[i]);
  ck_assert_msg(after >= 0 && after < 1.0,
                "connection %d past --max-connections %d was neither "
                "answered nor closed within 3 s (%zu bytes came); it waited "
                "in the listen backlog",
                LIMIT + 1, LIMIT, got.len);
  ck_assert_msg(got.len == 0, "the refused connection was answered: %.200s",
                got.data);
  xt_str_free(&got);
  stop(&d);
}
END_TEST

static Suite *slow_suite(void) {
  Suite *s = suite_create("xentd and slow clients");
  TCase *deadlines = tcase_create("deadlines");
  TCase *crowd_case = tcase_create("crowd");
  TCase *limits = tcase_create("limits");
  tcase_set_timeout(deadlines, 60);
  tcase_add_test(deadlines, test_request_line_trickle);
  tcase_add_test(deadlines, test_header_trickle);
  tcase_add_test(deadlines, test_body_trickle);
  tcase_add_test(deadlines, test_slow_within_deadlines);
  suite_add_tcase(s, deadlines);
  tcase_set_timeout(crowd_case, 180);
  tcase_add_test(crowd_case, test_slow_crowd);
  suite_add_tcase(s, crowd_case);
  tcase_set_timeout(limits, 60);
  tcase_add_test(limits, test_per_ip_limit);
  tcase_add_test(limits, test_max_connections);
  suite_add_tcase(s, limits);
  return s;
}

int main(void) {
  return xh_run_suite("test_slow", slow_suite());
}
