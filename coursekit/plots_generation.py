"""Plots of chapter 08 (pretraining): pure functions, data in, a matplotlib Figure out.

What temperature, top-k and top-p do to the next-token distribution, next to a sample drawn with
those settings. Shapes: V vocab.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from coursekit.generate import filter_logits

__all__ = ["plot_sampling"]


def _finished(fig: Figure) -> Figure:
    """Lay out and close the figure, so a notebook shows the returned Figure only once."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_sampling(
    logits: torch.Tensor,
    labels: Sequence[str],
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    sample: str = "",
    shown: int = 20,
) -> Figure:
    """The next-token distribution after a prompt as sampling sees it (chapter 08): bars are
    ``softmax(logits / temperature)`` over the tokens ``top_k`` and ``top_p`` keep (grey: filtered out),
    for the ``shown`` most likely tokens; ``sample`` (a continuation drawn with the same
    settings) is printed below.

    Args:
        logits: the model's scores for the next token, ``(V,)``.
        labels: a printable name per token id.
        temperature: > 0 (greedy decoding has no distribution to draw).
        top_k, top_p: as in :func:`coursekit.generate.filter_logits` (None: off).

    >>> fig = plot_sampling(torch.tensor([2.0, 1.0, 0.0]), ["a", "b", "c"], top_k=2)
    >>> fig.axes[0].get_title()
    'next token at temperature 1.00, top-k 2, top-p off: 2 of 3 tokens kept'
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive here, got {temperature}")
    scores = torch.as_tensor(logits, dtype=torch.float64).flatten()
    if len(labels) != len(scores):
        raise ValueError(f"got {len(labels)} labels for {len(scores)} logits")
    filtered = filter_logits(scores[None] / temperature, top_k, top_p)[0]  # (V,)
    probs = torch.softmax(filtered, dim=0)
    before = torch.softmax(scores / temperature, dim=0)
    order = torch.argsort(before, descending=True)[:shown]
    kept = torch.isfinite(filtered)
    fig, (ax, text_ax) = plt.subplots(2, 1, figsize=(8, 5), gridspec_kw={"height_ratios": [3, 2]})
    names = [repr(labels[i])[1:-1] or "''" for i in order.tolist()]
    colors = ["tab:blue" if kept[i] else "lightgrey" for i in order.tolist()]
    heights = [float(probs[i] if kept[i] else before[i]) for i in order.tolist()]
    ax.bar(range(len(order)), heights, color=colors)
    ax.set_xticks(range(len(order)), names, fontfamily="monospace")
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    k_text = "off" if top_k is None else str(top_k)
    p_text = "off" if top_p is None else f"{top_p:.2f}"
    ax.set_title(
        f"next token at temperature {temperature:.2f}, top-k {k_text}, top-p {p_text}: "
        f"{int(kept.sum())} of {len(scores)} tokens kept"
    )
    text_ax.axis("off")
    wrapped = "\n".join(textwrap.fill(line, 90) for line in sample.splitlines()[:8])
    text_ax.text(0, 1, wrapped, va="top", family="monospace", fontsize=8)
    return _finished(fig)
