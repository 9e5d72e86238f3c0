"""Checkers for chapter 06 (attention and sequence-to-sequence): a softmax over a padded source,
one step of additive (Bahdanau) attention, self-attention with an output per position, and greedy
decoding with an encoder-decoder's ``encode``/``decode_step``.

Each checker compares the answer with the usual wrong answers first (the mask's polarity inverted,
masked weights zeroed after the softmax, no tanh, the scores used as weights, one pooled vector
for every position, no ``1/sqrt(d)``, ...) and names the mistake; then with coursekit's or
PyTorch's result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from coursekit.exercises.ch04 import reject_trivial
from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.nn.attention import AdditiveAttention

__all__ = [
    "check_additive_step",
    "check_greedy_translate",
    "check_masked_softmax",
    "check_self_attention",
]


def _matches(value, wrong: torch.Tensor) -> bool:
    value = torch.as_tensor(value).detach().double()
    return value.shape == wrong.shape and torch.allclose(
        value, wrong.double(), atol=1e-5, equal_nan=True
    )


def _real(lengths: torch.Tensor, s: int) -> torch.Tensor:
    return torch.arange(s)[None, :] < lengths[:, None]  # (B, S), True on real tokens


def _masked(scores: torch.Tensor, keep: torch.Tensor, fill: float = float("-inf")) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~keep[:, None, :], fill), dim=-1)


def check_masked_softmax(masked_softmax: Callable[..., torch.Tensor]) -> ExerciseResult:
    """``masked_softmax(scores, lengths) -> (B, T, S)``: each row a softmax over the first
    ``lengths[b]`` source positions of verse ``b``, exactly 0 on its padding."""
    with Exercise("06.1 a softmax over a padded source") as ex:
        gen = torch.Generator().manual_seed(61)
        b, t, s = 3, 2, 6
        scores = 3 * torch.randn(b, t, s, generator=gen)
        lengths = torch.tensor([6, 4, 2])
        out = ex.call(masked_softmax, scores, lengths)
        ex.check_shape(out, (b, t, s), "the weights (B, T, S)")
        reject_trivial(ex, out, {"scores": scores}, "the weights")
        real = _real(lengths, s)
        hints = [
            (
                _masked(scores, ~real),
                "the mask's polarity is inverted: your weights sit on the padding. Position j of "
                "verse b is real when j < lengths[b]; fill the scores with -inf where it is not.",
            ),
            (
                torch.softmax(scores, dim=-1),
                "the padding is not masked: every position got weight. Fill the scores with -inf "
                "at positions j >= lengths[b] before the softmax.",
            ),
            (
                torch.softmax(scores, dim=-1) * real[:, None, :],
                "you zeroed the padding's weights after the softmax, so a row no longer sums to "
                "1: mask the scores (-inf) before the softmax.",
            ),
            (
                _masked(scores, real, fill=0.0),
                "you filled the padding's scores with 0, which still gets weight exp(0) = 1: fill "
                "them with -inf (float('-inf')).",
            ),
            (
                _masked(scores, _real(lengths + 1, s)),
                "off by one: verse b has lengths[b] real tokens, positions 0 .. lengths[b] - 1 "
                "(use j < lengths[b], not j <= lengths[b]).",
            ),
            (
                _masked(scores, _real(lengths - 1, s)),
                "off by one: verse b has lengths[b] real tokens, positions 0 .. lengths[b] - 1; "
                "you left out the last one (use j < lengths[b]).",
            ),
            (
                torch.softmax(scores.masked_fill(~real[:, None, :], float("-inf")), dim=-2),
                "the softmax runs over the decoder steps (dim=-2); each row's weights over the "
                "source positions must sum to 1: softmax(dim=-1).",
            ),
        ]
        for wrong, hint in hints:
            if _matches(out, wrong):
                ex.fail(hint)
        padding = ~real[:, None, :].expand(b, t, s)
        ex.check(
            bool((out.detach()[padding] == 0).all()),
            "the padding (positions j >= lengths[b]) must get weight exactly 0",
        )
        ex.check_close(out.sum(-1), torch.ones(b, t), "each row's weights must sum to 1", atol=1e-5)
        ex.check_close(out, _masked(scores, real), "not the masked softmax yet", atol=1e-5)
    return ex.result


def _additive(s, states, mask, w_q, w_k, w_v, *, tanh=True, use_mask=True, dot=False):
    """One additive attention step with one thing changed, to recognise an answer's mistake."""
    if dot:
        scores = (states @ s[:, :, None]).squeeze(-1)  # (B, S)
    else:
        features = (s @ w_q.T)[:, None, :] + states @ w_k.T  # (B, S, h)
        scores = (torch.tanh(features) if tanh else features) @ w_v  # (B, S)
    if use_mask:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights, (weights[:, :, None] * states).sum(1), scores


