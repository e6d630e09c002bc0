/*
 * numtext.c - number text for JSON (numtext.h): the shortest round-trip
 * printer and the number-token scanner, sharing one table of powers of ten
 * (pow10.h, whose header says what each row is).
 *
 * Notation: a double or float is v = c * 2^q with 1 <= c < 2^p (p = 53 or
 * 24); "10^k units" means v measured in units of 10^k.
 */
#include "numtext.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "pow10.h"

#ifdef XS_NUMTEXT_COUNT_FALLBACKS
/* Benchmarks only: how often the scanner called strtod. */
extern unsigned long xs__numtext_fallbacks;
unsigned long xs__numtext_fallbacks;
#endif

__extension__ typedef unsigned __int128 u128;

/* Hot helpers with several callers, which the compiler would otherwise keep
 * out of line; and rare paths kept out of the hot printer (XS__OUTLINE),
 * whose registers then suffice without stack spills. */
#if defined(__GNUC__)
#define XS__HOT_INLINE inline __attribute__((always_inline))
#define XS__OUTLINE __attribute__((noinline, cold))
#else
#define XS__HOT_INLINE inline
#define XS__OUTLINE
#endif

static const uint64_t pow10_u64[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};

/* ================================================================ printing
 *
 * The search is Schubfach's (R. Giulietti, "The Schubfach way to render
 * doubles", 2020), written here from the paper with its own error argument.
 *
 * A number reads back to v exactly when it lies in v's rounding interval
 * R = [v - l, v + r] (l = r = 2^(q-1), except l = 2^(q-2) when c = 2^(p-1)
 * and v is not the smallest normal: the neighbour below is nearer), closed
 * when c is even (a tie rounds to even c), open when c is odd.
 *
 * With k = floor(q log10 2), 2^q is in [1, 10) units of 10^k: R is less
 * than 10 units wide, so it holds at most one multiple of 10 units, and
 * (unless v is a power of two) at least one whole unit. In quarter units, with
 * A = 4c - 2, 4c - 1, 4c, 4c + 2, the bounds and v itself are V = A 2^q 10^-k;
 * the code needs of each only floor(V) and whether V is an integer, and packs
 * both, rounding to odd, into one number: vb = floor(V), or floor(V) | 1 when V
 * is not an integer. Against an even integer N, vb <= N exactly when V <= N and
 * vb < N exactly when V < N, so every decision below is exact.
 *
 * Then: the multiple of 10 units in R, if any, is the shortest answer (its
 * trailing zeros dropped); otherwise the whole unit in R, the nearer to v of
 * the two around it when both are in. That is the decimal that "%.*e"
 * rounding gives at the shortest length that reads back: with R symmetric,
 * the nearest decimal of a length is in R whenever any of that length is.
 *
 * For powers of two R is lopsided, and the nearest decimal of the shortest
 * length that has one in R may itself be outside R. The server has always
 * printed the rounded digits ("%.*e" at the shortest length whose rounding
 * reads back), so powers of two round to 10 units, then to 1 unit, then to
 * 1/10 unit, and print the first that lies in R (1/10 unit always does: l
 * is then at least 2.5 of those units).
 */

/* floor(q log10 2) for |q| <= 1100 (gen_pow10.py checks the formula), with
 * the division made non-negative so that it floors portably. */
static inline int floor_log10_pow2(int q) {
  return (int)(((int64_t)q * 1262611 + ((int64_t)400 << 22)) >> 22) - 400;
}

/* 5^j for j <= 27: the powers below 2^64. */
static const uint64_t pow5_u64[28] = {1ULL,
                                      5ULL,
                                      25ULL,
                                      125ULL,
                                      625ULL,
                                      3125ULL,
                                      15625ULL,
                                      78125ULL,
                                      390625ULL,
                                      1953125ULL,
                                      9765625ULL,
                                      48828125ULL,
                                      244140625ULL,
                                      1220703125ULL,
                                      6103515625ULL,
                                      30517578125ULL,
                                      152587890625ULL,
                                      762939453125ULL,
                                      3814697265625ULL,
                                      19073486328125ULL,
                                      95367431640625ULL,
                                      476837158203125ULL,
                                      2384185791015625ULL,
                                      11920928955078125ULL,
                                      59604644775390625ULL,
                                      298023223876953125ULL,
                                      1490116119384765625ULL,
                                      7450580596923828125ULL};

/* The scale 10^K (K = -k) as a 128-bit factor g and its facts. */
typedef struct scale {
  uint64_t g_hi, g_lo; /* g: the row M_K, plus 1 unless exact (below)     */
  int h;               /* shift of A: cp = A << h, 1 <= h <= 8             */
  int exact;           /* g is 10^K / 2^e_K exactly (0 <= K <= 55)         */
  int k5;              /* -K when K < 0 (V integer iff 5^k5 divides A)     */
} scale;

