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
/* mmap flags and madvise beyond POSIX (Linux). */
#define _DEFAULT_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec.h"
#include "codec_priv.h"

void xs_budget_init(xs_budget *b, uint64_t limit) {
  atomic_init(&b->used, 0);
  b->limit = limit;
  atomic_flag_clear(&b->spare_lock);
  b->spare_max = 0;
  b->nspare = 0;
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

/*
 * Large blocks (a request's arrays and outputs, from 128 KiB) are mapped
 * on their own, aligned to 2 MiB and marked for transparent huge pages: a
 * fresh page costs a fault, and on this project's virtual machines 4 KiB
 * faults made a 16 MiB output cost 30 ms to touch, against 0.4 ms in 2 MiB
 * pages (measured). From 128 KiB rather than 2 MiB: a 256 x 1000 /v1/loss
 * request (a 2 MB gradient, logits growing through 128 KiB .. 2 MiB) took
 * about 1000 faults and 40 ms, and 6 faults and 25 ms this way (measured
 * with perf stat -e page-faults). A huge page backs the whole mapping once
 * touched, so the budget counts a big block at its mapped size (held_size).
 * Unmapped when freed, so that the memory goes back to the system at once,
 * unless the budget keeps it as a spare (below). Small blocks are malloc's.
 * Every caller passes the size it allocated, so the size tells which kind a
 * block is.
 */
enum { XS__BIG = 128 * 1024, XS__HUGE = 2 * 1024 * 1024 };

static size_t big_size(size_t bytes) {
  return (bytes + XS__HUGE - 1) / XS__HUGE * XS__HUGE;
}

/* The bytes a block of `bytes` holds, as the budget counts them (SIZE_MAX
 * when its mapping would not fit in a size_t: more than any budget). */
static size_t held_size(size_t bytes) {
  if (bytes < XS__BIG)
    return bytes;
  const size_t size = big_size(bytes);
  return size < bytes ? SIZE_MAX : size;
}

/* ----------------------------------------------------------- spares --
 *
 * A fresh mapping costs the kernel's clearing of its pages when first
 * touched: for a 256 x 1000 v2 binary request (a few 2 MiB mappings) about
 * a fifth of its time (measured: 1.50-1.70 ms p50 with every block
 * unmapped, 1.15-1.30 ms when freed blocks were reused). So a budget may
 * keep a few freed blocks (xs_budget_keep_spares) and hand one to the next
 * request of a block of the same mapped size; its bytes are the last
 * request's, which every caller overwrites before reading (small blocks
 * come from malloc, never cleared either). A block of any other size
 * first gives every spare back: the daemon's resident memory then never
 * passes what it would be with no spares, but by the spares themselves
 * while no large block is being made (at most spare_max, shown in
 * /metrics). */
/* A holder that loses its core would keep a spinner spinning for a time
 * slice: a waiter yields instead. */
static void spare_lock(xs_budget *b) {
  while (
      atomic_flag_test_and_set_explicit(&b->spare_lock, memory_order_acquire))
    sched_yield();
}

static void spare_unlock(xs_budget *b) {
  atomic_flag_clear_explicit(&b->spare_lock, memory_order_release);
}

/* Bytes of the spare blocks; under the lock. */
static uint64_t spare_sum(const xs_budget *b) {
  uint64_t bytes = 0;
  for (int i = 0; i < b->nspare; i++)
    bytes += b->spare[i].size;
  return bytes;
}

/* A spare block of exactly size bytes, or NULL; when there is none, every
 * spare is unmapped (after the lock is let go). */
static void *spare_take(xs_budget *b, size_t size) {
  void *drop[XS_SPARE_SLOTS];
  size_t drop_size[XS_SPARE_SLOTS];
  int ndrop = 0;
  void *p = NULL;
  spare_lock(b);
  for (int i = 0; i < b->nspare; i++)
    if (b->spare[i].size == size) {
      p = b->spare[i].p;
      b->spare[i] = b->spare[--b->nspare];
      break;
    }
  if (p == NULL) {
    for (; b->nspare > 0; ndrop++) {
      b->nspare--;
      drop[ndrop] = b->spare[b->nspare].p;
      drop_size[ndrop] = b->spare[b->nspare].size;
    }
  }
  spare_unlock(b);
  for (int i = 0; i < ndrop; i++)
    munmap(drop[i], drop_size[i]);
  return p;
}

/* Keeps a freed mapping of size bytes when there is room: 1, else 0. */
static int spare_put(xs_budget *b, void *p, size_t size) {
  int kept = 0;
  spare_lock(b);
  if (b->nspare < XS_SPARE_SLOTS && size <= b->spare_max &&
      spare_sum(b) <= b->spare_max - size) {
    b->spare[b->nspare].p = p;
    b->spare[b->nspare].size = size;
    b->nspare++;
    kept = 1;
  }
  spare_unlock(b);
  return kept;
}

void xs_budget_keep_spares(xs_budget *b, uint64_t max) {
  spare_lock(b);
  b->spare_max = max;
  spare_unlock(b);
}

uint64_t xs_budget_spare(xs_budget *b) {
  spare_lock(b);
  const uint64_t bytes = spare_sum(b);
  spare_unlock(b);
  return bytes;
}

/* Resident bytes of a mapping (mincore, a page at a time; 0 if the
 * mapping went meanwhile: mincore fails on an unmapped range). */
static uint64_t resident(void *p, size_t size) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char vec[256];
  uint64_t bytes = 0;
  for (size_t at = 0; at < size; at += sizeof vec * page) {
    const size_t len =
        size - at < sizeof vec * page ? size - at : sizeof vec * page;
    if (mincore((char *)p + at, len, vec) != 0)
      return 0;
    for (size_t i = 0; i < (len + page - 1) / page; i++)
      bytes += (vec[i] & 1) ? page : 0;
  }
  return bytes;
}

