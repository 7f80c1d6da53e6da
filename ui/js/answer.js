// Rendering one question's result: the plan, the streamed answer with citation links, the route card
// (estimate beside actual), the retrieved passages, and the note shown when no model is configured.

import { $, dollars, errorBox, fill, h, keyValues, routeName, tokens } from "./dom.js";
import { openPage } from "./viewer.js";

const planNode = $("#plan");
const routeNode = $("#route-card");
const answerNode = $("#answer-text");
const citationsNode = $("#citations");
const retrievedNode = $("#retrieved");
const noticeNode = $("#answer-notice");
const liveNode = $("#answer-live");
const resultNode = $("#result");
const progressNode = $("#answer-progress");

/** One line of progress while the answer is worked on (windows read, reduce rounds, warm-up); fixed height. */
export function showProgress(text) {
  progressNode.textContent = text || "";
  progressNode.title = text || "";
}

function badge(route) {
  return h(`span.route-badge.route-${String(route).replace(/[^a-z0-9_-]/gi, "")}`, {}, routeName(route));
}

function estimatesTable(plan) {
  const estimates = Object.entries(plan.estimates || {});
  const rows = estimates.map(([name, e]) => h(`tr${name === plan.route ? ".chosen" : ""}`, {},
    h("th", { scope: "row" }, routeName(name), name === plan.route ? h("span.chosen-mark", {}, " (chosen)") : null),
    h("td.num", {}, tokens(e.hit_tokens)),
    h("td.num", {}, tokens(e.miss_tokens)),
    h("td.num", {}, tokens(e.output_tokens)),
    h("td.num", {}, e.feasible === false ? h("span.sub", {}, "does not fit") : null, dollars(e.dollars),
      e.amortised_dollars !== null && e.amortised_dollars !== undefined
        ? h("span.sub", {}, `amortised ${dollars(e.amortised_dollars)}`) : null)));
  const notes = estimates.filter(([, e]) => e.note).map(([name, e]) => h("li", {}, `${routeName(name)}: ${e.note}`));
  return [h("div.table-scroll", { role: "region", "aria-label": "Estimates", tabindex: "0" },
    h("table.estimates", {},
      h("caption.visually-hidden", {}, "What each route would cost for this question"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Estimate"), h("th.num", { scope: "col" }, "cache hit"),
        h("th.num", { scope: "col" }, "cache miss"), h("th.num", { scope: "col" }, "output"),
        h("th.num", { scope: "col" }, "dollars"))),
      h("tbody", {}, rows))),
  notes.length ? h("ul.estimate-notes", {}, notes) : null];
}

const coverageNode = $("#coverage");

/** A coverage object (the map-reduce route's plan or report), shown field by field; open when that route runs. */
function showCoverage(coverage, title, open) {
  if (!coverage || typeof coverage !== "object") {
    fill(coverageNode);
    coverageNode.hidden = true;
    return;
  }
  coverageNode.hidden = false;
  fill(coverageNode, h("details.coverage", { open }, h("summary", {}, title), coverageHeadline(coverage),
    keyValues(coverage)));
}

/** The report's gist in one line: pages read of pages in scope, windows, cache hits, dollars. */
function coverageHeadline(c) {
  if (typeof c.pages_sent !== "number" || typeof c.pages_in_scope !== "number") return null;
  const parts = [`Read ${tokens(c.pages_sent)} of ${tokens(c.pages_in_scope)} pages (${c.pages_sent_percent}%)`];
  if (typeof c.windows === "number") parts.push(`${c.windows_read ?? c.windows} of ${c.windows} windows`);
  if (typeof c.cache_hit_ratio === "number") parts.push(`cache hits ${Math.round(c.cache_hit_ratio * 100)}%`);
  if (typeof c.dollars === "number") parts.push(dollars(c.dollars));
  const left = (c.documents_left_out || []).map((d) => d.title).filter(Boolean);
  return h(`p.coverage-headline${c.complete === false ? ".incomplete" : ""}`, { role: "status" }, parts.join(" · "),
    left.length ? h("span.left-out", {}, ` — not covered: ${left.join(", ")}`) : null);
}

