"""DeepWalk: node embeddings from skip-gram over random walks on a graph (chapter 01).

DeepWalk (Perozzi et al. 2014) is not a word-embedding method and not deep: it turns a graph into
"sentences" (truncated random walks) and trains the same shallow skip-gram model on them, so that
nodes that appear near each other on walks get similar vectors. The source article lists it as a
"deep word embedding"; chapter 01 runs it on a small graph to show what it really is.

Shape legend: ``W`` walks, ``L`` walk length, ``V`` nodes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from coursekit.embeddings.cooccurrence import BOUNDARY

__all__ = ["adjacency_lists", "random_walks", "walks_to_ids"]


def adjacency_lists(edges: Iterable[tuple[int, int]], num_nodes: int) -> list[np.ndarray]:
    """Neighbour lists of an undirected graph given as ``(u, v)`` node-id pairs.

    >>> [a.tolist() for a in adjacency_lists([(0, 1), (1, 2)], 3)]
    [[1], [0, 2], [1]]
    """
    neighbours: list[set[int]] = [set() for _ in range(num_nodes)]
    for u, v in edges:
        if not (0 <= u < num_nodes and 0 <= v < num_nodes):
            raise ValueError(f"edge ({u}, {v}) names a node outside 0..{num_nodes - 1}")
        if u != v:
            neighbours[u].add(v)
            neighbours[v].add(u)
    return [np.array(sorted(n), dtype=np.int64) for n in neighbours]


def random_walks(
    neighbours: list[np.ndarray], walks_per_node: int, length: int, seed: int = 0
) -> np.ndarray:
    """Uniform random walks, ``walks_per_node`` starting at every node (isolated nodes stay put).

    All walks advance one step at a time together (vectorised over the ``W`` walks).

    Returns:
        Node ids, shape ``(W, L)`` with ``W = walks_per_node * V`` and ``L = length``.

    >>> random_walks(adjacency_lists([(0, 1)], 2), walks_per_node=1, length=3).tolist()
    [[0, 1, 0], [1, 0, 1]]
    """
    if walks_per_node < 1 or length < 1:
        raise ValueError(
            f"need walks_per_node >= 1 and length >= 1, got {walks_per_node}, {length}"
        )
    rng = np.random.default_rng(seed)
    degree = np.array([len(n) for n in neighbours])
    offsets = np.r_[0, np.cumsum(degree)]
    flat = np.concatenate(neighbours) if degree.sum() else np.zeros(0, np.int64)
    walks = np.empty((walks_per_node * len(neighbours), length), dtype=np.int64)  # (W, L)
    walks[:, 0] = np.tile(np.arange(len(neighbours)), walks_per_node)
    for t in range(1, length):
        here = walks[:, t - 1]
        d = degree[here]
        pick = (rng.random(len(here)) * np.maximum(d, 1)).astype(np.int64)
        nxt = flat[np.minimum(offsets[here] + pick, max(len(flat) - 1, 0))] if len(flat) else here
        walks[:, t] = np.where(d > 0, nxt, here)
    return walks


def walks_to_ids(walks: np.ndarray) -> np.ndarray:
    """Walks ``(W, L)`` as one flat id array with a boundary after each walk, ready for
    :func:`~coursekit.embeddings.word2vec.train_word2vec`.

    >>> walks_to_ids(np.array([[0, 1], [1, 0]])).tolist()
    [0, 1, -1, 1, 0, -1]
    """
    walks = np.asarray(walks)
    if walks.ndim != 2:
        raise ValueError(f"walks must be (W, L), got shape {walks.shape}")
    out = np.full((walks.shape[0], walks.shape[1] + 1), BOUNDARY, dtype=np.int64)
    out[:, :-1] = walks
    return out.reshape(-1)
