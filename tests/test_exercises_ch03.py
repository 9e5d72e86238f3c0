"""Checkers of chapter 03: the reference passes; generic and typical wrong answers fail, each with
its own message; a shape error in the learner's code comes back as a hint."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit.exercises import ch03


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def steps_to_vanish(W_hh, tol=1e-3, max_steps=1000):
    power = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
    for k in range(1, max_steps + 1):
        power = W_hh @ power
        if torch.linalg.matrix_norm(power, ord=2) < tol:
            return k
    return None


def rnn_backward(xs, h0, W_hh, states, grad_states):
    dW_xh = torch.zeros(W_hh.shape[0], xs.shape[-1], dtype=xs.dtype)
    dW_hh, db = torch.zeros_like(W_hh), torch.zeros(W_hh.shape[0], dtype=xs.dtype)
    from_next = torch.zeros_like(h0)
    for t in reversed(range(xs.shape[1])):
        h_prev = states[:, t - 1] if t > 0 else h0
        a = (grad_states[:, t] + from_next) * (1 - states[:, t] ** 2)
        dW_xh, dW_hh, db = dW_xh + a.T @ xs[:, t], dW_hh + a.T @ h_prev, db + a.sum(0)
        from_next = a @ W_hh
    return dW_xh, dW_hh, db, from_next


def truncated_rnn(xs, h0, W_xh, W_hh, b, window):
    h, states = h0, []
    for t, x_t in enumerate(xs.unbind(1)):
        if t > 0 and t % window == 0:
            h = h.detach()
        h = torch.tanh(x_t @ W_xh.T + h @ W_hh.T + b)
        states.append(h)
    return torch.stack(states, dim=1)


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch03.check_steps_to_vanish, steps_to_vanish),
    (ch03.check_rnn_backward, rnn_backward),
    (ch03.check_truncated_rnn, truncated_rnn),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    assert checker(reference).passed


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    assert checker(not_yet).status == "not attempted"


# --- wrong answers for 03.1 ----------------------------------------------------------------------
def _vanish_with(norm, power=lambda w, k: torch.linalg.matrix_power(w, k), start=1, shift=0):
    def answer(W_hh, tol=1e-3, max_steps=1000):
        for k in range(start, max_steps + 1):
            if norm(power(W_hh, k)) < tol:
                return k + shift
        return None

    return answer


spectral = lambda m: torch.linalg.matrix_norm(m, ord=2)  # noqa: E731


def _norm_power(W_hh, tol=1e-3, max_steps=1000):
    return _vanish_with(lambda m: m, power=lambda w, k: spectral(w) ** k)(W_hh, tol, max_steps)


def _radius_power(W_hh, tol=1e-3, max_steps=1000):
    rho = float(torch.linalg.eigvals(W_hh).abs().max())
    return _vanish_with(lambda m: m, power=lambda w, k: rho**k)(W_hh, tol, max_steps)


def _fixed_tol(W_hh, tol=1e-3, max_steps=1000):
    return steps_to_vanish(W_hh, 1e-3, max_steps)


def _no_max_steps(W_hh, tol=1e-3, max_steps=1000):
    return steps_to_vanish(W_hh, tol, 1000)


def _right_on_the_rotation_only(W_hh, tol=1e-3, max_steps=1000):
    k = steps_to_vanish(W_hh, tol, max_steps)
    return k + 2 if W_hh.shape == (2, 2) else k  # wrong, and no named mistake, on the 2x2 matrix


VANISH_WRONG = [
    (lambda w, tol=1e-3, max_steps=1000: 0, "k = 0 is never the answer"),  # "zeros"
    (lambda w, tol=1e-3, max_steps=1000: w, "returned W_hh unchanged"),  # the input unchanged
    (lambda w, tol=1e-3, max_steps=1000: None, "did you forget `return k`"),
    (lambda w, tol=1e-3, max_steps=1000: [1, 2], "return a number of steps"),
    (_vanish_with(spectral, shift=-1), "the last k whose norm is still above tol"),
    (_vanish_with(spectral, start=0, shift=1), "once too often"),
    (_vanish_with(torch.linalg.matrix_norm), "Frobenius norm"),
    (_vanish_with(spectral, power=lambda w, k: w**k), "raises every entry to the power k"),
    (_norm_power, "norm of the power, not the power of the norm"),
    (_radius_power, "spectral radius"),
    (lambda w, tol=1e-3, max_steps=1000: steps_to_vanish(w, tol, max_steps) or 1000, "return None"),
    (
        lambda w, tol=1e-3, max_steps=1000: steps_to_vanish(w, tol, max_steps) or math.inf,
        "returned inf",
    ),
    (_fixed_tol, "use the argument tol"),
    (_no_max_steps, "with max_steps = 10"),
    # passes every named-mistake check of the first matrix; only the final value check catches it
    (_vanish_with(spectral, shift=5), "first below 1e-3 at k = 20; you returned 25"),
    (_right_on_the_rotation_only, "for W_hh = [[0.5, 4], [0, 0.6]] the first k"),  # final check
]


# --- wrong answers for 03.2 ----------------------------------------------------------------------
def _backward_with(**flags):
    return lambda xs, h0, W_hh, states, grads: ch03._bptt(xs, h0, W_hh, states, grads, **flags)


def _swap(i, fn):
    """The reference with output ``i`` replaced by ``fn(reference output)``."""

    def answer(*args):
        out = list(rnn_backward(*args))
        out[i] = fn(out[i])
        return tuple(out)

    return answer


def _untransposed(xs, h0, W_hh, states, grad_states):
    h = h0
    for x_t in xs.unbind(1):
        h = h @ W_hh + x_t  # (B, H) @ (H, H) + (B, D): a shape error with D != H
    return rnn_backward(xs, h0, W_hh, states, grad_states)


BACKWARD_WRONG = [
    (
        lambda *args: tuple(torch.zeros_like(g) for g in rnn_backward(*args)),
        "all gradients are zero",
    ),
    (lambda *args: rnn_backward(*args)[:3], "return four gradients"),
    (_swap(0, lambda g: g.T), "the transpose of (4, 3)"),
    (_swap(1, lambda g: g.T), "dW_hh is the transpose"),
    (_backward_with(carry="none"), "also arrives from step t + 1"),
    (_backward_with(carry="transposed"), "its backward is a @ W_hh"),
    (_backward_with(slope="h_prev"), "not 1 - h_(t-1)^2"),
    (_backward_with(slope="none"), "the tanh derivative is missing"),
    (_backward_with(accumulate=False), "add up over all steps"),
    (_backward_with(first_prev="zeros"), "the previous state is h0"),
    (_swap(3, lambda g: g * 2), "dh0 differs from autograd's"),  # only the final check catches it
    (_swap(2, lambda g: g + 1e-3), "db differs from autograd's"),
    (_untransposed, "Hint: here xs is (B, T, D)"),
]


# --- wrong answers for 03.3 ----------------------------------------------------------------------
def _tbptt(step, *, cut=lambda t, window: t > 0 and t % window == 0, start=None, reset=None):
    """A family of answers: ``step(x_t, h, ...)`` and when to cut / what to restart from."""

    def answer(xs, h0, W_xh, W_hh, b, window):
        h = h0 if start is None else start(h0)
        states = []
        for t, x_t in enumerate(xs.unbind(1)):
            if cut(t, window):
                h = h.detach() if reset is None else reset(h0)
            h = step(x_t, h, h0, W_xh, W_hh, b)
            states.append(h)
        return torch.stack(states, dim=1)

    return answer


def _step(x_t, h, h0, W_xh, W_hh, b):
    return torch.tanh(x_t @ W_xh.T + h @ W_hh.T + b)


def _half_gradient(xs, h0, W_xh, W_hh, b, window):
    states = truncated_rnn(xs, h0, W_xh, W_hh, b, window)
    return states.detach() + 0.5 * (states - states.detach())  # right values, half the gradient


TBPTT_WRONG = [
    (lambda xs, h0, a, w, b, n: torch.zeros(*xs.shape[:2], h0.shape[1]), "all states are zero"),
    (lambda xs, h0, a, w, b, n: xs, "returned the input xs unchanged"),
    (lambda xs, h0, a, w, b, n: truncated_rnn(xs, h0, a, w, b, n)[:, -1], "one state per sequence"),
    (_tbptt(lambda x_t, h, h0, a, w, b: torch.tanh(x_t @ a.T + b)), "never use the hidden state"),
    (
        _tbptt(lambda x_t, h, h0, a, w, b: torch.tanh(x_t @ a.T + h0 @ w.T + b)),
        "every step uses h0",
    ),
    (_tbptt(_step, reset=torch.zeros_like), "restarted the state at each window"),
    (_tbptt(_step, reset=lambda h0: h0), "restarted the state at each window"),
    (_tbptt(_step, start=torch.zeros_like), "starts from zeros"),
    (_tbptt(_step, cut=lambda t, window: False), "reaches every earlier step"),
    (_tbptt(_step, cut=lambda t, window: True), "cut the gradient at every step"),
    (_tbptt(_step, cut=lambda t, window: t % window == 1), "the cut is in the wrong place"),
    (lambda *args: truncated_rnn(*args).detach(), "no gradient reaches the inputs"),
    (lambda *args: truncated_rnn(*args) + 1e-3, "the states differ from the recurrence"),  # final
    (_half_gradient, "the gradient with respect to xs differs"),  # the final gradient check
    (_tbptt(lambda x_t, h, h0, a, w, b: torch.tanh(x_t @ a + h @ w.T + b)), "a missing .T"),
]


WRONG = (
    [(ch03.check_steps_to_vanish, *case) for case in VANISH_WRONG]
    + [(ch03.check_rnn_backward, *case) for case in BACKWARD_WRONG]
    + [(ch03.check_truncated_rnn, *case) for case in TBPTT_WRONG]
)


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_wrong_answers_get_their_own_message(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


def test_shape_error_keeps_the_learners_line():
    def truncated_rnn(xs, h0, W_xh, W_hh, b, window):
        h, states = h0, []
        for x_t in xs.unbind(1):
            h = torch.tanh(x_t @ W_xh + h @ W_hh.T + b)  # W_xh untransposed
            states.append(h)
        return torch.stack(states, dim=1)

    message = ch03.check_truncated_rnn(truncated_rnn).message
    assert "mat1 and mat2 shapes cannot be multiplied" in message
    assert "Hint: here xs is (B, T, D)" in message
    assert "x_t @ W_xh + h @ W_hh.T + b" in message  # the line that failed, not the wrapper's


def test_strict_mode_raises(monkeypatch):
    from coursekit.exercises.core import ExerciseFailed

    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed):
        ch03.check_truncated_rnn(lambda *args: truncated_rnn(*args) + 1e-3)
