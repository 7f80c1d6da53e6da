// Building DOM nodes without innerHTML: document text and answers are untrusted, so they only ever become text.

/**
 * h("tag.class1.class2", {attr: value, onclick: fn, dataset: {...}}, ...children)
 * Children are nodes, strings (as text), numbers, or arrays of those; null/undefined/false are skipped.
 */
export function h(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.classList.add(...classes);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function tokens(n) {
  return n === null || n === undefined || Number.isNaN(Number(n)) ? "—" : integer.format(Math.round(Number(n)));
}

/** Dollars with as many digits as small amounts need: $12.34, $0.0123, $0.000366. */
export function dollars(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  const v = Number(value);
  if (v === 0) return "$0";
  const abs = Math.abs(v);
  if (abs >= 1) return `$${v.toFixed(2)}`;
  if (abs >= 0.01) return `$${v.toFixed(4)}`;
  return `$${Number(v.toPrecision(3)).toFixed(Math.min(12, 2 - Math.floor(Math.log10(abs))))}`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? "—");
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function shortId(id) {
  return String(id || "").slice(0, 12);
}

const ROUTE_NAMES = { rag: "retrieval", full: "whole documents", coverage: "coverage" };

/** A route or mode as a person reads it; an unknown one is shown by its own name. */
export function routeName(route) {
  return ROUTE_NAMES[route] || String(route);
}

/** An error shown where it happened: the message in words, the stable code beside it. */
export function errorBox(error, prefix = "") {
  const message = error && error.message ? error.message : String(error);
  const code = error && error.code && !["http_error", "network_error"].includes(error.code) ? error.code : null;
  const needsKey = error && (error.status === 401 || error.status === 403);
  return h("div.error", { role: "alert" }, prefix ? `${prefix} ` : "", message, code ? h("code.code", {}, code) : null,
    needsKey ? h("span.hint", {}, " Enter the service's API key under “API key” at the top of the page.") : null);
}

const LONG_TEXT = 240;

function scalar(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return Number.isInteger(value) ? tokens(value) : String(Number(value.toPrecision(6)));
  const text = String(value);
  return text.length > LONG_TEXT ? `${text.slice(0, LONG_TEXT)}…` : text;
}

const isScalar = (v) => v === null || typeof v !== "object";

/** A nested value in one line: titles or names of listed objects, else their count; objects as `key: value`. */
function summary(value) {
  if (isScalar(value)) return scalar(value);
  if (Array.isArray(value)) {
    if (!value.length) return "none";
    if (value.every(isScalar)) return scalar(value.map(scalar).join(", "));
    const names = value.map((v) => v && (v.title || v.name || v.label || v.id)).filter(Boolean);
    return names.length === value.length ? scalar(names.join("; ")) : `${value.length} items`;
  }
  return scalar(Object.entries(value).map(([k, v]) => `${k.replaceAll("_", " ")}: ${isScalar(v) ? scalar(v) : summary(v)}`)
    .join(", "));
}

/** A list of objects as a table: one row per object, one column per field. */
function objectTable(items) {
  const keys = [...new Set(items.flatMap((item) => Object.keys(item || {})))];
  return h("div.table-scroll", { tabindex: "0", role: "region", "aria-label": "details" },
    h("table.kv-table", {},
      h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" }, k.replaceAll("_", " "))))),
      h("tbody", {}, items.map((item) => h("tr", {}, keys.map((k) => {
        const text = summary((item || {})[k]);
        return h(text.length > 40 ? "td.long" : "td", {}, text);
      }))))));
}

function fieldValue(value, nested) {
  if (isScalar(value)) return scalar(value);
  if (Array.isArray(value)) {
    if (value.length && !nested && value.every((v) => v && typeof v === "object" && !Array.isArray(v))) {
      return objectTable(value);
    }
    return summary(value);
  }
  return nested ? summary(value) : keyValues(value, true);
}

/**
 * A plain key/value list for an object whose fields the UI does not know in advance (e.g. a coverage report):
 * scalars as text, a nested object as its own list, a list of objects as a table, anything deeper in one line.
 */
export function keyValues(obj, nested = false) {
  const list = h("dl.kv");
  for (const [key, value] of Object.entries(obj || {})) {
    list.append(h("dt", {}, key.replaceAll("_", " ")), h("dd", {}, fieldValue(value, nested)));
  }
  return list;
}
