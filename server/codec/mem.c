/*
 * mem.c - the memory budget (codec.h): every large allocation of a request
 * (parsed arrays, outputs, response buffers) is taken from its share
 * before it is made, and given back when freed, so that the bytes all
 * requests hold at once never pass the budget.
 *
 * The budget is one atomic counter; reserving is a compare-and-swap loop
 * that never lets the counter pass the limit, so two requests racing for
 * the last bytes cannot both win. A request's share (xs_mem) is used by
 * one thread at a time and needs no atomics.
 */
#include <stdlib.h>

#include "codec.h"
#include "codec_priv.h"

void xs_budget_init(xs_budget *b, uint64_t limit) {
  atomic_init(&b->used, 0);
  b->limit = limit;
}

uint64_t xs_budget_used(const xs_budget *b) {
  return atomic_load_explicit(&b->used, memory_order_relaxed);
}

int xs_mem_reserve(xs_mem *m, uint64_t n, xs_error *err) {
  if (m == NULL || n == 0)
    return 0;
  xs_budget *b = m->budget;
  if (b == NULL) {
    m->held += n;
    return 0;
  }
  if (n > b->limit || m->held > b->limit - n) {
    xs_error_set(err, XS_ERR_PAYLOAD_TOO_LARGE,
                 "the request needs more than the memory budget of %llu "
                 "bytes (--max-memory)",
                 (unsigned long long)b->limit);
    return -1;
  }
  uint64_t used = atomic_load_explicit(&b->used, memory_order_relaxed);
  do {
    if (n > b->limit - used) {
      xs_error_set(err, XS_ERR_OVERLOADED,
                   "the memory budget (--max-memory) is taken by other "
                   "requests; retry later");
      return -1;
    }
  } while (!atomic_compare_exchange_weak_explicit(
      &b->used, &used, used + n, memory_order_relaxed, memory_order_relaxed));
  m->held += n;
  return 0;
}

int xs_mem_take(xs_mem *m, uint64_t n, xs_error *err) {
  if (m == NULL)
    return 0;
  if (n > m->held - m->used &&
      xs_mem_reserve(m, n - (m->held - m->used), err) != 0)
    return -1;
  m->used += n;
  return 0;
}

void xs_mem_give(xs_mem *m, uint64_t n) {
  if (m == NULL)
    return;
  m->used -= n < m->used ? n : m->used;
}

static void unreserve(xs_mem *m, uint64_t n) {
  m->held -= n;
  if (m->budget != NULL && n > 0)
    atomic_fetch_sub_explicit(&m->budget->used, n, memory_order_relaxed);
}

void xs_mem_trim(xs_mem *m) {
  if (m != NULL)
    unreserve(m, m->held - m->used);
}

void xs_mem_close(xs_mem *m) {
  if (m == NULL)
    return;
  unreserve(m, m->held);
  m->used = 0;
}

void *xs__alloc(xs_mem *mem, size_t bytes, xs_error *err) {
  const size_t size = bytes == 0 ? 1 : bytes;
  if (xs_mem_take(mem, size, err) != 0)
    return NULL;
  void *p = malloc(size);
  if (p == NULL) {
    xs_mem_give(mem, size);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
  }
  return p;
}

int xs__realloc(xs_mem *mem, void **p, size_t old_bytes, size_t new_bytes,
                xs_error *err) {
  if (old_bytes == 0 && *p != NULL)
    old_bytes = 1;
  if (new_bytes == 0)
    new_bytes = 1;
  if (new_bytes > old_bytes &&
      xs_mem_take(mem, new_bytes - old_bytes, err) != 0)
    return -1;
  void *q = realloc(*p, new_bytes);
  if (q == NULL) {
    if (new_bytes > old_bytes)
      xs_mem_give(mem, new_bytes - old_bytes);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  if (new_bytes < old_bytes)
    xs_mem_give(mem, old_bytes - new_bytes);
  *p = q;
  return 0;
}

void xs__free(xs_mem *mem, void *p, size_t bytes) {
  if (p == NULL)
    return;
  free(p);
  xs_mem_give(mem, bytes == 0 ? 1 : bytes);
}
