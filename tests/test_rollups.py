"""Batch rollups: assignment and sequence progress, student summaries, class
summaries and organization dashboards (spec: Batch Updates, Student Progress
Summary; D20)."""

from __future__ import annotations

import math
import weakref
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from random import Random

import attrs
import pytest
from attrs import AttrsInstance
from hypothesis import given, settings
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    InvalidInputError,
    Policy,
    ProgressSnapshot,
    ScopeType,
    SequenceStructure,
    SnapshotTrigger,
    Stage,
    from_json,
    to_json,
)
from mlc_progress._policy import RollupPolicy
from mlc_progress._retention import student_snapshot
from mlc_progress._risk import dismiss_risk
from mlc_progress._rollups import (
    AssignmentRecords,
    ClassSummaryAccumulator,
    Histogram,
    OrganizationDashboardAccumulator,
    SequenceRecords,
    StudentHistory,
    StudentResult,
    TrendPeriod,
    TrendSample,
    class_summary,
    daily_snapshots,
    engagement_score,
    organization_dashboard,
    period_start,
    sequence_progress,
    streak_days,
    student_summary,
    summarize_student,
    trend_samples,
    weekly_rollup_snapshot,
)
from mlc_progress._rounding import half_away, round_half_away
from mlc_progress._tracking import ProgressState, apply_command
from mlc_progress.columnar import StepColumns, summarize_columns

from .test_columnar_support import differences
from .test_rollups_support import (
    ORG,
    STUDENT,
    T0,
    Played,
    Scenario,
    assignment,
    at,
    attempts_of,
    fold,
    play,
    run_real_time,
    scenarios,
    step,
)

FLOAT_FIELDS_TOLERANCE = 1e-9


def assert_records_equal(
    batch: AttrsInstance, real: AttrsInstance, *, skip: frozenset[str] = frozenset()
) -> None:
    """Field by field; floats within 1e-9."""
    assert type(batch) is type(real)
    for field in attrs.fields(type(batch)):
        if field.name in skip:
            continue
        b, r = getattr(batch, field.name), getattr(real, field.name)
        if isinstance(b, float) and isinstance(r, float):
            assert math.isclose(b, r, rel_tol=0, abs_tol=FLOAT_FIELDS_TOLERANCE), (
                field.name
            )
        else:
            assert b == r, (field.name, b, r)


# -- batch equals real time ---------------------------------------------------

#: Fields the real-time core carries from the last batch instead of computing.
CARRIED_FROM_BATCH = frozenset(
    {"remediation_count", "review_compliance_rate", "estimated_completion_date"}
)


@given(scenarios())
def test_batch_assignment_progress_equals_real_time(scenario: Scenario) -> None:
    """Recomputing an assignment from its final step records gives the record
    the real-time core maintained, field by field."""
    real = run_real_time(scenario)
    for played in real.played.values():
        if played.assignment is None or played.last_as_of is None:
            continue
        batch = played.records().current(student_id=STUDENT, as_of=played.last_as_of)
        assert_records_equal(batch, played.assignment)


@given(scenarios(max_attempts=12), st.randoms(use_true_random=False))
def test_batch_equals_real_time_when_attempts_arrive_late(
    scenario: Scenario, random: Random
) -> None:
    """Late attempts (D2) too: each assignment recomputed as of its last
    command equals the record real time kept."""
    shuffled = list(scenario.attempts)
    random.shuffle(shuffled)
    states: dict[str, ProgressState] = {
        s.assignment_id: ProgressState(student_id=STUDENT, structure=s)
        for s in scenario.structures
    }
    clock = T0
    last: dict[str, datetime] = {}
    for command in shuffled:
        clock = max(clock, command.attempted_at)
        state = states[command.assignment_id]
        states[command.assignment_id] = fold(
            state, apply_command(command, state, as_of=clock)
        )
        last[command.assignment_id] = clock
    for aid, when in last.items():
        state = states[aid]
        assert state.assignment is not None
        records = AssignmentRecords(
            structure=state.structure,
            progress=state.assignment,
            steps=tuple(state.steps.values()),
        )
        assert_records_equal(
            records.current(student_id=STUDENT, as_of=when), state.assignment
        )


@given(scenarios())
def test_batch_sequence_progress_equals_real_time(scenario: Scenario) -> None:
    """The batch sequence record equals the real-time one, except the three
    fields real time carries from batch; a concept mastered once stays
    mastered in real time, which batch reproduces from the stored record."""
    real = run_real_time(scenario)
    records = [p.records() for p in real.played.values()]
    assert real.last_as_of is not None or real.sequence is None
    as_of = real.last_as_of or T0
    batch = sequence_progress(
        scenario.sequence, records, student_id=STUDENT, as_of=as_of
    )
    if real.sequence is None:
        assert batch is None
        return
    assert batch is not None
    skip = CARRIED_FROM_BATCH | {"concepts_mastered", "concepts_in_progress"}
    assert_records_equal(batch, real.sequence, skip=skip)
    assert set(real.sequence.concepts_mastered) == set(batch.concepts_mastered) | (
        real.ever_mastered
    )
    assert (
        set(real.sequence.concepts_in_progress)
        == set(batch.concepts_in_progress) - real.ever_mastered
    )
    # Given the stored record, batch keeps what real time keeps.
    again = sequence_progress(
        scenario.sequence,
        records,
        student_id=STUDENT,
        as_of=as_of,
        previous=real.sequence,
    )
    assert again is not None
    assert_records_equal(again, real.sequence, skip=CARRIED_FROM_BATCH)


# -- one student ----------------------------------------------------------------


def history(*played: Played, **more: object) -> StudentHistory:
    """Ada's history with the records of ``played``."""
    return StudentHistory(
        student_id=STUDENT,
        organization_id=ORG,
        assignments=tuple(p.records() for p in played),
        **more,  # type: ignore[arg-type]
    )


def fractions() -> Played:
    """s1 (PLAY, fractions) passed on day 1; s2 (QUIZ, decimals) tried on days 9, 10."""
    structure = assignment(
        "a1",
        step("s1", concepts=("fractions",)),
        step("s2", stage=Stage.QUIZ, concepts=("decimals",)),
    )
    return play(
        structure, [("s1", 85.0, at(1)), ("s2", 60.0, at(9)), ("s2", 70.0, at(10))]
    )


