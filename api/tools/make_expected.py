#!/usr/bin/python3
"""make_expected.py - the expected response.json of every successful example.

Reads each api/examples/<case>/ folder whose status is 200 and computes the
body xentd must answer from the request alone, with PyTorch in float64,
timm's formulas and scikit-learn, never with xent itself:

  POST /v1/loss     torch.nn.functional.cross_entropy wherever PyTorch has
                    the case (hard labels with label_smoothing, weight,
                    ignore_index; probability targets), and the definition
                    l_n = -sum_c w_c q_nc log_softmax(x_n)_c with q built as
                    timm's mixup_target otherwise (mixup, the "others"
                    convention, masked classes). Gradients come from autograd.
                    The other loss families and K-dimensional batches (a
                    `loss`, `shape` or `class_axis`, or logits of more than
                    two dimensions) come from the PyTorch reference of
                    tests/reference/families.py:
                    F.binary_cross_entropy_with_logits,
                    torchvision.ops.sigmoid_focal_loss, F.cross_entropy on
                    (N, C, d1, ..., dk), softmax focal and poly-1 written with
                    torch ops, q built as timm (one-hot smoothed, then mixed,
                    then BinaryCrossEntropy's threshold) and Keras (binary
                    smoothing) build it. The request's layout (classes last,
                    flat with a shape) is read into channels-first and the
                    answers are written back in it.
  POST /v1/targets  timm's mixup_target(target, num_classes, lam, smoothing).
  POST /v1/metrics  scikit-learn (accuracy_score, top_k_accuracy_score where
                    no logit ties, log_loss, precision_recall_fscore_support,
                    confusion_matrix) and numpy with math.fsum for the rest
                    (the formulas of tests/reference/test_metrics_reference.py).
  POST /v1/metrics/merge
                    the same over the rows of its states: each state must be
                    the state of another 200 case's answer, whose rows it
                    stands for.
  classification_metrics (v2 infer)
                    the same, as tensors; its states input likewise.
  GET /healthz, GET /readyz
                    {"status": "ok", "version": <lib/include/xent.h>}.

A state's `data` (libxent's serialization) cannot be computed without libxent:
it is kept from the current response.json (xentd's answer, saved there when
the case was made), decoded, and every count in it must equal, every sum
agree to 1e-12 with, what the request gives; two cases of the same rows and
options (a merge and the one request) must hold the same data. The replay
compares its bytes with the daemon's.

Other folders (errors, /v1) hold hand-written bodies and are left alone.
Numbers are printed with repr() (the shortest text that reads back to the
same double); for "precision": "float32" the float64 result is rounded to
float32 and printed as the shortest text that reads back to that float32.

Usage: make_expected.py [--check | --write] [EXAMPLES_DIR]
  --write   (default) rewrite response.json of every 200 example
  --check   recompute and compare with the files; exit 1 on a difference
"""
import base64
import json
import math
import os
import re
import struct
import sys
import warnings
import zlib
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "tests", "reference"))
from test_metrics_reference import (  # noqa: E402
    bin_of, exact_sum, fmean, no_ties, rank_lower_index, row_parts)
import families  # noqa: E402  (the PyTorch reference of the loss families)
import xent_ctypes as xc  # noqa: E402  (its enum values; no library is loaded)

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUTPUTS = ["loss", "per_sample", "grad"]
ECE_BINS = 15


class BadExample(Exception):
    pass


def version():
    parts = {}
    with open(os.path.join(TOP, "lib", "include", "xent.h")) as f:
        for line in f:
            m = re.match(r"#define XENT_VERSION_(MAJOR|MINOR|PATCH) (\d+)", line)
            if m:
                parts[m.group(1)] = m.group(2)
    return "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"])


def strict_json(text):
    """json.loads that refuses NaN/Infinity and duplicate keys."""

    def pairs(items):
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            raise BadExample("duplicate key in a 200 request")
        return dict(items)

    def constant(name):
        raise BadExample("%s literal in a 200 request" % name)

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


# ------------------------------------------------------------- targets q --


def one_hot(target, num_classes, on_value, off_value):
    """timm's one_hot, in float64: off everywhere, on at the label."""
    idx = torch.tensor(target, dtype=torch.long).view(-1, 1)
    return torch.full((idx.size(0), num_classes), off_value).scatter_(
        1, idx, on_value)


def mixup_target(target, num_classes, lam=1.0, smoothing=0.0):
    """timm.data.mixup.mixup_target: smooth each one-hot, then mix with the
    batch flipped."""
    off_value = smoothing / num_classes
    on_value = 1.0 - smoothing + off_value
    y1 = one_hot(target, num_classes, on_value, off_value)
    y2 = one_hot(list(reversed(target)), num_classes, on_value, off_value)
    return y1 * lam + y2 * (1.0 - lam)


def smoothed_rows(labels, unmasked, eps, convention):
    """s(t) per row (semantics 1.1), K = unmasked classes of the row; with no
    masked class and 'uniform' this is timm's one_hot(on, off)."""
    n, c = unmasked.shape
    s = torch.zeros(n, c)
    for i, t in enumerate(labels):
        k = int(unmasked[i].sum())
        if convention == "uniform":
            on, off = 1.0 - eps + eps / k, eps / k
        else:
            if k < 2:
                raise BadExample("'others' needs two unmasked classes")
            on, off = 1.0 - eps, eps / (k - 1)
        s[i] = torch.where(unmasked[i], torch.tensor(off), torch.tensor(0.0))
        s[i, t] = on
    return s


def partners(mixup, n):
    pairing = mixup.get("pairing", "flip")
    if pairing == "flip":
        return [n - 1 - i for i in range(n)]
    if pairing == "roll":
        return [(i - 1) % n for i in range(n)]
    return list(pairing)


def lambdas(mixup, n):
    lam = mixup["lambda"]
    return [float(lam)] * n if not isinstance(lam, list) else [float(v) for v in lam]


def hard_targets(labels, unmasked, eps, convention, mixup, ignore_index):
    """q for hard labels (semantics 1.1, 1.2); ignored rows are all zero."""
    n, c = unmasked.shape
    keep = [t != ignore_index for t in labels]
    safe = [t if k else 0 for t, k in zip(labels, keep)]
    s = smoothed_rows(safe, unmasked, eps, convention)
    if mixup is None:
        q = s
    else:
        pi = partners(mixup, n)
        lam = torch.tensor(lambdas(mixup, n)).view(-1, 1)
        # The partner's label, smoothed over this row's unmasked classes.
        s2 = smoothed_rows([safe[j] for j in pi], unmasked, eps, convention)
        q = lam * s + (1.0 - lam) * s2
    return q * torch.tensor(keep, dtype=torch.float64).view(-1, 1)


# ------------------------------------------------------------------ loss --


