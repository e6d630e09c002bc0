/*
 * http_util.c - HTTP, socket and reference helpers of the integration tests.
 */
#include "http_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void str_reserve(xt_str *s, size_t extra) {
  size_t cap;
  char *p;
  if (s->len + extra + 1 <= s->cap) {
    return;
  }
  cap = s->cap ? s->cap : 256;
  while (cap < s->len + extra + 1) {
    cap *= 2;
  }
  p = realloc(s->data, cap);
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    abort();
  }
  s->data = p;
  s->cap = cap;
}

void xt_str_free(xt_str *s) {
  free(s->data);
  s->data = NULL;
  s->len = s->cap = 0;
}

static void str_addn(xt_str *s, const char *text, size_t n) {
  str_reserve(s, n);
  memcpy(s->data + s->len, text, n);
  s->len += n;
  s->data[s->len] = '\0';
}

void xt_str_add(xt_str *s, const char *text) {
  str_addn(s, text, strlen(text));
}

void xt_str_addf(xt_str *s, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    return;
  }
  str_reserve(s, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  s->len += (size_t)n;
}

void xt_str_add_array(xt_str *s, const double *v, size_t n) {
  xt_str_add(s, "[");
  for (size_t i = 0; i < n; i++) {
    if (isinf(v[i]) && v[i] < 0) {
      xt_str_add(s, i ? ",null" : "null");
    } else {
      xt_str_addf(s, i ? ",%.17g" : "%.17g", v[i]);
    }
  }
  xt_str_add(s, "]");
}

void xt_str_add_matrix(xt_str *s, const double *v, size_t n, size_t c) {
  xt_str_add(s, "[");
  for (size_t i = 0; i < n; i++) {
    if (i) {
      xt_str_add(s, ",");
    }
    xt_str_add_array(s, v + i * c, c);
  }
  xt_str_add(s, "]");
}

void xt_resp_free(xt_resp *r) {
  free(r->body);
  json_decref(r->json);
  memset(r, 0, sizeof *r);
}

size_t xt_curl_write(char *data, size_t size, size_t nmemb, void *user) {
  xt_str *s = user;
  str_addn(s, data, size * nmemb);
  return size * nmemb;
}

static void copy_header_value(const char *line, size_t len, size_t name_len,
                              char *out, size_t size) {
  size_t start = name_len;
  size_t end = len;
  size_t n;
  while (start < end && (line[start] == ' ' || line[start] == '\t')) {
    start++;
  }
  while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
                         line[end - 1] == ' ')) {
    end--;
  }
  n = end - start < size - 1 ? end - start : size - 1;
  memcpy(out, line + start, n);
  out[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user) {
  xt_resp *r = user;
  const size_t len = size * nmemb;
  static const struct {
    const char *name;
    size_t off;
    size_t size;
  } wanted[] = {
      {"allow:", offsetof(xt_resp, allow), sizeof(((xt_resp *)0)->allow)},
      {"content-type:", offsetof(xt_resp, ctype),
       sizeof(((xt_resp *)0)->ctype)},
      {"retry-after:", offsetof(xt_resp, retry_after),
       sizeof(((xt_resp *)0)->retry_after)},
  };
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
    const size_t nl = strlen(wanted[i].name);
    if (len >= nl && strncasecmp(data, wanted[i].name, nl) == 0) {
      copy_header_value(data, len, nl, (char *)r + wanted[i].off,
                        wanted[i].size);
    }
  }
  return len;
}

long xt_request(CURL *h, const char *base, const char *method, const char *path,
                const char *ctype, const char *body, size_t len, xt_resp *r) {
  CURL *const easy = h != NULL ? h : curl_easy_init();
  struct curl_slist *headers = NULL;
  char url[512];
  char header[160];
  xt_str s = {0};
  CURLcode rc;
  memset(r, 0, sizeof *r);
  if (easy == NULL) {
    return 0;
  }
  snprintf(url, sizeof url, "%s%s", base, path);
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
  curl_easy_setopt(easy, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  if (body != NULL) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    snprintf(header, sizeof header, "Content-Type: %s",
             ctype != NULL ? ctype : "application/json");
    headers = curl_slist_append(headers, header);
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "GET") == 0 && body != NULL) {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "GET");
  }
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, xt_curl_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->error);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  rc = curl_easy_perform(easy);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &r->connects);
  } else if (r->error[0] == '\0') {
    snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
  }
  /* The handle must not keep pointers to this call's locals. */
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, NULL);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
  curl_slist_free_all(headers);
  if (h == NULL) {
    curl_easy_cleanup(easy);
  }
  if (s.data == NULL) {
    xt_str_add(&s, "");
  }
  r->body = s.data;
  r->len = s.len;
  if (r->len > 0) {
    r->json = json_loadb(r->body, r->len, 0, NULL);
  }
  return r->status;
}

static const char *err_member(const xt_resp *r, const char *key) {
  const json_t *e = json_object_get(r->json, "error");
  const json_t *v = json_object_get(e, key);
  return json_is_string(v) ? json_string_value(v) : "";
}

const char *xt_err_code(const xt_resp *r) {
  return err_member(r, "code");
}

const char *xt_err_field(const xt_resp *r) {
  return err_member(r, "field");
}

const char *xt_err_message(const xt_resp *r) {
  return err_member(r, "message");
}

