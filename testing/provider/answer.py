"""Deterministic answers drawn from the context Folio sends (never a language model).

Folio's layout, as parsed here (attribute order is free, values may be XML-escaped)::

    <documents>
    <document id="ID" title="TITLE" file="FILE" pages="N">
    <page n="1">...</page> ...
    </document> ...
    </documents>

    <excerpts>
    <excerpt title="TITLE" document="ID" pages="5-6">...</excerpt> ...
    </excerpts>

An excerpt may hold ``<page n="K">`` tags of its own; then each tagged part is a passage on page K, otherwise the
excerpt is one passage on the first page of its range. Folio's coverage reduce sends earlier answers as findings::

    <findings>
    <finding source="window 2 of 5">According to TITLE, "SENTENCE" [TITLE p.N].</finding> ...
    </findings>

and each citation ``[TITLE p.N]`` in a finding makes a passage on page N of TITLE: the double-quoted text right
before it, else the text since the previous citation. The question is the text after the last ``Question:`` of the
last user message, outside its ``<documents>``/``<excerpts>`` blocks.

Answers, exactly:

- ``Ready.`` when the last user message holds a documents or excerpts block but no ``Question:`` (a warm-up);
- ``The documents do not contain the answer.`` when no passage contains any content word of the question;
- otherwise ``According to TITLE, "SENTENCE" [TITLE p.N].``: the passage with the best overlap score (a sum of
  IDF weights of the question's stemmed content words it contains; ties go to the earliest passage), and its
  best-scoring sentence (ties: the longer, then the earlier, so a matching body sentence beats its heading),
  quoted verbatim up to whitespace and quote marks: wrapped lines are joined, every whitespace run is one space,
  double quotes inside it become single quotes. N is the passage's 1-based page.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .template import message_text

READY = "Ready."
NOT_FOUND = "The documents do not contain the answer."
QUESTION_MARK = "Question:"

_ATTR = re.compile(r'([\w-]+)\s*=\s*"([^"]*)"')
_DOCUMENT = re.compile(r"<document\b([^>]*)>(.*?)</document>", re.DOTALL)
_EXCERPT = re.compile(r"<excerpt\b([^>]*)>(.*?)</excerpt>", re.DOTALL)
_PAGE = re.compile(r'<page\s+n="(\d+)"[^>]*>(.*?)</page>', re.DOTALL)
_BLOCKS = re.compile(r"<documents>.*?</documents>|<excerpts>.*?</excerpts>|<document\b.*?</document>"
                     r"|<findings>.*?</findings>", re.DOTALL)
_FINDING = re.compile(r"<finding\b[^>]*>(.*?)</finding>", re.DOTALL)
_CITED = re.compile(r"\[([^\[\]]{1,300}?)\s+pp?\.\s*(\d{1,5})[^\]]*\]")
_QUOTED = re.compile(r'"([^"]+)"[\s,.;:]*$')
_WORD = re.compile(r"[^\W_]+")
_LETTERS = re.compile(r"[^\W\d_]+")
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_FIRST_NUMBER = re.compile(r"\d+")
_SUFFIXES = ("ions", "ion", "ments", "ment", "ness", "ings", "ing", "able", "ible", "edly", "ed", "ly")
_STOPWORD_TEXT = """
a an the and or but nor of to in on at by for from with without within into onto over under about as is are
was were be been being am do does did doing done have has had having will would shall should can could may might
must not no yes this that these those there here it its it's they them their theirs he she him her his hers we
us our ours you your yours i me my mine what which who whom whose when where why how whether if then than so
such any all each every some many much more most other own same only very just also too again further once
up down out off above below between both few nor s t per via vs say says said tell according document documents
page pages please answer question"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Passage:
    title: str
    page: int
    text: str


@dataclass(frozen=True)
class Answer:
    content: str
    reasoning: str
    title: str | None = None
    page: int | None = None
    sentence: str | None = None


