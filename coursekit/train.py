"""The one training loop of the course: every chapter from 03 on trains its models with :func:`train`.

The loop knows nothing about any model (token ids in, logits out is the models' business; the loss
is a function you pass) and the models know nothing about it. Side effects live in callbacks: a
progress bar (tqdm, in JupyterLab and in terminals), a live loss plot (notebooks only) and a
checkpoint. It evaluates every ``eval_every`` steps, clips the gradient norm, steps a learning-rate
schedule, runs under ``coursekit.autocast`` (bf16 on CUDA) and returns a :class:`History`.

What chapters 06-10 add, all optional:

- ``accumulate=N``: N micro-batches per optimizer step (each loss scaled by 1/N), for batches
  larger than memory allows.
- ``lm_loss(..., ignore_index=pad_id)`` (with ``functools.partial``): padding is not scored.
- extra metrics: a ``loss_fn`` may return ``(loss, {"accuracy": ..., "tokens": ...})``; the extras
  land in ``History.metrics`` (per step) and ``History.valid_metrics`` (per evaluation, with what
  ``eval_fn(model) -> dict`` returns, e.g. BLEU). ``History.lr_groups`` has every parameter
  group's learning rate.
- ``log_every``: the loss and gradient norm stay on the device and are read to the host (one
  synchronisation) every ``log_every`` steps; default 1 on CPU, 10 on accelerators, so a GPU
  never waits for the host on the other steps.
- adapters: :func:`load_weights` loads pretrained weights strictly or not (and names the keys that
  did not fit); ``Checkpoint(path, trainable_only=True)`` saves only what is trained.
- DDP (``torchrun``): pass the ``DistributedDataParallel`` model and a loader from
  ``make_loader`` (it shards with a ``DistributedSampler``; the loop calls ``set_epoch``). The
  progress bar and live plot run on rank 0 only, checkpoints are written by rank 0 (every rank
  calls :func:`save_checkpoint`: it gathers each rank's random state) and hold the unwrapped
  model's weights, evaluation averages over every rank's batches (``all_reduce`` of sum and count),
  and ``seed=S`` seeds rank r with ``S + r``. A batch function should then mix the rank into its
  seed (``torch.distributed.get_rank()``).

Checkpoints hold only tensors and plain containers (``torch.load(weights_only=True)``: loading one
cannot run code) and everything a run depends on: model, optimizer, schedule, history, random
generators and the position in the data, so a resumed run reproduces the uninterrupted one exactly.

Batches come from either
- a function ``batches(i) -> batch`` of the micro-batch index ``i = step * accumulate + k``
  (the step itself when ``accumulate=1``), deterministic in ``i`` (what the chapters use); one
  that draws from a generator of its own passes it as ``generators=[g]`` so checkpoints save it;
- a re-iterable such as a list or a ``DataLoader`` (``make_loader``'s too), walked epoch after
  epoch. The loader's own generators are saved with the global ones when each epoch starts, so a
  resumed run replays the epoch it was in and skips what was used.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.device import autocast, seed_everything

__all__ = [
    "Callback",
    "Checkpoint",
    "History",
    "LivePlot",
    "LoadedKeys",
    "ProgressBar",
    "TrainState",
    "evaluate",
    "lm_loss",
    "load_checkpoint",
    "load_weights",
    "move_to",
    "save_checkpoint",
    "train",
    "warmup_cosine",
]

FORMAT = "coursekit.train/1"


@dataclass
class History:
    """What a run measured. Train entries are per optimizer step; valid entries per evaluation.

    ``seconds`` is the training wall time (evaluation included) when the step ended; it carries
    on across a resume. ``lr`` is the first parameter group's learning rate, ``lr_groups`` every
    group's. ``metrics[name]`` lines up with ``step`` and ``valid_metrics[name]`` with
    ``valid_step`` (nan where a step or an evaluation did not report that name).
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    valid_step: list[int] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_seconds: list[float] = field(default_factory=list)
    lr_groups: list[list[float]] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    valid_metrics: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Read :meth:`to_dict`'s output, also from older checkpoints (fewer fields)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"History.from_dict: unknown fields {unknown}; known: {sorted(known)}")
        data = copy.deepcopy(dict(data))
        if "lr_groups" not in data:  # older checkpoints kept the first group's only
            data["lr_groups"] = [[lr] for lr in data.get("lr", [])]
        return cls(**{k: v if isinstance(v, dict) else list(v) for k, v in data.items()})

    def rate(self, name: str) -> list[float]:
        """``metrics[name]`` per second of each step, e.g. ``rate("tokens")`` for tokens/s
        (a step's time is the gap since the previous one, evaluations included).

        >>> History(step=[1, 2], seconds=[0.5, 1.5], metrics={"tokens": [100, 300]}).rate("tokens")
        [200.0, 300.0]
        """
        if name not in self.metrics:
            raise KeyError(f"no metric {name!r}; the history has {sorted(self.metrics)}")
        gaps = [b - a for a, b in zip([0.0, *self.seconds], self.seconds, strict=False)]
        values = self.metrics[name]
        return [v / g if g > 0 else math.nan for v, g in zip(values, gaps, strict=True)]

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


