"""A test double for DeepSeek's chat API: an OpenAI-compatible server with DeepSeek's prefix-cache accounting.

It is the executable specification of the cache model Folio plans with (``cache.py``), renders prompts with a
DeepSeek-style chat template (``template.py``), answers deterministically by quoting the best-matching page
(``answer.py``) and can inject provider faults (``faults.py``). It is never presented to users as a language model.
"""

from .answer import NOT_FOUND, READY, Answer, Passage, answer, parse_passages
from .cache import CacheConfig, Clock, Lookup, ManualClock, OffsetClock, PrefixCache, Unit
from .config import DoubleConfig
from .faults import Fault, FaultKind
from .fixture import DoubleFactory, RunningDouble, double_factory, provider_double, run_provider_double
from .server import LogEntry, create_app
from .template import ASSISTANT, BOS, EOS, THINK_CLOSE, THINK_OPEN, USER, count_tokens, encode, render

__all__ = [
    "ASSISTANT",
    "BOS",
    "EOS",
    "NOT_FOUND",
    "READY",
    "THINK_CLOSE",
    "THINK_OPEN",
    "USER",
    "Answer",
    "CacheConfig",
    "Clock",
    "DoubleConfig",
    "DoubleFactory",
    "Fault",
    "FaultKind",
    "LogEntry",
    "Lookup",
    "ManualClock",
    "OffsetClock",
    "Passage",
    "PrefixCache",
    "RunningDouble",
    "Unit",
    "answer",
    "count_tokens",
    "create_app",
    "double_factory",
    "encode",
    "parse_passages",
    "provider_double",
    "render",
    "run_provider_double",
]
