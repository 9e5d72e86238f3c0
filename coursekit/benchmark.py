"""Paired timing of two computations (chapter 07 and ``scripts/bench_attention.py``).

On a shared machine a burst of load from elsewhere can make any one measurement slow. So the
two sides run in the same process, interleaved (A B, then B A, ...), and the ratio reported is the
median of the per-round ratios: a slow moment hits both sides of a round alike and the median
ignores the rounds it spoils. Each side's own time is its best round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["PairedTiming", "paired_calls", "paired_ratio", "time_call", "time_fwd_bwd"]


def _sync(leaves: Sequence[Tensor]) -> None:
    if any(t.is_cuda for t in leaves):
        torch.cuda.synchronize()


def time_fwd_bwd(fn: Callable[[], Tensor], leaves: Sequence[Tensor]) -> float:
    """Seconds for one forward and backward pass of ``fn``: ``fn().sum().backward()``.

    Args:
        fn: computes a tensor from ``leaves`` (and parameters) with autograd on.
        leaves: tensors whose ``.grad`` is cleared first (inputs and parameters).

    >>> x = torch.randn(4, 4, requires_grad=True)
    >>> time_fwd_bwd(lambda: x @ x, [x]) > 0 and x.grad.shape == (4, 4)
    True
    """
    for t in leaves:
        t.grad = None
    _sync(leaves)
    start = time.perf_counter()
    fn().sum().backward()
    _sync(leaves)
    return time.perf_counter() - start


class PairedTiming(NamedTuple):
    """Best seconds of each side and the median of the paired ratios ``ours / theirs``."""

    ours: float
    theirs: float
    ratio: float


def paired_ratio(
    ours: Callable[[], Tensor],
    theirs: Callable[[], Tensor],
    leaves: Sequence[Tensor],
    warmup: int = 1,
    repeats: int = 7,
) -> PairedTiming:
    """Time ``ours`` against ``theirs`` (forward and backward), interleaved in alternating order.

    Args:
        ours, theirs: as for :func:`time_fwd_bwd`.
        leaves: the tensors of both sides whose gradients are cleared before each pass.
        warmup: untimed rounds first (allocations, lazy initialisation).
        repeats: timed rounds; the ratio is the median of their per-round ratios.

    Returns:
        a :class:`PairedTiming` (also unpacks as ``ours_s, theirs_s, ratio``).

    >>> x = torch.randn(64, 64, requires_grad=True)
    >>> timing = paired_ratio(lambda: x @ x @ x, lambda: x @ x, [x], warmup=1, repeats=3)
    >>> timing.ours > 0 and timing.theirs > 0 and timing.ratio > 0
    True
    """
    return _paired(
        lambda: time_fwd_bwd(ours, leaves), lambda: time_fwd_bwd(theirs, leaves), warmup, repeats
    )


def time_call(fn: Callable[[], Any], sync: bool = False) -> float:
    """Seconds for one call of ``fn`` (a whole training step, say); ``sync`` waits for CUDA."""
    if sync:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if sync:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def paired_calls(
    ours: Callable[[], Any],
    theirs: Callable[[], Any],
    warmup: int = 1,
    repeats: int = 7,
    sync: bool = False,
) -> PairedTiming:
    """:func:`paired_ratio` for any two calls (each timed whole, e.g. forward, backward and the
    optimizer step), interleaved in alternating order.

    >>> timing = paired_calls(lambda: sum(range(2000)), lambda: sum(range(1000)), 1, 3)
    >>> timing.ours > 0 and timing.ratio > 0
    True
    """
    return _paired(lambda: time_call(ours, sync), lambda: time_call(theirs, sync), warmup, repeats)


def _paired(
    ours: Callable[[], float], theirs: Callable[[], float], warmup: int, repeats: int
) -> PairedTiming:
    """Rounds of both measurements (each returns seconds), in alternating order."""
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"paired timing: repeats must be >= 1 and warmup >= 0, got repeats={repeats}, "
            f"warmup={warmup}."
        )
    sides = (ours, theirs)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(warmup):
        for measure in sides:
            measure()
    for repeat in range(repeats):
        for side in (0, 1) if repeat % 2 == 0 else (1, 0):
            times[side].append(sides[side]())
    ratios = [a / b for a, b in zip(times[0], times[1], strict=True)]
    return PairedTiming(min(times[0]), min(times[1]), statistics.median(ratios))
