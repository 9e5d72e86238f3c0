"""coursekit.generate: greedy and temperature sampling, top-k/top-p filters, stateful decoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from coursekit.generate import filter_logits, generate, sample_next
from coursekit.nn import RecurrentLM, RecurrentLMConfig


class Stateless(nn.Module):
    """Hides forward_with_state, so generate() re-reads the whole context every step."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, idx):
        return self.model(idx)


def _model(seed=0, vocab=7):
    torch.manual_seed(seed)
    return RecurrentLM(RecurrentLMConfig(vocab_size=vocab, cell="lstm", embed_dim=5, hidden_size=6))


def test_greedy_is_argmax_of_the_model():
    model = _model()
    prompt = torch.tensor([[1, 2, 3]])
    out = generate(model, prompt, 5, temperature=0)
    assert out.shape == (1, 8) and torch.equal(out[:, :3], prompt)
    for t in range(3, 8):
        assert out[0, t] == model(out[:, :t])[0, -1].argmax()


def test_stateful_and_stateless_paths_agree():
    model = _model(1)
    prompt = torch.randint(0, 7, (3, 4))
    a = generate(model, prompt, 6, temperature=0.8, generator=torch.Generator().manual_seed(0))
    b = generate(
        Stateless(model), prompt, 6, temperature=0.8, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(a, b)


def test_sampling_is_reproducible_and_restores_training_mode():
    model = _model(2)
    model.train()
    prompt = torch.zeros(2, 1, dtype=torch.long)
    a = generate(model, prompt, 10, generator=torch.Generator().manual_seed(5))
    b = generate(model, prompt, 10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and model.training


def test_temperature_sampling_follows_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).expand(20000, 4)
    gen = torch.Generator().manual_seed(0)
    for temperature in (0.5, 1.0, 2.0):
        ids = sample_next(logits, temperature=temperature, generator=gen).flatten()
        freq = torch.bincount(ids, minlength=4).double() / len(ids)
        expected = torch.softmax(logits[0].double() / temperature, -1)
        assert (freq - expected).abs().max() < 0.015


def test_context_size_crops_what_a_stateless_model_sees():
    seen = []

    class Spy(nn.Module):
        def forward(self, idx):
            seen.append(idx.size(1))
            return torch.zeros(idx.size(0), idx.size(1), 4)

    generate(Spy(), torch.zeros(1, 3, dtype=torch.long), 4, temperature=0, context_size=4)
    assert seen == [3, 4, 4, 4]


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.05, 0.3, 0.15]]))
    kept = lambda out: torch.isfinite(out)[0].tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == [True, False, True, False]
    assert kept(filter_logits(logits, top_p=0.5)) == [True, False, False, False]
    assert kept(filter_logits(logits, top_p=0.8)) == [True, False, True, False]
    assert kept(filter_logits(logits, top_p=0.81)) == [True, False, True, True]
    assert kept(filter_logits(logits, top_k=10)) == [True] * 4
    ids = sample_next(logits.expand(500, 4), top_k=2, generator=torch.Generator().manual_seed(0))
    assert set(ids.flatten().tolist()) <= {0, 2}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_next(torch.zeros(1, 3), temperature=-1), "temperature"),
        (lambda: filter_logits(torch.zeros(1, 3), top_k=0), "top_k"),
        (lambda: filter_logits(torch.zeros(1, 3), top_p=0.0), "top_p"),
        (lambda: generate(_model(), torch.zeros(3, dtype=torch.long), 2), r"shape \(B, T\)"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("training", [True, False])
def test_the_mode_is_restored_when_the_model_raises(training):
    class Boom(nn.Module):
        def forward(self, idx):
            raise RuntimeError("boom")

    model = Boom().train(training)
    with pytest.raises(RuntimeError, match="boom"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), 3)
    assert model.training is training
