"""Rotary position embeddings (RoPE) of chapter 08, from the RoFormer paper (Su et al., 2021), as
Llama and most of today's decoder-only models use them.

Instead of adding a position vector to the token embedding, RoPE turns every query and key
before the dot product: the head's ``E`` dimensions form ``E/2`` pairs, and pair ``i`` at
position ``m`` is rotated by the angle ``m * theta_i``, with ``theta_i = base^(-2i/E)`` (one
clock per pair, fast to slow, as in the sinusoidal table of chapter 07). A rotation keeps
lengths, and two rotations compose, so for a query at position ``m`` and a key at ``n``::

    <R(m) q, R(n) k> = <q, R(n - m) k>

the score depends on the positions only through the offset ``n - m`` (the property the tests
check). Nothing is learned, and nothing is added to the residual stream.

Pairing. The paper pairs neighbouring dimensions ``(2i, 2i + 1)``. We pair ``i`` with
``i + E/2`` (the "half-split" layout of Hugging Face's Llama, ``rotate_half``): the same rotation
up to a fixed permutation of each head's dimensions, which the learned ``W_Q`` and ``W_K``
absorb, so both layouts give the same models; only the weights must be stored in the layout the
code expects. In that layout, for the ``(P, E)`` tables ``cos[m] = cos(m * [theta, theta])`` and
``sin[m]`` likewise::

    rope(x)[m] = x[m] * cos[m] + rotate_half(x[m]) * sin[m],   rotate_half(x) = [-x2, x1]

where ``x1, x2`` are the first and second halves of ``x``.

With a key/value cache the new tokens are at positions ``offset .. offset + T - 1``, ``offset``
the number of cached positions; the cached keys were rotated when they were new.

Shapes: B batch, H heads, T steps, E width per head (even), P max_len (rows of the tables).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from coursekit.nn._checks import check_int, check_positions

__all__ = ["RotaryEmbedding", "apply_rotary", "check_rotary_dim", "rotary_tables", "rotate_half"]


def check_rotary_dim(owner: str, head_dim: int) -> None:
    """``head_dim`` is even: RoPE rotates the dimensions in pairs."""
    check_int(owner, "head_dim", head_dim)
    if head_dim % 2:
        raise ValueError(
            f"{owner}: rotary embeddings rotate pairs of dimensions, so the per-head width must be "
            f"even, got {head_dim}: choose embed_dim and num_heads with an even "
            f"embed_dim // num_heads (e.g. head width {head_dim + 1})."
        )


def rotary_tables(
    max_len: int, head_dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """The ``(P, E)`` tables ``cos(m * theta)``, ``sin(m * theta)`` with ``theta_i =
    base^(-2i/E)`` repeated for both halves (chapter 08).

    The angles are computed in ``dtype``: float32 by default, as the reference Llama code and
    Hugging Face do, so a converted model sees the positions it was trained with (the angle's
    rounding grows with the position); float64 for exact checks.

    >>> cos, sin = rotary_tables(3, 4)
    >>> sin[1]  # theta = [1, 1/100], twice
    tensor([0.8415, 0.0100, 0.8415, 0.0100])
    """
    check_int("rotary_tables", "max_len", max_len)
    check_rotary_dim("rotary_tables", head_dim)
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=dtype) / head_dim))
    angle = torch.arange(max_len, dtype=dtype)[:, None] * inv_freq  # (P, E/2)
    angle = torch.cat([angle, angle], dim=-1)  # (P, E): pair i is (i, i + E/2)
    return angle.cos(), angle.sin()


def rotate_half(x: Tensor) -> Tensor:
    """``[x1, x2] -> [-x2, x1]`` over the last dimension: each pair ``(i, i + E/2)`` turned by
    90 degrees.

    >>> rotate_half(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([-3., -4.,  1.,  2.])
    """
    x1, x2 = x.chunk(2, dim=-1)  # (..., E/2) each
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor, offset: int = 0) -> Tensor:
    """Rotate the positions ``offset .. offset + T - 1`` of ``x`` (queries or keys).

    Shape:
        x ``(..., T, E)``, cos and sin ``(P, E)`` (from :func:`rotary_tables`) -> ``(..., T, E)``.

    >>> cos, sin = rotary_tables(8, 2)
    >>> apply_rotary(torch.tensor([[1.0, 0.0]]), cos, sin, offset=1)  # turned by 1 radian
    tensor([[0.5403, 0.8415]])
    """
    steps = x.size(-2)
    check_positions("apply_rotary", steps, offset, cos.size(0))
    cos = cos[offset : offset + steps].to(x.dtype)  # (T, E)
    sin = sin[offset : offset + steps].to(x.dtype)
    return x * cos + rotate_half(x) * sin  # (..., T, E)


class RotaryEmbedding(nn.Module):
    """Rotates queries or keys by their position (RoPE, chapter 08); no parameters, the tables
    are buffers that are not saved in the state dict.

    Same contract as the additive encodings of :mod:`~coursekit.nn.transformer.positional`:
    ``forward(x, offset=0)``, positions ``offset .. offset + T - 1``; but it is applied to the
    queries and keys of every attention layer, not to the embeddings.

    Args:
        head_dim: E, the width per head (even); max_len: P, the longest sequence.
        base: the slowest clock's wavelength scale (``rope_theta`` in Hugging Face configs).

    Shape:
        x ``(B, H, T, E)`` -> ``(B, H, T, E)``, with ``offset + T <= P``.

    >>> rope = RotaryEmbedding(8, max_len=16)
    >>> q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    >>> score = lambda m, n: (rope(q, m) * rope(k, n)).sum().item()
    >>> abs(score(5, 2) - score(12, 9)) < 1e-5  # only n - m matters
    True
    """

    def __init__(self, head_dim: int, max_len: int = 512, base: float = 10000.0) -> None:
        super().__init__()
        self.head_dim, self.max_len, self.base = head_dim, max_len, base
        cos, sin = rotary_tables(max_len, head_dim, base)
        self.register_buffer("cos", cos, persistent=False)  # (P, E)
        self.register_buffer("sin", sin, persistent=False)  # (P, E)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        return apply_rotary(x, self.cos, self.sin, offset)  # (B, H, T, E)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_len={self.max_len}, base={self.base}"
