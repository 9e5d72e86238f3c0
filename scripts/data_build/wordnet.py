"""WordNet 3.0 derived sets from Debian ``wordnet-base`` (chapters 01 and 09).

Parses the ``data.*`` files and ``cntlist.rev`` directly (no NLTK):

* ``wordnet_synonyms``: pairs of single-word synonyms (same synset) whose lemmas are each tagged
  at least 5 times in SemCor (``cntlist.rev``), so an embedding trained on a small corpus has a
  chance to know them.
* ``wordnet_noun_similarity``: pairs of frequent nouns scored by Wu-Palmer similarity of their
  first senses, sampled evenly over ten score bands.
* ``wordnet_gloss10``: noun glosses (definitions, examples removed) labelled by their
  lexicographer file (supersense), 600 per class for ten classes, split 480/60/60 per class.
* ``wordnet_license``: the WordNet 3.0 license, which must travel with every copy.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from data_build.common import Output, apt_deb, extract_deb

__all__ = ["build", "definition", "wu_palmer"]

PACKAGE = (
    "wordnet-base",
    "1:3.0-37",
    "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
)
SOURCE = f"Debian {PACKAGE[0]}={PACKAGE[1]}"
LICENSE = "WordNet 3.0 license (permissive; the notice in licenses/WORDNET_LICENSE.txt must accompany every copy)"
MIN_SEMCOR = 5
GLOSS_CLASSES = [
    "animal", "plant", "food", "artifact", "person",
    "location", "body", "substance", "communication", "time",
]  # fmt: skip
PER_CLASS = 600
SPLIT_SIZES = {"test": 60, "valid": 60}  # per class; the rest is train
POS_NAMES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
SS_TYPE = {"1": "noun", "2": "verb", "3": "adj", "4": "adv", "5": "adj"}
_WORD = re.compile(r"[a-z]+")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def definition(gloss: str) -> str:
    """The definition part of a WordNet gloss, without its quoted examples.

    >>> definition('a member of the genus Canis; occurs in many breeds; "the dog barked"')
    'a member of the genus Canis; occurs in many breeds'
    """
    parts = [p.strip() for p in gloss.split(";")]
    return "; ".join(p for p in parts if p and not p.startswith('"')).strip()


class Synset:
    __slots__ = ("gloss", "hypernyms", "lexname", "offset", "pos", "words")

    def __init__(self, line: str, lexnames: dict[int, str]) -> None:
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        self.offset = fields[0]
        self.lexname = lexnames[int(fields[1])]
        self.pos = POS_NAMES[fields[2]]
        n_words = int(fields[3], 16)
        words = fields[4 : 4 + 2 * n_words : 2]
        self.words = [re.sub(r"\(.*\)$", "", w).lower() for w in words]
        i = 4 + 2 * n_words
        n_ptrs = int(fields[i])
        ptrs = fields[i + 1 : i + 1 + 4 * n_ptrs]
        self.hypernyms = [ptrs[j + 1] for j in range(0, len(ptrs), 4) if ptrs[j] in {"@", "@i"}]
        self.gloss = " ".join(gloss.split())


def _lexnames(root: Path) -> dict[int, str]:
    text = gzip.decompress((root / "usr/share/man/man5/lexnames.5WN.gz").read_bytes()).decode()
    names = {int(m[1]): m[2] for m in re.finditer(r"^(\d\d)\s+(\w+\.\w+)\s", text, re.M)}
    assert len(names) == 45 and names[5] == "noun.animal", names
    return names


def _synsets(root: Path, pos: str, lexnames: dict[int, str]) -> list[Synset]:
    path = root / "usr/share/wordnet" / f"data.{pos}"
    lines = path.read_text(encoding="latin-1").splitlines()
    return [Synset(line, lexnames) for line in lines if not line.startswith("  ")]


def _semcor_counts(root: Path) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for line in (root / "usr/share/wordnet/cntlist.rev").read_text().splitlines():
        key, _, count = line.split()
        lemma, _, rest = key.partition("%")
        counts[(lemma.lower(), SS_TYPE[rest[0]])] += int(count)
    return counts


def _first_senses(root: Path) -> dict[str, str]:
    """Noun lemma -> offset of its first (most frequent) sense, from index.noun."""
    first = {}
    for line in (root / "usr/share/wordnet/index.noun").read_text().splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        n_senses, n_ptrs = int(fields[2]), int(fields[3])
        offsets = fields[6 + n_ptrs : 6 + n_ptrs + n_senses]
        first[fields[0]] = offsets[0]
    return first


def _depths_and_ancestors(offset: str, nouns: dict[str, Synset]) -> dict[str, int]:
    """Every ancestor of a synset (itself included) with its depth (root = 1), deepest path."""
    memo: dict[str, int] = {}

    def depth(o: str) -> int:
        if o not in memo:
            parents = nouns[o].hypernyms
            memo[o] = 1 + max((depth(p) for p in parents), default=0)
        return memo[o]

    ancestors, stack = set(), [offset]
    while stack:
        o = stack.pop()
        if o not in ancestors:
            ancestors.add(o)
            stack.extend(nouns[o].hypernyms)
    return {o: depth(o) for o in ancestors}


def wu_palmer(a: dict[str, int], b: dict[str, int]) -> float:
    """Wu-Palmer similarity 2·depth(lcs) / (depth(a) + depth(b)) from ancestor-depth maps.

    >>> wu_palmer({"x": 3, "r": 1, "p": 2}, {"y": 3, "r": 1, "p": 2})
    0.6667
    """
    common = set(a) & set(b)
    if not common:
        return 0.0
    lcs = max(a[o] for o in common)
    return round(2 * lcs / (max(a.values()) + max(b.values())), 4)


def build() -> list[Output]:
    root = extract_deb(apt_deb(*PACKAGE))
    lexnames = _lexnames(root)
    synsets = {pos: _synsets(root, pos, lexnames) for pos in ("noun", "verb", "adj", "adv")}
    counts = _semcor_counts(root)

    # Synonyms.
    pairs: dict[tuple[str, str, str], str] = {}
    for pos, items in synsets.items():
        for s in items:
            words = sorted({w for w in s.words if _WORD.fullmatch(w)})
            for w1, w2 in combinations(words, 2):
                if (
                    counts.get((w1, pos), 0) >= MIN_SEMCOR
                    and counts.get((w2, pos), 0) >= MIN_SEMCOR
                ):
                    pairs.setdefault((pos, w1, w2), f"{s.offset}-{pos[0]}")
    syn_lines = ["word1\tword2\tpos\tsynset"]
    syn_lines += [f"{w1}\t{w2}\t{pos}\t{sid}" for (pos, w1, w2), sid in sorted(pairs.items())]
    print(f"  synonym pairs: {len(pairs)}", flush=True)

    # Noun similarity: frequent single-word nouns, first senses, ten bands of Wu-Palmer score.
    nouns = {s.offset: s for s in synsets["noun"]}
    first = _first_senses(root)
    frequent = sorted(
        (w for (w, pos), c in counts.items() if pos == "noun" and c >= 25 and _WORD.fullmatch(w)),
    )
    frequent = [w for w in frequent if w in first and len(w) > 2]
    anc = {w: _depths_and_ancestors(first[w], nouns) for w in frequent}
    bands: dict[int, list[tuple[str, str, str, float]]] = defaultdict(list)
    for w1, w2 in combinations(frequent, 2):
        score = wu_palmer(anc[w1], anc[w2])
        bands[min(int(score * 10), 9)].append((_key(w1 + " " + w2), w1, w2, score))
    sim_rows = []
    for band in sorted(bands):
        sim_rows += sorted(bands[band])[:350]
    sim_rows.sort(key=lambda r: (r[1], r[2]))
    sim_lines = ["word1\tword2\twup"] + [f"{w1}\t{w2}\t{s:.4f}" for _, w1, w2, s in sim_rows]
    print(f"  similarity pairs: {len(sim_rows)} from {len(frequent)} nouns", flush=True)

    # Gloss classification.
    by_text: dict[str, set[str]] = defaultdict(set)
    for s in synsets["noun"]:
        text = definition(s.gloss)
        if len(text.split()) >= 3:
            by_text[text].add(s.lexname.split(".", 1)[1])
    per_class: dict[str, list[str]] = defaultdict(list)
    for text, labels in by_text.items():
        if len(labels) == 1 and (label := next(iter(labels))) in GLOSS_CLASSES:
            per_class[label].append(text)
    gloss_rows = []
    for label in GLOSS_CLASSES:
        chosen = sorted(per_class[label], key=_key)[:PER_CLASS]
        assert len(chosen) == PER_CLASS, (label, len(chosen))
        for i, text in enumerate(chosen):
            split = "test" if i < 60 else "valid" if i < 120 else "train"
            gloss_rows.append((split, label, text))
    order = {"train": 0, "valid": 1, "test": 2}
    gloss_rows.sort(key=lambda r: (order[r[0]], _key(r[2])))
    gloss_lines = ["split\tlabel\ttext"] + ["\t".join(r) for r in gloss_rows]
    assert all(line.count("\t") == 2 for line in gloss_lines)

    copyright_text = (root / "usr/share/doc/wordnet-base/copyright").read_text()
    block = copyright_text.split("License: WordNet3.0\n", 1)[1].split("\nFiles:", 1)[0]
    body = "\n".join("" if ln.strip() == "." else ln[1:] for ln in block.rstrip().splitlines())
    notice = (
        "WordNet 3.0 license\n\n"
        "The files wordnet_synonyms.tsv, wordnet_noun_similarity.tsv and wordnet_gloss10.tsv in the\n"
        "course's data/wordnet/ folder are derived from WordNet 3.0 (Debian package wordnet-base 1:3.0-37).\n"
        "Copyright: (c) 1996-2012 Cognitive Science Laboratory Princeton University\n\n"
        + body
        + "\n"
    )
    return [
        Output(
            "wordnet_synonyms",
            "wordnet/wordnet_synonyms.tsv",
            "\n".join(syn_lines) + "\n",
            SOURCE + " (data.noun/verb/adj/adv, cntlist.rev)",
            LICENSE,
            "Single-word synonym pairs (same synset; each lemma tagged >= 5 times in SemCor): TSV "
            "word1, word2, pos, synset.",
        ),
        Output(
            "wordnet_noun_similarity",
            "wordnet/wordnet_noun_similarity.tsv",
            "\n".join(sim_lines) + "\n",
            SOURCE + " (data.noun, index.noun, cntlist.rev)",
            LICENSE,
            "Noun pairs with the Wu-Palmer similarity of their first senses, sampled over ten "
            "score bands: TSV word1, word2, wup.",
        ),
        Output(
            "wordnet_gloss10",
            "wordnet/wordnet_gloss10.tsv",
            "\n".join(gloss_lines) + "\n",
            SOURCE + " (data.noun, lexicographer files)",
            LICENSE,
            "Noun definitions labelled by supersense, 10 classes x 600 (train 480, valid 60, test "
            "60 per class): TSV split, label, text.",
        ),
        Output(
            "wordnet_license",
            "licenses/WORDNET_LICENSE.txt",
            notice,
            SOURCE + " (usr/share/doc/wordnet-base/copyright)",
            LICENSE,
            "The WordNet 3.0 license notice that must accompany the WordNet-derived files.",
        ),
    ]
