"""What trains when a classifier is fine-tuned (chapter 09): the three modes (``"probe"``,
``"full"``, ``"lora"``; the module overview is in :mod:`coursekit.finetune`), the optimizer's
parameter groups with discriminative learning rates, and the count of trainable parameters.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from coursekit.finetune.classifier import GPTClassifier, _check_classifier
from coursekit.nn._checks import check_choice, check_positive
from coursekit.nn.lora import lora_layers

__all__ = ["MODES", "count_trainable", "finetune_optimizer", "param_groups", "set_trainable"]

MODES = ("probe", "full", "lora")


def count_trainable(model: nn.Module) -> int:
    """Parameters that require a gradient (a tied matrix counted once).

    >>> count_trainable(nn.Linear(4, 3)), count_trainable(nn.Linear(4, 3).requires_grad_(False))
    (15, 0)
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def set_trainable(classifier: GPTClassifier, mode: str) -> GPTClassifier:
    """Freeze and unfreeze ``classifier`` for ``mode`` (``"probe"``, ``"full"`` or ``"lora"``;
    the module docs say what each trains); return it. The body's own output layer, unused by
    the classifier, stays frozen unless it is tied to the token embedding."""
    _check_classifier(classifier, "set_trainable")
    check_choice("set_trainable", "mode", mode, MODES)
    adapted = lora_layers(classifier.body)
    if mode == "lora" and not adapted:
        raise ValueError(
            "set_trainable: mode='lora' needs LoRA layers in the body: call "
            "coursekit.nn.lora.add_lora(classifier.body, target_modules=[...], r=8) first "
            "(in a GPT: 'out_proj' and the feed-forward layers)."
        )
    if mode != "lora" and adapted:
        raise ValueError(
            f"set_trainable: the body has LoRA layers ({', '.join(adapted)}), so mode={mode!r} "
            f"would train their frozen base weights too: use mode='lora', or fold them in "
            f"first with coursekit.nn.lora.merge_lora(classifier.body)."
        )
    classifier.body.requires_grad_(mode == "full")
    for layer in adapted.values():
        layer.lora_A.requires_grad_(True)
        layer.lora_B.requires_grad_(True)
    body = classifier.body
    if body.head.weight is not body.tok.weight:
        body.head.requires_grad_(False)  # the language-model output layer gets no gradient
    classifier.head.requires_grad_(True)
    return classifier


def _depth(name: str, num_layers: int) -> tuple[str, int]:
    """The group of a parameter name and its number of decay steps below the top block."""
    if name.startswith("head."):
        return "head", 0
    match = re.match(r"body\.blocks\.(\d+)\.", name)
    if match:
        i = int(match.group(1))
        return f"block {i}", num_layers - 1 - i
    if name.startswith(("body.tok.", "body.pos.")):
        return "embeddings", num_layers
    return "top", 0  # the final norm


def param_groups(
    classifier: GPTClassifier,
    mode: str = "full",
    *,
    lr: float,
    head_lr: float | None = None,
    layer_decay: float = 1.0,
    weight_decay: float = 0.0,
) -> list[dict[str, Any]]:
    """Set what trains for ``mode`` (:func:`set_trainable`) and return the optimizer's parameter
    groups, each with its ``name`` and ``lr`` (chapter 09).

    Args:
        classifier: a :class:`GPTClassifier` (with LoRA layers for ``mode="lora"``).
        mode: ``"probe"``, ``"full"`` or ``"lora"``.
        lr: the learning rate of the top block and the final norm.
        head_lr: the head's (default ``lr``).
        layer_decay: each block gets ``layer_decay`` times the rate of the block above (block
            ``i`` of ``L``: ``lr * layer_decay ** (L - 1 - i)``), the embeddings one factor less
            than the lowest block; in ``(0, 1]``, 1 for one rate everywhere. Not for ``"probe"``.
        weight_decay: AdamW's, on matrices only (not on norms and biases).

    >>> from coursekit.finetune import ClassifierConfig
    >>> from coursekit.nn import GPT, GPTConfig
    >>> body = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> model = GPTClassifier(body, ClassifierConfig(num_classes=3))
    >>> groups = param_groups(model, "full", lr=1e-3, head_lr=1e-2, layer_decay=0.5)
    >>> [(g["name"], g["lr"]) for g in groups]
    [('embeddings', 0.00025), ('block 0', 0.0005), ('block 1', 0.001), ('top', 0.001), ('head', 0.01)]
    """
    owner = "param_groups"
    check_positive(owner, "lr", lr)
    if head_lr is not None:
        check_positive(owner, "head_lr", head_lr)
    check_positive(owner, "layer_decay", layer_decay)
    if layer_decay > 1:
        raise ValueError(
            f"{owner}: layer_decay must be in (0, 1], got {layer_decay}: each block gets this "
            f"fraction of the rate of the block above (ULMFiT used 1 / 2.6, about 0.38)."
        )
    if weight_decay < 0:
        raise ValueError(f"{owner}: weight_decay must be >= 0, got {weight_decay}.")
    set_trainable(classifier, mode)
    if mode == "probe" and layer_decay != 1:
        raise ValueError(
            f"{owner}: layer_decay={layer_decay} sets the rates of the body's blocks, which a "
            f"linear probe freezes: leave it at 1, or use mode='full' or 'lora'."
        )
    num_layers = len(classifier.body.blocks)
    order = ["embeddings", *(f"block {i}" for i in range(num_layers)), "top", "head"]
    groups: dict[tuple[str, bool], dict[str, Any]] = {}
    for name, p in classifier.named_parameters():  # a tied matrix appears once
        if not p.requires_grad:
            continue
        group, steps = _depth(name, num_layers)
        rate = (head_lr if head_lr is not None else lr) if group == "head" else lr
        decay = weight_decay > 0 and p.dim() >= 2
        key = (group, decay)
        if key not in groups:
            label = group if weight_decay == 0 or decay else f"{group} (no decay)"
            groups[key] = {
                "name": label,
                "params": [],
                "lr": rate * layer_decay**steps,
                "weight_decay": weight_decay if decay else 0.0,
            }
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups, key=lambda k: (order.index(k[0]), not k[1]))]


def finetune_optimizer(
    classifier: GPTClassifier,
    mode: str = "full",
    *,
    lr: float,
    head_lr: float | None = None,
    layer_decay: float = 1.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (arguments as there): the ``optimizer`` to pass to
    :func:`coursekit.train.train` with ``loss_fn=classification_loss`` (chapter 09).

    >>> from coursekit.finetune import ClassifierConfig
    >>> from coursekit.nn import GPT, GPTConfig
    >>> body = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> model = GPTClassifier(body, ClassifierConfig(num_classes=3))
    >>> opt = finetune_optimizer(model, "probe", lr=1e-3)
    >>> [g["name"] for g in opt.param_groups], count_trainable(model)
    (['head'], 51)
    """
    groups = param_groups(
        classifier,
        mode,
        lr=lr,
        head_lr=head_lr,
        layer_decay=layer_decay,
        weight_decay=weight_decay,
    )
    return torch.optim.AdamW(groups, lr=lr, betas=betas)
