"""Batches of token ids: language-model windows, padded sequence pairs, classification.

Used by chapters 03-05 and 08 (language-model windows), 06-07 (sequence-to-sequence batches) and
09 (classification batches). Everything here is deterministic given a seed and picklable, so a
``DataLoader`` with worker processes gives the same batches as one without.

Shape legend::

    N   number of windows          B   batch size
    T   steps (window / target length)     S   source length
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = [
    "ClassificationBatch",
    "ClassificationCollate",
    "Encoder",
    "LMWindows",
    "Seq2SeqBatch",
    "Seq2SeqCollate",
    "encode_labelled",
    "encode_pairs",
    "lm_windows",
    "make_loader",
    "pad_batch",
    "random_lm_batch",
    "seed_worker",
]


class Encoder(Protocol):
    """Anything with ``encode(text) -> list[int]`` (coursekit's tokenizers, a BPE, ...)."""

    def encode(self, text: str) -> list[int]: ...


def encode_pairs(
    pairs: Sequence[tuple[str, str]],
    src_tokenizer: Encoder,
    tgt_tokenizer: Encoder | None = None,
    max_len: int | None = None,
) -> list[tuple[list[int], list[int]]]:
    """Encode (source, target) text pairs, dropping pairs longer than ``max_len`` tokens.

    Args:
        pairs: e.g. ``load_pairs("bible_kjv_web", "train")``.
        src_tokenizer: encodes the source side.
        tgt_tokenizer: encodes the target side (default: the source tokenizer).
        max_len: keep only pairs whose both sides have at most this many tokens.

    >>> from coursekit.data.tokenizers import WordTokenizer
    >>> tok = WordTokenizer.train("thou art we are")
    >>> encode_pairs([("thou art", "we are"), ("thou art thou art", "we")], tok, max_len=3)
    [([6, 5], [7, 4])]
    """
    tgt_tokenizer = src_tokenizer if tgt_tokenizer is None else tgt_tokenizer
    out = []
    for src, tgt in pairs:
        s, t = src_tokenizer.encode(src), tgt_tokenizer.encode(tgt)
        if max_len is None or (len(s) <= max_len and len(t) <= max_len):
            out.append((s, t))
    return out


def encode_labelled(
    examples: Sequence[tuple[str, str]],
    tokenizer: Encoder,
    labels: Sequence[str] | None = None,
) -> tuple[list[tuple[list[int], int]], list[str]]:
    """Encode ``(text, label)`` examples to ``(ids, label id)``; label ids follow ``labels``.

    Args:
        examples: e.g. ``load_labelled("wordnet_gloss10", "train")``.
        tokenizer: encodes the text.
        labels: the label names in id order (default: sorted labels of ``examples``); pass the
            training set's list when encoding validation and test sets.

    Raises:
        ValueError: a label that is not in ``labels``.

    >>> from coursekit.data.tokenizers import CharTokenizer
    >>> items, labels = encode_labelled([("ab", "pos"), ("b", "neg")], CharTokenizer.train("ab"))
    >>> items, labels
    ([([4, 5], 1), ([5], 0)], ['neg', 'pos'])
    """
    labels = sorted({label for _, label in examples}) if labels is None else list(labels)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({label for _, label in examples} - set(index))
    if unknown:
        raise ValueError(f"Labels {unknown} are not in the label list {labels}.")
    return [(tokenizer.encode(text), index[label]) for text, label in examples], labels


def _as_long(ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    t = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(list(ids))
    if t.dim() != 1:
        raise ValueError(f"Expected a 1-D sequence of token ids, got shape {tuple(t.shape)}.")
    return t.long()


def lm_windows(
    ids: Sequence[int] | torch.Tensor, seq_len: int, stride: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a token stream into (input, target) windows, the target shifted by one step.

    Args:
        ids: the token stream.
        seq_len: window length ``T``.
        stride: step between window starts (default ``seq_len``: no overlap).

    Shape:
        - ids: ``(L,)``
        - Output: ``x`` and ``y``, both ``(N, T)`` with ``N = (L - T - 1) // stride + 1``;
          ``y[n, t] == x[n, t + 1]`` and ``y[n, -1]`` is the token after the window.

    >>> x, y = lm_windows(list(range(10)), seq_len=4)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2, 3], [4, 5, 6, 7]], [[1, 2, 3, 4], [5, 6, 7, 8]])
    """
    data = _as_long(ids)
    stride = seq_len if stride is None else stride
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len and stride must be positive, got {seq_len} and {stride}.")
    if len(data) < seq_len + 1:
        raise ValueError(
            f"A stream of {len(data)} tokens is too short for one window of {seq_len} + 1 tokens; "
            f"use a smaller seq_len or more text."
        )
    windows = data.unfold(0, seq_len + 1, stride)  # (N, T + 1)
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


class LMWindows(Dataset):
    """A map-style dataset of language-model windows: item ``i`` is ``(x, y)``, ``(T,)`` each.

    Args:
        ids: the token stream.
        seq_len: window length ``T``.
        stride: step between window starts (default ``seq_len``).

    >>> ds = LMWindows(list(range(10)), seq_len=3)
    >>> len(ds), ds[1]
    (3, (tensor([3, 4, 5]), tensor([4, 5, 6])))
    """

    def __init__(
        self, ids: Sequence[int] | torch.Tensor, seq_len: int, stride: int | None = None
    ) -> None:
        self.x, self.y = lm_windows(ids, seq_len, stride)  # (N, T) each

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def random_lm_batch(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` windows at random offsets (the nanoGPT way), reproducible with a generator.

    Shape:
        - ids: ``(L,)``
        - Output: ``x``, ``y``: ``(B, T)``, on the device of ``ids``.

    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = random_lm_batch(torch.arange(100), 2, 5, generator=g)
    >>> x.shape, bool((x[:, 1:] == y[:, :-1]).all())
    (torch.Size([2, 5]), True)
    """
    data = _as_long(ids)
    if len(data) < seq_len + 1:
        raise ValueError(f"{len(data)} tokens are too few for windows of {seq_len} + 1.")
    starts = torch.randint(len(data) - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len + 1)
    windows = data[(starts[:, None] + offsets[None, :]).to(data.device)]  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]


