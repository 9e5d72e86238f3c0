"""Count-based vectors and word2vec (coursekit.embeddings.cooccurrence, .word2vec)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from coursekit.embeddings import (
    SkipGram,
    Vocabulary,
    Word2VecConfig,
    cooccurrence_counts,
    keep_probabilities,
    negative_sampling_loss,
    noise_distribution,
    ppmi,
    sgns_gradients,
    sgns_sgd_step,
    skipgram_pairs,
    svd_vectors,
    train_word2vec,
)
from coursekit.embeddings.cooccurrence import Cooccurrence


def brute_force_counts(ids, vocab_size, window, harmonic):
    """Reference: walk every position and every offset; no window crosses a negative id."""
    out = np.zeros((vocab_size, vocab_size))
    sentences, current = [], []
    for i in [*ids, -1]:
        if i < 0:
            sentences.append(current)
            current = []
        else:
            current.append(i)
    for s in sentences:
        for a in range(len(s)):
            for b in range(len(s)):
                d = abs(a - b)
                if 0 < d <= window:
                    out[s[a], s[b]] += 1.0 / d if harmonic else 1.0
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("harmonic", [True, False])
def test_cooccurrence_matches_brute_force(seed, harmonic):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 7, size=60)
    ids[rng.choice(60, size=5, replace=False)] = -1  # sentence boundaries
    window = int(rng.integers(1, 5))
    got = cooccurrence_counts(ids, 7, window, "harmonic" if harmonic else "uniform").to_dense()
    np.testing.assert_allclose(got, brute_force_counts(ids, 7, window, harmonic))
    np.testing.assert_allclose(got, got.T)


def test_cooccurrence_rejects_bad_input():
    with pytest.raises(ValueError, match="out of range"):
        cooccurrence_counts([0, 5], vocab_size=3)
    with pytest.raises(ValueError, match="weighting"):
        cooccurrence_counts([0, 1], 2, weighting="cosine")


def test_vocabulary_orders_by_frequency_and_drops_rare_words():
    v = Vocabulary.from_tokens(["the", "cat", "the", "dog", "the", "cat", "bird"], min_freq=2)
    assert v.words == ("the", "cat")
    assert v.encode([["the", "bird", "cat"], ["cat"]]).tolist() == [0, 1, -1, 1]
    with pytest.raises(KeyError, match="bird"):
        v["bird"]


def test_ppmi_matches_dense_formula():
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 5, size=(6, 6)).astype(float)
    dense = dense + dense.T
    rows, cols = np.nonzero(dense)
    got = ppmi(Cooccurrence(rows, cols, dense[rows, cols], 6), alpha=0.75).to_dense()
    total = dense.sum()
    p_ij = dense / total
    p_i = dense.sum(1, keepdims=True) / total
    c = dense.sum(0) ** 0.75
    p_j = c / c.sum()
    with np.errstate(divide="ignore"):
        expected = np.maximum(np.log(p_ij / (p_i * p_j)), 0)
    np.testing.assert_allclose(got, np.nan_to_num(expected, neginf=0.0), atol=1e-12)


def test_svd_vectors_reconstruct_a_low_rank_matrix():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 3))
    m = a @ a.T  # symmetric, rank 3
    rows, cols = np.nonzero(np.ones_like(m))
    vecs = svd_vectors(Cooccurrence(rows, cols, m[rows, cols], 30), dim=3, power=1.0).double()
    _, s, _ = np.linalg.svd(m)
    # U_3 S_3 spans the same space: projecting m's columns onto it loses nothing.
    q, _ = np.linalg.qr(vecs.numpy())
    np.testing.assert_allclose(q @ q.T @ m, m, atol=1e-3 * np.abs(m).max())
    np.testing.assert_allclose(np.linalg.norm(vecs.numpy(), axis=0), s[:3], rtol=1e-3)


def test_negative_sampling_loss_hand_computed():
    v = torch.tensor([[1.0, 0.0]])
    u = torch.tensor([[2.0, 0.0]])
    n = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    # -log σ(2) - log σ(-1) - log σ(0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -math.log(sig(2)) - math.log(sig(-1)) - math.log(sig(0))
    assert negative_sampling_loss(v, u, n).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.126928 + 1.313262 + 0.693147, rel=1e-5)


def test_negative_sampling_loss_is_stable_and_checks_shapes():
    big = torch.full((1, 2), 100.0)
    loss = negative_sampling_loss(big, -big, big.unsqueeze(1))
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match=r"\(B, K, C\)"):
        negative_sampling_loss(big, big, big)


@pytest.mark.parametrize("seed", [0, 1])
def test_hand_gradients_match_autograd_float64(seed):
    g = torch.Generator().manual_seed(seed)
    b, k, c = 5, 3, 4
    v = torch.randn(b, c, generator=g, dtype=torch.float64, requires_grad=True)
    u = torch.randn(b, c, generator=g, dtype=torch.float64, requires_grad=True)
    n = torch.randn(b, k, c, generator=g, dtype=torch.float64, requires_grad=True)
    loss = negative_sampling_loss(v, u, n, reduction="sum")
    loss.backward()
    hand_loss, gv, gu, gn = sgns_gradients(v.detach(), u.detach(), n.detach())
    torch.testing.assert_close(hand_loss, loss.detach())
    torch.testing.assert_close(gv, v.grad)
    torch.testing.assert_close(gu, u.grad)
    torch.testing.assert_close(gn, n.grad)
    assert torch.autograd.gradcheck(
        lambda v, u, n: negative_sampling_loss(v, u, n), (v, u, n), eps=1e-6
    )


def test_sgd_step_equals_autograd_sgd_with_repeated_rows():
    torch.manual_seed(0)
    model = SkipGram(6, 3).double()
    with torch.no_grad():
        model.context.weight.normal_()
    ref = SkipGram(6, 3, sparse=False).double()
    ref.load_state_dict(model.state_dict())
    center, context = torch.tensor([1, 1, 2]), torch.tensor([3, 4, 1])
    negatives = torch.tensor([[0, 3], [5, 5], [1, 2]])
    ref(center, context, negatives, reduction="sum").backward()
    with torch.no_grad():
        for p in ref.parameters():
            p -= 0.1 * p.grad
    sgns_sgd_step(model, center, context, negatives, lr=0.1)
    torch.testing.assert_close(model.center.weight, ref.center.weight)
    torch.testing.assert_close(model.context.weight, ref.context.weight)


def test_skipgram_pairs_respect_window_and_boundaries():
    ids = np.array([0, 1, 2, -1, 3, 4])
    c, o = skipgram_pairs(ids, 2, np.random.default_rng(0), dynamic_window=False)
    pairs = set(zip(c.tolist(), o.tolist(), strict=True))
    assert pairs == {(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1), (3, 4), (4, 3)}
    # dynamic window: distance-2 pairs are kept about half the time
    long = np.arange(20000) % 50
    c, o = skipgram_pairs(long, 2, np.random.default_rng(0))
    share_far = np.mean(np.abs(c - o) % 48 == 2)
    assert 0.3 < share_far < 0.37  # expected 1/3 of the pairs (weights 1 : 1/2)


def test_noise_and_subsampling():
    p = noise_distribution(np.array([1, 8, 27]), power=1 / 3)
    torch.testing.assert_close(p, torch.tensor([1 / 6, 2 / 6, 3 / 6], dtype=torch.float64))
    keep = keep_probabilities(np.array([1, 10, 10_000]), sample=1e-3)
    assert keep[0] == 1.0 and keep[2] < keep[1] <= 1.0
    with pytest.raises(ValueError):
        noise_distribution(np.array([0, 0]))


def test_word2vec_config_is_validated():
    with pytest.raises(ValueError, match="dim"):
        Word2VecConfig(dim=0)
    with pytest.raises(ValueError, match="min_lr"):
        Word2VecConfig(lr=0.01, min_lr=0.1)


def test_word2vec_learns_two_topics():
    """Two vocabularies that never share a sentence end up in two clusters."""
    rng = np.random.default_rng(0)
    sentences = [rng.integers(0, 10, 8) if i % 2 else rng.integers(10, 20, 8) for i in range(600)]
    ids = np.concatenate([np.r_[s, -1] for s in sentences])
    counts = np.bincount(ids[ids >= 0], minlength=20)
    cfg = Word2VecConfig(dim=16, window=3, epochs=3, batch_size=256, sample=0, lr=0.05)
    model, history = train_word2vec(ids, counts, cfg)
    assert history[-1] < history[0]
    v = model.vectors / model.vectors.norm(dim=1, keepdim=True)
    sims = v @ v.T
    same = (sims[:10, :10].mean() + sims[10:, 10:].mean()) / 2
    assert same - sims[:10, 10:].mean() > 0.5


def test_word2vec_divergence_is_reported_with_a_fix():
    ids = np.tile(np.arange(4), 500)
    with pytest.raises(FloatingPointError, match="lower batch_size"):
        train_word2vec(
            ids, np.full(4, 500), Word2VecConfig(dim=8, batch_size=4096, lr=5.0, sample=0)
        )
