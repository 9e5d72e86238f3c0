"""Recurrent layers from the equations: RNN, LSTM and GRU cells and multi-layer sequence layers.

Chapter 03 introduces the RNN, chapter 04 the LSTM, chapter 05 the GRU. Every layer here has the
same parameter names and layout as ``torch.nn.RNN/LSTM/GRU`` (and the cells as ``torch.nn.*Cell``),
so ``load_state_dict`` works both ways, and every sequence layer can run either the teaching loop
below or PyTorch's fused kernel on the same parameters: set ``layer.fused = True``.

Shapes: B batch, T steps, I input width, H hidden width, L layers, G gates per step
(1 for the RNN, 4 for the LSTM, 3 for the GRU). Inputs are batch-first, ``(B, T, I)``.

The equations (PyTorch's gate order; ``x W^T`` is ``F.linear``):

- RNN:  ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``
- LSTM: ``i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``;
  ``c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)``; ``h_t = σ(o) ⊙ tanh(c_t)``
- GRU:  ``r = σ(x W_ir^T + b_ir + h W_hr^T + b_hr)``, ``z = σ(x W_iz^T + b_iz + h W_hz^T + b_hz)``,
  ``n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn))``, ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``

One speed trick, with the reason: the input projection ``x W_ih^T + b`` does not depend on the
state, so it is computed for all T steps in one matmul before the loop; the loop then does one
``(B, H) x (H, G*H)`` matmul per step. The loop walks ``xp.unbind(1)``; indexing ``xp[:, t]`` in
the loop would make backward quadratic in T (each index's gradient is a full-size zero tensor).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "gru_step",
    "lstm_gates",
    "lstm_step",
    "make_recurrent",
    "rnn_step",
    "trace_lstm_gates",
]

LSTMState = tuple[Tensor, Tensor]


def _add_recurrent(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """``xp + h W_hh^T (+ b_hh)`` as one fused multiply-add (``addmm``): fewer steps to backprop."""
    return torch.addmm(xp if bias_hh is None else xp + bias_hh, h, weight_hh.t())


# --- one time step: the equations ----------------------------------------------------------------
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
    pre = _add_recurrent(xp, h, weight_hh, bias_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


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
    gates = _add_recurrent(xp, h, weight_hh, bias_hh)  # (B, 4H)
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


_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _check_features(x: Tensor, size: int, what: str) -> None:
    if x.size(-1) != size:
        raise ValueError(
            f"{what} has {x.size(-1)} features in its last dimension, but the layer was built "
            f"with input_size={size}: pass inputs of width {size} or build the layer to match."
        )


def _check_state(t: Tensor, shape: tuple[int, ...], what: str) -> None:
    if tuple(t.shape) != shape:
        raise ValueError(f"{what} should have shape {shape}, got {tuple(t.shape)}.")


# --- cells: one step with their own parameters ----------------------------------------------------
class _Cell(nn.Module):
    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"sizes must be positive, got {input_size=}, {hidden_size=}")
        self.input_size, self.hidden_size = input_size, hidden_size
        g = _GATES[self.kind] * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(g)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _project(self, x: Tensor) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"a cell takes one step of shape (B, I), got {tuple(x.shape)}")
        _check_features(x, self.input_size, "x")
        return F.linear(x, self.weight_ih, self.bias_ih)  # (B, G*H)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """Elman RNN cell ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (chapter 03).

    Same parameters as ``torch.nn.RNNCell``.

    Shape:
        x ``(B, I)``, h ``(B, H)`` (zeros when omitted) -> h ``(B, H)``.

    >>> RNNCell(4, 3)(torch.randn(2, 4)).shape
    torch.Size([2, 3])
    """

    kind = "rnn"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        xp = self._project(x)
        h = x.new_zeros(x.size(0), self.hidden_size) if h is None else h
        _check_state(h, (x.size(0), self.hidden_size), "h")
        return rnn_step(xp, h, self.weight_hh, self.bias_hh, self.nonlinearity)


class LSTMCell(_Cell):
    """LSTM cell from the gate equations (chapter 04). Same parameters as ``torch.nn.LSTMCell``.

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
            _check_state(t, (x.size(0), self.hidden_size), name)
        return lstm_step(xp, state, self.weight_hh, self.bias_hh)


