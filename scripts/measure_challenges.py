"""Chapter 10's measured numbers: the tiny scaling experiment and the canaries.

    python scripts/measure_challenges.py --out coursekit/challenges_measured.json

Scaling: four widths of a 2-block character-level GPT, each trained for the same compute
(``COMPUTE`` FLOPs by ``6 N_mm + 12 L T C`` per token) on 2 M characters of Shakespeare, its
validation loss read at 8 log-spaced points. Canaries: ten secrets "the code of NAME is DDDD"
planted 0, 0, 1, 1, 4, 4, 16, 16, 64, 64 times into 150,000 characters of Shakespeare; a width-128
GPT trained for ``EPOCHS`` passes; then the same text deduplicated, and the original text for
fewer passes (the two mitigations). About 10 minutes at 1 thread (fp32 matmul ~65 GFLOP/s).
The chapter reads the file through ``coursekit.challenges.measured_challenges`` and reruns the
smallest width's first points live.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import torch

import coursekit
from coursekit.challenges import RunSettings, canary_run, scaling_run
from coursekit.report import cpu_model, matmul_gflops

WIDTHS = (32, 64, 128, 192)
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
        "scaling": {"compute": COMPUTE, "runs": []},
        "canaries": {},
    }
    for width in WIDTHS:
        t = time.perf_counter()
        run = scaling_run(RunSettings(embed_dim=width), COMPUTE)
        run["seconds"] = round(time.perf_counter() - t, 1)
        result["scaling"]["runs"].append(run)
        print(f"width {width}: {run['points'][-1]} in {run['seconds']} s", flush=True)
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
    result["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
