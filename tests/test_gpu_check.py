"""scripts/gpu_check.py on the CPU: every parity check passes and every preset trains (on a GPU
the same script runs on CUDA; see the README's "On a GPU")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def test_gpu_check_runs_on_the_cpu_and_every_check_passes():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COURSEKIT_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.count("ok   parity:") == 13 and "FAIL" not in out
    assert out.count("ok   train:") == 4
    assert "tokens/s" in out and "0 failed" in out
