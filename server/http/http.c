/*
 * http.c - routes, limits and answers of xentd (see http.h).
 *
 * The libmicrohttpd access handler is called several times per request:
 * once when the headers are in (the request state is created, and the
 * route, method, size, media type, compute place and memory estimate are
 * judged), once per piece of body (fed to the streaming parser as it
 * comes, so that the body is never held whole), and once more when the
 * request is complete, when it is computed and the answer queued.
 * Answering on the first call would make libmicrohttpd 0.9.75 close the
 * connection, so only a request that can never be served (a declared body
 * over the limit, or over the memory budget) is answered there: its body
 * is then never read and the connection closes.
 *
 * A compute request holds a place of --max-in-flight from the end of its
 * body until the last byte of its answer is handed to libmicrohttpd
 * (printing a large JSON answer is most of its work): a client that has
 * its answer never counts, and one that stops reading a large answer
 * holds its place until it reads on or --timeout closes it. Its memory (the
 * parsed arrays, then the outputs) is reserved from the budget before it
 * is allocated and given back once the last byte of the answer has been
 * handed to libmicrohttpd. A large answer is printed block by block as the
 * socket drains (a callback response, chunked), never held as text.
 */
/* struct tcp_info (the listen backlog's length at shutdown) */
#define _DEFAULT_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <microhttpd.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "auth.h"
#include "codec.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "numtext.h"
#include "tls.h"
#include "xent.h"

/* Answers up to this size are printed whole and sent with a length; larger
 * ones are streamed. */
enum { XS_BUFFERED_MAX = 64 * 1024, XS_STREAM_BLOCK = 64 * 1024 };
/* Freed large blocks kept for the next request (mem.c): at most this, or a
 * quarter of --max-memory when that is less. 8 MiB holds the 2 MiB
 * mappings of a 256 x 1000 request. */
enum { XS_SPARE_MAX = 8 * 1024 * 1024 };
/* Stack of a connection's thread: the codec keeps its state on the heap;
 * libxent and GnuTLS need a few tens of KiB. */
enum { XS_THREAD_STACK = 1024 * 1024 };
/* A connection's memory in libmicrohttpd: its headers (more get 431) and
 * read buffer. libmicrohttpd zeroes it on every request: at 256 KiB that
 * memset was 19 % of xentd's CPU time for an 8 x 10 /v1/loss request, 9 %
 * at 64 KiB (perf, wrk -c8). 64 KiB of headers is twice nginx's default. */
enum { XS_CONN_MEMORY = 64 * 1024 };
enum { XS_V2_MODELS_MAX = 8 };

/* The routes of the Open Inference Protocol (KServe v2 / Triton HTTP). */
typedef enum v2_kind {
  V2_NONE = 0,
  V2_SERVER,      /* GET /v2                                            */
  V2_LIVE,        /* GET /v2/health/live                                */
  V2_READY,       /* GET /v2/health/ready                               */
  V2_MODEL,       /* GET /v2/models/<m>[/versions/<v>]                  */
  V2_MODEL_READY, /* GET .../ready                                      */
  V2_INFER        /* POST .../infer                                     */
} v2_kind;

struct xs_http {
  struct MHD_Daemon *daemon;
  xs_config cfg;
  xs_limits limits;
  xs_budget budget;
  xs_metrics metrics;
  atomic_int draining;    /* SIGTERM came: readyz 503, answers close     */
  atomic_int late;        /* past --drain-delay: later requests get 503  */
  atomic_uint late_taken; /* taken from the backlog since: accepted, or
                           * refused by --max-connections              */
  atomic_uint computing;  /* compute places taken (--max-in-flight) */
  xs_guard *guard;        /* connection deadlines                        */
  xs_tls *tls;            /* --tls-cert / --tls-key, or NULL             */
  xs_auth *auth;          /* --auth-token-file, or NULL                  */
  unsigned port;
  int listener; /* quiesced listening socket, closed after the stop; or -1 */
  int listener_shut;         /* the main thread's: quiesced and shut down  */
  unsigned backlog_at_close; /* connections waiting when late was set   */
  xs_buf health;
  xs_buf info;
  xs_buf v2_server;                   /* GET /v2                       */
  xs_buf v2_models[XS_V2_MODELS_MAX]; /* GET /v2/models/<m>            */
};

/* What a compute request owns that may outlive its request state: the
 * memory share and the response being streamed. Two owners (the request
 * state and the libmicrohttpd response), both on the connection's thread. */
typedef struct job {
  xs_mem mem;
  xs_response *resp;
  uint64_t bytes_out;
  int refs;
  /* A place of --max-in-flight, held from the end of the body until the
   * last byte of the answer is handed to libmicrohttpd. */
  atomic_uint *places;
  int holding;
  /* Content-Encoding of the answer (Accept-Encoding): a deflate stream
   * between the printer and the socket. */
  int deflating;
  z_stream zout;
  char *plain; /* printed, not yet compressed */
  size_t plain_len, plain_at;
  int flushed; /* the compressed stream has ended */
} job;

/* Content-Encoding of a request body: an inflate stream before the
 * parser. */
typedef struct inflater {
  z_stream z;
  int on;
  int ended;
} inflater;

/* One request, from its headers to its completion callback. */
typedef struct req_state {
  xs_route route;
  unsigned body; /* XS_BODY_* of a compute route, else 0 */
  v2_kind v2;    /* a /v2 route: errors are {"error": message} */
  const xs_model *model;
  xs_error err; /* decided before or while the body is read */
  xs_parser *parser;
  job *job;
  uint64_t bytes_in;
  uint64_t bytes_out;
  int status;     /* 0 until an answer is queued */
  int started;    /* the headers have been judged */
  int late;       /* begun on a kept-alive connection after the drain delay */
  int answer_now; /* refused from its headers: answered at once, closed  */
  xs_guard_conn *conn;
  uint64_t header_len; /* of a binary answer's JSON header, else 0 */
  inflater in;         /* a gzip / deflate request body               */
  uint64_t inflated;   /* bytes the parser has had                    */
  int encoding;        /* the answer's: 0 none, 1 gzip, 2 deflate     */
  struct timespec t0;
  char method[16];
  char path[256];
} req_state;

typedef enum route_kind { ROUTE_GET, ROUTE_POST } route_kind;

typedef struct route_def {
  const char *path;
  xs_route route;
  route_kind kind;
  unsigned body;
} route_def;

static const route_def routes[] = {
    {"/v1/loss", XS_ROUTE_LOSS, ROUTE_POST, XS_BODY_LOSS},
    {"/v1/targets", XS_ROUTE_TARGETS, ROUTE_POST, XS_BODY_TARGETS},
    {"/v1/metrics", XS_ROUTE_EVAL_METRICS, ROUTE_POST, XS_BODY_METRICS},
    {"/v1/metrics/merge", XS_ROUTE_EVAL_MERGE, ROUTE_POST, XS_BODY_MERGE},
    {"/v1/metrics/report", XS_ROUTE_EVAL_REPORT, ROUTE_POST, XS_BODY_REPORT},
    {"/healthz", XS_ROUTE_HEALTHZ, ROUTE_GET, 0},
    {"/readyz", XS_ROUTE_READYZ, ROUTE_GET, 0},
    {"/metrics", XS_ROUTE_METRICS, ROUTE_GET, 0},
    {"/v1", XS_ROUTE_V1, ROUTE_GET, 0},
};

static const char json_type[] = "application/json";
static const char metrics_type[] = "text/plain; version=0.0.4; charset=utf-8";

