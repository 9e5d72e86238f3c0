"""The exercise pattern used by every chapter (introduced in chapter 00).

A learner fills in a function in a cell tagged ``solution`` (the course's edition holds the reference
solution between ``# BEGIN SOLUTION`` and ``# END SOLUTION``; the student edition has
``raise NotImplementedError`` there). The next cell calls a checker, written like this::

    def check_softmax(softmax) -> ExerciseResult:
        with Exercise("00.1 softmax") as ex:
            out = ex.call(softmax, torch.tensor([[1.0, 2.0, 3.0]]))
            ex.check_shape(out, (1, 3))
            ex.check_close(out, expected, "values differ from torch.softmax")
        return ex.result

``ex.call`` runs the learner's code: ``NotImplementedError`` means "not attempted yet" and any other
exception becomes feedback. Each ``check*`` stops the exercise at the first failure, with its
message. Leaving the ``with`` block prints the verdict; nothing is raised, so a student edition runs
top to bottom. With ``COURSEKIT_STRICT_EXERCISES=1`` (the test run) anything but a pass raises, so CI
proves that every reference solution passes its checker.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["STRICT_ENV", "Exercise", "ExerciseFailed", "ExerciseResult"]

STRICT_ENV = "COURSEKIT_STRICT_EXERCISES"

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
# Text symbols that the common fonts have (DejaVu, which JupyterLab's monospace falls back to on
# Linux, as well as macOS's and Windows' symbol fonts): the emoji ✅ ❌ ✏️ render as empty boxes on
# machines without an emoji font.
_ICONS = {PASSED: "✔", FAILED: "✘", NOT_ATTEMPTED: "✎"}


class ExerciseFailed(AssertionError):
    """Raised in strict mode when an exercise does not pass."""


class _Stop(Exception):
    """Internal: ends the ``with`` block at the first failed check."""


@dataclass
class ExerciseResult:
    """The verdict: ``status`` is ``"passed"``, ``"failed"`` or ``"not attempted"``."""

    title: str
    status: str = PASSED
    message: str = ""
    checks_passed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        icon = _ICONS[self.status]
        if self.status == PASSED:
            return f"{icon} {self.title}: passed ({self.checks_passed} checks)."
        if self.status == NOT_ATTEMPTED:
            return f"{icon} {self.title}: not attempted yet. {self.message}".rstrip()
        return f"{icon} {self.title}: not yet right ({self.checks_passed} checks passed before this one).\n   {self.message}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


class Exercise:
    """Context manager that runs one exercise's checks; see the module docstring."""

    def __init__(self, title: str, *, strict: bool | None = None, verbose: bool = True) -> None:
        self.result = ExerciseResult(title)
        self.strict = os.environ.get(STRICT_ENV, "") not in ("", "0") if strict is None else strict
        self.verbose = verbose

    def __enter__(self) -> Exercise:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and not issubclass(exc_type, _Stop):
            # A bug in a checker, not in the learner's answer: let it surface.
            return False
        if self.verbose:
            print(self.result)
        if self.strict and not self.result.passed:
            raise ExerciseFailed(str(self.result))
        return True

    # -- outcomes ------------------------------------------------------------------------------
    def _stop(self, status: str, message: str) -> None:
        self.result.status = status
        self.result.message = message
        raise _Stop

    def fail(self, message: str) -> None:
        """Record a failure with ``message`` and end the exercise."""
        self._stop(FAILED, message)

    # -- running the learner's code ----------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the learner's ``fn``; turn what can go wrong into feedback."""
        name = getattr(fn, "__name__", "your function")
        if not callable(fn):
            self.fail(
                f"expected a function, got {type(fn).__name__}: define it with `def ...` and pass its name."
            )
        try:
            out = fn(*args, **kwargs)
        except NotImplementedError as exc:
            # The stub that raised may be another exercise's function that this one calls.
            stub = traceback.extract_tb(exc.__traceback__)[-1].name
            where = f"`{name}`"
            if stub not in (name, "<lambda>", "<module>"):
                where = f"`{stub}` (which `{name}` calls)"
            hint = f"Replace `raise NotImplementedError` in {where} with your code, then run this cell again."
            self._stop(NOT_ATTEMPTED, hint)
        except Exception as exc:  # the learner's bug: report it, don't crash the notebook
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.fail(
                f"`{name}` raised {type(exc).__name__}: {exc} (at line {where.lineno}: `{(where.line or '').strip()}`)."
            )
        if out is None or out is Ellipsis:
            self.fail(f"`{name}` returned {out!r}: did you forget the `return` statement?")
        self.result.checks_passed += 1
        return out

    # -- checks --------------------------------------------------------------------------------
    def check(self, condition: bool, message: str) -> None:
        """Fail with ``message`` unless ``condition`` holds."""
        if not condition:
            self.fail(message)
        self.result.checks_passed += 1

    def check_type(
        self, value: Any, kind: type | tuple[type, ...], what: str = "the result"
    ) -> None:
        """Fail unless ``value`` is an instance of ``kind``."""
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        self.check(
            isinstance(value, kind), f"{what} should be a {names}, got {type(value).__name__}."
        )

    def check_shape(self, value: Any, shape: Sequence[int], what: str = "the result") -> None:
        """Fail unless ``value`` is a tensor/array of exactly ``shape``."""
        actual = getattr(value, "shape", None)
        if actual is None:
            self.fail(
                f"{what} should be a tensor of shape {tuple(shape)}, got a {type(value).__name__}."
            )
        self.check(
            tuple(actual) == tuple(shape),
            f"{what} should have shape {tuple(shape)}, got {tuple(actual)}.",
        )

    def check_close(
        self,
        actual: Any,
        expected: Any,
        message: str,
        *,
        rtol: float = 1e-5,
        atol: float = 1e-6,
        what: str = "the result",
    ) -> None:
        """Fail unless ``actual`` equals ``expected`` within tolerance (shape first, then values).

        The message is followed by where the largest difference is and how big it is.
        """
        try:
            a = torch.as_tensor(actual, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            self.fail(
                f"{what} should be numbers (a tensor or list), got a {type(actual).__name__}."
            )
        b = torch.as_tensor(expected, dtype=torch.float64)
        if a.shape != b.shape:
            self.fail(f"{what} should have shape {tuple(b.shape)}, got {tuple(a.shape)}.")
        if not bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all()):
            self.fail(f"{message}: {what} contains inf or nan where the answer is finite.")
        if not torch.allclose(a, b, rtol=rtol, atol=atol):
            diff = (a - b).abs()
            worst = int(diff.argmax())
            index = (
                tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), a.shape))
                if a.dim()
                else ()
            )
            self.fail(
                f"{message}: largest difference {float(diff.max()):.3g} at index {index} "
                f"(yours {float(a.flatten()[worst]):.6g}, expected {float(b.flatten()[worst]):.6g})."
            )
        self.result.checks_passed += 1
