#!/usr/bin/python3
"""Whole-dataset metrics over HTTP: /v1/metrics, /v1/metrics/merge (make check).

1. Random cases (tests/reference's generator: C from 2 to 1000, N up to
   2000, ignored rows, masked classes, every option) posted to
   /v1/metrics: every figure equals libxent's own (ctypes, the scalar exp
   kernel xentd uses) bit for bit, the state's data is libxent's
   serialization byte for byte, and the figures a person can name are
   checked against scikit-learn directly: accuracy_score, log_loss,
   confusion_matrix, precision_recall_fscore_support (per class, macro,
   weighted).
2. Merge exactness: datasets split 20 ways into random batches; the batches'
   states are merged over HTTP in random orders and groupings (merges of
   merges); the last answer is byte for byte the answer to one request with
   every row.
3. Refusals: states of different classes, bins, top_k, confusion, per_class
   or ignore_index (400 naming states[i].<field>), merge options that differ
   from the states', another state version, an older data format, broken
   base64, broken data; bad options (top_k, bins, types); the confusion
   matrix over --max-confusion-classes (413).
4. Hand cases: ties in top-k, a confidence exactly on a bin edge, one class,
   a batch of ignored rows only (200, counted 0, every metric null, a state
   that merges).
5. The Open Inference Protocol model classification_metrics, JSON and
   binary tensors: the same figures and the same state as /v1/metrics,
   states merged as BYTES (JSON strings and length-prefixed binary) equal
   to /v1/metrics/merge; NaN (null) figures for no counted row; outputs
   that need per_class or confusion refused without them.
6. /v1/metrics/report, of a batch and of merged states: image/svg+xml,
   well-formed SVG whose title gives the answer's ECE, rendered by
   rsvg-convert into a PNG that is not blank; a body with both logits and
   states, or neither, is refused.

Prints "metrics-http: N passed, M failed".
"""

import argparse
import base64
import http.client
import shutil
import struct
import subprocess
import tempfile
import json
import math
import os
import random
import sys
import warnings
import zlib
from fractions import Fraction

import numpy as np
from sklearn import metrics as skm

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import xent_ctypes as xc  # noqa: E402
import metrics_ctypes as mc  # noqa: E402
import test_metrics_reference as ref  # noqa: E402
from xentd_harness import daemon, host_port  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "codec"))
import check_report as picture  # noqa: E402

PASSED = 0
FAILED = 0


def check(ok, what):
    global PASSED, FAILED
    if ok:
        PASSED += 1
    else:
        FAILED += 1
        print("FAIL:", what)
    return ok


