// An answer's details in words and units a person reads: what each route would cost, what the provider's cache
// was thought to hold, and a coverage plan or report as a short list and a table that fits the card. The raw
// numbers stay in the API (and the Markdown export); nothing here shows a field's key.

import { dollars, h, routeName, tokens } from "./dom.js";

/** 0.953 -> "95%"; "—" when unknown. */
export function percent(p) {
  return typeof p === "number" && !Number.isNaN(p) ? `${Math.round(p * 100)}%` : "—";
}

/** Seconds ago in words: "40 seconds", "12 minutes", "3 hours". */
export function ago(seconds) {
  if (typeof seconds !== "number") return "at an unknown time";
  if (seconds < 90) return `${Math.round(seconds)} seconds ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} minutes ago`;
  return `${Math.round(seconds / 3600)} hours ago`;
}

const KEYS = { max_cost_usd: "the cost limit", lookup_premium_usd: "the lookup premium", estimate_usd: "the estimate",
  estimate_only: "estimate only" };
const chance = (p) => `a ${percent(Number(p))} chance`;

/**
 * The service's own sentences (a plan's reason and notes, events) in words: probabilities as chances, no field
 * keys or "mode=" settings, plurals without "(s)".
 */
export function plain(text) {
  return String(text ?? "")
    .replace(/P\(still cached\)\s*=\s*([\d.]+)/g, (_, p) => `${chance(p)} it is still cached`)
    .replace(/P\(cached\)\s*=\s*([\d.]+)/g, (_, p) => `${chance(p)} it is cached`)
    .replace(/(?:with |at )?P\s*=\s*([\d.]+)/g, (_, p) => `with ${chance(p)}`)
    .replace(/P\(([^)]*)\)/g, (_, what) => `the chance ${what}`)
    .replace(/\bmode=(\w+)/g, (_, mode) => `the ${routeName(mode)} route`)
    .replace(/\bfallback: true\b/g, "the fallback")
    .replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (key) => KEYS[key] || key.replaceAll("_", " "))
    .replace(/\bamortised over\b/g, "spread over")
    .replace(/\bamortised\b/g, "spread over the session")
    .replace(/\b1 (\w+)\(s\)/g, "1 $1")
    .replace(/(\w)\(s\)/g, "$1s")
    .replace(/\b(\d+)\.0 expected\b/g, "$1 expected");
}

/** The need class with the words of the question that decided it (the service names word stems: 'Compar'). */
export function needWords(need, question) {
  if (!need) return "";
  const cues = need.cues || [];
  if (!cues.length) return plain(need.explanation || need.class);
  const words = cues.slice(0, 4).map((cue) => {
    const escaped = cue.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const match = new RegExp(`\\w*${escaped}\\w*`, "i").exec(question || "");
    return `“${match ? match[0] : cue}”`;
  });
  return `${need.class}: the question says ${words.join(", ")}`;
}

const plural = (n, word, many = `${word}s`) => `${tokens(n)} ${n === 1 ? word : many}`;

/** What each route would cost for this question: a row per route, in words; the chosen one marked. */
export function estimatesTable(plan) {
  const estimates = Object.entries(plan.estimates || {}).filter(([, e]) => e);
  const followups = plan.inputs?.cache?.followups;
  const rows = estimates.map(([name, e]) => h(`tr${name === plan.route ? ".chosen" : ""}`, {},
    h("th", { scope: "row" }, routeName(name), name === plan.route ? h("span.chosen-mark", {}, " (chosen)") : null),
    h("td.num", {}, tokens(e.hit_tokens)),
    h("td.num", {}, tokens(e.miss_tokens)),
    h("td.num", {}, tokens(e.output_tokens)),
    h("td.num", {}, e.feasible === false ? h("span.sub", {}, "does not fit") : null, dollars(e.dollars),
      typeof e.amortised_dollars === "number" && typeof followups === "number" && followups > 0
        ? h("span.sub", {}, `${dollars(e.amortised_dollars)} a question over this and ${
          Number(followups.toFixed(1))} likely follow-up${followups === 1 ? "" : "s"}`) : null)));
  const notes = estimates.filter(([, e]) => e.note)
    .map(([name, e]) => h("li", {}, `${routeName(name)}: ${plain(e.note)}`));
  return [h("div.table-scroll", { role: "region", "aria-label": "What each route would cost", tabindex: "0" },
    h("table.estimates", {},
      h("caption.table-caption", {}, "What each route would cost: tokens read from the cache, read at the full "
        + "price and written, then dollars"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Route"),
        h("th.num", { scope: "col" }, "Cached"),
        h("th.num", { scope: "col" }, "Full price"), h("th.num", { scope: "col" }, "Written"),
        h("th.num", { scope: "col" }, "Cost"))),
      h("tbody", {}, rows))),
  notes.length ? h("ul.estimate-notes", {}, notes) : null];
}

