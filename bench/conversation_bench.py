"""What a 10-turn conversation costs: Folio's conversation (mode auto) against always-full without an append-only
layout and always-retrieval, over one ~100k-token filing and one ~20k-token contract, on the provider double.

Each thread is 10 questions an analyst might ask in a row (``bench/data/conversation_questions.json``): later ones
lean on earlier ones ("And how much did the Business segment contribute?", "Which of those ..."), most are lookups,
a few ask to compare, summarise or list everything. Strategies, each on its own fresh provider double (DeepSeek's
prefix-cache rules over real HTTP, 64-token units, one-hour TTL) and, for Folio, its own fresh copy of the index
(an empty ledger, so no strategy sees another's cache):

- ``auto``: Folio's conversation (``POST /v1/conversations``, then ``POST /v1/conversations/{id}/messages`` with
  ``mode: auto``) through the real app (``create_app``, fastapi's ``TestClient``). Its routes depend on the
  prices, so it runs once per pricing profile: the seed's (``deepseek-v4-flash-compat``) and DeepSeek's own API
  (``deepseek-api``).
- ``anchor``: always-full without an append-only layout, sent straight to the double with the openai SDK: every
  turn re-sends the documents (``folio.service.context.render_documents``, byte for byte what Folio renders) and
  the history so far, but the history comes first and the documents ride in the last user message with the
  question: ``[system][user: Question 1][assistant: answer 1] ... [user: documents + Question n]``. The prefix the
  cache can match ends where the history ends, so the documents are read cold on every turn.
- ``rag``: Folio's conversation with ``mode: rag`` on every turn (retrieval threads are append-only too).
- ``full`` (a reference, not one of the compared strategies): Folio's conversation with ``mode: full`` on every
  turn: the append-only whole-documents thread, which shows the layout's cache hits on its own.

Routes of ``anchor``, ``rag`` and ``full`` do not depend on prices, so each runs once and its usage (the double's
request log: prompt, hit, miss and output tokens of every request, the rewrite requests of follow-ups included) is
priced under both profiles. Every dollar figure here is the double's usage times the profile's rates; Folio's own
ledger (each turn's ``cost.dollars``) is checked against it. Turns are sent back to back (seconds apart, well inside
the cache's one-hour sure lifetime), with ``reasoning: none``.

Targets: from turn 2 on, >= 95% of a full-context turn's prompt tokens are cache hits (Folio's threads); Folio's
conversation costs less than both other strategies over the 10 turns (each document, each profile).

    .venv/bin/python bench/conversation_bench.py                      # MiniLM embeddings (~6-7 min on 2 cores)
    .venv/bin/python bench/conversation_bench.py --embed hash --tag hash
    .venv/bin/python bench/conversation_bench.py --render bench/results/conversation-DATE.json   # rewrite .md/.png

Writes ``bench/results/conversation-<date>[-<tag>].json``, ``.md`` and ``.png`` (cumulative dollars per turn).
Heavy imports stay inside functions: Folio's ingestion spawns its parser worker, which re-imports this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import command_line, default_data_root, machine_info, offline_env  # noqa: E402

QUESTIONS = REPO / "bench" / "data" / "conversation_questions.json"
PROFILES = {"seed": "deepseek-v4-flash-compat", "deepseek": "deepseek-api"}
DOCS = ("filing", "contract")
STRATEGIES = ("auto", "anchor", "rag")
HIT_TARGET = 0.95
FILING_TOKENS = (80_000, 120_000)
MINILM = "all-MiniLM-L6-v2"
HASH_DIM = 384
THREAD_TAIL = "expected at this thread's pace; "


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the service -------------------------------------------------------------------------------------------


def base_settings(data_dir: Path, embed: str, **extra: Any) -> Any:
    from folio.config import Settings

    model = MINILM if embed == "minilm" else f"hash-{HASH_DIM}"
    return Settings(data_dir=data_dir, embed_model=model, ingest_workers=1, qdrant_url=None, llm_timeout_s=300.0,
                    llm_max_retries=0, **extra)


def ingest(base: Path, embed: str, pdfs: dict[str, Path]) -> dict[str, Any]:
    """Upload the PDFs through the API into ``base``; returns each document's record and its rendered block."""
    from fastapi.testclient import TestClient

    from folio.service.app import create_app
    from folio.service.context import render_documents

    out: dict[str, Any] = {}
    started = time.perf_counter()
    with TestClient(create_app(base_settings(base, embed))) as client:
        load_s = time.perf_counter() - started
        for key, path in pdfs.items():
            t0 = time.perf_counter()
            response = client.post("/v1/documents?wait=true", files=[("files", (path.name, path.read_bytes()))])
            response.raise_for_status()
            job = response.json()["jobs"][0]
            if job["status"] != "done":
                raise RuntimeError(f"ingesting {path.name} failed: {job}")
            doc = client.get(f"/v1/documents/{job['document_id']}").json()
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            record = runtime.store.require_document(doc["id"], with_pages=True)
            out[key] = {"id": doc["id"], "file": path.name, "title": doc["title"], "pages": doc["n_pages"],
                        "chunks": doc["n_chunks"], "total_tokens": doc["total_tokens"],
                        "scope_tokens": doc["scope_tokens"], "ingest_s": round(time.perf_counter() - t0, 1),
                        "block": render_documents([record])}
            log(f"ingested {path.name}: {doc['n_pages']} pages, {doc['n_chunks']} chunks, "
                f"{doc['total_tokens']:,} tokens (scope {doc['scope_tokens']:,}) in {out[key]['ingest_s']}s")
    out["_app_start_s"] = round(load_s, 1)
    return out


