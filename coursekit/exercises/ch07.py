"""Checkers for chapter 07 (the Transformer): scaled dot-product attention with a mask, splitting
and merging heads, the sinusoidal positional table and the causal mask.

Each checker compares the answer with the usual wrong answers first (no ``1/sqrt(E)``, the mask's
polarity inverted, heads merged in the wrong order, sin and cos swapped, ...) and names the
mistake; then with PyTorch's or coursekit's result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from coursekit.exercises.ch04 import reject_trivial
from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.nn.transformer import sinusoidal_table

__all__ = [
    "check_attention",
    "check_causal_mask",
    "check_heads",
    "check_sinusoidal",
]


def _matches(value: torch.Tensor, wrong: torch.Tensor) -> bool:
    value = torch.as_tensor(value).detach().double()
    return value.shape == wrong.shape and torch.allclose(
        value, wrong.double(), atol=1e-5, equal_nan=True
    )


def _softmax_attention(q, k, v, mask, scale, dim=-1, after=False):
    """Attention with one thing changed, to recognise an answer's mistake."""
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, Tq, Tk)
    if mask is not None and not after:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and after:
        weights = weights * mask
    return weights @ v


def check_attention(attention: Callable[..., torch.Tensor]) -> ExerciseResult:
    """``attention(q, k, v, mask) -> (B, Tq, Ev)``: ``softmax(Q K^T / sqrt(E))`` with the bool
    ``mask`` (True = may attend, as in ``F.scaled_dot_product_attention``), times ``V``."""
    with Exercise("07.1 scaled dot-product attention with a mask") as ex:
        gen = torch.Generator().manual_seed(7)
        b, tq, tk, e, ev = 2, 3, 5, 16, 4
        q, k = torch.randn(b, tq, e, generator=gen), torch.randn(b, tk, e, generator=gen)
        v = torch.randn(b, tk, ev, generator=gen)
        mask = torch.rand(b, tq, tk, generator=gen) > 0.4
        mask[..., 0], mask[..., -1] = True, False  # every row allows a key and blocks one
        out = ex.call(attention, q, k, v, mask)
        if getattr(out, "shape", None) == (b, tq, tk):
            ex.fail(
                f"the result has shape (B, Tq, Tk) = {(b, tq, tk)}: those are the weights; "
                "return weights @ v, shape (B, Tq, Ev)."
            )
        ex.check_shape(out, (b, tq, ev), "the output (B, Tq, Ev)")
        reject_trivial(ex, out, {"v": v}, "the output")
        s = 1 / math.sqrt(e)
        hints = [
            (
                _softmax_attention(q, k, v, mask, 1.0),
                f"you forgot the scale: divide the scores Q Kᵀ by √E = √{e} = {math.sqrt(e):g} "
                "(E is the width of a query and a key) before the softmax.",
            ),
            (
                _softmax_attention(q, k, v, mask, 1 / e),
                f"you divided the scores by E = {e}; the scale is 1/√E = 1/{math.sqrt(e):g}.",
            ),
            (
                _softmax_attention(q, k, v, ~mask, s),
                "the mask is applied with the wrong polarity: here True means 'may attend' (as in "
                "F.scaled_dot_product_attention), so fill the scores where the mask is False: "
                "scores.masked_fill(~mask, -inf).",
            ),
            (
                _softmax_attention(q, k, v, None, s),
                "the mask has no effect: fill the scores with -inf where mask is False, before "
                "the softmax.",
            ),
            (
                _softmax_attention(q, k, v, mask, s, after=True),
                "you zeroed the masked weights after the softmax, so the rest no longer sum to 1: "
                "mask the scores (-inf) before the softmax instead.",
            ),
            (
                _softmax_attention(q, k, v, mask, s, dim=-2),
                "the softmax runs over the queries (dim=-2); each query's weights over the keys "
                "must sum to 1: softmax(dim=-1).",
            ),
        ]
        for wrong, hint in hints:
            if _matches(out, wrong):
                ex.fail(hint)
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        ex.check_close(
            out, expected, "not F.scaled_dot_product_attention(q, k, v, attn_mask=mask)", atol=1e-5
        )
    return ex.result