def check_additive_step(
    additive_step: Callable[..., tuple[torch.Tensor, torch.Tensor]],
) -> ExerciseResult:
    """``additive_step(s, states, src_mask, W_q, W_k, w_v) -> (weights (B, S), context (B, H))``:
    ``b_j = w_vᵀ tanh(W_q s + W_k h_j)``, ``α = softmax`` over the real positions, ``c = Σ α_j h_j``
    (weights in ``nn.Linear``'s layout: ``W_q (h, Dq)``, ``W_k (h, H)``, ``w_v (h,)``)."""
    with Exercise("06.2 one step of additive attention") as ex:
        gen = torch.Generator().manual_seed(62)
        b, src_len, hidden, dq, h = 3, 5, 4, 4, 6
        s = torch.randn(b, dq, generator=gen)
        states = torch.randn(b, src_len, hidden, generator=gen)
        mask = _real(torch.tensor([5, 3, 4]), src_len)
        w_q, w_k = torch.randn(h, dq, generator=gen), torch.randn(h, hidden, generator=gen)
        w_v = torch.randn(h, generator=gen)
        answer = ex.call(additive_step, s, states, mask, w_q, w_k, w_v)
        ex.check(
            isinstance(answer, tuple) and len(answer) == 2,
            "return a pair (weights, context)",
        )
        weights, context = answer
        if getattr(weights, "shape", None) == (b, hidden) and getattr(context, "shape", None) == (
            b,
            src_len,
        ):
            ex.fail("the pair is the wrong way round: return (weights, context).")
        ex.check_shape(weights, (b, src_len), "the weights (B, S)")
        ex.check_shape(context, (b, hidden), "the context (B, H)")
        reject_trivial(ex, context, {"s": s}, "the context")
        right_w, _, scores = _additive(s, states, mask, w_q, w_k, w_v)
        raw = scores.masked_fill(~mask, 0.0)  # (B, S): the scores, not normalised
        if _matches(weights, raw) or _matches(context, (raw[:, :, None] * states).sum(1)):
            ex.fail("you used the scores b_j as weights: normalise them first, α = softmax(b).")
        uniform = mask / mask.sum(-1, keepdim=True)
        hints = [
            (
                _additive(s, states, mask, w_q, w_k, w_v, tanh=False),
                "the tanh is missing: b_j = w_vᵀ tanh(W_q s + W_k h_j); without it the score is "
                "linear and w_vᵀ W_q s is the same for every j, so only W_k h_j ranks positions.",
            ),
            (
                _additive(s, states, mask, w_q, w_k, w_v, use_mask=False),
                "the padding got weight: fill the scores with -inf where src_mask is False, "
                "before the softmax.",
            ),
            (
                _additive(s, states, ~mask, w_q, w_k, w_v),
                "the mask's polarity is inverted: src_mask is True on real tokens, so fill the "
                "scores with -inf where it is False (~src_mask).",
            ),
            (
                _additive(s, states, mask, w_q, w_k, w_v, dot=True),
                "that is dot-product attention (sᵀ h_j): this exercise is the additive score "
                "w_vᵀ tanh(W_q s + W_k h_j).",
            ),
            (
                (uniform, (uniform[:, :, None] * states).sum(1), None),
                "every real position got the same weight (the mean of the states): the weights "
                "must come from the scores.",
            ),
        ]
        for wrong, hint in hints:
            if _matches(weights, wrong[0]) or _matches(context, wrong[1]):
                ex.fail(hint)
        ex.check_close(
            weights, right_w, "the weights are not softmax(b) over the real positions", atol=1e-5
        )
        attn = AdditiveAttention(dq, hidden, h)
        with torch.no_grad():
            attn.W_q.weight.copy_(w_q)
            attn.W_k.weight.copy_(w_k)
            attn.w_v.weight.copy_(w_v[None])
            ref_c, ref_w = attn(s[:, None, :], states, states, mask[:, None, :])
        if _matches(context, (weights.detach()[:, :, None] * states).sum(-1)):
            ex.fail("sum over the source positions (dim=1), not over the width.")
        ex.check_close(
            context,
            ref_c[:, 0],
            "the context differs from coursekit.nn.AdditiveAttention's",
            atol=1e-5,
        )
        ex.check_close(
            weights, ref_w[:, 0], "the weights differ from AdditiveAttention's", atol=1e-5
        )
    return ex.result


