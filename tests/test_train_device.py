"""coursekit.train moves every kind of batch to the training device: tensors, containers, and any
object with ``.to(device)`` (the course's Seq2SeqBatch and ClassificationBatch)."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn

from coursekit.data.batching import ClassificationCollate, Seq2SeqCollate
from coursekit.train import evaluate, move_to, train

QUIET = {"progress": False, "live_plot": False}
META = torch.device("meta")  # a device every machine has: the test fails on CPU too
Pair = namedtuple("Pair", "x y")


class Box:
    """A batch class of a learner's own: only ``.to`` in common with the course's."""

    def __init__(self, x):
        self.x = x

    def to(self, device):
        return Box(self.x.to(device))


def _seq2seq():
    return Seq2SeqCollate()([([5, 6], [7]), ([5], [8, 9])])


def _classification():
    return ClassificationCollate()([([4, 5, 6], 1), ([7], 0)])


def _tensors(batch):
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, dict):
        return [t for v in batch.values() for t in _tensors(v)]
    if isinstance(batch, (list, tuple)):
        return [t for v in batch for t in _tensors(v)]
    return [t for v in vars(batch).values() for t in _tensors(v)]


BATCHES = {
    "tensor": lambda: torch.zeros(2, 3),
    "tuple": lambda: (torch.zeros(2), torch.ones(2)),
    "list": lambda: [torch.zeros(2), [torch.ones(1)]],
    "dict": lambda: {"x": torch.zeros(2), "y": (torch.ones(1),)},
    "namedtuple": lambda: Pair(torch.zeros(2), torch.ones(2)),
    "Seq2SeqBatch": _seq2seq,
    "ClassificationBatch": _classification,
    "own class with .to": lambda: Box(torch.zeros(3)),
}


@pytest.mark.parametrize("kind", list(BATCHES))
def test_move_to_moves_every_tensor_of_every_batch_kind(kind):
    batch = BATCHES[kind]()
    moved = move_to(batch, META)
    assert type(moved) is type(batch)
    tensors = _tensors(moved)
    assert tensors and all(t.device == META for t in tensors)
    if kind == "namedtuple":
        assert moved.x.shape == (2,)


class Spy(nn.Module):
    """A model that records the device of every tensor in the batches it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.seen: list[set[str]] = []

    def forward(self, batch):
        self.seen.append({str(t.device) for t in _tensors(batch)})
        return self.w * 2.0


@pytest.mark.parametrize("kind", ["Seq2SeqBatch", "ClassificationBatch", "own class with .to"])
def test_train_and_evaluate_hand_the_model_moved_batches(kind, monkeypatch):
    """On CPU a batch that is not moved looks the same, so the spy records the ``.to`` calls."""
    batch = BATCHES[kind]()
    calls = []
    real_to = type(batch).to
    monkeypatch.setattr(type(batch), "to", lambda self, d: calls.append(str(d)) or real_to(self, d))
    model = Spy()
    loss = lambda m, b: m(b)  # noqa: E731
    train(model, [batch], loss_fn=loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
          steps=2, valid_batches=[batch], eval_every=1, **QUIET)  # fmt: skip
    assert calls == ["cpu"] * 4  # two steps, each followed by an evaluation
    evaluate(model, [batch], loss)
    assert len(calls) == 5 and model.seen[-1] == {"cpu"}
