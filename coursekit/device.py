"""Choose the device once, seed everything, set CPU threads, and mixed precision where it pays.

Chapter 00 introduces these; every later chapter starts with ``device = coursekit.setup()``.
Library code never calls ``.cuda()``: it takes the device from the tensors it is given.

Environment variables (all optional):

- ``COURSEKIT_DEVICE``: ``auto`` (default: cuda > mps > cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
  Under ``torchrun`` (``$LOCAL_RANK`` set), ``auto`` and ``cuda`` mean ``cuda:$LOCAL_RANK``.
- ``COURSEKIT_NUM_THREADS``: CPU threads for torch (default: the cores this process may use,
  after CPU affinity and the cgroup quota, shared among ``torchrun``'s processes on this machine,
  at most 8; 1 when ``COURSEKIT_SHARED=1``).
- ``COURSEKIT_SHARED=1``: many kernels share this server's cores: see :mod:`coursekit._compat`.
- ``COURSEKIT_PRESET``: ``auto`` (default: ``large`` on a CUDA GPU, ``small`` elsewhere),
  ``small`` or ``large``: which training budget a chapter picks with :func:`budget`.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from coursekit._compat import (
    SHARED_ENV,
    THREADS_ENV,
    EnvironmentProblem,
    available_cores,
    cgroup_cpu_limit,
    openmp_waiting,
    requested_threads,
)

__all__ = [
    "BF16_MIN_PARAMS",
    "BF16_PAYS",
    "DEVICE_ENV",
    "PRESET_ENV",
    "SHARED_ENV",
    "THREADS_ENV",
    "PrecisionChoice",
    "autocast",
    "available_cores",
    "budget",
    "cgroup_cpu_limit",
    "choose_precision",
    "configure_threads",
    "cuda_bf16_native",
    "get_device",
    "local_rank",
    "openmp_waiting",
    "preset",
    "seed_everything",
    "setup",
    "started_at",
]

DEVICE_ENV = "COURSEKIT_DEVICE"
PRESET_ENV = "COURSEKIT_PRESET"
PRESETS = ("auto", "small", "large")

# Set by setup(); run_report() measures the chapter's wall time from here.
_started_at: float | None = None


def _accelerators() -> dict[str, bool]:
    mps = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps is not None and mps.is_available()),
    }


def local_rank() -> int | None:
    """This process's ``$LOCAL_RANK`` under ``torchrun`` (its GPU on this machine), else None."""
    raw = os.environ.get("LOCAL_RANK", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise EnvironmentProblem(
            f"$LOCAL_RANK={raw!r} is not a whole number. torchrun sets it for each process it "
            f"starts; unset it when not running under torchrun."
        )
    return int(raw)


def get_device(name: str | None = None) -> torch.device:
    """Return the device to use: ``name``, else ``$COURSEKIT_DEVICE``, else cuda > mps > cpu.

    Under ``torchrun`` each process takes its own GPU: ``auto`` and ``cuda`` give
    ``cuda:$LOCAL_RANK`` when CUDA is available.

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
    rank = local_rank()
    if choice in ("", "auto", "cuda") and rank is not None and have["cuda"]:
        choice, source = f"cuda:{rank}", f"{source} and $LOCAL_RANK={rank} from torchrun"
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


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count and return it.

    Default: ``$COURSEKIT_NUM_THREADS``, else the cores this process may use (CPU affinity and
    cgroup quota, see :func:`available_cores`) divided among ``torchrun``'s ``$LOCAL_WORLD_SIZE``
    processes on this machine, at most 8; 1 on a shared server (``$COURSEKIT_SHARED=1``). More
    threads than cores is much slower, not faster, so parallel test runs give each worker fewer.
    """
    if threads is None:
        threads = requested_threads()
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


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_bf16_support() -> str | None:
    """The CPU's bf16 matrix hardware, ``"AMX-BF16"`` or ``"AVX512-BF16"``, or None without it.

    Asked of the CPU's feature flags (torch's own reading, else ``/proc/cpuinfo``), not of its
    vendor or model name: without these units a bf16 matmul is emulated and runs 40-140x slower
    than fp32 (measured on an AMD Zen 3); with them it ran 2.5-4x faster than fp32 (an Intel Xeon
    with AMX).
    """
    flags: set[str] = set()
    get = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    if get is not None:
        try:
            flags = {name for name, on in get().items() if on is True}
        except Exception:  # an older torch, or a platform it cannot read
            flags = set()
    if not flags:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
    if "amx_bf16" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def cuda_bf16_native() -> bool:
    """Whether the current CUDA card has bf16 units (compute capability 8.0 or newer), not only
    torch's emulation of bf16 (which ``torch.cuda.is_bf16_supported()`` counts by default)."""
    if not torch.cuda.is_available():
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch before 2.4 has no such argument, and counted no emulation
        return torch.cuda.get_device_capability()[0] >= 8


def autocast(
    device: torch.device | str, precision: str = "auto"
) -> contextlib.AbstractContextManager:
    """Mixed precision where it pays.

    ``"auto"``: bf16 autocast on a CUDA card with bf16 units (compute capability 8.0 or newer; on
    a T4 or V100 bf16 would be emulated, so fp32 there), fp32 elsewhere. ``"fp32"``: never.
    ``"bf16"``: bf16 autocast on CUDA, and on a CPU that has bf16 hardware
    (:func:`cpu_bf16_support`); on one without, an error, since bf16 would be emulated there
    (40-140x slower than fp32, measured). On CPUs bf16 pays only for large enough matrices:
    measured on an Intel Xeon with AMX, 1.79x faster for a 10.7M-parameter GPT at B32 T256 and
    slower (0.73-0.87x) for a 0.8M one, so ``"auto"`` keeps the CPU in fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda" and cuda_bf16_native():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if precision == "bf16" and device.type == "cpu":
        if cpu_bf16_support() is None:
            raise ValueError(
                "precision='bf16' on a CPU without bf16 hardware (no AMX-BF16 or AVX512-BF16 in "
                "its flags): bf16 would be emulated, 40-140x slower than fp32. Use "
                "precision='fp32' (or 'auto') here."
            )
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if precision == "bf16" and device.type == "cuda":
        raise ValueError(
            f"precision='bf16' on {device}, a card without bf16 units (compute capability under "
            "8.0, e.g. a T4 or V100): it would be emulated. Use precision='fp32' (or 'auto') here."
        )
    if precision == "bf16":
        raise ValueError(f"precision='bf16' is not supported on {device}: use 'fp32' or 'auto'")
    return contextlib.nullcontext()


# bf16 autocast must beat fp32 by this much to be used on a CPU: it also costs a little accuracy.
BF16_PAYS = 1.15
# Below this many parameters bf16 is not even measured on a CPU: 0.73-0.87x fp32 for a 0.8M GPT.
BF16_MIN_PARAMS = 1_000_000


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``precision="auto"`` became for one run, and why (see :func:`choose_precision`)."""

    precision: str  # "fp32" or "bf16": passed to train()
    why: str
    fp32_seconds: float | None = None  # the fastest measured step, when measured
    bf16_seconds: float | None = None


def choose_precision(
    step: Callable[[contextlib.AbstractContextManager], object],
    device: torch.device | str,
    params: int,
    *,
    rounds: int = 3,
    margin: float | None = None,
    min_params: int | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> PrecisionChoice:
    """Resolve ``precision="auto"`` for a long run: bf16 where a measurement here shows it pays.

    - CUDA: bf16 autocast if the card supports it, else fp32 (nothing measured).
    - A CPU without bf16 hardware (:func:`cpu_bf16_support`): fp32; bf16 would be emulated.
    - A CPU with it: fp32 for a model under ``min_params`` (default :data:`BF16_MIN_PARAMS`).
      Otherwise ``step(context)`` (one training step, its forward pass under ``context``) runs
      once in each precision to warm up, then ``rounds`` times in each, alternating; bf16 is
      chosen if the fastest fp32 step took at least ``margin`` (default :data:`BF16_PAYS`)
      times the fastest bf16 one.

    ``step`` should train a copy of the model, so that measuring changes nothing in the run.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    device = torch.device(device)
    if device.type == "cuda":
        if cuda_bf16_native():
            return PrecisionChoice("bf16", "CUDA with bf16: autocast, as precision='auto' does")
        return PrecisionChoice("fp32", "this CUDA card has no bf16")
    if device.type != "cpu":
        return PrecisionChoice("fp32", f"bf16 autocast is not used on {device.type}")
    hardware = cpu_bf16_support()
    if hardware is None:
        return PrecisionChoice("fp32", "this CPU has no bf16 hardware (bf16 would be emulated)")
    smallest = BF16_MIN_PARAMS if min_params is None else min_params
    if params < smallest:
        return PrecisionChoice(
            "fp32", f"{params / 1e6:.2f}M parameters: too small for bf16 to pay on a CPU"
        )
    margin = BF16_PAYS if margin is None else margin
    contexts = {"fp32": contextlib.nullcontext, "bf16": lambda: autocast(device, "bf16")}
    best = {name: math.inf for name in contexts}
    for i in range(rounds + 1):
        for name, context in contexts.items():
            started = timer()
            step(context())
            if i:  # round 0 warms up
                best[name] = min(best[name], timer() - started)
    speedup = best["fp32"] / best["bf16"]
    chosen = "bf16" if speedup >= margin else "fp32"
    why = (
        f"measured on {hardware}: a step took {best['fp32']:.3g} s in fp32 and "
        f"{best['bf16']:.3g} s in bf16 ({speedup:.2f}x; bf16 is used from {margin:g}x)"
    )
    return PrecisionChoice(chosen, why, best["fp32"], best["bf16"])


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
    if chosen.type == "cuda" and chosen.index is not None:
        torch.cuda.set_device(chosen)  # under torchrun: this rank's GPU, not every rank on GPU 0
    n = configure_threads(threads)
    seed_everything(seed)
    if verbose:
        from coursekit import __version__

        print(
            f"coursekit {__version__} | torch {torch.__version__} | device: {chosen} | "
            f"CPU threads: {n} | seed: {seed}"
        )
    return chosen


def _preset_from_env() -> str:
    """``$COURSEKIT_PRESET``, lower-cased; ``"auto"`` when unset or empty."""
    return os.environ.get(PRESET_ENV, "auto").strip().lower() or "auto"


def preset(device: torch.device | str | None = None) -> str:
    """The training budget this machine gets: ``"large"`` on a CUDA GPU, ``"small"`` elsewhere.

    ``$COURSEKIT_PRESET`` (``small`` or ``large``) overrides it: ``large`` on a CPU runs a chapter
    with its GPU budget (slower, but the same code path as on the GPU), ``small`` on a GPU keeps
    the CPU's. Apple's MPS gets ``small``: for models this size it is not reliably faster than
    the CPU.

    Args:
        device: the chapter's device; ``None`` asks :func:`get_device`.

    Raises:
        EnvironmentProblem: for a value of ``$COURSEKIT_PRESET`` other than auto, small, large.
    """
    raw = _preset_from_env()
    if raw not in PRESETS:
        raise EnvironmentProblem(
            f"${PRESET_ENV}={os.environ[PRESET_ENV]!r} is not a preset. Use one of: "
            f"{', '.join(PRESETS)} (auto: large on a CUDA GPU, small elsewhere), or unset it."
        )
    if raw != "auto":
        return raw
    device = torch.device(device) if device is not None else get_device()
    return "large" if device.type == "cuda" else "small"


def budget(small, large, what: str | None = None, device: torch.device | str | None = None):
    """A chapter's budget for this machine: ``small`` on a CPU, ``large`` on a CUDA GPU.

    The same chapter, run on a GPU, trains longer (or larger) by itself; with ``what`` it says
    so in one printed line, which names both values, so the stored outputs (from a CPU) and a
    GPU run can be told apart. :func:`preset` decides, ``$COURSEKIT_PRESET`` overrides.

    Args:
        small: the value for the small preset (what the stored outputs ran with).
        large: the value for the large preset; the same type as ``small``.
        what: what the value counts, e.g. ``"training steps"``; ``None`` prints nothing.
        device: the chapter's device; ``None`` asks :func:`get_device`.

    >>> import os; os.environ["COURSEKIT_PRESET"] = "small"
    >>> budget(1000, 3000)
    1000
    >>> del os.environ["COURSEKIT_PRESET"]
    """
    if type(small) is not type(large):
        raise TypeError(
            f"budget(small, large) takes two values of one type, got {type(small).__name__} "
            f"and {type(large).__name__}: pass e.g. budget(1000, 3000)."
        )
    chosen = preset(device)
    value = large if chosen == "large" else small
    if what is not None:
        show = (lambda v: f"{v:,}") if isinstance(small, int) else str
        why = (
            f"${PRESET_ENV}={os.environ[PRESET_ENV].strip()}"
            if _preset_from_env() != "auto"
            else ("a CUDA GPU here" if chosen == "large" else "no CUDA GPU here")
        )
        print(
            f"{what}: {show(value)} (the {chosen} preset: {why}; "
            f"small {show(small)}, large {show(large)})"
        )
    return value


def started_at() -> float | None:
    """When :func:`setup` last ran (``time.perf_counter`` seconds), or None."""
    return _started_at
