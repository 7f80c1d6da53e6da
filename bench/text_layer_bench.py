"""Text-layer study: pypdf's and PDFium's page texts, side by side, on the three dev sets.

    .venv/bin/python bench/text_layer_bench.py                   # every set, about 4 minutes on two cores
    .venv/bin/python bench/text_layer_bench.py --sets cuad

For each set, the same pages are read in one run by both layers, page by page in turn (pypdf's
``page.extract_text()``; PDFium's text through ``ingest.pdf_text``, as Folio reads it), each page timed on
its own (opening the document is timed apart). Pages: every page of cuad-dev; financebench-dev's evidence
pages; sec10q's silver number pages. Both texts are then normalised as Folio stores them
(``ingest.normalize``: whole documents for cuad-dev, headers and footers included; each page alone for the
other two, whose documents are read only at their evidence pages).

Reported per set and layer:
- pages/s (text extraction alone, and with each document's opening);
- gold retention on the stated page(s), compared as the data README says (lower case, letters and digits):
  cuad-dev's quotes (``<omitted>`` parts each, over the pages listed), financebench-dev's evidence texts, and
  for sec10q the share of silver (page, number) pairs whose number is on its page;
- word agreement with pypdf: the share of pypdf's words (per page) that PDFium's page holds too, as a mean
  and the pages under 99%, with and without ``ingest.pdf_text``'s fixes (hyphen mark, paragraph breaks), and
  the paragraph breaks (empty lines) per page of each;
- every quote one layer keeps and the other loses, categorised (ligature, hyphenation, spacing, reading
  order, rotated text, other) with examples; and the word-level differences, categorised the same way.

Writes ``bench/results/text-layer-<date>[-tag].{json,md}``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import sys
import time
import unicodedata
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import REPO, command_line, default_data_root, machine_info, results_dir

sys.path.insert(0, str(REPO))

SETS = {"cuad": "cuad-dev", "financebench": "financebench-dev", "sec10q": "sec10q"}
LAYERS = ("pypdf", "pdfium")
WORD = re.compile(r"[^\W_]+")
LIGATURES = ("ff", "fi", "fl")
EXAMPLES = 3


def squash(text: str) -> str:
    """The data README's comparison: lower case, letters and digits only (after NFKC, as Folio stores)."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


# -- which pages ----------------------------------------------------------------------------------------


def read_questions(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines() if line.strip()]


def wanted_pages(set_name: str, questions: list[dict[str, Any]]) -> dict[str, set[int] | None]:
    """PDF file name -> the pages to read (None: every page)."""
    if set_name == "cuad":
        return {q["doc"]: None for q in questions}
    wanted: dict[str, set[int] | None] = {}
    for q in questions:
        items = q["evidence"] if set_name == "financebench" else q["silver_number_pages"]
        for item in items:
            pages = wanted.setdefault(item["doc"] + ".pdf", set())
            assert pages is not None
            pages.add(item["page"])
    return wanted


# -- reading ----------------------------------------------------------------------------------------------


def read_set(folder: Path, wanted: dict[str, set[int] | None]) -> dict[str, Any]:
    """Both layers' raw texts of the wanted pages, and the seconds each spent."""
    import pypdf
    import pypdfium2 as pdfium

    from folio.ingest.parse_pdf import ARRAY_LIMIT, DICTIONARY_LIMIT
    from folio.ingest.pdf_text import pdfium_page_text

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    docs: dict[str, Any] = {}
    seconds = {f"{layer}_{what}": 0.0 for layer in LAYERS for what in ("open", "pages")}
    with pypdf.apply_configuration(array_maximum_element_count=ARRAY_LIMIT,
                                   dictionary_maximum_element_count=DICTIONARY_LIMIT):
        for name, pages in sorted(wanted.items()):
            data = (folder / "pdfs" / name).read_bytes()
            started = time.perf_counter()
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                reader.decrypt("")
            count = len(reader.pages)
            seconds["pypdf_open"] += time.perf_counter() - started
            started = time.perf_counter()
            document = pdfium.PdfDocument(data, password="" if reader.is_encrypted else None)
            seconds["pdfium_open"] += time.perf_counter() - started
            texts: dict[int, dict[str, str]] = {}
            for index in sorted(pages) if pages is not None else range(count):
                started = time.perf_counter()
                pypdf_text = reader.pages[index].extract_text() or ""
                seconds["pypdf_pages"] += time.perf_counter() - started
                started = time.perf_counter()
                page = document[index]
                pdfium_text = pdfium_page_text(page)
                seconds["pdfium_pages"] += time.perf_counter() - started
                textpage = page.get_textpage()  # PDFium's text as it comes, untimed, for the comparison
                raw = textpage.get_text_range()
                textpage.close()
                page.close()
                texts[index] = {"pypdf": pypdf_text, "pdfium": pdfium_text, "pdfium_raw": raw}
            document.close()
            docs[name] = {"n_pages": count, "whole": pages is None, "texts": texts}
            print(f"  {name}: {len(texts)} pages", file=sys.stderr, flush=True)
    return {"docs": docs, "seconds": seconds, "pages": sum(len(d["texts"]) for d in docs.values())}


