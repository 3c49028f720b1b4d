"""The service's sockets: a deadline for every request to arrive whole, and a budget of
open connections that silent or unauthenticated sockets cannot exhaust (issue 12 item 1).

uvicorn has neither. Its keep-alive timer starts only after a response, so a socket that
never sends a byte, or sends a request a byte at a time, is never closed (uvicorn issues
#157, "timeout-request-start", and #1192); and ``limit_concurrency`` counts such sockets,
so 63 silent connections made every request of the recorder page a 503 (landed main,
measured by benchmarks/service_connections.py: 62 held, GET /api/health 200; 63 held,
503; a silent, half-sent or trickled request still open after 60 s).

Here, through uvicorn's own ``http`` option (a protocol class), its h11 protocol gets:

- **A request deadline** (``REQUEST_TIMEOUT``): from the moment a connection is ready for
  a request (accepted, or its previous response sent) until that request's headers and
  body have all arrived. A connection that misses it is closed. Trickling bytes does not
  extend it. Once a request has arrived nothing is timed: a long sign or export runs as
  long as it needs, and a WebSocket is never timed here (the upgrade hands the socket to
  the WebSocket protocol, whose only liveness check is uvicorn's ping, which the
  browser answers by itself however long the recorder stays paused).
- **A connection budget** (``ConnectionBudget``): when a new connection would take the
  open count past the limit, the connection that has been *waiting for a request*
  longest is closed to make room (a silent socket, a half-sent header, an idle
  keep-alive). A connection whose request is being served and an accepted WebSocket
  (both passed the access guard: only the token's holder has them) are never closed for
  room; a new connection that finds every slot held by those is closed itself. So a
  flood of sockets turns over among themselves and the page's next request still gets
  in: an attacker's socket is older than the page's, and the page's request is read
  before the limit's worth of newer sockets can arrive (``BACKLOG``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("scribe.service.connections")

# Seconds a connection has to deliver one whole request (headers and body) once it is
# ready for one. The recorder page and ServiceClient write a request at once over
# loopback: an authorized GET /api/health on a new connection, connect to whole answer,
# took a median of 2-6 ms and at most 80 ms in 200 (benchmarks/service_connections.py,
# results/service_connections.json; 224 ms once, in a run beside other tests on this
# shared 2-core machine), so 10 s leaves over 40 times the slowest seen; it is
# also uvicorn #157's proposed request-start timeout. After a response, uvicorn's own
# keep-alive (5 s) closes a connection that sends nothing sooner.
REQUEST_TIMEOUT = 10.0

# Open connections at once. The page uses at most 6 HTTP connections (a browser's limit
# per host) and one WebSocket per recorder (Limits.max_streams = 16). The limit stays
# within half the process's soft descriptor limit: the service itself holds 7
# descriptors with a visit open, and accepted sockets not yet counted need the rest.
MAX_CONNECTIONS = 512

# The listening socket's accept queue, and so the most connections asyncio accepts in
# one loop turn (it accepts up to ``backlog`` each time the socket is ready). A socket is
# counted (made) two turns after its accept and its request read the turn after that,
# so between a page socket's count and the read of its request at most three turns'
# accepts arrive: the limit must exceed three backlogs, or a flood could make the page's
# socket the longest waiting before its request is read. uvicorn's default is 2048;
# 128 keeps 3 x 128 = 384 under 512. A smaller queue makes a connect flood wait in the
# kernel (its SYNs dropped and retried) instead of in the service's memory.
BACKLOG = 128


def connection_limit() -> int:
    """``MAX_CONNECTIONS``, or half the soft descriptor limit when that is lower."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft // 2))


def accept_backlog(limit: int) -> int:
    """``BACKLOG``, or a quarter of ``limit`` when that is lower (three backlogs < limit)."""
    return max(4, min(BACKLOG, limit // 4))


class ConnectionBudget:
    """The open connections' budget: which HTTP connections wait for a request, oldest
    first, and the closing of the oldest when a new one would exceed ``limit``.

    Counters (metadata only): ``evicted`` closed for room, ``refused`` new connections
    closed because every slot is serving a request or a WebSocket, ``timed_out`` closed
    at the request deadline."""

    def __init__(self, limit: int | None = None, timeout: float = REQUEST_TIMEOUT):
        self.limit = connection_limit() if limit is None else limit
        self.timeout = timeout
        self._waiting: dict[Any, None] = {}  # insertion order = waiting since, oldest first
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0

    def waits(self, conn: Any) -> None:
        """``conn`` is now waiting for a request (the newest to wait)."""
        self._waiting.pop(conn, None)
        self._waiting[conn] = None

    def busy(self, conn: Any) -> None:
        """``conn`` is serving a request, is a WebSocket, or is gone: never closed for room."""
        self._waiting.pop(conn, None)

    def admit(self, conn: Any, open_count: int) -> bool:
        """A new connection (already counted in ``open_count`` and waiting): close the
        longest-waiting connections until the count is within the limit. False when
        ``conn`` itself must go (nothing else could)."""
        while open_count > self.limit:
            oldest = next(iter(self._waiting))
            if oldest is conn:
                self.refused += 1
                logger.debug("connection refused: %d open, none waiting", open_count)
                return False
            self._waiting.pop(oldest)
            self.evicted += 1
            oldest.close_for_room()
            open_count -= 1
        return True


def budgeted_protocol(budget: ConnectionBudget) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``budget``'s deadline and limit: a class for
    ``uvicorn.Config(http=...)``."""

    class BudgetedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            budget.waits(self)
            self._arm()
            if len(self.connections) <= budget.limit:
                return  # within the limit even counting sockets already closing
            open_count = sum(1 for c in self.connections if not _closing(c))
            if not budget.admit(self, open_count):
                self._close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.transport.get_protocol() is self:
                # Ready for the next request: its own deadline, from now. (A pipelined
                # request already read is then seen in flight by _track.)
                budget.waits(self)
                self._arm(restart=True)
            self._track()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            budget.busy(self)
            super().connection_lost(exc)

        def close_for_room(self) -> None:
            logger.debug("connection closed for room: it was waiting for a request")
            self._close()

        def _track(self) -> None:
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                # Closed, or upgraded to a WebSocket: the WebSocket protocol has it now.
                self._disarm()
                budget.busy(self)
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                budget.busy(self)  # a request passed to the app: being served
                if not cycle.more_body:
                    self._disarm()  # it has arrived whole; its handling is not timed

        def _arm(self, restart: bool = False) -> None:
            if restart:
                self._disarm()
            if self._deadline is None:
                self._deadline = self.loop.call_later(budget.timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _timed_out(self) -> None:
            self._deadline = None
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            budget.timed_out += 1
            budget.busy(self)
            logger.debug("connection closed: no whole request within %.0f s", budget.timeout)
            self._close()

        def _close(self) -> None:
            self._disarm()
            budget.busy(self)
            self.transport.close()

    return BudgetedH11Protocol


def _closing(conn: Any) -> bool:
    transport = getattr(conn, "transport", None)
    return transport is None or transport.is_closing()
