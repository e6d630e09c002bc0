#!/usr/bin/python3
"""The Open Inference Protocol (KServe v2 / Triton HTTP) routes of xentd over
real sockets: every route and status, every input datatype (JSON flat and
nested, and binary), every output (JSON and binary, and the datatype rule),
parameters, request ids, the binary framing and its errors, keep-alive,
gzip / deflate both ways, a zip bomb, and draining after SIGTERM.

Numbers are checked against PyTorch float64 (v2common.reference, which is
api/tools/make_expected.py) or against values a person can compute by hand
(a uniform row of C logits has loss ln C and gradient 1/C - onehot).

The shared daemon is XENT_URL when set, else one of its own; the tests of
limits (--max-body-bytes, --max-elements) and of draining always start a
daemon of their own. Every test counts as a pass or a fail; nothing is
skipped. Closing line: "oip: N passed, M failed" (Open Inference Protocol;
tests/run-py reads a name without digits).
"""

import argparse
import gzip
import json
import math
import os
import signal
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
import v2common as v  # noqa: E402
import xentd_harness as xh  # noqa: E402
from make_expected import version  # noqa: E402

CE = "/v2/models/cross_entropy/infer"
MT = "/v2/models/mixup_target/infer"
LIMIT_BODY = 65536
LIMIT_ELEMENTS = 1000
TESTS = suite.Suite("oip")
test = TESTS.test
Fail = suite.Fail
check = suite.check


def no_diff(why):
    if why:
        raise Fail(why)


def get(conn, path, method="GET"):
    return conn.request(method, path, v.std_headers(conn))


def expect_json(resp, status, body):
    check(resp.status == status, "status %d %r, expected %d", resp.status,
          resp.body[:300], status)
    check(resp.header("content-type") == "application/json",
          "Content-Type %r", resp.header("content-type"))
    check(resp.json() == body, "body %r, expected %r", resp.body, body)


def expect_error(resp, status, *needles):
    """An error answer: status, {"error": "<one line>"} as JSON, and each
    needle in the message. Returns the message."""
    check(resp.status == status, "status %d %r, expected %d", resp.status,
          resp.body[:300], status)
    check(resp.header("content-type") == "application/json",
          "error with Content-Type %r", resp.header("content-type"))
    body = resp.json()
    check(isinstance(body, dict) and list(body) == ["error"] and
          isinstance(body["error"], str) and body["error"] and
          "\n" not in body["error"], "error body %r", resp.body)
    for n in needles:
        check(n in body["error"], "message %r lacks %r", body["error"], n)
    return body["error"]


def send(conn, case, extra=()):
    body, hlen = case.body()
    return v.post_infer(conn, case.model, body, hlen, extra)


def run(conn, case, extra=()):
    no_diff(v.check_case(case, send(conn, case, extra)))


def small(n=3, c=4, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale, (n, c)), rng.integers(0, c, n)


def hard_case(x, t, ldt="FP64", lhow="flat", tdt="INT64", thow="flat",
              **params):
    """cross_entropy on logits x (as datatype ldt) and labels t."""
    c = v.Case()
    send_x, xr = v.narrow(x, ldt)
    c.add("logits", ldt, lhow, send_x).add("targets", tdt, thow, t)
    c.spec = {"x": xr, "t": np.asarray(t)}
    for k, val in params.items():
        c.parameters[k] = val
        c.spec[k] = val
    return c


# ---------------------------------------------------- server and health --

@test
def server_metadata(env):
    conn = env.conn()
    expect_json(get(conn, "/v2"), 200,
                {"name": "xent", "version": version(),
                 "extensions": ["binary_tensor_data"]})


@test
def health_live_and_ready(env):
    conn = env.conn()
    expect_json(get(conn, "/v2/health/live"), 200, {"live": True})
    expect_json(get(conn, "/v2/health/ready"), 200, {"ready": True})
    r = get(conn, "/v2/health/ready", "HEAD")
    check(r.status == 200 and r.body == b"", "HEAD ready: %r", r)
    check(r.header("content-length") == str(len(b'{"ready":true}')),
          "HEAD ready Content-Length %r", r.header("content-length"))


CE_INPUTS = [
    {"name": "logits", "datatype": "FP32", "shape": [-1, -1]},
    {"name": "targets", "datatype": "INT64", "shape": [-1]},
    {"name": "soft_targets", "datatype": "FP32", "shape": [-1, -1]},
    {"name": "class_weights", "datatype": "FP32", "shape": [-1]},
    {"name": "pos_weight", "datatype": "FP32", "shape": [-1]},
    {"name": "mixup_lambda", "datatype": "FP32", "shape": [-1]},
    {"name": "mixup_partner", "datatype": "INT64", "shape": [-1]},
    {"name": "focal_alpha", "datatype": "FP32", "shape": [-1]}]
CE_OUTPUTS = [
    {"name": "loss", "datatype": "FP64", "shape": [1]},
    {"name": "per_sample", "datatype": "FP64", "shape": [-1]},
    {"name": "grad", "datatype": "FP32", "shape": [-1, -1]},
    {"name": "targets", "datatype": "FP32", "shape": [-1, -1]},
    {"name": "probs", "datatype": "FP32", "shape": [-1, -1]},
    {"name": "predicted", "datatype": "INT64", "shape": [-1]},
    {"name": "accuracy", "datatype": "FP64", "shape": [1]},
    {"name": "mean_confidence", "datatype": "FP64", "shape": [1]},
    {"name": "ece", "datatype": "FP64", "shape": [1]},
    {"name": "mean_entropy", "datatype": "FP64", "shape": [1]},
    {"name": "elementwise", "datatype": "FP32", "shape": [-1, -1]}]
SMOOTHING = {"name": "smoothing", "type": "string",
             "enum": ["uniform", "others", "binary"], "default": "uniform"}
PAIRING = {"name": "mixup_pairing", "type": "string",
           "enum": ["flip", "roll"], "default": "flip"}
CE_PARAMS = [
    {"name": "class_axis", "type": "integer", "default": 1},
    {"name": "loss", "type": "string",
     "enum": ["cross_entropy", "binary_cross_entropy", "sigmoid_focal",
              "softmax_focal", "poly1"], "default": "cross_entropy"},
    {"name": "label_smoothing", "type": "number", "default": 0}, SMOOTHING,
    {"name": "mixup_lambda", "type": "number"}, PAIRING,
    {"name": "ignore_index", "type": "integer", "default": -100},
    {"name": "target_threshold", "type": "number", "default": -1},
    {"name": "sum_classes", "type": "boolean", "default": False},
    {"name": "focal_alpha", "type": "number", "default": 0.25},
    {"name": "focal_gamma", "type": "number", "default": 2},
    {"name": "poly_epsilon", "type": "number", "default": 2},
    {"name": "reduction", "type": "string", "enum": ["mean", "sum", "none"],
     "default": "mean"}]
