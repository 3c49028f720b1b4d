"""The enrolled voices API (``/api/voices``), behind the same access guard as every
route: the recorder page's "Enroll my voice".

- ``GET /api/voices``: ``{"voices": [{"id", "name", "enrolled", "model"}], "text"}``
  (``text``: what the clinician reads aloud to enroll).
- ``POST /api/voices``: the body is the enrollment recording, 16 kHz mono PCM16
  little-endian (``application/octet-stream``, at most ``Limits.max_voice_bytes``); the
  clinician's name in the ``X-Clinician-Name`` header, URI-encoded (UTF-8). 201 with the
  voice; 422 for too little speech or more than one voice (one line).
- ``DELETE /api/voices/{id}``: the voiceprint removed, nothing of it left; 404 if none.

The recording is converted, embedded and zeroed on the compute thread; it is never
written anywhere. Enrolling and deleting are audited by id (``voice_enrolled``,
``voice_deleted``), never the name.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from starlette.requests import ClientDisconnect

from privacy.voiceprints import NoSuchVoice
from scribe.errors import ScribeError
from scribe.service.capture import CaptureService
from scribe.speakers.enrolled import ENROLLMENT_TEXT, EnrollmentError, delete_voice, enroll, load_voices

logger = logging.getLogger("scribe.service.voices")

NAME_HEADER = "x-clinician-name"


def described(voice: Any) -> dict[str, str]:
    return {"id": voice.id, "name": voice.name, "enrolled": voice.created, "model": voice.model}


def add_voice_routes(app: FastAPI, service: CaptureService) -> None:
    """Register the ``/api/voices`` routes on ``app``."""

    @app.get("/api/voices")
    async def list_voices():
        try:
            voices = await service.run(load_voices, None)
        except ScribeError as e:
            raise HTTPException(500, str(e)) from None
        return {"voices": [described(v) for v in voices], "text": ENROLLMENT_TEXT}

    @app.post("/api/voices", status_code=201)
    async def add_voice(request: Request):
        try:
            name = unquote(request.headers.get(NAME_HEADER, ""), errors="strict").strip()
        except UnicodeDecodeError:
            raise HTTPException(400, f"the {NAME_HEADER} header is not URI-encoded UTF-8") from None
        if not name:
            raise HTTPException(400, f"the clinician's name is missing (the {NAME_HEADER} header)")
        try:
            pcm = bytearray(await request.body())
        except ClientDisconnect:
            raise HTTPException(400, "the recording did not arrive") from None
        if not pcm or len(pcm) % 2:
            raise HTTPException(400, "the recording must be 16 kHz mono PCM16")

        def work():
            audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            pcm[:] = bytes(len(pcm))  # plaintext zeroed: only the voiceprint is kept
            return enroll(audio, name, service.pipeline.diarizer, service.pipeline.detector, "recording")

        try:
            voice = await service.run(work)
        except EnrollmentError as e:
            raise HTTPException(422, e.reason) from None
        except ScribeError as e:
            raise HTTPException(400, str(e)) from None
        finally:
            pcm[:] = bytes(len(pcm))
        logger.info("voice %s enrolled", voice.id)
        return described(voice)

    @app.delete("/api/voices/{voice_id}")
    async def remove_voice(voice_id: str):
        try:
            await service.run(delete_voice, voice_id)
        except NoSuchVoice as e:
            raise HTTPException(404, str(e)) from None
        except ScribeError as e:
            raise HTTPException(400, str(e)) from None
        logger.info("voice %s deleted", voice_id)
        return {"deleted": voice_id}
