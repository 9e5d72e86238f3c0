"""Every name a chapter imports from coursekit exists (a rename or a split can't strand a chapter)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parent.parent / "chapters").glob("*.ipynb"))
IMPORT = re.compile(r"^\s*from (coursekit(?:\.\w+)*) import (\([^)]*\)|[\w, ]+)$", re.M)


def _imports(notebook: Path) -> list[tuple[str, str]]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return [
        (module, name)
        for module, names in IMPORT.findall(code)
        for name in filter(None, (n.strip() for n in names.strip("()").split(",")))
    ]


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_name_the_chapter_imports_from_coursekit_exists(notebook):
    for module, name in _imports(notebook):
        found = hasattr(importlib.import_module(module), name)
        if not found:  # `from coursekit import plots` imports a submodule
            found = importlib.util.find_spec(f"{module}.{name}") is not None
        assert found, f"{notebook.name}: from {module} import {name}"


def test_the_chapters_import_the_layers_and_the_loop():
    imported = {module for notebook in CHAPTERS for module, _ in _imports(notebook)}
    assert {"coursekit.nn", "coursekit.train"} <= imported  # the scan finds what 03-05 use