/*
 * With e_K the row's exponent, h = q + e_K + 128 (1..4 for K = -k, checked
 * by the generator) makes V = A 10^K 2^q = (A << h) * x / 2^128 for x =
 * 10^K / 2^e_K, the row's exact value. The code multiplies by g = M_K + 1
 * (rows with x not an integer) or g = M_K = x (exact rows):
 *
 *   y = g cp / 2^128,  cp = A << h < 2^64,  0 <= y - V < cp / 2^128.
 *
 * Exact rows: y = V, so floor(V) and integrality are exact.
 * Other rows: V < y < V + cp / 2^128. gen_pow10.py proves, for every q of
 * both formats and every A < 2^(p+2), that a V that is not an integer lies
 * at least 178 cp / 2^128 below the next integer (continued-fraction bound
 * on min (A a mod d)); hence floor(y) = floor(V). V is an integer only for
 * K < 0 and 5^-K dividing A (V = A 2^(q+K) / 5^-K and q + K >= 0), never
 * for K > 55 (V = A 5^K / 2^(-q-K), A < 2^55 <= 2^(-q-K)); when V is an
 * integer, y exceeds it by less than cp / 2^128, so y's fraction is below
 * cp / 2^128 whenever V can be one, and the divisibility test runs only
 * then.
 */
static inline scale scale_for(int big_k, int q) {
  const struct xs__pow10_row *const r = &xs__pow10[big_k - XS__POW10_MIN];
  scale s;
  s.h = q + XS__POW10_E(big_k) + 128;
  s.exact = big_k >= 0 && big_k <= XS__POW10_EXACT_MAX;
  s.k5 = big_k < 0 ? -big_k : 0;
  s.g_hi = r->hi;
  s.g_lo = r->lo;
  if (!s.exact && ++s.g_lo == 0)
    s.g_hi++; /* never wraps: no row is 2^128 - 1 */
  return s;
}

/* A 192-bit product or sum: w2 * 2^128 + w1 * 2^64 + w0. */
typedef struct u192 {
  uint64_t w0, w1, w2;
} u192;

static inline u192 mul_g(const scale *s, uint64_t cp) {
  if (s->g_lo == 0) { /* 10^K for 0 <= K <= 27: 5^K fits in g_hi */
    const u128 hi = (u128)s->g_hi * cp;
    const u192 r = {0, (uint64_t)hi, (uint64_t)(hi >> 64)};
    return r;
  }
  const u128 lo = (u128)s->g_lo * cp;
  const u128 hi = (u128)s->g_hi * cp + (uint64_t)(lo >> 64);
  const u192 r = {(uint64_t)lo, (uint64_t)hi, (uint64_t)(hi >> 64)};
  return r;
}

/* g << sh, 0 < sh < 64. */
static inline u192 shl_g(const scale *s, int sh) {
  const u192 r = {s->g_lo << sh, (s->g_hi << sh) | (s->g_lo >> (64 - sh)),
                  s->g_hi >> (64 - sh)};
  return r;
}

static inline u192 add192(u192 a, u192 b) {
  u192 r;
  r.w0 = a.w0 + b.w0;
  const uint64_t c0 = r.w0 < a.w0;
  r.w1 = a.w1 + b.w1;
  const uint64_t c1 = r.w1 < a.w1;
  r.w1 += c0;
  r.w2 = a.w2 + b.w2 + c1 + (r.w1 < c0);
  return r;
}

static inline u192 sub192(u192 a, u192 b) {
  u192 r;
  r.w0 = a.w0 - b.w0;
  const uint64_t b0 = a.w0 < b.w0;
  r.w1 = a.w1 - b.w1;
  const uint64_t b1 = a.w1 < b.w1;
  const uint64_t b1b = r.w1 < b0;
  r.w1 -= b0;
  r.w2 = a.w2 - b.w2 - b1 - b1b;
  return r;
}

/* floor(V) rounded to odd (see scale_for) from y = P / 2^128, P = g cp. */
static inline uint64_t to_odd(const scale *s, u192 p, uint64_t a, uint64_t cp) {
  const uint64_t n = p.w2;
  if (s->exact)
    return n | ((p.w1 | p.w0) != 0);
  if (p.w1 != 0 || p.w0 >= cp)
    return n | 1; /* fraction of y at least cp / 2^128: V not an integer */
  return n | !(s->k5 > 0 && s->k5 <= 23 && a % pow5_u64[s->k5] == 0);
}

/* Round to nearest, ties to even, of V / 4 from vb = floor(V) to odd. */
static inline uint64_t round_quarter(uint64_t vb) {
  /* up when f > 2 or f = 2 with s odd: f + (s & 1) in [3, 4]; in arithmetic,
   * as a compiler makes a mispredicted branch of the comparisons */
  const uint64_t s = vb >> 2, f = vb & 3;
  return s + ((f + (s & 1) + 1) >> 2);
}

/* The text's digits d and exponent e10 when v is not a power of two (R
 * symmetric), from k, floor(V) >> 2 = sv and the three V rounded to odd. */
static XS__HOT_INLINE void pick(uint64_t c, int k, uint64_t sv, uint64_t vb,
                                uint64_t vbl, uint64_t vbr, uint64_t *d,
                                int *e10) {
  const uint64_t out = c & 1; /* odd c: R is open */
  /* The candidates: 10 s10 and 10 s10 + 10 around v (at most one in R,
   * which would need 10 units for both), sv and sv + 1. Selected without
   * branches: which one wins depends on random digits. */
  const uint64_t s10 = sv / 10;
  const int upin = vbl + out <= s10 * 40;
  const int wpin = s10 * 40 + 40 + out <= vbr;
  const int uin = vbl + out <= sv << 2;
  const int win = (sv << 2) + 4 + out <= vbr;
  /* both in: the nearer, ties to even; one in: that one. With a mask,
   * since a compiler turns the plain ?: into a branch that random digits
   * mispredict. */
  const uint64_t both = (uint64_t)0 - (uint64_t)(uin == win);
  const uint64_t d1 =
      (round_quarter(vb) & both) | ((sv + (uint64_t)win) & ~both);
  const int shorter = upin != wpin; /* true for about w / 10 of values
                                     * whose R is w units wide */
  const uint64_t sh = (uint64_t)0 - (uint64_t)shorter;
  *d = ((s10 + (uint64_t)wpin) & sh) | (d1 & ~sh);
  *e10 = k + shorter;
}