MT_INPUTS = [CE_INPUTS[1], CE_INPUTS[5], CE_INPUTS[6]]
MT_OUTPUTS = [{"name": "targets", "datatype": "FP64", "shape": [-1, -1]}]
MT_PARAMS = [{"name": "num_classes", "type": "integer"},
             {"name": "label_smoothing", "type": "number", "default": 0},
             SMOOTHING, {"name": "mixup_lambda", "type": "number"}, PAIRING,
             {"name": "ignore_index", "type": "integer", "default": -100}]


def check_metadata(resp, name, inputs, outputs, params):
    check(resp.status == 200, "metadata status %d", resp.status)
    check(resp.header("content-type") == "application/json",
          "Content-Type %r", resp.header("content-type"))
    md = resp.json()
    check(list(md) == ["name", "versions", "platform", "inputs", "outputs",
                       "parameters"], "metadata keys %s", list(md))
    check(md["name"] == name and md["versions"] == ["1"] and
          md["platform"] == "xent", "name / versions / platform %r", md)
    check(md["inputs"] == inputs, "inputs %r", md["inputs"])
    check(md["outputs"] == outputs, "outputs %r", md["outputs"])
    docs = [p.pop("doc", "") for p in md["parameters"]]
    check(md["parameters"] == params, "parameters %r", md["parameters"])
    check(all(isinstance(d, str) and d for d in docs), "parameter docs %r",
          docs)


@test
def model_metadata(env):
    conn = env.conn()
    for path in ("/v2/models/cross_entropy",
                 "/v2/models/cross_entropy/versions/1"):
        check_metadata(get(conn, path), "cross_entropy", CE_INPUTS,
                       CE_OUTPUTS, CE_PARAMS)
    for path in ("/v2/models/mixup_target",
                 "/v2/models/mixup_target/versions/1"):
        check_metadata(get(conn, path), "mixup_target", MT_INPUTS,
                       MT_OUTPUTS, MT_PARAMS)


@test
def model_ready(env):
    conn = env.conn()
    for m in ("cross_entropy", "mixup_target"):
        for path in ("/v2/models/%s/ready" % m,
                     "/v2/models/%s/versions/1/ready" % m):
            expect_json(get(conn, path), 200, {"name": m, "ready": True})


@test
def not_found(env):
    conn = env.conn()
    expect_error(get(conn, "/v2/models/resnet50"), 404, "resnet50")
    expect_error(get(conn, "/v2/models/resnet50/ready"), 404, "resnet50")
    expect_error(get(conn, "/v2/models/cross_entropy/versions/2"), 404,
                 "'2'", "cross_entropy")
    expect_error(get(conn, "/v2/models/mixup_target/versions/01/ready"), 404,
                 "'01'")
    expect_error(get(conn, "/v2/models/cross_entropy/versions/abc/infer"),
                 404, "'abc'")
    expect_error(get(conn, "/v2/models/cross_entropy/stats"), 404,
                 "cross_entropy")
    expect_error(get(conn, "/v2/repository/index"), 404)
    expect_error(get(conn, "/v2/health/startup"), 404)
    body = b'{"inputs":[]}'
    expect_error(conn.request("POST", "/v2/models/resnet50/infer",
                              v.std_headers(conn, body), body), 404,
                 "resnet50")
    expect_error(conn.request("POST", "/v2/models/cross_entropy/versions/3/"
                              "infer", v.std_headers(conn, body), body), 404,
                 "'3'")
    check(conn.connects == 1, "404s closed the connection")


@test
def method_not_allowed(env):
    conn = env.conn()
    for method, path, allow in (
            ("POST", "/v2", "GET, HEAD"),
            ("PUT", "/v2/health/live", "GET, HEAD"),
            ("DELETE", "/v2/health/ready", "GET, HEAD"),
            ("POST", "/v2/models/cross_entropy", "GET, HEAD"),
            ("POST", "/v2/models/mixup_target/versions/1/ready", "GET, HEAD"),
            ("GET", CE, "POST"),
            ("PUT", "/v2/models/mixup_target/versions/1/infer", "POST")):
        body = b"{}" if method in ("POST", "PUT") else None
        r = conn.request(method, path, v.std_headers(conn, body), body)
        expect_error(r, 405, method)
        check(r.header("allow") == allow, "%s %s: Allow %r, expected %r",
              method, path, r.header("allow"), allow)


@test
def length_required(env):
    conn = env.conn()
    r = conn.request("POST", CE, [("Host", conn.hostport)])
    expect_error(r, 411, "Content-Length")


@test
def unsupported_media_type(env):
    conn = env.conn()
    x, t = small()
    body, _ = hard_case(x, t).body()
    for ct in ("text/plain", "application/x-www-form-urlencoded",
               "application/jsonx", "multipart/form-data; boundary=x"):
        r = conn.request("POST", CE, v.std_headers(
            conn, body, [("Content-Type", ct)]), body)
        expect_error(r, 415, "application/json")
    for ce in ("br", "compress", "zstd"):
        r = conn.request("POST", CE, v.std_headers(
            conn, body, [("Content-Encoding", ce)]), body)
        expect_error(r, 415, "'%s'" % ce)
    # Accepted: JSON (with parameters, any case), octet-stream, none.
    for ct in ("application/json", "Application/JSON; charset=utf-8",
               "application/octet-stream", None):
        extra = [("Content-Type", ct)] if ct else []
        r = conn.request("POST", CE, v.std_headers(conn, body, extra), body)
        check(r.status == 200, "Content-Type %r: %d %r", ct, r.status,
              r.body[:200])


# ----------------------------------------------------------- by hand -----

@test
def uniform_rows_by_hand(env):
    """Equal logits: p = 1/C, loss ln C, grad (1/C - onehot) / N; with
    eps, loss is still ln C (every log-probability is -ln C)."""
    conn = env.conn()
    n, c = 2, 4
    case = hard_case(np.zeros((n, c)), [1, 3])
    case.outputs = [("loss", None), ("per_sample", None), ("grad", None),
                    ("probs", None), ("predicted", None)]
    hdr, got = v.decode_infer(send(conn, case))
    check(got["loss"].tolist() == [math.log(4)], "loss %r", got["loss"])
    check(got["per_sample"].tolist() == [math.log(4)] * 2, "per_sample %r",
          got["per_sample"])
    want = np.full((n, c), 0.25 / n)
    want[0, 1] -= 1 / n
    want[1, 3] -= 1 / n
    check(np.array_equal(got["grad"], want), "grad %r", got["grad"])
    check(np.array_equal(got["probs"], np.full((n, c), 0.25)), "probs %r",
          got["probs"])
    check(got["predicted"].tolist() == [0, 0], "predicted %r (ties: lowest "
          "index)", got["predicted"])


# ------------------------------------------------------------ datatypes --

@test
def logits_every_datatype_and_layout(env):
    conn = env.conn()
    x, t = small(3, 5, seed=1)
    for ldt in ("FP64", "FP32", "FP16", "BF16"):
        for how in ("flat", "nested", "binary"):
            case = hard_case(x, t, ldt, how, label_smoothing=0.1)
            case.outputs = [(n, None) for n in
                            ("loss", "per_sample", "grad", "targets",
                             "probs", "predicted", "accuracy",
                             "mean_entropy")]
            why = v.check_case(case, send(conn, case))
            check(why is None, "logits %s %s: %s", ldt, how, why)


