"""The evaluation's report: targets judged from the numbers, the Markdown tables and the PNG plots (issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from folio.evaluation.report import recall_figure, render_markdown, routing_figure, write_report
from folio.evaluation.targets import judge_targets


def _summary(r5: float) -> dict[str, Any]:
    return {"n": 10, "recall": {1: r5 / 2, 3: r5 - 0.1, 5: r5, 10: min(1.0, r5 + 0.05)},
            "doc_recall": {1: 0.2, 3: 0.5, 5: 0.7, 10: 0.9}, "mrr": r5 / 1.5}


def _run(strategy: str, profile: str, seed_dollars: float, coverage: float) -> dict[str, Any]:
    return {"scenario": "s", "strategy": strategy, "profile": profile, "questions": 10,
            "dollars": {"deepseek-v4-flash-compat": seed_dollars, "deepseek-api": seed_dollars / 2},
            "dollars_per_question": {"deepseek-v4-flash-compat": seed_dollars / 10,
                                     "deepseek-api": seed_dollars / 20},
            "coverage": coverage, "fully_covered": coverage, "silver_coverage": None, "cache_hit_rate": 0.5,
            "routes": {"rag": 10}, "escalations": 0, "oracle_not_found": 0, "double_not_found": 0}


def _report() -> dict[str, Any]:
    cuad_table = [("Folio default: 200 tokens, heading 32", {
                      m: {"all": _summary(0.8), "nontrivial": _summary(v)}
                      for m, v in (("dense", 0.8), ("bm25", 0.9), ("hybrid", 0.92))}),
                  ("llama-index VectorStoreIndex defaults (1024-token chunks)", {
                      "dense": {"all": _summary(0.6), "nontrivial": _summary(0.7)}})]
    fb_table = [("Folio default: 200 tokens, heading 32", {"hybrid": {"all": _summary(0.6)}}),
                ("llama-index VectorStoreIndex defaults (1024-token chunks)", {"dense": {"all": _summary(0.5)}})]
    runs = [_run("always-rag", "deepseek-v4-flash-compat", 1.0, 0.7), _run("always-full", "deepseek-v4-flash-compat",
                                                                            10.0, 1.0),
            _run("auto", "deepseek-v4-flash-compat", 3.0, 0.98), _run("auto", "deepseek-api", 2.0, 0.8)]
    return {"date": "2026-11-28", "command": "folio eval --sets cuad", "options": {"quick": False},
            "machine": {"cpu_model": "x", "cpu_count": 2, "commit": "abc"}, "embed_model": "m", "data_root": "/d",
            "ks": [1, 3, 5, 10], "seconds": 1.0,
            "retrieval": {"cuad": {"questions": 10, "documents": 2, "indexes": {"c200": {"config": "c200",
                                                                                       "chunks": 5}},
                                   "table": cuad_table, "groups": {}, "diagnosis": ["parsing: fine"]},
                          "financebench": {"questions": 10, "documents": 2, "indexes": {}, "table": fb_table,
                                           "groups": {"hybrid": {"metrics": _summary(0.6)}}, "diagnosis": []}},
            "routing": {"one contract": {"description": "d", "runs": runs, "notes": ["n"]}}}


def test_targets_are_judged_from_the_numbers():
    targets = {t["target"]: t for t in judge_targets(_report())}
    cuad = next(t for name, t in targets.items() if name.startswith("page-level recall@5 >= 0.93 on cuad-dev non"))
    assert not cuad["met"] and cuad["measured"] == "0.920 (llama-index baseline 0.700: +22.0 points)"
    everything = next(t for name, t in targets.items() if name.startswith("page-level recall@5 >= 0.90 on cuad-dev,"))
    assert not everything["met"] and everything["measured"].startswith("0.800 (llama-index baseline 0.600")
    fb_target = next(t for name, t in targets.items() if name.startswith("page-level recall@5 >= 0.90 on finance"))
    assert not fb_target["met"] and fb_target["measured"].startswith("0.600")
    assert not any("sec10q" in name for name in targets)  # a set the report does not hold is not judged
    assert next(t for n, t in targets.items() if "above the plain llama-index baseline on cuad" in n)["met"]  # +22
    fb = next(t for n, t in targets.items() if "above the plain llama-index baseline on financebench" in n)
    assert not fb["met"] and "+10.0 points" in fb["measured"]
    seed = {n: t for n, t in targets.items() if "(seed prices)" in n}
    assert [t["met"] for t in seed.values()] == [True, True, True]  # 30% of the cost, 98% of coverage, +28 points
    deepseek = {n: t for n, t in targets.items() if "(DeepSeek prices)" in n}
    assert [t["met"] for t in deepseek.values()] == [True, False, False]  # $1 of $5; 0.8 coverage; +10 points
    assert next(iter(deepseek.values()))["measured"] == "$1.0000 vs $5.0000: 20.0%"


def test_the_report_is_json_markdown_and_plots(tmp_path: Path):
    report = _report()
    report["targets"] = judge_targets(report)
    written = write_report(report, tmp_path, "eval-test")
    names = {p.name for p in written}
    assert {"eval-test.json", "eval-test.md", "eval-test-recall.png", "eval-test-routing.png"} <= names
    assert all((tmp_path / n).stat().st_size > 1000 for n in names if n.endswith(".png"))
    markdown = render_markdown(report)
    assert "Command: `folio eval --sets cuad`" in markdown
    assert "| Folio default: 200 tokens, heading 32 | hybrid | 0.46 | 0.82 | 0.92 | 0.97 | 0.61 | 0.80 | 10 (10) |" \
        in markdown
    assert "| auto | DeepSeek | 2.0000 | 1.0000 | 0.10000 | 0.800 |" in markdown


def test_the_plots_draw_the_reports_numbers():
    """What the PNGs show, read from the figures: a panel per set with a line per configuration and mode at the
    table's recall@k, and a panel per scenario with a point per strategy and profile at its dollars and coverage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = _report()
    recall = recall_figure(plt, report)
    cuad, fb = recall.axes[0], recall.axes[1]
    assert cuad.get_title().startswith("cuad-dev") and cuad.get_title().endswith("non-trivial")
    assert cuad.get_ylabel() == "recall@k"
    lines = {line.get_label(): [round(float(v), 6) for v in line.get_ydata()] for line in cuad.get_lines()}
    assert lines["Folio default: 200 tokens, heading 32 · hybrid"] == [0.46, 0.82, 0.92, 0.97]
    assert lines["llama-index VectorStoreIndex defaults (1024-token chunks) · dense"] == [0.35, 0.6, 0.7, 0.75]
    assert len(lines) == 4 and len(fb.get_lines()) == 2
    routing = routing_figure(plt, report)
    [panel] = routing.axes
    points = sorted(tuple(round(float(v), 4) for v in c.get_offsets()[0]) for c in panel.collections)
    # always-rag and always-full at both profiles' prices, auto at the profile it ran with
    assert points == sorted([(0.1, 0.7), (0.05, 0.7), (1.0, 1.0), (0.5, 1.0), (0.3, 0.98), (0.1, 0.8)])
    plt.close("all")
