/*
 * The portable byte format of a metrics state, version 2.
 *
 * Every number is little-endian. "v" is an unsigned LEB128 varint: 7 bits a
 * byte, lowest group first, high bit set on every byte but the last, at most
 * 9 bytes, value <= 2^63 - 1, and minimal (no final zero group unless the
 * value is 0). "a" is an accumulator (metrics.h), non-negative: u8 low, the
 * index of its lowest non-zero 32-bit digit, u8 count, the number of digits
 * from there to the highest non-zero one, then `count` u32 digits, lowest
 * first; zero is low = count = 0; low + count <= 68, the first and last
 * digits are non-zero and digit 67 is below 2^31. So each state is written
 * in exactly one encoding: equal states give equal bytes.
 *
 *   offset  size  field
 *        0     8  magic "XENTMTRC"
 *        8     4  u32 format version (XENT_METRICS_FORMAT_VERSION)
 *       12     4  u32 options: bit 0 confusion, bit 1 per_class, others 0
 *       16     8  u64 length of the whole encoding in bytes
 *       24     8  u64 classes C
 *       32     4  u32 bins B
 *       36     4  u32 top_k count K
 *       40     8  i64 ignore_index
 *       48    8K  u64 top_k[j], j < K
 *   then, from 48 + 8K:
 *     v counted, v correct, v top_correct[j] for j < K
 *     a confidence sum, a nll sum, a brier sum, a entropy sum
 *     for each bin b < B: v count, v correct, a confidence sum
 *     per_class without confusion, for each class c < C:
 *       v support, v predicted, v tp
 *     confusion: v number of non-zero cells Z, then Z times v gap, v value:
 *       cell index = previous index + 1 + gap (the first: gap), row-major
 *       (label * C + prediction), value >= 1
 *   then u32 CRC-32 of every byte before it (IEEE 802.3: reflected
 *     polynomial 0xEDB88320, start and final xor 0xFFFFFFFF; zlib's crc32,
 *     Python's zlib.crc32, Go's crc32.ChecksumIEEE, Java's CRC32)
 *   and nothing after.
 *
 * Version 1 is the same without the checksum: it is still read (a state
 * written before version 2 merges with the newer ones), never written.
 * The checksum is checked right after the total length, before anything
 * else is believed, so a changed byte is reported as a changed byte.
 *
 * Parsing checks everything in a first pass that writes nothing, then
 * decodes again into the state. No length in the bytes is trusted: every
 * read is bounded by the size given, every count by the rows counted.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "metrics.h"

static const unsigned char magic[8] = {'X', 'E', 'N', 'T', 'M', 'T', 'R', 'C'};

enum {
  OFF_VERSION = 8,
  OFF_OPTIONS = 12,
  OFF_LENGTH = 16,
  OFF_CLASSES = 24,
  OFF_BINS = 32,
  OFF_TOP_K_COUNT = 36,
  OFF_IGNORE = 40,
  OFF_TOP_K = 48,
  OPT_CONFUSION = 1,
  OPT_PER_CLASS = 2
};

/* The checksum: CRC-32 four bits at a time. crc_nibble[i] is i run through
 * four steps of the shift register (shift right, xor the polynomial when
 * the bit shifted out is 1); test_metrics checks the standard check value,
 * CRC-32("123456789") = 0xCBF43926. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu,
    0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};

static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    c = (c >> 4) ^ crc_nibble[c & 15u];
    c = (c >> 4) ^ crc_nibble[c & 15u];
  }
  return c ^ 0xffffffffu;
}

enum { CHECKSUM_SIZE = 4 };

/* Relative room for the rounding of one row's figures (below). */
static const double ROUNDING = 0x1p-20;

/* ------------------------------------------------------------ writing -- */

/* Writes through `out` when it is not NULL; always counts. */
typedef struct writer {
  unsigned char *out;
  size_t pos;
} writer;

static void put_byte(writer *w, unsigned v) {
  if (w->out != NULL)
    w->out[w->pos] = (unsigned char)v;
  w->pos++;
}

static void put_le(writer *w, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    put_byte(w, (unsigned)(v >> (8 * i)) & 0xffu);
}

