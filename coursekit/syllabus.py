"""The chapter map (design §2): one list that chapter 00, the README and the tests agree on.

A chapter's status is computed, not typed: it is "available" when its notebook is in ``chapters/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHAPTERS", "Chapter", "chapter_table"]


@dataclass(frozen=True)
class Chapter:
    """One row of the syllabus."""

    number: str
    slug: str
    title: str
    article: str  # sections of the source article it teaches
    study_minutes: int
    prerequisites: str
    runs_in: str = ""  # measured: top-to-bottom run on 2 CPU cores (`make test` prints it)
    colab_extras: tuple[str, ...] = ()  # optional dependencies its Colab setup cell installs

    @property
    def filename(self) -> str:
        return f"{self.number}_{self.slug}.ipynb"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "00", "setup", "Setup and how to use the course", "§1", 20, "Python basics", runs_in="5 s"
    ),
    Chapter(
        "01",
        "embeddings",
        "Word embeddings",
        "§2.1, §3.1",
        90,
        "00; NumPy, a little linear algebra",
        runs_in="95 s",
        colab_extras=("embeddings",),
    ),
    Chapter(
        "02",
        "language_models",
        "Statistical language models",
        "§2.2",
        60,
        "00; probability basics",
        runs_in="30 s",
    ),
    Chapter(
        "03", "rnn", "Recurrent neural networks", "§3.2", 75, "02; PyTorch autograd", runs_in="45 s"
    ),
    Chapter("04", "lstm", "Long short-term memory", "§3.3, §4", 75, "03", runs_in="40 s"),
    Chapter("05", "gru", "Gated recurrent units", "§3.4", 60, "04", runs_in="40 s"),
    Chapter("06", "attention", "Attention and sequence-to-sequence", "§3.5, §2.2", 90, "05"),
    Chapter("07", "transformer", "The Transformer", "§3.6", 90, "06"),
    Chapter(
        "08", "pretraining", "Pretraining: BPE, GPT and BERT objectives", "§2.1, §5.1", 90, "07"
    ),
    Chapter("09", "finetuning", "Fine-tuning", "§2.1, §5.1", 75, "08"),
    Chapter("10", "challenges", "Cost, bias and privacy", "§5", 60, "08"),
    Chapter("11", "faq", "FAQ and glossary (English / 中文)", "§6", 45, "any"),
)


def chapter_table(chapters_dir: str | Path = ".") -> str:
    """The syllabus as a Markdown table with each chapter's status in ``chapters_dir``."""
    folder = Path(chapters_dir)
    rows = [
        "| # | chapter | article | study time | prerequisites | CPU run | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ch in CHAPTERS:
        status = "available" if (folder / ch.filename).is_file() else "planned"
        rows.append(
            f"| {ch.number} | {ch.title} (`{ch.filename}`) | {ch.article} | {ch.study_minutes} min "
            f"| {ch.prerequisites} | {ch.runs_in or '—'} | {status} |"
        )
    return "\n".join(rows)
