"""Metrics: perplexity and accuracy (perplexity is introduced in chapter 02; later chapters reuse it).

Perplexity (困惑度) is ``exp`` of the mean negative log-likelihood per predicted token: the number
of equally likely choices a model is "as confused as". A model that spreads probability uniformly
over ``V`` tokens has perplexity exactly ``V``; a perfect model has 1.

Shape legend: ``N`` tokens, ``B`` batch, ``T`` steps, ``V`` vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

__all__ = ["accuracy", "perplexity", "perplexity_from_logits"]


def perplexity(log_probs: Iterable[float] | torch.Tensor) -> float:
    """Perplexity from the natural-log probabilities of the predicted tokens.

    Args:
        log_probs: ``log P(w_t | context)`` for every predicted token, shape ``(N,)``.

    >>> round(perplexity([math.log(0.25)] * 4), 6)  # uniform over 4 choices
    4.0
    """
    lp = torch.as_tensor(list(log_probs) if not torch.is_tensor(log_probs) else log_probs)
    lp = lp.to(torch.float64).reshape(-1)
    if lp.numel() == 0:
        raise ValueError(
            "perplexity of zero tokens is undefined: pass at least one log-probability"
        )
    if bool((lp > 1e-9).any()):
        raise ValueError("log-probabilities must be <= 0: pass log P (natural log), not P")
    return math.exp(-float(lp.mean()))


def perplexity_from_logits(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100
) -> float:
    """Perplexity of next-token predictions: ``exp(cross_entropy(logits, targets))``.

    Args:
        logits: unnormalised scores, ``(N, V)`` or ``(B, T, V)``.
        targets: token ids, ``(N,)`` or ``(B, T)``; entries equal to ``ignore_index`` are skipped.

    >>> round(perplexity_from_logits(torch.zeros(3, 7), torch.tensor([0, 1, 2])), 4)  # uniform
    7.0
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits (..., V) and targets (...) must agree: got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    nll = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=ignore_index
    )
    return math.exp(float(nll))


def accuracy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> float:
    """Share of positions where the highest-scoring class is the target.

    Args:
        logits: ``(N, V)`` or ``(B, T, V)``; targets: ``(N,)`` or ``(B, T)``.

    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits (..., V) and targets (...) must agree: got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    keep = targets != ignore_index
    if not bool(keep.any()):
        raise ValueError("no positions to score: every target equals ignore_index")
    return float((logits.argmax(-1)[keep] == targets[keep]).double().mean())
