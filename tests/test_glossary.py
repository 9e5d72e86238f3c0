"""The glossary (coursekit/glossary.py) and the chapters agree: every term a chapter marks as
``**English** (中文)`` is in it with the same Chinese, and every entry is used in some chapter."""

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
    text = "\n".join(
        s for path in CHAPTER_FILES for s in _sources(path, ("markdown", "code"))
    ).lower()
    present = {p.name[:2] for p in CHAPTER_FILES}  # a chapter written separately may be absent
    unused = [
        t.english for t in TERMS if t.chapter in present and not any(f in text for f in t.forms)
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
    assert "| hidden state | 隐藏状态 | 隐藏状态 | 03 |" in table
