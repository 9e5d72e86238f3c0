"""A tiny random GPT-2 from transformers, for the parity tests of test_hub and test_gpt_variants."""

from __future__ import annotations

import torch
import transformers


def tiny_hf_gpt2(
    vocab_size: int, n_positions: int, n_embd: int, n_layer: int, n_head: int, tie: bool = True
) -> transformers.GPT2LMHeadModel:
    """Seeded, in eval mode, with weights spread wide enough that greedy choices are not near-ties,
    and layer norms and biases moved off their starting 1 and 0 so that a converter that drops
    them fails."""
    config = transformers.GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        initializer_range=0.2,
        tie_word_embeddings=tie,
        bos_token_id=None,
        eos_token_id=None,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model
