"""Checkers for chapter 03 (RNN): how far a gradient survives, global gradient clipping, and
truncated backpropagation through time.

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

__all__ = ["check_clip_global_norm", "check_steps_to_vanish", "check_truncated_rnn"]

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
def check_clip_global_norm(clip: Callable[..., list[torch.Tensor]]) -> ExerciseResult:
    """03.2: ``clip(grads, max_norm) -> grads`` rescaled together so that their joint L2 norm is at
    most ``max_norm``, without changing the inputs."""
    with Exercise("03.2 clipping by the global norm") as ex:
        fn = _with_shape_hint(
            clip,
            "each gradient keeps its own shape; the global norm is one number, "
            "sqrt(sum over the list of g.pow(2).sum()), and every g is multiplied by one scale.",
        )
        gen = torch.Generator().manual_seed(0)
        grads = [torch.randn(3, 4, generator=gen) * 5, torch.randn(6, generator=gen)]
        total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        given = [g.clone() for g in grads]
        out = ex.call(fn, given, 1.0)
        ex.check(
            isinstance(out, (list, tuple)) and len(out) == len(grads),
            f"return a list with one tensor per gradient ({len(grads)}), got {type(out).__name__}.",
        )
        for got, g in zip(out, grads, strict=True):
            ex.check_shape(got, tuple(g.shape), "each clipped gradient")
        ex.check(
            all(torch.equal(a, b) for a, b in zip(given, grads, strict=True)),
            "you changed the gradients you were given (in place): return new tensors, "
            "e.g. [g * scale for g in grads].",
        )
        ex.check(
            any(bool(got.abs().sum() > 0) for got in out),
            "all gradients came back as zeros: clipping rescales, it never zeroes "
            "(multiply by min(1, max_norm / total_norm)).",
        )
        if all(torch.allclose(a, b) for a, b in zip(out, grads, strict=True)):
            ex.fail(
                f"the gradients came back unchanged, but their global norm is {total:.2f}, above "
                "max_norm = 1: multiply every one by max_norm / total_norm."
            )
        per_tensor = [g * min(1.0, 1.0 / float(g.norm())) for g in grads]
        if all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out, per_tensor, strict=True)):
            ex.fail(
                "you clipped each tensor by its own norm: the global norm treats all gradients "
                "as one long vector, sqrt(sum of every squared entry), and scales them all alike."
            )
        joint = math.sqrt(sum(float(g.pow(2).sum()) for g in out))
        ex.check(
            abs(joint - 1.0) < 1e-4,
            f"after clipping to max_norm=1 the global norm should be 1, got {joint:.4f} "
            f"(it was {total:.2f}): multiply every gradient by max_norm / total_norm.",
        )
        for got, g in zip(out, grads, strict=True):
            ex.check_close(got, g / total, "the direction changed: scale, don't reshape")
        small = [g / (10 * total) for g in grads]
        kept = ex.call(fn, [g.clone() for g in small], 1.0)
        ex.check(
            all(torch.allclose(a, b) for a, b in zip(kept, small, strict=True)),
            "gradients whose global norm is already below max_norm must be returned unchanged "
            "(scale by min(1, max_norm / total_norm)).",
        )
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
