"""The batch schedule of D21: what is due at t, and when each job is next due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import InvalidInputError, Policy, structure
from mlc_progress._policy import SchedulePolicy
from mlc_progress._schedule import (
    DueJob,
    Job,
    JobKind,
    due_jobs,
    latest_slot,
    next_due,
)

# Thursday 2026-03-12, 09:17 UTC.
NOW = datetime(2026, 3, 12, 9, 17, tzinfo=UTC)


def job(kind: JobKind, target: str = "x") -> Job:
    return Job(kind=kind, target_id=target)


@pytest.mark.parametrize(
    ("kind", "activity", "expected"),
    [
        (JobKind.STUDENT_SUMMARY, NOW - timedelta(hours=1), NOW + timedelta(minutes=5)),
        (JobKind.STUDENT_SUMMARY, NOW - timedelta(days=2), NOW + timedelta(hours=1)),
        (JobKind.STUDENT_SUMMARY, None, NOW + timedelta(hours=1)),
        (JobKind.CLASS_SUMMARY, None, NOW + timedelta(minutes=15)),
        (JobKind.ORGANIZATION_DASHBOARD, None, NOW + timedelta(hours=1)),
        (JobKind.DAILY_SNAPSHOT, None, datetime(2026, 3, 13, tzinfo=UTC)),
        (JobKind.WEEKLY_ROLLUP, None, datetime(2026, 3, 15, tzinfo=UTC)),
    ],
)
def test_next_due_follows_d21(
    kind: JobKind, activity: datetime | None, expected: datetime
) -> None:
    """Student summaries every 5 min when active in 24 h, else hourly; classes
    every 15 min; dashboards hourly; snapshots at 00:00 UTC; the weekly
    rollup on Sunday 00:00 UTC."""
    assert (
        next_due(job(kind), last_run=NOW, now=NOW, last_activity_at=activity)
        == expected
    )


def test_activity_exactly_24_hours_before_still_counts_as_active() -> None:
    """The active window is inclusive: last activity 24 h before the 5-minute mark."""
    activity = NOW + timedelta(minutes=5) - timedelta(hours=24)
    due = next_due(
        job(JobKind.STUDENT_SUMMARY), last_run=NOW, now=NOW, last_activity_at=activity
    )
    assert due == NOW + timedelta(minutes=5)
    earlier = activity - timedelta(microseconds=1)
    due = next_due(
        job(JobKind.STUDENT_SUMMARY), last_run=NOW, now=NOW, last_activity_at=earlier
    )
    assert due == NOW + timedelta(hours=1)


@pytest.mark.parametrize("kind", list(JobKind))
def test_a_job_never_run_is_due_now(kind: JobKind) -> None:
    """No last run: interval jobs are due now, clock jobs at their latest slot."""
    due = next_due(job(kind), last_run=None, now=NOW)
    assert due <= NOW
    assert job(kind) in {
        d.job
        for d in due_jobs(
            NOW,
            last_runs={},
            student_activity={"x": None},
            class_ids=["x"],
            organization_ids=["x"],
        )
    }


@pytest.mark.parametrize(
    ("kind", "at", "slot"),
    [
        (JobKind.DAILY_SNAPSHOT, NOW, datetime(2026, 3, 12, tzinfo=UTC)),
        (
            JobKind.DAILY_SNAPSHOT,
            datetime(2026, 3, 12, tzinfo=UTC),
            datetime(2026, 3, 12, tzinfo=UTC),
        ),
        (JobKind.WEEKLY_ROLLUP, NOW, datetime(2026, 3, 8, tzinfo=UTC)),
        (
            JobKind.WEEKLY_ROLLUP,
            datetime(2026, 3, 8, tzinfo=UTC),
            datetime(2026, 3, 8, tzinfo=UTC),
        ),
        (
            JobKind.WEEKLY_ROLLUP,
            datetime(2026, 3, 7, 23, 59, tzinfo=UTC),
            datetime(2026, 3, 1, tzinfo=UTC),
        ),
    ],
)
def test_latest_slot_is_the_last_occurrence_not_after(
    kind: JobKind, at: datetime, slot: datetime
) -> None:
    """A slot at exactly the time asked is that slot."""
    assert latest_slot(kind, at=at) == slot


def test_a_missed_clock_job_is_due_once_stamped_with_the_latest_slot() -> None:
    """Three days down: one daily snapshot is due, for today's 00:00."""
    org = job(JobKind.DAILY_SNAPSHOT, "org")
    last = datetime(2026, 3, 9, tzinfo=UTC)
    (due,) = [
        d
        for d in due_jobs(
            NOW, last_runs={org: last}, student_activity={}, organization_ids=["org"]
        )
        if d.job == org
    ]
    assert due == DueJob(
        job=org,
        due_at=datetime(2026, 3, 10, tzinfo=UTC),
        slot=datetime(2026, 3, 12, tzinfo=UTC),
    )


