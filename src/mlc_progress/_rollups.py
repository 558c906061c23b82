"""Batch rollups: one student's records in, summaries out; classes and
organizations folded one student at a time (spec: Batch Updates, Student
Progress Summary; D20).

:func:`summarize_student` computes everything a nightly or five-minute job
needs for one student from a :class:`StudentHistory`: each assignment's
progress, each sequence's progress, the :class:`StudentProgressSummary`, the
at-risk update (D17) and trend samples. :class:`ClassSummaryAccumulator` and
:class:`OrganizationDashboardAccumulator` fold those results; their memory is
bounded by the number of assignments, sequences, classes and trend periods,
not by the number of students, and the cost of a run is linear in the
records read.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from . import _validate as v
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    PacingStatus,
    ScopeType,
    SnapshotTrigger,
    Stage,
)
from ._errors import InvalidInputError
from ._events import Event
from ._history import AssignmentRecords
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from ._retention import (
    assignment_snapshot,
    sequence_snapshot,
    step_snapshot,
    student_completion,
    student_snapshot,
)
from ._risk import (
    AssignmentStanding,
    RiskState,
    RiskUpdate,
    RuleCounts,
    _least_favourable,
    detect_risk,
    is_active_assignment,
    next_risk_state,
    risk_update,
)
from ._serialization import register_enums
from ._structure import Attempt, SequenceStructure

__all__ = [
    "AssignmentEffectiveness",
    "AssignmentRecords",
    "ClassSummary",
    "ClassSummaryAccumulator",
    "Histogram",
    "OrganizationDashboard",
    "OrganizationDashboardAccumulator",
    "PacingCounts",
    "ProgressFigures",
    "SequenceEffectiveness",
    "SequenceRecords",
    "StudentHistory",
    "StudentResult",
    "TrendPeriod",
    "TrendPoint",
    "TrendSample",
    "class_summary",
    "daily_snapshots",
    "engagement_score",
    "organization_dashboard",
    "period_start",
    "sequence_progress",
    "streak_days",
    "student_summary",
    "summarize_student",
    "trend_samples",
    "weekly_rollup_snapshot",
]

_NO_TIME = timedelta(0)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


# -- inputs ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SequenceRecords:
    """A sequence the student follows and its stored progress, if any."""

    structure: SequenceStructure
    progress: SequenceProgress | None = None

    def __attrs_post_init__(self) -> None:
        if (
            self.progress is not None
            and self.progress.sequence_id != self.structure.sequence_id
        ):
            raise InvalidInputError(
                "progress",
                self.progress.sequence_id,
                f"the progress of {self.structure.sequence_id!r}",
            )


def _dates(_: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(d, date) and not isinstance(d, datetime) for d in value
    ):
        raise InvalidInputError(attribute.name, value, "a tuple of dates (UTC days)")


@attrs.frozen(kw_only=True)
class StudentHistory:
    """Everything a batch run reads for one student.

    ``attempts`` need only reach back one week (this week's time and games);
    older attempts only add activity days. ``activity_days`` are further UTC
    days with activity, for the streak (the host may keep them as an index).
    ``snapshots`` are the student's student-scope snapshots, for trends.
    """

    student_id: str = attrs.field(validator=v.identifier)
    organization_id: str = attrs.field(validator=v.identifier)
    class_ids: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    assignments: tuple[AssignmentRecords, ...] = attrs.field(
        default=(), validator=v.tuple_of(AssignmentRecords)
    )
    sequences: tuple[SequenceRecords, ...] = attrs.field(
        default=(), validator=v.tuple_of(SequenceRecords)
    )
    attempts: tuple[Attempt, ...] = attrs.field(
        default=(), validator=v.tuple_of(Attempt)
    )
    activity_days: tuple[date, ...] = attrs.field(default=(), validator=_dates)
    snapshots: tuple[ProgressSnapshot, ...] = attrs.field(
        default=(), validator=v.tuple_of(ProgressSnapshot)
    )

    def __attrs_post_init__(self) -> None:
        sid = self.student_id
        ids = [a.structure.assignment_id for a in self.assignments]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("assignments", ids, "one entry per assignment")
        seqs = [s.structure.sequence_id for s in self.sequences]
        if len(set(seqs)) != len(seqs):
            raise InvalidInputError("sequences", seqs, "one entry per sequence")
        for a in self.assignments:
            for step in a.steps:
                _same_student("steps", step.student_id, sid)
            if a.progress is not None:
                _same_student("progress", a.progress.student_id, sid)
        for s in self.sequences:
            if s.progress is not None:
                _same_student("progress", s.progress.student_id, sid)
        known = set(ids)
        for attempt in self.attempts:
            _same_student("attempts", attempt.student_id, sid)
            if attempt.assignment_id not in known:
                raise InvalidInputError(
                    "attempts",
                    attempt.assignment_id,
                    "an attempt of a listed assignment",
                )
        for snap in self.snapshots:
            _same_student("snapshots", snap.student_id, sid)


def _same_student(field: str, found: str, expected: str) -> None:
    if found != expected:
        raise InvalidInputError(field, found, f"a record of student {expected!r}")


# -- sequence progress ------------------------------------------------------------


def sequence_progress(
    structure: SequenceStructure,
    assignments: Iterable[AssignmentRecords],
    *,
    student_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    previous: SequenceProgress | None = None,
) -> SequenceProgress | None:
    """A student's progress through a sequence, from their records.

    The rules are the real-time core's, so batch equals real time:
    ``assignments_completed`` counts started assignments at 100 %;
    ``overall_mastery_score`` is the mean ``mastery_score`` of the sequence's
    assignments, missing ones as 0; a concept is mastered once an attempted
    step tagged with it is ``mastered`` and stays so (kept from ``previous``),
    and is in progress while an attempted step tagged with it is not mastered;
    ``current_assignment_id`` is the assignment with the latest interaction,
    or the one after it once it is complete. Beyond real time (which carries
    them from the last batch): ``remediation_count`` counts the remediation
    steps of the sequence's assignments, ``review_compliance_rate`` and
    ``estimated_completion_date`` are as in ``docs/decisions.md``.
    ``None`` before the student starts any of its assignments.

    >>> from datetime import datetime, UTC
    >>> seq = SequenceStructure(sequence_id="q", assignment_ids=("a",))
    >>> sequence_progress(seq, [], student_id="u",
    ...                   as_of=datetime(2026, 1, 1, tzinfo=UTC)) is None
    True
    """
    as_of = utc_argument("as_of", as_of)
    records = {a.structure.assignment_id: a for a in assignments}
    progress = {
        aid: records[aid].current(student_id=student_id, as_of=as_of, policy=policy)
        for aid in structure.assignment_ids
        if aid in records
    }
    return _sequence_progress(
        structure,
        records,
        progress,
        student_id=student_id,
        as_of=as_of,
        previous=previous,
    )


def _sequence_progress(
    structure: SequenceStructure,
    records: Mapping[str, AssignmentRecords],
    progress: Mapping[str, AssignmentProgress],
    *,
    student_id: str,
    as_of: datetime,
    previous: SequenceProgress | None,
) -> SequenceProgress | None:
    order = structure.assignment_ids
    total = len(order)
    members = [progress[aid] for aid in order if aid in progress]
    started = [p for p in members if p.started_at is not None]
    if total == 0 or (not started and previous is None):
        return None
    completed = sum(1 for p in started if p.completion_percentage >= 100.0)
    overall = min(max(math.fsum(p.mastery_score for p in members) / total, 0.0), 100.0)

    mastered: set[str] = set(previous.concepts_mastered) if previous else set()
    learning: set[str] = set(previous.concepts_in_progress) if previous else set()
    remediation = 0
    latest: tuple[datetime, int] | None = None
    for index, aid in enumerate(order):
        rec = records.get(aid)
        if rec is None:
            continue
        definitions = {d.step_id: d for d in rec.structure.steps}
        remediation += sum(1 for d in rec.structure.steps if d.remediation)
        for step in rec.steps:
            touched = _latest(step.last_activity_at, step.completed_at)
            if touched is not None and (latest is None or (touched, index) > latest):
                latest = (touched, index)
            if step.attempt_count == 0:
                continue
            concepts = definitions[step.step_id].concepts
            if step.mastery_level is MasteryLevel.MASTERED:
                mastered.update(concepts)
            else:
                learning.update(concepts)
    learning -= mastered

    current: str | None = previous.current_assignment_id if previous else None
    if latest is not None:
        index = latest[1]
        touched_progress = progress[order[index]]
        if touched_progress.completion_percentage >= 100.0:
            current = order[index + 1] if index + 1 < total else None
        else:
            current = order[index]

    starts = [p.started_at for p in started if p.started_at is not None]
    if previous is not None:
        starts.append(previous.started_at)
    started_at = min(starts) if starts else as_of
    return SequenceProgress(
        sequence_id=structure.sequence_id,
        student_id=student_id,
        completion_percentage=100.0 * completed / total,
        assignments_total=total,
        assignments_completed=completed,
        current_assignment_id=current,
        started_at=started_at,
        estimated_completion_date=_sequence_estimate(
            started, completed, total, started_at, as_of
        ),
        overall_mastery_score=overall,
        concepts_mastered=tuple(sorted(mastered)),
        concepts_in_progress=tuple(sorted(learning)),
        remediation_count=remediation,
        review_compliance_rate=_review_compliance(
            [(records[aid], progress[aid]) for aid in order if aid in progress],
            as_of,
        ),
    )


def _latest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return max(found) if found else None


def _sequence_estimate(
    started: list[AssignmentProgress],
    completed: int,
    total: int,
    started_at: datetime,
    as_of: datetime,
) -> datetime | None:
    """Complete: the last completion. Otherwise the pace so far, projected:
    ``started_at + elapsed * total / completed``; ``None`` before the first
    completion (decisions: sequence estimate)."""
    if completed >= total:
        done = [p.completed_at for p in started if p.completed_at is not None]
        return max(done) if done else None
    if completed == 0 or as_of <= started_at:
        return None
    try:
        return started_at + (as_of - started_at) * (total / completed)
    except OverflowError:
        return None


def _review_compliance(
    members: list[tuple[AssignmentRecords, AssignmentProgress]], as_of: datetime
) -> float:
    """Percent of required REVIEW steps completed on or before their due date
    (the step's, else the student's assignment due date), among those due by
    ``as_of`` or already completed; 100.0 when none (decisions: review
    compliance)."""
    counted = on_time = 0
    for rec, progress in members:
        due_default = progress.due_at_override or rec.structure.due_at
        steps = {s.step_id: s for s in rec.steps}
        for definition in rec.structure.steps:
            if definition.stage is not Stage.REVIEW or not definition.required:
                continue
            due = definition.due_at or due_default
            if due is None:
                continue
            step = steps.get(definition.step_id)
            done = step.completed_at if step is not None else None
            if done is not None:
                counted += 1
                on_time += done <= due
            elif due <= as_of:
                counted += 1
    return 100.0 * on_time / counted if counted else 100.0


# -- student composites -------------------------------------------------------------


def streak_days(activity_days: Iterable[date], *, as_of: datetime) -> int:
    """Consecutive UTC days with activity ending today or yesterday (D20);
    a streak reaching 0001-01-01, the calendar's first day, ends there.

    >>> from datetime import date, datetime, UTC
    >>> now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    >>> streak_days([date(2026, 3, 8), date(2026, 3, 9)], as_of=now)
    2
    >>> streak_days([date(2026, 3, 7)], as_of=now)
    0
    """
    as_of = utc_argument("as_of", as_of)
    days = set(activity_days)
    today = as_of.date()
    if today in days:
        day = today
    elif today > date.min:
        day = today - _DAY
    else:
        return 0
    streak = 0
    while day in days:
        streak += 1
        if day == date.min:
            break  # the calendar's first day: the streak ends there
        day -= _DAY
    return streak


def engagement_score(
    *,
    last_activity_at: datetime | None,
    active_days_this_week: int,
    time_on_task_this_week_ms: int,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> float:
    """The composite engagement score, 0 to 100 (D20; decisions: engagement).

    ``100 * (0.40 * recency + 0.35 * frequency + 0.25 * time)`` where recency
    falls linearly from 1 at the moment of the last activity to 0 at
    ``engagement_recency_days`` (0 when never active), frequency is the days
    with activity in the last 7 over ``engagement_target_active_days`` and
    time is this week's time on task over ``engagement_target_minutes``, both
    capped at 1. Weights and targets are in ``policy.rollups``.

    >>> from datetime import datetime, UTC
    >>> now = datetime(2026, 3, 10, tzinfo=UTC)
    >>> engagement_score(last_activity_at=now, active_days_this_week=5,
    ...                  time_on_task_this_week_ms=120 * 60_000, as_of=now)
    100.0
    >>> engagement_score(last_activity_at=None, active_days_this_week=0,
    ...                  time_on_task_this_week_ms=0, as_of=now)
    0.0
    """
    p = policy.rollups
    if last_activity_at is None:
        recency = 0.0
    else:
        days = max((as_of - last_activity_at) / _DAY, 0.0)
        recency = max(0.0, 1.0 - days / p.engagement_recency_days)
    frequency = min(active_days_this_week / p.engagement_target_active_days, 1.0)
    minutes = time_on_task_this_week_ms / 60_000
    time = min(minutes / p.engagement_target_minutes, 1.0)
    score = 100.0 * (
        p.engagement_recency_weight * recency
        + p.engagement_frequency_weight * frequency
        + p.engagement_time_weight * time
    )
    return min(max(score, 0.0), 100.0)


# -- trends ------------------------------------------------------------------------


class TrendPeriod(enum.StrEnum):
    """The spec's trend graph periods (Organization Dashboard)."""

    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


_FIRST_WEEK_RULE = "D21: its trend week, from Sunday, starts on or after 0001-01-07"

_PERIOD_LENGTH: Mapping[TrendPeriod, relativedelta] = {
    TrendPeriod.WEEK: relativedelta(weeks=1),
    TrendPeriod.MONTH: relativedelta(months=1),
    TrendPeriod.QUARTER: relativedelta(months=3),
}


def period_start(moment: datetime, period: TrendPeriod) -> datetime:
    """Start of the calendar period holding ``moment`` (UTC). Weeks start on
    Sunday 00:00, the weekly rollup time of D21; quarters in January, April,
    July and October. A week that would start before year 1 (a moment before
    Sunday 0001-01-07) is an :class:`InvalidInputError`.

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 5, 14, 15, tzinfo=UTC)  # a Thursday
    >>> [period_start(t, p).date().isoformat() for p in TrendPeriod]
    ['2026-05-10', '2026-05-01', '2026-04-01']
    """
    moment = utc_argument("moment", moment)
    return _period_start(moment, period, "moment")


def _period_start(moment: datetime, period: TrendPeriod, field: str) -> datetime:
    day = moment.date()
    if period is TrendPeriod.WEEK:
        back = (day.weekday() + 1) % 7
        if day.toordinal() <= back:
            raise InvalidInputError(field, moment, _FIRST_WEEK_RULE)
        day -= timedelta(days=back)
    elif period is TrendPeriod.MONTH:
        day = day.replace(day=1)
    else:
        day = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@attrs.frozen(kw_only=True)
class TrendSample:
    """One student's value of a metric in a period: that of the student's
    latest student-scope snapshot in the period."""

    period: TrendPeriod = attrs.field(validator=v.enum_of(TrendPeriod))
    period_start: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    metric: str = attrs.field(validator=v.identifier)
    value: float


@attrs.frozen(kw_only=True)
class TrendPoint:
    """One point of a trend graph: the mean of the students' samples."""

    period: TrendPeriod = attrs.field(validator=v.enum_of(TrendPeriod))
    period_start: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    period_end: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    metric: str = attrs.field(validator=v.identifier)
    students: int = attrs.field(validator=v.count)
    mean: float


def trend_samples(
    snapshots: Iterable[ProgressSnapshot], *, metrics: Iterable[str]
) -> tuple[TrendSample, ...]:
    """Per period and metric, the value of the latest student-scope snapshot.

    A snapshot dated before Sunday 0001-01-07 has no trend week: an
    :class:`InvalidInputError` (see :func:`period_start`).

    >>> trend_samples([], metrics=["mastery_score"])
    ()
    """
    wanted = tuple(metrics)
    latest: dict[
        tuple[TrendPeriod, datetime], tuple[datetime, str, ProgressSnapshot]
    ] = {}
    for snap in snapshots:
        if snap.scope_type is not ScopeType.STUDENT:
            continue
        for period in TrendPeriod:
            key = (period, _period_start(snap.snapshot_date, period, "snapshots"))
            found = latest.get(key)
            if found is None or (snap.snapshot_date, snap.snapshot_id) > found[:2]:
                latest[key] = (snap.snapshot_date, snap.snapshot_id, snap)
    samples = [
        TrendSample(
            period=period,
            period_start=start,
            metric=metric,
            value=float(found[2].metrics_snapshot[metric]),
        )
        for (period, start), found in sorted(latest.items())
        for metric in wanted
        if metric in found[2].metrics_snapshot
    ]
    return tuple(samples)


# -- one student -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StudentResult:
    """Everything a batch run computes for one student as of ``as_of``.

    ``assignments`` are those assigned by ``as_of``, recomputed;
    ``completion_percentage`` is the student-level completion (decisions:
    student-level metrics); ``worst_pacing`` is the least favourable pacing
    over active assignments (``None`` without one); ``risk`` carries the new
    :class:`RiskState`, the events and the intervention snapshot to write.
    """

    student_id: str
    organization_id: str
    class_ids: tuple[str, ...]
    as_of: datetime
    summary: StudentProgressSummary
    completion_percentage: float
    assignments: tuple[AssignmentProgress, ...]
    sequences: tuple[SequenceProgress, ...]
    risk: RiskUpdate
    worst_pacing: PacingStatus | None
    trends: tuple[TrendSample, ...] = ()

    @property
    def events(self) -> tuple[Event, ...]:
        return self.risk.events

    @property
    def snapshots(self) -> tuple[ProgressSnapshot, ...]:
        return self.risk.snapshots


def summarize_student(
    history: StudentHistory,
    *,
    as_of: datetime,
    run_id: str,
    policy: Policy = DEFAULT_POLICY,
    previous_risk: RiskState | None = None,
) -> StudentResult:
    """Roll up one student's records as of ``as_of`` (spec: Batch Updates).

    Cost is linear in the student's records. ``run_id`` prefixes the ids of
    events and snapshots, so re-running a run gives the same ids (D3);
    ``previous_risk`` is the stored at-risk state (D17). The summary's fields
    are defined in :func:`student_summary`.

    >>> from datetime import datetime, UTC
    >>> h = StudentHistory(student_id="u", organization_id="o")
    >>> r = summarize_student(h, as_of=datetime(2026, 1, 1, tzinfo=UTC), run_id="r")
    >>> r.summary.engagement_score, r.events
    (0.0, ())
    """
    as_of = utc_argument("as_of", as_of)
    sid = history.student_id
    assigned = [a for a in history.assignments if a.structure.created_at <= as_of]
    progress = {
        a.structure.assignment_id: a.current(student_id=sid, as_of=as_of, policy=policy)
        for a in assigned
    }
    records = {a.structure.assignment_id: a for a in assigned}
    active = [
        a
        for a in assigned
        if is_active_assignment(a.structure, progress[a.structure.assignment_id], as_of)
    ]

    sequences: list[SequenceProgress] = []
    for seq in history.sequences:
        computed = _sequence_progress(
            seq.structure,
            records,
            progress,
            student_id=sid,
            as_of=as_of,
            previous=seq.progress,
        )
        if computed is not None:
            sequences.append(computed)

    try:
        week_start = as_of - _WEEK
    except OverflowError:
        raise InvalidInputError(
            "as_of", as_of, "Q37: the trailing week reaches before year 1"
        ) from None
    steps = [s for a in assigned for s in a.steps]
    steps_this_week = sum(
        1
        for s in steps
        if s.completed_at is not None
        and week_start < s.completed_at <= as_of
        and s.completion_source is not CompletionSource.SYSTEM_MIGRATION
    )
    week_attempts = {
        a.attempt_id: a
        for a in history.attempts
        if a.assignment_id in records and week_start < a.attempted_at <= as_of
    }
    total_time = sum(p.time_on_task_ms for p in progress.values())
    week_time = min(sum(a.duration_ms for a in week_attempts.values()), total_time)

    last_activity: datetime | None = None
    days: set[date] = {d for d in history.activity_days if d <= as_of.date()}
    for moment in _activity_moments(steps, history.attempts):
        if moment <= as_of:
            days.add(moment.date())
            if last_activity is None or moment > last_activity:
                last_activity = moment
    today = as_of.date()
    active_days = sum(1 for d in days if today - 6 * _DAY <= d <= today)

    mastered = {
        concept
        for a in assigned
        for s in a.steps
        if s.attempt_count > 0 and s.mastery_level is MasteryLevel.MASTERED
        for concept in a.structure.step(s.step_id).concepts
    }
    for seq_progress in sequences:
        mastered.update(seq_progress.concepts_mastered)

    standings = [
        AssignmentStanding(
            structure=a.structure,
            progress=progress[a.structure.assignment_id],
            steps=a.steps,
        )
        for a in assigned
    ]
    assessment = detect_risk(
        standings,
        student_id=sid,
        as_of=as_of,
        policy=policy,
        last_activity_at=last_activity,
    )
    state = next_risk_state(previous_risk, assessment)
    summary = StudentProgressSummary(
        student_id=sid,
        organization_id=history.organization_id,
        active_assignments=len(active),
        completed_assignments=sum(
            1 for p in progress.values() if p.completed_at is not None
        ),
        total_time_on_task_ms=total_time,
        steps_completed_this_week=steps_this_week,
        time_on_task_this_week_ms=week_time,
        games_played_this_week=len(week_attempts),
        overall_mastery_score=_overall_mastery(assigned, progress, policy),
        concepts_mastered_count=len(mastered),
        badges_earned=_badges(progress.values(), sequences, policy),
        last_activity_at=last_activity,
        streak_days=streak_days(days, as_of=as_of),
        engagement_score=engagement_score(
            last_activity_at=last_activity,
            active_days_this_week=active_days,
            time_on_task_this_week_ms=week_time,
            as_of=as_of,
            policy=policy,
        ),
        at_risk=state.effective_at_risk,
        risk_factors=state.effective_factors,
    )
    update = risk_update(
        previous_risk, assessment, summary=summary, id_prefix=f"{run_id}/{sid}"
    )
    return StudentResult(
        student_id=sid,
        organization_id=history.organization_id,
        class_ids=history.class_ids,
        as_of=as_of,
        summary=summary,
        completion_percentage=student_completion(summary),
        assignments=tuple(progress[a.structure.assignment_id] for a in assigned),
        sequences=tuple(sequences),
        risk=update,
        worst_pacing=_least_favourable(
            progress[a.structure.assignment_id].pacing_status for a in active
        )
        if active
        else None,
        # Q147: the snapshots of the history as of its time.
        trends=trend_samples(
            (s for s in history.snapshots if s.snapshot_date <= as_of),
            metrics=policy.rollups.trend_metrics,
        ),
    )


def student_summary(
    history: StudentHistory,
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    risk_state: RiskState | None = None,
) -> StudentProgressSummary:
    """The :class:`StudentProgressSummary` of one student as of ``as_of``.

    - ``active_assignments``: assigned, not complete, not archived, with
      something left to do; ``completed_assignments``: ever completed;
    - this week is the trailing 7 days ``(as_of - 7 days, as_of]``: steps
      completed in it (not by migration), time and games (attempts) in it;
    - ``overall_mastery_score``: the started assignments' mastery scores
      weighted by their required stage weight (D12);
    - ``concepts_mastered_count``: concepts with a mastered step, or kept
      mastered by a sequence;
    - ``badges_earned``: completed assignments with mastery at least
      ``badge_mastery_min``, plus completed sequences;
    - ``streak_days`` (D20) and ``engagement_score`` (:func:`engagement_score`);
    - ``at_risk`` and ``risk_factors``: D17, unless a teacher dismissed the
      flag (``risk_state``).

    >>> from datetime import datetime, UTC
    >>> h = StudentHistory(student_id="u", organization_id="o")
    >>> student_summary(h, as_of=datetime(2026, 1, 1, tzinfo=UTC)).streak_days
    0
    """
    return summarize_student(
        history,
        as_of=as_of,
        run_id="summary",
        policy=policy,
        previous_risk=risk_state,
    ).summary


def _activity_moments(
    steps: Iterable[StepProgress], attempts: Iterable[Attempt]
) -> Iterable[datetime]:
    for s in steps:
        if s.started_at is not None:
            yield s.started_at
        if s.last_activity_at is not None:
            yield s.last_activity_at
    for a in attempts:
        yield a.attempted_at


def _overall_mastery(
    assigned: list[AssignmentRecords],
    progress: Mapping[str, AssignmentProgress],
    policy: Policy,
) -> float:
    weighted = total = 0.0
    for a in assigned:
        p = progress[a.structure.assignment_id]
        if p.started_at is None:
            continue
        w = math.fsum(
            policy.stage_weights.weight(d.stage) for d in a.structure.required_steps
        )
        weighted += w * p.mastery_score
        total += w
    return min(max(weighted / total, 0.0), 100.0) if total else 0.0


def _badges(
    progress: Iterable[AssignmentProgress],
    sequences: Iterable[SequenceProgress],
    policy: Policy,
) -> int:
    assignments = sum(
        1
        for p in progress
        if p.completed_at is not None
        and p.mastery_score >= policy.rollups.badge_mastery_min
    )
    return assignments + sum(
        1 for s in sequences if s.assignments_completed == s.assignments_total
    )


# -- scheduled snapshots -----------------------------------------------------------


def _slot_text(slot: datetime) -> str:
    """The slot in snapshot ids, four-digit years so ids sort as times do
    (``strftime("%Y")`` writes year 1 as ``1``).

    >>> from datetime import UTC, datetime
    >>> _slot_text(datetime(1, 1, 9, tzinfo=UTC))
    '0001-01-09T00:00Z'
    """
    return f"{slot.year:04d}-{slot:%m-%dT%H:%M}Z"


def daily_snapshots(
    history: StudentHistory, result: StudentResult, *, slot: datetime
) -> tuple[ProgressSnapshot, ...]:
    """The daily snapshots of one student at ``slot`` (00:00 UTC; D21), all
    with trigger ``scheduled``: the student summary; every assignment in
    progress or completed in the day before ``slot``; every step with
    activity or completion in that day; every sequence not yet complete or
    completed in that day. Ids are derived from the slot, so a re-run writes
    the same snapshots.

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> h = StudentHistory(student_id="u", organization_id="o")
    >>> r = summarize_student(h, as_of=t, run_id="r")
    >>> [s.scope_type.value for s in daily_snapshots(h, r, slot=t)]
    ['student']
    """
    slot = utc_argument("slot", slot)
    if result.student_id != history.student_id:
        raise InvalidInputError(
            "result", result.student_id, f"the result of {history.student_id!r}"
        )
    base = f"scheduled/daily/{_slot_text(slot)}/{history.student_id}"

    def in_day(t: datetime | None) -> bool:
        # (slot - 1 day, slot], by difference: at 0001-01-01 the day before
        # the slot has no start date, and needs none.
        return t is not None and _NO_TIME <= slot - t < _DAY

    out = [
        student_snapshot(
            result.summary,
            snapshot_id=f"{base}/student/{history.student_id}",
            snapshot_date=slot,
            trigger=SnapshotTrigger.SCHEDULED,
            notes="daily",
        )
    ]
    by_id = {a.structure.assignment_id: a for a in history.assignments}
    time_by_id: dict[str, int] = {}
    for p in result.assignments:
        time_by_id[p.assignment_id] = p.time_on_task_ms
        rec = by_id[p.assignment_id]
        if p.status is AssignmentStatus.IN_PROGRESS or in_day(p.completed_at):
            out.append(
                assignment_snapshot(
                    p,
                    rec.steps,
                    snapshot_id=f"{base}/assignment/{p.assignment_id}",
                    snapshot_date=slot,
                    trigger=SnapshotTrigger.SCHEDULED,
                    notes="daily",
                )
            )
        for step in rec.steps:
            if in_day(step.last_activity_at) or in_day(step.completed_at):
                out.append(
                    step_snapshot(
                        step,
                        snapshot_id=f"{base}/step/{p.assignment_id}/{step.step_id}",
                        snapshot_date=slot,
                        trigger=SnapshotTrigger.SCHEDULED,
                        notes="daily",
                    )
                )
    members = {s.structure.sequence_id: s.structure for s in history.sequences}
    for seq in result.sequences:
        if seq.completion_percentage < 100.0 or in_day(seq.estimated_completion_date):
            ids = members[seq.sequence_id].assignment_ids
            out.append(
                sequence_snapshot(
                    seq,
                    time_on_task_ms=sum(time_by_id.get(aid, 0) for aid in ids),
                    snapshot_id=f"{base}/sequence/{seq.sequence_id}",
                    snapshot_date=slot,
                    trigger=SnapshotTrigger.SCHEDULED,
                    notes="daily",
                )
            )
    return tuple(out)


def weekly_rollup_snapshot(
    result: StudentResult, *, slot: datetime
) -> ProgressSnapshot:
    """The weekly rollup of one student at ``slot`` (Sunday 00:00 UTC; spec:
    Weekly rollup): a student-scope snapshot with trigger ``scheduled`` and
    notes ``weekly_rollup``. Computed as of the slot, its this-week figures
    cover exactly the week that just ended.

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 1, 4, tzinfo=UTC)
    >>> h = StudentHistory(student_id="u", organization_id="o")
    >>> r = summarize_student(h, as_of=t, run_id="r")
    >>> weekly_rollup_snapshot(r, slot=t).notes
    'weekly_rollup'
    """
    slot = utc_argument("slot", slot)
    sid = result.student_id
    return student_snapshot(
        result.summary,
        snapshot_id=f"scheduled/weekly/{_slot_text(slot)}/{sid}/student/{sid}",
        snapshot_date=slot,
        trigger=SnapshotTrigger.SCHEDULED,
        notes="weekly_rollup",
    )


# -- classes and organizations -----------------------------------------------------


@attrs.frozen(kw_only=True)
class Histogram:
    """Counts of values in buckets of ``bucket_points``: bucket ``i`` holds
    ``[i * w, (i + 1) * w)``, the last one also 100.

    >>> Histogram.empty(10).add(100.0).add(5.0).counts
    (1, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    """

    bucket_points: int = attrs.field(validator=v.count)
    counts: tuple[int, ...]

    def __attrs_post_init__(self) -> None:
        if (
            self.bucket_points <= 0
            or 100 % self.bucket_points
            or len(self.counts) != 100 // self.bucket_points
        ):
            raise InvalidInputError(
                "counts", self.counts, "one count per bucket of a width dividing 100"
            )

    @classmethod
    def empty(cls, bucket_points: int) -> Histogram:
        return cls(bucket_points=bucket_points, counts=(0,) * (100 // bucket_points))

    def bucket_of(self, value: float) -> int:
        return min(int(max(value, 0.0) // self.bucket_points), len(self.counts) - 1)

    def add(self, value: float) -> Histogram:
        i = self.bucket_of(value)
        counts = list(self.counts)
        counts[i] += 1
        return attrs.evolve(self, counts=tuple(counts))

    @property
    def total(self) -> int:
        return sum(self.counts)


@attrs.frozen(kw_only=True)
class PacingCounts:
    """Students by the least favourable pacing of their active assignments;
    ``without_active`` have none."""

    ahead: int = attrs.field(default=0, validator=v.count)
    on_track: int = attrs.field(default=0, validator=v.count)
    behind: int = attrs.field(default=0, validator=v.count)
    at_risk: int = attrs.field(default=0, validator=v.count)
    without_active: int = attrs.field(default=0, validator=v.count)


@attrs.frozen(kw_only=True)
class AssignmentEffectiveness:
    """How an assignment works across students (spec: Content effectiveness):
    students assigned it (archived excluded), how many completed it, and the
    mean completion and mastery."""

    assignment_id: str = attrs.field(validator=v.identifier)
    students: int = attrs.field(validator=v.count)
    completed: int = attrs.field(validator=v.count)
    completion_rate: float = attrs.field(validator=v.percentage)
    mean_completion: float = attrs.field(validator=v.percentage)
    mean_mastery: float = attrs.field(validator=v.score)


@attrs.frozen(kw_only=True)
class SequenceEffectiveness:
    """How a sequence works across the students who started it."""

    sequence_id: str = attrs.field(validator=v.identifier)
    students: int = attrs.field(validator=v.count)
    completed: int = attrs.field(validator=v.count)
    completion_rate: float = attrs.field(validator=v.percentage)
    mean_completion: float = attrs.field(validator=v.percentage)
    mean_mastery: float = attrs.field(validator=v.score)


@attrs.frozen(kw_only=True)
class ProgressFigures:
    """The figures of a group of students that the teacher's class overview
    and the admin's organization dashboard show (spec: Teacher and Admin
    Progress Views). Means are over students; 0.0 for an empty group.

    ``active_students`` had activity in the trailing ``active_user_days``
    (7); ``started_students`` have any activity at all, and
    ``mean_mastery_started`` is their mean overall mastery (students who
    never started would drag it to 0, Q32); ``completion_rate`` is the
    percent of current and completed assignments that are complete;
    ``students_on_streak`` have a streak of at least
    ``streak_persistence_days``; ``at_risk_by_rule`` counts effective flags
    by factor kind; ``dismissed_flags`` counts flags a teacher dismissed.
    """

    students: int = attrs.field(default=0, validator=v.count)
    active_students: int = attrs.field(default=0, validator=v.count)
    started_students: int = attrs.field(default=0, validator=v.count)
    active_assignments: int = attrs.field(default=0, validator=v.count)
    completed_assignments: int = attrs.field(default=0, validator=v.count)
    completion_rate: float = attrs.field(default=0.0, validator=v.percentage)
    mean_completion: float = attrs.field(default=0.0, validator=v.percentage)
    mean_mastery: float = attrs.field(default=0.0, validator=v.score)
    mean_mastery_started: float = attrs.field(default=0.0, validator=v.score)
    mean_engagement: float = attrs.field(default=0.0, validator=v.percentage)
    mean_streak_days: float = attrs.field(default=0.0, validator=v.ratio)
    students_on_streak: int = attrs.field(default=0, validator=v.count)
    time_on_task_ms: int = attrs.field(default=0, validator=v.duration_ms)
    time_on_task_this_week_ms: int = attrs.field(default=0, validator=v.duration_ms)
    steps_completed_this_week: int = attrs.field(default=0, validator=v.count)
    games_played_this_week: int = attrs.field(default=0, validator=v.count)
    at_risk_students: int = attrs.field(default=0, validator=v.count)
    at_risk_by_rule: RuleCounts = attrs.field(factory=RuleCounts)
    dismissed_flags: int = attrs.field(default=0, validator=v.count)
    pacing: PacingCounts = attrs.field(factory=PacingCounts)
    completion_distribution: Histogram = attrs.field(
        factory=lambda: Histogram.empty(10)
    )
    mastery_distribution: Histogram = attrs.field(factory=lambda: Histogram.empty(10))
    assignments: tuple[AssignmentEffectiveness, ...] = ()
    sequences: tuple[SequenceEffectiveness, ...] = ()


@attrs.frozen(kw_only=True)
class ClassSummary:
    """A class's figures as of ``as_of`` (spec: Class summaries)."""

    class_id: str = attrs.field(validator=v.identifier)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    figures: ProgressFigures


@attrs.frozen(kw_only=True)
class OrganizationDashboard:
    """An organization's figures, its classes side by side, and trends
    (spec: Organization Dashboard)."""

    organization_id: str = attrs.field(validator=v.identifier)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    figures: ProgressFigures
    classes: tuple[ClassSummary, ...] = ()
    trends: tuple[TrendPoint, ...] = ()


class _Tally:
    """Running sums of a group of students; O(assignments + sequences)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy.rollups
        self.active_window = timedelta(days=self.policy.active_user_days)
        width = self.policy.distribution_bucket_points
        self.students = 0
        self.active_students = 0
        self.started_students = 0
        self.sum_mastery_started = 0.0
        self.active_assignments = 0
        self.completed_assignments = 0
        self.sum_completion = 0.0
        self.sum_mastery = 0.0
        self.sum_engagement = 0.0
        self.sum_streak = 0
        self.on_streak = 0
        self.time = 0
        self.time_week = 0
        self.steps_week = 0
        self.games_week = 0
        self.at_risk = 0
        self.by_rule = RuleCounts()
        self.dismissed = 0
        self.pacing: dict[str, int] = {}
        self.completion = [0] * (100 // width)
        self.mastery = [0] * (100 // width)
        # id -> [students, completed, sum completion, sum mastery]
        self.content: dict[str, list[float]] = {}
        self.sequence: dict[str, list[float]] = {}

    def add(self, r: StudentResult) -> None:
        s = r.summary
        self.students += 1
        last = s.last_activity_at
        if last is not None:
            self.started_students += 1
            self.sum_mastery_started += s.overall_mastery_score
            # (as_of - window, as_of], by difference: near year 1 the
            # window's start has no date, and needs none.
            if _NO_TIME <= r.as_of - last < self.active_window:
                self.active_students += 1
        self.active_assignments += s.active_assignments
        self.completed_assignments += s.completed_assignments
        self.sum_completion += r.completion_percentage
        self.sum_mastery += s.overall_mastery_score
        self.sum_engagement += s.engagement_score
        self.sum_streak += s.streak_days
        self.on_streak += s.streak_days >= self.policy.streak_persistence_days
        self.time += s.total_time_on_task_ms
        self.time_week += s.time_on_task_this_week_ms
        self.steps_week += s.steps_completed_this_week
        self.games_week += s.games_played_this_week
        state = r.risk.state
        if state.effective_at_risk:
            self.at_risk += 1
            self.by_rule = self.by_rule.plus(state.rules)
        if state.dismissal is not None:
            self.dismissed += 1
        key = r.worst_pacing.value if r.worst_pacing is not None else "without_active"
        self.pacing[key] = self.pacing.get(key, 0) + 1
        width = self.policy.distribution_bucket_points
        last_bucket = len(self.completion) - 1
        self.completion[min(int(r.completion_percentage // width), last_bucket)] += 1
        self.mastery[min(int(s.overall_mastery_score // width), last_bucket)] += 1
        for p in r.assignments:
            if p.status is AssignmentStatus.ARCHIVED:
                continue
            row = self.content.setdefault(p.assignment_id, [0, 0, 0.0, 0.0])
            row[0] += 1
            row[1] += p.completed_at is not None
            row[2] += p.completion_percentage
            row[3] += p.mastery_score
        for q in r.sequences:
            row = self.sequence.setdefault(q.sequence_id, [0, 0, 0.0, 0.0])
            row[0] += 1
            row[1] += q.assignments_completed == q.assignments_total
            row[2] += q.completion_percentage
            row[3] += q.overall_mastery_score

    def figures(self) -> ProgressFigures:
        n = self.students
        current = self.active_assignments + self.completed_assignments
        width = self.policy.distribution_bucket_points
        return ProgressFigures(
            students=n,
            active_students=self.active_students,
            started_students=self.started_students,
            active_assignments=self.active_assignments,
            completed_assignments=self.completed_assignments,
            completion_rate=100.0 * self.completed_assignments / current
            if current
            else 0.0,
            mean_completion=_mean(self.sum_completion, n, 100.0),
            mean_mastery=_mean(self.sum_mastery, n, 100.0),
            mean_mastery_started=_mean(
                self.sum_mastery_started, self.started_students, 100.0
            ),
            mean_engagement=_mean(self.sum_engagement, n, 100.0),
            mean_streak_days=self.sum_streak / n if n else 0.0,
            students_on_streak=self.on_streak,
            time_on_task_ms=self.time,
            time_on_task_this_week_ms=self.time_week,
            steps_completed_this_week=self.steps_week,
            games_played_this_week=self.games_week,
            at_risk_students=self.at_risk,
            at_risk_by_rule=self.by_rule,
            dismissed_flags=self.dismissed,
            pacing=PacingCounts(**self.pacing),
            completion_distribution=Histogram(
                bucket_points=width, counts=tuple(self.completion)
            ),
            mastery_distribution=Histogram(
                bucket_points=width, counts=tuple(self.mastery)
            ),
            assignments=tuple(
                AssignmentEffectiveness(
                    assignment_id=aid,
                    students=int(row[0]),
                    completed=int(row[1]),
                    completion_rate=_mean(100.0 * row[1], int(row[0]), 100.0),
                    mean_completion=_mean(row[2], int(row[0]), 100.0),
                    mean_mastery=_mean(row[3], int(row[0]), 100.0),
                )
                for aid, row in sorted(self.content.items())
            ),
            sequences=tuple(
                SequenceEffectiveness(
                    sequence_id=qid,
                    students=int(row[0]),
                    completed=int(row[1]),
                    completion_rate=_mean(100.0 * row[1], int(row[0]), 100.0),
                    mean_completion=_mean(row[2], int(row[0]), 100.0),
                    mean_mastery=_mean(row[3], int(row[0]), 100.0),
                )
                for qid, row in sorted(self.sequence.items())
            ),
        )


def _mean(total: float, n: int, cap: float) -> float:
    return min(max(total / n, 0.0), cap) if n else 0.0


class ClassSummaryAccumulator:
    """Folds :class:`StudentResult` s of one class into a :class:`ClassSummary`.

    Add each student of the class once; memory does not grow with students.

    >>> from datetime import datetime, UTC
    >>> acc = ClassSummaryAccumulator(class_id="c",
    ...                               as_of=datetime(2026, 1, 1, tzinfo=UTC))
    >>> acc.result().figures.students
    0
    """

    def __init__(
        self,
        *,
        class_id: str,
        as_of: datetime,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        v.check_id_value("class_id", class_id)
        self.class_id = class_id
        self.as_of = utc_argument("as_of", as_of)
        self._tally = _Tally(policy)

    def add(self, result: StudentResult) -> None:
        """Fold one student; :class:`InvalidInputError` if not in the class."""
        if self.class_id not in result.class_ids:
            raise InvalidInputError(
                "class_ids", result.class_ids, f"a student of class {self.class_id!r}"
            )
        self._tally.add(result)

    def result(self) -> ClassSummary:
        return ClassSummary(
            class_id=self.class_id, as_of=self.as_of, figures=self._tally.figures()
        )


class OrganizationDashboardAccumulator:
    """Folds :class:`StudentResult` s of one organization into an
    :class:`OrganizationDashboard`, with every class it meets side by side
    and trend points from the students' trend samples.

    >>> from datetime import datetime, UTC
    >>> acc = OrganizationDashboardAccumulator(organization_id="o",
    ...     as_of=datetime(2026, 1, 1, tzinfo=UTC))
    >>> acc.result().classes
    ()
    """

    def __init__(
        self,
        *,
        organization_id: str,
        as_of: datetime,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        v.check_id_value("organization_id", organization_id)
        self.organization_id = organization_id
        self.as_of = utc_argument("as_of", as_of)
        self.policy = policy
        self._tally = _Tally(policy)
        self._classes: dict[str, ClassSummaryAccumulator] = {}
        self._trends: dict[tuple[str, TrendPeriod, datetime], list[float]] = {}
        # Each trend period's end, worked out once per period.
        self._ends: dict[tuple[TrendPeriod, datetime], datetime] = {}

    def add(self, result: StudentResult) -> None:
        """Fold one student; :class:`InvalidInputError` for another
        organization's student (D19) or a trend period ending after 9999
        (nothing is folded then)."""
        if result.organization_id != self.organization_id:
            raise InvalidInputError(
                "organization_id",
                result.organization_id,
                f"D19: a student of organization {self.organization_id!r}",
            )
        ends = self._ends
        for i, sample in enumerate(result.trends):
            key = (sample.period, sample.period_start)
            if key not in ends:
                ends[key] = _period_end(f"trends[{i}]", *key)
        self._tally.add(result)
        for class_id in dict.fromkeys(result.class_ids):
            acc = self._classes.get(class_id)
            if acc is None:
                acc = ClassSummaryAccumulator(
                    class_id=class_id, as_of=self.as_of, policy=self.policy
                )
                self._classes[class_id] = acc
            acc.add(result)
        for sample in result.trends:
            row = self._trends.setdefault(
                (sample.metric, sample.period, sample.period_start), [0.0, 0.0]
            )
            row[0] += 1
            row[1] += sample.value

    def result(self) -> OrganizationDashboard:
        return OrganizationDashboard(
            organization_id=self.organization_id,
            as_of=self.as_of,
            figures=self._tally.figures(),
            classes=tuple(self._classes[c].result() for c in sorted(self._classes)),
            trends=tuple(
                TrendPoint(
                    period=period,
                    period_start=start,
                    period_end=self._ends[period, start],
                    metric=metric,
                    students=int(row[0]),
                    mean=row[1] / row[0],
                )
                for (metric, period, start), row in sorted(self._trends.items())
            ),
        )


def _period_end(field: str, period: TrendPeriod, start: datetime) -> datetime:
    """The end of the trend period from ``start``; one ending after
    9999-12-31 has no date (an :class:`InvalidInputError`)."""
    try:
        return start + _PERIOD_LENGTH[period]
    except (OverflowError, ValueError):  # dateutil: ValueError past year 9999
        raise InvalidInputError(
            field, start, f"Q146: a trend {period.value} ends before year 10000"
        ) from None


def class_summary(
    results: Iterable[StudentResult],
    *,
    class_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> ClassSummary:
    """Fold a class's student results (a stream is fine) into its summary.

    >>> from datetime import datetime, UTC
    >>> class_summary([], class_id="c",
    ...               as_of=datetime(2026, 1, 1, tzinfo=UTC)).figures.mean_mastery
    0.0
    """
    acc = ClassSummaryAccumulator(class_id=class_id, as_of=as_of, policy=policy)
    for result in results:
        acc.add(result)
    return acc.result()


def organization_dashboard(
    results: Iterable[StudentResult],
    *,
    organization_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> OrganizationDashboard:
    """Fold an organization's student results (a stream) into its dashboard.

    >>> from datetime import datetime, UTC
    >>> organization_dashboard([], organization_id="o",
    ...     as_of=datetime(2026, 1, 1, tzinfo=UTC)).figures.students
    0
    """
    acc = OrganizationDashboardAccumulator(
        organization_id=organization_id, as_of=as_of, policy=policy
    )
    for result in results:
        acc.add(result)
    return acc.result()


register_enums(TrendPeriod)

for _cls in (
    SequenceRecords,
    StudentHistory,
    TrendSample,
    TrendPoint,
    StudentResult,
    Histogram,
    PacingCounts,
    AssignmentEffectiveness,
    SequenceEffectiveness,
    ProgressFigures,
    ClassSummary,
    OrganizationDashboard,
):
    attrs.resolve_types(_cls)
