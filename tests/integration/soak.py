#!/usr/bin/python3
"""Soak: a real xentd under mixed traffic for SOAK_SECONDS (default 600).

Several client threads (--clients, default 6) send, at random but from a
fixed seed, until the time is up:
  example   a folder of api/examples (v1 and v2, JSON and binary tensors,
            valid and invalid: 400, 404, 405, 413, 415, 422), checked as
            check-examples checks it (test_examples.run_case);
  v1        /v1/loss or /v1/targets on random shapes, every number checked
            against numpy (float64);
  v2-json   /v2/models/cross_entropy/infer with FP64 tensors in JSON;
  v2-bin    the same with FP32 logits as binary tensors and binary outputs;
  slow      a /v1/loss body sent in 4 pieces 0.25 s apart (with a length,
            or chunked), within the daemon's deadlines;
  big       256 x 1000 logits asking for loss, per_sample and grad (a 5 MB
            body and a 5 MB answer, every value checked);
  4mb       4 MB bodies asking for the loss;
  framing   a repeated Content-Length or a malformed one, on a socket of
            its own: 400 and closed;
  probe     /healthz, /readyz, /v2/health/live, /metrics.
Each request goes on the client's kept-alive connection or on a new one
(30%). Any status, header or body other than the expected one fails.
The daemon's resident memory (VmRSS in /proc/PID/status, less the resident
bytes of the kept blocks /metrics shows) is read after
the warm-up (a minute, or a quarter of a shorter run; each client sends
one request of every kind first) and at the end, each the median of three
readings 2 s apart (glibc told to give back
what is freed, see MALLOC_ENV), each time with every
client paused and the daemon idle; the end must not be more than 10%
above the warm-up figure (a heap that shrank is no failure). A trace of
the idle RSS at a few more pauses is printed. xentd must exit 0 on SIGTERM.
Prints the requests by kind, the RSS figures and
"soak: N passed, M failed" (N, M: requests and checks).
"""

import argparse
import faulthandler
import http.client
import json
import math
import os
import random
import socket
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_examples as ex  # noqa: E402
from xentd_process import Daemon  # noqa: E402

REL, ABS = 1e-12, 1e-12

# glibc keeps freed memory of large requests in its heaps, and raises its
# mmap threshold after the first large free: the idle RSS then depends on
# which request came last (measured without these: 8 to 17 MiB from one
# pause to the next, with no trend over 4 minutes). Fixed thresholds make
# every block of 128 KiB or more its own mapping, given back when freed,
# so the idle RSS is what xentd holds; memory never freed still counts.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072",
              "MALLOC_TRIM_THRESHOLD_": "131072"}


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no " + field)


def close_enough(got, want, rel=REL, abs_=ABS):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    bad = np.abs(got - want) > abs_ + rel * np.abs(want)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        return (f"[{i}] = {got.reshape(-1)[i]!r}, expected "
                f"{want.reshape(-1)[i]!r}")
    return None


def reference(x, t, eps):
    """Mean cross-entropy of hard labels t with label smoothing eps:
    (loss, per_sample, grad), float64."""
    n, c = x.shape
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    lp = x - lse
    q = np.full((n, c), eps / c)
    q[np.arange(n), t] += 1.0 - eps
    per = -(q * lp).sum(axis=1)
    grad = (np.exp(lp) - q) / n
    return per.mean(), per, grad


def numbers(a):
    return "[" + ",".join(repr(float(v)) for v in a) + "]"


def matrix(x):
    return "[" + ",".join(numbers(row) for row in x) + "]"


class Conn:
    """One connection, kept alive unless told not to; never retries: a
    reset or a close in the middle of a request is a failure."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None

    def request(self, method, path, body=None, headers=None, keep=True):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port,
                                                   timeout=120)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
            data = resp.read()
        except Exception:
            self.close()
            raise
        got = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close or not keep:
            self.close()
        return resp.status, got, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class OneShot:
    """test_examples.run_case's client, on a given connection."""

    def __init__(self, conn, keep):
        self.conn, self.keep = conn, keep

    def request(self, method, path, body=None, headers=None):
        return self.conn.request(method, path, body, headers, self.keep)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.kinds = {}
        self.failures = []

    def add(self, kind, why):
        with self.lock:
            ok, bad = self.kinds.get(kind, (0, 0))
            self.kinds[kind] = (ok + (why is None), bad + (why is not None))
            if why is not None and len(self.failures) < 40:
                self.failures.append(f"{kind}: {why}")