# ------------------------------------------------ families and K-dim --

FAMILY_CASE = {"cross_entropy": "ce-kdim", "binary_cross_entropy": "bce",
               "sigmoid_focal": "sigmoid-focal", "softmax_focal": "softmax-focal",
               "poly1": "poly1"}
SMOOTHING_ENUM = {"uniform": xc.SMOOTH_UNIFORM, "others": xc.SMOOTH_OTHERS,
                  "binary": xc.SMOOTH_BINARY}
REDUCTION_ENUM = {"mean": xc.REDUCE_MEAN, "sum": xc.REDUCE_SUM,
                  "none": xc.REDUCE_NONE}


def nested_shape(v):
    dims = []
    while isinstance(v, list):
        dims.append(len(v))
        if not v:
            break
        v = v[0]
    return dims


def request_layout(req):
    """The batch's layout: (shape as sent, N, C, position dims, class axis
    last, flat)."""
    flat_ = "shape" in req
    shape = list(req["shape"]) if flat_ else nested_shape(req["logits"])
    r = len(shape)
    axis = int(req.get("class_axis", 1))
    norm = axis + r if axis < 0 else axis
    if norm not in (1, r - 1):
        raise BadExample("class_axis %d is refused for %d dimensions" % (axis, r))
    last = r > 2 and norm == r - 1
    dims = tuple(shape[1:-1]) if last else tuple(shape[2:])
    c = shape[-1] if last else shape[1]
    return shape, shape[0], c, dims, last, flat_


def to_rows(values, shape, last, with_c):
    """A batch array as sent (nested or flat) -> (rows, C) or (rows,) numpy,
    rows the positions n * inner + d."""
    a = np.array(flat(values), dtype=object)
    cax = len(shape) - 1 if last else 1
    full = list(shape) if with_c else [d for i, d in enumerate(shape) if i != cax]
    a = a.reshape(full)
    if not with_c:
        return a.reshape(-1)
    if not last:
        a = np.moveaxis(a, 1, -1)
    return a.reshape(-1, shape[cax])


def from_cf(t, last, flat_):
    """A channels-first (N, C, *dims) tensor -> the request's layout, as
    nested lists (flat with a shape)."""
    a = t.detach().numpy()
    if last:
        a = np.moveaxis(a, 1, -1)
    return a.reshape(-1).tolist() if flat_ else a.tolist()


def positions_out(t, flat_):
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return a.reshape(-1).tolist() if flat_ else a.tolist()


def family_case(req):
    """A request -> the case dict of tests/reference/families.py, plus the
    layout to answer in."""
    shape, n, c, dims, last, flat_ = request_layout(req)
    inner = int(np.prod(dims, dtype=np.int64)) if dims else 1
    rows = n * inner
    xr = to_rows(req["logits"], shape, last, True)
    x = np.array([[-math.inf if v is None else float(v) for v in r] for r in xr],
                 dtype=np.float64)
    ignore_index = int(req.get("ignore_index", -100))
    targets = soft = None
    if "targets" in req:
        targets = np.array([int(v) for v in to_rows(req["targets"], shape, last,
                                                     False)], dtype=np.int64)
        ignored = targets == ignore_index
    else:
        soft = np.array(to_rows(req["soft_targets"], shape, last, True),
                        dtype=np.float64)
        ignored = np.zeros(rows, dtype=bool)
    mixup = req.get("mixup")
    lam = partners_ = pi = None
    pairing = xc.PAIR_FLIP
    if mixup is not None:
        lam = np.array(lambdas(mixup, n), dtype=np.float64)
        if not isinstance(mixup["lambda"], list):
            lam = lam[:1]
        pi = np.array(partners(mixup, n), dtype=np.int64)
        p_ = mixup.get("pairing", "flip")
        pairing = (xc.PAIR_EXPLICIT if isinstance(p_, list)
                   else xc.PAIR_FLIP if p_ == "flip" else xc.PAIR_ROLL)
        if pairing == xc.PAIR_EXPLICIT:
            partners_ = pi
    alpha = req.get("focal_alpha", 0.25)
    alpha_pc = None
    if isinstance(alpha, list):
        alpha_pc, alpha = np.array(alpha, dtype=np.float64), 0.25
    thr = req.get("target_threshold")
    case = {
        "fam": FAMILY_CASE[req.get("loss", "cross_entropy")], "index": 0,
        "tags": set(), "n": n, "c": c, "dims": dims, "inner": inner, "rows": rows,
        "layout": ("2-D" if not dims and not last
                   else "axis last" if last else "axis 1"),
        "x": x, "dname": "f64", "lib_dtype": None, "mask": np.isneginf(x),
        "targets": targets, "soft": soft, "ignored": ignored,
        "ignore_index": ignore_index,
        "eps": float(req.get("label_smoothing", 0.0)),
        "conv": SMOOTHING_ENUM[req.get("smoothing", "uniform")],
        "lam": lam, "pairing": pairing, "partners": partners_, "pi": pi,
        "weights": (np.array(req["class_weights"], dtype=np.float64)
                    if "class_weights" in req else None),
        "pos_weight": (np.array(req["pos_weight"], dtype=np.float64)
                       if "pos_weight" in req else None),
        "threshold": None if thr is None or float(thr) < 0 else float(thr),
        "sum_classes": bool(req.get("sum_classes", False)),
        "gamma": float(req.get("focal_gamma", 2.0)),
        "alpha": float(alpha), "alpha_pc": alpha_pc,
        "epsilon": float(req.get("poly_epsilon", 2.0)),
        "reduction": REDUCTION_ENUM[req.get("reduction", "mean")],
    }
    return case, shape, last, flat_


def expected_family(req):
    """/v1/loss for a loss family or a K-dimensional batch, from
    tests/reference/families.py's PyTorch reference."""
    case, shape, last, flat_ = family_case(req)
    n, c, dims, rows = case["n"], case["c"], case["dims"], case["rows"]
    binary = case["fam"] in ("bce", "sigmoid-focal")
    ref = families.reference(case)
    if ref.get("nan"):
        raise BadExample("torchvision's gradient is NaN in a 200 example")
    outputs = req.get("outputs", DEFAULT_OUTPUTS)
    body = {"n": n, "classes": c}
    if flat_ or len(shape) > 2:
        body["shape"] = [int(d) for d in shape]
    if "loss" in outputs and req.get("reduction", "mean") != "none":
        body["loss"] = ref["loss"][0]
    if "per_sample" in outputs:
        body["per_sample"] = positions_out(ref["per_sample"][0], flat_)
    for key in ("grad", "targets", "probs"):
        if key in outputs:
            body[key] = from_cf(ref[key][0], last, flat_)
    if "elementwise" in outputs:
        if not binary:
            raise BadExample("elementwise asked of a softmax loss in a 200 example")
        body["elementwise"] = from_cf(ref["elementwise"][0], last, flat_)
    if "stats" in outputs:
        if binary:
            raise BadExample("stats asked of a binary loss in a 200 example")
        p_rows = ref["probs"][0].movedim(1, -1).reshape(rows, c)
        ignored = case["ignored"]
        keep = torch.from_numpy(~ignored)
        own = (torch.from_numpy(np.where(ignored, -1, case["targets"]))
               if case["targets"] is not None
               else torch.argmax(torch.from_numpy(case["soft"]), 1))
        st = stats(p_rows, keep, own)
        if not flat_ and len(shape) > 2:
            st["predicted"] = np.array(st["predicted"]).reshape((n,) + dims).tolist()
        body["stats"] = st
    for v in flat(body.get("grad", [])) + flat(body.get("per_sample", [])):
        if not math.isfinite(v):
            raise BadExample("non-finite result in a 200 example")
    return body


