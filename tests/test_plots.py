"""coursekit.plots: every plot returns a Figure with a title and axis labels, and draws its data
(each test reads back the drawn lines, bars and images)."""

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


# -- what each plot draws: the data behind the lines, bars and images -----------------------------
def _xy(line) -> tuple[list[float], list[float]]:
    return [float(v) for v in line.get_xdata()], [float(v) for v in line.get_ydata()]


def test_plot_history_draws_losses_against_their_steps():
    """Validation loss is drawn at its own steps (valid_step), not at its index."""
    h = History(
        step=[10, 20, 30, 40],
        train_loss=[4.0, 3.0, 2.5, 2.0],
        valid_step=[20, 40],
        valid_loss=[3.1, 2.2],
    )
    ax = plots.plot_history(h, smooth=0.5).axes[0]
    raw, smoothed, valid = ax.lines
    assert _xy(raw) == ([10, 20, 30, 40], [4.0, 3.0, 2.5, 2.0])
    x, y = _xy(smoothed)
    assert x == [10, 20, 30, 40]
    # bias-corrected moving average, written out: avg_n = 0.5 avg_(n-1) + 0.5 v_n, / (1 - 0.5^n)
    avg, want = 0.0, []
    for n, v in enumerate(h.train_loss, start=1):
        avg = 0.5 * avg + 0.5 * v
        want.append(avg / (1 - 0.5**n))
    assert y == pytest.approx(want) and y[0] == pytest.approx(4.0)
    assert _xy(valid) == ([20, 40], [3.1, 2.2])
    (label,) = ax.texts
    assert label.get_text() == "2.200" and tuple(label.xy) == (40, 2.2)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "valid"]


def test_plot_history_with_no_smoothing_draws_the_raw_loss_twice():
    h = History(step=[1, 2, 3], train_loss=[3.0, 1.0, 2.0])
    raw, smoothed = plots.plot_history(h, smooth=0.0).axes[0].lines
    assert _xy(smoothed) == _xy(raw) == ([1, 2, 3], [3.0, 1.0, 2.0])


def test_plot_valid_loss_vs_time_draws_each_run_against_its_seconds():
    a = History(valid_step=[5, 10], valid_loss=[2.0, 1.5], valid_seconds=[0.5, 1.25])
    b = History(valid_step=[5, 10, 15], valid_loss=[2.5, 2.0, 1.0], valid_seconds=[2.0, 4.0, 6.0])
    ax = plots.plot_valid_loss_vs_time({"rnn": a, "gru": b}).axes[0]
    assert [_xy(line) for line in ax.lines] == [
        ([0.5, 1.25], [2.0, 1.5]),
        ([2.0, 4.0, 6.0], [2.5, 2.0, 1.0]),
    ]
    assert [line.get_label() for line in ax.lines] == ["rnn", "gru"]


def test_plot_grad_norm_by_distance_draws_each_norm_at_its_distance():
    ax = plots.plot_grad_norm_by_distance(
        {"rnn": torch.tensor([1.0, 1e-3, 0.0]), "lstm": [0.9, 0.5, 0.2, 0.1]}
    ).axes[0]
    (rnn_x, rnn_y), (lstm_x, lstm_y) = (_xy(line) for line in ax.lines)
    assert rnn_x == [0, 1, 2] and rnn_y == pytest.approx([1.0, 1e-3, 1e-30])  # 0 kept on a log axis
    assert lstm_x == [0, 1, 2, 3] and lstm_y == pytest.approx([0.9, 0.5, 0.2, 0.1])
    assert [line.get_label() for line in ax.lines] == ["rnn", "lstm"]


def test_plot_gate_activations_draws_units_by_tokens():
    forget, output = torch.rand(4, 3), torch.rand(4, 3)
    fig = plots.plot_gate_activations({"forget": forget, "output": output}, ["a", "b", "\n", "d"])
    for ax, values in zip(fig.axes[:2], (forget, output), strict=True):
        (image,) = ax.images
        assert image.get_array().shape == (3, 4)  # rows: units, columns: tokens
        assert torch.equal(torch.as_tensor(image.get_array()), values.T)
        assert image.get_clim() == (0, 1)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "\\n", "d"]
    assert fig.axes[0].get_ylabel().startswith("forget")


def test_softmax_bars_draw_the_tempered_probabilities():
    logits = [2.0, 1.0, 0.1]
    ax = plots.softmax_bars(logits, temperature=0.5, labels=["x", "y", "z"]).axes[0]
    want = torch.softmax(torch.tensor(logits, dtype=torch.float64) / 0.5, 0).tolist()
    assert [p.get_height() for p in ax.patches] == pytest.approx(want)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="temperature must be positive"):
        plots.softmax_bars(logits, temperature=0)


def test_plot_neighbours_draws_the_most_similar_on_top():
    ax = plots.plot_neighbours([("queen", 0.8), ("prince", 0.6), ("throne", -0.1)], "king").axes[0]
    assert [p.get_width() for p in ax.patches] == pytest.approx([-0.1, 0.6, 0.8])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["throne", "prince", "queen"]
    assert ax.get_xlim() == pytest.approx((-0.1, 1.0))


def test_plot_embedding_projection_draws_the_principal_coordinates():
    """Each word is drawn at its coordinates on the top two principal axes of the chosen words'
    unit vectors (computed here independently with NumPy), labelled with the word."""
    import numpy as np

    rng = np.random.default_rng(0)
    vecs = torch.tensor(rng.normal(size=(6, 5)))
    words = list("abcdef")
    groups = {"g1": ["a", "b", "c"], "g2": ["d", "e", "zzz"]}
    ax = plots.plot_embedding_projection(vecs, words, groups).axes[0]
    x = vecs.numpy()[:5] / np.linalg.norm(vecs.numpy()[:5], axis=1, keepdims=True)
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    want = x @ vt[:2].T  # (5, 2)
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    signs = np.sign((drawn * want).sum(0))  # an axis's direction is arbitrary
    assert np.allclose(drawn * signs, want, atol=1e-9)
    assert [t.get_text() for t in ax.texts] == list("abcde")
    assert np.allclose([t.xy for t in ax.texts], drawn)
    share = s[0] ** 2 / (s**2).sum()
    assert ax.get_xlabel() == f"principal axis 1 ({share:.0%} of variance)"


def test_plot_perplexity_by_order_draws_each_value():
    ppl = {"unigram": 512.0, "bigram": 230.4, "trigram": 181.0}
    ax = plots.plot_perplexity_by_order(ppl).axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx(list(ppl.values()))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(ppl)
    assert [t.get_text() for t in ax.texts] == ["512", "230", "181"]