/** The plan: route, reason, need, cache state, both (or all) estimates. */
export function renderPlan(plan) {
  const scope = plan.scope || [];
  const scopeTokens = scope.reduce((sum, d) => sum + (d.tokens || 0), 0);
  const facts = h("dl.facts", {},
    h("dt", {}, "Reason"), h("dd.reason", {}, plan.reason || "—"),
    plan.need ? [h("dt", {}, "Need"), h("dd", {}, plan.need.explanation || plan.need.class)] : null,
    plan.inputs && plan.inputs.cache ? [h("dt", {}, "Cache"), h("dd", {}, plan.inputs.cache.explanation)] : null,
    h("dt", {}, "Scope"),
    h("dd", {}, `${scope.length} document${scope.length === 1 ? "" : "s"}, ${tokens(scopeTokens)} tokens`),
    plan.warmup ? [h("dt", {}, "Warm-up"), h("dd", {}, "a short request primes the cache first")] : null);
  fill(planNode,
    h("h3", {}, "Plan ", badge(plan.route)),
    facts,
    estimatesTable(plan),
    (plan.notes || []).length ? h("ul.notes", {}, plan.notes.map((n) => h("li", {}, n))) : null);
  showCoverage(plan.coverage, "Coverage plan", plan.route === "coverage");
  planNode.classList.remove("placeholder");
}

function routeRows(estimate, usage, cost) {
  const e = estimate || {};
  const u = usage || {};
  const row = (label, est, actual) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td.num", {}, est), h("td.num", {}, actual));
  return [
    row("cache-hit tokens", tokens(e.hit_tokens), tokens(u.hit_tokens)),
    row("cache-miss tokens", tokens(e.miss_tokens), tokens(u.miss_tokens)),
    row("output tokens", tokens(e.output_tokens), u.output_tokens === undefined ? "—"
      : [tokens(u.output_tokens), u.reasoning_tokens ? h("span.sub", {}, `${tokens(u.reasoning_tokens)} reasoning`) : null]),
    h("tr.total", {}, h("th", { scope: "row" }, "dollars"),
      h("td.num", {}, cost ? dollars(cost.estimated_dollars) : dollars(e.dollars)),
      h("td.num", {}, cost ? dollars(cost.dollars) : "—")),
  ];
}

function eventText(event) {
  if (event.kind === "fallback") return `Fell back from ${routeName(event.from)} to ${routeName(event.to)}: ${event.reason}`;
  if (event.kind === "escalation") return `Escalated from ${routeName(event.from)} to ${routeName(event.to)}: ${event.reason}`;
  if (event.kind === "no_escalation") return `Not escalated: ${event.reason}`;
  if (event.kind === "warmup") return `Cache warm-up sent (${tokens(event.usage?.miss_tokens)} tokens read at the miss price).`;
  if (event.kind === "truncated") return `Truncated: ${event.reason}`;
  return `${event.kind}: ${event.reason || ""}`;
}

/** What a stopped question is known to have spent: the provider reports usage only with a finished answer. */
function stoppedCaption(state) {
  const warmup = (state.events || []).find((e) => e.kind === "warmup" && e.usage);
  const known = warmup ? `Spent so far: the cache warm-up, ${tokens(warmup.usage.miss_tokens)} cache-miss and `
    + `${tokens(warmup.usage.output_tokens)} output tokens; the question's own tokens are not known here.`
    : "Spent so far: not known here, as the provider reports usage only with a finished answer.";
  return `${known} The service may still finish the question and bill it: the Spend ledger below shows what was.`;
}

/**
 * The route card. `state`: {route, plan, usage, cost, model, events, pending, noModel}. While pending it keeps
 * the same rows with dashes, so the card does not change size when the numbers arrive.
 */