def request_rows(entries: Sequence[dict[str, Any]]) -> list[dict[str, int]]:
    return [{"prompt": e["prompt_tokens"], "hit": e["hit_tokens"], "miss": e["miss_tokens"],
             "output": e["completion_tokens"], "status": e["status"]} for e in entries]


def decision_part(reason: str) -> str:
    """A turn's reason without the thread's words that open it ('turn N of the conversation; ...')."""
    return reason.split(THREAD_TAIL, 1)[1] if THREAD_TAIL in reason else reason


def after_need(decision: str, need: str) -> str:
    """The decision without the need's explanation that opens it ('lookup: no cue for ...; retrieval is ...')."""
    if decision.startswith(f"{need}:") and "; " in decision:
        return decision.split("; ", 1)[1]
    return decision


def signed(value: float) -> str:
    return f"-${-value:.5f}" if value < 0 else f"${value:.5f}"


def first_words(text: str, n: int = 9) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


def run_folio(base: Path, work: Path, embed: str, doc: dict[str, Any], questions: Sequence[str], *, mode: str,
              profile: str) -> dict[str, Any]:
    """One conversation through the app, on a fresh copy of the index and a fresh provider double."""
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from folio.service.app import create_app
    from folio.testing.provider import run_provider_double

    data = work / f"{mode}-{profile}-{doc['key']}"
    shutil.copytree(base, data)
    turns: list[dict[str, Any]] = []
    with run_provider_double() as double:
        settings = base_settings(data, embed, llm_base_url=double.base_url, llm_api_key=SecretStr("bench"),
                                 llm_model="deepseek-chat", pricing_profile=PROFILES[profile])
        with TestClient(create_app(settings)) as client:
            made = client.post("/v1/conversations", json={"documents": [doc["id"]], "title": doc["key"]})
            made.raise_for_status()
            cid = made.json()["id"]
            for n, question in enumerate(questions, 1):
                before = len(double.requests())
                t0 = time.perf_counter()
                response = client.post(f"/v1/conversations/{cid}/messages", json={"question": question, "mode": mode})
                wall = time.perf_counter() - t0
                if response.status_code != 200:
                    raise RuntimeError(f"{mode}/{profile} turn {n}: {response.status_code} {response.text[:500]}")
                body = response.json()
                turns.append(turn_row(n, question, body, request_rows(double.requests()[before:]), wall))
                t = turns[-1]
                log(f"  {mode}@{profile} {doc['key']} turn {n}: {t['route']}, {t['requests'][-1]['hit']:,}/"
                    f"{t['requests'][-1]['prompt']:,} hit, billed ${t['billed_dollars']:.5f}, {wall:.1f}s")
            detail = client.get(f"/v1/conversations/{cid}").json()
    return {"mode": mode, "profile": profile, "conversation_dollars": detail["dollars"], "turns": turns}


def turn_row(n: int, question: str, body: dict[str, Any], requests: list[dict[str, int]],
             wall: float) -> dict[str, Any]:
    answer = body["answer"]
    plan = answer["plan"]
    est = plan["estimates"]
    thread = plan.get("thread") or {}
    cost = answer.get("cost") or {}
    return {
        "turn": n, "question": question, "route": answer["route"], "reason": answer["reason"],
        "decision": decision_part(answer["reason"]), "need": plan["need"]["class"],
        "decision_words": first_words(after_need(decision_part(answer["reason"]), plan["need"]["class"]), 12),
        "rewrite": body["rewrite"], "search_query": body["search_query"],
        "events": [e["kind"] for e in answer.get("events", [])],
        "thread": {k: thread.get(k) for k in ("base", "new_prefix", "cached_tokens", "cache_h", "history_tokens",
                                              "turns_in_prompt", "expected_turns")},
        "estimates": {route: {k: est[route][k] for k in ("hit_tokens", "miss_tokens", "output_tokens", "dollars",
                                                          "amortised_dollars")} for route in ("rag", "full")},
        "billed_dollars": cost.get("dollars"), "estimated_dollars": cost.get("estimated_dollars"),
        "requests": requests, "wall_s": round(wall, 2), "answer": (answer.get("answer") or "")[:200],
        "pages_read": pages_read(answer),
    }


