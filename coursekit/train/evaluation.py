"""The language-model loss, batches moved to the device, and evaluation (chapter 03).

:func:`lm_loss` is the default ``loss_fn`` of :func:`~coursekit.train.train` and
:func:`evaluate`; :func:`move_to` is how both put a batch on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.device import autocast
from coursekit.train.distributed import _dist
from coursekit.train.history import _read

__all__ = ["evaluate", "lm_loss", "move_to"]


def lm_loss(model: nn.Module, batch: tuple[Tensor, Tensor], *, ignore_index: int = -100) -> Tensor:
    """Mean next-token cross-entropy (nats per token) of ``model(x)`` against ``y``.

    Targets equal to ``ignore_index`` (the padding id of padded batches) are not scored and do
    not count in the mean: ``loss_fn=functools.partial(lm_loss, ignore_index=pad_id)``. The
    default, -100, is torch's and scores every real id.

    Shape:
        batch ``(x, y)``: ids ``(B, T)`` each; ``model(x)`` gives logits ``(B, T, V)``.
    """
    x, y = batch
    logits = model(x)  # (B, T, V)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # the softmax in full precision under autocast
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=ignore_index)


def move_to(batch: Any, device: torch.device | str) -> Any:
    """``batch`` on ``device``: tensors, lists/tuples/named tuples/dicts of them, and any object
    with a ``.to(device)`` method (:class:`~coursekit.data.batching.Seq2SeqBatch`,
    :class:`~coursekit.data.batching.ClassificationBatch`). Anything else is left as it is.

    >>> move_to({"x": torch.zeros(2), "n": 3}, "meta")["x"].device
    device(type='meta')
    """
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a named tuple
        return type(batch)(*(move_to(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    to = getattr(batch, "to", None)
    if callable(to) and not isinstance(batch, (str, bytes)):
        return to(device)
    return batch


def _split(out: Any) -> tuple[Tensor, dict[str, Any]]:
    """A loss function's result as (loss, extras)."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        loss, extras = out
    else:
        loss, extras = out, {}
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(
            f"loss_fn must return a scalar tensor (or (loss, dict of extras)), got {shape}"
        )
    return loss, extras


def _detach(value: Any) -> Any:
    return value.detach() if isinstance(value, Tensor) else float(value)


def _evaluate(
    model: nn.Module,
    batches: Iterable,
    loss_fn: Callable,
    device: torch.device,
    across_ranks: bool = True,
    precision: str = "auto",
) -> tuple[float, dict[str, float]]:
    """Mean loss and mean extras over ``batches``, summed across DDP ranks; one host read."""
    was_training = model.training
    model.eval()
    try:
        dtype = torch.float32 if device.type == "mps" else torch.float64
        total, extras, count = torch.zeros((), dtype=dtype, device=device), {}, 0
        with torch.no_grad(), autocast(device, precision):
            for batch in batches:
                loss, more = _split(loss_fn(model, move_to(batch, device)))
                total = total + loss.detach().to(dtype)
                for name, value in more.items():
                    extras[name] = extras.get(name, 0.0) + _detach(value)
                count += 1
    finally:
        model.train(was_training)
    names = sorted(extras)
    sums = [total, count, *(extras[n] for n in names)]
    _, world = _dist()
    if world > 1 and across_ranks:
        packed = torch.stack([torch.as_tensor(s, dtype=dtype, device=device) for s in sums])
        torch.distributed.all_reduce(packed)  # the sums and counts of every rank
        sums = packed.tolist()
    else:
        sums = _read(sums)
    total, count, *values = sums
    if count == 0:
        raise ValueError("evaluate() got no batches: the validation set is empty")
    return total / count, {n: v / count for n, v in zip(names, values, strict=True)}


def evaluate(
    model: nn.Module,
    batches: Iterable,
    loss_fn: Callable[[nn.Module, Any], Tensor] = lm_loss,
    device: torch.device | str | None = None,
    across_ranks: bool = True,
    precision: str = "auto",
) -> float:
    """Mean of ``loss_fn`` over ``batches`` in eval mode (no dropout), without gradients.

    The model's mode is restored afterwards, also when ``loss_fn`` raises. Under DDP the mean is
    over every rank's batches, so every rank must call it; ``across_ranks=False`` evaluates this
    rank's batches alone (e.g. on rank 0 only, after training). ``precision`` as in
    :func:`~coursekit.train.train` (``"fp32"``: no autocast, also on CUDA).
    """
    device = torch.device(device) if device is not None else _first_param(model).device
    return _evaluate(model, batches, loss_fn, device, across_ranks, precision)[0]


def _first_param(model: nn.Module) -> Tensor:
    for p in model.parameters():
        return p
    raise ValueError(f"{type(model).__name__} has no parameters to train")
