"""The slide decks in headless Chromium: opened from disk, offline, as in a classroom.

The decks of :data:`CHAPTERS` are built by the command ``make slides`` runs
(``python -m coursekit.slides``) into a temporary folder, from the reveal.js and MathJax that
``make slides-assets`` fetched (pinned, checksummed) into ``.cache/slides-assets``: nothing is
downloaded here. Without that cache the test is skipped with the command to run, except under
``CI=true`` (where ``make browser-test`` has fetched it first), where it fails. Each deck is opened
as ``file://`` with every other request aborted and recorded, and the test asserts:

- reveal.js is ready and shows ``Reveal.getTotalSlides()`` slides, the number
  :func:`coursekit.slides.count_slides` derives from the chapter, with one horizontal slide per
  ``#``/``##`` heading;
- ArrowRight and Space move to another slide or fragment (``Reveal.getIndices()`` changes);
- after every slide has been visited, each stored figure of the chapter is an ``<img>`` that
  loaded (``naturalWidth > 0``);
- a chapter with math has it typeset by MathJax (no ``merror``), with MathJax's own fonts loaded
  from disk;
- no request left ``file://``, no local file was missing, and the page raised no error.

A screenshot of the first slide with a figure goes to the browser test's artifacts folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from coursekit import slides

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

CHAPTERS = ("00_setup.ipynb", "02_language_models.ipynb")
READY_TIMEOUT_MS = 30_000
_MATH = re.compile(r"\$[^$\n]+\$|\\\(|\\\[")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def decks(tmp_path_factory, report) -> Path:
    """Both chapters' decks, built by ``python -m coursekit.slides`` from the fetched assets."""
    assets = slides.DEFAULT_ASSETS
    check = [
        sys.executable,
        str(REPO / "scripts/slides_assets.py"),
        "--check",
        "--dest",
        str(assets),
    ]
    if subprocess.run(check, capture_output=True, timeout=60).returncode != 0:
        reason = (
            f"no slide assets in {assets}: run `make slides-assets` once (needs npm's registry)"
        )
        if _in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("slides")
    started = time.monotonic()
    command = [sys.executable, "-m", "coursekit.slides", "--out", str(out), "--assets", str(assets)]
    done = subprocess.run(
        [*command, *(str(REPO / "chapters" / name) for name in CHAPTERS)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, f"python -m coursekit.slides failed:\n{done.stdout}{done.stderr}"
    report(f"slides: built {len(CHAPTERS)} decks in {time.monotonic() - started:.1f} s")
    return out


def _expected(notebook: Path) -> dict:
    nb = nbformat.read(notebook, as_version=4)
    types = slides.slide_types(nb)
    shown = [
        (cell, t) for cell, t in zip(nb.cells, types, strict=True) if t not in {"notes", "skip"}
    ]
    figures = sum(
        any(key.startswith("image/") for key in output.get("data", {}))
        for cell, _ in shown
        for output in cell.get("outputs", [])
    )
    headings = sum(
        cell.cell_type == "markdown" and bool(re.match(r"#{1,2}\s", cell.source))
        for cell in nb.cells
    )
    math = any(cell.cell_type == "markdown" and _MATH.search(cell.source) for cell, _ in shown)
    return {
        "total": slides.count_slides(types),
        "headings": headings,
        "figures": figures,
        "math": math,
    }


_VISIT_ALL_JS = """() => {
  for (const slide of Reveal.getSlides()) {
    const at = Reveal.getIndices(slide);
    Reveal.slide(at.h, at.v);
  }
  Reveal.slide(0, 0);
}"""

_IMAGES_JS = """() => Array.from(document.querySelectorAll('.reveal .slides img')).map(img => ({
  src: img.src.slice(0, 40), complete: img.complete, width: img.naturalWidth,
}))"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_deck_opens_offline_and_advances(chapter, decks, browser, artifacts_dir, report):
    notebook = REPO / "chapters" / chapter
    if not notebook.is_file():
        pytest.skip(f"chapters/{chapter} does not exist (yet)")
    want = _expected(notebook)
    deck = decks / f"{notebook.stem}.slides.html"
    assert deck.is_file(), f"{deck} was not written"

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: failed.append(f"{request.url} ({request.failure})"))
    started = time.monotonic()

    def wait_for(condition: str, what: str) -> None:
        """Wait for ``condition``; on a timeout fail with what the page was refused or missed."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_function(condition, timeout=READY_TIMEOUT_MS)
        except PlaywrightTimeout:
            pytest.fail(
                f"{deck.name}: {what} within {READY_TIMEOUT_MS / 1000:.0f} s; refused requests "
                f"{blocked}, failed requests {failed}, page errors {errors}",
                pytrace=False,
            )

    try:
        page.goto(deck.as_uri())
        wait_for("() => window.Reveal && Reveal.isReady()", "reveal.js was not ready")
        total = page.evaluate("Reveal.getTotalSlides()")
        horizontal = page.evaluate("Reveal.getHorizontalSlides().length")
        assert (total, horizontal) == (want["total"], want["headings"]), (
            f"{deck.name}: reveal.js shows {total} slides ({horizontal} across), the rules of "
            f"coursekit.slides give {want['total']} ({want['headings']} #/## headings)"
        )

        for key in ("ArrowRight", "Space"):
            before = page.evaluate("Reveal.getIndices()")
            page.keyboard.press(key)
            page.wait_for_timeout(100)
            after = page.evaluate("Reveal.getIndices()")
            assert after != before, f"{deck.name}: pressing {key} stayed at {before}"

        page.evaluate(_VISIT_ALL_JS)
        wait_for(
            "() => Array.from(document.querySelectorAll('.reveal .slides img'))"
            ".every(img => img.complete)",
            "the images did not finish loading",
        )
        images = page.evaluate(_IMAGES_JS)
        broken = [img["src"] for img in images if not img["width"]]
        assert not broken, f"{deck.name}: images that did not load: {broken}"
        assert len(images) == want["figures"], (
            f"{deck.name}: {len(images)} images, the chapter has {want['figures']} stored figures"
        )

        math = "none in this chapter"
        if want["math"]:
            wait_for(
                "() => window.MathJax && MathJax.startup && MathJax.startup.document",
                "MathJax did not start",
            )
            page.evaluate("() => MathJax.startup.promise")
            rendered = page.evaluate("document.querySelectorAll('mjx-container').length")
            bad = page.evaluate("document.querySelectorAll('mjx-merror').length")
            assert rendered and not bad, (
                f"{deck.name}: MathJax typeset {rendered} formulas, {bad} with errors"
            )
            first = page.locator("mjx-container").first
            at = first.evaluate("e => Reveal.getIndices(e.closest('section'))")
            page.evaluate(f"Reveal.slide({at['h']}, {at['v']})")
            wait_for(
                "() => Array.from(document.fonts).some(f => f.family.startsWith('MJX') && "
                "f.status === 'loaded')",
                "no MathJax font loaded",
            )
            math = f"{rendered} formulas typeset, MathJax fonts loaded"

        assert not blocked, f"{deck.name} asked the network for: {blocked}"
        assert not failed, f"{deck.name}: requests that failed: {failed}"
        assert not errors, f"{deck.name}: page errors: {errors}"
        report(
            f"{deck.name}: {total} slides, {len(images)} figures, math: {math}; "
            f"{deck.stat().st_size / 1e6:.2f} MB; checked in {time.monotonic() - started:.1f} s"
        )
    finally:
        figure = page.locator(".reveal .slides img").first
        try:
            if figure.count():
                at = figure.evaluate("e => Reveal.getIndices(e.closest('section'))")
                # Every fragment of the slide shown: the figure is often the last one.
                page.evaluate(f"Reveal.slide({at['h']}, {at['v']}, 1000)")
                page.wait_for_timeout(900)  # the slide transition
            page.screenshot(path=str(artifacts_dir / f"{notebook.stem}-slides.png"))
        except Exception as error:  # never hide the test's own failure behind a screenshot
            report(f"could not save the slide screenshot: {error}")
        context.close()
