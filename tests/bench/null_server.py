#!/usr/bin/python3
"""The bench client's floor: an HTTP/1.1 server that does no work.

bench_service.py times its 256 x 1000 requests with Python's http.client;
this server reads each POST's body (Content-Length) and answers a prebuilt
200 of --answer-bytes bytes of JSON, chunked in 64 KiB pieces as xentd
streams its answers, on a keep-alive connection. The time a request takes
here is what the client and the loopback cost with a server that costs
nothing; xentd's time above it is its own. 127.0.0.1 only; stops on SIGTERM.
"""
import argparse
import os
import socket

CHUNK = 64 * 1024


def answer(size):
    """A JSON document of exactly size bytes, as a chunked HTTP/1.1 200."""
    body = b'{"pad":"' + b"x" * (size - 10) + b'"}'
    parts = [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n"]
    for i in range(0, len(body), CHUNK):
        piece = body[i:i + CHUNK]
        parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def serve(conn, reply):
    buf = bytearray()
    while True:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(1 << 20)
            if not data:
                return
            buf += data
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            data = conn.recv(1 << 20)
            if not data:
                return
            rest += data
        buf = bytearray(rest[length:])
        conn.sendall(reply)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--answer-bytes", type=int, required=True)
    args = ap.parse_args()
    if args.answer_bytes < 10:
        ap.error("--answer-bytes: at least 10")
    reply = answer(args.answer_bytes)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{ls.getsockname()[1]}\n")
    os.replace(tmp, args.port_file)
    while True:
        conn, _ = ls.accept()
        with conn:
            serve(conn, reply)


if __name__ == "__main__":
    main()
