"""coursekit.train: the loop learns, clips, schedules, evaluates, and resumes bit-for-bit from
every batch source the chapters use (the clock carrying on from where it stopped)."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch.utils.data import DataLoader

from coursekit.data.batching import LMWindows, make_loader, random_lm_batch
from coursekit.nn import RecurrentLM, RecurrentLMConfig
from coursekit.train import (
    Callback,
    History,
    ProgressBar,
    evaluate,
    lm_loss,
    load_checkpoint,
    train,
    warmup_cosine,
)

QUIET = {"progress": False, "live_plot": False}
TEXT = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 40)  # a cycle: every next token is predictable


def batches(step: int, batch: int = 8, steps: int = 12):
    """A random window batch for ``step``, deterministic in ``step``."""
    gen = torch.Generator().manual_seed(1000 + step)
    start = torch.randint(0, len(TEXT) - steps - 1, (batch, 1), generator=gen)
    pos = start + torch.arange(steps + 1)  # (B, T+1)
    return TEXT[pos[:, :-1]], TEXT[pos[:, 1:]]


VALID = [batches(10_000 + i) for i in range(2)]


def _setup(seed: int = 0, dropout: float = 0.2, total: int = 20):
    torch.manual_seed(seed)
    model = RecurrentLM(
        RecurrentLMConfig(vocab_size=8, cell="gru", embed_dim=8, hidden_size=16, dropout=dropout)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, opt, warmup_cosine(opt, warmup=3, total=total)


def test_learns_a_predictable_sequence_and_reports_history():
    model, opt, sched = _setup(dropout=0.0, total=60)
    history = train(
        model, batches, optimizer=opt, scheduler=sched, steps=60, valid_batches=VALID,
        eval_every=20, clip_grad_norm=1.0, **QUIET,
    )  # fmt: skip
    assert history.step == list(range(1, 61))
    assert history.valid_step == [20, 40, 60]
    assert history.valid_loss[0] > history.valid_loss[-1]
    assert history.last_valid_loss < 0.2 < math.log(8)  # the uniform guess costs log 8 = 2.08
    assert history.last_valid_loss == pytest.approx(evaluate(model, VALID))
    assert len(history.lr) == len(history.grad_norm) == len(history.seconds) == 60
    assert history.lr[0] == pytest.approx(1e-2 / 3)  # the warm-up's first step
    assert all(b >= a for a, b in zip(history.seconds, history.seconds[1:], strict=False))
    assert "60 steps" in repr(history)
    assert not model.training


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = RecurrentLM(RecurrentLMConfig(vocab_size=8, cell="rnn", hidden_size=8))
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train(model, batches, optimizer=opt, steps=1, clip_grad_norm=1e-3, **QUIET)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert history.grad_norm[0] > 1e-3  # recorded before clipping
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)


class StopAt(Callback):
    """Simulates an interruption: raises (like Ctrl-C) once ``step`` is done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state) -> None:
        if state.step == self.step:
            raise KeyboardInterrupt


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resumed_run_reproduces_the_uninterrupted_one(tmp_path):
    kw = {"steps": 20, "valid_batches": VALID, "eval_every": 5, "clip_grad_norm": 0.5, **QUIET}
    model, opt, sched = _setup()
    full = train(model, batches, optimizer=opt, scheduler=sched, **kw)
    expected = _params(model)

    ckpt = tmp_path / "run.pt"
    model, opt, sched = _setup()
    with pytest.raises(KeyboardInterrupt):  # dies at step 13; the last checkpoint is step 10
        train(model, batches, optimizer=opt, scheduler=sched, checkpoint=ckpt,
              checkpoint_every=5, callbacks=[StopAt(13)], **kw)  # fmt: skip
    assert load_checkpoint(ckpt)["counters"]["step"] == 10
    torch.manual_seed(999)  # a fresh process would have other generator states
    model, opt, sched = _setup(seed=123)  # and other initial weights
    resumed = train(model, batches, optimizer=opt, scheduler=sched, checkpoint=ckpt,
                    resume=True, **kw)  # fmt: skip
    for name, value in expected.items():
        assert torch.equal(model.state_dict()[name], value), name
    assert resumed.train_loss == full.train_loss
    assert resumed.valid_loss == full.valid_loss
    assert resumed.lr == full.lr


def test_checkpoint_loading_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "coursekit.train/1", "payload": History()}, path)  # a class instance
    with pytest.raises(ValueError, match=r"holds Python objects besides tensors.*could run code"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"something": 1}, path)
    with pytest.raises(ValueError, match="not a coursekit training checkpoint"):
        load_checkpoint(path)


def test_time_limit_and_stop_flag():
    model, opt, _ = _setup()
    history = train(model, batches, optimizer=opt, steps=10_000, time_limit=0.3, **QUIET)
    assert 0 < len(history.step) < 10_000 and history.seconds[-1] >= 0.3

    class Stop(Callback):
        def on_step_end(self, state):
            state.stop = state.step >= 3

    model, opt, _ = _setup()
    assert train(model, batches, optimizer=opt, steps=50, callbacks=[Stop()], **QUIET).step[-1] == 3


def test_callbacks_see_every_event_and_progress_bar_runs(capsys):
    events = []

    class Spy(Callback):
        def on_train_start(self, state):
            events.append("start")

        def on_step_end(self, state):
            events.append(state.step)

        def on_eval_end(self, state):
            events.append("eval")

        def on_train_end(self, state):
            events.append("end")

    model, opt, _ = _setup()
    train(model, batches, optimizer=opt, steps=4, valid_batches=VALID, eval_every=2,
          callbacks=[Spy()], progress=True, live_plot=True)  # fmt: skip
    assert events == ["start", 1, "eval", 2, 3, "eval", 4, "end"]
    assert "4/4" in capsys.readouterr().err
    assert isinstance(ProgressBar().desc, str)


