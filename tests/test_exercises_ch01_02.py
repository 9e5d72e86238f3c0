"""Checkers of chapters 01 and 02: the reference passes, typical mistakes get specific feedback."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from coursekit.exercises import ch01, ch02


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


def ppmi_ref(counts):
    total = counts.sum()
    p_ij = counts / total
    p_i = counts.sum(1, keepdim=True) / total
    p_j = counts.sum(0, keepdim=True) / total
    pmi = torch.log(p_ij / (p_i * p_j))
    return torch.where(counts > 0, pmi, torch.zeros_like(pmi)).clamp(min=0)


def ppmi_dense_smoothed(counts, alpha):
    """PPMI with the context distribution smoothed: p(j) proportional to column sum ** alpha."""
    total = counts.sum()
    p_j = counts.sum(0, keepdim=True) ** alpha
    pmi = torch.log((counts / total) / (counts.sum(1, keepdim=True) / total * p_j / p_j.sum()))
    return torch.where(counts > 0, pmi, torch.zeros_like(pmi)).clamp(min=0)


def sgns_ref(v, u, n):
    pos = F.logsigmoid((v * u).sum(-1))
    neg = F.logsigmoid(-torch.einsum("bkc,bc->bk", n, v)).sum(-1)
    return -(pos + neg).mean()


def most_similar_ref(vectors, words, query, k):
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    sims = unit @ unit[words.index(query)]
    sims[words.index(query)] = -float("inf")
    return [words[i] for i in sims.topk(k).indices.tolist()]


def unstable_sgns(v, u, n):
    """Right formula, but log(sigmoid(x)) underflows for large x."""
    pos = torch.log(torch.sigmoid((v * u).sum(-1)))
    neg = torch.log(torch.sigmoid(-torch.einsum("bkc,bc->bk", n, v))).sum(-1)
    return -(pos + neg).mean()


def cbow_ref(ctx, u, n):
    return sgns_ref(ctx.mean(1), u, n)


def add_k_ref(counts, k):
    return (counts + k) / (counts.sum() + k * len(counts))


def perplexity_ref(probs):
    return math.exp(-sum(math.log(p) for p in probs) / len(probs))


def logprob_ref(bigram_prob, words):
    seq = ["<bos>", *words, "<eos>"]
    return sum(math.log(bigram_prob(w, prev)) for prev, w in itertools.pairwise(seq))


def kn_step_ref(counts, lower, discount):
    total = counts.sum()
    if total == 0:
        return lower
    return (counts - discount).clamp(min=0) / total + discount * (counts > 0).sum() / total * lower


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch01.check_ppmi, ppmi_ref),
    (ch01.check_sgns_loss, sgns_ref),
    (ch01.check_most_similar, most_similar_ref),
    (ch01.check_cbow_loss, cbow_ref),
    (ch02.check_add_k, add_k_ref),
    (ch02.check_perplexity, perplexity_ref),
    (ch02.check_sentence_logprob, logprob_ref),
    (ch02.check_kneser_ney_step, kn_step_ref),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes_and_blank_is_not_attempted(checker, reference, capsys):
    assert checker(reference).passed
    assert checker(not_yet).status == "not attempted"
    assert "not attempted" in capsys.readouterr().out


def test_strict_mode_raises_on_failure(monkeypatch):
    from coursekit.exercises.core import ExerciseFailed

    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed):
        ch02.check_add_k(lambda c, k: c / c.sum())


WRONG = [
    (ch01.check_ppmi, lambda c: torch.log(c / c.sum()), "inf or nan"),
    (
        ch01.check_ppmi,
        lambda c: torch.nan_to_num(
            torch.log(c * c.sum() / (c.sum(1, keepdim=True) * c.sum(0))), neginf=0.0
        ),
        "negative values",
    ),
    (ch01.check_ppmi, lambda c: ppmi_ref(c) * 2, "values differ"),
    (ch01.check_ppmi, lambda c: ppmi_dense_smoothed(c, 0.75), "smoothed PPMI"),
    (
        ch01.check_ppmi,
        lambda c: torch.nan_to_num(torch.log(c / (c.sum(1, keepdim=True) * c.sum(0)))).clamp(0),
        "lack their 1/total",
    ),
    (
        ch01.check_sgns_loss,
        lambda v, u, n: (
            -(
                F.logsigmoid((v * u).sum(-1))
                + F.logsigmoid(torch.einsum("bkc,bc->bk", n, v)).sum(-1)
            ).mean()
        ),
        "minus sign",
    ),
    (ch01.check_sgns_loss, lambda v, u, n: sgns_ref(v, u, n) * v.shape[0], "sum over the batch"),
    (ch01.check_sgns_loss, unstable_sgns, "logsigmoid"),
    (ch01.check_sgns_loss, lambda v, u, n: sgns_ref(v, u, n).reshape(1), "scalar"),
    (
        ch01.check_most_similar,
        lambda vec, words, q, k: [
            words[i]
            for i in (vec @ vec[words.index(q)])
            .index_fill(0, torch.tensor(words.index(q)), -9)
            .topk(k)
            .indices.tolist()
        ],
        "raw dot product",
    ),
    (
        ch01.check_most_similar,
        lambda vec, words, q, k: [
            words[i]
            for i in (vec / vec.norm(dim=1, keepdim=True) @ (vec[words.index(q)]))
            .topk(k)
            .indices.tolist()
        ],
        "query word itself",
    ),
    (ch02.check_add_k, lambda c, k: (c + k) / c.sum(), "sum to"),
    (ch02.check_add_k, lambda c, k: c / c.sum(), "probability 0"),
    (ch02.check_add_k, lambda c, k: add_k_ref(c, 0.5), "k = 1"),
    (ch02.check_perplexity, lambda p: math.exp(-sum(math.log(x) for x in p)), "the sum"),
    (ch02.check_perplexity, lambda p: math.prod(p) ** (-1 / len(p)), "underflows"),
    (ch02.check_perplexity, lambda p: -sum(math.log(x) for x in p) / len(p), "4-way choice"),
    (
        ch02.check_sentence_logprob,
        lambda bp, w: logprob_ref(bp, w) - math.log(bp("<eos>", w[-1])),
        "end-of-sentence",
    ),
    (
        ch02.check_sentence_logprob,
        lambda bp, w: logprob_ref(bp, w) - math.log(bp(w[0], "<bos>")),
        "first word",
    ),
    (ch02.check_sentence_logprob, lambda bp, w: math.exp(logprob_ref(bp, w)), "negative"),
    (  # no max(., 0): unseen words go below 0
        ch02.check_kneser_ney_step,
        lambda c, lo, d: (c - d) / c.sum() + d * (c > 0).sum() / c.sum() * lo,
        "negative",
    ),
    (  # the freed mass counted over all V words
        ch02.check_kneser_ney_step,
        lambda c, lo, d: (c - d).clamp(min=0) / c.sum() + d * len(c) / c.sum() * lo,
        "*distinct* words",
    ),
    (  # discounted, then renormalised: no lower order at all
        ch02.check_kneser_ney_step,
        lambda c, lo, d: (c - d).clamp(min=0) / (c - d).clamp(min=0).sum(),
        "freed mass must go to the lower order",
    ),
    (  # 0/0 for a history never seen
        ch02.check_kneser_ney_step,
        lambda c, lo, d: (c - d).clamp(min=0) / c.sum() + d * (c > 0).sum() / c.sum() * lo,
        "0/0 is nan",
    ),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_typical_mistakes_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


GENERIC = [  # zeros of the right shape, the input handed back unchanged
    (ch01.check_ppmi, torch.zeros_like, "values differ from PPMI"),
    (ch01.check_ppmi, lambda c: c, "values differ from PPMI"),
    (ch01.check_sgns_loss, lambda v, u, n: torch.zeros(()), "values differ"),
    (ch01.check_sgns_loss, lambda v, u, n: v, "should be a scalar"),
    (ch01.check_most_similar, lambda vec, words, q, k: [], "asked for k=2"),
    (ch01.check_most_similar, lambda vec, words, q, k: words, "asked for k=2"),
    (ch01.check_cbow_loss, lambda c, u, n: torch.zeros(()), "values differ from CBOW"),
    (ch01.check_cbow_loss, lambda c, u, n: c, "should be a scalar"),
    (ch02.check_add_k, lambda c, k: torch.zeros_like(c), "probability 0"),
    (ch02.check_add_k, lambda c, k: c, "probability 0"),
    (ch02.check_perplexity, lambda p: 0.0, "4-way choice"),
    (ch02.check_perplexity, lambda p: p, "return one number"),
    (ch02.check_sentence_logprob, lambda bp, w: 0.0, "negative"),
    (ch02.check_sentence_logprob, lambda bp, w: w, "return one number"),
    (ch02.check_kneser_ney_step, lambda c, lo, d: torch.zeros_like(c), "sum to 0.0000"),
    (ch02.check_kneser_ney_step, lambda c, lo, d: c, "not 1"),
]


@pytest.mark.parametrize(("checker", "answer", "message"), GENERIC)
def test_generic_wrong_answers_fail_with_a_specific_message(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


LAST_CHECK = [  # answers that pass every check but the checker's last ones
    (ch01.check_ppmi, lambda c: ppmi_ref(c) * 2, "values differ from PPMI"),
    (ch01.check_sgns_loss, unstable_sgns, "logsigmoid"),
    (ch01.check_most_similar, lambda vec, w, q, k: most_similar_ref(vec, w, q, 2), "'car'"),
    (ch01.check_cbow_loss, lambda c, u, n: unstable_sgns(c.mean(1), u, n), "logsigmoid"),
    (ch01.check_cbow_loss, lambda c, u, n: sgns_ref(c.mean(1) * 1.1, u, n), "values differ"),
    (ch02.check_add_k, lambda c, k: add_k_ref(c, 0.5), "k = 1"),
    (ch02.check_perplexity, lambda p: math.prod(p) ** (-1 / len(p)), "underflows to 0.0"),
    (ch02.check_perplexity, lambda p: 1 / math.prod(p) ** (1 / len(p)), "underflows to 0.0"),
    (
        ch02.check_perplexity,
        lambda p: float(torch.tensor(p, dtype=torch.float64).prod() ** (-1 / len(p))),
        "underflows to 0.0",
    ),
    (
        ch02.check_perplexity,
        lambda p: perplexity_ref(p) if len(p) < 100 else perplexity_ref(p[:100]),
        "5,000 with p = 0.5",
    ),
    (
        ch02.check_sentence_logprob,
        lambda bp, w: logprob_ref(bp, w) / math.log(2),  # log2: right shape, wrong base
        "expected",
    ),
    (ch02.check_kneser_ney_step, lambda c, lo, d: kn_step_ref(c, lo, 0.75), "D = 0.5"),
    (  # a history never seen gets the uniform distribution instead of the lower order
        ch02.check_kneser_ney_step,
        lambda c, lo, d: kn_step_ref(c, lo, d) if c.sum() > 0 else torch.full_like(lo, 1 / len(lo)),
        "return the lower order itself",
    ),
]


@pytest.mark.parametrize(("checker", "answer", "message"), LAST_CHECK)
def test_the_last_checks_catch_what_earlier_ones_let_through(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert result.checks_passed >= 4, "an earlier check caught it: this case tests nothing"
    assert message in result.message, result.message


def test_underflowed_product_names_underflow_not_a_bare_zero_division():
    result = ch02.check_perplexity(lambda p: math.prod(p) ** (-1 / len(p)))
    assert "ZeroDivisionError" not in result.message
    assert "log-probabilities" in result.message
