// The question form, under the thread: the next question of the open conversation (or the first of a new one,
// which is created then over the ticked documents), streamed from POST /v1/conversations/{id}/messages: the plan
// first, then the answer's text, then the turn. "Estimate only" plans and prices it without calling the model.
// Options come from the API's own schema; errors are shown under the form in the API's words.

import { ApiError, api, streamTurn } from "./api.js";
import { $, errorBox, fill, h, routeName, tokens } from "./dom.js";
import { scope } from "./documents.js";
import { onCollectionChange, pickedCollection } from "./collections.js";
import {
  adopt, afterTurn, appendTurn, currentConversation, onConversationChange, opened, scopeSummary,
} from "./thread.js";

const form = $("#ask-form");
const question = $("#question");
const mode = $("#mode");
const reasoning = $("#reasoning");
const costLimit = $("#cost-limit");
const cascade = $("#cascade");
const askButton = $("#ask");
const estimateButton = $("#estimate");
const stopButton = $("#stop");
const errorNode = $("#ask-error");
const scopeNode = $("#ask-scope");

const MODE_LABELS = { auto: "Auto: by cost and need", rag: "Retrieval", full: "Whole documents",
  coverage: "Coverage: every page (map-reduce)" };
const REASONING_LABELS = { none: "Off", high: "On (high)", max: "Max" };

let controller = null;
let onAnswered = () => {};

function setOptions(select, values, labels, fallback) {
  const current = select.value || fallback;
  fill(select, values.map((v) => h("option", { value: v }, labels[v] || routeName(v))));
  select.value = values.includes(current) ? current : values[0];
}

/** Modes and reasoning levels as the running service's OpenAPI schema lists them (a new route shows up here). */
export async function loadOptions() {
  let schema;
  try {
    schema = await api.openapi();
  } catch {
    return; // the built-in options stay
  }
  const schemas = schema?.components?.schemas || {};
  const props = (schemas.TurnRequest || schemas.QueryRequest)?.properties || {};
  const enumOf = (prop) => prop?.enum || prop?.anyOf?.find((p) => p.enum)?.enum;
  const modes = enumOf(props.mode);
  if (Array.isArray(modes) && modes.length) setOptions(mode, modes, MODE_LABELS, "auto");
  const levels = enumOf(props.reasoning);
  if (Array.isArray(levels) && levels.length) setOptions(reasoning, levels, REASONING_LABELS, "none");
}

/** The turn's options (the conversation holds the scope). */
function requestBody() {
  const body = { question: question.value.trim(), mode: mode.value, reasoning: reasoning.value };
  if (costLimit.value !== "") body.max_cost_usd = Number(costLimit.value);
  if (cascade.checked && mode.value === "auto") body.cascade = true;
  return body;
}

function busy(on) {
  askButton.disabled = on;
  estimateButton.disabled = on;
  stopButton.hidden = !on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

function showError(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    fill(errorNode, errorBox(error, "Not allowed:"));
    const key = $("#key-details");
    key.open = true;
    $("#api-key").focus();
    return;
  }
  const problems = error?.details?.problems;
  fill(errorNode, errorBox(error, "The question was not asked:"),
    Array.isArray(problems) ? h("ul.problems", {}, problems.map((p) => h("li", {}, `${p.field}: ${p.problem}`))) : null);
}

function valid() {
  errorNode.replaceChildren();
  if (!form.reportValidity()) return false;
  if (!question.value.trim()) {
    fill(errorNode, errorBox({ message: "Type a question first." }));
    question.focus();
    return false;
  }
  return true;
}

/** The open conversation, or a new one over the ticked documents (every document when none is ticked). */
async function conversationForQuestion() {
  await opened(); // one being opened (from the hash, or the list) is the one asked, not a new one
  const open = currentConversation();
  if (open) return open;
  const picked = pickedCollection();
  if (picked) { // a conversation that follows the collection (its documents in the order they joined)
    const created = await api.createConversation({ collection: picked.id });
    adopt(created);
    return created;
  }
  const s = scope();
  if (!s.total) { // a conversation over nothing would be refused at its first question (scope_empty)
    throw new Error(s.ingesting ? "Documents are being ingested: ask once the first one is ready."
      : "No documents are indexed yet: upload some first.");
  }
  const created = await api.createConversation(s.all ? {} : { documents: s.documents.map((d) => d.id) });
  adopt(created);
  return created;
}

const EVENTS = new Set(["warmup", "fallback", "escalation", "no_escalation", "rewrite", "scope_changed",
  "history_trimmed"]);