def expected_loss(req):
    if ("loss" in req or "shape" in req or "class_axis" in req
            or len(nested_shape(req["logits"])) > 2):
        return expected_family(req)
    x = torch.tensor([[-math.inf if v is None else float(v) for v in row]
                      for row in req["logits"]])
    n, c = x.shape
    unmasked = torch.isfinite(x)
    eps = float(req.get("label_smoothing", 0.0))
    convention = req.get("smoothing", "uniform")
    reduction = req.get("reduction", "mean")
    ignore_index = int(req.get("ignore_index", -100))
    outputs = req.get("outputs", DEFAULT_OUTPUTS)
    mixup = req.get("mixup")
    has_w = "class_weights" in req
    w = torch.tensor([float(v) for v in req["class_weights"]]) if has_w else torch.ones(c)
    hard = "targets" in req
    masked = not bool(unmasked.all())

    if hard:
        labels = [int(t) for t in req["targets"]]
        keep = torch.tensor([t != ignore_index for t in labels])
        q = hard_targets(labels, unmasked, eps, convention, mixup, ignore_index)
        own_label = torch.tensor([t if t != ignore_index else -1 for t in labels])
    else:
        y = torch.tensor(req["soft_targets"], dtype=torch.float64)
        keep = torch.ones(n, dtype=torch.bool)
        k = unmasked.sum(1, keepdim=True).to(torch.float64)
        q = ((1.0 - eps) * y + eps / k) * unmasked
        own_label = torch.argmax(y, 1)

    lam = lambdas(mixup, n) if mixup else [1.0] * n
    pi = partners(mixup, n) if mixup else list(range(n))
    if reduction != "mean":
        den = 1.0
    elif hard:
        # sum over kept rows of lam w_t + (1 - lam) w_pi (semantics 3)
        den = sum(lam[i] * float(w[labels[i]]) + (1 - lam[i]) * float(w[labels[pi[i]]])
                  for i in range(n) if labels[i] != ignore_index)
    else:
        den = float(n)
    if den == 0:
        raise BadExample("zero denominator in a 200 example")

    def definition(xl):
        """l_n = -sum_c w_c q_nc lp_nc, with 0 * log 0 = 0 on masked classes."""
        lp = F.log_softmax(xl, dim=1)
        wq = q * w
        per = -torch.where(wq != 0, wq * lp, torch.zeros(())).sum(1)
        return per, per.sum() / den

    xl = x.clone().requires_grad_(True)
    direct = not masked and mixup is None and (convention == "uniform" or eps == 0)
    if direct:
        # PyTorch's own paths: class indices (weight, ignore_index, smoothing)
        # or class probabilities (weights do not enter the mean's N).
        target = torch.tensor(labels) if hard else y
        kw = dict(weight=w if has_w else None, label_smoothing=eps)
        if hard:
            kw["ignore_index"] = ignore_index
        per = F.cross_entropy(xl, target, reduction="none", **kw)
        red = F.cross_entropy(xl, target, reduction="sum" if reduction == "none" else reduction, **kw)
        # The definition must agree with PyTorch (semantics 2 and 3).
        xd = x.clone().requires_grad_(True)
        per_d, red_d = definition(xd)
        red_d.backward()
        agree(per, per_d, "per_sample")
        agree(red, red_d, "loss")
        gd = xd.grad
    else:
        per, red = definition(xl)
        gd = None
        if mixup is not None and not masked and not has_w and convention == "uniform":
            check_mixup_linearity(x, labels, mixup, eps, ignore_index, per)

    red.backward()
    grad = xl.grad.detach().clone()
    if gd is not None:
        agree(grad, gd, "grad")
    if not bool(torch.isfinite(grad).all()) or not bool(torch.isfinite(per).all()):
        raise BadExample("non-finite result in a 200 example")

    body = {"n": n, "classes": c}
    if "loss" in outputs and reduction != "none":
        body["loss"] = float(red)
    if "per_sample" in outputs:
        body["per_sample"] = per.detach().tolist()
    if "grad" in outputs:
        body["grad"] = grad.tolist()
    if "targets" in outputs:
        body["targets"] = q.tolist()
    probs = torch.softmax(x, dim=1)
    if "probs" in outputs:
        body["probs"] = probs.tolist()
    if "stats" in outputs:
        body["stats"] = stats(probs, keep, own_label)
    return body


def agree(a, b, what):
    if not torch.allclose(a.detach(), b.detach(), rtol=1e-13, atol=1e-14):
        raise BadExample("PyTorch and the definition disagree on %s" % what)


def check_mixup_linearity(x, labels, mixup, eps, ignore_index, per):
    """timm#46: CE(x, q_n) = lam CE(x, s(t_n)) + (1 - lam) CE(x, s(t_pi(n))),
    each term from PyTorch's own label-smoothing path."""
    n = len(labels)
    lam = torch.tensor(lambdas(mixup, n))
    pi = partners(mixup, n)
    t = torch.tensor(labels)
    a = F.cross_entropy(x, t, reduction="none", label_smoothing=eps, ignore_index=ignore_index)
    keep = (t != ignore_index).to(torch.float64)
    tp = torch.tensor([labels[j] if labels[j] != ignore_index else 0 for j in pi])
    b = F.cross_entropy(x, tp, reduction="none", label_smoothing=eps)
    mixed = (lam * a + (1 - lam) * b) * keep
    if not torch.allclose(mixed, per.detach(), rtol=1e-13, atol=1e-13):
        raise BadExample("mixup linearity check failed")


