#!/usr/bin/python3
"""Regression tests of eight Open Inference Protocol bugs of xentd found
while the /v2 tests were written (all fixed): each test states what the
protocol (or PyTorch) says and failed while the bug was there. Stage
check-v2-regressions of `make check`.

1. all_outputs_in_one_request: cross_entropy has ten outputs (its metadata
   lists them), but a request that names them all is refused with 400
   "more than 8 outputs" (v2.c reads at most MAX_TENSORS = 8 outputs;
   codec.h allows XS_V2_MAX_OUTPUTS = 16). The protocol puts no bound on
   the outputs a request may name; tritonclient users who want every
   statistic name each output.
2. compressed_binary_body_shorter_than_its_header: tritonclient's
   infer(..., request_compression_algorithm="gzip" or "deflate") with
   binary inputs sends Inference-Header-Content-Length = the length of the
   uncompressed JSON header and Content-Length = the compressed body's.
   http.c judge_headers refuses the request when the header length is
   over Content-Length ("Inference-Header-Content-Length '300' is not a
   length within the body's 167 bytes"), which is true of every
   compressible request (a small batch, or logits with repeated values).
   The header length counts inflated bytes; only the inflated body can be
   checked against it (v2.c's finish does).
3. row_error_names_the_rows_flat_index: an error about a whole row of the
   [N, C] logits (every class masked) names "logits[<row>]", which in the
   v2 messages' flat indexing is element (0, row), not row <row>
   (errors.c v2_path takes idx[0] as the flat index when only the row is
   known). /v1 prints the same path, where it is right: a JSON path.
4. label_column_gradient_when_on_target_is_below_off_target: with the
   "others" convention and eps = 1 the label's target weight is 0 and the
   other classes' 1/(K-1), so the label column's gradient is p_t S - 0 =
   p_t. xentd answers p_t with an absolute error of about an ulp of 1/3
   (logits [-30, 0, -40, -50], label 0, reduction sum: grad[0] =
   9.35918009759007e-14 where PyTorch's autograd of the definition, and
   e^-30 / (1 + e^-30 + e^-40 + e^-50) by hand, give 9.3576229688393e-14:
   1.7e-4 relative). lib/src/evaluate.c grad_row subtracts w off / D from
   every class, then own = peak lam with peak = 1 - eps - off < 0 from the
   label's: (p_t S - w_t off) - w_t peak cancels artificially whenever
   on < off, where p_t S - w_t q_t does not (hard_loss has a by-class
   fallback for peak < 0; grad_row has none).
5. targets_not_negative_when_on_target_is_below_off_target: the same
   closed form in the targets output (xent__q: off + own + other): with
   mixup, a label that is also its partner's gets q = off + peak lam +
   peak (1 - lam) = -1.7e-18 instead of 0 (off = 1/18, lam = 0.857), a
   negative probability. Both are the library's: /v1 answers the same.
6. duplicate_member_names_are_refused: the header reader refuses a
   repeated "inputs", "outputs" or parameter (as /v1 refuses every
   duplicate key), but takes a repeated member of a tensor or of the
   request object: "shape":[2],"shape":[3] is read as shape [2, 3] and
   "data":[1,2,3],"data":[4,5,6] as six numbers (v2.c appends to the
   shape and to the data sink), "datatype" and "id" last wins. A JSON
   library that keeps the last value (Python's json, jansson, orjson) reads
   another request from the same bytes.
7. trailing_bytes_counted_in_full: "the body has N bytes after the last
   binary tensor" counts the piece of body that carried them (v2.c
   take_binary fails on the first such piece), so a body with 10 extra
   bytes sent in 1-byte chunks is answered "1 bytes".
8. binary_data_size_beyond_the_body_holds_no_memory: a binary input's
   binary_data_size is reserved from --max-memory and allocated whole when
   its first byte arrives (v2.c take_binary), without a look at
   Content-Length or --max-body-bytes: a 190-byte request declaring 199 MiB
   holds 199 MiB of a 200 MiB budget for as long as its client keeps the
   body open, and every other request that needs more than the 1 MiB left
   is answered 429.

Closing line: "oipregressions: N passed, M failed".
"""

import argparse
import gzip
import math
import os
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
import v2common as v  # noqa: E402
import xentd_harness as xh  # noqa: E402

TESTS = suite.Suite("oipregressions")
test = TESTS.test
Fail = suite.Fail
check = suite.check


@test
def all_outputs_in_one_request(url):
    conn = v.Raw(url)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, (4, 5))
    t = rng.integers(0, 5, 4)
    case = v.Case()
    case.add("logits", "FP64", "binary", x).add("targets", "INT64", "flat", t)
    case.spec = {"x": x, "t": t}
    case.outputs = [(n, None) for n in v.ALL_OUTPUTS]
    body, hlen = case.body()
    r = v.post_infer(conn, "cross_entropy", body, hlen)
    why = v.check_case(case, r)
    check(why is None, "%d outputs asked: %s", len(v.ALL_OUTPUTS), why)


