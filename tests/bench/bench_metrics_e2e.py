#!/usr/bin/python3
"""Whole-dataset metrics end to end through xentd (make bench).

The 50,000 x 1,000 logits of bench_metrics (the same generator) go to a
fresh xentd on 127.0.0.1 as 200 batches of 250 rows, binary tensors of the
Open Inference Protocol model classification_metrics (FP64, the array as it
is; and FP32), from --clients connections at once; each answer's state
(BYTES) is kept, and one more request merges the 200 states. Timed: wall
seconds from the first batch sent to the merged figures received. The
baseline, in the same run: numpy + scikit-learn computing the same figures
from the same array in one process (bench_metrics_py.figures), which needs
the whole array in memory at once.

The merged figures are checked against numpy + scikit-learn's on the same
values in float64 (accuracy and top-5 exactly, the rest to 1e-9 relative:
scikit-learn's log_loss clips); the timed baseline computes in the array's
own type, as its user would.

Usage: bench_metrics_e2e.py --xentd PATH [--rows N] [--batches B]
                            [--clients K]
"""

import argparse
import http.client
import json
import os
import struct
import sys
import threading
import time
import warnings

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bench_metrics_py as data  # noqa: E402
from xentd_harness import daemon, host_port  # noqa: E402

MODEL = "/v2/models/classification_metrics/infer"


def infer(conn, inputs, outputs):
    """Binary inputs (name, datatype, shape, bytes), outputs asked binary;
    returns {name: (datatype, bytes)}."""
    head = {"inputs": [{"name": n, "datatype": d, "shape": s,
                        "parameters": {"binary_data_size": len(b)}}
                       for n, d, s, b in inputs],
            "outputs": [{"name": o, "parameters": {"binary_data": True}}
                        for o in outputs]}
    hj = json.dumps(head).encode()
    conn.request("POST", MODEL, body=hj + b"".join(b for *_, b in inputs),
                 headers={"Inference-Header-Content-Length": str(len(hj)),
                          "Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"xentd answered {r.status}: {body[:300]!r}")
    hl = int(r.getheader("Inference-Header-Content-Length"))
    at = hl
    out = {}
    for o in json.loads(body[:hl])["outputs"]:
        size = o["parameters"]["binary_data_size"]
        out[o["name"]] = (o["datatype"], body[at:at + size])
        at += size
    return out


def run(url, np, x, y, batches, clients, dtype):
    host, port = host_port(url)
    n = x.shape[0]
    edges = [n * i // batches for i in range(batches + 1)]
    xs = x.astype(dtype)
    name = "FP64" if dtype == np.float64 else "FP32"
    states = [None] * batches
    errors = []

    def worker(k):
        conn = http.client.HTTPConnection(host, port, timeout=600)
        try:
            for b in range(k, batches, clients):
                lo, hi = edges[b], edges[b + 1]
                out = infer(conn, [
                    ("logits", name, [hi - lo, x.shape[1]],
                     xs[lo:hi].tobytes()),
                    ("targets", "INT64", [hi - lo], y[lo:hi].tobytes())],
                    ["state"])
                states[b] = out["state"][1]  # 4-byte length + JSON text
        except Exception as e:  # reported by the caller
            errors.append(e)
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,))
               for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    t1 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=600)
    blob = b"".join(states)
    out = infer(conn, [("states", "BYTES", [batches], blob)],
                ["accuracy", "top_k_accuracy", "nll", "brier", "ece",
                 "counted"])
    conn.close()
    t2 = time.perf_counter()
    f = {k: np.frombuffer(v, dtype="<i8" if d == "INT64" else "<f8")
         for k, (d, v) in out.items()}
    return t2 - t0, t1 - t0, t2 - t1, f, len(blob)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xentd", required=True)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy as np
    from sklearn import metrics as skm
    warnings.simplefilter("ignore")
    x, y = data.generate(np, args.rows)
    fails = 0
    print(f"# {args.rows} x {x.shape[1]} logits, {args.batches} batches "
          f"from {args.clients} connections, then one merge of the states")
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        t0 = time.perf_counter()
        data.figures(np, skm, xd, y)
        base = time.perf_counter() - t0
        # xentd computes in double from the values it is sent: the figures
        # to hold it to are those of the same values in float64
        want = data.figures(np, skm, xd.astype(np.float64), y)
        with daemon(args.xentd, ["--access-log", "off"]) as url:
            wall, send, merge, f, state_bytes = run(
                url, np, x, y, args.batches, args.clients, dtype)
        acc, top5, nll, brier, ece = want[:5]
        ok = (f["counted"][0] == args.rows and f["accuracy"][0] == acc
              and f["top_k_accuracy"][1] == top5
              and abs(f["nll"][0] - nll) <= 1e-9 * nll
              and abs(f["brier"][0] - brier) <= 1e-9 * brier
              and abs(f["ece"][0] - ece) <= 1e-9 * max(ece, 1e-300))
        fails += not ok
        dname = np.dtype(dtype).name
        print(f"{dname}: xentd {wall:.2f} s wall ({send:.2f} s for "
              f"{args.batches} batches, {merge * 1e3:.0f} ms for the merge of "
              f"{state_bytes / 1e3:.0f} kB of states); numpy + scikit-learn "
              f"in one process {base:.2f} s; ratio {base / wall:.2f}x; "
              f"figures {'agree' if ok else 'DIFFER'}")
        if not ok:
            print(f"  xentd {dict((k, v.tolist()) for k, v in f.items())}")
            print(f"  numpy + scikit-learn {want}")
        sys.stdout.flush()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
