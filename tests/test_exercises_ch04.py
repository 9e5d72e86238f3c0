"""Checkers of chapter 04: the reference passes, wrong answers fail with a message naming why."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit.exercises import ch04


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def forget_bias(fraction, steps):
    f = fraction ** (1 / steps)
    return math.log(f / (1 - f))


def lstm_params(i, h, layers):
    return sum(4 * (h * (i if layer == 0 else h) + h * h + 2 * h) for layer in range(layers))


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch04.check_lstm_step, lstm_step),
    (ch04.check_forget_bias, forget_bias),
    (ch04.check_lstm_num_parameters, lstm_params),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    assert checker(reference).passed


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    result = checker(not_yet)
    assert result.status == "not attempted"
    assert "`not_yet`" in result.message


def _lstm_article_order(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, o, g = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _lstm_no_tanh(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * c, c


def _lstm_h_off(*args):  # right c, h slightly off: only the final value check catches it
    h, c = lstm_step(*args)
    return h + 1e-3, c


def _lstm_c_off(*args):
    h, c = lstm_step(*args)
    return h, c + 1e-3


WRONG = [
    # generic placeholders
    (
        ch04.check_lstm_step,
        lambda x, h, c, *w: (torch.zeros_like(h), torch.zeros_like(c)),
        "all zeros",
    ),
    (ch04.check_lstm_step, lambda x, h, c, *w: (h, c), "`h` returned unchanged"),
    (ch04.check_lstm_step, lambda x, h, c, *w: h, "return the pair"),
    (ch04.check_forget_bias, lambda p, n: 0.0, "a zero bias"),
    (ch04.check_forget_bias, lambda p, n: math.log(p / (1 - p)), "gate for one step"),
    (ch04.check_forget_bias, lambda p, n: p, "the fraction itself"),
    (ch04.check_forget_bias, lambda p, n: "b", "return one number"),
    (ch04.check_lstm_num_parameters, lambda i, h, n: 0, "placeholder"),
    (ch04.check_lstm_num_parameters, lambda i, h, n: i, "placeholder"),
    # typical mistakes
    (ch04.check_lstm_step, _lstm_article_order, "i, f, g, o"),
    (ch04.check_lstm_step, _lstm_no_tanh, "tanh of the new cell state"),
    (ch04.check_forget_bias, lambda p, n: p ** (1 / n), "is the gate value"),
    (ch04.check_forget_bias, lambda p, n: math.log(p ** (1 / n)), "= log f"),
    (ch04.check_forget_bias, lambda p, n: forget_bias(1 - (1 - p) / n, 1), "spread the loss"),
    (
        ch04.check_lstm_num_parameters,
        lambda i, h, n: lstm_params(i, h, n) - 4 * h * n,
        "two bias vectors",
    ),
    (ch04.check_lstm_num_parameters, lambda i, h, n: n * 4 * (h * i + h * h + 2 * h), "width H"),
    # wrong in value only: these reach the final checks (removing one fails its test)
    (ch04.check_lstm_step, _lstm_c_off, "c_t differs from torch.nn.LSTMCell"),
    (ch04.check_lstm_step, _lstm_h_off, "h_t differs from torch.nn.LSTMCell"),
    (ch04.check_forget_bias, lambda p, n: forget_bias(p, n) + 0.01, "should be 4.9682"),
    (ch04.check_lstm_num_parameters, lambda i, h, n: lstm_params(i, h, n) + 1, "has 2560, you say"),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_wrong_answers_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


def test_forget_bias_for_half_over_100_steps_is_about_5():
    b = forget_bias(0.5, 100)
    assert 4.9 < b < 5.0
    keep = torch.sigmoid(torch.tensor(b, dtype=torch.float64)) ** 100  # the claim: σ(b)^100 = 1/2
    assert math.isclose(float(keep), 0.5, rel_tol=1e-9)


def test_strict_mode_raises(monkeypatch):
    from coursekit.exercises.core import ExerciseFailed

    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed):
        ch04.check_lstm_step(_lstm_article_order)
