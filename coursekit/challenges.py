"""Chapter 10's two training experiments, shared by the chapter (one point, live) and
``scripts/measure_challenges.py`` (all of them): a tiny scaling experiment and the planting of
canaries. Both train character-level GPTs (GPT-2 blocks, ``coursekit.train``) on Shakespeare.

Shapes: B batch, T steps, V vocab.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from coursekit.compute import gpt_flops_per_token
from coursekit.data import CharTokenizer, load_text
from coursekit.generate import generate
from coursekit.nn.transformer.gpt import GPT, GPTConfig
from coursekit.privacy import Canary, candidate_log_probs, exposure, make_canaries, plant, rank_of
from coursekit.report import read_measured
from coursekit.train import evaluate, train

__all__ = [
    "CANARY_NAMES",
    "CANARY_REPEATS",
    "RunSettings",
    "canary_run",
    "char_data",
    "measured_challenges",
    "scaling_run",
    "scaling_sweep",
]

MEASURED = Path(__file__).with_name("challenges_measured.json")
#: two canaries per repetition count, two never planted (the control).
CANARY_REPEATS = (0, 0, 1, 1, 4, 4, 16, 16, 64, 64)
CANARY_NAMES = ("ada", "ben", "cleo", "dov", "eli", "fay", "gus", "hana", "ivo", "jun")
#: never-planted names, each with a random code: the empirical chance level of exposure.
CONTROL_NAMES = tuple(
    a + b for a in ("ka", "lo", "mi", "nu", "ro") for b in ("b", "d", "m", "n", "r", "t", "v", "z")
)


@dataclass(frozen=True)
class RunSettings:
    """One character-level GPT run: its width and blocks, batch, window, rate and seed."""

    embed_dim: int = 64
    num_layers: int = 2
    num_heads: int = 4
    batch_size: int = 32
    seq_len: int = 64
    lr: float = 2e-3
    warmup: int = 20
    seed: int = 0

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(
            vocab_size=vocab_size,
            context_size=self.seq_len,
            embed_dim=self.embed_dim,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
        )


def char_data(train_chars: int, valid_chars: int = 50_000) -> tuple[CharTokenizer, str, str]:
    """``(tokenizer, train_text, valid_text)``: the first characters of Shakespeare's splits;
    the tokenizer knows every character of the whole corpus and the digits."""
    full = load_text("shakespeare_complete", "train")
    valid = load_text("shakespeare_complete", "valid")
    tok = CharTokenizer.train(full + valid + "0123456789")
    return tok, full[:train_chars], valid[:valid_chars]


def _windows(ids: Tensor, settings: RunSettings, generator: torch.Generator):
    def batch(_: int) -> tuple[Tensor, Tensor]:
        starts = torch.randint(
            0, len(ids) - settings.seq_len - 1, (settings.batch_size,), generator=generator
        )
        rows = torch.stack([ids[s : s + settings.seq_len + 1] for s in starts.tolist()])
        return rows[:, :-1], rows[:, 1:]  # (B, T) each

    return batch


def _fixed(ids: Tensor, settings: RunSettings, n: int) -> list[tuple[Tensor, Tensor]]:
    t = settings.seq_len
    rows = ids[: n * settings.batch_size * (t + 1)].view(n, settings.batch_size, t + 1)
    return [(r[:, :-1], r[:, 1:]) for r in rows]


def _optimizer(model: GPT, settings: RunSettings):
    """AdamW (no weight decay), linear warm-up then a constant rate: a run can stop anywhere."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    warm = max(1, settings.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
    return optimizer, scheduler


def _train(model: GPT, batches, steps: int, optimizer, scheduler):
    return train(
        model,
        batches,
        optimizer=optimizer,
        steps=steps,
        scheduler=scheduler,
        clip_grad_norm=1.0,
        progress=False,
        live_plot=False,
    )


