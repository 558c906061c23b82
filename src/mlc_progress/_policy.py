"""Every threshold and weight of the spec and the decisions, in one object.

An organization overrides any of them (the spec's first open question);
the defaults are the numbers of the spec and of ``decisions.md``.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from . import _validate as v
from ._enums import Stage
from ._errors import InvalidInputError

__all__ = [
    "DEFAULT_POLICY",
    "Policy",
    "RollupPolicy",
    "SchedulePolicy",
    "StageWeights",
    "ViewPolicy",
]


def _positive(_: Any, attribute: Any, value: Any) -> None:
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and v.finite(value)
        and value > 0
    ):
        raise InvalidInputError(
            attribute.name, value, "policy: a positive finite number"
        )


def _non_negative(_: Any, attribute: Any, value: Any) -> None:
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and v.finite(value)
        and value >= 0
    ):
        raise InvalidInputError(
            attribute.name, value, "policy: a non-negative finite number"
        )


def _fraction(_: Any, attribute: Any, value: Any) -> None:
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and v.finite(value)
        and 0 <= value <= 1
    ):
        raise InvalidInputError(attribute.name, value, "policy: a number in [0, 1]")


def _whole(_: Any, attribute: Any, value: Any) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise InvalidInputError(attribute.name, value, "policy: a positive integer")


def _fits_timedelta(unit: str) -> Any:
    """A duration in ``unit`` that a ``timedelta`` can hold (D2), so the
    policy's own duration properties exist; runs after the number check."""
    rule = f"policy: a duration in {unit} within timedelta's range"

    def check(_: Any, attribute: Any, value: Any) -> None:
        try:
            timedelta(**{unit: value})
        except (OverflowError, ValueError):
            raise InvalidInputError(attribute.name, value, rule) from None

    return check


def _between(low: int, high: int, rule: str | None = None) -> Any:
    """An integer in ``[low, high]``."""
    message = rule or f"policy: an integer in [{low}, {high}]"

    def check(_: Any, attribute: Any, value: Any) -> None:
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not (whole and low <= value <= high):
            raise InvalidInputError(attribute.name, value, message)

    return check


#: Stage weights are relative importances (D12): kept in a range where a
#: weighted mean cannot underflow or overflow (a weight of 5e-324 did).
WEIGHT_RANGE = (1e-6, 1e6)


def _weight(_: Any, attribute: Any, value: Any) -> None:
    low, high = WEIGHT_RANGE
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and v.finite(value)
        and low <= value <= high
    ):
        raise InvalidInputError(
            attribute.name,
            value,
            f"D12: a stage weight is a number in [{low:g}, {high:g}]",
        )


@attrs.frozen(kw_only=True)
class StageWeights:
    """``step_mastery_weight`` by stage (spec: Assignment Mastery Score, D12)."""

    LEARN: float = attrs.field(default=0.5, validator=_weight)
    PLAY: float = attrs.field(default=1.0, validator=_weight)
    QUIZ: float = attrs.field(default=2.0, validator=_weight)
    CHALLENGE: float = attrs.field(default=1.5, validator=_weight)
    REVIEW: float = attrs.field(default=1.0, validator=_weight)

    def weight(self, stage: Stage) -> float:
        """The weight of ``stage``.

        >>> StageWeights().weight(Stage.QUIZ)
        2.0
        """
        w: float = getattr(self, stage.value)
        return w


@attrs.frozen(kw_only=True)
class RollupPolicy:
    """The batch composites' thresholds and weights, the section ``rollups``
    of :class:`Policy` (decisions: engagement score, badges, active users,
    streak persistence, distributions, trends).

    >>> RollupPolicy().engagement_recency_weight
    0.4
    """

    engagement_recency_weight: float = attrs.field(default=0.40, validator=_fraction)
    engagement_frequency_weight: float = attrs.field(default=0.35, validator=_fraction)
    engagement_time_weight: float = attrs.field(default=0.25, validator=_fraction)
    engagement_recency_days: int = attrs.field(default=14, validator=_whole)
    engagement_target_active_days: int = attrs.field(default=5, validator=_whole)
    engagement_target_minutes: int = attrs.field(default=120, validator=_whole)
    badge_mastery_min: float = attrs.field(default=80.0, validator=_non_negative)
    # A student with activity in this many trailing days is an active user.
    active_user_days: int = attrs.field(default=7, validator=_between(1, 366))
    streak_persistence_days: int = attrs.field(default=3, validator=_whole)
    distribution_bucket_points: int = attrs.field(default=10, validator=_whole)
    trend_metrics: tuple[str, ...] = attrs.field(
        default=("completion_percentage", "mastery_score", "engagement_score"),
        validator=v.identifiers,
    )

    def __attrs_post_init__(self) -> None:
        weights = (
            self.engagement_recency_weight
            + self.engagement_frequency_weight
            + self.engagement_time_weight
        )
        if abs(weights - 1.0) > 1e-9:
            raise InvalidInputError(
                "engagement_recency_weight",
                weights,
                "decisions: the three engagement weights add up to 1",
            )
        if self.engagement_target_active_days > 7:
            raise InvalidInputError(
                "engagement_target_active_days",
                self.engagement_target_active_days,
                "decisions: at most the 7 days of a week",
            )
        if 100 % self.distribution_bucket_points:
            raise InvalidInputError(
                "distribution_bucket_points",
                self.distribution_bucket_points,
                "decisions: a bucket width divides 100",
            )