def _self_attention(x, w_q, w_k, w_v, *, scale=True, dim=-1, values=True):
    q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T  # (B, T, d)
    scores = q @ k.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(q.shape[-1])
    return torch.softmax(scores, dim=dim) @ (v if values else x)


def check_self_attention(self_attention: Callable[..., torch.Tensor]) -> ExerciseResult:
    """``self_attention(x, W_q, W_k, W_v) -> (B, T, d)``: ``softmax(Q Kᵀ / √d) V`` with
    ``Q = x W_qᵀ``, ``K = x W_kᵀ``, ``V = x W_vᵀ``: one output per position."""
    with Exercise("06.3 self-attention: an output for every position") as ex:
        gen = torch.Generator().manual_seed(63)
        b, t, c, d = 2, 5, 6, 4
        x = torch.randn(b, t, c, generator=gen)
        w_q, w_k, w_v = (torch.randn(d, c, generator=gen) for _ in range(3))
        out = ex.call(self_attention, x, w_q, w_k, w_v)
        shape = tuple(getattr(out, "shape", ()))
        if shape in ((b, d), (b, 1, d)):
            ex.fail(
                f"one vector per verse, shape {shape}: that is attention pooling (the article's "
                "c = Σ α_i h_i). Self-attention gives every position i its own output "
                "Σ_j α_ij v_j: shape (B, T, d)."
            )
        if shape == (b, t, t):
            ex.fail("the result has shape (B, T, T): those are the weights; multiply them by V.")
        ex.check_shape(out, (b, t, d), "the outputs (B, T, d)")
        reject_trivial(ex, out, {}, "the outputs")
        q, k = x @ w_q.T, x @ w_k.T
        pooled = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(d)).mean(1), dim=-1)
        hints = [
            (
                _self_attention(x, w_q, w_k, w_v, scale=False),
                f"you forgot the scale: divide Q Kᵀ by √d = √{d} (d, the width of a query) before "
                "the softmax.",
            ),
            (
                _self_attention(x, w_q, w_k, w_v, dim=-2),
                "the softmax runs over the queries (dim=-2); each position's weights over the "
                "keys must sum to 1: softmax(dim=-1).",
            ),
            (
                (pooled[:, None, :] @ (x @ w_v.T)).expand(b, t, d),
                "every position got the same output: that is one pooled vector repeated. Each "
                "position i needs its own weights α_ij from its own query q_i.",
            ),
        ]
        for wrong, hint in hints:
            if _matches(out, wrong):
                ex.fail(hint)
        expected = F.scaled_dot_product_attention(x @ w_q.T, x @ w_k.T, x @ w_v.T)
        ex.check_close(
            out, expected, "not F.scaled_dot_product_attention(x W_qᵀ, x W_kᵀ, x W_vᵀ)", atol=1e-5
        )
    return ex.result


