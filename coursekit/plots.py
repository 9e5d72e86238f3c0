"""Plots: pure functions, data in, a matplotlib Figure out (no global state, no plt.show()).

Every plot has a title, axis labels and units. Widgets in :mod:`coursekit.widgets` wrap these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = [
    "lstm_cell_diagram",
    "plot_embedding_projection",
    "plot_gate_activations",
    "plot_grad_norm_by_distance",
    "plot_history",
    "plot_neighbours",
    "plot_perplexity_by_order",
    "plot_valid_loss_vs_time",
    "softmax_bars",
]


def _finished(fig: Figure) -> Figure:
    """Lay out and close a finished figure: the caller displays the returned Figure, and closing it
    keeps the notebook from also showing it a second time through pyplot."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def softmax_bars(
    logits: Sequence[float] | torch.Tensor,
    temperature: float = 1.0,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Bar chart of ``softmax(logits / temperature)``: how temperature sharpens or flattens a
    distribution (chapter 00; sampling in chapter 08).

    Args:
        logits: scores, shape ``(V,)``.
        temperature: must be positive; below 1 sharpens, above 1 flattens.
        labels: one name per bar (default: the indices).

    >>> fig = softmax_bars([2.0, 1.0, 0.1], temperature=0.5); fig.axes[0].get_title()
    'softmax(logits / T) at T = 0.50'
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scores = torch.as_tensor(logits, dtype=torch.float64)
    if scores.dim() != 1:
        raise ValueError(f"logits must have shape (V,), got {tuple(scores.shape)}")
    probs = torch.softmax(scores / temperature, dim=0)
    names = [str(i) for i in range(len(probs))] if labels is None else list(labels)
    if len(names) != len(probs):
        raise ValueError(f"got {len(names)} labels for {len(probs)} logits")
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(names, probs.tolist(), color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_xlabel("token")
    ax.set_ylabel("probability")
    ax.set_title(f"softmax(logits / T) at T = {temperature:.2f}")
    return _finished(fig)


def _smooth(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with bias correction (as TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for n, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**n))
    return out


def plot_history(history: Any, title: str = "training", smooth: float = 0.9) -> Figure:
    """Training loss (raw and smoothed) and validation loss against optimizer steps.

    Args:
        history: a :class:`coursekit.train.History` (anything with ``step``, ``train_loss``,
            ``valid_step``, ``valid_loss`` lists).
        title: the figure's title.
        smooth: moving-average weight for the smoothed training curve (0 = none).

    >>> from coursekit.train import History
    >>> fig = plot_history(History(step=[1, 2], train_loss=[2.0, 1.5])); fig.axes[0].get_ylabel()
    'loss (nats per token)'
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if history.step:
        ax.plot(history.step, history.train_loss, color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(history.step, _smooth(history.train_loss, smooth), color="tab:blue", label="train")
    if history.valid_step:
        ax.plot(history.valid_step, history.valid_loss, "o-", color="tab:orange", label="valid")
        ax.annotate(
            f"{history.valid_loss[-1]:.3f}",
            (history.valid_step[-1], history.valid_loss[-1]),
            textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8,
        )  # fmt: skip
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    if history.step or history.valid_step:
        ax.legend()
    ax.grid(alpha=0.3)
    return _finished(fig)


def plot_valid_loss_vs_time(
    histories: Mapping[str, Any],
    title: str = "validation loss",
    ylabel: str = "validation loss (nats per token)",
) -> Figure:
    """Validation loss against training wall time, one line per run (equal-time comparisons).

    >>> from coursekit.train import History
    >>> h = History(valid_step=[1, 2], valid_loss=[2.0, 1.0], valid_seconds=[0.5, 1.0])
    >>> plot_valid_loss_vs_time({"gru": h}).axes[0].get_xlabel()
    'training time (s)'
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, h in histories.items():
        ax.plot(h.valid_seconds, h.valid_loss, "o-", ms=3, label=name)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _finished(fig)


def plot_grad_norm_by_distance(
    norms: Mapping[str, Sequence[float] | torch.Tensor],
    title: str = "gradient reaching back in time",
    ylabel: str = "gradient norm k steps back (log scale)",
) -> Figure:
    """How much gradient reaches step ``t - k`` from a quantity at step ``t``, for each model.

    Args:
        norms: model name -> gradient norms ``(K,)``, entry ``k`` for distance ``k`` steps.
        ylabel: what was differentiated (chapter 03: the last hidden state; 04: the loss).

    >>> fig = plot_grad_norm_by_distance({"rnn": [1.0, 0.1, 0.01]}); fig.axes[0].get_yscale()
    'log'
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in norms.items():
        vals = torch.as_tensor(values, dtype=torch.float64).clamp_min(1e-30)
        ax.plot(range(len(vals)), vals.tolist(), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("distance back in time k (steps)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return _finished(fig)


def plot_gate_activations(
    gates: Mapping[str, torch.Tensor],
    tokens: Sequence[str],
    title: str = "gate activations",
) -> Figure:
    """One heatmap per gate: units (rows) by position in the text (columns), values in [0, 1].

    Args:
        gates: gate name -> activations ``(T, K)`` for T tokens and K units shown.
        tokens: the T tokens, used as column labels.

    >>> fig = plot_gate_activations({"forget": torch.rand(3, 4)}, ["a", "b", "c"])
    >>> len(fig.axes)  # one panel and its colour bar
    2
    """
    names = list(gates)
    fig, axes = plt.subplots(
        len(names), 1, figsize=(max(6, 0.22 * len(tokens)), 1.4 * len(names) + 0.8), squeeze=False
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        values = torch.as_tensor(gates[name]).detach().float()
        if values.shape[0] != len(tokens):
            raise ValueError(f"gate {name!r} has {values.shape[0]} steps for {len(tokens)} tokens")
        image = ax.imshow(values.T.numpy(), aspect="auto", vmin=0, vmax=1, cmap="viridis")
        ax.set_ylabel(f"{name}\nunit")
        ax.set_xticks(range(len(tokens)))
        ax.set_xticklabels([repr(t)[1:-1] for t in tokens], fontsize=7)
    axes[-1, 0].set_xlabel("token")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="activation (0 = closed, 1 = open)")
    fig.suptitle(title)
    plt.close(fig)
    return fig


# -- chapter 01 (word embeddings) and chapter 02 (n-gram language models) ----------------------


def plot_neighbours(neighbours: Sequence[tuple[str, float]], query: str) -> Figure:
    """Horizontal bars: the nearest neighbours of ``query`` and their cosine similarity (chapter 01).

    Args:
        neighbours: ``(word, cosine)`` pairs, most similar first
            (e.g. :func:`coursekit.embeddings.nearest_neighbours`).
        query: the word (or description) they are neighbours of.

    >>> plot_neighbours([("queen", 0.8), ("prince", 0.7)], "king").axes[0].get_title()
    "nearest neighbours of 'king'"
    """
    if not neighbours:
        raise ValueError("no neighbours to plot")
    words = [w for w, _ in neighbours][::-1]
    sims = [float(s) for _, s in neighbours][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(words) + 1.0))
    ax.barh(words, sims, color="tab:blue")
    ax.set_xlim(min(0.0, min(sims)), 1.0)
    ax.set_xlabel("cosine similarity (1 = same direction)")
    ax.set_ylabel("word")
    ax.set_title(f"nearest neighbours of {query!r}")
    return _finished(fig)


def plot_embedding_projection(
    vectors: torch.Tensor,
    words: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    title: str = "word vectors projected to 2-D (PCA)",
) -> Figure:
    """Scatter of chosen words after projecting their vectors onto the top two principal axes.

    The PCA is fitted on the chosen words only, so the picture shows how *they* spread out.

    Args:
        vectors: ``(V, C)`` word vectors; words: the ``V`` words in row order.
        groups: group name -> words to show in that group's colour (unknown words are skipped).

    >>> import torch; fig = plot_embedding_projection(torch.eye(4), list("abcd"), {"g": ["a", "b", "c"]})
    >>> fig.axes[0].get_xlabel()
    'principal axis 1 (50% of variance)'
    """
    index = {w: i for i, w in enumerate(words)}
    chosen = [(g, w) for g, ws in groups.items() for w in ws if w in index]
    if len(chosen) < 3:
        raise ValueError(f"need at least 3 known words to project, got {len(chosen)}")
    x = torch.as_tensor(vectors, dtype=torch.float64)[[index[w] for _, w in chosen]]  # (P, C)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)  # cosine geometry
    x = x - x.mean(0)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    xy = x @ vh[:2].T  # (P, 2)
    share = (s[:2] ** 2 / (s**2).sum()).tolist()
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, name in enumerate(groups):
        rows = [i for i, (g, _) in enumerate(chosen) if g == name]
        if not rows:
            continue
        ax.scatter(xy[rows, 0], xy[rows, 1], color=colours[k % len(colours)], label=name)
        for i in rows:
            ax.annotate(
                chosen[i][1],
                (float(xy[i, 0]), float(xy[i, 1])),
                fontsize=9,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xlabel(f"principal axis 1 ({share[0]:.0%} of variance)")
    ax.set_ylabel(f"principal axis 2 ({share[1]:.0%} of variance)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return _finished(fig)


def plot_perplexity_by_order(
    perplexities: Mapping[str, float], title: str = "held-out perplexity by n-gram order"
) -> Figure:
    """Bars of perplexity per model (log scale; lower is better) (chapter 02).

    >>> plot_perplexity_by_order({"unigram": 600.0, "bigram": 300.0}).axes[0].get_yscale()
    'log'
    """
    if not perplexities:
        raise ValueError("no perplexities to plot")
    names, values = list(perplexities), [float(v) for v in perplexities.values()]
    fig, ax = plt.subplots(figsize=(5, 3))
    bars = ax.bar(names, values, color="tab:blue")
    ax.bar_label(bars, fmt="%.0f")
    ax.set_yscale("log")
    ax.set_xlabel("model")
    ax.set_ylabel("perplexity (log scale; lower is better)")
    ax.set_title(title)
    return _finished(fig)


def lstm_cell_diagram() -> Figure:
    """A schematic of one LSTM step (chapter 04): the cell state runs along the top, the four
    gates read ``[h_(t-1), x_t]`` at the bottom and write into it through ⊙ and +.

    >>> lstm_cell_diagram().axes[0].get_title()
    'one LSTM step'
    """
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5)
    ax.axis("off")
    arrow = {"arrowstyle": "->", "color": "0.3", "lw": 1.2}

    def node(x: float, y: float, text: str, color: str, box: bool = True) -> None:
        style = "round,pad=0.3" if box else "circle,pad=0.15"
        ax.text(x, y, text, ha="center", va="center", fontsize=11,
                bbox={"boxstyle": style, "fc": color, "ec": "0.3"})  # fmt: skip

    def link(a: tuple[float, float], b: tuple[float, float]) -> None:
        ax.annotate("", xy=b, xytext=a, arrowprops=arrow)

    # cell state line: c_(t-1) -> ⊙ f -> + i⊙g -> c_t
    link((0.3, 4.2), (2.3, 4.2))
    link((2.7, 4.2), (5.3, 4.2))
    link((5.7, 4.2), (9.6, 4.2))
    ax.text(0.2, 4.45, "$c_{t-1}$", fontsize=11)
    ax.text(9.2, 4.45, "$c_t$", fontsize=11)
    node(2.5, 4.2, "×", "white", box=False)
    node(5.5, 4.2, "+", "white", box=False)
    gates = [
        (2.5, "$f_t=\\sigma$", "tab:red", "forget"),
        (4.3, "$i_t=\\sigma$", "tab:green", "input"),
        (5.5, "$g_t=\\tanh$", "khaki", "candidate"),
        (7.3, "$o_t=\\sigma$", "tab:blue", "output"),
    ]
    link((0.3, 0.6), (8.5, 0.6))
    ax.text(0.2, 0.25, "$[h_{t-1}, x_t]$", fontsize=11)
    for x, label, color, name in gates:
        link((x, 0.6), (x, 1.7))
        node(x, 2.0, label, color)
        ax.text(x, 1.35, name, ha="center", fontsize=8, color="0.3")
    link((2.5, 2.35), (2.5, 4.0))
    node(4.9, 3.1, "×", "white", box=False)
    link((4.3, 2.35), (4.75, 2.95))
    link((5.5, 2.35), (5.05, 2.95))
    link((4.9, 3.3), (5.4, 4.0))
    node(7.3, 3.1, "×", "white", box=False)
    link((7.3, 2.35), (7.3, 2.9))
    node(8.4, 3.1, "tanh", "khaki")
    link((8.4, 4.2), (8.4, 3.45))
    link((8.0, 3.1), (7.5, 3.1))
    link((7.3, 3.3), (7.3, 3.7))
    link((7.3, 3.7), (9.6, 3.7))
    ax.text(9.2, 3.35, "$h_t$", fontsize=11)
    ax.set_title("one LSTM step")
    return _finished(fig)
