"""The Elman RNN of chapter 03: its step equation, its cell and the multi-layer sequence layer.

``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``x W^T`` is ``F.linear``). The input
projection ``x W_ih^T + b`` does not depend on the state, so the layer computes it for all T steps
in one matmul before the loop; the loop then does one ``(B, H) x (H, H)`` matmul per step, and
autograd differentiates it (already as fast as PyTorch's kernel; ``scripts/bench_recurrent.py``).

Shapes: B batch, T steps, I input width, H hidden width, L layers, D directions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from coursekit.nn.recurrent.base import (
    Cell,
    Recurrent,
    add_recurrent,
    check_nonlinearity,
    check_state,
)

__all__ = ["RNN", "RNNCell", "rnn_step"]


def rnn_step(
    xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, nonlinearity: str = "tanh"
) -> Tensor:
    """One RNN step, ``h_t = tanh(xp_t + h_{t-1} W_hh^T + b_hh)`` (chapter 03).

    Args:
        xp: the input projection ``x_t W_ih^T + b_ih``, shape ``(B, H)``.
        h: previous hidden state ``(B, H)``.
        weight_hh: ``(H, H)``; bias_hh: ``(H,)`` or None.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    >>> h = rnn_step(torch.zeros(2, 3), torch.zeros(2, 3), torch.eye(3), None); h.shape
    torch.Size([2, 3])
    """
    pre = add_recurrent(xp, h, weight_hh, bias_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


class RNNCell(Cell):
    """Elman RNN cell ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (chapter 03).

    Same arguments and parameters as ``torch.nn.RNNCell``.

    Shape:
        x ``(B, I)``, h ``(B, H)`` (zeros when omitted) -> h ``(B, H)``.

    >>> RNNCell(4, 3)(torch.randn(2, 4)).shape
    torch.Size([2, 3])
    """

    kind = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        check_nonlinearity("RNNCell", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype, **unknown)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        xp = self._project(x)
        h = x.new_zeros(x.size(0), self.hidden_size) if h is None else h
        check_state(h, (x.size(0), self.hidden_size), "h")
        return rnn_step(xp, h, self.weight_hh, self.bias_hh, self.nonlinearity)


class RNN(Recurrent):
    """Multi-layer Elman RNN (chapter 03); arguments and parameters as ``torch.nn.RNN``.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        nonlinearity: ``"tanh"`` or ``"relu"`` (fourth, as in PyTorch).
        bias: learn ``b_ih`` and ``b_hh``.
        batch_first: inputs and outputs ``(B, T, ·)`` (the default here, unlike PyTorch); False
            for time-major ``(T, B, ·)``, PyTorch's default.
        dropout: dropout on each layer's output except the last (training only).
        bidirectional: add a second loop that reads each sequence backwards (D = 2 directions).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).
        device, dtype: where and in what precision to create the parameters.

    Shape:
        x ``(B, T, I)``, h_0 ``(L*D, B, H)`` -> output ``(B, T, D*H)``, h_n ``(L*D, B, H)``.

    >>> out, h = RNN(4, 3, num_layers=2)(torch.randn(2, 5, 4)); out.shape, h.shape
    (torch.Size([2, 5, 3]), torch.Size([2, 2, 3]))
    """

    kind = "rnn"
    _torch_class = nn.RNN
    _fold_biases = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        fused: bool = False,
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        check_nonlinearity("RNN", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            fused=fused, device=device, dtype=dtype, **unknown,
        )  # fmt: skip

    def _kernel_options(self) -> dict:
        return {"nonlinearity": self.nonlinearity}

    def _step(self, xp, h, weight_hh, bias_hh):
        return rnn_step(xp, h, weight_hh, bias_hh, self.nonlinearity)
