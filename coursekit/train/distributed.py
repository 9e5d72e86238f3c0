"""What the loop needs to know about DDP under ``torchrun`` (chapters 06-10).

This process's rank and the world size, a flag agreed by every rank, and the model inside its DDP
wrapper (whose weights checkpoints hold).
"""

from __future__ import annotations

import torch
from torch import nn


def _dist() -> tuple[int, int]:
    """(rank, world size) of the ``torch.distributed`` group, (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any (one synchronisation)."""
    flag_t = torch.tensor(float(flag), device=device)
    torch.distributed.all_reduce(flag_t, op=torch.distributed.ReduceOp.MAX)
    return bool(flag_t.item())


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside ``DistributedDataParallel``/``DataParallel``/``torch.compile``."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
