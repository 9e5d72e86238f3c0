"""Explorers: ipywidgets controls wrapped around the pure plots of :mod:`coursekit.plots`.

An explorer is live in JupyterLab and Colab. Where widgets cannot run (GitHub, nbviewer, a PDF),
the same output carries a static PNG of the plot at its initial setting, so readers still see a
result; ``static=True`` returns just that figure.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

from coursekit import plots, plots_seq2seq

__all__ = ["Explorer", "alignment_explorer", "neighbour_explorer", "softmax_temperature_explorer"]


class Explorer(widgets.VBox):
    """Controls above an output area that ``draw(**values)`` fills; also carries a static PNG.

    Args:
        controls: name -> widget; each widget's ``value`` is passed to ``draw`` by that name.
        draw: returns what to show (a Figure, a table, text) for the current values.
    """

    def __init__(self, controls: dict[str, widgets.ValueWidget], draw: Callable[..., Any]) -> None:
        self._controls = controls
        self._draw = draw
        self._output = widgets.Output()
        super().__init__([*controls.values(), self._output])
        for control in controls.values():
            control.observe(self._redraw, names="value")
        self._redraw()

    def current(self) -> Any:
        """What ``draw`` gives for the controls' current values."""
        return self._draw(**{name: c.value for name, c in self._controls.items()})

    def _redraw(self, change: Any = None) -> None:
        self._output.clear_output(wait=True)
        with self._output:
            display(self.current())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        shown = self.current()
        if isinstance(shown, Figure):  # static fallback for frontends without widgets
            buffer = io.BytesIO()
            shown.savefig(buffer, format="png", dpi=80)
            bundle["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        return bundle


def softmax_temperature_explorer(
    logits: Sequence[float],
    labels: Sequence[str] | None = None,
    temperature: float = 1.0,
    static: bool = False,
) -> Explorer | Figure:
    """A temperature slider over :func:`coursekit.plots.softmax_bars` (chapter 00, sampling in 08).

    Returns the live :class:`Explorer`, or only the Figure when ``static``.
    """
    if static:
        return plots.softmax_bars(logits, temperature, labels)
    slider = widgets.FloatLogSlider(
        value=temperature, base=10, min=-1, max=1, step=0.05, description="temperature"
    )
    return Explorer(
        {"temperature": slider},
        lambda temperature: plots.softmax_bars(logits, temperature, labels),
    )


def neighbour_explorer(
    vectors: Any,
    words: Sequence[str],
    query: str,
    k: int = 10,
    static: bool = False,
) -> Explorer | Figure:
    """Type a word, see its nearest neighbours and their cosine similarities (chapter 01).

    Wraps :func:`coursekit.plots.plot_neighbours` around
    :func:`coursekit.embeddings.nearest_neighbours`; an unknown word shows a message instead.

    Args:
        vectors: ``(V, C)`` word vectors; words: the ``V`` words in row order.
        query: the word shown first (and in the static PNG).
        k: how many neighbours.
        static: return only the Figure for ``query``.
    """
    from coursekit.embeddings.evaluate import nearest_neighbours

    words = list(words)
    if query not in words:
        raise KeyError(f"{query!r} is not in the vocabulary; start the explorer from a known word")

    def draw(word: str, k: int) -> Any:
        word = word.strip().lower()
        if word not in words:
            return f"{word!r} is not in the vocabulary ({len(words)} words); try another word."
        return plots.plot_neighbours(nearest_neighbours(vectors, words, word, k), word)

    if static:
        return draw(query, k)
    controls = {
        "word": widgets.Text(value=query, description="word", continuous_update=False),
        "k": widgets.IntSlider(value=k, min=3, max=30, description="neighbours"),
    }
    return Explorer(controls, draw)


def alignment_explorer(
    verses: Sequence[tuple[str, Any, Sequence[str], Sequence[str]]],
    index: int = 0,
    static: bool = False,
) -> Explorer | Figure:
    """A slider over verses; each redraws :func:`coursekit.plots_seq2seq.plot_alignment`
    (chapter 06: where the decoder looked while writing each output word).

    Args:
        verses: ``(title, weights (T, S), source tokens, output tokens)`` per verse.
        index: the verse shown first (and in the static PNG).
        static: return only the Figure of verse ``index``.
    """
    verses = list(verses)
    if not verses:
        raise ValueError("alignment_explorer: pass at least one (title, weights, source, output).")
    if not 0 <= index < len(verses):
        raise IndexError(f"alignment_explorer: index {index} is outside 0..{len(verses) - 1}.")

    def draw(verse: int) -> Figure:
        title, weights, source, output = verses[verse]
        return plots_seq2seq.plot_alignment(weights, source, output, title=title)

    if static:
        return draw(index)
    slider = widgets.IntSlider(value=index, min=0, max=len(verses) - 1, description="verse")
    return Explorer({"verse": slider}, draw)
