"""Reference cases for libxent's loss families and K-dimensional inputs,
against PyTorch float64 autograd (run by test_reference.py).

Families and what each case is compared with:
- bce:            F.binary_cross_entropy_with_logits (weight, pos_weight of
                  shape (C, 1, ..., 1) for channels-first as PyTorch needs)
- sigmoid-focal:  torchvision.ops.sigmoid_focal_loss (its own code with
                  pos_weight when a case has one; torchvision has none)
- softmax-focal:  -sum_c w_c alpha_c (1 - p_c)^gamma q_c log p_c, torch ops
- poly1:          -sum_c w_c q_c log p_c + eps sum_c w_c q_c (1 - p_c), torch
                  ops (optax's form)
- ce-kdim:        F.cross_entropy on (N, C, d1..dk) inputs (weight,
                  ignore_index, label_smoothing, probability targets), or the
                  soft-target sum with q built as timm's mixup_target where
                  PyTorch has no path (mixup, 'others', masked classes)
Targets q follow timm (one-hot smoothed, then mixed; BinaryCrossEntropy's
threshold) and Keras (binary smoothing), built here with torch ops. Every
case is random and reproducible from (seed, index); cases draw every
option: element type, layout (2-D, class axis 1 or last, 1 to 3 extra
dimensions), hard or soft targets, smoothing conventions, mixup pairings,
ignore_index, masked classes, class weights, pos_weight, threshold,
sum_classes, gamma, alpha (scalar, none, per class), epsilon, reduction.

Tolerance: |got - want| <= 1e-12 * max(|want|, S) + DBL_MIN for every
element of loss, per_sample, grad, targets, probs and elementwise, where S
is the magnitude of the terms the value is computed from (PyTorch's and
libxent's results are sums and differences of the same terms, rounded in
different orders): for a value that does not cancel S <= |want| and the
bound is plain relative 1e-12 with no absolute floor; where terms cancel
(sigma(x) - t, p_j Z - tau_j, log(s) of a near-certain row, whose absolute
error is 1e-16 in any implementation that sums s first), the bound is
relative to those terms.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

import xent_ctypes as xc

TOL = 1e-12
TINY = 2.2250738585072014e-308  # smallest normal double
FAMILY_NAMES = ["bce", "sigmoid-focal", "softmax-focal", "poly1", "ce-kdim"]
FAMILY_ENUM = {
    "bce": xc.LOSS_BINARY_CROSS_ENTROPY,
    "sigmoid-focal": xc.LOSS_SIGMOID_FOCAL,
    "softmax-focal": xc.LOSS_SOFTMAX_FOCAL,
    "poly1": xc.LOSS_POLY1,
    "ce-kdim": xc.LOSS_CROSS_ENTROPY,
}
RED_NAMES = {xc.REDUCE_MEAN: "mean", xc.REDUCE_SUM: "sum", xc.REDUCE_NONE: "none"}
WORST = [0.0, ""]

REQUIRED = {
    "common": [
        "dtype f64", "dtype f32", "dtype f16", "dtype bf16", "layout 2-D",
        "layout axis 1", "layout axis last", "hard", "soft", "mixup flip",
        "mixup roll", "mixup explicit", "ignore_index", "masked classes",
        "class weights", "reduction mean", "reduction sum", "reduction none",
        "eps=0", "eps random", "eps=1", "logits |x| >= 100",
    ],
    "binary": ["pos_weight", "threshold", "sum_classes", "smoothing binary",
               "smoothing uniform", "smoothing others", "multi-label 0/1"],
    "focal": ["gamma 0", "gamma < 1", "gamma non-integer > 1", "alpha none"],
    "softmax-focal": ["alpha per class"],
    "poly1": ["epsilon < 0"],
    "ce-kdim": ["torch hard path", "torch soft path", "smoothing others"],
}


def required_tags(fam):
    tags = list(REQUIRED["common"])
    if fam in ("bce", "sigmoid-focal"):
        tags += REQUIRED["binary"]
    if fam in ("sigmoid-focal", "softmax-focal"):
        tags += REQUIRED["focal"]
    tags += REQUIRED.get(fam, [])
    if fam == "ce-kdim":
        tags.remove("layout 2-D")
    return tags


# ------------------------------------------------------------- cases ----


def gen_case(seed, fam, i):
    rng = np.random.default_rng([seed, 7, FAMILY_NAMES.index(fam), i])
    binary = fam in ("bce", "sigmoid-focal")
    tags = set()

    # layout
    r = rng.random()
    if fam == "ce-kdim":
        layout = "axis 1" if r < 0.6 else "axis last"
    else:
        layout = "2-D" if r < 0.5 else ("axis 1" if r < 0.75 else "axis last")
    tags.add("layout " + layout)
    if layout == "2-D":
        dims = ()
    else:
        k = int(rng.integers(1, 4))
        dims = tuple(int(d) for d in rng.integers(1, 7, k))
        if i % 25 == 3:
            dims = (16, 16)  # a segmentation-like map, several blocks
    inner = int(np.prod(dims, dtype=np.int64)) if dims else 1

    # targets, smoothing convention
    hard = rng.random() < 0.6
    tags.add("hard" if hard else "soft")
    if binary:
        conv = [xc.SMOOTH_UNIFORM, xc.SMOOTH_BINARY, xc.SMOOTH_OTHERS][int(rng.integers(3))]
        if not hard and conv == xc.SMOOTH_OTHERS:
            conv = xc.SMOOTH_UNIFORM
    else:
        conv = xc.SMOOTH_OTHERS if hard and rng.random() < 0.3 else xc.SMOOTH_UNIFORM
    masked = rng.random() < 0.2
    min_c = 1
    if conv == xc.SMOOTH_OTHERS:
        min_c = 2
    if masked:
        min_c = max(min_c, 3) + (1 if conv == xc.SMOOTH_OTHERS else 0)

    # shape
    sel = i % 10
    if sel == 0 and layout == "2-D":
        n, c = 1, max(1, min_c)
    elif sel == 1 and layout == "2-D":
        n, c = 64, 1000 if not binary else 200
    else:
        n = int(rng.integers(1, 13))
        c = int(round(math.exp(rng.uniform(math.log(max(min_c, 1)), math.log(60)))))
        c = max(c, min_c)
    rows = n * inner

    reduction = [xc.REDUCE_MEAN, xc.REDUCE_SUM, xc.REDUCE_NONE][int(rng.integers(3))]
    tags.add("reduction " + RED_NAMES[reduction])

    # smoothing
    r = rng.random()
    eps = 0.0 if r < 0.3 else (1.0 if r < 0.36 else float(rng.uniform(0, 0.6)))
    if conv == xc.SMOOTH_OTHERS and eps > 0 and c < 2:
        eps = 0.0
    tags.add("eps=0" if eps == 0 else ("eps=1" if eps == 1 else "eps random"))
    if binary:
        tags.add("smoothing " + ["uniform", "others", "binary"][conv])
    elif conv == xc.SMOOTH_OTHERS:
        tags.add("smoothing others")

    # hard labels, ignore, mixup
    targets = soft = lam = partners = None
    pairing = xc.PAIR_FLIP
    ignore_index = -100
    ignored = np.zeros(rows, dtype=bool)
    pi = None  # partner sample
    if hard:
        mixup = rng.random() < 0.35
        if mixup:
            pairing = [xc.PAIR_FLIP, xc.PAIR_ROLL, xc.PAIR_EXPLICIT][int(rng.integers(3))]
            tags.add("mixup " + ["flip", "roll", "explicit"][pairing])
            if pairing == xc.PAIR_EXPLICIT:
                partners = rng.integers(0, n, n).astype(np.int64)
                pi = partners
            elif pairing == xc.PAIR_FLIP:
                pi = np.arange(n)[::-1].copy()
            else:
                pi = (np.arange(n) - 1) % n
            lam = rng.uniform(0, 1, 1 if rng.random() < 0.5 else n)
            edge = rng.random(lam.size) < 0.15
            lam[edge] = rng.integers(0, 2, int(edge.sum()))
        if rng.random() < 0.35:
            ignore_index = int([-100, -1, int(rng.integers(c))][int(rng.integers(3))])
            if mixup:
                if pairing == xc.PAIR_FLIP:
                    # a position and its partner's together
                    for s in range(n // 2):
                        for d in range(inner):
                            if rng.random() < 0.25:
                                ignored[s * inner + d] = True
                                ignored[(n - 1 - s) * inner + d] = True
            else:
                ignored = rng.random(rows) < rng.uniform(0.05, 0.4)
            if reduction == xc.REDUCE_MEAN and ignored.all():
                ignored[:] = False
            if ignored.any():
                tags.add("ignore_index")
        labels = [k for k in range(c) if k != ignore_index]
        if not labels:  # c == 1 and ignore_index 0
            ignore_index, labels = -100, [0]
        targets = rng.choice(labels, size=rows).astype(np.int64)
        targets[ignored] = ignore_index

    def partner_rows():
        s = np.arange(rows) // inner
        d = np.arange(rows) % inner
        return pi[s] * inner + d

    # masked classes
    mask = np.zeros((rows, c), dtype=bool)
    if masked:
        need = 2 if conv == xc.SMOOTH_OTHERS else 1
        mask = rng.random((rows, c)) < rng.uniform(0.1, 0.6)
        prow = partner_rows() if pi is not None else None
        for r_ in range(rows):
            if targets is not None and not ignored[r_]:
                mask[r_, targets[r_]] = False
                if prow is not None:
                    mask[r_, targets[prow[r_]]] = False
            free = np.flatnonzero(mask[r_])
            short = need - (c - int(mask[r_].sum()))
            for k in free[: max(short, 0)]:
                mask[r_, k] = False
        if mask.any():
            tags.add("masked classes")

    # soft targets
    if not hard:
        if binary:
            style = int(rng.integers(3))
            if style == 0:
                y = (rng.random((rows, c)) < 0.3).astype(np.float64)
                tags.add("multi-label 0/1")
            elif style == 1:
                y = rng.random((rows, c))
            else:
                y = rng.choice([0.0, 0.25, 0.5, 1.0], size=(rows, c))
        else:
            y = rng.random((rows, c)) * (2.0 if rng.random() < 0.3 else 1.0)
            if rng.random() < 0.5:
                y /= np.maximum(y.sum(1, keepdims=True), 1e-300)
        y[mask] = 0.0
        soft = y

    # weights and family parameters
    weights = None
    if rng.random() < 0.4:
        weights = rng.uniform(0, 3, c)
        weights[rng.random(c) < 0.1] = 0.0
        tags.add("class weights")
    pos_weight = threshold_ = None
    sum_classes = False
    if binary:
        if rng.random() < 0.4:
            pos_weight = rng.uniform(0, 4, c)
            tags.add("pos_weight")
        if rng.random() < 0.25:
            threshold_ = float(rng.choice([0.0, 0.2, 0.5, float(rng.uniform(0, 0.9))]))
            tags.add("threshold")
        if reduction == xc.REDUCE_MEAN and rng.random() < 0.3:
            sum_classes = True
            tags.add("sum_classes")
    if (weights is not None and not binary and hard and reduction == xc.REDUCE_MEAN
            and mean_denominator(targets, ignored, weights, lam, pi, inner) <= 0):
        weights += 0.5  # the mean over zero weight is an error, not a case
    gamma = float(rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0]))
    alpha = float(rng.choice([0.25, -1.0, 1.0, 0.0, float(rng.uniform(0, 1))]))
    alpha_pc = None
    if fam in ("sigmoid-focal", "softmax-focal"):
        tags.add("gamma 0" if gamma == 0 else "gamma < 1" if gamma < 1 else
                 "gamma non-integer > 1" if gamma != int(gamma) else "gamma integer")
        if alpha < 0:
            tags.add("alpha none")
        if fam == "softmax-focal" and rng.random() < 0.3:
            alpha_pc = rng.uniform(0, 1, c)
            tags.add("alpha per class")
    epsilon = float(rng.choice([-1.0, 0.0, 1.0, 2.0, float(rng.uniform(-1, 5))]))
    if fam == "poly1" and epsilon < 0:
        tags.add("epsilon < 0")

    # logits
    scale = float([0.5, 2, 5, 10, 40, 200, 1e3][int(rng.integers(7))])
    x = rng.uniform(-scale, scale, (rows, c))
    if np.abs(x).max() >= 100:
        tags.add("logits |x| >= 100")
    x[mask] = -np.inf
    if ignored.any() and rng.random() < 0.3:
        r_ = int(rng.choice(np.flatnonzero(ignored)))
        x[r_, int(rng.integers(c))] = np.nan if rng.random() < 0.5 else np.inf
        tags.add("ignored position with NaN/+inf")
    r = rng.random()
    dname = "f64" if r < 0.7 else ("f32" if r < 0.8 else ("f16" if r < 0.9 else "bf16"))
    tags.add("dtype " + dname)
    lib_dtype = None
    if dname == "f32":
        x = x.astype(np.float32).astype(np.float64)
    elif dname in ("f16", "bf16"):
        t16 = torch.from_numpy(x).to(torch.half if dname == "f16" else torch.bfloat16)
        x = t16.double().numpy()
        lib_dtype = xc.F16 if dname == "f16" else xc.BF16
        # half rounding can make a masked-free row overflow: keep it finite
        x[np.isinf(x) & ~mask & ~ignored[:, None]] = 0.0

    return {
        "fam": fam, "index": i, "tags": tags, "n": n, "c": c, "dims": dims,
        "inner": inner, "rows": rows, "layout": layout, "x": x, "dname": dname,
        "lib_dtype": lib_dtype, "mask": mask, "targets": targets, "soft": soft,
        "ignored": ignored, "ignore_index": ignore_index, "eps": eps, "conv": conv,
        "lam": lam, "pairing": pairing, "partners": partners, "pi": pi,
        "weights": weights, "pos_weight": pos_weight, "threshold": threshold_,
        "sum_classes": sum_classes, "gamma": gamma, "alpha": alpha,
        "alpha_pc": alpha_pc, "epsilon": epsilon, "reduction": reduction,
    }


def mean_denominator(targets, ignored, weights, lam, pi, inner):
    """Cross-entropy's D for hard labels (semantics 3), per position."""
    rows = targets.size
    t = np.where(ignored, 0, targets)
    own = weights[t]
    if lam is None:
        dn = own
    else:
        prow = pi[np.arange(rows) // inner] * inner + np.arange(rows) % inner
        lam_r = np.broadcast_to(lam, (rows // inner,))[np.arange(rows) // inner]
        dn = lam_r * own + (1 - lam_r) * weights[t[prow]]
    return float(np.where(ignored, 0.0, dn).sum())


# ------------------------------------------------------------ layouts ----


def to_cf(case, flat):
    """(rows, C) -> (N, C, *dims), channels-first (a torch tensor or numpy)."""
    n, c, dims = case["n"], case["c"], case["dims"]
    if isinstance(flat, torch.Tensor):
        return flat.reshape((n,) + dims + (c,)).movedim(-1, 1)
    return np.moveaxis(flat.reshape((n,) + dims + (c,)), -1, 1)


def lib_layout(case, flat):
    """(rows, C) -> the library's layout (2-D, channels-first or -last)."""
    n, c, dims = case["n"], case["c"], case["dims"]
    if case["layout"] == "2-D":
        return np.ascontiguousarray(flat)
    a = flat.reshape((n,) + dims + (c,))
    if case["layout"] == "axis last":
        return np.ascontiguousarray(a)
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def from_cf(case, cf):
    """(N, C, *dims) numpy -> the library's layout."""
    n, c = case["n"], case["c"]
    flat = np.moveaxis(cf, 1, -1).reshape(n * case["inner"], c)
    return lib_layout(case, flat)


def rows_shape(case):
    return (case["n"],) + case["dims"]


# ------------------------------------------------------------ targets ----


def smoothed_one_hot(labels, mask, eps, conv):
    """semantics 1.1 over the unmasked classes (K of them), 0 on masked."""
    rows, c = mask.shape
    k = torch.tensor(c - mask.sum(axis=1), dtype=torch.float64)
    if eps == 0:
        off, on = torch.zeros_like(k), torch.ones_like(k)
    elif conv == xc.SMOOTH_UNIFORM:
        off = eps / k
        on = 1.0 - eps + off
    elif conv == xc.SMOOTH_BINARY:  # Keras: y (1 - eps) + eps / 2
        off = torch.full_like(k, 0.5 * eps)
        on = torch.full_like(k, 1.0 - 0.5 * eps)
    else:
        off = eps / (k - 1.0)
        on = torch.full_like(k, 1.0 - eps)
    y = off[:, None].expand(rows, c).clone()
    y[torch.from_numpy(mask)] = 0.0
    y.scatter_(1, torch.from_numpy(labels).view(-1, 1), on[:, None])
    y[torch.from_numpy(mask)] = 0.0
    return y


def build_q(case):
    """The targets q (rows, C), as timm / Keras build them."""
    mask, eps, conv = case["mask"], case["eps"], case["conv"]
    rows, c = mask.shape
    tmask = torch.from_numpy(mask)
    if case["soft"] is not None:
        y = torch.from_numpy(case["soft"])
        k = torch.tensor(c - mask.sum(axis=1), dtype=torch.float64)
        off = (0.5 * eps) * torch.ones_like(k) if conv == xc.SMOOTH_BINARY else eps / k
        q = y * (1.0 - eps) + off[:, None]
    else:
        t = np.where(case["ignored"], 0, case["targets"])
        y1 = smoothed_one_hot(t, mask, eps, conv)
        if case["lam"] is None:
            q = y1
        else:
            inner = case["inner"]
            prow = case["pi"][np.arange(rows) // inner] * inner + np.arange(rows) % inner
            y2 = smoothed_one_hot(t[prow], mask, eps, conv)
            lam = np.broadcast_to(case["lam"], (case["n"],))[np.arange(rows) // inner]
            lam_t = torch.from_numpy(lam.copy())[:, None]
            q = y1 * lam_t + y2 * (1.0 - lam_t)  # timm's mixup_target order
    if case["threshold"] is not None:
        q = q.gt(case["threshold"]).to(q.dtype)  # timm BinaryCrossEntropy
    q = torch.where(tmask, torch.zeros_like(q), q)
    q[torch.from_numpy(case["ignored"])] = 0.0
    return q


# ---------------------------------------------------------- reference ----


def class_view(case, v):
    """A per-class vector broadcast over (N, C, *dims): PyTorch needs
    (C, 1, ..., 1) for channels-first pos_weight and weight."""
    return v.view((case["c"],) + (1,) * len(case["dims"]))


def reference(case):
    """Expected outputs and their term scales, in the channels-first
    layout (N, C, *dims) and per position (N, *dims)."""
    fam = case["fam"]
    binary = fam in ("bce", "sigmoid-focal")
    c = case["c"]
    ignored = torch.from_numpy(case["ignored"])
    mask_flat = torch.from_numpy(case["mask"])
    q_flat = build_q(case)
    x_flat = torch.from_numpy(case["x"].copy())
    bad = (torch.isnan(x_flat) | torch.isposinf(x_flat)).any(1)
    x_flat[bad] = 0.0  # ignored positions take no part: neutral for autograd
    if binary:
        x_flat = torch.where(mask_flat, torch.zeros_like(x_flat), x_flat)
    x = to_cf(case, x_flat).contiguous().requires_grad_(True)
    q = to_cf(case, q_flat)
    mask = to_cf(case, mask_flat)
    keep = ~to_cf(case, ignored[:, None].expand(-1, c))  # (N, C, *dims)
    kept_pos = ~ignored.view(rows_shape(case))
    w = torch.from_numpy(case["weights"]) if case["weights"] is not None else torch.ones(c, dtype=torch.float64)
    wv = class_view(case, w)
    red = case["reduction"]
    extra = {}
    path = fam

    if binary:
        pw = torch.from_numpy(case["pos_weight"]) if case["pos_weight"] is not None else None
        pwv = class_view(case, pw) if pw is not None else None
        live = keep & ~mask
        if fam == "bce":
            el = F.binary_cross_entropy_with_logits(
                x, q, weight=wv if case["weights"] is not None else None,
                pos_weight=pwv, reduction="none")
        else:
            if pw is None:
                el = torchvision.ops.sigmoid_focal_loss(
                    x, q, alpha=case["alpha"], gamma=case["gamma"], reduction="none")
            else:  # torchvision's code, with pos_weight inside its ce term
                p = torch.sigmoid(x)
                ce = F.binary_cross_entropy_with_logits(x, q, pos_weight=pwv, reduction="none")
                p_t = p * q + (1 - p) * (1 - q)
                el = ce * ((1 - p_t) ** case["gamma"])
                if case["alpha"] >= 0:
                    el = (case["alpha"] * q + (1 - case["alpha"]) * (1 - q)) * el
            if case["weights"] is not None:
                el = el * wv
        el = torch.where(live, el, torch.zeros_like(el))
        per = el.sum(1)
        if case["sum_classes"]:
            d = float(kept_pos.sum())
        else:
            d = float(live.sum())
        plain = not case["mask"].any() and not case["ignored"].any()
        if red == xc.REDUCE_MEAN:
            if plain and not case["sum_classes"] and fam == "bce":
                path = "torch mean"
                loss = F.binary_cross_entropy_with_logits(
                    x, q, weight=wv if case["weights"] is not None else None,
                    pos_weight=pwv, reduction="mean")
            else:
                loss = el.sum() / d
        else:
            d = 1.0
            loss = el.sum()
        # term scales (see the module docstring)
        with torch.no_grad():
            xd, qd = x.detach(), q
            lw = (pwv - 1) * qd + 1 if pwv is not None else torch.ones_like(qd)
            mv = (-xd).clamp_min(0)
            lg = torch.log1p(torch.exp(-xd.abs()))
            ce_s = ((1 - qd) * xd).abs() + lw * (mv + lg)
            sig = torch.sigmoid(xd)
            pwq = (pwv * qd) if pwv is not None else qd
            dce_s = lw * sig + pwq
            if fam == "bce":
                el_s = wv * ce_s
                g_s = wv * dce_s / d
            else:
                gmm = case["gamma"]
                pt = sig * qd + (1 - sig) * (1 - qd)
                u = 1 - pt
                at = (case["alpha"] * qd + (1 - case["alpha"]) * (1 - qd)) if case["alpha"] >= 0 else torch.ones_like(qd)
                # 1 - p_t is a difference of terms of size 1: what is
                # computed from it carries its absolute error (2^-53) times
                # the derivative in u (1 - p_t is 0 or at least 2^-53)
                umin = u.clamp_min(2.0 ** -53)
                if gmm > 0:
                    sens1 = gmm * umin ** (gmm - 1)
                    sens2 = gmm * abs(gmm - 1) * umin ** (gmm - 2)
                else:
                    sens1 = sens2 = torch.zeros_like(u)
                el_s = wv * at * ce_s * (u ** gmm + sens1)
                g_s = wv * at * (dce_s * (u ** gmm + sens1) + ce_s * (2 * qd - 1).abs()
                                 * sig * (1 - sig) * (sens1 + sens2)) / d
            el_s = torch.where(live, el_s, torch.zeros_like(el_s))
            g_s = torch.where(live, g_s, torch.zeros_like(g_s))
            per_s = el_s.sum(1)
            loss_s = per_s.sum() / d
        probs_want = torch.where(live, torch.sigmoid(x.detach()), torch.zeros_like(q))
        probs_s = probs_want.abs()
        extra["elementwise"] = (el.detach(), el_s)
    else:
        xin = x
        m = xin.detach().amax(1, keepdim=True)
        e = torch.exp(xin - m)
        s = e.sum(1, keepdim=True)
        p = e / s
        top = torch.argmax(xin.detach(), 1, keepdim=True)
        onehot = torch.zeros_like(p, dtype=torch.bool).scatter_(1, top, True)
        rest = torch.where(onehot, torch.zeros_like(e), e).sum(1, keepdim=True)
        # 1 - p and log p without cancellation for the largest logit (its
        # exp is 1, s = 1 + rest), so that autograd's gradient is right in
        # near-certain rows: log_softmax rounds log p_top to 0 there
        u = torch.where(onehot, rest / s, 1 - p)
        x_top = xin.gather(1, top) - m  # 0, with x_top's derivative
        top_lp = x_top - torch.log1p(rest + torch.expm1(x_top))
        lp = torch.where(onehot, top_lp.expand_as(xin), F.log_softmax(xin, 1))
        lp_safe = torch.where(mask, torch.zeros_like(lp), lp)
        wq = wv * q
        if fam == "softmax-focal":
            if case["alpha_pc"] is not None:
                a = class_view(case, torch.from_numpy(case["alpha_pc"]))
            else:
                a = 1.0 if case["alpha"] < 0 else case["alpha"]
            gm = case["gamma"]
            if 0 < gm < 1:  # u^gamma at u = 0 without an infinite derivative
                zero = u == 0
                mod = torch.where(zero, torch.zeros_like(u),
                                  torch.where(zero, torch.ones_like(u), u) ** gm)
            else:
                mod = u ** gm
            term = -wq * a * mod * lp_safe
            per = torch.where(mask, torch.zeros_like(term), term).sum(1)
        elif fam == "poly1":
            term = -wq * lp_safe + case["epsilon"] * wq * u
            per = torch.where(mask, torch.zeros_like(term), term).sum(1)
        else:
            per = None
        hard = case["soft"] is None
        if hard:
            t = case["targets"]
            tt = np.where(case["ignored"], 0, t)
            wt = w[torch.from_numpy(tt)]
            if case["lam"] is not None:
                inner = case["inner"]
                rows = case["rows"]
                prow = case["pi"][np.arange(rows) // inner] * inner + np.arange(rows) % inner
                lam = torch.from_numpy(np.broadcast_to(case["lam"], (case["n"],))[np.arange(rows) // inner].copy())
                dn = lam * wt + (1 - lam) * w[torch.from_numpy(tt[prow])]
            else:
                dn = wt
            d = float(torch.where(ignored, torch.zeros_like(dn), dn).sum())
        else:
            d = float(case["rows"])
        if fam == "ce-kdim":
            torch_hard = hard and case["lam"] is None and case["conv"] == xc.SMOOTH_UNIFORM and not case["mask"].any()
            torch_soft = not hard and not case["mask"].any()
            if torch_hard or torch_soft:
                tgt = torch.from_numpy(case["targets"]).view(rows_shape(case)) if torch_hard else to_cf(case, torch.from_numpy(case["soft"]))
                kw = dict(weight=w if case["weights"] is not None else None, label_smoothing=case["eps"])
                if torch_hard:
                    kw["ignore_index"] = case["ignore_index"]
                    path = "torch hard path"
                else:
                    path = "torch soft path"
                per = F.cross_entropy(xin, tgt, reduction="none", **kw)
                loss = F.cross_entropy(xin, tgt, reduction=RED_NAMES[red], **kw) if red != xc.REDUCE_NONE else per.sum()
                if red != xc.REDUCE_MEAN:
                    d = 1.0
            else:
                path = "soft-target sum"
                term = -wq * lp_safe
                per = torch.where(mask, torch.zeros_like(term), term).sum(1)
        if fam != "ce-kdim" or path == "soft-target sum":
            per = torch.where(kept_pos, per, torch.zeros_like(per))
            if red == xc.REDUCE_MEAN:
                loss = per.sum() / d
            else:
                d = 1.0
                loss = per.sum()
        with torch.no_grad():
            lpd = lp_safe.detach()
            pd, ud, wqd = p.detach(), u.detach(), wq
            if fam == "softmax-focal":
                gm = case["gamma"]
                tau = wqd * a * (ud ** gm + gm * ud.clamp_min(2.0 ** -53) ** (gm - 1) * pd * lpd.abs())
                row_s = (wqd * a * ud ** gm * (lpd.abs() + 1)).sum(1)
            elif fam == "poly1":
                ep = abs(case["epsilon"])
                tau = wqd * (1 + ep * pd)
                row_s = (wqd * (lpd.abs() + 1 + ep * (ud + 1))).sum(1)
            else:
                tau = wqd
                row_s = (wqd * (lpd.abs() + 1)).sum(1)
            tau = torch.where(mask, torch.zeros_like(tau), tau)
            g_s = (pd * tau.sum(1, keepdim=True) + tau) / d
            g_s = torch.where(keep, g_s, torch.zeros_like(g_s))
            per_s = torch.where(kept_pos, row_s, torch.zeros_like(row_s))
            loss_s = per_s.sum() / d
        probs_want = pd.clone()
        bad_cf = to_cf(case, bad[:, None].expand(-1, c))
        probs_want[bad_cf] = 0.0
        probs_s = probs_want.abs()

    scalar = loss.sum() if red == xc.REDUCE_NONE else loss
    scalar.backward()
    grad = x.grad.detach()
    grad = torch.where(keep, grad, torch.zeros_like(grad))
    # torchvision's NaN (gamma < 1 where 1 - p_t is exactly 0): libxent
    # defines that element's gradient as 0 (see xent.h); nothing else may
    # be NaN
    nan = torch.isnan(grad)
    extra["nan"] = int(nan.sum()) if fam == "sigmoid-focal" else 0
    if fam == "sigmoid-focal":
        grad = torch.where(nan, torch.zeros_like(grad), grad)
    return {
        "path": path,
        "loss": (float(scalar.detach()), float(loss_s)),
        "per_sample": (per.detach(), per_s),
        "grad": (grad, g_s),
        # q: hard labels' values are sums of terms up to 1 (exactly 0 on
        # masked classes and ignored positions); soft ones do not cancel
        "targets": (q, q.abs() if case["soft"] is not None or case["threshold"] is not None
                    else (keep & ~mask).to(q.dtype)),
        "probs": (probs_want, probs_s),
        **extra,
    }


# --------------------------------------------------------- comparison ----


def mismatch(name, got, want, scale):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), want.shape)
    if got.shape != want.shape:
        return f"{name}: shape {got.shape} != {want.shape}"
    bound = TOL * np.maximum(np.abs(want), scale) + TINY
    with np.errstate(invalid="ignore"):
        err = np.abs(got - want)
        bad = ~(err <= bound)
    score = np.where(np.isfinite(err), err / bound, np.inf)
    if score.size and score.max() > WORST[0]:
        WORST[0], WORST[1] = float(score.max()), name
    if not bad.any():
        return None
    at = np.unravel_index(int(np.argmax(np.where(bad, score, -1))), got.shape)
    return (f"{name}[{','.join(map(str, at))}] got {got[at]!r} want {want[at]!r} "
            f"(scale {scale[at]:.3g}; {int(bad.sum())} of {got.size} off)")


def problem_of(case, kernel):
    lib_x = lib_layout(case, case["x"])
    if case["lib_dtype"] is not None:
        lib_x = torch.from_numpy(lib_x).to(
            torch.half if case["lib_dtype"] == xc.F16 else torch.bfloat16
        ).view(torch.int16).numpy().view(np.uint16).copy()
    soft = lib_layout(case, case["soft"]) if case["soft"] is not None else None
    return xc.make_problem(
        lib_x,
        logits_dtype=case["lib_dtype"],
        targets=case["targets"],
        soft_targets=soft,
        class_weights=case["weights"],
        ignore_index=case["ignore_index"],
        label_smoothing=case["eps"],
        smoothing=case["conv"],
        mixup_lambda=case["lam"],
        pairing=case["pairing"],
        partners=case["partners"],
        reduction=case["reduction"],
        kernel=kernel,
        family=FAMILY_ENUM[case["fam"]],
        pos_weight=case["pos_weight"],
        target_threshold=-1.0 if case["threshold"] is None else case["threshold"],
        sum_classes=case["sum_classes"],
        focal_alpha=case["alpha"],
        focal_alpha_per_class=case["alpha_pc"],
        focal_gamma=case["gamma"],
        poly_epsilon=case["epsilon"],
        class_axis=xc.CLASS_AXIS_LAST if case["layout"] == "axis last" else xc.CLASS_AXIS_1,
    )


def check_case(case, ref, kernels):
    found = []
    binary = case["fam"] in ("bce", "sigmoid-focal")
    axis = xc.CLASS_AXIS_LAST if case["layout"] == "axis last" else xc.CLASS_AXIS_1

    def lay(t):
        return from_cf(case, t.numpy() if isinstance(t, torch.Tensor) else t)

    for kernel in kernels:
        kname = xc.kernel_name(kernel)
        prob, keep = problem_of(case, kernel)
        status, err, got = xc.evaluate_full(prob, keep["shape"], axis,
                                            stats=not binary, elementwise=binary)
        if status != xc.OK:
            found.append(f"{kname}: xent_evaluate failed: {xc.format_error(err)}")
            continue
        checks = [
            ("loss", got["loss"], ref["loss"][0], ref["loss"][1]),
            ("per_sample", got["per_sample"], ref["per_sample"][0].numpy(), ref["per_sample"][1].numpy()),
            ("grad", got["grad"], lay(ref["grad"][0]), lay(ref["grad"][1])),
            ("targets", got["targets"], lay(ref["targets"][0]), lay(ref["targets"][1])),
            ("probs", got["probs"], lay(ref["probs"][0]), lay(ref["probs"][1])),
        ]
        if binary:
            checks.append(("elementwise", got["elementwise"], lay(ref["elementwise"][0]),
                           lay(ref["elementwise"][1])))
        for name, g, wnt, s in checks:
            m = mismatch(name, g, wnt, s)
            if m:
                found.append(f"{kname}: {m}")
        del keep
    prob, keep = problem_of(case, xc.KERNEL_AUTO)
    status, err, q = xc.targets_full(prob, keep["shape"])
    if status != xc.OK:
        found.append(f"xent_targets failed: {xc.format_error(err)}")
    else:
        m = mismatch("xent_targets", q, lay(ref["targets"][0]), lay(ref["targets"][1]))
        if m:
            found.append(m)
    return found


def describe(case):
    lam = case["lam"]
    lam_s = "-" if lam is None else (f"{lam[0]:.6g}" if lam.size == 1 else "per-sample")
    return (f"{case['fam']} N={case['n']} C={case['c']} dims={case['dims']} "
            f"layout={case['layout']} dtype={case['dname']} "
            f"reduction={RED_NAMES[case['reduction']]} eps={case['eps']:.6g} "
            f"conv={case['conv']} hard={case['soft'] is None} lambda={lam_s} "
            f"weights={case['weights'] is not None} pos_weight={case['pos_weight'] is not None} "
            f"threshold={case['threshold']} sum_classes={case['sum_classes']} "
            f"gamma={case['gamma']} alpha={case['alpha']} eps_poly={case['epsilon']:.6g} "
            f"ignored={int(case['ignored'].sum())} masked={int(case['mask'].sum())}")


def run(seed, cases_per_family, kernels, only=None, verbose=False):
    """Runs the family cases; returns (passed, failed, lines to print)."""
    passed = failed = 0
    lines = []
    counts = {}
    nan_total = 0
    for fam in FAMILY_NAMES:
        coverage = {}
        paths = {}
        fp = ff = 0
        for i in range(cases_per_family):
            if only is not None and (fam, i) != only:
                continue
            case = gen_case(seed, fam, i)
            for tag in case["tags"]:
                coverage[tag] = coverage.get(tag, 0) + 1
            ref = reference(case)
            if fam == "ce-kdim":
                case["tags"].add(ref["path"])
                coverage[ref["path"]] = coverage.get(ref["path"], 0) + 1
            nan_total += ref.get("nan", 0)
            paths[ref["path"]] = paths.get(ref["path"], 0) + 1
            found = check_case(case, ref, kernels)
            if found:
                ff += 1
                shown = "; ".join(found[:3]) + (f"; ... {len(found) - 3} more" if len(found) > 3 else "")
                lines.append(f"FAIL {fam} case {i} (seed {seed}): {describe(case)}: {shown}")
            else:
                fp += 1
                if verbose:
                    lines.append(f"ok   {fam} case {i}: {describe(case)} [{ref['path']}]")
        if only is None:
            for tag in required_tags(fam):
                if tag not in coverage:
                    ff += 1
                    lines.append(f"FAIL coverage: no {fam} case has '{tag}' (raise the case count)")
        counts[fam] = (fp, ff, coverage, paths)
        passed += fp
        failed += ff
    lines.append("reference: families (passed / failed, cases per option):")
    for fam in FAMILY_NAMES:
        fp, ff, coverage, paths = counts[fam]
        lines.append(f"  {fam:14s} {fp:5d} passed {ff:3d} failed; paths: " +
                     ", ".join(f"{k} {v}" for k, v in sorted(paths.items())))
        lines.append("      " + ", ".join(f"{k} {v}" for k, v in sorted(coverage.items())))
    lines.append(f"reference: families: {nan_total} gradient elements where torchvision "
                 f"gives NaN (gamma < 1, 1 - p_t = 0) compared with libxent's 0")
    lines.append(f"reference: families: largest error {WORST[0]:.3g} x bound ({WORST[1]})")
    return passed, failed, lines
