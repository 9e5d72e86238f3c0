"""The chapter map (design §2): the one source for each chapter's title, study time, prerequisites
and measured run time. Chapter 00's table, the README's table and every chapter's header cell
(its **Prerequisites.** and **Time.** lines) are generated from it, and the tests fail when one of
them disagrees.

A chapter's status is computed, not typed: it is "available" when its notebook is in ``chapters/``.
Its run time and peak memory are measured, not typed: ``make syllabus`` (``python -m coursekit
syllabus --from-log .cache/run-log.jsonl``) writes them to ``syllabus_measured.json`` beside this
file from the last full run's log, with a fingerprint of each chapter's code so that a test fails
once a chapter changes after it was measured.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHAPTERS",
    "MEASURED_FILE",
    "Chapter",
    "Measurement",
    "chapter_fingerprint",
    "chapter_table",
    "header_lines",
    "load_measured",
    "measure_from_log",
    "stale_measurements",
]

MEASURED_FILE = Path(__file__).resolve().parent / "syllabus_measured.json"
MEASURE_COMMAND = "make syllabus"


@dataclass(frozen=True)
class Chapter:
    """One row of the syllabus.

    ``requires`` lists the earlier chapters it builds on, each with what it takes from them;
    ``background`` is what else a learner should bring.
    """

    number: str
    slug: str
    title: str
    article: str  # sections of the source article it teaches
    study_minutes: int
    requires: tuple[tuple[str, str], ...] = ()
    background: str = ""
    colab_extras: tuple[str, ...] = ()  # optional dependencies its Colab setup cell installs

    @property
    def filename(self) -> str:
        return f"{self.number}_{self.slug}.ipynb"

    @property
    def prerequisites(self) -> str:
        """Short form for the tables: ``"03, 04; PyTorch autograd"``."""
        numbers = ", ".join(n for n, _ in self.requires)
        return "; ".join(part for part in (numbers, self.background) if part) or "none"

    @property
    def prerequisites_sentence(self) -> str:
        """Long form for the chapter's header: chapters with what they give, then background."""
        parts = [f"{n} ({what})" if what else n for n, what in self.requires]
        if len(parts) > 1:
            chapters = "Chapters " + ", ".join(parts[:-1]) + " and " + parts[-1]
        else:
            chapters = f"Chapter {parts[0]}" if parts else ""
        text = "; ".join(part for part in (chapters, self.background) if part) or "None"
        return text[0].upper() + text[1:] + "."


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "00",
        "setup",
        "Setup and how to use the course",
        "§1",
        20,
        background="Python basics; no machine learning yet",
    ),
    Chapter(
        "01",
        "embeddings",
        "Word embeddings",
        "§2.1, §3.1",
        90,
        requires=(("00", "the course's setup and exercise pattern"),),
        background="NumPy, basic PyTorch; dot products, logarithms, gradients",
        colab_extras=("embeddings",),
    ),
    Chapter(
        "02",
        "language_models",
        "Statistical language models",
        "§2.2",
        60,
        requires=(("01", "vocabularies, word vectors"),),
        background="conditional probability and logarithms",
    ),
    Chapter(
        "03",
        "rnn",
        "Recurrent neural networks",
        "§3.2",
        75,
        requires=(("02", "language models, cross-entropy, perplexity"),),
        background="PyTorch tensors and autograd",
    ),
    Chapter(
        "04",
        "lstm",
        "Long short-term memory",
        "§3.3, §4",
        75,
        requires=(
            ("03", "RNN, backpropagation through time, vanishing gradients, the training loop"),
        ),
    ),
    Chapter(
        "05",
        "gru",
        "Gated recurrent units",
        "§3.4",
        60,
        requires=(("03", "RNN, the training loop"), ("04", "LSTM gates")),
    ),
    Chapter(
        "06",
        "attention",
        "Attention and sequence-to-sequence",
        "§3.5, §2.2",
        90,
        requires=(("03", "RNN, the training loop"), ("05", "GRU")),
    ),
    Chapter(
        "07",
        "transformer",
        "The Transformer",
        "§3.6",
        90,
        requires=(("06", "attention, the translation task, sequence-to-sequence decoding"),),
    ),
    Chapter(
        "08",
        "pretraining",
        "Pretraining: BPE, GPT and BERT objectives",
        "§2.1, §5.1",
        90,
        requires=(
            ("07", "the decoder-only Transformer, causal masks, the key/value cache"),
            ("03", "the training loop, sampling with temperature"),
            ("04", "the LSTM, for section 10's pretrained one"),
        ),
    ),
    Chapter(
        "09",
        "finetuning",
        "Fine-tuning",
        "§2.1, §5.1, §6 Q1",
        75,
        requires=(
            ("08", "the course's pretrained GPT, `<|endoftext|>`, the language-model loss"),
            ("07", "the decoder-only Transformer, the causal mask"),
        ),
    ),
    Chapter(
        "10",
        "challenges",
        "Cost, bias and privacy",
        "§5",
        60,
        requires=(
            ("08", "the course's pretrained GPT, the language-model loss, the training loop"),
            ("01", "PPMI + SVD word vectors, cosine similarity"),
        ),
    ),
    Chapter(
        "11",
        "faq",
        "FAQ and glossary (English / 中文)",
        "§6",
        45,
        requires=(
            ("07", "the Transformer against the GRU: gradient paths, time per step"),
            ("09", "fine-tuning, the label-budget curve, linear probes"),
        ),
        background="the glossary needs no chapter",
    ),
)


