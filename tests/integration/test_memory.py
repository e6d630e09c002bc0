#!/usr/bin/python3
"""Memory of xentd under the bodies that used to swell it (make check).

Each case runs against a daemon of its own, whose peak resident memory
(VmHWM in /proc/PID/status, which includes the idle daemon) is held to
the request path's budget:
  - one accepted request: at most 2 x (body + response) + 16 MiB;
  - one refused request: at most 2 x body + 16 MiB;
  - many at once: at most --max-memory + 64 MiB.
The first two hold for bodies of at least 4 bytes a number: a parsed
number takes 8 bytes, and "0," only 2 of the body. A body of "0," is held
to 4 x body + 2 x response + 16 MiB (case 5).
The bodies:
  1. 62.9 MiB of "0," elements, 33M of them, under the 64 MiB body limit
     but over --max-elements: refused with 413 while it is read;
  2. a valid 7.6 MiB body whose key holds an escape ("logit\\u0073"),
     which used to take the jansson path;
  3. 16M elements asking for every output (grad, targets, probs, stats),
     whose answer used to be held whole in a 2 GiB buffer;
  4. eight 20 MB requests at once against --max-memory 128 MiB: each is
     answered 200 or 429, and the peak stays within the budget;
  5. 16M elements of "0," (32 MiB, 2 bytes a number) asking only for the
     loss, and the same body refused for a target out of range.
And one case of scheduling, not memory: after a 1.6 MiB body on a kept-alive
connection, that connection's thread runs at nice +10 (bulk connections
yield the CPU to small requests), and the thread of a connection that sent
only a small body stays at the daemon's nice value.
Prints "memory: N passed, M failed".
"""

import argparse
import http.client
import json
import math
import os
import random
import sys
import threading

import suite
from xentd_harness import daemon_process, host_port

