"""The bundled corpora by name and split: plain text, aligned pairs, labelled examples.

Used by chapters 01 (WordNet pairs, human-rated similarity sets), 02-05 and 08 (Shakespeare, Tang
poems, Bible text), 06-07 (King James ↔ World English Bible pairs) and 09 (labelled glosses,
Chinese reviews). Every file is checked against its sha256 in ``data/manifest.json`` before it is
read (:func:`coursekit.data.bundled_path`); ``data/README.md`` is the datasheet.

Splits are fixed and never random at load time:

* Shakespeare: by whole document (play or poem); the last documents of the file are the
  validation and test documents.
* Tang poems and Chinese reviews, WordNet glosses: a ``split`` column written by the build
  script (a stable hash of the item); ``tang_poems_5char`` uses the same hash of each poem.
* Bible: by whole chapter (a ``split`` column), so no verse of a test chapter is ever trained on.

Every loader accepts ``split`` in ``"train"``, ``"valid"``, ``"test"`` or ``"all"``, and every
loader defaults to ``"train"`` (:func:`load_table` too, for a table with a ``split`` column).

An unknown name raises :class:`UnknownCorpus` (a ``LookupError`` that suggests close names and
lists the known ones); a missing or damaged file raises
:class:`~coursekit.data.bundled.DataFileError`, whose message says how to rebuild it.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from coursekit.data.bundled import DataFileError, bundled_path, load_manifest, open_bundled

__all__ = [
    "SPLITS",
    "UnknownCorpus",
    "analogies",
    "corpus_names",
    "load_labelled",
    "load_pairs",
    "load_similarity",
    "load_table",
    "load_text",
    "stable_split",
]

SPLITS = ("train", "valid", "test", "all")


def stable_split(text: str) -> str:
    """The split of one item by a stable hash: 5% ``test``, 5% ``valid``, 90% ``train``.

    The build script uses the same rule for the Tang poems, so the split of a poem never depends
    on the order of the file.

    >>> stable_split("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
    'train'
    """
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 20
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def _check_split(split: str, name: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for {name!r}. Use one of: {', '.join(SPLITS)}.")


class UnknownCorpus(LookupError):
    """A corpus, table or word-pair set name that the loader does not know.

    Attributes:
        name: the name asked for.
        kind: what the loader loads (``"text corpus"``, ``"table"``, ...).
        available: the names it knows, sorted.
    """

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        self.name, self.kind, self.available = name, kind, sorted(available)
        message = f"Unknown {kind} {name!r}."
        close = difflib.get_close_matches(name, self.available, n=3)
        if close:
            message += f" Did you mean {' or '.join(repr(c) for c in close)}?"
        try:
            other = next((k for k, names in corpus_names().items() if name in names), None)
        except DataFileError:  # no data folder: the list above is all there is to say
            other = None
        if other is not None:
            message += f" {name!r} is a {_KINDS[other][0]}: use {_KINDS[other][1]}({name!r})."
        super().__init__(f"{message} Available: {', '.join(self.available)}.")


_KINDS = {  # corpus_names() key: (what it is, the loader that reads it)
    "text": ("text corpus", "load_text"),
    "pairs": ("pair corpus", "load_pairs"),
    "labelled": ("labelled corpus", "load_labelled"),
    "similarity": ("similarity set", "load_similarity"),
    "tables": ("table", "load_table"),
}


# ---------------------------------------------------------------------------------------------
# Reading files (cached per file version: path, size and mtime)


def _file_key(name: str) -> tuple[str, str, int, float]:
    path = bundled_path(name)  # verifies size and sha256 (once per file version per process)
    stat = path.stat()
    return (name, str(path), stat.st_size, stat.st_mtime)


@lru_cache(maxsize=16)
def _read_text_cached(key: tuple[str, str, int, float]) -> str:
    try:
        with open_bundled(key[0]) as fh:
            text = fh.read()
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # e.g. a damaged .gz stream
        raise DataFileError(
            f"{key[1]} could not be read ({exc}). Rebuild it with "
            f"`python scripts/build_data.py --only {key[0]}`."
        ) from None
    if not text.strip():
        raise DataFileError(
            f"{key[1]} is empty. Rebuild it with `python scripts/build_data.py --only {key[0]}`."
        )
    return text


def _read_text(name: str) -> str:
    return _read_text_cached(_file_key(name))


@lru_cache(maxsize=16)
def _read_tsv_cached(key: tuple[str, str, int, float]) -> tuple[tuple[str, ...], list[tuple]]:
    text = _read_text_cached(key)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = tuple(lines[0].split("\t"))
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        row = tuple(line.split("\t"))
        if len(row) != len(header):
            raise DataFileError(
                f"{key[1]}, line {number}: {len(row)} fields, expected {len(header)} "
                f"({', '.join(header)}). Rebuild with `python scripts/build_data.py --only {key[0]}`."
            )
        rows.append(row)
    return header, rows


def _table_names() -> list[str]:
    """The bundled files that are tables (tab-separated, with a header line)."""
    return sorted(n for n, e in load_manifest().items() if ".tsv" in Path(e.path).suffixes)


def load_table(name: str, split: str | None = None) -> list[dict[str, str]]:
    """Rows of a bundled TSV file as dictionaries (column name → text).

    Args:
        name: a bundled TSV file, one of ``corpus_names()["tables"]``, e.g. ``"tang_poems"``.
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"`` when the file has a ``split``
            column; only ``"all"`` otherwise. Default: ``"train"`` (as every loader) when the
            file has a ``split`` column, else ``"all"``.

    Raises:
        UnknownCorpus: not the name of a bundled table.
        DataFileError: missing or damaged file.

    >>> row = load_table("tang_poems", "valid")[0]
    >>> sorted(row)
    ['author', 'form', 'split', 'text', 'title']
    >>> {r["split"] for r in load_table("tang_poems")}
    {'train'}
    """
    if name not in _table_names():
        raise UnknownCorpus("table", name, _table_names())
    header, rows = _read_tsv_cached(_file_key(name))
    if split is None:
        split = "train" if "split" in header else "all"
    _check_split(split, name)
    if split != "all":
        if "split" not in header:
            raise ValueError(f"{name!r} has no split column; use split='all'.")
        col = header.index("split")
        rows = [r for r in rows if r[col] == split]
    return [dict(zip(header, r, strict=True)) for r in rows]


def _column(name: str, split: str, column: str) -> list[str]:
    header, rows = _read_tsv_cached(_file_key(name))
    col = header.index(column)
    if split == "all":
        return [r[col] for r in rows]
    s = header.index("split")
    return [r[col] for r in rows if r[s] == split]


# ---------------------------------------------------------------------------------------------
# Plain text


def _documents(name: str, n_valid: int, n_test: int) -> Callable[[str], str]:
    """Documents separated by two blank lines; the last ``n_valid + n_test`` are held out."""

    def load(split: str) -> str:
        docs = _read_text(name).rstrip("\n").split("\n\n\n")
        cut_valid, cut_test = len(docs) - n_valid - n_test, len(docs) - n_test
        parts = {
            "train": docs[:cut_valid],
            "valid": docs[cut_valid:cut_test],
            "test": docs[cut_test:],
            "all": docs,
        }[split]
        return "\n\n\n".join(parts) + "\n"

    return load


def _tsv_text(name: str, column: str) -> Callable[[str], str]:
    def load(split: str) -> str:
        return "\n".join(_column(name, split, column)) + "\n"

    return load


def _hashed_lines(name: str) -> Callable[[str], str]:
    def load(split: str) -> str:
        lines = _read_text(name).rstrip("\n").split("\n")
        if split != "all":
            lines = [line for line in lines if stable_split(line) == split]
        return "\n".join(lines) + "\n"

    return load


@dataclass(frozen=True)
class _TextCorpus:
    file: str
    load: Callable[[str], str]
    about: str


_TEXT: dict[str, _TextCorpus] = {
    "shakespeare_tiny": _TextCorpus(
        "shakespeare_tiny",
        _documents("shakespeare_tiny", 1, 1),
        "8 plays; valid: Macbeth, test: The Tempest",
    ),
    "shakespeare_complete": _TextCorpus(
        "shakespeare_complete",
        _documents("shakespeare_complete", 2, 2),
        "42 texts; valid: Macbeth, Twelfth Night; test: The Tempest, Coriolanus",
    ),
    "tang_poems": _TextCorpus(
        "tang_poems", _tsv_text("tang_poems", "text"), "regular-form Tang poems, one per line"
    ),
    "tang_poems_5char": _TextCorpus(
        "tang_poems_5char",
        _hashed_lines("tang_poems_5char"),
        "five-character Tang poems, one per line",
    ),
    "bible_kjv": _TextCorpus(
        "bible_kjv_web", _tsv_text("bible_kjv_web", "kjv"), "King James verses, one per line"
    ),
    "bible_web": _TextCorpus(
        "bible_kjv_web", _tsv_text("bible_kjv_web", "web"), "World English Bible verses"
    ),
    "bible_spa": _TextCorpus(
        "bible_spa", _tsv_text("bible_spa", "spa"), "Reina-Valera 1909 (Spanish) verses"
    ),
}

_PAIRS: dict[str, tuple[str, str, str]] = {
    # name: (file, source column, target column); "spa" comes from bible_spa, joined by verse
    "bible_kjv_web": ("bible_kjv_web", "kjv", "web"),
    "bible_web_kjv": ("bible_kjv_web", "web", "kjv"),
    "bible_kjv_spa": ("bible_kjv_web", "kjv", "spa"),
    "bible_web_spa": ("bible_kjv_web", "web", "spa"),
}


def _spanish_pairs(src: str, split: str) -> list[tuple[str, str]]:
    """English verses paired with the Spanish verse at the same reference (same split rule)."""
    spa = {(r["book"], r["chapter"], r["verse"]): r["spa"] for r in load_table("bible_spa", split)}
    return [
        (r[src], spa[ref])
        for r in load_table("bible_kjv_web", split)
        if (ref := (r["book"], r["chapter"], r["verse"])) in spa
    ]


_LABELLED: dict[str, str] = {
    "wordnet_gloss10": "wordnet_gloss10",
    "zh_reviews_sentiment": "zh_reviews_sentiment",
}


def corpus_names() -> dict[str, list[str]]:
    """The names each loader accepts.

    >>> corpus_names()["pairs"]
    ['bible_kjv_spa', 'bible_kjv_web', 'bible_web_kjv', 'bible_web_spa']
    """
    return {
        "text": sorted(_TEXT),
        "pairs": sorted(_PAIRS),
        "labelled": sorted(_LABELLED),
        "similarity": sorted([*_SIMILARITY, *_GENSIM_SETS]),
        "tables": _table_names(),
    }


def load_text(name: str, split: str = "train") -> str:
    """The text of a bundled corpus for one split.

    Args:
        name: one of ``corpus_names()["text"]``: ``shakespeare_tiny``, ``shakespeare_complete``,
            ``tang_poems``, ``tang_poems_5char``, ``bible_kjv``, ``bible_web``.
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.

    Returns:
        One string; poems and verses are one per line, plays are separated by two blank lines.

    Raises:
        UnknownCorpus: unknown name (the message suggests close names and lists the known ones).
        DataFileError: missing or damaged file.
        ValueError: unknown split.

    >>> text = load_text("shakespeare_tiny", "test")
    >>> text.splitlines()[0]
    'THE TEMPEST'
    """
    corpus = _TEXT.get(name)
    if corpus is None:
        raise UnknownCorpus("text corpus", name, list(_TEXT))
    _check_split(split, name)
    return corpus.load(split)


def load_pairs(name: str, split: str = "train") -> list[tuple[str, str]]:
    """Aligned (source, target) sentence pairs, e.g. King James → World English Bible verses.

    Args:
        name: ``"bible_kjv_web"`` (archaic → modern English), ``"bible_web_kjv"`` (the
            reverse), ``"bible_web_spa"`` or ``"bible_kjv_spa"`` (English → Spanish, Reina-Valera
            1909; chapters whose verse numbering drifts are left out).
        split: ``"train"``, ``"valid"``, ``"test"`` (whole chapters) or ``"all"``.

    >>> pairs = load_pairs("bible_kjv_web", "train")
    >>> pairs[0][0]
    'In the beginning God created the heaven and the earth.'
    """
    spec = _PAIRS.get(name)
    if spec is None:
        raise UnknownCorpus("pair corpus", name, list(_PAIRS))
    _check_split(split, name)
    file, src, tgt = spec
    if tgt == "spa":
        return _spanish_pairs(src, split)
    return list(zip(_column(file, split, src), _column(file, split, tgt), strict=True))


def load_labelled(name: str, split: str = "train") -> list[tuple[str, str]]:
    """Labelled examples as ``(text, label)`` pairs.

    Args:
        name: ``"wordnet_gloss10"`` (English definitions, 10 noun supersenses) or
            ``"zh_reviews_sentiment"`` (Chinese reviews, ``pos``/``neg``).
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.

    >>> data = load_labelled("wordnet_gloss10", "test")
    >>> len(data), sorted({label for _, label in data})[:3]
    (600, ['animal', 'artifact', 'body'])
    """
    file = _LABELLED.get(name)
    if file is None:
        raise UnknownCorpus("labelled corpus", name, list(_LABELLED))
    _check_split(split, name)
    return list(zip(_column(file, split, "text"), _column(file, split, "label"), strict=True))


# ---------------------------------------------------------------------------------------------
# Word-pair sets for embedding evaluation (chapter 01)

_SIMILARITY = {
    "wordnet_synonyms": "bundled: WordNet synonym pairs, score 1.0",
    "wordnet_noun_similarity": "bundled: WordNet noun pairs, Wu-Palmer score",
}
# Read at run time from an installed gensim (never copied into the course).
_GENSIM_SETS = {"simlex999": "simlex999.txt", "wordsim353": "wordsim353.tsv"}
_GENSIM_HINT = (
    "The human-rated sets ship inside gensim; install it with `pip install 'coursekit[embeddings]'` "
    "(or `pip install gensim`)."
)


def _gensim_data(filename: str) -> Path:
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise DataFileError(f"{filename} needs gensim, which is not installed. {_GENSIM_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data" / filename
    if not path.is_file():
        raise DataFileError(f"{path} is missing from the installed gensim. {_GENSIM_HINT}")
    return path


def load_similarity(name: str) -> list[tuple[str, str, float]]:
    """Word pairs with a similarity score, for evaluating embeddings.

    Args:
        name: ``"wordnet_synonyms"`` (score 1.0 for every pair), ``"wordnet_noun_similarity"``
            (Wu-Palmer, 0-1), or, from an installed gensim, ``"simlex999"`` and ``"wordsim353"``
            (human ratings, 0-10).

    Returns:
        ``(word1, word2, score)`` triples, words lowercased.

    >>> pairs = load_similarity("wordnet_noun_similarity")
    >>> len(pairs), pairs[0]
    (3395, ('ability', 'future', 0.6))
    """
    if name == "wordnet_synonyms":
        return [(r["word1"], r["word2"], 1.0) for r in load_table(name)]
    if name == "wordnet_noun_similarity":
        return [(r["word1"], r["word2"], float(r["wup"])) for r in load_table(name)]
    if name not in _GENSIM_SETS:
        raise UnknownCorpus("similarity set", name, [*_SIMILARITY, *_GENSIM_SETS])
    path = _gensim_data(_GENSIM_SETS[name])
    out = []
    with open(path, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if not row or row[0].startswith("#") or len(row) < 3:
                continue
            try:
                score = float(row[2])
            except ValueError:  # a header line
                continue
            out.append((row[0].lower(), row[1].lower(), score))
    return out


def analogies(section: str | None = None) -> list[tuple[str, str, str, str]]:
    """word2vec's analogy questions (``a : b :: c : d``) from an installed gensim.

    Args:
        section: keep one section, e.g. ``"family"`` or ``"gram7-past-tense"``; None for all.

    Returns:
        ``(a, b, c, d)`` lowercased, e.g. ``('boy', 'girl', 'brother', 'sister')``.
    """
    path = _gensim_data("questions-words.txt")
    out, current = [], ""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(":"):
                current = line[1:].strip()
                continue
            words = line.lower().split()
            if len(words) == 4 and (section is None or current == section):
                out.append((words[0], words[1], words[2], words[3]))
    if section is not None and not out:
        raise ValueError(f"No analogy section {section!r} in {path}.")
    return out
