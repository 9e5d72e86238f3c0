"""Chapters 06 and 07's translation task at larger budgets than a chapter can afford: the models of
``coursekit.translation.LEARNING_RATES`` (chapter 06's attention RNN and its pointer-generator,
chapter 07's Transformer), trained for each step count from scratch (the cosine schedule is set by
the total), then scored with greedy decoding on the validation and test chapters, with the two
baselines beside them. With ``--lrs`` it runs a learning-rate grid at one budget instead.

    python scripts/bench_translation.py --steps 230 500 1000 2000 --out coursekit/translation_measured.json

(``--models Transformer --update`` measures one model again and keeps the other's runs.)

The chapters read the quality numbers from that file (``coursekit.translation.measured_budgets``);
they are too slow to rerun in a chapter (about 2 minutes for the RNN and 4.5 for the Transformer per
1,000 steps on one CPU thread). Timings taken beside another job are not comparable: only the
BLEU/chrF are used.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from coursekit.seq2seq import seq2seq_loss
from coursekit.train import train, warmup_cosine
from coursekit.translation import (
    LEARNING_RATES,
    SubstitutionBaseline,
    copy_baseline,
    load_translation_task,
    make_translation_model,
    measurement_header,
    score,
    translate,
)

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--models", nargs="+", default=list(LEARNING_RATES), choices=LEARNING_RATES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--lr", type=float, default=None,
        help="train the budgets at this learning rate instead of LEARNING_RATES' (for a rate "
        "tuned at 230 steps that is too high for longer runs)",
    )  # fmt: skip
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=None,
        help="instead of the budgets: a learning-rate grid at the first --steps, scored by the "
        "validation loss (and BLEU), stored under 'lr_grid'",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument(
        "--update", action="store_true",
        help="keep the runs already in --out, replacing only those measured again",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = load_translation_task("bible_kjv_web", max_tokens=20)
    V = len(task.tokenizer.itos)
    splits = {s: tuple(map(list, zip(*task.pairs(s), strict=True))) for s in ("valid", "test")}
    baseline = SubstitutionBaseline(task.train)
    result = {
        **measurement_header(task, args.threads),
        "baselines": {
            split: {
                "copy the input": score(copy_baseline(src), ref),
                "word substitution": score(baseline.translate(src), ref),
            }
            for split, (src, ref) in splits.items()
        },
        "runs": [],
    }
    print(json.dumps(result["baselines"], indent=1))

    def fit(name: str, steps: int, lr: float) -> tuple[torch.nn.Module, object, float]:
        model = make_translation_model(name, V)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        start = time.perf_counter()
        history = train(
            model, task.batches("train", BATCH, seed=0), optimizer=optimizer,
            loss_fn=seq2seq_loss, steps=steps, clip_grad_norm=1.0,
            scheduler=warmup_cosine(optimizer, warmup=steps // 10, total=steps), seed=0,
            valid_batches=task.loader("valid"), eval_every=steps, progress=False, live_plot=False,
        )  # fmt: skip
        return model, history, time.perf_counter() - start

    if args.lrs:
        result["lr_grid"] = []
        for name in args.models:
            for lr in args.lrs:
                model, history, seconds = fit(name, args.steps[0], lr)
                loss = history.valid_loss[-1]
                point = {"model": name, "steps": args.steps[0], "lr": lr,
                         "valid_loss": loss if math.isfinite(loss) else None,
                         "valid": score(translate(model, task, splits["valid"][0]), splits["valid"][1])}  # fmt: skip
                result["lr_grid"].append(point)
                print(json.dumps(point), flush=True)
    else:
        for steps in args.steps:
            for name in args.models:
                lr = LEARNING_RATES[name] if args.lr is None else args.lr
                model, _, seconds = fit(name, steps, lr)
                run = {"model": name, "steps": steps, "batch": BATCH, "lr": lr,
                       "seconds": round(seconds, 1)}  # fmt: skip
                for split, (src, ref) in splits.items():
                    run[split] = score(translate(model, task, src), ref)
                result["runs"].append(run)
                print(json.dumps(run), flush=True)
    if args.out:
        if args.update and args.out.exists():
            old = json.loads(args.out.read_text(encoding="utf-8"))
            for key, fields in (("runs", ("model", "steps", "lr")), ("lr_grid", ("model", "lr"))):
                new = result.get(key, [])
                seen = {tuple(r[f] for f in fields) for r in new}
                kept = [r for r in old.get(key, []) if tuple(r[f] for f in fields) not in seen]
                result[key] = sorted(
                    kept + new, key=lambda r, f=fields: (r[f[1]], r["model"], r["lr"])
                )
            result = {k: v for k, v in result.items() if v != []}
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
