#!/usr/bin/python3
"""Prints the `make bench` tables from the TSV output of bench_lib and
bench_torch.py (measured in the same run).

Usage: report.py LIB_TSV TORCH_TSV
Each data line: source dtype kernel n classes ns_per_logit loss runs, where
runs lists every run's ns per logit; family lines (source xentf / torchf):
source family dtype kernel shape ns_per_logit loss runs. Lines starting
with '#' carry the versions. A file may hold several rounds (`make bench`
alternates the two programs): the runs of every round are pooled and their
median is shown.
"""
import statistics
import sys


def load(path):
    rows, meta, order = {}, [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if fields[0] == "#":
                if fields[1:] not in meta:
                    meta.append(fields[1:])
                continue
            if fields[0] in ("xentf", "torchf"):
                src, family, dtype, kernel, shape, ns = fields[:6]
                runs = fields[7].split(",") if len(fields) > 7 else [ns]
                key = (src, family, dtype, shape)
                rows.setdefault(key, []).extend(float(v) for v in runs)
                continue
            src, dtype, kernel, n, classes, ns = fields[:6]
            runs = fields[7].split(",") if len(fields) > 7 else [ns]
            key = (src, dtype, kernel, int(n), int(classes))
            rows.setdefault(key, []).extend(float(v) for v in runs)
            if (int(n), int(classes)) not in order:
                order.append((int(n), int(classes)))
    counts = {len(v) for k, v in rows.items() if k[0] in ("xent", "torch")}
    rows = {k: statistics.median(v) for k, v in rows.items()}
    return rows, meta, order, counts


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py LIB_TSV TORCH_TSV")
    lib, lib_meta, shapes, lib_counts = load(sys.argv[1])
    torch, torch_meta, _, torch_counts = load(sys.argv[2])
    runs = "/".join(str(c) for c in sorted(lib_counts | torch_counts))
    if not shapes:
        sys.exit("report.py: no libxent measurement")
    best = lib_meta[0][2] if lib_meta else "?"
    kernels = [k for k in ("auto", "scalar", "avx2", "avx512")
               if any(key[2] == k for key in lib)]
    for m in lib_meta:
        print(f"libxent {m[1]}, auto kernel = {m[2]}")
    for m in torch_meta:
        print(f"PyTorch {m[1]}, 1 thread, GLIBC_TUNABLES={m[2]}")
    print("Forward + backward (loss and grad), hard labels, label_smoothing "
          f"0.1, mean; ns per logit, median of {runs} runs (lower is better).")
    print("Ratios are torch / xent: > 1 means xent is faster.")
    print()

    def cell(v):
        return f"{v:.2f}" if v is not None else "-"

    def ratio(a, b):
        return f"{a / b:.2f}x" if a is not None and b else "-"

    head = ["size", f"xent double ({best})", "xent f32-in", "torch f32",
            "torch f64", "torch_f32 / xent", "torch_f64 / xent"]
    lines = []
    for n, c in shapes:
        xd = lib.get(("xent", "double", "auto", n, c))
        xf = lib.get(("xent", "float32", "auto", n, c))
        tf = torch.get(("torch", "float32", "-", n, c))
        td = torch.get(("torch", "float64", "-", n, c))
        lines.append([f"{n} x {c}", cell(xd), cell(xf), cell(tf), cell(td),
                      ratio(tf, xd), ratio(td, xd)])
    print_table(head, lines)
    print()
    print("Per kernel (ns per logit; ratio is torch f32 / xent double):")
    head = ["size", "kernel", "xent double", "xent f32-in",
            "torch_f32 / xent"]
    lines = []
    for n, c in shapes:
        tf = torch.get(("torch", "float32", "-", n, c))
        for k in kernels:
            xd = lib.get(("xent", "double", k, n, c))
            xf = lib.get(("xent", "float32", k, n, c))
            lines.append([f"{n} x {c}", k, cell(xd), cell(xf), ratio(tf, xd)])
    print_table(head, lines)

    fams = []
    for key in lib:
        if key[0] == "xentf" and (key[1], key[3]) not in fams:
            fams.append((key[1], key[3]))
    if not fams:
        return
    print()
    print("Loss families, forward + backward (loss and grad), xent with double "
          f"logits ({best}); ns per logit. 8x21x128x128 is channels-first.")
    print("CE: label_smoothing 0.1; BCE, sigmoid focal: dense 0/1 targets; "
          "softmax focal (gamma 2, alpha 0.25), poly-1 (eps 2): hard labels.")
    head = ["family", "shape", "xent double", "torch f32", "torch f64",
            "torch_f32 / xent", "torch_f64 / xent"]
    lines = []
    for shape in dict.fromkeys(s for _, s in fams):
        for fam, s in fams:
            if s != shape:
                continue
            xd = lib.get(("xentf", fam, "double", shape))
            tf = torch.get(("torchf", fam, "float32", shape))
            td = torch.get(("torchf", fam, "float64", shape))
            lines.append([fam, shape, cell(xd), cell(tf), cell(td),
                          ratio(tf, xd), ratio(td, xd)])
    print_table(head, lines)


def print_table(head, lines):
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]

    def fmt(row):
        cells = [row[0].ljust(widths[0])]
        cells += [v.rjust(w) for v, w in zip(row[1:], widths[1:])]
        return "| " + " | ".join(cells) + " |"

    print(fmt(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in lines:
        print(fmt(r))


if __name__ == "__main__":
    main()
