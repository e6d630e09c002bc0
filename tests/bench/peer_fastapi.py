#!/usr/bin/python3
"""The peer service of `make bench-service`: what one would write in Python
instead of xentd. FastAPI + uvicorn (one worker) + PyTorch float64,
request and response JSON with the standard library's json module.

POST /v1/loss takes the subset of xentd's request that the benchmark sends
({"logits": N x C numbers, "targets": N ints, "label_smoothing": eps}) and
answers like xentd's default outputs:
{"n", "classes", "loss", "per_sample", "grad"}, with the loss the mean of
the per-row losses and grad its gradient with respect to the logits.

Usage: peer_fastapi.py --port-file PATH [--port N]
Listens on 127.0.0.1 only; port 0 (default) picks a free port, which is
written to PATH once the socket listens.
"""
import argparse
import json
import os
import socket

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
