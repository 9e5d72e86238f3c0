"""The training loop itself: :func:`train` (chapter 03; the module overview is in
:mod:`coursekit.train`).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from coursekit.device import autocast, seed_everything
from coursekit.train.callbacks import Callback, Checkpoint, LivePlot, ProgressBar
from coursekit.train.checkpoint import (
    _loader_generators,
    _new_epoch,
    _restore,
    _rng_state,
    load_checkpoint,
)
from coursekit.train.checks import _check_arguments
from coursekit.train.distributed import _any_rank, _dist
from coursekit.train.evaluation import _detach, _evaluate, _first_param, _split, lm_loss, move_to
from coursekit.train.faults import _SigtermWatch
from coursekit.train.history import History, TrainState, _append

__all__ = ["train"]


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
    stop_on_sigterm: bool = False,
    precision: str = "auto",
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
            under DDP the ranks agree on when to stop (one synchronisation every ``log_every``
            steps, so a rank may train up to ``log_every - 1`` steps past its own limit).
        seed: if given, seed Python, NumPy and torch with ``seed + rank`` when starting afresh.
        generators: ``torch.Generator`` objects the batches draw from, saved in checkpoints.
        device: where to train (default: where the model is).
        progress: show a progress bar; live_plot: redraw the losses in a notebook.
        stop_on_sigterm: with a ``checkpoint``, a SIGTERM (a cluster pre-empting the job,
            ``kill``, torchrun stopping its workers) ends the run after the current step, saves
            the checkpoint, and then is delivered to the previous handler (by default it ends
            the process): resuming loses nothing. Under DDP the ranks agree on the step (the
            next one whose loss is read: see ``log_every``).
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 on CPUs), ``"fp32"``, or ``"bf16"``
            (also on a CPU with bf16 hardware; see :func:`coursekit.device.autocast`).

    Returns:
        The :class:`History`; the model is left in eval mode.

    Raises:
        ValueError, TypeError: for any argument that cannot work, naming it and the fix.
    """
    _check_arguments(model, train_batches, dict(locals()))
    device = _as_device(device, model)
    autocast(device, precision)  # bf16 on a CPU without bf16 hardware: say so before any work
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
        loss, extras = _evaluate(model, valid_batches, loss_fn, device, precision=precision)
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

    sigterm = _SigtermWatch(stop_on_sigterm and saver is not None)
    try:
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
                    with autocast(device, precision):
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
            # The ranks' clocks differ and a signal reaches them at different steps: under DDP
            # they agree on one step to stop at (or the others would hang), one synchronisation
            # on each step whose loss is read anyway (every step on CPU, every 10th on a GPU).
            wants = time_limit is not None and elapsed() >= time_limit
            wants = wants or (sigterm.active and sigterm.received)
            if world == 1:
                state.stop = state.stop or wants
            elif (time_limit is not None or sigterm.active) and (
                state.step % log_every == 0 or state.step == steps
            ):
                state.stop = _any_rank(state.stop or wants, device)
            evaluating = valid_batches is not None and eval_every and state.step % eval_every == 0
            if state.step % log_every == 0 or state.step == steps or state.stop or evaluating:
                state.flush()
            if evaluating:
                run_eval()
                last_eval = state.step
            for hook in hooks:
                hook.on_step_end(state)
        state.flush()
        preempted = sigterm.received
        if world > 1 and sigterm.active:  # one answer on every rank: what follows are collectives
            preempted = _any_rank(preempted, device)
        if valid_batches is not None and last_eval != state.step and not preempted:
            run_eval()  # not when pre-empted: the grace period is for the checkpoint
        for hook in hooks:
            hook.on_train_end(state)
    finally:
        sigterm.close()
    model.eval()
    if preempted and rank == 0:
        print(
            f"SIGTERM: stopped after step {state.step}/{steps}; the checkpoint {saver.path} is "
            "saved: run the same command again to resume",
            file=sys.stderr,
            flush=True,
        )
    sigterm.deliver()
    return state.history
