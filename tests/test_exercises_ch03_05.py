"""Checkers of chapters 03-05: the reference passes, typical mistakes get specific feedback."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit.exercises import ch03


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebooks hold the same) -------------------------------------------
def rnn_step(x, h, w_xh, w_hh, b):
    return torch.tanh(x @ w_xh.T + h @ w_hh.T + b)


def clip(grads, max_norm):
    total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    return [g * min(1.0, max_norm / total) for g in grads]


def unigram(train, valid, vocab_size):
    counts = torch.bincount(torch.tensor(train), minlength=vocab_size).double() + 1
    return float(-(counts / counts.sum())[torch.tensor(valid)].log().mean())


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch03.check_rnn_step, rnn_step),
    (ch03.check_clip_global_norm, clip),
    (ch03.check_unigram_cross_entropy, unigram),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    assert checker(reference).passed


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    assert checker(not_yet).status == "not attempted"


WRONG = [
    (ch03.check_rnn_step, lambda x, h, a, b, c: torch.sigmoid(x @ a.T + h @ b.T + c), "sigmoid"),
    (ch03.check_rnn_step, lambda x, h, a, b, c: torch.tanh(x @ a.T + h @ b.T), "bias b is missing"),
    (
        ch03.check_clip_global_norm,
        lambda gs, m: [g * min(1.0, m / float(g.norm())) for g in gs],
        "each tensor by its own norm",
    ),
    (
        ch03.check_clip_global_norm,
        lambda gs, m: [g * m / math.sqrt(sum(float(t.pow(2).sum()) for t in gs)) for g in gs],
        "returned unchanged",
    ),
    (ch03.check_unigram_cross_entropy, lambda t, v, n: unigram(t, v, n) / math.log(2), "bits"),
    (ch03.check_unigram_cross_entropy, lambda t, v, n: float("inf"), "add-one smoothing"),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_typical_mistakes_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message
