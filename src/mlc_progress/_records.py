"""The spec's progress records: frozen, keyword-only, valid by construction (D4).

Field names are the spec's. A few fields the spec does not list are kept so
that every update is O(1) in the number of earlier attempts (D5, D13, D2);
each is marked *beyond the spec* and explained in ``docs/decisions.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from . import _validate as v
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    OriginalContext,
    PacingStatus,
    ScopeType,
    SnapshotTrigger,
    StepState,
)
from ._errors import InvalidInputError

__all__ = [
    "AssignmentProgress",
    "ProgressSnapshot",
    "ReconciliationMetadata",
    "SequenceProgress",
    "StepProgress",
    "StudentProgressSummary",
]

_TIME_ORDER = "D4: a record cannot be completed or active before it started"


def _require(condition: bool, field: str, value: object, rule: str) -> None:
    if not condition:
        raise InvalidInputError(field, value, rule)


@attrs.frozen(kw_only=True)
class ReconciliationMetadata:
    """Where a free-play score that completed a step came from (D9)."""

    original_score: float = attrs.field(validator=v.score)
    original_context: OriginalContext = attrs.field(
        validator=v.enum_of(OriginalContext)
    )
    reconciled_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class StepProgress:
    """A student's progress on one step (spec: Step Progress).

    >>> from datetime import datetime, UTC
    >>> StepProgress(step_id="s1", assignment_id="a1", student_id="u1",
    ...              target_score=80.0).state
    <StepState.LOCKED: 'locked'>
    """

    step_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    state: StepState = attrs.field(
        default=StepState.LOCKED, validator=v.enum_of(StepState)
    )
    started_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    completed_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    last_activity_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    attempt_count: int = attrs.field(default=0, validator=v.count)
    best_score: float = attrs.field(default=0.0, validator=v.score)
    latest_score: float = attrs.field(default=0.0, validator=v.score)
    target_score: float = attrs.field(validator=v.target)
    passed: bool = attrs.field(default=False, validator=v.boolean)
    time_on_task_ms: int = attrs.field(default=0, validator=v.duration_ms)
    session_count: int = attrs.field(default=0, validator=v.count)
    mastery_level: MasteryLevel = attrs.field(
        default=MasteryLevel.NOT_STARTED, validator=v.enum_of(MasteryLevel)
    )
    consistency_score: float | None = attrs.field(
        default=None, validator=v.optional_ratio
    )
    completion_source: CompletionSource = attrs.field(
        default=CompletionSource.FRESH_ATTEMPT, validator=v.enum_of(CompletionSource)
    )
    reconciliation_metadata: ReconciliationMetadata | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(
            attrs.validators.instance_of(ReconciliationMetadata)
        ),
    )
    # Beyond the spec: running moments of the scores (D5, O(1) update).
    score_mean: float = attrs.field(default=0.0, validator=v.score)
    score_m2: float = attrs.field(default=0.0, validator=v.ratio)
    # Beyond the spec: the earliest and the latest attempt, so late attempts
    # keep pass rate (D13) and latest score (D2) exact without the history.
    first_attempt_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    first_score: float | None = attrs.field(default=None, validator=v.optional_score)
    latest_attempt_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    # Beyond the spec: the session of the latest activity; a new session id
    # starts a new session (session_count).
    last_session_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    # Beyond the spec: when the step was unlocked; the free-play window of D9
    # ends here.
    available_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )

    def __attrs_post_init__(self) -> None:
        complete = self.state is StepState.COMPLETE
        _require(
            complete == (self.completed_at is not None),
            "completed_at",
            self.completed_at,
            "D4: completed_at is set exactly when the state is complete",
        )
        if self.completion_source is CompletionSource.FRESH_ATTEMPT:
            # A teacher, the system or a free-play score can complete a step
            # before the student first opens it; the student's own attempt
            # cannot complete it before they started.
            v.order("completed_at", self.started_at, self.completed_at, _TIME_ORDER)
        v.order("last_activity_at", self.started_at, self.last_activity_at, _TIME_ORDER)
        if self.state is StepState.IN_PROGRESS:
            _require(
                self.started_at is not None,
                "started_at",
                None,
                "D4: an in-progress step has started_at",
            )
        if self.state is StepState.AVAILABLE:
            _require(
                self.attempt_count == 0 and self.started_at is None,
                "state",
                self.state,
                "Q74: a step with an attempt or a start is in progress or complete,"
                " not available",
            )
        if complete and self.completion_source is CompletionSource.FREE_PLAY_RECONCILED:
            _require(
                self.reconciliation_metadata is not None,
                "reconciliation_metadata",
                None,
                "D9: a step completed by free play keeps where the score came from",
            )
        if self.state is StepState.LOCKED:
            _require(
                self.attempt_count == 0 and self.started_at is None,
                "state",
                self.state,
                "D4: a locked step has no attempts and has not started",
            )
        if self.attempt_count == 0:
            _require(
                self.best_score == 0
                and self.latest_score == 0
                and self.score_mean == 0
                and self.score_m2 == 0
                and self.first_attempt_at is None
                and self.first_score is None
                and self.latest_attempt_at is None
                and self.consistency_score is None,
                "attempt_count",
                0,
                "D4: a step without attempts has no scores",
            )
            _require(
                self.mastery_level is MasteryLevel.NOT_STARTED,
                "mastery_level",
                self.mastery_level,
                "D6: a step without attempts is not_started",
            )
        else:
            _require(
                self.first_attempt_at is not None
                and self.latest_attempt_at is not None
                and self.first_score is not None
                and self.started_at is not None
                and self.last_activity_at is not None,
                "attempt_count",
                self.attempt_count,
                "D4: a step with attempts has started and has first and latest"
                " attempts",
            )
            _require(
                self.session_count >= 1,
                "session_count",
                self.session_count,
                "D4: an attempt is played in a session",
            )
            _require(
                self.best_score >= self.latest_score,
                "latest_score",
                self.latest_score,
                f"D4: latest_score is at most best_score={self.best_score!r}",
            )
            _require(
                self.first_score is not None and self.first_score <= self.best_score,
                "first_score",
                self.first_score,
                f"D4: first_score is at most best_score={self.best_score!r}",
            )
            v.order(
                "latest_attempt_at",
                self.first_attempt_at,
                self.latest_attempt_at,
                "D2: the latest attempt is not before the first",
            )
            v.order(
                "last_activity_at",
                self.latest_attempt_at,
                self.last_activity_at,
                "D2: last_activity_at is never before the latest attempt",
            )
            v.order(
                "first_attempt_at",
                self.started_at,
                self.first_attempt_at,
                "D4: started_at is the first interaction",
            )
        _require(
            self.passed == self.target_met,
            "passed",
            self.passed,
            "D7: passed is whether the best evidence meets the current target",
        )

    @property
    def target_met(self) -> bool:
        """Whether an attempt or a reconciled free-play score meets the target."""
        if self.attempt_count > 0 and self.best_score >= self.target_score:
            return True
        meta = self.reconciliation_metadata
        return meta is not None and meta.original_score >= self.target_score

    @property
    def is_complete(self) -> bool:
        return self.state is StepState.COMPLETE


@attrs.frozen(kw_only=True)
class AssignmentProgress:
    """A student's progress through one assignment (spec: Assignment Progress)."""

    assignment_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    status: AssignmentStatus = attrs.field(
        default=AssignmentStatus.NOT_STARTED, validator=v.enum_of(AssignmentStatus)
    )
    completion_percentage: float = attrs.field(default=0.0, validator=v.percentage)
    steps_total: int = attrs.field(default=0, validator=v.count)
    steps_required: int = attrs.field(default=0, validator=v.count)
    steps_completed: int = attrs.field(default=0, validator=v.count)
    steps_in_progress: int = attrs.field(default=0, validator=v.count)
    steps_locked: int = attrs.field(default=0, validator=v.count)
    started_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    completed_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    estimated_completion_date: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    time_on_task_ms: int = attrs.field(default=0, validator=v.duration_ms)
    average_score: float = attrs.field(default=0.0, validator=v.score)
    mastery_score: float = attrs.field(default=0.0, validator=v.score)
    pass_rate: float = attrs.field(default=0.0, validator=v.percentage)
    next_step_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    next_step_due_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    steps_per_week: float = attrs.field(default=0.0, validator=v.ratio)
    pacing_status: PacingStatus = attrs.field(
        default=PacingStatus.ON_TRACK, validator=v.enum_of(PacingStatus)
    )
    # Beyond the spec: this student's due date when a teacher extended it
    # (D8); ``None`` means the assignment's own due date.
    due_at_override: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )

    def __attrs_post_init__(self) -> None:
        _require(
            self.steps_completed + self.steps_in_progress + self.steps_locked
            <= self.steps_total,
            "steps_total",
            self.steps_total,
            "D4: completed + in progress + locked steps are at most steps_total"
            f" ({self.steps_completed} + {self.steps_in_progress}"
            f" + {self.steps_locked})",
        )
        _require(
            self.steps_required <= self.steps_total,
            "steps_required",
            self.steps_required,
            f"D4: required steps are at most steps_total={self.steps_total}",
        )
        v.order("completed_at", self.started_at, self.completed_at, _TIME_ORDER)
        if self.status is AssignmentStatus.COMPLETE:
            _require(
                self.completion_percentage == 100 and self.completed_at is not None,
                "status",
                self.status,
                "D14: a complete assignment is 100 percent and has completed_at",
            )
        if self.status is AssignmentStatus.NOT_STARTED:
            _require(
                self.started_at is None and self.steps_in_progress == 0,
                "status",
                self.status,
                "D14: a not_started assignment has no activity",
            )
        if self.status is AssignmentStatus.IN_PROGRESS:
            _require(
                self.completion_percentage < 100,
                "status",
                self.status,
                "D14: an assignment at 100 percent is complete, not in_progress",
            )
        _require(
            self.started_at is not None
            or (
                self.completed_at is None
                and self.status is not AssignmentStatus.COMPLETE
            ),
            "started_at",
            None,
            "D14: a completed assignment has started",
        )
        _require(
            self.completed_at is None or self.completion_percentage == 100,
            "completed_at",
            self.completed_at,
            "D14: only an assignment at 100 percent has completed_at",
        )


