// The open conversation: its head (title, the thread's dollars, its scope as chips, what the provider can have
// cached, its export) and its turns, oldest first. Its id is in the URL hash (#c=ID), so a reload, a bookmark or
// the back button opens it again; every turn is loaded from GET /v1/conversations/{id}. #c=ID&t=N (an answer's
// permalink) also scrolls to turn N and highlights it. With no conversation open the thread is a new one, saved
// when its first question is asked, over the documents ticked in the list then.

import { api } from "./api.js";
import { TurnView, recordedTurn } from "./answer.js";
import { $, dollars, errorBox, fill, h } from "./dom.js";
import { documentOf, onScopeChange, scope as tickedScope } from "./documents.js";
import { conversationMarkdown, download, fileName, printOnly } from "./export.js";

const titleNode = $("#thread-title");
const totalNode = $("#thread-total");
const scopeNode = $("#thread-scope");
const scopeActions = $("#thread-scope-actions");
const cacheNode = $("#thread-cache");
const noticeNode = $("#thread-notice");
const turnsNode = $("#thread-turns");
const emptyNode = $("#thread-empty");
const exportNode = $("#thread-export");

let open = null; // the open conversation's summary; null: a new one, not saved until its first question
let cacheWords = "";
let opening = 0; // the latest open's token: an older answer that arrives late is dropped
let loading = Promise.resolve(); // the latest open, settled when its turns are on the page (or it failed)
const listeners = [];

/** The open conversation's summary (ConversationSummary), or null for a new one. */
export function currentConversation() {
  return open;
}

/** `fn(summary|null)` whenever another conversation is opened, or the open one changes. */
export function onConversationChange(fn) {
  listeners.push(fn);
}

function changed() {
  renderHead();
  for (const fn of listeners) fn(open);
}

