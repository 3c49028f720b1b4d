"""Terms to expect, for live visits as for batch (issue 13, item 9).

The site's and this machine's clinician's terms in the config's [recognition] table,
``--vocabulary``, and a live visit's own terms (the recorder page's Terms field) reach
Whisper as one prompt. On real speech (flite) through the live streaming path: without
terms tiny.en lost "meloxicam" entirely; with them it is spelled right.
"""

from __future__ import annotations

import re

import pytest

from scribe.config import ConfigError, RecognitionConfig, load_config
from scribe.options import ScribeOptions, split_terms, vocabulary_prompt
from tests.test_sentence_across_pause import speech, stream

# rms the clinician, slt the patient, as in samples/
SCRIPT = (
    ("slt", "My knee hurts when I climb the stairs.", 0.8),
    (
        "rms",
        "Take ibuprofen four hundred milligrams with food, and if that does not help, "
        "we will switch you to meloxicam fifteen milligrams once a day.",
        1.0,
    ),
    ("slt", "Okay, thank you.", 1.0),
)


@pytest.fixture(scope="module")
def drugs(tmp_path_factory) -> bytes:
    return speech(tmp_path_factory.mktemp("drugs"), SCRIPT)


def test_a_live_visits_terms_spell_the_drugs(pipeline, drugs):
    assert pipeline.options.vocabulary is None
    without = " ".join(s.text for s in stream(pipeline, drugs).transcript.segments)
    # tiny.en without terms: "switch you to miloxicam 15 mg" (frames as they come), or
    # with the DC high-pass the line ends at "switch you to" and the drug is gone
    assert "ibuprofen 400" in without and "meloxicam" not in without.lower(), without

    result = stream(pipeline, drugs, terms=("ibuprofen", "Meloxicam"))
    said = " ".join(s.text for s in result.transcript.segments)
    # spelled as the terms spell it ("Meloxicam", as given)
    assert re.search(r"ibuprofen 400 (?:milligrams|mg)\b", said), said
    assert re.search(r"switch you to Meloxicam 15 (?:milligrams|mg) once a day", said), said
    assert said.lower().count("meloxicam") == 1 and said.count("ibuprofen") == 1
    note = " ".join(s.text for s in result.note.sentences())
    assert re.search(r"Meloxicam 15 (?:milligrams|mg)\b", note), note
    # the visit's terms are its own: the shared model is unchanged for the next visit
    assert pipeline.speech_model.options.vocabulary is None
    again = " ".join(s.text for s in stream(pipeline, drugs).transcript.segments)
    assert again == without


def test_the_pipelines_terms_come_first_and_the_visits_add_to_them(pipeline):
    model = pipeline.speech_model
    assert model.with_vocabulary(None) is model
    view = model.with_vocabulary("ibuprofen, meloxicam.")
    assert view is not model and view._model is model._model  # the same loaded weights
    assert view.options.vocabulary == "ibuprofen, meloxicam." and model.options.vocabulary is None
    assert vocabulary_prompt(split_terms("ibuprofen, Meloxicam."), ["meloxicam", "apixaban"]) == (
        "ibuprofen, Meloxicam, apixaban."
    )
    assert vocabulary_prompt((), [" "]) is None
    assert split_terms("ibuprofen,\n meloxicam ,,") == ["ibuprofen", "meloxicam"]


