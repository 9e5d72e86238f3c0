"""Chapter 06's stored translator: its attention RNN with copying (a pointer-generator, See et al.
2017), trained on the KJV → WEB pairs for longer than a chapter can afford, with dropout, and kept
at the evaluation with the best validation BLEU.

A chapter has about a minute to train in; this recipe takes about 17 minutes on one CPU thread. So
it is trained once, by the same code a learner can run (``python -m coursekit.translator --out
DIR``), and shipped in ``data/kjv_web_translator`` like the course's pretrained GPT. Chapter 06
decodes the held-out verses with it live and scores them against the two baselines.

>>> TranslatorRecipe(dropout=1.5)
Traceback (most recent call last):
...
ValueError: TranslatorRecipe: dropout must be in [0, 1), got 1.5.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coursekit.nn import RNNSeq2Seq, RNNSeq2SeqConfig
from coursekit.nn._checks import check_fraction, check_int
from coursekit.translation import (
    TranslationTask,
    load_translation_task,
    measurement_header,
    score,
    translate,
)

__all__ = [
    "FORMAT",
    "RECIPES_TRIED",
    "StoredTranslator",
    "TranslatorRecipe",
    "export_translator",
    "load_translator",
    "train_translator",
    "vocabulary_digest",
]

FORMAT = "coursekit.translator/1"
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "MODEL_CARD.md"
BUNDLED = ("kjv_web_translator_weights", "kjv_web_translator_config", "kjv_web_translator_card")
REBUILD = "python scripts/build_data.py --only kjv_web_translator_weights"


#: The recipes tried before the default was chosen (2026-12-07, one CPU thread each, two at a time;
#: seed 0; dropout, embedding, width, peak rate, steps): BLEU at each run's best validation
#: evaluation, greedy with ``<unk>`` replaced. The default is the one with the best validation BLEU;
#: the test scores were printed beside it, so the test split was seen, though not chosen on.
RECIPES_TRIED = (
    {"dropout": 0.3, "embed_dim": 128, "hidden_size": 256, "lr": 5e-3, "steps": 2000,
     "valid_BLEU": 58.0, "test_BLEU": 54.0},
    {"dropout": 0.2, "embed_dim": 64, "hidden_size": 256, "lr": 3e-3, "steps": 2000,
     "valid_BLEU": 56.6, "test_BLEU": 53.5},
    {"dropout": 0.4, "embed_dim": 128, "hidden_size": 256, "lr": 5e-3, "steps": 2500,
     "valid_BLEU": 59.7, "test_BLEU": 54.5},
    {"dropout": 0.35, "embed_dim": 128, "hidden_size": 384, "lr": 4e-3, "steps": 2000,
     "valid_BLEU": 57.8, "test_BLEU": 54.5},
)  # fmt: skip


@dataclass(frozen=True)
class TranslatorRecipe:
    """How the stored translator is trained: the model's size, AdamW with a linear warm-up and a
    cosine decay, batches of ``batch_size`` pairs (bucketed by length), and an evaluation every
    ``eval_every`` steps that keeps the weights with the best validation BLEU."""

    embed_dim: int = 128
    hidden_size: int = 256
    dropout: float = 0.4
    lr: float = 5e-3
    weight_decay: float = 0.01
    steps: int = 2500
    warmup: int = 250
    batch_size: int = 64
    eval_every: int = 250
    seed: int = 0
    max_tokens: int = 20

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("embed_dim", "hidden_size", "steps", "batch_size", "eval_every", "max_tokens"):
            check_int(owner, name, getattr(self, name))
        for name in ("warmup", "seed"):
            check_int(owner, name, getattr(self, name), minimum=0)
        check_fraction(owner, "dropout", self.dropout)
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}.")
        if self.warmup >= self.steps:
            raise ValueError(
                f"{owner}: warmup ({self.warmup}) must be shorter than steps ({self.steps})."
            )

    def model_config(self, vocab_size: int) -> RNNSeq2SeqConfig:
        return RNNSeq2SeqConfig(
            vocab_size,
            embed_dim=self.embed_dim,
            hidden_size=self.hidden_size,
            copy=True,
            dropout=self.dropout,
        )


@dataclass(frozen=True)
class StoredTranslator:
    """What :func:`load_translator` returns: the model (float32, eval mode), the task whose
    vocabulary it uses, the recipe, and what training measured (``results``)."""

    model: RNNSeq2Seq
    task: TranslationTask
    recipe: TranslatorRecipe
    results: dict[str, Any]


def vocabulary_digest(task: TranslationTask) -> str:
    """sha256 of the task's vocabulary, one word per line in id order: a stored model fits a
    task only if its ids mean the same words."""
    return hashlib.sha256("\n".join(task.tokenizer.itos).encode("utf-8")).hexdigest()


def _held_out(task: TranslationTask) -> dict[str, tuple[list[str], list[str]]]:
    return {s: tuple(map(list, zip(*task.pairs(s), strict=True))) for s in ("valid", "test")}


def _to_half(model: RNNSeq2Seq) -> dict[str, torch.Tensor]:
    return {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}


def train_translator(
    recipe: TranslatorRecipe = TranslatorRecipe(), *, progress: bool = False
) -> tuple[RNNSeq2Seq, TranslationTask, dict[str, Any]]:
    """Train the recipe; return the model at its best evaluation (rounded to float16, as it is
    shipped), the task, and the results: the validation curve, the chosen step, and the
    validation and test scores of the returned weights (greedy decoding, ``<unk>`` replaced)."""
    from coursekit.seq2seq import seq2seq_loss
    from coursekit.train import train, warmup_cosine

    task = load_translation_task("bible_kjv_web", max_tokens=recipe.max_tokens)
    held_out = _held_out(task)
    torch.manual_seed(recipe.seed)
    model = RNNSeq2Seq(recipe.model_config(len(task.tokenizer.itos)))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    curve: list[dict[str, float]] = []
    best: dict[str, Any] = {"bleu": -1.0}

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        valid = score(translate(m, task, held_out["valid"][0]), held_out["valid"][1])
        curve.append(dict(valid))  # its step and loss are added after training
        if valid["BLEU"] > best["bleu"]:
            best.update(bleu=valid["BLEU"], index=len(curve) - 1, state=_to_half(m))
        return {"bleu": valid["BLEU"]}

    start = time.perf_counter()
    history = train(
        model, task.batches("train", recipe.batch_size, seed=recipe.seed), optimizer=optimizer,
        loss_fn=seq2seq_loss, steps=recipe.steps, clip_grad_norm=1.0,
        scheduler=warmup_cosine(optimizer, warmup=recipe.warmup, total=recipe.steps),
        seed=recipe.seed, valid_batches=task.loader("valid"), eval_every=recipe.eval_every,
        eval_fn=evaluate, progress=progress, live_plot=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    steps = [int(s) for s in history.valid_step]
    for point, step, loss in zip(curve, steps, history.valid_loss, strict=True):
        point.update(step=step, valid_loss=float(loss))
    model.load_state_dict({k: v.float() for k, v in best["state"].items()})
    model.eval()
    results = {
        **measurement_header(task, torch.get_num_threads()),
        "vocabulary": {"size": len(task.tokenizer.itos), "sha256": vocabulary_digest(task)},
        "seconds": round(seconds, 1),
        "best_step": curve[best["index"]]["step"],
        "curve": curve,
        **{
            split: score(translate(model, task, src), ref) for split, (src, ref) in held_out.items()
        },
    }
    return model, task, results


def export_translator(
    model: RNNSeq2Seq, recipe: TranslatorRecipe, results: dict[str, Any], out: str | os.PathLike
) -> Path:
    """Write ``model.safetensors`` (float16), ``config.json`` (the model's config, the recipe and
    the results) and ``MODEL_CARD.md`` to the folder ``out``."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(_to_half(model), out / WEIGHTS, metadata={"format": FORMAT})
    record = {
        "format": FORMAT,
        "model": dataclasses.asdict(model.config),
        "recipe": dataclasses.asdict(recipe),
        "results": results,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (out / CONFIG).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    (out / CARD).write_text(_card(record), encoding="utf-8")
    return out


def load_translator(path: str | os.PathLike | None = None) -> StoredTranslator:
    """The stored translator, from ``path`` (a folder :func:`export_translator` wrote) or, by
    default, the bundled copy in ``data/kjv_web_translator`` (checked against its sha256).

    Raises:
        FileNotFoundError: a file is missing (says which, and how to rebuild it).
        ValueError: the folder holds another format, the weights are unreadable or do not fit
            the config, or the task's vocabulary is not the one the model was trained on.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    if path is None:
        from coursekit.data.bundled import bundled_path

        folder = bundled_path(BUNDLED[0]).parent
        bundled_path(BUNDLED[1])
    else:
        folder = Path(path)
    weights = folder / WEIGHTS
    if not weights.is_file() and weights.with_name(WEIGHTS + ".gz").is_file():
        weights = weights.with_name(WEIGHTS + ".gz")  # the bundled copy is gzip'd
    for file in (weights, folder / CONFIG):
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} is missing: a translator folder holds {WEIGHTS} and {CONFIG}, as "
                f"`python -m coursekit.translator --out {folder}` writes them (the bundled copy: "
                f"`{REBUILD}`)."
            )
    try:
        record = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{folder / CONFIG} is not readable JSON: {error}") from error
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        raise ValueError(
            f"{folder / CONFIG} has format {found!r}, not {FORMAT!r}: it was not written by "
            "coursekit.translator.export_translator."
        )
    recipe = TranslatorRecipe(**record["recipe"])
    config = RNNSeq2SeqConfig(**record["model"])
    task = load_translation_task("bible_kjv_web", max_tokens=recipe.max_tokens)
    vocabulary = record["results"]["vocabulary"]
    if vocabulary["sha256"] != vocabulary_digest(task):
        raise ValueError(
            f"{folder / CONFIG}: the model was trained on another vocabulary "
            f"({vocabulary['size']} words) than this course's KJV → WEB task builds "
            f"({len(task.tokenizer.itos)} words), so its ids would mean other words. Train it "
            f"again: `python -m coursekit.translator --out {folder}`."
        )
    try:
        raw = weights.read_bytes()
        state = load(gzip.decompress(raw) if weights.suffix == ".gz" else raw)
    except (SafetensorError, OSError, EOFError) as error:
        raise ValueError(f"{weights} is not a readable safetensors file: {error}") from error
    model = RNNSeq2Seq(config)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k])
    if set(state) != set(expected) or wrong:
        raise ValueError(
            f"{weights} does not fit the model of {CONFIG}: missing "
            f"{sorted(set(expected) - set(state))}, unexpected {sorted(set(state) - set(expected))}, "
            f"wrong shapes {wrong}. Both files must come from the same export."
        )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval()
    return StoredTranslator(model, task, recipe, record["results"])


def _card(record: dict[str, Any]) -> str:
    r, res = record["recipe"], record["results"]
    curve = ", ".join(f"{p['step']}: {p['BLEU']:.1f}" for p in res["curve"])
    machine = res["machine"]
    return f"""# Chapter 06's stored translator (KJV → WEB)

A GRU encoder-decoder with additive attention and copying (a pointer-generator, See et al. 2017;
`coursekit.nn.RNNSeq2Seq` with `copy=True`): embedding {r["embed_dim"]}, width {r["hidden_size"]},
{record["parameters"]:,} parameters, one shared word vocabulary of {res["vocabulary"]["size"]:,} words.

- **Data**: the train split of the bundled `bible_kjv_web` pairs with at most {r["max_tokens"]} word
  tokens a side ({res["task"]["train_pairs"]:,} pairs; see data/README.md for sources and licenses).
- **Training**: {r["steps"]:,} steps of {r["batch_size"]} pairs, AdamW (lr {r["lr"]:g}, weight decay
  {r["weight_decay"]:g}), {r["warmup"]} warm-up steps then cosine decay, gradient clipping at 1,
  dropout {r["dropout"]:g}, seed {r["seed"]}. Every {r["eval_every"]} steps the validation verses are
  decoded greedily and scored; the weights with the best validation BLEU are kept (step
  {res["best_step"]:,}). Validation BLEU by step: {curve}.
- **Time**: {res["seconds"] / 60:.0f} min on {machine["threads"]} CPU thread(s) ({machine["cpu"]},
  torch {machine["torch"]}, {machine["date"]}), evaluations included.
- **Scores** of the shipped float16 weights (greedy, `<unk>` replaced by the most-attended source
  word; sacrebleu): validation BLEU {res["valid"]["BLEU"]:.1f} / chrF {res["valid"]["chrF"]:.1f},
  test BLEU {res["test"]["BLEU"]:.1f} / chrF {res["test"]["chrF"]:.1f}.
- **Files**: `model.safetensors` (float16), `config.json` (the model's config, the recipe, these
  results).
- **Load it**: `coursekit.translator.load_translator()`.
- **Rebuild it**: `python -m coursekit.translator --out DIR` (or `{REBUILD}`). Deterministic on
  one machine at one thread count and torch version; elsewhere the sums run in another order and
  the scores differ slightly.
- **Limits**: a few thousand short verse pairs of one book: it modernises Bible English of the
  King James kind, and nothing else.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.translator",
        description="Train and export chapter 06's translator.",
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder to export to")
    parser.add_argument("--threads", type=int, default=1)
    fields = {f.name: f for f in dataclasses.fields(TranslatorRecipe)}
    for name, field in fields.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(field.default), default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
    recipe = TranslatorRecipe(**overrides)
    model, _, results = train_translator(recipe, progress=True)
    out = export_translator(model, recipe, results, args.out)
    print(
        f"best step {results['best_step']}: valid BLEU {results['valid']['BLEU']:.1f}, test BLEU "
        f"{results['test']['BLEU']:.1f}; wrote {out}"
    )


if __name__ == "__main__":
    main()
