"""The batch schedule: which jobs are due at a time t, and when each is next
due (D21; spec: Batch Updates).

Interval jobs (student summaries, class summaries, organization dashboards)
are due an interval after their last run; clock jobs (the daily snapshot at
00:00 UTC, the weekly rollup on Sunday 00:00 UTC) are due at each occurrence
of a ``dateutil.rrule`` after their last run. The library answers; the host's
scheduler runs the jobs and records their last runs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import attrs
from dateutil import rrule

from . import _validate as v
from ._errors import InvalidInputError
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy, check_policy
from ._serialization import register_enums

__all__ = [
    "DueJob",
    "Job",
    "JobKind",
    "due_jobs",
    "iter_due_jobs",
    "latest_slot",
    "next_due",
]


class JobKind(enum.StrEnum):
    """The batch jobs of D21; the target of each is named in :class:`Job`."""

    STUDENT_SUMMARY = "student_summary"
    CLASS_SUMMARY = "class_summary"
    ORGANIZATION_DASHBOARD = "organization_dashboard"
    DAILY_SNAPSHOT = "daily_snapshot"
    WEEKLY_ROLLUP = "weekly_rollup"


_CLOCK_JOBS = frozenset({JobKind.DAILY_SNAPSHOT, JobKind.WEEKLY_ROLLUP})


@attrs.frozen(kw_only=True)
class Job:
    """One job: its kind and its target (a student, class or organization
    id; clock jobs run over an organization)."""

    kind: JobKind = attrs.field(validator=v.enum_of(JobKind))
    target_id: str = attrs.field(validator=v.identifier)


@attrs.frozen(kw_only=True)
class DueJob:
    """A job due at the time asked: ``due_at`` is when it became due (its
    :func:`next_due`). For a clock job, ``slot`` is the latest occurrence not
    after that time: the run is stamped with it, and missed occurrences are
    not replayed one by one."""

    job: Job
    due_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    slot: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )


#: How far either side of a moment a clock job's rule reaches: it starts a
#: little over a week before (an rrule walks from its start, so a distant one
#: would cost a walk per call) and walks to the first slot after the moment.
SLOT_REACH = timedelta(days=8)

_REACHABLE = (
    datetime.min.replace(tzinfo=UTC) + SLOT_REACH,
    datetime.max.replace(tzinfo=UTC) - SLOT_REACH,
)


def _check_reach(field: str, at: datetime) -> None:
    """D21: the slots around ``at`` are dates of the calendar."""
    first, last = _REACHABLE
    if not first <= at <= last:
        raise InvalidInputError(
            field,
            at,
            f"D21: a clock job's slots are looked up {SLOT_REACH.days} days either"
            f" side of it, so from {first.isoformat()} to {last.isoformat()}",
        )


def _rule(kind: JobKind, around: datetime, policy: Policy) -> rrule.rrule:
    start = (around - SLOT_REACH).replace(hour=0, minute=0, second=0, microsecond=0)
    clock = policy.schedule
    hour = clock.snapshot_hour_utc
    if kind is JobKind.DAILY_SNAPSHOT:
        return rrule.rrule(
            rrule.DAILY, dtstart=start, byhour=hour, byminute=0, bysecond=0
        )
    return rrule.rrule(
        rrule.WEEKLY,
        dtstart=start,
        byweekday=rrule.weekdays[clock.weekly_rollup_weekday],
        byhour=hour,
        byminute=0,
        bysecond=0,
    )


def latest_slot(
    kind: JobKind,
    *,
    at: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> datetime:
    """The latest occurrence of a clock job not after ``at`` (D21); the
    clock times are ``policy.schedule``. An ``at`` within
    :data:`SLOT_REACH` of the calendar's first or last day raises
    :class:`InvalidInputError`.

    >>> from datetime import datetime, UTC
    >>> latest_slot(JobKind.WEEKLY_ROLLUP,
    ...             at=datetime(2026, 3, 12, 9, tzinfo=UTC)).isoformat()
    '2026-03-08T00:00:00+00:00'
    """
    at = utc_argument("at", at)
    check_policy(policy)
    if kind not in _CLOCK_JOBS:
        raise InvalidInputError("kind", kind, "D21: a clock job has slots")
    _check_reach("at", at)
    found = _rule(kind, at, policy).before(at, inc=True)
    assert found is not None  # the rule starts more than a week before ``at``
    return found


def next_due(
    job: Job,
    *,
    last_run: datetime | None,
    now: datetime,
    last_activity_at: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> datetime:
    """When ``job`` is next due, given its last run (D21).

    - student summary: ``student_summary_active_minutes`` after the last run
      while the student is active (activity in the last
      ``student_active_window_hours``, inclusive), else
      ``student_summary_inactive_minutes`` after it;
    - class summary and organization dashboard: their interval after it;
    - daily snapshot and weekly rollup: the first occurrence after it, at
      the clock times of ``policy.schedule``.

    A job never run is due at ``now`` (a clock job at its latest slot). The
    result may be before ``now``: the job is overdue. A job is due at ``now``
    exactly when this is not after ``now``. A clock job's ``last_run`` must
    be :data:`SLOT_REACH` from the calendar's ends (:func:`latest_slot`).

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 3, 12, 9, tzinfo=UTC)
    >>> job = Job(kind=JobKind.STUDENT_SUMMARY, target_id="u")
    >>> next_due(job, last_run=t, now=t, last_activity_at=t).isoformat()
    '2026-03-12T09:05:00+00:00'
    >>> next_due(job, last_run=t, now=t).isoformat()
    '2026-03-12T10:00:00+00:00'
    """
    if not isinstance(job, Job):
        raise InvalidInputError("job", job, "a Job")
    now = utc_argument("now", now)
    if last_run is not None:
        last_run = utc_argument("last_run", last_run)
    if last_activity_at is not None:
        last_activity_at = utc_argument("last_activity_at", last_activity_at)
    check_policy(policy)
    kind = job.kind
    if kind in _CLOCK_JOBS:
        if last_run is None:
            return latest_slot(kind, at=now, policy=policy)
        _check_reach("last_run", last_run)
        found = _rule(kind, last_run, policy).after(last_run)
        assert found is not None  # the rules are unbounded
        return found
    if last_run is None:
        return now
    if kind is JobKind.STUDENT_SUMMARY:
        soon = last_run + timedelta(minutes=policy.student_summary_active_minutes)
        window = timedelta(hours=policy.student_active_window_hours)
        if last_activity_at is not None and soon <= last_activity_at + window:
            return soon
        return last_run + timedelta(minutes=policy.student_summary_inactive_minutes)
    minutes = (
        policy.class_summary_minutes
        if kind is JobKind.CLASS_SUMMARY
        else policy.organization_dashboard_minutes
    )
    return last_run + timedelta(minutes=minutes)


def iter_due_jobs(
    now: datetime,
    *,
    last_runs: Mapping[Job, datetime],
    student_activity: Mapping[str, datetime | None],
    class_ids: Iterable[str] = (),
    organization_ids: Iterable[str] = (),
    policy: Policy = DEFAULT_POLICY,
) -> Iterator[DueJob]:
    """Yield the jobs due at ``now``, one at a time (see :func:`due_jobs`).
    Its arguments are checked when it is called."""
    now = utc_argument("now", now)
    check_policy(policy)
    for field, mapping in (
        ("last_runs", last_runs),
        ("student_activity", student_activity),
    ):
        if not isinstance(mapping, Mapping):
            raise InvalidInputError(field, mapping, "a mapping")
    for field, ids in (
        ("class_ids", class_ids),
        ("organization_ids", organization_ids),
    ):
        if isinstance(ids, str) or not isinstance(ids, Iterable):
            raise InvalidInputError(field, ids, "an iterable of ids, not one id")
    return _due(
        now, last_runs, _jobs(student_activity, class_ids, organization_ids), policy
    )


def _due(
    now: datetime,
    last_runs: Mapping[Job, datetime],
    jobs: Iterable[tuple[Job, datetime | None]],
    policy: Policy,
) -> Iterator[DueJob]:
    for job, activity in jobs:
        due = next_due(
            job,
            last_run=last_runs.get(job),
            now=now,
            last_activity_at=activity,
            policy=policy,
        )
        if due <= now:
            slot = (
                latest_slot(job.kind, at=now, policy=policy)
                if job.kind in _CLOCK_JOBS
                else None
            )
            yield DueJob(job=job, due_at=due, slot=slot)


def _jobs(
    student_activity: Mapping[str, datetime | None],
    class_ids: Iterable[str],
    organization_ids: Iterable[str],
) -> Iterator[tuple[Job, datetime | None]]:
    for student_id, activity in student_activity.items():
        yield Job(kind=JobKind.STUDENT_SUMMARY, target_id=student_id), activity
    for class_id in class_ids:
        yield Job(kind=JobKind.CLASS_SUMMARY, target_id=class_id), None
    for org in organization_ids:
        for kind in (
            JobKind.ORGANIZATION_DASHBOARD,
            JobKind.DAILY_SNAPSHOT,
            JobKind.WEEKLY_ROLLUP,
        ):
            yield Job(kind=kind, target_id=org), None


def due_jobs(
    now: datetime,
    *,
    last_runs: Mapping[Job, datetime],
    student_activity: Mapping[str, datetime | None],
    class_ids: Iterable[str] = (),
    organization_ids: Iterable[str] = (),
    policy: Policy = DEFAULT_POLICY,
) -> tuple[DueJob, ...]:
    """The jobs due at ``now`` (D21): a student summary for each student in
    ``student_activity`` (id to last activity), a class summary for each
    class, and for each organization its dashboard, daily snapshot and
    weekly rollup. ``last_runs`` holds the last run of each job (absent:
    never run). Order: students, classes, organizations, as given.

    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 3, 12, 9, tzinfo=UTC)
    >>> job = Job(kind=JobKind.CLASS_SUMMARY, target_id="c")
    >>> due_jobs(t, last_runs={job: t}, student_activity={}, class_ids=["c"])
    ()
    >>> [d.job.kind.value for d in due_jobs(t, last_runs={}, student_activity={},
    ...                                     class_ids=["c"])]
    ['class_summary']
    """
    return tuple(
        iter_due_jobs(
            now,
            last_runs=last_runs,
            student_activity=student_activity,
            class_ids=class_ids,
            organization_ids=organization_ids,
            policy=policy,
        )
    )


register_enums(JobKind)

for _cls in (Job, DueJob):
    attrs.resolve_types(_cls)
