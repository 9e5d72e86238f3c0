"""Checkers for chapter 09 (fine-tuning): the LoRA forward, freezing all but the head (a linear
probe) and macro-F1.

Each checker compares the answer with the usual wrong answers first (the scale forgotten, or
``alpha`` for ``alpha / r``; the head frozen too; the micro or the weighted average, ...) and
names the mistake; then with coursekit's result.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.finetune import ClassifierConfig, GPTClassifier
from coursekit.metrics import confusion_matrix
from coursekit.metrics import macro_f1 as macro_f1_reference
from coursekit.nn.lora import LoRALinear
from coursekit.nn.transformer.gpt import GPT, GPTConfig

__all__ = ["check_freeze", "check_lora_forward", "check_macro_f1"]


def _lora_case(n: int, fan_in: int, fan_out: int, r: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, fan_in, generator=g, dtype=torch.float64)
    w = torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64)
    a = torch.randn(r, fan_in, generator=g, dtype=torch.float64)
    b = torch.randn(fan_out, r, generator=g, dtype=torch.float64)
    return x, w, a, b


def _reference_lora(x, w, a, b, alpha: float, r: int) -> torch.Tensor:
    """coursekit's LoRALinear with these matrices."""
    layer = LoRALinear(nn.Linear(w.size(1), w.size(0), bias=False, dtype=w.dtype), r, alpha)
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.lora_A.copy_(a)
        layer.lora_B.copy_(b)
        return layer(x)


def check_lora_forward(
    lora_forward: Callable[..., torch.Tensor],
) -> ExerciseResult:
    """``lora_forward(x (N, I), W (O, I), A (r, I), B (O, r), alpha, r) -> (N, O)``: the frozen
    layer plus the scaled low-rank update, ``x W^T + (alpha / r) (x A^T) B^T``."""
    with Exercise("09.1 the LoRA forward") as ex:
        alpha, r = 6.0, 3
        x, w, a, b = _lora_case(5, 3, 3, r, seed=9)  # square first: a transposition still runs
        base, low = x @ w.T, (x @ a.T) @ b.T
        out = ex.call(lora_forward, x.clone(), w.clone(), a.clone(), b.clone(), alpha, r)
        ex.check_shape(out, (5, 3), "lora_forward(x (5, 3), W (3, 3), A (3, 3), B (3, 3), 6, 3)")
        out = torch.as_tensor(out, dtype=torch.float64)
        expected = base + alpha / r * low
        mistakes = [
            (base + low, "you forgot the scale: the update B A x is multiplied by alpha / r."),
            (base + alpha * low, "you scaled by alpha; LoRA scales by alpha / r (here 6 / 3 = 2)."),
            (base + r / alpha * low, "you scaled by r / alpha; LoRA scales by alpha / r."),
            (alpha / r * low, "you left out the frozen layer: the output is W x plus the update."),
            (base, "you left out the update: add (alpha / r) * (x @ A.T) @ B.T to x @ W.T."),
            (x @ w + alpha / r * low, "W is (out, in): the frozen layer is x @ W.T, not x @ W."),
            (
                base + alpha / r * (x @ a) @ b,
                "A is (r, in) and B is (out, r): x @ A.T gives (N, r), then @ B.T gives (N, out).",
            ),
            (
                base + alpha / r * (x @ b.T) @ a.T,
                "A comes first: x is projected down by A (r, in), then up by B (out, r): "
                "(x @ A.T) @ B.T.",
            ),
        ]
        for wrong, message in mistakes:
            if torch.allclose(out, wrong) and not torch.allclose(out, expected):
                ex.fail(message)
        ex.check_close(out, expected, "lora_forward differs from x @ W.T + alpha / r * BAx")
        for n, fan_in, fan_out, r, alpha, seed in ((4, 7, 5, 2, 16.0, 1), (2, 6, 9, 1, 1.0, 2)):
            x, w, a, b = _lora_case(n, fan_in, fan_out, r, seed)
            before = [t.clone() for t in (w, a, b)]
            out = ex.call(lora_forward, x, w, a, b, alpha, r)
            what = f"lora_forward with x {tuple(x.shape)}, W {tuple(w.shape)}, r={r}"
            ex.check_shape(out, (n, fan_out), what)
            ex.check(
                all(torch.equal(t, s) for t, s in zip((w, a, b), before, strict=True)),
                "lora_forward changed W, A or B: the forward computes, it does not merge.",
            )
            ex.check_close(
                out,
                _reference_lora(x, w, a, b, alpha, r),
                f"{what} differs from coursekit.nn.lora.LoRALinear",
            )
    return ex.result


def _classifier(tie_weights: bool, seed: int) -> GPTClassifier:
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=13,
        context_size=8,
        embed_dim=8,
        num_heads=2,
        num_layers=2,
        tie_weights=tie_weights,
    )
    return GPTClassifier(GPT(config), ClassifierConfig(num_classes=3))


