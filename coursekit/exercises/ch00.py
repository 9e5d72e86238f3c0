"""Checkers for chapter 00 (setup): the exercise pattern, shown on softmax."""

from __future__ import annotations

from collections.abc import Callable

import torch

from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_softmax"]


def check_softmax(softmax: Callable[[torch.Tensor], torch.Tensor]) -> ExerciseResult:
    """Check a softmax over the last dimension: shape, sums to one, values, large inputs."""
    with Exercise("00.1 softmax") as ex:
        x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        out = ex.call(softmax, x.clone())
        ex.check_type(out, torch.Tensor)
        ex.check_shape(out, (2, 3), "softmax(x) for x of shape (2, 3)")
        ex.check(
            bool(torch.allclose(out.sum(dim=-1), torch.ones(2), atol=1e-5)),
            f"each row should sum to 1, but the row sums are {out.sum(dim=-1).tolist()}: "
            "divide the exponentials by their sum over the last dimension (dim=-1).",
        )
        ex.check_close(out, torch.softmax(x, dim=-1), "values differ from torch.softmax")
        big = torch.tensor([[1000.0, 1001.0, 1002.0]])
        out_big = ex.call(softmax, big.clone())
        ex.check(
            bool(torch.isfinite(out_big).all()),
            "softmax([1000, 1001, 1002]) gave inf or nan: exp(1000) overflows. Subtract the row "
            "maximum before exp (x - x.max(dim=-1, keepdim=True).values): softmax does not change.",
        )
        ex.check_close(out_big, torch.softmax(big, dim=-1), "values for large inputs differ")
        mixed = torch.tensor([[1000.0, 1001.0, 1002.0], [1.0, 2.0, 3.0]])  # rows far apart
        out_mixed = ex.call(softmax, mixed.clone())
        ex.check(
            bool(torch.isfinite(out_mixed).all()),
            "with rows [1000, 1001, 1002] and [1, 2, 3] in one tensor the second row gave nan: "
            "subtracting the maximum of the whole tensor makes exp underflow to 0 in the other "
            "rows. Subtract each row's own maximum: x.max(dim=-1, keepdim=True).values.",
        )
        ex.check_close(out_mixed, torch.softmax(mixed, dim=-1), "values for rows far apart differ")
    return ex.result
