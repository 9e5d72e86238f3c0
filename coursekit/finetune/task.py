"""The classification task of chapter 09: a bundled labelled set encoded with the pretrained
model's tokenizer, balanced label budgets, length-bucketed training batches and evaluation
batches (the module overview is in :mod:`coursekit.finetune`).

Each text is read as the pretraining text was: ``<|endoftext|>`` in front (it is the separator
between documents there), so the first real token sees what it saw in pretraining.

>>> from coursekit.pretrain import load_pretrained
>>> task = load_task(load_pretrained().tokenizer)
>>> len(task.train), len(task.valid), len(task.test), task.classes[:3]
(4800, 600, 600, ['animal', 'artifact', 'body'])
>>> [label for _, label in task.budget(20, seed=0)].count(0)  # 2 of each of the 10 classes
2
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from coursekit.data.batching import ClassificationBatch, ClassificationCollate, encode_labelled
from coursekit.data.corpora import load_labelled
from coursekit.data.tokenizers import Tokenizer
from coursekit.nn._checks import check_int

__all__ = ["ClassificationTask", "load_task"]

Item = tuple[list[int], int]


@dataclass(frozen=True)
class ClassificationTask:
    """Encoded ``(token ids, label id)`` items of each split and how to batch them.

    Attributes:
        name: the labelled corpus (:func:`coursekit.data.load_labelled`).
        classes: the label names in id order.
        train, valid, test: the encoded items.
        collate: pads a list of items into a :class:`~coursekit.data.batching.ClassificationBatch`
            (``<|endoftext|>`` in front, truncated to ``max_len`` tokens).
    """

    name: str
    classes: list[str]
    train: list[Item]
    valid: list[Item]
    test: list[Item]
    collate: ClassificationCollate = field(repr=False)

    def budget(self, n: int, seed: int = 0) -> list[Item]:
        """``n`` training items, ``n // K`` of each of the K classes, drawn with ``seed`` (a
        label budget: the same ``n`` and seed give the same items)."""
        return [self.train[i] for i in self.budget_index(n, seed)]

    def budget_index(self, n: int, seed: int = 0) -> list[int]:
        """The positions in ``train`` of :meth:`budget`'s items (e.g. to pick their rows of
        cached features)."""
        k = len(self.classes)
        check_int("ClassificationTask.budget", "n", n, minimum=k)
        by_class: list[list[int]] = [[] for _ in range(k)]
        for i, (_, label) in enumerate(self.train):
            by_class[label].append(i)
        per_class, smallest = n // k, min(map(len, by_class))
        if per_class > smallest:
            raise ValueError(
                f"ClassificationTask.budget: n={n} asks for {per_class} items of each class, but "
                f"the smallest class has {smallest}; n can be at most {k * smallest}."
            )
        rng = random.Random(seed)
        return [i for index in by_class for i in rng.sample(index, per_class)]

    def batches(self, items: Sequence[Item], batch_size: int = 32, seed: int = 0) -> _Bucketed:
        """Training batches ``f(i) -> ClassificationBatch`` for :func:`coursekit.train.train`.

        Each epoch shuffles the items (with ``seed`` and the epoch), sorts every run of
        ``8 * batch_size`` of them by length and cuts it into batches, then shuffles the batches:
        a batch holds texts of similar length, so little of it is padding, and it is still a
        different random batch every epoch. Stateless: batch ``i`` depends on ``i`` and ``seed``
        only, so a resumed run sees the same batches.
        """
        check_int("ClassificationTask.batches", "batch_size", batch_size, minimum=1)
        if not items:
            raise ValueError("ClassificationTask.batches: no items to batch.")
        return _Bucketed(list(items), min(batch_size, len(items)), seed, self.collate)

    def eval_batches(self, split: str = "valid", batch_size: int = 200) -> list:
        """Every item of ``split`` once, sorted by length, in batches (for
        :func:`~coursekit.finetune.predict` and :func:`~coursekit.train.evaluate`)."""
        items, order = self.split(split), self.eval_order(split)
        return [
            self.collate([items[k] for k in order[i : i + batch_size]])
            for i in range(0, len(items), batch_size)
        ]

    def eval_order(self, split: str = "valid") -> list[int]:
        """The order of :meth:`eval_batches`: the positions in ``split`` sorted by length."""
        items = self.split(split)
        return sorted(range(len(items)), key=lambda k: len(items[k][0]))

    def split(self, split: str) -> list[Item]:
        """The items of ``"train"``, ``"valid"`` or ``"test"``."""
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}.")
        return getattr(self, split)


class _Bucketed:
    def __init__(
        self, items: list[Item], batch_size: int, seed: int, collate: ClassificationCollate
    ) -> None:
        self.items, self.batch_size, self.seed, self.collate = items, batch_size, seed, collate
        self.per_epoch = len(items) // batch_size  # the last, short batch is dropped
        self._cached: tuple[int, list[list[Item]]] | None = None  # the current epoch's batches

    def __len__(self) -> int:
        return self.per_epoch

    def _epoch(self, epoch: int) -> list[list[Item]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.items)))
        rng.shuffle(order)
        pool, groups = 8 * self.batch_size, []
        for start in range(0, len(order), pool):
            run = sorted(order[start : start + pool], key=lambda k: len(self.items[k][0]))
            groups += [run[i : i + self.batch_size] for i in range(0, len(run), self.batch_size)]
        groups = [g for g in groups if len(g) == self.batch_size][: self.per_epoch]
        rng.shuffle(groups)
        return [[self.items[k] for k in g] for g in groups]

    def __call__(self, i: int) -> ClassificationBatch:
        epoch, j = divmod(i, self.per_epoch)
        if self._cached is None or self._cached[0] != epoch:  # each epoch is grouped once
            self._cached = (epoch, self._epoch(epoch))
        return self.collate(self._cached[1][j])


def load_task(
    tokenizer: Tokenizer, name: str = "wordnet_gloss10", max_len: int = 48
) -> ClassificationTask:
    """The labelled corpus ``name`` encoded with ``tokenizer`` (chapter 09).

    Args:
        tokenizer: the pretrained model's (it must have an ``eos_id``: ``<|endoftext|>``).
        name: a labelled corpus of :func:`coursekit.data.load_labelled`.
        max_len: texts are cut to this many tokens (``<|endoftext|>`` included).
    """
    check_int("load_task", "max_len", max_len, minimum=2)
    eos = getattr(tokenizer, "eos_id", None)
    if eos is None:
        raise ValueError(
            "load_task: the tokenizer has no eos_id (<|endoftext|>); pass the pretrained "
            "model's tokenizer, e.g. coursekit.pretrain.load_pretrained().tokenizer."
        )
    train, classes = encode_labelled(load_labelled(name, "train"), tokenizer)
    valid, _ = encode_labelled(load_labelled(name, "valid"), tokenizer, classes)
    test, _ = encode_labelled(load_labelled(name, "test"), tokenizer, classes)
    collate = ClassificationCollate(pad_id=eos, max_len=max_len, bos_id=eos)
    return ClassificationTask(name, classes, train, valid, test, collate)