class Client:
    def __init__(self, url):
        self.host, self.port = host_port(url)
        self.conn = None

    def post(self, path, body, want_type=False):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=120)
            try:
                self.conn.request("POST", path, body=data,
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                if want_type:
                    return r.status, r.getheader("Content-Type"), r.read()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise


def logits_json(x):
    """Rows of numbers, null for -inf; NaN (ignored rows only) as 0."""
    out = []
    for row in np.asarray(x, dtype=np.float64).tolist():
        out.append([None if v == -math.inf else (0.0 if v != v else v)
                    for v in row])
    return out


def body_of(cs, lo=0, hi=None):
    hi = cs["N"] if hi is None else hi
    b = {"logits": logits_json(cs["x"][lo:hi]),
         "targets": cs["t"][lo:hi].tolist(),
         "bins": cs["bins"], "confusion": cs["confusion"],
         "per_class": cs["per_class"], "ignore_index": cs["ignore_index"]}
    if cs["top_k"] is not None:
        b["top_k"] = cs["top_k"]
    return b


def exact(a, b):
    """Equal numbers, bit for bit (null for undefined on one side)."""
    if a is None or b is None:
        return a is None and b is None
    return float(a) == float(b) and math.copysign(1, a) == math.copysign(1, b)


def same_as_library(cs, ans, name):
    """Every figure of an answer against libxent's for the same rows."""
    x = np.where(np.isnan(cs["x"]), 0.0, cs["x"]).astype(np.float64)
    cfg = mc.config(cs["C"], bins=cs["bins"], top_k=cs["top_k"],
                    confusion=cs["confusion"], per_class=cs["per_class"],
                    ignore_index=cs["ignore_index"])
    s = mc.State(cfg)
    s.update(x, cs["t"], xc.KERNEL_SCALAR)
    r = s.compute()
    m = ans["metrics"]
    ok = ans["n"] == cs["N"] and ans["classes"] == cs["C"]
    ok &= ans["counted"] == r["counted"]
    data = base64.b64decode(ans["state"]["data"])
    ok &= check(data == s.serialize(), f"{name}: state data is libxent's bytes")
    if not r["defined"]:
        ok &= all(m[k] is None for k in m)
        return check(ok, f"{name}: no counted row, every metric null")
    for k in ("accuracy", "nll", "brier", "ece", "ece_l2", "mce",
              "mean_confidence", "mean_entropy"):
        ok &= check(exact(m[k], r[k]), f"{name}: {k} {m[k]!r} vs {r[k]!r}")
    tk = {str(k): v for k, v in zip(r["top_k"], r["top_k_accuracy"])}
    ok &= check(m["top_k_accuracy"].keys() == tk.keys() and all(
        exact(m["top_k_accuracy"][k], tk[k]) for k in tk),
        f"{name}: top_k_accuracy {m['top_k_accuracy']} vs {tk}")
    bins = r["bins"]
    rel = m["reliability"]
    good = len(rel) == cs["bins"]
    for b in range(min(len(rel), cs["bins"])):
        e = bins["empty"][b]
        good &= rel[b]["count"] == int(bins["count"][b])
        good &= exact(rel[b]["mean_confidence"],
                      None if e else bins["mean_confidence"][b])
        good &= exact(rel[b]["accuracy"], None if e else bins["accuracy"][b])
    ok &= check(good, f"{name}: reliability bins")
    if cs["per_class"]:
        pc, cl = m["per_class"], r["classes"]
        good = all(all(exact(a, b) for a, b in zip(pc[f], cl[f]))
                   for f in ("precision", "recall", "f1"))
        good &= pc["support"] == cl["support"].tolist()
        for avg in ("macro", "weighted"):
            good &= all(exact(pc[avg][f], v) for f, v in
                        zip(("precision", "recall", "f1"), r[avg]))
        good &= pc["macro"]["classes"] == r["macro_classes"]
        ok &= check(good, f"{name}: per_class")
    else:
        ok &= check("per_class" not in m, f"{name}: no per_class unasked")
    if cs["confusion"]:
        ok &= check(np.array_equal(np.array(m["confusion"]), r["confusion"]),
                    f"{name}: confusion matrix")
    return ok


def against_sklearn(cs, ans, name):
    """The figures scikit-learn computes, from the HTTP answer directly."""
    keep = cs["t"] != cs["ignore_index"]
    if not keep.any():
        return
    x = cs["x"][keep].astype(np.float64)
    y = cs["t"][keep]
    p = ref.row_parts(x, y)[0]
    pred = p.argmax(axis=1)
    m = ans["metrics"]
    close = lambda g, w, atol=ref.ATOL: abs(g - w) <= ref.RTOL * abs(w) + atol
    check(close(m["accuracy"], skm.accuracy_score(y, pred)),
          f"{name}: accuracy vs accuracy_score")
    if float(p[np.arange(len(y)), y].min()) > 1e-280:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = skm.log_loss(y, p, labels=np.arange(cs["C"]), eps=1e-300)
        check(close(m["nll"], want, 4 * np.finfo(np.float64).eps),
              f"{name}: nll {m['nll']!r} vs log_loss {want!r}")
    labels = np.arange(cs["C"])
    if cs["confusion"]:
        check(np.array_equal(np.array(m["confusion"]),
                             skm.confusion_matrix(y, pred, labels=labels)),
              f"{name}: confusion vs confusion_matrix")
    if cs["per_class"]:
        P, R, F, S = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=None, zero_division=0)
        pc = m["per_class"]
        good = pc["support"] == S.tolist()
        for got, want in ((pc["precision"], P), (pc["recall"], R),
                          (pc["f1"], F)):
            good &= all(close(g, w) for g, w in zip(got, want))
        for avg in ("macro", "weighted"):
            want = skm.precision_recall_fscore_support(
                y, pred, average=avg, zero_division=0)[:3]
            good &= all(close(pc[avg][f], w) for f, w in
                        zip(("precision", "recall", "f1"), want))
        check(good, f"{name}: per_class vs precision_recall_fscore_support")


def random_cases(cl, cases, seed):
    for i in range(cases):
        cs = ref.gen_case(seed, i)
        st, body = cl.post("/v1/metrics", body_of(cs))
        name = f"case {i} (N {cs['N']}, C {cs['C']})"
        if not check(st == 200, f"{name}: status {st}: {body[:300]!r}"):
            continue
        ans = json.loads(body)
        same_as_library(cs, ans, name)
        against_sklearn(cs, ans, name)