/* Digits d < 10^17 and exponent e10 of the text for v = c 2^q > 0 (c < 2^53;
 * lop: a power of two with the nearer neighbour below), for every input.
 * Out of line: shortest() takes the common inputs without it. */
static XS__OUTLINE void shortest_any(uint64_t c, int q, int lop, uint64_t *d,
                                     int *e10) {
  const int k = floor_log10_pow2(q);
  const scale s = scale_for(-k, q);
  const uint64_t cb = c << 2;
  const uint64_t cp = cb << s.h;
  const u192 p = mul_g(&s, cp);
  const u192 two = shl_g(&s, s.h + 1); /* g (2 << h): A + 2 or A - 2 */
  const uint64_t vb = to_odd(&s, p, cb, cp);
  const uint64_t vbr = to_odd(&s, add192(p, two), cb + 2, (cb + 2) << s.h);
  if (!lop) {
    const uint64_t vbl = to_odd(&s, sub192(p, two), cb - 2, (cb - 2) << s.h);
    pick(c, k, vb >> 2, vb, vbl, vbr, d, e10);
    return;
  }
  /* A power of two: c even, R closed, the lower bound at A = 4c - 1. */
  const uint64_t vbl =
      to_odd(&s, sub192(p, shl_g(&s, s.h)), cb - 1, (cb - 1) << s.h);
  const uint64_t s10 = vb / 40, f10 = vb % 40;
  const uint64_t r10 = s10 + (f10 > 20 || (f10 == 20 && (s10 & 1) != 0));
  if (vbl <= r10 * 40 && r10 * 40 <= vbr) {
    *d = r10;
    *e10 = k + 1;
    return;
  }
  const uint64_t r1 = round_quarter(vb);
  if (vbl <= r1 << 2 && r1 << 2 <= vbr) {
    *d = r1;
    *e10 = k;
    return;
  }
  /* One more digit: 10^(K+1), h' in [4, 8], A = 4c (gen_pow10.py checks
   * this product's bound too). */
  const scale s1 = scale_for(1 - k, q);
  const uint64_t cp1 = cb << s1.h;
  *d = round_quarter(to_odd(&s1, mul_g(&s1, cp1), cb, cp1));
  *e10 = k - 1;
}

/* shortest_any() for normal inputs, with the common case inline: not a
 * power of two, and 0 <= K <= 27, 2^q in [1e-27, 10) (doubles from about
 * 5e-12 to 9e16, floats from about 8e-21 to 2e8). */
static XS__HOT_INLINE void shortest(uint64_t c, int q, int lop, uint64_t *d,
                                    int *e10) {
  const int k = floor_log10_pow2(q);
  if (lop || (unsigned)-k > 27) {
    shortest_any(c, q, lop, d, e10);
    return;
  }
  /* 0 <= K <= 27: the row is exact and, with 5^27 < 2^64, is 5^K shifted up
   * at least 64 bits (M_K = 5^K 2^(K - e_K) >= 2^127), so g = g_hi 2^64:
   * y = g_hi cp / 2^64 = V exactly, in 128 bits. The bounds move by g_hi
   * (2 << h) / 2^64, which 128-bit sums take exactly too (V of 4c + 2 <
   * 2^64, so no wrap). Kept in 64-bit halves: 128-bit temporaries and
   * shifts by a variable count compile to shld / cmov and stack spills. */
  const uint64_t g = xs__pow10[-k - XS__POW10_MIN].hi;
  const int h = q + XS__POW10_E(-k) + 128; /* 1 <= h <= 4 */
  const uint64_t cb = c << 2;
  const u128 p = (u128)g * (cb << h);
  const uint64_t p1 = (uint64_t)(p >> 64), p0 = (uint64_t)p;
  const uint64_t t0 = g << (h + 1), t1 = g >> (63 - h); /* g (2 << h) */
  const uint64_t r0 = p0 + t0, r1 = p1 + t1 + (r0 < p0);
  const uint64_t l0 = p0 - t0, l1 = p1 - t1 - (p0 < t0);
  /* sv from p1, not waiting for vb's sticky bit */
  pick(c, k, p1 >> 2, p1 | (p0 != 0), l1 | (l0 != 0), r1 | (r0 != 0), d, e10);
}

/* "00".."99" (the exponent's digits) */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536"
    "37383940414243444546474849505152535455565758596061626364656667686970717273"
    "7475767778798081828384858687888990919293949596979899";

static inline void put2(char *o, uint32_t x) {
  memcpy(o, digit_pairs + 2 * x, 2);
}

