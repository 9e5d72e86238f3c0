"""Benchmark: coursekit's GPT against nanoGPT's CPU "baby GPT" run on the course's Shakespeare.

Issue 13's performance bar, measured in one run on one machine (absolute times differ about 2x
between machines of the same kind, so only the ratios and the same-run comparisons count):

1. nanoGPT's README CPU command (4 layers, 4 heads, width 128, block 64, batch 12, 2,000
   iterations, no dropout), run by nanoGPT's own ``train.py`` from a local checkout on the
   course's split (``shakespeare_tiny``: train -> its ``train.bin``, valid -> ``val.bin``). Its
   wall time is the reference time; its checkpoint is scored on the full validation split.
2. coursekit's GPT at nanoGPT's exact config and schedule, trained by ``coursekit.train``:
   tokens per second of training (evaluation excluded) as a ratio to nanoGPT's. Target >= 1.1x.
3. coursekit's GPT with the course's own config and schedule (:data:`COURSE_RUN`: a 3x higher
   peak learning rate, 50 warm-up steps), trained for nanoGPT's wall time (which includes its
   start-up and its 9 evaluations; the cosine decay runs over that time, whatever the step time).
   Target: validation loss <= 1.88.

Validation loss is always the mean over every non-overlapping 64-character window of the valid
split (Macbeth), in nats per character, computed the same way for both models.

    .venv/bin/python scripts/bench_gpt.py --nanogpt ../nanoGPT          # the full bar, ~9 min
    .venv/bin/python scripts/bench_gpt.py --nanogpt ../nanoGPT --quick  # 300 steps, a first look
    .venv/bin/python scripts/bench_gpt.py --reference-seconds 93.5      # without a checkout

nanoGPT is never vendored: pass a checkout (``git clone https://github.com/karpathy/nanoGPT``).
Run nothing else CPU-heavy beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from coursekit.data import CharTokenizer, lm_windows, load_text, random_lm_batch
from coursekit.nn import GPT, GPTConfig
from coursekit.report import cpu_model, matmul_gflops
from coursekit.train import train, warmup_cosine

BLOCK = 64  # nanoGPT's CPU block size; the validation windows have this length too


@dataclass(frozen=True)
class Run:
    """A model size, a batch and an AdamW schedule (nanoGPT's names where it has one)."""

    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    batch_size: int = 12
    block_size: int = BLOCK
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    beta2: float = 0.99
    weight_decay: float = 0.1
    grad_clip: float = 1.0


NANOGPT_RUN = Run()
COURSE_RUN = Run(learning_rate=3e-3, min_lr=3e-4, warmup_iters=50)

NANOGPT_ARGS = [
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]


def course_data() -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    train_text = load_text("shakespeare_tiny", "train")
    valid_text = load_text("shakespeare_tiny", "valid")
    tok = CharTokenizer.train(train_text)
    as_ids = lambda text: torch.tensor(tok.encode(text), dtype=torch.long)  # noqa: E731
    return tok, as_ids(train_text), as_ids(valid_text)


@torch.no_grad()
def valid_loss(logits_of, valid_ids: torch.Tensor, batch: int = 256) -> float:
    """Mean nats per character over every non-overlapping ``BLOCK``-character window."""
    x, y = lm_windows(valid_ids, BLOCK)  # (N, T) each
    total = 0.0
    for i in range(0, len(x), batch):
        logits = logits_of(x[i : i + batch])  # (b, T, V)
        total += F.cross_entropy(logits.flatten(0, 1), y[i : i + batch].flatten(), reduction="sum")
    return float(total) / y.numel()


def run_nanogpt(checkout: Path, steps: int, threads: int, tok, train_ids, valid_ids) -> dict:
    """nanoGPT's own train.py on the course's split, in a scratch folder; returns its numbers."""
    work = Path(tempfile.mkdtemp(prefix="bench-nanogpt-"))
    data = work / "data" / "course_shakespeare"
    data.mkdir(parents=True)
    train_ids.numpy().astype(np.uint16).tofile(data / "train.bin")
    valid_ids.numpy().astype(np.uint16).tofile(data / "val.bin")
    with open(data / "meta.pkl", "wb") as f:  # nanoGPT's own format for the vocabulary size
        pickle.dump({"vocab_size": tok.vocab_size}, f)
    shutil.copy(checkout / "configurator.py", work)  # train.py execs it from the working folder
    command = [
        sys.executable,
        str(checkout / "train.py"),
        str(checkout / "config" / "train_shakespeare_char.py"),
        *NANOGPT_ARGS,
        f"--max_iters={steps}",
        "--dataset=course_shakespeare",
        f"--out_dir={work / 'out'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    out = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"nanoGPT failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    times = {
        int(m[1]): float(m[2]) / 1000
        for m in re.finditer(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", out.stdout)
    }
    evals = [float(m[1]) for m in re.finditer(r"val loss ([\d.]+)", out.stdout)]
    # Iteration 0 and each iteration that follows an evaluation include that evaluation.
    step_times = [t for i, t in times.items() if i % 250 != 0]
    sys.path.insert(0, str(checkout))
    try:
        from model import GPT as NanoGPT  # nanoGPT's model.py, from the checkout
        from model import GPTConfig as NanoConfig
    finally:
        sys.path.pop(0)
    ckpt = torch.load(work / "out" / "ckpt.pt", map_location="cpu", weights_only=True)
    model = NanoGPT(NanoConfig(**ckpt["model_args"]))
    state = {k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()}
    model.load_state_dict(state)
    model.eval()
    loss = valid_loss(lambda x: model(x, x)[0], valid_ids)  # targets given: logits everywhere
    shutil.rmtree(work)
    return {
        "wall_seconds": wall,
        "tokens_per_second": NANOGPT_RUN.batch_size * BLOCK / statistics.median(step_times),
        "own_val_estimate": evals[-1] if evals else None,
        "checkpoint_iter": ckpt["iter_num"],
        "valid_loss": loss,
    }


def time_cosine(optimizer, warmup: int, seconds: float, min_ratio: float):
    """Warm-up for ``warmup`` steps, then cosine decay to ``min_ratio`` over ``seconds`` of wall
    time: a schedule for a time budget, whatever the step time turns out to be on this machine."""
    started = time.perf_counter()

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = min(1.0, (time.perf_counter() - started) / seconds)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * done))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def run_course(
    run: Run, steps: int, tok, train_ids, valid_ids, time_limit=None, variant="gpt2", seed=0
) -> dict:
    """coursekit's GPT trained by coursekit.train with ``run``'s schedule (nanoGPT's recipe:
    AdamW, weight decay on matrices only, warm-up then cosine to ``min_lr``, clip 1.0); with a
    ``time_limit`` the cosine runs over that many seconds and ``steps`` is only an upper bound.
    ``variant="llama"`` builds :meth:`GPTConfig.llama` at the same size."""
    torch.manual_seed(1337 + seed)
    make = GPTConfig.llama if variant == "llama" else GPTConfig
    config = make(
        vocab_size=tok.vocab_size,
        context_size=run.block_size,
        embed_dim=run.n_embd,
        num_heads=run.n_head,
        num_layers=run.n_layer,
    )
    model = GPT(config)
    model.check_ids = False  # the ids come from the tokenizer: skip the host read per step
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": run.weight_decay}, {"params": rest, "weight_decay": 0}],
        lr=run.learning_rate,
        betas=(0.9, run.beta2),
        fused=True,
    )
    min_ratio = run.min_lr / run.learning_rate
    if time_limit is None:
        scheduler = warmup_cosine(optimizer, run.warmup_iters, steps, min_ratio)
    else:
        scheduler = time_cosine(optimizer, run.warmup_iters, time_limit, min_ratio)
    g = torch.Generator().manual_seed(seed)
    history = train(
        model,
        lambda i: random_lm_batch(train_ids, run.batch_size, run.block_size, generator=g),
        optimizer=optimizer,
        steps=steps,
        scheduler=scheduler,
        clip_grad_norm=run.grad_clip,
        generators=[g],
        time_limit=time_limit,
        progress=False,
        live_plot=False,
    )
    seconds = np.diff([0.0, *history.seconds])
    return {
        "steps": len(history.step),
        "train_seconds": history.seconds[-1],
        "tokens_per_second": run.batch_size * run.block_size / float(np.median(seconds[1:])),
        "valid_loss": valid_loss(model, valid_ids),
        "parameters": model.num_parameters(),
    }


