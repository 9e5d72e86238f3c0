"""Checkers for chapter 04 (LSTM): one LSTM step, the forget-gate bias, parameter count."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_forget_bias", "check_lstm_num_parameters", "check_lstm_step", "reject_trivial"]


def reject_trivial(
    ex: Exercise, value: Any, inputs: Mapping[str, torch.Tensor], what: str = "the result"
) -> None:
    """Fail with a named message when ``value`` is all zeros or one of ``inputs`` unchanged.

    These are the answers a placeholder gives (``torch.zeros_like(h)``, ``return h``); the
    value checks would reject them too, but with a message about a difference, not the cause.
    """
    if not isinstance(value, torch.Tensor):
        return
    if value.numel() and not bool(value.detach().any()):
        ex.fail(f"{what} is all zeros: that is a placeholder, not the computation yet.")
    for name, tensor in inputs.items():
        if value.shape == tensor.shape and torch.equal(value.detach(), tensor):
            ex.fail(f"{what} is the input `{name}` returned unchanged: nothing was computed.")


def _lstm_ref(x, h, c, w_ih, w_hh, b_ih, b_hh, order="ifgo", tanh_c=True):
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    parts = dict(zip(order, gates.chunk(4, dim=-1), strict=True))
    i, f, o = (torch.sigmoid(parts[k]) for k in "ifo")
    g = torch.tanh(parts["g"])
    c = f * c + i * g
    return o * (torch.tanh(c) if tanh_c else c), c


def check_lstm_step(lstm_step: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> ExerciseResult:
    """``lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h, c)`` in PyTorch's i, f, g, o order."""
    with Exercise("04.1 one LSTM step") as ex:
        gen = torch.Generator().manual_seed(4)
        x, h, c = (torch.randn(3, n, generator=gen) for n in (2, 4, 4))
        w_ih, w_hh = torch.randn(16, 2, generator=gen), torch.randn(16, 4, generator=gen)
        b_ih, b_hh = torch.randn(16, generator=gen), torch.randn(16, generator=gen)
        args = (x, h, c, w_ih, w_hh, b_ih, b_hh)
        out = ex.call(lstm_step, *args)
        ex.check(
            isinstance(out, tuple) and len(out) == 2,
            f"return the pair (h_t, c_t), got {type(out).__name__}",
        )
        h_new, c_new = out
        ex.check_shape(h_new, (3, 4), "h_t")
        ex.check_shape(c_new, (3, 4), "c_t")
        reject_trivial(ex, h_new, {"h": h, "c": c}, "h_t")
        reject_trivial(ex, c_new, {"h": h, "c": c}, "c_t")
        if torch.allclose(h_new, _lstm_ref(*args, order="ifog")[0], atol=1e-5):
            ex.fail(
                "you split the gates in the article's order i, f, o, g; PyTorch stores them as "
                "i, f, g, o (input, forget, cell candidate, output): gates.chunk(4) gives i, f, g, o."
            )
        if torch.allclose(h_new, _lstm_ref(*args, tanh_c=False)[0], atol=1e-5):
            ex.fail("h_t = o ⊙ tanh(c_t): the tanh of the new cell state is missing.")
        cell = nn.LSTMCell(2, 4)
        with torch.no_grad():
            for name, value in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), args[3:], strict=True
            ):
                getattr(cell, name).copy_(value)
            h_ref, c_ref = cell(x, (h, c))
        ex.check_close(c_new, c_ref, "c_t differs from torch.nn.LSTMCell (check f ⊙ c + i ⊙ g)")
        ex.check_close(h_new, h_ref, "h_t differs from torch.nn.LSTMCell")
    return ex.result


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def check_forget_bias(forget_bias: Callable[[float, int], float]) -> ExerciseResult:
    """``forget_bias(fraction, steps) -> b``: the forget-gate bias with which the cell state keeps
    ``fraction`` of its gradient over ``steps`` steps, when the gate depends on nothing else
    (``f = σ(b)`` at every step, so ``∂c_T/∂c_0 = σ(b)^T``)."""
    with Exercise("04.2 a forget-gate bias for a memory span") as ex:
        for fraction, steps in ((0.5, 100), (0.1, 30), (0.9, 10)):
            got = ex.call(forget_bias, fraction, steps)
            try:
                b = float(got)
            except (TypeError, ValueError, RuntimeError):
                ex.fail(f"return one number (the bias b), got {type(got).__name__}.")
            f = fraction ** (1 / steps)  # the gate value needed at every step
            expected = _logit(f)
            args = f"forget_bias({fraction}, {steps})"
            if not math.isfinite(b):
                ex.fail(f"{args} = {b}: the bias should be a finite number.")
            if b == 0:
                ex.fail(
                    f"{args} = 0: a zero bias gives σ(0) = 0.5 at every step, which keeps "
                    f"0.5^{steps} = {0.5**steps:.1e} of the gradient, not {fraction}. (If you "
                    f"took the logit of the fraction itself, that is the gate for one step: the "
                    f"gradient is multiplied by f at each of the {steps} steps, so f^{steps} = {fraction}.)"
                )
            if math.isclose(b, _logit(fraction), rel_tol=1e-4):
                ex.fail(
                    f"{args} = {b:.4f} = logit({fraction}): that gate keeps {fraction} over one "
                    f"step; over {steps} steps the gradient is multiplied by f every time, so "
                    f"f^{steps} = {fraction}: f = {fraction}^(1/{steps})."
                )
            if math.isclose(b, fraction):
                ex.fail(f"{args} returned the fraction itself; return the bias b.")
            if math.isclose(b, f, rel_tol=1e-4):
                ex.fail(
                    f"{args} = {b:.4f} is the gate value f = σ(b) you need; the bias is its "
                    "inverse, the logit b = log(f / (1 - f))."
                )
            if math.isclose(b, math.log(f), rel_tol=1e-4):
                ex.fail(
                    f"{args} = {b:.4f} = log f; σ(log f) is not f: invert the sigmoid with the "
                    "logit, log(f / (1 - f))."
                )
            linear = 1 - (1 - fraction) / steps
            if math.isclose(b, _logit(linear), rel_tol=1e-4):
                ex.fail(
                    f"{args}: you spread the loss evenly over the steps; the gradient is "
                    f"multiplied by f at every step, so f^{steps} = {fraction}: f = {fraction}^(1/{steps})."
                )
            ex.check(
                math.isclose(b, expected, rel_tol=1e-4, abs_tol=1e-6),
                f"{args} should be {expected:.4f} (σ(b)^{steps} = {fraction}), you say {b:.4f}.",
            )
    return ex.result


def check_lstm_num_parameters(count: Callable[[int, int, int], int]) -> ExerciseResult:
    """``count(input_size, hidden_size, num_layers)``: trainable parameters of ``nn.LSTM``."""
    with Exercise("04.3 counting an LSTM's parameters") as ex:
        for i, h, layers in ((10, 20, 1), (7, 3, 2), (128, 256, 2)):
            expected = sum(p.numel() for p in nn.LSTM(i, h, layers).parameters())
            got = ex.call(count, i, h, layers)
            args = f"({i}, {h}, {layers})"
            if got in (0, i, h, layers):
                ex.fail(
                    f"for {args} you say {got}: that is a placeholder or an input, not a count."
                )
            one_bias = expected - 4 * h * layers
            if got == one_bias:
                ex.fail(
                    f"for {args} you count {got}, with one bias per gate; PyTorch "
                    "keeps two bias vectors, b_ih and b_hh (4H each per layer)."
                )
            if layers > 1 and got == layers * 4 * (h * i + h * h + 2 * h):
                ex.fail(
                    "layers after the first take the hidden state (width H) as input, not x "
                    "(width I): their W_ih is 4H x H."
                )
            ex.check(got == expected, f"nn.LSTM{args} has {expected}, you say {got}")
    return ex.result
