"""Colab, simulated offline: chapter 00's setup cell installs coursekit, and the chapter runs.

The failures other courses' users report most are setup cells that break on Colab, where torch
and numpy come preinstalled at versions the course does not choose (see the research notes on
recurring complaints). Here a fresh venv stands in for Colab's runtime:

- torch, numpy, matplotlib, ipywidgets, ipykernel, tqdm, regex, safetensors, lxml and pip are
  already there (lent from the test environment, as tests/_offline.py explains); what Colab
  lacks (sacrebleu and its own dependencies) and the build backend pip needs for a git install
  (hatchling and its dependencies, in pip's isolated build environment) come from a small wheel
  folder; pip has no index, no configuration files and a dead index URL, and that folder holds
  no torch or numpy, so a setup cell that tried to (re)install either would fail loudly;
- a stand-in ``google.colab`` is imported when the kernel starts, as Colab's own kernel launcher
  does, so the setup cell takes its Colab branch;
- the setup cell is the chapter's, exactly as committed. Its ``git+https://github.com/…`` URL is
  sent to this repository by git itself (``url.<local>.insteadOf``, set through git's
  environment), and git may use no protocol but ``file``: pip makes a fresh clone of the last
  commit, offline, builds the wheel and installs it, as Colab would from GitHub.

Then the whole chapter runs top to bottom in that kernel, and torch must be the same file and
version afterwards. What runs is the last commit (chapter and package both), which is what Colab
users get; uncommitted changes are not seen.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _offline

REPO = Path(__file__).resolve().parent.parent
CHAPTER = "chapters/00_setup.ipynb"
# Preinstalled on Colab (the ones the course uses), lent from the test environment.
COLAB_HAS = [
    "pip",
    "torch",
    "numpy",
    "matplotlib",
    "ipywidgets",
    "ipykernel",
    "tqdm",
    "regex",
    "safetensors",
    "lxml",
]
# Not on Colab: pip fetches them (here: from the wheel folder).
COLAB_LACKS = ["sacrebleu"]
BUILD_BACKEND = [
    "hatchling"
]  # pyproject's [build-system]; pip's isolated build sees only the folder
LAUNCHER = '''"""Stand-in for Colab's kernel launcher: google.colab is imported before the kernel starts."""
import google.colab  # noqa: F401
from ipykernel import kernelapp

kernelapp.launch_new_instance()
'''
STAND_IN = (
    '"""Stand-in for Colab\'s google.colab (tests/test_colab.py): its presence is what counts."""\n'
)
WHERE_TORCH = "import torch; print(torch.__version__, torch.__file__)"
# About 20 s: a venv, pip installs and a kernel (`-m 'not slow'` leaves it out).
pytestmark = pytest.mark.slow


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout (pip installs coursekit from a clone)")
    root = tmp_path_factory.mktemp("colab")
    lent = _offline.lent_site(COLAB_HAS, root / "lent")
    folder = root / "wheelhouse"
    wanted = (_offline.closure(COLAB_LACKS).keys() - lent.keys()) | _offline.closure(
        BUILD_BACKEND
    ).keys()
    for name in wanted:
        _offline.wheel_from_installed(name, folder)
    python = _offline.fresh_venv(root / "venv", root / "lent")
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text(STAND_IN, encoding="utf-8")
    (site / "colab_kernel_launcher.py").write_text(LAUNCHER, encoding="utf-8")

    commit = _git("rev-parse", "HEAD").strip()
    nb = nbformat.reads(_git("show", f"HEAD:{CHAPTER}"), as_version=4)
    match = re.search(r'repository = "([^"]+)"', nb.cells[1].source)
    assert match, "the setup cell should name the repository it installs from"
    env = _offline.offline_pip_env(folder, root / "home")
    env.update(
        PATH=f"{python.parent}:{env.get('PATH', '/usr/bin:/bin')}",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(root / "home" / ".gitconfig"),
        GIT_CONFIG_COUNT="2",
        GIT_CONFIG_KEY_0=f"url.{REPO.as_uri()}.insteadOf",
        GIT_CONFIG_VALUE_0=match.group(1),
        GIT_CONFIG_KEY_1="safe.directory",  # a checkout owned by another user (CI) may be cloned
        GIT_CONFIG_VALUE_1=str(REPO),
        GIT_ALLOW_PROTOCOL="file",
        GIT_TERMINAL_PROMPT="0",
        IPYTHONDIR=str(root / "home" / "ipython"),
        JUPYTER_CONFIG_DIR=str(root / "home" / "jupyter"),
        JUPYTER_DATA_DIR=str(root / "home" / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(root / "home" / "jupyter-runtime"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    (root / "home").mkdir(exist_ok=True)
    kernel = root / "share" / "jupyter" / "kernels" / "colab-sim"
    kernel.mkdir(parents=True)
    spec = {
        "argv": [str(python), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab (simulated)",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return {"root": root, "python": python, "env": env, "nb": nb, "commit": commit, "site": site}


def _run(colab, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(colab["python"]), *args],
        env=colab["env"],
        cwd=colab["root"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_reinstalling_torch_would_fail_loudly(colab):
    """The guard itself: nothing can install torch here, so a cell that tried would stop."""
    proc = _run(colab, "-m", "pip", "install", "--force-reinstall", "--no-deps", "torch")
    assert proc.returncode != 0
    assert "No matching distribution found for torch" in proc.stderr, proc.stderr


def test_chapter_00_runs_on_simulated_colab(colab, monkeypatch):
    torch_before = _run(colab, "-c", WHERE_TORCH)
    assert torch_before.returncode == 0, torch_before.stderr
    assert str(colab["root"] / "lent") in torch_before.stdout
    assert _run(colab, "-c", "import coursekit").returncode != 0  # not there before the cell

    monkeypatch.setenv("JUPYTER_PATH", str(colab["root"] / "share" / "jupyter"))
    work = colab["root"] / "content"  # Colab's working folder
    work.mkdir()
    client = NotebookClient(
        colab["nb"],
        kernel_name="colab-sim",
        timeout=300,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env=colab["env"])  # raises CellExecutionError, with the cell, on any failure
    setup_out = "".join(o.get("text", "") for o in colab["nb"].cells[1].get("outputs", []))
    assert "127.0.0.1" not in setup_out

    # The setup cell installed coursekit into the venv, from the repository's last commit ...
    (info,) = colab["site"].glob("coursekit-*.dist-info")
    direct = json.loads((info / "direct_url.json").read_text(encoding="utf-8"))
    assert direct["vcs_info"]["commit_id"] == colab["commit"]
    # ... and left torch alone: same version, same file.
    assert _run(colab, "-c", WHERE_TORCH).stdout == torch_before.stdout
    assert not list(colab["site"].glob("torch*")) and not list(colab["site"].glob("numpy*"))
