#!/usr/bin/python3
"""The peer service of `make bench-service`: what one would write in Python
instead of xentd. FastAPI + uvicorn (one worker) + PyTorch float64,
request and response JSON with the standard library's json module.

POST /v1/loss takes the subset of xentd's request that the benchmark sends
({"logits": N x C numbers, "targets": N ints, "label_smoothing": eps}) and
answers like xentd's default outputs:
{"n", "classes", "loss", "per_sample", "grad"}, with the loss the mean of
the per-row losses and grad its gradient with respect to the logits.

POST /v2/models/cross_entropy/infer is the same with binary tensors, as the
Open Inference Protocol's binary extension sends them: an FP32 logits [N, C]
and an INT64 targets [N] input after the JSON header
(Inference-Header-Content-Length), read with numpy.frombuffer; the answer is
binary too (loss, per_sample FP64, grad FP32, computed in float64).

Usage: peer_fastapi.py --port-file PATH [--port N]
Listens on 127.0.0.1 only; port 0 (default) picks a free port, which is
written to PATH once the socket listens.
"""
import argparse
import json
import os
import socket

import numpy as np
import torch
import torch.nn.functional as F
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


def error(status, message):
    body = json.dumps({"error": {"code": "invalid_argument",
                                 "message": message}})
    return Response(body, status_code=status, media_type="application/json")


@app.post("/v1/loss")
async def loss_route(request: Request):
    try:
        req = json.loads(await request.body())
        x = torch.tensor(req["logits"], dtype=torch.float64)
        t = torch.tensor(req["targets"], dtype=torch.int64)
        eps = float(req.get("label_smoothing", 0.0))
    except (ValueError, KeyError, TypeError) as e:
        return error(400, f"bad request: {e}")
    if x.dim() != 2 or t.shape != (x.shape[0],):
        return error(400, "logits must be N x C and targets N")
    x.requires_grad_(True)
    per = F.cross_entropy(x, t, label_smoothing=eps, reduction="none")
    loss = per.mean()
    (grad,) = torch.autograd.grad(loss, x)
    body = json.dumps({"n": x.shape[0], "classes": x.shape[1],
                       "loss": loss.item(),
                       "per_sample": per.detach().tolist(),
                       "grad": grad.tolist()})
    return Response(body, media_type="application/json")


@app.post("/v2/models/cross_entropy/infer")
async def infer_route(request: Request):
    try:
        body = await request.body()
        hlen = int(request.headers["inference-header-content-length"])
        head = json.loads(body[:hlen])
        inputs = {t["name"]: t for t in head["inputs"]}
        at = hlen
        arrays = {}
        for t in head["inputs"]:
            size = t["parameters"]["binary_data_size"]
            dtype = {"FP32": np.float32, "INT64": np.int64}[t["datatype"]]
            arrays[t["name"]] = np.frombuffer(body[at:at + size], dtype=dtype
                                              ).reshape(t["shape"])
            at += size
        x = torch.from_numpy(arrays["logits"].astype(np.float64))
        t = torch.from_numpy(arrays["targets"].copy())
        eps = float(head.get("parameters", {}).get("label_smoothing", 0.0))
    except (ValueError, KeyError, TypeError) as e:
        return error(400, f"bad request: {e}")
    del inputs
    x.requires_grad_(True)
    per = F.cross_entropy(x, t, label_smoothing=eps, reduction="none")
    loss = per.mean()
    (grad,) = torch.autograd.grad(loss, x)
    blobs = [np.array([loss.item()]).tobytes(),
             per.detach().numpy().tobytes(),
             grad.numpy().astype(np.float32).tobytes()]
    n, c = x.shape
    outs = [("loss", "FP64", [1]), ("per_sample", "FP64", [n]),
            ("grad", "FP32", [n, c])]
    header = json.dumps({"model_name": "cross_entropy", "outputs": [
        {"name": name, "datatype": dt, "shape": shape,
         "parameters": {"binary_data_size": len(b)}}
        for (name, dt, shape), b in zip(outs, blobs)]}).encode()
    return Response(header + b"".join(blobs),
                    media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length":
                             str(len(header))})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{sock.getsockname()[1]}\n")
    os.replace(tmp, args.port_file)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            workers=1)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