def run_variants(steps: int, lrs: list[float], seeds: int, tok, train_ids, valid_ids) -> dict:
    """GPT-2's and Llama's recipe at the same size, batches and schedule: each variant's best peak
    learning rate from ``lrs`` (seed 0), then that rate over ``seeds`` seeds."""
    out = {"steps": steps, "lr_grid": {}, "runs": {}}
    for variant in ("gpt2", "llama"):
        grid = {}
        for lr in lrs:
            run = Run(learning_rate=lr, min_lr=lr / 10, warmup_iters=50)
            grid[lr] = run_course(run, steps, tok, train_ids, valid_ids, variant=variant)
            print(f"  {variant} lr {lr:g}: valid {grid[lr]['valid_loss']:.4f}", flush=True)
        best = min(grid, key=lambda lr: grid[lr]["valid_loss"])
        run = Run(learning_rate=best, min_lr=best / 10, warmup_iters=50)
        runs = [grid[best]] + [
            run_course(run, steps, tok, train_ids, valid_ids, variant=variant, seed=s)
            for s in range(1, seeds)
        ]
        out["lr_grid"][variant] = {str(lr): r["valid_loss"] for lr, r in grid.items()}
        out["runs"][variant] = {
            "learning_rate": best,
            "valid_loss": [r["valid_loss"] for r in runs],
            "tokens_per_second": [r["tokens_per_second"] for r in runs],
            "parameters": runs[0]["parameters"],
        }
        losses = ", ".join(f"{r['valid_loss']:.4f}" for r in runs)
        print(f"{variant}: best lr {best:g}, valid loss over {seeds} seeds: {losses}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, help="a local nanoGPT checkout (the reference)")
    parser.add_argument(
        "--reference-seconds", type=float, help="nanoGPT's wall time, without a checkout"
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="300 steps instead of 2,000")
    parser.add_argument("--course-only", action="store_true", help="skip the nanoGPT-config run")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="only GPT-2 vs Llama recipe (lr grid, then seeds), added to the --out file",
    )
    parser.add_argument("--variant-steps", type=int, default=800)
    parser.add_argument("--variant-lrs", type=float, nargs="+", default=[2e-3, 3e-3, 5e-3])
    parser.add_argument("--variant-seeds", type=int, default=3)
    parser.add_argument(
        "--out",
        type=Path,
        help="write the numbers as JSON here (chapter 08 reads "
        "coursekit/pretraining_measured.json)",
    )
    args = parser.parse_args()
    if args.variants:
        torch.set_num_threads(args.threads)
        tok, train_ids, valid_ids = course_data()
        variants = run_variants(args.variant_steps, args.variant_lrs, args.variant_seeds, tok,
                                train_ids, valid_ids)  # fmt: skip
        if args.out:
            stored = json.loads(args.out.read_text()) if args.out.exists() else {}
            args.out.write_text(json.dumps({**stored, "variants": variants}, indent=1) + "\n")
        return
    if args.nanogpt is None and args.reference_seconds is None:
        parser.error("give --nanogpt CHECKOUT (a clone of karpathy/nanoGPT) or --reference-seconds")
    steps = 300 if args.quick else args.steps
    torch.set_num_threads(args.threads)
    tok, train_ids, valid_ids = course_data()
    machine = {
        "cpu": cpu_model(),
        "threads": args.threads,
        "torch": torch.__version__,
        "fp32_matmul_gflops": round(matmul_gflops(args.threads)),
        "date": date.today().isoformat(),
    }
    print(
        f"{machine['cpu']}, {args.threads} thread(s), torch {torch.__version__}, fp32 matmul "
        f"{machine['fp32_matmul_gflops']} GFLOP/s; vocab {tok.vocab_size}, "
        f"{len(train_ids):,} train / {len(valid_ids):,} valid characters"
    )
    results: dict = {"machine": machine, "steps": steps}
    if args.nanogpt is not None:
        nano = run_nanogpt(args.nanogpt, steps, args.threads, tok, train_ids, valid_ids)
        results["nanogpt"] = nano
        reference = nano["wall_seconds"]
        print(
            f"nanoGPT  {steps} iters: wall {nano['wall_seconds']:.1f} s, "
            f"{nano['tokens_per_second']:,.0f} tokens/s, valid loss {nano['valid_loss']:.4f} "
            f"(its own 20-batch estimate {nano['own_val_estimate']})"
        )
    else:
        reference = args.reference_seconds
        print(f"nanoGPT  reference wall time given: {reference:.1f} s")
    if not args.course_only:
        same = run_course(NANOGPT_RUN, steps, tok, train_ids, valid_ids)
        results["course_nanogpt_config"] = same
        line = (
            f"coursekit at nanoGPT's config: {same['train_seconds']:.1f} s of training, "
            f"{same['tokens_per_second']:,.0f} tokens/s, valid loss {same['valid_loss']:.4f}"
        )
        if "nanogpt" in results:
            ratio = same["tokens_per_second"] / results["nanogpt"]["tokens_per_second"]
            results["throughput_ratio"] = ratio
            line += f"; throughput {ratio:.2f}x nanoGPT's (target >= 1.1x: {ratio >= 1.1})"
        print(line)
    own = run_course(COURSE_RUN, 10**9, tok, train_ids, valid_ids, time_limit=reference)
    results["course_own"] = {**own, "run": asdict(COURSE_RUN), "reference_seconds": reference}
    print(
        f"coursekit, own config {asdict(COURSE_RUN)}: {own['steps']} steps in "
        f"{own['train_seconds']:.1f} s (budget {reference:.1f} s), valid loss "
        f"{own['valid_loss']:.4f} (target <= 1.88: {own['valid_loss'] <= 1.88})"
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
