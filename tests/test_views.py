"""Role views (spec: UX requirements): built from records that real commands made.

The class below plays a short history through ``apply_command`` (attempts, a
teacher's override and due-date extension) and builds every view from the
records, the attempts and the audit entries that came out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    AuditEntry,
    ExtendDueDate,
    InvalidInputError,
    MasteryLevel,
    OverrideComplete,
    PacingStatus,
    Policy,
    ProgressState,
    SequenceProgress,
    Stage,
    StepDefinition,
    StepState,
    StudentAtRiskDetected,
    StudentProgressSummary,
    apply_command,
    assignment_progress,
    from_json,
)
from mlc_progress._history import AssignmentRecords
from mlc_progress._policy import ViewPolicy
from mlc_progress._retention import student_completion
from mlc_progress._risk import (
    RiskAssessment,
    RiskFactor,
    RiskRule,
    _least_favourable,
    is_active_assignment,
    risk_update,
)
from mlc_progress._rollups import (
    OrganizationDashboard,
    StudentResult,
    TrendPeriod,
    TrendSample,
    organization_dashboard,
    period_start,
)
from mlc_progress._views import (
    CellStatus,
    ClassOverview,
    Colour,
    Directory,
    Pattern,
    SortKey,
    _completion_figure,
    assignment_detail,
    class_overview,
    concept_mastery,
    filter_rows,
    organization_dashboard_view,
    parent_report,
    percent_display,
    render_class_overview_text,
    render_organization_text,
    render_parent_report_text,
    render_student_detail_text,
    render_student_report_text,
    risk_factor_text,
    score_display,
    sort_rows,
    status_badge,
    student_dashboard,
    student_detail,
    student_report,
    view_to_json,
)

T0 = datetime(2026, 9, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)
SCRIPT = "<script>alert(1)</script>"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


FRACTIONS = AssignmentStructure(
    assignment_id="fractions-1",
    created_at=T0,
    due_at=day(21),
    steps=(
        StepDefinition(
            step_id="learn",
            element_id="intro",
            stage=Stage.LEARN,
            target_score=60,
            concepts=("fractions",),
        ),
        StepDefinition(
            step_id="play",
            element_id="pizza",
            stage=Stage.PLAY,
            target_score=80,
            concepts=("fractions", "equivalence"),
        ),
        StepDefinition(
            step_id="quiz",
            element_id="check",
            stage=Stage.QUIZ,
            target_score=80,
            concepts=("equivalence",),
        ),
        StepDefinition(
            step_id="bonus",
            element_id="race",
            stage=Stage.CHALLENGE,
            target_score=90,
            optional=True,
            concepts=("speed",),
        ),
    ),
)
DECIMALS = AssignmentStructure(
    assignment_id="decimals-1",
    created_at=T0,
    due_at=day(14),
    steps=(
        StepDefinition(
            step_id="d1",
            element_id="shop",
            stage=Stage.LEARN,
            target_score=60,
            concepts=("decimals",),
        ),
        StepDefinition(
            step_id="d2",
            element_id="bank",
            stage=Stage.PLAY,
            target_score=80,
            concepts=("decimals",),
        ),
        StepDefinition(
            step_id="d3",
            element_id="exam",
            stage=Stage.QUIZ,
            target_score=80,
            concepts=("decimals",),
        ),
    ),
)
STRUCTURES = {s.assignment_id: s for s in (FRACTIONS, DECIMALS)}

DIRECTORY = Directory(
    students={"ada": "Ada", "bo": "Bo", "eve": SCRIPT, "dan": "Dan"},
    assignments={"fractions-1": 'Fractions & "friends" <1>', "decimals-1": "Decimals"},
    steps={
        "learn": "Meet fractions",
        "play": "Pizza party",
        "quiz": "Fraction check",
        "bonus": "Speed race",
        "d1": "Corner shop",
        "d2": "Bank",
        "d3": "Decimal test",
    },
    concepts={
        "fractions": "Fractions",
        "equivalence": "Equivalence",
        "decimals": "Decimals",
        "speed": "Speed",
    },
    classes={"c1": "Class 5 <b>", "c2": "Class 6"},
)


def attempt(
    student: str, assignment: str, step: str, score: float, at: datetime, n: int
) -> Attempt:
    return Attempt(
        attempt_id=f"{student}/{assignment}/{step}/{n}",
        student_id=student,
        assignment_id=assignment,
        step_id=step,
        score=score,
        attempted_at=at,
        duration_ms=300_000,
        session_id=f"session-{at.date()}",
    )


Command = Any


def run(
    student: str, structure: AssignmentStructure, commands: Sequence[Command]
) -> tuple[AssignmentRecords, list[AuditEntry]]:
    """Apply ``commands`` in order, each at its own time, and return the records."""
    state = ProgressState(student_id=student, structure=structure)
    audit: list[AuditEntry] = []
    for command in commands:
        when = (
            command.attempted_at if isinstance(command, Attempt) else command.issued_at
        )
        outcome = apply_command(command, state, as_of=when)
        steps = dict(state.steps)
        steps.update({s.step_id: s for s in outcome.steps})
        state = attrs.evolve(
            state, steps=steps, assignment=outcome.assignment or state.assignment
        )
        audit.extend(outcome.audit)
    assert state.assignment is not None
    # The batch refresh: the same steps, figures recomputed as of the report.
    refreshed = assignment_progress(
        structure,
        state.steps,
        student_id=student,
        as_of=AS_OF,
        due_at_override=state.assignment.due_at_override,
    )
    return (
        AssignmentRecords(
            structure=structure, progress=refreshed, steps=tuple(state.steps.values())
        ),
        audit,
    )


def history() -> dict[str, list[Command]]:
    """Each student's commands, per assignment id, in the order they happened."""
    ada_f = [
        attempt("ada", "fractions-1", "learn", 72, day(1), 1),
        attempt("ada", "fractions-1", "play", 65, day(2), 1),
        attempt("ada", "fractions-1", "play", 85, day(3), 2),
        attempt("ada", "fractions-1", "quiz", 70, day(4), 1),
        attempt("ada", "fractions-1", "quiz", 90, day(5), 2),
    ]
    ada_d = [
        attempt("ada", "decimals-1", "d1", 80, day(6), 1),
        attempt("ada", "decimals-1", "d2", 85, day(7), 1),
    ]
    bo_f: list[Command] = [
        attempt("bo", "fractions-1", "learn", s, day(1) + timedelta(hours=i), i)
        for i, s in enumerate([40, 45, 50, 30, 55, 52], start=1)
    ]
    bo_f.append(
        OverrideComplete(
            command_id="bo-override",
            actor_id="teacher-t",
            reason="knows it; tablet fault",
            student_id="bo",
            assignment_id="fractions-1",
            step_id="learn",
            issued_at=day(8),
        )
    )
    bo_d: list[Command] = [
        attempt("bo", "decimals-1", "d1", 20, day(3), 1),
        attempt("bo", "decimals-1", "d1", 25, day(4), 2),
        ExtendDueDate(
            command_id="bo-extend",
            actor_id="teacher-t",
            reason="family trip",
            student_id="bo",
            assignment_id="decimals-1",
            due_at=day(20),
            issued_at=day(8),
        ),
    ]
    eve_f = [attempt("eve", "fractions-1", "learn", 65, day(2), 1)]
    eve_d = [
        attempt("eve", "decimals-1", "d1", 10, day(2), 1),
        attempt("eve", "decimals-1", "d1", 95, day(3), 2),
        attempt("eve", "decimals-1", "d1", 15, day(4), 3),
    ]
    return {
        "ada/fractions-1": ada_f,
        "ada/decimals-1": ada_d,
        "bo/fractions-1": bo_f,
        "bo/decimals-1": bo_d,
        "eve/fractions-1": eve_f,
        "eve/decimals-1": eve_d,
    }


