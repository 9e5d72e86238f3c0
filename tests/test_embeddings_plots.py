"""The chapter 01/02 plots in coursekit.plots: titles, labels, and what they draw."""

from __future__ import annotations

import pytest
import torch

from coursekit import plots


def test_plot_neighbours_labels():
    fig = plots.plot_neighbours([("queen", 0.8), ("prince", 0.6)], "king")
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and "king" in ax.get_title()
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.6, 0.8])
    with pytest.raises(ValueError):
        plots.plot_neighbours([], "king")


def test_plot_embedding_projection_places_groups_apart():
    vecs = torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0], [0, 0.9, 0.1], [0, 0, 1.0]])
    words = ["a", "b", "c", "d", "e"]
    fig = plots.plot_embedding_projection(vecs, words, {"x": ["a", "b"], "y": ["c", "d", "zzz"]})
    ax = fig.axes[0]
    assert ax.get_title() and "principal axis 1" in ax.get_xlabel()
    assert len(ax.collections) == 2 and len(ax.texts) == 4
    with pytest.raises(ValueError, match="at least 3"):
        plots.plot_embedding_projection(vecs, words, {"x": ["a"]})


def test_plot_perplexity_by_order():
    fig = plots.plot_perplexity_by_order({"unigram": 500.0, "bigram": 200.0, "trigram": 150.0})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() and ax.get_title()
    assert len(ax.patches) == 3
