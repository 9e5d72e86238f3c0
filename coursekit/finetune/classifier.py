"""The classifier of chapter 09: a pretrained GPT body, a pooling and a linear head; its loss
for :func:`coursekit.train.train`, its predictions for the metrics, and loading a pretrained body
(the module overview is in :mod:`coursekit.finetune`).

Shapes: B batch, T steps, C width, K classes, N examples.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.device import autocast
from coursekit.nn._checks import (
    check_choice,
    check_config,
    check_fraction,
    check_int,
    strict_keywords,
)
from coursekit.nn.lora import lora_layers
from coursekit.nn.transformer.gpt import GPT
from coursekit.train.checkpoint import LoadedKeys, _read_weights, load_weights
from coursekit.train.evaluation import _first_param, move_to

__all__ = [
    "POOLINGS",
    "ClassifierConfig",
    "GPTClassifier",
    "classification_loss",
    "load_body",
    "pool",
    "predict",
]

POOLINGS = ("last", "mean")


@strict_keywords
@dataclass(frozen=True)
class ClassifierConfig:
    """The head of a :class:`GPTClassifier` (chapter 09), checked when made.

    Args:
        num_classes: K, the number of labels (at least 2).
        pooling: how the states ``(B, T, C)`` become one vector per text: ``"last"`` (the last
            real token's state) or ``"mean"`` (the mean over the real tokens).
        dropout: on the pooled vector, before the head.

    >>> ClassifierConfig(num_classes=3, pooling="max")
    Traceback (most recent call last):
    ...
    ValueError: ClassifierConfig: pooling must be one of 'last', 'mean', got 'max'.
    """

    num_classes: int
    pooling: str = "last"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_int(owner, "num_classes", self.num_classes, minimum=2)
        check_choice(owner, "pooling", self.pooling, POOLINGS)
        check_fraction(owner, "dropout", self.dropout)


class GPTClassifier(nn.Module):
    """A pretrained GPT body and a linear classification head (chapter 09).

    The body gives one state per token (:meth:`~coursekit.nn.GPT.features`), ``pooling`` makes
    them one vector per text and the head ``nn.Linear(C, K)`` scores the classes:

    - ``"last"``: the state of the last real (non-padding) token. In a causal model only that
      position has read the whole text (position ``t`` sees tokens ``0..t``), so it is the
      natural summary; GPT-style classifiers (GPT-1, Hugging Face's
      ``GPT2ForSequenceClassification``) use it.
    - ``"mean"``: the mean of the real tokens' states. Every token contributes, but the early
      ones have seen only the beginning of the text.

    Padding: batches are right-padded (:class:`~coursekit.data.batching.ClassificationCollate`),
    and because the body is causal, the real tokens never attend to the padding after them and
    keep their positions; both poolings read real tokens only, so a text gets the same scores
    however much padding its batch adds. A left-padded mask (or one with gaps) is refused
    (``model.check_mask = False`` skips that check's one host read). A body built with
    ``causal=False`` would see the padding, so it is refused too.

    Args:
        body: the pretrained :class:`~coursekit.nn.GPT` (its output layer is not used).
        config: a :class:`ClassifierConfig`.

    Shape:
        ids ``(B, T)`` int64 and mask ``(B, T)`` bool (True at real tokens; default all True),
        or a :class:`~coursekit.data.batching.ClassificationBatch` -> logits ``(B, K)``.

    >>> from coursekit.nn import GPTConfig
    >>> body = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> model = GPTClassifier(body, ClassifierConfig(num_classes=3))
    >>> ids = torch.tensor([[4, 5, 6], [7, 0, 0]])
    >>> mask = torch.tensor([[True, True, True], [True, False, False]])
    >>> model(ids, mask).shape
    torch.Size([2, 3])
    """

    check_mask: bool = True

    def __init__(self, body: GPT, config: ClassifierConfig) -> None:
        owner = type(self).__name__
        if not isinstance(body, GPT):
            raise TypeError(
                f"{owner} takes a coursekit GPT as its body, got {type(body).__name__}: e.g. "
                f"model, tokenizer = coursekit.pretrain.load_pretrained(); {owner}(model, ...)."
            )
        check_config(owner, config, ClassifierConfig, "ClassifierConfig(num_classes=...)")
        if not body.config.causal:
            raise ValueError(
                f"{owner}: the body was built with causal=False, so every position would attend "
                f"to the padding of its batch; fine-tune a causal GPT (GPTConfig(causal=True))."
            )
        super().__init__()
        self.config = config
        self.body = body
        self.dropout = nn.Dropout(config.dropout)
        p = _first_param(body)
        self.head = new_head(body.config.embed_dim, config.num_classes, p.device, p.dtype)

    def _mask(self, ids: Tensor, mask: Tensor | None) -> Tensor:
        owner = type(self).__name__
        if mask is None:
            return torch.ones_like(ids, dtype=torch.bool)
        if mask.shape != ids.shape:
            raise ValueError(
                f"{owner}: mask {tuple(mask.shape)} and ids {tuple(ids.shape)} must have the same "
                f"shape (B, T): one flag per token, True at real tokens."
            )
        if mask.is_floating_point():
            raise TypeError(f"{owner}: mask must be bool (True at real tokens), got {mask.dtype}.")
        mask = mask.bool()
        if self.check_mask:
            lengths = mask.sum(1)  # (B,)
            steps = torch.arange(mask.size(1), device=mask.device)  # (T,)
            right = steps[None, :] < lengths[:, None]  # (B, T): a right-padded mask
            bad = (lengths == 0) | (right != mask).any(1)  # (B,)
            if bool(bad.any()):  # the one host read
                row = int(bad.nonzero()[0, 0])
                what = "no real token" if int(lengths[row]) == 0 else "padding before real tokens"
                raise ValueError(
                    f"{owner}: row {row} of the mask has {what} ({mask[row].int().tolist()}): "
                    f"every text needs at least one token, padded on the right, since the model "
                    f"is causal and its positions start at the first token "
                    f"(pad_batch and ClassificationCollate pad on the right)."
                )
        return mask

    def pool(self, states: Tensor, mask: Tensor) -> Tensor:
        """One vector per text from the states ``(B, T, C)`` of the real tokens ``mask (B, T)``
        -> ``(B, C)``, by the config's pooling (:func:`pool`)."""
        return pool(states, mask, self.config.pooling)

    def forward(self, ids: Tensor | Any, mask: Tensor | None = None) -> Tensor:
        if not isinstance(ids, Tensor) and hasattr(ids, "ids"):  # a ClassificationBatch
            ids, mask = ids.ids, getattr(ids, "mask", None)
        mask = self._mask(ids, mask)
        states = self.body.features(ids)  # (B, T, C)
        return self.head(self.dropout(self.pool(states, mask)))  # (B, K)


def new_head(width: int, num_classes: int, device: Any = None, dtype: Any = None) -> nn.Linear:
    """The classification head ``nn.Linear(C, K)``, initialised as the body's layers (GPT-2:
    weights from N(0, 0.02^2), bias 0)."""
    head = nn.Linear(width, num_classes, device=device, dtype=dtype)
    nn.init.normal_(head.weight, std=0.02)
    nn.init.zeros_(head.bias)
    return head


def pool(states: Tensor, mask: Tensor, pooling: str) -> Tensor:
    """One vector per text: the states ``(B, T, C)`` of a right-padded batch (``mask (B, T)``
    True at real tokens) pooled by ``"last"`` (the last real token's state) or ``"mean"`` (the
    mean over the real tokens) -> ``(B, C)``."""
    check_choice("pool", "pooling", pooling, POOLINGS)
    if pooling == "last":
        last = mask.sum(1) - 1  # (B,), the last real position of a right-padded row
        return states[torch.arange(states.size(0), device=states.device), last]  # (B, C)
    weights = mask.to(states.dtype).unsqueeze(-1)  # (B, T, 1)
    return (states * weights).sum(1) / weights.sum(1)  # (B, C)


def _unpack(batch: Any) -> tuple[Tensor, Tensor | None, Tensor]:
    """``(ids, mask, labels)`` of a ClassificationBatch (or a tuple of the three)."""
    if all(hasattr(batch, name) for name in ("ids", "mask", "labels")):
        return batch.ids, batch.mask, batch.labels
    if isinstance(batch, (tuple, list)) and len(batch) == 3:
        return tuple(batch)
    raise TypeError(
        f"expected a ClassificationBatch (ids, mask, labels), got {type(batch).__name__}: batch "
        f"(ids, label) items with make_loader(..., collate_fn=ClassificationCollate(pad_id))."
    )


def _check_labels(labels: Tensor, num_classes: int, batch: int) -> None:
    """Labels are class ids ``0..K-1``, one per text (one host read for the range)."""
    owner = "classification_loss"
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(
            f"{owner}: labels must be class ids (torch.long), got {labels.dtype}: "
            f"encode_labelled gives label ids; if these are whole numbers, pass labels.long()."
        )
    if labels.shape != (batch,):
        raise ValueError(
            f"{owner}: expected one label per text, shape ({batch},), got {tuple(labels.shape)}."
        )
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"{owner}: label {bad} is outside the classes 0..{num_classes - 1} "
            f"(num_classes={num_classes}; this batch's labels run {low}..{high}): build the "
            f"classifier with ClassifierConfig(num_classes=len(labels)) for the label list of "
            f"encode_labelled, and encode every split with the training set's list."
        )


def classification_loss(
    model: nn.Module, batch: Any, *, check_labels: bool = True
) -> tuple[Tensor, dict[str, Tensor]]:
    """Cross-entropy of ``model(ids, mask)`` against the labels, and the batch's accuracy: the
    ``loss_fn`` of :func:`coursekit.train.train` for a classifier (chapter 09); the accuracy
    lands in ``History.metrics`` and ``History.valid_metrics``.

    Labels outside ``0..K-1`` raise an error naming the label and the range, before torch's
    own (``check_labels=False`` skips its one host read).

    Shape:
        batch: ids and mask ``(B, T)``, labels ``(B,)``; ``model`` gives logits ``(B, K)``.

    >>> from coursekit.data.batching import ClassificationCollate
    >>> batch = ClassificationCollate()([([1, 2], 0), ([3], 1)])
    >>> model = lambda ids, mask: torch.zeros(2, 2)  # uniform over 2 classes
    >>> loss, extras = classification_loss(model, batch)
    >>> round(loss.item(), 4), sorted(extras)
    (0.6931, ['accuracy'])
    """
    ids, mask, labels = _unpack(batch)
    logits = model(ids, mask)  # (B, K)
    if check_labels:
        _check_labels(labels, logits.size(-1), logits.size(0))
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # the softmax in full precision under autocast
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.detach().argmax(-1) == labels).double().mean()  # stays on the device
    return loss, {"accuracy": accuracy}