static double seconds_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t0->tv_sec) +
         (double)(now.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* "application/json", any case, optionally followed by parameters. */
static int is_json_type(const char *ct) {
  if (ct == NULL)
    return 0;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  const size_t n = sizeof json_type - 1;
  if (strncasecmp(ct, json_type, n) != 0)
    return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

/* Copies at most size - 1 bytes of s (a log field, truncated if long). */
static void copy_field(char *dst, size_t size, const char *s) {
  snprintf(dst, size, "%s", s != NULL ? s : "");
}

/* ------------------------------------------------------------------ jobs -- */

static job *job_new(xs_http *h) {
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  j->mem.budget = &h->budget;
  j->refs = 1;
  j->places = &h->computing;
  return j;
}

/* Takes a place of --max-in-flight for the job: 1, or 0 when they are all
 * taken. */
static int take_place(xs_http *h, job *j) {
  const unsigned n = atomic_fetch_add(j->places, 1u);
  if (n >= h->cfg.max_in_flight) {
    atomic_fetch_sub(j->places, 1u);
    return 0;
  }
  j->holding = 1;
  return 1;
}

static void drop_place(job *j) {
  if (j != NULL && j->holding) {
    atomic_fetch_sub(j->places, 1u);
    j->holding = 0;
  }
}

static void job_release(job *j) {
  if (j == NULL || --j->refs > 0)
    return;
  drop_place(j);
  xs_response_free(j->resp);
  xs_mem_close(&j->mem);
  if (j->deflating)
    deflateEnd(&j->zout);
  free(j->plain);
  free(j);
}

enum { PLAIN_BLOCK = 64 * 1024 };

/* The next compressed bytes of the answer into buf: the printer fills
 * `plain` a block at a time and deflate empties it. Returns the bytes
 * written (0 once the stream has ended), or -1 on a zlib error. */
static ssize_t read_deflated(job *j, char *buf, size_t max) {
  z_stream *z = &j->zout;
  z->next_out = (Bytef *)buf;
  z->avail_out = (uInt)(max > UINT32_MAX ? UINT32_MAX : max);
  while (z->avail_out > 0 && !j->flushed) {
    if (j->plain_at == j->plain_len && j->resp != NULL) {
      j->plain_len = xs_response_read(j->resp, j->plain, PLAIN_BLOCK);
      j->plain_at = 0;
      if (j->plain_len == 0) {
        xs_response_free(j->resp);
        j->resp = NULL;
        xs_mem_close(&j->mem);
        drop_place(j);
      }
    }
    z->next_in = (Bytef *)j->plain + j->plain_at;
    z->avail_in = (uInt)(j->plain_len - j->plain_at);
    const int rc = deflate(z, j->resp == NULL ? Z_FINISH : Z_NO_FLUSH);
    j->plain_at = j->plain_len - z->avail_in;
    if (rc == Z_STREAM_END)
      j->flushed = 1;
    else if (rc != Z_OK && rc != Z_BUF_ERROR)
      return -1;
    if (rc == Z_BUF_ERROR && z->avail_out > 0 && j->resp != NULL &&
        j->plain_at < j->plain_len)
      return -1; /* no progress with room and input: a bug */
  }
  return (ssize_t)(max - z->avail_out);
}

/* The streamed body: the next block as libmicrohttpd asks for it. Once the
 * last byte is in libmicrohttpd's buffer, the outputs are freed and the
 * memory given back, before the client can have read the answer. */
static ssize_t read_job(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  job *j = cls;
  if (j->deflating) {
    const ssize_t n = read_deflated(j, buf, max);
    if (n < 0)
      return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
      return MHD_CONTENT_READER_END_OF_STREAM;
    j->bytes_out += (uint64_t)n;
    return n;
  }
  if (j->resp == NULL)
    return MHD_CONTENT_READER_END_OF_STREAM;
  const size_t n = xs_response_read(j->resp, buf, max);
  if (n < max) {
    xs_response_free(j->resp);
    j->resp = NULL;
    xs_mem_close(&j->mem);
    drop_place(j);
  }
  if (n == 0)
    return MHD_CONTENT_READER_END_OF_STREAM;
  j->bytes_out += n;
  return (ssize_t)n;
}

static void free_job(void *cls) {
  job_release(cls);
}

/* --------------------------------------------------------------- answers -- */

static enum MHD_Result add_headers(xs_http *h, struct MHD_Response *resp,
                                   const char *content_type, const char *hname,
                                   const char *hvalue) {
  enum MHD_Result ok =
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (h->cfg.replica_name[0] != '\0')
    ok &= MHD_add_response_header(resp, "X-Xent-Replica", h->cfg.replica_name);
  if (hname != NULL)
    ok &= MHD_add_response_header(resp, hname, hvalue);
  if (atomic_load_explicit(&h->draining, memory_order_relaxed))
    ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  return ok;
}

static enum MHD_Result queue_response(xs_http *h, struct MHD_Connection *c,
                                      req_state *r, int status,
                                      struct MHD_Response *resp,
                                      const char *content_type,
                                      const char *hname, const char *hvalue) {
  if (resp == NULL)
    return MHD_NO;
  enum MHD_Result ok = add_headers(h, resp, content_type, hname, hvalue);
  if (r->header_len > 0) { /* the binary tensor data extension */
    char len[24];
    snprintf(len, sizeof len, "%" PRIu64, r->header_len);
    ok &= MHD_add_response_header(resp, "Inference-Header-Content-Length", len);
  }
  const enum MHD_Result queued =
      ok == MHD_YES ? MHD_queue_response(c, (unsigned)status, resp) : MHD_NO;
  MHD_destroy_response(resp);
  if (queued == MHD_YES) {
    r->status = status;
    xs_metrics_answered(&h->metrics, r->route, status);
  }
  return queued;
}

/* Queues an answer whose body is taken from out (out becomes empty). */
static enum MHD_Result queue(xs_http *h, struct MHD_Connection *c, req_state *r,
                             int status, xs_buf *out, const char *content_type,
                             const char *hname, const char *hvalue) {
  size_t len = 0;
  char *data = xs_buf_take(out, &len);
  struct MHD_Response *resp =
      data != NULL
          ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
          : MHD_create_response_from_buffer(0, (void *)"",
                                            MHD_RESPMEM_PERSISTENT);
  if (resp == NULL) {
    free(data);
    return MHD_NO;
  }
  r->bytes_out = len;
  return queue_response(h, c, r, status, resp, content_type, hname, hvalue);
}

/* Queues a body built once at start (health, /v1); it is never freed while
 * the daemon runs. */
static enum MHD_Result queue_static(xs_http *h, struct MHD_Connection *c,
                                    req_state *r, int status,
                                    const xs_buf *body) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      body->len, body->data, MHD_RESPMEM_PERSISTENT);
  r->bytes_out = body->len;
  return queue_response(h, c, r, status, resp, json_type, NULL, NULL);
}

static enum MHD_Result queue_error(xs_http *h, struct MHD_Connection *c,
                                   req_state *r, const xs_error *err) {
  xs_buf out;
  xs_buf_init(&out);
  if ((r->v2 != V2_NONE ? xs_error_write_v2(err, &out)
                        : xs_error_write(err, &out)) != 0) {
    xs_buf_free(&out);
    return MHD_NO;
  }
  const char *hname = NULL;
  const char *hvalue = NULL;
  if (err->kind == XS_ERR_METHOD_NOT_ALLOWED) {
    hname = MHD_HTTP_HEADER_ALLOW;
    hvalue = r->body != 0 || r->v2 == V2_INFER ? "POST" : "GET, HEAD";
  } else if (err->kind == XS_ERR_SHUTTING_DOWN ||
             err->kind == XS_ERR_OVERLOADED) {
    hname = MHD_HTTP_HEADER_RETRY_AFTER;
    hvalue = "1";
  } else if (err->kind == XS_ERR_UNAUTHORIZED) {
    hname = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
    hvalue = "Bearer";
  }
  return queue(h, c, r, xs_error_http_status(err->kind), &out, json_type, hname,
               hvalue);
}