FRACTIONS_PLAYS = [("s1", 85.0, at(1)), ("s2", 60.0, at(9)), ("s2", 70.0, at(10))]


def test_student_summary_has_every_field_of_the_spec() -> None:
    """A worked example: each figure of the summary, by its documented rule."""
    played = fractions()
    h = history(played, attempts=attempts_of(played.structure, FRACTIONS_PLAYS))
    as_of = at(10, hours=1)
    summary = student_summary(h, as_of=as_of)
    assert summary.student_id == STUDENT
    assert summary.organization_id == ORG
    assert summary.active_assignments == 1
    assert summary.completed_assignments == 0
    assert summary.total_time_on_task_ms == 180_000
    assert summary.steps_completed_this_week == 0  # s1 was completed on day 1
    assert summary.time_on_task_this_week_ms == 120_000
    assert summary.games_played_this_week == 2
    assert summary.overall_mastery_score == pytest.approx((1.0 * 85 + 2.0 * 70) / 3)
    assert summary.concepts_mastered_count == 1  # fractions
    assert summary.badges_earned == 0
    assert summary.last_activity_at == at(10)
    assert summary.streak_days == 2  # days 9 and 10
    recency = 1 - (1 / 24) / 14
    assert summary.engagement_score == pytest.approx(
        100 * (0.40 * recency + 0.35 * 2 / 5 + 0.25 * 2 / 120)
    )
    assert not summary.at_risk
    assert summary.risk_factors == ()


def test_this_week_is_the_trailing_seven_days() -> None:
    """Attempts in ``(as_of - 7 days, as_of]`` count; the boundary belongs to
    the week before, and later attempts do not count."""
    structure = assignment("a1", step("s1"))
    plays = [
        ("s1", 10.0, at(0)),
        ("s1", 10.0, at(0, minutes=1)),
        ("s1", 10.0, at(7)),
        ("s1", 10.0, at(8)),
    ]
    played = play(structure, plays)
    h = history(played, attempts=attempts_of(structure, plays))
    summary = student_summary(h, as_of=at(7, minutes=0.5))
    # at(0) is exactly 7 days before; at(0, 1 min) and at(7) are inside;
    # at(8) is after as_of.
    assert summary.games_played_this_week == 2
    assert summary.time_on_task_this_week_ms == 120_000


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([], 0),
        ([10], 1),
        ([9], 1),
        ([8], 0),
        ([8, 9, 10], 3),
        ([7, 9, 10], 2),
        ([7, 8, 9], 3),
        ([11], 0),
    ],
)
def test_streak_counts_consecutive_days_ending_today_or_yesterday(
    days: list[int], expected: int
) -> None:
    """D20: consecutive UTC days with activity ending today or yesterday."""
    now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert streak_days([date(2026, 3, d) for d in days], as_of=now) == expected


NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "days", "minutes", "expected"),
    [
        (NOW, 5, 120, 100.0),
        (None, 0, 0, 0.0),
        (NOW, 0, 0, 40.0),
        (NOW - timedelta(days=7), 0, 0, 20.0),
        (NOW - timedelta(days=14), 0, 0, 0.0),
        (NOW - timedelta(days=30), 7, 600, 60.0),
        (NOW, 7, 600, 100.0),
        (NOW, 1, 60, 40.0 + 7.0 + 12.5),
    ],
)
def test_engagement_score_weights_recency_frequency_and_time(
    last: datetime | None, days: int, minutes: int, expected: float
) -> None:
    """Decisions: 40 % recency over 14 days, 35 % active days of 5, 25 % time of 120 min."""
    score = engagement_score(
        last_activity_at=last,
        active_days_this_week=days,
        time_on_task_this_week_ms=minutes * 60_000,
        as_of=NOW,
    )
    assert score == pytest.approx(expected)


@given(
    st.none() | st.integers(-10_000, 100_000).map(lambda m: NOW - timedelta(minutes=m)),
    st.integers(0, 7),
    st.integers(0, 10**9),
)
def test_engagement_score_is_between_0_and_100(
    last: datetime | None, days: int, ms: int
) -> None:
    """For any inputs the composite stays in [0, 100] (D20)."""
    score = engagement_score(
        last_activity_at=last,
        active_days_this_week=days,
        time_on_task_this_week_ms=ms,
        as_of=NOW,
    )
    assert 0.0 <= score <= 100.0


def test_active_assignments_are_assigned_open_and_not_done() -> None:
    """Active: created by as_of, neither complete nor archived, something left to do."""
    done = play(assignment("done", step("s1")), [("s1", 90.0, at(1))])
    open_ = play(assignment("open", step("s1")), [("s1", 50.0, at(1))])
    untouched = play(assignment("untouched", step("s1")), [])
    empty = play(assignment("empty", step("s1", optional=True)), [])
    future = play(assignment("future", step("s1"), created_at=at(30)), [])
    archived_progress = AssignmentProgress(
        assignment_id="archived", student_id=STUDENT, status=AssignmentStatus.ARCHIVED
    )
    archived = Played(
        structure=assignment("archived", step("s1")),
        assignment=archived_progress,
        steps={},
        last_as_of=None,
    )
    h = history(done, open_, untouched, empty, future, archived)
    summary = student_summary(h, as_of=at(2))
    assert summary.active_assignments == 2  # open and untouched
    assert summary.completed_assignments == 1


def test_overall_mastery_weights_started_assignments_by_required_stage_weight() -> None:
    """An assignment weighs the sum of its required steps' stage weights (D12);
    assignments not started do not count."""
    quiz = play(assignment("quiz", step("q", stage=Stage.QUIZ)), [("q", 90.0, at(1))])
    learn = play(
        assignment("learn", step("l", stage=Stage.LEARN)), [("l", 30.0, at(1))]
    )
    idle = play(assignment("idle", step("x")), [])
    summary = student_summary(history(quiz, learn, idle), as_of=at(2))
    assert summary.overall_mastery_score == pytest.approx((2.0 * 90 + 0.5 * 30) / 2.5)


def test_badges_count_mastered_completions_and_completed_sequences() -> None:
    """A badge per completed assignment with mastery >= 80 and per completed sequence."""
    high = play(assignment("high", step("s1", target=50)), [("s1", 85.0, at(1))])
    low = play(assignment("low", step("s1", target=50)), [("s1", 60.0, at(1))])
    seq = SequenceRecords(
        structure=SequenceStructure(sequence_id="q", assignment_ids=("high", "low"))
    )
    summary = student_summary(history(high, low, sequences=(seq,)), as_of=at(2))
    assert summary.completed_assignments == 2
    assert summary.badges_earned == 1 + 1
    stricter = student_summary(
        history(high, low),
        as_of=at(2),
        policy=Policy(rollups=RollupPolicy(badge_mastery_min=90)),
    )
    assert stricter.badges_earned == 0