function idFromHash() {
  const match = /^#c=([^&]+)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function turnFromHash() {
  const match = /&t=(\d+)/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

/** A permalink's turn (#c=ID&t=N): scrolled to, highlighted and focused. */
function showLinkedTurn() {
  const n = turnFromHash();
  for (const node of turnsNode.querySelectorAll(".turn.linked")) node.classList.remove("linked");
  const node = n ? turnsNode.querySelector(`.turn[data-n="${n}"]`) : null;
  if (!node) return;
  node.classList.add("linked");
  node.tabIndex = -1;
  node.scrollIntoView({ block: "start" });
  node.focus({ preventScroll: true });
}

/** The hash follows the open conversation; each change is a history entry, so Back returns to the last one. */
function setHash(id) {
  const target = id ? `#c=${encodeURIComponent(id)}` : "";
  if (location.hash === target || (id && idFromHash() === id)) return; // a permalink's &t=N stays
  if (id) location.hash = target; // followHash then finds it open already
  else if (idFromHash()) history.pushState(null, "", location.pathname + location.search);
}

function chip(text, { deleted = false } = {}) {
  return h(`li.chip${deleted ? ".deleted" : ""}`, {}, text, deleted ? h("span.chip-note", {}, " (deleted)") : null);
}

function sameIds(a, b) {
  return a.length === b.length && a.every((id) => b.includes(id));
}

function scopeButton(label, documents) {
  const button = h("button.secondary.small", { type: "button", onclick: () => rescope(documents, button) }, label);
  return button;
}

const documentsWord = (n) => `${n} ticked document${n === 1 ? "" : "s"}`;

/** The scope chips: the conversation's documents (or "All documents"), or, for a new one, the ticked ones. */
function renderScope() {
  const ticked = tickedScope();
  if (!open) {
    fill(scopeNode, ticked.all
      ? chip(`All documents (${ticked.total})`)
      : ticked.documents.map((d) => chip(d.title)));
    fill(scopeActions);
    return;
  }
  fill(scopeNode, open.scope === "all"
    ? chip(`All documents (${open.documents.length} now)`)
    : open.documents.map((d) => chip(d.title, { deleted: d.deleted })));
  const tickedIds = ticked.all ? [] : ticked.documents.map((d) => d.id);
  const ownIds = open.documents.filter((d) => !d.deleted).map((d) => d.id);
  fill(scopeActions,
    tickedIds.length && (open.scope === "all" || !sameIds(tickedIds, ownIds))
      ? scopeButton(`Ask about the ${documentsWord(tickedIds.length)} instead`, tickedIds) : null,
    open.scope === "documents" ? scopeButton("Ask about all documents", null) : null);
}

function renderHead() {
  titleNode.textContent = open ? open.title : "New conversation";
  titleNode.title = titleNode.textContent;
  if (open) {
    fill(totalNode, h("span.thread-dollars", {}, dollars(open.dollars)),
      ` for ${open.turns} turn${open.turns === 1 ? "" : "s"}`);
  } else {
    fill(totalNode, h("span.muted", {}, "Not saved yet: its first question starts it"));
  }
  cacheNode.textContent = open && cacheWords ? `Cache: ${cacheWords}.` : "";
  exportNode.hidden = !open || !open.turns;
  renderScope();
  const turns = turnsNode.children.length;
  emptyNode.hidden = turns > 0;
  emptyNode.textContent = open ? "No turns yet: ask this conversation's first question below."
    : "Ask a question below to start a conversation; follow-ups read the earlier turns from the cache.";
}

/** Change the open conversation's scope (null: every document); the answer says what it does to the cache. */
async function rescope(documents, button) {
  if (!open) return;
  button.disabled = true;
  try {
    const result = await api.patchConversation(open.id, { documents });
    open = result.conversation;
    cacheWords = "";
    fill(noticeNode, h("p.notice", { role: "status" }, `Scope changed: ${result.cache}.`));
    changed();
  } catch (error) {
    button.disabled = false;
    fill(noticeNode, errorBox(error, "The scope was not changed:"));
  }
}

/** Settles once the conversation being opened (if any) is on the page. */
export function opened() {
  return loading;
}

/** Open a conversation: its head and every turn, from the service. */
export function openConversation(id) {
  loading = load(id);
  return loading;
}

async function load(id) {
  const token = ++opening;
  fill(noticeNode, h("p.muted", { role: "status" }, "Loading the conversation…"));
  let detail;
  try {
    detail = await api.conversation(id);
  } catch (error) {
    if (token !== opening) return;
    if (error.code === "conversation_not_found") {
      startNew();
      fill(noticeNode, errorBox(error, "That conversation is gone:"));
    } else {
      fill(noticeNode, errorBox(error, "The conversation could not be loaded:"));
    }
    return;
  }
  if (token !== opening) return;
  const { history, cache, ...summary } = detail;
  open = summary;
  cacheWords = cache || "";
  fill(noticeNode);
  fill(turnsNode, history.map((turn) => recordedTurn(turn).node));
  setHash(open.id);
  changed();
  showLinkedTurn();
}

/** The whole conversation as a Markdown download, or printed alone ("Save as PDF"). */
async function exportConversation(kind, button) {
  if (!open) return;
  if (kind === "pdf") {
    printOnly($(".thread"));
    return;
  }
  button.disabled = true;
  try {
    const detail = await api.conversation(open.id);
    download(fileName(detail.title), conversationMarkdown(detail));
  } catch (error) {
    fill(noticeNode, errorBox(error, "The conversation could not be exported:"));
  } finally {
    button.disabled = false;
  }
}

$("#export-md").addEventListener("click", (event) => exportConversation("md", event.currentTarget));
$("#export-pdf").addEventListener("click", (event) => exportConversation("pdf", event.currentTarget));

/** A new conversation: an empty thread over the ticked documents, saved when its first question is asked. */
export function startNew() {
  ++opening;
  open = null;
  cacheWords = "";
  fill(noticeNode);
  fill(turnsNode);
  setHash(null);
  changed();
}

/** A conversation just created for the first question (or changed by a turn or a rename): the head follows. */
export function adopt(summary) {
  if (open && summary.id !== open.id) return;
  if (!open) ++opening;
  open = summary;
  setHash(open.id);
  changed();
}

/** After a turn: the conversation as the service sums it up now; the cache words were the previous turn's. */
export function afterTurn(summary) {
  if (!open || summary.id !== open.id) return;
  cacheWords = "";
  adopt(summary);
  // a turn recorded that this page did not show (one stopped here, then finished by the service): load them all
  if (turnsNode.querySelectorAll('.turn[data-state="done"]').length < summary.turns) openConversation(summary.id);
}

/** The hash names a conversation: open it; the hash was cleared (Back): a new conversation. */
export function followHash() {
  const id = idFromHash();
  if (id && id !== open?.id) return openConversation(id);
  if (id) showLinkedTurn();
  if (!id && open && !location.hash) startNew();
  return Promise.resolve();
}

/** A turn just asked, appended to the thread; estimates (never recorded) give way to it. */
export function appendTurn(question, { provisional = false } = {}) {
  for (const node of turnsNode.querySelectorAll(".turn.provisional")) node.remove();
  const view = new TurnView(question);
  if (provisional) view.node.classList.add("provisional");
  turnsNode.append(view.node);
  emptyNode.hidden = true;
  view.node.scrollIntoView({ block: "nearest" });
  return view;
}

/** The scope line under the question box: what the next question asks about, in tokens. */
export function scopeSummary() {
  const ticked = tickedScope();
  if (!open) return { ...ticked, own: false };
  const docs = open.documents.filter((d) => !d.deleted).map((d) => documentOf(d.id) || { ...d, total_tokens: 0 });
  return { all: open.scope === "all", documents: docs, total: ticked.total, ingesting: ticked.ingesting, own: true };
}

onScopeChange(() => renderHead());
