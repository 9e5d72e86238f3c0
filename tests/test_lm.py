"""coursekit.nn.lm: the recurrent language model wraps every cell; state carries across calls."""

from __future__ import annotations

import pytest
import torch

from coursekit.nn import RecurrentLM, RecurrentLMConfig


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_shape_and_state_continuation(cell):
    torch.manual_seed(0)
    model = RecurrentLM(
        RecurrentLMConfig(vocab_size=11, cell=cell, embed_dim=6, hidden_size=8, num_layers=2)
    )
    model.eval()
    idx = torch.randint(0, 11, (3, 7))
    full = model(idx)
    assert full.shape == (3, 7, 11)
    first, state = model.forward_with_state(idx[:, :4])
    rest, _ = model.forward_with_state(idx[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fused_switch_gives_the_same_logits(cell):
    torch.manual_seed(1)
    teach = RecurrentLM(
        RecurrentLMConfig(vocab_size=9, cell=cell, hidden_size=8, num_layers=2)
    ).double()
    fused = RecurrentLM(
        RecurrentLMConfig(vocab_size=9, cell=cell, hidden_size=8, num_layers=2, fused=True)
    ).double()
    fused.load_state_dict(teach.state_dict())
    idx = torch.randint(0, 9, (2, 6))
    torch.testing.assert_close(teach(idx), fused(idx), rtol=1e-10, atol=1e-12)


def test_tied_weights_share_one_matrix():
    cfg = RecurrentLMConfig(vocab_size=20, cell="gru", embed_dim=8, hidden_size=8, tie_weights=True)
    model = RecurrentLM(cfg)
    assert model.head.weight is model.embed.weight
    untied = RecurrentLM(RecurrentLMConfig(vocab_size=20, cell="gru", embed_dim=8, hidden_size=8))
    assert untied.num_parameters() - model.num_parameters() == 20 * 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cell": "transformer"}, "cell must be"),
        ({"hidden_size": 0}, "hidden_size must be a positive"),
        ({"dropout": 1.5}, "dropout"),
        ({"tie_weights": True, "embed_dim": 4, "hidden_size": 8}, "tie_weights needs"),
    ],
)
def test_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RecurrentLMConfig(vocab_size=10, **kwargs)


def test_config_is_frozen_and_input_checked():
    cfg = RecurrentLMConfig(vocab_size=10)
    with pytest.raises(AttributeError):
        cfg.hidden_size = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        RecurrentLM(cfg)(torch.zeros(5, dtype=torch.long))
