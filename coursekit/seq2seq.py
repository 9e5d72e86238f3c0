"""Sequence-to-sequence training and decoding of chapters 06 and 07: the loss, the encoder-decoder
protocol, greedy decoding and beam search with length normalisation.

Any encoder-decoder of the course (chapter 06's RNN with attention, chapter 07's
:class:`~coursekit.nn.transformer.Seq2SeqTransformer`) follows one protocol,
:class:`EncoderDecoder`:

- ``forward(src, tgt_in, src_mask) -> logits (B, T, V)``: teacher forcing, what
  :func:`seq2seq_loss` trains;
- ``encode(src, src_mask) -> memory``: a tensor, or a tuple/list/dict/dataclass of tensors, with
  the batch on dim 0 (the Transformer's ``(B, S, C)``; an RNN's outputs and final state);
- ``decode_step(tokens, memory, src_mask, state) -> (logits (B, V), state)``: the logits of the
  position after the last of ``tokens (B, t)``. ``state=None`` starts from nothing (``tokens``
  then begin with ``<bos>``); the state returned holds every position fed so far, so the next call
  passes only the new tokens (a KV cache, an RNN's hidden state). Feeding the whole prefix again
  with ``state=None`` must give the same logits: that is decoding without a cache
  (``use_cache=False``), the reference the cache is tested against.
- optional ``reorder_state(state, index) -> state``: rows ``index`` of the state, for beam search.
  Without it every tensor in the state is indexed along dim 0 (:func:`select_rows`), which fits a
  :class:`~coursekit.nn.attention.KVCache` and batch-first RNN states; an RNN whose hidden state
  is ``(layers, B, H)`` defines it (``h.index_select(1, index)``).

``src_mask`` is ``(B, S)`` bool, True on real tokens (:class:`~coursekit.data.batching.Seq2SeqBatch`'s);
the decoding functions take ``None`` as "no padding" and pass every model a real mask. Decoded ids
exclude ``<bos>``, end with ``<eos>`` where a row finished, and hold ``pad_id`` after it;
:func:`trim` turns them into lists for a tokenizer's ``decode``.

Shapes: B batch, S source steps, T target steps, K beam size, V target vocab.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.generate import sample_next
from coursekit.train.evaluation import lm_loss

__all__ = [
    "EncoderDecoder",
    "Hypothesis",
    "beam_hypotheses",
    "beam_search",
    "gnmt_penalty",
    "greedy_decode",
    "select_rows",
    "seq2seq_loss",
    "trim",
]

PAD_ID, BOS_ID, EOS_ID = 0, 2, 3  # coursekit's tokenizers (coursekit.data.tokenizers.SPECIALS)


@runtime_checkable
class EncoderDecoder(Protocol):
    """What :func:`greedy_decode` and :func:`beam_search` need of a model (see the module docs)."""

    def encode(self, src: Tensor, src_mask: Tensor) -> Any: ...

    def decode_step(
        self, tokens: Tensor, memory: Any, src_mask: Tensor, state: Any
    ) -> tuple[Tensor, Any]: ...


def seq2seq_loss(
    model: nn.Module, batch: Any, *, ignore_index: int = PAD_ID
) -> tuple[Tensor, dict]:
    """Mean token cross-entropy (nats per target token) of ``model(src, tgt_in, src_mask)``
    against ``tgt_out``; padding (``ignore_index``) is not scored. For
    ``train(..., loss_fn=seq2seq_loss)``; the extra ``"tokens"`` is the number of scored tokens.

    Args:
        batch: a :class:`~coursekit.data.batching.Seq2SeqBatch` (anything with ``src``,
            ``src_mask``, ``tgt_in`` and ``tgt_out``).

    Shape:
        src, src_mask ``(B, S)``; tgt_in, tgt_out ``(B, T)``; logits ``(B, T, V)``.
    """
    missing = [n for n in ("src", "src_mask", "tgt_in", "tgt_out") if not hasattr(batch, n)]
    if missing:
        raise TypeError(
            f"seq2seq_loss needs a Seq2SeqBatch (src, src_mask, tgt_in, tgt_out), got "
            f"{type(batch).__name__} without {', '.join(missing)}: collate pairs with "
            f"coursekit.data.batching.Seq2SeqCollate."
        )
    teacher_forced = functools.partial(model, batch.src, src_mask=batch.src_mask)
    loss = lm_loss(teacher_forced, (batch.tgt_in, batch.tgt_out), ignore_index=ignore_index)
    return loss, {"tokens": (batch.tgt_out != ignore_index).sum()}


def select_rows(value: Any, index: Tensor) -> Any:
    """Rows ``index`` (dim 0) of every tensor in ``value``: tensors, tuples, lists, dicts and
    dataclasses of them (a :class:`~coursekit.nn.attention.KVCache`); None stays None.

    >>> select_rows({"h": torch.arange(3)}, torch.tensor([2, 2, 0]))
    {'h': tensor([2, 2, 0])}
    """
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.index_select(0, index.to(value.device))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(select_rows(v, index) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(select_rows(v, index) for v in value)
    if isinstance(value, dict):
        return {k: select_rows(v, index) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: select_rows(getattr(value, f.name), index) for f in dataclasses.fields(value)
        }
        return type(value)(**fields)
    raise TypeError(
        f"cannot select batch rows of a {type(value).__name__}: keep memory and decoder state as "
        f"tensors (or containers of them) with the batch on dim 0, or give the model a "
        f"reorder_state(state, index) method."
    )


def gnmt_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty ``((5 + |Y|) / 6) ** alpha`` (Wu et al., 2016, §7); a hypothesis
    is ranked by ``log P(Y | X) / gnmt_penalty(|Y|, alpha)``, ``|Y|`` counting ``<eos>``.

    ``alpha = 0`` ranks by the raw log-probability (which favours short outputs); larger alpha
    favours longer ones. GNMT's form rather than ``|Y| ** alpha``: the offset 5 keeps the penalty
    nearly flat over the first tokens (lengths 1 and 2 differ by ``(7/6) ** alpha``, not
    ``2 ** alpha``), so the normalisation weighs whole sentences rather than the first tokens, and
    GNMT, OpenNMT and Marian use it with alpha around 0.6-1.

    >>> gnmt_penalty(1, 1.0), gnmt_penalty(7, 0.0)
    (1.0, 1.0)
    """
    return ((5 + length) / 6) ** alpha


