"""Synthetic mixed-language visits (English with Spanish or Italian), made at run time.

Each visit is a clinic script whose turns carry a role (clinician, patient, companion),
the language the turn is spoken in, the text as spoken and the turn's English reference.
Three shapes, for Spanish and for Italian:

- the clinician speaks English and the patient Spanish (or Italian);
- both speak Spanish (or Italian) throughout;
- the clinician speaks English, the patient Spanish (or Italian), and a companion (a
  daughter, son or granddaughter) interprets each patient turn into English.

Every visit also has an all-English rendering of the SAME script
(``visit.in_english()``, named ``<name>_en``): each turn's English text spoken by English
voices, so a note drafted from the translated mixed visit can be compared with one
drafted from the English visit on the same facts.

Voices. Spanish comes from espeak-ng only (``es``, ``es-419`` and their ``+m``/``+f``
variants): festival has no Spanish voice in this apt archive (``festvox-ellpc11k`` is
absent; ``apt-cache search festvox`` lists Italian, Catalan, Czech, Finnish, Russian and
Indic voices but no Spanish one), and espeak-ng's mbrola voices need mbrola data that is
not installed. Italian comes from festival (``festvox-italp16k``: ``lp_diphone``, female;
``festvox-itapc16k``: ``pc_diphone``, male) and espeak-ng ``it``. English turns come from
flite (as ``samples/make_samples.py`` synthesizes) and espeak-ng English accents.

As ``tests/voice_visits.py``: every turn is trimmed and level-matched as
``samples/make_samples.py`` does, turns are joined with seeded gaps, and nothing is stored
in git: the WAV (16 kHz mono 16-bit) and its reference JSON are written to a cache folder
under the system temp dir, keyed by a hash of the script, the voices and this generator's
settings, so a second run reads them back. The JSON holds, per turn, ``start``/``end``
seconds (tight to the trimmed speech), ``role``, ``language``, ``text`` (as spoken),
``english`` (the reference translation) and ``voice``.

``TUNING`` (4 Spanish + 2 Italian visits) is for choosing thresholds; ``HELD_OUT``
(3 Spanish + 2 Italian) uses other scripts and voices absent from the tuning set
(flite kal16, espeak-ng es+m7/es-419+f4/es-419+m4/es+f2, festival pc_diphone, espeak-ng
it+f2 and other English accents), to report on. Numbers are written as words, in every
language, as the other synthetic visits do. The scripts were written for the Scribe
project; they are fictional and describe no real patient.

    python -m tests.language_visits            # make (or find) every visit, print times
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from privacy import SAMPLE_RATE
from samples.make_samples import SampleError, level, resample, trim
from samples.make_samples import synthesize as flite_synthesize

GENERATOR_VERSION = "1"  # bump when the audio a script gives changes
CACHE = Path(tempfile.gettempdir()) / "scribe-language-visits"
SEED = 20261130
LEAD_SILENCE, TAIL_SILENCE = 0.5, 1.0  # seconds, as the samples
GAP_RANGE = (0.35, 0.9)  # seconds between turns, as the samples
ESPEAK_RATE = 155  # words a minute: espeak-ng's default 175 is brisker than a visit
SOURCE = "Written for the Scribe project as a synthetic mixed-language visit. Fictional; no real patient."

C, P, F = "clinician", "patient", "companion"
ROLES = (C, P, F)
LANGUAGES = ("en", "es", "it")


@dataclass(frozen=True)
class Turn:
    """One turn: ``text`` is what is spoken, in ``language``; ``english`` its reference
    English (equal to ``text`` for an English turn)."""

    role: str
    language: str
    text: str
    english: str


def _en(role: str, text: str) -> Turn:
    return Turn(role, "en", text, text)


def _es(role: str, text: str, english: str) -> Turn:
    return Turn(role, "es", text, english)


def _it(role: str, text: str, english: str) -> Turn:
    return Turn(role, "it", text, english)


# ---------------------------------------------------------------- scripts (fictional)

ES_GASTRITIS = [  # clinician English, patient Spanish
    _en(C, "Good morning. What brings you in today?"),
    _es(P, "Tengo dolor en la parte alta del estómago desde hace dos semanas.",
        "I have had pain in the upper part of my stomach for two weeks."),
    _en(C, "Is the pain worse before or after you eat?"),
    _es(P, "Empeora después de comer, sobre todo con comida picante o con café.",
        "It gets worse after eating, especially with spicy food or with coffee."),
    _en(C, "Have you seen any blood or a black color in your stool?"),
    _es(P, "No, nada de sangre, pero a veces tengo náuseas por la mañana.",
        "No, no blood at all, but sometimes I feel nauseous in the morning."),
    _en(C, "Are you taking any pain medicines, like ibuprofen?"),
    _es(P, "Sí, tomo ibuprofeno cuatrocientos miligramos tres veces al día por la espalda.",
        "Yes, I take ibuprofen four hundred milligrams three times a day for my back."),
    _en(C, "Do you have any allergies to medicines?"),
    _es(P, "Soy alérgica a la penicilina, me salen ronchas.",
        "I am allergic to penicillin, I break out in hives."),
    _en(C, "Your belly is tender in the upper middle area, with no guarding."),
    _en(C, "This looks like gastritis, probably from the ibuprofen."),
    _en(C, "Please stop the ibuprofen and start omeprazole twenty milligrams every morning before breakfast."),
    _es(P, "¿Y qué puedo tomar para el dolor de espalda?", "And what can I take for my back pain?"),
    _en(C, "Acetaminophen five hundred milligrams, up to three times a day."),
    _es(P, "Está bien. ¿Cuándo tengo que volver?", "All right. When do I have to come back?"),
    _en(C, "In four weeks, or right away if you vomit blood or have black stools."),
]

ES_UTI = [  # clinician English, patient Spanish
    _en(C, "Hello, what's going on today?"),
    _es(P, "Me arde al orinar desde hace tres días y voy al baño muy seguido.",
        "It has burned when I urinate for three days and I go to the bathroom very often."),
    _en(C, "Any fever, chills, or pain in your back?"),
    _es(P, "Anoche tuve fiebre de treinta y ocho grados, pero no me duele la espalda.",
        "Last night I had a fever of thirty eight degrees, but my back does not hurt."),
    _en(C, "Is there any chance you could be pregnant?"),
    _es(P, "No, tengo un dispositivo intrauterino desde hace dos años.",
        "No, I have had an intrauterine device for two years."),
    _en(C, "Have you had a urinary infection before?"),
    _es(P, "Sí, una vez el año pasado, y me dieron un antibiótico por cinco días.",
        "Yes, once last year, and they gave me an antibiotic for five days."),
    _en(C, "Are you allergic to any medicine?"),
    _es(P, "No, no tengo alergias.", "No, I have no allergies."),
    _en(C, "The urine dipstick shows white cells and nitrites, so this is a bladder infection."),
    _en(C, "There is no tenderness over your kidneys."),
    _en(C, "Take nitrofurantoin one hundred milligrams twice a day for five days."),
    _es(P, "¿Puedo tomar algo para el ardor?", "Can I take something for the burning?"),
    _en(C, "Yes, drink plenty of water, and phenazopyridine for two days if you need it."),
    _en(C, "Call us if the fever goes above thirty nine or your back starts to hurt."),
    _es(P, "Muchas gracias, doctora.", "Thank you very much, doctor."),
]

ES_DIABETES = [  # all Spanish
    _es(C, "Buenos días, señor Ramírez. ¿Cómo ha estado con la diabetes?",
        "Good morning, Mr. Ramirez. How have you been with your diabetes?"),
    _es(P, "Más o menos, doctor. Tengo mucha sed y me levanto a orinar tres veces por la noche.",
        "So so, doctor. I am very thirsty and I get up to urinate three times a night."),
    _es(C, "¿Está tomando la metformina todos los días?", "Are you taking the metformin every day?"),
    _es(P, "Sí, ochocientos cincuenta miligramos dos veces al día, con el desayuno y con la cena.",
        "Yes, eight hundred fifty milligrams twice a day, with breakfast and with dinner."),
    _es(C, "¿Cuánto le sale el azúcar en ayunas?", "What is your fasting sugar?"),
    _es(P, "Entre ciento ochenta y doscientos casi todas las mañanas.",
        "Between one hundred eighty and two hundred almost every morning."),
    _es(C, "¿Ha tenido hormigueo o heridas en los pies?", "Have you had tingling or sores on your feet?"),
    _es(P, "Un poco de hormigueo en los dedos de los pies por la noche.",
        "A little tingling in my toes at night."),
    _es(C, "Su hemoglobina glicosilada de hoy es nueve punto uno.",
        "Your hemoglobin A1c today is nine point one."),
    _es(C, "La presión está en ciento treinta y ocho sobre ochenta y cuatro.",
        "Your blood pressure is one hundred thirty eight over eighty four."),
    _es(C, "En los pies la sensibilidad está disminuida en los dos lados, sin heridas.",
        "On your feet, sensation is reduced on both sides, with no sores."),
    _es(C, "Vamos a agregar empagliflozina diez miligramos una vez al día.",
        "We will add empagliflozin ten milligrams once a day."),
    _es(P, "¿Tiene efectos secundarios?", "Does it have side effects?"),
    _es(C, "Puede causar infecciones urinarias, así que tome bastante agua.",
        "It can cause urinary infections, so drink plenty of water."),
    _es(C, "Lo veo en tres meses con análisis de sangre.", "I will see you in three months with blood tests."),
    _es(P, "Gracias, doctor, así lo haré.", "Thank you, doctor, I will do that."),
]

ES_KNEE_INTERPRETER = [  # clinician English, patient Spanish, daughter interprets
    _en(C, "Good afternoon. I understand your daughter will interpret for you today."),
    _en(F, "Yes, I will translate for my mother."),
    _en(C, "Please ask her what the problem is."),
    _es(P, "Me duele la rodilla derecha desde hace un mes, sobre todo al subir escaleras.",
        "My right knee has hurt for a month, especially when I climb stairs."),
    _en(F, "She says her right knee has hurt for a month, especially on the stairs."),
    _en(C, "Did she fall or twist the knee?"),
    _es(P, "No me caí. Se hincha por la tarde y está rígida por la mañana.",
        "I did not fall. It swells in the afternoon and it is stiff in the morning."),
    _en(F, "She didn't fall. It swells in the afternoon and it is stiff in the morning."),
    _en(C, "What has she taken for the pain?"),
    _es(P, "Paracetamol de quinientos miligramos, dos veces al día, y no me ayuda mucho.",
        "Paracetamol five hundred milligrams, twice a day, and it does not help me much."),
    _en(F, "Acetaminophen five hundred milligrams twice a day, and it doesn't help much."),
    _en(C, "There is a small effusion and crepitus in the right knee, with full range of motion."),
    _en(C, "This is most likely osteoarthritis. We will get an x-ray of both knees."),
    _en(C, "She can use diclofenac gel on the knee four times a day, and start physical therapy."),
    _es(P, "¿Puedo seguir caminando todos los días?", "Can I keep walking every day?"),
    _en(F, "She asks if she can keep walking every day."),
    _en(C, "Yes, walking on flat ground is good for her. Follow up in six weeks."),
]

IT_BRONCHITIS = [  # clinician English, patient Italian
    _en(C, "Good morning. What brings you in today?"),
    _it(P, "Ho la tosse da dieci giorni e adesso ho anche il catarro giallo.",
        "I have had a cough for ten days and now I also have yellow phlegm."),
    _en(C, "Have you had a fever?"),
    _it(P, "Sì, trentotto e mezzo ieri sera, con i brividi.",
        "Yes, thirty eight and a half last night, with chills."),
    _en(C, "Any shortness of breath or chest pain?"),
    _it(P, "Mi manca un po' il fiato quando salgo le scale.",
        "I get a little short of breath when I climb the stairs."),
    _en(C, "Do you smoke?"),
    _it(P, "Fumo dieci sigarette al giorno da venti anni.",
        "I smoke ten cigarettes a day, for twenty years."),
    _en(C, "Any allergies to medicines?"),
    _it(P, "Sono allergico all'amoxicillina, mi viene l'orticaria.",
        "I am allergic to amoxicillin, I get hives."),
    _en(C, "Your oxygen level is ninety six percent, and I hear crackles at the right lung base."),
    _en(C, "I would like a chest x-ray today to check for pneumonia."),
    _en(C, "Because of the allergy, we will use doxycycline one hundred milligrams twice a day for seven days."),
    _it(P, "Devo restare a casa dal lavoro?", "Do I have to stay home from work?"),
    _en(C, "Yes, for three days, and come back if your breathing gets worse."),
    _it(P, "Va bene, grazie dottore.", "All right, thank you doctor."),
]

IT_BLOOD_PRESSURE = [  # all Italian
    _it(C, "Buongiorno signora Bianchi, come sta oggi?", "Good morning Mrs. Bianchi, how are you today?"),
    _it(P, "Ho mal di testa ogni mattina da due settimane.",
        "I have had a headache every morning for two weeks."),
    _it(C, "Ha misurato la pressione a casa?", "Have you measured your blood pressure at home?"),
    _it(P, "Sì, la massima è sempre sopra centosessanta.",
        "Yes, the top number is always above one hundred sixty."),
    _it(C, "Prende ancora l'amlodipina cinque milligrammi?", "Are you still taking amlodipine five milligrams?"),
    _it(P, "Sì, una compressa la mattina, non ho mai saltato una dose.",
        "Yes, one tablet in the morning, I have never missed a dose."),
    _it(C, "Ha dolore al petto o problemi alla vista?", "Do you have chest pain or problems with your vision?"),
    _it(P, "No, solo un po' di stanchezza.", "No, just a little tiredness."),
    _it(C, "Oggi la pressione è centocinquantotto su novantaquattro.",
        "Today your blood pressure is one hundred fifty eight over ninety four."),
    _it(C, "Il cuore è regolare e non ci sono gonfiori alle caviglie.",
        "Your heart is regular and there is no swelling in your ankles."),
    _it(C, "Aumentiamo l'amlodipina a dieci milligrammi al giorno.",
        "We will increase the amlodipine to ten milligrams a day."),
    _it(C, "Faccia anche gli esami del sangue per i reni la prossima settimana.",
        "Also have blood tests for your kidneys next week."),
    _it(P, "Devo mangiare meno sale?", "Should I eat less salt?"),
    _it(C, "Sì, e cammini mezz'ora al giorno. Ci vediamo tra un mese.",
        "Yes, and walk half an hour a day. I will see you in a month."),
]

ES_RASH = [  # clinician English, patient Spanish
    _en(C, "Hi, what can I help you with today?"),
    _es(P, "Me salió un sarpullido en el pecho y en los brazos hace dos días.",
        "I got a rash on my chest and on my arms two days ago."),
    _en(C, "Did you start any new medicine recently?"),
    _es(P, "Sí, hace una semana me dieron sulfametoxazol con trimetoprima para una infección de orina.",
        "Yes, a week ago they gave me sulfamethoxazole with trimethoprim for a urine infection."),
    _en(C, "Is the rash itchy, and do you have any trouble breathing or swelling of the lips?"),
    _es(P, "Me pica mucho, pero respiro bien y no tengo la boca hinchada.",
        "It itches a lot, but I breathe fine and my mouth is not swollen."),
    _en(C, "Any blisters, or sores in your mouth or eyes?"),
    _es(P, "No, nada de eso.", "No, none of that."),
    _en(C, "You have a red raised rash on the chest and both arms, with no blisters."),
    _en(C, "This is a drug rash from the sulfa antibiotic. Please stop it today."),
    _en(C, "Take cetirizine ten milligrams once a day for the itching."),
    _en(C, "I will add sulfa drugs to your allergy list."),
    _es(P, "¿Y la infección de orina ya se curó?", "And is the urine infection cured already?"),
    _en(C, "You took it for six days, which is enough. We will recheck your urine today to be sure."),
    _es(P, "Está bien. ¿Qué hago si se pone peor?", "All right. What do I do if it gets worse?"),
    _en(C, "Go to the emergency room if you get blisters, a fever, or swelling of the face."),
]

ES_GOUT = [  # all Spanish
    _es(C, "Buenas tardes. ¿Qué le pasó en el pie?", "Good afternoon. What happened to your foot?"),
    _es(P, "Me desperté anoche con un dolor terrible en el dedo gordo del pie izquierdo.",
        "I woke up last night with terrible pain in the big toe of my left foot."),
    _es(C, "¿Le había pasado antes?", "Has this happened to you before?"),
    _es(P, "Sí, hace un año, pero en el otro pie, y me duró una semana.",
        "Yes, a year ago, but in the other foot, and it lasted a week."),
    _es(C, "¿Qué comió o bebió ayer?", "What did you eat or drink yesterday?"),
    _es(P, "Fui a una boda. Comí mariscos y tomé varias cervezas.",
        "I went to a wedding. I ate seafood and drank several beers."),
    _es(C, "¿Toma algún medicamento?", "Do you take any medication?"),
    _es(P, "Hidroclorotiazida de veinticinco miligramos para la presión.",
        "Hydrochlorothiazide twenty five milligrams for blood pressure."),
    _es(C, "El dedo está rojo, caliente e hinchado, y le duele mucho al tocarlo.",
        "The toe is red, hot and swollen, and it hurts a lot when touched."),
    _es(C, "Es un ataque de gota.", "This is a gout attack."),
    _es(C, "Le voy a dar colchicina, cero punto seis miligramos dos veces al día.",
        "I am going to give you colchicine, zero point six milligrams twice a day."),
    _es(C, "Vamos a cambiar la hidroclorotiazida por losartán de cincuenta miligramos.",
        "We will switch the hydrochlorothiazide to losartan fifty milligrams."),
    _es(P, "¿Necesito hacerme análisis?", "Do I need to get tests?"),
    _es(C, "Sí, ácido úrico y función renal en dos semanas, cuando se le quite el dolor.",
        "Yes, uric acid and kidney function in two weeks, when the pain is gone."),
    _es(C, "Evite la cerveza y los mariscos, y regrese en un mes.",
        "Avoid beer and seafood, and come back in a month."),
]

ES_COPD_INTERPRETER = [  # clinician English, patient Spanish, son interprets
    _en(C, "Hello, thank you for coming in. Your son will interpret for you today?"),
    _en(F, "Yes, I will translate everything for my father."),
    _en(C, "Please ask him how his breathing has been."),
    _es(P, "Me falta el aire cuando camino una cuadra, y toso todas las mañanas.",
        "I get short of breath when I walk one block, and I cough every morning."),
    _en(F, "He gets short of breath after one block, and he coughs every morning."),
    _en(C, "Does he bring up any phlegm, and what color is it?"),
    _es(P, "Sí, flema blanca, un poco más que antes.", "Yes, white phlegm, a little more than before."),
    _en(F, "Yes, white phlegm, a bit more than usual."),
    _en(C, "Is he using his tiotropium inhaler?"),
    _es(P, "Lo uso una vez al día, pero el inhalador de rescate lo uso cuatro veces al día.",
        "I use it once a day, but I use the rescue inhaler four times a day."),
    _en(F, "Once a day, but he uses the rescue inhaler four times a day."),
    _en(C, "His oxygen is ninety one percent, and there is wheezing in both lungs."),
    _en(C, "We will add a combination inhaler, budesonide and formoterol, two puffs twice a day."),
    _en(C, "And prednisone forty milligrams a day for five days."),
    _es(P, "¿Tengo que ir al hospital?", "Do I have to go to the hospital?"),
    _en(F, "He asks if he has to go to the hospital."),
    _en(C, "Not today. But go to the emergency room if his lips turn blue or he cannot finish a sentence."),
    _en(C, "I will see him again in one week."),
]

IT_PALPITATIONS = [  # clinician English, patient Italian
    _en(C, "Good afternoon. What brings you in?"),
    _it(P, "Da tre giorni sento il cuore che batte forte e in modo irregolare.",
        "For three days I have felt my heart beating hard and irregularly."),
    _en(C, "Do you feel dizzy or faint, or have any chest pain?"),
    _it(P, "Un po' di capogiro quando mi alzo, ma niente dolore al petto.",
        "A little dizziness when I stand up, but no chest pain."),
    _en(C, "Do you drink coffee or alcohol?"),
    _it(P, "Quattro caffè al giorno e un bicchiere di vino a cena.",
        "Four coffees a day and a glass of wine at dinner."),
    _en(C, "What medicines do you take?"),
    _it(P, "Solo levotiroxina cinquanta microgrammi per la tiroide.",
        "Only levothyroxine fifty micrograms for my thyroid."),
    _en(C, "Your pulse is irregular at one hundred and ten, and your blood pressure is one twenty eight over seventy six."),
    _en(C, "The ECG shows atrial fibrillation."),
    _en(C, "We will start metoprolol twenty five milligrams twice a day to slow the heart rate."),
    _en(C, "And apixaban five milligrams twice a day to prevent a stroke."),
    _it(P, "È pericoloso? Devo preoccuparmi?", "Is it dangerous? Should I worry?"),
    _en(C, "It is common and treatable. We will check your thyroid and get an ultrasound of the heart."),
    _it(P, "Va bene. Riduco anche il caffè.", "All right. I will also cut down on coffee."),
    _en(C, "Good idea. Come back in two weeks."),
]

IT_WRIST_INTERPRETER = [  # clinician English, patient Italian, granddaughter interprets
    _en(C, "Hello. Your granddaughter is going to interpret today, is that right?"),
    _en(F, "Yes, I will translate for my grandmother."),
    _en(C, "Please ask her what happened."),
    _it(P, "Sono caduta in cucina ieri mattina e ho messo avanti la mano sinistra.",
        "I fell in the kitchen yesterday morning and put out my left hand."),
    _en(F, "She fell in the kitchen yesterday morning and landed on her left hand."),
    _en(C, "Did she hit her head or lose consciousness?"),
    _it(P, "No, la testa no. Il polso è gonfio e non riesco a girarlo.",
        "No, not my head. The wrist is swollen and I cannot turn it."),
    _en(F, "No, not her head. The wrist is swollen and she can't turn it."),
    _en(C, "Does she take any blood thinners?"),
    _it(P, "Prendo il warfarin per il cuore, tre milligrammi al giorno.",
        "I take warfarin for my heart, three milligrams a day."),
    _en(F, "She takes warfarin for her heart, three milligrams a day."),
    _en(C, "The left wrist is swollen and tender over the radius, and her fingers have good circulation."),
    _en(C, "The x-ray shows a fracture of the distal radius, without displacement."),
    _en(C, "We will put on a cast for six weeks, and check her INR today because of the warfarin."),
    _it(P, "Posso prendere qualcosa per il dolore?", "Can I take something for the pain?"),
    _en(F, "She asks what she can take for the pain."),
    _en(C, "Paracetamol one gram up to three times a day, but no ibuprofen with the warfarin."),
    _en(C, "She should see orthopedics in one week."),
]

# ---------------------------------------------------------------- voices

# engine:voice -> (language, gender). espeak-ng voices are a language (accent) plus a
# variant (+m3: a male voice, +f2: a female one); festival voices are diphone voices.
VOICE_LANGUAGE = {
    # tuning
    "flite:rms": "en", "flite:slt": "en", "flite:awb": "en", "espeak:en-us+m3": "en", "espeak:en-us+f4": "en",
    "espeak:es+f3": "es", "espeak:es-419+m3": "es", "espeak:es-419+f3": "es", "espeak:es+m2": "es",
    "festival:lp_diphone": "it", "espeak:it+m3": "it",
    # held out
    "flite:kal16": "en", "espeak:en-gb-x-rp+m4": "en", "espeak:en-us-nyc+f5": "en", "espeak:en-029+f3": "en",
    "espeak:es-419+f4": "es", "espeak:es+f2": "es", "espeak:es-419+m4": "es", "espeak:es+m7": "es",
    "festival:pc_diphone": "it", "espeak:it+f2": "it",
}


@dataclass(frozen=True)
class LanguageVisit:
    """One synthetic visit. ``turns`` are :class:`Turn` in order; ``voices`` maps role to
    ``engine:voice`` for the visit as spoken, ``english_voices`` role to an English voice
    for the all-English rendering; ``language`` is the visit's other language (es, it)."""

    name: str
    language: str
    turns: tuple
    voices: dict
    english_voices: dict
    shape: str  # "mixed", "monolingual" or "interpreter"

    def __post_init__(self):
        for t in self.turns:
            voice = self.voices.get(t.role)
            if voice is None:
                raise ValueError(f"{self.name}: no voice for role {t.role!r}")
            if VOICE_LANGUAGE.get(voice) != t.language:
                raise ValueError(f"{self.name}: {t.role} turn in {t.language!r} but voice {voice!r} "
                                 f"speaks {VOICE_LANGUAGE.get(voice)!r}")

    @property
    def languages(self) -> list[str]:
        return sorted({t.language for t in self.turns})

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if any(t.role == r for t in self.turns)]

    def in_english(self) -> LanguageVisit:
        """The same script, every turn's English spoken by the English voices."""
        if self.name.endswith("_en"):
            return self
        return replace(self, name=f"{self.name}_en", language="en", shape="english",
                       turns=tuple(_en(t.role, t.english) for t in self.turns),
                       voices=dict(self.english_voices))


