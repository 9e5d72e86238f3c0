"""The data plumbing: find, verify, explain. Uses a temporary data folder (see conftest)."""

import json

import pytest

from coursekit.data import bundled
from coursekit.data.bundled import DataFileError


def test_good_files_load(fake_data):
    assert bundled.bundled_names() == ["hello", "poem"]
    assert bundled.read_bundled_text("hello") == "hello world\n"
    assert bundled.read_bundled_text("poem") == "床前明月光\n"  # .gz opened transparently
    assert all(s.ok for s in bundled.verify_all())


def test_unknown_name_lists_the_known_ones(fake_data):
    with pytest.raises(
        DataFileError, match=r"Unknown bundled file 'helo'\. Available: hello, poem"
    ):
        bundled.bundled_path("helo")


def test_missing_file_names_it_and_the_fix(fake_data):
    (fake_data / "hello.txt").unlink()
    with pytest.raises(DataFileError) as err:
        bundled.bundled_path("hello")
    message = str(err.value)
    assert "hello.txt is missing" in message
    assert "git checkout -- data/hello.txt" in message
    assert "python scripts/build_data.py --only hello" in message


def test_corrupted_file_same_size(fake_data):
    (fake_data / "hello.txt").write_text("HELLO WORLD\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="corrupted: sha256"):
        bundled.bundled_path("hello")


def test_truncated_file(fake_data):
    (fake_data / "hello.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(DataFileError, match="has 5 bytes, expected 12"):
        bundled.read_bundled_text("hello")
    bad = [s for s in bundled.verify_all() if not s.ok]
    assert [s.name for s in bad] == ["hello"]


def test_broken_manifest(fake_data):
    (fake_data / "manifest.json").write_text(json.dumps({"files": {"x": {"path": "x"}}}))
    with pytest.raises(DataFileError, match="not a valid manifest"):
        bundled.load_manifest()


def test_no_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(bundled.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setattr(bundled, "_PACKAGE_ROOT", tmp_path / "pkg")
    with pytest.raises(DataFileError, match="data folder was not found"):
        bundled.data_dir()


def test_every_shipped_file_matches_its_checksum(monkeypatch):
    monkeypatch.delenv(bundled.DATA_DIR_ENV, raising=False)
    statuses = bundled.verify_all()
    assert statuses, "the manifest lists no files"
    assert [s.problem for s in statuses if not s.ok] == []
    manifest = bundled.load_manifest()
    for entry in manifest.values():
        assert entry.source and entry.license, f"{entry.name}: source and license are required"


def test_verified_once_per_version_of_a_file(fake_data, monkeypatch):
    """Each file is hashed once per process, and again after it changes on disk, even when its
    path and size stay the same (the cache key holds the modification time)."""
    import os

    hashed = []
    real = bundled.sha256_of
    monkeypatch.setattr(bundled, "sha256_of", lambda p: hashed.append(p.name) or real(p))
    assert bundled.read_bundled_text("hello") == "hello world\n"
    assert bundled.read_bundled_text("hello") == "hello world\n"
    assert hashed == ["hello.txt"], "a verified, unchanged file should not be hashed again"
    path = fake_data / "hello.txt"
    before = path.stat()
    path.write_text("HELLO WORLD\n", encoding="utf-8")  # same size, same path
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    assert path.stat().st_size == before.st_size
    with pytest.raises(DataFileError, match="corrupted: sha256"):
        bundled.bundled_path("hello")
    assert hashed == ["hello.txt", "hello.txt"]
