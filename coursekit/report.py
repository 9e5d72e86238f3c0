"""What a chapter cost: wall time since ``coursekit.setup()`` and the kernel's peak memory.

Every chapter ends with ``coursekit.run_report()``. When ``$COURSEKIT_RUN_LOG`` is set (``make
notebooks`` and the test run set it) the report is also appended to that file as one JSON line,
with what ``python -m coursekit syllabus --from-log`` needs to turn it into the syllabus' measured
run times: which notebook ran (a fingerprint of the code cells this kernel executed, matched
against the chapters' own), on what machine (CPU model, threads, a short fp32 matmul benchmark).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from coursekit import device as _device

__all__ = [
    "RUN_LOG_ENV",
    "RunReport",
    "code_fingerprint",
    "cpu_model",
    "matmul_gflops",
    "peak_memory_mb",
    "read_measured",
    "run_report",
]


def read_measured(path: os.PathLike | str, command: str) -> dict:
    """A measurement file shipped beside coursekit's modules (JSON, one object), read for a
    chapter; a missing or broken file raises an error that names ``command``, the one that
    measures it again.

    >>> read_measured("missing.json", "python scripts/x.py --out coursekit/missing.json")
    Traceback (most recent call last):
    ...
    RuntimeError: cannot read missing.json ([Errno 2] No such file or directory: 'missing.json'): reinstall coursekit, or measure again with `python scripts/x.py --out coursekit/missing.json`.
    """
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise RuntimeError(
            f"cannot read {name} ({error}): reinstall coursekit, or measure again with `{command}`."
        ) from error
    if not isinstance(data, dict):
        raise RuntimeError(f"{name} is not a JSON object: measure again with `{command}`.")
    return data


# When set, each report is also appended to this file as a JSON line (see the module docstring).
RUN_LOG_ENV = "COURSEKIT_RUN_LOG"


@dataclass(frozen=True)
class RunReport:
    """Wall seconds since setup (None if setup was not called) and peak resident memory in MB."""

    seconds: float | None
    peak_mb: float

    def __str__(self) -> str:
        took = (
            "n/a (coursekit.setup() not called)"
            if self.seconds is None
            else f"{self.seconds:.0f} s"
        )
        return f"Chapter run time: {took}; peak memory of this kernel: {self.peak_mb:.0f} MB"

    __repr__ = __str__  # shown as the last value of a notebook cell


def peak_memory_mb() -> float:
    """Peak resident set size of this process in MB (0.0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# -- which notebook ran: the code cells this kernel executed ------------------------------------
def code_fingerprint(sources: Iterable[str]) -> str:
    """sha256 of code cell sources in order (trailing whitespace ignored, as IPython stores them).

    A chapter's fingerprint covers its code cells after the setup cell (the cell that imports
    coursekit, before which nothing is recorded); :mod:`coursekit.syllabus` computes the same from
    the notebook file, so a log entry names the exact version of the chapter that was measured.
    """
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.rstrip().encode("utf-8") + b"\n\x1e\n")
    return digest.hexdigest()


_executed_cells: list[str] = []


def _record_cell(info) -> None:
    _executed_cells.append(info.raw_cell)


def _start_recording() -> None:
    """In an IPython kernel, remember each cell's source from here on (importing coursekit, which
    the setup cell does). nbval runs cells without storing them in IPython's history, so the
    ``pre_run_cell`` event is the one record every runner leaves."""
    ipython_module = sys.modules.get("IPython")
    shell = ipython_module.get_ipython() if ipython_module else None
    if shell is None or _record_cell in shell.events.callbacks.get("pre_run_cell", []):
        return
    shell.events.register("pre_run_cell", _record_cell)


_start_recording()


# -- on what machine ------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def matmul_gflops(
    threads: int | None = None,
    n: int = 512,
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> float:
    """Matrix-multiply speed in GFLOP/s (fp32 on this CPU by default): the best of ``repeats``
    ``n × n`` products at ``threads`` torch threads (default: the current setting). About 0.1 s;
    it tells a slow machine from a slow chapter when comparing run times measured on different
    machines. ``dtype=torch.bfloat16`` measures the bf16 roofline (emulated, so very slow, on a
    CPU without bf16 hardware).

    >>> matmul_gflops(threads=1, n=64, repeats=2) > 0
    True
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=generator).to(device, dtype)
        b = torch.randn(n, n, generator=generator).to(device, dtype)
        sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
        a @ b  # warm-up
        sync()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            sync()
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return 2 * n**3 / max(best, 1e-9) / 1e9


def run_report(verbose: bool = False) -> RunReport:
    """Measure the chapter's run time and peak memory (a notebook shows the returned report)."""
    start = _device.started_at()
    report = RunReport(
        seconds=None if start is None else time.perf_counter() - start,
        peak_mb=peak_memory_mb(),
    )
    log = os.environ.get(RUN_LOG_ENV)
    if log:
        entry = {
            "seconds": report.seconds,
            "peak_mb": report.peak_mb,
            "code_sha256": code_fingerprint(_executed_cells) if _executed_cells else None,
            "cells": len(_executed_cells),
            "threads": torch.get_num_threads(),
            "cpu": cpu_model(),
            "matmul_gflops": round(matmul_gflops(), 1),
            "torch": torch.__version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    if verbose:
        print(report)
    return report
