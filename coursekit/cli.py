"""Command line: ``python -m coursekit COMMAND`` (also installed as ``coursekit``).

- ``doctor``: versions, device, threads and every bundled data file, with fixes.
- ``student SRC DST``: the student edition (solutions replaced, outputs cleared).
- ``execute PATH…``: re-run chapters top to bottom from a clean kernel, storing outputs in place.
- ``check PATH…``: the notebook conventions.
- ``badges [--fix] PATH…``: check (or rewrite) Colab badges and setup cells from pyproject's URL.
- ``new-chapter PATH --title T``: scaffold a chapter with the required cells.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["main"]


def _chapters(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("[0-9][0-9]_*.ipynb")) if p.is_dir() else [p])
    if not out:
        raise SystemExit(f"no chapters found in {', '.join(paths)}")
    return out


def _doctor(args: argparse.Namespace) -> int:
    from coursekit.doctor import doctor

    return 0 if doctor().ok else 1


def _student(args: argparse.Namespace) -> int:
    from coursekit.notebooks import write_student_edition

    written = write_student_edition(args.src, args.dst)
    print(f"Student edition: {len(written)} chapters written to {args.dst}/ (solutions removed).")
    return 0


@contextlib.contextmanager
def _execution_lock() -> Iterator[None]:
    """One ``coursekit execute`` at a time on a machine: two chapters at once on a small machine
    make both several times slower (their threads fight over the cores) and their timings wrong."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(Path(tempfile.gettempdir()) / "coursekit-execute.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another `coursekit execute` to finish …", flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _execute(args: argparse.Namespace) -> int:
    from coursekit.notebooks import execute_notebook

    total = 0.0
    with _execution_lock():
        for path in _chapters(args.paths):
            print(f"executing {path} …", flush=True)
            seconds = execute_notebook(path, timeout=args.timeout)
            total += seconds
            print(f"  {path.name}: {seconds:.0f} s")
    print(f"total: {total:.0f} s")
    return 0


def _check(args: argparse.Namespace) -> int:
    from coursekit.notebooks import check_notebook

    bad = 0
    for path in _chapters(args.paths):
        problems = check_notebook(path)
        bad += bool(problems)
        for problem in problems:
            print(f"{path}: {problem}")
    print(f"{bad} chapter(s) with problems" if bad else "all chapters keep the conventions")
    return 1 if bad else 0


def _badges(args: argparse.Namespace) -> int:
    import nbformat

    from coursekit.notebooks import badge_markdown, fix_badge, setup_cell_source

    stale = 0
    for path in _chapters(args.paths):
        if args.fix:
            if fix_badge(path):
                print(f"updated {path}")
            continue
        nb = nbformat.read(path, as_version=4)
        if badge_markdown(path) not in nb.cells[0].source or nb.cells[
            1
        ].source != setup_cell_source(path):
            stale += 1
            print(f"{path}: badge or setup cell does not match pyproject's URL (run with --fix)")
    return 1 if stale else 0


def _new_chapter(args: argparse.Namespace) -> int:
    from coursekit.notebooks import new_chapter

    print(f"created {new_chapter(args.path, args.title)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coursekit", description="The course's command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device, threads and bundled data").set_defaults(
        func=_doctor
    )
    p = sub.add_parser("student", help="write the student edition (no solutions, no outputs)")
    p.add_argument("src", nargs="?", default="chapters")
    p.add_argument("dst", nargs="?", default="student")
    p.set_defaults(func=_student)
    p = sub.add_parser(
        "execute", help="re-run chapters from a clean kernel, outputs stored in place"
    )
    p.add_argument("paths", nargs="+")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    p.set_defaults(func=_execute)
    p = sub.add_parser("check", help="check the notebook conventions")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=_check)
    p = sub.add_parser("badges", help="check or --fix Colab badges and setup cells")
    p.add_argument("paths", nargs="+")
    p.add_argument("--fix", action="store_true")
    p.set_defaults(func=_badges)
    p = sub.add_parser("new-chapter", help="scaffold a chapter with the required cells")
    p.add_argument("path")
    p.add_argument("--title", required=True)
    p.set_defaults(func=_new_chapter)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