static void put_varint(writer *w, uint64_t v) {
  while (v >= 0x80u) {
    put_byte(w, (unsigned)(v & 0x7fu) | 0x80u);
    v >>= 7;
  }
  put_byte(w, (unsigned)v);
}

static void put_acc(writer *w, const xent__acc *a) {
  int low = 0, high = XENT__ACC_DIGITS - 1;
  while (low < XENT__ACC_DIGITS && a->d[low] == 0)
    low++;
  if (low == XENT__ACC_DIGITS) {
    put_byte(w, 0);
    put_byte(w, 0);
    return;
  }
  while (a->d[high] == 0)
    high--;
  put_byte(w, (unsigned)low);
  put_byte(w, (unsigned)(high - low + 1));
  for (int i = low; i <= high; i++)
    put_le(w, (uint64_t)a->d[i], 4);
}

static void encode(const xent_metrics *st, writer *w, uint64_t length) {
  const xent_metrics_config *c = &st->config;
  xent__metrics_layout l;
  xent__metrics_layout_of(c, &l);
  for (int i = 0; i < 8; i++)
    put_byte(w, magic[i]);
  put_le(w, XENT_METRICS_FORMAT_VERSION, 4);
  put_le(w,
         (c->confusion ? OPT_CONFUSION : 0u) |
             (c->per_class ? OPT_PER_CLASS : 0u),
         4);
  put_le(w, length, 8);
  put_le(w, c->classes, 8);
  put_le(w, c->bins, 4);
  put_le(w, c->top_k_count, 4);
  put_le(w, (uint64_t)c->ignore_index, 8);
  for (size_t j = 0; j < c->top_k_count; j++)
    put_le(w, c->top_k[j], 8);
  put_varint(w, st->counted);
  put_varint(w, st->correct);
  for (size_t j = 0; j < c->top_k_count; j++)
    put_varint(w, st->top_correct[j]);
  put_acc(w, &st->confidence);
  put_acc(w, &st->nll);
  put_acc(w, &st->brier);
  put_acc(w, &st->entropy);
  for (size_t b = 0; b < c->bins; b++) {
    put_varint(w, xent__cu64_at(st, l.bin_count)[b]);
    put_varint(w, xent__cu64_at(st, l.bin_correct)[b]);
    put_acc(w, xent__cacc_at(st, l.bin_conf) + b);
  }
  if (l.support)
    for (size_t k = 0; k < c->classes; k++) {
      put_varint(w, xent__cu64_at(st, l.support)[k]);
      put_varint(w, xent__cu64_at(st, l.predicted)[k]);
      put_varint(w, xent__cu64_at(st, l.tp)[k]);
    }
  if (l.confusion) {
    const uint64_t *cm = xent__cu64_at(st, l.confusion);
    const size_t cells = c->classes * c->classes;
    uint64_t nonzero = 0;
    for (size_t i = 0; i < cells; i++)
      nonzero += cm[i] != 0;
    put_varint(w, nonzero);
    size_t next = 0; /* the first index the next gap counts from */
    for (size_t i = 0; i < cells; i++)
      if (cm[i] != 0) {
        put_varint(w, i - next);
        put_varint(w, cm[i]);
        next = i + 1;
      }
  }
  /* last, the checksum of everything before it */
  const uint32_t crc = w->out != NULL ? crc32_of(w->out, w->pos) : 0;
  put_le(w, crc, CHECKSUM_SIZE);
}

xent_status xent_metrics_serialize(const xent_metrics *state, void *buf,
                                   size_t size, size_t *written,
                                   xent_error *err) {
  if (state == NULL || written == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  const xent_status st = xent__metrics_state_ok(state, XENT_ARG_STATE, err);
  if (st != XENT_OK)
    return st;
  writer count = {NULL, 0};
  encode(state, &count, 0);
  if (buf != NULL) {
    if (size < count.pos)
      return xent__fail(err, XENT_ERR_BUFFER, XENT_ARG_SERIALIZED, -1, -1);
    writer w = {buf, 0};
    encode(state, &w, count.pos);
  }
  *written = count.pos;
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}

/* ------------------------------------------------------------ reading -- */

/* A bounded reader. The first failure sticks: later reads fail too and the
 * error keeps the first offset. */
typedef struct reader {
  const unsigned char *in;
  size_t size, pos;
  xent_status st;
  xent_error *err;
} reader;

static int bad(reader *r, xent_status status, xent_arg arg, size_t at) {
  if (r->st == XENT_OK)
    r->st = xent__fail(r->err, status, arg, (int64_t)at, -1);
  return 0;
}

static int get_le(reader *r, int bytes, uint64_t *v) {
  if (r->st != XENT_OK)
    return 0;
  if (r->size - r->pos < (size_t)bytes)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->size);
  uint64_t x = 0;
  for (int i = 0; i < bytes; i++)
    x |= (uint64_t)r->in[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)bytes;
  *v = x;
  return 1;
}

