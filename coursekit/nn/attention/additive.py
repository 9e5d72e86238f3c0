"""Additive (Bahdanau) attention of chapter 06: a small tanh network scores a decoder state
against every encoder state, so queries and keys may have different widths.

Shapes: B batch, Tq query steps, Tk key steps, Dq, Dk, Dv query, key and value widths, h hidden.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from coursekit.nn._checks import check_attention_inputs
from coursekit.nn.attention.functional import _masked_softmax

__all__ = ["AdditiveAttention"]


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention of chapter 06: ``score(q, k) = w_v^T tanh(W_q q + W_k k)``.

    Queries and keys may have different widths (a decoder state against encoder states).

    Args:
        query_size, key_size: widths of a query and of a key.
        hidden_size: width of the tanh layer.
        dropout: dropout on the attention weights.

    Shape:
        query ``(B, Tq, Dq)``, key ``(B, Tk, Dk)``, value ``(B, Tk, Dv)``, mask (bool, True =
        may attend) broadcast to ``(B, Tq, Tk)``, e.g. ``real[:, None, :]`` -> context
        ``(B, Tq, Dv)`` and weights ``(B, Tq, Tk)``.

    >>> attn = AdditiveAttention(3, 5, 8)
    >>> context, weights = attn(torch.randn(2, 1, 3), torch.randn(2, 4, 5), torch.randn(2, 4, 6))
    >>> context.shape, weights.shape
    (torch.Size([2, 1, 6]), torch.Size([2, 1, 4]))
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        hidden_size: int,
        dropout: float = 0.0,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype, "bias": False}
        self.W_q = nn.Linear(query_size, hidden_size, **kw)
        self.W_k = nn.Linear(key_size, hidden_size, **kw)
        self.w_v = nn.Linear(hidden_size, 1, **kw)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        check_attention_inputs(query, key, value, mask, "AdditiveAttention", same_width=False)
        features = self.W_q(query).unsqueeze(-2) + self.W_k(key).unsqueeze(-3)  # (B, Tq, Tk, h)
        scores = self.w_v(torch.tanh(features)).squeeze(-1)  # (B, Tq, Tk)
        weights = _masked_softmax(scores, mask)  # (B, Tq, Tk)
        return self.dropout(weights) @ value, weights  # (B, Tq, Dv)
