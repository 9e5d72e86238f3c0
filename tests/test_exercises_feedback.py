"""Every checker of every chapter, in one place: a deliberately wrong answer gets a failed verdict
whose message names what is wrong, not a bare "incorrect".

The checkers are enumerated from each ``coursekit/exercises/chNN.py``'s ``__all__``, so a new
checker without a wrong answer in ``coursekit.exercises.mistakes.MISTAKES`` fails
``test_every_checker_has_a_wrong_answer``. The chapters' own tests (``test_exercises_chNN.py``)
check the exact messages; this one checks the rule for all of them.
"""

from __future__ import annotations

import pytest
import torch

from coursekit.exercises import mistakes
from coursekit.exercises.core import Exercise, ExerciseResult

CHECKERS = mistakes.checkers()


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


def test_the_checkers_are_enumerated():
    # 38 when this test was written; fewer means a module's __all__ lost its checkers.
    assert len(CHECKERS) >= 38
    assert {name.split(".")[0] for name in CHECKERS} == {f"ch{n}" for n in mistakes.CHAPTERS}


def test_every_checker_has_a_wrong_answer():
    covered = {m.checker for m in mistakes.MISTAKES}
    missing = sorted(set(CHECKERS) - covered)
    assert not missing, (
        f"checkers without a deliberately wrong answer in coursekit/exercises/mistakes.py: {missing}"
    )
    assert covered <= set(CHECKERS), sorted(covered - set(CHECKERS))


@pytest.mark.parametrize("mistake", mistakes.MISTAKES, ids=lambda m: f"{m.checker}: {m.what}")
def test_a_wrong_answer_gets_specific_feedback(mistake, monkeypatch):
    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")  # run_mistake must override it
    result = mistakes.run_mistake(mistake)
    assert result.status == "failed", (result.status, result.message)
    assert mistakes.is_specific(result, mistake.checker), result.message
    assert len(result.message.split()) >= 5, result.message


def _result(status: str, message: str) -> ExerciseResult:
    return ExerciseResult("xx.1 example", status=status, message=message)


@pytest.mark.parametrize(
    "message",
    [
        "incorrect",
        "Incorrect.",
        "not yet right",
        "",
        "`softmax` raised TypeError: unsupported operand (at line 2: `return x + None`).",
        "`softmax` returned None: did you forget the `return` statement?",
        "the result should have shape (2, 3), got (3, 2).",  # the framework's, any checker's
    ],
)
def test_generic_or_framework_messages_are_not_specific(message):
    assert not mistakes.is_specific(_result("failed", message), "ch00.check_softmax")


def test_a_passing_or_unattempted_verdict_is_not_specific_feedback():
    hint = "overflows"  # any message of ch00's own would do; the status decides
    assert not mistakes.is_specific(_result("passed", hint), "ch00.check_softmax")
    assert not mistakes.is_specific(_result("not attempted", hint), "ch00.check_softmax")


def test_the_checkers_own_diagnosis_is_specific():
    result = CHECKERS["ch00.check_softmax"](lambda x: x.exp() / x.exp().sum())
    assert mistakes.is_specific(result, "ch00.check_softmax"), result.message
    # ... and it is the checker's own: another chapter's module never wrote it
    assert not mistakes.is_specific(result, "ch07.check_attention")


def test_a_checker_that_only_says_incorrect_would_fail():
    def check_vague(answer) -> ExerciseResult:
        with Exercise("xx.1 vague", strict=False, verbose=False) as ex:
            ex.check(bool(torch.equal(answer(torch.ones(2)), torch.ones(2))), "incorrect")
        return ex.result

    result = check_vague(lambda x: x * 2)
    assert result.status == "failed"
    assert not mistakes.is_specific(result, "ch00.check_softmax")
