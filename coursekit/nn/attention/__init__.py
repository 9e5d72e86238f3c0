"""Attention of chapters 06 and 07: additive (Bahdanau), dot-product and scaled dot-product
attention with padding and causal masks (:mod:`~coursekit.nn.attention.functional`, in a
teaching and an SDPA path with the same results), additive attention
(:mod:`~coursekit.nn.attention.additive`) and multi-head attention with the key/value cache
(:mod:`~coursekit.nn.attention.multihead`).

Shapes: B batch, H heads, Tq query steps, Tk key steps, E width per head, C model width.
"""

from coursekit.nn.attention.additive import AdditiveAttention
from coursekit.nn.attention.functional import (
    attend,
    causal_mask,
    dot_product_attention,
    padding_mask,
    scaled_dot_product_attention,
)
from coursekit.nn.attention.multihead import KVCache, LayerCache, MultiHeadAttention

__all__ = [
    "AdditiveAttention",
    "KVCache",
    "LayerCache",
    "MultiHeadAttention",
    "attend",
    "causal_mask",
    "dot_product_attention",
    "padding_mask",
    "scaled_dot_product_attention",
]
