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
import torch
from IPython.display import display
from matplotlib.figure import Figure

from coursekit import plots, plots_generation, plots_seq2seq
from coursekit.generate import generate

__all__ = [
    "Explorer",
    "alignment_explorer",
    "neighbour_explorer",
    "sampling_explorer",
    "softmax_temperature_explorer",
]


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


def sampling_explorer(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt: str,
    *,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 200,
    static: bool = False,
) -> Explorer | Figure:
    """Sliders for temperature, top-k and top-p over a language model's continuation of
    ``prompt`` (chapter 08): each setting redraws :func:`coursekit.plots_generation.plot_sampling`
    (the next-token distribution it leaves, and a sample drawn with it).

    Args:
        model: token ids ``(B, T)`` -> logits ``(B, T, V)``, e.g. a :class:`~coursekit.nn.GPT`.
        tokenizer: has ``encode(text)`` and ``decode(ids)`` for ``model``'s vocabulary.
        top_k: 0 means off; top_p: 1.0 means off.
        seed: the sample's random seed (the same settings and seed give the same text).
        static: return only the Figure at these settings.
    """
    ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long)  # (1, T)
    if ids.size(1) == 0:
        raise ValueError("sampling_explorer: the prompt encodes to no tokens; give some text.")
    with torch.no_grad():
        last = model.eval()(ids[:, -_context(model, ids.size(1)) :])[0, -1]  # (V,)
    labels = [tokenizer.decode([i]) for i in range(last.numel())]

    def draw(temperature: float, top_k: int, top_p: float, seed: int) -> Figure:
        k, p = (top_k or None), (top_p if top_p < 1.0 else None)
        g = torch.Generator().manual_seed(seed)
        out = generate(model, ids, max_new_tokens, temperature=temperature, top_k=k, top_p=p,
                       generator=g)  # fmt: skip
        text = prompt + tokenizer.decode(out[0, ids.size(1) :].tolist())
        return plots_generation.plot_sampling(last, labels, temperature, k, p, sample=text)

    if static:
        return draw(temperature, top_k, top_p, seed)
    controls = {
        "temperature": widgets.FloatSlider(
            value=temperature, min=0.1, max=2.0, step=0.05, description="temperature"
        ),
        "top_k": widgets.IntSlider(value=top_k, min=0, max=50, description="top-k (0 off)"),
        "top_p": widgets.FloatSlider(
            value=top_p, min=0.05, max=1.0, step=0.05, description="top-p (1 off)"
        ),
        "seed": widgets.IntSlider(value=seed, min=0, max=20, description="seed"),
    }
    return Explorer(controls, draw)


def _context(model: torch.nn.Module, length: int) -> int:
    """How many of the last prompt tokens ``model`` can read at once."""
    size = getattr(getattr(model, "config", None), "context_size", None)
    return length if size is None else min(length, size)
