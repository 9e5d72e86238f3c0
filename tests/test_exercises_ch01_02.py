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


def sgns_ref(v, u, n):
    pos = F.logsigmoid((v * u).sum(-1))
    neg = F.logsigmoid(-torch.einsum("bkc,bc->bk", n, v)).sum(-1)
    return -(pos + neg).mean()


def most_similar_ref(vectors, words, query, k):
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    sims = unit @ unit[words.index(query)]
    sims[words.index(query)] = -float("inf")
    return [words[i] for i in sims.topk(k).indices.tolist()]


def add_k_ref(counts, k):
    return (counts + k) / (counts.sum() + k * len(counts))


def perplexity_ref(probs):
    return math.exp(-sum(math.log(p) for p in probs) / len(probs))


def logprob_ref(bigram_prob, words):
    seq = ["<s>", *words, "</s>"]
    return sum(math.log(bigram_prob(w, prev)) for prev, w in itertools.pairwise(seq))


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch01.check_ppmi, ppmi_ref),
    (ch01.check_sgns_loss, sgns_ref),
    (ch01.check_most_similar, most_similar_ref),
    (ch02.check_add_k, add_k_ref),
    (ch02.check_perplexity, perplexity_ref),
    (ch02.check_sentence_logprob, logprob_ref),
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
    (
        ch01.check_sgns_loss,
        lambda v, u, n: (
            -(
                torch.log(torch.sigmoid((v * u).sum(-1)))
                + torch.log(torch.sigmoid(-torch.einsum("bkc,bc->bk", n, v))).sum(-1)
            ).mean()
        ),
        "logsigmoid",
    ),
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
        lambda bp, w: logprob_ref(bp, w) - math.log(bp("</s>", w[-1])),
        "end-of-sentence",
    ),
    (
        ch02.check_sentence_logprob,
        lambda bp, w: logprob_ref(bp, w) - math.log(bp(w[0], "<s>")),
        "first word",
    ),
    (ch02.check_sentence_logprob, lambda bp, w: math.exp(logprob_ref(bp, w)), "negative"),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_typical_mistakes_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message
