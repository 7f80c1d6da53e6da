"""Follow-up questions: whether a question leans on the conversation before it, and what retrieval searches with.

A follow-up such as "and what notice does the other party need?" means nothing to a search engine on its own.
Retrieval searches with a standalone form of it; the model still reads the question as asked, after the history.

Whether a question leans on the history is decided from its words, without a model call (``leans_on_history``):
a pronoun or determiner that points back ("it", "they", "that clause"; not "this agreement", not a relative
"that", not "its" after a name in the same question), an opening or ending that continues ("and ...", "what
about ...", "at what price?", "... too?"), or too few words of its own to search with ("the cure period?"). A
question that names its own subject stands alone and is searched as asked.

When it leans, the standalone form is written by the model from the recent turns (``rewrite_messages``, a short,
priced request that the ledger bills as ``rewrite``), or, without a model or when the model's reply is not a
usable question (``usable_rewrite``), made by prefixing the previous question (``expanded_query``): the words of
the thread's subject plus the follow-up's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# words that point back to something said earlier, when they are not followed by a noun naming the documents
_POINTERS = frozenset({"it", "its", "they", "them", "their", "theirs", "this", "that", "these", "those", "he",
                       "she", "him", "his", "her", "such", "same", "former", "latter", "above", "aforementioned",
                       "there", "then", "one", "ones"})
# pronouns that a name earlier in the same question can be what they point to ("did MGM suspend its dividend")
_PERSONAL = frozenset({"it", "its", "they", "them", "their", "theirs", "he", "she", "him", "his", "her"})
# words before "that"/"which" when it points back ("is that", "about that") rather than opens a relative clause
# ("a clause that limits", "say that")
_BEFORE_POINTING_THAT = frozenset({"is", "was", "are", "were", "does", "did", "do", "about", "of", "in", "under",
                                   "for", "on", "with", "from", "to", "by", "at", "after", "before", "than",
                                   "like", "besides", "beyond", "and", "but", "can", "could", "would", "will",
                                   "if", "when", "once", "unless"})
_PREPOSITION_OPENING = re.compile(r"^\s*(?:at|in|for|by|from|with|on|under|over|during|since|after|before)\b",
                                  re.IGNORECASE)
_CLOSINGS = re.compile(r"\b(?:too|as well|also|instead|then|again)\s*[?.!]*\s*$", re.IGNORECASE)
# nouns after "this"/"that"/"the other" that name the documents themselves, not an earlier answer
_DOCUMENT_NOUNS = frozenset({"agreement", "contract", "document", "documents", "filing", "report", "company",
                             "quarter", "year", "period", "fiscal", "form", "amendment", "exhibit"})
# nouns that name the documents themselves: a question holding one names its own subject
_SUBJECT_NOUNS = frozenset({"agreement", "contract", "filing", "report", "amendment", "exhibit", "lease", "policy"})
_OPENINGS = re.compile(r"^\s*(?:and|but|also|so|then|what about|how about|what else|anything else|and if|what if|"
                       r"same (?:for|question)|why|how so|is that|does that|was that|are they|do they|can they|"
                       r"could they|would that|in that case|if so|if not|otherwise)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]*")
_CONTRACTION = re.compile(r"['\u2019](?:s|re|ve|ll|d|t|m)$")
_STOP = frozenset({"a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be",
                   "been", "what", "which", "who", "whom", "when", "where", "why", "how", "do", "does", "did",
                   "can", "could", "would", "should", "will", "shall", "may", "might", "must", "has", "have",
                   "had", "any", "there", "with", "by", "at", "as", "from", "about", "than", "more", "less",
                   "much", "many", "not", "no", "yes", "if", "so", "also", "then", "please", "tell", "me", "us",
                   "we", "i", "you", "your", "our", "give", "show", "explain", "say", "says", "said", "too",
                   "instead", "again", "well"})
MIN_OWN_WORDS = 2  # content words a question needs to be searched without its history
SHORT_DEFINITE = 3  # a question of this few own words about "the ..." thing, naming nothing, continues a thread
NAMED_SUBJECT_WORDS = 6  # an opening like "and ..." does not lean when the question names this much of its own
REWRITE_MAX_CHARS = 400
REWRITE_OUTPUT_TOKENS = 80
REWRITE_TURNS = 3  # the recent turns a rewrite reads
REWRITE_ANSWER_CHARS = 700  # of each earlier answer, the start (the subject is named early)

REWRITE_SYSTEM = (
    "You rewrite the last question of a conversation about documents as one standalone question that can be "
    "searched for without the conversation: replace words that point back (it, they, that clause, the other "
    "party) with what they refer to, keep every detail the question asks for, and add nothing else. Reply with "
    "the rewritten question only, on one line, without citations or quotes."
)


@dataclass(frozen=True)
class FollowUp:
    """How a question relates to its conversation: whether it leans on it, and the cues that say so."""

    leans: bool
    cues: tuple[str, ...] = ()

    def explain(self) -> str:
        if not self.leans:
            return "the question names its own subject, so retrieval searches with it as asked"
        return "the question leans on the conversation (" + ", ".join(repr(c) for c in self.cues[:3]) + ")"


def own_words(question: str) -> list[str]:
    """The question's content words: what it can be searched with on its own (contractions cut to their stem)."""
    words = (_CONTRACTION.sub("", m.group(0).lower()) for m in _WORD.finditer(question))
    return [w for w in words if w not in _STOP and w not in _POINTERS and len(w) > 1 and w not in ("n",)]


