// One turn of a thread: the question, then the answer, led by one plain sentence on its route and cost (the
// service's `summary`), streamed, with citation links and the citations list, and its actions (copy as Markdown,
// download, save as PDF, link); then, folded under it, "Details": the thread report in words, the plan (route,
// reason, every estimate, the cache evidence), the route card (estimate beside actual), the coverage plan or
// report, and the retrieved passages. A stopped or failed turn is shown as such, with what is known of its spend.

import { $, dollars, errorBox, fill, h, routeName, tokens } from "./dom.js";
import { cacheSentences, coverageDetails, estimatesTable, needWords, percent, plain } from "./details.js";
import { copyText, download, fileName, permalink, printOnly, turnMarkdown } from "./export.js";
import { openPage } from "./viewer.js";

const liveNode = $("#answer-live"); // one polite live region for the whole thread
let simulated = false;

/** `folio serve --simulated-model`: every answer says it was quoted by the provider double. */
export function setSimulated(on) {
  simulated = Boolean(on);
  for (const node of document.querySelectorAll(".answer-simulated")) node.hidden = !simulated;
}

function announce(text) {
  liveNode.textContent = text;
}

function badge(route) {
  return h(`span.route-badge.route-${String(route).replace(/[^a-z0-9_-]/gi, "")}`, {}, routeName(route));
}

const plural = (n, word) => `${tokens(n)} ${word}${n === 1 ? "" : "s"}`;

/** A coverage report's gist in one line: pages read of pages in scope, windows, cache hits, dollars. */
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

function routeRows(estimate, usage, cost) {
  const e = estimate || {};
  const u = usage || {};
  const row = (label, est, actual) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td.num", {}, est), h("td.num", {}, actual));
  return [
    row("cache-hit tokens (from the cache)", tokens(e.hit_tokens), tokens(u.hit_tokens)),
    row("cache-miss tokens (full price)", tokens(e.miss_tokens), tokens(u.miss_tokens)),
    row("output tokens (written)", tokens(e.output_tokens), u.output_tokens === undefined ? "—"
      : [tokens(u.output_tokens), u.reasoning_tokens ? h("span.sub", {}, `${tokens(u.reasoning_tokens)} reasoning`) : null]),
    h("tr.total", {}, h("th", { scope: "row" }, "cost"),
      h("td.num", {}, cost ? dollars(cost.estimated_dollars) : dollars(e.dollars)),
      h("td.num", {}, cost ? dollars(cost.dollars) : "—")),
  ];
}

function eventText(event) {
  return plain(eventWords(event));
}

function eventWords(event) {
  if (event.kind === "fallback") return `Fell back from ${routeName(event.from)} to ${routeName(event.to)}: ${event.reason}`;
  if (event.kind === "escalation") return `Escalated from ${routeName(event.from)} to ${routeName(event.to)}: ${event.reason}`;
  if (event.kind === "no_escalation") return `Not escalated: ${event.reason}`;
  if (event.kind === "warmup") return `Cache warm-up sent (${tokens(event.usage?.miss_tokens)} tokens read at the miss price).`;
  if (event.kind === "truncated") return `Truncated: ${event.reason}`;
  if (event.kind === "rewrite") return `Follow-up: ${event.reason}`;
  if (event.kind === "scope_changed") return `Scope changed: ${event.reason}`;
  if (event.kind === "history_trimmed") return `History trimmed: ${event.reason}`;
  return `${String(event.kind).replaceAll("_", " ")}: ${event.reason || ""}`;
}

/** What a stopped question is known to have spent: the provider reports usage only with a finished answer. */
function stoppedCaption(state) {
  const warmup = (state.events || []).find((e) => e.kind === "warmup" && e.usage);
  const known = warmup ? `Spent so far: the cache warm-up, ${tokens(warmup.usage.miss_tokens)} cache-miss and `
    + `${tokens(warmup.usage.output_tokens)} output tokens; the question's own tokens are not known here.`
    : "Spent so far: not known here, as the provider reports usage only with a finished answer.";
  return `${known} The service may still finish the question, bill it and add it to the conversation: the Spend `
    + "ledger below shows what was billed, and reopening the conversation shows the turn.";
}

