"""The chapters as files: scaffolding, conventions, execution, Colab badges, student edition,
instructors' solutions.

Used by ``python -m coursekit new-chapter | check | execute | badges | headers | student |
solutions`` and by the tests.
Conventions every chapter keeps (checked by :func:`check_notebook`):

- cell 0 is markdown: ``# NN · Title``, the Colab badge for this file, goals, prerequisites, time
  (the ``**Prerequisites.**`` and ``**Time.**`` paragraphs are generated from the syllabus and
  checked by :func:`header_problems`; ``python -m coursekit headers --fix`` rewrites them);
- cell 1 is the setup cell, exactly :func:`setup_cell_source` (installs coursekit on Colab only);
- the last code cell is ``coursekit.run_report()``;
- python3 kernelspec, clean metadata, no stored errors, execution counts 1, 2, 3, … in order,
  no absolute paths or user names;
- solution regions (``# BEGIN SOLUTION`` … ``# END SOLUTION``) only in cells tagged ``solution``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat

__all__ = [
    "BEGIN_SOLUTION",
    "BROWSER_CHAPTERS",
    "END_SOLUTION",
    "SOLUTION_TAG",
    "badge_markdown",
    "check_notebook",
    "colab_url",
    "execute_notebook",
    "fix_badge",
    "fix_header",
    "header_problems",
    "new_chapter",
    "repository_url",
    "setup_cell_source",
    "solutions_markdown",
    "student_nbval_targets",
    "student_notebook",
    "write_solutions",
    "write_student_edition",
]

BEGIN_SOLUTION = "# BEGIN SOLUTION"
END_SOLUTION = "# END SOLUTION"
SOLUTION_TAG = "solution"
STUDENT_PLACEHOLDER = 'raise NotImplementedError("Exercise: replace this line with your code")'
REPORT_SOURCE = "coursekit.run_report()"
# The chapters the browser test (tests/browser) runs in JupyterLab, as a learner does: their student
# edition, since that is what `make lab-student` serves; nbval runs the full edition of every
# chapter and the student edition of the others (:func:`student_nbval_targets`), so each edition
# of each chapter runs exactly once per test run.
BROWSER_CHAPTERS = (
    "00_setup.ipynb",
    "01_embeddings.ipynb",
    "03_rnn.ipynb",  # the training loop: tqdm.auto progress bars and the live loss plot
    "06_attention.ipynb",  # the alignment explorer
    "07_transformer.ipynb",
    "08_pretraining.ipynb",  # the sampling explorer (temperature, top-k, top-p)
)
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info", "widgets"}
# "slideshow": a maintainer's override of the slide type coursekit.slides derives (make slides).
ALLOWED_CELL_METADATA = {"tags", "slideshow"}
_REPO_ROOT = Path(__file__).resolve().parent.parent
_MACHINE_PATTERNS = [
    re.compile(r"(?<![\w.])/(?:root|home|Users|tmp|work|var/folders)/[\w.-]+"),
    re.compile(r"[A-Za-z]:\\\\Users\\\\"),
    re.compile(r"\.venv/lib/python"),
]


# -- the repository URL: pyproject's [project.urls] Repository, the one place it lives ---------
def repository_url() -> str:
    """The course repository's URL from pyproject.toml (in a clone) or the installed metadata."""
    pyproject = _REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        match = re.search(
            r'^\[project\.urls\][^\[]*?^Repository\s*=\s*"([^"]+)"',
            pyproject.read_text(encoding="utf-8"),
            flags=re.MULTILINE | re.DOTALL,
        )
        if match:
            return match.group(1).rstrip("/")
    from importlib import metadata

    for entry in metadata.metadata("coursekit").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise RuntimeError("No Repository URL in pyproject.toml's [project.urls]; add one.")


