#!/usr/bin/python3
"""Writes server/numfmt_pow10.h: 10^k as 128-bit floor(10^k / 2^e), exact."""
import sys

rows = []
for k in range(-292, 325):
    if k >= 0:
        x = 10**k
        b = x.bit_length()
        M = x >> (b - 128) if b > 128 else x << (128 - b)
        E = b - 128
    else:
        d = 10**(-k)
        t = 127 + d.bit_length()
        M = (1 << t) // d
        while M.bit_length() < 128:
            t += 1
            M = (1 << t) // d
        while M.bit_length() > 128:
            t -= 1
            M = (1 << t) // d
        E = -t
    assert M.bit_length() == 128
    rows.append("    {0x%016xULL, 0x%016xULL, %d}, /* 1e%d */"
                % (M >> 64, M & (2**64 - 1), E, k))
sys.stdout.write("\n".join(rows) + "\n")
