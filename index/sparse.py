"""BM25 sparse vectors, scored over the question's scope.

A chunk's vector holds, for each stemmed term, the BM25 term-frequency part
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))``. A query vector holds 1.0 for each distinct term;
before a search it is weighted (``weighted``) by each term's inverse document frequency over the chunks of the
documents searched (``idf``: Qdrant's own formula, with the counts the records keep per document,
``folio.records.term_stats``), and the collection scores a plain dot product (no ``Modifier.IDF``). So a score is
BM25 over the scope: it moves only with the documents searched, never with another tenant's or another
document's words. Terms are hashed to 31-bit indices (blake2b), stable across processes and versions.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping
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


def idf(chunks: int, containing: int) -> float:
    """A term's inverse document frequency among ``chunks`` chunks, ``containing`` of which hold it (Qdrant's
    ``Modifier.IDF``: ``ln((N - df + 0.5) / (df + 0.5) + 1)``)."""
    return math.log((chunks - containing + 0.5) / (containing + 0.5) + 1.0)


def weighted(query: SparseVector, chunks: int, containing: Mapping[int, int]) -> SparseVector:
    """The query's terms weighted by their IDF over a scope of ``chunks`` chunks (``containing``: term -> the
    chunks that hold it); terms no chunk of the scope holds are left out (they could match nothing)."""
    kept = [(i, v * idf(chunks, containing[i])) for i, v in zip(query.indices, query.values, strict=True)
            if containing.get(i, 0) > 0]
    return SparseVector(indices=[i for i, _ in kept], values=[v for _, v in kept])
