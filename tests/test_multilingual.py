"""Visits in other languages, on real speech (issue 15): each segment's language, Whisper's
translations placed on the segments not said in English, the note drafted in English from
them with evidence pointing at what was said, live lines as batch, and privacy mode
keeping none of it.

The visits are tests/language_visits.py's held-out ones (nothing was tuned on them), made
at run time: ``it_held_palpitations`` (clinician in English, an espeak-ng voice; patient in
Italian, festival's pc_diphone voice, which Whisper base understands best of the voices
here) and ``es_held_rash`` (patient in Spanish, espeak-ng's es-419 voice, which Whisper
base hardly understands: WER above 1 on its turns). Bounds are set below what
benchmarks/multilingual.py measured, with the measurement beside each.
"""

from __future__ import annotations

import re

import pytest

from scribe.errors import ModelError
from scribe.live.streaming import StreamingSession
from scribe.notes.render import TRANSLATED_NOTICE, render_note_markdown
from scribe.options import ScribeOptions
from scribe.pipeline import Pipeline
from scribe.types import Transcript
from tests import language_visits
from tests.test_privacy_mode import Site, assert_nothing_retained

RASH = language_visits.VISITS["es_held_rash"]
# Bounds, set below what was measured on these held-out visits: share of segment seconds
# in the language said (palpitations batch 0.99, live 0.99; rash 0.97), and share of the
# Italian segments given a translation (3 of 7 batch, 3 of 8 live: Whisper base's
# translations of this voice often fall below its own confidence bar and are dropped,
# scribe.speech.whisper._MIN_LOGPROB).
LANGUAGE_RIGHT_IT = 0.9
LANGUAGE_RIGHT_IT_LIVE = 0.85
LANGUAGE_RIGHT_ES = 0.8
TRANSLATED_IT = 0.3
PALPITATIONS = language_visits.VISITS["it_held_palpitations"]

pytestmark = pytest.mark.skipif(
    bool(language_visits.missing_tools([RASH, PALPITATIONS])),
    reason="espeak-ng, flite or festival's Italian voice missing (make system-deps)",
)


@pytest.fixture(scope="module")
def base():
    return Pipeline(ScribeOptions(model="base"))


@pytest.fixture(scope="module")
def rash(base):
    wav, _ = language_visits.make(RASH)
    return base.process(str(wav)), language_visits.reference(RASH), wav


@pytest.fixture(scope="module")
def palpitations(base):
    wav, _ = language_visits.make(PALPITATIONS)
    return base.process(str(wav)), language_visits.reference(PALPITATIONS), wav


def _reference_language(seg, turns) -> str | None:
    best, overlap = None, 0.0
    for t in turns:
        o = min(seg.end, t["end"]) - max(seg.start, t["start"])
        if o > overlap:
            best, overlap = t["language"], o
    return best


def _share_right(result, ref) -> float:
    segs = [s for s in result.transcript.segments if s.words]
    right = sum(s.end - s.start for s in segs if s.language == _reference_language(s, ref["segments"]))
    return right / sum(s.end - s.start for s in segs)


def test_each_segment_is_in_the_language_it_was_said_in(palpitations, rash):
    result, ref, _ = palpitations
    assert {s.language for s in result.transcript.segments if s.words} == {"en", "it"}
    assert _share_right(result, ref) >= LANGUAGE_RIGHT_IT
    languages = result.transcript.languages()
    assert set(languages) == {"en", "it"} and all(v > 10 for v in languages.values())
    # The Spanish voice is hard to understand, its language less so.
    result, ref, _ = rash
    assert _share_right(result, ref) >= LANGUAGE_RIGHT_ES


def test_speech_not_in_english_is_translated_and_english_speech_is_not(palpitations):
    result, _, _ = palpitations
    segs = [s for s in result.transcript.segments if s.words]
    italian = [s for s in segs if s.language == "it"]
    assert italian and sum(bool(s.translation) for s in italian) / len(italian) >= TRANSLATED_IT
    assert all(s.translation is None for s in segs if s.language == "en")
    for s in italian:
        if s.translation:
            assert s.translation != s.text
            assert not re.search(r"\b(che|il|della|sono|non)\b", s.translation.lower()), s.translation
    # What the patient said in Italian, in English: the coffee and the thyroid drug.
    translated = " ".join(s.translation or "" for s in italian).lower()
    assert "coffee" in translated or "coffees" in translated, translated


def test_a_translation_whisper_would_not_trust_stays_out_of_the_note(rash):
    """The Spanish voice's translations loop and invent ("I got a sandwich in the fish");
    those past Whisper's own bars are dropped: the segment stays on the page, untranslated,
    and out of the note."""
    result, _, _ = rash
    spanish = [s for s in result.transcript.segments if s.words and s.language not in ("en", None)]
    untranslated = {s.id for s in spanish if s.translation is None}
    assert untranslated, "expected some of the hard-to-hear Spanish to stay untranslated"
    cited = {e for sent in [*result.note.sentences(), *result.note.instructions] for e in sent.evidence}
    assert not cited & untranslated
    # The review says what the note does not carry, and where it was said.
    markdown = render_note_markdown(result.note, result.transcript, uri="visit", options_dict={}, models=result.models)
    notice = next(line for line in markdown.splitlines() if "could not be translated with confidence" in line)
    assert notice.startswith(f"> **{len(untranslated)} line(s) said in another language")
    assert all(f"{i} " in notice for i in untranslated)
    for s in spanish:
        if s.translation:
            assert not re.search(r"\b(\w+)(, \1){3,}", s.translation), s.translation  # no decoder loop


