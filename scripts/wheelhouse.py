"""Every pinned package the course installs, as files in one folder: an offline classroom.

    python scripts/wheelhouse.py wheelhouse                 # `make wheelhouse`
    python scripts/wheelhouse.py wheelhouse --torch-index-url https://download.pytorch.org/whl/cpu

The folder then installs a laptop with no internet: `make env WHEELHOUSE=wheelhouse` (or
`make lab WHEELHOUSE=...`) from a copy of the repository, which runs pip with ``--no-index
--find-links``. It holds what `make env` and `make site` install: torch (first, alone, as the Makefile does), pip,
hatchling and editables, coursekit's own wheel built from this checkout, and every dependency of
``coursekit[lab,test,browser,site]`` at the versions pinned in requirements/constraints.txt.

pip downloads wheels for the operating system, CPU and Python version of the machine that runs
this script: build the folder on a machine like the laptops it will install. On Linux, PyPI's
torch is the CUDA build (several GB with its nvidia-* packages); ``--torch-index-url`` (Makefile:
``TORCH_INDEX=``) takes torch from another index, e.g. PyTorch's CPU-only one.

The last step proves the folder complete: pip resolves the whole install from it with the index
switched off (``--dry-run --ignore-installed``), and the script fails if anything is missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
# What the Makefile's env target installs: torch alone first, then the build tools, then the course.
TOOLS = ("pip", "hatchling", "editables")
EXTRAS = ("lab", "test", "browser", "site")  # site: `make site` and its browser test


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def coursekit_wheel(dest: Path, *pip_args: str) -> Path:
    """Build coursekit's wheel (with its bundled data) from this checkout into ``dest``."""
    for old in dest.glob("coursekit-*.whl"):
        old.unlink()
    _pip("wheel", "-q", "--no-deps", "-w", str(dest), *pip_args, str(ROOT))
    (wheel,) = dest.glob("coursekit-*.whl")
    return wheel


def requirements(extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """The requirement lines an install from the folder asks for."""
    return ["torch", *TOOLS, f"coursekit[{','.join(extras)}]"]


def check(dest: Path, extras: tuple[str, ...] = EXTRAS) -> None:
    """Fail unless pip can resolve the whole install from ``dest`` alone (nothing is installed)."""
    _pip(
        "install",
        "-q",
        "--dry-run",
        "--ignore-installed",
        "--no-index",
        "--find-links",
        str(dest),
        "-c",
        str(CONSTRAINTS),
        *requirements(extras),
    )


def build(dest: Path, torch_index_url: str | None = None) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    common = ["-q", "-d", str(dest), "-c", str(CONSTRAINTS)]
    # torch alone, pinned: an unpinned resolve could pick a multi-GB CUDA build.
    _pip(
        "download",
        *common,
        "--no-deps",
        "torch",
        *(["--index-url", torch_index_url] if torch_index_url else []),
    )
    _pip("download", *common, *TOOLS)
    # coursekit's wheel, built with the build tools just downloaded (proves they are enough).
    wheel = coursekit_wheel(dest, "--no-index", "--find-links", str(dest))
    version = wheel.name.split("-")[1]
    # Everything else; torch and coursekit are found in the folder itself.
    _pip(
        "download", *common, "--find-links", str(dest), f"coursekit[{','.join(EXTRAS)}]=={version}"
    )
    check(dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, nargs="?", default=ROOT / "wheelhouse")
    parser.add_argument("--torch-index-url", help="take torch from this index (e.g. CPU-only)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build(args.dest, args.torch_index_url)
    files = list(args.dest.glob("*"))
    size = sum(f.stat().st_size for f in files)
    print(
        f"{args.dest}: {len(files)} files, {size / 2**20:,.0f} MiB, complete "
        f"({time.perf_counter() - start:.0f} s). Install a laptop from it with "
        f"`make env WHEELHOUSE={args.dest}`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
