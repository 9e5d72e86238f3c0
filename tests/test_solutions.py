"""The instructor's solutions (`make solutions`): a file per chapter with exercises, every solution
region in it with its statement and its checker's verdict, and nothing else of the chapter."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from coursekit import notebooks
from coursekit.cli import main

REPO = Path(__file__).resolve().parent.parent
CHAPTER_FILES = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _solution_cells(nb):
    return [c for c in nb.cells if notebooks.SOLUTION_TAG in c.metadata.get("tags", [])]


def _regions(source: str) -> list[str]:
    pattern = (
        rf"{re.escape(notebooks.BEGIN_SOLUTION)}\n(.*?)\n\s*{re.escape(notebooks.END_SOLUTION)}"
    )
    return re.findall(pattern, source, re.DOTALL)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("solutions")
    return out, notebooks.write_solutions(REPO / "chapters", out)


def test_every_chapter_with_exercises_gets_a_file(written):
    out, files = written
    with_exercises = {
        p.stem for p in CHAPTER_FILES if _solution_cells(nbformat.read(p, as_version=4))
    }
    assert with_exercises, "no chapter has a solution cell: this test would test nothing"
    assert {p.stem for p in files} == with_exercises
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files)


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.name)
def test_each_solution_with_its_statement_and_verdict_and_nothing_else(written, path):
    out, _ = written
    nb = nbformat.read(path, as_version=4)
    cells = _solution_cells(nb)
    if not cells:
        assert not (out / f"{path.stem}.md").exists()
        return
    text = (out / f"{path.stem}.md").read_text(encoding="utf-8")
    # every solution region, inside the code blocks that are exactly the solution cells, in order
    code = [body.rstrip("\n") for kind, body in FENCE.findall(text) if kind == "python"]
    assert code == [c.source.rstrip("\n") for c in cells]
    regions = [r for c in cells for r in _regions(c.source)]
    assert len(regions) >= len(cells)
    for region in regions:
        assert region in text
    # each exercise's statement (the markdown cell before its solution) and a passing verdict
    for cell in cells:
        i = nb.cells.index(cell)
        statement = next(c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown")
        assert statement.source.strip() in text
    verdicts = [body for kind, body in FENCE.findall(text) if kind == ""]
    assert len(verdicts) == len(cells)
    assert all(re.match(r"✔ \d\d\.\d .*: passed \(\d+ checks\)\.", v) for v in verdicts), verdicts
    assert text.count("`coursekit.exercises.ch") == len(cells)
    # nothing from the other code cells: not their code, not their outputs
    allowed = "\n".join(
        [c.source for c in cells] + [c.source for c in nb.cells if c.cell_type == "markdown"]
    )
    for cell in nb.cells:
        if cell.cell_type != "code" or cell in cells:
            continue
        for line in cell.source.splitlines():
            if len(line.strip()) >= 25 and line.strip() not in allowed:
                assert line.strip() not in text, f"a non-solution cell leaked: {line!r}"
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if len(line) >= 25 and not line.startswith("✔"):
                    assert line not in text, f"an output leaked: {line!r}"


def _tiny(tmp_path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook(cells=cells)
    path = tmp_path / "42_tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_constructed_chapter_keeps_only_what_it_should(tmp_path):
    solution = nbformat.v4.new_code_cell(
        "def f(x):\n    # a hint\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION",
        metadata={"tags": ["solution"]},
    )
    check = nbformat.v4.new_code_cell("from coursekit.exercises import ch42\nch42.check_f(f)")
    check.outputs = [
        nbformat.v4.new_output(
            "stream", name="stdout", text="✔ 42.1 f: passed (3 checks).\nAFTER\n"
        )
    ]
    leaky = nbformat.v4.new_code_cell("SECRET_SETUP = 1")
    leaky.outputs = [nbformat.v4.new_output("stream", name="stdout", text="SECRET_OUTPUT\n")]
    _tiny(
        tmp_path,
        [
            nbformat.v4.new_markdown_cell("# 42 · Tiny\n\nFAR_AWAY_PROSE"),
            leaky,
            nbformat.v4.new_markdown_cell("### Exercise 42.1\n\nWrite `f`."),
            solution,
            check,
            nbformat.v4.new_code_cell("AFTER_THE_CHECK = 2"),
        ],
    )
    (written,) = notebooks.write_solutions(tmp_path, tmp_path / "out")
    text = written.read_text(encoding="utf-8")
    assert written.name == "42_tiny.md" and "# Solutions: 42 · Tiny" in text
    assert "Write `f`." in text and "    return x + 1" in text and "# a hint" in text
    assert "✔ 42.1 f: passed (3 checks)." in text and "coursekit.exercises.ch42.check_f" in text
    for leaked in ("SECRET_SETUP", "SECRET_OUTPUT", "FAR_AWAY_PROSE", "AFTER", "ch42.check_f(f)"):
        assert leaked not in text.replace("coursekit.exercises.ch42.check_f", ""), leaked


def test_a_chapter_without_exercises_gets_no_file(tmp_path):
    _tiny(tmp_path, [nbformat.v4.new_markdown_cell("# 42 · Tiny"), nbformat.v4.new_code_cell("1")])
    assert notebooks.write_solutions(tmp_path, tmp_path / "out") == []
    with pytest.raises(FileNotFoundError, match="no chapters"):
        notebooks.write_solutions(tmp_path / "out", tmp_path / "elsewhere")


def test_solutions_command_and_its_folder_is_git_ignored(tmp_path, capsys):
    assert main(["solutions", str(REPO / "chapters"), str(tmp_path / "sol")]) == 0
    assert "Solutions:" in capsys.readouterr().out
    assert (tmp_path / "sol" / "00_setup.md").is_file()
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "solutions/" in ignored, "solutions/ must be git-ignored (.gitignore)"
