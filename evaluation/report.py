"""The evaluation's outputs: one JSON per run, a Markdown report with the exact command, and PNG plots."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SET_TITLES = {"cuad": "cuad-dev (page level, within the contract)",
              "financebench": "financebench-dev (page level, within the filing)",
              "sec10q": "sec10q (document level, across all 20 filings)"}
STRATEGY_ORDER = ("always-rag", "always-full", "auto", "auto-weak", "auto-premium", "self-route", "always-coverage")
PROFILE_NAMES = {"deepseek-v4-flash-compat": "seed", "deepseek-api": "DeepSeek"}


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _k(summary: dict[str, Any], k: int, key: str = "recall") -> float | None:
    values = summary[key]
    return values.get(k, values.get(str(k)))  # type: ignore[no-any-return]


def headline(set_name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The summary a target is judged on: cuad's non-trivial categories, doc recall for sec10q, else all."""
    if set_name == "cuad" and "nontrivial" in entry:
        return entry["nontrivial"]  # type: ignore[no-any-return]
    return entry["all"]  # type: ignore[no-any-return]


def _retrieval_table(set_name: str, data: dict[str, Any], ks: Sequence[int]) -> list[str]:
    doc_level = set_name == "sec10q"
    cuad = set_name == "cuad"
    head = "| configuration | mode | " + " | ".join(f"recall@{k}" for k in ks) + " | MRR | n |"
    if cuad:
        head = ("| configuration | mode | " + " | ".join(f"recall@{k} non-trivial" for k in ks)
                + " | MRR non-trivial | recall@5 all | n (non-trivial) |")
    if doc_level:
        head = ("| configuration | mode | " + " | ".join(f"doc recall@{k}" for k in ks)
                + " | hit@5 | MRR | n |")
    lines = [head, "|---|---|" + "---:|" * (len(ks) + 3 if (cuad or doc_level) else len(ks) + 2)]
    for label, modes in data["table"]:
        for mode, entry in modes.items():
            main = headline(set_name, entry)
            key = "doc_recall" if doc_level else "recall"
            cells = [fmt(_k(main, k, key)) for k in ks]
            if cuad:
                extra = [fmt(main["mrr"]), fmt(_k(entry["all"], 5)), f"{entry['all']['n']} ({main['n']})"]
            elif doc_level:
                extra = [fmt(_k(main, 5)), fmt(main["mrr"]), str(main["n"])]
            else:
                extra = [fmt(main["mrr"]), str(main["n"])]
            lines.append(f"| {label} | {mode} | " + " | ".join(cells + extra) + " |")
    return lines


