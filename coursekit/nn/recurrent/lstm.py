"""The LSTM of chapter 04: its gates and step, its cell, the sequence layer and a gate tracer.

PyTorch's gate order (``x W^T`` is ``F.linear``)::

    i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),      h_t = σ(o) ⊙ tanh(c_t)

The sequence layer runs these equations with backpropagation through time written out by hand:
:mod:`~coursekit.nn.recurrent.lstm_bptt`, the chapter's appendix, derives and implements it.

Shapes: B batch, T steps, I input width, H hidden width, L layers, D directions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from coursekit.nn._checks import check_int
from coursekit.nn.recurrent.base import Cell, Recurrent, add_recurrent, check_state
from coursekit.nn.recurrent.lstm_bptt import lstm_layer

__all__ = ["LSTM", "LSTMCell", "lstm_gates", "lstm_step", "trace_lstm_gates"]

LSTMState = tuple[Tensor, Tensor]


def lstm_gates(
    xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The LSTM's gates at one step: ``(i, f, g, o)``, each ``(B, H)`` (chapter 04).

    ``i, f, o = σ(·)`` are in (0, 1): how much to write, keep and show; ``g = tanh(·)`` is the
    candidate written into the cell. ``xp`` is ``x_t W_ih^T + b_ih``, shape ``(B, 4H)``.

    >>> i, f, g, o = lstm_gates(torch.zeros(1, 8), torch.zeros(1, 2), torch.zeros(8, 2), None)
    >>> float(f[0, 0]), float(g[0, 0])
    (0.5, 0.0)
    """
    gates = add_recurrent(xp, h, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (B, H)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def lstm_step(xp: Tensor, state: LSTMState, weight_hh: Tensor, bias_hh: Tensor | None) -> LSTMState:
    """One LSTM step (chapter 04); gates in PyTorch's order input, forget, cell (g), output.

    Args:
        xp: ``x_t W_ih^T + b_ih``, shape ``(B, 4H)``.
        state: ``(h, c)``, each ``(B, H)``.
        weight_hh: ``(4H, H)``; bias_hh: ``(4H,)`` or None.

    Returns:
        ``(h_t, c_t)``.

    >>> h, c = lstm_step(torch.zeros(2, 12), (torch.zeros(2, 3), torch.ones(2, 3)),
    ...                  torch.zeros(12, 3), None)
    >>> round(float(c[0, 0]), 3)  # forget gate σ(0) = 0.5 keeps half of c; tanh(0) adds nothing
    0.5
    """
    h, c = state
    i, f, g, o = lstm_gates(xp, h, weight_hh, bias_hh)
    c = torch.addcmul(f * c, i, g)  # c_t = f ⊙ c_{t-1} + i ⊙ g, with one fused multiply-add
    h = o * torch.tanh(c)
    return h, c


class LSTMCell(Cell):
    """LSTM cell from the gate equations (chapter 04); arguments and parameters as
    ``torch.nn.LSTMCell``.

    Shape:
        x ``(B, I)``, state ``(h, c)`` each ``(B, H)`` (zeros when omitted) -> ``(h, c)``.

    >>> h, c = LSTMCell(4, 3)(torch.randn(2, 4)); h.shape, c.shape
    (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    kind = "lstm"

    def forward(self, x: Tensor, state: LSTMState | None = None) -> LSTMState:
        xp = self._project(x)
        if state is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            state = (zeros, zeros)
        for t, name in zip(state, ("h", "c"), strict=True):
            check_state(t, (x.size(0), self.hidden_size), name)
        return lstm_step(xp, state, self.weight_hh, self.bias_hh)


class LSTM(Recurrent):
    """Multi-layer LSTM from the gate equations (chapter 04); arguments and parameters as
    ``torch.nn.LSTM``, so ``LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True)`` works.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: learn ``b_ih`` and ``b_hh``.
        batch_first: inputs and outputs ``(B, T, ·)`` (the default here, unlike PyTorch); False
            for time-major ``(T, B, ·)``, PyTorch's default.
        dropout: dropout on each layer's output except the last (training only).
        bidirectional: add a second loop that reads each sequence backwards (D = 2 directions).
        proj_size: only 0 (PyTorch's LSTM with projections is not built here).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).
        device, dtype: where and in what precision to create the parameters.

    Shape:
        x ``(B, T, I)``, state ``(h_0, c_0)`` each ``(L*D, B, H)`` -> output ``(B, T, D*H)``,
        ``(h_n, c_n)`` each ``(L*D, B, H)``.

    >>> out, (h, c) = LSTM(4, 3)(torch.randn(2, 5, 4)); out.shape, c.shape
    (torch.Size([2, 5, 3]), torch.Size([1, 2, 3]))
    """

    kind = "lstm"
    _torch_class = nn.LSTM
    _fold_biases = True  # both biases in the input projection, (T, B, 4H)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        fused: bool = False,
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        check_int("LSTM", "proj_size", proj_size, minimum=0)
        if proj_size:
            raise ValueError(
                f"coursekit's LSTM has no output projection, so proj_size must be 0, got "
                f"{proj_size}: use torch.nn.LSTM(..., proj_size={proj_size}) for that."
            )
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            fused=fused, device=device, dtype=dtype, **unknown,
        )  # fmt: skip

    def _initial_state(self, x, batch):
        zeros = x.new_zeros(self._state_shape(batch))
        return zeros, zeros

    def _check_state(self, state, batch):
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(
                "an LSTM's state is a pair (h_0, c_0), each of shape (L*D, B, H); got "
                f"{type(state).__name__}. Pass (h_0, torch.zeros_like(h_0)) if you only have h_0."
            )
        shape = self._state_shape(batch)
        check_state(state[0], shape, "h_0")
        check_state(state[1], shape, "c_0")

    def _layer_state(self, state, index):
        return state[0][index], state[1][index]

    def _stack_states(self, states):
        hs, cs = zip(*states, strict=True)
        return torch.stack(hs), torch.stack(cs)  # 2 x (L*D, B, H)

    @staticmethod
    def _output(state):
        return state[0]

    def _step(self, xp, state, weight_hh, bias_hh):
        return lstm_step(xp, state, weight_hh, bias_hh)

    def _run_layer(self, x, s, weights, mask):
        # The same equations as lstm_step, with backpropagation through time written out.
        return lstm_layer(x, s, weights, mask)


@torch.no_grad()
def trace_lstm_gates(layer: LSTM, x: Tensor) -> dict[str, Tensor]:
    """Gate activations of an LSTM's first layer at every step, for plotting (chapter 04).

    Shape:
        x ``(B, T, I)`` -> ``{"input", "forget", "cell", "output"}``, each ``(B, T, H)``,
        plus ``"c"``, the cell state, ``(B, T, H)``; time-major ``(T, B, ·)`` in and out if the
        layer has ``batch_first=False``.

    >>> gates = trace_lstm_gates(LSTM(3, 4), torch.randn(2, 5, 3)); gates["forget"].shape
    torch.Size([2, 5, 4])
    """
    if not isinstance(layer, LSTM):
        raise TypeError(f"trace_lstm_gates needs a coursekit.nn.LSTM, got {type(layer).__name__}")
    batch, _ = layer._check_input(x)
    time_dim = 1 if layer.batch_first else 0
    w_ih, w_hh, b_ih, b_hh = layer._weights(0)
    xp, _ = layer._project(x, w_ih, b_ih, b_hh)  # (B, T, 4H)
    h = c = x.new_zeros(batch, layer.hidden_size)
    trace: dict[str, list[Tensor]] = {k: [] for k in ("input", "forget", "cell", "output", "c")}
    for xp_t in xp.unbind(time_dim):
        i, f, g, o = lstm_gates(xp_t, h, w_hh, None)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, value in zip(trace, (i, f, g, o, c), strict=True):
            trace[name].append(value)
    return {name: torch.stack(values, dim=time_dim) for name, values in trace.items()}
