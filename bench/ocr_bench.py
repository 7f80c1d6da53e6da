"""OCR benchmark: real contracts turned into scans, read back, and checked against their gold evidence.

    .venv/bin/python bench/ocr_bench.py                    # the 5 shortest cuad-dev contracts, scanned at 200 dpi
    .venv/bin/python bench/ocr_bench.py --docs 3 --compare-dpi 200 --embedder hash-384

1. Each contract is rasterised with pypdfium2 at ``--scan-dpi`` (grayscale, JPEG inside, no text layer):
   what a scanner makes of a printed contract.
2. OCR alone: each scan is parsed (``ingest.parse.parse_bytes``: detection, Tesseract in one process per
   core, at ``--ocr-dpi``); the originals are parsed too. Reported: OCR pages per second on this machine,
   each page's confidence, and the character accuracy of each OCR'd page against the original's text layer
   (both normalised as Folio stores them; Levenshtein, on whitespace-collapsed text and on letters and
   digits only).
3. Gold evidence: every evidence quote of these contracts in ``questions.jsonl`` is looked for on its gold
   page(s), in the stored text of the original and of the scan: exactly (the data README's comparison:
   lower case, letters and digits only) and allowing OCR's typos (``rapidfuzz`` partial ratio >= 90 on the
   same normalised text). Target: the scans find at least 95% of what the text layers find.
4. Ingestion end to end (``Ingestor.run``, default settings: a parser worker ahead of the embedder, the
   bundled model unless ``--embedder``): the originals as one batch, then the scans as one batch, each in
   a fresh local index. The difference is what a scanned document adds to ingestion.

Writes ``bench/results/ocr-cuad-<date>[-tag].{json,md}``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    PeakRss,
    command_line,
    default_data_root,
    machine_info,
    offline_env,
    results_dir,
    select_docs,
)

FUZZY_MIN = 90.0
# Pages whose text layer has fewer letters and digits are left out of the accuracy figures.
MIN_PAGE_CHARS = 50


def norm(text: str) -> str:
    """The data README's comparison: lower case, letters and digits only (after NFKC, as Folio stores)."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


