#!/usr/bin/python3
"""Prints README.md's curl-examples section, with every expected answer
computed here by PyTorch float64 (torch.nn.functional.cross_entropy,
binary_cross_entropy_with_logits, torchvision.ops.sigmoid_focal_loss) or by
timm's, Keras' and optax's formulas written out with torch ops, never by
xentd.

    /usr/bin/python3 tests/integration/readme_examples.py > /tmp/section.md

test_readme.py then checks that xentd prints those answers (1e-12).
"""

import json

import torch
import torch.nn.functional as F
import torchvision

torch.set_default_dtype(torch.float64)

X = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]


def num(v):
    v = float(v)
    return int(v) if v == int(v) and abs(v) < 1e15 else v


def nums(t):
    if isinstance(t, torch.Tensor):
        t = t.tolist()
    if isinstance(t, list):
        return [nums(v) for v in t]
    return num(t)


def grad_of(x, fn):
    x = torch.tensor(x, requires_grad=True)
    loss = fn(x)
    loss.backward()
    return loss.detach(), x.grad


def smooth(targets, c, eps, convention="uniform"):
    """timm's one_hot with smoothing (uniform), or fairseq's (others)."""
    off = eps / c if convention == "uniform" else eps / (c - 1)
    on = 1 - eps + off if convention == "uniform" else 1 - eps
    q = torch.full((len(targets), c), off)
    for n, t in enumerate(targets):
        q[n, t] = on
    return q


def soft_ce(x, q):
    return -(q * F.log_softmax(x, dim=1)).sum(dim=1)


def example(title, text, path, request, answer):
    body = json.dumps(request)
    print(title)
    print()
    if text:
        print(text)
        print()
    print("```sh")
    print("curl -s http://127.0.0.1:8080%s -H 'Content-Type: application/json' \\"
          % path)
    print("  -d '%s'" % body)
    print("```")
    print("```json")
    print(json.dumps(answer, separators=(",", ":")))
    print("```")
    print()


