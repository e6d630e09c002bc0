#!/usr/bin/env python3
"""Reference test of libxent against PyTorch (float64) and timm's formulas.

Usage: test_reference.py LIBXENT_SO [--seed S] [--cases N] [--case I]
                         [--family-cases M] [--family-case FAMILY:I]

The cross-entropy cases below come first; then families.py runs M cases
(default 300) of each loss family and of K-dimensional cross-entropy, with
its own tolerance rule (see there), and prints their counts per family.

Every case is a random valid problem, reproducible from (seed, case index).
The library is called once per supported exp kernel (xent_kernel_supported),
and on hard labels also through xent_targets and xent_evaluate_explicit.
Its loss, per_sample, grad, targets (q), probs and stats are compared with:

- torch.nn.functional.cross_entropy in float64 (weight=, ignore_index=,
  reduction=, label_smoothing=, probability targets) where PyTorch has the
  path: hard labels with the uniform convention and no masked class, and soft
  targets with no masked class; the gradient comes from autograd.
- otherwise (mixup, the 'others' convention, masked classes) the target
  matrix q built explicitly as timm's mixup_target does (each one-hot
  smoothed, then y1 * lam + y2 * (1 - lam)) and the soft-target cross-entropy
  sum_c -w_c q_c log_softmax(x)_c (torch's soft-target cross_entropy when no
  class is masked; the same sum with masked classes skipped otherwise), reduced
  with the denominators of semantics.md section 3; gradient from autograd.

Tolerance (semantics.md 6): |got - want| <= 1e-12 * max(1, |want|). Float32,
float16 and bfloat16 logits (torch.half / torch.bfloat16 tensors, given to the
library as their bit patterns) are compared against the float64 reference
computed from the same values widened to float64, so the same tolerance
applies.

Prints one line per failing case and closes with
`reference: N passed, M failed` (both parts together); exits 1 on any
failure.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xent_ctypes as xc  # noqa: E402
import families  # noqa: E402

TOL = 1e-12
WORST = [0.0, ""]  # the largest |got - want| / bound seen, and where
DEFAULT_SEED = 20261107
DEFAULT_CASES = 450

FAMILIES = [
    "hard-torch",  # PyTorch's own hard-label path
    "hard-others",
    "hard-masked",
    "mixup-flip",
    "mixup-roll",
    "mixup-explicit",
    "soft-torch",  # PyTorch's own probability-target path
    "soft-masked",
    "ignore-weights-smoothing",
]

KERNELS = [xc.KERNEL_AUTO, xc.KERNEL_SCALAR, xc.KERNEL_AVX2, xc.KERNEL_AVX512]
RED_NAMES = {xc.REDUCE_MEAN: "mean", xc.REDUCE_SUM: "sum", xc.REDUCE_NONE: "none"}


# --------------------------------------------------------------- cases ----


def partner_index(pairing, n, partners):
    if pairing == xc.PAIR_FLIP:
        return np.arange(n)[::-1].copy()
    if pairing == xc.PAIR_ROLL:
        return (np.arange(n) - 1) % n
    return np.asarray(partners, dtype=np.int64)


def gen_case(seed, i):
    """A random valid problem. Returns a dict of numpy inputs and tags."""
    rng = np.random.default_rng([seed, i])
    fam = FAMILIES[i % len(FAMILIES)]
    rnd = i // len(FAMILIES)
    tags = {fam}
    soft = fam.startswith("soft")
    mixup = fam.startswith("mixup")
    iws = fam == "ignore-weights-smoothing"

    masked = fam.endswith("masked") or ((mixup or iws) and rng.random() < 0.3)
    if fam == "hard-others":
        conv = xc.SMOOTH_OTHERS
    elif soft or fam == "hard-torch":
        conv = xc.SMOOTH_UNIFORM
    else:
        conv = xc.SMOOTH_OTHERS if rng.random() < 0.35 else xc.SMOOTH_UNIFORM
    min_c = 3 if masked else (2 if conv == xc.SMOOTH_OTHERS else 1)

    # shape: 64 x 1000 and the smallest shape come back regularly
    sel = rnd % 8
    if sel == 0:
        n, c = 64, 1000
    elif sel == 1:
        n, c = 1, min_c
    else:
        n = int(rng.integers(1, 65))
        c = int(round(math.exp(rng.uniform(math.log(min_c), math.log(1000)))))
        c = max(c, min_c)
    if mixup:
        want_odd = rnd % 2 == 1
        if (n % 2 == 1) != want_odd:
            n = n - 1 if n > 1 else n + 1
    tags.add(f"shape {n}x{c}" if (n, c) in ((1, 1), (64, 1000)) else "shape other")

    # every tenth round, one hard-torch case ignores every row (sum or none:
    # the mean is undefined then)
    all_ignored = fam == "hard-torch" and rnd % 10 == 5
    reds = [xc.REDUCE_MEAN, xc.REDUCE_SUM, xc.REDUCE_NONE][int(all_ignored):]
    reduction = reds[int(rng.integers(len(reds)))]
    tags.add("reduction " + RED_NAMES[reduction])

    # label smoothing
    r = rng.random()
    if iws:
        eps = float(rng.uniform(0.05, 0.9))
    elif r < 0.3:
        eps = 0.0
    elif r < 0.36:
        eps = 1.0
    else:
        eps = float(rng.uniform(0.0, 0.6))
    tags.add("eps=0" if eps == 0 else ("eps=1" if eps == 1 else "eps random"))
    if not soft:
        tags.add("convention " + ("others" if conv == xc.SMOOTH_OTHERS else "uniform"))

    # hard labels, ignore_index, mixup partners
    targets = soft_targets = lam = partners = None
    pairing = xc.PAIR_FLIP
    ignore_index = -100
    ignored = np.zeros(n, dtype=bool)
    pi = None
    if not soft:
        use_ignore = iws or all_ignored
        use_ignore = use_ignore or (fam != "mixup-roll" and rng.random() < 0.35)
        if use_ignore:
            choices = [-100, -1] + ([int(rng.integers(c))] if c >= 2 else [])
            ignore_index = int(choices[int(rng.integers(len(choices)))])
            if mixup and fam == "mixup-flip":
                # ignore whole pairs: a kept row never has an ignored partner
                for k in range(n // 2):
                    if rng.random() < 0.3:
                        ignored[k] = ignored[n - 1 - k] = True
            else:
                ignored = rng.random(n) < rng.uniform(0.1, 0.5)
            if all_ignored:
                ignored[:] = True
                tags.add("all rows ignored")
            elif ignored.all():
                ignored[n // 2] = False
                if fam == "mixup-flip":
                    ignored[n - 1 - n // 2] = False
            if ignored.any():
                tags.add("ignore_index")
                if 0 <= ignore_index < c:
                    tags.add("ignore_index in [0, C)")
        labels = [k for k in range(c) if k != ignore_index]
        targets = rng.choice(labels, size=n).astype(np.int64)
        targets[ignored] = ignore_index
        if mixup:
            pairing = {
                "mixup-flip": xc.PAIR_FLIP,
                "mixup-roll": xc.PAIR_ROLL,
                "mixup-explicit": xc.PAIR_EXPLICIT,
            }[fam]
            if pairing == xc.PAIR_EXPLICIT:
                kept = np.flatnonzero(~ignored)
                partners = rng.choice(kept, size=n).astype(np.int64)
            pi = partner_index(pairing, n, partners)
            tags.add(fam[6:] + (" odd N" if n % 2 else " even N"))
            one = n == 1 or rng.random() < 0.5
            lam = rng.uniform(0, 1, 1 if one else n)
            edge = rng.random(lam.size) < 0.12
            lam[edge] = rng.integers(0, 2, int(edge.sum()))
            tags.add("lambda one" if one else "lambda per row")
            if (lam == 0).any() or (lam == 1).any():
                tags.add("lambda 0 or 1")

    # masked classes
    mask = np.zeros((n, c), dtype=bool)
    if masked:
        need = 2 if conv == xc.SMOOTH_OTHERS else 1
        mask = rng.random((n, c)) < rng.uniform(0.1, 0.8)
        for row in range(n):
            keep = set()
            if targets is not None and not ignored[row]:
                keep.add(int(targets[row]))
                if pi is not None:
                    keep.add(int(targets[pi[row]]))
            for k in keep:
                mask[row, k] = False
            free = np.flatnonzero(mask[row])
            rng.shuffle(free)
            short = need - (c - int(mask[row].sum()))
            for k in free[: max(short, 0)]:
                mask[row, k] = False
        if not mask.any():
            # c >= 3 and at most two protected classes: one can be masked
            row = int(rng.integers(n))
            keep = set()
            if targets is not None and not ignored[row]:
                keep.add(int(targets[row]))
                if pi is not None:
                    keep.add(int(targets[pi[row]]))
            cand = [k for k in range(c) if k not in keep]
            mask[row, cand[int(rng.integers(len(cand)))]] = True
        if mask.any():
            tags.add("masked classes")

    # soft targets
    if soft:
        style = int(rng.integers(3))
        if style == 0:
            y = rng.random((n, c))
            y /= y.sum(axis=1, keepdims=True)
            tags.add("soft rows sum to 1")
        elif style == 1:
            y = rng.uniform(0, 2, (n, c))
            tags.add("soft rows unnormalised")
        else:
            y = rng.random((n, c)) * (rng.random((n, c)) < 0.1)
            tags.add("soft rows sparse")
        y[mask] = 0.0
        for row in range(n):
            if not (y[row] > 0).any():
                k = int(rng.choice(np.flatnonzero(~mask[row])))
                y[row, k] = 1.0
        soft_targets = y

    # class weights
    weights = None
    if iws or rng.random() < 0.4:
        weights = rng.uniform(0, 3, c)
        weights[rng.random(c) < 0.1] = 0.0
        if reduction == xc.REDUCE_MEAN and not soft and (~ignored).any():
            if mean_denominator(targets, ignored, weights, lam, pi, False) <= 0:
                weights += 0.5
        tags.add("class weights")
    if iws and ignored.any():
        tags.add("ignore + weights + smoothing")

    # logits
    scale = float([1, 2, 5, 10, 100, 1e3, 1e4][int(rng.integers(7))])
    x = rng.uniform(-scale, scale, (n, c))
    if scale <= 10 and rng.random() < 0.3:
        x += rng.uniform(-1e4 + scale, 1e4 - scale, (n, 1))
    if np.abs(x).max() >= 1e3:
        tags.add("logits |x| >= 1e3")
    # one draw picks the type: f32 (18%), f16 (6%), bf16 (6%), else f64
    r = rng.random()
    dname = "f32" if r < 0.18 else "f16" if r < 0.24 else "bf16" if r < 0.3 else "f64"
    x = x.astype(np.float32) if dname == "f32" else x
    tags.add("dtype " + dname)
    x[mask] = -np.inf
    if ignored.any() and rng.random() < 0.4:
        rows = np.flatnonzero(ignored)
        row = int(rows[int(rng.integers(rows.size))])
        x[row, int(rng.integers(c))] = np.nan if rng.random() < 0.5 else np.inf
        tags.add("ignored row with NaN/+inf logit")
    lib_x, lib_dtype = x, None
    if dname in ("f16", "bf16"):
        # PyTorch rounds to the 16-bit type; the reference reads the same
        # values widened back to float64, the library the bit patterns
        half = torch.from_numpy(x).to(torch.half if dname == "f16" else torch.bfloat16)
        lib_x = half.view(torch.int16).numpy().view(np.uint16).copy()
        lib_dtype = xc.F16 if dname == "f16" else xc.BF16
        x = half.double().numpy()

    return {
        "index": i,
        "family": fam,
        "tags": tags,
        "n": n,
        "c": c,
        "x": x,
        "lib_x": lib_x,
        "lib_dtype": lib_dtype,
        "mask": mask,
        "targets": targets,
        "soft_targets": soft_targets,
        "weights": weights,
        "ignore_index": ignore_index,
        "ignored": ignored,
        "eps": eps,
        "conv": conv,
        "lam": lam,
        "pairing": pairing,
        "partners": partners,
        "pi": pi,
        "reduction": reduction,
    }


def mean_denominator(targets, ignored, weights, lam, pi, soft):
    """semantics.md section 3, the mean's D."""
    if soft:
        return float(len(ignored))
    kept = ~ignored
    w = np.ones(int(targets.max(initial=0)) + 1) if weights is None else weights
    own = np.where(kept, w[np.where(kept, targets, 0)], 0.0)
    if lam is None:
        return float(own.sum())
    lam_n = np.broadcast_to(lam, ignored.shape)
    other = w[np.where(kept, targets[pi], 0)]
    return float(np.where(kept, lam_n * own + (1.0 - lam_n) * other, 0.0).sum())


