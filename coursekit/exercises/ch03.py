"""Checkers for chapter 03 (RNN): how far a gradient survives, backpropagation through time by
hand, and truncated backpropagation through time.

Every checker turns a shape error raised inside the learner's code (a missing ``.T``, a
broadcasting mismatch) into a hint that names the shapes involved, and names the typical mistake
when an answer matches one.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable

import torch

from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_rnn_backward", "check_steps_to_vanish", "check_truncated_rnn"]

_SHAPE_WORDS = ("shape", "size", "dimension", "mat1", "mat2", "number of elements")


def _with_shape_hint(fn: Callable, hint: str) -> Callable:
    """``fn``, but a shape error it raises carries ``hint`` (the traceback, so the learner's line
    that :meth:`Exercise.call` reports, is kept)."""

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            if any(word in str(exc) for word in _SHAPE_WORDS):
                exc.args = (f"{exc}. Hint: {hint}",)
            raise

    return guarded


# --- 03.1 ----------------------------------------------------------------------------------------
def _first_below(norm_of_power: Callable[[int], float], tol: float, max_steps: int) -> int | None:
    """The smallest k in 1..max_steps with ``norm_of_power(k) < tol``, else None."""
    for k in range(1, max_steps + 1):
        if norm_of_power(k) < tol:
            return k
    return None


def _power_norms(w: torch.Tensor, ord: float | str) -> Callable[[int], float]:
    powers = [torch.eye(w.shape[0], dtype=w.dtype)]

    def norm(k: int) -> float:
        while len(powers) <= k:
            powers.append(w @ powers[-1])
        return float(torch.linalg.matrix_norm(powers[k], ord=ord))

    return norm


def _as_steps(out: object) -> int | str | None:
    """The learner's answer as an int or None; a string says why it is neither."""
    if torch.is_tensor(out):
        if out.numel() != 1:
            return f"a tensor of shape {tuple(out.shape)}"
        out = out.item()
    if out is None:
        return None
    if isinstance(out, bool):
        return f"a bool ({out})"
    if isinstance(out, float) and out.is_integer():
        return int(out)
    try:
        return operator.index(out)
    except TypeError:
        return f"a {type(out).__name__} ({out!r})"


