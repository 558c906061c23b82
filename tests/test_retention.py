"""Snapshot retention (D22): the plan keeps, drops and folds as the policy
says, in calendar years and months; folding builds one aggregate per
assignment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    InvalidInputError,
    Policy,
    ProgressSnapshot,
    ScopeType,
    SnapshotTrigger,
    StepProgress,
    StepState,
)
from mlc_progress._retention import (
    STEP_AGGREGATE,
    FoldGroup,
    RetentionPlan,
    fold_snapshots,
    is_step_aggregate,
    plan_retention,
    snapshot_created,
    step_snapshot,
)

NOW = datetime(2028, 3, 15, 12, tzinfo=UTC)
STEP = ScopeType.STEP
ASSIGNMENT = ScopeType.ASSIGNMENT
SEQUENCE = ScopeType.SEQUENCE
STUDENT = ScopeType.STUDENT
SCHEDULED = SnapshotTrigger.SCHEDULED


def snap(
    snapshot_id: str,
    scope: ScopeType,
    when: datetime,
    *,
    trigger: SnapshotTrigger = SCHEDULED,
    student_id: str = "ada",
    assignment_id: str | None = "a1",
    scope_id: str | None = None,
    completion: float = 0.0,
    time_ms: int = 0,
) -> ProgressSnapshot:
    state: dict[str, Any] = {}
    if scope is STEP and assignment_id is not None:
        state["assignment_id"] = assignment_id
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=when,
        student_id=student_id,
        scope_type=scope,
        scope_id=scope_id or ("s1" if scope is STEP else "x"),
        state_snapshot=state,
        metrics_snapshot={
            "completion_percentage": completion,
            "mastery_score": completion,
            "time_on_task_ms": time_ms,
        },
        trigger=trigger,
    )


def where(plan: RetentionPlan, snapshot_id: str) -> str:
    if snapshot_id in plan.keep:
        return "keep"
    if snapshot_id in plan.drop:
        return "drop"
    assert snapshot_id in plan.folded
    return "fold"


# -- examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "age", "expected"),
    [
        (STEP, timedelta(days=89), "keep"),
        (STEP, timedelta(days=90), "keep"),
        (STEP, timedelta(days=90, seconds=1), "fold"),
        (STEP, relativedelta(years=1), "fold"),
        (STEP, relativedelta(years=1, seconds=1), "drop"),
        (ASSIGNMENT, relativedelta(years=1), "keep"),
        (ASSIGNMENT, relativedelta(years=1, seconds=1), "drop"),
        (SEQUENCE, relativedelta(years=3), "keep"),
        (SEQUENCE, relativedelta(years=3, seconds=1), "drop"),
        (STUDENT, relativedelta(years=10), "keep"),
    ],
)
def test_each_scope_is_kept_for_its_retention(
    scope: ScopeType, age: timedelta | relativedelta, expected: str
) -> None:
    """D22: step 90 days then folded; assignment 1 year; sequence 3 years;
    student forever. A snapshot exactly at the cutoff is kept."""
    plan = plan_retention([snap("x", scope, NOW - age)], now=NOW)
    assert where(plan, "x") == expected


def test_years_are_calendar_years_across_a_leap_day() -> None:
    """On 2029-02-28, one calendar year back is 2028-02-28: the 29th is kept."""
    now = datetime(2029, 2, 28, tzinfo=UTC)
    leap = snap("leap", ASSIGNMENT, datetime(2028, 2, 29, tzinfo=UTC))
    before = snap("before", ASSIGNMENT, datetime(2028, 2, 27, 23, tzinfo=UTC))
    plan = plan_retention([leap, before], now=now)
    assert where(plan, "leap") == "keep"
    assert where(plan, "before") == "drop"


def test_old_student_snapshots_are_thinned_to_the_last_of_each_month() -> None:
    """Older than a year: the last scheduled snapshot of each calendar month
    stays; the rest of that month goes."""
    jan = [
        snap(f"jan{d}", STUDENT, datetime(2026, 1, d, tzinfo=UTC), scope_id="ada")
        for d in (1, 15, 31)
    ]
    feb = [snap("feb1", STUDENT, datetime(2026, 2, 1, tzinfo=UTC), scope_id="ada")]
    plan = plan_retention([*jan, *feb], now=NOW)
    assert plan.keep == ("feb1", "jan31")
    assert plan.drop == ("jan1", "jan15")


def test_a_later_recent_snapshot_in_the_same_month_thins_older_ones() -> None:
    """The month straddling the cutoff keeps only its last snapshot."""
    now = datetime(2027, 3, 15, tzinfo=UTC)
    old = snap("old", STUDENT, datetime(2026, 3, 10, tzinfo=UTC), scope_id="ada")
    young = snap("young", STUDENT, datetime(2026, 3, 20, tzinfo=UTC), scope_id="ada")
    plan = plan_retention([old, young], now=now)
    assert plan.drop == ("old",)
    assert plan.keep == ("young",)


def test_event_snapshots_of_students_are_never_thinned() -> None:
    """Intervention, milestone and manual snapshots are history, kept forever."""
    when = datetime(2020, 5, 1, tzinfo=UTC)
    snaps = [
        snap(f"e{i}", STUDENT, when + timedelta(days=i), trigger=t, scope_id="ada")
        for i, t in enumerate(
            (
                SnapshotTrigger.INTERVENTION,
                SnapshotTrigger.MILESTONE,
                SnapshotTrigger.MANUAL,
                SnapshotTrigger.INTERVENTION,
            )
        )
    ]
    assert plan_retention(snaps, now=NOW).keep == ("e0", "e1", "e2", "e3")


def test_students_are_thinned_separately() -> None:
    """Each student keeps their own last snapshot of the month."""
    when = datetime(2025, 6, 1, tzinfo=UTC)
    snaps = [
        snap("ada1", STUDENT, when, student_id="ada"),
        snap("bob1", STUDENT, when + timedelta(days=1), student_id="bob"),
    ]
    assert plan_retention(snaps, now=NOW).keep == ("ada1", "bob1")


def test_old_step_snapshots_fold_into_one_aggregate_per_assignment() -> None:
    """Step snapshots past 90 days are grouped by student and assignment."""
    old = NOW - timedelta(days=120)
    snaps = [
        snap("s-a1-1", STEP, old, assignment_id="a1", scope_id="s1"),
        snap(
            "s-a1-2", STEP, old + timedelta(days=1), assignment_id="a1", scope_id="s2"
        ),
        snap("s-a2-1", STEP, old, assignment_id="a2", scope_id="s1"),
        snap("s-bob", STEP, old, assignment_id="a1", student_id="bob"),
        snap("s-new", STEP, NOW - timedelta(days=3), assignment_id="a1"),
    ]
    plan = plan_retention(snaps, now=NOW)
    assert [(g.student_id, g.assignment_id, g.snapshot_ids) for g in plan.fold] == [
        ("ada", "a1", ("s-a1-1", "s-a1-2")),
        ("ada", "a2", ("s-a2-1",)),
        ("bob", "a1", ("s-bob",)),
    ]
    assert plan.keep == ("s-new",)


def test_folding_builds_the_aggregate_of_the_latest_step_states() -> None:
    """The aggregate keeps each step's latest snapshot and averages them."""
    old = NOW - timedelta(days=120)
    snaps = [
        snap("x1", STEP, old, scope_id="s1", completion=0.0, time_ms=10),
        snap(
            "x2",
            STEP,
            old + timedelta(days=1),
            scope_id="s1",
            completion=100.0,
            time_ms=30,
        ),
        snap("x3", STEP, old, scope_id="s2", completion=0.0, time_ms=5),
    ]
    (group,) = plan_retention(snaps, now=NOW).fold
    aggregate = fold_snapshots(group, snaps)
    assert aggregate.snapshot_id == group.aggregate_id
    assert aggregate.scope_type is ASSIGNMENT
    assert aggregate.scope_id == "a1"
    assert aggregate.trigger is SCHEDULED
    assert aggregate.notes == STEP_AGGREGATE
    assert is_step_aggregate(aggregate)
    assert aggregate.snapshot_date == old + timedelta(days=1)
    metrics = aggregate.metrics_snapshot
    assert metrics["completion_percentage"] == 50.0
    assert metrics["time_on_task_ms"] == 35
    assert metrics["steps"] == 2
    assert metrics["snapshot_count"] == 3
    assert aggregate.state_snapshot["steps"]["s1"]["snapshot_id"] == "x2"