@attrs.frozen(kw_only=True)
class SequenceProgress:
    """A student's progress through a sequence of assignments."""

    sequence_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    completion_percentage: float = attrs.field(default=0.0, validator=v.percentage)
    assignments_total: int = attrs.field(default=0, validator=v.count)
    assignments_completed: int = attrs.field(default=0, validator=v.count)
    current_assignment_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    started_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    estimated_completion_date: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    overall_mastery_score: float = attrs.field(default=0.0, validator=v.score)
    concepts_mastered: tuple[str, ...] = attrs.field(
        default=(), validator=v.identifiers
    )
    concepts_in_progress: tuple[str, ...] = attrs.field(
        default=(), validator=v.identifiers
    )
    remediation_count: int = attrs.field(default=0, validator=v.count)
    review_compliance_rate: float = attrs.field(default=0.0, validator=v.percentage)

    def __attrs_post_init__(self) -> None:
        _require(
            self.assignments_completed <= self.assignments_total,
            "assignments_completed",
            self.assignments_completed,
            "D4: completed assignments are at most"
            f" assignments_total={self.assignments_total}",
        )
        if self.assignments_total > 0:
            expected = 100.0 * self.assignments_completed / self.assignments_total
            _require(
                abs(self.completion_percentage - expected) <= 1e-9,
                "completion_percentage",
                self.completion_percentage,
                f"D4: {self.assignments_completed} of {self.assignments_total}"
                f" assignments complete is {expected:g} percent",
            )
        _require(
            not set(self.concepts_mastered) & set(self.concepts_in_progress),
            "concepts_in_progress",
            self.concepts_in_progress,
            "D4: a concept is either mastered or in progress, not both",
        )


