#!/usr/bin/python3
"""Random Open Inference Protocol requests against a real xentd, every
output checked against PyTorch float64 and timm's formulas.

At least 300 requests over both models cover every input, parameter and
datatype: FP64 / FP32 / FP16 / BF16 logits (FP16 and BF16 as raw 2-byte bit
patterns: a random tensor's `.half()` / `.bfloat16()`, whose values widened
to float64 are the reference's logits), JSON (flat and nested) and binary
inputs, INT64 / INT32 labels, ignore_index rows, masked classes (-inf
logits, binary only: JSON has no -inf), mixup with flip, roll and explicit
partners (lambda as a parameter, a [1] or an [N] input), label smoothing
with both conventions, soft targets, class weights, every reduction, every
output JSON or binary (binary_data, binary_data_output), request ids; N up
to 512 and C up to 2000 (sizes skewed small, a few large).

The reference is api/tools/make_expected.py (imported through
v2common.reference): F.cross_entropy forward + autograd where PyTorch has
the case, the definition with timm's mixup_target written out otherwise,
on the values xentd reads (FP32 / FP16 / BF16 inputs widened to float64).
FP64 outputs must agree to relative 1e-12 with an absolute floor of the
smallest normal double; FP32 outputs must be the correctly rounded float32
of the float64 reference, one ulp off only where the reference lies within
1e-12 relative of the midpoint between the two floats. Where a gradient
element is the difference of two nearly equal terms (p_j S and w_j q_j),
both PyTorch's and xentd's doubles carry an error of a few ulps of the
terms, not of the result: such an element is accepted within 1e-12 of the
terms' magnitude, and the closing lines say how many needed it.

Closing line: "oipcrosslang: N passed, M failed".
"""

import argparse
import json
import math
import os
import random
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v2common as v  # noqa: E402
import xentd_harness as xh  # noqa: E402
from make_expected import BadExample  # noqa: E402

NEG_INF_BITS = {"FP16": 0xFC00, "BF16": 0xFF80}


