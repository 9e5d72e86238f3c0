"""Transformer encoder and decoder layers of chapter 07, post-norm as in the paper and pre-norm
as in GPT (chapter 08), with the parameter names of ``torch.nn.TransformerEncoderLayer`` and
``torch.nn.TransformerDecoderLayer``, so weights load across with ``load_state_dict``.

Post-norm (``norm_first=False``): ``x = LayerNorm(x + Sublayer(x))``. Pre-norm
(``norm_first=True``): ``x = x + Sublayer(LayerNorm(x))``, which keeps an identity path through
the whole stack and trains deep models without warm-up tricks. The sublayers are self-attention,
(in the decoder) attention over the encoder's output, and a two-layer feed-forward network
applied at every position.

Masks use torch's layer conventions (``*_key_padding_mask`` ``(B, T)``: True on padding; a bool
``*_mask``: True = masked out; a float one is added). ``is_causal=True`` alone applies the
causal mask (torch treats it only as a hint about the mask you pass).

Shapes: B batch, T target (or source) steps, S source steps, C width (d_model), F feed-forward
width.
"""

from __future__ import annotations

import functools

import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn._checks import check_bool, check_choice, check_fraction, check_int, reject_unknown
from coursekit.nn.attention import LayerCache, MultiHeadAttention

__all__ = ["TransformerDecoderLayer", "TransformerEncoderLayer"]

ACTIVATIONS = {  # "gelu_tanh" (GPT-2's "gelu_new") is coursekit's, not torch's
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": functools.partial(F.gelu, approximate="tanh"),
}
_ARGS = (
    "d_model",
    "nhead",
    "dim_feedforward",
    "dropout",
    "activation",
    "layer_norm_eps",
    "batch_first",
    "norm_first",
    "bias",
    "impl",
    "device",
    "dtype",
)


class _Layer(nn.Module):
    """What both layers share: torch's constructor arguments (checked), the self-attention, the
    feed-forward block and ``norms`` layer norms; ``cross`` adds the attention over memory."""

    norms: int = 2
    cross: bool = False

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        impl: str = "sdpa",
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        owner = type(self).__name__
        reject_unknown(owner, unknown, _ARGS)
        check_int(owner, "dim_feedforward", dim_feedforward)
        check_fraction(owner, "dropout", dropout)
        check_choice(owner, "activation", activation, ACTIVATIONS)
        check_bool(owner, "norm_first", norm_first)
        check_bool(owner, "batch_first", batch_first)
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.norm_first, self.batch_first = norm_first, batch_first
        self.activation = ACTIVATIONS[activation]
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout, bias, impl=impl, **kw)
        if self.cross:
            self.multihead_attn = MultiHeadAttention(d_model, nhead, dropout, bias, impl=impl, **kw)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **kw)
        for i in range(1, self.norms + 1):
            setattr(self, f"norm{i}", nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
            setattr(self, f"dropout{i}", nn.Dropout(dropout))

    def _ff_block(self, x: Tensor, drop: nn.Dropout) -> Tensor:
        return drop(self.linear2(self.dropout(self.activation(self.linear1(x)))))  # (B, T, C)

    def _sa_block(self, x, mask, padding, causal, cache) -> Tensor:
        out = self.self_attn(
            x, key_padding_mask=padding, attn_mask=mask, is_causal=causal, cache=cache
        )[0]
        return self.dropout1(out)  # (B, T, C)

    def _residual(self, x: Tensor, sublayer, norm: nn.LayerNorm) -> Tensor:
        """Pre-norm ``x + f(norm(x))`` or post-norm ``norm(x + f(x))``."""
        return x + sublayer(norm(x)) if self.norm_first else norm(x + sublayer(x))


class TransformerEncoderLayer(_Layer):
    """Self-attention and feed-forward, each in a residual block (chapter 07); also the block of
    the GPT (chapter 08) with ``norm_first=True``, ``activation="gelu"`` and ``is_causal=True``.

    Same arguments and parameter names as ``torch.nn.TransformerEncoderLayer`` (``activation``
    is ``"relu"``, ``"gelu"`` or, beyond torch, ``"gelu_tanh"``: GPT-2's tanh approximation);
    ``batch_first`` defaults to True.

    Shape:
        src ``(B, T, C)`` -> ``(B, T, C)``.

    >>> import torch
    >>> layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    >>> layer(torch.randn(3, 5, 8), is_causal=True).shape
    torch.Size([3, 5, 8])
    """

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        cache: LayerCache | None = None,
    ) -> Tensor:
        """With ``cache``, ``src`` holds only the new positions (incremental decoding)."""
        x = src if self.batch_first else src.transpose(0, 1)  # (B, T, C)
        x = self._residual(
            x,
            lambda h: self._sa_block(h, src_mask, src_key_padding_mask, is_causal, cache),
            self.norm1,
        )
        x = self._residual(x, lambda h: self._ff_block(h, self.dropout2), self.norm2)
        return x if self.batch_first else x.transpose(0, 1)


class TransformerDecoderLayer(_Layer):
    """Masked self-attention, attention over the encoder's output (``memory``) and feed-forward,
    each in a residual block (chapter 07).

    Same arguments and parameter names as ``torch.nn.TransformerDecoderLayer``; ``batch_first``
    defaults to True.

    Shape:
        tgt ``(B, T, C)``, memory ``(B, S, C)`` -> ``(B, T, C)``.

    >>> import torch
    >>> layer = TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    >>> layer(torch.randn(3, 5, 8), torch.randn(3, 7, 8), tgt_is_causal=True).shape
    torch.Size([3, 5, 8])
    """

    norms = 3
    cross = True

    def _mha_block(self, x: Tensor, memory: Tensor, mask, padding) -> Tensor:
        out = self.multihead_attn(x, memory, memory, key_padding_mask=padding, attn_mask=mask)[0]
        return self.dropout2(out)  # (B, T, C)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
        cache: LayerCache | None = None,
    ) -> Tensor:
        """With ``cache``, ``tgt`` holds only the new positions; the attention over ``memory`` is
        recomputed (its keys do not grow)."""
        if memory_is_causal and memory_mask is None:
            raise ValueError(
                "TransformerDecoderLayer: memory_is_causal=True needs the memory_mask itself "
                "(as in torch): pass ~causal_mask(T, S) from coursekit.nn.attention."
            )
        x, mem = (
            (tgt, memory) if self.batch_first else (tgt.transpose(0, 1), memory.transpose(0, 1))
        )
        x = self._residual(
            x,
            lambda h: self._sa_block(h, tgt_mask, tgt_key_padding_mask, tgt_is_causal, cache),
            self.norm1,
        )
        x = self._residual(
            x, lambda h: self._mha_block(h, mem, memory_mask, memory_key_padding_mask), self.norm2
        )
        x = self._residual(x, lambda h: self._ff_block(h, self.dropout3), self.norm3)
        return x if self.batch_first else x.transpose(0, 1)
