"""Hand-written visits for the role benchmark's hard set (benchmarks/roles.py).

Written for this project: fictional, they describe no real patient. Each is a list of
``(tag, text)`` turns with tags ``clinician``/``patient``/``other``; the benchmark gives the
speakers anonymous labels. In every one the patient (or a companion) asks most of the
questions and the clinician answers, examines, diagnoses and prescribes: the case where
"whoever asks the questions is the clinician" inverts the roles (issue 14). Two bring a
companion who must come out OTHER. HARD_DIALOGUES were written before the labeller was
tuned (not fitted to, but read while writing its cue lists); HELDOUT_DIALOGUES after.
"""

from __future__ import annotations

# The example: the clinician instructs, the patient asks.
AMOXICILLIN = [
    ("patient", "Hi doctor. Is it strep? My throat is killing me. Do I need antibiotics?"),
    ("clinician", "The rapid strep test came back positive, so yes, this is strep throat."),
    ("patient", "Oh no. Is it contagious? Can I go to work tomorrow?"),
    ("clinician", "Take one tablet of amoxicillin 500 milligrams twice a day for ten days. "
     "After twenty-four hours on the antibiotic you are no longer contagious."),
    ("patient", "Should I take it with food? What if I forget a dose?"),
    ("clinician", "With or without food is fine. If you miss a dose, take it when you remember, "
     "but do not double up. Finish the whole course even when you feel better."),
    ("patient", "What about the pain, can I take ibuprofen?"),
    ("clinician", "Yes, ibuprofen 400 milligrams every six hours as needed for the pain, and "
     "warm salt water gargles help too."),
    ("patient", "Okay. And when should I worry?"),
    ("clinician", "If you cannot swallow liquids, have trouble breathing, or the fever is not "
     "better in three days, come back or call the office."),
    ("patient", "Okay, thank you."),
]

BLOOD_PRESSURE = [
    ("patient", "So what were my numbers? Is my blood pressure still high? Do I need a pill now?"),
    ("clinician", "Your blood pressure today is 152 over 94, and it was 148 over 92 last month. "
     "That is stage two hypertension."),
    ("patient", "Is that dangerous? Could I have a stroke?"),
    ("clinician", "Over years it raises the risk of stroke and heart attack, which is why we treat it. "
     "I'm going to start you on lisinopril 10 milligrams once a day."),
    ("patient", "What are the side effects? Will I have to take it forever?"),
    ("clinician", "Some people get a dry cough or feel dizzy when they stand up. We will check your "
     "kidney function and potassium with a blood test in two weeks."),
    ("patient", "Can I still drink coffee? What about salt?"),
    ("clinician", "Coffee in moderation is fine. Keep salt under two grams a day and aim for thirty "
     "minutes of walking most days. Follow up with me in one month."),
    ("patient", "All right. Thanks."),
]

WOUND_CHECK = [
    ("patient", "Hi. Is it healing okay? It looks red to me. Is that an infection?"),
    ("clinician", "Let me take a look. The incision is clean and dry, the edges are together, and "
     "there is only mild redness right at the staples with no drainage and no warmth."),
    ("patient", "So it's not infected? When do the staples come out? Will it hurt?"),
    ("clinician", "No sign of infection. The staples come out today; you will feel some pulling but "
     "it should not hurt much."),
    ("patient", "Can I shower? Can I go swimming next week?"),
    ("clinician", "You can shower starting tomorrow, pat it dry. No swimming or baths for two more "
     "weeks until the skin is fully closed."),
    ("patient", "What should I put on it? Do I need a bandage?"),
    ("clinician", "Keep it open to air, no creams. Call us if you get a fever over 101, pus, or "
     "spreading redness. I'll see you back in six weeks."),
]

