"""A small client for the capture service, for scripts, tests and benchmarks: the same
API the recorder page uses (HTTP with a bearer token, audio over a WebSocket)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from scribe.service.access import SUBPROTOCOL, TOKEN_PROTOCOL_PREFIX


class ServiceError(RuntimeError):
    """The service answered an HTTP error: ``status`` and its ``{"error": ...}`` message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ServiceClient:
    base: str  # http://127.0.0.1:PORT
    token: str

    @classmethod
    def from_url(cls, url: str) -> "ServiceClient":
        """From the URL ``scribe serve`` prints (http://127.0.0.1:PORT/?token=...)."""
        base, _, query = url.partition("/?token=")
        return cls(base.rstrip("/"), query.strip())

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """``method path`` with ``body`` as JSON; the decoded JSON answer (None if empty).
        Raises ``ServiceError`` on an HTTP error status."""
        data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT") else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw).get("error", "")
            except ValueError:
                message = raw.decode(errors="replace")[:200]
            raise ServiceError(e.code, message) from None
        return json.loads(raw) if raw else None

    def ws_url(self, visit: str) -> str:
        return self.base.replace("http://", "ws://") + f"/api/visits/{visit}/stream"

    def ws_protocols(self) -> list[str]:
        return [SUBPROTOCOL, TOKEN_PROTOCOL_PREFIX + self.token]

    def connect(self, visit: str, **kwargs):
        """An asyncio WebSocket connection to stream a visit (``websockets`` client)."""
        from websockets.asyncio.client import connect

        return connect(self.ws_url(visit), subprotocols=self.ws_protocols(), max_size=2**22, **kwargs)