def stem(word: str) -> str:
    """A small deterministic suffix stripper: notices, noticed, notice -> notic; terminates, termination -> terminat."""
    w = word.lower()
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def content_words(text: str) -> set[str]:
    """Lowercased words of ``text`` that are not stopwords (single letters dropped, digits kept)."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def _attrs(raw: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in _ATTR.findall(raw)}


def parse_passages(text: str) -> list[Passage]:
    """Every document page and excerpt in ``text``, in the order they appear."""
    found: list[tuple[int, Passage]] = []
    titles: dict[str, str] = {}
    for doc in _DOCUMENT.finditer(text):
        attrs = _attrs(doc.group(1))
        title = attrs.get("title") or attrs.get("file") or attrs.get("id") or "document"
        if "id" in attrs:
            titles[attrs["id"]] = title
        for page in _PAGE.finditer(doc.group(2)):
            found.append((doc.start(2) + page.start(), Passage(title, int(page.group(1)), page.group(2))))
    for excerpt in _EXCERPT.finditer(text):
        attrs = _attrs(excerpt.group(1))
        doc_id = attrs.get("document", "")
        title = attrs.get("title") or titles.get(doc_id) or doc_id or "document"
        first = _FIRST_NUMBER.search(attrs.get("pages", ""))
        body = excerpt.group(2)
        tagged = list(_PAGE.finditer(body))
        if tagged:
            for page in tagged:
                found.append((excerpt.start(2) + page.start(), Passage(title, int(page.group(1)), page.group(2))))
        else:
            found.append((excerpt.start(), Passage(title, int(first.group()) if first else 1, body)))
    for finding in _FINDING.finditer(text):
        body, done = finding.group(1), 0
        for cited in _CITED.finditer(body):
            before = body[done : cited.start()]
            quoted = _QUOTED.search(before)
            passage = (quoted.group(1) if quoted else before).strip().lstrip(".;,: ").strip()
            if passage:
                found.append((finding.start(1) + cited.start(), Passage(cited.group(1).strip(), int(cited.group(2)),
                                                                        passage)))
            done = cited.end()
    return [p for _, p in sorted(found, key=lambda item: item[0])]


def sentences(text: str, min_words: int = 4) -> list[str]:
    """The sentences of ``text``, whitespace runs shown as one space; none crosses a blank line.

    Wrapped lines are joined, so a sentence may run over several lines. A piece shorter than ``min_words`` words
    (a clause number and heading such as "2.1 Initial Term.") stays joined to the sentence that follows it.
    """
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        flat = " ".join(paragraph.split())
        start = 0
        for end in [m.start() for m in _SENTENCE_END.finditer(flat)] + [len(flat)]:
            piece = flat[start:end].strip()
            if piece and (end == len(flat) or len(_LETTERS.findall(piece)) >= min_words):
                out.append(piece)
                start = end
    return out


def _score(stems: set[str], weights: Mapping[str, float]) -> float:
    return sum(weights[s] for s in stems if s in weights)


def answer(messages: Sequence[Mapping[str, Any]]) -> Answer:
    """The double's deterministic reply to a chat request (see the module docstring)."""
    users = [m for m in messages if m.get("role") == "user"]
    last = message_text(users[-1]) if users else ""
    passages = parse_passages("\n".join(message_text(m) for m in messages))
    outside = _BLOCKS.sub(" ", last)  # a "Question:" inside a document's text is not the question
    if QUESTION_MARK in outside:
        question = outside.rsplit(QUESTION_MARK, 1)[1].strip()
    elif passages and outside != last:
        return Answer(READY, "The documents were received; there is no question yet.")
    else:
        question = last.strip()
    wanted = content_stems(question)
    listed = ", ".join(sorted(content_words(question))) or "none"
    page_stems = [content_stems(p.text) for p in passages]
    weights = {s: math.log(1 + len(passages) / df) for s in wanted if (df := sum(s in ps for ps in page_stems)) > 0}
    scored = [(_score(ps, weights), -i) for i, ps in enumerate(page_stems)]
    if not scored or max(scored)[0] <= 0:
        return Answer(NOT_FOUND, f"Question words: {listed}. No page mentions any of them.")
    best_score, neg_index = max(scored)
    passage = passages[-neg_index]
    candidates = sentences(passage.text) or [passage.text.strip()]
    ranked = [(_score(content_stems(s), weights), len(s), -i) for i, s in enumerate(candidates)]
    sentence = candidates[-max(ranked)[2]].replace('"', "'")
    cite = f"[{passage.title} p.{passage.page}]"
    return Answer(
        content=f'According to {passage.title}, "{sentence}" {cite}.',
        reasoning=f"Question words: {listed}. Best match: {cite} (score {best_score:.2f}).",
        title=passage.title,
        page=passage.page,
        sentence=sentence,
    )
