"""A pause in mid-sentence never cuts a note sentence (issue 13, item 7).

A recogniser ends a line where the speaker paused and puts a period there, so "...from
early wear and tear, and not" | (1.2 s) | "a tear of the ligaments." came out as two
sentences, and the note kept "...and not." with the negation's object lost. Utterances
are now joined across such a break before drafting: text-level through the extractive
drafter, and on real speech (flite, a 1.2 s pause) through the live streaming path.
"""

from __future__ import annotations

import re
import subprocess
import wave

import numpy as np
import pytest

from scribe.live.streaming import StreamingSession
from scribe.notes import draft_note
from scribe.notes.extractive import ExtractiveDrafter
from scribe.notes.templates import load_template
from scribe.notes.utterances import utterances
from scribe.speakers.roles import apply_roles
from scribe.types import Segment, Transcript
from tests.audio_tools import flite_path, write_audio
from tests.test_drafting import assert_grounded

DRAFTER = ExtractiveDrafter()
SR = 16000


def _visit(*turns: tuple[str, str]) -> Transcript:
    segs, t = [], 0.0
    for i, (speaker, text) in enumerate(turns):
        d = 0.4 * len(text.split())
        segs.append(Segment(f"s{i}", t, t + d, text, speaker=speaker))
        t += d + 1.2  # every break a pause
    return apply_roles(Transcript(segments=tuple(segs), duration=t, language="en"))


OPENING = (("D", "Hi, I'm Dr. Patel. What brings you in today?"), ("P", "My knee has hurt for three months, mostly on the stairs."))


@pytest.mark.parametrize(
    "cut",
    [
        # the recogniser's period after "not", the next line capitalised (utterances
        # recognised one at a time) or not
        ("I looked at your x-ray. I think the pain is from early wear and tear, and not.", "A tear of the ligaments."),
        ("I looked at your x-ray. I think the pain is from early wear and tear, and not.", "a tear of the ligaments."),
        # a period after "and", the next line's capital on a function word; a
        # lower-case line after a capitalised one
        ("I looked at your x-ray. I think the pain is from early wear and tear, and.", "Not a tear of the ligaments."),
        ("I looked at your x-ray. I think the pain is from early wear and tear.", "and not a tear of the ligaments."),
    ],
)
def test_the_note_keeps_the_sentence_with_its_negation(cut):
    t = _visit(*OPENING, ("D", cut[0]), ("D", cut[1]), ("P", "Okay, that is good to hear."),
               ("D", "We will start physical therapy twice a week."))
    said = [u for u in utterances(t.segments) if "ligaments" in u.text]
    assert len(said) == 1 and said[0].evidence == ("s2", "s3")
    assert said[0].text.endswith("early wear and tear, and not a tear of the ligaments.") or said[0].text.endswith(
        "early wear and tear and not a tear of the ligaments."
    ), said[0].text
    note = draft_note(DRAFTER, t, load_template("soap"))
    kept = [s for s in note.sentences() if "ligaments" in s.text]
    assert len(kept) == 1 and kept[0].evidence == ("s2", "s3")
    assert re.search(r"wear and tear,? and not a tear of the ligaments\.$", kept[0].text), kept[0].text
    assert not any(re.search(r"\bnot\.$", s.text) for s in note.sentences())
    assert_grounded(t, note)


def test_lines_that_end_a_sentence_stay_apart():
    t = _visit(
        *OPENING,
        # a preposition can end a spoken sentence; a capital after it starts the next
        ("D", "Is that the knee you were worried about."),
        ("D", "The pain is worse at night, then."),
        # a recogniser that writes every line in lower case gives no hint
        ("P", "i think so."),
        ("P", "the stairs are the worst."),
    )
    texts = [u.text for u in utterances(t.segments)]
    assert texts[3:] == [
        "Is that the knee you were worried about.",
        "The pain is worse at night, then.",
        "i think so.",
        "the stairs are the worst.",
    ]


# --- real speech, through the live streaming path ----------------------------------

# (flite voice, text, seconds of silence after): rms the clinician, slt the patient, as
# in samples/. The clinician pauses 1.2 s inside the sentence, after "and not".
SCRIPT = (
    ("slt", "My knee has been hurting for about three months, mostly on the stairs.", 0.8),
    ("rms", "I looked at your x-ray. I think the pain in your knee is from early wear and tear, and not", 1.2),
    ("rms", "a tear of the ligaments.", 0.8),
    ("slt", "Okay, that is good to hear.", 0.8),
    ("rms", "We will start physical therapy twice a week.", 1.0),
)


def speech(tmp_path, script) -> bytes:
    """``script`` spoken by flite, with its pauses, as 16 kHz PCM16."""
    from scribe.audio.decode import decode_audio

    flite = flite_path()
    parts = [np.zeros(SR // 2, dtype=np.float32)]
    for voice, text, after in script:
        wav = tmp_path / "say.wav"
        subprocess.run([flite, "-voice", voice, "--setf", "duration_stretch=1.1", "-t", text, "-o", str(wav)], check=True)
        audio = decode_audio(wav)
        loud = np.flatnonzero(np.abs(audio) > 0.01)
        parts += [audio[loud[0] : loud[-1] + 1], np.zeros(int(after * SR), dtype=np.float32)]
    path = write_audio(tmp_path / "visit.wav", np.concatenate(parts))
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes())


def stream(pipeline, pcm: bytes, **session):
    s = StreamingSession(pipeline, **session)
    for i in range(0, len(pcm), 6400):  # 200 ms frames, as the recorder sends
        s.feed(pcm[i : i + 6400])
    return s.finish()


def test_a_pause_in_a_spoken_sentence_keeps_its_negation(pipeline, tmp_path):
    result = stream(pipeline, speech(tmp_path, SCRIPT))
    segs = result.transcript.segments
    # the recogniser did cut the sentence at the pause, with a period (tiny.en: "...wear
    # and tear and not." | "the tier of the ligaments.")
    cut = [s for s in segs if re.search(r"\bnot\.$", s.text)]
    rest = [s for s in segs if "ligaments" in s.text]
    assert len(cut) == 1 and len(rest) == 1 and rest[0].start - cut[0].end > 0.8
    note = result.note
    kept = [s for s in note.sentences() if "ligaments" in s.text]
    assert len(kept) == 1 and kept[0].evidence == (cut[0].id, rest[0].id)
    assert re.search(r"wear and tear,? and not \w+ \w+ of the ligaments\.$", kept[0].text), kept[0].text
    assert not any(re.search(r"\bnot\.$", s.text) for s in note.sentences())
    assert "physical therapy twice a week" in " ".join(s.text for s in note.sentences())
    assert_grounded(result.transcript, note)