def merge_exactness(cl, seed, datasets, splits):
    rng = random.Random(seed)
    for d in range(datasets):
        cs = ref.gen_case(seed + 1, 1000 + d)
        while cs["N"] < 40:
            d += 100
            cs = ref.gen_case(seed + 1, 1000 + d)
        st, whole = cl.post("/v1/metrics", body_of(cs))
        if not check(st == 200, f"dataset {d}: {st} {whole[:200]!r}"):
            continue
        opts = {k: v for k, v in body_of(cs, 0, 1).items()
                if k not in ("logits", "targets")}
        for s in range(splits):
            k = rng.randint(2, min(12, cs["N"]))
            cuts = sorted(rng.sample(range(1, cs["N"]), k - 1))
            states = []
            for lo, hi in zip([0] + cuts, cuts + [cs["N"]]):
                st, b = cl.post("/v1/metrics", body_of(cs, lo, hi))
                states.append(json.loads(b)["state"])
            rng.shuffle(states)
            # merge random groups until one state is left
            last = None
            while len(states) > 1 or last is None:
                g = rng.randint(1, len(states))
                group = [states.pop(rng.randrange(len(states)))
                         for _ in range(g)]
                body = {"states": group}
                if rng.random() < 0.5:
                    body.update(opts)  # the same options are allowed
                st, last = cl.post("/v1/metrics/merge", body)
                if st != 200:
                    break
                states.append(json.loads(last)["state"])
            check(st == 200 and last == whole,
                  f"dataset {d} split {s} ({k} batches): merged answer "
                  f"differs from one request's ({st})")


def error(cl, path, body, status, field, words=""):
    st, b = cl.post(path, body)
    try:
        e = json.loads(b)["error"]
    except (ValueError, KeyError):
        e = {}
    return check(st == status and e.get("field") == field
                 and words in e.get("message", ""),
                 f"{path} {json.dumps(body)[:120]}: want {status} {field!r} "
                 f"{words!r}, got {st} {b[:300]!r}")


