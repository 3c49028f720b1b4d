"""The recorder page in a real headless Chromium (Debian's), its microphone a fake device
playing a sample visit: record, stop, review the evidence (note, patient instructions,
omissions), edit, sign, export and send both documents to a real FHIR server."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from scribe.fhir.document_reference import validate_document_reference
from scribe.service.client import ServiceClient
from tests.conftest import REPO, SAMPLES
from tests.service_process import ServiceProcess, foreground_signals
from tests.test_fhir_export import TOKEN, server  # noqa: F401  (the FHIR server fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"
# The first six exchanges of cough_visit (history), then its last 27 s from 0:52.5 (the
# assessment, the advice and the safety net), so the visit has a plan to draft patient
# instructions from, in under a minute.
CLIPS = ((0.0, 26.0), (52.5, 79.5))
CLIP_SECONDS = int(sum(b - a for a, b in CLIPS))


def fake_mic(path: Path, clips=CLIPS) -> Path:
    """``clips`` of cough_visit (seconds), then silence, as a WAV for Chromium's fake
    microphone: Chromium loops the file unless told %noloop, and after the clips the
    microphone must go quiet, not repeat the visit."""
    with wave.open(str(SAMPLES / "cough_visit.wav")) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    pieces = [audio[int(a * 16000) : int(b * 16000)] for a, b in clips]
    pcm = np.concatenate([np.zeros(8000, dtype="<i2"), *pieces, np.zeros(16000 * 30, dtype="<i2")])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return path


def chromium_with_mic(wav: Path):
    """A headless Chromium (Debian's) whose microphone plays ``wav`` once; skipped where
    there is none (failed under CI, whose .ci/run installs it). Yields the browser."""
    if CHROMIUM is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}%noloop",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium_with_mic(fake_mic(tmp_path_factory.mktemp("browser") / "visit.wav"))


class HandmadeService(ServiceProcess):
    """`scribe serve` whose notes carry hand-made patient instructions and omissions
    (``tests.handmade_drafter``): the panels are tested whatever the real drafter gives."""

    def __enter__(self) -> "HandmadeService":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.handmade_drafter", "serve", *self.args, "--drafter", "handmade"],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=foreground_signals,
        )
        self.client = ServiceClient.from_url(self._wait_for_url())
        assert self.client.request("GET", "/api/health")["status"] == "ok"
        return self


def _service_env(fhir_base: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(f'[fhir]\nserver = "{fhir_base}"\norganization = "Organization/clinic"\n')
    return {"TMPDIR": str(tmp_path), "SCRIBE_CONFIG": str(config), "SCRIBE_FHIR_TOKEN": TOKEN}


def _record_and_stop(page) -> list[str]:
    """Start with the shortcut, let the clip play out, stop; the lines seen live."""
    page.keyboard.press("Alt+KeyS")  # the start shortcut
    page.wait_for_selector("body[data-state='recording']")
    # Lines arrive while the clip plays; stop once it has been heard out.
    page.wait_for_function(
        "document.querySelectorAll('#transcript li').length >= 5 && "
        f"parseInt(document.getElementById('clock').textContent.split(':')[1]) + "
        f"60 * parseInt(document.getElementById('clock').textContent) >= {CLIP_SECONDS + 3}",
        timeout=120_000,
    )
    live_lines = page.locator("#transcript li .text").all_inner_texts()
    page.click("#stop")
    page.wait_for_selector("body[data-state='review']", timeout=60_000)
    return live_lines


def _lit_lines(page) -> set[str]:
    evidence = page.locator("#transcript li.evidence")
    return {evidence.nth(i).get_attribute("id") for i in range(evidence.count())}


def _check_evidence_click(page, element) -> None:
    """A click on ``element`` (a sentence or an evidence link) lights up exactly the
    transcript lines it cites."""
    element.click()
    cited = set(element.get_attribute("data-evidence").split())
    assert cited and _lit_lines(page) == {f"line-{i}" for i in cited}


def _check_review_panels(page) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The instructions panel and the omissions panel after stop: every instruction and
    every omission's evidence link lights up the transcript lines it cites. Returns the
    instruction sentences and the omissions as (kind, words, evidence)."""
    instructions = page.locator("#instructions-draft p:not(.empty)")
    assert instructions.count() >= 1, page.inner_text("#instructions-draft")
    for i in range(instructions.count()):
        _check_evidence_click(page, instructions.nth(i))
    assert page.input_value("#instructions-editor").startswith("## Your instructions\n")
    items = page.locator("#omissions li.omission")
    assert items.count() >= 1, page.inner_text("#omissions")
    omissions = []
    for i in range(items.count()):
        item = items.nth(i)
        kind, words = item.locator(".kind").inner_text(), item.locator(".words").inner_text()
        assert kind.lower() in {"symptom", "medication", "allergy", "number", "follow-up"} and words.strip()
        links = item.locator(".evidence-link")
        assert links.count() >= 1
        for j in range(links.count()):
            _check_evidence_click(page, links.nth(j))
        omissions.append((kind.lower(), words, links.first.get_attribute("data-evidence")))
    assert page.inner_text("#omissions-count") == f"{items.count()} to check"
    return instructions.all_inner_texts(), omissions


def _sign_export_and_send(page, patient: str) -> tuple[str, str, list[dict], str, str]:
    """Edit the note and the instructions, sign both, export both, send both. Returns the
    signed note and instructions texts, the downloaded documents (note first) and where
    the EHR filed the note and the instructions."""
    page.click("#tab-edit")
    page.locator("#editor").press("Control+End")
    page.keyboard.type("\nReviewed and agreed with the patient.")
    signed_text = page.input_value("#editor")
    page.click("#itab-edit")
    page.locator("#instructions-editor").press("Control+End")
    page.keyboard.type("\n- Call us if you are not better in a week.")
    signed_instructions = page.input_value("#instructions-editor")
    # A section left empty is asked about before signing (tests/test_recorder_review.py): yes.
    page.once("dialog", lambda d: d.accept())
    page.keyboard.press("Control+Enter")  # the sign shortcut, from the instructions editor
    page.wait_for_selector("body[data-state='signed']")
    assert page.inner_text("#message").startswith("Note and patient instructions signed.")
    assert "destroyed" in page.inner_text("#message")
    assert "destroyed" in page.inner_text("#transcript")  # privacy mode: gone from the page too
    assert "destroyed" in page.inner_text("#omissions")  # they quoted the transcript
    assert page.locator("#omissions li.omission").count() == 0
    assert page.get_attribute("#instructions-editor", "readonly") is not None

    downloads = []
    page.on("download", lambda d: downloads.append(d))
    page.click("#export")  # one click: the note, then the instructions
    page.wait_for_function("document.body.dataset.state === 'done'")
    page.wait_for_timeout(500)
    assert [d.suggested_filename.split("-")[0] for d in downloads] == ["note", "instructions"]
    docs = [json.loads(Path(d.path()).read_text()) for d in downloads]

    # Send to the EHR, for the patient and encounter typed on the page: both documents.
    page.fill("#patient", patient)
    page.fill("#encounter", "Encounter/e-browser")
    page.fill("#practitioner", "Practitioner/dr-patel")
    page.click("#send")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Sent to the EHR')")
    message = page.inner_text("#message")
    where = re.fullmatch(r"Sent to the EHR as (DocumentReference/\S+); patient instructions as (DocumentReference/\S+)\.", message)
    assert where, message
    return signed_text, signed_instructions, docs, where[1], where[2]


def _check_filed(fhir_base: str, docs: list[dict], note_at: str, instructions_at: str, patient: str,
                 signed_text: str, signed_instructions: str) -> None:
    """Both documents as downloaded and as the EHR holds them: the note under its
    template's LOINC type, the instructions under 69730-0, both final, for the patient,
    each with its signed text."""
    from scribe.fhir.client import FhirClient

    note, instructions = docs
    for doc in docs:
        validate_document_reference(doc)
        assert doc["docStatus"] == "final"
    assert note["type"]["coding"][0]["code"] == "11506-3"  # the SOAP template's progress note
    assert instructions["type"]["coding"][0]["code"] == "69730-0"
    assert note["identifier"] != instructions["identifier"]
    fhir = FhirClient(fhir_base, TOKEN)
    for doc, location, text in ((note, note_at, signed_text), (instructions, instructions_at, signed_instructions)):
        filed = fhir.request("GET", location)
        assert filed["subject"] == {"reference": patient} and filed["docStatus"] == "final"
        assert filed["type"]["coding"][0]["code"] == doc["type"]["coding"][0]["code"]
        assert filed["masterIdentifier"] == doc["masterIdentifier"]
        assert filed["context"]["period"]["start"] < filed["context"]["period"]["end"]
        assert filed["context"]["encounter"] == [{"reference": "Encounter/e-browser"}]
        plain = base64.b64decode(filed["content"][0]["attachment"]["data"]).decode()
        assert plain == text.strip() + "\n"
    related = fhir.request("GET", instructions_at)["context"]["related"][0]["identifier"]
    assert related == note["identifier"][0]  # the EHR can tell which note they go with
    assert "Reviewed and agreed with the patient." in signed_text
    assert "Call us if you are not better in a week." in signed_instructions


def test_record_review_sign_and_export_in_the_browser(browser, server, tmp_path):  # noqa: F811
    """The real drafter and omission check, end to end. The instructions and omissions
    panels must each show at least one entry for this clip."""
    with ServiceProcess(env=_service_env(server, tmp_path)) as svc:
        url = f"{svc.client.base}/?token={svc.client.token}"
        # bypass_csp: the page's CSP forbids eval, which Playwright's wait_for_function
        # needs; the page itself runs under it in test_page_runs_under_a_strict_csp.
        context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        # The token leaves the address bar at once.
        assert "token" not in page.url
        page.wait_for_selector("#privacy.badge.privacy")
        assert "nothing of the visit is kept" in page.inner_text("#privacy")

        live_lines = _record_and_stop(page)
        lines = page.locator("#transcript li .text").all_inner_texts()
        text = " ".join(lines).lower()
        for phrase in ("what brings you in today", "cough for about a week", "yellow mucus", "fever"):
            assert phrase in text, text
        assert " ".join(live_lines).replace(" ", "") in " ".join(lines).replace(" ", "")
        roles = page.locator("#transcript li .role").all_inner_texts()
        assert roles[0] == "clinician" and "patient" in roles

        # Every drafted sentence lights up the lines it came from.
        sentences = page.locator("#draft p:not(.empty)")
        assert sentences.count() >= 2
        _check_evidence_click(page, sentences.first)
        _check_review_panels(page)

        # The Swap control swaps clinician and patient; a second click swaps back.
        page.click("#swap")
        page.wait_for_function("document.querySelector('#transcript li .role').textContent === 'patient'")
        page.click("#swap")
        page.wait_for_function("document.querySelector('#transcript li .role').textContent === 'clinician'")

        sentences.first.click()  # evidence lit up in the screenshot
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "recorder-review.png"), full_page=True)

        signed = _sign_export_and_send(page, "Patient/p-browser")
        page.screenshot(path=str(ARTIFACTS / "recorder-signed.png"), full_page=True)
        context.close()
    signed_text, signed_instructions, docs, note_at, instructions_at = signed
    _check_filed(server, docs, note_at, instructions_at, "Patient/p-browser", signed_text, signed_instructions)
    assert errors == []


