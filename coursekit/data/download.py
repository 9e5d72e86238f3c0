"""Optional larger downloads for learners who are online (extension exercises of chapters 03, 06, 08).

Nothing in the course needs these: every chapter runs on the bundled data. :func:`fetch` looks a
name up in :data:`REGISTRY`, returns the cached copy when its sha256 is right, and otherwise
downloads it from the first URL that works (then the mirrors), checks size and sha256, and only
then moves it into the cache. The cache folder is ``$COURSEKIT_CACHE`` (default
``~/.cache/coursekit``). Every failure raises :class:`DownloadError` with what went wrong and what
to do (offline, checksum mismatch, unknown name).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from coursekit.data.bundled import sha256_of

__all__ = [
    "CACHE_ENV",
    "REGISTRY",
    "DownloadError",
    "Remote",
    "cache_dir",
    "fetch",
    "fetch_remote",
]

CACHE_ENV = "COURSEKIT_CACHE"


class DownloadError(RuntimeError):
    """A download failed, was refused, or did not match its checksum; the message says why.

    ``offline`` is True when no server could be reached at all (no network, no name resolution,
    a timeout), so a notebook can say "you are offline" rather than "the file is damaged".
    """

    def __init__(self, message: str, *, offline: bool = False) -> None:
        super().__init__(message)
        self.offline = offline


@dataclass(frozen=True)
class Remote:
    """One downloadable file: where it lives (first URL, then mirrors) and what it must hash to.

    Args:
        name: the registry name, used in messages.
        filename: the file name in the cache folder.
        urls: the primary URL first, then mirrors.
        sha256: hex digest the file must have.
        size: expected size in bytes (None: not checked before hashing).
        license: the license, for the learner to read before using the file.
        description: what it is.
    """

    name: str
    filename: str
    urls: tuple[str, ...]
    sha256: str
    size: int | None = None
    license: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError(f"Remote {self.name!r} needs at least one URL.")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"Remote {self.name!r}: sha256 must be 64 lowercase hex digits.")
        if Path(self.filename).name != self.filename:
            raise ValueError(f"Remote {self.name!r}: filename must not contain a folder.")


_DEBIAN = ("http://deb.debian.org/debian/pool/main/", "http://ftp.us.debian.org/debian/pool/main/")

REGISTRY: dict[str, Remote] = {
    "chinese_poetry_full": Remote(
        "chinese_poetry_full",
        "chinese-poetry-2.0.1.tgz",
        (
            "https://registry.npmjs.org/chinese-poetry/-/chinese-poetry-2.0.1.tgz",
            "https://registry.npmmirror.com/chinese-poetry/-/chinese-poetry-2.0.1.tgz",
        ),
        "25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86",
        85464664,
        "MIT (chinese-poetry, Copyright (c) 2016 JackeyGao); the poems are public domain.",
        "The whole chinese-poetry collection (57,607 Tang poems, 254,248 Song shi, 21,053 Song ci, "
        "the Shijing, the Analects, ...) as JSON, traditional and simplified characters; 85 MB.",
    ),
    # GPT-2 small's weights as Hugging Face publishes them (revision 607a30d783df of
    # openai-community/gpt2, also served as gpt2): the sha256 and size are the file's Git LFS
    # pointer (lfs.oid, also its X-Linked-ETag and X-Linked-Size). coursekit.hub loads it.
    "gpt2_124m": Remote(
        "gpt2_124m",
        "gpt2-124m.safetensors",
        (
            "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors",
            "https://huggingface.co/gpt2/resolve/main/model.safetensors",
        ),
        "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707",
        548105171,
        "Modified MIT License (OpenAI's GPT-2 release: use it responsibly and say when text was "
        "generated with GPT-2); MIT on the Hugging Face model card.",
        "OpenAI's GPT-2 small (124M parameters, 12 layers, width 768) in float32 safetensors; "
        "548 MB. coursekit.hub.fetch_gpt2() downloads it and loads it into coursekit's GPT.",
    ),
    "sword_text_web": Remote(
        "sword_text_web",
        "sword-text-web_426.0-1_all.deb",
        tuple(u + "s/sword-text-web/sword-text-web_426.0-1_all.deb" for u in _DEBIAN),
        "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
        3956428,
        "Public domain ('World English Bible' is a trademark of eBible.org).",
        "The full World English Bible with the deuterocanon (37,457 verses) as a SWORD module, "
        "with footnotes; read it with pysword.",
    ),
    "sword_text_kjv": Remote(
        "sword_text_kjv",
        "sword-text-kjv_14.3-1_all.deb",
        tuple(u + "s/sword-text-kjv/sword-text-kjv_14.3-1_all.deb" for u in _DEBIAN),
        "9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
        2800476,
        "Public domain outside the UK.",
        "The King James Version with Strong's numbers as a SWORD module.",
    ),
    "sword_text_sparv": Remote(
        "sword_text_sparv",
        "sword-text-sparv_2.60-1_all.deb",
        tuple(u + "s/sword-text-sparv/sword-text-sparv_2.60-1_all.deb" for u in _DEBIAN),
        "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
        2722332,
        "Public domain.",
        "The Spanish Reina-Valera 1909 as a SWORD module (KJV versification, drifting in some "
        "chapters).",
    ),
    "wordnet_base": Remote(
        "wordnet_base",
        "wordnet-base_3.0-37_all.deb",
        tuple(u + "w/wordnet/wordnet-base_3.0-37_all.deb" for u in _DEBIAN),
        "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
        6467132,
        "WordNet 3.0 license (keep its notice with every copy).",
        "The whole WordNet 3.0 database (117,659 synsets) in its original text format.",
    ),
}


def cache_dir() -> Path:
    """The download cache: ``$COURSEKIT_CACHE`` or ``~/.cache/coursekit`` (created if needed)."""
    folder = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "coursekit")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _download(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "coursekit"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def fetch_remote(remote: Remote, timeout: float = 60.0) -> Path:
    """Download ``remote`` into the cache (or reuse a verified copy) and return its path.

    Raises:
        DownloadError: no URL could be read (offline?) or every copy had the wrong checksum.
    """
    folder = cache_dir()
    path = folder / remote.filename
    if path.is_file():
        if sha256_of(path) == remote.sha256:
            return path
        path.unlink()  # a damaged or outdated copy: fetch it again
    problems: list[tuple[str, str]] = []  # (kind, message); kind: network, http, checksum
    for url in remote.urls:
        fd, tmp_name = tempfile.mkstemp(prefix=remote.filename + ".", suffix=".part", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _download(url, tmp, timeout)
            size = tmp.stat().st_size
            if remote.size is not None and size != remote.size:
                problems.append(("checksum", f"{url}: {size} bytes, expected {remote.size}"))
                continue
            actual = sha256_of(tmp)
            if actual != remote.sha256:
                problems.append(
                    ("checksum", f"{url}: sha256 {actual[:12]}…, expected {remote.sha256[:12]}…")
                )
                continue
            os.replace(tmp, path)
            return path
        except urllib.error.HTTPError as exc:
            problems.append(("http", f"{url}: HTTP {exc.code} {exc.reason}"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problems.append(("network", f"{url}: {getattr(exc, 'reason', exc)}"))
        finally:
            tmp.unlink(missing_ok=True)
    kinds = {kind for kind, _ in problems}
    if "checksum" in kinds:
        advice = (
            "A copy did not match its checksum: the server sent a different or damaged file, "
            "which was deleted. Try again later; if it persists, report it to the course."
        )
    elif "http" in kinds:
        advice = (
            "The servers answered but did not serve the file (moved or removed?); report it to "
            "the course. Every chapter runs on the bundled data without it."
        )
    else:
        advice = (
            "Are you offline? Every chapter runs on the bundled data without this file. To use "
            f"it, connect and call fetch({remote.name!r}) again, or download it elsewhere and put "
            f"it at {path}."
        )
    raise DownloadError(
        f"Could not download {remote.name!r} ({remote.filename}):\n  "
        + "\n  ".join(message for _, message in problems)
        + f"\n{advice}",
        offline=kinds == {"network"},
    )


def fetch(name: str, timeout: float = 60.0) -> Path:
    """The path of the optional file ``name``, downloading and verifying it when needed.

    Args:
        name: a key of :data:`REGISTRY`.
        timeout: seconds to wait for each server.

    Raises:
        DownloadError: unknown name (the message lists the known ones), offline, or a checksum
            mismatch.

    >>> fetch("tinystories")
    Traceback (most recent call last):
    ...
    coursekit.data.download.DownloadError: Unknown download 'tinystories'. Available: chinese_poetry_full, gpt2_124m, sword_text_kjv, sword_text_sparv, sword_text_web, wordnet_base.
    """
    remote = REGISTRY.get(name)
    if remote is None:
        raise DownloadError(f"Unknown download {name!r}. Available: {', '.join(sorted(REGISTRY))}.")
    return fetch_remote(remote, timeout)
