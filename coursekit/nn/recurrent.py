"""Recurrent layers from the equations: RNN, LSTM and GRU cells and multi-layer sequence layers.

Chapter 03 introduces the RNN, chapter 04 the LSTM, chapter 05 the GRU. Every layer here has the
same parameter names and layout as ``torch.nn.RNN/LSTM/GRU`` (and the cells as ``torch.nn.*Cell``),
so ``load_state_dict`` works both ways, and every sequence layer can run either the teaching loop
below or PyTorch's fused kernel on the same parameters: set ``layer.fused = True``. With
``bidirectional=True`` a second loop reads each sequence backwards (an encoder's usual choice;
never for a language model, which must not see the future).

Shapes: B batch, T steps, I input width, H hidden width, L layers, D directions (2 if
bidirectional, else 1), G gates per step (1 for the RNN, 4 for the LSTM, 3 for the GRU). Inputs
are batch-first, ``(B, T, I)``.

The equations (PyTorch's gate order; ``x W^T`` is ``F.linear``):

- RNN:  ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``
- LSTM: ``i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``;
  ``c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)``; ``h_t = σ(o) ⊙ tanh(c_t)``
- GRU:  ``r = σ(x W_ir^T + b_ir + h W_hr^T + b_hr)``, ``z = σ(x W_iz^T + b_iz + h W_hz^T + b_hz)``,
  ``n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn))``, ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``

Speed, with the reasons (``scripts/bench_recurrent.py`` measures it):

- The input projection ``x W_ih^T + b`` does not depend on the state, so it is computed for all T
  steps in one matmul before the loop; the loop then does one ``(B, H) x (H, G*H)`` matmul per step.
- The layers work time-major inside, ``(T, B, ·)``, so each step's slice is contiguous, and the loop
  walks ``xp.unbind(0)``; indexing ``xp[t]`` under autograd would make backward quadratic in T
  (each index's gradient is a full-size zero tensor).
- The LSTM layer writes backpropagation through time out by hand (``_LSTMSequence``): the gradient
  of each step's pre-activations is formed from the gates saved in the forward pass, and the
  recurrent weight's gradient for all steps is one matmul at the end. That is what PyTorch's own
  CPU (oneDNN) and GPU (cuDNN) LSTMs do, and it halves the LSTM's gap to them. RNN and GRU keep
  plain autograd through the step functions: they are already as fast as PyTorch's kernels.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
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
_SUFFIXES = ("", "_reverse")  # PyTorch's parameter-name suffix of each direction


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
        bidirectional: bool = False,
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
        self.bidirectional, self.directions = bidirectional, 2 if bidirectional else 1
        self._extra = extra
        g = _GATES[self.kind] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else self.directions * hidden_size
            for suffix in _SUFFIXES[: self.directions]:  # PyTorch's names and order
                name = f"l{layer}{suffix}"
                self.register_parameter(f"weight_ih_{name}", nn.Parameter(torch.empty(g, width)))
                self.register_parameter(
                    f"weight_hh_{name}", nn.Parameter(torch.empty(g, hidden_size))
                )
                if bias:
                    self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(g)))
                    self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(g)))
        self.reset_parameters()
        # PyTorch's module on the meta device: no memory of its own; it only runs the fused kernel
        # with our parameters through torch.func.functional_call. A plain attribute, so it is not
        # part of state_dict() or .to().
        self._kernel = {
            "module": self._torch_class(
                input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
                device="meta", **extra,
            )
        }  # fmt: skip

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(
        self, layer: int, direction: int = 0
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        get, name = self._parameters.get, f"l{layer}{_SUFFIXES[direction]}"
        return (
            get(f"weight_ih_{name}"),
            get(f"weight_hh_{name}"),
            get(f"bias_ih_{name}"),
            get(f"bias_hh_{name}"),
        )

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text + f", fused={self.fused}"

    # The state is a tensor (L*D, B, H), or for the LSTM a pair of them; D = 2 if bidirectional,
    # and layer l's direction d is at index l*D + d, as in PyTorch.
    def _state_shape(self, batch: int) -> tuple[int, int, int]:
        return (self.num_layers * self.directions, batch, self.hidden_size)

    def _initial_state(self, x: Tensor):
        return x.new_zeros(self._state_shape(x.size(0)))

    def _check_state(self, state, batch: int) -> None:
        _check_state(state, self._state_shape(batch), "the initial state h_0")

    def _layer_state(self, state, index: int):
        return state[index]

    def _stack_states(self, states: list):
        return torch.stack(states)  # (L*D, B, H)

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
            state: initial state ``(L*D, B, H)`` (LSTM: a pair ``(h_0, c_0)``), D = 2 if
                bidirectional else 1; zeros when None.
            lengths: optional ``(B,)`` true lengths of padded sequences (each in 1..T): steps past
                a sequence's end leave its state unchanged and give zero outputs, as with packed
                sequences in PyTorch; the backward direction starts at each sequence's last step.

        Returns:
            ``(output, final_state)``: output ``(B, T, D*H)`` is the last layer's hidden state at
            every step (forward and backward directions concatenated); final_state has the shape
            of ``state`` (each sequence's last real step; for the backward direction, its first).
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
        x = x.transpose(0, 1)  # time-major (T, B, I): each step's slice is contiguous
        mask = None
        if lengths is not None:  # (T, B, 1): True while a sequence is still running
            steps = torch.arange(x.size(0), device=x.device)
            mask = (steps[:, None] < lengths.to(x.device)[None, :]).unsqueeze(-1)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                state_d = self._layer_state(state, layer * self.directions + direction)
                weights = self._weights(layer, direction)
                if direction == 0:
                    out, final = self._run_layer(x, state_d, weights, mask)
                else:  # the same loop over each sequence read backwards, then turned round
                    out, final = self._run_layer(_reverse(x, lengths), state_d, weights, mask)
                    out = _reverse(out, lengths)
                outputs.append(out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (T, B, D*H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x.transpose(0, 1), self._stack_states(finals)  # (B, T, D*H)

    def _run_layer(self, x: Tensor, s, weights: tuple, mask: Tensor | None):
        """One layer over all steps, autograd through ``_step``: outputs ``(T, B, H)``, final state."""
        w_ih, w_hh, b_ih, b_hh = weights
        xp, b_step = self._project(x, w_ih, b_ih, b_hh)  # (T, B, G*H)
        masks = None if mask is None else mask.unbind(0)  # T x (B, 1)
        outputs = []
        for t, xp_t in enumerate(xp.unbind(0)):  # T x (B, G*H)
            new = self._step(xp_t, s, w_hh, b_step)
            if masks is not None:  # finished sequences keep their state and output zeros
                new = _where(masks[t], new, s)
                outputs.append(self._output(new) * masks[t])
            else:
                outputs.append(self._output(new))
            s = new
        return torch.stack(outputs), s  # (T, B, H)

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


def _reverse(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Each sequence of a time-major ``(T, B, F)`` batch in reverse order, padding left in place.

    >>> _reverse(torch.arange(4.0).view(4, 1, 1).expand(4, 2, 1), torch.tensor([4, 2]))[:, :, 0]
    tensor([[3., 1.],
            [2., 0.],
            [1., 2.],
            [0., 3.]])
    """
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.size(0), device=x.device)[:, None]  # (T, 1)
    lengths = lengths.to(x.device)[None, :]  # (1, B)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


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
        bidirectional: add a second loop that reads each sequence backwards (D = 2 directions).

    Shape:
        x ``(B, T, I)``, h_0 ``(L*D, B, H)`` -> output ``(B, T, D*H)``, h_n ``(L*D, B, H)``.

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
        bidirectional: bool = False,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, num_layers, bias, dropout, fused, bidirectional,
            nonlinearity=nonlinearity,
        )  # fmt: skip

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
        bidirectional: add a second loop that reads each sequence backwards (D = 2 directions).

    Shape:
        x ``(B, T, I)``, state ``(h_0, c_0)`` each ``(L*D, B, H)`` -> output ``(B, T, D*H)``,
        ``(h_n, c_n)`` each ``(L*D, B, H)``.

    >>> out, (h, c) = LSTM(4, 3)(torch.randn(2, 5, 4)); out.shape, c.shape
    (torch.Size([2, 5, 3]), torch.Size([1, 2, 3]))
    """

    kind = "lstm"
    _torch_class = nn.LSTM

    def _initial_state(self, x):
        zeros = x.new_zeros(self._state_shape(x.size(0)))
        return zeros, zeros

    def _check_state(self, state, batch):
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(
                "an LSTM's state is a pair (h_0, c_0), each of shape (L*D, B, H); got "
                f"{type(state).__name__}. Pass (h_0, torch.zeros_like(h_0)) if you only have h_0."
            )
        shape = self._state_shape(batch)
        _check_state(state[0], shape, "h_0")
        _check_state(state[1], shape, "c_0")

    def _layer_state(self, state, index):
        return state[0][index], state[1][index]

    def _stack_states(self, states):
        hs, cs = zip(*states, strict=True)
        return torch.stack(hs), torch.stack(cs)  # 2 x (L*D, B, H)

    @staticmethod
    def _output(state):
        return state[0]

    _project = RNN._project  # both biases folded into the input projection, (T, B, 4H)

    def _step(self, xp, state, weight_hh, bias_hh):
        return lstm_step(xp, state, weight_hh, bias_hh)

    def _run_layer(self, x, s, weights, mask):
        # The same equations as lstm_step, with backpropagation through time written out. Long
        # sequences run in chunks of steps, the state carried from one chunk to the next, so that
        # every tensor kept for backward stays under _CHUNK_BYTES (memory the allocator reuses;
        # fresh memory for each large tensor costs more than the arithmetic).
        w_ih, w_hh, b_ih, b_hh = weights
        h, c = s
        chunk = max(1, _CHUNK_BYTES // (x.size(1) * w_hh.size(0) * w_hh.element_size()))
        x_chunks = x.split(chunk)  # split, not x[a:b] in the loop: one copy in backward
        masks = [None] * len(x_chunks) if mask is None else mask.split(chunk)
        outputs = []
        for x_chunk, m in zip(x_chunks, masks, strict=True):
            xp, _ = self._project(x_chunk, w_ih, b_ih, b_hh)  # (chunk, B, 4H)
            out, h, c = _LSTMSequence.apply(xp, h, c, w_hh, m)
            outputs.append(out)
        return (outputs[0] if len(outputs) == 1 else torch.cat(outputs)), (h, c)


_CHUNK_BYTES = 8 * 2**20  # glibc hands freed blocks under 32 MB back to later allocations


# σ'(x) = σ(1 - σ) and tanh'(x) = 1 - tanh², times an incoming gradient, by PyTorch's own one-pass
# kernels: _sigmoid_grad(grad, s) = grad ⊙ s ⊙ (1 - s), _tanh_grad(grad, t) = grad ⊙ (1 - t²).
_sigmoid_grad = torch.ops.aten.sigmoid_backward
_tanh_grad = torch.ops.aten.tanh_backward


def _autocast_off(device: torch.device):
    """Autocast switched off where it can be on (older PyTorch rejects other device types)."""
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


class _LSTMSequence(torch.autograd.Function):
    """One LSTM layer over a whole sequence, with backpropagation through time (BPTT) by hand.

    Forward runs ``lstm_step``'s equations and keeps, for every step, the gates ``σ(i), σ(f), σ(o)``,
    ``tanh(g)``, the cell state ``c_t``, ``tanh(c_t)`` and ``h_t``. Backward walks the steps in
    reverse with the chain rule (``d`` is ∂loss/∂·; chapter 03 derives BPTT for the RNN)::

        dh_t = dout_t + (gradient from step t+1)          (h_t is also the output at step t)
        dc_t = (gradient from step t+1) + dh_t ⊙ σ(o) ⊙ (1 - tanh²(c_t))
        d[i, f, g, o] = [dc_t ⊙ tanh(g) ⊙ σ'(i),   dc_t ⊙ c_{t-1} ⊙ σ'(f),
                         dc_t ⊙ σ(i) ⊙ tanh'(g),   dh_t ⊙ tanh(c_t) ⊙ σ'(o)]
        gradient to step t-1:  d[i, f, g, o] W_hh  for h,   dc_t ⊙ σ(f)  for c

    The right-hand factors do not depend on the incoming gradient, so they are computed for all
    steps at once before the loop. ``d[i, f, g, o]`` at step t is also the gradient of the input
    projection ``xp_t``, and ``dW_hh = Σ_t d[i, f, g, o]_t^T h_{t-1}`` is one matmul after the loop.
    ``tests/test_recurrent.py`` checks all of it against ``nn.LSTM`` and ``gradcheck``. No second
    derivatives: ``create_graph=True`` through this layer raises (use ``fused=True``).

    Shapes (time-major): xp ``(T, B, 4H)``, h0 and c0 ``(B, H)``, weight_hh ``(4H, H)``, mask
    ``(T, B, 1)`` bool or None -> out ``(T, B, H)``, h_T and c_T ``(B, H)``. Computes in the
    weight's dtype with autocast off: autocast would round the recurrence to 16 bits at every step.
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, weight_hh, mask):
        with _autocast_off(xp.device):
            dtype = weight_hh.dtype
            xp, h0, c0 = xp.to(dtype), h0.to(dtype), c0.to(dtype)
            steps, batch, gates = xp.shape
            H = gates // 4
            acts = xp.new_empty(steps, batch, gates)  # σ(i), σ(f), (σ(g), unused), σ(o)
            gs, cs, tanh_cs, hs = (xp.new_empty(steps, batch, H) for _ in range(4))
            w_t, h, c = weight_hh.t(), h0, c0
            for t, xp_t in enumerate(xp.unbind(0)):
                a = torch.addmm(xp_t, h, w_t, out=acts[t])  # pre-activations xp_t + h W_hh^T
                g = torch.tanh(a[:, 2 * H : 3 * H], out=gs[t])  # the candidate, before ...
                a.sigmoid_()  # ... the gates overwrite the pre-activations (σ(g) is not used)
                i, f, o = a[:, :H], a[:, H : 2 * H], a[:, 3 * H :]
                if mask is None:
                    c = torch.addcmul(f * c, i, g, out=cs[t])  # c_t = f ⊙ c_{t-1} + i ⊙ g
                    h = torch.mul(o, torch.tanh(c, out=tanh_cs[t]), out=hs[t])  # o ⊙ tanh(c_t)
                else:  # a finished sequence keeps its state; its gradients are masked below
                    c_new = torch.addcmul(f * c, i, g)
                    h_new = o * torch.tanh(c_new, out=tanh_cs[t])
                    c = torch.where(mask[t], c_new, c, out=cs[t])
                    h = torch.where(mask[t], h_new, h, out=hs[t])
        ctx.save_for_backward(acts, gs, cs, tanh_cs, hs, h0, c0, weight_hh, mask)
        out = hs if mask is None else hs * mask  # outputs past a sequence's end are zeros
        return out, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h, d_c):
        acts, gs, cs, tanh_cs, hs, h0, c0, weight_hh, mask = ctx.saved_tensors
        with _autocast_off(acts.device):
            dtype, H = acts.dtype, h0.size(-1)
            d_out = d_out.to(dtype) if mask is None else d_out.to(dtype) * mask
            i, f, _, o = acts.chunk(4, dim=-1)  # each (T, B, H)
            factor = torch.empty_like(acts)  # the right-hand factors of d[i, f, g, o]
            _sigmoid_grad(gs, i, grad_input=factor[..., :H])
            _sigmoid_grad(c0, f[0], grad_input=factor[0, :, H : 2 * H])  # c_{t-1} ⊙ σ'(f)
            _sigmoid_grad(cs[:-1], f[1:], grad_input=factor[1:, :, H : 2 * H])
            _tanh_grad(i, gs, grad_input=factor[..., 2 * H : 3 * H])
            _sigmoid_grad(tanh_cs, o, grad_input=factor[..., 3 * H :])
            dc_per_dh = _tanh_grad(o, tanh_cs)  # σ(o) ⊙ (1 - tanh²(c_t))
            if mask is not None:  # steps past a sequence's end contribute nothing
                factor.mul_(mask)
            # The output gradient that arrives at h_{t-1}, and zeros before the first step.
            d_out_prev = torch.cat((torch.zeros_like(d_out[:1]), d_out[:-1]))
            d_xp = torch.empty_like(acts)  # d[i, f, g, o] at every step
            dh, dc = d_h.to(dtype) + d_out[-1], d_c.to(dtype)
            for t in reversed(range(acts.size(0))):
                dc_t = torch.addcmul(dc, dh, dc_per_dh[t])
                d_gates = torch.mul(torch.cat((dc_t, dc_t, dc_t, dh), 1), factor[t], out=d_xp[t])
                if mask is None:
                    dh = torch.addmm(d_out_prev[t], d_gates, weight_hh)  # d_gates W_hh + dout_{t-1}
                    dc = dc_t * f[t]
                else:  # a finished sequence passes its gradient back unchanged
                    dh = torch.where(mask[t], d_gates @ weight_hh, dh) + d_out_prev[t]
                    dc = torch.where(mask[t], dc_t * f[t], dc)
            d_weight = None
            if ctx.needs_input_grad[3]:  # Σ_t d_t^T h_{t-1}: step 0 (h_0), then all the others
                d_weight = torch.addmm(
                    d_xp[0].t() @ h0, d_xp[1:].flatten(0, 1).t(), hs[:-1].flatten(0, 1)
                )
        return d_xp, dh, dc, d_weight, None


class GRU(_Recurrent):
    """Multi-layer GRU in PyTorch's convention (chapter 05); parameters as ``torch.nn.GRU``.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: learn ``b_ih`` and ``b_hh`` (``b_hn`` stays inside the reset gate's product).
        dropout: dropout on each layer's output except the last (training only).
        fused: run PyTorch's fused kernel instead of the teaching loop (same parameters).
        bidirectional: add a second loop that reads each sequence backwards (D = 2 directions).

    Shape:
        x ``(B, T, I)``, h_0 ``(L*D, B, H)`` -> output ``(B, T, D*H)``, h_n ``(L*D, B, H)``.

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
