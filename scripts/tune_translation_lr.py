"""Chapter 06's learning-rate grid, measured again: both models of the chapter (the GRU
encoder-decoder without and with additive attention, embedding 64, width 256, batch 64), each
trained for the chapter's 230 steps (two epochs) at every rate of the grid, with the chapter's
warm-up-cosine schedule, and scored by validation loss (nats per target token).

    python scripts/tune_translation_lr.py --out coursekit/translation_lr_grid.json

A run counts as "diverged" when its final validation loss is not finite or is above its first
evaluation's. The chapter reads the file through ``coursekit.translation.measured_lr_grid`` and
prints it as a table; about 12 runs of 20-60 s each on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from coursekit.nn import RNNSeq2Seq, RNNSeq2SeqConfig
from coursekit.seq2seq import seq2seq_loss
from coursekit.train import train, warmup_cosine
from coursekit.translation import load_translation_task, measurement_header

LR_GRID = (1.5e-3, 3e-3, 6e-3, 1.2e-2, 2.4e-2, 4.8e-2)  # a factor of 2 apart
MODELS = {"no attention": "none", "attention": "additive"}
BATCH, EPOCHS, EMBED, HIDDEN = 64, 2, 64, 256


def make(attention: str, vocab_size: int) -> RNNSeq2Seq:
    torch.manual_seed(0)
    config = RNNSeq2SeqConfig(vocab_size, embed_dim=EMBED, hidden_size=HIDDEN,
                              attention=attention, attention_size=64)  # fmt: skip
    return RNNSeq2Seq(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = load_translation_task("bible_kjv_web", max_tokens=20, min_freq=2)
    vocab_size = task.tokenizer.vocab_size
    train_batches = task.batches("train", batch_size=BATCH, seed=0)
    steps = EPOCHS * len(train_batches)
    valid_batches = task.loader("valid")
    result = {
        **measurement_header(task, args.threads),
        "steps": steps,
        "batch": BATCH,
        "grid": list(LR_GRID),
        "runs": [],
    }
    for name, attention in MODELS.items():
        for lr in LR_GRID:
            model = make(attention, vocab_size)
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
            start = time.perf_counter()
            history = train(
                model, train_batches, optimizer=optimizer, loss_fn=seq2seq_loss, steps=steps,
                scheduler=warmup_cosine(optimizer, warmup=steps // 10, total=steps),
                valid_batches=valid_batches, eval_every=steps // 4, clip_grad_norm=1.0,
                progress=False, live_plot=False,
            )  # fmt: skip
            losses = [float(x) for x in history.valid_loss]
            final = losses[-1]
            diverged = not math.isfinite(final) or final > losses[0]
            run = {
                "model": name,
                "lr": lr,
                "valid_loss": final if math.isfinite(final) else None,
                "valid_losses": [x if math.isfinite(x) else None for x in losses],
                "diverged": diverged,
                "seconds": round(time.perf_counter() - start, 1),
            }
            result["runs"].append(run)
            print(json.dumps(run), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
