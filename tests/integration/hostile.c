/*
 * hostile.c - raw-socket helpers of the hostile-client tests (see
 * hostile.h).
 */
#include "hostile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double xh_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void xh_add_bytes(xt_str *s, const void *data, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + n + 1)
      cap *= 2;
    char *p = realloc(s->data, cap);
    if (p == NULL) {
      fprintf(stderr, "hostile: out of memory\n");
      abort();
    }
    s->data = p;
    s->cap = cap;
  }
  if (n > 0)
    memcpy(s->data + s->len, data, n);
  s->len += n;
  s->data[s->len] = '\0';
}

int xh_connect(const char *base, const char *src) {
  char host[64];
  int port;
  struct sockaddr_in addr;
  if (xt_url_host_port(base, host, sizeof host, &port) != 0)
    return -1;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
    return -1;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (src != NULL) {
    struct sockaddr_in me;
    memset(&me, 0, sizeof me);
    me.sin_family = AF_INET;
    if (inet_pton(AF_INET, src, &me.sin_addr) != 1 ||
        bind(fd, (const struct sockaddr *)&me, sizeof me) != 0) {
      close(fd);
      return -1;
    }
  }
  if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int xh_local_port(int fd) {
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  if (getsockname(fd, (struct sockaddr *)&me, &len) != 0)
    return -1;
  return ntohs(me.sin_port);
}

void xh_answer_free(xh_answer *a) {
  xt_str_free(&a->head);
  xt_str_free(&a->body);
  xt_str_free(&a->rest);
  json_decref(a->json);
  memset(a, 0, sizeof *a);
}

/* Reads what comes within the deadline: 1 bytes, 0 timeout, -1 closed. */
static int read_some(int fd, double deadline, xt_str *raw) {
  const double left = deadline - xh_now();
  if (left <= 0)
    return 0;
  struct pollfd pfd = {fd, POLLIN, 0};
  const int rc = poll(&pfd, 1, (int)(left * 1000.0) + 1);
  if (rc == 0)
    return 0;
  if (rc < 0)
    return errno == EINTR ? 1 : -1;
  char buf[65536];
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n > 0) {
    xh_add_bytes(raw, buf, (size_t)n);
    return 1;
  }
  if (n < 0 && errno == EINTR)
    return 1;
  return -1;
}

static const char *find_head_end(const xt_str *raw) {
  if (raw->data == NULL)
    return NULL;
  for (size_t i = 0; i + 3 < raw->len; i++)
    if (memcmp(raw->data + i, "\r\n\r\n", 4) == 0)
      return raw->data + i;
  return NULL;
}

const char *xh_header(const xh_answer *a, const char *name, char *buf,
                      size_t size) {
  const size_t nl = strlen(name);
  const char *p = a->head.data;
  if (p == NULL || size == 0)
    return NULL;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      const char *end = strstr(v, "\r\n");
      size_t n = end != NULL ? (size_t)(end - v) : strlen(v);
      while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
      if (n >= size)
        n = size - 1;
      memcpy(buf, v, n);
      buf[n] = '\0';
      return buf;
    }
  }
  return NULL;
}

/* Decodes a chunked body that starts at raw[at]: 1 with the body in out
 * and the index after it in *end once the last chunk (and its blank line)
 * is in, 0 while more is needed, -1 when it is not chunked framing. */
static int unchunk(const xt_str *raw, size_t at, xt_str *out, size_t *end) {
  xt_str body = {0};
  size_t p = at;
  for (;;) {
    const char *line = raw->data + p;
    const char *eol = NULL;
    for (size_t i = p; i + 1 < raw->len; i++)
      if (raw->data[i] == '\r' && raw->data[i + 1] == '\n') {
        eol = raw->data + i;
        break;
      }
    if (eol == NULL) {
      xt_str_free(&body);
      return 0;
    }
    char *stop = NULL;
    const unsigned long size = strtoul(line, &stop, 16);
    if (stop == line) {
      xt_str_free(&body);
      return -1;
    }
    p = (size_t)(eol - raw->data) + 2;
    if (size == 0) {
      /* No trailers are sent: the blank line ends the body. */
      if (raw->len < p + 2) {
        xt_str_free(&body);
        return 0;
      }
      *end = p + 2;
      xh_add_bytes(out, body.data != NULL ? body.data : "", body.len);
      xt_str_free(&body);
      return 1;
    }
    if (raw->len < p + size + 2) {
      xt_str_free(&body);
      return 0;
    }
    xh_add_bytes(&body, raw->data + p, size);
    p += size + 2;
  }
}