@attrs.frozen
class World:
    records: dict[str, list[AssignmentRecords]]
    attempts: list[Attempt]
    audit: list[AuditEntry]
    summaries: dict[str, StudentProgressSummary]

    def of(self, student: str) -> list[AssignmentRecords]:
        return self.records.get(student, [])

    def progress(self) -> list[Any]:
        return [r.progress for rs in self.records.values() for r in rs]


def build_world() -> World:
    records: dict[str, list[AssignmentRecords]] = {}
    attempts: list[Attempt] = []
    audit: list[AuditEntry] = []
    for key, commands in history().items():
        student, assignment_id = key.split("/")
        made, entries = run(student, STRUCTURES[assignment_id], commands)
        records.setdefault(student, []).append(made)
        attempts.extend(c for c in commands if isinstance(c, Attempt))
        audit.extend(entries)
    summaries = {
        "ada": StudentProgressSummary(
            student_id="ada",
            organization_id="org-a",
            active_assignments=1,
            completed_assignments=1,
            total_time_on_task_ms=2_100_000,
            steps_completed_this_week=3,
            time_on_task_this_week_ms=900_000,
            overall_mastery_score=81.5,
            concepts_mastered_count=3,
            last_activity_at=day(7),
            streak_days=4,
            engagement_score=80.0,
        ),
        "bo": StudentProgressSummary(
            student_id="bo",
            organization_id="org-a",
            active_assignments=2,
            total_time_on_task_ms=2_400_000,
            time_on_task_this_week_ms=0,
            overall_mastery_score=30.0,
            last_activity_at=day(4),
            streak_days=0,
            at_risk=True,
            risk_factors=("stuck_on_step_6_attempts", "inactive_6_days"),
        ),
        "eve": StudentProgressSummary(
            student_id="eve",
            organization_id="org-a",
            active_assignments=2,
            total_time_on_task_ms=1_200_000,
            overall_mastery_score=45.0,
            last_activity_at=day(4),
            streak_days=1,
        ),
    }
    return World(records=records, attempts=attempts, audit=audit, summaries=summaries)


WORLD = build_world()


def stored(records: AssignmentRecords) -> AssignmentProgress:
    """The progress record the world's records always carry."""
    assert records.progress is not None
    return records.progress


def overview() -> ClassOverview:
    return class_overview(
        "c1",
        students=["ada", "bo", "eve", "dan"],
        assignment_ids=["fractions-1", "decimals-1"],
        progress=WORLD.progress(),
        as_of=AS_OF,
        summaries=WORLD.summaries.values(),
        directory=DIRECTORY,
    )


# -- display rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (37.5, 38),
        (62.5, 63),
        (2.5, 3),
        (50.0, 50),
        (33.333333, 33),
        (66.666667, 67),
        (100.0, 100),
        (99.5, 99),
        (99.4, 99),
        (0.0, 0),
        (0.4, 1),
        (0.5, 1),
    ],
)
def test_percentages_round_half_away_but_never_claim_done_or_not_begun(
    value: float, shown: int
) -> None:
    """Display rounds half away from zero; only 100 shows 100 and only 0 shows 0."""
    assert percent_display(value) == shown


@given(st.floats(min_value=0, max_value=100))
def test_a_displayed_percentage_is_within_one_point_of_the_value(value: float) -> None:
    """Display is at most a point from the record and stays in [0, 100]."""
    shown = percent_display(value)
    assert 0 <= shown <= 100
    assert abs(shown - value) <= 1
    assert (shown == 100) == (value == 100)
    assert (shown == 0) == (value == 0)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (85.0, "85"),
        (79.25, "79.3"),
        (66.666, "66.7"),
        (0.0, "0"),
        (100.0, "100"),
        (79.95, "80"),
    ],
)
def test_scores_show_at_most_one_decimal(value: float, shown: str) -> None:
    """Scores are shown to one decimal, half away from zero, without a trailing .0."""
    assert score_display(value) == shown


