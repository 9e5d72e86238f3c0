"""coursekit.evidence: the earlier chapters' results that chapter 11 quotes, as shipped."""

from __future__ import annotations

import itertools

import pytest

from coursekit import evidence


def test_the_shipped_file_equals_the_committed_chapters_outputs():
    assert evidence.stored() == evidence.extract(), (
        "chapter 07 or 09 was re-executed: run `python -m coursekit.evidence`"
    )


def test_the_sweep_doubles_and_names_its_machine():
    data = evidence.stored()
    lengths = [row[0] for row in data["07"]["sweep"]]
    assert len(lengths) >= 5 and all(b == 2 * a for a, b in itertools.pairwise(lengths))
    assert "threads" in data["07"]["machine"] or "CPU" in data["07"]["machine"]
    assert data["09"]["pretraining_moves_at_least_times_as_far"] > 1


def test_a_chapter_without_the_output_is_named(tmp_path):
    import nbformat

    def write(source):
        for name in ("07_transformer.ipynb", "09_finetuning.ipynb"):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
            nbformat.write(nb, tmp_path / name)

    write("x = 1")
    with pytest.raises(ValueError, match="expected one code cell"):
        evidence.extract(tmp_path)
    write("LENGTHS = (16, 32)")  # the cell, but not its printed sweep
    with pytest.raises(ValueError, match="sweep was not found"):
        evidence.extract(tmp_path)


def test_chapter_04_quotes_chapter_03s_stored_loss():
    """Chapter 04 types chapter 03's RNN loss (a learner may run 04 alone): it must be the one
    chapter 03 printed, at the small preset's step count (the large preset's is not stored)."""
    import re
    from pathlib import Path

    import nbformat

    chapters = Path(__file__).resolve().parents[1] / "chapters"
    ch03 = nbformat.read(chapters / "03_rnn.ipynb", as_version=4)
    printed = "".join(
        o.get("text", "") for c in ch03.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    found = re.findall(
        r"RNN LM, [\d,]+ parameters: validation loss ([\d.]+) nats/char .* after (\d+) steps",
        printed,
    )
    assert len(found) == 1, found
    loss, steps = found[0]
    ch04 = nbformat.read(chapters / "04_lstm.ipynb", as_version=4)
    typed = re.findall(r"chapter_03_rnn = \{(\d+): ([\d.]+)", "".join(c.source for c in ch04.cells))
    assert typed == [(steps, loss)], "chapter 03 was re-executed: update chapter 04's copy"