def refusals(cl):
    x = [[2.0, 1.0, 0.5], [0.1, 0.2, 3.0], [1.0, 1.0, 1.0], [0.0, -1.0, 5.0]]
    t = [0, 2, 1, 0]
    base = {"logits": x, "targets": t}

    def state(**opts):
        st, b = cl.post("/v1/metrics", {**base, **opts})
        assert st == 200, b
        return json.loads(b)["state"]

    a = state()
    for opt, field in ((dict(bins=10), "bins"), (dict(top_k=[1, 2]), "top_k"),
                       (dict(confusion=True), "confusion"),
                       (dict(per_class=True), "per_class"),
                       (dict(ignore_index=-1), "ignore_index")):
        error(cl, "/v1/metrics/merge", {"states": [a, state(**opt)]}, 400,
              f"states[1].{field}", "do not merge")
    # a state's own faults come before whether it merges with the others
    b10 = state(bins=10)
    error(cl, "/v1/metrics/merge", {"states": [a, {**b10, "counted": 99}]},
          400, "states[1].counted", "data says 4")
    error(cl, "/v1/metrics/merge", {"states": [a, {**b10, "n": 1}]}, 400,
          "states[1].n", "fewer than the 4 rows counted")
    b4 = json.loads(cl.post("/v1/metrics", {"logits": [r + [0.0] for r in x],
                                            "targets": t})[1])["state"]
    error(cl, "/v1/metrics/merge", {"states": [a, a, b4]}, 400,
          "states[2].classes", "do not merge")
    # the options of a merge are the states'
    error(cl, "/v1/metrics/merge", {"states": [a], "bins": 20}, 400, "bins",
          "made with 15")
    error(cl, "/v1/metrics/merge", {"states": [a], "top_k": [1]}, 400, "top_k")
    error(cl, "/v1/metrics/merge", {"states": [a], "confusion": True}, 400,
          "confusion", "is true but the states were made with false")
    # other versions, formats and broken states
    error(cl, "/v1/metrics/merge", {"states": [a, {**a, "version": 2}]}, 400,
          "states[1].version", "reads metrics states of version 1")
    raw = bytearray(base64.b64decode(a["data"]))
    old = bytes(raw[:8]) + (0).to_bytes(4, "little") + bytes(raw[12:])
    error(cl, "/v1/metrics/merge",
          {"states": [{**a, "data": base64.b64encode(old).decode()}]}, 400,
          "states[0].data", "format version")
    error(cl, "/v1/metrics/merge",
          {"states": [a, {**a, "data": base64.b64encode(old).decode()}]},
          400, "states[1].data", "format version")
    # the last four bytes are the CRC-32 (zlib's) of the others: a changed
    # byte is refused as such, wherever it is
    raw = bytearray(base64.b64decode(a["data"]))
    check(raw[8] == 2 and struct.unpack("<I", raw[-4:])[0]
          == zlib.crc32(bytes(raw[:-4])), "state data: version 2, CRC-32 last")
    flipped = bytearray(raw)
    flipped[48 + 8 * 2] += 1  # the rows counted, after top_k [1, 3]
    error(cl, "/v1/metrics/merge",
          {"states": [{**a, "counted": a["counted"] + 1,
                       "data": base64.b64encode(bytes(flipped)).decode()}]},
          400, "states[0].data",
          f"checksum does not match its bytes: they were changed after they "
          f"were written (byte {len(raw) - 4})")
    # version 1, the same without the checksum, is still read
    v1 = (bytes(raw[:8]) + struct.pack("<I", 1) + bytes(raw[12:16])
          + struct.pack("<Q", len(raw) - 4) + bytes(raw[24:-4]))
    st1, b1 = cl.post("/v1/metrics/merge", {"states": [
        a, {**a, "data": base64.b64encode(v1).decode()}]})
    st2, b2 = cl.post("/v1/metrics/merge", {"states": [a, a]})
    check(st1 == 200 and st2 == 200 and json.loads(b1) == json.loads(b2),
          f"a version 1 state merges as its version 2 bytes: {st1} {st2}")
    raw[-1] ^= 0x55
    error(cl, "/v1/metrics/merge",
          {"states": [{**a, "data": base64.b64encode(bytes(raw)).decode()}]},
          400, "states[0].data", "checksum does not match")
    # a later state's bytes are checked as the first's
    error(cl, "/v1/metrics/merge",
          {"states": [a, {**a, "data": base64.b64encode(bytes(raw)).decode()}]},
          400, "states[1].data", "not a metrics state")
    error(cl, "/v1/metrics/merge", {"states": [{**a, "data": "AB*="}]}, 400,
          "states[0].data", "not base64")
    error(cl, "/v1/metrics/merge", {"states": [{**a, "counted": 99}]}, 400,
          "states[0].counted", "data says 4")
    error(cl, "/v1/metrics/merge", {"states": [{**a, "classes": 4}]}, 400,
          "states[0].classes", "data says 3")
    no_data = dict(a)
    del no_data["data"]
    error(cl, "/v1/metrics/merge", {"states": [a, no_data]}, 400,
          "states[1].data", "required")
    error(cl, "/v1/metrics/merge", {"states": [{**a, "extra": 1}]}, 400,
          "states[0].extra", "not a member")
    error(cl, "/v1/metrics/merge", {"states": []}, 400, "states",
          "at least one")
    # n is an int64 everywhere: a merge past 2^63 - 1 rows is 422, not a
    # negative n
    most = {**a, "n": 2 ** 63 - 1}
    st, b = cl.post("/v1/metrics/merge", {"states": [most]})
    check(st == 200 and json.loads(b)["n"] == 2 ** 63 - 1,
          f"a state of n = 2^63 - 1: {st} {b[:200]!r}")
    error(cl, "/v1/metrics/merge", {"states": [most, a]}, 422, "states[1]",
          "more than 2^63 - 1 rows would be seen")
    forged_states(cl)
    error(cl, "/v1/metrics/merge", {"states": [a, 5]}, 400, "states[1]",
          "metrics state")
    error(cl, "/v1/metrics/merge", {}, 400, "states", "required")
    error(cl, "/v1/metrics/merge", {"states": [a], "logits": x}, 400, "logits",
          "not a known field")
    # options of /v1/metrics
    error(cl, "/v1/metrics", {**base, "top_k": [0]}, 400, "top_k[0]")
    error(cl, "/v1/metrics", {**base, "top_k": [1, 4]}, 400, "top_k[1]",
          "[1, 3]")
    error(cl, "/v1/metrics", {**base, "top_k": [2, 1]}, 400, "top_k[1]",
          "increasing")
    error(cl, "/v1/metrics", {**base, "top_k": list(range(1, 10))}, 400,
          "top_k", "at most 8")
    error(cl, "/v1/metrics", {**base, "bins": 0}, 400, "bins")
    error(cl, "/v1/metrics", {**base, "bins": 10001}, 400, "bins")
    error(cl, "/v1/metrics", {**base, "confusion": 1}, 400, "confusion",
          "true or false")
    error(cl, "/v1/metrics", {**base, "targets": [0, 3, 1, 0]}, 400,
          "targets[1]")
    error(cl, "/v1/metrics", {"logits": x}, 400, "targets", "required")
    error(cl, "/v1/metrics", {**base, "soft_targets": x}, 400, "soft_targets",
          "not a known field")


def forged(C, B, N, conf, brier, entropy):
    """A state in the byte format of lib/src/metrics_io.c made by hand: N
    counted rows of C classes, none right, each of confidence `conf` (in its
    bin of B), nll 1, and the given brier and entropy per row."""
    def count(v):
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(out + bytes([v]))

    def acc(x):  # an exact sum: its non-zero 32-bit digits of x * 2^1074
        u = int(Fraction(x) * 2 ** 1074)
        d = []
        while u:
            d.append(u & 0xFFFFFFFF)
            u >>= 32
        if not d:
            return b"\0\0"
        lo = next(i for i, v in enumerate(d) if v)
        return bytes([lo, len(d) - lo]) + b"".join(
            struct.pack("<I", v) for v in d[lo:])

    each = lambda v: Fraction(v) * N  # noqa: E731
    body = count(N) + count(0) + count(0)  # counted, correct, top-1
    body += acc(each(conf)) + acc(each(1.0)) + acc(each(brier))
    body += acc(each(entropy))
    at = min(B - 1, max(0, math.ceil(conf * B) - 1))
    for b in range(B):
        body += (count(N) + count(0) + acc(each(conf)) if b == at
                 else count(0) + count(0) + acc(0))
    head = struct.pack("<QIIq", C, B, 1, -100) + struct.pack("<Q", 1)
    size = 24 + len(head) + len(body) + 4
    raw = b"XENTMTRC" + struct.pack("<IIQ", 2, 0, size) + head + body
    raw += struct.pack("<I", zlib.crc32(raw))
    return {"version": 1, "n": N, "data": base64.b64encode(raw).decode()}


