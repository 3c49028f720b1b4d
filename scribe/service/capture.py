"""The capture service's state: the open visits, the one compute thread, and the limits.

- One ``Pipeline`` (models loaded once) serves every visit. Model work runs on one
  compute thread, so two exam rooms share the two cores in turn instead of fighting for
  them; the event loop stays free for audio frames, pages and refusals.
- A visit is a ``LiveVisit``. A visit that fails is discarded on its own; the others
  never notice. Visits left behind (nobody streaming, untouched) are discarded on a timer.
- With a model drafter (``--drafter llm`` / ``audio-llm``), loaded once at startup and
  shared by every room, visits draft as they go with the embedded drafter; at Stop the
  model drafts the final note on a separate single-worker *drafting* thread, one visit
  at a time, so no room's live transcription waits for it. Its progress and its note
  reach the visit's recorder as events (``publish``); the drafting thread runs at a
  lower priority (nice 10, ``scribe.live.drafting.background_thread``), so the cores
  serve live audio first.

The service logs metadata only (visit ids, states, counts), never content.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from fastapi import HTTPException

from scribe.audio import SAMPLE_RATE
from scribe.config import FhirConfig
from scribe.errors import ScribeError
from scribe.live.drafting import ModelDraft, background_thread, live_pipeline
from scribe.live.events import DraftingEvent, Event
from scribe.live.streaming import StreamParams
from scribe.live.visit import LiveVisit, State
from scribe.notes.templates import available_templates
from scribe.pipeline import Pipeline
from scribe.speakers.enrolled import VOICE_DIARIZERS, load_voices
from scribe.visits import VisitFactory

logger = logging.getLogger("scribe.service.capture")

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """What the service accepts before it refuses: floods cost nothing beyond the check."""

    max_visits: int = 8  # open at once (exam rooms on one machine)
    max_streams: int = 16  # WebSocket connections at once
    max_frame_bytes: int = 2 * SAMPLE_RATE * 2  # 2 s of PCM16 in one message
    max_control_bytes: int = 4096  # a JSON control message
    max_body_bytes: int = 256 * 1024  # a signed note is a few KB
    # An enrollment recording (POST /api/voices): 16 kHz mono PCM16 is 32,000 bytes a
    # second; the page records 20 s (640,000 bytes); 1 MiB allows 32 s.
    max_voice_bytes: int = 1024 * 1024
    max_text_bytes: int = 100 * 1024  # the note, and its patient instructions, as signed
    idle_seconds: float = 30 * 60  # a visit nobody streams to or touches is discarded
    # A visit whose recorder never connects is discarded after this long (checked every
    # half of it, at most every 30 s). The page connects as soon as the visit's POST
    # answers (its ready event 6-59 ms later over five starts in Chromium on this 2-core
    # machine, loaded) and a reloaded page retries for up to 15 s; a minute is a wide
    # margin, and a page that died between the two (issue 13 item 1) cannot hold one of
    # max_visits for 30 min.
    connect_seconds: float = 60.0
    signed_seconds: float = 60 * 60  # a signed note waits this long to be exported


class CaptureService:
    """The open visits of one ``scribe serve`` process and the thread their model work
    runs on.

    ``pipeline`` serves every visit (a model drafter in it drafts at Stop, on the drafting
    thread; the growing note is the embedded drafter's); ``visits`` opens each one in the site's mode;
    ``token`` is the install's access token (``scribe.service.access``); ``fhir`` the
    site's FHIR destination, or None: export is then download-only. ``port`` is set once
    the socket is bound (the access guard checks Host against it)."""

    def __init__(
        self,
        pipeline: Pipeline,
        visits: VisitFactory,
        *,
        token: str,
        limits: Limits = Limits(),
        stream_params: StreamParams = StreamParams(),
        fhir: FhirConfig | None = None,
    ):
        self.pipeline, self.model_drafter = live_pipeline(pipeline)
        self.fhir = fhir
        self.factory = visits
        self.token = token
        self.limits = limits
        self.stream_params = stream_params
        self.port = 0
        # Enrolled voices a visit listens for when its start names none (``--clinician``
        # on ``scribe serve``); None: every voice enrolled at the site when it opens.
        self.clinicians: tuple[str, ...] | None = None
        self.visits: dict[str, LiveVisit] = {}
        self.connected: set[str] = set()  # visits with a recorder connected now
        self.streamed: set[str] = set()  # visits a recorder has ever connected to
        # This process's random id, in /api/health: a page whose visit is unknown tells a
        # restarted service (another id: the visit was lost) from a visit discarded here.
        self.instance = secrets.token_hex(8)
        self.streams = 0  # WebSocket connections open now
        # A signed visit's patient instructions (FHIR DocumentReference), held beside
        # its signed note (LiveVisit.signed_document) until the visit ends.
        self.signed_instructions: dict[str, dict] = {}
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scribe-compute")
        # The model drafter's own thread: one visit's note at a time, never on compute,
        # and in the background (benchmarks/live_drafting.py: a room transcribing while
        # a note drafts beside it at normal priority ran ~35% slower; at nice 10, not).
        self.drafting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scribe-draft",
                                           initializer=background_thread)
        # Where a visit's events go when they are not an answer to its recorder (the
        # model draft's progress and note): the connected recorder's queue, by visit.
        self.outboxes: dict[str, Callable[[list[Event]], None]] = {}
        self._drafts: set[asyncio.Task] = set()

    @property
    def privacy(self) -> bool:
        return self.factory.privacy

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on the compute thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.compute, fn, *args)

    async def act(self, live: LiveVisit, fn: Callable[..., T], *args) -> T:
        """An action on ``live`` on the compute thread (``run``); a model draft it
        prepared (Stop, a role swap) is then started on the drafting thread."""
        result = await self.run(fn, *args)
        job = live.take_draft()
        if job is not None:
            self.start_draft(live, job)
        return result

    # -- model drafts -------------------------------------------------------------------

    def publish(self, visit_id: str, events: list[Event]) -> None:
        """``events`` to the visit's connected recorder, if one is (event loop only). A
        recorder that connects later gets the state in its ``ready``/``final``."""
        send = self.outboxes.get(visit_id)
        if send is not None and events:
            send(events)

    def start_draft(self, live: LiveVisit, job: ModelDraft) -> None:
        """Run ``job`` on the drafting thread; its progress and result are published to
        the visit's recorder. Event loop only."""
        loop = asyncio.get_running_loop()

        def progress(done: int, total: int) -> None:
            event = DraftingEvent(job.name, job.model, done, total)
            loop.call_soon_threadsafe(self.publish, live.id, [event])

        async def drafting() -> None:
            self.publish(live.id, [DraftingEvent(job.name, job.model)])
            try:
                note = await loop.run_in_executor(self.drafting, job.run, progress)
                logger.info("visit %s: model draft %s", live.id, job.state)
                if live.id in self.visits:
                    self.publish(live.id, await self.run(live.model_drafted, job, note))
            except Exception as e:  # applying the result failed: the visit's own failure
                if live.id in self.visits:
                    await self.run(self.fail, live, e)

        task = asyncio.create_task(drafting())
        self._drafts.add(task)
        task.add_done_callback(self._drafts.discard)

    # -- visits -------------------------------------------------------------------------

    def open_visit(
        self, template: str | None, terms: tuple[str, ...] = (), clinicians: tuple[str, ...] | None = None
    ) -> LiveVisit:
        """A new visit, drafting with ``template`` (None: the pipeline's), recognising
        with ``terms`` expected too (the page's; never logged), listening for the
        enrolled voices ``clinicians`` names (None: ``self.clinicians``, else every voice
        enrolled at the site). Runs on the compute thread. Raises HTTPException 429 when
        ``max_visits`` are open, 400 for an unknown template or voice id."""
        if len(self.visits) >= self.limits.max_visits:
            raise HTTPException(429, f"{len(self.visits)} visits are open; stop or discard one first")
        if template is not None and template not in available_templates():
            raise HTTPException(400, f"template {template!r} not found (available: {', '.join(available_templates())})")
        named = clinicians if clinicians is not None else self.clinicians
        diarizer = getattr(getattr(self.pipeline, "options", None), "diarizer", None)
        if named and diarizer is not None and diarizer not in VOICE_DIARIZERS:
            raise HTTPException(400, f"clinician: the {diarizer} diarizer cannot use enrolled voices")
        try:
            voices = load_voices(named)
        except ScribeError as e:
            raise HTTPException(400, f"clinician: {e}") from None
        visit = self.factory.open()
        try:
            live = LiveVisit(self.pipeline, visit, template=template, params=self.stream_params,
                             model_drafter=self.model_drafter, terms=terms, voices=voices)
        except BaseException:
            visit.close(discarded=True, reason="error")
            raise
        self.visits[live.id] = live
        logger.info("visit %s opened (privacy=%s, template=%s)", live.id, live.privacy, live.template.id)
        return live

    def get(self, visit_id: str) -> LiveVisit:
        """The open visit ``visit_id``; HTTPException 404 if there is none."""
        live = self.visits.get(visit_id)
        if live is None:
            raise HTTPException(404, "no such visit")
        return live

    def describe(self, live: LiveVisit) -> dict[str, Any]:
        """``live`` as the visits API lists it (metadata only): ``LiveVisit.summary``,
        ``age_seconds`` (whole seconds since it opened) and ``recorder`` (True while a
        recorder is connected to it)."""
        age = (datetime.now(timezone.utc) - live.started_at).total_seconds()
        return {**live.summary(), "age_seconds": int(age), "recorder": live.id in self.connected}

    def discard(self, live: LiveVisit, reason: str) -> None:
        """Runs on the compute thread (it may be mid-feed otherwise)."""
        try:
            live.discard(reason)
        finally:
            self.visits.pop(live.id, None)
            self.streamed.discard(live.id)
            self.signed_instructions.pop(live.id, None)
            # A signed visit's end is audited now that its note has left the service,
            # after every export of it (privacy.visit.Visit.ended).
            live.visit.ended(reason)
            logger.info("visit %s ended (%s)", live.id, reason)

    def fail(self, live: LiveVisit, error: BaseException) -> None:
        # Type only: an exception message could quote the visit.
        logger.error("visit %s failed (%s); discarded", live.id, type(error).__name__)
        self.discard(live, "error")

    async def reap(self) -> None:
        """Discard visits left behind, checked every ``min(30, connect_seconds / 2)`` s:
        a recording visit no recorder ever connected to within connect_seconds of its
        last touch; nobody streaming and untouched for idle_seconds; signed notes not
        exported within signed_seconds."""
        while True:
            await asyncio.sleep(min(30.0, self.limits.connect_seconds / 2))
            now = time.monotonic()
            for live in list(self.visits.values()):
                if live.id in self.connected:
                    continue
                if live.state is State.signed:
                    limit = self.limits.signed_seconds
                elif live.state is State.recording and live.id not in self.streamed:
                    limit = self.limits.connect_seconds
                else:
                    limit = self.limits.idle_seconds
                if now - live.last_active > limit:
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
            # A draft cancelled mid-run closes its visit when the model lets go of it.
            self.drafting.shutdown(wait=True)