static int get_varint(reader *r, uint64_t *v) {
  if (r->st != XENT_OK)
    return 0;
  const size_t at = r->pos;
  uint64_t x = 0;
  for (int i = 0; i < 9; i++) {
    if (r->pos >= r->size)
      return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->size);
    const unsigned byte = r->in[r->pos++];
    x |= (uint64_t)(byte & 0x7fu) << (7 * i);
    if ((byte & 0x80u) == 0) {
      /* minimal: a last byte of zero only for the value 0 itself */
      if (byte == 0 && i > 0)
        return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
      *v = x;
      return 1;
    }
  }
  /* nine bytes of 7 bits hold 63: a tenth would exceed 2^63 - 1 */
  return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
}

static int get_acc(reader *r, xent__acc *a) {
  uint64_t low, count;
  const size_t at = r->pos;
  if (!get_le(r, 1, &low) || !get_le(r, 1, &count))
    return 0;
  xent__acc_zero(a);
  if (count == 0)
    return low == 0 ? 1
                    : bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
  if (low + count > XENT__ACC_DIGITS)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t digit;
    if (!get_le(r, 4, &digit))
      return 0;
    a->d[low + i] = (int64_t)digit;
  }
  const int top = (int)(low + count - 1);
  if (a->d[low] == 0 || a->d[top] == 0 ||
      a->d[XENT__ACC_DIGITS - 1] >= ((int64_t)1 << 31))
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
  return 1;
}

/* A count that must lie in [lo, hi] (and so below 2^63). */
static int get_count(reader *r, uint64_t lo, uint64_t hi, uint64_t *v) {
  const size_t at = r->pos;
  if (!get_varint(r, v))
    return 0;
  if (*v < lo || *v > hi)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
  return 1;
}

/* The exact value v * times, normal. */
static void scaled(xent__acc *a, double v, uint64_t times) {
  xent__acc_zero(a);
  xent__acc_add_scaled(a, v, times);
  xent__acc_normalize(a);
}

/* An accumulator that must lie in [0, bound * times] (0 <= bound). */
static int get_sum(reader *r, double bound, uint64_t times, xent__acc *a) {
  const size_t at = r->pos;
  if (!get_acc(r, a))
    return 0;
  xent__acc hi;
  scaled(&hi, bound, times);
  if (xent__acc_cmp(a, &hi) > 0)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
  return 1;
}

/* The header: magic, version, length, checksum (when `verify`; a second
 * pass over bytes already checked skips it), options and configuration.
 * For version 2 the reader's end moves to the checksum: what follows the
 * header ends there. */
