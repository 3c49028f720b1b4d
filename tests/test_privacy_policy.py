"""Privacy policy enforcement: no core dumps, no visit content in logs, no network.

The core-dump and network checks run in subprocesses: both change the process for good
(an audit hook cannot be removed; a lowered hard limit cannot be raised)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from privacy.policy import (
    REDACTED,
    ContentLogFilter,
    ContentRegistry,
    install_log_filter,
    uninstall_log_filter,
)

REPO = Path(__file__).resolve().parent.parent


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux limits")
def test_harden_process_disables_core_dumps():
    result = _run(
        """
        import ctypes, resource
        from privacy.policy import harden_process
        first = harden_process()
        second = harden_process()  # idempotent
        assert first == second, (first, second)
        assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
        libc = ctypes.CDLL(None)
        print(first.get("rlimit_core"), libc.prctl(3, 0, 0, 0, 0))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(0,", "0)", "0"]


SEGMENT = "I've had this cough for about two weeks and it gets worse at night."


def _record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("scribe.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_filter_redacts_full_and_partial_quotes():
    registry = ContentRegistry()
    registry.add(SEGMENT)
    filt = ContentLogFilter(registry)

    full = _record("segment text: %s", SEGMENT)
    assert filt.filter(full) is True  # kept, not dropped
    assert full.getMessage() == REDACTED and full.args == ()

    partial = _record("parse failed near %r", "Gets WORSE at")
    assert filt.filter(partial) and partial.getMessage() == REDACTED

    try:
        raise ValueError("cannot align: 'cough for about'")
    except ValueError:
        in_exc = _record("alignment failed", exc_info=sys.exc_info())
    assert filt.filter(in_exc) and in_exc.getMessage() == REDACTED
    assert in_exc.exc_info is None

    meta = _record("visit %s: %d segments, %.1f s of audio", "v-1", 24, 79.5)
    assert filt.filter(meta)
    assert meta.getMessage() == "visit v-1: 24 segments, 79.5 s of audio"
    assert meta.msg == "visit %s: %d segments, %.1f s of audio"

    # Two words of the segment are not a quote.
    near = _record("cough detected in 2 weeks of logs")
    assert filt.filter(near) and near.getMessage() != REDACTED
    assert registry.redactions == 3


def test_short_segments_are_registered_whole():
    registry = ContentRegistry()
    registry.add_all(["Metformin.", "No.", "Lisinopril twice"])
    assert registry.contains_content("loaded term: metformin")
    assert registry.contains_content("LISINOPRIL twice daily")
    assert not registry.contains_content("no speech in block 3")


def test_clear_forgets_everything():
    registry = ContentRegistry()
    registry.add(SEGMENT)
    registry.clear()
    assert len(registry) == 0
    record = _record("segment text: %s", SEGMENT)
    assert ContentLogFilter(registry).filter(record)
    assert record.getMessage() == "segment text: " + SEGMENT


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_installed_filter_covers_child_loggers_and_later_handlers():
    registry = ContentRegistry()
    registry.add(SEGMENT)
    root = logging.getLogger()
    early = _Collect()
    root.addHandler(early)
    child = logging.getLogger("scribe.test.privacy.child")
    child.setLevel(logging.INFO)
    late = _Collect()
    try:
        filt = install_log_filter(registry)
        assert install_log_filter(registry) is filt
        assert filt in early.filters and filt in root.filters
        # A handler attached after installation, on a logger that does not propagate.
        child.addHandler(late)
        child.propagate = False
        child.info("said: %s", "about two weeks and")
        child.propagate = True
        child.info("transcribed %d segments", 24)
        child.warning("quote: it gets worse at night")
    finally:
        uninstall_log_filter(registry)
        root.removeHandler(early)
        child.removeHandler(late)
        child.setLevel(logging.NOTSET)
    assert late.lines == [REDACTED, "transcribed 24 segments", REDACTED]
    assert early.lines == ["transcribed 24 segments", REDACTED]
    assert filt not in early.filters and filt not in root.filters


# The guard subprocess refuses to try anything risky until it has proven, with a probe
# that sends nothing even if it succeeds (bind to the wildcard address), that the hook
# is active and raising.
_GUARD_PRELUDE = """
    import socket, sys
    from privacy.policy import (
        NetworkBlockedError, blocked_attempts, enable_network_guard, network_guard_active,
    )
    enable_network_guard()
    assert network_guard_active()
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("0.0.0.0", 0))
    except NetworkBlockedError:
        pass
    else:
        sys.exit("GUARD NOT ACTIVE: refusing to continue")
    finally:
        probe.close()
    assert blocked_attempts() == 1
"""


def test_network_guard_blocks_outside_and_allows_loopback():
    result = _run(
        _GUARD_PRELUDE
        + """
    import threading, time, urllib.error, urllib.request

    # Non-loopback connect: the hook raises before the connect syscall.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(("10.255.255.1", 9))
    except NetworkBlockedError:
        pass
    else:
        sys.exit("connect was not blocked")
    finally:
        s.close()

    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"x", ("10.255.255.1", 9))
    except NetworkBlockedError:
        pass
    else:
        sys.exit("sendto was not blocked")
    finally:
        u.close()

    for resolve in (
        lambda: socket.getaddrinfo("example.com", 80),
        lambda: socket.gethostbyname("example.com"),
        lambda: socket.getnameinfo(("93.184.216.34", 80), 0),  # a reverse lookup
    ):
        try:
            resolve()
        except NetworkBlockedError:
            pass
        else:
            sys.exit("name resolution was not blocked")

    try:
        urllib.request.urlopen("http://example.com", timeout=1)
    except urllib.error.URLError as exc:
        assert isinstance(exc.reason, NetworkBlockedError), repr(exc.reason)
    else:
        sys.exit("urlopen was not blocked")

    # Loopback still works: a server and client on 127.0.0.1 and via "localhost".
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    port = server.getsockname()[1]

    def serve():
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(16).upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((host, port), timeout=5) as c:
            c.sendall(b"ping")
            assert c.recv(16) == b"PING"
    thread.join(5)
    server.close()

    a, b = socket.socketpair()  # AF_UNIX: allowed
    a.close(); b.close()
    print("blocked", blocked_attempts())
    """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "blocked 7"
    # Blocked attempts are logged as metadata: the host, never a payload.
    assert "network blocked (privacy mode): socket.connect to 10.255.255.1" in result.stderr


def test_network_guard_can_be_turned_off_and_scoped():
    # No traffic here either: only binds, which send nothing.
    result = _run(
        _GUARD_PRELUDE
        + """
    from privacy.policy import disable_network_guard, network_guard

    disable_network_guard()
    s = socket.socket(); s.bind(("0.0.0.0", 0)); s.close()  # allowed when off
    with network_guard():
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", 0))
        except NetworkBlockedError:
            pass
        else:
            sys.exit("not blocked inside network_guard()")
        finally:
            s.close()
    assert not network_guard_active()
    s = socket.socket(); s.bind(("0.0.0.0", 0)); s.close()
    print("ok", blocked_attempts())
    """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok 2"


def test_the_export_destination_is_the_only_way_out():
    import socket

    from privacy.policy import NetworkBlockedError, allow_destination, network_guard

    allow_destination("http://192.0.2.10:8080/fhir")  # TEST-NET-1: nothing answers there

    def attempt(address) -> bool:
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(address)
        except NetworkBlockedError:
            return False
        except OSError:
            pass  # in progress or unreachable: the guard let it through
        finally:
            s.close()
        return True

    with network_guard():
        assert attempt(("192.0.2.10", 8080))
        assert not attempt(("192.0.2.10", 8081))  # another port
        assert not attempt(("192.0.2.11", 8080))  # another host
