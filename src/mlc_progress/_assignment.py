"""Assignment progress from its step progress: every figure of the record."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from datetime import datetime

from . import _validate as v
from ._completion import checked_assignment_status, checked_completion_percentage
from ._enums import AssignmentStatus, PacingStatus, Stage, StepState
from ._errors import InvalidInputError
from ._mastery import _by_id, record_at
from ._pacing import (
    checked_estimated_completion_date,
    checked_pacing_status,
    checked_steps_per_week,
    expected_percentage,
    utc_argument,
)
from ._policy import DEFAULT_POLICY, Policy, StageWeights, check_policy
from ._records import AssignmentProgress, StepProgress
from ._structure import AssignmentStructure, StepDefinition

__all__ = ["assignment_progress"]

_COMPLETE = StepState.COMPLETE
_IN_PROGRESS = StepState.IN_PROGRESS
_LOCKED = StepState.LOCKED


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
    archived = v.flag_argument("archived", archived)
    check_policy(policy)
    if due_at_override is not None:
        due_at_override = utc_argument("due_at_override", due_at_override)
    by_id = _by_id(steps)
    assignment_id = structure.assignment_id
    shape = layout(structure, policy.stage_weights)
    # Only the structure's own steps are read; records of other steps are
    # ignored (Q17), so they are not checked either.
    for key in shape.ids:
        progress = record_at(by_id, key)
        if progress is None:
            continue
        if progress.student_id != student_id:
            raise InvalidInputError(
                "student_id", progress.student_id, f"the records are for {student_id!r}"
            )
        if progress.assignment_id != assignment_id:
            raise InvalidInputError(
                "assignment_id",
                progress.assignment_id,
                f"the records are for {assignment_id!r}",
            )
    return checked_assignment_progress(
        structure,
        shape,
        by_id,
        student_id=student_id,
        as_of=as_of,
        policy=policy,
        archived=archived,
        due_at_override=due_at_override,
    )


def checked_assignment_progress(
    structure: AssignmentStructure,
    shape: Layout,
    by_id: Mapping[str, StepProgress],
    *,
    student_id: str,
    as_of: datetime,
    policy: Policy,
    archived: bool,
    due_at_override: datetime | None,
) -> AssignmentProgress:
    """:func:`assignment_progress` on inputs already checked: ``as_of`` and
    ``due_at_override`` in UTC, ``by_id`` the student's own ``StepProgress``
    records of this assignment keyed by step id (as a ``ProgressState``
    guarantees), ``shape`` the structure's :func:`layout` under the
    policy's stage weights. Private to the core: it is the attempt's hot
    path."""
    # One pass over the steps computes every per-step figure; each line names
    # the calculator whose rule it folds (tests hold the two equal).
    required = shape.required
    total_weight = shape.total_weight  # mastery_score (D12)
    required_complete = completed = in_progress = locked = 0
    required_completed_at: list[datetime] = []
    time_on_task = 0
    any_activity = False
    first_touch: datetime | None = None
    weighted = 0.0  # mastery_score (D12)
    scored_sum = 0.0  # average_score (D11)
    scored = attempted = first_passes = 0  # pass_rate (D13)
    upcoming: int | None = None  # next_step (D14), by index
    index = -1
    for (is_required, weight), progress in zip(
        shape.weights, map(by_id.get, shape.ids), strict=True
    ):
        index += 1
        if progress is None:
            # No record: the initial state, the first step available (Q17).
            if index == 0:
                upcoming = 0
            else:
                locked += 1
            continue
        state = progress.state
        attempts = progress.attempt_count
        if attempts > 0:
            if is_required:
                weighted += weight * progress.best_score
            first_score = progress.first_score
            if first_score is not None:
                attempted += 1
                if first_score >= progress.target_score:
                    first_passes += 1
        started = progress.started_at
        if state is _COMPLETE:
            completed += 1
            done = progress.completed_at
            if is_required:
                required_complete += 1
                required_completed_at.append(done)  # type: ignore[arg-type]  # D4
            if attempts > 0:
                scored_sum += progress.best_score
                scored += 1
            # D4: completed_at is set exactly when complete.
            any_activity = True
            if started is not None and (first_touch is None or started < first_touch):
                first_touch = started
            if first_touch is None or done < first_touch:  # type: ignore[operator]
                first_touch = done
        else:
            if state is _IN_PROGRESS:
                in_progress += 1
                if upcoming is None:
                    upcoming = index
            elif state is _LOCKED:
                locked += 1
            elif upcoming is None:
                upcoming = index
            if attempts > 0 or started is not None:
                any_activity = True
                if started is not None and (
                    first_touch is None or started < first_touch
                ):
                    first_touch = started
        time_on_task += progress.time_on_task_ms

    completion = checked_completion_percentage(required_complete, required)
    status = checked_assignment_status(completion, any_activity, archived)
    completed_at: datetime | None = None
    if completion >= 100.0 and any_activity:
        done_at = [t for t in required_completed_at if t is not None]
        completed_at = max(done_at) if done_at else first_touch
    velocity = checked_steps_per_week(required_completed_at, as_of, policy)
    window_end = checked_window_end(structure, due_at_override)
    expected = expected_percentage(
        created_at=structure.created_at, window_end=window_end, as_of=as_of
    )
    pacing = (
        PacingStatus.ON_TRACK
        if status is AssignmentStatus.NOT_STARTED and expected is None
        else checked_pacing_status(completion, expected, policy)
    )
    if completion >= 100.0:
        upcoming = None
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
        estimated_completion_date=checked_estimated_completion_date(
            required - required_complete, velocity, as_of, completed_at
        )
        if any_activity
        else None,
        time_on_task_ms=time_on_task,
        average_score=min(scored_sum / scored, 100.0) if scored else 0.0,
        mastery_score=min(weighted / total_weight, 100.0) if total_weight else 0.0,
        pass_rate=100.0 * first_passes / attempted if attempted else 0.0,
        next_step_id=None if upcoming is None else structure.steps[upcoming].step_id,
        next_step_due_at=None
        if upcoming is None
        else _step_due(structure, structure.steps[upcoming], due_at_override),
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
    moved the assignment's, so intermediate deadlines keep their spacing. A
    date that ``datetime`` cannot hold (past 9999 or before year 1) is an
    :class:`InvalidInputError`, as the column kernel's.
    """
    if due_at_override is None:
        return step.due_at or structure.due_at
    original_end = checked_window_end(structure)
    if step.due_at is None or original_end is None:
        return due_at_override
    try:
        return step.due_at + (due_at_override - original_end)
    except OverflowError:
        raise InvalidInputError(
            "due_at_override",
            due_at_override,
            "D8: the step's moved due date lies before year 10000",
        ) from None


