"""Command line: ``python -m coursekit COMMAND`` (also installed as ``coursekit``).

- ``doctor``: versions, device, threads and every bundled data file, with fixes.
- ``student SRC DST``: the student edition (solutions replaced, outputs cleared).
- ``solutions SRC DST``: the instructor's solutions, one Markdown file per chapter with exercises.
- ``teaching [--out FILE] [--check]``: the instructor's guide (``docs/teaching.md``), generated.
- ``lab [SRC] [WORKSPACE]``: seed the learner's git-ignored working copy from ``SRC`` and open
  JupyterLab on it (``make lab``, ``make lab-student``); ``workspace`` only seeds or refreshes it.
- ``execute PATH…``: re-run chapters top to bottom from a clean kernel, storing outputs in place
  and logging each chapter's run time and peak memory (``--run-log``).
- ``syllabus --from-log LOG``: the measured run times from that log into the syllabus.
- ``check PATH…``: the notebook conventions.
- ``badges [--fix] PATH…``: check (or rewrite) Colab badges and setup cells from pyproject's URL.
- ``headers [--fix] PATH…``: check (or rewrite) each chapter's Prerequisites and Time lines from
  the syllabus.
- ``new-chapter PATH --title T``: scaffold a chapter with the required cells.
- ``pretrain [--steps N ...] [--out DIR]``: pretrain the course's GPT (resumable, deterministic).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
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


def _solutions(args: argparse.Namespace) -> int:
    from coursekit.notebooks import write_solutions

    written = write_solutions(args.src, args.dst)
    print(f"Solutions: {len(written)} chapters written to {args.dst}/ (for instructors).")
    return 0


def _teaching(args: argparse.Namespace) -> int:
    from coursekit.teaching import teaching_markdown

    text = teaching_markdown()
    if args.check:
        if Path(args.out).read_text(encoding="utf-8") == text:
            return 0
        print(f"{args.out} is stale: run `python -m coursekit teaching --out {args.out}`")
        return 1
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
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


def _default_run_log() -> str:
    from coursekit.report import RUN_LOG_ENV

    if os.environ.get(RUN_LOG_ENV):
        return os.environ[RUN_LOG_ENV]
    repo = Path(__file__).resolve().parent.parent
    return str(repo / ".cache" / "run-log.jsonl") if (repo / "pyproject.toml").is_file() else ""


def _execute(args: argparse.Namespace) -> int:
    from coursekit.notebooks import execute_notebook
    from coursekit.report import RUN_LOG_ENV

    total = 0.0
    before = os.environ.get(RUN_LOG_ENV)
    if args.run_log:  # the kernels inherit it: each chapter's run_report() appends a line
        Path(args.run_log).parent.mkdir(parents=True, exist_ok=True)
        os.environ[RUN_LOG_ENV] = str(Path(args.run_log).resolve())
    else:
        os.environ.pop(RUN_LOG_ENV, None)
    try:
        with _execution_lock():
            for path in _chapters(args.paths):
                print(f"executing {path} …", flush=True)
                seconds = execute_notebook(path, timeout=args.timeout)
                total += seconds
                print(f"  {path.name}: {seconds:.0f} s")
    finally:
        if before is None:
            os.environ.pop(RUN_LOG_ENV, None)
        else:
            os.environ[RUN_LOG_ENV] = before
    print(f"total: {total:.0f} s")
    if args.run_log:
        print(
            f"run times logged to {args.run_log} (`python -m coursekit syllabus --from-log` reads it)"
        )
    return 0


def _syllabus(args: argparse.Namespace) -> int:
    from coursekit import syllabus

    measured = args.measured or syllabus.MEASURED_FILE
    if args.from_log:
        for line in syllabus.measure_from_log(args.from_log, args.chapters, measured):
            print(line)
        print(f"wrote {measured}")
    stale = syllabus.stale_measurements(args.chapters, measured)
    for name, why in stale.items():
        print(f"{name}: {why}")
    return 1 if stale else 0


def _check_or_fix(
    args: argparse.Namespace,
    fix: Callable[[Path], bool],
    problems: Callable[[Path], list[str]],
) -> int:
    """``--fix``: rewrite each chapter, saying which changed; else report problems (exit 1)."""
    stale = 0
    for path in _chapters(args.paths):
        if args.fix:
            if fix(path):
                print(f"updated {path}")
            continue
        for problem in problems(path):
            stale += 1
            print(f"{path}: {problem}")
    return 1 if stale else 0


def _headers(args: argparse.Namespace) -> int:
    from coursekit.notebooks import fix_header, header_problems

    return _check_or_fix(args, fix_header, header_problems)


def _workspace(args: argparse.Namespace) -> int:
    from coursekit.workspace import sync_workspace

    try:
        print(sync_workspace(args.src, args.workspace, refresh=args.refresh), flush=True)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _lab(args: argparse.Namespace) -> int:
    from coursekit.workspace import lab_command

    if _workspace(args):
        return 1
    print(f"Opening JupyterLab on {args.workspace}/ (Ctrl-C here stops it).", flush=True)
    try:
        return subprocess.call(lab_command(args.workspace, args.port, tuple(args.jupyter_args)))
    except KeyboardInterrupt:
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

    def problems(path: Path) -> list[str]:
        nb = nbformat.read(path, as_version=4)
        if badge_markdown(path) in nb.cells[0].source and nb.cells[1].source == setup_cell_source(
            path
        ):
            return []
        return ["badge or setup cell does not match pyproject's URL (run with --fix)"]

    return _check_or_fix(args, fix_badge, problems)


def _new_chapter(args: argparse.Namespace) -> int:
    from coursekit.notebooks import new_chapter

    print(f"created {new_chapter(args.path, args.title)}")
    return 0


_PRETRAIN_HELP = {
    "corpora": "comma-separated bundled corpora whose train split is the text "
    "(wordnet_gloss10: its training glosses only)",
    "vocab_size": "BPE vocabulary size, the 256 bytes and <|endoftext|> included",
    "context_size": "tokens per training window, the model's longest input",
    "embed_dim": "model width",
    "num_heads": "attention heads (must divide the width)",
    "num_layers": "Transformer blocks",
    "recipe": "'llama' (RMS norm, rotary, SwiGLU) or 'gpt2' (layer norm, learned positions, GELU)",
    "dropout": "dropout probability",
    "batch_size": "windows per optimizer step",
    "steps": "optimizer steps in total (a resumed run counts the earlier ones)",
    "lr": "peak learning rate (AdamW)",
    "warmup": "linear warm-up steps before the cosine decay",
    "min_lr_ratio": "the cosine decays to this fraction of the peak learning rate",
    "weight_decay": "AdamW weight decay on the weight matrices",
    "clip_grad_norm": "clip the gradient norm to this",
    "eval_every": "steps between validation losses",
    "eval_batches": "batches per validation loss",
    "checkpoint_every": "steps between checkpoints",
    "seed": "the run's one seed (initialisation and batches)",
}


def _pretrain_parser(sub: argparse._SubParsersAction) -> None:
    import dataclasses

    from coursekit.pretrain import PretrainConfig

    p = sub.add_parser(
        "pretrain",
        help="pretrain the course's GPT on the bundled English text (resumable)",
        description="Train a BPE tokenizer and a GPT on the bundled English text, deterministically. "
        "Running the same command again resumes from the last checkpoint in --work; --out exports "
        "the finished model (safetensors weights, config, tokenizer, model card).",
    )
    for field in dataclasses.fields(PretrainConfig):
        default = field.default
        kind = (lambda s: tuple(s.split(","))) if field.name == "corpora" else type(default)
        shown = ",".join(default) if isinstance(default, tuple) else default
        p.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=field.name,
            type=kind,
            default=default,
            help=f"{_PRETRAIN_HELP[field.name]} (default: {shown})",
        )
    p.add_argument("--work", default=".cache/pretrain", help="tokenizer, encoded text, checkpoint")
    p.add_argument("--out", help="export the finished model to this folder")
    p.add_argument("--time-limit", type=float, help="stop after this many seconds (resume later)")
    p.add_argument("--log-every", type=int, default=50, help="steps between progress lines")
    p.add_argument("--threads", type=int, help="CPU threads (default: $COURSEKIT_NUM_THREADS)")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto: bf16 autocast on a CUDA card with bf16 units; on a CPU with bf16 hardware and "
        "a model of 1M parameters or more, bf16 if a few steps of a copy, timed before training, "
        "were 1.15x faster than fp32 (`python -m coursekit doctor` says whether this CPU has it); "
        "else fp32. fp32 or bf16: that, without measuring",
    )
    p.add_argument(
        "--compile", action="store_true", help="train torch.compile(model) (for long GPU runs)"
    )
    p.set_defaults(func=_pretrain)


def _pretrain(args: argparse.Namespace) -> int:
    import dataclasses

    from coursekit.pretrain import PretrainConfig, WorkFolderError, pretrain

    if args.threads is not None:
        os.environ["COURSEKIT_NUM_THREADS"] = str(args.threads)
    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    try:
        config = PretrainConfig(**{name: getattr(args, name) for name in names})
    except (TypeError, ValueError) as error:
        print(f"coursekit pretrain: {error}", file=sys.stderr)
        return 2
    from coursekit.device import autocast, get_device
    from coursekit.train import CheckpointError

    try:
        autocast(get_device(), args.precision)  # bf16 on a CPU without bf16 hardware
    except ValueError as error:
        print(f"coursekit pretrain: {error}", file=sys.stderr)
        return 2
    try:
        results = pretrain(config, args.work, args.out, time_limit=args.time_limit,
                           log_every=args.log_every, precision=args.precision,
                           compile=args.compile)  # fmt: skip
    except (CheckpointError, WorkFolderError) as error:
        print(f"coursekit pretrain: {error}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # under torchrun rank 0 alone reports
        return 0
    print(
        f"step {results['steps']}/{config.steps}: valid loss {results['valid_loss']:.3f} "
        f"({results['valid_bits_per_char']:.3f} bits/char), {results['tokens_per_second']:,} "
        "tokens/s"
    )
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
    p = sub.add_parser("solutions", help="write the instructor's solutions, a file per chapter")
    p.add_argument("src", nargs="?", default="chapters")
    p.add_argument("dst", nargs="?", default="solutions")
    p.set_defaults(func=_solutions)
    p = sub.add_parser("teaching", help="the instructor's guide (docs/teaching.md), generated")
    p.add_argument("--out", default="-", help="write it here ('-', the default: standard output)")
    p.add_argument("--check", action="store_true", help="exit 1 when --out differs from it")
    p.set_defaults(func=_teaching)
    p = sub.add_parser(
        "execute", help="re-run chapters from a clean kernel, outputs stored in place"
    )
    p.add_argument("paths", nargs="+")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    p.add_argument(
        "--run-log",
        default=_default_run_log(),
        help="append each chapter's run time and peak memory here ('' for none; default: "
        "$COURSEKIT_RUN_LOG, else .cache/run-log.jsonl in a clone of the course)",
    )
    p.set_defaults(func=_execute)
    p = sub.add_parser(
        "syllabus", help="measured run times into the syllabus; check they are current"
    )
    p.add_argument("--from-log", help="a run log ($COURSEKIT_RUN_LOG) of a top-to-bottom run")
    p.add_argument("--chapters", default="chapters")
    p.add_argument("--measured", help="the measured file (default: coursekit's own)")
    p.set_defaults(func=_syllabus)
    for name, helptext in (
        ("workspace", "seed or update your git-ignored working copy of the chapters"),
        ("lab", "seed your working copy, then open JupyterLab on it"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("src", nargs="?", default="chapters")
        p.add_argument("workspace", nargs="?", default="my-notebooks")
        p.add_argument(
            "--refresh",
            action="store_true",
            help="write the course's new version of each chapter you changed beside yours",
        )
        if name == "lab":
            p.add_argument("--port", type=int, default=8888)
            p.epilog = "Options after `--` go to jupyter lab, e.g. `-- --ServerApp.ip=0.0.0.0`."
        p.set_defaults(func=_workspace if name == "workspace" else _lab)
    p = sub.add_parser("check", help="check the notebook conventions")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=_check)
    p = sub.add_parser("badges", help="check or --fix Colab badges and setup cells")
    p.add_argument("paths", nargs="+")
    p.add_argument("--fix", action="store_true")
    p.set_defaults(func=_badges)
    p = sub.add_parser("headers", help="check or --fix each chapter's Prerequisites and Time lines")
    p.add_argument("paths", nargs="+")
    p.add_argument("--fix", action="store_true")
    p.set_defaults(func=_headers)
    p = sub.add_parser("new-chapter", help="scaffold a chapter with the required cells")
    p.add_argument("path")
    p.add_argument("--title", required=True)
    p.set_defaults(func=_new_chapter)
    _pretrain_parser(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    passthrough: list[str] = []
    if "--" in argv:  # the rest is for the program a command starts (`lab`: jupyter lab)
        argv, passthrough = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)
    args.jupyter_args = passthrough
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
