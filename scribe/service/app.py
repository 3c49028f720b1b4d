"""The capture service's HTTP side: the recorder page and the visits API, on loopback.

Every request passes ``scribe.service.access.AccessGuard`` (Host, Origin, token) first;
limits (``scribe.service.capture.Limits``) refuse oversized bodies before they are read.
Routes answer JSON (``{"error": reason}`` with the status on failure) and are never
cached. Visit work runs on the service's compute thread; a visit that fails there is
discarded (500) without touching the others. The recorder's audio and live events go
over the WebSocket in ``scribe.service.stream``; ``scribe.service.server`` runs the app.

The service logs metadata only (visit ids, states, counts, refusals), never request
lines: a URL can carry the token.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect

from scribe import __version__
from scribe.errors import ScribeError
from scribe.live.events import StateEvent
from scribe.live.visit import LiveVisit, State, VisitStateError
from scribe.notes.templates import available_templates
from scribe.options import split_terms
from scribe.service.access import AccessGuard
from scribe.service.capture import CaptureService
from scribe.service.signing import export_instructions, instructions_sent, sign_request, sign_visit
from scribe.service.stream import connect
from scribe.service.voices import add_voice_routes

T = TypeVar("T")

# The recorder page's scripts, in the order index.html loads them: the review side (the
# draft note, patient instructions, omissions and their evidence), then the recorder.
RECORDER_SCRIPTS = ("review.js", "recorder.js", "enroll.js")
# A visit's terms (the page's Terms field): Whisper reads at most 223 prompt tokens,
# about 1,000 characters of terms (scribe.options.PROMPT_TOKENS), after the site's.
MAX_TERMS_CHARS = 1000


def create_app(service: CaptureService) -> AccessGuard:
    """The ASGI app for ``service``: its routes behind the access guard. Its lifespan
    runs the reaper of abandoned visits and, on the way out, discards every open visit."""

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
        if "transfer-encoding" in request.headers:
            # With a Content-Length beside it, chunked framing wins and the length check
            # is bypassed (a 60 MB body was taken; issue 12 item 2): the page never sends one.
            return JSONResponse({"error": "Transfer-Encoding is not accepted; send a Content-Length"}, status_code=400)
        # An enrollment recording (POST /api/voices) is larger than any other body.
        voice = request.method == "POST" and request.url.path == "/api/voices"
        limit = service.limits.max_voice_bytes if voice else service.limits.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
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
            "instance": service.instance,
            "privacy": service.privacy,
            "visits": len(service.visits),
            "models": [{"kind": m.kind, "name": m.name, "version": m.version} for m in service.pipeline.models],
            "note_model": None if service.model_drafter is None else {
                "drafter": service.model_drafter.name, "version": service.model_drafter.version},
            "templates": available_templates(),
            "default_template": service.pipeline.template.id,
            # The note language is the service's (scribe serve --note-language): every
            # room shares its loaded models. The choices are the languages this service
            # can write a note in (today only its own): the page shows them, honestly.
            "note_language": service.pipeline.options.note_language,
            "note_languages": [service.pipeline.options.note_language],
            "translates_to": sorted(getattr(service.pipeline.speech_model, "translates_to", ())),
            "fhir_server": bool(service.fhir and service.fhir.server),
            "practitioner": service.fhir.practitioner if service.fhir else None,
            "organization": service.fhir.organization if service.fhir else None,
        }

    @app.get("/api/visits")
    async def list_visits():
        """This service's open visits, oldest first: id, state, age in seconds, whether
        a recorder is connected (``CaptureService.describe``); metadata only."""
        return {"visits": [service.describe(live) for live in service.visits.values()]}

    @app.post("/api/visits", status_code=201)
    async def open_visit(request: Request):
        body = await _json(request)
        template = body.get("template")
        if template is not None and not isinstance(template, str):
            raise HTTPException(400, "template must be a name")
        note_language = body.get("note_language")  # the page's Note language: the service's only
        if note_language is not None and note_language != service.pipeline.options.note_language:
            raise HTTPException(400, f"note_language: this service writes notes in "
                                     f"{service.pipeline.options.note_language} only (scribe serve --note-language)")
        terms = body.get("terms") or ""  # the page's Terms: expected words, comma-separated
        if not isinstance(terms, str) or len(terms) > MAX_TERMS_CHARS:
            raise HTTPException(400, f"terms must be text of at most {MAX_TERMS_CHARS} characters")
        # Enrolled voices to listen for (ids; absent: the service's default, every voice
        # enrolled at the site unless `scribe serve --clinician` named some).
        clinician = body.get("clinician")
        if clinician is not None and (
            not isinstance(clinician, list) or len(clinician) > 20 or not all(isinstance(c, str) for c in clinician)
        ):
            raise HTTPException(400, "clinician must be a list of enrolled voice ids")
        live = await service.run(
            service.open_visit, template, tuple(split_terms(terms)), None if clinician is None else tuple(clinician)
        )
        # instance: the page tells a later "no such visit" after a restart from a discard.
        return {**live.ready().to_json(), "instance": service.instance}

    @app.get("/api/visits/{visit_id}")
    async def visit(visit_id: str):
        live = service.get(visit_id)
        live.last_active = time.monotonic()  # the page's keep-alive while a note is reviewed
        return service.describe(live)

    @app.get("/api/visits/{visit_id}/review")
    async def review(visit_id: str):
        live = service.get(visit_id)
        live.last_active = time.monotonic()
        return (await _act(service, live, live.review)).to_json()

    @app.post("/api/visits/{visit_id}/stop")
    async def stop(visit_id: str):
        live = service.get(visit_id)
        return {"events": [e.to_json() for e in await _act(service, live, live.stop)]}

    @app.post("/api/visits/{visit_id}/roles/swap")
    async def swap(visit_id: str):
        live = service.get(visit_id)
        return {"events": [e.to_json() for e in await _act(service, live, live.swap_roles)]}

    @app.post("/api/visits/{visit_id}/sign")
    async def sign(visit_id: str, request: Request):
        """The edited note and, unless empty, the edited patient instructions, signed
        together (``scribe.service.signing``)."""
        live = service.get(visit_id)
        signing = sign_request(await _json(request), service.limits)
        signed = await _act(service, live, sign_visit, live, signing)
        if signed.instructions is not None:
            service.signed_instructions[live.id] = signed.instructions
        kept = "Audio and transcript destroyed; only the signed note remains, until you export it." if live.privacy \
            else "The visit is kept, encrypted, per the site's retention."
        if signed.left_out:
            kept = f"{signed.left_out} sentence(s) still marked UNSUPPORTED were left out. {kept}"
        return {"state": live.state.value, "message": kept, "document": signed.note,
                "instructions": signed.instructions, "left_out": signed.left_out}

    @app.get("/api/visits/{visit_id}/fhir")
    async def fhir(visit_id: str):
        live = service.get(visit_id)
        body = await _act(service, live, live.export)
        return Response(body, media_type="application/fhir+json", headers={
            "content-disposition": f'attachment; filename="note-{visit_id[:8]}.fhir.json"',
        })

    @app.get("/api/visits/{visit_id}/fhir/instructions")
    async def fhir_instructions(visit_id: str):
        live = service.get(visit_id)
        if live.signed_document is None:
            raise HTTPException(409, "the note is not signed yet")
        document = service.signed_instructions.get(live.id)
        if document is None:
            raise HTTPException(404, "no patient instructions were signed with this note")
        body = await _act(service, live, export_instructions, live, document)
        return Response(body, media_type="application/fhir+json", headers={
            "content-disposition": f'attachment; filename="instructions-{visit_id[:8]}.fhir.json"',
        })

    @app.post("/api/visits/{visit_id}/send")
    async def send(visit_id: str, request: Request):
        """The signed note, and its patient instructions if any, to the EHR's FHIR
        server, for the patient and encounter the page names (the site's practitioner
        and organisation unless it names others): one transaction each."""
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
        note, instructions = live.signed_document, service.signed_instructions.get(live.id)
        try:
            response = await asyncio.to_thread(client.send, note, context, document=bool(body.get("bundle")))
        except IdentityError as e:
            raise HTTPException(400, str(e)) from None
        except FhirServerError as e:
            raise HTTPException(502, str(e)) from None
        where, _ = filed_note(response)
        await service.run(live.sent)
        if instructions is None:
            return {"location": where, "instructions_location": None, "message": f"Sent to the EHR as {where}."}
        try:
            response = await asyncio.to_thread(client.send, instructions, context)
        except FhirServerError as e:  # sending again is safe: the note is not filed twice
            raise HTTPException(502, f"the note was filed as {where}, the patient instructions not: {e}") from None
        filed, _ = filed_note(response)
        await service.run(instructions_sent, live, instructions)
        return {"location": where, "instructions_location": filed,
                "message": f"Sent to the EHR as {where}; patient instructions as {filed}."}

    @app.delete("/api/visits/{visit_id}")
    async def discard(visit_id: str):
        live = service.get(visit_id)
        await service.run(service.discard, live, "user_request")
        message = "Visit discarded: nothing of it is retained." if live.privacy else "Visit discarded."
        # A recorder still connected hears it and is closed, instead of waiting on a
        # visit that is gone (found by a tester: its socket stayed open).
        outbox = service.outboxes.get(visit_id)
        if outbox is not None:
            outbox([StateEvent(State.discarded.value, message)])
        return {"state": "discarded", "message": message}

    add_voice_routes(app, service)

    @app.websocket("/api/visits/{visit_id}/stream")
    async def stream(ws: WebSocket, visit_id: str):
        await connect(service, ws, visit_id)

    return AccessGuard(app, token=service.token, port_ref=lambda: service.port)


async def _json(request: Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); HTTPException 400 otherwise."""
    try:
        raw = await request.body()
    except ClientDisconnect:  # gone mid-body, or closed at the request deadline (connections.py)
        raise HTTPException(400, "the request body did not arrive") from None
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "request body is not JSON") from None
    except RecursionError:  # "[" x 100000: 400, not a 500 with a traceback (issue 12 item 3)
        raise HTTPException(400, "request body is JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "request body must be a JSON object")
    return body


async def _act(service: CaptureService, live: LiveVisit, fn: Callable[..., T], *args) -> T:
    """``fn(*args)``, an action on ``live``, on the compute thread (a model draft it
    prepares then starts on the drafting thread). A state that does not allow it is a
    409, a bad request a 400; any other failure discards the visit (500)."""
    try:
        return await service.act(live, fn, *args)
    except VisitStateError as e:
        raise HTTPException(409, str(e)) from None
    except (ScribeError, ValueError) as e:
        raise HTTPException(400, str(e)) from None
    except Exception as e:
        await service.run(service.fail, live, e)
        raise HTTPException(500, "the visit failed and was discarded; nothing of it is retained") from None


def recorder_page(nonce: str) -> str:
    """index.html with its stylesheet and scripts inlined under the response's CSP nonce:
    one authenticated request fetches the whole page, and no other asset needs the token."""
    folder = resources.files("scribe.service") / "recorder"
    html = (folder / "index.html").read_text(encoding="utf-8")
    css = (folder / "recorder.css").read_text(encoding="utf-8")
    html = html.replace('<link rel="stylesheet" href="recorder.css">', f'<style nonce="{nonce}">\n{css}</style>')
    for script in RECORDER_SCRIPTS:
        js = (folder / script).read_text(encoding="utf-8")
        html = html.replace(f'<script src="{script}"></script>', f'<script nonce="{nonce}">\n{js}</script>')
    return html
