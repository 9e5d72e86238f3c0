"""Position-wise feed-forward networks of chapter 08: GPT-2's two-layer MLP and the SwiGLU of
today's decoder-only models (Shazeer, 2020; PaLM, Llama).

MLP: ``W2 act(W1 x)``, ``act`` GELU (exact, or GPT-2's tanh approximation). SwiGLU:
``W2 (silu(W1 x) * W3 x)``: a gated linear unit, one projection (``gate``) decides through SiLU
how much of the other (``up``) passes. It has three matrices instead of two, so at equal
parameters its hidden width is ``2/3`` of the MLP's (Llama: ``8/3 C`` rather than ``4 C``).

Shapes: B batch, T steps, C width, F hidden width.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn._checks import check_choice, check_fraction, check_int
from coursekit.nn.transformer.layers import ACTIVATIONS

__all__ = ["FeedForward", "SwiGLU", "swiglu_hidden_dim"]


def swiglu_hidden_dim(embed_dim: int, multiple_of: int = 1) -> int:
    """Llama's SwiGLU width for ``embed_dim``: ``8/3 C`` (the parameters of a ``4 C`` MLP),
    rounded up to a multiple of ``multiple_of`` (Llama uses 256).

    >>> swiglu_hidden_dim(4096, multiple_of=256)  # Llama 7B
    11008
    """
    hidden = int(2 * 4 * embed_dim / 3)
    return multiple_of * -(-hidden // multiple_of)


class FeedForward(nn.Module):
    """GPT-2's feed-forward block (chapter 08): ``linear2(act(linear1 x))``, then dropout.

    Args:
        embed_dim: C; hidden_dim: F; activation: ``"gelu"``, ``"gelu_tanh"`` (GPT-2's
            ``gelu_new``) or ``"relu"``; dropout: on the output; bias: on both layers.

    Shape:
        x ``(B, T, C)`` -> ``(B, T, C)``.

    >>> import torch
    >>> FeedForward(8, 32)(torch.randn(2, 3, 8)).shape
    torch.Size([2, 3, 8])
    """

    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int,
        activation: str = "gelu",
        dropout: float = 0.0,
        bias: bool = True,
        *,
        device=None,
        dtype=None,
    ) -> None:
        owner = type(self).__name__
        check_int(owner, "hidden_dim", hidden_dim)
        check_choice(owner, "activation", activation, ACTIVATIONS)
        check_fraction(owner, "dropout", dropout)
        super().__init__()
        kw = {"bias": bias, "device": device, "dtype": dtype}
        self.activation = ACTIVATIONS[activation]
        self.linear1 = nn.Linear(embed_dim, hidden_dim, **kw)
        self.linear2 = nn.Linear(hidden_dim, embed_dim, **kw)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.linear2(self.activation(self.linear1(x))))  # (B, T, C)


class SwiGLU(nn.Module):
    """The gated feed-forward block of Llama (chapter 08): ``down(silu(gate x) * up x)``, then
    dropout; ``gate``, ``up``, ``down`` are the paper's ``W1``, ``W3``, ``W2``.

    Args:
        embed_dim: C; hidden_dim: F (:func:`swiglu_hidden_dim` gives Llama's choice);
        dropout: on the output; bias: on the three layers (Llama has none).

    Shape:
        x ``(B, T, C)`` -> ``(B, T, C)``.

    >>> import torch
    >>> ff = SwiGLU(8, 16)
    >>> x = torch.randn(2, 3, 8)
    >>> torch.allclose(ff(x), ff.down(F.silu(ff.gate(x)) * ff.up(x)))
    True
    """

    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int,
        dropout: float = 0.0,
        bias: bool = False,
        *,
        device=None,
        dtype=None,
    ) -> None:
        check_int(type(self).__name__, "hidden_dim", hidden_dim)
        check_fraction(type(self).__name__, "dropout", dropout)
        super().__init__()
        kw = {"bias": bias, "device": device, "dtype": dtype}
        self.gate = nn.Linear(embed_dim, hidden_dim, **kw)  # W1
        self.up = nn.Linear(embed_dim, hidden_dim, **kw)  # W3
        self.down = nn.Linear(hidden_dim, embed_dim, **kw)  # W2
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = F.silu(self.gate(x)) * self.up(x)  # (B, T, F)
        return self.dropout(self.down(h))  # (B, T, C)
