"""Environment checks and CPU settings that must happen before torch is imported.

Each failure is one paragraph: what is wrong and the command that fixes it.

CPU sharing: a kernel uses at most the cores its CPU affinity and its cgroup quota allow (at
most 8 by default). On a server where many kernels share the cores (``COURSEKIT_SHARED=1``) each
kernel takes 1 thread and its idle OpenMP threads sleep at once, so the kernels share the cores
instead of slowing each other down a hundredfold (``scripts/bench_shared_cpu.py`` measures it).
The waiting behaviour is read by the OpenMP library once, when torch loads, so
:func:`configure_openmp_waiting` runs in ``import coursekit`` before torch is imported.

Environment variables (all optional):

- ``COURSEKIT_NUM_THREADS``: CPU threads for torch; overrides every default below.
- ``COURSEKIT_SHARED=1``: set by an instructor for a whole server where many kernels share the
  cores (JupyterHub). Each kernel then defaults to 1 CPU thread and sets
  ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once). ``0`` or unset: off.
- ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``: if either is set, coursekit leaves both alone.
  Otherwise, without ``COURSEKIT_SHARED``, it keeps OpenMP's own waiting (GNU OpenMP, used by
  torch's Linux wheels, spins 300000 times, a few milliseconds, before sleeping): measured on an
  idle 2-core machine, that is the fastest for one kernel alone (a short spin of 1000 made it
  1.7x slower, PASSIVE 2.2x) and two kernels at once took 2.4x one alone.
- ``LOCAL_WORLD_SIZE`` (set by ``torchrun``): the processes on this machine share its cores.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Iterator, MutableMapping
from pathlib import Path, PurePosixPath
from types import ModuleType

__all__ = [
    "MAX_DEFAULT_THREADS",
    "MIN_PYTHON",
    "MIN_TORCH",
    "SHARED_ENV",
    "THREADS_ENV",
    "EnvironmentProblem",
    "available_cores",
    "cgroup_cpu_limit",
    "check_python",
    "configure_openmp_waiting",
    "default_threads",
    "import_torch",
    "openmp_waiting",
    "requested_threads",
    "shared_machine",
]

MIN_PYTHON = (3, 10)
MIN_TORCH = (2, 2)

_FIX = (
    "From the repository run `make lab` (or `make test`), which builds the tested environment in "
    ".venv/; on Colab run the notebook's first cell; elsewhere `pip install -U coursekit`."
)


class EnvironmentProblem(RuntimeError):
    """The Python environment cannot run the course; the message says how to fix it."""


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_python(version: tuple[int, ...] | None = None) -> None:
    """Raise :class:`EnvironmentProblem` when Python is older than :data:`MIN_PYTHON`.

    >>> check_python((3, 12, 1))
    """
    version = tuple(sys.version_info[:3]) if version is None else version
    if version[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        have = ".".join(map(str, version))
        raise EnvironmentProblem(
            f"coursekit needs Python {need} or newer, but this is Python {have}. Install a newer "
            f"Python (python.org, your package manager, or pyenv) and rebuild the environment: "
            f"`rm -rf .venv && make lab PYTHON=python3.11`."
        )


def import_torch(minimum: tuple[int, int] = MIN_TORCH) -> ModuleType:
    """Import torch, or raise :class:`EnvironmentProblem` saying how to install a usable one."""
    need = ".".join(map(str, minimum))
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        raise EnvironmentProblem(
            f"PyTorch is not installed in this Python ({sys.executable}); coursekit needs torch "
            f"{need} or newer. {_FIX} ({exc})"
        ) from None
    have = getattr(torch, "__version__", "0")
    if _version_tuple(have)[:2] < minimum:
        raise EnvironmentProblem(
            f"PyTorch {have} is too old; coursekit needs torch {need} or newer. {_FIX}"
        )
    return torch


# --- CPU budget: affinity, cgroup quota, torchrun, shared servers ---------------------------

THREADS_ENV = "COURSEKIT_NUM_THREADS"
SHARED_ENV = "COURSEKIT_SHARED"
MAX_DEFAULT_THREADS = 8
# scripts/bench_shared_cpu.py, LSTM loop B32 T64 H128, 2 threads, 150 steps. On an idle 2-core
# Intel machine, alone / two at once: OpenMP's default 2.85 s / 6.9 s (2.4x), GOMP_SPINCOUNT=1000
# 5.0 s / 11.0 s, PASSIVE 6.2 s / 9.8 s, 1 thread 2.9 s / 3.6 s. Beside 3-6 other busy processes
# the default collapsed (755 s two at once, against 12 s with PASSIVE and 11 s at 1 thread). So:
# OpenMP's default unless the machine is declared shared, and then 1 thread with PASSIVE waiting.
_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")

# Module attributes so that tests can point them at fake files.
_PROC_CGROUP = Path("/proc/self/cgroup")
_CGROUP_ROOT = Path("/sys/fs/cgroup")

# What configure_openmp_waiting() found or did, for the doctor.
_waiting = "not configured (coursekit.configure_openmp_waiting() has not run)"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ancestors(root: Path, cgroup: str) -> Iterator[Path]:
    """``root/a/b``, ``root/a``, ``root``: a parent's quota limits every cgroup below it."""
    parts = [p for p in PurePosixPath(cgroup).parts if p != "/"]
    for end in range(len(parts), -1, -1):
        yield root.joinpath(*parts[:end])