def _groups_table(set_name: str, groups: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Per question type, recall@5 (doc recall for sec10q) per mode of the default configuration."""
    modes = list(groups)
    key = "doc_recall" if set_name == "sec10q" else "recall"
    names = sorted({g for m in modes for g in groups[m]})
    lines = ["| question type | n | " + " | ".join(f"{m} @5" for m in modes) + " | hybrid MRR |",
             "|---|---:|" + "---:|" * (len(modes) + 1)]
    for g in names:
        n = next(groups[m][g]["n"] for m in modes if g in groups[m])
        cells = [fmt(_k(groups[m][g], 5, key)) if g in groups[m] else "—" for m in modes]
        mrr = fmt(groups.get("hybrid", {}).get(g, {}).get("mrr"))
        lines.append(f"| {g} | {n} | " + " | ".join(cells) + f" | {mrr} |")
    return lines


def _levers_table(set_name: str, levers: dict[str, Any]) -> list[str]:
    """Each lever's recall@5 on and off (overall, non-trivial for cuad, the question types it changed), and the
    default's misses by how many top-5 pages dense and BM25 share (the weak-retrieval signal)."""
    from folio.evaluation.levers import WEAK_SIGNAL_KEY

    lines = ["| lever | all: with / without (gain) | non-trivial: with / without | question types changed |",
             "|---|---|---|---|"]

    def pair(values: list[float | None]) -> str:
        on, off = values
        gain = f" ({(on - off) * 100:+.1f} pts)" if on is not None and off is not None else ""
        return f"{fmt(on)} / {fmt(off)}{gain}"

    for name, gain in levers.items():
        if name == WEAK_SIGNAL_KEY:
            continue
        nontrivial = pair(gain["nontrivial"]) if "nontrivial" in gain else "—"
        changed = "; ".join(f"{g} {fmt(v[0])} vs {fmt(v[1])}" for g, v in gain["groups"].items()) or "none"
        lines.append(f"| {name} | {pair(gain['all'])} | {nontrivial} | {changed} |")
    signal = levers.get(WEAK_SIGNAL_KEY) or []
    if signal:
        lines += ["", "Default hybrid misses at 5 by the top-5 pages dense and BM25 share: "
                  + "; ".join(f"{b['shared']} shared: {b['miss']:.0%} of {b['n']}" for b in signal) + "."]
    return lines


def _routing_table(scenario: dict[str, Any]) -> list[str]:
    lines = ["| strategy | prices decided by | $ total (seed prices) | $ total (DeepSeek prices) | $ per question "
             "(decision's prices) | evidence coverage | fully covered | cache hit rate | routes |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in scenario["runs"]:
        forced = s["strategy"].startswith("always")
        decided = "any (forced)" if forced else PROFILE_NAMES.get(s["profile"], s["profile"])
        per_q = s["dollars_per_question"][s["profile"]]
        routes = ", ".join(f"{k} {v}" for k, v in sorted(s["routes"].items()))
        if s["escalations"]:
            routes += f"; escalated {s['escalations']}"
        coverage = fmt(s["coverage"], 3)
        if s.get("silver_coverage") is not None:
            coverage += f" (silver pages {fmt(s['silver_coverage'], 3)})"
        lines.append(f"| {s['strategy']} | {decided} | {s['dollars']['deepseek-v4-flash-compat']:.4f} | "
                     f"{s['dollars']['deepseek-api']:.4f} | {per_q:.5f} | {coverage} | {fmt(s['fully_covered'], 3)} | "
                     f"{fmt(s['cache_hit_rate'], 3)} | {routes} |")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    ks = report["ks"]
    m = report["machine"]
    lines = [f"# Folio evaluation ({report['date']}{', quick' if report['options'].get('quick') else ''})", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m.get('cpu_model')}, {m.get('cpu_count')} cores; Folio {m.get('commit')}"
             f"{' (uncommitted changes)' if m.get('dirty') else ''}; embedding model {report['embed_model']}"
             f"{' (int8 ONNX)' if report.get('embed_backend') == 'onnx' else ''}; "
             f"data: `{report['data_root']}`. Wall time {report['seconds']:.0f} s.", ""]
    limits = report["options"].get("max_pages") or {}
    if limits:
        lines += ["Size-limited run: only " + "; ".join(f"{s}'s documents of at most {n} pages" for s, n in
                                                     limits.items()) + ", and the questions on them alone.", ""]
    targets = report.get("targets") or []
    if targets:
        lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in targets]
        lines.append("")
    retrieval = report.get("retrieval") or {}
    if retrieval:
        lines += ["## Retrieval", "",
                  "Page level: a question is hit at k when one of its top-k chunks spans a gold evidence page of its "
                  "document (one search per k, the question's own document as the scope). sec10q: document level "
                  "over all 20 filings; doc recall@k is the share of the question's filings among the top-k chunks' "
                  "documents (a four-filing question needs all four), hit@k whether any is there. MRR over the top "
                  "10. cuad's table shows its non-trivial categories (all but Document Name, Parties, Agreement "
                  "Date, Effective Date).", ""]
    for set_name, data in retrieval.items():
        lines += [f"### {SET_TITLES.get(set_name, set_name)}", ""]
        lines += [f"{data['questions']} questions, {data['documents']} documents; index: "
                  + "; ".join(f"{v['config']}: {v['chunks']:,} chunks" for v in data["indexes"].values()) + ".", ""]
        lines += _retrieval_table(set_name, data, ks)
        if data.get("baseline_note"):
            lines += ["", data["baseline_note"]]
        if data.get("groups"):
            lines += ["", "Per question type (default configuration):", ""]
            lines += _groups_table(set_name, data["groups"])
        if data.get("levers"):
            lines += ["", "Retrieval levers (hybrid recall@5 with each lever and without it, the others held fixed):",
                      ""]
            lines += _levers_table(set_name, data["levers"])
        if data.get("diagnosis"):
            lines += ["", "Where the points go (default configuration):", ""]
            lines += [f"- {d}" for d in data["diagnosis"]]
        lines.append("")
    routing = report.get("routing") or {}
    if routing:
        lines += ["## Routing replay", "", report.get("routing_note", ""), ""]
        for name, scenario in routing.items():
            lines += [f"### {name}", "", scenario["description"], ""]
            lines += _routing_table(scenario)
            if scenario.get("notes"):
                lines += [""] + [f"- {n}" for n in scenario["notes"]]
            lines.append("")
    plots = report.get("plots") or []
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
    notes = report.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        plots = write_plots(report, out_dir, stem)
    except ImportError as exc:
        plots = []
        report.setdefault("notes", []).append(f"plots skipped: matplotlib is not installed ({exc}); "
                                              "pip install -e '.[eval]'")
    report["plots"] = [p.name for p in plots]
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(render_markdown(report) + "\n")
    written += [json_path, md_path, *plots]
    return written