@dataclass(frozen=True)
class Hypothesis:
    """One output of :func:`beam_hypotheses`: its ids (no ``<bos>``; ``<eos>`` last if it
    ended), ``log_prob = log P(ids | source)`` and ``score``, the log-probability over
    :func:`gnmt_penalty`, by which hypotheses are ranked."""

    ids: list[int]
    log_prob: float
    score: float


def _check_decoding(model: Any, src: Tensor, src_mask: Tensor | None, max_len: int) -> Tensor:
    """The source mask to use (all True for None), after checking the model and the inputs."""
    if not (hasattr(model, "encode") and hasattr(model, "decode_step")):
        raise TypeError(
            f"{type(model).__name__} does not follow the encoder-decoder protocol: it needs "
            f"encode(src, src_mask) and decode_step(tokens, memory, src_mask, state) "
            f"(see coursekit.seq2seq)."
        )
    if not isinstance(src, Tensor) or src.dim() != 2 or src.size(1) < 1:
        shape = tuple(src.shape) if isinstance(src, Tensor) else type(src).__name__
        raise ValueError(f"src should be source ids of shape (B, S) with S >= 1, got {shape}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive int (tokens to generate), got {max_len!r}")
    if src_mask is None:
        return torch.ones_like(src, dtype=torch.bool)
    if src_mask.shape != src.shape:
        raise ValueError(
            f"src_mask must have the shape of src {tuple(src.shape)}, got "
            f"{tuple(src_mask.shape)}: pass the batch's src_mask (or None: no padding)."
        )
    return src_mask.bool()


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; the model's mode back afterwards, also on errors."""
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)


def _reorder(model: Any) -> Callable[[Any, Tensor], Any]:
    return getattr(model, "reorder_state", select_rows)