def test_the_note_is_english_and_its_evidence_is_what_was_said(palpitations):
    result, _, _ = palpitations
    note, transcript = result.note, result.transcript
    assert note.language == "en" and transcript.note_language == "en"
    ids = transcript.segment_ids()
    by_id = {s.id: s for s in transcript.segments}
    sentences = [*note.sentences(), *note.instructions]
    assert sentences and all(set(s.evidence) <= ids for s in sentences)
    translated = [s for s in sentences if any(by_id[e].language == "it" for e in s.evidence)]
    assert translated, "the patient's Italian turns should reach the note"
    italian = " ".join(by_id[e].text for s in translated for e in s.evidence if by_id[e].language == "it")
    for s in translated:
        # Drafted from the translation: no sentence restates the Italian as said.
        assert s.text not in italian
        assert not re.search(r"\b(che|il|della|sono|non|di)\b", s.text.lower()), s.text
    # The review says which references rest on a translation.
    markdown = render_note_markdown(note, transcript, uri="visit", options_dict={}, models=result.models)
    assert TRANSLATED_NOTICE.format(languages="it", note="en") in markdown
    assert "translated from it]" in markdown or "translated from it," in markdown


def test_transcript_round_trips_with_languages_and_translations(palpitations):
    result, _, _ = palpitations
    d = result.transcript.to_dict()
    assert d["note_language"] == "en" and set(d["languages"]) == {"en", "it"}
    assert all("language" in s and "translation" in s for s in d["segments"])
    assert Transcript.from_dict(d) == result.transcript


def test_the_english_only_model_hears_english_and_translates_nothing(pipeline, palpitations):
    _, _, wav = palpitations
    result = pipeline.process(str(wav))
    assert {s.language for s in result.transcript.segments if s.words} == {"en"}
    assert all(s.translation is None for s in result.transcript.segments)
    assert pipeline.translate_to is None


def test_a_language_given_holds_for_the_whole_visit(palpitations):
    _, _, wav = palpitations
    result = Pipeline(ScribeOptions(model="base", language="it")).process(str(wav))
    segs = [s for s in result.transcript.segments if s.words]
    assert {s.language for s in segs} == {"it"}
    # Everything was taken as Italian, so everything is translated, English turns too.
    assert sum(bool(s.translation) for s in segs) / len(segs) >= 0.5


def test_a_note_language_the_drafter_cannot_write_is_refused(pipeline):
    with pytest.raises(ModelError, match=r"--note-language fr: the extractive drafter writes notes in en only"):
        Pipeline(
            ScribeOptions(note_language="fr"),
            speech_model=pipeline.speech_model, detector=pipeline.detector, diarizer=pipeline.diarizer,
        )


def test_the_site_languages_are_the_only_ones_chosen(rash):
    """Whisper base hears the synthetic Spanish voice as Japanese or Latin now and then;
    with the site's languages given, no segment is put in any other."""
    _, ref, wav = rash
    result = Pipeline(ScribeOptions(model="base", languages=("en", "es"))).process(str(wav))
    assert {s.language for s in result.transcript.segments if s.words} == {"en", "es"}
    assert _share_right(result, ref) >= LANGUAGE_RIGHT_ES


def test_live_lines_carry_language_and_translation(base, palpitations):
    import soundfile as sf

    _, ref, wav = palpitations
    audio, _ = sf.read(str(wav), dtype="int16")
    pcm = audio.astype("<i2").tobytes()
    session = StreamingSession(base)
    frame = 16000 // 5 * 2
    for i in range(0, len(pcm), frame):
        session.feed(pcm[i : i + frame])
    result = session.finish()
    lines = [line.segment for line in session.lines]
    assert {s.language for s in lines} == {"en", "it"}
    assert any(s.translation for s in lines if s.language == "it")
    assert all(s.translation is None for s in lines if s.language == "en")
    assert result.note.language == "en" and session.language in ("en", "it")
    assert _share_right(result, ref) >= LANGUAGE_RIGHT_IT_LIVE
    final = [s for s in result.transcript.segments if s.language == "it"]
    assert sum(bool(s.translation) for s in final) / len(final) >= TRANSLATED_IT


def test_privacy_mode_keeps_no_italian_and_no_translation(tmp_path, palpitations):
    result, _, wav = palpitations
    # What this visit's Italian speech and its translations became, as the same model
    # (greedy, so the same words) recognised them in this process: none may be found on
    # disk or in the logs of the real command in privacy mode.
    texts = [s.text for s in result.transcript.segments if s.language == "it"]
    texts += [s.translation for s in result.transcript.segments if s.translation]
    phrases = sorted({t.lower() for t in texts if len(t) >= 16})
    assert phrases
    site = Site(tmp_path)
    r = site.run("transcribe", str(wav), "--model", "base", "--out", str(site.out))
    assert r.returncode == 0, r.stderr[-3000:]
    exported = {p.name for p in site.out.iterdir()}
    assert not any(name.endswith((".transcript.json", ".vtt", ".rttm")) for name in exported)
    # The note's own documents carry the note, drafted from the translations: exported
    # on purpose, so not scanned.
    needles = {f"phrase {p!r}": p.encode() for p in phrases}
    for i, key in enumerate(site.keys()):
        needles[f"key {i}"] = key
    assert_nothing_retained(site, needles, r.stdout + r.stderr, exported)
    assert [s for s in site.sockets() if "127.0.0.1" not in str(s) and "AF_UNIX" not in str(s)] == []
