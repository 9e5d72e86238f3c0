"""Conventions of every chapter, the Colab badges, and the student edition."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from coursekit import notebooks
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
