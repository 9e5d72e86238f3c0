"""Checkers for chapter 03 (RNN): one RNN step, global gradient clipping, the unigram baseline."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_clip_global_norm", "check_rnn_step", "check_unigram_cross_entropy"]


def check_rnn_step(rnn_step: Callable[..., torch.Tensor]) -> ExerciseResult:
    """``rnn_step(x, h, W_xh, W_hh, b) -> h_t = tanh(x W_xh^T + h W_hh^T + b)``, batched."""
    with Exercise("03.1 one RNN step") as ex:
        gen = torch.Generator().manual_seed(3)
        x, h = torch.randn(4, 3, generator=gen), torch.randn(4, 5, generator=gen)
        w_xh, w_hh = torch.randn(5, 3, generator=gen), torch.randn(5, 5, generator=gen) * 0.5
        b = torch.randn(5, generator=gen)
        out = ex.call(rnn_step, x, h, w_xh, w_hh, b)
        ex.check_type(out, torch.Tensor)
        ex.check_shape(out, (4, 5), "h_t for a batch of 4 and hidden size 5")
        pre = x @ w_xh.T + h @ w_hh.T + b
        if torch.allclose(out, torch.sigmoid(pre), atol=1e-5):
            ex.fail(
                "you used a sigmoid: the RNN's state update is tanh, which ranges over (-1, 1)."
            )
        if torch.allclose(out, torch.tanh(pre - b), atol=1e-5):
            ex.fail("the bias b is missing: h_t = tanh(W_xh x_t + W_hh h_(t-1) + b).")
        if torch.allclose(out, torch.tanh(x @ w_xh.T + h @ w_hh + b), atol=1e-5):
            ex.fail("W_hh is transposed the wrong way: with rows as examples, use h @ W_hh.T.")
        cell = torch.nn.RNNCell(3, 5)
        with torch.no_grad():
            cell.weight_ih.copy_(w_xh)
            cell.weight_hh.copy_(w_hh)
            cell.bias_ih.copy_(b)
            cell.bias_hh.zero_()
            expected = cell(x, h)
        ex.check_close(out, expected, "h_t differs from torch.nn.RNNCell with the same weights")
    return ex.result


def check_clip_global_norm(clip: Callable[..., list[torch.Tensor]]) -> ExerciseResult:
    """``clip(grads, max_norm) -> grads`` rescaled together so their joint L2 norm <= max_norm."""
    with Exercise("03.2 clipping by the global norm") as ex:
        gen = torch.Generator().manual_seed(0)
        grads = [torch.randn(3, 4, generator=gen) * 5, torch.randn(6, generator=gen)]
        total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        out = ex.call(clip, [g.clone() for g in grads], 1.0)
        ex.check(
            isinstance(out, (list, tuple)) and len(out) == len(grads),
            f"return a list with one tensor per gradient ({len(grads)}), got {type(out).__name__}.",
        )
        for got, g in zip(out, grads, strict=True):
            ex.check_shape(got, tuple(g.shape), "each clipped gradient")
        per_tensor = [g * min(1.0, 1.0 / float(g.norm())) for g in grads]
        if all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out, per_tensor, strict=True)):
            ex.fail(
                "you clipped each tensor by its own norm: the global norm treats all gradients "
                "as one long vector, sqrt(sum of every squared entry), and scales them all alike."
            )
        joint = math.sqrt(sum(float(g.pow(2).sum()) for g in out))
        ex.check(
            abs(joint - 1.0) < 1e-4,
            f"after clipping to max_norm=1 the global norm should be 1, got {joint:.4f} "
            f"(it was {total:.2f}): multiply every gradient by max_norm / total_norm.",
        )
        for got, g in zip(out, grads, strict=True):
            ex.check_close(got, g / total, "the direction changed: scale, don't reshape")
        small = [g / (10 * total) for g in grads]
        kept = ex.call(clip, [g.clone() for g in small], 1.0)
        ex.check(
            all(torch.allclose(a, b) for a, b in zip(kept, small, strict=True)),
            "gradients whose global norm is already below max_norm must be returned unchanged "
            "(scale by min(1, max_norm / total_norm)).",
        )
    return ex.result


def check_unigram_cross_entropy(
    unigram: Callable[[Sequence[int], Sequence[int], int], float],
) -> ExerciseResult:
    """``unigram(train_ids, valid_ids, vocab_size)``: add-one unigram cross-entropy in nats."""
    with Exercise("03.3 the unigram baseline") as ex:
        train = [0, 1, 1, 2, 2, 2, 2]
        valid = [2, 1, 3, 2]
        counts = torch.bincount(torch.tensor(train), minlength=5).double() + 1
        probs = counts / counts.sum()
        expected = float(-probs[torch.tensor(valid)].log().mean())
        out = ex.call(unigram, train, valid, 5)
        try:
            value = float(out)
        except (TypeError, ValueError):
            ex.fail(f"return one number (the mean loss in nats), got {type(out).__name__}.")
        ex.check(
            math.isfinite(value),
            "got inf: token 3 never occurs in training. Add one to every count (add-one smoothing) "
            "so that no token has probability zero.",
        )
        if abs(value - expected / math.log(2)) < 1e-6:
            ex.fail("that is in bits (log base 2); the training loop reports nats: use math.log.")
        raw = torch.bincount(torch.tensor(train), minlength=5).double() + 1
        if abs(value - float(-(raw / (len(train) + 1))[torch.tensor(valid)].log().mean())) < 1e-6:
            ex.fail("normalise by the smoothed total: len(train) + vocab_size, not len(train) + 1.")
        ex.check(
            abs(value - expected) < 1e-6,
            f"expected {expected:.4f} nats per token, got {value:.4f}: the loss is the mean of "
            "-log p(token) over the validation tokens, p from add-one smoothed training counts.",
        )
    return ex.result
