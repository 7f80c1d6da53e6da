// The confirmation dialog, shared by everything that deletes: a heading, what will happen, "Delete" and a way
// out. The action runs on "Delete"; its failure is shown in the dialog (in the API's words) and the dialog stays.

import { $, errorBox, fill } from "./dom.js";

const dialog = $("#confirm-dialog");
const titleNode = $("#confirm-title");
const textNode = $("#confirm-text");
const errorNode = $("#confirm-error");
const yes = $("#confirm-yes");
const no = $("#confirm-no");

let pending = null; // {run, after, trigger, failPrefix, done}

/**
 * Ask before `run()` (async) deletes something; `after()` runs once the dialog has closed on success (to refresh
 * lists and move the focus). `trigger`: the button that asked, focused again when the dialog closes without
 * deleting.
 */
export function confirmAction({ title, text, yesLabel = "Delete", noLabel = "Keep it", failPrefix = "Not deleted:",
  run, after = () => {}, trigger }) {
  pending = { run, after, trigger, failPrefix, done: false };
  titleNode.textContent = title;
  textNode.textContent = text;
  yes.textContent = yesLabel;
  no.textContent = noLabel;
  errorNode.replaceChildren();
  yes.disabled = false;
  dialog.showModal();
  no.focus();
}

yes.addEventListener("click", async () => {
  if (!pending) return;
  const current = pending;
  yes.disabled = true;
  try {
    await current.run();
  } catch (error) {
    yes.disabled = false;
    fill(errorNode, errorBox(error, current.failPrefix));
    return;
  }
  current.done = true;
  dialog.close();
  current.after();
});

no.addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  if (pending && !pending.done && pending.trigger && pending.trigger.isConnected) pending.trigger.focus();
  pending = null;
});