def test_a_later_fold_absorbs_the_earlier_aggregate() -> None:
    """Each assignment keeps one aggregate: the next fold takes the old one in."""
    old = NOW - timedelta(days=200)
    first_snaps = [snap("x1", STEP, old, scope_id="s1", completion=100.0)]
    (first_group,) = plan_retention(first_snaps, now=old + timedelta(days=100)).fold
    first = fold_snapshots(first_group, first_snaps)
    later = [first, snap("x2", STEP, old + timedelta(days=50), scope_id="s2")]
    plan = plan_retention(later, now=NOW)
    (group,) = plan.fold
    assert group.snapshot_ids == (first.snapshot_id, "x2")
    merged = fold_snapshots(group, later)
    assert merged.metrics_snapshot["snapshot_count"] == 2
    assert sorted(merged.state_snapshot["steps"]) == ["s1", "s2"]
    assert merged.state_snapshot["period_start"] == "2027-08-28T12:00:00Z"


def test_an_aggregate_alone_is_kept_and_ages_like_an_assignment_snapshot() -> None:
    """Without new step snapshots the aggregate stays; after a year it goes."""
    old = NOW - timedelta(days=200)
    steps = [snap("x1", STEP, old)]
    (group,) = plan_retention(steps, now=NOW).fold
    aggregate = fold_snapshots(group, steps)
    assert plan_retention([aggregate], now=NOW).keep == (aggregate.snapshot_id,)
    later = NOW + relativedelta(years=1)
    assert plan_retention([aggregate], now=later).drop == (aggregate.snapshot_id,)


