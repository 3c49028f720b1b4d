"""Visits in other languages outside the speech model (issue 15): --note-language and
--languages on the commands and in the config, the transcript JSON and WebVTT carrying
each segment's language and translation and read back, the FHIR document saying the
note's language and the visit's (checked by the test FHIR server), the live events'
fields, and scribe draft drafting from the translations. Hand-built transcripts: the
model is not the point here (the end-to-end multilingual pipeline test is elsewhere)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from scribe.batch import outputs as writers
from scribe.batch.readers import read_transcript
from scribe.cli import app
from scribe.cli.languages import language_options
from scribe.config import ConfigError, NoteConfig, RecognitionConfig, SiteConfig, load_config
from scribe.errors import InputError, ModelError, ScribeError
from scribe.fhir.document_reference import build_document_reference
from scribe.live.events import FinalEvent, LineEvent, ReadyEvent, segment_json
from scribe.options import ScribeOptions, is_language_code, language_codes
from scribe.types import Role, Segment, Transcript, Word
from tests.test_fhir_export import CONTEXT, client, server  # noqa: F401 (fixtures: the test FHIR server)
from tests.test_note_options import _args, captured  # noqa: F401 (a fixture)
from tests.test_writers import MODELS, make_note, make_transcript

CREATED = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)


def mixed_visit() -> Transcript:
    """A clinician asking in English, a patient answering in Spanish (translated), and
    one Spanish line the translation could not be placed on."""
    return Transcript(
        segments=(
            Segment("s0", 0.0, 2.0, "What brings you in today?", (Word(0.0, 2.0, "What", 0.9),),
                    "SPEAKER_00", Role.CLINICIAN, language="en"),
            Segment("s1", 2.2, 5.0, "Tengo tos desde hace una semana.", (Word(2.2, 5.0, "Tengo", 0.9),),
                    "SPEAKER_01", Role.PATIENT, language="es",
                    translation="I have had a cough for a week."),
            Segment("s2", 5.2, 7.0, "¿Tiene fiebre?", (Word(5.2, 7.0, "Tiene", 0.9),),
                    "SPEAKER_00", Role.CLINICIAN, language="es", translation=None),
            Segment("s3", 7.5, 9.0, "Let's start an inhaler.", (Word(7.5, 9.0, "Let's", 0.9),),
                    "SPEAKER_00", Role.CLINICIAN, language="en"),
        ),
        duration=9.0,
        language="en",
        speakers={"SPEAKER_00": Role.CLINICIAN, "SPEAKER_01": Role.PATIENT},
        note_language="en",
    )


# --- codes, config, command line ----------------------------------------------------------


def test_language_codes():
    assert [is_language_code(c) for c in ("en", "es", "yue", "EN", "english", "e", "", None, 3, "e1")] == [
        True, True, True, False, False, False, False, False, False, False]
    assert language_codes("en, ES ,es,,fr") == ("en", "es", "fr")
    with pytest.raises(ValueError, match="^'spanish' is not a language code"):
        language_codes("en,spanish")


def test_config_note_language_and_recognition_languages(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[note]\nlanguage = "en"\n\n[recognition]\nlanguages = ["en", "es", "en"]\n', encoding="utf-8")
    site = load_config(cfg)
    assert site.note.language == "en" and site.recognition.languages == ("en", "es")
    (tmp_path / "empty.toml").write_text("")
    assert load_config(tmp_path / "empty.toml").recognition.languages is None
    assert load_config(tmp_path / "empty.toml").note.language is None
    for body, reason in [
        ('[note]\nlanguage = "English"\n', 'note.language must be a language code ("en", "es", ...)'),
        ("[note]\nlanguage = 1\n", 'note.language must be a language code ("en", "es", ...)'),
        ('[recognition]\nlanguages = "en,es"\n', 'recognition.languages must be a list of language codes (["en", "es"])'),
        ('[recognition]\nlanguages = ["en", "Spanish"]\n', 'recognition.languages must be a list of language codes (["en", "es"])'),
    ]:
        cfg.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as e:
            load_config(cfg)
        assert str(e.value) == f"{cfg}: {reason}" and e.value.exit_code == 1


def test_options_override_the_config():
    assert language_options(SiteConfig(), None, None) == {}  # ScribeOptions' defaults: en, any language
    site = SiteConfig(note=NoteConfig(language="en"), recognition=RecognitionConfig(languages=("en", "es")))
    assert language_options(site, None, None) == {"note_language": "en", "languages": ("en", "es")}
    assert language_options(site, "FR", "de, fr") == {"note_language": "fr", "languages": ("de", "fr")}
    for args, message in [
        (("english", None), "--note-language 'english': not a language code (en, es, fr, ...)"),
        ((None, "en,spanish"), "--languages: 'spanish' is not a language code (en, es, fr, ...)"),
        ((None, " , "), "--languages: no language code given (en,es)"),
    ]:
        with pytest.raises(ScribeError) as e:
            language_options(site, *args)
        assert str(e.value) == message and e.value.exit_code == 1


@pytest.mark.parametrize("command", ("transcribe", "serve", "record"))
def test_live_and_batch_commands_take_the_languages(command, tmp_path, captured, monkeypatch):  # noqa: F811
    runner = CliRunner()
    help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
    assert "--note-language" in help_text and "--languages" in help_text
    cfg = tmp_path / "c.toml"
    cfg.write_text('[recognition]\nlanguages = ["en", "es"]\n', encoding="utf-8")
    monkeypatch.setenv("SCRIBE_CONFIG", str(cfg))
    result = runner.invoke(app, _args(command, tmp_path))
    assert "options captured" in result.output, result.output
    assert captured[-1]["languages"] == ("en", "es") and "note_language" not in captured[-1]
    runner.invoke(app, [*_args(command, tmp_path), "--note-language", "en", "--languages", "en,fr"])
    assert captured[-1]["note_language"] == "en" and captured[-1]["languages"] == ("en", "fr")
    # the options that build the pipeline take these fields
    ScribeOptions(**{k: v for k, v in captured[-1].items()})

    bad = runner.invoke(app, [*_args(command, tmp_path), "--note-language", "english"])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines()[-1] == "error: --note-language 'english': not a language code (en, es, fr, ...)"


def test_draft_takes_the_note_language_and_refuses_one_it_cannot_write(tmp_path, monkeypatch):
    runner = CliRunner()
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCRIBE_CONFIG", str(tmp_path / "empty.toml"))
    monkeypatch.setenv("SCRIBE_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, [*_args("draft", tmp_path), "--note-language", "fr"])
    assert result.exit_code == 4, result.output
    assert result.output.strip().splitlines()[-1] == "error: --note-language fr: the extractive drafter writes notes in en only"


# --- transcript JSON ------------------------------------------------------------------


def test_transcript_json_round_trips_languages_and_translations(tmp_path):
    t = mixed_visit()
    path = writers.write_transcript_json(t, tmp_path / "v.transcript.json", uri="v", options_dict={}, models=MODELS)
    doc = json.loads(path.read_text())
    assert doc["note_language"] == "en" and doc["languages"] == {"en": 3.5, "es": 4.6}
    assert [s["language"] for s in doc["segments"]] == ["en", "es", "es", "en"]
    read = read_transcript(path).transcript
    assert read.note_language == "en" and read.languages() == t.languages()
    assert [(s.language, s.translation) for s in read.segments] == [(s.language, s.translation) for s in t.segments]
    # a transcript from before languages: none per segment, notes in English
    old = json.loads(path.read_text())
    for key in ("languages", "note_language"):
        del old[key]
    for s in old["segments"]:
        del s["language"], s["translation"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    read = read_transcript(tmp_path / "old.json").transcript
    assert read.note_language == "en" and {s.language for s in read.segments} == {None}


@pytest.mark.parametrize("breakage, reason", [
    (lambda d: d["segments"][1].update(translation=["I have had a cough"]), "segment 1: translation is not a string or null"),
    (lambda d: d["segments"][1].update(translation=7), "segment 1: translation is not a string or null"),
    (lambda d: d["segments"][2].update(language="Tengo tos"), "segment 2: language is not a language code (en, es, ...) or null"),
    (lambda d: d.update(note_language="Tengo tos"), '"note_language" is not a language code'),
    (lambda d: d.update(languages={"Tengo tos": 1.0}), '"languages" is not an object of seconds per language code'),
    (lambda d: d.update(language=["es"]), '"duration" or "language" malformed'),
])
def test_bad_language_fields_are_one_line_naming_the_field_never_the_value(tmp_path, breakage, reason):
    doc = json.loads(json.dumps({"duration": 9.0, **mixed_visit().to_dict()}))
    breakage(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        read_transcript(path)
    message = str(e.value)
    assert message == f"{path}: not a Scribe transcript ({reason})" and e.value.exit_code == 2
    assert "cough" not in message and "Tengo" not in message


# --- WebVTT ---------------------------------------------------------------------------


def test_webvtt_cues_carry_their_language_and_translation(tmp_path):
    text = writers.write_webvtt(mixed_visit(), tmp_path / "v.vtt").read_text()
    cues = text.split("\n\n")
    assert cues[0] == "WEBVTT"
    assert cues[1] == "s0\n00:00:00.000 --> 00:00:02.000\n<v Clinician (SPEAKER_00)><lang en>What brings you in today?</lang>"
    assert cues[2] == ("s1\n00:00:02.200 --> 00:00:05.000\n<v Patient (SPEAKER_01)><lang es>Tengo tos desde hace una semana.</lang>\n"
                       "<c.translation><lang en>I have had a cough for a week.</lang></c>")
    assert cues[3] == "s2\n00:00:05.200 --> 00:00:07.000\n<v Clinician (SPEAKER_00)><lang es>¿Tiene fiebre?</lang>"
    # read back: the words as said, each segment's language and translation
    read = read_transcript(tmp_path / "v.vtt").transcript
    assert [(s.id, s.text, s.language, s.translation, s.role) for s in read.segments] == [
        (s.id, s.text, s.language, s.translation, s.role) for s in mixed_visit().segments]
    assert read.note_language == "en" and read.language == "es"  # 4.6 s of Spanish, 3.5 s of English


def test_webvtt_of_a_visit_in_the_note_language_stays_plain(tmp_path):
    t = make_transcript()
    plain = writers.write_webvtt(t, tmp_path / "a.vtt").read_text()
    tagged = writers.write_webvtt(replace(t, segments=tuple(replace(s, language="en") for s in t.segments)),
                                  tmp_path / "b.vtt").read_text()
    assert plain == tagged and "<lang" not in plain and "translation" not in plain


def test_webvtt_language_spans_from_another_tool(tmp_path):
    vtt = ("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Dr Lee><lang en-US>Any fever?</lang>\n\n"
           "00:02.000 --> 00:04.000\n<v Maria><lang es-MX>No, doctor.</lang>\n")
    (tmp_path / "x.vtt").write_text(vtt, encoding="utf-8")
    segs = read_transcript(tmp_path / "x.vtt").transcript.segments
    assert [(s.text, s.language, s.translation) for s in segs] == [("Any fever?", "en", None), ("No, doctor.", "es", None)]


# --- scribe draft: from the translations ----------------------------------------------


def test_draft_drafts_from_the_translations_citing_the_original_lines(tmp_path):
    from scribe.batch.draft import Drafting
    from scribe.notes import draft_note

    drafting = Drafting.from_options(ScribeOptions())
    t = drafting.in_note_language(mixed_visit())
    note = draft_note(drafting.drafter, t, drafting.template)
    assert note.language == "en"
    cited = {ref for s in note.sentences() for ref in s.evidence}
    text = " ".join(s.text for s in note.sentences())
    assert "cough" in text and "Tengo" not in text and "fiebre" not in text
    assert "s1" in cited and "s2" not in cited  # the Spanish line, by its own id; the untranslated one left out
    # a transcript made for another note language: its translations are not used
    french = replace(mixed_visit(), note_language="fr")
    english = replace(drafting, note_language="en").in_note_language(french)  # scribe draft --note-language en
    assert english.note_language == "en" and {s.translation for s in english.segments} == {None}
    with pytest.raises(ModelError, match="^the transcript's note_language fr: the extractive drafter writes notes in en only$"):
        drafting.in_note_language(french)


def test_draft_keeps_translations_as_visit_text(tmp_path):
    """scribe draft gives the visit every translation as it gives the words said
    (store_text: sealed with a standard-mode visit, and kept out of every log)."""
    from scribe.batch.draft import Drafting, draft_transcript
    from scribe.batch.readers import TranscriptFile

    stored: list[str] = []

    class Visit:
        privacy = True
        audit = None
        visit_id = "v1"

        def store_text(self, text: str) -> None:
            stored.append(text)

        def mark_content(self, text: str) -> None:
            pass

        def exported(self, *args, **kwargs) -> None:  # the audit of each exported document
            pass

    source = TranscriptFile(tmp_path / "v.transcript.json", "transcript-json", mixed_visit(), ())
    out = tmp_path / "out"
    out.mkdir()
    done = draft_transcript(Drafting.from_options(ScribeOptions()), source, uri="v", out=out, visit=Visit())
    assert "I have had a cough for a week." in stored and "Tengo tos desde hace una semana." in stored
    assert done.note.language == "en"


# --- FHIR -----------------------------------------------------------------------------


def _fhir(transcript: Transcript | None = None, **kw) -> dict:
    return build_document_reference(make_note(), "## Subjective\n\n- Cough.\n", models=MODELS, created=CREATED,
                                    transcript=transcript, **kw)


def test_document_reference_says_the_note_language_and_the_visit_languages():
    doc = _fhir(mixed_visit())
    assert [c["attachment"]["language"] for c in doc["content"]] == ["en", "en"]
    assert doc["context"]["event"] == [
        {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}], "text": "Visit conducted in language es (note written in en)"},
        {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}], "text": "Visit conducted in language en (note written in en)"},
    ]
    # a visit held in the note language: the attachments say it, no event
    assert "context" not in _fhir(make_transcript())
    assert "context" not in _fhir(replace(mixed_visit(), segments=mixed_visit().segments[:1]))
    # the live sign gives the languages without the transcript
    assert _fhir(None, languages=["es"])["context"]["event"][0]["coding"][0]["code"] == "es"


def test_the_fhir_server_accepts_and_keeps_the_languages(client):  # noqa: F811
    """The test FHIR server (Medplum, validating every resource) files the note with its
    attachments' language and the visit's languages, and its document's Composition."""
    note_id = "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    doc = _fhir(mixed_visit(), identifier=note_id)
    client.send(doc, CONTEXT)
    found = client.request("GET", f"DocumentReference?identifier=urn:ietf:rfc:3986|urn:uuid:{note_id}")
    [stored] = [e["resource"] for e in found["entry"]]
    assert [c["attachment"]["language"] for c in stored["content"]] == ["en", "en"]
    assert [e["coding"][0]["code"] for e in stored["context"]["event"]] == ["es", "en"]
    assert stored["context"]["encounter"] == [{"reference": "Encounter/e1"}]
    # the document bundle's Composition is in the note's language
    signed = _fhir(mixed_visit(), identifier="6b2f3c4d-5e6f-4a71-8b8c-0d1e2f3a4b5c")
    signed["docStatus"] = "final"
    client.send(signed, CONTEXT, document=True)
    bundles = client.request("GET", "Bundle?type=document")["entry"]
    mine = [e["resource"] for e in bundles
            if e["resource"]["entry"][0]["resource"]["identifier"]["value"] == signed["masterIdentifier"]["value"]]
    assert mine and mine[0]["entry"][0]["resource"]["language"] == "en"
    plain = base64.b64decode(stored["content"][0]["attachment"]["data"]).decode()
    assert "Tengo" not in plain


