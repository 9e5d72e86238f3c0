"""Runs that survive faults (chapters 08-10, ``python -m coursekit pretrain``): a SIGTERM noted
and answered after the checkpoint is written, and one clear error for a checkpoint or weights
file that cannot be read (damaged, truncated, or holding code).
"""

from __future__ import annotations

import pickle
import signal
import threading
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be read safely; the message names the file."""


def _torch_load(path: Path, map_location: Any, what: str) -> Any:
    """``torch.load(weights_only=True)`` with one clear error for a file it cannot read."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise _unreadable(path, what, error) from error
        raise CheckpointError(
            f"{path} holds Python objects besides tensors and plain containers; loading it could "
            f"run code, so coursekit refuses. If you trust where it came from, read it yourself "
            f"with torch.load(path, weights_only=False)."
        ) from error
    except Exception as error:  # a truncated zip, a damaged file, not a torch file at all
        raise _unreadable(path, what, error) from error


def _unreadable(path: Path, what: str, error: Exception) -> CheckpointError:
    reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    return CheckpointError(
        f"{path} is not a readable {what}: it is damaged, truncated or not a torch file "
        f"({reason}). coursekit writes checkpoints to a temporary file and renames it, so a "
        f"run it wrote and that was killed leaves the previous complete one; this file was "
        f"cut short or changed by something else. Delete it to start again from step 0, or "
        f"put back a copy."
    )


class _SigtermWatch:
    """While training: a SIGTERM only notes that it came (``received``); :meth:`close` puts the
    previous handler back and :meth:`deliver` then sends it the signal, once the checkpoint is
    written. Python handles signals in the main thread only: elsewhere this does nothing."""

    def __init__(self, enabled: bool) -> None:
        self.received, self.active, self.previous = False, False, None
        if enabled and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._note)
            self.active = True

    def _note(self, signum: int, frame: Any) -> None:
        self.received = True

    def close(self) -> None:
        if self.active:
            signal.signal(signal.SIGTERM, self.previous)
            self.active = False

    def deliver(self) -> None:
        if self.received:
            self.received = False
            signal.raise_signal(signal.SIGTERM)