def _github_slug() -> str:
    url = repository_url()
    match = re.match(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?$", url)
    if not match:
        raise RuntimeError(
            f"Colab opens notebooks from GitHub; {url!r} is not a github.com repository URL."
        )
    return match.group(1)


def colab_url(notebook: str | Path) -> str:
    """Colab link for a chapter, e.g. ``chapters/00_setup.ipynb`` on the main branch."""
    return f"https://colab.research.google.com/github/{_github_slug()}/blob/main/chapters/{Path(notebook).name}"


def badge_markdown(notebook: str | Path) -> str:
    """The "Open in Colab" badge line for a chapter."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook)})"


def setup_cell_source(notebook: str | Path | None = None) -> str:
    """The setup cell every chapter starts with: installs coursekit on Colab, then ``setup()``.

    A chapter that needs optional packages on Colab (its ``colab_extras`` in
    :mod:`coursekit.syllabus`) installs ``coursekit[extra,…]``.
    """
    from coursekit.syllabus import CHAPTERS

    name = Path(notebook).name if notebook is not None else ""
    extras = next((c.colab_extras for c in CHAPTERS if c.filename == name), ())
    package = f"coursekit[{','.join(extras)}]" if extras else "coursekit"
    return (
        "# Setup: on Colab this installs coursekit (with the course's data); elsewhere it does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    repository = "{repository_url()}"\n'
        f'    package = f"{package} @ git+{{repository}}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)\n'
        "\n"
        "import coursekit\n"
        "\n"
        "device = coursekit.setup()"
    )


# -- scaffolding ----------------------------------------------------------------------------------
def new_chapter(path: str | Path, title: str) -> Path:
    """Write a new chapter with the title cell, the setup cell and the closing report cell."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; delete it first or pick another name.")
    number = path.stem.split("_", 1)[0]
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            f"# {number} · {title}\n\n{badge_markdown(path)}\n\n"
            "**Goals.** …\n\n**Prerequisites.** …\n\n**Time.** … minutes of study; runs in … on a laptop CPU."
        ),
        nbformat.v4.new_code_cell(setup_cell_source(path)),
        nbformat.v4.new_markdown_cell("## Summary\n\n…"),
        nbformat.v4.new_code_cell(REPORT_SOURCE),
    ]
    _write(nb, path)
    fix_header(path)  # a chapter the syllabus already lists gets its generated header lines
    return path


def _write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write with stable cell ids (cell-000, …) so re-execution gives small diffs."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def _clean_metadata(nb: nbformat.NotebookNode) -> None:
    keep = {k: v for k, v in nb.metadata.items() if k in ALLOWED_NOTEBOOK_METADATA}
    keep["kernelspec"] = dict(KERNELSPEC)
    keep["language_info"] = dict(LANGUAGE_INFO)
    nb.metadata = keep
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA and v}


# -- execution ------------------------------------------------------------------------------------
def execute_notebook(path: str | Path, timeout: int = 600) -> float:
    """Run a chapter top to bottom in a fresh kernel, store its outputs in place; return seconds.

    The kernel starts in the notebook's folder, as in JupyterLab. Widget state is stored so that
    saved widgets render in JupyterLab before anything is run.
    """
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    _clean_metadata(nb)
    _write(nb, path)
    return seconds


# -- badges ---------------------------------------------------------------------------------------
_BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def fix_badge(path: str | Path) -> bool:
    """Rewrite the chapter's badge and setup cell from the configured URL; True if it changed."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    title, setup = nb.cells[0], nb.cells[1]
    before = (title.source, setup.source)
    if _BADGE_RE.search(title.source):
        title.source = _BADGE_RE.sub(badge_markdown(path), title.source)
    else:
        lines = title.source.split("\n", 1)
        title.source = (
            lines[0] + "\n\n" + badge_markdown(path) + ("\n" + lines[1] if len(lines) > 1 else "")
        )
    setup.source = setup_cell_source(path)
    if (title.source, setup.source) == before:
        return False
    _write(nb, path)
    return True


# -- header: prerequisites and time, from the syllabus ------------------------------------------
def _header_paragraph(label: str) -> re.Pattern[str]:
    return re.compile(rf"^\*\*{label}\.\*\*.*?(?=\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)


def _syllabus_header(path: Path, measured: str | Path | None) -> dict[str, str] | None:
    """Label -> the paragraph the syllabus gives this chapter (None if it is not in the syllabus)."""
    from coursekit import syllabus

    chapter = next((c for c in syllabus.CHAPTERS if c.filename == path.name), None)
    if chapter is None:
        return None
    lines = syllabus.header_lines(chapter, measured or syllabus.MEASURED_FILE)
    return dict(zip(("Prerequisites", "Time"), lines, strict=True))


def header_problems(path: str | Path, measured: str | Path | None = None) -> list[str]:
    """How cell 0's Prerequisites and Time paragraphs differ from what the syllabus says."""
    path = Path(path)
    want = _syllabus_header(path, measured)
    if want is None:
        return []
    source = nbformat.read(path, as_version=4).cells[0].source
    problems = []
    for label, paragraph in want.items():
        found = _header_paragraph(label).search(source)
        if found is None:
            problems.append(f"cell 0 has no **{label}.** paragraph")
        elif found.group(0).strip() != paragraph:
            problems.append(
                f"cell 0's **{label}.** paragraph disagrees with coursekit/syllabus.py "
                f"(run `python -m coursekit headers --fix chapters`): it says "
                f"{found.group(0).strip()!r}, the syllabus {paragraph!r}"
            )
    return problems