static int get_header(reader *r, xent_metrics_config *c, int verify) {
  /* The version is read as soon as it is there: a format of another
   * version may be laid out differently past it. */
  if (r->size < OFF_VERSION || memcmp(r->in, magic, sizeof magic) != 0)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, 0);
  r->pos = OFF_VERSION;
  uint64_t version, options, length, classes, bins, count, ignore;
  if (!get_le(r, 4, &version))
    return 0;
  if (version != 1 && version != XENT_METRICS_FORMAT_VERSION)
    return bad(r, XENT_ERR_STATE_VERSION, XENT_ARG_SERIALIZED, OFF_VERSION);
  const size_t tail = version == 1 ? 0 : CHECKSUM_SIZE;
  if (r->size < OFF_TOP_K + tail)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->size);
  get_le(r, 4, &options);
  get_le(r, 8, &length);
  if (length != r->size)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, OFF_LENGTH);
  if (tail > 0) {
    const size_t end = r->size - tail;
    uint32_t want = 0;
    for (int i = 0; i < CHECKSUM_SIZE; i++)
      want |= (uint32_t)r->in[end + (size_t)i] << (8 * i);
    if (verify && crc32_of(r->in, end) != want)
      return bad(r, XENT_ERR_STATE_CHECKSUM, XENT_ARG_SERIALIZED, end);
    r->size = end;
  }
  if (!get_le(r, 8, &classes) || !get_le(r, 4, &bins) ||
      !get_le(r, 4, &count) || !get_le(r, 8, &ignore))
    return 0;
  if (options & ~(uint64_t)(OPT_CONFUSION | OPT_PER_CLASS))
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, OFF_OPTIONS);
  if (classes < 1 || classes > XENT_METRICS_MAX_CLASSES)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_CLASSES, OFF_CLASSES);
  if (bins < 1 || bins > XENT_METRICS_MAX_BINS)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_BINS, OFF_BINS);
  if (count > XENT_METRICS_MAX_TOP_K)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_TOP_K, OFF_TOP_K_COUNT);
  memset(c, 0, sizeof *c);
  c->classes = (size_t)classes;
  c->bins = (size_t)bins;
  c->top_k_count = (size_t)count;
  c->confusion = (options & OPT_CONFUSION) != 0;
  c->per_class = (options & OPT_PER_CLASS) != 0;
  c->ignore_index = (int64_t)ignore;
  for (size_t j = 0; j < c->top_k_count; j++) {
    uint64_t k;
    if (!get_le(r, 8, &k))
      return 0;
    if (k < 1 || k > classes || (j > 0 && k <= c->top_k[j - 1]))
      return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_TOP_K, OFF_TOP_K + 8 * j);
    c->top_k[j] = (size_t)k;
  }
  xent_error e;
  if (xent__metrics_config_valid(c, &e) != XENT_OK)
    return bad(r, XENT_ERR_STATE_FORMAT, e.arg, OFF_OPTIONS);
  return 1;
}

/* Bins: counts that add up to `counted` and `correct`, and sums of
 * confidences that add up to the total. A row of bin b has 1 / s in
 * (b/B, (b+1)/B], and at least 1/C (s is a sum of C terms of at most 1);
 * the confidence it adds may be 1 - (s - 1) / s instead (metrics.c), a few
 * units of 2^-53 per class away: the bounds allow 2^-20 either side, and a
 * bin entirely below 1/C holds no row. dst NULL: check only. */
static int get_bins(reader *r, const xent_metrics *head, xent_metrics *dst,
                    int add, const xent__metrics_layout *l) {
  const size_t B = head->config.bins;
  uint64_t left = head->counted, right_left = head->correct;
  const double floor_conf = (1.0 - ROUNDING) / (double)head->config.classes;
  xent__acc total;
  xent__acc_zero(&total);
  for (size_t b = 0; b < B; b++) {
    uint64_t n, right;
    xent__acc sum, lo, hi;
    const size_t at = r->pos;
    if (!get_count(r, 0, left, &n) ||
        !get_count(r, 0, n < right_left ? n : right_left, &right) ||
        !get_acc(r, &sum))
      return 0;
    left -= n;
    right_left -= right;
    if (n == 0) { /* an empty bin (most are): its sum is 0, nothing to add */
      if (xent__acc_sign(&sum) != 0)
        return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
      continue;
    }
    const double edge_lo = (double)b / (double)B;
    const double edge_hi = b + 1 < B ? (double)(b + 1) / (double)B : 1.0;
    scaled(&lo, fmax(floor_conf, edge_lo - 0x1p-20), n);
    scaled(&hi, fmin(1.0, edge_hi + 0x1p-20), n);
    if (xent__acc_cmp(&sum, &lo) < 0 || xent__acc_cmp(&sum, &hi) > 0)
      return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
    xent__acc_merge(&total, &sum);
    if (dst != NULL && add) {
      xent__u64_at(dst, l->bin_count)[b] += n;
      xent__u64_at(dst, l->bin_correct)[b] += right;
      xent__acc_merge(&xent__acc_at(dst, l->bin_conf)[b], &sum);
    } else if (dst != NULL) {
      xent__u64_at(dst, l->bin_count)[b] = n;
      xent__u64_at(dst, l->bin_correct)[b] = right;
      xent__acc_at(dst, l->bin_conf)[b] = sum;
    }
  }
  if (left != 0 || right_left != 0 ||
      xent__acc_cmp(&total, &head->confidence) != 0)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->pos);
  return 1;
}

