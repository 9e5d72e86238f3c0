"""The GPU presets: which chapters train longer on a GPU, and that every chapter says what it does.

``coursekit.budget(small, large, ...)`` is the one way a chapter picks a larger budget on a CUDA
GPU (tests/test_device.py tests the function). Here: no chapter hides a budget behind its own
``device.type == "cuda"`` test, the chapters that call ``budget`` are the ones chapter 00 names,
their prose gives both budgets, and the chapters that keep their budget on a GPU say so and why.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
SCALED = {"03_rnn", "04_lstm", "05_gru"}  # chapter 00: "chapters 03-05 train longer by themselves"
KEPT = {"06_attention", "07_transformer", "08_pretraining", "09_finetuning"}


def _cells(stem: str, kind: str) -> list[str]:
    notebook = nbformat.read(CHAPTERS / f"{stem}.ipynb", as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == kind]


def _all_stems() -> list[str]:
    return sorted(p.stem for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("stem", _all_stems())
def test_no_chapter_picks_a_budget_by_hand(stem):
    code = "\n".join(_cells(stem, "code"))
    ad_hoc = re.findall(r"^.*=.*\bif device\.type == \"cuda\" else\b.*$", code, re.MULTILINE)
    assert not ad_hoc, f"{stem}: use coursekit.budget(small, large, what, device): {ad_hoc}"


def test_the_chapters_that_scale_are_the_ones_chapter_00_names():
    calling = {
        stem for stem in _all_stems() if "coursekit.budget(" in "\n".join(_cells(stem, "code"))
    }
    assert calling == SCALED
    setup = "\n".join(_cells("00_setup", "markdown"))
    assert "chapters 03-05 train longer by themselves" in setup
    assert "chapters 06-09 keep their budgets on a GPU and say why" in setup


@pytest.mark.parametrize("stem", sorted(SCALED))
def test_a_scaled_chapter_prints_its_budget_and_its_prose_names_both(stem):
    calls = re.findall(r"coursekit\.budget\(([^)]*)\)", "\n".join(_cells(stem, "code")))
    prose = "\n".join(_cells(stem, "markdown"))
    for call in calls:
        small, large, what, *_ = (part.strip() for part in call.split(","))
        assert what.startswith('"'), f"{stem}: budget({call}) must say what it counts"
        for value in (small, large):
            assert f"{int(value):,}" in prose, f"{stem}: the text never gives the budget {value}"
    assert "GPU" in prose


@pytest.mark.parametrize("stem", sorted(KEPT))
def test_a_chapter_that_keeps_its_budget_says_so(stem):
    prose = "\n".join(_cells(stem, "markdown"))
    sentences = re.split(r"(?<=[.!?])\s+", prose)
    said = [s for s in sentences if "GPU" in s and re.search(r"\bkeeps?\b|\bthe same\b", s)]
    assert said, f"{stem}: say that (and why) the budget stays the same on a GPU"


def test_make_large_preset_test_runs_exactly_the_chapters_that_scale():
    makefile = (CHAPTERS.parent / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^PRESET_CHAPTERS := (.*)$", makefile, re.MULTILINE)
    assert listed, "the Makefile lost PRESET_CHAPTERS (make large-preset-test)"
    assert {Path(p).stem for p in listed.group(1).split()} == SCALED
    assert re.search(r"^large-preset-test:.*\n(\t.*\n)*\t.*COURSEKIT_PRESET=large", makefile, re.M)
