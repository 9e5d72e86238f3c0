"""coursekit.train is a package of rooms, one concept each; every name stays importable from
coursekit.train as the same object, and every name the chapters import from it exists."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import coursekit.train

ROOT = Path(__file__).resolve().parents[1]
ROOMS = {
    "loop": "chapter 03",
    "history": "chapter 03",
    "callbacks": "chapter 03",
    "checkpoint": "chapter 03",
    "evaluation": "chapter 03",
    "schedules": "chapter 03",
    "checks": "chapter 03",
    "distributed": "chapters 06-10",
    "faults": "chapters 08-10",
}


def test_every_room_is_listed_here():
    package = Path(coursekit.train.__file__).parent
    assert {p.stem for p in package.glob("*.py")} - {"__init__"} == set(ROOMS)


def test_public_names_are_the_same_objects_in_the_package_and_their_rooms():
    exported = set()
    for room in ROOMS:
        mod = importlib.import_module(f"coursekit.train.{room}")
        for name in getattr(mod, "__all__", ()):
            assert getattr(coursekit.train, name) is getattr(mod, name), f"{room}.{name}"
            exported.add(name)
    assert exported == set(coursekit.train.__all__)  # each public name lives in exactly one room


@pytest.mark.parametrize(("room", "chapter"), sorted(ROOMS.items()))
def test_each_room_names_its_chapter_and_stays_small(room, chapter):
    mod = importlib.import_module(f"coursekit.train.{room}")
    assert chapter in mod.__doc__.splitlines()[0]
    assert len(Path(mod.__file__).read_text().splitlines()) < 300
    assert f"``{room}.py``" in coursekit.train.__doc__  # the overview says where things are