/* ------------------------------------------------------------- requests -- */

/* Transfer-Encoding is exactly "chunked", in any case: libmicrohttpd's own
 * test for a chunked body (bad_framing refuses any other value). */
static int is_chunked(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te != NULL && strcasecmp(te, "chunked") == 0;
}

/* How often a header occurs (names are case-insensitive). */
typedef struct header_count {
  const char *name;
  unsigned n;
} header_count;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value) {
  (void)kind;
  (void)value;
  header_count *hc = cls;
  if (key != NULL && strcasecmp(key, hc->name) == 0)
    hc->n++;
  return MHD_YES;
}

static unsigned header_times(struct MHD_Connection *c, const char *name) {
  header_count hc = {name, 0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hc);
  return hc.n;
}

/* RFC 9112 6.3: a body's length must be one, unambiguous: a repeated
 * Content-Length, or one beside Transfer-Encoding, would let a proxy in
 * front and xentd disagree on where the request ends. A Transfer-Encoding
 * other than chunked (gzip, identity, "gzip, chunked", twice) libmicrohttpd
 * reads as a body that ends only when the client closes: the client would
 * wait for an answer until the idle timeout. Refused at once; the
 * connection closes. (A negative or non-numeric Content-Length never
 * reaches here: libmicrohttpd answers 400 and closes itself.) */
static int bad_framing(struct MHD_Connection *c, xs_error *err) {
  const unsigned cl = header_times(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const unsigned te = header_times(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  if (cl > 1) {
    xs_error_set(err, XS_ERR_INVALID_ARGUMENT,
                 "Content-Length is given %u times; the body's length must "
                 "be given once",
                 cl);
    return 1;
  }
  if (cl == 1 && te > 0) {
    xs_error_set(err, XS_ERR_INVALID_ARGUMENT,
                 "Content-Length and Transfer-Encoding together; send one");
    return 1;
  }
  if (te > 1) {
    xs_error_set(err, XS_ERR_INVALID_ARGUMENT,
                 "Transfer-Encoding is given %u times; send it once, as "
                 "chunked",
                 te);
    return 1;
  }
  if (te == 1 && !is_chunked(c)) {
    xs_error_set(err, XS_ERR_INVALID_ARGUMENT,
                 "Transfer-Encoding: %.64s is not supported; send "
                 "Content-Length, or Transfer-Encoding: chunked",
                 MHD_lookup_connection_value(
                     c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING));
    return 1;
  }
  return 0;
}

/* "/v2..." into its route and model; 0, or -1 with a 404 in err. Models
 * have one version, "1"; a path may name it. */
static int v2_route(const char *url, v2_kind *kind, const xs_model **model,
                    xs_error *err) {
  static const char prefix[] = "/v2/models/";
  *model = NULL;
  if (strcmp(url, "/v2") == 0 || strcmp(url, "/v2/") == 0) {
    *kind = V2_SERVER;
    return 0;
  }
  if (strcmp(url, "/v2/health/live") == 0) {
    *kind = V2_LIVE;
    return 0;
  }
  if (strcmp(url, "/v2/health/ready") == 0) {
    *kind = V2_READY;
    return 0;
  }
  if (strncmp(url, prefix, sizeof prefix - 1) != 0) {
    xs_error_set(err, XS_ERR_NOT_FOUND,
                 "no such path; GET /v2 describes the "
                 "server");
    return -1;
  }
  const char *name = url + sizeof prefix - 1;
  const char *slash = strchr(name, '/');
  const size_t len = slash != NULL ? (size_t)(slash - name) : strlen(name);
  *model = xs_model_find(name, len);
  if (*model == NULL) {
    xs_error_set(err, XS_ERR_NOT_FOUND,
                 "unknown model '%.*s'; the models are cross_entropy and "
                 "mixup_target",
                 (int)(len < 64 ? len : 64), name);
    return -1;
  }
  const char *rest = slash != NULL ? slash : "";
  static const char versions[] = "/versions/";
  if (strncmp(rest, versions, sizeof versions - 1) == 0) {
    const char *v = rest + sizeof versions - 1;
    const char *vs = strchr(v, '/');
    const size_t vl = vs != NULL ? (size_t)(vs - v) : strlen(v);
    if (vl != 1 || v[0] != '1') {
      xs_error_set(err, XS_ERR_NOT_FOUND,
                   "unknown version '%.*s' of model %s; its version is 1",
                   (int)(vl < 32 ? vl : 32), v, xs_model_name(*model));
      return -1;
    }
    rest = vs != NULL ? vs : "";
  }
  if (rest[0] == '\0')
    *kind = V2_MODEL;
  else if (strcmp(rest, "/ready") == 0)
    *kind = V2_MODEL_READY;
  else if (strcmp(rest, "/infer") == 0)
    *kind = V2_INFER;
  else {
    xs_error_set(err, XS_ERR_NOT_FOUND, "no such path under model %s",
                 xs_model_name(*model));
    return -1;
  }
  return 0;
}

/* A header's value as a strict decimal: 0 ok (*v), -1 malformed. */
static int header_u64(const char *text, unsigned long long *v) {
  errno = 0;
  char *end = NULL;
  if (text[0] < '0' || text[0] > '9')
    return -1;
  *v = strtoull(text, &end, 10);
  return errno != 0 || *end != '\0' ? -1 : 0;
}

/* The media types a POST may carry: JSON on /v1; on /v2 also the binary
 * type, or none (tritonclient sends none). */
static int accepted_type(const req_state *r, const char *ct) {
  if (is_json_type(ct))
    return 1;
  if (r->v2 == V2_NONE)
    return 0;
  if (ct == NULL || ct[0] == '\0')
    return 1;
  static const char octet[] = "application/octet-stream";
  return strncasecmp(ct, octet, sizeof octet - 1) == 0 &&
         (ct[sizeof octet - 1] == '\0' || ct[sizeof octet - 1] == ';');
}

/* The answer's encoding from Accept-Encoding: 1 gzip, 2 deflate, 0 none
 * (a token with q=0 is refused, not chosen). */
static int accepted_encoding(const char *ae) {
  int best = 0;
  for (const char *p = ae; p != NULL && *p != '\0';) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *end = strchr(p, ',');
    const size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    char tok[64];
    snprintf(tok, sizeof tok, "%.*s", (int)(len < 63 ? len : 63), p);
    char *semi = strchr(tok, ';');
    int zero = 0;
    if (semi != NULL) {
      const char *q = strstr(semi, "q=");
      zero = q != NULL && strtod(q + 2, NULL) == 0.0;
      *semi = '\0';
    }
    for (char *t = tok + strlen(tok);
         t > tok && (t[-1] == ' ' || t[-1] == '\t');)
      *--t = '\0';
    if (!zero && strcasecmp(tok, "gzip") == 0)
      best = 1;
    else if (!zero && strcasecmp(tok, "deflate") == 0 && best == 0)
      best = 2;
    p = end;
  }
  return best;
}

/* Does the request carry a token, when tokens are asked? The probes
 * (/healthz, /readyz, /v2/health/...) never need one; /metrics not with
 * --metrics-public. */
static int authorized(xs_http *h, struct MHD_Connection *c,
                      const req_state *r) {
  if (h->auth == NULL)
    return 1;
  if (r->route == XS_ROUTE_HEALTHZ || r->route == XS_ROUTE_READYZ ||
      r->v2 == V2_LIVE || r->v2 == V2_READY ||
      (r->route == XS_ROUTE_METRICS && h->cfg.metrics_public))
    return 1;
  return xs_auth_check(
      h->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_AUTHORIZATION));
}

