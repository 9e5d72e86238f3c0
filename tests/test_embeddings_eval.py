"""GloVe, evaluation and DeepWalk (coursekit.embeddings.glove, .evaluate, .deepwalk)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from coursekit.embeddings import (
    GloVe,
    GloVeConfig,
    adjacency_lists,
    analogy_accuracy,
    cooccurrence_counts,
    covered_pairs,
    glove_adagrad_step,
    glove_gradients,
    glove_loss,
    glove_weight,
    nearest_neighbours,
    random_vectors,
    random_walks,
    similarity_spearman,
    spearman,
    synonym_retrieval,
    train_glove,
    walks_to_ids,
)


def test_glove_weight_and_loss_by_hand():
    w = glove_weight(torch.tensor([10.0, 100.0, 1000.0]), x_max=100, alpha=0.75)
    torch.testing.assert_close(w, torch.tensor([0.1**0.75, 1.0, 1.0]))
    loss = glove_loss(
        torch.tensor([[1.0, 2.0]]),
        torch.tensor([[3.0, 1.0]]),
        torch.tensor([0.5]),
        torch.tensor([-0.5]),
        torch.tensor([2.0]),
        torch.tensor([0.5]),
    )
    assert loss.item() == pytest.approx(0.5 * (5 + 0.5 - 0.5 - 2) ** 2)


def test_glove_gradients_float64():
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in "ab"]
    args += [torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True) for _ in "cd"]
    fixed = (torch.rand(4, dtype=torch.float64) + 1, torch.rand(4, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda *a: glove_loss(*a, *fixed), tuple(args))


def test_glove_hand_gradients_match_autograd_float64():
    g = torch.Generator().manual_seed(1)
    w, wt = (torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in "ab")
    b, bt = (torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True) for _ in "cd")
    log_x, f = torch.rand(6, dtype=torch.float64) * 3, torch.rand(6, dtype=torch.float64)
    loss = glove_loss(w, wt, b, bt, log_x, f)
    loss.backward()
    hand = glove_gradients(w.detach(), wt.detach(), b.detach(), bt.detach(), log_x, f)
    torch.testing.assert_close(hand[0], loss.detach())
    for ours, param in zip(hand[1:], (w, wt, b, bt), strict=True):
        torch.testing.assert_close(ours, param.grad)


def test_glove_adagrad_step_moves_only_touched_rows():
    torch.manual_seed(0)
    model = GloVe(5, 3)
    before = model.vectors.clone()
    squares = {
        n: torch.ones_like(p) for n, p in [("w", model.w.weight), ("w_tilde", model.w_tilde.weight)]
    }
    squares |= {"b": torch.ones(5), "b_tilde": torch.ones(5)}
    loss = glove_adagrad_step(
        model,
        squares,
        torch.tensor([0, 1]),
        torch.tensor([1, 0]),
        torch.tensor([1.0, 1.0]),
        torch.tensor([1.0, 1.0]),
        lr=0.1,
    )
    assert loss > 0
    changed = (model.vectors != before).any(dim=1)
    assert changed.tolist() == [True, True, False, False, False]
    assert bool((squares["w"][:2] > 1).all()) and bool((squares["w"][2:] == 1).all())


def test_glove_fits_log_counts():
    rng = np.random.default_rng(0)
    ids = np.concatenate([np.r_[rng.integers(0, 8, 6) + 8 * (i % 2), -1] for i in range(400)])
    counts = cooccurrence_counts(ids, 16, window=3)
    model, history = train_glove(counts, GloVeConfig(dim=8, epochs=40, batch_size=64, lr=0.1))
    assert history[-1] < 0.2 * history[0]
    assert isinstance(model, GloVe) and model.vectors.shape == (16, 8)


def test_spearman_matches_scipy_with_ties():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.integers(0, 5, 30), rng.normal(size=30)
        assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0], abs=1e-12)


def test_spearman_hand_values():
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2], [1, 2, 3])


def test_similarity_reports_coverage_and_orders_pairs():
    vecs = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    index = {"a": 0, "b": 1, "c": 2}
    pairs = [("a", "b", 9.0), ("a", "c", 1.0), ("b", "c", 2.0), ("a", "zzz", 5.0)]
    result = similarity_spearman(vecs, index, pairs)
    assert (result.rho, result.covered, result.total) == (pytest.approx(1.0), 3, 4)
    assert "3/4" in str(result)
    assert covered_pairs(pairs, index, {"a": 0, "b": 1}) == [("a", "b", 9.0)]


def test_nearest_neighbours_and_synonym_retrieval():
    vecs = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    words = ["a", "b", "c", "d"]
    assert [w for w, _ in nearest_neighbours(vecs, words, "c", k=2)] == ["d", "b"]
    with pytest.raises(KeyError, match="zzz"):
        nearest_neighbours(vecs, words, "zzz")
    index = {w: i for i, w in enumerate(words)}
    r = synonym_retrieval(vecs, index, [("a", "b"), ("c", "b"), ("a", "q")], k=1)
    assert (r.hits_at_k, r.covered, r.total) == (0.5, 2, 3)
    assert r.mrr == pytest.approx((1 + 1 / 2) / 2)


def test_analogy_3cosadd_excludes_question_words():
    # king - man + woman = queen, in a toy space with a gender axis and a royalty axis
    words = ["man", "woman", "king", "queen", "apple"]
    vecs = torch.tensor([[1.0, 0, 0.1], [-1.0, 0, 0.1], [1.0, 1, 0], [-1.0, 1, 0], [0, 0, 1.0]])
    index = {w: i for i, w in enumerate(words)}
    res = analogy_accuracy(
        vecs,
        index,
        {"family": [("man", "woman", "king", "queen"), ("man", "woman", "king", "pear")]},
    )
    assert res.sections["family"] == (1, 1, 2)
    assert res.accuracy == 1.0 and "1/2" in str(res)


def test_random_baseline_is_near_zero_correlation():
    rng = np.random.default_rng(0)
    index = {str(i): i for i in range(200)}
    pairs = [(str(a), str(b), float(rng.random())) for a, b in rng.integers(0, 200, (300, 2))]
    assert abs(similarity_spearman(random_vectors(200, 50), index, pairs).rho) < 0.2


def test_random_walks_follow_edges():
    edges = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5)]
    adj = adjacency_lists(edges, 7)  # node 6 is isolated
    walks = random_walks(adj, walks_per_node=3, length=6, seed=0)
    assert walks.shape == (21, 6)
    allowed = {(u, v) for u, v in edges} | {(v, u) for u, v in edges}
    for walk in walks:
        for a, b in itertools.pairwise(walk):
            assert (a, b) in allowed or a == b == 6
    flat = walks_to_ids(walks)
    assert flat.shape == (21 * 7,) and (flat[6::7] == -1).all()
    with pytest.raises(ValueError, match="outside"):
        adjacency_lists([(0, 9)], 3)
