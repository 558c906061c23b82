"""Step completion (D7) and the assignment figures built on it (D10, D11, D13, D14)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._enums import AssignmentStatus, CompletionSource, StepState
from ._errors import InvalidInputError
from ._mastery import _by_id, record_at
from ._records import StepProgress
from ._structure import AssignmentStructure, StepDefinition
from ._validate import (
    count_argument,
    flag_argument,
    instances,
    percentage_argument,
)

__all__ = [
    "assignment_status",
    "average_score",
    "completion_percentage",
    "completion_source_for",
    "next_step",
    "pass_rate",
]


def completion_source_for(
    step: StepProgress, *, optional: bool = False, moved_past: bool = False
) -> CompletionSource | None:
    """How ``step`` is complete by the spec's rules, or ``None`` if it is not (D7).

    Rule 1: ``best_score >= target_score`` after an attempt gives
    ``fresh_attempt``; rule 3: a reconciled free-play score meeting the target
    gives ``free_play_reconciled``; rule 4: an optional step the student has
    moved past gives ``fresh_attempt`` (the student's own progression). Rule 2,
    a teacher's override, is a command, not a property of the record.
    Completion is monotone: a complete step keeps its source.

    >>> s = StepProgress(step_id="s", assignment_id="a", student_id="u",
    ...                  target_score=80)
    >>> completion_source_for(s) is None
    True
    >>> completion_source_for(s, optional=True, moved_past=True)
    <CompletionSource.FRESH_ATTEMPT: 'fresh_attempt'>
    """
    if not isinstance(step, StepProgress):
        raise InvalidInputError("step", step, "a StepProgress record")
    optional = flag_argument("optional", optional)
    moved_past = flag_argument("moved_past", moved_past)
    if step.state is StepState.COMPLETE:
        return step.completion_source
    if step.attempt_count > 0 and step.best_score >= step.target_score:
        return CompletionSource.FRESH_ATTEMPT
    meta = step.reconciliation_metadata
    if meta is not None and meta.original_score >= step.target_score:
        return CompletionSource.FREE_PLAY_RECONCILED
    if optional and moved_past:
        return CompletionSource.FRESH_ATTEMPT
    return None


def completion_percentage(required_complete: int, required: int) -> float:
    """``100 * required_complete / required``; 100.0 with no required steps (D10).

    >>> completion_percentage(3, 8)
    37.5
    >>> completion_percentage(0, 0)
    100.0
    """
    required_complete = count_argument("required_complete", required_complete)
    required = count_argument("required", required)
    if required_complete > required:
        raise InvalidInputError(
            "required_complete",
            required_complete,
            f"D10: at most the required steps ({required})",
        )
    return checked_completion_percentage(required_complete, required)


def checked_completion_percentage(required_complete: int, required: int) -> float:
    """:func:`completion_percentage` on counts already checked (the fold's)."""
    if required <= 0:
        return 100.0
    return min(max(100.0 * required_complete / required, 0.0), 100.0)


def _records(steps: Iterable[StepProgress]) -> tuple[StepProgress, ...]:
    """``steps`` as a tuple, each a ``StepProgress`` (Q156)."""
    return instances("steps", steps, StepProgress, "StepProgress records")


def average_score(steps: Iterable[StepProgress]) -> float:
    """Mean ``best_score`` over completed steps with attempts; 0.0 if none (D11).

    >>> average_score([])
    0.0
    """
    total = 0.0
    n = 0
    for s in _records(steps):
        if s.state is StepState.COMPLETE and s.attempt_count > 0:
            total += s.best_score
            n += 1
    return min(total / n, 100.0) if n else 0.0


def pass_rate(steps: Iterable[StepProgress]) -> float:
    """Percent of attempted steps whose first attempt met the target (D13).

    The first attempt is the earliest by timestamp; it is judged against the
    step's current target. 0.0 when no step has an attempt.

    >>> pass_rate([])
    0.0
    """
    attempted = 0
    first_pass = 0
    for s in _records(steps):
        if s.attempt_count > 0 and s.first_score is not None:
            attempted += 1
            if s.first_score >= s.target_score:
                first_pass += 1
    return 100.0 * first_pass / attempted if attempted else 0.0


def assignment_status(
    *, completion: float, any_activity: bool, archived: bool = False
) -> AssignmentStatus:
    """``archived`` when the host archived it; ``not_started`` before any
    activity; ``complete`` at 100; otherwise ``in_progress`` (D14).

    >>> assignment_status(completion=100.0, any_activity=True)
    <AssignmentStatus.COMPLETE: 'complete'>
    >>> assignment_status(completion=100.0, any_activity=False)
    <AssignmentStatus.NOT_STARTED: 'not_started'>
    """
    return checked_assignment_status(
        percentage_argument("completion", completion),
        flag_argument("any_activity", any_activity),
        flag_argument("archived", archived),
    )


def checked_assignment_status(
    completion: float, any_activity: bool, archived: bool
) -> AssignmentStatus:
    """:func:`assignment_status` on values already checked (the fold's)."""
    if archived:
        return AssignmentStatus.ARCHIVED
    if not any_activity:
        return AssignmentStatus.NOT_STARTED
    if completion >= 100.0:
        return AssignmentStatus.COMPLETE
    return AssignmentStatus.IN_PROGRESS


def next_step(
    structure: AssignmentStructure,
    steps: Mapping[str, StepProgress] | Iterable[StepProgress],
) -> StepDefinition | None:
    """The first step in order that is neither complete nor locked (D14).

    A step with no progress record yet is in its initial state: available if
    it is the first step, locked otherwise.
    """
    if not isinstance(structure, AssignmentStructure):
        raise InvalidInputError("structure", structure, "an AssignmentStructure")
    by_id = _by_id(steps)
    for index, definition in enumerate(structure.steps):
        progress = record_at(by_id, definition.step_id)
        if progress is None:
            if index == 0:
                return definition
            continue
        if progress.state in (StepState.AVAILABLE, StepState.IN_PROGRESS):
            return definition
    return None
