// Scribe recorder page: microphone -> 16 kHz PCM16 frames over a WebSocket to the local
// capture service; transcript, draft note, patient instructions and signing come back.
// Plain JS, no build step; review.js (loaded first) draws the note, instructions and
// omissions.
"use strict";

const $ = (id) => document.getElementById(id);
const FRAME_SAMPLES = 1600; // 100 ms at 16 kHz

// The printed URL carries the token once; it is moved to this tab's session storage and
// taken out of the address bar (and so out of history and any screenshot of it).
const query = new URLSearchParams(location.search);
if (query.get("token")) {
  sessionStorage.setItem("scribe.token", query.get("token"));
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("scribe.token") || "";

const ui = {
  visit: null, ws: null, privacy: true, state: "idle",
  audio: null, pending: new Int16Array(0), seconds: 0, timer: null,
  roles: {}, speakers: [], dirty: false, instructionsDirty: false, finalReceived: false, fhirServer: false,
  signedInstructions: false, drafting: null, counts: null,
  instance: sessionStorage.getItem("scribe.instance"), // the service process the visit lives in
  openVisits: [],
  noteLanguage: "en", // the note's language (the service's): lines said in another show their translation
};

// A language's name in the page's language ("es" -> "Spanish"); the code when the
// browser cannot name it.
function languageName(code) {
  try {
    return new Intl.DisplayNames([document.documentElement.lang || "en"], { type: "language" }).of(code) || code;
  } catch (e) {
    return code;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const isJson = (r.headers.get("content-type") || "").includes("json");
  const data = isJson ? await r.json() : await r.text();
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

function say(text, error = false) {
  const m = $("message");
  m.textContent = text;
  m.hidden = !text;
  m.classList.toggle("error", error);
}

function setState(state, label) {
  ui.state = state;
  document.body.dataset.state = state;
  $("state").textContent = label;
  const live = state === "recording" || state === "paused";
  $("start").disabled = state !== "idle" && state !== "done";
  $("pause").disabled = !live;
  $("pause").firstChild.textContent = state === "paused" ? "Resume " : "Pause ";
  $("stop").disabled = !live;
  $("template").disabled = state !== "idle" && state !== "done"; // fixed once a visit starts
  $("terms").disabled = $("template").disabled; // the visit's recognition is set at its start
  $("note-language").disabled = $("template").disabled || ui.noteLanguageFixed !== false;
  // Discard is always a way out: while reconnecting, and for a signed note (exported or
  // not) that would otherwise stay in the service, counting toward its limit.
  $("discard").disabled = !(live || ["review", "signed", "reconnecting"].includes(state) || (state === "done" && ui.visit));
  $("sign").disabled = state !== "review" || Boolean(ui.drafting);
  $("export").disabled = !(state === "signed" || (state === "done" && ui.visit));
  $("send").disabled = !(ui.fhirServer && (state === "signed" || state === "done"));
  // While a model drafts the note, the first draft is not edited: the model's replaces it.
  $("editor").readOnly = state === "signed" || state === "done" || Boolean(ui.drafting);
  $("instructions-editor").readOnly = state === "signed" || state === "done" || Boolean(ui.drafting);
  document.body.dataset.drafting = String(Boolean(ui.drafting));
}

// A model drafter at work on the stopped visit's note (a drafting event, or null).
function showDrafting(d) {
  ui.drafting = d;
  if (d) {
    const steps = d.total ? ` ${d.done}/${d.total}` : "";
    $("note-status").textContent = `Drafting with ${d.drafter} (${d.model})…${steps}`;
  }
  setState(ui.state, $("state").textContent);
}

function draftingDone() {
  ui.drafting = null;
  setState(ui.state, $("state").textContent);
  if (ui.ws) ui.ws.close();
}

// -- microphone -------------------------------------------------------------------------

async function openMicrophone() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  let ctx;
  try {
    ctx = new AudioContext({ sampleRate: 16000 });
  } catch (e) {
    stream.getTracks().forEach((t) => t.stop());
    throw e;
  }
  const source = ctx.createMediaStreamSource(stream);
  // ScriptProcessor rather than an AudioWorklet: a worklet module is a second script the
  // page's CSP would have to allow; 2048 samples (128 ms) is well within our latency.
  const proc = ctx.createScriptProcessor(2048, 1, 1);
  proc.onaudioprocess = (e) => onAudio(e.inputBuffer.getChannelData(0), ctx.sampleRate);
  source.connect(proc);
  proc.connect(ctx.destination);
  ui.audio = { stream, ctx, proc };
}

// What to tell the clinician when the browser would not give the page a microphone
// (getUserMedia's DOMException names), with what to do about it.
function microphoneProblem(e) {
  const again = "then press Start again.";
  switch (e && e.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Could not start: the browser blocked the microphone for this page. Allow it from the site-settings " +
        `icon left of the address (Microphone: Allow), ${again}`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `Could not start: no microphone was found. Connect one (or choose it from the site-settings icon left of the address), ${again}`;
    case "NotReadableError":
    case "AbortError":
      return `Could not start: the microphone could not be opened (another program may be using it). Close that program, ${again}`;
    default:
      return `Could not start the microphone: ${e && e.message ? e.message : e}`;
  }
}

function closeMicrophone() {
  if (!ui.audio) return;
  ui.audio.proc.disconnect();
  ui.audio.stream.getTracks().forEach((t) => t.stop());
  ui.audio.ctx.close();
  ui.audio = null;
  $("level").style.width = "0";
}

function resample(input, rate) {
  if (rate === 16000) return input;
  const ratio = rate / 16000, out = new Float32Array(Math.floor(input.length / ratio));
  for (let i = 0; i < out.length; i++) {
    const x = i * ratio, j = Math.floor(x), f = x - j;
    out[i] = input[j] * (1 - f) + (input[j + 1] || 0) * f;
  }
  return out;
}

function onAudio(samples, rate) {
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  // The meter moves only while the visit is live: not while the service is unreachable.
  const live = ui.state === "recording" || ui.state === "paused";
  $("level").style.width = live ? `${Math.min(100, Math.round(Math.sqrt(rms) * 220))}%` : "0";
  if (ui.state !== "recording" || !ui.ws || ui.ws.readyState !== WebSocket.OPEN) return;
  const mono = resample(samples, rate);
  const pcm = new Int16Array(ui.pending.length + mono.length);
  pcm.set(ui.pending);
  for (let i = 0; i < mono.length; i++) {
    pcm[ui.pending.length + i] = Math.max(-32768, Math.min(32767, Math.round(mono[i] * 32767)));
  }
  let at = 0;
  for (; at + FRAME_SAMPLES <= pcm.length; at += FRAME_SAMPLES) {
    ui.ws.send(pcm.slice(at, at + FRAME_SAMPLES).buffer);
    ui.seconds += FRAME_SAMPLES / 16000;
  }
  ui.pending = pcm.slice(at);
}

// -- visit --------------------------------------------------------------------------------

async function start() {
  if (ui.state !== "idle" && ui.state !== "done") return;
  // The last visit's signed note was exported: the service need not hold it any longer.
  if (ui.visit && ui.state === "done") api("DELETE", `/api/visits/${ui.visit}`).catch(() => {});
  resetPanels();
  setState("starting", "Starting…");
  // A visit recording in another tab: a second one here would record the same room.
  await refreshVisits();
  if (ui.openVisits.some((v) => v.recorder && v.state === "recording") &&
      !confirm("A visit is recording in another tab. Start a second visit here as well?")) {
    setState("idle", "Ready");
    return;
  }
  // The microphone first: a visit is opened only once there is audio to send, so a
  // refused microphone leaves nothing open on the service (issue 13 item 1).
  try {
    await openMicrophone();
  } catch (e) {
    closeMicrophone();
    setState("idle", "Ready");
    say(microphoneProblem(e), true);
    return;
  }
  try {
    // clinician: the enrolled voices checked under "Enroll my voice" (enroll.js), if any.
    const visit = await api("POST", "/api/visits", {
      template: $("template").value, terms: $("terms").value, clinician: listenedVoices(),
      note_language: $("note-language").value || undefined,
    });
    ui.visit = visit.visit;
    ui.instance = visit.instance;
    sessionStorage.setItem("scribe.visit", ui.visit);
    sessionStorage.setItem("scribe.instance", ui.instance);
    await connect();
    setState("recording", "Recording");
    say("");
    startClock();
  } catch (e) {
    closeMicrophone();
    // Nothing left behind: a visit opened for this start is discarded at once.
    if (ui.visit) api("DELETE", `/api/visits/${ui.visit}`).catch(() => {}).then(refreshVisits);
    forgetVisit();
    setState("idle", "Ready");
    say(`Could not start: ${e.message}${/visits are open/.test(e.message) ? " (listed under Open visits)." : ""}`, true);
  }
  refreshVisits();
}

function forgetVisit() {
  sessionStorage.removeItem("scribe.visit");
  sessionStorage.removeItem("scribe.instance");
  ui.visit = null;
}

// The visit has gone from the service: say why, release the microphone, and leave the
// page ready for a new visit (what it shows stays readable until Start).
function lost(message) {
  closeMicrophone();
  clearInterval(ui.timer);
  const ws = ui.ws;
  ui.ws = null;
  if (ws) ws.close();
  forgetVisit();
  ui.drafting = null;
  setState("idle", "Ready");
  say(message, true);
  refreshVisits();
}

// This tab's visit as the service lists it, or null after saying why it is gone: a
// service with another instance id restarted (in privacy mode nothing of the visit
// survives it). Throws when the service cannot be reached.
async function visitOrGone() {
  const [health, listing] = [await api("GET", "/api/health"), await api("GET", "/api/visits")];
  ui.openVisits = listing.visits;
  const v = listing.visits.find((x) => x.visit === ui.visit);
  if (v) return v;
  lost(ui.instance && health.instance !== ui.instance
    ? "The capture service restarted; this visit was lost."
    : "This visit no longer exists on the capture service (it was discarded or timed out).");
  return null;
}

const wait = (ms) => new Promise((r) => setTimeout(r, ms));

// The connection dropped while recording or paused: find the visit again. The service
// back with it: reconnect and go on as it was; without it: say so (lost); unreachable:
// try again, every 1-5 s, until it answers or the clinician discards the visit.
async function reconnect() {
  for (let attempt = 1; ui.state === "reconnecting"; attempt++) {
    await wait(Math.min(5, attempt) * 1000);
    if (ui.state !== "reconnecting") return;
    let v;
    try {
      v = await visitOrGone();
    } catch (e) {
      continue; // not back yet
    }
    if (!v) return;
    if (v.state !== "recording" && v.state !== "paused") {
      finishOverHttp();
      return;
    }
    try {
      await connect();
    } catch (e) {
      continue; // its old connection may not be closed on the service's side yet
    }
    if (ui.state !== "reconnecting") return;
    if (v.state === "recording") {
      if (!ui.audio) await openMicrophone().catch((e) => say(microphoneProblem(e), true));
      setState("recording", "Recording");
      startClock();
    } else {
      setState("paused", "Paused");
    }
    say("Reconnected.");
    return;
  }
}

// Stop, or the note after it, over HTTP: the connection is gone. A visit already
// stopped gives its review; one the service no longer has is lost.
async function finishOverHttp() {
  setState("finishing", "Finishing the note…");
  try {
    const v = await visitOrGone();
    if (!v) return;
    if (v.state === "recording" || v.state === "paused") {
      (await api("POST", `/api/visits/${ui.visit}/stop`)).events.forEach((e) => handle(e));
    } else if (v.state === "stopped") {
      handle(await api("GET", `/api/visits/${ui.visit}/review`));
    }
  } catch (e) {
    setState("reconnecting", "Reconnecting…");
    say(`Could not reach the capture service to finish the note (${e.message}); trying again…`, true);
    await wait(2000);
    if (ui.state === "reconnecting") finishOverHttp();
  }
}

const wsOpen = () => Boolean(ui.ws && ui.ws.readyState === WebSocket.OPEN);

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/api/visits/${ui.visit}/stream`, ["scribe.v1", `scribe.token.${token}`]);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m) => handle(JSON.parse(m.data), resolve);
    ws.onerror = () => reject(new Error("the capture service refused the connection"));
    ws.onclose = (e) => {
      if (ws !== ui.ws) return; // a connection this page has already replaced or let go
      if (ui.state === "recording" || ui.state === "paused") {
        // Nothing is recorded until the service is back: the clock and meter stop.
        setState("reconnecting", "Reconnecting…");
        say(`Connection to the capture service lost (${e.code}${e.reason ? ": " + e.reason : ""}). ` +
          "Nothing is recorded until it is back; reconnecting…", true);
        reconnect();
      } else if (ui.state === "finishing") {
        finishOverHttp(); // the note did not come over the connection: ask for it
      } else if (ui.state === "review" && ui.drafting && ws === ui.ws) {
        // Lost while the model drafts: the review says where the draft is (or has its note).
        setTimeout(() => api("GET", `/api/visits/${ui.visit}/review`).then((ev) => handle(ev)).catch(() => {}), 1000);
      }
    };
    ui.ws = ws;
  });
}

function togglePause() {
  if (!wsOpen()) return; // reconnecting: the controls wait for the service
  if (ui.state === "recording") {
    ui.ws.send(JSON.stringify({ type: "pause" }));
    setState("paused", "Paused");
  } else if (ui.state === "paused") {
    if (!ui.audio) openMicrophone().catch((e) => say(`Microphone: ${e.message}`, true));
    ui.ws.send(JSON.stringify({ type: "resume" }));
    setState("recording", "Recording");
  }
}

function stop() {
  if (ui.state !== "recording" && ui.state !== "paused") return;
  setState("finishing", "Finishing the note…");
  // Frames still buffered in the page go out before the stop.
  if (ui.pending.length && wsOpen()) ui.ws.send(ui.pending.slice().buffer);
  ui.pending = new Int16Array(0);
  closeMicrophone();
  clearInterval(ui.timer);
  if (wsOpen()) ui.ws.send(JSON.stringify({ type: "stop" }));
  else finishOverHttp();
}

async function sign() {
  if (ui.state !== "review") return;
  if (ui.drafting) { say(`The note is still being drafted with ${ui.drafting.drafter}: sign once it is ready.`, true); return; }
  const text = $("editor").value;
  if (!text.trim()) { say("The note is empty: nothing to sign.", true); return; }
  if (!confirmEmptySections(text)) return; // review.js: "Objective is empty: sign anyway?"
  // The patient instructions are signed with the note; left empty, the note alone.
  const instructions = $("instructions-editor").value;
  try {
    const r = await api("POST", `/api/visits/${ui.visit}/sign`, { text, instructions });
    ui.signedInstructions = Boolean(r.instructions);
    setState("signed", "Signed");
    document.querySelectorAll(".flag-actions").forEach((x) => x.remove()); // the note is final
    $("note-status").textContent = "signed, final";
    $("instructions-status").textContent = ui.signedInstructions ? "signed with the note, final" : "none signed";
    if (ui.privacy) {
      $("transcript").replaceChildren();
      const gone = document.createElement("li");
      gone.className = "gone";
      gone.textContent = "Privacy mode: the audio and transcript of this visit have been destroyed.";
      $("transcript").append(gone);
      closeOmissions("Privacy mode: the transcript these were checked against has been destroyed.");
    }
    say(`${ui.signedInstructions ? "Note and patient instructions signed." : "Note signed."} ${r.message}`);
  } catch (e) {
    say(`Could not sign: ${e.message}`, true);
  }
}

async function download(path, name) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error((await r.json()).error);
  const blob = await r.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// The signed note's DocumentReference, then the instructions' (a document of their own).
async function exportFhir() {
  try {
    const id = ui.visit.slice(0, 8);
    await download(`/api/visits/${ui.visit}/fhir`, `note-${id}.fhir.json`);
    if (ui.signedInstructions) await download(`/api/visits/${ui.visit}/fhir/instructions`, `instructions-${id}.fhir.json`);
    say(`FHIR DocumentReference${ui.signedInstructions ? "s (note, patient instructions)" : ""} downloaded. Start a new visit when ready.`);
    sessionStorage.removeItem("scribe.visit");
    setState("done", "Exported");
    refreshVisits(); // the exported note stays listed, with Discard, until the next Start
  } catch (e) {
    say(`Could not export: ${e.message}`, true);
  }
}

async function sendToEhr() {
  const body = { patient: $("patient").value.trim(), encounter: $("encounter").value.trim(), practitioner: $("practitioner").value.trim() };
  try {
    const r = await api("POST", `/api/visits/${ui.visit}/send`, body);
    say(r.message);
  } catch (e) {
    say(`Not sent: ${e.message}`, true);
  }
}

async function discard() {
  const unexported = ui.state === "signed" ? " The signed note has not been exported." : "";
  if (!ui.visit || !confirm(`Discard this visit?${unexported} Nothing of it will be kept.`)) return;
  closeMicrophone();
  clearInterval(ui.timer);
  try {
    const r = await api("DELETE", `/api/visits/${ui.visit}`);
    forgetVisit();
    say(r.message);
  } catch (e) {
    say(`Could not discard: ${e.message}`, true);
  }
  if (ui.ws) ui.ws.close();
  resetPanels();
  setState("idle", "Ready");
  refreshVisits();
}

// -- open visits ----------------------------------------------------------------------------
// This service's open visits (state, age, where), each with Discard: a visit left open
// by another tab, a closed one or an exported note can be seen and cleared here.

const VISIT_STATES = {
  recording: "Recording", paused: "Paused", stopped: "Note not signed", signed: "Signed note",
};

// One slim line under the message, styled here (CSSOM properties, which the page's CSP
// allows): it must not push the review down.
function visitsPanel() {
  let panel = $("open-visits");
  if (panel) return panel;
  panel = document.createElement("section");
  panel.id = "open-visits";
  panel.className = "open-visits";
  panel.setAttribute("aria-labelledby", "open-visits-title");
  panel.hidden = true;
  Object.assign(panel.style, {
    margin: ".6rem 1.2rem 0", padding: ".3rem .9rem", borderRadius: ".4rem", background: "#fff8e6",
    border: "1px solid #e8d29a", display: "none", flexWrap: "wrap", alignItems: "center", gap: ".3rem 1rem",
  });
  const title = document.createElement("h2");
  title.id = "open-visits-title";
  title.textContent = "Open visits on this service:";
  Object.assign(title.style, { fontSize: "1rem", margin: "0" });
  const list = document.createElement("ul");
  list.id = "open-visits-list";
  Object.assign(list.style, { display: "flex", flexWrap: "wrap", gap: ".3rem 1.2rem", margin: "0", padding: "0", listStyle: "none" });
  panel.append(title, list);
  $("message").after(panel);
  return panel;
}

function age(seconds) {
  return seconds < 60 ? `${seconds} s` : seconds < 3600 ? `${Math.floor(seconds / 60)} min`
    : `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function visitItem(v) {
  const li = document.createElement("li");
  li.dataset.visit = v.visit;
  li.dataset.state = v.state;
  const here = v.visit === ui.visit && ui.state !== "elsewhere";
  const where = here ? "this tab" : v.recorder ? "open in another tab" : "no recorder connected";
  const label = document.createElement("span");
  label.className = "what";
  label.textContent = `${VISIT_STATES[v.state] || v.state} · opened ${age(v.age_seconds)} ago · ${where}`;
  const button = document.createElement("button");
  button.className = "quiet";
  button.textContent = "Discard";
  Object.assign(button.style, { padding: ".15rem .6rem", marginLeft: ".4rem" });
  button.setAttribute("aria-label", `Discard the visit opened ${age(v.age_seconds)} ago (${VISIT_STATES[v.state] || v.state})`);
  button.addEventListener("click", () => (here ? discard() : discardOther(v)));
  li.append(label, " ", button);
  return li;
}

async function refreshVisits() {
  let listing;
  try {
    listing = await api("GET", "/api/visits");
  } catch (e) {
    return; // unreachable: the list stays as it was
  }
  ui.openVisits = listing.visits;
  // This tab's own visit is the page itself until it is exported: listed only then.
  const shown = listing.visits.filter((v) => v.visit !== ui.visit || ["done", "elsewhere"].includes(ui.state));
  $("open-visits-list") || visitsPanel();
  $("open-visits-list").replaceChildren(...shown.map(visitItem));
  $("open-visits").hidden = shown.length === 0;
  $("open-visits").style.display = shown.length === 0 ? "none" : "flex"; // a style display outranks hidden
}

async function discardOther(v) {
  const warning = v.recorder ? " It is open in another tab." : v.state === "signed" ? " Its signed note will be gone." : "";
  if (!confirm(`Discard this visit?${warning} Nothing of it will be kept.`)) return;
  try {
    say((await api("DELETE", `/api/visits/${v.visit}`)).message);
  } catch (e) {
    say(`Could not discard: ${e.message}`, true);
  }
  refreshVisits();
}

async function swapRoles() {
  if (!ui.visit || ui.state === "signed" || ui.state === "done") return;
  try {
    const r = await api("POST", `/api/visits/${ui.visit}/roles/swap`);
    r.events.forEach((e) => handle(e));
  } catch (e) {
    say(`Could not swap roles: ${e.message}`, true);
  }
}

// -- events from the service --------------------------------------------------------------

function handle(ev, ready) {
  switch (ev.type) {
    case "ready":
      ui.privacy = ev.privacy;
      if (ev.note_language) ui.noteLanguage = ev.note_language;
      ui.seconds = Math.max(ui.seconds, ev.received || 0); // a reload goes on from the service's count
      // A reconnect: the lines so far (known ones skipped); after Stop the page has the
      // final transcript already.
      if (!ui.finalReceived) (ev.lines || []).forEach(addLine);
      if (ready) ready();
      break;
    case "line":
      addLine(ev);
      break;
    case "partial":
      $("partial").textContent = ev.text ? `${ev.text} …` : "";
      break;
    case "roles":
      ui.roles = ev.roles;
      relabel();
      break;
    case "note":
      showReview(ev, false);
      break;
    case "final":
      ui.finalReceived = true;
      $("partial").textContent = "";
      $("transcript").replaceChildren();
      ui.roles = ev.roles;
      ev.transcript.forEach(addLine);
      if (ev.drafting) ui.dirty = ui.instructionsDirty = false; // the model's note will replace this one
      showReview(ev, true);
      ui.drafting = ev.drafting;
      setState("review", "Review and sign");
      if (ev.drafting) {
        showDrafting(ev.drafting);
        // The model's progress and note come over the visit's connection: keep it (or
        // open it again, for a page reloaded while the model drafts).
        if (!ui.ws || ui.ws.readyState > WebSocket.OPEN) connect().catch(() => {});
        say(`Recording stopped${ui.privacy ? "; the audio is kept only until the model has drafted" : ""}. ` +
          `This first draft is replaced when ${ev.drafting.drafter} (${ev.drafting.model}) has drafted the note.`);
      } else {
        if (ui.ws) ui.ws.close();
        say(ui.privacy
          ? "Recording stopped; the audio is destroyed. Review the draft, edit, then sign: signing destroys the transcript too, keeping only the signed note."
          : "Recording stopped. Review the draft, edit, then sign.");
      }
      break;
    case "drafting":
      if (ui.state === "review") showDrafting(ev);
      break;
    case "model_note": {
      ui.dirty = ui.instructionsDirty = false;
      showReview(ev, true);
      draftingDone();
      const c = ev.note.counts;
      say(`The note drafted with ${ev.drafter} replaced the first draft: ${c.supported} supported, ` +
        `${c.unsupported} unsupported, ${c.omissions} possibly missing.` +
        (c.unsupported ? " Accept or delete each UNSUPPORTED sentence: those still marked are left out when you sign." : ""));
      break;
    }
    case "draft_failed":
      draftingDone();
      $("note-status").textContent = "AI draft, complete: review before signing";
      say(`${ev.message}.`, true);
      break;
    case "state":
      // Discarded elsewhere (another tab, the open-visits list): nothing here is kept.
      if (ev.state === "discarded") lost(`This visit was discarded elsewhere. ${ev.message}`);
      break;
    case "error":
      if (ev.message) say(ev.message, true);
      break;
  }
}

function speakerIndex(spk) {
  if (!ui.speakers.includes(spk)) ui.speakers.push(spk);
  return ui.speakers.indexOf(spk);
}

function addLine(ev) {
  if ($(`line-${ev.id}`)) return;
  const li = document.createElement("li");
  li.id = `line-${ev.id}`;
  li.dataset.speaker = ev.speaker || "";
  li.dataset.start = ev.start;
  li.className = `spk-${speakerIndex(ev.speaker) % 4}`;
  const who = document.createElement("div");
  who.className = "who";
  const role = document.createElement("span"); // a label: the one Swap control swaps (review.js)
  role.className = "role";
  const time = document.createElement("span");
  time.textContent = `${clock(ev.start)} · ${ev.speaker ? `Voice ${speakerIndex(ev.speaker) + 1}` : "?"}`;
  who.append(role, time);
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = ev.text;
  if (ev.language && ev.language !== ui.noteLanguage) {
    // Said in another language than the note's: which one, under the voice, and the
    // translation the note was drafted from below the words as said; both for the clinician.
    text.lang = ev.language;
    const said = document.createElement("span");
    said.className = "lang";
    said.textContent = languageName(ev.language);
    who.append(said);
    const translated = document.createElement("div");
    translated.className = "translation";
    translated.lang = ui.noteLanguage;
    translated.textContent = ev.translation ? `${languageName(ui.noteLanguage)}: ${ev.translation}`
      : `(no ${languageName(ui.noteLanguage)} translation: left out of the note)`;
    const cell = document.createElement("div");
    cell.append(text, translated);
    li.append(who, cell);
  } else {
    li.append(who, text);
  }
  $("transcript").append(li);
  setRole(li, ui.roles[ev.speaker] || ev.role);
  li.scrollIntoView({ block: "nearest" });
}

function setRole(li, role) {
  const b = li.querySelector(".role");
  b.textContent = role === "unknown" ? "?" : role;
  b.className = `role ${role}`;
}

function relabel() {
  document.querySelectorAll("#transcript li[data-speaker]").forEach((li) => {
    const r = ui.roles[li.dataset.speaker];
    if (r) setRole(li, r);
  });
}

// A page reloaded (or reopened in the same tab) during a visit picks the visit up again:
// recording resumes, a paused visit stays paused, a note under review comes back.
async function recover() {
  const id = sessionStorage.getItem("scribe.visit");
  if (!id) return;
  // Reloaded (this tab let go of the visit: pagehide), not a duplicated tab, whose copy
  // of the session storage is taken from a page still connected.
  const reloaded = sessionStorage.getItem("scribe.released") === id;
  sessionStorage.removeItem("scribe.released");
  ui.visit = id;
  const visit = await visitOrGone(); // gone: said why (a restart, or discarded)
  if (!visit) return;
  if (visit.state === "stopped") {
    handle(await api("GET", `/api/visits/${id}/review`));
    return;
  }
  if (visit.state !== "recording" && visit.state !== "paused") return;
  try {
    // The unloaded page's connection may not be closed on the service's side yet (one
    // recorder per visit): try again for a moment (after a reload, up to 15 s: on a
    // loaded machine 3 s was once too short) before giving up.
    for (let attempt = 0; ; attempt++) {
      try {
        await connect();
        break;
      } catch (e) {
        if (attempt >= (reloaded ? 50 : 10)) throw e;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    if (visit.state === "recording") {
      await openMicrophone();
      setState("recording", "Recording");
      startClock();
    } else {
      setState("paused", "Paused");
    }
    say("This visit was interrupted (page reloaded); it goes on from where it was.");
  } catch (e) {
    if ((await api("GET", `/api/visits/${id}`).catch(() => ({}))).recorder) {
      // A duplicated tab: the visit goes on in the other one; nothing here may record.
      setState("elsewhere", "Recording in another tab");
      say("This visit is recording in another tab. Continue there, or reload this tab once that one is closed.", true);
      refreshVisits();
      return;
    }
    say(`Could not pick the visit up again: ${e.message}`, true);
  }
}

function resetPanels() {
  $("transcript").replaceChildren();
  $("draft").replaceChildren();
  $("partial").textContent = "";
  $("editor").value = "";
  $("instructions-draft").replaceChildren();
  $("instructions-editor").value = "";
  $("instructions-status").textContent = "drawn from the plan, signed with the note";
  $("omissions").replaceChildren();
  $("omissions-count").textContent = "";
  $("patient").value = "";
  $("encounter").value = "";
  $("clock").textContent = "0:00";
  $("note-status").textContent = "draft appears as you talk";
  Object.assign(ui, {
    visit: null, ws: null, seconds: 0, roles: {}, speakers: [], dirty: false, instructionsDirty: false,
    finalReceived: false, signedInstructions: false, pending: new Int16Array(0), drafting: null, counts: null,
  });
  $("note-counts").hidden = true;
}

function startClock() {
  clearInterval(ui.timer);
  ui.timer = setInterval(() => { $("clock").textContent = clock(ui.seconds); }, 250);
}

function clock(s) {
  s = Math.max(0, Math.floor(s));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// -- wiring -------------------------------------------------------------------------------

// A note under review lives only in the service's memory; tell it the page is still
// there, so the idle timeout (30 min) never discards a note someone is editing.
setInterval(() => {
  if (ui.visit && ["paused", "review", "signed"].includes(ui.state)) api("GET", `/api/visits/${ui.visit}`).catch(() => {});
}, 60_000);
// The open-visits list follows other tabs' visits (ages, states) every 30 s.
setInterval(() => { if (ui.state !== "offline") refreshVisits(); }, 30_000);

$("start").addEventListener("click", start);
$("pause").addEventListener("click", togglePause);
$("stop").addEventListener("click", stop);
$("sign").addEventListener("click", sign);
$("export").addEventListener("click", exportFhir);
$("send").addEventListener("click", sendToEhr);
$("discard").addEventListener("click", discard);
$("tab-draft").addEventListener("click", () => showTab("note", false));
$("tab-edit").addEventListener("click", () => showTab("note", true));
$("itab-draft").addEventListener("click", () => showTab("instructions", false));
$("itab-edit").addEventListener("click", () => showTab("instructions", true));
$("editor").addEventListener("input", () => { ui.dirty = true; showCounts(); });
$("instructions-editor").addEventListener("input", () => { ui.instructionsDirty = true; showCounts(); });
document.addEventListener("keydown", (e) => {
  if (e.altKey && e.code === "KeyS") {
    e.preventDefault();
    if (ui.state === "recording" || ui.state === "paused") stop(); else start();
  } else if (e.altKey && e.code === "KeyP") {
    e.preventDefault();
    togglePause();
  } else if (e.ctrlKey && e.key === "Enter") {
    e.preventDefault();
    sign();
  }
});
window.addEventListener("beforeunload", (e) => {
  if (["recording", "paused", "finishing", "review"].includes(ui.state)) e.preventDefault();
});
window.addEventListener("pagehide", () => { if (ui.visit) sessionStorage.setItem("scribe.released", ui.visit); });

// The Note language select: the languages this service writes notes in (the health
// report's note_languages; set by `scribe serve --note-language`). With one choice it is
// shown disabled, and says why, rather than offering what the service cannot do.
function noteLanguages(h) {
  const select = $("note-language");
  ui.noteLanguage = h.note_language || "en";
  const choices = h.note_languages && h.note_languages.length ? h.note_languages : [ui.noteLanguage];
  select.replaceChildren(...choices.map((code) => {
    const o = document.createElement("option");
    o.value = code;
    o.textContent = languageName(code);
    o.selected = code === ui.noteLanguage;
    return o;
  }));
  const name = languageName(ui.noteLanguage);
  const translates = (h.translates_to || []).includes(ui.noteLanguage);
  const why = `Notes are written in ${name}${choices.length > 1 ? "" : " only (this service's setting)"}. ` + (translates
    ? `Speech in another language is shown as said, with its ${name} translation, and the note is drafted from the translations.`
    : `This speech model does not translate: speech in another language is shown but left out of the note.`);
  $("note-language-why").textContent = why;
  select.title = why;
  select.disabled = choices.length < 2;
  ui.noteLanguageFixed = select.disabled;
}

(async function init() {
  setState("idle", "Ready");
  try {
    const h = await api("GET", "/api/health");
    ui.privacy = h.privacy;
    ui.fhirServer = h.fhir_server;
    if (h.fhir_server) $("send").title = "Send the signed note to the EHR's FHIR server";
    if (h.practitioner) $("practitioner").value = h.practitioner;
    const badge = $("privacy");
    badge.textContent = h.privacy ? "Privacy mode: nothing of the visit is kept" : "Standard mode: visits kept, encrypted";
    badge.className = `badge ${h.privacy ? "privacy" : "standard"}`;
    noteLanguages(h);
    for (const t of h.templates) {
      const o = document.createElement("option");
      o.value = t;
      o.textContent = t.toUpperCase();
      o.selected = t === h.default_template;
      $("template").append(o);
    }
    await recover();
    await refreshVisits();
  } catch (e) {
    setState("offline", "Not connected");
    $("start").disabled = true;
    say(`The capture service did not accept this page (${e.message}). Open the URL that \`scribe serve\` printed.`, true);
  }
})();