# ----------------------------------------------------------- reference ----


def smoothed_one_hot(labels, mask, eps, conv):
    """s(t) per row of semantics 1.1: on/off values over the unmasked
    classes (K of them), 0 on masked classes; timm's one_hot when nothing is
    masked (full of off_value, on_value scattered at the label)."""
    n, c = mask.shape
    k = torch.tensor(c - mask.sum(axis=1), dtype=torch.float64)
    if conv == xc.SMOOTH_UNIFORM:
        off = eps / k
        on = 1.0 - eps + off
    else:
        off = eps / (k - 1.0)
        on = torch.full_like(k, 1.0 - eps)
    y = off[:, None].expand(n, c).clone()
    y[torch.from_numpy(mask)] = 0.0
    y.scatter_(1, torch.from_numpy(labels).view(-1, 1), on[:, None])
    return y


def reference(case):
    """The expected outputs, in float64, from PyTorch."""
    n, c = case["n"], case["c"]
    mask = case["mask"]
    ignored = case["ignored"]
    soft = case["soft_targets"] is not None
    eps, conv, lam, pi = case["eps"], case["conv"], case["lam"], case["pi"]
    red = case["reduction"]
    x_in = torch.from_numpy(case["x"].astype(np.float64))
    bad_row = (torch.isnan(x_in) | torch.isposinf(x_in)).any(1)
    # ignored rows take no part in the loss: neutral logits for autograd
    x = x_in.clone()
    x[bad_row] = 0.0
    x.requires_grad_(True)
    w = None if case["weights"] is None else torch.from_numpy(case["weights"])
    tmask = torch.from_numpy(mask)
    kept = torch.from_numpy(~ignored)

    # q, the target distribution
    if soft:
        y = torch.from_numpy(case["soft_targets"])
        k = torch.tensor(c - mask.sum(axis=1), dtype=torch.float64)
        q = y * (1.0 - eps) + (eps / k)[:, None]
        q[tmask] = 0.0
    else:
        t = case["targets"]
        t_safe = np.where(ignored, 0, t)
        y1 = smoothed_one_hot(t_safe, mask, eps, conv)
        if lam is None:
            q = y1
        else:
            y2 = smoothed_one_hot(t_safe[pi], mask, eps, conv)
            lam_t = torch.from_numpy(np.broadcast_to(lam, (n,)).copy())[:, None]
            q = y1 * lam_t + y2 * (1.0 - lam_t)
        q[~kept] = 0.0

    torch_hard = (
        not soft and lam is None and conv == xc.SMOOTH_UNIFORM and not mask.any()
    )
    torch_soft = soft and not mask.any()
    if torch_hard:
        path = "torch hard"
        tt = torch.from_numpy(case["targets"])
        kw = dict(weight=w, ignore_index=case["ignore_index"], label_smoothing=eps)
        per = F.cross_entropy(x, tt, reduction="none", **kw)
        red_loss = F.cross_entropy(x, tt, reduction=RED_NAMES[red], **kw)
    elif torch_soft:
        path = "torch soft"
        y = torch.from_numpy(case["soft_targets"])
        kw = dict(weight=w, label_smoothing=eps)
        per = F.cross_entropy(x, y, reduction="none", **kw)
        red_loss = F.cross_entropy(x, y, reduction=RED_NAMES[red], **kw)
    else:
        if not mask.any():
            path = "soft-target CE"
            per = F.cross_entropy(x, q, weight=w, reduction="none")
        else:
            path = "masked soft-target CE"
            lp = F.log_softmax(x, dim=1)
            wq = q if w is None else q * w
            per = -torch.where(tmask, torch.zeros_like(lp), wq * lp).sum(1)
        if red == xc.REDUCE_MEAN:
            d = mean_denominator(
                case["targets"], ignored, case["weights"], lam, pi, soft
            )
            red_loss = per.sum() / d
        elif red == xc.REDUCE_SUM:
            red_loss = per.sum()
        else:
            red_loss = per
    scalar = red_loss.sum() if red == xc.REDUCE_NONE else red_loss
    scalar.backward()

    with torch.no_grad():
        p = torch.softmax(x_in, dim=1)
        p[bad_row] = 0.0
        lp_all = torch.log_softmax(x_in, dim=1)
        plogp = torch.where(p > 0, p * lp_all, torch.zeros_like(p))
        plogp[bad_row] = 0.0
        counted = torch.from_numpy(~ignored)
        predicted = torch.where(counted, torch.argmax(p, dim=1), -1)
        conf = torch.where(counted, p.max(dim=1).values, 0.0)
        ent = torch.where(counted, -plogp.sum(1), 0.0)
        if soft:
            own = torch.argmax(torch.from_numpy(case["soft_targets"]), dim=1)
        else:
            own = torch.from_numpy(case["targets"])
        m = int(counted.sum())
        correct = ((predicted == own) & counted).double()
        if m:
            acc = float(correct.sum()) / m
            mconf = float(conf[counted].sum()) / m
            ment = float(ent[counted].sum()) / m
            cc = conf[counted].numpy()
            ok = correct[counted].numpy()
            bins = np.clip(np.ceil(cc * 15).astype(int) - 1, 0, 14)
            ece = 0.0
            for b in range(15):
                sel = bins == b
                if sel.any():
                    ece += sel.sum() / m * abs(ok[sel].mean() - cc[sel].mean())
        else:
            acc = mconf = ment = ece = 0.0

    return {
        "path": path,
        "loss": float(scalar.detach()),
        "per_sample": per.detach().numpy(),
        "grad": x.grad.detach().numpy(),
        "targets": q.detach().numpy(),
        "probs": p.numpy(),
        "predicted": predicted.numpy(),
        "confidence": conf.numpy(),
        "entropy": ent.numpy(),
        "accuracy": acc,
        "mean_confidence": mconf,
        "mean_entropy": ment,
        "ece": ece,
        "counted": m,
    }