def _visit(name, language, script, voices, english_voices, shape) -> LanguageVisit:
    return LanguageVisit(name, language, tuple(script), voices, english_voices, shape)


TUNING = [
    _visit("es_tune_gastritis", "es", ES_GASTRITIS,
           {C: "flite:rms", P: "espeak:es+f3"}, {C: "flite:rms", P: "flite:slt"}, "mixed"),
    _visit("es_tune_uti", "es", ES_UTI,
           {C: "flite:slt", P: "espeak:es-419+f3"}, {C: "flite:slt", P: "espeak:en-us+f4"}, "mixed"),
    _visit("es_tune_diabetes", "es", ES_DIABETES,
           {C: "espeak:es+m2", P: "espeak:es-419+m3"}, {C: "flite:awb", P: "espeak:en-us+m3"}, "monolingual"),
    _visit("es_tune_knee_interpreter", "es", ES_KNEE_INTERPRETER,
           {C: "flite:awb", P: "espeak:es+f3", F: "flite:slt"},
           {C: "flite:awb", P: "espeak:en-us+f4", F: "flite:slt"}, "interpreter"),
    _visit("it_tune_bronchitis", "it", IT_BRONCHITIS,
           {C: "flite:slt", P: "espeak:it+m3"}, {C: "flite:slt", P: "flite:rms"}, "mixed"),
    _visit("it_tune_blood_pressure", "it", IT_BLOOD_PRESSURE,
           {C: "espeak:it+m3", P: "festival:lp_diphone"}, {C: "espeak:en-us+m3", P: "flite:slt"}, "monolingual"),
]
HELD_OUT = [
    _visit("es_held_rash", "es", ES_RASH,
           {C: "flite:kal16", P: "espeak:es-419+f4"}, {C: "flite:kal16", P: "espeak:en-us-nyc+f5"}, "mixed"),
    _visit("es_held_gout", "es", ES_GOUT,
           {C: "espeak:es+f2", P: "espeak:es-419+m4"}, {C: "espeak:en-029+f3", P: "flite:kal16"}, "monolingual"),
    _visit("es_held_copd_interpreter", "es", ES_COPD_INTERPRETER,
           {C: "espeak:en-us-nyc+f5", P: "espeak:es+m7", F: "flite:kal16"},
           {C: "espeak:en-us-nyc+f5", P: "espeak:en-gb-x-rp+m4", F: "flite:kal16"}, "interpreter"),
    _visit("it_held_palpitations", "it", IT_PALPITATIONS,
           {C: "espeak:en-gb-x-rp+m4", P: "festival:pc_diphone"},
           {C: "espeak:en-gb-x-rp+m4", P: "flite:kal16"}, "mixed"),
    _visit("it_held_wrist_interpreter", "it", IT_WRIST_INTERPRETER,
           {C: "flite:kal16", P: "espeak:it+f2", F: "espeak:en-029+f3"},
           {C: "flite:kal16", P: "espeak:en-us-nyc+f5", F: "espeak:en-029+f3"}, "interpreter"),
]
VISITS = {v.name: v for v in TUNING + HELD_OUT}
ENGLISH = {v.in_english().name: v.in_english() for v in TUNING + HELD_OUT}

