// The documents list: what each costs to ask, its status, selection into the question's scope, rename, delete;
// found by title or file name and sorted by date, size or title (the choice is kept for the tab).

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, dateTime, dollars, errorBox, fill, h, tokens } from "./dom.js";
import { uploadsActive } from "./upload.js";
import { openPage } from "./viewer.js";

const body = $("#documents-body");
const table = $("#documents-table");
const empty = $("#documents-empty");
const status = $("#documents-status");
const selectAll = $("#select-all");
const tools = $("#documents-tools");
const search = $("#documents-search");
const sortBy = $("#documents-sort");
const shown = $("#documents-shown");

let documents = [];
const selected = new Set();
const listeners = [];

/** `fn(scope)` whenever the list or the selection changes. */
export function onScopeChange(fn) {
  listeners.push(fn);
}

/** Whether documents are on their way in: uploads of this tab running, or documents still being written. */
function ingesting() {
  return uploadsActive() > 0 || documents.some((d) => d.status === "writing");
}

/** The question's scope: the selected documents, or every document when none is selected. */
export function scope() {
  const ready = documents.filter((d) => d.status === "ready");
  const chosen = ready.filter((d) => selected.has(d.id));
  return { all: chosen.length === 0, documents: chosen.length ? chosen : ready, total: ready.length,
    ingesting: ingesting() };
}

/** A listed document by id (any status), or null. */
export function documentOf(docId) {
  return documents.find((d) => d.id === docId) || null;
}

export function titleOf(docId) {
  const doc = documents.find((d) => d.id === docId);
  return doc ? doc.title : null;
}

function changed() {
  const s = scope();
  selectAll.checked = s.total > 0 && selected.size === s.total;
  selectAll.indeterminate = selected.size > 0 && selected.size < s.total;
  selectAll.disabled = s.total === 0;
  for (const fn of listeners) fn(s);
}

function costCell(doc) {
  const c = doc.question_cost_usd || {};
  // the plan's own formulas for a short question; the plan prices the real question, so it can differ a little
  const how = c.question_tokens ? `As the plan prices a question of about ${c.question_tokens} tokens with a `
    + `${c.output_tokens}-token answer${c.warmup ? "; cold includes the cache warm-up" : ""}.` : null;
  return h("td.num.cost", { "data-label": "One question costs", title: how },
    h("span.cost-line", {}, h("span.cost-label", {}, "whole, cold "), dollars(c.full_cold)),
    h("span.cost-line", {}, h("span.cost-label", {}, "whole, cached "), dollars(c.full_cached)),
    h("span.cost-line", {}, h("span.cost-label", {}, "retrieval "), dollars(c.rag)));
}

/** Which pages were read by OCR, how confidently, and which were too unsure to index. */
function ocrNote(doc) {
  const pages = doc.ocr_pages || [];
  if (!pages.length) return null;
  const mean = typeof doc.ocr_mean_confidence === "number" ? `, mean confidence ${Math.round(doc.ocr_mean_confidence)}` : "";
  const low = (doc.ocr_low_confidence_pages || []).map((p) => p + 1);
  return h("span.ocr-note", {},
    `OCR: ${pages.length} of ${doc.n_pages} page${doc.n_pages === 1 ? "" : "s"}${mean}`,
    low.length ? h("span.ocr-low", { role: "note" },
      ` — not indexed, rescan: page${low.length === 1 ? "" : "s"} ${low.join(", ")}`) : null);
}

const STATEMENTS = { income: "income statement", balance: "balance sheet", cashflow: "cash flow", equity: "equity" };

/** What kind of document it is (contract, filing), and where a filing's financial statements are: links to the
 * pages, which questions about their lines retrieve (the statement lane). */
function genreNote(doc) {
  const found = Object.entries(doc.statement_pages || {}).filter(([, pages]) => pages.length);
  if (doc.genre !== "contract" && doc.genre !== "filing" && !found.length) return null;
  const links = [];
  for (const [kind, pages] of found) {
    links.push(links.length ? ", " : " · statements: ", `${STATEMENTS[kind] || kind} `);
    pages.forEach((p, i) => links.push(i ? " " : "", h("a.page-link", {
      href: `#doc-${doc.id.slice(0, 12)}-p${p + 1}`,
      onclick: (event) => {
        event.preventDefault();
        openPage(doc.id, p + 1, null, doc.title);
      },
    }, `p.${p + 1}`)));
  }
  return h("span.genre-note", {}, doc.genre === "contract" ? "contract" : "filing", ...links);
}

/** What ingestion ignored or could not read (JavaScript, embedded files, pages OCR failed on). */
function warningNote(doc) {
  const warnings = doc.warnings || [];
  if (!warnings.length) return null;
  return h("ul.warning-note", { "aria-label": "Ingestion warnings" }, warnings.map((w) => h("li", {}, w)));
}

