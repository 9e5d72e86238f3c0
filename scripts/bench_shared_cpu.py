"""Benchmark: one chapter-sized training loop alone, and two at once, under each OpenMP setting.

Why: a kernel's idle OpenMP threads spin while they wait for work. Alone that is fast; beside a
second busy kernel on the same cores the spinning threads steal the cores the other kernel's
threads need, and a 2 s loop took 423 s (issue 10). This script measures, for each candidate
setting, a coursekit LSTM training loop (B32, T64, I64, H128, cross-entropy, Adam; 150 steps at 2
threads) alone and two at once (two processes told to start at the same instant), and prints

- pair/alone: the slower of the two processes at once / the same setting alone (target <= 2.5),
- alone/default: alone with this setting / alone with GNU OpenMP's default waiting (target ~1).

Each setting runs in two long-lived worker processes (the variables are read when torch loads,
so each setting needs its own process). Every round measures all settings in a shuffled order,
alone then paired, so load from elsewhere on the machine hits the settings alike; the table shows
medians and ranges over rounds. A run that would take longer than --cap seconds stops early and
its time is extrapolated from the steps it finished (marked "~").

    .venv/bin/python scripts/bench_shared_cpu.py            # about 3-4 minutes on 2 idle cores
    .venv/bin/python scripts/bench_shared_cpu.py --quick    # about a minute

Not a test: it prints. Do not prefix it with OMP_NUM_THREADS & co.: it sets them per worker.
Its last line names the least spinning setting that meets both targets on this machine.

Measured on the course's 2-core machine (Intel, idle before the run), 150 steps, medians of 3
rounds, alone / two at once: GNU OpenMP's default 2.85 s / 6.9 s (2.4x), PASSIVE 6.2 s / 9.8 s,
GOMP_SPINCOUNT=1000 5.0 s / 11.0 s, 3000 3.5 s / 13.5 s, 10000 2.9 s / 21 s, 1 thread 2.9 s /
3.6 s. Beside 3-6 other busy processes (load average 5-11) two at once took: default 755 s,
10000 88 s, 3000 29 s, 1000 14-19 s, PASSIVE 12 s, 1 thread 11 s. Hence coursekit's choice
(coursekit/_compat.py): OpenMP's default, unless COURSEKIT_SHARED=1 declares the machine shared,
and then 1 thread with PASSIVE waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

# Variables that change how torch's threads run; each worker starts with none of them but its own.
_CLEARED = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "COURSEKIT_NUM_THREADS",
    "COURSEKIT_SHARED",
)


@dataclass
class Setting:
    name: str
    env: dict[str, str]
    threads: int = 2
    coursekit_first: bool = False  # import coursekit before torch, so coursekit picks the waiting
    alone: list[float] = field(default_factory=list)  # seconds per step, one per round
    pair: list[float] = field(default_factory=list)
    capped: bool = False


def candidates(quick: bool, spins: list[int] | None = None) -> list[Setting]:
    if spins is None:
        spins = [] if quick else [1000, 3000, 10000]
    out = [Setting("GNU OpenMP default", {})]  # libgomp: 300000 spins (a few ms), then sleep
    out += [Setting("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"})]
    out += [Setting(f"GOMP_SPINCOUNT={n}", {"GOMP_SPINCOUNT": str(n)}) for n in spins]
    out += [Setting("1 thread", {}, threads=1)]
    shared = {"COURSEKIT_SHARED": "1"}  # what coursekit then chooses: 1 thread, PASSIVE
    out += [Setting("COURSEKIT_SHARED=1", shared, threads=1, coursekit_first=True)]
    return out


# --- worker: one process, one setting -------------------------------------------------------


def worker(threads: int, coursekit_first: bool) -> None:
    import warnings

    if coursekit_first:
        import coursekit  # noqa: F401  (sets the OpenMP waiting before torch loads)
    import torch

    with warnings.catch_warnings():  # "torch was imported before coursekit": on purpose here
        warnings.simplefilter("ignore")
        from coursekit.nn import LSTM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch, steps, width, hidden, classes = 32, 64, 64, 128, 64
    lstm, head = LSTM(width, hidden), torch.nn.Linear(hidden, classes)
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.randn(batch, steps, width)
    y = torch.randint(0, classes, (batch, steps))

    def step() -> None:
        out, _ = lstm(x)
        loss = torch.nn.functional.cross_entropy(head(out).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command != "run":
            return
        n, cap = int(args[0]), float(args[1])
        start = time.perf_counter()
        done = 0
        while done < n and (done == 0 or time.perf_counter() - start < cap):
            step()
            done += 1
        seconds = time.perf_counter() - start
        print(json.dumps({"steps": done, "seconds": seconds}), flush=True)


# --- parent: start the workers, interleave the rounds, print the table ----------------------


def start(setting: Setting) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(setting.env)
    command = [sys.executable, __file__, "--worker", str(setting.threads)]
    if setting.coursekit_first:
        command.append("--coursekit-first")
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def run(procs: list[subprocess.Popen], steps: int, cap: float) -> list[tuple[float, bool]]:
    """Tell every process to start now; (seconds per step, stopped early) for each."""
    for p in procs:
        p.stdin.write(f"run {steps} {cap}\n")
        p.stdin.flush()
    out = []
    for p in procs:
        reply = json.loads(p.stdout.readline())
        out.append((reply["seconds"] / reply["steps"], reply["steps"] < steps))
    return out


def summary(values: list[float], steps: int) -> str:
    s = [v * steps for v in values]
    return f"{statistics.median(s):7.2f} [{min(s):.2f}-{max(s):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer settings, steps and rounds")
    parser.add_argument("--steps", type=int, help="training steps per run (default 150; quick 60)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 2)")
    parser.add_argument("--cap", type=float, help="stop a run after this many s (default 8; 4)")
    parser.add_argument("--spins", type=int, nargs="+", help="GOMP_SPINCOUNT values to try")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--coursekit-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.coursekit_first)
        return
    steps = args.steps or (60 if args.quick else 150)
    rounds = args.rounds or (2 if args.quick else 3)
    cap = args.cap or (4.0 if args.quick else 8.0)
    settings = candidates(args.quick, args.spins)
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    print(
        f"cores: {os.cpu_count()} | load average before: {load_before:.2f} | "
        f"{steps} steps per run, {rounds} rounds, runs stopped after {cap:.0f} s",
        flush=True,
    )
    procs = {s.name: [start(s), start(s)] for s in settings}
    for pair in procs.values():
        for p in pair:
            if p.stdout.readline().strip() != "ready":
                sys.exit(f"a worker failed to start (exit code {p.wait()})")
    order = random.Random(0)
    try:
        for r in range(rounds):
            order.shuffle(settings)
            for s in settings:
                a, b = procs[s.name]
                (alone, early), *_ = run([a], steps, cap)
                both = run([a, b], steps, cap)
                s.alone.append(alone)
                s.pair.append(max(t for t, _ in both))
                s.capped |= early or any(e for _, e in both)
            print(f"round {r + 1}/{rounds} done at {time.perf_counter() - began:.0f} s", flush=True)
    finally:
        for pair in procs.values():
            for p in pair:
                p.stdin.close()
                p.wait()
    settings.sort(key=lambda s: list(procs).index(s.name))
    default = settings[0]
    print(
        f"\nseconds for {steps} steps, median [range] over {rounds} rounds; load average after: "
        f"{os.getloadavg()[0]:.2f} (above ~0.5 before the run: another process shared the cores)"
    )
    print(
        f"{'setting':32} {'alone s':>20} {'two at once s':>20} {'pair/alone':>11} {'alone/default':>14}"
    )
    for s in settings:
        ratio = statistics.median(p / a for p, a in zip(s.pair, s.alone, strict=True))
        vs_default = statistics.median(a / d for a, d in zip(s.alone, default.alone, strict=True))
        mark = "~" if s.capped else " "
        print(
            f"{s.name:32} {summary(s.alone, steps):>20} {summary(s.pair, steps):>19}{mark} "
            f"{ratio:10.2f}x {vs_default:13.2f}x"
        )
    print(f"\ntotal {time.perf_counter() - began:.0f} s; ~ = some runs stopped early, extrapolated")
    print(recommend(settings))


def recommend(settings: list[Setting], target: float = 2.5, slack: float = 1.05) -> str:
    """The least spinning 2-thread setting that meets both targets, in one sentence.

    Targets: two at once within ``target`` x of alone, and alone within ``slack`` x of the
    default's time alone. Settings are tried from the least spinning (PASSIVE, 0 spins) up.
    """
    default = settings[0]

    def ratios(s: Setting) -> tuple[float, float]:
        pair = statistics.median(p / a for p, a in zip(s.pair, s.alone, strict=True))
        alone = statistics.median(a / d for a, d in zip(s.alone, default.alone, strict=True))
        return pair, alone

    def spins(s: Setting) -> float:
        if s.env.get("OMP_WAIT_POLICY") == "PASSIVE":
            return 0
        return float(s.env.get("GOMP_SPINCOUNT", "inf"))

    tried = sorted((s for s in settings if s.threads > 1), key=spins)
    for s in tried:
        pair, alone = ratios(s)
        if pair <= target and alone <= slack:
            return (
                f"least spinning setting that meets both targets: {s.name} (two at once "
                f"{pair:.2f}x alone, alone {alone:.2f}x the default); valid only if the load "
                f"average before the run was below ~0.5"
            )
    return f"no 2-thread setting met both targets (two at once <= {target}x, alone <= {slack}x)"


if __name__ == "__main__":
    main()