def predict(
    model: nn.Module, batches: Iterable, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """The predicted and the true labels ``(N,)`` (on the CPU) over ``batches`` of
    :class:`~coursekit.data.batching.ClassificationBatch` (chapter 09), in eval mode without
    gradients; the model's mode is restored afterwards.

    >>> from coursekit.data.batching import ClassificationCollate
    >>> from coursekit.nn import GPTConfig
    >>> body = GPT(GPTConfig(vocab_size=11, context_size=8, embed_dim=16, num_layers=2))
    >>> model = GPTClassifier(body, ClassifierConfig(num_classes=3))
    >>> batches = [ClassificationCollate()([([1, 2], 0), ([3], 2)])] * 2
    >>> predictions, labels = predict(model, batches)
    >>> predictions.shape, labels.tolist()
    (torch.Size([4]), [0, 2, 0, 2])
    """
    device = torch.device(device) if device is not None else _first_param(model).device
    was_training = model.training
    model.eval()
    predictions, labels = [], []
    try:
        with torch.no_grad(), autocast(device):
            for batch in batches:
                ids, mask, y = _unpack(move_to(batch, device))
                predictions.append(model(ids, mask).argmax(-1).cpu())  # (B,)
                labels.append(y.cpu())
    finally:
        model.train(was_training)
    if not predictions:
        raise ValueError("predict() got no batches: the evaluation set is empty")
    return torch.cat(predictions), torch.cat(labels)


def _check_classifier(classifier: object, owner: str) -> None:
    if not isinstance(classifier, GPTClassifier):
        raise TypeError(
            f"{owner} takes a GPTClassifier, got {type(classifier).__name__}: build one with "
            f"GPTClassifier(gpt, ClassifierConfig(num_classes=...))."
        )


def _by_layer(keys: Iterable[str]) -> str:
    """Keys with the block number as ``N``, each pattern once: short enough to read."""
    seen = dict.fromkeys(re.sub(r"^blocks\.\d+\.", "blocks.N.", k) for k in keys)
    return ", ".join(seen) or "none"


def load_body(
    classifier: GPTClassifier,
    weights: str | os.PathLike | dict[str, Tensor],
    map_location: Any = "cpu",
) -> LoadedKeys:
    """Load a pretrained GPT's weights (a state dict, a file or a :func:`train` checkpoint)
    into ``classifier.body``, strictly except for the LoRA matrices that
    :func:`~coursekit.nn.lora.add_lora` put into it (chapter 09); nothing is loaded unless all
    of it fits. Returns the keys that were not in the weights (the LoRA matrices).

    Raises:
        ValueError: weights of another architecture, naming the keys that differ (missing,
            unexpected or of another shape; ``blocks.N`` for every block) and the body's config.
    """
    _check_classifier(classifier, "load_body")
    body = classifier.body
    state, source = _read_weights(weights, map_location)
    own = body.state_dict()
    lora = {f"{name}.{part}" for name in lora_layers(body) for part in ("lora_A", "lora_B")}
    missing = [k for k in own if k not in state and k not in lora]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(v.shape)} for the body's {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        found = [f"{what}: {_by_layer(keys)}" for what, keys in
                 (("missing", missing), ("unexpected", unexpected)) if keys]  # fmt: skip
        if shapes:
            more = f" (and {len(shapes) - 3} more)" if len(shapes) > 3 else ""
            found.append(f"other shapes: {'; '.join(shapes[:3])}{more}")
        raise ValueError(
            f"load_body: {source} are not a GPT of the body's architecture "
            f"({'; '.join(found)}). The body is GPT({body.config}): build it with the GPTConfig "
            f"the weights were saved with (load_pretrained() returns the course's GPT built so)."
        )
    return load_weights(body, state, strict=False)