def pages_read(answer: dict[str, Any]) -> int:
    """Pages the answering request showed the model: every page (whole documents), else the retrieved chunks'."""
    if answer["route"] == "full":
        return sum(d["pages"] for d in answer["plan"]["scope"])
    return len({(c["document_id"], p) for c in answer["retrieved"] for p in range(c["first_page"], c["last_page"] + 1)})


def run_anchor(doc: dict[str, Any], questions: Sequence[str]) -> dict[str, Any]:
    """Always-full with the history before the documents: the prefix breaks at the documents on every turn."""
    from folio.config import Settings
    from folio.service.context import QUESTION_PREFIX, SYSTEM_PROMPT
    from folio.testing.provider import run_provider_double

    max_tokens = Settings().output_reserve  # as Folio asks
    turns: list[dict[str, Any]] = []
    history: list[dict[str, str]] = []
    with run_provider_double() as double:
        client = double.openai_client(timeout=300.0)
        for n, question in enumerate(questions, 1):
            messages = [{"role": "system", "content": SYSTEM_PROMPT}, *history,
                        {"role": "user", "content": doc["block"] + "\n\n" + QUESTION_PREFIX + question}]
            before = len(double.requests())
            t0 = time.perf_counter()
            reply = client.chat.completions.create(model="deepseek-chat", messages=messages,  # type: ignore[arg-type]
                                                   max_tokens=max_tokens, temperature=0.0, user="folio",
                                                   extra_body={"thinking": {"type": "disabled"}})
            wall = time.perf_counter() - t0
            text = reply.choices[0].message.content or ""
            history += [{"role": "user", "content": QUESTION_PREFIX + question}, {"role": "assistant", "content": text}]
            requests = request_rows(double.requests()[before:])
            turns.append({"turn": n, "question": question, "route": "full", "requests": requests,
                          "wall_s": round(wall, 2), "answer": text[:200]})
            log(f"  anchor {doc['key']} turn {n}: {requests[-1]['hit']:,}/{requests[-1]['prompt']:,} hit, {wall:.1f}s")
    return {"mode": "anchor", "turns": turns}


# -- the numbers -------------------------------------------------------------------------------------------


def price(requests: Sequence[dict[str, int]], profile: str) -> float:
    from folio.service.pricing import get_profile

    p = get_profile(PROFILES[profile])
    return sum(p.dollars(hit_tokens=r["hit"], miss_tokens=r["miss"], output_tokens=r["output"]) for r in requests)


def hit_share(requests: Sequence[dict[str, int]]) -> float:
    prompt = sum(r["prompt"] for r in requests)
    return sum(r["hit"] for r in requests) / prompt if prompt else 0.0


def series(run: dict[str, Any], profile: str) -> dict[str, list[float]]:
    """Per turn: dollars, cumulative dollars, the turn's hit share (all its requests) and the answering request's."""
    per = [price(t["requests"], profile) for t in run["turns"]]
    cum, total = [], 0.0
    for d in per:
        total += d
        cum.append(total)
    return {"dollars": per, "cumulative": cum, "hit_share": [hit_share(t["requests"]) for t in run["turns"]],
            "answer_hit_share": [hit_share(t["requests"][-1:]) for t in run["turns"]]}


def strategy_run(result: dict[str, Any], doc: str, strategy: str, profile: str) -> dict[str, Any]:
    runs = result["runs"][doc]
    if strategy == "auto":
        return runs[f"auto-{profile}"]
    return runs[strategy]


