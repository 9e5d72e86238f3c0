"""word2vec: skip-gram with negative sampling (SGNS), batched for fast CPU training (chapter 01).

Skip-gram (Mikolov et al. 2013) is a shallow *predictive* neural model: from a centre word it
predicts the words around it. Negative sampling replaces the softmax over the vocabulary with a
few binary decisions: "is this a real context word, or one drawn from the noise distribution?"

    loss(c, o) = -log σ(u_o · v_c) - Σ_k log σ(-u_k · v_c),    k = 1..K,  u_k ~ P_noise ∝ count^0.75

Training here is vectorised: every (centre, context) pair of an epoch is built at once with NumPy,
shuffled, and fed to the model in large batches with sparse gradients and a linearly decaying
learning rate (gensim's schedule).

Shape legend: ``B`` batch of pairs, ``K`` negatives per pair, ``C`` vector width, ``V`` vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coursekit.embeddings._threads import one_thread

__all__ = [
    "SkipGram",
    "Word2VecConfig",
    "keep_probabilities",
    "negative_sampling_loss",
    "noise_distribution",
    "sgns_gradients",
    "sgns_sgd_step",
    "skipgram_pairs",
    "train_word2vec",
]


def negative_sampling_loss(
    center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """The skip-gram negative-sampling loss for a batch of pairs.

    ``-log σ(u_o · v_c) - Σ_k log σ(-u_k · v_c)``, computed with ``logsigmoid`` (stable).

    Args:
        center: centre-word vectors ``v_c``.
        context: true context-word vectors ``u_o``.
        negatives: noise-word vectors ``u_k``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.

    Shape:
        center ``(B, C)``, context ``(B, C)``, negatives ``(B, K, C)``; output scalar, or ``(B,)``.

    >>> v = torch.zeros(1, 2); round(negative_sampling_loss(v, v, torch.zeros(1, 3, 2)).item(), 4)
    2.7726
    """
    if center.dim() != 2 or context.shape != center.shape:
        raise ValueError(
            f"center and context must both be (B, C); got {tuple(center.shape)} and "
            f"{tuple(context.shape)}"
        )
    if negatives.dim() != 3 or negatives.shape[0] != center.shape[0]:
        raise ValueError(
            f"negatives must be (B, K, C) with B={center.shape[0]}, got {tuple(negatives.shape)}"
        )
    positive = (center * context).sum(-1)  # (B,)
    negative = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)  # (B, K)
    loss = -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)  # (B,)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class SkipGram(nn.Module):
    """Two embedding tables: ``v`` (centre, "input") and ``u`` (context, "output").

    Initialised like word2vec: ``v`` uniform in ``±0.5/C``, ``u`` zeros. The word vectors are ``v``.

    Args:
        vocab_size: ``V``.
        dim: ``C``.
        sparse: sparse gradients (only the rows used in a batch are touched).

    >>> m = SkipGram(10, 4); m(torch.tensor([1]), torch.tensor([2]), torch.tensor([[3, 4]])).shape
    torch.Size([])
    """

    def __init__(self, vocab_size: int, dim: int, sparse: bool = True) -> None:
        super().__init__()
        if vocab_size < 2 or dim < 1:
            raise ValueError(f"need vocab_size >= 2 and dim >= 1, got {vocab_size}, {dim}")
        self.center = nn.Embedding(vocab_size, dim, sparse=sparse)
        self.context = nn.Embedding(vocab_size, dim, sparse=sparse)
        with torch.no_grad():
            self.center.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.context.weight.zero_()

    def forward(
        self,
        center: torch.Tensor,
        context: torch.Tensor,
        negatives: torch.Tensor,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Loss for ids: center ``(B,)``, context ``(B,)``, negatives ``(B, K)``."""
        return negative_sampling_loss(
            self.center(center),  # (B, C)
            self.context(context),  # (B, C)
            self.context(negatives),  # (B, K, C)
            reduction,
        )

    @property
    def vectors(self) -> torch.Tensor:
        """The word vectors, ``(V, C)``, detached."""
        return self.center.weight.detach()