@pytest.mark.parametrize(
    ("done", "required", "percentage", "text", "display"),
    [
        (3, 8, 37.5, "3 of 8 steps complete, 38 percent", "38%"),
        (1, 1, 100.0, "1 of 1 step complete, 100 percent", "100%"),
        (0, 3, 0.0, "0 of 3 steps complete, 0 percent", "0%"),
        (0, 0, 100.0, "No required steps, 100 percent", "100%"),
    ],
)
def test_completion_reads_as_the_spec_example(
    done: int, required: int, percentage: float, text: str, display: str
) -> None:
    """Completion is announced as counts and a whole percentage."""
    figure = _completion_figure(done, required, percentage)
    assert (figure.accessible_text, figure.display, figure.value) == (
        text,
        display,
        percentage,
    )


@pytest.mark.parametrize(
    ("status", "colour", "label"),
    [
        (CellStatus.COMPLETE, Colour.GREEN, "Complete"),
        (CellStatus.AHEAD, Colour.GREEN, "Ahead"),
        (CellStatus.ON_TRACK, Colour.YELLOW, "On track"),
        (CellStatus.BEHIND, Colour.ORANGE, "Behind"),
        (CellStatus.AT_RISK, Colour.RED, "At risk"),
        (CellStatus.ARCHIVED, Colour.GREY, "Archived"),
        (CellStatus.NOT_ASSIGNED, Colour.GREY, "Not assigned"),
    ],
)
def test_cells_follow_the_spec_colour_coding(
    status: CellStatus, colour: Colour, label: str
) -> None:
    """Green ahead/complete, yellow on track, orange behind, red at risk, each with a label."""
    badge = status_badge(status)
    assert (badge.colour, badge.label) == (colour, label)


def test_colour_is_never_the_only_signal() -> None:
    """Every status has its own label and symbol, and each colour its own pattern."""
    badges = [status_badge(s) for s in CellStatus]
    assert len({b.label for b in badges}) == len(badges)
    assert len({b.symbol for b in badges}) == len(badges)
    pattern_of = {b.colour: b.pattern for b in badges}
    assert len(set(pattern_of.values())) == len(pattern_of)
    assert all(
        b.pattern is not Pattern.NONE for b in badges if b.colour is not Colour.GREY
    )


@pytest.mark.parametrize(
    ("factor", "words"),
    [
        ("behind_pace_40_percent", "40 percentage points behind the expected pace"),
        ("low_mastery_avg_52", "a low recent mastery average of 52"),
        ("inactive_9_days", "no activity for 9 days"),
        ("stuck_on_step_7_attempts", "7 attempts on one step without passing"),
        ("inconsistent_scores_cv_62", "scores vary widely (variation 62 percent)"),
        ("teacher_concern", "teacher concern"),
    ],
)
def test_risk_factors_read_in_words(factor: str, words: str) -> None:
    """The spec's risk factor strings (D17) are shown in words to teachers."""
    assert risk_factor_text(factor) == words


# -- the student dashboard -----------------------------------------------------------------


def test_the_world_was_made_by_the_tracking_core() -> None:
    """The records under test come from apply_command: statuses and an audit trail."""
    ada = {r.structure.assignment_id: stored(r) for r in WORLD.of("ada")}
    assert ada["fractions-1"].status is AssignmentStatus.COMPLETE
    assert ada["decimals-1"].completion_percentage == pytest.approx(200 / 3)
    assert {e.action for e in WORLD.audit} == {"override_complete", "extend_due_date"}


def test_student_dashboard_shows_completion_next_step_activity_badges_and_streak() -> (
    None
):
    """Ada's widget: 5 of 6 required steps, the decimal test next, her activity, badges, streak."""
    view = student_dashboard(
        "ada",
        WORLD.of("ada"),
        as_of=AS_OF,
        attempts=WORLD.attempts,
        summary=WORLD.summaries["ada"],
        directory=DIRECTORY,
    )
    assert view.student_name == "Ada"
    assert view.completion.accessible_text == (
        "Overall, 5 of 6 steps complete, 83 percent, across 2 assignments"
    )
    assert view.completion.display == "83%"
    assert view.next_step is not None
    assert (view.next_step.step_id, view.next_step.target.display) == ("d3", "80")
    assert view.next_step.action_label == "Continue"
    assert view.next_step.accessible_text == (
        "Continue with Decimal test in Decimals: quiz step, target score 80, "
        "due 15 September 2026"
    )
    assert [a.attempt_id for a in view.recent_activity][:2] == [
        "ada/decimals-1/d2/1",
        "ada/decimals-1/d1/1",
    ]
    assert len(view.recent_activity) == 7
    assert view.recent_activity[0].accessible_text == (
        "8 September 2026: scored 85 on Bank in Decimals (target 80, passed)"
    )
    assert [b.concept_name for b in view.mastery_badges] == [
        "Decimals",
        "Equivalence",
        "Fractions",
    ]
    assert view.streak.accessible_text == "Learning streak: 4 days in a row"


def test_recent_activity_keeps_the_latest_few_newest_first() -> None:
    """With a policy of 5, the five most recent attempts are listed, newest first."""
    view = student_dashboard(
        "ada",
        WORLD.of("ada"),
        as_of=AS_OF,
        attempts=WORLD.attempts,
        policy=Policy(views=ViewPolicy(recent_activities=5)),
    )
    times = [a.at for a in view.recent_activity]
    assert len(times) == 5
    assert times == sorted(times, reverse=True)
    assert times[-1] == day(3)