def _greedy_model():
    """A small random RNNSeq2Seq whose greedy outputs end at different lengths (seeded)."""
    from coursekit.nn import RNNSeq2Seq, RNNSeq2SeqConfig

    torch.manual_seed(3)
    model = RNNSeq2Seq(
        RNNSeq2SeqConfig(vocab_size=10, embed_dim=6, hidden_size=8, attention_size=6)
    ).eval()
    with torch.no_grad():
        model.embed.weight.mul_(4)  # sharper logits: varied outputs, some rows end early
    gen = torch.Generator().manual_seed(3)
    src = torch.randint(4, 10, (4, 5), generator=gen)
    mask = torch.ones_like(src, dtype=torch.bool)
    mask[1, 3:], mask[2, 2:] = False, False
    src = src.masked_fill(~mask, 0)
    return model, src, mask


def _greedy_variant(model, src, mask, max_len, *, refeed=False, steps=None):
    """Greedy decoding with one thing changed, to recognise an answer's mistake."""
    from coursekit.seq2seq import BOS_ID, EOS_ID

    memory = model.encode(src, mask)
    prefix = torch.full((src.shape[0], 1), BOS_ID)
    state, rows = None, [[] for _ in range(src.shape[0])]
    done = [False] * src.shape[0]
    for _ in range(max_len if steps is None else steps):
        logits, state = model.decode_step(prefix if refeed else prefix[:, -1:], memory, mask, state)
        token = logits.argmax(-1)  # (B,)
        prefix = torch.cat([prefix, token[:, None]], dim=1)
        for b, t in enumerate(token.tolist()):
            if not done[b]:
                if t == EOS_ID:
                    done[b] = True
                else:
                    rows[b].append(t)
        if all(done):
            break
    return rows


def check_greedy_translate(greedy_translate: Callable[..., list]) -> ExerciseResult:
    """``greedy_translate(model, src, src_mask, max_len) -> list of B lists of ids``: the most
    likely token at every step from ``<bos>``, one token fed per step with the decoder's state,
    each row without ``<bos>`` and stopped before its ``<eos>`` (at most ``max_len`` steps)."""
    from coursekit.seq2seq import BOS_ID, EOS_ID, greedy_decode, trim

    with Exercise("06.4 greedy decoding") as ex:
        model, src, mask = _greedy_model()
        max_len = 7
        with torch.no_grad():
            out = ex.call(greedy_translate, model, src, mask, max_len)
            expected = trim(greedy_decode(model, src, mask, max_len=max_len))
            unmasked = _greedy_variant(model, src, torch.ones_like(mask), max_len)
            refeed = _greedy_variant(model, src, mask, max_len, refeed=True)
        if isinstance(out, torch.Tensor):
            out = out.tolist()
        ex.check(
            isinstance(out, (list, tuple)) and len(out) == len(expected),
            f"return a list of {len(expected)} lists of token ids, one per source",
        )
        out = [list(map(int, row)) for row in out]
        if all(row[:1] == [BOS_ID] for row in out) and [r[1:] for r in out] == expected:
            ex.fail("every row starts with <bos>: it is the decoder's first input, not an output.")
        if out == unmasked and unmasked != expected:
            ex.fail(
                "the padding of the shorter sources was attended to: pass src_mask to encode and "
                "to every decode_step."
            )
        if out == refeed and refeed != expected:
            ex.fail(
                "you fed the whole prefix again *with* the state: the state already holds every "
                "token fed so far, so feed only the newest token (or the prefix with state=None)."
            )
        with_eos = [[*e, EOS_ID] if len(e) < max_len else e for e in expected]
        if out == with_eos and with_eos != expected:
            ex.fail("the rows end with <eos>: stop before it (the reference leaves <eos> out).")
        for row, e in zip(out, expected, strict=True):
            if len(e) < max_len and len(row) > len(e) and row[: len(e)] == e:
                ex.fail("a row goes on after its <eos>: stop each row at its first <eos>.")
            if len(row) > max_len:
                ex.fail(f"a row has {len(row)} tokens, more than max_len = {max_len} steps give.")
        if out != expected and all(
            e[: len(row)] == row for row, e in zip(out, expected, strict=True)
        ):
            ex.fail(
                f"a row is cut short: run up to max_len = {max_len} steps (<eos> counts as one) "
                "and stop a row only at its <eos>."
            )
        ex.check(
            out == expected,
            f"not coursekit.seq2seq.greedy_decode's output yet: got {out}, expected {expected}",
        )
    return ex.result
