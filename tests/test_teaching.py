"""docs/teaching.md is generated (`make teaching`): the committed file is what the generator writes
now, its plans take their times from the syllabus, and its mistakes are the checkers' own words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from coursekit import syllabus, teaching
from coursekit.cli import main
from coursekit.exercises import mistakes

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "teaching.md"


@pytest.fixture(scope="module")
def generated() -> str:
    return teaching.teaching_markdown()


def test_the_committed_guide_is_current(generated):
    assert DOC.read_text(encoding="utf-8") == generated, (
        "docs/teaching.md is stale: run `python -m coursekit teaching --out docs/teaching.md`"
    )


def test_teaching_check_command(tmp_path, capsys):
    copy = tmp_path / "teaching.md"
    copy.write_text(DOC.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["teaching", "--out", str(copy), "--check"]) == 0
    copy.write_text(copy.read_text(encoding="utf-8") + "a hand edit\n", encoding="utf-8")
    assert main(["teaching", "--out", str(copy), "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert main(["teaching", "--out", str(copy)]) == 0
    assert main(["teaching", "--out", str(copy), "--check"]) == 0


def test_the_three_plans_and_the_preparation_are_there(generated):
    for heading in ("A one-day workshop", "A two-day workshop", "A six-week course"):
        assert f"## {heading}" in generated
    assert "## Before a session" in generated
    for needed in (
        "make lab",
        "make lab-student",
        "make solutions",
        "COURSEKIT_SHARED=1",
        "make doctor",
    ):
        assert needed in generated, needed


def test_plan_times_come_from_the_syllabus(generated):
    chapters = {ch.number: ch for ch in syllabus.CHAPTERS}
    for plan in teaching.PLANS:
        numbers = [n for unit in plan.units for session in unit for n in session]
        assert len(numbers) == len(set(numbers)), f"{plan.title} teaches a chapter twice"
        assert numbers == sorted(numbers), f"{plan.title} is out of order"
        total = sum(chapters[n].study_minutes for n in numbers)
        assert f"in all: {total} minutes" in generated, plan.title
    assert teaching.PLANS[-1].weekly and len(teaching.PLANS[-1].units) == 6
    every = {n for unit in teaching.PLANS[-1].units for s in unit for n in s}
    assert every == set(chapters), "the six-week course teaches every chapter"
    # a day row: `| 09:00–09:20 | 00 Setup ... | 20 min | 5 s | 1 |`
    rows = re.findall(r"^\| \d\d:\d\d–\d\d:\d\d \| (\d\d) [^|]*\| (\d+) min \|", generated, re.M)
    assert rows and all(int(m) == chapters[n].study_minutes for n, m in rows)


def test_a_new_measurement_changes_the_guide(tmp_path, generated):
    raw = json.loads(syllabus.MEASURED_FILE.read_text(encoding="utf-8"))
    raw["chapters"]["09"]["seconds"] = 1234.0
    raw["chapters"]["10"]["peak_mb"] = 4096
    measured = tmp_path / "measured.json"
    measured.write_text(json.dumps(raw), encoding="utf-8")
    changed = teaching.teaching_markdown(measured)
    assert changed != generated
    assert "20.6 min" in changed and "4.0 GB" in changed


def test_every_chapter_lists_its_checkers_mistakes_in_their_own_words(generated):
    section = generated.split("## Common learner mistakes, per chapter", 1)[1]
    by_chapter = dict(re.findall(r"^### (\d\d) · [^\n]*\n(.*?)(?=^### |\Z)", section, re.M | re.S))
    numbers = {name[2:4] for name in mistakes.checkers()}
    assert set(by_chapter) == numbers
    for mistake in mistakes.MISTAKES:
        result = mistakes.run_mistake(mistake)
        message = teaching._escape(result.message)
        assert (
            f"- *{teaching._escape(mistake.what)}*: {message}" in by_chapter[mistake.checker[2:4]]
        )


def test_the_readme_links_the_guide_and_names_the_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/teaching.md)" in readme
    for command in ("make solutions", "make teaching", "python -m coursekit solutions"):
        assert command in readme, command
