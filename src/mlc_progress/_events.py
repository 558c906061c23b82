"""The spec's telemetry events, with an event id and occurred-at (D23).

Each event class carries the spec's event name in ``name`` and the spec's
property names as fields. On the wire an event is an envelope::

    {"event": "step_progress_updated", "event_id": "...",
     "occurred_at": "2026-09-01T10:00:00Z", "properties": {...}}

``destination`` says where the spec's **Event Destinations** send it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from . import _validate as v
from ._enums import (
    CompletionSource,
    MasteryLevel,
    PacingStatus,
    ScopeType,
    SnapshotTrigger,
    Stage,
    StepState,
)
from ._errors import InvalidInputError

__all__ = [
    "EVENT_TYPES",
    "AssignmentProgressMilestone",
    "Destination",
    "Event",
    "ProgressReconciled",
    "ProgressRepairFailed",
    "ProgressSnapshotCreated",
    "ReconciliationType",
    "SequenceMilestone",
    "SequenceProgressMilestone",
    "StepProgressUpdated",
    "StudentAtRiskDetected",
]


class Destination(enum.StrEnum):
    """Where an event goes (spec: Event Destinations)."""

    ANALYTICS_STREAM = "analytics_stream"
    DATA_WAREHOUSE = "data_warehouse"
    NOTIFICATION_SERVICE = "notification_service"
    MONITORING = "monitoring"


class SequenceMilestone(enum.StrEnum):
    """``sequence_progress_milestone.milestone`` (D16)."""

    STARTED = "started"
    QUARTER = "quarter"
    HALF = "half"
    THREE_QUARTERS = "three_quarters"
    COMPLETE = "complete"


class ReconciliationType(enum.StrEnum):
    """``progress_reconciled.reconciliation_type``."""

    FREE_PLAY = "free_play"
    CONTENT_CHANGE = "content_change"
    ERROR_REPAIR = "error_repair"
    MIGRATION = "migration"


_MILESTONE_SCHEMA = {"type": "string", "pattern": "^(100|[1-9][0-9]?)$"}


def _milestone(_: Any, attribute: Any, value: Any) -> None:
    """A milestone is the decimal text of a percentage in (0, 100] (D16).

    With the default policy it is one of the spec's '25', '50', '75', '100'.
    """
    if not (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and str(int(value)) == value
        and 0 < int(value) <= 100
    ):
        raise InvalidInputError(
            attribute.name, value, "D16: the text of a milestone in (0, 100]"
        )


@attrs.frozen(kw_only=True)
class StepProgressUpdated:
    """Fired when step progress is updated (never sampled)."""

    name: ClassVar[str] = "step_progress_updated"
    destination: ClassVar[Destination] = Destination.ANALYTICS_STREAM

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    step_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    previous_state: StepState = attrs.field(validator=v.enum_of(StepState))
    new_state: StepState = attrs.field(validator=v.enum_of(StepState))
    score_achieved: float = attrs.field(validator=v.score)
    target_score: float = attrs.field(validator=v.target)
    passed: bool = attrs.field(validator=v.boolean)
    attempt_count: int = attrs.field(validator=v.count)
    time_on_task_ms: int = attrs.field(validator=v.duration_ms)
    mastery_level: MasteryLevel = attrs.field(validator=v.enum_of(MasteryLevel))
    completion_source: CompletionSource = attrs.field(
        validator=v.enum_of(CompletionSource)
    )


@attrs.frozen(kw_only=True)
class AssignmentProgressMilestone:
    """Fired once per milestone crossed, in ascending order (D16)."""

    name: ClassVar[str] = "assignment_progress_milestone"
    destination: ClassVar[Destination] = Destination.ANALYTICS_STREAM

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    assignment_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    previous_percentage: float = attrs.field(validator=v.percentage)
    new_percentage: float = attrs.field(validator=v.percentage)
    milestone: str = attrs.field(
        validator=_milestone, metadata={"json_schema": _MILESTONE_SCHEMA}
    )
    time_to_milestone_ms: int = attrs.field(validator=v.duration_ms)
    steps_completed: int = attrs.field(validator=v.count)
    steps_remaining: int = attrs.field(validator=v.count)


@attrs.frozen(kw_only=True)
class SequenceProgressMilestone:
    """Fired when sequence progress reaches a major milestone (D16)."""

    name: ClassVar[str] = "sequence_progress_milestone"
    destination: ClassVar[Destination] = Destination.ANALYTICS_STREAM

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    sequence_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    milestone: SequenceMilestone = attrs.field(validator=v.enum_of(SequenceMilestone))
    assignments_completed: int = attrs.field(validator=v.count)
    overall_mastery_score: float = attrs.field(validator=v.score)
    concepts_mastered_count: int = attrs.field(validator=v.count)


@attrs.frozen(kw_only=True)
class StudentAtRiskDetected:
    """Fired when the at-risk flag or its set of factor kinds changes (D17)."""

    name: ClassVar[str] = "student_at_risk_detected"
    destination: ClassVar[Destination] = Destination.NOTIFICATION_SERVICE

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str | None = attrs.field(validator=v.optional_identifier)
    risk_factors: tuple[str, ...] = attrs.field(validator=v.identifiers)
    pacing_status: PacingStatus = attrs.field(validator=v.enum_of(PacingStatus))
    mastery_score: float = attrs.field(validator=v.score)
    days_since_activity: int = attrs.field(validator=v.count)
    intervention_recommended: str = attrs.field(validator=v.identifier)


@attrs.frozen(kw_only=True)
class ProgressSnapshotCreated:
    """Fired when a progress snapshot is created (never sampled)."""

    name: ClassVar[str] = "progress_snapshot_created"
    destination: ClassVar[Destination] = Destination.DATA_WAREHOUSE

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    snapshot_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    scope_type: ScopeType = attrs.field(validator=v.enum_of(ScopeType))
    scope_id: str = attrs.field(validator=v.identifier)
    trigger: SnapshotTrigger = attrs.field(validator=v.enum_of(SnapshotTrigger))
    completion_percentage: float = attrs.field(validator=v.percentage)
    mastery_score: float = attrs.field(validator=v.score)


@attrs.frozen(kw_only=True)
class ProgressReconciled:
    """Fired when progress reconciliation occurs."""

    name: ClassVar[str] = "progress_reconciled"
    destination: ClassVar[Destination] = Destination.ANALYTICS_STREAM

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    assignment_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    reconciliation_type: ReconciliationType = attrs.field(
        validator=v.enum_of(ReconciliationType)
    )
    steps_affected: int = attrs.field(validator=v.count)
    previous_completion_percentage: float = attrs.field(validator=v.percentage)
    new_completion_percentage: float = attrs.field(validator=v.percentage)


@attrs.frozen(kw_only=True)
class ProgressRepairFailed:
    """Beyond the spec: the support alert when a repair cannot restore the
    invariants (D18), with the diagnostic data."""

    name: ClassVar[str] = "progress_repair_failed"
    destination: ClassVar[Destination] = Destination.MONITORING

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    assignment_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    violations: tuple[str, ...] = attrs.field(validator=v.identifiers)
    diagnostics: Mapping[str, Any] = attrs.field(hash=False, validator=v.json_ready)


@attrs.frozen(kw_only=True)
class ContentDeprecated:
    """Beyond the spec: the teacher notification of deprecated content
    (spec: deprecated content rule 4), with its impact on the students.

    ``stage`` is ``None`` when the whole game is deprecated. The completion
    figures are percentages over the ``students_total`` students given;
    ``students_affected`` counts those whose completion changed, and
    ``students_with_scores`` those who have scores on the deprecated steps,
    which are kept (rule 5).
    """

    name: ClassVar[str] = "content_deprecated"
    destination: ClassVar[Destination] = Destination.NOTIFICATION_SERVICE

    event_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_ids: tuple[str, ...] = attrs.field(validator=v.identifiers)
    element_id: str = attrs.field(validator=v.identifier)
    stage: Stage | None = attrs.field(
        validator=attrs.validators.optional(v.enum_of(Stage))
    )
    replaced_by_game_id: str | None = attrs.field(validator=v.optional_identifier)
    replacement_offered: bool = attrs.field(validator=v.boolean)
    students_total: int = attrs.field(validator=v.count)
    students_affected: int = attrs.field(validator=v.count)
    students_with_scores: int = attrs.field(validator=v.count)
    average_completion_before: float = attrs.field(validator=v.percentage)
    average_completion_after: float = attrs.field(validator=v.percentage)
    largest_completion_drop: float = attrs.field(validator=v.percentage)


Event = (
    StepProgressUpdated
    | AssignmentProgressMilestone
    | SequenceProgressMilestone
    | StudentAtRiskDetected
    | ProgressSnapshotCreated
    | ProgressReconciled
    | ProgressRepairFailed
    | ContentDeprecated
)

#: Every event class by its spec name.
EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.name: cls
    for cls in (
        StepProgressUpdated,
        AssignmentProgressMilestone,
        SequenceProgressMilestone,
        StudentAtRiskDetected,
        ProgressSnapshotCreated,
        ProgressReconciled,
        ProgressRepairFailed,
        ContentDeprecated,
    )
}

for _cls in EVENT_TYPES.values():
    attrs.resolve_types(_cls)