def check_steps_to_vanish(
    steps_to_vanish: Callable[..., int | None],
) -> ExerciseResult:
    """03.1: ``steps_to_vanish(W_hh, tol=1e-3, max_steps=1000)``: the smallest ``k >= 1`` with
    ``||W_hh^k||_2 < tol`` (the linearised RNN's gradient after k steps), None if none up to
    ``max_steps``."""
    with Exercise("03.1 how far back does the gradient reach?") as ex:
        fn = _with_shape_hint(
            steps_to_vanish,
            "W_hh is (H, H) and so is every power W_hh @ W_hh @ ...; the norm of a matrix is "
            "torch.linalg.matrix_norm(M, ord=2), one number.",
        )
        gen = torch.Generator().manual_seed(0)
        q, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen, dtype=torch.float64))
        rotation = 0.7 * q  # every singular value 0.7: ||W^k|| = 0.7^k exactly
        skewed = torch.tensor([[0.5, 4.0], [0.0, 0.6]], dtype=torch.float64)  # ||W|| > 1, rho 0.6
        expanding = 1.1 * q

        @functools.wraps(steps_to_vanish)
        def boxed(*args: object) -> tuple:
            return (fn(*args),)  # None is a valid answer here, so ex.call must not see it bare

        def answer(w: torch.Tensor, *args: object) -> int | None:
            (out,) = ex.call(boxed, w.clone(), *args)
            if isinstance(out, float) and math.isinf(out):
                ex.fail(
                    "you returned inf: when no k up to max_steps brings the norm below tol, "
                    "return None."
                )
            steps = _as_steps(out)
            if torch.is_tensor(out) and out.shape == w.shape and torch.allclose(out, w):
                ex.fail("you returned W_hh unchanged: return the number of steps k, an int.")
            if isinstance(steps, str):
                ex.fail(
                    f"return a number of steps (an int) or None, got {steps}: e.g. `return k` "
                    "inside the loop over k = 1, 2, ..."
                )
            return steps

        spectral = _power_norms(rotation, 2)
        expected = _first_below(spectral, 1e-3, 1000)  # 20
        got = answer(rotation, 1e-3, 1000)
        if got is None:
            ex.fail(
                f"you returned None, but for W_hh = 0.7 x (a rotation) ||W_hh^k||_2 = 0.7^k falls "
                f"below 1e-3 at k = {expected} (did you forget `return k`?)."
            )
        if got == 0:
            ex.fail(
                "k = 0 is never the answer: W^0 = I has norm 1, above tol. Start at k = 1 and "
                "stop at the first power whose norm is below tol."
            )
        if got == expected - 1:
            ex.fail(
                f"off by one: you returned {got}, the last k whose norm is still above tol; "
                "return the first k with ||W_hh^k||_2 < tol."
            )
        if got == expected + 1:
            ex.fail(
                f"off by one: you returned {got}, but ||W_hh^{expected}||_2 is already below tol "
                "(did k start at 0 and get incremented once too often?)."
            )
        if got == _first_below(_power_norms(rotation, "fro"), 1e-3, 1000):
            ex.fail(
                "that is the Frobenius norm (the default of torch.linalg.norm / matrix_norm): the "
                "gradient's worst-case amplification is the spectral norm, matrix_norm(M, ord=2)."
            )
        elementwise = _first_below(
            lambda k: float(torch.linalg.matrix_norm(rotation**k, ord=2)), 1e-3, 1000
        )
        if got == elementwise:
            ex.fail(
                "W_hh ** k raises every entry to the power k; the Jacobian after k steps is the "
                "matrix power W_hh @ W_hh @ ... (torch.linalg.matrix_power(W_hh, k))."
            )
        ex.check(
            got == expected,
            f"for W_hh = 0.7 x (a rotation) every power has ||W_hh^k||_2 = 0.7^k, first below "
            f"1e-3 at k = {expected}; you returned {got}.",
        )

        got = answer(skewed, 1e-3, 1000)
        expected = _first_below(_power_norms(skewed, 2), 1e-3, 1000)
        norm = float(torch.linalg.matrix_norm(skewed, ord=2))
        if got is None:
            ex.fail(
                f"this W_hh = [[0.5, 4], [0, 0.6]] has ||W_hh||_2 = {norm:.2f} > 1, but its powers "
                f"shrink (eigenvalues 0.5 and 0.6): ||W_hh^k||_2 < 1e-3 from k = {expected} on. "
                "Take the norm of the power, not the power of the norm (||W^k|| <= ||W||^k)."
            )
        if got == _first_below(lambda k: 0.6**k, 1e-3, 1000):
            ex.fail(
                "that uses the spectral radius (largest |eigenvalue|, 0.6 here) to the power k: it "
                "sets the rate in the long run, but this matrix first amplifies, so the norm of "
                f"W_hh^k falls below 1e-3 only at k = {expected}."
            )
        ex.check(
            got == expected,
            f"for W_hh = [[0.5, 4], [0, 0.6]] the first k with ||W_hh^k||_2 < 1e-3 is {expected}; "
            f"you returned {got}.",
        )

        got = answer(expanding, 1e-3, 1000)
        ex.check(
            got is None,
            f"for W_hh = 1.1 x (a rotation) the norm grows as 1.1^k and never falls below tol: "
            f"return None when no k up to max_steps qualifies (you returned {got}).",
        )
        got = answer(rotation, 1e-2, 1000)
        expected = _first_below(spectral, 1e-2, 1000)  # 13
        ex.check(
            got == expected,
            f"with tol = 1e-2 the answer is k = {expected}, you returned {got}: use the argument "
            "tol, not a fixed 1e-3.",
        )
        got = answer(rotation, 1e-3, 10)
        ex.check(
            got is None,
            f"with max_steps = 10 no k qualifies (the first is 20): return None; you returned {got}.",
        )
    return ex.result


