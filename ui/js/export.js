// An answer or a whole conversation as Markdown (copied, or downloaded as a .md file) and as a PDF (the browser's
// "Save as PDF" from print, with print.css showing only what is printed), and a turn's permalink (#c=ID&t=N).

import { dollars, routeName } from "./dom.js";

function pages(c) {
  return c.last_page && c.last_page !== c.page ? `pp. ${c.page}–${c.last_page}` : `p. ${c.page}`;
}

function verdict(c) {
  return c.verified === true ? "quote verified" : c.verified === false ? "quote not verified" : "nothing quoted";
}

/** One turn in Markdown: the question as a heading, the plain summary, the answer, then its citations. */
export function turnMarkdown(question, answer, { n = null, spent = null } = {}) {
  const lines = [`## ${n ? `${n}. ` : ""}${question.replace(/\s+/g, " ").trim()}`, ""];
  if (answer.summary) lines.push(`*${answer.summary}*`, "");
  lines.push(answer.answer ?? "_No answer: no language model is configured._", "");
  const citations = answer.citations || [];
  if (citations.length) {
    lines.push("**Citations**", "");
    citations.forEach((c, i) => {
      lines.push(`${i + 1}. ${c.title}, ${pages(c)} (${verdict(c)})`);
      if (c.quote) lines.push(`   > ${c.quote.replace(/\s+/g, " ").trim()}`);
    });
    lines.push("");
  }
  const cost = typeof spent === "number" ? spent : answer.cost?.dollars;
  lines.push(`<sub>Route: ${routeName(answer.route)}${typeof cost === "number" ? ` · cost ${dollars(cost)}` : ""}`
    + `${answer.model ? ` · model ${answer.model}` : ""}</sub>`, "");
  return lines.join("\n");
}

/** A conversation (GET /v1/conversations/{id}) in Markdown: its title, scope, dollars, then every turn. */
export function conversationMarkdown(detail) {
  const scope = detail.scope === "all" ? "all documents" : detail.documents.map((d) => d.title).join("; ");
  const head = [`# ${detail.title}`, "",
    `${detail.turns} turn${detail.turns === 1 ? "" : "s"} · ${dollars(detail.dollars)} · scope: ${scope}`, ""];
  return head.concat((detail.history || []).map((t) => turnMarkdown(t.question, t.answer,
    { n: t.n, spent: t.dollars }))).join("\n");
}

/** A file name from a title: letters, digits and dashes. */
export function fileName(title, extension = "md") {
  const stem = String(title || "folio").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
  return `${stem || "folio"}.${extension}`;
}

/** Offer `text` as a download named `name`. */
export function download(name, text, type = "text/markdown") {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Copy `text` to the clipboard; false when the browser refuses (no permission, not a secure context). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Print `node` alone (the browser's print dialog offers "Save as PDF"): print.css hides everything but the node
 * marked `print-target`, and opens its folded details.
 */
export function printOnly(node) {
  document.body.classList.add("printing-one");
  node.classList.add("print-target");
  const done = () => {
    document.body.classList.remove("printing-one");
    node.classList.remove("print-target");
    window.removeEventListener("afterprint", done);
  };
  window.addEventListener("afterprint", done);
  window.print();
}

/** The permalink of turn `n` of conversation `id`: this page's address with #c=ID&t=N. */
export function permalink(id, n) {
  return `${location.origin}${location.pathname}#c=${encodeURIComponent(id)}&t=${n}`;
}
