"""Plots of chapter 07 (the Transformer): pure functions, data in, a matplotlib Figure out.

Masks, attention weights per head, the sinusoidal positional table, and time per step against
sequence length. Shapes: H heads, Tq query steps, Tk key steps, P positions, C width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["plot_attention_heads", "plot_masks", "plot_positional_table", "plot_step_time"]


def _finished(fig: Figure) -> Figure:
    """Lay out and close the figure, so a notebook shows the returned Figure only once."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_masks(masks: Mapping[str, torch.Tensor]) -> Figure:
    """Boolean attention masks side by side, True (may attend) dark (chapter 07).

    Args:
        masks: title -> bool mask ``(Tq, Tk)``, True where query ``i`` may attend key ``j``.

    >>> from coursekit.nn import causal_mask
    >>> fig = plot_masks({"causal": causal_mask(4)}); fig.axes[0].get_title()
    'causal'
    """
    if not masks:
        raise ValueError("plot_masks: pass at least one mask, e.g. {'causal': causal_mask(5)}.")
    fig, axes = plt.subplots(1, len(masks), figsize=(3.2 * len(masks), 3.2), squeeze=False)
    for ax, (title, mask) in zip(axes[0], masks.items(), strict=True):
        mask = torch.as_tensor(mask)
        if mask.dim() != 2 or mask.dtype != torch.bool:
            raise ValueError(
                f"plot_masks: mask {title!r} should be a bool (Tq, Tk) tensor, got "
                f"{mask.dtype} of shape {tuple(mask.shape)}."
            )
        ax.imshow(mask.int().numpy(), cmap="Greys", vmin=0, vmax=1)
        ax.set_xticks(range(mask.size(1)))
        ax.set_yticks(range(mask.size(0)))
        ax.set(title=title, xlabel="key position j", ylabel="query position i")
    return _finished(fig)


def plot_attention_heads(
    weights: torch.Tensor,
    queries: Sequence[str],
    keys: Sequence[str] | None = None,
    title: str = "attention weights",
) -> Figure:
    """One heat map per head of attention weights ``(H, Tq, Tk)`` (chapter 07).

    Args:
        weights: ``(H, Tq, Tk)``, each row a distribution over the keys.
        queries, keys: the tokens along the rows and columns (keys default to the queries).
        title: the figure's title.

    >>> fig = plot_attention_heads(torch.full((2, 3, 3), 1 / 3), list("abc")); len(fig.axes)
    2
    """
    weights = torch.as_tensor(weights, dtype=torch.float64)
    keys = list(queries if keys is None else keys)
    if weights.dim() != 3 or weights.shape[1:] != (len(queries), len(keys)):
        raise ValueError(
            f"plot_attention_heads: weights should be (H, Tq, Tk) = (H, {len(queries)}, "
            f"{len(keys)}) for the tokens given, got {tuple(weights.shape)}."
        )
    heads = weights.size(0)
    fig, axes = plt.subplots(1, heads, figsize=(2.6 * heads, 2.9), squeeze=False)
    for h, ax in enumerate(axes[0]):
        ax.imshow(weights[h].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(keys)), keys)
        ax.set_yticks(range(len(queries)), queries)
        ax.set(title=f"head {h}", xlabel="key")
    axes[0][0].set_ylabel("query")
    fig.suptitle(title)
    return _finished(fig)


def plot_positional_table(table: torch.Tensor, columns: Sequence[int] = (0, 2, 8)) -> Figure:
    """The positional table ``(P, C)`` as a heat map, and a few of its columns against position.

    Args:
        table: e.g. :func:`coursekit.nn.sinusoidal_table`.
        columns: the columns drawn as curves (each pair ``2i, 2i+1`` is one frequency).

    >>> from coursekit.nn.transformer import sinusoidal_table
    >>> fig = plot_positional_table(sinusoidal_table(16, 8), columns=(0, 4)); len(fig.axes[1].lines)
    2
    """
    table = torch.as_tensor(table, dtype=torch.float64)
    if table.dim() != 2 or any(not 0 <= c < table.size(1) for c in columns):
        raise ValueError(
            f"plot_positional_table: table should be (P, C) and columns in [0, C), got shape "
            f"{tuple(table.shape)} and columns {tuple(columns)}."
        )
    fig, (heat, curves) = plt.subplots(1, 2, figsize=(10, 3.2))
    image = heat.imshow(table.numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
    fig.colorbar(image, ax=heat)
    heat.set(title="positional table PE[p, c]", xlabel="column c", ylabel="position p")
    for c in columns:
        kind = "sin" if c % 2 == 0 else "cos"
        curves.plot(table[:, c].numpy(), label=f"column {c} ({kind})")
    curves.set(title="columns against position", xlabel="position p", ylabel="PE[p, c]")
    curves.legend(fontsize=8)
    curves.grid(alpha=0.3)
    return _finished(fig)


def plot_step_time(lengths: Sequence[int], seconds: Mapping[str, Sequence[float]]) -> Figure:
    """Time per training step against sequence length, one line per model, log-log axes.

    Args:
        lengths: the sequence lengths T measured.
        seconds: model name -> seconds per step at each length.

    >>> fig = plot_step_time([8, 16], {"GRU": [1e-3, 2e-3], "Transformer": [1e-3, 3e-3]})
    >>> fig.axes[0].get_xscale()
    'log'
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, values in seconds.items():
        if len(values) != len(lengths):
            raise ValueError(
                f"plot_step_time: {name!r} has {len(values)} times for {len(lengths)} lengths."
            )
        ax.plot(list(lengths), [1e3 * s for s in values], "o-", label=name)
    ax.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="ms per step")
    ax.set_title("forward + backward time per step")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _finished(fig)
