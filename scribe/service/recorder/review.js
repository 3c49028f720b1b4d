// Scribe recorder page, the review side: the draft note, the patient instructions and the
// omission check, each statement linked to the transcript lines it rests on. Loaded before
// recorder.js, which calls these as the service's note and final events arrive.
"use strict";

const OMISSION_KINDS = { symptom: "Symptom", medication: "Medication", allergy: "Allergy", number: "Number", "follow-up": "Follow-up" };
// A sentence the grounding guard flagged starts its line of the editable text with
// "[UNSUPPORTED]" (scribe.notes.render); at signing, a line still starting with it is left out.

// A paragraph per sentence; a click lights up its evidence in the transcript. A sentence
// the grounding guard flagged shows the guard's reasons and Accept / Delete, which act on
// its line in ``editorId``'s text (the text that is signed).
function sentenceParagraph(s, editorId) {
  const p = document.createElement("p");
  const words = document.createElement("span");
  words.className = "words";
  words.textContent = s.text;
  p.append(words);
  p.dataset.evidence = s.evidence.join(" ");
  p.title = s.evidence.length ? `Evidence: ${s.evidence.join(", ")}` : "No evidence found in the transcript";
  p.tabIndex = 0;
  p.addEventListener("click", () => showEvidence(p));
  p.addEventListener("keydown", (e) => {
    if (e.target === p && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); showEvidence(p); }
  });
  if (s.supported === false && editorId) flagSentence(p, s, editorId);
  return p;
}

function flagSentence(p, s, editorId) {
  p.classList.add("unsupported");
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.textContent = "UNSUPPORTED";
  const why = document.createElement("span");
  why.className = "flags";
  why.textContent = (s.flags || []).join("; ");
  const accept = document.createElement("button");
  accept.className = "accept";
  accept.textContent = "Accept";
  accept.title = "Keep this sentence: it is signed with the note";
  const del = document.createElement("button");
  del.className = "delete";
  del.textContent = "Delete";
  del.title = "Remove this sentence from the note";
  accept.addEventListener("click", (e) => { e.stopPropagation(); resolveFlag(p, s.text, editorId, "accept"); });
  del.addEventListener("click", (e) => { e.stopPropagation(); resolveFlag(p, s.text, editorId, "delete"); });
  const actions = document.createElement("span");
  actions.className = "flag-actions";
  actions.append(accept, del);
  p.prepend(mark);
  p.append(why, actions);
}

// Accept: the mark goes from the sentence's line (the clinician keeps it). Delete: the
// line goes. Either way the editor's text is what is signed.
function resolveFlag(p, text, editorId, action) {
  if (ui.state !== "review" || ui.drafting) return; // signed (final), or about to be replaced
  const editor = $(editorId);
  const want = text.split(/\s+/).join(" ").trim();
  const lines = editor.value.split("\n");
  const at = lines.findIndex((line) => {
    const m = line.match(/^(\s*(?:[-*]\s*)?)\[UNSUPPORTED\]\s*(.*)$/);
    return m && m[2].split(/\s+/).join(" ").trim() === want;
  });
  if (at < 0) {
    say("That sentence was changed in the editor: accept or delete it there (remove the [UNSUPPORTED] mark, or the line).", true);
    return;
  }
  if (action === "accept") lines[at] = lines[at].replace(/\[UNSUPPORTED\]\s*/, "");
  else lines.splice(at, 1);
  editor.value = lines.join("\n");
  if (editorId === "editor") ui.dirty = true; else ui.instructionsDirty = true;
  keepEdit(editorId);
  p.classList.remove("unsupported");
  p.classList.add(action === "accept" ? "accepted" : "deleted");
  p.querySelector(".flag-actions").remove();
  p.querySelector(".mark").textContent = action === "accept" ? "ACCEPTED" : "DELETED";
  showCounts();
}

