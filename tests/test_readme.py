"""Keep the README true: its syllabus, its commands, and the files it names."""

import re
from pathlib import Path

import pytest

from coursekit.glossary import glossary_table
from coursekit.syllabus import chapter_table

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_syllabus_table_is_current():
    match = re.search(
        r"<!-- syllabus:begin[^>]*-->\n(.*?)\n<!-- syllabus:end -->", README, re.DOTALL
    )
    assert match, "README lost its syllabus markers"
    expected = chapter_table(REPO / "chapters")
    assert match.group(1) == expected, (
        "README syllabus is stale: run `python scripts/update_readme.py`"
    )


def test_glossary_table_is_current():
    match = re.search(
        r"<!-- glossary:begin[^>]*-->\n(.*?)\n<!-- glossary:end -->", README, re.DOTALL
    )
    assert match, "README lost its glossary markers"
    assert match.group(1) == glossary_table(), (
        "README glossary is stale: run `python scripts/update_readme.py`"
    )


def test_readme_commands_exist_in_the_makefile():
    makefile = (REPO / "Makefile").read_text()
    for target in re.findall(r"`make (\w[\w-]*)", README):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"README names `make {target}`"


def test_readme_coursekit_commands_exist():
    from coursekit.cli import main

    named = set(re.findall(r"python -m\s+coursekit\s+([a-z][\w-]*)", README))
    assert {"doctor", "syllabus", "headers", "execute", "check"} <= named
    for command in named:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0, f"README names `python -m coursekit {command}`"


def test_readme_says_how_to_open_each_edition_and_update_the_syllabus():
    for text in ("make lab-student", "make lab-refresh", "make syllabus", "my-notebooks/"):
        assert text in README, text
    assert "`git pull` never conflicts" in README


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_files_named_in_the_readme_exist():
    for name in (
        "requirements/constraints.txt",
        "data/README.md",
        "LICENSE",
        "scripts/build_data.py",
        "coursekit/syllabus.py",
    ):
        assert (REPO / name).exists(), name
