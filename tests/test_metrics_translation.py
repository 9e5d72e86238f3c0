"""coursekit.metrics.bleu and chrf: the numbers of sacrebleu itself, hand-checked small cases, the
signature for the chapters to print, and clear errors for input that cannot be scored."""

from __future__ import annotations

import math
import pickle

import pytest
import sacrebleu

from coursekit.metrics import TranslationScore, bleu, chrf, paired_bootstrap

HYPS = [
    "the cat sat on the mat",
    "a quick brown fox jumps over the lazy dog",
    "in the beginning god created the heaven",
    "thou shalt not kill",
]
REFS = [
    "the cat sat on a mat",
    "the quick brown fox jumped over the lazy dog",
    "in the beginning god created the heaven and the earth",
    "you shall not murder",
]
REFS2 = [
    "there is a cat on the mat",
    "a fast brown fox leaps over a lazy dog",
    "at the start god made the heavens",
    "thou shalt not kill",
]


def test_bleu_and_chrf_are_sacrebleus_numbers():
    assert bleu(HYPS, REFS) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert chrf(HYPS, REFS) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)
    two = list(zip(REFS, REFS2, strict=True))  # two references per hypothesis
    assert bleu(HYPS, two) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS, REFS2]).score)
    assert bleu(HYPS, two) > bleu(HYPS, REFS)  # the fourth sentence matches its second reference
    chrf_pp = sacrebleu.corpus_chrf(HYPS, [REFS], word_order=2).score
    assert chrf(HYPS, REFS, word_order=2) == pytest.approx(chrf_pp)
    lower = sacrebleu.corpus_bleu([h.upper() for h in HYPS], [REFS], lowercase=True).score
    assert bleu([h.upper() for h in HYPS], REFS, lowercase=True) == pytest.approx(lower)
    zh = sacrebleu.corpus_bleu(["我们爱猫和狗"], [["我们爱狗和猫"]], tokenize="zh").score
    assert bleu(["我们爱猫和狗"], ["我们爱狗和猫"], tokenize="zh") == pytest.approx(zh)


def test_hand_checked_scores():
    assert bleu(HYPS, HYPS) == pytest.approx(100.0)
    assert chrf(HYPS, HYPS) == pytest.approx(100.0)
    assert bleu(["alpha beta gamma delta"], ["one two three four"]) == 0.0
    assert chrf(["abc"], ["xyz"]) == 0.0
    # 1- to 4-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty.
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** (1 / 4)
    assert bleu([HYPS[0]], [REFS[0]]) == pytest.approx(expected)
    # the same hypothesis against a longer reference (7 tokens): brevity penalty exp(1 - 7/6)
    short = bleu(["the cat sat on the mat"], ["the cat sat on the red mat"])
    precisions = 6 / 6 * 4 / 5 * 3 / 4 * 2 / 3
    assert short == pytest.approx(100 * math.exp(1 - 7 / 6) * precisions ** (1 / 4))


def test_a_score_is_a_float_with_sacrebleus_signature():
    score = bleu(HYPS, REFS)
    assert isinstance(score, float) and isinstance(score, TranslationScore)
    reference = sacrebleu.BLEU()
    reference.corpus_score(HYPS, [REFS])  # sacrebleu knows the reference count only then
    assert score.signature == str(reference.get_signature())
    assert score.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert score.details.startswith(f"BLEU = {score:.2f} ")
    assert "nrefs:2" in bleu(HYPS, list(zip(REFS, REFS2, strict=True))).signature
    assert chrf(HYPS, REFS).signature.startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|")
    again = pickle.loads(pickle.dumps(score))
    assert again == score and again.signature == score.signature


def test_input_that_cannot_be_scored_is_refused_clearly():
    with pytest.raises(ValueError, match=r"got 2 hypotheses and 1 references: pass one reference"):
        bleu(HYPS[:2], REFS[:1])
    with pytest.raises(ValueError, match=r"chrF of no sentences is undefined"):
        chrf([], [])
    with pytest.raises(TypeError, match=r"pass lists of sentences .*not one string"):
        bleu("the cat", "the cat")
    with pytest.raises(TypeError, match=r"got a list: decode token ids to text first"):
        bleu([[5, 6, 7]], ["the cat"])
    with pytest.raises(ValueError, match=r"the same number \(at least 1\) of references"):
        bleu(HYPS[:2], [["a", "b"], ["c"]])
    with pytest.raises(ValueError, match=r"tokenize must be one of .*'13a'.*got 'spm'"):
        bleu(HYPS, REFS, tokenize="spm")


def _resampled_margin(hyps_a, hyps_b, refs, rows, corpus):
    pick = [int(r) for r in rows]
    return (
        corpus([hyps_a[i] for i in pick], [[refs[i] for i in pick]]).score
        - corpus([hyps_b[i] for i in pick], [[refs[i] for i in pick]]).score
    )


@pytest.mark.parametrize("metric", ["BLEU", "chrF"])
def test_paired_bootstrap_is_sacrebleu_rescoring_each_resample(metric):
    import numpy as np

    rng = np.random.default_rng(3)
    words = [
        "the",
        "a",
        "cat",
        "dog",
        "sat",
        "ran",
        "on",
        "over",
        "mat",
        "hill",
        "lord",
        "said",
        "unto",
        "moses",
    ]
    refs = [" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(40)]
    # system a copies most references, system b scrambles more of them
    hyps_a = [r if rng.random() < 0.7 else " ".join(rng.choice(words, 5)) for r in refs]
    hyps_b = [r if rng.random() < 0.4 else " ".join(rng.choice(words, 5)) for r in refs]
    corpus = sacrebleu.corpus_bleu if metric == "BLEU" else sacrebleu.corpus_chrf
    samples, seed = 200, 5
    index = np.random.default_rng(seed).integers(0, len(refs), (samples, len(refs)))
    diffs = [_resampled_margin(hyps_a, hyps_b, refs, rows, corpus) for rows in index]
    expected = np.percentile(diffs, [2.5, 97.5])
    low, high = paired_bootstrap(hyps_a, hyps_b, refs, metric, samples=samples, seed=seed)
    assert (low, high) == pytest.approx(tuple(expected), abs=1e-6)
    observed = corpus(hyps_a, [refs]).score - corpus(hyps_b, [refs]).score
    assert 0 < low < observed < high  # a is better, and the interval holds the observed margin
    swapped = paired_bootstrap(hyps_b, hyps_a, refs, metric, samples=samples, seed=seed)
    assert swapped == pytest.approx((-high, -low), abs=1e-6)
    narrow = paired_bootstrap(hyps_a, hyps_b, refs, metric, samples=samples, seed=seed, level=0.5)
    assert low <= narrow[0] <= narrow[1] <= high


def test_paired_bootstrap_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="metric must be 'BLEU' or 'chrF'"):
        paired_bootstrap(HYPS, HYPS, REFS, "TER")
    with pytest.raises(ValueError, match="4 references"):
        paired_bootstrap(HYPS[:3], HYPS, REFS)
    with pytest.raises(ValueError, match="0 < level < 1"):
        paired_bootstrap(HYPS, HYPS, REFS, level=95)
