"""FHIR export against a real FHIR server: Medplum's engine (tests/fhir_server), started
on a free port, validating every resource it receives."""

from __future__ import annotations

import base64
import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from scribe.fhir.document_reference import FhirValidationError, build_document_reference
from scribe.fhir.client import ClinicalContext, FhirClient, FhirServerError, IdentityError, build_transaction
from tests.conftest import REPO
from tests.test_writers import MODELS, make_note, markdown

SERVER_DIR = REPO / "tests" / "fhir_server"
NODE = SERVER_DIR / "node_modules" / ".bin" / "node"
TOKEN = "test-fhir-token-0123456789"
CONTEXT = ClinicalContext(
    patient="Patient/p1", practitioner="Practitioner/dr-patel", encounter="Encounter/e1",
    organization="Organization/clinic", period_start="2025-03-04T09:00:00Z", period_end="2025-03-04T09:20:00Z",
)
NOTE_ID = "6f0c2b4e-1d7a-4c55-9a2e-3b8f0d6e7a10"


@pytest.fixture(scope="module")
def server():
    if not NODE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{NODE} missing: `make test` installs the test FHIR server's npm packages")
        pytest.skip("test FHIR server not installed (make test installs it)")
    proc = subprocess.Popen([str(NODE), "server.mjs"], cwd=SERVER_DIR, env={**os.environ, "FHIR_TOKEN": TOKEN},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout.fileno(), selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + 60
    while b"\n" not in seen and time.monotonic() < deadline and sel.select(deadline - time.monotonic()):
        chunk = os.read(proc.stdout.fileno(), 256)
        if not chunk:
            break
        seen += chunk
    if not seen.startswith(b"listening "):
        proc.kill()
        pytest.fail(f"FHIR server did not start: {seen!r} {proc.stderr.read()!r}")
    yield f"http://127.0.0.1:{int(seen.split()[1])}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def client(server) -> FhirClient:
    return FhirClient(server, TOKEN, timeout=5, retries=3, backoff=0.05)


def _doc(status: str = "preliminary", text: str | None = None, note_id: str = NOTE_ID) -> dict:
    note = replace(make_note(), status=status)
    body = text or markdown(note)
    return build_document_reference(note, body, models=MODELS, created=datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc),
                                    identifier=note_id, plain_text=text)


def _versions(client: FhirClient, note_id: str = NOTE_ID) -> list[dict]:
    found = client.request("GET", f"DocumentReference?identifier=urn:ietf:rfc:3986|urn:uuid:{note_id}")
    return [e["resource"] for e in found.get("entry", [])]


def test_round_trip(client):
    doc = _doc(note_id="0d5e3c0a-7a77-4c1f-a3c1-1d2e3f405060")
    response = client.send(doc, CONTEXT)
    assert response["type"] == "transaction-response"
    [stored] = _versions(client, "0d5e3c0a-7a77-4c1f-a3c1-1d2e3f405060")
    assert stored["docStatus"] == "preliminary" and stored["status"] == "current"
    assert stored["subject"] == {"reference": "Patient/p1"}
    assert stored["context"]["encounter"] == [{"reference": "Encounter/e1"}]
    assert stored["context"]["period"] == {"start": "2025-03-04T09:00:00Z", "end": "2025-03-04T09:20:00Z"}
    assert stored["custodian"] == {"reference": "Organization/clinic"}
    assert stored["author"][0] == {"reference": "Practitioner/dr-patel"}
    assert stored["author"][1]["reference"].startswith("Device/scribe-")
    assert "authenticator" not in stored  # not signed
    assert stored["meta"]["security"][0]["code"] == "AIAST"
    assert [c["attachment"]["data"] for c in stored["content"]] == [c["attachment"]["data"] for c in doc["content"]]
    assert stored["type"]["coding"][0]["code"] == "11506-3"
    assert stored["masterIdentifier"] == doc["masterIdentifier"] and stored["identifier"] == doc["identifier"]
    device = client.request("GET", stored["author"][1]["reference"])
    assert {"tiny.en", "Scribe"} <= {n["name"] for n in device["deviceName"]}
    provenance = client.request("GET", f"Provenance?target=DocumentReference/{stored['id']}")["entry"]
    assert len(provenance) == 1
    agents = [a["type"]["coding"][0]["code"] for a in provenance[0]["resource"]["agent"]]
    assert agents == ["author"]