def test_step_snapshots_without_an_assignment_are_kept_and_reported() -> None:
    """A step snapshot that names no assignment cannot be folded: it is kept
    and listed as unfoldable for repair (D18)."""
    stray = snap("stray", STEP, NOW - timedelta(days=100), assignment_id=None)
    plan = plan_retention([stray], now=NOW)
    assert plan.keep == ("stray",)
    assert plan.unfoldable == ("stray",)


def test_duplicate_snapshot_ids_are_refused() -> None:
    """A plan needs unique ids to say where each goes."""
    twice = [snap("x", STUDENT, NOW), snap("x", STUDENT, NOW)]
    with pytest.raises(InvalidInputError) as error:
        plan_retention(twice, now=NOW)
    assert error.value.field == "snapshot_id"


def test_folding_refuses_sources_that_do_not_match_the_group() -> None:
    """The aggregate is built from exactly the group's snapshots."""
    old = NOW - timedelta(days=120)
    snaps = [snap("x1", STEP, old), snap("x2", STEP, old)]
    (group,) = plan_retention(snaps, now=NOW).fold
    with pytest.raises(InvalidInputError):
        fold_snapshots(group, snaps[:1])
    other = snap("x3", ASSIGNMENT, old)
    bad = FoldGroup(
        aggregate_id="agg", student_id="ada", assignment_id="a1", snapshot_ids=("x3",)
    )
    with pytest.raises(InvalidInputError):
        fold_snapshots(bad, [other])


def test_a_plan_cannot_place_a_snapshot_twice() -> None:
    """keep, drop and fold are disjoint by construction."""
    with pytest.raises(InvalidInputError):
        RetentionPlan(as_of=NOW, keep=("x",), drop=("x",))


def test_a_custom_policy_changes_the_retention() -> None:
    """Retention spans are Policy fields."""
    policy = Policy(
        step_snapshot_retention_days=7, assignment_snapshot_retention_years=2
    )
    snaps = [
        snap("step", STEP, NOW - timedelta(days=8)),
        snap("assignment", ASSIGNMENT, NOW - relativedelta(years=1, months=6)),
    ]
    plan = plan_retention(snaps, now=NOW, policy=policy)
    assert plan.keep == ("assignment",)
    assert plan.folded == ("step",)


def test_step_snapshots_of_records_carry_their_assignment() -> None:
    """The step builder stores the record, so the planner can fold it."""
    record = StepProgress(
        step_id="s1",
        assignment_id="a9",
        student_id="ada",
        target_score=80,
        state=StepState.AVAILABLE,
    )
    made = step_snapshot(
        record,
        snapshot_id="s",
        snapshot_date=NOW - timedelta(days=100),
        trigger=SCHEDULED,
    )
    (group,) = plan_retention([made], now=NOW).fold
    assert group.assignment_id == "a9"
    event = snapshot_created(made)
    assert (event.snapshot_id, event.scope_type, event.trigger) == (
        "s",
        STEP,
        SCHEDULED,
    )


