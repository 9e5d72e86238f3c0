"""Attention as a function, chapters 06 and 07: dot-product and scaled dot-product attention in
two paths with the same results, and the masks.

The teaching version (:func:`scaled_dot_product_attention`) is the equation ``softmax(Q K^T /
sqrt(E) + mask) V`` line by line and also returns the weights to plot; the production path
(:func:`attend` with ``impl="sdpa"``) calls ``torch.nn.functional.scaled_dot_product_attention``,
which fuses the softmax and never stores the ``(Tq, Tk)`` weights.

Masks follow ``scaled_dot_product_attention``: a bool mask is True where a query may attend, a
float mask is added to the scores; both broadcast to ``(..., Tq, Tk)``. A query with nothing to
attend to gets zeros, as in SDPA.

Shapes: B batch, H heads, Tq query steps, Tk key steps, E width of a query and a key, Ev value
width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from coursekit.nn._checks import check_attention_inputs, check_choice

__all__ = [
    "attend",
    "causal_mask",
    "dot_product_attention",
    "padding_mask",
    "scaled_dot_product_attention",
]

IMPLS = ("sdpa", "naive")


def causal_mask(tq: int, tk: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """Bool ``(Tq, Tk)`` mask, True where query ``i`` may attend key ``j``: ``j <= i + Tk - Tq``.

    With ``Tk == Tq`` it is the lower triangle (chapter 07); with more keys than queries (a
    key/value cache holds ``Tk - Tq`` earlier positions) the last query sees every key.

    >>> causal_mask(2, 3).int().tolist()
    [[1, 1, 0], [1, 1, 1]]
    """
    tk = tq if tk is None else tk
    return torch.ones(tq, tk, dtype=torch.bool, device=device).tril(tk - tq)


def padding_mask(real: Tensor) -> Tensor:
    """``(B, 1, 1, Tk)`` bool mask from ``(B, Tk)`` flags, True on real tokens (the mask of
    :func:`coursekit.data.batching.pad_batch`), so no query attends to padding.

    >>> padding_mask(torch.tensor([[True, False]])).shape
    torch.Size([1, 1, 1, 2])
    """
    return real.bool()[:, None, None, :]


def _with_causal(mask: Tensor | None, tq: int, tk: int, device: torch.device) -> Tensor:
    """``mask`` (bool or float, or None) with the :func:`causal_mask` folded in."""
    keep = causal_mask(tq, tk, device)  # (Tq, Tk)
    if mask is None:
        return keep
    if mask.dtype == torch.bool:
        return mask & keep
    return mask.masked_fill(~keep, float("-inf"))


def _bias(keep: Tensor, dtype: torch.dtype) -> Tensor:
    """A bool mask (True = may attend) as the float mask to add: 0 or -inf."""
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(
        ~keep, float("-inf")
    )


def _masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """``softmax(scores + mask)`` over the last axis; rows with nothing to attend to give zeros.

    Adding a float mask is cheaper than ``masked_fill`` on the ``(Tq, Tk)`` scores (its backward
    passes the gradient through), and the empty rows are found from the mask, not the scores.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    if mask.dtype == torch.bool:
        dead, bias = ~mask.any(dim=-1, keepdim=True), _bias(mask, scores.dtype)
    else:
        dead, bias = torch.isneginf(mask).all(dim=-1, keepdim=True), mask
    weights = torch.softmax(scores + bias.masked_fill(dead, 0.0), dim=-1)  # (..., Tq, Tk)
    return weights.masked_fill(dead, 0.0)


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """The teaching version of chapter 07, ``softmax(Q K^T / sqrt(E) + mask) V``, line by line.

    Args:
        q, k, v: queries ``(..., Tq, E)``, keys ``(..., Tk, E)``, values ``(..., Tk, Ev)``.
        mask: bool (True = may attend) or float (added to the scores), broadcast to
            ``(..., Tq, Tk)``; e.g. :func:`padding_mask`.
        causal: also apply :func:`causal_mask` (no query sees a later key).
        dropout_p: dropout on the weights (pass 0 in eval mode, as for SDPA).
        scale: multiplies the scores; default ``1 / sqrt(E)``.

    Returns:
        the outputs ``(..., Tq, Ev)`` and the attention weights ``(..., Tq, Tk)`` (rows sum to 1).

    >>> out, w = scaled_dot_product_attention(torch.randn(2, 3, 4), torch.randn(2, 5, 4),
    ...                                       torch.randn(2, 5, 6), causal=True)
    >>> out.shape, w.shape
    (torch.Size([2, 3, 6]), torch.Size([2, 3, 5]))
    """
    check_attention_inputs(q, k, v, mask, "scaled_dot_product_attention")
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q * scale) @ k.transpose(
        -2, -1
    )  # (..., Tq, Tk); scaling q costs less than the scores
    tq, tk = q.size(-2), k.size(-2)
    if causal and mask is None and tq <= tk:  # every query sees a key: no empty rows
        weights = torch.softmax(scores + _bias(causal_mask(tq, tk, q.device), q.dtype), dim=-1)
    else:
        mask = _with_causal(mask, tq, tk, q.device) if causal else mask
        weights = _masked_softmax(scores, mask)  # (..., Tq, Tk)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return weights @ v, weights  # (..., Tq, Ev)


def dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False
) -> tuple[Tensor, Tensor]:
    """Unscaled dot-product attention ``softmax(Q K^T) V`` of chapter 06 (Luong's "dot" score);
    the scores grow with the width E, which is why chapter 07 divides by ``sqrt(E)``.

    Same arguments and results as :func:`scaled_dot_product_attention` with ``scale=1``.

    >>> dot_product_attention(torch.ones(1, 1, 2), torch.ones(1, 3, 2), torch.eye(3)[None])[1]
    tensor([[[0.3333, 0.3333, 0.3333]]])
    """
    return scaled_dot_product_attention(q, k, v, mask, causal=causal, scale=1.0)


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
    impl: str = "sdpa",
) -> Tensor:
    """Scaled dot-product attention outputs ``(..., Tq, Ev)``, by ``impl``: ``"sdpa"`` (the
    production path, ``F.scaled_dot_product_attention``) or ``"naive"`` (the teaching version).

    Same arguments as :func:`scaled_dot_product_attention`; the two paths agree to rounding.
    ``causal`` with ``Tk > Tq`` means the queries are the last ``Tq`` positions (a cache).

    >>> q = torch.randn(2, 4, 8, 16)
    >>> torch.allclose(attend(q, q, q, causal=True), attend(q, q, q, causal=True, impl="naive"),
    ...                atol=1e-6)
    True
    """
    check_choice("attend", "impl", impl, IMPLS)
    if impl == "naive":
        return scaled_dot_product_attention(
            q, k, v, mask, causal=causal, dropout_p=dropout_p, scale=scale
        )[0]
    check_attention_inputs(q, k, v, mask, "attend")
    tq, tk = q.size(-2), k.size(-2)
    is_causal = causal and mask is None and tq == tk  # SDPA's own causal mask is top-left aligned
    if causal and not is_causal:
        mask = _with_causal(mask, tq, tk, q.device)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale
    )
