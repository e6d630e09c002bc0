#!/usr/bin/python3
"""Reference test of libxent's whole-dataset metrics against scikit-learn
and numpy.

Usage: test_metrics_reference.py LIBXENT_SO [--seed S] [--cases N] [--case I]

Every case is a random dataset, reproducible from (seed, case index): C from
2 to 1000 classes, N up to 2000 rows, ignored rows, masked classes (-inf),
float64 or float32 logits, every exp kernel the CPU supports, 1 to 15 bins
(and more), top-k lists, confusion and per-class options. The rows go to the
library in random batches, one state each, merged; the merged state must
serialize to the bytes of one update with every row, then its figures are
compared with:

- scikit-learn: accuracy_score, top_k_accuracy_score (only on cases without
  ties, since it breaks them toward the higher index), confusion_matrix,
  precision_recall_fscore_support (per class, macro, weighted,
  zero_division=0), log_loss (eps far below every probability of a label, so
  its clipping changes nothing);
- numpy in float64, with math.fsum for every sum over rows: the nll
  (log_softmax), the Brier score, ece, ece_l2, mce and the reliability bins
  (bins (k/B, (k+1)/B], the first closed at 0), the label's rank with ties
  to the lower index (every case), the mean confidence and entropy.

The numpy formulas keep nearly certain rows precise, as the library does:
with e = exp(x - max) and rest = the sum of e without the max's own 1,
log s = log1p(rest), 1 - p_y = sum_{c != y} e_c / s for the Brier score, and
a confidence above 1/2 is 1 - rest / s. Computed as log(s), 1 - p_y and
1 / s instead, a row whose max p is 1 - 1e-6 keeps only 1e-10 of relative
precision in its nll, Brier score and calibration gap, in any implementation:
that is why scikit-learn's log_loss, which takes -log of the rounded p, is
held to 1e-12 relative plus 4 ulp(1) absolute, and the rest to the strict
tolerance.

Float32 logits are compared against the reference computed from the same
values upcast to float64. Tolerance: |got - want| <= 1e-12 |want| + 2^-1022
(the smallest normal double); counts are compared exactly. A few hand cases
check the tie rule that differs from scikit-learn's.

Prints one line per failing check and closes with
`metrics-reference: N passed, M failed` (one per case); exits 1 on failure.
"""

import argparse
import math
import os
import sys
import warnings

import numpy as np
from sklearn import metrics as skm

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xent_ctypes as xc  # noqa: E402
import metrics_ctypes as mc  # noqa: E402

RTOL = 1e-12
ATOL = 2.0 ** -1022
DEFAULT_SEED = 20261129
DEFAULT_CASES = 320
KERNELS = [xc.KERNEL_AUTO, xc.KERNEL_SCALAR, xc.KERNEL_AVX2, xc.KERNEL_AVX512]


TALLY = {}  # checks made against scikit-learn, by function


def tally(what):
    for fn in ("top_k_accuracy_score", "accuracy_score", "log_loss",
               "confusion_matrix", "precision_recall_fscore_support"):
        if fn in what:
            TALLY[fn] = TALLY.get(fn, 0) + 1
            return


