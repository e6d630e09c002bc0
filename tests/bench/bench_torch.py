#!/usr/bin/python3
"""PyTorch's own CPU cross-entropy, forward plus backward, as the baseline
for bench_lib.

For each batch shape and dtype (float32, float64) times
F.cross_entropy(x, t, label_smoothing=0.1) (reduction mean) followed by
torch.autograd.grad(loss, x) on one thread, and prints nanoseconds per logit:
the median over several runs after a warm-up, each run long enough (about
30 ms by default) for time.perf_counter_ns to be precise.

PyTorch's CPU tensors come from glibc malloc, which by default returns large
blocks to the kernel with munmap and so pays page faults for every fresh
gradient and softmax buffer (measured: 64 x 32000 float32 goes from about
5 to about 75 ns per logit). The baseline should be PyTorch at its best, so
unless --default-malloc is given the script re-executes itself with glibc
tunables that keep freed memory in the heap (GLIBC_TUNABLES below).

Then each loss family as PyTorch users write it, at 256 x 1000 and
(8, 21, 128, 128) (channels-first), float32 and float64, loss + grad:
cross_entropy  F.cross_entropy(x, t, label_smoothing=0.1)
bce            F.binary_cross_entropy_with_logits(x, y), y dense 0/1
sigmoid_focal  torchvision.ops.sigmoid_focal_loss(x, y, reduction="mean")
softmax_focal  -0.25 (1 - p_t)^2 log p_t, p_t gathered from log_softmax
poly1          ce + 2 (1 - p_t) with p_t = exp(-ce), ce per row
(hard labels: the gathered forms are the cheapest PyTorch has).

Usage: bench_torch.py [--tsv] [--runs N] [--ms M] [--default-malloc]
  --tsv   one tab-separated line per measurement:
          torch <dtype> - <n> <classes> <ns_per_logit> <loss> <runs>
          where <runs> lists every run's ns per logit, comma-separated;
          for the families
          torchf <family> <dtype> - <shape> <ns_per_logit> <loss> <runs>
"""
import argparse
import os
import statistics
import sys
import time

TUNABLES = ("glibc.malloc.mmap_threshold=1073741824:"
            "glibc.malloc.trim_threshold=2147483648")
