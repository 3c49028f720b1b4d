"""The FHIR client against hostile HTTP servers on loopback (real sockets, stdlib
http.server): what it sends where, and what it takes for an answer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scribe.fhir.client import FhirClient, FhirServerError


def _server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else():
    # Issue 12, item 5: urllib followed a 302 to another host, re-sent Authorization
    # there, and took that host's reply as the EHR's.
    seen: list[dict] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(dict(self.headers))
            body = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    other = _server(Elsewhere)

    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{other.server_port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    ehr = _server(Redirecting)
    try:
        client = FhirClient(f"http://127.0.0.1:{ehr.server_port}/fhir", token="s3cret-token", retries=0)
        for call in (lambda: client.current("urn:uuid:00000000-0000-0000-0000-000000000000"),
                     lambda: client.request("POST", "", {"resourceType": "Bundle"})):
            with pytest.raises(FhirServerError) as e:
                call()
            message = str(e.value)
            assert "\n" not in message and "302" in message and "not followed" in message
            assert "s3cret-token" not in message
        assert seen == []  # nothing, and no token, reached the other host
    finally:
        ehr.shutdown()
        other.shutdown()