def check_freeze(freeze_all_but_head: Callable[[GPTClassifier], GPTClassifier]) -> ExerciseResult:
    """``freeze_all_but_head(model) -> model``: the body of a
    :class:`~coursekit.finetune.GPTClassifier` frozen (``requires_grad=False``), its ``head``
    trainable (a linear probe); the same model returned."""
    with Exercise("09.2 a linear probe: freeze all but the head") as ex:
        # a fresh model, then one frozen all over before (as after an earlier run), untied
        for tie_weights, frozen_before, seed in ((True, False, 0), (False, True, 1)):
            model = _classifier(tie_weights, seed)
            model.requires_grad_(not frozen_before)
            model.train()
            params = dict(model.named_parameters())
            out = ex.call(freeze_all_but_head, model)
            ex.check(
                out is model, "return the model you were given (changed in place), not a new one."
            )
            ex.check(
                dict(model.named_parameters()).keys() == params.keys()
                and all(p is params[n] for n, p in model.named_parameters()),
                "the model's parameters were replaced: freeze them in place with "
                "p.requires_grad_(False); do not build new layers.",
            )
            trains = [n for n, p in model.named_parameters() if p.requires_grad]
            head = [n for n in params if n.startswith("head.")]
            if not trains and frozen_before:
                ex.fail(
                    "on a model whose parameters were all frozen before, nothing trains after "
                    "your function: set requires_grad_(True) on model.head's parameters "
                    "explicitly, rather than only freezing the body."
                )
            if not trains:
                ex.fail(
                    "nothing trains: you froze the head too. A linear probe trains the head "
                    "alone: set requires_grad back to True on model.head's parameters."
                )
            if len(trains) == len(params) and not model.training:
                ex.fail(
                    "model.eval() switches dropout off; it does not freeze anything: set "
                    "p.requires_grad_(False) on the body's parameters."
                )
            if set(trains) == set(params) - set(head):
                ex.fail("you froze the head and trained the body: it is the other way round.")
            missed = [n for n in head if n not in trains]
            ex.check(
                not missed,
                f"{', '.join(missed)} must train (requires_grad=True): the head is what a "
                f"linear probe learns.",
            )
            if "body.head.weight" in trains:
                ex.fail(
                    "body.head.weight, the language model's own output layer, trains: a test "
                    "like `'head' in name` matches it too. Freeze everything in model.body (or "
                    "test name.startswith('head.'))."
                )
            body = [n for n in trains if n not in head]
            ex.check(
                not body,
                f"{len(body)} parameter(s) of the body still train, e.g. {', '.join(body[:3])}: "
                f"freeze every parameter of model.body (model.body.parameters()).",
            )
    return ex.result


def _f1_parts(preds: torch.Tensor, true: torch.Tensor, k: int) -> dict[str, float]:
    """The macro-F1 of coursekit and the usual wrong averages."""
    m = confusion_matrix(preds, true, k).double()  # (K, K)
    tp = m.diagonal()
    predicted, support = m.sum(0), m.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp_min(1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0,
        2 * precision * recall / (precision + recall).clamp_min(1e-300),
        torch.zeros_like(tp),
    )
    mp, mr = float(precision.mean()), float(recall.mean())
    return {
        "macro": macro_f1_reference(preds, true, k),
        "micro": float((preds == true).double().mean()),
        "weighted": float((f1 * support).sum() / support.sum()),
        "f1_of_means": 2 * mp * mr / (mp + mr),
        "precision": mp,
        "recall": mr,
        "predicted_only": float(f1[predicted > 0].mean()),
    }


def check_macro_f1(macro_f1: Callable[..., float]) -> ExerciseResult:
    """``macro_f1(predictions (N,), labels (N,), num_classes) -> float``: the mean over classes of
    each class's F1 (a class never predicted has F1 0)."""
    with Exercise("09.3 macro-F1") as ex:
        cases = [
            # 3 classes, imbalanced; class 2 is never predicted
            ([0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 1, 0], 3),
            ([0, 1, 2, 2, 1, 0, 2], [0, 1, 2, 1, 1, 2, 2], 3),
            ([1, 1, 1, 1], [1, 0, 1, 1], 2),
        ]
        messages = {
            "micro": "that is the micro average (over examples), which equals the accuracy: "
            "macro-F1 computes an F1 per class and averages those, every class counting the same.",
            "weighted": "you weighted each class's F1 by its number of examples (sklearn's "
            "'weighted'); macro-F1 is the plain mean, so rare classes count as much as common ones.",
            "f1_of_means": "you took the F1 of the mean precision and the mean recall; macro-F1 "
            "is the mean of the per-class F1s.",
            "precision": "that is the macro-averaged precision; F1 combines precision and recall "
            "per class: 2 P R / (P + R).",
            "recall": "that is the macro-averaged recall; F1 combines precision and recall per "
            "class: 2 P R / (P + R).",
            "predicted_only": "you left out the classes that are never predicted; their F1 is 0 "
            "and they count in the mean (that is what macro-F1 punishes).",
        }
        for preds, labels, k in cases:
            p, y = torch.tensor(preds), torch.tensor(labels)
            out = ex.call(macro_f1, p.clone(), y.clone(), k)
            try:
                value = float(out)
            except (TypeError, ValueError):
                ex.fail(f"macro_f1 should return a number, got {type(out).__name__}.")
            if value != value:  # nan
                ex.fail(
                    "macro_f1 returned nan: a class never predicted gives precision 0 / 0; "
                    "count its precision and F1 as 0."
                )
            parts = _f1_parts(p, y, k)
            expected = parts["macro"]
            for name, message in messages.items():
                if abs(value - parts[name]) < 1e-6 and abs(parts[name] - expected) > 1e-6:
                    ex.fail(f"macro_f1({preds}, {labels}, {k}) gave {value:.4f}: {message}")
            ex.check_close(
                value, expected, f"macro_f1({preds}, {labels}, {k}) differs from the macro-F1"
            )
        g = torch.Generator().manual_seed(9)
        y = torch.randint(0, 5, (200,), generator=g)
        p = torch.where(
            torch.rand(200, generator=g) < 0.6, y, torch.randint(0, 5, (200,), generator=g)
        )
        ex.check_close(
            float(ex.call(macro_f1, p, y, 5)),
            macro_f1_reference(p, y, 5),
            "on 200 random labels of 5 classes macro_f1 differs from coursekit.metrics.macro_f1",
        )
    return ex.result