def test_a_dismissed_flag_is_not_shown_in_the_summary() -> None:
    """While a teacher's dismissal stands, at_risk is false and no factor is listed."""
    idle = play(assignment("a1", step("s1"), due_in_days=None), [])
    h = history(idle)
    as_of = at(9)
    first = summarize_student(h, as_of=as_of, run_id="r1")
    assert first.summary.risk_factors == ("inactive_9_days",)
    dismissed, _ = dismiss_risk(
        first.risk.state,
        dismissal_id="d1",
        actor_id="t1",
        reason="class trip",
        dismissed_at=as_of,
    )
    second = summarize_student(
        h, as_of=as_of + timedelta(days=1), run_id="r2", previous_risk=dismissed
    )
    assert second.risk.state.at_risk
    assert not second.summary.at_risk
    assert second.summary.risk_factors == ()
    assert second.events == ()


def test_history_refuses_records_of_another_student() -> None:
    """A history holds one student's records; others raise InvalidInputError."""
    played = fractions()
    other = attrs.evolve(played.records().steps[0], student_id="bob")
    with pytest.raises(InvalidInputError) as error:
        StudentHistory(
            student_id=STUDENT,
            organization_id=ORG,
            assignments=(
                AssignmentRecords(structure=played.structure, steps=(other,)),
            ),
        )
    assert error.value.field == "steps"


def test_assignment_records_are_one_students_records_of_the_assignment() -> None:
    """Steps of another assignment or student, unknown or repeated steps, and
    another assignment's progress are refused, naming the field."""
    played = fractions()
    records = played.records()
    first, second = records.steps[0], records.steps[1]
    assert records.progress is not None
    cases = [
        ((attrs.evolve(first, assignment_id="other"),), None, "steps"),
        ((attrs.evolve(first, step_id="nowhere"),), None, "steps"),
        ((first, first), None, "steps"),
        ((first, attrs.evolve(second, student_id="bob")), None, "steps"),
        ((first,), attrs.evolve(records.progress, student_id="bob"), "steps"),
        ((), attrs.evolve(records.progress, assignment_id="other"), "progress"),
    ]
    for steps, progress, field in cases:
        with pytest.raises(InvalidInputError) as error:
            AssignmentRecords(
                structure=played.structure, progress=progress, steps=steps
            )
        assert error.value.field == field


def test_records_without_progress_are_completed_as_of_a_moment() -> None:
    """with_progress keeps a stored record and computes a missing one."""
    records = fractions().records()
    assert records.with_progress(student_id=STUDENT, as_of=at(30)) is records
    bare = attrs.evolve(records, progress=None)
    assert bare.student_id == STUDENT
    filled = bare.with_progress(student_id=STUDENT, as_of=at(30))
    assert filled.progress == bare.current(student_id=STUDENT, as_of=at(30))


def test_history_refuses_attempts_of_unlisted_assignments() -> None:
    """An attempt must belong to one of the listed assignments."""
    played = fractions()
    stray = attempts_of(assignment("elsewhere", step("s1")), [("s1", 1.0, at(1))])
    with pytest.raises(InvalidInputError) as error:
        history(played, attempts=stray)
    assert error.value.field == "attempts"


# -- sequences --------------------------------------------------------------------


def review_sequence() -> tuple[SequenceStructure, Played]:
    structure = assignment(
        "a1",
        step("p", stage=Stage.PLAY, remediation=True),
        step("r1", stage=Stage.REVIEW, due_at=at(5)),
        step("r2", stage=Stage.REVIEW, due_at=at(5)),
        step("r3", stage=Stage.REVIEW, due_at=at(6)),
        step("r4", stage=Stage.REVIEW, due_at=at(30)),
        step("r5", stage=Stage.REVIEW, due_at=at(30), remediation=True),
        step("r6", stage=Stage.REVIEW, due_at=at(1), optional=True),
        due_in_days=40,
    )
    played = play(
        structure, [("r1", 90.0, at(4)), ("r2", 90.0, at(6)), ("r5", 90.0, at(7))]
    )
    return SequenceStructure(sequence_id="q", assignment_ids=("a1", "a2")), played


def test_review_compliance_counts_required_reviews_due_or_done() -> None:
    """On time among reviews due by as_of or already done: r1 and r5 of r1,
    r2 (late), r3 (overdue) and r5; r4 is not yet due, r6 is optional."""
    seq, played = review_sequence()
    progress = sequence_progress(
        seq, [played.records()], student_id=STUDENT, as_of=at(10)
    )
    assert progress is not None
    assert progress.review_compliance_rate == 50.0


def test_review_compliance_is_100_when_no_review_is_due() -> None:
    """Nothing due and nothing done: no review was missed."""
    seq, played = review_sequence()
    early = play(played.structure, [("p", 10.0, at(0, hours=1))])
    progress = sequence_progress(
        seq, [early.records()], student_id=STUDENT, as_of=at(1)
    )
    assert progress is not None
    assert progress.review_compliance_rate == 100.0


def test_remediation_count_counts_remediation_steps_of_the_sequence() -> None:
    """remediation_count is the number of remediation steps in the sequence's assignments."""
    seq, played = review_sequence()
    progress = sequence_progress(
        seq, [played.records()], student_id=STUDENT, as_of=at(10)
    )
    assert progress is not None
    assert progress.remediation_count == 2


def test_sequence_estimate_projects_the_pace_so_far() -> None:
    """One of two assignments done 4 days after the start: the rest by day 8."""
    first = play(assignment("a1", step("s1")), [("s1", 90.0, at(4))])
    second = play(assignment("a2", step("s1")), [])
    seq = SequenceStructure(sequence_id="q", assignment_ids=("a1", "a2"))
    progress = sequence_progress(
        seq, [first.records(), second.records()], student_id=STUDENT, as_of=at(6)
    )
    assert progress is not None
    assert progress.started_at == at(4)
    assert progress.estimated_completion_date == at(4) + 2 * (at(6) - at(4))
    assert progress.current_assignment_id == "a2"


