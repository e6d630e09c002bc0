#!/usr/bin/python3
"""Writes server/codec/pow10.h (to stdout): the one table of powers of ten of
server/codec/numtext.c, in exact integer arithmetic, after checking every
fact about it that numtext.c relies on (each failed check exits non-zero).

Usage: gen_pow10.py > pow10.h
"""
import random
import sys
from fractions import Fraction

# Rows 10^k for k in [KMIN, KMAX]:
#   parser:  w * 10^q, w < 2^64, needs q in [-342, 308] (outside, the value is
#            0 or overflows whatever w is: 10^19 * 10^-343 < 2^-1075, 10^309 >
#            DBL_MAX);
#   printer: 10^K, K = -floor(q log10 2) for v = c * 2^q, q in [-1074, 971],
#            and K + 1 for powers of two (q >= -1073): K in [-292, 325].
KMIN, KMAX = -342, 325
EXACT_MAX = 55  # 10^k = 2^k 5^k is exact in 128 bits for 0 <= k <= 55

# Double: v = c * 2^q, 1 <= c < 2^53, q in [Q_MIN, Q_MAX]; float likewise.
DOUBLE = dict(name="double", p=53, q_min=-1074, q_max=971)
FLOAT = dict(name="float", p=24, q_min=-149, q_max=104)


def fail(msg):
    sys.stderr.write("gen_pow10.py: check failed: %s\n" % msg)
    sys.exit(1)


def e_of(k):
    """floor(log2(10^k)) - 127, exactly."""
    if k >= 0:
        return (10**k).bit_length() - 1 - 127
    # 10^-k is not a power of two, so log2(10^-k) lies strictly inside
    # (bit_length - 1, bit_length).
    return -(10**(-k)).bit_length() - 127


def row(k):
    e = e_of(k)
    if k >= 0:
        m = 10**k >> e if e >= 0 else 10**k << -e
    else:
        m = (1 << -e) // 10**(-k)
    if not (1 << 127) <= m < (1 << 128):
        fail("row %d is not normalised" % k)
    exact = Fraction(10)**k / Fraction(2)**e == m
    if exact != (0 <= k <= EXACT_MAX):
        fail("row %d: exact=%s" % (k, exact))
    return m, e


def floor_log10_pow2(q):
    """floor(q log10 2), exactly: the largest k with 10^k <= 2^q."""
    if q >= 0:
        return len(str(2**q)) - 1
    return -len(str(2**(-q)))  # 2^-q is never a power of ten


# --- min over x in [1, n] of (a x mod m), gcd(a, m) = 1, 0 < a < m, n < m --
# Values a x mod m below a occur right after a wrap: with y = floor(a x / m)
# >= 1, x = ceil(m y / a) and a x mod m = (-m y) mod a = a - ((m mod a) y mod
# a), for y in [1, floor(a n / m)]. Values above m - a occur right before one:
# x = ceil(m y / a) - 1 for y in [1, floor(a (n + 1) / m)], a x mod m =
# m - ((m mod a) y mod a). Both recurse with modulus a; for a > m/2 the
# identity a x mod m = m - ((m - a) x mod m) makes a <= m/2 first, so the
# modulus at least halves every two steps.
def mod_min(a, m, n):
    if n >= m - 1:
        return 1
    if 2 * a > m:
        return m - mod_max(m - a, m, n)
    y = a * n // m
    if y == 0:
        return a
    return min(a, a - mod_max(m % a, a, y))


def mod_max(a, m, n):
    if n >= m - 1:
        return m - 1
    if 2 * a > m:
        return m - mod_min(m - a, m, n)
    y = a * (n + 1) // m
    if y == 0:
        return a * n
    return m - mod_min(m % a, a, y)


def self_test_mod_minmax():
    rnd = random.Random(12345)
    for _ in range(3000):
        m = rnd.randint(2, 700)
        a = rnd.randint(1, m - 1)
        while Fraction(a, m).denominator != m:  # coprime
            a = rnd.randint(1, m - 1)
        n = rnd.randint(1, m - 1)
        vals = [a * x % m for x in range(1, n + 1)]
        if mod_min(a, m, n) != min(vals) or mod_max(a, m, n) != max(vals):
            fail("mod_min/mod_max(%d, %d, %d)" % (a, m, n))


def min_gap_above(beta, a_max):
    """min over A in [1, a_max] with A beta not an integer of
    ceil(A beta) - A beta, as a Fraction (beta a positive Fraction)."""
    n, d = beta.numerator, beta.denominator
    if d == 1:
        return None  # always an integer
    mm = (-n) % d
    if a_max >= d - 1:
        return Fraction(1, d)  # A mod d takes every value
    return Fraction(mod_min(mm, d, a_max), d)


