"""Checkers of chapter 06: the reference passes, wrong answers fail with a message naming why."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit.exercises import ch06
from coursekit.seq2seq import BOS_ID, EOS_ID


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def masked_softmax(scores, lengths):
    real = torch.arange(scores.shape[-1])[None, :] < lengths[:, None]  # (B, S)
    return torch.softmax(scores.masked_fill(~real[:, None, :], float("-inf")), dim=-1)


def additive_step(s, states, src_mask, w_q, w_k, w_v):
    scores = torch.tanh((s @ w_q.T)[:, None, :] + states @ w_k.T) @ w_v  # (B, S)
    weights = torch.softmax(scores.masked_fill(~src_mask, float("-inf")), dim=-1)
    return weights, (weights[:, :, None] * states).sum(1)


def self_attention(x, w_q, w_k, w_v):
    q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T  # (B, T, d)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


def greedy_translate(model, src, src_mask, max_len):
    memory = model.encode(src, src_mask)
    tokens = torch.full((src.shape[0], 1), BOS_ID)
    state, rows, done = None, [[] for _ in range(src.shape[0])], [False] * src.shape[0]
    for _ in range(max_len):
        logits, state = model.decode_step(tokens, memory, src_mask, state)  # (B, V)
        tokens = logits.argmax(-1, keepdim=True)  # (B, 1): only the new token is fed next
        for b, t in enumerate(tokens[:, 0].tolist()):
            done[b] = done[b] or t == EOS_ID
            if not done[b]:
                rows[b].append(t)
        if all(done):
            break
    return rows


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch06.check_masked_softmax, masked_softmax),
    (ch06.check_additive_step, additive_step),
    (ch06.check_self_attention, self_attention),
    (ch06.check_greedy_translate, greedy_translate),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    result = checker(reference)
    assert result.passed, result.message


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    result = checker(not_yet)
    assert result.status == "not attempted"
    assert "`not_yet`" in result.message


# --- typical mistakes ----------------------------------------------------------------------------
def _softmax_with(polarity=True, fill=float("-inf"), after=False, shift=0, dim=-1):
    def answer(scores, lengths):
        real = torch.arange(scores.shape[-1])[None, :] < (lengths + shift)[:, None]
        real = real if polarity else ~real
        if after:
            return torch.softmax(scores, dim=-1) * real[:, None, :]
        return torch.softmax(scores.masked_fill(~real[:, None, :], fill), dim=dim)

    return answer


def _additive_with(tanh=True, mask=True, polarity=True, dot=False, raw=False, swap=False):
    def answer(s, states, src_mask, w_q, w_k, w_v):
        if dot:
            scores = (states @ s[:, :, None]).squeeze(-1)
        else:
            features = (s @ w_q.T)[:, None, :] + states @ w_k.T
            scores = (torch.tanh(features) if tanh else features) @ w_v
        keep = src_mask if polarity else ~src_mask
        if raw:
            weights = scores.masked_fill(~keep, 0.0)
        else:
            weights = torch.softmax(
                scores.masked_fill(~keep, float("-inf")) if mask else scores, -1
            )
        context = (weights[:, :, None] * states).sum(1)
        return (context, weights) if swap else (weights, context)

    return answer


def _uniform(s, states, src_mask, *w):
    weights = src_mask / src_mask.sum(-1, keepdim=True)
    return weights, (weights[:, :, None] * states).sum(1)


def _self_with(scale=True, dim=-1):
    def answer(x, w_q, w_k, w_v):
        q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
        return torch.softmax(scores, dim=dim) @ v

    return answer


def _pooled(x, w_q, w_k, w_v):  # the article's c = Σ α_i h_i: one vector per verse
    q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T
    alpha = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).mean(1), dim=-1)
    return (alpha[:, :, None] * v).sum(1)


def _pooled_repeated(x, w_q, w_k, w_v):
    return _pooled(x, w_q, w_k, w_v)[:, None, :].expand(x.shape[0], x.shape[1], -1)


def _with_bos(*a):
    return [[BOS_ID, *row] for row in greedy_translate(*a)]


def _with_eos(model, src, mask, max_len):
    return [
        [*r, EOS_ID] if len(r) < max_len else r for r in greedy_translate(model, src, mask, max_len)
    ]


def _no_stop(model, src, mask, max_len):  # runs every row max_len steps, <eos> and all
    memory, tokens, state = model.encode(src, mask), torch.full((src.shape[0], 1), BOS_ID), None
    rows = [[] for _ in range(src.shape[0])]
    for _ in range(max_len):
        logits, state = model.decode_step(tokens, memory, mask, state)
        tokens = logits.argmax(-1, keepdim=True)
        for b, t in enumerate(tokens[:, 0].tolist()):
            rows[b].append(t)
    return rows


def _refeed(model, src, mask, max_len):
    return ch06._greedy_variant(model, src, mask, max_len, refeed=True)


WRONG = [
    # generic placeholders
    (ch06.check_masked_softmax, lambda s, n: torch.zeros_like(s), "all zeros"),
    (ch06.check_masked_softmax, lambda s, n: s, "`scores` returned unchanged"),
    (ch06.check_masked_softmax, lambda s, n: s[0], "should have shape (3, 2, 6)"),
    (ch06.check_additive_step, lambda *a: a[0], "return a pair"),
    (ch06.check_self_attention, lambda x, *w: torch.zeros(2, 5, 4), "all zeros"),
    # typical mistakes
    (ch06.check_masked_softmax, _softmax_with(polarity=False), "polarity is inverted"),
    (ch06.check_masked_softmax, lambda s, n: torch.softmax(s, -1), "padding is not masked"),
    (ch06.check_masked_softmax, _softmax_with(after=True), "after the softmax"),
    (ch06.check_masked_softmax, _softmax_with(fill=0.0), "with 0"),
    (ch06.check_masked_softmax, _softmax_with(shift=1), "not j <= lengths[b]"),
    (ch06.check_masked_softmax, _softmax_with(shift=-1), "you left out the last one"),
    (ch06.check_masked_softmax, _softmax_with(dim=-2), "over the decoder steps"),
    (ch06.check_additive_step, _additive_with(swap=True), "wrong way round"),
    (ch06.check_additive_step, _additive_with(tanh=False), "tanh is missing"),
    (ch06.check_additive_step, _additive_with(mask=False), "padding got weight"),
    (ch06.check_additive_step, _additive_with(polarity=False), "polarity is inverted"),
    (ch06.check_additive_step, _additive_with(dot=True), "dot-product attention"),
    (ch06.check_additive_step, _additive_with(raw=True), "used the scores b_j as weights"),
    (ch06.check_additive_step, _uniform, "the same weight"),
    (ch06.check_self_attention, _pooled, "attention pooling"),
    (ch06.check_self_attention, _pooled_repeated, "one pooled vector repeated"),
    (ch06.check_self_attention, _self_with(scale=False), "forgot the scale"),
    (ch06.check_self_attention, _self_with(dim=-2), "over the queries"),
    (ch06.check_greedy_translate, _with_bos, "starts with <bos>"),
    (ch06.check_greedy_translate, _with_eos, "end with <eos>"),
    (ch06.check_greedy_translate, _no_stop, "goes on after its <eos>"),
    (ch06.check_greedy_translate, lambda m, s, k, n: greedy_translate(m, s, k, n - 2), "cut short"),
    (
        ch06.check_greedy_translate,
        lambda m, s, k, n: greedy_translate(m, s, torch.ones_like(k), n),
        "pass src_mask",
    ),
    (ch06.check_greedy_translate, _refeed, "whole prefix again"),
    (ch06.check_greedy_translate, lambda *a: [[4]] * 4, "not coursekit.seq2seq.greedy_decode"),
    (ch06.check_greedy_translate, lambda *a: [[4]], "a list of 4 lists"),
    # wrong in value only: these reach the final checks
    (ch06.check_masked_softmax, lambda s, n: masked_softmax(s, n) * 1.01, "sum to 1"),
    (
        ch06.check_additive_step,
        lambda *a: (additive_step(*a)[0], additive_step(*a)[1] + 1e-3),
        "context differs from coursekit.nn.AdditiveAttention",
    ),
    (ch06.check_self_attention, lambda *a: self_attention(*a) + 1e-3, "not F.scaled_dot_product"),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_wrong_answers_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


def test_strict_mode_raises(monkeypatch):
    from coursekit.exercises.core import ExerciseFailed

    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed):
        ch06.check_self_attention(_pooled)
