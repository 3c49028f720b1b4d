"""Who may talk to the capture service: this machine's user, through the recorder page or
a local client, and nobody else.

The service listens on loopback only, but loopback is reachable by every web page the
clinician's browser opens (a page can fetch http://127.0.0.1:PORT) and, through DNS
rebinding, by any site whose name is made to resolve to 127.0.0.1. So every request, HTTP
and WebSocket alike, must pass three checks, in this order:

1. Host is this service's own loopback address (127.0.0.1:PORT, localhost:PORT or
   [::1]:PORT): a rebound name carries its own name in Host.          -> 403
2. Origin, when present, is this service itself; a cross-site fetch metadata header is
   refused too: another page in the browser always sends one of them. -> 403
3. The per-install token: ``Authorization: Bearer``, the WebSocket subprotocol
   ``scribe.token.<token>`` (browsers cannot set headers on a WebSocket), or ``?token=``
   (the URL ``scribe serve`` prints, opened once).                     -> 401

The token is generated on first use into a 0600 file in the site's data folder and
compared in constant time. It never appears in logs: the service logs no request lines.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from privacy.errors import PathError
from privacy.paths import check_data_dir, data_dir, private_dir

logger = logging.getLogger("scribe.service.access")

TOKEN_PROTOCOL_PREFIX = "scribe.token."
SUBPROTOCOL = "scribe.v1"


def token_path() -> Path:
    return data_dir() / "service" / "token"


def load_or_create_token(path: Path | None = None) -> str:
    """The install's token, created (0600, in a 0700 folder) if there is none yet.
    Raises ``PathError`` (one line naming the file or the data folder, exit code 1) when
    the data folder is not a folder or the token file cannot be read or written."""
    if path is None:
        check_data_dir()
        path = token_path()
    try:
        token = path.read_text(encoding="ascii").strip()
        if len(token) >= 32:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)  # someone loosened it: tighten, do not trust more
            return token
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as e:
        raise PathError(path, f"service token file cannot be read ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        private_dir(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise PathError(path, f"service token file cannot be written ({e.strerror or type(e).__name__})") from None
    logger.info("created service token file %s", path)
    return token


class AccessGuard:
    """ASGI middleware applying the three checks to every HTTP and WebSocket request.

    ``app`` is the ASGI app behind it; ``token`` the install's token; ``port_ref()`` the
    service's port, asked per request (it is known only once the socket is bound).
    Refusals are answered here (403/401) and counted in ``refused``."""

    def __init__(self, app: Any, *, token: str, port_ref: Callable[[], int]):
        self.app = app
        self._token = token.encode("ascii")
        self._port_ref = port_ref
        self.refused = 0

    def allowed_hosts(self) -> set[str]:
        port = self._port_ref()
        return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, reason = self.check(scope, headers)
        if status is None:
            return await self.app(scope, receive, send)
        self.refused += 1
        # Metadata only: which check, never the token or query.
        logger.warning("refused %s request: %s", scope["type"], reason)
        if scope["type"] == "http":
            if status == 401 and scope["path"] == "/" and "text/html" in headers.get("accept", ""):
                await _sign_in_page(send)  # a reload, or the bare address typed in
            else:
                await _http_error(send, status, reason)
        else:
            await deny_websocket(scope, receive, send, status, reason)

    def check(self, scope, headers: dict[str, str]) -> tuple[int | None, str]:
        """``(None, "")`` when the request may pass, else ``(status, reason)``: 403 for Host,
        Origin or a cross-site fetch, 401 for a missing or wrong token."""
        hosts = self.allowed_hosts()
        if headers.get("host", "").lower() not in hosts:
            return 403, "Host is not this service's loopback address"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in {f"http://{h}" for h in hosts}:
            return 403, "Origin is not this service"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return 403, "cross-site request"
        if not self._token_ok(scope, headers):
            return 401, "missing or wrong token"
        return None, ""

    def _token_ok(self, scope, headers: dict[str, str]) -> bool:
        offered: list[str] = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        for proto in headers.get("sec-websocket-protocol", "").split(","):
            proto = proto.strip()
            if proto.startswith(TOKEN_PROTOCOL_PREFIX):
                offered.append(proto[len(TOKEN_PROTOCOL_PREFIX):])
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered += query.get("token", [])[:1]
        return any(hmac.compare_digest(t.encode("utf-8", "replace"), self._token) for t in offered)


async def _http_error(send, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="scribe"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _sign_in_page(send) -> None:
    """Still a 401, and nothing of the service in it: a page that retries with the token
    this tab already holds (the recorder moves it out of the address bar into the tab's
    session storage, so a reload arrives without it), or says where to get one."""
    nonce = secrets.token_urlsafe(16)
    body = (
        '<!doctype html><meta charset="utf-8"><title>Scribe</title>'
        f'<script nonce="{nonce}">'
        'const t = sessionStorage.getItem("scribe.token");'
        'if (t) location.replace("/?token=" + encodeURIComponent(t));'
        '</script>'
        '<p style="font: 18px system-ui; margin: 3rem">Open the address that <code>scribe serve</code> '
        'printed: it carries this machine\'s access token.</p>'
    ).encode()
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"www-authenticate", b'Bearer realm="scribe"'),
        (b"content-security-policy", f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; frame-ancestors 'none'".encode()),
    ]})
    await send({"type": "http.response.body", "body": body})


async def deny_websocket(scope, receive, send, status: int, reason: str) -> None:
    """Refuse a WebSocket handshake with an HTTP status (uvicorn supports the ASGI
    denial-response extension); a plain close (403) where the server does not."""
    message = await receive()  # websocket.connect
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"error": reason}).encode()
        await send({
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
