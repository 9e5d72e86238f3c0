"""coursekit.ngram: n-gram language models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.ngram import BOS, EOS, UNK, NGramLM

CORPUS = [
    ["the", "cat", "sat", "on", "the", "mat"],
    ["the", "dog", "sat", "on", "the", "log"],
    ["a", "cat", "saw", "a", "dog"],
    ["the", "cat", "ate"],
]


@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_distributions_sum_to_one_and_match_prob(order, smoothing):
    lm = NGramLM(order=order, smoothing=smoothing, k=0.5).fit(CORPUS)
    for context in [[], ["the"], ["the", "cat"], ["unseen", "words"], [BOS], ["a", "dog", "sat"]]:
        p = lm.distribution(context)
        assert p.shape == (len(lm.words),)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (p > 0).all()
        for w in ["cat", EOS, UNK, "mat"]:
            assert lm.prob(w, context) == pytest.approx(p[lm.words.index(w)], rel=1e-12)


def test_mle_is_relative_frequency_and_zero_for_unseen():
    lm = NGramLM(order=2, smoothing="mle").fit(CORPUS)
    assert lm.prob("cat", ["the"]) == pytest.approx(2 / 5)  # "the" is followed 5 times
    assert lm.prob("the", [BOS]) == pytest.approx(3 / 4)
    assert lm.prob("log", ["a"]) == 0.0
    assert lm.perplexity([["a", "log"]]) == math.inf


def test_add_k_by_hand():
    lm = NGramLM(order=2, smoothing="add_k", k=1.0).fit(CORPUS)
    vocab = len(lm.words)  # 10 words + </s> + <unk>
    assert vocab == 12
    assert lm.prob("cat", ["the"]) == pytest.approx((2 + 1) / (5 + vocab))
    assert lm.prob("log", ["a"]) == pytest.approx(1 / (2 + vocab))


def test_kneser_ney_by_hand():
    lm = NGramLM(order=2, smoothing="kneser_ney", discount=0.5).fit(CORPUS)
    vocab = len(lm.words)
    # continuation count of "cat": distinct left neighbours {the, a} = 2; bigram types = 19
    types = 19
    n_cont_words = 11  # words with a non-zero continuation count (</s> included, <unk> not)
    p_uni = max(2 - 0.5, 0) / types + 0.5 * n_cont_words / types / vocab
    # after "the": followers cat(2), mat(1), dog(1), log(1); c(the) = 5
    expected = (2 - 0.5) / 5 + 0.5 * 4 / 5 * p_uni
    assert lm.prob("cat", ["the"]) == pytest.approx(expected)


def test_uniform_model_perplexity_is_vocabulary_size():
    """With every count equal the unigram add-k model is uniform: perplexity = V."""
    words = [f"w{i}" for i in range(9)]
    lm = NGramLM(order=1, smoothing="add_k", k=1e9).fit([words])
    assert lm.perplexity([["w1", "w5", "nope"]]) == pytest.approx(len(lm.words), rel=1e-6)


def test_higher_order_fits_training_text_better():
    rng = np.random.default_rng(0)
    # a text with strong local structure: repeated phrases
    phrases = [["one", "two", "three"], ["four", "five", "six"], ["seven", "eight", "nine"]]
    train = [[w for i in rng.integers(0, 3, 5) for w in phrases[i]] for _ in range(300)]
    test = [[w for i in rng.integers(0, 3, 5) for w in phrases[i]] for _ in range(30)]
    ppl = [NGramLM(order=n).fit(train).perplexity(test) for n in (1, 2, 3)]
    assert ppl[2] < ppl[1] < ppl[0]


def test_sampling_is_seeded_and_uses_vocabulary():
    lm = NGramLM(order=2).fit(CORPUS)
    a, b = lm.sample(seed=3), lm.sample(seed=3)
    assert a == b and set(a) <= set(lm.words) - {UNK, EOS}
    assert lm.sample(seed=1, prefix=["the"])[0] == "the"
    assert len(lm.sample(seed=0, max_words=2)) <= 2


def test_min_freq_maps_rare_words_to_unk():
    lm = NGramLM(order=2, min_freq=2).fit(CORPUS)
    assert "mat" not in lm.words and lm.prob("mat", ["the"]) == lm.prob(UNK, ["the"])
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        NGramLM(min_freq=0)


# Measured with the model as it was before the spellings changed to <bos>/<eos> (commit bc8e14f).
HELD_OUT = [["the", "cat", "sat", "on", "the", "log"], ["a", "dog", "ate", "the", "fish"]]
BEFORE = {
    (1, "kneser_ney"): (10.496583803901052, []),
    (2, "kneser_ney"): (5.850184926461963, ["a", "a", "on", "the"]),
    (3, "kneser_ney"): (4.872625537665639, ["a", "cat", "saw", "a"]),
    (2, "add_k"): (6.707042146316675, ["a", "cat", "saw", "log"]),
    (3, "add_k"): (6.610567885454657, ["a", "cat", "saw", "log", "a", "dog", "dog", "a", "sat"]),
}


@pytest.mark.parametrize(("order", "smoothing"), sorted(BEFORE))
def test_perplexity_and_samples_are_unchanged(order, smoothing):
    lm = NGramLM(order=order, smoothing=smoothing, k=0.5).fit(CORPUS)
    ppl, sample = BEFORE[order, smoothing]
    assert lm.perplexity(HELD_OUT) == pytest.approx(ppl, rel=1e-13)
    assert lm.sample(seed=3)[: len(sample)] == sample


def test_sentence_boundaries_are_spelled_as_in_the_tokenizers():
    from coursekit.data import tokenizers

    assert (BOS, EOS, UNK) == (tokenizers.BOS, tokenizers.EOS, tokenizers.UNK)
    assert (BOS, EOS) == ("<bos>", "<eos>")
    assert NGramLM(order=2).fit(CORPUS).words[:2] == ("<eos>", "<unk>")


def test_errors_are_clear():
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM(smoothing="good_turing")
    with pytest.raises(RuntimeError, match="fit"):
        NGramLM().prob("a")
    with pytest.raises(ValueError, match="no training words"):
        NGramLM().fit([[]])


def test_num_ngrams_counts_distinct_ngrams():
    lm = NGramLM(order=3).fit(CORPUS)
    assert lm.num_ngrams(1) == len(set(lm.words) - {UNK})  # every word and </s> has a left context
    assert lm.num_ngrams(3) >= lm.num_ngrams(2)
    with pytest.raises(ValueError, match="between 1 and 3"):
        lm.num_ngrams(4)
