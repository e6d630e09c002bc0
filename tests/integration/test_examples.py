#!/usr/bin/python3
"""Replays every api/examples/<case>/ folder against a real xentd.

A folder holds the request body (request.json, or request.txt for bodies that
are deliberately not JSON; none for a request without a body), response.json
(the expected body), status (the HTTP status as text), and optionally method
and path (default POST /v1/loss), headers (request headers, "Name: value" per
line) and response_headers (headers the answer must carry, same format).
An Open Inference Protocol case with binary tensors has request.tensors.json
(the values of the inputs that declare binary_data_size): they are packed in
their datatype after request.json, with Inference-Header-Content-Length (a
BYTES element, a string, as a 4-byte little-endian length and its UTF-8
bytes); a binary answer is split the same way and its binary outputs decoded
into "data", which response.json holds for them (a NaN as null, as the JSON
form writes it; a BYTES element as a string).
The status and the response headers must match exactly, the body's JSON
structure and strings exactly except an error's message (prose: any
non-empty string, as api/examples/README.md says), numbers to relative 1e-12
with a floor at the smallest normal double (float32 answers within one
float32 ulp). Every folder counts as a pass or a fail; nothing is skipped.
Closing line: "examples: N passed, M failed".
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xentd_harness as xh  # noqa: E402


def read(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def header_lines(text):
    out = []
    for line in (text or b"").decode().splitlines():
        if line.strip():
            name, _, value = line.partition(":")
            out.append((name.strip(), value.strip()))
    return out


def pack(values, dtype):
    """Little-endian bytes of a tensor (null is -inf)."""
    flat = np.array(values, dtype=object).reshape(-1).tolist()
    if dtype == "BYTES":
        return b"".join(struct.pack("<I", len(e)) + e
                        for e in (str(v).encode() for v in flat))
    if dtype in ("INT64", "INT32"):
        return np.array(flat, dtype="<i8" if dtype == "INT64" else "<i4").tobytes()
    x = torch.tensor([-float("inf") if v is None else float(v) for v in flat],
                     dtype=torch.float64)
    if dtype == "BF16":
        return x.bfloat16().view(torch.int16).numpy().astype("<i2").tobytes()
    np_type = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2"}[dtype]
    return x.numpy().astype(np_type).tobytes()


def binary_body(header_bytes, tensors_bytes):
    """request.json followed by the packed binary inputs, and its length."""
    header = json.loads(header_bytes)
    tensors = json.loads(tensors_bytes)
    body = bytearray(header_bytes)
    for t in header["inputs"]:
        size = t.get("parameters", {}).get("binary_data_size")
        if size is None:
            continue
        data = pack(tensors[t["name"]], t["datatype"])
        if len(data) != size:
            raise ValueError("%s: %d bytes packed, binary_data_size %d"
                             % (t["name"], len(data), size))
        body += data
    return bytes(body), len(header_bytes)


def decode_bytes(data):
    """The elements of a binary BYTES tensor, as strings."""
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<I", data, at)
        if at + 4 + n > len(data):
            raise ValueError("a BYTES element runs past its tensor")
        out.append(data[at + 4:at + 4 + n].decode())
        at += 4 + n
    return out


def decode_binary(data, header_len):
    """An answer with binary outputs as one JSON object whose binary outputs
    carry their decoded values in "data"."""
    head = json.loads(data[:header_len])
    at = header_len
    for o in head["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is None:
            continue
        if o["datatype"] == "BYTES":
            o["data"] = decode_bytes(data[at:at + size])
        else:
            np_type = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8"}[o["datatype"]]
            o["data"] = [None if v != v else v for v in  # NaN: null
                         np.frombuffer(data[at:at + size], dtype=np_type).tolist()]
        at += size
    if at != len(data):
        raise ValueError("%d bytes after the binary outputs" % (len(data) - at))
    return head


def run_case(client, folder):
    """Returns None when the case passes, else what differs."""
    status_text = read(folder, "status")
    expected_text = read(folder, "response.json")
    if status_text is None or expected_text is None:
        return "missing status or response.json"
    try:
        want_status = int(status_text.decode().strip())
        want = json.loads(expected_text)
    except ValueError as e:
        return "unreadable status or response.json: %s" % e
    method = (read(folder, "method") or b"POST").decode().strip()
    path = (read(folder, "path") or b"/v1/loss").decode().strip()
    body = read(folder, "request.json")
    if body is None:
        body = read(folder, "request.txt")
    headers = dict(header_lines(read(folder, "headers")))
    tensors = read(folder, "request.tensors.json")
    if tensors is not None:
        body, header_len = binary_body(body, tensors)
        headers["Inference-Header-Content-Length"] = str(header_len)
    elif body is not None and not any(k.lower() == "content-type"
                                      for k in headers):
        headers["Content-Type"] = "application/json"
    status, got_headers, data = client.request(method, path, body, headers)
    if status != want_status:
        return "status %d, expected %d: %s" % (status, want_status,
                                               data[:300].decode(errors="replace"))
    for name, value in header_lines(read(folder, "response_headers")):
        got = got_headers.get(name.lower())
        if got != value:
            return "header %s: %r, expected %r" % (name, got, value)
    try:
        binary_len = got_headers.get("inference-header-content-length")
        got = (decode_binary(data, int(binary_len)) if binary_len is not None
               else json.loads(data))
    except ValueError:
        return "body is not JSON: %r" % data[:300]
    # An Open Inference Protocol error: {"error": message}; its first word
    # (the tensor and the flat index when one is at fault) is the contract.
    if isinstance(want, dict) and isinstance(want.get("error"), str):
        message = got.get("error") if isinstance(got, dict) else None
        if not isinstance(message, str) or \
                message.split(" ")[0] != want["error"].split(" ")[0]:
            return "error %r, expected it to start as %r" % (message, want["error"])
        return None
    # api/examples/README.md: an error's code and field are the contract,
    # its message is prose and only has to be a non-empty string.
    if isinstance(want, dict) and "error" in want and isinstance(got, dict):
        message = (got.get("error") or {}).get("message")
        if not isinstance(message, str) or not message:
            return "error.message is not a non-empty string: %r" % message
        want = json.loads(json.dumps(want))
        want["error"]["message"] = message
    if body is not None and (b'"float32"' in body or b'"FP32"' in data[:65536]):
        # both sides round a double to float32: one float32 ulp apart at
        # most (a double near a rounding boundary)
        return xh.json_diff(got, want, ulps=1)
    return xh.json_diff(got, want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("--examples", default="api/examples")
    opts = ap.parse_args()
    folders = sorted(
        os.path.join(opts.examples, d) for d in os.listdir(opts.examples)
        if os.path.isdir(os.path.join(opts.examples, d)))
    passed = failed = 0
    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url:
            client = xh.Client(url)
            for folder in folders:
                name = os.path.basename(folder)
                try:
                    why = run_case(client, folder)
                except Exception as e:  # a crash of one case is its failure
                    why = "%s: %s" % (type(e).__name__, e)
                    client.close()
                if why is None:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL %s: %s" % (name, why))
            client.close()
    except xh.DaemonError as e:
        print("examples: daemon: %s" % e)
        failed += 1
    if not folders:
        print("examples: no example folder under %s" % opts.examples)
        failed += 1
    print("examples: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