@test
def json_float_data_is_rounded_to_the_datatype(env):
    """JSON numbers for FP32 / FP16 / BF16 logits are rounded to the
    datatype (0.1 is not a float32): the answer is the one for the rounded
    values, and differs from the FP64 one."""
    conn = env.conn()
    x = np.array([[0.1, 0.2, 0.7], [1.3, -0.3, 0.0]])
    t = [2, 0]
    losses = {}
    for dt in ("FP64", "FP32", "FP16", "BF16"):
        _, xr = v.narrow(x, dt)
        case = v.Case()
        case.inputs = [("logits", dt, "flat", x),
                       ("targets", "INT64", "flat", np.array(t))]
        case.spec = {"x": xr, "t": np.array(t)}
        # FP16 / BF16 JSON data is the plain number here, not bits.
        body = v.dumps({"inputs": [
            {"name": "logits", "datatype": dt, "shape": [2, 3],
             "data": x.reshape(-1).tolist()},
            {"name": "targets", "datatype": "INT64", "shape": [2],
             "data": t}]}).encode()
        r = v.post_infer(conn, "cross_entropy", body, None)
        why = v.check_case(case, r)
        check(why is None, "%s JSON 0.1: %s", dt, why)
        losses[dt] = v.decode_infer(r)[1]["loss"][0]
    check(len(set(losses.values())) == 4, "the four datatypes gave %r",
          losses)


@test
def targets_int32_int64(env):
    conn = env.conn()
    x, t = small(4, 6, seed=2)
    for tdt in ("INT64", "INT32"):
        for how in ("flat", "nested", "binary"):
            run(conn, hard_case(x, t, "FP64", "binary", tdt, how))


@test
def soft_targets_and_class_weights(env):
    conn = env.conn()
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1.5, (3, 4))
    y = rng.random((3, 4)) * 2
    w = rng.uniform(0.2, 2.0, 4)
    for sdt in ("FP64", "FP32"):
        for how in ("flat", "nested", "binary"):
            case = v.Case()
            ys, yr = v.narrow(y, sdt)
            ws, wr = v.narrow(w, sdt)
            case.add("logits", "FP64", "binary", x)
            case.add("soft_targets", sdt, how, ys)
            case.add("class_weights", sdt, how, ws)
            case.parameters["label_smoothing"] = 0.2
            case.spec = {"x": x, "y": yr, "weights": wr,
                         "label_smoothing": 0.2}
            case.outputs = [(n, None) for n in ("loss", "per_sample", "grad",
                                                "targets", "accuracy")]
            why = v.check_case(case, send(conn, case))
            check(why is None, "soft_targets / class_weights %s %s: %s", sdt,
                  how, why)
    # class weights with hard labels (PyTorch's weighted mean)
    x, t = small(5, 3, seed=4)
    case = hard_case(x, t, "FP32", "binary")
    ws, wr = v.narrow([0.5, 2.0, 1.25], "FP32")
    case.add("class_weights", "FP32", "flat", ws)
    case.spec["weights"] = wr
    run(conn, case)


@test
def mixup_inputs_every_datatype(env):
    conn = env.conn()
    rng = np.random.default_rng(5)
    n, c = 5, 4
    x = rng.normal(0, 1, (n, c))
    t = rng.integers(0, c, n)
    for ldt in ("FP64", "FP32"):
        for shape1 in (True, False):
            for pdt in ("INT64", "INT32"):
                for how in ("flat", "binary", "nested"):
                    lam = rng.random(1 if shape1 else n)
                    ls, lr = v.narrow(lam, ldt)
                    partners = rng.integers(0, n, n)
                    case = hard_case(x, t, "FP64", "flat")
                    case.add("mixup_lambda", ldt, how, ls)
                    case.add("mixup_partner", pdt, how, partners)
                    case.spec.update(lam=lr[0] if shape1 else lr,
                                     pairing=partners)
                    why = v.check_case(case, send(conn, case))
                    check(why is None, "mixup_lambda %s %s, partner %s %s: "
                          "%s", ldt, "[1]" if shape1 else "[N]", pdt, how,
                          why)


@test
def mixup_target_model(env):
    conn = env.conn()
    rng = np.random.default_rng(6)
    n, nc = 5, 7
    t = rng.integers(0, nc, n)
    for tdt in ("INT64", "INT32"):
        for how in ("flat", "nested", "binary"):
            # timm's own case: lambda for the batch, flip, uniform smoothing
            case = v.Case("mixup_target").add("targets", tdt, how, t)
            case.parameters = {"num_classes": nc, "label_smoothing": 0.1,
                               "mixup_lambda": 0.7}
            case.spec = {"t": t, "num_classes": nc, "label_smoothing": 0.1,
                         "lam": 0.7}
            run(conn, case)
    # per-row lambda as an input (FP32), explicit partners, roll, others
    lam = rng.random(n)
    ls, lr = v.narrow(lam, "FP32")
    partners = rng.integers(0, n, n)
    case = v.Case("mixup_target").add("targets", "INT64", "binary", t)
    case.add("mixup_lambda", "FP32", "binary", ls)
    case.add("mixup_partner", "INT32", "flat", partners)
    case.parameters = {"num_classes": nc, "label_smoothing": 0.3,
                       "smoothing": "others"}
    case.spec = {"t": t, "num_classes": nc, "label_smoothing": 0.3,
                 "smoothing": "others", "lam": lr, "pairing": partners}
    run(conn, case)
    case = v.Case("mixup_target").add("targets", "INT64", "flat", t)
    case.add("mixup_lambda", "FP64", "flat", [0.25])
    case.parameters = {"num_classes": nc, "mixup_pairing": "roll"}
    case.spec = {"t": t, "num_classes": nc, "lam": 0.25, "pairing": "roll"}
    case.outputs = [("targets", True)]
    run(conn, case)
    # ignore_index: an ignored row's target row is all zero
    t2 = t.copy()
    t2[2] = 255
    case = v.Case("mixup_target").add("targets", "INT64", "flat", t2)
    case.parameters = {"num_classes": nc, "ignore_index": 255,
                       "label_smoothing": 0.1}
    case.spec = {"t": t2, "num_classes": nc, "ignore_index": 255,
                 "label_smoothing": 0.1}
    run(conn, case)


# -------------------------------------------------------------- outputs --

GROUPS = (("loss", "per_sample", "grad", "targets", "probs"),
          ("predicted", "accuracy", "mean_confidence", "ece", "mean_entropy",
           "grad"))


@test
def every_output_json_and_binary_with_the_datatype_rule(env):
    """Each output JSON and binary, for each logits datatype: loss,
    per_sample and the statistics FP64, predicted INT64, grad / targets /
    probs FP64 for FP64 logits and FP32 (the double rounded once) for FP32,
    FP16 and BF16 logits."""
    conn = env.conn()
    x, t = small(6, 5, seed=7)
    for ldt in ("FP64", "FP32", "FP16", "BF16"):
        for binary in (False, True):
            for group in GROUPS:
                case = hard_case(x, t, ldt, "binary", label_smoothing=0.05)
                case.outputs = [(n, binary) for n in group]
                why = v.check_case(case, send(conn, case))
                check(why is None, "%s logits, %s outputs %s: %s", ldt,
                      "binary" if binary else "JSON", group, why)


