"""xent_ctypes: a small ctypes binding of libxent for the reference tests.

The structures mirror lib/include/xent.h field by field (same order, same
types; C enums are int). ctypes applies the platform's C layout rules, so
the padding matches the compiler's. `evaluate` wraps xent_evaluate for numpy
arrays; it keeps every array alive for the duration of the call and returns
what the library wrote.

The shared library's path comes from the XENT_LIB environment variable, or
is passed to load().
"""

import ctypes
import os

import numpy as np

c_double_p = ctypes.POINTER(ctypes.c_double)
c_int64_p = ctypes.POINTER(ctypes.c_int64)

# enum values, as pinned in xent.h
F64, F32, F16, BF16 = 0, 1, 2, 3
SMOOTH_UNIFORM, SMOOTH_OTHERS, SMOOTH_BINARY = 0, 1, 2
REDUCE_MEAN, REDUCE_SUM, REDUCE_NONE = 0, 1, 2
PAIR_FLIP, PAIR_ROLL, PAIR_EXPLICIT = 0, 1, 2
KERNEL_AUTO, KERNEL_SCALAR, KERNEL_AVX2, KERNEL_AVX512 = 0, 1, 2, 3
(LOSS_CROSS_ENTROPY, LOSS_BINARY_CROSS_ENTROPY, LOSS_SIGMOID_FOCAL,
 LOSS_SOFTMAX_FOCAL, LOSS_POLY1) = 0, 1, 2, 3, 4
CLASS_AXIS_1, CLASS_AXIS_LAST = 0, 1
OK = 0


class Error(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int),
        ("arg", ctypes.c_int),
        ("row", ctypes.c_int64),
        ("col", ctypes.c_int64),
    ]


class Problem(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_size_t),
        ("classes", ctypes.c_size_t),
        ("dtype", ctypes.c_int),
        ("logits", ctypes.c_void_p),
        ("targets", c_int64_p),
        ("soft_targets", c_double_p),
        ("class_weights", c_double_p),
        ("ignore_index", ctypes.c_int64),
        ("label_smoothing", ctypes.c_double),
        ("smoothing", ctypes.c_int),
        ("mixup_lambda", c_double_p),
        ("lambda_count", ctypes.c_size_t),
        ("pairing", ctypes.c_int),
        ("partners", c_int64_p),
        ("reduction", ctypes.c_int),
        ("kernel", ctypes.c_int),
        # loss families
        ("family", ctypes.c_int),
        ("pos_weight", c_double_p),
        ("target_threshold", ctypes.c_double),
        ("sum_classes", ctypes.c_int),
        ("focal_alpha", ctypes.c_double),
        ("focal_alpha_per_class", c_double_p),
        ("focal_gamma", ctypes.c_double),
        ("poly_epsilon", ctypes.c_double),
        # K-dimensional inputs
        ("inner", ctypes.c_size_t),
        ("class_axis", ctypes.c_int),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        ("accuracy", ctypes.c_double),
        ("mean_confidence", ctypes.c_double),
        ("mean_entropy", ctypes.c_double),
        ("ece", ctypes.c_double),
        ("counted", ctypes.c_size_t),
        ("predicted", c_int64_p),
        ("confidence", c_double_p),
        ("entropy", c_double_p),
    ]


class Outputs(ctypes.Structure):
    _fields_ = [
        ("loss", c_double_p),
        ("per_sample", c_double_p),
        ("grad", c_double_p),
        ("targets", c_double_p),
        ("probs", c_double_p),
        ("stats", ctypes.POINTER(Stats)),
        ("elementwise", c_double_p),
    ]


_lib = None


