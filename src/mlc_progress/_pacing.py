"""Pacing status, velocity and projected completion (spec: Pacing, D15)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from . import _validate as v
from ._enums import PacingStatus
from ._errors import InvalidInputError
from ._policy import DEFAULT_POLICY, Policy, check_policy

__all__ = [
    "estimated_completion_date",
    "expected_percentage",
    "pacing_status",
    "steps_per_week",
]


def expected_percentage(
    *, created_at: datetime, window_end: datetime | None, as_of: datetime
) -> float | None:
    """``100 * elapsed / window``, exact time, clamped to [0, 100] (D15).

    ``None`` when there is no window (no due date and no estimated duration).

    >>> from datetime import datetime, UTC
    >>> expected_percentage(created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     window_end=datetime(2026, 1, 11, tzinfo=UTC),
    ...     as_of=datetime(2026, 1, 6, tzinfo=UTC))
    50.0
    """
    created_at = utc_argument("created_at", created_at)
    as_of = utc_argument("as_of", as_of)
    if window_end is None:
        return None
    window_end = utc_argument("window_end", window_end)
    window = (window_end - created_at).total_seconds()
    if window <= 0:
        return 100.0
    elapsed = (as_of - created_at).total_seconds()
    return min(max(100.0 * elapsed / window, 0.0), 100.0)


def utc_argument(field: str, value: datetime) -> datetime:
    """``value`` in UTC; a naive or non-datetime argument raises (D2).

    Without this a naive ``as_of`` fails deep inside with a ``TypeError``.
    """
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value  # the common case, on the hot path
    normalized = v.to_utc(value)
    v.check_time_value(field, normalized)
    return normalized


def pacing_status(
    *,
    actual_percentage: float,
    expected_percentage: float | None,
    policy: Policy = DEFAULT_POLICY,
) -> PacingStatus:
    """The spec's bands, in percentage points, boundaries inclusive (D15).

    No expectation gives ``on_track``.

    >>> pacing_status(actual_percentage=70.0, expected_percentage=50.0)
    <PacingStatus.AHEAD: 'ahead'>
    >>> pacing_status(actual_percentage=40.0, expected_percentage=50.0)
    <PacingStatus.ON_TRACK: 'on_track'>
    >>> pacing_status(actual_percentage=20.0, expected_percentage=50.0)
    <PacingStatus.BEHIND: 'behind'>
    >>> pacing_status(actual_percentage=19.9, expected_percentage=50.0)
    <PacingStatus.AT_RISK: 'at_risk'>
    """
    check_policy(policy)
    return checked_pacing_status(
        v.percentage_argument("actual_percentage", actual_percentage),
        None
        if expected_percentage is None
        else v.percentage_argument("expected_percentage", expected_percentage),
        policy,
    )


def checked_pacing_status(
    actual_percentage: float, expected_percentage: float | None, policy: Policy
) -> PacingStatus:
    """:func:`pacing_status` on percentages already checked (the fold's)."""
    if expected_percentage is None:
        return PacingStatus.ON_TRACK
    if actual_percentage >= expected_percentage + policy.pacing_ahead_points:
        return PacingStatus.AHEAD
    if actual_percentage >= expected_percentage - policy.pacing_on_track_points:
        return PacingStatus.ON_TRACK
    if actual_percentage >= expected_percentage - policy.pacing_behind_points:
        return PacingStatus.BEHIND
    return PacingStatus.AT_RISK


def steps_per_week(
    completed_at: Iterable[datetime | None],
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> float:
    """Required steps completed in the trailing window, per week (D15).

    The window is ``(as_of - velocity_window_days, as_of]``; with the default
    28 days the count is divided by 4.

    >>> from datetime import datetime, UTC
    >>> now = datetime(2026, 3, 1, tzinfo=UTC)
    >>> steps_per_week([datetime(2026, 2, 20, tzinfo=UTC)] * 6, as_of=now)
    1.5
    """
    as_of = utc_argument("as_of", as_of)
    check_policy(policy)
    given: object = completed_at
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise InvalidInputError(
            "completed_at", completed_at, "an iterable of datetimes or None"
        )
    times = [
        None if t is None else utc_argument("completed_at", t) for t in completed_at
    ]
    return checked_steps_per_week(times, as_of, policy)


def checked_steps_per_week(
    completed_at: Iterable[datetime | None], as_of: datetime, policy: Policy
) -> float:
    """:func:`steps_per_week` on UTC times already checked (the fold's)."""
    try:
        start = as_of - policy.velocity_window
    except OverflowError:
        raise InvalidInputError(
            "velocity_window_days",
            policy.velocity_window_days,
            f"D15: the velocity window reaches before year 1 from {as_of.isoformat()}",
        ) from None
    n = len([t for t in completed_at if t is not None and start < t <= as_of])
    return n / (policy.velocity_window_days / 7)


def estimated_completion_date(
    *,
    remaining_required: int,
    steps_per_week: float,
    as_of: datetime,
    completed_at: datetime | None = None,
) -> datetime | None:
    """Project the remaining required steps at the current rate (D15).

    ``completed_at`` once complete; ``None`` when the rate is 0.

    >>> from datetime import datetime, UTC
    >>> estimated_completion_date(remaining_required=3, steps_per_week=1.5,
    ...     as_of=datetime(2026, 3, 1, tzinfo=UTC))
    datetime.datetime(2026, 3, 15, 0, 0, tzinfo=datetime.timezone.utc)
    """
    as_of = utc_argument("as_of", as_of)
    if completed_at is not None:
        completed_at = utc_argument("completed_at", completed_at)
    return checked_estimated_completion_date(
        v.count_argument("remaining_required", remaining_required),
        v.ratio_argument("steps_per_week", steps_per_week),
        as_of,
        completed_at,
    )


def checked_estimated_completion_date(
    remaining_required: int,
    steps_per_week: float,
    as_of: datetime,
    completed_at: datetime | None,
) -> datetime | None:
    """:func:`estimated_completion_date` on values already checked."""
    if remaining_required <= 0:
        return completed_at if completed_at is not None else as_of
    if steps_per_week <= 0:
        return None
    try:
        return as_of + timedelta(weeks=remaining_required / steps_per_week)
    except OverflowError:
        return None
