"""A test double for DeepSeek's chat API: an OpenAI-compatible server with DeepSeek's prefix-cache accounting.

It is the executable specification of the cache model Folio plans with (``cache.py``), renders prompts with a
DeepSeek-style chat template (``template.py``), answers deterministically by quoting the best-matching page
(``answer.py``), can inject provider faults (``faults.py``) and runs on loopback in a background thread (``run.py``).
It is not a language model: wherever it answers a person (``folio serve --simulated-model``), the answer is labelled
simulated.
"""

from .answer import NOT_FOUND, READY, Answer, Passage, answer, parse_passages
from .cache import CacheConfig, Clock, Lookup, ManualClock, OffsetClock, PrefixCache, Unit
from .config import DoubleConfig
from .faults import Fault, FaultKind
from .run import DoubleFactory, RunningDouble, double_factory, run_provider_double
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
    "render",
    "run_provider_double",
]