MIB = 1 << 20


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def post(url, body, read_limit=None):
    """(status, response length, first bytes, last bytes); the response is
    read in blocks and not kept."""
    host, port = host_port(url)
    conn = http.client.HTTPConnection(host, port, timeout=300)
    conn.request("POST", "/v1/loss", body=body,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    head, tail, total = b"", b"", 0
    while True:
        block = resp.read(1 << 20)
        if not block:
            break
        if total < 4096:
            head += block[:4096]
        tail = (tail + block)[-4096:]
        total += len(block)
    conn.close()
    return resp.status, total, head, tail


def case_many_elements(xentd, res):
    n = 33_000_000
    body = b'{"logits": [[' + b"0," * (n - 1) + b'0]], "targets": [0]}'
    with daemon_process(xentd, ["--access-log", "off"]) as (url, proc):
        status, rlen, head, _ = post(url, body)
        peak = vm_hwm(proc.pid)
    bound = 2 * len(body) + 16 * MIB
    res.check(status == 413 and b'"payload_too_large"' in head
              and b'"field":"logits"' in head,
              f"{len(body) / MIB:.1f} MiB of {n} elements: {status} {head[:120]!r}")
    res.check(peak <= bound,
              f"refused body: peak RSS {peak / MIB:.1f} MiB <= "
              f"2 x body + 16 MiB = {bound / MIB:.1f} MiB")


def case_escaped_key(xentd, res):
    rng = random.Random(7)
    n, c = 400, 1000
    rows = ",".join("[" + ",".join(repr(rng.gauss(0, 3)) for _ in range(c)) + "]"
                    for _ in range(n))
    targets = ",".join(str(rng.randrange(c)) for _ in range(n))
    body = ('{"logit\\u0073": [' + rows + '], "targets": [' + targets + "]}").encode()
    with daemon_process(xentd, ["--access-log", "off"]) as (url, proc):
        status, rlen, head, tail = post(url, body)
        peak = vm_hwm(proc.pid)
    bound = 2 * (len(body) + rlen) + 16 * MIB
    res.check(status == 200 and head.startswith(b'{"n":400,"classes":1000,')
              and tail.endswith(b"]]}"),
              f"{len(body) / MIB:.1f} MiB body with an escaped key: {status}, "
              f"{rlen / MIB:.1f} MiB answer")
    res.check(peak <= bound,
              f"escaped key: peak RSS {peak / MIB:.1f} MiB <= "
              f"2 x (body + response) + 16 MiB = {bound / MIB:.1f} MiB")


def thread_nices(pid):
    """The nice value of each of the process's threads (field 19 of
    /proc/PID/task/TID/stat)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            st = f.read()
        out.append(int(st[st.rindex(")") + 2:].split()[16]))
    return sorted(out)


def case_bulk_priority(xentd, res):
    rng = random.Random(11)
    n, c = 100, 1000
    big = json.dumps({"logits": [[round(rng.gauss(0, 2), 12) for _ in range(c)]
                                 for _ in range(n)],
                      "targets": [rng.randrange(c) for _ in range(n)]}).encode()
    small = b'{"logits": [[1, 2, 3]], "targets": [2]}'
    with daemon_process(xentd, ["--access-log", "off"]) as (url, proc):
        base = os.getpriority(os.PRIO_PROCESS, proc.pid)
        host, port = host_port(url)
        conns = [http.client.HTTPConnection(host, port, timeout=60)
                 for _ in range(2)]
        statuses = []
        for conn, body in zip(conns, (small, big)):
            conn.request("POST", "/v1/loss", body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
        # Both connections are open: their threads are alive.
        nices = thread_nices(proc.pid)
        for conn in conns:
            conn.close()
    want_bulk = min(base + 10, 19)
    res.check(statuses == [200, 200] and nices.count(want_bulk) == 1
              and nices.count(base) == len(nices) - 1,
              f"a {len(big) / MIB:.1f} MiB body: {statuses}, thread nice "
              f"values {nices} (one at {want_bulk}, the rest at {base})")


def case_every_output(xentd, res):
    n, c = 16, 1 << 20
    row = "[" + ",".join(["0"] * c) + "]"
    body = ('{"logits": [' + ",".join([row] * n) + '], "targets": ['
            + ",".join(str(i) for i in range(n)) + '], "outputs": '
            '["loss", "per_sample", "grad", "targets", "probs", "stats"]}'
            ).encode()
    with daemon_process(xentd, ["--access-log", "off"]) as (url, proc):
        status, rlen, head, tail = post(url, body)
        peak = vm_hwm(proc.pid)
    bound = 2 * (len(body) + rlen) + 16 * MIB
    # Every logit 0: p = 1/C = 2^-20, each row's loss is ln(2^20) = 20 ln 2
    # (13.862943611198906 exactly printed); the mean of 16 of them is that
    # up to the rounding of the sum.
    loss = float(head.split(b'"loss":')[1].split(b",")[0]) if b'"loss":' in head else 0
    res.check(status == 200
              and head.startswith(b'{"n":16,"classes":1048576,"loss":')
              and b'"per_sample":[13.862943611198906,' in head
              and abs(loss - 20 * math.log(2)) <= 1e-14 * loss
              and tail.endswith(b'"predicted":[' + b",".join([b"0"] * 16)
                                + b'],"counted":16}}'),
              f"16M elements with every output: {status}, "
              f"{rlen / MIB:.1f} MiB answer")
    res.check(peak <= bound,
              f"every output: peak RSS {peak / MIB:.1f} MiB <= "
              f"2 x (body + response) + 16 MiB = {bound / MIB:.1f} MiB")


def case_dense_numbers(xentd, res):
    n, c = 16, 1 << 20
    row = b"[" + b",".join([b"0"] * c) + b"]"
    logits = b",".join([row] * n)
    for targets, want in ((b"0", 200), (b"99999999", 400)):
        body = (b'{"logits": [' + logits + b'], "targets": ['
                + b",".join([targets] * n) + b'], "outputs": ["loss"]}')
        with daemon_process(xentd, ["--access-log", "off"]) as (url, proc):
            status, rlen, head, _ = post(url, body)
            peak = vm_hwm(proc.pid)
        if want == 200:
            # Every logit 0: each row's loss is ln(2^20) = 20 ln 2.
            ok = (head.startswith(b'{"n":16,"classes":1048576,"loss":')
                  and abs(float(head.split(b'"loss":')[1].rstrip(b"}"))
                          - 20 * math.log(2)) <= 1e-14 * 20 * math.log(2))
        else:
            ok = b'"field":"targets[0]"' in head
        res.check(status == want and ok,
                  f"{len(body) / MIB:.1f} MiB of {n * c} elements of \"0,\", "
                  f"target {targets.decode()}: {status} {head[:100]!r}")
        bound = 4 * len(body) + 2 * rlen + 16 * MIB
        res.check(peak <= bound,
                  f"2 bytes a number: peak RSS {peak / MIB:.1f} MiB <= "
                  f"4 x body + 2 x response + 16 MiB = {bound / MIB:.1f} MiB "
                  f"(2 x (body + response) + 16 MiB would be "
                  f"{(2 * (len(body) + rlen) + 16 * MIB) / MIB:.1f})")


def case_many_at_once(xentd, res):
    budget = 128 * MIB
    n, c = 1000, 5000
    rng = random.Random(11)
    row = "[" + ",".join("0.5" for _ in range(c)) + "]"
    body = ('{"logits": [' + ",".join([row] * n) + '], "targets": ['
            + ",".join(str(rng.randrange(c)) for _ in range(n)) + "]}").encode()
    statuses = []
    lock = threading.Lock()
    with daemon_process(xentd, ["--access-log", "off", "--max-memory",
                                str(budget), "--threads", "4"]) as (url, proc):
        def one():
            status, _, head, _ = post(url, body)
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = vm_hwm(proc.pid)
    res.check(all(s in (200, 429) for s in statuses) and 200 in statuses,
              f"eight {len(body) / MIB:.0f} MB requests against a "
              f"{budget // MIB} MiB budget: {sorted(statuses)}")
    res.check(peak <= budget + 64 * MIB,
              f"many at once: peak RSS {peak / MIB:.1f} MiB <= budget + 64 MiB "
              f"= {(budget + 64 * MIB) / MIB:.0f} MiB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", required=True)
    args = ap.parse_args()
    res = suite.Results()
    for case in (case_many_elements, case_escaped_key, case_every_output,
                 case_many_at_once, case_dense_numbers, case_bulk_priority):
        try:
            case(args.xentd, res)
        except Exception as e:  # a crash of the case is a failure, said
            res.check(False, f"{case.__name__}: {e!r}")
    print(f"memory: {res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