def test_sequence_estimate_is_the_last_completion_once_complete() -> None:
    """A complete sequence's estimate is when its last assignment completed."""
    first = play(assignment("a1", step("s1")), [("s1", 90.0, at(4))])
    second = play(assignment("a2", step("s1")), [("s1", 90.0, at(5))])
    seq = SequenceStructure(sequence_id="q", assignment_ids=("a1", "a2"))
    progress = sequence_progress(
        seq, [first.records(), second.records()], student_id=STUDENT, as_of=at(6)
    )
    assert progress is not None
    assert progress.estimated_completion_date == at(5)
    assert progress.completion_percentage == 100.0
    assert progress.current_assignment_id is None


def test_current_assignment_is_the_one_last_worked_on() -> None:
    """Working on a later assignment, then an earlier one, points at the earlier."""
    first = play(assignment("a1", step("s1")), [("s1", 10.0, at(5))])
    second = play(assignment("a2", step("s1")), [("s1", 10.0, at(4))])
    seq = SequenceStructure(sequence_id="q", assignment_ids=("a1", "a2"))
    progress = sequence_progress(
        seq, [first.records(), second.records()], student_id=STUDENT, as_of=at(6)
    )
    assert progress is not None
    assert progress.current_assignment_id == "a1"


# -- generated histories: summaries are valid ---------------------------------------


def history_of(
    scenario: Scenario, **more: object
) -> tuple[StudentHistory, dict[str, Played]]:
    real = run_real_time(scenario)
    h = StudentHistory(
        student_id=STUDENT,
        organization_id=ORG,
        class_ids=("c1",),
        assignments=tuple(p.records() for p in real.played.values()),
        sequences=(
            SequenceRecords(structure=scenario.sequence, progress=real.sequence),
        ),
        attempts=scenario.attempts,
        **more,  # type: ignore[arg-type]
    )
    return h, real.played


@settings(max_examples=50)
@given(scenarios(), st.integers(0, 60 * 24 * 20))
def test_summaries_of_generated_histories_are_valid(
    scenario: Scenario, minutes: int
) -> None:
    """For any history and time, the result is a valid record whose figures
    agree with each other and with the history."""
    h, _ = history_of(scenario)
    as_of = T0 + timedelta(days=4, minutes=minutes)
    result = summarize_student(h, as_of=as_of, run_id="r")
    s = result.summary
    week = [
        a
        for a in scenario.attempts
        if as_of - timedelta(days=7) < a.attempted_at <= as_of
    ]
    assert s.games_played_this_week == len(week)
    assert s.time_on_task_this_week_ms <= s.total_time_on_task_ms
    assert s.active_assignments + s.completed_assignments <= len(h.assignments)
    past = {a.attempted_at.date() for a in scenario.attempts if a.attempted_at <= as_of}
    assert s.streak_days <= len(past)
    assert s.at_risk == bool(s.risk_factors) == result.risk.state.effective_at_risk
    assert 0.0 <= s.engagement_score <= 100.0
    assert all(p.student_id == STUDENT for p in result.assignments)
    assert len(result.sequences) <= 1
    for snapshot in daily_snapshots(h, result, slot=as_of):
        assert snapshot.trigger is SnapshotTrigger.SCHEDULED
        assert snapshot.student_id == STUDENT


@settings(max_examples=30)
@given(st.lists(scenarios(max_attempts=8), min_size=1, max_size=4))
def test_class_and_organization_figures_add_up(scenarios_: list[Scenario]) -> None:
    """Folding students one at a time: every count is over the students added,
    histograms and pacing counts hold each student once."""
    as_of = T0 + timedelta(days=8)
    results = []
    for i, scenario in enumerate(scenarios_):
        h, _ = history_of(scenario)
        results.append(summarize_student(h, as_of=as_of, run_id=f"r{i}"))
    summary = class_summary(iter(results), class_id="c1", as_of=as_of)
    figures = summary.figures
    n = len(results)
    assert figures.students == n
    assert figures.completion_distribution.total == n
    assert figures.mastery_distribution.total == n
    pacing = figures.pacing
    assert (
        pacing.ahead
        + pacing.on_track
        + pacing.behind
        + pacing.at_risk
        + pacing.without_active
    ) == n
    assert figures.at_risk_students == sum(r.summary.at_risk for r in results)
    assert figures.games_played_this_week == sum(
        r.summary.games_played_this_week for r in results
    )
    assert all(e.students <= n for e in figures.assignments)
    assert figures.mean_mastery == pytest.approx(
        sum(r.summary.overall_mastery_score for r in results) / n
    )
    dashboard = organization_dashboard(results, organization_id=ORG, as_of=as_of)
    assert dashboard.figures == figures
    assert dashboard.classes == (summary,)


# -- classes and organizations -------------------------------------------------------


def student_result(
    student_id: str,
    *played: Played,
    as_of: datetime,
    class_ids: tuple[str, ...] = ("c1",),
    organization_id: str = ORG,
    snapshots: tuple[object, ...] = (),
) -> StudentResult:
    h = StudentHistory(
        student_id=student_id,
        organization_id=organization_id,
        class_ids=class_ids,
        assignments=tuple(
            AssignmentRecords(
                structure=p.structure,
                progress=None
                if p.assignment is None
                else attrs.evolve(p.assignment, student_id=student_id),
                steps=tuple(
                    attrs.evolve(s, student_id=student_id) for s in p.steps.values()
                ),
            )
            for p in played
        ),
        snapshots=snapshots,  # type: ignore[arg-type]
    )
    return summarize_student(h, as_of=as_of, run_id="run")