/* Judges a request from its headers alone (first call). */
static void judge_headers(xs_http *h, struct MHD_Connection *c, const char *url,
                          const char *method, req_state *r) {
  if (bad_framing(c, &r->err)) {
    r->answer_now = 1;
    return;
  }
  /* Begun after the drain delay on a connection kept alive: 503 with
   * Connection: close, whatever the route (in the protocol's own error
   * shape for /v2). */
  if (r->late) {
    if (strncmp(url, "/v2", 3) == 0 && (url[3] == '\0' || url[3] == '/'))
      r->v2 = V2_SERVER;
    xs_error_set(&r->err, XS_ERR_SHUTTING_DOWN,
                 "xentd is shutting down; send the request to another "
                 "replica");
    return;
  }
  const route_def *def = NULL;
  route_kind kind = ROUTE_GET;
  const char *path = url;
  if (strncmp(url, "/v2", 3) == 0 && (url[3] == '\0' || url[3] == '/')) {
    r->route = XS_ROUTE_V2;
    r->v2 = V2_SERVER; /* errors in the protocol's shape from here on */
    if (v2_route(url, &r->v2, &r->model, &r->err) != 0) {
      if (!authorized(h, c, r)) /* no map of the paths without a token */
        xs_error_set(&r->err, XS_ERR_UNAUTHORIZED,
                     "send Authorization: Bearer <token> with a token of "
                     "--auth-token-file");
      return;
    }
    if (r->v2 == V2_INFER) {
      r->route = XS_ROUTE_V2_INFER;
      kind = ROUTE_POST;
      r->body = xs_model_body(r->model);
    }
  } else {
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
      if (strcmp(routes[i].path, url) == 0) {
        def = &routes[i];
        break;
      }
    if (def == NULL) {
      r->route = XS_ROUTE_OTHER;
      if (!authorized(h, c, r)) /* no map of the paths without a token */
        xs_error_set(&r->err, XS_ERR_UNAUTHORIZED,
                     "send Authorization: Bearer <token> with a token of "
                     "--auth-token-file");
      else
        xs_error_set(&r->err, XS_ERR_NOT_FOUND,
                     "no such path; GET /v1 lists the endpoints");
      return;
    }
    r->route = def->route;
    r->body = def->body;
    kind = def->kind;
    path = def->path;
  }
  if (!authorized(h, c, r)) {
    xs_error_set(&r->err, XS_ERR_UNAUTHORIZED,
                 "send Authorization: Bearer <token> with a token of "
                 "--auth-token-file");
    return;
  }
  if (kind == ROUTE_GET) {
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
      xs_error_set(&r->err, XS_ERR_METHOD_NOT_ALLOWED,
                   "%.200s takes GET or HEAD, not %.16s", path, method);
    return;
  }
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
    xs_error_set(&r->err, XS_ERR_METHOD_NOT_ALLOWED,
                 "%.200s takes POST, not %.16s", path, method);
    return;
  }

  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  unsigned long long length = 0;
  if (cl != NULL &&
      (header_u64(cl, &length) != 0 || length > h->cfg.max_body_bytes)) {
    xs_error_set(&r->err, XS_ERR_PAYLOAD_TOO_LARGE,
                 "the body is over the limit of %llu bytes "
                 "(--max-body-bytes)",
                 (unsigned long long)h->cfg.max_body_bytes);
    return;
  }
  if (cl == NULL && !is_chunked(c)) {
    xs_error_set(&r->err, XS_ERR_LENGTH_REQUIRED,
                 "a POST needs Content-Length (or a chunked body)");
    return;
  }
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!accepted_type(r, ct)) {
    xs_error_set(&r->err, XS_ERR_UNSUPPORTED_MEDIA,
                 r->v2 != V2_NONE ? "send the body as application/json, "
                                    "application/octet-stream or with no "
                                    "Content-Type"
                                  : "send the body as Content-Type: "
                                    "application/json");
    return;
  }
  /* A compressed body is inflated before the parser; the body limit
   * applies to what comes out too. */
  const char *ce = MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
  if (ce != NULL && strcasecmp(ce, "identity") != 0) {
    if (strcasecmp(ce, "gzip") != 0 && strcasecmp(ce, "x-gzip") != 0 &&
        strcasecmp(ce, "deflate") != 0) {
      xs_error_set(&r->err, XS_ERR_UNSUPPORTED_MEDIA,
                   "Content-Encoding '%.32s' is not gzip or deflate", ce);
      return;
    }
    /* 15 + 32: a zlib or a gzip header, whichever comes. */
    if (inflateInit2(&r->in.z, 15 + 32) != Z_OK) {
      xs_error_set(&r->err, XS_ERR_INTERNAL, "out of memory");
      return;
    }
    r->in.on = 1;
  }
  r->encoding = accepted_encoding(MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
  /* The binary tensor data extension: the JSON header's length. */
  unsigned long long header_len = 0;
  const char *ihcl = MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
  if (r->v2 == V2_INFER && ihcl != NULL) {
    /* A compressed body's header length counts inflated bytes
     * (tritonclient's): the parser checks it against what comes out. */
    if (header_u64(ihcl, &header_len) != 0 || header_len == 0 ||
        (cl != NULL && !r->in.on && header_len > length)) {
      xs_error_set(&r->err, XS_ERR_INVALID_ARGUMENT,
                   "Inference-Header-Content-Length '%.32s' is not a length "
                   "within the body's %llu bytes",
                   ihcl, length);
      return;
    }
  }
  r->job = job_new(h);
  if (r->job != NULL)
    r->parser = r->v2 == V2_INFER
                    ? xs_parser_new_v2(r->model, header_len,
                                       cl != NULL && !r->in.on ? length : 0,
                                       &h->limits, &r->job->mem)
                    : xs_parser_new(r->body, &h->limits, &r->job->mem);
  if (r->parser == NULL) {
    xs_error_set(&r->err, XS_ERR_INTERNAL, "out of memory");
    return;
  }
  /* Reserve the request's peak before reading it, estimated from its
   * length: parsed arrays plus outputs take at most about four times the
   * body (a JSON number of two bytes, "0,", is eight parsed and eight or
   * more printed out; binary FP32 logits are four, their double gradient
   * eight). Requests admitted this way do not starve each other halfway;
   * the estimate is trimmed to the real need once the shape is known, and a
   * body that needs more takes more as it goes. A body whose estimate is
   * over the whole budget reserves the whole budget: whether it fits is
   * known only from what it holds. */
  uint64_t estimate = length > UINT64_MAX / 4 ? UINT64_MAX : 4 * length;
  if (estimate > h->budget.limit)
    estimate = h->budget.limit;
  if (xs_mem_reserve(&r->job->mem, estimate, &r->err) != 0) {
    xs_parser_free(r->parser);
    r->parser = NULL;
  }
}

/*
 * Bulk connections yield to small ones. With a thread per connection, the
 * thread of a connection whose request body passes BULK_BYTES raises its
 * own nice value by BULK_NICE, once, for the rest of the connection (an
 * unprivileged thread cannot lower it again, and a connection that sends
 * one large body usually sends more). The kernel then gives a thread that
 * answers small requests its CPU first when the cores are busy, instead of
 * a slice after the batches' (issue 11: small-request p99 beside 256 x 1000
 * loops). A pool thread serves many connections, so pools keep one level.
 */
