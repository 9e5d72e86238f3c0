"""n-gram language models with smoothing, perplexity and sampling (chapter 02).

A language model (语言模型) is a probability distribution over sequences of words. The chain rule
writes it exactly as a product of next-word probabilities,

    P(w_1 … w_T) = Π_t P(w_t | w_1 … w_{t-1}),

and an n-gram model makes the Markov assumption that only the last ``n - 1`` words matter. Counts
give maximum-likelihood estimates, which are zero for every n-gram never seen; smoothing moves
probability mass onto them. This module implements:

- ``"mle"``: relative frequencies (no smoothing; unseen n-grams get probability 0);
- ``"add_k"``: add ``k`` to every count of the highest order (Laplace when ``k = 1``);
- ``"kneser_ney"``: interpolated Kneser–Ney (Chen & Goodman 1998) with absolute discount ``D``:
  ``P(w|h) = max(c(h w) - D, 0)/c(h) + D·N₁₊(h •)/c(h) · P_lower(w|h')``, where lower orders use
  *continuation counts* (in how many distinct contexts a word appears) and the lowest order is
  interpolated with the uniform distribution, so every word gets probability > 0.

Sentences are padded with ``n - 1`` :data:`BOS` (``<bos>``) and one :data:`EOS` (``<eos>``), the
same spellings as the tokenizers of :mod:`coursekit.data.tokenizers`; words seen fewer than
``min_freq`` times become ``<unk>``. The vocabulary ``V`` holds the words, ``<eos>`` and ``<unk>``
(never ``<bos>``, which is not predicted), and is kept apart from the tokenizers' vocabularies
because ``V`` enters the smoothing (see that module's docstring).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from coursekit.data.tokenizers import BOS, EOS, UNK

__all__ = ["BOS", "EOS", "UNK", "NGramLM"]

_SMOOTHING = ("mle", "add_k", "kneser_ney")


class NGramLM:
    """An n-gram language model over words.

    Args:
        order: ``n`` (1 = unigram, 2 = bigram, 3 = trigram, …).
        smoothing: ``"kneser_ney"`` (default), ``"add_k"`` or ``"mle"``.
        discount: Kneser–Ney's ``D``, in (0, 1).
        k: the pseudo-count of add-k smoothing.
        min_freq: training words seen fewer times become ``<unk>``.

    >>> lm = NGramLM(order=2).fit([["a", "b"], ["a", "c"]])
    >>> round(float(lm.distribution(["a"]).sum()), 6), lm.words
    (1.0, ('<eos>', '<unk>', 'a', 'b', 'c'))
    """

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "kneser_ney",
        discount: float = 0.75,
        k: float = 1.0,
        min_freq: int = 1,
    ) -> None:
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be at least 1 (an int), got {min_freq!r}")
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if smoothing not in _SMOOTHING:
            raise ValueError(f"smoothing must be one of {_SMOOTHING}, got {smoothing!r}")
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        self.order, self.smoothing, self.discount, self.k = order, smoothing, discount, k
        self.min_freq = min_freq
        self.words: tuple[str, ...] = ()
        self._fitted = False

    # -- training ------------------------------------------------------------------------------
    def fit(self, sentences: Iterable[Sequence[str]]) -> NGramLM:
        """Count the n-grams of tokenised sentences; returns ``self``."""
        frequency = Counter(w for s in sentences for w in s)
        for special in (BOS, EOS, UNK):
            frequency.pop(special, None)
        kept = sorted(w for w, c in frequency.items() if c >= self.min_freq)
        if not kept:
            raise ValueError("no training words: pass a non-empty list of tokenised sentences")
        self.words = (EOS, UNK, *kept)
        self.index = {w: i for i, w in enumerate(self.words)}
        n = self.order
        # Top order: raw counts of every n-gram that predicts a real token (never <bos>).
        top: Counter[tuple[int, ...]] = Counter()
        bos = -1  # id of <bos> in contexts only
        for sentence in sentences:
            ids = [bos] * (n - 1) + self._lookup(sentence) + [self.index[EOS]]
            for i in range(n - 1, len(ids)):
                top[tuple(ids[i - n + 1 : i + 1])] += 1
        # counts[m]: context (m-1 ids) -> {word id: count} for m = 1..n
        levels: dict[int, Counter[tuple[int, ...]]] = {n: top}
        for m in range(n - 1, 0, -1):
            higher = levels[m + 1]
            if self.smoothing == "kneser_ney":  # continuation counts: distinct left neighbours
                levels[m] = Counter(g[1:] for g in higher)
            else:
                lower: Counter[tuple[int, ...]] = Counter()
                for g, c in higher.items():
                    lower[g[1:]] += c
                levels[m] = lower
        self._counts: dict[int, dict[tuple[int, ...], dict[int, float]]] = {}
        self._totals: dict[int, dict[tuple[int, ...], float]] = {}
        for m, grams in levels.items():
            table: dict[tuple[int, ...], dict[int, float]] = defaultdict(dict)
            for g, c in grams.items():
                table[g[:-1]][g[-1]] = float(c)
            self._counts[m] = dict(table)
            self._totals[m] = {h: sum(f.values()) for h, f in table.items()}
        self._arrays: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self._fitted = True
        return self

    def num_ngrams(self, order: int | None = None) -> int:
        """How many distinct n-grams of ``order`` (default: the model's order) the model stores.

        >>> NGramLM(order=2).fit([["a", "b", "a", "b"]]).num_ngrams()  # <bos> a, a b, b a, b <eos>
        4
        """
        self._check()
        order = self.order if order is None else order
        if not 1 <= order <= self.order:
            raise ValueError(f"order must be between 1 and {self.order}, got {order}")
        return sum(len(followers) for followers in self._counts[order].values())

    def encode(self, words: Sequence[str]) -> list[int]:
        """Word ids, unknown words as ``<unk>``."""
        return self._lookup(words)

    def _lookup(self, words: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(w, unk) for w in words]

    def _check(self) -> None:
        if not self._fitted:
            raise RuntimeError("the model is not trained yet: call .fit(sentences) first")

    def _context_ids(self, context: Sequence[str]) -> tuple[int, ...]:
        """The last ``n - 1`` words of ``context`` as ids, left-padded with ``<bos>``."""
        ids = [-1 if w == BOS else i for w, i in zip(context, self._lookup(context), strict=True)]
        ids = [-1] * (self.order - 1) + ids
        return tuple(ids[len(ids) - (self.order - 1) :]) if self.order > 1 else ()

    # -- probabilities -------------------------------------------------------------------------
    def _prob(self, word: int, context: tuple[int, ...], m: int) -> float:
        vocab_size = len(self.words)
        if m == 0:
            return 1.0 / vocab_size
        h = context[len(context) - (m - 1) :] if m > 1 else ()
        followers = self._counts[m].get(h)
        if self.smoothing == "mle":
            if m < self.order:
                raise AssertionError("unreachable: mle uses the top order only")
            return followers.get(word, 0.0) / self._totals[m][h] if followers else 0.0
        if self.smoothing == "add_k":
            count = followers.get(word, 0.0) if followers else 0.0
            total = self._totals[m].get(h, 0.0)
            return (count + self.k) / (total + self.k * vocab_size)
        # interpolated Kneser–Ney
        lower = self._prob(word, context, m - 1)
        if not followers:
            return lower
        total, d = self._totals[m][h], self.discount
        return max(followers.get(word, 0.0) - d, 0.0) / total + d * len(followers) / total * lower

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """``P(word | context)``; only the last ``n - 1`` words of the context are used.

        >>> NGramLM(order=1, smoothing="mle").fit([["a", "a", "b"]]).prob("a")
        0.5
        """
        self._check()
        return self._prob(self.encode([word])[0], self._context_ids(context), self.order)

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        """``P(· | context)`` over :attr:`words`, shape ``(V,)``; sums to one."""
        self._check()
        return self._distribution(self._context_ids(context), self.order)

    def _followers(self, m: int, h: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        followers = self._counts[m].get(h)
        if not followers:
            return None
        key = (m, h)
        if key not in self._arrays:
            ids = np.fromiter(followers.keys(), dtype=np.int64, count=len(followers))
            counts = np.fromiter(followers.values(), dtype=np.float64, count=len(followers))
            self._arrays[key] = (ids, counts)
        return self._arrays[key]

    def _distribution(self, context: tuple[int, ...], m: int) -> np.ndarray:
        vocab_size = len(self.words)
        if m == 0:
            return np.full(vocab_size, 1.0 / vocab_size)
        h = context[len(context) - (m - 1) :] if m > 1 else ()
        found = self._followers(m, h)
        total = self._totals[m].get(h, 0.0)
        if self.smoothing == "mle":
            p = np.zeros(vocab_size)
            if found is not None:
                p[found[0]] = found[1] / total
            return p
        if self.smoothing == "add_k":
            p = np.full(vocab_size, self.k / (total + self.k * vocab_size))
            if found is not None:
                p[found[0]] += found[1] / (total + self.k * vocab_size)
            return p
        lower = self._distribution(context, m - 1)  # (V,)
        if found is None:
            return lower
        ids, counts = found
        d = self.discount
        p = lower * (d * len(ids) / total)
        p[ids] += np.maximum(counts - d, 0.0) / total
        return p

    def sentence_logprob(self, sentence: Sequence[str]) -> tuple[float, int]:
        """Natural-log probability of a sentence (its ``<eos>`` included) and the tokens predicted.

        The chain rule: the sum of ``log P(w_t | previous n - 1 words)``.
        """
        self._check()
        ids = [-1] * (self.order - 1) + self.encode(sentence) + [self.index[EOS]]
        total = 0.0
        for i in range(self.order - 1, len(ids)):
            p = self._prob(ids[i], tuple(ids[i - self.order + 1 : i]), self.order)
            total += math.log(p) if p > 0 else -math.inf
        return total, len(ids) - (self.order - 1)

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """``exp(-(1/N) Σ log P(w_t | context))`` over every predicted token (``<eos>`` included).

        Infinite when a test token has probability 0 (what happens without smoothing).
        """
        log_total, count = 0.0, 0
        for sentence in sentences:
            lp, n = self.sentence_logprob(sentence)
            log_total += lp
            count += n
        if count == 0:
            raise ValueError("no sentences to evaluate")
        return math.exp(-log_total / count) if math.isfinite(log_total) else math.inf

    # -- generation ----------------------------------------------------------------------------
    def sample(
        self,
        seed: int | np.random.Generator = 0,
        max_words: int = 30,
        prefix: Sequence[str] = (),
        allow_unk: bool = False,
    ) -> list[str]:
        """Draw a sentence word by word from ``P(w_t | previous words)`` until ``<eos>``.

        Args:
            seed: a seed or a ``numpy.random.Generator``.
            max_words: stop after this many words.
            prefix: words to start from (returned as part of the sentence).
            allow_unk: whether ``<unk>`` may be drawn (default: its probability is set to 0).
        """
        self._check()
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        words = list(prefix)
        unk = self.index[UNK]
        while len(words) < max_words:
            p = self.distribution([BOS, *words])
            if not allow_unk:
                p = p.copy()
                p[unk] = 0.0
            if p.sum() <= 0:
                break
            choice = int(rng.choice(len(p), p=p / p.sum()))
            if choice == self.index[EOS]:
                break
            words.append(self.words[choice])
        return words
