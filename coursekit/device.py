"""Choose the device once, seed everything, set CPU threads, and mixed precision where it pays.

Chapter 00 introduces these; every later chapter starts with ``device = coursekit.setup()``.
Library code never calls ``.cuda()``: it takes the device from the tensors it is given.

Environment variables (all optional):

- ``COURSEKIT_DEVICE``: ``auto`` (default: cuda > mps > cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
- ``COURSEKIT_NUM_THREADS``: CPU threads for torch (default: the cores this process may use, at most 8).
"""

from __future__ import annotations

import contextlib
import os
import random
import time

import numpy as np
import torch

from coursekit._compat import EnvironmentProblem

__all__ = [
    "DEVICE_ENV",
    "THREADS_ENV",
    "autocast",
    "available_cores",
    "configure_threads",
    "get_device",
    "seed_everything",
    "setup",
    "started_at",
]

DEVICE_ENV = "COURSEKIT_DEVICE"
THREADS_ENV = "COURSEKIT_NUM_THREADS"
_MAX_DEFAULT_THREADS = 8

# Set by setup(); run_report() measures the chapter's wall time from here.
_started_at: float | None = None


def _accelerators() -> dict[str, bool]:
    mps = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps is not None and mps.is_available()),
    }


def get_device(name: str | None = None) -> torch.device:
    """Return the device to use: ``name``, else ``$COURSEKIT_DEVICE``, else cuda > mps > cpu.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Raises:
        EnvironmentProblem: for an unknown name, or an accelerator this machine does not have.

    >>> get_device("cpu")
    device(type='cpu')
    """
    source = "argument"
    if name is None:
        name, source = os.environ.get(DEVICE_ENV, "auto"), f"${DEVICE_ENV}"
    choice = name.strip().lower()
    have = _accelerators()
    if choice in ("", "auto"):
        if have["cuda"]:
            return torch.device("cuda")
        if have["mps"]:
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = choice.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()):
        raise EnvironmentProblem(
            f"Unknown device {name!r} (from {source}). Use one of: auto, cpu, cuda, cuda:N, mps — "
            f"for example `export {DEVICE_ENV}=cpu`, or unset {DEVICE_ENV} to pick automatically."
        )
    if kind != "cpu" and not have[kind]:
        available = ", ".join(["cpu"] + [k for k, ok in have.items() if ok])
        raise EnvironmentProblem(
            f"Device {name!r} was asked for (from {source}) but this machine has no usable "
            f"{kind.upper()} device (available here: {available}). Unset {DEVICE_ENV} to pick "
            f"automatically, or set it to one of those."
        )
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise EnvironmentProblem(
            f"Device {name!r} (from {source}) does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s), numbered from 0."
        )
    return torch.device(choice)


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count and return it.

    Default: ``$COURSEKIT_NUM_THREADS``, else the available cores (at most 8). More threads than
    cores is much slower, not faster: two notebooks with 2 threads each on a 2-core machine run
    about 10x slower than one after the other, so parallel test runs give each worker fewer threads.
    """
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                raise EnvironmentProblem(
                    f"${THREADS_ENV}={raw!r} is not a positive whole number of threads; set it "
                    f"to e.g. 2, or unset it to use the available cores."
                )
            threads = int(raw)
        else:
            threads = min(available_cores(), _MAX_DEFAULT_THREADS)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices), so reruns give the same numbers.

    Results are bit-identical only at the same thread count and on the same device.

    >>> seed_everything(3); a = torch.rand(2)
    >>> seed_everything(3); bool((a == torch.rand(2)).all())
    True
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (learners and libraries still use the legacy global RNG)
    torch.manual_seed(seed)  # also seeds every CUDA and MPS device


def autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """Mixed precision where it pays: bf16 autocast on CUDA (if supported), a no-op elsewhere.

    On CPUs bf16 matmuls are often ~100x slower than fp32 (measured on the course's 2-core
    machine), so the CPU path stays fp32.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def setup(
    seed: int = 0,
    device: str | None = None,
    threads: int | None = None,
    verbose: bool = True,
) -> torch.device:
    """Start a chapter: set threads, seed everything, pick the device, print one line; return it.

    Args:
        seed: seed for Python, NumPy and torch.
        device: see :func:`get_device`; ``None`` reads ``$COURSEKIT_DEVICE``.
        threads: see :func:`configure_threads`.
        verbose: print the summary line.
    """
    global _started_at
    _started_at = time.perf_counter()
    chosen = get_device(device)
    n = configure_threads(threads)
    seed_everything(seed)
    if verbose:
        from coursekit import __version__

        print(
            f"coursekit {__version__} | torch {torch.__version__} | device: {chosen} | "
            f"CPU threads: {n} | seed: {seed}"
        )
    return chosen


def started_at() -> float | None:
    """When :func:`setup` last ran (``time.perf_counter`` seconds), or None."""
    return _started_at