def checked_window_end(
    structure: AssignmentStructure, due_at_override: datetime | None = None
) -> datetime | None:
    """``structure.window_end(due_at_override)`` (D8, D15); an estimated end
    past 9999 has no date: :class:`InvalidInputError` naming
    ``estimated_duration``, as every figure that needs it refuses it."""
    try:
        return structure.window_end(due_at_override)
    except OverflowError:
        raise InvalidInputError(
            "estimated_duration",
            structure.estimated_duration,
            "D15: the pacing window ends before year 10000",
        ) from None


class Layout:
    """What the fold needs of a structure, worked out once per structure.

    ``ids``: the step ids in order; ``weights``: each step's required flag
    (D10) and stage weight (D12); ``positions``: each step id's index;
    ``not_required``: the indexes of optional and deprecated steps;
    ``required`` and ``total_weight``: their count and the sum of the
    required steps' weights, added in step order.
    """

    __slots__ = (
        "ids",
        "not_required",
        "positions",
        "required",
        "total_weight",
        "weights",
    )

    def __init__(self, structure: AssignmentStructure, weights: StageWeights) -> None:
        table = {stage: weights.weight(stage) for stage in Stage}
        steps = structure.steps
        self.ids: tuple[str, ...] = tuple(d.step_id for d in steps)
        self.weights: tuple[tuple[bool, float], ...] = tuple(
            (d.required, table[d.stage]) for d in steps
        )
        self.positions: dict[str, int] = {d.step_id: i for i, d in enumerate(steps)}
        self.not_required: tuple[int, ...] = tuple(
            i for i, d in enumerate(steps) if not d.required
        )
        self.required = len(steps) - len(self.not_required)
        total = 0.0
        for is_required, weight in self.weights:
            if is_required:
                total += weight
        self.total_weight = total


# Layouts by the identity of their structure and stage weights: hashing a
# structure costs more than the fold it serves. A weak reference tells a live
# entry from a recycled id; the table is bounded.
_LAYOUTS: dict[
    tuple[int, int],
    tuple[weakref.ref[AssignmentStructure], StageWeights, Layout],
] = {}
_LAYOUTS_MAX = 1024


def layout(structure: AssignmentStructure, weights: StageWeights) -> Layout:
    """The :class:`Layout` of ``structure`` under ``weights``, cached."""
    key = (id(structure), id(weights))
    hit = _LAYOUTS.get(key)
    if hit is not None and hit[0]() is structure and hit[1] is weights:
        return hit[2]
    made = Layout(structure, weights)
    if len(_LAYOUTS) >= _LAYOUTS_MAX:
        _LAYOUTS.clear()
    _LAYOUTS[key] = (weakref.ref(structure), weights, made)
    return made