def forged_states(cl):
    """A row's figures have ranges (confidence in [1/C, 1], brier in [0, 2],
    entropy in [0, log C]): a state beyond them cannot come from rows."""
    C, B, N = 2, 15, 4
    st, b = cl.post("/v1/metrics/merge", {"states": [
        forged(C, B, N, 0.5, 2.0, math.log(C))]})
    m = json.loads(b)["metrics"] if st == 200 else {}
    check(st == 200 and m["brier"] == 2.0 and m["mean_entropy"] == math.log(2)
          and m["mean_confidence"] == 0.5 and m["accuracy"] == 0,
          f"a state at the edges of the ranges: {st} {b[:300]!r}")
    for state in (forged(C, B, N, 0.5, 2.1, math.log(C)),
                  forged(C, B, N, 0.5, 2.0, math.log(C) + 1e-3),
                  forged(C, B, N, 0.1, 0.5, 0.5)):  # confidence below 1/C
        error(cl, "/v1/metrics/merge", {"states": [state]}, 400,
              "states[0].data", "not a metrics state")


def escaped_state(cl):
    """A state's data is a JSON string like any other: its characters may
    come escaped ("\\/" for "/", as PHP writes it; "\\u0041" for "A")."""
    body = {"logits": [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], "targets": [0, 1]}
    plain = None
    for seed in range(50):  # a state whose base64 holds a "/"
        body["logits"][0][2] = 0.1 + seed / 64
        st, b = cl.post("/v1/metrics", body)
        plain = json.loads(b)
        if "/" in plain["state"]["data"]:
            break
    data = plain["state"]["data"]
    check("/" in data, f"no state with a / in 50 tries: {data}")
    text = json.dumps({"states": [plain["state"]]})
    first = "\\u%04x" % ord(data[0])
    escaped = text.replace(data, first + data[1:].replace("/", "\\/"))
    check(escaped != text and json.loads(escaped) == json.loads(text),
          "the escaped body reads as the same JSON")
    st, b = cl.post("/v1/metrics/merge", escaped.encode())
    got = json.loads(b) if st == 200 else {}
    check(st == 200 and got.get("state") == plain["state"]
          and got.get("metrics") == plain["metrics"],
          f"a state with escapes: {st} {b[:300]!r}")
    # a long one (per-class counts of 300,000 classes: 1.2 MB of base64),
    # every "/" as "\/" and every 50th character as "\u00XX" throughout
    C = 300000
    st, b = cl.post("/v1/metrics", {"logits": [[0.0] * C, [1.0] + [0.0] * (C - 1)],
                                    "targets": [5, 0], "per_class": True})
    big = json.loads(b)["state"] if st == 200 else {"data": ""}
    data = big["data"]
    esc = "".join("\\u%04x" % ord(ch) if i % 50 == 0 else
                  "\\/" if ch == "/" else ch for i, ch in enumerate(data))
    text = json.dumps({"states": [big]})
    escaped = text.replace(data, esc)
    check(st == 200 and len(data) > 1 << 20 and "\\/" in escaped
          and json.loads(escaped) == json.loads(text),
          f"a long state, escaped: {st}, {len(data)} characters")
    st, b = cl.post("/v1/metrics/merge", escaped.encode())
    check(st == 200 and json.loads(b)["state"] == big,
          f"a long state with escapes throughout: {st} {b[:300]!r}")


