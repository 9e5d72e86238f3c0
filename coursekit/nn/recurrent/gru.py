"""The GRU of chapter 05: its step equation in PyTorch's convention, its cell and the layer.

PyTorch's gate order reset, update, new (``x W^T`` is ``F.linear``)::

    r = σ(x W_ir^T + b_ir + h W_hr^T + b_hr),   z = σ(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn)),   h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

The reset gate multiplies the *projected* previous state, so ``b_hn`` cannot be folded into the
input projection as the RNN's and LSTM's biases are. Autograd differentiates the loop.

Shapes: B batch, T steps, I input width, H hidden width, L layers, D directions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn.recurrent.base import Cell, Recurrent, check_state

__all__ = ["GRU", "GRUCell", "gru_step"]


def gru_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """One GRU step in PyTorch's convention (chapter 05); gates in the order reset, update, new.

    ``n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn))`` and ``h_t = (1 - z) ⊙ n + z ⊙ h``:
    the reset gate multiplies the *projected* previous state, and ``z`` weights the old state.

    Args:
        xp: ``x_t W_ih^T + b_ih``, shape ``(B, 3H)``.
        h: previous hidden state ``(B, H)``.
        weight_hh: ``(3H, H)``; bias_hh: ``(3H,)`` or None.

    >>> gru_step(torch.zeros(2, 9), torch.ones(2, 3), torch.zeros(9, 3), None)[0, 0].item()
    0.5
    """
    xr, xz, xn = xp.chunk(3, dim=-1)  # 3 x (B, H)
    hr, hz, hn = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)  # 3 x (B, H)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)  # = (1 - z) * n + z * h, one multiply fewer


class GRUCell(Cell):
    """GRU cell in PyTorch's convention (chapter 05); arguments and parameters as
    ``torch.nn.GRUCell``.

    Shape:
        x ``(B, I)``, h ``(B, H)`` (zeros when omitted) -> h ``(B, H)``.

    >>> GRUCell(4, 3)(torch.randn(2, 4)).shape
    torch.Size([2, 3])
    """

    kind = "gru"

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        xp = self._project(x)
        h = x.new_zeros(x.size(0), self.hidden_size) if h is None else h
        check_state(h, (x.size(0), self.hidden_size), "h")
        return gru_step(xp, h, self.weight_hh, self.bias_hh)


class GRU(Recurrent):
    """Multi-layer GRU in PyTorch's convention (chapter 05); arguments and parameters as
    ``torch.nn.GRU``.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: learn ``b_ih`` and ``b_hh`` (``b_hn`` stays inside the reset gate's product).
        batch_first: inputs and outputs ``(B, T, ·)`` (the default here, unlike PyTorch); False
            for time-major ``(T, B, ·)``, PyTorch's default.
        dropout: dropout on each layer's output except the last (training only).
        bidirectional: add a second loop that reads each sequence backwards (D = 2 directions).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).
        device, dtype: where and in what precision to create the parameters.

    Shape:
        x ``(B, T, I)``, h_0 ``(L*D, B, H)`` -> output ``(B, T, D*H)``, h_n ``(L*D, B, H)``.

    >>> out, h = GRU(4, 3)(torch.randn(2, 5, 4)); out.shape, h.shape
    (torch.Size([2, 5, 3]), torch.Size([1, 2, 3]))
    """

    kind = "gru"
    _torch_class = nn.GRU

    def _step(self, xp, h, weight_hh, bias_hh):
        return gru_step(xp, h, weight_hh, bias_hh)
