"""The course website (`make site`) in headless Chromium, served from 127.0.0.1 and nothing else.

The site in build/site/html is used when it was built from the current inputs (its ``.inputs``
fingerprint, see scripts/build_site.py); otherwise this builds it first (about 10 s). A local
``http.server`` serves it; every request the page makes to any other origin is blocked and
recorded, and a test fails if there was one: the site must work offline. For every chapter page:

- it loads with no console error and no uncaught exception;
- every image on it (the stored figures, the Colab badge) has loaded (``naturalWidth > 0``), and
  there are at least as many as the notebook has stored figures;
- MathJax has rendered every equation (each math element holds MathJax's output, no TeX error),
  and a chapter whose markdown has ``$`` math shows some;
- its Colab badge links to that chapter on Colab;
- every link to another page of the site answers 200, and a link's ``#fragment`` names an id on
  that page.

The home page lists the chapters in order, the syllabus and glossary pages hold their tables,
and the search page finds a chapter by a word in it.
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

CHAPTERS = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
TIMEOUT_MS = 30_000
# A word from one chapter's text, and the chapter the search must find it in.
SEARCH_WORD, SEARCH_CHAPTER = "perplexity", "02_language_models"


def _build_module():
    spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def site_root(report) -> Path:
    """build/site/html, rebuilt first when its inputs changed since it was built."""
    build = _build_module()
    html = build.DEFAULT_OUT / "html"
    stamp = html / ".inputs"
    if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != build.fingerprint():
        subprocess.run([sys.executable, str(REPO / "scripts" / "build_site.py")], check=True)
        report("course website: built by the test (make site builds it beforehand)")
    return html


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # quiet; statuses are kept in server.log
        pass

    def log_request(self, code="-", size="-"):
        self.server.log.append((self.path, int(code) if str(code).isdigit() else code))


@pytest.fixture(scope="session")
def site_url(site_root):
    """``http://127.0.0.1:PORT/`` serving the built site, stopped at the end of the session."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(site_root))
    )
    server.log = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Visit:
    """One page in a fresh browser context: console errors, page errors and blocked requests."""

    def __init__(self, browser, origin: str):
        self.origin = origin
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.context = browser.new_context()
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on(
            "requestfailed",
            lambda req: (
                self.failed.append(f"{req.url} ({req.failure})")
                if not req.url.startswith(self.origin) or req.url not in self.blocked
                else None
            ),
        )

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.origin):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, path: str):
        response = self.page.goto(self.origin + path, wait_until="load")
        assert response is not None and response.status == 200, f"{path}: HTTP {response.status}"
        return self.page

    def assert_clean(self, where: str) -> None:
        assert not self.blocked, f"{where} asked for outside resources (blocked): {self.blocked}"
        assert not self.errors, f"{where} logged errors: {self.errors}"
        failed = [f for f in self.failed if f.split(" ")[0] not in self.blocked]
        assert not failed, f"{where}: requests that failed: {failed}"

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site_url):
    visits = []

    def make() -> Visit:
        visits.append(Visit(browser, site_url))
        return visits[-1]

    yield make
    for v in visits:
        v.close()


def _stored_figures(nb: nbformat.NotebookNode) -> int:
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )


def _has_math(nb: nbformat.NotebookNode) -> bool:
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    text = "\n".join(part for i, part in enumerate(text.split("`")) if i % 2 == 0)  # not code
    return "$" in text


def _wait_for_mathjax(page) -> None:
    """Until MathJax 2 has loaded and typeset the whole page."""
    page.wait_for_function("() => window.MathJax && window.MathJax.isReady === true")
    page.evaluate("() => new Promise(done => MathJax.Hub.Queue(() => done(true)))")