def greedy_decode(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor | None = None,
    max_len: int = 50,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    *,
    pad_id: int = PAD_ID,
    use_cache: bool = True,
) -> Tensor:
    """The most likely next token at every step (``coursekit.generate.sample_next`` with
    temperature 0), for a batch of sources; a row stops at its ``<eos>``, the batch when every row
    has stopped or after ``max_len`` tokens.

    Args:
        model: follows :class:`EncoderDecoder`; in eval mode while decoding, then back.
        src: source ids ``(B, S)``; src_mask: ``(B, S)`` bool, True on real tokens (None: all).
        max_len: the most tokens to generate, ``<eos>`` included.
        bos_id, eos_id, pad_id: special ids (coursekit's tokenizers: 2, 3, 0).
        use_cache: feed one token per step with the model's state; False re-reads the prefix.

    Returns:
        ids ``(B, T)``, ``T <= max_len``: no ``<bos>``; ``pad_id`` after a row's ``<eos>``.
    """
    src_mask = _check_decoding(model, src, src_mask, max_len)
    with _eval_mode(model):
        memory = model.encode(src, src_mask)
        prefix = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        state, feed = None, prefix
        for _ in range(max_len):
            logits, state = model.decode_step(feed, memory, src_mask, state)  # (B, V)
            state = state if use_cache else None
            token = sample_next(logits, temperature=0).masked_fill(done[:, None], pad_id)  # (B, 1)
            prefix = torch.cat([prefix, token], dim=1)
            feed = token if use_cache else prefix
            done = done | (token[:, 0] == eos_id)
            if bool(done.all()):  # one host read per step
                break
    return prefix[:, 1:]


def beam_hypotheses(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor | None = None,
    beam_size: int = 5,
    max_len: int = 50,
    length_penalty: float = 0.0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    *,
    use_cache: bool = True,
) -> list[list[Hypothesis]]:
    """Beam search for a batch of sources: up to ``beam_size`` :class:`Hypothesis` per source,
    best first by log-probability over GNMT's :func:`gnmt_penalty` with ``alpha =
    length_penalty``.

    Each step extends the K live prefixes of every source by every token and walks the
    extensions best first (log-probability) until K live ones are found (at most 2K: only K can
    end in ``<eos>``): those ending in ``<eos>`` on the way become finished hypotheses, the K
    others live on (their decoder state is reordered to follow them). A
    source stops once it has K finished hypotheses and no live prefix can beat the K-th of them
    (its log-probability can only fall, its penalty is at most ``max_len``'s), so stopping early
    never changes the result; after ``max_len`` tokens the live prefixes count as hypotheses too.
    With ``alpha = 0``, ``beam_size=1`` is greedy decoding; with alpha > 0 it may keep a prefix
    alive past greedy's ``<eos>`` and return a longer output that scores better.

    Args: as :func:`greedy_decode`, and
        beam_size: K; length_penalty: alpha >= 0 (0: no length normalisation).

    Shape:
        src, src_mask ``(B, S)``; the model decodes ``B * K`` rows at once.
    """
    src_mask = _check_decoding(model, src, src_mask, max_len)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive int, got {beam_size!r}")
    if not length_penalty >= 0:
        raise ValueError(f"length_penalty (alpha) must be >= 0, got {length_penalty!r}")
    B, K, alpha, device = src.size(0), beam_size, length_penalty, src.device
    reorder = _reorder(model)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]

    def finish(b: int, ids: list[int], log_prob: float) -> None:
        score = log_prob / gnmt_penalty(len(ids), alpha)
        finished[b].append(Hypothesis(ids, log_prob, score))

    with _eval_mode(model):
        rows = torch.arange(B, device=device).repeat_interleave(K)  # (B * K,) source of each row
        memory = select_rows(model.encode(src, src_mask), rows)  # K copies of each source's
        src_mask = src_mask.index_select(0, rows)  # (B * K, S)
        scores = torch.full((B, K), -math.inf, device=device)
        scores[:, 0] = 0.0  # one live prefix per source at the start: <bos>
        seqs: list[list[int]] = [[] for _ in range(B * K)]  # generated ids of each row
        done = [False] * B
        state, feed = None, torch.full((B * K, 1), bos_id, dtype=torch.long, device=device)
        for step in range(max_len):
            logits, state = model.decode_step(feed, memory, src_mask, state)  # (B * K, V)
            V = logits.size(-1)
            wide = torch.promote_types(logits.dtype, torch.float32)  # float64 models stay so
            logp = F.log_softmax(logits.to(wide), dim=-1).view(B, K, V)
            cand = (scores.to(wide)[:, :, None] + logp).view(B, K * V)
            top_scores, top_index = cand.topk(min(2 * K, K * V), dim=-1)  # (B, 2K)
            parents, tokens, new_scores = [], [], []
            for b, (row_scores, row_index) in enumerate(
                zip(top_scores.tolist(), top_index.tolist(), strict=True)  # one host read
            ):
                kept: list[tuple[int, int, float]] = []
                for s, flat in zip(row_scores, row_index, strict=True):  # best first
                    if done[b] or s == -math.inf or len(kept) == K:
                        break
                    parent, token = b * K + flat // V, flat % V
                    if token == eos_id:
                        finish(b, [*seqs[parent], eos_id], s)
                    else:
                        kept.append((parent, token, s))
                done[b] = done[b] or _settled(finished[b], kept, K, alpha, max_len)
                kept += [(b * K, eos_id, -math.inf)] * (K - len(kept))  # dead rows
                for parent, token, s in kept:
                    parents.append(parent)
                    tokens.append(token)
                    new_scores.append(s)
            if all(done):
                break
            seqs = [[*seqs[p], t] for p, t in zip(parents, tokens, strict=True)]
            scores = torch.tensor(new_scores, dtype=logp.dtype, device=device).view(B, K)
            index = torch.tensor(parents, device=device)
            token_col = torch.tensor(tokens, device=device)[:, None]  # (B * K, 1)
            if use_cache:
                state, feed = reorder(state, index), token_col
            else:
                state = None
                feed = torch.cat([feed.index_select(0, index), token_col], dim=1)
            if step == max_len - 1:
                for b in range(B):
                    for k, s in enumerate(scores[b].tolist()):
                        if not done[b] and s > -math.inf:
                            finish(b, seqs[b * K + k], s)
    return [_best(h, K) for h in finished]