/*
 * The 8 digits of x < 10^8 (zero-padded) as one word of byte values 0..9,
 * the first digit in the lowest byte (memory order on a little-endian
 * machine; store64 puts the bytes in that order on any machine). Three
 * rounds halve the lanes, each with one multiply for the quotients of all
 * lanes and one that merges quotients and remainders:
 *
 *   w = q + ((v - D q) << s) = (v << s) + q (1 - D 2^s)  (mod 2^64)
 *
 * for lanes v, their quotients q by D and the new lane width s. The
 * quotients, floor(v / D):
 *
 *   x / 10^4: x < 10^8 < 2^32, by the compiler's exact 32-bit division;
 *   32-bit lanes v < 10^4: (v 10486) >> 20, since 100 * 10486 = 2^20 + 24:
 *     v 10486 / 2^20 = v / 100 + 24 v / (100 2^20), and 24 v / (100 2^20)
 *     < 0.0023 < 1/100 never carries past the next integer; v 10486 < 2^27
 *     stays inside its lane;
 *   16-bit lanes v < 100: (v 103) >> 10, since 10 * 103 = 2^10 + 6 and
 *     6 v / (10 2^10) < 0.059 < 1/10; v 103 < 2^14 stays inside its lane.
 *
 * After each shift the mask keeps a lane's own quotient bits only (the lane
 * above lands at least 6 bits higher). Every digit is a byte of the result,
 * so trailing zero digits are leading zero bytes.
 */
static inline uint64_t digits8(uint32_t x) {
  const uint64_t a = x / 10000;
  uint64_t w = ((uint64_t)x << 32) + a * (1 - (10000ULL << 32));
  const uint64_t h = ((w * 10486) >> 20) & 0x0000007F0000007FULL;
  w = (w << 16) + h * (1 - (100ULL << 16));
  const uint64_t t = ((w * 103) >> 10) & 0x000F000F000F000FULL;
  return (w << 8) + t * (1 - (10ULL << 8));
}

/* w's bytes to o, the lowest byte first. */
static inline void store64(char *o, uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(o, &w, 8);
#else
  for (int i = 0; i < 8; i++)
    o[i] = (char)(unsigned char)(w >> (8 * i));
#endif
}

/*
 * Trailing zero digits of a nonzero digits8 word: its leading zero bytes,
 * counted as the trailing zero bytes of the byte-reversed word. (x86's bit
 * scan from the top, bsr, keeps its destination register when the input is
 * 0, so it waits for that register's last writer, which can be the previous
 * call's result; GCC clears the destination of the scan from the bottom.)
 */
static inline int tz_digits(uint64_t w) {
  return __builtin_ctzll(__builtin_bswap64(w)) >> 3;
}

/* Number of decimal digits of d > 0. */
static inline int dec_len(uint64_t d) {
  const int t = ((64 - __builtin_clzll(d)) * 1233) >> 12; /* ~ bits log10 2 */
  return t + (d >= pow10_u64[t]);
}

#define XS__ASCII0 0x3030303030303030ULL /* '0' in every byte */

/*
 * Writes sign, digits of d times 10^e10 in the layout of numtext.h and a
 * NUL; returns the length. 0 < d < 10^17, or d < 10^9 when !wide (a
 * float's digits: one digits8 fewer).
 *
 * d is scaled to exactly 17 (or 9) digits, so the text's digits are always
 * the first digit f and the words w1, w2 of digits8 (w2 zeros for a float),
 * zero-padded on the right: an integral value's zeros up to the point come
 * with them. The digits stay in registers and go out in 8-byte stores that
 * nothing reads back (a wide load of narrower stores, as from a buffer of
 * digit pairs, waits for them to reach the cache). Every store stays inside
 * buf[0..32] (the widest ends at byte 32: sign, 15 digits, '.', 16 bytes).
 */