def scaling_run(
    settings: RunSettings,
    compute: float,
    evals: int = 8,
    train_chars: int = 2_000_000,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train one size for ``compute`` FLOPs (``6 N_mm + 12 L T C`` per token) and return its
    validation losses at ``evals`` log-spaced points of compute (only the first ``stop_after``
    of them when given: a shorter rerun of the same run)."""
    tok, text, valid = char_data(train_chars)
    ids, valid_ids = torch.tensor(tok.encode(text)), torch.tensor(tok.encode(valid))
    torch.manual_seed(settings.seed)
    config = settings.gpt_config(tok.vocab_size)
    model = GPT(config)
    per_step = gpt_flops_per_token(config) * settings.batch_size * settings.seq_len
    steps = max(evals, int(compute // per_step))
    marks = sorted({max(1, round(steps ** ((i + 1) / evals))) for i in range(evals)})
    valid_batches = _fixed(valid_ids, settings, 8)
    points, done = [], 0
    generator = torch.Generator().manual_seed(settings.seed)
    batches = _windows(ids, settings, generator)
    optimizer, scheduler = _optimizer(model, settings)
    for mark in marks[:stop_after]:  # train to each mark in turn (one optimizer, one schedule)
        _train(model, batches, mark - done, optimizer, scheduler)
        done = mark
        loss = float(evaluate(model, valid_batches))
        points.append({"steps": mark, "flops": mark * per_step, "valid_loss": loss})
    return {
        "settings": asdict(settings),
        "points": points,
        "flops_per_step": per_step,
        "num_parameters": model.num_parameters(),
        "train_chars": len(text),
    }


def scaling_sweep(
    settings: RunSettings,
    compute: float,
    lrs: tuple[float, ...],
    evals: int = 8,
    select_at: int = 6,
    train_chars: int = 2_000_000,
) -> dict[str, Any]:
    """:func:`scaling_run` with the learning rate tuned: every rate in ``lrs`` trains to the
    ``select_at``-th of the ``evals`` points, and the one with the lowest validation loss there
    goes on to the full ``compute`` (the rate is constant after warm-up, so the shorter runs are
    exactly the first part of a full one). Returns the chosen run, plus ``lr_grid``: each rate's
    points up to the selection."""
    tok, text, valid = char_data(train_chars)
    ids, valid_ids = torch.tensor(tok.encode(text)), torch.tensor(tok.encode(valid))
    states = []
    for lr in lrs:
        s = RunSettings(**{**asdict(settings), "lr": lr})
        torch.manual_seed(s.seed)
        config = s.gpt_config(tok.vocab_size)
        model = GPT(config)
        generator = torch.Generator().manual_seed(s.seed)
        states.append(
            {
                "settings": s,
                "model": model,
                "batches": _windows(ids, s, generator),
                "opt": _optimizer(model, s),
                "points": [],
                "done": 0,
            }
        )
    per_step = (
        gpt_flops_per_token(states[0]["model"].config) * settings.batch_size * settings.seq_len
    )
    steps = max(evals, int(compute // per_step))
    marks = sorted({max(1, round(steps ** ((i + 1) / evals))) for i in range(evals)})
    valid_batches = _fixed(valid_ids, settings, 8)

    def advance(state, upto):
        for mark in upto:
            _train(state["model"], state["batches"], mark - state["done"], *state["opt"])
            state["done"] = mark
            loss = float(evaluate(state["model"], valid_batches))
            state["points"].append({"steps": mark, "flops": mark * per_step, "valid_loss": loss})

    for state in states:
        advance(state, marks[:select_at])
    chosen = min(states, key=lambda st: st["points"][-1]["valid_loss"])
    grid = {str(st["settings"].lr): [dict(p) for p in st["points"]] for st in states}
    advance(chosen, marks[select_at:])
    return {
        "settings": asdict(chosen["settings"]),
        "points": chosen["points"],
        "flops_per_step": per_step,
        "num_parameters": chosen["model"].num_parameters(),
        "train_chars": len(text),
        "lr_grid": grid,
        "selected_at_steps": marks[select_at - 1],
    }


def canary_run(
    settings: RunSettings,
    epochs: float,
    train_chars: int = 150_000,
    dedup: bool = False,
    digits: int = 4,
    canary_seed: int = 0,
) -> dict[str, Any]:
    """Plant :data:`CANARY_REPEATS` canaries into ``train_chars`` of Shakespeare, train for
    ``epochs`` passes (in tokens) over the text, and return each canary's exposure, rank and
    greedy completion. ``dedup`` keeps one copy of every repeated line (the mitigation)."""
    tok, text, valid_text = char_data(train_chars)
    canaries = make_canaries(CANARY_NAMES, CANARY_REPEATS, digits=digits, seed=canary_seed)
    lines = plant(text.split("\n"), canaries, seed=canary_seed)
    planted_chars = len("\n".join(lines))
    if dedup:
        seen: set[str] = set()
        lines = [x for x in lines if x.strip() == "" or not (x in seen or seen.add(x))]
    planted = "\n".join(lines)
    ids = torch.tensor(tok.encode(planted))
    torch.manual_seed(settings.seed)
    model = GPT(settings.gpt_config(tok.vocab_size))
    steps = max(1, round(epochs * len(ids) / (settings.batch_size * settings.seq_len)))
    generator = torch.Generator().manual_seed(settings.seed)
    history = _train(model, _windows(ids, settings, generator), steps, *_optimizer(model, settings))
    valid_ids = torch.tensor(tok.encode(valid_text))
    valid_loss = float(evaluate(model, _fixed(valid_ids, settings, 8)))
    controls = make_canaries(CONTROL_NAMES, [0] * len(CONTROL_NAMES), digits=digits, seed=1000)
    return {
        "settings": asdict(settings),
        "epochs": epochs,
        "dedup": dedup,
        "steps": steps,
        "train_chars": len(planted),
        "planted_chars": planted_chars,
        "final_loss": float(history.train_loss[-1]),
        "valid_loss": valid_loss,
        "canaries": [
            {**_probe(model, tok, c, digits), "copies": lines.count(c.text)} for c in canaries
        ],
        "controls": [_probe(model, tok, c, digits) for c in controls],
    }


def _probe(model: GPT, tok: CharTokenizer, canary: Canary, digits: int) -> dict[str, Any]:
    scores = candidate_log_probs(model, tok.encode, canary.prefix, digits)
    true = int(canary.digits)
    prompt = torch.tensor([tok.encode(canary.prefix)])
    greedy = tok.decode(
        generate(model, prompt, digits, temperature=0.0)[0, prompt.size(1) :].tolist()
    )
    others = scores.clone()
    others[true] = -float("inf")
    return {
        **asdict(canary),
        "log_prob": float(scores[true]),
        "margin": float(scores[true] - others.max()),
        "exposure": exposure(scores, true),
        "rank": rank_of(scores, true),
        "candidates": len(scores),
        "greedy": greedy,
        "extracted": greedy == canary.digits,
    }


def measured_challenges() -> dict[str, Any]:
    """The numbers of the last ``scripts/measure_challenges.py`` run, for chapter 10."""
    data = read_measured(
        MEASURED, f"python scripts/measure_challenges.py --out coursekit/{MEASURED.name}"
    )
    missing = {"machine", "scaling", "canaries"} - set(data)
    if missing:
        raise RuntimeError(
            f"{MEASURED.name} lacks {sorted(missing)}: run scripts/measure_challenges.py again."
        )
    return data