MRI_RESULTS = [
    ("patient", "Did my MRI come back? What did it show? Is it a slipped disc? Am I going to need surgery?"),
    ("clinician", "The MRI shows a small disc herniation at L4-L5 pressing on the right L5 nerve root. "
     "On exam your strength and reflexes are normal and the straight leg raise is positive on the right."),
    ("patient", "What does that mean? Will it get better on its own?"),
    ("clinician", "Most herniations like this improve within six to twelve weeks without surgery. "
     "My plan is a referral to physical therapy and a short course of prednisone, 40 milligrams "
     "daily for five days."),
    ("patient", "Can I keep working? I lift boxes all day. What if the pain gets worse?"),
    ("clinician", "Light duty only, no lifting over twenty pounds for now. If you lose control of "
     "your bladder or bowels or your leg gets weak, go to the emergency room."),
    ("patient", "Okay."),
]

DIABETES = [
    ("patient", "Good morning. How did my A1c turn out? Is it better? Do I still have diabetes?"),
    ("clinician", "Your A1c is 7.8, down from 8.6 in March. That is real progress, but it is still "
     "above our goal of 7."),
    ("patient", "Should I change anything? Do I need insulin? My sister had to go on insulin."),
    ("clinician", "No insulin. We will increase the metformin to 1000 milligrams twice a day with "
     "meals. Your feet look good today, with normal sensation on the monofilament test."),
    ("patient", "Will the higher dose upset my stomach again?"),
    ("clinician", "It can for a week or two. Take it with food, and switch to the extended-release "
     "tablet if the diarrhea comes back. Recheck the A1c in three months."),
    ("patient", "Okay, thank you, doctor."),
]

# A patient with his son (issue 14: the son's lines were labelled clinician).
SON_ASKS = [
    ("clinician", "Hello, I'm doctor Shah. What brings you in?"),
    ("patient", "I've been dizzy for a week. When I stand up the room spins."),
    ("other", "Dad, tell her about the fall. He fell in the kitchen on Sunday. What do you think is "
     "causing it? Is it his new pill? Should he stop taking it?"),
    ("clinician", "Let me check your blood pressure lying and standing. It drops from 138 to 108 "
     "when you stand, and your heart rate goes up. This is orthostatic hypotension."),
    ("patient", "Is that serious? Is it the water pill?"),
    ("clinician", "The hydrochlorothiazide is likely part of it. Stop the hydrochlorothiazide, drink "
     "two liters of fluid a day, and stand up slowly. We'll recheck your pressure in two weeks."),
    ("other", "Does he need a scan of his head? He hit his head when he fell."),
    ("clinician", "Your neurological exam is normal and there is no bruising on the scalp, so no "
     "scan is needed today. If he gets a bad headache or confusion, bring him to the emergency room."),
    ("patient", "Okay, thank you."),
]

# A wife who speaks for her husband and asks most of the questions.
WIFE_ASKS = [
    ("clinician", "Hi, I'm doctor Alvarez, nice to meet you both."),
    ("other", "He's been coughing for three weeks and he won't go to the doctor. His chest sounds "
     "terrible at night. Is it pneumonia? Does he need an x-ray?"),
    ("patient", "It's not that bad. I've had a cough and some phlegm, that's all."),
    ("clinician", "Let me listen. Deep breath. I hear crackles at the right base, and your oxygen "
     "saturation is 93 percent."),
    ("other", "Is that low? Should he be in the hospital? What about his heart?"),
    ("clinician", "It is a little low but safe for home. The chest x-ray shows a right lower lobe "
     "pneumonia. I'm prescribing amoxicillin-clavulanate 875 milligrams twice a day for seven days "
     "plus azithromycin 500 milligrams on day one."),
    ("other", "Can he go back to work? When will he feel better?"),
    ("clinician", "Rest at home this week. Most people feel better in three to five days. Come back "
     "in two days if the breathing gets worse."),
    ("patient", "Fine, fine. Thanks, doc."),
]