def pad_batch(
    seqs: Sequence[Sequence[int] | torch.Tensor], pad_id: int = 0, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad sequences of different lengths into one tensor, with a mask of real tokens.

    Args:
        seqs: ``B`` sequences of token ids.
        pad_id: the padding id (0 for coursekit's tokenizers).
        max_len: truncate longer sequences to this length.

    Shape:
        - Output: ``ids`` ``(B, T)`` (``T`` = longest length) and ``mask`` ``(B, T)`` bool,
          True at real tokens.

    >>> ids, mask = pad_batch([[5, 6, 7], [8]])
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[True, True, True], [True, False, False]])
    """
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence.")
    tensors = [_as_long(s)[:max_len] for s in seqs]
    T = max(1, max(len(t) for t in tensors))
    ids = torch.full((len(tensors), T), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(tensors), T), dtype=torch.bool)  # (B, T)
    for b, t in enumerate(tensors):
        ids[b, : len(t)] = t
        mask[b, : len(t)] = True
    return ids, mask


@dataclass(frozen=True)
class Seq2SeqBatch:
    """A padded batch for an encoder-decoder model (teacher forcing).

    Shape:
        - src, src_mask: ``(B, S)``
        - tgt_in (``<bos>`` + target), tgt_out (target + ``<eos>``), tgt_mask: ``(B, T)``
    """

    src: torch.Tensor
    src_mask: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_mask: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Seq2SeqBatch:
        """The same batch on ``device`` (what :func:`coursekit.train.train` calls)."""
        return Seq2SeqBatch(*(t.to(device, non_blocking=non_blocking) for t in vars(self).values()))


@dataclass(frozen=True)
class Seq2SeqCollate:
    """``collate_fn`` for ``(source ids, target ids)`` pairs → :class:`Seq2SeqBatch`.

    The decoder reads ``<bos> y1 … yn`` and predicts ``y1 … yn <eos>``; padding positions of
    ``tgt_out`` hold ``pad_id`` (use ``ignore_index=pad_id`` in the loss).

    Args:
        pad_id, bos_id, eos_id: special ids (coursekit's tokenizers: 0, 2, 3).
        max_src_len, max_tgt_len: truncate longer sequences.

    >>> batch = Seq2SeqCollate()([([5, 6], [7]), ([5], [8, 9])])
    >>> batch.src.tolist(), batch.tgt_in.tolist(), batch.tgt_out.tolist()
    ([[5, 6], [5, 0]], [[2, 7, 0], [2, 8, 9]], [[7, 3, 0], [8, 9, 3]])
    """

    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3
    max_src_len: int | None = None
    max_tgt_len: int | None = None

    def __call__(self, items: Sequence[tuple[Sequence[int], Sequence[int]]]) -> Seq2SeqBatch:
        src, src_mask = pad_batch([s for s, _ in items], self.pad_id, self.max_src_len)
        targets = [list(map(int, t))[: self.max_tgt_len] for _, t in items]
        tgt_in, tgt_mask = pad_batch([[self.bos_id, *t] for t in targets], self.pad_id)
        tgt_out, _ = pad_batch([[*t, self.eos_id] for t in targets], self.pad_id)
        return Seq2SeqBatch(src, src_mask, tgt_in, tgt_out, tgt_mask)


@dataclass(frozen=True)
class ClassificationBatch:
    """A padded batch of labelled sequences.

    Shape:
        - ids, mask: ``(B, T)``
        - labels: ``(B,)``
    """

    ids: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ClassificationBatch:
        """The same batch on ``device`` (what :func:`coursekit.train.train` calls)."""
        return ClassificationBatch(
            *(t.to(device, non_blocking=non_blocking) for t in vars(self).values())
        )


@dataclass(frozen=True)
class ClassificationCollate:
    """``collate_fn`` for ``(token ids, label id)`` items → :class:`ClassificationBatch`.

    Args:
        pad_id: the padding id.
        max_len: truncate longer sequences.
        bos_id: if set, put this id in front of every sequence (a ``[CLS]``-like first token).

    >>> batch = ClassificationCollate()([([4, 5, 6], 1), ([7], 0)])
    >>> batch.ids.tolist(), batch.labels.tolist()
    ([[4, 5, 6], [7, 0, 0]], [1, 0])
    """

    pad_id: int = 0
    max_len: int | None = None
    bos_id: int | None = None

    def __call__(self, items: Sequence[tuple[Sequence[int], int]]) -> ClassificationBatch:
        prefix = [] if self.bos_id is None else [self.bos_id]
        seqs = [[*prefix, *map(int, ids)] for ids, _ in items]
        ids, mask = pad_batch(seqs, self.pad_id, self.max_len)
        labels = torch.tensor([int(label) for _, label in items], dtype=torch.long)  # (B,)
        return ClassificationBatch(ids, mask, labels)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python's ``random`` in each worker from torch's per-worker seed.

    Torch seeds every worker with ``base_seed + worker_id`` (the base seed comes from the loader's
    generator), so worker-side randomness (e.g. masking in chapter 08) is reproducible too.
    """
    random.seed(torch.initial_seed() % 2**32)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
    num_replicas: int | None = None,
    rank: int | None = None,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A ``DataLoader`` whose order (and workers' random state) depends only on ``seed``.

    :func:`coursekit.train.train` saves the loader's generator in its checkpoints, so a resumed
    run sees the same batches as an uninterrupted one.

    Args:
        dataset: any map-style dataset.
        batch_size: ``B`` (per process under DDP).
        shuffle: reshuffle every epoch, in an order fixed by ``seed``.
        seed: the seed of the loader's own generator.
        collate_fn: e.g. :class:`Seq2SeqCollate` or :class:`ClassificationCollate`.
        num_workers: worker processes (0 = load in the main process; same batches either way).
        drop_last: drop a last, smaller batch.
        num_replicas, rank: shard every epoch over ``num_replicas`` processes (DDP): this one,
            ``rank``, gets a disjoint ``1 / num_replicas`` of it (a ``DistributedSampler`` with
            ``seed``; :func:`~coursekit.train.train` calls its ``set_epoch``). Default: from
            ``torch.distributed`` when a group of more than one process is running, else no
            sharding.
        pin_memory: put batches in page-locked memory, so the copy to the GPU overlaps the
            computation (the loop moves them with ``non_blocking=True``). Default: when CUDA is
            available.

    >>> loader = make_loader(LMWindows(list(range(50)), 4), batch_size=3, shuffle=True, seed=1)
    >>> [x.shape for x, _ in loader][0]
    torch.Size([3, 4])
    >>> half = make_loader(LMWindows(list(range(50)), 4), 3, num_replicas=2, rank=1)
    >>> len(half.sampler), [x[0, 0].item() for x, _ in half]
    (6, [4, 28])
    """
    if (num_replicas is None) != (rank is None):
        raise ValueError(
            f"give num_replicas and rank together (got num_replicas={num_replicas}, rank={rank}),"
            f" or neither to take them from torch.distributed"
        )
    dist = torch.distributed
    grouped = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if num_replicas is None and grouped:
        num_replicas, rank = dist.get_world_size(), dist.get_rank()
    sampler = None
    if num_replicas is not None:
        sampler = DistributedSampler(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed
        )
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=seed_worker if num_workers else None,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
    )
