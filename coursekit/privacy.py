"""Memorisation of planted secrets (chapter 10): canaries and their exposure (Carlini et al.,
2019, "The Secret Sharer").

A **canary** is a random secret in a fixed format, e.g. ``"the code of anna is 4821"``, planted
``r`` times into the training text. After training, every candidate secret of the format (all
``10^k`` digit strings) is scored by the model's log-probability given the prefix; the true
canary's **rank** among them (1 = the model's favourite) gives its **exposure**

    exposure = log2 |candidates| - log2 rank,

0 bits when the canary ranks last, ``log2 |candidates|`` when it ranks first. A model that never
saw the canary ranks it uniformly at random: its expected exposure is
``log2 N - log2(N!) / N``, about ``log2 e = 1.44`` bits for large ``N``.

Shapes: N candidates, T steps, V vocab.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Canary", "candidate_log_probs", "exposure", "make_canaries", "plant", "rank_of"]


@dataclass(frozen=True)
class Canary:
    """A secret ``digits`` after ``prefix``, planted ``repeats`` times."""

    prefix: str
    digits: str
    repeats: int

    @property
    def text(self) -> str:
        return self.prefix + self.digits


def make_canaries(
    names: Sequence[str], repeats: Sequence[int], digits: int = 4, seed: int = 0
) -> list[Canary]:
    """One canary ``"the code of NAME is DDDD"`` per name, with random digits, planted
    ``repeats[i]`` times.

    >>> make_canaries(["anna"], [4], seed=0)
    [Canary(prefix='the code of anna is ', digits='6604', repeats=4)]
    """
    if len(names) != len(repeats):
        raise ValueError(f"one repeat count per name: {len(names)} names, {len(repeats)} counts.")
    rng = random.Random(seed)
    return [
        Canary(f"the code of {n} is ", "".join(rng.choice("0123456789") for _ in range(digits)), r)
        for n, r in zip(names, repeats, strict=True)
    ]


def plant(lines: Sequence[str], canaries: Sequence[Canary], seed: int = 0) -> list[str]:
    """``lines`` with each canary's text inserted ``repeats`` times at random places."""
    rng = random.Random(seed)
    out = list(lines)
    for c in canaries:
        for _ in range(c.repeats):
            out.insert(rng.randrange(len(out) + 1), c.text)
    return out


@torch.no_grad()
def candidate_log_probs(
    model: nn.Module, encode: Callable[[str], list[int]], prefix: str, digits: int
) -> Tensor:
    """Log-probability under ``model`` of every ``digits``-digit string after ``prefix`` (a
    character-level model: one token per digit), ``(10**digits,)`` in numeric order ("00..0"
    first). One forward pass over the ``10**(digits-1)`` prefixes of the first digits; the last
    position's distribution scores the last digit."""
    if not isinstance(digits, int) or not 1 <= digits <= 6:
        raise ValueError(f"digits must be an int from 1 to 6, got {digits!r}.")
    digit_ids = torch.tensor([encode(str(d))[0] for d in range(10)])
    head = torch.tensor(encode(prefix))
    firsts = torch.cartesian_prod(*[torch.arange(10)] * (digits - 1)).reshape(-1, digits - 1)
    rows = torch.cat([head.expand(len(firsts), -1), digit_ids[firsts]], dim=1)  # (N/10, T)
    model.eval()
    logp = torch.log_softmax(model(rows).float(), dim=-1)[:, len(head) - 1 :]  # (N/10, k, V)
    known = logp[:, :-1].gather(2, digit_ids[firsts].unsqueeze(-1)).squeeze(-1).sum(1)  # (N/10,)
    return (known.unsqueeze(1) + logp[:, -1, digit_ids]).reshape(-1)  # (N,)


def rank_of(scores: Tensor, true_index: int) -> int:
    """1 + the number of candidates scored strictly higher than ``scores[true_index]``."""
    return int((scores > scores[true_index]).sum()) + 1


def exposure(scores: Tensor, true_index: int) -> float:
    """``log2 N - log2 rank`` of the candidate ``true_index`` among the ``N`` ``scores``.

    >>> exposure(torch.tensor([0.1, 0.9, 0.5, 0.2]), 1), exposure(torch.tensor([0.1, 0.9]), 0)
    (2.0, 0.0)
    """
    scores = torch.as_tensor(scores)
    if scores.dim() != 1 or not 0 <= true_index < len(scores):
        raise ValueError(
            f"scores must be 1-D and true_index in [0, {len(scores)}), got shape "
            f"{tuple(scores.shape)} and {true_index}."
        )
    return math.log2(len(scores)) - math.log2(rank_of(scores, true_index))