export function renderRoute(state) {
  const route = state.route || (state.plan && state.plan.route);
  const estimate = state.plan && state.plan.estimates ? state.plan.estimates[route] : null;
  let caption;
  if (state.noModel) caption = "No model call was made, so nothing was spent.";
  else if (state.planOnly) caption = "Only estimated: ask to see the actual tokens and dollars.";
  else if (state.stopped) caption = stoppedCaption(state);
  else if (state.pending) caption = "Waiting for the provider's usage…";
  else if (state.cost) caption = `Prices: ${state.cost.profile}, as of ${state.cost.prices_as_of}.`;
  else caption = "";
  fill(routeNode,
    h("h3", {}, "Route taken ", route ? badge(route) : h("span.route-badge.pending", {}, "…")),
    h("p.muted.model", {}, state.model ? `Model: ${state.model}`
      : state.noModel ? "Model: none configured" : state.planOnly ? "Model: not called"
        : state.stopped ? "Stopped by you before the model finished." : "Model: …"),
    h("table.route-table", {},
      h("caption.visually-hidden", {}, "Estimate beside actual"),
      h("thead", {}, h("tr", {}, h("td", {}), h("th.num", { scope: "col" }, "estimate"),
        h("th.num", { scope: "col" }, "actual"))),
      h("tbody", {}, routeRows(estimate, state.usage, state.cost))),
    h("p.muted.caption", {}, caption),
    (state.events || []).length ? h("ul.events", {}, state.events.map((e) => h("li", {}, eventText(e)))) : null);
  routeNode.classList.toggle("placeholder", Boolean(state.pending));
  routeNode.dataset.state = state.pending ? "pending" : "done";
}

export function resetResult(question) {
  resultNode.hidden = false;
  $("#result-question").textContent = question;
  fill(planNode, h("h3", {}, "Plan ", h("span.route-badge.pending", {}, "…")), h("p.muted", {}, "Planning: retrieving and pricing…"));
  planNode.classList.add("placeholder");
  renderRoute({ pending: true });
  fill(answerNode);
  answerNode.classList.add("streaming");
  answerNode.setAttribute("aria-busy", "true");
  fill(citationsNode);
  fill(retrievedNode);
  showCoverage(null);
  fill(noticeNode);
  showProgress("Planning…");
  liveNode.textContent = "Working on the answer…";
}

export function appendDelta(text) {
  answerNode.append(document.createTextNode(text));
}

function citationLink(citation, text, withMark = true) {
  const mark = !withMark ? "" : citation.verified === true ? "✓" : citation.verified === false ? "✗" : "";
  const verdict = citation.verified === true ? "quote verified" : citation.verified === false ? "quote not verified"
    : "nothing quoted";
  if (!citation.document_id) {
    return h("span.cite.unknown", { title: citation.note || "not in the scope" }, text);
  }
  return h(`a.cite${citation.verified === true ? ".verified" : citation.verified === false ? ".unverified" : ""}`, {
    href: `#page-${citation.document_id.slice(0, 12)}-${citation.page}`,
    "aria-label": `${text}: open page ${citation.page}, ${verdict}`,
    onclick: (event) => {
      event.preventDefault();
      openPage(citation.document_id, citation.page, citation, citation.title);
    },
  }, text, mark ? h("span.cite-mark", { "aria-hidden": "true" }, ` ${mark}`) : null);
}

/** The answer text again, with each citation label turned into a link to its page. */
function linkCitations(answer, citations) {
  const parts = [];
  let cursor = 0;
  for (const c of citations) {
    const at = answer.indexOf(c.label, cursor);
    if (at < 0) continue;
    parts.push(answer.slice(cursor, at), citationLink(c, c.label));
    cursor = at + c.label.length;
  }
  parts.push(answer.slice(cursor));
  fill(answerNode, parts);
}

function citationList(citations) {
  if (!citations.length) return null;
  return [h("h4", {}, `Citations (${citations.length})`), h("ol.citation-list", {}, citations.map((c) => {
    const status = c.verified === true ? h("span.badge.ok", {}, "✓ verified")
      : c.verified === false ? h("span.badge.bad", {}, "✗ not verified") : h("span.badge.neutral", {}, "no quote");
    const pages = c.last_page && c.last_page !== c.page ? `pp. ${c.page}–${c.last_page}` : `p. ${c.page}`;
    return h("li", { dataset: { verified: String(c.verified) } },
      citationLink(c, `${c.title}, ${pages}`, false), " ", status,
      c.quote ? h("blockquote", {}, c.quote) : null,
      c.note ? h("p.muted", {}, c.note) : null);
  }))];
}