function row(doc) {
  const ready = doc.status === "ready";
  const checkbox = h("input", {
    type: "checkbox", id: `select-${doc.id}`, checked: selected.has(doc.id), disabled: !ready,
    onchange: (event) => {
      if (event.target.checked) selected.add(doc.id);
      else selected.delete(doc.id);
      changed();
    },
  });
  const remove = h("button.danger.small", {
    type: "button", "aria-label": `Delete ${doc.title}`, onclick: () => confirmDelete(doc, remove),
  }, "Delete");
  const rowError = h("div.row-error", { role: "status" });
  const rename = h("button.small", {
    type: "button", "aria-label": `Rename ${doc.title}`, disabled: !ready,
    onclick: () => editTitle(doc, rename, rowError),
  }, "Rename");
  return h("tr", { dataset: { id: doc.id } },
    h("td.select", { "data-label": "In scope" }, checkbox,
      h("label.visually-hidden", { for: `select-${doc.id}` }, `Ask about ${doc.title}`)),
    h("td.title", { "data-label": "Document" },
      h("a.doc-title", {
        href: `#doc-${doc.id.slice(0, 12)}`,
        onclick: (event) => {
          event.preventDefault();
          openPage(doc.id, 1, null, doc.title);
        },
      }, doc.title),
      h("span.file-name", {}, doc.file_name), genreNote(doc), ocrNote(doc), warningNote(doc), rowError),
    h("td.num", { "data-label": "Pages" }, tokens(doc.n_pages)),
    h("td.num", { "data-label": "Tokens" }, tokens(doc.total_tokens)),
    h("td", { "data-label": "Status" }, h(`span.status.status-${doc.status}`, {}, doc.status)),
    h("td.when", { "data-label": "Ingested" }, h("time", { datetime: doc.ingested_at }, dateTime(doc.ingested_at))),
    costCell(doc),
    h("td.row-actions", {}, rename, " ", remove));
}

/** The title cell as a small form: the new title is saved with PATCH, and the list shows it (citations use it). */
function editTitle(doc, trigger, rowError) {
  const cell = trigger.closest("tr").querySelector("td.title");
  const before = [...cell.childNodes];
  const input = h("input.title-input", { type: "text", value: doc.title, maxlength: 300, required: true,
    "aria-label": `New title for ${doc.title}` });
  const restore = () => {
    cell.replaceChildren(...before);
    trigger.focus();
  };
  const form = h("form.rename", {
    onsubmit: async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title || title === doc.title) return restore();
      try {
        await api.renameDocument(doc.id, title);
      } catch (error) {
        cell.replaceChildren(...before);
        fill(rowError, errorBox(error, "Not renamed:"));
        return;
      }
      await refresh();
      fill(status, h("p.notice", { role: "status" }, `Renamed “${doc.title}” to “${title}”: citations use the new title.`));
      document.dispatchEvent(new CustomEvent("folio:documents-changed"));
    },
  }, input, " ", h("button.small", { type: "submit" }, "Save"), " ",
  h("button.small", { type: "button", onclick: restore }, "Cancel"));
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") restore(); });
  rowError.replaceChildren();
  cell.replaceChildren(form);
  input.focus();
  input.select();
}

const collator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });
const SORTS = {
  "date-desc": (a, b) => String(b.ingested_at).localeCompare(String(a.ingested_at)),
  "date-asc": (a, b) => String(a.ingested_at).localeCompare(String(b.ingested_at)),
  "title-asc": (a, b) => collator.compare(a.title, b.title),
  "title-desc": (a, b) => collator.compare(b.title, a.title),
  "pages-desc": (a, b) => (b.n_pages || 0) - (a.n_pages || 0),
  "tokens-desc": (a, b) => (b.total_tokens || 0) - (a.total_tokens || 0),
  "tokens-asc": (a, b) => (a.total_tokens || 0) - (b.total_tokens || 0),
};

/** The documents the search words match (each word in the title or the file name), in the chosen order. */
export function visibleDocuments() {
  const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = documents.filter((d) => {
    const text = `${d.title} ${d.file_name}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  return matches.sort((a, b) => (SORTS[sortBy.value] || SORTS["date-desc"])(a, b) || collator.compare(a.title, b.title));
}

function render() {
  const visible = visibleDocuments();
  fill(body, visible.map(row));
  tools.hidden = documents.length === 0;
  shown.textContent = search.value.trim()
    ? `${visible.length} of ${documents.length} document${documents.length === 1 ? "" : "s"} match “${search.value.trim()}”.`
    : "";
  table.hidden = documents.length === 0;
  empty.hidden = documents.length !== 0;
  empty.textContent = ingesting() ? "Documents are being ingested; they are listed here when they are ready."
    : "No documents yet. Upload some above.";
  changed();
}

document.addEventListener("folio:uploads-changed", () => render());

export async function refresh() {
  status.replaceChildren();
  try {
    const data = await api.documents();
    documents = data.documents || [];
  } catch (error) {
    fill(status, errorBox(error, "The documents could not be listed:"));
    return;
  }
  for (const id of [...selected]) if (!documents.some((d) => d.id === id && d.status === "ready")) selected.delete(id);
  render();
}

function confirmDelete(doc, trigger) {
  confirmAction({
    title: "Delete the document?",
    text: `Delete “${doc.title}” (${doc.file_name}) and all of its chunks? This cannot be undone.`,
    trigger,
    run: () => api.deleteDocument(doc.id),
    after: async () => {
      selected.delete(doc.id);
      await refresh();
      fill(status, h("p.notice", { role: "status" }, `Deleted “${doc.title}”.`));
      document.dispatchEvent(new CustomEvent("folio:documents-changed"));
      selectAll.focus();
    },
  });
}

try {
  sortBy.value = sessionStorage.getItem("folio-documents-sort") || sortBy.value;
} catch {
  // storage refused: the default order
}
search.addEventListener("input", () => render());
sortBy.addEventListener("change", () => {
  try {
    sessionStorage.setItem("folio-documents-sort", sortBy.value);
  } catch {
    // storage refused: this order for this page only
  }
  render();
});

selectAll.addEventListener("change", () => {
  if (selectAll.checked) for (const d of documents) if (d.status === "ready") selected.add(d.id);
  else selected.clear();
  render();
});