def test_instructions_filed_beside_the_note(client):
    """The patient instructions as their own DocumentReference (LOINC 69730-0), posted
    after the note and read back: type, the note they go with (context.related, kept
    beside the encounter), their own Provenance."""
    from scribe.fhir.document_reference import build_instructions_reference
    from scribe.notes.render import render_instructions_markdown
    from tests.test_writers import make_transcript, note_with_extras

    note = note_with_extras()
    created = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
    doc = build_document_reference(note, markdown(note), models=MODELS, created=created,
                                   identifier="b4c5d6e7-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
    body = render_instructions_markdown(note, make_transcript(), uri="visit1")
    instructions = build_instructions_reference(note, body, note_document=doc, models=MODELS, created=created)
    client.send(doc, CONTEXT)
    client.send(instructions, CONTEXT)
    [stored] = _versions(client, instructions["identifier"][0]["value"].removeprefix("urn:uuid:"))
    assert stored["type"]["coding"][0] == {"system": "http://loinc.org", "code": "69730-0", "display": "Instructions"}
    assert stored["docStatus"] == "preliminary" and stored["subject"] == {"reference": "Patient/p1"}
    assert stored["context"]["encounter"] == [{"reference": "Encounter/e1"}]
    assert stored["context"]["related"] == [
        {"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:b4c5d6e7-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
         "display": "Visit note"}
    ]
    assert base64.b64decode(stored["content"][1]["attachment"]["data"]).decode() == body
    [note_stored] = _versions(client, "b4c5d6e7-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
    assert note_stored["type"]["coding"][0]["code"] == "11506-3"
    provenance = client.request("GET", f"Provenance?target=DocumentReference/{stored['id']}")["entry"]
    assert len(provenance) == 1


def test_replay_files_nothing_twice(client):
    note_id = "1a2b3c4d-0000-4000-8000-00000000beef"
    doc = _doc(note_id=note_id)
    client.send(doc, CONTEXT)
    client.send(doc, CONTEXT)
    # A retry of the very same transaction (the answer to the first was lost).
    bundle = build_transaction(doc, CONTEXT)
    client.request("POST", "", bundle)
    [stored] = _versions(client, note_id)
    assert len(client.request("GET", f"Provenance?target=DocumentReference/{stored['id']}").get("entry", [])) == 1


def test_signed_then_amended_replaces(client):
    note_id = "2b3c4d5e-1111-4111-8111-111111111111"
    draft = _doc("preliminary", note_id=note_id)
    client.send(draft, CONTEXT)
    signed = _doc("final", "## Subjective\n\n- Cough for a week.\n", note_id=note_id)
    client.send(signed, CONTEXT)
    amended = _doc("final", "## Subjective\n\n- Cough for a week, worse at night.\n", note_id=note_id)
    client.send(amended, CONTEXT)
    versions = {v["masterIdentifier"]["value"]: v for v in _versions(client, note_id)}
    assert len(versions) == 3
    old_draft = versions[draft["masterIdentifier"]["value"]]
    old_signed = versions[signed["masterIdentifier"]["value"]]
    current = versions[amended["masterIdentifier"]["value"]]
    assert old_draft["status"] == "superseded" and old_signed["status"] == "superseded"
    assert old_signed["docStatus"] == "final" and old_signed["authenticator"] == {"reference": "Practitioner/dr-patel"}
    assert old_signed["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old_draft['id']}"}}]
    assert current["status"] == "current" and current["docStatus"] == "amended"
    assert current["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old_signed['id']}"}}]
    text = base64.b64decode(current["content"][0]["attachment"]["data"]).decode()
    assert "worse at night" in text
    provenance = client.request("GET", f"Provenance?target=DocumentReference/{current['id']}")["entry"][0]["resource"]
    assert [a["type"]["coding"][0]["code"] for a in provenance["agent"]] == ["author", "verifier"]
    assert provenance["agent"][1]["who"] == {"reference": "Practitioner/dr-patel"}


