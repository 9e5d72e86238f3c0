"""Evaluating word vectors: similarity with human ratings, synonym retrieval, analogies (chapter 01).

Every score is reported with its *coverage*: how many of the test items have all their words in
the vocabulary. Methods are compared on the same covered items only, or the comparison is unfair.

The test sets are loaded by :mod:`coursekit.data` (``load_similarity``, ``analogies``): the bundled
WordNet pairs always, and the human-rated sets (SimLex-999, WordSim-353) and word2vec's analogy
questions from an installed gensim, which ships them; :func:`gensim_available` tells a notebook
whether to use them or to fall back to the WordNet pairs alone.

Shape legend: ``V`` vocabulary, ``C`` vector width, ``P`` pairs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "AnalogyResult",
    "BootstrapResult",
    "RetrievalResult",
    "SimilarityResult",
    "analogy_accuracy",
    "cosine_similarity_matrix",
    "covered_pairs",
    "gensim_available",
    "nearest_neighbours",
    "random_vectors",
    "similarity_bootstrap",
    "similarity_spearman",
    "spearman",
    "synonym_retrieval",
]

Pair = tuple[str, str, float]
WordIndex = Mapping[str, int]


def gensim_available() -> bool:
    """Whether gensim is installed: it carries the human-rated sets and the reference Word2Vec."""
    return importlib.util.find_spec("gensim") is not None


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties get their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2  # mean of ranks s+1 .. e
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rank correlation (Pearson correlation of the ranks; ties averaged).

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(
            f"need two 1-D sequences of equal length >= 2, got {x.shape} and {y.shape}"
        )
    rx, ry = _rank(x) - (len(x) + 1) / 2, _rank(y) - (len(y) + 1) / 2
    denominator = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else float("nan")


def _rank_rows(x: np.ndarray) -> np.ndarray:
    """:func:`_rank` for every row of a ``(B, P)`` array at once (ties get their average rank)."""
    order = np.argsort(x, axis=1, kind="mergesort")
    s = np.take_along_axis(x, order, axis=1)
    positions = np.broadcast_to(np.arange(x.shape[1]), x.shape)
    new = np.ones_like(s, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    first = np.maximum.accumulate(np.where(new, positions, 0), axis=1)  # start of each tie group
    last_new = np.ones_like(new)
    last_new[:, :-1] = new[:, 1:]
    last = np.minimum.accumulate(np.where(last_new, positions, x.shape[1])[:, ::-1], axis=1)[
        :, ::-1
    ]  # end of each tie group
    ranks = np.empty_like(s, dtype=np.float64)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    return ranks


def _spearman_rows(x: np.ndarray, y: np.ndarray, y_ranked: bool = False) -> np.ndarray:
    """Spearman correlation of each row of ``x`` with the same row of ``y``, both ``(B, P)``
    (``y_ranked``: ``y`` holds ranks already, centred or not)."""
    rx, ry = _rank_rows(x), (y if y_ranked else _rank_rows(y))
    rx -= rx.mean(1, keepdims=True)
    ry = ry - ry.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of one repeated pair: nan
        return (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))


@dataclass(frozen=True)
class BootstrapResult:
    """Spearman correlations and their 95% bootstrap intervals over the rated pairs."""

    rho: dict[str, float]
    interval: dict[str, tuple[float, float]]  # method -> (2.5%, 97.5%) percentiles
    difference: dict[tuple[str, str], tuple[float, float, float]]  # (a, b) -> rho_a - rho_b, CI
    pairs: int

    def above_chance(self, method: str) -> bool:
        """Whether the method's 95% interval lies above 0 (what unrelated vectors score)."""
        return self.interval[method][0] > 0

    def better(self, a: str, b: str) -> bool:
        """Whether ``a`` beats ``b``: the 95% interval of ``rho_a - rho_b`` lies above 0."""
        if (a, b) in self.difference:
            return self.difference[(a, b)][1] > 0
        return self.difference[(b, a)][2] < 0  # KeyError if the pair was not compared