const REWRITES = {
  none: "the question as asked",
  expanded: "the previous question and this one together (no model call)",
  model: "the model's standalone form of the question (a billed request)",
};

/**
 * The thread report (`plan.thread`) in words: what the prompt re-sent, what of it came from the cache, what was
 * left out, and what retrieval searched with. `usage`: the provider's, once the turn is answered.
 */
export function threadSentences(thread, usage, route) {
  if (!thread) return [];
  const out = [];
  const earlier = thread.turns_in_prompt || 0;
  if (route === "coverage") {
    out.push(thread.turn <= 1 ? "The first turn of this conversation."
      : "Coverage reads the pages window by window with this question alone: the earlier turns are not in its "
        + "prompts, so none of them was read from the cache.");
  } else if (thread.turn <= 1 || (!earlier && !thread.turns_dropped)) {
    out.push(thread.turn <= 1 ? "The first turn of this conversation: no earlier turns in its prompt."
      : "No earlier turns in this prompt.");
  } else {
    const what = thread.base === "documents" ? "the whole documents, then " : "";
    const after = thread.base === "documents" ? "then the question" : "then the retrieved excerpts and the question";
    out.push(`The prompt re-sent ${what}${plural(earlier, "earlier turn")} (${tokens(thread.history_tokens)} tokens), ${after}.`);
  }
  if (route === "coverage") {
    // the thread's prefix is not used
  } else if (thread.turn > 1 && thread.new_prefix) {
    out.push("A new prefix (a switch of route, a trimmed history or a changed scope): its prompt was read cold, once.");
  } else if (earlier && usage) {
    out.push(usage.hit_tokens > 0
      ? `Read ${plural(earlier, "earlier turn")} from the cache: ${tokens(usage.hit_tokens)} of `
        + `${tokens((usage.hit_tokens || 0) + (usage.miss_tokens || 0))} input tokens were cache hits.`
      : `The earlier turns were expected from the cache (a ${percent(thread.cache_h)} chance), but the `
        + "provider read none of them from it.");
  } else if (earlier) {
    out.push(`Expects to read ${plural(earlier, "earlier turn")} from the cache (${tokens(thread.cached_tokens)} `
      + `tokens of the previous request; a ${percent(thread.cache_h)} chance they are still cached).`);
  }
  if (thread.turns_dropped && route !== "coverage") {
    out.push(`${plural(thread.turns_dropped, "oldest turn")} left out of the prompt to fit the window `
      + "(they stay in the conversation).");
  }
  if (thread.follow_up && thread.turn > 1) out.push(plain(`Follow-up: ${thread.follow_up}.`.replace(/\.\.$/, ".")));
  out.push(thread.rewrite === "none" || !thread.search_query || !REWRITES[thread.rewrite]
    ? "Retrieval searched with the question as asked."
    : `Retrieval searched with ${REWRITES[thread.rewrite]}: “${thread.search_query}”.`);
  return out;
}

