"""Count-based word vectors: vocabulary, co-occurrence counts, PPMI and truncated SVD (chapter 01).

The distributional hypothesis made concrete: a word is described by the words around it. Counting
those neighbours gives a sparse ``(V, V)`` matrix; PPMI reweights it so that informative pairs
stand out, and a truncated SVD squeezes each row into a dense vector.

Shape legend: ``V`` vocabulary size, ``N`` tokens (or non-zero entries), ``C`` vector width.
Token ids are 1-D integer arrays; a negative id marks a sentence boundary, and no window crosses it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BOUNDARY",
    "Cooccurrence",
    "Vocabulary",
    "cooccurrence_counts",
    "ppmi",
    "svd_vectors",
]

BOUNDARY = -1  # id that separates sentences in a flat id array


@dataclass(frozen=True)
class Vocabulary:
    """Words sorted by falling frequency, with their counts and an index.

    >>> v = Vocabulary.from_tokens("a b a c a b".split())
    >>> v.words, v.counts.tolist(), v["b"]
    (('a', 'b', 'c'), [3, 2, 1], 1)
    """

    words: tuple[str, ...]
    counts: np.ndarray

    def __post_init__(self) -> None:
        if len(self.words) != len(self.counts):
            raise ValueError(f"{len(self.words)} words but {len(self.counts)} counts")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocabulary:
        """Keep words seen at least ``min_freq`` times (at most ``max_size`` of the commonest).

        Why this vocabulary is not a tokenizer's: see :mod:`coursekit.data.tokenizers`.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        counted = Counter(tokens).most_common(max_size)
        kept = [(w, c) for w, c in counted if c >= min_freq]
        if not kept:
            raise ValueError(f"no word occurs at least {min_freq} times; lower min_freq")
        words, counts = zip(*kept, strict=True)
        return cls(tuple(words), np.asarray(counts, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index  # type: ignore[attr-defined]

    def __getitem__(self, word: str) -> int:
        try:
            return self._index[word]  # type: ignore[attr-defined]
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self)} words)") from None

    def get(self, word: str, default: int = BOUNDARY) -> int:
        return self._index.get(word, default)  # type: ignore[attr-defined]

    def encode(self, sentences: Iterable[Sequence[str]]) -> np.ndarray:
        """Flat ids of the known words, sentences separated by :data:`BOUNDARY`; unknown words are
        dropped (as word2vec does), so windows span the words around them.

        >>> Vocabulary.from_tokens("a b".split()).encode([["a", "x", "b"], ["b"]]).tolist()
        [0, 1, -1, 1]
        """
        ids: list[int] = []
        for sentence in sentences:
            if ids:
                ids.append(BOUNDARY)
            ids.extend(i for i in (self.get(w) for w in sentence) if i != BOUNDARY)
        return np.asarray(ids, dtype=np.int64)


@dataclass(frozen=True)
class Cooccurrence:
    """A sparse ``(V, V)`` matrix in coordinate form: ``values[n]`` sits at ``(rows[n], cols[n])``."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    size: int

    def to_dense(self) -> np.ndarray:
        """The full ``(V, V)`` array (only for small vocabularies)."""
        out = np.zeros((self.size, self.size), dtype=np.float64)
        np.add.at(out, (self.rows, self.cols), self.values)
        return out

    def to_torch(self) -> torch.Tensor:
        """A coalesced ``torch.sparse_coo_tensor`` of shape ``(V, V)``, float32."""
        index = torch.from_numpy(np.stack([self.rows, self.cols]))
        values = torch.from_numpy(self.values.astype(np.float32))
        shape = (self.size, self.size)
        return torch.sparse_coo_tensor(index, values, shape, check_invariants=False).coalesce()

    @property
    def nnz(self) -> int:
        return len(self.values)


def _window_pairs(ids: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) id pairs ``distance`` apart that do not cross a boundary."""
    left, right = ids[:-distance], ids[distance:]
    if distance == 1:
        ok = (left >= 0) & (right >= 0)
    else:  # no boundary anywhere inside the window
        blocked = np.cumsum(ids < 0)
        ok = (blocked[distance:] == blocked[:-distance]) & (left >= 0)
    return left[ok], right[ok]


