"""The encoder-decoder Transformer of chapter 07, trained on chapter 06's sequence-to-sequence
task so the two chapters compare attention over RNN states with attention everywhere.

The encoder reads the source with self-attention; the decoder reads the target so far with
causal self-attention and the encoder's output with cross-attention. Embeddings are scaled by
``sqrt(C)`` before the positional encoding is added, as in "Attention Is All You Need" §3.4.
Masks are :class:`~coursekit.data.batching.Seq2SeqBatch`'s: ``(B, S)`` bool, True on real tokens.
Targets are right-padded, so the causal mask alone keeps every real position from seeing padding.

Shapes: B batch, S source steps, T target steps, C width, V target vocab.
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
from coursekit.nn.transformer.layers import TransformerDecoderLayer, TransformerEncoderLayer
from coursekit.nn.transformer.positional import POSITIONAL_ENCODINGS

__all__ = ["Seq2SeqTransformer", "Seq2SeqTransformerConfig"]


@strict_keywords
@dataclass(frozen=True)
class Seq2SeqTransformerConfig:
    """Size and kind of a :class:`Seq2SeqTransformer` (chapter 07), checked when made.

    Args:
        src_vocab_size, tgt_vocab_size: vocabularies of the source and the target.
        embed_dim: C; num_heads: H, must divide C.
        num_encoder_layers, num_decoder_layers: depth of each stack.
        ff_dim: feed-forward width; dropout: as in the paper (0.1).
        max_len: the longest source or target sequence.
        norm_first: pre-norm (True) or the paper's post-norm (False).
        positional: ``"sinusoidal"`` (the paper) or ``"learned"``.
        pad_id: the padding id, used for the source mask when none is passed (None: no mask).
        share_embeddings: one embedding matrix for source, target and the output layer (the
            paper's §3.4; needs one vocabulary, ``src_vocab_size == tgt_vocab_size``).

    >>> Seq2SeqTransformerConfig(src_vocab_size=10, tgt_vocab_size=12, dropout=1.5)
    Traceback (most recent call last):
    ...
    ValueError: Seq2SeqTransformerConfig: dropout must be in [0, 1), got 1.5.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    embed_dim: int = 128
    num_heads: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    ff_dim: int = 512
    dropout: float = 0.1
    max_len: int = 256
    norm_first: bool = False
    positional: str = "sinusoidal"
    pad_id: int | None = 0
    share_embeddings: bool = False

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in (
            "src_vocab_size",
            "tgt_vocab_size",
            "num_encoder_layers",
            "num_decoder_layers",
            "ff_dim",
            "max_len",
        ):
            check_int(owner, name, getattr(self, name))
        check_heads(owner, self.embed_dim, self.num_heads)
        check_fraction(owner, "dropout", self.dropout)
        check_bool(owner, "norm_first", self.norm_first)
        check_choice(owner, "positional", self.positional, POSITIONAL_ENCODINGS)
        if self.pad_id is not None:
            check_int(owner, "pad_id", self.pad_id, minimum=0)
        check_bool(owner, "share_embeddings", self.share_embeddings)
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                f"{owner}: share_embeddings=True needs one vocabulary for source and target, got "
                f"src_vocab_size={self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}."
            )


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer (chapter 07): source ids and target ids in, logits out.

    ``encode`` and ``decode`` are separate so greedy decoding encodes once; ``decode`` takes a
    :class:`~coursekit.nn.attention.KVCache` to feed one target token per step.

    Shape:
        src ``(B, S)``, tgt ``(B, T)`` (``<bos>`` + target), src_mask ``(B, S)`` bool (True on
        real tokens) -> logits ``(B, T, V)``.

    >>> import torch
    >>> model = Seq2SeqTransformer(Seq2SeqTransformerConfig(9, 7, embed_dim=8, ff_dim=16))
    >>> model(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 3, dtype=torch.long)).shape
    torch.Size([2, 3, 7])
    """

    check_ids: bool = True

    def __init__(self, config: Seq2SeqTransformerConfig) -> None:
        check_config(
            "Seq2SeqTransformer",
            config,
            Seq2SeqTransformerConfig,
            "Seq2SeqTransformer(Seq2SeqTransformerConfig(src_vocab_size=..., tgt_vocab_size=...))",
        )
        super().__init__()
        self.config = c = config
        kw = {"dim_feedforward": c.ff_dim, "dropout": c.dropout, "norm_first": c.norm_first}
        self.src_embed = nn.Embedding(c.src_vocab_size, c.embed_dim)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.embed_dim)
        self.src_pos = POSITIONAL_ENCODINGS[c.positional](c.embed_dim, max_len=c.max_len)
        self.tgt_pos = POSITIONAL_ENCODINGS[c.positional](c.embed_dim, max_len=c.max_len)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(
            TransformerEncoderLayer(c.embed_dim, c.num_heads, **kw)
            for _ in range(c.num_encoder_layers)
        )
        self.decoder = nn.ModuleList(
            TransformerDecoderLayer(c.embed_dim, c.num_heads, **kw)
            for _ in range(c.num_decoder_layers)
        )
        final = (lambda: nn.LayerNorm(c.embed_dim)) if c.norm_first else nn.Identity  # pre-norm
        self.encoder_norm, self.decoder_norm = final(), final()
        self.head = nn.Linear(c.embed_dim, c.tgt_vocab_size)
        if c.share_embeddings:  # one (V, C) matrix: source and target lookups, output layer
            # std C^-1/2, so that the lookups times √C have std 1 and the output logits start small
            nn.init.normal_(self.src_embed.weight, std=c.embed_dim**-0.5)
            self.tgt_embed.weight = self.src_embed.weight
            self.head.weight = self.src_embed.weight

    def _embed(self, ids, vocab_size, embed, pos, offset=0) -> Tensor:
        check_id_batch(ids, vocab_size, type(self).__name__, self.check_ids)
        x = embed(ids) * math.sqrt(self.config.embed_dim)  # (B, T, C)
        return self.drop(pos(x, offset))

    def _padding(self, src: Tensor, src_mask: Tensor | None) -> Tensor | None:
        """torch-style key padding mask (True on padding) from a mask of real tokens."""
        if src_mask is None:
            return None if self.config.pad_id is None else src == self.config.pad_id
        if src_mask.shape != src.shape:
            raise ValueError(
                f"src_mask must have the shape of src {tuple(src.shape)}, got "
                f"{tuple(src_mask.shape)}: pass the mask pad_batch returned with these ids."
            )
        return ~src_mask.bool()

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """Encoder output ``(B, S, C)``, the memory the decoder attends to."""
        x = self._embed(src, self.config.src_vocab_size, self.src_embed, self.src_pos)
        padding = self._padding(src, src_mask)
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=padding)  # (B, S, C)
        return self.encoder_norm(x)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        src: Tensor,
        src_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        """Logits ``(B, T, V)`` for target ids ``tgt`` given ``memory = encode(src, src_mask)``;
        with ``cache``, ``tgt`` holds only the tokens after those already cached."""
        offset = 0 if cache is None else len(cache)
        x = self._embed(tgt, self.config.tgt_vocab_size, self.tgt_embed, self.tgt_pos, offset)
        padding = self._padding(src, src_mask)
        layers = [None] * len(self.decoder) if cache is None else cache.layers
        for layer, layer_cache in zip(self.decoder, layers, strict=True):
            x = layer(
                x, memory, memory_key_padding_mask=padding, tgt_is_causal=True, cache=layer_cache
            )  # (B, T, C)
        if cache is not None:
            cache.ids = tgt if cache.ids is None else torch.cat([cache.ids, tgt], dim=1)
        return self.head(self.decoder_norm(x))  # (B, T, V)

    def decode_step(
        self, tgt: Tensor, memory: Tensor, src_mask: Tensor, cache: KVCache | None = None
    ) -> tuple[Tensor, KVCache]:
        """The step of :mod:`coursekit.seq2seq`'s encoder-decoder protocol: logits ``(B, V)`` of
        the position after the last of ``tgt`` and the cache of every position fed so far (a new
        one when ``cache`` is None)."""
        cache = KVCache.empty(len(self.decoder)) if cache is None else cache
        # decode reads its src argument only for the shape when a mask is given
        return self.decode(tgt, memory, src_mask, src_mask, cache)[:, -1], cache

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None) -> Tensor:
        return self.decode(tgt, self.encode(src, src_mask), src, src_mask)
