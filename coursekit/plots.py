"""Plots: pure functions, data in, a matplotlib Figure out (no global state, no plt.show()).

Every plot has a title, axis labels and units. Widgets in :mod:`coursekit.widgets` wrap these.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["softmax_bars"]


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
    fig.tight_layout()
    plt.close(fig)  # the caller displays it; no duplicate inline output
    return fig
