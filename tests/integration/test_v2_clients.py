#!/usr/bin/python3
"""Client conformance of xentd's Open Inference Protocol routes: the bytes
that tritonclient.http.InferenceServerClient and KServe's
InferenceRESTClient put on the wire, sent byte for byte over a socket, and
their answers parsed the way those clients parse them; every number is
checked against PyTorch float64 (v2common.reference, which is
api/tools/make_expected.py).

Neither client can be installed here (no PyPI), so their wire format is
reproduced by hand from their sources (written anew, not copied):

tritonclient (triton-inference-server/client, src/python/library/
tritonclient/http/): InferenceServerClient.infer -> _utils.py
_get_inference_request builds {"id"?, "inputs", "outputs"?,
"parameters"?} with rapidjson (compact): each input {"name", "shape",
"datatype", "parameters": {"binary_data_size"}} or with "data" (a flat list
of numpy .item() values); BF16 is a float32 array truncated to its upper 16
bits (utils.serialize_bf16_tensor); each requested output {"name",
"parameters": {"binary_data": bool}}; with no outputs it sets the request
parameter binary_data_output true; sequence_id / sequence_start /
sequence_end / priority / timeout go into parameters first, custom
parameters after. The body is compressed with gzip.compress or
zlib.compress (Content-Encoding gzip / deflate); Accept-Encoding asks for a
compressed answer; Inference-Header-Content-Length is the uncompressed
JSON's length. geventhttpclient sends User-Agent, then those headers, then
Host and Content-Length, and no Content-Type. InferResult decompresses the
answer, reads Inference-Header-Content-Length bytes of JSON, and finds each
binary output at the running sum of binary_data_size; an error answer's
message is body["error"].

KServe (kserve/kserve, python/kserve/kserve/inference_client.py,
protocol/infer_type.py): InferenceRESTClient.infer -> InferRequest.to_rest
gives {"id" (a uuid4 when none), "model_name", "inputs", "outputs"?,
"parameters"?} (orjson, compact); JSON inputs carry "data" (flat from
set_data_from_numpy(binary_data=False), or the nested list given); binary
inputs make it add the lower-case headers inference-header-content-length
and content-type: application/octet-stream; a JSON body has no
Content-Type. httpx sends Host, Accept, Accept-Encoding: gzip, deflate,
Connection, User-Agent, the request's headers, Content-Length, and undoes
a Content-Encoding answer itself. InferResponse.from_bytes reads
inference-header-content-length (or the whole body) of JSON, needs
"model_name", and takes binary outputs in order.

Closing line: "oipclients: N passed, M failed".
"""

import argparse
import gzip
import json
import os
import sys
import uuid
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
import v2common as v  # noqa: E402
import xentd_harness as xh  # noqa: E402
from make_expected import version  # noqa: E402

TESTS = suite.Suite("oipclients")
test = TESTS.test
Fail = suite.Fail
check = suite.check


def no_diff(why):
    if why:
        raise Fail(why)


# ------------------------------------------------------------ tritonclient --

class TritonError(Exception):
    """InferenceServerException: msg from body["error"], status text."""

    def __init__(self, msg, status):
        super().__init__("[%s] %s" % (status, msg))
        self.msg = msg
        self.status = status


class TritonInput:
    """tritonclient.http.InferInput."""

    def __init__(self, name, shape, datatype):
        self.name = name
        self.shape = list(shape)
        self.datatype = datatype
        self.parameters = {}
        self.data = None
        self.raw = None

    def set_data_from_numpy(self, a, binary_data=True):
        want = np.float32 if self.datatype == "BF16" else \
            v.NP_DTYPE[self.datatype]
        if a.dtype != want:
            raise TypeError("%s: got %s for %s" % (self.name, a.dtype,
                                                   self.datatype))
        if list(a.shape) != self.shape:
            raise ValueError("%s: shape %s" % (self.name, a.shape))
        if not binary_data:
            if self.datatype == "BF16":
                raise ValueError("BF16 inputs must be sent as binary data")
            self.parameters.pop("binary_data_size", None)
            self.raw = None
            self.data = [e.item() for e in a.flatten()]
        else:
            self.data = None
            if self.datatype == "BF16":
                self.raw = v.bf16_bits_from_f32(a).tobytes()
            else:
                self.raw = a.tobytes()
            self.parameters["binary_data_size"] = len(self.raw)

    def tensor(self):
        t = {"name": self.name, "shape": self.shape,
             "datatype": self.datatype}
        if self.parameters:
            t["parameters"] = self.parameters
        if self.raw is None and self.data is not None:
            t["data"] = self.data
        return t


