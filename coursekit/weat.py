"""The Word Embedding Association Test (WEAT; Caliskan, Bryson and Narayanan, 2017), chapter 10.

Two target sets ``X, Y`` (e.g. male and female words) and two attribute sets ``A, B`` (e.g.
career and family words). A word's association is its mean cosine with ``A`` minus its mean
cosine with ``B``,

    s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b),

the test statistic is ``S = sum_x s(x) - sum_y s(y)``, and the effect size is Cohen's d

    d = (mean_x s(x) - mean_y s(y)) / std_{w in X u Y} s(w)   (sample standard deviation).

The p-value is one-sided: the share of equal-size re-partitions of ``X u Y`` whose statistic is at
least the observed one (every partition when there are few, else ``permutations`` random ones,
counted as ``(k + 1) / (n + 1)`` so that the observed split is one of them and p is never 0).
The smallest p a test can reach is ``1 / C(n_X + n_Y, n_X)`` exact, ``1 / (permutations + 1)``
sampled. ``p_two_sided`` doubles the smaller tail (at most 1): the test for an association in
either direction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["WEATResult", "association", "present_words", "weat", "weat_effect_size"]


@dataclass(frozen=True)
class WEATResult:
    """Effect size ``d``, one-sided permutation ``p_value`` (and ``p_two_sided``), the words used
    and those missing."""

    effect_size: float
    p_value: float
    statistic: float
    permutations: int
    used: tuple[tuple[str, ...], ...]
    missing: tuple[tuple[str, ...], ...]
    p_two_sided: float = float("nan")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def association(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s(w, A, B)`` for each row of ``w (n, C)``, with ``a (n_A, C)`` and ``b (n_B, C)``.

    >>> association(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    array([1.])
    """
    w, a, b = (_unit(np.asarray(v, dtype=np.float64)) for v in (w, a, b))
    return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)


def weat_effect_size(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d of WEAT for the vectors ``x (n_X, C)``, ``y (n_Y, C)``, ``a``, ``b``."""
    for name, v in (("X", x), ("Y", y), ("A", a), ("B", b)):
        if np.asarray(v).ndim != 2 or len(v) < (2 if name in "XY" else 1):
            raise ValueError(
                f"WEAT needs the {name} vectors as a (n, C) array with n >= "
                f"{2 if name in 'XY' else 1}, got shape {np.shape(v)}: keep more words in {name}."
            )
    sx, sy = association(x, a, b), association(y, a, b)
    return float((sx.mean() - sy.mean()) / np.concatenate([sx, sy]).std(ddof=1))


def present_words(words: Sequence[str], index: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """``(present, missing)``: the words of ``words`` that ``index`` has, and those it lacks."""
    return [w for w in words if w in index], [w for w in words if w not in index]


def weat(
    vectors: torch.Tensor | np.ndarray,
    index: Mapping[str, int],
    x: Sequence[str],
    y: Sequence[str],
    a: Sequence[str],
    b: Sequence[str],
    *,
    permutations: int = 10_000,
    seed: int = 0,
) -> WEATResult:
    """WEAT on the rows of ``vectors (V, C)`` named by ``index``; words missing from ``index``
    are left out (and listed in ``missing``). Exact p-value when ``X u Y`` has at most
    ``permutations`` equal-size partitions, else ``permutations`` random ones (seeded)."""
    vectors = np.asarray(torch.as_tensor(vectors).detach().cpu().double())
    used, missing = zip(*(present_words(s, index) for s in (x, y, a, b)), strict=True)
    px, py, pa, pb = ([vectors[index[w]] for w in s] for s in used)
    effect = weat_effect_size(*(np.stack(v) if v else np.zeros((0, 1)) for v in (px, py, pa, pb)))
    s = association(np.stack(px + py), np.stack(pa), np.stack(pb))
    n, total = len(px), s.sum()
    observed = 2 * s[:n].sum() - total  # sum_x s - sum_y s
    exact = math.comb(len(s), n) <= permutations
    if exact:
        splits = (list(c) for c in itertools.combinations(range(len(s)), n))
        stats = np.array([2 * s[c].sum() - total for c in splits])
    else:
        rng = np.random.default_rng(seed)
        stats = np.array(
            [2 * s[rng.permutation(len(s))[:n]].sum() - total for _ in range(permutations)]
        )
    extra = 0 if exact else 1  # a sampled test counts the observed split as one of its own
    upper = float(((stats >= observed - 1e-12).sum() + extra) / (len(stats) + extra))
    lower = float(((stats <= observed + 1e-12).sum() + extra) / (len(stats) + extra))
    used, missing = tuple(map(tuple, used)), tuple(map(tuple, missing))
    return WEATResult(
        effect, upper, float(observed), len(stats), used, missing, min(1.0, 2 * min(upper, lower))
    )
