"""Fixtures shared by the unit tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """A data folder with one good text file and one good gzip file, used via $COURSEKIT_DATA_DIR."""
    import gzip

    from coursekit.data import bundled

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "hello.txt").write_text("hello world\n", encoding="utf-8")
    with gzip.GzipFile(folder / "poem.txt.gz", "wb", mtime=0) as fh:
        fh.write("床前明月光\n".encode())
    files = {}
    for name, rel in (("hello", "hello.txt"), ("poem", "poem.txt.gz")):
        raw = (folder / rel).read_bytes()
        files[name] = {
            "path": rel,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "source": "test",
            "license": "CC0",
            "description": "test file",
        }
    (folder / "manifest.json").write_text(
        json.dumps({"format": 1, "files": files}), encoding="utf-8"
    )
    monkeypatch.setenv(bundled.DATA_DIR_ENV, str(folder))
    bundled._verified.clear()
    yield folder
    bundled._verified.clear()
