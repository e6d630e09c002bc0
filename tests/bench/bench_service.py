#!/usr/bin/python3
"""`make bench-service`: xentd against a FastAPI + PyTorch peer, same run.

Starts xentd (once per --xentd-threads value) and peer_fastapi.py, each on
an ephemeral 127.0.0.1 port, checks that every service gives the same loss,
per_sample and grad as the peer (PyTorch float64) on both bodies, then
measures for each service, one after the other:
  - requests per second for an 8 x 10 batch: wrk, fixed duration, a fixed
    number of connections, one wrk thread, every request the same POST;
  - milliseconds per request for a 256 x 1000 batch: one keep-alive
    connection, requests one after another, the median and the 99th
    percentile;
then the client's floor (null_server.py: the same client against a server
that reads the body and answers as many prebuilt bytes as xentd, doing no
work); then, on the first xentd and the peer, the Open Inference Protocol: the
256 x 1000 batch as FP32 binary tensors with binary outputs, as v2 JSON,
and 64 x 32000 FP32 binary; and the peak RSS of a daemon of its own for one
64 MiB binary request.
Prints the tables with the ratios to the peer. Every server is stopped at
the end, also on an error or a signal. Traffic goes to 127.0.0.1 only.
"""
import argparse
import array
import http.client
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time

from report import print_table  # the same table layout as make bench

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"


def make_body(n, classes, seed):
    rng = random.Random(seed)
    logits = [[rng.gauss(0.0, 2.0) for _ in range(classes)] for _ in range(n)]
    targets = [rng.randrange(classes) for _ in range(n)]
    return json.dumps({"logits": logits, "targets": targets,
                       "label_smoothing": 0.1}).encode()