def noise_distribution(counts: np.ndarray | torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """Noise distribution for negatives: ``count^power``, normalised.

    >>> noise_distribution(np.array([1, 16]), power=0.5).tolist()
    [0.2, 0.8]
    """
    c = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
    if c.dim() != 1 or bool((c < 0).any()) or float(c.sum()) <= 0:
        raise ValueError("counts must be a 1-D array of non-negative numbers with a positive sum")
    p = c**power
    return p / p.sum()


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    word2vec's C formula: ``(sqrt(f / (s·N)) + 1) · s·N / f``, capped at 1, where ``f`` is the
    word's count and ``N`` the corpus size. ``sample=0`` keeps everything.

    >>> keep_probabilities(np.array([1, 1000]), sample=1e-3).round(3).tolist()
    [1.0, 0.033]
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)


def skipgram_pairs(
    ids: np.ndarray,
    window: int,
    rng: np.random.Generator,
    keep: np.ndarray | None = None,
    dynamic_window: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) pairs of one epoch, built at once.

    Args:
        ids: token ids ``(N,)``; negative ids are sentence boundaries.
        window: the largest distance between centre and context.
        rng: source of randomness (subsampling, window sizes).
        keep: per-word keep probabilities ``(V,)`` from :func:`keep_probabilities` (None: keep all).
        dynamic_window: as in word2vec, each centre uses a window drawn from 1..``window``, so
            near words count more (a pair at distance ``d`` is kept with probability
            ``(window - d + 1) / window``).

    Returns:
        ``(centres, contexts)``, two ``(P,)`` int64 arrays, in corpus order.

    >>> c, o = skipgram_pairs(np.array([0, 1, 2]), 1, np.random.default_rng(0), dynamic_window=False)
    >>> sorted(zip(c.tolist(), o.tolist()))
    [(0, 1), (1, 0), (1, 2), (2, 1)]
    """
    from coursekit.embeddings.cooccurrence import _window_pairs

    ids = np.asarray(ids, dtype=np.int64)
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if keep is not None:  # subsampled words are removed before windows are drawn (as in word2vec)
        drop = (ids >= 0) & (rng.random(len(ids)) >= keep[np.maximum(ids, 0)])
        ids = ids[~drop]
    centres, contexts = [], []
    span = rng.integers(1, window + 1, size=len(ids)) if dynamic_window else None
    positions = np.arange(len(ids))
    for d in range(1, min(window, len(ids) - 1) + 1):
        left, right = _window_pairs(positions * (ids >= 0) - (ids < 0), d)  # positions, not ids
        for c, o in ((left, right), (right, left)):
            if span is not None:
                ok = span[c] >= d
                c, o = c[ok], o[ok]
            centres.append(ids[c])
            contexts.append(ids[o])
    if not centres:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(centres), np.concatenate(contexts)


def sgns_gradients(
    center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The summed loss and its gradients, by hand: what autograd would give for ``reduction="sum"``.

    With ``s⁺ = σ(u_o·v_c)`` and ``s⁻_k = σ(u_k·v_c)``:
    ``∂/∂v_c = (s⁺ - 1) u_o + Σ_k s⁻_k u_k``, ``∂/∂u_o = (s⁺ - 1) v_c``, ``∂/∂u_k = s⁻_k v_c``.

    Shape:
        center, context ``(B, C)``, negatives ``(B, K, C)``; returns
        ``(loss (), grad_center (B, C), grad_context (B, C), grad_negatives (B, K, C))``.
    """
    positive = (center * context).sum(-1)  # (B,)
    negative = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)  # (B, K)
    loss = -(F.logsigmoid(positive).sum() + F.logsigmoid(-negative).sum())
    g_pos = torch.sigmoid(positive) - 1  # (B,)
    g_neg = torch.sigmoid(negative)  # (B, K)
    grad_center = g_pos.unsqueeze(-1) * context + torch.bmm(g_neg.unsqueeze(1), negatives).squeeze(
        1
    )
    grad_context = g_pos.unsqueeze(-1) * center  # (B, C)
    grad_negatives = g_neg.unsqueeze(-1) * center.unsqueeze(1)  # (B, K, C)
    return loss, grad_center, grad_context, grad_negatives


