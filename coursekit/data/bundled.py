"""Bundled data files: where they are, what they should be, and a check that they are.

Every file the course ships lives in ``data/`` at the top of the repository and is listed in
``data/manifest.json`` with its size, sha256, source package and license. A wheel carries the same
folder as ``coursekit/_data``; :func:`data_dir` finds whichever is there. :func:`bundled_path` hands a
file out only after checking it, and says how to rebuild it when it is missing or damaged.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_DIR_ENV",
    "REBUILD_COMMAND",
    "BundledFile",
    "DataFileError",
    "FileStatus",
    "bundled_names",
    "bundled_path",
    "data_dir",
    "load_manifest",
    "open_bundled",
    "read_bundled_text",
    "sha256_of",
    "verify_all",
]

DATA_DIR_ENV = "COURSEKIT_DATA_DIR"
MANIFEST = "manifest.json"
REBUILD_COMMAND = "python scripts/build_data.py"

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # coursekit/


class DataFileError(RuntimeError):
    """A bundled data file is unknown, missing or damaged; the message says how to fix it."""


@dataclass(frozen=True)
class BundledFile:
    """One entry of the manifest."""

    name: str
    path: str
    sha256: str
    size: int
    source: str
    license: str
    description: str = ""

    def rebuild_hint(self) -> str:
        return (
            f"Restore it with `git checkout -- data/{self.path}` in a clone of the course, "
            f"or rebuild it with `{REBUILD_COMMAND} --only {self.name}` (maintainers; needs the "
            f"package registries), or reinstall coursekit (`pip install --force-reinstall coursekit`)."
        )


@dataclass(frozen=True)
class FileStatus:
    """The result of checking one bundled file."""

    name: str
    path: Path
    ok: bool
    problem: str = ""


def data_dir() -> Path:
    """The folder that holds ``manifest.json`` and the bundled files.

    Looks at ``$COURSEKIT_DATA_DIR``, then the copy inside an installed wheel
    (``coursekit/_data``), then ``data/`` of the repository this package was imported from.
    """
    override = os.environ.get(DATA_DIR_ENV)
    candidates = [Path(override)] if override else []
    candidates += [_PACKAGE_ROOT / "_data", _PACKAGE_ROOT.parent / "data"]
    for folder in candidates:
        if (folder / MANIFEST).is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise DataFileError(
        f"The course's data folder was not found (no {MANIFEST} in: {looked}). In a clone of the "
        f"course, restore it with `git checkout -- data`; an installed coursekit carries it inside "
        f"the package: reinstall with `pip install --force-reinstall coursekit`."
        + (
            f" ${DATA_DIR_ENV} is set to {override!r}; unset it or point it at a data folder."
            if override
            else ""
        )
    )


_manifest_cache: dict[Path, tuple[float, dict[str, BundledFile]]] = {}


def load_manifest(folder: Path | None = None) -> dict[str, BundledFile]:
    """Read ``manifest.json``: a mapping from file name to :class:`BundledFile`."""
    folder = data_dir() if folder is None else Path(folder)
    path = folder / MANIFEST
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise DataFileError(
            f"{path} is missing. Restore it with `git checkout -- data/{MANIFEST}`."
        ) from None
    cached = _manifest_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = {name: BundledFile(name=name, **fields) for name, fields in raw["files"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise DataFileError(
            f"{path} is not a valid manifest ({exc}). Restore it with `git checkout -- data/{MANIFEST}` "
            f"or rebuild it with `{REBUILD_COMMAND}`."
        ) from None
    _manifest_cache[path] = (mtime, entries)
    return entries


def bundled_names() -> list[str]:
    """Names of all bundled files, sorted."""
    return sorted(load_manifest())


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# (path, size, mtime) of files already verified in this process: each is hashed once.
_verified: set[tuple[str, int, float]] = set()


def _check(entry: BundledFile, folder: Path) -> FileStatus:
    path = folder / entry.path
    if not path.is_file():
        return FileStatus(entry.name, path, False, f"{path} is missing")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    if key in _verified:
        return FileStatus(entry.name, path, True)
    if stat.st_size != entry.size:
        return FileStatus(
            entry.name,
            path,
            False,
            f"{path} has {stat.st_size} bytes, expected {entry.size} (truncated or modified)",
        )
    actual = sha256_of(path)
    if actual != entry.sha256:
        return FileStatus(
            entry.name,
            path,
            False,
            f"{path} is corrupted: sha256 {actual[:12]}…, expected {entry.sha256[:12]}…",
        )
    _verified.add(key)
    return FileStatus(entry.name, path, True)


def bundled_path(name: str, verify: bool = True) -> Path:
    """Path of the bundled file ``name``, checked against its size and sha256.

    Raises:
        DataFileError: unknown name (the message lists the known ones), missing or corrupted file
            (the message names the file and how to restore it).
    """
    folder = data_dir()
    manifest = load_manifest(folder)
    entry = manifest.get(name)
    if entry is None:
        known = ", ".join(sorted(manifest)) or "(none)"
        raise DataFileError(f"Unknown bundled file {name!r}. Available: {known}.")
    if verify:
        status = _check(entry, folder)
        if not status.ok:
            raise DataFileError(f"Bundled file {name!r}: {status.problem}. {entry.rebuild_hint()}")
    return folder / entry.path


def open_bundled(name: str) -> io.TextIOBase:
    """Open a bundled file as UTF-8 text (``.gz`` files are decompressed on the fly)."""
    path = bundled_path(name)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_bundled_text(name: str) -> str:
    """The whole text of a bundled file."""
    with open_bundled(name) as fh:
        return fh.read()


def verify_all() -> list[FileStatus]:
    """Check every file in the manifest; used by ``python -m coursekit doctor`` and the tests."""
    folder = data_dir()
    return [_check(entry, folder) for entry in load_manifest(folder).values()]
