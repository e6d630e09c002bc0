"""Starts and stops a real xentd for the Python integration tests.

`daemon(xentd, args)` is a context manager giving the base URL
("http://127.0.0.1:PORT"); `daemon_process(xentd, args)` gives the URL and
the process (for tests that read /proc/PID), and needs a daemon of its own. When XENT_URL is set it gives that URL and starts
nothing (the container stage runs the same tests against a container).
Otherwise it runs xentd on 127.0.0.1, port 0, with --port-file in a temporary
folder, waits (bounded) for the port, and on exit sends SIGTERM and checks
that the daemon exits 0 within a bounded time (DaemonError otherwise).
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time


class DaemonError(RuntimeError):
    pass


def _reachable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def daemon(xentd, args=(), wait_s=10.0, stop_s=20.0):
    env_url = os.environ.get("XENT_URL", "").rstrip("/")
    if env_url:
        yield env_url
        return
    with daemon_process(xentd, args, wait_s, stop_s) as (url, _proc):
        yield url


@contextlib.contextmanager
def daemon_process(xentd, args=(), wait_s=10.0, stop_s=20.0):
    with tempfile.TemporaryDirectory(prefix="xentd-py-") as tmp:
        port_file = os.path.join(tmp, "port")
        log_path = os.path.join(tmp, "stderr.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [xentd, "--bind", "127.0.0.1", "--port", "0",
                 "--port-file", port_file, *args],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            port = 0
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                try:
                    with open(port_file) as f:
                        port = int(f.read().strip() or 0)
                except (OSError, ValueError):
                    port = 0
                if port > 0 and _reachable(port):
                    break
                port = 0
                time.sleep(0.02)
            if port <= 0:
                raise DaemonError("xentd did not publish a reachable port: "
                                  + _read(log_path))
            yield "http://127.0.0.1:%d" % port, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=stop_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise DaemonError("xentd did not exit after SIGTERM")
        if proc.returncode != 0:
            raise DaemonError("xentd exit status %d after SIGTERM: %s"
                              % (proc.returncode, _read(log_path)))


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-4000:]
    except OSError:
        return ""


def host_port(url):
    rest = url.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    return host, int(port)


class Client:
    """One keep-alive connection (reopened when the server closes it)."""

    def __init__(self, url, timeout=30):
        self.host, self.port = host_port(url)
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers dict lower-cased, body bytes)."""
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                got = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self.close()
                return resp.status, got, data
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def post_json(self, path, obj):
        status, _, data = self.request("POST", path, json.dumps(obj))
        return status, json.loads(data) if data else None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# The smallest normal double: the absolute floor of every comparison, so
# that a value of any magnitude is held to its relative tolerance.
TINY = 2.2250738585072014e-308


def f32_ulps(a, b):
    """Distance between the float32 roundings of a and b, in float32 ulps
    (ordered integers: adjacent floats are 1 apart, +0 and -0 are 0)."""
    def key(x):
        i = struct.unpack("<i", struct.pack("<f", x))[0]
        return i if i >= 0 else -(i & 0x7FFFFFFF)
    return abs(key(a) - key(b))


def close(got, want, rel=1e-12, abs_=TINY, ulps=None):
    """got within rel of want (absolute floor abs_); with ulps, the float32
    roundings of both within that many float32 ulps."""
    if ulps is not None:
        return f32_ulps(got, want) <= ulps
    return abs(got - want) <= abs_ + rel * abs(want)


def json_diff(got, want, path="$", rel=1e-12, abs_=TINY, ulps=None):
    """First difference between two JSON values as a string, or None.
    Structure and strings exactly, numbers within rel with the floor abs_
    (semantics 6), or within `ulps` float32 ulps."""
    num = (int, float)
    if isinstance(want, bool) or isinstance(got, bool):
        if got is want:
            return None
        return "%s: %r, expected %r" % (path, got, want)
    if isinstance(want, num) and isinstance(got, num):
        if close(float(got), float(want), rel, abs_, ulps):
            return None
        return "%s: %r, expected %r" % (path, got, want)
    if isinstance(want, dict) and isinstance(got, dict):
        if set(got) != set(want):
            return "%s: keys %s, expected %s" % (path, sorted(got),
                                                 sorted(want))
        for k in want:
            d = json_diff(got[k], want[k], "%s.%s" % (path, k), rel, abs_,
                          ulps)
            if d:
                return d
        return None
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return "%s: %d values, expected %d" % (path, len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            d = json_diff(g, w, "%s[%d]" % (path, i), rel, abs_, ulps)
            if d:
                return d
        return None
    if type(got) is type(want) and got == want:
        return None
    return "%s: %r, expected %r" % (path, got, want)
