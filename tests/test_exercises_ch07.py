"""Checkers of chapter 07: the reference passes, typical wrong answers fail with a message naming
the mistake."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit.exercises import ch07


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, Tq, Tk)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def split_heads(x, num_heads):
    b, t, c = x.shape
    return x.view(b, t, num_heads, c // num_heads).transpose(1, 2)  # (B, H, T, D)


def merge_heads(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)  # (B, T, C)


def sinusoidal(max_len, width):
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (P, 1)
    rate = 10000 ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)  # (ceil(C/2),)
    table = torch.zeros(max_len, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: width // 2])
    return table


def causal(t):
    return torch.ones(t, t, dtype=torch.bool).tril()


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch07.check_attention, (attention,)),
    (ch07.check_heads, (split_heads, merge_heads)),
    (ch07.check_sinusoidal, (sinusoidal,)),
    (ch07.check_causal_mask, (causal,)),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    result = checker(*reference)
    assert result.passed, result.message


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    result = checker(*[not_yet] * len(reference))
    assert result.status == "not attempted"
    assert "`not_yet`" in result.message


def test_coursekit_passes_its_own_checkers():
    from coursekit.nn import causal_mask, scaled_dot_product_attention
    from coursekit.nn.transformer import sinusoidal_table

    assert ch07.check_attention(lambda q, k, v, m: scaled_dot_product_attention(q, k, v, m)[0])
    assert ch07.check_sinusoidal(sinusoidal_table).passed
    assert ch07.check_causal_mask(causal_mask).passed


# --- wrong answers and their messages ------------------------------------------------------------
def _attention(scale=None, polarity=True, use_mask=True, after=False, dim=-1, weights=False):
    def wrong(q, k, v, mask):
        s = 1 / math.sqrt(q.size(-1)) if scale is None else scale(q.size(-1))
        scores = q @ k.transpose(-2, -1) * s
        keep = mask if polarity else ~mask
        if use_mask and not after:
            scores = scores.masked_fill(~keep, float("-inf"))
        w = torch.softmax(scores, dim=dim)
        if use_mask and after:
            w = w * keep
        return w if weights else w @ v

    return wrong


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (_attention(scale=lambda e: 1.0), "forgot the scale: divide the scores Q Kᵀ by √E"),
        (_attention(scale=lambda e: 1 / e), "divided the scores by E = 16"),
        (_attention(polarity=False), "wrong polarity"),
        (_attention(use_mask=False), "the mask has no effect"),
        (_attention(after=True), "zeroed the masked weights after the softmax"),
        (_attention(dim=-2), "softmax runs over the queries"),
        (_attention(weights=True), "those are the weights"),
        (lambda q, k, v, m: v, "should have shape (2, 3, 4)"),
        (lambda q, k, v, m: q @ k @ v, "raised RuntimeError"),
        (_attention(scale=lambda e: 1 / math.sqrt(e) + 0.01), "not F.scaled_dot_product_attention"),
    ],
)
def test_attention_mistakes_are_named(answer, message):
    result = ch07.check_attention(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


def _split_straight(x, h):
    b, t, c = x.shape
    return x.reshape(b, h, t, c // h)


def _split_interleaved(x, h):
    b, t, c = x.shape
    return x.view(b, t, c // h, h).permute(0, 3, 1, 2)


def _merge_straight(x):
    b, h, t, d = x.shape
    return x.reshape(b, t, h * d)


def _merge_view(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).view(b, t, h * d)


@pytest.mark.parametrize(
    ("split", "merge", "message"),
    [
        (_split_straight, merge_heads, "straight to (B, H, T, D), which mixes time steps"),
        (_split_interleaved, merge_heads, "yours takes every H-th channel"),
        (lambda x, h: x.view(2, 5, h, 6), merge_heads, "should have shape (2, 4, 5, 6)"),
        (split_heads, _merge_straight, "heads merged in the wrong order"),
        (split_heads, _merge_view, "raised RuntimeError"),
        (split_heads, lambda x: x.transpose(1, 2), "should have shape (2, 5, 24)"),
    ],
)
def test_head_mistakes_are_named(split, merge, message):
    result = ch07.check_heads(split, merge)
    assert result.status == "failed"
    assert message in result.message, result.message


def _table(**changes):
    return lambda p, c: ch07._table(p, c, **changes)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (_table(swap=True), "sin and cos are swapped"),
        (_table(halves=True), "[all sin | all cos] layout"),
        (_table(rate_index="column"), "each column has its own frequency"),
        (_table(rate_index="half"), "you used i/C"),
        (_table(start=1), "positions start at 0"),
        (lambda p, c: torch.zeros(p, c), "all zeros"),
        (lambda p, c: sinusoidal(p, c).T, "should have shape (12, 16)"),
        (lambda p, c: sinusoidal(p, c) * 1.01, "not the paper's table"),
        (lambda p, c: sinusoidal(p, c + c % 2)[:, :c] * (1 if c % 2 == 0 else 2), "odd C"),
    ],
)
def test_sinusoidal_mistakes_are_named(answer, message):
    result = ch07.check_sinusoidal(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1), "may attend to itself"),
        (lambda t: torch.ones(t, t, dtype=torch.bool).triu(1), "True = masked out"),
        (lambda t: torch.ones(t, t, dtype=torch.bool).triu(), "the upper triangle"),
        (lambda t: torch.ones(t, t).tril(), "return a bool tensor"),
        (lambda t: torch.ones(t, t, dtype=torch.bool), "not the lower triangle"),
        (lambda t: torch.ones(5, 5, dtype=torch.bool).tril(), "build the mask from T"),
    ],
)
def test_causal_mistakes_are_named(answer, message):
    result = ch07.check_causal_mask(answer)
    assert result.status == "failed"
    assert message in result.message, result.message
