"""The recorder page in a real headless Chromium (Debian's), its microphone a fake device
playing a sample visit: record, stop, review the evidence, edit, sign, export."""

from __future__ import annotations

import base64
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from scribe.fhir.document_reference import validate_document_reference
from tests.conftest import REPO, SAMPLES
from tests.service_process import ServiceProcess
from tests.test_fhir_export import TOKEN, server  # noqa: F401  (the FHIR server fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"
CLIP_SECONDS = 26  # the first six exchanges of cough_visit


def _fake_mic(path: Path) -> Path:
    """The clip, then silence: Chromium loops the file unless told %noloop, and after
    the clip the microphone must go quiet, not repeat the visit."""
    with wave.open(str(SAMPLES / "cough_visit.wav")) as w:
        pcm = np.frombuffer(w.readframes(CLIP_SECONDS * 16000), dtype="<i2")
    pcm = np.concatenate([np.zeros(8000, dtype="<i2"), pcm, np.zeros(16000 * 30, dtype="<i2")])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("browser")
    wav = _fake_mic(tmp / "visit.wav")
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


def test_record_review_sign_and_export_in_the_browser(browser, server, tmp_path):  # noqa: F811
    config = tmp_path / "config.toml"
    config.write_text(f'[fhir]\nserver = "{server}"\norganization = "Organization/clinic"\n')
    env = {"TMPDIR": str(tmp_path), "SCRIBE_CONFIG": str(config), "SCRIBE_FHIR_TOKEN": TOKEN}
    with ServiceProcess(env=env) as svc:
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
        sentences.first.click()
        evidence = page.locator("#transcript li.evidence")
        assert evidence.count() >= 1
        cited = set(sentences.first.get_attribute("data-evidence").split())
        assert {f"line-{i}" for i in cited} == {evidence.nth(i).get_attribute("id") for i in range(evidence.count())}

        # A click on a role label swaps clinician and patient; a second click swaps back.
        page.locator("#transcript li .role").first.click()
        page.wait_for_function("document.querySelector('#transcript li .role').textContent === 'patient'")
        page.locator("#transcript li .role").first.click()
        page.wait_for_function("document.querySelector('#transcript li .role').textContent === 'clinician'")

        sentences.first.click()  # evidence lit up in the screenshot
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "recorder-review.png"), full_page=True)

        page.click("#tab-edit")
        page.locator("#editor").press("End")
        page.locator("#editor").press("Control+End")
        page.keyboard.type("\nReviewed and agreed with the patient.")
        signed_text = page.input_value("#editor")
        page.keyboard.press("Control+Enter")  # the sign shortcut
        page.wait_for_selector("body[data-state='signed']")
        assert "destroyed" in page.inner_text("#message")
        assert "destroyed" in page.inner_text("#transcript")  # privacy mode: gone from the page too

        with page.expect_download() as download:
            page.click("#export")
        doc = json.loads(Path(download.value.path()).read_text())

        # Send to the EHR, for the patient and encounter typed on the page.
        page.fill("#patient", "Patient/p-browser")
        page.fill("#encounter", "Encounter/e-browser")
        page.fill("#practitioner", "Practitioner/dr-patel")
        page.click("#send")
        page.wait_for_function("document.getElementById('message').textContent.startsWith('Sent to the EHR')")
        location = page.inner_text("#message").removeprefix("Sent to the EHR as ").rstrip(".")
        page.screenshot(path=str(ARTIFACTS / "recorder-signed.png"), full_page=True)
        context.close()
    validate_document_reference(doc)
    assert doc["docStatus"] == "final"
    from scribe.fhir.client import FhirClient

    filed = FhirClient(server, TOKEN).request("GET", location)
    assert filed["subject"] == {"reference": "Patient/p-browser"} and filed["docStatus"] == "final"
    assert filed["masterIdentifier"] == doc["masterIdentifier"]
    assert filed["context"]["period"]["start"] < filed["context"]["period"]["end"]
    plain = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert plain == signed_text.strip() + "\n" and "Reviewed and agreed with the patient." in plain
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
