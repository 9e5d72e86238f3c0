"""The argument checks of :func:`~coursekit.train.train` (chapter 03).

Every setting that cannot work (a negative clipping norm, ``steps=0``, an iterator that cannot be
walked twice, an optimizer built on another model) is refused before the first step, with a
message that names it and the fix.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn


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
    from coursekit.train.callbacks import Callback, Checkpoint  # here: callbacks.py imports us

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
    for name in ("resume", "progress", "live_plot", "stop_on_sigterm"):
        if not isinstance(a[name], bool):
            raise TypeError(f"{name} must be True or False, got {a[name]!r}")
    from coursekit.device import PRECISIONS

    if a["precision"] not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {a['precision']!r}")
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
