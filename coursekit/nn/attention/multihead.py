"""Multi-head attention of chapter 07, loadable from ``torch.nn.MultiheadAttention`` and back,
and the key/value cache that a decoder (chapter 08) keeps for incremental decoding.

Masks here follow ``nn.MultiheadAttention``: ``key_padding_mask`` ``(B, Tk)`` and a bool
``attn_mask`` are True where a key is masked out (the opposite of
:func:`~coursekit.nn.attention.attend`'s bool masks); a float mask is added to the scores.

Shapes: B batch, H heads, Tq query steps, Tk key steps, E width per head, C model width
(``H * E``), t cached positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn._checks import check_choice, check_heads, reject_unknown
from coursekit.nn.attention.functional import IMPLS, attend, scaled_dot_product_attention

__all__ = ["KVCache", "LayerCache", "MultiHeadAttention"]


@dataclass
class LayerCache:
    """Keys and values ``(B, H, t, E)`` of the positions one attention layer has already seen."""

    k: Tensor | None = None
    v: Tensor | None = None

    def extend(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new positions' keys and values; return all of them."""
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=-2), torch.cat([self.v, v], dim=-2)  # (B, H, t, E)
        self.k, self.v = k, v
        return k, v


@dataclass
class KVCache:
    """The key/value cache of a decoder (chapter 08): one :class:`LayerCache` per layer and the
    token ids seen so far ``(B, t)``, so a model can start again from the last positions when the
    cache outgrows its positional table."""

    layers: list[LayerCache] = field(default_factory=list)
    ids: Tensor | None = None

    @classmethod
    def empty(cls, num_layers: int) -> KVCache:
        return cls([LayerCache() for _ in range(num_layers)])

    def __len__(self) -> int:
        """Positions cached so far."""
        return 0 if self.ids is None else self.ids.size(1)


def _torch_mask_to_additive(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """torch's MHA masks (bool True = masked out, or float added) as a float mask to add."""
    if mask is None or mask.is_floating_point():
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))


