// The page viewer: a dialog with the stored text of one page, the cited passage highlighted and marked
// verified or not. Prev/next move through the document; the highlight follows a quote that runs onto the next page.

import { api } from "./api.js";
import { $, errorBox, fill, h } from "./dom.js";
import { findQuote } from "./quote.js";

const dialog = $("#page-dialog");
const titleNode = $("#page-title");
const metaNode = $("#page-meta");
const verdictNode = $("#page-verdict");
const textNode = $("#page-text");
const prevButton = $("#page-prev");
const nextButton = $("#page-next");

let current = null; // {docId, page, pages, citation}
let loadToken = 0;

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

async function load(docId, page) {
  const token = ++loadToken;
  prevButton.disabled = true;
  nextButton.disabled = true;
  metaNode.textContent = `Page ${page}`;
  fill(verdictNode);
  fill(textNode, h("span.muted", {}, "Loading the page…"));
  let data;
  try {
    data = await api.page(docId, page);
  } catch (error) {
    if (token !== loadToken) return;
    fill(textNode, errorBox(error, "The page could not be loaded:"));
    return;
  }
  if (token !== loadToken) return;
  current = { ...current, docId: data.document_id, page: data.page, pages: data.pages };
  titleNode.textContent = data.title;
  metaNode.textContent = `Page ${data.page} of ${data.pages} · ${data.tokens.toLocaleString("en-US")} tokens`;
  const citation = current.citation;
  const runsOn = citation && page > citation.page && page <= (citation.last_page || citation.page) + 1;
  const cited = citation && page >= citation.page && page <= (citation.last_page || citation.page);
  const mark = renderText(data.text, cited || runsOn ? citation.quote : null);
  fill(verdictNode, verdict(citation, data.page));
  if (citation && citation.quote && cited && !mark) {
    verdictNode.append(h("p.muted", {}, "The quoted words could not be located on this page to highlight."));
  }
  prevButton.disabled = data.page <= 1;
  nextButton.disabled = data.page >= data.pages;
  if (mark) mark.scrollIntoView({ block: "center" });
  else textNode.scrollTop = 0;
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
$("#page-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close(); // a click on the backdrop
});
dialog.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
  if (event.key === "ArrowLeft" && !prevButton.disabled) prevButton.click();
  if (event.key === "ArrowRight" && !nextButton.disabled) nextButton.click();
});