@test
def outputs_mixed_binary_and_json_in_request_order(env):
    conn = env.conn()
    x, t = small(4, 3, seed=8)
    case = hard_case(x, t, "FP32", "binary")
    case.outputs = [("probs", True), ("loss", False), ("predicted", True),
                    ("grad", None), ("per_sample", True)]
    r = send(conn, case)
    no_diff(v.check_case(case, r))
    # binary bytes lie in outputs order after the header
    hdr = json.loads(r.body[:int(r.header("inference-header-content-length"))])
    sizes = [o.get("parameters", {}).get("binary_data_size") for o in
             hdr["outputs"]]
    check(sizes == [4 * 12, None, 8 * 4, None, 8 * 4], "sizes %r", sizes)
    check(int(r.header("content-length")) ==
          int(r.header("inference-header-content-length")) + 48 + 32 + 32,
          "Content-Length %r", r.headers)


@test
def binary_data_output_parameter(env):
    conn = env.conn()
    x, t = small(3, 4, seed=9)
    # no outputs: the defaults, all binary
    case = hard_case(x, t, "FP64", "binary")
    case.binary_output = True
    run(conn, case)
    # per-output binary_data wins over binary_data_output
    case = hard_case(x, t, "BF16", "binary")
    case.binary_output = True
    case.outputs = [("grad", False), ("loss", None), ("ece", True)]
    run(conn, case)
    case = hard_case(x, t, "FP16", "flat")
    case.binary_output = False
    case.outputs = [("grad", True), ("loss", None)]
    run(conn, case)
    case = v.Case("mixup_target").add("targets", "INT64", "flat", t)
    case.parameters = {"num_classes": 4}
    case.binary_output = True
    case.spec = {"t": t, "num_classes": 4}
    run(conn, case)


@test
def default_outputs(env):
    conn = env.conn()
    x, t = small(3, 4, seed=10)
    run(conn, hard_case(x, t, "FP32", "nested"))
    run(conn, hard_case(x, t, "FP64", "binary", reduction="none"))


# ----------------------------------------------------------- parameters --

@test
def every_parameter(env):
    conn = env.conn()
    rng = np.random.default_rng(11)
    n, c = 6, 5
    x = rng.normal(0, 2, (n, c))
    t = rng.integers(0, c, n)
    t_ign = t.copy()
    t_ign[[1, 4]] = 7
    for params in ({"label_smoothing": 0.25},
                   {"label_smoothing": 0.25, "smoothing": "uniform"},
                   {"label_smoothing": 0.25, "smoothing": "others"},
                   {"reduction": "mean"}, {"reduction": "sum"},
                   {"reduction": "none"},
                   {"mixup_lambda": 0.3},
                   {"mixup_lambda": 0.3, "mixup_pairing": "flip"},
                   {"mixup_lambda": 0.6, "mixup_pairing": "roll",
                    "label_smoothing": 0.1, "smoothing": "others"},
                   {"mixup_lambda": 1.0, "reduction": "sum"}):
        case = hard_case(x, t, "FP64", "binary", **params)
        if "mixup_lambda" in params:
            case.spec["lam"] = params["mixup_lambda"]
            case.spec["pairing"] = params.get("mixup_pairing")
            del case.spec["mixup_lambda"]
            case.spec.pop("mixup_pairing", None)
        case.outputs = [(o, None) for o in ("loss", "per_sample", "grad",
                                            "targets")]
        why = v.check_case(case, send(conn, case))
        check(why is None, "parameters %s: %s", params, why)
    for red in ("mean", "sum", "none"):
        case = hard_case(x, t_ign, "FP32", "binary", ignore_index=7,
                         reduction=red)
        case.outputs = [(o, None) for o in ("loss", "per_sample", "grad",
                                            "predicted", "accuracy")]
        why = v.check_case(case, send(conn, case))
        check(why is None, "ignore_index 7, %s: %s", red, why)


@test
def triton_reserved_parameters_are_ignored(env):
    conn = env.conn()
    x, t = small(3, 4, seed=12)
    plain = send(conn, hard_case(x, t))
    case = hard_case(x, t)
    case.parameters = {"sequence_id": 42, "sequence_start": True,
                       "sequence_end": False, "priority": 1,
                       "timeout": 100000}
    r = send(conn, case)
    no_diff(v.check_case(case, r))
    check(r.body == plain.body, "reserved parameters changed the answer")


@test
def request_id_and_model_name(env):
    conn = env.conn()
    x, t = small(2, 3, seed=13)
    for rid in ("req-1", "", "ünïcode \"quoted\" \\ id", "x" * 255):
        case = hard_case(x, t)
        case.request_id = rid
        run(conn, case)
    case = hard_case(x, t)
    body, _ = case.body()
    for name, version_ in (("cross_entropy", None), ("cross_entropy", "1"),
                           ("cross_entropy", "")):
        req = json.loads(body)
        req["model_name"] = name
        if version_ is not None:
            req["model_version"] = version_
        r = v.post_infer(conn, "cross_entropy", v.dumps(req).encode(), None)
        no_diff(v.check_case(case, r))
    req = json.loads(body)
    req["model_name"] = "mixup_target"
    expect_error(v.post_infer(conn, "cross_entropy", v.dumps(req).encode(),
                              None), 400, "model_name", "cross_entropy")
    req = json.loads(body)
    req["model_version"] = "2"
    expect_error(v.post_infer(conn, "cross_entropy", v.dumps(req).encode(),
                              None), 400, "model_version")
    req = json.loads(body)
    req["id"] = "y" * 256
    expect_error(v.post_infer(conn, "cross_entropy", v.dumps(req).encode(),
                              None), 400, "id")
    # the version in the path
    r = v.post_infer(conn, "cross_entropy", body, None, version="1")
    no_diff(v.check_case(case, r))


# ---------------------------------------------------- errors, by message --

def body_of(inputs, outputs=None, parameters=None):
    return v.infer_body(inputs, outputs, parameters)


def logits_targets(ldt="FP64", binary=False, x=None, t=None):
    if x is None:
        x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    if t is None:
        t = [0, 2]
    return [v.tensor("logits", ldt, v.narrow(x, ldt)[0], binary),
            v.tensor("targets", "INT64", t, binary)]