@attrs.frozen(kw_only=True)
class SchedulePolicy:
    """The clock times of D21, the section ``schedule`` of :class:`Policy`:
    the daily snapshot hour and the weekly rollup weekday (Monday 0 ..
    Sunday 6), both in UTC. The jobs' intervals are :class:`Policy` fields.

    >>> SchedulePolicy().weekly_rollup_weekday
    6
    """

    snapshot_hour_utc: int = attrs.field(
        default=0, validator=_between(0, 23, "D21: an hour in 0..23 (UTC)")
    )
    weekly_rollup_weekday: int = attrs.field(
        default=6, validator=_between(0, 6, "D21: a weekday in 0..6, Monday is 0")
    )


@attrs.frozen(kw_only=True)
class ViewPolicy:
    """The role views' thresholds, the section ``views`` of :class:`Policy`.

    ``recent_activities``: how many activities the dashboard lists (the spec
    says 5-10). ``struggle_low_score_min_attempts``: a step is flagged for
    low scores only after this many attempts.

    >>> ViewPolicy().recent_activities
    10
    """

    recent_activities: int = attrs.field(
        default=10, validator=_between(5, 10, "views: an integer in [5, 10]")
    )
    struggle_low_score_min_attempts: int = attrs.field(
        default=2, validator=_between(1, 1000, "views: an integer in [1, 1000]")
    )