def _count(client) -> int:
    return client.request("GET", "DocumentReference?_summary=count").get("total", 0)


def test_invalid_notes_never_leave(client):
    before = _count(client)
    bad = _doc(note_id="3c4d5e6f-2222-4222-8222-222222222222")
    bad["docStatus"] = "draft"  # not in the required binding; the R4B model lets it pass
    with pytest.raises(FhirValidationError, match=r"Bundle.entry\[1\].resource: DocumentReference.docStatus 'draft'"):
        client.send(bad, CONTEXT)
    with pytest.raises(IdentityError, match="missing patient, encounter"):
        client.send(_doc(), replace(CONTEXT, patient=None, encounter=None))
    with pytest.raises(IdentityError, match="is not a Patient reference"):
        client.send(_doc(), replace(CONTEXT, patient="Practitioner/x"))
    assert _count(client) == before


def test_server_refusal_is_one_readable_line(client):
    bundle = build_transaction(_doc(note_id="4d5e6f70-3333-4333-8333-333333333333"), CONTEXT)
    bundle["entry"][1]["resource"]["colour"] = "blue"  # forced past our checks
    with pytest.raises(FhirServerError) as e:
        client.request("POST", "", bundle)
    assert e.value.status == 400
    message = str(e.value)
    assert "\n" not in message and "refused the request (400)" in message and "colour" in message


