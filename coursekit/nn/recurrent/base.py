"""What the RNN, LSTM and GRU of chapters 03-05 share: the cell and sequence-layer skeletons.

A cell runs one step with its own parameters; a sequence layer runs L stacked cells over T steps,
in one or two directions, with the teaching loop or PyTorch's fused kernel on the same parameters.
The step equations live with their chapter: :mod:`~coursekit.nn.recurrent.rnn` (03),
:mod:`~coursekit.nn.recurrent.lstm` (04), :mod:`~coursekit.nn.recurrent.gru` (05).

Shapes: B batch, T steps, I input width, H hidden width, L layers, D directions (2 if
bidirectional, else 1), G gates per step (1 for the RNN, 4 for the LSTM, 3 for the GRU).

Constructors take PyTorch's arguments in PyTorch's order (``input_size, hidden_size, num_layers,
bias, batch_first, dropout, bidirectional``; the RNN has ``nonlinearity`` after ``num_layers``),
so ``nn.LSTM(...)`` in an article's code can become ``coursekit.nn.LSTM(...)``. One difference:
``batch_first`` defaults to True here (the course's layout), to False in PyTorch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from coursekit.nn._checks import (
    check_bool,
    check_float_input,
    check_fraction,
    check_int,
    parameter_names,
    reject_unknown,
)

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
SUFFIXES = ("", "_reverse")  # PyTorch's parameter-name suffix of each direction


def add_recurrent(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """``xp + h W_hh^T (+ b_hh)`` as one fused multiply-add (``addmm``): fewer steps to backprop."""
    return torch.addmm(xp if bias_hh is None else xp + bias_hh, h, weight_hh.t())


def fold_biases(b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | None:
    """``b_ih + b_hh``, added once to the whole sequence's input projection (RNN and LSTM)."""
    return None if b_ih is None else b_ih + b_hh


def check_features(x: Tensor, size: int, what: str) -> None:
    if x.size(-1) != size:
        raise ValueError(
            f"{what} has {x.size(-1)} features in its last dimension, but the layer was built "
            f"with input_size={size}: pass inputs of width {size} or build the layer to match."
        )


def check_state(t: Tensor, shape: tuple[int, ...], what: str) -> None:
    if tuple(t.shape) != shape:
        raise ValueError(f"{what} should have shape {shape}, got {tuple(t.shape)}.")


def _check_sizes(owner: str, **sizes: object) -> None:
    for name, value in sizes.items():
        check_int(owner, name, value)


def check_nonlinearity(owner: str, nonlinearity: object) -> None:
    if nonlinearity not in ("tanh", "relu"):
        order = ""
        if isinstance(nonlinearity, bool) and owner == "RNN":
            order = f" (torch's order: {owner}(input_size, hidden_size, num_layers, nonlinearity, bias, ...))"
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}{order}")