enum { BULK_BYTES = 1 << 20, BULK_NICE = 10 };
static _Thread_local int bulk_thread;

static void yield_if_bulk(const xs_http *h, uint64_t bytes_in) {
  if (bulk_thread || bytes_in < BULK_BYTES || xs_config_threads(&h->cfg) != 0)
    return;
  bulk_thread = 1;
  const id_t tid = (id_t)syscall(SYS_gettid);
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  const int want = now > 19 - BULK_NICE ? 19 : now + BULK_NICE;
  if (errno == 0 && want > now)
    (void)setpriority(PRIO_PROCESS, tid, want);
}

/* Takes one piece of body: fed to the parser while the request is fine,
 * counted and dropped once it has failed. */
static void take_body(xs_http *h, req_state *r, const char *data, size_t n) {
  r->bytes_in += n;
  yield_if_bulk(h, r->bytes_in);
  if (r->bytes_in > h->cfg.max_body_bytes && r->err.kind == XS_ERR_NONE) {
    xs_error_set(&r->err, XS_ERR_PAYLOAD_TOO_LARGE,
                 "the body is over the limit of %llu bytes (--max-body-bytes)",
                 (unsigned long long)h->cfg.max_body_bytes);
  }
  if (r->parser == NULL)
    return;
  if (r->err.kind != XS_ERR_NONE) {
    xs_parser_free(r->parser);
    r->parser = NULL;
    return;
  }
  /* After a failure the parser only checks the syntax, which decides the
   * error reported; it stores nothing more. */
  if (!r->in.on) {
    r->inflated += n;
    xs_parser_feed(r->parser, data, n);
    return;
  }
  char out[64 * 1024];
  z_stream *z = &r->in.z;
  z->next_in = (Bytef *)data;
  z->avail_in = (uInt)n;
  while (z->avail_in > 0 && !r->in.ended && r->err.kind == XS_ERR_NONE) {
    z->next_out = (Bytef *)out;
    z->avail_out = sizeof out;
    const int rc = inflate(z, Z_NO_FLUSH);
    const size_t got = sizeof out - z->avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && got > 0)) {
      xs_error_set(&r->err, XS_ERR_INVALID_ARGUMENT,
                   "the body is not valid %s data",
                   z->msg != NULL ? "gzip or deflate" : "compressed");
      return;
    }
    r->inflated += got;
    if (r->inflated > h->cfg.max_body_bytes) {
      /* A body that inflates past the limit: refused, never inflated. */
      xs_error_set(&r->err, XS_ERR_PAYLOAD_TOO_LARGE,
                   "the inflated body is over the limit of %llu bytes "
                   "(--max-body-bytes)",
                   (unsigned long long)h->cfg.max_body_bytes);
      return;
    }
    xs_parser_feed(r->parser, out, got);
    if (rc == Z_STREAM_END)
      r->in.ended = 1;
  }
  if (r->in.ended && z->avail_in > 0 && r->err.kind == XS_ERR_NONE)
    xs_error_set(&r->err, XS_ERR_INVALID_ARGUMENT,
                 "the body has bytes after its compressed stream");
}

/* A compressed answer (Accept-Encoding): always streamed, chunked. */
static enum MHD_Result queue_deflated(xs_http *h, struct MHD_Connection *c,
                                      req_state *r, job *j, const char *type) {
  /* windowBits 15 (+16: a gzip wrapper); level 1: the answer is on its
   * way while it is compressed, and numbers compress well at any level. */
  const int bits = r->encoding == 1 ? 15 + 16 : 15;
  j->plain = malloc(PLAIN_BLOCK);
  if (j->plain == NULL || deflateInit2(&j->zout, 1, Z_DEFLATED, bits, 8,
                                       Z_DEFAULT_STRATEGY) != Z_OK)
    return MHD_NO;
  j->deflating = 1;
  struct MHD_Response *mr = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, XS_STREAM_BLOCK, read_job, j, free_job);
  if (mr == NULL)
    return MHD_NO;
  j->refs++; /* the response's reference */
  if (MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Accept-Encoding") !=
      MHD_YES) {
    MHD_destroy_response(mr);
    return MHD_NO;
  }
  return queue_response(h, c, r, 200, mr, type,
                        MHD_HTTP_HEADER_CONTENT_ENCODING,
                        r->encoding == 1 ? "gzip" : "deflate");
}

static enum MHD_Result answer_compute(xs_http *h, struct MHD_Connection *c,
                                      req_state *r) {
  xs_request req;
  xs_error err;
  if (r->in.on && !r->in.ended) {
    xs_error_set(&err, XS_ERR_INVALID_ARGUMENT,
                 "the compressed body ends before its stream does");
    return queue_error(h, c, r, &err);
  }
  /* The place is taken now that the body is in, not while it trickles. */
  if (!take_place(h, r->job)) {
    xs_error_set(&err, XS_ERR_OVERLOADED,
                 "%llu requests are computing or answering "
                 "(--max-in-flight); retry later",
                 (unsigned long long)h->cfg.max_in_flight);
    return queue_error(h, c, r, &err);
  }
  const int parsed = xs_parser_finish(r->parser, &req, &err);
  xs_parser_free(r->parser);
  r->parser = NULL;
  job *j = r->job;
  xs_response *resp = NULL;
  int rc = parsed;
  if (rc == 0) {
    /* The outputs come out of what was reserved at the headers. */
    rc = xs_run(&req, &j->mem, &resp, &err);
    if (rc == 0)
      xs_metrics_add_rows(&h->metrics, req.problem.n);
    xs_request_free(&req);
    xs_mem_trim(&j->mem); /* what is left is the answer's */
  }
  if (rc != 0) {
    drop_place(j);
    return queue_error(h, c, r, &err);
  }
  j->resp = resp;
  r->header_len = xs_response_header_length(resp);
  const char *type = xs_response_content_type(resp);
  const uint64_t length = xs_response_length(resp);
  const uint64_t bound = length > 0 ? length : xs_response_bound(resp);
  if (r->encoding != 0)
    return queue_deflated(h, c, r, j, type);
  if (bound <= XS_BUFFERED_MAX) {
    xs_buf out;
    xs_buf_init(&out);
    if (xs_buf_reserve(&out, (size_t)bound) != 0)
      return MHD_NO;
    out.len = xs_response_read(resp, out.data, (size_t)bound);
    out.data[out.len] = '\0';
    xs_response_free(resp);
    j->resp = NULL;
    xs_mem_close(&j->mem);
    drop_place(j); /* the whole answer is in the buffer */
    return queue(h, c, r, 200, &out, type, NULL, NULL);
  }
  /* Streamed: with its length when it is known (binary tensors), else
   * chunked. */
  struct MHD_Response *mr =
      MHD_create_response_from_callback(length > 0 ? length : MHD_SIZE_UNKNOWN,
                                        XS_STREAM_BLOCK, read_job, j, free_job);
  if (mr == NULL)
    return MHD_NO;
  j->refs++; /* the response's reference */
  return queue_response(h, c, r, 200, mr, type, NULL, NULL);
}