def stored_aggregate(state: dict[str, Any]) -> ProgressSnapshot:
    """A stored aggregate of a1 whose state is ``state`` (maybe corrupt)."""
    return ProgressSnapshot(
        snapshot_id="agg",
        snapshot_date=NOW - timedelta(days=150),
        student_id="ada",
        scope_type=ASSIGNMENT,
        scope_id="a1",
        state_snapshot={"kind": STEP_AGGREGATE, **state},
        metrics_snapshot={
            "completion_percentage": 0,
            "mastery_score": 0,
            "time_on_task_ms": 0,
        },
        trigger=SCHEDULED,
        notes=STEP_AGGREGATE,
    )


GOOD_ENTRY = {"snapshot_id": "x0", "metrics": {"completion_percentage": 100.0}}


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"steps": [["s1", 1]]}, "state_snapshot.steps"),
        ({"steps": {"s1": ["x0"]}}, "state_snapshot.steps['s1']"),
        ({"steps": {"s1": {"snapshot_id": "x0"}}}, "state_snapshot.steps['s1']"),
        (
            {"steps": {"s1": {"metrics": {"mastery_score": "high"}}}},
            "state_snapshot.steps['s1']",
        ),
        (
            {"steps": {"s1": GOOD_ENTRY}, "snapshot_count": "many"},
            "state_snapshot.snapshot_count",
        ),
        (
            {"steps": {"s1": GOOD_ENTRY}, "snapshot_count": -1},
            "state_snapshot.snapshot_count",
        ),
        (
            {"steps": {"s1": GOOD_ENTRY}, "snapshot_count": 2.5},
            "state_snapshot.snapshot_count",
        ),
        (
            {"steps": {"s1": GOOD_ENTRY}, "snapshot_count": True},
            "state_snapshot.snapshot_count",
        ),
    ],
)
def test_folding_a_corrupt_stored_aggregate_is_a_typed_error(
    state: dict[str, Any], field: str
) -> None:
    """A stored aggregate whose steps are not entries with numeric metrics, or
    whose count is not a whole number >= 0, gives an InvalidInputError naming
    the field (D18), not a bare built-in error."""
    sources = [stored_aggregate(state), snap("x1", STEP, NOW - timedelta(days=120))]
    plan = plan_retention(sources, now=NOW)
    (group,) = plan.fold
    assert "agg" in group.snapshot_ids
    with pytest.raises(InvalidInputError) as error:
        fold_snapshots(group, sources)
    assert error.value.field == field


def test_a_well_formed_stored_aggregate_folds_with_its_count() -> None:
    """The checks pass what fold_snapshots itself stores: entries and count."""
    sources = [
        stored_aggregate({"steps": {"s1": GOOD_ENTRY}, "snapshot_count": 4}),
        snap("x1", STEP, NOW - timedelta(days=120), scope_id="s2"),
    ]
    (group,) = plan_retention(sources, now=NOW).fold
    merged = fold_snapshots(group, sources)
    assert merged.metrics_snapshot["snapshot_count"] == 5
    assert merged.metrics_snapshot["completion_percentage"] == 50.0


def test_folding_huge_metrics_gives_the_clamped_mean_or_a_typed_error() -> None:
    """Step metrics whose sum passes float's range still average (clamped to
    100); an integer past float's range is refused by name, never an
    OverflowError."""
    old = NOW - timedelta(days=120)
    huge = [
        snap("x1", STEP, old, scope_id="s1", completion=1e308),
        snap("x2", STEP, old, scope_id="s2", completion=1e308),
    ]
    (group,) = plan_retention(huge, now=NOW).fold
    assert fold_snapshots(group, huge).metrics_snapshot["completion_percentage"] == 100
    past = [snap("x3", STEP, old, time_ms=10**400)]
    (group,) = plan_retention(past, now=NOW).fold
    with pytest.raises(InvalidInputError) as error:
        fold_snapshots(group, past)
    assert error.value.field == "metrics_snapshot.time_on_task_ms"


