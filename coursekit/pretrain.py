"""The course's own pretrained GPT: ``python -m coursekit pretrain`` (chapters 08-10).

One command trains a byte-level BPE tokenizer and a GPT on a mix of the bundled English text,
deterministically and resumably, and exports what chapter 08 shows and chapter 09 fine-tunes:

1. the text: the *train* split of each corpus in :attr:`PretrainConfig.corpora` (Shakespeare's
   plays, the World English Bible, and the WordNet glosses of chapter 09's *training* items only:
   its validation and test glosses are never read), documents joined by ``<|endoftext|>``;
2. a :class:`~coursekit.data.ByteBPETokenizer` learned from that text;
3. a :class:`~coursekit.nn.GPT` trained by :func:`coursekit.train.train` (the one loop) on random
   windows of the token stream. Batch ``i`` is drawn from a generator seeded by ``(seed, rank,
   i)``, so a run resumed from a checkpoint sees exactly the batches it would have seen;
4. the export: ``model.safetensors`` (float16 weights), ``config.json`` (the model's
   :class:`~coursekit.nn.GPTConfig`, this run's :class:`PretrainConfig` and its results),
   ``tokenizer.json`` and a model card ``README.md``. :func:`load_pretrained` reads it back.

Checkpoints (``--work DIR``, default ``.cache/pretrain``) are written every
``checkpoint_every`` steps and at the end; running the same command again resumes from the last
one (the optimizer, schedule and history included) and gives the same weights as a run that was
never stopped. Every file in ``--work`` is written to a temporary name and renamed, so a run
killed at any moment (SIGKILL included) leaves the last complete checkpoint; SIGTERM (a cluster
pre-empting the job) saves a checkpoint at the end of the current step first.

Under ``torchrun`` (``torchrun --nproc-per-node N -m coursekit pretrain ...``) the same command
trains with DistributedDataParallel: NCCL on GPUs (each process on its ``cuda:$LOCAL_RANK``),
gloo on CPUs. Each step draws one global batch of ``N * batch_size`` windows and rank ``r``
trains on its slice ``r``, so N processes take the same steps as one process with
``--batch-size N*B`` (to float round-off); rank 0 alone prints, writes the tokenizer, the
checkpoints, the results and the export.

Shapes: B batch, T context, V vocab.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from coursekit.data.bpe import ENDOFTEXT, ByteBPETokenizer
from coursekit.data.corpora import corpus_names, load_labelled, load_text
from coursekit.device import PrecisionChoice, choose_precision, get_device
from coursekit.nn._checks import check_fraction, check_int, check_positive, strict_keywords
from coursekit.nn.transformer.gpt import GPT, GPTConfig
from coursekit.train.callbacks import Callback
from coursekit.train.evaluation import lm_loss, move_to

__all__ = [
    "PretrainConfig",
    "PretrainedFiles",
    "WorkFolderError",
    "corpus_text",
    "export",
    "load_pretrained",
    "model_config",
    "pretrain",
]

# Labelled sets whose *train* split may be read as plain text (labels dropped).
_LABELLED_TEXT = {"wordnet_gloss10"}
FORMAT = "coursekit.pretrain/1"
WEIGHTS, CONFIG, TOKENIZER, CARD = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "MODEL_CARD.md",
)


@strict_keywords
@dataclass(frozen=True)
class PretrainConfig:
    """Everything a pretraining run depends on (``python -m coursekit pretrain --help`` lists
    each field as an option with this help).

    Args:
        corpora: bundled corpora whose train split makes the text: text corpora
            (``corpus_names()["text"]``) and ``wordnet_gloss10`` (its training glosses only).
        vocab_size: BPE vocabulary, the 256 bytes and ``<|endoftext|>`` included.
        context_size: T, tokens per training window (and the model's longest input).
        embed_dim, num_heads, num_layers: the GPT's width, heads and blocks.
        recipe: ``"llama"`` (RMS norm, rotary positions, SwiGLU, no biases; chapter 08 measured
            it ahead of GPT-2's at this size) or ``"gpt2"``; the output layer is tied either way.
        dropout: on embeddings, attention weights and residual branches.
        batch_size: B windows per step; steps: optimizer steps in total.
        lr: peak learning rate of AdamW; warmup: linear warm-up steps, then cosine decay to
            ``min_lr_ratio * lr``.
        weight_decay: AdamW's, on matrices only (not norms, not biases).
        clip_grad_norm: gradient-norm clipping.
        eval_every: steps between validation losses; eval_batches: batches in each.
        checkpoint_every: steps between checkpoints.
        seed: the one seed of the run (initialisation, batches).
    """

    corpora: tuple[str, ...] = ("shakespeare_complete", "bible_web", "wordnet_gloss10")
    vocab_size: int = 4096
    context_size: int = 256
    embed_dim: int = 192
    num_heads: int = 6
    num_layers: int = 6
    recipe: str = "llama"
    dropout: float = 0.0
    batch_size: int = 16
    steps: int = 2000
    lr: float = 2e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    clip_grad_norm: float = 1.0
    eval_every: int = 250
    eval_batches: int = 16
    checkpoint_every: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if isinstance(self.corpora, str) or not self.corpora:
            raise TypeError(
                f"{owner}: corpora must be a non-empty tuple of names, not {self.corpora!r}."
            )
        known = set(corpus_names()["text"]) | _LABELLED_TEXT
        unknown = [c for c in self.corpora if c not in known]
        if unknown:
            raise ValueError(f"{owner}: unknown corpora {unknown}; choose from {sorted(known)}.")
        for name in ("vocab_size", "context_size", "embed_dim", "num_heads", "num_layers",
                     "batch_size", "steps", "eval_every", "eval_batches", "checkpoint_every"):  # fmt: skip
            check_int(owner, name, getattr(self, name))
        check_int(owner, "warmup", self.warmup, minimum=0)
        check_int(owner, "seed", self.seed, minimum=0)
        if self.vocab_size < 257 + 1:
            raise ValueError(f"{owner}: vocab_size={self.vocab_size} leaves no merges: use >= 512.")
        if self.recipe not in ("llama", "gpt2"):
            raise ValueError(f"{owner}: recipe must be 'llama' or 'gpt2', got {self.recipe!r}.")
        for name in ("dropout", "min_lr_ratio"):
            check_fraction(owner, name, getattr(self, name))
        for name in ("lr", "clip_grad_norm"):
            check_positive(owner, name, getattr(self, name))
        if self.weight_decay < 0:
            raise ValueError(f"{owner}: weight_decay must be >= 0, got {self.weight_decay}.")
        model_config(self, vocab_size=self.vocab_size)  # heads vs width, rotary head width


def model_config(config: PretrainConfig, vocab_size: int) -> GPTConfig:
    """The :class:`GPTConfig` a run trains (``vocab_size`` from its tokenizer)."""
    shape = {
        "vocab_size": vocab_size,
        "context_size": config.context_size,
        "embed_dim": config.embed_dim,
        "num_heads": config.num_heads,
        "num_layers": config.num_layers,
        "dropout": config.dropout,
        "tie_weights": True,
    }
    return GPTConfig.llama(**shape) if config.recipe == "llama" else GPTConfig(**shape)


def corpus_text(name: str, split: str) -> list[str]:
    """The documents of one corpus in one split, as pretraining reads them.

    Text corpora come back as one document (plays are separated inside it); a labelled set
    gives one document per item, labels dropped, and only its train split can be read: the
    validation and test items of chapter 09 must stay unseen.
    """
    if name in _LABELLED_TEXT:
        if split != "train":
            raise ValueError(
                f"{name}'s {split} items are chapter 09's held-out examples: pretraining may read "
                "only its train split."
            )
        return [text for text, _label in load_labelled(name, "train")]
    return [load_text(name, split)]


def _documents(config: PretrainConfig, split: str) -> list[str]:
    names = (
        config.corpora
        if split == "train"
        else [c for c in config.corpora if c not in _LABELLED_TEXT]
    )
    return [doc for name in names for doc in corpus_text(name, split)]


def _token_stream(tok: ByteBPETokenizer, docs: Sequence[str]) -> Tensor:
    eos = tok.special_tokens[ENDOFTEXT]
    ids: list[int] = []
    for doc in docs:
        ids.extend(tok.encode_ordinary(doc))
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.int32)


class _Batches:
    """Batch ``i``: rank ``rank``'s slice of ``world * B`` random windows drawn from a generator
    seeded by ``(seed, i)``: stateless, so resuming at any step is exact, and ``world`` ranks of
    ``B`` windows see together exactly what one process with ``world * B`` would."""

    def __init__(
        self,
        ids: Tensor,
        batch_size: int,
        context: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        pin: bool = False,
    ) -> None:
        if len(ids) < context + 2:
            raise ValueError(
                f"the text has {len(ids)} tokens, fewer than one window of context_size={context} "
                "(+1): add corpora or lower --context-size"
            )
        self.ids, self.batch_size, self.context = ids, batch_size, context
        self.seed, self.rank, self.world, self.pin = seed, rank, world, pin
        self.offsets = torch.arange(context + 1)

    def __call__(self, i: int) -> tuple[Tensor, Tensor]:
        key = (self.seed * 1_000_003 * 1_000_000_007 + i) % (1 << 63)
        g = torch.Generator().manual_seed(key)
        n = self.batch_size * self.world
        starts = torch.randint(len(self.ids) - self.context - 1, (n,), generator=g)
        mine = starts[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        windows = self.ids[mine[:, None] + self.offsets].long()  # (B, T + 1)
        if self.pin:  # page-locked: the loop's non_blocking copy overlaps the GPU's work
            windows = windows.pin_memory()
        return windows[:, :-1], windows[:, 1:]


def _fixed_batches(ids: Tensor, config: PretrainConfig) -> list[tuple[Tensor, Tensor]]:
    draw = _Batches(ids, config.batch_size, config.context_size, seed=10**6 + config.seed)
    return [draw(i) for i in range(config.eval_batches)]


class _ProgressLine(Callback):
    """One line every ``every`` steps: step, loss, learning rate, tokens/s (for logs and
    terminals, where a redrawn bar would be unreadable)."""

    def __init__(self, every: int, tokens_per_step: int) -> None:
        self.every, self.tokens_per_step = every, tokens_per_step
        self.last: tuple[int, float] | None = None

    def on_step_end(self, state: Any) -> None:
        h = state.history
        if state.step % self.every or not h.step or h.step[-1] != state.step:
            return
        now = time.perf_counter()
        rate = ""
        if self.last is not None:
            steps, seconds = state.step - self.last[0], now - self.last[1]
            rate = f" | {steps * self.tokens_per_step / seconds:,.0f} tokens/s"
        self.last = (state.step, now)
        lr = h.lr[-1] if h.lr else float("nan")
        print(
            f"step {state.step}/{state.total_steps} | loss {h.train_loss[-1]:.3f} | lr {lr:.2e}{rate}",
            flush=True,
        )

    def on_eval_end(self, state: Any) -> None:
        h = state.history
        print(f"  valid loss {h.valid_loss[-1]:.3f} at step {h.valid_step[-1]}", flush=True)


def _optimizer(model: GPT, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW, decaying matrices only; its fused CUDA kernel (one launch for every parameter)
    when the model is on a GPU."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=fused or None)


def _atomic(path: Path, write: Any) -> None:
    """``write(tmp)`` then rename ``tmp`` to ``path``: a run killed mid-write leaves no half file
    under ``path`` (only a ``.tmp`` that the next try overwrites)."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb+") as fh:  # on disk before the rename, as a checkpoint is
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class WorkFolderError(RuntimeError):
    """A file in the work folder is damaged, or a rank cannot see the folder rank 0 writes."""


def _read(path: Path, read: Any, anew: str = "it is made anew (the checkpoint is kept)") -> Any:
    """``read(path)``, or an error that names the damaged file and the fix (``anew``: what
    deleting it does)."""
    try:
        return read(path)
    except (OSError, MemoryError):  # unreadable, not damaged: the system's own message
        raise
    except Exception as error:  # truncated, not JSON, not a tensor file, another format
        raise WorkFolderError(
            f"{path} is damaged ({type(error).__name__}: {str(error)[:200]}): delete it and run "
            f"the same command again; {anew}"
        ) from error


def _tokenizer(config: PretrainConfig, work: Path, log: Any) -> ByteBPETokenizer:
    """The run's tokenizer: read from ``work`` if an earlier try of the same run made it."""
    path = work / TOKENIZER
    if path.is_file():
        return _read(path, ByteBPETokenizer.load)
    started = time.perf_counter()
    tok = ByteBPETokenizer.train(_documents(config, "train"), vocab_size=config.vocab_size)
    _atomic(path, tok.save)
    log(f"tokenizer: {tok.vocab_size:,} tokens learned in {time.perf_counter() - started:.0f} s")
    return tok


def _streams(
    config: PretrainConfig, tok: ByteBPETokenizer, work: Path, log: Any
) -> dict[str, Tensor]:
    path = work / "tokens.pt"
    if path.is_file():
        streams = _read(path, lambda p: torch.load(p, weights_only=True))
        if isinstance(streams, dict) and {"train", "valid"} <= streams.keys():
            return streams
        raise WorkFolderError(f"{path} is not this run's encoded text: delete it and run again")
    started = time.perf_counter()
    streams = {split: _token_stream(tok, _documents(config, split)) for split in ("train", "valid")}
    _atomic(path, lambda tmp: torch.save(streams, tmp))
    log(f"text: {len(streams['train']):,} train and {len(streams['valid']):,} valid tokens, "
        f"encoded in {time.perf_counter() - started:.0f} s")  # fmt: skip
    return streams


def _run_record(config: PretrainConfig, work: Path) -> None:
    """Refuse to resume a different run in the same work folder (its checkpoint would not fit)."""
    path = work / "run.json"
    wanted = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples as JSON lists
    if path.is_file():
        saved = _read(path, lambda p: json.loads(p.read_text(encoding="utf-8")))
        changed = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
        if changed:
            raise ValueError(
                f"{work} holds a run with other settings {changed} (saved, now): pass the same "
                f"options to resume it, or another --work folder (or delete {work}) to start anew."
            )
    else:
        text = json.dumps(wanted, indent=1) + "\n"
        _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _precision(
    precision: str,
    model: GPT,
    config: PretrainConfig,
    draw: _Batches,
    device: torch.device,
    work: Path,
    rank: int,
    world: int,
    log: Any,
) -> PrecisionChoice:
    """What ``precision`` means for this run. ``"auto"`` on a CPU with bf16 hardware is
    measured (:func:`~coursekit.device.choose_precision`) on a copy of the model. On a CPU the
    choice is made once and kept in ``work`` (a resumed try trains as the run began, also on
    another machine), and rank 0's is every rank's."""
    if precision != "auto":
        return PrecisionChoice(precision, "asked for")
    if device.type != "cpu":  # nothing to measure: the same answer on every rank
        return choose_precision(lambda context: None, device, 0)
    path = work / "precision.json"  # the resumed tries keep the choice
    choice = None
    if rank == 0 and path.is_file():
        choice = _read(
            path,
            lambda p: PrecisionChoice(**json.loads(p.read_text(encoding="utf-8"))),
            "the precision is chosen anew, perhaps another than the run began with",
        )
        from coursekit.device import cpu_bf16_support  # looked up now (tests replace it)

        if choice.precision == "bf16" and cpu_bf16_support() is None:
            raise WorkFolderError(
                f"{path}: this run began in bf16 on a CPU with bf16 hardware, and this CPU has "
                "none (bf16 would be emulated, 40-140x slower). Resume it on such a CPU, or pass "
                "--precision fp32 to go on in fp32 here."
            )
    elif rank == 0:
        probe: dict[str, Any] = {}

        def step(context: Any) -> None:  # trains a copy: the run's model and optimizer wait
            if not probe:
                probe["model"] = copy.deepcopy(model)
                probe["optimizer"] = _optimizer(probe["model"], config)
                probe["batch"] = move_to(draw(0), device)
            probe["optimizer"].zero_grad(set_to_none=True)
            with context:
                loss = lm_loss(probe["model"], probe["batch"])
            loss.backward()
            probe["optimizer"].step()

        params = sum(p.numel() for p in model.parameters())
        with torch.random.fork_rng(devices=[]):  # dropout's draws: the run's stay as they were
            choice = choose_precision(step, device, params)
        probe.clear()
        text = json.dumps(dataclasses.asdict(choice), indent=1) + "\n"
        _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        if choice.fp32_seconds is not None:
            log(f"precision: {choice.precision} ({choice.why})")
    if world > 1:  # gloo: the ranks' CPUs train with rank 0's choice
        shared = [choice]
        torch.distributed.broadcast_object_list(shared, src=0)
        choice = shared[0]
    return choice


def _blind_ranks(work: Path, rank: int, world: int, device: torch.device) -> list[int]:
    """The ranks that do not see the run record and tokenizer rank 0 wrote to ``work``; every
    rank gets the same list."""
    sees = (work / "run.json").is_file() and (work / TOKENIZER).is_file()
    flags = torch.zeros(world, device=device)
    flags[rank] = float(not sees)
    torch.distributed.all_reduce(flags)
    return [r for r, blind in enumerate(flags.tolist()) if blind]


def _join_group(device: torch.device) -> tuple[int, int, bool]:
    """(rank, world size, whether this call joined the group). Under ``torchrun``
    (``$WORLD_SIZE`` > 1) join the process group: NCCL when this run trains on CUDA, gloo
    otherwise (also on a GPU machine told ``COURSEKIT_DEVICE=cpu``)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, False
    if not dist.is_available():
        raise RuntimeError(
            "torchrun started several processes, but this torch build has no torch.distributed"
        )
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), True


def pretrain(
    config: PretrainConfig,
    work: str | os.PathLike = ".cache/pretrain",
    out: str | os.PathLike | None = None,
    *,
    time_limit: float | None = None,
    log_every: int = 50,
    verbose: bool = True,
    precision: str = "auto",
    compile: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the pretraining described by ``config``; export it to ``out`` if given.

    Args:
        config: the run.
        work: folder for the tokenizer, the encoded text and the checkpoint; an existing
            checkpoint of the same run is resumed.
        out: export the finished model here (see :func:`export`).
        time_limit: stop after this many seconds (the checkpoint is written; resume later).
        log_every: print a progress line every this many steps.
        verbose: print progress.
        precision: ``"auto"``: bf16 autocast on a CUDA card with bf16 units; on a CPU with
            bf16 hardware and a model of 1M parameters or more, bf16 if a few steps of a copy,
            timed here before training, were at least 1.15x faster than fp32
            (:func:`coursekit.device.choose_precision`; kept in ``work/precision.json``);
            fp32 elsewhere. ``"fp32"`` or ``"bf16"``: that, without measuring.
        compile: train ``torch.compile(model)`` (worth it on GPUs for long runs; the first steps
            wait for the compiler). Checkpoints and the export hold the plain model either way.

    Returns:
        The results: steps done, losses (train, valid, in nats per token and bits per
        character), tokens seen, seconds, tokens/s.
    """
    device = get_device()  # under torchrun: cuda:$LOCAL_RANK
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # NCCL's collectives use the current GPU: this rank's
    rank, world, joined = _join_group(device)
    try:
        return _pretrain(
            config, Path(work), out, time_limit, log_every, verbose, rank, world, precision,
            compile, device,
        )  # fmt: skip
    finally:
        if joined:
            torch.distributed.destroy_process_group()


def _pretrain(
    config: PretrainConfig,
    work: Path,
    out: str | os.PathLike | None,
    time_limit: float | None,
    log_every: int,
    verbose: bool,
    rank: int,
    world: int,
    precision: str,
    compile: bool,
    device: torch.device,
) -> dict[str, Any]:
    from coursekit.device import configure_threads
    from coursekit.report import cpu_model
    from coursekit.train import train, warmup_cosine

    log = print if verbose and rank == 0 else (lambda *a, **k: None)
    threads = configure_threads()
    if rank == 0:  # the others read what rank 0 wrote
        work.mkdir(parents=True, exist_ok=True)
        _run_record(config, work)
        _streams(config, _tokenizer(config, work, log), work, log)
    if world > 1:
        torch.distributed.barrier()
        blind = _blind_ranks(work, rank, world, device)
        if blind:  # every rank stops, not the blind ones alone (the others would wait for them)
            raise WorkFolderError(
                f"rank(s) {blind} do not see the files rank 0 wrote to {work}: with several "
                "machines, --work must be a folder that every machine sees (NFS, Lustre, a cloud "
                "file store), or the other machines' ranks would train from scratch when rank 0 "
                "resumes"
            )
    tok = _tokenizer(config, work, log)
    streams = _streams(config, tok, work, log)
    torch.manual_seed(config.seed)
    model = GPT(model_config(config, tok.vocab_size)).to(device)
    optimizer = _optimizer(model, config)
    draw = _Batches(streams["train"], config.batch_size, config.context_size, config.seed,
                    rank, world, pin=device.type == "cuda")  # fmt: skip
    choice = _precision(precision, model, config, draw, device, work, rank, world, log)
    trained = torch.compile(model) if compile else model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trained = torch.nn.parallel.DistributedDataParallel(trained, device_ids=ids)
    tokens_per_step = config.batch_size * config.context_size * world
    history = train(
        trained,
        draw,
        optimizer=optimizer,
        steps=config.steps,
        scheduler=warmup_cosine(optimizer, config.warmup, config.steps, config.min_lr_ratio),
        clip_grad_norm=config.clip_grad_norm,
        valid_batches=_fixed_batches(streams["valid"], config),
        eval_every=config.eval_every,
        checkpoint=work / "checkpoint.pt",
        checkpoint_every=config.checkpoint_every,
        resume=True,
        time_limit=time_limit,
        callbacks=[_ProgressLine(log_every, tokens_per_step)] if verbose and rank == 0 else [],
        progress=False,
        live_plot=False,
        stop_on_sigterm=True,
        precision=choice.precision,
    )
    done = history.step[-1] if history.step else 0
    seconds = history.seconds[-1] if history.seconds else 0.0
    valid_chars = sum(len(d) + 1 for d in _documents(config, "valid"))
    tail = history.train_loss[-min(50, len(history.train_loss)) :]
    results = {
        "steps": done,
        "finished": done >= config.steps,
        "tokens_seen": done * tokens_per_step,
        "train_tokens": len(streams["train"]),
        "valid_tokens": len(streams["valid"]),
        "train_loss_last50": sum(tail) / max(1, len(tail)),
        "valid_loss": history.last_valid_loss,
        "valid_bits_per_char": history.last_valid_loss
        * len(streams["valid"])
        / valid_chars
        / math.log(2),
        "valid_curve": [
            [s, round(v, 4)] for s, v in zip(history.valid_step, history.valid_loss, strict=True)
        ],
        "seconds": round(seconds, 1),
        "tokens_per_second": round(done * tokens_per_step / seconds) if seconds else 0,
        "threads": threads,
        "processes": world,
        "device": device.type,
        "precision": precision,
        "precision_used": choice.precision,
        "precision_why": choice.why,
        "compiled": compile,
        "torch": torch.__version__,
        "machine": cpu_model(),
    }
    if rank != 0:
        return results
    text = json.dumps(results, indent=1) + "\n"
    _atomic(work / "results.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if out is not None and results["finished"]:
        export(model, tok, config, results, out)
        log(f"exported to {out}")
    elif out is not None:
        log(
            f"stopped at step {done}/{config.steps}: run the same command again to resume, then export"
        )
    return results


def _card(config: PretrainConfig, gpt: GPTConfig, results: dict[str, Any], params: int) -> str:
    corpora = ", ".join(f"`{c}`" for c in config.corpora)
    options = " ".join(
        f"--{f.name.replace('_', '-')} {','.join(v) if isinstance(v, tuple) else v}"
        for f in dataclasses.fields(config)
        if (v := getattr(config, f.name)) != f.default
    )
    options += " " if options else ""
    curve = ", ".join(f"{s}: {v:.3f}" for s, v in results["valid_curve"])
    glosses = (
        " Only the *training* glosses of chapter 09's WordNet task are in it, never its "
        "validation or test glosses."
        if "wordnet_gloss10" in config.corpora
        else ""
    )
    return f"""# The course's pretrained GPT

A small GPT ({params / 1e6:.2f} M parameters, {gpt.num_layers} blocks of width {gpt.embed_dim},
{gpt.num_heads} heads, context {gpt.context_size} tokens, recipe `{config.recipe}`) with its own
byte-level BPE tokenizer of {gpt.vocab_size:,} tokens, pretrained by `python -m coursekit
pretrain` for chapter 08 (what longer pretraining buys) and chapter 09 (fine-tuning).

- **Data**: the train split of {corpora} (bundled with the course; see data/README.md for their
  sources and licenses): {results["train_tokens"]:,} tokens.{glosses}
- **Training**: {results["steps"]:,} steps of {config.batch_size} windows of {config.context_size}
  tokens ({results["tokens_seen"]:,} tokens, {results["tokens_seen"] / results["train_tokens"]:.1f}
  passes over the text), AdamW (lr {config.lr:g}, betas 0.9/0.95, weight decay
  {config.weight_decay:g}), {config.warmup} warm-up steps then cosine decay to
  {config.min_lr_ratio:g} of the peak, gradient clipping at {config.clip_grad_norm:g}, dropout
  {config.dropout:g}, seed {config.seed}.
- **Time**: {results["seconds"] / 60:.0f} min on {results["threads"]} CPU threads
  ({results["machine"]}, torch {results["torch"]}), {results["tokens_per_second"]:,} tokens/s.
- **Losses**: train {results["train_loss_last50"]:.3f} nats/token (mean of the last 50 steps);
  validation {results["valid_loss"]:.3f} nats/token = {results["valid_bits_per_char"]:.3f} bits
  per character on the validation split of the same corpora ({results["valid_tokens"]:,}
  tokens). Validation curve (step: loss): {curve}.
- **Files**: `{WEIGHTS}` (float16; the output layer is tied to the token embedding, so only
  `tok.weight` is stored), `{CONFIG}` (the model's GPTConfig, this run's settings and results),
  `{TOKENIZER}` (coursekit's ByteBPETokenizer).
- **Load it**: `model, tokenizer = coursekit.pretrain.load_pretrained()`.
- **Rebuild it**: `python -m coursekit pretrain {options}--threads {results["threads"]} --out DIR`
  (or `python scripts/build_data.py --only course_gpt_weights`, which runs the defaults).
  The run is deterministic on one machine at the same thread count and torch version; elsewhere
  the floating-point sums run in another order, so weights and losses differ slightly.
- **Limits**: a few million tokens of 17th-century plays and a Bible translation: it writes
  plausible English of those kinds, not facts; it inherits the texts' views and biases
  (chapter 10 measures some).
"""


def export(
    model: GPT,
    tokenizer: ByteBPETokenizer,
    config: PretrainConfig,
    results: dict[str, Any],
    out: str | os.PathLike,
) -> Path:
    """Write the shipped format to the folder ``out``: float16 safetensors weights (the tied
    output layer left out), ``config.json``, ``tokenizer.json`` and the model card."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_weights:
        state.pop("head.weight")
    save_file(state, out / WEIGHTS, metadata={"format": FORMAT})
    params = sum(p.numel() for p in model.parameters())
    record = {
        "format": FORMAT,
        "model": dataclasses.asdict(model.config),
        "pretrain": dataclasses.asdict(config),
        "results": results,
        "parameters": params,
    }
    (out / CONFIG).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tokenizer.save(out / TOKENIZER)
    (out / CARD).write_text(_card(config, model.config, results, params), encoding="utf-8")
    return out


@dataclass(frozen=True)
class PretrainedFiles:
    """What :func:`load_pretrained` returns: the model (float32, eval mode), its tokenizer, and
    the run's settings and results from ``config.json``."""

    model: GPT
    tokenizer: ByteBPETokenizer
    config: PretrainConfig
    results: dict[str, Any]

    def __iter__(self):  # model, tokenizer = load_pretrained()
        return iter((self.model, self.tokenizer))


def _bundled_folder() -> Path:
    from coursekit.data.bundled import bundled_path

    paths = [bundled_path(name) for name in ("course_gpt_weights", "course_gpt_config",
                                             "course_gpt_tokenizer")]  # fmt: skip
    return paths[0].parent  # each checked against its sha256 in the manifest


def load_pretrained(path: str | os.PathLike | None = None) -> PretrainedFiles:
    """The course's pretrained GPT and its tokenizer, from ``path`` (a folder written by
    :func:`export`) or, by default, from the bundled copy in ``data/course_gpt`` (checked
    against its sha256).

    Raises:
        FileNotFoundError: a file is missing (says which, and how to rebuild).
        ValueError: the weights do not fit the config (names the missing, unexpected and
            wrongly shaped tensors), or the folder holds another format.
    """
    import gzip

    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = _bundled_folder() if path is None else Path(path)
    weights = folder / WEIGHTS
    if not weights.is_file() and weights.with_name(WEIGHTS + ".gz").is_file():
        weights = weights.with_name(WEIGHTS + ".gz")  # the bundled copy is gzip'd
    for name in (weights.name, CONFIG, TOKENIZER):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} is missing: a pretrained folder holds {WEIGHTS}, {CONFIG} and "
                f"{TOKENIZER}, as `python -m coursekit pretrain --out {folder}` writes them."
            )
    record = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    if record.get("format") != FORMAT:
        raise ValueError(
            f"{folder / CONFIG} has format {record.get('format')!r}, not {FORMAT!r}: it was not "
            "written by coursekit.pretrain.export (a Hugging Face GPT-2 folder? use "
            "coursekit.hub.load_gpt2)."
        )
    gpt_config = GPTConfig(**record["model"])
    run = record["pretrain"]
    run_config = PretrainConfig(**{**run, "corpora": tuple(run["corpora"])})
    tokenizer = ByteBPETokenizer.load(folder / TOKENIZER)
    if tokenizer.vocab_size != gpt_config.vocab_size:
        raise ValueError(
            f"{folder / TOKENIZER} has {tokenizer.vocab_size} tokens, the model "
            f"{gpt_config.vocab_size}: the two files come from different runs."
        )
    try:
        raw = weights.read_bytes()
        state = load(gzip.decompress(raw) if weights.suffix == ".gz" else raw)
    except (SafetensorError, OSError, EOFError) as error:
        raise ValueError(f"{weights} is not a readable safetensors file: {error}") from error
    model = GPT(gpt_config)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    if gpt_config.tie_weights:
        expected.pop("head.weight")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, model {tuple(expected[k])}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k]
    ]
    if missing or unexpected or shapes:
        raise ValueError(
            f"{weights} does not fit the GPT of {CONFIG}: missing {missing}, "
            f"unexpected {unexpected}, wrong shapes {shapes}. Both files must come from the "
            "same run: export again, or rebuild it (see the model card)."
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    model.eval()
    return PretrainedFiles(model, tokenizer, run_config, record["results"])
