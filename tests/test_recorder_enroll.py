"""The recorder page's "Enroll my voice" in a real headless Chromium (Debian's) against
`scribe serve` as a process, its microphone a fake device playing the samples' clinician
voice (flite rms) reading the enrollment text: name, 20 s with a countdown, save; the
voice listed (checked: listened for in the next visit), no axe-core violations, deleted
with nothing left."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from scribe.speakers.enrolled import ENROLLMENT_TEXT
from tests.enrollment_audio import speak
from tests.service_process import ServiceProcess
from tests.test_recorder_browser import chromium_with_mic
from tests.test_recorder_review import _axe

NAME = "Dr Ada Zyxwvut"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enroll-mic")
    voice = speak(ENROLLMENT_TEXT, "rms", folder / "rms.wav")
    # Half a second of quiet, the text, then silence: the fake microphone plays it once.
    pcm = np.concatenate([np.zeros(8000), voice, np.zeros(16000 * 30)])
    path = folder / "mic.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    yield from chromium_with_mic(path)


def test_enroll_my_voice_on_the_recorder_page(browser, tmp_path):
    data = tmp_path / "data"
    with ServiceProcess(env={"TMPDIR": str(tmp_path), "HOME": str(tmp_path), "SCRIBE_DATA_DIR": str(data)}) as svc:
        context = browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        page.goto(f"{svc.client.base}/?token={svc.client.token}")
        page.wait_for_selector("#privacy.badge.privacy")
        page.click("#enroll summary")
        page.wait_for_function("document.getElementById('enroll-text').textContent.length > 0")
        assert page.inner_text("#enroll-text") == ENROLLMENT_TEXT
        assert page.inner_text("#voices") == "None yet: roles come from the words alone."
        assert page.evaluate("listenedVoices()") is None  # a visit start names none: as today

        # No name: said, nothing recorded.
        page.click("#enroll-record")
        assert "Type your name first" in page.inner_text("#enroll-status")
        assert page.evaluate("document.activeElement.id") == "enroll-name"

        page.fill("#enroll-name", NAME)
        page.click("#enroll-record")
        page.wait_for_function("/^\\d+ s$/.test(document.getElementById('enroll-countdown').textContent)")
        assert page.is_disabled("#enroll-record")  # one recording at a time
        page.wait_for_function(
            "/Enrolled|Not enrolled/.test(document.getElementById('enroll-status').textContent)", timeout=120_000
        )
        status = page.inner_text("#enroll-status")
        assert status.startswith(f"Enrolled: {NAME} (voice-"), status
        [voice] = svc.client.request("GET", "/api/voices")["voices"]
        assert voice["name"] == NAME
        page.wait_for_selector(f"#voices li[data-voice='{voice['id']}']")
        item = page.locator(f"#voices li[data-voice='{voice['id']}']")
        assert item.count() == 1 and NAME in item.inner_text()
        assert page.is_checked(f"#listen-{voice['id']}")
        assert page.evaluate("listenedVoices()") == [voice["id"]]
        page.uncheck(f"#listen-{voice['id']}")
        assert page.evaluate("listenedVoices()") == []  # unchecked: the next visit listens for none
        assert _axe(page) == []
        stored = data / "voices" / f"{voice['id']}.voice"
        assert stored.exists() and b"Zyxwvut" not in stored.read_bytes()

        item.locator("button").click()
        page.wait_for_function(
            "/^Deleted/.test(document.getElementById('enroll-status').textContent) && document.activeElement.id === 'enroll-record'"
        )
        assert dialogs == [f"Delete the voice of {NAME}? Nothing of it will be kept."]
        assert svc.client.request("GET", "/api/voices")["voices"] == []
        assert list((data / "voices").iterdir()) == []
        assert page.evaluate("document.activeElement.id") == "enroll-record"
        assert errors == []
        context.close()
