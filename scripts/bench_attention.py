"""Benchmark: forward+backward time of coursekit's causal attention and multi-head attention
against PyTorch's (``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``).

Chapter 07 quotes these ratios. Each pair runs in the same process, interleaved in alternating
order, and the ratio is the median of the paired rounds, so a burst of load from elsewhere on the
machine hits both sides alike (:mod:`coursekit.benchmark`). Not a test: it prints the ratios
and the targets of issue 12.

    .venv/bin/python scripts/bench_attention.py            # B=8, H=4, T=256, D=32, 2 threads
    .venv/bin/python scripts/bench_attention.py --quick --threads 1
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from coursekit.benchmark import paired_ratio
from coursekit.nn import MultiHeadAttention, attend, causal_mask


def measure(
    b: int = 8, h: int = 4, t: int = 256, d: int = 32, warmup: int = 3, repeats: int = 21
) -> list[tuple[str, float, float, float, float]]:
    """(pair, ours s, torch s, median paired ratio, target) for each pair, at the current
    thread count."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(b, h, t, d, requires_grad=True) for _ in range(3))
    sdpa = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    rows = [
        ("causal attend(impl='sdpa') / SDPA", lambda: attend(q, k, v, causal=True), sdpa, 1.1),
        (
            "causal attend(impl='naive') / SDPA",
            lambda: attend(q, k, v, causal=True, impl="naive"),
            sdpa,
            2.5,
        ),
    ]
    results = [
        (name, *paired_ratio(o, r, [q, k, v], warmup, repeats), target)
        for name, o, r, target in rows
    ]

    x = torch.randn(b, t, h * d, requires_grad=True)
    ref = nn.MultiheadAttention(h * d, h, batch_first=True)
    ours = MultiHeadAttention.from_torch(ref)
    blocked = ~causal_mask(t)  # torch's convention: True = masked out
    mha_rows = [
        (
            "MultiHeadAttention / nn.MHA(need_weights=False)",
            lambda: ref(x, x, x, attn_mask=blocked, need_weights=False, is_causal=True)[0],
        ),
        (
            "MultiHeadAttention / nn.MHA(default need_weights)",
            lambda: ref(x, x, x, attn_mask=blocked)[0],
        ),
    ]
    for name, theirs in mha_rows:
        mine = lambda: ours(x, is_causal=True)[0]  # noqa: E731
        leaves = [x, *ours.parameters(), *ref.parameters()]
        results.append((name, *paired_ratio(mine, theirs, leaves, warmup, repeats), 1.0))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="1 warm-up round, 7 timed rounds")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.repeats = 1, 7
    torch.set_num_threads(args.threads)
    b, h, t, d = args.batch, args.heads, args.steps, args.head_dim
    print(
        f"B={b} H={h} T={t} D={d}, forward+backward, {args.threads} thread(s), torch "
        f"{torch.__version__}; best of {args.repeats} rounds, ratio = median of paired rounds"
    )
    results = measure(b, h, t, d, args.warmup, args.repeats)
    print(f"{'pair':52s} {'ours ms':>8s} {'torch ms':>8s} {'ratio':>6s}  target")
    for name, mine_s, theirs_s, ratio, target in results:
        verdict = "ok" if ratio <= target else "OVER"
        print(
            f"{name:52s} {1e3 * mine_s:8.2f} {1e3 * theirs_s:8.2f} {ratio:6.2f}  <= {target} {verdict}"
        )


if __name__ == "__main__":
    main()