# -- measured run times -------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """One chapter's top-to-bottom run: seconds from setup() to run_report(), the kernel's peak
    memory, the fingerprint of the code that ran (:func:`chapter_fingerprint`), and the CPU
    it ran on with its measured fp32 matmul speed."""

    seconds: float
    peak_mb: float
    code_sha256: str
    cpu: str = ""
    matmul_gflops: float = 0.0


def load_measured(path: str | Path = MEASURED_FILE) -> tuple[dict, dict[str, Measurement]]:
    """``(machine, {number: Measurement})`` from the measured file (empty when there is none)."""
    path = Path(path)
    if not path.is_file():
        return {}, {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    machine = raw.get("machine", {})
    default = {"cpu": machine.get("cpu", ""), "matmul_gflops": machine.get("matmul_gflops", 0.0)}
    chapters = {
        n: Measurement(**{**default, **fields}) for n, fields in raw.get("chapters", {}).items()
    }
    return machine, chapters


def chapter_fingerprint(path: str | Path) -> str:
    """The fingerprint of a chapter file's code: its code cells after the setup cell (what
    ``coursekit.run_report()`` records of a top-to-bottom run, see :mod:`coursekit.report`)."""
    import nbformat

    from coursekit.report import code_fingerprint

    nb = nbformat.read(Path(path), as_version=4)
    return code_fingerprint([c.source for c in nb.cells if c.cell_type == "code"][1:])


def stale_measurements(
    chapters_dir: str | Path, path: str | Path = MEASURED_FILE
) -> dict[str, str]:
    """Chapters in ``chapters_dir`` whose measured run is missing or of older code: name -> why."""
    _, measured = load_measured(path)
    stale = {}
    for ch in CHAPTERS:
        file = Path(chapters_dir) / ch.filename
        if not file.is_file():
            continue
        entry = measured.get(ch.number)
        if entry is None:
            stale[ch.filename] = "never measured"
        elif entry.code_sha256 != chapter_fingerprint(file):
            stale[ch.filename] = "its code changed after it was measured"
    return stale


def _read_log(log: Path) -> list[dict]:
    entries = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by an interrupted run
    return entries


def measure_from_log(
    log: str | Path, chapters_dir: str | Path, path: str | Path = MEASURED_FILE
) -> list[str]:
    """Update the measured file from a run log (``$COURSEKIT_RUN_LOG``); return what it did.

    Each log entry is matched to the chapter whose current code it ran (a chapter run out of
    order, edited, or from the student edition matches none); the last match wins. Chapters the
    log does not cover keep their measurement while it is still of their current code.
    """
    log, chapters_dir = Path(log), Path(chapters_dir)
    if not log.is_file():
        raise FileNotFoundError(
            f"{log} does not exist: run the chapters first (`make notebooks` or `make test` "
            f"writes it), then `{MEASURE_COMMAND}`."
        )
    entries = _read_log(log)
    machine, measured = load_measured(path)
    present = {
        ch.number: chapter_fingerprint(chapters_dir / ch.filename)
        for ch in CHAPTERS
        if (chapters_dir / ch.filename).is_file()
    }
    by_hash = {sha: number for number, sha in present.items()}
    used, lines = [], []
    for entry in entries:
        number = by_hash.get(entry.get("code_sha256"))
        if number is not None and entry.get("seconds") is not None:
            measured[number] = Measurement(
                round(entry["seconds"], 1),
                round(entry["peak_mb"]),
                entry["code_sha256"],
                entry.get("cpu", ""),
                round(entry.get("matmul_gflops", 0.0), 1),
            )
            used.append(entry)
    for number, sha in present.items():
        if number in measured and measured[number].code_sha256 != sha:
            del measured[number]
            lines.append(f"{number}: its code changed and the log has no run of it: dropped")
    measured = {n: m for n, m in measured.items() if n in present}
    if used:
        threads = Counter(e["threads"] for e in used)
        speeds = sorted(e["matmul_gflops"] for e in used)
        machine = {
            "cpu": Counter(e["cpu"] for e in used).most_common(1)[0][0],
            "threads": threads.most_common(1)[0][0],
            "matmul_gflops": speeds[len(speeds) // 2],
            "torch": used[-1].get("torch", ""),
            "date": used[-1].get("finished", time.strftime("%Y-%m-%dT%H:%M:%SZ"))[:10],
        }
        if len(threads) > 1:
            lines.append(f"warning: the runs used different thread counts {dict(threads)}")
    matched = {by_hash[e["code_sha256"]] for e in used}
    lines.insert(0, f"{len(entries)} log entries, {len(used)} matched chapters {sorted(matched)}")
    missing = sorted(set(present) - set(measured))
    if missing:
        lines.append(f"not measured (run them, then `{MEASURE_COMMAND}` again): {missing}")
    data = {
        "machine": machine,
        "chapters": {n: vars(measured[n]) for n in sorted(measured)},
    }
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(5, 5 * round(seconds / 5))} s"
    return f"{seconds / 60:.1f} min"


def _threads(n: int) -> str:
    return "1 CPU thread" if n == 1 else f"{n} CPU threads"


def _memory(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{10 * round(mb / 10):.0f} MB"


# -- what the tables and the chapter headers say -------------------------------------------------
def header_lines(chapter: Chapter, path: str | Path = MEASURED_FILE) -> tuple[str, str]:
    """The chapter header's ``**Prerequisites.**`` and ``**Time.**`` paragraphs."""
    machine, measured = load_measured(path)
    entry = measured.get(chapter.number)
    where = "below" if chapter.number == "00" else "in chapter 00"
    if entry is None:
        run = "its top-to-bottom run time is not measured yet"
    else:
        run = (
            f"a top-to-bottom run takes about {_duration(entry.seconds)} on "
            f"{_threads(machine.get('threads', 0))} (measured; see the syllabus {where})"
        )
    return (
        f"**Prerequisites.** {chapter.prerequisites_sentence}",
        f"**Time.** About {chapter.study_minutes} minutes of study; {run}.",
    )


