"""The learner's working copy: ``make lab`` serves a git-ignored copy of the chapters, not the
committed notebooks, so running and editing a chapter never makes ``git pull`` conflict.

:func:`sync_workspace` seeds the copy (``my-notebooks/`` from ``chapters/``; the student edition
``my-student-notebooks/`` from ``student/``) and keeps it current without ever overwriting the
learner's work:

- a chapter the copy lacks is copied in (a new chapter, or one the learner deleted to start over);
- a chapter the learner has not touched since it was copied follows the course: it is replaced by
  the new version when the course's changes;
- a chapter the learner has run or edited is theirs: when the course's version changes (its cells,
  not only its stored outputs) it is reported and left alone; ``refresh=True`` (``make
  lab-refresh``) then writes the new version beside it, ``NN_slug.upstream-<hash>.ipynb``.

What was copied is remembered in ``.coursekit-workspace.json`` inside the copy.
:func:`lab_command` is the JupyterLab command line the course uses (``python -m coursekit lab``):
the copy as its root, and no news or update checks from the internet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LAB_FLAGS", "MANIFEST", "SyncReport", "lab_command", "sync_workspace"]

MANIFEST = ".coursekit-workspace.json"
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"
# JupyterLab's announcements: no news feed (and so no "receive official Jupyter news?" pop-up on
# the first start) and no check for a newer JupyterLab; both would contact the internet.
LAB_FLAGS = (
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
)


@dataclass
class SyncReport:
    """What :func:`sync_workspace` did, chapter file names in each list."""

    workspace: Path
    source: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    changed_upstream: list[str] = field(default_factory=list)
    written_beside: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Your working copy: {self.workspace}/ (git-ignored: your runs and edits stay there, "
            f"so `git pull` never conflicts; {self.source}/ is the course's version)."
        ]
        if self.copied:
            lines.append(f"  copied in: {', '.join(self.copied)}")
        if self.updated:
            lines.append(f"  updated to the course's new version (you had not changed them): "
                         f"{', '.join(self.updated)}")  # fmt: skip
        for name in self.changed_upstream:
            beside = [b for b in self.written_beside if b.startswith(Path(name).stem + ".")]
            if beside:
                lines.append(f"  {name}: the course's new version is beside yours as {beside[0]}")
            else:
                lines.append(
                    f"  {name}: changed in {self.source}/ since you started on it; yours is kept "
                    f"as it is (`make lab-refresh` puts the new version beside it)"
                )
        if self.unchanged and not (self.copied or self.updated or self.changed_upstream):
            lines.append(f"  {len(self.unchanged)} chapters, all current")
        return "\n".join(lines)


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content_sha(path: Path) -> str:
    """The cells' kinds and sources only: a change to stored outputs alone is not news."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except ValueError:  # not a notebook any more (the learner's business)
        return _file_sha(path)
    digest = hashlib.sha256()
    for cell in cells:
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        digest.update(f"{cell.get('cell_type')}\n{text}\n\x1e\n".encode())
    return digest.hexdigest()


def _load(manifest: Path) -> dict[str, dict[str, str | None]]:
    if not manifest.is_file():
        return {}
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("chapters", {})
    except ValueError:
        return {}


def sync_workspace(source: str | Path, workspace: str | Path, refresh: bool = False) -> SyncReport:
    """Seed or update the working copy ``workspace`` from ``source``; see the module docstring.

    Raises:
        FileNotFoundError: ``source`` holds no chapters (``NN_slug.ipynb``).
    """
    source, workspace = Path(source), Path(workspace)
    chapters = sorted(source.glob(CHAPTER_GLOB))
    if not chapters:
        hint = " (build it with `make student`)" if source.name == "student" else ""
        raise FileNotFoundError(f"no chapters (NN_slug.ipynb) in {source}/{hint}")
    workspace.mkdir(parents=True, exist_ok=True)
    manifest = workspace / MANIFEST
    records = _load(manifest)
    report = SyncReport(workspace, source)
    for upstream in chapters:
        name, mine = upstream.name, workspace / upstream.name
        up_file, up_content = _file_sha(upstream), _content_sha(upstream)
        record = records.get(name)
        if not mine.exists():
            shutil.copyfile(upstream, mine)
            records[name] = {"file": up_file, "content": up_content}
            report.copied.append(name)
            continue
        if record is None:  # there before us (or our record was lost): the learner's
            record = records[name] = {"file": None, "content": _content_sha(mine)}
        if _file_sha(mine) == record["file"]:  # untouched since we copied it
            if up_file != record["file"]:
                shutil.copyfile(upstream, mine)
                records[name] = {"file": up_file, "content": up_content}
                report.updated.append(name)
            else:
                report.unchanged.append(name)
            continue
        if up_content == record["content"]:
            report.unchanged.append(name)
            continue
        report.changed_upstream.append(name)
        if refresh:
            beside = workspace / f"{upstream.stem}.upstream-{up_content[:8]}.ipynb"
            if not beside.exists():
                shutil.copyfile(upstream, beside)
            report.written_beside.append(beside.name)
            record["content"] = up_content  # seen: not reported again
    manifest.write_text(
        json.dumps({"source": str(source), "chapters": records}, indent=1) + "\n",
        encoding="utf-8",
    )
    return report


def lab_command(root: str | Path, port: int = 8888, extra: tuple[str, ...] = ()) -> list[str]:
    """The ``jupyter lab`` command line serving ``root``: this environment's JupyterLab, the
    course's settings (:data:`LAB_FLAGS`), ``--allow-root`` where it runs as root (containers,
    some classroom machines; JupyterLab refuses otherwise)."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={Path(root)}",
        f"--ServerApp.port={port}",
        *LAB_FLAGS,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return [*command, *extra]