@torch.no_grad()
def sgns_sgd_step(
    model: SkipGram,
    center: torch.Tensor,
    context: torch.Tensor,
    negatives: torch.Tensor,
    lr: float,
) -> float:
    """One SGD step on the summed loss of a batch of ids, updating only the rows it touches.

    Every pair's gradient is taken at the same parameters (a batch of word2vec's per-pair updates)
    and scattered with ``index_add_``, so a word seen twice in the batch gets both updates.

    Args:
        center ``(B,)``, context ``(B,)``, negatives ``(B, K)`` ids; ``lr`` the step size.

    Returns:
        The summed loss of the batch before the step.
    """
    w_in, w_out = model.center.weight, model.context.weight
    loss, g_c, g_o, g_n = sgns_gradients(w_in[center], w_out[context], w_out[negatives])
    w_in.index_add_(0, center, g_c, alpha=-lr)
    w_out.index_add_(0, context, g_o, alpha=-lr)
    w_out.index_add_(0, negatives.reshape(-1), g_n.reshape(-1, g_n.shape[-1]), alpha=-lr)
    return float(loss)


@dataclass(frozen=True)
class Word2VecConfig:
    """Settings of :func:`train_word2vec` (defaults follow gensim where it matters)."""

    dim: int = 100
    window: int = 5
    negatives: int = 5
    sample: float = 1e-3
    epochs: int = 5
    batch_size: int = 1024
    lr: float = 0.025
    min_lr: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "window", "negatives", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"Word2VecConfig.{name} must be at least 1, got {getattr(self, name)}"
                )
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")


def train_word2vec(
    ids: np.ndarray,
    counts: np.ndarray,
    config: Word2VecConfig = Word2VecConfig(),
    callback: Callable[[int, float], None] | None = None,
) -> tuple[SkipGram, list[float]]:
    """Train skip-gram with negative sampling on a corpus of ids.

    Plain SGD on the *summed* batch loss with a linear learning-rate decay, as word2vec and gensim
    do per pair; the batch only groups pairs so that NumPy/PyTorch can vectorise them. The loop runs
    on one CPU thread (see :mod:`coursekit.embeddings._threads`).

    Args:
        ids: token ids ``(N,)``, boundaries negative (see :meth:`Vocabulary.encode`).
        counts: word counts ``(V,)``: the noise distribution and the subsampling use them.
        config: a :class:`Word2VecConfig`.
        callback: called as ``callback(epoch, mean_loss)`` after each epoch.

    Returns:
        The trained :class:`SkipGram` and the mean loss per epoch.
    """
    counts = np.asarray(counts)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {ids.shape}")
    if len(ids) and ids.max() >= len(counts):
        raise ValueError(f"id {ids.max()} is out of range for {len(counts)} counts")
    with one_thread():
        return _train_word2vec(ids, counts, config, callback)


def _train_word2vec(
    ids: np.ndarray,
    counts: np.ndarray,
    config: Word2VecConfig,
    callback: Callable[[int, float], None] | None,
) -> tuple[SkipGram, list[float]]:
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = SkipGram(len(counts), config.dim, sparse=False)
    noise = noise_distribution(counts).float()
    keep = keep_probabilities(counts, config.sample)
    # The learning rate decays linearly over the expected number of pairs (measured once).
    per_epoch = len(skipgram_pairs(ids, config.window, np.random.default_rng(config.seed), keep)[0])
    total_steps = max(1, config.epochs * math.ceil(per_epoch / config.batch_size))
    history, step = [], 0
    for epoch in range(config.epochs):
        centres, contexts = skipgram_pairs(ids, config.window, rng, keep)
        order = torch.from_numpy(rng.permutation(len(centres)))
        centres_t = torch.from_numpy(centres)[order]
        contexts_t = torch.from_numpy(contexts)[order]
        negatives = torch.multinomial(
            noise, len(centres) * config.negatives, replacement=True, generator=generator
        ).view(-1, config.negatives)  # (P, K)
        total = 0.0
        for i in range(0, len(centres), config.batch_size):
            lr = config.lr - (config.lr - config.min_lr) * min(step / total_steps, 1.0)
            sl = slice(i, i + config.batch_size)
            total += sgns_sgd_step(model, centres_t[sl], contexts_t[sl], negatives[sl], lr)
            step += 1
        history.append(total / max(1, len(centres)))
        if not math.isfinite(history[-1]):
            raise FloatingPointError(
                f"word2vec diverged in epoch {epoch + 1} (loss {history[-1]}). A batch adds up the "
                f"updates of a word that occurs in it many times: with {len(counts)} words and "
                f"batch_size={config.batch_size}, lower batch_size (e.g. to {max(8, len(counts) // 4)}) "
                f"or lr."
            )
        if callback is not None:
            callback(epoch, history[-1])
    return model, history