# --- 03.2 ----------------------------------------------------------------------------------------
def _bptt(
    xs: torch.Tensor,
    h0: torch.Tensor,
    w_hh: torch.Tensor,
    states: torch.Tensor,
    grad_states: torch.Tensor,
    *,
    carry: str = "right",
    slope: str = "h_t",
    accumulate: bool = True,
    first_prev: str = "h0",
) -> tuple[torch.Tensor, ...]:
    """The reference backward pass of ``h_t = tanh(x_t W_xh^T + h_(t-1) W_hh^T + b)``, and the
    typical mistakes: ``carry`` "right" / "none" (no gradient through the next state) /
    "transposed" (through ``W_hh^T``); ``slope`` "h_t" / "h_prev" / "none" (the tanh derivative);
    ``accumulate=False`` keeps one step's contribution; ``first_prev="zeros"`` ignores ``h0``."""
    B, T, H = states.shape
    g_w_xh = torch.zeros(H, xs.shape[-1], dtype=states.dtype)
    g_w_hh = torch.zeros(H, H, dtype=states.dtype)
    g_b = torch.zeros(H, dtype=states.dtype)
    from_next = torch.zeros(B, H, dtype=states.dtype)  # dL/dh_t through step t + 1
    for t in reversed(range(T)):
        h_prev = states[:, t - 1] if t > 0 else (h0 if first_prev == "h0" else torch.zeros_like(h0))
        g_h = grad_states[:, t] + from_next  # both sources of dL/dh_t
        derivative = {"h_t": 1 - states[:, t] ** 2, "h_prev": 1 - h_prev**2, "none": 1.0}[slope]
        a = g_h * derivative  # dL/d(pre-activation at step t), (B, H)
        parts = (a.T @ xs[:, t], a.T @ h_prev, a.sum(0))
        if accumulate:
            g_w_xh, g_w_hh, g_b = g_w_xh + parts[0], g_w_hh + parts[1], g_b + parts[2]
        else:
            g_w_xh, g_w_hh, g_b = parts
        if carry == "right":
            from_next = a @ w_hh
        elif carry == "transposed":
            from_next = a @ w_hh.T
    return g_w_xh, g_w_hh, g_b, from_next


