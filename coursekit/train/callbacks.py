"""Side effects of a run, as callbacks (chapter 03): the hooks of :class:`Callback`, and the ones
:func:`~coursekit.train.train` adds itself: :class:`ProgressBar` (``progress=True``),
:class:`LivePlot` (``live_plot=True``) and :class:`Checkpoint` (``checkpoint=PATH``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from coursekit.train.checkpoint import save_checkpoint
from coursekit.train.checks import _check_count
from coursekit.train.history import TrainState

__all__ = ["Callback", "Checkpoint", "LivePlot", "ProgressBar"]


class Callback:
    """Hooks called by :func:`train`; override the ones you need.

    Under DDP callbacks run on every rank, except those with ``rank_zero_only = True`` (the
    progress bar and the live plot). A callback that sets ``state.stop`` must do so on every
    rank alike.
    """

    rank_zero_only: bool = False

    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_eval_end(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar (``tqdm.auto``: a widget in JupyterLab, text in a terminal) with the losses."""

    rank_zero_only = True

    def __init__(self, desc: str = "train") -> None:
        self.desc, self.bar = desc, None

    def on_train_start(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.total_steps, initial=state.step, desc=self.desc)
        self.postfix: dict[str, str] = {}

    def on_step_end(self, state: TrainState) -> None:
        if state.history.train_loss:
            self.postfix["loss"] = f"{state.history.train_loss[-1]:.3f}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(1)

    def on_eval_end(self, state: TrainState) -> None:
        self.postfix["valid"] = f"{state.history.valid_loss[-1]:.3f}"

    def on_train_end(self, state: TrainState) -> None:
        if state.history.train_loss:
            self.postfix["loss"] = f"{state.history.train_loss[-1]:.3f}"
        self.bar.set_postfix(self.postfix)
        self.bar.close()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePlot(Callback):
    """Redraw :func:`coursekit.plots.plot_history` in place, at most every ``every_seconds``.

    Does nothing outside a notebook kernel (terminals, scripts, tests).
    """

    rank_zero_only = True

    def __init__(self, every_seconds: float = 3.0, title: str = "training") -> None:
        self.every_seconds, self.title = every_seconds, title
        self.handle, self.last = None, 0.0

    def _draw(self, state: TrainState) -> None:
        import matplotlib.pyplot as plt

        from coursekit.plots import plot_history

        fig = plot_history(state.history, title=self.title)
        if self.handle is None:
            from IPython.display import display

            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)
        self.last = time.perf_counter()

    def on_train_start(self, state: TrainState) -> None:
        self.enabled = _in_notebook()
        self.handle, self.last = None, time.perf_counter()

    def on_step_end(self, state: TrainState) -> None:
        if self.enabled and time.perf_counter() - self.last >= self.every_seconds:
            self._draw(state)

    def on_train_end(self, state: TrainState) -> None:
        if self.enabled and state.history.step:
            self._draw(state)


class Checkpoint(Callback):
    """Save the whole training state to ``path`` every ``every`` steps and at the end.

    ``trainable_only=True`` saves only the parameters that require a gradient (an adapter on a
    frozen pretrained model): load the pretrained weights first, then resume.
    """

    def __init__(
        self, path: str | os.PathLike, every: int | None = None, trainable_only: bool = False
    ) -> None:
        _check_count("every", every, none_ok=True)
        self.path, self.every, self.trainable_only = Path(path), every, trainable_only

    def on_step_end(self, state: TrainState) -> None:
        if self.every and state.step % self.every == 0:
            save_checkpoint(self.path, state, trainable_only=self.trainable_only)

    def on_train_end(self, state: TrainState) -> None:
        save_checkpoint(self.path, state, trainable_only=self.trainable_only)
