"""Environment checks that run before anything heavy is imported.

Each failure is one paragraph: what is wrong and the command that fixes it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

__all__ = ["MIN_PYTHON", "MIN_TORCH", "EnvironmentProblem", "check_python", "import_torch"]

MIN_PYTHON = (3, 10)
MIN_TORCH = (2, 2)

_FIX = (
    "From the repository run `make lab` (or `make test`), which builds the tested environment in "
    ".venv/; on Colab run the notebook's first cell; elsewhere `pip install -U coursekit`."
)


class EnvironmentProblem(RuntimeError):
    """The Python environment cannot run the course; the message says how to fix it."""


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_python(version: tuple[int, ...] | None = None) -> None:
    """Raise :class:`EnvironmentProblem` when Python is older than :data:`MIN_PYTHON`.

    >>> check_python((3, 12, 1))
    """
    version = tuple(sys.version_info[:3]) if version is None else version
    if version[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        have = ".".join(map(str, version))
        raise EnvironmentProblem(
            f"coursekit needs Python {need} or newer, but this is Python {have}. Install a newer "
            f"Python (python.org, your package manager, or pyenv) and rebuild the environment: "
            f"`rm -rf .venv && make lab PYTHON=python3.11`."
        )


def import_torch(minimum: tuple[int, int] = MIN_TORCH) -> ModuleType:
    """Import torch, or raise :class:`EnvironmentProblem` saying how to install a usable one."""
    need = ".".join(map(str, minimum))
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        raise EnvironmentProblem(
            f"PyTorch is not installed in this Python ({sys.executable}); coursekit needs torch "
            f"{need} or newer. {_FIX} ({exc})"
        ) from None
    have = getattr(torch, "__version__", "0")
    if _version_tuple(have)[:2] < minimum:
        raise EnvironmentProblem(
            f"PyTorch {have} is too old; coursekit needs torch {need} or newer. {_FIX}"
        )
    return torch