/* The GET routes of the Open Inference Protocol. */
static enum MHD_Result answer_v2(xs_http *h, struct MHD_Connection *c,
                                 req_state *r) {
  static const xs_buf live = {(char *)"{\"live\":true}", 13, 0};
  static const xs_buf ready = {(char *)"{\"ready\":true}", 14, 0};
  const int draining = atomic_load_explicit(&h->draining, memory_order_relaxed);
  switch (r->v2) {
  case V2_SERVER:
    return queue_static(h, c, r, 200, &h->v2_server);
  case V2_LIVE:
    return queue_static(h, c, r, 200, &live);
  case V2_READY:
  case V2_MODEL_READY:
    if (draining) {
      xs_error err;
      xs_error_set(&err, XS_ERR_SHUTTING_DOWN, "xentd is shutting down");
      return queue_error(h, c, r, &err);
    }
    if (r->v2 == V2_READY)
      return queue_static(h, c, r, 200, &ready);
    return queue_static(h, c, r, 200,
                        &h->v2_models[xs_model_index(r->model) + 4]);
  case V2_MODEL:
    return queue_static(h, c, r, 200, &h->v2_models[xs_model_index(r->model)]);
  case V2_INFER:
  case V2_NONE:
    break;
  }
  xs_error err;
  xs_error_set(&err, XS_ERR_NOT_FOUND, "no such path");
  return queue_error(h, c, r, &err);
}

static enum MHD_Result answer(xs_http *h, struct MHD_Connection *c,
                              req_state *r) {
  if (r->err.kind != XS_ERR_NONE)
    return queue_error(h, c, r, &r->err);
  switch (r->route) {
  case XS_ROUTE_LOSS:
  case XS_ROUTE_TARGETS:
  case XS_ROUTE_EVAL_METRICS:
  case XS_ROUTE_EVAL_MERGE:
  case XS_ROUTE_EVAL_REPORT:
  case XS_ROUTE_V2_INFER:
    return answer_compute(h, c, r);
  case XS_ROUTE_V2:
    return answer_v2(h, c, r);
  case XS_ROUTE_READYZ:
    if (atomic_load_explicit(&h->draining, memory_order_relaxed)) {
      xs_error err;
      xs_error_set(&err, XS_ERR_SHUTTING_DOWN, "xentd is shutting down");
      return queue_error(h, c, r, &err);
    }
    return queue_static(h, c, r, 200, &h->health);
  case XS_ROUTE_HEALTHZ:
    return queue_static(h, c, r, 200, &h->health);
  case XS_ROUTE_V1:
    return queue_static(h, c, r, 200, &h->info);
  case XS_ROUTE_METRICS: {
    xs_buf out;
    xs_buf_init(&out);
    const xs_gauges g = {atomic_load(&h->computing), xs_budget_used(&h->budget),
                         h->budget.limit, xs_budget_spare_resident(&h->budget)};
    if (xs_metrics_render(&h->metrics, &g, &out) != 0) {
      xs_buf_free(&out);
      xs_error err;
      xs_error_set(&err, XS_ERR_INTERNAL, "out of memory printing the metrics");
      return queue_error(h, c, r, &err);
    }
    return queue(h, c, r, 200, &out, metrics_type, NULL, NULL);
  }
  case XS_ROUTE_OTHER:
  case XS_ROUTE_COUNT:
    break;
  }
  xs_error err;
  xs_error_set(&err, XS_ERR_NOT_FOUND,
               "no such path; GET /v1 lists the endpoints");
  return queue_error(h, c, r, &err);
}

/* The guard's record of a connection (its socket context). */
static xs_guard_conn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci != NULL ? ci->socket_context : NULL;
}

/* A request's state, from its request line on. */
static req_state *begin_request(xs_http *h, struct MHD_Connection *c) {
  req_state *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  clock_gettime(CLOCK_MONOTONIC, &r->t0);
  r->conn = conn_of(c);
  xs_guard_phase(h->guard, r->conn, XS_PHASE_HEADERS);
  /* After the drain delay a connection's first request is still served
   * (it may have waited in the listen backlog since before the signal);
   * a later one on a kept-alive connection is told to go elsewhere. */
  r->late = atomic_load(&h->late) && xs_guard_requests(r->conn) > 0;
  xs_metrics_request_begin(&h->metrics);
  return r;
}

/* Decodes %HH in a request's path (and query) in place, as libmicrohttpd's
 * own unescaper does, but leaves "%00" as it is: decoded, its NUL would end
 * the C string every route is matched on, and "/healthz%00x" would be
 * answered as "/healthz". Kept, it makes a path that matches no route: 404
 * like any other unknown path. Returns the new length. */
static size_t unescape_path(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  char *w = s;
  for (const char *p = s; *p != '\0';) {
    const int hi = p[0] == '%' ? xs_hex_digit(p[1]) : -1;
    const int lo = hi >= 0 ? xs_hex_digit(p[2]) : -1;
    if (lo >= 0 && (hi | lo) != 0) {
      *w++ = (char)(hi * 16 + lo);
      p += 3;
    } else {
      *w++ = *p++;
    }
  }
  *w = '\0';
  return (size_t)(w - s);
}