# Written after the weights were tuned and the cue lists fixed, as a held-out check
# (scored in their own set, "hard-heldout"). First scoring: 6/8 (2/8 before issue 14's
# change), the interpreter visit wrong both ways; the caregiver rule was then changed
# (relaying cues, the next speaker takes the patient role), so INTERPRETER is no longer
# held out; the other three were never used to choose a cue or a weight.
BIOPSY = [
    ("patient", "I've been so worried since you called. Is it cancer? Did it spread? Am I going to be okay?"),
    ("clinician", "The biopsy of the spot on your back is a basal cell carcinoma. It is a skin cancer, "
     "but the kind that almost never spreads."),
    ("patient", "Oh god. So what happens now? Do I need chemo? Will it leave a big scar?"),
    ("clinician", "No chemo. We cut it out with a small margin of normal skin, under local anesthetic, "
     "here in the office. The scar is usually a thin line about an inch long."),
    ("patient", "How soon can you do it? Can my husband drive me home after?"),
    ("clinician", "We can schedule it in the next two weeks. You will be able to drive yourself. "
     "After that, a full skin check once a year."),
    ("patient", "Okay. Thank you for explaining."),
]

INHALER = [
    ("patient", "Is this the new inhaler? How do I use it? Do I shake it first?"),
    ("clinician", "Yes, shake it, breathe all the way out, then two puffs of the fluticasone in the "
     "morning and two at night, holding your breath for ten seconds after each one."),
    ("patient", "Every day, even when I feel fine? What about the blue one?"),
    ("clinician", "Every day, that is the controller. Keep the albuterol for attacks, two puffs when "
     "you are wheezing. Rinse your mouth after the fluticasone so you don't get thrush."),
    ("patient", "How will I know if it's working? Can I still run?"),
    ("clinician", "You should need the albuterol less than twice a week within a month. Use two puffs "
     "of albuterol fifteen minutes before you run. I'll see you in six weeks to check your breathing."),
]

NAUSEA = [
    ("patient", "Is it normal to throw up this much? Is the baby okay? Can I take something, or is it bad for the baby?"),
    ("clinician", "Nausea and vomiting are very common in the first trimester. Your weight is stable "
     "and your urine shows no ketones, so you are not dehydrated."),
    ("patient", "So what can I do? Will ginger help? Is there a pill?"),
    ("clinician", "Ginger can help. Start vitamin B6, 25 milligrams three times a day, and if that "
     "isn't enough add doxylamine at bedtime. Both are safe in pregnancy."),
    ("patient", "And if I still can't keep anything down?"),
    ("clinician", "If you can't keep fluids down for a day, or you feel faint, come in and we'll give "
     "you IV fluids."),
    ("patient", "Okay, that makes me feel better."),
]

# A daughter interpreting for her mother, who answers through her.
INTERPRETER = [
    ("clinician", "Good afternoon. I'm doctor Kim. Please tell your mom I'm going to ask about her stomach pain."),
    ("other", "She says the pain started three days ago, after she ate. She wants to know if it's her gallbladder. "
     "Her sister had gallstones. Does she need surgery?"),
    ("patient", "Aquí, me duele aquí."),
    ("clinician", "Pressing here on the right upper abdomen, she is tender and she catches her breath. "
     "I want an ultrasound of the gallbladder today and blood work."),
    ("other", "Can she eat? What should she eat until the ultrasound? Is it dangerous?"),
    ("clinician", "Clear liquids and low-fat food until we know. If she gets a fever or turns yellow, "
     "go to the emergency room."),
    ("other", "Okay, I'll tell her. Thank you."),
]

HELDOUT_DIALOGUES: dict[str, list[tuple[str, str]]] = {
    "biopsy_questions": BIOPSY,
    "inhaler_questions": INHALER,
    "nausea_questions": NAUSEA,
    "interpreter_companion": INTERPRETER,
}

HARD_DIALOGUES: dict[str, list[tuple[str, str]]] = {
    "amoxicillin_issue_example": AMOXICILLIN,
    "blood_pressure_questions": BLOOD_PRESSURE,
    "wound_check_questions": WOUND_CHECK,
    "mri_results_questions": MRI_RESULTS,
    "diabetes_questions": DIABETES,
    "son_asks_companion": SON_ASKS,
    "wife_asks_companion": WIFE_ASKS,
}
