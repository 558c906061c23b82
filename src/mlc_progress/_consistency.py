"""Consistency score (spec: Consistency Score, D5)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from . import _validate as v
from ._errors import InvalidInputError

__all__ = ["add_score", "consistency_from_moments", "consistency_score"]


def consistency_score(scores: Iterable[float]) -> float | None:
    """``pstdev(scores) / mean(scores)`` by the two-pass formula (D5).

    One score gives 0.0; no scores, or a mean of 0, give ``None``.

    >>> consistency_score([80.0, 80.0])
    0.0
    >>> round(consistency_score([60.0, 100.0]), 4)
    0.25
    >>> consistency_score([]) is None
    True
    """
    given: object = scores
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise InvalidInputError("scores", scores, "an iterable of scores")
    values = [v.score_argument("scores", value) for value in scores]
    n = len(values)
    if n == 0:
        return None
    mean = math.fsum(values) / n
    if mean == 0:
        return None
    variance = math.fsum((x - mean) ** 2 for x in values) / n
    return math.sqrt(variance) / mean


def add_score(count: int, mean: float, m2: float, score: float) -> tuple[float, float]:
    """Welford's O(1) update of the running mean and squared deviations (D5).

    ``count`` is the number of scores before ``score``; returns the new
    ``(mean, m2)``. Each argument is checked (a count, a mean and a score
    in [0, 100], a non-negative ``m2``).

    >>> add_score(0, 0.0, 0.0, 60.0)
    (60.0, 0.0)
    >>> add_score(1, 60.0, 0.0, 100.0)
    (80.0, 800.0)
    """
    count, mean, m2 = _moments(count, mean, m2)
    return checked_add_score(count, mean, m2, v.score_argument("score", score))


def checked_add_score(
    count: int, mean: float, m2: float, score: float
) -> tuple[float, float]:
    """:func:`add_score` on values already checked (a record's moments and
    an attempt's score): the core's hot path."""
    n = count + 1
    delta = score - mean
    new_mean = mean + delta / n
    new_m2 = m2 + delta * (score - new_mean)
    # Rounding can leave the mean a hair outside [min, max] of its inputs and
    # m2 a hair below zero; clamp so records stay valid.
    return min(max(new_mean, 0.0), 100.0), max(new_m2, 0.0)


def consistency_from_moments(count: int, mean: float, m2: float) -> float | None:
    """The consistency score from running moments; equals the two-pass value.

    >>> consistency_from_moments(2, 80.0, 800.0)
    0.25
    >>> consistency_from_moments(0, 0.0, 0.0) is None
    True
    """
    return checked_consistency_from_moments(*_moments(count, mean, m2))


def checked_consistency_from_moments(
    count: int, mean: float, m2: float
) -> float | None:
    """:func:`consistency_from_moments` on moments already checked."""
    if count == 0 or mean == 0:
        return None
    return math.sqrt(m2 / count) / mean


def _moments(count: int, mean: float, m2: float) -> tuple[int, float, float]:
    return (
        v.count_argument("count", count),
        v.score_argument("mean", mean),
        v.ratio_argument("m2", m2),
    )
