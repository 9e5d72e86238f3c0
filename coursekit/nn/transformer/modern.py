"""The block of today's decoder-only models (chapter 08): pre-norm, RMS norm, rotary positions
inside the attention, a SwiGLU feed-forward and no biases, as in Llama.

Why a block of its own rather than more options on
:class:`~coursekit.nn.transformer.TransformerEncoderLayer`: that layer keeps the constructor,
parameter names and math of ``torch.nn.TransformerEncoderLayer`` (chapter 07 loads torch's
weights into it, and it is GPT-2's block, whose training speed is measured against nanoGPT).
RoPE must act between the projection of the keys and the key/value cache, SwiGLU has three
matrices where the torch layer has ``linear1``/``linear2``, and post-norm has no meaning here,
so options would touch every line of that layer's forward. A second class of 60 lines leaves it
as it is, and each piece can still be switched on its own (``norm``, ``mlp``, ``rotary``) for
the chapter's comparisons.

Parameter names follow the rest of the package: ``norm1``, ``self_attn`` (packed
``in_proj_weight (3C, C)``, ``out_proj``), ``norm2`` and ``ff`` (``gate``, ``up``, ``down`` for
SwiGLU; ``linear1``, ``linear2`` for the MLP).

Shapes: B batch, T steps, C width, H heads, E width per head, t cached positions.
"""

from __future__ import annotations

from torch import Tensor, nn

from coursekit.nn._checks import check_choice, check_fraction, check_heads, reject_unknown
from coursekit.nn.attention import LayerCache, MultiHeadAttention
from coursekit.nn.transformer.feedforward import FeedForward, SwiGLU
from coursekit.nn.transformer.norms import NORMS, make_norm
from coursekit.nn.transformer.rotary import RotaryEmbedding, check_rotary_dim

__all__ = ["MLPS", "ModernBlock", "RotaryMultiHeadAttention"]

MLPS = ("gelu", "gelu_tanh", "swiglu")  # the ``mlp`` field of GPTConfig