def similarity_bootstrap(
    vectors: Mapping[str, torch.Tensor],
    index: WordIndex,
    pairs: Sequence[Pair],
    compare: Sequence[tuple[str, str]] = (),
    resamples: int = 1000,
    seed: int = 0,
) -> BootstrapResult:
    """Spearman correlations of several methods on the same covered pairs, with their uncertainty.

    The pairs are resampled with replacement ``resamples`` times; every method is scored on the
    *same* resamples, so the interval of a difference between two methods is a paired one (much
    narrower than the two intervals side by side suggest).

    Args:
        vectors: method name -> ``(V, C)`` vectors, all in the row order of ``index``.
        index: word -> row.
        pairs: ``(word, word, score)`` triples; those with an unknown word are skipped.
        compare: ``(a, b)`` method pairs whose difference ``rho_a - rho_b`` gets an interval.

    >>> v = {"good": torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])}
    >>> pairs = [("a", "b", 9.0), ("a", "c", 1.0), ("b", "d", 2.0), ("c", "d", 8.0), ("a", "d", 1.5)]
    >>> r = similarity_bootstrap(v, {w: i for i, w in enumerate("abcd")}, pairs, resamples=200)
    >>> round(r.rho["good"], 3), r.pairs
    (0.975, 5)
    """
    kept = covered_pairs(pairs, index)
    if len(kept) < 3:
        raise ValueError(f"only {len(kept)} of {len(pairs)} pairs are covered by the vocabulary")
    a = torch.tensor([index[p[0]] for p in kept])
    b = torch.tensor([index[p[1]] for p in kept])
    human = np.array([p[2] for p in kept], dtype=np.float64)
    cosines = {m: (_unit(v)[a] * _unit(v)[b]).sum(-1).double().numpy() for m, v in vectors.items()}
    draw = np.random.default_rng(seed).integers(0, len(kept), size=(resamples, len(kept)))
    human_ranks = _rank_rows(human[draw])  # the same resamples for every method
    boot = {m: _spearman_rows(c[draw], human_ranks, y_ranked=True) for m, c in cosines.items()}

    def ci(x: np.ndarray) -> tuple[float, float]:
        low, high = np.nanpercentile(x, [2.5, 97.5])
        return float(low), float(high)

    rho = {m: spearman(c, human) for m, c in cosines.items()}
    difference = {(m, n): (rho[m] - rho[n], *ci(boot[m] - boot[n])) for m, n in compare}
    return BootstrapResult(rho, {m: ci(x) for m, x in boot.items()}, difference, len(kept))


def covered_pairs(pairs: Sequence[Pair], *vocabularies: WordIndex) -> list[Pair]:
    """The pairs whose two words are in *every* vocabulary given (so methods share the items)."""
    return [p for p in pairs if all(p[0] in v and p[1] in v for v in vocabularies)]


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(vectors, dtype=torch.float32)
    if v.dim() != 2:
        raise ValueError(f"vectors must be (V, C), got shape {tuple(v.shape)}")
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (default ``a``): ``(N, M)``.

    >>> cosine_similarity_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0]])).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    ua = _unit(a)
    return ua @ (ua if b is None else _unit(b)).T


@dataclass(frozen=True)
class SimilarityResult:
    """Spearman correlation on the covered pairs, with the coverage."""

    rho: float
    covered: int
    total: int

    def __str__(self) -> str:
        return f"Spearman {self.rho:+.3f} on {self.covered}/{self.total} pairs"


def similarity_spearman(
    vectors: torch.Tensor, index: WordIndex, pairs: Sequence[Pair], total: int | None = None
) -> SimilarityResult:
    """Spearman correlation between cosine similarities and human scores on the covered pairs.

    Args:
        vectors: ``(V, C)``.
        index: word → row of ``vectors`` (a dict or a :class:`Vocabulary`).
        pairs: ``(word, word, score)`` triples; those with an unknown word are skipped.
        total: the size of the full test set for the coverage line (default ``len(pairs)``).
    """
    unit = _unit(vectors)
    kept = covered_pairs(pairs, index)
    if len(kept) < 2:
        raise ValueError(f"only {len(kept)} of {len(pairs)} pairs are covered by the vocabulary")
    a = torch.tensor([index[p[0]] for p in kept])
    b = torch.tensor([index[p[1]] for p in kept])
    cos = (unit[a] * unit[b]).sum(-1)  # (P,)
    rho = spearman(cos.numpy(), [p[2] for p in kept])
    return SimilarityResult(rho, len(kept), len(pairs) if total is None else total)