def main():
    print("## Examples with curl")
    print()
    print("Start the daemon with `make run` (127.0.0.1:8080), then post a batch. "
          "Every answer below was computed with PyTorch float64 "
          "(`tests/integration/readme_examples.py`), and `make check` runs "
          "each command against xentd and compares (`check-readme`).")
    print()

    # 1. hard labels: F.cross_entropy
    loss, grad = grad_of(X, lambda x: F.cross_entropy(x, torch.tensor([0, 1])))
    per = F.cross_entropy(torch.tensor(X), torch.tensor([0, 1]), reduction="none")
    example("### Hard labels",
            "The default outputs: the mean loss, the per-row losses and the "
            "gradient with respect to the logits (PyTorch's `cross_entropy` "
            "forward and backward).",
            "/v1/loss", {"logits": X, "targets": [0, 1]},
            {"n": 2, "classes": 3, "loss": num(loss), "per_sample": nums(per),
             "grad": nums(grad)})

    # 2. label smoothing, uniform: F.cross_entropy(label_smoothing=)
    loss = F.cross_entropy(torch.tensor(X), torch.tensor([0, 1]),
                           label_smoothing=0.1)
    per = F.cross_entropy(torch.tensor(X), torch.tensor([0, 1]),
                          label_smoothing=0.1, reduction="none")
    example("### Label smoothing, the uniform convention",
            "`label_smoothing` is PyTorch's: on-target 1 - eps + eps/C, "
            "off-target eps/C (timm, Keras, optax). `outputs` picks what comes "
            "back; `targets` is the smoothed target distribution.",
            "/v1/loss",
            {"logits": X, "targets": [0, 1], "label_smoothing": 0.1,
             "outputs": ["loss", "per_sample", "targets"]},
            {"n": 2, "classes": 3, "loss": num(loss), "per_sample": nums(per),
             "targets": nums(smooth([0, 1], 3, 0.1))})

    # 3. the 'others' convention: on 1 - eps, off eps/(C-1)
    q = smooth([0, 1], 3, 0.1, "others")
    per = soft_ce(torch.tensor(X), q)
    example("### Label smoothing, the `others` convention",
            "fairseq's convention puts eps/(C-1) on each other class and "
            "1 - eps on the target: ask for it by name.",
            "/v1/loss",
            {"logits": X, "targets": [0, 1], "label_smoothing": 0.1,
             "smoothing": "others", "outputs": ["loss", "targets"]},
            {"n": 2, "classes": 3, "loss": num(per.mean()),
             "targets": nums(q)})

    # 4. mixup: timm mixup_target + SoftTargetCrossEntropy
    s = smooth([0, 1], 3, 0.1)
    q = s * 0.7 + s.flip(0) * 0.3
    loss, grad = grad_of(X, lambda x: soft_ce(x, q).mean())
    example("### Mixup",
            "timm's `mixup_target(target, 3, lam=0.7, smoothing=0.1)` pairs "
            "row n with row N-1-n (`flip`, the default; also `roll` or an "
            "explicit array), then `SoftTargetCrossEntropy`. `lambda` may be "
            "one number or one per row.",
            "/v1/loss",
            {"logits": X, "targets": [0, 1], "label_smoothing": 0.1,
             "mixup": {"lambda": 0.7, "pairing": "flip"},
             "outputs": ["loss", "grad", "targets"]},
            {"n": 2, "classes": 3, "loss": num(loss), "grad": nums(grad),
             "targets": nums(q)})

    # 5. soft targets: F.cross_entropy with class probabilities
    y = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    loss = F.cross_entropy(torch.tensor(X), torch.tensor(y))
    per = F.cross_entropy(torch.tensor(X), torch.tensor(y), reduction="none")
    example("### Soft targets",
            "Class-probability targets, as PyTorch's `cross_entropy` takes "
            "them.",
            "/v1/loss",
            {"logits": X, "soft_targets": y,
             "outputs": ["loss", "per_sample"]},
            {"n": 2, "classes": 3, "loss": num(loss), "per_sample": nums(per)})

    # 6. class weights and ignore_index
    x3 = X + [[0.2, 0.2, 3.0]]
    t3 = [0, -100, 2]
    w = [1.0, 2.0, 0.5]
    loss = F.cross_entropy(torch.tensor(x3), torch.tensor(t3),
                           weight=torch.tensor(w), ignore_index=-100)
    per = F.cross_entropy(torch.tensor(x3), torch.tensor(t3),
                          weight=torch.tensor(w), ignore_index=-100,
                          reduction="none")
    example("### Class weights and ignore_index",
            "PyTorch's `weight` is `class_weights`; a row whose label is "
            "`ignore_index` (default -100) has loss 0 and leaves the mean's "
            "denominator, which is the sum of the weights of the counted "
            "rows' labels.",
            "/v1/loss",
            {"logits": x3, "targets": t3, "class_weights": w,
             "outputs": ["loss", "per_sample"]},
            {"n": 3, "classes": 3, "loss": num(loss), "per_sample": nums(per)})

    # 7. statistics
    x4 = X + [[1.0, 0.2, 2.4], [0.3, 0.1, 0.2]]
    t4 = [0, 1, 0, 2]
    p = F.softmax(torch.tensor(x4), dim=1)
    conf, pred = p.max(dim=1)
    correct = (pred == torch.tensor(t4)).double()
    entropy = -(p * p.log()).sum(dim=1)
    ece = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        inside = [(c > lo or (b == 0 and c >= lo)) and c <= hi
                  for c in conf.tolist()]
        idx = [i for i, v in enumerate(inside) if v]
        if idx:
            acc_b = sum(correct[i].item() for i in idx) / len(idx)
            conf_b = sum(conf[i].item() for i in idx) / len(idx)
            ece += len(idx) / len(t4) * abs(acc_b - conf_b)
    example("### Statistics",
            "`stats`: accuracy, mean confidence (max probability), expected "
            "calibration error over 15 bins (Guo et al. 2017), mean entropy of "
            "the predictions and the predicted classes.",
            "/v1/loss",
            {"logits": x4, "targets": t4, "outputs": ["loss", "stats"]},
            {"n": 4, "classes": 3,
             "loss": num(F.cross_entropy(torch.tensor(x4), torch.tensor(t4))),
             "stats": {"accuracy": num(correct.mean()),
                       "mean_confidence": num(conf.mean()), "ece": num(ece),
                       "mean_entropy": num(entropy.mean()),
                       "predicted": nums(pred.double()), "counted": 4}})

    # 8. binary cross-entropy, multi-label
    y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    pw = [2.0, 1.0, 0.5]
    loss, grad = grad_of(X, lambda x: F.binary_cross_entropy_with_logits(
        x, torch.tensor(y), pos_weight=torch.tensor(pw)))
    per = F.binary_cross_entropy_with_logits(
        torch.tensor(X), torch.tensor(y), pos_weight=torch.tensor(pw),
        reduction="none").sum(dim=1)
    example("### Binary cross-entropy (multi-label)",
            "`\"loss\": \"binary_cross_entropy\"` is PyTorch's "
            "`binary_cross_entropy_with_logits`: one sigmoid per class, "
            "`soft_targets` in [0, 1] (or `targets`, made one-hot), "
            "`pos_weight` per class, the mean over the N x C elements; "
            "`per_sample` sums a row's classes. timm's `BinaryCrossEntropy` "
            "options are `target_threshold` and `sum_classes`; `\"smoothing\": "
            "\"binary\"` is Keras' t (1 - eps) + eps/2.",
            "/v1/loss",
            {"logits": X, "soft_targets": y, "loss": "binary_cross_entropy",
             "pos_weight": pw},
            {"n": 2, "classes": 3, "loss": num(loss), "per_sample": nums(per),
             "grad": nums(grad)})

    # 9. sigmoid focal loss: torchvision
    loss, grad = grad_of(X, lambda x: torchvision.ops.sigmoid_focal_loss(
        x, torch.tensor(y), alpha=0.25, gamma=2.0, reduction="mean"))
    example("### Sigmoid focal loss",
            "torchvision's `sigmoid_focal_loss(inputs, targets, alpha=0.25, "
            "gamma=2)` with `reduction=\"mean\"`: `focal_alpha` (negative: "
            "no alpha term) and `focal_gamma`.",
            "/v1/loss",
            {"logits": X, "soft_targets": y, "loss": "sigmoid_focal",
             "focal_alpha": 0.25, "focal_gamma": 2, "outputs": ["loss", "grad"]},
            {"n": 2, "classes": 3, "loss": num(loss), "grad": nums(grad)})

    # 10. softmax focal loss: Keras' categorical focal, torch ops
    t = torch.tensor([0, 1])
    alpha = torch.tensor([0.25, 0.5, 0.25])

    def softmax_focal(x):
        p = F.softmax(x, dim=1)
        q = F.one_hot(t, 3).double()
        return -(alpha * (1 - p) ** 2 * q * F.log_softmax(x, dim=1)).sum(dim=1)

    example("### Softmax focal loss",
            "Keras' categorical focal loss, -sum_c alpha_c (1 - p_c)^gamma q_c "
            "log p_c (without its clipping), on the smoothed / mixed targets q; "
            "`focal_alpha` one number or one per class. With gamma 0 and "
            "alpha 1 it is cross-entropy.",
            "/v1/loss",
            {"logits": X, "targets": [0, 1], "loss": "softmax_focal",
             "focal_alpha": alpha.tolist(), "focal_gamma": 2,
             "outputs": ["loss", "per_sample"]},
            {"n": 2, "classes": 3,
             "loss": num(softmax_focal(torch.tensor(X)).mean()),
             "per_sample": nums(softmax_focal(torch.tensor(X)))})

    # 11. poly-1: optax poly_loss_cross_entropy
    def poly1(x):
        p_t = F.softmax(x, dim=1).gather(1, t.view(-1, 1)).view(-1)
        return F.cross_entropy(x, t, reduction="none") + 2.0 * (1 - p_t)

    loss, grad = grad_of(X, lambda x: poly1(x).mean())
    example("### Poly-1",
            "optax's `poly_loss_cross_entropy` (Leng et al. 2022): "
            "cross-entropy + epsilon (1 - p_t), `poly_epsilon` 2 by default "
            "(optax's).",
            "/v1/loss",
            {"logits": X, "targets": [0, 1], "loss": "poly1"},
            {"n": 2, "classes": 3, "loss": num(loss),
             "per_sample": nums(poly1(torch.tensor(X))), "grad": nums(grad)})

    # 12. K-dimensional: F.cross_entropy on (N, C, H, W)
    xk = [[[[2.0, 0.5], [1.0, -1.0]], [[1.0, 2.5], [0.0, 0.3]],
           [[0.1, 0.3], [2.0, 0.2]]]]
    tk = [[[0, 1], [2, 0]]]
    loss, grad = grad_of(xk, lambda x: F.cross_entropy(x, torch.tensor(tk)))
    per = F.cross_entropy(torch.tensor(xk), torch.tensor(tk), reduction="none")
    example("### K-dimensional inputs",
            "Logits of shape (N, C, d1, ..., dk), here a 2 x 2 map of 3 "
            "classes, and targets (N, d1, ..., dk), as PyTorch's "
            "`cross_entropy` takes them; the answers keep the shapes. With "
            "`\"class_axis\": -1` the classes are the last axis (N, d1, ..., dk, "
            "C), as Keras and optax lay them out; with `\"shape\": [1, 3, 2, 2]` "
            "the logits (and targets and answers) are flat. Every loss takes "
            "them.",
            "/v1/loss", {"logits": xk, "targets": tk},
            {"n": 1, "classes": 3, "shape": [1, 3, 2, 2], "loss": num(loss),
             "per_sample": nums(per), "grad": nums(grad)})

    # 13. the target distribution alone
    s = smooth([0, 2], 3, 0.1)
    example("### The target distribution alone",
            "`/v1/targets` is timm's `mixup_target(target, num_classes, lam, "
            "smoothing)`.",
            "/v1/targets",
            {"targets": [0, 2], "num_classes": 3, "label_smoothing": 0.1,
             "mixup": {"lambda": 0.7}},
            {"targets": nums(s * 0.7 + s.flip(0) * 0.3)})


if __name__ == "__main__":
    main()