static XS__HOT_INLINE size_t emit(char *buf, int neg, uint64_t d, int e10,
                                  int wide) {
  if (d >= pow10_u64[wide ? 17 : 9]) { /* not produced (shortest()), safe */
    d /= 10;
    e10++;
  }
  /* The digits of normal inputs number at least 15 (double: d >= 2^52 / 10
   * units, the shorter candidate of c >= 2^52) or 6 (float: d >= 2^23 /
   * 10), counted and scaled with comparisons and one multiply; others (from
   * subnormal inputs) by dec_len, whose bit scan is slower on x86
   * (tz_digits). */
  int n;
  uint64_t f, w1, w2 = 0;
  if (wide) {
    if (d >= 100000000000000ULL) {
      const unsigned n15 = d < 1000000000000000ULL;
      const unsigned n16 = d < 10000000000000000ULL;
      n = 17 - (int)(n15 + n16);
      d *= 1 + 9 * n16 + 90 * n15; /* 1, 10 or 100, without a branch */
    } else {
      n = dec_len(d);
      d *= pow10_u64[17 - n];
    }
    /* d in [10^16, 10^17): digit 1 and two words of 8 */
    f = d / 10000000000000000ULL;
    const uint64_t top = d / 100000000;
    w1 = digits8((uint32_t)(top - f * 100000000));
    w2 = digits8((uint32_t)(d - top * 100000000));
  } else {
    if (d >= 100000) {
      const unsigned n6 = d < 1000000, n7 = d < 10000000, n8 = d < 100000000;
      n = 9 - (int)(n6 + n7 + n8);
      d *= 1 + 9 * n8 + 90 * n7 + 900 * n6; /* 10^(9 - n) */
    } else {
      n = dec_len(d);
      d *= pow10_u64[9 - n];
    }
    f = d / 100000000;
    w1 = digits8((uint32_t)(d - f * 100000000));
  }
  const int e = e10 + n - 1; /* exponent of the first digit */
  /* significant digits: 1 + those of w1 and w2 up to their last nonzero */
  const int k = w2 != 0 ? 17 - tz_digits(w2) : w1 != 0 ? 9 - tz_digits(w1) : 1;
  f += '0';
  w1 += XS__ASCII0;
  w2 += XS__ASCII0;
  char *o = buf;
  *o = '-';
  o += neg;
  if (e < 0 && e > -7) {
    memcpy(o, "0.000000", 8);
    o += 1 - e;
    o[0] = (char)f;
    store64(o + 1, w1);
    store64(o + 9, w2);
    o += k;
  } else if (e >= 0 && e < 15) {
    o[0] = (char)f;
    store64(o + 1, w1);
    store64(o + 9, w2);
    if (k <= e + 1) { /* integral: digits, then their zeros to the point */
      o += e + 1;
    } else { /* the digits after the first p = e + 1 move up one, for '.' */
      const int p = e + 1; /* 1 <= p <= 15, p < k <= 17 */
      const u128 lo = (u128)(f | w1 << 8) | (u128)(w1 >> 56 | w2 << 8) << 64;
      const u128 tail = lo >> (8 * p) | (u128)(w2 >> 56) << (8 * (16 - p));
      o[p] = '.';
      store64(o + p + 1, (uint64_t)tail);
      store64(o + p + 9, (uint64_t)(tail >> 64));
      o += k + 1;
    }
  } else {
    o[0] = (char)f;
    o[1] = '.';
    store64(o + 2, w1);
    store64(o + 10, w2);
    o += k > 1 ? k + 1 : 1;
    *o++ = 'e';
    *o++ = e < 0 ? '-' : '+';
    uint32_t x = (uint32_t)(e < 0 ? -e : e);
    if (x >= 100) {
      *o++ = (char)('0' + x / 100);
      x %= 100;
      put2(o, x);
      o += 2;
    } else if (x >= 10) {
      put2(o, x);
      o += 2;
    } else {
      *o++ = (char)('0' + x);
    }
  }
  *o = '\0';
  return (size_t)(o - buf);
}

static size_t special(int neg, uint64_t frac, char *buf) {
  if (frac == 0 && neg) {
    memcpy(buf, "-0", 3);
    return 2;
  }
  if (frac == 0) {
    memcpy(buf, "0", 2);
    return 1;
  }
  memcpy(buf, "null", 5); /* NaN or infinity: never asked for */
  return 4;
}

size_t xs_format_double(double v, char *buf) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  const int neg = (int)(bits >> 63);
  const int be = (int)((bits >> 52) & 0x7FF);
  const uint64_t frac = bits & ((1ULL << 52) - 1);
  if (be == 0x7FF || (be == 0 && frac == 0))
    return special(neg, be == 0 ? 0 : 1, buf);
  uint64_t d;
  int e10;
  if (be == 0)
    shortest_any(frac, -1074, 0, &d, &e10);
  else
    shortest(frac | (1ULL << 52), be - 1075, frac == 0 && be > 1, &d, &e10);
  return emit(buf, neg, d, e10, 1);
}

size_t xs_format_float(float v, char *buf) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  const int neg = (int)(bits >> 31);
  const int be = (int)((bits >> 23) & 0xFF);
  const uint32_t frac = bits & ((1U << 23) - 1);
  if (be == 0xFF || (be == 0 && frac == 0))
    return special(neg, be == 0 ? 0 : 1, buf);
  uint64_t d;
  int e10;
  if (be == 0)
    shortest_any(frac, -149, 0, &d, &e10);
  else
    shortest(frac | (1U << 23), be - 150, frac == 0 && be > 1, &d, &e10);
  return emit(buf, neg, d, e10, 0);
}

/* ================================================================= parsing
 *
 * The token's first 19 significant digits form w < 10^19 and the value is
 * w 10^q exactly, or lies strictly between w 10^q and (w + 1) 10^q when a
 * nonzero digit was dropped ("truncated"). With the row 10^q = (T + f) 2^e
 * (T = M_q, 0 <= f < 1; f = 0 only for 0 <= q <= 55) and w normalised to
 * wn = w 2^lz (top bit set), the value in units of 2^(e - lz) is
 *
 *   exact row, all digits:   X = P = wn T                    (known exactly)
 *   other rows:              P < X < P + wn                  (0 < f < 1)
 *   truncated:               P < X < (wn + 2^lz) (T + 1)
 *
 * Rounding to nearest is monotonic, so when both ends of the interval round
 * to the same double, so does X (Eisel-Lemire: D. Lemire, "Number parsing
 * at a gigabyte per second", 2021, in this interval form). The usual case
 * (decide()) reads only the top words of both ends, and for rows that are
 * not exact a wider interval from the row's high half alone (one 64 x 64
 * product) nearly always decides already. Exact rows round P itself, ties
 * to even.
 *
 * Undecided cases go to strtod on a compact copy of the digits. Measured
 * (make bench-numtext counts them): none in 5.1 million random tokens of 1
 * to 19 digits (undecided needs X within 2^-64 of a half-way point relative
 * to its size, and an exact tie such as "4503599627370496.5" is settled
 * below, X being a dyadic rational then); 0.16% (1 in 630) of random
 * tokens of 20 to 40 digits, where the interval is 10^-19 wide.
 */