class Case:
    """Collects the failed checks of one case."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.checks = 0

    def close(self, what, got, want, atol=ATOL):
        tally(what)
        self.checks += 1
        got, want = float(got), float(want)
        if not (math.isfinite(got) and abs(got - want) <= RTOL * abs(want) + atol):
            self.failures.append(f"{what}: got {got!r}, want {want!r}")

    def close_array(self, what, got, want):
        tally(what)
        got = np.asarray(got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        self.checks += 1
        bad = ~(np.isfinite(got) & (np.abs(got - want) <= RTOL * np.abs(want) + ATOL))
        if got.shape != want.shape:
            self.failures.append(f"{what}: shape {got.shape} vs {want.shape}")
        elif bad.any():
            i = int(np.flatnonzero(bad)[0])
            self.failures.append(f"{what}[{i}]: got {got.flat[i]!r}, "
                                 f"want {want.flat[i]!r}")

    def equal(self, what, got, want):
        tally(what)
        self.checks += 1
        if not np.array_equal(np.asarray(got), np.asarray(want)):
            self.failures.append(f"{what}: got {got!r}, want {want!r}")


# --------------------------------------------------------------- cases ----

def gen_case(seed, i):
    rng = np.random.default_rng([seed, i])
    sel = i % 10
    if sel == 0:
        C = 1000
    elif sel == 1:
        C = 2
    else:
        C = int(round(math.exp(rng.uniform(math.log(2), math.log(1000)))))
    if sel == 2:
        N = 2000
    else:
        N = int(round(math.exp(rng.uniform(0, math.log(2000)))))
    N = min(N, max(1, 300_000 // C)) if sel != 0 else min(N, 600)
    scale = float(np.exp(rng.uniform(math.log(0.05), math.log(12))))
    x = rng.standard_normal((N, C)) * scale + rng.uniform(-50, 50)
    masked = C >= 3 and rng.random() < 0.3
    if masked:
        x[rng.random((N, C)) < rng.uniform(0.05, 0.5)] = -np.inf
    ignore_index = -100 if rng.random() < 0.8 else int(rng.integers(-5, C))
    t = rng.integers(0, C, N)
    ign = rng.random(N) < rng.choice([0.0, 0.05, 0.3])
    if i % 37 == 5:
        ign[:] = True  # every row ignored: undefined figures
    t[ign] = ignore_index
    # a row's own label is never masked; an ignored row may be anything
    rows = np.flatnonzero(~ign)
    lab = t[rows]
    if masked:
        x[rows, lab] = rng.standard_normal(rows.size) * scale
    if ign.any() and rng.random() < 0.5:
        x[np.flatnonzero(ign)[0]] = np.nan
    # labels equal to a non-default ignore_index are ignored too
    f32 = rng.random() < 0.35
    if f32:
        x = x.astype(np.float32)
    kernels = [k for k in KERNELS if xc.kernel_supported(k)]
    kernel = kernels[int(rng.integers(len(kernels)))]
    bins = int(rng.choice([1, 2, 3, 5, 10, 15, 15, 15, 20, 50, 100]))
    ks = sorted({int(k) for k in rng.choice([1, 2, 3, 5, 10, 20, C], size=int(rng.integers(0, 5)))
                 if k <= C})
    if rng.random() < 0.3:
        ks = None  # the library's default, {1, 5} capped at C
    confusion = rng.random() < 0.5
    per_class = rng.random() < 0.5
    batches = int(rng.choice([1, 1, 2, 3, 7, 20]))
    return dict(x=x, t=t, C=C, N=N, ignore_index=ignore_index, kernel=kernel,
                bins=bins, top_k=ks, confusion=confusion, per_class=per_class,
                batches=min(batches, N), masked=masked, f32=f32, rng=rng)


def run_library(cs):
    cfg = mc.config(cs["C"], bins=cs["bins"], top_k=cs["top_k"],
                    confusion=cs["confusion"], per_class=cs["per_class"],
                    ignore_index=cs["ignore_index"])
    whole = mc.State(cfg)
    whole.update(cs["x"], cs["t"], cs["kernel"])
    rng, N = cs["rng"], cs["N"]
    cuts = sorted(rng.choice(np.arange(1, N), size=cs["batches"] - 1,
                             replace=False)) if cs["batches"] > 1 else []
    parts = []
    for lo, hi in zip([0] + list(cuts), list(cuts) + [N]):
        s = mc.State(cfg)
        s.update(cs["x"][lo:hi], cs["t"][lo:hi], cs["kernel"])
        parts.append(s)
    while len(parts) > 1:
        a = int(rng.integers(len(parts)))
        b = int(rng.integers(len(parts) - 1))
        b += b >= a
        parts[a].merge(parts[b])
        parts.pop(b)
    merged = parts[0]
    data = merged.serialize()
    back = mc.State.parse(data)
    return cfg, whole.serialize(), data, back.serialize(), back.compute()


# ---------------------------------------------------------- reference ----

def row_parts(x, y):
    """Per-row values in float64, cancellation-free (see the module doc):
    p, nll, brier, entropy, the confidence 1 / s, and the confidence each row
    adds to the sums as (whole, part): whole + part exactly, with whole 1 and
    part -rest / s above 1/2, else 0 and 1 / s."""
    x = x.astype(np.float64)
    n = x.shape[0]
    rows = np.arange(n)
    m = x.max(axis=1, keepdims=True)
    d = x - m
    e = np.exp(d)
    s = e.sum(axis=1)
    a = x.argmax(axis=1)
    without_a = e.copy()
    without_a[rows, a] = 0.0
    rest = without_a.sum(axis=1)
    logs = np.log1p(rest)
    nll = logs - d[rows, y]
    with np.errstate(invalid="ignore"):
        ed = np.where(np.isfinite(d), e * d, 0.0)
    entropy = np.maximum(logs - ed.sum(axis=1) / s, 0.0)
    without_y = e.copy()
    without_y[rows, y] = 0.0
    not_y = without_y.sum(axis=1)
    brier = (not_y ** 2 + (without_y ** 2).sum(axis=1)) / (s * s)
    conf = 1.0 / s
    high = conf > 0.5
    whole = np.where(high, 1.0, 0.0)
    part = np.where(high, -(rest / s), conf)
    return e / s[:, None], nll, brier, entropy, conf, whole, part


def exact_sum(*arrays):
    """The sum of every value of every array, exact, rounded once."""
    return math.fsum(np.concatenate([np.ravel(v) for v in arrays]).tolist())


def rank_lower_index(p, y):
    """The label's rank: classes with larger p, or equal p and a lower
    index."""
    py = p[np.arange(len(y)), y][:, None]
    idx = np.arange(p.shape[1])[None, :]
    return ((p > py) | ((p == py) & (idx < y[:, None]))).sum(axis=1)


def fmean(values):
    values = np.asarray(values, dtype=np.float64)
    return math.fsum(values.tolist()) / len(values)


def bin_of(conf, B):
    edges = np.arange(B + 1, dtype=np.float64) / B
    return np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, B - 1)


def no_ties(p, lab):
    """Whether every row's probabilities are pairwise distinct (then
    scikit-learn's tie rule cannot matter)."""
    sp = np.sort(p, axis=1)
    return bool((np.diff(sp, axis=1) > 0).all())


