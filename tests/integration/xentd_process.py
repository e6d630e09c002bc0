"""A real xentd for the Python tests that signal it and read its log.

`Daemon(xentd, args, scheme, env)` runs xentd on 127.0.0.1, port 0, with
--port-file and its stderr in a temporary folder; `url`, `port` and `pid`
say where it is; `log()` is its stderr so far; `wait_log(text, times,
timeout)` polls the log for a line (bounded); `signal(sig)` sends one;
`stop()` sends SIGTERM and returns the exit status (bounded wait). Use it
as a context manager: leaving the block stops the daemon (killing it if
it does not exit in time) and removes the folder.
"""

import os
import signal as signals
import socket
import subprocess
import tempfile
import time


class DaemonError(RuntimeError):
    pass


class Daemon:
    def __init__(self, xentd, args=(), scheme="http", wait_s=20.0,
                 env=None):
        self._tmp = tempfile.TemporaryDirectory(prefix="xentd-pyd-")
        self.dir = self._tmp.name
        self.log_path = os.path.join(self.dir, "stderr.log")
        port_file = os.path.join(self.dir, "port")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [xentd, "--bind", "127.0.0.1", "--port", "0",
                 "--port-file", port_file, *args],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                env=None if env is None else {**os.environ, **env})
        self.pid = self.proc.pid
        self.port = 0
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    self.port = int(f.read().strip() or 0)
            except (OSError, ValueError):
                self.port = 0
            if self.port > 0 and _reachable(self.port):
                break
            self.port = 0
            time.sleep(0.02)
        if self.port <= 0:
            self.close()
            raise DaemonError("xentd did not publish a reachable port: "
                              + self.log()[-4000:])
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, text, times=1, timeout=20.0):
        """True once text occurs `times` times in the log (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.log().count(text) >= times:
                return True
            if time.monotonic() >= deadline or self.proc.poll() is not None:
                return self.log().count(text) >= times
            time.sleep(0.005)

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise DaemonError("xentd did not exit within %g s" % timeout)

    def stop(self, timeout=30.0):
        self.signal(signals.SIGTERM)
        return self.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _reachable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