def load(path=None):
    """Opens the shared library (path, else $XENT_LIB) and declares the
    prototypes. Returns the ctypes handle."""
    global _lib
    path = path or os.environ.get("XENT_LIB")
    if not path:
        raise RuntimeError("xent_ctypes: set XENT_LIB to the path of libxent.so")
    lib = ctypes.CDLL(os.path.abspath(path))
    proto = {
        "xent_version_number": (ctypes.c_uint, []),
        "xent_version_string": (ctypes.c_char_p, []),
        "xent_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        "xent_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "xent_arg_name": (ctypes.c_char_p, [ctypes.c_int]),
        "xent_error_format": (
            ctypes.c_char_p,
            [ctypes.POINTER(Error), ctypes.c_char_p, ctypes.c_size_t],
        ),
        "xent_kernel_supported": (ctypes.c_int, [ctypes.c_int]),
        "xent_kernel_best": (ctypes.c_int, []),
        "xent_kernel_name": (ctypes.c_char_p, [ctypes.c_int]),
        "xent_problem_init": (None, [ctypes.POINTER(Problem)]),
        "xent_workspace_size": (ctypes.c_size_t, [ctypes.POINTER(Problem)]),
        "xent_evaluate": (
            ctypes.c_int,
            [
                ctypes.POINTER(Problem),
                ctypes.POINTER(Outputs),
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.POINTER(Error),
            ],
        ),
        "xent_targets": (
            ctypes.c_int,
            [ctypes.POINTER(Problem), c_double_p, ctypes.POINTER(Error)],
        ),
        "xent_evaluate_explicit": (
            ctypes.c_int,
            [
                ctypes.POINTER(Problem),
                ctypes.POINTER(Outputs),
                c_double_p,
                ctypes.POINTER(Error),
            ],
        ),
    }
    for name, (restype, argtypes) in proto.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def lib():
    return _lib if _lib is not None else load()


def kernel_supported(kernel):
    return bool(lib().xent_kernel_supported(kernel))


def kernel_name(kernel):
    return lib().xent_kernel_name(kernel).decode()


def format_error(err):
    buf = ctypes.create_string_buffer(256)
    lib().xent_error_format(ctypes.byref(err), buf, len(buf))
    return buf.value.decode()


def _ptr(a, ctype):
    return None if a is None else a.ctypes.data_as(ctypes.POINTER(ctype))