# -- laws -------------------------------------------------------------------------------

DATES = st.integers(0, 6 * 366 * 24).map(
    lambda h: datetime(2022, 1, 1, tzinfo=UTC) + timedelta(hours=h)
)


@st.composite
def snapshot_sets(draw: st.DrawFn) -> list[ProgressSnapshot]:
    n = draw(st.integers(0, 30))
    made = []
    for i in range(n):
        scope = draw(st.sampled_from(ScopeType))
        made.append(
            snap(
                f"s{i}",
                scope,
                draw(DATES),
                trigger=draw(st.sampled_from(SnapshotTrigger)),
                student_id=draw(st.sampled_from(("ada", "bob"))),
                assignment_id=draw(st.sampled_from(("a1", "a2"))),
                scope_id=draw(st.sampled_from(("s1", "s2", "s3"))),
                completion=draw(st.sampled_from((0.0, 50.0, 100.0))),
            )
        )
    return made


def must_keep(
    s: ProgressSnapshot, every: Iterable[ProgressSnapshot], now: datetime
) -> bool:
    """What D22 says to keep, written independently of the planner."""
    if s.scope_type is STEP:
        return s.snapshot_date >= now - timedelta(days=90)
    if s.scope_type is ASSIGNMENT:
        return s.snapshot_date >= now - relativedelta(years=1)
    if s.scope_type is SEQUENCE:
        return s.snapshot_date >= now - relativedelta(years=3)
    if s.trigger is not SCHEDULED or s.snapshot_date >= now - relativedelta(years=1):
        return True
    month = [
        o
        for o in every
        if o.scope_type is STUDENT
        and o.trigger is SCHEDULED
        and o.student_id == s.student_id
        and (o.snapshot_date.year, o.snapshot_date.month)
        == (s.snapshot_date.year, s.snapshot_date.month)
    ]
    return max(month, key=lambda o: (o.snapshot_date, o.snapshot_id)) is s


@given(snapshot_sets(), DATES)
def test_the_plan_places_every_snapshot_exactly_once(
    snaps: list[ProgressSnapshot], now: datetime
) -> None:
    """keep, drop and the fold groups partition the input."""
    plan = plan_retention(snaps, now=now)
    placed = [*plan.keep, *plan.drop, *plan.folded]
    assert sorted(placed) == sorted(s.snapshot_id for s in snaps)


@given(snapshot_sets(), DATES)
def test_retention_never_drops_what_the_policy_keeps(
    snaps: list[ProgressSnapshot], now: datetime
) -> None:
    """Everything D22 keeps is kept; everything else goes (dropped or, for
    steps, folded)."""
    plan = plan_retention(snaps, now=now)
    for s in snaps:
        kept = s.snapshot_id in plan.keep
        assert kept == must_keep(s, snaps, now), s


@given(snapshot_sets(), DATES)
def test_applying_a_plan_then_planning_again_changes_nothing(
    snaps: list[ProgressSnapshot], now: datetime
) -> None:
    """Retention is idempotent: after the host applies a plan, the next plan
    at the same time keeps everything."""
    by_id = {s.snapshot_id: s for s in snaps}
    plan = plan_retention(snaps, now=now)
    aggregates = [
        fold_snapshots(g, [by_id[i] for i in g.snapshot_ids]) for g in plan.fold
    ]
    remaining = [by_id[i] for i in plan.keep] + aggregates
    again = plan_retention(remaining, now=now)
    assert again.drop == ()
    assert again.fold == ()
    assert sorted(again.keep) == sorted(s.snapshot_id for s in remaining)


@given(snapshot_sets(), DATES)
def test_fold_groups_hold_old_steps_of_one_student_and_assignment(
    snaps: list[ProgressSnapshot], now: datetime
) -> None:
    """Only step snapshots past retention (and earlier aggregates) are folded,
    each group within one student and assignment."""
    by_id = {s.snapshot_id: s for s in snaps}
    for group in plan_retention(snaps, now=now).fold:
        for i in group.snapshot_ids:
            s = by_id[i]
            assert s.student_id == group.student_id
            assert s.scope_type is STEP
            assert s.state_snapshot["assignment_id"] == group.assignment_id
            assert now - relativedelta(years=1) <= s.snapshot_date
            assert s.snapshot_date < now - timedelta(days=90)