def fix_header(path: str | Path, measured: str | Path | None = None) -> bool:
    """Rewrite cell 0's Prerequisites and Time paragraphs from the syllabus; True if it changed.

    A missing paragraph is added at the end of the cell.
    """
    path = Path(path)
    want = _syllabus_header(path, measured)
    if want is None:
        return False
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0]
    before = title.source
    for label, paragraph in want.items():
        pattern = _header_paragraph(label)
        if pattern.search(title.source):
            title.source = pattern.sub(lambda _, text=paragraph: text, title.source, count=1)
        else:
            title.source = title.source.rstrip() + "\n\n" + paragraph
    if title.source == before:
        return False
    _write(nb, path)
    return True


# -- conventions ----------------------------------------------------------------------------------
def check_notebook(path: str | Path) -> list[str]:
    """Every way the chapter breaks the conventions (empty when it keeps them all)."""
    path = Path(path)
    problems: list[str] = []
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        return [f"not a valid notebook: {exc}"]
    cells = nb.cells
    if not re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name):
        problems.append("file name should be NN_slug.ipynb (two digits, lowercase slug)")
    if len(cells) < 3:
        return [*problems, "too few cells: needs title, setup, content and the run report"]
    first = cells[0]
    number = path.name[:2]
    if first.cell_type != "markdown" or not re.match(rf"# {number} · \S", first.source):
        problems.append(f"cell 0 should be markdown starting with '# {number} · Title'")
    if badge_markdown(path) not in first.source:
        problems.append("cell 0 lacks the Colab badge for this file (run `make badges`)")
    if cells[1].cell_type != "code" or cells[1].source != setup_cell_source(path):
        problems.append("cell 1 should be exactly the setup cell (run `make badges`)")
    code = [c for c in cells if c.cell_type == "code"]
    if code[-1].source.strip() != REPORT_SOURCE:
        problems.append(f"the last code cell should be `{REPORT_SOURCE}`")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec should be python3")
    extra = set(nb.metadata) - ALLOWED_NOTEBOOK_METADATA
    if extra:
        problems.append(f"notebook metadata has extra keys {sorted(extra)} (run `make notebooks`)")
    if nb.metadata.get("language_info", {}).keys() - LANGUAGE_INFO.keys():
        problems.append("language_info carries machine details (run `make notebooks`)")
    counts = [c.execution_count for c in code]
    if any(n is None for n in counts) or counts != list(range(1, len(code) + 1)):
        problems.append("not executed top to bottom from a clean kernel (run `make notebooks`)")
    for i, cell in enumerate(cells):
        extra = set(cell.metadata) - ALLOWED_CELL_METADATA
        if extra:
            problems.append(f"cell {i} metadata has extra keys {sorted(extra)}")
        tagged = SOLUTION_TAG in cell.metadata.get("tags", [])
        has_markers = BEGIN_SOLUTION in cell.source
        if has_markers and not tagged:
            problems.append(f"cell {i} has a solution region but no '{SOLUTION_TAG}' tag")
        if (
            tagged
            and cell.cell_type == "code"
            and (
                cell.source.count(BEGIN_SOLUTION) != cell.source.count(END_SOLUTION)
                or not has_markers
            )
        ):
            problems.append(
                f"cell {i} is tagged '{SOLUTION_TAG}' but its BEGIN/END SOLUTION markers do not pair up"
            )
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} has a stored error output ({out.get('ename')})")
            if out.get("name") == "stderr" and "Traceback" in out.get("text", ""):
                problems.append(f"cell {i} printed a traceback to stderr")
    text = path.read_text(encoding="utf-8")
    for pattern in _MACHINE_PATTERNS:
        match = pattern.search(text)
        if match:
            problems.append(f"machine-specific path in the file: {match.group(0)!r}")
    return problems