# ---------------------------------------------------------------- synthesis


class SynthesisError(RuntimeError):
    pass


def _read(out: Path) -> np.ndarray:
    audio, sr = sf.read(str(out), dtype="float64", always_2d=True)
    return resample(audio.mean(axis=1), sr, SAMPLE_RATE)


def _espeak(text: str, voice: str, tmp: Path) -> np.ndarray:
    out = tmp / "turn.wav"
    out.unlink(missing_ok=True)
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(ESPEAK_RATE), "-w", str(out), text],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
        raise SynthesisError(f"espeak-ng voice {voice!r} failed on {text[:50]!r}: {proc.stderr.strip()[:200]}")
    return _read(out)


def _festival(text: str, voice: str, tmp: Path) -> np.ndarray:
    # festival reads its input as ISO-8859-1; the Italian voices' lexicons expect
    # accented letters (è, ì, ...) in that encoding.
    out, txt = tmp / "turn.wav", tmp / "turn.txt"
    out.unlink(missing_ok=True)
    txt.write_bytes((text + "\n").encode("latin-1", errors="replace"))
    proc = subprocess.run(["text2wave", "-eval", f"(voice_{voice})", "-o", str(out), str(txt)],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
        raise SynthesisError(f"festival voice {voice!r} failed on {text[:50]!r}: {proc.stderr.strip()[:200]}")
    return _read(out)


def _speak(text: str, voice: str, tmp: Path) -> np.ndarray:
    engine, _, name = voice.partition(":")
    if engine == "espeak":
        audio = _espeak(text, name, tmp)
    elif engine == "festival":
        audio = _festival(text, name, tmp)
    elif engine == "flite":
        audio = flite_synthesize(text, engine, name, tmp)
    else:
        raise SynthesisError(f"unknown TTS engine {engine!r}")
    try:
        return level(trim(audio))
    except SampleError as e:  # a silent or empty turn
        raise SynthesisError(f"{voice} on {text[:50]!r}: {e}") from e


_FESTIVAL_VOICE_DIRS = {"lp_diphone": "italian/lp_diphone", "pc_diphone": "italian/pc_diphone"}
_FESTIVAL_PACKAGES = {"lp_diphone": "festvox-italp16k", "pc_diphone": "festvox-itapc16k"}


def _festival_voice_installed(name: str) -> bool:
    sub = _FESTIVAL_VOICE_DIRS.get(name)
    return sub is not None and any((Path(root) / "voices" / sub).is_dir()
                                   for root in ("/usr/share/festival", "/usr/lib/festival"))


def missing_tools(visits=None) -> list[str]:
    """What the visits (default: all, and their English renderings) need that is not
    installed: binaries not on PATH, and Debian packages of festival voices not found."""
    visits = list(visits or VISITS.values())
    voices = {v for visit in visits for v in list(visit.voices.values()) + list(visit.english_voices.values())}
    missing = set()
    binaries = {"flite": "flite", "espeak": "espeak-ng", "festival": "text2wave"}
    for voice in voices:
        engine, _, name = voice.partition(":")
        if shutil.which(binaries[engine]) is None:
            missing.add(binaries[engine])
        elif engine == "festival" and not _festival_voice_installed(name):
            missing.add(_FESTIVAL_PACKAGES.get(name, f"festival voice {name}"))
    return sorted(missing)


def _key(visit: LanguageVisit) -> str:
    blob = repr((GENERATOR_VERSION, SEED, GAP_RANGE, ESPEAK_RATE, sorted(visit.voices.items()), visit.turns))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make(visit: LanguageVisit, cache: Path = CACHE) -> tuple[Path, Path]:
    """The visit's WAV (16 kHz mono 16-bit) and reference JSON, made once and cached
    under ``cache``. Raises :class:`SynthesisError` if a synthesizer fails (see
    :func:`missing_tools`)."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    stem = cache / f"{visit.name}-{_key(visit)}"
    wav, ref = stem.with_suffix(".wav"), stem.with_suffix(".json")
    if wav.exists() and ref.exists():
        return wav, ref
    missing = missing_tools([visit])
    if missing:
        raise SynthesisError(f"{visit.name}: missing {', '.join(missing)}")
    rng = random.Random(SEED ^ zlib.crc32(visit.name.encode()))
    pieces = [np.zeros(int(LEAD_SILENCE * SAMPLE_RATE))]
    cursor = len(pieces[0])
    segments = []
    with tempfile.TemporaryDirectory(prefix="scribe-language-visit-") as tmpdir:
        for i, turn in enumerate(visit.turns):
            if i:
                gap = np.zeros(int(round(rng.uniform(*GAP_RANGE), 2) * SAMPLE_RATE))
                pieces.append(gap)
                cursor += len(gap)
            voice = visit.voices[turn.role]
            speech = _speak(turn.text, voice, Path(tmpdir))
            segments.append({
                "start": round(cursor / SAMPLE_RATE, 3), "end": round((cursor + len(speech)) / SAMPLE_RATE, 3),
                "speaker": turn.role, "role": turn.role, "language": turn.language,
                "text": turn.text, "english": turn.english, "voice": voice,
            })
            pieces.append(speech)
            cursor += len(speech)
    pieces.append(np.zeros(int(TAIL_SILENCE * SAMPLE_RATE)))
    pcm = np.clip(np.round(np.concatenate(pieces) * 32767), -32768, 32767).astype(np.int16)
    doc = {
        "uri": visit.name, "duration": round(len(pcm) / SAMPLE_RATE, 3), "source": SOURCE,
        "language": visit.language, "languages": visit.languages, "shape": visit.shape,
        "voices": dict(visit.voices), "segments": segments,
    }
    # per-process part files: two processes making the same visit (pytest-xdist) do not
    # write into each other's files, and the last rename wins with identical content
    part_wav, part_ref = stem.with_suffix(f".{os.getpid()}.part.wav"), stem.with_suffix(f".{os.getpid()}.part.json")
    sf.write(str(part_wav), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    part_ref.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    part_ref.replace(ref)
    part_wav.replace(wav)  # the WAV last: its presence means the pair is complete
    return wav, ref


def reference(visit: LanguageVisit, cache: Path = CACHE) -> dict:
    """The visit's reference JSON (making the visit if needed)."""
    return json.loads(make(visit, cache)[1].read_text(encoding="utf-8"))


if __name__ == "__main__":
    missing = missing_tools()
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (make system-deps)")
    t0 = time.perf_counter()
    for v in list(VISITS.values()) + list(ENGLISH.values()):
        t = time.perf_counter()
        wav, _ = make(v)
        print(f"{v.name:32} {'/'.join(v.languages):6} {len(v.turns):2} turns  "
              f"{sf.info(str(wav)).duration:5.1f} s  {time.perf_counter() - t:.2f} s")
    print(f"{len(VISITS)} visits + {len(ENGLISH)} English renderings in {time.perf_counter() - t0:.1f} s ({CACHE})")
