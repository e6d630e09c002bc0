/*
 * guard.c - connection deadlines (see guard.h).
 */
#include "guard.h"

#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct xs_guard_conn {
  struct xs_guard_conn *prev, *next;
  int fd;
  xs_phase phase;
  int64_t deadline_ns; /* 0: none */
  uint64_t requests;
  int shut; /* already shut down */
};

struct xs_guard {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t reaper;
  int stopping;
  int64_t limit_ns[XS_PHASE_COUNT];
  xs_guard_conn *head;
  uint64_t open, busy;
  uint64_t timeouts[XS_PHASE_COUNT];
};

/* How often the reaper looks: a deadline is kept to within this. */
enum { REAP_MS = 200 };

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *reap(void *arg) {
  xs_guard *g = arg;
  pthread_mutex_lock(&g->lock);
  while (!g->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += REAP_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    const int rc = pthread_cond_timedwait(&g->wake, &g->lock, &until);
    if (g->stopping)
      break;
    if (rc != 0 && rc != ETIMEDOUT)
      continue;
    const int64_t now = now_ns();
    for (xs_guard_conn *c = g->head; c != NULL; c = c->next) {
      if (c->shut || c->deadline_ns == 0 || now < c->deadline_ns)
        continue;
      /* The descriptor is still libmicrohttpd's: it is closed only after
       * xs_guard_close, which waits for this lock. */
      shutdown(c->fd, SHUT_RDWR);
      c->shut = 1;
      g->timeouts[c->phase]++;
    }
  }
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

xs_guard *xs_guard_new(double idle, double headers, double body) {
  xs_guard *g = calloc(1, sizeof *g);
  if (g == NULL)
    return NULL;
  g->limit_ns[XS_PHASE_IDLE] = (int64_t)(idle * 1e9);
  g->limit_ns[XS_PHASE_HEADERS] = (int64_t)(headers * 1e9);
  g->limit_ns[XS_PHASE_BODY] = (int64_t)(body * 1e9);
  pthread_condattr_t attr;
  if (pthread_mutex_init(&g->lock, NULL) != 0) {
    free(g);
    return NULL;
  }
  pthread_condattr_init(&attr);
  const int cond = pthread_cond_init(&g->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (cond != 0 || pthread_create(&g->reaper, NULL, reap, g) != 0) {
    if (cond == 0)
      pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
    return NULL;
  }
  return g;
}

void xs_guard_free(xs_guard *g) {
  if (g == NULL)
    return;
  pthread_mutex_lock(&g->lock);
  g->stopping = 1;
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  pthread_join(g->reaper, NULL);
  while (g->head != NULL) {
    xs_guard_conn *c = g->head;
    g->head = c->next;
    free(c);
  }
  pthread_cond_destroy(&g->wake);
  pthread_mutex_destroy(&g->lock);
  free(g);
}

static void set_phase(xs_guard *g, xs_guard_conn *c, xs_phase phase) {
  if (c->phase != XS_PHASE_IDLE)
    g->busy--;
  c->phase = phase;
  if (phase != XS_PHASE_IDLE)
    g->busy++;
  const int64_t limit = g->limit_ns[phase];
  c->deadline_ns = limit > 0 ? now_ns() + limit : 0;
}

xs_guard_conn *xs_guard_open(xs_guard *g, int fd) {
  xs_guard_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->fd = fd;
  pthread_mutex_lock(&g->lock);
  c->next = g->head;
  if (g->head != NULL)
    g->head->prev = c;
  g->head = c;
  g->open++;
  set_phase(g, c, XS_PHASE_IDLE);
  pthread_mutex_unlock(&g->lock);
  return c;
}

void xs_guard_phase(xs_guard *g, xs_guard_conn *c, xs_phase phase) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&g->lock);
  if (phase == XS_PHASE_HEADERS)
    c->requests++;
  set_phase(g, c, phase);
  pthread_mutex_unlock(&g->lock);
}

void xs_guard_await(xs_guard *g, xs_guard_conn *c) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&g->lock);
  set_phase(g, c, XS_PHASE_HEADERS);
  pthread_mutex_unlock(&g->lock);
}

void xs_guard_await_unused(xs_guard *g) {
  pthread_mutex_lock(&g->lock);
  for (xs_guard_conn *c = g->head; c != NULL; c = c->next)
    if (c->phase == XS_PHASE_IDLE && c->requests == 0)
      set_phase(g, c, XS_PHASE_HEADERS);
  pthread_mutex_unlock(&g->lock);
}

void xs_guard_mark(xs_guard *g, unsigned char *known, size_t n) {
  pthread_mutex_lock(&g->lock);
  for (const xs_guard_conn *c = g->head; c != NULL; c = c->next)
    if (c->fd >= 0 && (size_t)c->fd < n)
      known[c->fd] = 1;
  pthread_mutex_unlock(&g->lock);
}

uint64_t xs_guard_requests(const xs_guard_conn *c) {
  return c != NULL && c->requests > 0 ? c->requests - 1 : 0;
}

void xs_guard_close(xs_guard *g, xs_guard_conn *c) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&g->lock);
  if (c->phase != XS_PHASE_IDLE)
    g->busy--;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    g->head = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  g->open--;
  pthread_mutex_unlock(&g->lock);
  free(c);
}

static uint64_t read_locked(xs_guard *g, const uint64_t *v) {
  pthread_mutex_lock(&g->lock);
  const uint64_t x = *v;
  pthread_mutex_unlock(&g->lock);
  return x;
}

uint64_t xs_guard_open_count(xs_guard *g) {
  return read_locked(g, &g->open);
}

uint64_t xs_guard_busy_count(xs_guard *g) {
  return read_locked(g, &g->busy);
}

uint64_t xs_guard_timeouts(xs_guard *g, xs_phase phase) {
  if ((unsigned)phase >= XS_PHASE_COUNT)
    return 0;
  return read_locked(g, &g->timeouts[phase]);
}