def test_instructions_and_omissions_panels(browser, server, tmp_path):  # noqa: F811
    """The panels with instructions and omissions made by hand (tests.handmade_drafter),
    whatever the real drafter gives: what they show, where their evidence points, and
    that sign and export carry the edited instructions as their own document."""
    with HandmadeService(env=_service_env(server, tmp_path)) as svc:
        context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{svc.client.base}/?token={svc.client.token}")
        page.wait_for_selector("#privacy.badge.privacy")
        _record_and_stop(page)

        clinician = [
            page.locator("#transcript li").nth(i)
            for i in range(page.locator("#transcript li").count())
            if page.locator("#transcript li .role").nth(i).inner_text() == "clinician"
        ]
        instructions, omissions = _check_review_panels(page)
        # The clinician's last two lines, restated one sentence each, each citing its line.
        assert instructions == [li.locator(".text").inner_text().strip() for li in clinician[-2:]]
        cited = [page.locator("#instructions-draft p").nth(i).get_attribute("data-evidence") for i in range(2)]
        assert [f"line-{c}" for c in cited] == [li.get_attribute("id") for li in clinician[-2:]]
        assert page.input_value("#instructions-editor") == (
            "## Your instructions\n\n" + "".join(f"- {' '.join(t.split())}\n" for t in instructions)
        )
        # The omissions as made, in order; each link reads the line's start time.
        assert [(k, w) for k, w, _ in omissions] == [("symptom", "fever"), ("symptom", "mucus"), ("number", "week")]
        for kind, word, line in omissions:
            assert word in page.inner_text(f"#line-{line} .text").lower()
        link = page.locator("#omissions .evidence-link").first
        assert re.fullmatch(r"\d+:\d\d", link.inner_text())
        _check_evidence_click(page, link)
        assert page.locator("#omissions .evidence-link.selected").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "recorder-instructions.png"), full_page=True)

        signed = _sign_export_and_send(page, "Patient/p-handmade")
        context.close()
    signed_text, signed_instructions, docs, note_at, instructions_at = signed
    _check_filed(server, docs, note_at, instructions_at, "Patient/p-handmade", signed_text, signed_instructions)
    assert signed_instructions.startswith("## Your instructions\n\n- ")
    assert errors == []