def stats(probs, keep, own_label):
    """Semantics 5, over the kept rows."""
    n = probs.shape[0]
    conf, pred = probs.max(1)  # first index on ties, as torch.argmax
    rows = [i for i in range(n) if bool(keep[i])]
    predicted = [int(pred[i]) if bool(keep[i]) else -1 for i in range(n)]
    if not rows:
        return {"accuracy": 0.0, "mean_confidence": 0.0, "ece": 0.0,
                "mean_entropy": 0.0, "predicted": predicted, "counted": 0}
    ent = []
    for i in rows:
        p = probs[i]
        ent.append(float(-torch.where(p > 0, p * torch.log(p), torch.zeros(())).sum()))
    correct = [float(int(pred[i]) == int(own_label[i])) for i in rows]
    confs = [float(conf[i]) for i in rows]
    ece = 0.0
    for b in range(ECE_BINS):
        lo, hi = b / ECE_BINS, (b + 1) / ECE_BINS
        members = [j for j, v in enumerate(confs) if (v > lo or (b == 0 and v >= lo)) and v <= hi]
        for j, v in enumerate(confs):
            if abs(v - lo) < 1e-9 or abs(v - hi) < 1e-9:
                raise BadExample("a confidence sits on an ECE bin edge; change the example")
        if members:
            acc = sum(correct[j] for j in members) / len(members)
            cb = sum(confs[j] for j in members) / len(members)
            ece += len(members) / len(rows) * abs(acc - cb)
    return {"accuracy": sum(correct) / len(rows),
            "mean_confidence": sum(confs) / len(rows),
            "ece": ece,
            "mean_entropy": sum(ent) / len(rows),
            "predicted": predicted,
            "counted": len(rows)}


# --------------------------------------------------------------- targets --


def expected_targets(req):
    labels = [int(t) for t in req["targets"]]
    c = int(req["num_classes"])
    eps = float(req.get("label_smoothing", 0.0))
    convention = req.get("smoothing", "uniform")
    mixup = req.get("mixup")
    ignore_index = int(req.get("ignore_index", -100))
    q = hard_targets(labels, torch.ones(len(labels), c, dtype=torch.bool), eps,
                     convention, mixup, ignore_index)
    plain_flip = (mixup is None or mixup.get("pairing", "flip") == "flip"
                  and not isinstance(mixup["lambda"], list))
    if convention == "uniform" and plain_flip and ignore_index not in labels:
        # The generalised q must be timm's own function where timm has one.
        lam = float(mixup["lambda"]) if mixup else 1.0
        timm_q = mixup_target(labels, c, lam, eps)
        if not torch.allclose(q, timm_q, rtol=0, atol=1e-15):
            raise BadExample("q differs from timm's mixup_target")
        q = timm_q
    return {"targets": q.tolist()}


# ------------------------------------------------ Open Inference Protocol --

V2_DTYPES = ("FP64", "FP32", "FP16", "BF16", "INT64", "INT32")


def as_dtype(values, dtype):
    """The values a tensor of this datatype holds (floats as Python floats,
    -inf for null; FP32/FP16/BF16 rounded to the type, once)."""
    if dtype in ("INT64", "INT32"):
        return [int(v) for v in values]
    if dtype == "BYTES":
        return [str(v) for v in values]
    x = torch.tensor([-math.inf if v is None else float(v) for v in values],
                     dtype=torch.float64)
    if dtype == "FP32":
        x = x.float().double()
    elif dtype == "FP16":
        x = x.half().double()
    elif dtype == "BF16":
        x = x.bfloat16().double()
    return x.tolist()


def flat(data):
    if isinstance(data, list):
        return [v for e in data for v in flat(e)]
    return [data]


def v2_tensors(req, tensors):
    """name -> (datatype, shape, values) of every input: data from the
    header, or, for a binary input, from request.tensors.json."""
    out = {}
    for t in req["inputs"]:
        if "data" in t:
            values = flat(t["data"])
        else:
            values = flat((tensors or {})[t["name"]])
        out[t["name"]] = (t["datatype"], t["shape"], as_dtype(values, t["datatype"]))
    return out


def rows(values, shape):
    c = shape[1]
    return [values[i * c:(i + 1) * c] for i in range(shape[0])]


class F32(list):
    """Output data printed as float32 text."""


V2_OUTPUTS = {
    "cross_entropy": [("loss", "FP64"), ("per_sample", "FP64"), ("grad", "L"),
                      ("targets", "L"), ("probs", "L"), ("predicted", "INT64"),
                      ("accuracy", "FP64"), ("mean_confidence", "FP64"),
                      ("ece", "FP64"), ("mean_entropy", "FP64"),
                      ("elementwise", "L")],
    "mixup_target": [("targets", "FP64")],
}
V2_DEFAULTS = {"cross_entropy": ["loss", "per_sample", "grad"],
               "mixup_target": ["targets"]}


