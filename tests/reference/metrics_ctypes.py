"""metrics_ctypes: the whole-dataset metrics of libxent (xent_metrics_*,
xent_fsum) through ctypes, next to xent_ctypes (which it uses to open the
library and for xent_error).

The structures mirror lib/include/xent.h field by field. `State` owns a
state's memory; `State.update` runs one batch from numpy arrays,
`State.compute` returns every figure as Python values and numpy arrays.
"""

import ctypes

import numpy as np

import xent_ctypes as xc

MAX_TOP_K = 8
FORMAT_VERSION = 2

# statuses and arguments, as pinned in xent.h
ERR_CONFIG, ERR_CONFIG_MISMATCH, ERR_STATE, ERR_STATE_FORMAT = 30, 31, 32, 33
ERR_STATE_VERSION, ERR_BUFFER, ERR_COUNT_LIMIT, ERR_VALUE = 34, 35, 36, 37
ERR_STATE_CHECKSUM = 38

c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_u64_p = ctypes.POINTER(ctypes.c_uint64)


class Config(ctypes.Structure):
    _fields_ = [
        ("classes", ctypes.c_size_t),
        ("bins", ctypes.c_size_t),
        ("top_k_count", ctypes.c_size_t),
        ("top_k", ctypes.c_size_t * MAX_TOP_K),
        ("confusion", ctypes.c_int),
        ("per_class", ctypes.c_int),
        ("ignore_index", ctypes.c_int64),
    ]


class Batch(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_size_t),
        ("dtype", ctypes.c_int),
        ("logits", ctypes.c_void_p),
        ("targets", xc.c_int64_p),
        ("kernel", ctypes.c_int),
    ]


class Bin(ctypes.Structure):
    _fields_ = [
        ("count", ctypes.c_uint64),
        ("correct", ctypes.c_uint64),
        ("mean_confidence", ctypes.c_double),
        ("accuracy", ctypes.c_double),
        ("empty", ctypes.c_int),
    ]


class Class(ctypes.Structure):
    _fields_ = [
        ("support", ctypes.c_uint64),
        ("predicted", ctypes.c_uint64),
        ("correct", ctypes.c_uint64),
        ("precision", ctypes.c_double),
        ("recall", ctypes.c_double),
        ("f1", ctypes.c_double),
        ("in_macro", ctypes.c_int),
    ]


class Average(ctypes.Structure):
    _fields_ = [
        ("precision", ctypes.c_double),
        ("recall", ctypes.c_double),
        ("f1", ctypes.c_double),
    ]


class Result(ctypes.Structure):
    _fields_ = [
        ("counted", ctypes.c_uint64),
        ("defined", ctypes.c_int),
        ("accuracy", ctypes.c_double),
        ("top_k_count", ctypes.c_size_t),
        ("top_k", ctypes.c_size_t * MAX_TOP_K),
        ("top_k_accuracy", ctypes.c_double * MAX_TOP_K),
        ("nll", ctypes.c_double),
        ("brier", ctypes.c_double),
        ("ece", ctypes.c_double),
        ("ece_l2", ctypes.c_double),
        ("mce", ctypes.c_double),
        ("mean_confidence", ctypes.c_double),
        ("mean_entropy", ctypes.c_double),
        ("per_class_defined", ctypes.c_int),
        ("macro_classes", ctypes.c_size_t),
        ("macro", Average),
        ("weighted", Average),
        ("reliability", ctypes.POINTER(Bin)),
        ("per_class", ctypes.POINTER(Class)),
        ("confusion", c_u64_p),
    ]


_declared = None