def _best(hypotheses: list[Hypothesis], k: int) -> list[Hypothesis]:
    return sorted(hypotheses, key=lambda h: h.score, reverse=True)[:k]


def _settled(
    finished: list[Hypothesis],
    live: list[tuple[int, int, float]],
    k: int,
    alpha: float,
    max_len: int,
) -> bool:
    """Whether no live prefix can still enter the K best finished hypotheses: its log-probability
    only falls, and its penalty is at most that of ``max_len`` tokens."""
    if not live:
        return True  # nothing left to extend
    if len(finished) < k:
        return False
    bound = live[0][2] / gnmt_penalty(max_len, alpha)  # live is sorted, best first; log P <= 0
    return _best(finished, k)[-1].score >= bound


def beam_search(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor | None = None,
    beam_size: int = 5,
    max_len: int = 50,
    length_penalty: float = 0.0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    *,
    pad_id: int = PAD_ID,
    use_cache: bool = True,
) -> Tensor:
    """The best hypothesis of :func:`beam_hypotheses` for every source, as ids ``(B, T)`` laid out
    like :func:`greedy_decode`'s (no ``<bos>``, ``pad_id`` after ``<eos>``)."""
    best = [
        h[0].ids
        for h in beam_hypotheses(
            model, src, src_mask, beam_size, max_len, length_penalty, bos_id, eos_id,
            use_cache=use_cache,
        )
    ]  # fmt: skip
    out = torch.full((len(best), max(map(len, best))), pad_id, dtype=torch.long)
    for row, ids in zip(out, best, strict=True):
        row[: len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out.to(src.device)


def trim(ids: Tensor, eos_id: int = EOS_ID) -> list[list[int]]:
    """Each row of decoded ids up to (not including) its first ``<eos>``, as lists.

    >>> trim(torch.tensor([[5, 6, 3, 0], [7, 8, 9, 4]]))
    [[5, 6], [7, 8, 9, 4]]
    """
    out = []
    for row in ids.tolist():
        out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out
