"""coursekit.compute (FLOPs by formula vs torch's counter), coursekit.weat (known answers, the
permutation test) and coursekit.privacy (exposure, candidate scoring)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from coursekit.compute import counted_flops, gpt_flops_per_token, matmul_parameters
from coursekit.nn.transformer.gpt import GPT, GPTConfig
from coursekit.privacy import candidate_log_probs, exposure, make_canaries, plant, rank_of
from coursekit.weat import association, weat, weat_effect_size


@pytest.mark.parametrize(
    "config",
    [
        GPTConfig(vocab_size=100, context_size=32, embed_dim=64, num_heads=4, num_layers=2),
        GPTConfig(
            vocab_size=50, context_size=16, embed_dim=32, num_heads=2, num_layers=3, ff_dim=50
        ),
        GPTConfig.llama(vocab_size=300, context_size=16, embed_dim=48, num_heads=4, num_layers=3),
        GPTConfig.llama(
            vocab_size=300, context_size=16, embed_dim=48, num_heads=4, tie_weights=True
        ),
    ],
)
def test_flop_formula_equals_torchs_count(config):
    """The formula counts exactly what FlopCounterMode counts, forward and training step."""
    from dataclasses import replace

    torch.manual_seed(0)
    model = GPT(replace(config, impl="naive"))  # plain matmuls, which the CPU counter sees
    x = torch.randint(0, config.vocab_size, (3, config.context_size))
    tokens = x.numel()
    assert counted_flops(model, x) == tokens * gpt_flops_per_token(config)
    assert counted_flops(model, x, training=False) == tokens * gpt_flops_per_token(
        config, training=False
    )


def test_flop_formula_shorter_windows_and_bad_input():
    c = GPTConfig(vocab_size=10, context_size=8, embed_dim=8, num_heads=2, num_layers=1)
    assert gpt_flops_per_token(c, 4) == 6 * matmul_parameters(c) + 12 * 1 * 4 * 8
    with pytest.raises(ValueError, match="seq_len must be"):
        gpt_flops_per_token(c, 9)
    with pytest.raises(TypeError, match="GPTConfig"):
        matmul_parameters({"embed_dim": 8})
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        counted_flops(GPT(c), torch.zeros(8, dtype=torch.long))


def test_gpt3_formula_matches_the_papers_compute():
    """Brown et al. (2020), table D.1: 3.14e23 FLOPs for 175B parameters on 300B tokens."""
    gpt3 = GPTConfig(
        vocab_size=50257, context_size=2048, embed_dim=12288, num_heads=96, num_layers=96
    )
    assert math.isclose(gpt_flops_per_token(gpt3) * 300e9, 3.14e23, rel_tol=0.1)


def test_weat_effect_size_by_hand():
    """s(x1) = 1, s(x2) = 1, s(y1) = -1, s(y2) = 0 on the axes: d = (1 - (-0.5)) / std."""
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    x = np.array([[2.0, 0.0], [1.0, 0.0]])
    y = np.array([[0.0, 3.0], [1.0, 1.0]])
    s = np.array([1.0, 1.0, -1.0, 0.0])
    np.testing.assert_allclose(association(np.vstack([x, y]), a, b), s, atol=1e-12)
    assert math.isclose(weat_effect_size(x, y, a, b), 1.5 / s.std(ddof=1))
    with pytest.raises(ValueError, match="keep more words in X"):
        weat_effect_size(x[:1], y, a, b)


def test_weat_permutation_p_value_and_missing_words():
    index = {w: i for i, w in enumerate(["x1", "x2", "x3", "y1", "y2", "y3", "a", "b"])}
    vectors = np.array([[1, 0.1], [1, 0.2], [1, 0.3], [0.1, 1], [0.2, 1], [0.3, 1], [1, 0], [0, 1]])
    r = weat(vectors, index, ["x1", "x2", "x3", "zz"], ["y1", "y2", "y3"], ["a"], ["b"])
    assert r.permutations == math.comb(6, 3)  # exact: every split of the six targets
    assert math.isclose(r.p_value, 1 / 20)  # only the true split is as extreme
    assert r.missing[0] == ("zz",) and r.used[0] == ("x1", "x2", "x3")
    flipped = weat(vectors, index, ["y1", "y2", "y3"], ["x1", "x2", "x3"], ["a"], ["b"])
    assert flipped.effect_size == pytest.approx(-r.effect_size) and flipped.p_value == 1.0
    sampled = weat(
        vectors, index, ["x1", "x2", "x3"], ["y1", "y2", "y3"], ["a"], ["b"], permutations=10
    )
    assert sampled.permutations == 10
    # a sampled test counts the observed split among its own: p = (k + 1) / (n + 1), never 0
    assert (
        sampled.p_value * 11 == pytest.approx(round(sampled.p_value * 11)) and sampled.p_value > 0
    )
    # two-sided: twice the smaller tail; the flipped test has the same two-sided p
    assert math.isclose(r.p_two_sided, 2 / 20) and math.isclose(flipped.p_two_sided, 2 / 20)


def test_exposure_on_a_constructed_ranking():
    scores = torch.arange(16.0)  # candidate 15 is the favourite
    assert exposure(scores, 15) == 4.0 and exposure(scores, 0) == 0.0
    assert rank_of(scores, 12) == 4 and exposure(scores, 12) == 2.0
    assert rank_of(torch.tensor([1.0, 1.0, 0.0]), 1) == 1  # a tie does not push it down
    with pytest.raises(ValueError, match="true_index"):
        exposure(scores, 16)


def test_candidate_log_probs_enumerate_every_secret():
    """The batched scoring equals scoring each candidate by its own forward pass."""
    chars = "abc 0123456789"
    encode = lambda s: [chars.index(ch) for ch in s]  # noqa: E731
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=len(chars), context_size=8, embed_dim=16, num_heads=2, num_layers=1)
    )
    scores = candidate_log_probs(model, encode, "ab ", 2)
    assert scores.shape == (100,)
    for secret in ("00", "47", "99"):
        ids = torch.tensor([encode("ab " + secret)])
        logp = torch.log_softmax(model(ids).detach(), -1)[0]
        direct = sum(float(logp[2 + i, ids[0, 3 + i]]) for i in range(2))
        assert math.isclose(float(scores[int(secret)]), direct, rel_tol=1e-5)
    with pytest.raises(ValueError, match="digits"):
        candidate_log_probs(model, encode, "ab ", 0)


def test_scaling_sweep_continues_the_best_rate_exactly():
    """The chosen rate's run equals scaling_run at that rate: the short runs are its prefix."""
    from coursekit.challenges import RunSettings, scaling_run, scaling_sweep

    torch.set_num_threads(1)
    settings = RunSettings(embed_dim=8, num_heads=2, num_layers=1, batch_size=4, seq_len=16)
    sweep = scaling_sweep(settings, 3e8, (1e-3, 1e-2), evals=4, select_at=2, train_chars=20_000)
    assert set(sweep["lr_grid"]) == {"0.001", "0.01"} and len(sweep["points"]) == 4
    chosen = min(sweep["lr_grid"], key=lambda k: sweep["lr_grid"][k][-1]["valid_loss"])
    assert sweep["settings"]["lr"] == float(chosen)
    alone = scaling_run(RunSettings(**sweep["settings"]), 3e8, evals=4, train_chars=20_000)
    assert [p["valid_loss"] for p in alone["points"]] == pytest.approx(
        [p["valid_loss"] for p in sweep["points"]], abs=1e-5
    )


def test_canaries_are_planted_as_often_as_asked():
    canaries = make_canaries(["ann", "bo"], [3, 1], seed=1)
    lines = plant(["x"] * 10, canaries, seed=0)
    assert [lines.count(c.text) for c in canaries] == [3, 1] and len(lines) == 14
    with pytest.raises(ValueError, match="one repeat count per name"):
        make_canaries(["ann"], [1, 2])
