"""Test-run hooks shared by every test directory: per-notebook durations in the summary.

nbval reports one test item per cell; this adds them up per notebook and prints a table at the
end of the run, so every chapter's runtime is visible in CI's output.
"""

from __future__ import annotations

from collections import defaultdict

_notebook_seconds: dict[str, float] = defaultdict(float)
_notebook_failed: set[str] = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        if report.failed:
            _notebook_failed.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("notebook run times")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "  FAILED" if path in _notebook_failed else ""
        tr.write_line(f"{seconds:7.1f} s  {path}{flag}")
    tr.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  total")
