"""Parity of coursekit.nn.recurrent with torch.nn.RNN/LSTM/GRU (and their cells) in float64."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from coursekit.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, make_recurrent

TOL = {"rtol": 1e-10, "atol": 1e-12}
LAYERS = {"rnn": (RNN, nn.RNN), "lstm": (LSTM, nn.LSTM), "gru": (GRU, nn.GRU)}
CELLS = {
    "rnn": (RNNCell, nn.RNNCell),
    "lstm": (LSTMCell, nn.LSTMCell),
    "gru": (GRUCell, nn.GRUCell),
}


def _pair(kind: str, seed: int, num_layers: int, bias: bool = True, **kw):
    """Our layer and torch's, float64, with torch's weights loaded into ours; random sizes."""
    gen = torch.Generator().manual_seed(seed)
    i, h = (int(v) for v in torch.randint(1, 9, (2,), generator=gen))
    ours_cls, ref_cls = LAYERS[kind]
    torch.manual_seed(seed)
    ref = ref_cls(i, h, num_layers, bias=bias, batch_first=True, **kw).double()
    ours = ours_cls(i, h, num_layers, bias=bias, **kw).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref, i, h, gen


def _initial(kind, num_layers, batch, h, gen):
    make = lambda: torch.randn(num_layers, batch, h, generator=gen, dtype=torch.float64)  # noqa: E731
    return (make(), make()) if kind == "lstm" else make()


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def _with_grad(state):
    return tuple(s.clone().requires_grad_() for s in _flat(state))


def _as_state(kind, leaves):
    return tuple(leaves) if kind == "lstm" else leaves[0]


def _run(layer, x, state, lengths=None):
    """Forward, then backward of a fixed random functional; returns outputs and all gradients."""
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    leaves = None if state is None else _with_grad(state)
    kind = "lstm" if isinstance(layer, (nn.LSTM, LSTM)) else "other"
    args = (x,) if leaves is None else (x, _as_state(kind, leaves))
    if lengths is None:
        out, final = layer(*args)
    elif isinstance(layer, nn.RNNBase):
        packed = nn.utils.rnn.pack_padded_sequence(
            args[0], lengths, batch_first=True, enforce_sorted=False
        )
        out, final = layer(packed, *args[1:])
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    else:
        out, final = layer(*args, lengths=lengths)
    gen = torch.Generator().manual_seed(123)
    weights = [torch.randn(t.shape, generator=gen, dtype=t.dtype) for t in [out, *_flat(final)]]
    loss = sum((w * t).sum() for w, t in zip(weights, [out, *_flat(final)], strict=True))
    loss.backward()
    grads = {name: p.grad for name, p in layer.named_parameters()}
    grads["x"] = x.grad
    if leaves is not None:
        for n, leaf in enumerate(leaves):
            grads[f"state{n}"] = leaf.grad
    return [out, *_flat(final)], grads


def _assert_same(a, b):
    for ta, tb in zip(a[0], b[0], strict=True):
        torch.testing.assert_close(ta, tb, **TOL)
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], **TOL, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_layer_matches_torch(kind, num_layers, with_state, seed):
    ours, ref, i, h, gen = _pair(kind, seed, num_layers)
    batch, steps = (int(v) for v in torch.randint(1, 7, (2,), generator=gen))
    x = torch.randn(batch, steps, i, generator=gen, dtype=torch.float64)
    state = _initial(kind, num_layers, batch, h, gen) if with_state else None
    expected = _run(ref, x, state)
    _assert_same(_run(ours, x, state), expected)
    ours.fused = True  # the switch: PyTorch's kernel on our parameters
    _assert_same(_run(ours, x, state), expected)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_variable_lengths_match_packed_sequences(kind, num_layers):
    ours, ref, i, h, gen = _pair(kind, 7, num_layers)
    x = torch.randn(4, 6, i, generator=gen, dtype=torch.float64)
    lengths = torch.tensor([6, 1, 4, 3])
    state = _initial(kind, num_layers, 4, h, gen)
    expected = _run(ref, x, state, lengths)
    result = _run(ours, x, state, lengths)
    _assert_same(result, expected)
    assert float(result[0][0][1, 1:].detach().abs().max()) == 0.0  # outputs past the end are zero
    ours.fused = True
    _assert_same(_run(ours, x, state, lengths), expected)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_no_bias_and_relu(kind):
    kw = {"nonlinearity": "relu"} if kind == "rnn" else {}
    ours, ref, i, _, gen = _pair(kind, 3, 2, bias=False, **kw)
    assert not any("bias" in name for name, _ in ours.named_parameters())
    x = torch.randn(3, 5, i, generator=gen, dtype=torch.float64)
    _assert_same(_run(ours, x, None), _run(ref, x, None))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_weights_load_both_ways(kind):
    ours_cls, ref_cls = LAYERS[kind]
    ours, ref = ours_cls(3, 5, num_layers=2), ref_cls(3, 5, num_layers=2, batch_first=True)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    ref.load_state_dict(ours.state_dict())  # ours -> torch
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=1e-5, atol=1e-6)
    fresh = ours_cls(3, 5, num_layers=2)
    fresh.load_state_dict(ref.state_dict())  # torch -> ours
    torch.testing.assert_close(fresh(x)[0], ref(x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("with_state", [False, True])
def test_cell_matches_torch(kind, with_state):
    ours_cls, ref_cls = CELLS[kind]
    torch.manual_seed(5)
    ref = ref_cls(4, 6).double()
    ours = ours_cls(4, 6).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    state = None
    if with_state:
        state = tuple(
            torch.randn(3, 6, dtype=torch.float64) for _ in range(2 if kind == "lstm" else 1)
        )
        state = state if kind == "lstm" else state[0]
    out_ours, out_ref = ours(x, state), ref(x, state)
    for a, b in zip(_flat(out_ours), _flat(out_ref), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    sum(t.sum() for t in _flat(out_ours)).backward()
    grad_ours = x.grad.clone()
    x.grad = None
    sum(t.sum() for t in _flat(out_ref)).backward()
    torch.testing.assert_close(grad_ours, x.grad, **TOL)
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=lambda m, n=name: f"{n}: {m}")


def test_layer_equals_cell_unrolled():
    layer, cell = LSTM(3, 4), LSTMCell(3, 4)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = torch.randn(2, 5, 3)
    out, (_, c) = layer(x)
    state = None
    for t in range(5):
        state = cell(x[:, t], state)
        torch.testing.assert_close(out[:, t], state[0])
    torch.testing.assert_close(c[0], state[1])


def test_gate_trace_reproduces_the_layer():
    from coursekit.nn import trace_lstm_gates

    layer = LSTM(3, 4, num_layers=2)
    x = torch.randn(2, 6, 3)
    trace = trace_lstm_gates(layer, x)
    assert set(trace) == {"input", "forget", "cell", "output", "c"}
    for name in ("input", "forget", "output"):
        assert float(trace[name].min()) >= 0 and float(trace[name].max()) <= 1
    # The first layer's last cell state equals c_n[0] of the layer itself.
    _, (_, c_n) = layer(x)
    torch.testing.assert_close(trace["c"][:, -1], c_n[0])
    with pytest.raises(TypeError, match=r"coursekit\.nn\.LSTM"):
        trace_lstm_gates(GRU(3, 4), x)


def test_dropout_only_between_layers_and_only_in_training():
    layer = GRU(3, 4, num_layers=2, dropout=0.5)
    x = torch.randn(2, 5, 3)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0])
    layer.fused = True
    eval_fused = layer(x)[0]
    layer.fused = False
    torch.testing.assert_close(layer(x)[0], eval_fused)
    layer.train()
    torch.manual_seed(0)
    a = layer(x)[0]
    torch.manual_seed(1)
    assert not torch.allclose(a, layer(x)[0])


def test_module_moves_and_copies_without_the_kernel():
    import copy

    layer = LSTM(3, 4, fused=True).double()
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert set(layer.state_dict()) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    twin = copy.deepcopy(layer)
    x = torch.randn(1, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(twin(x)[0], layer(x)[0])
    assert "fused=True" in repr(layer)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.randn(2, 3)), "batch-first input of shape"),
        (lambda m: m(torch.randn(2, 3, 5)), "input_size=4"),
        (lambda m: m(torch.randn(2, 3, 4), torch.zeros(1, 2, 6)), r"pair \(h_0, c_0\)"),
        (
            lambda m: m(torch.randn(2, 3, 4), (torch.zeros(1, 3, 6),) * 2),
            r"h_0 should have shape \(1, 2, 6\)",
        ),
        (
            lambda m: m(torch.randn(2, 3, 4), lengths=torch.tensor([3, 4])),
            r"lengths must be in 1..T=3",
        ),
    ],
)
def test_bad_input_says_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call(LSTM(4, 6))


def test_bad_construction():
    with pytest.raises(ValueError, match="unknown recurrent layer"):
        make_recurrent("transformer", 2, 2)
    with pytest.raises(ValueError, match="dropout"):
        GRU(2, 2, dropout=1.0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(2, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="one step of shape"):
        GRUCell(2, 3)(torch.randn(1, 4, 2))


# --- the LSTM's hand-written backpropagation through time ----------------------------------------
@pytest.mark.parametrize("chunk_steps", [1, 3])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_lstm_in_chunks_of_steps_matches_torch(monkeypatch, chunk_steps, use_lengths):
    """Long sequences run in chunks with the state carried over; nothing changes but memory."""
    from coursekit.nn.recurrent import lstm_bptt

    ours, ref, i, h, gen = _pair("lstm", 7, num_layers=2)
    batch, steps = 3, 8
    # _CHUNK_BYTES is a budget per (B, 4H) step of float64 values: this many steps per chunk.
    monkeypatch.setattr(lstm_bptt, "_CHUNK_BYTES", chunk_steps * batch * 4 * h * 8)
    x = torch.randn(batch, steps, i, generator=gen, dtype=torch.float64)
    state = _initial("lstm", 2, batch, h, gen)
    lengths = torch.tensor([8, 3, 5]) if use_lengths else None
    _assert_same(_run(ours, x, state, lengths), _run(ref, x, state, lengths))


def _lstm_sequence_inputs(mask: bool):
    gen = torch.Generator().manual_seed(5)
    steps, batch, hidden = 4, 3, 2

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)

    m = (torch.arange(steps)[:, None] < torch.tensor([4, 1, 3])).unsqueeze(-1) if mask else None
    return (
        rand(steps, batch, 4 * hidden),
        rand(batch, hidden),
        rand(batch, hidden),
        rand(4 * hidden, hidden),
        m,
    )


@pytest.mark.parametrize("mask", [False, True])
def test_lstm_backward_passes_gradcheck(mask):
    from coursekit.nn.recurrent.lstm_bptt import _LSTMSequence

    assert torch.autograd.gradcheck(_LSTMSequence.apply, _lstm_sequence_inputs(mask))


def test_lstm_has_no_second_derivative_and_says_so():
    from coursekit.nn.recurrent.lstm_bptt import _LSTMSequence

    xp, h0, c0, w, _ = _lstm_sequence_inputs(mask=False)
    out, _, _ = _LSTMSequence.apply(xp, h0, c0, w, None)
    (grad,) = torch.autograd.grad(out.square().sum(), w, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


def test_derivative_kernels_are_the_formulas():
    from coursekit.nn.recurrent.lstm_bptt import _sigmoid_grad, _tanh_grad

    grad, x = torch.randn(2, 2, 5, dtype=torch.float64).unbind()
    s, t = torch.sigmoid(x), torch.tanh(x)
    torch.testing.assert_close(_sigmoid_grad(grad, s), grad * s * (1 - s))
    torch.testing.assert_close(_tanh_grad(grad, t), grad * (1 - t**2))


def test_lstm_under_autocast_keeps_the_recurrence_in_float32():
    torch.manual_seed(0)
    layer, x = LSTM(6, 5), torch.randn(2, 7, 6)
    reference, _ = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (_, c) = layer(x)
    assert out.dtype == c.dtype == torch.float32
    # Only the input projection ran in bfloat16 (about 3 significant digits).
    torch.testing.assert_close(out, reference, rtol=0, atol=0.05)
    out.sum().backward()
    assert all(
        p.grad.dtype == torch.float32 and p.grad.isfinite().all() for p in layer.parameters()
    )


@pytest.mark.parametrize("mask", [False, True])
def test_lstm_backward_inside_autocast_stays_in_float32(mask):
    """``loss.backward()`` inside an autocast block runs the hand-written backward with autocast
    on; its guard keeps the matmuls in float32, so forward and every gradient are bit for bit those
    of a run without autocast (bfloat16 matmuls would be off by about 1e-3)."""
    from coursekit.nn.recurrent.lstm_bptt import _LSTMSequence

    xp, h0, c0, w, m = (
        t if t is None or t.dtype == torch.bool else t.detach().float().requires_grad_()
        for t in _lstm_sequence_inputs(mask)
    )
    gen = torch.Generator().manual_seed(2)
    weights = [
        torch.randn(s, generator=gen) for s in ((*xp.shape[:2], h0.size(1)), h0.shape, c0.shape)
    ]

    def run(autocast: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            outputs = _LSTMSequence.apply(xp, h0, c0, w, m)
            loss = sum((u * v).sum() for u, v in zip(weights, outputs, strict=True))
            grads = torch.autograd.grad(loss, (xp, h0, c0, w))
        return [*outputs, *grads]

    for plain, mixed in zip(run(autocast=False), run(autocast=True), strict=True):
        assert mixed.dtype == torch.float32
        torch.testing.assert_close(mixed, plain, rtol=1e-6, atol=1e-7)


# --- bidirectional layers ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_bidirectional_matches_torch(kind, num_layers, with_state, use_lengths):
    ours, ref, i, h, gen = _pair(kind, 3, num_layers, bidirectional=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    batch, steps = 3, 6
    x = torch.randn(batch, steps, i, generator=gen, dtype=torch.float64)
    state = _initial(kind, 2 * num_layers, batch, h, gen) if with_state else None
    lengths = torch.tensor([6, 2, 4]) if use_lengths else None
    expected = _run(ref, x, state, lengths)
    for fused in (False, True):
        ours.fused = fused
        _assert_same(_run(ours, x, state, lengths), expected)
    assert expected[0][0].shape == (batch, steps, 2 * h)


def test_bidirectional_state_shape_is_checked():
    layer = GRU(4, 6, num_layers=2, bidirectional=True)
    assert "bidirectional=True" in repr(layer)
    with pytest.raises(ValueError, match=r"should have shape \(4, 2, 6\)"):
        layer(torch.randn(2, 3, 4), torch.zeros(2, 2, 6))