def cooccurrence_counts(
    ids: np.ndarray | Sequence[int],
    vocab_size: int,
    window: int = 5,
    weighting: str = "harmonic",
) -> Cooccurrence:
    """Count how often word ``j`` occurs within ``window`` words of word ``i`` (both directions).

    Args:
        ids: token ids, shape ``(N,)``; negative ids are sentence boundaries.
        vocab_size: ``V``; every non-negative id must be below it.
        window: largest distance counted.
        weighting: ``"uniform"`` adds 1 per pair; ``"harmonic"`` adds ``1/distance`` (GloVe's choice).

    Returns:
        A symmetric :class:`Cooccurrence` of shape ``(V, V)``.

    >>> c = cooccurrence_counts([0, 1, 2], 3, window=1, weighting="uniform")
    >>> c.to_dense().tolist()
    [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {ids.shape}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if weighting not in ("uniform", "harmonic"):
        raise ValueError(f"weighting must be 'uniform' or 'harmonic', got {weighting!r}")
    if len(ids) and ids.max() >= vocab_size:
        raise ValueError(f"id {ids.max()} is out of range for vocab_size={vocab_size}")
    keys, weights = [], []
    for d in range(1, window + 1):
        if d >= len(ids):
            break
        left, right = _window_pairs(ids, d)
        w = 1.0 if weighting == "uniform" else 1.0 / d
        # both directions: (left, right) and (right, left)
        keys += [left * vocab_size + right, right * vocab_size + left]
        weights += [np.full(2 * len(left), w)]
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return Cooccurrence(empty, empty, np.zeros(0), vocab_size)
    flat = np.concatenate(keys)
    unique, inverse = np.unique(flat, return_inverse=True)
    values = np.bincount(inverse, weights=np.concatenate(weights))
    return Cooccurrence(unique // vocab_size, unique % vocab_size, values, vocab_size)


def ppmi(counts: Cooccurrence, alpha: float = 0.75, shift: float = 1.0) -> Cooccurrence:
    """Positive pointwise mutual information of a co-occurrence matrix.

    ``PMI(i, j) = log( p(i, j) / (p(i) p_alpha(j)) )`` with ``p_alpha(j) ∝ count(j)^alpha``
    (context smoothing, Levy et al. 2015); ``PPMI = max(PMI - log(shift), 0)``. Zeros stay zero.

    Args:
        counts: a :class:`Cooccurrence` (any non-negative weights).
        alpha: context-distribution smoothing; 1.0 gives plain PMI.
        shift: the ``k`` of shifted PPMI (``log k`` is subtracted); 1.0 means no shift.

    >>> c = Cooccurrence(np.array([0, 1]), np.array([1, 0]), np.array([2.0, 2.0]), 2)
    >>> ppmi(c, alpha=1.0).values.round(3).tolist()  # log(0.5 / (0.5 * 0.5))
    [0.693, 0.693]
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    total = counts.values.sum()
    row_sum = np.bincount(counts.rows, weights=counts.values, minlength=counts.size)  # (V,)
    col_sum = np.bincount(counts.cols, weights=counts.values, minlength=counts.size)  # (V,)
    col_alpha = col_sum**alpha
    p_col = col_alpha / col_alpha.sum()
    pmi = np.log(counts.values / total) - np.log(row_sum[counts.rows] / total)
    pmi -= np.log(p_col[counts.cols]) + np.log(shift)
    keep = pmi > 0
    return Cooccurrence(counts.rows[keep], counts.cols[keep], pmi[keep], counts.size)


def svd_vectors(
    matrix: Cooccurrence, dim: int, power: float = 0.5, seed: int = 0, niter: int = 6
) -> torch.Tensor:
    """Dense word vectors ``U_C · S_C^power`` from a truncated SVD of a sparse matrix.

    Uses ``torch.svd_lowrank`` (randomised, works on sparse input), so no SciPy is needed.

    Args:
        matrix: e.g. the output of :func:`ppmi`.
        dim: ``C``, the number of singular vectors kept.
        power: exponent on the singular values (0.5 is the usual symmetric split).

    Shape:
        Output: ``(V, C)``.

    >>> m = Cooccurrence(np.array([0, 1]), np.array([1, 0]), np.array([1.0, 1.0]), 3)
    >>> svd_vectors(m, dim=2).shape
    torch.Size([3, 2])
    """
    if not 1 <= dim < matrix.size:
        raise ValueError(f"dim must be between 1 and V-1={matrix.size - 1}, got {dim}")
    from coursekit.embeddings._threads import one_thread

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with one_thread():  # sparse products: see coursekit.embeddings._threads
            u, s, _ = torch.svd_lowrank(
                matrix.to_torch(), q=min(dim + 10, matrix.size), niter=niter
            )
    finally:
        torch.random.set_rng_state(generator_state)
    return u[:, :dim] * s[:dim] ** power  # (V, C)