def check_case(cs, case):
    cfg, whole, merged, back, r = run_library(cs)
    case.equal("merged state bytes == one update's", merged, whole)
    case.equal("parsed state bytes", back, merged)
    C, t, B = cs["C"], cs["t"], cs["bins"]
    keep = t != cs["ignore_index"]
    x = cs["x"][keep].astype(np.float64)
    y = t[keep].astype(np.int64)
    n = len(y)
    case.equal("counted", r["counted"], n)
    ks = mc.top_k_list(cfg)
    case.equal("top_k", r["top_k"], ks)
    if n == 0:
        case.equal("defined", r["defined"], 0)
        for key in ("accuracy", "nll", "brier", "ece", "ece_l2", "mce",
                    "mean_confidence", "mean_entropy"):
            case.equal(key, r[key], 0.0)
        case.equal("top_k_accuracy", r["top_k_accuracy"], [0.0] * len(ks))
        case.equal("bins empty", r["bins"]["empty"], np.ones(B))
        return
    case.equal("defined", r["defined"], 1)
    p, nll_rows, brier_rows, ent_rows, conf, whole, part = row_parts(x, y)
    rows = np.arange(n)
    pred = p.argmax(axis=1)

    # accuracy and top-k
    case.close("accuracy vs sklearn accuracy_score", r["accuracy"],
               skm.accuracy_score(y, pred))
    rank = rank_lower_index(p, y)
    ties_free = not cs["masked"] and no_ties(p, y)
    for j, k in enumerate(ks):
        case.close(f"top_{k} (ties to lower index)", r["top_k_accuracy"][j],
                   fmean(rank < k))
        if ties_free and k < C:
            labels = np.arange(C)
            score = p[:, 1] if C == 2 else p
            want = skm.top_k_accuracy_score(y, score, k=k, labels=labels)
            case.close(f"top_{k} vs sklearn top_k_accuracy_score",
                       r["top_k_accuracy"][j], want)
    if 1 in ks:
        case.equal("top-1 == accuracy", r["top_k_accuracy"][ks.index(1)],
                   r["accuracy"])

    # nll: the numpy log_softmax, and sklearn's log_loss with clipping far
    # below every label's probability (it takes -log of the rounded p)
    case.close("nll (numpy log_softmax)", r["nll"], fmean(nll_rows))
    if float(p[rows, y].min()) > 1e-280:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = skm.log_loss(y, p, labels=np.arange(C), eps=1e-300)
        case.close("nll vs sklearn log_loss", r["nll"], want,
                   atol=4 * np.finfo(np.float64).eps)

    case.close("brier", r["brier"], fmean(brier_rows))
    case.close("mean_confidence", r["mean_confidence"],
               exact_sum(whole, part) / n)
    case.close("mean_entropy", r["mean_entropy"], fmean(ent_rows))

    # calibration: the gaps correct_b - (sum of the bin's confidences) exact
    b = bin_of(conf, B)
    right = (pred == y).astype(np.float64)
    cnt = np.bincount(b, minlength=B)
    case.equal("bin counts", r["bins"]["count"], cnt)
    case.equal("bin correct", r["bins"]["correct"],
               np.bincount(b, weights=right, minlength=B).astype(np.int64))
    case.equal("bin empty", r["bins"]["empty"], (cnt == 0).astype(int))
    gaps, sq, mce = [], [], 0.0
    mconf = np.zeros(B)
    macc = np.zeros(B)
    for k in range(B):
        sel = b == k
        if not sel.any():
            continue
        gap = exact_sum(right[sel], -whole[sel], -part[sel])
        mconf[k] = exact_sum(whole[sel], part[sel]) / cnt[k]
        macc[k] = right[sel].sum() / cnt[k]
        gaps.append(abs(gap))
        sq.append(gap * gap / cnt[k])
        mce = max(mce, abs(gap) / cnt[k])
    case.close_array("bin mean_confidence", r["bins"]["mean_confidence"], mconf)
    case.close_array("bin accuracy", r["bins"]["accuracy"], macc)
    case.close("ece", r["ece"], math.fsum(gaps) / n)
    case.close("ece_l2", r["ece_l2"], math.sqrt(math.fsum(sq) / n))
    case.close("mce", r["mce"], mce)

    # confusion and per class
    labels = np.arange(C)
    if cs["confusion"]:
        case.equal("confusion vs sklearn confusion_matrix", r["confusion"],
                   skm.confusion_matrix(y, pred, labels=labels))
    if cs["confusion"] or cs["per_class"]:
        cl = r["classes"]
        P, R, F, S = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=None, zero_division=0)
        case.equal("support vs sklearn precision_recall_fscore_support",
                   cl["support"], S)
        case.equal("predicted", cl["predicted"], np.bincount(pred, minlength=C))
        prfs = "sklearn precision_recall_fscore_support"
        case.close_array(f"precision vs {prfs}", cl["precision"], P)
        case.close_array(f"recall vs {prfs}", cl["recall"], R)
        case.close_array(f"f1 vs {prfs}", cl["f1"], F)
        present = np.union1d(y, pred)
        case.equal("macro_classes", r["macro_classes"], len(present))
        case.equal("in_macro", np.flatnonzero(cl["in_macro"]), present)
        for avg in ("macro", "weighted"):
            want = skm.precision_recall_fscore_support(
                y, pred, average=avg, zero_division=0)[:3]
            for name, got_v, want_v in zip(("precision", "recall", "f1"),
                                           r[avg], want):
                case.close(f"{avg} {name} vs {prfs}", got_v, want_v)
    else:
        case.equal("per_class_defined", r["per_class_defined"], 0)


