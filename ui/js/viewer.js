// The page viewer: a dialog with one page of a document, the cited passage highlighted and marked verified or not.
// A PDF whose file Folio kept shows as printed (printed_page.js: the page image, the quote's boxes over it, zoom);
// a toggle shows the extracted text instead, the text citations are verified against; other documents, and those
// ingested before files were kept, show their text only. Prev/next move through the document; the highlight
// follows a quote that runs onto the next page.

import { api } from "./api.js";
import { $, errorBox, fill, h } from "./dom.js";
import { boxNodes, fetchPageImage, imageWidth, ZOOMS } from "./printed_page.js";
import { findQuote } from "./quote.js";

const dialog = $("#page-dialog");
const titleNode = $("#page-title");
const metaNode = $("#page-meta");
const verdictNode = $("#page-verdict");
const textNode = $("#page-text");
const prevButton = $("#page-prev");
const nextButton = $("#page-next");

// the printed page's controls and sheet, made here so that index.html keeps the text viewer's markup alone
const printedButton = h("button.secondary", { type: "button", id: "page-show-printed", "aria-pressed": "true" },
  "Printed page");
const textButton = h("button.secondary", { type: "button", id: "page-show-text", "aria-pressed": "false" },
  "Extracted text");
const zoomOut = h("button.secondary", { type: "button", id: "page-zoom-out", "aria-label": "Zoom out" }, "−");
const zoomIn = h("button.secondary", { type: "button", id: "page-zoom-in", "aria-label": "Zoom in" }, "+");
const zoomLevel = h("span.page-zoom-level", { id: "page-zoom-level", "aria-live": "polite" }, "100%");
const zoomGroup = h("div.page-zoom", { role: "group", "aria-label": "Zoom" }, zoomOut, zoomLevel, zoomIn);
const tools = h("div.page-tools", { role: "toolbar", "aria-label": "How the page is shown" },
  h("div.page-view-toggle", { role: "group", "aria-label": "Show" }, printedButton, textButton), zoomGroup);
const noteNode = h("p.page-note.muted", { id: "page-note", role: "status" });
const image = h("img.page-image", { id: "page-image", alt: "" });
const overlay = h("div.page-overlay", { "aria-hidden": "true" });
const sheet = h("div.page-sheet", {}, image, overlay);
const printedNode = h("div.page-printed", { id: "page-printed", tabindex: "0", role: "region",
  "aria-label": "The page as printed" }, sheet);
textNode.before(tools, noteNode, printedNode);

let current = null; // {docId, page, pages, citation}
let loadToken = 0;
let mode = "printed"; // what the reader chose: "printed" or "text" (kept from page to page)
let zoom = 100;
let shown = null; // {docId, page, width, url, printed} of the page on screen
let imageAbort = null;

function verdict(citation, page) {
  if (!citation) return null;
  const cited = page >= citation.page && page <= (citation.last_page || citation.page);
  if (!cited) return h("p.verdict.neutral", {}, `The citation points to page ${citation.page}.`);
  if (citation.verified === true) {
    return h("p.verdict.ok", {}, h("span.badge.ok", { "aria-hidden": "true" }, "✓"),
      " Verified: the quoted passage is on this page.");
  }
  if (citation.verified === false) {
    return h("p.verdict.bad", {}, h("span.badge.bad", { "aria-hidden": "true" }, "✗"),
      " Not verified: ", citation.note || "the quoted text was not found on the cited page.");
  }
  return h("p.verdict.neutral", {}, "Nothing was quoted, so there was nothing to check; the page is cited.");
}

function renderText(text, quote) {
  const found = quote ? findQuote(text, quote) : null;
  if (!found) {
    fill(textNode, text);
    return null;
  }
  const mark = h("mark", { id: "quote-mark", tabindex: "-1" }, text.slice(found.start, found.end));
  fill(textNode, text.slice(0, found.start), mark, text.slice(found.end));
  return mark;
}

/** Show the printed page or the text, as the reader chose and as this page allows. */
function applyMode() {
  const showPrinted = Boolean(shown && shown.printed) && mode === "printed";
  printedNode.hidden = !showPrinted;
  textNode.hidden = showPrinted;
  zoomGroup.hidden = !showPrinted;
  printedButton.disabled = !(shown && shown.printed);
  printedButton.setAttribute("aria-pressed", String(showPrinted));
  textButton.setAttribute("aria-pressed", String(!showPrinted));
  zoomOut.disabled = zoom <= ZOOMS[0];
  zoomIn.disabled = zoom >= ZOOMS[ZOOMS.length - 1];
  zoomLevel.textContent = `${zoom}%`;
  sheet.style.width = `${zoom}%`;
}

function focusHighlight() {
  if (!printedNode.hidden) {
    const box = overlay.firstElementChild;
    if (box) box.scrollIntoView({ block: "center", inline: "nearest" });
    else printedNode.scrollTop = 0;
  } else {
    const mark = $("#quote-mark", textNode);
    if (mark) mark.scrollIntoView({ block: "center" });
    else textNode.scrollTop = 0;
  }
}

