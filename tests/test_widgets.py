"""coursekit.widgets.neighbour_explorer: live widget with a static PNG fallback."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from coursekit import widgets

WORDS = ["king", "queen", "prince", "apple", "pear"]
VECS = torch.tensor([[1.0, 0.1], [0.9, 0.2], [0.95, 0.0], [0.0, 1.0], [0.1, 0.9]])


def test_static_result_is_a_neighbour_plot():
    fig = widgets.neighbour_explorer(VECS, WORDS, "king", k=2, static=True)
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert set(labels) == {"prince", "queen"}


def test_live_explorer_redraws_and_carries_png():
    explorer = widgets.neighbour_explorer(VECS, WORDS, "apple", k=3)
    assert isinstance(explorer, widgets.Explorer)
    bundle = explorer._repr_mimebundle_()
    assert "image/png" in bundle  # shown where widgets are not rendered
    explorer._controls["word"].value = "Pear "
    assert "'pear'" in explorer.current().axes[0].get_title()
    explorer._controls["word"].value = "zebra"
    assert "not in the vocabulary" in explorer.current()


def test_unknown_start_word_is_an_error():
    with pytest.raises(KeyError, match="zebra"):
        widgets.neighbour_explorer(VECS, WORDS, "zebra")


VERSES = [
    ("first", torch.tensor([[0.8, 0.2], [0.1, 0.9]]), ["thou", "art"], ["you", "are"]),
    ("second", torch.tensor([[1.0, 0.0, 0.0]]), ["he", "hath", "."], ["has"]),
]


def test_alignment_explorer_static_and_live():
    fig = widgets.alignment_explorer(VERSES, index=1, static=True)
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "second"
    explorer = widgets.alignment_explorer(VERSES)
    assert isinstance(explorer, widgets.Explorer)
    assert "image/png" in explorer._repr_mimebundle_()
    assert explorer.current().axes[0].get_title() == "first"
    explorer._controls["verse"].value = 1
    shown = explorer.current().axes[0]
    assert [t.get_text() for t in shown.get_xticklabels()] == ["he", "hath", "."]


def test_alignment_explorer_rejects_no_verses_and_a_bad_index():
    with pytest.raises(ValueError, match="at least one"):
        widgets.alignment_explorer([])
    with pytest.raises(IndexError, match=r"outside 0\.\.1"):
        widgets.alignment_explorer(VERSES, index=2)
