// The page's behaviour: classify one text or a batch through POST /predict, show results and errors.
// No framework and no external resources: the page must work offline. Text goes into the DOM through
// textContent only, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { rows: [], sortKey: "index", ascending: true, threshold: 0.5, maxTexts: 256, keyRefused: false };

function apiKey() {
  return $("api-key").value.trim() || sessionStorage.getItem("hatespeech-api-key") || "";
}

function headers() {
  const result = { "Content-Type": "application/json", Accept: "application/json" };
  const key = apiKey();
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.errorType = body && body.error_type ? body.error_type : "";
    this.retryAfter = retryAfter;
  }
}

async function call(method, path, payload) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(),
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
  } catch (err) {
    throw new ApiError(0, { error: `could not reach the server (${err.message})`, error_type: "network" });
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body, response.headers.get("Retry-After"));
  return body;
}

function explain(err) {
  switch (err.status) {
    case 0:
      return `Could not reach the server: ${err.message}.`;
    case 401:
      $("key-row").hidden = false;
      return state.keyRefused || apiKey()
        ? "The API key was refused. Check it and classify again."
        : "This server needs an API key: enter it below and classify again.";
    case 413:
      return `The request is too large: ${err.message}. Send fewer or shorter texts.`;
    case 403:
    case 409:
      return `${err.message}.`;
    case 422:
      return `The server refused the input: ${err.message}.`;
    case 503: {
      const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : " Try again shortly.";
      if (err.errorType === "not_ready") return `The model is still loading.${wait}`;
      return `The server is busy (${err.errorType || "overloaded"}): ${err.message}.${wait}`;
    }
    default:
      return `The server answered ${err.status}: ${err.message}.`;
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function percent(value) {
  return `${(value * 100).toFixed(1)}%`;
}

function showSingle(prediction) {
  const label = prediction.label;
  const confidence = label === "hate" ? prediction.score : 1 - prediction.score;
  $("result-label").textContent = label;
  $("result-label").className = `label ${label}`;
  $("result-confidence").textContent = `confidence ${percent(confidence)}`;
  $("result-bar").style.width = percent(confidence);
  $("result-bar").className = `bar-fill ${label}`;
  $("result-score").textContent = prediction.score.toFixed(4);
  $("result-threshold").textContent = String(state.threshold);
  // A text over the model's token limit is scored sentence by sentence; its score is the worst sentence's.
  const parts = prediction.parts || 1;
  $("result-parts").hidden = parts < 2;
  $("result-parts").textContent = parts < 2 ? "" :
    `Long text: scored in ${parts} parts; this is the score of the worst, characters ${prediction.part.start}–${prediction.part.end} (its words are marked below).`;
  $("result").hidden = false;
  $("batch").hidden = true;
}

function signed(value) {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(2)}`;
}

// The text with each explained span marked by the direction and size of its effect on the log-odds of hate,
// plus two lists (the text alternative): the strongest spans each way.
function showExplanation(text, spans) {
  const strongest = Math.max(1e-6, ...spans.map((s) => Math.abs(s.contribution)));
  const parts = [];
  let at = 0;
  for (const span of spans) {
    if (span.start > at) parts.push(document.createTextNode(text.slice(at, span.start)));
    const mark = document.createElement("span");
    const towards = span.contribution >= 0;
    mark.className = `word ${towards ? "up" : "down"}`;
    mark.textContent = text.slice(span.start, span.end);
    mark.dataset.contribution = String(span.contribution);
    const strength = Math.abs(span.contribution) / strongest;
    mark.style.backgroundColor = towards ? `rgba(179, 38, 30, ${0.45 * strength})` : `rgba(31, 95, 191, ${0.45 * strength})`;
    mark.title = `${signed(span.contribution)} log-odds ${towards ? "towards" : "away from"} hate`;
    const said = document.createElement("span");
    said.className = "visually-hidden";
    said.textContent = ` (${mark.title})`;
    parts.push(mark, said);
    at = span.end;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  $("why-text").replaceChildren(...parts);
  const list = (id, chosen) => {
    $(id).replaceChildren(...chosen.map((s) => {
      const item = document.createElement("li");
      item.textContent = `${text.slice(s.start, s.end)} (${signed(s.contribution)})`;
      return item;
    }));
    if (!chosen.length) $(id).replaceChildren(Object.assign(document.createElement("li"), { textContent: "none" }));
  };
  const ranked = [...spans].sort((a, b) => b.contribution - a.contribution);
  list("why-up", ranked.filter((s) => s.contribution > 0).slice(0, 5));
  list("why-down", ranked.filter((s) => s.contribution < 0).reverse().slice(0, 5));
  $("why").hidden = false;
}

function renderRows() {
  const key = state.sortKey;
  const direction = state.ascending ? 1 : -1;
  const rows = [...state.rows].sort((a, b) => {
    const x = a[key];
    const y = b[key];
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return direction * (order || a.index - b.index);
  });
  const body = document.querySelector("#batch-table tbody");
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      const cells = [String(row.index), row.text, row.label, row.score.toFixed(4)];
      cells.forEach((value, column) => {
        const td = document.createElement("td");
        td.textContent = value;
        if (column === 1) td.className = "text";
        if (column === 2) td.className = `label-cell ${row.label}`;
        tr.appendChild(td);
      });
      return tr;
    }),
  );
  document.querySelectorAll("#batch-table th").forEach((th) => {
    const sorted = th.querySelector("button").dataset.key === key;
    th.setAttribute("aria-sort", sorted ? (state.ascending ? "ascending" : "descending") : "none");
  });
}

function showBatch(texts, predictions) {
  state.rows = predictions.map((p, i) => ({ index: i + 1, text: texts[i], label: p.label, score: p.score }));
  state.sortKey = "index";
  state.ascending = true;
  const hate = state.rows.filter((row) => row.label === "hate").length;
  $("batch-summary").textContent = `${state.rows.length} texts: ${hate} hate, ${state.rows.length - hate} noHate.`;
  renderRows();
  $("batch").hidden = false;
  $("result").hidden = true;
}

async function classify(event) {
  event.preventDefault();
  showError("");
  const raw = $("text").value;
  if (apiKey()) sessionStorage.setItem("hatespeech-api-key", apiKey());
  const button = $("classify");
  try {
    if (mode() === "single") {
      if (!raw.trim()) {
        showError("Type a text to classify first: the text is empty.");
        $("text").focus();
        return;
      }
      button.disabled = true;
      $("status").textContent = "Classifying…";
      const prediction = await call("POST", "/predict", { text: raw, explain: true });
      showSingle(prediction);
      showExplanation(raw, prediction.explanation || []);
      $("status").textContent = "Done.";
    } else {
      const texts = raw.split("\n").map((line) => line.trim()).filter((line) => line);
      if (!texts.length) {
        showError("Type at least one text, one per line: every line is empty.");
        $("text").focus();
        return;
      }
      button.disabled = true;
      const predictions = [];
      // Requests of at most maxTexts texts (the server's limit, read from /model).
      for (let start = 0; start < texts.length; start += state.maxTexts) {
        $("status").textContent = `Classifying ${start + 1}–${Math.min(start + state.maxTexts, texts.length)} of ${texts.length}…`;
        const chunk = texts.slice(start, start + state.maxTexts);
        const answer = await call("POST", "/predict", { texts: chunk });
        predictions.push(...answer.predictions);
      }
      showBatch(texts, predictions);
      $("status").textContent = `Classified ${texts.length} texts.`;
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    showError(explain(err));
    $("status").textContent = "";
    if (err.status === 401) {
      state.keyRefused = Boolean(apiKey());
      $("api-key").focus();
    }
  } finally {
    button.disabled = false;
  }
}

async function openCard(event) {
  // The card may need the API key: fetch it with the key and show the text in a new tab.
  event.preventDefault();
  const response = await fetch(event.currentTarget.href, { headers: headers() });
  const text = response.ok ? await response.text() : `The model card could not be read (HTTP ${response.status}).`;
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain; charset=utf-8" }));
  window.open(url, "_blank", "noopener");
}

async function loadModelInfo() {
  try {
    const info = await call("GET", "/model");
    state.threshold = info.threshold;
    if (info.limits && info.limits.max_texts) state.maxTexts = info.limits.max_texts;
    const quick = info.recipe === "quick" ? " The quick first model answers while the full one trains." : "";
    $("model-info").textContent =
      `Model ${info.name} (base ${info.base_model}, ${info.engine}), threshold ${info.threshold}.${quick} `;
    if (info.card) {
      const link = document.createElement("a");
      link.id = "model-card";
      link.href = info.card;
      link.textContent = "Model card: what it learnt from, its figures, where it is weak.";
      link.addEventListener("click", openCard);
      $("model-info").append(link);
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) {
      $("key-row").hidden = false;
      $("model-info").textContent = "Model information needs an API key.";
    } else if (err.status === 503) {
      $("model-info").textContent = "The model is still loading…";
      setTimeout(loadModelInfo, 1000);
    } else {
      $("model-info").textContent = explain(err);
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", classify);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("form").requestSubmit();
  });
  document.querySelectorAll('input[name="mode"]').forEach((radio) =>
    radio.addEventListener("change", () => {
      const batch = mode() === "batch";
      const reviewing = mode() === "review";
      $("text-label").textContent = batch ? "Texts to classify, one per line" : "Text to classify";
      $("text").rows = batch ? 10 : 5;
      $("text-row").hidden = reviewing;
      $("classify").hidden = reviewing;
      $("result").hidden = true;
      $("batch").hidden = true;
      showError("");
      if (reviewing) startReview();
      else $("review").hidden = true;
    }),
  );
  document.querySelectorAll("#batch-table th button").forEach((button) =>
    button.addEventListener("click", () => {
      const key = button.dataset.key;
      state.ascending = state.sortKey === key ? !state.ascending : true;
      state.sortKey = key;
      renderRows();
    }),
  );
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("hatespeech-api-key", apiKey());
    state.keyRefused = false;
    loadModelInfo();
    if (mode() === "review") startReview();
  });
  loadModelInfo();
});
