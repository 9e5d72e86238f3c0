"""Build a recurrent layer by name, so a chapter or a config can swap the cell (chapters 03-05)."""

from __future__ import annotations

from coursekit.nn._checks import did_you_mean
from coursekit.nn.recurrent.base import Recurrent
from coursekit.nn.recurrent.gru import GRU
from coursekit.nn.recurrent.lstm import LSTM
from coursekit.nn.recurrent.rnn import RNN

__all__ = ["make_recurrent"]

LAYERS: dict[str, type[Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def make_recurrent(kind: str, input_size: int, hidden_size: int, **kwargs: object) -> Recurrent:
    """Build ``RNN``, ``LSTM`` or ``GRU`` by name (``"rnn"``, ``"lstm"``, ``"gru"``).

    ``kwargs`` are the layer's own keyword arguments (``num_layers``, ``dropout``, ``fused``, ...);
    one the layer does not take raises :class:`~coursekit.nn.UnknownArgumentError` listing those
    it does.

    >>> make_recurrent("gru", 4, 3, num_layers=2).kind
    'gru'
    """
    if kind not in LAYERS:
        near = did_you_mean(kind, LAYERS) if isinstance(kind, str) else "."
        raise ValueError(f"unknown recurrent layer {kind!r}{near} Choose one of {list(LAYERS)}.")
    return LAYERS[kind](input_size, hidden_size, **kwargs)
