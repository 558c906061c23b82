"""Consistency score: pstdev / mean, two-pass and running (spec, D5)."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import add_score, consistency_from_moments, consistency_score
from mlc_progress.testing import strategies as mst

# Scores for the agreement laws: 0, or at least 1e-100. Below about 1e-154 the
# squared deviations underflow into subnormals and both formulas lose accuracy
# (for [1e-300, 0.0] both give 0.0 where the exact value is 1.0; for
# [5e-324, 0.0] the two-pass mean rounds to 0 and gives None while the running
# mean gives 0.0). See docs/decisions.md. With scores this large the underflow
# error in the result is below 1e-50, far inside the tolerance.
agreeing_scores = st.just(0.0) | mst.scores(min_value=1e-100)
score_lists = st.lists(agreeing_scores, max_size=30)


def _running(scores: list[float]) -> float | None:
    count, mean, m2 = 0, 0.0, 0.0
    for score in scores:
        mean, m2 = add_score(count, mean, m2, score)
        count += 1
    return consistency_from_moments(count, mean, m2)


def _close(a: float, b: float) -> bool:
    # Welford's update has relative error about n * eps * kappa in m2, which is
    # an absolute error of about n * eps * sqrt(1 + cv**2) in cv: relative for
    # large cv, absolute (the floor) for cv near 0. With n <= 30 that is below
    # 1e-13; 1e-9 leaves a wide margin and still catches any formula error.
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([80.0, 80.0], 0.0),
        ([60.0, 100.0], 0.25),
        ([0.0, 100.0], 1.0),
        ([90.0], 0.0),
        ([70.0, 80.0, 90.0], math.sqrt(200 / 3) / 80),
        ([50.0, 50.0, 50.0, 100.0], math.sqrt(468.75) / 62.5),
        ([0.0, 0.0, 0.0, 100.0], math.sqrt(3)),
    ],
)
def test_consistency_score_examples(scores: list[float], expected: float) -> None:
    """The consistency score is the population standard deviation over the mean (D5)."""
    assert consistency_score(scores) == pytest.approx(expected, rel=1e-12)
    assert consistency_score(scores) == pytest.approx(
        statistics.pstdev(scores) / statistics.fmean(scores), rel=1e-12
    )


@pytest.mark.parametrize(
    "scores",
    [[], [0.0], [0.0, 0.0, 0.0]],
)
def test_no_attempts_or_zero_mean_gives_none(scores: list[float]) -> None:
    """No scores, or a mean of 0 (a single 0 included), give None (D5)."""
    assert consistency_score(scores) is None
    assert _running(scores) is None


def test_one_attempt_gives_zero() -> None:
    """A single positive score gives a consistency score of 0.0 (D5)."""
    assert consistency_score([42.0]) == 0.0
    assert _running([42.0]) == 0.0


@pytest.mark.parametrize(
    ("count", "mean", "m2", "score", "expected"),
    [
        (0, 0.0, 0.0, 60.0, (60.0, 0.0)),
        (1, 60.0, 0.0, 100.0, (80.0, 800.0)),
        (2, 80.0, 800.0, 80.0, (80.0, 800.0)),
        (1, 100.0, 0.0, 0.0, (50.0, 5000.0)),
    ],
)
def test_add_score_is_welfords_update(
    count: int,
    mean: float,
    m2: float,
    score: float,
    expected: tuple[float, float],
) -> None:
    """add_score updates the running mean and sum of squared deviations by one score."""
    assert add_score(count, mean, m2, score) == expected


def test_consistency_from_moments_without_scores_is_none() -> None:
    """No scores, or a running mean of 0, give None from the moments."""
    assert consistency_from_moments(0, 0.0, 0.0) is None
    assert consistency_from_moments(3, 0.0, 0.0) is None
    assert consistency_from_moments(2, 80.0, 800.0) == 0.25


@given(score_lists)
def test_running_consistency_equals_two_pass(scores: list[float]) -> None:
    """The O(1) running update gives the two-pass consistency score (D5)."""
    two_pass = consistency_score(scores)
    running = _running(scores)
    if two_pass is None:
        assert running is None
    else:
        assert running is not None
        assert _close(running, two_pass)


@given(st.lists(mst.scores(), max_size=30))
def test_running_moments_stay_valid_for_records(scores: list[float]) -> None:
    """The running mean stays in [0, 100] and the squared deviations non-negative."""
    mean, m2 = 0.0, 0.0
    for count, score in enumerate(scores):
        mean, m2 = add_score(count, mean, m2, score)
        assert 0.0 <= mean <= 100.0
        assert 0.0 <= m2 < math.inf


@given(st.lists(agreeing_scores, min_size=1, max_size=30))
def test_running_m2_is_n_times_population_variance(scores: list[float]) -> None:
    """The running m2 equals n times the population variance of the scores."""
    mean, m2 = 0.0, 0.0
    for count, score in enumerate(scores):
        mean, m2 = add_score(count, mean, m2, score)
    exact = statistics.pvariance(scores) * len(scores)
    assert math.isclose(m2, exact, rel_tol=1e-9, abs_tol=1e-9)


@given(score_lists, st.randoms(use_true_random=False))
def test_consistency_ignores_attempt_order(
    scores: list[float], rnd: random.Random
) -> None:
    """Reordering the attempts does not change the consistency score."""
    shuffled = list(scores)
    rnd.shuffle(shuffled)
    a, b = consistency_score(scores), consistency_score(shuffled)
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert _close(a, b)


@given(st.lists(agreeing_scores, min_size=1, max_size=30))
def test_consistency_is_bounded_by_sqrt_of_n_minus_one(scores: list[float]) -> None:
    """For non-negative scores the consistency score lies in [0, sqrt(n - 1)]."""
    cv = consistency_score(scores)
    if cv is not None:
        assert 0.0 <= cv <= math.sqrt(len(scores) - 1) + 1e-9
