#!/usr/bin/python3
"""HTTPS on xentd (--tls-cert, --tls-key), against a real daemon.

Two self-signed pairs (A and B, EC P-256, CN xent-test-a / -b, for
IP 127.0.0.1) are made with openssl in a temporary folder. The daemon
serves A from "live" files. Checked:
  - curl with --tlsv1.2 --tls-max 1.2 and with --tlsv1.3, and Python's ssl
    pinned to each version, are served, and report the version asked for;
  - TLS 1.0 and 1.1 are refused by the daemon: a ClientHello written by
    hand with legacy_version 3.1 / 3.2 gets no ServerHello (an alert or a
    close), while the same hello with 3.3 gets a 3.3 ServerHello; curl and
    Python's ssl allowed only TLS 1.0 / 1.1 (at security level 0, so the
    client itself would go ahead) fail their handshakes;
  - plain HTTP on the HTTPS port gets no HTTP answer;
  - SIGHUP after the live files are replaced by B: a new handshake sees
    B's SHA-256 fingerprint, while a connection opened before the reload
    keeps A's and serves another request on the same socket;
  - a reload from a certificate that is not PEM, from a missing key, and
    from a key that does not match its certificate keeps the pair in use
    (a log line each; new handshakes still see B and succeed).
Prints "tls: N passed, M failed".
"""

import argparse
import hashlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import warnings

import suite
from xentd_process import Daemon

RELOADED = "SIGHUP: reloaded --tls-cert and --tls-key"
KEPT = "SIGHUP: kept the certificate in use"


def make_pair(folder, name):
    crt = os.path.join(folder, name + ".crt")
    key = os.path.join(folder, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", crt, "-days", "2",
         "-subj", "/CN=xent-test-" + name,
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    return crt, key


def file_fingerprint(crt):
    with open(crt) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def replace(src, dst):
    """dst becomes a copy of src in one rename (never half written)."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def write(dst, data):
    tmp = dst + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)


def context(cafile=None, version=None, seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile)
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def handshake(port, ctx):
    """(TLS version, SHA-256 of the server's certificate) or raises."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return t.version(), hashlib.sha256(
                t.getpeercert(binary_form=True)).hexdigest()


def client_hello(version):
    """A TLS ClientHello record whose legacy_version is `version` (no
    supported_versions extension: the version offered is exactly this)."""
    ciphers = [0xC02B, 0xC02F, 0xC009, 0xC013, 0xC00A, 0xC014, 0x002F,
               0x0035, 0x00FF]
    groups = struct.pack(">HH", 23, 29)  # secp256r1, x25519
    sigalgs = struct.pack(">HHHHH", 0x0403, 0x0804, 0x0401, 0x0203, 0x0201)
    ext = (struct.pack(">HHH", 10, len(groups) + 2, len(groups)) + groups
           + struct.pack(">HHB", 11, 2, 1) + b"\x00"
           + struct.pack(">HHH", 13, len(sigalgs) + 2, len(sigalgs))
           + sigalgs)
    body = (struct.pack(">H", version) + os.urandom(32) + b"\x00"
            + struct.pack(">H", 2 * len(ciphers))
            + b"".join(struct.pack(">H", c) for c in ciphers)
            + b"\x01\x00" + struct.pack(">H", len(ext)) + ext)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + struct.pack(">HH", 0x0301, len(hs)) + hs


def server_reply(port, version):
    """What the daemon answers a hand-written ClientHello with: ("hello",
    server version), ("alert", description) or ("closed", bytes seen)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(client_hello(version))
        data = b""
        try:
            while len(data) < 9:
                block = s.recv(4096)
                if not block:
                    break
                data += block
        except ConnectionResetError:
            pass
    if len(data) >= 9 and data[0] == 0x16 and data[5] == 0x02:
        return "hello", struct.unpack(">H", data[9:11])[0]
    if len(data) >= 7 and data[0] == 0x15:
        return "alert", data[6]
    return "closed", len(data)


def curl(url, cafile, *opts):
    """(exit status, HTTP body, curl's verbose lines about TLS)."""
    out = subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "20", "--cacert", cafile,
         *opts, url + "/healthz"], capture_output=True, text=True)
    tls = [line for line in out.stderr.splitlines()
           if "SSL connection using" in line or line.startswith("curl:")]
    return out.returncode, out.stdout, tls


def check_versions(d, a_crt, res):
    for opts, want in ((("--tlsv1.2", "--tls-max", "1.2"), "TLSv1.2"),
                       (("--tlsv1.3",), "TLSv1.3")):
        rc, body, tls = curl(d.url, a_crt, *opts)
        res.check(rc == 0 and '"status":"ok"' in body
                  and any(want in line for line in tls),
                  f"curl {' '.join(opts)}: exit {rc}, {body.strip()!r}, "
                  f"{tls}")
    for version, want in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        got, _ = handshake(d.port, context(a_crt, version))
        res.check(got == want, f"Python ssl pinned to {want}: {got}")
    hello = server_reply(d.port, 0x0303)
    res.check(hello == ("hello", 0x0303),
              f"hand-written ClientHello 3.3 (TLS 1.2): {hello}")
    for version, name in ((0x0301, "TLS 1.0"), (0x0302, "TLS 1.1")):
        reply = server_reply(d.port, version)
        res.check(reply[0] != "hello",
                  f"hand-written ClientHello {version >> 8}.{version & 255} "
                  f"({name}): no ServerHello, {reply}")
    for opts, name in ((("--tlsv1.0", "--tls-max", "1.0"), "TLS 1.0"),
                       (("--tlsv1.1", "--tls-max", "1.1"), "TLS 1.1")):
        rc, body, tls = curl(d.url, a_crt, *opts, "--ciphers",
                             "DEFAULT@SECLEVEL=0")
        res.check(rc == 35 and body == "",
                  f"curl {' '.join(opts)} at SECLEVEL=0 ({name}): exit {rc} "
                  f"{tls}")
    for version, name in ((ssl.TLSVersion.TLSv1, "TLS 1.0"),
                          (ssl.TLSVersion.TLSv1_1, "TLS 1.1")):
        try:
            got = handshake(d.port, context(None, version, seclevel0=True))
            res.check(False, f"Python ssl pinned to {name}: served {got}")
        except (ssl.SSLError, OSError) as e:
            res.check(True, f"Python ssl pinned to {name}: refused "
                            f"({type(e).__name__}: {e})")
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        try:
            while True:
                block = s.recv(4096)
                if not block:
                    break
                got += block
        except (ConnectionResetError, socket.timeout):
            pass
    res.check(b"HTTP/1." not in got,
              f"plain HTTP on the HTTPS port: no HTTP answer ({got[:40]!r})")