def test_site_and_clinician_terms_from_the_config(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[recognition]\nterms = ["ibuprofen", "meloxicam"]\nclinician_terms = ["apixaban", "Ibuprofen"]\n',
        encoding="utf-8",
    )
    site = load_config(cfg)
    assert site.recognition == RecognitionConfig(("ibuprofen", "meloxicam"), ("apixaban", "Ibuprofen"))
    # site, clinician, then --vocabulary (a visit's terms come after these, live)
    assert site.recognition.prompt(split_terms("tramadol.")) == "ibuprofen, meloxicam, apixaban, tramadol."
    (tmp_path / "empty.toml").write_text("")
    assert load_config(tmp_path / "empty.toml").recognition.prompt() is None
    assert ScribeOptions().vocabulary is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('recognition = "ibuprofen"', "recognition must be a table ([recognition])"),
        ("[recognition]\nterms = \"ibuprofen\"", "recognition.terms must be a list of non-empty strings"),
        ("[recognition]\nclinician_terms = [\"\"]", "recognition.clinician_terms must be a list of non-empty strings"),
        ("[recognition]\nterms = [1]", "recognition.terms must be a list of non-empty strings"),
        ("[recognition]\nhotwords = [\"x\"]", "unknown setting(s) in [recognition]: hotwords"),
        ("[recognition]\nterms = [\"" + "x" * 81 + "\"]", "is not a term (one line, at most 80 characters)"),
    ],
)
def test_a_bad_term_list_is_one_line_naming_the_file(tmp_path, table, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(table + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    line = str(e.value)
    assert message in line and str(cfg) in line and "\n" not in line and e.value.exit_code == 1


# --- the recorder page's terms, through the service as a process -------------------


def test_the_pages_terms_and_the_sites_reach_a_live_visit(tmp_path, drugs):
    import asyncio

    from scribe.service.client import ServiceError
    from tests.service_process import ServiceProcess
    from tests.test_service import _stream

    cfg = tmp_path / "config.toml"
    cfg.write_text('[recognition]\nterms = ["ibuprofen"]\n', encoding="utf-8")
    env = {"SCRIBE_CONFIG": str(cfg), "SCRIBE_DATA_DIR": str(tmp_path / "data")}
    with ServiceProcess(env=env, verbose=True) as svc:
        client = svc.client
        # bad terms: one line, no visit opened
        for body in ({"terms": ["Meloxicam"]}, {"terms": "x" * 1001}):
            with pytest.raises(ServiceError) as e:
                client.request("POST", "/api/visits", body)
            assert (e.value.status, e.value.message) == (400, "terms must be text of at most 1000 characters")
        assert client.request("GET", "/api/visits")["visits"] == []

        def said(**body) -> str:
            visit = client.request("POST", "/api/visits", body)["visit"]
            events = asyncio.run(_stream(client, visit, drugs))
            client.request("DELETE", f"/api/visits/{visit}")
            return " ".join(s["text"] for s in events[-1]["transcript"])

        paged = said(terms="Meloxicam, tramadol")
        plain = said()
    assert re.search(r"switch you to Meloxicam 15 (?:milligrams|mg) once a day", paged), paged
    assert "ibuprofen 400" in paged and "ibuprofen 400" in plain and "meloxicam" not in plain.lower(), plain
    # the terms are the visit's content: in no log line, as no transcript is
    assert "Meloxicam" not in svc.stderr and "tramadol" not in svc.stderr and "INFO" in svc.stderr


# --- the recorder page's Terms field, in Chromium with a fake microphone -------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory, drugs):
    import wave

    from tests.test_recorder_browser import chromium_with_mic

    wav = tmp_path_factory.mktemp("mic") / "drugs.wav"
    with wave.open(str(wav), "wb") as w:  # then 30 s of quiet: the fake microphone plays once
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(drugs + bytes(16000 * 2 * 30))
    yield from chromium_with_mic(wav)


def test_the_recorder_pages_terms_field(browser, tmp_path):
    from tests.service_process import ServiceProcess

    cfg = tmp_path / "config.toml"
    cfg.write_text('[recognition]\nterms = ["ibuprofen"]\n', encoding="utf-8")
    env = {"TMPDIR": str(tmp_path), "SCRIBE_CONFIG": str(cfg), "SCRIBE_DATA_DIR": str(tmp_path / "data")}
    with ServiceProcess(env=env, verbose=True) as svc:
        context = browser.new_context()
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())
        page.goto(f"{svc.client.base}/?token={svc.client.token}")
        page.wait_for_selector("#privacy.badge.privacy")
        assert page.is_enabled("#terms") and page.get_attribute("#terms", "autocomplete") == "off"
        page.fill("#terms", "Meloxicam, tramadol")
        page.click("#start")
        page.wait_for_selector("body[data-state='recording']")
        assert not page.is_enabled("#terms") and not page.is_enabled("#template")  # fixed for the visit
        page.locator("#transcript li", has_text="thank you").first.wait_for(timeout=120_000)
        page.click("#stop")
        page.wait_for_selector("body[data-state='review']", timeout=60_000)
        said = " ".join(page.locator("#transcript li .text").all_inner_texts())
        page.click("#discard")
        page.wait_for_selector("body[data-state='idle']")
        assert page.is_enabled("#terms") and page.input_value("#terms") == "Meloxicam, tramadol"
        context.close()
        assert svc.client.request("GET", "/api/visits")["visits"] == []
    assert re.search(r"switch you to Meloxicam 15 (?:milligrams|mg) once a day", said), said
    assert "ibuprofen 400" in said
    assert "Meloxicam" not in svc.stderr and "tramadol" not in svc.stderr


# --- batch: the same terms, through the real command --------------------------------


def test_batch_takes_the_configs_terms_then_the_command_lines(tmp_path, drugs):
    import json
    import subprocess
    import sys
    import wave

    wav = tmp_path / "drugs.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(drugs)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[recognition]\nterms = ["ibuprofen"]\nclinician_terms = ["apixaban"]\n', encoding="utf-8")
    env = {**__import__("os").environ, "SCRIBE_CONFIG": str(cfg), "SCRIBE_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "scribe.cli", "transcribe", str(wav), "--out", str(tmp_path / "out"), "--no-privacy"]
    r = subprocess.run([*cmd, "--vocabulary", "Meloxicam"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "out" / "drugs.transcript.json").read_text())
    assert doc["options"]["vocabulary"] == "ibuprofen, apixaban, Meloxicam."
    said = " ".join(s["text"] for s in doc["segments"])
    assert re.search(r"switch you to Meloxicam 15 (?:milligrams|mg) once a day", said), said

    cfg.write_text('[recognition]\nterms = "ibuprofen"\n', encoding="utf-8")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {cfg}: recognition.terms must be a list of non-empty strings"]
