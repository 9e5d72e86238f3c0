"""The decoder-only Transformer (GPT-style) that chapter 08 pretrains, with a key/value cache.

Token ids in, logits out, the one model interface of the course (STYLE rule 6): ``forward(idx
(B, T)) -> logits (B, T, V)``, so :func:`coursekit.train.lm_loss` trains it. The blocks are
pre-norm :class:`~coursekit.nn.transformer.TransformerEncoderLayer` s with the causal mask (a
"decoder" in GPT's sense: it has no cross-attention); the output layer shares the token
embedding matrix (weight tying, as GPT-2).

The same config also builds today's variant (Llama's recipe, :meth:`GPTConfig.llama`): RMS norm
(``norm="rmsnorm"``), rotary positions inside the attention (``positional="rotary"``), a SwiGLU
feed-forward (``mlp="swiglu"``) and no biases, in
:class:`~coursekit.nn.transformer.modern.ModernBlock` s (that module says why a block of its
own). The GPT-2 settings build exactly the model they built before.

``forward_with_state(idx, cache) -> (logits, cache)`` is the incremental path that
:func:`coursekit.generate.generate` already uses for a model that has it: each call feeds only
the new tokens and reuses the keys and values of the earlier ones from a
:class:`~coursekit.nn.attention.KVCache`, giving the logits that recomputing the whole prefix
would give. ``features(idx) -> (B, T, C)`` is the hidden states before the output layer, what a
classifier fine-tuned on the model reads (chapter 09, :mod:`coursekit.finetune`).

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
    check_positive,
    strict_keywords,
)
from coursekit.nn.attention import KVCache
from coursekit.nn.transformer.feedforward import SwiGLU, swiglu_hidden_dim
from coursekit.nn.transformer.layers import TransformerEncoderLayer
from coursekit.nn.transformer.modern import MLPS, ModernBlock
from coursekit.nn.transformer.norms import NORMS, make_norm
from coursekit.nn.transformer.positional import POSITIONAL_ENCODINGS
from coursekit.nn.transformer.rotary import RotaryEmbedding

POSITIONAL = (*POSITIONAL_ENCODINGS, "rotary")  # added to the embeddings, or rotating q and k

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
        ff_dim: hidden width of the feed-forward layer (default ``4 * embed_dim``, or Llama's
            ``8/3 * embed_dim`` for SwiGLU: :func:`~coursekit.nn.transformer.swiglu_hidden_dim`).
        dropout: on the embeddings, the attention weights and every residual branch.
        bias: biases in the linear layers and layer norms.
        tie_weights: the output layer reuses the token embedding (saves ``V * C`` parameters).
        positional: ``"learned"`` (GPT-2), ``"sinusoidal"``, or ``"rotary"`` (RoPE, Llama; needs
            an even ``embed_dim // num_heads``).
        norm_first: pre-norm blocks (GPT-2; True) or post-norm (the original Transformer; only
            with the GPT-2 block).
        impl: attention path, ``"sdpa"`` or ``"naive"`` (the teaching version).
        norm: ``"layernorm"`` (GPT-2) or ``"rmsnorm"`` (Llama); norm_eps: its epsilon.
        mlp: the feed-forward, ``"gelu"`` (exact GELU), ``"gelu_tanh"`` (GPT-2's ``gelu_new``,
            to load its weights exactly) or ``"swiglu"`` (Llama).
        rope_base: the ``base`` of the rotary angles (``rope_theta`` in Hugging Face configs).
        causal: each position attends to itself and the positions before it (a GPT, trained to
            predict the next token); False lets every position see the whole sequence (a
            BERT-style encoder for the masked-language-model objective, chapter 08).

    With ``norm="layernorm"``, ``mlp`` a GELU and additive positions, the blocks are GPT-2's
    (:class:`~coursekit.nn.transformer.TransformerEncoderLayer`); any other choice builds
    :class:`~coursekit.nn.transformer.modern.ModernBlock` s (``config.modern`` says which).

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
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    mlp: str = "gelu"
    rope_base: float = 10000.0
    causal: bool = True

    @classmethod
    def llama(cls, vocab_size: int, **fields: object) -> GPTConfig:
        """Llama's recipe (Touvron et al., 2023; chapter 08): RMS norm, rotary positions, SwiGLU
        of width ``8/3 C``, no biases, an output layer of its own (``tie_weights=False``, as
        Llama 1 and 2 and Llama 3 from 8B up; Llama 3.2's 1B and 3B tie it). Any other field
        passes through, and may override these.

        >>> c = GPTConfig.llama(vocab_size=100, embed_dim=96, num_heads=4)
        >>> c.norm, c.positional, c.mlp, c.bias, c.tie_weights, c.hidden_dim, c.modern
        ('rmsnorm', 'rotary', 'swiglu', False, False, 256, True)
        """
        recipe = {"norm": "rmsnorm", "positional": "rotary", "mlp": "swiglu", "bias": False}
        return cls(vocab_size=vocab_size, **{**recipe, "tie_weights": False, **fields})

    @property
    def modern(self) -> bool:
        """True when the blocks are :class:`ModernBlock` s rather than GPT-2's."""
        return self.norm != "layernorm" or self.mlp == "swiglu" or self.positional == "rotary"

    @property
    def hidden_dim(self) -> int:
        """The feed-forward width the blocks get: ``ff_dim``, else the default of ``mlp``."""
        if self.ff_dim is not None:
            return self.ff_dim
        return swiglu_hidden_dim(self.embed_dim) if self.mlp == "swiglu" else 4 * self.embed_dim

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("vocab_size", "context_size", "num_layers"):
            check_int(owner, name, getattr(self, name))
        check_heads(owner, self.embed_dim, self.num_heads)
        if self.ff_dim is not None:
            check_int(owner, "ff_dim", self.ff_dim)
        check_fraction(owner, "dropout", self.dropout)
        for name in ("bias", "tie_weights", "norm_first", "causal"):
            check_bool(owner, name, getattr(self, name))
        check_choice(owner, "positional", self.positional, POSITIONAL)
        check_choice(owner, "impl", self.impl, ("sdpa", "naive"))
        check_choice(owner, "norm", self.norm, NORMS)
        check_choice(owner, "mlp", self.mlp, MLPS)
        check_positive(owner, "norm_eps", self.norm_eps)
        check_positive(owner, "rope_base", self.rope_base)
        if self.positional == "rotary" and (self.embed_dim // self.num_heads) % 2:
            head = self.embed_dim // self.num_heads
            raise ValueError(
                f"{owner}: positional='rotary' rotates pairs of dimensions, so each head's width "
                f"embed_dim // num_heads must be even, got {self.embed_dim} // {self.num_heads} "
                f"= {head}: use embed_dim={self.num_heads * (head + 1)}, or "
                f"positional='learned'."
            )
        if self.modern and not self.norm_first:
            raise ValueError(
                f"{owner}: norm={self.norm!r}, mlp={self.mlp!r}, positional={self.positional!r} "
                f"build pre-norm blocks only; post-norm (norm_first=False) is for GPT-2's block "
                f"(norm='layernorm', mlp='gelu', additive positions): set norm_first=True."
            )


class GPT(nn.Module):
    """Decoder-only Transformer language model: token + position embedding, L causal blocks, a
    final layer norm (pre-norm) and the (tied) output layer (chapter 08). In today's variant
    (:meth:`GPTConfig.llama`) positions are rotations inside the attention, the norms RMS norms
    and the feed-forward SwiGLU.

    Initialised as GPT-2: normal(0, 0.02) weights, the residual projections scaled by
    ``1 / sqrt(2 L)``. Token ids are checked as in :class:`~coursekit.nn.RecurrentLM`
    (``model.check_ids = False`` skips the range check's one host read).

    Shape:
        idx ``(B, T)`` int64 with ``T <= P`` -> logits ``(B, T, V)``.

    >>> import torch
    >>> model = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> model(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 11])
    >>> llama = GPT(GPTConfig.llama(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> llama(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 11])
    """

    check_ids: bool = True

    def __init__(self, config: GPTConfig) -> None:
        check_config("GPT", config, GPTConfig, "GPT(GPTConfig(vocab_size=...))")
        super().__init__()
        self.config = c = config
        self.tok = nn.Embedding(c.vocab_size, c.embed_dim)
        self.pos = (  # rotary positions live in each block's attention instead
            None
            if c.positional == "rotary"
            else POSITIONAL_ENCODINGS[c.positional](c.embed_dim, max_len=c.context_size)
        )
        self.drop = nn.Dropout(c.dropout)
        rope = (  # one set of rotary tables, shared by every block (no parameters)
            RotaryEmbedding(c.embed_dim // c.num_heads, c.context_size, c.rope_base)
            if c.positional == "rotary"
            else None
        )
        self.blocks = nn.ModuleList(self._block(c, rope) for _ in range(c.num_layers))
        self.norm = (
            make_norm(c.norm, c.embed_dim, c.norm_eps, c.bias) if c.norm_first else nn.Identity()
        )
        self.head = nn.Linear(c.embed_dim, c.vocab_size, bias=False)
        self.apply(self._init_weights)
        for block in self.blocks:  # residual projections: GPT-2's 1/sqrt(2L)
            ff = getattr(block, "ff", block)
            last = ff.down if isinstance(ff, SwiGLU) else ff.linear2
            for p in (block.self_attn.out_proj.weight, last.weight):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.num_layers))
        if c.tie_weights:
            self.head.weight = self.tok.weight

    @staticmethod
    def _block(c: GPTConfig, rope: RotaryEmbedding | None) -> nn.Module:
        if not c.modern:  # GPT-2's block
            return TransformerEncoderLayer(
                c.embed_dim,
                c.num_heads,
                c.hidden_dim,
                c.dropout,
                activation=c.mlp,
                layer_norm_eps=c.norm_eps,
                norm_first=c.norm_first,
                bias=c.bias,
                impl=c.impl,
            )
        return ModernBlock(
            c.embed_dim,
            c.num_heads,
            c.hidden_dim,
            c.dropout,
            norm=c.norm,
            norm_eps=c.norm_eps,
            mlp=c.mlp,
            rotary=rope,
            bias=c.bias,
            impl=c.impl,
        )

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

    def _hidden(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        """The hidden states after the final norm, ``(B, T, C)``: what the output layer reads."""
        offset = 0 if cache is None else len(cache)
        x = self.tok(idx)  # (B, T, C)
        if self.pos is not None:  # added positions (GPT-2); rotary ones act inside attention
            x = self.pos(x, offset)  # (B, T, C)
        x = self.drop(x)
        layers = [None] * len(self.blocks) if cache is None else cache.layers
        for block, layer_cache in zip(self.blocks, layers, strict=True):
            x = block(x, is_causal=self.config.causal, cache=layer_cache)  # (B, T, C)
        return self.norm(x)  # (B, T, C)

    def _run(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        return self.head(self._hidden(idx, cache))  # (B, T, V)

    def _check_whole(self, idx: Tensor) -> None:
        """The checks of a call without a cache: ids, and a length within the positional table."""
        self._check(idx)
        if idx.size(1) > self.config.context_size:
            raise ValueError(
                f"GPT: {idx.size(1)} tokens are more than context_size={self.config.context_size} "
                f"(the positional table): crop them, idx[:, -{self.config.context_size}:], or "
                f"build the model with GPTConfig(context_size={idx.size(1)}, ...)."
            )

    def forward(self, idx: Tensor) -> Tensor:
        self._check_whole(idx)
        return self._run(idx, None)

    def features(self, idx: Tensor) -> Tensor:
        """The hidden states ``(B, T, C)`` after the final norm, before the output layer: what a
        classifier head reads when the model is fine-tuned (chapter 09,
        :class:`~coursekit.finetune.GPTClassifier`). ``forward`` is the output layer applied to
        them.

        With the causal mask (the default) position ``t`` has read tokens ``0..t`` only, so
        padding on the right changes none of the real tokens' states.

        Shape:
            idx ``(B, T)`` int64 with ``T <= P`` -> ``(B, T, C)``.

        >>> model = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
        >>> idx = torch.zeros(2, 5, dtype=torch.long)
        >>> model.features(idx).shape
        torch.Size([2, 5, 16])
        >>> torch.equal(model.head(model.features(idx)), model(idx))
        True
        """
        self._check_whole(idx)
        return self._hidden(idx, None)

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
        if not self.config.causal:
            raise ValueError(
                "GPT: a model with causal=False (bidirectional, the masked-LM objective) sees "
                "the whole sequence at once, so it cannot be decoded token by token with a "
                "cache, nor used by coursekit.generate: fill in masked positions with model(ids)."
            )
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
