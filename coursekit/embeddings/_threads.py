"""Run small-tensor training loops on one intra-op thread (used by word2vec, GloVe and the SVD).

A word2vec or GloVe step works on tensors of a few thousand rows. At that size a second thread
saves little, and when other processes compete for the cores, OpenMP's thread synchronisation is
catastrophic: on a 2-core machine with other jobs running, one SGNS step
(1,024 pairs, width 50) took 1.7 ms on one thread and 100 ms on two, and a GloVe step 17 ms against
316 ms; on the same machine idle, two threads were only 1.4x faster (1.0 against 1.4 ms;
``scripts/bench_word2vec.py`` measures both). The loops therefore trade that 1.4x for safety and
run with ``torch.set_num_threads(1)``, restoring the caller's setting afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["one_thread"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Within the block torch uses one intra-op CPU thread; the previous count is restored.

    >>> before = torch.get_num_threads()
    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