function retrievedList(retrieved, open) {
  if (!retrieved || !retrieved.length) return null;
  const items = retrieved.map((r, i) => {
    const first = r.first_page + 1;
    const last = r.last_page + 1;
    const pages = first === last ? `p. ${first}` : `pp. ${first}–${last}`;
    const flat = r.text.replace(/(?<!\n)[ \t]*\n[ \t]*(?!\n)/g, " ").trim(); // a PDF's line ends are not sentences' ends
    const text = flat.length > 700 ? `${flat.slice(0, 700)}…` : flat;
    return h("li.passage", {},
      h("div.passage-head", {},
        h("a", {
          href: `#page-${r.document_id.slice(0, 12)}-${first}`,
          onclick: (event) => {
            event.preventDefault();
            openPage(r.document_id, first, null, r.title);
          },
        }, `${r.title || r.document_id.slice(0, 12)}, ${pages}`),
        r.heading ? h("span.muted", {}, ` · ${r.heading}`) : null,
        h("span.muted", {}, ` · #${i + 1}, score ${Number(r.score).toFixed(3)}`)),
      h("p.passage-text", {}, text));
  });
  return h("details.retrieved", { open },
    h("summary", {}, `Retrieved passages (${retrieved.length})`),
    h("ol", {}, items));
}

/** The final result: answer with links, citations, route card, retrieved passages, the no-model note. */
export function renderDone(result) {
  showProgress("");
  answerNode.classList.remove("streaming");
  answerNode.removeAttribute("aria-busy");
  const noModel = result.answer === null || result.answer === undefined;
  if (noModel) {
    fill(answerNode, h("span.muted", {}, "No answer: no language model is configured."));
    fill(noticeNode, h("div.notice.no-model", { role: "status" },
      h("h4", {}, "How to get answers"), h("p", {}, result.message || "Configure a language model.")));
  } else {
    linkCitations(result.answer, result.citations || []);
  }
  fill(citationsNode, citationList(result.citations || []));
  if (result.plan) renderPlan(result.plan);
  if (result.coverage) showCoverage(result.coverage, "Coverage report", result.route === "coverage");
  renderRoute({ route: result.route, plan: result.plan, usage: result.usage, cost: result.cost,
    model: result.model, events: result.events, noModel });
  fill(retrievedNode, retrievedList(result.retrieved, noModel));
  liveNode.textContent = noModel ? "Plan and retrieved pages ready; no model is configured."
    : `Answer complete: ${routeName(result.route)}, ${dollars(result.cost?.dollars)}.`;
}

/** A plan-only result (POST /v1/plan): the plan and the retrieved passages, nothing spent. */
export function renderPlanOnly(data) {
  showProgress("");
  answerNode.classList.remove("streaming");
  answerNode.removeAttribute("aria-busy");
  fill(answerNode, h("span.muted", {}, "Estimate only: the model was not asked."));
  renderPlan(data.plan);
  renderRoute({ route: data.route, plan: data.plan, planOnly: true });
  fill(retrievedNode, retrievedList(data.retrieved, true));
  liveNode.textContent = `Plan ready: ${routeName(data.route)}.`;
}

export function showEvent(state, kind, data) {
  state.events.push({ kind, ...data });
  renderRoute(state);
}

/** The plan card when the question failed before a plan arrived. */
export function planFailed(why = "the question failed") {
  if (!planNode.classList.contains("placeholder")) return;
  fill(planNode, h("h3", {}, "Plan"), h("p.muted", {}, `No plan: ${why} before it was planned.`));
  planNode.classList.remove("placeholder");
}

/** The user pressed Stop: what had streamed stays, marked as cut short by them; no failure is reported. */
export function showStopped(partial) {
  planFailed("you stopped the question");
  showProgress("");
  answerNode.classList.remove("streaming");
  answerNode.removeAttribute("aria-busy");
  if (!partial) fill(answerNode, h("span.muted", {}, "No answer: stopped before any of it arrived."));
  fill(noticeNode, h("p.notice.stopped", { role: "status" },
    partial ? "Stopped by you: the answer above is incomplete." : "Stopped by you."));
  liveNode.textContent = "Stopped.";
}

export function showStreamError(error, partial) {
  planFailed();
  showProgress("");
  answerNode.classList.remove("streaming");
  answerNode.removeAttribute("aria-busy");
  if (!partial) fill(answerNode);
  fill(noticeNode, errorBox(error, "The answer failed:"));
  liveNode.textContent = "The answer failed.";
}
