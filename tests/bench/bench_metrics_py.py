#!/usr/bin/python3
"""The same figures as bench_metrics.c, with numpy and scikit-learn, from the
same array; and the table of `make bench` for them.

Usage:
  bench_metrics_py.py [--tsv] [--runs N] [--rows N]
      times numpy + scikit-learn on the 50,000 x 1,000 logits that
      bench_metrics.c generates (the same counter-based splitmix64, computed
      here with numpy's wrapping uint64 arithmetic: bit-identical values),
      float64 and float32, in one process, one thread:
        p = softmax(x) (max-shifted, float64 for float64 input, float32 for
            float32 input, as numpy computes it)
        accuracy    sklearn accuracy_score(y, argmax p)
        top-5       sklearn top_k_accuracy_score(y, p, k=5, labels)
        nll         sklearn log_loss(y, p, labels)
        brier       numpy mean of sum_c (p - onehot(y))^2
        ece         numpy, 15 bins of max p (np.searchsorted, np.bincount)
        per class   sklearn precision_recall_fscore_support(average=None),
                    macro and weighted averages in numpy from it
        confusion   sklearn confusion_matrix(y, pred, labels)
      and prints the median of --runs runs; with --tsv the lines
        py <dtype> figures <rows> <classes> <median_s> <runs_s,...>
        figures <dtype> accuracy top5 nll brier ece macro_f1 weighted_f1
  bench_metrics_py.py --report XENT_TSV PY_TSV
      prints the table: seconds, ns per logit, and the ratio
      numpy+sklearn / libxent (> 1: libxent is faster), then both sides'
      figures and their largest relative difference.
"""
import argparse
import math
import os
import statistics
import sys
import time
import warnings

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CLASSES = 1000
GOLDEN = 0x9E3779B97F4A7C15
SEED_X, SEED_Y, SEED_B = 0x5EED0001, 0x5EED0002, 0x5EED0003


def draw(np, seed, k):
    """splitmix64 output k (an array of uint64 counters >= 1)."""
    z = np.uint64(seed) + k * np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def unit(np, v):
    return (v >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def generate(np, n):
    x = np.empty((n, CLASSES))
    chunk = 2000
    for r0 in range(0, n, chunk):
        r1 = min(n, r0 + chunk)
        i = np.arange(r0 * CLASSES, r1 * CLASSES, dtype=np.uint64)
        ua = unit(np, draw(np, SEED_X, np.uint64(2) * i + np.uint64(1)))
        ub = unit(np, draw(np, SEED_X, np.uint64(2) * i + np.uint64(2)))
        x[r0:r1] = ((ua + ub - 1.0) * 4.0).reshape(r1 - r0, CLASSES)
    rows = np.arange(1, n + 1, dtype=np.uint64)
    y = (draw(np, SEED_Y, rows) % np.uint64(CLASSES)).astype(np.int64)
    boost = unit(np, draw(np, SEED_B, rows)) < 0.7
    x[np.flatnonzero(boost), y[boost]] += 5.0
    return x, y


def figures(np, skm, x, y):
    """Every figure, as a user of numpy and scikit-learn would compute it."""
    n, C = x.shape
    labels = np.arange(C)
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    p = e / e.sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    acc = skm.accuracy_score(y, pred)
    top5 = skm.top_k_accuracy_score(y, p, k=5, labels=labels)
    nll = skm.log_loss(y, p, labels=labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    brier = float(((p - onehot) ** 2).sum(axis=1).mean())
    conf = p.max(axis=1).astype(np.float64)
    edges = np.arange(16, dtype=np.float64) / 15
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, 14)
    cnt = np.bincount(b, minlength=15)
    right = np.bincount(b, weights=(pred == y), minlength=15)
    sconf = np.bincount(b, weights=conf, minlength=15)
    ece = float(np.abs(right - sconf).sum() / n)
    P, R, F, S = skm.precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0)
    present = (S > 0) | (np.bincount(pred, minlength=C) > 0)
    macro_f1 = float(F[present].mean())
    weighted_f1 = float((F * S).sum() / S.sum())
    cm = skm.confusion_matrix(y, pred, labels=labels)
    assert cm.sum() == n and cnt.sum() == n
    return [acc, top5, nll, brier, ece, macro_f1, weighted_f1]