# --- live events ----------------------------------------------------------------------


def test_live_lines_carry_language_and_translation():
    said = mixed_visit().segments[1]
    line = LineEvent(said, 5.0).to_json()
    assert (line["language"], line["translation"]) == ("es", "I have had a cough for a week.")
    english = segment_json(mixed_visit().segments[0])
    assert (english["language"], english["translation"]) == ("en", None)
    ready = ReadyEvent("v1", True, "recording", "soap", 5.0, (LineEvent(said, 5.0),), note_language="en").to_json()
    assert ready["note_language"] == "en" and ready["lines"][0]["translation"] == "I have had a cough for a week."
    final = FinalEvent(True, mixed_visit(), make_note(), "").to_json()
    assert [(s["language"], s["translation"]) for s in final["transcript"]] == [
        (s.language, s.translation) for s in mixed_visit().segments]


def test_scribe_record_shows_a_line_with_its_language_and_translation():
    from scribe.live.microphone import _shown_line

    english, spanish, untranslated, _ = mixed_visit().segments
    assert _shown_line(english, "en") == "What brings you in today?"
    assert _shown_line(spanish, "en") == "(es) Tengo tos desde hace una semana. = en: I have had a cough for a week."
    assert _shown_line(untranslated, "en") == "(es) ¿Tiene fiebre? = no en translation"