@test
def errors_name_the_tensor_and_flat_index(env):
    conn = env.conn()

    def post(inputs, parameters=None, model="cross_entropy"):
        body, hlen = body_of(inputs, parameters=parameters)
        return v.post_infer(conn, model, body, hlen)

    expect_error(post(logits_targets(t=[0, 7])), 400,
                 "targets[1] = 7 is outside [0, 3)")
    expect_error(post(logits_targets(t=[-1, 1], binary=True)), 400,
                 "targets[0] = -1 is outside [0, 3)")
    x = np.array([[1.0, 2.0, 3.0], [4.0, math.nan, 6.0]])
    expect_error(post(logits_targets("FP32", True, x=x)), 400, "logits[4]")
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, math.inf]])
    expect_error(post(logits_targets("FP16", True, x=x)), 400, "logits[5]")
    # every class of row 1 masked: named by its first flat element
    x = np.array([[1.0, 2.0, 3.0], [-math.inf] * 3])
    expect_error(post(logits_targets("BF16", True, x=x, t=[0, 1])), 400,
                 "logits[3]", "every class of a row is masked")
    # ... but an ignored row does not exist for the loss (semantics 2.1)
    r = post(logits_targets("BF16", True, x=x, t=[0, -100]))
    check(r.status == 200, "all-masked ignored row: %r", r)
    # target mass on a masked class: 422, the row's label
    x = np.array([[1.0, -math.inf, 3.0], [4.0, 5.0, 6.0]])
    expect_error(post(logits_targets("FP64", True, x=x, t=[1, 0])), 422,
                 "targets[0]")
    ins = logits_targets() + [v.tensor("class_weights", "FP64",
                                       [1.0, -0.5, 1.0])]
    expect_error(post(ins), 400, "class_weights[1]")
    ins = logits_targets() + [v.tensor("mixup_lambda", "FP32", [0.5, 1.5],
                                       True)]
    expect_error(post(ins), 400, "mixup_lambda[1]")
    ins = logits_targets() + [v.tensor("mixup_lambda", "FP64", [0.5]),
                              v.tensor("mixup_partner", "INT32", [1, 2])]
    expect_error(post(ins), 400, "mixup_partner[1] = 2 is outside [0, 2)")
    ins = [v.tensor("logits", "FP64", np.zeros((2, 3))),
           v.tensor("soft_targets", "FP32",
                    np.array([[1, 0, 0], [0, -1, 1]], np.float32), True)]
    expect_error(post(ins), 400, "soft_targets[4]")
    ins = logits_targets()
    ins[1] = ({"name": "targets", "datatype": "INT64", "shape": [2],
               "data": [0, 1.5]}, None)
    expect_error(post(ins), 400, "targets[1] = 1.5")
    ins[1] = ({"name": "targets", "datatype": "INT32", "shape": [2],
               "data": [0, 2147483648]}, None)
    expect_error(post(ins), 400, "targets[1]", "INT32")
    ins = logits_targets()
    ins[0] = ({"name": "logits", "datatype": "FP64", "shape": [2, 3],
               "data": [1, 2, None, 4, 5, 6]}, None)
    expect_error(post(ins), 400, "logits[2]")
    ins[0] = ({"name": "logits", "datatype": "FP64", "shape": [2, 3],
               "data": [[1, 2, 3], [4, "5", 6]]}, None)
    expect_error(post(ins), 400, "logits[4]")
    expect_error(post(logits_targets(), {"label_smoothing": 1.5}), 400,
                 "label_smoothing")
    expect_error(post(logits_targets(), {"mixup_lambda": -0.1}), 400,
                 "mixup_lambda")
    expect_error(post(logits_targets(t=[-100, -100])), 422, "denominator")
    # others with one unmasked class
    x = np.array([[1.0, -math.inf, -math.inf], [4.0, 5.0, 6.0]])
    expect_error(post(logits_targets("FP64", True, x=x, t=[0, 1]),
                      {"smoothing": "others", "label_smoothing": 0.1}), 400)
    # mixup_target
    ins = [v.tensor("targets", "INT64", [0, 4, 1])]
    expect_error(post(ins, {"num_classes": 4}, "mixup_target"), 400,
                 "targets[1] = 4 is outside [0, 4)")
    expect_error(post(ins, {"label_smoothing": 0.1}, "mixup_target"), 400,
                 "num_classes")


@test
def errors_of_shapes(env):
    conn = env.conn()

    def post(inputs, parameters=None):
        body, hlen = body_of(inputs, parameters=parameters)
        return v.post_infer(conn, "cross_entropy", body, hlen)

    ins = logits_targets()
    ins[0] = ({"name": "logits", "datatype": "FP64", "shape": [2, 3],
               "data": [1, 2, 3, 4, 5]}, None)
    expect_error(post(ins), 400, "logits", "6 elements", "data has 5")
    ins[0] = ({"name": "logits", "datatype": "FP64", "shape": [2, 3],
               "data": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}, None)
    expect_error(post(ins), 400, "logits", "data has 9")
    # binary: the shape against binary_data_size
    x = np.zeros((2, 3), np.float32)
    ins = logits_targets(binary=True)
    ins[0] = ({"name": "logits", "datatype": "FP32", "shape": [2, 4],
               "parameters": {"binary_data_size": 24}}, x.tobytes())
    expect_error(post(ins), 400, "logits", "32 bytes",
                 "binary_data_size is 24")
    ins[0] = ({"name": "logits", "datatype": "FP16", "shape": [2, 3],
               "parameters": {"binary_data_size": 11}}, b"\0" * 11)
    expect_error(post(ins), 400, "logits", "binary_data_size is 11")
    # the batch: targets [N], class_weights [C], soft_targets [N, C]
    ins = logits_targets()
    ins[1] = v.tensor("targets", "INT64", [0, 1, 2])
    expect_error(post(ins), 400, "targets has shape [3]",
                 "batch needs [2]")
    ins = logits_targets() + [v.tensor("class_weights", "FP64", [1, 1])]
    expect_error(post(ins), 400, "class_weights has shape [2]",
                 "batch needs [3]")
    ins = [logits_targets()[0], v.tensor("soft_targets", "FP64",
                                         np.ones((3, 2)))]
    expect_error(post(ins), 400, "soft_targets has shape [3, 2]",
                 "[2, 3]")
    ins = logits_targets() + [v.tensor("mixup_lambda", "FP64", [.5, .5, .5])]
    expect_error(post(ins), 400, "mixup_lambda has shape [3]")
    ins = logits_targets()
    ins[0] = v.tensor("logits", "FP64", [1.0, 2.0])
    expect_error(post(ins), 400, "logits must have shape [N, C]")
    ins[0] = ({"name": "logits", "datatype": "FP64", "shape": [0, 3],
               "data": []}, None)
    ins[1] = v.tensor("targets", "INT64", np.zeros(0, np.int64))
    expect_error(post(ins), 400, "logits must have shape [N, C]", "N >= 1")
    ins = logits_targets()
    ins[0] = ({"name": "logits", "datatype": "FP64", "shape": [2, -3],
               "data": [1, 2, 3, 4, 5, 6]}, None)
    expect_error(post(ins), 400, "logits", "shape")