def _append(metrics: dict[str, list[float]], name: str, value: float, index: int) -> None:
    """Put ``value`` at ``index`` of ``metrics[name]``, padding with nan where it was missing."""
    values = metrics.setdefault(name, [])
    values.extend([math.nan] * (index - len(values)))
    values.append(value)


def _read(values: list) -> list[float]:
    """Python floats of a list of numbers and device scalars, with one device-to-host read."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        return [float(v) for v in values]
    device = tensors[0].device
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    read = iter(torch.stack([t.detach().to(device, dtype) for t in tensors]).tolist())
    return [next(read) if isinstance(v, Tensor) else float(v) for v in values]


@dataclass
class TrainState:
    """What callbacks see. Set ``stop = True`` to end the run after this step.

    ``history`` holds the steps up to the last logged one (every ``log_every`` steps, before
    each evaluation and checkpoint, and at the end); ``pending`` holds the newer ones, still on
    the device. ``rank`` and ``world_size`` come from ``torch.distributed`` (0 and 1 without it).
    """

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
    accumulate: int = 1
    rank: int = 0
    world_size: int = 1
    generators: list[torch.Generator] = field(default_factory=list, repr=False)
    pending: list[dict] = field(default_factory=list, repr=False)

    def flush(self) -> None:
        """Move the pending steps' numbers into ``history`` (one device-to-host read)."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        flat = [v for r in rows for v in (r["loss"], r["norm"], *r["extras"].values())]
        read = iter(_read(flat))
        h = self.history
        for r in rows:
            index = len(h.step)
            h.step.append(r["step"])
            h.train_loss.append(next(read))
            h.grad_norm.append(next(read))
            h.lr.append(r["lrs"][0])
            h.lr_groups.append(r["lrs"])
            h.seconds.append(r["seconds"])
            for name in r["extras"]:
                _append(h.metrics, name, next(read), index)


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


# --- distributed helpers -------------------------------------------------------------------------
def _dist() -> tuple[int, int]:
    """(rank, world size) of the ``torch.distributed`` group, (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any (one synchronisation)."""
    flag_t = torch.tensor(float(flag), device=device)
    torch.distributed.all_reduce(flag_t, op=torch.distributed.ReduceOp.MAX)
    return bool(flag_t.item())


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside ``DistributedDataParallel``/``DataParallel``/``torch.compile``."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


# --- random generators and checkpoints -----------------------------------------------------------
def _rng_state(generators: Iterable[torch.Generator] = ()) -> dict:
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "generators": [g.get_state() for g in generators],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, generators: Iterable[torch.Generator] = ()) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state.get("generators", [])  # checkpoints before the loop saved generators had none
    generators = list(generators)
    if saved and len(saved) != len(generators):
        raise ValueError(
            f"the checkpoint saved {len(saved)} data generator(s), this run has "
            f"{len(generators)}: pass the same generators= (and the same kind of batch source)"
        )
    for g, s in zip(generators, saved, strict=False):
        g.set_state(s)