/* Per-class counts: supports and predictions add up to `counted`, tp to
 * `correct`, tp <= support and tp <= predicted. */
static int get_classes(reader *r, const xent_metrics *head, xent_metrics *dst,
                       int add, const xent__metrics_layout *l) {
  uint64_t sup_left = head->counted, pred_left = head->counted;
  uint64_t tp_left = head->correct;
  for (size_t c = 0; c < head->config.classes; c++) {
    uint64_t sup, pred, tp;
    if (!get_count(r, 0, sup_left, &sup) || !get_count(r, 0, pred_left, &pred))
      return 0;
    const uint64_t most = sup < pred ? sup : pred;
    if (!get_count(r, 0, most < tp_left ? most : tp_left, &tp))
      return 0;
    sup_left -= sup;
    pred_left -= pred;
    tp_left -= tp;
    if (dst != NULL) {
      uint64_t *at[3] = {xent__u64_at(dst, l->support) + c,
                         xent__u64_at(dst, l->predicted) + c,
                         xent__u64_at(dst, l->tp) + c};
      *at[0] = (add ? *at[0] : 0) + sup;
      *at[1] = (add ? *at[1] : 0) + pred;
      *at[2] = (add ? *at[2] : 0) + tp;
    }
  }
  if (sup_left != 0 || pred_left != 0 || tp_left != 0)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->pos);
  return 1;
}

/* The sparse confusion matrix: increasing cells, values >= 1 adding up to
 * `counted`, the diagonal to `correct`. */
static int get_confusion(reader *r, const xent_metrics *head, xent_metrics *dst,
                         int add, const xent__metrics_layout *l) {
  const uint64_t C = head->config.classes, cells = C * C;
  uint64_t nonzero, left = head->counted, diag = 0, next = 0;
  if (!get_count(r, 0, head->counted < cells ? head->counted : cells, &nonzero))
    return 0;
  for (uint64_t k = 0; k < nonzero; k++) {
    uint64_t gap, v;
    if (!get_count(r, 0, cells - next - 1, &gap) || !get_count(r, 1, left, &v))
      return 0;
    const uint64_t cell = next + gap;
    left -= v;
    if (cell / C == cell % C)
      diag += v;
    if (dst != NULL) {
      uint64_t *at = xent__u64_at(dst, l->confusion) + cell;
      *at = (add ? *at : 0) + v;
    }
    next = cell + 1;
    if (next == cells && k + 1 < nonzero)
      return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->pos);
  }
  if (left != 0 || diag != head->correct)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->pos);
  return 1;
}

/* Decodes the whole encoding; dst NULL checks only; add: dst (of the same
 * configuration, checked) gets the counts and sums added, cell by cell
 * where they are sparse, and is not laid out again. head receives the
 * fixed part (configuration, counts, the four sums) either way. */
