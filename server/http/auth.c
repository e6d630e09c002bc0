/*
 * auth.c - bearer tokens (see auth.h).
 */
#include "auth.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_TOKEN = 512, MAX_FILE = 1 << 20 };

typedef struct tokens {
  char **list;
  size_t count;
} tokens;

struct xs_auth {
  char path[1024];
  pthread_rwlock_t lock;
  tokens cur;
};

static void tokens_free(tokens *t) {
  for (size_t i = 0; i < t->count; i++) {
    /* Gone from memory once replaced. */
    volatile char *v = t->list[i];
    for (size_t k = 0; v[k] != '\0'; k++)
      v[k] = 0;
    free(t->list[i]);
  }
  free(t->list);
  t->list = NULL;
  t->count = 0;
}

static int load(const char *path, tokens *out, char *err, size_t err_size) {
  FILE *f = fopen(path, "r");
  out->list = NULL;
  out->count = 0;
  if (f == NULL) {
    snprintf(err, err_size, "cannot read --auth-token-file %s", path);
    return -1;
  }
  char line[MAX_TOKEN + 2];
  size_t cap = 0, total = 0;
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    size_t n = strlen(line);
    total += n;
    if (n == sizeof line - 1 && line[n - 1] != '\n') {
      snprintf(err, err_size,
               "--auth-token-file: a line is longer than %d "
               "bytes",
               MAX_TOKEN);
      rc = -1;
      break;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                     line[n - 1] == ' ' || line[n - 1] == '\t'))
      line[--n] = '\0';
    size_t s = 0;
    while (line[s] == ' ' || line[s] == '\t')
      s++;
    if (line[s] == '\0' || line[s] == '#')
      continue;
    if (total > MAX_FILE) {
      snprintf(err, err_size, "--auth-token-file is over 1 MiB");
      rc = -1;
      break;
    }
    if (out->count == cap) {
      cap = cap == 0 ? 4 : cap * 2;
      char **l = realloc(out->list, cap * sizeof *l);
      if (l == NULL) {
        rc = -1;
        break;
      }
      out->list = l;
    }
    out->list[out->count] = strdup(line + s);
    if (out->list[out->count] == NULL) {
      rc = -1;
      break;
    }
    out->count++;
  }
  fclose(f);
  if (rc == 0 && out->count == 0) {
    snprintf(err, err_size, "--auth-token-file %s holds no token", path);
    rc = -1;
  }
  if (rc != 0)
    tokens_free(out);
  return rc;
}

xs_auth *xs_auth_new(const char *path, char *err, size_t err_size) {
  xs_auth *a = calloc(1, sizeof *a);
  if (a == NULL)
    return NULL;
  snprintf(a->path, sizeof a->path, "%s", path);
  if (load(path, &a->cur, err, err_size) != 0 ||
      pthread_rwlock_init(&a->lock, NULL) != 0) {
    tokens_free(&a->cur);
    free(a);
    return NULL;
  }
  return a;
}

int xs_auth_reload(xs_auth *a, char *err, size_t err_size) {
  tokens next;
  if (load(a->path, &next, err, err_size) != 0)
    return -1;
  pthread_rwlock_wrlock(&a->lock);
  tokens old = a->cur;
  a->cur = next;
  pthread_rwlock_unlock(&a->lock);
  tokens_free(&old);
  return 0;
}

/* Equal strings, in time that depends on the lengths only. */
static int same(const char *a, size_t na, const char *b, size_t nb) {
  unsigned diff = na != nb;
  const size_t n = na < nb ? na : nb;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
  return diff == 0;
}

int xs_auth_check(xs_auth *a, const char *authorization) {
  if (authorization == NULL)
    return 0;
  const char *p = authorization;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
    return 0;
  p += 6;
  while (*p == ' ' || *p == '\t')
    p++;
  size_t n = strlen(p);
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  int ok = 0;
  pthread_rwlock_rdlock(&a->lock);
  for (size_t i = 0; i < a->cur.count; i++) /* no early exit */
    ok |= same(a->cur.list[i], strlen(a->cur.list[i]), p, n);
  pthread_rwlock_unlock(&a->lock);
  return ok;
}

size_t xs_auth_count(xs_auth *a) {
  pthread_rwlock_rdlock(&a->lock);
  const size_t n = a->cur.count;
  pthread_rwlock_unlock(&a->lock);
  return n;
}

void xs_auth_free(xs_auth *a) {
  if (a == NULL)
    return;
  tokens_free(&a->cur);
  pthread_rwlock_destroy(&a->lock);
  free(a);
}
