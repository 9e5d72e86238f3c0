"""The command line a maintainer and an instructor use."""

import subprocess
import sys
from pathlib import Path

import nbformat

from coursekit import notebooks
from coursekit.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_check_passes_on_the_course(capsys):
    assert main(["check", str(REPO / "chapters")]) == 0
    assert "all chapters keep the conventions" in capsys.readouterr().out


def test_badges_check_and_fix(tmp_path, capsys):
    path = tmp_path / "00_setup.ipynb"
    path.write_text((REPO / "chapters" / "00_setup.ipynb").read_text())
    assert main(["badges", str(tmp_path)]) == 0
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace(notebooks.badge_markdown(path), "")
    path.write_text(nbformat.writes(nb))
    assert main(["badges", str(tmp_path)]) == 1
    assert "does not match" in capsys.readouterr().out
    assert main(["badges", "--fix", str(tmp_path)]) == 0
    assert main(["badges", str(tmp_path)]) == 0


def test_student_command(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coursekit",
            "student",
            str(REPO / "chapters"),
            str(tmp_path / "student"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Student edition" in proc.stdout
    assert (tmp_path / "student" / "00_setup.ipynb").is_file()


def test_new_chapter_then_execute(tmp_path, capsys):
    path = tmp_path / "77_tiny.ipynb"
    assert main(["new-chapter", str(path), "--title", "Tiny"]) == 0
    assert main(["execute", "--run-log", "", str(path)]) == 0
    assert "77_tiny.ipynb" in capsys.readouterr().out
    nb = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2]
    assert notebooks.check_notebook(path) == []