int xt_url_host_port(const char *base, char *host, size_t size, int *port) {
  const char *p = base;
  const char *colon;
  size_t n;
  if (strncmp(p, "http://", 7) == 0) {
    p += 7;
  }
  colon = strrchr(p, ':');
  if (colon == NULL) {
    return -1;
  }
  n = (size_t)(colon - p);
  if (n == 0 || n >= size) {
    return -1;
  }
  memcpy(host, p, n);
  host[n] = '\0';
  if (strcmp(host, "localhost") == 0) {
    snprintf(host, size, "127.0.0.1");
  }
  *port = atoi(colon + 1);
  return *port > 0 ? 0 : -1;
}

int xt_raw_connect(const char *base) {
  char host[64];
  int port;
  struct sockaddr_in addr;
  int fd;
  if (xt_url_host_port(base, host, sizeof host, &port) != 0) {
    return -1;
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    return -1;
  }
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int xt_raw_send(int fd, const char *data, size_t len) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = send(fd, data + done, len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return -1;
    }
    done += (size_t)n;
  }
  return 0;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is there within the deadline: 1 data, 0 timeout, -1 closed. */
static int read_some(int fd, long long deadline, xt_str *out) {
  char buf[4096];
  struct pollfd pfd;
  const long long left = deadline - now_ms();
  int rc;
  ssize_t n;
  if (left <= 0) {
    return 0;
  }
  pfd.fd = fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  rc = poll(&pfd, 1, (int)left);
  if (rc <= 0) {
    return 0;
  }
  n = recv(fd, buf, sizeof buf, 0);
  if (n <= 0) {
    return -1;
  }
  str_addn(out, buf, (size_t)n);
  return 1;
}

int xt_raw_readable(int fd, int timeout_ms) {
  struct pollfd pfd;
  pfd.fd = fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  return poll(&pfd, 1, timeout_ms) > 0;
}

int xt_raw_read_until_close(int fd, int timeout_ms, xt_str *out) {
  const long long deadline = now_ms() + timeout_ms;
  for (int i = 0; i < 100000; i++) {
    const int rc = read_some(fd, deadline, out);
    if (rc < 0) {
      return 1;
    }
    if (rc == 0) {
      return 0;
    }
  }
  return 0;
}

int xt_raw_read_response(int fd, int timeout_ms, xt_str *out) {
  const long long deadline = now_ms() + timeout_ms;
  for (int i = 0; i < 100000; i++) {
    const char *head_end =
        out->data != NULL ? strstr(out->data, "\r\n\r\n") : NULL;
    if (head_end != NULL) {
      const char *cl = NULL;
      size_t want = 0;
      int status = 0;
      for (const char *p = out->data; p < head_end; p++) {
        if (strncasecmp(p, "\ncontent-length:", 16) == 0) {
          cl = p + 16;
          break;
        }
      }
      if (cl != NULL) {
        want = (size_t)strtoul(cl, NULL, 10);
      }
      if (out->len >= (size_t)(head_end + 4 - out->data) + want) {
        if (sscanf(out->data, "HTTP/1.%*d %d", &status) != 1) {
          status = 0;
        }
        return status;
      }
    }
    if (read_some(fd, deadline, out) <= 0) {
      break;
    }
  }
  return 0;
}

int xt_raw_read_chunked(int fd, int timeout_ms, xt_str *out) {
  static const char end[] = "\r\n0\r\n\r\n";
  const long long deadline = now_ms() + timeout_ms;
  for (;;) {
    const size_t k = sizeof end - 1;
    if (out->len >= k && memcmp(out->data + out->len - k, end, k) == 0) {
      int status = 0;
      if (sscanf(out->data, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
      return status;
    }
    if (read_some(fd, deadline, out) <= 0)
      return 0;
  }
}

int xt_close(double got, double want, double rel, double abs) {
  if (isnan(got) || isnan(want)) {
    return 0;
  }
  return fabs(got - want) <= abs + rel * fabs(want);
}

void xt_ref_ce(const double *x, const double *q, const double *w, size_t n,
               size_t c, double denom, double *per, double *grad,
               double *probs) {
  for (size_t i = 0; i < n; i++) {
    const double *xr = x + i * c;
    const double *qr = q + i * c;
    double m = -INFINITY;
    double s = 0.0;
    double wq = 0.0;
    double l = 0.0;
    double logs;
    for (size_t j = 0; j < c; j++) {
      m = xr[j] > m ? xr[j] : m;
    }
    for (size_t j = 0; j < c; j++) {
      s += exp(xr[j] - m);
    }
    logs = log(s);
    for (size_t j = 0; j < c; j++) {
      const double wj = w != NULL ? w[j] : 1.0;
      if (qr[j] != 0.0) {
        l -= wj * qr[j] * ((xr[j] - m) - logs);
      }
      wq += wj * qr[j];
    }
    if (per != NULL) {
      per[i] = l;
    }
    for (size_t j = 0; j < c; j++) {
      const double wj = w != NULL ? w[j] : 1.0;
      const double p = exp((xr[j] - m) - logs);
      if (grad != NULL) {
        grad[i * c + j] = (p * wq - wj * qr[j]) / denom;
      }
      if (probs != NULL) {
        probs[i * c + j] = p;
      }
    }
  }
}

double xt_jnum(const json_t *v) {
  return json_is_number(v) ? json_number_value(v) : NAN;
}

double xt_jat(const json_t *arr, size_t i) {
  return xt_jnum(json_array_get(arr, i));
}
