"""Running the capture service: the loopback socket and the uvicorn server around the app."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable

from scribe.service.app import create_app
from scribe.service.capture import CaptureService
from scribe.service.connections import ConnectionBudget, accept_backlog, budgeted_protocol


def bind(port: int) -> socket.socket:
    """A listening-ready socket on 127.0.0.1:port (0: any free port), bound before the
    server starts so its address is known and a port in use is a clear error. Raises
    OSError when the port cannot be bound."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class _RequestLines(logging.Filter):
    """uvicorn's own lines, made safe for the log (issue 12 item 4): a request line's query
    string is cut (``?token=...``: the WebSocket lines of ``uvicorn.error`` carry it even
    with the access log off), and "ASGI callable returned without completing handshake",
    one line per WebSocket the access guard refuses (any web page can make those), is
    dropped: the guard's refusal is the answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "without completing handshake" in message:
            return False
        if "?" in message:
            record.msg = re.sub(r"\?[^\s\"']*", "", message)
            record.args = ()
        return True


def serve(service: CaptureService, sock: socket.socket, on_ready: Callable[[str], None]) -> None:
    """Run until SIGINT/SIGTERM; ``on_ready(url)`` once the socket accepts connections.
    Open visits are discarded on the way out. Connections are held to
    ``scribe.service.connections``: a whole request within ``REQUEST_TIMEOUT`` of a
    connection being ready for one, and a budget of open connections in which the one
    waiting longest for a request makes room for a new one."""
    import uvicorn

    service.port = sock.getsockname()[1]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(_RequestLines())
    budget = ConnectionBudget()
    config = uvicorn.Config(
        create_app(service),
        log_config=None,
        access_log=False,  # request lines can carry the token
        server_header=False,
        ws="websockets-sansio",
        ws_max_size=4 * service.limits.max_frame_bytes,
        ws_per_message_deflate=False,
        http=budgeted_protocol(budget),
        # No limit_concurrency: it counts sockets that never sent a request, so 63 silent
        # ones turned every request into a 503 (issue 12 item 1); the budget bounds open
        # connections, and so requests in flight, without letting them lock anyone out.
        limit_concurrency=None,
        backlog=accept_backlog(budget.limit),
        # uvicorn's default: an idle keep-alive connection closes 5 s after its response.
        timeout_keep_alive=5,
        lifespan="on",
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                on_ready(f"http://127.0.0.1:{service.port}/")

    Server(config).run(sockets=[sock])