def analyse(result: dict[str, Any]) -> dict[str, Any]:
    """Targets, per (document, profile) totals, and where auto lost."""
    totals: dict[str, Any] = {}
    hit_rows: list[dict[str, Any]] = []
    for doc in DOCS:
        for profile in PROFILES:
            key = f"{doc}/{profile}"
            s = {name: series(strategy_run(result, doc, name, profile), profile) for name in (*STRATEGIES, "full")}
            totals[key] = {name: v["cumulative"][-1] for name, v in s.items()}
            auto = strategy_run(result, doc, "auto", profile)
            ledger = sum(t["billed_dollars"] or 0.0 for t in auto["turns"])
            totals[key]["auto_ledger"] = round(ledger, 6)
            totals[key]["auto_beats_anchor"] = s["auto"]["cumulative"][-1] < s["anchor"]["cumulative"][-1]
            totals[key]["auto_beats_rag"] = s["auto"]["cumulative"][-1] < s["rag"]["cumulative"][-1]
            lost = []
            rag_run = strategy_run(result, doc, "rag", profile)
            for i, t in enumerate(auto["turns"]):
                extra = s["auto"]["dollars"][i] - s["rag"]["dollars"][i]
                if extra > 0 and t["route"] != "rag":
                    e = t["estimates"]
                    lost.append({"turn": t["turn"], "route": t["route"], "need": t["need"],
                                 "extra_vs_rag": round(extra, 6), "billed": round(s["auto"]["dollars"][i], 6),
                                 "rag_billed": round(s["rag"]["dollars"][i], 6),
                                 "est_full_now": e["full"]["dollars"],
                                 "est_full_amortised": e["full"]["amortised_dollars"],
                                 "est_rag_now": e["rag"]["dollars"],
                                 "est_rag_amortised": e["rag"]["amortised_dollars"],
                                 "new_prefix": t["thread"]["new_prefix"], "hit_share": s["auto"]["answer_hit_share"][i],
                                 "pages_auto": t.get("pages_read"),
                                 "pages_rag": rag_run["turns"][i].get("pages_read"),
                                 "decision": first_words(t["decision"], 30)})
            totals[key]["auto_extra_vs_rag_turns"] = lost
            totals[key]["auto_extra_vs_rag"] = s["auto"]["cumulative"][-1] - s["rag"]["cumulative"][-1]
        # the cache-hit target: Folio's full-context turns from turn 2 on (auto under each profile, and full)
        for name in ("auto-seed", "auto-deepseek", "full"):
            run = result["runs"][doc][name]
            seen_full = False
            for prev, t in zip([None, *run["turns"]], run["turns"], strict=False):
                if t["route"] == "full" and t["turn"] >= 2:
                    ask = t["requests"][-1]
                    since = "full" if prev is not None and prev["route"] == "full" else (
                        "retrieval" if seen_full else "first")
                    hit_rows.append({"document": doc, "run": name, "turn": t["turn"], "hit": ask["hit"],
                                     "prompt": ask["prompt"], "share": round(ask["hit"] / ask["prompt"], 4),
                                     "plan_new_prefix": t["thread"]["new_prefix"], "after": since})
                seen_full = seen_full or t["route"] == "full"
    every = hit_rows
    consecutive = [r for r in hit_rows if r["after"] == "full"]
    targets = {
        "hits_every_full_turn": {"rows": len(every), "below": [r for r in every if r["share"] < HIT_TARGET],
                                 "pass": bool(every) and all(r["share"] >= HIT_TARGET for r in every)},
        "hits_consecutive_full_turns": {
            "rows": len(consecutive), "below": [r for r in consecutive if r["share"] < HIT_TARGET],
            "rows_list": consecutive,
            "pass": bool(consecutive) and all(r["share"] >= HIT_TARGET for r in consecutive)},
        "cheapest": {key: {"pass": v["auto_beats_anchor"] and v["auto_beats_rag"], "auto": v["auto"],
                           "anchor": v["anchor"], "rag": v["rag"]} for key, v in totals.items()},
    }
    return {"totals": totals, "hit_rows": hit_rows, "targets": targets, "estimates": estimate_rows(result)}


# -- the report --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def versus(auto: float, other: float) -> str:
    return "below" if auto < other - 5e-7 else ("equal to" if abs(auto - other) <= 5e-7 else "above")