def _names(words: list[str]) -> list[int]:
    """Positions of words that look like names (capitalised, not the question's first word, not "I")."""
    return [i for i, w in enumerate(words) if i > 0 and w[:1].isupper() and w not in ("I",)]


def leans_on_history(question: str) -> FollowUp:
    """Whether ``question`` needs the conversation before it to be understood, from its words alone."""
    cues: list[str] = []
    words = [m.group(0) for m in _WORD.finditer(question)]
    lower = [_CONTRACTION.sub("", w.lower()) for w in words]
    names = _names(words)
    own = own_words(question)
    names_its_subject = (bool(names) or len(own) >= NAMED_SUBJECT_WORDS
                         or any(w in _SUBJECT_NOUNS for w in lower))
    opening = _OPENINGS.match(question) or _PREPOSITION_OPENING.match(question)
    if opening and not names_its_subject:
        cues.append(opening.group(0).strip())
    closing = _CLOSINGS.search(question)
    if closing and len(own) < NAMED_SUBJECT_WORDS:
        cues.append(closing.group(0).strip(" ?.!"))
    for i, word in enumerate(lower):
        if word not in _POINTERS:
            continue
        following = lower[i + 1] if i + 1 < len(lower) else ""
        previous = lower[i - 1] if i > 0 else ""
        if word in ("this", "that", "these", "those", "same") and following in _DOCUMENT_NOUNS:
            continue  # "this agreement" names the document
        if word == "there" and (i == 0 or previous in ("is", "are", "was", "were", "be")):
            continue  # "is there ...": existential, it does not point back
        if word == "that" and i > 0 and previous not in _BEFORE_POINTING_THAT:
            continue  # "a clause that limits", "say that": a relative clause, not a reference
        if word in _PERSONAL and any(n < i for n in names):
            continue  # "did MGM suspend its dividend": its name is in the question
        if word in ("one", "ones") and previous not in ("the", "that", "this", "which", "other", "same", "last"):
            continue  # "one decimal place", "one year": a number; "the other one" points back
        if word == "it" and following in ("is", "was") and i + 2 < len(lower) and lower[i + 2] in ("possible",
                                                                                                  "true"):
            continue  # "is it possible", "is it true that": a phrase, not a reference
        cues.append(words[i])
    if len(own) < MIN_OWN_WORDS:
        cues.append(f"only {len(own)} word(s) of its own")
    elif (len(own) <= SHORT_DEFINITE and not names and re.search(r"\bthe\b", question, re.IGNORECASE)
          and not any(w in _SUBJECT_NOUNS for w in lower)):
        cues.append(f"'the ...' with only {len(own)} word(s) of its own")
    return FollowUp(leans=bool(cues), cues=tuple(dict.fromkeys(cues)))


def expanded_query(question: str, earlier_questions: Sequence[str]) -> str:
    """The search query without a model: the previous question (the thread's subject) and the follow-up."""
    previous = next((q for q in reversed(earlier_questions) if q.strip()), "")
    return f"{previous.strip()} {question.strip()}".strip()


def rewrite_messages(question: str, history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The rewrite request: the recent turns (question, start of the answer) and the follow-up."""
    lines = []
    for asked, answered in list(history)[-REWRITE_TURNS:]:
        answer = " ".join(answered.split())
        if len(answer) > REWRITE_ANSWER_CHARS:
            answer = answer[:REWRITE_ANSWER_CHARS].rsplit(" ", 1)[0] + " ..."
        lines.append(f"Question: {' '.join(asked.split())}\nAnswer: {answer}")
    conversation = "\n\n".join(lines)
    return [{"role": "system", "content": REWRITE_SYSTEM},
            {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast question: {question.strip()}"}]


_CITATION = re.compile(r"\[[^\]]*\bp\.\s*\d")


def usable_rewrite(text: str, question: str) -> str | None:
    """The model's rewrite when it is a usable standalone question: one line, not too long, no citation, and
    not a refusal; None otherwise (the caller falls back to ``expanded_query``)."""
    line = " ".join(text.strip().strip('"').split())
    if not line or len(line) > max(REWRITE_MAX_CHARS, 3 * len(question)):
        return None
    if _CITATION.search(line) or line.lower().startswith("the documents do not contain"):
        return None
    if len(own_words(line)) < MIN_OWN_WORDS:
        return None
    return line
