"""The one training loop of the course: every chapter from 03 on trains its models with :func:`train`.

The loop knows nothing about any model (token ids in, logits out is the models' business; the loss
is a function you pass) and the models know nothing about it. Side effects live in callbacks: a
progress bar (tqdm, in JupyterLab and in terminals), a live loss plot (notebooks only) and a
checkpoint. It evaluates every ``eval_every`` steps, clips the gradient norm, steps a learning-rate
schedule, runs under ``coursekit.autocast`` (bf16 on CUDA) and returns a :class:`History`.

Checkpoints hold only tensors and plain containers (``torch.load(weights_only=True)``: loading one
cannot run code) and everything a run depends on: model, optimizer, schedule, history, random
generators and the position in the data, so a resumed run reproduces the uninterrupted one exactly.

Batches come from either
- a function ``batches(step) -> batch`` (deterministic in ``step``; what the chapters use), or
- a re-iterable such as a list or a ``DataLoader``, walked epoch after epoch. To resume exactly,
  its order may depend on the random generators only when an epoch's iterator is created
  (as ``DataLoader(shuffle=True)`` does), not while it is consumed.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.device import autocast

__all__ = [
    "Callback",
    "Checkpoint",
    "History",
    "LivePlot",
    "ProgressBar",
    "TrainState",
    "evaluate",
    "lm_loss",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "warmup_cosine",
]

FORMAT = "coursekit.train/1"


@dataclass
class History:
    """What a run measured. Train entries are per optimizer step; valid entries per evaluation.

    ``seconds`` is the training wall time (evaluation included) when the step ended.
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    valid_step: list[int] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> History:
        return cls(**{k: list(v) for k, v in data.items()})

    @property
    def last_valid_loss(self) -> float:
        """The most recent validation loss (nan if there was no evaluation)."""
        return self.valid_loss[-1] if self.valid_loss else math.nan

    @property
    def best_valid_loss(self) -> float:
        return min(self.valid_loss) if self.valid_loss else math.nan

    def __repr__(self) -> str:
        last = f", valid loss {self.last_valid_loss:.4f}" if self.valid_loss else ""
        loss = f", train loss {self.train_loss[-1]:.4f}" if self.train_loss else ""
        took = self.seconds[-1] if self.seconds else 0.0
        return f"History({len(self.step)} steps{loss}{last}, {took:.1f} s)"


@dataclass
class TrainState:
    """What callbacks see. Set ``stop = True`` to end the run after this step."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: History
    total_steps: int
    step: int = 0  # optimizer steps done
    epoch: int = 0
    position: int = 0  # batches consumed in this epoch (iterable sources)
    epoch_rng: dict | None = None  # generator states when this epoch's iterator was created
    iterator: Any = field(default=None, repr=False)
    stop: bool = False


class Callback:
    """Hooks called by :func:`train`; override the ones you need."""

    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_eval_end(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar (``tqdm.auto``: a widget in JupyterLab, text in a terminal) with the losses."""

    def __init__(self, desc: str = "train") -> None:
        self.desc, self.bar = desc, None

    def on_train_start(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.total_steps, initial=state.step, desc=self.desc)
        self.postfix: dict[str, str] = {}

    def on_step_end(self, state: TrainState) -> None:
        self.postfix["loss"] = f"{state.history.train_loss[-1]:.3f}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(1)

    def on_eval_end(self, state: TrainState) -> None:
        self.postfix["valid"] = f"{state.history.valid_loss[-1]:.3f}"

    def on_train_end(self, state: TrainState) -> None:
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
    """Save the whole training state to ``path`` every ``every`` steps and at the end."""

    def __init__(self, path: str | os.PathLike, every: int | None = None) -> None:
        self.path, self.every = Path(path), every

    def on_step_end(self, state: TrainState) -> None:
        if self.every and state.step % self.every == 0:
            save_checkpoint(self.path, state)

    def on_train_end(self, state: TrainState) -> None:
        save_checkpoint(self.path, state)


