#!/usr/bin/python3
"""Load-balancer check for docker/compose.yaml (Python standard library only).

Sends REQUESTS POST /v1/loss requests through nginx, each a random small
batch (hard labels, label smoothing, sometimes class weights) whose loss
and per-sample losses are computed here from the formulas of
semantics.md (PyTorch's log_softmax order), and requires every answer to
match to 1e-12 (relative, absolute floor 1e-12). Counts the X-Xent-Replica
header of each answer and requires exactly EXPECT_REPLICAS distinct values.

With --stop CONTAINER, the container is stopped (docker stop, in the
background) after the first 20 requests while requests keep flowing; the
REQUESTS counted requests are then sent once it has stopped, and none of
them may be answered by that replica (--stop-name, its hostname).

  balance_check.py --url http://127.0.0.1:8088 --requests 300 --expect-replicas 3
"""

import argparse
import http.client
import json
import math
import random
import subprocess
import sys
import time
import urllib.parse

TOL = 1e-12


def log_softmax(row):
    m = max(row)
    s = sum(math.exp(x - m) for x in row)
    ls = math.log(s)
    return [(x - m) - ls for x in row]


def expected(logits, targets, eps, weights):
    """Loss (mean) and per-sample losses, semantics.md sections 1.1, 2, 3."""
    c = len(logits[0])
    w = weights if weights is not None else [1.0] * c
    per_sample = []
    for row, t in zip(logits, targets):
        lp = log_softmax(row)
        off = eps / c
        q = [off] * c
        q[t] = 1.0 - eps + off
        per_sample.append(-sum(w[j] * q[j] * lp[j] for j in range(c)))
    denom = sum(w[t] for t in targets)
    return sum(per_sample) / denom, per_sample


def close(got, want):
    return isinstance(got, (int, float)) and abs(got - want) <= TOL * max(1.0, abs(want))


def make_case(rng):
    n = rng.randint(1, 8)
    c = rng.randint(2, 10)
    logits = [[round(rng.uniform(-6.0, 6.0), 6) for _ in range(c)] for _ in range(n)]
    targets = [rng.randrange(c) for _ in range(n)]
    eps = rng.choice([0.0, 0.1, 0.2, round(rng.random(), 4)])
    body = {"logits": logits, "targets": targets, "label_smoothing": eps,
            "outputs": ["loss", "per_sample"]}
    weights = None
    if rng.random() < 0.3:
        weights = [round(rng.uniform(0.25, 2.0), 3) for _ in range(c)]
        body["class_weights"] = weights
    loss, per_sample = expected(logits, targets, eps, weights)
    return body, loss, per_sample


class Client:
    """One keep-alive connection to nginx, reopened after an error."""

    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.conn = None

    def post(self, path, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        data = json.dumps(body).encode()
        try:
            self.conn.request("POST", path, body=data,
                              headers={"Content-Type": "application/json"})
            r = self.conn.getresponse()
            payload = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, r.getheader("X-Xent-Replica"), payload


def one_request(client, rng, counts, problems):
    body, loss, per_sample = make_case(rng)
    try:
        status, replica, payload = client.post("/v1/loss", body)
    except (OSError, http.client.HTTPException) as e:
        problems.append(f"transport error: {e!r}")
        return False
    counts[replica] = counts.get(replica, 0) + 1
    if status != 200:
        problems.append(f"status {status} from {replica}: {payload[:200]!r}")
        return False
    try:
        got = json.loads(payload)
    except ValueError:
        problems.append(f"invalid JSON from {replica}: {payload[:200]!r}")
        return False
    ok = (got.get("n") == len(body["targets"]) and got.get("classes") == len(body["logits"][0])
          and close(got.get("loss"), loss)
          and isinstance(got.get("per_sample"), list)
          and len(got["per_sample"]) == len(per_sample)
          and all(close(g, w) for g, w in zip(got["per_sample"], per_sample)))
    if not ok:
        problems.append(f"wrong answer from {replica}: sent {json.dumps(body)}, "
                        f"want loss {loss!r} per_sample {per_sample!r}, got {payload[:300]!r}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--expect-replicas", type=int, required=True)
    ap.add_argument("--stop", metavar="CONTAINER")
    ap.add_argument("--stop-name", metavar="HOSTNAME")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--record", nargs=2, metavar=("RESULTS", "STAGE"))
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    client = Client(args.url, args.timeout)
    label = "failover" if args.stop else "balance"
    print(f"{label}: {args.requests} requests to {args.url} (seed {seed})")

    during_ok = during_total = rc = 0
    if args.stop:
        # Traffic while the replica drains and stops: every answer must still
        # be right (bounded: at most 2000 requests or 60 s).
        warm = {}
        warm_problems = []
        for _ in range(20):
            during_ok += one_request(client, rng, warm, warm_problems)
            during_total += 1
        proc = subprocess.Popen(["docker", "stop", args.stop], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and during_total < 2000 and time.monotonic() < deadline:
            during_ok += one_request(client, rng, warm, warm_problems)
            during_total += 1
        rc = proc.wait(timeout=60)
        print(f"{label}: docker stop {args.stop[:12]} exit {rc}; {during_ok}/{during_total} "
              f"requests exact while it stopped")
        for p in warm_problems[:5]:
            print(f"  {p}")

    counts = {}
    problems = []
    exact = 0
    for _ in range(args.requests):
        exact += one_request(client, rng, counts, problems)
    failed = args.requests - exact

    print(f"{label}: {exact} of {args.requests} answers exact to 1e-12, {failed} failed")
    print(f"{label}: requests per replica (X-Xent-Replica):")
    for name, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        print(f"  {name}: {n}")
    for p in problems[:10]:
        print(f"  {p}")

    checks_failed = 0
    named = [k for k in counts if k]
    if None in counts:
        print(f"{label}: {counts[None]} answers carried no X-Xent-Replica header")
        checks_failed += 1
    if len(named) != args.expect_replicas or any(counts[k] == 0 for k in named):
        print(f"{label}: expected {args.expect_replicas} replicas to answer, saw {len(named)}")
        checks_failed += 1
    if args.stop_name and args.stop_name in counts:
        print(f"{label}: stopped replica {args.stop_name} still answered {counts[args.stop_name]}")
        checks_failed += 1
    if args.stop and rc != 0:
        checks_failed += 1

    passed = exact + during_ok + (1 if checks_failed == 0 else 0)
    failed += during_total - during_ok
    total_failed = failed + checks_failed
    if args.record:
        subprocess.run(["tests/record", args.record[0], args.record[1],
                        str(passed), str(total_failed)], check=True)
    return 0 if total_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
