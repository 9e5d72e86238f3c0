"""coursekit.plots_finetune: the confusion-matrix plot draws its data with labelled axes, and a
wrong input raises with a message naming the expected shape."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from coursekit.metrics import confusion_matrix
from coursekit.plots_finetune import plot_confusion, plot_label_curve


def test_plot_confusion_draws_the_counts():
    m = confusion_matrix([0, 2, 1, 1, 0, 2], [0, 1, 1, 2, 0, 2], num_classes=3)
    fig = plot_confusion(m, ["cat", "dog", "fish"], title="valid")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "valid"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert torch.equal(torch.as_tensor(ax.images[0].get_array()), m.double())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "fish"]
    assert [t.get_text() for t in ax.texts] == [str(int(v)) for v in m.flatten()]


def test_plot_confusion_normalizes_rows():
    fig = plot_confusion([[3, 1], [0, 0]], ["a", "b"], normalize=True)
    drawn = torch.as_tensor(fig.axes[0].images[0].get_array())
    assert drawn.tolist() == [[0.75, 0.25], [0.0, 0.0]]  # an empty class stays 0


def test_plot_confusion_rejects_bad_input():
    with pytest.raises(ValueError, match=r"square \(K, K\), got shape \(2, 3\)"):
        plot_confusion(torch.zeros(2, 3), ["a", "b"])
    with pytest.raises(ValueError, match="3 class names for a 2 x 2 matrix"):
        plot_confusion(torch.zeros(2, 2), ["a", "b", "c"])


def test_plot_label_curve_draws_the_means_and_every_seed():
    curves = {"pretrained": {20: [0.3, 0.2, 0.25], 500: [0.5, 0.6, 0.55]}, "scratch": {20: [0.1]}}
    fig = plot_label_curve(curves, chance=0.1)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines.get("pretrained").get_ydata()) == pytest.approx([0.25, 0.55])
    assert list(lines["pretrained"].get_xdata()) == [20, 500]
    assert "chance" in lines and ax.get_xscale() == "log"
    dots = sum(len(c.get_offsets()) for c in ax.collections)
    assert dots == 7  # every seed's accuracy is a dot
    with pytest.raises(ValueError, match="no accuracies"):
        plot_label_curve({"x": {20: []}})
    with pytest.raises(ValueError, match="no curves"):
        plot_label_curve({})
