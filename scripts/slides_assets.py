"""Fetch the slide decks' browser libraries once: reveal.js and MathJax from the npm registry.

``make slides-assets`` (a prerequisite of ``make slides`` and ``make browser-test``) runs this.
Each package in ``scripts/slides_assets.json`` is the registry's tarball at an exact version,
downloaded over HTTPS with the standard library (no ``npm`` needed), checked against the pinned
sha256 and the registry's own sha512 ``integrity``, and only its listed files are unpacked into
``.cache/slides-assets/<name>/`` (git-ignored). A ``.stamp`` there records what was unpacked; a
later run with the same pins and files does nothing and needs no network, so decks build offline.

Usage::

    python scripts/slides_assets.py              # fetch what is missing (the make target)
    python scripts/slides_assets.py --check      # exit 1 if the cache is missing or stale
    python scripts/slides_assets.py --dest DIR   # another cache folder
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = Path(__file__).resolve().with_suffix(".json")
DEFAULT_DEST = ROOT / ".cache" / "slides-assets"
STAMP = ".stamp"


def load_pins(path: Path = PINS) -> dict[str, dict]:
    return json.loads(path.read_text(encoding="utf-8"))["packages"]


def _stamp_text(pins: dict[str, dict]) -> str:
    return json.dumps(pins, sort_keys=True) + "\n"


def is_current(dest: Path, pins: dict[str, dict] | None = None) -> bool:
    """True when ``dest`` holds exactly what the pins describe (a finished earlier fetch)."""
    pins = load_pins() if pins is None else pins
    stamp = dest / STAMP
    return stamp.is_file() and stamp.read_text(encoding="utf-8") == _stamp_text(pins)


def verify(name: str, spec: dict, payload: bytes) -> None:
    """Raise SystemExit unless ``payload`` matches both pinned checksums."""
    sha256 = hashlib.sha256(payload).hexdigest()
    sha512 = "sha512-" + base64.b64encode(hashlib.sha512(payload).digest()).decode("ascii")
    if sha256 != spec["sha256"] or sha512 != spec["sha512"]:
        raise SystemExit(
            f"{name}@{spec['version']} from {spec['url']}: got sha256 {sha256} and {sha512}, "
            f"expected {spec['sha256']} and {spec['sha512']} (scripts/slides_assets.json). "
            "The registry served different bytes; do not use them."
        )


def _wanted(member: str, files: list[str]) -> str | None:
    """The member's path inside the package if it is listed (a file, or under a listed folder/)."""
    if not member.startswith("package/"):
        return None
    rel = member[len("package/") :]
    for entry in files:
        if rel == entry or (entry.endswith("/") and rel.startswith(entry)):
            return rel
    return None


def unpack(payload: bytes, files: list[str], target: Path) -> int:
    """Write the listed files of an npm tarball under ``target``; returns how many were written."""
    count = 0
    seen: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
        for member in archive.getmembers():
            rel = _wanted(member.name, files)
            if rel is None or not member.isfile() or ".." in Path(rel).parts:
                continue
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.extractfile(member).read())
            seen.add(rel)
            count += 1
    missing = [f for f in files if not any(s == f or s.startswith(f) for s in seen)]
    if missing:
        raise SystemExit(f"{target.name}: the tarball has no {missing}")
    return count


def fetch(dest: Path = DEFAULT_DEST, timeout: float = 120.0) -> Path:
    """Make ``dest`` hold every pinned package's listed files; download only when it does not."""
    pins = load_pins()
    if is_current(dest, pins):
        return dest
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, spec in pins.items():
        print(f"fetching {name}@{spec['version']} from {spec['url']}", flush=True)
        with urllib.request.urlopen(spec["url"], timeout=timeout) as response:
            payload = response.read()
        verify(name, spec, payload)
        count = unpack(payload, spec["files"], tmp / name)
        print(f"  {len(payload):,} bytes, checksums match; unpacked {count} files", flush=True)
    (tmp / STAMP).write_text(_stamp_text(pins), encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="the cache folder")
    parser.add_argument("--check", action="store_true", help="only check the cache, fetch nothing")
    args = parser.parse_args(argv)
    if args.check:
        ok = is_current(args.dest)
        print(f"{args.dest}: {'current' if ok else 'missing or stale (make slides-assets)'}")
        return 0 if ok else 1
    try:
        fetch(args.dest)
    except OSError as error:
        print(
            f"could not fetch the slide assets into {args.dest}: {error}. This needs "
            "https://registry.npmjs.org once; later runs use the cache.",
            file=sys.stderr,
        )
        return 1
    print(f"slide assets ready in {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
