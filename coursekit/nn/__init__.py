"""Neural-network layers and models of the course, each built from its equations and tested against
PyTorch's own layer: recurrent cells and layers (chapters 03-05, :mod:`coursekit.nn.recurrent`)
the recurrent language model (:mod:`coursekit.nn.lm`), attention (chapters 06-07,
:mod:`coursekit.nn.attention`) and the Transformer layers and models (chapters 07-08,
:mod:`coursekit.nn.transformer`). Bad input to any of them raises an
error in coursekit's words (:mod:`coursekit.nn._checks`); a misspelt keyword raises
:class:`UnknownArgumentError`.
"""

from coursekit.nn._checks import UnknownArgumentError
from coursekit.nn.attention import (
    AdditiveAttention,
    KVCache,
    MultiHeadAttention,
    attend,
    causal_mask,
    dot_product_attention,
    padding_mask,
    scaled_dot_product_attention,
)
from coursekit.nn.lm import RecurrentLM, RecurrentLMConfig
from coursekit.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
    RNNSeq2Seq,
    RNNSeq2SeqConfig,
    gru_step,
    lstm_gates,
    lstm_step,
    make_recurrent,
    rnn_step,
    trace_lstm_gates,
)
from coursekit.nn.transformer import (
    GPT,
    GPTConfig,
    LearnedPositionalEmbedding,
    Seq2SeqTransformer,
    Seq2SeqTransformerConfig,
    SinusoidalPositionalEncoding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)

__all__ = [
    "GPT",
    "GRU",
    "LSTM",
    "RNN",
    "AdditiveAttention",
    "GPTConfig",
    "GRUCell",
    "KVCache",
    "LSTMCell",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "RNNCell",
    "RNNSeq2Seq",
    "RNNSeq2SeqConfig",
    "RecurrentLM",
    "RecurrentLMConfig",
    "Seq2SeqTransformer",
    "Seq2SeqTransformerConfig",
    "SinusoidalPositionalEncoding",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "UnknownArgumentError",
    "attend",
    "causal_mask",
    "dot_product_attention",
    "gru_step",
    "lstm_gates",
    "lstm_step",
    "make_recurrent",
    "padding_mask",
    "rnn_step",
    "scaled_dot_product_attention",
    "trace_lstm_gates",
]
