"""Conventions of every chapter, the Colab badges, and the student edition."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from coursekit import notebooks, syllabus
from coursekit.syllabus import CHAPTERS

REPO = Path(__file__).resolve().parent.parent
CHAPTER_FILES = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_chapters():
    assert CHAPTER_FILES, "no chapters found"


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.name)
def test_chapter_keeps_the_conventions(path):
    assert notebooks.check_notebook(path) == []


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.name)
def test_chapter_is_in_the_syllabus(path):
    assert path.name in {c.filename for c in CHAPTERS}


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.name)
def test_chapter_header_agrees_with_the_syllabus(path):
    """Study time, prerequisites and run time in the header come from coursekit/syllabus.py."""
    assert notebooks.header_problems(path) == [], (
        "run `python -m coursekit headers --fix chapters` (or `make syllabus`)"
    )


def test_measured_run_times_are_no_older_than_the_chapters():
    """The README's and chapter 00's "CPU run" column is measured on the chapters as they are."""
    stale = syllabus.stale_measurements(REPO / "chapters")
    assert stale == {}, (
        f"measured run times are stale for {stale}: run the chapters (`make notebooks`, or "
        "`python -m coursekit execute chapters/NN_x.ipynb`, which log their run times), then "
        "`make syllabus`"
    )


def test_chapter_00_shows_the_current_syllabus():
    nb = nbformat.read(REPO / "chapters" / "00_setup.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "chapter_table()" in c.source]
    (shown,) = [o["data"]["text/markdown"] for o in cell.outputs if "data" in o]
    assert shown == syllabus.chapter_table(REPO / "chapters"), (
        "chapter 00's stored syllabus is stale: `make syllabus` re-executes it"
    )


def test_fix_header_rewrites_prerequisites_and_time(tmp_path):
    old_header = (
        "# 03 · RNN\n\n**Prerequisites.** Chapter 01.\nSecond line.\n\n**Time.** 60 minutes; "
        "about 2 minutes.\n\nMore text."
    )
    path = tmp_path / "03_rnn.ipynb"
    path.write_text((REPO / "chapters" / "03_rnn.ipynb").read_text())
    _edit(path, lambda nb: setattr(nb.cells[0], "source", old_header))
    problems = notebooks.header_problems(path)
    assert len(problems) == 2
    assert "**Prerequisites.** paragraph disagrees with coursekit/syllabus.py" in problems[0]
    assert "**Time.** paragraph disagrees" in problems[1]
    _edit(path, lambda nb: setattr(nb.cells[0], "source", "# 03 · RNN\n\nMore text."))
    assert notebooks.header_problems(path) == [
        "cell 0 has no **Prerequisites.** paragraph",
        "cell 0 has no **Time.** paragraph",
    ]
    assert notebooks.fix_header(path) and notebooks.header_problems(path) == []
    _edit(path, lambda nb: setattr(nb.cells[0], "source", old_header))
    assert notebooks.fix_header(path)
    assert notebooks.header_problems(path) == []
    source = nbformat.read(path, as_version=4).cells[0].source
    prereq, time = syllabus.header_lines(next(c for c in CHAPTERS if c.number == "03"))
    assert source == f"# 03 · RNN\n\n{prereq}\n\n{time}\n\nMore text."
    assert not notebooks.fix_header(path)


def test_headers_command(tmp_path, capsys):
    from coursekit.cli import main

    path = tmp_path / "04_lstm.ipynb"
    path.write_text((REPO / "chapters" / "04_lstm.ipynb").read_text())
    notebooks.fix_header(path)
    assert main(["headers", str(tmp_path)]) == 0
    _edit(path, lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source + "\n\n"))
    _edit(
        path,
        lambda nb: setattr(
            nb.cells[0], "source", nb.cells[0].source.replace("About 75", "About 60")
        ),
    )
    assert main(["headers", str(tmp_path)]) == 1
    assert "disagrees with coursekit/syllabus.py" in capsys.readouterr().out
    assert main(["headers", "--fix", str(tmp_path)]) == 0
    assert main(["headers", str(tmp_path)]) == 0


def test_badge_points_at_the_configured_repository():
    url = notebooks.repository_url()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'Repository = "{url}"' in pyproject
    badge = notebooks.badge_markdown("chapters/03_rnn.ipynb")
    slug = url.removeprefix("https://github.com/")
    assert badge.endswith(
        f"(https://colab.research.google.com/github/{slug}/blob/main/chapters/03_rnn.ipynb)"
    )
    assert f'repository = "{url}"' in notebooks.setup_cell_source()
    assert 'package = f"coursekit @ git+{repository}"' in notebooks.setup_cell_source()
    embeddings = notebooks.setup_cell_source("01_embeddings.ipynb")
    assert 'package = f"coursekit[embeddings] @ git+{repository}"' in embeddings


def _copy_of(tmp_path, name="00_setup.ipynb"):
    target = tmp_path / name
    target.write_text((REPO / "chapters" / name).read_text())
    return target


def _edit(path, fn):
    nb = nbformat.read(path, as_version=4)
    fn(nb)
    path.write_text(nbformat.writes(nb))


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            lambda nb: setattr(
                nb.cells[0], "source", nb.cells[0].source.replace("Open In Colab", "Open")
            ),
            "Colab badge",
        ),
        (lambda nb: setattr(nb.cells[1], "source", "import coursekit"), "setup cell"),
        (
            lambda nb: nb.cells[3].outputs.append(
                nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[])
            ),
            "stored error",
        ),
        (lambda nb: setattr(nb.cells[3], "execution_count", 99), "top to bottom"),
        (
            lambda nb: nb.cells[2].__setitem__(
                "source", nb.cells[2].source + "\nsee /home/alice/x"
            ),
            "machine-specific path",
        ),
        (lambda nb: nb.metadata.__setitem__("colab", {"x": 1}), "extra keys"),
        (lambda nb: nb.metadata.kernelspec.__setitem__("name", "conda-env-x"), "kernelspec"),
        (lambda nb: nb.cells.pop(), "run_report"),
        (
            lambda nb: nb.cells.append(nbformat.v4.new_code_cell("x = 1  # BEGIN SOLUTION")),
            "no 'solution' tag",
        ),
    ],
)
def test_breaking_a_convention_is_caught(tmp_path, breakage, expected):
    path = _copy_of(tmp_path)
    assert notebooks.check_notebook(path) == []
    _edit(path, breakage)
    problems = notebooks.check_notebook(path)
    assert any(expected in p for p in problems), problems


def test_fix_badge_repairs_badge_and_setup_cell(tmp_path):
    path = _copy_of(tmp_path)
    _edit(
        path,
        lambda nb: (
            setattr(nb.cells[0], "source", nb.cells[0].source.replace("pretrained", "old")),
            setattr(nb.cells[1], "source", "x"),
        ),
    )
    assert notebooks.check_notebook(path)
    assert notebooks.fix_badge(path)
    assert notebooks.check_notebook(path) == []
    assert not notebooks.fix_badge(path)


def test_new_chapter_scaffold(tmp_path):
    path = notebooks.new_chapter(tmp_path / "42_demo_topic.ipynb", "Demo")
    nb = nbformat.read(path, as_version=4)
    assert (
        nb.cells[0].source.startswith("# 42 · Demo")
        and notebooks.badge_markdown(path) in nb.cells[0].source
    )
    assert nb.cells[1].source == notebooks.setup_cell_source(path)
    assert nb.cells[-1].source == "coursekit.run_report()"
    with pytest.raises(FileExistsError):
        notebooks.new_chapter(path, "Again")


def test_strip_solutions_keeps_indentation_and_surroundings():
    source = "def f(x):\n    # a hint stays\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n"
    assert notebooks._strip_solutions(source) == (
        f"def f(x):\n    # a hint stays\n    {notebooks.STUDENT_PLACEHOLDER}\n"
    )
    with pytest.raises(ValueError, match="no matching"):
        notebooks._strip_solutions("# BEGIN SOLUTION\nx = 1")


def test_student_edition_has_no_solutions_and_parses(tmp_path):
    written = notebooks.write_student_edition(REPO / "chapters", tmp_path)
    assert [p.name for p in written] == [p.name for p in CHAPTER_FILES]
    solutions = 0
    for path, original in zip(written, CHAPTER_FILES, strict=True):
        full = nbformat.read(original, as_version=4)
        student = nbformat.read(path, as_version=4)
        assert len(student.cells) == len(full.cells)
        for before, after in zip(full.cells, student.cells, strict=True):
            assert notebooks.BEGIN_SOLUTION not in after.source
            if after.cell_type != "code":
                continue
            assert after.outputs == [] and after.execution_count is None
            if notebooks.SOLUTION_TAG in before.metadata.get("tags", []):
                solutions += 1
                assert notebooks.STUDENT_PLACEHOLDER in after.source
            python = "\n".join(
                line for line in after.source.splitlines() if not re.match(r"\s*[%!]", line)
            )
            ast.parse(python)
    assert solutions >= 1


def test_student_edition_of_setup_runs_and_reports_unattempted(tmp_path, monkeypatch):
    """The student edition opens and runs top to bottom; the exercise says 'not attempted'."""
    from nbclient import NotebookClient

    monkeypatch.delenv(
        "COURSEKIT_STRICT_EXERCISES", raising=False
    )  # the kernel inherits os.environ
    written = notebooks.write_student_edition(REPO / "chapters", tmp_path)
    (path,) = [p for p in written if p.name == "00_setup.ipynb"]
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(o.output_type == "error" for o in outputs)
    text = "".join(o.get("text", "") for o in outputs)
    assert "00.1 softmax: not attempted yet" in text


def test_each_student_edition_runs_once_per_test_run(tmp_path):
    """nbval runs the student edition of every chapter the browser test does not run."""
    targets = notebooks.student_nbval_targets(REPO / "chapters", tmp_path)
    names = {p.name for p in targets}
    assert all(p.parent == tmp_path for p in targets)
    assert set(notebooks.BROWSER_CHAPTERS) <= {p.name for p in CHAPTER_FILES}
    assert names.isdisjoint(notebooks.BROWSER_CHAPTERS)
    assert names | set(notebooks.BROWSER_CHAPTERS) == {p.name for p in CHAPTER_FILES}
    with pytest.raises(FileNotFoundError, match="no chapters"):
        notebooks.student_nbval_targets(tmp_path, tmp_path)
