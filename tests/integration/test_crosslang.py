#!/usr/bin/python3
"""A Python client (stdlib http.client) against a real xentd, every answer
checked against PyTorch float64 (Debian's python3-torch) and timm's formulas.

At least 200 random requests cover every option: label smoothing with both
conventions, mixup (scalar and per-row lambda; flip, roll and explicit
pairing), soft targets, class weights, ignore_index, masked classes (null),
the three reductions, every output (loss, per_sample, grad, targets, probs,
stats) and both precisions, plus POST /v1/targets.

The reference is semantics.md written with torch ops: q built explicitly
(timm's mixup_target: smooth each one-hot, then mix), l_n = -sum_c w_c q_nc
log_softmax(x)_nc, the documented denominator, and the gradient by autograd.
Wherever PyTorch has the same loss (no masked class, no mixup, the uniform
convention) the reference is first checked against F.cross_entropy itself;
without weights, masks or ignored rows mixup is checked against timm's
mixup_target + SoftTargetCrossEntropy. float64 answers must agree to relative
1e-12 with a floor at the smallest normal double, or, for the outputs whose
value may be far smaller than the terms it is computed from (gradient, row
losses, entropy, ECE), within 1e-12 of those terms' magnitude (counted and
reported); float32 answers must be the correctly rounded float32 of the
reference (v2common.cmp_fp32).

Then the loss families and K-dimensional batches (families_http.py): 80
random requests per family (binary cross-entropy, sigmoid focal, softmax
focal, poly-1, K-dimensional cross-entropy), both class axes, nested and
flat with `shape`, every family option, against PyTorch float64 autograd
(tests/reference/families.py) to 1e-12 of the terms' magnitude.
Closing line: "crosslang: N passed, M failed".
"""

import argparse
import json
import math
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import families_http  # noqa: E402
import v2common as v  # noqa: E402
import xentd_harness as xh  # noqa: E402

torch.set_default_dtype(torch.float64)
ALL_OUTPUTS = ["loss", "per_sample", "grad", "targets", "probs", "stats"]


# ------------------------------------------------------------ requests ----

