"""Verse-aligned King James Version ↔ World English Bible pairs (chapters 06-07, 08).

Sources: Debian ``sword-text-kjv`` and ``sword-text-web`` (SWORD zText modules, OSIS markup), read
with PyPI ``pysword`` (installed into a throwaway folder under the build cache, never into the
course environment). pysword's own ``clean=True`` glues words together where it deletes footnotes
(``Godcreated``), so the OSIS markup is cleaned here instead: notes and editorial headings go,
canonical psalm superscriptions stay, word-level tags are unwrapped, milestones become spaces.
The WEB text of Rev 22:21 has the translation's glossary appended; it is cut off.

The Spanish Reina-Valera 1909 (Debian ``sword-text-sparv``) is read the same way and kept only in
chapters whose verse numbering really follows the KJV's (``spanish_chapter_ok``).

Splits are by whole chapter (a stable hash of the chapter reference), never by verse.
"""

from __future__ import annotations

import functools
import html
import re
import statistics

from data_build.common import Output, apt_deb, build_tool, extract_deb, stable_split

__all__ = ["build", "chapter_split", "clean_osis"]

PYSWORD = "pysword==0.2.8"
KJV = (
    "sword-text-kjv",
    "14.3-1",
    "9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
)
WEB = (
    "sword-text-web",
    "426.0-1",
    "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
)
KJV_MODULE = "usr/share/sword/modules/texts/ztext/engKJV2006eb/"
WEB_MODULE = "usr/share/sword/modules/texts/ztext/engWEB2015eb/"
SPA = (
    "sword-text-sparv",
    "2.60-1",
    "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
)
SPA_MODULE = "usr/share/sword/modules/texts/ztext/spaRV1909eb/"

_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_EDITORIAL_TITLE = re.compile(r"<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>", re.S)
# Tags that wrap words inside a running line: removing them must not add a space.
_INLINE = re.compile(
    r"</?(?:w|transChange|divineName|hi|foreign|seg|q|rdg|name|catchWord|inscription|"
    r"added|a|abbr|reference)\b[^>]*>"
)
_ANY_TAG = re.compile(r"<[^>]+>")
_USFM = re.compile(r"\\\+?[a-z]+\d*\*?")  # stray USFM markers such as "\\nd " in a few KJV verses
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?’”)\]])")
_SPACE_AFTER = re.compile(r"([“‘(\[])\s+")