class Soak:
    def __init__(self, url, pid, seed, examples):
        self.host, self.port = url.split("://")[1].split(":")
        self.port = int(self.port)
        self.url, self.pid = url, pid
        self.examples = examples
        self.tally = Tally()
        self.stop = threading.Event()
        self.cv = threading.Condition()
        self.pausing = False
        self.paused = 0
        rng = np.random.default_rng(seed)
        self.big = [self.make_big(rng, 256, 1000) for _ in range(2)]
        self.four = [self.make_four(rng) for _ in range(2)]

    # ------------------------------------------------------ fixed bodies --
    @staticmethod
    def make_big(rng, n, c):
        x = rng.normal(0, 3, (n, c))
        t = rng.integers(0, c, n)
        body = ('{"logits": ' + matrix(x) + ', "targets": '
                + json.dumps(t.tolist()) + "}").encode()
        return body, reference(x, t, 0.0)

    @staticmethod
    def make_four(rng):
        n, c = 200, 1100  # about 4 MB of 17-digit numbers
        x = rng.normal(0, 3, (n, c))
        t = rng.integers(0, c, n)
        body = ('{"outputs": ["loss"], "logits": ' + matrix(x)
                + ', "targets": ' + json.dumps(t.tolist()) + "}").encode()
        return body, reference(x, t, 0.0)[0]

    # ------------------------------------------------------------ pauses --
    def checkpoint(self):
        """Between requests: waits while the main thread reads RSS."""
        with self.cv:
            if not self.pausing:
                return
            self.paused += 1
            self.cv.notify_all()
            while self.pausing:
                self.cv.wait()
            self.paused -= 1

    def pause(self, clients, timeout=300):
        with self.cv:
            self.pausing = True
            deadline = time.monotonic() + timeout
            while self.paused < clients and time.monotonic() < deadline:
                self.cv.wait(timeout=1)
            return self.paused == clients

    def resume(self):
        with self.cv:
            self.pausing = False
            self.cv.notify_all()

    def metric(self, name):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return math.nan

    def idle_rss(self):
        """VmRSS once only this /metrics request is in flight, less the
        resident bytes of the freed large blocks the daemon keeps for the
        next request (at most 8 MiB, shown in /metrics): what it holds does
        not depend on which request came last."""
        deadline = time.monotonic() + 60
        while self.metric("xentd_requests_in_flight") != 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon never went idle")
            time.sleep(0.01)
        rss = vm(self.pid, "VmRSS")
        spare = self.metric("xentd_memory_spare_bytes")
        if math.isnan(spare):
            raise RuntimeError("no xentd_memory_spare_bytes in /metrics")
        return rss - int(spare)

    # ------------------------------------------------------------- kinds --
    def k_example(self, conn, rnd, keep):
        folder = rnd.choice(self.examples)
        why = ex.run_case(OneShot(conn, keep), folder)
        return None if why is None else f"{os.path.basename(folder)}: {why}"

    def k_v1(self, conn, rnd, keep):
        n, c = rnd.randint(1, 8), rnd.randint(2, 12)
        eps = rnd.choice([0.0, 0.1, 0.25])
        x = np.array([[rnd.uniform(-8, 8) for _ in range(c)]
                      for _ in range(n)])
        t = np.array([rnd.randrange(c) for _ in range(n)])
        hdr = {"Content-Type": "application/json"}
        if rnd.random() < 0.3:
            body = json.dumps({"targets": t.tolist(), "num_classes": c,
                               "label_smoothing": eps})
            status, _, data = conn.request("POST", "/v1/targets", body, hdr,
                                           keep)
            if status != 200:
                return f"/v1/targets {status}: {data[:200]!r}"
            q = np.full((n, c), eps / c)
            q[np.arange(n), t] += 1 - eps
            return close_enough(json.loads(data)["targets"], q)
        body = ('{"logits": ' + matrix(x) + ', "targets": '
                + json.dumps(t.tolist()) + ', "label_smoothing": '
                + repr(eps) + "}")
        status, _, data = conn.request("POST", "/v1/loss", body, hdr, keep)
        if status != 200:
            return f"/v1/loss {status}: {data[:200]!r}"
        got = json.loads(data)
        loss, per, grad = reference(x, t, eps)
        return (close_enough(got["loss"], loss, 1e-10)
                or close_enough(got["per_sample"], per, 1e-10)
                or close_enough(got["grad"], grad, 1e-10))

    def k_v2_json(self, conn, rnd, keep):
        n, c = rnd.randint(1, 8), rnd.randint(2, 12)
        x = np.array([[rnd.uniform(-8, 8) for _ in range(c)]
                      for _ in range(n)])
        t = np.array([rnd.randrange(c) for _ in range(n)])
        body = ('{"inputs": [{"name": "logits", "shape": [%d, %d], '
                '"datatype": "FP64", "data": %s}, {"name": "targets", '
                '"shape": [%d], "datatype": "INT64", "data": %s}]}'
                % (n, c, numbers(x.reshape(-1)), n, json.dumps(t.tolist())))
        status, _, data = conn.request(
            "POST", "/v2/models/cross_entropy/infer", body,
            {"Content-Type": "application/json"}, keep)
        if status != 200:
            return f"v2 json {status}: {data[:200]!r}"
        out = {o["name"]: o["data"] for o in json.loads(data)["outputs"]}
        loss, per, grad = reference(x, t, 0.0)
        return (close_enough(out["loss"], [loss], 1e-10)
                or close_enough(out["per_sample"], per, 1e-10)
                or close_enough(out["grad"], grad.reshape(-1), 1e-10))

    def k_v2_bin(self, conn, rnd, keep):
        n, c = rnd.randint(1, 16), rnd.randint(2, 64)
        x32 = np.array([[rnd.uniform(-8, 8) for _ in range(c)]
                        for _ in range(n)], dtype="<f4")
        t = np.array([rnd.randrange(c) for _ in range(n)], dtype="<i8")
        header = json.dumps({
            "inputs": [
                {"name": "logits", "shape": [n, c], "datatype": "FP32",
                 "parameters": {"binary_data_size": 4 * n * c}},
                {"name": "targets", "shape": [n], "datatype": "INT64",
                 "parameters": {"binary_data_size": 8 * n}}],
            "parameters": {"binary_data_output": True}}).encode()
        body = header + x32.tobytes() + t.tobytes()
        status, got, data = conn.request(
            "POST", "/v2/models/cross_entropy/infer", body,
            {"Content-Type": "application/octet-stream",
             "Inference-Header-Content-Length": str(len(header))}, keep)
        if status != 200:
            return f"v2 binary {status}: {data[:200]!r}"
        hl = got.get("inference-header-content-length")
        if hl is None:
            return "v2 binary answer without Inference-Header-Content-Length"
        out = {o["name"]: o["data"]
               for o in ex.decode_binary(data, int(hl))["outputs"]}
        loss, per, grad = reference(x32.astype(np.float64), t, 0.0)
        return (close_enough(out["loss"], [loss])
                or close_enough(out["per_sample"], per)
                or close_enough(out["grad"], grad.reshape(-1), 1e-6, 1e-7))

    def k_slow(self, conn, rnd, keep):
        n, c = rnd.randint(1, 6), rnd.randint(2, 10)
        x = np.array([[rnd.uniform(-8, 8) for _ in range(c)]
                      for _ in range(n)])
        t = np.array([rnd.randrange(c) for _ in range(n)])
        body = ('{"logits": ' + matrix(x) + ', "targets": '
                + json.dumps(t.tolist()) + "}").encode()
        cut = [0, len(body) // 4, len(body) // 2, 3 * len(body) // 4,
               len(body)]

        def pieces():
            for i in range(4):
                if i > 0:
                    time.sleep(0.25)  # the client's pace
                yield body[cut[i]:cut[i + 1]]

        hdr = {"Content-Type": "application/json"}
        if rnd.random() < 0.5:
            hdr["Content-Length"] = str(len(body))
        else:
            hdr["Transfer-Encoding"] = "chunked"
        if conn.conn is None:
            conn.conn = http.client.HTTPConnection(conn.host, conn.port,
                                                   timeout=120)
        try:
            conn.conn.request("POST", "/v1/loss", body=pieces(), headers=hdr,
                              encode_chunked="Transfer-Encoding" in hdr)
            resp = conn.conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            return f"slow {resp.status}: {data[:200]!r}"
        got = json.loads(data)
        loss, per, grad = reference(x, t, 0.0)
        return (close_enough(got["loss"], loss, 1e-10)
                or close_enough(got["grad"], grad, 1e-10))

    def k_big(self, conn, rnd, keep):
        body, (loss, per, grad) = rnd.choice(self.big)
        status, _, data = conn.request("POST", "/v1/loss", body,
                                       {"Content-Type": "application/json"},
                                       keep)
        if status != 200:
            return f"big {status}: {data[:200]!r}"
        got = json.loads(data)
        return (close_enough(got["loss"], loss, 1e-10)
                or close_enough(got["per_sample"], per, 1e-10)
                or close_enough(got["grad"], grad, 1e-10))

    def k_four(self, conn, rnd, keep):
        body, loss = rnd.choice(self.four)
        status, _, data = conn.request("POST", "/v1/loss", body,
                                       {"Content-Type": "application/json"},
                                       keep)
        if status != 200:
            return f"4mb {status}: {data[:200]!r}"
        return close_enough(json.loads(data)["loss"], loss, 1e-10)

    def k_framing(self, conn, rnd, keep):
        body = b'{"logits": [[1, 2, 3]], "targets": [2]}'
        lengths = rnd.choice([b"Content-Length: 39\r\nContent-Length: 39\r\n",
                              b"Content-Length: 5\r\nContent-Length: 39\r\n",
                              b"Content-Length: 39\r\n"
                              b"Transfer-Encoding: chunked\r\n",
                              b"Content-Length: -1\r\n",
                              b"Content-Length: x39\r\n"])
        req = (b"POST /v1/loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\n" + lengths + b"\r\n"
               + body + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        with socket.create_connection((self.host, self.port),
                                      timeout=30) as s:
            s.sendall(req)
            try:
                while True:
                    block = s.recv(65536)
                    if not block:
                        break
                    got += block
            except ConnectionResetError:
                pass
        if not got.startswith(b"HTTP/1.1 400 "):
            return f"framing {lengths!r}: {got[:200]!r}"
        if b" 200 OK" in got:
            return f"framing {lengths!r}: the request after it was answered"
        return None

    def k_probe(self, conn, rnd, keep):
        path = rnd.choice(["/healthz", "/readyz", "/v2/health/live",
                           "/metrics"])
        status, _, data = conn.request("GET", path, None, None, keep)
        if status != 200:
            return f"{path} {status}"
        if path == "/metrics":
            return None if b"xentd_build_info" in data else "no build_info"
        return None if data.startswith(b"{") else f"{path}: {data[:100]!r}"

    KINDS = [("example", 32), ("v1", 20), ("v2-json", 8), ("v2-bin", 10),
             ("slow", 4), ("big", 2), ("4mb", 2), ("framing", 4),
             ("probe", 18)]

    def client(self, index, seed):
        rnd = random.Random(seed)
        conn = Conn(self.host, self.port)
        names = [k for k, _ in self.KINDS]
        weights = [w for _, w in self.KINDS]
        fns = {"example": self.k_example, "v1": self.k_v1,
               "v2-json": self.k_v2_json, "v2-bin": self.k_v2_bin,
               "slow": self.k_slow, "big": self.k_big, "4mb": self.k_four,
               "framing": self.k_framing, "probe": self.k_probe}
        first = list(names)  # every kind once first: the heap warms up
        rnd.shuffle(first)
        while not self.stop.is_set():
            self.checkpoint()
            kind = first.pop() if first else rnd.choices(names, weights)[0]
            keep = rnd.random() >= 0.3
            try:
                why = fns[kind](conn, rnd, keep)
            except Exception as e:  # a reset, a timeout, a bad body
                why = f"{type(e).__name__}: {e}"
                conn.close()
            self.tally.add(kind, why)
        conn.close()
        with self.cv:  # a client that has left counts as paused
            self.paused += 1
            self.cv.notify_all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", required=True)
    ap.add_argument("--examples", default="api/examples")
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SOAK_SECONDS", "600")))
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--rss-every", type=float, default=0,
                    help="also read the idle RSS every this many seconds "
                         "(a trace; default: six times in the run)")
    args = ap.parse_args()
    warmup = min(60.0, args.seconds / 4)
    # A hung run ends with every thread's stack rather than never.
    faulthandler.dump_traceback_later(args.seconds * 2 + 300, exit=True)
    examples = sorted(os.path.join(args.examples, d)
                      for d in os.listdir(args.examples)
                      if os.path.isdir(os.path.join(args.examples, d)))
    passed = failed = 0
    print(f"soak: {args.seconds:g} s, {args.clients} clients, warm-up "
          f"{warmup:g} s, {len(examples)} example folders, seed {args.seed}")
    print("soak: xentd's environment: " + " ".join(
        f"{k}={v}" for k, v in MALLOC_ENV.items()))
    with Daemon(args.xentd, ["--access-log", "off", "--timeout", "30",
                             "--header-timeout", "10", "--body-timeout",
                             "30"], env=MALLOC_ENV) as d:
        soak = Soak(d.url, d.pid, args.seed, examples)
        start = time.monotonic()
        threads = [threading.Thread(target=soak.client,
                                    args=(i, args.seed * 100 + i))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        # Each figure is the median of three idle readings 2 s apart (the
        # clients run between them): at the warm-up, and at the end.
        every = args.rss_every or args.seconds / 6
        warm_marks = [warmup, warmup + 2, warmup + 4]
        end_marks = [args.seconds - 4, args.seconds - 2]
        marks = sorted(set(warm_marks + end_marks)
                       | {every * k for k in range(1, 1000)
                          if every * k < args.seconds - 5})
        trace = {}
        try:
            for mark in marks:
                # The length of the run, not an ordering of events.
                time.sleep(max(0.0, mark - (time.monotonic() - start)))
                if d.proc.poll() is not None:
                    raise RuntimeError("xentd exited during the run: "
                                       + d.log()[-2000:])
                if soak.pause(args.clients):
                    trace[mark] = soak.idle_rss()
                soak.resume()
            time.sleep(max(0.0, args.seconds - (time.monotonic() - start)))
        finally:
            soak.stop.set()
            for t in threads:
                t.join()
        elapsed = time.monotonic() - start
        trace[args.seconds] = soak.idle_rss()
        peak = vm(d.pid, "VmHWM")
        warm = [trace[m] for m in warm_marks if m in trace]
        end = [trace[m] for m in end_marks + [args.seconds] if m in trace]
        rss_warm = sorted(warm)[1] if len(warm) == 3 else None
        rss_end = sorted(end)[1] if len(end) == 3 else None
        status = d.stop(timeout=60)

    total = 0
    print("soak: requests by kind:")
    for kind, _ in Soak.KINDS:
        ok, bad = soak.tally.kinds.get(kind, (0, 0))
        total += ok + bad
        passed += ok
        failed += bad
        print(f"  {kind:10s} {ok:7d} passed {bad:5d} failed")
    print(f"soak: {total} requests in {elapsed:.0f} s "
          f"({total / elapsed:.0f}/s)")
    for line in soak.tally.failures:
        print("FAIL " + line)
    mib = 1 << 20
    print("soak: idle RSS trace: " + ", ".join(
        f"{t:.0f} s {r / mib:.1f} MiB" for t, r in sorted(trace.items())))
    if rss_warm is None or rss_end is None:
        failed += 1
        print("FAIL: the clients could not be paused to read the RSS")
    else:
        change = (rss_end - rss_warm) / rss_warm
        ok = change <= 0.10  # growth is what is held; a smaller heap is fine
        passed += ok
        failed += not ok
        print(f"soak: RSS at warm-up ({warmup:g} s, median of 3) "
              f"{rss_warm / mib:.2f} MiB, at the end (median of 3) "
              f"{rss_end / mib:.2f} MiB ({change * 100:+.1f}%, "
              f"limit 10%), peak {peak / mib:.1f} MiB: "
              f"{'ok' if ok else 'FAIL'}")
    for kind, _ in Soak.KINDS:
        if soak.tally.kinds.get(kind, (0, 0)) == (0, 0):
            failed += 1
            print(f"FAIL: no request of kind {kind} was sent")
    passed += status == 0
    failed += status != 0
    print(f"soak: xentd exit status {status} after SIGTERM")
    print(f"soak: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