def test_retries_on_5xx_and_timeouts(server, client):
    def arm(**params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        FhirClient(server).request("POST", f"$fail-next?{query}")

    arm(count=2, status=503)
    client.send(_doc(note_id="5e6f7081-4444-4444-8444-444444444444"), CONTEXT)  # third attempt lands
    arm(count=1, status=200, delay=7000)  # longer than the client's 5 s timeout
    client.send(_doc(note_id="6f708192-5555-4555-8555-555555555555"), CONTEXT)
    assert _versions(client, "6f708192-5555-4555-8555-555555555555")
    arm(count=20, status=502)
    with pytest.raises(FhirServerError, match="kept failing after 4 attempts"):
        client.send(_doc(note_id="708192a3-6666-4666-8666-666666666666"), CONTEXT)
    FhirClient(server).request("POST", "$fail-next?count=0")


def test_wrong_token_is_refused(server):
    with pytest.raises(FhirServerError) as e:
        FhirClient(server, "wrong", retries=0).send(_doc(), CONTEXT)
    assert e.value.status == 401


def _scribe(*args, env=None):
    return subprocess.run([sys.executable, "-m", "scribe.cli", "export", *args], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)


def test_export_command(server, client, tmp_path):
    from scribe.fhir.document_reference import build_instructions_reference
    from tests.test_writers import note_with_extras

    note = tmp_path / "visit.fhir.json"
    doc = _doc(note_id="8192a3b4-7777-4777-8777-777777777777")
    note.write_text(json.dumps(doc))
    # The patient instructions beside the note are sent after it.
    instructions = build_instructions_reference(note_with_extras(), "## Your instructions\n\n- Rest.\n", note_document=doc,
                                                models=MODELS, created=datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc))
    (tmp_path / "visit.instructions.fhir.json").write_text(json.dumps(instructions))
    ids = ["--patient", "Patient/p1", "--practitioner", "Practitioner/dr-patel", "--encounter", "Encounter/e1",
           "--organization", "Organization/clinic"]
    env = {"SCRIBE_FHIR_TOKEN": TOKEN}
    first = _scribe(str(note), "--fhir-server", server, *ids, env=env)
    assert first.returncode == 0, first.stderr
    filed = first.stdout.splitlines()
    assert len(filed) == 2 and all("filed on" in line and "DocumentReference/" in line for line in filed)
    assert filed[1].startswith(f"{tmp_path / 'visit.instructions.fhir.json'}: filed on")
    location = filed[1].split(" as ")[-1]
    assert client.request("GET", location)["type"]["coding"][0]["code"] == "69730-0"
    again = _scribe(str(note), "--fhir-server", server, *ids, env=env)
    assert again.returncode == 0 and again.stdout.count("already there") == 2
    # No server: the transactions are written next to the note.
    offline = _scribe(str(note), *ids)
    assert offline.returncode == 0, offline.stderr
    bundle = json.loads((tmp_path / "visit.transaction.json").read_text())
    assert bundle["type"] == "transaction" and len(bundle["entry"]) == 3
    bundle = json.loads((tmp_path / "visit.instructions.transaction.json").read_text())
    assert bundle["entry"][1]["resource"]["type"]["coding"][0]["code"] == "69730-0"
    only_note = _scribe(str(note), "--fhir-server", server, *ids, "--no-instructions", env=env)
    assert only_note.returncode == 0 and len(only_note.stdout.splitlines()) == 1
    # Identity missing: one line, exit 1, nothing sent.
    missing = _scribe(str(note), "--fhir-server", server, "--patient", "Patient/p1", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: {note}: missing practitioner, encounter, organization (give --practitioner --encounter "
        "--organization as Type/id, or set them in the [fhir] table of the config file); nothing was sent"
    ]
    refused = _scribe(str(note), "--fhir-server", server, *ids, env={"SCRIBE_FHIR_TOKEN": "wrong"})
    assert refused.returncode == 6 and len(refused.stderr.strip().splitlines()) == 1
    assert "(401)" in refused.stderr


def test_transcribe_sends_the_draft(server, client, tmp_path):
    ids = ["--patient", "Patient/p2", "--practitioner", "Practitioner/dr-patel", "--encounter", "Encounter/e2",
           "--organization", "Organization/clinic"]
    wav = str(REPO / "samples" / "cough_visit.wav")
    r = subprocess.run([sys.executable, "-m", "scribe.cli", "transcribe", wav, "--out", str(tmp_path), "--fhir-server", server, *ids],
                       cwd=REPO, env={**os.environ, "SCRIBE_FHIR_TOKEN": TOKEN}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "filed on" in r.stdout
    found = [e["resource"] for e in client.request("GET", "DocumentReference?subject=Patient/p2")["entry"]]
    # The note, and its patient instructions when the drafter wrote any (NAME.instructions.fhir.json).
    instructions = (tmp_path / "cough_visit.instructions.fhir.json").exists()
    assert sorted(d["type"]["coding"][0]["code"] for d in found) == ["11506-3", "69730-0"][: 1 + instructions]
    assert all(d["docStatus"] == "preliminary" for d in found)
    assert r.stdout.count("filed on") == 1 + instructions
    # Missing identity is found before any processing.
    r = subprocess.run([sys.executable, "-m", "scribe.cli", "transcribe", wav, "--out", str(tmp_path / "x"), "--fhir-server", server],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.startswith("error: --fhir-server: missing patient, practitioner, encounter, organization")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_document_bundle(client):
    note_id = "92a3b4c5-8888-4888-8888-888888888888"
    text = "## Subjective\n\n- Cough for a week <worse> at night & no fever.\n\n## Plan\n\n- Fluids and rest.\n"
    doc = _doc("final", text, note_id=note_id)
    client.send(doc, CONTEXT, document=True)
    client.send(doc, CONTEXT, document=True)  # replayed: still one document
    found = client.request("GET", "Bundle?type=document")["entry"]
    mine = [e["resource"] for e in found if e["resource"]["entry"][0]["resource"]["identifier"]["value"] == doc["masterIdentifier"]["value"]]
    assert len(mine) == 1
    bundle = mine[0]
    assert bundle["identifier"]["value"].startswith("urn:uuid:") and bundle["timestamp"]
    assert all(e["fullUrl"] for e in bundle["entry"])
    comp = bundle["entry"][0]["resource"]
    assert comp["resourceType"] == "Composition" and comp["status"] == "final"
    assert comp["attester"][0]["mode"] == "legal" and comp["attester"][0]["party"] == {"reference": "Practitioner/dr-patel"}
    assert [(s["title"], s["code"]["coding"][0]["code"]) for s in comp["section"]] == [("Subjective", "10164-2"), ("Plan", "18776-5")]
    div = comp["section"][0]["text"]["div"]
    assert div == ('<div xmlns="http://www.w3.org/1999/xhtml"><ul><li>Cough for a week &lt;worse&gt; at night '
                   '&amp; no fever.</li></ul></div>')
    assert comp["subject"] == {"reference": "Patient/p1"} and comp["encounter"] == {"reference": "Encounter/e1"}


def test_document_rules_are_checked():
    from scribe.fhir.bundle import validate_document_bundle

    bundle = build_transaction(_doc(note_id="a3b4c5d6-9999-4999-8999-999999999999"), CONTEXT, document=True)
    document = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Bundle")
    validate_document_bundle(document)
    for breakage, message in (
        (lambda d: d["entry"].reverse(), "starts with its Composition"),
        (lambda d: d.pop("timestamp"), "Bundle.timestamp"),
        (lambda d: d["entry"][0]["resource"].update(status="draft"), "Composition.status 'draft'"),
        (lambda d: d["entry"][0]["resource"]["section"][0]["text"].update(div="<div>unclosed"), "well-formed"),
    ):
        broken = json.loads(json.dumps(document))
        breakage(broken)
        with pytest.raises(FhirValidationError, match=message):
            validate_document_bundle(broken)


def test_recorder_sends_the_signed_note(server, client, tmp_path):
    """The capture service, configured with the FHIR server: a visit recorded, signed,
    and sent from the recorder's API with the patient and encounter the page names."""
    import asyncio
    import wave

    from tests.service_process import ServiceProcess

    config = tmp_path / "config.toml"
    config.write_text(f'[fhir]\nserver = "{server}"\norganization = "Organization/clinic"\n'
                      'practitioner = "Practitioner/dr-patel"\n')
    env = {"SCRIBE_CONFIG": str(config), "SCRIBE_FHIR_TOKEN": TOKEN, "TMPDIR": str(tmp_path)}
    with wave.open(str(REPO / "samples" / "cough_visit.wav")) as w:
        pcm = w.readframes(16000 * 12)
    with ServiceProcess(env=env) as svc:
        api = svc.client
        health = api.request("GET", "/api/health")
        assert health["fhir_server"] is True and health["practitioner"] == "Practitioner/dr-patel"
        visit = api.request("POST", "/api/visits", {})["visit"]

        async def record():
            async with api.connect(visit) as ws:
                await ws.recv()
                for i in range(0, len(pcm), 3200):
                    await ws.send(pcm[i : i + 3200])
                await ws.send(json.dumps({"type": "stop"}))
                while (ev := json.loads(await ws.recv()))["type"] != "final":
                    pass
                return ev

        final = asyncio.run(record())
        from scribe.service.client import ServiceError

        with pytest.raises(ServiceError) as e:
            api.request("POST", f"/api/visits/{visit}/send", {"patient": "Patient/p3", "encounter": "Encounter/e3"})
        assert e.value.status == 409  # not signed yet
        api.request("POST", f"/api/visits/{visit}/sign", {"text": final["text"]})
        with pytest.raises(ServiceError) as e:
            api.request("POST", f"/api/visits/{visit}/send", {"patient": "Patient/p3"})
        assert e.value.status == 400 and "missing encounter" in e.value.message
        sent = api.request("POST", f"/api/visits/{visit}/send", {"patient": "Patient/p3", "encounter": "Encounter/e3"})
        assert sent["location"].startswith("DocumentReference/")
    stored = client.request("GET", sent["location"])
    assert stored["docStatus"] == "final" and stored["subject"] == {"reference": "Patient/p3"}
    assert stored["authenticator"] == {"reference": "Practitioner/dr-patel"}
    assert stored["custodian"] == {"reference": "Organization/clinic"}
    period = stored["context"]["period"]  # when the recorder saw the visit happen
    assert period["start"] <= period["end"]
