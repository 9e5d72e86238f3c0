"""The glossary (coursekit/glossary.py) and the chapters agree: every term a chapter marks as
``**English** (中文)`` is in it with the same Chinese, every entry is used in some chapter (as a
word, not inside another), and every entry is marked in its own chapter, at its first use in the
course's Markdown."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from coursekit.glossary import TERMS, Term, glossary_table, lookup, marked_terms, misformed_marks

REPO = Path(__file__).resolve().parent.parent
CHAPTER_FILES = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _sources(path: Path, kinds: tuple[str, ...] = ("markdown",)) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type in kinds]


def _marks() -> list[tuple[str, str, str]]:
    """(chapter number, English, Chinese) of every mark, in chapter order."""
    return [
        (path.name[:2], en, zh)
        for path in CHAPTER_FILES
        for source in _sources(path)
        for en, zh in marked_terms(source)
    ]


def test_entries_are_complete_and_unique():
    assert len(TERMS) >= 50
    english = [f for t in TERMS for f in t.forms]
    assert len(english) == len(set(english)), "an English term (or form) is in the glossary twice"
    chinese = [t.chinese for t in TERMS]
    assert len(chinese) == len(set(chinese)), "a Chinese term is in the glossary twice"
    for t in TERMS:
        assert t.english.strip() and re.search(r"[\u3400-\u9fff]", t.chinese), t
        assert t.definition.strip(), t


def test_an_entry_needs_both_languages():
    with pytest.raises(ValueError, match="English and a Chinese"):
        Term("attention", "attention", "06", "no Chinese")


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.name)
def test_every_marked_term_is_in_the_glossary_with_the_same_chinese(path):
    for source in _sources(path):
        assert not misformed_marks(source), (
            f"{path.name}: write **English** (中文), not **English (中文)**: "
            f"{misformed_marks(source)}"
        )
        for en, zh in marked_terms(source):
            term = lookup(en)
            assert term is not None, f"{path.name} marks **{en}** ({zh}): add it to the glossary"
            assert term.chinese == zh, (
                f"{path.name} marks **{en}** ({zh}); the glossary says {term.chinese}"
            )


def test_each_entry_names_the_chapter_that_first_marks_it():
    first: dict[str, str] = {}
    for number, en, _ in _marks():
        term = lookup(en)
        if term is not None:  # an unknown mark fails the test above
            first.setdefault(term.english, number)
    for t in TERMS:
        if t.english in first:
            assert t.chapter == first[t.english], (
                f"{t.english!r} is first marked in chapter {first[t.english]}, not {t.chapter}"
            )


def test_every_glossary_term_is_used_in_a_chapter():
    """Sources only (markdown and code), never outputs: chapter 11's rendered table would count.
    Entries of a chapter that is not there (chapter 10 is written separately) wait for it."""
    text = "\n".join(s for path in CHAPTER_FILES for s in _sources(path, ("markdown", "code")))
    present = {p.name[:2] for p in CHAPTER_FILES}  # a chapter written separately may be absent
    unused = [
        t.english
        for t in TERMS
        if t.chapter in present and not any(_form(f).search(text) for f in t.forms)
    ]
    assert not unused, f"glossary terms no chapter uses: {unused}"


def test_chapter_10_terms_when_it_exists():
    """Chapter 10 is written separately; its marks are checked like every chapter's once it is
    there (the parametrized test above), and this says so when it is not."""
    if not (REPO / "chapters" / "10_challenges.ipynb").exists():
        pytest.skip("chapters/10_challenges.ipynb does not exist yet")
    assert any(number == "10" for number, _, _ in _marks()), "chapter 10 marks no terms"


def test_table_has_a_row_per_term():
    table = glossary_table()
    lines = table.splitlines()
    assert len(lines) == len(TERMS) + 2
    assert lines[0].startswith("| English | 中文 |")
    assert "| hidden state | 隐藏状态 | 隐藏状态 | 01 |" in table


# What is not prose: code, math, headings, link targets, HTML, italics, bold other than a mark
# (a bold phrase that is exactly the term counts as a use), quoted Chinese (the article's words).
_NOT_PROSE = [
    (re.compile(r"```.*?```|\$\$.*?\$\$", re.DOTALL), None),
    (re.compile(r"`[^`\n]*`|\$[^$\n]*\$|^#.*$|\]\([^)\n]*\)|<[^>\n]*>", re.MULTILINE), None),
    (re.compile(r"(?<![*\w])\*[^*\n]+?\*(?![*\w])"), None),
    (
        re.compile(r'"[^"\nA-Za-z]*[\u3400-\u9fff][^"\nA-Za-z]*"|“[^”\n]*[\u3400-\u9fff][^”\n]*”'),
        None,
    ),
    (re.compile(r'"[^"\n]{1,60}"'), None),  # a short quotation mentions a word, it does not use it
]


def _prose(markdown: str) -> str:
    """``markdown`` with what is not prose blanked out (same length, so positions agree)."""
    for pattern, _ in _NOT_PROSE:
        markdown = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), markdown)
    return markdown


def _form(form: str) -> re.Pattern:
    """A form at word boundaries (a hyphen is part of a word), with an optional plural."""
    stem = re.escape(form[:-1]) + "(?:y|ies)" if form.endswith("y") else re.escape(form)
    return re.compile(r"(?<![\w-])" + stem + r"(?:s|es)?(?![\w-])", re.IGNORECASE)


def _first_use(term: Term) -> tuple[str, int, int, bool] | None:
    """(chapter, cell, position, marked?) of the first use of ``term`` in the chapters' Markdown
    (chapter 11 and its rendered table excluded): a mark ``**term** (中文)`` or the bare word."""
    for path in CHAPTER_FILES:
        if path.name.startswith("11"):
            continue
        for cell, source in enumerate(_sources(path)):
            text = _prose(source)
            bold = [(m.start(), m.end()) for m in re.finditer(r"\*\*[^*\n]+?\*\*", text)]
            hits = []
            for form in term.forms:
                for m in _form(form).finditer(text):
                    inside = [b for b in bold if b[0] <= m.start() < b[1]]
                    if inside and inside[0] != (m.start() - 2, m.end() + 2):
                        continue  # part of a longer bold phrase
                    end = inside[0][1] if inside else m.end()
                    marked = bool(inside) and re.match(
                        r"\s+\([^,;()*\n]*[\u3400-\u9fff]", source[end : end + 60]
                    )
                    hits.append((m.start(), bool(marked)))
            if hits:
                position, marked = min(hits)
                return path.name[:2], cell, position, marked
    return None


# Entries whose bare word is ordinary English, used in that sense before the chapter that
# marks the technical term: for these only the mark in their own chapter is checked.
ORDINARY_WORDS = {"key", "value", "query", "mask", "gate", "decoding", "static", "analogy",
                  "smoothing", "extraction", "exposure", "rank", "frozen", "batch", "attention",
                  "token", "temperature", "encoder", "decoder"}  # fmt: skip


@pytest.mark.parametrize("term", TERMS, ids=lambda t: t.english)
def test_every_entry_is_marked_at_its_first_use_in_its_own_chapter(term):
    if term.chapter == "11":
        return  # chapter 11 marks its own terms; its table would match every entry
    marks = [(number, en) for number, en, _ in _marks() if lookup(en) == term]
    assert any(number == term.chapter for number, _ in marks), (
        f"{term.english!r} is never marked as **{term.english}** ({term.chinese}) "
        f"in chapter {term.chapter}"
    )
    if term.english in ORDINARY_WORDS:
        return
    first = _first_use(term)
    assert first is not None and first[3], (
        f"{term.english!r}: its first use (chapter, cell) = {first[:2] if first else None} "
        f"is not the mark **{term.english}** ({term.chinese})"
    )
    assert first[0] == term.chapter, (term.english, first)
