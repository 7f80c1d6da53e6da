// Collections: named sets of documents. A row of chips picks the next question's scope in one click (the ticked
// documents, or one collection); the picked collection can be renamed, deleted, given the ticked documents, and
// uploads can join it. A conversation started over a collection follows it (documents added later join it).

import { api } from "./api.js";
import { $, errorBox, fill, h } from "./dom.js";
import { confirmAction } from "./confirm.js";
import { scope as tickedScope } from "./documents.js";
import { startNew } from "./thread.js";

const root = $("#collections");
let collections = [];
let picked = null; // a collection's id, or null: the ticked documents
const listeners = [];

/** The collection the next question is scoped to ({id, name, documents}), or null. */
export function pickedCollection() {
  return collections.find((c) => c.id === picked) || null;
}

/** `fn(collection|null)` when the pick changes. */
export function onCollectionChange(fn) {
  listeners.push(fn);
}

/** The upload's query string: the picked collection, when "Uploads join it" is ticked. */
export function uploadQuery() {
  const box = $("#collection-upload");
  const c = pickedCollection();
  return c && box && box.checked ? `?collection=${encodeURIComponent(c.id)}` : "";
}

function changed() {
  for (const fn of listeners) fn(pickedCollection());
}

function status(...children) {
  fill($("#collection-status"), ...children);
}

function pick(id) {
  picked = id;
  startNew(); // the next question starts a conversation over this scope
  render();
  changed();
}

function chip(label, id, title) {
  return h("button.chip.collection-chip", {
    type: "button", "aria-pressed": String(picked === id), title, dataset: { collection: id ?? "" },
    onclick: () => pick(id),
  }, label);
}

function nameForm(label, initial, save) {
  const input = h("input", { id: "collection-name", value: initial, maxlength: 200, required: true,
    autocomplete: "off" });
  const form = h("form.collection-form", {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await save(input.value);
      } catch (error) {
        status(errorBox(error, "Not saved:"));
      }
    },
  }, h("label", { for: "collection-name" }, label), input,
  h("button.small", { type: "submit" }, "Save"),
  h("button.small.secondary", { type: "button", onclick: () => render() }, "Cancel"));
  fill($("#collection-edit"), form);
  input.focus();
}

async function create() {
  nameForm("New collection's name", "", async (name) => {
    const ticked = tickedScope();
    const made = await api.createCollection({ name, documents: ticked.all ? [] : ticked.documents.map((d) => d.id) });
    await refreshCollections();
    pick(made.id);
    status(`Created “${made.name}” with ${made.documents} document${made.documents === 1 ? "" : "s"}.`);
  });
}

function rename() {
  const c = pickedCollection();
  if (!c) return;
  nameForm("New name", c.name, async (name) => {
    await api.renameCollection(c.id, name);
    await refreshCollections();
    status("Renamed.");
  });
}

function remove(trigger) {
  const c = pickedCollection();
  if (!c) return;
  confirmAction({
    title: `Delete the collection “${c.name}”?`,
    text: `Its ${c.documents} document${c.documents === 1 ? "" : "s"} stay; only the collection goes.`,
    trigger,
    run: () => api.deleteCollection(c.id),
    after: async () => {
      picked = null;
      await refreshCollections();
      changed();
    },
  });
}

async function addTicked() {
  const c = pickedCollection();
  const ticked = tickedScope();
  if (!c || ticked.all) {
    status("Tick documents in the list first, then add them to the picked collection.");
    return;
  }
  try {
    const result = await api.addToCollection(c.id, ticked.documents.map((d) => d.id));
    await refreshCollections();
    status(`${result.added.length} document${result.added.length === 1 ? "" : "s"} added to “${c.name}”, at its end.`);
  } catch (error) {
    status(errorBox(error, "Not added:"));
  }
}

function render() {
  if (!root) return;
  if (picked && !pickedCollection()) picked = null;
  const c = pickedCollection();
  fill(root,
    h("div.collections-head", {},
      h("span.scope-label", { id: "collections-label" }, "Ask about"),
      h("div.chips.collection-chips", { role: "group", "aria-labelledby": "collections-label" },
        chip("Ticked documents", null, "the documents ticked below (every document when none is ticked)"),
        collections.map((x) => chip(`${x.name} (${x.documents})`, x.id, `collection “${x.name}”`))),
      h("button.small.secondary", { type: "button", id: "collection-new", onclick: create }, "New collection")),
    c ? h("div.collection-actions", {},
      h("button.small.secondary", { type: "button", id: "collection-add", onclick: addTicked },
        "Add ticked documents"),
      h("button.small.secondary", { type: "button", id: "collection-rename", onclick: rename }, "Rename"),
      h("button.small.secondary", { type: "button", id: "collection-delete",
        onclick: (event) => remove(event.currentTarget) }, "Delete"),
      h("span.field.check", {}, h("input", { type: "checkbox", id: "collection-upload" }),
        h("label", { for: "collection-upload" }, `Uploads join “${c.name}”`))) : null,
    h("div", { id: "collection-edit" }),
    h("p.hint", { id: "collection-status", role: "status" }));
}

/** The collections, from the service. */
export async function refreshCollections() {
  try {
    collections = (await api.collections()).collections;
  } catch (error) {
    collections = [];
    render();
    status(errorBox(error, "Collections unavailable:"));
    return;
  }
  render();
}

export function initCollections() {
  render();
  // a document joins or leaves (an upload into the collection, a delete): the counts follow
  document.addEventListener("folio:documents-changed", () => refreshCollections());
}