def expected_v2(path, req, tensors):
    model = path.split("/")[3]
    params = dict(req.get("parameters", {}))
    ins = v2_tensors(req, tensors)
    v1 = {}
    for key in ("label_smoothing", "smoothing", "ignore_index", "reduction",
                "loss", "class_axis", "target_threshold", "sum_classes",
                "focal_alpha", "focal_gamma", "poly_epsilon"):
        if key in params:
            v1[key] = params[key]
    mixup = {}
    if "mixup_lambda" in params:
        mixup["lambda"] = params["mixup_lambda"]
    if "mixup_lambda" in ins:
        lam = ins["mixup_lambda"][2]
        mixup["lambda"] = lam[0] if ins["mixup_lambda"][1] == [1] else lam
    if "mixup_pairing" in params:
        mixup["pairing"] = params["mixup_pairing"]
    if "mixup_partner" in ins:
        mixup["pairing"] = ins["mixup_partner"][2]
    if mixup:
        v1["mixup"] = mixup
    if "targets" in ins:
        v1["targets"] = ins["targets"][2]
    f32 = False
    shapes = {}
    if model == "cross_entropy":
        dt, shape, x = ins["logits"]
        f32 = dt != "FP64"
        kdim = len(shape) > 2
        logits = [None if v == -math.inf else v for v in x]
        v1["logits"] = (np.array(logits, dtype=object).reshape(shape).tolist()
                        if kdim else rows(logits, shape))
        if "targets" in ins and kdim:
            v1["targets"] = np.array(ins["targets"][2]).reshape(
                ins["targets"][1]).tolist()
        if "soft_targets" in ins:
            st_ = ins["soft_targets"]
            v1["soft_targets"] = (np.array(st_[2]).reshape(st_[1]).tolist()
                                  if kdim else rows(st_[2], st_[1]))
        for key in ("class_weights", "pos_weight", "focal_alpha"):
            if key in ins:
                v1[key] = ins[key][2]
        binary = v1.get("loss") in ("binary_cross_entropy", "sigmoid_focal")
        v1["outputs"] = ["loss", "per_sample", "grad", "targets", "probs",
                         "elementwise" if binary else "stats"]
        body = expected_loss(v1)
        n, c = body["n"], body["classes"]
        if "loss" not in body:  # reduction none: the sum of the rows
            body["loss"] = math.fsum(flat(body["per_sample"]))
        axis = int(v1.get("class_axis", 1))
        cax = axis + len(shape) if axis < 0 else axis
        positions = [d for i, d in enumerate(shape) if i != cax]
        shapes = {"per_sample": positions, "grad": shape, "targets": shape,
                  "probs": shape, "elementwise": shape, "predicted": positions}
    else:
        v1["num_classes"] = params["num_classes"]
        body = expected_targets(v1)
        n, c = len(v1["targets"]), int(params["num_classes"])
    st = body.get("stats", {})
    values = {"loss": [body.get("loss")], "per_sample": flat(body.get("per_sample", [])),
              "grad": flat(body.get("grad", [])), "targets": flat(body["targets"]),
              "probs": flat(body.get("probs", [])),
              "elementwise": flat(body.get("elementwise", [])),
              "predicted": flat(st.get("predicted", [])),
              "accuracy": [st.get("accuracy")], "mean_confidence": [st.get("mean_confidence")],
              "ece": [st.get("ece")], "mean_entropy": [st.get("mean_entropy")]}
    shapes = dict({"loss": [1], "per_sample": [n], "grad": [n, c], "targets": [n, c],
                   "probs": [n, c], "predicted": [n], "accuracy": [1],
                   "mean_confidence": [1], "ece": [1], "mean_entropy": [1],
                   "elementwise": [n, c]}, **shapes)
    kinds = dict(V2_OUTPUTS[model])
    asked = req.get("outputs")
    binary_all = bool(params.get("binary_data_output", False))
    names = [o["name"] for o in asked] if asked else V2_DEFAULTS[model]
    outs = []
    for i, name in enumerate(names):
        kind = kinds[name]
        dtype = ("FP32" if f32 else "FP64") if kind == "L" else kind
        data = values[name]
        if dtype == "FP32":
            data = F32(float(np.float32(v)) for v in data)
        o = {"name": name, "datatype": dtype, "shape": shapes[name]}
        binary = binary_all
        if asked and "binary_data" in asked[i].get("parameters", {}):
            binary = asked[i]["parameters"]["binary_data"]
        if binary:
            size = {"FP64": 8, "FP32": 4, "INT64": 8}[dtype] * len(data)
            o["parameters"] = {"binary_data_size": size}
        o["data"] = data
        outs.append(o)
    out = {"model_name": model, "model_version": "1"}
    if "id" in req:
        out["id"] = req["id"]
    out["outputs"] = outs
    return out


# --------------------------------------------------------------- metrics --
#
# POST /v1/metrics, /v1/metrics/merge and classification_metrics: every
# figure from scikit-learn and numpy (the formulas of
# tests/reference/test_metrics_reference.py, which loads no library unless it
# runs as a program). A state's `data` is libxent's serialization: it cannot
# be written without libxent, so --write keeps the `data` of the current
# response.json (xentd's answer, saved when the case was made) and --check
# decodes it (the layout of lib/src/metrics_io.c) and holds every count in it
# exactly, and every exact sum to 1e-12, to what the request gives; the
# replay compares its bytes with the daemon's.

STATE_MEMBERS = ("version", "n", "counted", "classes", "bins", "top_k",
                 "confusion", "per_class", "ignore_index", "data")
STATE_VERSION = 1  # of the JSON form (MetricsState.version)
FORMAT_VERSION = 2  # of the bytes in its data (lib/src/metrics_io.c)
METRICS_FIGURES = ("accuracy", "top_k_accuracy", "nll", "brier", "ece",
                   "ece_l2", "mce", "mean_confidence", "mean_entropy",
                   "reliability")
EDGE = 1e-9  # a confidence this near a bin edge must sit on it exactly


def metrics_config(opts, classes):
    """The configuration of a metrics request: the options given, else the
    defaults (top_k [1, 5] capped at C)."""
    top_k = opts.get("top_k")
    if top_k is None:
        top_k = sorted({min(k, classes) for k in (1, 5)})
    if any(k < 1 or k > classes for k in top_k) or top_k != sorted(set(top_k)):
        raise BadExample("top_k %r is refused for C = %d" % (top_k, classes))
    return {"classes": classes, "bins": int(opts.get("bins", 15)),
            "top_k": [int(k) for k in top_k],
            "confusion": bool(opts.get("confusion", False)),
            "per_class": bool(opts.get("per_class", False)),
            "ignore_index": int(opts.get("ignore_index", -100))}


def logits_array(rows_):
    return np.array([[-math.inf if v is None else float(v) for v in r]
                     for r in rows_], dtype=np.float64)


class Batch:
    """Rows seen (n), and the logits and labels of the counted ones."""

    def __init__(self, x, t, n, cfg):
        self.x, self.t, self.n, self.cfg = x, t, n, cfg

    @staticmethod
    def of(x, t, cfg):
        t = np.asarray(t, dtype=np.int64)
        keep = t != cfg["ignore_index"]
        return Batch(np.asarray(x, dtype=np.float64)[keep], t[keep], len(t), cfg)

    def key(self):
        cfg = json.dumps(self.cfg, sort_keys=True)
        return (self.x.tobytes(), self.t.tobytes(), self.x.shape, cfg)


def concat(batches):
    cfgs = {json.dumps(b.cfg, sort_keys=True) for b in batches}
    if len(cfgs) != 1:
        raise BadExample("a 200 merge of states of different configurations")
    c = batches[0].cfg["classes"]
    x = np.concatenate([b.x.reshape(-1, c) for b in batches])
    t = np.concatenate([b.t for b in batches])
    return Batch(x, t, sum(b.n for b in batches), batches[0].cfg)