# --- random generators and checkpoints -----------------------------------------------------------
def _rng_state() -> dict:
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: TrainState) -> None:
    """Write ``state`` to ``path`` atomically (a crash mid-write leaves the old file intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": None if state.scheduler is None else state.scheduler.state_dict(),
        "history": state.history.to_dict(),
        "counters": {"step": state.step, "epoch": state.epoch, "position": state.position},
        "rng": _rng_state(),
        "epoch_rng": state.epoch_rng,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`train` safely (``weights_only=True``: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train with checkpoint={str(path)!r} first"
        )
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a coursekit training checkpoint (format {FORMAT})")
    return payload


# --- losses, evaluation, schedules ---------------------------------------------------------------
def lm_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Mean next-token cross-entropy (nats per token) of ``model(x)`` against ``y``.

    Shape:
        batch ``(x, y)``: ids ``(B, T)`` each; ``model(x)`` gives logits ``(B, T, V)``.
    """
    x, y = batch
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    return batch


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable,
    loss_fn: Callable[[nn.Module, Any], Tensor] = lm_loss,
    device: torch.device | str | None = None,
) -> float:
    """Mean of ``loss_fn`` over ``batches`` in eval mode (no dropout), without gradients."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with autocast(device):
        for batch in batches:
            total += float(loss_fn(model, _to(batch, device)))
            count += 1
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate() got no batches: the validation set is empty")
    return total / count


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup: int, total: int, min_ratio: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for ``warmup`` steps, then cosine decay to ``min_ratio`` of the peak at
    ``total``; step it once per optimizer step (as :func:`train` does)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * done))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _restore(state: TrainState, saved: dict, train_batches: Any) -> None:
    """Load a checkpoint into ``state`` and put the data and the generators where they were."""
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.scheduler is not None and saved["scheduler"] is not None:
        state.scheduler.load_state_dict(saved["scheduler"])
    state.history = History.from_dict(saved["history"])
    counters = saved["counters"]
    state.step, state.epoch, state.position = (
        counters["step"],
        counters["epoch"],
        counters["position"],
    )
    state.epoch_rng = saved["epoch_rng"]
    if not callable(train_batches) and state.epoch_rng is not None:
        # Re-create this epoch's iterator as it was made, then skip what was already used.
        _set_rng_state(state.epoch_rng)
        state.iterator = iter(train_batches)
        for _ in range(state.position):
            next(state.iterator)
    _set_rng_state(saved["rng"])


# --- the loop ------------------------------------------------------------------------------------
def train(
    model: nn.Module,
    train_batches: Callable[[int], Any] | Iterable,
    *,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[nn.Module, Any], Tensor] = lm_loss,
    steps: int | None = None,
    epochs: int | None = None,
    valid_batches: Iterable | None = None,
    eval_every: int | None = None,
    clip_grad_norm: float | None = None,
    scheduler: Any = None,
    callbacks: Iterable[Callback] = (),
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    time_limit: float | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    live_plot: bool = True,
) -> History:
    """Train ``model`` and return its :class:`History`.

    Args:
        model: any module; ``loss_fn(model, batch)`` turns a batch into a scalar loss.
        train_batches: ``f(step) -> batch`` or a re-iterable of batches (see the module docs).
        optimizer: built on ``model.parameters()``.
        loss_fn: default :func:`lm_loss` for ``(x, y)`` batches of token ids.
        steps: optimizer steps in total (counting those before a resume); or give ``epochs``
            for an iterable with a length.
        valid_batches: a re-iterable evaluated by :func:`evaluate` every ``eval_every`` steps
            and at the end.
        clip_grad_norm: rescale the gradient when its norm exceeds this (the norm before
            clipping is recorded either way).
        scheduler: a learning-rate schedule stepped after every optimizer step.
        callbacks: extra :class:`Callback` objects, called after the built-in ones.
        checkpoint: file to save to every ``checkpoint_every`` steps and at the end.
        resume: continue from ``checkpoint`` if that file exists (else start and say so).
        time_limit: stop after this many seconds of training (for equal-time comparisons).
        device: where to train (default: where the model is).
        progress: show a progress bar; live_plot: redraw the losses in a notebook.

    Returns:
        The :class:`History`; the model is left in eval mode.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    sized = hasattr(train_batches, "__len__")
    if steps is None:
        if epochs is None or callable(train_batches) or not sized:
            raise ValueError(
                "say how long to train: steps=N, or epochs=N with a list or DataLoader of batches"
            )
        steps = epochs * len(train_batches)
    state = TrainState(model, optimizer, scheduler, History(), total_steps=steps)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH: the file to continue from")
    if resume and Path(checkpoint).is_file():
        _restore(state, load_checkpoint(checkpoint), train_batches)  # tensors land on CPU first
    elif resume:
        print(f"no checkpoint at {checkpoint} yet: starting from step 0")

    hooks: list[Callback] = []
    if progress:
        hooks.append(ProgressBar())
    if live_plot:
        hooks.append(LivePlot())
    if checkpoint is not None:
        hooks.append(Checkpoint(checkpoint, checkpoint_every))
    hooks.extend(callbacks)

    def next_batch() -> Any:
        if callable(train_batches):
            return train_batches(state.step)
        while True:
            if state.iterator is None:
                state.epoch_rng, state.position = _rng_state(), 0
                state.iterator = iter(train_batches)
            try:
                batch = next(state.iterator)
            except StopIteration:
                state.iterator, state.epoch = None, state.epoch + 1
                continue
            state.position += 1
            return batch

    def run_eval() -> None:
        loss = evaluate(model, valid_batches, loss_fn, device)
        state.history.valid_step.append(state.step)
        state.history.valid_loss.append(loss)
        state.history.valid_seconds.append(elapsed())
        for hook in hooks:
            hook.on_eval_end(state)

    offset = state.history.seconds[-1] if state.history.seconds else 0.0
    started = time.perf_counter()
    elapsed = lambda: offset + time.perf_counter() - started  # noqa: E731
    model.train()
    for hook in hooks:
        hook.on_train_start(state)
    params = [p for p in model.parameters() if p.requires_grad]
    last_eval = state.history.valid_step[-1] if state.history.valid_step else -1
    while state.step < steps and not state.stop:
        batch = _to(next_batch(), device)
        with autocast(device):
            loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(params, clip_grad_norm or math.inf)
        optimizer.step()
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        state.step += 1
        h = state.history
        h.step.append(state.step)
        h.train_loss.append(float(loss.detach()))
        h.lr.append(lr)
        h.grad_norm.append(float(norm))
        h.seconds.append(elapsed())
        if valid_batches is not None and eval_every and state.step % eval_every == 0:
            run_eval()
            last_eval = state.step
        if time_limit is not None and elapsed() >= time_limit:
            state.stop = True
        for hook in hooks:
            hook.on_step_end(state)
    if valid_batches is not None and last_eval != state.step:
        run_eval()
    for hook in hooks:
        hook.on_train_end(state)
    model.eval()
    return state.history
