"""Checkers for chapter 02 (language models): add-k smoothing, perplexity, the chain rule, and one
step of interpolated Kneser–Ney."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.ngram import BOS, EOS, NGramLM

__all__ = [
    "check_add_k",
    "check_kneser_ney_step",
    "check_perplexity",
    "check_sentence_logprob",
]


def check_add_k(add_k: Callable[[torch.Tensor, float], torch.Tensor]) -> ExerciseResult:
    """02.1: ``add_k(counts, k)``: the add-k distribution ``(c_w + k) / (N + k V)`` from the counts
    ``(V,)`` of the words seen after one context."""
    with Exercise("02.1 add-k smoothing") as ex:
        counts = torch.tensor([3.0, 0.0, 1.0, 0.0, 6.0])
        out = ex.call(add_k, counts.clone(), 0.5)
        ex.check_type(out, torch.Tensor)
        ex.check_shape(out, (5,), "add_k(counts, k) for 5 words")
        ex.check(
            bool((out > 0).all()),
            "some words still get probability 0: add k to *every* count, seen or not.",
        )
        total = float(out.sum())
        ex.check(
            abs(total - 1) < 1e-5,
            f"the probabilities sum to {total:.4f}, not 1: the denominator must grow by k for "
            "each of the V words, N + k·V.",
        )
        expected = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
        ex.check_close(out, expected, "values differ from (c_w + k) / (N + k·V)")
        ex.check_close(
            ex.call(add_k, counts.clone(), 1.0),
            (counts + 1) / (counts.sum() + 5),
            "with k = 1 (Laplace) the values differ: is k used, or is it fixed to 0.5?",
        )
    return ex.result


def check_perplexity(perplexity: Callable[[Sequence[float]], float]) -> ExerciseResult:
    """02.2: ``perplexity(probs)`` from the probabilities the model gave each test token."""
    with Exercise("02.2 perplexity") as ex:
        out = ex.call(perplexity, [0.25, 0.25, 0.25, 0.25])
        ex.check(
            isinstance(out, (int, float)) or (torch.is_tensor(out) and out.numel() == 1),
            f"return one number, got {type(out).__name__}.",
        )
        out = float(out)
        ex.check(
            abs(out - 4.0**4) > 1e-6,
            "this uses the sum of the log-probabilities; perplexity uses their mean (per token), "
            "so that it does not grow with the length of the text.",
        )
        ex.check(
            abs(out - 4.0) < 1e-6,
            f"a model that gives every token probability 1/4 is as unsure as a 4-way choice: "
            f"perplexity 4, got {out:.4g}. Use exp(-mean(log p)).",
        )
        probs = [0.5, 0.1, 0.9, 0.02, 0.3]
        expected = math.exp(-sum(math.log(p) for p in probs) / len(probs))
        got = float(ex.call(perplexity, probs))
        ex.check(
            abs(got - expected) < 1e-6 * expected,
            f"expected {expected:.4f}, got {got:.4f}: perplexity = exp(-(1/N) Σ log p_t) "
            "(or 2 to the power of the mean negative log2).",
        )
        long = ex.call(_underflow_named(perplexity), [0.5] * 5000 + [0.01] * 5000)
        ex.check(
            long is not _UNDERFLOW,
            "for 10,000 tokens your function divides by zero: the product of 10,000 probabilities "
            "underflows to 0.0 (0.5^5000 · 0.01^5000 is about 1e-11505; the smallest float is "
            "about 1e-308), and 0.0 ** (-1/N) or 1 / 0.0 fails. Add log-probabilities instead: "
            "exp(-mean(log p)).",
        )
        long = float(long)
        ex.check(
            math.isfinite(long) and long > 0,
            f"for 10,000 tokens the result is {long}: the product of 10,000 probabilities "
            "underflows to 0.0 (about 1e-11505 is far below the smallest float, about 1e-308). "
            "Add log-probabilities instead: exp(-mean(log p)).",
        )
        ex.check(
            abs(long - math.sqrt(200)) < 1e-6 * long,
            f"for 10,000 tokens (5,000 with p = 0.5, 5,000 with p = 0.01) expected "
            f"{math.sqrt(200):.4f}, got {long:.4f}.",
        )
    return ex.result


_UNDERFLOW = object()  # what a product of probabilities that reached 0.0 raised on


def _underflow_named(perplexity: Callable[[Sequence[float]], float]) -> Callable:
    """``perplexity`` with a ZeroDivisionError turned into a marker, so the checker can say that
    the product of the probabilities underflowed instead of showing the bare error."""

    @functools.wraps(perplexity)
    def guarded(probs: Sequence[float]) -> float | object:
        try:
            return perplexity(probs)
        except ZeroDivisionError:
            return _UNDERFLOW

    return guarded


def _toy_bigram() -> NGramLM:
    text = ["the cat sat", "the dog sat", "a cat ran", "the cat ran away"]
    return NGramLM(order=2, smoothing="add_k", k=0.5).fit([s.split() for s in text])


def check_sentence_logprob(
    sentence_logprob: Callable[[Callable[[str, str], float], Sequence[str]], float],
) -> ExerciseResult:
    """02.3: ``sentence_logprob(bigram_prob, words)``: the chain rule with a bigram model,
    ``Σ_t log P(w_t | w_{t-1})`` over the words *and* ``<eos>``, starting from ``<bos>``.
    ``bigram_prob(word, previous)`` gives one probability."""
    with Exercise("02.3 the chain rule") as ex:
        lm = _toy_bigram()

        def bigram_prob(word: str, previous: str) -> float:
            return lm.prob(word, [previous])

        words = ["the", "cat", "ran"]
        expected = lm.sentence_logprob(words)[0]
        got = ex.call(sentence_logprob, bigram_prob, list(words))
        ex.check(
            isinstance(got, (int, float)) or (torch.is_tensor(got) and got.numel() == 1),
            f"return one number (a log-probability), got {type(got).__name__}.",
        )
        got = float(got)
        ex.check(
            got < 0,
            f"the log-probability of a sentence is negative (its probability is below 1), got "
            f"{got:.4f}: return log P, the sum of the log-probabilities, not P.",
        )
        no_end = expected - math.log(lm.prob(EOS, ["ran"]))
        ex.check(
            abs(got - no_end) > 1e-9,
            "the end-of-sentence token is missing: add log P(<eos> | last word), or the model "
            "never says where a sentence stops.",
        )
        no_start = expected - math.log(lm.prob("the", [BOS]))
        ex.check(
            abs(got - no_start) > 1e-9,
            "the first word is missing: predict it from the start token, log P(w_1 | <bos>).",
        )
        ex.check(
            abs(got - expected) < 1e-9,
            f"expected {expected:.4f}, got {got:.4f}: sum log bigram_prob(w_t, w_(t-1)) over "
            "<bos> w_1 … w_T <eos>.",
        )
    return ex.result


def _kneser_ney_step(counts: torch.Tensor, lower: torch.Tensor, discount: float) -> torch.Tensor:
    total = counts.sum()
    if total == 0:
        return lower.clone()
    distinct = (counts > 0).sum()
    return (counts - discount).clamp(min=0) / total + discount * distinct / total * lower


def check_kneser_ney_step(
    kneser_ney_step: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
) -> ExerciseResult:
    """02.4: ``kneser_ney_step(counts, lower, discount)``: one step of interpolated Kneser–Ney,
    ``max(c_w - D, 0) / N + D · N₁₊ / N · lower_w``, from the counts ``(V,)`` of the words seen
    after one history (``N`` their sum, ``N₁₊`` how many are non-zero) and the lower order's
    distribution ``lower`` ``(V,)``; ``lower`` itself when the history was never seen."""
    with Exercise("02.4 one Kneser-Ney step") as ex:
        counts = torch.tensor([3.0, 0.0, 1.0, 0.0, 6.0, 2.0])  # counts are whole numbers, >= D
        lower = torch.tensor([0.1, 0.3, 0.1, 0.1, 0.15, 0.25])
        out = ex.call(kneser_ney_step, counts.clone(), lower.clone(), 0.75)
        ex.check_type(out, torch.Tensor)
        ex.check_shape(out, (6,), "kneser_ney_step(counts, lower, D) for 6 words")
        ex.check(
            bool((out >= 0).all()),
            "some probabilities are negative: a word seen fewer than D times, or never, keeps "
            "nothing of its own count, max(c_w - D, 0), not c_w - D.",
        )
        total = float(out.sum())
        distinct = int((counts > 0).sum())
        ex.check(
            abs(total - 1) < 1e-5,
            f"the probabilities sum to {total:.4f}, not 1: the discount takes D from each of the "
            f"N₁₊ = {distinct} *distinct* words seen after the history (not from all V = "
            f"{len(counts)} words, and not D once in all), so the lower order gets weight D·N₁₊/N.",
        )
        expected = _kneser_ney_step(counts, lower, 0.75)
        ex.check_close(
            out,
            expected,
            "values differ from max(c_w - D, 0)/N + D·N₁₊/N · lower_w. Renormalising after "
            "subtracting D is not the same: the freed mass must go to the lower order.",
        )
        ex.check_close(
            ex.call(kneser_ney_step, counts.clone(), lower.clone(), 0.5),
            _kneser_ney_step(counts, lower, 0.5),
            "with D = 0.5 the values differ: is the discount used, or fixed to 0.75?",
        )
        unseen = ex.call(kneser_ney_step, torch.zeros(6), lower.clone(), 0.75)
        ex.check(
            torch.is_tensor(unseen) and bool(torch.isfinite(unseen).all()),
            "for a history never seen (all counts 0, so N = 0) the result is not finite: "
            "0/0 is nan. With no counts there is nothing to discount: return the lower order.",
        )
        ex.check_close(
            unseen, lower, "for a history never seen (all counts 0) return the lower order itself"
        )
    return ex.result