/* Round to nearest even of N 2^s (N = w2:w1:w0, w2 >= 2^62) as the bits of
 * a double; 0x7FF0000000000000 (infinity) when it overflows. */
static uint64_t round192(u192 n, int s) {
  const int lz = __builtin_clzll(n.w2);
  const int lead = 191 - lz + s; /* exponent of the leading bit */
  if (lead > 1023)
    return 0x7FF0000000000000ULL;
  const int mbits = lead >= -1022 ? 53 : lead + 1075; /* mantissa bits */
  if (mbits < 0)
    return 0;                        /* below 2^-1075 */
  const int shift = 63 - lz - mbits; /* 9 <= shift <= 63: inside w2 */
  const uint64_t field = n.w2 >> shift;
  const uint64_t below = n.w2 & ((1ULL << shift) - 1);
  uint64_t mant = field >> 1;
  if ((field & 1) != 0 && ((below | n.w1 | n.w0) != 0 || (mant & 1) != 0))
    mant++;
  if (lead < -1022)
    return mant; /* subnormal; 2^52 after a carry is DBL_MIN's bits */
  const uint64_t bits = ((uint64_t)(lead + 1023) << 52) + mant - (1ULL << 52);
  return bits >= 0x7FF0000000000000ULL ? 0x7FF0000000000000ULL : bits;
}

/* Round to nearest of X strictly between P and P + width (w2 of P at least
 * 2^62), with P's 53-bit mantissa and rounding bit f = (P >> shift) and
 * fh likewise for P + width in the same frame: X > P rounds to at least
 * ceil(f / 2) (above a half when P's rounding bit is set), X < P + width
 * to at most ceil(fh / 2); decided when the two agree ("0.5": P just below
 * 0.5, P + width just above). The frame of P stays conservative when P +
 * width reaches the next binade. */
static inline int decide(u192 p, uint64_t ph2, int s, uint64_t *bits) {
  const int upper = (int)(p.w2 >> 63);
  const int lead = 190 + upper + s;
  if ((unsigned)(lead + 1022) > 2045) /* subnormal or overflowing */
    return -1;
  const int shift = 9 + upper;
  const uint64_t mant = ((p.w2 >> shift) + 1) >> 1; /* 2^52 .. 2^53 */
  if (mant != ((ph2 >> shift) + 1) >> 1) /* also when ph2 wrapped to 0 */
    return -1;
  /* mant = 2^53 carries into the exponent; at lead = 1023 that gives
   * exactly the bits of infinity */
  *bits = ((uint64_t)(lead + 1023) << 52) + mant - (1ULL << 52);
  return 0;
}

#if defined(__GNUC__)
#define XS__COLD __attribute__((noinline, cold))
#else
#define XS__COLD
#endif

/* decimal_to_bits beyond its usual case: digits dropped, subnormal or
 * overflowing results, an interval holding a rounding boundary. */
static XS__COLD int decimal_slow(uint64_t w, int qi, int truncated, u192 p,
                                 int s, uint64_t *bits) {
  const struct xs__pow10_row *const r = &xs__pow10[qi - XS__POW10_MIN];
  const int lz = __builtin_clzll(w);
  u192 width = {w << lz, 0, 0};
  if (truncated) { /* wn + (T << lz) + 2^lz */
    const u192 t = {r->lo << lz,
                    lz == 0 ? r->hi : (r->hi << lz) | (r->lo >> (64 - lz)),
                    lz == 0 ? 0 : r->hi >> (64 - lz)};
    const u192 one = {1ULL << lz, 0, 0};
    width = add192(add192(width, t), one);
  }
  const u192 ph = add192(p, width);
  if (ph.w2 < p.w2)
    return -1; /* past 2^192: cannot happen for w < 10^19, but be exact */
  if (decide(p, ph.w2, s, bits) == 0)
    return 0;
  const uint64_t b = round192(p, s);
  if (round192(ph, s) == b) {
    *bits = b;
    return 0;
  }
  /* A tie needs X = w 10^q to be a dyadic rational: for q < 0, 5^-q must
   * divide w ("4503599627370496.5"), and then X = (w / 5^-q) 2^q exactly. */
  if (!truncated && qi < 0 && qi >= -27 && w % pow5_u64[-qi] == 0) {
    const uint64_t m = w / pow5_u64[-qi];
    const int mz = __builtin_clzll(m);
    const u192 n = {0, 0, m << mz};
    *bits = round192(n, qi - 128 - mz);
    return 0;
  }
  return -1;
}

