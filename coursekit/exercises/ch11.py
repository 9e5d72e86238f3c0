"""Checkers for chapter 11 (FAQ): how far a weight moved, an image cut into patches, and the
glossary's term marks.

Each checker compares the answer with the usual wrong answers first (the norm of the difference
confused with the difference of the norms; a plain reshape for patches; the abbreviation kept in
the Chinese term, ...) and names the mistake; then with coursekit's result.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.glossary import marked_terms
from coursekit.vision import image_patches

__all__ = ["check_marked_terms", "check_patches", "check_relative_change"]


def check_relative_change(relative_change: Callable[..., float]) -> ExerciseResult:
    """``relative_change(before, after, scale=None) -> float``: ``||after - before||_F /
    ||scale||_F``, how far a weight matrix moved, on the scale of ``scale`` (where it started,
    ``before``, unless given: section 1 passes the pretrained weights for both stages, as
    chapter 09's ``relative_change`` does)."""
    with Exercise("11.1 how far a weight moved") as ex:
        g = torch.Generator().manual_seed(11)
        for shape in ((6, 4), (3, 5, 2)):
            before = torch.randn(shape, generator=g, dtype=torch.float64)
            after = before + 0.3 * torch.randn(shape, generator=g, dtype=torch.float64)
            kept = (before.clone(), after.clone())
            out = ex.call(relative_change, before, after)
            try:
                value = float(out)
            except (TypeError, ValueError, RuntimeError):
                ex.fail(f"relative_change should return one number, got {type(out).__name__}.")
            d, nb, na = (after - before).norm(), before.norm(), after.norm()
            expected = float(d / nb)
            mistakes = [
                (
                    float((na - nb) / nb),
                    "you took the difference of the norms; the change is the "
                    "norm of the difference, ||after - before|| (a rotation changes no norm).",
                ),
                (
                    float(abs(na - nb) / nb),
                    "you took the difference of the norms; the change is "
                    "the norm of the difference, ||after - before||.",
                ),
                (
                    float(d / na),
                    "you divided by ||after||; the scale is ||before|| unless scale is given.",
                ),
                (float(d), "you forgot to divide by ||before||: the change should be relative."),
                (
                    float(d**2 / nb**2),
                    "you left out the square roots: the Frobenius norm is "
                    "sqrt(sum of squares), so the ratio is ||Δ|| / ||W||, not ||Δ||² / ||W||².",
                ),
                (
                    float((after - before).abs().mean() / before.abs().mean()),
                    "that is the mean "
                    "absolute change; use the Frobenius norm, (after - before).norm() / before.norm().",
                ),
            ]
            for wrong, message in mistakes:
                if abs(value - wrong) < 1e-9 and abs(value - expected) > 1e-9:
                    ex.fail(message)
            ex.check(
                torch.equal(before, kept[0]) and torch.equal(after, kept[1]),
                "relative_change changed its inputs: compute on copies.",
            )
            ex.check_close(value, expected, f"relative_change for a {shape} weight")
        same = ex.call(relative_change, before, before.clone())
        ex.check_close(float(same), 0.0, "a weight that did not move has changed by 0")
        scale = 3.0 * torch.randn(before.shape, generator=g, dtype=torch.float64)
        scaled = float(ex.call(relative_change, before, after, scale=scale))
        if abs(scaled - float((after - before).norm() / before.norm())) < 1e-9:
            ex.fail("with scale given, divide by ||scale||, not ||before||.")
        ex.check_close(
            scaled,
            float((after - before).norm() / scale.norm()),
            "relative_change(before, after, scale=W): ||after - before|| / ||W||",
        )
    return ex.result


def check_patches(to_patches: Callable[..., torch.Tensor]) -> ExerciseResult:
    """``to_patches(images (B, H, W), size) -> (B, N, size * size)``: the ``size x size``
    squares left to right then top to bottom, each flattened row by row
    (:func:`coursekit.vision.image_patches`)."""
    with Exercise("11.2 an image as a sequence of patches") as ex:
        images = torch.arange(2 * 4 * 6.0).view(2, 4, 6)
        out = ex.call(to_patches, images.clone(), 2)
        ex.check_shape(out, (2, 6, 4), "to_patches(images (2, 4, 6), 2)")
        out = torch.as_tensor(out, dtype=images.dtype)
        b, h, w, p = 2, 4, 6, 2
        grid = images.reshape(b, h // p, p, w // p, p)
        mistakes = [
            (
                images.reshape(b, -1, p * p),
                "a plain reshape takes runs of 4 pixels along a row, "
                "not 2 x 2 squares: reshape to (B, H/P, P, W/P, P), then permute the two P axes "
                "next to each other.",
            ),
            (
                grid.permute(0, 3, 1, 4, 2).reshape(b, -1, p * p),
                "your patches are read top to "
                "bottom, then left to right: read them row by row, like text (left to right first).",
            ),
            (
                grid.permute(0, 1, 3, 4, 2).reshape(b, -1, p * p),
                "the pixels inside each patch are transposed: flatten a patch row by row.",
            ),
            (
                grid.permute(0, 3, 1, 2, 4).reshape(b, -1, p * p),
                "your patches are read top to "
                "bottom, then left to right: read them row by row, like text (left to right first).",
            ),
        ]
        for wrong, message in mistakes:
            if torch.equal(out, wrong):
                ex.fail(message)
        ex.check_close(out, image_patches(images, 2), "to_patches differs from image_patches")
        g = torch.Generator().manual_seed(2)
        for shape, size in (((3, 8, 8), 4), ((1, 6, 9), 3), ((2, 5, 5), 1)):
            x = torch.randn(shape, generator=g)
            out = ex.call(to_patches, x.clone(), size)
            ex.check_close(
                out, image_patches(x, size), f"to_patches of {shape} images, size {size}"
            )
    return ex.result


def check_marked_terms(find_terms: Callable[[str], list]) -> ExerciseResult:
    """``find_terms(markdown) -> [(English, Chinese), ...]``: the terms marked as
    ``**English** (中文)``, the Chinese up to the first comma or semicolon, in order
    (:func:`coursekit.glossary.marked_terms`)."""
    with Exercise("11.3 find the marked terms") as ex:
        cases = {
            "the **hidden state** (隐藏状态) carries": "one mark",
            "the **recurrent neural network** (循环神经网络, RNN) of": "an abbreviation after a comma",
            "**negative sampling** (负采样; Mikolov et al., 2013b)": "a citation after a semicolon",
            "a **causal mask**\n(因果掩码) and a **padding mask** (填充掩码).": "a line break, two marks",
            "each **sublayer** (self-attention or feed-forward) and": "bold without Chinese",
            "a recurrent network (循环神经网络) and **attention** (注意力)": "an unbold term",
        }
        for text, what in cases.items():
            out = ex.call(find_terms, text)
            try:
                got = [(str(en).strip(), str(zh).strip()) for en, zh in out]
            except (TypeError, ValueError):
                ex.fail("find_terms should return a list of (English, Chinese) pairs.")
            expected = marked_terms(text)
            if got == expected:
                continue
            if any("," in zh or ";" in zh for _, zh in got):
                ex.fail(
                    f"on {what} ({text!r}) your Chinese term keeps what follows it: it ends at "
                    f"the first comma or semicolon. Expected {expected}, got {got}."
                )
            if len(got) > len(expected):
                ex.fail(
                    f"on {what} ({text!r}) you found marks that are not there (a mark is bold "
                    f"English followed by Chinese in parentheses). Expected {expected}, got {got}."
                )
            if len(got) < len(expected):
                ex.fail(
                    f"on {what} ({text!r}) you missed a mark (the space before the parenthesis "
                    f"may be a line break: use \\s). Expected {expected}, got {got}."
                )
            ex.fail(f"on {what} ({text!r}) expected {expected}, got {got}.")
    return ex.result