def nearest_neighbours(
    vectors: torch.Tensor, words: Sequence[str], query: str | torch.Tensor, k: int = 10
) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``query`` (a word, excluded, or a vector).

    >>> vecs = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> [w for w, _ in nearest_neighbours(vecs, ["a", "b", "c"], "a", k=2)]
    ['b', 'c']
    """
    unit = _unit(vectors)
    words = words if isinstance(words, (list, tuple)) else list(words)
    if len(words) != len(unit):
        raise ValueError(f"{len(words)} words for {len(unit)} vectors")
    exclude = -1
    if isinstance(query, str):
        if query not in words:
            raise KeyError(f"{query!r} is not in the vocabulary ({len(words)} words)")
        exclude = words.index(query)
        q = unit[exclude]
    else:
        q = _unit(torch.as_tensor(query, dtype=torch.float32).reshape(1, -1))[0]
    sims = unit @ q  # (V,)
    if exclude >= 0:
        sims[exclude] = -float("inf")
    top = sims.topk(min(k, len(sims) - (exclude >= 0)))
    return [(words[i], float(s)) for s, i in zip(top.values, top.indices.tolist(), strict=True)]


@dataclass(frozen=True)
class RetrievalResult:
    """Synonym retrieval: share of queries whose synonym is among the top ``k`` neighbours, and MRR."""

    hits_at_k: float
    mrr: float
    k: int
    covered: int
    total: int

    def __str__(self) -> str:
        return (
            f"synonym in top {self.k}: {self.hits_at_k:.1%}, MRR {self.mrr:.3f} "
            f"on {self.covered}/{self.total} pairs"
        )


def synonym_retrieval(
    vectors: torch.Tensor, index: WordIndex, pairs: Sequence[tuple[str, str]], k: int = 10
) -> RetrievalResult:
    """For each covered pair ``(a, b)``: rank every other word by cosine to ``a``; where is ``b``?

    Args:
        vectors: ``(V, C)``; index: word → row; pairs: synonym pairs; k: cut-off for hits@k.
    """
    unit = _unit(vectors)
    kept = [(a, b) for a, b, *_ in pairs if a in index and b in index and a != b]
    if not kept:
        raise ValueError(f"none of the {len(pairs)} synonym pairs is covered by the vocabulary")
    a = torch.tensor([index[p[0]] for p in kept])
    b = torch.tensor([index[p[1]] for p in kept])
    ranks = []
    for chunk in range(0, len(kept), 1024):
        qa, qb = a[chunk : chunk + 1024], b[chunk : chunk + 1024]
        sims = unit[qa] @ unit.T  # (P, V)
        sims[torch.arange(len(qa)), qa] = -float("inf")  # the query itself does not count
        target = sims[torch.arange(len(qa)), qb].unsqueeze(1)
        ranks.append((sims > target).sum(1) + 1)
    r = torch.cat(ranks).double()
    return RetrievalResult(
        float((r <= k).double().mean()), float((1 / r).mean()), k, len(kept), len(pairs)
    )


@dataclass(frozen=True)
class AnalogyResult:
    """3CosAdd analogy accuracy per section: ``section -> (correct, covered, total)``."""

    sections: dict[str, tuple[int, int, int]]

    @property
    def accuracy(self) -> float:
        correct = sum(c for c, _, _ in self.sections.values())
        covered = sum(n for _, n, _ in self.sections.values())
        return correct / covered if covered else float("nan")

    @property
    def covered(self) -> int:
        return sum(n for _, n, _ in self.sections.values())

    @property
    def total(self) -> int:
        return sum(t for _, _, t in self.sections.values())

    def __str__(self) -> str:
        return f"analogy accuracy {self.accuracy:.1%} on {self.covered}/{self.total} questions"


def analogy_accuracy(
    vectors: torch.Tensor,
    index: WordIndex,
    questions: Mapping[str, Sequence[tuple[str, str, str, str]]],
    restrict: int | None = None,
) -> AnalogyResult:
    """``a : b :: c : ?`` answered by the word nearest to ``b - a + c`` (3CosAdd), ``a, b, c`` excluded.

    Args:
        vectors: ``(V, C)``; index: word → row.
        questions: section → questions (e.g. :func:`load_analogies`).
        restrict: only search among (and only ask about) the first ``restrict`` rows, as word2vec's
            ``compute-accuracy`` does with the most frequent words.
    """
    unit = _unit(vectors)
    limit = len(unit) if restrict is None else min(restrict, len(unit))
    unit = unit[:limit]

    def known(w: str) -> bool:
        return w in index and index[w] < limit

    result = {}
    for name, items in questions.items():
        kept = [q for q in items if all(known(w) for w in q)]
        correct = 0
        for chunk in range(0, len(kept), 512):
            ids = torch.tensor([[index[w] for w in q] for q in kept[chunk : chunk + 512]])
            target = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]  # (P, C)
            sims = target @ unit.T  # (P, V)
            rows = torch.arange(len(ids))
            for col in range(3):
                sims[rows, ids[:, col]] = -float("inf")
            correct += int((sims.argmax(1) == ids[:, 3]).sum())
        result[name] = (correct, len(kept), len(items))
    return AnalogyResult(result)


def random_vectors(vocab_size: int, dim: int, seed: int = 0) -> torch.Tensor:
    """The baseline every method must beat: Gaussian vectors, ``(V, C)``."""
    return torch.randn(vocab_size, dim, generator=torch.Generator().manual_seed(seed))
