"""Explorers: ipywidgets controls wrapped around the pure plots of :mod:`coursekit.plots`.

Each explorer returns the widget and also works without a widget frontend: ``static=True`` (or a
missing ipywidgets) gives the plain figure, so a notebook viewed on GitHub still shows a result.
"""

from __future__ import annotations

from collections.abc import Sequence

from coursekit import plots

__all__ = ["softmax_temperature_explorer"]


def softmax_temperature_explorer(
    logits: Sequence[float],
    labels: Sequence[str] | None = None,
    temperature: float = 1.0,
    static: bool = False,
):
    """A temperature slider over :func:`coursekit.plots.softmax_bars` (chapter 00).

    Returns an ``ipywidgets.VBox`` (slider above the plot), or the Figure when ``static``.
    """
    if static:
        return plots.softmax_bars(logits, temperature, labels)
    import ipywidgets as widgets
    from IPython.display import display

    slider = widgets.FloatLogSlider(
        value=temperature, base=10, min=-1, max=1, step=0.05, description="temperature"
    )
    out = widgets.Output()

    def redraw(change=None) -> None:
        out.clear_output(wait=True)
        with out:
            display(plots.softmax_bars(logits, slider.value, labels))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, out])
