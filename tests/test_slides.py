"""The slide decks' rules (coursekit.slides) and the pinned asset fetch (scripts/slides_assets.py).

Fast and offline: the derivation rules on small notebooks, the maintainer's ``slideshow``
override, the committed chapters' slide counts, one real deck's HTML checked for remote
references, and the fetcher's checksum and unpack logic on in-memory tarballs. The deck in a
browser is tests/browser/test_slides.py.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import re
import tarfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from coursekit import slides
from coursekit.notebooks import ALLOWED_CELL_METADATA, REPORT_SOURCE, check_notebook

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
SETUP = "# Setup: on Colab this installs coursekit\nimport coursekit"


def _assets_module():
    spec = importlib.util.spec_from_file_location(
        "slides_assets", REPO / "scripts/slides_assets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chapter(*cells):
    return new_notebook(
        cells=[
            new_markdown_cell("# 99 · Title"),
            new_code_cell(SETUP),
            *cells,
            new_code_cell(REPORT_SOURCE),
        ]
    )


def test_headings_setup_and_report():
    nb = _chapter(
        new_markdown_cell("Some words."),
        new_markdown_cell("## 1. Part"),
        new_code_cell("x = 1"),
        new_markdown_cell("### 1.1 Detail"),
        new_markdown_cell("#### deeper"),
    )
    types = ["slide", "skip", "-", "slide", "fragment", "subslide", "subslide", "skip"]
    assert slides.slide_types(nb) == types
    assert slides.count_slides(slides.slide_types(nb)) == 4


def test_solutions_are_notes_and_long_code_shows_only_outputs():
    solution = new_code_cell("def f():\n    return 1", metadata={"tags": ["solution"]})
    long_code = "\n".join(f"x{i} = {i}" for i in range(slides.LONG_CODE_LINES + 1))
    shown = new_code_cell(long_code, outputs=[new_output("stream", name="stdout", text="ok\n")])
    silent = new_code_cell(long_code)
    nb = _chapter(new_markdown_cell("## 1. Part"), solution, shown, silent)
    types = slides.slide_types(nb)
    assert types[3:6] == ["notes", "fragment", "skip"]
    annotated = slides.annotate(nb)
    assert annotated.cells[4].metadata["transient"] == {"remove_source": True}
    assert "transient" not in annotated.cells[3].metadata


def test_a_full_slide_continues_below():
    figure = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
    plots = [
        new_code_cell(f"plot({i})", outputs=[new_output("display_data", data=figure)])
        for i in range(3)
    ]
    nb = _chapter(new_markdown_cell("## 1. Part"), *plots)
    # Each figure counts FIGURE_LINES: the second no longer fits under the first.
    assert slides.slide_types(nb)[3:6] == ["fragment", "subslide", "subslide"]


def test_explicit_slideshow_metadata_overrides_the_derived_type():
    assert "slideshow" in ALLOWED_CELL_METADATA
    nb = _chapter(
        new_markdown_cell("## 1. Part", metadata={"slideshow": {"slide_type": "skip"}}),
        new_code_cell("x = 1", metadata={"slideshow": {"slide_type": "slide"}}),
        new_markdown_cell("words", metadata={"slideshow": {"slide_type": "fragment"}}),
        new_markdown_cell("## 2. Kept", metadata={"slideshow": {"slide_type": "bogus"}}),
    )
    assert slides.slide_types(nb)[2:6] == ["skip", "slide", "fragment", "slide"]
    assert slides.annotate(nb).cells[2].metadata["slideshow"] == {"slide_type": "skip"}


def test_check_notebook_accepts_slideshow_metadata(tmp_path):
    nb = nbformat.read(CHAPTERS[0], as_version=4)
    nb.cells[4].metadata["slideshow"] = {"slide_type": "subslide"}
    path = tmp_path / CHAPTERS[0].name
    nbformat.write(nb, path)
    assert not [p for p in check_notebook(path) if "metadata" in p]


def test_annotate_copies_and_drops_badge_and_widget_views():
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "image/png": "AA=="}
    nb = _chapter(new_code_cell("w", outputs=[new_output("display_data", data=view)]))
    nb.cells[0].source += "\n[![Open In Colab](https://x/badge.svg)](https://colab/x)"
    nb.metadata["widgets"] = {"state": {}}
    out = slides.annotate(nb)
    assert "Open In Colab" not in out.cells[0].source
    assert list(out.cells[2].outputs[0].data) == ["image/png"]
    assert "widgets" not in out.metadata
    assert "Open In Colab" in nb.cells[0].source and "widgets" in nb.metadata  # input untouched
    assert "slideshow" not in nb.cells[0].metadata


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_one_slide_per_section(chapter):
    nb = nbformat.read(chapter, as_version=4)
    types = slides.slide_types(nb)
    headings = [
        c
        for c in nb.cells
        if c.cell_type == "markdown"
        and re.match(r"#{1,2}\s", c.source)
        and "slideshow" not in c.metadata
    ]
    assert types.count("slide") == len(headings)
    assert types[0] == "slide" and types[1] == "skip" and types[-1] == "skip"
    assert slides.count_slides(types) >= len(headings)


def test_deck_html_references_nothing_remote(tmp_path):
    pytest.importorskip("nbconvert")
    deck = slides.export_deck(CHAPTERS[0], tmp_path)
    html = deck.read_text(encoding="utf-8")
    loads = re.findall(r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", html)
    remote = [url for url in loads if not url.startswith(("data:", f"{slides.ASSETS_FOLDER}/"))]
    assert not remote
    assert f'src="{slides.ASSETS_FOLDER}/reveal.js/dist/reveal.js"' in html
    assert f'src="{slides.ASSETS_FOLDER}/mathjax/es5/tex-chtml-full.js"' in html
    assert "cdnjs" not in html and "unpkg" not in html and "import mermaid" not in html
    # nbconvert nests each slide's subslides: one <section> per slide plus one per subslide.
    types = slides.slide_types(nbformat.read(CHAPTERS[0], as_version=4))
    shown = [t for t in types if t not in {"notes", "skip"}]
    horizontal = 1 + shown[1:].count("slide")
    assert html.count("<section") == horizontal + slides.count_slides(types)


# -- scripts/slides_assets.py ----------------------------------------------------------------------
def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_pins_are_exact_registry_tarballs():
    pins = _assets_module().load_pins()
    assert set(pins) == {"reveal.js", "mathjax"}
    for name, spec in pins.items():
        assert spec["url"] == (f"https://registry.npmjs.org/{name}/-/{name}-{spec['version']}.tgz")
        assert re.fullmatch(r"[0-9a-f]{64}", spec["sha256"])
        assert spec["sha512"].startswith("sha512-")


def test_verify_rejects_other_bytes():
    assets = _assets_module()
    payload = b"the real tarball"
    spec = {
        "version": "1.0.0",
        "url": "https://registry.npmjs.org/x/-/x-1.0.0.tgz",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "sha512": "sha512-" + base64.b64encode(hashlib.sha512(payload).digest()).decode(),
    }
    assets.verify("x", spec, payload)
    with pytest.raises(SystemExit, match="different bytes"):
        assets.verify("x", spec, payload + b"!")


def test_unpack_takes_only_the_listed_files(tmp_path):
    assets = _assets_module()
    payload = _tarball({"dist/a.js": b"a", "dist/fonts/f.woff": b"f", "src/big.js": b"no"})
    assert assets.unpack(payload, ["dist/a.js", "dist/fonts/"], tmp_path) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == [
        "dist/a.js",
        "dist/fonts/f.woff",
    ]
    with pytest.raises(SystemExit, match="has no"):
        assets.unpack(payload, ["dist/missing.js"], tmp_path / "other")