/* w 10^q (w > 0) as double bits into *bits, or -1 when undecided. */
static inline int decimal_to_bits(uint64_t w, int64_t q, int truncated,
                                  uint64_t *bits) {
  if ((uint64_t)(q - XS__POW10_MIN) > (uint64_t)(308 - XS__POW10_MIN)) {
    /* below 10^19 10^-343 < 2^-1075, or at least 10^309 */
    *bits = q < 0 ? 0 : 0x7FF0000000000000ULL;
    return 0;
  }
  const int qi = (int)q;
  const struct xs__pow10_row *const r = &xs__pow10[qi - XS__POW10_MIN];
  const int lz = __builtin_clzll(w);
  const uint64_t wn = w << lz;
  const int s = XS__POW10_E(qi) - lz;
  const u128 top = (u128)wn * r->hi;
  if (!truncated && (unsigned)qi > XS__POW10_EXACT_MAX) {
    /* Usually the row's high half decides alone: with T = hi 2^64 + lo,
     * X > wn T >= wn hi 2^64 and X < wn (T + 1) <= (wn hi + wn) 2^64. */
    const u192 l = {0, (uint64_t)top, (uint64_t)(top >> 64)};
    const uint64_t u2 =
        (uint64_t)(top >> 64) + ((uint64_t)top + wn < (uint64_t)top);
    if (decide(l, u2, s, bits) == 0)
      return 0;
  }
  const u128 lo = (u128)wn * r->lo;
  const u128 hi = top + (uint64_t)(lo >> 64);
  const u192 p = {(uint64_t)lo, (uint64_t)hi, (uint64_t)(hi >> 64)};
  if (!truncated) {
    if ((unsigned)qi <= XS__POW10_EXACT_MAX) {
      *bits = round192(p, s); /* the row is exact: X = P */
      return 0;
    }
    /* P + wn's top word: a carry reaches it only through an all-ones w1 */
    const uint64_t ph2 = p.w2 + (p.w0 + wn < p.w0 && p.w1 == ~0ULL);
    if (decide(p, ph2, s, bits) == 0)
      return 0;
  }
  return decimal_slow(w, qi, truncated, p, s, bits);
}

/* strtod of the token's significant digits and exponent, rewritten without
 * '.' (so no locale matters): at most FALLBACK_DIGITS digits, then a '1'
 * when a nonzero digit was dropped. Every half-way point between doubles
 * has fewer than 770 significant digits, so the rounding is unchanged. */
enum { FALLBACK_DIGITS = 780 };

static XS__COLD double fallback(const char *p, const char *end, int64_t exp10) {
  char buf[FALLBACK_DIGITS + 40];
  size_t n = 0;
  int sticky = 0;
  int64_t pw = exp10; /* value = digits * 10^pw */
  int in_fraction = 0;
  for (; p < end; p++) {
    if (*p == '.') {
      in_fraction = 1;
      continue;
    }
    if (*p < '0' || *p > '9')
      break; /* 'e' or 'E': exp10 already holds the exponent */
    if (n == 0 && *p == '0') {
      pw -= in_fraction;
      continue;
    }
    if (n < FALLBACK_DIGITS) {
      buf[n++] = *p;
      pw -= in_fraction;
    } else {
      sticky |= *p != '0';
      pw += !in_fraction;
    }
  }
  if (sticky) {
    buf[n++] = '1';
    pw--;
  }
  if (pw > 100000) /* far out of range either way */
    pw = 100000;
  if (pw < -100000)
    pw = -100000;
  buf[n++] = 'e';
  if (pw < 0) {
    buf[n++] = '-';
    pw = -pw;
  }
  char rev[8];
  int r = 0;
  do {
    rev[r++] = (char)('0' + pw % 10);
    pw /= 10;
  } while (pw > 0);
  while (r > 0)
    buf[n++] = rev[--r];
  buf[n] = '\0';
  return strtod(buf, NULL);
}

/* Blocks: the eight bytes at p as one word, first byte lowest (on any byte
 * order), XORed with '0' in every byte, so that digits become 0..9. */
static inline uint64_t block_at(const char *p) {
  uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(&v, p, sizeof v);
#else
  v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)(unsigned char)p[i] << (8 * i);
#endif
  return v ^ 0x3030303030303030ULL;
}

/* How many bytes at the start of block x are digits (0..8): those below
 * 10, i.e. bit 7 clear and (b & 0x7F) + 0x76 below 0x80 (no carry leaves
 * a byte: 0x7F + 0x76 < 0x100). */
static inline int digit_run(uint64_t x) {
  const uint64_t bad =
      (((x & 0x7F7F7F7F7F7F7F7FULL) + 0x7676767676767676ULL) | x) &
      0x8080808080808080ULL;
  return bad == 0 ? 8 : __builtin_ctzll(bad) >> 3;
}

/* The number the first n digits (0..8) of block x form. Shifting the other
 * bytes out leaves them behind 8 - n zeros; then pairs, quads and the
 * whole, with no carry between lanes (at most 99 in a byte, 9999 in 32
 * bits). */
static inline uint64_t block_value(uint64_t x, int n) {
  x = n == 0 ? 0 : x << (8 * (8 - n));
  x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFULL;
  x = (x & 0x0000FFFF0000FFFFULL) * 100 + ((x >> 16) & 0x0000FFFF0000FFFFULL);
  return (x & 0xFFFFFFFFULL) * 10000 + (x >> 32);
}

static inline int is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}

/* A scanned token: its first 19 significant digits as w; the value is
 * w 10^q (q counts digits dropped from the integer part, digits taken from
 * the fraction, and the exponent ex), or lies strictly between w 10^q and
 * (w + 1) 10^q when a dropped digit was not 0 (truncated). */
typedef struct token {
  uint64_t w;
  int64_t q, ex;
  int truncated, is_int;
} token;

static xs_numscan stop(const char *start, const char *p, xs_numscan why,
                       size_t *len) {
  *len = (size_t)(p - start);
  return why;
}

/* The token's grammar, byte by byte (eight at a time in fractions). On
 * XS_NUM_OK, *t is filled and *len is the token's length. */
