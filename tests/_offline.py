"""Fresh virtual environments with no package index, for test_wheelhouse and test_colab.

Both tests need a new, empty environment in which some packages are already there (torch above
all, as on Colab or on a laptop that has it) and everything else must come from a small folder of
wheels. Installing torch again would take minutes and hundreds of MB, so it is *lent* instead:

- :func:`lent_site` puts symbolic links to the chosen distributions of the test's own environment
  (each one's top-level files and ``.dist-info``, found from its RECORD, with everything they
  depend on) into one folder, and :func:`fresh_venv` adds that folder to a new venv's path with a
  ``.pth`` line. Python imports them and pip sees them as installed (their metadata is on the
  path), but they live outside the venv's own site-packages, so pip never uninstalls or changes
  them; anything it would have to (re)install must come from the wheel folder. Only what is lent
  is visible: a ``.pth`` line adds a folder to ``sys.path`` without running the ``.pth`` files in
  it, so the test environment's editable coursekit and the rest of its packages stay out.
  (``--system-site-packages`` would lend the base interpreter's packages, not the test
  environment's; a ``.pth`` pointing at the whole of its site-packages would lend everything.)
- :func:`wheel_from_installed` packs an installed pure-Python distribution back into a wheel (its
  files from RECORD, a new RECORD), so a wheel folder can be built offline in a second.
- :func:`offline_pip_env` is the environment for pip with the index switched off: no index, no
  configuration files (this machine's pip.conf may name folders that hold torch), the wheel folder
  the only source, and an index URL that refuses connections in case anything still asks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# An address nothing listens on: a request that slips past --no-index fails at once.
DEAD_INDEX = "http://127.0.0.1:9/simple"


def closure(roots: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions ``roots`` need (without extras), by canonical name."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this environment leaves out on purpose
        found[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def _site_files(dist: metadata.Distribution) -> list[str]:
    """RECORD paths inside site-packages (scripts in ../bin and caches left out)."""
    return [
        str(f)
        for f in dist.files or []
        if not str(f).startswith("..") and "__pycache__" not in f.parts
    ]


def lent_site(roots: list[str], folder: Path) -> dict[str, metadata.Distribution]:
    """Symbolic links to the installed ``roots`` and their dependencies, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    dists = closure(roots)
    for dist in dists.values():
        base = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in _site_files(dist)}:
            link = folder / top
            if not link.exists():
                link.symlink_to(base / top)
    return dists


def fresh_venv(path: Path, lent: Path | None = None) -> Path:
    """A new venv (no pip of its own: pip is lent) seeing ``lent``; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if lent is not None:
        (Path(site) / "_lent.pth").write_text(f"{lent}\n", encoding="utf-8")
    return python


def wheel_from_installed(name: str, dest: Path) -> Path:
    """Pack the installed pure-Python distribution ``name`` back into a wheel in ``dest``."""
    dist = metadata.distribution(name)
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")
    ]
    if "Root-Is-Purelib: true" not in wheel_meta or not all(t.endswith("-none-any") for t in tags):
        raise ValueError(f"{name} is not a pure-Python wheel ({tags}); lend it instead")
    pythons = ".".join(sorted({t.split("-")[0] for t in tags}))
    stem = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    info = f"{stem}.dist-info"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{stem}-{pythons}-none-any.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    base = Path(dist.locate_file(""))
    record = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in _site_files(dist):
            parts = Path(rel).parts
            if parts[0].endswith(".dist-info"):
                if parts[-1] in skip:
                    continue
                arcname = "/".join((info, *parts[1:]))
            else:
                arcname = "/".join(parts)
            data = (base / rel).read_bytes()
            zf.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return target


def offline_pip_env(find_links: Path, home: Path) -> dict[str, str]:
    """The process environment for pip with the index off and ``find_links`` the only source."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # no pip.conf at all
        PIP_NO_INDEX="1",
        PIP_INDEX_URL=DEAD_INDEX,
        PIP_FIND_LINKS=str(find_links),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        PIP_NO_INPUT="1",
        PIP_DEFAULT_TIMEOUT="5",
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        MPLCONFIGDIR=str(home / "matplotlib"),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        COURSEKIT_NUM_THREADS="1",
        PYTHONHASHSEED="0",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env