def lib():
    """The library handle with the metrics prototypes declared."""
    global _declared
    h = xc.lib()
    if _declared is h:
        return h
    err_p = ctypes.POINTER(xc.Error)
    cfg_p = ctypes.POINTER(Config)
    vp = ctypes.c_void_p
    proto = {
        "xent_metrics_config_init": (None, [cfg_p, ctypes.c_size_t]),
        "xent_metrics_config_check": (ctypes.c_int, [cfg_p, err_p]),
        "xent_metrics_state_size": (ctypes.c_size_t, [cfg_p]),
        "xent_metrics_init": (ctypes.c_int, [vp, ctypes.c_size_t, cfg_p, err_p]),
        "xent_metrics_get_config": (ctypes.c_int, [vp, cfg_p, err_p]),
        "xent_metrics_workspace_size": (ctypes.c_size_t, [cfg_p, ctypes.c_size_t]),
        "xent_metrics_update": (
            ctypes.c_int,
            [vp, ctypes.POINTER(Batch), vp, ctypes.c_size_t, err_p],
        ),
        "xent_metrics_merge": (ctypes.c_int, [vp, vp, err_p]),
        "xent_metrics_compute": (ctypes.c_int, [vp, ctypes.POINTER(Result), err_p]),
        "xent_metrics_serialize": (
            ctypes.c_int,
            [vp, vp, ctypes.c_size_t, c_size_p, err_p],
        ),
        "xent_metrics_parse_config": (
            ctypes.c_int,
            [vp, ctypes.c_size_t, cfg_p, err_p],
        ),
        "xent_metrics_parse": (
            ctypes.c_int,
            [vp, ctypes.c_size_t, vp, ctypes.c_size_t, err_p],
        ),
        "xent_fsum": (
            ctypes.c_int,
            [xc.c_double_p, ctypes.c_size_t, xc.c_double_p, err_p],
        ),
    }
    for name, (restype, argtypes) in proto.items():
        fn = getattr(h, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _declared = h
    return h


class XentError(Exception):
    def __init__(self, status, err):
        self.status = status
        self.err = err
        super().__init__(f"{xc.format_error(err)} (status {status})")


def _check(status, err):
    if status != xc.OK:
        raise XentError(status, err)


def config(classes, bins=None, top_k=None, confusion=False, per_class=False,
           ignore_index=-100):
    """A Config with the library's defaults for `classes`, then the options
    given (top_k: a list of k values)."""
    c = Config()
    lib().xent_metrics_config_init(ctypes.byref(c), classes)
    if bins is not None:
        c.bins = bins
    if top_k is not None:
        c.top_k_count = len(top_k)
        for j, k in enumerate(top_k):
            c.top_k[j] = k
    c.confusion = int(confusion)
    c.per_class = int(per_class)
    c.ignore_index = ignore_index
    return c


def top_k_list(c):
    return [c.top_k[j] for j in range(c.top_k_count)]


class State:
    """A state in memory the Python side owns (uint64 storage, aligned)."""

    def __init__(self, cfg=None, size=None):
        if cfg is not None:
            size = lib().xent_metrics_state_size(ctypes.byref(cfg))
            if size == 0:
                err = xc.Error()
                st = lib().xent_metrics_config_check(ctypes.byref(cfg),
                                                     ctypes.byref(err))
                raise XentError(st, err)
        self.size = size
        self.mem = np.zeros((size + 7) // 8, dtype=np.uint64)
        self.ptr = self.mem.ctypes.data
        if cfg is not None:
            err = xc.Error()
            _check(lib().xent_metrics_init(self.ptr, size, ctypes.byref(cfg),
                                           ctypes.byref(err)), err)

    def config(self):
        c, err = Config(), xc.Error()
        _check(lib().xent_metrics_get_config(self.ptr, ctypes.byref(c),
                                             ctypes.byref(err)), err)
        return c

    def update(self, logits, targets, kernel=xc.KERNEL_AUTO):
        """One batch; logits float64 or float32, n x classes."""
        logits = np.ascontiguousarray(logits)
        targets = np.ascontiguousarray(targets, dtype=np.int64)
        dtype = {np.dtype(np.float64): xc.F64,
                 np.dtype(np.float32): xc.F32}[logits.dtype]
        b = Batch()
        b.n = logits.shape[0]
        b.dtype = dtype
        b.logits = logits.ctypes.data
        b.targets = targets.ctypes.data_as(xc.c_int64_p)
        b.kernel = kernel
        cfg = self.config()
        ws = lib().xent_metrics_workspace_size(ctypes.byref(cfg), b.n)
        work = np.zeros(ws // 8 + 1)
        err = xc.Error()
        _check(lib().xent_metrics_update(self.ptr, ctypes.byref(b),
                                         work.ctypes.data, ws,
                                         ctypes.byref(err)), err)

    def merge(self, other):
        err = xc.Error()
        _check(lib().xent_metrics_merge(self.ptr, other.ptr, ctypes.byref(err)),
               err)

    def serialize(self):
        n, err = ctypes.c_size_t(0), xc.Error()
        _check(lib().xent_metrics_serialize(self.ptr, None, 0, ctypes.byref(n),
                                            ctypes.byref(err)), err)
        buf = ctypes.create_string_buffer(max(n.value, 1))
        _check(lib().xent_metrics_serialize(self.ptr, buf, n.value,
                                            ctypes.byref(n), ctypes.byref(err)),
               err)
        return buf.raw[: n.value]

    @staticmethod
    def parse(data):
        c, err = Config(), xc.Error()
        _check(lib().xent_metrics_parse_config(data, len(data), ctypes.byref(c),
                                               ctypes.byref(err)), err)
        s = State(size=lib().xent_metrics_state_size(ctypes.byref(c)))
        _check(lib().xent_metrics_parse(data, len(data), s.ptr, s.size,
                                        ctypes.byref(err)), err)
        return s

    def compute(self):
        """Every figure: a dict of Python numbers, and numpy arrays for the
        bins, the classes and the confusion matrix (None when not kept)."""
        cfg = self.config()
        B, C = cfg.bins, cfg.classes
        bins = (Bin * B)()
        classes = (Class * C)() if (cfg.per_class or cfg.confusion) else None
        cm = np.zeros((C, C), dtype=np.uint64) if cfg.confusion else None
        r = Result()
        r.reliability = bins
        if classes is not None:
            r.per_class = classes
        if cm is not None:
            r.confusion = cm.ctypes.data_as(c_u64_p)
        err = xc.Error()
        _check(lib().xent_metrics_compute(self.ptr, ctypes.byref(r),
                                          ctypes.byref(err)), err)
        out = {name: getattr(r, name) for name, _ in Result._fields_
               if name not in ("reliability", "per_class", "confusion", "top_k",
                               "top_k_accuracy", "macro", "weighted")}
        out["top_k"] = [r.top_k[j] for j in range(r.top_k_count)]
        out["top_k_accuracy"] = [r.top_k_accuracy[j]
                                 for j in range(r.top_k_count)]
        for avg in ("macro", "weighted"):
            a = getattr(r, avg)
            out[avg] = (a.precision, a.recall, a.f1)
        out["bins"] = {
            f: np.array([getattr(bins[b], f) for b in range(B)])
            for f in ("count", "correct", "mean_confidence", "accuracy",
                      "empty")
        }
        out["classes"] = None if classes is None else {
            f: np.array([getattr(classes[c], f) for c in range(C)])
            for f in ("support", "predicted", "correct", "precision",
                      "recall", "f1", "in_macro")
        }
        out["confusion"] = cm
        return out


def fsum(values):
    v = np.ascontiguousarray(values, dtype=np.float64)
    out, err = ctypes.c_double(0.0), xc.Error()
    _check(lib().xent_fsum(v.ctypes.data_as(xc.c_double_p), v.size,
                           ctypes.byref(out), ctypes.byref(err)), err)
    return out.value