@test
def errors_of_names_and_datatypes(env):
    conn = env.conn()

    def post(inputs, outputs=None, parameters=None, model="cross_entropy"):
        body, hlen = body_of(inputs, outputs, parameters)
        return v.post_infer(conn, model, body, hlen)

    expect_error(post(logits_targets() + [v.tensor("temperature", "FP64",
                                                   [1.0])]),
                 400, "temperature is not an input of model cross_entropy")
    expect_error(post(logits_targets(), [{"name": "logits"}]), 400,
                 "logits is not an output of model cross_entropy")
    expect_error(post(logits_targets(), [{"name": "loss"}, {"name": "loss"}]),
                 400, "loss")
    expect_error(post(logits_targets(), None, {"temperature": 2}), 400,
                 "parameter temperature")
    expect_error(post([v.tensor("targets", "INT64", [0, 1])], None,
                      {"num_classes": 3, "reduction": "sum"},
                      "mixup_target"), 400, "parameter reduction")
    expect_error(post(logits_targets(), None, {"reduction": "avg"}), 400,
                 "reduction", '"mean", "sum", "none"')
    expect_error(post(logits_targets(), None, {"ignore_index": 1.5}), 400,
                 "ignore_index", "integer")
    expect_error(post(logits_targets(), None, {"label_smoothing": "0.1"}),
                 400, "label_smoothing", "number")
    expect_error(post(logits_targets(), None, {"binary_data_output": 1}),
                 400, "binary_data_output")
    expect_error(post(logits_targets(), None, {"mixup_pairing": "flip"}),
                 400, "mixup_lambda")
    expect_error(post(logits_targets() + [v.tensor("mixup_lambda", "FP64",
                                                   [0.5])],
                      None, {"mixup_lambda": 0.5}), 400, "mixup_lambda",
                 "both")
    # datatypes: a known one the input does not take, and unknown ones
    for name, dt, vals in (("logits", "INT64", [[1, 2, 3], [4, 5, 6]]),
                           ("logits", "BYTES", [[1, 2, 3], [4, 5, 6]]),
                           ("targets", "FP32", [0, 2]),
                           ("targets", "FP16", [0, 2])):
        ins = logits_targets()
        k = 0 if name == "logits" else 1
        ins[k] = ({"name": name, "datatype": dt,
                   "shape": list(np.shape(vals)),
                   "data": np.asarray(vals).reshape(-1).tolist()}, None)
        expect_error(post(ins), 400, "%s: datatype %s is not one of" % (
            name, dt))
    for dt in ("UINT8", "BOOL", "bytes", "fp32"):
        ins = logits_targets()
        ins[0] = ({"name": "logits", "datatype": dt, "shape": [2, 3],
                   "data": [1, 2, 3, 4, 5, 6]}, None)
        expect_error(post(ins), 400, 'datatype "%s"' % dt)
    # FP32 class weights are fine, INT64 ones are not
    ins = logits_targets() + [({"name": "class_weights", "datatype": "INT64",
                                "shape": [3], "data": [1, 1, 1]}, None)]
    expect_error(post(ins), 400, "class_weights: datatype INT64")
    # missing pieces
    expect_error(post([logits_targets()[0]]), 400, "targets",
                 "soft targets")
    expect_error(post([logits_targets()[1]]), 400, "logits")
    ins = logits_targets()
    del ins[0][0]["datatype"]
    expect_error(post(ins), 400, "logits", "datatype")
    ins = logits_targets()
    del ins[1][0]["name"]
    expect_error(post(ins), 400, "inputs[1]", "name")
    ins = logits_targets()
    ins.append(logits_targets()[0])
    expect_error(post(ins), 400, "logits", "twice")


@test
def errors_of_the_binary_framing(env):
    conn = env.conn()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    ins = [v.tensor("logits", "FP32", x, True),
           v.tensor("targets", "INT64", [0, 2], True)]
    body, hlen = v.infer_body(ins)
    # short by 3 bytes: the last tensor named
    expect_error(v.post_infer(conn, "cross_entropy", body[:-3], hlen), 400,
                 "targets", "3 bytes short", "binary_data_size 16")
    # short by a whole tensor
    expect_error(v.post_infer(conn, "cross_entropy", body[:-16], hlen), 400,
                 "targets", "16 bytes short")
    # trailing bytes
    expect_error(v.post_infer(conn, "cross_entropy", body + b"\0\0\0\0",
                              hlen), 400, "4 bytes after the last binary")
    # a header length beyond the body (Content-Length known up front)
    expect_error(v.post_infer(conn, "cross_entropy", body, len(body) + 1),
                 400, "Inference-Header-Content-Length")
    # ... and with a chunked body, found when it ends
    r = conn.request("POST", CE, [
        ("Host", conn.hostport), ("Transfer-Encoding", "chunked"),
        ("Inference-Header-Content-Length", str(len(body) + 10))],
        chunked(body, 40))
    expect_error(r, 400, "Inference-Header-Content-Length is %d" % (
        len(body) + 10), "only %d bytes" % len(body))
    # a header length that cuts the JSON
    expect_error(v.post_infer(conn, "cross_entropy", body, hlen - 5), 400,
                 "invalid JSON header")
    for bad in ("0", "-4", "12x", "", "1e3"):
        expect_error(v.post_infer(conn, "cross_entropy", body, bad), 400,
                     "Inference-Header-Content-Length")
    # data and binary_data_size both, or neither
    t = {"name": "logits", "datatype": "FP32", "shape": [2, 3],
         "data": x.reshape(-1).tolist(),
         "parameters": {"binary_data_size": 24}}
    b2, h2 = v.infer_body([(t, x.tobytes()), ins[1]])
    expect_error(v.post_infer(conn, "cross_entropy", b2, h2), 400,
                 "logits needs exactly one of")
    t = {"name": "logits", "datatype": "FP32", "shape": [2, 3]}
    b2, h2 = v.infer_body([(t, None), ins[1]])
    expect_error(v.post_infer(conn, "cross_entropy", b2, h2), 400,
                 "logits needs exactly one of")
    # binary sizes without the header length: the bytes are not JSON
    expect_error(v.post_infer(conn, "cross_entropy", body, None), 400,
                 "invalid JSON")
    # binary_data_size that is not a size
    t = {"name": "logits", "datatype": "FP32", "shape": [2, 3],
         "parameters": {"binary_data_size": -24}}
    b2, h2 = v.infer_body([(t, x.tobytes()), ins[1]])
    expect_error(v.post_infer(conn, "cross_entropy", b2, h2), 400,
                 "binary_data_size")
    # an unknown tensor parameter
    t = {"name": "logits", "datatype": "FP32", "shape": [2, 3],
         "parameters": {"binary_data_size": 24, "shared_memory_region": "r"}}
    b2, h2 = v.infer_body([(t, x.tobytes()), ins[1]])
    expect_error(v.post_infer(conn, "cross_entropy", b2, h2), 400,
                 "shared_memory_region")
    # invalid JSON, anywhere
    expect_error(v.post_infer(conn, "cross_entropy", b'{"inputs": [', None),
                 400, "invalid JSON header at line 1")
    expect_error(v.post_infer(conn, "cross_entropy", b'[]', None), 400,
                 "object")
    check(conn.connects == 1, "an error closed the connection (%d connects)",
          conn.connects)


