"""coursekit.plots_attention: each plot returns a labelled Figure that draws its data, and a
wrong input raises with a message naming the expected shape."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from coursekit import plots_attention as pa
from coursekit.nn import causal_mask
from coursekit.nn.transformer import sinusoidal_table


def _labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert any(ax.get_xlabel() for ax in fig.axes) and any(ax.get_ylabel() for ax in fig.axes)
    assert fig.axes[0].get_title() or fig.get_suptitle()


def test_plot_masks_draws_each_mask():
    pad = torch.tensor([True, True, False]).expand(3, 3)
    fig = pa.plot_masks({"causal": causal_mask(3), "padding": pad})
    _labelled(fig)
    drawn = fig.axes[0].images[0].get_array()
    assert drawn.tolist() == causal_mask(3).int().tolist()
    assert [ax.get_title() for ax in fig.axes] == ["causal", "padding"]


def test_plot_masks_rejects_a_float_mask():
    with pytest.raises(ValueError, match="bool"):
        pa.plot_masks({"float": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match="at least one"):
        pa.plot_masks({})


def test_plot_attention_heads():
    weights = torch.softmax(torch.randn(3, 4, 5), dim=-1)
    fig = pa.plot_attention_heads(weights, list("abcd"), list("vwxyz"), title="t")
    _labelled(fig)
    assert len(fig.axes) == 3 and fig.get_suptitle() == "t"
    assert torch.allclose(torch.as_tensor(fig.axes[2].images[0].get_array()), weights[2].double())
    with pytest.raises(ValueError, match=r"\(H, 4, 4\)"):
        pa.plot_attention_heads(weights, list("abcd"))


def test_plot_positional_table():
    table = sinusoidal_table(20, 8)
    fig = pa.plot_positional_table(table, columns=(0, 3))
    _labelled(fig)
    assert [line.get_label() for line in fig.axes[1].lines] == ["column 0 (sin)", "column 3 (cos)"]
    assert fig.axes[1].lines[1].get_ydata().tolist() == pytest.approx(table[:, 3].tolist())
    with pytest.raises(ValueError, match="columns"):
        pa.plot_positional_table(table, columns=(8,))


def test_plot_step_time():
    fig = pa.plot_step_time([8, 16, 32], {"GRU": [1e-3, 2e-3, 4e-3], "T": [1e-3, 1e-3, 5e-3]})
    _labelled(fig)
    assert fig.axes[0].lines[0].get_ydata().tolist() == pytest.approx([1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="2 times for 3 lengths"):
        pa.plot_step_time([8, 16, 32], {"GRU": [1e-3, 2e-3]})
