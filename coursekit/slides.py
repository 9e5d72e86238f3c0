"""Slides from the chapters: one reveal.js deck per notebook, built from its stored outputs.

``make slides`` (``python -m coursekit.slides chapters --out slides``) writes
``slides/NN_name.slides.html`` for every chapter and copies the decks' libraries beside them
(``slides/_assets/``: reveal.js and MathJax, fetched once from npm at pinned versions by
``scripts/slides_assets.py``), so the folder works from disk in a classroom with no network.
Nothing is executed and the chapters are never written: each deck is made from an annotated copy
in a temporary folder, through nbconvert's ``SlidesExporter`` with the course's template
(``coursekit/templates/coursekit_reveal``: nbconvert's reveal template with every script local).

Each cell's slide type (reveal.js through nbconvert: ``slide``, ``subslide``, ``fragment``, ``-``
to continue, ``notes``, ``skip``) is derived from the chapter's structure by
:func:`slide_types`; the first rule that applies wins:

1. an explicit ``slideshow: {slide_type: ...}`` in the cell's metadata (a maintainer's override);
2. the setup cell (the first code cell, starting ``# Setup``) and the final
   ``coursekit.run_report()`` cell: ``skip``;
3. a cell tagged ``solution``: ``notes`` (the instructor sees it in the speaker view, press S);
4. a markdown cell starting with a ``#`` or ``##`` heading: ``slide``; ``###`` or deeper:
   ``subslide``;
5. a code cell longer than :data:`LONG_CODE_LINES` lines has its code hidden (only its outputs
   are shown; the code is in the notebook); with no outputs either it is ``skip``;
6. any other cell continues the current slide (``-``), except that a cell which would take the
   slide past :data:`SLIDE_LINES` estimated lines (text, code and output lines, a figure
   counting :data:`FIGURE_LINES`) starts a new ``subslide`` below it; a code cell that follows
   markdown on the same slide is a ``fragment`` (the explanation first, then the code and its
   result on the next key press).

Widgets are shown as their stored static picture (a deck has no kernel); the widget manager is
not loaded.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from coursekit.notebooks import _BADGE_RE, REPORT_SOURCE, SOLUTION_TAG

__all__ = [
    "FIGURE_LINES",
    "LONG_CODE_LINES",
    "SLIDE_LINES",
    "SLIDE_TYPES",
    "annotate",
    "build_decks",
    "count_slides",
    "export_deck",
    "slide_types",
]

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "notes", "skip")
LONG_CODE_LINES = 12
SLIDE_LINES = 22
FIGURE_LINES = 16
OUTPUT_LINES_MAX = 10  # a long printed output scrolls; count it as this many lines
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "coursekit_reveal"
ASSETS_FOLDER = "_assets"
_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ASSETS = _REPO_ROOT / ".cache" / "slides-assets"
_HEADING = re.compile(r"^(#{1,6})\s")


def _source_lines(cell) -> list[str]:
    return [line for line in cell.source.splitlines() if line.strip()]


def _output_lines(cell) -> int:
    lines = 0
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if any(key.startswith("image/") for key in data):
            lines += FIGURE_LINES
        else:
            text = output.get("text") or data.get("text/markdown") or data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            lines += min(len(text.splitlines()), OUTPUT_LINES_MAX)
    return lines


def _is_setup(cell, index: int, first_code: int | None) -> bool:
    return index == first_code and cell.source.lstrip().startswith("# Setup")


def _override(cell) -> str | None:
    slideshow = cell.metadata.get("slideshow")
    if isinstance(slideshow, dict) and slideshow.get("slide_type") in SLIDE_TYPES:
        return slideshow["slide_type"]
    return None


def hides_code(cell) -> bool:
    """A code cell whose code is left out of the deck (rule 5): only its outputs are shown."""
    return cell.cell_type == "code" and len(_source_lines(cell)) > LONG_CODE_LINES


def slide_types(nb: nbformat.NotebookNode) -> list[str]:
    """Each cell's reveal.js slide type by the rules in this module's docstring.

    >>> from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    >>> nb = new_notebook(cells=[
    ...     new_markdown_cell("# 00 · Title"), new_code_cell("# Setup: ...\\nimport coursekit"),
    ...     new_markdown_cell("## 1. Start"), new_code_cell("x = 1"),
    ...     new_markdown_cell("### 1.1 Detail"), new_code_cell("coursekit.run_report()")])
    >>> slide_types(nb)
    ['slide', 'skip', 'slide', 'fragment', 'subslide', 'skip']
    """
    cells = nb.cells
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    first_code = code[0] if code else None
    last_code = code[-1] if code else None
    types: list[str] = []
    height = 0  # estimated lines on the current (sub)slide
    has_markdown = False  # the current (sub)slide shows markdown
    for index, cell in enumerate(cells):
        kind = _override(cell)
        lines = len(_source_lines(cell))
        if cell.cell_type == "code":
            lines = (0 if hides_code(cell) else lines) + _output_lines(cell)
        if kind is None:
            tags = cell.metadata.get("tags", [])
            heading = _HEADING.match(cell.source) if cell.cell_type == "markdown" else None
            if cell.cell_type == "code" and (
                _is_setup(cell, index, first_code)
                or (index == last_code and cell.source.strip() == REPORT_SOURCE)
            ):
                kind = "skip"
            elif SOLUTION_TAG in tags:
                kind = "notes"
            elif heading:
                kind = "slide" if len(heading.group(1)) <= 2 else "subslide"
            elif cell.cell_type == "raw" or (hides_code(cell) and not cell.get("outputs")):
                kind = "skip"
            elif height and height + lines > SLIDE_LINES:
                kind = "subslide"
            elif cell.cell_type == "code" and has_markdown:
                kind = "fragment"
            else:
                kind = "-"
        if kind in {"slide", "subslide"}:
            height, has_markdown = 0, False
        if kind not in {"notes", "skip"}:
            height += lines
            has_markdown = has_markdown or cell.cell_type == "markdown"
        types.append(kind)
    return types


def count_slides(types: Sequence[str]) -> int:
    """How many slides reveal.js shows for these types (``Reveal.getTotalSlides()``).

    nbconvert makes the first shown cell a slide; every later ``slide`` or ``subslide`` adds one.

    >>> count_slides(["skip", "-", "fragment", "subslide", "notes", "slide", "-"])
    3
    """
    shown = [t for t in types if t not in {"notes", "skip"}]
    return 1 + sum(t in {"slide", "subslide"} for t in shown[1:]) if shown else 0


def annotate(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``slideshow`` metadata on every cell, ready for the exporter.

    Long code cells get ``transient.remove_source`` (nbconvert then leaves the code out); widget
    views are dropped from the outputs, so their stored static picture is shown instead; the
    Colab badge (an image on the web, and no use in a classroom) is removed.
    """
    out = copy.deepcopy(nb)
    for cell, kind in zip(out.cells, slide_types(nb), strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
        if cell.cell_type == "markdown":
            cell.source = _BADGE_RE.sub("", cell.source)
        if hides_code(cell):
            cell.metadata["transient"] = {"remove_source": True}
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    out.metadata.pop("widgets", None)
    return out


def _exporter(assets: str):
    from nbconvert.exporters import SlidesExporter

    exporter = SlidesExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        template_name=TEMPLATE_NAME,
        reveal_url_prefix=f"{assets}/reveal.js",
        reveal_theme="white",
        reveal_number="c/t",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    return exporter


def export_deck(
    notebook: str | Path, out_dir: str | Path, assets_url: str = ASSETS_FOLDER, exporter=None
) -> Path:
    """Write ``out_dir/<stem>.slides.html`` for one notebook; ``assets_url`` is relative to it."""
    notebook, out_dir = Path(notebook), Path(out_dir)
    nb = annotate(nbformat.read(notebook, as_version=4))
    exporter = exporter or _exporter(assets_url)
    with tempfile.TemporaryDirectory(prefix="coursekit-slides-") as tmp:
        # The annotated copy, as the issue asks: a file of its own, never the chapter.
        copy_path = Path(tmp) / notebook.name
        nbformat.write(nb, copy_path)
        resources = {
            "metadata": {"name": notebook.stem, "path": tmp},
            "coursekit_assets": assets_url,
        }
        body, _ = exporter.from_filename(str(copy_path), resources=resources)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{notebook.stem}.slides.html"
    target.write_text(body, encoding="utf-8")
    return target


def build_decks(
    notebooks: Sequence[str | Path], out_dir: str | Path, assets: str | Path = DEFAULT_ASSETS
) -> list[Path]:
    """One deck per notebook in ``out_dir``, with the libraries copied to ``out_dir/_assets``."""
    assets, out_dir = Path(assets), Path(out_dir)
    if not (assets / "reveal.js" / "dist" / "reveal.js").is_file():
        raise FileNotFoundError(
            f"no reveal.js in {assets}: run `make slides-assets` (python scripts/slides_assets.py)"
            " once with the network; later builds are offline"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        assets, out_dir / ASSETS_FOLDER, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*")
    )
    exporter = _exporter(ASSETS_FOLDER)
    return [export_deck(nb, out_dir, ASSETS_FOLDER, exporter) for nb in notebooks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks or folders of notebooks")
    parser.add_argument("--out", type=Path, default=Path("slides"), help="the decks' folder")
    parser.add_argument("--assets", type=Path, default=DEFAULT_ASSETS, help="fetched libraries")
    args = parser.parse_args(argv)
    notebooks = [
        nb
        for path in args.paths
        for nb in (sorted(path.glob("[0-9][0-9]_*.ipynb")) if path.is_dir() else [path])
    ]
    try:
        decks = build_decks(notebooks, args.out, args.assets)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    for deck, nb in zip(decks, notebooks, strict=True):
        types = slide_types(nbformat.read(nb, as_version=4))
        print(f"{deck}: {count_slides(types)} slides, {deck.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
