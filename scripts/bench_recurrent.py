"""Benchmark: forward+backward time of the teaching RNN/LSTM/GRU loops against PyTorch's kernels.

Chapters 03-05 quote these ratios. Both implementations share one set of parameters and run in the
same process, interleaved, so the ratio is fair even on a noisy machine. Not a test: it prints.

    .venv/bin/python scripts/bench_recurrent.py            # B=32, I=64, H=256, 2 threads
    .venv/bin/python scripts/bench_recurrent.py --threads 1 --lengths 64 256 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from coursekit.nn import make_recurrent


def time_fwd_bwd(layer: torch.nn.Module, x: torch.Tensor) -> float:
    """Seconds for one forward and backward pass."""
    layer.zero_grad(set_to_none=True)
    start = time.perf_counter()
    out, _ = layer(x)
    out.sum().backward()
    return time.perf_counter() - start


def bench(kind: str, steps: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Best-of-N seconds (teaching, fused) and the median of the N paired ratios teaching/fused.

    Each round times both implementations back to back, in alternating order, so a burst of load
    from elsewhere on the machine hits both sides of that round's ratio alike.
    """
    torch.manual_seed(0)
    layer = make_recurrent(kind, args.input, args.hidden, num_layers=args.layers)
    x = torch.randn(args.batch, steps, args.input)
    times = {False: [], True: []}
    for _ in range(args.warmup):
        for fused in (False, True):
            layer.fused = fused
            time_fwd_bwd(layer, x)
    for repeat in range(args.repeats):
        for fused in (False, True) if repeat % 2 == 0 else (True, False):
            layer.fused = fused
            times[fused].append(time_fwd_bwd(layer, x))
    ratios = [ours / theirs for ours, theirs in zip(times[False], times[True], strict=True)]
    return min(times[False]), min(times[True]), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--kinds", nargs="+", default=["rnn", "lstm", "gru"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"forward+backward, B={args.batch}, I={args.input}, H={args.hidden}, L={args.layers}, "
        f"{args.threads} thread(s), torch {torch.__version__}; times: best of {args.repeats} rounds, "
        "ratio: median of the rounds' teaching/torch"
    )
    print(f"{'layer':6} {'T':>5} {'teaching ms':>12} {'torch ms':>10} {'ratio':>6} {'ms/step':>8}")
    per_step: dict[tuple[str, int], float] = {}
    for kind in args.kinds:
        for steps in args.lengths:
            ours, theirs, ratio = bench(kind, steps, args)
            per_step[kind, steps] = ours / steps
            print(
                f"{kind:6} {steps:5d} {ours * 1e3:12.1f} {theirs * 1e3:10.1f} "
                f"{ratio:6.2f} {ours / steps * 1e3:8.3f}"
            )
    if len(args.lengths) > 1:
        short, long = min(args.lengths), max(args.lengths)
        growth = ", ".join(
            f"{kind} {per_step[kind, long] / per_step[kind, short]:.2f}x" for kind in args.kinds
        )
        print(f"teaching time per step at T={long} relative to T={short}: {growth}")


if __name__ == "__main__":
    main()
