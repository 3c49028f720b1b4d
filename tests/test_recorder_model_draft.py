"""The recorder page with a model drafter, in a real headless Chromium whose microphone
plays the start of a sample visit: Stop shows the first draft and "Drafting with …",
then the model's note with its flagged sentences (the guard's reasons, the counts);
the clinician accepts one, deletes another, leaves the rest marked and signs; the
signed document holds the accepted sentence and neither of the others."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.model_drafter import FLAGGED
from tests.test_recorder_browser import chromium_with_mic, fake_mic
from tests.test_service_model_draft import ModelService, tiny_model

pytest.importorskip("transformers")

CLIP = 14.0  # seconds of cough_visit: a few exchanges


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium_with_mic(fake_mic(tmp_path_factory.mktemp("mic") / "visit.wav", clips=((0.0, CLIP),)))


def _flagged(page, text: str):
    return page.locator("#draft p", has=page.locator(".words", has_text=text))


def test_flagged_sentences_accepted_deleted_and_left_out(browser, tmp_path):
    model = tiny_model(tmp_path / "tiny-llama")
    gate = tmp_path / "gate"
    env = {"TMPDIR": str(tmp_path), "SCRIBE_TEST_NOTE_MODEL": str(model), "SCRIBE_TEST_DRAFT_GATE": str(gate)}
    crafted = [line.split(": ", 1)[1] for line in FLAGGED]
    accepted, deleted, left = crafted
    with ModelService(env=env) as svc:
        context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{svc.client.base}/?token={svc.client.token}")
        page.wait_for_selector("#privacy.badge.privacy")
        page.click("#start")
        page.wait_for_selector("body[data-state='recording']")
        page.wait_for_function(
            "document.querySelectorAll('#transcript li').length >= 2 && "
            f"parseInt(document.getElementById('clock').textContent.split(':')[1]) >= {int(CLIP) + 2}",
            timeout=90_000,
        )
        page.click("#stop")

        # The first draft at once, and the model at work (held at the gate): no signing yet.
        page.wait_for_selector("body[data-state='review']", timeout=60_000)
        page.wait_for_function("document.getElementById('note-status').textContent.startsWith('Drafting with llm')")
        assert "tiny-llama" in page.inner_text("#note-status")
        assert page.locator("#draft p:not(.empty)").count() >= 1  # the embedded drafter's
        assert page.is_disabled("#sign") and page.get_attribute("#editor", "readonly") is not None
        assert page.locator("#draft p.unsupported").count() == 0
        # Reloaded while the model drafts: the page asks where the visit is, shows the
        # first draft and the drafting again, and listens for the model's note.
        page.on("dialog", lambda d: d.accept())  # "leave the page?": yes
        page.reload()
        page.wait_for_selector("body[data-state='review']", timeout=30_000)
        page.wait_for_function("document.getElementById('note-status').textContent.startsWith('Drafting with llm')")
        assert page.is_disabled("#sign")

        gate.touch()
        page.wait_for_function("document.querySelectorAll('#draft p.unsupported').length >= 3", timeout=60_000)
        assert "replaced the first draft" in page.inner_text("#message")
        assert not page.is_disabled("#sign") and page.get_attribute("#editor", "readonly") is None
        unsupported = int(page.inner_text("#count-unsupported"))
        assert unsupported == page.locator("#draft p.unsupported").count() >= 3
        assert int(page.inner_text("#count-supported")) >= 1
        for text in crafted:
            p = _flagged(page, text)
            assert p.locator(".mark").inner_text() == "UNSUPPORTED"
            assert p.locator(".flags").inner_text().strip()  # the guard's reasons
            assert f"- [UNSUPPORTED] {text}" in page.input_value("#editor")
        ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "recorder-flagged.png"), full_page=True)

        _flagged(page, accepted).locator("button.accept").click()
        _flagged(page, deleted).locator("button.delete").click()
        editor = page.input_value("#editor")
        assert f"- {accepted}" in editor and "[UNSUPPORTED] " + accepted not in editor
        assert deleted not in editor
        assert f"- [UNSUPPORTED] {left}" in editor
        assert "accepted" in _flagged(page, accepted).get_attribute("class")
        assert "deleted" in _flagged(page, deleted).get_attribute("class")
        assert f"({unsupported - 2} still marked" in page.inner_text("#note-counts")

        page.click("#sign")
        page.wait_for_selector("body[data-state='signed']")
        assert f"{unsupported - 2} sentence(s) still marked UNSUPPORTED were left out." in page.inner_text("#message")
        assert page.locator("#draft .flag-actions").count() == 0  # the signed note is final
        downloads = []
        page.on("download", lambda d: downloads.append(d))
        page.click("#export")
        page.wait_for_function("document.body.dataset.state === 'done'")
        page.wait_for_function("true")  # the download event is delivered
        assert downloads, "no download"
        doc = json.loads(Path(downloads[0].path()).read_text())
        context.close()
    signed = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert accepted in signed
    assert deleted not in signed and left not in signed and "UNSUPPORTED" not in signed
    assert errors == []