/* The request line is in: the request begins (its headers' deadline). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)uri;
  return begin_request(cls, c);
}

/* A new connection past --max-connections is closed at once (the client
 * sees a quick refusal, not a silent wait in the backlog). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr,
                                     socklen_t addrlen) {
  (void)addr;
  (void)addrlen;
  xs_http *h = cls;
  if (xs_guard_open_count(h->guard) < h->cfg.max_connections)
    return MHD_YES;
  if (atomic_load(&h->late)) /* taken from the backlog all the same */
    atomic_fetch_add(&h->late_taken, 1);
  return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  xs_http *h = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    xs_guard_conn *gc =
        ci != NULL ? xs_guard_open(h->guard, (int)ci->connect_fd) : NULL;
    /* A connection taken from the backlog after the listener closed came
     * before the signal: its request is awaited (the drain waits for busy
     * connections) under the headers' deadline, not taken for idle. */
    if (gc != NULL && atomic_load(&h->late)) {
      xs_guard_await(h->guard, gc);
      atomic_fetch_add(&h->late_taken, 1);
    }
    *socket_context = gc;
  } else {
    xs_guard_close(h->guard, *socket_context);
    *socket_context = NULL;
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
  (void)version;
  xs_http *h = cls;
  req_state *r = *req_cls;
  if (r == NULL) /* the request line came without the URI callback */
    *req_cls = r = begin_request(h, c);
  if (r == NULL)
    return MHD_NO;
  if (!r->started) {
    r->started = 1;
    copy_field(r->method, sizeof r->method, method);
    copy_field(r->path, sizeof r->path, url);
    judge_headers(h, c, url, method, r);
    if (r->err.kind == XS_ERR_PAYLOAD_TOO_LARGE || r->answer_now) {
      /* Refused before reading: the connection closes after the answer. */
      return queue_error(h, c, r, &r->err);
    }
    xs_guard_phase(h->guard, r->conn,
                   r->body != 0 ? XS_PHASE_BODY : XS_PHASE_BUSY);
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    take_body(h, r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    /* libmicrohttpd 0.9.75 cannot answer while the body is still coming:
     * a chunked body past the limit is dropped as it arrives, and answered
     * 413 when it ends; a client that keeps sending past twice the limit is
     * disconnected without an answer. */
    if (r->bytes_in / 2 > h->cfg.max_body_bytes)
      return MHD_NO;
    return MHD_YES;
  }
  xs_guard_phase(h->guard, r->conn, XS_PHASE_BUSY);
  return answer(h, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c;
  (void)toe;
  xs_http *h = cls;
  req_state *r = *req_cls;
  if (r == NULL)
    return;
  xs_guard_phase(h->guard, r->conn, XS_PHASE_IDLE);
  xs_parser_free(r->parser);
  if (r->in.on)
    inflateEnd(&r->in.z);
  if (r->job != NULL)
    r->bytes_out += r->job->bytes_out;
  job_release(r->job);
  const double seconds = seconds_since(&r->t0);
  xs_metrics_request_end(&h->metrics, r->route, r->bytes_in, r->bytes_out,
                         seconds);
  if (h->cfg.access_log) {
    const xs_access_entry e = {r->method,   r->path,      r->status,
                               r->bytes_in, r->bytes_out, seconds * 1e3};
    xs_log_access(&e);
  }
  free(r);
  *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* Printed by 0.9.75 whenever a thread pool is used, even with the logger
   * given first; it says nothing about this daemon. */
  if (strncmp(msg, "MHD_OPTION_EXTERNAL_LOGGER is not the first", 43) == 0)
    return;
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  xs_log_error("libmicrohttpd: %s", msg);
}

/* ---------------------------------------------------------------- start -- */

static int lit(xs_buf *b, const char *s) {
  return xs_buf_append(b, s, strlen(s));
}

static int u64(xs_buf *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%" PRIu64, v);
  return lit(b, tmp);
}

/* The bodies of /healthz and GET /v1, built once. Every append is checked:
 * a failure stops the daemon's start. */
static int build_bodies(xs_http *h) {
  const char *version = xent_version_string();
  int rc = lit(&h->health, "{\"status\":\"ok\",\"version\":\"");
  rc |= lit(&h->health, version);
  rc |= lit(&h->health, "\"}");

  xs_buf *b = &h->info;
  rc |= lit(b, "{\"name\":\"xent\",\"version\":\"");
  rc |= lit(b, version);
  rc |= lit(b, "\",\"kernel\":\"");
  rc |= lit(b, xent_kernel_name(xent_kernel_best()));
  rc |= lit(b, "\",\"limits\":{\"max_body_bytes\":");
  rc |= u64(b, h->cfg.max_body_bytes);
  rc |= lit(b, ",\"max_elements\":");
  rc |= u64(b, h->cfg.max_elements);
  rc |= lit(b, ",\"max_rows\":");
  rc |= u64(b, h->cfg.max_rows);
  rc |= lit(b, ",\"max_in_flight\":");
  rc |= u64(b, h->cfg.max_in_flight);
  rc |= lit(b, ",\"max_memory\":");
  rc |= u64(b, h->cfg.max_memory);
  rc |= lit(b, ",\"timeout_seconds\":");
  rc |= u64(b, h->cfg.timeout);
  rc |= lit(b, "},\"endpoints\":[");
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    rc |= lit(b, i > 0 ? ",\"" : "\"");
    rc |= lit(b, routes[i].kind == ROUTE_POST ? "POST " : "GET ");
    rc |= lit(b, routes[i].path);
    rc |= lit(b, "\"");
  }
  rc |= lit(b, "],\"content_types\":[\"application/json\"],\"options\":");
  rc |= xs_fields_options(b);
  rc |= lit(b, ",\"fields\":{");
  int first = 1;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (routes[i].body == 0)
      continue;
    rc |= lit(b, first ? "\"" : ",\"");
    first = 0;
    rc |= lit(b, routes[i].path);
    rc |= lit(b, "\":");
    rc |= xs_fields_describe(routes[i].body, b);
  }
  rc |= lit(b, "}}");

  /* The Open Inference Protocol: the server, each model's metadata, and
   * (at index + 4) each model's readiness. */
  rc |= lit(&h->v2_server, "{\"name\":\"xent\",\"version\":\"");
  rc |= lit(&h->v2_server, version);
  rc |= lit(&h->v2_server, "\",\"extensions\":[\"binary_tensor_data\"]}");
  for (int i = 0; i < xs_model_count() && i < 4; i++) {
    const xs_model *m = xs_model_at(i);
    rc |= xs_model_metadata(m, &h->v2_models[i]);
    rc |= lit(&h->v2_models[i + 4], "{\"name\":\"");
    rc |= lit(&h->v2_models[i + 4], xs_model_name(m));
    rc |= lit(&h->v2_models[i + 4], "\",\"ready\":true}");
  }
  return rc != 0 ? -1 : 0;
}

static void free_handle(xs_http *h) {
  xs_budget_close(&h->budget); /* no request is left to use a spare */
  xs_tls_free(h->tls);
  xs_auth_free(h->auth);
  xs_buf_free(&h->health);
  xs_buf_free(&h->info);
  xs_buf_free(&h->v2_server);
  for (int i = 0; i < XS_V2_MODELS_MAX; i++)
    xs_buf_free(&h->v2_models[i]);
  free(h);
}

xs_http *xs_http_start(const xs_config *cfg, char *err, size_t err_size) {
  xs_http *h = calloc(1, sizeof *h);
  if (h == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  h->cfg = *cfg;
  h->listener = -1;
  h->limits.max_elements = (size_t)cfg->max_elements;
  h->limits.max_rows = (size_t)cfg->max_rows;
  h->limits.max_confusion_classes = (size_t)cfg->max_confusion_classes;
  atomic_init(&h->draining, 0);
  atomic_init(&h->computing, 0u);
  xs_budget_init(&h->budget, cfg->max_memory);
  xs_budget_keep_spares(&h->budget, cfg->max_memory / 4 < XS_SPARE_MAX
                                        ? cfg->max_memory / 4
                                        : XS_SPARE_MAX);
  xs_metrics_init(&h->metrics);
  xs_buf_init(&h->health);
  xs_buf_init(&h->info);
  xs_buf_init(&h->v2_server);
  for (int i = 0; i < XS_V2_MODELS_MAX; i++)
    xs_buf_init(&h->v2_models[i]);
  if (build_bodies(h) != 0) {
    snprintf(err, err_size, "out of memory");
    free_handle(h);
    return NULL;
  }

  struct sockaddr_in sa4;
  struct sockaddr_in6 sa6;
  const struct sockaddr *sa;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  memset(&sa4, 0, sizeof sa4);
  memset(&sa6, 0, sizeof sa6);
  if (inet_pton(AF_INET, cfg->bind, &sa4.sin_addr) == 1) {
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons((uint16_t)cfg->port);
    sa = (const struct sockaddr *)&sa4;
  } else if (inet_pton(AF_INET6, cfg->bind, &sa6.sin6_addr) == 1) {
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons((uint16_t)cfg->port);
    sa = (const struct sockaddr *)&sa6;
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, err_size, "--bind '%s' is not a numeric address", cfg->bind);
    free_handle(h);
    return NULL;
  }

  h->guard = xs_guard_new((double)cfg->timeout, (double)cfg->header_timeout,
                          (double)cfg->body_timeout);
  if (h->guard == NULL) {
    snprintf(err, err_size, "cannot start the connection guard");
    free_handle(h);
    return NULL;
  }
  if (cfg->tls_cert[0] != '\0') {
    h->tls = xs_tls_new(cfg->tls_cert, cfg->tls_key, err, err_size);
    if (h->tls == NULL) {
      free_handle(h);
      return NULL;
    }
    xs_tls_install(h->tls);
    flags |= MHD_USE_TLS;
  }
  if (cfg->auth_token_file[0] != '\0') {
    h->auth = xs_auth_new(cfg->auth_token_file, err, err_size);
    if (h->auth == NULL) {
      free_handle(h);
      return NULL;
    }
  }
  /* A thread per connection by default: a long batch (its parse, its
   * computation, its printing) holds its own thread only, and the kernel
   * shares the cores between it and the small requests beside it. A pool
   * of N threads shares each thread among the connections it owns. */
  const unsigned threads = xs_config_threads(cfg);
  if (threads == 0)
    flags = (flags & ~(unsigned)MHD_USE_EPOLL) | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL;
  /* Past --max-connections a new connection is closed at once (a client
   * sees a quick refusal, not a silent wait in the backlog). */
  /* The callback travels as the option's pointer, as POSIX lets a function
   * pointer be one (dlsym's contract); memcpy says so without a cast ISO C
   * refuses. */
  gnutls_certificate_retrieve_function2 *cb = xs_tls_callback();
  void *cb_ptr = NULL;
  _Static_assert(sizeof cb == sizeof cb_ptr, "a function pointer fits");
  memcpy(&cb_ptr, &cb, sizeof cb_ptr);
  struct MHD_OptionItem tls[] = {
      {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, cb_ptr},
      {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)xs_tls_priorities},
      {MHD_OPTION_END, 0, NULL}};
  if (h->tls == NULL)
    tls[0].option = MHD_OPTION_END;
  struct MHD_OptionItem pool[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL},
      {MHD_OPTION_END, 0, NULL}};
  if (threads <= 1) /* one thread is libmicrohttpd's own, not a pool */
    pool[0].option = MHD_OPTION_END;
  /* --max-connections is enforced by accept_policy, which closes a
   * connection past it at once; libmicrohttpd's own limit, a little
   * higher, would instead stop accepting and leave it waiting in the
   * listen backlog. */
  const unsigned mhd_limit =
      (unsigned)cfg->max_connections + (threads > 0 ? threads : 1) + 16;
  h->daemon = MHD_start_daemon(
      flags, (uint16_t)cfg->port, accept_policy, h, on_request, h,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_SOCK_ADDR, sa,
      MHD_OPTION_ARRAY, pool, MHD_OPTION_THREAD_STACK_SIZE,
      (size_t)XS_THREAD_STACK, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)cfg->timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)XS_CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned int)cfg->max_connections_per_ip, MHD_OPTION_URI_LOG_CALLBACK,
      on_uri, h, MHD_OPTION_UNESCAPE_CALLBACK, unescape_path, h,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_ARRAY, tls,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_END);
  if (h->daemon == NULL) {
    snprintf(err, err_size, "cannot listen on %s port %llu (in use?)",
             cfg->bind, (unsigned long long)cfg->port);
    free_handle(h);
    return NULL;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info != NULL ? info->port : (unsigned)cfg->port;
  return h;
}

