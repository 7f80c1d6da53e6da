// Spend: the service ledger's totals (by document, by route and by conversation) and this browser session's own
// questions.

import { api } from "./api.js";
import { $, dollars, errorBox, fill, h, routeName, shortId, tokens } from "./dom.js";
import { conversationListed, conversationTitle } from "./conversations.js";
import { titleOf } from "./documents.js";

const SESSION_KEY = "folio.sessionSpend";
const sessionNode = $("#spend-session");
const ledgerNode = $("#spend-ledger");
const statusNode = $("#spend-status");

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && Array.isArray(saved.questions)) return saved;
  } catch {
    // nothing saved, or unreadable: start over
  }
  return { questions: [] };
}

const session = loadSession();

/** Whole requests; "(k shared)" when k of them were also about other documents. */
function requestsCell(t) {
  const shared = t.shared_requests || 0;
  return h("td.num.requests", {}, tokens(Math.round(t.requests || 0)),
    shared ? h("span.sub", {}, `${tokens(shared)} shared`) : null);
}

function totalsTable(caption, rows, note) {
  return h("div.table-scroll", { role: "region", "aria-label": caption, tabindex: "0" },
    h("table.spend-table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), h("th.num", { scope: "col" }, "dollars"),
        h("th.num", { scope: "col" }, "requests"), h("th.num", { scope: "col" }, "cache hit"),
        h("th.num", { scope: "col" }, "cache miss"), h("th.num", { scope: "col" }, "output"))),
      h("tbody", {}, rows.map(([label, t, extra]) => h(`tr${extra ? `.${extra}` : ""}`, {},
        h("th", { scope: "row" }, label),
        h("td.num.dollars", {}, dollars(t.dollars)),
        requestsCell(t),
        h("td.num", {}, tokens(t.hit_tokens)),
        h("td.num", {}, tokens(t.miss_tokens)), h("td.num", {}, tokens(t.output_tokens)))))),
    note ? h("p.hint.table-note", {}, note) : null);
}

const SHARED_NOTE = "A question about several documents counts as one request for each of them (“shared”); its "
  + "tokens and dollars are split between them by each document's share of the tokens, so the dollars add up to "
  + "the total and the requests may add up to more.";

const CONVERSATION_NOTE = "Every request of a conversation's turns: its questions and the model's rewrites of "
  + "follow-ups. A deleted conversation's spend stays in the ledger.";

/** A conversation's row label: its title, a link that opens it; a deleted one by its id. */
function conversationLabel(id) {
  const title = conversationTitle(id);
  if (!conversationListed(id)) return `${title || shortId(id)} (deleted)`;
  return h("a.conversation-link", { href: `#c=${encodeURIComponent(id)}` }, title);
}

function renderSession() {
  const t = { requests: 0, hit_tokens: 0, miss_tokens: 0, output_tokens: 0, dollars: 0 };
  for (const q of session.questions) {
    t.requests += 1;
    t.hit_tokens += q.usage.hit_tokens || 0;
    t.miss_tokens += q.usage.miss_tokens || 0;
    t.output_tokens += q.usage.output_tokens || 0;
    t.dollars += q.dollars || 0;
  }
  if (!session.questions.length) {
    fill(sessionNode, h("h3", {}, "This session"), h("p.muted", {}, "No questions answered in this browser tab yet."));
    return;
  }
  fill(sessionNode, h("h3", {}, "This session"),
    h("p.big", {}, h("span.session-total", {}, dollars(t.dollars)), ` for ${t.requests} question${t.requests === 1 ? "" : "s"}`),
    h("ol.session-questions", {}, session.questions.slice(-10).reverse().map((q) => h("li", {},
      h("span.q", {}, q.question), h("span.muted", {}, ` · ${routeName(q.route)} · ${dollars(q.dollars)}`)))));
}

/** Count one answered question in this session's spend. */
export function recordAnswer(result) {
  if (!result || !result.cost || !result.usage) return;
  session.questions.push({ question: result.question, route: result.route, usage: result.usage,
    dollars: result.cost.dollars });
  try {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  } catch {
    // storage full or disabled: the totals still show until the tab is closed
  }
  renderSession();
}

function ratesText(r) {
  if (!r) return "rates not recorded";
  const write = r.cache_write_multiplier && r.cache_write_multiplier !== 1 ? `, misses written at ${r.cache_write_multiplier}x` : "";
  return `$${r.input_miss} miss, $${r.input_hit} hit, $${r.output} output per million tokens${write}`;
}

/** More than one pricing profile in the ledger (FOLIO_PRICING_PROFILE changed): the total above adds dollars at
 * different prices, so say so, show each profile's part and the whole at today's prices. */
function profilesSection(byProfile, repriced) {
  return h("section.spend-profiles", { "aria-label": "Pricing profiles" },
    h("p.mixed-profiles", { role: "note" },
      `This ledger holds requests billed at ${byProfile.length} pricing profiles, so the total above adds dollars `
      + "at different prices.",
      repriced ? ` At today's prices (${repriced.profile}) the same tokens cost ${dollars(repriced.dollars)}.` : ""),
    totalsTable("By pricing profile", byProfile.map(([name, t]) => [name, t]),
      byProfile.map(([name, t]) => `${name}: ${ratesText(t.usd_per_million)}.`).join(" ")),
    repriced ? totalsTable(`All at today's prices (${repriced.profile})`, [["All requests", repriced, "total"]])
      : null);
}

export async function refreshSpend() {
  renderSession();
  let ledger;
  try {
    ledger = await api.ledger();
  } catch (error) {
    fill(statusNode, errorBox(error, "The ledger could not be read:"));
    return;
  }
  statusNode.replaceChildren();
  const byDoc = Object.entries(ledger.by_document || {}).map(([id, t]) => [titleOf(id) || `${shortId(id)} (deleted)`, t]);
  const byRoute = Object.entries(ledger.by_route || {}).map(([route, t]) => [routeName(route), t]);
  const byConversation = Object.entries(ledger.by_conversation || {})
    .sort(([, a], [, b]) => (b.dollars || 0) - (a.dollars || 0))
    .map(([id, t]) => [conversationLabel(id), t]);
  const byProfile = Object.entries(ledger.by_profile || {});
  const pricing = ledger.pricing;
  fill(ledgerNode,
    h("h3", {}, "The service's ledger"),
    h("p.big", {}, h("span.ledger-total", {}, dollars(ledger.totals?.dollars)), " spent in all"),
    byDoc.length ? totalsTable("By document", [...byDoc, ["All documents", ledger.totals, "total"]],
      byDoc.some(([, t]) => t.shared_requests) ? SHARED_NOTE : null)
      : h("p.muted", {}, "Nothing spent yet."),
    byRoute.length ? totalsTable("By route", byRoute) : null,
    byConversation.length ? totalsTable("By conversation", byConversation, CONVERSATION_NOTE) : null,
    byProfile.length > 1 ? profilesSection(byProfile, ledger.totals_at_current_prices) : null,
    pricing ? h("p.muted", {}, `Prices: ${pricing.profile} (${pricing.model}, as of ${pricing.as_of}): `
      + `$${pricing.usd_per_million.input_miss} miss, $${pricing.usd_per_million.input_hit} hit, `
      + `$${pricing.usd_per_million.output} output per million tokens.`) : null);
}
