"""Whether a question leans on its conversation, decided from its words; the standalone query and the checks on
a model's rewrite."""

from __future__ import annotations

import pytest

from folio.service.followup import expanded_query, leans_on_history, rewrite_messages, usable_rewrite


@pytest.mark.parametrize("question", [
    "And what notice does the other party need?", "Can they terminate it early?", "What about the renewal term?",
    "Is that capped?", "Why?", "When does it expire?", "How much were those in 2022?", "And the year before?",
])
def test_follow_ups_lean(question):
    assert leans_on_history(question).leans


@pytest.mark.parametrize("question", [
    "What is the governing law of this agreement?", "Is there a non-compete clause?",
    "How long is the initial term of the Sponsorship Agreement?", "Who pays for insurance under this contract?",
    "What was Apple's total net sales in the June 2023 quarter?",
])
def test_questions_that_name_their_subject_stand_alone(question):
    assert not leans_on_history(question).leans


def test_the_expanded_query_and_the_rewrite_request():
    expanded = expanded_query("And the notice?", ["What ends the agreement?", ""])
    assert expanded == "What ends the agreement? And the notice?"
    messages = rewrite_messages("And the notice?", [("What ends it?", "Termination for cause. " * 100)])
    assert messages[-1]["content"].endswith("Last question: And the notice?")
    assert len(messages[-1]["content"]) < 1_200  # earlier answers are cut


def test_a_rewrite_must_be_a_question_of_its_own():
    assert usable_rewrite('"What notice ends the Supply Agreement?"', "And the notice?") == \
        "What notice ends the Supply Agreement?"
    assert usable_rewrite("The documents do not contain the answer.", "And?") is None
    assert usable_rewrite('"Notice is 30 days" [Supply p.3]', "And the notice?") is None
    assert usable_rewrite("", "And?") is None
