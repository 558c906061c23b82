"""Pacing status, velocity and projected completion (spec: Pacing, D15)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    InvalidInputError,
    PacingStatus,
    Policy,
    estimated_completion_date,
    expected_percentage,
    pacing_status,
    steps_per_week,
)
from mlc_progress.testing import strategies as mst

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AHEAD, ON_TRACK, BEHIND, AT_RISK = (
    PacingStatus.AHEAD,
    PacingStatus.ON_TRACK,
    PacingStatus.BEHIND,
    PacingStatus.AT_RISK,
)
ORDER = {AT_RISK: 0, BEHIND: 1, ON_TRACK: 2, AHEAD: 3}


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


@pytest.mark.parametrize(
    ("actual", "expected", "status"),
    [
        # actual >= expected + 20 -> ahead, boundary included
        (70.0, 50.0, AHEAD),
        (100.0, 50.0, AHEAD),
        (below(70.0), 50.0, ON_TRACK),
        # actual >= expected - 10 -> on_track
        (50.0, 50.0, ON_TRACK),
        (40.0, 50.0, ON_TRACK),
        (below(40.0), 50.0, BEHIND),
        # actual >= expected - 30 -> behind
        (20.0, 50.0, BEHIND),
        (below(20.0), 50.0, AT_RISK),
        (0.0, 50.0, AT_RISK),
        # the bands at the window's ends
        (20.0, 0.0, AHEAD),
        (0.0, 0.0, ON_TRACK),
        (90.0, 100.0, ON_TRACK),
        (70.0, 100.0, BEHIND),
        (below(70.0), 100.0, AT_RISK),
        (0.0, 30.0, BEHIND),
        (0.0, 31.0, AT_RISK),
    ],
)
def test_pacing_bands_in_percentage_points_boundaries_inclusive(
    actual: float, expected: float, status: PacingStatus
) -> None:
    """The spec's +20 / -10 / -30 bands are percentage points, each boundary inclusive (D15)."""
    assert (
        pacing_status(actual_percentage=actual, expected_percentage=expected) is status
    )


@pytest.mark.parametrize("actual", [0.0, 37.5, 100.0])
def test_no_expectation_is_on_track(actual: float) -> None:
    """Without a pacing window there is no expectation and pacing is on_track (D15)."""
    assert pacing_status(actual_percentage=actual, expected_percentage=None) is ON_TRACK


def test_pacing_bands_come_from_the_policy() -> None:
    """An organization's band widths replace 20, 10 and 30 points."""
    policy = Policy(
        pacing_ahead_points=5.0, pacing_on_track_points=5.0, pacing_behind_points=15.0
    )

    def status(actual: float) -> PacingStatus:
        return pacing_status(
            actual_percentage=actual, expected_percentage=50.0, policy=policy
        )

    assert [status(x) for x in (55.0, 45.0, 35.0, below(35.0))] == [
        AHEAD,
        ON_TRACK,
        BEHIND,
        AT_RISK,
    ]


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (T0, 0.0),
        (T0 + timedelta(days=5), 50.0),
        (T0 + timedelta(days=1, hours=12), 15.0),
        (T0 + timedelta(days=10), 100.0),
        # clamped before created_at and after the due date
        (T0 - timedelta(days=3), 0.0),
        (T0 + timedelta(days=30), 100.0),
    ],
)
def test_expected_percentage_is_elapsed_over_window_clamped(
    as_of: datetime, expected: float
) -> None:
    """expected = 100 * elapsed / window, exact time, clamped to [0, 100] (D15)."""
    end = T0 + timedelta(days=10)
    assert expected_percentage(created_at=T0, window_end=end, as_of=as_of) == (
        pytest.approx(expected)
    )


def test_expected_percentage_without_window_is_none() -> None:
    """No due date and no estimated duration give no expectation (D15)."""
    assert expected_percentage(created_at=T0, window_end=None, as_of=T0) is None


@given(
    actual=st.floats(min_value=0, max_value=100),
    expected=st.none() | st.floats(min_value=0, max_value=100),
    policy=mst.policies(),
)
def test_pacing_status_is_total_on_percentages(
    actual: float, expected: float | None, policy: Policy
) -> None:
    """pacing_status returns a status for any percentages or no expectation."""
    status = pacing_status(
        actual_percentage=actual, expected_percentage=expected, policy=policy
    )
    assert status in set(PacingStatus)


