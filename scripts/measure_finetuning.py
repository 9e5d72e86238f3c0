"""Chapter 09's measured numbers: the label-budget curve (the course's pretrained GPT fine-tuned
in full against the same architecture trained from scratch, at 20 / 100 / 500 / 4,800 labels)
and the learning-rate grids of the chapter's 100-step runs (full fine-tuning and LoRA).

    python scripts/measure_finetuning.py --out coursekit/finetuning_measured.json

Fairness: at every budget both sides get the same steps, batches and schedule
(``coursekit.finetune.finetune``), and each its own learning rate, the best of ``LR_GRID`` on the
*validation* split with seed 0; the curve reports *test* accuracy for seeds 0, 1, 2 at that
rate (the seed draws the labelled items, the head, the scratch body and the batch order). The
chapter reads the file through ``coursekit.finetune.measured_finetuning`` and reruns one point
live. About 20 minutes at 2 threads on a fast CPU (fp32 matmul ~200 GFLOP/s).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import coursekit
from coursekit.finetune import build_classifier, finetune, load_task, score
from coursekit.pretrain import load_pretrained
from coursekit.report import cpu_model

LR_GRID = (3e-4, 1e-3, 3e-3)
#: labels -> optimizer steps (batch min(32, labels)); the same for both sides.
BUDGETS = {20: 60, 100: 60, 500: 100, 4800: 300}
SEEDS = (0, 1, 2)
#: the chapter's 100-step runs on all 4,800 labels, and the rates tried for each mode.
TABLE_STEPS = 100
TABLE_GRID = {"full": (5e-4, 1e-3, 2e-3), "lora": (3e-3, 1e-2, 2e-2)}


def one_run(model, task, n, seed, lr, steps, mode="full", from_scratch=False) -> dict:
    items = task.budget(n, seed) if n < len(task.train) else task.train
    classifier = build_classifier(model, len(task.classes), mode, from_scratch=from_scratch,
                                  seed=seed)  # fmt: skip
    start = time.perf_counter()
    finetune(classifier, task, items, mode, lr=lr, steps=steps, batch_size=32, seed=seed)
    seconds = time.perf_counter() - start
    return {"valid": score(classifier, task, "valid"), "test": score(classifier, task, "test"),
            "seconds": round(seconds, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("coursekit/finetuning_measured.json"))
    args = parser.parse_args()
    coursekit.setup(verbose=False)
    threads = torch.get_num_threads()
    model, tokenizer = load_pretrained()
    task = load_task(tokenizer)
    machine = {"cpu": cpu_model(), "threads": threads, "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    result: dict = {"machine": machine, "lr_grid": list(LR_GRID), "seeds": list(SEEDS),
                    "budgets": BUDGETS, "curve": [], "table": {"steps": TABLE_STEPS, "grid": {}}}  # fmt: skip

    def save() -> None:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    for n, steps in BUDGETS.items():
        for side, scratch in (("pretrained", False), ("scratch", True)):
            grid = {lr: one_run(model, task, n, 0, lr, steps, from_scratch=scratch)
                    for lr in LR_GRID}  # fmt: skip
            best = max(LR_GRID, key=lambda lr: grid[lr]["valid"]["accuracy"])
            runs = [grid[best]] + [one_run(model, task, n, seed, best, steps, from_scratch=scratch)
                                   for seed in SEEDS[1:]]  # fmt: skip
            point = {
                "labels": n, "side": side, "steps": steps, "lr": best,
                "valid_by_lr": {str(lr): grid[lr]["valid"]["accuracy"] for lr in LR_GRID},
                "test_accuracy": [r["test"]["accuracy"] for r in runs],
                "test_macro_f1": [r["test"]["macro_f1"] for r in runs],
                "seconds": [r["seconds"] for r in runs],
            }  # fmt: skip
            result["curve"].append(point)
            print(json.dumps(result["curve"][-1]), flush=True)
            save()
    for mode, rates in TABLE_GRID.items():
        result["table"]["grid"][mode] = {
            str(lr): one_run(model, task, len(task.train), 0, lr, TABLE_STEPS, mode)["valid"]
            for lr in rates
        }
        print(mode, json.dumps(result["table"]["grid"][mode]), flush=True)
        save()


if __name__ == "__main__":
    main()