def check_rnn_backward(rnn_backward: Callable[..., tuple]) -> ExerciseResult:
    """03.2: ``rnn_backward(xs, h0, W_hh, states, grad_states) -> (dW_xh, dW_hh, db, dh0)``:
    backpropagation through time by hand, for ``h_t = tanh(x_t W_xh^T + h_(t-1) W_hh^T + b)``;
    ``grad_states[:, t]`` is the gradient that reaches ``h_t`` from step t's output only."""
    with Exercise("03.2 backpropagation through time by hand") as ex:
        B, T, D, H = 2, 6, 3, 4
        gen = torch.Generator().manual_seed(5)
        xs = torch.randn(B, T, D, generator=gen, dtype=torch.float64)
        h0 = torch.randn(B, H, generator=gen, dtype=torch.float64)
        w_xh = (torch.randn(H, D, generator=gen, dtype=torch.float64) * 0.8).requires_grad_()
        w_hh = (torch.randn(H, H, generator=gen, dtype=torch.float64) * 0.8).requires_grad_()
        b = (torch.randn(H, generator=gen, dtype=torch.float64) * 0.3).requires_grad_()
        h0_leaf = h0.clone().requires_grad_()
        h, states = h0_leaf, []
        for x_t in xs.unbind(1):
            h = torch.tanh(x_t @ w_xh.T + h @ w_hh.T + b)
            states.append(h)
        states = torch.stack(states, dim=1)
        grad_states = torch.randn(B, T, H, generator=gen, dtype=torch.float64)
        autograd = torch.autograd.grad(states, (w_xh, w_hh, b, h0_leaf), grad_states)
        plain = (xs, h0, w_hh.detach(), states.detach(), grad_states)
        fn = _with_shape_hint(
            rnn_backward,
            f"here xs is (B, T, D) = {(B, T, D)}, h0 and every state are (B, H) = {(B, H)}, W_hh "
            f"is (H, H). The gradient a at a step's pre-activation is (B, H), so a.T @ x_t is "
            f"(H, D) like W_xh, a.T @ h_prev is (H, H) like W_hh, and a @ W_hh is (B, H).",
        )
        out = ex.call(fn, *(t.clone() for t in plain))
        ex.check(
            isinstance(out, (tuple, list)) and len(out) == 4,
            "return four gradients, (dW_xh, dW_hh, db, dh0), in that order; got "
            f"{type(out).__name__}" + (f" of length {len(out)}" if hasattr(out, "__len__") else ""),
        )
        names = ("dW_xh", "dW_hh", "db", "dh0")
        shapes = ((H, D), (H, H), (H,), (B, H))
        for got, shape, name in zip(out, shapes, names, strict=True):
            if shape[::-1] != shape and tuple(getattr(got, "shape", ())) == shape[::-1]:
                ex.fail(
                    f"{name} has shape {tuple(got.shape)}, the transpose of {shape}: with "
                    "examples as rows the weight gradient is a.T @ (the layer's input), "
                    "not input.T @ a."
                )
            ex.check_shape(got, shape, name)
        got = tuple(g.detach().to(torch.float64) for g in out)
        want = _bptt(*plain)

        def same(candidate: tuple[torch.Tensor, ...]) -> bool:  # the weight gradients agree
            return all(
                torch.allclose(a, c, atol=1e-8) for a, c in zip(got[:3], candidate[:3], strict=True)
            )

        if all(bool(g.abs().sum() == 0) for g in got):
            ex.fail("all gradients are zero: start from grad_states and walk t from T-1 down to 0.")
        if torch.allclose(got[1], want[1].T, atol=1e-8) and not torch.allclose(
            got[1], want[1], atol=1e-8
        ):
            ex.fail(
                "dW_hh is the transpose of the right one: with examples as rows the gradient of "
                "h_prev @ W_hh.T with respect to W_hh is a.T @ h_prev."
            )
        mistakes = (
            (
                {"carry": "none"},
                "each step only gets its own output's gradient: dL/dh_t also arrives from step "
                "t + 1, through W_hh (add a @ W_hh from the later step before using it). Without "
                "that term there is no *through time*.",
            ),
            (
                {"carry": "transposed"},
                "the gradient carried to h_(t-1) goes through W_hh.T: the forward pass computes "
                "h_prev @ W_hh.T, so its backward is a @ W_hh.",
            ),
            (
                {"slope": "h_prev"},
                "the tanh derivative belongs to the step's own output: tanh'(z_t) = 1 - h_t^2, "
                "not 1 - h_(t-1)^2.",
            ),
            (
                {"slope": "none"},
                "the tanh derivative is missing: multiply the gradient reaching h_t by "
                "1 - h_t^2 before it reaches the weights or h_(t-1).",
            ),
            (
                {"accumulate": False},
                "only one step's contribution is in your weight gradients: the same weights are "
                "used at every step, so their gradients add up over all steps (+=, not =).",
            ),
            (
                {"first_prev": "zeros"},
                "at the first step the previous state is h0, not zeros: dW_hh gets a.T @ h0 from "
                "step 0.",
            ),
        )
        for flags, message in mistakes:
            if same(_bptt(*plain, **flags)):
                ex.fail(message)
        for g, a, name in zip(got, autograd, names, strict=True):
            ex.check_close(g, a.detach(), f"{name} differs from autograd's", atol=1e-8, what=name)
    return ex.result


