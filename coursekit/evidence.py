"""Results that chapter 11 quotes from earlier chapters' stored runs (chapters 07 and 09).

Chapter 11 answers the article's FAQ with the course's own evidence. Some of that evidence is a
measurement another chapter printed (chapter 07's time per step against sequence length, chapter
09's ratio of how far pretraining and fine-tuning move the weights). Reading it from those
notebooks would fail on Colab, where only the package is installed, and would read a learner's
re-run copy in ``my-notebooks/``. So :func:`extract` parses the committed notebooks' outputs once
into ``chapter_outputs.json``, which ships with the package; ``python -m coursekit.evidence``
rewrites it after those chapters are re-executed, and a test fails while it is stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["FILE", "extract", "stored"]

FILE = Path(__file__).resolve().parent / "chapter_outputs.json"
_CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
_SWEEP = re.compile(
    r"T =\s*(\d+): GRU\s+([\d.]+) ms, Transformer layer\s+([\d.]+) ms, "
    r"GRU / Transformer \(median of rounds\) ([\d.]+)"
)
_TIMES_AS_FAR = re.compile(r"at least ([\d.]+) times as far")


def _output(nb: Any, marker: str) -> str:
    """The printed output, as committed, of the code cell whose source contains ``marker``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    if len(cells) != 1:
        raise ValueError(f"expected one code cell containing {marker!r}, found {len(cells)}")
    return "".join(o.get("text", "") for o in cells[0].outputs if o.get("output_type") == "stream")


def extract(chapters: str | Path = _CHAPTERS) -> dict[str, Any]:
    """Chapter 07's sweep and chapter 09's ratio, parsed from the committed notebooks."""
    import nbformat

    folder = Path(chapters)
    ch07 = nbformat.read(folder / "07_transformer.ipynb", as_version=4)
    sweep = [
        [int(t), float(g), float(a), float(r)]
        for t, g, a, r in _SWEEP.findall(_output(ch07, "LENGTHS = (16, 32"))
    ]
    if not sweep:
        raise ValueError("chapter 07's stored time-per-step sweep was not found in its outputs")
    ch09 = nbformat.read(folder / "09_finetuning.ipynb", as_version=4)
    found = _TIMES_AS_FAR.search(_output(ch09, "relative_change(initial, gpt)"))
    if found is None:
        raise ValueError("chapter 09's 'at least N times as far' line was not found")
    return {
        "07": {
            "machine": _output(ch07, "coursekit.setup()").strip(),
            "sweep": sweep,
            "columns": ["T", "GRU ms", "Transformer layer ms", "GRU / Transformer"],
        },
        "09": {"pretraining_moves_at_least_times_as_far": float(found[1])},
    }


def stored() -> dict[str, Any]:
    """What :func:`extract` wrote into the package (works wherever coursekit is installed)."""
    if not FILE.is_file():
        raise FileNotFoundError(f"{FILE} is missing: run `python -m coursekit.evidence`")
    return json.loads(FILE.read_text(encoding="utf-8"))


if __name__ == "__main__":
    FILE.write_text(json.dumps(extract(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FILE}", file=sys.stderr)
