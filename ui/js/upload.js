// Uploads: drag and drop or pick files; each file gets its own request, row and progress bar (upload, then
// ingestion through its job), and a file that fails shows the API's message while the others go on. A new batch
// clears the finished rows of the ones before, so an old error does not stay under a later success.

import { api, uploadFile } from "./api.js";
import { $, bytes, errorBox, fill, h } from "./dom.js";

const dropzone = $("#dropzone");
const input = $("#file-input");
const list = $("#uploads");
const clearButton = $("#uploads-clear");

const UPLOAD_SHARE = 0.2; // of the bar: the bytes going up; the rest is ingestion
const POLL_MS = 400;
const PARALLEL = 2;

let onIngested = () => {};
let uploadQuery = () => ""; // the collection an upload joins (collections.js), as a query string
const queue = [];
let running = 0;

/** Files queued, uploading or being ingested in this tab: while there are some, "no documents yet" is not said. */
export function uploadsActive() {
  return running + queue.length;
}

function announce() {
  document.dispatchEvent(new CustomEvent("folio:uploads-changed", { detail: { active: uploadsActive() } }));
}

/** Rows of earlier batches that have finished, a failed one's error among them: a new batch replaces them. */
function clearFinished() {
  for (const row of [...list.children]) if (row.dataset.state) row.remove();
  clearButton.hidden = list.children.length === 0;
}

function uploadRow(file) {
  const bar = h("progress", { max: 1, value: 0, "aria-label": `${file.name}: progress` });
  const stage = h("span.stage", {}, "waiting to upload");
  const error = h("div.upload-error");
  const row = h("li.upload", {},
    h("div.upload-head", {}, h("span.upload-name", {}, file.name), h("span.muted", {}, bytes(file.size))),
    bar, stage, error);
  list.prepend(row);
  clearButton.hidden = false;
  return {
    row,
    progress(value, text) {
      bar.value = Math.max(bar.value, Math.min(1, value));
      if (text) stage.textContent = text;
    },
    done(text) {
      bar.value = 1;
      stage.textContent = text;
      row.classList.add("ok");
      row.dataset.state = "done";
    },
    failed(err) {
      bar.value = 1;
      stage.textContent = "failed";
      row.classList.add("failed");
      row.dataset.state = "failed";
      fill(error, errorBox(err, `${file.name} was not ingested:`));
    },
  };
}

function rate1(value) {
  return value >= 10 ? Math.round(value).toString() : value.toFixed(1);
}

function jobText(job) {
  if (job.status === "embedding" && job.chunks_total) {
    const rate = job.chunks_per_s ? ` at ${rate1(job.chunks_per_s)} a second` : "";
    const parsed = job.pages_per_s ? `, parsed at ${rate1(job.pages_per_s)} a second` : "";
    return `ingesting: embedding chunks ${job.chunks_done} of ${job.chunks_total}${rate} (${job.pages} pages${parsed})`;
  }
  if (job.status === "queued") return `uploaded; ${job.stage}`;
  return `ingesting: ${job.stage}`;
}

async function follow(job, ui) {
  for (;;) {
    if (job.finished) break;
    ui.progress(UPLOAD_SHARE + (1 - UPLOAD_SHARE) * (job.progress || 0), jobText(job));
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      job = await api.job(job.id);
    } catch (error) {
      ui.failed({ ...error, message: `its status could not be read: ${error.message}` });
      return;
    }
  }
  if (job.status === "failed") {
    ui.failed(job.error || { message: "ingestion failed" });
  } else if (job.status === "skipped") {
    ui.done("already indexed (the same bytes were uploaded before)");
    await onIngested(job);
  } else {
    ui.done(`ingested: ${job.pages} page${job.pages === 1 ? "" : "s"}`);
    await onIngested(job); // the list first, then "uploads running" ends: no "no documents yet" in between
  }
}

async function run(file, ui) {
  ui.progress(0, "uploading");
  let job;
  try {
    job = await uploadFile(file, (fraction) => ui.progress(UPLOAD_SHARE * fraction, `uploading ${Math.round(fraction * 100)}%`),
      uploadQuery());
  } catch (error) {
    ui.failed(error);
    return;
  }
  await follow(job, ui);
}

function pump() {
  while (running < PARALLEL && queue.length) {
    const { file, ui } = queue.shift();
    running += 1;
    run(file, ui).finally(() => {
      running -= 1;
      pump();
      announce();
    });
  }
}

export function addFiles(files) {
  if (!files.length) return;
  clearFinished();
  for (const file of files) queue.push({ file, ui: uploadRow(file) });
  pump();
  announce();
}

export function initUploads(ingested, query = () => "") {
  onIngested = ingested;
  uploadQuery = query;
  $("#choose-files").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });
  for (const kind of ["dragenter", "dragover"]) {
    dropzone.addEventListener(kind, (event) => {
      event.preventDefault();
      dropzone.classList.add("over");
    });
  }
  for (const kind of ["dragleave", "drop"]) {
    dropzone.addEventListener(kind, (event) => {
      event.preventDefault();
      if (kind === "dragleave" && dropzone.contains(event.relatedTarget)) return;
      dropzone.classList.remove("over");
    });
  }
  dropzone.addEventListener("drop", (event) => {
    const files = [...(event.dataTransfer?.files || [])];
    if (files.length) addFiles(files);
  });
  // a file dropped outside the zone must not replace the page
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  clearButton.addEventListener("click", clearFinished);
}
