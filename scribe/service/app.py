"""The capture service: the recorder page and its API, on loopback, for this machine.

- One ``Pipeline`` (models loaded once) serves every visit. Model work runs on one
  compute thread, so two exam rooms share the two cores in turn instead of fighting for
  them; the event loop stays free for audio frames, pages and refusals.
- A visit is a ``LiveVisit``; its recorder streams 16 kHz mono PCM16 frames over a
  WebSocket and gets events back (``scribe.live.visit.EVENT_TYPES``). A dropped connection does
  not end the visit: the recorder reconnects and goes on. A visit that fails is
  discarded on its own; the others never notice.
- Every request passes ``scribe.service.access.AccessGuard`` (Host, Origin, token). Limits (open
  visits, connections, frame and body sizes) refuse floods before they cost anything.

The service logs metadata only (visit ids, states, counts, refusals), never request
lines: a URL can carry the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from scribe import __version__
from scribe.service.access import SUBPROTOCOL, AccessGuard
from scribe.errors import ScribeError
from scribe.live.visit import LiveVisit, State, VisitStateError
from scribe.live.streaming import StreamParams
from scribe.notes.templates import available_templates

logger = logging.getLogger("scribe.service.app")

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Limits:
    max_visits: int = 8  # open at once (exam rooms on one machine)
    max_streams: int = 16  # WebSocket connections at once
    max_frame_bytes: int = 2 * SAMPLE_RATE * 2  # 2 s of PCM16 in one message
    max_control_bytes: int = 4096  # a JSON control message
    max_body_bytes: int = 256 * 1024  # a signed note is a few KB
    idle_seconds: float = 30 * 60  # a visit nobody streams to or touches is discarded
    signed_seconds: float = 60 * 60  # a signed note waits this long to be exported


class WsClose:
    # RFC 6455 close codes the recorder can act on.
    INVALID_PAYLOAD = 1007  # malformed frame (odd byte count, bad JSON)
    POLICY = 1008  # unknown message
    TOO_BIG = 1009
    INTERNAL = 1011


class CaptureService:
    def __init__(self, pipeline, visits, *, token: str, limits: Limits = Limits(), stream_params=StreamParams(),
                 fhir=None):
        self.pipeline = pipeline
        self.fhir = fhir  # scribe.config.FhirConfig with a server, or None: export is download-only
        self.factory = visits  # scribe.visits.VisitFactory
        self.token = token
        self.limits = limits
        self.stream_params = stream_params
        self.port = 0
        self.visits: dict[str, LiveVisit] = {}
        self.connected: set[str] = set()
        self.streams = 0
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scribe-compute")

    @property
    def privacy(self) -> bool:
        return self.factory.privacy

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.compute, fn, *args)

    # -- visits -------------------------------------------------------------------------

    def open_visit(self, template: str | None) -> LiveVisit:
        if len(self.visits) >= self.limits.max_visits:
            raise HTTPException(429, f"{len(self.visits)} visits are open; stop or discard one first")
        if template is not None and template not in available_templates():
            raise HTTPException(400, f"template {template!r} not found (available: {', '.join(available_templates())})")
        visit = self.factory.open()
        try:
            live = LiveVisit(self.pipeline, visit, template=template, params=self.stream_params)
        except BaseException:
            visit.close(discarded=True, reason="error")
            raise
        self.visits[live.id] = live
        logger.info("visit %s opened (privacy=%s, template=%s)", live.id, live.privacy, live.template.id)
        return live

    def get(self, visit_id: str) -> LiveVisit:
        live = self.visits.get(visit_id)
        if live is None:
            raise HTTPException(404, "no such visit")
        return live

    def discard(self, live: LiveVisit, reason: str) -> None:
        """Runs on the compute thread (it may be mid-feed otherwise)."""
        try:
            live.discard(reason)
        finally:
            self.visits.pop(live.id, None)
            logger.info("visit %s ended (%s)", live.id, reason)

    def fail(self, live: LiveVisit, error: BaseException) -> None:
        # Type only: an exception message could quote the visit.
        logger.error("visit %s failed (%s); discarded", live.id, type(error).__name__)
        self.discard(live, "error")

    async def reap(self) -> None:
        """Discard visits left behind: nobody streaming and untouched for idle_seconds;
        signed notes not exported within signed_seconds."""
        while True:
            await asyncio.sleep(30)
            now = time.monotonic()
            for live in list(self.visits.values()):
                limit = self.limits.signed_seconds if live.state is State.signed else self.limits.idle_seconds
                if live.id not in self.connected and now - live.last_active > limit:
                    await self.run(self.discard, live, "timeout")

    def shutdown(self) -> None:
        """Discard every open visit. On the compute thread, after whatever model work is
        still running there: a visit is never shredded under a feed that is using it."""

        def discard_all() -> None:
            for live in list(self.visits.values()):
                try:
                    self.discard(live, "service_stopped")
                except Exception as e:  # every visit must get its chance to be shredded
                    logger.error("visit %s: discard failed (%s)", live.id, type(e).__name__)

        try:
            self.compute.submit(discard_all).result()
        finally:
            self.compute.shutdown(wait=True)


def create_app(service: CaptureService) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        reaper = asyncio.create_task(service.reap())
        try:
            yield
        finally:
            reaper.cancel()
            await asyncio.get_running_loop().run_in_executor(None, service.shutdown)

    app = FastAPI(title="Scribe capture service", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers={"cache-control": "no-store"})

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > service.limits.max_body_bytes):
            return JSONResponse({"error": "request body too large"}, status_code=413)
        if request.method in ("POST", "PUT") and length is None:
            return JSONResponse({"error": "a request body needs a Content-Length"}, status_code=411)
        response = await call_next(request)
        response.headers.setdefault("cache-control", "no-store")
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "no-referrer"
        response.headers["x-frame-options"] = "DENY"
        return response

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request):
        nonce = secrets.token_urlsafe(16)
        host = request.headers["host"]
        csp = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            f"connect-src 'self' ws://{host}; img-src 'self' data:; media-src 'self' blob:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return HTMLResponse(recorder_page(nonce), headers={"content-security-policy": csp})

    @app.get("/api/health")
    async def health():
        return {
            "status": "ok",
            "version": __version__,
            "privacy": service.privacy,
            "visits": len(service.visits),
            "models": [{"kind": m.kind, "name": m.name, "version": m.version} for m in service.pipeline.models],
            "templates": available_templates(),
            "default_template": service.pipeline.template.id,
            "fhir_server": bool(service.fhir and service.fhir.server),
            "practitioner": service.fhir.practitioner if service.fhir else None,
            "organization": service.fhir.organization if service.fhir else None,
        }

    @app.get("/api/visits")
    async def list_visits():
        return {"visits": [live.summary() for live in service.visits.values()]}

    @app.post("/api/visits", status_code=201)
    async def open_visit(request: Request):
        body = await _json(request)
        template = body.get("template")
        if template is not None and not isinstance(template, str):
            raise HTTPException(400, "template must be a name")
        live = await service.run(service.open_visit, template)
        return live.ready()

    @app.get("/api/visits/{visit_id}")
    async def visit(visit_id: str):
        live = service.get(visit_id)
        live.last_active = time.monotonic()  # the page's keep-alive while a note is reviewed
        return live.summary()

    @app.get("/api/visits/{visit_id}/review")
    async def review(visit_id: str):
        live = service.get(visit_id)
        live.last_active = time.monotonic()
        return await _act(service, live, live.review)

    @app.post("/api/visits/{visit_id}/stop")
    async def stop(visit_id: str):
        live = service.get(visit_id)
        return {"events": await _act(service, live, live.stop)}

    @app.post("/api/visits/{visit_id}/roles/swap")
    async def swap(visit_id: str):
        live = service.get(visit_id)
        return {"events": await _act(service, live, live.swap_roles)}

    @app.post("/api/visits/{visit_id}/sign")
    async def sign(visit_id: str, request: Request):
        live = service.get(visit_id)
        body = await _json(request)
        text = body.get("text")
        if not isinstance(text, str):
            raise HTTPException(400, "text (the note as signed) is required")
        doc = await _act(service, live, live.sign, text)
        kept = "Audio and transcript destroyed; only the signed note remains, until you export it." if live.privacy \
            else "The visit is kept, encrypted, per the site's retention."
        return {"state": live.state.value, "message": kept, "document": doc}

    @app.get("/api/visits/{visit_id}/fhir")
    async def fhir(visit_id: str):
        live = service.get(visit_id)
        body = await _act(service, live, live.export)
        return Response(body, media_type="application/fhir+json", headers={
            "content-disposition": f'attachment; filename="note-{visit_id[:8]}.fhir.json"',
        })

    @app.post("/api/visits/{visit_id}/send")
    async def send(visit_id: str, request: Request):
        """The signed note to the EHR's FHIR server, for the patient and encounter the
        page names (the site's practitioner and organisation unless it names others)."""
        from scribe.fhir.client import ClinicalContext, FhirClient, FhirServerError, IdentityError, filed_note

        live = service.get(visit_id)
        if not (service.fhir and service.fhir.server):
            raise HTTPException(409, "no FHIR server is configured (scribe serve --fhir-server, or [fhir] server in the config)")
        if live.signed_document is None:
            raise HTTPException(409, "the note is not signed yet")
        body = await _json(request)
        fields = {k: body.get(k) for k in ("patient", "encounter", "practitioner", "organization")}
        if any(v is not None and not isinstance(v, str) for v in fields.values()):
            raise HTTPException(400, "patient, encounter, practitioner and organization are Type/id strings")
        context = ClinicalContext(
            patient=fields["patient"] or None,
            encounter=fields["encounter"] or None,
            practitioner=fields["practitioner"] or service.fhir.practitioner,
            organization=fields["organization"] or service.fhir.organization,
        )
        try:
            client = FhirClient(service.fhir.server, service.fhir.token())
        except ScribeError as e:  # the token file cannot be read: the site's setup, not the page's
            raise HTTPException(500, str(e)) from None
        try:
            response = await asyncio.to_thread(client.send, live.signed_document, context, document=bool(body.get("bundle")))
        except IdentityError as e:
            raise HTTPException(400, str(e)) from None
        except FhirServerError as e:
            raise HTTPException(502, str(e)) from None
        where, _ = filed_note(response)
        await service.run(live.sent)
        return {"location": where, "message": f"Sent to the EHR as {where}."}

    @app.delete("/api/visits/{visit_id}")
    async def discard(visit_id: str):
        live = service.get(visit_id)
        await service.run(service.discard, live, "user_request")
        message = "Visit discarded: nothing of it is retained." if live.privacy else "Visit discarded."
        return {"state": "discarded", "message": message}

    @app.websocket("/api/visits/{visit_id}/stream")
    async def stream(ws: WebSocket, visit_id: str):
        live = service.visits.get(visit_id)
        refusal = None
        if live is None:
            refusal = (404, "no such visit")
        elif service.streams >= service.limits.max_streams:
            refusal = (503, "too many recorder connections")
        elif visit_id in service.connected:
            refusal = (409, "this visit already has a recorder connected")
        if refusal is not None:
            await ws.send_denial_response(JSONResponse({"error": refusal[1]}, status_code=refusal[0]))
            return
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        service.streams += 1
        service.connected.add(visit_id)
        try:
            await _stream(service, live, ws)
        finally:
            service.streams -= 1
            service.connected.discard(visit_id)

    return AccessGuard(app, token=service.token, port_ref=lambda: service.port)


async def _json(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "request body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "request body must be a JSON object")
    return body


async def _act(service: CaptureService, live: LiveVisit, fn, *args):
    try:
        return await service.run(fn, *args)
    except VisitStateError as e:
        raise HTTPException(409, str(e)) from None
    except (ScribeError, ValueError) as e:
        raise HTTPException(400, str(e)) from None
    except Exception as e:
        await service.run(service.fail, live, e)
        raise HTTPException(500, "the visit failed and was discarded; nothing of it is retained") from None


async def _stream(service: CaptureService, live: LiveVisit, ws: WebSocket) -> None:
    """Frames in, events out. A reader task queues messages as they arrive; the worker
    takes every audio frame waiting at once (one feed after a slow step catches up
    instead of falling further behind) and, when idle, shows the open utterance."""
    queue: asyncio.Queue = asyncio.Queue()
    closing: list[tuple[int, str]] = []
    await ws.send_json(live.ready())

    async def reader() -> None:
        limits = service.limits
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data, text = message.get("bytes"), message.get("text")
                if data is not None:
                    if len(data) > limits.max_frame_bytes:
                        closing.append((WsClose.TOO_BIG, f"audio frame over {limits.max_frame_bytes} bytes"))
                        break
                    if len(data) % 2:
                        closing.append((WsClose.INVALID_PAYLOAD, "audio frame is not whole 16-bit samples"))
                        break
                    await queue.put(("audio", data))
                elif text is not None:
                    if len(text) > limits.max_control_bytes:
                        closing.append((WsClose.TOO_BIG, "control message too large"))
                        break
                    try:
                        control = json.loads(text)
                        kind = control["type"]
                    except (ValueError, KeyError, TypeError):
                        closing.append((WsClose.INVALID_PAYLOAD, "control message is not JSON with a type"))
                        break
                    if kind not in ("pause", "resume", "stop", "swap_roles", "ping"):
                        closing.append((WsClose.POLICY, f"unknown message type {str(kind)[:40]!r}"))
                        break
                    await queue.put(("control", kind))
        except WebSocketDisconnect:
            pass
        finally:
            await queue.put(None)

    task = asyncio.create_task(reader())
    actions = {"pause": live.pause, "resume": live.resume, "stop": live.stop, "swap_roles": live.swap_roles}
    try:
        done = False
        while not done:
            waiting = [await queue.get()]
            while not queue.empty():
                waiting.append(queue.get_nowait())
            for kind, payload in _merge_audio(waiting):
                if kind == "end":
                    done = True
                    break
                try:
                    if kind == "audio":
                        events = await service.run(live.feed, payload)
                    elif payload == "ping":
                        events = [{"type": "pong"}]
                    else:
                        events = await service.run(actions[payload])
                except VisitStateError as e:
                    events = [{"type": "error", "message": str(e)}]
                except Exception as e:
                    await service.run(service.fail, live, e)
                    await _send(ws, [{"type": "error", "message": "the visit failed and was discarded; nothing of it is retained"}])
                    closing.append((WsClose.INTERNAL, "visit failed"))
                    done = True
                    break
                await _send(ws, events)
            if not done and queue.empty() and live.state is State.recording:
                await _send(ws, await service.run(live.partial))
    finally:
        task.cancel()
    if closing:
        code, reason = closing[0]
        logger.warning("visit %s: recorder connection closed (%d)", live.id, code)
        try:
            await ws.send_json({"type": "error", "message": reason})
            await ws.close(code=code, reason=reason)
        except Exception:  # the peer may be gone already
            pass


def _merge_audio(items: list) -> list[tuple[str, object]]:
    """Queued messages in order, consecutive audio frames joined into one feed: after a
    slow step the service catches up in one go instead of falling further behind."""
    merged: list[tuple[str, object]] = []
    for item in items:
        if item is None:
            merged.append(("end", None))
        elif item[0] == "audio" and merged and merged[-1][0] == "audio":
            merged[-1] = ("audio", merged[-1][1] + item[1])
        else:
            merged.append(item)
    return merged


async def _send(ws: WebSocket, events: list[dict]) -> None:
    # The recorder may have gone (closed tab, network blip) while its last frames were
    # still queued: they are processed anyway, so nothing captured is lost; their events
    # are simply not delivered (the visit's state is there on reconnect).
    for event in events:
        try:
            await ws.send_text(json.dumps(event, ensure_ascii=False))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return


def bind(port: int):
    """A listening-ready socket on 127.0.0.1:port (0: any free port), bound before the
    server starts so its address is known and a port in use is a clear error."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(service: CaptureService, sock, on_ready) -> None:
    """Run until SIGINT/SIGTERM; ``on_ready(url)`` once the socket accepts connections.
    Open visits are discarded on the way out."""
    import uvicorn

    service.port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(service),
        log_config=None,
        access_log=False,  # request lines can carry the token
        server_header=False,
        ws="websockets-sansio",
        ws_max_size=4 * service.limits.max_frame_bytes,
        ws_per_message_deflate=False,
        limit_concurrency=64,
        timeout_keep_alive=5,
        lifespan="on",
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                on_ready(f"http://127.0.0.1:{service.port}/")

    Server(config).run(sockets=[sock])


def recorder_page(nonce: str) -> str:
    """index.html with its stylesheet and script inlined under the response's CSP nonce:
    one authenticated request fetches the whole page, and no other asset needs the token."""
    folder = resources.files("scribe.service") / "recorder"
    html = (folder / "index.html").read_text(encoding="utf-8")
    css = (folder / "recorder.css").read_text(encoding="utf-8")
    js = (folder / "recorder.js").read_text(encoding="utf-8")
    html = html.replace('<link rel="stylesheet" href="recorder.css">', f'<style nonce="{nonce}">\n{css}</style>')
    html = html.replace('<script src="recorder.js"></script>', f'<script nonce="{nonce}">\n{js}</script>')
    return html