# Before torch is imported: the tunables take effect only at process start.
if ("--default-malloc" not in sys.argv[1:]
        and os.environ.get("GLIBC_TUNABLES") != TUNABLES):
    os.execve(sys.executable,
              [sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
              dict(os.environ, GLIBC_TUNABLES=TUNABLES))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

SHAPES = [(256, 1000), (64, 32000), (8192, 10)]
DTYPES = [("float32", torch.float32), ("float64", torch.float64)]


def step(x, t):
    loss = F.cross_entropy(x, t, label_smoothing=0.1)
    (grad,) = torch.autograd.grad(loss, x)
    return loss, grad


def setup(n, classes, dtype, target_ms):
    """Data, warm-up, and how many steps make one run of about target_ms."""
    gen = torch.Generator().manual_seed(n * 100003 + classes)
    x = torch.randn(n, classes, generator=gen, dtype=torch.float64) * 1.7
    x = x.to(dtype).requires_grad_(True)
    t = torch.randint(0, classes, (n,), generator=gen)
    for _ in range(3):
        step(x, t)
    start = time.perf_counter_ns()
    step(x, t)
    one = max(time.perf_counter_ns() - start, 100)
    iters = max(1, min(1_000_000, int(target_ms * 1e6 / one)))
    return {"n": n, "classes": classes, "x": x, "t": t, "iters": iters,
            "ns": [], "loss": 0.0}


FAMILY_SHAPES = [(256, 1000), (8, 21, 128, 128)]
FAMILIES = ["cross_entropy", "bce", "sigmoid_focal", "softmax_focal", "poly1"]


def family_step(name, x, t, y):
    if name == "cross_entropy":
        loss = F.cross_entropy(x, t, label_smoothing=0.1)
    elif name == "bce":
        loss = F.binary_cross_entropy_with_logits(x, y)
    elif name == "sigmoid_focal":
        loss = torchvision.ops.sigmoid_focal_loss(x, y, reduction="mean")
    elif name == "softmax_focal":
        lpt = F.log_softmax(x, 1).gather(1, t.unsqueeze(1))
        loss = (-0.25 * (1 - lpt.exp()) ** 2 * lpt).mean()
    else:
        ce = F.cross_entropy(x, t, reduction="none")
        loss = (ce + 2.0 * (1 - torch.exp(-ce))).mean()
    (grad,) = torch.autograd.grad(loss, x)
    return loss, grad


def family_setup(name, shape, dtype, target_ms):
    gen = torch.Generator().manual_seed(sum(shape) * 7919 + len(name))
    x = torch.randn(*shape, generator=gen, dtype=torch.float64) * 1.7
    x = x.to(dtype).requires_grad_(True)
    t = torch.randint(0, shape[1], (shape[0],) + tuple(shape[2:]), generator=gen)
    y = (torch.rand(*shape, generator=gen, dtype=torch.float64) < 0.1).to(dtype)
    for _ in range(2):
        family_step(name, x, t, y)
    start = time.perf_counter_ns()
    family_step(name, x, t, y)
    one = max(time.perf_counter_ns() - start, 100)
    iters = max(1, min(1_000_000, int(target_ms * 1e6 / one)))
    logits = 1
    for d in shape:
        logits *= d
    return {"name": name, "shape": shape, "x": x, "t": t, "y": y,
            "iters": iters, "logits": logits, "ns": [], "loss": 0.0}


def family_run(c):
    start = time.perf_counter_ns()
    for _ in range(c["iters"]):
        loss, _ = family_step(c["name"], c["x"], c["t"], c["y"])
    elapsed = time.perf_counter_ns() - start
    c["ns"].append(elapsed / (c["iters"] * c["logits"]))
    c["loss"] = float(loss)


def time_run(c):
    start = time.perf_counter_ns()
    for _ in range(c["iters"]):
        loss, _ = step(c["x"], c["t"])
    elapsed = time.perf_counter_ns() - start
    c["ns"].append(elapsed / (c["iters"] * c["n"] * c["classes"]))
    c["loss"] = float(loss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", action="store_true")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--ms", type=float, default=30.0)
    ap.add_argument("--default-malloc", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.runs <= 101 or not 0 < args.ms < 1e5:
        ap.error("--runs must be 1..101, --ms 0..1e5")
    torch.set_num_threads(1)
    tunables = os.environ.get("GLIBC_TUNABLES", "(unset)")
    if args.tsv:
        print(f"#\ttorch\t{torch.__version__}\t{tunables}")
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; "
              f"F.cross_entropy(label_smoothing=0.1) + autograd.grad; "
              f"median of {args.runs} runs; GLIBC_TUNABLES="
              f"{tunables}")
        print(f"{'size':<12} {'dtype':<8} {'ns per logit':>14}")
    configs = [(name, setup(n, classes, dtype, args.ms))
               for n, classes in SHAPES for name, dtype in DTYPES]
    # Round robin, as bench_lib: run r of every configuration first.
    for _ in range(args.runs):
        for _, c in configs:
            time_run(c)
    for name, c in configs:
        ns = statistics.median(c["ns"])
        if args.tsv:
            runs = ",".join(f"{v:.4f}" for v in c["ns"])
            print(f"torch\t{name}\t-\t{c['n']}\t{c['classes']}\t{ns:.4f}"
                  f"\t{c['loss']!r}\t{runs}")
        else:
            print(f"{c['n']:5d} x {c['classes']:<5d} {name:<8} {ns:14.3f}")
    fconfigs = [(dname, family_setup(fam, shape, dtype, args.ms))
                for shape in FAMILY_SHAPES for fam in FAMILIES
                for dname, dtype in DTYPES]
    for _ in range(args.runs):
        for _, c in fconfigs:
            family_run(c)
    if not args.tsv:
        print(f"\nloss families, loss + grad; median of {args.runs} runs")
        print(f"{'family':<14} {'shape':<13} {'dtype':<8} {'ns per logit':>14}")
    for dname, c in fconfigs:
        ns = statistics.median(c["ns"])
        shape = "x".join(str(d) for d in c["shape"])
        if args.tsv:
            runs = ",".join(f"{v:.4f}" for v in c["ns"])
            print(f"torchf\t{c['name']}\t{dname}\t-\t{shape}\t{ns:.4f}"
                  f"\t{c['loss']!r}\t{runs}")
        else:
            print(f"{c['name']:<14} {shape:<13} {dname:<8} {ns:14.3f}")


if __name__ == "__main__":
    main()
