"""Checkers for chapter 10 (cost, bias and privacy): training FLOPs per token of a GPT, the WEAT
effect size and a canary's exposure.

Each checker compares the answer with the usual wrong answers first (the forward pass only, the
attention term or the output layer left out; the population standard deviation, or the spread
of X alone; a 0-based rank, the natural logarithm) and names the mistake; then with coursekit's
result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from coursekit.compute import gpt_flops_per_token, matmul_parameters
from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.nn.transformer.gpt import GPTConfig
from coursekit.privacy import exposure as exposure_reference
from coursekit.weat import association, weat_effect_size

__all__ = ["check_effect_size", "check_exposure", "check_flops_per_token"]


def check_flops_per_token(flops_per_token: Callable[..., float]) -> ExerciseResult:
    """``flops_per_token(V, C, L, T) -> FLOPs`` of one training step per token of a GPT-2-style
    model (feed-forward width 4C, output layer C x V): ``6 N_mm + 12 L T C``."""
    with Exercise("10.1 training FLOPs per token") as ex:
        for v, c, layers, t in ((100, 64, 2, 32), (50257, 768, 12, 1024), (65, 128, 3, 64)):
            config = GPTConfig(
                vocab_size=v, context_size=t, embed_dim=c, num_heads=4, num_layers=layers
            )
            n_mm, attention = matmul_parameters(config), layers * t * c
            expected = gpt_flops_per_token(config)
            answer = ex.call(flops_per_token, v, c, layers, t)
            ex.check_type(answer, (int, float, np.integer, np.floating), "flops_per_token(...)")
            mistakes = [
                (
                    2 * n_mm + 4 * attention,
                    "that is the forward pass only: training adds the "
                    "backward pass, twice the forward, so multiply by 3.",
                ),
                (
                    6 * n_mm,
                    "you left out attention: QK^T and AV cost 12 L T C per token in training "
                    "(4 L T C forward).",
                ),
                (
                    6 * (n_mm - c * v) + 12 * attention,
                    "you left out the output layer: the logits "
                    "are a (C x V) product too, 6 C V per token in training.",
                ),
                (
                    6 * (12 * layers * c * c + c * v) + 6 * attention,
                    "Kaplan et al. count the causal half of the scores (6 L T C in training); "
                    "this exercise counts the dense kernel's work, every one of the T x T "
                    "scores: 12 L T C.",
                ),
            ]
            for wrong, message in mistakes:
                if math.isclose(float(answer), wrong, rel_tol=1e-9) and wrong != expected:
                    ex.fail(message)
            ex.check(
                math.isclose(float(answer), expected, rel_tol=1e-9),
                f"flops_per_token({v}, {c}, {layers}, {t}) = {float(answer):.6g}, expected "
                f"{expected:,} (6 N_mm + 12 L T C with N_mm = L (4C² + 8C²) + C V).",
            )
    return ex.result


def _dot_association(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (w @ a.T).mean(1) - (w @ b.T).mean(1)


def _weat_case(seed: int, n: int = 5, dim: int = 6) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, dim)) + 0.5, rng.normal(size=(n + 1, dim))
    return x, y, rng.normal(size=(4, dim)) + 0.5, rng.normal(size=(3, dim))


def check_effect_size(effect_size: Callable[..., float]) -> ExerciseResult:
    """``effect_size(X, Y, A, B) -> d`` for arrays of word vectors (rows): WEAT's Cohen's d,
    ``(mean_x s(x) - mean_y s(y)) / std_{X u Y} s`` (sample std), ``s`` the mean-cosine
    difference."""
    with Exercise("10.2 the WEAT effect size") as ex:
        for seed in (0, 1, 2):
            x, y, a, b = _weat_case(seed)
            answer = ex.call(effect_size, x.copy(), y.copy(), a.copy(), b.copy())
            ex.check_type(answer, (int, float, np.floating, torch.Tensor), "effect_size(...)")
            answer = float(answer)
            sx, sy = association(x, a, b), association(y, a, b)
            diff, both = sx.mean() - sy.mean(), np.concatenate([sx, sy])
            expected = weat_effect_size(x, y, a, b)
            mistakes = [
                (
                    diff / both.std(),
                    "you used the population standard deviation (ddof=0); this "
                    "exercise uses the sample standard deviation (ddof=1).",
                ),
                (
                    diff / sx.std(ddof=1),
                    "you divided by the spread of X alone: the standard "
                    "deviation is over the words of X and Y together.",
                ),
                (diff, "you forgot to divide by the standard deviation of s over X and Y."),
                (
                    -expected,
                    "the sign is reversed: d is mean over X minus mean over Y, and s(w) is "
                    "the cosine with A minus the cosine with B.",
                ),
                (
                    (_dot_association(x, a, b).mean() - _dot_association(y, a, b).mean())
                    / np.concatenate([_dot_association(x, a, b), _dot_association(y, a, b)]).std(
                        ddof=1
                    ),
                    "you used dot products: s(w) uses cosines (normalise every vector first).",
                ),
            ]
            for wrong, message in mistakes:
                if math.isclose(answer, wrong, rel_tol=1e-6) and not math.isclose(
                    wrong, expected, rel_tol=1e-6
                ):
                    ex.fail(message)
            ex.check(
                math.isclose(answer, expected, rel_tol=1e-6),
                f"effect_size = {answer:.6g}, expected {expected:.6g} (seed {seed}).",
            )
    return ex.result


def check_exposure(exposure: Callable[..., float]) -> ExerciseResult:
    """``exposure(scores, true_index) -> bits``: ``log2 N - log2 rank``, rank 1 for the
    highest-scored candidate (ties with the true canary do not push it down)."""
    with Exercise("10.3 a canary's exposure") as ex:
        cases = [
            (torch.tensor([0.1, 0.9, 0.5, 0.2]), 1),
            (torch.tensor([0.1, 0.9, 0.5, 0.2, 0.3, 0.0, 0.7, 0.6]), 2),
            (torch.tensor([3.0, 1.0, 2.0, 2.0]), 3),
            (torch.randn(1000, generator=torch.Generator().manual_seed(0)), 17),
        ]
        for scores, true in cases:
            answer = ex.call(exposure, scores.clone(), true)
            ex.check_type(answer, (int, float, np.floating, torch.Tensor), "exposure(...)")
            answer = float(answer)
            n, rank = len(scores), int((scores > scores[true]).sum()) + 1
            expected = exposure_reference(scores, true)
            mistakes = [
                (
                    math.log2(n) - math.log2(rank - 1) if rank > 1 else math.inf,
                    "your rank starts at "
                    "0: the best candidate has rank 1 (exposure log2 N), so rank = 1 + the number "
                    "scored higher.",
                ),
                (
                    math.log(n) - math.log(rank),
                    "you used the natural logarithm: exposure is in bits, log2.",
                ),
                (
                    math.log2(n) - math.log2(int((scores < scores[true]).sum()) + 1),
                    "you ranked from the lowest score: rank 1 is the candidate the model likes most "
                    "(the highest log-probability).",
                ),
                (
                    math.log2(n) - math.log2(int((scores >= scores[true]).sum())),
                    "ties: a candidate "
                    "scored equal to the canary should not push it down; count only those strictly "
                    "higher.",
                ),
            ]
            for wrong, message in mistakes:
                if math.isclose(answer, wrong, abs_tol=1e-9) and not math.isclose(
                    wrong, expected, abs_tol=1e-9
                ):
                    ex.fail(message)
            ex.check(
                math.isclose(answer, expected, abs_tol=1e-9),
                f"exposure = {answer:.6g} bits, expected {expected:.6g} (N = {n}, rank {rank}).",
            )
    return ex.result
