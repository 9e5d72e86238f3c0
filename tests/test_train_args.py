"""coursekit.train refuses bad settings with a message that names the argument and the fix, and
evaluate() gives the model back in the mode it found it even when the model fails."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from coursekit.nn import RecurrentLM, RecurrentLMConfig
from coursekit.train import Callback, Checkpoint, evaluate, train

QUIET = {"progress": False, "live_plot": False}


def _batch(step: int):
    g = torch.Generator().manual_seed(step)
    x = torch.randint(0, 5, (2, 4), generator=g)
    return x, x


def _setup():
    torch.manual_seed(0)
    model = RecurrentLM(RecurrentLMConfig(vocab_size=5, cell="rnn", hidden_size=4))
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clip_grad_norm": -1.0}, r"clip_grad_norm must be a positive number.*got -1\.0"),
        ({"clip_grad_norm": 0}, r"clip_grad_norm must be a positive number.*None"),
        ({"clip_grad_norm": float("nan")}, "clip_grad_norm must be a positive number"),
        ({"clip_grad_norm": "1"}, "clip_grad_norm must be a positive number"),
        ({"steps": 0}, r"steps must be a positive whole number, got 0"),
        ({"steps": -3}, "steps must be a positive whole number"),
        ({"steps": 2.5}, "steps must be a positive whole number"),
        ({"steps": True}, "steps must be a positive whole number"),
        ({"steps": 2, "epochs": 1}, "steps or epochs, not both"),
        ({"steps": None, "epochs": 2}, "epochs=N needs a list or DataLoader"),
        ({"eval_every": 0, "valid_batches": [_batch(0)]}, "eval_every must be a positive"),
        ({"eval_every": 5}, "eval_every=5 needs valid_batches"),
        ({"checkpoint_every": 0, "checkpoint": "x.pt"}, "checkpoint_every must be a positive"),
        ({"checkpoint_every": 5}, "checkpoint_every=5 needs checkpoint=PATH"),
        ({"time_limit": 0}, "time_limit must be a positive number of seconds"),
        ({"time_limit": -1.0}, "time_limit must be a positive number of seconds"),
        ({"accumulate": 0}, "accumulate must be a positive whole number"),
        ({"accumulate": 1.5}, "accumulate must be a positive whole number"),
        ({"log_every": 0}, "log_every must be a positive whole number"),
        ({"seed": "0"}, "seed must be a whole number"),
        ({"resume": "yes"}, "resume must be True or False"),
        ({"progress": None}, "progress must be True or False"),
        ({"live_plot": 1}, "live_plot must be True or False"),
        ({"optimizer": "adam"}, "optimizer must be a torch.optim.Optimizer"),
        ({"loss_fn": "mse"}, "loss_fn must be a function"),
        ({"scheduler": 3}, r"scheduler must be a learning-rate schedule.*\.step\(\)"),
        ({"callbacks": Callback()}, r"callbacks must be a list of Callback"),
        ({"callbacks": [print]}, r"callbacks must be a list of Callback"),
        ({"device": "gpu0"}, "device 'gpu0' is not a device"),
        ({"generators": [1]}, "generators must be torch.Generator"),
        ({"eval_fn": 3, "valid_batches": [_batch(0)]}, "eval_fn must be a function"),
        ({"valid_batches": 3}, "valid_batches must be a list"),
        ({"valid_batches": iter([_batch(0)])}, "valid_batches must be a list"),
        ({"checkpoint": 3}, "checkpoint must be a file path or a Checkpoint"),
    ],
)
def test_every_bad_setting_is_refused_with_a_clear_message(kwargs, message, tmp_path):
    model, opt = _setup()
    kwargs = {"optimizer": opt, "steps": 2, **kwargs}
    if isinstance(kwargs.get("checkpoint"), str):
        kwargs["checkpoint"] = tmp_path / kwargs["checkpoint"]
    with pytest.raises((ValueError, TypeError), match=message):
        train(model, _batch, **{**QUIET, **kwargs})


def test_bad_models_and_batch_sources_are_refused():
    model, opt = _setup()
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        train(lambda x: x, _batch, optimizer=opt, steps=1, **QUIET)
    with pytest.raises(ValueError, match="no parameter that requires a gradient"):
        train(nn.ReLU(), _batch, optimizer=opt, steps=1, **QUIET)
    with pytest.raises(TypeError, match="train_batches must be a function"):
        train(model, 42, optimizer=opt, steps=1, **QUIET)
    with pytest.raises(TypeError, match="iterator, which can be walked only once"):
        train(model, iter([_batch(0)]), optimizer=opt, steps=1, **QUIET)
    with pytest.raises(ValueError, match="train_batches gave no batches"):
        train(model, [], optimizer=opt, steps=1, **QUIET)  # once looped for ever
    with pytest.raises(ValueError, match=r"epochs=1 of 1 batch.*accumulate=2"):
        train(model, [_batch(0)], optimizer=opt, epochs=1, accumulate=2, **QUIET)
    with pytest.raises(ValueError, match="every must be a positive whole number"):
        Checkpoint("x.pt", every=0)
    other = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="optimizer does not hold any of the model's parameters"):
        train(model, _batch, optimizer=other, steps=1, **QUIET)


class Boom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        raise RuntimeError("boom")


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_the_mode_when_the_model_raises(training):
    model = Boom().train(training)
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(model, [(torch.zeros(1, 2, dtype=torch.long),) * 2])
    assert model.training is training