int xh_read_answer(int fd, int timeout_ms, xh_answer *a) {
  const double deadline = xh_now() + timeout_ms / 1000.0;
  xt_str raw = {0};
  memset(a, 0, sizeof *a);
  int closed = 0;
  for (;;) {
    const char *he = find_head_end(&raw);
    if (he != NULL) {
      const size_t head_len = (size_t)(he - raw.data);
      const size_t body_at = head_len + 4;
      xh_answer probe = {0};
      char value[64];
      xh_add_bytes(&probe.head, raw.data, head_len);
      const char *cl = xh_header(&probe, "Content-Length", value, sizeof value);
      const char *te =
          xh_header(&probe, "Transfer-Encoding", value, sizeof value);
      const int chunked = te != NULL && strstr(te, "chunked") != NULL;
      xt_str_free(&probe.head);
      size_t end = 0;
      int done = 0;
      xt_str body = {0};
      if (chunked) {
        done = unchunk(&raw, body_at, &body, &end) == 1;
      } else if (cl != NULL) {
        const size_t want = (size_t)strtoull(cl, NULL, 10);
        if (raw.len >= body_at + want) {
          xh_add_bytes(&body, raw.data + body_at, want);
          end = body_at + want;
          done = 1;
        }
      } else if (closed) { /* the body runs to the close */
        xh_add_bytes(&body, raw.data + body_at, raw.len - body_at);
        end = raw.len;
        done = 1;
      }
      if (done) {
        xh_add_bytes(&a->head, raw.data, head_len);
        a->body = body;
        xh_add_bytes(&a->rest, raw.data + end, raw.len - end);
        a->chunked = chunked;
        if (sscanf(raw.data, "HTTP/1.%*d %d", &a->status) != 1)
          a->status = 0;
        if (a->body.len > 0)
          a->json = json_loadb(a->body.data, a->body.len, 0, NULL);
        xt_str_free(&raw);
        return a->status;
      }
      xt_str_free(&body);
    }
    if (closed)
      break;
    const int rc = read_some(fd, deadline, &raw);
    if (rc == 0)
      break;
    if (rc < 0)
      closed = 1;
  }
  /* Incomplete: keep what came, for the failure message. */
  if (raw.len > 0)
    xh_add_bytes(&a->rest, raw.data, raw.len);
  xt_str_free(&raw);
  return 0;
}

const char *xh_error_code(const xh_answer *a) {
  const json_t *e = json_object_get(a->json, "error");
  const json_t *c = json_object_get(e, "code");
  return json_is_string(c) ? json_string_value(c) : "";
}

int xh_send_request(int fd, const char *method, const char *path,
                    const char *const *headers, const char *body, size_t len) {
  xt_str req = {0};
  xt_str_addf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, path);
  for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
    xt_str_addf(&req, "%s\r\n", headers[i]);
  if (body != NULL)
    xt_str_addf(&req, "Content-Length: %zu\r\n", len);
  xt_str_add(&req, "\r\n");
  int rc = xt_raw_send(fd, req.data, req.len);
  if (rc == 0 && body != NULL && len > 0)
    rc = xt_raw_send(fd, body, len);
  xt_str_free(&req);
  return rc;
}

int xh_roundtrip(const char *base, const char *method, const char *path,
                 const char *const *headers, const char *body, size_t len,
                 xh_answer *a) {
  memset(a, 0, sizeof *a);
  const int fd = xh_connect(base, NULL);
  if (fd < 0)
    return 0;
  int status = 0;
  if (xh_send_request(fd, method, path, headers, body, len) == 0)
    status = xh_read_answer(fd, 30000, a);
  close(fd);
  return status;
}

int xh_wait_closed(int fd, int timeout_ms, xt_str *got) {
  const double deadline = xh_now() + timeout_ms / 1000.0;
  xt_str sink = {0};
  xt_str *out = got != NULL ? got : &sink;
  int rc;
  while ((rc = read_some(fd, deadline, out)) > 0) {
  }
  xt_str_free(&sink);
  return rc < 0;
}

int xh_open_and_silent(int fd) {
  struct pollfd pfd = {fd, POLLIN, 0};
  return poll(&pfd, 1, 0) == 0;
}

double xh_trickle(int fd, const char *data, size_t len, int interval_ms,
                  int limit_ms, xt_str *got) {
  const double start = xh_now();
  const double limit = limit_ms > 0 ? start + limit_ms / 1000.0 : INFINITY;
  xt_str sink = {0};
  xt_str *out = got != NULL ? got : &sink;
  size_t sent = 0;
  double next = start;
  for (;;) {
    const double now = xh_now();
    if (now >= limit)
      break;
    if (sent < len && now >= next) {
      if (send(fd, data + sent, 1, MSG_NOSIGNAL) != 1) {
        xt_str_free(&sink);
        return xh_now(); /* refused: the peer is gone */
      }
      sent++;
      next += interval_ms / 1000.0;
      continue;
    }
    if (sent == len && limit_ms == 0)
      break;
    const double until = sent < len && next < limit ? next : limit;
    if (read_some(fd, until, out) < 0) {
      xt_str_free(&sink);
      return xh_now();
    }
  }
  xt_str_free(&sink);
  return -1;
}