def figures(b):
    """The metrics of a batch, and the counts and sums its state must hold."""
    cfg, x, y = b.cfg, b.x, b.t
    C, B, ks = cfg["classes"], cfg["bins"], cfg["top_k"]
    n = len(y)
    if n == 0:
        m = {k: None for k in METRICS_FIGURES}
        if cfg["per_class"]:
            m["per_class"] = None
        if cfg["confusion"]:
            m["confusion"] = None
        empty = {"counted": 0, "correct": 0, "top": [0] * len(ks),
                 "sums": [0.0] * 4, "bins": [(0, 0, 0.0)] * B,
                 "support": [0] * C, "predicted": [0] * C, "tp": [0] * C,
                 "cells": []}
        return m, empty
    if np.isinf(x[np.arange(n), y]).any():
        raise BadExample("a label on a masked class in a 200 example")
    p, nll_rows, brier_rows, ent_rows, conf, whole, part = row_parts(x, y)
    pred = p.argmax(axis=1)  # the first index on ties, as xent's argmax
    right = (pred == y).astype(np.float64)
    finite = np.where(np.isfinite(x), x - x.max(axis=1, keepdims=True), 0.0)
    for i, v in enumerate(conf):
        k = round(v * B)
        if abs(v - k / B) < EDGE and (finite[i] != 0).any():
            raise BadExample("row %d: a confidence near a bin edge that is not "
                             "exact; change the example" % i)
    labels = np.arange(C)
    accuracy = skm.accuracy_score(y, pred)
    rank = rank_lower_index(p, y)
    top = [int((rank < k).sum()) for k in ks]
    for j, k in enumerate(ks):
        if no_ties(p, y) and k < C and C > 2:
            sk = skm.top_k_accuracy_score(y, p, k=k, labels=labels)
            if not close(sk, top[j] / n):
                raise BadExample("top-%d disagrees with scikit-learn" % k)
    nll = fmean(nll_rows)
    if p[np.arange(n), y].min() > 1e-280:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = skm.log_loss(y, p, labels=labels, eps=1e-300)
        if not close(sk, nll):
            raise BadExample("nll disagrees with scikit-learn's log_loss")
    onehot = np.eye(C)[y]
    if not close(fmean(((p - onehot) ** 2).sum(axis=1)), fmean(brier_rows)):
        raise BadExample("the Brier score disagrees with its definition")
    bin_ = bin_of(conf, B)
    rel, bins_state, gaps, sq, mce = [], [], [], [], 0.0
    for k in range(B):
        sel = bin_ == k
        cnt = int(sel.sum())
        csum = exact_sum(whole[sel], part[sel])
        bins_state.append((cnt, int(right[sel].sum()), csum))
        if cnt == 0:
            rel.append({"count": 0, "mean_confidence": None, "accuracy": None})
            continue
        gap = exact_sum(right[sel], -whole[sel], -part[sel])
        gaps.append(abs(gap))
        sq.append(gap * gap / cnt)
        mce = max(mce, abs(gap) / cnt)
        rel.append({"count": cnt, "mean_confidence": csum / cnt,
                    "accuracy": float(right[sel].sum()) / cnt})
    m = {"accuracy": float(accuracy),
         "top_k_accuracy": {str(k): top[j] / n for j, k in enumerate(ks)},
         "nll": nll, "brier": fmean(brier_rows),
         "ece": math.fsum(gaps) / n,
         "ece_l2": math.sqrt(math.fsum(sq) / n), "mce": mce,
         "mean_confidence": exact_sum(whole, part) / n,
         "mean_entropy": fmean(ent_rows), "reliability": rel}
    if cfg["per_class"]:
        P, R, F1, S = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=None, zero_division=0)
        # macro: over the labels present in y or pred, as scikit-learn's
        # own default labels are
        mac = skm.precision_recall_fscore_support(y, pred, average="macro",
                                                  zero_division=0)
        wei = skm.precision_recall_fscore_support(y, pred, average="weighted",
                                                  zero_division=0)
        m["per_class"] = {
            "precision": P.tolist(), "recall": R.tolist(), "f1": F1.tolist(),
            "support": [int(v) for v in S],
            "macro": {"precision": float(mac[0]), "recall": float(mac[1]),
                      "f1": float(mac[2]),
                      "classes": int(len(np.union1d(y, pred)))},
            "weighted": {"precision": float(wei[0]), "recall": float(wei[1]),
                         "f1": float(wei[2])}}
    cm = skm.confusion_matrix(y, pred, labels=labels)
    if cfg["confusion"]:
        m["confusion"] = cm.tolist()
    counts = {"counted": n, "correct": int(right.sum()), "top": top,
              "sums": [exact_sum(whole, part), math.fsum(nll_rows.tolist()),
                       math.fsum(brier_rows.tolist()),
                       math.fsum(ent_rows.tolist())],
              "bins": bins_state,
              "support": np.bincount(y, minlength=C).tolist(),
              "predicted": np.bincount(pred, minlength=C).tolist(),
              "tp": np.bincount(y[pred == y], minlength=C).tolist(),
              "cells": [(i, int(v)) for i, v in enumerate(cm.ravel()) if v]}
    return m, counts


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * abs(b) + 1e-300


def metrics_body(b, data):
    """/v1/metrics's answer for a batch; `data` is the state's bytes in
    base64, as xentd gave them (see above)."""
    m, counts = figures(b)
    cfg = b.cfg
    state = {"version": STATE_VERSION, "n": b.n, "counted": len(b.t),
             "classes": cfg["classes"], "bins": cfg["bins"],
             "top_k": cfg["top_k"], "confusion": cfg["confusion"],
             "per_class": cfg["per_class"],
             "ignore_index": cfg["ignore_index"], "data": data}
    return {"n": b.n, "classes": cfg["classes"], "counted": len(b.t),
            "metrics": m, "state": state}, counts


# The state's bytes (lib/src/metrics_io.c, format version 2: version 1 and
# the CRC-32 of every byte before it, as zlib.crc32, in the last four).

def decode_state(data):
    if data == "":
        raise BadExample("state.data: none yet; save xentd's answer as "
                         "response.json first (api/examples/README.md)")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise BadExample("state.data is not base64")
    if base64.b64encode(raw).decode() != data:
        raise BadExample("state.data is not canonical base64")
    at = [0]

    def take(fmt):
        v = struct.unpack_from("<" + fmt, raw, at[0])
        at[0] += struct.calcsize("<" + fmt)
        return v

    def varint():
        v, shift = 0, 0
        while True:
            (c,) = take("B")
            v |= (c & 0x7f) << shift
            shift += 7
            if not c & 0x80:
                return v

    def acc():
        low, count = take("BB")
        digits = take("%dI" % count)
        v = sum(d << (32 * (low + i)) for i, d in enumerate(digits))
        return float(Fraction(v, 2 ** 1074))  # one unit is 2^-1074

    if len(raw) < 4 or zlib.crc32(raw[:-4]) != struct.unpack("<I", raw[-4:])[0]:
        raise BadExample("state.data: the last four bytes are not the "
                         "CRC-32 of the others")
    whole, raw = len(raw), raw[:-4]
    try:
        if raw[:8] != b"XENTMTRC":
            raise BadExample("state.data: not the magic XENTMTRC")
        at[0] = 8
        version, options = take("II")
        length, classes = take("QQ")
        bins, k = take("II")
        (ignore_index,) = take("q")
        top_k = list(take("%dQ" % k))
        s = {"version": version, "confusion": bool(options & 1),
             "per_class": bool(options & 2), "length": length,
             "classes": classes, "bins": bins, "ignore_index": ignore_index,
             "top_k": top_k, "counted": varint(), "correct": varint(),
             "top": [varint() for _ in range(k)],
             "sums": [acc() for _ in range(4)],
             "bins_": [(varint(), varint(), acc()) for _ in range(bins)]}
        if s["per_class"] and not s["confusion"]:
            per = [(varint(), varint(), varint()) for _ in range(classes)]
            s["support"], s["predicted"], s["tp"] = (list(v) for v in zip(*per))
        if s["confusion"]:
            cells, index = [], -1
            for _ in range(varint()):
                index += 1 + varint()
                cells.append((index, varint()))
            s["cells"] = cells
    except struct.error:
        raise BadExample("state.data ends early")
    if at[0] != len(raw) or length != whole:
        raise BadExample("state.data has %d bytes, says %d, was read to %d"
                         % (whole, length, at[0] + 4))
    return s


