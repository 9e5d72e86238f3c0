"""Metrics: perplexity and accuracy (perplexity is introduced in chapter 02; later chapters reuse it).

Perplexity (困惑度) is ``exp`` of the mean negative log-likelihood per predicted token: the number
of equally likely choices a model is "as confused as". A model that spreads probability uniformly
over ``V`` tokens has perplexity exactly ``V``; a perfect model has 1.

Shape legend: ``N`` tokens, ``B`` batch, ``T`` steps, ``V`` vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

__all__ = [
    "BLEU_TOKENIZERS",
    "TranslationScore",
    "accuracy",
    "bleu",
    "chrf",
    "perplexity",
    "perplexity_from_logits",
]


def perplexity(log_probs: Iterable[float] | torch.Tensor) -> float:
    """Perplexity from the natural-log probabilities of the predicted tokens.

    Args:
        log_probs: ``log P(w_t | context)`` for every predicted token, shape ``(N,)``.

    >>> round(perplexity([math.log(0.25)] * 4), 6)  # uniform over 4 choices
    4.0
    """
    lp = torch.as_tensor(list(log_probs) if not torch.is_tensor(log_probs) else log_probs)
    lp = lp.to(torch.float64).reshape(-1)
    if lp.numel() == 0:
        raise ValueError(
            "perplexity of zero tokens is undefined: pass at least one log-probability"
        )
    if bool((lp > 1e-9).any()):
        raise ValueError("log-probabilities must be <= 0: pass log P (natural log), not P")
    return math.exp(-float(lp.mean()))


def perplexity_from_logits(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100
) -> float:
    """Perplexity of next-token predictions: ``exp(cross_entropy(logits, targets))``.

    Args:
        logits: unnormalised scores, ``(N, V)`` or ``(B, T, V)``.
        targets: token ids, ``(N,)`` or ``(B, T)``; entries equal to ``ignore_index`` are skipped.

    >>> round(perplexity_from_logits(torch.zeros(3, 7), torch.tensor([0, 1, 2])), 4)  # uniform
    7.0
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits (..., V) and targets (...) must agree: got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    nll = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=ignore_index
    )
    return math.exp(float(nll))


def accuracy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> float:
    """Share of positions where the highest-scoring class is the target.

    Args:
        logits: ``(N, V)`` or ``(B, T, V)``; targets: ``(N,)`` or ``(B, T)``.

    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits (..., V) and targets (...) must agree: got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    keep = targets != ignore_index
    if not bool(keep.any()):
        raise ValueError("no positions to score: every target equals ignore_index")
    return float((logits.argmax(-1)[keep] == targets[keep]).double().mean())


# --- Translation metrics (chapters 06 and 07): BLEU and chrF through sacrebleu ----------------

BLEU_TOKENIZERS = ("13a", "intl", "zh", "char", "none")  # those that need no extra download


class TranslationScore(float):
    """A corpus BLEU or chrF from 0 to 100 (a float) that also carries sacrebleu's ``signature``
    (print it with the number, so the score can be reproduced) and its one-line ``details``
    (BLEU's n-gram precisions and brevity penalty).

    >>> score = bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
    >>> round(score), score.signature.startswith("nrefs:1|case:mixed")
    (100, True)
    """

    signature: str
    details: str

    def __new__(cls, value: float, signature: str, details: str) -> TranslationScore:
        score = super().__new__(cls, value)
        score.signature, score.details = signature, details
        return score

    def __reduce__(self) -> tuple:
        return (type(self), (float(self), self.signature, self.details))


def _reference_streams(
    metric: str, hypotheses: Iterable[str], references: Iterable[str | Iterable[str]]
) -> tuple[list[str], list[list[str]]]:
    """The hypotheses and sacrebleu's reference streams (stream j: every sentence's j-th
    reference), after checking that they fit."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError(
            f"{metric} scores a corpus: pass lists of sentences (e.g. [hypothesis], "
            f"[reference]), not one string"
        )
    hyps, refs = list(hypotheses), list(references)
    if not hyps:
        raise ValueError(f"{metric} of no sentences is undefined: pass at least one hypothesis")
    if len(hyps) != len(refs):
        raise ValueError(
            f"{metric}: got {len(hyps)} hypotheses and {len(refs)} references: pass one "
            f"reference (or one list of references) per hypothesis, in the same order"
        )
    per_sentence = [[r] if isinstance(r, str) else list(r) for r in refs]
    counts = sorted({len(r) for r in per_sentence})
    if counts[0] == 0 or len(counts) > 1:
        raise ValueError(
            f"{metric}: every hypothesis needs the same number (at least 1) of references, "
            f"got {counts}"
        )
    for text in [*hyps, *(r for rs in per_sentence for r in rs)]:
        if not isinstance(text, str):
            raise TypeError(
                f"{metric} compares text, got a {type(text).__name__}: decode token ids to text "
                f"first (tokenizer.decode(ids))"
            )
    return hyps, [list(stream) for stream in zip(*per_sentence, strict=True)]


def bleu(
    hypotheses: Iterable[str],
    references: Iterable[str | Iterable[str]],
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
) -> TranslationScore:
    """Corpus BLEU (Papineni et al., 2002) with sacrebleu's defaults: the geometric mean of the
    1- to 4-gram precisions, clipped by the references, times a brevity penalty; 0 to 100.

    Args:
        hypotheses: one detokenised output sentence per source.
        references: per hypothesis, its reference sentence or a list of them (the same count
            for every hypothesis).
        tokenize: sacrebleu's tokenizer: ``"13a"`` (WMT's, the default), ``"intl"``, ``"zh"``
            (Chinese targets), ``"char"`` or ``"none"``.
        lowercase: case-insensitive BLEU.

    >>> round(bleu(["the cat sat on the mat"], ["the cat sat on a mat"]), 2)  # (1/12) ** (1/4)
    53.73
    """
    from sacrebleu.metrics import BLEU  # imported when first used

    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"bleu: tokenize must be one of {BLEU_TOKENIZERS}, got {tokenize!r}")
    hyps, streams = _reference_streams("BLEU", hypotheses, references)
    metric = BLEU(tokenize=tokenize, lowercase=lowercase)
    result = metric.corpus_score(hyps, streams)
    return TranslationScore(result.score, str(metric.get_signature()), str(result))


def chrf(
    hypotheses: Iterable[str],
    references: Iterable[str | Iterable[str]],
    *,
    word_order: int = 0,
    lowercase: bool = False,
) -> TranslationScore:
    """Corpus chrF (Popović, 2015) with sacrebleu's defaults: the F-score (beta = 2, recall
    weighted twice) of character 1- to 6-grams; 0 to 100. ``word_order=2`` is chrF++ (word
    1- and 2-grams too). Arguments as :func:`bleu`.

    >>> round(chrf(["abc"], ["abc"])), round(chrf(["abc"], ["xyz"]))
    (100, 0)
    """
    from sacrebleu.metrics import CHRF  # imported when first used

    hyps, streams = _reference_streams("chrF", hypotheses, references)
    metric = CHRF(word_order=word_order, lowercase=lowercase)
    result = metric.corpus_score(hyps, streams)
    return TranslationScore(result.score, str(metric.get_signature()), str(result))