def clean_osis(raw: str) -> str:
    """Turn one verse of OSIS markup into plain text without gluing words together.

    >>> clean_osis('<w>God</w><note placement="foot">a note</note><w>created</w> the earth .')
    'God created the earth.'
    >>> clean_osis("¶ And the \\\\nd LORD spake")
    'And the LORD spake'
    """
    text = _NOTE.sub(" ", raw)
    text = _EDITORIAL_TITLE.sub(" ", text)
    text = _INLINE.sub("", text)
    text = _ANY_TAG.sub(" ", text)  # milestones (<l/>, <lg/>, <div/>, <title>) separate words
    text = html.unescape(text)
    text = _USFM.sub(" ", text).replace("¶", " ")  # KJV's paragraph sign is layout, not text
    text = text.replace("\u00a0", " ").replace("\u200b", "")
    text = " ".join(text.split())
    text = _SPACE_BEFORE.sub(r"\1", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    return text.strip()


def chapter_split(book: str, chapter: int) -> str:
    """The split of a whole chapter: 5% test, 5% valid, 90% train by a stable hash.

    >>> chapter_split("Gen", 1) in {"train", "valid", "test"}
    True
    """
    return stable_split(f"{book}.{chapter}")


def _pysword():
    build_tool(PYSWORD, "pysword")
    from pysword.bible import SwordBible

    return SwordBible


def read_module(path: str, versification: str) -> dict[tuple[str, int, int], str]:
    """Every verse of a SWORD zText module as raw OSIS, keyed by (OSIS book, chapter, verse)."""
    bible = _pysword()(path, "ztext", versification)
    # pysword decompresses the whole book block for every verse; remember the last few blocks.
    bible._decompressed_text = functools.lru_cache(maxsize=4)(bible._decompressed_text)
    structure = bible.get_structure()
    verses = {}
    for testament, books in structure.get_books().items():
        for book in books:
            offset = structure._book_offset(book.name)
            for chapter in range(1, book.num_chapters + 1):
                idxs = book.get_indicies(chapters=[chapter], offset=offset)
                for verse, idx in enumerate(idxs, 1):
                    raw = bible._text_for_index(testament, idx)
                    if raw and raw.strip():
                        verses[(book.osis_name, chapter, verse)] = raw
    return verses


def _cut_glossary(text: str) -> str:
    # WEB Rev 22:21 ends "...be with all the saints. Amen." and then carries a glossary.
    end = text.find("Amen.")
    return text[: end + len("Amen.")] if end >= 0 else text


def _corr(xs: list[int], ys: list[int]) -> float:
    if len(xs) < 5 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return 1.0
    return statistics.correlation(xs, ys)


_DROP_CAP = re.compile(r"^([^\w]*)(?:([YEOAÓ]) )?([A-ZÁÉÍÓÚÑÜ])([A-ZÁÉÍÓÚÑÜ]+)\b")


def spanish_drop_cap(text: str, names: frozenset[str] = frozenset()) -> str:
    """Undo the RV1909's capitalised first word of a chapter (a printed drop cap).

    The word is written as at the start of a sentence; after a leading conjunction ("Y ...") it
    is lowercased unless it is in ``names`` (words the text usually capitalises, like Jehová).

    >>> spanish_drop_cap("EN el principio crió Dios los cielos y la tierra.")
    'En el principio crió Dios los cielos y la tierra.'
    >>> spanish_drop_cap("Y FUERON acabados"), spanish_drop_cap("¿SACARÁS tú al leviathán")
    ('Y fueron acabados', '¿Sacarás tú al leviathán')
    >>> spanish_drop_cap("Y JEHOVÁ dijo á Noé", names=frozenset({"Jehová"}))
    'Y Jehová dijo á Noé'
    """

    def fix(m: re.Match) -> str:
        word = m[3] + m[4].lower()
        if m[2]:
            return f"{m[1]}{m[2]} {word if word in names else word.lower()}"
        return m[1] + word

    return _DROP_CAP.sub(fix, text, count=1)


def _capitalised_words(texts: list[str]) -> frozenset[str]:
    """Words written capitalised more often than not (names), judged away from sentence starts."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in re.findall(r"(?<=[\w,;] )\w+", text):
            counts[word] = counts.get(word, 0) + 1
    return frozenset(
        w for w, n in counts.items() if w[:1].isupper() and n > counts.get(w.lower(), 0)
    )


def spanish_chapter_ok(kjv_lengths: list[int], spa_lengths: list[int], missing: int) -> bool:
    """Whether a chapter of the Reina-Valera 1909 really follows the KJV's verse numbering.

    The module claims KJV versification but drifts in some chapters (Num 13, Num 30, Job 38-41,
    Jonah 2, ...): the Spanish verse ``v`` holds the English verse ``v ± 1``. A chapter is kept
    when its verse lengths correlate (r ≥ 0.3), no shifted alignment correlates better, and, if
    verses are missing on the Spanish side, the rest still correlates well (r ≥ 0.8).

    >>> spanish_chapter_ok([5, 20, 8, 30, 12, 25], [6, 22, 9, 33, 11, 27], missing=0)
    True
    >>> spanish_chapter_ok([5, 20, 8, 30, 12, 25], [22, 9, 33, 11, 27, 6], missing=0)
    False
    """
    if len(kjv_lengths) < 4:
        return missing == 0
    r0 = _corr(kjv_lengths, spa_lengths)
    r_ahead = _corr(kjv_lengths[1:], spa_lengths[:-1])
    r_behind = _corr(kjv_lengths[:-1], spa_lengths[1:])
    if r0 < 0.3 or max(r_ahead, r_behind) > r0:
        return False
    return missing == 0 or r0 >= 0.8


def _spanish(kjv: dict, kept_refs: list[tuple[str, int, int]]) -> tuple[list[str], list]:
    spa_dir = extract_deb(apt_deb(*SPA))
    print("  reading RV1909", flush=True)
    spa = {k: clean_osis(v) for k, v in read_module(str(spa_dir / SPA_MODULE), "kjv").items()}
    names = _capitalised_words(list(spa.values()))
    spa = {k: spanish_drop_cap(v, names) if k[2] == 1 else v for k, v in spa.items()}
    chapters: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
    for key in kjv:
        chapters.setdefault(key[:2], []).append(key)
    kept = set(kept_refs)
    lines, dropped = ["split\tbook\tchapter\tverse\tspa"], []
    for (book, chapter), keys in chapters.items():
        present = [k for k in keys if spa.get(k) and kjv[k]]
        ok = spanish_chapter_ok(
            [len(kjv[k].split()) for k in present],
            [len(spa[k].split()) for k in present],
            len(keys) - len(present),
        )
        if not ok:
            dropped.append(f"{book}.{chapter}")
            continue
        for key in present:
            ratio = len(spa[key].split()) / max(1, len(kjv[key].split()))
            if key in kept and 0.5 <= ratio <= 2.0:
                assert "\t" not in spa[key] and "\n" not in spa[key]
                lines.append(
                    f"{chapter_split(book, chapter)}\t{book}\t{chapter}\t{key[2]}\t{spa[key]}"
                )
    print(f"  Spanish verses {len(lines) - 1}; chapters dropped as drifted: {dropped}", flush=True)
    return lines, dropped


def build() -> list[Output]:
    kjv_dir = extract_deb(apt_deb(*KJV))
    web_dir = extract_deb(apt_deb(*WEB))
    print("  reading KJV", flush=True)
    kjv = {k: clean_osis(v) for k, v in read_module(str(kjv_dir / KJV_MODULE), "kjv").items()}
    print("  reading WEB", flush=True)
    web = {k: clean_osis(v) for k, v in read_module(str(web_dir / WEB_MODULE), "nrsva").items()}
    web[("Rev", 22, 21)] = _cut_glossary(web[("Rev", 22, 21)])
    print(f"  verses: KJV {len(kjv)}, WEB {len(web)}", flush=True)
    # Pairs by reference, then drop pairs of implausible length ratio and whole chapters whose
    # verse lengths do not correlate (shifted versification).
    pairs = []
    for key, k_text in kjv.items():
        w_text = web.get(key)
        if not k_text or not w_text:
            continue
        ratio = len(w_text.split()) / max(1, len(k_text.split()))
        if 0.5 <= ratio <= 2.0:
            pairs.append((key, k_text, w_text))
    by_chapter: dict[tuple[str, int], list] = {}
    for p in pairs:
        by_chapter.setdefault(p[0][:2], []).append(p)
    kept, dropped = [], []
    for chap, items in by_chapter.items():
        corr = _corr([len(k.split()) for _, k, _ in items], [len(w.split()) for _, _, w in items])
        (kept if corr >= 0.5 else dropped).extend(items if corr >= 0.5 else [chap])
    print(f"  pairs {len(kept)}; chapters dropped as misaligned: {dropped}", flush=True)
    lines = ["split\tbook\tchapter\tverse\tkjv\tweb"]
    for (book, chapter, verse), k_text, w_text in kept:
        assert "\t" not in k_text + w_text and "\n" not in k_text + w_text
        lines.append(
            f"{chapter_split(book, chapter)}\t{book}\t{chapter}\t{verse}\t{k_text}\t{w_text}"
        )
    source = (
        f"Debian {KJV[0]}={KJV[1]} (module engKJV2006eb) and {WEB[0]}={WEB[1]} (module "
        f"engWEB2015eb), read with PyPI {PYSWORD}"
    )
    spa_lines, spa_dropped = _spanish(kjv, [key for key, _, _ in kept])
    return [
        Output(
            "bible_spa",
            "bible/bible_spa_rv1909.tsv.gz",
            "\n".join(spa_lines) + "\n",
            f"Debian {SPA[0]}={SPA[1]} (module spaRV1909eb), read with PyPI {PYSWORD}",
            "Public domain ('This work is not copyrighted. It is in the Public Domain.').",
            "Reina-Valera 1909 (Spanish) verses at the references of bible_kjv_web, for "
            f"English-Spanish pairs: TSV split, book, chapter, verse, spa; {len(spa_dropped)} "
            "chapters whose numbering drifts from the KJV's are left out.",
        ),
        Output(
            "bible_kjv_web",
            "bible/bible_kjv_web.tsv.gz",
            "\n".join(lines) + "\n",
            source,
            "Public domain (KJV: public domain outside the UK, where the Crown's letters patent "
            "apply to printing; WEB: public domain, 'World English Bible' is a trademark of "
            "eBible.org).",
            "Verse-aligned King James Version / World English Bible pairs: TSV with columns split, "
            "book, chapter, verse, kjv, web; split by whole chapter.",
        ),
    ]
