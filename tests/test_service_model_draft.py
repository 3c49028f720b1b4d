"""Live visits with a model drafter, on the capture service as a real process: the
embedded note at Stop, then the model's progress and note over the visit's connection,
drafted off the live thread (another room transcribes meanwhile); signing refused while
it drafts and, after, leaving out what is still marked UNSUPPORTED; a discard mid-draft
keeping nothing. The model is a tiny random Llama built at test time, its output
steered by ``tests.model_drafter`` (a gate file holds each chunk until the test opens
it, so "while drafting" is a state, not a timing)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scribe.service.client import ServiceClient, ServiceError
from tests.conftest import REPO
from tests.model_drafter import FLAGGED
from tests.service_process import ServiceProcess, poll_until, foreground_signals
from tests.test_service import _open, _pcm

pytest.importorskip("transformers")

FRAME = 3200


def tiny_model(folder: Path) -> Path:
    from tests.test_llm_drafter import build_model

    # A short context: the visit is drafted in several chunks (several progress steps).
    return build_model(folder, chat=False, max_positions=160)


class ModelService(ServiceProcess):
    """`scribe serve --drafter tinyllm` (``tests.model_drafter``)."""

    def __enter__(self) -> "ModelService":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.model_drafter", "serve", *self.args, "--drafter", "tinyllm"],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=foreground_signals,
        )
        self.client = ServiceClient.from_url(self._wait_for_url())
        assert self.client.request("GET", "/api/health")["status"] == "ok"
        return self


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model-serve")
    (tmp / "tmp").mkdir()
    model = tiny_model(tmp / "tiny-llama")
    gate = tmp / "gate"
    env = {"TMPDIR": str(tmp / "tmp"), "SCRIBE_DATA_DIR": str(tmp / "data"),
           "SCRIBE_TEST_NOTE_MODEL": str(model), "SCRIBE_TEST_DRAFT_GATE": str(gate)}
    with ModelService(env=env) as svc:
        svc.tmp, svc.gate = tmp, gate
        yield svc


async def _recv_until(ws, done, timeout: float = 120) -> list[dict]:
    events = []
    while True:
        ev = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
        events.append(ev)
        if done(ev):
            return events


async def _stream_and_stop(ws, pcm: bytes) -> list[dict]:
    """The ready event is read; ``pcm`` in 100 ms frames, then stop: events to final."""
    for i in range(0, len(pcm), FRAME):
        await ws.send(pcm[i : i + FRAME])
    await ws.send(json.dumps({"type": "stop"}))
    return await _recv_until(ws, lambda e: e["type"] == "final")


def _audit(service) -> list[dict]:
    path = service.tmp / "data" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_model_draft_after_stop(service):
    client: ServiceClient = service.client
    assert client.request("GET", "/api/health")["note_model"]["drafter"] == "llm"
    a = _open(client)

    async def run():
        async with client.connect(a) as ws_a:
            await ws_a.recv()  # ready
            events = await _stream_and_stop(ws_a, _pcm("cough_visit", 30))
            final = events[-1]
            # Stop answers at once with the embedded drafter's note; the model is queued.
            assert final["note"]["drafter"]["name"] == "extractive"
            assert final["drafting"] == {"drafter": "llm", "model": "tiny-llama", "done": 0, "total": 0}
            assert final["text"] and "[UNSUPPORTED]" not in final["text"]
            first = json.loads(await asyncio.wait_for(ws_a.recv(), 60))
            assert first == {"type": "drafting", "drafter": "llm", "model": "tiny-llama", "done": 0, "total": 0}

            # The model is drafting (held at the gate): the note cannot be signed yet,
            # nor roles swapped under it; a reloaded page is told where the draft is.
            with pytest.raises(ServiceError) as e:
                client.request("POST", f"/api/visits/{a}/sign", {"text": final["text"]})
            assert e.value.status == 409 and e.value.message.startswith("the note is still being drafted with llm")
            assert "\n" not in e.value.message
            with pytest.raises(ServiceError) as e:
                client.request("POST", f"/api/visits/{a}/roles/swap")
            assert e.value.status == 409
            assert client.request("GET", f"/api/visits/{a}/review")["drafting"]["drafter"] == "llm"

            # Another room records meanwhile: its lines come while the model drafts.
            b = _open(client)
            async with client.connect(b) as ws_b:
                await ws_b.recv()
                b_events = await _stream_and_stop(ws_b, _pcm("knee_followup", 15))
            assert [e for e in b_events if e["type"] == "line"] and b_events[-1]["type"] == "final"
            assert b_events[-1]["drafting"]["drafter"] == "llm"  # queued behind a's: one at a time
            # ... and is discarded while its draft waits: nothing of it is kept.
            client.request("DELETE", f"/api/visits/{b}")
            with pytest.raises(ServiceError) as e:
                client.request("GET", f"/api/visits/{b}")
            assert e.value.status == 404
            assert ("visit_discarded", b) in [(r["event"], r["visit_id"]) for r in _audit(service)]
            assert client.request("GET", f"/api/visits/{a}")["state"] == "stopped"

            service.gate.touch()  # let the model finish
            rest = await _recv_until(ws_a, lambda e: e["type"] in ("model_note", "draft_failed"))
            return final, rest

    final, rest = asyncio.run(run())
    progress, note = rest[:-1], rest[-1]
    assert note["type"] == "model_note", note
    assert progress and all(e["type"] == "drafting" for e in progress)
    steps = [(e["done"], e["total"]) for e in progress]
    total = steps[-1][1]
    assert total >= 2 and steps == [(k, total) for k in range(1, total + 1)], steps
    assert note["drafter"] == "llm" and note["note"]["drafter"]["name"] == "llm"
    counts = note["note"]["counts"]
    flagged = [s for sec in note["note"]["sections"] for s in sec["sentences"] if not s["supported"]]
    crafted = [line.split(": ", 1)[1] for line in FLAGGED]
    # Every made-up sentence is flagged, with the guard's reasons (a chunk's first line
    # can be flagged too: a recogniser line split at a chunk's edge is not all said).
    assert set(crafted) <= {s["text"] for s in flagged} and all(s["flags"] for s in flagged), flagged
    assert counts["unsupported"] == len(flagged) and counts["supported"] >= 1, counts
    text = note["text"]
    marked = [line for line in text.splitlines() if line.startswith("- [UNSUPPORTED] ")]
    assert len(marked) == len(flagged)
    marked = [f"- [UNSUPPORTED] {t}" for t in crafted]
    assert all(line in text.splitlines() for line in marked)
    # The llm drafter writes no patient instructions: the first draft's stay with its note.
    assert note["instructions_text"] == final["instructions_text"]
    assert note["note"]["instructions"] == final["note"]["instructions"]
    review = client_review(service, a)
    assert review["note"] == note["note"] and review["text"] == text and review["drafting"] is None

    # The clinician accepts one flagged sentence, deletes another, leaves the third.
    accepted, deleted, left = marked
    edited = text.replace(accepted, accepted.replace("[UNSUPPORTED] ", "")).replace(deleted + "\n", "")
    signed = service.client.request("POST", f"/api/visits/{a}/sign", {"text": edited})
    still = len(flagged) - 2
    assert signed["left_out"] == still
    assert signed["message"].startswith(f"{still} sentence(s) still marked UNSUPPORTED were left out.")
    doc = service.client.request("GET", f"/api/visits/{a}/fhir")
    plain = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert accepted.replace("[UNSUPPORTED] ", "") in plain
    assert deleted[len("- [UNSUPPORTED] "):] not in plain and left[len("- [UNSUPPORTED] "):] not in plain
    assert "UNSUPPORTED" not in plain
    # The signed note names the model that drafted it, not the embedded drafter.
    device = doc["contained"][0]
    assert {"type": {"text": "drafter model llm"}, "value": note["note"]["drafter"]["version"]} in device["version"]
    assert "extractive" not in json.dumps(device)


def client_review(service, visit: str) -> dict:
    return service.client.request("GET", f"/api/visits/{visit}/review")


def test_discard_while_the_model_drafts_keeps_nothing(service):
    """Discarded while the model is mid-draft: the visit is gone at once, its result is
    ignored, and the visit is closed (key destroyed, audited) once the model lets go."""
    client: ServiceClient = service.client
    service.gate.unlink(missing_ok=True)
    c = _open(client)

    async def run():
        async with client.connect(c) as ws:
            await ws.recv()
            await _stream_and_stop(ws, _pcm("cough_visit", 12))
            await _recv_until(ws, lambda e: e["type"] == "drafting")
            waiting = Path(str(service.gate) + ".waiting")
            await asyncio.to_thread(poll_until, waiting.exists, "the model to be drafting")
            assert client.request("DELETE", f"/api/visits/{c}")["state"] == "discarded"
            # Gone from the service at once; closed (key destroyed, audited) only once the
            # model has let go of the visit.
            assert c not in [v["visit"] for v in client.request("GET", "/api/visits")["visits"]]
            assert ("visit_discarded", c) not in [(r["event"], r["visit_id"]) for r in _audit(service)]
            service.gate.touch()
            # Whatever the connection still carries, no model note for a discarded visit.
            try:
                late = await _recv_until(ws, lambda e: e["type"] == "model_note", timeout=5)
            except (asyncio.TimeoutError, Exception):
                late = []
            return late

    assert asyncio.run(run()) == []
    with pytest.raises(ServiceError) as e:
        client.request("GET", f"/api/visits/{c}")
    assert e.value.status == 404
    poll_until(lambda: ("visit_discarded", c) in [(r["event"], r["visit_id"]) for r in _audit(service)], "the discard")
    assert c not in [v["visit"] for v in client.request("GET", "/api/visits")["visits"]]


def test_nothing_is_left_behind(service):
    """Runs last: the service stops; privacy mode leaves no visit on disk, and its output
    quotes nothing of the visits nor of the model's note."""
    assert service.stop() == 130
    out = service.stdout + service.stderr
    assert "Traceback" not in out
    for phrase in ("cough for about a week", "warfarin", "left wrist", "meniscus"):
        assert phrase not in out.lower()
    leftovers = [p for p in (service.tmp / "tmp").rglob("*") if p.is_file() and p.name != ".ses"]
    assert leftovers == []
    data = service.tmp / "data"
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) == [
        "audit.jsonl", "audit.jsonl.head", "service/token", "site.key"]  # the key MACs the audit log