def write_plots(report: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """recall@k per configuration (one panel per set) and cost against coverage per strategy (one per scenario)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    for key, figure, suffix in (("retrieval", recall_figure, "recall"), ("routing", routing_figure, "routing")):
        if report.get(key):
            path = out_dir / f"{stem}-{suffix}.png"
            fig = figure(plt, report)
            if fig is not None:
                fig.savefig(path, dpi=120)
                plt.close(fig)
            written.append(path)
    return written


def recall_figure(plt: Any, report: dict[str, Any]) -> Any:
    """recall@k per configuration and mode, one panel per set; None without retrieval results."""
    retrieval = report["retrieval"]
    ks = report["ks"]
    fig = None
    if retrieval:
        fig, axes = plt.subplots(1, len(retrieval), figsize=(6.5 * len(retrieval), 5), squeeze=False)
        for ax, (set_name, data) in zip(axes[0], retrieval.items(), strict=True):
            key = "doc_recall" if set_name == "sec10q" else "recall"
            palette = ("tab:green", "tab:blue", "tab:orange", "tab:purple", "tab:red", "tab:brown")
            for i, (label, modes) in enumerate(data["table"]):
                color = "tab:gray" if label.startswith("llama-index") else palette[i % len(palette)]
                for mode, entry in modes.items():
                    main = headline(set_name, entry)
                    values = [_k(main, k, key) for k in ks]
                    style = {"dense": ":", "bm25": "--", "hybrid": "-"}.get(mode, "-")
                    width = 2.5 if label.startswith("Folio default") and mode == "hybrid" else 1.2
                    ax.plot(ks, [v if v is not None else float("nan") for v in values], style, marker="o",
                            linewidth=width, markersize=3, color=color, label=f"{label} · {mode}")
            ax.set_title(SET_TITLES.get(set_name, set_name) + (" non-trivial" if set_name == "cuad" else ""),
                         fontsize=9)
            ax.set_xlabel("k")
            ax.set_ylabel("doc recall@k" if set_name == "sec10q" else "recall@k")
            ax.set_xticks(ks)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, loc="lower right")
        fig.tight_layout()
    return fig


def routing_figure(plt: Any, report: dict[str, Any]) -> Any:
    """Evidence coverage against dollars per question, a point per strategy and price profile, one panel per
    scenario; None without routing results."""
    routing = report["routing"]
    fig = None
    if routing:
        fig, axes = plt.subplots(1, len(routing), figsize=(5.5 * len(routing), 4.5), squeeze=False)
        markers = {"deepseek-v4-flash-compat": "o", "deepseek-api": "s"}
        colors = dict(zip(STRATEGY_ORDER, ("tab:blue", "tab:red", "tab:green", "tab:cyan", "tab:olive", "tab:purple",
                                           "tab:orange"), strict=True))
        for ax, (name, scenario) in zip(axes[0], routing.items(), strict=True):
            for s in scenario["runs"]:
                profiles = [s["profile"]] if not s["strategy"].startswith("always") else list(markers)
                for p in profiles:
                    x = s["dollars_per_question"][p]
                    color = colors.get(s["strategy"], "black")
                    hollow = s["strategy"] == "always-rag"  # auto often sits on it: drawn as a ring around it
                    ax.scatter([x], [s["coverage"]], marker=markers[p], s=110 if hollow else 40,
                               facecolors="none" if hollow else color, edgecolors=color,
                               label=f"{s['strategy']} ({PROFILE_NAMES[p]} prices)")
            ax.set_xscale("log")
            ax.set_xlabel("$ per question (log)")
            ax.set_ylabel("evidence coverage")
            ax.set_ylim(0, 1.05)
            ax.set_title(name, fontsize=9)
            ax.grid(alpha=0.3)
            handles, labels = ax.get_legend_handles_labels()
            seen = dict(zip(labels, handles, strict=True))
            ax.legend(seen.values(), seen.keys(), fontsize=6, loc="lower right")
        fig.tight_layout()
    return fig
