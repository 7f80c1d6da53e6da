// The REST API, and nothing else: fetch with the session's API key, errors as ApiError, SSE over fetch, uploads
// with progress (XMLHttpRequest, since fetch reports no upload progress).

const KEY_STORAGE = "folio.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function setApiKey(value) {
  try {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key lives only as long as nothing asks for it again
  }
}

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

/** The API's `{"error": {code, message}}` body (or whatever came back) as an ApiError. */
export function errorFrom(status, body) {
  const err = body && typeof body === "object" ? body.error : null;
  if (err && typeof err === "object") {
    const { code, message, ...rest } = err;
    return new ApiError(status, String(code || "error"), String(message || `HTTP ${status}`), rest);
  }
  if (status === 401 || status === 403) {
    return new ApiError(status, "unauthorized", "The service refused the request: enter a valid API key.");
  }
  return new ApiError(status, "http_error", `The service answered HTTP ${status}.`);
}

function networkError(cause) {
  if (cause && cause.name === "AbortError") return cause;
  return new ApiError(0, "network_error", "Could not reach the Folio service. Is it running?");
}

async function request(method, path, { body, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    throw networkError(cause);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw errorFrom(response.status, data);
  return data;
}

export const api = {
  info: () => request("GET", "/v1/info"),
  openapi: () => request("GET", "/openapi.json"),
  documents: () => request("GET", "/v1/documents?status=all"),
  page: (docId, n, quote) => request("GET", `/v1/documents/${encodeURIComponent(docId)}/pages/${n}`
    + (quote ? `?quote=${encodeURIComponent(quote.slice(0, 2000))}` : "")),
  deleteDocument: (docId) => request("DELETE", `/v1/documents/${encodeURIComponent(docId)}`),
  renameDocument: (docId, title) => request("PATCH", `/v1/documents/${encodeURIComponent(docId)}`, { body: { title } }),
  job: (jobId) => request("GET", `/v1/jobs/${encodeURIComponent(jobId)}`),
  plan: (body, signal) => request("POST", "/v1/plan", { body, signal }),
  query: (body, signal) => request("POST", "/v1/query", { body, signal }),
  ledger: () => request("GET", "/v1/ledger"),
  conversations: () => request("GET", "/v1/conversations?limit=500"),
  conversation: (id) => request("GET", `/v1/conversations/${encodeURIComponent(id)}`),
  createConversation: (body) => request("POST", "/v1/conversations", { body }),
  patchConversation: (id, body) => request("PATCH", `/v1/conversations/${encodeURIComponent(id)}`, { body }),
  deleteConversation: (id) => request("DELETE", `/v1/conversations/${encodeURIComponent(id)}`),
  collections: () => request("GET", "/v1/collections"),
  createCollection: (body) => request("POST", "/v1/collections", { body }),
  renameCollection: (id, name) => request("PATCH", `/v1/collections/${encodeURIComponent(id)}`, { body: { name } }),
  deleteCollection: (id) => request("DELETE", `/v1/collections/${encodeURIComponent(id)}`),
  addToCollection: (id, documents) => request("POST", `/v1/collections/${encodeURIComponent(id)}/documents`,
    { body: { documents } }),
  /** A turn without streaming: an estimate (`estimate_only`), planned and priced, not asked or recorded. */
  turn: (id, body, signal) => request("POST", `/v1/conversations/${encodeURIComponent(id)}/messages`,
    { body: { ...body, stream: false }, signal }),
};

/**
 * Upload one file; `onProgress(fraction)` while its bytes go up. Resolves with the job the service created,
 * or rejects with an ApiError carrying the API's message (a refused file is answered with a 4xx).
 */
export function uploadFile(file, onProgress, query = "") {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/documents${query}`);
    for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300 && body && Array.isArray(body.jobs) && body.jobs.length) {
        resolve(body.jobs[0]);
      } else {
        reject(errorFrom(xhr.status, body));
      }
    });
    xhr.addEventListener("error", () => reject(networkError()));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

/** A one-off question (`POST /v1/query`), streamed: `onEvent(kind, data)` for each server-sent event, in order. */
export function streamQuery(body, onEvent, signal) {
  return streamPost("/v1/query", body, onEvent, signal);
}

/**
 * A conversation's next question (`POST /v1/conversations/{id}/messages`), streamed like `streamQuery`; its
 * `done` event carries the whole TurnResult (the answer and the conversation after it).
 */
export function streamTurn(conversationId, body, onEvent, signal) {
  return streamPost(`/v1/conversations/${encodeURIComponent(conversationId)}/messages`, body, onEvent, signal);
}

/**
 * POST with `stream: true` and call `onEvent(kind, data)` for each server-sent event, in order. EventSource
 * cannot POST, so the body is read with a ReadableStream and parsed here. A refusal before the stream starts
 * (an unknown conversation, a busy one, a cap) is a 4xx, thrown as ApiError.
 */
async function streamPost(path, body, onEvent, signal) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ ...body, stream: true }),
      signal,
    });
  } catch (cause) {
    throw networkError(cause);
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw errorFrom(response.status, data);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const flush = (block) => {
    let kind = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      parsed = { text: data.join("\n") };
    }
    onEvent(kind, parsed);
  };
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (cause) {
      throw cause && cause.name === "AbortError"
        ? cause
        : new ApiError(0, "stream_cut", "The connection to the service was cut while the answer streamed.");
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      flush(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
  buffer += decoder.decode();
  if (buffer.trim()) flush(buffer);
}
