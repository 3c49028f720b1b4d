"""A recorder's WebSocket: audio frames and control messages in, visit events out.

The recorder sends 16 kHz mono PCM16 frames (little-endian, binary messages of at most
``Limits.max_frame_bytes``) and JSON control messages ``{"type": "pause" | "resume" |
"stop" | "swap_roles" | "ping"}``; it gets ``scribe.live.events`` back as JSON text, a
``ready`` event first. After Stop the connection stays useful: a model drafter's
progress and note (``drafting``, ``model_note``, ``draft_failed``) come over it
(``CaptureService.publish``). A dropped connection does not end the visit: the recorder
reconnects and goes on from the ``ready`` event's lines. A malformed or oversized message
closes the connection with an RFC 6455 code (``WsClose``); a failed visit is discarded.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Union

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from scribe.live.events import ErrorEvent, Event, PongEvent
from scribe.live.visit import LiveVisit, State, VisitStateError
from scribe.service.access import SUBPROTOCOL
from scribe.service.capture import CaptureService

logger = logging.getLogger("scribe.service.stream")

CONTROLS = ("pause", "resume", "stop", "swap_roles", "ping")

# A message from the recorder: ("audio", PCM16 bytes), ("control", one of CONTROLS), or,
# once merged, ("end", None) where the reader queued None (the connection ended); or
# ("events", [Event, ...]) the service publishes to this recorder (a model draft's).
Message = tuple[str, Union[bytes, str, list, None]]


class WsClose:
    # RFC 6455 close codes the recorder can act on.
    NORMAL = 1000  # the visit ended (discarded)
    INVALID_PAYLOAD = 1007  # malformed frame (odd byte count, bad JSON)
    POLICY = 1008  # unknown message
    TOO_BIG = 1009
    INTERNAL = 1011


async def connect(service: CaptureService, ws: WebSocket, visit_id: str) -> None:
    """Accept a recorder for ``visit_id`` and serve it until it goes. Refused with an
    HTTP status before the handshake completes: 404 no such visit, 503 over
    ``max_streams`` connections, 409 the visit already has a recorder."""
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
    service.streamed.add(visit_id)
    try:
        await _stream(service, live, ws)
    finally:
        service.streams -= 1
        service.connected.discard(visit_id)


async def _stream(service: CaptureService, live: LiveVisit, ws: WebSocket) -> None:
    """Frames in, events out. A reader task queues messages as they arrive; the worker
    takes every audio frame waiting at once (one feed after a slow step catches up
    instead of falling further behind) and, when idle, shows the open utterance."""
    queue: asyncio.Queue[Message | None] = asyncio.Queue()
    closing: list[tuple[int, str]] = []
    await ws.send_json(live.ready().to_json())

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
                    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: nested too deeply
                        closing.append((WsClose.INVALID_PAYLOAD, "control message is not JSON with a type"))
                        break
                    if kind not in CONTROLS:
                        closing.append((WsClose.POLICY, f"unknown message type {str(kind)[:40]!r}"))
                        break
                    await queue.put(("control", kind))
        except WebSocketDisconnect:
            pass
        finally:
            await queue.put(None)

    task = asyncio.create_task(reader())
    service.outboxes[live.id] = lambda events: queue.put_nowait(("events", events))
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
                events: list[Event]
                if kind == "events":
                    await _send(ws, payload)
                    if live.state is State.discarded:  # discarded over HTTP: nothing left to serve
                        closing.append((WsClose.NORMAL, "visit discarded"))
                        done = True
                        break
                    continue
                try:
                    if kind == "audio":
                        events = await service.run(live.feed, payload)
                    elif payload == "ping":
                        events = [PongEvent()]
                    else:
                        events = await service.act(live, actions[payload])
                except VisitStateError as e:
                    events = [ErrorEvent(str(e))]
                except Exception as e:
                    await service.run(service.fail, live, e)
                    await _send(ws, [ErrorEvent("the visit failed and was discarded; nothing of it is retained")])
                    closing.append((WsClose.INTERNAL, "visit failed"))
                    done = True
                    break
                await _send(ws, events)
            if not done and queue.empty() and live.state is State.recording:
                await _send(ws, await service.run(live.partial))
    finally:
        task.cancel()
        service.outboxes.pop(live.id, None)
    if closing:
        code, reason = closing[0]
        logger.warning("visit %s: recorder connection closed (%d)", live.id, code)
        try:
            if code != WsClose.NORMAL:
                await ws.send_json(ErrorEvent(reason).to_json())
            await ws.close(code=code, reason=reason)
        except Exception:  # the peer may be gone already
            pass


def _merge_audio(items: Sequence[Message | None]) -> list[Message]:
    """Queued messages in order, consecutive audio frames joined into one feed: after a
    slow step the service catches up in one go instead of falling further behind."""
    merged: list[Message] = []
    for item in items:
        if item is None:
            merged.append(("end", None))
        elif item[0] == "audio" and merged and merged[-1][0] == "audio":
            merged[-1] = ("audio", merged[-1][1] + item[1])
        else:
            merged.append(item)
    return merged


async def _send(ws: WebSocket, events: Sequence[Event]) -> None:
    # The recorder may have gone (closed tab, network blip) while its last frames were
    # still queued: they are processed anyway, so nothing captured is lost; their events
    # are simply not delivered (the visit's state is there on reconnect).
    for event in events:
        try:
            await ws.send_text(json.dumps(event.to_json(), ensure_ascii=False))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
