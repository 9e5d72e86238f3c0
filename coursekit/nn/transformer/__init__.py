"""The Transformer of chapters 07 and 08: positional encodings, encoder and decoder layers
(post-norm and pre-norm, loadable from torch's layers), the encoder-decoder model and the
decoder-only GPT with a key/value cache, in GPT-2's form and today's (RMS norm, rotary positions,
SwiGLU), loadable from Hugging Face's GPT-2 and Llama. Attention itself is in
:mod:`coursekit.nn.attention`.

Shapes: B batch, T steps, C width, V vocab.
"""

from coursekit.nn.transformer.feedforward import FeedForward, SwiGLU, swiglu_hidden_dim
from coursekit.nn.transformer.gpt import GPT, GPTConfig
from coursekit.nn.transformer.hf import (
    gpt_config_from_hf_gpt2,
    gpt_config_from_hf_llama,
    gpt_from_hf_gpt2,
    gpt_from_hf_llama,
)
from coursekit.nn.transformer.layers import TransformerDecoderLayer, TransformerEncoderLayer
from coursekit.nn.transformer.modern import ModernBlock, RotaryMultiHeadAttention
from coursekit.nn.transformer.norms import RMSNorm
from coursekit.nn.transformer.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)
from coursekit.nn.transformer.rotary import (
    RotaryEmbedding,
    apply_rotary,
    rotary_tables,
    rotate_half,
)
from coursekit.nn.transformer.seq2seq import Seq2SeqTransformer, Seq2SeqTransformerConfig

__all__ = [
    "GPT",
    "FeedForward",
    "GPTConfig",
    "LearnedPositionalEmbedding",
    "ModernBlock",
    "RMSNorm",
    "RotaryEmbedding",
    "RotaryMultiHeadAttention",
    "Seq2SeqTransformer",
    "Seq2SeqTransformerConfig",
    "SinusoidalPositionalEncoding",
    "SwiGLU",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "apply_rotary",
    "gpt_config_from_hf_gpt2",
    "gpt_config_from_hf_llama",
    "gpt_from_hf_gpt2",
    "gpt_from_hf_llama",
    "rotary_tables",
    "rotate_half",
    "sinusoidal_table",
    "swiglu_hidden_dim",
]