def _loader_generators(batches: Any) -> list[torch.Generator]:
    """The generators a ``DataLoader`` (or any re-iterable) shuffles with, each once."""
    found: list[torch.Generator] = []
    sampler = getattr(batches, "sampler", None)
    batch_sampler = getattr(batches, "batch_sampler", None)
    for owner in (batches, sampler, batch_sampler, getattr(batch_sampler, "sampler", None)):
        g = getattr(owner, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not f for f in found):
            found.append(g)
    return found


def _model_state(model: nn.Module, trainable_only: bool) -> dict[str, Tensor]:
    model = _unwrap(model)
    weights = model.state_dict()
    if not trainable_only:
        return weights
    trainable = {n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    return {k: v for k, v in weights.items() if k in trainable}


def save_checkpoint(
    path: str | os.PathLike, state: TrainState, trainable_only: bool = False
) -> None:
    """Write ``state`` to ``path`` atomically (a crash mid-write leaves the old file intact).

    Under DDP every rank must call it (it gathers the ranks' random states); rank 0 writes.
    ``trainable_only`` keeps only the parameters that require a gradient.
    """
    state.flush()
    rng = _rng_state(state.generators)
    ranks = None  # each rank's own random states, which differ (seed + rank)
    if state.world_size > 1:
        ranks = [None] * state.world_size
        torch.distributed.all_gather_object(ranks, {"rng": rng, "epoch_rng": state.epoch_rng})
    if state.rank != 0:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model": _model_state(state.model, trainable_only),
        "model_keys": "trainable" if trainable_only else "all",
        "optimizer": state.optimizer.state_dict(),
        "scheduler": None if state.scheduler is None else state.scheduler.state_dict(),
        "history": state.history.to_dict(),
        "counters": {
            "step": state.step,
            "epoch": state.epoch,
            "position": state.position,
            "accumulate": state.accumulate,
            "world_size": state.world_size,
        },
        "rng": rng,
        "ranks": ranks,
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


@dataclass(frozen=True)
class LoadedKeys:
    """What :func:`load_weights` could not match: the model's keys the weights lacked
    (``missing``, left as they were) and the weights' keys the model has no place for."""

    missing: list[str]
    unexpected: list[str]

    def __str__(self) -> str:
        return (
            f"missing: {', '.join(self.missing) or 'none'}; "
            f"unexpected: {', '.join(self.unexpected) or 'none'}"
        )


def load_weights(
    model: nn.Module,
    weights: str | os.PathLike | dict[str, Tensor],
    strict: bool = True,
    map_location: Any = "cpu",
) -> LoadedKeys:
    """Load weights (a file with a state dict, a :func:`train` checkpoint, or a state dict).

    With ``strict=False`` the keys that match are loaded and the rest are named in the returned
    :class:`LoadedKeys`: a pretrained body without its head, before an adapter is trained.
    A ``module.`` prefix (weights saved from a DDP model) is removed. A key in both with
    different shapes is an error either way.

    Raises:
        ValueError: with ``strict=True``, when a key is missing or unexpected (all named).
    """
    source = "the weights"
    if not isinstance(weights, dict):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"no weights at {path}")
        source = str(path)
        weights = torch.load(path, map_location=map_location, weights_only=True)
        if isinstance(weights, dict) and weights.get("format") == FORMAT:
            weights = weights["model"]
    if weights and all(k.startswith("module.") for k in weights):
        weights = {k.removeprefix("module."): v for k, v in weights.items()}
    model = _unwrap(model)
    own = model.state_dict()
    wrong = [
        f"{k}: the file has {tuple(v.shape)}, the model {tuple(own[k].shape)}"
        for k, v in weights.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if wrong:
        raise ValueError(f"{source} do not fit the model: " + "; ".join(wrong))
    keys = LoadedKeys(
        missing=[k for k in own if k not in weights],
        unexpected=[k for k in weights if k not in own],
    )
    if strict and (keys.missing or keys.unexpected):
        raise ValueError(
            f"{source} do not match the model ({keys}). Pass strict=False to load the keys "
            f"that match and keep the model's own values for the missing ones."
        )
    model.load_state_dict(weights, strict=False)
    return keys


# --- losses, evaluation, schedules ---------------------------------------------------------------
def lm_loss(model: nn.Module, batch: tuple[Tensor, Tensor], *, ignore_index: int = -100) -> Tensor:
    """Mean next-token cross-entropy (nats per token) of ``model(x)`` against ``y``.

    Targets equal to ``ignore_index`` (the padding id of padded batches) are not scored and do
    not count in the mean: ``loss_fn=functools.partial(lm_loss, ignore_index=pad_id)``. The
    default, -100, is torch's and scores every real id.

    Shape:
        batch ``(x, y)``: ids ``(B, T)`` each; ``model(x)`` gives logits ``(B, T, V)``.
    """
    x, y = batch
    logits = model(x)  # (B, T, V)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # the softmax in full precision under autocast
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=ignore_index)


