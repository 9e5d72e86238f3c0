"""Readable word labels on a projection plot (chapter 01).

:func:`coursekit.plots.plot_embedding_projection` writes each word next to its point; where words
crowd together their labels overlap. :func:`spread_labels` moves the labels of a finished figure
apart, by small vertical and horizontal steps, until no two overlap (or a step limit is reached),
and draws a thin line from a label that moved far back to its point.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.text import Annotation

__all__ = ["count_overlaps", "spread_labels"]


def _boxes(fig: Figure, labels: list[Annotation]) -> list:
    return [t.get_window_extent().expanded(1.05, 1.15) for t in labels]


def count_overlaps(fig: Figure) -> int:
    """How many pairs of word labels (annotations) on the figure's axes overlap on screen."""
    fig.draw_without_rendering()
    count = 0
    for ax in fig.axes:
        labels = [t for t in ax.texts if isinstance(t, Annotation)]
        boxes = _boxes(fig, labels)
        count += sum(bool(a.overlaps(b)) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    return count


def spread_labels(fig: Figure, steps: int = 200) -> Figure:
    """Nudge overlapping word labels apart; returns the same figure.

    The labels' screen boxes are measured once; each round then pushes every overlapping pair apart
    along the direction in which they overlap least (by half that overlap each, plus a pixel). Labels keep their offset from their
    point otherwise; a label that ends more than 12 points away gets a thin leader line.

    >>> import torch
    >>> from coursekit.plots import plot_embedding_projection
    >>> words = [f"word{i}" for i in range(30)]
    >>> vectors = torch.randn(30, 8, generator=torch.Generator().manual_seed(0))
    >>> fig = plot_embedding_projection(vectors, words, {"all": words})
    >>> count_overlaps(spread_labels(fig))
    0
    """
    fig.draw_without_rendering()  # lay out once; the boxes then move with the labels
    points_per_pixel = 72.0 / fig.dpi
    for ax in fig.axes:
        labels = [t for t in ax.texts if isinstance(t, Annotation)]
        if len(labels) < 2:
            continue
        boxes = np.array([b.extents for b in _boxes(fig, labels)])  # (L, 4): x0, y0, x1, y1 px
        shift = np.zeros((len(labels), 2))  # pixels
        for _ in range(steps):
            moved = False
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    a, b = boxes[i], boxes[j]
                    dx = min(a[2], b[2]) - max(a[0], b[0])  # overlap width, pixels
                    dy = min(a[3], b[3]) - max(a[1], b[1])
                    if dx <= 0 or dy <= 0:
                        continue
                    axis, size = (1, dy) if dy <= dx else (0, dx)
                    sign = 1.0 if a[axis] >= b[axis] else -1.0
                    step = np.zeros(2)
                    step[axis] = sign * (size / 2 + 1)
                    for k, direction in ((i, 1.0), (j, -1.0)):
                        boxes[k] += np.tile(direction * step, 2)
                        shift[k] += direction * step
                    moved = True
            if not moved:
                break
        for label, (mx, my) in zip(labels, shift * points_per_pixel, strict=True):
            x, y = label.xyann
            label.xyann = (x + mx, y + my)
        ax.set_autoscale_on(False)  # leader lines must not rescale the axes under the labels
        for label in labels:
            x, y = label.xyann
            if (x * x + y * y) ** 0.5 > 12:
                start = ax.transData.transform(label.xy)
                end = start + np.array([x, y]) / points_per_pixel  # points to pixels
                (sx, sy), (ex, ey) = ax.transData.inverted().transform([start, end])
                ax.plot([sx, ex], [sy, ey], color="0.6", lw=0.6, zorder=0)
    return fig