static int decode(reader *r, xent_metrics *head, xent_metrics *dst, int add) {
  memset(head, 0, sizeof *head);
  xent_metrics_config c;
  if (!get_header(r, &c, dst == NULL))
    return 0;
  xent__metrics_config_norm(&c, &head->config);
  xent__metrics_layout l;
  xent__metrics_layout_of(&head->config, &l);
  head->magic = XENT__METRICS_MAGIC;
  head->size = l.size;
  const size_t K = c.top_k_count;
  uint64_t counted, correct, prev;
  if (!get_count(r, 0, XENT__METRICS_MAX_COUNT, &counted) ||
      !get_count(r, 0, counted, &correct))
    return 0;
  head->counted = counted;
  head->correct = correct;
  prev = correct;
  for (size_t j = 0; j < K; j++) {
    const size_t at = r->pos;
    uint64_t t;
    if (!get_count(r, prev, counted, &t))
      return 0;
    /* top-1 is the accuracy; the top `classes` holds every label */
    if ((c.top_k[j] == 1 && t != correct) ||
        (c.top_k[j] == c.classes && t != counted))
      return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, at);
    head->top_correct[j] = t;
    prev = t;
  }
  /* Per-row bounds: confidence <= 1, nll finite, brier <= 2 and entropy
   * <= log C (the lower bound of the confidence, 1/C, is the bins'), each
   * with room for the rounding of a row's value: every term of s is at
   * most 1 and s is a sum of C of them, so a row's brier and entropy are
   * off by a few units of C 2^-53 relative, far below 2^-20 for any C this
   * library takes (C <= 2^24). */
  if (!get_sum(r, 1.0, counted, &head->confidence) ||
      !get_sum(r, DBL_MAX, counted, &head->nll) ||
      !get_sum(r, 2.0 * (1.0 + ROUNDING), counted, &head->brier) ||
      !get_sum(r, log((double)c.classes) * (1.0 + ROUNDING) + 0x1p-40, counted,
               &head->entropy))
    return 0;
  if (dst != NULL && add) {
    xent__metrics_add_head(dst, head);
  } else if (dst != NULL) {
    memset(dst, 0, l.size);
    *dst = *head;
  }
  if (!get_bins(r, head, dst, add, &l))
    return 0;
  if (l.support && !get_classes(r, head, dst, add, &l))
    return 0;
  if (l.confusion && !get_confusion(r, head, dst, add, &l))
    return 0;
  if (r->pos != r->size)
    return bad(r, XENT_ERR_STATE_FORMAT, XENT_ARG_SERIALIZED, r->pos);
  return 1;
}

static int reader_init(reader *r, const void *bytes, size_t size,
                       xent_error *err) {
  r->in = bytes;
  r->size = size;
  r->pos = 0;
  r->st = XENT_OK;
  r->err = err;
  if (bytes == NULL && size > 0)
    return bad(r, XENT_ERR_NULL, XENT_ARG_SERIALIZED, 0);
  return 1;
}

xent_status xent_metrics_parse_config(const void *bytes, size_t size,
                                      xent_metrics_config *config,
                                      xent_error *err) {
  if (config == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_NONE, -1, -1);
  reader r;
  xent_metrics_config c;
  if (!reader_init(&r, bytes, size, err) || !get_header(&r, &c, 1))
    return r.st;
  xent__metrics_config_norm(&c, config);
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}

xent_status xent_metrics_parse(const void *bytes, size_t size,
                               xent_metrics *state, size_t state_size,
                               xent_error *err) {
  if (state == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_STATE, -1, -1);
  /* The bytes first: malformed input is refused before it can ask for
   * memory. */
  reader r;
  struct xent_metrics head;
  if (!reader_init(&r, bytes, size, err) || !decode(&r, &head, NULL, 0))
    return r.st;
  if (state_size < head.size || (uintptr_t)state % sizeof(uint64_t) != 0)
    return xent__fail(err, XENT_ERR_BUFFER, XENT_ARG_STATE, -1, -1);
  reader_init(&r, bytes, size, err); /* again from byte 0, whole */
  decode(&r, &head, state, 0);
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}

xent_status xent_metrics_merge_serialized(xent_metrics *dst, const void *bytes,
                                          size_t size, uint64_t *counted,
                                          xent_error *err) {
  if (dst == NULL)
    return xent__fail(err, XENT_ERR_NULL, XENT_ARG_STATE, -1, -1);
  xent_status st = xent__metrics_state_ok(dst, XENT_ARG_STATE, err);
  if (st != XENT_OK)
    return st;
  reader r;
  struct xent_metrics head;
  if (!reader_init(&r, bytes, size, err) || !decode(&r, &head, NULL, 0))
    return r.st;
  if (counted != NULL)
    *counted = head.counted;
  st = xent__metrics_merge_check(dst, &head, err);
  if (st != XENT_OK)
    return st;
  reader_init(&r, bytes, size, err); /* again from byte 0, whole */
  decode(&r, &head, dst, 1);
  if (err != NULL)
    xent__fail(err, XENT_OK, XENT_ARG_NONE, -1, -1);
  return XENT_OK;
}
