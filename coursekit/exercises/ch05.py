"""Checkers for chapter 05 (GRU): one GRU step, the update-gate conventions, a GRU over time."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_flip_update_gate", "check_gru_sequence", "check_gru_step"]


def _gru_variants(x, h, w_ih, w_hh, b_ih, b_hh) -> dict[str, torch.Tensor]:
    """The wrong answers a learner typically writes, by name."""
    xr, xz, xn = (x @ w_ih.T + b_ih).chunk(3, -1)
    hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, -1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    w_hn, b_hn = w_hh.chunk(3)[2], b_hh.chunk(3)[2]
    n_torch = torch.tanh(xn + r * hn)
    n_article = torch.tanh(xn + ((1 - r) * h) @ w_hn.T + b_hn)
    n_cho = torch.tanh(xn + (r * h) @ w_hn.T + b_hn)
    return {
        "torch": (1 - z) * n_torch + z * h,
        "article": (1 - z) * n_article + z * h,
        "article_z": z * n_torch + (1 - z) * h,
        "cho": (1 - z) * n_cho + z * h,
    }


def _random_gru(gen, batch=3, i=2, h=4):
    x, state = torch.randn(batch, i, generator=gen), torch.randn(batch, h, generator=gen)
    weights = (
        torch.randn(3 * h, i, generator=gen),
        torch.randn(3 * h, h, generator=gen),
        torch.randn(3 * h, generator=gen),
        torch.randn(3 * h, generator=gen),
    )
    return x, state, weights


def check_gru_step(gru_step: Callable[..., torch.Tensor]) -> ExerciseResult:
    """``gru_step(x, h, W_ih, W_hh, b_ih, b_hh) -> h_t`` in PyTorch's convention (r, z, n)."""
    with Exercise("05.1 one GRU step, PyTorch's way") as ex:
        gen = torch.Generator().manual_seed(5)
        x, h, weights = _random_gru(gen)
        out = ex.call(gru_step, x, h, *weights)
        ex.check_shape(out, (3, 4), "h_t")
        wrong = _gru_variants(x, h, *weights)
        hints = {
            "article": "you used the article's (1 - r) ⊙ h: the reset gate multiplies the old "
            "state by r itself (r = 0 resets, r = 1 keeps).",
            "article_z": "z weights the wrong side: PyTorch computes h_t = (1 - z) ⊙ n + z ⊙ h_(t-1), "
            "so z = 1 keeps the old state.",
            "cho": "you applied r before the matmul, W_hn (r ⊙ h) + b_hn (Cho et al. 2014); PyTorch "
            "applies it after: r ⊙ (W_hn h + b_hn).",
        }
        for name, hint in hints.items():
            if torch.allclose(out, wrong[name], atol=1e-5):
                ex.fail(hint)
        cell = nn.GRUCell(2, 4)
        with torch.no_grad():
            for name, value in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights, strict=True
            ):
                getattr(cell, name).copy_(value)
            expected = cell(x, h)
        ex.check_close(out, expected, "h_t differs from torch.nn.GRUCell with the same weights")
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
        ref = nn.GRU(2, 4, batch_first=True)
        with torch.no_grad():
            for name, value in zip(
                ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), weights, strict=True
            ):
                getattr(ref, name).copy_(value)
            expected, h_n = ref(x, h0.unsqueeze(0))
        if torch.allclose(outputs[:, 0], expected[:, 0], atol=1e-5) and not torch.allclose(
            outputs[:, 1], expected[:, 1], atol=1e-4
        ):
            ex.fail("step 0 is right but step 1 is not: carry h forward (h = step(x_t, h)).")
        ex.check_close(outputs, expected, "outputs differ from nn.GRU")
        ex.check_close(last, h_n[0], "h_T should be the state after the last step")
    return ex.result
