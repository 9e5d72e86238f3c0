"""Checker of chapter 00: the reference passes; generic and typical wrong answers get specific
feedback, and the last check (large inputs) is the one that catches an answer that only overflows."""

from __future__ import annotations

import pytest
import torch

from coursekit.exercises import ch00


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


def softmax_ref(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def not_yet(x):
    raise NotImplementedError


def test_reference_passes_and_blank_is_not_attempted():
    assert ch00.check_softmax(softmax_ref).passed
    assert ch00.check_softmax(not_yet).status == "not attempted"


WRONG = [
    (torch.zeros_like, "row should sum to 1"),  # zeros of the right shape
    (lambda x: x, "row should sum to 1"),  # the input returned unchanged
    (lambda x: x.exp() / x.exp().sum(), "row should sum to 1"),  # normalised over everything
    (lambda x: x.exp() / x.exp().sum(dim=0, keepdim=True), "row should sum to 1"),
    (lambda x: softmax_ref(x).T, "shape (2, 3)"),
    (lambda x: softmax_ref(x).tolist(), "should be a Tensor"),
    (lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True), "overflows"),  # not stabilised
    (lambda x: softmax_ref(x * 2), "values differ from torch.softmax"),
    # Finite and correct for small inputs, wrong for large ones: only the final check sees it.
    (lambda x: softmax_ref(x.clamp(max=50.0)), "values for large inputs differ"),
    # Stabilised with the maximum of the whole tensor: fine one row at a time, nan for the
    # rows far below the largest score.
    (lambda x: (x - x.max()).exp() / (x - x.max()).exp().sum(dim=-1, keepdim=True), "own maximum"),
]


@pytest.mark.parametrize(("answer", "message"), WRONG)
def test_wrong_answers_get_specific_feedback(answer, message):
    result = ch00.check_softmax(answer)
    assert result.status == "failed"
    assert message in result.message, result.message
