"""The wheel (what `pip install` and Colab get) carries the bundled data, and coursekit finds it."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("coursekit-*.whl")
    return path


def test_wheel_carries_every_bundled_file(wheel):
    manifest = json.loads((REPO / "data" / "manifest.json").read_text())
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "coursekit/_data/manifest.json" in names
        for entry in manifest["files"].values():
            assert f"coursekit/_data/{entry['path']}" in names
            assert zf.getinfo(f"coursekit/_data/{entry['path']}").file_size == entry["size"]
        assert not any(n.startswith(("tests/", "chapters/")) for n in names)


def test_installed_wheel_finds_its_data(wheel, tmp_path):
    """Unpacked like site-packages, with no repository around it: the data comes from the wheel."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = (
        "import coursekit.data.bundled as b, json; "
        "print(json.dumps([str(b.data_dir()), [s.ok for s in b.verify_all()]]))"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    folder, oks = json.loads(proc.stdout)
    assert Path(folder) == site / "coursekit" / "_data"
    assert oks and all(oks)