@attrs.frozen(kw_only=True)
class Policy:
    """Thresholds and weights; every field has the spec's default.

    The batch composites, the batch clock and the views have sections of
    their own: ``rollups``, ``schedule`` and ``views`` (TOML tables).

    >>> Policy().mastery_consistency_threshold
    0.15
    >>> Policy.from_dict({"learning_ratio": 0.6}).learning_ratio
    0.6
    >>> Policy.from_dict({"views": {"recent_activities": 5}}).views.recent_activities
    5
    """

    # Mastery (D6)
    learning_ratio: float = attrs.field(default=0.7, validator=_fraction)
    mastery_consistency_threshold: float = attrs.field(
        default=0.15, validator=_non_negative
    )
    # Assignment mastery score (D12)
    stage_weights: StageWeights = attrs.field(factory=StageWeights)
    # Pacing bands in percentage points (D15)
    pacing_ahead_points: float = attrs.field(default=20.0, validator=_non_negative)
    pacing_on_track_points: float = attrs.field(default=10.0, validator=_non_negative)
    pacing_behind_points: float = attrs.field(default=30.0, validator=_non_negative)
    # Velocity (D15): steps_per_week = completed in the window / (days / 7)
    velocity_window_days: int = attrs.field(
        default=28, validator=[_whole, _fits_timedelta("days")]
    )
    # Time (D2) and free play (D9)
    max_clock_skew_seconds: float = attrs.field(
        default=300.0, validator=[_non_negative, _fits_timedelta("seconds")]
    )
    free_play_window_days: int = attrs.field(
        default=30, validator=[_whole, _fits_timedelta("days")]
    )
    # Milestones (D16), in ascending percentages
    milestones: tuple[int, ...] = attrs.field(default=(25, 50, 75, 100))
    # At-risk detection (D17)
    risk_behind_pace_points: float = attrs.field(default=30.0, validator=_non_negative)
    risk_low_mastery_below: float = attrs.field(default=60.0, validator=_non_negative)
    risk_mastery_recent_steps: int = attrs.field(default=5, validator=_whole)
    risk_inactive_days: int = attrs.field(default=7, validator=_whole)
    risk_stuck_attempts_over: int = attrs.field(default=5, validator=_whole)
    risk_inconsistent_min_attempts: int = attrs.field(default=3, validator=_whole)
    risk_inconsistent_cv: float = attrs.field(default=0.5, validator=_non_negative)
    # Telemetry (D23)
    metrics_sample_rate: float = attrs.field(default=0.1, validator=_fraction)
    # Batch schedule (D21), in minutes
    student_summary_active_minutes: int = attrs.field(default=5, validator=_whole)
    student_summary_inactive_minutes: int = attrs.field(default=60, validator=_whole)
    student_active_window_hours: int = attrs.field(default=24, validator=_whole)
    class_summary_minutes: int = attrs.field(default=15, validator=_whole)
    organization_dashboard_minutes: int = attrs.field(default=60, validator=_whole)
    # Snapshot retention (D22), calendar units
    step_snapshot_retention_days: int = attrs.field(
        default=90, validator=[_whole, _fits_timedelta("days")]
    )
    assignment_snapshot_retention_years: int = attrs.field(default=1, validator=_whole)
    sequence_snapshot_retention_years: int = attrs.field(default=3, validator=_whole)
    student_snapshot_thinning_years: int = attrs.field(default=1, validator=_whole)
    # Sections: batch composites, batch clock times, role views
    rollups: RollupPolicy = attrs.field(factory=RollupPolicy)
    schedule: SchedulePolicy = attrs.field(factory=SchedulePolicy)
    views: ViewPolicy = attrs.field(factory=ViewPolicy)

    @milestones.validator
    def _check_milestones(
        self, attribute: attrs.Attribute[object], value: object
    ) -> None:
        ok = (
            isinstance(value, tuple)
            and len(value) > 0
            and all(
                isinstance(m, int) and not isinstance(m, bool) and 0 < m <= 100
                for m in value
            )
            and list(value) == sorted(set(value))
        )
        if not ok:
            raise InvalidInputError(
                "milestones", value, "D16: ascending distinct integers in (0, 100]"
            )

    def __attrs_post_init__(self) -> None:
        if not (self.pacing_on_track_points <= self.pacing_behind_points):
            raise InvalidInputError(
                "pacing_behind_points",
                self.pacing_behind_points,
                "D15: the behind band lies below the on-track band",
            )

    @functools.cached_property
    def max_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.max_clock_skew_seconds)

    @functools.cached_property
    def velocity_window(self) -> timedelta:
        return timedelta(days=self.velocity_window_days)

    @functools.cached_property
    def free_play_window(self) -> timedelta:
        return timedelta(days=self.free_play_window_days)

    # Loading ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Build a policy from plain data; unknown keys and bad values raise.

        Missing keys keep their defaults. Raises :class:`InvalidInputError`.
        """
        from ._serialization import structure

        return structure(data, cls)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """Build a policy from a JSON object; raises :class:`InvalidInputError`
        for anything else (text that is not JSON, nested too deep, an integer
        past Python's digit limit, a value that is not text)."""
        if not isinstance(text, str | bytes | bytearray):
            raise InvalidInputError("policy", text, "JSON text")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # ValueError: JSONDecodeError, an overlong integer, bytes not UTF-8.
            raise InvalidInputError(
                "policy", text[:80], f"valid JSON ({exc})"
            ) from None
        try:
            return cls.from_dict(data)
        except RecursionError:
            raise InvalidInputError(
                "policy", text[:80], "JSON nested too deep"
            ) from None

    @classmethod
    def from_toml(cls, source: str | Path) -> Policy:
        """Build a policy from TOML text, or from a ``Path`` to a UTF-8 TOML
        file; raises :class:`InvalidInputError` for anything else."""
        if isinstance(source, Path):
            try:
                text = source.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    "policy", str(source), f"a TOML file is UTF-8 text ({exc})"
                ) from None
        else:
            text = source
        if not isinstance(text, str):
            raise InvalidInputError("policy", text, "TOML text")
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
            raise InvalidInputError(
                "policy", text[:80], f"valid TOML ({exc})"
            ) from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal policy."""
        from ._serialization import unstructure

        result: dict[str, Any] = unstructure(self)
        return result


def check_policy(policy: object) -> None:
    """Refuse, naming the argument, what is not a :class:`Policy`."""
    if not isinstance(policy, Policy):
        raise InvalidInputError("policy", policy, "a Policy")


DEFAULT_POLICY = Policy()

for _cls in (StageWeights, RollupPolicy, SchedulePolicy, ViewPolicy, Policy):
    attrs.resolve_types(_cls)
