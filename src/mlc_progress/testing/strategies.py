"""Hypothesis strategies for every record and input of mlc_progress.

Each strategy generates valid instances only: records are built by
construction so that every invariant of their ``__attrs_post_init__`` holds,
and step records are folded from generated attempts with the library's own
running-moment functions (D5, D6). Options are keyword-only and default to
the whole valid domain, within 2000-01-01 to 2100-01-01 for times.

This module needs Hypothesis (the ``testing`` extra).

>>> from hypothesis import find
>>> find(scores(), lambda s: s >= 50)
50.0
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from .. import (
    DEFAULT_POLICY,
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    CompletionSource,
    OriginalContext,
    PacingStatus,
    Policy,
    ProgressSnapshot,
    ReconciliationMetadata,
    ScopeType,
    SequenceProgress,
    SnapshotTrigger,
    Stage,
    StageWeights,
    StepDefinition,
    StepProgress,
    StepState,
    StudentProgressSummary,
    add_score,
    completion_percentage,
    consistency_from_moments,
    mastery_level,
)

__all__ = [
    "MAX_TIME",
    "MIN_TIME",
    "assignment_progress",
    "assignment_structures",
    "attempts",
    "ids",
    "policies",
    "progress_snapshots",
    "reconciliation_metadata",
    "scores",
    "sequence_progress",
    "stages",
    "step_definitions",
    "step_progress",
    "step_progress_for",
    "student_progress_summaries",
    "targets",
    "utc_datetimes",
]

MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Earliest time the strategies generate by default."""
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
"""Latest time the strategies generate by default."""

# Up to ten years: far beyond any assignment.
_MAX_DURATION = timedelta(days=3650)
# Largest integer a JSON float metric holds exactly.
_MAX_EXACT_INT = 2**53
_MAX_TIME_ON_TASK_MS = 10**12


# Scalars ---------------------------------------------------------------


def scores(
    *,
    min_value: float = 0.0,
    max_value: float = 100.0,
    exclude_max: bool = False,
    allow_subnormal: bool | None = None,
) -> st.SearchStrategy[float]:
    """Percent scores: finite floats in ``[min_value, max_value]`` (D1).

    ``exclude_max`` leaves out ``max_value`` (for scores below a target).
    Subnormal floats are included when the range holds any, unless
    ``allow_subnormal`` is false.
    """
    return st.floats(
        min_value=min_value,
        max_value=max_value,
        exclude_max=exclude_max,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=allow_subnormal,
    )


def targets(*, max_value: float = 100.0) -> st.SearchStrategy[float]:
    """Target scores: finite floats in ``(0, max_value]`` (D1)."""
    return st.floats(
        min_value=0.0,
        max_value=max_value,
        exclude_min=True,
        allow_nan=False,
        allow_infinity=False,
    )


