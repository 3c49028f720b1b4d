"""Synthetic 1-, 2- and 3-voice visits for speaker counting, made at run time.

Every visit is a short clinical script spoken by one to three synthetic voices (flite's
and espeak-ng's), each turn trimmed and level-matched as ``samples/make_samples.py``
does, joined with seeded gaps. Nothing is stored in git: the WAV and its reference RTTM
are written to a cache folder under the system temp dir, keyed by a hash of the script,
the voices and this generator's settings, so a second run reads them back.

- 1 voice: a clinician dictating a note, sentence by sentence with pauses.
- 2 voices: clinician and patient.
- 3 voices: clinician, patient and a companion (the patient's son or daughter) who
  speaks several lines.

``TUNING`` visits use flite rms/slt/awb and espeak-ng en-us/en-gb variants; ``HELD_OUT``
visits use voices absent from the tuning set (flite kal16, other espeak-ng accents and
variants), to report on. The scripts were written for the Scribe project; they are
fictional and describe no real patient.

    python -m tests.voice_visits            # make (or find) every visit, print times
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from privacy import SAMPLE_RATE
from samples.make_samples import level, resample, trim
from samples.make_samples import synthesize as flite_synthesize

GENERATOR_VERSION = "1"  # bump when the audio a script gives changes
CACHE = Path(tempfile.gettempdir()) / "scribe-voice-visits"
SEED = 20261130
LEAD_SILENCE, TAIL_SILENCE = 0.5, 1.0  # seconds, as the samples
GAP_RANGE = (0.35, 0.9)  # seconds between dialogue turns, as the samples
DICTATION_PAUSE = (0.5, 1.3)  # seconds between dictated sentences
ESPEAK_RATE = 155  # words a minute: espeak-ng's default 175 is brisker than a visit

# ---------------------------------------------------------------- scripts

DICTATIONS = [
    [
        "This is a follow up visit for a fifty eight year old man with type two diabetes.",
        "He reports good adherence to metformin one thousand milligrams twice daily.",
        "His fasting sugars at home run between one twenty and one forty.",
        "He denies chest pain, shortness of breath, or numbness in his feet.",
        "On exam, blood pressure is one thirty two over eighty, and the foot exam is normal.",
        "His hemoglobin A1c today is seven point two, down from seven point nine.",
        "Plan is to continue metformin and recheck the A1c in three months.",
        "We also discussed diet and thirty minutes of walking most days.",
    ],
    [
        "Procedure note for laceration repair of the left forearm.",
        "The patient cut his arm on broken glass about two hours ago.",
        "The wound is four centimeters long and there is no tendon involvement.",
        "Sensation and capillary refill are intact distal to the wound.",
        "The area was anesthetized with one percent lidocaine and irrigated with saline.",
        "The wound was closed with five simple interrupted nylon sutures.",
        "Tetanus was updated today.",
        "Sutures come out in ten days, and he will return sooner for redness or fever.",
    ],
    [
        "Assessment and plan for a thirty four year old woman with migraine headaches.",
        "She has about four headaches a month, each lasting most of a day.",
        "They are throbbing, one sided, and come with nausea and light sensitivity.",
        "Neurologic exam is normal, and there are no warning signs.",
        "We will start sumatriptan fifty milligrams at the onset of a headache.",
        "She may repeat the dose once after two hours.",
        "She will keep a headache diary and limit caffeine.",
        "Follow up in six weeks to review the diary and the response.",
    ],
    [
        "Telephone note regarding a seventy year old woman with heart failure.",
        "She reports a weight gain of three pounds over two days.",
        "Her ankles are more swollen and she needs two pillows at night.",
        "She has no chest pain and no fainting.",
        "She has been taking furosemide twenty milligrams every morning.",
        "I asked her to take an extra twenty milligrams today and tomorrow.",
        "She will weigh herself each morning and call if the weight keeps rising.",
        "A visit is booked for Thursday with a basic metabolic panel.",
    ],
]

C, P, F = "clinician", "patient", "companion"

DIALOGUES_2 = [
    [
        (C, "Good morning. What brings you in today?"),
        (P, "I've had a sore throat for about four days, and now it hurts to swallow."),
        (C, "Have you had any fever or chills?"),
        (P, "I had a fever of a hundred and one last night."),
        (C, "Any cough or runny nose?"),
        (P, "No cough, just the throat, and my neck feels a bit swollen."),
        (C, "Let me take a look. Your tonsils are red and swollen, with white patches."),
        (C, "The rapid strep test is positive, so this is strep throat."),
        (P, "Do I need antibiotics for that?"),
        (C, "Yes. Amoxicillin five hundred milligrams twice a day for ten days."),
        (P, "Okay. When can I go back to work?"),
        (C, "After twenty four hours on the antibiotic, if the fever is gone."),
    ],
    [
        (C, "Hi, I see you're here about your blood pressure."),
        (P, "Yes, the pharmacy machine said it was high three times last month."),
        (C, "Do you get headaches, chest pain, or trouble breathing?"),
        (P, "Some headaches in the morning, but nothing else."),
        (C, "Do you smoke, and how much salt do you eat?"),
        (P, "I quit smoking years ago, but I do eat a lot of take out food."),
        (C, "Today your blood pressure is one fifty two over ninety six."),
        (P, "That sounds high. Is it dangerous?"),
        (C, "It raises the risk of stroke and heart disease over time, so we should treat it."),
        (C, "Let's start lisinopril ten milligrams once a day and cut back on salt."),
        (P, "All right, I can try that."),
        (C, "We'll check your kidney function in two weeks and see you in a month."),
    ],
    [
        (C, "How has your asthma been since the last visit?"),
        (P, "Worse at night. I wake up coughing two or three times a week."),
        (C, "How often are you using the rescue inhaler?"),
        (P, "Almost every day now, especially when it's cold outside."),
        (C, "Are you still taking the steroid inhaler every morning?"),
        (P, "I ran out a month ago and didn't refill it."),
        (C, "That explains a lot. Your lungs have a mild wheeze on both sides."),
        (C, "Please restart the fluticasone inhaler, two puffs twice a day."),
        (P, "Should I keep the rescue inhaler with me?"),
        (C, "Yes, and rinse your mouth after the steroid inhaler."),
        (P, "Okay, I'll pick it up today."),
        (C, "Come back in four weeks, or sooner if you need the rescue inhaler more."),
    ],
    [
        (C, "What seems to be the problem with your ankle?"),
        (P, "I rolled it playing basketball yesterday and heard a pop."),
        (C, "Could you walk on it right afterwards?"),
        (P, "A few steps, but it swelled up fast and now it's purple."),
        (C, "I'm going to press on a few spots. Tell me where it hurts."),
        (P, "Right there on the outside, below the bone."),
        (C, "There's tenderness over the ligament but not over the bone itself."),
        (C, "You don't need an x-ray. This is a moderate ankle sprain."),
        (P, "How long until I can play again?"),
        (C, "Usually three to six weeks. Rest, ice, compression and elevation for now."),
        (P, "Can I take ibuprofen for the pain?"),
        (C, "Yes, four hundred milligrams with food up to three times a day."),
    ],
]

DIALOGUES_3 = [
    [
        (C, "Good afternoon. What brings you both in today?"),
        (P, "My memory has been slipping. I forget where I put things."),
        (F, "It's more than that, doctor. Last week she left the stove on twice."),
        (C, "How long has this been going on?"),
        (P, "Maybe six months, I'm not really sure."),
        (F, "I'd say closer to a year. She also gets lost driving to my house."),
        (C, "Are you taking any new medicines, or sleeping poorly?"),
        (P, "Just my blood pressure pill, and I sleep fine."),
        (C, "I'd like to do a short memory test and some blood work today."),
        (F, "Should she still be driving in the meantime?"),
        (C, "I'd hold off on driving until we have the results."),
        (P, "All right, if you both think so."),
        (F, "I can drive her to the follow up appointment."),
        (C, "Good. We'll also order a scan of the brain and meet again in two weeks."),
    ],
    [
        (C, "Hello. I hear you've had a fall at home."),
        (P, "Yes, I slipped in the bathroom on Sunday and hurt my hip."),
        (F, "Dad didn't tell anyone for a whole day. I found him limping."),
        (C, "Did you hit your head or lose consciousness?"),
        (P, "No, I landed on my side, on the hip."),
        (C, "Can you stand up and walk a few steps for me?"),
        (F, "He's been using my mother's old cane since then."),
        (C, "There's bruising over the hip and pain when I rotate the leg."),
        (C, "We need an x-ray of the hip to rule out a fracture."),
        (P, "I really don't want to stay in the hospital."),
        (F, "Dad, please, let's just get the x-ray and see what it shows."),
        (C, "If it's not broken, you'll go home with physical therapy and a walker."),
    ],
    [
        (C, "What can I do for you today?"),
        (P, "I've been short of breath climbing stairs for a few weeks."),
        (F, "He's been coughing at night too, and his ankles are puffy."),
        (C, "Any chest pain or pressure?"),
        (P, "A tightness now and then, when I walk fast."),
        (C, "Your ankles are swollen, and I hear crackles at the base of both lungs."),
        (F, "His father had heart failure. Is that what this is?"),
        (C, "It may be. We'll get an echocardiogram, a chest x-ray and blood tests."),
        (P, "Do I need to stop working?"),
        (C, "Not for now, but avoid heavy lifting until we know more."),
        (F, "I'll make sure he takes the water pill every morning."),
        (C, "Furosemide twenty milligrams daily, and weigh yourself each morning."),
    ],
    [
        (C, "Hi there. How is the new insulin going?"),
        (P, "I think it's fine, but my sugars are all over the place."),
        (F, "Mom skips lunch a lot, and then her sugar drops in the afternoon."),
        (C, "Have you had any shaky or sweaty spells?"),
        (P, "Once or twice, I drank juice and it passed."),
        (F, "Last Tuesday it was fifty two and she was very confused."),
        (C, "That's a low reading. Let's lower the evening insulin to eighteen units."),
        (P, "Will that make the morning numbers go up?"),
        (C, "A little, but lows are more dangerous than a slightly high morning sugar."),
        (F, "Should we keep glucose tablets at home?"),
        (C, "Yes, keep them in her bag and by the bed, and check before driving."),
        (P, "Okay, I can do that."),
    ],
]

# ---------------------------------------------------------------- voices

# engine:voice. flite voices as the samples synthesize them; espeak-ng voices are a
# language (accent) plus a variant (+m3: a male voice, +f2: a female one), which changes
# pitch and formants.
TUNING_VOICES = {
    "flite:rms": "M", "flite:slt": "F", "flite:awb": "M",
    "espeak:en-us+m3": "M", "espeak:en-gb+f2": "F", "espeak:en-us+f4": "F",
}
HELD_OUT_VOICES = {
    "flite:kal16": "M", "espeak:en-gb-x-rp+m4": "M", "espeak:en-029+f3": "F",
    "espeak:en-gb-scotland+m7": "M", "espeak:en-us-nyc+f5": "F",
}


@dataclass(frozen=True)
class VoiceVisit:
    """One synthetic visit: ``turns`` are (role, text) in order; ``voices`` maps role to
    ``engine:voice``."""

    name: str
    voices: dict
    turns: tuple
    dictation: bool = False

    @property
    def speakers(self) -> int:
        return len({role for role, _ in self.turns})


def _dictation(name: str, i: int, voice: str) -> VoiceVisit:
    return VoiceVisit(name, {C: voice}, tuple((C, t) for t in DICTATIONS[i]), dictation=True)


def _dialogue(name: str, script: list, voices: dict) -> VoiceVisit:
    return VoiceVisit(name, voices, tuple(script))


# Each count's visits use different scripts and voice combinations, mixing engines and
# genders as an exam room mixes people; a held-out visit uses held-out voices only.
TUNING = [
    _dictation("tune1_rms", 0, "flite:rms"),
    _dictation("tune1_slt", 1, "flite:slt"),
    _dictation("tune1_en-us+m3", 2, "espeak:en-us+m3"),
    _dictation("tune1_en-gb+f2", 3, "espeak:en-gb+f2"),
    _dialogue("tune2_awb_slt", DIALOGUES_2[0], {C: "flite:awb", P: "flite:slt"}),
    _dialogue("tune2_en-gb+f2_rms", DIALOGUES_2[1], {C: "espeak:en-gb+f2", P: "flite:rms"}),
    _dialogue("tune2_rms_en-us+m3", DIALOGUES_2[2], {C: "flite:rms", P: "espeak:en-us+m3"}),
    _dialogue("tune2_en-us+f4_awb", DIALOGUES_2[3], {C: "espeak:en-us+f4", P: "flite:awb"}),
    _dialogue("tune3_rms_slt_awb", DIALOGUES_3[0], {C: "flite:rms", P: "flite:slt", F: "flite:awb"}),
    _dialogue("tune3_slt_rms_en-us+m3", DIALOGUES_3[1], {C: "flite:slt", P: "flite:rms", F: "espeak:en-us+m3"}),
    _dialogue("tune3_awb_en-gb+f2_rms", DIALOGUES_3[2], {C: "flite:awb", P: "espeak:en-gb+f2", F: "flite:rms"}),
    _dialogue("tune3_en-us+m3_slt_en-us+f4", DIALOGUES_3[3], {C: "espeak:en-us+m3", P: "flite:slt", F: "espeak:en-us+f4"}),
]
HELD_OUT = [
    _dictation("held1_kal16", 1, "flite:kal16"),
    _dictation("held1_en-gb-x-rp+m4", 0, "espeak:en-gb-x-rp+m4"),
    _dictation("held1_en-029+f3", 3, "espeak:en-029+f3"),
    _dialogue("held2_kal16_en-029+f3", DIALOGUES_2[2], {C: "flite:kal16", P: "espeak:en-029+f3"}),
    _dialogue("held2_en-us-nyc+f5_en-gb-x-rp+m4", DIALOGUES_2[3],
              {C: "espeak:en-us-nyc+f5", P: "espeak:en-gb-x-rp+m4"}),
    _dialogue("held2_en-gb-scotland+m7_kal16", DIALOGUES_2[0], {C: "espeak:en-gb-scotland+m7", P: "flite:kal16"}),
    _dialogue("held3_kal16_en-029+f3_en-gb-x-rp+m4", DIALOGUES_3[1],
              {C: "flite:kal16", P: "espeak:en-029+f3", F: "espeak:en-gb-x-rp+m4"}),
    _dialogue("held3_en-us-nyc+f5_kal16_en-029+f3", DIALOGUES_3[2],
              {C: "espeak:en-us-nyc+f5", P: "flite:kal16", F: "espeak:en-029+f3"}),
    _dialogue("held3_en-gb-scotland+m7_en-us-nyc+f5_kal16", DIALOGUES_3[3],
              {C: "espeak:en-gb-scotland+m7", P: "espeak:en-us-nyc+f5", F: "flite:kal16"}),
]
VISITS = {v.name: v for v in TUNING + HELD_OUT}

# ---------------------------------------------------------------- synthesis


def _espeak(text: str, voice: str, tmp: Path) -> np.ndarray:
    out = tmp / "turn.wav"
    out.unlink(missing_ok=True)
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(ESPEAK_RATE), "-w", str(out), text],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"espeak-ng voice {voice!r} failed: {proc.stderr.strip()[:200]}")
    audio, sr = sf.read(str(out), dtype="float64", always_2d=True)
    return resample(audio.mean(axis=1), sr, SAMPLE_RATE)


def _speak(text: str, voice: str, tmp: Path) -> np.ndarray:
    engine, _, name = voice.partition(":")
    audio = _espeak(text, name, tmp) if engine == "espeak" else flite_synthesize(text, engine, name, tmp)
    return level(trim(audio))


def missing_tools(visits=None) -> list[str]:
    """The synthesizers ``visits`` (default: all) need that are not on PATH."""
    engines = {v.partition(":")[0] for visit in (visits or VISITS.values()) for v in visit.voices.values()}
    binaries = {"flite": "flite", "espeak": "espeak-ng"}
    return sorted(binaries[e] for e in engines if shutil.which(binaries[e]) is None)


def _key(visit: VoiceVisit) -> str:
    blob = repr((GENERATOR_VERSION, SEED, GAP_RANGE, DICTATION_PAUSE, ESPEAK_RATE,
                 sorted(visit.voices.items()), visit.turns, visit.dictation))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make(visit: VoiceVisit, cache: Path = CACHE) -> tuple[Path, Path]:
    """The visit's WAV (16 kHz mono 16-bit) and reference RTTM (speaker = role), made
    once and cached under ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = cache / f"{visit.name}-{_key(visit)}"
    wav, rttm = stem.with_suffix(".wav"), stem.with_suffix(".rttm")
    if wav.exists() and rttm.exists():
        return wav, rttm
    rng = random.Random(SEED ^ zlib.crc32(visit.name.encode()))
    gaps = DICTATION_PAUSE if visit.dictation else GAP_RANGE
    pieces = [np.zeros(int(LEAD_SILENCE * SAMPLE_RATE))]
    cursor = len(pieces[0])
    lines = []
    with tempfile.TemporaryDirectory(prefix="scribe-voice-visit-") as tmpdir:
        for i, (role, text) in enumerate(visit.turns):
            if i:
                gap = np.zeros(int(round(rng.uniform(*gaps), 2) * SAMPLE_RATE))
                pieces.append(gap)
                cursor += len(gap)
            speech = _speak(text, visit.voices[role], Path(tmpdir))
            lines.append(f"SPEAKER {visit.name} 1 {cursor / SAMPLE_RATE:.3f} {len(speech) / SAMPLE_RATE:.3f} "
                         f"<NA> <NA> {role} <NA> <NA>\n")
            pieces.append(speech)
            cursor += len(speech)
    pieces.append(np.zeros(int(TAIL_SILENCE * SAMPLE_RATE)))
    pcm = np.clip(np.round(np.concatenate(pieces) * 32767), -32768, 32767).astype(np.int16)
    part = stem.with_suffix(".part.wav")
    sf.write(str(part), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    rttm.write_text("".join(lines), encoding="utf-8")
    part.replace(wav)  # the WAV last: its presence means the pair is complete
    return wav, rttm


if __name__ == "__main__":
    t0 = time.perf_counter()
    for v in VISITS.values():
        t = time.perf_counter()
        wav, _ = make(v)
        print(f"{v.name:45} {v.speakers} voices  {sf.info(str(wav)).duration:5.1f} s  "
              f"{time.perf_counter() - t:.2f} s")
    print(f"{len(VISITS)} visits in {time.perf_counter() - t0:.1f} s ({CACHE})")
