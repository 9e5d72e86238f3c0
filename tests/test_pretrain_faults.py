"""``python -m coursekit pretrain`` as a cluster treats it: under ``torchrun`` with two gloo
processes (the same steps as one process with the combined batch), killed with SIGKILL mid-write
and at random moments (resumes to the same weights), pre-empted with SIGTERM (saves, then ends),
and handed a damaged checkpoint (an error naming the file). Each run is a real subprocess."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from coursekit.train import CheckpointError, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "COURSEKIT_NUM_THREADS": "1",
    "COURSEKIT_DEVICE": "cpu",
    "PYTHONUNBUFFERED": "1",
}


def _args(work: Path, steps: int = 6, batch_size: int = 4, every: int = 2) -> list[str]:
    return [
        "--corpora", "shakespeare_tiny", "--vocab-size", "300", "--context-size", "32",
        "--embed-dim", "32", "--num-heads", "2", "--num-layers", "1",
        "--batch-size", str(batch_size), "--steps", str(steps), "--warmup", "2",
        "--eval-every", str(max(3, steps // 2)), "--eval-batches", "2",
        "--checkpoint-every", str(every), "--log-every", "1", "--work", str(work),
    ]  # fmt: skip


def _cli(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coursekit", "pretrain", *args],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300, **kwargs,
    )  # fmt: skip


def _weights(work: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(work / "checkpoint.pt")["model"]


def _assert_same(a: dict, b: dict, atol: float = 0.0) -> float:
    assert a.keys() == b.keys()
    worst = max((x - b[k]).abs().max().item() for k, x in a.items())
    assert worst <= atol, f"largest parameter difference {worst:.3g} > {atol:.3g}"
    return worst


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, by (steps, every): the weights every interrupted run must reach."""
    cache = {}

    def run(steps: int, every: int) -> dict[str, torch.Tensor]:
        if (steps, every) not in cache:
            work = tmp_path_factory.mktemp(f"ref{steps}-{every}")
            done = _cli(_args(work, steps, every=every))
            assert done.returncode == 0, done.stderr
            cache[steps, every] = _weights(work)
        return cache[steps, every]

    return run


def test_torchrun_two_gloo_ranks_equal_one_process_with_the_combined_batch(tmp_path):
    one = _cli(_args(tmp_path / "one", batch_size=8))
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "coursekit", "pretrain", *_args(tmp_path / "two", batch_size=4)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    worst = _assert_same(_weights(tmp_path / "one"), _weights(tmp_path / "two"), atol=1e-5)
    print(f"two gloo ranks of 4 windows vs one process of 8: largest difference {worst:.2g}")
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert results["processes"] == 2 and results["tokens_seen"] == 6 * 8 * 32
    assert two.stdout.count("step 6/6 |") == 1, "only rank 0 prints progress"
    assert not list((tmp_path / "two").glob("*.tmp"))


_KILL_MID_WRITE = textwrap.dedent(
    """
    import io, os, signal, sys
    import torch
    real_save, writes = torch.save, []

    def save(obj, f, *args, **kwargs):  # the second checkpoint: half its bytes, then SIGKILL
        if isinstance(obj, dict) and obj.get("format") == "coursekit.train/1":
            writes.append(1)
            if len(writes) == 2:
                buffer = io.BytesIO()
                real_save(obj, buffer, *args, **kwargs)
                f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *args, **kwargs)

    torch.save = save
    from coursekit.cli import main
    sys.exit(main(["pretrain", *sys.argv[1:]]))
    """
)


def test_sigkill_during_a_checkpoint_write_keeps_the_last_one_and_resume_matches(
    tmp_path, reference
):
    work = tmp_path / "w"
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_MID_WRITE, *_args(work)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert load_checkpoint(work / "checkpoint.pt")["counters"]["step"] == 2  # the first one
    half = work / "checkpoint.pt.tmp"
    assert half.is_file()
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt\.tmp is not a readable checkpoint"):
        load_checkpoint(half)
    resumed = _cli(_args(work))
    assert resumed.returncode == 0, resumed.stderr
    _assert_same(_weights(work), reference(6, 2))