def check_data(state, counts):
    """The state's data against the request: every count exactly, every sum
    to 1e-12."""
    s = decode_state(state["data"])
    want = {"version": FORMAT_VERSION}
    for k in ("classes", "bins", "top_k", "confusion", "per_class",
              "ignore_index", "counted"):
        want[k] = state[k]
    for k in ("correct", "top"):
        want[k] = counts[k]
    for k, v in want.items():
        if s[k] != v:
            raise BadExample("state.data: %s is %r, the request gives %r"
                             % (k, s[k], v))
    sums = [(name, s["sums"][i], counts["sums"][i])
            for i, name in enumerate(("confidence", "nll", "brier", "entropy"))]
    for b, (got, want_) in enumerate(zip(s["bins_"], counts["bins"])):
        if got[:2] != want_[:2]:
            raise BadExample("state.data: bin %d holds %r, the request gives %r"
                             % (b, got[:2], want_[:2]))
        sums.append(("bin %d confidence" % b, got[2], want_[2]))
    for name, got, want_ in sums:
        if not close(got, want_):
            raise BadExample("state.data: the %s sum is %r, the request gives %r"
                             % (name, got, want_))
    for k in ("support", "predicted", "tp", "cells"):
        if k in s and s[k] != counts[k]:
            raise BadExample("state.data: %s is %r, the request gives %r"
                             % (k, s[k], counts[k]))


class Examples:
    """The 200 metrics cases of the examples folder: where a state came
    from (the rows behind it), and which batches every case evaluated, so
    that a merge can be recomputed from the rows of its states and two cases
    of the same rows must answer the same data."""

    def __init__(self, root):
        self.root = root
        self.origins = None
        self.seen = {}  # Batch.key() -> (case, data)
        self.visiting = set()  # the cases whose rows are being gathered

    def batch_of_state(self, state):
        if self.origins is None:
            self.origins = {}
            for name in sorted(os.listdir(self.root)):
                case = os.path.join(self.root, name)
                for st in answer_states(case):
                    self.origins.setdefault(canonical(st), case)
        case = self.origins.get(canonical(state))
        if case is None:
            raise BadExample("a state that is not the state of another 200 "
                             "case's answer")
        if case in self.visiting:
            raise BadExample("states that stand for each other (%s)"
                             % os.path.basename(case))
        self.visiting.add(case)
        try:
            return case_batch(self, case)
        finally:
            self.visiting.discard(case)

    def record(self, case, b, data):
        prev = self.seen.setdefault(b.key(), (case, data))
        if prev[1] != data:
            raise BadExample("the same rows and options as %s, another state.data"
                             % os.path.basename(prev[0]))


def canonical(state):
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def read_case(case, name, default=None):
    p = os.path.join(case, name)
    if not os.path.exists(p):
        return default
    with open(p) as f:
        return f.read()


def answer_states(case):
    """The states in a 200 case's recorded answer."""
    if (read_case(case, "status") or "").strip() != "200":
        return []
    path = (read_case(case, "path", "/v1/loss") or "").strip()
    try:
        have = json.loads(read_case(case, "response.json") or "null")
    except ValueError:
        return []
    if path in ("/v1/metrics", "/v1/metrics/merge"):
        return [have["state"]] if isinstance(have, dict) and "state" in have else []
    if path == "/v2/models/classification_metrics/infer":
        return [json.loads(o["data"][0]) for o in have.get("outputs", [])
                if o.get("name") == "state" and o.get("data")]
    return []


def case_batch(ex, case):
    """The batch a 200 metrics case evaluates: its rows, or its states'."""
    path = (read_case(case, "path", "/v1/loss") or "").strip()
    req = strict_json(read_case(case, "request.json"))
    if path == "/v1/metrics":
        cfg = metrics_config(req, len(req["logits"][0]))
        return Batch.of(logits_array(req["logits"]), req["targets"], cfg)
    if path == "/v1/metrics/merge":
        return merge_batch(ex, req["states"], req)
    tensors = read_case(case, "request.tensors.json")
    return v2_metrics_batch(ex, req, strict_json(tensors) if tensors else None)


def merge_batch(ex, states, opts):
    b = concat([ex.batch_of_state(s) for s in states])
    for key in ("top_k", "bins", "confusion", "per_class", "ignore_index"):
        if key in opts and opts[key] != b.cfg[key]:
            raise BadExample("option %s differs from the states'" % key)
    return b


def existing_data(case):
    """state.data of the recorded answer, or "" (see the section's note)."""
    states = answer_states(case)
    return states[0].get("data", "") if states else ""


def expected_metrics(ex, case, b, data, with_state=True):
    body, counts = metrics_body(b, data)
    if with_state:
        check_data(body["state"], counts)
        ex.record(case, b, data)
    return body


V2_METRICS_OUTPUTS = [
    ("n", "INT64"), ("counted", "INT64"), ("accuracy", "FP64"),
    ("top_k", "INT64"), ("top_k_accuracy", "FP64"), ("nll", "FP64"),
    ("brier", "FP64"), ("ece", "FP64"), ("ece_l2", "FP64"), ("mce", "FP64"),
    ("mean_confidence", "FP64"), ("mean_entropy", "FP64"),
    ("reliability_count", "INT64"), ("reliability_confidence", "FP64"),
    ("reliability_accuracy", "FP64"), ("precision", "FP64"),
    ("recall", "FP64"), ("f1", "FP64"), ("support", "INT64"),
    ("confusion", "INT64"), ("state", "BYTES")]
V2_METRICS_PER_CLASS = ("precision", "recall", "f1", "support")


def v2_metrics_batch(ex, req, tensors):
    params = req.get("parameters", {})
    ins = v2_tensors(req, tensors)
    opts = {k: params[k] for k in ("ignore_index", "bins", "confusion",
                                   "per_class") if k in params}
    if "top_k" in ins:
        opts["top_k"] = ins["top_k"][2]
    if "states" in ins:
        if "logits" in ins:
            raise BadExample("logits and states in a 200 example")
        return merge_batch(ex, [json.loads(s) for s in ins["states"][2]], opts)
    dt, shape, x = ins["logits"]
    cfg = metrics_config(opts, shape[1])
    return Batch.of(np.array(x, dtype=np.float64).reshape(shape),
                    ins["targets"][2], cfg)