def chapter_table(chapters_dir: str | Path = ".", path: str | Path = MEASURED_FILE) -> str:
    """The syllabus as a Markdown table with each chapter's status in ``chapters_dir``, and where
    the run times were measured."""
    folder = Path(chapters_dir)
    machine, measured = load_measured(path)
    rows = [
        "| # | chapter | article | study time | prerequisites | CPU run | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ch in CHAPTERS:
        status = "available" if (folder / ch.filename).is_file() else "planned"
        entry = measured.get(ch.number)
        run = f"{_duration(entry.seconds)}, {_memory(entry.peak_mb)}" if entry else "—"
        rows.append(
            f"| {ch.number} | {ch.title} (`{ch.filename}`) | {ch.article} | {ch.study_minutes} min "
            f"| {ch.prerequisites} | {run} | {status} |"
        )
    if machine:
        rows.append("")
        rows.append(
            f"CPU run: time from setup to the last cell and the kernel's peak memory, measured "
            f"on {machine['date']} with {_threads(machine['threads'])} of {_machines(measured)}; "
            f"times scale with a machine's speed."
        )
    return "\n".join(rows)


def _number_runs(numbers: list[str]) -> str:
    """``["00", "01", "02", "05"]`` -> ``"00-02, 05"``: consecutive chapter numbers as ranges."""
    runs: list[list[str]] = []
    for n in numbers:
        if runs and int(n) == int(runs[-1][-1]) + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _machines(measured: dict[str, Measurement]) -> str:
    """Where the chapters ran: one CPU, or each CPU with the chapters measured on it."""
    by_cpu: dict[str, list[str]] = {}
    for number in sorted(measured):
        entry = measured[number]
        by_cpu.setdefault(entry.cpu or "an unrecorded CPU", []).append(number)
    parts = []
    for cpu, numbers in by_cpu.items():
        speeds = sorted(measured[n].matmul_gflops for n in numbers)
        speed = speeds[len(speeds) // 2]
        where = f"{cpu} ({speed:.0f} GFLOP/s in an fp32 matrix multiply)"
        if len(by_cpu) > 1:
            label = "chapter" if len(numbers) == 1 else "chapters"
            where = f"{where} for {label} {_number_runs(numbers)}"
        parts.append(where)
    return "; ".join(parts)
