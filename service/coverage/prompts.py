"""The coverage prompts: a map question on one window, and the reduce that merges the windows' findings."""

from __future__ import annotations

from collections.abc import Sequence

from folio.service.context import NOT_FOUND, QUESTION_PREFIX, SYSTEM_PROMPT, WARM_REPLY, fence, warmup_messages

MAP_INSTRUCTIONS = (
    "The documents above are one part of a larger collection; another step merges what every part holds. "
    "From this part only, list everything that bears on the question below, each point with its citation "
    "[TITLE p.N] and the exact words in double quotes where they matter. Leave out nothing relevant and add "
    f"nothing from elsewhere. If nothing in this part bears on the question, reply exactly: {NOT_FOUND}"
)
REDUCE_INSTRUCTIONS = (
    "Below are findings about the question, each from one part of a collection of documents, with citations "
    "[TITLE p.N] to the pages they came from. Merge them into one complete answer to the question: keep every "
    "relevant point with its citations and quotes exactly as given, drop repetitions, and cite nothing that is not "
    f"in the findings. If no finding bears on the question, reply exactly: {NOT_FOUND}"
)
# As for full: the system tokens already count the markers around the documents and the reply "Ready.".
MAP_TEMPLATE_TOKENS = 2


def map_messages(documents_block: str, question: str) -> list[dict[str, str]]:
    """A map question on one window: the warm-up's messages, its reply, then the instructions and question."""
    return [*warmup_messages(documents_block), {"role": "assistant", "content": WARM_REPLY},
            {"role": "user", "content": MAP_INSTRUCTIONS + "\n\n" + QUESTION_PREFIX + question}]


def findings_block(findings: Sequence[tuple[str, str]]) -> str:
    """Findings as the reduce reads them: ``(source label, text)`` pairs in order."""
    parts = ["<findings>\n"]
    for label, text in findings:
        parts.append(f'<finding source="{label}">\n{fence(text.strip())}\n</finding>\n')  # text from the documents
    parts.append("</findings>")
    return "".join(parts)


def reduce_messages(findings: Sequence[tuple[str, str]], question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": REDUCE_INSTRUCTIONS + "\n\n" + findings_block(findings) + "\n\n"
             + QUESTION_PREFIX + question}]


def says_nothing(text: str) -> bool:
    return text.strip().startswith(NOT_FOUND[:30])
