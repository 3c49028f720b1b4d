// Scribe recorder page, the review side: the draft note, the patient instructions and the
// omission check, each statement linked to the transcript lines it rests on. Loaded before
// recorder.js, which calls these as the service's note and final events arrive.
"use strict";

const OMISSION_KINDS = { symptom: "Symptom", medication: "Medication", allergy: "Allergy", number: "Number", "follow-up": "Follow-up" };

// A paragraph per sentence; a click lights up its evidence in the transcript.
function sentenceParagraph(s) {
  const p = document.createElement("p");
  p.textContent = s.text;
  p.dataset.evidence = s.evidence.join(" ");
  p.title = `Evidence: ${s.evidence.join(", ")}`;
  p.tabIndex = 0;
  p.addEventListener("click", () => showEvidence(p));
  p.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showEvidence(p); } });
  return p;
}

function emptyParagraph(text) {
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = text;
  return p;
}

// The note, the instructions and the omissions come together in every note/final event.
function showReview(ev, final) {
  if (ui.finalReceived && !final) return; // a late growing draft never replaces the final
  showNote(ev.note, ev.text, final);
  showInstructions(ev.note.instructions, ev.instructions_text || "", final);
  showOmissions(ev.note.omissions || [], final);
}

function showNote(note, text, final) {
  const draft = $("draft");
  draft.replaceChildren();
  for (const sec of note.sections) {
    const h = document.createElement("h3");
    h.textContent = sec.title;
    draft.append(h);
    if (!sec.sentences.length) draft.append(emptyParagraph(sec.empty_text || "Not discussed."));
    for (const s of sec.sentences) draft.append(sentenceParagraph(s));
  }
  $("note-status").textContent = final ? "AI draft, complete: review before signing" : "AI draft, growing";
  if (!ui.dirty) $("editor").value = text;
}

function showInstructions(instructions, text, final) {
  const sentences = (instructions && instructions.sentences) || [];
  const box = $("instructions-draft");
  box.replaceChildren();
  if (!sentences.length) {
    box.append(emptyParagraph(final
      ? "No instructions were drafted. Type any for the patient under Edit; left empty, the note is signed alone."
      : "Instructions for the patient appear as the plan is discussed."));
  }
  for (const s of sentences) box.append(sentenceParagraph(s));
  $("instructions-status").textContent = final
    ? (sentences.length ? "AI draft, complete: signed with the note" : "none drafted")
    : "AI draft, growing";
  if (!ui.instructionsDirty) $("instructions-editor").value = text;
}

function showOmissions(omissions, final) {
  const list = $("omissions");
  list.replaceChildren();
  $("omissions-count").textContent = omissions.length
    ? `${omissions.length} to check${final ? "" : " so far"}`
    : (final ? "none found" : "checked as the draft grows");
  for (const o of omissions) {
    const li = document.createElement("li");
    li.className = `omission ${o.kind}`;
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = OMISSION_KINDS[o.kind] || o.kind;
    const words = document.createElement("span");
    words.className = "words";
    words.textContent = o.text;
    const links = document.createElement("span");
    links.className = "links";
    for (const id of o.evidence) {
      const a = document.createElement("button");
      a.className = "evidence-link";
      a.dataset.evidence = id;
      const line = $(`line-${id}`);
      a.textContent = line && line.dataset.start ? clock(Number(line.dataset.start)) : id;
      a.title = `Show where this was said (${id})`;
      a.addEventListener("click", () => showEvidence(a));
      links.append(a);
    }
    li.append(kind, words, links);
    list.append(li);
  }
  if (!omissions.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = final
      ? "The check found nothing said in the visit that the note leaves out. It can miss things: review the transcript."
      : "Nothing flagged yet.";
    list.append(li);
  }
}

// After signing in privacy mode the transcript is gone: the omissions quoted it.
function closeOmissions(message) {
  $("omissions-count").textContent = "";
  const li = document.createElement("li");
  li.className = "none";
  li.textContent = message;
  $("omissions").replaceChildren(li);
}

function showEvidence(el) {
  document.querySelectorAll(".selected").forEach((x) => x.classList.remove("selected"));
  document.querySelectorAll("#transcript li.evidence").forEach((x) => x.classList.remove("evidence"));
  el.classList.add("selected");
  let first = null;
  for (const id of el.dataset.evidence.split(" ")) {
    const li = $(`line-${id}`);
    if (li) { li.classList.add("evidence"); first = first || li; }
  }
  if (first) first.scrollIntoView({ block: "center" });
}

// The Draft/Edit tabs of one panel: "note" (draft, editor) or "instructions".
function showTab(panel, edit) {
  const [view, editor] = panel === "note" ? ["draft", "editor"] : ["instructions-draft", "instructions-editor"];
  $(view).hidden = edit;
  $(editor).hidden = !edit;
  $(`${panel === "note" ? "tab" : "itab"}-draft`).setAttribute("aria-selected", String(!edit));
  $(`${panel === "note" ? "tab" : "itab"}-edit`).setAttribute("aria-selected", String(edit));
  if (edit) $(editor).focus();
}
