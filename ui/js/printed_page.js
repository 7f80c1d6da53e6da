// The printed page in the viewer: the page image from GET /v1/documents/{id}/pages/{n}/image (fetched with the
// session's API key, shown from a blob URL), the quoted passage's boxes (0..1 of the page, from the page API's
// `quote`) laid over it, and zoom. The image is asked for at a width that fits the zoom on this screen, rounded
// to a few sizes so the service's cache and the browser's serve repeats.

import { apiKey, errorFrom } from "./api.js";
import { h } from "./dom.js";

export const ZOOMS = [50, 75, 100, 125, 150, 200, 300];
const WIDTHS = [600, 900, 1200, 1800, 2400, 3000];

/** The image width (pixels) to ask for: the sheet's width on screen at this zoom, device pixels, rounded up. */
export function imageWidth(sheetCssWidth, zoom) {
  const wanted = Math.ceil(sheetCssWidth * (zoom / 100) * (window.devicePixelRatio || 1));
  return WIDTHS.find((w) => w >= wanted) || WIDTHS[WIDTHS.length - 1];
}

/** The page's image as a blob URL; throws the API's error (no_original_file, no_printed_page, render_timeout). */
export async function fetchPageImage(docId, page, width, signal) {
  const headers = { Accept: "image/png" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const url = `/v1/documents/${encodeURIComponent(docId)}/pages/${page}/image?width=${width}`;
  const response = await fetch(url, { headers, signal });
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw errorFrom(response.status, body);
  }
  return URL.createObjectURL(await response.blob());
}

/** The quote's boxes as highlight rectangles over the sheet (percentages, so they follow any zoom). */
export function boxNodes(boxes) {
  return (boxes || []).map((b, i) => h("div.page-box", {
    dataset: { box: String(i) },
    style: `left:${b.x * 100}%;top:${b.y * 100}%;width:${b.width * 100}%;height:${b.height * 100}%`,
  }));
}