def make_case(rng, index):
    """A random request plus what the reference needs to know."""
    n = rng.randint(1, 7)
    c = rng.randint(2, 9)
    hard = rng.random() < 0.7
    scale = rng.choice([1.0, 1.0, 4.0, 30.0])
    x = [[rng.gauss(0.0, scale) for _ in range(c)] for _ in range(n)]
    if rng.random() < 0.05:  # far-out logits stay finite and exact
        x = [[v + rng.choice([1e4, -1e4]) for v in row] for row in x]
    req = {}
    case = {"n": n, "c": c, "hard": hard, "mask": [[False] * c for _ in
                                                   range(n)]}
    eps = rng.choice([0.0, 0.0, 0.1, rng.random(), 1.0])
    convention = "uniform"
    if hard:
        t = [rng.randrange(c) for _ in range(n)]
        ignore_index = -100
        ignored = [False] * n
        mixup = None
        if rng.random() < 0.45:
            lam = ([rng.random() for _ in range(n)] if rng.random() < 0.5
                   else rng.random())
            if rng.random() < 0.1:
                lam = 1.0
            pairing = rng.choice(["flip", "roll", "explicit", None])
            mixup = {"lambda": lam}
            if pairing == "explicit":
                mixup["pairing"] = [rng.randrange(n) for _ in range(n)]
            elif pairing is not None:
                mixup["pairing"] = pairing
        partners = partner_list(mixup, n)
        if rng.random() < 0.35 and n >= 2:
            ignore_index = rng.choice([-100, -100, -1, 255, c])
            if mixup is None:
                ignored = [rng.random() < 0.4 for _ in range(n)]
            elif mixup.get("pairing", "flip") == "flip":
                for k in range(n // 2):
                    if rng.random() < 0.4:
                        ignored[k] = ignored[n - 1 - k] = True
            elif isinstance(mixup.get("pairing"), list):
                ignored = [rng.random() < 0.4 for _ in range(n)]
                kept = [k for k in range(n) if not ignored[k]]
                if kept:
                    mixup["pairing"] = [rng.choice(kept) for _ in range(n)]
                    partners = mixup["pairing"]
            if all(ignored):
                ignored[rng.randrange(n)] = False
                if mixup is not None:  # keep partners valid: no ignores
                    ignored = [False] * n
            if ignore_index != -100 or rng.random() < 0.5:
                req["ignore_index"] = ignore_index
            t = [ignore_index if ignored[k] else t[k] for k in range(n)]
        if rng.random() < 0.3:
            convention = "others"
        case.update(t=t, ignored=ignored, ignore_index=ignore_index,
                    mixup=mixup, partners=partners)
    else:
        y = [[rng.choice([0.0, rng.random(), rng.random() * 3])
              for _ in range(c)] for _ in range(n)]
        case.update(y=y, ignored=[False] * n, mixup=None)
    # masked classes: never a class that carries target mass
    if rng.random() < 0.3:
        for k in range(n):
            need = set()
            if hard and not case["ignored"][k]:
                need.add(case["t"][k])
                if case["mixup"] is not None:
                    need.add(case["t"][case["partners"][k]])
            for j in range(c):
                if j in need or rng.random() > 0.3:
                    continue
                if not hard and case["y"][k][j] > 0:
                    continue
                case["mask"][k][j] = True
            if sum(not m for m in case["mask"][k]) < 2:
                case["mask"][k] = [False] * c
    if hard and convention == "others" and c < 2:
        convention = "uniform"
    req["logits"] = [[None if case["mask"][k][j] else x[k][j]
                      for j in range(c)] for k in range(n)]
    if hard:
        req["targets"] = case["t"]
        if case["mixup"] is not None:
            req["mixup"] = case["mixup"]
    else:
        req["soft_targets"] = case["y"]
    if eps or rng.random() < 0.3:
        req["label_smoothing"] = eps
    if convention == "others" or rng.random() < 0.1:
        req["smoothing"] = convention
    weights = None
    if rng.random() < 0.4:
        weights = [rng.choice([rng.uniform(0.1, 3.0), 1.0, 0.0])
                   for _ in range(c)]
        req["class_weights"] = weights
    reduction = rng.choice(["mean", "mean", "sum", "none", None])
    if reduction is not None:
        req["reduction"] = reduction
    outputs = None
    if rng.random() < 0.7:
        outputs = [o for o in ALL_OUTPUTS if rng.random() < 0.5] or ["loss"]
        req["outputs"] = outputs
    precision = "float32" if rng.random() < 0.2 else None
    if precision or rng.random() < 0.1:
        req["precision"] = precision or "float64"
    case.update(x=x, eps=eps, convention=convention, weights=weights,
                reduction=reduction or "mean",
                outputs=outputs or ["loss", "per_sample", "grad"],
                precision=precision or "float64")
    return req, case


def partner_list(mixup, n):
    if mixup is None:
        return list(range(n))
    pairing = mixup.get("pairing", "flip")
    if pairing == "flip":
        return [n - 1 - k for k in range(n)]
    if pairing == "roll":
        return [(k - 1) % n for k in range(n)]
    return list(pairing)


# ----------------------------------------------------------- reference ----

def smoothed(label, mask_row, eps, convention):
    """s(t) over one row, K = the unmasked classes (semantics 1.1)."""
    c = len(mask_row)
    k = sum(not m for m in mask_row)
    if convention == "uniform":
        off, on = eps / k, 1.0 - eps + eps / k
    else:
        off, on = eps / (k - 1), 1.0 - eps
    return [0.0 if mask_row[j] else (on if j == label else off)
            for j in range(c)]


def reference(case):
    """Dict of the expected outputs, in float64, plus `denominator`."""
    n, c = case["n"], case["c"]
    mask = torch.tensor(case["mask"])
    x0 = torch.tensor(case["x"]).masked_fill(mask, -math.inf)
    eps, conv = case["eps"], case["convention"]
    w = torch.tensor(case["weights"]) if case["weights"] else torch.ones(c)
    q = torch.zeros(n, c)
    lam = [1.0] * n
    if case["hard"]:
        mix = case["mixup"]
        if mix is not None:
            lam = (mix["lambda"] if isinstance(mix["lambda"], list)
                   else [mix["lambda"]] * n)
        for k in range(n):
            if case["ignored"][k]:
                continue
            a = smoothed(case["t"][k], case["mask"][k], eps, conv)
            b = smoothed(case["t"][case["partners"][k]], case["mask"][k], eps,
                         conv)
            q[k] = torch.tensor([lam[k] * u + (1.0 - lam[k]) * v
                                 for u, v in zip(a, b)])
        if mix is None:
            den = sum(w[case["t"][k]].item() for k in range(n)
                      if not case["ignored"][k])
        else:
            den = sum(lam[k] * w[case["t"][k]].item() + (1.0 - lam[k]) *
                      w[case["t"][case["partners"][k]]].item()
                      for k in range(n) if not case["ignored"][k])
    else:
        y = torch.tensor(case["y"])
        for k in range(n):
            kk = sum(not m for m in case["mask"][k])
            q[k] = torch.where(mask[k], torch.zeros(c),
                               (1.0 - eps) * y[k] + eps / kk)
        den = float(n)
    x = x0.clone().requires_grad_(True)
    lp = F.log_softmax(x, dim=1)
    terms = torch.where(q == 0, torch.zeros(n, c), w * q * lp)
    per = -terms.sum(dim=1)
    red = case["reduction"]
    if red == "mean":
        total = per.sum() / den
    else:
        total = per.sum()
    total.backward()
    probs = F.softmax(x0, dim=1)
    out = {"loss": total.item(), "per_sample": per.detach().tolist(),
           "grad": x.grad.tolist(), "targets": q.tolist(),
           "probs": probs.tolist(), "denominator": den}
    out["stats"] = stats_reference(case, probs, q)
    return out


def stats_reference(case, probs, q):
    rows = [k for k in range(case["n"]) if not case["ignored"][k]]
    pred, conf, ent, correct = {}, {}, {}, {}
    for k in rows:
        p = probs[k].tolist()
        best = max(range(len(p)), key=lambda j: (p[j], -j))
        pred[k], conf[k] = best, p[best]
        ent[k] = -sum(v * math.log(v) for v in p if v > 0)
        if case["hard"]:
            label = case["t"][k]
        else:
            yk = case["y"][k]
            label = max(range(len(yk)), key=lambda j: (yk[j], -j))
        correct[k] = 1.0 if best == label else 0.0
    m = len(rows)
    ece = 0.0
    for b in range(15):
        lo, hi = b / 15.0, (b + 1) / 15.0
        idx = [k for k in rows
               if (conf[k] > lo or (b == 0 and conf[k] >= lo)) and conf[k] <= hi]
        if idx:
            acc = sum(correct[k] for k in idx) / len(idx)
            cb = sum(conf[k] for k in idx) / len(idx)
            ece += len(idx) / m * abs(acc - cb)
    return {"accuracy": sum(correct.values()) / m if m else 0.0,
            "mean_confidence": sum(conf.values()) / m if m else 0.0,
            "ece": ece,
            "mean_entropy": sum(ent.values()) / m if m else 0.0,
            "predicted": [pred.get(k, -1) for k in range(case["n"])],
            "counted": m}


def pytorch_check(case, ref):
    """The reference against PyTorch / timm where they compute the same
    thing. Returns None or what differs (a fault of the test itself)."""
    if any(any(r) for r in case["mask"]) or case["convention"] != "uniform":
        return None
    x = torch.tensor(case["x"], requires_grad=True)
    w = torch.tensor(case["weights"]) if case["weights"] else None
    red = case["reduction"]
    if case["hard"] and case["mixup"] is None:
        if red == "mean" and ref["denominator"] == 0:
            return None
        out = F.cross_entropy(x, torch.tensor(case["t"]), weight=w,
                              ignore_index=case["ignore_index"],
                              label_smoothing=case["eps"], reduction=red)
    elif case["hard"]:
        if w is not None or any(case["ignored"]) or red != "mean":
            return None
        lam = case["mixup"]["lambda"]
        if isinstance(lam, list) or case["mixup"].get("pairing",
                                                      "flip") != "flip":
            return None
        # timm mixup_target: one_hot with off = eps/C, on = 1 - eps + off,
        # y1 * lam + y2 * (1 - lam) with y2 from the flipped batch.
        c, eps = case["c"], case["eps"]
        t = torch.tensor(case["t"])
        off, on = eps / c, 1.0 - eps + eps / c
        y1 = torch.full((case["n"], c), off).scatter_(1, t.view(-1, 1), on)
        y2 = torch.full((case["n"], c), off).scatter_(1, t.flip(0).view(-1, 1),
                                                      on)
        target = y1 * lam + y2 * (1.0 - lam)
        out = torch.sum(-target * F.log_softmax(x, dim=-1), dim=-1).mean()
    else:
        out = F.cross_entropy(x, torch.tensor(case["y"]), weight=w,
                              label_smoothing=case["eps"], reduction=red)
    (out.sum() if red == "none" else out).backward()
    got = {"loss": out.sum().item() if red == "none" else out.item(),
           "grad": x.grad.tolist()}
    if red == "none":
        got["per_sample"] = out.tolist()
    for key, val in got.items():
        d = xh.json_diff(val, ref[key])
        if d:
            return "reference != PyTorch: " + d.replace("$", key, 1)
    return None


# ----------------------------------------------------------- compare ------

def scales(case, ref):
    """The magnitude of the terms each output is computed from, where a
    result may be much smaller than them (semantics.md section 6): a
    gradient element p_j S_n - w_j q_nj over D, a row's loss from log(s)
    near 0 for a confident row, the entropy and ECE from probabilities."""
    c = case["c"]
    w = np.asarray(case["weights"] or [1.0] * c, np.float64)
    p = np.asarray(ref["probs"], np.float64)
    q = np.asarray(ref["targets"], np.float64)
    d = ref["denominator"] if case["reduction"] == "mean" else 1.0
    d = d if d != 0 else 1.0
    s_n = (q * w).sum(axis=1, keepdims=True)
    per = s_n[:, 0] + np.abs(np.asarray(ref["per_sample"], np.float64))
    return {"grad": (p * s_n + w * q) / d, "per_sample": per,
            "loss": np.array(per.sum() / d), "mean_entropy": np.array(1.0),
            "ece": np.array(1.0)}


def compare(name, got, want, f32_answer, scale):
    """One output: float64 to 1e-12 relative with a floor at the smallest
    normal double (or within 1e-12 of its terms' scale), float32 answers
    as the correctly rounded float32 of the reference (one ulp off only at
    a rounding boundary, or within the scale's allowance)."""
    try:
        g = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return "%s: %r is not numbers" % (name, got)
    if f32_answer:
        return v.cmp_fp32(name, g.astype(np.float32), want, scale=scale)
    return v.cmp_fp64(name, g, want, scale=scale)


def check_answer(case, status, answer, ref):
    if case["reduction"] == "mean" and ref["denominator"] == 0:
        # semantics 3: the mean of nothing is an error, not a number
        code = (answer or {}).get("error", {}).get("code")
        if status == 422 and code == "unprocessable":
            return None
        return "status %d %s, expected 422 unprocessable (zero denominator)" % (
            status, json.dumps(answer)[:200])
    if status != 200:
        return "status %d: %s" % (status, json.dumps(answer)[:300])
    want = {"n": case["n"], "classes": case["c"]}
    for o in case["outputs"]:
        if o == "loss" and case["reduction"] == "none":
            continue
        want[o] = ref[o]
    keys = set(want)
    if set(answer) != keys:
        return "keys %s, expected %s" % (sorted(answer), sorted(keys))
    if answer["n"] != case["n"] or answer["classes"] != case["c"]:
        return "n, classes %r %r" % (answer["n"], answer["classes"])
    f32_answer = case["precision"] == "float32"
    sc = scales(case, ref)
    for o in ("loss", "per_sample", "grad", "targets", "probs"):
        if o in want:
            why = compare(o, answer[o], np.asarray(want[o], np.float64),
                          f32_answer, sc.get(o))
            if why:
                return why
    if "stats" in want:
        st, ws = answer["stats"], want["stats"]
        if set(st) != set(ws):
            return "stats keys %s, expected %s" % (sorted(st), sorted(ws))
        if st["predicted"] != ws["predicted"] or st["counted"] != ws["counted"]:
            return "stats.predicted / counted differ"
        for k in ("accuracy", "mean_confidence", "ece", "mean_entropy"):
            why = compare("stats." + k, [st[k]], np.asarray([ws[k]]),
                          f32_answer, sc.get(k))
            if why:
                return why
    return None


def targets_case(rng):
    n, c = rng.randint(1, 6), rng.randint(2, 8)
    t = [rng.randrange(c) for _ in range(n)]
    eps = rng.choice([0.0, 0.1, rng.random()])
    conv = rng.choice(["uniform", "others"])
    req = {"targets": t, "num_classes": c, "label_smoothing": eps,
           "smoothing": conv}
    mix = None
    if rng.random() < 0.7:
        mix = {"lambda": rng.random() if rng.random() < 0.5
               else [rng.random() for _ in range(n)]}
        pairing = rng.choice(["flip", "roll", "explicit"])
        mix["pairing"] = ([rng.randrange(n) for _ in range(n)]
                          if pairing == "explicit" else pairing)
        req["mixup"] = mix
    partners = partner_list(mix, n)
    lam = [1.0] * n
    if mix is not None:
        lam = (mix["lambda"] if isinstance(mix["lambda"], list)
               else [mix["lambda"]] * n)
    mask_row = [False] * c
    q = []
    for k in range(n):
        a = smoothed(t[k], mask_row, eps, conv)
        b = smoothed(t[partners[k]], mask_row, eps, conv)
        q.append([lam[k] * u + (1 - lam[k]) * v for u, v in zip(a, b)])
    # timm cross-check for its own case: uniform, scalar lambda, flip
    if conv == "uniform" and (mix is None or (
            not isinstance(mix["lambda"], list) and mix["pairing"] == "flip")):
        lm = 1.0 if mix is None else mix["lambda"]
        tt = torch.tensor(t)
        off, on = eps / c, 1.0 - eps + eps / c
        y1 = torch.full((n, c), off).scatter_(1, tt.view(-1, 1), on)
        y2 = torch.full((n, c), off).scatter_(1, tt.flip(0).view(-1, 1), on)
        timm = (y1 * lm + y2 * (1.0 - lm)).tolist()
        d = xh.json_diff(q, timm)
        if d:
            raise AssertionError("reference != timm mixup_target: " + d)
    return req, {"targets": q}


# --------------------------------------------------------------- main -----

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("--cases", type=int, default=240)
    ap.add_argument("--targets-cases", type=int, default=40)
    ap.add_argument("--family-cases", type=int, default=80,
                    help="requests per loss family (five families)")
    ap.add_argument("--seed", type=int, default=20261128)
    opts = ap.parse_args()
    rng = random.Random(opts.seed)
    passed = failed = 0
    seen = set()
    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url:
            client = xh.Client(url)
            for i in range(opts.cases):
                req, case = make_case(rng, i)
                try:
                    ref = reference(case)
                    why = pytorch_check(case, ref)
                    if why is None:
                        status, answer = client.post_json("/v1/loss", req)
                        why = check_answer(case, status, answer, ref)
                except Exception as e:  # one broken case is one failure
                    why = "%s: %s" % (type(e).__name__, e)
                    client.close()
                seen.update(k for k in req if k != "logits")
                seen.update("output:" + o for o in case["outputs"])
                seen.add("reduction:" + case["reduction"])
                seen.add("precision:" + case["precision"])
                seen.add("smoothing:" + case["convention"])
                if case.get("mixup"):
                    seen.add("pairing:" + str(type(case["mixup"].get(
                        "pairing", "flip")).__name__ == "list" and "explicit"
                        or case["mixup"].get("pairing", "flip")))
                    seen.add("lambda:" + type(case["mixup"]["lambda"]).__name__)
                if any(any(r) for r in case["mask"]):
                    seen.add("masked")
                if why is None:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL loss case %d: %s\n  request: %s"
                          % (i, why, json.dumps(req)[:600]))
            for i in range(opts.targets_cases):
                try:
                    req, want = targets_case(rng)
                    status, answer = client.post_json("/v1/targets", req)
                    why = (xh.json_diff(answer, want) if status == 200 else
                           "status %d: %s" % (status, answer))
                except Exception as e:
                    why = "%s: %s" % (type(e).__name__, e)
                    client.close()
                if why is None:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL targets case %d: %s\n  request: %s"
                          % (i, why, json.dumps(req)[:600]))
            fp, ff, fam_seen = families_http.run(client, opts.seed,
                                                 opts.family_cases, print)
            print("crosslang: loss families: %d passed, %d failed" % (fp, ff))
            passed += fp
            failed += ff
            missing = families_http.NEEDED - fam_seen
            if missing and opts.family_cases >= 50:
                print("crosslang: family options never exercised: %s"
                      % sorted(missing))
                failed += 1
            client.close()
    except xh.DaemonError as e:
        print("crosslang: daemon: %s" % e)
        failed += 1
    needed = {"label_smoothing", "smoothing", "mixup", "soft_targets",
              "class_weights", "ignore_index", "reduction", "outputs",
              "precision", "targets", "masked", "reduction:none",
              "reduction:sum", "reduction:mean", "precision:float32",
              "precision:float64", "smoothing:others", "smoothing:uniform",
              "pairing:flip", "pairing:roll", "pairing:explicit",
              "lambda:float", "lambda:list"} | {"output:" + o for o in
                                                 ALL_OUTPUTS}
    missing = needed - seen
    if missing:
        print("crosslang: options never exercised: %s" % sorted(missing))
        failed += 1
    for line in v.allowance_report():
        print("crosslang: " + line)
    print("crosslang: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
