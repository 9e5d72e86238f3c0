"""An offline classroom: coursekit installs from a folder of wheels with the package index off.

`make wheelhouse` (scripts/wheelhouse.py) downloads every pinned package into one folder; a
laptop then installs from it with ``pip --no-index --find-links``. This test does the same with a
small folder built offline in seconds: coursekit's wheel from this checkout plus the pure-Python
dependencies a fresh environment lacks (tqdm, sacrebleu and its own), packed from the test
environment. torch, numpy, matplotlib and the rest are lent to the fresh venv from the test
environment (tests/_offline.py says how and why), so nothing large is installed twice. pip runs
with no index, no configuration files and a dead index URL: a wheel missing from the folder fails
the install, as the second test shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import _offline
import wheelhouse

# Already in the laptop's environment (lent): pip, and the large and compiled packages.
LENT = ["pip", "torch", "numpy", "matplotlib", "ipywidgets", "regex", "safetensors", "lxml"]
# From the folder: coursekit's wheel and these, with their dependencies the lent ones lack.
FROM_FOLDER = ["tqdm", "sacrebleu"]
# About 20 s: a fresh venv and pip installs (`-m 'not slow'` leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    root = tmp_path_factory.mktemp("classroom")
    lent = _offline.lent_site(LENT, root / "lent")
    folder = root / "wheelhouse"
    wheelhouse.coursekit_wheel(folder, "--no-build-isolation")
    for name in _offline.closure(FROM_FOLDER).keys() - lent.keys():
        _offline.wheel_from_installed(name, folder)
    python = _offline.fresh_venv(root / "venv", root / "lent")
    env = _offline.offline_pip_env(folder, root / "home")
    return python, folder, env, root


def _run(python: Path, *args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_a_missing_wheel_fails_the_install(classroom):
    python, folder, env, root = classroom
    (tqdm,) = folder.glob("tqdm-*.whl")
    hidden = root / tqdm.name
    tqdm.rename(hidden)
    try:
        proc = _run(python, "-m", "pip", "install", "coursekit", env=env, cwd=root)
    finally:
        hidden.rename(tqdm)
    assert proc.returncode != 0
    assert "tqdm" in proc.stderr and "No matching distribution" in proc.stderr, proc.stderr


def test_coursekit_installs_from_the_folder_alone(classroom):
    python, _folder, env, root = classroom
    where = "import torch, sys; print(torch.__version__, torch.__file__)"
    torch_before = _run(python, "-c", where, env=env, cwd=root)
    assert torch_before.returncode == 0, torch_before.stderr
    proc = _run(python, "-m", "pip", "install", "coursekit", env=env, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "127.0.0.1" not in proc.stdout + proc.stderr  # the dead index was never asked
    check = _run(
        python,
        "-c",
        "import coursekit, pathlib; print(pathlib.Path(coursekit.__file__).parent)",
        env=env,
        cwd=root,
    )
    assert check.returncode == 0, check.stderr
    assert Path(check.stdout.strip()).is_relative_to(root / "venv")  # the wheel, not the checkout
    doctor = _run(python, "-m", "coursekit", "doctor", env=env, cwd=root)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert _run(python, "-c", where, env=env, cwd=root).stdout == torch_before.stdout
