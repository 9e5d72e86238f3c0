"""Checkpoints that resume a run exactly (chapter 03), and pretrained weights to fine-tune.

A checkpoint holds only tensors and plain containers (``torch.load(weights_only=True)``: loading
one cannot run code) and everything a run depends on: model, optimizer, schedule, history, the
random generators (Python, NumPy, torch, CUDA, the data's own; per rank under DDP) and the
position in the data. :func:`load_weights` loads a state dict strictly or not and names in
:class:`LoadedKeys` the keys that did not fit (a pretrained body before an adapter is trained).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from coursekit.train.distributed import _unwrap
from coursekit.train.faults import CheckpointError, _torch_load
from coursekit.train.history import History, TrainState

__all__ = [
    "LoadedKeys",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
]

FORMAT = "coursekit.train/1"


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
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())  # on disk before the rename: a power cut cannot leave half a file
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`train` safely (``weights_only=True``: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train with checkpoint={str(path)!r} first"
        )
    payload = _torch_load(path, map_location, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a coursekit training checkpoint (format {FORMAT}): pass the file "
            f"train(checkpoint=...) wrote, or load plain weights with load_weights"
        )
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


def _read_weights(
    weights: str | os.PathLike | dict[str, Tensor], map_location: Any = "cpu"
) -> tuple[dict[str, Tensor], str]:
    """The state dict in ``weights`` (a file, a :func:`train` checkpoint or a state dict) without
    a DDP ``module.`` prefix, and how to name its source in an error."""
    source = "the weights"
    if not isinstance(weights, dict):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"no weights at {path}")
        source = str(path)
        weights = _torch_load(path, map_location, "weights file")
        if isinstance(weights, dict) and weights.get("format") == FORMAT:
            weights = weights["model"]
    if weights and all(k.startswith("module.") for k in weights):
        weights = {k.removeprefix("module."): v for k, v in weights.items()}
    return weights, source


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
    weights, source = _read_weights(weights, map_location)
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
