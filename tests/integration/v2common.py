"""The Open Inference Protocol (KServe v2 / Triton HTTP) on the wire, for the
/v2 tests (test_v2.py, test_v2_clients.py, test_v2_crosslang.py).

- Raw: one HTTP/1.1 connection over a plain socket that sends exactly the
  bytes it is given (no header of its own: http.client would add Host and
  Accept-Encoding) and reads answers with Content-Length or chunked bodies,
  interim 100 Continue included.
- infer_body(): a request body as the binary tensor data extension lays it
  out (a JSON header, then the raw little-endian bytes of the binary inputs
  in input order) and the header's length.
- decode_infer(): an answer read the way tritonclient's InferResult reads
  it (Content-Encoding undone first, then Inference-Header-Content-Length
  bytes of JSON, then each output's binary_data_size bytes in outputs
  order; JSON data flat or nested).
- reference(): what xentd must answer, from PyTorch float64 and timm's
  formulas: api/tools/make_expected.py's expected_loss / expected_targets
  (imported, not copied) on the /v1 request that says the same thing.
- cmp_fp64 / cmp_fp32 / cmp_int: the comparisons the tests use.
"""

import gzip
import json
import math
import os
import socket
import sys
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "api", "tools"))
import make_expected  # noqa: E402
import xentd_harness as xh  # noqa: E402

torch.set_default_dtype(torch.float64)

# Little-endian element types of the tensor datatypes xentd reads. BF16 has
# no numpy type: its bytes are the upper half of a float32's.
NP_DTYPE = {"FP64": np.dtype("<f8"), "FP32": np.dtype("<f4"),
            "FP16": np.dtype("<f2"), "INT64": np.dtype("<i8"),
            "INT32": np.dtype("<i4"), "BF16": np.dtype("<u2")}
SIZE = {k: v.itemsize for k, v in NP_DTYPE.items()}

# The smallest normal double: the absolute floor of the FP64 comparisons.
TINY = 2.2250738585072014e-308


# ------------------------------------------------------------ raw HTTP ----

class Response:
    def __init__(self, status, reason, headers, body, chunked):
        self.status = status
        self.reason = reason
        self.header_list = headers  # [(name, value)] as sent
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body  # after chunked transfer coding, before any
        self.chunked = chunked  # Content-Encoding

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def will_close(self):
        return self.header("connection", "").lower() == "close"

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.headers, self.body[:300])


class Raw:
    """One keep-alive connection that writes only the bytes it is given."""

    def __init__(self, url, timeout=60.0):
        self.host, self.port = xh.host_port(url)
        self.timeout = timeout
        self.sock = None
        self.buf = bytearray()
        self.connects = 0

    def connect(self):
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port),
                                                 timeout=self.timeout)
            self.buf = bytearray()
            self.connects += 1
        return self

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def hostport(self):
        return "%s:%d" % (self.host, self.port)

    def send(self, data):
        self.connect()
        self.sock.sendall(data)

    def _fill(self):
        more = self.sock.recv(1 << 18)
        if not more:
            raise ConnectionError("the server closed the connection")
        self.buf += more

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _read_exact(self, n):
        if len(self.buf) >= n:
            return self._take(n)
        parts = [self._take(len(self.buf))]
        left = n - len(parts[0])
        while left > 0:
            more = self.sock.recv(min(left, 1 << 20))
            if not more:
                raise ConnectionError("the server closed the connection")
            parts.append(more)
            left -= len(more)
        return b"".join(parts)

    def _read_line(self):
        while self.buf.find(b"\r\n") < 0:
            self._fill()
        i = self.buf.find(b"\r\n")
        line = self._take(i)
        del self.buf[:2]
        return line

    def read_response(self, head=False, interim=False):
        """The next answer. With interim, a 1xx answer is returned as it
        comes; else it is read past."""
        while True:
            while self.buf.find(b"\r\n\r\n") < 0:
                self._fill()
            i = self.buf.find(b"\r\n\r\n")
            raw = self._take(i)
            del self.buf[:4]
            lines = raw.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            if 100 <= status < 200:
                if interim:
                    return Response(status, reason, headers, b"", False)
                continue
            break
        low = {k.lower(): v for k, v in headers}
        chunked = "chunked" in low.get("transfer-encoding", "").lower()
        if head or status in (204, 304):
            body = b""
        elif chunked:
            parts = []
            while True:
                size = int(self._read_line().split(b";")[0], 16)
                if size == 0:
                    while self._read_line() != b"":
                        pass
                    break
                parts.append(self._read_exact(size))
                if self._read_exact(2) != b"\r\n":
                    raise ValueError("a chunk does not end with CRLF")
            body = b"".join(parts)
        elif "content-length" in low:
            body = self._read_exact(int(low["content-length"]))
        else:
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
            body = self._take(len(self.buf))
        resp = Response(status, reason, headers, body, chunked)
        if resp.will_close:
            self.close()
        return resp

    def request(self, method, path, headers=(), body=b"", head=False):
        """Sends the request line, the headers exactly as given (a list of
        (name, value) or a dict) and the body; returns the answer."""
        self.send(build_request(method, path, headers, body))
        return self.read_response(head=head or method == "HEAD")