# --------------------------------------------------------- comparison ----


def mismatch(name, got, want):
    """None when got matches want to the tolerance, else a description of
    the worst element."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"{name}: shape {got.shape} != {want.shape}"
    if got.size == 0:
        return None
    bound = TOL * np.maximum(1.0, np.abs(want))
    with np.errstate(invalid="ignore"):
        err = np.abs(got - want)
        bad = ~(err <= bound)
    score = np.where(np.isfinite(err), err / bound, np.inf)
    if score.max() > WORST[0]:
        WORST[0], WORST[1] = float(score.max()), name
    if not bad.any():
        return None
    at = np.unravel_index(int(np.argmax(np.where(bad, score, -1))), got.shape)
    where = f"[{','.join(map(str, at))}]" if got.ndim else ""
    return (
        f"{name}{where} got {got[at]!r} want {want[at]!r} "
        f"({int(bad.sum())} of {got.size} off)"
    )


def exact(name, got, want):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape == want.shape and (got == want).all():
        return None
    bad = np.flatnonzero(got != want) if got.shape == want.shape else [0]
    k = int(bad[0])
    return f"{name}[{k}] got {got.flat[k]!r} want {want.flat[k]!r}"


def problem_of(case, kernel):
    return xc.make_problem(
        case["lib_x"],
        logits_dtype=case["lib_dtype"],
        targets=case["targets"],
        soft_targets=case["soft_targets"],
        class_weights=case["weights"],
        ignore_index=case["ignore_index"],
        label_smoothing=case["eps"],
        smoothing=case["conv"],
        mixup_lambda=case["lam"],
        pairing=case["pairing"],
        partners=case["partners"],
        reduction=case["reduction"],
        kernel=kernel,
    )


def check_case(case, ref, kernels):
    """All mismatches between the library and the reference, as strings."""
    problems = []
    for kernel in kernels:
        kname = xc.kernel_name(kernel)
        prob, keep = problem_of(case, kernel)
        status, err, got = xc.evaluate(prob)
        if status != xc.OK:
            problems.append(f"{kname}: xent_evaluate failed: {xc.format_error(err)}")
            continue
        st = got["stats"]
        found = [
            mismatch("loss", got["loss"], ref["loss"]),
            mismatch("per_sample", got["per_sample"], ref["per_sample"]),
            mismatch("grad", got["grad"], ref["grad"]),
            mismatch("targets", got["targets"], ref["targets"]),
            mismatch("probs", got["probs"], ref["probs"]),
            exact("stats.predicted", st["predicted"], ref["predicted"]),
            mismatch("stats.confidence", st["confidence"], ref["confidence"]),
            mismatch("stats.entropy", st["entropy"], ref["entropy"]),
            mismatch("stats.accuracy", st["accuracy"], ref["accuracy"]),
            mismatch("stats.mean_confidence", st["mean_confidence"],
                     ref["mean_confidence"]),
            mismatch("stats.mean_entropy", st["mean_entropy"], ref["mean_entropy"]),
            mismatch("stats.ece", st["ece"], ref["ece"]),
            exact("stats.counted", st["counted"], ref["counted"]),
        ]
        problems += [f"{kname}: {m}" for m in found if m]
        del keep
    # the library's other two entry points (kernel-independent)
    prob, keep = problem_of(case, xc.KERNEL_AUTO)
    status, err, q = xc.targets(prob)
    if status != xc.OK:
        problems.append(f"xent_targets failed: {xc.format_error(err)}")
    else:
        m = mismatch("xent_targets", q, ref["targets"])
        if m:
            problems.append(m)
    if case["targets"] is not None:
        status, err, got = xc.evaluate_explicit(prob)
        if status != xc.OK:
            problems.append(f"explicit failed: {xc.format_error(err)}")
        else:
            for key in ("loss", "per_sample", "grad"):
                m = mismatch("explicit " + key, got[key], ref[key])
                if m:
                    problems.append(m)
    return problems


def describe(case):
    lam = case["lam"]
    lam_s = "-" if lam is None else (f"{lam[0]:.17g}" if lam.size == 1 else "per-row")
    return (
        f"{case['family']} N={case['n']} C={case['c']} "
        f"dtype={case['lib_x'].dtype if case['lib_dtype'] is None else ('f16', 'bf16')[case['lib_dtype'] - 2]} "
        f"reduction={RED_NAMES[case['reduction']]} eps={case['eps']:.17g} "
        f"conv={'others' if case['conv'] else 'uniform'} "
        f"weights={'yes' if case['weights'] is not None else 'no'} "
        f"ignore_index={case['ignore_index']} ignored={int(case['ignored'].sum())} "
        f"masked={int(case['mask'].sum())} lambda={lam_s}"
    )


REQUIRED_TAGS = [
    "hard-torch", "hard-others", "hard-masked", "mixup-flip", "mixup-roll",
    "mixup-explicit", "soft-torch", "soft-masked", "ignore-weights-smoothing",
    "eps=0", "eps random", "convention uniform", "convention others",
    "lambda one", "lambda per row", "flip odd N", "flip even N",
    "roll odd N", "roll even N", "explicit odd N", "explicit even N",
    "class weights", "ignore_index", "ignore + weights + smoothing",
    "masked classes", "reduction mean", "reduction sum", "reduction none",
    "dtype f32", "dtype f64", "dtype f16", "dtype bf16", "shape 1x1", "shape 64x1000",
    "logits |x| >= 1e3", "all rows ignored", "ignore_index in [0, C)",
    "ignored row with NaN/+inf logit", "eps=1", "lambda 0 or 1",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lib", nargs="?", default=os.environ.get("XENT_LIB"))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("XENT_REF_SEED", DEFAULT_SEED)))
    ap.add_argument("--cases", type=int, default=DEFAULT_CASES)
    ap.add_argument("--case", type=int, default=None, help="run this case only")
    ap.add_argument("--family-cases", type=int, default=300,
                    help="cases per loss family (families.py)")
    ap.add_argument("--family-case", default=None, metavar="FAMILY:I",
                    help="run this family case only")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if not args.lib:
        ap.error("give the path of libxent.so (argument or XENT_LIB)")
    xc.load(args.lib)
    torch.set_num_threads(1)
    kernels = [k for k in KERNELS if xc.kernel_supported(k)]
    print(
        f"reference: seed {args.seed}, "
        f"{args.cases if args.case is None else 'case %d of' % args.case} cases, libxent "
        f"{xc.lib().xent_version_string().decode()}, torch {torch.__version__}, "
        f"kernels {' '.join(xc.kernel_name(k) for k in kernels)}"
    )

    only_family = None
    if args.family_case is not None:
        fam, _, idx = args.family_case.partition(":")
        only_family = (fam, int(idx))
    indices = [args.case] if args.case is not None else range(args.cases)
    if only_family is not None:
        indices = []
    passed = failed = 0
    coverage = {}
    paths = {}
    for i in indices:
        case = gen_case(args.seed, i)
        ref = reference(case)
        for tag in case["tags"]:
            coverage[tag] = coverage.get(tag, 0) + 1
        paths[ref["path"]] = paths.get(ref["path"], 0) + 1
        found = check_case(case, ref, kernels)
        if found:
            failed += 1
            shown = "; ".join(found[:4]) + (f"; ... {len(found) - 4} more"
                                             if len(found) > 4 else "")
            print(f"FAIL case {i} (seed {args.seed}): {describe(case)} "
                  f"[reference: {ref['path']}]: {shown}")
        else:
            passed += 1
            if args.verbose:
                print(f"ok   case {i}: {describe(case)} [{ref['path']}]")

    if args.case is None and only_family is None:
        for tag in REQUIRED_TAGS:
            if tag not in coverage:
                failed += 1
                print(f"FAIL coverage: no case has '{tag}' (raise --cases)")
    print("reference: coverage (cases per mode):")
    for tag in sorted(coverage):
        print(f"  {tag:36s} {coverage[tag]:5d}")
    print("reference: reference paths: " +
          ", ".join(f"{k} {v}" for k, v in sorted(paths.items())))
    print(f"reference: largest error {WORST[0]:.3g} x tolerance ({WORST[1]})")
    print(f"reference: cross-entropy cases {passed} passed, {failed} failed")
    if args.case is None:
        fp, ff, lines = families.run(args.seed, args.family_cases, kernels,
                                     only=only_family, verbose=args.verbose)
        for line in lines:
            print(line)
        passed += fp
        failed += ff
    print(f"reference: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