@attrs.frozen(kw_only=True)
class ProgressSnapshot:
    """A point-in-time copy of a progress record (spec: Progress Snapshot).

    ``state_snapshot`` is the record as JSON-ready data; ``metrics_snapshot``
    holds at least ``completion_percentage``, ``mastery_score`` and
    ``time_on_task_ms``.
    """

    snapshot_id: str = attrs.field(validator=v.identifier)
    snapshot_date: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    student_id: str = attrs.field(validator=v.identifier)
    scope_type: ScopeType = attrs.field(validator=v.enum_of(ScopeType))
    scope_id: str = attrs.field(validator=v.identifier)
    state_snapshot: Mapping[str, Any] = attrs.field(
        eq=True, hash=False, validator=v.json_ready
    )
    metrics_snapshot: Mapping[str, float] = attrs.field(hash=False)
    trigger: SnapshotTrigger = attrs.field(validator=v.enum_of(SnapshotTrigger))
    notes: str | None = attrs.field(default=None, validator=v.optional_text)

    @metrics_snapshot.validator
    def _check_metrics(self, attribute: attrs.Attribute[object], value: object) -> None:
        v.json_ready(self, attribute, value)
        assert isinstance(value, Mapping)
        for key in ("completion_percentage", "mastery_score", "time_on_task_ms"):
            _require(
                key in value,
                "metrics_snapshot",
                dict(value),
                f"spec: metrics_snapshot has {key}",
            )
        for key, number in value.items():
            _require(
                isinstance(number, int | float)
                and not isinstance(number, bool)
                and number == number
                and abs(number) != float("inf"),
                f"metrics_snapshot.{key}",
                number,
                "a metric is a finite number",
            )


