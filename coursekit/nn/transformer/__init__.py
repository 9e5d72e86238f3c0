"""The Transformer of chapters 07 and 08: positional encodings, encoder and decoder layers
(post-norm and pre-norm, loadable from torch's layers), the encoder-decoder model and the
decoder-only GPT with a key/value cache. Attention itself is in :mod:`coursekit.nn.attention`.

Shapes: B batch, T steps, C width, V vocab.
"""

from coursekit.nn.transformer.gpt import GPT, GPTConfig
from coursekit.nn.transformer.layers import TransformerDecoderLayer, TransformerEncoderLayer
from coursekit.nn.transformer.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)
from coursekit.nn.transformer.seq2seq import Seq2SeqTransformer, Seq2SeqTransformerConfig

__all__ = [
    "GPT",
    "GPTConfig",
    "LearnedPositionalEmbedding",
    "Seq2SeqTransformer",
    "Seq2SeqTransformerConfig",
    "SinusoidalPositionalEncoding",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "sinusoidal_table",
]
