"""BM25 sparse vectors for Qdrant's IDF modifier.

A document vector holds, for each stemmed term, the BM25 term-frequency part
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))``; Qdrant multiplies in the IDF at query time
(``Modifier.IDF``), from the statistics of the collection itself. A query vector holds 1.0 for each
distinct term. Terms are hashed to 31-bit indices (blake2b), stable across processes and versions.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

K1 = 1.2
B = 0.75
AVG_LEN = 120.0

_TOKEN = re.compile(r"[^\W_]+(?:[.,'][^\W_]+)*")
_STOPWORDS = frozenset(
    [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
        "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having",
        "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it",
        "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
        "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so",
        "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these",
        "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
        "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
        "yourself", "yourselves", "shall", "hereof", "herein", "thereof"
    ]
)


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@lru_cache(maxsize=1)
def _stemmer() -> object:
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english", ignore_stopwords=False)


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stem(word))  # type: ignore[attr-defined]


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed terms without stopwords; numbers such as 1,101,643 or 5.5 stay whole."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token in _STOPWORDS:
            continue
        out.append(_stem(token) if token.isalpha() else token.replace(",", ""))
    return out


@lru_cache(maxsize=200_000)
def term_index(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little") & 0x7FFFFFFF


def document_vector(text: str, *, k1: float = K1, b: float = B, avg_len: float = AVG_LEN) -> SparseVector:
    counts = Counter(terms(text))
    length = sum(counts.values())
    norm = k1 * (1 - b + b * length / avg_len)
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + tf * (k1 + 1) / (tf + norm)
    indices = sorted(merged)
    return SparseVector(indices=indices, values=[merged[i] for i in indices])


def query_vector(text: str) -> SparseVector:
    indices = sorted({term_index(t) for t in terms(text)})
    return SparseVector(indices=indices, values=[1.0] * len(indices))
