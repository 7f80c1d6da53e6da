"""What a report says in words: the targets judged from its numbers, where retrieval loses recall@5, and the
routing replay's notes (``folio eval``'s report, written by ``folio.evaluation.report``)."""

from __future__ import annotations

from typing import Any

# issue 20's retrieval targets (contracts: non-trivial and all questions; filings: financebench's pages and sec10q's
# filings), the baseline margin and the routing targets of earlier issues
TARGETS = {"cuad_recall5": 0.93, "cuad_all_recall5": 0.90, "financebench_recall5": 0.90, "sec10q_recall5": 0.90,
           "over_baseline": 0.15,
           "auto_cost_share": 0.35, "auto_coverage_share": 0.97, "auto_over_rag": 0.20}


def routing_notes(runs: list[dict[str, Any]]) -> list[str]:
    notes = []
    rag = next((r for r in runs if r["strategy"] == "always-rag"), None)
    if rag is not None:
        notes.append(f"The double itself answered 'not found' to {rag['double_not_found']} of {rag['questions']} "
                     "retrieval-only questions (it does so only when no passage shares a word with the question); "
                     "self-route's escalations come from the oracle.")
    for r in runs:
        if r["strategy"] == "self-route":
            notes.append(f"self-route ({PROFILE_LABEL.get(r['profile'], r['profile'])} prices): the oracle said "
                         f"'not found' to {r['oracle_not_found']} retrieval answers; {r['escalations']} escalated"
                         + (" (the rest were over the budget or did not fit)."
                            if r["escalations"] < r["oracle_not_found"] else "."))
    return notes


PROFILE_LABEL = {"deepseek-v4-flash-compat": "seed", "deepseek-api": "DeepSeek"}


def describe_diagnosis(set_name: str, table: list[tuple[str, dict[str, Any]]], diagnosis: dict[str, Any]) -> list[str]:
    """Plain sentences, with the numbers, about where recall@5 is lost."""
    from folio.evaluation.report import headline

    lines: list[str] = []
    parsing = diagnosis.get("parsing") or {}
    if parsing.get("questions"):
        rest = ("" if parsing["evidence_on_stored_page"] == parsing["questions"]
                else "; the rest differ in extraction or normalisation")
        lines.append(f"parsing: the gold evidence is on its stated page of Folio's stored text for "
                     f"{parsing['evidence_on_stored_page']} of {parsing['questions']} questions "
                     f"({parsing['share']:.0%}{rest})")
    fd = diagnosis.get("fusion_and_depth") or {}
    if "recall5_dense_or_bm25" in fd:
        lines.append(f"fusion: dense or BM25 alone hits at 5 for {fd['recall5_dense_or_bm25']:.2f} of the questions "
                     f"(an oracle choosing per question); hybrid misses {fd['hybrid_misses_found_by_one']} questions "
                     f"that one of them hits, and hits {fd['hybrid_hits_found_by_neither']} that neither does")
    for mode in ("hybrid", "dense", "bm25"):
        depth = fd.get(f"{mode}_recall_at")
        if depth:
            what = "a chunk of an evidence filing" if set_name == "sec10q" else "a gold page"
            lines.append(f"k ({mode}): {what} in the top 5 for {depth[5]:.2f} of the questions, top 10 "
                         f"{depth[10]:.2f}, top 20 {depth[20]:.2f}, top 50 {depth[50]:.2f} (one ranking 50 deep)")
    if len(table) > 1 and set_name == "cuad":
        best = max(((label, mode, headline(set_name, entry)["recall"][5]) for label, modes in table
                    for mode, entry in modes.items() if label.startswith("Folio")), key=lambda t: t[2] or 0)
        lines.append(f"chunking: the best Folio configuration at 5 is {best[0]} · {best[1]} ({best[2]:.2f})")
    return lines


