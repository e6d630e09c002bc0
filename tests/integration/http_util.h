/*
 * http_util.h - small HTTP helpers of the integration tests: libcurl
 * requests with the answer parsed by jansson, raw sockets for the cases
 * libcurl cannot produce, and the hand-written reference formulas.
 */
#ifndef XT_HTTP_UTIL_H
#define XT_HTTP_UTIL_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

/* A growable string. */
typedef struct xt_str {
  char *data;
  size_t len;
  size_t cap;
} xt_str;

void xt_str_free(xt_str *s);
void xt_str_add(xt_str *s, const char *text);
void xt_str_addf(xt_str *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends %.17g of each value, comma separated, inside brackets. */
void xt_str_add_array(xt_str *s, const double *v, size_t n);
/* Appends an n x c matrix as nested arrays. */
void xt_str_add_matrix(xt_str *s, const double *v, size_t n, size_t c);

/* One answer. */
typedef struct xt_resp {
  long status;   /* 0 when the transfer failed                     */
  long connects; /* CURLINFO_NUM_CONNECTS                          */
  char *body;    /* NUL-terminated                                 */
  size_t len;
  json_t *json;    /* the parsed body, or NULL                       */
  char allow[128]; /* Allow header                                   */
  char ctype[128]; /* Content-Type header                            */
  char retry_after[32];
  char error[CURL_ERROR_SIZE];
} xt_resp;

void xt_resp_free(xt_resp *r);

/* libcurl write callback appending to the xt_str in user. */
size_t xt_curl_write(char *data, size_t size, size_t nmemb, void *user);

/* Sends method path with body (may be NULL) to base ("http://h:p"), on
 * handle h (reused: keep-alive) or on a new handle when h is NULL.
 * ctype NULL sends "application/json" when a body is given. Returns the
 * HTTP status (0 on transfer failure). Time limit 30 s. */
long xt_request(CURL *h, const char *base, const char *method, const char *path,
                const char *ctype, const char *body, size_t len, xt_resp *r);

/* Error body accessors: "" when absent. */
const char *xt_err_code(const xt_resp *r);
const char *xt_err_field(const xt_resp *r);
const char *xt_err_message(const xt_resp *r);

/* Host and port of a base URL "http://HOST:PORT". Returns 0 or -1. */
int xt_url_host_port(const char *base, char *host, size_t size, int *port);

/* A TCP connection to base; -1 on failure. */
int xt_raw_connect(const char *base);
/* Sends everything (MSG_NOSIGNAL); 0 or -1. */
int xt_raw_send(int fd, const char *data, size_t len);
/* Nonzero when fd has data (or EOF, or an error) within timeout_ms. */
int xt_raw_readable(int fd, int timeout_ms);
/* Reads until the peer closes or timeout_ms passes, appending to out.
 * Returns 1 when the peer closed (EOF or reset), 0 on timeout. */
int xt_raw_read_until_close(int fd, int timeout_ms, xt_str *out);
/* Waits up to timeout_ms for the bytes of one full HTTP response head plus
 * Content-Length body; returns the status code or 0. */
int xt_raw_read_response(int fd, int timeout_ms, xt_str *out);
/* Reads a chunked answer to its last chunk; returns its status or 0. */
int xt_raw_read_chunked(int fd, int timeout_ms, xt_str *out);

/* Relative/absolute comparison (semantics 6). */
int xt_close(double got, double want, double rel, double abs);

/* Reference formulas, written from semantics.md, independent of libxent.
 * Per row: lp = (x - m) - log(sum exp(x - m)); l_n = -sum_c w_c q_c lp_c;
 * grad = (p_j sum_c w_c q_c - w_j q_j) / D. x may hold -INFINITY.
 * w may be NULL (all 1). For reduction "none" pass denom 1. */
void xt_ref_ce(const double *x, const double *q, const double *w, size_t n,
               size_t c, double denom, double *per, double *grad,
               double *probs);

/* Number at JSON array index / object key; NAN when absent or not a
 * number. */
double xt_jnum(const json_t *v);
double xt_jat(const json_t *arr, size_t i);

#endif /* XT_HTTP_UTIL_H */