def test_attempts_after_as_of_and_of_others_are_not_recent_activity() -> None:
    """A report for a past moment ignores later attempts and other students' attempts."""
    view = student_dashboard(
        "ada", WORLD.of("ada"), as_of=day(2), attempts=WORLD.attempts
    )
    assert [a.attempt_id for a in view.recent_activity] == [
        "ada/fractions-1/play/1",
        "ada/fractions-1/learn/1",
    ]


def test_the_student_dashboard_shows_no_at_risk_status() -> None:
    """Students do not see an at-risk flag or its factors (Q30)."""
    view = student_dashboard(
        "bo",
        WORLD.of("bo"),
        as_of=AS_OF,
        attempts=WORLD.attempts,
        summary=WORLD.summaries["bo"],
        directory=DIRECTORY,
    )
    text = view_to_json(view).lower()
    assert "risk" not in text
    assert "stuck" not in text
    assert "inactive" not in text


@pytest.mark.parametrize(
    ("limit", "valid"), [(4, False), (5, True), (10, True), (11, False)]
)
def test_recent_activity_length_is_five_to_ten(limit: int, valid: bool) -> None:
    """The spec's 'last 5-10 activities' bounds the policy."""
    if valid:
        assert ViewPolicy(recent_activities=limit).recent_activities == limit
    else:
        with pytest.raises(InvalidInputError):
            ViewPolicy(recent_activities=limit)


def test_views_of_one_student_refuse_anothers_records() -> None:
    """Passing Bo's records into Ada's dashboard is an error, not a leak."""
    with pytest.raises(InvalidInputError) as caught:
        student_dashboard("ada", WORLD.of("bo"), as_of=AS_OF)
    assert caught.value.field == "assignments"


@pytest.mark.parametrize("view", [student_detail, student_dashboard, student_report])
def test_views_of_one_student_refuse_anothers_summary(view: Any) -> None:
    """Bo's summary (at risk, his reasons) is refused by Ada's views, not shown as hers."""
    with pytest.raises(InvalidInputError) as caught:
        view("ada", WORLD.of("ada"), as_of=AS_OF, summary=WORLD.summaries["bo"])
    assert (caught.value.field, caught.value.value) == ("summary.student_id", "bo")


@pytest.mark.parametrize("view", [student_dashboard, student_report])
def test_views_of_one_student_refuse_anothers_sequences(view: Any) -> None:
    """Bo's sequence record (his mastered concepts) is refused, naming its index."""
    ada_s = SequenceProgress(
        sequence_id="seq-1",
        student_id="ada",
        started_at=day(1),
        concepts_mastered=("long-division",),
    )
    bos = attrs.evolve(ada_s, student_id="bo")
    with pytest.raises(InvalidInputError) as caught:
        view("ada", WORLD.of("ada"), as_of=AS_OF, sequences=[ada_s, bos])
    assert (caught.value.field, caught.value.value) == ("sequences[1].student_id", "bo")
    shown = student_dashboard("ada", [], as_of=AS_OF, sequences=iter([ada_s]))
    assert [b.concept_id for b in shown.mastery_badges] == ["long-division"]


def test_records_without_progress_are_shown_as_computed_as_of_the_view() -> None:
    """Without a stored progress record, a view computes it as of its as_of (Q92)."""
    bare = [attrs.evolve(r, progress=None) for r in WORLD.of("ada")]
    kwargs: dict[str, Any] = {
        "as_of": AS_OF,
        "attempts": WORLD.attempts,
        "summary": WORLD.summaries["ada"],
        "directory": DIRECTORY,
    }
    assert student_report("ada", bare, **kwargs) == student_report(
        "ada", WORLD.of("ada"), **kwargs
    )


def test_an_assignment_never_begun_shows_as_not_started() -> None:
    """Dan has no records for decimals: 0 of 3 steps, the first step next, not started."""
    untouched = [AssignmentRecords(structure=DECIMALS)]
    view = student_dashboard("dan", untouched, as_of=AS_OF, directory=DIRECTORY)
    assert view.completion.accessible_text == (
        "Overall, 0 of 3 steps complete, 0 percent, across 1 assignment"
    )
    assert view.next_step is not None
    assert view.next_step.step_id == "d1"
    summary = StudentProgressSummary(student_id="dan", organization_id="org-a")
    letter = parent_report(
        "dan", summary=summary, assignments=untouched, as_of=AS_OF, directory=DIRECTORY
    )
    assert [line.text for line in letter.assignments] == [
        "Decimals: not started yet, due 15 September 2026."
    ]


def test_assignment_detail_without_progress_needs_the_moment_and_student() -> None:
    """The detail of bare records needs as_of and, without step records, the student."""
    untouched = AssignmentRecords(structure=DECIMALS)
    with pytest.raises(InvalidInputError) as caught:
        assignment_detail(untouched, as_of=AS_OF)
    assert caught.value.field == "progress"
    view = assignment_detail(untouched, as_of=AS_OF, student_id="dan")
    assert (view.student_id, view.completion.accessible_text) == (
        "dan",
        "0 of 3 steps complete, 0 percent",
    )


def test_views_and_batch_name_each_thing_once() -> None:
    """No public name is both a view and a batch name."""
    import mlc_progress.batch
    import mlc_progress.views

    assert set(mlc_progress.views.__all__) & set(mlc_progress.batch.__all__) == set()


def test_view_enums_refuse_unknown_text_and_name_the_field() -> None:
    """A view read back with an unknown colour fails on that field (one converter)."""
    text = view_to_json(status_badge(CellStatus.AT_RISK)).replace('"red"', '"purple"')
    with pytest.raises(InvalidInputError) as caught:
        from_json(text, type(status_badge(CellStatus.AT_RISK)))
    assert caught.value.field == "colour"


# -- assignment detail ---------------------------------------------------------------------------