static XS__HOT_INLINE xs_numscan scan(const char *start, const char *p,
                                      const char *end, int final, token *t,
                                      size_t *len) {
  const xs_numscan at_end = final ? XS_NUM_INVALID : XS_NUM_INCOMPLETE;
  if (p == end)
    return stop(start, p, at_end, len);
  /* w takes digits while below 10^18, so it never holds more than 19
   * significant ones (leading zeros keep it at 0). */
  const uint64_t full = 1000000000000000000ULL;
  uint64_t w = 0;
  int truncated = 0, is_int = 1;
  int64_t q = 0;
  /* The integer part. One digit, '.' and a digit (most tokens of data) in
   * one test; otherwise a loop, a leading '0' through it too (w stays 0)
   * so that tokens below 1 and above take the same branches: a digit
   * after a leading zero is refused once the run is read. */
  const char *const first = p;
  int fraction = 0; /* p is at the first digit of a fraction */
  if (end - p >= 3 && is_digit(p[0]) && p[1] == '.' && is_digit(p[2])) {
    w = (uint64_t)(p[0] - '0'); /* one digit and '.', the usual: no loop */
    p += 2;
    fraction = 1;
  } else {
    while (p < end && is_digit(*p)) {
      if (w < full) {
        w = w * 10 + (uint64_t)(*p - '0');
      } else {
        truncated |= *p != '0';
        q++;
      }
      p++;
    }
    if (p == first)
      return stop(start, p, XS_NUM_INVALID, len);
    if (p - first > 1 && *first == '0') /* length first: predictable */
      return stop(start, first + 1, XS_NUM_INVALID, len);
    if (p < end && *p == '.') {
      p++;
      if (p == end)
        return stop(start, p, at_end, len);
      if (!is_digit(*p))
        return stop(start, p, XS_NUM_INVALID, len);
      fraction = 1;
    }
  }
  if (fraction) {
    is_int = 0;
    /* Eight bytes at a time while they lie before end: whole blocks of
     * digits, then the last few digits of the run in one step too (with no
     * branch on how many: lengths vary from token to token). A run that
     * ends with a whole block (16 digits of "%.17g" above 1) reads no
     * block past it. */
    int rest = 1; /* digits left for the byte loop */
    while (end - p >= 8 && is_digit(*p)) {
      const uint64_t x = block_at(p);
      const int n = digit_run(x);
      if (w >= pow10_u64[19 - n])
        break; /* more than 19 significant digits: the byte loop drops */
      w = w * pow10_u64[n] + block_value(x, n);
      q -= n;
      p += n;
      if (n < 8) {
        rest = 0;
        break;
      }
    }
    for (; rest && p < end && is_digit(*p); p++) {
      if (w < full) {
        w = w * 10 + (uint64_t)(*p - '0');
        q--;
      } else {
        truncated |= *p != '0';
      }
    }
  }
  int64_t ex = 0; /* saturated: 0 or overflow long before */
  if (p < end && (*p | 0x20) == 'e') { /* 'e' or 'E' */
    is_int = 0;
    p++;
    if (p == end)
      return stop(start, p, at_end, len);
    const int eneg = *p == '-';
    if (*p == '+' || *p == '-') {
      p++;
      if (p == end)
        return stop(start, p, at_end, len);
    }
    if (!is_digit(*p))
      return stop(start, p, XS_NUM_INVALID, len);
    for (; p < end && is_digit(*p); p++)
      if (ex < 1000000000000LL)
        ex = ex * 10 + (*p - '0');
    ex = eneg ? -ex : ex;
    q += ex;
  }
  if (p == end && !final)
    return stop(start, p, XS_NUM_INCOMPLETE, len);
  t->w = w;
  t->q = q;
  t->ex = ex;
  t->truncated = truncated;
  t->is_int = is_int;
  return stop(start, p, XS_NUM_OK, len);
}

xs_numscan xs_scan_number(const char *p, const char *end, int final,
                          xs_number *out, size_t *len) {
  const char *const start = p;
  const int neg = *p == '-';
  token t;
  const xs_numscan r = scan(start, p + neg, end, final, &t, len);
  if (r != XS_NUM_OK)
    return r;
  const uint64_t w = t.w;
  if (t.is_int) {
    /* at most 19 digits (q counts the others), so w is exact */
    if (t.q > 0 || w > (uint64_t)INT64_MAX + (uint64_t)neg) {
      out->is_int = 1;
      return XS_NUM_RANGE;
    }
    if (!neg)
      out->i = (int64_t)w;
    else
      out->i = w == 0 ? 0 : -(int64_t)(w - 1) - 1;
    out->d = neg ? -(double)w : (double)w;
    out->is_int = 1;
    return XS_NUM_OK;
  }
  uint64_t bits = 0;
  if (w != 0) {
    if (decimal_to_bits(w, t.q, t.truncated, &bits) != 0) {
#ifdef XS_NUMTEXT_COUNT_FALLBACKS
      xs__numtext_fallbacks++;
#endif
      const double d = fallback(start + neg, start + *len, t.ex);
      memcpy(&bits, &d, sizeof bits);
    }
    if (bits >= 0x7FF0000000000000ULL) { /* infinity: overflow */
      out->is_int = 0;
      return XS_NUM_RANGE;
    }
  }
  /* The sign as a bit, not a branch: signs of data come at random. */
  bits |= (uint64_t)neg << 63;
  memcpy(&out->d, &bits, sizeof bits);
  out->i = 0;
  out->is_int = 0;
  return XS_NUM_OK;
}
