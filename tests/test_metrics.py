"""coursekit.metrics: perplexity and accuracy."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit.metrics import accuracy, perplexity, perplexity_from_logits


@pytest.mark.parametrize("vocab", [2, 17, 1000])
def test_uniform_model_has_perplexity_equal_to_vocabulary_size(vocab):
    targets = torch.randint(0, vocab, (4, 9), generator=torch.Generator().manual_seed(vocab))
    assert perplexity_from_logits(torch.zeros(4, 9, vocab), targets) == pytest.approx(
        vocab, rel=1e-5
    )
    assert perplexity([-math.log(vocab)] * 5) == pytest.approx(vocab)


def test_perplexity_matches_manual_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(6, 5, generator=g), torch.randint(0, 5, (6,), generator=g)
    log_p = torch.log_softmax(logits, -1)[torch.arange(6), targets]
    assert perplexity_from_logits(logits, targets) == pytest.approx(perplexity(log_p), rel=1e-5)


def test_ignore_index_and_errors():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    assert accuracy(logits, torch.tensor([0, -100])) == 1.0
    assert perplexity_from_logits(logits, torch.tensor([0, -100])) < 1.01
    with pytest.raises(ValueError, match="must agree"):
        accuracy(logits, torch.tensor([0]))
    with pytest.raises(ValueError, match="<= 0"):
        perplexity([0.5])
    with pytest.raises(ValueError, match="zero tokens"):
        perplexity([])
