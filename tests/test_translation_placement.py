"""Translations placed on final segments, and the transcript a drafter reads (pure: no
model). The end-to-end checks on real speech are in tests/test_multilingual.py."""

from __future__ import annotations

from scribe.speech.translation import attach_translations
from scribe.types import Role, Segment, Transcript, Translation, Word


def seg(i, start, end, text, language, speaker="A", translation=None):
    words = tuple(Word(start + k * 0.3, start + k * 0.3 + 0.25, w) for k, w in enumerate(text.split()))
    return Segment(f"s{i}", start, end, text, words, speaker, Role.UNKNOWN, language, translation)


def test_each_translation_goes_to_the_segment_of_its_language_it_overlaps_most():
    segments = (
        seg(0, 0.0, 2.0, "What brings you in?", "en", "C"),
        seg(1, 2.5, 5.0, "Me duele la garganta.", "es", "P"),
        seg(2, 5.2, 7.0, "Desde hace tres días.", "es", "P"),
    )
    translations = (
        Translation(2.4, 5.1, "es", "en", "My throat hurts."),
        Translation(5.1, 7.2, "es", "en", "For three days."),
    )
    out = attach_translations(segments, translations, "en")
    assert [s.translation for s in out] == [None, "My throat hurts.", "For three days."]
    assert [s.id for s in out] == ["s0", "s1", "s2"]
    assert out[0] == segments[0]


def test_a_translation_never_lands_on_speech_of_another_language():
    segments = (seg(0, 0.0, 3.0, "Any allergies?", "en", "C"), seg(1, 3.1, 4.0, "Sí.", "es", "P"))
    # Timed over the English question mostly, but it is Spanish speech's translation.
    out = attach_translations(segments, (Translation(0.5, 3.5, "es", "en", "Yes."),), "en")
    assert out[0].translation is None and out[1].translation == "Yes."


def test_far_translations_and_other_targets_are_not_placed():
    segments = (seg(0, 0.0, 2.0, "Hola.", "es"),)
    out = attach_translations(
        segments,
        (Translation(5.0, 6.0, "es", "en", "Far away."), Translation(0.0, 2.0, "es", "fr", "Bonjour.")),
        "en",
    )
    assert out[0].translation is None


def test_two_translations_on_one_segment_join_in_time_order():
    segments = (seg(0, 0.0, 6.0, "Tengo fiebre. Y tos.", "es"),)
    out = attach_translations(
        segments, (Translation(0.0, 3.0, "es", "en", "I have a fever."), Translation(3.0, 6.0, "es", "en", "And a cough.")), "en"
    )
    assert out[0].translation == "I have a fever. And a cough."


def test_the_note_reads_translations_under_the_original_ids():
    t = Transcript(
        segments=(
            seg(0, 0.0, 2.0, "What brings you in?", "en", "C"),
            seg(1, 2.5, 5.0, "Me duele la garganta.", "es", "P", "My throat hurts."),
            seg(2, 5.2, 7.0, "Algo más.", "es", "P"),  # no translation placed
        ),
        duration=7.0,
        language="es",
        note_language="en",
    )
    view = t.for_note()
    assert [s.id for s in view.segments] == ["s0", "s1"]
    assert view.segments[1].text == "My throat hurts." and view.segments[1].words == ()
    assert view.segments[1].language == "en" and view.language == "en"
    # The original is untouched: what was said stays in the transcript.
    assert t.segments[1].text == "Me duele la garganta." and t.segments[1].translation == "My throat hurts."
    assert t.languages() == {"es": 4.3, "en": 2.0}


def test_a_transcript_in_the_note_language_is_read_as_it_is():
    t = Transcript(segments=(seg(0, 0.0, 2.0, "Hello.", "en"),), duration=2.0, language="en")
    assert t.for_note() is t
    legacy = Transcript(segments=(seg(0, 0.0, 2.0, "Hello.", None),), duration=2.0, language="en")
    assert legacy.for_note() is legacy


def test_languages_and_translations_survive_json():
    t = Transcript(
        segments=(seg(0, 0.0, 2.0, "Hola.", "es", "P", "Hello."),), duration=2.0, language="es", note_language="en"
    )
    d = t.to_dict()
    assert d["segments"][0]["language"] == "es" and d["segments"][0]["translation"] == "Hello."
    assert d["note_language"] == "en" and d["languages"] == {"es": 2.0}
    assert Transcript.from_dict(d) == t
