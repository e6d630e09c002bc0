#!/usr/bin/python3
"""TLS against plain HTTP, same run (make bench-tls).

Two fresh xentd on 127.0.0.1, one plain and one with --tls-cert / --tls-key
(a P-256 certificate made with openssl for the run). For each, for
--seconds: (1) new connections, each a handshake (TLS 1.3 for the TLS
daemon) and one GET /healthz, one after another: connections per second;
(2) small /v1/loss requests (8 x 10) back to back on one kept-alive
connection: requests per second and p50 / p99 latency. Prints both and the
ratio TLS / plain.

Usage: bench_tls.py --xentd PATH [--seconds S]
"""

import argparse
import http.client
import json
import os
import random
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from xentd_harness import daemon, host_port  # noqa: E402


def conn_of(url, ctx):
    host, port = host_port(url.replace("https://", "http://"))
    if ctx is None:
        return http.client.HTTPConnection(host, port, timeout=30)
    return http.client.HTTPSConnection(host, port, timeout=30, context=ctx)


def handshakes(url, ctx, seconds):
    n, t_end = 0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        c = conn_of(url, ctx)
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        c.close()
        n += 1
    return n / seconds


def requests(url, ctx, seconds, body):
    c = conn_of(url, ctx)
    lat, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        c.request("POST", "/v1/loss", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        lat.append(time.perf_counter() - t0)
    c.close()
    lat.sort()
    return (len(lat) / seconds, lat[len(lat) // 2] * 1e3,
            lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xentd", required=True)
    ap.add_argument("--seconds", type=float, default=5)
    args = ap.parse_args()
    rng = random.Random(3)
    body = json.dumps({"logits": [[rng.gauss(0, 2) for _ in range(10)]
                                  for _ in range(8)],
                       "targets": [rng.randrange(10) for _ in range(8)]})
    with tempfile.TemporaryDirectory(prefix="xent-tls-") as tmp:
        crt, key = os.path.join(tmp, "c.crt"), os.path.join(tmp, "c.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", crt, "-days", "2", "-subj", "/CN=xent-bench",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True)
        ctx = ssl.create_default_context(cafile=crt)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        rows = {}
        for name, extra, c in (("plain", [], None),
                               ("TLS 1.3", ["--tls-cert", crt,
                                            "--tls-key", key], ctx)):
            with daemon(args.xentd, ["--access-log", "off"] + extra) as url:
                hs = handshakes(url, c, args.seconds)
                rate, p50, p99 = requests(url, c, args.seconds, body)
            rows[name] = (hs, rate, p50, p99)
            print(f"{name:8s}: {hs:7.0f} new connections/s (handshake + "
                  f"GET /healthz); 8x10 /v1/loss kept alive: {rate:7.0f} "
                  f"req/s, p50 {p50:.3f} ms, p99 {p99:.3f} ms")
        p, t = rows["plain"], rows["TLS 1.3"]
        print(f"TLS / plain: connections {t[0] / p[0]:.2f}x, requests "
              f"{t[1] / p[1]:.2f}x, p50 {t[2] / p[2]:.2f}x")


if __name__ == "__main__":
    main()