/** The cache evidence (plan.inputs.cache) as sentences. */
export function cacheSentences(cache) {
  if (!cache) return [];
  const out = [];
  if (!cache.requests) out.push("These documents were never sent to the model before, so nothing was cached.");
  else {
    out.push(`Sent ${plural(cache.requests, "time")} before, last ${ago(cache.last_seen_s)}`
      + (typeof cache.observed_hit_ratio === "number"
        ? `; ${percent(cache.observed_hit_ratio)} of the last one came from the cache.` : "."));
    out.push(`Chance they are still in the provider's cache now: ${percent(cache.h)}.`);
  }
  const asked = cache.session_questions || 0;
  out.push(`${plural(asked, "question")} on these documents in this session so far, so about `
    + `${Number((cache.followups || 0).toFixed(1))} more expected; each would find them cached with a chance of `
    + `${percent(cache.retention)}.`);
  if (cache.mode_split) out.push("A change of reasoning setting missed the cache before, so each setting is counted apart.");
  return out;
}

function windowPages(w) {
  return (w.documents || []).map((d) => `${d.title} ${d.whole ? "(whole)" : `pp. ${d.pages}`}`).join("; ");
}

const STATUS_WORDS = { found: "found something", nothing: "nothing relevant", failed: "failed", skipped: "not read (cost limit)" };

/** A coverage report (the answer's) or plan as a few sentences and a per-window table that wraps in its card. */
export function coverageDetails(c, { report }) {
  const items = [];
  const inScope = c.pages_in_scope;
  const read = report ? c.pages_sent : c.pages_planned;
  items.push(`${report ? "Read" : "Plans to read"} ${tokens(read)} of ${plural(inScope, "page")} `
    + `(${Math.round(report ? c.pages_sent_percent : c.pages_planned_percent)}%) in `
    + `${plural(report ? c.windows_read : c.windows_within_budget, "window")} of up to ${tokens(c.window_tokens)} tokens.`);
  if (report) {
    items.push(`Cost ${dollars(c.dollars)} (estimated ${dollars(c.estimated_dollars)}): reading ${dollars(c.map_dollars)}, `
      + `merging the findings ${dollars(c.reduce?.dollars)} in ${plural(c.reduce?.calls || 0, "call")}.`);
    if (typeof c.cache_hit_ratio === "number") items.push(`${percent(c.cache_hit_ratio)} of the input came from the cache.`);
    if ((c.windows_found_nothing || []).length) {
      items.push(`Nothing relevant in window${c.windows_found_nothing.length === 1 ? "" : "s"} ${c.windows_found_nothing.join(", ")}.`);
    }
    for (const f of c.windows_failed || []) items.push(`Window ${f.window} failed after ${plural(f.attempts, "attempt")}.`);
    if (typeof c.seconds === "number") items.push(`Took ${c.seconds.toFixed(1)} seconds, ${c.concurrency} windows at a time.`);
  } else {
    items.push(`Estimated at ${dollars(c.estimated_dollars)}${c.budget_cut ? `, cut to the ${dollars(c.budget_usd)} limit `
      + `(every window: ${dollars(c.estimated_dollars_every_window)})` : ""}; ${plural(c.cached_windows || 0, "window")} `
      + "already cached.");
    if (c.decision) items.push(plain(c.decision));
  }
  for (const d of c.documents_left_out || []) {
    items.push(`Not covered: ${d.title}, ${tokens(d.pages_left_out)} of ${plural(d.pages, "page")} (pages ${d.ranges}).`);
  }
  if (report && c.note) items.push(plain(c.note));
  const windows = c.per_window || [];
  const table = windows.length ? h("div.table-scroll.fit", { role: "region", "aria-label": "Windows", tabindex: "0" },
    h("table.windows", {},
      h("caption.visually-hidden", {}, report ? "Each window as it was read" : "Each window as planned"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Window"), h("th", { scope: "col" }, "Pages"),
        h("th", { scope: "col" }, report ? "Result" : "Read?"), h("th.num", { scope: "col" }, "Cost"))),
      h("tbody", {}, windows.map((w) => h("tr", {},
        h("th", { scope: "row" }, `${w.window} of ${w.of}`),
        h("td.pages", {}, windowPages(w), h("span.sub", {}, `${plural(w.pages, "page")}, ${tokens(w.tokens)} tokens`)),
        h("td", {}, report ? STATUS_WORDS[w.status] || w.status : w.selected ? "yes" : "no (cost limit)",
          report && typeof w.cache_hit_ratio === "number" ? h("span.sub", {}, `${percent(w.cache_hit_ratio)} from cache`)
            : !report && w.warmup ? h("span.sub", {}, "warmed up first") : null),
        h("td.num", {}, dollars(report ? w.dollars : w.estimated_dollars))))))) : null;
  return [h("ul.coverage-words", {}, items.map((t) => h("li", {}, t))), table];
}