def test_class_summary_worked_example() -> None:
    """Two students: one finished well, one idle and behind; the figures a
    teacher's class overview shows."""
    structure = assignment("a1", step("s1", target=50), step("s2", target=50))
    done = play(structure, [("s1", 90.0, at(1)), ("s2", 70.0, at(2))])
    idle = play(structure, [])
    as_of = at(10)
    results = [
        student_result("ada", done, as_of=as_of),
        student_result("bob", idle, as_of=as_of),
    ]
    figures = class_summary(results, class_id="c1", as_of=as_of).figures
    assert figures.students == 2
    assert figures.active_assignments == 1
    assert figures.completed_assignments == 1
    assert figures.completion_rate == 50.0
    assert figures.mean_mastery == pytest.approx(80.0 / 2)
    assert figures.completion_distribution.counts == (1, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    assert figures.pacing.at_risk == 1
    assert figures.pacing.without_active == 1
    assert figures.at_risk_students == 1
    assert figures.at_risk_by_rule.pacing == 1
    assert figures.at_risk_by_rule.engagement == 1
    (effect,) = figures.assignments
    assert (effect.assignment_id, effect.students, effect.completed) == ("a1", 2, 1)
    assert effect.completion_rate == 50.0
    assert effect.mean_completion == 50.0
    assert effect.mean_mastery == pytest.approx(40.0)
    assert (figures.started_students, figures.mean_mastery_started) == (1, 80.0)


def test_active_students_are_counted_over_the_policy_window() -> None:
    """A student last active 8 days ago is active only with a window over 8 days."""
    done = play(assignment("a1", step("s1", target=50)), [("s1", 90.0, at(2))])
    results = [student_result("ada", done, as_of=at(10))]
    default = class_summary(results, class_id="c1", as_of=at(10)).figures
    month = Policy(rollups=RollupPolicy(active_user_days=30))
    wider = class_summary(results, class_id="c1", as_of=at(10), policy=month).figures
    assert (default.active_students, wider.active_students) == (0, 1)


def test_class_accumulator_refuses_a_student_of_another_class() -> None:
    """Adding a student who is not in the class raises InvalidInputError."""
    result = student_result("ada", as_of=at(1), class_ids=("c2",))
    acc = ClassSummaryAccumulator(class_id="c1", as_of=at(1))
    with pytest.raises(InvalidInputError):
        acc.add(result)


def test_dashboard_refuses_a_student_of_another_organization() -> None:
    """D19: no organization's figures include another's students."""
    result = student_result("ada", as_of=at(1), organization_id="org-2")
    acc = OrganizationDashboardAccumulator(organization_id=ORG, as_of=at(1))
    with pytest.raises(InvalidInputError) as error:
        acc.add(result)
    assert error.value.field == "organization_id"


def test_accumulators_keep_no_student_result() -> None:
    """Memory is bounded by the accumulators: a folded result can be freed."""
    result = student_result("ada", fractions(), as_of=at(10))
    ref = weakref.ref(result)
    acc = OrganizationDashboardAccumulator(organization_id=ORG, as_of=at(10))
    acc.add(result)
    del result
    assert ref() is None
    assert acc.result().figures.students == 1


def test_dashboard_compares_classes_side_by_side() -> None:
    """Each class a student belongs to gets its own summary in the dashboard."""
    as_of = at(10)
    results = [
        student_result("ada", fractions(), as_of=as_of, class_ids=("c1", "c2")),
        student_result("bob", fractions(), as_of=as_of, class_ids=("c2",)),
    ]
    dashboard = organization_dashboard(results, organization_id=ORG, as_of=as_of)
    assert [(c.class_id, c.figures.students) for c in dashboard.classes] == [
        ("c1", 1),
        ("c2", 2),
    ]
    assert dashboard.figures.students == 2


def test_dashboard_round_trips_through_json() -> None:
    """The dashboard is plain data for the converter (enums by their strings)."""
    snap = student_snapshot(
        student_summary(history(fractions()), as_of=at(3)),
        snapshot_id="s",
        snapshot_date=at(3),
        trigger=SnapshotTrigger.SCHEDULED,
    )
    results = [student_result("ada", fractions(), as_of=at(10), snapshots=(snap,))]
    dashboard = organization_dashboard(results, organization_id=ORG, as_of=at(10))
    assert dashboard.trends
    from mlc_progress._rollups import OrganizationDashboard

    assert from_json(to_json(dashboard), OrganizationDashboard) == dashboard


# -- trends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "period", "start"),
    [
        (
            datetime(2026, 5, 14, 15, tzinfo=UTC),
            TrendPeriod.WEEK,
            datetime(2026, 5, 10, tzinfo=UTC),
        ),
        (
            datetime(2026, 5, 10, 0, tzinfo=UTC),
            TrendPeriod.WEEK,
            datetime(2026, 5, 10, tzinfo=UTC),
        ),
        (
            datetime(2026, 5, 9, 23, 59, tzinfo=UTC),
            TrendPeriod.WEEK,
            datetime(2026, 5, 3, tzinfo=UTC),
        ),
        (
            datetime(2026, 5, 14, tzinfo=UTC),
            TrendPeriod.MONTH,
            datetime(2026, 5, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 23, tzinfo=UTC),
            TrendPeriod.QUARTER,
            datetime(2026, 10, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 3, 31, tzinfo=UTC),
            TrendPeriod.QUARTER,
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
    ],
)
def test_periods_are_calendar_weeks_from_sunday_months_and_quarters(
    moment: datetime, period: TrendPeriod, start: datetime
) -> None:
    """Trend periods start Sunday 00:00 UTC (the weekly rollup), on the 1st,
    and in January, April, July and October."""
    assert period_start(moment, period) == start


def test_trend_points_average_each_students_latest_snapshot_in_a_period() -> None:
    """A student's value in a period is their latest snapshot's; a point is
    the mean over students."""
    summary = student_summary(history(fractions()), as_of=at(3))

    def snap(sid: str, snapshot_id: str, when: datetime, mastery: float) -> object:
        return student_snapshot(
            attrs.evolve(summary, student_id=sid, overall_mastery_score=mastery),
            snapshot_id=snapshot_id,
            snapshot_date=when,
            trigger=SnapshotTrigger.SCHEDULED,
        )

    # T0 is Tuesday 2026-09-01; its week starts Sunday 2026-08-30.
    ada = (snap("ada", "x1", at(0), 10.0), snap("ada", "x2", at(2), 30.0))
    bob = (snap("bob", "y1", at(1), 50.0),)
    results = [
        student_result("ada", as_of=at(3), snapshots=ada),
        student_result("bob", as_of=at(3), snapshots=bob),
    ]
    dashboard = organization_dashboard(results, organization_id=ORG, as_of=at(3))
    (point,) = [
        t
        for t in dashboard.trends
        if t.metric == "mastery_score" and t.period is TrendPeriod.WEEK
    ]
    assert point.period_start == datetime(2026, 8, 30, tzinfo=UTC)
    assert point.period_end == datetime(2026, 9, 6, tzinfo=UTC)
    assert point.students == 2
    assert point.mean == pytest.approx((30.0 + 50.0) / 2)


# -- scheduled snapshots ---------------------------------------------------------------


def test_daily_snapshots_cover_what_changed_in_the_day() -> None:
    """The summary always; assignments in progress; steps active in the day
    before the slot; ids derived from the slot."""
    played = fractions()
    h = history(played)
    slot = at(10)  # 2026-09-11 00:00: the day before it holds the attempt at(10)
    result = summarize_student(h, as_of=slot, run_id="r")
    snaps = daily_snapshots(h, result, slot=slot)
    kinds = sorted((s.scope_type.value, s.scope_id) for s in snaps)
    assert kinds == [("assignment", "a1"), ("step", "s2"), ("student", STUDENT)]
    assert {s.snapshot_date for s in snaps} == {slot}
    assert snaps == daily_snapshots(h, result, slot=slot)
    assert all(
        s.snapshot_id.startswith("scheduled/daily/2026-09-11T00:00Z/") for s in snaps
    )


def test_snapshot_ids_of_early_years_sort_as_their_times() -> None:
    """Ids write the slot with a four-digit year, so a year before 1000
    sorts before later years' ids, as its time does."""
    h = history()
    early, late = datetime(1, 1, 9, tzinfo=UTC), datetime(2026, 9, 11, tzinfo=UTC)
    ids = [
        daily_snapshots(h, summarize_student(h, as_of=t, run_id="r"), slot=t)[0]
        for t in (early, late)
    ]
    assert ids[0].snapshot_id.startswith("scheduled/daily/0001-01-09T00:00Z/")
    assert ids[0].snapshot_id < ids[1].snapshot_id


def test_weekly_rollup_covers_the_week_that_just_ended() -> None:
    """At Sunday 00:00 the this-week figures are exactly the week that ended."""
    played = fractions()
    h = history(played, attempts=attempts_of(played.structure, FRACTIONS_PLAYS))
    slot = datetime(2026, 9, 13, tzinfo=UTC)  # a Sunday; at(9), at(10) are Sep 10, 11
    result = summarize_student(h, as_of=slot, run_id="r")
    snap = weekly_rollup_snapshot(result, slot=slot)
    assert snap.scope_type is ScopeType.STUDENT
    assert snap.notes == "weekly_rollup"
    assert snap.metrics_snapshot["games_played_this_week"] == 2


# -- small records ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "bucket"),
    [(0.0, 0), (9.999, 0), (10.0, 1), (55.0, 5), (99.9, 9), (100.0, 9)],
)
def test_histogram_buckets_are_ten_points_wide_and_100_is_in_the_last(
    value: float, bucket: int
) -> None:
    """Bucket i holds [10 i, 10 i + 10); 100 falls in the last bucket."""
    assert Histogram.empty(10).bucket_of(value) == bucket