def make_problem(
    logits,
    targets=None,
    logits_dtype=None,
    soft_targets=None,
    class_weights=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing=SMOOTH_UNIFORM,
    mixup_lambda=None,
    pairing=PAIR_FLIP,
    partners=None,
    reduction=REDUCE_MEAN,
    kernel=KERNEL_AUTO,
    family=LOSS_CROSS_ENTROPY,
    pos_weight=None,
    target_threshold=-1.0,
    sum_classes=False,
    focal_alpha=0.25,
    focal_alpha_per_class=None,
    focal_gamma=2.0,
    poly_epsilon=2.0,
    class_axis=CLASS_AXIS_1,
):
    """Builds an xent_problem from numpy arrays. Returns (problem, keep):
    `keep` holds the contiguous arrays the problem points into and must
    outlive every call that uses the problem; keep["shape"] is the logits'
    shape. Logits are float64, float32, float16, or uint16 bit patterns with
    logits_dtype F16 or BF16 (numpy has no bfloat16), of shape (N, C), or
    K-dimensional (N, C, d1..dk) with class_axis CLASS_AXIS_1 or
    (N, d1..dk, C) with CLASS_AXIS_LAST; targets then have shape
    (N, d1..dk) and soft targets the logits' shape."""
    logits = np.ascontiguousarray(logits)
    if logits.dtype == np.float64:
        dtype = F64
    elif logits.dtype == np.float32:
        dtype = F32
    elif logits.dtype == np.float16:
        dtype = F16
    elif logits.dtype == np.uint16 and logits_dtype in (F16, BF16):
        dtype = logits_dtype
    else:
        raise TypeError("logits must be float64, float32, float16 or uint16 "
                        "bits with logits_dtype F16/BF16")
    if logits.ndim < 2:
        raise ValueError("logits need at least two dimensions")
    n = logits.shape[0]
    if class_axis == CLASS_AXIS_1:
        c, inner = logits.shape[1], int(np.prod(logits.shape[2:], dtype=np.int64))
    else:
        c, inner = logits.shape[-1], int(np.prod(logits.shape[1:-1], dtype=np.int64))
    conv = {
        "targets": (targets, np.int64),
        "soft_targets": (soft_targets, np.float64),
        "class_weights": (class_weights, np.float64),
        "mixup_lambda": (mixup_lambda, np.float64),
        "partners": (partners, np.int64),
        "pos_weight": (pos_weight, np.float64),
        "focal_alpha_per_class": (focal_alpha_per_class, np.float64),
    }
    keep = {"logits": logits, "shape": logits.shape, "class_axis": class_axis}
    for key, (a, t) in conv.items():
        keep[key] = None if a is None else np.ascontiguousarray(a, dtype=t)
    p = Problem()
    lib().xent_problem_init(ctypes.byref(p))
    p.n, p.classes, p.dtype = n, c, dtype
    p.logits = logits.ctypes.data
    p.targets = _ptr(keep["targets"], ctypes.c_int64)
    p.soft_targets = _ptr(keep["soft_targets"], ctypes.c_double)
    p.class_weights = _ptr(keep["class_weights"], ctypes.c_double)
    p.ignore_index = ignore_index
    p.label_smoothing = label_smoothing
    p.smoothing = smoothing
    p.mixup_lambda = _ptr(keep["mixup_lambda"], ctypes.c_double)
    p.lambda_count = 0 if mixup_lambda is None else keep["mixup_lambda"].size
    p.pairing = pairing
    p.partners = _ptr(keep["partners"], ctypes.c_int64)
    p.reduction = reduction
    p.kernel = kernel
    p.family = family
    p.pos_weight = _ptr(keep["pos_weight"], ctypes.c_double)
    p.target_threshold = target_threshold
    p.sum_classes = int(bool(sum_classes))
    p.focal_alpha = focal_alpha
    p.focal_alpha_per_class = _ptr(keep["focal_alpha_per_class"], ctypes.c_double)
    p.focal_gamma = focal_gamma
    p.poly_epsilon = poly_epsilon
    p.inner = inner
    p.class_axis = class_axis
    return p, keep


def row_shape(shape, class_axis):
    """The shape of targets and per_sample for logits of `shape`."""
    if class_axis == CLASS_AXIS_1:
        return (shape[0],) + tuple(shape[2:])
    return tuple(shape[:-1])


