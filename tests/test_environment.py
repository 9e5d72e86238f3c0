"""The tested environment is fully pinned: what .venv holds is what constraints.txt says."""

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (REPO / ".venv").resolve(), reason="only in the course's .venv"
)
def test_every_installed_package_is_pinned():
    pins = {}
    for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_norm(name)] = version
    assert pins.get("torch") == "2.13.0"
    unpinned, drift = [], []
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in {"coursekit", "pip", "setuptools", "wheel"}:
            continue
        if name not in pins:
            unpinned.append(f"{name}=={dist.version}")
        elif dist.version.split("+")[0] != pins[name]:
            drift.append(f"{name}: installed {dist.version}, pinned {pins[name]}")
    assert not unpinned, f"installed but not pinned (run `make lock`): {unpinned}"
    assert not drift, drift