def test_assignment_detail_has_cards_graph_time_and_next_up() -> None:
    """Ada's fractions: four cards, five scores in time order, 25 minutes in all."""
    records = next(r for r in WORLD.of("ada") if r.structure is FRACTIONS)
    view = assignment_detail(records, attempts=WORLD.attempts, directory=DIRECTORY)
    assert view.completion.accessible_text == "3 of 3 steps complete, 100 percent"
    assert [c.step_id for c in view.step_cards] == ["learn", "play", "quiz", "bonus"]
    play = view.step_cards[1]
    assert play.accessible_text == (
        "Step 2, Pizza party; play step; complete, completed by playing; best score 85 "
        "of target 80; 2 attempts; 10 minutes; mastery: mastered"
    )
    assert play.best_score is not None
    assert play.best_score.display == "85"
    bonus = view.step_cards[3]
    assert (bonus.optional, bonus.state, bonus.best_score) == (
        True,
        StepState.AVAILABLE,
        None,
    )
    assert [p.score for p in view.score_series.points] == [72, 65, 85, 70, 90]
    assert view.score_series.accessible_text == (
        "Scores over time: 5 attempts from 2 September 2026 to 6 September 2026; "
        "first 72, latest 90, best 90"
    )
    assert (
        view.time_summary.total.accessible_text
        == "Total time on assignment: 25 minutes"
    )
    assert view.time_summary.average_per_step.accessible_text == (
        "Average time per step worked on (3 steps): 8 minutes"
    )
    assert view.next_up is None
    assert [s.label for s in view.progress_bar] == [
        "Complete",
        "Complete",
        "Complete",
        "Ready to start",
    ]


def test_an_overridden_step_says_who_completed_it() -> None:
    """Bo's learn step, completed by the teacher, says so on its card."""
    records = next(r for r in WORLD.of("bo") if r.structure is FRACTIONS)
    view = assignment_detail(records, directory=DIRECTORY)
    assert view.step_cards[0].completion_note == "marked complete by the teacher"
    assert view.next_up is not None
    assert view.next_up.step_id == "play"


# -- class overview --------------------------------------------------------------------------------


def test_class_overview_grid_has_a_cell_per_student_and_assignment() -> None:
    """Rows follow the roster, cells the assignments, coloured by status with words."""
    view = overview()
    assert [r.student_id for r in view.rows] == ["ada", "bo", "eve", "dan"]
    assert [c.title for c in view.columns] == ['Fractions & "friends" <1>', "Decimals"]
    ada, bo, eve, dan = view.rows
    assert ada.cells[0].badge.status is CellStatus.COMPLETE
    assert ada.cells[0].accessible_text == (
        'Ada, Fractions & "friends" <1>: 3 of 3 steps complete, 100 percent, complete'
    )
    assert [c.badge.status for c in dan.cells] == [CellStatus.NOT_ASSIGNED] * 2
    assert dan.completion is None
    assert dan.last_activity == "never"
    assert bo.at_risk
    assert "flagged at risk" in bo.accessible_text
    assert eve.student_name == SCRIPT
    assert (
        view.accessible_text
        == "Class 5 <b>: 4 students, 2 assignments, 1 flagged at risk"
    )


def test_row_pacing_is_the_worst_open_assignment() -> None:
    """A row's pacing is its worst pacing among assignments not yet complete."""
    view = overview()
    for row in view.rows:
        statuses = [
            p.pacing_status
            for p in WORLD.progress()
            if p.student_id == row.student_id
            and p.status is not AssignmentStatus.COMPLETE
        ]
        order = [
            PacingStatus.AT_RISK,
            PacingStatus.BEHIND,
            PacingStatus.ON_TRACK,
            PacingStatus.AHEAD,
        ]
        expected = min(statuses, key=order.index) if statuses else None
        assert row.pacing == expected


@pytest.mark.parametrize(
    ("key", "descending", "order"),
    [
        (SortKey.NAME, False, ["eve", "ada", "bo", "dan"]),  # "<script>" sorts first
        (SortKey.COMPLETION, True, ["ada", "eve", "bo", "dan"]),
        (SortKey.COMPLETION, False, ["bo", "eve", "ada", "dan"]),
        (SortKey.LAST_ACTIVITY, True, ["ada", "eve", "bo", "dan"]),
        (SortKey.LAST_ACTIVITY, False, ["eve", "bo", "ada", "dan"]),
    ],
)
def test_sorting_the_roster(key: SortKey, descending: bool, order: list[str]) -> None:
    """Sorted by the key, ties by name, missing figures last either way."""
    view = sort_rows(overview(), key, descending=descending)
    assert [r.student_id for r in view.rows] == order
    assert (view.sorted_by, view.descending) == (key, descending)


def test_sorting_by_pacing_puts_the_worst_first() -> None:
    """Pacing sorts at risk, behind, on track, ahead; rows without pacing last."""
    order = [
        PacingStatus.AT_RISK,
        PacingStatus.BEHIND,
        PacingStatus.ON_TRACK,
        PacingStatus.AHEAD,
    ]
    view = sort_rows(overview(), SortKey.PACING)
    ranks = [order.index(r.pacing) for r in view.rows if r.pacing is not None]
    assert ranks == sorted(ranks)
    assert view.rows[-1].pacing is None


