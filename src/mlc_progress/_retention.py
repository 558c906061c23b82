"""Snapshot builders and the snapshot retention planner (pure; D22).

The builders turn one record into a :class:`ProgressSnapshot` of its scope
(spec: Progress Snapshot). The planner reads snapshots and a ``now`` and says
which to keep, which to drop and which to fold into an aggregate (spec:
Snapshot Retention Policy); the host applies the plan. Years and months are
calendar years and months (``dateutil.relativedelta``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from . import _validate as v
from ._enums import ScopeType, SnapshotTrigger, StepState
from ._errors import InvalidInputError
from ._events import ProgressSnapshotCreated
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from ._serialization import unstructure

__all__ = [
    "STEP_AGGREGATE",
    "FoldGroup",
    "RetentionPlan",
    "assignment_snapshot",
    "fold_snapshots",
    "is_step_aggregate",
    "plan_retention",
    "sequence_snapshot",
    "snapshot_created",
    "step_snapshot",
    "student_completion",
    "student_snapshot",
]

#: ``notes`` and ``state_snapshot["kind"]`` of an aggregate of step snapshots.
STEP_AGGREGATE = "step_aggregate"


# -- builders -------------------------------------------------------------------


def student_completion(summary: StudentProgressSummary) -> float:
    """A student's completion: percent of current and completed assignments
    that are complete; 0.0 with none (decisions: student-level metrics).

    >>> s = StudentProgressSummary(student_id="u", organization_id="o",
    ...                            active_assignments=3, completed_assignments=1)
    >>> student_completion(s)
    25.0
    """
    total = summary.active_assignments + summary.completed_assignments
    return 100.0 * summary.completed_assignments / total if total else 0.0


def student_snapshot(
    summary: StudentProgressSummary,
    *,
    snapshot_id: str,
    snapshot_date: datetime,
    trigger: SnapshotTrigger,
    notes: str | None = None,
) -> ProgressSnapshot:
    """A student-scope snapshot of a summary; ``mastery_score`` is the overall
    mastery and ``time_on_task_ms`` the total time.

    >>> from datetime import datetime, UTC
    >>> s = StudentProgressSummary(student_id="u", organization_id="o")
    >>> snap = student_snapshot(s, snapshot_id="x",
    ...     snapshot_date=datetime(2026, 9, 1, tzinfo=UTC),
    ...     trigger=SnapshotTrigger.SCHEDULED)
    >>> snap.scope_type, snap.metrics_snapshot["engagement_score"]
    (<ScopeType.STUDENT: 'student'>, 0.0)
    """
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=snapshot_date,
        student_id=summary.student_id,
        scope_type=ScopeType.STUDENT,
        scope_id=summary.student_id,
        state_snapshot=unstructure(summary),
        metrics_snapshot={
            "completion_percentage": student_completion(summary),
            "mastery_score": summary.overall_mastery_score,
            "time_on_task_ms": summary.total_time_on_task_ms,
            "active_assignments": summary.active_assignments,
            "completed_assignments": summary.completed_assignments,
            "steps_completed_this_week": summary.steps_completed_this_week,
            "time_on_task_this_week_ms": summary.time_on_task_this_week_ms,
            "games_played_this_week": summary.games_played_this_week,
            "concepts_mastered_count": summary.concepts_mastered_count,
            "badges_earned": summary.badges_earned,
            "streak_days": summary.streak_days,
            "engagement_score": summary.engagement_score,
            "at_risk": 1 if summary.at_risk else 0,
            "risk_factor_count": len(summary.risk_factors),
        },
        trigger=trigger,
        notes=notes,
    )


def assignment_snapshot(
    progress: AssignmentProgress,
    steps: Iterable[StepProgress],
    *,
    snapshot_id: str,
    snapshot_date: datetime,
    trigger: SnapshotTrigger,
    notes: str | None = None,
) -> ProgressSnapshot:
    """An assignment-scope snapshot, shaped like the real-time core's.

    >>> from datetime import datetime, UTC
    >>> p = AssignmentProgress(assignment_id="a", student_id="u")
    >>> assignment_snapshot(p, [], snapshot_id="x",
    ...     snapshot_date=datetime(2026, 9, 1, tzinfo=UTC),
    ...     trigger=SnapshotTrigger.SCHEDULED).scope_id
    'a'
    """
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=snapshot_date,
        student_id=progress.student_id,
        scope_type=ScopeType.ASSIGNMENT,
        scope_id=progress.assignment_id,
        state_snapshot={
            "assignment": unstructure(progress),
            "steps": [unstructure(s) for s in steps],
        },
        metrics_snapshot={
            "completion_percentage": progress.completion_percentage,
            "mastery_score": progress.mastery_score,
            "time_on_task_ms": progress.time_on_task_ms,
            "average_score": progress.average_score,
            "pass_rate": progress.pass_rate,
            "steps_completed": progress.steps_completed,
        },
        trigger=trigger,
        notes=notes,
    )


def step_snapshot(
    step: StepProgress,
    *,
    snapshot_id: str,
    snapshot_date: datetime,
    trigger: SnapshotTrigger,
    notes: str | None = None,
) -> ProgressSnapshot:
    """A step-scope snapshot: completion 100 or 0, mastery the best score.

    >>> from datetime import datetime, UTC
    >>> s = StepProgress(step_id="s", assignment_id="a", student_id="u",
    ...                  target_score=80)
    >>> step_snapshot(s, snapshot_id="x",
    ...     snapshot_date=datetime(2026, 9, 1, tzinfo=UTC),
    ...     trigger=SnapshotTrigger.SCHEDULED).state_snapshot["assignment_id"]
    'a'
    """
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=snapshot_date,
        student_id=step.student_id,
        scope_type=ScopeType.STEP,
        scope_id=step.step_id,
        state_snapshot=unstructure(step),
        metrics_snapshot={
            "completion_percentage": 100.0 if step.state is StepState.COMPLETE else 0.0,
            "mastery_score": step.best_score,
            "time_on_task_ms": step.time_on_task_ms,
            "attempt_count": step.attempt_count,
            "latest_score": step.latest_score,
        },
        trigger=trigger,
        notes=notes,
    )


def sequence_snapshot(
    progress: SequenceProgress,
    *,
    time_on_task_ms: int,
    snapshot_id: str,
    snapshot_date: datetime,
    trigger: SnapshotTrigger,
    notes: str | None = None,
) -> ProgressSnapshot:
    """A sequence-scope snapshot; ``time_on_task_ms`` is the time summed over
    the sequence's assignments (the record does not carry it).

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 9, 1, tzinfo=UTC)
    >>> p = SequenceProgress(sequence_id="q", student_id="u", started_at=t)
    >>> sequence_snapshot(p, time_on_task_ms=0, snapshot_id="x",
    ...     snapshot_date=t, trigger=SnapshotTrigger.SCHEDULED).scope_id
    'q'
    """
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=snapshot_date,
        student_id=progress.student_id,
        scope_type=ScopeType.SEQUENCE,
        scope_id=progress.sequence_id,
        state_snapshot=unstructure(progress),
        metrics_snapshot={
            "completion_percentage": progress.completion_percentage,
            "mastery_score": progress.overall_mastery_score,
            "time_on_task_ms": time_on_task_ms,
            "assignments_completed": progress.assignments_completed,
            "concepts_mastered_count": len(progress.concepts_mastered),
            "remediation_count": progress.remediation_count,
            "review_compliance_rate": progress.review_compliance_rate,
        },
        trigger=trigger,
        notes=notes,
    )


def snapshot_created(
    snapshot: ProgressSnapshot, *, event_id: str | None = None
) -> ProgressSnapshotCreated:
    """The ``progress_snapshot_created`` event of a snapshot (never sampled).

    ``event_id`` defaults to the snapshot id with ``/event`` appended, so a
    re-run of the same job gives the same id (D3).

    >>> from datetime import datetime, UTC
    >>> s = StudentProgressSummary(student_id="u", organization_id="o")
    >>> snap = student_snapshot(s, snapshot_id="x",
    ...     snapshot_date=datetime(2026, 9, 1, tzinfo=UTC),
    ...     trigger=SnapshotTrigger.SCHEDULED)
    >>> snapshot_created(snap).event_id
    'x/event'
    """
    metrics = snapshot.metrics_snapshot
    return ProgressSnapshotCreated(
        event_id=event_id or f"{snapshot.snapshot_id}/event",
        occurred_at=snapshot.snapshot_date,
        snapshot_id=snapshot.snapshot_id,
        student_id=snapshot.student_id,
        scope_type=snapshot.scope_type,
        scope_id=snapshot.scope_id,
        trigger=snapshot.trigger,
        completion_percentage=min(max(float(metrics["completion_percentage"]), 0), 100),
        mastery_score=min(max(float(metrics["mastery_score"]), 0), 100),
    )


# -- the plan -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FoldGroup:
    """Snapshots to replace by one aggregate snapshot of an assignment (D22).

    ``snapshot_ids`` are the step snapshots older than the step retention,
    plus any earlier aggregate of the same assignment, so each assignment
    keeps one aggregate. Build the aggregate with :func:`fold_snapshots`.
    """

    aggregate_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    snapshot_ids: tuple[str, ...] = attrs.field(validator=v.identifiers)

    def __attrs_post_init__(self) -> None:
        if not self.snapshot_ids or len(set(self.snapshot_ids)) != len(
            self.snapshot_ids
        ):
            raise InvalidInputError(
                "snapshot_ids", self.snapshot_ids, "D22: a fold has distinct sources"
            )


@attrs.frozen(kw_only=True)
class RetentionPlan:
    """What to keep, drop and fold as of ``as_of`` (D22).

    Every snapshot given to :func:`plan_retention` is in exactly one of
    ``keep``, ``drop`` or a fold group's ``snapshot_ids``. ``unfoldable`` lists
    kept step snapshots that are past retention but name no assignment, so
    they cannot be folded; a host should repair them (D18).
    """

    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    keep: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    drop: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    fold: tuple[FoldGroup, ...] = attrs.field(default=())
    unfoldable: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)

    def __attrs_post_init__(self) -> None:
        folded = [i for g in self.fold for i in g.snapshot_ids]
        every = [*self.keep, *self.drop, *folded]
        if len(set(every)) != len(every):
            raise InvalidInputError(
                "keep", self.keep, "D22: a snapshot is kept, dropped or folded, once"
            )
        if not set(self.unfoldable) <= set(self.keep):
            raise InvalidInputError(
                "unfoldable", self.unfoldable, "D22: unfoldable snapshots are kept"
            )

    @property
    def folded(self) -> tuple[str, ...]:
        """Ids of every snapshot a fold group replaces."""
        return tuple(i for g in self.fold for i in g.snapshot_ids)


def is_step_aggregate(snapshot: ProgressSnapshot) -> bool:
    """Whether ``snapshot`` is an aggregate that :func:`fold_snapshots` built."""
    return (
        snapshot.scope_type is ScopeType.ASSIGNMENT
        and snapshot.notes == STEP_AGGREGATE
        and snapshot.state_snapshot.get("kind") == STEP_AGGREGATE
    )


def plan_retention(
    snapshots: Iterable[ProgressSnapshot],
    *,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> RetentionPlan:
    """Plan snapshot retention as of ``now`` (D22).

    - step: kept for ``step_snapshot_retention_days``; older ones are folded
      into one aggregate per student and assignment (an assignment-scope
      snapshot, so it then ages like one); one already past the assignment
      retention is dropped, since its aggregate would be;
    - assignment: kept for ``assignment_snapshot_retention_years`` calendar
      years, then dropped;
    - sequence: kept for ``sequence_snapshot_retention_years``, then dropped;
    - student: kept forever; a *scheduled* one older than
      ``student_snapshot_thinning_years`` is dropped when a later scheduled
      snapshot of the same student exists in the same calendar month (UTC).
      Snapshots made by an event (intervention, milestone, manual) are the
      history of what happened and are never thinned.

    A snapshot exactly at a cutoff is kept. Snapshots of different students
    never interact, so a host can plan one student at a time.

    >>> from datetime import datetime, UTC
    >>> plan_retention([], now=datetime(2026, 1, 1, tzinfo=UTC)).keep
    ()
    """
    now = utc_argument("now", now)
    seen: set[str] = set()
    keep: list[str] = []
    drop: list[str] = []
    unfoldable: list[str] = []
    step_cutoff = now - timedelta(days=policy.step_snapshot_retention_days)
    assignment_cutoff = now - relativedelta(
        years=policy.assignment_snapshot_retention_years
    )
    sequence_cutoff = now - relativedelta(
        years=policy.sequence_snapshot_retention_years
    )
    thinning_cutoff = now - relativedelta(years=policy.student_snapshot_thinning_years)
    to_fold: dict[tuple[str, str], list[ProgressSnapshot]] = {}
    aggregates: dict[tuple[str, str], list[ProgressSnapshot]] = {}
    # The last scheduled student snapshot of each (student, month).
    month_last: dict[tuple[str, int, int], tuple[datetime, str]] = {}
    old_scheduled: list[ProgressSnapshot] = []

    for snap in snapshots:
        if snap.snapshot_id in seen:
            raise InvalidInputError(
                "snapshot_id", snap.snapshot_id, "D22: snapshot ids are unique"
            )
        seen.add(snap.snapshot_id)
        scope = snap.scope_type
        date = snap.snapshot_date
        if scope is ScopeType.STEP:
            if date >= step_cutoff:
                keep.append(snap.snapshot_id)
                continue
            if date < assignment_cutoff:
                # Its aggregate would already be past the assignment retention.
                drop.append(snap.snapshot_id)
                continue
            assignment_id = snap.state_snapshot.get("assignment_id")
            if isinstance(assignment_id, str) and assignment_id.strip():
                to_fold.setdefault((snap.student_id, assignment_id), []).append(snap)
            else:
                keep.append(snap.snapshot_id)
                unfoldable.append(snap.snapshot_id)
        elif scope is ScopeType.ASSIGNMENT:
            if date < assignment_cutoff:
                drop.append(snap.snapshot_id)
            elif is_step_aggregate(snap):
                aggregates.setdefault((snap.student_id, snap.scope_id), []).append(snap)
            else:
                keep.append(snap.snapshot_id)
        elif scope is ScopeType.SEQUENCE:
            (drop if date < sequence_cutoff else keep).append(snap.snapshot_id)
        else:
            if snap.trigger is not SnapshotTrigger.SCHEDULED:
                keep.append(snap.snapshot_id)
                continue
            month = (snap.student_id, date.year, date.month)
            candidate = (date, snap.snapshot_id)
            best = month_last.get(month)
            if best is None or candidate > best:
                month_last[month] = candidate
            if date < thinning_cutoff:
                old_scheduled.append(snap)
            else:
                keep.append(snap.snapshot_id)

    for snap in old_scheduled:
        date = snap.snapshot_date
        last = month_last[(snap.student_id, date.year, date.month)]
        (keep if last[1] == snap.snapshot_id else drop).append(snap.snapshot_id)

    groups: list[FoldGroup] = []
    for key, steps in to_fold.items():
        sources = [*aggregates.pop(key, []), *steps]
        sources.sort(key=lambda s: (s.snapshot_date, s.snapshot_id))
        ids = tuple(s.snapshot_id for s in sources)
        groups.append(
            FoldGroup(
                aggregate_id=_aggregate_id(key[0], key[1], ids),
                student_id=key[0],
                assignment_id=key[1],
                snapshot_ids=ids,
            )
        )
    for remaining in aggregates.values():
        keep.extend(s.snapshot_id for s in remaining)
    groups.sort(key=lambda g: (g.student_id, g.assignment_id))
    return RetentionPlan(
        as_of=now,
        keep=tuple(sorted(keep)),
        drop=tuple(sorted(drop)),
        fold=tuple(groups),
        unfoldable=tuple(sorted(unfoldable)),
    )


def _aggregate_id(student_id: str, assignment_id: str, ids: tuple[str, ...]) -> str:
    # Deterministic, so applying the same plan twice writes the same record.
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return f"{STEP_AGGREGATE}/{student_id}/{assignment_id}/{digest}"


def fold_snapshots(
    group: FoldGroup, snapshots: Iterable[ProgressSnapshot]
) -> ProgressSnapshot:
    """The aggregate snapshot that replaces ``group``'s sources (D22).

    ``snapshots`` are exactly the group's sources. The aggregate is an
    assignment-scope snapshot dated at the latest source, with trigger
    ``scheduled`` and notes ``step_aggregate``. Its state keeps, per step, the
    latest step snapshot (id, date, metrics, state); its metrics are the mean
    completion and mastery and the summed time of those latest steps, with
    ``steps`` and ``snapshot_count`` (how many step snapshots it stands for).
    Raises :class:`InvalidInputError` when the sources do not match.

    >>> from datetime import datetime, UTC
    >>> s = StepProgress(step_id="s", assignment_id="a", student_id="u",
    ...                  target_score=80)
    >>> snap = step_snapshot(s, snapshot_id="x",
    ...     snapshot_date=datetime(2026, 1, 1, tzinfo=UTC),
    ...     trigger=SnapshotTrigger.SCHEDULED)
    >>> plan = plan_retention([snap], now=datetime(2026, 6, 1, tzinfo=UTC))
    >>> fold_snapshots(plan.fold[0], [snap]).metrics_snapshot["snapshot_count"]
    1
    """
    sources = list(snapshots)
    ids = [s.snapshot_id for s in sources]
    if sorted(ids) != sorted(group.snapshot_ids):
        raise InvalidInputError(
            "snapshots", ids, f"D22: the sources of fold {group.aggregate_id!r}"
        )
    latest: dict[str, dict[str, Any]] = {}
    count = 0
    first: datetime | None = None
    for snap in sources:
        if snap.student_id != group.student_id:
            raise InvalidInputError(
                "student_id",
                snap.student_id,
                f"D22: the fold is of {group.student_id!r}",
            )
        if snap.scope_type is ScopeType.STEP:
            for key, number in snap.metrics_snapshot.items():
                if not (v._is_number(number) and v.finite(number)):
                    raise InvalidInputError(
                        f"metrics_snapshot.{key}",
                        number,
                        "D22: a folded metric is a number a float holds",
                    )
            entry = {
                "snapshot_id": snap.snapshot_id,
                "snapshot_date": unstructure(snap.snapshot_date),
                "metrics": dict(snap.metrics_snapshot),
                "state": dict(snap.state_snapshot),
            }
            _merge_step(latest, snap.scope_id, entry)
            count += 1
            start = snap.snapshot_date
        elif is_step_aggregate(snap) and snap.scope_id == group.assignment_id:
            state = snap.state_snapshot
            entries, earlier = _aggregate_content(state)
            for step_id, entry in entries.items():
                _merge_step(latest, step_id, entry)
            count += earlier
            start = _parse_time(state.get("period_start"), snap.snapshot_date)
        else:
            raise InvalidInputError(
                "snapshots",
                snap.snapshot_id,
                "D22: a fold takes step snapshots and its assignment's aggregates",
            )
        first = start if first is None or start < first else first
    end = max(s.snapshot_date for s in sources)
    n = len(latest)
    metrics = [e["metrics"] for e in latest.values()]
    return ProgressSnapshot(
        snapshot_id=group.aggregate_id,
        snapshot_date=end,
        student_id=group.student_id,
        scope_type=ScopeType.ASSIGNMENT,
        scope_id=group.assignment_id,
        state_snapshot={
            "kind": STEP_AGGREGATE,
            "assignment_id": group.assignment_id,
            "period_start": unstructure(first or end),
            "period_end": unstructure(end),
            "snapshot_count": count,
            "steps": {k: latest[k] for k in sorted(latest)},
        },
        metrics_snapshot={
            "completion_percentage": _mean(metrics, "completion_percentage"),
            "mastery_score": _mean(metrics, "mastery_score"),
            "time_on_task_ms": sum(int(m.get("time_on_task_ms", 0)) for m in metrics),
            "steps": n,
            "snapshot_count": count,
        },
        trigger=SnapshotTrigger.SCHEDULED,
        notes=STEP_AGGREGATE,
    )


def _aggregate_content(
    state: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], int]:
    """A stored aggregate's step entries and snapshot count, checked (D18).

    Stored data may be corrupt: ``steps`` must map step ids to entries whose
    ``metrics`` are finite numbers, ``snapshot_count`` must be a count;
    anything else raises :class:`InvalidInputError` naming the field.
    """
    steps = state.get("steps", {})
    if not isinstance(steps, Mapping):
        raise InvalidInputError(
            "state_snapshot.steps", steps, "D22: an aggregate maps step ids to entries"
        )
    entries: dict[str, dict[str, Any]] = {}
    for step_id, entry in steps.items():
        metrics = entry.get("metrics") if isinstance(entry, Mapping) else None
        if not (
            isinstance(step_id, str)
            and isinstance(metrics, Mapping)
            and all(v._is_number(x) and v.finite(x) for x in metrics.values())
        ):
            raise InvalidInputError(
                f"state_snapshot.steps[{step_id!r}]",
                entry,
                "D22: an aggregate's entry holds its step's metrics, finite numbers",
            )
        entries[step_id] = dict(entry)
    count = state.get("snapshot_count", 0)
    v.check_count_value("state_snapshot.snapshot_count", count)
    return entries, count


def _merge_step(
    latest: dict[str, dict[str, Any]], step_id: str, entry: dict[str, Any]
) -> None:
    """Keep the later of two entries for a step, by (date, id)."""
    current = latest.get(step_id)
    if current is None or _entry_key(entry) > _entry_key(current):
        latest[step_id] = entry


def _entry_key(entry: Mapping[str, Any]) -> tuple[datetime, str]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return (
        _parse_time(entry.get("snapshot_date"), epoch),
        str(entry.get("snapshot_id", "")),
    )


def _mean(metrics: list[Mapping[str, Any]], key: str) -> float:
    if not metrics:
        return 0.0
    values = [float(m.get(key, 0.0)) for m in metrics]
    try:
        mean = math.fsum(values) / len(values)
    except OverflowError:  # a sum past float's range; the mean is not
        mean = math.fsum(x / len(values) for x in values)
    return min(max(mean, 0.0), 100.0)


def _parse_time(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        if parsed.utcoffset() is not None:
            return v.to_utc(parsed)
    return default


for _cls in (FoldGroup, RetentionPlan):
    attrs.resolve_types(_cls)