@pytest.mark.parametrize(
    "changes",
    [
        {"engagement_recency_weight": 0.5},
        {"distribution_bucket_points": 7},
        {"engagement_target_active_days": 8},
        {"engagement_recency_days": 0},
    ],
)
def test_rollup_policy_refuses_inconsistent_values(changes: dict[str, object]) -> None:
    """Weights add up to 1, buckets divide 100, targets fit a week."""
    with pytest.raises(InvalidInputError):
        RollupPolicy(**changes)  # type: ignore[arg-type]


def test_daily_snapshots_refuse_another_students_result() -> None:
    """The history and the result must be of the same student."""
    h = history(fractions())
    other = student_result("bob", fractions(), as_of=at(10))
    with pytest.raises(InvalidInputError):
        daily_snapshots(h, other, slot=at(10))


def test_activity_days_are_dates_not_datetimes() -> None:
    """Activity days are UTC days; a datetime is refused."""
    with pytest.raises(InvalidInputError) as error:
        StudentHistory(student_id=STUDENT, organization_id=ORG, activity_days=(at(1),))
    assert error.value.field == "activity_days"


def test_extra_activity_days_extend_the_streak() -> None:
    """Days the host knows from elsewhere count for the streak (D20)."""
    played = fractions()
    h = history(played, activity_days=(date(2026, 9, 9), date(2026, 9, 8)))
    # Activity from the records: Sep 2, Sep 10, Sep 11 (days 1, 9, 10).
    assert student_summary(h, as_of=at(10, hours=1)).streak_days == 4


# -- the record path at the edges of the calendar and of floats ------------------


def both_paths(h: StudentHistory, as_of: datetime) -> StudentResult:
    """``summarize_student``'s result, checked equal, figure for figure and
    floats bit for bit, to the column kernel's for the same history."""
    expected = summarize_student(h, as_of=as_of, run_id="r")
    columns = StepColumns.from_histories([h], organization_id=ORG)
    got = summarize_columns(columns, as_of=as_of).records(h.student_id)
    assert differences(got, expected) == []
    return expected


YEAR_ONE = tuple(date(1, 1, d) for d in range(1, 10))


@pytest.mark.parametrize(
    ("days", "as_of", "expected"),
    [
        (YEAR_ONE, datetime(1, 1, 9, 12, tzinfo=UTC), 9),
        (YEAR_ONE, datetime(1, 1, 10, 12, tzinfo=UTC), 9),
        ((date(1, 1, 1),), datetime(1, 1, 1, tzinfo=UTC), 1),
        ((date(1, 1, 1),), datetime(1, 1, 2, tzinfo=UTC), 1),
        ((), datetime(1, 1, 1, tzinfo=UTC), 0),
        ((date(1, 1, 2),), datetime(1, 1, 1, tzinfo=UTC), 0),
    ],
    ids=[
        "to-day-one-from-today",
        "to-day-one-from-yesterday",
        "day-one-is-today",
        "day-one-is-yesterday",
        "day-one-without-activity",
        "day-one-with-only-a-later-day",
    ],
)
def test_a_streak_reaching_year_one_ends_there(
    days: tuple[date, ...], as_of: datetime, expected: int
) -> None:
    """D20: 0001-01-01 is the calendar's first day; a streak reaching it,
    or a today without a yesterday, counts what there is."""
    assert streak_days(days, as_of=as_of) == expected


def test_a_streak_back_to_year_one_is_the_kernels() -> None:
    """D20: summarize_student counts a streak running back to 0001-01-01 as
    the column kernel does."""
    h = StudentHistory(student_id=STUDENT, organization_id=ORG, activity_days=YEAR_ONE)
    result = both_paths(h, datetime(1, 1, 9, 12, tzinfo=UTC))
    assert result.summary.streak_days == 9