# --- 03.3 ----------------------------------------------------------------------------------------
def _rnn_states(
    xs: torch.Tensor,
    h0: torch.Tensor,
    w_xh: torch.Tensor,
    w_hh: torch.Tensor,
    b: torch.Tensor,
    window: int,
    *,
    reset: torch.Tensor | None = None,
) -> torch.Tensor:
    """The reference: states ``(B, T, H)``, gradient cut every ``window`` steps; with ``reset``
    the state is replaced by it at each window boundary instead (a typical mistake)."""
    h, states = h0, []
    for t, x_t in enumerate(xs.unbind(1)):
        if t > 0 and t % window == 0:
            h = h.detach() if reset is None else reset
        h = torch.tanh(x_t @ w_xh.T + h @ w_hh.T + b)
        states.append(h)
    return torch.stack(states, dim=1)


def _steps_reached(states: torch.Tensor, xs: torch.Tensor, t: int) -> list[int]:
    """The input steps that receive gradient from the states at step ``t``."""
    if not states.requires_grad:
        return []
    (grad,) = torch.autograd.grad(states[:, t].sum(), xs, retain_graph=True, allow_unused=True)
    if grad is None:
        return []
    return [s for s in range(xs.shape[1]) if bool(grad[:, s].abs().sum() > 0)]