def check_printer(t):
    """The printer's facts for one format (see numtext.c, scaled()):
    with k = floor(q log10 2), K = -k, h = q + e_K + 128 lies in [1, 4], and
    V = A 2^q 10^K for the A it uses (4c - 2 .. 4c + 2 < 2^(p+2)) is either an
    integer (then exactly when K in [0, 55], or K < 0 and 5^-K divides A) or
    at least A_max 2^h / 2^128 below the next integer, the most the table's
    rounding up (M_K + 1 for inexact rows) can add."""
    a_max = 1 << (t["p"] + 2)
    worst = None
    for q in range(t["q_min"], t["q_max"] + 1):
        k = floor_log10_pow2(q)
        if ((q * 1262611 + (400 << 22)) >> 22) - 400 != k:
            fail("floor(q log10 2) formula at q=%d" % q)
        big_k = -k
        h = q + e_of(big_k) + 128
        if not 1 <= h <= 4:
            fail("h=%d at q=%d" % (h, q))
        if (a_max << h) >= (1 << 64):
            fail("c << h overflows 64 bits at q=%d" % q)
        if big_k < 0 and q < k:
            fail("q < k at q=%d" % q)
        if 0 <= big_k <= EXACT_MAX:
            continue
        gap = min_gap_above(Fraction(2)**q * Fraction(10)**big_k, a_max)
        eps = Fraction(a_max << h, 1 << 128)
        if gap is not None and gap < eps:
            fail("%s q=%d: gap %s below the error bound" % (t["name"], q, gap))
        if gap is not None:
            ratio = gap / eps
            worst = ratio if worst is None or ratio < worst else worst
        # powers of two (c = 2^(p-1), q above the smallest): one more digit,
        # with A = 2^(p+1), K + 1 and h' = q + e_(K+1) + 128
        if q > t["q_min"]:
            k1 = big_k + 1
            a = 1 << (t["p"] + 1)
            h1 = q + e_of(k1) + 128
            if not 4 <= h1 <= 8 or (a << h1) >= (1 << 64):
                fail("h'=%d at q=%d" % (h1, q))
            if not 0 <= k1 <= EXACT_MAX:
                v = a * Fraction(2)**q * Fraction(10)**k1
                if v.denominator == 1:
                    fail("power of two at q=%d scales to an integer" % q)
                g = -(-v.numerator // v.denominator) - v
                if g < Fraction(a << h1, 1 << 128):
                    fail("power of two at q=%d too close to an integer" % q)
    return worst


def main():
    for k in range(-1700, 1700):
        if ((k * 1741647) >> 19) - 127 != e_of(k) and KMIN <= k <= KMAX:
            fail("e_k formula at k=%d" % k)
    self_test_mod_minmax()
    sys.setrecursionlimit(100000)
    margins = [check_printer(t) for t in (DOUBLE, FLOAT)]
    # K range the printer reaches, powers of two included.
    ks = [-floor_log10_pow2(q) for q in (DOUBLE["q_min"], DOUBLE["q_max"])]
    if not (KMIN <= min(ks) and max(ks) + 1 <= KMAX):
        fail("printer range %s outside the table" % ks)

    rows = [row(k) for k in range(KMIN, KMAX + 1)]
    out = []
    w = out.append
    w("""/*
 * pow10.h - the powers of ten of server/codec/numtext.c (both directions).
 * GENERATED by server/codec/gen_pow10.py: do not edit. `make pow10-update`
 * rewrites it; `make check-pow10` fails when it differs from the generator.
 *
 * Row k - XS__POW10_MIN (XS__POW10_MIN <= k <= XS__POW10_MAX) holds
 *
 *   M_k = floor(10^k / 2^e_k) = hi * 2^64 + lo,  e_k = floor(k log2 10) - 127
 *
 * so 2^127 <= M_k < 2^128 and 10^k = (M_k + f_k) * 2^e_k with 0 <= f_k < 1.
 * f_k = 0 (the row is 10^k exactly) for 0 <= k <= XS__POW10_EXACT_MAX, since
 * 10^k = 2^k 5^k and 5^55 < 2^128; f_k > 0 for every other row.
 * e_k = ((k * 1741647) >> 19) - 127 with a flooring shift (XS__POW10_E).
 *
 * Parser: M_k is a lower bound, M_k <= 10^k / 2^e_k < M_k + 1.
 * Printer: needs an upper bound, and takes M_k + 1 for the rows with f_k > 0
 * (0 < M_k + 1 - 10^k / 2^e_k < 1), M_k itself for the exact rows.
 *
 * The generator checks, in exact arithmetic: every row; the e_k formula; the
 * printer's formula k = floor(q log10 2); and the printer's error bound
 * (numtext.c, scaled()): for every double and float exponent, a scaled value
 * that is not an integer lies below the next integer by at least %.0f times
 * (double; %.3g times for float) the most that rounding the row up adds.
 */
#ifndef XENTD_CODEC_POW10_H
#define XENTD_CODEC_POW10_H

#include <stdint.h>

#define XS__POW10_MIN (%d)
#define XS__POW10_MAX %d
#define XS__POW10_EXACT_MAX %d
/* e_k of every row: floor(k * 1741647 / 2^19) - 127, the division made
 * non-negative so that it floors portably. */
#define XS__POW10_E(k)                                                         \\
  ((int)(((int64_t)(k)*1741647 + ((int64_t)2048 << 19)) >> 19) - 2048 - 127)

static const struct xs__pow10_row {
  uint64_t hi, lo;
} xs__pow10[%d] = {
""" % (float(margins[0]), float(margins[1]), KMIN, KMAX, EXACT_MAX,
       KMAX - KMIN + 1))
    for k, (m, e) in zip(range(KMIN, KMAX + 1), rows):
        w("    {0x%016xULL, 0x%016xULL}, /* 1e%d */\n"
          % (m >> 64, m & ((1 << 64) - 1), k))
    w("};\n\n#endif\n")
    text = "".join(out)
    # the C form of e_k, as the header writes it
    for k in range(KMIN, KMAX + 1):
        if ((k * 1741647 + (2048 << 19)) >> 19) - 2048 - 127 != e_of(k):
            fail("XS__POW10_E at k=%d" % k)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
