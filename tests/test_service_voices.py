"""`/api/voices` on `scribe serve` as a process: enrolling from the recorder's PCM16,
listing and deleting, the refusals (one line each), the access guard, and a streamed
visit whose clinician is found by the enrolled voice although the words say otherwise."""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from scribe.speakers.enrolled import ENROLLMENT_TEXT
from tests.enrollment_audio import role_time, speak, swapped_visit, two_voices
from tests.service_process import ServiceProcess
from tests.test_service import _stream

NAME = "Dr Ada Zyxwvut"
# Live lines inside clinician turns sent with the clinician's role: measured 3 of 3 with
# the voice, 0 of 3 without it (the visit opened with "clinician": [], words alone).
LIVE_RIGHT = 1.0


def _pcm16(path_or_audio) -> bytes:
    from scribe.audio.decode import decode_audio

    a = decode_audio(path_or_audio) if isinstance(path_or_audio, Path) else path_or_audio
    return (np.clip(a, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("voices")
    (tmp / "tmp").mkdir()
    env = {"TMPDIR": str(tmp / "tmp"), "SCRIBE_DATA_DIR": str(tmp / "data")}
    with ServiceProcess(env=env, verbose=True) as svc:
        svc.tmp = tmp
        yield svc


def _post_voice(service, body: bytes, name: str | None = NAME, token: bool = True, headers=None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=300)
    h = {"Content-Type": "application/octet-stream", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {service.client.token}"
    if name is not None:
        h["X-Clinician-Name"] = quote(name)
    conn.request("POST", "/api/voices", body=body, headers=h)
    r = conn.getresponse()
    data = json.loads(r.read() or b"{}")
    conn.close()
    return r.status, data


def test_enroll_list_delete_and_the_refusals(service, tmp_path):
    client = service.client
    one = _pcm16(speak(ENROLLMENT_TEXT, "rms", tmp_path / "rms.wav"))
    # The access guard: no token, another origin.
    assert _post_voice(service, one, token=False)[0] == 401
    assert _post_voice(service, one, headers={"Origin": "http://evil.example"})[0] == 403
    # Refusals: one line each, nothing kept.
    status, data = _post_voice(service, one[: 5 * 32000])
    assert status == 422 and data["error"].startswith("too little speech to enroll")
    status, data = _post_voice(service, _pcm16(two_voices(tmp_path, ENROLLMENT_TEXT)))
    assert status == 422 and data["error"] == "more than one voice in the recording; enroll with one speaker only"
    assert _post_voice(service, one, name=None)[0] == 400
    assert _post_voice(service, one + one + one + one)[0] == 413  # over 1 MiB: refused unread
    assert client.request("GET", "/api/voices")["voices"] == []

    status, voice = _post_voice(service, one)
    assert status == 201 and voice["name"] == NAME and voice["id"].startswith("voice-")
    listing = client.request("GET", "/api/voices")
    assert listing["voices"] == [voice] and listing["text"] == ENROLLMENT_TEXT
    folder = service.tmp / "data" / "voices"
    [stored] = folder.iterdir()
    assert stored.name == f"{voice['id']}.voice" and b"Zyxwvut" not in stored.read_bytes()

    # A visit asking for a voice that is not enrolled is refused; one asking for none opens.
    from scribe.service.client import ServiceError

    with pytest.raises(ServiceError) as e:
        client.request("POST", "/api/visits", {"clinician": ["voice-00000000"]})
    assert e.value.status == 400 and "no such enrolled voice" in e.value.message
    visit = client.request("POST", "/api/visits", {"clinician": []})["visit"]
    client.request("DELETE", f"/api/visits/{visit}")

    with pytest.raises(ServiceError) as e:
        client.request("DELETE", "/api/voices/voice-00000000")
    assert e.value.status == 404 and e.value.message == "voice-00000000: no such enrolled voice (see scribe enroll --list)"
    with pytest.raises(ServiceError) as e:
        client.request("DELETE", "/api/voices/..%2Fsite.key")
    assert e.value.status in (400, 404)
    assert client.request("DELETE", f"/api/voices/{voice['id']}") == {"deleted": voice["id"]}
    assert list(folder.iterdir()) == []
    assert client.request("GET", "/api/voices")["voices"] == []
    log = (service.tmp / "data" / "audit.jsonl").read_text()
    assert [json.loads(x)["event"] for x in log.splitlines() if "voice_" in x] == ["voice_enrolled", "voice_deleted"]
    assert "Zyxwvut" not in log and "Zyxwvut" not in "".join(service._err)


def test_a_streamed_visit_finds_the_clinician_by_voice(service, tmp_path):
    """The swapped visit (tests/test_enrollment.py) streamed after enrolling the samples'
    clinician voice: the final transcript gives the clinician's time to the clinician, and
    the live lines' roles use the voice; with the patient's voice enrolled instead, her
    lines are the clinician's (the voice decides before the words)."""
    client = service.client
    status, voice = _post_voice(service, _pcm16(speak(ENROLLMENT_TEXT, "rms", tmp_path / "rms.wav")))
    assert status == 201
    try:
        path, turns = swapped_visit(tmp_path)
        visit = client.request("POST", "/api/visits", {})["visit"]  # default: every enrolled voice
        events = asyncio.run(_stream(client, visit, _pcm16(path)))
        final = events[-1]
        assert final["type"] == "final"
        from scribe.types import Role, Segment, Transcript

        segments = tuple(Segment(s["id"], s["start"], s["end"], s["text"], speaker=s.get("speaker"),
                                 role=Role(s.get("role") or "unknown")) for s in final["transcript"])
        right, wrong = role_time(Transcript(segments, 0.0, "en"), turns, "clinician")
        assert wrong == 0.0 and right >= 0.9
        # Live: the provisional roles use the voice too. Each committed line's role as
        # sent (before any later relabelling), for lines inside reference clinician turns.
        lines = [e for e in events if e["type"] == "line"]
        in_clinician = [e for e in lines if any(s <= (e["start"] + e["end"]) / 2 < t for s, t, r in turns if r == "clinician")]
        live_right = sum(e["role"] == "clinician" for e in in_clinician) / len(in_clinician)
        assert live_right >= LIVE_RIGHT, [e["role"] for e in in_clinician]
        client.request("DELETE", f"/api/visits/{visit}")
        # The voice comes before the words: since issue 14's role cues the words alone get
        # this visit right, so the patient's voice (flite slt) is enrolled as a
        # clinician's and the visit listens for it only: her lines must then be the
        # clinician's, live and final, whatever she says.
        status, patient_voice = _post_voice(service, _pcm16(speak(ENROLLMENT_TEXT, "slt", tmp_path / "slt.wav")))
        assert status == 201
        try:
            visit = client.request("POST", "/api/visits", {"clinician": [patient_voice["id"]]})["visit"]
            events = asyncio.run(_stream(client, visit, _pcm16(path)))
            lines = [e for e in events if e["type"] == "line"]
            in_patient = [e for e in lines if any(s <= (e["start"] + e["end"]) / 2 < t for s, t, r in turns if r == "patient")]
            assert sum(e["role"] == "clinician" for e in in_patient) / len(in_patient) >= LIVE_RIGHT, [e["role"] for e in in_patient]
            final = events[-1]
            assert final["type"] == "final"
            segments = tuple(Segment(s["id"], s["start"], s["end"], s["text"], speaker=s.get("speaker"),
                                     role=Role(s.get("role") or "unknown")) for s in final["transcript"])
            assert role_time(Transcript(segments, 0.0, "en"), turns, "patient")[0] <= 0.1  # her time is not "patient"
            client.request("DELETE", f"/api/visits/{visit}")
        finally:
            client.request("DELETE", f"/api/voices/{patient_voice['id']}")
    finally:
        client.request("DELETE", f"/api/voices/{voice['id']}")


def test_bad_names_are_one_line_400s_without_a_path(service, tmp_path):
    """A badly percent-encoded X-Clinician-Name and a name over 120 characters: 400, one
    line, the data folder never named; nothing kept."""
    one = _pcm16(speak(ENROLLMENT_TEXT, "rms", tmp_path / "rms.wav"))
    status, data = _post_voice(service, one, name=None, headers={"X-Clinician-Name": "Dr%20%FF%FEAda"})
    assert status == 400 and data["error"] == "the x-clinician-name header is not URI-encoded UTF-8"
    status, data = _post_voice(service, one, name="D" * 121)
    assert status == 400
    assert data["error"] == "clinician name: a voiceprint needs a name of 1 to 120 characters (got 121)"
    assert str(service.tmp) not in json.dumps(data)
    folder = service.tmp / "data" / "voices"
    assert not folder.exists() or [p for p in folder.iterdir() if p.suffix == ".voice"] == []


def test_an_unreadable_voiceprint_blocks_no_visit(service, tmp_path):
    """A corrupt voiceprint on disk: the list and the default visit skip it, a visit
    naming it is a 400 naming its id (not the data folder), and it can be deleted."""
    from scribe.service.client import ServiceError

    client = service.client
    status, voice = _post_voice(service, _pcm16(speak(ENROLLMENT_TEXT, "rms", tmp_path / "rms.wav")))
    assert status == 201
    stored = service.tmp / "data" / "voices" / f"{voice['id']}.voice"
    blob = bytearray(stored.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    stored.write_bytes(bytes(blob))

    assert client.request("GET", "/api/voices")["voices"] == []
    visit = client.request("POST", "/api/visits", {})["visit"]  # the default set: opens
    client.request("DELETE", f"/api/visits/{visit}")
    with pytest.raises(ServiceError) as e:
        client.request("POST", "/api/visits", {"clinician": [voice["id"]]})
    assert e.value.status == 400
    assert e.value.message == f"clinician: {voice['id']}: voiceprint failed authentication (corrupt, or another site key)"
    assert client.request("DELETE", f"/api/voices/{voice['id']}") == {"deleted": voice["id"]}
    assert not stored.exists()
    assert "Zyxwvut" not in "".join(service._err)
