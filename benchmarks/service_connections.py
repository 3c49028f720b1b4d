"""The capture service's sockets under a flood (issue 12 item 1), measured from outside.

A real `scribe serve` process is started and:

1. **Lockout**: silent TCP connections are opened and held, one at a time to 100 and
   then 100 at a time to ``--max-held``; after each step an authorized GET /api/health
   and POST /api/visits are made, as the recorder page would. Reported: the fewest held
   sockets at which either failed (None: never, up to ``--max-held``).
2. **Lifetime**: how long the server keeps a socket that sends nothing, one that sends
   half a header, one that trickles a header a byte per 0.5 s, and one idle after a
   whole answered request (keep-alive), each until the server closes it (capped at
   ``--cap`` seconds: "still open").
3. **Request time**: an authorized GET /api/health on a new connection, connect to
   complete answer, as ServiceClient makes it: how long a real client needs to deliver
   a request, against which the request deadline is set.
4. **Sustained flood**: another process opens connections as fast as the service lets
   it (holding the newest 1,500, sending nothing) for ``--flood`` seconds while the page
   makes authorized GET /api/health requests one after another: how many succeeded and
   failed, the slowest, and the flood's connections per second.

    python benchmarks/service_connections.py [--label after] [--max-held 2000] [--cap 60]

Results are merged into benchmarks/results/service_connections.json under ``--label``.
Self-contained (no import of the service's connection code), so a copy of it runs
against an older tree for the "before" numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scribe.service.client import ServiceError  # noqa: E402
from tests.service_process import ServiceProcess  # noqa: E402


def page_ok(svc) -> bool:
    try:
        svc.client.request("GET", "/api/health")
        visit = svc.client.request("POST", "/api/visits", {})["visit"]
        svc.client.request("DELETE", f"/api/visits/{visit}")
        return True
    except (ServiceError, OSError):
        return False


def lockout(svc, max_held: int) -> int | None:
    held: list[socket.socket] = []
    try:
        steps = list(range(1, 101)) + list(range(200, max_held + 1, 100))
        for n in steps:
            while len(held) < n:
                held.append(socket.create_connection(("127.0.0.1", svc.port)))
            if not page_ok(svc):
                return n
        return None
    finally:
        for s in held:
            s.close()


def lifetime(svc, kind: str, cap: float) -> float | None:
    """Seconds from the socket being ready for a request to the server's close; None
    when still open at ``cap``."""
    port = svc.port
    half = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode()
    sock = socket.create_connection(("127.0.0.1", port))
    if kind == "keep-alive":
        sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Authorization: Bearer {svc.client.token}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            body += sock.recv(65536)
    start = time.monotonic()
    if kind == "half-header":
        sock.sendall(half)
    sent = 0
    trickle = half + b"x" * 10_000
    try:
        while time.monotonic() - start < cap:
            if kind == "trickle":
                sock.send(trickle[sent:sent + 1])
                sent += 1
                sock.settimeout(0.5)
            else:
                sock.settimeout(max(0.01, cap - (time.monotonic() - start)))
            try:
                if sock.recv(65536) == b"":
                    return round(time.monotonic() - start, 2)
            except socket.timeout:
                continue
        return None
    except (ConnectionResetError, BrokenPipeError):
        return round(time.monotonic() - start, 2)
    finally:
        sock.close()


def request_times(svc, n: int) -> dict:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        svc.client.request("GET", "/api/health")
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"n": n, "median_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(0.99 * (n - 1))], 2), "max_ms": round(times[-1], 2)}


FLOODER = r"""
import collections, socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
held, n, start = collections.deque(), 0, time.monotonic()
while time.monotonic() - start < seconds:
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        n += 1
    except OSError:
        pass
    if len(held) > 1500:
        held.popleft().close()
print(n)
"""


def sustained_flood(svc, seconds: float) -> dict:
    flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(svc.port), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    ok = failed = 0
    slowest = 0.0
    start = time.monotonic()
    while flooder.poll() is None and time.monotonic() - start < seconds:
        t = time.perf_counter()
        try:
            svc.client.request("GET", "/api/health")
            ok += 1
            slowest = max(slowest, time.perf_counter() - t)
        except (ServiceError, OSError):
            failed += 1
    opened = int(flooder.communicate()[0].strip() or 0)
    return {"seconds": seconds, "page_ok": ok, "page_failed": failed, "page_slowest_ms": round(slowest * 1000),
            "flood_connections_per_s": round(opened / seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="after")
    ap.add_argument("--max-held", type=int, default=2000)
    ap.add_argument("--cap", type=float, default=60.0)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--flood", type=float, default=20.0)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp())
    (tmp / "tmp").mkdir()
    env = {"TMPDIR": str(tmp / "tmp"), "SCRIBE_DATA_DIR": str(tmp / "data")}
    with ServiceProcess(env=env) as svc:
        result = {"request_time": request_times(svc, args.requests)}
        result["lockout_at_held_sockets"] = lockout(svc, args.max_held)
        result["sustained_flood"] = sustained_flood(svc, args.flood)
        # The four kinds side by side (each its own thread), so the run takes one cap.
        kinds = ["silent", "half-header", "trickle", "keep-alive"]
        lives: dict[str, float | None] = {}
        threads = [threading.Thread(target=lambda k=k: lives.__setitem__(k, lifetime(svc, k, args.cap)))
                   for k in kinds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result["socket_lifetime_s"] = {k: lives[k] for k in kinds}
        result["lifetime_cap_s"] = args.cap
        result["page_ok_after"] = page_ok(svc)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(result, indent=2))
    out = REPO / "benchmarks" / "results" / "service_connections.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged[args.label] = result
    out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
