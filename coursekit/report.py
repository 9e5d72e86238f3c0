"""What a chapter cost: wall time since ``coursekit.setup()`` and the kernel's peak memory.

Every chapter ends with ``coursekit.run_report()``; the README's syllabus quotes these numbers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

from coursekit import device as _device

__all__ = ["RUN_LOG_ENV", "RunReport", "peak_memory_mb", "run_report"]

# When set (the test run sets it), each report is also appended to this file as a JSON line, so
# the test summary can print every chapter's peak memory beside its run time.
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


def run_report(verbose: bool = False) -> RunReport:
    """Measure the chapter's run time and peak memory (a notebook shows the returned report)."""
    start = _device.started_at()
    report = RunReport(
        seconds=None if start is None else time.perf_counter() - start,
        peak_mb=peak_memory_mb(),
    )
    log = os.environ.get(RUN_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"seconds": report.seconds, "peak_mb": report.peak_mb}) + "\n")
    if verbose:
        print(report)
    return report
