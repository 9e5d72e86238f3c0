"""coursekit.plots_seq2seq: each plot returns a labelled Figure that draws its data, and a wrong
input raises with a message naming the expected shape."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from coursekit import plots_seq2seq as ps


def _labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel() and fig.axes[0].get_title()


def test_plot_alignment_draws_the_weights_with_the_tokens():
    weights = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    fig = ps.plot_alignment(weights, ["thou", "art", "."], ["you", "are"], title="one verse")
    _labelled(fig)
    ax = fig.axes[0]
    assert torch.allclose(torch.as_tensor(ax.images[0].get_array()), weights.double())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["thou", "art", "."]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["you", "are"]
    assert ax.get_title() == "one verse"


def test_plot_alignment_rejects_weights_that_do_not_fit_the_tokens():
    with pytest.raises(ValueError, match=r"should be \(T, S\) = \(2, 3\).*got \(3, 2\)"):
        ps.plot_alignment(torch.ones(3, 2), ["a", "b", "c"], ["x", "y"])


def test_plot_score_by_length_draws_one_line_per_system():
    scores = {"attention": [60.0, 55.0, 50.0], "no attention": [50.0, 40.0, 30.0]}
    fig = ps.plot_score_by_length(["1-8", "9-14", "15-20"], scores, metric="chrF", counts=[5, 6, 7])
    _labelled(fig)
    ax = fig.axes[0]
    assert [list(line.get_ydata()) for line in ax.lines] == list(scores.values())
    assert ax.get_ylabel() == "chrF"
    assert ax.get_xticklabels()[2].get_text() == "15-20\n(7)"


def test_plot_score_by_length_rejects_ragged_scores():
    with pytest.raises(ValueError, match=r"'a' has 1 scores for 2 buckets"):
        ps.plot_score_by_length(["1-8", "9-20"], {"a": [1.0]})
    with pytest.raises(ValueError, match=r"1 counts for 2 buckets"):
        ps.plot_score_by_length(["1-8", "9-20"], {"a": [1.0, 2.0]}, counts=[3])