def test_due_jobs_lists_students_classes_then_organizations() -> None:
    """Every target gets its jobs; ones run recently are not due."""
    org = "org"
    last_runs = {
        job(JobKind.STUDENT_SUMMARY, "ada"): NOW - timedelta(minutes=6),
        job(JobKind.STUDENT_SUMMARY, "bob"): NOW - timedelta(minutes=6),
        job(JobKind.CLASS_SUMMARY, "c1"): NOW - timedelta(minutes=14),
        job(JobKind.ORGANIZATION_DASHBOARD, org): NOW - timedelta(minutes=61),
        job(JobKind.DAILY_SNAPSHOT, org): datetime(2026, 3, 12, tzinfo=UTC),
        job(JobKind.WEEKLY_ROLLUP, org): datetime(2026, 3, 8, tzinfo=UTC),
    }
    due = due_jobs(
        NOW,
        last_runs=last_runs,
        student_activity={"ada": NOW - timedelta(hours=2), "bob": None},
        class_ids=["c1"],
        organization_ids=[org],
    )
    assert [(d.job.kind.value, d.job.target_id) for d in due] == [
        ("student_summary", "ada"),
        ("organization_dashboard", org),
    ]


def test_a_custom_policy_moves_the_intervals_and_the_clock() -> None:
    """Intervals come from Policy, clock times from its schedule section."""
    policy = Policy(class_summary_minutes=30)
    assert next_due(
        job(JobKind.CLASS_SUMMARY), last_run=NOW, now=NOW, policy=policy
    ) == NOW + timedelta(minutes=30)
    monday_six = Policy(
        schedule=SchedulePolicy(snapshot_hour_utc=6, weekly_rollup_weekday=0)
    )
    assert next_due(
        job(JobKind.WEEKLY_ROLLUP), last_run=NOW, now=NOW, policy=monday_six
    ) == datetime(2026, 3, 16, 6, tzinfo=UTC)
    assert next_due(
        job(JobKind.DAILY_SNAPSHOT), last_run=NOW, now=NOW, policy=monday_six
    ) == datetime(2026, 3, 13, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    "changes",
    [
        {"snapshot_hour_utc": 24},
        {"weekly_rollup_weekday": 7},
        {"snapshot_hour_utc": True},
    ],
)
def test_schedule_policy_refuses_impossible_times(changes: dict[str, object]) -> None:
    """An hour is 0..23 and a weekday 0..6."""
    with pytest.raises(InvalidInputError):
        SchedulePolicy(**changes)  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    """D2: a naive now raises InvalidInputError naming the argument."""
    with pytest.raises(InvalidInputError) as error:
        next_due(job(JobKind.CLASS_SUMMARY), last_run=None, now=datetime(2026, 1, 1))
    assert error.value.field == "now"


def test_latest_slot_is_only_for_clock_jobs() -> None:
    """Interval jobs have no slots."""
    with pytest.raises(InvalidInputError):
        latest_slot(JobKind.CLASS_SUMMARY, at=NOW)


# -- laws ----------------------------------------------------------------------------

MOMENTS = st.integers(0, 3 * 366 * 24 * 60).map(
    lambda m: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=m, seconds=m % 7)
)
OFFSETS = st.integers(-3 * 24 * 60, 3 * 24 * 60).map(lambda m: timedelta(minutes=m))


@given(
    st.sampled_from(JobKind),
    MOMENTS,
    st.none() | OFFSETS,
    st.none() | OFFSETS,
)
def test_due_jobs_agrees_with_next_due(
    kind: JobKind,
    now: datetime,
    run_offset: timedelta | None,
    activity_offset: timedelta | None,
) -> None:
    """A job is in due_jobs(now) exactly when next_due is not after now."""
    target = job(kind)
    last_run = None if run_offset is None else now - abs(run_offset)
    activity = None if activity_offset is None else now + activity_offset
    last_runs = {} if last_run is None else {target: last_run}
    listed = {
        d.job
        for d in due_jobs(
            now,
            last_runs=last_runs,
            student_activity={"x": activity},
            class_ids=["x"],
            organization_ids=["x"],
        )
    }
    due = next_due(target, last_run=last_run, now=now, last_activity_at=activity)
    assert (target in listed) == (due <= now)


@given(st.sampled_from(JobKind), MOMENTS, st.none() | OFFSETS)
def test_a_job_just_run_is_next_due_after_now(
    kind: JobKind, now: datetime, activity_offset: timedelta | None
) -> None:
    """Right after a run, the next due time is in the future."""
    activity = None if activity_offset is None else now + activity_offset
    assert next_due(job(kind), last_run=now, now=now, last_activity_at=activity) > now


@given(st.sampled_from([JobKind.DAILY_SNAPSHOT, JobKind.WEEKLY_ROLLUP]), MOMENTS)
def test_clock_jobs_fall_on_their_occurrences(kind: JobKind, now: datetime) -> None:
    """Daily at 00:00 UTC; weekly on Sunday 00:00 UTC; at most a day or a week apart."""
    due = next_due(job(kind), last_run=now, now=now)
    assert (due.hour, due.minute, due.second, due.microsecond) == (0, 0, 0, 0)
    span = timedelta(days=1) if kind is JobKind.DAILY_SNAPSHOT else timedelta(days=7)
    assert now < due <= now + span
    if kind is JobKind.WEEKLY_ROLLUP:
        assert due.weekday() == 6
    assert latest_slot(kind, at=due) == due
    assert latest_slot(kind, at=now) <= now < due


def test_a_job_read_back_with_an_unknown_kind_names_the_field() -> None:
    """JobKind is structured by its spec strings only; the error names ``kind``."""
    with pytest.raises(InvalidInputError) as caught:
        structure({"kind": "hourly_cleanup", "target_id": "x"}, Job)
    assert caught.value.field == "kind"
    assert structure({"kind": "weekly_rollup", "target_id": "x"}, Job) == job(
        JobKind.WEEKLY_ROLLUP
    )
