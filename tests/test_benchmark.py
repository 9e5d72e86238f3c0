"""coursekit.benchmark: paired, interleaved timing (light: no speed is asserted)."""

from __future__ import annotations

import pytest
import torch

from coursekit import benchmark


def test_time_fwd_bwd_clears_and_fills_the_gradients():
    x = torch.randn(3, 3, requires_grad=True)
    x.grad = torch.full((3, 3), 99.0)
    seconds = benchmark.time_fwd_bwd(lambda: 2 * x, [x])
    assert seconds > 0
    assert torch.equal(x.grad, torch.full((3, 3), 2.0))  # cleared first, not accumulated


def test_paired_ratio_interleaves_and_takes_the_median(monkeypatch):
    calls = []
    fake = iter([1.0, 2.0, 8.0, 2.0, 3.0, 1.0, 9.0, 9.0, 4.0, 2.0])  # warm-up 2, then 4 rounds

    def fake_time(fn, leaves):
        calls.append(fn())
        return next(fake)

    monkeypatch.setattr(benchmark, "time_fwd_bwd", fake_time)
    timing = benchmark.paired_ratio(lambda: "A", lambda: "B", [], warmup=1, repeats=4)
    assert calls == ["A", "B", "A", "B", "B", "A", "A", "B", "B", "A"]  # alternating order
    # rounds (ours, theirs): (8, 2), (1, 3), (9, 9), (2, 4) -> ratios 4, 1/3, 1, 0.5
    assert timing == benchmark.PairedTiming(ours=1.0, theirs=2.0, ratio=0.75)
    assert tuple(timing) == (1.0, 2.0, 0.75)  # unpacks like the script's old tuple


def test_paired_ratio_rejects_no_rounds():
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        benchmark.paired_ratio(lambda: torch.ones(1), lambda: torch.ones(1), [], repeats=0)


def test_the_bench_command_runs_and_states_each_target():
    """`make bench`'s script in its quick mode, two sections: it prints lines, it times nothing
    that is asserted here (the GPT pair's equal losses are checked inside it)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--threads", "1", "--only", "attention", "gpt"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout  # fmt: skip
    assert "roofline: fp32" in out
    assert "causal attend(impl='sdpa') / SDPA" in out and "<=1.1" in out
    assert "GPT training step (fp32) / PyTorch-layers GPT" in out and "of the fp32 roofline" in out
    assert "target(s) hold" in out
