"""Checkers of chapter 08: the reference passes, typical wrong answers fail with a message naming
the mistake."""

from __future__ import annotations

import pytest
import torch

from coursekit.exercises import ch08


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(-1) - probs >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def mask_tokens(ids, mask_id, vocab_size, generator):
    chosen = torch.rand(ids.shape, generator=generator) < 0.15
    targets = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=generator)
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(ids, mask_id), ids)
    random = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random, inputs)
    return inputs, targets


def test_references_pass():
    assert ch08.check_merge(merge).passed
    assert ch08.check_top_p(top_p_filter).passed
    assert ch08.check_masking(mask_tokens).passed


def test_merge_mistakes_are_named():
    def overlapping(ids, pair, new_id):
        out = []
        for i in range(len(ids)):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                out.append(new_id)
            elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
                out.append(ids[i])
        return out

    def in_place(ids, pair, new_id):
        ids[:] = merge(ids, pair, new_id)
        return ids

    def no_shrink(ids, pair, new_id):
        return [new_id if (a, b) == pair else a for a, b in zip(ids, [*ids[1:], None], strict=True)]

    assert "overlapping" in ch08.check_merge(overlapping).message
    assert "changed the list" in ch08.check_merge(in_place).message
    assert "shorter" in ch08.check_merge(no_shrink).message
    assert "not attempted" in str(
        ch08.check_merge(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    )


def test_top_p_mistakes_are_named():
    def drops_crossing(logits, p):
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop_sorted = probs.cumsum(-1) > p
        drop_sorted[..., 0] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))

    def ascending(logits, p):
        return top_p_filter(-logits, p).isfinite().float().log().neg().neg() + logits

    message = ch08.check_top_p(drops_crossing).message
    assert "crosses" in message or "past p" in message
    assert not ch08.check_top_p(ascending).passed


def test_masking_mistakes_are_named():
    def mask_all(ids, mask_id, vocab_size, generator):
        chosen = torch.rand(ids.shape, generator=generator) < 0.15
        targets = torch.where(chosen, ids, torch.full_like(ids, -100))
        return torch.where(chosen, torch.full_like(ids, mask_id), ids), targets

    def targets_everywhere(ids, mask_id, vocab_size, generator):
        inputs, _ = mask_tokens(ids, mask_id, vocab_size, generator)
        return inputs, ids

    assert "80%" in ch08.check_masking(mask_all).message
    assert "15%" in ch08.check_masking(targets_everywhere).message
