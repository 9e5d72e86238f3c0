"""Plots of chapter 09 (fine-tuning): pure functions, data in, a matplotlib Figure out.

The confusion matrix of a classifier. Shapes: K classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["plot_confusion"]


def plot_confusion(
    matrix: torch.Tensor | Sequence[Sequence[int]],
    class_names: Sequence[str],
    *,
    normalize: bool = False,
    title: str = "confusion matrix",
) -> Figure:
    """A confusion matrix ``(K, K)`` as a heat map, true classes down, predicted across
    (chapter 09; :func:`coursekit.metrics.confusion_matrix` makes one).

    Args:
        matrix: counts, row ``i`` the examples of class ``i``, column ``j`` those predicted ``j``.
        class_names: K names, in class-id order.
        normalize: divide each row by its total, so a cell is the share of a true class (the
            diagonal is then each class's recall); a class with no examples stays 0.
        title: the axes' title.

    >>> fig = plot_confusion([[3, 1], [0, 4]], ["neg", "pos"])
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['neg', 'pos']
    """
    m = torch.as_tensor(matrix)
    names = list(class_names)
    if m.dim() != 2 or m.size(0) != m.size(1):
        raise ValueError(
            f"plot_confusion: matrix should be square (K, K), got shape {tuple(m.shape)}."
        )
    if len(names) != m.size(0):
        raise ValueError(
            f"plot_confusion: {len(names)} class names for a {m.size(0)} x {m.size(1)} matrix: "
            f"pass one name per class, in class-id order."
        )
    values = m.double()
    if normalize:
        values = values / values.sum(1, keepdim=True).clamp_min(1)
    k = len(names)
    size = max(3.5, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(values.numpy(), cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, label="share of the true class" if normalize else "examples")
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    if k <= 20:  # the numbers, when they fit
        top = float(values.max()) if values.numel() else 0.0
        for i in range(k):
            for j in range(k):
                v = float(values[i, j])
                text = f"{v:.2f}" if normalize else f"{int(m[i, j])}"
                color = "white" if top and v > top / 2 else "black"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig
