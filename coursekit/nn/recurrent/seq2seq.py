"""The recurrent encoder-decoder of chapter 06, with and without attention, and with a copy
mechanism that uses the attention weights as a pointer into the source.

- The encoder is a bidirectional GRU over the source; its states ``h_1 … h_S`` are the memory.
- The decoder is a GRU over the target so far, started from the encoder's last states.
- ``attention="none"``: every decoder step sees the same context, the encoder's final state
  (Cho et al. 2014): the whole source squeezed into one fixed vector.
- ``attention="additive"``: at each decoder step ``t`` the decoder state ``s_t`` scores every
  encoder state, ``b_tj = w_v^T tanh(W_q s_t + W_k h_j)`` (Bahdanau et al. 2015), the scores are
  normalised, ``α_tj = softmax_j(b_tj)``, and the context is ``c_t = Σ_j α_tj h_j`` — the source
  article's §3.5 pooling formulas, computed once per decoder step. As in Luong et al. (2015) the
  context is combined with ``s_t`` after the recurrent step (not fed into it), which lets teacher
  forcing run the decoder GRU over the whole target at once.
- ``copy=True`` (See et al. 2017, "pointer-generator"): the output distribution mixes generating a
  word from the vocabulary with copying a source word, ``p(w) = g_t p_vocab(w) + (1 - g_t)
  Σ_{j: x_j = w} α_tj``, with a learned gate ``g_t``. Source and target share one vocabulary.
  The model then returns log-probabilities, which are valid logits for every loss and decoder.

The output layer is tied to the embedding: ``logits = tanh(W_o [s_t; c_t]) E^T``.
The model follows :mod:`coursekit.seq2seq`'s encoder-decoder protocol (``forward``, ``encode``,
``decode_step``, ``reorder_state``), so ``greedy_decode`` and ``beam_search`` decode it.

Shapes: B batch, S source steps, T target steps, E embedding width, H hidden width, V vocab.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from coursekit.nn._checks import (
    check_bool,
    check_choice,
    check_config,
    check_fraction,
    check_id_batch,
    check_int,
    strict_keywords,
)
from coursekit.nn.attention import AdditiveAttention

__all__ = ["RNNMemory", "RNNSeq2Seq", "RNNSeq2SeqConfig"]

ATTENTION_KINDS = ("none", "additive")


@strict_keywords
@dataclass(frozen=True)
class RNNSeq2SeqConfig:
    """Size and kind of an :class:`RNNSeq2Seq` (chapter 06), checked when made.

    Args:
        vocab_size: V, one vocabulary for source and target (the embedding is shared and tied
            to the output layer).
        embed_dim: E; hidden_size: H, the decoder's width (each encoder direction has H / 2).
        attention: ``"additive"`` (Bahdanau scores) or ``"none"`` (one fixed context vector).
        attention_size: width of the additive score's tanh layer.
        copy: mix generating with copying source tokens through the attention weights (needs
            attention).
        dropout: on embeddings and on the features before the output layer.
        pad_id: the padding id (its embedding row stays zero).

    >>> RNNSeq2SeqConfig(vocab_size=10, hidden_size=7)
    Traceback (most recent call last):
    ...
    ValueError: RNNSeq2SeqConfig: hidden_size must be even (the encoder has H/2 per direction), got 7.
    """

    vocab_size: int
    embed_dim: int = 128
    hidden_size: int = 256
    attention: str = "additive"
    attention_size: int = 64
    copy: bool = False
    dropout: float = 0.0
    pad_id: int = 0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("vocab_size", "embed_dim", "hidden_size", "attention_size"):
            check_int(owner, name, getattr(self, name))
        check_int(owner, "pad_id", self.pad_id, minimum=0)
        if self.hidden_size % 2:
            raise ValueError(
                f"{owner}: hidden_size must be even (the encoder has H/2 per direction), "
                f"got {self.hidden_size}."
            )
        check_choice(owner, "attention", self.attention, ATTENTION_KINDS)
        check_bool(owner, "copy", self.copy)
        check_fraction(owner, "dropout", self.dropout)
        if self.copy and self.attention == "none":
            raise ValueError(
                f"{owner}: copy=True points into the source with the attention weights, so it "
                "needs attention='additive'."
            )


@dataclass(frozen=True)
class RNNMemory:
    """What the encoder leaves for the decoder.

    Shape:
        states ``(B, S, H)`` (both directions side by side), final ``(B, H)`` (the last forward
        and the first backward state), src ``(B, S)`` (the ids, for copying).
    """

    states: Tensor
    final: Tensor
    src: Tensor


class RNNSeq2Seq(nn.Module):
    """GRU encoder-decoder (chapter 06), with additive attention or one fixed context vector.

    Shape:
        src ``(B, S)``, tgt_in ``(B, T)`` (``<bos>`` + target), src_mask ``(B, S)`` bool (True on
        real tokens) -> logits ``(B, T, V)`` (log-probabilities when ``copy=True``).

    >>> model = RNNSeq2Seq(RNNSeq2SeqConfig(vocab_size=11, embed_dim=4, hidden_size=6))
    >>> src, tgt = torch.randint(4, 11, (2, 5)), torch.randint(4, 11, (2, 3))
    >>> model(src, tgt).shape, model.attention_weights(src, tgt).shape
    (torch.Size([2, 3, 11]), torch.Size([2, 3, 5]))
    """

    check_ids: bool = True

    def __init__(self, config: RNNSeq2SeqConfig) -> None:
        check_config(
            "RNNSeq2Seq", config, RNNSeq2SeqConfig, "RNNSeq2Seq(RNNSeq2SeqConfig(vocab_size=...))"
        )
        super().__init__()
        self.config = c = config
        E, H = c.embed_dim, c.hidden_size
        self.embed = nn.Embedding(c.vocab_size, E, padding_idx=c.pad_id)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.GRU(E, H // 2, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        self.attention = (
            AdditiveAttention(H, H, c.attention_size) if c.attention != "none" else None
        )
        self.combine = nn.Linear(2 * H, E)  # [s_t; c_t] -> E, then the tied output layer
        self.gate = nn.Linear(2 * H + E, 1) if c.copy else None  # g_t from [s_t; c_t; y_{t-1}]

    # -- the encoder-decoder protocol of coursekit.seq2seq ------------------------------------
    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> RNNMemory:
        """Run the encoder once; ``src_mask`` (True on real tokens) keeps padding out of the
        final state (packed sequences) and, later, out of attention."""
        check_id_batch(src, self.config.vocab_size, type(self).__name__, self.check_ids)
        src_mask = self._mask(src, src_mask)
        x = self.drop(self.embed(src))  # (B, S, E)
        lengths = src_mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, h = self.encoder(packed)  # h: (2, B, H/2)
        states, _ = nn.utils.rnn.pad_packed_sequence(
            out, batch_first=True, total_length=src.shape[1]
        )  # (B, S, H)
        return RNNMemory(states, torch.cat([h[0], h[1]], dim=-1), src)  # final (B, H)

    def decode_step(
        self, tokens: Tensor, memory: RNNMemory, src_mask: Tensor, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Logits ``(B, V)`` of the position after the last of ``tokens (B, t)`` and the decoder's
        hidden state ``(B, H)`` after them (batch first, so beam search can reorder it)."""
        h = memory.final if state is None else state  # (B, H)
        logits, h = self._decode(tokens, memory, src_mask, h[None].contiguous())
        return logits[:, -1], h[0]

    def forward(self, src: Tensor, tgt_in: Tensor, src_mask: Tensor | None = None) -> Tensor:
        src_mask = self._mask(src, src_mask)
        memory = self.encode(src, src_mask)
        return self._decode(tgt_in, memory, src_mask, memory.final[None].contiguous())[0]

    def attention_weights(
        self, src: Tensor, tgt_in: Tensor, src_mask: Tensor | None = None
    ) -> Tensor:
        """``α (B, T, S)`` under teacher forcing: row t is where the decoder looked to predict
        target token t (for the heatmaps)."""
        if self.attention is None:
            raise ValueError("attention_weights: this model was built with attention='none'.")
        src_mask = self._mask(src, src_mask)
        memory = self.encode(src, src_mask)
        s, _ = self.decoder(self.embed(tgt_in), memory.final[None].contiguous())  # (B, T, H)
        return self.attention(s, memory.states, memory.states, src_mask[:, None, :])[1]

    # -- inside -------------------------------------------------------------------------------
    def _mask(self, src: Tensor, src_mask: Tensor | None) -> Tensor:
        if src_mask is None:
            return src != self.config.pad_id
        if src_mask.shape != src.shape or src_mask.dtype != torch.bool:
            raise ValueError(
                f"src_mask must be a bool tensor of src's shape {tuple(src.shape)} (True on real "
                f"tokens), got {src_mask.dtype} {tuple(src_mask.shape)}: pass Seq2SeqBatch.src_mask."
            )
        return src_mask

    def _decode(
        self, tokens: Tensor, memory: RNNMemory, src_mask: Tensor, h: Tensor
    ) -> tuple[Tensor, Tensor]:
        check_id_batch(tokens, self.config.vocab_size, type(self).__name__, self.check_ids)
        y = self.drop(self.embed(tokens))  # (B, T, E)
        s, h = self.decoder(y, h)  # s: (B, T, H), h: (1, B, H)
        if self.attention is None:
            context = memory.final[:, None, :].expand_as(s)  # the same vector at every step
            weights = None
        else:
            context, weights = self.attention(
                s, memory.states, memory.states, src_mask[:, None, :]
            )  # (B, T, H), (B, T, S)
        features = torch.cat([s, context], dim=-1)  # (B, T, 2H)
        logits = torch.tanh(self.combine(self.drop(features))) @ self.embed.weight.T  # (B, T, V)
        if self.gate is None:
            return logits, h
        g = torch.sigmoid(self.gate(torch.cat([features, y], dim=-1)))  # (B, T, 1)
        p = g * logits.softmax(-1)  # generate
        index = memory.src[:, None, :].expand(-1, tokens.shape[1], -1)  # (B, T, S)
        p = p.scatter_add(-1, index, (1 - g) * weights)  # + copy
        return p.clamp_min(1e-9).log(), h