def test_a_moved_due_date_past_9999_is_refused_by_both_paths() -> None:
    """D8: an extension moving an assigned group's next step due date past
    9999 is refused by summarize_student and the kernel with the same rule,
    naming due_at_override."""
    unit = assignment("a1", step("s1", due_at=at(400)), step("s2"), due_in_days=30)
    stored = AssignmentProgress(
        assignment_id="a1",
        student_id=STUDENT,
        due_at_override=datetime(9999, 12, 1, tzinfo=UTC),
    )
    h = StudentHistory(
        student_id=STUDENT,
        organization_id=ORG,
        assignments=(AssignmentRecords(structure=unit, progress=stored),),
    )
    with pytest.raises(InvalidInputError) as record:
        summarize_student(h, as_of=at(4), run_id="r")
    columns = StepColumns.from_histories([h], organization_id=ORG)
    with pytest.raises(InvalidInputError) as kernel:
        summarize_columns(columns, as_of=at(4))
    assert record.value.field == "due_at_override"
    assert kernel.value.field == "due_at_override[0]"
    assert record.value.rule == kernel.value.rule
    assert record.value.value == kernel.value.value == stored.due_at_override


def varied(cv: float) -> StudentHistory:
    """Ada with one step tried three times whose consistency score is ``cv``
    (D17: inconsistent from 0.5 over at least 3 attempts)."""
    unit = assignment("a1", step("s1"))
    played = play(unit, [("s1", 10.0, at(1)), ("s1", 60.0, at(2)), ("s1", 20.0, at(3))])
    played.steps["s1"] = attrs.evolve(played.steps["s1"], consistency_score=cv)
    return history(played)


@pytest.mark.parametrize("cv", [0.625, 0.635, 3.3e15, 1.152921504606847e16, 4e16])
def test_the_consistency_factor_n_is_the_kernels(cv: float) -> None:
    """D17: N = round(100 * cv), half away from zero; from 2**52 the float
    is whole and N is its exact value (not its shortest text), as the
    column kernel computes."""
    result = both_paths(varied(cv), at(4))
    n = round_half_away(100 * cv)
    assert f"inconsistent_scores_cv_{n}" in result.risk.assessment.codes
    if 100 * cv >= 2**52:
        assert n == int(100 * cv)


def test_a_huge_consistency_score_gives_its_exact_factor() -> None:
    """D17: a consistency score of 1e300 is valid; its N is the exact
    integer value of the float 100 * 1e300, no decimal error."""
    result = summarize_student(varied(1e300), as_of=at(4), run_id="r")
    assert f"inconsistent_scores_cv_{int(1e302)}" in result.risk.assessment.codes


@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([2.0**52 - 0.5, 2.5, -2.5, 1e300, 2.0**60 + 256.0])
)
def test_rounding_half_away_is_the_floats_exact_rounding(value: float) -> None:
    """Q24, D17: round_half_away of any finite float is its exact value
    rounded to the nearest integer, halves away from zero (from 2**52 the
    float is whole and comes back as it is); no float raises."""
    exact = Fraction(value)
    expected = math.floor(abs(exact) + Fraction(1, 2))
    assert round_half_away(value) == (expected if exact >= 0 else -expected)


@pytest.mark.parametrize("value", [1e300, -1.7976931348623157e308, 5e-324, 1e28])
@pytest.mark.parametrize("digits", [0, 1, 3])
def test_half_away_rounds_any_float_text(value: float, digits: int) -> None:
    """Q24: the decimal text is rounded to ``digits`` decimals however many
    digits that takes (no decimal.InvalidOperation)."""
    got = half_away(value, digits)
    assert got.as_tuple().exponent == -digits
    exact = Decimal(repr(value))
    assert abs(got - exact) <= Decimal(1).scaleb(-digits) / 2


# -- trends, activity and snapshots at the calendar's ends (Q146, Q147) -------------

#: The first and last instants a datetime holds.
FIRST = datetime.min.replace(tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)


def mastery_snapshot(
    snapshot_id: str, when: datetime, mastery: float
) -> ProgressSnapshot:
    """Ada's student-scope snapshot at ``when`` with ``mastery``."""
    summary = student_summary(history(), as_of=at(3))
    return student_snapshot(
        attrs.evolve(summary, overall_mastery_score=mastery),
        snapshot_id=snapshot_id,
        snapshot_date=when,
        trigger=SnapshotTrigger.SCHEDULED,
    )


def test_a_hand_built_history_leaves_out_snapshots_dated_after_as_of() -> None:
    """Q147: summarize_student samples trends from the snapshots dated at or
    before as_of only; a far-future one breaks no dashboard. (The column
    kernel computes no trends: it refuses histories with snapshots.)"""
    early = mastery_snapshot("x1", at(2), 10.0)
    later = mastery_snapshot("x2", at(20), 90.0)
    far = mastery_snapshot("x3", LAST, 50.0)
    h = history(snapshots=(early, later, far))
    result = summarize_student(h, as_of=at(10), run_id="r")
    assert result.trends == trend_samples(
        [early], metrics=Policy().rollups.trend_metrics
    )
    assert {t.value for t in result.trends if t.metric == "mastery_score"} == {10.0}
    dashboard = organization_dashboard([result], organization_id=ORG, as_of=at(10))
    assert {t.period_start for t in dashboard.trends} <= {
        period_start(at(2), p) for p in TrendPeriod
    }
    with pytest.raises(InvalidInputError) as error:
        StepColumns.from_histories([h], organization_id=ORG)
    assert error.value.field == "snapshots"


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (TrendPeriod.WEEK, datetime(9999, 12, 19, tzinfo=UTC), datetime(9999, 12, 26)),
        (TrendPeriod.WEEK, datetime(9999, 12, 26, tzinfo=UTC), None),
        (TrendPeriod.MONTH, datetime(9999, 11, 1, tzinfo=UTC), datetime(9999, 12, 1)),
        (TrendPeriod.MONTH, datetime(9999, 12, 1, tzinfo=UTC), None),
        (TrendPeriod.QUARTER, datetime(9999, 7, 1, tzinfo=UTC), datetime(9999, 10, 1)),
        (TrendPeriod.QUARTER, datetime(9999, 10, 1, tzinfo=UTC), None),
    ],
    ids=[
        "last-week",
        "week-past-9999",
        "last-month",
        "month-past-9999",
        "last-quarter",
        "quarter-past-9999",
    ],
)
def test_a_trend_period_ending_past_9999_is_refused_folding_nothing(
    period: TrendPeriod, start: datetime, end: datetime | None
) -> None:
    """Q146: a trend point's period ends in the calendar; a sample whose
    period would end after 9999-12-31 is refused naming it, and the
    dashboard folds nothing of that student."""
    sample = TrendSample(
        period=period, period_start=start, metric="mastery_score", value=40.0
    )
    result = attrs.evolve(student_result("ada", as_of=at(1)), trends=(sample,))
    acc = OrganizationDashboardAccumulator(organization_id=ORG, as_of=at(1))
    if end is not None:
        acc.add(result)
        (point,) = acc.result().trends
        assert point.period_end == end.replace(tzinfo=UTC)
        return
    with pytest.raises(InvalidInputError) as error:
        acc.add(result)
    assert (error.value.field, error.value.value) == ("trends[0]", start)
    assert "Q146" in error.value.rule
    board = acc.result()
    assert (board.figures.students, board.classes, board.trends) == (0, (), ())