class Service:
    def __init__(self, name, argv, port_file, log_path, env=None):
        self.name, self.argv, self.port_file = name, argv, port_file
        self.log_path, self.env = log_path, env
        self.proc, self.port, self.log = None, None, None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     env=self.env)

    def wait_port(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with open(self.port_file, encoding="ascii") as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start (see {self.log_path})")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self.log is not None:
            self.log.close()
            self.log = None


def post(conn, body, path="/v1/loss", headers=None):
    conn.request("POST", path, body,
                 headers or {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def v2_json_body(n, classes, seed):
    req = json.loads(make_body(n, classes, seed))
    return json.dumps({"inputs": [
        {"name": "logits", "shape": [n, classes], "datatype": "FP64",
         "data": req["logits"]},
        {"name": "targets", "shape": [n], "datatype": "INT64",
         "data": req["targets"]}],
        "parameters": {"label_smoothing": 0.1}}).encode()


def v2_binary_body(n, classes, seed):
    """(body, headers): FP32 logits and INT64 targets after the JSON header,
    every output binary."""
    rng = random.Random(seed)
    logits = array.array("f", (rng.gauss(0.0, 2.0) for _ in range(n * classes)))
    targets = array.array("q", (rng.randrange(classes) for _ in range(n)))
    head = json.dumps({"inputs": [
        {"name": "logits", "shape": [n, classes], "datatype": "FP32",
         "parameters": {"binary_data_size": len(logits) * 4}},
        {"name": "targets", "shape": [n], "datatype": "INT64",
         "parameters": {"binary_data_size": len(targets) * 8}}],
        "parameters": {"label_smoothing": 0.1, "binary_data_output": True},
        "outputs": [{"name": "loss"}, {"name": "per_sample"},
                    {"name": "grad"}]}).encode()
    return head + logits.tobytes() + targets.tobytes(), {
        "Inference-Header-Content-Length": str(len(head))}


def decode_v2_binary(data, hlen):
    """{name: list of values} of a binary v2 answer."""
    head = json.loads(data[:hlen])
    at, out = hlen, {}
    for o in head["outputs"]:
        size = o["parameters"]["binary_data_size"]
        code = {"FP64": "d", "FP32": "f"}[o["datatype"]]
        out[o["name"]] = array.array(code, data[at:at + size]).tolist()
        at += size
    return out


def max_rel_diff(got, want):
    """Largest |got - want| / max(1, |want|) over loss, per_sample and grad:
    the project's tolerance against PyTorch (semantics.md 6) is 1e-12."""
    worst = 0.0
    pairs = [([got["loss"]], [want["loss"]])]
    pairs.append((got["per_sample"], want["per_sample"]))
    pairs += list(zip(got["grad"], want["grad"]))
    for a_row, b_row in pairs:
        if len(a_row) != len(b_row):
            return math.inf
        for a, b in zip(a_row, b_row):
            worst = max(worst, abs(a - b) / max(1.0, abs(b)))
    return worst


def check_same(services, peer, bodies):
    """Every service must answer 200 and agree with the peer to 1e-12."""
    lines = []
    for label, body in bodies:
        answers = {}
        for s in services:
            conn = http.client.HTTPConnection(HOST, s.port, timeout=60)
            status, data = post(conn, body)
            conn.close()
            if status != 200:
                raise RuntimeError(f"{s.name}: {label}: HTTP {status}: "
                                   f"{data[:200]!r}")
            answers[s.name] = json.loads(data)
        for s in services:
            if s is peer:
                continue
            d = max_rel_diff(answers[s.name], answers[peer.name])
            lines.append(f"{label}: {s.name} vs {peer.name}: largest "
                         f"|difference| / max(1, |peer|) = {d:.2g}")
            if not d <= 1e-12:
                raise RuntimeError(lines[-1] + " (more than 1e-12)")
    return lines


def run_wrk(wrk, script, body_path, port, args):
    cmd = [wrk, "-t", str(args.wrk_threads), "-c", str(args.connections),
           "-d", f"{args.duration}s", "--timeout", "10s", "-s", script,
           f"http://{HOST}:{port}/v1/loss"]
    env = dict(os.environ, BENCH_BODY=body_path)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=args.duration + 60, check=True).stdout
    rps = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    if not rps:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad or errors:
        raise RuntimeError(f"wrk saw failures on port {port}:\n{out}")
    return float(rps.group(1))


def run_latency(port, body, count, path="/v1/loss", headers=None,
                before_close=None):
    """The requests one after another on one connection; before_close(),
    if given, runs after the last answer and before the connection closes
    (with a thread per connection, the thread that served them is still
    there to be counted)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times = []
    try:
        for i in range(count + 2):
            start = time.perf_counter()
            status, _ = post(conn, body, path, headers)
            elapsed = time.perf_counter() - start
            if status != 200:
                raise RuntimeError(f"port {port}: HTTP {status}")
            if i >= 2:  # two warm-up requests
                times.append(elapsed * 1e3)
        if before_close is not None:
            before_close()
    finally:
        conn.close()
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return statistics.median(times), min(times), max(times), p99


def cpu_seconds(pid):
    """Seconds process pid's live threads have run (the scheduler's own
    count, in ns: /proc/PID/task/TID/schedstat). A thread that ends takes
    its count with it: read it while the threads that did the work live."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended meanwhile
    return total / 1e9


def run_latency_cpu(s, body, count):
    """run_latency on service s, and the CPU milliseconds a request of
    this client (this process, one thread) and of the server."""
    me = os.getpid()
    end = []
    c0, s0 = cpu_seconds(me), cpu_seconds(s.proc.pid)
    result = run_latency(s.port, body, count, before_close=lambda: end.append(
        (cpu_seconds(me), cpu_seconds(s.proc.pid))))
    (c1, s1), = end
    n = count + 2  # with the warm-up requests
    return result, ((c1 - c0) / n * 1e3, (s1 - s0) / n * 1e3)


def check_v2(xentd_port, peer_port, body, headers):
    """xentd's binary answer against the peer's: loss and per_sample to
    1e-12 (float64), grad FP32 within one float32 rounding of each other."""
    answers = []
    for port in (xentd_port, peer_port):
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        conn.request("POST", "/v2/models/cross_entropy/infer", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        hlen = resp.getheader("Inference-Header-Content-Length")
        conn.close()
        if resp.status != 200 or hlen is None:
            raise RuntimeError(f"v2 binary on port {port}: HTTP {resp.status}: "
                               f"{data[:200]!r}")
        answers.append(decode_v2_binary(data, int(hlen)))
    got, want = answers
    worst = 0.0
    for k in ("loss", "per_sample"):
        for a, b in zip(got[k], want[k]):
            worst = max(worst, abs(a - b) / max(1.0, abs(b)))
    if not worst <= 1e-12 or len(got["grad"]) != len(want["grad"]):
        raise RuntimeError(f"v2 binary: xentd and the peer differ ({worst:.2g})")
    gworst = max(abs(a - b) / max(abs(b), 1e-30)
                 for a, b in zip(got["grad"], want["grad"]))
    if not gworst <= 2 ** -23:
        raise RuntimeError(f"v2 binary grad: relative difference {gworst:.2g}")
    return (f"v2 binary 256 x 1000: loss and per_sample vs the peer {worst:.2g}, "
            f"FP32 grad relative {gworst:.2g} (<= one float32 rounding)")


def measure_floor(x, body, work, count, started):
    """The client's floor: the same client and body against null_server.py,
    which reads the body and answers as many prebuilt bytes as xentd's
    answer, chunked. The server joins started (the caller stops them).
    Returns (answer bytes, run_latency's tuple, CPU ms a request of the
    client and of the server)."""
    conn = http.client.HTTPConnection(HOST, x.port, timeout=60)
    status, data = post(conn, body)
    conn.close()
    if status != 200:
        raise RuntimeError(f"{x.name}: HTTP {status}")
    pf = os.path.join(work, "null.port")
    s = Service("null server", [sys.executable,
                                os.path.join(HERE, "null_server.py"),
                                "--port-file", pf, "--answer-bytes",
                                str(len(data))],
                pf, os.path.join(work, "null.log"))
    started.append(s)
    s.start()
    s.wait_port(30)
    return (len(data),) + run_latency_cpu(s, body, count)


def peak_rss_binary(xentd, work):
    """Peak RSS (VmHWM, MiB) of a daemon of its own after one 64 MiB binary
    request (512 x 32768 FP32 logits, loss, per_sample and FP32 grad back)."""
    n, c = 512, 32768
    body, headers = v2_binary_body(n, c, 5)
    pf = os.path.join(work, "xentd-rss.port")
    s = Service("xentd (peak RSS)",
                [xentd, "--bind", HOST, "--port", "0", "--port-file", pf,
                 "--access-log", "off", "--max-body-bytes", str(80 << 20)],
                pf, os.path.join(work, "xentd-rss.log"))
    s.start()
    try:
        s.wait_port(30)
        conn = http.client.HTTPConnection(HOST, s.port, timeout=120)
        status, data = post(conn, body, "/v2/models/cross_entropy/infer",
                            headers)
        conn.close()
        if status != 200:
            raise RuntimeError(f"64 MiB binary request: HTTP {status}")
        with open(f"/proc/{s.proc.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f
                       if line.startswith("VmHWM:"))
    finally:
        s.stop()
    return len(body) / 2**20, len(data) / 2**20, hwm / 1024


def peer_versions():
    """The peer's stack, e.g. 'fastapi 0.92.0, uvicorn 0.17.6, ...'."""
    from importlib import metadata
    parts = []
    for name in ("fastapi", "uvicorn", "uvloop", "httptools", "torch"):
        try:
            parts.append(f"{name} {metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            parts.append(f"no {name}")
    return ", ".join(parts)


def on_signal(signum, _frame):
    sys.exit(128 + signum)  # runs the finally below: servers are stopped


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xentd", required=True, help="path of the xentd binary")
    ap.add_argument("--xentd-threads", default="1,2",
                    help="comma-separated --threads values, one xentd each")
    ap.add_argument("--workdir", required=True,
                    help="folder for the bodies, port files and server logs")
    ap.add_argument("--wrk", default="wrk")
    ap.add_argument("--duration", type=int, default=5, help="wrk seconds")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--requests", type=int, default=20,
                    help="timed sequential 256 x 1000 requests")
    args = ap.parse_args()
    if not (1 <= args.duration <= 60 and 1 <= args.connections <= 256
            and 1 <= args.wrk_threads <= args.connections
            and 1 <= args.requests <= 1000):
        ap.error("duration 1..60, connections 1..256, wrk threads "
                 "1..connections, requests 1..1000")
    threads = [int(t) for t in args.xentd_threads.split(",") if t]
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    work = args.workdir
    os.makedirs(work, exist_ok=True)
    for name in os.listdir(work):
        if name.endswith(".port"):
            os.remove(os.path.join(work, name))
    small = make_body(8, 10, 1)
    large = make_body(256, 1000, 2)
    small_path = os.path.join(work, "small.json")
    with open(small_path, "wb") as f:
        f.write(small)

    services = []
    for t in threads:
        pf = os.path.join(work, f"xentd-{t}.port")
        services.append(Service(
            f"xentd --threads {t}",
            [args.xentd, "--bind", HOST, "--port", "0", "--port-file", pf,
             "--threads", str(t), "--access-log", "off",
             "--shutdown-timeout", "2"],
            pf, os.path.join(work, f"xentd-{t}.log")))
    pf = os.path.join(work, "peer.port")
    peer = Service("FastAPI + torch (1 worker)",
                   [sys.executable, os.path.join(HERE, "peer_fastapi.py"),
                    "--port-file", pf],
                   pf, os.path.join(work, "peer.log"))
    services.append(peer)

    results = {}
    v2 = {}
    others = []  # servers that are not in the tables: stopped with the rest
    cpu = {}  # service name: CPU ms a 256 x 1000 request (client, server)
    infer = "/v2/models/cross_entropy/infer"
    bin_large = v2_binary_body(256, 1000, 2)
    bin_wide = v2_binary_body(64, 32000, 3)
    json_large = v2_json_body(256, 1000, 2)
    json_headers = {"Content-Type": "application/json"}
    try:
        for s in services:
            s.start()
        for s in services:
            s.wait_port(60)
        checks = check_same(services, peer, [("8 x 10", small),
                                             ("256 x 1000", large)])
        checks.append(check_v2(services[0].port, peer.port, *bin_large))
        for s in services:
            print(f"measuring {s.name} on port {s.port} ...", file=sys.stderr,
                  flush=True)
            rps = run_wrk(args.wrk, os.path.join(HERE, "post.lua"),
                          small_path, s.port, args)
            lat, cpu[s.name] = run_latency_cpu(s, large, args.requests)
            results[s.name] = (rps, lat)
        x = services[0]
        count = args.requests * 5
        v2["xentd v2 binary"] = run_latency(x.port, bin_large[0], count, infer,
                                            bin_large[1])
        v2["xentd v2 JSON"] = run_latency(x.port, json_large, args.requests,
                                          infer, json_headers)
        v2["xentd /v1 JSON"] = results[x.name][1]
        v2["peer v2 binary"] = run_latency(peer.port, bin_large[0], count,
                                           infer, bin_large[1])
        v2["peer /v1 JSON"] = results[peer.name][1]
        v2["wide: xentd v2 binary"] = run_latency(x.port, bin_wide[0], count,
                                                  infer, bin_wide[1])
        v2["wide: peer v2 binary"] = run_latency(peer.port, bin_wide[0], count,
                                                 infer, bin_wide[1])
        floor = measure_floor(x, large, work, args.requests, others)
    finally:
        for s in services + others:
            s.stop()
    rss = peak_rss_binary(args.xentd, work)

    print(f"xentd vs the FastAPI + PyTorch float64 peer, both on {HOST}, "
          f"same run; POST /v1/loss with loss, per_sample and grad, "
          f"label_smoothing 0.1.")
    print(f"req/s: wrk -t{args.wrk_threads} -c{args.connections} "
          f"-d{args.duration}s, 8 x 10 body ({len(small)} bytes). "
          f"ms/request: {args.requests} sequential requests on one "
          f"connection, 256 x 1000 body ({len(large)} bytes), median "
          f"(min-max).")
    print(f"peer: {peer_versions()}; xentd --access-log off.")
    print("Ratios are against the peer: > 1 means xentd is better.")
    for line in checks:
        print("check: " + line)
    print()
    peer_rps, (peer_ms, _, _, _) = results[peer.name]
    rows = []
    for s in services:
        rps, (ms, lo, hi, _) = results[s.name]
        rows.append([s.name, f"{rps:.0f}", f"{rps / peer_rps:.1f}x",
                     f"{ms:.1f} ({lo:.1f}-{hi:.1f})", f"{peer_ms / ms:.1f}x"])
    print_table(["service", "8 x 10 req/s", "vs peer",
                 "256 x 1000 ms/request", "vs peer"], rows)
    answer_bytes, (floor_ms, floor_lo, floor_hi, _), floor_cpu = floor
    x = services[0].name
    own_ms = results[x][1][0]
    print(f"The client's floor: the same client and 256 x 1000 body against "
          f"null_server.py, which reads the body and answers {answer_bytes} "
          f"prebuilt bytes (the size of xentd's answer), chunked, doing "
          f"nothing else: {floor_ms:.1f} ({floor_lo:.1f}-{floor_hi:.1f}) "
          f"ms/request; {x} takes {own_ms - floor_ms:.1f} ms above it "
          f"({own_ms / floor_ms:.1f}x the floor).")
    client_cpu, server_cpu = cpu[x]
    print(f"CPU a 256 x 1000 request (ms the scheduler counted, user and "
          f"system, the warm-up requests too): with {x}, the client {client_cpu:.1f} and xentd "
          f"{server_cpu:.1f}; with the null server, the client "
          f"{floor_cpu[0]:.1f} and the server {floor_cpu[1]:.1f}. The two "
          f"cores cannot serve a request to {x} in less than (client + "
          f"xentd) / 2 = {(client_cpu + server_cpu) / 2:.1f} ms.")
    print()
    print(f"Open Inference Protocol, {services[0].name}, one keep-alive "
          f"connection, requests one after another ({args.requests * 5} for "
          f"binary bodies, {args.requests} for JSON), label_smoothing 0.1, "
          f"outputs loss, per_sample, grad. Ratios against the peer's binary "
          f"route (numpy.frombuffer, binary answer) for the same body.")
    print()
    base = v2["peer v2 binary"][0]
    wide_base = v2["wide: peer v2 binary"][0]
    rows = []
    for name, body_text in [("xentd v2 binary", "256 x 1000 FP32, binary in and out"),
                            ("xentd v2 JSON", "256 x 1000, JSON tensors"),
                            ("xentd /v1 JSON", "256 x 1000, /v1 JSON"),
                            ("peer v2 binary", "256 x 1000 FP32, binary in and out"),
                            ("peer /v1 JSON", "256 x 1000, /v1 JSON"),
                            ("wide: xentd v2 binary", "64 x 32000 FP32, binary"),
                            ("wide: peer v2 binary", "64 x 32000 FP32, binary")]:
        p50, lo, hi, p99 = v2[name]
        ref = wide_base if name.startswith("wide") else base
        rows.append([name.replace("wide: ", ""), body_text, f"{p50:.2f}",
                     f"{p99:.2f}", f"{ref / p50:.1f}x"])
    print_table(["service", "body", "p50 ms", "p99 ms", "vs peer binary"], rows)
    jx = v2["xentd v2 JSON"][0] / v2["xentd v2 binary"][0]
    print()
    print(f"xentd v2 binary is {jx:.1f}x faster than xentd v2 JSON and "
          f"{v2['xentd /v1 JSON'][0] / v2['xentd v2 binary'][0]:.1f}x faster "
          f"than /v1 JSON for the same batch.")
    body_mib, resp_mib, hwm = rss
    print(f"Peak RSS of xentd for one {body_mib:.1f} MiB binary request "
          f"({resp_mib:.1f} MiB binary answer): {hwm:.1f} MiB "
          f"(2 x body + response = {2 * body_mib + resp_mib:.1f} MiB; "
          f"2 x (body + response) = {2 * (body_mib + resp_mib):.1f} MiB).")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        sys.exit(f"bench_service: {e}")
