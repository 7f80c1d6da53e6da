// The conversations list: newest activity first, each with its turns and dollars; open one, start a new one,
// rename one in place, delete one (after a confirmation). A sidebar on a laptop, a list that folds away on a phone.

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, dollars, errorBox, fill, h } from "./dom.js";
import { adopt, currentConversation, onConversationChange, openConversation, startNew } from "./thread.js";

const listNode = $("#conversations-list");
const emptyNode = $("#conversations-empty");
const statusNode = $("#conversations-status");
const countNode = $("#conversations-count");
const toggle = $("#conversations-toggle");
const panel = $("#conversations");

let conversations = [];
const titles = new Map(); // every id this page has seen, with its latest title (the Spend tab names them)

/** A conversation's title, when this page has seen it listed; null for one deleted or never listed. */
export function conversationTitle(id) {
  return titles.get(id) || null;
}

/** Whether the conversation is listed now (not deleted). */
export function conversationListed(id) {
  return conversations.some((c) => c.id === id);
}

function ago(unixSeconds) {
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString(undefined, { dateStyle: "medium" });
}

function setExpanded(on) {
  toggle.setAttribute("aria-expanded", on ? "true" : "false");
  panel.dataset.open = on ? "true" : "false";
}

function item(c) {
  const current = currentConversation()?.id === c.id;
  const openButton = h("button.conversation-open", {
    type: "button", "aria-current": current ? "true" : null,
    onclick: () => select(c.id),
  },
  h("span.c-title", {}, c.title),
  h("span.c-meta", {}, h("span.c-turns", {}, `${c.turns} turn${c.turns === 1 ? "" : "s"}`), " · ",
    h("span.c-dollars", {}, dollars(c.dollars)), " · ", h("span.c-when", {}, ago(c.updated))));
  const error = h("div.c-error", { role: "status" });
  const rename = h("button.secondary.small", {
    type: "button", "aria-label": `Rename ${c.title}`, onclick: () => editTitle(c, li, rename, error),
  }, "Rename");
  const remove = h("button.danger.small", {
    type: "button", "aria-label": `Delete ${c.title}`, onclick: () => confirmDelete(c, remove),
  }, "Delete");
  const li = h(`li.conversation${current ? ".current" : ""}`, { dataset: { id: c.id } },
    openButton, h("div.c-actions", {}, rename, remove), error);
  return li;
}

function render() {
  fill(listNode, conversations.map(item));
  emptyNode.hidden = conversations.length > 0;
  countNode.textContent = `(${conversations.length})`;
}

export async function refreshConversations() {
  try {
    const data = await api.conversations();
    conversations = data.conversations || [];
  } catch (error) {
    fill(statusNode, errorBox(error, "The conversations could not be listed:"));
    return;
  }
  fill(statusNode);
  for (const c of conversations) titles.set(c.id, c.title);
  render();
}

async function select(id) {
  if (window.matchMedia("(max-width: 760px)").matches) setExpanded(false);
  if (currentConversation()?.id !== id) await openConversation(id);
  $("#thread-title").focus();
}

/** The title as a small form in the list: saved with PATCH; Escape or Cancel puts it back. */
function editTitle(c, li, trigger, error) {
  const before = [...li.childNodes];
  const input = h("input.title-input", { type: "text", value: c.title, maxlength: 200, required: true,
    "aria-label": `New title for ${c.title}` });
  const restore = () => {
    li.replaceChildren(...before);
    trigger.focus();
  };
  const form = h("form.rename", {
    onsubmit: async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title || title === c.title) return restore();
      let result;
      try {
        result = await api.patchConversation(c.id, { title });
      } catch (err) {
        li.replaceChildren(...before);
        fill(error, errorBox(err, "Not renamed:"));
        trigger.focus();
        return;
      }
      if (currentConversation()?.id === c.id) adopt(result.conversation);
      await refreshConversations();
      fill(statusNode, h("p.notice", { role: "status" }, `Renamed to “${result.conversation.title}”.`));
      document.dispatchEvent(new CustomEvent("folio:conversations-changed"));
      listNode.querySelector(`li[data-id="${CSS.escape(c.id)}"] .conversation-open`)?.focus();
    },
  }, input, h("div.c-actions", {}, h("button.small", { type: "submit" }, "Save"),
    h("button.secondary.small", { type: "button", onclick: restore }, "Cancel")));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      restore();
    }
  });
  error.replaceChildren();
  li.replaceChildren(form, error);
  input.focus();
  input.select();
}

function confirmDelete(c, trigger) {
  confirmAction({
    title: "Delete the conversation?",
    text: `Delete “${c.title}” and its ${c.turns} turn${c.turns === 1 ? "" : "s"}? Its spend stays in the `
      + "ledger. This cannot be undone.",
    trigger,
    run: () => api.deleteConversation(c.id),
    after: async () => {
      if (currentConversation()?.id === c.id) startNew();
      await refreshConversations();
      fill(statusNode, h("p.notice", { role: "status" }, `Deleted “${c.title}”.`));
      document.dispatchEvent(new CustomEvent("folio:conversations-changed"));
      $("#new-conversation").focus();
    },
  });
}

export function initConversations() {
  setExpanded(false);
  toggle.addEventListener("click", () => setExpanded(toggle.getAttribute("aria-expanded") !== "true"));
  $("#new-conversation").addEventListener("click", () => {
    startNew();
    if (window.matchMedia("(max-width: 760px)").matches) setExpanded(false);
    $("#question").focus();
  });
  // the open conversation changed (a turn, a rename, a new one): the list follows, from the service when it differs
  onConversationChange((open) => {
    const same = (c) => c.id === open.id && c.turns === open.turns && c.title === open.title
      && c.dollars === open.dollars;
    if (open && !conversations.some(same)) refreshConversations();
    else render();
  });
}
