"""Checkers for chapter 04 (LSTM): one LSTM step, the article's example fixed, parameter count."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_fixed_article_lstm", "check_lstm_num_parameters", "check_lstm_step"]


def _lstm_ref(x, h, c, w_ih, w_hh, b_ih, b_hh, order="ifgo", tanh_c=True):
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    parts = dict(zip(order, gates.chunk(4, dim=-1), strict=True))
    i, f, o = (torch.sigmoid(parts[k]) for k in "ifo")
    g = torch.tanh(parts["g"])
    c = f * c + i * g
    return o * (torch.tanh(c) if tanh_c else c), c


def check_lstm_step(lstm_step: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> ExerciseResult:
    """``lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h, c)`` in PyTorch's i, f, g, o order."""
    with Exercise("04.1 one LSTM step") as ex:
        gen = torch.Generator().manual_seed(4)
        x, h, c = (torch.randn(3, n, generator=gen) for n in (2, 4, 4))
        w_ih, w_hh = torch.randn(16, 2, generator=gen), torch.randn(16, 4, generator=gen)
        b_ih, b_hh = torch.randn(16, generator=gen), torch.randn(16, generator=gen)
        args = (x, h, c, w_ih, w_hh, b_ih, b_hh)
        out = ex.call(lstm_step, *args)
        ex.check(
            isinstance(out, tuple) and len(out) == 2,
            f"return the pair (h_t, c_t), got {type(out).__name__}",
        )
        h_new, c_new = out
        ex.check_shape(h_new, (3, 4), "h_t")
        ex.check_shape(c_new, (3, 4), "c_t")
        if torch.allclose(h_new, _lstm_ref(*args, order="ifog")[0], atol=1e-5):
            ex.fail(
                "you split the gates in the article's order i, f, o, g; PyTorch stores them as "
                "i, f, g, o (input, forget, cell candidate, output): gates.chunk(4) gives i, f, g, o."
            )
        if torch.allclose(h_new, _lstm_ref(*args, tanh_c=False)[0], atol=1e-5):
            ex.fail("h_t = o ⊙ tanh(c_t): the tanh of the new cell state is missing.")
        cell = nn.LSTMCell(2, 4)
        with torch.no_grad():
            for name, value in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), args[3:], strict=True
            ):
                getattr(cell, name).copy_(value)
            h_ref, c_ref = cell(x, (h, c))
        ex.check_close(c_new, c_ref, "c_t differs from torch.nn.LSTMCell (check f ⊙ c + i ⊙ g)")
        ex.check_close(h_new, h_ref, "h_t differs from torch.nn.LSTMCell")
    return ex.result


def check_fixed_article_lstm(model_class: type[nn.Module]) -> ExerciseResult:
    """The article's §4 model made right: ``Model(vocab_size, embedding_dim, hidden_dim,
    num_layers)`` whose ``forward(x, hidden)`` returns logits for every step and the new state."""
    with Exercise("04.2 the article's LSTM, fixed") as ex:
        torch.manual_seed(0)
        model = ex.call(model_class, 50, 8, 16, 2)
        ex.check(isinstance(model, nn.Module), "the class should build an nn.Module")
        batch, steps = 3, 7
        x = torch.randint(0, 50, (batch, steps))
        hidden = (torch.zeros(2, batch, 16), torch.zeros(2, batch, 16))
        out = ex.call(model, x, hidden)
        ex.check(
            isinstance(out, tuple) and len(out) == 2,
            "forward should return (logits, hidden), like the article's version",
        )
        logits, new_hidden = out
        if getattr(logits, "shape", None) == (batch, 50):
            ex.fail(
                "logits have shape (B, V): the model predicts only the last step (x[:, -1, :]). "
                "A language model predicts the next token at every step: apply fc to all of x."
            )
        ex.check_shape(logits, (batch, steps, 50), "logits for input of shape (3, 7)")
        ex.check(
            isinstance(new_hidden, tuple) and len(new_hidden) == 2,
            "the new state of an LSTM is the pair (h_n, c_n)",
        )
        ex.check_shape(new_hidden[1], (2, batch, 16), "c_n")
        second, _ = ex.call(model, x[:, 4:], ex.call(model, x[:, :4], hidden)[1])
        ex.check_close(
            second.detach(),
            logits[:, 4:].detach(),
            "feeding the sequence in two halves (passing the state on) should give the same "
            "logits as one pass; does forward use the hidden argument?",
            atol=1e-5,
        )
    return ex.result


def check_lstm_num_parameters(count: Callable[[int, int, int], int]) -> ExerciseResult:
    """``count(input_size, hidden_size, num_layers)``: trainable parameters of ``nn.LSTM``."""
    with Exercise("04.3 counting an LSTM's parameters") as ex:
        for i, h, layers in ((10, 20, 1), (7, 3, 2), (128, 256, 2)):
            expected = sum(p.numel() for p in nn.LSTM(i, h, layers).parameters())
            got = ex.call(count, i, h, layers)
            one_bias = expected - 4 * h * layers
            if got == one_bias:
                ex.fail(
                    f"for ({i}, {h}, {layers}) you count {got}, with one bias per gate; PyTorch "
                    "keeps two bias vectors, b_ih and b_hh (4H each per layer)."
                )
            if layers > 1 and got == layers * 4 * (h * i + h * h + 2 * h):
                ex.fail(
                    "layers after the first take the hidden state (width H) as input, not x "
                    "(width I): their W_ih is 4H x H."
                )
            ex.check(got == expected, f"nn.LSTM({i}, {h}, {layers}) has {expected}, you say {got}")
    return ex.result