def build_request(method, path, headers=(), body=b""):
    if isinstance(headers, dict):
        headers = list(headers.items())
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + (body or b"")


def std_headers(raw, body=None, extra=()):
    """Host, the extra headers, Content-Length for a body: a plain client."""
    h = [("Host", raw.hostport)] + list(extra)
    if body is not None:
        h.append(("Content-Length", str(len(body))))
    return h


# ------------------------------------------------------------- tensors ----

def bf16_bits_from_f32(x32):
    """tritonclient's BF16: the upper 16 bits of each float32 (truncated)."""
    a = np.ascontiguousarray(np.asarray(x32, dtype=np.float32))
    return (a.view(np.uint32) >> 16).astype(np.uint16)


def bf16_widen(bits):
    """float64 values of BF16 bit patterns."""
    b = np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16
    return b.view(np.float32).astype(np.float64)


def half_widen(bits):
    return np.asarray(bits, dtype=np.uint16).view(np.float16).astype(
        np.float64)


def torch_narrow(x, datatype):
    """Random float64 values as torch rounds them to FP16 / BF16 (`.half()`,
    `.bfloat16()`), returned as (bit patterns uint16, float64 widened)."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    n = t.half() if datatype == "FP16" else t.bfloat16()
    bits = n.view(torch.int16).numpy().view(np.uint16).copy()
    return bits, n.double().numpy()


def tensor_bytes(values, datatype):
    """Raw little-endian bytes of values in datatype; FP16 / BF16 values
    are their uint16 bit patterns already."""
    dt = np.dtype("<u2") if datatype in ("FP16", "BF16") else \
        NP_DTYPE[datatype]
    return np.ascontiguousarray(np.asarray(values).astype(dt)).tobytes()


def json_data(values, datatype, nested=False):
    """JSON data of a tensor: python numbers, flat or nested by its shape.
    FP16 / BF16 bit patterns are sent as the numbers they stand for."""
    a = np.asarray(values)
    if datatype == "FP16":
        a = half_widen(a)
    elif datatype == "BF16":
        a = bf16_widen(a)
    elif datatype in ("INT64", "INT32"):
        a = a.astype(np.int64)
    else:
        a = a.astype(np.float64)
    return a.tolist() if nested else a.reshape(-1).tolist()


def tensor(name, datatype, values, binary=False, nested=False, shape=None):
    """An input: its JSON object and (for binary) its bytes."""
    a = np.asarray(values)
    t = {"name": name, "shape": list(shape if shape is not None else a.shape),
         "datatype": datatype}
    raw = None
    if binary:
        raw = tensor_bytes(a, datatype)
        t["parameters"] = {"binary_data_size": len(raw)}
    else:
        t["data"] = json_data(a, datatype, nested)
    return t, raw


def dumps(obj):
    """Compact JSON, as rapidjson / orjson print it."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def infer_body(inputs, outputs=None, parameters=None, request_id=None,
               model_name=None):
    """inputs: [(json object, raw bytes or None)] as tensor() gives them.
    Returns (body, header length or None when the body is JSON only)."""
    req = {}
    if request_id is not None:
        req["id"] = request_id
    if model_name is not None:
        req["model_name"] = model_name
    req["inputs"] = [t for t, _ in inputs]
    if outputs is not None:
        req["outputs"] = outputs
    if parameters:
        req["parameters"] = parameters
    header = dumps(req).encode()
    raws = [r for _, r in inputs if r is not None]
    if not raws:
        return header, None
    return header + b"".join(raws), len(header)