def check_heads(
    split_heads: Callable[[torch.Tensor, int], torch.Tensor],
    merge_heads: Callable[[torch.Tensor], torch.Tensor],
) -> ExerciseResult:
    """``split_heads(x, H)``: ``(B, T, C) -> (B, H, T, D)`` with head ``h`` holding channels
    ``h*D .. (h+1)*D - 1``; ``merge_heads``: back. Used with ``nn.MultiheadAttention``'s weights,
    they must give its output."""
    with Exercise("07.2 splitting and merging heads") as ex:
        gen = torch.Generator().manual_seed(72)
        b, t, h, d = 2, 5, 4, 6
        c = h * d
        x = torch.randn(b, t, c, generator=gen)
        heads = ex.call(split_heads, x, h)
        ex.check_shape(heads, (b, h, t, d), "split_heads(x, H) (B, H, T, D)")
        expected = x.unflatten(-1, (h, d)).transpose(1, 2)  # (B, H, T, D)
        if _matches(heads, x.reshape(b, h, t, d)):
            ex.fail(
                "you reshaped (B, T, C) straight to (B, H, T, D), which mixes time steps into "
                "heads: split the last axis first, (B, T, H, D), then transpose(1, 2)."
            )
        if _matches(heads, x.unflatten(-1, (d, h)).permute(0, 3, 1, 2)):
            ex.fail(
                f"head h should hold the channels h·D .. (h+1)·D - 1, one block of D = {d} (the "
                "rows of nn.MultiheadAttention's projections); yours takes every H-th channel: "
                "unflatten the last axis as (H, D), not (D, H)."
            )
        ex.check_close(
            heads, expected, "split_heads differs from x.view(B, T, H, D).transpose(1, 2)"
        )
        merged = ex.call(merge_heads, expected.contiguous())  # as SDPA returns it
        ex.check_shape(merged, (b, t, c), "merge_heads(heads) (B, T, C)")
        if _matches(merged, expected.reshape(b, t, c)):
            ex.fail(
                "heads merged in the wrong order: reshaping (B, H, T, D) straight to (B, T, C) "
                "mixes heads into time steps; transpose(1, 2) back to (B, T, H, D) first, then "
                "flatten the last two axes (reshape, or .contiguous().view)."
            )
        ex.check_close(merged, x, "merge_heads(split_heads(x, H)) should give x back")
        torch.manual_seed(7)
        mha = nn.MultiheadAttention(c, h, batch_first=True)
        w_q, w_k, w_v = mha.in_proj_weight.detach().chunk(3)
        b_q, b_k, b_v = mha.in_proj_bias.detach().chunk(3)
        q, k, v = (
            ex.call(split_heads, F.linear(x, w, bias), h)
            for w, bias in ((w_q, b_q), (w_k, b_k), (w_v, b_v))
        )
        out = mha.out_proj(ex.call(merge_heads, F.scaled_dot_product_attention(q, k, v)))
        with torch.no_grad():
            reference = mha(x, x, x, need_weights=False)[0]
        ex.check_close(
            out.detach(),
            reference,
            "with your split and merge, multi-head attention differs from nn.MultiheadAttention",
            atol=1e-5,
        )
    return ex.result


