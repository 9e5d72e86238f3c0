"""Neural-network layers and models of the course, each built from its equations and tested against
PyTorch's own layer: recurrent cells and layers (chapters 03-05) and the recurrent language model.
"""

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
    "gru_step",
    "lstm_gates",
    "lstm_step",
    "make_recurrent",
    "rnn_step",
    "trace_lstm_gates",
]