def decode_body(resp):
    """The answer's bytes with its Content-Encoding undone."""
    enc = resp.header("content-encoding")
    if enc == "gzip":
        return gzip.decompress(resp.body)
    if enc == "deflate":
        return zlib.decompress(resp.body)
    if enc not in (None, "identity"):
        raise ValueError("unknown Content-Encoding %r" % enc)
    return resp.body


def decode_infer(resp):
    """(JSON header, {output name: numpy array in its shape}), read as
    tritonclient's InferResult does."""
    body = decode_body(resp)
    hlen = resp.header("inference-header-content-length")
    if hlen is None:
        header, rest = json.loads(body), b""
    else:
        n = int(hlen)
        header, rest = json.loads(body[:n]), body[n:]
    at = 0
    arrays = {}
    for out in header["outputs"]:
        dt = NP_DTYPE[out["datatype"]]
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if at + size > len(rest):
                raise ValueError("%s: binary_data_size %d past the body's end"
                                 % (out["name"], size))
            a = np.frombuffer(rest[at:at + size], dtype=dt)
            at += size
        else:
            a = np.array(out["data"], dtype=dt.newbyteorder("="))
        arrays[out["name"]] = a.reshape(out["shape"])
    if at != len(rest):
        raise ValueError("%d bytes after the last binary output"
                         % (len(rest) - at))
    return header, arrays


# ----------------------------------------------------------- reference ----

# A request in the terms of both protocols: what the reference needs.
#   x (N x C float64, -inf masked: the values xentd reads, already widened
#   from the logits' datatype), t (N ints) or y (N x C), weights (C) or
#   None, eps, smoothing, ignore_index, reduction, lam (None, a number or N
#   numbers), pairing ("flip", "roll" or N partner indices).

def v1_request(spec, outputs):
    """The /v1/loss request that says what spec says (make_expected's
    input)."""
    x = np.asarray(spec["x"], dtype=np.float64)
    req = {"logits": [[None if v == -math.inf else float(v) for v in row]
                      for row in x.tolist()]}
    if spec.get("t") is not None:
        req["targets"] = [int(v) for v in spec["t"]]
    else:
        req["soft_targets"] = np.asarray(spec["y"], np.float64).tolist()
    if spec.get("weights") is not None:
        req["class_weights"] = np.asarray(spec["weights"],
                                          np.float64).tolist()
    for key in ("label_smoothing", "smoothing", "ignore_index", "reduction"):
        if spec.get(key) is not None:
            req[key] = spec[key]
    if spec.get("lam") is not None:
        lam = spec["lam"]
        mix = {"lambda": (float(lam) if np.ndim(lam) == 0
                          else [float(v) for v in lam])}
        pairing = spec.get("pairing")
        mix["pairing"] = ("flip" if pairing is None else pairing
                          if isinstance(pairing, str)
                          else [int(v) for v in pairing])
        req["mixup"] = mix
    req["outputs"] = outputs
    return req


def reference(spec, stats=True):
    """Expected outputs of model cross_entropy, float64 numpy arrays by
    output name (make_expected.expected_loss: F.cross_entropy + autograd
    where PyTorch has the case, the definition with timm's mixup_target
    otherwise). Raises make_expected.BadExample for a request that has no
    finite answer (e.g. a zero denominator)."""
    outs = ["loss", "per_sample", "grad", "targets", "probs"]
    if stats:
        outs.append("stats")
    body = make_expected.expected_loss(v1_request(spec, outs))
    n = len(spec["x"])
    c = len(spec["x"][0])
    ref = {"per_sample": np.array(body["per_sample"], np.float64).reshape(n),
           "grad": np.array(body["grad"], np.float64).reshape(n, c),
           "targets": np.array(body["targets"], np.float64).reshape(n, c),
           "probs": np.array(body["probs"], np.float64).reshape(n, c)}
    # "loss" for reduction none is the sum of the rows (models.c): every
    # row's loss is >= 0, so the sum is well-conditioned.
    ref["loss"] = np.array([body["loss"] if "loss" in body else
                            math.fsum(body["per_sample"])], np.float64)
    if stats:
        st = body["stats"]
        for k in ("accuracy", "mean_confidence", "ece", "mean_entropy"):
            ref[k] = np.array([st[k]], np.float64)
        ref["predicted"] = np.array(st["predicted"], np.int64)
    return ref