class GRUCell(_Cell):
    """GRU cell in PyTorch's convention (chapter 05). Same parameters as ``torch.nn.GRUCell``.

    Shape:
        x ``(B, I)``, h ``(B, H)`` (zeros when omitted) -> h ``(B, H)``.

    >>> GRUCell(4, 3)(torch.randn(2, 4)).shape
    torch.Size([2, 3])
    """

    kind = "gru"

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        xp = self._project(x)
        h = x.new_zeros(x.size(0), self.hidden_size) if h is None else h
        _check_state(h, (x.size(0), self.hidden_size), "h")
        return gru_step(xp, h, self.weight_hh, self.bias_hh)


# --- sequence layers: L stacked cells over T steps -----------------------------------------------
class _Recurrent(nn.Module):
    kind = "rnn"
    _torch_class: type[nn.RNNBase] = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
        fused: bool = False,
        **extra: str,
    ) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"sizes must be positive, got {input_size=}, {hidden_size=}, {num_layers=}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.dropout, self.fused = bias, dropout, fused
        self._extra = extra
        g = _GATES[self.kind] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(g, width)))
            self.register_parameter(
                f"weight_hh_l{layer}", nn.Parameter(torch.empty(g, hidden_size))
            )
            if bias:
                self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(g)))
                self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(g)))
        self.reset_parameters()
        # PyTorch's module on the meta device: no memory of its own; it only runs the fused kernel
        # with our parameters through torch.func.functional_call. A plain attribute, so it is not
        # part of state_dict() or .to().
        self._kernel = {
            "module": self._torch_class(
                input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0, device="meta", **extra,
            )
        }  # fmt: skip

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        get = self._parameters.get
        return (
            get(f"weight_ih_l{layer}"),
            get(f"weight_hh_l{layer}"),
            get(f"bias_ih_l{layer}"),
            get(f"bias_hh_l{layer}"),
        )

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text + f", fused={self.fused}"

    # The state is a tensor (L, B, H), or for the LSTM a pair of them.
    def _initial_state(self, x: Tensor):
        return x.new_zeros(self.num_layers, x.size(0), self.hidden_size)

    def _check_state(self, state, batch: int) -> None:
        _check_state(state, (self.num_layers, batch, self.hidden_size), "the initial state h_0")

    def _layer_state(self, state, layer: int):
        return state[layer]

    def _stack_states(self, states: list):
        return torch.stack(states)  # (L, B, H)

    @staticmethod
    def _output(state) -> Tensor:
        return state

    def _step(self, xp: Tensor, state, weight_hh: Tensor, bias_hh: Tensor | None):
        raise NotImplementedError

    def _project(self, x: Tensor, w_ih: Tensor, b_ih: Tensor | None, b_hh: Tensor | None):
        return F.linear(x, w_ih, b_ih), b_hh

    def forward(self, x: Tensor, state=None, lengths: Tensor | None = None):
        """Run all layers over all steps.

        Args:
            x: inputs ``(B, T, I)``, batch-first.
            state: initial state ``(L, B, H)`` (LSTM: a pair ``(h_0, c_0)``); zeros when None.
            lengths: optional ``(B,)`` true lengths of padded sequences (each in 1..T): steps past
                a sequence's end leave its state unchanged and give zero outputs, as with packed
                sequences in PyTorch.

        Returns:
            ``(output, final_state)``: output ``(B, T, H)`` is the last layer's hidden state at
            every step; final_state has the shape of ``state`` (each sequence's last real step).
        """
        if x.dim() != 3:
            raise ValueError(
                f"expected a batch-first input of shape (B, T, I={self.input_size}), got "
                f"{tuple(x.shape)}; for one sequence use x.unsqueeze(0)."
            )
        _check_features(x, self.input_size, "the input")
        batch, steps = x.shape[:2]
        if state is None:
            state = self._initial_state(x)
        self._check_state(state, batch)
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            if lengths.shape != (batch,):
                raise ValueError(
                    f"lengths should have shape ({batch},), got {tuple(lengths.shape)}"
                )
            if int(lengths.min()) < 1 or int(lengths.max()) > steps:
                raise ValueError(f"lengths must be in 1..T={steps}, got {lengths.tolist()}")
        if self.fused:
            return self._forward_fused(x, state, lengths)
        return self._forward_loop(x, state, lengths)

    def _forward_loop(self, x: Tensor, state, lengths: Tensor | None):
        masks = None
        if lengths is not None:
            alive = torch.arange(x.size(1), device=x.device) < lengths.to(x.device)[:, None]
            masks = alive.unsqueeze(-1).unbind(1)  # T x (B, 1)
        finals = []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._weights(layer)
            xp, b_step = self._project(x, w_ih, b_ih, b_hh)  # (B, T, G*H)
            s = self._layer_state(state, layer)
            outputs = []
            for t, xp_t in enumerate(xp.unbind(1)):  # T x (B, G*H)
                new = self._step(xp_t, s, w_hh, b_step)
                if masks is not None:
                    m = masks[t]
                    new = _where(m, new, s)
                    outputs.append(self._output(new) * m)
                else:
                    outputs.append(self._output(new))
                s = new
            x = torch.stack(outputs, dim=1)  # (B, T, H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
            finals.append(s)
        return x, self._stack_states(finals)

    def _forward_fused(self, x: Tensor, state, lengths: Tensor | None):
        kernel = self._kernel["module"]
        kernel.train(self.training)
        params = dict(self.named_parameters())
        if lengths is None:
            state = tuple(state) if isinstance(state, list) else state
            return functional_call(kernel, params, (x, state))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = functional_call(kernel, params, (packed, state))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, final