@given(
    bad=st.floats(allow_nan=True).filter(lambda x: not 0 <= x <= 100),
    which=st.sampled_from(["actual_percentage", "expected_percentage"]),
)
def test_pacing_status_refuses_what_is_not_a_percentage(bad: float, which: str) -> None:
    """NaN, infinities and numbers outside [0, 100] are an InvalidInputError
    naming the argument (D10), not a status."""
    given: dict[str, Any] = {
        "actual_percentage": 50.0,
        "expected_percentage": 50.0,
        which: bad,
    }
    with pytest.raises(InvalidInputError) as caught:
        pacing_status(**given)
    assert caught.value.field == which


@given(
    actuals=st.lists(mst.scores(), min_size=2, max_size=2),
    expected=st.none() | mst.scores(),
    policy=mst.policies(),
)
def test_pacing_never_worsens_as_actual_progress_grows(
    actuals: list[float], expected: float | None, policy: Policy
) -> None:
    """With the expectation fixed, more actual progress never gives a worse band."""
    low, high = sorted(actuals)
    statuses = [
        pacing_status(actual_percentage=a, expected_percentage=expected, policy=policy)
        for a in (low, high)
    ]
    assert ORDER[statuses[0]] <= ORDER[statuses[1]]


@given(
    created=mst.utc_datetimes(),
    window_end=st.none() | mst.utc_datetimes(),
    as_of=mst.utc_datetimes(),
)
def test_expected_percentage_is_total_and_within_0_and_100(
    created: datetime, window_end: datetime | None, as_of: datetime
) -> None:
    """expected_percentage never raises on aware times and stays in [0, 100] (D15)."""
    expected = expected_percentage(
        created_at=created, window_end=window_end, as_of=as_of
    )
    assert (expected is None) == (window_end is None)
    if expected is not None:
        assert 0.0 <= expected <= 100.0


AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("completed", "rate"),
    [
        ([], 0.0),
        ([AS_OF - timedelta(days=1)], 0.25),
        ([AS_OF], 0.25),
        ([AS_OF - timedelta(days=27, hours=23)], 0.25),
        # the window is (as_of - 28 days, as_of]
        ([AS_OF - timedelta(days=28)], 0.0),
        ([AS_OF + timedelta(seconds=1)], 0.0),
        ([None, AS_OF - timedelta(days=2)], 0.25),
        ([AS_OF - timedelta(days=d) for d in (1, 3, 8, 15, 20, 27)], 1.5),
        ([AS_OF - timedelta(days=d) for d in (1, 3, 30, 60)], 0.5),
    ],
)
def test_steps_per_week_counts_the_trailing_28_days_over_4(
    completed: list[datetime | None], rate: float
) -> None:
    """steps_per_week is completions in the trailing 28 days divided by 4 (D15)."""
    assert steps_per_week(completed, as_of=AS_OF) == rate


def test_steps_per_week_window_comes_from_the_policy() -> None:
    """A 14-day velocity window divides its count by 2."""
    policy = Policy(velocity_window_days=14)
    completed = [AS_OF - timedelta(days=d) for d in (1, 10, 20)]
    assert steps_per_week(completed, as_of=AS_OF, policy=policy) == 1.0


@pytest.mark.parametrize(
    ("remaining", "rate", "completed_at", "expected"),
    [
        (3, 1.5, None, AS_OF + timedelta(weeks=2)),
        (1, 0.5, None, AS_OF + timedelta(weeks=2)),
        (1, 7.0, None, AS_OF + timedelta(days=1)),
        (3, 0.0, None, None),
        (0, 0.0, AS_OF - timedelta(days=3), AS_OF - timedelta(days=3)),
        (0, 2.0, None, AS_OF),
        (10**9, 1e-9, None, None),
    ],
)
def test_estimated_completion_projects_remaining_steps_at_the_rate(
    remaining: int,
    rate: float,
    completed_at: datetime | None,
    expected: datetime | None,
) -> None:
    """Remaining required steps at the weekly rate; None at rate 0; completed_at once done (D15)."""
    assert (
        estimated_completion_date(
            remaining_required=remaining,
            steps_per_week=rate,
            as_of=AS_OF,
            completed_at=completed_at,
        )
        == expected
    )


def test_a_velocity_window_reaching_before_year_one_is_refused() -> None:
    """A window longer than the time since year 1 is a typed error naming
    the policy field (D15), not an OverflowError."""
    from mlc_progress import InvalidInputError

    with pytest.raises(InvalidInputError) as error:
        steps_per_week([T0], as_of=T0, policy=Policy(velocity_window_days=800_000))
    assert error.value.field == "velocity_window_days"
    assert error.value.value == 800_000
