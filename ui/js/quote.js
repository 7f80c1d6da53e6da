// Finding a quoted passage in a page's text the way the service verifies it (service/citations.py): compare
// lower-cased letters and digits only, so line breaks, hyphens and quote marks do not matter.

const KEEP = /[0-9a-z]/;

/** The squashed text and, for each of its characters, the index of the original character it came from. */
export function squashWithMap(text) {
  let squashed = "";
  const map = [];
  for (let i = 0; i < text.length; ) {
    const ch = String.fromCodePoint(text.codePointAt(i));
    for (const c of ch.normalize("NFKC").toLowerCase()) {
      if (KEEP.test(c)) {
        squashed += c;
        map.push(i);
      }
    }
    i += ch.length;
  }
  return { squashed, map };
}

export function squash(text) {
  return squashWithMap(text).squashed;
}

const MIN_PART = 12;

/**
 * Where `quote` lies in `text`: {start, end, part} as indices into `text`, or null.
 * part is "whole", "start" (the quote begins at the end of this page and runs on) or "end" (the page begins
 * with the rest of a quote from the page before).
 */
export function findQuote(text, quote) {
  const needle = squash(quote || "");
  if (needle.length < MIN_PART / 2) return null;
  const { squashed, map } = squashWithMap(text || "");
  const span = (from, length, part) => {
    const last = map[from + length - 1];
    const lastLength = String.fromCodePoint(text.codePointAt(last)).length;
    return { start: map[from], end: last + lastLength, part };
  };
  const at = squashed.indexOf(needle);
  if (at >= 0) return span(at, needle.length, "whole");
  for (let k = needle.length - 1; k >= MIN_PART; k -= 1) {
    if (squashed.endsWith(needle.slice(0, k))) return span(squashed.length - k, k, "start");
  }
  for (let k = needle.length - 1; k >= MIN_PART; k -= 1) {
    if (squashed.startsWith(needle.slice(needle.length - k))) return span(0, k, "end");
  }
  return null;
}
