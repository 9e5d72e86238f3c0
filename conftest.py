"""Test-run hooks shared by every test directory: per-notebook run time and peak memory.

nbval reports one test item per cell; this adds them up per notebook and prints a table at the
end of the run, so every chapter's runtime is visible in CI's output. Each chapter ends with
``coursekit.run_report()``, which appends the kernel's peak memory to ``$COURSEKIT_RUN_LOG`` when the
test run sets it; a chapter over the 2 GB memory budget fails the run.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

MEMORY_BUDGET_MB = 2048
TIME_BUDGET_S = 180

_seconds: dict[str, float] = defaultdict(float)
_peak_mb: dict[str, float] = {}
_failed: set[str] = set()
_log_lines_seen = 0


def _new_log_entries() -> list[dict]:
    global _log_lines_seen
    log = os.environ.get("COURSEKIT_RUN_LOG")
    if not log or not Path(log).is_file():
        return []
    lines = Path(log).read_text(encoding="utf-8").splitlines()
    new, _log_lines_seen = lines[_log_lines_seen:], len(lines)
    return [json.loads(line) for line in new if line.strip()]


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if not path.endswith(".ipynb"):
        return
    _seconds[path] += report.duration
    if report.failed:
        _failed.add(path)
    for entry in _new_log_entries():
        _peak_mb[path] = entry["peak_mb"]


def pytest_sessionfinish(session, exitstatus):
    if any(mb > MEMORY_BUDGET_MB for mb in _peak_mb.values()) and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    tr = terminalreporter
    tr.section("notebook run times (budget: 180 s and 2 GB each on 2 CPU cores)")
    for path, seconds in sorted(_seconds.items()):
        peak = _peak_mb.get(path)
        memory = f"{peak:6.0f} MB" if peak is not None else "     ? MB"
        flags = []
        if path in _failed:
            flags.append("FAILED")
        if seconds > TIME_BUDGET_S:
            flags.append("over the time budget")
        if peak is not None and peak > MEMORY_BUDGET_MB:
            flags.append("OVER THE MEMORY BUDGET")
        tr.write_line(f"{seconds:7.1f} s {memory}  {path}  {' '.join(flags)}".rstrip())
    tr.write_line(f"{sum(_seconds.values()):7.1f} s            total")