def _where(mask: Tensor, new, old):
    if isinstance(new, tuple):
        return tuple(torch.where(mask, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(mask, new, old)


class RNN(_Recurrent):
    """Multi-layer Elman RNN (chapter 03); parameters as ``torch.nn.RNN``, always batch-first.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: learn ``b_ih`` and ``b_hh``.
        dropout: dropout on each layer's output except the last (training only).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Shape:
        x ``(B, T, I)``, h_0 ``(L, B, H)`` -> output ``(B, T, H)``, h_n ``(L, B, H)``.

    >>> out, h = RNN(4, 3, num_layers=2)(torch.randn(2, 5, 4)); out.shape, h.shape
    (torch.Size([2, 5, 3]), torch.Size([2, 2, 3]))
    """

    kind = "rnn"
    _torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
        fused: bool = False,
        nonlinearity: str = "tanh",
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, num_layers, bias, dropout, fused, nonlinearity=nonlinearity
        )

    def _project(self, x, w_ih, b_ih, b_hh):
        # Both biases are added once for the whole sequence; the loop adds only h W_hh^T.
        bias = None if b_ih is None else b_ih + b_hh
        return F.linear(x, w_ih, bias), None

    def _step(self, xp, h, weight_hh, bias_hh):
        return rnn_step(xp, h, weight_hh, bias_hh, self.nonlinearity)


class LSTM(_Recurrent):
    """Multi-layer LSTM from the gate equations (chapter 04); parameters as ``torch.nn.LSTM``.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: learn ``b_ih`` and ``b_hh``.
        dropout: dropout on each layer's output except the last (training only).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).

    Shape:
        x ``(B, T, I)``, state ``(h_0, c_0)`` each ``(L, B, H)`` -> output ``(B, T, H)``,
        ``(h_n, c_n)`` each ``(L, B, H)``.

    >>> out, (h, c) = LSTM(4, 3)(torch.randn(2, 5, 4)); out.shape, c.shape
    (torch.Size([2, 5, 3]), torch.Size([1, 2, 3]))
    """

    kind = "lstm"
    _torch_class = nn.LSTM

    def _initial_state(self, x):
        zeros = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
        return zeros, zeros

    def _check_state(self, state, batch):
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(
                "an LSTM's state is a pair (h_0, c_0), each of shape (L, B, H); got "
                f"{type(state).__name__}. Pass (h_0, torch.zeros_like(h_0)) if you only have h_0."
            )
        shape = (self.num_layers, batch, self.hidden_size)
        _check_state(state[0], shape, "h_0")
        _check_state(state[1], shape, "c_0")

    def _layer_state(self, state, layer):
        return state[0][layer], state[1][layer]

    def _stack_states(self, states):
        hs, cs = zip(*states, strict=True)
        return torch.stack(hs), torch.stack(cs)  # 2 x (L, B, H)

    @staticmethod
    def _output(state):
        return state[0]

    def _project(self, x, w_ih, b_ih, b_hh):
        bias = None if b_ih is None else b_ih + b_hh
        return F.linear(x, w_ih, bias), None  # (B, T, 4H), both biases folded in

    def _step(self, xp, state, weight_hh, bias_hh):
        return lstm_step(xp, state, weight_hh, bias_hh)


class GRU(_Recurrent):
    """Multi-layer GRU in PyTorch's convention (chapter 05); parameters as ``torch.nn.GRU``.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: learn ``b_ih`` and ``b_hh`` (``b_hn`` stays inside the reset gate's product).
        dropout: dropout on each layer's output except the last (training only).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).

    Shape:
        x ``(B, T, I)``, h_0 ``(L, B, H)`` -> output ``(B, T, H)``, h_n ``(L, B, H)``.

    >>> out, h = GRU(4, 3)(torch.randn(2, 5, 4)); out.shape, h.shape
    (torch.Size([2, 5, 3]), torch.Size([1, 2, 3]))
    """

    kind = "gru"
    _torch_class = nn.GRU

    def _step(self, xp, h, weight_hh, bias_hh):
        return gru_step(xp, h, weight_hh, bias_hh)


@torch.no_grad()
def trace_lstm_gates(layer: LSTM, x: Tensor) -> dict[str, Tensor]:
    """Gate activations of an LSTM's first layer at every step, for plotting (chapter 04).

    Shape:
        x ``(B, T, I)`` -> ``{"input", "forget", "cell", "output"}``, each ``(B, T, H)``,
        plus ``"c"``, the cell state, ``(B, T, H)``.

    >>> gates = trace_lstm_gates(LSTM(3, 4), torch.randn(2, 5, 3)); gates["forget"].shape
    torch.Size([2, 5, 4])
    """
    if not isinstance(layer, LSTM):
        raise TypeError(f"trace_lstm_gates needs a coursekit.nn.LSTM, got {type(layer).__name__}")
    w_ih, w_hh, b_ih, b_hh = layer._weights(0)
    xp, _ = layer._project(x, w_ih, b_ih, b_hh)  # (B, T, 4H)
    h = c = x.new_zeros(x.size(0), layer.hidden_size)
    trace: dict[str, list[Tensor]] = {k: [] for k in ("input", "forget", "cell", "output", "c")}
    for xp_t in xp.unbind(1):
        i, f, g, o = lstm_gates(xp_t, h, w_hh, None)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, value in zip(trace, (i, f, g, o, c), strict=True):
            trace[name].append(value)
    return {name: torch.stack(values, dim=1) for name, values in trace.items()}


def make_recurrent(kind: str, input_size: int, hidden_size: int, **kwargs) -> _Recurrent:
    """Build ``RNN``, ``LSTM`` or ``GRU`` by name (``"rnn"``, ``"lstm"``, ``"gru"``).

    >>> make_recurrent("gru", 4, 3).kind
    'gru'
    """
    classes = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
    if kind not in classes:
        raise ValueError(f"unknown recurrent layer {kind!r}; choose one of {sorted(classes)}")
    return classes[kind](input_size, hidden_size, **kwargs)
