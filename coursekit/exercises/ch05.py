"""Checkers for chapter 05 (GRU): the update gate as memory, the two conventions, a GRU over time."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from coursekit.exercises.ch04 import reject_trivial
from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_flip_update_gate", "check_gru_sequence", "check_update_gate_product"]


def _random_gru(gen, batch=3, i=2, h=4):
    x, state = torch.randn(batch, i, generator=gen), torch.randn(batch, h, generator=gen)
    weights = (
        torch.randn(3 * h, i, generator=gen),
        torch.randn(3 * h, h, generator=gen),
        torch.randn(3 * h, generator=gen),
        torch.randn(3 * h, generator=gen),
    )
    return x, state, weights


def _gru_layer(weights, input_size, hidden_size) -> nn.GRU:
    layer = nn.GRU(input_size, hidden_size, batch_first=True)
    with torch.no_grad():
        for name, value in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), weights, strict=True
        ):
            getattr(layer, name).copy_(value)
    return layer


def check_update_gate_product(
    update_gate_product: Callable[..., torch.Tensor],
) -> ExerciseResult:
    """``update_gate_product(x, W_ih, b_ih, b_hh) -> (B, H)``: ``∂h_T/∂h_0`` of ``nn.GRU`` with
    ``W_hh = 0``, which is diagonal, without autograd (PyTorch's layout and convention)."""
    with Exercise("05.1 how far back a GRU remembers") as ex:
        gen = torch.Generator().manual_seed(5)
        x = torch.randn(3, 6, 2, generator=gen)  # (B, T, I)
        w_ih, b_ih, b_hh = (torch.randn(12, *s, generator=gen) for s in ((2,), (), ()))
        out = ex.call(update_gate_product, x, w_ih, b_ih, b_hh)
        ex.check_shape(out, (3, 4), "the product (B, H)")
        reject_trivial(ex, out, {"b_ih": b_ih, "b_hh": b_hh}, "the product")
        gates = (x @ w_ih.T + b_ih + b_hh).chunk(3, dim=-1)  # (B, T, H) each: r, z, n
        r, z = torch.sigmoid(gates[0]), torch.sigmoid(gates[1])
        without_b_hh = torch.sigmoid((x @ w_ih.T + b_ih).chunk(3, dim=-1)[1])
        hints = {
            "one_minus_z": (
                (1 - z).prod(dim=1),
                "that is the product of (1 - z): in PyTorch's convention "
                "h_t = (1 - z) ⊙ n + z ⊙ h_(t-1), so z is the share of the old state kept "
                "(the article's convention is the other way round).",
            ),
            "r": (
                r.prod(dim=1),
                "that is the product of the reset gates (rows 0:H); r only scales W_hn h + b_hn "
                "inside the candidate, which does not depend on h when W_hh = 0. Take rows H:2H.",
            ),
            "no_b_hh": (
                without_b_hh.prod(dim=1),
                "the update gate's pre-activation has both biases: x W_iz + b_iz + b_hz.",
            ),
            "last": (
                z[:, -1],
                "that is the last step's gate only; the gradient passes every step, so the "
                "per-step factors multiply.",
            ),
            "sum": (z.sum(dim=1), "the per-step factors multiply (chain rule); you added them."),
        }
        for wrong, hint in hints.values():
            if torch.allclose(out, wrong, rtol=1e-4, atol=1e-7):
                ex.fail(hint)
        layer = _gru_layer((w_ih, torch.zeros(12, 4), b_ih, b_hh), 2, 4)
        h0 = torch.zeros(1, 3, 4, requires_grad=True)
        _, h_n = layer(x, h0)
        h_n.sum().backward()  # with W_hh = 0 the Jacobian is diagonal: this is its diagonal
        ex.check_close(
            out,
            h0.grad[0],
            "not ∂h_T/∂h_0 of nn.GRU with W_hh = 0 (computed by autograd)",
            rtol=1e-4,
            atol=1e-8,
        )
    return ex.result


def check_flip_update_gate(flip: Callable[[dict], dict]) -> ExerciseResult:
    """``flip(state_dict) -> state_dict``: parameters with which ``nn.GRUCell`` computes the
    article's convention ``h_t = (1 - z') ⊙ h + z' ⊙ n`` of the original weights' ``z'``."""
    with Exercise("05.2 one GRU, two conventions") as ex:
        torch.manual_seed(0)
        cell = nn.GRUCell(3, 5)
        original = {k: v.detach().clone() for k, v in cell.state_dict().items()}
        new = ex.call(flip, {k: v.clone() for k, v in original.items()})
        ex.check(isinstance(new, dict), f"return a state dict, got {type(new).__name__}")
        ex.check(
            set(new) == set(original),
            f"keep the same keys {sorted(original)}, got {sorted(new)}",
        )
        for k, v in original.items():
            ex.check_shape(new[k], tuple(v.shape), k)
        gen = torch.Generator().manual_seed(1)
        x, h = torch.randn(4, 3, generator=gen), torch.randn(4, 5, generator=gen)
        # The article's interpolation with the original weights' update gate z'.
        xr, xz, xn = (x @ original["weight_ih"].T + original["bias_ih"]).chunk(3, -1)
        hr, hz, hn = (h @ original["weight_hh"].T + original["bias_hh"]).chunk(3, -1)
        z, n = torch.sigmoid(xz + hz), torch.tanh(xn + torch.sigmoid(xr + hr) * hn)
        expected = (1 - z) * h + z * n
        flipped = nn.GRUCell(3, 5)
        flipped.load_state_dict(new)
        with torch.no_grad():
            got = flipped(x, h)
        touched = [k for k in original if not torch.equal(new[k], original[k])]
        ex.check(touched != [], "nothing changed: PyTorch's z weights h, the article's weights n")
        for k in original:
            rows = torch.ones(15, dtype=torch.bool)
            rows[5:10] = False  # the z rows
            if not torch.equal(new[k][rows], original[k][rows]):
                ex.fail(f"{k}: only the update gate's rows [H:2H] should change; r and n stay.")
        ex.check_close(
            got,
            expected,
            "not the article's GRU yet. Hint: σ(-a) = 1 - σ(a); negate the z rows of all four "
            "tensors",
            atol=1e-5,
        )
    return ex.result


def check_gru_sequence(
    gru_sequence: Callable[..., tuple[torch.Tensor, torch.Tensor]],
) -> ExerciseResult:
    """``gru_sequence(x, h0, W_ih, W_hh, b_ih, b_hh) -> (outputs (B, T, H), h_T (B, H))``."""
    with Exercise("05.3 a GRU over a whole sequence") as ex:
        gen = torch.Generator().manual_seed(6)
        x = torch.randn(3, 5, 2, generator=gen)
        _, h0, weights = _random_gru(gen)
        out = ex.call(gru_sequence, x, h0, *weights)
        ex.check(
            isinstance(out, tuple) and len(out) == 2,
            "return (outputs, h_T), like nn.GRU returns (output, h_n)",
        )
        outputs, last = out
        ex.check_shape(outputs, (3, 5, 4), "outputs (B, T, H)")
        ex.check_shape(last, (3, 4), "h_T (B, H)")
        reject_trivial(ex, outputs, {}, "outputs")
        reject_trivial(ex, last, {"h0": h0}, "h_T")
        with torch.no_grad():
            expected, h_n = _gru_layer(weights, 2, 4)(x, h0.unsqueeze(0))
        if torch.allclose(outputs[:, 0], expected[:, 0], atol=1e-5) and not torch.allclose(
            outputs[:, 1], expected[:, 1], atol=1e-4
        ):
            ex.fail("step 0 is right but step 1 is not: carry h forward (h = step(x_t, h)).")
        if torch.allclose(outputs, expected.flip(1), atol=1e-5):
            ex.fail("the outputs are in reverse order: outputs[:, t] is the state after step t.")
        ex.check_close(outputs, expected, "outputs differ from nn.GRU")
        ex.check_close(last, h_n[0], "h_T should be the state after the last step")
    return ex.result
