"""Checkers of chapter 10: the reference passes, typical wrong answers fail with a message naming
the mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.exercises import ch10


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def flops_per_token(V, C, L, T):
    n_mm = L * (4 * C * C + 2 * C * 4 * C) + C * V
    return 6 * n_mm + 12 * L * T * C


def _s(W, A, B):
    unit = lambda M: M / np.linalg.norm(M, axis=1, keepdims=True)  # noqa: E731
    W, A, B = unit(W), unit(A), unit(B)
    return (W @ A.T).mean(1) - (W @ B.T).mean(1)


def effect_size(X, Y, A, B):
    sx, sy = _s(X, A, B), _s(Y, A, B)
    return (sx.mean() - sy.mean()) / np.concatenate([sx, sy]).std(ddof=1)


def exposure(scores, true_index):
    rank = 1 + int((scores > scores[true_index]).sum())
    return math.log2(len(scores)) - math.log2(rank)


def test_references_pass():
    assert ch10.check_flops_per_token(flops_per_token).passed
    assert ch10.check_effect_size(effect_size).passed
    assert ch10.check_exposure(exposure).passed


def test_flops_mistakes_are_named():
    answers = {
        "forward pass only": lambda V, C, L, T: flops_per_token(V, C, L, T) / 3,
        "left out attention": lambda V, C, L, T: flops_per_token(V, C, L, T) - 12 * L * T * C,
        "left out the output layer": lambda V, C, L, T: flops_per_token(V, C, L, T) - 6 * C * V,
        "causal half of the scores": lambda V, C, L, T: flops_per_token(V, C, L, T) - 6 * L * T * C,
    }
    for expected, answer in answers.items():
        result = ch10.check_flops_per_token(answer)
        assert not result.passed and expected in result.message, (expected, result.message)
    assert not ch10.check_flops_per_token(lambda V, C, L, T: 6 * C).passed


def test_effect_size_mistakes_are_named():
    def population(X, Y, A, B):
        sx, sy = _s(X, A, B), _s(Y, A, B)
        return (sx.mean() - sy.mean()) / np.concatenate([sx, sy]).std()

    def x_only(X, Y, A, B):
        sx, sy = _s(X, A, B), _s(Y, A, B)
        return (sx.mean() - sy.mean()) / sx.std(ddof=1)

    def dots(X, Y, A, B):
        s = lambda W: (W @ A.T).mean(1) - (W @ B.T).mean(1)  # noqa: E731
        sx, sy = s(X), s(Y)
        return (sx.mean() - sy.mean()) / np.concatenate([sx, sy]).std(ddof=1)

    answers = {
        "population standard deviation": population,
        "spread of X alone": x_only,
        "forgot to divide": lambda X, Y, A, B: _s(X, A, B).mean() - _s(Y, A, B).mean(),
        "sign is reversed": lambda X, Y, A, B: -effect_size(X, Y, A, B),
        "dot products": dots,
    }
    for expected, answer in answers.items():
        result = ch10.check_effect_size(answer)
        assert not result.passed and expected in result.message, (expected, result.message)


def test_exposure_mistakes_are_named():
    def zero_based(scores, i):
        rank = int((scores > scores[i]).sum())
        return math.log2(len(scores)) - math.log2(rank) if rank else math.inf

    answers = {
        "rank starts at 0": zero_based,
        "natural logarithm": lambda s, i: math.log(len(s)) - math.log(1 + int((s > s[i]).sum())),
        "lowest score": lambda s, i: math.log2(len(s)) - math.log2(1 + int((s < s[i]).sum())),
        "ties": lambda s, i: math.log2(len(s)) - math.log2(int((s >= s[i]).sum())),
    }
    for expected, answer in answers.items():
        result = ch10.check_exposure(answer)
        assert not result.passed and expected in result.message, (expected, result.message)
    assert "not attempted" in str(
        ch10.check_exposure(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    )