def test_filtering_the_roster() -> None:
    """Filters keep the rows meeting every condition; missing figures never meet a bound."""
    view = overview()
    assert [r.student_id for r in filter_rows(view, completion_at_least=50).rows] == [
        "ada"
    ]
    assert [r.student_id for r in filter_rows(view, completion_below=50).rows] == [
        "bo",
        "eve",
    ]
    assert [r.student_id for r in filter_rows(view, at_risk=True).rows] == ["bo"]
    assert [r.student_id for r in filter_rows(view, inactive_since=day(5)).rows] == [
        "bo",
        "eve",
        "dan",
    ]
    assert [r.student_id for r in filter_rows(view, active_since=day(5)).rows] == [
        "ada"
    ]
    assert [r.student_id for r in filter_rows(view, mastery_at_least=60).rows] == [
        "ada"
    ]
    behind = filter_rows(view, pacing={PacingStatus.BEHIND, PacingStatus.AT_RISK})
    assert [r.student_id for r in behind.rows] == ["bo", "eve"]
    on_track = filter_rows(view, pacing={PacingStatus.ON_TRACK})
    assert [r.student_id for r in on_track.rows] == ["ada"]


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.none() | st.floats(min_value=0, max_value=100),
        st.none() | st.sampled_from(list(PacingStatus)),
        st.none() | st.integers(min_value=0, max_value=20),
    ),
    max_size=8,
)


def synthetic(
    rows: list[tuple[str, float | None, PacingStatus | None, int | None]],
) -> ClassOverview:
    base = overview()
    template = base.rows[0]
    assert template.completion is not None
    shown = template.completion
    made = []
    for i, (name, completion, pacing, days) in enumerate(rows):
        made.append(
            attrs.evolve(
                template,
                student_id=f"s{i}",
                student_name=name,
                completion=None
                if completion is None
                else attrs.evolve(shown, value=completion),
                pacing=pacing,
                last_activity_at=None if days is None else day(days),
            )
        )
    return attrs.evolve(base, rows=tuple(made))


@given(rows_strategy, st.sampled_from(list(SortKey)), st.booleans())
def test_sorting_is_a_permutation_with_missing_last(
    rows: list[tuple[str, float | None, PacingStatus | None, int | None]],
    key: SortKey,
    descending: bool,
) -> None:
    """Sorting keeps every row once, orders present figures, and puts missing ones last."""
    view = synthetic(rows)
    result = sort_rows(view, key, descending=descending)
    assert sorted(r.student_id for r in result.rows) == sorted(
        r.student_id for r in view.rows
    )

    def figure(r: Any) -> Any:
        return {
            SortKey.NAME: r.student_name.casefold(),
            SortKey.COMPLETION: None if r.completion is None else r.completion.value,
            SortKey.MASTERY: None if r.mastery is None else r.mastery.value,
            SortKey.LAST_ACTIVITY: r.last_activity_at,
            SortKey.PACING: None
            if r.pacing is None
            else [
                PacingStatus.AT_RISK,
                PacingStatus.BEHIND,
                PacingStatus.ON_TRACK,
                PacingStatus.AHEAD,
            ].index(r.pacing),
        }[key]

    values = [figure(r) for r in result.rows]
    present = [x for x in values if x is not None]
    assert values[: len(present)] == present
    assert present == sorted(present, reverse=descending)


@given(rows_strategy, st.floats(min_value=0, max_value=100))
def test_filtering_keeps_exactly_the_rows_meeting_the_bound(
    rows: list[tuple[str, float | None, PacingStatus | None, int | None]], bound: float
) -> None:
    """A completion bound keeps the rows at or above it and nothing else, in order."""
    view = synthetic(rows)
    kept = filter_rows(view, completion_at_least=bound)
    assert [r.student_id for r in kept.rows] == [
        r.student_id
        for r in view.rows
        if r.completion is not None and r.completion.value >= bound
    ]


# -- the teacher's student detail -----------------------------------------------------------------


RISK_EVENT = StudentAtRiskDetected(
    event_id="risk-1",
    occurred_at=day(9),
    student_id="bo",
    assignment_id="fractions-1",
    risk_factors=("stuck_on_step_6_attempts",),
    pacing_status=PacingStatus.BEHIND,
    mastery_score=30.0,
    days_since_activity=5,
    intervention_recommended="remediation_recommendation",
)


def bo_detail() -> Any:
    return student_detail(
        "bo",
        WORLD.of("bo"),
        as_of=AS_OF,
        attempts=WORLD.attempts,
        audit=WORLD.audit,
        risk_events=[RISK_EVENT],
        summary=WORLD.summaries["bo"],
        directory=DIRECTORY,
    )


def test_student_detail_timeline_is_chronological_and_complete() -> None:
    """Attempts, completions, teacher actions and the at-risk detection, oldest first."""
    view = bo_detail()
    kinds = [t.kind for t in view.timeline]
    assert kinds.count("attempt") == 8
    assert kinds.count("teacher_action") == 2
    assert kinds.count("at_risk_detected") == 1
    assert "step_completed" in kinds
    times = [t.at for t in view.timeline]
    assert times == sorted(times)
    assert any(
        "marked a step complete: Meet fractions" in t.text for t in view.timeline
    )


def test_student_detail_heatmap_struggles_interventions_and_risk() -> None:
    """Bo's concepts, the steps he struggles with, what was done, and why he is flagged."""
    view = bo_detail()
    heat = {c.concept_id: c.level for c in view.mastery_heatmap}
    assert heat == {
        "decimals": MasteryLevel.LEARNING,
        "equivalence": MasteryLevel.NOT_STARTED,
        "fractions": MasteryLevel.PROFICIENT,
        "speed": MasteryLevel.NOT_STARTED,
    }
    assert all(c.label and c.symbol for c in view.mastery_heatmap)
    struggles = {(s.step_id, s.reasons) for s in view.struggles}
    assert struggles == {("learn", ("many_attempts",)), ("d1", ("low_score",))}
    # Same moment: by id, so the order is stable whatever the input order.
    assert [i.kind for i in view.interventions] == [
        "extend_due_date",
        "override_complete",
        "at_risk_detected",
    ]
    assert view.risk.at_risk
    assert view.risk.accessible_text == (
        "Flagged at risk: 6 attempts on one step without passing; no activity for 6 days"
    )


