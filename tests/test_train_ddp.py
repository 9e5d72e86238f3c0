"""coursekit.train under DDP: sharded data told its epoch, the unwrapped model in checkpoints, and
two gloo processes on CPU (rank-0 side effects, evaluation averaged over the ranks, one random
stream per rank)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from coursekit.data.batching import LMWindows, make_loader
from coursekit.nn import RecurrentLM, RecurrentLMConfig
from coursekit.train import evaluate, load_checkpoint, load_weights, train

QUIET = {"progress": False, "live_plot": False}
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lm(seed=0):
    torch.manual_seed(seed)
    return RecurrentLM(RecurrentLMConfig(vocab_size=7, cell="gru", embed_dim=4, hidden_size=6))


def test_train_tells_a_sharded_loader_each_epoch():
    loader = make_loader(LMWindows(torch.arange(100) % 7, 4), 4, shuffle=True, seed=1,
                         num_replicas=2, rank=0)  # fmt: skip
    first_ids = []

    def loss(model, batch):
        first_ids.append(batch[0][:, 0].tolist())
        return model(batch[0]).mean()

    model = _lm()
    train(model, loader, loss_fn=loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
          epochs=2, **QUIET)  # fmt: skip
    per_epoch = len(loader)
    expected = []
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        expected += [x[:, 0].tolist() for x, _ in loader]
    assert first_ids == expected and first_ids[:per_epoch] != first_ids[per_epoch:]


def test_a_ddp_model_is_checkpointed_unwrapped(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        model = nn.parallel.DistributedDataParallel(_lm())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        batch = (torch.arange(12).reshape(2, 6) % 7,) * 2
        train(model, [batch], optimizer=opt, steps=2, accumulate=2, checkpoint=tmp_path / "d.pt",
              valid_batches=[batch], **QUIET)  # fmt: skip
    finally:
        dist.destroy_process_group()
    saved = load_checkpoint(tmp_path / "d.pt")["model"]
    assert set(saved) == set(_lm().state_dict())  # no "module." prefix
    plain = _lm(seed=5)
    assert load_weights(plain, tmp_path / "d.pt").missing == []
    for name, value in model.module.state_dict().items():
        assert torch.equal(plain.state_dict()[name], value), name


WORKER = textwrap.dedent(
    """
    import datetime, json, sys
    import torch, torch.distributed as dist
    from torch import nn
    from coursekit.data.batching import LMWindows, make_loader
    from coursekit.nn import RecurrentLM, RecurrentLMConfig
    from coursekit.train import Callback, evaluate, train

    rank, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))  # a lone collective fails
    import os
    saves, real_replace = [], os.replace  # a checkpoint write ends with os.replace(tmp, path)
    os.replace = lambda *a: saves.append(rank) or real_replace(*a)
    torch.manual_seed(0)  # the same initial weights on both ranks (DDP also broadcasts rank 0's)
    config = RecurrentLMConfig(vocab_size=200, cell="gru", embed_dim=4, hidden_size=6, dropout=0.5)
    model = nn.parallel.DistributedDataParallel(RecurrentLM(config))
    windows = LMWindows(torch.arange(200), 6)  # 33 windows; window i starts with token 6 i
    loader = make_loader(windows, 4, shuffle=True, seed=2)  # sharded: a group of 2 is running
    valid = [windows[i : i + 4] for i in range(8 * rank, 8 * rank + 8, 4)]  # each rank its own
    seen = {"ids": []}

    class Spy(Callback):
        def on_train_start(self, state):
            seen["rand"] = torch.rand(1).item()

    def loss(m, batch):
        if m.training:  # not the evaluations
            seen["ids"] += batch[0][:, 0].tolist()
        return torch.nn.functional.cross_entropy(m(batch[0]).flatten(0, 1), batch[1].flatten())

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = train(model, loader, loss_fn=loss, optimizer=opt, steps=4, valid_batches=valid,
                    eval_every=2, seed=10, checkpoint=f"{out}/ddp.pt", checkpoint_every=2,
                    callbacks=[Spy()], progress=True, live_plot=True)
    weights = torch.cat([p.detach().flatten() for p in model.module.parameters()])
    alone = evaluate(model.module, valid, loss, across_ranks=False) if rank == 0 else None
    json.dump({"valid_loss": history.valid_loss, "alone": alone, "ids": seen["ids"], "rand": seen["rand"],
               "saves": len(saves), "weights": weights.tolist()}, open(f"{out}/{rank}.json", "w"))

    class StopAt3(Callback):
        def on_step_end(self, state):
            if state.step == 3:
                raise KeyboardInterrupt

    def again(**kw):  # the same run in a fresh model, loader and optimizer
        torch.manual_seed(0)
        model = nn.parallel.DistributedDataParallel(RecurrentLM(config))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        train(model, make_loader(windows, 4, shuffle=True, seed=2), loss_fn=loss, optimizer=opt,
              steps=4, valid_batches=valid, eval_every=2, seed=10, checkpoint=f"{out}/re.pt",
              checkpoint_every=2, progress=False, live_plot=False, **kw)
        return torch.cat([p.detach().flatten() for p in model.module.parameters()])

    full = again()  # (the Spy above drew a random number: that run is not the reference)
    try:
        again(callbacks=[StopAt3()])
    except KeyboardInterrupt:
        pass
    torch.manual_seed(1000 + rank)  # other random states than the interrupted run's
    assert torch.equal(again(resume=True), full), "the resumed run differs"

    # each rank its own time limit: they stop together, on the first step whose loss is read
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(RecurrentLM(config))
    history = train(model, make_loader(windows, 4, shuffle=True, seed=2), loss_fn=loss,
                    optimizer=torch.optim.SGD(model.parameters(), lr=0.1), steps=10, log_every=3,
                    time_limit={0: 1e-9, 1: 1e9}[rank], progress=False, live_plot=False)
    json.dump({"stopped_at": history.step[-1]}, open(f"{out}/stop{rank}.json", "w"))
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
def test_two_gloo_ranks_share_the_work_and_rank_0_writes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(r), port, str(tmp_path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in (0, 1)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    r0, r1 = (json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1))
    assert "4/4" in outputs[0][1] and "4/4" not in outputs[1][1]  # the progress bar: rank 0
    assert (r0["saves"], r1["saves"]) == (3, 0)  # steps 2 and 4 and the end, by rank 0 only
    payload = load_checkpoint(tmp_path / "ddp.pt")
    assert len(payload["ranks"]) == 2 and not any(k.startswith("module.") for k in payload["model"])
    assert r0["weights"] == r1["weights"]  # DDP kept the replicas equal
    stops = [json.loads((tmp_path / f"stop{r}.json").read_text())["stopped_at"] for r in (0, 1)]
    assert stops == [3, 3]  # rank 0's limit was at once, rank 1's never: agreed at log_every
    assert len(r0["ids"]) == len(r1["ids"]) == 16 and not set(r0["ids"]) & set(r1["ids"])
    assert (r0["rand"], r1["rand"]) == (_rand(10), _rand(11))  # seed + rank
    # the validation loss is the mean over both ranks' batches, the same on both ranks
    assert r0["valid_loss"] == r1["valid_loss"]
    torch.manual_seed(0)
    config = RecurrentLMConfig(vocab_size=200, cell="gru", embed_dim=4, hidden_size=6, dropout=0.5)
    model = RecurrentLM(config)
    nn.utils.vector_to_parameters(torch.tensor(r0["weights"]), model.parameters())
    windows = LMWindows(torch.arange(200), 6)
    every = [windows[i : i + 4] for i in range(0, 16, 4)]
    expected = sum(evaluate(model, [b]) for b in every) / 4
    assert r0["valid_loss"][-1] == pytest.approx(expected, rel=1e-6)
    alone = sum(evaluate(model, [b]) for b in every[:2]) / 2  # rank 0's batches only
    assert r0["alone"] == pytest.approx(alone, rel=1e-6)


def _rand(seed: int) -> float:
    torch.manual_seed(seed)
    return torch.rand(1).item()