def test_a_note_model_that_does_not_load_fails_serve_at_start(tmp_path):
    missing = tmp_path / "no-model"
    env = {**os.environ, "TMPDIR": str(tmp_path), "SCRIBE_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-m", "scribe.cli", "serve", "--port", "0", "--drafter", "llm",
                        "--note-model", str(missing)], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 4, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {missing}: note model folder not found"]
    assert "?token=" not in r.stdout


def test_a_model_that_cannot_draft_keeps_the_first_draft(tmp_path):
    """`scribe serve --drafter llm --note-model FOLDER`, the real command line: the model
    loads at start, but its context (160 tokens) cannot hold the prompt and the 80 new
    tokens it would write, so the draft fails at Stop: said in one line, the embedded
    note stays and is signed."""
    model = tiny_model(tmp_path / "tiny-llama")
    (tmp_path / "tmp").mkdir()
    env = {"TMPDIR": str(tmp_path / "tmp"), "SCRIBE_DATA_DIR": str(tmp_path / "data")}
    with ServiceProcess("--drafter", "llm", "--note-model", str(model), env=env) as svc:
        client = svc.client
        assert client.request("GET", "/api/health")["note_model"]["drafter"] == "llm"
        visit = _open(client)

        async def run():
            async with client.connect(visit) as ws:
                await ws.recv()
                final = (await _stream_and_stop(ws, _pcm("cough_visit", 8)))[-1]
                rest = await _recv_until(ws, lambda e: e["type"] in ("model_note", "draft_failed"))
                return final, rest

        final, rest = asyncio.run(run())
        assert final["note"]["drafter"]["name"] == "extractive" and final["drafting"]["model"] == "tiny-llama"
        failed = rest[-1]
        assert failed["type"] == "draft_failed" and failed["drafter"] == "llm", failed
        assert failed["message"].startswith("drafting with llm failed: ") and "\n" not in failed["message"]
        assert "tiny-llama: context of 160 tokens is too small" in failed["message"]
        assert failed["message"].endswith("; the first draft is kept")
        review = client.request("GET", f"/api/visits/{visit}/review")
        assert review["note"] == final["note"] and review["drafting"] is None
        signed = client.request("POST", f"/api/visits/{visit}/sign", {"text": final["text"]})
        assert signed["state"] == "signed" and signed["left_out"] == 0
        client.request("DELETE", f"/api/visits/{visit}")