def move_to(batch: Any, device: torch.device | str) -> Any:
    """``batch`` on ``device``: tensors, lists/tuples/named tuples/dicts of them, and any object
    with a ``.to(device)`` method (:class:`~coursekit.data.batching.Seq2SeqBatch`,
    :class:`~coursekit.data.batching.ClassificationBatch`). Anything else is left as it is.

    >>> move_to({"x": torch.zeros(2), "n": 3}, "meta")["x"].device
    device(type='meta')
    """
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a named tuple
        return type(batch)(*(move_to(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    to = getattr(batch, "to", None)
    if callable(to) and not isinstance(batch, (str, bytes)):
        return to(device)
    return batch


def _split(out: Any) -> tuple[Tensor, dict[str, Any]]:
    """A loss function's result as (loss, extras)."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        loss, extras = out
    else:
        loss, extras = out, {}
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(
            f"loss_fn must return a scalar tensor (or (loss, dict of extras)), got {shape}"
        )
    return loss, extras


def _detach(value: Any) -> Any:
    return value.detach() if isinstance(value, Tensor) else float(value)


def _evaluate(
    model: nn.Module,
    batches: Iterable,
    loss_fn: Callable,
    device: torch.device,
    across_ranks: bool = True,
) -> tuple[float, dict[str, float]]:
    """Mean loss and mean extras over ``batches``, summed across DDP ranks; one host read."""
    was_training = model.training
    model.eval()
    try:
        dtype = torch.float32 if device.type == "mps" else torch.float64
        total, extras, count = torch.zeros((), dtype=dtype, device=device), {}, 0
        with torch.no_grad(), autocast(device):
            for batch in batches:
                loss, more = _split(loss_fn(model, move_to(batch, device)))
                total = total + loss.detach().to(dtype)
                for name, value in more.items():
                    extras[name] = extras.get(name, 0.0) + _detach(value)
                count += 1
    finally:
        model.train(was_training)
    names = sorted(extras)
    sums = [total, count, *(extras[n] for n in names)]
    _, world = _dist()
    if world > 1 and across_ranks:
        packed = torch.stack([torch.as_tensor(s, dtype=dtype, device=device) for s in sums])
        torch.distributed.all_reduce(packed)  # the sums and counts of every rank
        sums = packed.tolist()
    else:
        sums = _read(sums)
    total, count, *values = sums
    if count == 0:
        raise ValueError("evaluate() got no batches: the validation set is empty")
    return total / count, {n: v / count for n, v in zip(names, values, strict=True)}


def evaluate(
    model: nn.Module,
    batches: Iterable,
    loss_fn: Callable[[nn.Module, Any], Tensor] = lm_loss,
    device: torch.device | str | None = None,
    across_ranks: bool = True,
) -> float:
    """Mean of ``loss_fn`` over ``batches`` in eval mode (no dropout), without gradients.

    The model's mode is restored afterwards, also when ``loss_fn`` raises. Under DDP the mean is
    over every rank's batches, so every rank must call it; ``across_ranks=False`` evaluates this
    rank's batches alone (e.g. on rank 0 only, after training).
    """
    device = torch.device(device) if device is not None else _first_param(model).device
    return _evaluate(model, batches, loss_fn, device, across_ranks)[0]


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


def _first_param(model: nn.Module) -> Tensor:
    for p in model.parameters():
        return p
    raise ValueError(f"{type(model).__name__} has no parameters to train")


def _restore(state: TrainState, saved: dict, train_batches: Any) -> None:
    """Load a checkpoint into ``state`` and put the data and the generators where they were."""
    counters = saved["counters"]
    accumulate = counters.get("accumulate", 1)
    if accumulate != state.accumulate:
        raise ValueError(
            f"the checkpoint was written with accumulate={accumulate}, this run has "
            f"accumulate={state.accumulate}: resume with the same value (or start afresh)"
        )
    world = counters.get("world_size", 1)
    if world != state.world_size:
        raise ValueError(
            f"the checkpoint was written by {world} process(es), this run has "
            f"{state.world_size}: resume with the same number"
        )
    model = _unwrap(state.model)
    if saved.get("model_keys") == "trainable":
        trainable = {
            n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad
        }
        if set(saved["model"]) != trainable:
            raise ValueError(
                f"the checkpoint holds the trainable parameters {sorted(saved['model'])}, but "
                f"this model trains {sorted(trainable)}: freeze the same parameters as before"
            )
        model.load_state_dict(saved["model"], strict=False)
    else:
        model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.scheduler is not None and saved["scheduler"] is not None:
        state.scheduler.load_state_dict(saved["scheduler"])
    state.history = History.from_dict(saved["history"])
    state.step, state.epoch, state.position = (
        counters["step"],
        counters["epoch"],
        counters["position"],
    )
    own = saved["ranks"][state.rank] if saved.get("ranks") else saved
    state.epoch_rng = own["epoch_rng"]
    if not callable(train_batches) and state.epoch_rng is not None:
        # Re-create this epoch's iterator as it was made, then skip what was already used.
        _set_rng_state(state.epoch_rng, state.generators)
        state.iterator = _new_epoch(train_batches, state.epoch)
        for _ in range(state.position):
            next(state.iterator)
    _set_rng_state(own["rng"], state.generators)


def _new_epoch(batches: Iterable, epoch: int) -> Any:
    """An iterator over one epoch; a ``DistributedSampler`` is told the epoch first."""
    for owner in (getattr(batches, "sampler", None), getattr(batches, "batch_sampler", None)):
        if hasattr(owner, "set_epoch"):
            owner.set_epoch(epoch)
    return iter(batches)


# --- argument checks -----------------------------------------------------------------------------
def _check_count(name: str, value: Any, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")


def _check_positive(name: str, value: Any, what: str) -> None:
    if value is None:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _check_arguments(model: nn.Module, train_batches: Any, a: dict[str, Any]) -> None:
    """Every argument of :func:`train` that could be wrong, with what to pass instead."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(
            f"{type(model).__name__} has no parameter that requires a gradient: nothing to train "
            f"(unfreeze some with .requires_grad_(True))"
        )
    if not callable(train_batches):
        if not isinstance(train_batches, Iterable):
            raise TypeError(
                "train_batches must be a function step -> batch, or a list or DataLoader of "
                f"batches, got {type(train_batches).__name__}"
            )
        if isinstance(train_batches, Iterator):  # (iter() would start a loader's workers)
            raise TypeError(
                "train_batches is an iterator, which can be walked only once (and not resumed): "
                "pass a list or DataLoader of batches, or a function step -> batch"
            )
    opt = a["optimizer"]
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer (e.g. torch.optim.AdamW(model.parameters()"
            f", lr=1e-3)), got {type(opt).__name__}"
        )
    held = {id(p) for group in opt.param_groups for p in group["params"]}
    if not any(id(p) in held for p in trainable):
        raise ValueError(
            "the optimizer does not hold any of the model's parameters that require a gradient: "
            "build it on model.parameters() of this model"
        )
    if not callable(a["loss_fn"]):
        raise TypeError(f"loss_fn must be a function (model, batch) -> loss, got {a['loss_fn']!r}")
    if a["steps"] is not None and a["epochs"] is not None:
        raise ValueError("give steps or epochs, not both")
    _check_count("steps", a["steps"], none_ok=True)
    _check_count("epochs", a["epochs"], none_ok=True)
    _check_count("accumulate", a["accumulate"])
    _check_count("log_every", a["log_every"], none_ok=True)
    _check_count("eval_every", a["eval_every"], none_ok=True)
    _check_count("checkpoint_every", a["checkpoint_every"], none_ok=True)
    _check_positive(
        "clip_grad_norm",
        a["clip_grad_norm"],
        "a positive number (the largest gradient norm allowed), or None for no clipping",
    )
    _check_positive("time_limit", a["time_limit"], "a positive number of seconds, or None")
    valid = a["valid_batches"]
    if valid is not None:
        if not isinstance(valid, Iterable) or isinstance(valid, Iterator):
            raise TypeError(
                "valid_batches must be a list or DataLoader of batches (re-iterable: it is "
                f"walked at every evaluation), got {type(valid).__name__}"
            )
    elif a["eval_every"] is not None:
        raise ValueError(f"eval_every={a['eval_every']} needs valid_batches=[...] to evaluate")
    if a["eval_fn"] is not None and not callable(a["eval_fn"]):
        raise TypeError(
            f"eval_fn must be a function model -> dict of metrics, got {a['eval_fn']!r}"
        )
    if not isinstance(a["checkpoint"], (str, os.PathLike, Checkpoint, type(None))):
        raise TypeError(f"checkpoint must be a file path or a Checkpoint, got {a['checkpoint']!r}")
    if a["checkpoint"] is None and a["checkpoint_every"] is not None:
        raise ValueError(f"checkpoint_every={a['checkpoint_every']} needs checkpoint=PATH")
    if isinstance(a["checkpoint"], Checkpoint) and a["checkpoint_every"] is not None:
        raise ValueError("give checkpoint=Checkpoint(path, every=N), not also checkpoint_every")
    for name in ("resume", "progress", "live_plot"):
        if not isinstance(a[name], bool):
            raise TypeError(f"{name} must be True or False, got {a[name]!r}")
    if a["resume"] and a["checkpoint"] is None:
        raise ValueError("resume=True needs checkpoint=PATH: the file to continue from")
    seed = a["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be a whole number or None, got {seed!r}")
    scheduler = a["scheduler"]
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(
            "scheduler must be a learning-rate schedule with .step() (e.g. warmup_cosine(...)), "
            f"got {type(scheduler).__name__}"
        )
    callbacks = a["callbacks"]
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Iterable):
        raise TypeError(f"callbacks must be a list of Callback objects, got {callbacks!r}")
    bad = [c for c in callbacks if not isinstance(c, Callback)]
    if bad:
        raise TypeError(f"callbacks must be a list of Callback objects (subclasses); got {bad!r}")
    bad = [g for g in a["generators"] if not isinstance(g, torch.Generator)]
    if bad:
        raise TypeError(f"generators must be torch.Generator objects, got {bad!r}")


def _as_device(device: Any, model: nn.Module) -> torch.device:
    if device is None:
        return _first_param(model).device
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device {device!r} is not a device: use 'cpu', 'cuda', 'cuda:N' or 'mps' "
            f"(coursekit.setup() returns the right one)"
        ) from None


# --- the loop ------------------------------------------------------------------------------------
def train(
    model: nn.Module,
    train_batches: Callable[[int], Any] | Iterable,
    *,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[nn.Module, Any], Any] = lm_loss,
    steps: int | None = None,
    epochs: int | None = None,
    valid_batches: Iterable | None = None,
    eval_every: int | None = None,
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    clip_grad_norm: float | None = None,
    scheduler: Any = None,
    accumulate: int = 1,
    log_every: int | None = None,
    callbacks: Iterable[Callback] = (),
    checkpoint: str | os.PathLike | Checkpoint | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    time_limit: float | None = None,
    seed: int | None = None,
    generators: Iterable[torch.Generator] = (),
    device: torch.device | str | None = None,
    progress: bool = True,
    live_plot: bool = True,
) -> History:
    """Train ``model`` and return its :class:`History`.

    Args:
        model: any module (or a ``DistributedDataParallel`` one); ``loss_fn(model, batch)``
            turns a batch into a scalar loss.
        train_batches: ``f(i) -> batch`` or a re-iterable of batches (see the module docs).
        optimizer: built on ``model.parameters()``.
        loss_fn: default :func:`lm_loss` for ``(x, y)`` batches of token ids. It may return
            ``(loss, {"name": value})``: the extras go to ``History.metrics``/``valid_metrics``.
        steps: optimizer steps in total (counting those before a resume); or give ``epochs``
            for an iterable with a length (``epochs * len // accumulate`` steps).
        valid_batches: a re-iterable evaluated by :func:`evaluate` every ``eval_every`` steps
            and at the end.
        eval_fn: ``eval_fn(model) -> {"bleu": ...}`` called at every evaluation (eval mode, no
            gradients); its numbers go to ``History.valid_metrics``.
        clip_grad_norm: rescale the gradient when its norm exceeds this (the norm before
            clipping is recorded either way).
        scheduler: a learning-rate schedule stepped after every optimizer step.
        accumulate: micro-batches per optimizer step; each micro-batch's loss is scaled by
            ``1 / accumulate`` and the recorded loss is their mean.
        log_every: read the loss and gradient norm to the host every this many steps (default
            1 on CPU, 10 on accelerators); callbacks see the history up to the last read.
        callbacks: extra :class:`Callback` objects, called after the built-in ones.
        checkpoint: file (or a :class:`Checkpoint`) to save to every ``checkpoint_every`` steps
            and at the end.
        resume: continue from ``checkpoint`` if that file exists (else start and say so).
        time_limit: stop after this many seconds of training (for equal-time comparisons);
            under DDP the ranks agree on when to stop (one synchronisation per step).
        seed: if given, seed Python, NumPy and torch with ``seed + rank`` when starting afresh.
        generators: ``torch.Generator`` objects the batches draw from, saved in checkpoints.
        device: where to train (default: where the model is).
        progress: show a progress bar; live_plot: redraw the losses in a notebook.

    Returns:
        The :class:`History`; the model is left in eval mode.

    Raises:
        ValueError, TypeError: for any argument that cannot work, naming it and the fix.
    """
    _check_arguments(model, train_batches, dict(locals()))
    device = _as_device(device, model)
    model.to(device)
    generators = list(generators)
    if steps is None:
        if epochs is None:
            raise ValueError(
                "say how long to train: steps=N, or epochs=N with a list or DataLoader of batches"
            )
        if callable(train_batches) or not hasattr(train_batches, "__len__"):
            raise ValueError(
                "epochs=N needs a list or DataLoader of batches (something with a length); "
                "with a function of the step give steps=N"
            )
        steps = epochs * len(train_batches) // accumulate
        if steps == 0:
            raise ValueError(
                f"epochs={epochs} of {len(train_batches)} batch(es) is fewer than one step of "
                f"accumulate={accumulate} micro-batches: train longer or accumulate less"
            )
    if log_every is None:
        log_every = 1 if device.type == "cpu" else 10
    rank, world = _dist()
    if not callable(train_batches):
        generators += [g for g in _loader_generators(train_batches) if g not in generators]
    state = TrainState(model, optimizer, scheduler, History(), total_steps=steps,
                       accumulate=accumulate, rank=rank, world_size=world,
                       generators=generators)  # fmt: skip
    saver = checkpoint if isinstance(checkpoint, Checkpoint) else None
    if checkpoint is not None and saver is None:
        saver = Checkpoint(checkpoint, checkpoint_every)
    resuming = resume and saver.path.is_file()
    if resuming:
        _restore(state, load_checkpoint(saver.path), train_batches)  # tensors land on CPU first
    elif resume and rank == 0:
        print(f"no checkpoint at {saver.path} yet: starting from step 0")
    if seed is not None and not resuming:
        seed_everything(seed + rank)

    hooks: list[Callback] = []
    if progress:
        hooks.append(ProgressBar())
    if live_plot:
        hooks.append(LivePlot())
    if saver is not None:
        hooks.append(saver)
    hooks.extend(callbacks)
    hooks = [h for h in hooks if rank == 0 or not h.rank_zero_only]

    def next_batch(k: int) -> Any:
        if callable(train_batches):
            return train_batches(state.step * accumulate + k)
        fresh = False
        while True:
            if state.iterator is None:
                state.epoch_rng, state.position = _rng_state(generators), 0
                state.iterator, fresh = _new_epoch(train_batches, state.epoch), True
            try:
                batch = next(state.iterator)
            except StopIteration:
                if fresh:
                    raise ValueError(
                        "train_batches gave no batches: the list or DataLoader is empty"
                    ) from None
                state.iterator, state.epoch = None, state.epoch + 1
                continue
            state.position += 1
            return batch

    def run_eval() -> None:
        state.flush()
        loss, extras = _evaluate(model, valid_batches, loss_fn, device)
        if eval_fn is not None:
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    extras.update({k: float(v) for k, v in eval_fn(model).items()})
            finally:
                model.train(was_training)
        h = state.history
        index = len(h.valid_step)
        h.valid_step.append(state.step)
        h.valid_loss.append(loss)
        h.valid_seconds.append(elapsed())
        for name, value in extras.items():
            _append(h.valid_metrics, name, value, index)
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
    ddp = isinstance(model, nn.parallel.DistributedDataParallel)
    while state.step < steps and not state.stop:
        optimizer.zero_grad(set_to_none=True)
        total, extras = None, {}
        for k in range(accumulate):
            batch = move_to(next_batch(k), device)
            syncing = not ddp or k == accumulate - 1  # DDP averages gradients on the last one
            with model.no_sync() if not syncing else contextlib.nullcontext():
                with autocast(device):
                    loss, more = _split(loss_fn(model, batch))
                (loss / accumulate if accumulate > 1 else loss).backward()
            total = loss.detach() if total is None else total + loss.detach()
            for name, value in more.items():
                extras[name] = _detach(value) + extras.get(name, 0.0)
        norm = nn.utils.clip_grad_norm_(params, clip_grad_norm or math.inf)
        optimizer.step()
        lrs = [group["lr"] for group in optimizer.param_groups]
        if scheduler is not None:
            scheduler.step()
        state.step += 1
        if accumulate > 1:
            total = total / accumulate
            extras = {name: value / accumulate for name, value in extras.items()}
        state.pending.append({"step": state.step, "loss": total, "norm": norm, "lrs": lrs,
                              "seconds": elapsed(), "extras": extras})  # fmt: skip
        if time_limit is not None:
            state.stop = state.stop or elapsed() >= time_limit
            if world > 1:  # the ranks' clocks differ: stop together or the others would hang
                state.stop = _any_rank(state.stop, device)
        evaluating = valid_batches is not None and eval_every and state.step % eval_every == 0
        if state.step % log_every == 0 or state.step == steps or state.stop or evaluating:
            state.flush()
        if evaluating:
            run_eval()
            last_eval = state.step
        for hook in hooks:
            hook.on_step_end(state)
    state.flush()
    if valid_batches is not None and last_eval != state.step:
        run_eval()
    for hook in hooks:
        hook.on_train_end(state)
    model.eval()
    return state.history
