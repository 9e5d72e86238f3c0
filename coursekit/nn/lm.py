"""A recurrent language model: embedding -> RNN/LSTM/GRU layers -> a linear layer to the vocabulary.

Chapter 03 trains it on characters (Shakespeare, Tang poems); chapters 04 and 05 swap the cell.
Token ids in, logits out, the one model interface of the course (STYLE rule 6): the model knows
nothing about training or plotting.

Shapes: B batch, T steps, C embedding width, H hidden width, L layers, V vocab.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from coursekit.nn._checks import (
    check_bool,
    check_choice,
    check_config,
    check_fraction,
    check_int,
    check_token_ids,
    strict_keywords,
)
from coursekit.nn.recurrent import make_recurrent

__all__ = ["RecurrentLM", "RecurrentLMConfig"]


@strict_keywords
@dataclass(frozen=True)
class RecurrentLMConfig:
    """Size and kind of a :class:`RecurrentLM`.

    Every field is checked for type and range when the config is made; an unknown keyword raises
    :class:`~coursekit.nn.UnknownArgumentError` with the valid names.

    Args:
        vocab_size: V, number of token ids.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        embed_dim: C, width of the token embedding.
        hidden_size: H, width of the recurrent state.
        num_layers: L, stacked recurrent layers.
        dropout: dropout on the embedding, between layers and before the output layer.
        tie_weights: share the embedding matrix with the output layer (needs ``embed_dim ==
            hidden_size``); saves ``V * C`` parameters.
        fused: run PyTorch's fused recurrent kernel instead of the teaching loop.

    >>> RecurrentLMConfig(vocab_size=10, hidden_size="128")
    Traceback (most recent call last):
    ...
    TypeError: RecurrentLMConfig: hidden_size must be an int, got str '128': write hidden_size=128.
    """

    vocab_size: int
    cell: str = "lstm"
    embed_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    tie_weights: bool = False
    fused: bool = False

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_choice(owner, "cell", self.cell, ("rnn", "lstm", "gru"))
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            check_int(owner, name, getattr(self, name))
        check_fraction(owner, "dropout", self.dropout)
        check_bool(owner, "tie_weights", self.tie_weights)
        check_bool(owner, "fused", self.fused)
        if self.tie_weights and self.embed_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_dim == hidden_size, got {self.embed_dim} and "
                f"{self.hidden_size}: make them equal or set tie_weights=False."
            )


class RecurrentLM(nn.Module):
    """Next-token language model over any recurrent layer of :mod:`coursekit.nn.recurrent`.

    ``forward`` maps token ids to logits; ``forward_with_state`` also takes and returns the
    recurrent state, so generation can feed one token at a time (see :mod:`coursekit.generate`).

    Shape:
        idx ``(B, T)`` int64 -> logits ``(B, T, V)``.

    Token ids are checked: integers (not floats) in ``0..V-1``. The range check reads the
    smallest and largest id back from the device, one synchronisation per forward call on a GPU;
    set ``model.check_ids = False`` to skip it once the data is known to be right (it is skipped
    anyway under ``torch.compile``).

    >>> import torch
    >>> model = RecurrentLM(RecurrentLMConfig(vocab_size=10, cell="gru", hidden_size=8))
    >>> model(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 10])
    """

    check_ids: bool = True

    def __init__(self, config: RecurrentLMConfig) -> None:
        check_config(
            "RecurrentLM",
            config,
            RecurrentLMConfig,
            "RecurrentLM(RecurrentLMConfig(vocab_size=..., cell=...))",
        )
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn = make_recurrent(
            config.cell,
            config.embed_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,  # between layers only
            fused=config.fused,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embed.weight

    def forward_with_state(self, idx: Tensor, state=None) -> tuple[Tensor, object]:
        """Logits for every position and the final recurrent state (to continue from).

        Args:
            idx: token ids ``(B, T)``.
            state: the state a previous call returned, or None to start from zeros.
        """
        check_token_ids(idx, self.config.vocab_size, type(self).__name__, self.check_ids)
        if idx.dim() != 2:
            raise ValueError(
                f"expected token ids of shape (B, T), got {tuple(idx.shape)}; for one sequence "
                f"use idx.unsqueeze(0)."
            )
        x = self.drop(self.embed(idx))  # (B, T, C)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    def forward(self, idx: Tensor) -> Tensor:
        return self.forward_with_state(idx)[0]

    def num_parameters(self) -> int:
        """Trainable parameters (a tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