def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(tmp_path, reference):
    steps, work, rng = 120, tmp_path / "w", random.Random(17)
    kills = 0
    for _ in range(6):
        run = subprocess.Popen(
            [sys.executable, "-m", "coursekit", "pretrain", *_args(work, steps, every=7)],
            cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        run.stdout.readline()  # the first line (tokenizer, text or a step): the run has started
        time.sleep(rng.uniform(0.0, 0.6))
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            kills += 1
        run.communicate(timeout=300)
        if (work / "results.json").is_file() and json.loads(
            (work / "results.json").read_text()
        ).get("finished"):
            break
    assert kills >= 1
    finished = _cli(_args(work, steps, every=7))
    assert finished.returncode == 0, finished.stderr
    _assert_same(_weights(work), reference(steps, 7))


def _sigterm_after_step_3(command: list[str]) -> tuple[int, str]:
    """Start ``command``, send SIGTERM once it reports step 3; its return code and stderr."""
    run = subprocess.Popen(
        command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in run.stdout:
        if line.startswith("step 3/"):
            run.send_signal(signal.SIGTERM)
            break
    _, err = run.communicate(timeout=300)
    return run.returncode, err


def test_sigterm_saves_a_checkpoint_then_ends_and_resume_matches(tmp_path, reference):
    steps, work = 300, tmp_path / "w"
    code, err = _sigterm_after_step_3(
        [sys.executable, "-m", "coursekit", "pretrain", *_args(work, steps, every=10**6)]
    )
    assert code == -signal.SIGTERM, err
    step = load_checkpoint(work / "checkpoint.pt")["counters"]["step"]
    assert 3 <= step < steps  # written at the signal, not by checkpoint_every
    assert f"SIGTERM: stopped after step {step}/{steps}" in err
    resumed = _cli(_args(work, steps, every=10**6))
    assert resumed.returncode == 0, resumed.stderr
    _assert_same(_weights(work), reference(steps, 10**6))


def test_a_truncated_checkpoint_is_named_not_a_torch_traceback(tmp_path):
    work = tmp_path / "w"
    assert _cli(_args(work)).returncode == 0
    path = work / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
        load_checkpoint(path)
    again = _cli(_args(work))  # the same command again resumes from it
    assert again.returncode == 2
    assert f"{path} is not a readable checkpoint" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize("name", ["tokenizer.json", "tokens.pt", "run.json"])
def test_a_damaged_work_file_is_named_with_its_fix(tmp_path, monkeypatch, capsys, name):
    from coursekit.cli import main

    monkeypatch.setenv("COURSEKIT_DEVICE", "cpu")
    work = tmp_path / "w"
    assert main(["pretrain", *_args(work, steps=2)]) == 0
    path = work / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a truncated copy
    capsys.readouterr()
    assert main(["pretrain", *_args(work, steps=2)]) == 2
    err = capsys.readouterr().err
    assert f"{path} is damaged" in err and "delete it and run the same command again" in err
    path.unlink()  # the fix it names
    assert main(["pretrain", *_args(work, steps=2)]) == 0


def test_sigterm_to_torchrun_stops_both_ranks_at_one_step_with_a_checkpoint(tmp_path):
    """torchrun passes a SIGTERM on to its workers; they agree on the step and rank 0 saves."""
    work = tmp_path / "w"
    _, err = _sigterm_after_step_3(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "coursekit", "pretrain", *_args(work, 400, every=10**6)]
    )  # fmt: skip
    counters = load_checkpoint(work / "checkpoint.pt")["counters"]
    assert counters["world_size"] == 2 and 3 <= counters["step"] < 400, err[-2000:]
    assert err.count("SIGTERM: stopped after step") == 1  # rank 0 alone says so


def _two_ranks(works: list[Path], steps: int = 6) -> list[subprocess.Popen]:
    """Ranks 0 and 1 of one group started by hand (as torchrun would, without its agent)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank, work in enumerate(works):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": "0", "WORLD_SIZE": "2",
               "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}  # fmt: skip
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "coursekit", "pretrain", *_args(work, steps, every=10**6)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    """Each process's stderr; one still running after ``timeout`` seconds is killed (a hang)."""
    errs = []
    for p in procs:
        try:
            errs.append(p.communicate(timeout=timeout)[1])
        except subprocess.TimeoutExpired:
            p.kill()
            errs.append("HUNG: " + p.communicate()[1])
    return errs


def test_a_rank_that_cannot_see_rank_0s_work_folder_stops_in_words(tmp_path):
    """Two ranks with a folder each, as two machines with a local --work would have: both stop."""
    procs = _two_ranks([tmp_path / "machine0", tmp_path / "machine1"])
    errs = _finish(procs)
    assert [p.returncode for p in procs] == [2, 2], errs
    assert all("rank(s) [1] do not see the files rank 0 wrote" in e for e in errs), errs
    assert all("every machine sees" in e and "Traceback" not in e for e in errs)
    assert not (tmp_path / "machine1" / "tokenizer.json").exists()  # rank 1 wrote nothing


def test_sigterm_to_one_rank_stops_both_without_a_hang(tmp_path):
    """A signal that reaches one rank alone (a `kill` of one process): the ranks agree on the step,
    skip the final evaluation together and save; before, the other rank evaluated and hung."""
    work = tmp_path / "w"
    procs = _two_ranks([work, work], steps=400)
    for line in procs[0].stdout:
        if line.startswith("step 3/"):
            procs[1].send_signal(signal.SIGTERM)
            break
    errs = _finish(procs)
    assert procs[1].returncode == -signal.SIGTERM and procs[0].returncode == 0, errs
    counters = load_checkpoint(work / "checkpoint.pt")["counters"]
    assert counters["world_size"] == 2 and 3 <= counters["step"] < 400, errs
    assert "SIGTERM: stopped after step" in errs[0]  # rank 0 says so, though it got no signal
