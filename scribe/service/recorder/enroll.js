// "Enroll my voice": 20 s of the clinician reading a text aloud -> POST /api/voices as
// 16 kHz PCM16 (the recording lives only in this page's memory, zeroed once sent); the
// enrolled voices listed with Delete, and a check box each: listened for in the next visit.
// Loaded after recorder.js (uses its $, api, token, ui, say and microphoneProblem).
"use strict";

const ENROLL_SECONDS = 20;
const enrolling = { audio: null, chunks: [], timer: null, voices: [] };

// The ids of the checked voices for a visit's start, or undefined when none is enrolled
// (the service's default then: every voice enrolled at the site, i.e. none).
function listenedVoices() {
  if (!enrolling.voices.length) return undefined;
  return [...document.querySelectorAll("#voices input[type=checkbox]")].filter((c) => c.checked).map((c) => c.value);
}

async function refreshVoices() {
  let listing;
  try {
    listing = await api("GET", "/api/voices");
  } catch (e) {
    $("enroll-status").textContent = `Could not list the enrolled voices: ${e.message}`;
    return;
  }
  $("enroll-text").textContent = listing.text;
  const unchecked = new Set(
    [...document.querySelectorAll("#voices input[type=checkbox]")].filter((c) => !c.checked).map((c) => c.value));
  enrolling.voices = listing.voices;
  $("voices").replaceChildren(...listing.voices.map((v) => voiceItem(v, !unchecked.has(v.id))));
  if (!listing.voices.length) {
    const li = document.createElement("li");
    li.textContent = "None yet: roles come from the words alone.";
    $("voices").append(li);
  }
  $("voices-summary").textContent = listing.voices.length ? `(${listing.voices.length} enrolled)` : "";
}

function voiceItem(v, checked) {
  const li = document.createElement("li");
  li.dataset.voice = v.id;
  const box = document.createElement("input");
  box.type = "checkbox";
  box.value = v.id;
  box.checked = checked;
  box.id = `listen-${v.id}`;
  const label = document.createElement("label");
  label.htmlFor = box.id;
  label.textContent = `${v.name} · enrolled ${v.enrolled.slice(0, 10)} · ${v.id}`;
  const del = document.createElement("button");
  del.textContent = "Delete";
  del.setAttribute("aria-label", `Delete the voice of ${v.name}`);
  del.addEventListener("click", () => deleteVoice(v));
  li.append(box, label, del);
  return li;
}

async function deleteVoice(v) {
  if (!confirm(`Delete the voice of ${v.name}? Nothing of it will be kept.`)) return;
  try {
    await api("DELETE", `/api/voices/${encodeURIComponent(v.id)}`);
    $("enroll-status").textContent = `Deleted the voice of ${v.name}: nothing of it is kept.`;
  } catch (e) {
    $("enroll-status").textContent = `Could not delete: ${e.message}`;
  }
  await refreshVoices();
  $("enroll-record").focus();
}

function stopEnrollMicrophone() {
  if (!enrolling.audio) return;
  enrolling.audio.proc.disconnect();
  enrolling.audio.stream.getTracks().forEach((t) => t.stop());
  enrolling.audio.ctx.close();
  enrolling.audio = null;
}

async function recordVoice() {
  const name = $("enroll-name").value.trim();
  if (!name) {
    $("enroll-status").textContent = "Type your name first: the voiceprint is labelled with it.";
    $("enroll-name").focus();
    return;
  }
  if (!["idle", "done"].includes(ui.state)) {
    $("enroll-status").textContent = "Enroll between visits: a visit is using the microphone.";
    return;
  }
  $("enroll-record").disabled = true;
  enrolling.chunks = [];
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const ctx = new AudioContext({ sampleRate: 16000 });
    const source = ctx.createMediaStreamSource(stream);
    const proc = ctx.createScriptProcessor(2048, 1, 1);
    proc.onaudioprocess = (e) => enrolling.chunks.push(resample(e.inputBuffer.getChannelData(0), ctx.sampleRate).slice());
    source.connect(proc);
    proc.connect(ctx.destination);
    enrolling.audio = { stream, ctx, proc };
  } catch (e) {
    stopEnrollMicrophone();
    $("enroll-record").disabled = false;
    $("enroll-status").textContent = microphoneProblem(e).replace("press Start", "press Record");
    return;
  }
  let left = ENROLL_SECONDS;
  $("enroll-countdown").textContent = `${left} s`;
  $("enroll-status").textContent = "Recording: read the text aloud.";
  await new Promise((done) => {
    enrolling.timer = setInterval(() => {
      left -= 1;
      $("enroll-countdown").textContent = left > 0 ? `${left} s` : "";
      if (left <= 0) {
        clearInterval(enrolling.timer);
        done();
      }
    }, 1000);
  });
  stopEnrollMicrophone();
  const n = enrolling.chunks.reduce((a, c) => a + c.length, 0);
  const pcm = new Int16Array(n);
  let at = 0;
  for (const c of enrolling.chunks) {
    for (let i = 0; i < c.length; i++) pcm[at + i] = Math.max(-32768, Math.min(32767, Math.round(c[i] * 32767)));
    at += c.length;
    c.fill(0);
  }
  enrolling.chunks = [];
  $("enroll-status").textContent = "Saving your voiceprint…";
  try {
    const r = await fetch("/api/voices", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream", "X-Clinician-Name": encodeURIComponent(name) },
      body: pcm.buffer,
    });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || `${r.status}`);
    $("enroll-status").textContent = `Enrolled: ${data.name} (${data.id}). Visits now know your voice.`;
    $("enroll-name").value = "";
  } catch (e) {
    $("enroll-status").textContent = `Not enrolled: ${e.message}`;
  } finally {
    pcm.fill(0);
    $("enroll-record").disabled = false;
  }
  await refreshVoices();
}

$("enroll-record").addEventListener("click", recordVoice);
$("enroll").addEventListener("toggle", () => { if ($("enroll").open) refreshVoices(); });
refreshVoices();
