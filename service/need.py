"""How much a question needs the whole scope: a transparent, rule-based classification.

Lookups (one fact, one clause) gain little from full context; exhaustive, comparative, summarising and
timeline questions, and questions over several documents, gain a lot (DESIGN.md, "Need"). The result names
the cues that decided it, so the plan can show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

NeedClass = Literal["lookup", "exhaustive", "comparative", "summary", "timeline", "multi_document"]

_CUES: dict[NeedClass, list[str]] = {
    "exhaustive": [r"\ball\b", r"\bevery\b", r"\blist\b", r"\bany\b.*\b(?:clauses?|provisions?|terms?)\b",
                   r"\bwhich (?:of the )?(?:contracts|agreements|documents|filings)\b", r"\bhow many\b",
                   r"\bexhaustive", r"\bcomplete list\b", r"\bwherever\b", r"\bthroughout\b"],
    "comparative": [r"\bcompar", r"\bdiffer", r"\bversus\b", r"\bvs\.?\b", r"\bacross\b", r"\bcontrast\b",
                    r"\bbetween\b.+\band\b", r"\bchange[sd]? (?:from|between|over)\b",
                    r"\bincrease[sd]?\b.+\bfrom\b.+\bto\b"],
    "summary": [r"\bsummar", r"\boverview\b", r"\bmain (?:points|terms|risks|obligations)\b",
                r"\bkey (?:terms|points)\b",
                r"\boutline\b", r"\bin short\b", r"\bgist\b", r"\bexplain the (?:agreement|contract|report)\b"],
    "timeline": [r"\btimeline\b", r"\bchronolog", r"\bover time\b", r"\bhistory\b", r"\bsequence of\b",
                 r"\bquarter[- ]by[- ]quarter\b", r"\byear[- ]over[- ]year\b", r"\btrend"],
    "multi_document": [r"\b(?:these|the|all|both) (?:contracts|agreements|documents|filings|reports)\b",
                       r"\beach (?:contract|agreement|document|filing|report)\b", r"\bboth\b"],
}
_COMPILED = {label: [re.compile(c, re.IGNORECASE) for c in cues] for label, cues in _CUES.items()}
_PRIORITY: list[NeedClass] = ["exhaustive", "comparative", "summary", "timeline", "multi_document"]


@dataclass(frozen=True)
class Need:
    label: NeedClass
    cues: list[str] = field(default_factory=list)

    @property
    def wants_full(self) -> bool:
        return self.label != "lookup"

    def explain(self) -> str:
        if not self.cues:
            return "lookup: no cue for an exhaustive, comparative, summarising or multi-document question"
        return f"{self.label}: the question says " + ", ".join(repr(c) for c in self.cues[:4])


def _whole_words(text: str, start: int, end: int) -> str:
    """The cue as the question wrote it: a pattern that matched a stem ("compar") widened to whole words
    ("compared"), so that the plan quotes words a person typed."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[start:end].strip()


def classify(question: str, *, n_documents: int = 1) -> Need:
    """The question's need class and the words that decided it."""
    found: dict[NeedClass, list[str]] = {}
    for label, patterns in _COMPILED.items():
        for pattern in patterns:
            match = pattern.search(question)
            if match:
                found.setdefault(label, []).append(_whole_words(question, match.start(), match.end()))
    if n_documents < 2:
        found.pop("multi_document", None)
    for label in _PRIORITY:
        if label in found:
            cues = [c for lab in _PRIORITY if lab in found for c in found[lab]]
            return Need(label=label, cues=cues)
    return Need(label="lookup")