double xh_metric(const char *base, const char *name, const char *token) {
  char auth[600];
  const char *headers[] = {auth, NULL};
  xh_answer a;
  snprintf(auth, sizeof auth, "Authorization: Bearer %s",
           token != NULL ? token : "");
  if (xh_roundtrip(base, "GET", "/metrics", token != NULL ? headers : NULL,
                   NULL, 0, &a) != 200) {
    xh_answer_free(&a);
    return NAN;
  }
  const size_t nl = strlen(name);
  double sum = 0;
  int found = 0;
  for (const char *line = a.body.data; line != NULL && *line != '\0';) {
    const char *eol = strchr(line, '\n');
    if (strncmp(line, name, nl) == 0 && (line[nl] == ' ' || line[nl] == '{')) {
      const char *sp = line + nl;
      while (*sp != ' ' && *sp != '\n' && *sp != '\0')
        sp++;
      sum += strtod(sp, NULL);
      found = 1;
    }
    line = eol != NULL ? eol + 1 : NULL;
  }
  xh_answer_free(&a);
  return found ? sum : NAN;
}

int xh_wait_metric(const char *base, const char *name, double want,
                   int timeout_ms, double *last) {
  const double deadline = xh_now() + timeout_ms / 1000.0;
  double v;
  for (;;) {
    v = xh_metric(base, name, NULL);
    if (v == want || xh_now() >= deadline)
      break;
    /* Each look is a request of its own; leave the daemon room between. */
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  if (last != NULL)
    *last = v;
  return v == want;
}

char *xh_log(const xt_daemon *d) {
  char path[320];
  xt_str s = {0};
  snprintf(path, sizeof path, "%s/stderr.log", d->dir);
  FILE *f = fopen(path, "r");
  if (f != NULL) {
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
      xh_add_bytes(&s, buf, n);
    fclose(f);
  }
  if (s.data == NULL)
    xh_add_bytes(&s, "", 0);
  return s.data;
}

int xh_log_count(const xt_daemon *d, const char *text) {
  char *log = xh_log(d);
  int n = 0;
  for (const char *p = log; (p = strstr(p, text)) != NULL; p += strlen(text))
    n++;
  free(log);
  return n;
}

int xh_wait_log(const xt_daemon *d, const char *text, int times,
                int timeout_ms) {
  const double deadline = xh_now() + timeout_ms / 1000.0;
  for (;;) {
    if (xh_log_count(d, text) >= times)
      return 1;
    if (xh_now() >= deadline)
      return 0;
    /* A log line is a write to a file: nothing to block on but the file.
     * Yield the core between looks. */
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}

/* The /proc/net/tcp row of the socket on local port lport whose peer is on
 * port rport (0: the listening socket): its state and receive queue. 0 when
 * found, -1 when not. */
static int tcp_row(int lport, int rport, unsigned *state, unsigned long *rx) {
  FILE *f = fopen("/proc/net/tcp", "r");
  char line[512];
  int found = -1;
  if (f == NULL)
    return -1;
  if (fgets(line, sizeof line, f) == NULL) { /* the column names */
    fclose(f);
    return -1;
  }
  while (found != 0 && fgets(line, sizeof line, f) != NULL) {
    unsigned la, lp, ra, rp, st;
    unsigned long tx, rxq;
    if (sscanf(line, " %*d: %x:%x %x:%x %x %lx:%lx", &la, &lp, &ra, &rp, &st,
               &tx, &rxq) != 7 ||
        (int)lp != lport)
      continue;
    if ((rport == 0 && st == 0x0A) || (rport != 0 && (int)rp == rport)) {
      *state = st;
      *rx = rxq;
      found = 0;
    }
  }
  fclose(f);
  return found;
}

long xh_tcp_rx_queue(int lport, int rport) {
  unsigned st;
  unsigned long rx;
  return tcp_row(lport, rport, &st, &rx) == 0 ? (long)rx : -1;
}

int xh_tcp_state(int lport, int rport) {
  unsigned st;
  unsigned long rx;
  return tcp_row(lport, rport, &st, &rx) == 0 ? (int)st : -1;
}

int xh_write_file(const char *path, const char *text) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL)
    return -1;
  const int ok = fputs(text, f) >= 0;
  if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
    remove(tmp);
    return -1;
  }
  return 0;
}

static int g_bad_exit; /* a shared daemon did not exit 0 on SIGTERM */

void xh_shared_start(xt_daemon *d, const char *const *args) {
  if (xt_daemon_start(d, args, 10000) != 0) {
    fprintf(stderr, "cannot start %s\n", xt_daemon_binary());
    exit(1);
  }
}

void xh_shared_stop(xt_daemon *d) {
  const int status = xt_daemon_stop(d, 20000);
  if (status != 0) {
    fprintf(stderr, "xentd exit status %d after SIGTERM\n", status);
    g_bad_exit = 1;
  }
}

int xh_run_suite(const char *prog, Suite *s) {
  /* Lines reach the log even when a test's process ends at a failure. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (xt_daemon_url_from_env() != NULL)
    printf("%s: XENT_URL is set; these tests start daemons of their own and "
           "ignore it\n",
           prog);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (g_bad_exit)
    printf("%s: xentd did not exit 0 on SIGTERM\n", prog);
  return failed == 0 && !g_bad_exit ? EXIT_SUCCESS : EXIT_FAILURE;
}