class TritonOutput:
    """tritonclient.http.InferRequestedOutput."""

    def __init__(self, name, binary_data=True):
        self.name = name
        self.parameters = {"binary_data": binary_data}

    def tensor(self):
        return {"name": self.name, "parameters": self.parameters}


class TritonResult:
    """tritonclient.http.InferResult over an answer."""

    def __init__(self, resp):
        header_length = resp.header("Inference-Header-Content-Length")
        body = resp.body
        enc = resp.header("Content-Encoding")
        if enc == "gzip":
            body = gzip.decompress(body)
        elif enc == "deflate":
            body = zlib.decompress(body)
        if header_length is None:
            self.result = json.loads(body)
            self.buffer = b""
        else:
            n = int(header_length)
            self.result = json.loads(body[:n])
            self.buffer = body[n:]
        self.at = {}
        index = 0
        for out in self.result["outputs"]:
            size = (out.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                self.at[out["name"]] = index
                index += size
        self.resp = resp

    def as_numpy(self, name):
        for out in self.result.get("outputs", []):
            if out["name"] != name:
                continue
            dt = v.NP_DTYPE[out["datatype"]]
            size = (out.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                start = self.at[name]
                a = np.frombuffer(self.buffer[start:start + size], dtype=dt)
            else:
                a = np.array(out["data"], dtype=dt)
            return a.reshape(out["shape"])
        return None

    def get_response(self):
        return self.result


class TritonClient:
    """tritonclient.http.InferenceServerClient("127.0.0.1:PORT") over one
    geventhttpclient connection (concurrency 1: one keep-alive socket)."""

    USER_AGENT = "python/gevent-http-client-2.3.1"

    def __init__(self, url):
        self.conn = v.Raw(url)

    def close(self):
        self.conn.close()

    def _headers(self, extra=(), body=None):
        h = [("User-Agent", self.USER_AGENT)] + list(extra)
        h.append(("Host", self.conn.hostport))
        if body is not None:
            h.append(("Content-Length", str(len(body))))
        return h

    def _get(self, uri):
        return self.conn.request("GET", "/" + uri, self._headers())

    @staticmethod
    def _raise_if_error(resp):
        if resp.status != 200:
            body = resp.body.decode("utf-8")
            err = json.loads(body) if body else {
                "error": "client received an empty response from the server."}
            raise TritonError(err["error"], str(resp.status))

    def is_server_live(self):
        return self._get("v2/health/live").status == 200

    def is_server_ready(self):
        return self._get("v2/health/ready").status == 200

    def is_model_ready(self, model_name, model_version=""):
        uri = ("v2/models/%s/versions/%s/ready" % (model_name, model_version)
               if model_version else "v2/models/%s/ready" % model_name)
        return self._get(uri).status == 200

    def get_server_metadata(self):
        r = self._get("v2")
        self._raise_if_error(r)
        return json.loads(r.body)

    def get_model_metadata(self, model_name, model_version=""):
        uri = ("v2/models/%s/versions/%s" % (model_name, model_version)
               if model_version else "v2/models/%s" % model_name)
        r = self._get(uri)
        self._raise_if_error(r)
        return json.loads(r.body)

    @staticmethod
    def inference_request(inputs, request_id="", outputs=None, sequence_id=0,
                          sequence_start=False, sequence_end=False,
                          priority=0, timeout=None, parameters=None):
        """_utils._get_inference_request: (body, json size or None)."""
        req = {}
        params = {}
        if request_id != "":
            req["id"] = request_id
        if sequence_id != 0 and sequence_id != "":
            params["sequence_id"] = sequence_id
            params["sequence_start"] = sequence_start
            params["sequence_end"] = sequence_end
        if priority != 0:
            params["priority"] = priority
        if timeout is not None:
            params["timeout"] = timeout
        req["inputs"] = [i.tensor() for i in inputs]
        if outputs:
            req["outputs"] = [o.tensor() for o in outputs]
        else:
            params["binary_data_output"] = True
        for key, value in (parameters or {}).items():
            if key in ("sequence_id", "sequence_start", "sequence_end",
                       "priority", "binary_data_output"):
                raise ValueError("reserved parameter %s" % key)
            params[key] = value
        if params:
            req["parameters"] = params
        text = v.dumps(req)
        raws = [i.raw for i in inputs if i.raw is not None]
        if not raws:
            return text.encode(), None
        return text.encode() + b"".join(raws), len(text)

    def infer(self, model_name, inputs, model_version="", outputs=None,
              request_id="", sequence_id=0, sequence_start=False,
              sequence_end=False, priority=0, timeout=None,
              request_compression_algorithm=None,
              response_compression_algorithm=None, parameters=None):
        body, json_size = self.inference_request(
            inputs, request_id, outputs, sequence_id, sequence_start,
            sequence_end, priority, timeout, parameters)
        headers = []
        if request_compression_algorithm == "gzip":
            headers.append(("Content-Encoding", "gzip"))
            body = gzip.compress(body)
        elif request_compression_algorithm == "deflate":
            headers.append(("Content-Encoding", "deflate"))
            body = zlib.compress(body)
        if response_compression_algorithm in ("gzip", "deflate"):
            headers.append(("Accept-Encoding",
                            response_compression_algorithm))
        if json_size is not None:
            headers.append(("Inference-Header-Content-Length",
                            str(json_size)))
        uri = ("/v2/models/%s/versions/%s/infer" % (model_name, model_version)
               if model_version else "/v2/models/%s/infer" % model_name)
        self.last_request = body
        resp = self.conn.request("POST", uri, self._headers(headers, body),
                                 body)
        self._raise_if_error(resp)
        return TritonResult(resp)


# ------------------------------------------------------------------ KServe --

class KServeError(Exception):
    """httpx.HTTPStatusError as InferenceRESTClient builds it."""

    def __init__(self, resp, url):
        msg = ""
        if resp.header("content-type") == "application/json":
            msg = json.loads(resp.body)
            if "error" in msg:
                msg = msg["error"]
        super().__init__("%s, '%d %s' for url '%s'" % (msg, resp.status,
                                                       resp.reason, url))
        self.message = msg
        self.status = resp.status


class KInput:
    """kserve InferInput (REST side)."""

    def __init__(self, name, shape, datatype, data=None, parameters=None):
        self.name = name
        self.shape = list(shape)
        self.datatype = datatype.upper()
        self.parameters = parameters
        self.data = data
        self.raw = None

    def set_data_from_numpy(self, a, binary_data=True):
        if v.NP_DTYPE.get(self.datatype) != a.dtype:
            raise TypeError("%s: got %s" % (self.name, a.dtype))
        if not binary_data:
            if self.parameters:
                self.parameters.pop("binary_data_size", None)
            self.raw = None
            self.data = [e.item() for e in a.flatten()]
        else:
            self.data = None
            self.raw = a.tobytes()
            if self.parameters is None:
                self.parameters = {"binary_data_size": len(self.raw)}
            else:
                self.parameters["binary_data_size"] = len(self.raw)


class KOutput:
    def __init__(self, name, parameters=None):
        self.name = name
        self.parameters = parameters


class KRequest:
    """kserve InferRequest.to_rest."""

    def __init__(self, model_name, infer_inputs, request_id=None,
                 parameters=None, request_outputs=None):
        self.model_name = model_name
        self.inputs = infer_inputs
        self.id = request_id
        self.parameters = parameters
        self.outputs = request_outputs

    def to_rest(self):
        ins = []
        raws = []
        for i in self.inputs:
            t = {"name": i.name, "shape": i.shape, "datatype": i.datatype}
            if i.parameters:
                t["parameters"] = dict(i.parameters)
            if i.raw:
                raws.append(i.raw)
            else:
                t["data"] = i.data
            ins.append(t)
        res = {"id": self.id if self.id else str(uuid.uuid4()),
               "model_name": self.model_name, "inputs": ins}
        outs = []
        for o in self.outputs or []:
            d = {"name": o.name}
            if o.parameters:
                d["parameters"] = dict(o.parameters)
            outs.append(d)
        if outs:
            res["outputs"] = outs
        if self.parameters:
            res["parameters"] = dict(self.parameters)
        if raws:
            text = v.dumps(res).encode()
            return text + b"".join(raws), len(text), res
        return res, None, res


class KResponse:
    """kserve InferResponse.from_bytes."""

    def __init__(self, content, json_length):
        d = json.loads(content[:json_length])
        self.model_name = d["model_name"]
        self.id = d.get("id")
        self.outputs = {}
        start = json_length
        for out in d["outputs"]:
            params = out.get("parameters")
            dt = v.NP_DTYPE[out["datatype"]]
            if params and "binary_data_size" in params:
                end = start + params["binary_data_size"]
                a = np.frombuffer(content[start:end], dtype=dt)
                start = end
                data = [e.item() for e in a.flatten()]
            else:
                data = out.get("data")
                if data is None:
                    raise ValueError("'data' field is missing for output "
                                     "'%s'" % out["name"])
            self.outputs[out["name"]] = np.array(data, dtype=dt).reshape(
                out["shape"])
        self.header = d


class KServeClient:
    """kserve InferenceRESTClient(RESTConfig(protocol="v2")) on httpx."""

    USER_AGENT = "python-httpx/0.27.0"

    def __init__(self, url):
        self.conn = v.Raw(url)
        self.base_url = url

    def close(self):
        self.conn.close()

    def _headers(self, extra=(), body=None):
        h = [("Host", self.conn.hostport), ("Accept", "*/*"),
             ("Accept-Encoding", "gzip, deflate"),
             ("Connection", "keep-alive"), ("User-Agent", self.USER_AGENT)]
        h += list(extra)
        if body is not None:
            h.append(("Content-Length", str(len(body))))
        return h

    @staticmethod
    def _content(resp):
        """httpx's response.content: Content-Encoding undone."""
        enc = resp.header("content-encoding")
        if enc == "gzip":
            return gzip.decompress(resp.body)
        if enc == "deflate":
            try:
                return zlib.decompress(resp.body)
            except zlib.error:
                return zlib.decompress(resp.body, -zlib.MAX_WBITS)
        return resp.body

    def _get(self, path):
        resp = self.conn.request("GET", path, self._headers())
        return resp, self._content(resp)

    def is_server_live(self):
        resp, content = self._get("/v2/health/live")
        if not 200 <= resp.status < 300:
            raise KServeError(resp, self.base_url + "/v2/health/live")
        return json.loads(content).get("live")

    def is_server_ready(self):
        resp, content = self._get("/v2/health/ready")
        if not 200 <= resp.status < 300:
            raise KServeError(resp, self.base_url + "/v2/health/ready")
        return json.loads(content).get("ready")

    def is_model_ready(self, model_name):
        resp, _ = self._get("/v2/models/%s/ready" % model_name)
        return 200 <= resp.status < 300

    def infer(self, data, model_name, headers=None):
        path = "/v2/models/%s/infer" % model_name
        body, json_length, sent = data.to_rest()
        extra = list((headers or {}).items())
        if json_length:
            extra.append(("inference-header-content-length",
                          str(json_length)))
            extra.append(("content-type", "application/octet-stream"))
        if isinstance(body, dict):
            body = v.dumps(body).encode()
        self.last_sent = sent
        resp = self.conn.request("POST", path, self._headers(extra, body),
                                 body)
        self.last_response = resp
        if not 200 <= resp.status < 300:
            raise KServeError(resp, self.base_url + path)
        content = self._content(resp)
        n = resp.header("inference-header-content-length", len(content))
        return KResponse(content, int(n))


# --------------------------------------------------------------- helpers --

def problem(seed, n=6, c=5, scale=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale, (n, c)), rng.integers(0, c, n)


def compare(spec, arrays, names, logits_datatype):
    ref = v.reference(spec)
    no_diff(v.check_outputs(spec, ref, {k: arrays[k] for k in names}, names,
                            logits_datatype))


def triton_arrays(result, names):
    got = {}
    for n in names:
        a = result.as_numpy(n)
        check(a is not None, "as_numpy(%r) is None", n)
        got[n] = a
    return got


# ------------------------------------------------------- tritonclient tests --

@test
def triton_health_and_metadata(env):
    tc = env.triton()
    check(tc.is_server_live() is True, "is_server_live")
    check(tc.is_server_ready() is True, "is_server_ready")
    for m in ("cross_entropy", "mixup_target"):
        check(tc.is_model_ready(m), "is_model_ready(%s)", m)
        check(tc.is_model_ready(m, "1"), "is_model_ready(%s, '1')", m)
        md = tc.get_model_metadata(m)
        check(md["name"] == m and md["versions"] == ["1"], "metadata %r", md)
        check(tc.get_model_metadata(m, "1") == md, "versions/1 metadata")
    check(not tc.is_model_ready("resnet50"), "is_model_ready(resnet50)")
    check(not tc.is_model_ready("cross_entropy", "2"), "version 2 ready")
    check(tc.get_server_metadata() == {
        "name": "xent", "version": version(),
        "extensions": ["binary_tensor_data"]}, "server metadata")
    try:
        tc.get_model_metadata("resnet50")
        raise Fail("metadata of an unknown model")
    except TritonError as e:
        check(e.status == "404" and "resnet50" in e.msg, "%s", e)
    check(tc.conn.connects == 1, "%d connections", tc.conn.connects)


@test
def triton_binary_inputs_outputs_id_parameters(env):
    tc = env.triton()
    x, t = problem(1, 8, 6)
    for ldt, np_t in (("FP32", np.float32), ("FP64", np.float64),
                      ("FP16", np.float16)):
        xs = x.astype(np_t)
        logits = TritonInput("logits", xs.shape, ldt)
        logits.set_data_from_numpy(xs, binary_data=True)
        targets = TritonInput("targets", [8], "INT64")
        targets.set_data_from_numpy(t.astype(np.int64), binary_data=True)
        names = ["grad", "loss", "per_sample", "probs", "predicted"]
        outputs = [TritonOutput("grad", True), TritonOutput("loss", False),
                   TritonOutput("per_sample", True),
                   TritonOutput("probs", False),
                   TritonOutput("predicted", True)]
        params = {"label_smoothing": 0.1, "reduction": "sum"}
        res = tc.infer("cross_entropy", [logits, targets], outputs=outputs,
                       request_id="triton-%s" % ldt, parameters=params)
        r = res.get_response()
        check(r["id"] == "triton-%s" % ldt and
              r["model_name"] == "cross_entropy", "response %r", r)
        check([o["name"] for o in r["outputs"]] == names, "outputs %r",
              r["outputs"])
        spec = {"x": xs.astype(np.float64), "t": t, "label_smoothing": 0.1,
                "reduction": "sum"}
        compare(spec, triton_arrays(res, names), names, ldt)
        # what went on the wire: no Content-Type, rapidjson-compact header
        sent = tc.last_request
        hlen = int(res.resp.header("Inference-Header-Content-Length"))
        check(hlen > 0, "answer header length")
        check(b'"binary_data_size":%d' % xs.nbytes in sent, "request %r",
              sent[:200])


@test
def triton_bf16_truncated_from_float32(env):
    """BF16 goes as the upper 16 bits of float32 values (tritonclient
    truncates; it does not round): the reference takes those bits."""
    tc = env.triton()
    x, t = problem(2, 5, 7)
    x32 = x.astype(np.float32)
    logits = TritonInput("logits", x32.shape, "BF16")
    logits.set_data_from_numpy(x32)
    targets = TritonInput("targets", [5], "INT32")
    targets.set_data_from_numpy(t.astype(np.int32))
    names = ["loss", "grad", "targets"]
    res = tc.infer("cross_entropy", [logits, targets],
                   outputs=[TritonOutput(n) for n in names],
                   parameters={"label_smoothing": 0.2,
                               "smoothing": "others"})
    xr = v.bf16_widen(v.bf16_bits_from_f32(x32))
    check(not np.array_equal(xr, x32.astype(np.float64)),
          "truncation changed nothing")
    spec = {"x": xr, "t": t, "label_smoothing": 0.2, "smoothing": "others"}
    compare(spec, triton_arrays(res, names), names, "BF16")


@test
def triton_no_outputs_sets_binary_data_output(env):
    tc = env.triton()
    x, t = problem(3, 4, 3)
    logits = TritonInput("logits", x.shape, "FP64")
    logits.set_data_from_numpy(x)
    targets = TritonInput("targets", [4], "INT64")
    targets.set_data_from_numpy(t.astype(np.int64))
    res = tc.infer("cross_entropy", [logits, targets])
    check(b'"parameters":{"binary_data_output":true}' in tc.last_request,
          "request %r", tc.last_request[:300])
    r = res.get_response()
    check([o["name"] for o in r["outputs"]] == ["loss", "per_sample",
                                                "grad"], "outputs %r", r)
    check(all("binary_data_size" in o["parameters"] for o in r["outputs"]),
          "binary_data_output not honoured: %r", r)
    names = ["loss", "per_sample", "grad"]
    compare({"x": x, "t": t}, triton_arrays(res, names), names, "FP64")


@test
def triton_json_inputs(env):
    """set_data_from_numpy(binary_data=False): flat "data" lists of numpy
    .item() values, no Inference-Header-Content-Length."""
    tc = env.triton()
    rng = np.random.default_rng(4)
    n, c = 5, 4
    x = rng.normal(0, 1, (n, c))
    y = rng.random((n, c)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, c).astype(np.float64)
    for ldt, np_t in (("FP64", np.float64), ("FP32", np.float32),
                      ("FP16", np.float16)):
        xs = x.astype(np_t)
        ins = []
        for name, dt, a in (("logits", ldt, xs), ("soft_targets", "FP32", y),
                            ("class_weights", "FP64", w)):
            i = TritonInput(name, a.shape, dt)
            i.set_data_from_numpy(a, binary_data=False)
            ins.append(i)
        names = ["loss", "per_sample", "grad", "accuracy", "mean_entropy"]
        res = tc.infer("cross_entropy", ins,
                       outputs=[TritonOutput(nm, False) for nm in names],
                       parameters={"label_smoothing": 0.05})
        check(res.resp.header("Inference-Header-Content-Length") is None,
              "JSON answer with a header length")
        check(res.resp.header("Content-Type") == "application/json",
              "Content-Type %r", res.resp.header("Content-Type"))
        spec = {"x": xs.astype(np.float64), "y": y.astype(np.float64),
                "weights": w, "label_smoothing": 0.05}
        compare(spec, triton_arrays(res, names), names, ldt)


@test
def triton_reserved_parameters_and_version(env):
    tc = env.triton()
    x, t = problem(5, 3, 4)
    logits = TritonInput("logits", x.shape, "FP32")
    logits.set_data_from_numpy(x.astype(np.float32))
    targets = TritonInput("targets", [3], "INT64")
    targets.set_data_from_numpy(t.astype(np.int64))
    res = tc.infer("cross_entropy", [logits, targets], model_version="1",
                   outputs=[TritonOutput("loss")], sequence_id=7,
                   sequence_start=True, sequence_end=True, priority=2,
                   timeout=1000000, request_id="seq")
    check(b'"parameters":{"sequence_id":7,"sequence_start":true,'
          b'"sequence_end":true,"priority":2,"timeout":1000000}'
          in tc.last_request, "request %r", tc.last_request[:400])
    compare({"x": x.astype(np.float32).astype(np.float64), "t": t},
            triton_arrays(res, ["loss"]), ["loss"], "FP32")
    try:
        tc.infer("cross_entropy", [logits, targets], model_version="2")
        raise Fail("version 2 answered")
    except TritonError as e:
        check(e.status == "404" and "'2'" in e.msg, "%s", e)


@test
def triton_compression_both_ways(env):
    """request_compression_algorithm / response_compression_algorithm,
    with binary inputs of random floats (their compressed body is longer
    than the JSON header; test_v2_regressions.py has the other case) and
    with JSON inputs."""
    tc = env.triton()
    x, t = problem(6, 40, 30)
    x32 = x.astype(np.float32)
    names = ["grad", "loss", "per_sample"]
    for binary in (True, False):
        for req_alg in ("gzip", "deflate", None):
            for resp_alg in ("gzip", "deflate", None):
                logits = TritonInput("logits", x32.shape, "FP32")
                logits.set_data_from_numpy(x32, binary_data=binary)
                targets = TritonInput("targets", [40], "INT64")
                targets.set_data_from_numpy(t.astype(np.int64),
                                            binary_data=binary)
                outputs = [TritonOutput("grad", True),
                           TritonOutput("loss", False),
                           TritonOutput("per_sample", True)]
                body, json_size = tc.inference_request([logits, targets],
                                                       outputs=outputs)
                if binary and req_alg:
                    check(len(zlib.compress(body)) > json_size,
                          "a compressed body as short as its header")
                res = tc.infer("cross_entropy", [logits, targets],
                               outputs=outputs,
                               request_compression_algorithm=req_alg,
                               response_compression_algorithm=resp_alg)
                check(res.resp.header("Content-Encoding") == resp_alg,
                      "answer Content-Encoding %r, asked %r",
                      res.resp.header("Content-Encoding"), resp_alg)
                try:
                    compare({"x": x32.astype(np.float64), "t": t},
                            triton_arrays(res, names), names, "FP32")
                except Fail as e:
                    raise Fail("binary %s, request %s, response %s: %s" % (
                        binary, req_alg, resp_alg, e))
    check(tc.conn.connects == 1, "%d connections", tc.conn.connects)


@test
def triton_mixup_target(env):
    tc = env.triton()
    rng = np.random.default_rng(7)
    t = rng.integers(0, 10, 6)
    lam = rng.random(6).astype(np.float32)
    targets = TritonInput("targets", [6], "INT64")
    targets.set_data_from_numpy(t.astype(np.int64))
    lam_in = TritonInput("mixup_lambda", [6], "FP32")
    lam_in.set_data_from_numpy(lam)
    res = tc.infer("mixup_target", [targets, lam_in],
                   outputs=[TritonOutput("targets")],
                   parameters={"num_classes": 10, "label_smoothing": 0.1,
                               "mixup_pairing": "roll"})
    want = v.reference_targets({"t": t, "num_classes": 10,
                                "label_smoothing": 0.1,
                                "lam": lam.astype(np.float64),
                                "pairing": "roll"})
    no_diff(v.cmp_fp64("targets", res.as_numpy("targets"), want))


@test
def triton_errors(env):
    tc = env.triton()
    x, t = problem(8, 3, 4)
    logits = TritonInput("logits", x.shape, "FP64")
    logits.set_data_from_numpy(x)
    targets = TritonInput("targets", [3], "INT64")
    targets.set_data_from_numpy(np.array([0, 9, 1], np.int64))
    try:
        tc.infer("cross_entropy", [logits, targets])
        raise Fail("a label out of range answered 200")
    except TritonError as e:
        check(e.status == "400" and e.msg.startswith(
            "targets[1] = 9 is outside [0, 4)"), "%s", e)
    try:
        tc.infer("cross_entropy", [logits, targets],
                 parameters={"reduction": "median"})
        raise Fail("reduction median answered 200")
    except TritonError as e:
        check(e.status == "400" and "reduction" in e.msg, "%s", e)
    try:
        tc.infer("cross_entropy", [logits, targets],
                 outputs=[TritonOutput("logits")])
        raise Fail("output logits answered 200")
    except TritonError as e:
        check(e.status == "400" and "logits is not an output" in e.msg,
              "%s", e)


# ------------------------------------------------------------- KServe tests --

@test
def kserve_health(env):
    kc = env.kserve()
    check(kc.is_server_live() is True, "is_server_live")
    check(kc.is_server_ready() is True, "is_server_ready")
    check(kc.is_model_ready("cross_entropy") is True, "is_model_ready")
    check(kc.is_model_ready("mixup_target") is True, "is_model_ready")
    check(kc.is_model_ready("resnet50") is False, "resnet50 ready")


@test
def kserve_json_request(env):
    """JSON only: id and model_name in the body, data flat (from numpy) or
    nested (a list given), no Content-Type; httpx asks for gzip and
    decodes the answer."""
    kc = env.kserve()
    x, t = problem(9, 5, 6)
    names = ["loss", "per_sample", "grad", "probs", "predicted"]
    for nested in (False, True):
        logits = KInput("logits", x.shape, "fp64")
        if nested:
            logits.data = x.tolist()
        else:
            logits.set_data_from_numpy(x, binary_data=False)
        targets = KInput("targets", [5], "INT64", data=t.tolist())
        req = KRequest("cross_entropy", [logits, targets],
                       request_id="kserve-%d" % nested,
                       parameters={"label_smoothing": 0.15,
                                   "ignore_index": 3},
                       request_outputs=[KOutput(nm) for nm in names])
        res = kc.infer(req, "cross_entropy")
        resp = kc.last_response
        check(resp.header("content-encoding") == "gzip",
              "answer not gzip for Accept-Encoding: gzip, deflate: %r",
              resp.headers)
        check(res.model_name == "cross_entropy" and
              res.id == "kserve-%d" % nested, "header %r", res.header)
        spec = {"x": x, "t": t, "label_smoothing": 0.15, "ignore_index": 3}
        compare(spec, res.outputs, names, "FP64")
    check(kc.conn.connects == 1, "%d connections", kc.conn.connects)


@test
def kserve_uuid_id_and_default_outputs(env):
    kc = env.kserve()
    x, t = problem(10, 4, 3)
    logits = KInput("logits", x.shape, "FP32")
    logits.set_data_from_numpy(x.astype(np.float32), binary_data=False)
    targets = KInput("targets", [4], "INT32")
    targets.set_data_from_numpy(t.astype(np.int32), binary_data=False)
    res = kc.infer(KRequest("cross_entropy", [logits, targets]),
                   "cross_entropy")
    sent_id = kc.last_sent["id"]
    check(str(uuid.UUID(sent_id)) == sent_id and res.id == sent_id,
          "id %r echoed as %r", sent_id, res.id)
    names = ["loss", "per_sample", "grad"]
    check(list(res.outputs) == names, "outputs %r", list(res.outputs))
    compare({"x": x.astype(np.float32).astype(np.float64), "t": t},
            res.outputs, names, "FP32")


@test
def kserve_binary_inputs_and_outputs(env):
    """Binary inputs: the lower-case headers inference-header-content-length
    and content-type: application/octet-stream; outputs asked binary with
    parameters {"binary_data": true}."""
    kc = env.kserve()
    rng = np.random.default_rng(11)
    n, c = 7, 5
    x = rng.normal(0, 1.5, (n, c)).astype(np.float32)
    t = rng.integers(0, c, n).astype(np.int64)
    lam = rng.random(n)
    logits = KInput("logits", x.shape, "FP32")
    logits.set_data_from_numpy(x)
    targets = KInput("targets", [n], "INT64")
    targets.set_data_from_numpy(t)
    lam_in = KInput("mixup_lambda", [n], "FP64")
    lam_in.set_data_from_numpy(lam)
    names = ["grad", "loss", "targets", "ece"]
    outs = [KOutput("grad", {"binary_data": True}), KOutput("loss"),
            KOutput("targets", {"binary_data": True}),
            KOutput("ece", {"binary_data": False})]
    res = kc.infer(KRequest("cross_entropy", [logits, targets, lam_in],
                            request_id="k-bin", request_outputs=outs,
                            parameters={"mixup_pairing": "roll"}),
                   "cross_entropy")
    check(res.header["outputs"][0]["parameters"] == {
        "binary_data_size": n * c * 4}, "grad %r", res.header["outputs"][0])
    spec = {"x": x.astype(np.float64), "t": t, "lam": lam, "pairing": "roll"}
    compare(spec, res.outputs, names, "FP32")


@test
def kserve_mixup_target_and_errors(env):
    kc = env.kserve()
    t = np.array([3, 0, 2, 2, 1])
    req = KRequest("mixup_target", [KInput("targets", [5], "INT64",
                                           data=t.tolist())],
                   parameters={"num_classes": 4, "mixup_lambda": 0.8,
                               "label_smoothing": 0.1})
    res = kc.infer(req, "mixup_target")
    want = v.reference_targets({"t": t, "num_classes": 4, "lam": 0.8,
                                "label_smoothing": 0.1})
    no_diff(v.cmp_fp64("targets", res.outputs["targets"], want))
    # an error: HTTPStatusError carries body["error"]
    req = KRequest("mixup_target", [KInput("targets", [5], "INT64",
                                           data=[3, 0, 4, 2, 1])],
                   parameters={"num_classes": 4})
    try:
        kc.infer(req, "mixup_target")
        raise Fail("label 4 of 4 classes answered 200")
    except KServeError as e:
        check(e.status == 400 and isinstance(e.message, str) and
              e.message.startswith("targets[2] = 4 is outside [0, 4)"),
              "%s", e)
    # model_name in the body must be the path's
    req = KRequest("mixup_target", [KInput("targets", [5], "INT64",
                                           data=t.tolist())],
                   parameters={"num_classes": 4})
    try:
        kc.infer(req, "cross_entropy")
        raise Fail("model_name mixup_target on cross_entropy answered 200")
    except KServeError as e:
        check(e.status == 400 and "model_name" in e.message, "%s", e)


# ------------------------------------------------------------------ main --

class Env:
    def __init__(self, url):
        self.url = url
        self.clients = []

    def triton(self):
        c = TritonClient(self.url)
        self.clients.append(c)
        return c

    def kserve(self):
        c = KServeClient(self.url)
        self.clients.append(c)
        return c

    def close_all(self):
        for c in self.clients:
            c.close()
        self.clients = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("-k", default="", help="run the tests whose name has this")
    opts = ap.parse_args()
    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url:
            env = Env(url)
            TESTS.run(lambda fn: fn(env), k=opts.k, after=env.close_all)
    except xh.DaemonError as e:
        TESTS.fail("daemon: %s" % e)
    return TESTS.finish(v.allowance_report())


if __name__ == "__main__":
    sys.exit(main())
