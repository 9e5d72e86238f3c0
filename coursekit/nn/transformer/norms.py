"""Normalisation layers of chapter 08: the layer norm of GPT-2 and the RMS norm of today's
decoder-only models (T5, Llama), which drops the mean and the bias.

Layer norm: ``y = (x - mean(x)) / sqrt(var(x) + eps) * g + b``. RMS norm (Zhang and Sennrich,
2019): ``y = x / sqrt(mean(x^2) + eps) * g``, over the last dimension(s). It only rescales each
vector to unit root mean square, which is what stabilises training; skipping the centring saves
a reduction and nothing measurable is lost.

Shapes: B batch, T steps, C width (the normalised dimensions).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from coursekit.nn._checks import check_choice, check_int

__all__ = ["NORMS", "RMSNorm", "make_norm"]


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (chapter 08): ``x / sqrt(mean(x^2) + eps) * weight``.

    Same arguments and parameter name as ``torch.nn.RMSNorm``, so ``load_state_dict`` works both
    ways; Llama's ``LlamaRMSNorm`` computes the same thing.

    Args:
        normalized_shape: the trailing dimensions to normalise over (an int for the last one).
        eps: added under the root; None takes ``torch.finfo(x.dtype).eps``, as torch does.
        elementwise_affine: learn the gain ``weight`` (initialised to ones).

    Shape:
        x ``(*, C)`` -> ``(*, C)``.

    >>> norm = RMSNorm(2)
    >>> norm(torch.tensor([[3.0, 4.0], [-6.0, 8.0]]))  # divided by sqrt(12.5) and sqrt(50)
    tensor([[ 0.8485,  1.1314],
            [-0.8485,  1.1314]], grad_fn=<MulBackward0>)
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        for size in normalized_shape:
            check_int(type(self).__name__, "normalized_shape", size)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.weight = (
            nn.Parameter(torch.ones(self.normalized_shape, device=device, dtype=dtype))
            if elementwise_affine
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-len(self.normalized_shape) :]) != self.normalized_shape:
            raise ValueError(
                f"RMSNorm{self.normalized_shape}: the input's last dimensions must be "
                f"{self.normalized_shape}, got shape {tuple(x.shape)}: build the norm with the "
                f"width of your vectors."
            )
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)  # (*, C)
        return y if self.weight is None else y * self.weight

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"
        )


NORMS = ("layernorm", "rmsnorm")  # the ``norm`` field of GPTConfig


def make_norm(kind: str, width: int, eps: float, bias: bool = True) -> nn.Module:
    """``nn.LayerNorm(width, eps, bias=bias)`` for ``"layernorm"``, :class:`RMSNorm` (no bias)
    for ``"rmsnorm"``.

    >>> make_norm("rmsnorm", 8, 1e-6)
    RMSNorm((8,), eps=1e-06, elementwise_affine=True)
    """
    check_choice("make_norm", "kind", kind, NORMS)
    if kind == "rmsnorm":
        return RMSNorm(width, eps=eps)
    return nn.LayerNorm(width, eps=eps, bias=bias)