@test
def binary_header_in_a_chunked_body(env):
    """The binary framing does not depend on how the body is cut."""
    conn = env.conn()
    x, t = small(7, 9, seed=14)
    case = hard_case(x, t, "FP16", "binary", "INT32", "binary")
    case.outputs = [("grad", True), ("loss", None)]
    body, hlen = case.body()
    for size in (1, 7, 64, len(body)):
        r = conn.request("POST", CE, [
            ("Host", conn.hostport), ("Transfer-Encoding", "chunked"),
            ("Inference-Header-Content-Length", str(hlen))],
            chunked(body, size))
        why = v.check_case(case, r)
        check(why is None, "chunks of %d: %s", size, why)


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


# ------------------------------------------------------------ keep-alive --

@test
def keep_alive_many_requests_one_connection(env):
    conn = env.conn()
    rng = np.random.default_rng(15)
    for i in range(60):
        n, c = int(rng.integers(1, 6)), int(rng.integers(2, 8))
        x = rng.normal(0, 1, (n, c))
        t = rng.integers(0, c, n)
        ldt = ("FP64", "FP32", "FP16", "BF16")[i % 4]
        how = ("binary", "flat", "nested")[i % 3]
        case = hard_case(x, t, ldt, how)
        if i % 2:
            case.outputs = [("grad", i % 4 == 1), ("loss", False)]
        if i % 5 == 0:
            r = get(conn, "/v2/health/ready")
            check(r.status == 200, "ready on the connection: %r", r)
        why = v.check_case(case, send(conn, case))
        check(why is None, "request %d (%s %s): %s", i, ldt, how, why)
        if i % 7 == 3:  # an error does not close the connection either
            expect_error(v.post_infer(conn, "cross_entropy", b"{", None),
                         400)
    check(conn.connects == 1, "%d connections for 60 requests",
          conn.connects)


# ----------------------------------------------------------- compression --

def big_case(seed=16, ldt="FP32"):
    rng = np.random.default_rng(seed)
    n, c = 40, 30
    return hard_case(rng.normal(0, 1, (n, c)), rng.integers(0, c, n), ldt,
                     "binary", "INT64", "binary", label_smoothing=0.1)


@test
def gzip_and_deflate_both_ways(env):
    """tritonclient's way: Content-Encoding gzip (gzip.compress) or deflate
    (zlib.compress, the zlib format), Accept-Encoding for the answer; the
    answer is compressed, chunked, its Inference-Header-Content-Length
    counts the decompressed header."""
    conn = env.conn()
    x, t = small(5, 6, seed=17)
    json_case = hard_case(x, t, "FP64", "nested")
    json_case.outputs = [("loss", None), ("grad", None)]
    cases = [json_case, big_case()]
    bc = big_case(18, "BF16")
    bc.outputs = [("grad", True), ("per_sample", False), ("loss", True)]
    cases.append(bc)
    for case in cases:
        body, hlen = case.body()
        for enc, squeeze in (("gzip", gzip.compress), ("deflate",
                                                       zlib.compress),
                             ("x-gzip", gzip.compress), (None, None)):
            for accept in ("gzip", "deflate", None):
                sent = squeeze(body) if squeeze else body
                extra = []
                if enc:
                    extra.append(("Content-Encoding", enc))
                if accept:
                    extra.append(("Accept-Encoding", accept))
                r = v.post_infer(conn, "cross_entropy", sent, hlen, extra)
                why = v.check_case(case, r)
                check(why is None, "Content-Encoding %s, Accept-Encoding %s:"
                      " %s", enc, accept, why)
                check(r.header("content-encoding") == accept,
                      "answer Content-Encoding %r for Accept-Encoding %r",
                      r.header("content-encoding"), accept)
                if accept:
                    check(r.chunked and r.header("vary") == "Accept-Encoding",
                          "compressed answer headers %r", r.headers)
    # deflate is the zlib format (RFC 1950), as zlib.decompress reads it
    r = v.post_infer(conn, "cross_entropy", body, hlen,
                     [("Accept-Encoding", "deflate")])
    check(r.body[:1] == b"\x78", "deflate answer is not zlib: %r",
          r.body[:4])
    # q=0 refuses an encoding; the best one offered wins
    for accept, want in (("gzip;q=0", None), ("gzip;q=0, deflate", "deflate"),
                         ("deflate, gzip", "gzip"), ("identity", None),
                         ("br", None), ("*;q=0.1", None)):
        r = v.post_infer(conn, "cross_entropy", body, hlen,
                         [("Accept-Encoding", accept)])
        check(r.status == 200 and r.header("content-encoding") == want,
              "Accept-Encoding %r: %d, Content-Encoding %r", accept,
              r.status, r.header("content-encoding"))
    # a compressed body that is not gzip, or ends early
    expect_error(v.post_infer(conn, "cross_entropy", b"not gzip at all",
                              None, [("Content-Encoding", "gzip")]), 400,
                 "not valid")
    gz = gzip.compress(v.dumps({"inputs": []}).encode())
    expect_error(v.post_infer(conn, "cross_entropy", gz[:-9], None,
                              [("Content-Encoding", "gzip")]), 400,
                 "compressed")
    expect_error(v.post_infer(conn, "cross_entropy", gz + b"junk", None,
                              [("Content-Encoding", "gzip")]), 400,
                 "after its compressed stream")
    # errors come uncompressed JSON
    r = v.post_infer(conn, "cross_entropy", b"{", None,
                     [("Accept-Encoding", "gzip")])
    expect_error(r, 400, "invalid JSON")
    check(r.header("content-encoding") is None, "compressed error")


@test
def header_names_any_case(env):
    conn = env.conn()
    case = big_case(19)
    body, hlen = case.body()
    gz = gzip.compress(body)
    for names in (("inference-header-content-length", "content-encoding",
                   "accept-encoding", "content-length", "host"),
                  ("INFERENCE-HEADER-CONTENT-LENGTH", "CONTENT-ENCODING",
                   "ACCEPT-ENCODING", "CONTENT-LENGTH", "HOST"),
                  ("Inference-Header-Content-Length", "Content-Encoding",
                   "Accept-Encoding", "Content-Length", "Host")):
        r = conn.request("POST", CE, [
            (names[4], conn.hostport), (names[0], str(hlen)),
            (names[1], "GZIP"), (names[2], "Gzip"), (names[3], str(len(gz)))],
            gz)
        why = v.check_case(case, r)
        check(why is None, "header names %s: %s", names[0], why)


# ---------------------------------------------------------------- limits --

def limited(env):
    return env.limited_conn()


@test
def payload_too_large_by_content_length(env):
    """A declared body over --max-body-bytes is refused from its headers,
    before a byte of it is read; the connection closes."""
    conn = limited(env)
    conn.send(v.build_request("POST", CE, [
        ("Host", conn.hostport), ("Content-Length", str(LIMIT_BODY + 1)),
        ("Inference-Header-Content-Length", "100")]))
    r = conn.read_response()
    expect_error(r, 413, "%d bytes" % LIMIT_BODY, "--max-body-bytes")
    check(r.will_close, "413 without Connection: close: %r", r.headers)
    conn.close()
    # exactly at the limit is read (and is then just bad JSON)
    conn = limited(env)
    body = b" " * LIMIT_BODY
    expect_error(v.post_infer(conn, "cross_entropy", body, None), 400,
                 "invalid JSON")
    # a chunked body past the limit: dropped as it comes, 413 at its end
    conn = limited(env)
    r = conn.request("POST", CE, [("Host", conn.hostport),
                                  ("Transfer-Encoding", "chunked")],
                     chunked(b" " * (LIMIT_BODY + 100), 8192))
    expect_error(r, 413, "--max-body-bytes")