def utc_datetimes(
    *, min_value: datetime = MIN_TIME, max_value: datetime = MAX_TIME
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes in UTC, microsecond precision (D2).

    ``min_value`` and ``max_value`` are aware and inclusive.
    """
    return st.datetimes(
        min_value=min_value.astimezone(UTC).replace(tzinfo=None),
        max_value=max_value.astimezone(UTC).replace(tzinfo=None),
        timezones=st.just(UTC),
    )


def ids(*, max_size: int = 12) -> st.SearchStrategy[str]:
    """Identifiers: non-empty strings that are not all whitespace (D3)."""
    return st.text(min_size=1, max_size=max_size).filter(lambda s: bool(s.strip()))


def stages() -> st.SearchStrategy[Stage]:
    """Any stage of a step (D12)."""
    return st.sampled_from(Stage)


def _durations(*, max_value: timedelta = _MAX_DURATION) -> st.SearchStrategy[timedelta]:
    return st.timedeltas(min_value=timedelta(microseconds=1), max_value=max_value)


def _ms() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=_MAX_TIME_ON_TASK_MS)


def _counts(max_value: int = 1000) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=max_value)


def _percentages() -> st.SearchStrategy[float]:
    return scores()


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Inputs: structure and attempts -----------------------------------------


@st.composite
def _step_definitions(
    draw: st.DrawFn,
    *,
    step_id: str | None,
    min_time: datetime,
    max_time: datetime,
) -> StepDefinition:
    return StepDefinition(
        step_id=step_id if step_id is not None else draw(ids()),
        element_id=draw(ids()),
        stage=draw(stages()),
        target_score=draw(targets()),
        optional=draw(st.booleans()),
        deprecated=draw(st.booleans()),
        concepts=tuple(draw(st.lists(ids(max_size=6), max_size=3, unique=True))),
        due_at=draw(_optional(utc_datetimes(min_value=min_time, max_value=max_time))),
        remediation=draw(st.booleans()),
        replaced_by_game_id=draw(_optional(ids())),
    )


def step_definitions(
    *,
    step_id: str | None = None,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[StepDefinition]:
    """Steps of any stage, optional or deprecated or required, maybe with a due date."""
    return _step_definitions(step_id=step_id, min_time=min_time, max_time=max_time)


@st.composite
def _assignment_structures(
    draw: st.DrawFn,
    *,
    assignment_id: str | None,
    min_steps: int,
    max_steps: int,
    min_time: datetime,
    max_time: datetime,
) -> AssignmentStructure:
    step_ids = draw(
        st.lists(ids(max_size=6), min_size=min_steps, max_size=max_steps, unique=True)
    )
    created_at = draw(utc_datetimes(min_value=min_time, max_value=max_time))
    steps = tuple(
        draw(step_definitions(step_id=i, min_time=created_at, max_time=max_time))
        for i in step_ids
    )
    due_at = None
    if draw(st.booleans()):
        due_at = created_at + draw(_durations())
    return AssignmentStructure(
        assignment_id=assignment_id if assignment_id is not None else draw(ids()),
        steps=steps,
        created_at=created_at,
        due_at=due_at,
        estimated_duration=draw(_optional(_durations())),
        sequence_id=draw(_optional(ids())),
        version=draw(st.integers(min_value=0, max_value=100)),
    )


def assignment_structures(
    *,
    assignment_id: str | None = None,
    min_steps: int = 0,
    max_steps: int = 8,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[AssignmentStructure]:
    """Assignments with ordered steps of unique ids, some optional or deprecated.

    ``created_at`` lies in ``[min_time, max_time]``; the due date, when there is
    one, and the estimated duration are at most ten years after it.
    """
    return _assignment_structures(
        assignment_id=assignment_id,
        min_steps=min_steps,
        max_steps=max_steps,
        min_time=min_time,
        max_time=max_time,
    )


@st.composite
def _attempts(
    draw: st.DrawFn,
    *,
    student_id: str | None,
    assignment_id: str | None,
    step_id: str | None,
    min_time: datetime,
    max_time: datetime,
    score_values: st.SearchStrategy[float] | None,
    session_ids: st.SearchStrategy[str] | None,
) -> Attempt:
    return Attempt(
        attempt_id=draw(ids()),
        student_id=student_id if student_id is not None else draw(ids()),
        assignment_id=assignment_id if assignment_id is not None else draw(ids()),
        step_id=step_id if step_id is not None else draw(ids()),
        score=draw(score_values if score_values is not None else scores()),
        attempted_at=draw(utc_datetimes(min_value=min_time, max_value=max_time)),
        duration_ms=draw(st.integers(min_value=0, max_value=3_600_000)),
        session_id=draw(session_ids if session_ids is not None else ids()),
    )


def attempts(
    *,
    student_id: str | None = None,
    assignment_id: str | None = None,
    step_id: str | None = None,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
    score_values: st.SearchStrategy[float] | None = None,
    session_ids: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[Attempt]:
    """Scored attempts, optionally bound to a student, assignment and step.

    ``attempted_at`` lies in ``[min_time, max_time]``; ``score_values`` and
    ``session_ids`` replace the default score and session strategies.
    """
    return _attempts(
        student_id=student_id,
        assignment_id=assignment_id,
        step_id=step_id,
        min_time=min_time,
        max_time=max_time,
        score_values=score_values,
        session_ids=session_ids,
    )


# Step progress ----------------------------------------------------------


def _fold(
    base: dict[str, Any], played: Sequence[Attempt], policy: Policy
) -> dict[str, Any]:
    """The step fields that ``played`` (in arrival order) determine (D2, D5, D6)."""
    count = 0
    mean = m2 = best = 0.0
    first: Attempt | None = None
    latest: Attempt | None = None
    sessions = 0
    session: str | None = None
    time_on_task = 0
    for attempt in played:
        mean, m2 = add_score(count, mean, m2, attempt.score)
        count += 1
        best = max(best, attempt.score)
        if first is None or attempt.attempted_at < first.attempted_at:
            first = attempt
        # A late attempt (stamped before the latest) never becomes the latest.
        if latest is None or attempt.attempted_at >= latest.attempted_at:
            latest = attempt
        if attempt.session_id != session:
            sessions += 1
            session = attempt.session_id
        time_on_task += attempt.duration_ms
    if first is None or latest is None:
        return base
    consistency = consistency_from_moments(count, mean, m2)
    return {
        **base,
        "attempt_count": count,
        "best_score": best,
        "latest_score": latest.score,
        "score_mean": mean,
        "score_m2": m2,
        "consistency_score": consistency,
        "first_attempt_at": first.attempted_at,
        "first_score": first.score,
        "latest_attempt_at": latest.attempted_at,
        "session_count": sessions,
        "last_session_id": session,
        "time_on_task_ms": time_on_task,
        "mastery_level": mastery_level(
            attempt_count=count,
            best_score=best,
            target_score=base["target_score"],
            consistency_score=consistency,
            policy=policy,
        ),
    }


def _target_met(fields: dict[str, Any]) -> bool:
    if fields.get("attempt_count", 0) > 0 and (
        fields["best_score"] >= fields["target_score"]
    ):
        return True
    meta: ReconciliationMetadata | None = fields.get("reconciliation_metadata")
    return meta is not None and meta.original_score >= fields["target_score"]


@st.composite
def _step_progress(
    draw: st.DrawFn,
    *,
    step_id: str | None,
    assignment_id: str | None,
    student_id: str | None,
    states: Sequence[StepState],
    target_score: float | None,
    max_attempts: int,
    min_time: datetime,
    max_time: datetime,
    policy: Policy,
) -> StepProgress:
    state = draw(st.sampled_from(states))
    target = target_score if target_score is not None else draw(targets())
    fields: dict[str, Any] = {
        "step_id": step_id if step_id is not None else draw(ids()),
        "assignment_id": assignment_id if assignment_id is not None else draw(ids()),
        "student_id": student_id if student_id is not None else draw(ids()),
        "state": state,
        "target_score": target,
    }
    times = utc_datetimes(min_value=min_time, max_value=max_time)
    if state is StepState.LOCKED:
        return StepProgress(**fields)
    if state is StepState.AVAILABLE:
        fields["available_at"] = draw(_optional(times))
        return StepProgress(**fields)

    bound: dict[str, Any] = {
        "student_id": fields["student_id"],
        "assignment_id": fields["assignment_id"],
        "step_id": fields["step_id"],
        "min_time": min_time,
        "max_time": max_time,
        "session_ids": st.sampled_from(("s1", "s2", "s3")),
    }
    source = CompletionSource.FRESH_ATTEMPT
    if state is StepState.COMPLETE:
        source = draw(st.sampled_from(CompletionSource))
    if state is StepState.COMPLETE and source is CompletionSource.FREE_PLAY_RECONCILED:
        # D9: the free-play score completed the step when it became available;
        # it is no attempt of the step.
        reconciled_at = draw(times)
        fields.update(
            completion_source=source,
            completed_at=reconciled_at,
            available_at=reconciled_at,
            reconciliation_metadata=draw(
                reconciliation_metadata(
                    min_score=target, min_time=reconciled_at, max_time=reconciled_at
                )
            ),
        )
        fields["passed"] = _target_met(fields)
        return StepProgress(**fields)

    if state is StepState.IN_PROGRESS:
        # Rule 1 of step completion would have completed a step that meets
        # its target, so an in-progress step scores below it.
        played = draw(
            st.lists(
                attempts(
                    **bound, score_values=scores(max_value=target, exclude_max=True)
                ),
                max_size=max_attempts,
            )
        )
    else:
        played = draw(st.lists(attempts(**bound), max_size=max_attempts))
        best = max((a.score for a in played), default=0.0)
        if (
            target_score is None
            and source is CompletionSource.FRESH_ATTEMPT
            and best > 0
            and draw(st.booleans())
        ):
            # Completed by meeting the target (otherwise the target was raised
            # after completion, or an optional step was moved past: D7).
            target = draw(targets(max_value=best))
            fields["target_score"] = target
    fields = _fold(fields, played, policy)

    if played:
        first_at = fields["first_attempt_at"]
        started_at = draw(utc_datetimes(min_value=min_time, max_value=first_at))
        latest_at = fields["latest_attempt_at"]
        fields["last_activity_at"] = draw(
            st.just(latest_at) | utc_datetimes(min_value=latest_at, max_value=max_time)
        )
    elif state is StepState.IN_PROGRESS or draw(st.booleans()):
        started_at = draw(times)
        fields["last_activity_at"] = draw(
            _optional(utc_datetimes(min_value=started_at, max_value=max_time))
        )
        fields["time_on_task_ms"] = draw(_ms())
    else:
        started_at = None
    fields["started_at"] = started_at
    fields["available_at"] = draw(
        _optional(utc_datetimes(min_value=min_time, max_value=started_at or max_time))
    )
    if state is StepState.COMPLETE:
        fields["completion_source"] = source
        meeting = [a for a in played if a.score >= target]
        if meeting and source is CompletionSource.FRESH_ATTEMPT:
            fields["completed_at"] = meeting[0].attempted_at
        elif source is CompletionSource.FRESH_ATTEMPT:
            fields["completed_at"] = draw(
                utc_datetimes(min_value=started_at or min_time, max_value=max_time)
            )
        else:
            # A teacher or a migration may complete a step before the student
            # first opens it; the student's attempts may come later.
            fields["completed_at"] = draw(times)
    fields["passed"] = _target_met(fields)
    return StepProgress(**fields)


def step_progress(
    *,
    step_id: str | None = None,
    assignment_id: str | None = None,
    student_id: str | None = None,
    states: Sequence[StepState] = tuple(StepState),
    target_score: float | None = None,
    max_attempts: int = 6,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
    policy: Policy = DEFAULT_POLICY,
) -> st.SearchStrategy[StepProgress]:
    """Valid step records in any of ``states``, folded from generated attempts.

    Attempts arrive in any order (late ones included, D2) and are folded with
    :func:`~mlc_progress.add_score`, :func:`~mlc_progress.consistency_from_moments`
    and :func:`~mlc_progress.mastery_level` under ``policy``. Locked and
    available steps have no attempts; in-progress steps score below their
    target; complete steps come from each of the four completion sources,
    free-play ones with their reconciliation metadata (D7, D9), and only a
    student's own attempt cannot complete a step before it started. A
    ``target_score`` fixes the target, as a structure's step does.
    """
    return _step_progress(
        step_id=step_id,
        assignment_id=assignment_id,
        student_id=student_id,
        states=tuple(states),
        target_score=target_score,
        max_attempts=max_attempts,
        min_time=min_time,
        max_time=max_time,
        policy=policy,
    )


@st.composite
def _step_progress_for(
    draw: st.DrawFn,
    structure: AssignmentStructure,
    *,
    student_id: str | None,
    max_attempts: int,
    max_time: datetime,
    policy: Policy,
) -> tuple[StepProgress, ...]:
    student = student_id if student_id is not None else draw(ids())
    records = []
    for definition in structure.steps:
        if not draw(st.booleans()):
            continue  # no record yet: the step counts as locked
        records.append(
            draw(
                step_progress(
                    step_id=definition.step_id,
                    assignment_id=structure.assignment_id,
                    student_id=student,
                    target_score=definition.target_score,
                    max_attempts=max_attempts,
                    min_time=structure.created_at,
                    max_time=max_time,
                    policy=policy,
                )
            )
        )
    return tuple(records)


def step_progress_for(
    structure: AssignmentStructure,
    *,
    student_id: str | None = None,
    max_attempts: int = 4,
    max_time: datetime = MAX_TIME,
    policy: Policy = DEFAULT_POLICY,
) -> st.SearchStrategy[tuple[StepProgress, ...]]:
    """One student's records for some of ``structure``'s steps, in step order.

    Each record has its step's id and target and activity after the
    assignment's ``created_at``; steps left out have no record yet.
    """
    return _step_progress_for(
        structure,
        student_id=student_id,
        max_attempts=max_attempts,
        max_time=max_time,
        policy=policy,
    )


# Aggregate records -----------------------------------------------------


@st.composite
def _assignment_progress(
    draw: st.DrawFn,
    *,
    assignment_id: str | None,
    student_id: str | None,
    min_time: datetime,
    max_time: datetime,
) -> AssignmentProgress:
    status = draw(st.sampled_from(AssignmentStatus))
    times = utc_datetimes(min_value=min_time, max_value=max_time)
    total = draw(st.integers(min_value=0, max_value=30))
    if status is AssignmentStatus.IN_PROGRESS:
        total = max(total, 1)
        required = draw(st.integers(min_value=1, max_value=total))
        required_complete = draw(st.integers(min_value=0, max_value=required - 1))
    else:
        required = draw(st.integers(min_value=0, max_value=total))
        if status is AssignmentStatus.NOT_STARTED:
            required_complete = 0
        elif status is AssignmentStatus.COMPLETE:
            required_complete = required
        else:
            required_complete = draw(st.integers(min_value=0, max_value=required))
    optional_complete = (
        0
        if status is AssignmentStatus.NOT_STARTED
        else draw(st.integers(min_value=0, max_value=total - required))
    )
    completed = required_complete + optional_complete
    in_progress = (
        0
        if status is AssignmentStatus.NOT_STARTED
        else draw(st.integers(min_value=0, max_value=total - completed))
    )
    locked = draw(st.integers(min_value=0, max_value=total - completed - in_progress))
    percent = completion_percentage(required_complete, required)

    started_at = None
    if status is not AssignmentStatus.NOT_STARTED:
        started_at = draw(
            _optional(times) if status is AssignmentStatus.ARCHIVED else times
        )
    completed_at = None
    if percent == 100 and started_at is not None:
        completed_at = draw(utc_datetimes(min_value=started_at, max_value=max_time))
    finished = status is AssignmentStatus.COMPLETE
    return AssignmentProgress(
        assignment_id=assignment_id if assignment_id is not None else draw(ids()),
        student_id=student_id if student_id is not None else draw(ids()),
        status=status,
        completion_percentage=percent,
        steps_total=total,
        steps_required=required,
        steps_completed=completed,
        steps_in_progress=in_progress,
        steps_locked=locked,
        started_at=started_at,
        completed_at=completed_at,
        estimated_completion_date=completed_at
        if completed_at is not None
        else draw(_optional(times)),
        time_on_task_ms=0 if started_at is None else draw(_ms()),
        average_score=draw(scores()),
        mastery_score=draw(scores()),
        pass_rate=draw(_percentages()),
        next_step_id=None if finished else draw(_optional(ids())),
        next_step_due_at=None if finished else draw(_optional(times)),
        steps_per_week=draw(
            st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)
        ),
        pacing_status=draw(st.sampled_from(PacingStatus)),
        due_at_override=draw(_optional(times)),
    )


def assignment_progress(
    *,
    assignment_id: str | None = None,
    student_id: str | None = None,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[AssignmentProgress]:
    """Valid assignment records in every status, with counts that add up.

    The completion percentage is the D10 figure of the generated counts; a
    complete assignment is at 100 and has ``completed_at`` (D14).
    """
    return _assignment_progress(
        assignment_id=assignment_id,
        student_id=student_id,
        min_time=min_time,
        max_time=max_time,
    )


@st.composite
def _sequence_progress(
    draw: st.DrawFn,
    *,
    sequence_id: str | None,
    student_id: str | None,
    min_time: datetime,
    max_time: datetime,
) -> SequenceProgress:
    total = draw(st.integers(min_value=0, max_value=50))
    done = draw(st.integers(min_value=0, max_value=total))
    concepts = draw(st.lists(ids(max_size=6), max_size=6, unique=True))
    mastered_flags = [draw(st.booleans()) for _ in concepts]
    started_at = draw(utc_datetimes(min_value=min_time, max_value=max_time))
    return SequenceProgress(
        sequence_id=sequence_id if sequence_id is not None else draw(ids()),
        student_id=student_id if student_id is not None else draw(ids()),
        completion_percentage=completion_percentage(done, total),
        assignments_total=total,
        assignments_completed=done,
        current_assignment_id=draw(_optional(ids())),
        started_at=started_at,
        estimated_completion_date=draw(
            _optional(utc_datetimes(min_value=started_at, max_value=max_time))
        ),
        overall_mastery_score=draw(scores()),
        concepts_mastered=tuple(
            c for c, m in zip(concepts, mastered_flags, strict=True) if m
        ),
        concepts_in_progress=tuple(
            c for c, m in zip(concepts, mastered_flags, strict=True) if not m
        ),
        remediation_count=draw(_counts()),
        review_compliance_rate=draw(_percentages()),
    )


def sequence_progress(
    *,
    sequence_id: str | None = None,
    student_id: str | None = None,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[SequenceProgress]:
    """Valid sequence records; a concept is mastered or in progress, never both."""
    return _sequence_progress(
        sequence_id=sequence_id,
        student_id=student_id,
        min_time=min_time,
        max_time=max_time,
    )


def _json_values() -> st.SearchStrategy[Any]:
    # Lists, not tuples: JSON gives lists back, and records must round-trip.
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-_MAX_EXACT_INT, max_value=_MAX_EXACT_INT)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8)
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=6), children, max_size=3)
        ),
        max_leaves=8,
    )


def _metric_values() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False) | st.integers(
        min_value=-_MAX_EXACT_INT, max_value=_MAX_EXACT_INT
    ).map(float)


@st.composite
def _progress_snapshots(
    draw: st.DrawFn,
    *,
    student_id: str | None,
    min_time: datetime,
    max_time: datetime,
) -> ProgressSnapshot:
    extra = draw(st.dictionaries(ids(max_size=8), _metric_values(), max_size=3))
    metrics = {
        **extra,
        "completion_percentage": draw(_percentages()),
        "mastery_score": draw(scores()),
        "time_on_task_ms": float(draw(_ms())),
    }
    return ProgressSnapshot(
        snapshot_id=draw(ids()),
        snapshot_date=draw(utc_datetimes(min_value=min_time, max_value=max_time)),
        student_id=student_id if student_id is not None else draw(ids()),
        scope_type=draw(st.sampled_from(ScopeType)),
        scope_id=draw(ids()),
        state_snapshot=draw(
            st.dictionaries(st.text(max_size=8), _json_values(), max_size=4)
        ),
        metrics_snapshot=metrics,
        trigger=draw(st.sampled_from(SnapshotTrigger)),
        notes=draw(_optional(st.text(max_size=20))),
    )


def progress_snapshots(
    *,
    student_id: str | None = None,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[ProgressSnapshot]:
    """Snapshots of every scope and trigger with JSON state and finite metrics.

    ``metrics_snapshot`` always holds the spec's three metrics, as floats;
    ``state_snapshot`` is any JSON object.
    """
    return _progress_snapshots(
        student_id=student_id, min_time=min_time, max_time=max_time
    )


def _risk_factors() -> st.SearchStrategy[str]:
    # The exact factor strings of D17.
    return st.one_of(
        st.integers(min_value=31, max_value=100).map(
            lambda n: f"behind_pace_{n}_percent"
        ),
        st.integers(min_value=0, max_value=59).map(lambda n: f"low_mastery_avg_{n}"),
        st.integers(min_value=7, max_value=400).map(lambda n: f"inactive_{n}_days"),
        st.integers(min_value=6, max_value=100).map(
            lambda n: f"stuck_on_step_{n}_attempts"
        ),
        st.integers(min_value=50, max_value=1000).map(
            lambda n: f"inconsistent_scores_cv_{n}"
        ),
    )


@st.composite
def _student_progress_summaries(
    draw: st.DrawFn,
    *,
    student_id: str | None,
    organization_id: str | None,
    min_time: datetime,
    max_time: datetime,
) -> StudentProgressSummary:
    total_ms = draw(_ms())
    factors = tuple(draw(st.lists(_risk_factors(), max_size=4, unique=True)))
    return StudentProgressSummary(
        student_id=student_id if student_id is not None else draw(ids()),
        organization_id=organization_id if organization_id is not None else draw(ids()),
        active_assignments=draw(_counts()),
        completed_assignments=draw(_counts()),
        total_time_on_task_ms=total_ms,
        steps_completed_this_week=draw(_counts()),
        time_on_task_this_week_ms=draw(st.integers(min_value=0, max_value=total_ms)),
        games_played_this_week=draw(_counts()),
        overall_mastery_score=draw(scores()),
        concepts_mastered_count=draw(_counts()),
        badges_earned=draw(_counts()),
        last_activity_at=draw(
            _optional(utc_datetimes(min_value=min_time, max_value=max_time))
        ),
        streak_days=draw(_counts(3650)),
        engagement_score=draw(_percentages()),
        at_risk=bool(factors),
        risk_factors=factors,
    )


def student_progress_summaries(
    *,
    student_id: str | None = None,
    organization_id: str | None = None,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[StudentProgressSummary]:
    """Valid summaries; ``at_risk`` exactly when there are D17 risk factors."""
    return _student_progress_summaries(
        student_id=student_id,
        organization_id=organization_id,
        min_time=min_time,
        max_time=max_time,
    )


def reconciliation_metadata(
    *,
    min_score: float = 0.0,
    min_time: datetime = MIN_TIME,
    max_time: datetime = MAX_TIME,
) -> st.SearchStrategy[ReconciliationMetadata]:
    """Free-play provenance (D9): a score of at least ``min_score``, a time."""
    return st.builds(
        ReconciliationMetadata,
        original_score=scores(min_value=min_score),
        original_context=st.sampled_from(OriginalContext),
        reconciled_at=utc_datetimes(min_value=min_time, max_value=max_time),
    )


# Policy ----------------------------------------------------------------


def _positive_floats(max_value: float) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=0.0,
        max_value=max_value,
        exclude_min=True,
        allow_nan=False,
        allow_infinity=False,
    )


def _non_negative_floats(max_value: float) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=0.0, max_value=max_value, allow_nan=False, allow_infinity=False
    )


def _whole(max_value: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=max_value)


@st.composite
def _policies(draw: st.DrawFn) -> Policy:
    on_track = draw(_non_negative_floats(50.0))
    behind = draw(
        st.floats(
            min_value=on_track, max_value=100.0, allow_nan=False, allow_infinity=False
        )
    )
    weights = {
        stage.value: draw(st.floats(min_value=1e-6, max_value=10.0, allow_nan=False))
        for stage in Stage
    }
    return Policy(
        learning_ratio=draw(_non_negative_floats(1.0)),
        mastery_consistency_threshold=draw(_non_negative_floats(2.0)),
        stage_weights=StageWeights(**weights),
        pacing_ahead_points=draw(_non_negative_floats(50.0)),
        pacing_on_track_points=on_track,
        pacing_behind_points=behind,
        velocity_window_days=draw(_whole(365)),
        max_clock_skew_seconds=draw(_non_negative_floats(3600.0)),
        free_play_window_days=draw(_whole(365)),
        milestones=tuple(
            sorted(
                draw(
                    st.sets(
                        st.integers(min_value=1, max_value=100), min_size=1, max_size=6
                    )
                )
            )
        ),
        risk_behind_pace_points=draw(_non_negative_floats(100.0)),
        risk_low_mastery_below=draw(_non_negative_floats(100.0)),
        risk_mastery_recent_steps=draw(_whole(50)),
        risk_inactive_days=draw(_whole(365)),
        risk_stuck_attempts_over=draw(_whole(100)),
        risk_inconsistent_min_attempts=draw(_whole(100)),
        risk_inconsistent_cv=draw(_non_negative_floats(5.0)),
        metrics_sample_rate=draw(_non_negative_floats(1.0)),
        student_summary_active_minutes=draw(_whole(1440)),
        student_summary_inactive_minutes=draw(_whole(1440)),
        student_active_window_hours=draw(_whole(720)),
        class_summary_minutes=draw(_whole(1440)),
        organization_dashboard_minutes=draw(_whole(1440)),
        step_snapshot_retention_days=draw(_whole(3650)),
        assignment_snapshot_retention_years=draw(_whole(10)),
        sequence_snapshot_retention_years=draw(_whole(10)),
        student_snapshot_thinning_years=draw(_whole(10)),
    )


def policies(*, include_default: bool = True) -> st.SearchStrategy[Policy]:
    """Valid policies: every threshold and weight varied within its rule.

    With ``include_default`` the default policy is one of the examples.
    """
    varied = _policies()
    return st.just(DEFAULT_POLICY) | varied if include_default else varied