class Gen:
    """Random requests; tags records what they exercised."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.tags = set()

    def tag(self, *names):
        self.tags.update(names)

    def how(self, allow_json=True, big=False):
        """How a tensor travels: binary, or JSON flat / nested."""
        if not allow_json or big:
            return "binary"
        return self.r.choice(["binary", "binary", "flat", "nested"])

    # Large batches at fixed places: (N, C, logits datatype); each asks
    # for grad among its outputs.
    LARGE = {3: (512, 2000, "FP32"), 41: (300, 1000, "FP64"),
             97: (512, 2000, "BF16"), 150: (512, 2000, "FP16"),
             222: (256, 2000, "FP64"), 301: (512, 1000, "FP32")}

    def size(self, index):
        """(N, C, logits datatype or None): mostly small, some medium."""
        if index in self.LARGE:
            return self.LARGE[index]
        if self.r.random() < 0.1:
            return self.r.randint(16, 128), self.r.randint(20, 300), None
        return self.r.randint(1, 12), self.r.randint(2, 20), None

    def sized(self, n, c):
        if n == 512:
            self.tag("N=512")
        if c == 2000:
            self.tag("C=2000")
        if n * c >= 250000:
            self.tag("large")

    def build(self, model, index):
        """(case, its reference): statistics are asked only of batches
        whose confidences make_expected can bin (none within 1e-9 of an
        ECE bin edge, e.g. a row of confidence 1)."""
        case = (self.loss_case(index) if model == "cross_entropy"
                else self.targets_case(index))
        try:
            return case, v.case_reference(case)
        except BadExample as e:
            if "bin edge" not in str(e) or case.outputs is None:
                raise
        case.outputs = [o for o in case.outputs
                        if o[0] not in v.STATS_OUTPUTS] or [("loss", None)]
        self.tag("stats-dropped")
        return case, v.case_reference(case)

    def loss_case(self, index):
        r = self.r
        n, c, ldt = self.size(index)
        self.sized(n, c)
        big = n * c > 20000
        case = v.Case()
        ldt = ldt or r.choice(["FP64", "FP32", "FP16", "BF16"])
        lhow = "binary" if ldt in ("FP16", "BF16") else self.how(big=big)
        scale = r.choice([1.0, 1.0, 4.0, 30.0])
        x = self.np.normal(0.0, scale, (n, c))
        if ldt in ("FP64", "FP32") and r.random() < 0.05:
            x += r.choice([1e4, -1e4])  # far-out logits stay exact
            self.tag("far-out")
        send_x, xr = v.narrow(x, ldt)
        send_x = send_x.copy()
        xr = xr.copy()
        spec = {}
        hard = r.random() < 0.7
        eps = r.choice([0.0, 0.0, 0.1, r.random(), 1.0])
        convention = "uniform"
        mixup = None
        ignored = [False] * n
        if hard:
            ign = -100
            if r.random() < 0.35 and n >= 2:
                ign = r.choice([-100, -100, -1, 255, c])
                self.tag("ignore_index")
            labels = [k for k in range(c) if k != ign]
            t = [r.choice(labels) for _ in range(n)]
            if r.random() < 0.45:
                mixup = self.mixup(n, ldt)
            partners = self.partners(mixup, n)
            if ign != -100 or "ignore_index" in self.tags and r.random() < .1:
                if mixup is None:
                    ignored = [r.random() < 0.4 for _ in range(n)]
                elif mixup["pairing"] == "flip":
                    for k in range(n // 2):
                        if r.random() < 0.4:
                            ignored[k] = ignored[n - 1 - k] = True
                elif mixup["pairing"] == "explicit":
                    ignored = [r.random() < 0.4 for _ in range(n)]
                    kept = [k for k in range(n) if not ignored[k]]
                    if kept:
                        partners = [r.choice(kept) for _ in range(n)]
                        mixup["partners"] = partners
                if all(ignored):
                    ignored[r.randrange(n)] = False
                    if mixup is not None:
                        ignored = [False] * n
                t = [ign if ignored[k] else t[k] for k in range(n)]
                spec["ignore_index"] = ign
                if ign != -100 or r.random() < 0.5:
                    case.parameters["ignore_index"] = ign
            if r.random() < 0.3 and c >= 3:
                convention = "others"
            tdt = r.choice(["INT64", "INT32"])
            case_t = np.array(t, np.int64)
            spec["t"] = case_t
            self.tag("targets:" + tdt)
        else:
            y = self.np.random((n, c)) * self.np.choice([1.0, 3.0])
            y[self.np.random((n, c)) < 0.3] = 0.0
            ydt = r.choice(["FP64", "FP32"])
            ys, yr = v.narrow(y, ydt)
            spec["y"] = yr
            self.tag("soft_targets:" + ydt)
        # masked classes (binary logits only): never one that carries
        # target mass; two or more left in a row
        if lhow == "binary" and r.random() < 0.3:
            for k in range(n):
                need = set()
                if hard and not ignored[k]:
                    need.add(int(spec["t"][k]))
                    if mixup is not None:
                        need.add(int(spec["t"][partners[k]]))
                cols = [j for j in range(c) if j not in need and
                        r.random() < 0.3 and (hard or spec["y"][k][j] == 0)]
                if c - len(cols) < 2:
                    cols = cols[:max(0, c - 2)]
                for j in cols:
                    xr[k, j] = -math.inf
                    send_x[k, j] = (NEG_INF_BITS[ldt] if ldt in NEG_INF_BITS
                                    else -np.inf)
            if np.isinf(xr).any():
                self.tag("masked")
        case.add("logits", ldt, lhow, send_x)
        self.tag("logits:" + ldt, "logits:" + lhow)
        spec["x"] = xr
        if hard:
            case.add("targets", tdt, self.how(big=big), spec["t"])
        else:
            case.add("soft_targets", ydt, self.how(big=big), ys)
        if eps or r.random() < 0.3:
            case.parameters["label_smoothing"] = eps
        spec["label_smoothing"] = eps
        if convention == "others" or r.random() < 0.1:
            case.parameters["smoothing"] = convention
        spec["smoothing"] = convention
        self.tag("smoothing:" + convention)
        if mixup is not None:
            self.add_mixup(case, spec, mixup, n)
        if r.random() < 0.4:
            w = np.array([r.choice([r.uniform(0.1, 3.0), 1.0, 0.0])
                          for _ in range(c)])
            wdt = r.choice(["FP64", "FP32"])
            ws, wr = v.narrow(w, wdt)
            case.add("class_weights", wdt, self.how(), ws)
            spec["weights"] = wr
            self.tag("class_weights:" + wdt)
        red = r.choice(["mean", "mean", "sum", "none", None])
        if red is not None:
            case.parameters["reduction"] = red
        spec["reduction"] = red or "mean"
        self.tag("reduction:" + (red or "mean"))
        self.outputs(case, v.ALL_OUTPUTS)
        if index in self.LARGE and "grad" not in case.output_names():
            case.outputs = list(case.outputs or [])
            case.outputs.append(("grad", r.choice([True, False])))
        if r.random() < 0.3:
            case.request_id = "case-%d" % index
        case.spec = spec
        return case

    def mixup(self, n, ldt):
        r = self.r
        lam = (list(self.np.random(n)) if r.random() < 0.5 else r.random())
        if r.random() < 0.1:
            lam = 1.0
        pairing = r.choice(["flip", "roll", "explicit", None])
        m = {"lam": lam, "pairing": pairing or "flip",
             "say_flip": pairing == "flip"}
        if pairing == "explicit":
            m["partners"] = [r.randrange(n) for _ in range(n)]
        return m

    def partners(self, mixup, n):
        if mixup is None:
            return list(range(n))
        if mixup["pairing"] == "flip":
            return [n - 1 - k for k in range(n)]
        if mixup["pairing"] == "roll":
            return [(k - 1) % n for k in range(n)]
        return mixup["partners"]

    def add_mixup(self, case, spec, mixup, n):
        """lambda as a parameter (one number), or an input [1] / [N]
        (FP32 / FP64); partners by parameter (flip, roll) or input."""
        r = self.r
        lam = mixup["lam"]
        if np.ndim(lam) == 0 and r.random() < 0.4:
            case.parameters["mixup_lambda"] = float(lam)
            spec["lam"] = float(lam)
            self.tag("mixup_lambda:param")
        else:
            vals = [lam] if np.ndim(lam) == 0 else lam
            ldt = r.choice(["FP64", "FP32"])
            ls, lr = v.narrow(vals, ldt)
            case.add("mixup_lambda", ldt, self.how(), ls)
            spec["lam"] = float(lr[0]) if np.ndim(lam) == 0 else lr
            self.tag("mixup_lambda:" + ldt, "mixup_lambda:" + (
                "[1]" if np.ndim(lam) == 0 else "[N]"))
        if mixup["pairing"] == "explicit":
            pdt = r.choice(["INT64", "INT32"])
            case.add("mixup_partner", pdt, self.how(),
                     np.array(mixup["partners"], np.int64))
            spec["pairing"] = list(mixup["partners"])
            self.tag("mixup_partner:" + pdt)
        else:
            if mixup["pairing"] == "roll" or mixup["say_flip"]:
                case.parameters["mixup_pairing"] = mixup["pairing"]
            spec["pairing"] = mixup["pairing"]
        self.tag("pairing:" + mixup["pairing"])

    def outputs(self, case, names):
        r = self.r
        if r.random() < 0.25:
            case.outputs = None
            if r.random() < 0.5:
                case.binary_output = True
                self.tag("binary_data_output")
            self.tag("outputs:default")
            return
        chosen = [nm for nm in names if r.random() < 0.5] or [names[0]]
        r.shuffle(chosen)
        if r.random() < 0.3:
            case.binary_output = r.choice([True, False])
            self.tag("binary_data_output")
        case.outputs = [(nm, r.choice([True, False, None])) for nm in chosen]
        for nm in chosen:
            self.tag("output:" + nm)

    # -------------------------------------------------------- mixup_target --

    def targets_case(self, index):
        r = self.r
        n = r.randint(1, 40)
        nc = r.randint(2, 30)
        if index % 5 == 1:
            n, nc = 512, r.choice([100, 2000])
        self.sized(n, nc)
        case = v.Case("mixup_target")
        eps = r.choice([0.0, 0.1, r.random()])
        conv = r.choice(["uniform", "others"])
        ign = -100
        labels = list(range(nc))
        t = [r.choice(labels) for _ in range(n)]
        spec = {"num_classes": nc, "label_smoothing": eps,
                "smoothing": conv}
        case.parameters = {"num_classes": nc, "label_smoothing": eps,
                           "smoothing": conv}
        mixup = None
        if r.random() < 0.7:
            mixup = self.mixup(n, "FP64")
        if r.random() < 0.3 and (mixup is None or
                                 mixup["pairing"] == "explicit"):
            ign = r.choice([-1, 255 + nc, nc])
            ignored = [r.random() < 0.3 for _ in range(n)]
            if all(ignored):
                ignored[0] = False
            kept = [k for k in range(n) if not ignored[k]]
            if mixup is not None:
                mixup["partners"] = [r.choice(kept) for _ in range(n)]
            t = [ign if ignored[k] else t[k] for k in range(n)]
            case.parameters["ignore_index"] = ign
            spec["ignore_index"] = ign
            self.tag("mixup_target:ignore_index")
        tdt = r.choice(["INT64", "INT32"])
        spec["t"] = np.array(t, np.int64)
        case.add("targets", tdt, self.how(big=n * nc > 20000), spec["t"])
        if mixup is not None:
            self.add_mixup(case, spec, mixup, n)
        if r.random() < 0.7:
            case.outputs = [("targets", r.choice([True, False, None]))]
        if r.random() < 0.3:
            case.binary_output = r.choice([True, False])
        case.spec = spec
        self.tag("model:mixup_target", "mixup_target:" + tdt)
        return case


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("--cases", type=int, default=340)
    ap.add_argument("--targets-cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=20261129)
    opts = ap.parse_args()
    gen = Gen(opts.seed)
    passed = failed = 0
    t_start = time.monotonic()
    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url:
            conn = v.Raw(url)
            jobs = [("cross_entropy", i) for i in range(opts.cases)]
            jobs += [("mixup_target", i) for i in range(opts.targets_cases)]
            for model, i in jobs:
                case = None
                try:
                    case, ref = gen.build(model, i)
                    body, hlen = case.body()
                    resp = v.post_infer(conn, case.model, body, hlen)
                    why = v.check_case(case, resp, ref)
                except Exception as e:  # one broken case is one failure
                    why = "%s: %s\n%s" % (type(e).__name__, e,
                                          traceback.format_exc(limit=3))
                    conn.close()
                if why is None:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL %s case %d: %s\n  request: %s" % (
                        model, i, why, describe(case)))
            conn.close()
    except xh.DaemonError as e:
        print("oipcrosslang: daemon: %s" % e)
        failed += 1
    needed = ({"logits:" + d for d in ("FP64", "FP32", "FP16", "BF16")} |
              {"logits:binary", "logits:flat", "logits:nested",
               "targets:INT64", "targets:INT32", "soft_targets:FP32",
               "soft_targets:FP64", "class_weights:FP32",
               "class_weights:FP64", "mixup_lambda:FP32",
               "mixup_lambda:FP64", "mixup_lambda:[1]", "mixup_lambda:[N]",
               "mixup_lambda:param", "mixup_partner:INT64",
               "mixup_partner:INT32", "pairing:flip", "pairing:roll",
               "pairing:explicit", "smoothing:uniform", "smoothing:others",
               "reduction:mean", "reduction:sum", "reduction:none",
               "ignore_index", "masked", "far-out", "binary_data_output",
               "outputs:default", "model:mixup_target",
               "mixup_target:INT64", "mixup_target:INT32",
               "mixup_target:ignore_index", "large", "N=512", "C=2000"} |
              {"output:" + o for o in v.ALL_OUTPUTS})
    missing = needed - gen.tags
    if missing:
        print("oipcrosslang: options never exercised: %s" % sorted(missing))
        failed += 1
    for line in v.allowance_report():
        print("oipcrosslang: %s" % line)
    print("oipcrosslang: %d requests in %.1f s" % (
        passed + failed, time.monotonic() - t_start))
    print("oipcrosslang: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def describe(case):
    if case is None:
        return "(not built)"
    ins = ["%s %s %s %s" % (n, dt, how, list(np.shape(vals)))
           for n, dt, how, vals in case.inputs]
    return json.dumps({"model": case.model, "inputs": ins,
                       "parameters": case.parameters,
                       "outputs": case.outputs,
                       "binary_data_output": case.binary_output})


if __name__ == "__main__":
    sys.exit(main())
