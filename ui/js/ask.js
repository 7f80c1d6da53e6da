// The question form: options from the API's own schema, a streamed answer (or a plan-only estimate), errors
// shown under the form, and the result rendered by answer.js.

import { ApiError, api, streamQuery } from "./api.js";
import { $, errorBox, fill, h, routeName, tokens } from "./dom.js";
import {
  appendDelta, renderDone, renderPlan, renderPlanOnly, renderRoute, resetResult, showEvent, showProgress, showStopped,
  showStreamError,
} from "./answer.js";
import { scope } from "./documents.js";

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
  const props = schema?.components?.schemas?.QueryRequest?.properties || {};
  const enumOf = (prop) => prop?.enum || prop?.anyOf?.find((p) => p.enum)?.enum;
  const modes = enumOf(props.mode);
  if (Array.isArray(modes) && modes.length) setOptions(mode, modes, MODE_LABELS, "auto");
  const levels = enumOf(props.reasoning);
  if (Array.isArray(levels) && levels.length) setOptions(reasoning, levels, REASONING_LABELS, "none");
}

function requestBody() {
  const body = { question: question.value.trim(), mode: mode.value, reasoning: reasoning.value };
  const s = scope();
  if (!s.all) body.documents = s.documents.map((d) => d.id);
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

async function ask() {
  if (!valid()) return;
  const body = requestBody();
  controller = new AbortController();
  busy(true);
  resetResult(body.question);
  const state = { pending: true, events: [], plan: null };
  let text = "";
  let finished = false;
  try {
    await streamQuery(body, (kind, data) => {
      if (kind === "plan") {
        state.plan = data;
        state.route = data.route;
        renderPlan(data);
        renderRoute(state);
        showProgress(data.warmup ? "Warming the cache…" : "Asking the model…");
      } else if (kind === "delta") {
        if (!text) showProgress("Streaming the answer…");
        text += data.text || "";
        appendDelta(data.text || "");
      } else if (kind === "warmup" || kind === "fallback" || kind === "escalation" || kind === "no_escalation") {
        if (kind === "fallback" || kind === "escalation") state.route = data.to;
        if (kind === "warmup") showProgress("Cache warmed; asking the question…");
        showEvent(state, kind, data);
      } else if (kind === "done") {
        finished = true;
        renderDone(data);
        onAnswered(data);
      } else if (kind === "error") {
        finished = true;
        const err = data.error || {};
        showStreamError(new ApiError(200, err.code || "error", err.message || "the answer failed"), text);
        state.pending = false;
        renderRoute(state);
        onAnswered(null);
      } else if (data && typeof data.message === "string") {
        showProgress(data.message); // a route's own progress (e.g. coverage windows read, reduce rounds)
      }
    }, controller.signal);
    if (!finished) {
      showStreamError(new ApiError(0, "stream_cut", "The answer stopped before it was finished."), text);
      state.pending = false;
      renderRoute(state);
    }
  } catch (error) {
    if (error.name === "AbortError") {
      showStopped(text);
      state.pending = false;
      state.stopped = true;
      renderRoute(state);
      onAnswered(null);
    } else if (!state.plan) {
      $("#result").hidden = true;
      showError(error);
    } else {
      showStreamError(error, text);
    }
  } finally {
    controller = null;
    busy(false);
  }
}

async function estimate() {
  if (!valid()) return;
  const body = requestBody();
  controller = new AbortController();
  busy(true);
  resetResult(body.question);
  try {
    renderPlanOnly(await api.plan(body, controller.signal));
  } catch (error) {
    $("#result").hidden = true;
    if (error.name !== "AbortError") showError(error);
  } finally {
    controller = null;
    busy(false);
  }
}

export function showScope(s) {
  if (!s.total) {
    fill(scopeNode, s.ingesting ? "Documents are being ingested: ask once the first one is ready."
      : "No documents yet: upload some first.");
    return;
  }
  const total = s.documents.reduce((sum, d) => sum + (d.total_tokens || 0), 0);
  const what = s.all ? `all ${s.total} document${s.total === 1 ? "" : "s"}`
    : `${s.documents.length} selected document${s.documents.length === 1 ? "" : "s"}`;
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
}
