"""Pretraining objectives and measures of chapter 08: next-token loss in bits per character, the
masked-language-model (BERT) corruption, and the measured comparison with nanoGPT.

Two self-supervised objectives train the same Transformer stack; the text itself supplies the
labels, so no person annotates anything (the source article calls this "unsupervised"):

* causal language modelling (GPT): predict token ``t + 1`` from tokens ``<= t``
  (:func:`coursekit.train.lm_loss`; the model's attention is causal);
* masked language modelling (BERT): hide 15% of the tokens and predict them from both sides
  (:func:`mask_tokens` makes the batch; the model's attention is bidirectional,
  ``GPTConfig(causal=False)``; the same :func:`~coursekit.train.lm_loss` scores it, since the
  targets of the unmasked positions are ``-100``, torch's ignored index).

Shapes: B batch, T steps, V vocab.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from coursekit.report import read_measured

__all__ = ["IGNORE", "bits_per_char", "mask_tokens", "measured_pretraining"]

IGNORE = -100  # torch's ignore_index: a target that is not scored
_MEASURED = Path(__file__).with_name("pretraining_measured.json")


def mask_tokens(
    ids: Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    protected: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """BERT's corruption: choose ``mask_prob`` of the positions to predict; of those, 80% become
    ``mask_id``, 10% a random token and 10% stay as they are (Devlin et al. 2019, §3.1).

    The random and unchanged 10% keep the model from learning that only ``mask_id`` positions
    matter: at fine-tuning time there is no mask token in the input.

    Args:
        ids: token ids ``(B, T)`` (or any shape).
        mask_id: the id of the mask token (not a regular token of the text).
        vocab_size: random replacements are drawn from ``[0, vocab_size)``; pass the size of the
            regular vocabulary so ``mask_id`` itself is never drawn as a "random token".
        mask_prob: the fraction of positions chosen (each independently).
        protected: bool, same shape: positions never chosen (padding, special tokens).
        generator: for reproducible masks.

    Returns:
        ``(inputs, targets)``, both shaped like ``ids``: the corrupted input, and the original id
        at chosen positions with :data:`IGNORE` (-100) elsewhere.

    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = mask_tokens(torch.arange(20).view(2, 10), mask_id=99, vocab_size=20, generator=g)
    >>> bool(((y == -100) | (y == torch.arange(20).view(2, 10))).all())
    True
    """
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}: BERT uses 0.15.")
    if 0 <= mask_id < vocab_size:
        raise ValueError(
            f"mask_id={mask_id} is a regular token (vocab_size={vocab_size}): give the mask its "
            f"own id, e.g. mask_id={vocab_size} in a model with vocab_size={vocab_size + 1}."
        )
    if ids.dtype != torch.long:
        raise TypeError(f"ids must be int64 token ids, got {ids.dtype}")
    rand = lambda: torch.rand(ids.shape, generator=generator).to(ids.device)  # noqa: E731
    chosen = rand() < mask_prob
    if protected is not None:
        if protected.shape != ids.shape:
            raise ValueError(
                f"protected has shape {tuple(protected.shape)}, ids {tuple(ids.shape)}: "
                "they must match (True where a position may not be masked)."
            )
        chosen &= ~protected.bool()
    targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    roll = rand()
    to_mask = chosen & (roll < 0.8)
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator).to(ids.device)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, targets


def bits_per_char(loss: float, tokens: int = 1, characters: int = 1) -> float:
    """A mean loss in nats per token as bits per character: ``loss * tokens / characters /
    ln 2``. For a character-level model ``tokens == characters``; a BPE model spreads each
    token's loss over the characters it covers, which makes the two comparable.

    >>> round(bits_per_char(math.log(2)), 6)
    1.0
    """
    if tokens < 1 or characters < 1:
        raise ValueError(f"tokens and characters must be positive, got {tokens} and {characters}")
    return loss * tokens / characters / math.log(2)


@cache
def measured_pretraining() -> dict[str, Any]:
    """The numbers of the last ``scripts/bench_gpt.py --update`` run (nanoGPT's CPU run and
    coursekit's GPT on the same text, same machine, same threads), for chapter 08's table."""
    data = read_measured(_MEASURED, f"python scripts/bench_gpt.py --nanogpt NANOGPT_CHECKOUT "
                         f"--out coursekit/{_MEASURED.name}")  # fmt: skip
    missing = {"machine", "nanogpt", "course_nanogpt_config", "course_own"} - set(data)
    if missing:
        raise RuntimeError(
            f"{_MEASURED.name} lacks {sorted(missing)}: run scripts/bench_gpt.py with --nanogpt "
            "(a nanoGPT checkout) and --out again."
        )
    return data