def check_reload(d, live_crt, live_key, a, b, both, res):
    a_fp, b_fp = file_fingerprint(a[0]), file_fingerprint(b[0])
    res.check(a_fp != b_fp, f"pairs differ: A {a_fp[:16]}..., "
                            f"B {b_fp[:16]}...")
    old = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=20,
                                      context=context(both))
    old.request("GET", "/healthz")
    r = old.getresponse()
    r.read()
    old_sock = old.sock
    old_fp = hashlib.sha256(old.sock.getpeercert(True)).hexdigest()
    res.check(r.status == 200 and old_fp == a_fp,
              f"before the reload: 200 with A ({old_fp[:16]}...)")

    replace(b[0], live_crt)
    replace(b[1], live_key)
    d.signal(signal.SIGHUP)
    res.check(d.wait_log(RELOADED, 1), f"log: {RELOADED!r}")
    _, new_fp = handshake(d.port, context(both))
    res.check(new_fp == b_fp,
              f"a new handshake after SIGHUP sees B ({new_fp[:16]}...)")
    rc, body, _ = curl(d.url, b[0])
    res.check(rc == 0 and '"status":"ok"' in body,
              f"curl trusting only B: exit {rc}")
    rc, _, tls = curl(d.url, a[0])
    res.check(rc == 60, f"curl trusting only A: exit {rc} (60: the "
                        f"certificate is not A any more) {tls}")
    old.request("GET", "/v1/nope")  # any answer will do: 404
    r = old.getresponse()
    r.read()
    same = old.sock is old_sock
    still = hashlib.sha256(old.sock.getpeercert(True)).hexdigest()
    res.check(r.status == 404 and same and still == a_fp,
              f"the connection opened before the reload serves another "
              f"request on the same socket ({r.status}, same socket {same}, "
              f"still A {still == a_fp})")

    kept = 0
    bad_cases = (
        ("a certificate that is not PEM",
         lambda: write(live_crt, b"not a certificate\n")),
        ("a missing key", lambda: (replace(b[0], live_crt),
                                   os.remove(live_key))),
        ("a key that does not match its certificate",
         lambda: (replace(b[0], live_crt), replace(a[1], live_key))),
    )
    for what, spoil in bad_cases:
        reloads_before = d.log().count(RELOADED)
        spoil()
        d.signal(signal.SIGHUP)
        logged = d.wait_log(KEPT, kept + 1, timeout=10)
        kept += logged
        res.check(logged and d.log().count(RELOADED) == reloads_before,
                  f"reload from {what}: log {KEPT!r}")
        try:
            version, fp = handshake(d.port, context(both))
            res.check(fp == b_fp, f"after the reload from {what}: a new "
                                  f"handshake ({version}) still sees B")
        except (ssl.SSLError, OSError) as e:
            res.check(False, f"after the reload from {what}: a new "
                             f"handshake fails: {e}")
        replace(b[0], live_crt)
        replace(b[1], live_key)
    old.request("GET", "/healthz")
    r = old.getresponse()
    r.read()
    res.check(r.status == 200 and old.sock is old_sock,
              "after every reload the first connection still serves")
    old.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", required=True)
    args = ap.parse_args()
    res = suite.Results()
    with tempfile.TemporaryDirectory(prefix="xent-tls-") as folder:
        a = make_pair(folder, "a")
        b = make_pair(folder, "b")
        both = os.path.join(folder, "both.crt")
        with open(both, "w") as f:
            for crt in (a[0], b[0]):
                with open(crt) as g:
                    f.write(g.read())
        live_crt = os.path.join(folder, "live.crt")
        live_key = os.path.join(folder, "live.key")
        replace(a[0], live_crt)
        replace(a[1], live_key)
        try:
            with Daemon(args.xentd, ["--tls-cert", live_crt, "--tls-key",
                                     live_key, "--access-log", "off"],
                        scheme="https") as d:
                for part in (lambda: check_versions(d, a[0], res),
                             lambda: check_reload(d, live_crt, live_key, a,
                                                  b, both, res)):
                    try:
                        part()
                    except Exception as e:  # a crash is a failure, said
                        res.check(False, f"{e!r}")
                status = d.stop()
                res.check(status == 0, f"exit status {status} after SIGTERM")
                if res.failed:
                    print(d.log()[-3000:])
        except Exception as e:
            res.check(False, f"daemon: {e!r}")
    print(f"tls: {res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