def normalised(read: dict[str, Any]) -> dict[str, dict[str, dict[int, str]]]:
    """variant -> file -> page -> text as Folio stores it; variants: pypdf, pdfium (as ``ingest.pdf_text``
    reads it), pdfium_unfixed (PDFium's text as it comes, without that module's hyphen and paragraph fixes)."""
    from folio.ingest.normalize import normalize_pages, normalize_text

    out: dict[str, dict[str, dict[int, str]]] = {"pypdf": {}, "pdfium": {}, "pdfium_unfixed": {}}
    keys = {"pypdf": "pypdf", "pdfium": "pdfium", "pdfium_unfixed": "pdfium_raw"}
    for name, doc in read["docs"].items():
        order = sorted(doc["texts"])
        for variant, key in keys.items():
            texts = [doc["texts"][i][key] for i in order]
            cleaned = normalize_pages(texts) if doc["whole"] else [normalize_text(t) for t in texts]
            out[variant][name] = dict(zip(order, cleaned, strict=True))
    return out


# -- retention --------------------------------------------------------------------------------------------


def gold_items(set_name: str, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What must be on which page: {id, file, pages, parts (squashed), text}."""
    items = []
    for q in questions:
        if set_name == "cuad":
            for ev in q["evidence"]:
                parts = [p for p in (squash(x) for x in ev["text"].split("<omitted>")) if p]
                if parts:
                    items.append({"id": q["id"], "file": q["doc"], "pages": sorted(ev["pages"]), "parts": parts,
                                  "text": ev["text"]})
        elif set_name == "financebench":
            for ev in q["evidence"]:
                if squash(ev["text"]):
                    items.append({"id": q["id"], "file": ev["doc"] + ".pdf", "pages": [ev["page"]],
                                  "parts": [squash(ev["text"])], "text": ev["text"]})
        else:
            for ev in q["silver_number_pages"]:
                items.append({"id": q["id"], "file": ev["doc"] + ".pdf", "pages": [ev["page"]],
                              "parts": [squash(ev["value"])], "text": ev["value"]})
    return items


def kept(item: dict[str, Any], texts: dict[str, dict[int, str]]) -> bool:
    haystack = "".join(squash(texts[item["file"]][p]) for p in item["pages"])
    return all(part in haystack for part in item["parts"])


def category(item: dict[str, Any], loser: dict[str, dict[int, str]], rotated: bool) -> str:
    """Why a quote is missing from the losing layer's page(s)."""
    haystack = "".join(squash(loser[item["file"]][p]) for p in item["pages"])
    for part in item["parts"]:
        if part in haystack:
            continue
        for lig in LIGATURES:
            if lig in part and any(part.replace(lig, short, 1) in haystack for short in (lig[0], lig[1])):
                return "ligature"
        words = Counter(WORD.findall(unicodedata.normalize("NFKC", item["text"]).lower()))
        page_words = Counter(w for p in item["pages"] for w in WORD.findall(loser[item["file"]][p].lower()))
        if not words - page_words:
            return "rotated text" if rotated else "reading order"
        joined = set(WORD.findall(re.sub(r"-\s+", "", " ".join(loser[item["file"]][p] for p in item["pages"])
                                         .lower())))
        if not set(words) - joined:
            return "hyphenation"
        spaced = squash(" ".join(loser[item["file"]][p] for p in item["pages"]).replace(" ", ""))
        if part in spaced:
            return "spacing"
    return "other"


def rotated_pages(folder: Path, items: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """Pages of the lost quotes that are turned (/Rotate) or hold turned characters."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    turned: set[tuple[str, int]] = set()
    for item in items:
        document = pdfium.PdfDocument(str(folder / "pdfs" / item["file"]))
        for index in item["pages"]:
            page = document[index]
            textpage = page.get_textpage()
            angles = {round(pdfium_c.FPDFText_GetCharAngle(textpage, i), 1) for i in range(textpage.count_chars())}
            if page.get_rotation() or angles - {0.0, -1.0}:
                turned.add((item["file"], index))
            textpage.close()
            page.close()
        document.close()
    return turned


# -- words ------------------------------------------------------------------------------------------------


def word_agreement(texts: dict[str, dict[str, dict[int, str]]], variant: str) -> dict[str, Any]:
    shares = []
    for name, pages in texts["pypdf"].items():
        for index, text in pages.items():
            a = Counter(WORD.findall(text.lower()))
            b = Counter(WORD.findall(texts[variant][name][index].lower()))
            if a:
                shares.append(sum((a & b).values()) / sum(a.values()))
    return {"pages": len(shares), "mean": round(sum(shares) / len(shares), 4) if shares else None,
            "pages_under_99": sum(s < 0.99 for s in shares), "min": round(min(shares), 3) if shares else None}


def word_differences(texts: dict[str, dict[str, dict[int, str]]]) -> dict[str, Any]:
    """The words one layer has on a page and the other lacks, by cause, with examples."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}

    def note(kind: str, example: str) -> None:
        counts[kind] += 1
        if len(examples.setdefault(kind, [])) < EXAMPLES and example not in examples[kind]:
            examples[kind].append(example)

    for name, pages in texts["pypdf"].items():
        for index, text in pages.items():
            a_tokens = WORD.findall(text.lower())
            b_tokens = WORD.findall(texts["pdfium"][name][index].lower())
            only_a = Counter(a_tokens) - Counter(b_tokens)
            only_b = Counter(b_tokens) - Counter(a_tokens)
            for mine, other_only, kind in ((a_tokens, only_b, "pypdf splits a word (spacing)"),
                                           (b_tokens, only_a, "pdfium splits a word (spacing)")):
                for i in range(len(mine) - 1):
                    for n in (2, 3, 4):
                        joined = "".join(mine[i:i + n])
                        if other_only.get(joined, 0) > 0:
                            note(kind, " ".join(mine[i:i + n]))
                            other_only[joined] -= 1
                            break
            for i in range(len(b_tokens) - 1):
                first, second = b_tokens[i], b_tokens[i + 1]
                for lig in ("f", "i", "l"):
                    joined = first + lig + second
                    if first.endswith("f") and only_a.get(joined, 0) > 0:
                        note("pdfium drops a ligature", f"{first} {second} ({joined})")
                        only_a[joined] -= 1
            counts["other (pypdf only)"] += sum(v for v in only_a.values() if v > 0)
    return {"counts": dict(counts.most_common()), "examples": examples}


# -- the run ----------------------------------------------------------------------------------------------


def study(set_name: str, folder: Path) -> dict[str, Any]:
    print(f"{set_name}: reading", file=sys.stderr, flush=True)
    questions = read_questions(folder)
    read = read_set(folder, wanted_pages(set_name, questions))
    texts = normalised(read)
    items = gold_items(set_name, questions)
    result: dict[str, Any] = {"pages": read["pages"], "documents": len(read["docs"]), "gold_items": len(items)}
    sec = read["seconds"]
    for layer in LAYERS:
        result[layer] = {
            "pages_per_s": round(read["pages"] / sec[f"{layer}_pages"], 1),
            "pages_per_s_with_open": round(read["pages"] / (sec[f"{layer}_pages"] + sec[f"{layer}_open"]), 1),
            "seconds_pages": round(sec[f"{layer}_pages"], 2), "seconds_open": round(sec[f"{layer}_open"], 2),
        }
    result["speedup"] = round(sec["pypdf_pages"] / sec["pdfium_pages"], 1)
    verdicts = {v: [kept(item, texts[v]) for item in items] for v in texts}
    for variant, flags in verdicts.items():
        result.setdefault("retention", {})[variant] = {"kept": sum(flags), "of": len(items),
                                                        "share": round(sum(flags) / len(items), 4)}
    losses: dict[str, dict[str, Any]] = {}
    for winner, loser in (("pypdf", "pdfium"), ("pdfium", "pypdf")):
        lost = [item for item, w, lo in zip(items, verdicts[winner], verdicts[loser], strict=True) if w and not lo]
        turned = rotated_pages(folder, lost)
        by_kind: dict[str, Any] = {}
        for item in lost:
            kind = category(item, texts[loser], any((item["file"], p) in turned for p in item["pages"]))
            entry = by_kind.setdefault(kind, {"n": 0, "examples": []})
            entry["n"] += 1
            if len(entry["examples"]) < EXAMPLES:
                entry["examples"].append({"id": item["id"], "file": item["file"], "pages": item["pages"],
                                          "quote": item["text"][:160]})
        losses[f"{loser}_loses_{winner}_keeps"] = by_kind
    result["losses"] = losses
    result["both_lose"] = [{"id": item["id"], "file": item["file"], "pages": item["pages"],
                            "quote": item["text"][:160]}
                           for item, a, b in zip(items, verdicts["pypdf"], verdicts["pdfium"], strict=True)
                           if not a and not b][:EXAMPLES]
    result["word_agreement"] = {v: word_agreement(texts, v) for v in ("pdfium", "pdfium_unfixed")}
    result["word_differences"] = word_differences(texts)
    result["paragraph_breaks"] = {
        v: round(sum(t.count("\n\n") for pages in texts[v].values() for t in pages.values()) / read["pages"], 2)
        for v in texts}
    result["hyphen_marks"] = sum(d["texts"][i]["pdfium_raw"].count("\ufffe")
                                 for d in read["docs"].values() for i in d["texts"])
    return result


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Text layer: pypdf and PDFium side by side ({report['date']})", "",
             f"`{report['command']}`", "",
             f"Machine: {report['machine']['cpu_model']}, {report['machine']['cpus_usable']} usable cores "
             f"(load {report['machine']['load_avg_at_start'][0]:.1f} at start, shared with other jobs); "
             f"pypdf {report['machine']['versions']['pypdf']}, pypdfium2 {report['pypdfium2']}.", "",
             "Pages read: every cuad-dev page; financebench-dev's evidence pages; sec10q's silver number pages. "
             "Retention compares lower-cased letters and digits of the text as Folio stores it "
             "(`ingest.normalize`).", "",
             "| set | pages | pypdf pages/s | pdfium pages/s | speed-up | pypdf kept | pdfium kept | "
             "pdfium words agreeing with pypdf (mean; pages < 99%) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in report["sets"].items():
        ret = r["retention"]
        agree = r["word_agreement"]["pdfium"]
        lines.append(f"| {name} | {r['pages']} | {r['pypdf']['pages_per_s']} ({r['pypdf']['pages_per_s_with_open']} "
                     f"with opening) | {r['pdfium']['pages_per_s']} ({r['pdfium']['pages_per_s_with_open']}) | "
                     f"{r['speedup']}x | {ret['pypdf']['kept']}/{ret['pypdf']['of']} "
                     f"({ret['pypdf']['share']:.2%}) | {ret['pdfium']['kept']}/{ret['pdfium']['of']} "
                     f"({ret['pdfium']['share']:.2%}) | {agree['mean']:.2%}; {agree['pages_under_99']} of "
                     f"{agree['pages']} |")
    lines += ["", "Retention units: cuad-dev, lawyers' quotes on their listed pages; financebench-dev, the "
              "analysts' evidence text on its page; sec10q, silver (page, answer number) pairs.", ""]
    for name, r in report["sets"].items():
        lines.append(f"## {name}")
        lines.append("")
        for key, kinds in r["losses"].items():
            total = sum(k["n"] for k in kinds.values())
            lines.append(f"- {key.replace('_', ' ')}: {total}"
                         + ("" if not kinds else " (" + ", ".join(f"{k}: {v['n']}" for k, v in kinds.items()) + ")"))
            for kind, entry in kinds.items():
                for ex in entry["examples"]:
                    lines.append(f"  - {kind}: {ex['id']} ({ex['file']}, page {ex['pages']}): \"{ex['quote']}\"")
        for ex in r["both_lose"]:
            lines.append(f"- both lose: {ex['id']} ({ex['file']}, page {ex['pages']}): \"{ex['quote']}\"")
        unfixed = r["word_agreement"]["pdfium_unfixed"]
        lines.append(f"- PDFium line-end hyphen marks (U+FFFE): {r['hyphen_marks']}; word agreement with pypdf "
                     f"{r['word_agreement']['pdfium']['mean']:.2%} with `ingest.pdf_text`'s fixes, "
                     f"{unfixed['mean']:.2%} without; paragraph breaks (empty lines) per page: "
                     f"pypdf {r['paragraph_breaks']['pypdf']}, pdfium {r['paragraph_breaks']['pdfium']}, "
                     f"pdfium without the fix {r['paragraph_breaks']['pdfium_unfixed']}.")
        diff = r["word_differences"]
        lines.append("- word-level differences: " + ", ".join(f"{k}: {v}" for k, v in diff["counts"].items()))
        for kind, examples in diff["examples"].items():
            lines.append(f"  - {kind}: " + "; ".join(f"`{e}`" for e in examples))
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: cuad, financebench, sec10q")
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    import pypdfium2

    report: dict[str, Any] = {"date": date.today().isoformat(), "command": command_line(),
                              "machine": machine_info(), "pypdfium2": str(pypdfium2.version.PYPDFIUM_INFO),
                              "sets": {}}
    for name in args.sets.split(","):
        report["sets"][name] = study(name, args.data_root / SETS[name])
    out = args.out_dir or results_dir()
    stem = f"text-layer-{report['date']}{'-' + args.tag if args.tag else ''}"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
