"""coursekit.nn.recurrent is split into one module per chapter; every name stays where it was."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import coursekit.nn
import coursekit.nn.recurrent

ROOT = Path(__file__).resolve().parents[1]
ROOMS = {"rnn": "chapter 03", "lstm": "chapter 04", "lstm_bptt": "chapter 04", "gru": "chapter 05"}


def test_public_names_are_the_same_objects_in_both_places():
    assert coursekit.nn.recurrent.__all__, "coursekit.nn.recurrent exports nothing"
    for name in coursekit.nn.recurrent.__all__:
        assert getattr(coursekit.nn, name) is getattr(coursekit.nn.recurrent, name), name
        assert name in coursekit.nn.__all__, name


@pytest.mark.parametrize(("module", "chapter"), sorted(ROOMS.items()))
def test_each_room_names_its_chapter_and_stays_small(module, chapter):
    mod = importlib.import_module(f"coursekit.nn.recurrent.{module}")
    assert chapter in mod.__doc__.splitlines()[0]
    assert "Shapes" in mod.__doc__  # the legend
    assert len(Path(mod.__file__).read_text().splitlines()) < 400