async function ask() {
  if (!valid()) return;
  const body = requestBody();
  controller = new AbortController();
  busy(true);
  let view = null;
  let finished = false;
  try {
    view = appendTurn(body.question); // shown at once; taken back if the question is refused before its plan
    question.value = "";
    const conversation = await conversationForQuestion();
    await streamTurn(conversation.id, body, (kind, data) => {
      if (kind === "plan") {
        view.renderPlan(data);
        view.renderRoute();
        view.showProgress(data.warmup ? "Warming the cache…" : "Asking the model…");
      } else if (kind === "delta") {
        view.appendDelta(data.text || "");
      } else if (EVENTS.has(kind)) {
        if (kind === "warmup") view.showProgress("Cache warmed; asking the question…");
        view.showEvent(kind, data);
      } else if (kind === "done") {
        finished = true;
        view.renderDone(data.answer, { n: data.turn, dollarsSpent: data.answer.cost?.dollars,
          recorded: data.recorded });
        afterTurn(data.conversation);
        onAnswered(data.answer);
      } else if (kind === "error") {
        finished = true;
        const err = data.error || {};
        view.showStreamError(new ApiError(200, err.code || "error", err.message || "the answer failed"));
        onAnswered(null);
      } else if (data && typeof data.message === "string") {
        view.showProgress(data.message); // a route's own progress (e.g. coverage windows read, reduce rounds)
      }
    }, controller.signal);
    if (!finished) view.showStreamError(new ApiError(0, "stream_cut", "The answer stopped before it was finished."));
  } catch (error) {
    if (error.name === "AbortError" && view) {
      view.showStopped();
      onAnswered(null);
    } else if (!view || !view.state.plan) {
      // refused before it was planned (a busy thread, an emptied scope, a cap): the question goes back in its box
      if (view) view.node.remove();
      if (!question.value) question.value = body.question;
      if (error.name !== "AbortError") showError(error);
    } else {
      view.showStreamError(error);
    }
  } finally {
    controller = null;
    busy(false);
  }
}

/**
 * Plan and price the next question without asking it. In an open conversation the thread prices it as its next
 * turn (estimate_only: nothing recorded); a new conversation is not created for an estimate, so its first
 * question is priced by POST /v1/plan over the ticked documents.
 */
async function estimate() {
  if (!valid()) return;
  const body = requestBody();
  controller = new AbortController();
  busy(true);
  const open = currentConversation();
  const view = appendTurn(body.question, { provisional: true });
  try {
    if (open) {
      const result = await api.turn(open.id, { ...body, estimate_only: true }, controller.signal);
      view.renderEstimate(result.answer, result.turn);
    } else {
      const s = scope();
      const picked = pickedCollection();
      const planned = await api.plan(picked ? { ...body, collection: picked.id }
        : s.all ? body : { ...body, documents: s.documents.map((d) => d.id) }, controller.signal);
      view.renderEstimate(planned, 1);
    }
  } catch (error) {
    view.node.remove();
    if (error.name !== "AbortError") showError(error);
  } finally {
    controller = null;
    busy(false);
  }
}

/** The line under the question box: what the next question asks about. */
export function showScope() {
  const s = scopeSummary();
  if (!s.total) {
    fill(scopeNode, s.ingesting ? "Documents are being ingested: ask once the first one is ready."
      : "No documents yet: upload some first.");
    return;
  }
  const total = s.documents.reduce((sum, d) => sum + (d.total_tokens || 0), 0);
  const n = s.documents.length;
  const followed = s.own ? currentConversation()?.collection : pickedCollection();
  if (followed) {
    fill(scopeNode, h("strong", {}, "Scope: "), `collection “${followed.name}”`,
      h("span.muted", {}, s.own ? `, ${n} document${n === 1 ? "" : "s"}, ${tokens(total)} tokens (documents added to `
        + "it join this conversation)" : " (its documents in the order they joined)"));
    return;
  }
  if (s.own) {
    const what = s.all ? `all ${n} document${n === 1 ? "" : "s"}` : `its ${n} document${n === 1 ? "" : "s"}`;
    fill(scopeNode, h("strong", {}, "Scope: "), `this conversation's, ${what}, ${tokens(total)} tokens`,
      h("span.muted", {}, " (ticking documents does not change it; use the buttons above, or start a new one)"));
    return;
  }
  const what = s.all ? `all ${s.total} document${s.total === 1 ? "" : "s"}`
    : `${n} selected document${n === 1 ? "" : "s"}`;
  fill(scopeNode, h("strong", {}, "Scope: "), `${what}, ${tokens(total)} tokens`,
    s.all ? h("span.muted", {}, " (select documents in the list to narrow it)") : null);
}

export function initAsk(answered) {
  onAnswered = answered;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
  estimateButton.addEventListener("click", estimate);
  stopButton.addEventListener("click", () => controller && controller.abort());
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const syncCascade = () => {
    cascade.disabled = mode.value !== "auto";
  };
  mode.addEventListener("change", syncCascade);
  syncCascade();
  onConversationChange(() => showScope());
  onCollectionChange(() => showScope());
}