def test_inconsistent_scores_are_a_struggle() -> None:
    """Eve's 10, 95, 15 on one step flag inconsistent scores (D17's threshold)."""
    view = student_detail("eve", WORLD.of("eve"), as_of=AS_OF, directory=DIRECTORY)
    assert ("d1", ("inconsistent_scores",)) in {
        (s.step_id, s.reasons) for s in view.struggles
    }


def test_teachers_see_estimated_finish_dates() -> None:
    """The teacher's rows carry the projected completion date of open work (Q30)."""
    view = bo_detail()
    decimals = next(r for r in view.assignments if r.assignment_id == "decimals-1")
    progress = next(stored(r) for r in WORLD.of("bo") if r.structure is DECIMALS)
    assert decimals.estimated_completion_date == progress.estimated_completion_date


def test_concept_mastery_takes_the_best_step_per_concept() -> None:
    """A concept is as mastered as its best step; untouched steps count as not started."""
    levels = concept_mastery(WORLD.of("ada"))
    assert levels["fractions"] == (MasteryLevel.MASTERED, 2)
    assert levels["speed"] == (MasteryLevel.NOT_STARTED, 1)


# -- the admin dashboard ---------------------------------------------------------------------------


def world_result(
    summary: StudentProgressSummary,
    class_ids: tuple[str, ...],
    trends: tuple[TrendSample, ...] = (),
) -> StudentResult:
    """The batch result of a world student: their summary, their records'
    progress and an at-risk state with the summary's factors."""
    records = WORLD.of(summary.student_id)
    parsed = [RiskFactor.from_code(f) for f in summary.risk_factors]
    factors = sorted(
        (f for f in parsed if f is not None), key=lambda f: list(RiskRule).index(f.rule)
    )
    assessment = RiskAssessment(
        student_id=summary.student_id, assessed_at=AS_OF, factors=tuple(factors)
    )
    active = [
        r.progress
        for r in records
        if r.progress is not None
        and is_active_assignment(r.structure, r.progress, AS_OF)
    ]
    return StudentResult(
        student_id=summary.student_id,
        organization_id=summary.organization_id,
        class_ids=class_ids,
        as_of=AS_OF,
        summary=summary,
        completion_percentage=student_completion(summary),
        assignments=tuple(r.progress for r in records if r.progress is not None),
        sequences=(),
        risk=risk_update(None, assessment, summary=summary, id_prefix="world"),
        worst_pacing=_least_favourable(p.pacing_status for p in active)
        if active
        else None,
        trends=trends,
    )


def trend_samples_of_ada() -> tuple[TrendSample, ...]:
    """Weekly, monthly and quarterly samples up to AS_OF, and one of each after."""
    starts = {
        TrendPeriod.WEEK: [day(n) for n in (-7, 0, 7, 14)],
        TrendPeriod.MONTH: [day(n) for n in (-80, -50, -20, 5, 35)],
        TrendPeriod.QUARTER: [day(n) for n in (-380, -290, -200, -110, -20, 95)],
    }
    return tuple(
        TrendSample(
            period=period,
            period_start=period_start(moment, period),
            metric="completion_percentage",
            value=50.0 + i,
        )
        for period, moments in starts.items()
        for i, moment in enumerate(moments)
    )


def org_board() -> OrganizationDashboard:
    """The batch dashboard of the world's students, folded by the batch."""
    classes = {"ada": ("c1",), "bo": ("c1",), "eve": ("c1", "c2")}
    results = [
        world_result(
            s,
            classes[s.student_id],
            trend_samples_of_ada() if s.student_id == "ada" else (),
        )
        for s in WORLD.summaries.values()
    ]
    return organization_dashboard(results, organization_id="org-a", as_of=AS_OF)


def org_view() -> Any:
    return organization_dashboard_view(org_board(), directory=DIRECTORY)


def test_organization_dashboard_aggregates() -> None:
    """Totals, completion rate and mean mastery of students who started."""
    view = org_view()
    agg = view.aggregates
    assert agg.total_students.accessible_text == "3 students"
    assert agg.active_assignments.value == 5
    assert agg.completion_rate is not None
    assert (
        agg.completion_rate.accessible_text
        == "1 of 6 assignments completed, 17 percent"
    )
    assert agg.average_mastery is not None
    assert agg.average_mastery.value == pytest.approx((81.5 + 30 + 45) / 3)


def test_organization_trends_cover_week_month_and_quarter() -> None:
    """Each period holds the points inside it, never after as_of."""
    view = org_view()
    sizes = {t.period: len(t.points) for t in view.trends}
    assert sizes == {"week": 3, "month": 4, "quarter": 5}
    assert all(p.period_start <= AS_OF for t in view.trends for p in t.points)


def test_class_comparison_and_content_effectiveness() -> None:
    """Classes side by side; content ranked by the share of students who finished."""
    view = org_view()
    assert [c.class_id for c in view.classes] == ["c1", "c2"]
    assert view.classes[0].students.value == 3
    assert view.classes[0].at_risk.value == 1
    assert [(c.content_id, c.completion_rate.display) for c in view.content] == [
        ("fractions-1", "33%"),
        ("decimals-1", "0%"),
    ]


def test_engagement_metrics() -> None:
    """Active users in the past week, time this week, and streak persistence."""
    view = org_view()
    e = view.engagement
    assert e.active_users.value == 3
    assert (
        e.time_on_task_this_week.accessible_text == "Time on task this week: 15 minutes"
    )
    assert e.streak_persistence is not None
    assert e.streak_persistence.accessible_text == (
        "1 of 3 students on a streak of 3 days or more, 33 percent"
    )


