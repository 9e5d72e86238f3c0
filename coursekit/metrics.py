"""Metrics: perplexity and accuracy (perplexity is introduced in chapter 02; later chapters reuse it),
BLEU and chrF for translation (chapters 06-07), and the confusion matrix and macro-F1 of a
classifier (chapter 09).

Perplexity (困惑度) is ``exp`` of the mean negative log-likelihood per predicted token: the number
of equally likely choices a model is "as confused as". A model that spreads probability uniformly
over ``V`` tokens has perplexity exactly ``V``; a perfect model has 1.

Shape legend: ``N`` tokens (or examples), ``B`` batch, ``T`` steps, ``V`` vocabulary, ``K``
classes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "BLEU_TOKENIZERS",
    "TranslationScore",
    "accuracy",
    "bleu",
    "chrf",
    "confusion_matrix",
    "macro_f1",
    "paired_bootstrap",
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


# --- Classification metrics (chapter 09): the confusion matrix and macro-F1 --------------------


def _class_ids(
    predictions: Sequence[int] | torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    num_classes: int,
    owner: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as 1-D int64 tensors of the same length, every id in ``0..num_classes-1``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{owner}: num_classes must be a positive int, got {num_classes!r}")
    out = []
    for name, values in (("predictions", predictions), ("labels", labels)):
        t = torch.as_tensor(values)
        if t.numel() == 0:  # an empty list is float32 to torch
            t = t.long()
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(
                f"{owner}: {name} must be class ids (integers), got {t.dtype}: for scores "
                f"(N, K) pass scores.argmax(-1)."
            )
        if t.dim() != 1:
            raise ValueError(f"{owner}: {name} must be 1-D (N,), got shape {tuple(t.shape)}")
        out.append(t.long().cpu())
    preds, true = out
    if len(preds) != len(true):
        raise ValueError(
            f"{owner}: {len(preds)} predictions but {len(true)} labels: pass one prediction "
            f"per example, in the same order"
        )
    if len(true) == 0:
        raise ValueError(f"{owner}: no examples to score")
    for name, t in (("predictions", preds), ("labels", true)):
        low, high = int(t.min()), int(t.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"{owner}: {name} hold class {bad}, outside 0..{num_classes - 1} "
                f"(num_classes={num_classes}): pass the number of classes of the label list"
            )
    return preds, true


def confusion_matrix(
    predictions: Sequence[int] | torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    num_classes: int,
) -> torch.Tensor:
    """Counts ``(K, K)`` of (true class, predicted class): row ``i`` is the examples of class
    ``i``, column ``j`` those predicted as ``j`` (sklearn's layout; the diagonal is right).

    Args:
        predictions, labels: class ids ``(N,)`` (note the order: predictions first).
        num_classes: K.

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    """
    preds, true = _class_ids(predictions, labels, num_classes, "confusion_matrix")
    flat = torch.bincount(true * num_classes + preds, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)  # (K, K)


def macro_f1(
    predictions: Sequence[int] | torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    num_classes: int,
    *,
    include_absent: bool = False,
) -> float:
    """The unweighted mean over classes of each class's F1 ``2 TP / (2 TP + FP + FN)``: every
    class counts the same, however rare (the micro average, over examples, is the accuracy).

    A class never predicted, or predicted but never true, has F1 0. Which classes are
    averaged: those that occur in ``labels`` or ``predictions`` (sklearn's ``f1_score(labels,
    predictions, average="macro", zero_division=0)``). With ``include_absent=True`` all
    ``num_classes`` are, those absent from both with F1 0 (sklearn with
    ``labels=range(num_classes)``); the two differ only when a class occurs in neither.

    Args:
        predictions, labels: class ids ``(N,)`` (note the order: predictions first).
        num_classes: K, for the range check (and the classes averaged with ``include_absent``).

    >>> macro_f1([0, 0, 0, 1], [0, 0, 1, 1], num_classes=2)  # F1s 0.8 and 2/3
    0.7333333333333334
    >>> macro_f1([0, 1], [0, 1], num_classes=3), macro_f1([0, 1], [0, 1], 3, include_absent=True)
    (1.0, 0.6666666666666666)
    """
    matrix = confusion_matrix(predictions, labels, num_classes).double()  # (K, K)
    tp = matrix.diagonal()  # (K,)
    fp, fn = matrix.sum(0) - tp, matrix.sum(1) - tp  # (K,) each
    denominator = 2 * tp + fp + fn  # 0 only for a class in neither
    f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.zeros_like(tp))
    keep = torch.ones_like(tp, dtype=torch.bool) if include_absent else denominator > 0
    return float(f1[keep].mean())


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


def paired_bootstrap(
    hypotheses_a: Sequence[str],
    hypotheses_b: Sequence[str],
    references: Sequence[str],
    metric: str = "BLEU",
    *,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """The ``level`` interval of ``score(a) - score(b)`` by Koehn's (2004) paired bootstrap.

    Resample the sentences with replacement ``samples`` times, score both systems on the same
    sample (corpus BLEU or chrF, as :func:`bleu` and :func:`chrf` with their defaults, summed from
    sacrebleu's per-sentence statistics as its ``--paired-bs`` rescores each resample) and return
    the percentile interval of the differences. A 95% interval above zero means ``a`` wins in at
    least 97.5% of the resamples: the margin is not a few lucky sentences. It says nothing about
    another training seed. (sacrebleu's command line reports a p-value and each system's own
    interval instead, from its own seed, so its numbers differ.)

    Args:
        hypotheses_a, hypotheses_b: the two systems' outputs, one per reference.
        references: one reference sentence each.
        metric: ``"BLEU"`` or ``"chrF"``.
        samples: resamples.
        seed: seed of the resampling.
        level: the interval's coverage, e.g. 0.95.

    >>> refs = ["the cat sat", "a dog ran", "birds sing"]
    >>> paired_bootstrap(refs, refs, refs)  # the same outputs: no margin
    (0.0, 0.0)
    """
    import numpy as np
    from sacrebleu.metrics import BLEU, CHRF  # imported when first used

    metrics = {"BLEU": BLEU, "chrF": CHRF}
    if metric not in metrics:
        raise ValueError(f"paired_bootstrap: metric must be 'BLEU' or 'chrF', got {metric!r}")
    if not 0 < level < 1 or samples < 1:
        raise ValueError(
            f"paired_bootstrap: need 0 < level < 1 and samples >= 1, got {level=}, {samples=}"
        )
    hyps_a, streams = _reference_streams(metric, hypotheses_a, references)
    hyps_b, _ = _reference_streams(metric, hypotheses_b, references)
    scorer = metrics[metric]()
    stats = [np.array(scorer._extract_corpus_statistics(h, streams)) for h in (hyps_a, hyps_b)]
    index = np.random.default_rng(seed).integers(0, len(hyps_a), (samples, len(hyps_a)))

    def corpus(system: int, rows) -> float:
        return scorer._compute_score_from_stats(list(stats[system][rows].sum(0))).score

    diffs = [corpus(0, rows) - corpus(1, rows) for rows in index]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(low), float(high)
