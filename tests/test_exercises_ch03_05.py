"""Checkers of chapters 03-05: the reference passes, typical mistakes get specific feedback."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from coursekit.exercises import ch03, ch04, ch05


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebooks hold the same) -------------------------------------------
def rnn_step(x, h, w_xh, w_hh, b):
    return torch.tanh(x @ w_xh.T + h @ w_hh.T + b)


def clip(grads, max_norm):
    total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    return [g * min(1.0, max_norm / total) for g in grads]


def unigram(train, valid, vocab_size):
    counts = torch.bincount(torch.tensor(train), minlength=vocab_size).double() + 1
    return float(-(counts / counts.sum())[torch.tensor(valid)].log().mean())


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class FixedLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, num_layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_dim, vocab_size)

    def forward(self, x, hidden):
        x, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(x), hidden


class ArticleLSTM(FixedLSTM):
    def forward(self, x, hidden):
        x, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(x[:, -1, :]), hidden


def lstm_params(i, h, layers):
    return sum(4 * (h * (i if layer == 0 else h) + h * h + 2 * h) for layer in range(layers))


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    xr, xz, xn = (x @ w_ih.T + b_ih).chunk(3, -1)
    hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, -1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def flip(state):
    out = {k: v.clone() for k, v in state.items()}
    for v in out.values():
        hidden = v.shape[0] // 3
        v[hidden : 2 * hidden] *= -1
    return out


def gru_sequence(x, h, *weights):
    outputs = []
    for x_t in x.unbind(1):
        h = gru_step(x_t, h, *weights)
        outputs.append(h)
    return torch.stack(outputs, 1), h


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch03.check_rnn_step, rnn_step),
    (ch03.check_clip_global_norm, clip),
    (ch03.check_unigram_cross_entropy, unigram),
    (ch04.check_lstm_step, lstm_step),
    (ch04.check_fixed_article_lstm, FixedLSTM),
    (ch04.check_lstm_num_parameters, lstm_params),
    (ch05.check_gru_step, gru_step),
    (ch05.check_flip_update_gate, flip),
    (ch05.check_gru_sequence, gru_sequence),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    assert checker(reference).passed


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    assert checker(not_yet).status == "not attempted"


def _gru_wrong(kind):
    def step(x, h, w_ih, w_hh, b_ih, b_hh):
        xr, xz, xn = (x @ w_ih.T + b_ih).chunk(3, -1)
        hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        w_hn, b_hn = w_hh.chunk(3)[2], b_hh.chunk(3)[2]
        if kind == "article":
            return (1 - z) * torch.tanh(xn + ((1 - r) * h) @ w_hn.T + b_hn) + z * h
        if kind == "cho":
            return (1 - z) * torch.tanh(xn + (r * h) @ w_hn.T + b_hn) + z * h
        return z * torch.tanh(xn + r * hn) + (1 - z) * h

    return step


def _lstm_article_order(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, o, g = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _flip_everything(state):
    return {k: -v for k, v in state.items()}


def _gru_sequence_stuck(x, h, *weights):
    outs = [gru_step(x_t, h, *weights) for x_t in x.unbind(1)]  # never carries h forward
    return torch.stack(outs, 1), outs[-1]


WRONG = [
    (ch03.check_rnn_step, lambda x, h, a, b, c: torch.sigmoid(x @ a.T + h @ b.T + c), "sigmoid"),
    (ch03.check_rnn_step, lambda x, h, a, b, c: torch.tanh(x @ a.T + h @ b.T), "bias b is missing"),
    (
        ch03.check_clip_global_norm,
        lambda gs, m: [g * min(1.0, m / float(g.norm())) for g in gs],
        "each tensor by its own norm",
    ),
    (
        ch03.check_clip_global_norm,
        lambda gs, m: [g * m / math.sqrt(sum(float(t.pow(2).sum()) for t in gs)) for g in gs],
        "returned unchanged",
    ),
    (ch03.check_unigram_cross_entropy, lambda t, v, n: unigram(t, v, n) / math.log(2), "bits"),
    (ch03.check_unigram_cross_entropy, lambda t, v, n: float("inf"), "add-one smoothing"),
    (ch04.check_lstm_step, _lstm_article_order, "i, f, g, o"),
    (ch04.check_fixed_article_lstm, ArticleLSTM, "only the last step"),
    (
        ch04.check_lstm_num_parameters,
        lambda i, h, n: lstm_params(i, h, n) - 4 * h * n,
        "two bias vectors",
    ),
    (ch04.check_lstm_num_parameters, lambda i, h, n: n * 4 * (h * i + h * h + 2 * h), "width H"),
    (ch05.check_gru_step, _gru_wrong("article"), "(1 - r)"),
    (ch05.check_gru_step, _gru_wrong("cho"), "before the matmul"),
    (ch05.check_gru_step, _gru_wrong("z"), "z weights the wrong side"),
    (ch05.check_flip_update_gate, lambda s: s, "nothing changed"),
    (ch05.check_flip_update_gate, _flip_everything, "only the update gate's rows"),
    (ch05.check_gru_sequence, _gru_sequence_stuck, "carry h forward"),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_typical_mistakes_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


def test_strict_mode_raises(monkeypatch):
    from coursekit.exercises.core import ExerciseFailed

    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed):
        ch05.check_gru_step(_gru_wrong("article"))
