"""Chapter 09's measured numbers: the label-budget curve (the course's pretrained GPT fine-tuned
in full against the same architecture trained from scratch, at 20 / 100 / 500 / 4,800 labels)
and the learning-rate grids of the chapter's 100-step runs (full fine-tuning and LoRA).

    python scripts/measure_finetuning.py --out coursekit/finetuning_measured.json

Fairness: at every budget both sides get the same steps, batches and schedule
(``coursekit.finetune.finetune``), and each its own learning rate, the best on the *validation*
split with seed 0: first of ``LR_GRID``, then, while the best is at an edge of the rates tried,
of the next rate outward on ``LR_LADDER`` (so the chosen rate is never an untested edge). The
curve reports *test* accuracy for seeds 0, 1, 2 at that rate (the seed draws the labelled items,
the head, the scratch body and the batch order). The chapter reads the file through
``coursekit.finetune.measured_finetuning`` and reruns one point live. About 25 minutes at 2
threads on a fast CPU (fp32 matmul ~200 GFLOP/s); ``--resume`` keeps the runs a file already
holds and only adds what the rules above still ask for.
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
#: the rates the search may extend to, in order, when the best so far is at an edge.
LR_LADDER = (3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
#: labels -> optimizer steps (batch min(32, labels)); the same for both sides.
BUDGETS = {20: 60, 100: 60, 500: 100, 4800: 300}
SEEDS = (0, 1, 2)
#: the chapter's 100-step runs on all 4,800 labels, and the rates tried for each mode.
TABLE_STEPS = 100
TABLE_GRID = {"full": (5e-4, 1e-3, 2e-3), "lora": (3e-3, 1e-2, 2e-2)}
TABLE_LADDER = {"full": (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3), "lora": (1e-3, 3e-3, 1e-2, 2e-2)}


def tune(valid_of, start, ladder, known: dict) -> float:
    """The rate with the best validation accuracy: ``start`` first, then the next rate of
    ``ladder`` past whichever edge is best, until the best is interior (or the ladder ends).
    ``known`` maps rates already measured to their accuracy and is filled in."""
    for lr in start:
        if lr not in known:
            known[lr] = valid_of(lr)
    while True:
        tried = sorted(known)
        best = max(tried, key=lambda lr: (known[lr], -lr))  # a tie goes to the smaller rate
        at = ladder.index(best)
        step = -1 if best == tried[0] else 1 if best == tried[-1] else 0
        if step == 0 or not 0 <= at + step < len(ladder) or ladder[at + step] in known:
            return best
        known[ladder[at + step]] = valid_of(ladder[at + step])


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
    parser.add_argument("--resume", action="store_true", help="keep the runs --out holds")
    args = parser.parse_args()
    coursekit.setup(verbose=False)
    threads = torch.get_num_threads()
    model, tokenizer = load_pretrained()
    task = load_task(tokenizer)
    old = json.loads(args.out.read_text(encoding="utf-8")) if args.resume else {}
    machine = {"cpu": cpu_model(), "threads": threads, "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    result: dict = {"machine": old.get("machine", machine), "lr_grid": list(LR_GRID),
                    "lr_ladder": list(LR_LADDER), "seeds": list(SEEDS), "budgets": BUDGETS,
                    "curve": [], "table": {"steps": TABLE_STEPS, "grid": {}}}  # fmt: skip
    if args.resume:
        result["resumed"] = machine
    old_points = {(p["labels"], p["side"]): p for p in old.get("curve", [])}

    def save() -> None:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    for n, steps in BUDGETS.items():
        for side, scratch in (("pretrained", False), ("scratch", True)):
            previous = old_points.get((n, side), {})
            known = {float(lr): a for lr, a in previous.get("valid_by_lr", {}).items()}
            fresh: dict[float, dict] = {}

            def valid_of(lr, n=n, steps=steps, scratch=scratch, fresh=fresh):
                fresh[lr] = one_run(model, task, n, 0, lr, steps, from_scratch=scratch)
                return fresh[lr]["valid"]["accuracy"]

            best = tune(valid_of, LR_GRID, LR_LADDER, known)
            if best not in fresh and previous.get("lr") == best:  # the old seeds stand
                point = {**previous, "valid_by_lr": {}}
            else:
                first = fresh[best] if best in fresh else one_run(
                    model, task, n, 0, best, steps, from_scratch=scratch)  # fmt: skip
                runs = [first] + [one_run(model, task, n, seed, best, steps, from_scratch=scratch)
                                  for seed in SEEDS[1:]]  # fmt: skip
                point = {
                    "labels": n, "side": side, "steps": steps, "lr": best,
                    "test_accuracy": [r["test"]["accuracy"] for r in runs],
                    "test_macro_f1": [r["test"]["macro_f1"] for r in runs],
                    "seconds": [r["seconds"] for r in runs],
                }  # fmt: skip
            point["valid_by_lr"] = {str(lr): known[lr] for lr in sorted(known)}
            result["curve"].append(point)
            print(json.dumps(point), flush=True)
            save()
    for mode, rates in TABLE_GRID.items():
        grid = old.get("table", {}).get("grid", {}).get(mode, {})
        scores = {float(lr): s for lr, s in grid.items()}

        def table_valid(lr, mode=mode, scores=scores):
            scores[lr] = one_run(model, task, len(task.train), 0, lr, TABLE_STEPS, mode)["valid"]
            return scores[lr]["accuracy"]

        known = {lr: s["accuracy"] for lr, s in scores.items()}
        tune(table_valid, rates, TABLE_LADDER[mode], known)
        result["table"]["grid"][mode] = {str(lr): scores[lr] for lr in sorted(scores)}
        print(mode, json.dumps(result["table"]["grid"][mode]), flush=True)
        save()


if __name__ == "__main__":
    main()