// Supported, unsupported (still marked in the editors) and possibly missing.
function showCounts(counts) {
  if (counts) ui.counts = counts;
  const c = ui.counts;
  const box = $("note-counts");
  if (!c) { box.hidden = true; return; }
  const marked = ["editor", "instructions-editor"].reduce((n, id) =>
    n + $(id).value.split("\n").filter((l) => /^\s*(?:[-*]\s*)?\[UNSUPPORTED\]/.test(l)).length, 0);
  box.hidden = false;
  $("count-supported").textContent = String(c.supported);
  $("count-unsupported").textContent = String(c.unsupported);
  $("count-marked").textContent = c.unsupported ? ` (${marked} still marked: left out when signed)` : "";
  $("count-omissions").textContent = String(c.omissions);
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
  // A model is about to replace this note: edits kept for it would be edits of a draft
  // that is going away (the editors are read-only until the model's note arrives).
  if (final && ev.drafting) forgetEdits();
  else restoreEdits();
  showNote(ev.note, ev.text, final);
  showInstructions(ev.note.instructions, ev.instructions_text || "", final);
  showOmissions(ev.note.omissions || [], final);
  showCounts(ev.note.counts);
  // The visit's length as the service counted the audio it received (not page time).
  if (final && typeof ev.duration === "number") $("clock").textContent = clock(ev.duration);
}

// The Edit tab's text of a section with nothing drafted: the template's own wording, as
// scribe.notes.render.editable_text writes it ("## Title", blank line, empty_text). A note
// with no sentences at all comes as "" (nothing drafted); the editor then gets every
// section this way, so Draft and Edit say the same and the clinician types into it.
function skeletonText(note) {
  return note.sections.map((sec) => `## ${sec.title}\n\n${sec.empty_text}\n`).join("\n");
}

