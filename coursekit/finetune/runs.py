"""One fine-tuning run, as chapter 09 and ``scripts/measure_finetuning.py`` make them: the
classifier built on a copy of the pretrained GPT (or on the same architecture from scratch),
trained by :func:`coursekit.train.train`, then scored (the module overview is in
:mod:`coursekit.finetune`).

The measured label-budget curve (several seeds, the learning rate of each side chosen on the
validation split) is in ``finetuning_measured.json`` beside this module:
:func:`measured_finetuning` reads it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from coursekit.finetune.classifier import (
    ClassifierConfig,
    GPTClassifier,
    classification_loss,
    predict,
)
from coursekit.finetune.modes import MODES, finetune_optimizer
from coursekit.finetune.task import ClassificationTask, Item
from coursekit.metrics import macro_f1
from coursekit.nn._checks import check_choice
from coursekit.nn.lora import add_lora
from coursekit.nn.transformer.gpt import GPT
from coursekit.report import read_measured
from coursekit.train import History, train, warmup_cosine

__all__ = ["LORA_TARGETS", "build_classifier", "finetune", "measured_finetuning", "score"]

#: The layers LoRA adapts in chapter 09: every block's attention output and its feed-forward
#: matrices, the three of SwiGLU (Llama recipe) or the two of GPT-2's MLP, whichever the body has
#: (the packed query/key/value projection is one tensor, so it is left out).
LORA_TARGETS = ("out_proj", "gate", "up", "down", "linear1", "linear2")
_MEASURED = Path(__file__).resolve().parent.parent / "finetuning_measured.json"


def build_classifier(
    pretrained: GPT,
    num_classes: int,
    mode: str = "full",
    *,
    from_scratch: bool = False,
    pooling: str = "mean",
    rank: int = 8,
    seed: int = 0,
) -> GPTClassifier:
    """A :class:`GPTClassifier` on a copy of ``pretrained`` (it is never changed), or, with
    ``from_scratch=True``, on a freshly initialised GPT of the same architecture. ``mode
    "lora"`` adds rank-``rank`` LoRA matrices (``alpha = 2 * rank``) to those of
    :data:`LORA_TARGETS` the body has.
    ``seed`` seeds the head (and the scratch body, and LoRA's A)."""
    check_choice("build_classifier", "mode", mode, MODES)
    torch.manual_seed(seed)
    body = GPT(pretrained.config) if from_scratch else copy.deepcopy(pretrained)
    body = body.to(next(pretrained.parameters()).device)
    classifier = GPTClassifier(body, ClassifierConfig(num_classes=num_classes, pooling=pooling))
    if mode == "lora":
        linears = {name.rsplit(".", 1)[-1] for name, module in classifier.body.named_modules()
                   if isinstance(module, nn.Linear)}  # fmt: skip
        targets = [name for name in LORA_TARGETS if name in linears]
        add_lora(classifier.body, targets, r=rank, alpha=2.0 * rank)
    return classifier


def finetune(
    classifier: GPTClassifier,
    task: ClassificationTask,
    items: list[Item],
    mode: str = "full",
    *,
    lr: float,
    steps: int,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
    live_plot: bool = False,
    precision: str = "auto",
) -> History:
    """Train ``classifier`` on ``items`` for ``steps`` steps in ``mode`` (``"probe"``,
    ``"full"``, ``"lora"``: what is trainable, :func:`finetune_optimizer`): AdamW at ``lr``
    with a 10% warm-up and cosine decay to ``lr / 10``, gradients clipped at 1, length-bucketed
    batches (:meth:`ClassificationTask.batches`). The loop is :func:`coursekit.train.train`, and
    ``precision`` is passed to it (``"auto"``: bf16 autocast on CUDA, fp32 on CPUs; ``"fp32"`` to
    repeat on a GPU a run measured on a CPU, e.g. ``coursekit/finetuning_measured.json``'s)."""
    optimizer = finetune_optimizer(classifier, mode, lr=lr)
    scheduler = warmup_cosine(optimizer, max(1, steps // 10), steps, 0.1)
    batches = task.batches(items, batch_size, seed)
    return train(classifier, batches, optimizer=optimizer, loss_fn=classification_loss,
                 steps=steps, scheduler=scheduler, clip_grad_norm=1.0, progress=progress,
                 live_plot=live_plot, precision=precision)  # fmt: skip


def score(classifier: GPTClassifier, task: ClassificationTask, split: str = "test") -> dict:
    """``{"accuracy", "macro_f1"}`` of ``classifier`` on ``split`` of ``task``."""
    predicted, true = predict(classifier, task.eval_batches(split))
    return {
        "accuracy": (predicted == true).double().mean().item(),
        "macro_f1": macro_f1(predicted, true, len(task.classes)),
    }


def measured_finetuning() -> dict[str, Any]:
    """The label-budget curve and learning-rate grids measured by
    ``scripts/measure_finetuning.py`` (with its machine), for chapter 09."""
    command = f"python scripts/measure_finetuning.py --out coursekit/{_MEASURED.name}"
    data = read_measured(_MEASURED, command)
    if not isinstance(data.get("curve"), list):
        raise RuntimeError(
            f"{_MEASURED.name} has no curve: measure again with scripts/measure_finetuning.py."
        )
    return data