def cgroup_cpu_limit() -> float | None:
    """CPUs this process's cgroup quota allows (``1.5`` = one and a half), or None for no quota.

    Reads cgroup v2 ``cpu.max`` (``"150000 100000"``; ``"max ..."`` = no limit) and cgroup v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1`` = no limit) for the process's
    cgroup and each of its parents; the smallest limit wins. Containers (Docker ``--cpus``,
    Kubernetes CPU limits) and JupyterHub spawners set these.
    """
    v2, v1 = "", ""
    for line in (_read(_PROC_CGROUP) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    limits = []
    for folder in _ancestors(_CGROUP_ROOT, v2):
        quota, _, period = (_read(folder / "cpu.max") or "max").partition(" ")
        if quota.isdigit() and period.strip().isdigit() and int(period) > 0:
            limits.append(int(quota) / int(period))
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for folder in _ancestors(_CGROUP_ROOT / mount, v1):
            quota = _read(folder / "cpu.cfs_quota_us") or "-1"
            period = _read(folder / "cpu.cfs_period_us") or "0"
            if quota.isdigit() and period.isdigit() and int(quota) > 0 and int(period) > 0:
                limits.append(int(quota) / int(period))
    return min(limits, default=None)


def available_cores() -> int:
    """Whole cores this process may use: its CPU affinity, capped by the cgroup quota.

    A quota of 1.5 CPUs counts as 1 core (rounded down, at least 1): a second thread would be
    throttled, not faster.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, int(limit))
    return max(1, cores)


def _flag(environ: MutableMapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise EnvironmentProblem(
        f"${name}={raw!r} is neither on nor off; set it to 1 (many kernels share this machine) "
        f"or 0, or unset it."
    )


def shared_machine(environ: MutableMapping[str, str] | None = None) -> bool:
    """True when ``$COURSEKIT_SHARED`` says many kernels share this machine's cores."""
    return _flag(os.environ if environ is None else environ, SHARED_ENV)


def default_threads(environ: MutableMapping[str, str] | None = None) -> int:
    """Threads when ``$COURSEKIT_NUM_THREADS`` is unset.

    1 on a shared server (``$COURSEKIT_SHARED=1``); else the available cores divided among the
    ``$LOCAL_WORLD_SIZE`` processes ``torchrun`` started on this machine (at least 1), at most
    :data:`MAX_DEFAULT_THREADS`.
    """
    environ = os.environ if environ is None else environ
    if shared_machine(environ):
        return 1
    cores = available_cores()
    local = environ.get("LOCAL_WORLD_SIZE", "").strip()
    if local.isdigit() and int(local) > 1:
        cores = max(1, cores // int(local))
    return min(cores, MAX_DEFAULT_THREADS)


def requested_threads(environ: MutableMapping[str, str] | None = None) -> int:
    """``$COURSEKIT_NUM_THREADS`` if set (checked), else :func:`default_threads`."""
    environ = os.environ if environ is None else environ
    raw = environ.get(THREADS_ENV, "").strip()
    if not raw:
        return default_threads(environ)
    if not raw.isdigit() or int(raw) < 1:
        raise EnvironmentProblem(
            f"${THREADS_ENV}={raw!r} is not a positive whole number of threads; set it "
            f"to e.g. 2, or unset it to use the available cores."
        )
    return int(raw)


def configure_openmp_waiting(
    environ: MutableMapping[str, str] | None = None, torch_loaded: bool | None = None
) -> dict[str, str]:
    """On a shared server, make idle OpenMP threads sleep at once; return the variables set.

    Must run before torch is imported: the OpenMP library reads these variables once, when it
    loads. Sets nothing when the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``, nor on a
    machine not declared shared (OpenMP's own waiting is the fastest for one kernel: see the
    numbers above). With ``$COURSEKIT_SHARED=1`` it sets ``OMP_WAIT_POLICY=PASSIVE``; when torch
    was already imported that is too late: it sets nothing and warns (once per process) if this
    process would run more than one thread.

    >>> env = {"COURSEKIT_SHARED": "1"}; configure_openmp_waiting(env, torch_loaded=False)
    {'OMP_WAIT_POLICY': 'PASSIVE'}
    >>> configure_openmp_waiting({}, torch_loaded=False)
    {}
    """
    environ = os.environ if environ is None else environ
    torch_loaded = "torch" in sys.modules if torch_loaded is None else torch_loaded
    mine = {k: environ[k] for k in _WAIT_VARS if environ.get(k, "").strip()}
    if mine:
        _record(environ, " ".join(f"{k}={v}" for k, v in mine.items()) + " (set outside coursekit)")
        return {}
    if not shared_machine(environ):
        _record(environ, "OpenMP's defaults (idle threads spin for a few ms, then sleep)")
        return {}
    wanted = {"OMP_WAIT_POLICY": "PASSIVE"}
    setting = " ".join(f"{k}={v}" for k, v in wanted.items())
    if torch_loaded:
        _record(
            environ,
            f"OpenMP's defaults (idle threads spin for milliseconds): torch was imported before "
            f"coursekit, too late for {setting}",
        )
        try:
            threads = requested_threads(environ)
        except EnvironmentProblem:  # reported by configure_threads()
            threads = 2
        if threads > 1:
            warnings.warn(
                f"torch was imported before coursekit, so coursekit could not set {setting} in "
                f"time: this process's idle OpenMP threads spin for a few milliseconds before "
                f"sleeping, which slows it, and every other kernel on these cores, many times "
                f"over when the cores are shared. Restart the kernel and run `import coursekit` "
                f"before `import torch`, or set {setting} in the environment that starts Jupyter.",
                RuntimeWarning,
                stacklevel=2,
            )
        return {}
    environ.update(wanted)
    _record(environ, f"{setting} (${SHARED_ENV}=1: idle threads sleep at once)")
    return wanted


def _record(environ: MutableMapping[str, str], text: str) -> None:
    global _waiting
    if environ is os.environ:  # not when a test passes its own mapping
        _waiting = text


def openmp_waiting() -> str:
    """One line for the doctor: how this process's idle OpenMP threads wait, and who chose it."""
    return _waiting