def _table(p, c, *, start=0, swap=False, halves=False, rate_index="pair"):
    """The sinusoidal table with one thing changed, to recognise an answer's mistake."""
    pos = torch.arange(start, start + p, dtype=torch.float64)[:, None]
    if rate_index == "pair":  # the paper: column 2i and 2i+1 share 10000^(-2i/C)
        rate = 1e4 ** (-torch.arange(0, c, 2, dtype=torch.float64) / c).repeat_interleave(2)
    elif rate_index == "column":  # every column its own frequency 10000^(-c/C)
        rate = 1e4 ** (-torch.arange(c, dtype=torch.float64) / c)
    else:  # the pair index without its factor 2: 10000^(-i/C)
        rate = 1e4 ** (-torch.arange(c // 2, dtype=torch.float64) / c).repeat_interleave(2)
    angle = pos * rate[:c]  # (P, C)
    if halves:
        half = angle[:, 0::2]
        return torch.cat([half.sin(), half.cos()], dim=1)
    sin, cos = (angle.cos(), angle.sin()) if swap else (angle.sin(), angle.cos())
    table = cos.clone()
    table[:, 0::2] = sin[:, 0::2]
    return table


def check_sinusoidal(sinusoidal: Callable[[int, int], torch.Tensor]) -> ExerciseResult:
    """``sinusoidal(P, C) -> (P, C)``: ``PE[p, 2i] = sin(p / 10000^(2i/C))``,
    ``PE[p, 2i+1] = cos(p / 10000^(2i/C))``, positions from 0."""
    with Exercise("07.3 the sinusoidal positional table") as ex:
        p, c = 12, 16
        out = ex.call(sinusoidal, p, c)
        ex.check_shape(out, (p, c), "the table (P, C)")
        reject_trivial(ex, out, {}, "the table")
        hints = [
            (
                _table(p, c, swap=True),
                "sin and cos are swapped: the even columns 2i hold sin, the odd columns 2i+1 cos.",
            ),
            (
                _table(p, c, halves=True),
                "that is the [all sin | all cos] layout (two halves, as in tensor2tensor); the "
                "paper interleaves them: column 2i is sin, column 2i+1 cos of the same angle.",
            ),
            (
                _table(p, c, rate_index="column"),
                "each column has its own frequency 10000^(-c/C); columns 2i and 2i+1 share one, "
                "10000^(-2i/C), with i the index of the pair.",
            ),
            (
                _table(p, c, rate_index="half"),
                "the exponent is 2i/C with i the pair index (so it runs over 0, 2, 4, ... < C); "
                "you used i/C, so the frequencies fall only half as far.",
            ),
            (
                _table(p, c, start=1),
                "positions start at 0: row 0 is sin(0) = 0 and cos(0) = 1.",
            ),
        ]
        for wrong, hint in hints:
            if _matches(out, wrong):
                ex.fail(hint)
        ex.check_close(out, sinusoidal_table(p, c), "not the paper's table", atol=1e-5)
        odd = ex.call(sinusoidal, 5, 7)
        ex.check_shape(odd, (5, 7), "sinusoidal(5, 7), an odd width")
        ex.check_close(
            odd,
            sinusoidal_table(5, 7),
            "with an odd C the last column is a sin (column C-1 is even) and has no cos partner",
            atol=1e-5,
        )
    return ex.result


def check_causal_mask(causal: Callable[[int], torch.Tensor]) -> ExerciseResult:
    """``causal(T) -> (T, T)`` bool, True where query ``i`` may attend key ``j`` (``j <= i``)."""
    with Exercise("07.4 the causal mask") as ex:
        t = 5
        out = ex.call(causal, t)
        ex.check_shape(out, (t, t), "causal(T) (T, T)")
        ex.check(
            isinstance(out, torch.Tensor) and out.dtype == torch.bool,
            f"return a bool tensor (True = may attend), got {getattr(out, 'dtype', type(out))}: "
            "a float mask would be added to the scores, not used to select.",
        )
        ones = torch.ones(t, t, dtype=torch.bool)
        hints = [
            (
                ones.tril(-1),
                "a position may attend to itself: keep the diagonal (tril(), not tril(-1)); "
                "without it the first query sees no key at all.",
            ),
            (
                ones.triu(1),
                "that is True = masked out, nn.MultiheadAttention's convention; here, as in "
                "F.scaled_dot_product_attention, True means may attend: invert it.",
            ),
            (
                ones.triu(),
                "that is the upper triangle: query i would see the later keys j > i and not the "
                "earlier ones. True must be where j <= i (the lower triangle).",
            ),
        ]
        for wrong, hint in hints:
            if torch.equal(out, wrong):
                ex.fail(hint)
        ex.check(torch.equal(out, ones.tril()), f"not the lower triangle: got\n{out.int()}")
        other = ex.call(causal, 3)
        ex.check(
            isinstance(other, torch.Tensor)
            and torch.equal(other, torch.ones(3, 3, dtype=torch.bool).tril()),
            "causal(3) is wrong: build the mask from T, not a fixed size.",
        )
    return ex.result
