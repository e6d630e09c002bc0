"""The loss families and K-dimensional batches over HTTP: random POST
/v1/loss requests against PyTorch float64 autograd (run by
test_crosslang.py, stage check-crosslang).

Each case is one of tests/reference/families.py (`gen_case`, the cases of
check-reference: BCE, sigmoid focal, softmax focal, poly-1 and
K-dimensional cross-entropy with every option, element type and layout),
sent as JSON: logits nested in their layout ((N, C), (N, C, d1, ..., dk),
or (N, d1, ..., dk, C) with `class_axis` -1 or its index) or flat with
`shape`, masked classes as null, targets and soft targets in the same
form, each family's own options (only those: another's is refused), a
random set of outputs. JSON has no NaN and no +inf, so the ignored
positions that families.py fills with them get a finite logit here.
Cases above MAX_ELEMENTS logits are skipped.

The answer's loss, per_sample, grad, targets, probs and elementwise are
held to families.reference (F.binary_cross_entropy_with_logits,
torchvision.ops.sigmoid_focal_loss, F.cross_entropy on K-dimensional
inputs, softmax focal and poly-1 in torch ops, autograd for the gradient)
with its tolerance: |got - want| <= 1e-12 max(|want|, S) + DBL_MIN, S the
magnitude of the terms the value is a sum or difference of. Every fourth
case is also sent to the Open Inference Protocol model cross_entropy (the
logits as binary FP64, the options as parameters) and held to the same.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "reference"))
import families  # noqa: E402
import xent_ctypes as xc  # noqa: E402  (enum values only; no library)

MAX_ELEMENTS = 20000
LOSS_NAME = {"bce": "binary_cross_entropy", "sigmoid-focal": "sigmoid_focal",
             "softmax-focal": "softmax_focal", "poly1": "poly1",
             "ce-kdim": "cross_entropy"}
SMOOTHING_NAME = {xc.SMOOTH_UNIFORM: "uniform", xc.SMOOTH_OTHERS: "others",
                  xc.SMOOTH_BINARY: "binary"}
PAIRING_NAME = {xc.PAIR_FLIP: "flip", xc.PAIR_ROLL: "roll"}


def jsonable(a):
    """numpy -> lists of floats, -inf as null."""
    if isinstance(a, np.ndarray):
        a = a.tolist()
    if isinstance(a, list):
        return [jsonable(v) for v in a]
    if isinstance(a, float) and a == -np.inf:
        return None
    return a


def make_request(case, rng, seen):
    """The JSON body of a case, and how it lays the batch out."""
    fam = case["fam"]
    binary = fam in ("bce", "sigmoid-focal")
    # JSON cannot carry NaN or +inf: an ignored position gets a number
    bad = np.isnan(case["x"]) | np.isposinf(case["x"])
    case["x"][bad] = 0.5
    x = families.lib_layout(case, case["x"])
    shape = list(x.shape)
    flat = rng.random() < 0.3
    req = {}
    if flat:
        req["logits"] = jsonable(x.reshape(-1))
        req["shape"] = shape
    else:
        req["logits"] = jsonable(x)
    rank = len(shape)
    if case["layout"] == "axis last":
        req["class_axis"] = rng.choice([-1, rank - 1])
        seen.add("class_axis %s" % ("-1" if req["class_axis"] == -1 else "index"))
    elif rng.random() < 0.2:
        req["class_axis"] = 1 if case["layout"] == "axis 1" else rng.choice([1, -1])
    seen.add("layout %s %s" % (case["layout"], "flat" if flat else "nested"))
    if fam != "ce-kdim" or rng.random() < 0.5:
        req["loss"] = LOSS_NAME[fam]
    pos_shape = [case["n"]] + list(case["dims"])
    if case["targets"] is not None:
        t = case["targets"].reshape(pos_shape)
        req["targets"] = (t.reshape(-1) if flat else t).tolist()
    else:
        y = families.lib_layout(case, case["soft"])
        req["soft_targets"] = (y.reshape(-1) if flat else y).tolist()
    if case["weights"] is not None:
        req["class_weights"] = case["weights"].tolist()
    if case["ignore_index"] != -100 or rng.random() < 0.2:
        req["ignore_index"] = int(case["ignore_index"])
    if case["eps"] != 0 or rng.random() < 0.2:
        req["label_smoothing"] = case["eps"]
    if case["conv"] != xc.SMOOTH_UNIFORM or rng.random() < 0.2:
        req["smoothing"] = SMOOTHING_NAME[case["conv"]]
    if case["lam"] is not None:
        lam = case["lam"]
        mix = {"lambda": float(lam[0]) if lam.size == 1 else lam.tolist()}
        if case["pairing"] == xc.PAIR_EXPLICIT:
            mix["pairing"] = case["partners"].tolist()
        elif case["pairing"] != xc.PAIR_FLIP or rng.random() < 0.5:
            mix["pairing"] = PAIRING_NAME[case["pairing"]]
        req["mixup"] = mix
    red = families.RED_NAMES[case["reduction"]]
    if red != "mean" or rng.random() < 0.3:
        req["reduction"] = red
    if binary:
        if case["pos_weight"] is not None:
            req["pos_weight"] = case["pos_weight"].tolist()
        if case["threshold"] is not None:
            req["target_threshold"] = case["threshold"]
        elif rng.random() < 0.1:
            req["target_threshold"] = -1
        if case["sum_classes"] or rng.random() < 0.1:
            req["sum_classes"] = case["sum_classes"]
    if fam in ("sigmoid-focal", "softmax-focal"):
        if case["alpha_pc"] is not None:
            req["focal_alpha"] = case["alpha_pc"].tolist()
        elif case["alpha"] != 0.25 or rng.random() < 0.3:
            req["focal_alpha"] = case["alpha"]
        if case["gamma"] != 2.0 or rng.random() < 0.3:
            req["focal_gamma"] = case["gamma"]
    if fam == "poly1" and (case["epsilon"] != 2.0 or rng.random() < 0.3):
        req["poly_epsilon"] = case["epsilon"]
    outputs = [o for o in ("loss", "per_sample", "grad", "targets", "probs")
               if rng.random() < 0.6]
    if binary and rng.random() < 0.6:
        outputs.append("elementwise")
    if rng.random() < 0.2 and "grad" not in outputs:
        outputs = None  # the defaults: loss, per_sample, grad
    if outputs is not None:
        req["outputs"] = outputs or ["loss"]
    seen.update(k for k in req if k != "logits")
    for o in (outputs if outputs is not None else ["loss", "per_sample", "grad"]):
        seen.add("output " + o)
    return req, flat


def check(case, req, flat, status, answer):
    """None, or what is wrong with the answer."""
    if status != 200:
        return "status %d: %s" % (status, json.dumps(answer)[:300])
    ref = families.reference(case)
    lay = lambda t: families.from_cf(case, t.numpy() if hasattr(t, "numpy") else t)
    x_shape = list(families.lib_layout(case, case["x"]).shape)
    kdim = flat or len(x_shape) > 2
    want_keys = set(req.get("outputs", ["loss", "per_sample", "grad"]))
    if req.get("reduction") == "none":
        want_keys.discard("loss")
    want_keys |= {"n", "classes"} | ({"shape"} if kdim else set())
    if set(answer) != want_keys:
        return "keys %s, expected %s" % (sorted(answer), sorted(want_keys))
    if answer["n"] != case["n"] or answer["classes"] != case["c"]:
        return "n/classes %s/%s" % (answer["n"], answer["classes"])
    if kdim and answer["shape"] != x_shape:
        return "shape %s, expected %s" % (answer["shape"], x_shape)
    pos_shape = [case["n"]] + list(case["dims"])
    found = []
    for name in ("loss", "per_sample", "grad", "targets", "probs", "elementwise"):
        if name not in answer:
            continue
        got = np.asarray(answer[name], dtype=np.float64)
        if name == "loss":
            m = families.mismatch(name, got, ref["loss"][0], ref["loss"][1])
        elif name == "per_sample":
            if list(got.shape) != ([int(np.prod(pos_shape))] if flat else pos_shape):
                return "per_sample has shape %s" % (list(got.shape),)
            m = families.mismatch(name, got.reshape(pos_shape),
                                  ref["per_sample"][0].numpy(),
                                  ref["per_sample"][1].numpy())
        else:
            if list(got.shape) != ([int(np.prod(x_shape))] if flat else x_shape):
                return "%s has shape %s" % (name, list(got.shape))
            m = families.mismatch(name, got.reshape(x_shape), lay(ref[name][0]),
                                  lay(ref[name][1]))
        if m:
            found.append(m)
    return "; ".join(found) if found else None


def v2_request(case, req):
    """The same case for the Open Inference Protocol model cross_entropy:
    the logits as binary FP64 (so that -inf travels), the other tensors as
    JSON, the options as parameters. Returns (body bytes, header length)."""
    x = families.lib_layout(case, case["x"])
    logits = np.ascontiguousarray(x, dtype="<f8").tobytes()
    inputs = [{"name": "logits", "shape": list(x.shape), "datatype": "FP64",
               "parameters": {"binary_data_size": len(logits)}}]
    pos_shape = [case["n"]] + list(case["dims"])
    if case["targets"] is not None:
        inputs.append({"name": "targets", "shape": pos_shape,
                       "datatype": "INT64",
                       "data": case["targets"].reshape(-1).tolist()})
    else:
        inputs.append({"name": "soft_targets", "shape": list(x.shape),
                       "datatype": "FP64",
                       "data": families.lib_layout(case, case["soft"])
                       .reshape(-1).tolist()})
    params = {}
    for key in ("loss", "class_axis", "label_smoothing", "smoothing",
                "ignore_index", "reduction", "target_threshold",
                "sum_classes", "focal_gamma", "poly_epsilon"):
        if key in req:
            params[key] = req[key]
    for key in ("class_weights", "pos_weight"):
        if key in req:
            inputs.append({"name": key, "shape": [case["c"]],
                           "datatype": "FP64", "data": req[key]})
    if "focal_alpha" in req:
        if isinstance(req["focal_alpha"], list):
            inputs.append({"name": "focal_alpha", "shape": [case["c"]],
                           "datatype": "FP64", "data": req["focal_alpha"]})
        else:
            params["focal_alpha"] = req["focal_alpha"]
    mix = req.get("mixup")
    if mix is not None:
        if isinstance(mix["lambda"], list):
            inputs.append({"name": "mixup_lambda", "shape": [case["n"]],
                           "datatype": "FP64", "data": mix["lambda"]})
        else:
            params["mixup_lambda"] = mix["lambda"]
        pairing = mix.get("pairing", "flip")
        if isinstance(pairing, list):
            inputs.append({"name": "mixup_partner", "shape": [case["n"]],
                           "datatype": "INT64", "data": pairing})
        else:
            params["mixup_pairing"] = pairing
    outputs = req.get("outputs", ["loss", "per_sample", "grad"])
    head = {"inputs": inputs, "parameters": params,
            "outputs": [{"name": o} for o in outputs]}
    header = json.dumps(head).encode()
    return header + logits, len(header)


def check_v2(case, req, status, body):
    """The v2 answer against the reference: each output's shape and
    values (flat, in the logits' layout)."""
    if status != 200:
        return "v2 status %d: %s" % (status, body[:300])
    ref = families.reference(case)
    x_shape = list(families.lib_layout(case, case["x"]).shape)
    pos_shape = [case["n"]] + list(case["dims"])
    outs = {o["name"]: o for o in json.loads(body)["outputs"]}
    found = []
    for name, o in outs.items():
        got = np.asarray(o["data"], dtype=np.float64)
        if name == "loss":
            if req.get("reduction") == "none":
                want = ref["per_sample"][0].sum().item()
                scale = ref["per_sample"][1].sum().item()
            else:
                want, scale = ref["loss"]
            m = families.mismatch("v2 loss", got[0], want, scale)
        elif name == "per_sample":
            if o["shape"] != pos_shape:
                return "v2 per_sample shape %s" % o["shape"]
            m = families.mismatch("v2 per_sample", got.reshape(pos_shape),
                                  ref["per_sample"][0].numpy(),
                                  ref["per_sample"][1].numpy())
        else:
            if o["shape"] != x_shape:
                return "v2 %s shape %s" % (name, o["shape"])
            m = families.mismatch(
                "v2 " + name, got.reshape(x_shape),
                families.from_cf(case, ref[name][0].numpy()),
                families.from_cf(case, ref[name][1].numpy()))
        if m:
            found.append(m)
    return "; ".join(found) if found else None


def run(client, seed, per_family, report):
    """per_family cases of each family; returns (passed, failed, seen)."""
    import random
    rng = random.Random(seed)
    passed = failed = 0
    seen = set()
    for fam in families.FAMILY_NAMES:
        done = 0
        i = 0
        while done < per_family:
            case = families.gen_case(seed, fam, i)
            i += 1
            if case["rows"] * case["c"] > MAX_ELEMENTS:
                continue
            done += 1
            req, flat = make_request(case, rng, seen)
            seen.add("family " + fam)
            seen.add("dtype " + case["dname"])
            try:
                status, answer = client.post_json("/v1/loss", req)
                why = check(case, req, flat, status, answer)
                if why is None and done % 4 == 0:
                    seen.add("v2")
                    body, hlen = v2_request(case, req)
                    status, _, data = client.request(
                        "POST", "/v2/models/cross_entropy/infer", body,
                        {"Inference-Header-Content-Length": str(hlen),
                         "Content-Type": "application/octet-stream"})
                    why = check_v2(case, req, status, data)
            except Exception as e:  # one broken case is one failure
                why = "%s: %s" % (type(e).__name__, e)
                client.close()
            if why is None:
                passed += 1
            else:
                failed += 1
                report("FAIL family case %s %d: %s\n  %s\n  request: %s" % (
                    fam, i - 1, why, families.describe(case),
                    json.dumps(req)[:600]))
    return passed, failed, seen


NEEDED = (
    {"family " + f for f in families.FAMILY_NAMES}
    | {"layout %s %s" % (lay, form) for lay in ("2-D", "axis 1", "axis last")
       for form in ("flat", "nested")}
    | {"class_axis -1", "class_axis index", "shape", "class_axis", "loss",
       "targets", "soft_targets", "class_weights", "pos_weight",
       "target_threshold", "sum_classes", "focal_alpha", "focal_gamma",
       "poly_epsilon", "label_smoothing", "smoothing", "mixup",
       "ignore_index", "reduction", "outputs", "output elementwise",
       "output targets", "output probs", "output loss", "output per_sample",
       "output grad", "v2"})