def reference_targets(spec):
    """Expected output of model mixup_target: timm's mixup_target
    (make_expected.expected_targets on the /v1/targets request)."""
    req = {"targets": [int(v) for v in spec["t"]],
           "num_classes": int(spec["num_classes"])}
    for key in ("label_smoothing", "smoothing", "ignore_index"):
        if spec.get(key) is not None:
            req[key] = spec[key]
    if spec.get("lam") is not None:
        lam = spec["lam"]
        req["mixup"] = {"lambda": (float(lam) if np.ndim(lam) == 0
                                   else [float(v) for v in lam])}
        pairing = spec.get("pairing")
        req["mixup"]["pairing"] = ("flip" if pairing is None else pairing
                                   if isinstance(pairing, str)
                                   else [int(v) for v in pairing])
    body = make_expected.expected_targets(req)
    return np.array(body["targets"], np.float64).reshape(
        len(spec["t"]), int(spec["num_classes"]))


# ---------------------------------------------------------- comparisons ---

def _where(shape, flat):
    return "[%d]" % flat if len(shape) <= 1 else "[%d] (row %d, col %d)" % (
        flat, flat // shape[-1], flat % shape[-1])


# Elements accepted only by the conditioning allowance (see cmp_fp64), by
# output: how many, and the largest |got - want| / scale among them.
ALLOWANCE = {}


def _allowed(name, count, worst):
    a = ALLOWANCE.setdefault(name, {"elements": 0, "worst": 0.0})
    a["elements"] += count
    a["worst"] = max(a["worst"], worst)


def allowance_report():
    """One line per output that needed the allowance, or []."""
    return ["%s: %d elements agreed only within 1e-12 of the magnitude of "
            "the terms they are computed from (worst %.3g of it)"
            % (k, a["elements"], a["worst"])
            for k, a in sorted(ALLOWANCE.items())]


def cmp_fp64(name, got, want, rel=1e-12, floor=TINY, scale=None):
    """None, or the first element (flat index) off by more than rel
    relative with an absolute floor.

    scale: the magnitude of the terms an ill-conditioned output is computed
    from. A gradient element is p_j S - w_j q_j over D (grad_scale()): where
    the two terms nearly cancel, a double result carries an error of a few
    ulps of the terms, not of the result, in PyTorch as in xentd. The loss
    and the entropy of a confident row take log(s) for s near 1
    (loss_scales()), and ECE the difference of an accuracy and a confidence
    near each other: errors of a few ulps of 1. Such an element is accepted
    when it is within rel of its scale (and counted in ALLOWANCE)."""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    if got.dtype != np.float64:
        return "%s: dtype %s, expected float64" % (name, got.dtype)
    if got.shape != want.shape:
        return "%s: shape %s, expected %s" % (name, got.shape, want.shape)
    g = got.reshape(-1)
    w = want.reshape(-1)
    diff = np.abs(g - w)
    bad = ~(diff <= floor + rel * np.abs(w))
    if scale is not None and bad.any():
        sc = np.broadcast_to(np.asarray(scale, np.float64),
                             want.shape).reshape(-1)
        saved = bad & (diff <= rel * sc)
        if saved.any():
            _allowed(name, int(saved.sum()),
                     float((diff[saved] / sc[saved]).max()))
        bad &= ~saved
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return "%s%s = %.17g, expected %.17g (PyTorch float64; %d off)" % (
        name, _where(want.shape, i), g[i], w[i], int(bad.sum()))


def cmp_fp32(name, got, want64, scale=None):
    """None, or the first element that is not the correctly rounded float32
    of the float64 reference; one float32 ulp off is accepted only when the
    reference lies within 1e-12 relative of the midpoint between the two
    floats (a value that close to a rounding boundary may round either
    way). With scale (grad, see cmp_fp64), an element may be the rounded
    float32 of any double within 1e-12 of its scale from the reference."""
    got = np.asarray(got)
    want64 = np.asarray(want64, dtype=np.float64)
    if got.dtype != np.float32:
        return "%s: dtype %s, expected float32" % (name, got.dtype)
    if got.shape != want64.shape:
        return "%s: shape %s, expected %s" % (name, got.shape, want64.shape)
    g = got.reshape(-1)
    w64 = want64.reshape(-1)
    w = w64.astype(np.float32)
    sc = None if scale is None else np.broadcast_to(
        np.asarray(scale, np.float64), want64.shape).reshape(-1)
    off = np.nonzero(g.view(np.uint32) != w.view(np.uint32))[0]
    for i in off:
        a, b = float(g[i]), float(w[i])
        if a == b:  # +0 and -0
            continue
        if np.nextafter(w[i], g[i]) == g[i]:
            mid = (a + b) / 2  # exact: floats have 24-bit significands
            if abs(w64[i] - mid) <= 1e-12 * abs(mid):
                continue
        if sc is not None:
            room = 1e-12 * sc[i]
            lo = float(np.float32(w64[i] - room))
            hi = float(np.float32(w64[i] + room))
            if lo <= a <= hi:
                # how far the reference is from the doubles that round to a
                half = abs(float(np.nextafter(g[i], np.float32(np.inf))) -
                           a) / 2
                _allowed(name + " (FP32)", 1,
                         max(0.0, abs(a - w64[i]) - half) / sc[i])
                continue
        return ("%s%s = %.9g (float32), expected %.9g = float32(%.17g) "
                "(PyTorch float64)" % (name, _where(want64.shape, i), a, b,
                                       w64[i]))
    return None


def denominator(spec):
    """D of semantics.md section 3 (1 for sum and none)."""
    if (spec.get("reduction") or "mean") != "mean":
        return 1.0
    x = np.asarray(spec["x"])
    n, c = x.shape
    if spec.get("t") is None:
        return float(n)
    w = (np.ones(c) if spec.get("weights") is None
         else np.asarray(spec["weights"], np.float64))
    t = [int(v) for v in spec["t"]]
    ign = spec.get("ignore_index")
    ign = -100 if ign is None else ign
    lam = spec.get("lam")
    if lam is None:
        return math.fsum(w[t[k]] for k in range(n) if t[k] != ign)
    lam = [float(lam)] * n if np.ndim(lam) == 0 else [float(v) for v in lam]
    pairing = spec.get("pairing")
    if pairing is None:
        pairing = "flip"
    elif not isinstance(pairing, str):
        pairing = [int(v) for v in pairing]
    pi = make_expected.partners({"pairing": pairing}, n)
    return math.fsum(lam[k] * w[t[k]] + (1 - lam[k]) * w[t[pi[k]]]
                     for k in range(n) if t[k] != ign)


def loss_scales(spec, ref):
    """The magnitude of what each row's loss is computed from: l_n sums
    w_c q_nc lp_nc with lp = (x - m) - log(s), and log(s) of an s near 1
    (a confident row) carries an error of an ulp of 1, not of l_n: S_n +
    |l_n| with S_n = sum_c w_c q_nc. Returns (per_sample, loss) scales."""
    q = ref["targets"]
    c = q.shape[1]
    w = (np.ones(c) if spec.get("weights") is None
         else np.asarray(spec["weights"], np.float64))
    per = (q * w).sum(axis=1) + np.abs(ref["per_sample"])
    d = denominator(spec)
    return per, np.array([per.sum() / (d if d != 0 else 1.0)])


def grad_scale(spec, ref):
    """|p_j S_n| + |w_j q_nj|, over D: the terms a gradient element is the
    difference of (semantics.md section 3)."""
    p, q = ref["probs"], ref["targets"]
    c = p.shape[1]
    w = (np.ones(c) if spec.get("weights") is None
         else np.asarray(spec["weights"], np.float64))
    s = (q * w).sum(axis=1, keepdims=True)
    d = denominator(spec)
    return (p * s + w * q) / (d if d != 0 else 1.0)


def cmp_int(name, got, want):
    got = np.asarray(got)
    want = np.asarray(want)
    if got.dtype != np.int64:
        return "%s: dtype %s, expected int64" % (name, got.dtype)
    if got.shape != want.shape:
        return "%s: shape %s, expected %s" % (name, got.shape, want.shape)
    bad = np.nonzero(got.reshape(-1) != want.reshape(-1))[0]
    if len(bad):
        i = int(bad[0])
        return "%s%s = %d, expected %d" % (name, _where(want.shape, i),
                                           got.reshape(-1)[i],
                                           want.reshape(-1)[i])
    return None


# The datatype each output of cross_entropy answers in, for the logits'
# datatype: loss / per_sample / statistics FP64, predicted INT64, the N x C
# outputs FP64 for FP64 logits and FP32 for FP32, FP16 and BF16 logits.
NC_OUTPUTS = ("grad", "targets", "probs")
SCALAR_OUTPUTS = ("loss", "accuracy", "mean_confidence", "ece",
                  "mean_entropy")
ALL_OUTPUTS = ("loss", "per_sample", "grad", "targets", "probs", "predicted",
               "accuracy", "mean_confidence", "ece", "mean_entropy")
DEFAULT_OUTPUTS = ("loss", "per_sample", "grad")
STATS_OUTPUTS = ("predicted", "accuracy", "mean_confidence", "ece",
                 "mean_entropy")


def output_datatype(name, logits_datatype):
    if name == "predicted":
        return "INT64"
    if name in NC_OUTPUTS and logits_datatype != "FP64":
        return "FP32"
    return "FP64"


def cmp_output(name, got, want, logits_datatype, scale=None):
    """An output of cross_entropy against its float64 reference by its
    datatype rule; scale: the output's conditioning scale (cmp_fp64), or
    None."""
    dt = output_datatype(name, logits_datatype)
    sc = scale
    if dt == "INT64":
        return cmp_int(name, got, want)
    if dt == "FP32":
        return cmp_fp32(name, got, want, scale=sc)
    return cmp_fp64(name, got, want, scale=sc)


def check_outputs(spec, ref, arrays, names, logits_datatype):
    """Every named output against the reference: the first difference, or
    None."""
    scales = {"ece": 1.0, "mean_entropy": 1.0}
    if "grad" in names:
        scales["grad"] = grad_scale(spec, ref)
    if "per_sample" in names or "loss" in names:
        scales["per_sample"], scales["loss"] = loss_scales(spec, ref)
    for name in names:
        if name not in arrays:
            return "output %s is missing" % name
        why = cmp_output(name, arrays[name], ref[name], logits_datatype,
                         scales.get(name))
        if why:
            return why
    extra = set(arrays) - set(names)
    if extra:
        return "outputs nobody asked for: %s" % sorted(extra)
    return None


# ----------------------------------------------------------- requests ----

def narrow(values, datatype):
    """Float values as a tensor of datatype carries them: (what to send,
    the float64 values xentd reads). FP16 / BF16 go as bit patterns,
    rounded by torch (`.half()`, `.bfloat16()`)."""
    a = np.asarray(values, np.float64)
    if datatype == "FP64":
        return a, a
    if datatype == "FP32":
        f = a.astype(np.float32)
        return f, f.astype(np.float64)
    return torch_narrow(a, datatype)


class Case:
    """One infer request and what the reference needs: inputs as
    (name, datatype, how, values) with how one of "binary", "flat",
    "nested"; request parameters; the outputs asked for ([(name, binary)]
    or None for the defaults); spec (see reference())."""

    def __init__(self, model="cross_entropy"):
        self.model = model
        self.inputs = []
        self.parameters = {}
        self.outputs = None
        self.binary_output = None
        self.spec = {}
        self.request_id = None

    def add(self, name, datatype, how, values):
        self.inputs.append((name, datatype, how, np.asarray(values)))
        return self

    def datatype_of(self, name):
        for n, dt, _, _ in self.inputs:
            if n == name:
                return dt
        return None

    def body(self):
        ins = [tensor(n, dt, vals, binary=how == "binary",
                      nested=how == "nested")
               for n, dt, how, vals in self.inputs]
        outs = None
        if self.outputs is not None:
            outs = []
            for name, binary in self.outputs:
                o = {"name": name}
                if binary is not None:
                    o["parameters"] = {"binary_data": binary}
                outs.append(o)
        params = dict(self.parameters)
        if self.binary_output is not None:
            params["binary_data_output"] = self.binary_output
        return infer_body(ins, outs, params, request_id=self.request_id)

    def output_names(self):
        if self.outputs is None:
            return (list(DEFAULT_OUTPUTS) if self.model == "cross_entropy"
                    else ["targets"])
        return [n for n, _ in self.outputs]

    def binary_outputs(self):
        """The names of the outputs that must come binary."""
        names = self.output_names()
        if self.outputs is None:
            return set(names) if self.binary_output else set()
        return {n for n, b in self.outputs
                if b is True or (b is None and self.binary_output)}


def post_infer(conn, model, body, header_len, extra=(), version=None):
    """POST .../infer with Host, Content-Length and, for a binary body,
    Inference-Header-Content-Length."""
    path = "/v2/models/%s%s/infer" % (model, "" if version is None
                                      else "/versions/%s" % version)
    hdrs = list(extra)
    if header_len is not None:
        hdrs.append(("Inference-Header-Content-Length", str(header_len)))
    return conn.request("POST", path, std_headers(conn, body, hdrs), body)


def case_reference(case):
    """The reference outputs of a Case (statistics only when asked for), or
    None when the request has no finite answer (a zero denominator: xentd
    must answer 422)."""
    stats = any(n in STATS_OUTPUTS for n in case.output_names())
    try:
        if case.model == "cross_entropy":
            return reference(case.spec, stats=stats)
        return {"targets": reference_targets(case.spec)}
    except make_expected.BadExample as e:
        if "zero denominator" not in str(e):
            raise
        return None


_COMPUTE = object()


def check_case(case, resp, ref=_COMPUTE):
    """An answer to a Case against the reference (case_reference(), or ref
    when given): None or what differs (status, layout, datatypes, shapes,
    values)."""
    spec = case.spec
    if ref is _COMPUTE:
        ref = case_reference(case)
    if ref is None:
        if resp.status == 422 and "denominator" in resp.json().get("error",
                                                                    ""):
            return None
        return "status %d %r, expected 422 (the mean's denominator is 0)" % (
            resp.status, resp.body[:200])
    if resp.status != 200:
        return "status %d: %r" % (resp.status, resp.body[:300])
    header, arrays = decode_infer(resp)
    if header.get("model_name") != case.model or \
            header.get("model_version") != "1":
        return "model_name / model_version: %r" % header
    if case.request_id is not None and header.get("id") != case.request_id:
        return "id %r, expected %r" % (header.get("id"), case.request_id)
    if case.request_id is None and "id" in header:
        return "an id nobody sent: %r" % header["id"]
    names = case.output_names()
    got_names = [o["name"] for o in header["outputs"]]
    if got_names != names:
        return "outputs %s, expected %s (request order)" % (got_names, names)
    binary = case.binary_outputs()
    ldt = case.datatype_of("logits") or "FP64"
    for o in header["outputs"]:
        is_bin = "binary_data_size" in (o.get("parameters") or {})
        if is_bin != (o["name"] in binary):
            return "%s came %s, expected %s" % (
                o["name"], "binary" if is_bin else "as JSON data",
                "binary" if o["name"] in binary else "JSON")
        want_dt = (output_datatype(o["name"], ldt)
                   if case.model == "cross_entropy" else "FP64")
        if o["datatype"] != want_dt:
            return "%s datatype %s, expected %s" % (o["name"], o["datatype"],
                                                    want_dt)
    if binary and resp.header("content-type") != "application/octet-stream":
        return "binary answer with Content-Type %r" % resp.header(
            "content-type")
    if not binary and (resp.header("content-type") != "application/json" or
                       resp.header("inference-header-content-length")):
        return "JSON answer with headers %r" % resp.headers
    if case.model == "mixup_target":
        return cmp_fp64("targets", arrays["targets"], ref["targets"])
    return check_outputs(spec, ref, arrays, names, ldt)