def test_page_runs_under_a_strict_csp(browser, tmp_path):
    """Without bypass: the inlined script runs under the nonce CSP and nothing on the
    page breaks it (no inline handlers, no eval, no outside resources)."""
    with ServiceProcess(env={"TMPDIR": str(tmp_path)}) as svc:
        context = browser.new_context()
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        response = page.goto(f"{svc.client.base}/?token={svc.client.token}")
        csp = response.headers["content-security-policy"]
        assert "script-src 'nonce-" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
        page.wait_for_selector("#privacy.badge.privacy")
        assert page.locator("#template option").all_inner_texts() == ["CONSULT", "HP", "SOAP"]
        assert page.is_enabled("#start") and not page.is_enabled("#sign")
        context.close()
    assert violations == []


def test_a_reloaded_page_picks_the_visit_up_again(browser, tmp_path):
    """A clinician reloads the tab mid-visit, then again during review: nothing is lost."""
    with ServiceProcess(env={"TMPDIR": str(tmp_path)}) as svc:
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())  # "leave the page?" and "discard?": yes
        page.goto(f"{svc.client.base}/?token={svc.client.token}")
        page.wait_for_selector("#privacy.badge.privacy")
        page.click("#start")
        page.wait_for_function("document.querySelectorAll('#transcript li').length >= 1", timeout=60_000)
        first = page.locator("#transcript li .text").first.inner_text()
        page.reload()  # the token survives in the tab's session storage
        try:
            page.wait_for_selector("body[data-state='recording']", timeout=15_000)
        except Exception:
            raise AssertionError(f"{page.get_attribute('body', 'data-state')}: {page.inner_text('#message')}") from None
        assert "interrupted" in page.inner_text("#message")
        assert page.locator("#transcript li .text").first.inner_text() == first  # lines so far, back
        page.wait_for_function("document.querySelectorAll('#transcript li').length >= 2", timeout=60_000)
        page.click("#stop")
        page.wait_for_selector("body[data-state='review']", timeout=60_000)
        lines = page.locator("#transcript li .text").all_inner_texts()
        page.reload()
        page.wait_for_selector("body[data-state='review']")
        assert page.locator("#transcript li .text").all_inner_texts() == lines
        assert page.locator("#draft p").count() >= 1
        page.click("#discard")
        page.wait_for_selector("body[data-state='idle']")
        assert "nothing of it will be kept" in page.inner_text("#message").lower() or "discarded" in page.inner_text("#message").lower()
        context.close()
        assert svc.client.request("GET", "/api/visits")["visits"] == []
