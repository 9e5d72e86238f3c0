"""Plots of chapter 09 (fine-tuning): pure functions, data in, a matplotlib Figure out.

The label-budget curve (accuracy against the number of labelled examples, one line per way of
training, every seed a dot) and the confusion matrix of a classifier. Shapes: K classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_label_curve"]


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


def plot_label_curve(
    curves: Mapping[str, Mapping[int, Sequence[float]]],
    *,
    chance: float | None = None,
    ylabel: str = "test accuracy",
    title: str = "accuracy against the labels it was given",
) -> Figure:
    """Accuracy against the label budget, the x axis logarithmic (chapter 09): for each entry
    ``name -> {labels: [accuracy of each seed]}`` a line through the seeds' means and a dot
    per seed, so the spread is visible. ``chance`` draws the accuracy of guessing.

    >>> fig = plot_label_curve({"pretrained": {20: [0.3, 0.25], 100: [0.4, 0.42]}}, chance=0.1)
    >>> [line.get_label() for line in fig.axes[0].get_lines()][:1]
    ['pretrained']
    """
    if not curves:
        raise ValueError("plot_label_curve: no curves: pass {name: {labels: [accuracies]}}.")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, points in curves.items():
        if not points or any(len(v) == 0 for v in points.values()):
            raise ValueError(
                f"plot_label_curve: curve {name!r} has a label budget with no accuracies: each "
                f"budget needs at least one seed's accuracy."
            )
        budgets = sorted(points)
        means = [sum(points[n]) / len(points[n]) for n in budgets]
        (line,) = ax.plot(budgets, means, marker="o", label=name)
        for n in budgets:
            ax.scatter([n] * len(points[n]), points[n], color=line.get_color(), alpha=0.35, s=14)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ticks = sorted({n for points in curves.values() for n in points})
    ax.set_xticks(ticks, [f"{n:,}" for n in ticks])
    ax.minorticks_off()
    ax.set(xlabel="labelled training examples (log scale)", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig
