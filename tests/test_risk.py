"""At-risk detection (D17): the five rules at and around their thresholds, the
spec's factor strings, events only on change, intervention snapshots,
interventions as data, and dismissals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    InvalidInputError,
    PacingStatus,
    ScopeType,
    SnapshotTrigger,
    StudentAtRiskDetected,
    StudentProgressSummary,
    from_json,
    to_json,
)
from mlc_progress._risk import (
    RECOMMENDED_INTERVENTIONS,
    AssignmentStanding,
    DismissalStats,
    InterventionKind,
    RiskAssessment,
    RiskFactor,
    RiskRule,
    RiskState,
    RiskUpdate,
    StepRef,
    detect_risk,
    dismiss_risk,
    next_risk_state,
    risk_update,
    round_half_away,
)

from .test_rollups_support import STUDENT, Played, assignment, at, play, step


def standing(played: Played, as_of: datetime) -> AssignmentStanding:
    records = played.records()
    return AssignmentStanding(
        structure=played.structure,
        progress=records.current(student_id=STUDENT, as_of=as_of),
        steps=records.steps,
    )


def assess(*played: Played, as_of: datetime) -> RiskAssessment:
    return detect_risk(
        [standing(p, as_of) for p in played], student_id=STUDENT, as_of=as_of
    )


def codes(*played: Played, as_of: datetime) -> tuple[str, ...]:
    return assess(*played, as_of=as_of).codes


# -- rounding -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(52.5, 53), (53.5, 54), (52.4999, 52), (0.5, 1), (-2.5, -3), (40.0, 40), (0.0, 0)],
)
def test_rounding_is_half_away_from_zero(value: float, expected: int) -> None:
    """D17: halves round away from zero, unlike Python's round()."""
    assert round_half_away(value) == expected


# -- pacing -----------------------------------------------------------------------


def four_steps() -> Played:
    """Four required steps, created at T0, due 20 days later; one failed try
    on day 5.5 keeps the student recently active and at 0 %."""
    structure = assignment("a1", step("s1"), step("s2"), step("s3"), step("s4"))
    return play(structure, [("s1", 10.0, at(5.5))])


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (6, ()),  # expected 30, actual 0: exactly 30 behind is not more than 30
        (6.2, ("behind_pace_31_percent",)),
        (8, ("behind_pace_40_percent",)),
        (8.1, ("behind_pace_41_percent",)),  # 40.5 rounds away from zero
    ],
)
def test_pacing_rule_fires_more_than_30_points_behind(
    days: float, expected: tuple[str, ...]
) -> None:
    """D17 pacing: actual < expected - 30 gives behind_pace_{N}_percent."""
    assert codes(four_steps(), as_of=at(days)) == expected


def test_pacing_factor_names_the_worst_active_assignment() -> None:
    """N is the gap of the worst active assignment; it is the event's assignment."""
    lagging = four_steps()
    better = play(
        assignment("a2", step("s1"), step("s2"), due_in_days=20),
        [("s1", 90.0, at(1))],
    )
    assessment = assess(better, lagging, as_of=at(16, hours=1))
    assert assessment.codes[0] == "behind_pace_80_percent"
    assert assessment.assignment_id == "a1"
    assert assessment.pacing_status is PacingStatus.AT_RISK


def test_pacing_ignores_assignments_without_a_window() -> None:
    """No due date and no estimate: no expectation, no pacing factor (D15)."""
    structure = assignment("a1", step("s1"), due_in_days=None)
    assert "behind_pace" not in " ".join(codes(play(structure, []), as_of=at(3)))


# -- mastery ------------------------------------------------------------------------


def completed_steps(scores: Sequence[float], *, target: float = 40.0) -> Played:
    """One step per score, each completed by one attempt on successive days."""
    structure = assignment(
        "m1",
        *(step(f"s{i}", target=target) for i in range(len(scores))),
        due_in_days=None,
    )
    return play(
        structure, [(f"s{i}", score, at(1 + i)) for i, score in enumerate(scores)]
    )


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([52.0] * 5, ("low_mastery_avg_52",)),
        ([60.0] * 5, ()),
        ([59.9, 60.0, 60.0, 60.0, 60.0], ("low_mastery_avg_60",)),
        ([50.0, 55.0, 50.0, 55.0, 52.5], ("low_mastery_avg_53",)),
        ([45.0], ("low_mastery_avg_45",)),
        # Only the last five count: the first, very low, is left out.
        ([0.0, 70.0, 70.0, 70.0, 70.0, 70.0], ()),
        ([100.0, 45.0, 45.0, 45.0, 45.0, 45.0], ("low_mastery_avg_45",)),
    ],
)
def test_mastery_rule_averages_the_last_five_completed_steps(
    scores: list[float], expected: tuple[str, ...]
) -> None:
    """D17 mastery: mean best score of the last 5 completed steps < 60."""
    assert codes(completed_steps(scores), as_of=at(10)) == expected


def test_mastery_rule_skips_steps_completed_without_attempts() -> None:
    """A step completed by override has no attempt and no score to average."""
    played = completed_steps([52.0])
    overridden = attrs.evolve(
        played.steps["s0"],
        attempt_count=0,
        best_score=0.0,
        latest_score=0.0,
        score_mean=0.0,
        score_m2=0.0,
        first_attempt_at=None,
        first_score=None,
        latest_attempt_at=None,
        consistency_score=None,
        mastery_level=played.steps["s0"].mastery_level.NOT_STARTED,
        passed=False,
    )
    without = attrs.evolve(played, steps={"s0": overridden})
    assert codes(without, as_of=at(10)) == ()


def test_mastery_factor_lists_the_low_steps_for_remediation() -> None:
    """Remediation names the low recent steps, their games and concepts."""
    structure = assignment(
        "m1",
        step("s0", target=40, concepts=("fractions",)),
        step("s1", target=40, concepts=("decimals",)),
        due_in_days=None,
    )
    played = play(structure, [("s0", 45.0, at(1)), ("s1", 70.0, at(2))])
    assessment = assess(played, as_of=at(3))
    assert assessment.codes == ("low_mastery_avg_58",)  # (45 + 70) / 2 = 57.5
    remediation = next(
        i for i in assessment.interventions if i.kind is InterventionKind.REMEDIATION
    )
    assert remediation.steps == (StepRef(assignment_id="m1", step_id="s0"),)
    assert remediation.element_ids == ("game-s0",)
    assert remediation.concepts == ("fractions",)


# -- engagement -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (6.99, ()),
        (7, ("inactive_7_days",)),
        (9, ("inactive_9_days",)),
        (9.9, ("inactive_9_days",)),  # whole days
    ],
)
def test_engagement_rule_fires_after_7_days_without_activity(
    days: float, expected: tuple[str, ...]
) -> None:
    """D17 engagement: an active assignment and no activity for 7 days or more."""
    structure = assignment("a1", step("s1"), step("s2"), due_in_days=None)
    played = play(structure, [("s1", 90.0, at(1))])
    assert codes(played, as_of=at(1 + days)) == expected


def test_engagement_counts_from_creation_when_never_active() -> None:
    """Never active: days since the earliest active assignment's creation."""
    early = play(assignment("a1", step("s1"), due_in_days=None), [])
    late = play(assignment("a2", step("s1"), created_at=at(3), due_in_days=None), [])
    assessment = assess(early, late, as_of=at(9))
    assert assessment.codes == ("inactive_9_days",)
    assert assessment.days_since_activity == 9
    assert assessment.assignment_id == "a1"


def test_engagement_needs_an_active_assignment() -> None:
    """A student with everything done is not flagged for resting."""
    done = play(assignment("a1", step("s1"), due_in_days=None), [("s1", 90.0, at(1))])
    assert codes(done, as_of=at(30)) == ()


def test_engagement_counts_activity_the_step_records_do_not_show() -> None:
    """``last_activity_at`` (from the attempt log) counts too: the latest wins."""
    idle = play(assignment("a1", step("s1"), due_in_days=None), [])
    assessment = detect_risk(
        [standing(idle, at(9))],
        student_id=STUDENT,
        as_of=at(9),
        last_activity_at=at(5),
    )
    assert assessment.codes == ()
    assert assessment.days_since_activity == 4


# -- struggle -----------------------------------------------------------------------------


def tries(n: int, score: float = 40.0, *, target: float = 80.0) -> Played:
    structure = assignment(
        "a1", step("s1", target=target), step("s2"), due_in_days=None
    )
    return play(structure, [("s1", score, at(1, hours=i)) for i in range(n)])


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (5, ()),
        (6, ("stuck_on_step_6_attempts",)),
        (7, ("stuck_on_step_7_attempts",)),
    ],
)
def test_struggle_rule_fires_after_more_than_5_attempts_without_passing(
    n: int, expected: tuple[str, ...]
) -> None:
    """D17 struggle: a step not passed after more than 5 attempts."""
    assert codes(tries(n), as_of=at(2)) == expected


def test_struggle_rule_ignores_a_passed_step() -> None:
    """Seven attempts ending in a pass is persistence, not a struggle."""
    structure = assignment("a1", step("s1"), step("s2"), due_in_days=None)
    plays = [("s1", 40.0, at(1, hours=i)) for i in range(6)] + [
        ("s1", 80.0, at(1, hours=7))
    ]
    assert not any(
        c.startswith("stuck") for c in codes(play(structure, plays), as_of=at(2))
    )


def test_struggle_names_the_step_with_the_most_attempts() -> None:
    """N is the largest count; the factor points at that step."""
    structure = assignment("a1", step("s1"), step("s2"), due_in_days=None)
    plays = [("s1", 40.0, at(1, hours=i)) for i in range(6)]
    plays += [("s2", 40.0, at(1, hours=10 + i)) for i in range(8)]
    factor = assess(play(structure, plays), as_of=at(2)).factors[0]
    assert factor.code == "stuck_on_step_8_attempts"
    assert factor.steps == (StepRef(assignment_id="a1", step_id="s2"),)


# -- consistency ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([60.0, 60.0, 20.0, 20.0], ("inconsistent_scores_cv_50",)),  # cv = 40 / 80
        ([59.0, 59.0, 21.0, 21.0], ()),  # cv = 38 / 80
        ([70.0, 10.0], ()),  # only two attempts
        ([70.0, 10.0, 10.0], ("inconsistent_scores_cv_94",)),
    ],
)
def test_consistency_rule_fires_at_cv_half_with_three_attempts(
    scores: list[float], expected: tuple[str, ...]
) -> None:
    """D17 consistency: at least 3 attempts and a consistency score >= 0.5."""
    structure = assignment("a1", step("s1"), step("s2"), due_in_days=None)
    played = play(structure, [("s1", s, at(1, hours=i)) for i, s in enumerate(scores)])
    assert codes(played, as_of=at(2)) == expected


# -- the spec's examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("played", "as_of", "factor"),
    [
        (four_steps(), at(8), "behind_pace_40_percent"),
        (completed_steps([52.0] * 5), at(10), "low_mastery_avg_52"),
        (
            play(
                assignment("a1", step("s1"), step("s2"), due_in_days=None),
                [("s1", 90.0, at(1))],
            ),
            at(10),
            "inactive_9_days",
        ),
        (tries(7), at(2), "stuck_on_step_7_attempts"),
    ],
    ids=["pacing", "mastery", "engagement", "struggle"],
)
def test_risk_factor_examples_of_the_spec(
    played: Played, as_of: datetime, factor: str
) -> None:
    """Each of the spec's risk factor examples comes out exactly."""
    assert codes(played, as_of=as_of) == (factor,)


def test_factors_come_in_rule_order() -> None:
    """Several rules at once: the factors follow D17's order."""
    structure = assignment("a1", step("s1"), step("s2"), step("s3"), due_in_days=20)
    plays = [("s1", 40.0, at(0, hours=i)) for i in range(7)]
    assessment = assess(play(structure, plays), as_of=at(19))
    assert assessment.rules == (
        RiskRule.PACING,
        RiskRule.ENGAGEMENT,
        RiskRule.STRUGGLE,
    )
    assert assessment.intervention_recommended == "pacing_adjustment"


# -- interventions -------------------------------------------------------------------------


def test_every_rule_recommends_a_teacher_notification_first() -> None:
    """The spec's first trigger: the teacher hears about every factor."""
    for rule, kinds in RECOMMENDED_INTERVENTIONS.items():
        assert kinds[0] is InterventionKind.TEACHER_NOTIFICATION, rule
        assert len(kinds) >= 2, rule
    assert set(RECOMMENDED_INTERVENTIONS) == set(RiskRule)


def test_pacing_adjustment_proposes_a_due_date_for_the_behind_share() -> None:
    """40 points behind on a 20-day window: 8 more days after the due date."""
    assessment = assess(four_steps(), as_of=at(8))
    kinds = [i.kind for i in assessment.interventions]
    assert kinds == [
        InterventionKind.TEACHER_NOTIFICATION,
        InterventionKind.PACING_ADJUSTMENT,
        InterventionKind.PARENT_COMMUNICATION,
    ]
    adjustment = assessment.interventions[1]
    assert adjustment.assignment_id == "a1"
    assert adjustment.proposed_due_at == at(20 + 8)


def test_pacing_adjustment_after_the_due_date_starts_from_now() -> None:
    """Past the due date, the extension counts from the assessment."""
    assessment = assess(four_steps(), as_of=at(25))
    adjustment = next(
        i
        for i in assessment.interventions
        if i.kind is InterventionKind.PACING_ADJUSTMENT
    )
    assert adjustment.proposed_due_at == at(25 + 20)


def test_parent_report_is_plain_language() -> None:
    """The parent-friendly report speaks of the child, not of factor codes."""
    assessment = assess(four_steps(), as_of=at(8))
    parent = assessment.interventions[-1]
    assert parent.kind is InterventionKind.PARENT_COMMUNICATION
    assert parent.message == (
        "Your child is about 40% behind where the class plan expects by now."
    )
    assert parent.factors == ("behind_pace_40_percent",)


def test_teacher_notification_lists_every_factor() -> None:
    """The notification carries all the factor strings."""
    structure = assignment("a1", step("s1"), step("s2"), step("s3"), due_in_days=20)
    plays = [("s1", 40.0, at(0, hours=i)) for i in range(7)]
    assessment = assess(play(structure, plays), as_of=at(19))
    note = assessment.interventions[0]
    assert note.factors == assessment.codes
    assert note.message == "At risk: " + ", ".join(assessment.codes)


# -- state over time -------------------------------------------------------------------------


def assessment_of(*factors: RiskFactor, when: datetime | None = None) -> RiskAssessment:
    return RiskAssessment(
        student_id=STUDENT, assessed_at=when or at(10), factors=factors
    )


def summary_of(state: RiskState) -> StudentProgressSummary:
    return StudentProgressSummary(
        student_id=STUDENT,
        organization_id="org",
        at_risk=state.effective_at_risk,
        risk_factors=state.effective_factors,
    )


def update(
    previous: RiskState | None, assessment: RiskAssessment, prefix: str = "r"
) -> RiskUpdate:
    state = next_risk_state(previous, assessment)
    return risk_update(
        previous, assessment, summary=summary_of(state), id_prefix=prefix
    )


INACTIVE_9 = RiskFactor(rule=RiskRule.ENGAGEMENT, amount=9, assignment_id="a1")
INACTIVE_10 = RiskFactor(rule=RiskRule.ENGAGEMENT, amount=10, assignment_id="a1")
BEHIND_40 = RiskFactor(rule=RiskRule.PACING, amount=40, assignment_id="a1")


def test_event_on_flag_raised_not_on_a_changed_number() -> None:
    """The event fires when the flag goes up, not when N moves (D17)."""
    first = update(None, assessment_of(INACTIVE_9))
    (event, snap_event) = first.events
    assert isinstance(event, StudentAtRiskDetected)
    assert event.risk_factors == ("inactive_9_days",)
    assert event.event_id == "r/student_at_risk_detected"
    assert snap_event.name == "progress_snapshot_created"
    second = update(first.state, assessment_of(INACTIVE_10))
    assert second.events == ()
    assert second.snapshots == ()
    assert second.state.factors == ("inactive_10_days",)


def test_event_on_a_new_kind_without_a_snapshot() -> None:
    """A new factor kind emits the event; the flag did not change, so no snapshot."""
    first = update(None, assessment_of(INACTIVE_9))
    second = update(first.state, assessment_of(BEHIND_40, INACTIVE_10))
    (event,) = second.events
    assert isinstance(event, StudentAtRiskDetected)
    assert event.risk_factors == ("behind_pace_40_percent", "inactive_10_days")
    assert event.intervention_recommended == "pacing_adjustment"
    assert second.snapshots == ()
    assert second.raised == (RiskRule.PACING,)


def test_clearing_the_flag_emits_an_event_and_a_snapshot() -> None:
    """Flag down: one event with no factors and 'none', and an intervention snapshot."""
    first = update(None, assessment_of(INACTIVE_9))
    cleared = update(first.state, assessment_of())
    event = cleared.events[0]
    assert isinstance(event, StudentAtRiskDetected)
    assert event.risk_factors == ()
    assert event.intervention_recommended == "none"
    (snapshot,) = cleared.snapshots
    assert snapshot.trigger is SnapshotTrigger.INTERVENTION
    assert snapshot.scope_type is ScopeType.STUDENT
    assert snapshot.notes == "at_risk_cleared"
    assert update(cleared.state, assessment_of()).events == ()


def test_intervention_snapshot_when_the_flag_rises() -> None:
    """Spec: a snapshot when at-risk status changes, scope student."""
    (snapshot,) = update(None, assessment_of(INACTIVE_9)).snapshots
    assert snapshot.trigger is SnapshotTrigger.INTERVENTION
    assert snapshot.notes == "at_risk"
    assert snapshot.metrics_snapshot["at_risk"] == 1
    assert snapshot.snapshot_id == "r/intervention_snapshot"


def test_event_fields_come_from_the_primary_factor() -> None:
    """assignment, pacing, mastery and days since activity of the worst assignment."""
    assessment = assess(four_steps(), as_of=at(8))
    (event, _) = update(None, assessment).events
    assert isinstance(event, StudentAtRiskDetected)
    assert event.assignment_id == "a1"
    assert event.pacing_status is PacingStatus.AT_RISK
    assert event.mastery_score == 10.0 / 4  # s1's best, one of four PLAY steps
    assert event.days_since_activity == 2  # since day 5.5
    assert event.intervention_recommended == "pacing_adjustment"


Kinds = st.lists(st.sampled_from(RiskRule), unique=True).map(
    lambda rules: tuple(sorted(rules, key=list(RiskRule).index))
)


@given(st.lists(st.tuples(Kinds, st.integers(7, 40)), min_size=1, max_size=8))
def test_events_fire_exactly_when_flag_or_kinds_change(
    steps: list[tuple[tuple[RiskRule, ...], int]],
) -> None:
    """Over any sequence of assessments, an event marks each change of the
    flag or of the set of factor kinds, and nothing else (D17)."""
    state: RiskState | None = None
    for i, (rules, n) in enumerate(steps):
        factors = tuple(RiskFactor(rule=r, amount=n) for r in rules)
        before_rules = set(state.rules) if state else set()
        before_flag = state.at_risk if state else False
        result = update(state, assessment_of(*factors, when=at(i)), prefix=f"r{i}")
        detected = [e for e in result.events if isinstance(e, StudentAtRiskDetected)]
        assert len(detected) == (set(rules) != before_rules)
        assert len(result.snapshots) == (bool(rules) != before_flag)
        state = result.state


# -- dismissals ---------------------------------------------------------------------------


def test_a_dismissal_stands_until_the_factor_kinds_change() -> None:
    """Dismissed as wrong: hidden while the kinds hold, even as N moves; a new
    kind ends it and emits the event."""
    first = update(None, assessment_of(INACTIVE_9))
    dismissed, record = dismiss_risk(
        first.state,
        dismissal_id="d1",
        actor_id="teacher-1",
        reason="on a school trip",
        dismissed_at=at(10, hours=1),
    )
    assert not dismissed.effective_at_risk
    assert record.rules == (RiskRule.ENGAGEMENT,)
    assert record.factors == ("inactive_9_days",)
    same = update(dismissed, assessment_of(INACTIVE_10, when=at(11)))
    assert same.state.dismissal == record
    assert same.events == ()
    changed = update(same.state, assessment_of(BEHIND_40, INACTIVE_10, when=at(12)))
    assert changed.state.dismissal is None
    assert changed.state.effective_at_risk
    assert len(changed.events) == 1


def test_a_dismissal_ends_when_the_flag_clears() -> None:
    """Once the student is no longer at risk, a later flag is a new one."""
    first = update(None, assessment_of(INACTIVE_9))
    dismissed, _ = dismiss_risk(
        first.state, dismissal_id="d1", actor_id="t", reason="trip", dismissed_at=at(10)
    )
    cleared = update(dismissed, assessment_of(when=at(11)))
    again = update(cleared.state, assessment_of(INACTIVE_9, when=at(20)))
    assert again.state.dismissal is None
    assert again.state.effective_at_risk


def test_only_a_standing_flag_can_be_dismissed() -> None:
    """No flag, or one already dismissed: InvalidInputError."""
    with pytest.raises(InvalidInputError) as error:
        dismiss_risk(
            RiskState(student_id=STUDENT),
            dismissal_id="d",
            actor_id="t",
            reason="x",
            dismissed_at=at(1),
        )
    assert error.value.field == "at_risk"
    state, _ = dismiss_risk(
        update(None, assessment_of(INACTIVE_9)).state,
        dismissal_id="d",
        actor_id="t",
        reason="x",
        dismissed_at=at(1),
    )
    with pytest.raises(InvalidInputError) as again:
        dismiss_risk(
            state, dismissal_id="d2", actor_id="t", reason="x", dismissed_at=at(2)
        )
    assert again.value.field == "dismissal"


def test_dismissals_are_counted_per_rule() -> None:
    """Raises and dismissals per rule give each rule's dismissal rate."""
    stats = DismissalStats()
    first = update(None, assessment_of(BEHIND_40, INACTIVE_9))
    stats = stats.add_update(first)
    _, record = dismiss_risk(
        first.state, dismissal_id="d", actor_id="t", reason="x", dismissed_at=at(10)
    )
    stats = stats.add_dismissal(record)
    stats = stats.add_update(update(first.state, assessment_of(INACTIVE_10)))
    assert stats.raised.pacing == 1
    assert stats.raised.engagement == 1
    assert stats.dismissed.pacing == 1
    assert stats.dismissal_rate(RiskRule.PACING) == 100.0
    assert stats.dismissal_rate(RiskRule.STRUGGLE) is None


def test_a_dismissal_is_refused_on_other_kinds() -> None:
    """A state cannot carry a dismissal of kinds it does not have."""
    state, record = dismiss_risk(
        update(None, assessment_of(INACTIVE_9)).state,
        dismissal_id="d",
        actor_id="t",
        reason="x",
        dismissed_at=at(1),
    )
    with pytest.raises(InvalidInputError):
        attrs.evolve(
            state, rules=(RiskRule.PACING,), factors=("behind_pace_40_percent",)
        )
    assert record.student_id == STUDENT


def test_risk_state_round_trips_through_json() -> None:
    """Stored state, dismissal included, reads back equal; rules are their strings."""
    state, _ = dismiss_risk(
        update(None, assessment_of(BEHIND_40, INACTIVE_9)).state,
        dismissal_id="d",
        actor_id="t",
        reason="trip",
        dismissed_at=at(1),
    )
    text = to_json(state)
    assert '"rules":["pacing","engagement"]' in text
    assert from_json(text, RiskState) == state
    with pytest.raises(InvalidInputError):
        from_json(text.replace('"pacing"', '"nonsense"'), RiskState)


def test_assessments_refuse_repeated_or_disordered_rules() -> None:
    """One factor per rule, in rule order."""
    with pytest.raises(InvalidInputError):
        assessment_of(INACTIVE_9, BEHIND_40)
    with pytest.raises(InvalidInputError):
        assessment_of(INACTIVE_9, INACTIVE_10)


def test_update_refuses_another_students_summary() -> None:
    """The snapshot summary must be the assessed student's."""
    other = StudentProgressSummary(student_id="bob", organization_id="org")
    with pytest.raises(InvalidInputError):
        risk_update(None, assessment_of(INACTIVE_9), summary=other, id_prefix="r")


def test_no_risk_for_a_student_without_assignments() -> None:
    """Nothing assigned: nothing to be at risk about."""
    assessment = detect_risk([], student_id=STUDENT, as_of=at(100))
    assert not assessment.at_risk
    assert assessment.interventions == ()
    assert assessment.days_since_activity == 0
    assert assessment.intervention_recommended == "none"


def test_far_future_as_of_keeps_days_whole() -> None:
    """Days since activity are whole days (floor), even far away."""
    played = tries(1)
    assessment = assess(played, as_of=at(1) + timedelta(days=400, hours=23))
    assert assessment.days_since_activity == 400


def test_a_due_date_past_the_last_date_is_not_proposed() -> None:
    """A pacing adjustment that would land after 9999-12-31 proposes no
    date instead of failing the student's whole batch."""
    from datetime import UTC

    from mlc_progress import AssignmentProgress, AssignmentStructure
    from mlc_progress._risk import proposed_due_date

    structure = AssignmentStructure(
        assignment_id="a",
        steps=(),
        created_at=datetime(2000, 1, 1, tzinfo=UTC),
        due_at=datetime(9999, 6, 1, tzinfo=UTC),
    )
    progress = AssignmentProgress(assignment_id="a", student_id=STUDENT)
    as_of = datetime(9999, 1, 1, tzinfo=UTC)
    assert proposed_due_date(structure, progress, gap_points=60.0, as_of=as_of) is None
    near = attrs.evolve(structure, created_at=datetime(9999, 5, 1, tzinfo=UTC))
    proposed = proposed_due_date(near, progress, gap_points=50.0, as_of=as_of)
    assert proposed == datetime(9999, 6, 17, tzinfo=UTC)


def test_a_pacing_window_ending_past_9999_is_refused_as_its_progress_is() -> None:
    """D15: detect_risk, and proposed_due_date, on an active assignment whose
    estimated window (created_at + estimated_duration) ends after 9999
    raise assignment progress's typed error, naming estimated_duration; an
    extension (D8) is a window end of its own and is assessed."""
    from datetime import UTC

    from mlc_progress import AssignmentProgress, AssignmentStructure
    from mlc_progress._assignment import assignment_progress
    from mlc_progress._risk import proposed_due_date

    structure = AssignmentStructure(
        assignment_id="a",
        steps=(),
        created_at=datetime(9999, 12, 1, tzinfo=UTC),
        estimated_duration=timedelta(days=60),
    )
    as_of = datetime(9999, 12, 2, tzinfo=UTC)
    progress = AssignmentProgress(assignment_id="a", student_id=STUDENT)
    with pytest.raises(InvalidInputError) as expected:
        assignment_progress(structure, [], student_id=STUDENT, as_of=as_of)
    for call in (
        lambda: detect_risk(
            [AssignmentStanding(structure=structure, progress=progress)],
            student_id=STUDENT,
            as_of=as_of,
        ),
        lambda: proposed_due_date(structure, progress, gap_points=40.0, as_of=as_of),
    ):
        with pytest.raises(InvalidInputError) as error:
            call()
        assert error.value.field == expected.value.field == "estimated_duration"
        assert error.value.rule == expected.value.rule
    extended = attrs.evolve(
        progress, due_at_override=datetime(9999, 12, 31, tzinfo=UTC)
    )
    standing = AssignmentStanding(structure=structure, progress=extended)
    assert detect_risk([standing], student_id=STUDENT, as_of=as_of).factors == ()
