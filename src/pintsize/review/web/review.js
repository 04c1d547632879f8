// The review page: show the next document, take a judgement by keyboard or mouse, save it.
"use strict";

const state = { doc: null, value: null, busy: false };
const $ = (id) => document.getElementById(id);

function setStatus(message, kind = "") {
  const status = $("status");
  status.textContent = message;
  status.className = `status ${kind}`;
}

function showProgress(progress) {
  const share = progress.total ? progress.done / progress.total : 0;
  $("progress-fill").style.width = `${(100 * share).toFixed(1)}%`;
  $("progress-text").textContent = `${progress.done} / ${progress.total} done · ${progress.mine} by you`;
}

function setValue(value) {
  state.value = value;
  for (const button of $("scale").querySelectorAll("button")) {
    const on = Number(button.dataset.value) === value;
    button.classList.toggle("selected", on);
    button.setAttribute("aria-checked", on ? "true" : "false");
  }
}

function showDocument(doc, label = null) {
  state.doc = doc;
  $("empty").classList.toggle("hidden", doc !== null);
  for (const id of ["doc-text", "doc-scores", "doc-llm"]) $(id).replaceChildren();
  if (doc === null) {
    $("doc-source").textContent = "";
    $("doc-id").textContent = "";
    $("doc-meta").textContent = "";
    $("doc-double").classList.add("hidden");
    setValue(null);
    return;
  }
  $("doc-source").textContent = doc.source;
  $("doc-id").textContent = doc.id;
  $("doc-double").classList.toggle("hidden", !doc.double_review);
  $("doc-meta").textContent = JSON.stringify(doc.meta, null, 2);
  for (const [name, score] of Object.entries(doc.scores)) {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = `${name} ${Number(score).toFixed(3)}`;
    $("doc-scores").append(chip);
  }
  if (doc.llm) { // no chip at all where the judge did not rate the document (not a 0)
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = `LLM judge ${doc.llm.score}/5 (${doc.llm.model})`;
    $("doc-llm").append(chip);
  }
  $("doc-text").textContent = doc.text; // text only: a document can never inject markup
  $("doc-text").scrollTop = 0;
  setValue(label ? label.educational_value : null);
  $("note").value = label ? label.note : "";
}

async function loadNext() {
  const data = await api.call("GET", "/api/next");
  showDocument(data.document);
  showProgress(data.progress);
}

async function guarded(action) {
  if (state.busy) return;
  state.busy = true;
  try {
    await action();
  } catch (error) {
    setStatus(error.message, "error");
  } finally {
    state.busy = false;
  }
}

function decide(decision) {
  if (!state.doc) return;
  if (state.value === null) {
    setStatus("Choose an educational value (0–5) first.", "error");
    return;
  }
  guarded(async () => {
    const saved = await api.call("POST", "/api/labels", {
      doc_id: state.doc.id,
      decision,
      educational_value: state.value,
      note: $("note").value,
    });
    setStatus(`Saved: ${decision}, value ${saved.label.educational_value}.`, "ok");
    $("note").value = "";
    await loadNext();
  });
}

function skip() {
  if (!state.doc) return;
  guarded(async () => {
    await api.call("POST", "/api/skip", { doc_id: state.doc.id });
    setStatus("Skipped.");
    await loadNext();
  });
}

function undo() {
  guarded(async () => {
    const data = await api.call("POST", "/api/undo");
    if (data.document === null) {
      setStatus("Nothing to undo.");
      return;
    }
    const { label, undone } = data.document;
    showDocument(data.document, label);
    showProgress(data.progress);
    const was = undone ? `${undone.label ? "accept" : "reject"}, value ${undone.educational_value}` : "none";
    setStatus(`Undone (was: ${was}). Label it again.`, "ok");
  });
}

const KEYS = {
  a: () => decide("accept"),
  r: () => decide("reject"),
  s: skip,
  u: undo,
  n: () => $("note").focus(),
};

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const key = event.key.toLowerCase();
  if (/^[0-5]$/.test(key)) {
    setValue(Number(key));
  } else if (KEYS[key]) {
    KEYS[key]();
  } else {
    return;
  }
  event.preventDefault();
});

$("scale").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (button) setValue(Number(button.dataset.value));
});
$("accept").addEventListener("click", () => decide("accept"));
$("reject").addEventListener("click", () => decide("reject"));
$("skip").addEventListener("click", skip);
$("undo").addEventListener("click", undo);
signOutButton("sign-out");

(async () => {
  try {
    const me = await api.me();
    $("reviewer").textContent = me.reviewer;
    await loadNext();
  } catch (error) {
    setStatus(error.message, "error");
  }
})();