def hand_cases(cl):
    def metrics(body):
        st, b = cl.post("/v1/metrics", body)
        assert st == 200, b
        return json.loads(b)

    # ties: ranks 1, 1, 2 with ties to the lower index (scikit-learn's
    # top_k_accuracy_score would say 1, 1, 1)
    a = metrics({"logits": [[1, 1, 0], [0, 2, 2], [3, 3, 3]],
                 "targets": [1, 2, 2], "top_k": [1, 2, 3]})
    check(a["metrics"]["top_k_accuracy"] == {"1": 0, "2": 2 / 3, "3": 1}
          and a["metrics"]["accuracy"] == 0,
          f"ties in top-k: {a['metrics']['top_k_accuracy']}")
    # a confidence of exactly 0.5 (two equal logits) is in bin (0, 0.5]:
    # bin 0 of 2 and bin 1 of 4, not the bin above
    for bins, at in ((2, 0), (4, 1)):
        a = metrics({"logits": [[0, 0]], "targets": [0], "bins": bins})
        counts = [b["count"] for b in a["metrics"]["reliability"]]
        want = [0] * bins
        want[at] = 1
        check(counts == want and a["metrics"]["mean_confidence"] == 0.5
              and a["metrics"]["ece"] == 0.5,
              f"confidence 0.5 with {bins} bins: counts {counts}")
    # one class: every prediction right and certain
    a = metrics({"logits": [[3.5], [-2.0]], "targets": [0, 0]})
    m = a["metrics"]
    check(m["accuracy"] == 1 and m["top_k_accuracy"] == {"1": 1}
          and m["nll"] == 0 and m["brier"] == 0 and m["ece"] == 0
          and m["mean_confidence"] == 1 and m["mean_entropy"] == 0,
          f"one class: {m}")
    # a batch of ignored rows only: 200, counted 0, every metric null; its
    # state merges and changes nothing
    pad = metrics({"logits": [[1, 2], [3, 4]], "targets": [-100, -100],
                   "per_class": True, "confusion": True})
    check(pad["counted"] == 0 and pad["n"] == 2
          and all(v is None for v in pad["metrics"].values())
          and set(pad["metrics"]) >= {"reliability", "per_class", "confusion"},
          f"all ignored: {pad}")
    real = metrics({"logits": [[1, 2], [4, 3]], "targets": [1, 1],
                    "per_class": True, "confusion": True})
    st, b = cl.post("/v1/metrics/merge", {"states": [pad["state"],
                                                     real["state"]]})
    merged = json.loads(b) if st == 200 else {}
    check(st == 200 and merged.get("metrics") == real["metrics"]
          and merged.get("n") == 4 and merged.get("counted") == 2,
          f"padding merges: {st} {b[:300]!r}")
    # accuracy 1/2, confusion [[0,0],[1,1]] by hand
    check(real["metrics"]["accuracy"] == 0.5
          and real["metrics"]["confusion"] == [[0, 0], [1, 1]],
          f"two rows by hand: {real['metrics']}")


