"""What a run measured and what callbacks see while it runs (chapter 03).

:class:`History` is what :func:`~coursekit.train.train` returns and checkpoints save (as a dict);
:class:`TrainState` is the loop's state handed to every callback, with the steps not yet read to
the host (``pending``) and their one-read ``flush`` into the history.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["History", "TrainState"]


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
