"""The decoder-only Transformer (GPT-style) that chapter 08 pretrains, with a key/value cache.

Token ids in, logits out, the one model interface of the course (STYLE rule 6): ``forward(idx
(B, T)) -> logits (B, T, V)``, so :func:`coursekit.train.lm_loss` trains it. The blocks are
pre-norm :class:`~coursekit.nn.transformer.TransformerEncoderLayer` s with the causal mask (a
"decoder" in GPT's sense: it has no cross-attention); the output layer shares the token
embedding matrix (weight tying, as GPT-2).

``forward_with_state(idx, cache) -> (logits, cache)`` is the incremental path that
:func:`coursekit.generate.generate` already uses for a model that has it: each call feeds only
the new tokens and reuses the keys and values of the earlier ones from a
:class:`~coursekit.nn.attention.KVCache`, giving the logits that recomputing the whole prefix
would give.

Shapes: B batch, T steps, C width, L layers, H heads, V vocab, P context_size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from coursekit.nn._checks import (
    check_bool,
    check_choice,
    check_config,
    check_fraction,
    check_heads,
    check_id_batch,
    check_int,
    strict_keywords,
)
from coursekit.nn.attention import KVCache
from coursekit.nn.transformer.layers import TransformerEncoderLayer
from coursekit.nn.transformer.positional import POSITIONAL_ENCODINGS

__all__ = ["GPT", "GPTConfig"]


@strict_keywords
@dataclass(frozen=True)
class GPTConfig:
    """Size and kind of a :class:`GPT` (chapter 08), checked when made.

    Args:
        vocab_size: V, number of token ids.
        context_size: P, the longest sequence (rows of the positional table); pass it to
            :func:`~coursekit.generate.generate` as ``context_size``.
        embed_dim: C, the model width; num_heads: H, must divide C; num_layers: L blocks.
        ff_dim: width of the feed-forward layer (default ``4 * embed_dim``).
        dropout: on the embeddings, the attention weights and every residual branch.
        bias: biases in the linear layers and layer norms.
        tie_weights: the output layer reuses the token embedding (saves ``V * C`` parameters).
        positional: ``"learned"`` (GPT-2) or ``"sinusoidal"``.
        norm_first: pre-norm blocks (GPT-2; True) or post-norm (the original Transformer).
        impl: attention path, ``"sdpa"`` or ``"naive"`` (the teaching version).

    >>> GPTConfig(vocab_size=10, embed_dim=30, num_heads=4)
    Traceback (most recent call last):
    ...
    ValueError: GPTConfig: num_heads=4 does not divide embed_dim=30 (each head takes embed_dim // num_heads columns): use num_heads=3, or an embed_dim that is a multiple of 4, e.g. 28.
    """

    vocab_size: int
    context_size: int = 128
    embed_dim: int = 128
    num_heads: int = 4
    num_layers: int = 4
    ff_dim: int | None = None
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    positional: str = "learned"
    norm_first: bool = True
    impl: str = "sdpa"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("vocab_size", "context_size", "num_layers"):
            check_int(owner, name, getattr(self, name))
        check_heads(owner, self.embed_dim, self.num_heads)
        if self.ff_dim is not None:
            check_int(owner, "ff_dim", self.ff_dim)
        check_fraction(owner, "dropout", self.dropout)
        for name in ("bias", "tie_weights", "norm_first"):
            check_bool(owner, name, getattr(self, name))
        check_choice(owner, "positional", self.positional, POSITIONAL_ENCODINGS)
        check_choice(owner, "impl", self.impl, ("sdpa", "naive"))


class GPT(nn.Module):
    """Decoder-only Transformer language model: token + position embedding, L causal blocks, a
    final layer norm (pre-norm) and the (tied) output layer (chapter 08).

    Initialised as GPT-2: normal(0, 0.02) weights, the residual projections scaled by
    ``1 / sqrt(2 L)``. Token ids are checked as in :class:`~coursekit.nn.RecurrentLM`
    (``model.check_ids = False`` skips the range check's one host read).

    Shape:
        idx ``(B, T)`` int64 with ``T <= P`` -> logits ``(B, T, V)``.

    >>> import torch
    >>> model = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> model(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 11])
    """

    check_ids: bool = True

    def __init__(self, config: GPTConfig) -> None:
        check_config("GPT", config, GPTConfig, "GPT(GPTConfig(vocab_size=...))")
        super().__init__()
        self.config = c = config
        self.tok = nn.Embedding(c.vocab_size, c.embed_dim)
        self.pos = POSITIONAL_ENCODINGS[c.positional](c.embed_dim, max_len=c.context_size)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(
                c.embed_dim,
                c.num_heads,
                c.ff_dim or 4 * c.embed_dim,
                c.dropout,
                activation="gelu",
                norm_first=c.norm_first,
                bias=c.bias,
                impl=c.impl,
            )
            for _ in range(c.num_layers)
        )
        self.norm = nn.LayerNorm(c.embed_dim, bias=c.bias) if c.norm_first else nn.Identity()
        self.head = nn.Linear(c.embed_dim, c.vocab_size, bias=False)
        self.apply(self._init_weights)
        for block in self.blocks:  # residual projections: GPT-2's 1/sqrt(2L)
            for p in (block.self_attn.out_proj.weight, block.linear2.weight):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.num_layers))
        if c.tie_weights:
            self.head.weight = self.tok.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if hasattr(module, "in_proj_weight"):
            nn.init.normal_(module.in_proj_weight, std=0.02)

    def _check(self, idx: Tensor) -> None:
        check_id_batch(idx, self.config.vocab_size, type(self).__name__, self.check_ids)

    def _run(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        offset = 0 if cache is None else len(cache)
        x = self.drop(self.pos(self.tok(idx), offset))  # (B, T, C)
        layers = [None] * len(self.blocks) if cache is None else cache.layers
        for block, layer_cache in zip(self.blocks, layers, strict=True):
            x = block(x, is_causal=True, cache=layer_cache)  # (B, T, C)
        return self.head(self.norm(x))  # (B, T, V)

    def forward(self, idx: Tensor) -> Tensor:
        self._check(idx)
        if idx.size(1) > self.config.context_size:
            raise ValueError(
                f"GPT: {idx.size(1)} tokens are more than context_size={self.config.context_size} "
                f"(the positional table): crop them, idx[:, -{self.config.context_size}:], or "
                f"build the model with GPTConfig(context_size={idx.size(1)}, ...)."
            )
        return self._run(idx, None)

    def forward_with_state(
        self, idx: Tensor, state: KVCache | None = None
    ) -> tuple[Tensor, KVCache]:
        """Logits for the new tokens ``idx (B, t)`` after those in ``state``, and the cache to
        continue from (the same object, extended). None starts an empty cache.

        When the cached and new tokens together pass ``context_size``, the model starts again
        from the last ``context_size`` tokens (recomputing them, as ``generate(...,
        context_size=P)`` does without a cache) and returns logits for those positions.
        """
        self._check(idx)
        cache = KVCache.empty(len(self.blocks)) if state is None else state
        if len(cache) + idx.size(1) > self.config.context_size:
            seen = idx if cache.ids is None else torch.cat([cache.ids, idx], dim=1)  # (B, t+T)
            idx, cache = seen[:, -self.config.context_size :], KVCache.empty(len(self.blocks))
        logits = self._run(idx, cache)  # (B, T, V)
        cache.ids = idx if cache.ids is None else torch.cat([cache.ids, idx], dim=1)
        return logits, cache

    def num_parameters(self) -> int:
        """Trainable parameters (a tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