def _recall5(report: dict[str, Any], set_name: str, label_prefix: str, mode: str,
             summary: str | None = None) -> float | None:
    """Recall@5 of a configuration and mode: the set's headline summary (``headline``), or the one named; sec10q's
    at the document level."""
    from folio.evaluation.report import headline

    data = (report.get("retrieval") or {}).get(set_name)
    if not data:
        return None
    for label, modes in data["table"]:
        if label.startswith(label_prefix) and mode in modes:
            entry = modes[mode][summary] if summary else headline(set_name, modes[mode])
            value = entry["doc_recall" if set_name == "sec10q" else "recall"][5]
            return None if value is None else float(value)
    return None


# (set, its summary or None for the headline, TARGETS key, the target's words, whether the baseline margin is one)
RECALL_TARGETS: tuple[tuple[str, str | None, str, str, bool], ...] = (
    ("cuad", None, "cuad_recall5", "page-level recall@5 >= {:.2f} on cuad-dev non-trivial", True),
    ("cuad", "all", "cuad_all_recall5", "page-level recall@5 >= {:.2f} on cuad-dev, all questions", False),
    ("financebench", None, "financebench_recall5", "page-level recall@5 >= {:.2f} on financebench-dev", True),
    ("sec10q", None, "sec10q_recall5", "filing recall@5 >= {:.2f} on sec10q, across all its filings", False),
)


def judge_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured numbers and whether it is met."""
    out: list[dict[str, Any]] = []
    for set_name, summary, key, target, margin in RECALL_TARGETS:
        ours = _recall5(report, set_name, "Folio default", "hybrid", summary)
        if ours is None:
            continue
        base = _recall5(report, set_name, "llama-index", "dense", summary)
        gain = "" if base is None else f" (llama-index baseline {base:.3f}: {100 * (ours - base):+.1f} points)"
        out.append({"target": f"{target.format(TARGETS[key])} (Folio default, hybrid)",
                    "measured": f"{ours:.3f}{gain}", "met": ours >= TARGETS[key]})
        if margin and base is not None:
            what = target.split(" on ", 1)[1]
            out.append({"target": f"recall@5 at least {TARGETS['over_baseline'] * 100:.0f} points above the plain "
                        f"llama-index baseline on {what}",
                        "measured": f"{ours:.3f} vs {base:.3f}: {100 * (ours - base):+.1f} points",
                        "met": ours - base >= TARGETS["over_baseline"] - 1e-9})
    for name, scenario in (report.get("routing") or {}).items():
        runs = scenario["runs"]
        full = next((r for r in runs if r["strategy"] == "always-full"), None)
        rag = next((r for r in runs if r["strategy"] == "always-rag"), None)
        for auto in (r for r in runs if r["strategy"] == "auto"):
            if full is None or rag is None:
                continue
            p = auto["profile"]
            cost_share = auto["dollars"][p] / full["dollars"][p] if full["dollars"][p] else None
            cov_share = auto["coverage"] / full["coverage"] if full["coverage"] else None
            label = f"{name} ({PROFILE_LABEL.get(p, p)} prices)"
            out.append({"target": f"auto costs <= {TARGETS['auto_cost_share']:.0%} of always-full: {label}",
                        "measured": f"${auto['dollars'][p]:.4f} vs ${full['dollars'][p]:.4f}: "
                        + (f"{cost_share:.1%}" if cost_share is not None else "—"),
                        "met": cost_share is not None and cost_share <= TARGETS["auto_cost_share"]})
            out.append({"target": f"auto keeps >= {TARGETS['auto_coverage_share']:.0%} of always-full's evidence "
                        f"coverage: {label}",
                        "measured": f"{auto['coverage']:.3f} vs {full['coverage']:.3f}: "
                        + (f"{cov_share:.1%}" if cov_share is not None else "—"),
                        "met": cov_share is not None and cov_share >= TARGETS["auto_coverage_share"]})
            out.append({"target": f"auto covers >= {TARGETS['auto_over_rag'] * 100:.0f} points more evidence than "
                        f"always-rag: {label}",
                        "measured": f"{auto['coverage']:.3f} vs {rag['coverage']:.3f}: "
                        f"{100 * (auto['coverage'] - rag['coverage']):+.1f} points",
                        "met": auto["coverage"] - rag["coverage"] >= TARGETS["auto_over_rag"] - 1e-9})
    return out