@attrs.frozen(kw_only=True)
class StudentProgressSummary:
    """One student's progress across all active learning (spec summary table).

    ``last_activity_at`` is ``None`` for a student who has never been active.
    """

    student_id: str = attrs.field(validator=v.identifier)
    organization_id: str = attrs.field(validator=v.identifier)
    active_assignments: int = attrs.field(default=0, validator=v.count)
    completed_assignments: int = attrs.field(default=0, validator=v.count)
    total_time_on_task_ms: int = attrs.field(default=0, validator=v.duration_ms)
    steps_completed_this_week: int = attrs.field(default=0, validator=v.count)
    time_on_task_this_week_ms: int = attrs.field(default=0, validator=v.duration_ms)
    games_played_this_week: int = attrs.field(default=0, validator=v.count)
    overall_mastery_score: float = attrs.field(default=0.0, validator=v.score)
    concepts_mastered_count: int = attrs.field(default=0, validator=v.count)
    badges_earned: int = attrs.field(default=0, validator=v.count)
    last_activity_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    streak_days: int = attrs.field(default=0, validator=v.count)
    engagement_score: float = attrs.field(default=0.0, validator=v.percentage)
    at_risk: bool = attrs.field(default=False, validator=v.boolean)
    risk_factors: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)

    def __attrs_post_init__(self) -> None:
        _require(
            self.at_risk == bool(self.risk_factors),
            "at_risk",
            self.at_risk,
            "D17: a student is at risk exactly when some risk factor holds",
        )
        _require(
            self.time_on_task_this_week_ms <= self.total_time_on_task_ms,
            "time_on_task_this_week_ms",
            self.time_on_task_this_week_ms,
            "D4: this week's time is part of the total time",
        )


for _cls in (
    ReconciliationMetadata,
    StepProgress,
    AssignmentProgress,
    SequenceProgress,
    ProgressSnapshot,
    StudentProgressSummary,
):
    attrs.resolve_types(_cls)