@test
def compressed_binary_body_shorter_than_its_header(url):
    conn = v.Raw(url)
    x = np.zeros((4, 8), np.float32)  # equal logits: loss ln 8 by hand
    t = np.array([0, 3, 5, 7], np.int64)
    ins = [v.tensor("logits", "FP32", x, True),
           v.tensor("targets", "INT64", t, True)]
    body, hlen = v.infer_body(ins, [{"name": "loss",
                                     "parameters": {"binary_data": False}}])
    for enc, squeeze in (("gzip", gzip.compress), ("deflate",
                                                   zlib.compress)):
        sent = squeeze(body)
        check(len(sent) < hlen, "the %s body (%d bytes) is not shorter than "
              "its header (%d): the test shows nothing", enc, len(sent),
              hlen)
        r = v.post_infer(conn, "cross_entropy", sent, hlen,
                         [("Content-Encoding", enc)])
        check(r.status == 200, "Content-Encoding %s, header %d bytes, body "
              "%d compressed: %d %s", enc, hlen, len(sent), r.status,
              r.body[:200])
        _, got = v.decode_infer(r)
        check(got["loss"].tolist() == [math.log(8)], "loss %r, expected ln 8",
              got["loss"])


@test
def row_error_names_the_rows_flat_index(url):
    conn = v.Raw(url)
    x = np.array([[1.0, 2.0, 3.0], [-math.inf] * 3, [1.0, 2.0, 3.0]])
    ins = [v.tensor("logits", "FP64", x, True),
           v.tensor("targets", "INT64", [0, 1, 2], True)]
    body, hlen = v.infer_body(ins)
    r = v.post_infer(conn, "cross_entropy", body, hlen)
    check(r.status == 400, "status %d", r.status)
    msg = r.json()["error"]
    check("logits[3]" in msg, "row 1 of a [3, 3] logits starts at flat "
          "index 3; the message says: %s", msg)


@test
def label_column_gradient_when_on_target_is_below_off_target(url):
    conn = v.Raw(url)
    x = np.array([[-30.0, 0.0, -40.0, -50.0], [0.0, -30.0, -40.0, -50.0]])
    t = np.array([0, 1])
    case = v.Case()
    case.add("logits", "FP64", "binary", x).add("targets", "INT64", "flat", t)
    case.parameters = {"label_smoothing": 1.0, "smoothing": "others",
                       "reduction": "sum"}
    case.spec = {"x": x, "t": t, "label_smoothing": 1.0,
                 "smoothing": "others", "reduction": "sum"}
    case.outputs = [("grad", True), ("per_sample", False)]
    body, hlen = case.body()
    r = v.post_infer(conn, "cross_entropy", body, hlen)
    ref = v.case_reference(case)
    by_hand = math.exp(-30) / (1 + math.exp(-30) + math.exp(-40) +
                               math.exp(-50))
    check(abs(ref["grad"][0, 0] - by_hand) <= 1e-13 * by_hand,
          "reference %.17g, by hand %.17g", ref["grad"][0, 0], by_hand)
    why = v.check_case(case, r, ref)
    check(why is None, "%s", why)


@test
def targets_not_negative_when_on_target_is_below_off_target(url):
    conn = v.Raw(url)
    # mixup: rows 0 and 2 are each other's partner (flip) with the same
    # label 2, so q[row, 2] = lam (1 - eps) + (1 - lam)(1 - eps) = 0
    x = np.zeros((3, 19))
    t = np.array([2, 5, 2])
    case = v.Case()
    case.add("logits", "FP64", "binary", x).add("targets", "INT64", "flat", t)
    case.parameters = {"label_smoothing": 1.0, "smoothing": "others",
                       "mixup_lambda": 0.8569274032367578}
    case.outputs = [("targets", True)]
    body, hlen = case.body()
    _, got = v.decode_infer(v.post_infer(conn, "cross_entropy", body, hlen))
    q = got["targets"]
    check(q[0, 2] == 0.0 and q[2, 2] == 0.0 and (q >= 0).all(),
          "q[0, 2] = %.17g, q[2, 2] = %.17g, min %.17g: expected 0, 0, >= 0",
          q[0, 2], q[2, 2], q.min())


