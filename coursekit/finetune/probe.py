"""A linear probe on cached features (chapter 09; the module overview is in
:mod:`coursekit.finetune`).

A probe trains only the head, so the frozen body's pooled features can be computed once
(:func:`pooled_features`) and the head trained on them in milliseconds (:func:`fit_probe`):
the same model as a :class:`~coursekit.finetune.GPTClassifier` in ``"probe"`` mode, whose body
would recompute the same features at every step. ``classifier.head.load_state_dict(
head.state_dict())`` puts a fitted probe into a classifier, which then predicts what the probe
predicts from the cached features (tested).

Shapes: N texts, C width, K classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.finetune.classifier import POOLINGS, _unpack, new_head, pool
from coursekit.finetune.task import ClassificationTask
from coursekit.nn._checks import check_choice, check_int, check_positive
from coursekit.nn.transformer.gpt import GPT
from coursekit.train import train
from coursekit.train.evaluation import _first_param, move_to

__all__ = ["fit_probe", "pooled_features", "split_features"]


def pooled_features(
    body: GPT, batches: Iterable, poolings: Sequence[str] = POOLINGS
) -> tuple[dict[str, Tensor], Tensor]:
    """The body's pooled states for every text of ``batches`` (ClassificationBatch es), in eval
    mode without gradients: ``({pooling: (N, C)}, labels (N,))``, on the CPU, in batch order.
    One forward pass serves every pooling asked for."""
    if not isinstance(body, GPT):
        raise TypeError(
            f"pooled_features takes a coursekit GPT (the classifier's body), got "
            f"{type(body).__name__}: pass classifier.body or load_pretrained().model."
        )
    for name in poolings:
        check_choice("pooled_features", "pooling", name, POOLINGS)
    device = _first_param(body).device
    was_training = body.training
    body.eval()
    out: dict[str, list[Tensor]] = {name: [] for name in poolings}
    labels = []
    try:
        with torch.no_grad():
            for batch in batches:
                ids, mask, y = _unpack(move_to(batch, device))
                states = body.features(ids)  # (B, T, C)
                for name in poolings:
                    out[name].append(pool(states, mask.bool(), name).float().cpu())
                labels.append(y.cpu())
    finally:
        body.train(was_training)
    if not labels:
        raise ValueError("pooled_features got no batches.")
    return {name: torch.cat(parts) for name, parts in out.items()}, torch.cat(labels)


def split_features(
    body: GPT, task: ClassificationTask, split: str, poolings: Sequence[str] = POOLINGS
) -> tuple[dict[str, Tensor], Tensor]:
    """:func:`pooled_features` of every item of ``split`` of ``task``, row ``i`` for item ``i``
    of ``task.split(split)`` (computed in length-sorted batches, then put back in order), so
    ``task.budget_index(n, seed)`` picks a label budget's rows."""
    features, labels = pooled_features(body, task.eval_batches(split), poolings)
    back = torch.empty(len(labels), dtype=torch.long)
    back[torch.tensor(task.eval_order(split))] = torch.arange(len(labels))
    return {name: f[back] for name, f in features.items()}, labels[back]


def fit_probe(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    lr: float = 1e-2,
    steps: int = 300,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> nn.Linear:
    """A linear head ``nn.Linear(C, K)`` trained on ``features (N, C)`` and ``labels (N,)``:
    full-batch AdamW at ``lr`` for ``steps`` steps through :func:`coursekit.train.train`
    (cross-entropy), initialised as :class:`~coursekit.finetune.GPTClassifier`'s head."""
    check_int("fit_probe", "num_classes", num_classes, minimum=2)
    check_int("fit_probe", "steps", steps, minimum=1)
    check_positive("fit_probe", "lr", lr)
    if features.dim() != 2 or labels.shape != (features.size(0),):
        raise ValueError(
            f"fit_probe: features should be (N, C) and labels (N,), got "
            f"{tuple(features.shape)} and {tuple(labels.shape)}."
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"fit_probe: labels run {int(labels.min())}..{int(labels.max())}, outside the "
            f"classes 0..{num_classes - 1}: pass num_classes=len(task.classes)."
        )
    torch.manual_seed(seed)
    head = new_head(features.size(1), num_classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    batch = (features.float(), labels.long())
    train(head, lambda i: batch, optimizer=optimizer, steps=steps,
          loss_fn=lambda model, b: F.cross_entropy(model(b[0]), b[1]),
          progress=False, live_plot=False)  # fmt: skip
    return head.eval()