@test
def payload_too_large_by_max_elements(env):
    conn = limited(env)
    # JSON: refused while it is read, naming the tensor
    x = np.zeros((20, 60))
    body, hlen = v.infer_body([v.tensor("logits", "FP64", x),
                               v.tensor("targets", "INT64", np.zeros(20))])
    expect_error(v.post_infer(conn, "cross_entropy", body, hlen), 413,
                 "logits", "--max-elements")
    # binary: the shape alone is over the limit
    body, hlen = v.infer_body([v.tensor("logits", "FP16",
                                        np.zeros((20, 60), np.uint16), True),
                               v.tensor("targets", "INT64", np.zeros(20),
                                        True)])
    expect_error(v.post_infer(conn, "cross_entropy", body, hlen), 413,
                 "logits: 20 x 60", "--max-elements %d" % LIMIT_ELEMENTS)
    # mixup_target: N x num_classes
    body, hlen = v.infer_body([v.tensor("targets", "INT64", np.zeros(10))],
                              parameters={"num_classes": 101})
    expect_error(v.post_infer(conn, "mixup_target", body, hlen), 413,
                 "10 x 101", "--max-elements")
    # at the limit it is computed
    case = hard_case(np.zeros((10, 100)), np.zeros(10, np.int64), "FP32",
                     "binary")
    case.outputs = [("loss", None)]
    run(conn, case)


@test
def zip_bomb(env):
    """A small compressed body that inflates past --max-body-bytes: 413 at
    the limit (the body limit is on the inflated size), the daemon stays
    up and serves the next request."""
    conn = limited(env)
    plain = b'{"inputs": [' + b" " * (64 * LIMIT_BODY) + b"]}"
    for enc, squeeze in (("gzip", gzip.compress),
                         ("deflate", zlib.compress)):
        bomb = squeeze(plain, 9)
        check(len(bomb) < LIMIT_BODY // 8, "bomb of %d bytes", len(bomb))
        r = v.post_infer(conn, "cross_entropy", bomb, None,
                         [("Content-Encoding", enc)])
        expect_error(r, 413, "inflated body", "%d bytes" % LIMIT_BODY)
        conn.close()
        conn = limited(env)
    case = hard_case(*small(2, 3, seed=20))
    body, hlen = case.body()
    r = v.post_infer(conn, "cross_entropy", gzip.compress(body), hlen,
                     [("Content-Encoding", "gzip")])
    no_diff(v.check_case(case, r))


# -------------------------------------------------------------- draining --

@test
def draining_after_sigterm(env):
    """A daemon of its own with a request in flight (its headers read, as
    the interim 100 Continue shows, its body not yet sent) gets SIGTERM:
    on connections opened before, /v2/health/ready and the models' ready
    routes turn 503 {"error": ...} with Retry-After (polled until they do,
    within a deadline), so does liveness, the request in flight is then
    answered in full and correctly, and the daemon exits 0."""
    with xh.daemon_process(env.xentd, ["--shutdown-timeout", "60",
                                       "--access-log", "off"]) as (url, proc):
        case = big_case(21)
        body, hlen = case.body()
        inflight = v.Raw(url)
        inflight.send(v.build_request("POST", CE, [
            ("Host", inflight.hostport), ("Content-Length", str(len(body))),
            ("Inference-Header-Content-Length", str(hlen)),
            ("Expect", "100-continue")]))
        interim = inflight.read_response(interim=True)
        check(interim.status == 100, "interim answer %r", interim)
        # Connections opened now: a draining daemon accepts no new one.
        # Polling uses spares: a 200 answered as draining begins may come
        # with Connection: close.
        conns = {}
        names = ("poll0", "poll1", "poll2", "model", "version", "mixup",
                 "live")
        for name in names:
            conns[name] = v.Raw(url)
            expect_json(get(conns[name], "/v2/health/live"), 200,
                        {"live": True})
        expect_json(get(conns["poll0"], "/v2/health/ready"), 200,
                    {"ready": True})
        polling = [conns["poll0"], conns["poll1"], conns["poll2"]]
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        polls = 0
        while True:
            check(polling, "every polling connection was closed")
            r = get(polling[0], "/v2/health/ready")
            polls += 1
            if r.status != 200:
                break
            check(r.json() == {"ready": True}, "ready body %r", r.body)
            check(time.monotonic() < deadline,
                  "/v2/health/ready still 200 after %d polls", polls)
            if polling[0].sock is None:
                polling.pop(0)
        expect_error(r, 503, "shutting down")
        check(r.header("retry-after") is not None, "503 without Retry-After")
        for name, path in (("model", "/v2/models/cross_entropy/ready"),
                           ("version",
                            "/v2/models/cross_entropy/versions/1/ready"),
                           ("mixup", "/v2/models/mixup_target/ready")):
            r = get(conns[name], path)
            expect_error(r, 503, "shutting down")
            check(r.header("retry-after") is not None, "%s without "
                  "Retry-After", path)
        # after the drain delay (0 here) every request on a kept-alive
        # connection is refused, liveness included (issue 11: 503, never a
        # reset)
        expect_error(get(conns["live"], "/v2/health/live"), 503,
                     "shutting down")
        inflight.send(body)
        no_diff(v.check_case(case, inflight.read_response()))
        for c in list(conns.values()) + [inflight]:
            c.close()
        try:
            rc = proc.wait(timeout=30)
        except Exception:
            raise Fail("the daemon did not exit after its last request")
        check(rc == 0, "exit status %d after SIGTERM", rc)


# ------------------------------------------------------------------ main --

class Env:
    def __init__(self, xentd, url, limited_url):
        self.xentd = xentd
        self.url = url
        self.limited_url = limited_url
        self.open = []

    def conn(self):
        c = v.Raw(self.url)
        self.open.append(c)
        return c

    def limited_conn(self):
        c = v.Raw(self.limited_url)
        self.open.append(c)
        return c

    def close_all(self):
        for c in self.open:
            c.close()
        self.open = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("-k", default="", help="run the tests whose name has this")
    opts = ap.parse_args()
    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url, \
                xh.daemon_process(opts.xentd, [
                    "--access-log", "off", "--max-body-bytes",
                    str(LIMIT_BODY), "--max-elements",
                    str(LIMIT_ELEMENTS)]) as (lurl, _):
            env = Env(opts.xentd, url, lurl)
            TESTS.run(lambda fn: fn(env), k=opts.k, after=env.close_all)
    except xh.DaemonError as e:
        TESTS.fail("daemon: %s" % e)
    return TESTS.finish(v.allowance_report())


if __name__ == "__main__":
    sys.exit(main())
