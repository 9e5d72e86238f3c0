"""Positional encodings of chapter 07: the sinusoidal table of "Attention Is All You Need" and
the learned position embedding of GPT (chapter 08; rotary embeddings come with its modern variant).

Attention itself ignores order (permuting the keys permutes nothing in the output), so each
position's vector gets a position-dependent vector added. Both modules share one contract:
``forward(x, offset=0)`` adds the rows ``offset .. offset + T - 1`` of the table, so a decoder
with a key/value cache feeds position ``offset`` next.

Shapes: B batch, T steps, C width, P max_len (rows of the table).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from coursekit.nn._checks import check_int, check_positions

__all__ = [
    "POSITIONAL_ENCODINGS",
    "LearnedPositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "sinusoidal_table",
]


def sinusoidal_table(max_len: int, embed_dim: int) -> Tensor:
    """``(P, C)`` table with ``PE[p, 2i] = sin(p / 10000^(2i/C))`` and ``PE[p, 2i+1] = cos(...)``
    (chapter 07): every column pair is a clock of its own frequency.

    >>> sinusoidal_table(3, 4)[1]
    tensor([0.8415, 0.5403, 0.0100, 0.9999])
    """
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (P, 1)
    rate = torch.exp(
        torch.arange(0, embed_dim, 2, dtype=torch.float64) * -math.log(1e4) / embed_dim
    )
    angle = position * rate  # (P, ceil(C/2))
    table = torch.zeros(max_len, embed_dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : embed_dim // 2])
    return table.float()


class SinusoidalPositionalEncoding(nn.Module):
    """Adds :func:`sinusoidal_table` to its input (chapter 07); no parameters.

    Args:
        embed_dim: C; max_len: P, the longest sequence (a longer one raises, naming the fix).

    Shape:
        x ``(B, T, C)`` -> ``(B, T, C)``, with ``offset + T <= P``.

    >>> SinusoidalPositionalEncoding(4, max_len=8)(torch.zeros(2, 3, 4)).shape
    torch.Size([2, 3, 4])
    """

    def __init__(self, embed_dim: int, max_len: int = 512) -> None:
        check_int(type(self).__name__, "embed_dim", embed_dim)
        check_int(type(self).__name__, "max_len", max_len)
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_table(max_len, embed_dim), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        check_positions(type(self).__name__, x.size(-2), offset, self.max_len)
        return x + self.table[offset : offset + x.size(-2)].to(x.dtype)  # (B, T, C)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained ``(P, C)`` embedding of the position (GPT's ``wpe``, chapter 08).

    Shape:
        x ``(B, T, C)`` -> ``(B, T, C)``, with ``offset + T <= P``.

    >>> LearnedPositionalEmbedding(4, max_len=8)(torch.zeros(2, 3, 4)).shape
    torch.Size([2, 3, 4])
    """

    def __init__(self, embed_dim: int, max_len: int = 512, *, device=None, dtype=None) -> None:
        check_int(type(self).__name__, "embed_dim", embed_dim)
        check_int(type(self).__name__, "max_len", max_len)
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, embed_dim, device=device, dtype=dtype)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        check_positions(type(self).__name__, x.size(-2), offset, self.max_len)
        position = torch.arange(offset, offset + x.size(-2), device=x.device)  # (T,)
        return x + self.embedding(position)  # (B, T, C)


POSITIONAL_ENCODINGS = {
    "learned": LearnedPositionalEmbedding,
    "sinusoidal": SinusoidalPositionalEncoding,
}  # the ``positional`` field of the model configs
