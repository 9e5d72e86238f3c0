"""Auto-checked exercises: a checker per exercise that says what is right or wrong in an answer.

The framework is :mod:`coursekit.exercises.core`; each chapter's checkers are in ``chNN.py``.
"""

from coursekit.exercises.core import STRICT_ENV, Exercise, ExerciseResult

__all__ = ["STRICT_ENV", "Exercise", "ExerciseResult"]
