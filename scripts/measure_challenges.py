"""Chapter 10's measured numbers: the tiny scaling experiment and the canaries.

    python scripts/measure_challenges.py --out coursekit/challenges_measured.json

Scaling: five widths of a 2-block character-level GPT, each trained for the same compute
(``COMPUTE`` FLOPs by ``6 N_mm + 12 L T C`` per token) on 2 M characters of Shakespeare, its
validation loss read at 8 log-spaced points. Each width's learning rate is tuned: the rates of
``LRS`` train to the 6th point and the best one continues (``scaling_sweep``). Canaries: ten secrets "the code of NAME is DDDD"
planted 0, 0, 1, 1, 4, 4, 16, 16, 64, 64 times into 150,000 characters of Shakespeare; a width-128
GPT trained for ``EPOCHS`` passes; then the same text deduplicated, and the original text for
fewer passes (the two mitigations). Each canary run also scores 40 never-planted names (the
empirical chance level) and reports its validation loss. About 25 to 30 minutes at 1 thread (fp32
matmul ~65-77 GFLOP/s; 30 minutes on a busy shared machine).
The chapter reads the file through ``coursekit.challenges.measured_challenges`` and reruns one
width's first points live.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import torch

import coursekit
from coursekit.challenges import RunSettings, canary_run, scaling_sweep
from coursekit.report import cpu_model, matmul_gflops

WIDTHS = (16, 24, 32, 64, 128)
LRS = (1e-3, 2e-3, 4e-3)
COMPUTE = 2e12
CANARY_WIDTH = 128
EPOCHS = 10.0
FEW_EPOCHS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("coursekit/challenges_measured.json"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result: dict = {
        "machine": {
            "cpu": cpu_model(),
            "threads": args.threads,
            "torch": torch.__version__,
            "matmul_gflops": round(matmul_gflops(), 1),
            "date": datetime.date.today().isoformat(),
            "coursekit": coursekit.__version__,
        },
        "command": "python scripts/measure_challenges.py --out coursekit/challenges_measured.json",
        "scaling": {"compute": COMPUTE, "lrs": list(LRS), "runs": []},
        "canaries": {},
    }
    partial = Path(".cache/challenges_partial.json")  # the runs so far, while it runs
    partial.parent.mkdir(exist_ok=True)
    settings = RunSettings(embed_dim=CANARY_WIDTH)
    for name, kwargs in (
        ("planted", {"epochs": EPOCHS}),
        ("deduplicated", {"epochs": EPOCHS, "dedup": True}),
        ("fewer_epochs", {"epochs": FEW_EPOCHS}),
    ):
        t = time.perf_counter()
        run = canary_run(settings, **kwargs)
        run["seconds"] = round(time.perf_counter() - t, 1)
        result["canaries"][name] = run
        summary = [(c["repeats"], round(c["exposure"], 1), c["extracted"]) for c in run["canaries"]]
        print(f"{name}: {summary} in {run['seconds']} s", flush=True)
        partial.write_text(json.dumps(result, indent=1) + "\n")
    for width in WIDTHS:
        t = time.perf_counter()
        run = scaling_sweep(RunSettings(embed_dim=width), COMPUTE, LRS)
        run["seconds"] = round(time.perf_counter() - t, 1)
        result["scaling"]["runs"].append(run)
        lr = run["settings"]["lr"]
        print(f"width {width} (lr {lr}): {run['points'][-1]} in {run['seconds']} s", flush=True)
        partial.write_text(json.dumps(result, indent=1) + "\n")
    result["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