@test
def duplicate_member_names_are_refused(url):
    conn = v.Raw(url)
    targets = (b'{"name":"targets","datatype":"INT64","shape":[2],'
               b'"data":[0,1]}')
    for what, logits in (
            ("shape", b'{"name":"logits","datatype":"FP64","shape":[2],'
                      b'"shape":[3],"data":[1,2,3,4,5,6]}'),
            ("data", b'{"name":"logits","datatype":"FP64","shape":[2,3],'
                     b'"data":[1,2,3],"data":[4,5,6]}'),
            ("datatype", b'{"name":"logits","datatype":"FP64",'
                         b'"datatype":"FP32","shape":[2,3],'
                         b'"data":[1,2,3,4,5,6]}')):
        body = b'{"inputs":[' + logits + b',' + targets + b']}'
        r = v.post_infer(conn, "cross_entropy", body, None)
        check(r.status == 400 and "duplicate" in r.json().get("error", ""),
              "a repeated \"%s\" in a tensor: %d %s", what, r.status,
              r.body[:120])
    body = (b'{"id":"a","id":"b","inputs":[{"name":"logits","datatype":"FP64",'
            b'"shape":[2,3],"data":[1,2,3,4,5,6]},' + targets + b']}')
    r = v.post_infer(conn, "cross_entropy", body, None)
    check(r.status == 400 and "duplicate" in r.json().get("error", ""),
          "a repeated \"id\": %d %s", r.status, r.body[:120])


@test
def trailing_bytes_counted_in_full(url):
    conn = v.Raw(url)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    body, hlen = v.infer_body([v.tensor("logits", "FP32", x, True),
                               v.tensor("targets", "INT64", [0, 2], True)])
    body += b"\0" * 10
    chunks = b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n"
                      for i in range(len(body))) + b"0\r\n\r\n"
    r = conn.request("POST", "/v2/models/cross_entropy/infer", [
        ("Host", conn.hostport), ("Transfer-Encoding", "chunked"),
        ("Inference-Header-Content-Length", str(hlen))], chunks)
    check(r.status == 400 and "has 10 bytes after" in r.json()["error"],
          "10 bytes after the last tensor, sent a byte at a time: %d %s",
          r.status, r.body)


def reserved_bytes(conn):
    r = conn.request("GET", "/metrics", v.std_headers(conn))
    for line in r.body.decode().splitlines():
        if line.startswith("xentd_memory_reserved_bytes "):
            return float(line.split()[1])
    raise Fail("no xentd_memory_reserved_bytes in /metrics")


@test
def binary_data_size_beyond_the_body_holds_no_memory(url, xentd):
    """A daemon of its own (--max-memory 200 MiB). The small request's
    first 8 binary bytes are sent, the rest never is; the daemon's
    reservation is polled (deadline 3 s) and another request of about 8 MB
    must then be answered 200."""
    budget, big = 200 << 20, 199 << 20
    with xh.daemon_process(xentd, ["--max-memory", str(budget),
                                   "--access-log", "off"]) as (durl, _):
        hog = v.Raw(durl)
        other = v.Raw(durl)
        hdr = v.dumps({"inputs": [
            {"name": "logits", "datatype": "FP64", "shape": [1, big // 8],
             "parameters": {"binary_data_size": big}},
            {"name": "targets", "datatype": "INT64", "shape": [1],
             "data": [0]}]}).encode()
        hog.send(v.build_request("POST", "/v2/models/cross_entropy/infer", [
            ("Host", hog.hostport), ("Content-Length", str(len(hdr) + 16)),
            ("Inference-Header-Content-Length", str(len(hdr)))]) + hdr +
            b"\0" * 8)
        deadline = time.monotonic() + 3
        held = reserved_bytes(other)
        while held < big and time.monotonic() < deadline:
            held = reserved_bytes(other)
        rng = np.random.default_rng(3)
        x = rng.normal(0, 1, (256, 2000))
        t = rng.integers(0, 2000, 256)
        case = v.Case()
        case.add("logits", "FP64", "binary", x).add("targets", "INT64",
                                                    "binary", t)
        case.outputs = [("loss", None)]
        case.spec = {"x": x, "t": t}
        body, hlen = case.body()
        r = v.post_infer(other, "cross_entropy", body, hlen)
        hog.close()
        other.close()
        check(r.status == 200, "a %d-byte request declaring %d MiB holds %d "
              "MiB of the %d MiB budget; an %d-byte request is answered %d "
              "%s", len(hdr) + 16, big >> 20, int(held) >> 20, budget >> 20,
              len(body), r.status, r.body[:100])
        no_diff(v.check_case(case, r))


def no_diff(why):
    if why:
        raise Fail(why)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("-k", default="", help="run the tests whose name has this")
    opts = ap.parse_args()

    def call(fn):  # a test that restarts the daemon is given its path
        if fn.__code__.co_argcount == 2:
            fn(url, opts.xentd)
        else:
            fn(url)

    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url:
            TESTS.run(call, k=opts.k)
    except xh.DaemonError as e:
        TESTS.fail("daemon: %s" % e)
    return TESTS.finish()


if __name__ == "__main__":
    sys.exit(main())