unsigned xs_http_port(const xs_http *h) {
  return h->port;
}

void xs_http_drain(xs_http *h) {
  atomic_store(&h->draining, 1);
}

/* Connections the kernel has completed but nobody has accepted yet: for a
 * listening socket, Linux reports its accept queue's length in
 * tcpi_unacked. 0 when it cannot tell. */
static unsigned backlog_length(struct MHD_Daemon *d) {
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (di == NULL ||
      getsockopt(di->listen_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return 0;
  return ti.tcpi_unacked;
}

/* Whether descriptor fd is a socket connected to xentd's port (not the
 * listener, which has no peer). */
static int connected_here(const xs_http *h, int fd) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    return 0; /* not a socket */
  const unsigned port =
      a.ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)&a)->sin_port)
      : a.ss_family == AF_INET6
          ? ntohs(((const struct sockaddr_in6 *)&a)->sin6_port)
          : 0;
  len = sizeof a;
  return port == h->port && getpeername(fd, (struct sockaddr *)&a, &len) == 0;
}

/* Sockets of this process connected to xentd's port that the guard does
 * not know: accepted by libmicrohttpd and not yet announced to
 * on_connection (or announced closed and not yet closed). A descriptor
 * exists from the accept's return, before any callback runs, so this sees
 * what no count kept by the callbacks can. One pass over /proc/self/fd,
 * one over the guard's table; 0 when memory runs out. */
static size_t unannounced(xs_http *h) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL)
    return 0;
  int *fds = NULL;
  size_t n = 0, cap = 0;
  int top = -1;
  const struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    char *end;
    const long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir) ||
        !connected_here(h, (int)fd))
      continue;
    if (n == cap) {
      int *more = realloc(fds, (cap = cap * 2 + 64) * sizeof *fds);
      if (more == NULL) {
        n = 0; /* out of memory: no wait, as before it existed */
        break;
      }
      fds = more;
    }
    fds[n++] = (int)fd;
    top = fd > top ? (int)fd : top;
  }
  closedir(dir);
  unsigned char *known = calloc((size_t)top + 1, 1);
  size_t unknown = 0;
  if (known != NULL) {
    xs_guard_mark(h->guard, known, (size_t)top + 1);
    for (size_t i = 0; i < n; i++)
      unknown += !known[fds[i]];
  }
  free(known);
  free(fds);
  return unknown;
}

void xs_http_close_listener(xs_http *h) {
  if (atomic_exchange(&h->late, 1) != 0)
    return;
  /* A connection accepted before this point that has not begun a request
   * yet came to send one, and may have sent it already: it is awaited like
   * one from the backlog, not closed as idle when the drain ends. One
   * announced from now on is awaited by on_connection (it reads late). */
  xs_guard_await_unused(h->guard);
  /* Connections already waiting in the listen backlog came before this
   * point: libmicrohttpd takes them as usual (each accepted one then
   * counts as busy until its request is answered, see on_connection). */
  h->backlog_at_close = backlog_length(h->daemon);
}

int xs_http_listener_closed(xs_http *h) {
  if (!atomic_load(&h->late))
    return 0;
  if (!h->listener_shut) {
    /* Until as many have been taken from the backlog as were waiting (a
     * thread busy with a long request takes them late), or it is empty
     * (libmicrohttpd's per-address limit refuses without telling). The
     * daemon's own accept path is kept: no connection is handed to it
     * from this thread. */
    if (atomic_load(&h->late_taken) < h->backlog_at_close &&
        backlog_length(h->daemon) > 0)
      return 0;
    const MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET) {
      /* shutdown stops the listening at once: a connection that comes
       * later is refused by the kernel, and one still in the backlog is
       * reset. The close waits for xs_http_stop: libmicrohttpd's threads
       * may still use the descriptor (their epoll set) until
       * MHD_stop_daemon has joined them, and its manual says to close a
       * quiesced socket only after that (closing here raced their
       * epoll_ctl, seen under ThreadSanitizer). */
      (void)shutdown(fd, SHUT_RDWR);
      h->listener = fd;
    }
    h->listener_shut = 1;
  }
  /* No connection can be accepted now, but one accepted just before may
   * not be announced yet (a thread preempted between accept and
   * on_connection): until it is, the drain cannot see it. What remains
   * unseen is the kernel's own step between taking a connection from the
   * backlog and installing its descriptor (a copy of the peer's address):
   * a thread preempted exactly there. */
  return unannounced(h) == 0;
}

void xs_http_reload(xs_http *h) {
  char why[300];
  if (h->tls != NULL) {
    if (xs_tls_reload(h->tls, why, sizeof why) == 0)
      xs_log_info("SIGHUP: reloaded --tls-cert and --tls-key");
    else
      xs_log_error("SIGHUP: kept the certificate in use: %s", why);
  }
  if (h->auth != NULL) {
    if (xs_auth_reload(h->auth, why, sizeof why) == 0)
      xs_log_info("SIGHUP: reloaded --auth-token-file (%zu tokens)",
                  xs_auth_count(h->auth));
    else
      xs_log_error("SIGHUP: kept the tokens in use: %s", why);
  }
}

uint64_t xs_http_busy(const xs_http *h) {
  return xs_guard_busy_count(h->guard);
}

void xs_http_stop(xs_http *h) {
  if (h == NULL)
    return;
  MHD_stop_daemon(h->daemon);
  if (h->listener >= 0)
    close(h->listener);
  xs_guard_free(h->guard);
  h->guard = NULL;
  free_handle(h);
}
