"""Chapter 01's evaluation helpers: bootstrap intervals (ranks with ties, paired differences) and
labels that do not overlap on the projection plot."""

from __future__ import annotations

import numpy as np
import torch

from coursekit.embeddings import evaluate
from coursekit.embeddings.evaluate import similarity_bootstrap, spearman


def test_row_ranks_match_the_one_row_ranks_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(20, 30)).astype(float)  # many ties
    expected = np.stack([evaluate._rank(row) for row in x])
    np.testing.assert_allclose(evaluate._rank_rows(x), expected)
    y = rng.normal(size=(20, 30))
    np.testing.assert_allclose(
        evaluate._spearman_rows(x, y), [spearman(a, b) for a, b in zip(x, y, strict=True)]
    )


def _setup(p=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(p, generator=g)
    # Pair i is (2i, 2i+1); a "good" method's cosine follows the human score, "noise" does not.
    words = [str(i) for i in range(2 * p)]
    index = {w: i for i, w in enumerate(words)}
    pairs = [(words[2 * i], words[2 * i + 1], float(truth[i])) for i in range(p)]

    def vectors(signal):
        v = torch.zeros(2 * p, 2)
        angle = signal * truth + torch.randn(p, generator=g)
        v[0::2, 0] = 1.0
        v[1::2, 0], v[1::2, 1] = (
            torch.cos(3 - 3 * angle.sigmoid()),
            torch.sin(3 - 3 * angle.sigmoid()),
        )
        return v

    return index, pairs, {"good": vectors(2.0), "weak": vectors(0.5), "noise": vectors(0.0)}


def test_intervals_cover_the_point_and_separate_signal_from_noise():
    index, pairs, vectors = _setup()
    r = similarity_bootstrap(vectors, index, pairs, compare=[("good", "weak"), ("weak", "good")])
    assert r.pairs == 300
    for m in vectors:
        low, high = r.interval[m]
        assert low < r.rho[m] < high
    assert r.above_chance("good") and r.above_chance("weak") and not r.above_chance("noise")
    assert r.better("good", "weak") and not r.better("weak", "good")
    diff, low, high = r.difference[("good", "weak")]
    assert low < diff < high and diff == r.rho["good"] - r.rho["weak"]


def test_paired_difference_is_narrower_than_the_intervals_side_by_side():
    index, pairs, vectors = _setup()
    noise = torch.randn(vectors["good"].shape, generator=torch.Generator().manual_seed(1))
    vectors["good2"] = vectors["good"] + 0.01 * noise
    r = similarity_bootstrap(vectors, index, pairs, compare=[("good", "good2")])
    _, low, high = r.difference[("good", "good2")]
    assert high - low < 0.5 * (r.interval["good"][1] - r.interval["good"][0])
    assert not r.better("good", "good2") and not r.better("good2", "good")


def test_spread_labels_removes_every_overlap_and_keeps_the_axes():
    from coursekit.embeddings.labels import count_overlaps, spread_labels
    from coursekit.plots import plot_embedding_projection

    words = [f"w{i:02d}" for i in range(40)]
    vectors = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    fig = plot_embedding_projection(vectors, words, {"a": words[:20], "b": words[20:]})
    limits = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
    assert count_overlaps(fig) > 0  # crowded on purpose: the test can fail
    spread_labels(fig)
    assert count_overlaps(fig) == 0
    assert (fig.axes[0].get_xlim(), fig.axes[0].get_ylim()) == limits
