"""The one training loop of the course: every chapter from 03 on trains its models with :func:`train`.

The loop knows nothing about any model (token ids in, logits out is the models' business; the loss
is a function you pass) and the models know nothing about it. Side effects live in callbacks: a
progress bar (tqdm, in JupyterLab and in terminals), a live loss plot (notebooks only) and a
checkpoint. It evaluates every ``eval_every`` steps, clips the gradient norm, steps a learning-rate
schedule, runs under ``coursekit.autocast`` (bf16 on CUDA) and returns a :class:`History`.

What chapters 06-10 add, all optional:

- ``accumulate=N``: N micro-batches per optimizer step (each loss scaled by 1/N), for batches
  larger than memory allows.
- ``lm_loss(..., ignore_index=pad_id)`` (with ``functools.partial``): padding is not scored.
- extra metrics: a ``loss_fn`` may return ``(loss, {"accuracy": ..., "tokens": ...})``; the extras
  land in ``History.metrics`` (per step) and ``History.valid_metrics`` (per evaluation, with what
  ``eval_fn(model) -> dict`` returns, e.g. BLEU). ``History.lr_groups`` has every parameter
  group's learning rate.
- ``log_every``: the loss and gradient norm stay on the device and are read to the host (one
  synchronisation) every ``log_every`` steps; default 1 on CPU, 10 on accelerators, so a GPU
  never waits for the host on the other steps.
- adapters: :func:`load_weights` loads pretrained weights strictly or not (and names the keys that
  did not fit); ``Checkpoint(path, trainable_only=True)`` saves only what is trained.
- DDP (``torchrun``): pass the ``DistributedDataParallel`` model and a loader from
  ``make_loader`` (it shards with a ``DistributedSampler``; the loop calls ``set_epoch``). The
  progress bar and live plot run on rank 0 only, checkpoints are written by rank 0 (every rank
  calls :func:`save_checkpoint`: it gathers each rank's random state) and hold the unwrapped
  model's weights, evaluation averages over every rank's batches (``all_reduce`` of sum and count),
  and ``seed=S`` seeds rank r with ``S + r``. A batch function should then mix the rank into its
  seed (``torch.distributed.get_rank()``).

Checkpoints hold only tensors and plain containers (``torch.load(weights_only=True)``: loading one
cannot run code) and everything a run depends on: model, optimizer, schedule, history, random
generators and the position in the data, so a resumed run reproduces the uninterrupted one exactly.

Batches come from either
- a function ``batches(i) -> batch`` of the micro-batch index ``i = step * accumulate + k``
  (the step itself when ``accumulate=1``), deterministic in ``i`` (what the chapters use); one
  that draws from a generator of its own passes it as ``generators=[g]`` so checkpoints save it;
- a re-iterable such as a list or a ``DataLoader`` (``make_loader``'s too), walked epoch after
  epoch. The loader's own generators are saved with the global ones when each epoch starts, so a
  resumed run replays the epoch it was in and skips what was used.

Where things are (every name below is importable from ``coursekit.train``):

- ``loop.py``: :func:`train`, the loop itself.
- ``history.py``: :class:`History` (what a run measured) and :class:`TrainState` (what
  callbacks see).
- ``callbacks.py``: :class:`Callback`, :class:`ProgressBar`, :class:`LivePlot`,
  :class:`Checkpoint`.
- ``checkpoint.py``: :func:`save_checkpoint`, :func:`load_checkpoint`, resuming (random
  generators, the position in the data), :func:`load_weights` and :class:`LoadedKeys`.
- ``evaluation.py``: :func:`lm_loss`, :func:`move_to`, :func:`evaluate`.
- ``schedules.py``: :func:`warmup_cosine`.
- ``checks.py``: the argument checks of :func:`train`; ``distributed.py``: ranks under DDP.
- ``faults.py``: :class:`CheckpointError` for a file that cannot be read, and the SIGTERM watch
  of ``train(stop_on_sigterm=True)``.
"""

from coursekit.train.callbacks import Callback, Checkpoint, LivePlot, ProgressBar
from coursekit.train.checkpoint import LoadedKeys, load_checkpoint, load_weights, save_checkpoint
from coursekit.train.evaluation import evaluate, lm_loss, move_to
from coursekit.train.faults import CheckpointError
from coursekit.train.history import History, TrainState
from coursekit.train.loop import train
from coursekit.train.schedules import warmup_cosine

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "History",
    "LivePlot",
    "LoadedKeys",
    "ProgressBar",
    "TrainState",
    "evaluate",
    "lm_loss",
    "load_checkpoint",
    "load_weights",
    "move_to",
    "save_checkpoint",
    "train",
    "warmup_cosine",
]