def _internal_links(page, origin: str) -> dict[str, set[str]]:
    """Every page of the site this page links to (without fragment) -> the fragments used."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    links: dict[str, set[str]] = {}
    for href in hrefs:
        if not href.startswith(origin):
            continue
        url, _, fragment = href.partition("#")
        links.setdefault(url, set())
        if fragment:
            links[url].add(urllib.parse.unquote(fragment))
    return links


def _assert_links_resolve(page, origin: str, where: str) -> int:
    links = _internal_links(page, origin)
    broken = []
    for url, fragments in links.items():
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as err:
            broken.append(f"{url} (HTTP {err.code})")
            continue
        for fragment in fragments:
            if f'id="{fragment}"' not in body:
                broken.append(f"{url}#{fragment} (no such id on that page)")
    assert not broken, f"{where} links to missing pages or anchors: {broken}"
    return len(links)


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_page(visit, site_url, notebook):
    nb = nbformat.read(notebook, as_version=4)
    v = visit()
    page = v.open(f"chapters/{notebook.stem}.html")
    _wait_for_mathjax(page)
    page.wait_for_function("() => [...document.images].every(img => img.complete)")

    images = page.eval_on_selector_all(
        "article img",
        "els => els.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])",
    )
    not_loaded = [src for src, ok in images if not ok]
    assert not not_loaded, f"{notebook.name}: images that did not load: {not_loaded}"
    figures = _stored_figures(nb)
    assert len(images) >= figures + 1, (
        f"{notebook.name}: {len(images)} images on the page, but the notebook stores {figures} "
        "figures and has a Colab badge"
    )

    badge = page.locator(f'a[href$="/chapters/{notebook.name}"]:has(img[alt="Open In Colab"])')
    assert badge.count() == 1, f"{notebook.name}: no Colab badge linking to this chapter"
    assert badge.get_attribute("href").startswith("https://colab.research.google.com/github/")

    math = page.eval_on_selector_all(
        "article .math.nohighlight",
        "els => els.map(e => [e.textContent.slice(0, 60), "
        "!!e.querySelector('.MathJax, .MathJax_Display, .MathJax_Preview + .MathJax')])",
    )
    unrendered = [tex for tex, ok in math if not ok]
    assert not unrendered, f"{notebook.name}: equations MathJax did not render: {unrendered[:5]}"
    tex_errors = page.locator("article .merror, article .noError").count()
    assert tex_errors == 0, f"{notebook.name}: {tex_errors} equations show a TeX error"
    if _has_math(nb):
        assert math, f"{notebook.name} has $ math in its markdown but the page shows none"

    assert _assert_links_resolve(page, site_url, notebook.name) > 0
    v.assert_clean(notebook.name)


def test_home_syllabus_and_glossary(visit, site_url):
    from coursekit.glossary import TERMS

    v = visit()
    page = v.open("index.html")
    assert "Pretrained language models" in page.title()
    toc = page.eval_on_selector_all(
        "article .toctree-wrapper a", "els => els.map(a => a.getAttribute('href'))"
    )
    chapter_links = [h for h in toc if h.startswith("chapters/")]
    assert chapter_links == [f"chapters/{p.stem}.html" for p in CHAPTERS], toc
    assert {"syllabus.html", "glossary.html"} <= set(toc)
    _assert_links_resolve(page, site_url, "index.html")

    page = v.open("syllabus.html")
    rows = page.locator("article table tbody tr")
    assert rows.count() == len(CHAPTERS)
    linked = page.eval_on_selector_all(
        "article table tbody tr td:nth-child(2) a", "els => els.map(a => a.getAttribute('href'))"
    )
    assert linked == [f"chapters/{p.stem}.html" for p in CHAPTERS], linked
    _assert_links_resolve(page, site_url, "syllabus.html")

    page = v.open("glossary.html")
    rows = page.locator("article table tbody tr")
    assert rows.count() == len(TERMS)
    shown = {tuple(cell.strip() for cell in row.split("\t")[:2]) for row in rows.all_inner_texts()}
    missing = [t.english for t in TERMS if (t.english, t.chinese) not in shown]
    assert not missing, f"glossary.html lacks these terms of coursekit.glossary: {missing}"
    _assert_links_resolve(page, site_url, "glossary.html")
    v.assert_clean("the home, syllabus and glossary pages")


def test_search_finds_a_chapter(visit):
    chapter = REPO / "chapters" / f"{SEARCH_CHAPTER}.ipynb"
    assert SEARCH_WORD in chapter.read_text(encoding="utf-8").lower()
    v = visit()
    page = v.open(f"search.html?q={SEARCH_WORD}")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for()
    hrefs = results.evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert any(f"chapters/{SEARCH_CHAPTER}.html" in h for h in hrefs), hrefs
    v.assert_clean("search.html")
