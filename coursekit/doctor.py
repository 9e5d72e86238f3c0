"""``python -m coursekit doctor``: is this environment ready for the course, and if not, what to do.

Chapter 00 shows the report; a learner whose chapter misbehaves runs it first.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

from coursekit._compat import MIN_PYTHON, MIN_TORCH, EnvironmentProblem, _version_tuple
from coursekit.data import bundled
from coursekit.device import THREADS_ENV, available_cores, get_device

__all__ = ["Check", "DoctorReport", "doctor"]

# Packages the chapters import; optional ones are reported but never make the report fail.
_REQUIRED = ("numpy", "matplotlib", "ipywidgets", "tqdm")
# Optional package -> what happens without it, and how to install it.
_OPTIONAL = {
    "jupyterlab": "needed to open the chapters locally; `make lab` or pip install 'coursekit[lab]'",
    "ipykernel": "runs the chapters' kernel; `make lab` or pip install 'coursekit[lab]'",
    "gensim": "chapter 01 then evaluates on WordNet only, without gensim's Word2Vec and its "
    "similarity sets; pip install 'coursekit[embeddings]'",
    "sacrebleu": "chapters 06-07 score translations with it; pip install sacrebleu",
    "tokenizers": "chapter 08 checks its BPE against Hugging Face's; pip install tokenizers",
    "safetensors": "the pretrained weights of chapters 08-09 cannot be read; pip install safetensors",
}


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, what was found, and the fix when it is not ok.

    ``optional`` marks a missing optional package: shown with ``--``, never a problem.
    """

    name: str
    ok: bool
    found: str
    fix: str = ""
    optional: bool = False


@dataclass
class DoctorReport:
    """All checks; ``ok`` is False when any required check failed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = ["coursekit doctor"]
        for c in self.checks:
            mark = "-- " if c.optional else "ok " if c.ok else "!! "
            lines.append(f"  {mark}{c.name:<{width}}  {c.found}")
            if c.fix:
                lines.append(f"     {'':<{width}}  -> {c.fix}")
        verdict = "all good" if self.ok else f"{len(self.problems)} problem(s): see the '->' lines"
        lines.append(f"Result: {verdict}.")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display
        printer.text(str(self))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _environment() -> str:
    """Which environment, without machine-specific paths (the report is stored in notebooks)."""
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        return f"virtual environment {Path(sys.prefix).name!r}"
    return "system or conda Python"


def _device_check() -> Check:
    try:
        device = get_device()
    except EnvironmentProblem as exc:
        return Check("device", False, "not usable", str(exc))
    detail = str(device)
    if device.type == "cuda":
        detail += f" ({torch.cuda.get_device_name(device)})"
    elif device.type == "cpu":
        detail += " (no CUDA or MPS accelerator found; every chapter is sized to run on a CPU)"
    return Check("device", True, detail)


def _preset_check() -> Check:
    """Which training budget the chapters pick here (coursekit.budget)."""
    from coursekit.device import PRESET_ENV, _preset_from_env, preset

    try:
        device = get_device()
    except EnvironmentProblem:  # the device check reports it
        device = torch.device("cpu")
    try:
        chosen = preset(device)
    except EnvironmentProblem as exc:
        return Check("preset", False, "not usable", str(exc))
    override = _preset_from_env() != "auto"
    why = (
        f"from ${PRESET_ENV}"
        if override
        else ("a CUDA GPU" if chosen == "large" else "no CUDA GPU")
    )
    means = (
        "chapters train longer by themselves and print how much"
        if chosen == "large"
        else "the budgets the stored outputs ran with"
    )
    return Check(
        "preset", True, f"{chosen} ({why}: {means}; set ${PRESET_ENV}=small or large to change)"
    )


def _precision_check() -> Check:
    """Which precision training uses here, and whether this CPU could do bf16 in hardware."""
    from coursekit.device import BF16_MIN_PARAMS, BF16_PAYS, cpu_bf16_support, cuda_bf16_native

    hardware = cpu_bf16_support()
    cpu = (
        f"this CPU has {hardware}: before it trains a model of {BF16_MIN_PARAMS / 1e6:g}M "
        "parameters or more, `pretrain` times a few steps of a copy in fp32 and in bf16 and "
        f"keeps bf16 if it was {BF16_PAYS:g}x faster (`make bench` compares both)"
        if hardware
        else "this CPU has no bf16 hardware (AMX-BF16 / AVX512-BF16): bf16 would be emulated, "
        "40-140x slower, so training stays in fp32"
    )
    if torch.cuda.is_available():
        gpu = "bf16" if cuda_bf16_native() else "fp32 (this card has no bf16 units)"
        return Check("precision", True, f"training on CUDA uses {gpu} autocast; {cpu}")
    return Check("precision", True, f"chapters train in fp32 here; {cpu}")


def _data_checks() -> list[Check]:
    try:
        statuses = bundled.verify_all()
        manifest = bundled.load_manifest()
    except bundled.DataFileError as exc:
        return [Check("data", False, "not found", str(exc))]
    checks = []
    for status in statuses:
        entry = manifest[status.name]
        if status.ok:
            checks.append(Check(f"data: {status.name}", True, f"{entry.size:,} bytes, sha256 ok"))
        else:
            checks.append(
                Check(f"data: {status.name}", False, status.problem, entry.rebuild_hint())
            )
    if not checks:
        checks.append(
            Check(
                "data",
                False,
                "the manifest lists no files",
                "Rebuild with `python scripts/build_data.py`.",
            )
        )
    return checks


def doctor(verbose: bool = True) -> DoctorReport:
    """Check Python, packages, device, threads and every bundled data file; print and return it."""
    report = DoctorReport()
    py = platform.python_version()
    need_py = ".".join(map(str, MIN_PYTHON))
    py_ok = sys.version_info[:2] >= MIN_PYTHON
    report.checks.append(
        Check(
            "python",
            py_ok,
            f"{py} ({_environment()})",
            ""
            if py_ok
            else f"Install Python {need_py} or newer and rebuild .venv/ (`rm -rf .venv && make lab`).",
        )
    )
    need_torch = ".".join(map(str, MIN_TORCH))
    torch_ok = _version_tuple(torch.__version__)[:2] >= MIN_TORCH
    report.checks.append(
        Check(
            "torch",
            torch_ok,
            torch.__version__,
            ""
            if torch_ok
            else f"Install torch {need_torch} or newer (`make lab` builds the tested environment).",
        )
    )
    for dist in _REQUIRED:
        v = _version(dist)
        report.checks.append(
            Check(
                dist,
                v is not None,
                v or "missing",
                "" if v else f"`pip install {dist}` (or rebuild with `make lab`).",
            )
        )
    for dist, without in _OPTIONAL.items():
        v = _version(dist)
        found = v if v else f"not installed ({without})"
        report.checks.append(Check(f"optional {dist}", True, found, optional=v is None))
    report.checks.append(_device_check())
    report.checks.append(
        Check(
            "threads",
            True,
            f"torch uses {torch.get_num_threads()} of {available_cores()} available cores (set ${THREADS_ENV} to change)",
        )
    )
    report.checks.append(_precision_check())
    report.checks.append(_preset_check())
    report.checks.extend(_data_checks())
    if verbose:
        print(report)
    return report
