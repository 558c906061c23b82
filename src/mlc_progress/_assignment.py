"""Assignment progress from its step progress: every figure of the record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ._completion import (
    _has_activity,
    assignment_status,
    average_score,
    completion_percentage,
    next_step,
    pass_rate,
)
from ._enums import AssignmentStatus, PacingStatus, StepState
from ._errors import InvalidInputError
from ._mastery import _by_id, mastery_score
from ._pacing import (
    estimated_completion_date,
    expected_percentage,
    pacing_status,
    steps_per_week,
    utc_argument,
)
from ._policy import DEFAULT_POLICY, Policy
from ._records import AssignmentProgress, StepProgress
from ._structure import AssignmentStructure, StepDefinition

__all__ = ["assignment_progress"]


def assignment_progress(
    structure: AssignmentStructure,
    steps: Mapping[str, StepProgress] | Iterable[StepProgress],
    *,
    student_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    archived: bool = False,
    due_at_override: datetime | None = None,
) -> AssignmentProgress:
    """Compute a student's ``AssignmentProgress`` from their step records.

    Cost is linear in the number of steps and independent of the number of
    attempts: step records carry their own running aggregates. Steps without
    a record count as locked and untouched. Rules: D10 (completion), D11
    (average), D12 (mastery), D13 (pass rate), D14 (status, next step), D15
    (pacing, velocity, projection). ``due_at_override`` is the student's
    extended due date (D8); ``archived`` keeps a host's archive (D14).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g",
    ...                           stage=Stage.PLAY, target_score=80),))
    >>> now = datetime(2026, 1, 2, tzinfo=UTC)
    >>> assignment_progress(s, [], student_id="u", as_of=now).status
    <AssignmentStatus.NOT_STARTED: 'not_started'>
    """
    as_of = utc_argument("as_of", as_of)
    if due_at_override is not None:
        due_at_override = utc_argument("due_at_override", due_at_override)
    by_id = _by_id(steps)
    records = [by_id[d.step_id] for d in structure.steps if d.step_id in by_id]
    for record in records:
        if record.student_id != student_id:
            raise InvalidInputError(
                "student_id", record.student_id, f"the records are for {student_id!r}"
            )
        if record.assignment_id != structure.assignment_id:
            raise InvalidInputError(
                "assignment_id",
                record.assignment_id,
                f"the records are for {structure.assignment_id!r}",
            )

    required = 0
    required_complete = 0
    required_completed_at: list[datetime | None] = []
    completed = in_progress = 0
    # A step without a record is in its initial state: the first step is
    # available from the assignment's creation, the others are locked.
    locked = len(structure.steps) - len(records)
    if structure.steps and structure.steps[0].step_id not in by_id:
        locked -= 1
    time_on_task = 0
    any_activity = False
    first_touch: datetime | None = None
    for definition in structure.steps:
        progress = by_id.get(definition.step_id)
        if definition.required:
            required += 1
        if progress is None:
            continue
        state = progress.state
        if state is StepState.COMPLETE:
            completed += 1
            if definition.required:
                required_complete += 1
                required_completed_at.append(progress.completed_at)
        elif state is StepState.IN_PROGRESS:
            in_progress += 1
        elif state is StepState.LOCKED:
            locked += 1
        time_on_task += progress.time_on_task_ms
        if _has_activity(progress):
            any_activity = True
            for touched in (progress.started_at, progress.completed_at):
                if touched is not None and (
                    first_touch is None or touched < first_touch
                ):
                    first_touch = touched

    completion = completion_percentage(required_complete, required)
    status = assignment_status(
        completion=completion, any_activity=any_activity, archived=archived
    )
    completed_at: datetime | None = None
    if completion >= 100.0 and any_activity:
        done = [t for t in required_completed_at if t is not None]
        completed_at = max(done) if done else first_touch
    velocity = steps_per_week(required_completed_at, as_of=as_of, policy=policy)
    expected = expected_percentage(
        created_at=structure.created_at,
        window_end=structure.window_end(due_at_override),
        as_of=as_of,
    )
    pacing = (
        PacingStatus.ON_TRACK
        if status is AssignmentStatus.NOT_STARTED and expected is None
        else pacing_status(
            actual_percentage=completion, expected_percentage=expected, policy=policy
        )
    )
    upcoming = None if completion >= 100.0 else next_step(structure, by_id)
    return AssignmentProgress(
        assignment_id=structure.assignment_id,
        student_id=student_id,
        status=status,
        completion_percentage=completion,
        steps_total=len(structure.steps),
        steps_required=required,
        steps_completed=completed,
        steps_in_progress=in_progress,
        steps_locked=locked,
        started_at=first_touch if any_activity else None,
        completed_at=completed_at,
        estimated_completion_date=estimated_completion_date(
            remaining_required=required - required_complete,
            steps_per_week=velocity,
            as_of=as_of,
            completed_at=completed_at,
        )
        if any_activity
        else None,
        time_on_task_ms=time_on_task,
        average_score=average_score(records),
        mastery_score=mastery_score(structure, by_id, policy=policy),
        pass_rate=pass_rate(records),
        next_step_id=None if upcoming is None else upcoming.step_id,
        next_step_due_at=None
        if upcoming is None
        else _step_due(structure, upcoming, due_at_override),
        steps_per_week=velocity,
        pacing_status=pacing,
        due_at_override=due_at_override,
    )


def _step_due(
    structure: AssignmentStructure,
    step: StepDefinition,
    due_at_override: datetime | None,
) -> datetime | None:
    """A step's due date for this student.

    A teacher's extension (D8) moves the step's own due date by as much as it
    moved the assignment's, so intermediate deadlines keep their spacing.
    """
    if due_at_override is None:
        return step.due_at or structure.due_at
    original_end = structure.window_end()
    if step.due_at is None or original_end is None:
        return due_at_override
    return step.due_at + (due_at_override - original_end)