def test_a_student_sampled_in_the_last_quarter_of_9999_is_refused_by_the_board() -> (
    None
):
    """Q146: summarize_student samples a snapshot of late December 9999; the
    dashboard refuses the student, naming the first sample, instead of a
    bare error."""
    snap = mastery_snapshot("x1", datetime(9999, 12, 31, 12, tzinfo=UTC), 40.0)
    as_of = datetime(9999, 12, 31, 23, tzinfo=UTC)
    result = summarize_student(history(snapshots=(snap,)), as_of=as_of, run_id="r")
    assert result.trends
    with pytest.raises(InvalidInputError) as error:
        organization_dashboard([result], organization_id=ORG, as_of=as_of)
    assert error.value.field == "trends[0]"


def test_active_students_near_year_one_are_counted() -> None:
    """A student last active 11 days before as_of is active over a 60-day
    window that reaches before 0001-01-01; the activity is the kernel's."""
    first_unit = assignment("a1", step("s1", target=50), created_at=FIRST)
    played = play(first_unit, [("s1", 40.0, datetime(1, 1, 30, tzinfo=UTC))])
    as_of = datetime(1, 2, 10, tzinfo=UTC)
    result = both_paths(history(played, class_ids=("c1",)), as_of)
    assert result.summary.last_activity_at == datetime(1, 1, 30, tzinfo=UTC)
    wide = Policy(rollups=RollupPolicy(active_user_days=60))
    figures = class_summary([result], class_id="c1", as_of=as_of, policy=wide).figures
    default = class_summary([result], class_id="c1", as_of=as_of).figures
    assert (default.active_students, figures.active_students) == (0, 1)


@pytest.mark.parametrize(
    ("moment", "period", "start"),
    [
        (datetime(1, 1, 7, tzinfo=UTC), TrendPeriod.WEEK, datetime(1, 1, 7)),
        (datetime(1, 1, 13, 23, tzinfo=UTC), TrendPeriod.WEEK, datetime(1, 1, 7)),
        (datetime(1, 1, 3, tzinfo=UTC), TrendPeriod.MONTH, datetime(1, 1, 1)),
        (datetime(1, 1, 3, tzinfo=UTC), TrendPeriod.QUARTER, datetime(1, 1, 1)),
        (FIRST, TrendPeriod.WEEK, None),
        (datetime(1, 1, 3, tzinfo=UTC), TrendPeriod.WEEK, None),
        (
            datetime(1, 1, 7, tzinfo=UTC) - timedelta(microseconds=1),
            TrendPeriod.WEEK,
            None,
        ),
    ],
    ids=[
        "first-sunday",
        "first-full-week",
        "first-month",
        "first-quarter",
        "day-one-week",
        "wednesday-week",
        "last-instant-before-the-first-sunday",
    ],
)
def test_a_trend_week_starting_before_year_one_is_refused(
    moment: datetime, period: TrendPeriod, start: datetime | None
) -> None:
    """D21: a trend week starts on a Sunday; before the first Sunday,
    0001-01-07, the week has no start date and period_start refuses it
    naming the moment. Months and quarters start on day one."""
    if start is not None:
        assert period_start(moment, period) == start.replace(tzinfo=UTC)
        return
    with pytest.raises(InvalidInputError) as error:
        period_start(moment, period)
    assert (error.value.field, error.value.value) == ("moment", moment)
    assert "D21" in error.value.rule


def test_a_snapshot_before_the_first_trend_week_is_refused_naming_it() -> None:
    """D21: summarize_student refuses a snapshot dated before 0001-01-07,
    whose week has no start date, naming the snapshots."""
    snap = mastery_snapshot("x1", datetime(1, 1, 3, tzinfo=UTC), 40.0)
    with pytest.raises(InvalidInputError) as error:
        summarize_student(
            history(snapshots=(snap,)), as_of=datetime(1, 1, 10, tzinfo=UTC), run_id="r"
        )
    assert (error.value.field, error.value.value) == ("snapshots", snap.snapshot_date)


def test_daily_snapshots_at_the_first_midnight_cover_the_first_instant() -> None:
    """D21: the daily slot 0001-01-01T00:00 covers what happened in the day
    before it, which reaches before year 1: an activity at the slot counts,
    one after it does not."""
    unit = assignment("a1", step("s1"), step("s2"), created_at=FIRST)
    as_of = datetime(1, 2, 1, tzinfo=UTC)
    state = ProgressState(student_id=STUDENT, structure=unit)
    for i, (step_id, when) in enumerate(
        [("s1", FIRST), ("s2", FIRST + timedelta(microseconds=1))]
    ):
        command = attempts_of(unit, [(step_id, 40.0, when)])[0]
        command = attrs.evolve(command, attempt_id=f"t{i}")
        state = fold(state, apply_command(command, state, as_of=as_of))
    played = Played(
        structure=unit,
        assignment=state.assignment,
        steps=dict(state.steps),
        last_as_of=as_of,
    )
    h = history(played)
    result = summarize_student(h, as_of=as_of, run_id="r")
    snaps = daily_snapshots(h, result, slot=FIRST)
    kinds = sorted((s.scope_type.value, s.scope_id) for s in snaps)
    assert kinds == [("assignment", "a1"), ("step", "s1"), ("student", STUDENT)]