def test_the_admin_view_presents_the_batch_figures() -> None:
    """Every figure of the admin view is the batch dashboard's, with text added."""
    board = org_board()
    view = organization_dashboard_view(board, directory=DIRECTORY)
    figures = board.figures
    assert view.aggregates.total_students.value == figures.students
    assert view.aggregates.completion_rate is not None
    assert view.aggregates.completion_rate.value == figures.completion_rate
    assert view.aggregates.average_mastery is not None
    assert view.aggregates.average_mastery.value == figures.mean_mastery_started
    assert view.engagement.active_users.value == figures.active_students
    assert {c.class_id for c in view.classes} == {c.class_id for c in board.classes}
    assert {c.content_id for c in view.content} == {
        e.assignment_id for e in figures.assignments
    }
    assert {p for t in view.trends for p in t.points} <= set(board.trends)


def test_average_mastery_leaves_out_students_who_never_started() -> None:
    """A student with no activity counts as a student but not in average mastery (Q32)."""
    dan = StudentProgressSummary(student_id="dan", organization_id="org-a")
    results = [
        world_result(WORLD.summaries["ada"], ("c1",)),
        world_result(dan, ("c1",)),
    ]
    board = organization_dashboard(results, organization_id="org-a", as_of=AS_OF)
    view = organization_dashboard_view(board, directory=DIRECTORY)
    assert view.aggregates.total_students.value == 2
    assert view.aggregates.average_mastery is not None
    assert view.aggregates.average_mastery.accessible_text == (
        "Average mastery score 81.5 over 1 student who has started"
    )
    assert board.figures.mean_mastery == pytest.approx(81.5 / 2)


def test_trend_series_read_from_the_first_to_the_last_point() -> None:
    """Each granularity reads its first and last means; without points, no data."""
    weekly, monthly, quarterly = org_view().trends
    assert weekly.accessible_text == (
        "Weekly trend over 3 weeks: average completion from 50 to 52 percent"
    )
    assert (monthly.period, quarterly.period) == (
        TrendPeriod.MONTH,
        TrendPeriod.QUARTER,
    )
    empty = organization_dashboard([], organization_id="org-a", as_of=AS_OF)
    assert [t.accessible_text for t in organization_dashboard_view(empty).trends] == [
        "Weekly trend: no data",
        "Monthly trend: no data",
        "Quarterly trend: no data",
    ]


# -- the parent report ----------------------------------------------------------------------------


def test_parent_report_is_plain_words_without_step_detail() -> None:
    """Bo's parents read sentences, assignment lines and suggestions; no step names, no labels."""
    view = parent_report(
        "bo",
        summary=WORLD.summaries["bo"],
        assignments=WORLD.of("bo"),
        as_of=AS_OF,
        directory=DIRECTORY,
    )
    assert view.headline[0] == "Bo has finished 0 assignments and is working on 2."
    assert [line.text for line in view.assignments] == [
        'Fractions & "friends" <1>: about 33 percent done, due 22 September 2026.',
        "Decimals: started, no activities finished yet, due 21 September 2026.",
    ]
    everything = render_parent_report_text(view)
    for hidden in (
        "Meet fractions",
        "Corner shop",
        "at risk",
        "stuck_on_step",
        "attempt",
    ):
        assert hidden not in everything
    assert view.suggestions == (
        "Bo is finding one activity hard. The teacher can help; asking is a good step.",
        "Bo has not practised for 6 days. A short session this week would help.",
    )


# -- JSON and text ---------------------------------------------------------------------------------


def every_view() -> list[Any]:
    return [
        student_report(
            "ada",
            WORLD.of("ada"),
            as_of=AS_OF,
            attempts=WORLD.attempts,
            summary=WORLD.summaries["ada"],
            directory=DIRECTORY,
        ),
        sort_rows(overview(), SortKey.COMPLETION, descending=True),
        bo_detail(),
        org_view(),
        parent_report(
            "bo",
            summary=WORLD.summaries["bo"],
            assignments=WORLD.of("bo"),
            as_of=AS_OF,
            directory=DIRECTORY,
        ),
    ]


@pytest.mark.parametrize("view", every_view(), ids=lambda v: type(v).__name__)
def test_every_view_round_trips_through_json(view: Any) -> None:
    """A view serializes through the one converter and reads back equal."""
    assert from_json(view_to_json(view), type(view)) == view


def figures_of(value: Any) -> list[Any]:
    """Every Figure inside a view, however deep."""
    from mlc_progress._views import Figure

    if isinstance(value, Figure):
        return [value]
    if attrs.has(type(value)):
        return [
            f
            for field in attrs.fields(type(value))
            for f in figures_of(getattr(value, field.name))
        ]
    if isinstance(value, tuple):
        return [f for item in value for f in figures_of(item)]
    return []


@pytest.mark.parametrize("view", every_view(), ids=lambda v: type(v).__name__)
def test_every_figure_has_accessible_text_with_its_number(view: Any) -> None:
    """Each figure carries a sentence, and the sentence holds the number it shows."""
    figures = figures_of(view)
    assert figures
    for figure in figures:
        assert figure.accessible_text.strip()
        number = figure.display.rstrip("%")
        if number.replace(".", "").isdigit() and "min" not in figure.display:
            assert number in figure.accessible_text, figure


def test_text_renderers_say_every_figure_in_words() -> None:
    """The text forms of each view hold the accessible texts of their figures."""
    report, grid, detail, org, parent = every_view()
    texts = {
        "report": render_student_report_text(report),
        "grid": render_class_overview_text(grid),
        "detail": render_student_detail_text(detail),
        "org": render_organization_text(org),
        "parent": render_parent_report_text(parent),
    }
    assert report.dashboard.completion.accessible_text in texts["report"]
    assert "Sorted by completion, descending" in texts["grid"]
    assert "✓ Complete" in texts["grid"]
    assert detail.risk.accessible_text in texts["detail"]
    assert org.aggregates.total_students.accessible_text in texts["org"]
    assert parent.headline[0] in texts["parent"]