class RotaryMultiHeadAttention(MultiHeadAttention):
    """Multi-head self-attention with rotary position embeddings (chapter 08): the queries and
    keys of each head are rotated by their position (:class:`RotaryEmbedding`) before the dot
    product; the values are not.

    Parameters and arguments of :class:`~coursekit.nn.MultiHeadAttention` (it loads the same
    state dict), plus the rotary tables: ``rotary``, a :class:`RotaryEmbedding` that the layers
    of a model share, or else its own of ``max_len`` rows and ``base``. Self-attention only (keys
    and values are the query). With ``cache``, the new tokens take the positions after the
    cached ones.

    Shape:
        query ``(B, T, C)`` -> output ``(B, T, C)`` and weights (as the parent) or None.

    >>> import torch
    >>> attn = RotaryMultiHeadAttention(8, 2, max_len=16, bias=False)
    >>> attn(torch.randn(3, 5, 8), is_causal=True)[0].shape
    torch.Size([3, 5, 8])
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        *,
        rotary: RotaryEmbedding | None = None,
        max_len: int = 512,
        base: float = 10000.0,
        impl: str = "sdpa",
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        owner = type(self).__name__
        valid = ("embed_dim", "num_heads", "dropout", "bias", "batch_first", "rotary", "max_len")
        reject_unknown(owner, unknown, (*valid, "base", "impl", "device", "dtype"))
        check_heads(owner, embed_dim, num_heads)
        check_rotary_dim(owner, embed_dim // num_heads)
        if rotary is not None and rotary.head_dim != embed_dim // num_heads:
            raise ValueError(
                f"{owner}: the rotary tables are for head_dim={rotary.head_dim}, but "
                f"embed_dim // num_heads = {embed_dim // num_heads}: build them with "
                f"RotaryEmbedding({embed_dim // num_heads}, max_len)."
            )
        super().__init__(
            embed_dim, num_heads, dropout, bias, batch_first, impl=impl, device=device, dtype=dtype
        )
        self.rotary = RotaryEmbedding(self.head_dim, max_len, base) if rotary is None else rotary

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = False,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        cache: LayerCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        if any(t is not None and t is not query for t in (key, value)):
            raise ValueError(
                "RotaryMultiHeadAttention is self-attention (positions of one sequence): call it "
                "with the query only; MultiHeadAttention attends over another sequence."
            )
        return super().forward(
            query,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
            cache=cache,
        )

    def _positions(self, q: Tensor, k: Tensor, cache: LayerCache | None) -> tuple[Tensor, Tensor]:
        """Rotate the new queries and keys by their positions, offset by the cached length."""
        offset = 0 if cache is None or cache.k is None else cache.k.size(-2)
        return self.rotary(q, offset), self.rotary(k, offset)  # positions offset .. offset+T-1


class ModernBlock(nn.Module):
    """Pre-norm decoder block of Llama-style models (chapter 08): ``x + attn(norm1(x))``, then
    ``x + ff(norm2(x))``.

    Args:
        embed_dim: C; num_heads: H; ff_dim: hidden width of the feed-forward.
        dropout: on the attention weights and both residual branches.
        norm: ``"rmsnorm"`` (Llama) or ``"layernorm"``; norm_eps: its epsilon.
        mlp: ``"swiglu"`` (Llama), ``"gelu"`` or ``"gelu_tanh"`` (GPT-2's MLP).
        rotary: a :class:`RotaryEmbedding` to rotate queries and keys with (RoPE; one shared by
            all the blocks of a model), or None when the model adds positions to its embeddings.
        bias: biases in every linear layer (and a layer norm's); Llama has none.

    Shape:
        src ``(B, T, C)`` -> ``(B, T, C)`` (the call of ``TransformerEncoderLayer``).

    >>> import torch
    >>> block = ModernBlock(16, 4, ff_dim=32, rotary=RotaryEmbedding(4, max_len=8))
    >>> block(torch.randn(2, 5, 16), is_causal=True).shape
    torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.0,
        *,
        norm: str = "rmsnorm",
        norm_eps: float = 1e-5,
        mlp: str = "swiglu",
        rotary: RotaryEmbedding | None = None,
        bias: bool = False,
        impl: str = "sdpa",
    ) -> None:
        owner = type(self).__name__
        check_choice(owner, "norm", norm, NORMS)
        check_choice(owner, "mlp", mlp, MLPS)
        if rotary is not None and not isinstance(rotary, RotaryEmbedding):
            raise TypeError(
                f"{owner}: rotary must be a RotaryEmbedding or None, got {type(rotary).__name__}: "
                f"write rotary=RotaryEmbedding(embed_dim // num_heads, max_len)."
            )
        check_fraction(owner, "dropout", dropout)
        super().__init__()
        self.norm1 = make_norm(norm, embed_dim, norm_eps, bias)
        if rotary is not None:
            self.self_attn = RotaryMultiHeadAttention(
                embed_dim, num_heads, dropout, bias, rotary=rotary, impl=impl
            )
        else:
            self.self_attn = MultiHeadAttention(embed_dim, num_heads, dropout, bias, impl=impl)
        self.dropout1 = nn.Dropout(dropout)
        self.norm2 = make_norm(norm, embed_dim, norm_eps, bias)
        if mlp == "swiglu":
            self.ff = SwiGLU(embed_dim, ff_dim, dropout, bias)
        else:
            self.ff = FeedForward(embed_dim, ff_dim, mlp, dropout, bias)

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        cache: LayerCache | None = None,
    ) -> Tensor:
        """With ``cache``, ``src`` holds only the new positions (incremental decoding)."""
        h = self.norm1(src)  # (B, T, C)
        attn = self.self_attn(
            h,
            key_padding_mask=src_key_padding_mask,
            attn_mask=src_mask,
            is_causal=is_causal,
            cache=cache,
        )[0]
        x = src + self.dropout1(attn)  # (B, T, C)
        return x + self.ff(self.norm2(x))  # (B, T, C)
