"""What chapters 06-10 need from coursekit.train: padding that is not scored, gradient accumulation,
every parameter group's learning rate, extra metrics, no host-device sync per step, and adapter
checkpoints with a non-strict load."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import coursekit.train as train_module
from coursekit.nn import RecurrentLM, RecurrentLMConfig
from coursekit.train import (
    Callback,
    Checkpoint,
    History,
    evaluate,
    lm_loss,
    load_checkpoint,
    load_weights,
    train,
)

QUIET = {"progress": False, "live_plot": False}


def _lm(seed=0, dtype=torch.float32, dropout=0.0):
    torch.manual_seed(seed)
    cfg = RecurrentLMConfig(vocab_size=9, cell="lstm", embed_dim=6, hidden_size=8, dropout=dropout)
    return RecurrentLM(cfg).to(dtype)


def _batch(step, size=8):
    g = torch.Generator().manual_seed(step)
    x = torch.randint(1, 9, (size, 6), generator=g)
    return x, torch.roll(x, -1, dims=1)


# --- ignore_index --------------------------------------------------------------------------------
def test_lm_loss_does_not_score_padding():
    model = _lm()
    x, y = _batch(0)
    y_padded = y.clone()
    y_padded[:, 4:] = 0  # padding id 0 after the first 4 targets
    with torch.no_grad():
        logits = model(x)
        expected = F.cross_entropy(logits[:, :4].flatten(0, 1), y[:, :4].flatten())
        got = lm_loss(model, (x, y_padded), ignore_index=0)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(lm_loss(model, (x, y_padded)), expected)  # default scores every id
    pad0 = functools.partial(lm_loss, ignore_index=0)
    assert evaluate(model, [(x, y_padded)], pad0) == pytest.approx(float(expected), rel=1e-6)


def test_lm_loss_keeps_float64_logits():
    model = _lm(dtype=torch.float64)
    assert lm_loss(model, _batch(0)).dtype == torch.float64


# --- gradient accumulation -----------------------------------------------------------------------
def test_accumulating_two_half_batches_equals_one_full_batch_in_float64():
    full = [_batch(s, 8) for s in range(3)]
    halves = [(x[i : i + 4], y[i : i + 4]) for x, y in full for i in (0, 4)]
    models, histories = [], []
    for batches, accumulate in ((full, 1), (halves, 2)):
        model = _lm(seed=1, dtype=torch.float64)
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        histories.append(train(model, batches, optimizer=opt, steps=3, accumulate=accumulate,
                               clip_grad_norm=0.3, **QUIET))  # fmt: skip
        models.append(model)
    a, b = (dict(m.named_parameters()) for m in models)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-12, atol=1e-12, msg=name)
    torch.testing.assert_close(histories[0].train_loss, histories[1].train_loss, rtol=1e-12, atol=0)
    torch.testing.assert_close(histories[0].grad_norm, histories[1].grad_norm, rtol=1e-12, atol=0)
    assert histories[1].step == [1, 2, 3]


def test_accumulation_feeds_a_step_function_every_micro_batch_index():
    seen = []

    def batches(i):
        seen.append(i)
        return _batch(i, 2)

    model = _lm()
    train(model, batches, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), steps=3,
          accumulate=3, **QUIET)  # fmt: skip
    assert seen == list(range(9))


def test_a_too_short_accumulation_does_not_silently_change_the_batch_size(tmp_path):
    model = _lm()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train(
        model, _batch, optimizer=opt, steps=2, accumulate=2, checkpoint=tmp_path / "a.pt", **QUIET
    )
    with pytest.raises(ValueError, match=r"written with accumulate=2.*accumulate=4"):
        train(model, _batch, optimizer=opt, steps=3, accumulate=4, checkpoint=tmp_path / "a.pt",
              resume=True, **QUIET)  # fmt: skip


# --- learning rates and extra metrics ------------------------------------------------------------
def test_every_parameter_group_has_its_learning_rate_recorded():
    model = _lm()
    groups = [
        {"params": model.embed.parameters(), "lr": 0.1},
        {
            "params": [p for n, p in model.named_parameters() if not n.startswith("embed")],
            "lr": 0.01,
        },
    ]
    opt = torch.optim.SGD(groups)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (s + 1))
    history = train(model, _batch, optimizer=opt, scheduler=sched, steps=3, **QUIET)
    expected = [[0.1, 0.01], [0.05, 0.005], [0.1 / 3, 0.01 / 3]]
    torch.testing.assert_close(history.lr_groups, expected, rtol=1e-12, atol=0)
    assert history.lr == [lr for lr, _ in history.lr_groups]  # the first group, as before


def loss_with_accuracy(model, batch):
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    return loss, {"accuracy": (logits.argmax(-1) == y).float().mean(), "tokens": y.numel()}


def test_a_loss_function_may_return_extra_metrics_for_train_and_valid():
    model = _lm()
    valid = [_batch(100 + i) for i in range(3)]
    history = train(model, _batch, loss_fn=loss_with_accuracy, optimizer=torch.optim.Adam(
        model.parameters(), lr=0.01), steps=6, accumulate=2, valid_batches=valid, eval_every=3,
        eval_fn=lambda m: {"answer": 42.0}, log_every=4, **QUIET)  # fmt: skip
    assert set(history.metrics) == {"accuracy", "tokens"}
    assert len(history.metrics["accuracy"]) == len(history.step) == 6
    assert history.metrics["tokens"] == [48.0] * 6  # the mean over a step's micro-batches
    assert all(0 <= a <= 1 for a in history.metrics["accuracy"])
    gaps = [b - a for a, b in zip([0.0, *history.seconds], history.seconds, strict=False)]
    assert history.rate("tokens") == pytest.approx([48 / g for g in gaps])
    assert history.valid_step == [3, 6]
    assert history.valid_metrics["answer"] == [42.0, 42.0]
    model.eval()
    acc = [float(loss_with_accuracy(model, b)[1]["accuracy"]) for b in valid]
    assert history.valid_metrics["accuracy"][-1] == pytest.approx(sum(acc) / 3)
    assert history.last_valid_loss == pytest.approx(evaluate(model, valid, loss_with_accuracy))


def test_history_reads_old_checkpoints_and_round_trips():
    old = {"step": [1], "train_loss": [2.0], "lr": [0.1], "grad_norm": [1.0], "seconds": [0.5],
           "valid_step": [1], "valid_loss": [2.1], "valid_seconds": [0.6]}  # fmt: skip
    h = History.from_dict(old)
    assert h.step == [1] and h.lr_groups == [[0.1]] and h.metrics == {} and h.valid_metrics == {}
    h.metrics["bleu"] = [0.3]
    again = History.from_dict(h.to_dict())
    assert again == h and again.metrics is not h.metrics


def test_a_checkpoint_from_before_these_options_still_resumes(tmp_path):
    ckpt = tmp_path / "old.pt"
    model = _lm(dropout=0.2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    full = train(model, _batch, optimizer=opt, steps=4, **QUIET)
    model = _lm(dropout=0.2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train(model, _batch, optimizer=opt, steps=2, checkpoint=ckpt, **QUIET)
    old = load_checkpoint(ckpt)  # strip what this version added
    for key in ("model_keys", "ranks"):
        del old[key]
    del old["counters"]["accumulate"], old["counters"]["world_size"], old["rng"]["generators"]
    for key in ("lr_groups", "metrics", "valid_metrics"):
        del old["history"][key]
    torch.save(old, ckpt)
    model = _lm(dropout=0.2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    resumed = train(model, _batch, optimizer=opt, steps=4, checkpoint=ckpt, resume=True, **QUIET)
    assert resumed.train_loss == full.train_loss and resumed.lr_groups == [[0.1]] * 4


# --- no host-device synchronisation every step ---------------------------------------------------
def _count_host_reads(monkeypatch):
    """Count the tensor-to-Python reads made by the package coursekit/train/ itself."""
    counts = {"n": 0}
    here = Path(train_module.__file__).parent  # the loop, the history's flush, evaluation
    for name in ("item", "tolist", "__float__", "__bool__", "__int__", "cpu", "numpy"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, **kwargs):
            if Path(sys._getframe(1).f_code.co_filename).parent == here:
                counts["n"] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return counts


@pytest.mark.parametrize(("log_every", "reads"), [(1, 12), (4, 3), (5, 3), (12, 1)])
def test_the_loss_is_read_only_when_it_is_logged(log_every, reads, monkeypatch):
    model = _lm()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    counts = _count_host_reads(monkeypatch)
    history = train(model, _batch, optimizer=opt, steps=12, log_every=log_every,
                    clip_grad_norm=1.0, **QUIET)  # fmt: skip
    assert counts["n"] == reads  # one read of all the pending steps' numbers at a time
    assert history.step == list(range(1, 13)) and len(history.train_loss) == 12
    monkeypatch.undo()
    model = _lm()
    same = train(model, _batch, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), steps=12,
                 clip_grad_norm=1.0, **QUIET)  # fmt: skip
    assert same.train_loss == history.train_loss and same.grad_norm == history.grad_norm


def test_callbacks_see_whole_logged_steps():
    lengths = []

    class Spy(Callback):
        def on_step_end(self, state):
            h = state.history
            lengths.append((len(h.step), len(h.train_loss), len(h.seconds), len(h.lr)))

    model = _lm()
    train(model, _batch, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), steps=5,
          log_every=2, callbacks=[Spy()], progress=True, live_plot=False)  # fmt: skip
    assert [n for n, *_ in lengths] == [0, 2, 2, 4, 5]
    assert all(len(set(row)) == 1 for row in lengths)


# --- adapters: trainable-only checkpoints and a non-strict load ------------------------------------
class Adapted(nn.Module):
    """A frozen 'pretrained' language model plus a small trainable adapter on its logits."""

    def __init__(self) -> None:
        super().__init__()
        self.base = _lm(seed=3)
        self.adapter = nn.Linear(9, 9)
        nn.init.zeros_(self.adapter.weight)
        self.base.requires_grad_(False)

    def forward(self, x):
        logits = self.base(x)
        return logits + self.adapter(logits)


def test_adapter_checkpoints_hold_only_the_trainable_parameters_and_resume(tmp_path):
    pretrained = tmp_path / "base.pt"
    torch.save(_lm(seed=3).state_dict(), pretrained)
    ckpt = tmp_path / "adapter.pt"

    def run(steps, resume):
        model = Adapted()
        model.base = _lm(seed=11)  # other weights: loading must replace them
        model.base.requires_grad_(False)
        loaded = load_weights(model.base, pretrained)
        assert loaded.missing == [] and loaded.unexpected == []
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
        history = train(model, _batch, optimizer=opt, steps=steps, resume=resume,
                        checkpoint=Checkpoint(ckpt, trainable_only=True), **QUIET)  # fmt: skip
        return model, history

    full_model, full = run(6, resume=False)
    saved = load_checkpoint(ckpt)["model"]
    assert sorted(saved) == ["adapter.bias", "adapter.weight"]
    ckpt.unlink()
    run(3, resume=False)
    assert load_checkpoint(ckpt)["counters"]["step"] == 3
    model = Adapted()
    model.base = _lm(seed=3)
    model.base.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    resumed = train(model, _batch, optimizer=opt, steps=6, resume=True,
                    checkpoint=Checkpoint(ckpt, trainable_only=True), **QUIET)  # fmt: skip
    assert resumed.train_loss == full.train_loss
    for name, value in full_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_load_weights_names_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "w.pt"
    weights = _lm(seed=2).state_dict()
    weights["extra.weight"] = torch.zeros(2)
    del weights["head.bias"]
    torch.save(weights, path)
    model = _lm(seed=5)
    with pytest.raises(
        ValueError, match=r"missing: head\.bias.*unexpected: extra\.weight.*strict=False"
    ):
        load_weights(model, path)
    result = load_weights(model, path, strict=False)
    assert result.missing == ["head.bias"] and result.unexpected == ["extra.weight"]
    assert "head.bias" in repr(result)
    torch.testing.assert_close(model.head.weight, weights["head.weight"])
    assert not torch.equal(model.head.bias, _lm(seed=2).head.bias)  # kept its own
    train(model, _batch, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), steps=1,
          checkpoint=tmp_path / "c.pt", **QUIET)  # fmt: skip
    assert load_weights(_lm(seed=7), tmp_path / "c.pt").missing == []  # a training checkpoint too
    bad = _lm().state_dict()
    bad["head.weight"] = torch.zeros(3, 3)
    with pytest.raises(
        ValueError, match=r"head\.weight: the file has \(3, 3\), the model \(9, 8\)"
    ):
        load_weights(_lm(), bad, strict=False)
    with pytest.raises(FileNotFoundError, match="no weights at"):
        load_weights(_lm(), tmp_path / "none.pt")