def rasterise(path: Path, dpi: int) -> bytes:
    """An image-only PDF of ``path``: every page rendered at ``dpi`` in grayscale, saved as JPEG pages."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path.read_bytes())
    try:
        images = []
        for index in range(len(pdf)):
            page = pdf[index]
            images.append(page.render(scale=dpi / 72, grayscale=True).to_pil())
            page.close()
    finally:
        pdf.close()
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=dpi, quality=85)
    return buffer.getvalue()


def accuracy(read: str, truth: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return 1.0 - Levenshtein.distance(read, truth) / max(1, len(truth))


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def evidence(root: Path, files: set[str]) -> list[dict[str, Any]]:
    out = []
    for line in (root / "cuad-dev" / "questions.jsonl").read_text().splitlines():
        question = json.loads(line)
        if question["doc"] not in files:
            continue
        for item in question["evidence"]:
            parts = [p for p in (norm(x) for x in item["text"].split("<omitted>")) if p]
            if parts:
                out.append({"question": question["id"], "doc": question["doc"], "pages": sorted(item["pages"]),
                            "parts": parts, "text": item["text"][:100]})
    return out


def found(parts: list[str], haystack: str, *, fuzzy: bool) -> bool:
    if all(part in haystack for part in parts):
        return True
    if not fuzzy:
        return False
    from rapidfuzz import fuzz

    return all(part in haystack or (len(part) >= 12 and fuzz.partial_ratio(part, haystack) >= FUZZY_MIN)
               for part in parts)


def parse_all(docs: dict[str, bytes], ocr_dpi: int, label: str) -> dict[str, Any]:
    from folio.ingest.normalize import normalize_pages
    from folio.ingest.ocr import OcrOptions
    from folio.ingest.parse import parse_bytes

    out: dict[str, Any] = {"docs": {}}
    with PeakRss() as meter:
        started = time.perf_counter()
        for name, data in docs.items():
            t0 = time.perf_counter()
            parsed = parse_bytes(name, data, ocr=OcrOptions(dpi=ocr_dpi))
            out["docs"][name] = {"pages": normalize_pages(parsed.pages), "seconds": time.perf_counter() - t0,
                                 "ocr": parsed.ocr.to_dict() if parsed.ocr else None,
                                 "ocr_pages_read": parsed.ocr.pages_read if parsed.ocr else 0}
            print(f"  {label}: {name[:60]} {len(parsed.pages)} pages in {time.perf_counter() - t0:.1f}s", flush=True)
        out["seconds"] = time.perf_counter() - started
    out["cpu"] = meter.cpu_report()
    out["peak_rss_mb"] = meter.peak_mb
    return out


def ingest_batch(docs: dict[str, bytes], workdir: Path, embedder: str) -> dict[str, Any]:
    from folio.config import Settings
    from folio.ingest.embed import load_embedder
    from folio.ingest.pipeline import Ingestor
    from folio.ingest.sources import Source
    from folio.ingest.store import Store

    settings = Settings(data_dir=workdir, embed_model=embedder)
    with PeakRss() as meter:
        started = time.perf_counter()
        with Store.open(settings) as store:
            ingestor = Ingestor(store, lambda: load_embedder(settings.embed_model, dtype=settings.embed_dtype,
                                                             batch_size=settings.embed_batch_size), settings)
            try:
                results = ingestor.run([Source(name=n, key=f"bench:{n}", data=d) for n, d in docs.items()])
            finally:
                ingestor.close()
        seconds = time.perf_counter() - started
    failed = [r.to_dict() for r in results if r.status == "failed"]
    return {"seconds": round(seconds, 2), "pages": sum(r.pages for r in results),
            "chunks": sum(r.chunks for r in results), "failed": failed, "cpu": meter.cpu_report(),
            "peak_rss_mb": meter.peak_mb,
            "per_file_s": {r.name: round(r.seconds, 2) for r in results}}


def score(originals: dict[str, Any], scans: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    text_found = exact = fuzzy = both = 0
    missing: list[dict[str, Any]] = []
    for item in items:
        layer = "".join(norm(originals["docs"][item["doc"]]["pages"][p]) for p in item["pages"])
        ocr = "".join(norm(scans["docs"][item["doc"]]["pages"][p]) for p in item["pages"])
        in_layer = found(item["parts"], layer, fuzzy=False)
        text_found += in_layer
        exact += found(item["parts"], ocr, fuzzy=False)
        in_ocr = found(item["parts"], ocr, fuzzy=True)
        fuzzy += in_ocr
        both += in_layer and in_ocr
        if in_layer and not in_ocr:
            missing.append({"question": item["question"], "pages": item["pages"], "text": item["text"]})
    return {"quotes": len(items), "text_layer": text_found, "scan_exact": exact, "scan_fuzzy": fuzzy,
            "scan_fuzzy_of_text_layer": both,
            "ratio_exact": round(exact / text_found, 4) if text_found else None,
            "ratio_fuzzy": round(both / text_found, 4) if text_found else None, "missing": missing}


def page_accuracy(originals: dict[str, Any], scans: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name, scan in scans["docs"].items():
        for index, text in enumerate(scan["pages"]):
            truth = originals["docs"][name]["pages"][index]
            if len(norm(truth)) < MIN_PAGE_CHARS:  # a blank page, or a page number alone
                continue
            rows.append({"doc": name, "page": index, "chars": len(norm(truth)),
                         "accuracy": round(accuracy(flat(text), flat(truth)), 4),
                         "accuracy_alnum": round(accuracy(norm(text), norm(truth)), 4)})
    values = [r["accuracy"] for r in rows]
    alnum = [r["accuracy_alnum"] for r in rows]
    weighted = sum(r["accuracy_alnum"] * r["chars"] for r in rows) / max(1, sum(r["chars"] for r in rows))
    return {"pages": len(rows), "mean": round(statistics.fmean(values), 4),
            "median": round(statistics.median(values), 4), "min": min(values),
            "mean_alnum": round(statistics.fmean(alnum), 4),
            "median_alnum": round(statistics.median(alnum), 4), "min_alnum": min(alnum),
            "weighted_alnum": round(weighted, 4), "pages_at_least_97_alnum": sum(a >= 0.97 for a in alnum),
            "rows": rows}


def ocr_summary(scans: dict[str, Any]) -> dict[str, Any]:
    confidences = [c for d in scans["docs"].values() if d["ocr"] for c in d["ocr"]["confidence"]]
    pages = sum(len(d["ocr"]["pages"]) for d in scans["docs"].values() if d["ocr"])
    low = sum(len(d["ocr"]["low_confidence_pages"]) for d in scans["docs"].values() if d["ocr"])
    return {"ocr_pages": pages, "low_confidence_pages": low, "seconds": round(scans["seconds"], 2),
            "pages_per_s": round(pages / scans["seconds"], 3) if scans["seconds"] else None,
            "confidence_mean": round(statistics.fmean(confidences), 2) if confidences else None,
            "confidence_min": min(confidences) if confidences else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=5, help="the N shortest cuad-dev contracts (default 5)")
    parser.add_argument("--scan-dpi", type=int, default=200)
    parser.add_argument("--ocr-dpi", type=int, default=300, help="FOLIO_OCR_DPI for the main run (default 300)")
    parser.add_argument("--compare-dpi", type=int, default=None, help="also read the scans at this OCR dpi")
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2", help="FOLIO_EMBED_MODEL for step 4")
    parser.add_argument("--skip-ingest", action="store_true", help="leave out step 4")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--tag", default="")
    parser.add_argument("--report", type=Path, default=None, help="only render the .md of a saved .json")
    args = parser.parse_args()
    if args.report:
        args.report.with_suffix(".md").write_text(markdown(json.loads(args.report.read_text())))
        return 0
    offline_env()
    root = args.data_root or default_data_root()
    report: dict[str, Any] = {"command": command_line(), "machine": machine_info(), "scan_dpi": args.scan_dpi,
                              "ocr_dpi": args.ocr_dpi}
    chosen = select_docs("cuad", root, args.docs)
    report["docs"] = [{"file": p.name, "pages": n} for p, n in chosen]
    print(f"{len(chosen)} contracts, {sum(n for _, n in chosen)} pages", flush=True)

    originals = {p.name: p.read_bytes() for p, _ in chosen}
    started = time.perf_counter()
    scans = {p.name: rasterise(p, args.scan_dpi) for p, _ in chosen}
    report["rasterise_s"] = round(time.perf_counter() - started, 2)
    report["scan_mb"] = round(sum(len(d) for d in scans.values()) / 1e6, 1)

    print("parsing the originals", flush=True)
    parsed_originals = parse_all(originals, args.ocr_dpi, "original")
    print(f"OCR of the scans at {args.ocr_dpi} dpi", flush=True)
    parsed_scans = parse_all(scans, args.ocr_dpi, "scan")
    items = evidence(root, set(originals))
    report["parse"] = {"original_s": round(parsed_originals["seconds"], 2), "original_cpu": parsed_originals["cpu"],
                       "scan_cpu": parsed_scans["cpu"], "scan_peak_rss_mb": parsed_scans["peak_rss_mb"],
                       "original_ocr": {n: d["ocr"] for n, d in parsed_originals["docs"].items() if d["ocr"]}}
    report["ocr"] = ocr_summary(parsed_scans)
    report["accuracy"] = page_accuracy(parsed_originals, parsed_scans)
    report["quotes"] = score(parsed_originals, parsed_scans, items)
    report["per_doc"] = {n: {"seconds": round(d["seconds"], 2), "ocr": d["ocr"]}
                         for n, d in parsed_scans["docs"].items()}

    if args.compare_dpi:
        print(f"OCR of the scans at {args.compare_dpi} dpi", flush=True)
        other = parse_all(scans, args.compare_dpi, f"scan@{args.compare_dpi}")
        acc = page_accuracy(parsed_originals, other)
        acc.pop("rows")
        report["compare"] = {"ocr_dpi": args.compare_dpi, "ocr": ocr_summary(other), "accuracy": acc,
                             "quotes": {k: v for k, v in score(parsed_originals, other, items).items()
                                        if k != "missing"}, "cpu": other["cpu"]}

    if not args.skip_ingest:
        with tempfile.TemporaryDirectory(prefix="folio-ocr-bench-") as tmp:
            print("ingesting the originals", flush=True)
            report["ingest_original"] = ingest_batch(originals, Path(tmp) / "original", args.embedder)
            print("ingesting the scans", flush=True)
            report["ingest_scan"] = ingest_batch(scans, Path(tmp) / "scan", args.embedder)
        pages = report["ingest_scan"]["pages"]
        added = report["ingest_scan"]["seconds"] - report["ingest_original"]["seconds"]
        report["ingest_added"] = {"seconds": round(added, 2), "per_page_s": round(added / pages, 3) if pages else None,
                                  "ratio": round(report["ingest_scan"]["seconds"]
                                                 / report["ingest_original"]["seconds"], 2)}

    out = results_dir() / f"ocr-cuad-{date.today().isoformat()}{'-' + args.tag if args.tag else ''}"
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {out}.json and .md")
    return 0


def markdown(r: dict[str, Any]) -> str:
    q, a, o, cpu = r["quotes"], r["accuracy"], r["ocr"], r["parse"]["scan_cpu"]
    m = r["machine"]
    lines = [
        f"# OCR on scanned cuad-dev contracts ({date.today().isoformat()})", "",
        f"Command: `{r['command']}`", "",
        f"Machine: {m['cpu_model']}, {m['cpus_usable']} usable cores, load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_avg_at_start'])} (shared with other jobs); Folio "
        f"{m['folio']['commit']} with uncommitted ingest/ changes: {len(m['folio']['ingest_uncommitted'])} files.", "",
        f"{len(r['docs'])} contracts, {sum(d['pages'] for d in r['docs'])} pages, rasterised at {r['scan_dpi']} dpi "
        f"into image-only PDFs ({r['scan_mb']} MB), read by Tesseract at the scans' own resolution "
        f"(FOLIO_OCR_DPI={r['ocr_dpi']} is the most a page is rendered at):", "",
        *[f"- {d['file']} ({d['pages']} pages)" for d in r["docs"]], "",
        "## Gold evidence quotes on their page", "",
        "| text | quotes found | of the text layer's |", "|---|---|---|",
        f"| original PDFs (text layer) | {q['text_layer']} / {q['quotes']} | 100% |",
        f"| scans, exact (letters and digits) | {q['scan_exact']} / {q['quotes']} | "
        f"{100 * (q['ratio_exact'] or 0):.1f}% |",
        f"| scans, OCR typos allowed (partial ratio >= {FUZZY_MIN:.0f}) | {q['scan_fuzzy']} / {q['quotes']} | "
        f"**{100 * (q['ratio_fuzzy'] or 0):.1f}%** |", "",
    ]
    if q["missing"]:
        lines += ["Found in the text layer, not in the scan's OCR text:", ""]
        lines += [f"- {x['question']} p.{x['pages']}: \"{x['text']}\"" for x in q["missing"][:15]]
        lines.append("")
    lines += [
        "## Character accuracy of the OCR'd pages against the text layer", "",
        f"{a['pages']} pages (those with at least {MIN_PAGE_CHARS} letters and digits in the text layer). "
        f"Letters and digits only: mean **{a['mean_alnum']:.4f}**, median {a['median_alnum']:.4f}, "
        f"min {a['min_alnum']:.4f}, weighted by page length {a['weighted_alnum']:.4f}; "
        f"{a['pages_at_least_97_alnum']} of {a['pages']} pages at 97% or more. Whitespace-collapsed text with "
        f"punctuation: mean {a['mean']:.4f}, median {a['median']:.4f}, min {a['min']:.4f} (the reference is "
        "pypdf's text layer, whose spacing and table order differ from a reading of the page, so this figure "
        "counts some of those differences as OCR errors).", "",
        "## Speed", "",
        f"- OCR: {o['ocr_pages']} pages in {o['seconds']:.1f} s = **{o['pages_per_s']:.2f} pages/s** "
        f"(detection, {m['cpus_usable']} Tesseract processes, rendering); mean page confidence "
        f"{o['confidence_mean']}, lowest {o['confidence_min']}, {o['low_confidence_pages']} page(s) under the floor. "
        f"CPU: ours {cpu['own_cpu_s']} s ({o['ocr_pages'] / cpu['own_cpu_s']:.2f} pages per CPU-second, so about "
        f"{2 * o['ocr_pages'] / cpu['own_cpu_s']:.2f} pages/s on 2 free cores), other jobs on the machine meanwhile "
        f"{cpu['others_cpu_s']} s.",
        f"- Parsing the originals (text layer, detection finds nothing to read): {r['parse']['original_s']:.1f} s.",
    ]
    if "ingest_added" in r:
        io_, is_, ad = r["ingest_original"], r["ingest_scan"], r["ingest_added"]
        cpu_added = (is_["cpu"]["own_cpu_s"] - io_["cpu"]["own_cpu_s"]) / max(1, is_["pages"])
        lines += [
            f"- Ingestion end to end (default settings, one batch each, fresh index): originals "
            f"{io_['seconds']:.1f} s, scans {is_['seconds']:.1f} s: a scan adds **{ad['per_page_s']:.2f} s per page** "
            f"({ad['ratio']:.1f}x the time of the same contract with a text layer), with other jobs using "
            f"{io_['cpu']['others_cpu_s']} s and {is_['cpu']['others_cpu_s']} s of CPU meanwhile. In CPU time, "
            f"which they disturb less: ours {io_['cpu']['own_cpu_s']} s and {is_['cpu']['own_cpu_s']} s, "
            f"**{cpu_added:.1f} CPU-s added per scanned page** (about half that in wall time on 2 free cores).",
        ]
    if "compare" in r:
        c = r["compare"]
        cq, ca = c["quotes"], c["accuracy"]
        lines += [
            "", f"## At {c['ocr_dpi']} dpi instead of {r['ocr_dpi']}", "",
            f"{c['ocr']['pages_per_s']:.2f} pages/s; accuracy (letters and digits) mean {ca['mean_alnum']:.4f}, "
            f"weighted {ca['weighted_alnum']:.4f}; quotes {cq['scan_fuzzy']} / {cq['quotes']} "
            f"({100 * (cq['ratio_fuzzy'] or 0):.1f}% of the text layer's), exact {cq['scan_exact']}; "
            f"mean confidence {c['ocr']['confidence_mean']}.",
        ]
    if r["parse"]["original_ocr"]:
        lines += ["", "Pages of the original PDFs that detection sent to OCR: "
                  + "; ".join(f"{n}: {d['pages']}" for n, d in r["parse"]["original_ocr"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
