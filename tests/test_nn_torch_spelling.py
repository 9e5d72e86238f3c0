"""coursekit's RNN/LSTM/GRU take torch.nn's constructor arguments, in torch's order, time-major too.

An article's ``nn.LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True)`` must run with
coursekit's layer swapped in, and ``batch_first=False`` must mean what it means in PyTorch: proven
against torch's layers in float64, outputs and gradients, with and without lengths, both paths.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from coursekit.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, make_recurrent

LAYERS = {"rnn": (RNN, nn.RNN), "lstm": (LSTM, nn.LSTM), "gru": (GRU, nn.GRU)}
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _flat(value):
    return list(value) if isinstance(value, tuple) else [value]


def _outputs_and_grads(layer, x, lengths=None):
    """Forward (time-major or batch-first as the layer says), backward of a fixed functional."""
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    if lengths is None:
        out, final = layer(x)
    elif isinstance(layer, nn.RNNBase):
        pack = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=layer.batch_first, enforce_sorted=False
        )
        out, final = layer(pack)
        total = x.size(1 if layer.batch_first else 0)
        out, _ = nn.utils.rnn.pad_packed_sequence(
            out, batch_first=layer.batch_first, total_length=total
        )
    else:
        out, final = layer(x, lengths=lengths)
    tensors = [out, *_flat(final)]
    gen = torch.Generator().manual_seed(9)
    loss = sum((torch.randn(t.shape, generator=gen, dtype=t.dtype) * t).sum() for t in tensors)
    loss.backward()
    grads = [x.grad] + [p.grad for p in layer.parameters()]
    return tensors, grads


def _assert_same(ours, ref):
    for a, b in zip(ours[0] + ours[1], ref[0] + ref[1], strict=True):
        torch.testing.assert_close(a, b, **TOL)


def _positional(kind: str, num_layers: int, bias: bool, batch_first: bool, bidirectional: bool):
    """Arguments in torch's positional order (the RNN's nonlinearity comes fourth)."""
    head = (num_layers, "relu") if kind == "rnn" else (num_layers,)
    return (*head, bias, batch_first, 0.0, bidirectional)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_time_major_layer_in_torch_spelling_matches_torch(kind, bidirectional, use_lengths):
    gen = torch.Generator().manual_seed(len(kind) + 2 * bidirectional)
    i, h, steps, batch = (int(v) for v in torch.randint(2, 7, (4,), generator=gen))
    args = _positional(kind, 2, True, False, bidirectional)
    ours_cls, ref_cls = LAYERS[kind]
    ref = ref_cls(i, h, *args).double()
    ours = ours_cls(i, h, *args).double()
    assert ours.batch_first is False and "batch_first=False" in repr(ours)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(steps, batch, i, generator=gen, dtype=torch.float64)  # (T, B, I)
    lengths = torch.randint(1, steps + 1, (batch,), generator=gen) if use_lengths else None
    expected = _outputs_and_grads(ref, x, lengths)
    assert expected[0][0].shape[:2] == (steps, batch)
    for fused in (False, True):
        ours.fused = fused
        _assert_same(_outputs_and_grads(ours, x, lengths), expected)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_keyword_spelling_matches_torch(kind):
    kw = {"num_layers": 2, "bias": False, "batch_first": True, "dropout": 0.0}
    if kind == "rnn":
        kw["nonlinearity"] = "relu"
    ours_cls, ref_cls = LAYERS[kind]
    ref = ref_cls(input_size=3, hidden_size=5, **kw).double()
    ours = ours_cls(input_size=3, hidden_size=5, **kw, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in ours.parameters())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    _assert_same(_outputs_and_grads(ours, x), _outputs_and_grads(ref, x))


def test_the_articles_model_runs_with_coursekits_lstm():
    """The article's classifier, with coursekit.nn.LSTM where it writes nn.LSTM."""

    class Model(nn.Module):
        def __init__(self, layer_cls, vocab_size, embedding_dim, hidden_dim, num_layers):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = layer_cls(embedding_dim, hidden_dim, num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_dim, vocab_size)

        def forward(self, x):
            out, _ = self.lstm(self.embedding(x))
            return self.fc(out)

    torch.manual_seed(0)
    theirs = Model(nn.LSTM, 11, 6, 8, 2)
    ours = Model(LSTM, 11, 6, 8, 2)
    ours.load_state_dict(theirs.state_dict())
    idx = torch.randint(0, 11, (3, 5))
    torch.testing.assert_close(ours(idx), theirs(idx), rtol=1e-5, atol=1e-6)


def test_gate_trace_follows_the_layers_layout():
    from coursekit.nn import trace_lstm_gates

    layer = LSTM(3, 4, batch_first=False)
    x = torch.randn(6, 2, 3)  # (T, B, I)
    trace = trace_lstm_gates(layer, x)
    assert trace["forget"].shape == (6, 2, 4)
    _, (_, c_n) = layer(x)
    torch.testing.assert_close(trace["c"][-1], c_n[0])


@pytest.mark.parametrize(
    ("ours_cls", "ref_cls", "args"),
    [
        (RNNCell, nn.RNNCell, (False, "relu")),
        (LSTMCell, nn.LSTMCell, (False,)),
        (GRUCell, nn.GRUCell, (True,)),
    ],
)
def test_cells_take_torchs_positional_arguments(ours_cls, ref_cls, args):
    ref = ref_cls(3, 4, *args).double()
    ours = ours_cls(3, 4, *args, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64)
    for a, b in zip(_flat(ours(x)), _flat(ref(x)), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_factory_passes_torchs_keywords_through():
    layer = make_recurrent("rnn", 3, 4, num_layers=2, nonlinearity="relu", batch_first=False)
    assert (layer.nonlinearity, layer.batch_first, layer.num_layers) == ("relu", False, 2)
    out, h = layer(torch.randn(5, 2, 3))
    assert out.shape == (5, 2, 4) and h.shape == (2, 2, 4)