def hand_cases(report):
    """Ties: xent breaks them toward the lower index, scikit-learn's
    top_k_accuracy_score toward the higher one."""
    case = Case("hand: ties")
    x = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    y = np.array([1, 2, 2])
    s = mc.State(mc.config(3, top_k=[1, 2, 3]))
    s.update(x, y)
    r = s.compute()
    # ranks 1, 1, 2: top-1 0/3, top-2 2/3, top-3 3/3
    case.equal("xent top-k", r["top_k_accuracy"], [0.0, 2.0 / 3.0, 1.0])
    case.equal("accuracy", r["accuracy"], 0.0)
    p = row_parts(x, y)[0]
    sk1 = skm.top_k_accuracy_score(y, p, k=1, labels=np.arange(3))
    sk2 = skm.top_k_accuracy_score(y, p, k=2, labels=np.arange(3))
    # scikit-learn's ranks with ties to the higher index: 0, 0, 0
    case.equal("sklearn top-1 (ties to higher index)", sk1, 1.0)
    case.equal("sklearn top-2", sk2, 1.0)
    report(case)

    case = Case("hand: fsum")
    case.equal("fsum 1e300 + 1 - 1e300", mc.fsum([1e300, 1.0, -1e300]), 1.0)
    v = np.random.default_rng(7).standard_normal(10000) * 1e10
    case.equal("fsum random", mc.fsum(v), math.fsum(v.tolist()))
    report(case)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lib")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--cases", type=int, default=DEFAULT_CASES)
    ap.add_argument("--case", type=int, default=None)
    args = ap.parse_args()
    xc.load(args.lib)
    passed = failed = checks = 0

    def report(case):
        nonlocal passed, failed, checks
        checks += case.checks
        if case.failures:
            failed += 1
            for f in case.failures[:10]:
                print(f"FAIL {case.name}: {f}")
        else:
            passed += 1

    hand_cases(report)
    indices = [args.case] if args.case is not None else range(args.cases)
    shapes = []
    for i in indices:
        cs = gen_case(args.seed, i)
        name = (f"case {i} (seed {args.seed}): {cs['N']}x{cs['C']} "
                f"{'f32' if cs['f32'] else 'f64'} {xc.kernel_name(cs['kernel'])}"
                f" bins {cs['bins']} top_k {cs['top_k']} "
                f"confusion {int(cs['confusion'])} per_class "
                f"{int(cs['per_class'])} batches {cs['batches']}")
        case = Case(name)
        try:
            check_case(cs, case)
        except mc.XentError as e:
            case.failures.append(f"library error: {e}")
        report(case)
        shapes.append((cs["N"], cs["C"]))
    if shapes:
        ns = [s[0] for s in shapes]
        cs_ = [s[1] for s in shapes]
        print(f"metrics-reference: cases with N {min(ns)}..{max(ns)}, "
              f"C {min(cs_)}..{max(cs_)}; {checks} checks")
        print("metrics-reference: checks against scikit-learn: " +
              ", ".join(f"{k} {v}" for k, v in sorted(TALLY.items())))
    print(f"metrics-reference: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