uint64_t xs_budget_spare_resident(xs_budget *b) {
  void *p[XS_SPARE_SLOTS];
  size_t size[XS_SPARE_SLOTS];
  spare_lock(b);
  const int n = b->nspare;
  for (int i = 0; i < n; i++) {
    p[i] = b->spare[i].p;
    size[i] = b->spare[i].size;
  }
  spare_unlock(b);
  /* Outside the lock: a block taken meanwhile is still mapped (in use) or
   * unmapped (mincore fails); either way nothing in it is touched. */
  uint64_t bytes = 0;
  for (int i = 0; i < n; i++)
    bytes += resident(p[i], size[i]);
  return bytes;
}

void xs_budget_close(xs_budget *b) {
  xs_budget_keep_spares(b, 0);
  (void)spare_take(b, 0); /* no mapping has size 0: every spare goes */
}

static void *big_alloc(xs_budget *b, size_t bytes) {
  const size_t size = big_size(bytes);
  if (size < bytes || size > SIZE_MAX - XS__HUGE)
    return NULL;
  if (b != NULL) {
    void *spare = spare_take(b, size);
    if (spare != NULL)
      return spare;
  }
  char *p = mmap(NULL, size + XS__HUGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  const uintptr_t at = (uintptr_t)p;
  const size_t head = (XS__HUGE - at % XS__HUGE) % XS__HUGE;
  if (head > 0)
    munmap(p, head);
  munmap(p + head + size, XS__HUGE - head);
  /* Best effort: with huge pages off, ordinary pages serve. */
  (void)madvise(p + head, size, MADV_HUGEPAGE);
  return p + head;
}

static void big_free(xs_budget *b, void *p, size_t bytes) {
  if (b == NULL || !spare_put(b, p, big_size(bytes)))
    munmap(p, big_size(bytes));
}

/* The budget whose spares a share's blocks use (NULL: none). */
static xs_budget *spares_of(const xs_mem *mem) {
  return mem != NULL ? mem->budget : NULL;
}

static void *raw_alloc(xs_budget *b, size_t bytes) {
  return bytes >= XS__BIG ? big_alloc(b, bytes) : malloc(bytes);
}

static void raw_free(xs_budget *b, void *p, size_t bytes) {
  if (p == NULL)
    return;
  if (bytes >= XS__BIG)
    big_free(b, p, bytes);
  else
    free(p);
}

void *xs__alloc(xs_mem *mem, size_t bytes, xs_error *err) {
  const size_t size = bytes == 0 ? 1 : bytes;
  const size_t held = held_size(size);
  if (xs_mem_take(mem, held, err) != 0)
    return NULL;
  void *p = raw_alloc(spares_of(mem), size);
  if (p == NULL) {
    xs_mem_give(mem, held);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
  }
  return p;
}

/* A block moved to a new size: in place when both sizes are small (malloc
 * may), or within the same 2 MiB-rounded mapping; else a new block, the
 * bytes copied, the old freed. */
static void *raw_realloc(xs_budget *b, void *p, size_t old_bytes,
                         size_t new_bytes) {
  if (p == NULL)
    return raw_alloc(b, new_bytes);
  if (old_bytes < XS__BIG && new_bytes < XS__BIG)
    return realloc(p, new_bytes);
  if (old_bytes >= XS__BIG && new_bytes >= XS__BIG &&
      big_size(old_bytes) == big_size(new_bytes))
    return p;
  if (old_bytes >= XS__BIG && new_bytes >= XS__BIG &&
      big_size(new_bytes) < big_size(old_bytes)) {
    /* Shrinking: give the tail pages back. */
    munmap((char *)p + big_size(new_bytes),
           big_size(old_bytes) - big_size(new_bytes));
    return p;
  }
  void *q = raw_alloc(b, new_bytes);
  if (q == NULL)
    return NULL;
  memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
  raw_free(b, p, old_bytes);
  return q;
}

int xs__realloc(xs_mem *mem, void **p, size_t old_bytes, size_t new_bytes,
                xs_error *err) {
  if (old_bytes == 0 && *p != NULL)
    old_bytes = 1;
  if (new_bytes == 0)
    new_bytes = 1;
  const size_t old_held = *p != NULL ? held_size(old_bytes) : 0;
  const size_t new_held = held_size(new_bytes);
  if (new_held > old_held && xs_mem_take(mem, new_held - old_held, err) != 0)
    return -1;
  void *q = raw_realloc(spares_of(mem), *p, old_bytes, new_bytes);
  if (q == NULL) {
    if (new_held > old_held)
      xs_mem_give(mem, new_held - old_held);
    xs_error_set(err, XS_ERR_INTERNAL, "out of memory");
    return -1;
  }
  if (new_held < old_held)
    xs_mem_give(mem, old_held - new_held);
  *p = q;
  return 0;
}

void xs__free(xs_mem *mem, void *p, size_t bytes) {
  if (p == NULL)
    return;
  const size_t size = bytes == 0 ? 1 : bytes;
  raw_free(spares_of(mem), p, size);
  xs_mem_give(mem, held_size(size));
}