def expected_v2_metrics(ex, case, req, tensors):
    b = v2_metrics_batch(ex, req, tensors)
    asked = req.get("outputs")
    names = ([o["name"] for o in asked] if asked else
             [n for n, _ in V2_METRICS_OUTPUTS
              if n not in V2_METRICS_PER_CLASS and n != "confusion"])
    body = expected_metrics(ex, case, b, existing_data(case), "state" in names)
    m, cfg = body["metrics"], b.cfg
    C, B, K = cfg["classes"], cfg["bins"], len(cfg["top_k"])
    rel = m["reliability"] or [{"count": 0, "mean_confidence": None,
                                "accuracy": None}] * B
    pc = m.get("per_class") or {}
    values = {
        "n": [b.n], "counted": [body["counted"]], "top_k": cfg["top_k"],
        "top_k_accuracy": [None] * K if m["top_k_accuracy"] is None else
        [m["top_k_accuracy"][str(k)] for k in cfg["top_k"]],
        "reliability_count": [r["count"] for r in rel],
        "reliability_confidence": [r["mean_confidence"] for r in rel],
        "reliability_accuracy": [r["accuracy"] for r in rel],
        "confusion": flat(m.get("confusion") or [[0] * C] * C),
        "support": pc.get("support", [0] * C),
        "state": [json.dumps({k: body["state"][k] for k in STATE_MEMBERS},
                             separators=(",", ":"))]}
    for k in ("accuracy", "nll", "brier", "ece", "ece_l2", "mce",
              "mean_confidence", "mean_entropy"):
        values[k] = [m[k]]
    for k in ("precision", "recall", "f1"):
        values[k] = pc.get(k, [None] * C)
    shapes = {"top_k": [K], "top_k_accuracy": [K], "confusion": [C, C]}
    for k in ("reliability_count", "reliability_confidence",
              "reliability_accuracy"):
        shapes[k] = [B]
    for k in V2_METRICS_PER_CLASS:
        shapes[k] = [C]
    kinds = dict(V2_METRICS_OUTPUTS)
    binary_all = bool(req.get("parameters", {}).get("binary_data_output", False))
    outs = []
    for i, name in enumerate(names):
        if name in V2_METRICS_PER_CLASS and not cfg["per_class"] or \
                name == "confusion" and not cfg["confusion"]:
            raise BadExample("output %s without its parameter" % name)
        o = {"name": name, "datatype": kinds[name],
             "shape": shapes.get(name, [1])}
        binary = binary_all
        if asked and "binary_data" in asked[i].get("parameters", {}):
            binary = asked[i]["parameters"]["binary_data"]
        data = values[name]
        if binary:
            size = (sum(4 + len(e.encode()) for e in data) if kinds[name] == "BYTES"
                    else 8 * len(data))
            o["parameters"] = {"binary_data_size": size}
        o["data"] = data
        outs.append(o)
    out = {"model_name": "classification_metrics", "model_version": "1"}
    if "id" in req:
        out["id"] = req["id"]
    out["outputs"] = outs
    return out


# -------------------------------------------------------------- printing --


def f32_text(v):
    s = str(np.float32(v))  # numpy prints the shortest float32 round trip
    if np.float32(float(s)) != np.float32(v):
        raise BadExample("float32 text does not round-trip: %r" % s)
    return s


def dump(v, f32, key=None):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        v = v + 0.0  # no negative zero
        return f32_text(v) if f32 else repr(v)
    if isinstance(v, F32):
        return "[" + ", ".join(f32_text(e) for e in v) + "]"
    if isinstance(v, list):
        inner = ", ".join(dump(e, f32) for e in v)
        return "[" + inner + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(k) + ": " + dump(e, f32, k) for k, e in v.items()) + "}"
    return json.dumps(v)


def expected_body(case_dir, ex):
    def read(name, default=None):
        p = os.path.join(case_dir, name)
        if not os.path.exists(p):
            return default
        with open(p) as f:
            return f.read()

    status = read("status").strip()
    if status != "200":
        return None
    method = (read("method", "POST") or "POST").strip()
    path = (read("path", "/v1/loss") or "/v1/loss").strip()
    if method == "GET" and path in ("/healthz", "/readyz"):
        return json.dumps({"status": "ok", "version": version()}) + "\n"
    if method == "GET" and path == "/v2":
        return json.dumps({"name": "xent", "version": version(),
                           "extensions": ["binary_tensor_data"]}) + "\n"
    if method == "POST" and path.startswith("/v2/models/") and path.endswith("/infer"):
        req = strict_json(read("request.json"))
        tensors = read("request.tensors.json")
        tensors = strict_json(tensors) if tensors else None
        if path.split("/")[3] == "classification_metrics":
            body = expected_v2_metrics(ex, case_dir, req, tensors)
        else:
            body = expected_v2(path, req, tensors)
        return dump(body, False) + "\n"
    if method == "POST" and path in ("/v1/metrics", "/v1/metrics/merge"):
        body = expected_metrics(ex, case_dir, case_batch(ex, case_dir),
                                existing_data(case_dir))
        return dump(body, False) + "\n"
    if method != "POST" or path not in ("/v1/loss", "/v1/targets"):
        return None
    req = strict_json(read("request.json"))
    f32 = req.get("precision", "float64") == "float32"
    body = expected_loss(req) if path == "/v1/loss" else expected_targets(req)
    return dump(body, f32) + "\n"


def main(argv):
    mode = "--write"
    root = os.path.join(TOP, "api", "examples")
    for a in argv[1:]:
        if a in ("--write", "--check"):
            mode = a
        elif a.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            root = a
    failures = 0
    done = 0
    ex = Examples(root)
    for name in sorted(os.listdir(root)):
        case = os.path.join(root, name)
        if not os.path.isdir(case):
            continue
        try:
            text = expected_body(case, ex)
        except BadExample as e:
            print("%s: %s" % (name, e), file=sys.stderr)
            failures += 1
            continue
        if text is None:
            continue
        done += 1
        target = os.path.join(case, "response.json")
        if mode == "--write":
            with open(target, "w") as f:
                f.write(text)
            continue
        try:
            with open(target) as f:
                have = json.load(f)
        except (OSError, ValueError) as e:
            print("%s: response.json unreadable: %s" % (name, e), file=sys.stderr)
            failures += 1
            continue
        if have != json.loads(text):
            print("%s: response.json differs from the reference computation" % name,
                  file=sys.stderr)
            failures += 1
    verb = "wrote" if mode == "--write" else "checked"
    print("make_expected: %s %d bodies, %d failures" % (verb, done, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
