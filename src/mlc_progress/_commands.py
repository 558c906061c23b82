"""Commands: what can happen to a student's progress, as frozen records.

Every command carries an id (D3) and a time; a person's command carries the
actor and a reason (D8). An :class:`~mlc_progress.Attempt` is itself a
command, identified by its ``attempt_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from . import _validate as v
from ._enums import OriginalContext, Stage
from ._errors import InvalidInputError
from ._structure import Attempt

__all__ = [
    "AdjustTarget",
    "ArchiveAssignment",
    "AuditEntry",
    "Command",
    "ExtendDueDate",
    "OverrideComplete",
    "ReconcileFreePlay",
    "RequestTeacherReview",
    "StartStep",
    "command_id_of",
]


@attrs.frozen(kw_only=True)
class StartStep:
    """A student begins a step (spec trigger: Step started)."""

    command_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)
    started_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    session_id: str = attrs.field(validator=v.identifier)


@attrs.frozen(kw_only=True)
class OverrideComplete:
    """A teacher marks a step complete (D7 rule 2, D8)."""

    command_id: str = attrs.field(validator=v.identifier)
    actor_id: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class AdjustTarget:
    """A teacher changes a student's target score on a step (D8)."""

    command_id: str = attrs.field(validator=v.identifier)
    actor_id: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)
    target_score: float = attrs.field(validator=v.target)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class ExtendDueDate:
    """A teacher extends a student's due date for an assignment (D8)."""

    command_id: str = attrs.field(validator=v.identifier)
    actor_id: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    due_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class ReconcileFreePlay:
    """The system found a free-play score for a step's game and stage (D9)."""

    command_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)
    element_id: str = attrs.field(validator=v.identifier)
    stage: Stage = attrs.field(validator=v.enum_of(Stage))
    score: float = attrs.field(validator=v.score)
    achieved_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    original_context: OriginalContext = attrs.field(
        validator=v.enum_of(OriginalContext)
    )
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class ArchiveAssignment:
    """The host archives a student's assignment (D14)."""

    command_id: str = attrs.field(validator=v.identifier)
    actor_id: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class RequestTeacherReview:
    """A teacher views a student's detailed progress report: a snapshot
    with trigger ``manual`` (spec: Automatic Snapshot Triggers)."""

    command_id: str = attrs.field(validator=v.identifier)
    actor_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


Command = (
    Attempt
    | StartStep
    | OverrideComplete
    | AdjustTarget
    | ExtendDueDate
    | ReconcileFreePlay
    | ArchiveAssignment
    | RequestTeacherReview
)


def command_id_of(command: Command) -> str:
    """The id that makes ``command`` exactly-once (D3): an attempt's
    ``attempt_id``, any other command's ``command_id``.

    >>> from datetime import datetime, UTC
    >>> command_id_of(RequestTeacherReview(
    ...     command_id="c-7", actor_id="t", student_id="u", assignment_id="a",
    ...     issued_at=datetime(2026, 9, 1, tzinfo=UTC)))
    'c-7'
    """
    if isinstance(command, Attempt):
        return command.attempt_id
    if not isinstance(command, _COMMAND_CLASSES):
        raise InvalidInputError(
            "command",
            command,
            "an Attempt, StartStep, OverrideComplete, AdjustTarget, ExtendDueDate,"
            " ReconcileFreePlay, ArchiveAssignment or RequestTeacherReview",
        )
    return command.command_id


_COMMAND_CLASSES = (
    StartStep,
    OverrideComplete,
    AdjustTarget,
    ExtendDueDate,
    ReconcileFreePlay,
    ArchiveAssignment,
    RequestTeacherReview,
)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """Who did what, when and why, with the records before and after (D8, D19).

    ``before`` and ``after`` are JSON-ready copies of the changed records.
    """

    audit_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    actor_id: str = attrs.field(validator=v.identifier)
    action: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)
    command_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    before: Mapping[str, Any] = attrs.field(
        factory=dict, hash=False, validator=v.json_ready
    )
    after: Mapping[str, Any] = attrs.field(
        factory=dict, hash=False, validator=v.json_ready
    )


for _cls in (
    StartStep,
    OverrideComplete,
    AdjustTarget,
    ExtendDueDate,
    ReconcileFreePlay,
    ArchiveAssignment,
    RequestTeacherReview,
    AuditEntry,
):
    attrs.resolve_types(_cls)