# --- cells: one step with their own parameters ----------------------------------------------------
class Cell(nn.Module):
    """The shared skeleton of RNNCell, LSTMCell and GRUCell: parameters as ``torch.nn.*Cell``."""

    kind = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        device=None,
        dtype=None,
        **unknown: object,
    ) -> None:
        owner = type(self).__name__
        reject_unknown(owner, unknown, parameter_names(type(self).__init__))
        super().__init__()
        _check_sizes(owner, input_size=input_size, hidden_size=hidden_size)
        check_bool(owner, "bias", bias)
        self.input_size, self.hidden_size = input_size, hidden_size
        g, like = GATES[self.kind] * hidden_size, {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(g, input_size, **like))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size, **like))
        self.bias_ih = nn.Parameter(torch.empty(g, **like)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(g, **like)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _project(self, x: Tensor) -> Tensor:
        check_float_input(x, self.weight_ih, type(self).__name__, self.input_size)
        if x.dim() != 2:
            raise ValueError(f"a cell takes one step of shape (B, I), got {tuple(x.shape)}")
        check_features(x, self.input_size, "x")
        return F.linear(x, self.weight_ih, self.bias_ih)  # (B, G*H)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


# --- sequence layers: L stacked cells over T steps -----------------------------------------------
class Recurrent(nn.Module):
    """The shared skeleton of RNN, LSTM and GRU; see :class:`~coursekit.nn.RNN` for the arguments."""

    kind = "rnn"
    _torch_class: type[nn.RNNBase] = nn.RNN
    _fold_biases = False  # add b_hh to the input projection once (RNN, LSTM), not in each step

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
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
        owner, names = type(self).__name__, parameter_names(type(self).__init__)
        reject_unknown(owner, unknown, names)
        super().__init__()
        _check_sizes(owner, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        positional = ", ".join(parameter_names(type(self).__init__, positional=True))
        order = f" Positional arguments follow torch's order: {owner}({positional})."
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            check_bool(owner, name, flag, order)
        check_fraction(owner, "dropout", dropout)
        check_bool(owner, "bidirectional", bidirectional, order)
        check_bool(owner, "fused", fused)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.fused = fused
        self.bidirectional, self.directions = bidirectional, 2 if bidirectional else 1
        g, like = GATES[self.kind] * hidden_size, {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            width = input_size if layer == 0 else self.directions * hidden_size
            for suffix in SUFFIXES[: self.directions]:  # PyTorch's names and order
                name = f"l{layer}{suffix}"
                self.register_parameter(
                    f"weight_ih_{name}", nn.Parameter(torch.empty(g, width, **like))
                )
                self.register_parameter(
                    f"weight_hh_{name}", nn.Parameter(torch.empty(g, hidden_size, **like))
                )
                if bias:
                    self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(g, **like)))
                    self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(g, **like)))
        self.reset_parameters()
        # PyTorch's module on the meta device: no memory of its own; it only runs the fused kernel
        # with our parameters through torch.func.functional_call. A plain attribute, so it is not
        # part of state_dict() or .to().
        self._kernel = {
            "module": self._torch_class(
                input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
                dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
                device="meta", **self._kernel_options(),
            )
        }  # fmt: skip

    def _kernel_options(self) -> dict:
        return {}

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(
        self, layer: int, direction: int = 0
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        get, name = self._parameters.get, f"l{layer}{SUFFIXES[direction]}"
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
        if not self.batch_first:
            text += ", batch_first=False"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text + f", fused={self.fused}"

    # The state is a tensor (L*D, B, H), or for the LSTM a pair of them; D = 2 if bidirectional,
    # and layer l's direction d is at index l*D + d, as in PyTorch (whatever batch_first says).
    def _state_shape(self, batch: int) -> tuple[int, int, int]:
        return (self.num_layers * self.directions, batch, self.hidden_size)

    def _initial_state(self, x: Tensor, batch: int):
        return x.new_zeros(self._state_shape(batch))

    def _check_state(self, state, batch: int) -> None:
        check_state(state, self._state_shape(batch), "the initial state h_0")

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
        """The input projection for all steps at once, and the bias each step still adds."""
        if self._fold_biases:
            return F.linear(x, w_ih, fold_biases(b_ih, b_hh)), None
        return F.linear(x, w_ih, b_ih), b_hh

    def _check_input(self, x: Tensor) -> tuple[int, int]:
        """Float vectors of the right width, batch-first or time-major: returns ``(B, T)``."""
        check_float_input(x, self.weight_ih_l0, type(self).__name__, self.input_size)
        if x.dim() != 3:
            layout, one = ("batch-first", "(B, T") if self.batch_first else ("time-major", "(T, B")
            raise ValueError(
                f"expected a {layout} input of shape {one}, I={self.input_size}), got "
                f"{tuple(x.shape)}; for one sequence use x.unsqueeze({0 if self.batch_first else 1})."
            )
        check_features(x, self.input_size, "the input")
        batch, steps = tuple(x.shape[:2]) if self.batch_first else (x.size(1), x.size(0))
        if steps == 0:
            raise ValueError(f"the input has T=0 steps ({tuple(x.shape)}): give at least one.")
        return batch, steps

    def forward(self, x: Tensor, state=None, lengths: Tensor | None = None):
        """Run all layers over all steps.

        Args:
            x: inputs ``(B, T, I)`` (``(T, B, I)`` if the layer has ``batch_first=False``).
            state: initial state ``(L*D, B, H)`` (LSTM: a pair ``(h_0, c_0)``), D = 2 if
                bidirectional else 1; zeros when None.
            lengths: optional ``(B,)`` true lengths of padded sequences (each in 1..T): steps past
                a sequence's end leave its state unchanged and give zero outputs, as with packed
                sequences in PyTorch; the backward direction starts at each sequence's last step.

        Returns:
            ``(output, final_state)``: output ``(B, T, D*H)`` (``(T, B, D*H)`` time-major) is the
            last layer's hidden state at every step (forward and backward directions
            concatenated); final_state has the shape of ``state`` (each sequence's last real step;
            for the backward direction, its first).
        """
        batch, steps = self._check_input(x)
        if state is None:
            state = self._initial_state(x, batch)
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
        if self.batch_first:
            x = x.transpose(0, 1)  # time-major (T, B, I): each step's slice is contiguous
        out, final = self._forward_loop(x, state, lengths)  # (T, B, D*H)
        return (out.transpose(0, 1) if self.batch_first else out), final

    def _forward_loop(self, x: Tensor, state, lengths: Tensor | None):
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
                    out, final = self._run_layer(reverse(x, lengths), state_d, weights, mask)
                    out = reverse(out, lengths)
                outputs.append(out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (T, B, D*H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, self._stack_states(finals)

    def _run_layer(self, x: Tensor, s, weights: tuple, mask: Tensor | None):
        """One layer over all steps, autograd through ``_step``: outputs ``(T, B, H)``, final state."""
        w_ih, w_hh, b_ih, b_hh = weights
        xp, b_step = self._project(x, w_ih, b_ih, b_hh)  # (T, B, G*H)
        masks = None if mask is None else mask.unbind(0)  # T x (B, 1)
        outputs = []
        for t, xp_t in enumerate(xp.unbind(0)):  # T x (B, G*H)
            new = self._step(xp_t, s, w_hh, b_step)
            if masks is not None:  # finished sequences keep their state and output zeros
                new = where(masks[t], new, s)
                outputs.append(self._output(new) * masks[t])
            else:
                outputs.append(self._output(new))
            s = new
        return torch.stack(outputs), s  # (T, B, H)

    def _forward_fused(self, x: Tensor, state, lengths: Tensor | None):
        kernel = self._kernel["module"]
        kernel.train(self.training)
        kernel.batch_first = self.batch_first
        params = dict(self.named_parameters())
        if lengths is None:
            state = tuple(state) if isinstance(state, list) else state
            return functional_call(kernel, params, (x, state))
        packed = pack_padded_sequence(
            x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False
        )
        out, final = functional_call(kernel, params, (packed, state))
        total = x.size(1 if self.batch_first else 0)
        out, _ = pad_packed_sequence(out, batch_first=self.batch_first, total_length=total)
        return out, final


def reverse(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Each sequence of a time-major ``(T, B, F)`` batch in reverse order, padding left in place.

    >>> reverse(torch.arange(4.0).view(4, 1, 1).expand(4, 2, 1), torch.tensor([4, 2]))[:, :, 0]
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


def where(mask: Tensor, new, old):
    """``torch.where`` over a state that may be a tuple (the LSTM's ``(h, c)``)."""
    if isinstance(new, tuple):
        return tuple(torch.where(mask, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(mask, new, old)
