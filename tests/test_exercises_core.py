import pytest
import torch

from coursekit.exercises.ch00 import check_softmax
from coursekit.exercises.core import Exercise, ExerciseFailed


def reference(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def test_reference_passes(capsys):
    result = check_softmax(reference)
    assert result.passed and "passed" in capsys.readouterr().out


def test_not_attempted_is_reported_not_raised(capsys):
    def softmax(x):
        raise NotImplementedError("Exercise: replace this line with your code")

    result = check_softmax(softmax)
    assert result.status == "not attempted"
    assert "not attempted yet" in capsys.readouterr().out


def test_not_attempted_names_the_unsolved_function_that_was_called(capsys):
    def helper_exercise(x):
        raise NotImplementedError

    def softmax(x):
        return helper_exercise(x)

    assert check_softmax(softmax).status == "not attempted"
    out = capsys.readouterr().out
    assert "`helper_exercise` (which `softmax` calls)" in out


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True), "exp(1000) overflows"),
        (lambda x: x.exp() / x.exp().sum(), "row sums are"),
        (lambda x: x.exp().sum(dim=-1), "should have shape (2, 3), got (2,)"),
        (lambda x: (x - x.max()).tolist(), "should be a Tensor, got list"),
        (lambda x: None, "forget the `return`"),
        (lambda x: x.nosuch(), "raised AttributeError"),
        (
            lambda x: torch.sigmoid(x) / torch.sigmoid(x).sum(-1, keepdim=True),
            "values differ from torch.softmax",
        ),
    ],
)
def test_wrong_answers_get_specific_feedback(answer, expected):
    result = check_softmax(answer)
    assert result.status == "failed"
    assert expected in result.message


def test_strict_mode_raises_unless_passed(monkeypatch):
    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    assert check_softmax(reference).passed
    with pytest.raises(ExerciseFailed, match="not attempted"):

        def softmax(x):
            raise NotImplementedError

        check_softmax(softmax)


def test_check_close_reports_location():
    with Exercise("t", strict=False, verbose=False) as ex:
        ex.check_close(torch.tensor([1.0, 2.0, 3.5]), torch.tensor([1.0, 2.0, 3.0]), "bad")
    assert ex.result.message.startswith("bad: largest difference 0.5 at index (2,)")


def test_a_bug_in_a_checker_is_not_hidden():
    with pytest.raises(ZeroDivisionError), Exercise("t", verbose=False):
        1 / 0  # noqa: B018


def test_verdict_symbols_are_in_the_common_fonts():
    """The verdict's symbol must exist in DejaVu Sans Mono (the font Linux machines without an
    emoji font show outputs in; matplotlib ships a copy), else the learner sees an empty box."""
    from pathlib import Path

    import matplotlib
    from fontTools.ttLib import TTFont

    from coursekit.exercises import core

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"
    cmap = TTFont(font).getBestCmap()
    for status, icon in core._ICONS.items():
        missing = [f"U+{ord(ch):04X}" for ch in icon if ord(ch) not in cmap]
        assert not missing, f"{status}: {icon!r} has {missing}, not in {font.name}"
        assert "\ufe0f" not in icon, f"{status}: emoji presentation selector"
    results = [core.ExerciseResult("t", status=s) for s in core._ICONS]
    assert [str(r)[0] for r in results] == list(core._ICONS.values())