/** The thread report in a few words, for the folded summary: "read 3 earlier turns from the cache". */
export function threadGist(thread, usage, route) {
  if (!thread) return null;
  const earlier = thread.turns_in_prompt || 0;
  if (thread.turn <= 1) return "first turn";
  if (route === "coverage") return "the earlier turns are not in its prompts";
  if (thread.new_prefix) return earlier ? `re-sent ${plural(earlier, "earlier turn")}, read cold` : "read cold";
  if (!earlier) return "no earlier turns in the prompt";
  if (usage && !(usage.hit_tokens > 0)) return `${plural(earlier, "earlier turn")}, no cache hits`;
  return `${usage ? "read" : "expects to read"} ${plural(earlier, "earlier turn")} from the cache`;
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

/** The answer text, with each citation label turned into a link to its page. */
function linkedAnswer(answer, citations) {
  const parts = [];
  let cursor = 0;
  for (const c of citations) {
    const at = answer.indexOf(c.label, cursor);
    if (at < 0) continue;
    parts.push(answer.slice(cursor, at), citationLink(c, c.label));
    cursor = at + c.label.length;
  }
  parts.push(answer.slice(cursor));
  return parts;
}

function citationList(citations) {
  if (!citations.length) return null;
  return [h("h5", {}, `Citations (${citations.length})`), h("ol.citation-list", {}, citations.map((c) => {
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

/**
 * One turn on the page. Built pending (a question just asked) or from a recorded turn (`showRecorded`); the
 * streaming calls (`renderPlan`, `appendDelta`, `showEvent`, `renderDone`, ...) fill it in as events arrive.
 */
export class TurnView {
  constructor(question) {
    this.question = question;
    this.state = { pending: true, events: [], plan: null };
    const q = h("h4.turn-question", {}, question);
    this.meta = h("p.turn-meta", {});
    this.progress = h("p.progress-line.muted", {});
    this.text = h("div.answer-text", {});
    this.notice = h("div.answer-notice", {});
    this.citations = h("div.citations", {});
    this.simulatedNote = h("p.hint.answer-simulated", { hidden: !simulated },
      "Simulated: quoted by Folio's provider double, not written by a language model.");
    this.plan = h("section.card.plan", { "aria-label": "Plan" });
    this.route = h("section.card.route-card", { "aria-label": "Route taken and cost" });
    this.coverage = h("section.card.coverage-card", { "aria-label": "Coverage", hidden: true });
    this.thread = h("section.card.thread-card", { "aria-label": "This turn in the thread", hidden: true });
    this.retrieved = h("div.retrieved-wrap", {});
    this.gist = h("span.how-gist", {});
    // the plain sentence: a provisional one from the plan, then the service's; two lines are kept for it from
    // the start, so the answer under it does not move when it arrives
    this.summary = h("p.answer-summary", {});
    this.actions = h("div.turn-actions", { hidden: true });
    this.how = h("details.how", {},
      h("summary", {}, h("span.how-title", {}, "Details: how this was answered"), this.gist),
      h("div.how-grid", {}, this.thread, this.plan, this.route, this.coverage, this.retrieved));
    // no aria-label: the question heading names the turn (and "Question" stays the question box's label alone)
    this.node = h("article.turn", {},
      h("header.turn-head", {}, q, this.meta),
      // the progress line under the text: whatever it says, nothing above the streaming answer moves
      h("section.answer", { "aria-label": "Answer" }, this.summary, this.simulatedNote, this.text, this.progress,
        this.notice, this.citations, this.actions),
      this.how);
    this.setState("pending");
    fill(this.plan, h("h3", {}, "Plan ", h("span.route-badge.pending", {}, "…")),
      h("p.muted", {}, "Planning: retrieving and pricing…"));
    this.plan.classList.add("placeholder");
    this.renderRoute({ pending: true });
    this.text.classList.add("streaming");
    this.text.setAttribute("aria-busy", "true");
    this.setMeta({ pending: true });
    this.showProgress("Planning…");
  }

  setState(state) {
    this.node.dataset.state = state;
  }

  /** The line under the question: turn number, route, this turn's dollars (or why it has none). */
  setMeta({ n, route, dollarsSpent, pending, note }) {
    const parts = [];
    if (n) parts.push(h("span.turn-n", {}, `Turn ${n}`));
    if (route) parts.push(badge(route));
    if (typeof dollarsSpent === "number") parts.push(h("span.turn-dollars", {}, dollars(dollarsSpent)));
    if (pending) parts.push(h("span.muted", {}, "asking…"));
    if (note) parts.push(h("span.turn-note", {}, note));
    fill(this.meta, parts.flatMap((p, i) => (i ? [h("span.sep", { "aria-hidden": "true" }, " · "), p] : [p])));
  }

  /** One line of progress while the answer is worked on (windows read, reduce rounds, warm-up); fixed height. */
  showProgress(text) {
    this.progress.textContent = text || "";
    this.progress.title = text || "";
  }

  /** A coverage object (the map-reduce route's plan or report), field by field; open when that route runs. */
  showCoverage(coverage, title, open) {
    if (!coverage || typeof coverage !== "object") {
      fill(this.coverage);
      this.coverage.hidden = true;
      return;
    }
    this.coverage.hidden = false;
    fill(this.coverage, h("details.coverage", { open }, h("summary", {}, title), coverageHeadline(coverage),
      coverageDetails(coverage, { report: title === "Coverage report" })));
  }

  showThread(thread, usage, route) {
    const sentences = threadSentences(thread, usage, route);
    this.thread.hidden = !sentences.length;
    fill(this.thread, h("h3", {}, "This turn in the thread"), h("ul.thread-words", {},
      sentences.map((s) => h("li", {}, s))));
    this.setGist(thread, usage, route);
  }

  /** The folded summary's words: route, dollars, and the thread report's gist. */
  setGist(thread, usage, route = null, spent = null) {
    const parts = [route ? routeName(route) : null, typeof spent === "number" ? dollars(spent) : null,
      threadGist(thread, usage, route)].filter(Boolean);
    this.gist.textContent = parts.length ? `: ${parts.join(" · ")}` : "";
  }

  /** The plan: route, reason, need, cache state, every estimate, and the thread report. */
  renderPlan(plan) {
    this.state.plan = plan;
    this.state.route = this.state.route || plan.route;
    const scope = plan.scope || [];
    const scopeTokens = scope.reduce((sum, d) => sum + (d.tokens || 0), 0);
    const facts = h("dl.facts", {},
      h("dt", {}, "Reason"), h("dd.reason", {}, plain(plan.reason) || "—"),
      plan.need ? [h("dt", {}, "Need"), h("dd", {}, needWords(plan.need, this.question))] : null,
      // in a thread the documents' own prefix is not the one reused (the thread's is: see its report above)
      plan.inputs && plan.inputs.cache ? [h("dt", {}, plan.thread ? "Documents' cache" : "Cache"), h("dd", {}, h("ul.cache-words", {}, cacheSentences(plan.inputs.cache).map((t) => h("li", {}, t))))]
        : null,
      h("dt", {}, "Scope"),
      h("dd", {}, `${scope.length} document${scope.length === 1 ? "" : "s"}, ${tokens(scopeTokens)} tokens`),
      plan.warmup ? [h("dt", {}, "Warm-up"), h("dd", {}, "a short request primes the cache first")] : null);
    fill(this.plan,
      h("h3", {}, "Plan ", badge(plan.route)),
      facts,
      estimatesTable(plan),
      (plan.notes || []).length ? h("ul.notes", {}, plan.notes.map((n) => h("li", {}, plain(n)))) : null);
    this.showCoverage(plan.coverage, "Coverage plan", plan.route === "coverage");
    this.plan.classList.remove("placeholder");
    this.showThread(plan.thread, null, plan.route);
    this.setMeta({ n: plan.thread?.turn, route: plan.route, pending: this.state.pending });
    if (this.state.pending) {
      const estimate = plan.estimates?.[plan.route];
      this.setSummary(`Planned: ${routeName(plan.route)}, estimated at ${dollars(estimate?.dollars)}…`, true);
    }
  }

  /** The sentence the answer leads with (provisional: the plan's, in grey, until the service's arrives). */
  setSummary(text, provisional = false) {
    this.summary.textContent = text || "";
    this.summary.classList.toggle("provisional", provisional);
  }

  /** The answer's actions, once it is recorded: copy as Markdown, download, save as PDF, its permalink. */
  showActions(question, answer, n, spent) {
    const markdown = () => turnMarkdown(question, answer, { n, spent });
    const status = h("span.action-status", { role: "status" });
    const say = (text) => {
      status.textContent = text;
    };
    const conversation = () => /^#c=([^&]+)/.exec(location.hash)?.[1];
    fill(this.actions,
      h("button.secondary.small", { type: "button", onclick: async () => say(await copyText(markdown())
        ? "Copied as Markdown, with its citations." : "The browser refused the clipboard: use Download instead.") },
      "Copy as Markdown"),
      h("button.secondary.small", { type: "button", onclick: () => download(fileName(question), markdown()) },
        "Download .md"),
      h("button.secondary.small", { type: "button", onclick: () => printOnly(this.node) }, "Save as PDF"),
      n ? h("button.secondary.small", { type: "button", onclick: async () => {
        const id = conversation();
        if (!id) return;
        const link = permalink(decodeURIComponent(id), n);
        history.replaceState(null, "", link);
        say(await copyText(link) ? "Link to this answer copied." : `Link: ${link}`);
      } }, "Copy link") : null,
      status);
    this.actions.hidden = false;
  }

  /**
   * The route card. `state`: {route, plan, usage, cost, model, events, pending, noModel, planOnly, stopped}.
   * While pending it keeps the same rows with dashes, so the card does not change size when the numbers arrive.
   */
  renderRoute(state = this.state) {
    const route = state.route || (state.plan && state.plan.route);
    const estimate = state.plan && state.plan.estimates ? state.plan.estimates[route] : null;
    let caption;
    if (state.noModel) caption = "No model call was made, so nothing was spent.";
    else if (state.planOnly) caption = "Only estimated: ask to see the actual tokens and dollars.";
    else if (state.stopped) caption = stoppedCaption(state);
    else if (state.pending) caption = "Waiting for the provider's usage…";
    else if (state.cost) caption = `Prices: ${state.cost.profile}, as of ${state.cost.prices_as_of}.`;
    else caption = "";
    fill(this.route,
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
    this.route.classList.toggle("placeholder", Boolean(state.pending));
    this.route.dataset.state = state.pending ? "pending" : "done";
  }

  appendDelta(text) {
    if (!this.text.firstChild) this.showProgress("Streaming the answer…");
    this.text.append(document.createTextNode(text));
  }

  /** Something that happened on the way (warm-up, fallback, a follow-up's rewrite, a changed scope). */
  showEvent(kind, data) {
    if (kind === "fallback" || kind === "escalation") this.state.route = data.to;
    this.state.events.push({ kind, ...data });
    this.renderRoute();
  }

  finish() {
    if (this.summary.classList.contains("provisional")) this.setSummary(""); // stopped or failed: no sentence
    this.state.pending = false;
    this.showProgress("");
    this.text.classList.remove("streaming");
    this.text.removeAttribute("aria-busy");
  }

  /**
   * The final answer (an Answer): text with links, citations, plan, route card, coverage report, retrieved
   * passages, the no-model note. `turn`: {n, dollars, recorded}; a recorded turn's dollars include a follow-up's
   * rewrite.
   */
  renderDone(answer, { n = null, dollarsSpent = null, recorded = true, quiet = false } = {}) {
    this.finish();
    const noModel = answer.answer === null || answer.answer === undefined;
    if (noModel) {
      fill(this.text, h("span.muted", {}, "No answer: no language model is configured."));
      fill(this.notice, h("div.notice.no-model", { role: "status" },
        h("h4", {}, "How to get answers"), h("p", {}, answer.message || "Configure a language model.")));
    } else {
      fill(this.text, linkedAnswer(answer.answer, answer.citations || []));
    }
    fill(this.citations, citationList(answer.citations || []));
    if (answer.plan) this.renderPlan(answer.plan);
    this.setSummary(answer.summary || "");
    if (answer.coverage) this.showCoverage(answer.coverage, "Coverage report", answer.route === "coverage");
    Object.assign(this.state, { route: answer.route, plan: answer.plan, usage: answer.usage, cost: answer.cost,
      model: answer.model, events: answer.events || [], noModel, pending: false });
    this.renderRoute();
    fill(this.retrieved, retrievedList(answer.retrieved, noModel));
    const spent = typeof dollarsSpent === "number" ? dollarsSpent : answer.cost?.dollars;
    this.showThread(answer.plan?.thread, answer.usage, answer.route);
    this.setGist(answer.plan?.thread, noModel ? null : answer.usage, answer.route, noModel ? null : spent);
    this.setMeta({ n: recorded ? n : null, route: answer.route, dollarsSpent: noModel ? null : spent,
      note: recorded ? null : "not recorded: no model is configured" });
    this.how.open = noModel;
    this.showActions(this.node.querySelector(".turn-question").textContent, answer, recorded ? n : null,
      noModel ? null : spent);
    this.setState(recorded ? "done" : "unrecorded");
    this.node.dataset.n = recorded && n ? String(n) : "";
    if (!quiet) announce(noModel ? "Plan and retrieved pages ready; no model is configured."
      : `Answer complete: ${routeName(answer.route)}, ${dollars(spent)}.`);
  }

  /** An estimate (`estimate_only`): the plan, the route card and the retrieved passages; nothing spent. */
  renderEstimate(answer, n) {
    this.finish();
    fill(this.text, h("span.muted", {}, "Estimate only: the model was not asked, and this turn was not recorded."));
    this.renderPlan(answer.plan);
    this.setSummary(answer.summary || "");
    Object.assign(this.state, { route: answer.route, plan: answer.plan, planOnly: true, events: answer.events || [] });
    this.renderRoute();
    fill(this.retrieved, retrievedList(answer.retrieved, true));
    this.setMeta({ route: answer.route, note: `estimate for turn ${n}, not recorded` });
    this.setGist(answer.plan?.thread, null, answer.route, answer.plan?.estimates?.[answer.route]?.dollars);
    this.how.open = true;
    this.setState("estimate");
    announce(`Plan ready: ${routeName(answer.route)}.`);
  }

  /** The plan card when the question failed before a plan arrived. */
  planFailed(why = "the question failed") {
    if (!this.plan.classList.contains("placeholder")) return;
    fill(this.plan, h("h3", {}, "Plan"), h("p.muted", {}, `No plan: ${why} before it was planned.`));
    this.plan.classList.remove("placeholder");
  }

  /** The user pressed Stop: what had streamed stays, marked as cut short by them; no failure is reported. */
  showStopped() {
    const partial = this.text.textContent;
    this.planFailed("you stopped the question");
    this.finish();
    if (!partial) fill(this.text, h("span.muted", {}, "No answer: stopped before any of it arrived."));
    fill(this.notice, h("p.notice.stopped", { role: "status" },
      partial ? "Stopped by you: the answer above is incomplete." : "Stopped by you."));
    this.state.stopped = true;
    this.renderRoute();
    this.setMeta({ route: this.state.route, note: "stopped by you" });
    this.setState("stopped");
    announce("Stopped.");
  }

  showStreamError(error) {
    const partial = this.text.textContent;
    this.planFailed();
    this.finish();
    if (!partial) fill(this.text);
    fill(this.notice, errorBox(error, "The answer failed:"));
    this.renderRoute();
    this.setMeta({ route: this.state.route, note: "failed: not added to the conversation" });
    this.setState("failed");
    announce("The answer failed.");
  }
}

/** A recorded turn (GET /v1/conversations/{id}: history[]), as it was answered. */
export function recordedTurn(turn) {
  const view = new TurnView(turn.question);
  view.renderDone(turn.answer, { n: turn.n, dollarsSpent: turn.dollars, recorded: true, quiet: true });
  return view;
}

export { announce };