def run(args):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy as np
    from sklearn import metrics as skm
    warnings.simplefilter("ignore")
    x64, y = generate(np, args.rows)
    for dname, x in (("float64", x64), ("float32", x64.astype(np.float32))):
        figures(np, skm, x[:2000], y[:2000])  # warm-up: imports, caches
        secs = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            fig = figures(np, skm, x, y)
            secs.append(time.perf_counter() - t0)
        med = statistics.median(secs)
        if args.tsv:
            print(f"py\t{dname}\tfigures\t{args.rows}\t{CLASSES}\t{med:.6f}\t"
                  + ",".join(f"{s:.6f}" for s in secs))
            print("figures\t" + dname + "\t" + "\t".join(repr(float(v)) for v in fig))
        else:
            print(f"{dname}: {med * 1e3:.0f} ms; figures {fig}")
        sys.stdout.flush()
    if args.tsv:
        import sklearn
        print(f"#\tpy\tnumpy {np.__version__}\tscikit-learn {sklearn.__version__}")


def load(path):
    times, figs, meta = {}, {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            v = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if v[0] == "#":
                meta.append(v[1:])
            elif v[0] == "figures":
                figs[v[1]] = [float(s) for s in v[2:]]
            else:
                key = (v[1], v[2])
                times.setdefault(key, []).extend(float(s) for s in v[6].split(","))
                times[(key, "rows")] = int(v[3])
    return times, figs, meta


def report(xent_path, py_path):
    from report import print_table
    xt, xf, xmeta = load(xent_path)
    pt, pf, pmeta = load(py_path)
    for m in xmeta:
        print(f"libxent {m[1]}, auto kernel = {m[2]}")
    for m in pmeta:
        print(f"{m[1]}, {m[2]}, one thread")
    print("Whole-dataset metrics of 50,000 x 1,000 logits (accuracy, top-5, "
          "nll, brier, ece, per-class P/R/F1, confusion); median seconds.")
    print("Ratio: numpy + scikit-learn time / libxent time (> 1: libxent is "
          "faster). libxent also gives top-1, entropy, ece_l2, mce and the "
          "reliability bins in that time.")
    print()
    head = ["logits", "libxent whole", "libxent batches of 1000 + merges",
            "numpy + sklearn", "ratio (whole)", "ratio (batches)"]
    lines = []
    for d in ("float64", "float32"):
        w = xt.get((d, "whole"))
        b = xt.get((d, "batches"))
        p = pt.get((d, "figures"))
        if not (w and b and p):
            continue
        mw, mb, mp = (statistics.median(v) for v in (w, b, p))
        lines.append([d, f"{mw:.3f} s", f"{mb:.3f} s", f"{mp:.3f} s",
                      f"{mp / mw:.1f}x", f"{mp / mb:.1f}x"])
    print_table(head, lines)
    print()
    names = ["accuracy", "top-5", "nll", "brier", "ece", "macro F1",
             "weighted F1"]
    head = ["figure"]
    for d in ("float64", "float32"):
        head += [f"libxent {d}", f"numpy {d}", "rel diff"]
    lines = []
    for i, name in enumerate(names):
        row = [name]
        for d in ("float64", "float32"):
            a, b = xf.get(d), pf.get(d)
            if a is None or b is None:
                row += ["-", "-", "-"]
                continue
            diff = abs(a[i] - b[i]) / max(abs(b[i]), 1e-300)
            row += [f"{a[i]:.12g}", f"{b[i]:.12g}", f"{diff:.1e}"]
        lines.append(row)
    print_table(head, lines)
    print("(numpy computes float32 logits in float32; libxent in double.)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--report", nargs=2, metavar=("XENT_TSV", "PY_TSV"))
    args = ap.parse_args()
    if args.report:
        report(*args.report)
    else:
        run(args)


if __name__ == "__main__":
    main()
