"""Build the course website (`make site`): every chapter from its stored outputs, never executed.

    python scripts/build_site.py [--out build/site]

Writes the Sphinx sources to OUT/src (copies: the committed chapters are only read) and the site
to OUT/html; open OUT/html/index.html, or serve it with `python -m http.server -d OUT/html`.
The pages: a home page from the README's opening, the syllabus table (coursekit.syllabus), the
chapters 00-11 in order, the glossary (coursekit.glossary) and Sphinx's search. Everything the
pages load is in OUT/html: MathJax is copied from the jupyter-server-mathjax wheel and the Colab
badge image is a local SVG (docs/site/colab-badge.svg) instead of colab.research.google.com's.
OUT/html/.inputs holds the fingerprint of what the site was built from (`fingerprint()`);
the browser test rebuilds when it differs.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "docs" / "site"  # conf.py, the badge and the favicon
DEFAULT_OUT = REPO / "build" / "site"
BADGE_FILE = "colab-badge.svg"
# What the site is made of: a change to any of these makes a built site stale.
INPUTS = (
    "chapters/*.ipynb",
    "docs/site/*",
    "scripts/build_site.py",
    "README.md",
    "coursekit/syllabus.py",
    "coursekit/syllabus_measured.json",
    "coursekit/glossary.py",
)


def fingerprint() -> str:
    """sha256 over the site's inputs (names and contents), in a fixed order."""
    digest = hashlib.sha256()
    for pattern in INPUTS:
        for path in sorted(REPO.glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(REPO).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def chapters() -> list[Path]:
    """The numbered chapters, in order."""
    return sorted(p for p in (REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))


def readme_opening() -> str:
    """The README up to its first second-level heading: the course's title and what it is."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("\n## ", 1)[0].rstrip() + "\n"


def syllabus_page() -> str:
    """The syllabus table from coursekit.syllabus, each chapter's title a link to its page."""
    from coursekit.syllabus import chapter_table

    table = chapter_table(REPO / "chapters")
    table = re.sub(
        r"^(\| \d\d \| )(.+?) \(`(\d\d_\w+)\.ipynb`\)",
        lambda m: f"{m[1]}[{m[2]}](chapters/{m[3]}.ipynb) (`{m[3]}.ipynb`)",
        table,
        flags=re.MULTILINE,
    )
    return "# Syllabus\n\n" + table + "\n"


def glossary_page() -> str:
    """The bilingual glossary table from coursekit.glossary."""
    from coursekit.glossary import glossary_table

    return (
        "# Glossary (English / 中文)\n\n"
        "Every term the chapters mark in bold at first use, with its Chinese and the chapter that "
        "introduces it. Chapter 11 quizzes it.\n\n" + glossary_table() + "\n"
    )


def index_page(names: list[str]) -> str:
    toc = "\n".join(["syllabus", *(f"chapters/{n}" for n in names), "glossary"])
    return (
        readme_opening()
        + "\nThis website shows every chapter as committed, with its stored outputs: read it "
        "without running anything, or open a chapter in Colab with its badge. To run the course "
        "on your machine, see the repository's README (`make lab`).\n\n"
        f"```{{toctree}}\n:caption: The course\n:maxdepth: 1\n\n{toc}\n```\n"
    )


def site_notebook(src: Path) -> nbformat.NotebookNode:
    """A chapter as the site shows it: the Colab badge image served by the site itself."""
    from coursekit.notebooks import BADGE_IMAGE

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and BADGE_IMAGE in cell.source:
            cell.source = cell.source.replace(BADGE_IMAGE, f"../{BADGE_FILE}")
    return nb


def mathjax_folder() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        sys.exit(
            "the site needs its build packages: "
            "pip install -c requirements/constraints.txt -e '.[site]' (make site installs them)"
        )
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def write_sources(src: Path) -> list[str]:
    """Write the Sphinx project to ``src`` (emptied first); returns the chapters' page names."""
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    shutil.copy2(SITE / "conf.py", src / "conf.py")
    for name in (BADGE_FILE, "favicon.svg"):
        shutil.copy2(SITE / name, src / name)
    # MathJax's SVG output has no code in the wheel (fonts only): not copied.
    shutil.copytree(
        mathjax_folder(),
        src / "_static" / "mathjax",
        ignore=lambda folder, names: ["SVG"] if folder.endswith("output") else [],
    )
    names = []
    for path in chapters():
        nbformat.write(site_notebook(path), src / "chapters" / path.name)
        names.append(path.stem)
    (src / "index.md").write_text(index_page(names), encoding="utf-8")
    (src / "syllabus.md").write_text(syllabus_page(), encoding="utf-8")
    (src / "glossary.md").write_text(glossary_page(), encoding="utf-8")
    return names


def build(out: Path = DEFAULT_OUT, quiet: bool = True) -> Path:
    """Build the site into ``out/html``; returns that folder. Fails on any Sphinx warning."""
    out = out.resolve()
    src, html = out / "src", out / "html"
    stamp = fingerprint()
    write_sources(src)
    if html.exists():
        shutil.rmtree(html)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E"]
    command += ["-d", str(out / "doctrees"), *(["-q"] if quiet else []), str(src), str(html)]
    result = subprocess.run(command, cwd=src, check=False)
    if result.returncode != 0:
        sys.exit(f"sphinx-build failed (exit {result.returncode}); its messages are above")
    (html / ".inputs").write_text(stamp + "\n", encoding="utf-8")
    return html


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build folder (build/site)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    html = build(args.out)
    size = sum(p.stat().st_size for p in html.rglob("*") if p.is_file()) / 1e6
    print(
        f"site built in {time.perf_counter() - start:.0f} s: {html / 'index.html'} ({size:.0f} MB); "
        f"serve it with: python -m http.server -d {html}"
    )


if __name__ == "__main__":
    main()
