"""`scribe serve` as a real child process, for tests and benchmarks.

Readiness is the URL line the service prints once its socket accepts connections (then
confirmed by /api/health); nothing waits on a fixed sleep.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from scribe.service.client import ServiceClient

REPO = Path(__file__).resolve().parent.parent



def foreground_signals() -> None:
    """A child's ``preexec_fn``: SIGINT handled by default, as for a command a user runs in
    a terminal. A test run started as a shell's background job (``make test &``) has
    SIGINT ignored, and a child inherits that: a service would then stop on Ctrl+C only
    through its own handler and exit 0, and ``scribe record`` would not stop at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

class ServiceProcess:
    def __init__(self, *args: str, env: dict | None = None, startup_timeout: float = 180.0, verbose: bool = False):
        self.args = ["--port", "0", *args]
        self.verbose = verbose  # scribe -v serve: every INFO line, which must still hold no content or token
        self.env = {**os.environ, **(env or {})}
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.client: ServiceClient | None = None
        self.stdout = ""
        self.stderr = ""

    def __enter__(self) -> "ServiceProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scribe.cli", *(["-v"] if self.verbose else []), "serve", *self.args],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=foreground_signals,
        )
        # stderr drained as it comes: a service that logs much (-v) must never block on a
        # full pipe while the test waits on it.
        self._err: list[str] = []
        self._drain = threading.Thread(target=lambda: self._err.extend(iter(self.proc.stderr.readline, "")),
                                       daemon=True)
        self._drain.start()
        url = self._wait_for_url()
        self.client = ServiceClient.from_url(url)
        assert self.client.request("GET", "/api/health")["status"] == "ok"
        return self

    def _wait_for_url(self) -> str:
        # Raw reads on the pipe's fd: a buffered readline could pull the URL line into
        # Python's buffer where select() no longer sees it.
        fd = self.proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + self.startup_timeout
        seen = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            chunk = os.read(fd, 4096)
            if not chunk:  # exited before it was ready
                break
            seen += chunk
            for line in seen.decode(errors="replace").splitlines(keepends=True):
                if "?token=" in line and line.endswith("\n"):
                    self.stdout = seen.decode(errors="replace")
                    return line.strip()
        self.stop()
        raise RuntimeError(f"scribe serve did not become ready: {seen.decode(errors='replace')}{self.stderr}")

    @property
    def port(self) -> int:
        return int(self.client.base.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        drain = getattr(self, "_drain", None)
        if drain is None:  # a subclass that started the process itself: stderr read at the end
            try:
                out, err = self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
            self.stdout += out or ""
            self.stderr += err or ""
            return self.proc.returncode
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out = self.proc.stdout.read() if self.proc.stdout and not self.proc.stdout.closed else ""
        drain.join(timeout=30)
        self.stdout += out or ""
        self.stderr = "".join(self._err)
        return self.proc.returncode

    def __exit__(self, *exc) -> None:
        self.stop()


def poll_until(condition, what: str, timeout: float = 60.0, interval: float = 0.05):
    """Call ``condition()`` until it returns something truthy and return that (a state the
    service reaches on its own clock: a reaper, a background draft); fail naming ``what``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")
