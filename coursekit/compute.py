"""What training a GPT costs (chapter 10): matrix-multiply FLOPs per token, counted by formula
and by ``torch.utils.flop_counter``.

A GPT's work is almost all matrix products. A product of a ``(T, I)`` input with an ``(I, O)``
weight costs ``2 T I O`` FLOPs (a multiply and an add per entry), so the forward pass costs
``2 N_mm`` per token, where ``N_mm`` counts the weights that enter a product: the blocks' linear
layers and the output layer (the token embedding is a lookup, not a product; tied or not, the
output layer is a product). Attention adds ``QK^T`` and ``AV``: ``2 T C`` each per token and
layer, every one of the ``T x T`` scores counted as a dense kernel computes it (a causal mask
makes half of them useless, not free). The backward pass costs twice the forward (gradients for
the input and for the weight), so training costs

    6 N_mm + 12 L T C   FLOPs per token  (Kaplan et al., 2020, write ~ 6N for the first term).

Shapes: B batch, T steps, C width, L blocks, V vocab.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from coursekit.nn.transformer.gpt import GPTConfig

__all__ = ["counted_flops", "gpt_flops_per_token", "matmul_parameters"]


def matmul_parameters(config: GPTConfig) -> int:
    """``N_mm``: the weights of a :class:`~coursekit.nn.transformer.gpt.GPT` that enter a matrix
    product (biases, norms and the embedding lookup do not).

    >>> matmul_parameters(GPTConfig(vocab_size=100, embed_dim=64, num_layers=2))  # 2 (4C² + 8C²) + CV
    104704
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"matmul_parameters takes a GPTConfig, got {type(config).__name__}.")
    c, h = config.embed_dim, config.hidden_dim
    mlp = (3 if config.mlp == "swiglu" else 2) * c * h  # SwiGLU has a gate, an up and a down
    return config.num_layers * (4 * c * c + mlp) + c * config.vocab_size


def gpt_flops_per_token(
    config: GPTConfig, seq_len: int | None = None, training: bool = True
) -> int:
    """Matrix-multiply FLOPs per token of a GPT reading windows of ``seq_len`` tokens (default
    its context size): ``2 N_mm + 4 L T C`` forward, three times that for a training step.

    >>> c = GPTConfig(vocab_size=100, context_size=32, embed_dim=64, num_layers=2)
    >>> gpt_flops_per_token(c), gpt_flops_per_token(c, training=False)
    (677376, 225792)
    """
    t = config.context_size if seq_len is None else seq_len
    if not isinstance(t, int) or not 1 <= t <= config.context_size:
        raise ValueError(
            f"seq_len must be an int from 1 to the context size {config.context_size}, got {t!r}."
        )
    forward = 2 * matmul_parameters(config) + 4 * config.num_layers * t * config.embed_dim
    return 3 * forward if training else forward


def counted_flops(model: nn.Module, idx: Tensor, training: bool = True) -> int:
    """FLOPs of one forward (and, with ``training``, backward) pass of ``model`` on the ids
    ``idx (B, T)``, counted by :class:`torch.utils.flop_counter.FlopCounterMode`.

    The counter knows the matrix products and the GPU's fused attention kernels, but not every
    CPU attention kernel: count a GPT built with ``impl="naive"`` (the same weights and numbers,
    attention as plain ``matmul``) to see the attention term on a CPU.
    """
    if idx.dim() != 2:
        raise ValueError(f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}.")
    with FlopCounterMode(display=False) as counter:
        if training:
            out = model(idx)
            out.float().sum().backward()
        else:
            with torch.no_grad():
                model(idx)
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())
