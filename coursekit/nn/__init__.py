"""Neural-network layers and models of the course, each built from its equations and tested against
PyTorch's own layer: recurrent cells and layers (chapters 03-05, :mod:`coursekit.nn.recurrent`)
and the recurrent language model (:mod:`coursekit.nn.lm`). Bad input to any of them raises an
error in coursekit's words (:mod:`coursekit.nn._checks`); a misspelt keyword raises
:class:`UnknownArgumentError`.
"""

from coursekit.nn._checks import UnknownArgumentError
from coursekit.nn.lm import RecurrentLM, RecurrentLMConfig
from coursekit.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
    gru_step,
    lstm_gates,
    lstm_step,
    make_recurrent,
    rnn_step,
    trace_lstm_gates,
)

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RecurrentLM",
    "RecurrentLMConfig",
    "UnknownArgumentError",
    "gru_step",
    "lstm_gates",
    "lstm_step",
    "make_recurrent",
    "rnn_step",
    "trace_lstm_gates",
]
