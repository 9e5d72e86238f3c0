"""Unsupported Python, missing torch, old torch: one clear paragraph each."""

import subprocess
import sys
import types

import pytest

from coursekit import _compat
from coursekit._compat import EnvironmentProblem, check_python, import_torch


def test_old_python_is_refused_with_the_fix():
    with pytest.raises(EnvironmentProblem) as err:
        check_python((3, 9, 18))
    assert "Python 3.10 or newer" in str(err.value) and "3.9.18" in str(err.value)
    check_python((3, 10, 0))


def test_missing_torch(monkeypatch):
    def fail(name):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(_compat.importlib, "import_module", fail)
    with pytest.raises(EnvironmentProblem) as err:
        import_torch()
    assert "PyTorch is not installed" in str(err.value) and "make lab" in str(err.value)


def test_old_torch(monkeypatch):
    monkeypatch.setattr(
        _compat.importlib,
        "import_module",
        lambda name: types.SimpleNamespace(__version__="1.13.1+cu117"),
    )
    with pytest.raises(EnvironmentProblem, match=r"PyTorch 1\.13\.1\+cu117 is too old"):
        import_torch()


def test_import_coursekit_without_torch_fails_cleanly():
    """In a fresh interpreter where torch cannot be imported, `import coursekit` says why."""
    code = "import sys; sys.modules['torch'] = None; import coursekit"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "EnvironmentProblem" in last and "PyTorch is not installed" in last


def test_require_python_script_refuses_old_python(tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "require_python.py"
    fake = tmp_path / "sitecustomize.py"
    fake.write_text("import sys\nsys.version_info = (3, 8, 10, 'final', 0)\n")
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert (
        proc.returncode != 0 and "Python 3.10 or newer" in proc.stderr and "3.8.10" in proc.stderr
    )