function showNote(note, text, final) {
  const draft = $("draft");
  draft.replaceChildren();
  ui.noteSections = note.sections;
  for (const sec of note.sections) {
    const h = document.createElement("h3");
    h.textContent = sec.title;
    draft.append(h);
    if (!sec.sentences.length) draft.append(emptyParagraph(sec.empty_text || "Not discussed."));
    for (const s of sec.sentences) draft.append(sentenceParagraph(s, "editor"));
  }
  $("note-status").textContent = final ? "AI draft, complete: review before signing" : "AI draft, growing";
  if (!text && final && note.sections.length && !note.sections.some((sec) => sec.sentences.length)) text = skeletonText(note);
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
  for (const s of sentences) box.append(sentenceParagraph(s, "instructions-editor"));
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
  // Only the transcript panel scrolls (centred on the first cited line): the page, and so
  // the sentence just clicked, stays where it is.
  if (first) {
    const list = $("transcript");
    list.scrollTop = first.offsetTop - (list.clientHeight - first.offsetHeight) / 2;
  }
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

// -- work kept across a reload ----------------------------------------------------------
// The Edit texts of the visit under way, in this tab's sessionStorage: the browser's
// memory for this one tab, gone when the tab closes, never sent to the service or written
// to its disk. Forgotten when the visit is signed, exported or discarded.
const EDITS_KEY = "scribe.edits.";

function keptEdits() {
  if (!ui.visit) return {};
  try { return JSON.parse(sessionStorage.getItem(EDITS_KEY + ui.visit) || "{}"); } catch (e) { return {}; }
}

function keepEdit(editorId) {
  if (!ui.visit || ["signed", "done", "idle"].includes(ui.state)) return;
  const kept = keptEdits();
  kept[editorId === "editor" ? "text" : "instructions"] = $(editorId).value;
  sessionStorage.setItem(EDITS_KEY + ui.visit, JSON.stringify(kept));
}

// Edits kept for this visit go back into the editors (the drafts do not overwrite them).
function restoreEdits() {
  const kept = keptEdits();
  if (typeof kept.text === "string" && !ui.dirty) { $("editor").value = kept.text; ui.dirty = true; }
  if (typeof kept.instructions === "string" && !ui.instructionsDirty) {
    $("instructions-editor").value = kept.instructions;
    ui.instructionsDirty = true;
  }
}

function forgetEdits() {
  for (let i = sessionStorage.length - 1; i >= 0; i--) {
    const key = sessionStorage.key(i);
    if (key && key.startsWith(EDITS_KEY)) sessionStorage.removeItem(key);
  }
}

// -- signing with empty sections --------------------------------------------------------

// The "## " sections of ``text`` (the Edit text) with nothing in them but blank lines or
// a template's empty wording ("No examination findings were captured.").
function emptySections(text) {
  const wording = new Set((ui.noteSections || []).map((sec) => sec.empty_text.trim()));
  const empty = [];
  let title = null, body = [];
  const close = () => {
    if (title !== null && body.every((l) => !l.trim() || wording.has(l.replace(/^\s*[-*]\s*/, "").trim()))) empty.push(title);
  };
  for (const line of text.split("\n")) {
    const m = line.match(/^##\s+(.*\S)\s*$/);
    if (m) { close(); title = m[1]; body = []; } else if (title !== null) body.push(line);
  }
  close();
  return empty;
}

// Called by sign(): true to go on. "Objective is empty: sign anyway?"
function confirmEmptySections(text) {
  const empty = emptySections(text);
  if (!empty.length) return true;
  const names = empty.length === 1 ? empty[0] : `${empty.slice(0, -1).join(", ")} and ${empty[empty.length - 1]}`;
  if (confirm(`${names} ${empty.length === 1 ? "is" : "are"} empty: sign anyway?`)) return true;
  say(`Not signed: ${names} ${empty.length === 1 ? "is" : "are"} empty. Add what was found under Edit, or sign as it is.`, true);
  showTab("note", true);
  return false;
}

// -- one swap control, focus after each action -------------------------------------------

// Swapping roles drafts the note again; edits in Edit would then differ from the Draft
// tab. The clinician chooses: the new draft replaces the edits, or nothing is swapped.
async function swapWithCare() {
  if (ui.dirty || ui.instructionsDirty) {
    if (!confirm("Swapping clinician and patient drafts the note again. Replace your edits with the new draft?\n\n" +
                 "OK: swap, and the new draft replaces your edits. Cancel: keep your edits, no swap.")) {
      say("Roles not swapped: your edits are kept.");
      return;
    }
    ui.dirty = ui.instructionsDirty = false;
    forgetEdits();
  }
  await swapRoles();
}

// Where focus goes when an action leaves it nowhere (on the page body, or on a control
// just disabled): to the next thing the clinician does.
const NEXT_FOCUS = {
  recording: () => $("stop"), paused: () => $("pause"), idle: () => $("start"), done: () => $("start"),
  review: () => document.querySelector("#draft p[tabindex]") || $("tab-edit"),
  signed: () => $("export"),
};

let shownState = null;
function onStateShown() {
  const state = document.body.dataset.state;
  const was = shownState;
  shownState = state;
  $("swap").disabled = !ui.visit || !["recording", "paused", "review"].includes(state) || Boolean(ui.drafting);
  if (state === was) return;
  if (state === "signed" || state === "done" || (state === "idle" && was && was !== "idle" && was !== "offline")) forgetEdits();
  const at = document.activeElement;
  const lost = !at || at === document.body || at.disabled || at.closest("[hidden]");
  const next = NEXT_FOCUS[state] && NEXT_FOCUS[state]();
  if (next && !next.disabled && (lost || state === "signed")) next.focus();
}

// Wired once recorder.js (loaded after this file: it defines $ and ui) has run.
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver(onStateShown).observe(document.body, { attributes: true, attributeFilter: ["data-state", "data-drafting"] });
  $("swap").addEventListener("click", swapWithCare);
  $("editor").addEventListener("input", () => keepEdit("editor"));
  $("instructions-editor").addEventListener("input", () => keepEdit("instructions-editor"));
});