/** Fetch the page image at the width this zoom needs (unless the one on screen is as large). */
async function showImage(token) {
  if (!shown || !shown.printed) return;
  const width = imageWidth(printedNode.clientWidth || dialog.clientWidth || 800, zoom);
  if (shown.url && shown.width >= width) return;
  if (imageAbort) imageAbort.abort();
  imageAbort = new AbortController();
  const { docId, page } = shown;
  let url;
  try {
    url = await fetchPageImage(docId, page, width, imageAbort.signal);
  } catch (error) {
    if (error.name === "AbortError" || token !== loadToken) return;
    shown.printed = false; // text only, and say why
    noteNode.textContent = `The printed page could not be shown (${error.message} [${error.code}]); `
      + "this is the extracted text.";
    applyMode();
    return;
  }
  if (token !== loadToken) {
    URL.revokeObjectURL(url);
    return;
  }
  await new Promise((resolve) => {
    image.onload = resolve;
    image.onerror = resolve;
    image.src = url;
  });
  if (shown.url) URL.revokeObjectURL(shown.url);
  shown.url = url;
  shown.width = width;
  image.alt = `Page ${page} as printed`;
  applyMode();
}

async function load(docId, page) {
  const token = ++loadToken;
  prevButton.disabled = true;
  nextButton.disabled = true;
  metaNode.textContent = `Page ${page}`;
  fill(verdictNode);
  fill(overlay);
  noteNode.textContent = "";
  fill(textNode, h("span.muted", {}, "Loading the page…"));
  const citation = current.citation;
  const runsOn = citation && page > citation.page && page <= (citation.last_page || citation.page) + 1;
  const cited = citation && page >= citation.page && page <= (citation.last_page || citation.page);
  const quote = (cited || runsOn) && citation.quote ? citation.quote : null;
  let data;
  try {
    data = await api.page(docId, page, quote);
  } catch (error) {
    if (token !== loadToken) return;
    shown = null;
    applyMode();
    fill(textNode, errorBox(error, "The page could not be loaded:"));
    return;
  }
  if (token !== loadToken) return;
  current = { ...current, docId: data.document_id, page: data.page, pages: data.pages };
  titleNode.textContent = data.title;
  metaNode.textContent = `Page ${data.page} of ${data.pages} · ${data.tokens.toLocaleString("en-US")} tokens`;
  const mark = renderText(data.text, quote);
  fill(verdictNode, verdict(citation, data.page));
  const old = shown && shown.docId === data.document_id && shown.page === data.page ? shown : null;
  if (shown && shown.url && !old) URL.revokeObjectURL(shown.url);
  shown = old || { docId: data.document_id, page: data.page, width: 0, url: null, printed: data.printed };
  if (!old) image.removeAttribute("src");
  fill(overlay, boxNodes(data.boxes));
  if (!data.printed) {
    noteNode.textContent = "This document has no printed page to show (not a PDF, or ingested before Folio kept "
      + "files): this is its extracted text.";
  } else if (quote && cited && !data.boxes.length) {
    noteNode.textContent = data.boxes_error
      ? `The passage could not be located on the printed page (${data.boxes_error.message}).`
      : "The quoted words could not be located on the printed page to highlight.";
  }
  if (citation && citation.quote && cited && !mark) {
    verdictNode.append(h("p.muted", {}, "The quoted words could not be located on this page to highlight."));
  }
  prevButton.disabled = data.page <= 1;
  nextButton.disabled = data.page >= data.pages;
  applyMode();
  await showImage(token);
  if (token === loadToken) focusHighlight();
}

function setZoom(next) {
  zoom = Math.max(ZOOMS[0], Math.min(ZOOMS[ZOOMS.length - 1], next));
  applyMode();
  showImage(loadToken);
}

function step(direction) {
  const at = ZOOMS.indexOf(zoom);
  setZoom(ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, (at < 0 ? ZOOMS.indexOf(100) : at) + direction))]);
}

function setMode(next) {
  mode = next;
  applyMode();
  focusHighlight();
}

/** Open the viewer on a document's page; `citation` (from an answer) highlights and judges its quote. */
export function openPage(docId, page, citation = null, title = "") {
  current = { docId, page, pages: null, citation };
  titleNode.textContent = title || (citation && citation.title) || "Document";
  if (!dialog.open) dialog.showModal();
  load(docId, page);
}

prevButton.addEventListener("click", () => current && load(current.docId, current.page - 1));
nextButton.addEventListener("click", () => current && load(current.docId, current.page + 1));
printedButton.addEventListener("click", () => setMode("printed"));
textButton.addEventListener("click", () => setMode("text"));
zoomIn.addEventListener("click", () => step(1));
zoomOut.addEventListener("click", () => step(-1));
$("#page-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  loadToken += 1;
  if (imageAbort) imageAbort.abort();
  if (shown && shown.url) URL.revokeObjectURL(shown.url);
  shown = null;
  image.removeAttribute("src");
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close(); // a click on the backdrop
});
dialog.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "ArrowLeft" && !prevButton.disabled) prevButton.click();
  if (event.key === "ArrowRight" && !nextButton.disabled) nextButton.click();
  if ((event.key === "+" || event.key === "=") && !zoomGroup.hidden) step(1);
  if (event.key === "-" && !zoomGroup.hidden) step(-1);
});