def check_truncated_rnn(truncated_rnn: Callable[..., torch.Tensor]) -> ExerciseResult:
    """03.3: ``truncated_rnn(xs, h0, W_xh, W_hh, b, window)``: the RNN's states ``(B, T, H)`` over
    the whole sequence, the state carried across windows, the gradient cut every ``window``
    steps (``h.detach()`` before the steps ``window, 2 window, ...``)."""
    with Exercise("03.3 truncated backpropagation through time") as ex:
        B, T, D, H, window = 2, 8, 3, 4, 3  # D input width, as in the chapter
        gen = torch.Generator().manual_seed(3)
        xs = torch.randn(B, T, D, generator=gen, dtype=torch.float64).requires_grad_()
        h0 = torch.randn(B, H, generator=gen, dtype=torch.float64)
        w_xh = (torch.randn(H, D, generator=gen, dtype=torch.float64) * 0.8).requires_grad_()
        w_hh = (torch.randn(H, H, generator=gen, dtype=torch.float64) * 0.6).requires_grad_()
        b = torch.randn(H, generator=gen, dtype=torch.float64) * 0.1
        fn = _with_shape_hint(
            truncated_rnn,
            f"here xs is (B, T, D) = {(B, T, D)}, so x_t = xs[:, t] is (B, D); h is (B, H) = "
            f"{(B, H)}; W_xh is (H, D) = {(H, D)} and W_hh is (H, H) = {(H, H)}. With examples as "
            "rows, x_t @ W_xh.T and h @ W_hh.T are both (B, H): a missing .T gives this error.",
        )
        out = ex.call(fn, xs, h0.clone(), w_xh, w_hh, b.clone(), window)
        ex.check_type(out, torch.Tensor, "the states")
        if out.shape == xs.shape and torch.allclose(out.detach(), xs.detach()):
            ex.fail("you returned the input xs unchanged: return the hidden states h_1 ... h_T.")
        if tuple(out.shape) == (B, H):
            ex.fail(
                f"that is one state per sequence, shape {(B, H)}: return every step's state, "
                f"stacked along time, (B, T, H) = {(B, T, H)} (torch.stack(states, dim=1))."
            )
        ex.check_shape(out, (B, T, H), "the states h_1 ... h_T, (B, T, H)")
        values = out.detach().to(torch.float64)
        ex.check(
            bool(values.abs().sum() > 0),
            "all states are zero: h_t = tanh(x_t W_xh^T + h_(t-1) W_hh^T + b), from h0.",
        )
        with torch.no_grad():
            expected = _rnn_states(xs, h0, w_xh, w_hh, b, window)
            no_state = torch.tanh(xs @ w_xh.T + b)  # (B, T, H): h never used
            h0_always = torch.tanh(xs @ w_xh.T + (h0 @ w_hh.T + b).unsqueeze(1))
            from_zeros = _rnn_states(xs, torch.zeros_like(h0), w_xh, w_hh, b, window)
            reset_zeros = _rnn_states(xs, h0, w_xh, w_hh, b, window, reset=torch.zeros_like(h0))
            reset_h0 = _rnn_states(xs, h0, w_xh, w_hh, b, window, reset=h0)

        def matches(candidate: torch.Tensor) -> bool:
            return torch.allclose(values, candidate, atol=1e-6)

        if matches(no_state):
            ex.fail(
                "your states never use the hidden state: h_t = tanh(x_t W_xh^T + h_(t-1) W_hh^T "
                "+ b), where h_(t-1) is the previous step's state (h0 before the first step)."
            )
        if matches(h0_always):
            ex.fail(
                "every step uses h0: carry the state forward, h = tanh(x_t W_xh^T + h W_hh^T + b), "
                "so the next step sees the new h."
            )
        if matches(reset_zeros) or matches(reset_h0):
            ex.fail(
                "you restarted the state at each window: truncated BPTT keeps the *value* of h "
                "across windows (the forward pass sees the whole past) and cuts only the "
                "gradient, with h = h.detach()."
            )
        if matches(from_zeros):
            ex.fail("your first step starts from zeros: start from the given h0.")
        ex.check_close(
            values,
            expected,
            "the states differ from the recurrence h_t = tanh(x_t W_xh^T + h_(t-1) W_hh^T + b)",
            atol=1e-6,
        )

        reference = _rnn_states(xs, h0, w_xh, w_hh, b, window)
        yours = [_steps_reached(out, xs, t) for t in range(T)]
        wanted = [_steps_reached(reference, xs, t) for t in range(T)]
        if not any(yours):
            ex.fail(
                "no gradient reaches the inputs: keep the states in the graph (no "
                "torch.no_grad(), no .detach() on every state); cut only at window boundaries."
            )
        if all(reached == list(range(t + 1)) for t, reached in enumerate(yours)):
            ex.fail(
                f"the gradient from each step reaches every earlier step: at each window "
                f"boundary (t = {window}, {2 * window}, ... for window = {window}) cut it with "
                "h = h.detach() before computing the next state."
            )
        if all(reached == [t] for t, reached in enumerate(yours)):
            ex.fail(
                "you cut the gradient at every step: inside a window it must flow back through "
                "the states (that is BPTT); detach only when t % window == 0."
            )
        for t in range(T):
            ex.check(
                yours[t] == wanted[t],
                f"the cut is in the wrong place: with window = {window} the windows are steps "
                f"0-{window - 1}, {window}-{2 * window - 1}, ...; the gradient from step {t} "
                f"should reach steps {wanted[t]}, yours reaches {yours[t]}.",
            )

        cotangent = torch.randn(B, T, H, generator=gen, dtype=torch.float64)
        yours = torch.autograd.grad(
            (out.to(torch.float64) * cotangent).sum(), (xs, w_hh), allow_unused=True
        )
        wanted = torch.autograd.grad((reference * cotangent).sum(), (xs, w_hh))
        for got, want, name in zip(yours, wanted, ("xs", "W_hh"), strict=True):
            ex.check(got is not None, f"no gradient reaches {name}: keep it in the graph.")
            ex.check_close(
                got,
                want,
                f"the gradient with respect to {name} differs from truncated BPTT's",
                atol=1e-8,
                what=f"the gradient with respect to {name}",
            )
    return ex.result
