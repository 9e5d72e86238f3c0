"""Checkers of chapter 09: the reference passes, typical wrong answers fail with a message naming
the mistake."""

from __future__ import annotations

import pytest
import torch

from coursekit.exercises import ch09


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def lora_forward(x, W, A, B, alpha, r):
    return x @ W.T + (alpha / r) * (x @ A.T) @ B.T


def freeze_all_but_head(model):
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.head.parameters():
        p.requires_grad_(True)
    return model


def macro_f1(predictions, labels, num_classes):
    f1s = []
    for c in range(num_classes):
        tp = int(((predictions == c) & (labels == c)).sum())
        fp = int(((predictions == c) & (labels != c)).sum())
        fn = int(((predictions != c) & (labels == c)).sum())
        if tp + fp + fn:  # the class occurs in the labels or the predictions
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def test_references_pass():
    assert ch09.check_lora_forward(lora_forward).passed
    assert ch09.check_freeze(freeze_all_but_head).passed
    assert ch09.check_macro_f1(macro_f1).passed


def test_other_correct_answers_pass():
    def by_name(model):
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("head."))
        return model

    def with_functional(x, W, A, B, alpha, r):
        lin = torch.nn.functional.linear
        return lin(x, W) + alpha / r * lin(lin(x, A), B)

    assert ch09.check_freeze(by_name).passed
    assert ch09.check_lora_forward(with_functional).passed


def test_lora_forward_mistakes_are_named():
    answers = {
        "forgot the scale": lambda x, W, A, B, alpha, r: x @ W.T + (x @ A.T) @ B.T,
        "scaled by alpha;": lambda x, W, A, B, alpha, r: x @ W.T + alpha * (x @ A.T) @ B.T,
        "scaled by r / alpha": lambda x, W, A, B, alpha, r: x @ W.T + r / alpha * (x @ A.T) @ B.T,
        "left out the frozen layer": lambda x, W, A, B, alpha, r: alpha / r * (x @ A.T) @ B.T,
        "left out the update": lambda x, W, A, B, alpha, r: x @ W.T,
        "not x @ W": lambda x, W, A, B, alpha, r: x @ W + alpha / r * (x @ A.T) @ B.T,
        "x @ A.T gives (N, r)": lambda x, W, A, B, alpha, r: x @ W.T + alpha / r * (x @ A) @ B,
        "A comes first": lambda x, W, A, B, alpha, r: x @ W.T + alpha / r * (x @ B.T) @ A.T,
    }
    for expected, answer in answers.items():
        result = ch09.check_lora_forward(answer)
        assert not result.passed and expected in result.message, (expected, result.message)

    def merges(x, W, A, B, alpha, r):
        W += alpha / r * B @ A
        return x @ W.T

    assert "changed W, A or B" in ch09.check_lora_forward(merges).message
    assert "not attempted" in str(
        ch09.check_lora_forward(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    )


def test_freeze_mistakes_are_named():
    def freezes_everything(model):
        model.requires_grad_(False)
        return model

    def body_only(model):  # never unfreezes the head
        model.body.requires_grad_(False)
        return model

    def eval_only(model):
        model.eval()
        return model

    def inverted(model):
        freeze_all_but_head(model)
        for p in model.parameters():
            p.requires_grad_(not p.requires_grad)
        return model

    def head_in_name(model):
        for name, p in model.named_parameters():
            p.requires_grad_("head" in name)
        return model

    def forgets_norm(model):
        freeze_all_but_head(model)
        model.body.norm.requires_grad_(True)
        return model

    def no_return(model):
        freeze_all_but_head(model)

    def new_head(model):
        model.head = torch.nn.Linear(model.head.in_features, model.head.out_features)
        return freeze_all_but_head(model)

    cases = {
        freezes_everything: "froze the head too",
        body_only: "set requires_grad_(True) on model.head's parameters explicitly",
        eval_only: "model.eval() switches dropout off",
        inverted: "froze the head and trained the body",
        head_in_name: "body.head.weight",
        forgets_norm: "body.norm.weight",
        no_return: "forget the `return`",
        new_head: "parameters were replaced",
    }
    for answer, expected in cases.items():
        result = ch09.check_freeze(answer)
        assert not result.passed and expected in result.message, (answer.__name__, result.message)


def test_macro_f1_mistakes_are_named():
    def micro(predictions, labels, num_classes):
        return float((predictions == labels).double().mean())

    def weighted(predictions, labels, num_classes):
        total = 0.0
        for c in range(num_classes):
            tp = int(((predictions == c) & (labels == c)).sum())
            fp = int(((predictions == c) & (labels != c)).sum())
            fn = int(((predictions != c) & (labels == c)).sum())
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            total += f1 * int((labels == c).sum())
        return total / len(labels)

    def _per_class(predictions, labels, num_classes):
        out = []
        for c in range(num_classes):
            tp = int(((predictions == c) & (labels == c)).sum())
            predicted, support = int((predictions == c).sum()), int((labels == c).sum())
            out.append((tp, predicted, support))
        return out

    def macro_precision(predictions, labels, num_classes):
        parts = _per_class(predictions, labels, num_classes)
        return sum(tp / p if p else 0.0 for tp, p, _ in parts) / num_classes

    def f1_of_means(predictions, labels, num_classes):
        parts = _per_class(predictions, labels, num_classes)
        p = sum(tp / n if n else 0.0 for tp, n, _ in parts) / num_classes
        r = sum(tp / s if s else 0.0 for tp, _, s in parts) / num_classes
        return 2 * p * r / (p + r)

    def skips_unpredicted(predictions, labels, num_classes):
        f1s = []
        for tp, predicted, support in _per_class(predictions, labels, num_classes):
            if predicted:
                f1s.append(2 * tp / (predicted + support))
        return sum(f1s) / len(f1s)

    def nan_for_unpredicted(predictions, labels, num_classes):
        f1s = []
        for tp, predicted, support in _per_class(predictions, labels, num_classes):
            p = tp / predicted if predicted else float("nan")
            r = tp / support if support else float("nan")
            f1s.append(2 * p * r / (p + r) if p + r else 0.0)
        return sum(f1s) / len(f1s)

    cases = {
        micro: "micro average",
        weighted: "weighted each class's F1",
        macro_precision: "macro-averaged precision",
        f1_of_means: "F1 of the mean precision and the mean recall",
        skips_unpredicted: "left out the classes that are never predicted",
        nan_for_unpredicted: "returned nan",
    }
    for answer, expected in cases.items():
        result = ch09.check_macro_f1(answer)
        assert not result.passed and expected in result.message, (answer.__name__, result.message)
