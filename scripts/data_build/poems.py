"""Regular-form Tang poems from npm ``chinese-poetry@2.0.1`` (chapter 03's Chinese character LM).

The package stores the 全唐诗 in traditional characters; they are converted to simplified with
OpenCC (PyPI ``opencc``, Apache-2.0; installed into a throwaway folder under the build cache, used
only here). A poem is kept when every line has the same length, five or seven characters, and it
has four lines (绝句) or eight (律诗); anything holding a gap mark (□), an editor's note or a
non-Chinese character is dropped, and so are exact duplicates. "Form" is decided by line count and
length alone, not by tonal rules.
"""

from __future__ import annotations

import json
import re
import tarfile

from data_build.common import Output, build_tool, npm_tarball, stable_split

__all__ = ["build", "poem_form", "poem_split"]

PACKAGE = (
    "chinese-poetry",
    "2.0.1",
    "25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86",
)
OPENCC = "opencc==1.4.2"
TANG = re.compile(r"package/dist/quantangshi/poet\.tang\.(\d+)\.json")
FORMS = {(4, 5): "五绝", (8, 5): "五律", (4, 7): "七绝", (8, 7): "七律"}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]+")
_LINE = re.compile(r"([^，。？！；]+)([，。？！；])")


def poem_form(text: str) -> str | None:
    """The regular form of a poem (五绝, 五律, 七绝, 七律) or None.

    >>> poem_form("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
    '五绝'
    >>> poem_form("床前明月光，疑是地上霜。举头望明月。") is None
    True
    """
    lines = _LINE.findall(text)
    if "".join(a + b for a, b in lines) != text:
        return None
    if not all(_HAN.fullmatch(line) for line, _ in lines):
        return None
    lengths = {len(line) for line, _ in lines}
    if len(lengths) != 1 or lines[-1][1] not in "。？！":
        return None
    return FORMS.get((len(lines), lengths.pop()))


def poem_split(text: str) -> str:
    """5% test, 5% valid, 90% train, by a stable hash of the poem's text.

    >>> poem_split("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。") in {"train", "valid", "test"}
    True
    """
    return stable_split(text)


def _opencc():
    build_tool(OPENCC, "opencc")
    import opencc

    return opencc.OpenCC("t2s")


def build() -> list[Output]:
    tgz = npm_tarball(*PACKAGE)
    converter = _opencc()
    files = []
    with tarfile.open(tgz, "r:gz") as tf:
        for member in tf.getmembers():
            match = TANG.fullmatch(member.name)
            if match:
                fh = tf.extractfile(member)
                assert fh is not None
                files.append((int(match.group(1)), json.loads(fh.read().decode("utf-8"))))
    files.sort()
    seen: set[str] = set()
    rows = []
    total = 0
    for _, poems in files:
        for poem in poems:
            total += 1
            text = converter.convert("".join(p.strip() for p in poem["paragraphs"]))
            form = poem_form(text)
            if form is None or text in seen:
                continue
            seen.add(text)
            author = converter.convert(poem["author"].strip()) or "佚名"
            title = " ".join(converter.convert(poem["title"]).split()) or "无题"
            rows.append((author, title, form, text))
    print(f"  {total} Tang poems read, {len(rows)} regular-form poems kept", flush=True)
    header = "split\tauthor\ttitle\tform\ttext"
    lines = [header] + [f"{poem_split(t)}\t{a}\t{ti}\t{f}\t{t}" for a, ti, f, t in rows]
    assert all(line.count("\t") == 4 for line in lines)
    five = [t for _, _, f, t in rows if f.startswith("五")]
    source = f"npm {PACKAGE[0]}@{PACKAGE[1]} (dist/quantangshi/poet.tang.*.json), simplified with PyPI {OPENCC} (t2s)"
    license_ = (
        "MIT (chinese-poetry, Copyright (c) 2016 JackeyGao); the classical poems are public domain."
    )
    return [
        Output(
            "tang_poems",
            "poems/tang_poems.tsv.gz",
            "\n".join(lines) + "\n",
            source,
            license_,
            "Regular-form Tang poems (五绝, 五律, 七绝, 七律), simplified characters: TSV with "
            "columns split, author, title, form, text.",
        ),
        Output(
            "tang_poems_5char",
            "poems/tang_poems_5char.txt.gz",
            "\n".join(five) + "\n",
            source,
            license_,
            "The five-character poems (五绝, 五律) of tang_poems, one poem per line; split of a "
            "poem = its split in tang_poems (stable hash of the text).",
        ),
    ]