def evaluate_full(problem, shape, class_axis=CLASS_AXIS_1, stats=True,
                  elementwise=False):
    """xent_evaluate with every output that applies: loss, per_sample,
    grad, targets, probs, and stats (softmax families) or elementwise
    (binary families), shaped like the logits (per_sample like the
    targets). Returns (status, error, results)."""
    rows = row_shape(shape, class_axis)
    loss = np.full(1, np.nan)
    per_sample = np.full(rows, np.nan)
    mats = {k: np.full(shape, np.nan) for k in ("grad", "targets", "probs", "elementwise")}
    predicted = np.full(rows, -7, dtype=np.int64)
    confidence = np.full(rows, np.nan)
    entropy = np.full(rows, np.nan)
    st = Stats()
    st.predicted = _ptr(predicted, ctypes.c_int64)
    st.confidence = _ptr(confidence, ctypes.c_double)
    st.entropy = _ptr(entropy, ctypes.c_double)
    out = Outputs(
        _ptr(loss, ctypes.c_double),
        _ptr(per_sample, ctypes.c_double),
        _ptr(mats["grad"], ctypes.c_double),
        _ptr(mats["targets"], ctypes.c_double),
        _ptr(mats["probs"], ctypes.c_double),
        ctypes.pointer(st) if stats else None,
        _ptr(mats["elementwise"], ctypes.c_double) if elementwise else None,
    )
    wsize = lib().xent_workspace_size(ctypes.byref(problem))
    ws = np.zeros((wsize + 7) // 8 + 1)
    err = Error()
    status = lib().xent_evaluate(
        ctypes.byref(problem),
        ctypes.byref(out),
        ws.ctypes.data if wsize else None,
        wsize,
        ctypes.byref(err),
    )
    res = {"loss": loss[0], "per_sample": per_sample, **mats}
    if stats:
        res["stats"] = {
            "accuracy": st.accuracy,
            "mean_confidence": st.mean_confidence,
            "mean_entropy": st.mean_entropy,
            "ece": st.ece,
            "counted": st.counted,
            "predicted": predicted,
            "confidence": confidence,
            "entropy": entropy,
        }
    return status, err, res


def targets_full(problem, shape):
    """xent_targets into an array of the logits' shape: (status, error, q)."""
    q = np.full(shape, np.nan)
    err = Error()
    status = lib().xent_targets(
        ctypes.byref(problem), _ptr(q, ctypes.c_double), ctypes.byref(err)
    )
    return status, err, q


def evaluate(problem):
    """xent_evaluate with every output requested. Returns (status, error,
    results); results maps loss, per_sample, grad, targets, probs, stats
    (a dict with the scalars and the per-row arrays)."""
    n, c = problem.n, problem.classes
    loss = np.full(1, np.nan)
    per_sample = np.full(n, np.nan)
    grad = np.full((n, c), np.nan)
    targets = np.full((n, c), np.nan)
    probs = np.full((n, c), np.nan)
    predicted = np.full(n, -7, dtype=np.int64)
    confidence = np.full(n, np.nan)
    entropy = np.full(n, np.nan)
    st = Stats()
    st.predicted = _ptr(predicted, ctypes.c_int64)
    st.confidence = _ptr(confidence, ctypes.c_double)
    st.entropy = _ptr(entropy, ctypes.c_double)
    out = Outputs(
        _ptr(loss, ctypes.c_double),
        _ptr(per_sample, ctypes.c_double),
        _ptr(grad, ctypes.c_double),
        _ptr(targets, ctypes.c_double),
        _ptr(probs, ctypes.c_double),
        ctypes.pointer(st),
    )
    wsize = lib().xent_workspace_size(ctypes.byref(problem))
    ws = np.zeros((wsize + 7) // 8 + 1)  # float64 storage: aligned for double
    err = Error()
    status = lib().xent_evaluate(
        ctypes.byref(problem),
        ctypes.byref(out),
        ws.ctypes.data if wsize else None,
        wsize,
        ctypes.byref(err),
    )
    stats = {
        "accuracy": st.accuracy,
        "mean_confidence": st.mean_confidence,
        "mean_entropy": st.mean_entropy,
        "ece": st.ece,
        "counted": st.counted,
        "predicted": predicted,
        "confidence": confidence,
        "entropy": entropy,
    }
    res = {
        "loss": loss[0],
        "per_sample": per_sample,
        "grad": grad,
        "targets": targets,
        "probs": probs,
        "stats": stats,
    }
    return status, err, res


def targets(problem):
    """xent_targets: returns (status, error, q)."""
    q = np.full((problem.n, problem.classes), np.nan)
    err = Error()
    status = lib().xent_targets(
        ctypes.byref(problem), _ptr(q, ctypes.c_double), ctypes.byref(err)
    )
    return status, err, q


def evaluate_explicit(problem):
    """xent_evaluate_explicit with loss, per_sample and grad: returns
    (status, error, {loss, per_sample, grad})."""
    n, c = problem.n, problem.classes
    loss = np.full(1, np.nan)
    per_sample = np.full(n, np.nan)
    grad = np.full((n, c), np.nan)
    scratch = np.zeros((n, c))
    out = Outputs(
        _ptr(loss, ctypes.c_double),
        _ptr(per_sample, ctypes.c_double),
        _ptr(grad, ctypes.c_double),
        None,
        None,
        None,
    )
    err = Error()
    status = lib().xent_evaluate_explicit(
        ctypes.byref(problem),
        ctypes.byref(out),
        _ptr(scratch, ctypes.c_double),
        ctypes.byref(err),
    )
    return status, err, {"loss": loss[0], "per_sample": per_sample, "grad": grad}