class MultiHeadAttention(nn.Module):
    """Multi-head attention of chapter 07: ``concat(head_1..head_H) W_O`` with ``head_i =
    attention(Q W_Q^i, K W_K^i, V W_V^i)``, as ``torch.nn.MultiheadAttention``.

    Same parameters and names (``in_proj_weight (3C, C)``, ``in_proj_bias``, ``out_proj``), so
    ``load_state_dict`` works both ways (:meth:`from_torch`, :meth:`to_torch`); same forward
    arguments and mask conventions (``key_padding_mask`` ``(B, Tk)`` and a bool ``attn_mask``
    ``(Tq, Tk)`` or ``(B * H, Tq, Tk)``: True = masked out; a float mask is added). Differences:
    ``batch_first`` defaults to True, ``need_weights`` to False (the weights need the teaching
    path), and ``is_causal=True`` alone applies the causal mask.

    Args:
        embed_dim: C, the model width; num_heads: H, must divide C.
        dropout: dropout on the attention weights (training only).
        bias: biases on the projections.
        batch_first: ``(B, T, C)`` tensors (else ``(T, B, C)``, as torch's default).
        impl: ``"sdpa"`` or ``"naive"``, the path of :func:`attend`.

    Shape:
        query ``(B, Tq, C)``, key and value ``(B, Tk, C)`` (default: the query, self-attention)
        -> output ``(B, Tq, C)`` and weights ``(B, Tq, Tk)`` (``(B, H, Tq, Tk)`` with
        ``average_attn_weights=False``) or None.

    >>> mha = MultiHeadAttention(8, 2)
    >>> out, weights = mha(torch.randn(3, 5, 8), need_weights=True)
    >>> out.shape, weights.shape
    (torch.Size([3, 5, 8]), torch.Size([3, 5, 5]))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        *,
        impl: str = "sdpa",
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        reject_unknown(
            "MultiHeadAttention",
            unknown,
            ("embed_dim", "num_heads", "dropout", "bias", "batch_first", "impl", "device", "dtype"),
        )
        check_heads("MultiHeadAttention", embed_dim, num_heads)
        check_choice("MultiHeadAttention", "impl", impl, IMPLS)
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first, self.impl = dropout, batch_first, impl
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **kw))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim, **kw)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        nn.init.xavier_uniform_(self.in_proj_weight)  # torch's initialisation
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor, part: int) -> Tensor:
        """Project ``x (B, T, C)`` with one third of ``in_proj`` and split it into heads."""
        c = self.embed_dim
        w = self.in_proj_weight[part * c : (part + 1) * c]
        b = None if self.in_proj_bias is None else self.in_proj_bias[part * c : (part + 1) * c]
        x = F.linear(x, w, b)  # (B, T, C)
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)  # (B, H, T, E)

    def _mask(self, key_padding_mask, attn_mask, batch, tq, tk, dtype) -> Tensor | None:
        """Both torch-style masks as one float mask that broadcasts to ``(B, H, Tq, Tk)``."""
        pad = _torch_mask_to_additive(key_padding_mask, dtype)
        extra = _torch_mask_to_additive(attn_mask, dtype)
        if pad is not None and pad.shape != (batch, tk):
            raise ValueError(
                f"MultiHeadAttention: key_padding_mask must have shape (B, Tk) = {(batch, tk)}, "
                f"got {tuple(pad.shape)}: one flag per key, True on padding."
            )
        if extra is not None:
            if extra.shape == (batch * self.num_heads, tq, tk):
                extra = extra.view(batch, self.num_heads, tq, tk)
            elif extra.shape != (tq, tk):
                raise ValueError(
                    f"MultiHeadAttention: attn_mask must have shape (Tq, Tk) = {(tq, tk)} or "
                    f"(B * H, Tq, Tk) = {(batch * self.num_heads, tq, tk)}, got "
                    f"{tuple(extra.shape)}: causal_mask(Tq, Tk) gives the causal one (invert it "
                    f"with ~, since True here means masked out)."
                )
        if pad is None:
            return extra
        pad = pad[:, None, None, :]  # (B, 1, 1, Tk)
        return pad if extra is None else pad + extra

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
        """Attend; with ``cache`` (self-attention only), earlier positions' keys and values are
        reused and the new ones appended, for incremental decoding."""
        key = query if key is None else key
        value = key if value is None else value
        packed = query is key and key is value  # self-attention: one matmul for Q, K and V
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if cache is not None and not packed:
            raise ValueError(
                "MultiHeadAttention: a key/value cache is for self-attention (query only); "
                "cross-attention over a fixed memory needs no cache: call it without cache=."
            )
        if {query.size(-1), key.size(-1), value.size(-1)} != {self.embed_dim}:
            raise ValueError(
                f"MultiHeadAttention(embed_dim={self.embed_dim}) got query {tuple(query.shape)}, "
                f"key {tuple(key.shape)}, value {tuple(value.shape)}: the last dimension must be "
                f"{self.embed_dim} (batch-first "
                f"tensors (B, T, C); build the layer with the width of your vectors)."
            )
        batch = query.size(0)
        if packed:
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3C)
            qkv = qkv.unflatten(-1, (3, self.num_heads, self.head_dim))  # (B, T, 3, H, E)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, T, E) each
        else:
            q, k, v = self._heads(query, 0), self._heads(key, 1), self._heads(value, 2)
        q, k = self._positions(q, k, cache)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, H, t + T, E)
        tq, tk = q.size(-2), k.size(-2)
        mask = self._mask(key_padding_mask, attn_mask, batch, tq, tk, q.dtype)
        causal = is_causal and attn_mask is None
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            out, weights = scaled_dot_product_attention(
                q, k, v, mask, causal=causal, dropout_p=p
            )  # (B, H, Tq, E), (B, H, Tq, Tk)
            weights = weights.mean(dim=1) if average_attn_weights else weights
        else:
            out = attend(q, k, v, mask, causal=causal, dropout_p=p, impl=self.impl)
        out = self.out_proj(out.transpose(1, 2).flatten(-2))  # (B, Tq, C)
        return (out if self.batch_first else out.transpose(0, 1)), weights

    def _positions(self, q: Tensor, k: Tensor, cache: LayerCache | None) -> tuple[Tensor, Tensor]:
        """Where a subclass puts positions into the queries and keys (rotary embeddings,
        chapter 08) before the cache extends them; here positions were added to the inputs."""
        return q, k

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention, impl: str = "sdpa") -> MultiHeadAttention:
        """A copy of ``torch.nn.MultiheadAttention``'s weights and settings."""
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError(
                "MultiHeadAttention.from_torch takes an nn.MultiheadAttention without kdim/vdim, "
                "add_bias_kv or add_zero_attn: build it with the defaults for those."
            )
        p = module.in_proj_weight
        ours = cls(
            module.embed_dim,
            module.num_heads,
            module.dropout,
            module.in_proj_bias is not None,
            module.batch_first,
            impl=impl,
            device=p.device,
            dtype=p.dtype,
        )
        ours.load_state_dict(module.state_dict())
        return ours

    def to_torch(self) -> nn.MultiheadAttention:
        """An ``nn.MultiheadAttention`` with these weights and settings."""
        p = self.in_proj_weight
        module = nn.MultiheadAttention(
            self.embed_dim,
            self.num_heads,
            self.dropout,
            bias=self.in_proj_bias is not None,
            batch_first=self.batch_first,
            device=p.device,
            dtype=p.dtype,
        )
        module.load_state_dict(self.state_dict())
        return module
