"""coursekit.finetune.probe: cached pooled features are exactly what a classifier pools, and a
probe fitted on them predicts what the classifier with that head predicts; it learns, and bad
input is named."""

from __future__ import annotations

import pytest
import torch

from coursekit.data.batching import ClassificationCollate
from coursekit.finetune import ClassifierConfig, GPTClassifier, fit_probe, pooled_features
from coursekit.nn import GPT, GPTConfig


def _batches(seed=0, n=24, vocab=13):
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        length = int(torch.randint(1, 9, (1,), generator=g))
        label = int(torch.randint(0, 3, (1,), generator=g))
        ids = torch.randint(1, vocab, (length,), generator=g)
        ids[0] = label + 1  # the label is readable from the first token
        items.append((ids.tolist(), label))
    collate = ClassificationCollate(pad_id=0)
    return [collate(items[i : i + 8]) for i in range(0, n, 8)]


@pytest.fixture
def body():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=13, context_size=16, embed_dim=16, num_layers=2, num_heads=2))


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_cached_features_are_what_the_classifier_pools(body, pooling):
    batches = _batches()
    body.train()
    features, labels = pooled_features(body, batches)
    assert body.training  # the mode is restored
    clf = GPTClassifier(body, ClassifierConfig(num_classes=3, pooling=pooling)).eval()
    with torch.no_grad():
        expected = torch.cat([clf.pool(clf.body.features(b.ids), b.mask) for b in batches])
    torch.testing.assert_close(features[pooling], expected)
    assert torch.equal(labels, torch.cat([b.labels for b in batches]))


def test_a_fitted_probe_is_the_classifier_with_that_head(body):
    batches = _batches(n=96)
    features, labels = pooled_features(body, batches, ["mean"])
    head = fit_probe(features["mean"], labels, 3, lr=3e-2, steps=200)
    with torch.no_grad():
        cached = head(features["mean"]).argmax(-1)
    assert (cached == labels).double().mean() > 0.5  # chance is 1/3
    clf = GPTClassifier(body, ClassifierConfig(num_classes=3, pooling="mean")).eval()
    clf.head.load_state_dict(head.state_dict())
    with torch.no_grad():
        live = torch.cat([clf(b).argmax(-1) for b in batches])
    assert torch.equal(live, cached)


def test_bad_probe_input_is_named(body):
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 5])
    with pytest.raises(ValueError, match=r"labels run 0..5, outside the classes 0..2"):
        fit_probe(x, y, 3)
    with pytest.raises(ValueError, match=r"features should be \(N, C\)"):
        fit_probe(x[0], y, 3)
    with pytest.raises(TypeError, match="takes a coursekit GPT"):
        pooled_features(torch.nn.Linear(2, 2), _batches())
    with pytest.raises(ValueError, match="pooling"):
        pooled_features(body, _batches(), ["max"])
