"""Plots of chapter 06 (attention and sequence-to-sequence): pure functions, data in, a matplotlib
Figure out.

An alignment heat map (where the decoder looked while writing each output word) and a score
against source length for several systems. Shapes: T output steps, S source steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["plot_alignment", "plot_score_by_length"]


def _finished(fig: Figure) -> Figure:
    """Lay out and close the figure, so a notebook shows the returned Figure only once."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_alignment(
    weights: torch.Tensor,
    source: Sequence[str],
    output: Sequence[str],
    title: str = "attention weights",
) -> Figure:
    """Attention weights ``(T, S)`` of one verse as a heat map: row t is where the decoder looked
    (over the source words, columns) while writing output word t (chapter 06).

    Args:
        weights: ``(T, S)``, each row a distribution over the source tokens.
        source: the S source tokens (columns); output: the T output tokens (rows).
        title: the figure's title.

    >>> fig = plot_alignment(torch.eye(2), ["thou", "art"], ["you", "are"])
    >>> fig.axes[0].get_xlabel(), len(fig.axes)
    ('source token (encoder position j)', 2)
    """
    weights = torch.as_tensor(weights, dtype=torch.float64).detach().cpu()
    source, output = list(source), list(output)
    if weights.dim() != 2 or tuple(weights.shape) != (len(output), len(source)):
        raise ValueError(
            f"plot_alignment: weights should be (T, S) = ({len(output)}, {len(source)}) for the "
            f"tokens given, got {tuple(weights.shape)}."
        )
    fig, ax = plt.subplots(figsize=(0.42 * len(source) + 2.4, 0.34 * len(output) + 1.6))
    image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.04, label="weight α_tj")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(output)), output)
    ax.set(
        xlabel="source token (encoder position j)",
        ylabel="output token (decoder step t)",
        title=title,
    )
    return _finished(fig)


def plot_score_by_length(
    buckets: Sequence[str],
    scores: Mapping[str, Sequence[float]],
    metric: str = "chrF",
    counts: Sequence[int] | None = None,
) -> Figure:
    """One line per system: its score on the held-out pairs of each source-length bucket.

    Args:
        buckets: bucket labels along the x axis, e.g. ``["1-8", "9-12"]`` (source word tokens).
        scores: system name -> its score in each bucket.
        metric: the score's name (the y label).
        counts: pairs per bucket, added to the tick labels.

    >>> fig = plot_score_by_length(["1-8", "9-20"], {"a": [50.0, 40.0]}, counts=[10, 12])
    >>> fig.axes[0].get_xticklabels()[0].get_text()
    '1-8\\n(10)'
    """
    labels = list(buckets)
    if counts is not None:
        if len(counts) != len(labels):
            raise ValueError(
                f"plot_score_by_length: {len(counts)} counts for {len(labels)} buckets."
            )
        labels = [f"{b}\n({n})" for b, n in zip(labels, counts, strict=True)]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, values in scores.items():
        if len(values) != len(labels):
            raise ValueError(
                f"plot_score_by_length: {name!r} has {len(values)} scores for {len(labels)} "
                "buckets."
            )
        ax.plot(range(len(labels)), list(values), "o-", label=name)
    ax.set_xticks(range(len(labels)), labels)
    xlabel = "source length (word tokens)" + ("; pairs per bucket" if counts is not None else "")
    ax.set(xlabel=xlabel, ylabel=metric, title=f"{metric} against source length (held-out pairs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finished(fig)
