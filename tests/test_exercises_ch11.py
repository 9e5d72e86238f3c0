"""Checkers of chapter 11: the reference passes, typical wrong answers fail with a message naming
the mistake."""

from __future__ import annotations

import re

import pytest

from coursekit.exercises import ch11


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def relative_change(before, after, scale=None):
    return ((after - before).norm() / (before if scale is None else scale).norm()).item()


def to_patches(images, size):
    b, h, w = images.shape
    x = images.reshape(b, h // size, size, w // size, size)
    return x.permute(0, 1, 3, 2, 4).reshape(b, -1, size * size)


def find_terms(markdown):
    pattern = r"\*\*([^*\n]+?)\*\*\s+\(([^,;()*\n]*[\u4e00-\u9fff][^,;()*\n]*)[,;)]"
    return [(en.strip(), zh.strip()) for en, zh in re.findall(pattern, markdown)]


def test_references_pass():
    assert ch11.check_relative_change(relative_change).passed
    assert ch11.check_patches(to_patches).passed
    assert ch11.check_marked_terms(find_terms).passed


def test_other_correct_answers_pass():
    def unfold(images, size):
        return images.unfold(1, size, size).unfold(2, size, size).flatten(3).flatten(1, 2)

    def by_sums(before, after, scale=None):
        ref = before if scale is None else scale
        return float(((after - before) ** 2).sum().sqrt() / (ref**2).sum().sqrt())

    assert ch11.check_patches(unfold).passed
    assert ch11.check_relative_change(by_sums).passed


def test_relative_change_mistakes_are_named():
    answers = {
        "difference of the norms": lambda b, a: ((a.norm() - b.norm()) / b.norm()).item(),
        "divided by ||after||": lambda b, a: ((a - b).norm() / a.norm()).item(),
        "forgot to divide": lambda b, a: (a - b).norm().item(),
        "square roots": lambda b, a: ((a - b).norm() ** 2 / b.norm() ** 2).item(),
        "mean absolute": lambda b, a: ((a - b).abs().mean() / b.abs().mean()).item(),
    }
    for expected, answer in answers.items():
        result = ch11.check_relative_change(answer)
        assert not result.passed and expected in result.message, (expected, result.message)

    def in_place(before, after):
        after -= before
        return (after.norm() / before.norm()).item()

    assert "changed its inputs" in ch11.check_relative_change(in_place).message

    def ignores_scale(before, after, scale=None):
        return ((after - before).norm() / before.norm()).item()

    assert "divide by ||scale||" in ch11.check_relative_change(ignores_scale).message


def test_patch_mistakes_are_named():
    def column_major(images, size):
        b, h, w = images.shape
        x = images.reshape(b, h // size, size, w // size, size)
        return x.permute(0, 3, 1, 2, 4).reshape(b, -1, size * size)

    def transposed(images, size):
        b, h, w = images.shape
        x = images.reshape(b, h // size, size, w // size, size)
        return x.permute(0, 1, 3, 4, 2).reshape(b, -1, size * size)

    answers = {
        "plain reshape": lambda images, size: images.reshape(images.size(0), -1, size * size),
        "top to bottom": column_major,
        "transposed": transposed,
    }
    for expected, answer in answers.items():
        result = ch11.check_patches(answer)
        assert not result.passed and expected in result.message, (expected, result.message)
    assert "not attempted" in str(ch11.check_patches(_stub)).lower()


def _stub(images, size):
    raise NotImplementedError


def test_marked_terms_mistakes_are_named():
    def keeps_abbreviation(markdown):
        pattern = r"\*\*([^*\n]+?)\*\*\s+\(([^()*\n]*[\u4e00-\u9fff][^()*\n]*)\)"
        return [(en, zh) for en, zh in re.findall(pattern, markdown)]

    def one_space(markdown):
        pattern = r"\*\*([^*\n]+?)\*\* \(([^,;()*\n]*[\u4e00-\u9fff][^,;()*\n]*)[,;)]"
        return re.findall(pattern, markdown)

    def any_bold(markdown):
        return re.findall(r"\*\*([^*\n]+?)\*\*\s+\(([^,;()*\n]+)[,;)]", markdown)

    answers = {
        "keeps what follows": keeps_abbreviation,
        "missed a mark": one_space,
        "not there": any_bold,
    }
    for expected, answer in answers.items():
        result = ch11.check_marked_terms(answer)
        assert not result.passed and expected in result.message, (expected, result.message)