def test_bad_arguments_say_what_to_do(tmp_path):
    model, opt, _ = _setup()
    with pytest.raises(ValueError, match="say how long to train"):
        train(model, batches, optimizer=opt, **QUIET)
    with pytest.raises(ValueError, match="needs checkpoint=PATH"):
        train(model, batches, optimizer=opt, steps=2, resume=True, **QUIET)
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])
    assert lm_loss(model, batches(0)).dim() == 0


def test_resume_without_a_file_starts_fresh(tmp_path, capsys):
    model, opt, _ = _setup()
    history = train(model, batches, optimizer=opt, steps=2, checkpoint=tmp_path / "new.pt",
                    resume=True, **QUIET)  # fmt: skip
    assert "starting from step 0" in capsys.readouterr().out
    assert history.step == [1, 2] and (tmp_path / "new.pt").is_file()


# --- exact resume from every batch source, and the clock ---------------------------------------
IDS = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 30) * 3 % 11  # a cycle over 8 of 11 ids
WINDOWS = LMWindows(IDS, seq_len=10)  # 23 windows: 5 batches of 5 (the last has 3) per epoch


def _model(seed: int):
    torch.manual_seed(seed)
    model = RecurrentLM(
        RecurrentLMConfig(vocab_size=11, cell="gru", embed_dim=8, hidden_size=12, dropout=0.3)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, opt, warmup_cosine(opt, warmup=2, total=12)


def _source(kind: str):
    """A fresh batch source of each kind, as a new process would build it: (batches, generators)."""
    if kind == "make_loader":
        return make_loader(WINDOWS, 5, shuffle=True, seed=3), ()
    if kind == "sharded":  # rank 1 of 2 under DDP: a DistributedSampler told each epoch
        return make_loader(WINDOWS, 3, shuffle=True, seed=3, num_replicas=2, rank=1), ()
    if kind == "dataloader":
        return DataLoader(WINDOWS, batch_size=5, shuffle=True), ()
    if kind == "list":
        return [WINDOWS[i : i + 4] for i in range(0, 20, 4)], ()
    if kind == "function":  # deterministic in the step, as the chapters write it
        return (lambda step: random_lm_batch(IDS, 4, 10, torch.Generator().manual_seed(step))), ()
    gen = torch.Generator().manual_seed(5)  # "shared_generator": one generator for the whole run
    return (lambda step: random_lm_batch(IDS, 4, 10, gen)), (gen,)


@pytest.mark.parametrize(
    "kind", ["make_loader", "dataloader", "list", "function", "shared_generator"]
)
def test_interrupted_at_step_7_and_resumed_equals_the_uninterrupted_run(kind, tmp_path):
    def run(stop: int | None, seed: int, resume: bool):
        model, opt, sched = _model(seed)
        batches, gens = _source(kind)
        extra = {"generators": gens} if gens else {}
        history = train(model, batches, optimizer=opt, scheduler=sched, steps=12,
                        checkpoint=tmp_path / "run.pt", checkpoint_every=1, resume=resume,
                        callbacks=[StopAt(stop)] if stop else [], **extra, **QUIET)  # fmt: skip
        return model, history

    torch.manual_seed(0)
    full_model, full = run(None, seed=0, resume=False)
    (tmp_path / "run.pt").unlink()
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        run(7, seed=0, resume=False)  # in the middle of the second epoch for the iterables
    assert load_checkpoint(tmp_path / "run.pt")["counters"]["step"] == 7
    torch.manual_seed(1234)  # a fresh process: other generator states, other initial weights
    model, resumed = run(None, seed=99, resume=True)
    assert resumed.step == full.step == list(range(1, 13))
    assert resumed.train_loss == full.train_loss
    assert resumed.grad_norm == full.grad_norm
    for name, value in full_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


class Slow(Callback):
    """Makes every step of the first run take at least 40 ms."""

    def on_step_end(self, state) -> None:
        time.sleep(0.04)


def test_the_clock_continues_from_where_the_interrupted_run_stopped(tmp_path):
    ckpt = tmp_path / "clock.pt"
    batches = _source("function")[0]
    model, opt, _ = _model(0)
    with pytest.raises(KeyboardInterrupt):
        train(model, batches, optimizer=opt, steps=12, checkpoint=ckpt, checkpoint_every=1,
              callbacks=[Slow(), StopAt(7)], **QUIET)  # fmt: skip
    before = load_checkpoint(ckpt)["history"]["seconds"]
    assert len(before) == 7 and before[-1] >= 6 * 0.04
    time.sleep(0.3)  # the time between the crash and the restart is not training time
    model, opt, _ = _model(0)
    history = train(model, batches, optimizer=opt, steps=12, checkpoint=ckpt, resume=True,
                    time_limit=100.0, **QUIET)  # fmt: skip
    assert history.seconds[:7] == before
    assert all(b >= a for a, b in zip(history.seconds, history.seconds[1:], strict=False))
    assert history.seconds[7] - before[-1] < 0.25  # one quick step later, not the 0.3 s pause


def test_each_epoch_starts_one_iterator_and_no_more():
    """iter() of a DataLoader starts its workers and draws from its generator: once per epoch."""

    class Counted(list):
        starts = 0

        def __iter__(self):
            Counted.starts += 1
            return super().__iter__()

    model, opt, _ = _setup()
    train(model, Counted([batches(0), batches(1)]), optimizer=opt, epochs=3, **QUIET)
    assert Counted.starts == 3