# -- student edition ------------------------------------------------------------------------------
def _strip_solutions(source: str) -> str:
    out: list[str] = []
    inside = False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{STUDENT_PLACEHOLDER}")
            inside = True
        elif stripped == END_SOLUTION:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a '# BEGIN SOLUTION' has no matching '# END SOLUTION'")
    return "\n".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every solution region replaced and all outputs cleared."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            if cell.cell_type == "code":
                cell.source = _strip_solutions(cell.source)
            else:
                cell.source = "*Your answer here.*"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def student_nbval_targets(src: str | Path, dst: str | Path) -> list[Path]:
    """The student-edition files in ``dst`` that nbval runs: every chapter of ``src`` except the
    :data:`BROWSER_CHAPTERS`, whose student edition the browser test runs."""
    chapters = sorted(Path(src).glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        raise FileNotFoundError(f"no chapters (NN_slug.ipynb) in {src}")
    return [Path(dst) / p.name for p in chapters if p.name not in BROWSER_CHAPTERS]


def write_student_edition(src: str | Path, dst: str | Path) -> list[Path]:
    """Write the student edition of every chapter in ``src`` to ``dst``; return the files written."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        nb = student_notebook(nbformat.read(path, as_version=4))
        target = dst / path.name
        _write(nb, target)
        written.append(target)
    if not written:
        raise FileNotFoundError(f"no chapters (NN_slug.ipynb) in {src}")
    return written


# -- instructors' solutions -----------------------------------------------------------------------
_VERDICT_ICONS = ("✔", "✘", "✎")  # the first character of every printed ExerciseResult
_CHECKER_CALL = re.compile(r"\b(?:(ch\d\d)\.)?(check_\w+)\(")
_CHECKER_IMPORT = re.compile(r"from coursekit\.exercises(?:\.(ch\d\d) import| import (ch\d\d))")


def _exercises(nb: nbformat.NotebookNode) -> list[tuple[str, str, str, list[str]]]:
    """Each solution cell of ``nb`` as (statement, solution, checker, verdict lines).

    The statement is the nearest markdown cell before the solution cell; the checker and its
    verdict come from the code cells after it, up to the next markdown or solution cell.
    """
    cells, found = nb.cells, []
    for i, cell in enumerate(cells):
        if SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        statement = next((c.source for c in reversed(cells[:i]) if c.cell_type == "markdown"), "")
        checker, verdicts = "", []
        for j in range(i + 1, len(cells)):
            after = cells[j]
            if after.cell_type != "code" or SOLUTION_TAG in after.metadata.get("tags", []):
                break
            match = _CHECKER_CALL.search(after.source)
            if match and not checker:
                module, name = match.groups()
                if module is None:  # `from coursekit.exercises.chNN import check_x` before
                    source = "\n".join(c.source for c in cells[: j + 1])
                    modules = [a or b for a, b in _CHECKER_IMPORT.findall(source)]
                    module = modules[-1] if modules else None
                checker = f"{module}.{name}" if module else name
            for out in after.get("outputs", []):
                text = out.get("text", "") if out.get("output_type") == "stream" else ""
                verdicts += [line for line in text.splitlines() if line.startswith(_VERDICT_ICONS)]
            if checker:
                break
        found.append((statement, cell.source, checker, verdicts))
    return found


def solutions_markdown(nb: nbformat.NotebookNode, title: str = "") -> str | None:
    """The instructor's solutions of one chapter as Markdown, or None when it has no exercises.

    Per exercise: its statement (the markdown cell before the solution cell), the solution cell
    exactly as the course has it (the ``# BEGIN SOLUTION`` region is what the student edition
    removes), and what the checker printed when the chapter was executed with this solution.
    Nothing else of the chapter appears: no other code cell, no other output.
    """
    exercises = _exercises(nb)
    if not exercises:
        return None
    if not title:
        first = nb.cells[0].source.splitlines() if nb.cells else []
        title = first[0].lstrip("# ").strip() if first else "Chapter"
    lines = [
        f"# Solutions: {title}",
        "",
        "For instructors. Generated by `python -m coursekit solutions` (`make solutions`) from the "
        "chapter's cells tagged `solution`; do not hand this file to learners before the session.",
        "",
    ]
    for n, (statement, solution, checker, verdicts) in enumerate(exercises, 1):
        lines += [
            "---",
            "",
            statement.strip(),
            "",
            f"**Reference solution** ({n} of {len(exercises)}):",
        ]
        kind = "python" if BEGIN_SOLUTION in solution else ""
        lines += ["", f"```{kind}", solution.rstrip("\n"), "```", ""]
        named = f" (`coursekit.exercises.{checker}`)" if "." in checker else ""
        if verdicts:
            lines += [f"**The checker{named} prints, with this solution:**", "", "```"]
            lines += [*verdicts, "```", ""]
        else:
            lines += [f"**The checker{named}:** no stored output (run the chapter to see it).", ""]
    return "\n".join(lines)


def write_solutions(src: str | Path, dst: str | Path) -> list[Path]:
    """Write ``NN_slug.md``, the instructor's solutions, to ``dst`` for every chapter of ``src``
    that has exercises; return the files written."""
    src, dst = Path(src), Path(dst)
    chapters = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        raise FileNotFoundError(f"no chapters (NN_slug.ipynb) in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters:
        text = solutions_markdown(nbformat.read(path, as_version=4))
        if text is not None:
            target = dst / f"{path.stem}.md"
            target.write_text(text + "\n", encoding="utf-8")
            written.append(target)
    return written