def write_plot(result: dict[str, Any], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), sharex=True)
    styles = {"auto": ("tab:blue", "-", "Folio conversation (auto)"),
              "anchor": ("tab:red", "-", "always-full, history before documents (anchor)"),
              "rag": ("tab:green", "-", "always-retrieval (Folio, mode rag)"),
              "full": ("tab:gray", ":", "reference: Folio, mode full (append-only)")}
    for row, doc in enumerate(DOCS):
        info = result["documents"][doc]
        for col, profile in enumerate(PROFILES):
            ax = axes[row][col]
            for name, (color, line, label) in styles.items():
                run = strategy_run(result, doc, name, profile)
                cum = series(run, profile)["cumulative"]
                turns = list(range(1, len(cum) + 1))
                ax.plot(turns, cum, line, color=color, label=label, linewidth=2 if name == "auto" else 1.4)
                if name == "auto":
                    for x, y, t in zip(turns, cum, run["turns"], strict=True):
                        ax.plot(x, y, "o" if t["route"] == "full" else "x", color=color, markersize=6)
            ax.set_yscale("log")
            ax.set_title(f"{doc}: {Path(info['file']).stem[:28]} ({info['scope_tokens']:,} tokens), "
                         f"{PROFILES[profile]}", fontsize=9)
            ax.set_xticks(range(1, 11))
            ax.grid(True, which="both", alpha=0.3)
            if col == 0:
                ax.set_ylabel("cumulative USD (log)")
            if row == 1:
                ax.set_xlabel("turn (auto: o = whole documents, x = retrieval)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle("10-turn conversation: cumulative dollars per strategy (provider double's usage)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def render_md(result: dict[str, Any]) -> str:
    a = result["analysis"]
    t = a["targets"]
    docs = result["documents"]
    lines = [f"# Conversation benchmark ({result['date']})", "",
             f"Command: `{result['command']}`", "",
             f"Machine: {result['machine']['cpu_model']}, {result['machine']['cpus_usable']} cores usable, load "
             f"average at start {', '.join(f'{x:.1f}' for x in result['machine']['load_avg_at_start'])}; Folio commit "
             f"{result['machine']['folio']['commit']}. Wall time {result['wall_s']:.0f} s.", "",
             f"Embeddings: {result['embed_note']}. Model: the provider double (`folio.testing.provider`: DeepSeek's "
             "prefix-cache rules, 64-token units, 1-hour TTL, deterministic quoted answers), a fresh double and a "
             "fresh copy of the index (empty ledger) for every strategy and document. Turns are sent back to back "
             "(seconds apart), reasoning off.", "",
             "Documents (as Folio reports them after ingestion):", ""]
    for key in DOCS:
        d = docs[key]
        lines.append(f"- {key}: `{d['file']}`, {d['pages']} pages, {d['chunks']} chunks, {d['total_tokens']:,} "
                     f"tokens ({d['scope_tokens']:,} with the layout)")
    lines += ["", "Strategies: **auto** is Folio's conversation (`mode: auto`), run once per pricing profile (its "
              "routes depend on the prices); **anchor** re-sends the documents (rendered by "
              "`render_documents`) and the growing history on every turn, history first and the documents with the "
              "question in the last user message, straight to the double; **rag** is Folio's conversation with "
              "`mode: rag`. **full** (reference only) is Folio's conversation with `mode: full`, the append-only "
              "whole-documents thread. anchor, rag and full do not depend on prices: one run each, priced under "
              "both profiles from the double's usage. Every dollar is the double's usage (rewrite requests "
              "included) at the profile's rates; seed = `deepseek-v4-flash-compat` ($0.18/M miss, $0.04/M hit, "
              "$0.36/M output), deepseek = `deepseek-api` ($0.28/M miss, $0.0056/M hit, $0.42/M output).", ""]
    lines += ["## Targets", "", "| target | result | verdict |", "|---|---|---|"]
    h1, h2 = t["hits_every_full_turn"], t["hits_consecutive_full_turns"]
    why = {"first": "the thread's first whole-documents turn: documents and history read cold",
           "retrieval": "back to whole documents after retrieval turns, whose excerpts and answers are new tokens",
           "full": "right after a whole-documents turn"}
    below = "; ".join(f"{r['document']} {r['run']} turn {r['turn']}: {r['share']:.1%} ({why[r['after']]})"
                      for r in h1["below"]) or "none"
    lines.append(f"| from turn 2 on, >= 95% of every full-context turn's prompt tokens are cache hits (Folio's "
                 f"conversations: auto under both profiles, and the full reference) | {h1['rows']} such turns; below "
                 f"95%: {below} | {verdict(h1['pass'])} |")
    lowest = min((r["share"] for r in h2["rows_list"]), default=None)
    below2 = "; ".join(f"{r['document']} {r['run']} turn {r['turn']}: {r['share']:.1%}" for r in h2["below"]) or "none"
    lines.append(f"| the same, counting only whole-documents turns right after a whole-documents turn (the "
                 f"append-only layout on its own) | {h2['rows']} such turns"
                 + (f", lowest {lowest:.1%}" if lowest is not None else "")
                 + f"; below 95%: {below2} | {verdict(h2['pass'])} |")
    for key, v in t["cheapest"].items():
        doc, profile = key.split("/")
        lines.append(f"| Folio's conversation costs less than anchor and rag over the turns: {doc}, {profile} prices | "
                     f"auto ${v['auto']:.5f} ({versus(v['auto'], v['anchor'])} anchor ${v['anchor']:.5f}, "
                     f"{versus(v['auto'], v['rag'])} rag ${v['rag']:.5f}) | {verdict(v['pass'])} |")
    lines += [""]
    lines += findings(result)
    if result.get("notes"):
        lines += ["## Analysis (written after reading this run's numbers)", "", result["notes"], ""]
    for doc in DOCS:
        for profile in PROFILES:
            lines += per_turn_table(result, doc, profile)
    lines += where_lost(result)
    lines += estimate_table(result)
    lines += ["## Ledger check", "",
              "Folio's own ledger (each turn's billed `cost.dollars`, at the run's profile) against the double's usage "
              "priced here:", ""]
    for key, v in a["totals"].items():
        lines.append(f"- {key}: ledger ${v['auto_ledger']:.6f}, double's usage ${v['auto']:.6f}")
    if result.get("plot_note"):
        lines += ["", f"Plot: {result['plot_note']}"]
    else:
        lines += ["", f"Plot: `{result['plot']}` (cumulative dollars per turn, log scale; auto's markers show its "
                  "route)."]
    return "\n".join(lines) + "\n"


def findings(result: dict[str, Any]) -> list[str]:
    """What the numbers say, computed from them: where auto's extra dollars went, and what the plan missed."""
    lines = ["## Findings (computed from this run)", ""]
    for doc in DOCS:
        for profile in PROFILES:
            s = {name: series(strategy_run(result, doc, name, profile), profile) for name in (*STRATEGIES, "full")}
            auto = strategy_run(result, doc, "auto", profile)["turns"]
            extra = s["auto"]["cumulative"][-1] - s["rag"]["cumulative"][-1]
            diff = [a - r for a, r in zip(s["auto"]["dollars"], s["rag"]["dollars"], strict=True)]
            cold = [i for i, t in enumerate(auto) if t["route"] == "full" and s["auto"]["answer_hit_share"][i] < 0.5]
            warm = [i for i, t in enumerate(auto) if t["route"] == "full" and i not in cold]
            rag_turns = [i for i, t in enumerate(auto) if t["route"] == "rag"]
            full_turns = sorted(warm + cold)
            by_cost = [f"{auto[i]['turn']} ({auto[i]['need']})" for i in full_turns
                       if "cost no more than retrieval" in auto[i]["decision"]]
            by_need = [f"{auto[i]['turn']} ({auto[i]['need']})" for i in full_turns
                       if "more per question than retrieval" in auto[i]["decision"]]
            floor = min(s["full"]["dollars"][1:]) if len(s["full"]["dollars"]) > 1 else float("nan")
            rag_later = s["rag"]["dollars"][1:] or [float("nan")]
            rag_mean = sum(rag_later) / len(rag_later)
            parts = [f"**{doc}, {profile} prices**: auto ${s['auto']['cumulative'][-1]:.5f}, rag "
                     f"${s['rag']['cumulative'][-1]:.5f}, anchor ${s['anchor']['cumulative'][-1]:.5f}, full (ref) "
                     f"${s['full']['cumulative'][-1]:.5f}."]
            if extra > 0:
                parts.append(
                    f"Auto spent ${extra:.5f} more than always-retrieval: "
                    f"${sum(diff[i] for i in cold):.5f} on {len(cold)} whole-documents turn(s) read cold "
                    f"(turn {', '.join(str(auto[i]['turn']) for i in cold) or '-'}: the documents and every earlier "
                    f"turn's excerpts, a new prefix), {signed(sum(diff[i] for i in warm))} on {len(warm)} "
                    "whole-documents "
                    f"turn(s) that hit the cache (turn {', '.join(str(auto[i]['turn']) for i in warm) or '-'}), "
                    f"{signed(sum(diff[i] for i in rag_turns))} on its retrieval turns (their history differs from the "
                    "rag run's after a whole-documents turn).")
            elif extra < 0:
                parts.append(f"Auto spent ${-extra:.5f} less than always-retrieval.")
            if by_need:
                parts.append(f"Whole documents chosen for the question's need, at a higher estimated price than "
                             f"retrieval: turn {', '.join(by_need)}.")
            if by_cost:
                parts.append(f"Whole documents chosen because the plan estimated them at no more than retrieval "
                             f"(a cached documents prefix): turn {', '.join(by_cost)}.")
            parts.append(f"With the documents cached, a whole-documents turn of the full run cost "
                         f"${floor:.5f} at the least; a retrieval turn of the rag run ${min(rag_later):.5f} to "
                         f"${max(rag_later):.5f} (mean ${rag_mean:.5f}, turns 2 on)"
                         + (": at these prices no whole-documents turn over this document costs less than a "
                            "retrieval turn." if floor > max(rag_later) else "."))
            if s["full"]["cumulative"][-1] < s["auto"]["cumulative"][-1]:
                parts.append(f"Always-full on the append-only thread (the reference) cost less than auto "
                             f"(${s['full']['cumulative'][-1]:.5f}): auto paid its cold read later, with the history "
                             "in it, after retrieval turns that always-full did not need.")
            lines += ["- " + " ".join(parts)]
    switches = []
    for doc in DOCS:
        for profile in PROFILES:
            auto = strategy_run(result, doc, "auto", profile)["turns"]
            for prev, t in itertools.pairwise(auto):
                ask = t["requests"][-1]
                share = ask["hit"] / ask["prompt"] if ask["prompt"] else 0.0
                if t["thread"]["new_prefix"] and t["route"] != prev["route"] and share >= 0.5:
                    billed = price(t["requests"], profile)
                    estimated = t["estimates"][t["route"]]["dollars"]
                    switches.append(f"{doc}/{profile} turn {t['turn']} ({prev['route']} to {t['route']}): "
                                    f"{share:.1%} hits, estimated ${estimated:.5f}, billed ${billed:.5f}")
    if switches:
        lines += ["- **The plan remembers one prefix per thread.** A turn that switches route is planned as a new "
                  "prefix read cold (`thread.new_prefix`, cached_tokens 0) even when the thread's last request on "
                  "the other base is still cached, and the append-only layout makes the new request extend it "
                  "(the turns in between are re-sent as they were). The switch turns that found most of their "
                  "prompt in the cache: " + "; ".join(switches) + ". The plan prices such a switch (and any turn "
                  "that would return to the other base) as if nothing of it were cached."]
    return [*lines, ""]


def per_turn_table(result: dict[str, Any], doc: str, profile: str) -> list[str]:
    auto = strategy_run(result, doc, "auto", profile)
    s = {name: series(strategy_run(result, doc, name, profile), profile) for name in (*STRATEGIES, "full")}
    info = result["documents"][doc]
    lines = [f"## {doc}: {info['file']} ({info['scope_tokens']:,} tokens), {profile} prices "
             f"({PROFILES[profile]})", "",
             "Cumulative dollars after each turn; hit % = cache hits / prompt tokens of the turn's requests (the "
             "rewrite request of a retrieval follow-up included); auto's estimate is the plan's for the chosen "
             "route, billed is every request of the turn; auto's route and the first words of its reason "
             "(the decision, after the thread's words and the need's explanation).", "",
             "| turn | auto route | need | auto $ cum | anchor $ cum | rag $ cum | full (ref) $ cum | auto hit % | "
             "anchor hit % | rag hit % | full hit % | auto est. / billed $ | auto's reason |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for i, t in enumerate(auto["turns"]):
        cum = " | ".join(f"{s[name]['cumulative'][i]:.5f}" for name in ("auto", "anchor", "rag", "full"))
        hits = " | ".join(f"{s[name]['hit_share'][i]:.1%}" for name in ("auto", "anchor", "rag", "full"))
        estimated = t["estimates"][t["route"]]["dollars"] if t["route"] in ("rag", "full") else None
        est = f"{estimated:.5f} / {s['auto']['dollars'][i]:.5f}" if estimated is not None else "-"
        lines.append(f"| {t['turn']} | {t['route']} | {t['need']} | {cum} | {hits} | {est} | "
                     f"{t['decision_words'].replace('|', '/')} |")
    lines += ["", "Questions: " + " / ".join(f"{t['turn']}. {t['question']}" for t in auto["turns"]), ""]
    return lines


def where_lost(result: dict[str, Any]) -> list[str]:
    lines = ["## Where auto spent more than always-retrieval", "",
             "Each auto turn that did not take retrieval and cost more than the rag run's same turn: the plan's "
             "estimates (this turn now / amortised over the expected further turns) beside what was billed.", ""]
    for key, v in result["analysis"]["totals"].items():
        lost = v["auto_extra_vs_rag_turns"]
        lines.append(f"### {key}: auto ${v['auto']:.5f} vs rag ${v['rag']:.5f} (difference "
                     f"{v['auto_extra_vs_rag']:+.5f})")
        lines.append("")
        if not lost:
            lines += ["No turn: auto took retrieval wherever it cost more than retrieval.", ""]
            continue
        lines += ["| turn | route | need | plan: new prefix | hit % | pages read (auto / rag) | billed | rag billed | "
                  "est. full now / amortised | est. rag now / amortised | reason |",
                  "|---:|---|---|---|---:|---|---:|---:|---:|---:|---|"]
        for r in lost:
            lines.append(f"| {r['turn']} | {r['route']} | {r['need']} | {r['new_prefix']} | {r['hit_share']:.1%} | "
                         f"{r.get('pages_auto')} / {r.get('pages_rag')} | "
                         f"{r['billed']:.5f} | {r['rag_billed']:.5f} | {r['est_full_now']:.5f} / "
                         f"{r['est_full_amortised']:.5f} | {r['est_rag_now']:.5f} / {r['est_rag_amortised']:.5f} | "
                         f"{r['decision'].replace('|', '/')} |")
        lines.append("")
    return lines


def estimate_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's estimate of the chosen route against the answering request's bill, grouped by run, route and
    whether the plan saw the turn extend its cached prefix (the rewrite request is not in the estimate)."""
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for doc in DOCS:
        for name, profile in (("auto-seed", "seed"), ("auto-deepseek", "deepseek"), ("rag", "seed"),
                              ("full", "seed")):
            for t in result["runs"][doc][name]["turns"]:
                route = t["route"]
                if route not in ("rag", "full"):
                    continue
                state = "first turn" if t["turn"] == 1 else ("new prefix" if t["thread"]["new_prefix"]
                                                             else "extends its prefix")
                g = groups.setdefault((doc, name, route, state), {
                    "document": doc, "run": name, "profile": profile, "route": route, "plan": state, "turns": [],
                    "est_dollars": 0.0, "billed_dollars": 0.0, "est_miss": 0.0, "billed_miss": 0,
                    "est_output": 0, "billed_output": 0})
                est, ask = t["estimates"][route], t["requests"][-1]
                g["turns"].append(t["turn"])
                g["est_dollars"] += est["dollars"]
                g["billed_dollars"] += price([ask], profile)
                g["est_miss"] += est["miss_tokens"]
                g["billed_miss"] += ask["miss"]
                g["est_output"] += est["output_tokens"]
                g["billed_output"] += ask["output"]
    return list(groups.values())


def estimate_table(result: dict[str, Any]) -> list[str]:
    lines = ["## Plan estimate against the bill", "",
             "Folio's runs, each turn's estimate of the route it took (`plan.estimates`) against the answering "
             "request's usage (the rewrite request is not in the estimate), summed by run, route and the plan's "
             "view of the thread's prefix. rag and full ran under the seed's profile.", "",
             "| document | run | route | plan saw | turns | estimated $ | billed $ | est. / billed | "
             "est. miss tokens | billed miss tokens | est. output | billed output |",
             "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in result["analysis"]["estimates"]:
        ratio = g["est_dollars"] / g["billed_dollars"] if g["billed_dollars"] else float("nan")
        lines.append(f"| {g['document']} | {g['run']} | {g['route']} | {g['plan']} | "
                     f"{','.join(map(str, g['turns']))} | {g['est_dollars']:.5f} | {g['billed_dollars']:.5f} | "
                     f"{ratio:.2f} | {g['est_miss']:,.0f} | {g['billed_miss']:,} | {g['est_output']:,} | "
                     f"{g['billed_output']:,} |")
    return [*lines, ""]


def write_outputs(result: dict[str, Any], out_dir: Path, name: str) -> Path:
    result["analysis"] = analyse(result)
    png = out_dir / f"{name}.png"
    result["plot"] = str(png.relative_to(REPO)) if png.is_relative_to(REPO) else str(png)
    result["plot_note"] = write_plot(result, png)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    md = out_dir / f"{name}.md"
    md.write_text(render_md(result))
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--embed", choices=("minilm", "hash"), default="minilm",
                        help="minilm: the bundled all-MiniLM-L6-v2; hash: HashEmbedder(384), quicker, meaningless "
                        "dense ranking (BM25 still real)")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--keep-tmp", action="store_true")
    parser.add_argument("--render", type=Path, default=None, help="rewrite the .md and .png of an earlier run's JSON")
    parser.add_argument("--notes", type=Path, default=None,
                        help="with --render: a Markdown file of analysis written after reading the run, kept in the "
                        "JSON and shown after the computed findings")
    args = parser.parse_args()
    offline_env()
    if args.render:
        result = json.loads(args.render.read_text())
        if args.notes:
            result["notes"] = args.notes.read_text().strip()
        md = write_outputs(result, args.render.parent, args.render.stem)
        print(md.read_text())
        return
    spec = json.loads(args.questions.read_text())
    started = time.perf_counter()
    name = f"conversation-{dt.date.today().isoformat()}" + (f"-{args.tag}" if args.tag else "")
    embed_note = ("the bundled all-MiniLM-L6-v2 (ingestion and queries)" if args.embed == "minilm"
                  else f"HashEmbedder({HASH_DIM}): dense ranking meaningless, BM25 real, so retrieval picks chunks by "
                  "BM25 alone")
    questions_file = (str(args.questions.relative_to(REPO)) if args.questions.is_relative_to(REPO)
                      else str(args.questions))
    result: dict[str, Any] = {"date": dt.date.today().isoformat(), "command": command_line(),
                              "machine": machine_info(), "embed": args.embed, "profiles": PROFILES,
                              "embed_note": embed_note, "questions_file": questions_file}
    work = Path(tempfile.mkdtemp(prefix="folio-conv-bench-"))
    try:
        pdfs = {key: args.data_root / spec[key]["set"] / "pdfs" / spec[key]["pdf"] for key in DOCS}
        docs = ingest(work / "base", args.embed, pdfs)
        result["app_start_s"] = docs.pop("_app_start_s")
        lo, hi = FILING_TOKENS
        if not lo <= docs["filing"]["total_tokens"] <= hi:
            log(f"warning: the filing has {docs['filing']['total_tokens']:,} tokens, outside {lo:,}-{hi:,}")
        result["documents"] = {k: {x: y for x, y in v.items() if x != "block"} for k, v in docs.items()}
        result["runs"] = {}
        for key in DOCS:
            doc = {**docs[key], "key": key}
            questions = spec[key]["questions"][: args.turns]
            runs: dict[str, Any] = {}
            log(f"{key}: anchor")
            runs["anchor"] = run_anchor(doc, questions)
            for mode, profile in (("auto", "seed"), ("auto", "deepseek"), ("rag", "seed"), ("full", "seed")):
                log(f"{key}: Folio conversation, mode {mode}, {PROFILES[profile]}")
                run = run_folio(work / "base", work, args.embed, doc, questions, mode=mode, profile=profile)
                runs[f"auto-{profile}" if mode == "auto" else mode] = run
            result["runs"][key] = runs
        result["wall_s"] = time.perf_counter() - started
        args.out_dir.mkdir(parents=True, exist_ok=True)
        md = write_outputs(result, args.out_dir, name)
    finally:
        if args.keep_tmp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {md} and its .json / .png in {result['wall_s']:.0f}s")
    print(md.read_text())


if __name__ == "__main__":
    main()
