// Review mode: the server's review queue (GET /review), one text at a time, labelled with a key press
// (h: hate, n: not hate, s: skip) and stored as feedback (POST /feedback). Uses app.js's helpers.
"use strict";

const review = { items: [], at: 0, saved: 0, skipped: new Set() };  // skipped: not shown again in this tab

async function startReview() {
  $("review").hidden = false;
  $("review-item").hidden = true;
  $("review-progress").textContent = "Loading the review queue…";
  try {
    const queue = (await call("GET", "/review?limit=50")).items;
    review.items = queue.filter((item) => !review.skipped.has(item.prediction_id)).slice(0, 20);
    review.at = 0;
    showReviewItem();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    $("review-progress").textContent = "";
    showError(explain(err));
    if (err.status === 401) $("api-key").focus();
  }
}

function showReviewItem() {
  const item = review.items[review.at];
  if (!item) {
    $("review-item").hidden = true;
    $("review-progress").textContent = review.saved
      ? `Saved ${review.saved} labels. Nothing left to review.`
      : "Nothing to review.";
    return;
  }
  $("review-text").textContent = item.text;
  $("review-model").textContent = `${item.label} (P(hate) ${item.score.toFixed(3)})`;
  $("review-progress").textContent = `Item ${review.at + 1} of ${review.items.length}.`;
  $("review-item").hidden = false;
  $("review-hate").focus();
}

async function labelReviewItem(label) {
  const item = review.items[review.at];
  if (!item) return;
  showError("");
  if (!label) review.skipped.add(item.prediction_id);
  else {
    try {
      await call("POST", "/feedback", { request_id: item.request_id, position: item.position, label });
      review.saved += 1;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showError(explain(err));
      return;
    }
  }
  review.at += 1;
  if (review.at >= review.items.length) await startReview();  // the reviewed ones no longer come back
  else showReviewItem();
}

document.addEventListener("DOMContentLoaded", () => {
  $("review-hate").addEventListener("click", () => labelReviewItem("hate"));
  $("review-nohate").addEventListener("click", () => labelReviewItem("noHate"));
  $("review-skip").addEventListener("click", () => labelReviewItem(null));
  document.addEventListener("keydown", (event) => {
    if ($("review").hidden || $("review-item").hidden) return;
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const label = { h: "hate", n: "noHate", s: null }[event.key.toLowerCase()];
    if (label === undefined) return;
    event.preventDefault();
    labelReviewItem(label);
  });
});