def v2_infer(cl, inputs, outputs=None, params=None, binary=()):
    """POST /v2/models/classification_metrics/infer; inputs: (name,
    datatype, shape, values); `binary` names the inputs sent as binary
    tensors and the outputs asked binary. Returns (status, {name: output}
    with binary outputs decoded into "data", or the error)."""
    head = {"inputs": []}
    tail = b""
    for name, dt, shape, vals in inputs:
        t = {"name": name, "datatype": dt, "shape": shape}
        if name in binary:
            if dt == "BYTES":
                raw = b"".join(struct.pack("<I", len(v)) + v for v in vals)
            else:
                raw = np.asarray(vals, dtype={"FP64": "<f8", "FP32": "<f4",
                                              "INT64": "<i8"}[dt]).tobytes()
            t["parameters"] = {"binary_data_size": len(raw)}
            tail += raw
        else:
            t["data"] = [v.decode() if isinstance(v, bytes) else v
                         for v in np.asarray(vals, dtype=object).ravel()] \
                if dt == "BYTES" else np.asarray(vals).ravel().tolist()
        head["inputs"].append(t)
    if outputs is not None:
        head["outputs"] = [{"name": o, "parameters": {"binary_data": o in binary}}
                           for o in outputs]
    if params:
        head["parameters"] = params
    hj = json.dumps(head).encode()
    body = hj + tail
    host, port = cl.host, cl.port
    conn = http.client.HTTPConnection(host, port, timeout=60)
    hdrs = {"Content-Type": "application/json"}
    if tail:
        hdrs["Inference-Header-Content-Length"] = str(len(hj))
    conn.request("POST", "/v2/models/classification_metrics/infer", body=body,
                 headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    hl = r.getheader("Inference-Header-Content-Length")
    conn.close()
    if r.status != 200:
        return r.status, json.loads(data)
    js = json.loads(data[:int(hl)] if hl else data)
    rest = data[int(hl):] if hl else b""
    out = {}
    for o in js["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            raw, rest = rest[:size], rest[size:]
            if o["datatype"] == "BYTES":
                n = struct.unpack("<I", raw[:4])[0]
                o["data"] = [raw[4:4 + n].decode()]
            else:
                o["data"] = np.frombuffer(raw, dtype={"FP64": "<f8",
                                                      "INT64": "<i8"}[
                    o["datatype"]]).tolist()
        out[o["name"]] = o
    return 200, out


def v2_as_v1(out):
    """The v1 answer's metrics from classification_metrics' outputs."""
    one = lambda k: out[k]["data"][0]
    m = {k: one(k) for k in ("accuracy", "nll", "brier", "ece", "ece_l2",
                             "mce", "mean_confidence", "mean_entropy")}
    m["top_k_accuracy"] = {str(k): v for k, v in zip(
        out["top_k"]["data"], out["top_k_accuracy"]["data"])}
    m["reliability"] = [
        {"count": c, "mean_confidence": f, "accuracy": a} for c, f, a in zip(
            out["reliability_count"]["data"],
            out["reliability_confidence"]["data"],
            out["reliability_accuracy"]["data"])]
    return m


def same_numbers(a, b):
    """Equal JSON-like values, NaN equal to NaN and to null."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k])
                                            for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y)
                                        for x, y in zip(a, b))
    nan = lambda v: v is None or (isinstance(v, float) and v != v)
    if nan(a) or nan(b):
        return nan(a) and nan(b)
    return a == b


def v2_model(cl):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 7)) * 3.0
    y = rng.integers(0, 7, 300)
    y[::17] = -100
    v1 = json.loads(cl.post("/v1/metrics", {
        "logits": x.tolist(), "targets": y.tolist(), "per_class": True,
        "top_k": [1, 3]})[1])
    ins = [("logits", "FP64", [300, 7], x), ("targets", "INT64", [300], y),
           ("top_k", "INT64", [2], [1, 3])]
    # FP32 logits (binary and JSON): the figures of the same values in
    # float64 over /v1
    x32 = x.astype(np.float32)
    v1_32 = json.loads(cl.post("/v1/metrics", {
        "logits": x32.astype(np.float64).tolist(), "targets": y.tolist()})[1])
    for binary in ((), ("logits",)):
        st, out = v2_infer(cl, [("logits", "FP32", [300, 7], x32),
                                ("targets", "INT64", [300], y)], binary=binary)
        check(st == 200 and same_numbers(v2_as_v1(out), {
            k: v for k, v in v1_32["metrics"].items()})
            and json.loads(out["state"]["data"][0]) == v1_32["state"],
            f"v2 FP32 logits {'binary' if binary else 'JSON'}: {st}")
    for binary in ((), ("logits", "targets", "top_k", "accuracy", "state",
                        "reliability_confidence", "precision", "support")):
        how = "binary" if binary else "JSON"
        st, out = v2_infer(cl, ins, params={"per_class": True}, binary=binary)
        if not check(st == 200, f"v2 {how}: {st} {out}"):
            continue
        m = v2_as_v1(out)
        want = {k: v for k, v in v1["metrics"].items() if k != "per_class"}
        check(same_numbers(m, want), f"v2 {how}: figures differ from /v1's")
        pc = v1["metrics"]["per_class"]
        check(all(out[k]["data"] == pc[k] for k in
                  ("precision", "recall", "f1", "support")),
              f"v2 {how}: per-class figures differ")
        check(out["n"]["data"] == [300] and out["counted"]["data"] ==
              [v1["counted"]], f"v2 {how}: n, counted")
        check(json.loads(out["state"]["data"][0]) == v1["state"],
              f"v2 {how}: the state differs from /v1's")
    # states as BYTES: two halves merged, as /v1/metrics/merge
    halves = []
    for lo, hi in ((0, 120), (120, 300)):
        st, out = v2_infer(cl, [("logits", "FP64", [hi - lo, 7], x[lo:hi]),
                                ("targets", "INT64", [hi - lo], y[lo:hi]),
                                ("top_k", "INT64", [2], [1, 3])],
                           params={"per_class": True})
        halves.append(out["state"]["data"][0].encode())
    for binary in ((), ("states", "state")):
        how = "binary" if binary else "JSON"
        st, out = v2_infer(cl, [("states", "BYTES", [2], halves)],
                           binary=binary)
        if check(st == 200, f"v2 merge {how}: {st} {out}"):
            check(same_numbers(v2_as_v1(out), {
                k: v for k, v in v1["metrics"].items() if k != "per_class"})
                and json.loads(out["state"]["data"][0]) == v1["state"],
                f"v2 merge {how}: differs from the whole batch")
    # no counted row: NaN figures (null in JSON), counts 0
    st, out = v2_infer(cl, [("logits", "FP64", [1, 2], [[0.0, 1.0]]),
                            ("targets", "INT64", [1], [-100])],
                       outputs=["counted", "accuracy", "top_k_accuracy"])
    check(st == 200 and out["counted"]["data"] == [0]
          and out["accuracy"]["data"] == [None]
          and out["top_k_accuracy"]["data"] == [None, None],
          f"v2, no counted row: {out}")
    # refusals
    st, out = v2_infer(cl, ins[:2], outputs=["precision"])
    check(st == 400 and "per_class" in out.get("error", ""),
          f"v2 precision without per_class: {st} {out}")
    st, out = v2_infer(cl, ins[:1])
    check(st == 400 and "targets" in out.get("error", ""),
          f"v2 without targets: {st} {out}")
    st, out = v2_infer(cl, ins[:2] + [("states", "BYTES", [1], halves[:1])])
    check(st == 400 and "cannot be given with states" in out.get("error", ""),
          f"v2 logits with states: {st} {out}")
    st, out = v2_infer(cl, [("states", "BYTES", [2], [halves[0], b"{}"])])
    check(st == 400 and out.get("error", "").startswith("states[1]"),
          f"v2 broken state: {st} {out}")


def reports(cl):
    rsvg = shutil.which("rsvg-convert")
    if not check(rsvg is not None, "rsvg-convert (librsvg2-bin) is installed"):
        return
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400, 6)) * 2.5
    y = rng.integers(0, 6, 400)
    batch = {"logits": x.tolist(), "targets": y.tolist(), "confusion": True}
    st, ans = cl.post("/v1/metrics", batch)
    ans = json.loads(ans)
    halves = []
    for lo, hi in ((0, 150), (150, 400)):
        b = dict(batch, logits=x[lo:hi].tolist(), targets=y[lo:hi].tolist())
        halves.append(json.loads(cl.post("/v1/metrics", b)[1])["state"])
    with tempfile.TemporaryDirectory(prefix="xent-report-") as tmp:
        for name, body in (("batch", batch), ("merged", {"states": halves})):
            st, ctype, svg = cl.post("/v1/metrics/report", body, want_type=True)
            if not check(st == 200 and ctype == "image/svg+xml",
                         f"report of a {name}: {st} {ctype} {svg[:200]!r}"):
                continue
            root = picture.svg_checks(f"report of a {name}", svg.decode())
            if root is None:
                continue
            title = root.find(f"{{{picture.SVG_NS}}}title").text
            ece = "%.4g" % ans["metrics"]["ece"]
            check(ece in title and "N = 400" in title,
                  f"report of a {name}: title {title!r} lacks ECE {ece}")
            path = os.path.join(tmp, name + ".svg")
            with open(path, "wb") as f:
                f.write(svg)
            img = picture.render(rsvg, name, path, path + ".png")
            if img is not None:
                colours, share, ok = picture.not_blank(img, None, 8, 0.03)
                check(ok, f"report of a {name}: {colours} colours, "
                          f"{share:.3f} not background")
    error(cl, "/v1/metrics/report", {**batch, "states": halves}, 400,
          "states", "cannot be given with logits")
    error(cl, "/v1/metrics/report", {"bins": 4}, 400, "logits",
          "or states")
    error(cl, "/v1/metrics/report", {"states": halves, "targets": [1]}, 400,
          "targets", "cannot be given with states")


def confusion_limit(xentd):
    with daemon(xentd, ["--max-confusion-classes", "5"]) as url:
        cl = Client(url)
        row = [0.5, 0.1, 0.2, 0.3, 0.4, 0.0]
        error(cl, "/v1/metrics", {"logits": [row], "targets": [1],
                                  "confusion": True}, 413, "confusion",
              "--max-confusion-classes 5")
        st, _ = cl.post("/v1/metrics", {"logits": [row[:5]], "targets": [1],
                                        "confusion": True})
        check(st == 200, f"5 classes with --max-confusion-classes 5: {st}")


def malformed_before_budget(xentd):
    """A few bytes that claim 2^24 classes and then stop are malformed
    (400), whatever memory such a state would need (not 413)."""
    with daemon(xentd, ["--max-memory", str(64 << 20)]) as url:
        cl = Client(url)
        for C in (1000, 1 << 24):
            head = struct.pack("<QIIq", C, 15, 1, -100) + struct.pack("<Q", 1)
            body = bytes(3 + 8 + 60 + 10)  # the per-class counts cut short
            raw = (b"XENTMTRC" + struct.pack("<IIQ", 1, 2, 24 + len(head)
                                             + len(body)) + head + body)
            state = {"version": 1, "n": 0,
                     "data": base64.b64encode(raw).decode()}
            error(cl, "/v1/metrics/merge", {"states": [state]}, 400,
                  "states[0].data", "not a metrics state")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xentd", required=True)
    ap.add_argument("--lib", required=True, help="libxent.so (the reference)")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--splits", type=int, default=20)
    args = ap.parse_args()
    xc.load(args.lib)
    with daemon(args.xentd) as url:
        cl = Client(url)
        random_cases(cl, args.cases, args.seed)
        merge_exactness(cl, args.seed, 3, args.splits)
        refusals(cl)
        escaped_state(cl)
        hand_cases(cl)
        v2_model(cl)
        reports(cl)
    if not os.environ.get("XENT_URL"):
        confusion_limit(args.xentd)
        malformed_before_budget(args.xentd)
    # the picture's own checks (check_report's counters)
    passed, failed = PASSED + picture.passed, FAILED + picture.failed
    print(f"metrics-http: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
