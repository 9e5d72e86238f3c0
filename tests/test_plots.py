"""coursekit.plots: every plot returns a Figure with a title and axis labels."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from coursekit import plots
from coursekit.train import History


def _labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert any(ax.get_xlabel() for ax in fig.axes)
    assert any(ax.get_ylabel() for ax in fig.axes)
    assert fig.axes[0].get_title() or fig.get_suptitle()


def test_plot_history():
    h = History(step=[1, 2, 3], train_loss=[3.0, 2.0, 1.5], valid_step=[3], valid_loss=[1.7])
    fig = plots.plot_history(h, title="lm")
    _labelled(fig)
    assert fig.axes[0].get_title() == "lm"
    assert len(fig.axes[0].lines) == 3  # raw, smoothed, valid
    _labelled(plots.plot_history(History()))  # an empty history still draws


def test_plot_valid_loss_vs_time():
    h = History(valid_step=[1, 2], valid_loss=[2.0, 1.0], valid_seconds=[0.5, 1.0])
    fig = plots.plot_valid_loss_vs_time({"rnn": h, "gru": h})
    _labelled(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["rnn", "gru"]


def test_plot_grad_norm_by_distance_handles_zeros():
    fig = plots.plot_grad_norm_by_distance(
        {"rnn": torch.tensor([1.0, 1e-3, 0.0]), "lstm": [1.0, 0.5, 0.2]}
    )
    _labelled(fig)
    assert fig.axes[0].get_yscale() == "log"


def test_plot_gate_activations():
    fig = plots.plot_gate_activations(
        {"input": torch.rand(4, 3), "forget": torch.rand(4, 3)}, list("abcd")
    )
    _labelled(fig)
    assert len(fig.axes) == 3  # two gates and one colour bar
    with pytest.raises(ValueError, match="3 steps for 4 tokens"):
        plots.plot_gate_activations({"input": torch.rand(3, 2)}, list("abcd"))


def test_lstm_cell_diagram():
    fig = plots.lstm_cell_diagram()
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "one LSTM step"
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert {"forget", "input", "candidate", "output"} <= set(labels)
