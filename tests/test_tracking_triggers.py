"""Every real-time trigger of the spec as an example (spec: Progress Update
Triggers, Automatic Snapshot Triggers; D2, D3, D7 to D9, D14 to D16).

Ada works through a three-step assignment (learn, play, quiz; target 80)
created at ``T0`` and due four weeks later; her teacher acts on it.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from mlc_progress import (
    AdjustTarget,
    ArchiveAssignment,
    AssignmentProgressMilestone,
    AssignmentStatus,
    AssignmentStructure,
    AuditEntry,
    Command,
    CompletionSource,
    ExtendDueDate,
    InvalidInputError,
    MasteryLevel,
    NotFoundError,
    OriginalContext,
    PacingStatus,
    ProgressReconciled,
    ProgressSnapshotCreated,
    ReconcileFreePlay,
    ReconciliationType,
    RequestTeacherReview,
    ScopeType,
    SequenceMilestone,
    SequenceProgressMilestone,
    SequenceStructure,
    SnapshotTrigger,
    Stage,
    StartStep,
    StepProgress,
    StepProgressUpdated,
    StepState,
)
from mlc_progress._tracking import (
    CONSISTENCY_DIGITS,
    Outcome,
    ProgressState,
    apply_command,
    initial_step_progress,
)

from .test_tracking_support import (
    ASSIGNMENT,
    STUDENT,
    T0,
    TEACHER,
    assignment,
    at,
    attempt,
    definition,
    fresh,
    override,
    replay,
    three_steps,
)

NOW = at(40)


def step_events(outcome: Outcome) -> list[StepProgressUpdated]:
    return [e for e in outcome.events if isinstance(e, StepProgressUpdated)]


def milestones(outcome: Outcome) -> list[str]:
    return [
        e.milestone
        for e in outcome.events
        if isinstance(e, AssignmentProgressMilestone)
    ]


def changed(outcome: Outcome) -> dict[str, StepProgress]:
    return {s.step_id: s for s in outcome.steps}


def start(
    command_id: str, step_id: str, when: datetime, session_id: str = "k1"
) -> StartStep:
    return StartStep(
        command_id=command_id,
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        step_id=step_id,
        started_at=when,
        session_id=session_id,
    )


def adjust(
    command_id: str, step_id: str, target: float, when: datetime
) -> AdjustTarget:
    return AdjustTarget(
        command_id=command_id,
        actor_id=TEACHER,
        reason="reading difficulties",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        step_id=step_id,
        target_score=target,
        issued_at=when,
    )


def extend(command_id: str, due: datetime, when: datetime) -> ExtendDueDate:
    return ExtendDueDate(
        command_id=command_id,
        actor_id=TEACHER,
        reason="family emergency",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        due_at=due,
        issued_at=when,
    )


def free_play(
    command_id: str,
    step_id: str,
    score: float,
    achieved: datetime,
    when: datetime,
    *,
    element_id: str | None = None,
    stage: Stage | None = None,
) -> ReconcileFreePlay:
    """A free-play score for ``step_id``'s game, in its stage unless given."""
    own = {"learn": Stage.LEARN, "quiz": Stage.QUIZ}.get(step_id, Stage.PLAY)
    return ReconcileFreePlay(
        command_id=command_id,
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        step_id=step_id,
        element_id=element_id or f"game-{step_id}",
        stage=stage or own,
        score=score,
        achieved_at=achieved,
        original_context=OriginalContext.ALL_GAMES,
        issued_at=when,
    )


def review(command_id: str, when: datetime) -> RequestTeacherReview:
    return RequestTeacherReview(
        command_id=command_id,
        actor_id=TEACHER,
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        issued_at=when,
    )


def archive(command_id: str, when: datetime) -> ArchiveAssignment:
    return ArchiveAssignment(
        command_id=command_id,
        actor_id="admin-1",
        reason="end of term",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        issued_at=when,
    )


# -- unlocking (D7, D10; docs/decisions.md) -----------------------------------


def test_the_first_step_is_available_from_creation_and_the_others_locked() -> None:
    """Before anything happens only the first step is available, since creation."""
    structure = three_steps()
    first = initial_step_progress(structure, "learn", student_id=STUDENT)
    second = initial_step_progress(structure, "play", student_id=STUDENT)
    assert (first.state, first.available_at) == (StepState.AVAILABLE, T0)
    assert (second.state, second.available_at) == (StepState.LOCKED, None)


def test_completing_a_step_unlocks_the_next_at_its_completion_time() -> None:
    """The next step becomes available when the one before it completes."""
    outcome = apply_command(
        attempt("t1", "learn", 85, at(1)), fresh(three_steps()), as_of=NOW
    )
    records = changed(outcome)
    assert records["learn"].state is StepState.COMPLETE
    assert records["play"].state is StepState.AVAILABLE
    assert records["play"].available_at == at(1)
    assert "quiz" not in records  # still locked: no record needed (Q17)
    assert outcome.assignment is not None
    assert outcome.assignment.next_step_id == "play"


def test_a_failed_attempt_unlocks_nothing() -> None:
    """A step below its target is in progress and the next stays locked."""
    outcome = apply_command(
        attempt("t1", "learn", 60, at(1)), fresh(three_steps()), as_of=NOW
    )
    assert set(changed(outcome)) == {"learn"}
    assert changed(outcome)["learn"].state is StepState.IN_PROGRESS


@pytest.mark.parametrize(
    ("optional", "deprecated", "expected"),
    [
        (True, False, StepState.AVAILABLE),
        (False, True, StepState.AVAILABLE),
        (False, False, StepState.LOCKED),
    ],
    ids=["optional", "deprecated", "required"],
)
def test_optional_and_deprecated_steps_never_block_the_next(
    optional: bool, deprecated: bool, expected: StepState
) -> None:
    """A step after a non-required one unlocks with it; after a required one it waits."""
    middle = definition("b", optional=optional, deprecated=deprecated)
    structure = assignment(definition("a"), middle, definition("c"))
    outcome = apply_command(attempt("t1", "a", 90, at(1)), fresh(structure), as_of=NOW)
    state = fresh(structure).after(outcome)
    third = state.steps.get("c")
    assert (third.state if third else StepState.LOCKED) is expected


# -- step started -------------------------------------------------------------


def test_step_started_moves_the_step_in_progress_and_starts_the_assignment() -> None:
    """Starting a step sets started_at and a session, and snapshots the start."""
    outcome = apply_command(
        start("c1", "learn", at(1)), fresh(three_steps()), as_of=NOW
    )
    step = changed(outcome)["learn"]
    assert (step.state, step.started_at, step.session_count) == (
        StepState.IN_PROGRESS,
        at(1),
        1,
    )
    assert step.attempt_count == 0
    assert outcome.assignment is not None
    assert outcome.assignment.status is AssignmentStatus.IN_PROGRESS
    assert outcome.assignment.started_at == at(1)
    [event] = step_events(outcome)
    assert (event.previous_state, event.new_state) == (
        StepState.AVAILABLE,
        StepState.IN_PROGRESS,
    )
    [snapshot] = outcome.snapshots
    assert (snapshot.trigger, snapshot.notes) == (
        SnapshotTrigger.MILESTONE,
        "assignment_started",
    )


def test_the_assignment_started_snapshot_is_taken_once() -> None:
    """Only the first activity of the assignment takes the started snapshot."""
    result = replay(
        fresh(three_steps()),
        [start("c1", "learn", at(1)), attempt("t1", "learn", 60, at(1, hours=1))],
        as_of=NOW,
    )
    notes = [s.notes for o in result.outcomes for s in o.snapshots]
    assert notes == ["assignment_started"]


# -- step completed and score improved (D7 rule 1) ---------------------------------


def test_an_attempt_meeting_the_target_completes_the_step_as_fresh_attempt() -> None:
    """best_score >= target_score completes the step at the attempt's time."""
    outcome = apply_command(
        attempt("t1", "learn", 80, at(1)), fresh(three_steps()), as_of=NOW
    )
    step = changed(outcome)["learn"]
    assert step.state is StepState.COMPLETE
    assert step.completed_at == at(1)
    assert step.completion_source is CompletionSource.FRESH_ATTEMPT
    assert step.passed
    assert step.mastery_level is MasteryLevel.MASTERED  # one attempt: D5 gives 0.0
    [learn, play] = step_events(outcome)
    assert (learn.previous_state, learn.new_state) == (
        StepState.AVAILABLE,
        StepState.COMPLETE,
    )
    assert (learn.score_achieved, learn.target_score, learn.passed) == (80, 80, True)
    assert (play.step_id, play.new_state) == ("play", StepState.AVAILABLE)


def test_a_better_score_updates_best_latest_and_mastery() -> None:
    """A new best score is recorded with the attempt that achieved it."""
    result = replay(
        fresh(three_steps()),
        [attempt("t1", "learn", 50, at(1)), attempt("t2", "learn", 70, at(2))],
        as_of=NOW,
    )
    outcome = result.outcomes[-1]
    step = changed(outcome)["learn"]
    assert (step.best_score, step.latest_score, step.attempt_count) == (70, 70, 2)
    assert step.mastery_level is MasteryLevel.PROFICIENT  # 70 >= 0.7 * 80 = 56
    [event] = step_events(outcome)
    assert (event.score_achieved, event.attempt_count, event.passed) == (70, 2, False)
    assert event.mastery_level is MasteryLevel.PROFICIENT


@pytest.mark.parametrize(
    ("scores", "mastery", "consistency"),
    [
        ([50.0], MasteryLevel.LEARNING, 0.0),  # 50 < 0.7 * 80
        ([60.0], MasteryLevel.PROFICIENT, 0.0),  # 56 <= 60 < 80
        ([85.0], MasteryLevel.MASTERED, 0.0),
        ([70.0, 90.0], MasteryLevel.MASTERED, 0.125),  # 10 / 80 < 0.15
        ([60.0, 100.0], MasteryLevel.PROFICIENT, 0.25),  # 20 / 80 >= 0.15
    ],
)
def test_mastery_follows_the_spec_pseudo_code(
    scores: list[float], mastery: MasteryLevel, consistency: float
) -> None:
    """The spec's mastery table and D5's consistency, attempt by attempt (D6)."""
    attempts = [
        attempt(f"t{i}", "learn", s, at(1, hours=i)) for i, s in enumerate(scores)
    ]
    state = replay(fresh(three_steps()), attempts, as_of=NOW).state
    step = state.steps["learn"]
    assert step.mastery_level is mastery
    assert step.consistency_score == consistency


def test_mastery_does_not_depend_on_the_order_of_equal_consistency() -> None:
    """Scores whose consistency is exactly 0.15 are proficient in any order (D6).

    Without rounding, the running moments give 0.14999999999999997 in one
    delivery order and 0.15 in the other.
    """
    scores = [17.0, 23.0, 23.0, 17.0, 23.0, 23.0, 17.0, 17.0]
    structure = assignment(definition("a", target=20))
    played = [attempt(f"t{i}", "a", s, at(1, hours=i)) for i, s in enumerate(scores)]
    other = [played[i] for i in (1, 2, 4, 0, 3, 6, 5, 7)]
    assert [a.score for a in other] == [23, 23, 23, 17, 17, 17, 23, 17]
    ordered = replay(fresh(structure), played, as_of=NOW).state.steps["a"]
    shuffled = replay(fresh(structure), other, as_of=NOW).state.steps["a"]
    assert ordered.consistency_score == shuffled.consistency_score == 0.15
    assert ordered.mastery_level is shuffled.mastery_level is MasteryLevel.PROFICIENT
    assert CONSISTENCY_DIGITS == 9


# -- late attempts, exactly once (D2, D3) --------------------------------------------


def test_a_late_attempt_counts_but_does_not_move_the_latest_score_or_activity() -> None:
    """An attempt stamped before the latest counts, and changes no latest (D2)."""
    result = replay(
        fresh(three_steps()),
        [attempt("t2", "learn", 60, at(2)), attempt("t1", "learn", 70, at(1))],
        as_of=NOW,
    )
    step = result.state.steps["learn"]
    assert (step.attempt_count, step.best_score, step.latest_score) == (2, 70, 60)
    assert step.last_activity_at == at(2)
    assert (step.started_at, step.first_attempt_at, step.first_score) == (
        at(1),
        at(1),
        70,
    )


def test_a_late_qualifying_attempt_moves_the_completion_back() -> None:
    """The earliest attempt that met the target dates the completion (D2, D7)."""
    result = replay(
        fresh(three_steps()),
        [attempt("t2", "learn", 90, at(2)), attempt("t1", "learn", 85, at(1))],
        as_of=NOW,
    )
    assert result.state.steps["learn"].completed_at == at(1)
    assert result.state.steps["play"].available_at == at(1)
    late = result.outcomes[-1]
    assert [s.step_id for s in late.steps] == ["learn", "play"]
    # play's available_at is bookkeeping beyond the spec: no event for it.
    assert [e.step_id for e in step_events(late)] == ["learn"]


def test_an_attempt_on_a_locked_step_counts() -> None:
    """Attempts delivered before the one that unlocks their step still count (D2)."""
    outcome = apply_command(
        attempt("t2", "quiz", 70, at(2)), fresh(three_steps()), as_of=NOW
    )
    quiz = changed(outcome)["quiz"]
    assert (quiz.state, quiz.attempt_count, quiz.available_at) == (
        StepState.IN_PROGRESS,
        1,
        at(2),
    )
    [event] = step_events(outcome)
    assert (event.previous_state, event.new_state) == (
        StepState.LOCKED,
        StepState.IN_PROGRESS,
    )


def test_reapplying_an_attempt_id_changes_nothing() -> None:
    """An id already consumed gives applied=False and no records or events (D3)."""
    first = replay(fresh(three_steps()), [attempt("t1", "learn", 60, at(1))], as_of=NOW)
    assert first.outcomes[0].consumed_ids == ("t1",)
    again = apply_command(
        attempt("t1", "learn", 60, at(1)), first.state, as_of=NOW, seen=first.seen
    )
    assert again == Outcome(command_id="t1", applied=False)


def test_the_same_command_on_the_same_state_gives_the_same_outcome() -> None:
    """The core is deterministic: ids of events, snapshots and audit included."""
    command = attempt("t1", "learn", 90, at(1))
    one = apply_command(command, fresh(three_steps()), as_of=NOW)
    two = apply_command(command, fresh(three_steps()), as_of=NOW)
    assert one == two
    assert next(e.event_id for e in one.events) == "t1/event/1"


@pytest.mark.parametrize(
    ("sessions", "count"),
    [(["A", "A", "B"], 2), (["A", "B", "A"], 3), (["A"], 1)],
)
def test_a_new_session_id_starts_a_new_session(sessions: list[str], count: int) -> None:
    """session_count counts changes of session id in time order (Q13)."""
    attempts = [
        attempt(f"t{i}", "learn", 50, at(1, hours=i), session_id=s)
        for i, s in enumerate(sessions)
    ]
    state = replay(fresh(three_steps()), attempts, as_of=NOW).state
    assert state.steps["learn"].session_count == count


def test_time_on_task_accumulates_over_attempts_and_steps() -> None:
    """Step and assignment time on task are sums of attempt durations."""
    state = replay(
        fresh(three_steps()),
        [
            attempt("t1", "learn", 90, at(1), duration_ms=300_000),
            attempt("t2", "play", 50, at(2), duration_ms=420_000),
            attempt("t3", "play", 60, at(3), duration_ms=360_000),
        ],
        as_of=NOW,
    ).state
    assert state.steps["play"].time_on_task_ms == 780_000
    assert state.assignment is not None
    assert state.assignment.time_on_task_ms == 1_080_000


# -- teacher override (D7 rule 2, D8) ----------------------------------------


def test_teacher_override_completes_the_step_without_evidence() -> None:
    """An override completes as teacher_override; mastery stays not_started (D6)."""
    outcome = apply_command(
        override("o1", "learn", at(2)), fresh(three_steps()), as_of=NOW
    )
    step = changed(outcome)["learn"]
    assert step.state is StepState.COMPLETE
    assert step.completion_source is CompletionSource.TEACHER_OVERRIDE
    assert step.completed_at == at(2)
    assert (step.passed, step.mastery_level) == (False, MasteryLevel.NOT_STARTED)
    assert changed(outcome)["play"].state is StepState.AVAILABLE


def test_an_earlier_qualifying_attempt_delivered_late_outranks_an_override() -> None:
    """The earliest evidence completes the step: a late attempt before the
    override re-dates the completion as fresh_attempt (D2, D7)."""
    result = replay(
        fresh(three_steps()),
        [override("o1", "learn", at(3)), attempt("t1", "learn", 90, at(2))],
        as_of=NOW,
    )
    step = result.state.steps["learn"]
    assert (step.completion_source, step.completed_at) == (
        CompletionSource.FRESH_ATTEMPT,
        at(2),
    )


def test_an_override_after_an_attempt_completion_changes_nothing() -> None:
    """A step already complete keeps its completion; the override is audited."""
    result = replay(
        fresh(three_steps()),
        [attempt("t1", "learn", 90, at(2)), override("o1", "learn", at(3))],
        as_of=NOW,
    )
    outcome = result.outcomes[-1]
    assert outcome.steps == ()
    assert step_events(outcome) == []
    assert (
        result.state.steps["learn"].completion_source is CompletionSource.FRESH_ATTEMPT
    )
    [entry] = outcome.audit
    assert entry.before["step"] == entry.after["step"]


# -- adjust target (D8, D7) --------------------------------------------------------


def test_lowering_the_target_below_the_best_score_completes_as_fresh_attempt() -> None:
    """D8: the evidence was an attempt, so the source is fresh_attempt."""
    result = replay(
        fresh(three_steps()),
        [attempt("t1", "learn", 70, at(1)), adjust("c1", "learn", 65, at(2))],
        as_of=NOW,
    )
    step = result.state.steps["learn"]
    assert (step.state, step.completion_source) == (
        StepState.COMPLETE,
        CompletionSource.FRESH_ATTEMPT,
    )
    assert (step.target_score, step.passed, step.completed_at) == (65, True, at(2))
    assert step.mastery_level is MasteryLevel.MASTERED
    [event] = step_events(result.outcomes[-1])[:1]
    assert (event.new_state, event.target_score) == (StepState.COMPLETE, 65)


def test_raising_the_target_never_uncompletes_a_step() -> None:
    """D7: completion is monotone; passed is recomputed against the new target."""
    result = replay(
        fresh(three_steps()),
        [attempt("t1", "learn", 85, at(1)), adjust("c1", "learn", 95, at(2))],
        as_of=NOW,
    )
    step = result.state.steps["learn"]
    assert (step.state, step.target_score, step.passed) == (
        StepState.COMPLETE,
        95,
        False,
    )
    assert step.mastery_level is MasteryLevel.PROFICIENT
    assert result.state.assignment is not None
    assert result.state.assignment.completion_percentage == pytest.approx(100 / 3)


def test_a_lower_target_not_yet_met_leaves_the_step_in_progress() -> None:
    """Lowering a target above the best score completes nothing."""
    result = replay(
        fresh(three_steps()),
        [attempt("t1", "learn", 50, at(1)), adjust("c1", "learn", 60, at(2))],
        as_of=NOW,
    )
    step = result.state.steps["learn"]
    assert (step.state, step.target_score, step.passed) == (
        StepState.IN_PROGRESS,
        60,
        False,
    )


# -- free-play reconciliation (D9) -----------------------------------------------


def test_a_free_play_score_in_the_window_completes_the_step() -> None:
    """D9: same game and stage, within 30 days before availability, meeting the target."""
    outcome = apply_command(
        free_play("r1", "learn", 88, at(-10), at(1)), fresh(three_steps()), as_of=NOW
    )
    step = changed(outcome)["learn"]
    assert step.state is StepState.COMPLETE
    assert step.completion_source is CompletionSource.FREE_PLAY_RECONCILED
    assert step.attempt_count == 0
    assert step.passed
    assert step.reconciliation_metadata is not None
    assert (
        step.reconciliation_metadata.original_score,
        step.reconciliation_metadata.original_context,
        step.reconciliation_metadata.reconciled_at,
    ) == (88, OriginalContext.ALL_GAMES, at(1))
    [reconciled] = [e for e in outcome.events if isinstance(e, ProgressReconciled)]
    assert reconciled.reconciliation_type is ReconciliationType.FREE_PLAY
    assert reconciled.steps_affected == 1
    assert reconciled.new_completion_percentage == pytest.approx(100 / 3)
    assert step_events(outcome)[0].score_achieved == 88


@pytest.mark.parametrize(
    ("achieved_days", "accepted"),
    [(-30, True), (0, True), (-30.001, False), (0.001, False)],
    ids=["window-start", "at-availability", "too-old", "after-availability"],
)
def test_the_free_play_window_is_the_30_days_before_availability(
    achieved_days: float, accepted: bool
) -> None:
    """D9: achieved_at lies in [available_at - 30 days, available_at]."""
    command = free_play("r1", "learn", 90, at(achieved_days), at(1))
    if accepted:
        outcome = apply_command(command, fresh(three_steps()), as_of=NOW)
        assert changed(outcome)["learn"].state is StepState.COMPLETE
    else:
        with pytest.raises(InvalidInputError) as error:
            apply_command(command, fresh(three_steps()), as_of=NOW)
        assert error.value.field == "achieved_at"


@pytest.mark.parametrize(
    ("element_id", "stage"),
    [("another-game", Stage.PLAY), ("game-learn", Stage.QUIZ)],
    ids=["wrong-game", "wrong-stage"],
)
def test_a_free_play_score_of_another_game_or_stage_is_refused(
    element_id: str, stage: Stage
) -> None:
    """D9: only the step's own game and stage count."""
    structure = assignment(definition("learn"))
    command = free_play(
        "r1", "learn", 90, at(-1), at(1), element_id=element_id, stage=stage
    )
    with pytest.raises(InvalidInputError) as error:
        apply_command(command, fresh(structure), as_of=NOW)
    assert error.value.field == "element_id"


def test_a_free_play_score_below_the_target_completes_nothing() -> None:
    """D9: a score under the target is no reconciliation; nothing changes."""
    outcome = apply_command(
        free_play("r1", "learn", 70, at(-1), at(1)), fresh(three_steps()), as_of=NOW
    )
    assert outcome.applied
    assert outcome.consumed_ids == ("r1",)
    assert outcome.events == ()
    # Only the first step's initial record, which the state did not hold yet.
    assert outcome.steps == (
        initial_step_progress(three_steps(), "learn", student_id=STUDENT),
    )


# -- extend due date (D8, D15) --------------------------------------------------------


def test_extending_the_due_date_changes_pacing() -> None:
    """A later due date lowers the expected percentage: behind becomes on track."""
    before = replay(
        fresh(three_steps()), [attempt("t1", "learn", 60, at(1))], as_of=at(14)
    )
    assert before.state.assignment is not None
    assert before.state.assignment.pacing_status is PacingStatus.AT_RISK  # 0 vs 50
    outcome = apply_command(
        extend("e1", at(140), at(14)), before.state, as_of=at(14), seen=before.seen
    )
    assert outcome.assignment is not None
    assert outcome.assignment.due_at_override == at(140)
    assert outcome.assignment.pacing_status is PacingStatus.ON_TRACK  # 0 vs 10
    assert outcome.events == ()
    [entry] = outcome.audit
    assert (entry.action, entry.actor_id, entry.reason) == (
        "extend_due_date",
        TEACHER,
        "family emergency",
    )


@pytest.mark.parametrize(
    "due_days", [28, 20, -1], ids=["same", "earlier", "before-creation"]
)
def test_a_due_date_that_is_no_extension_is_refused(due_days: float) -> None:
    """D8: an extension is after the current due date; nothing changes."""
    with pytest.raises(InvalidInputError) as error:
        apply_command(
            extend("e1", at(due_days), at(2)), fresh(three_steps()), as_of=NOW
        )
    assert error.value.field == "due_at"


# -- archive (D14) ------------------------------------------------------------------


def test_an_archived_assignment_stays_archived_while_later_attempts_count() -> None:
    """Archiving sets the status; attempts afterwards still update the records."""
    result = replay(
        fresh(three_steps()),
        [
            attempt("t1", "learn", 90, at(1)),
            archive("z1", at(2)),
            attempt("t2", "play", 95, at(3)),
        ],
        as_of=NOW,
    )
    assert result.outcomes[1].assignment is not None
    assert result.outcomes[1].assignment.status is AssignmentStatus.ARCHIVED
    assert result.state.assignment is not None
    assert result.state.assignment.status is AssignmentStatus.ARCHIVED
    assert result.state.assignment.steps_completed == 2
    assert result.state.steps["play"].state is StepState.COMPLETE
    assert milestones(result.outcomes[2]) == ["50"]
    [entry] = result.outcomes[1].audit
    assert entry.before["assignment"]["status"] == "in_progress"
    assert entry.after["assignment"]["status"] == "archived"


# -- optional moved past (D7 rule 4, Q2) ---------------------------------------------


def test_working_past_an_optional_step_completes_it_as_fresh_attempt() -> None:
    """D7 rule 4: an optional step the student moved past is complete."""
    structure = assignment(
        definition("a"), definition("extra", optional=True), definition("b")
    )
    result = replay(
        fresh(structure),
        [attempt("t1", "a", 90, at(1)), attempt("t2", "b", 50, at(2))],
        as_of=NOW,
    )
    extra = result.state.steps["extra"]
    assert (extra.state, extra.completion_source, extra.completed_at) == (
        StepState.COMPLETE,
        CompletionSource.FRESH_ATTEMPT,
        at(2),
    )
    assert (extra.attempt_count, extra.mastery_level) == (0, MasteryLevel.NOT_STARTED)
    assert result.state.assignment is not None
    assert result.state.assignment.completion_percentage == 50.0  # optional: D10


def test_a_later_attempt_on_a_moved_past_step_keeps_its_completion() -> None:
    """Playing an optional step after moving past it counts and keeps it complete."""
    structure = assignment(
        definition("a"), definition("extra", optional=True), definition("b")
    )
    state = replay(
        fresh(structure),
        [
            attempt("t1", "a", 90, at(1)),
            attempt("t2", "b", 50, at(2)),
            attempt("t3", "extra", 40, at(3)),
        ],
        as_of=NOW,
    ).state
    extra = state.steps["extra"]
    assert (extra.state, extra.completed_at, extra.attempt_count) == (
        StepState.COMPLETE,
        at(2),
        1,
    )
    assert extra.started_at == at(2)  # moving past a step is reaching it


# -- milestones and snapshots (D16; spec: Automatic Snapshot Triggers) -------------


@pytest.mark.parametrize(
    ("completed", "expected"),
    [
        (1, ["25"]),
        (2, ["25", "50"]),
        (3, ["25", "50", "75"]),
        (4, ["25", "50", "75", "100"]),
    ],
)
def test_completing_steps_crosses_each_quarter_milestone_once(
    completed: int, expected: list[str]
) -> None:
    """Every 25 % of completion emits one milestone event and one snapshot."""
    structure = assignment(*(definition(f"s{i}") for i in range(4)))
    result = replay(
        fresh(structure),
        [attempt(f"t{i}", f"s{i}", 90, at(i + 1)) for i in range(completed)],
        as_of=NOW,
    )
    fired = [m for o in result.outcomes for m in milestones(o)]
    assert fired == expected
    notes = [str(s.notes) for o in result.outcomes for s in o.snapshots]
    assert notes[0] == "assignment_started"
    assert [n.split(";")[0] for n in notes[1:]] == [f"milestone_{m}" for m in expected]
    if completed == 4:
        assert notes[-1] == "milestone_100;assignment_completed"


def test_one_command_crossing_several_milestones_emits_them_in_order() -> None:
    """D16: one event per milestone with previous < m <= new, ascending."""
    two = assignment(definition("a"), definition("b"))
    outcome = apply_command(override("o1", "a", at(1)), fresh(two), as_of=NOW)
    assert milestones(outcome) == ["25", "50"]
    events = [e for e in outcome.events if isinstance(e, AssignmentProgressMilestone)]
    assert [(e.previous_percentage, e.new_percentage) for e in events] == [
        (0.0, 50.0),
        (0.0, 50.0),
    ]
    assert [(e.steps_completed, e.steps_remaining) for e in events] == [(1, 1), (1, 1)]
    notes = [s.notes for s in outcome.snapshots]
    assert notes == ["assignment_started", "milestone_25", "milestone_50"]


def test_time_to_milestone_runs_from_the_start_to_the_crossing_attempt() -> None:
    """time_to_milestone_ms is measured in the attempts' own time (D2)."""
    structure = assignment(definition("a"), definition("b"))
    result = replay(
        fresh(structure),
        [start("c1", "a", at(1)), attempt("t1", "a", 90, at(1, hours=2))],
        as_of=NOW,
    )
    [first, second] = [
        e
        for e in result.outcomes[-1].events
        if isinstance(e, AssignmentProgressMilestone)
    ]
    assert first.time_to_milestone_ms == second.time_to_milestone_ms == 2 * 3_600_000


def test_a_teacher_review_takes_a_manual_snapshot_and_is_audited() -> None:
    """Teacher review: a manual assignment snapshot and its event."""
    before = replay(
        fresh(three_steps()), [attempt("t1", "learn", 90, at(1))], as_of=NOW
    )
    outcome = apply_command(
        review("v1", at(5)), before.state, as_of=at(5), seen=before.seen
    )
    [snapshot] = outcome.snapshots
    assert (snapshot.trigger, snapshot.scope_type, snapshot.scope_id) == (
        SnapshotTrigger.MANUAL,
        ScopeType.ASSIGNMENT,
        ASSIGNMENT,
    )
    assert snapshot.notes == f"teacher_review:{TEACHER}"
    assert snapshot.metrics_snapshot["completion_percentage"] == pytest.approx(100 / 3)
    assert [s["step_id"] for s in snapshot.state_snapshot["steps"]] == [
        "learn",
        "play",
        "quiz",
    ]
    [event] = outcome.events
    assert isinstance(event, ProgressSnapshotCreated)
    assert (event.snapshot_id, event.trigger) == (
        snapshot.snapshot_id,
        SnapshotTrigger.MANUAL,
    )
    [entry] = outcome.audit
    assert (entry.action, entry.actor_id) == ("request_teacher_review", TEACHER)


def test_snapshot_metrics_hold_the_spec_metrics() -> None:
    """metrics_snapshot has completion_percentage, mastery_score, time_on_task_ms."""
    outcome = apply_command(
        attempt("t1", "learn", 90, at(1)), fresh(three_steps()), as_of=NOW
    )
    for snapshot in outcome.snapshots:
        assert {"completion_percentage", "mastery_score", "time_on_task_ms"} <= set(
            snapshot.metrics_snapshot
        )
        assert snapshot.state_snapshot["assignment"]["assignment_id"] == ASSIGNMENT


# -- sequences (D16) ---------------------------------------------------------------


def test_the_first_interaction_starts_the_sequence_and_completion_crosses_quarters() -> (
    None
):
    """Sequence milestones: started first, then per quarter of assignments completed."""
    sequence = SequenceStructure(
        sequence_id="unit-3", assignment_ids=(ASSIGNMENT, "a2", "a3", "a4")
    )
    structure = assignment(definition("a"))
    result = replay(
        fresh(structure, sequence_structure=sequence),
        [start("c1", "a", at(1)), attempt("t1", "a", 90, at(2))],
        as_of=NOW,
    )
    fired = [
        [e.milestone for e in o.events if isinstance(e, SequenceProgressMilestone)]
        for o in result.outcomes
    ]
    assert fired == [[SequenceMilestone.STARTED], [SequenceMilestone.QUARTER]]
    progress = result.state.sequence
    assert progress is not None
    assert (progress.assignments_completed, progress.completion_percentage) == (1, 25.0)
    assert progress.current_assignment_id == "a2"
    assert progress.started_at == at(1)


# -- audit (D8, D19) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "action", "step_id"),
    [
        (override("o1", "play", at(2)), "override_complete", "play"),
        (adjust("c1", "play", 60, at(2)), "adjust_target", "play"),
        (extend("e1", at(60), at(2)), "extend_due_date", None),
        (archive("z1", at(2)), "archive_assignment", None),
        (review("v1", at(2)), "request_teacher_review", None),
    ],
    ids=["override", "adjust", "extend", "archive", "review"],
)
def test_every_persons_command_leaves_an_audit_entry_with_before_and_after(
    command: Command, action: str, step_id: str | None
) -> None:
    """Who, when, what, why, and the records before and after (D8, D19)."""
    before = replay(fresh(three_steps()), [attempt("t1", "play", 70, at(1))], as_of=NOW)
    outcome = apply_command(command, before.state, as_of=NOW, seen=before.seen)
    [entry] = outcome.audit
    assert isinstance(entry, AuditEntry)
    assert (entry.action, entry.step_id, entry.occurred_at) == (action, step_id, at(2))
    assert entry.command_id == outcome.command_id
    assert (entry.student_id, entry.assignment_id) == (STUDENT, ASSIGNMENT)
    assert entry.reason
    assert entry.before["assignment"]["student_id"] == STUDENT
    assert "assignment" in entry.after
    if step_id is not None:
        assert (
            entry.before["step"]["step_id"] == entry.after["step"]["step_id"] == step_id
        )


def test_attempts_and_system_commands_leave_no_audit_entry() -> None:
    """Only a person's action is audited."""
    result = replay(
        fresh(three_steps()),
        [
            start("c1", "learn", at(1)),
            attempt("t1", "learn", 90, at(1)),
            free_play("r1", "play", 90, at(0), at(1, hours=1)),
        ],
        as_of=NOW,
    )
    assert all(o.audit == () for o in result.outcomes)


# -- refusals (D2, typed errors) -----------------------------------------------------


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (attempt("t1", "learn", 90, at(1, minutes=6)), "attempted_at"),
        (start("c1", "learn", at(1, minutes=6)), "started_at"),
        (override("o1", "learn", at(1, minutes=6)), "issued_at"),
        (review("v1", at(1, minutes=6)), "issued_at"),
        (free_play("r1", "learn", 90, at(1, minutes=6), at(1)), "achieved_at"),
    ],
    ids=["attempt", "start", "override", "review", "free-play-achieved"],
)
def test_a_time_too_far_ahead_of_the_clock_is_refused_naming_the_field(
    command: Command, field: str
) -> None:
    """D2: more than max_clock_skew (5 minutes) after now is rejected."""
    with pytest.raises(InvalidInputError) as error:
        apply_command(command, fresh(three_steps()), as_of=at(1))
    assert error.value.field == field
    assert "D2" in error.value.rule


def test_a_time_exactly_at_the_skew_limit_is_accepted() -> None:
    """D2: exactly max_clock_skew ahead is still accepted."""
    outcome = apply_command(
        attempt("t1", "learn", 90, at(1, minutes=5)), fresh(three_steps()), as_of=at(1)
    )
    assert outcome.applied


def test_a_naive_clock_is_refused() -> None:
    """D2: as_of is timezone-aware."""
    with pytest.raises(InvalidInputError) as error:
        apply_command(
            attempt("t1", "learn", 90, at(1)),
            fresh(three_steps()),
            as_of=datetime(2026, 10, 1),
        )
    assert error.value.field == "as_of"


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"student_id": "bob"}, InvalidInputError, "student_id"),
        ({"assignment_id": "other"}, InvalidInputError, "assignment_id"),
        ({"step_id": "nowhere"}, NotFoundError, None),
    ],
    ids=["another-student", "another-assignment", "unknown-step"],
)
def test_a_command_that_does_not_fit_the_state_raises_a_typed_error(
    changes: dict[str, Any], error: type[Exception], field: str | None
) -> None:
    """Commands for another student or assignment, or an unknown step, raise."""
    command = attrs.evolve(attempt("t1", "learn", 90, at(1)), **changes)
    with pytest.raises(error) as raised:
        apply_command(command, fresh(three_steps()), as_of=NOW)
    if field is not None:
        assert isinstance(raised.value, InvalidInputError)
        assert raised.value.field == field
    else:
        assert "nowhere" in str(raised.value)


@pytest.mark.parametrize(
    "command",
    [
        override("o1", "nowhere", at(1)),
        adjust("c1", "nowhere", 50, at(1)),
        start("c1", "nowhere", at(1)),
        free_play("r1", "nowhere", 90, at(0), at(1)),
    ],
    ids=["override", "adjust", "start", "free-play"],
)
def test_every_step_command_for_an_unknown_step_raises_not_found(
    command: Command,
) -> None:
    """NotFoundError names the step for every command that targets one."""
    with pytest.raises(NotFoundError, match="nowhere"):
        apply_command(command, fresh(three_steps()), as_of=NOW)


def test_a_stored_record_of_a_step_not_in_the_structure_is_no_target() -> None:
    """Records of removed steps are ignored (Q17), and cannot be attempted."""
    stray = StepProgress(
        step_id="removed", assignment_id=ASSIGNMENT, student_id=STUDENT, target_score=80
    )
    state = fresh(three_steps(), steps={"removed": stray})
    with pytest.raises(NotFoundError):
        apply_command(attempt("t1", "removed", 90, at(1)), state, as_of=NOW)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (
            StepProgress(
                step_id="learn",
                assignment_id=ASSIGNMENT,
                student_id="bob",
                target_score=80,
            ),
            "steps['learn']",
        ),
        (
            StepProgress(
                step_id="play",
                assignment_id=ASSIGNMENT,
                student_id=STUDENT,
                target_score=80,
            ),
            "steps['learn']",
        ),
    ],
    ids=["another-student", "wrong-key"],
)
def test_a_state_refuses_records_that_are_not_its_own(
    record: StepProgress, field: str
) -> None:
    """ProgressState checks that every record belongs to its student and step."""
    with pytest.raises(InvalidInputError) as error:
        ProgressState(
            student_id=STUDENT, structure=three_steps(), steps={"learn": record}
        )
    assert error.value.field == field


def test_a_state_refuses_a_sequence_that_does_not_hold_the_assignment() -> None:
    """The sequence structure must contain the state's assignment."""
    with pytest.raises(InvalidInputError) as error:
        fresh(
            three_steps(),
            sequence_structure=SequenceStructure(
                sequence_id="q", assignment_ids=("x",)
            ),
        )
    assert error.value.field == "sequence_structure"


def test_a_state_keeps_its_records_when_the_callers_dict_changes() -> None:
    """A state holds a read-only copy of its records: changing the dict it
    was built from, after its records were checked, cannot slip another
    student's record past the check."""
    own = StepProgress(
        step_id="learn", assignment_id=ASSIGNMENT, student_id=STUDENT, target_score=80
    )
    given = {"learn": own}
    state = ProgressState(student_id=STUDENT, structure=three_steps(), steps=given)
    given["learn"] = attrs.evolve(own, student_id="someone-else")
    given["play"] = own
    assert dict(state.steps) == {"learn": own}
    with pytest.raises(TypeError):
        state.steps["learn"] = own  # type: ignore[index]  # read-only on purpose
    outcome = apply_command(attempt("t1", "learn", 90.0, at(1)), state, as_of=NOW)
    assert {s.student_id for s in outcome.steps} == {STUDENT}


def test_a_state_survives_pickling() -> None:
    """A host may cache states out of process: a state pickles and comes
    back equal, still read-only."""
    state = replay(
        fresh(three_steps()), [attempt("t1", "learn", 90.0, at(1))], as_of=NOW
    ).state
    again: ProgressState = pickle.loads(pickle.dumps(state))
    assert again == state
    assert dict(again.steps) == dict(state.steps)
    with pytest.raises(TypeError):
        again.steps["learn"] = state.steps["learn"]  # type: ignore[index]


@attrs.frozen(kw_only=True)
class _NotedState(ProgressState):
    """A host's own state with one more field."""

    note: str = ""


def test_a_subclassed_state_pickles_and_copies_as_itself() -> None:
    """A host's subclass of ProgressState, with fields of its own, comes
    back from pickle and deepcopy as itself."""
    import copy

    state = _NotedState(student_id=STUDENT, structure=three_steps(), note="kept")
    for again in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state)):
        assert type(again) is _NotedState
        assert again == state
        assert again.note == "kept"


# -- the calendar's edges (D2, D8, D9, D15) -------------------------------------------

#: The last and first instants a datetime holds.
LAST = datetime.max.replace(tzinfo=UTC)
FIRST = datetime.min.replace(tzinfo=UTC)
_US = timedelta(microseconds=1)
_SKEW = timedelta(minutes=5)


def created(when: datetime, **more: Any) -> AssignmentStructure:
    """Ada's one-step assignment (learn, target 80) created at ``when``,
    without a due date unless ``more`` gives one."""
    return attrs.evolve(
        assignment(definition("learn", stage=Stage.LEARN), due_in_days=None),
        created_at=when,
        **more,
    )


#: December 9999: a clock within the skew of the calendar's last instant.
LATE = created(datetime(9999, 12, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "command",
    [
        attempt("t1", "learn", 60, LAST),
        start("c1", "learn", LAST),
        override("o1", "learn", LAST),
        review("v1", LAST),
        free_play("r1", "learn", 90, datetime(9999, 11, 20, tzinfo=UTC), LAST),
    ],
    ids=["attempt", "start", "override", "review", "free-play"],
)
@pytest.mark.parametrize(
    "clock", [LAST - _SKEW, LAST - _US, LAST], ids=["skew-before", "1us-before", "at"]
)
def test_a_clock_within_the_skew_of_9999_applies_commands(
    command: Command, clock: datetime
) -> None:
    """D2: a time at most max_clock_skew after a clock near 9999-12-31 is
    accepted, though clock + skew has no date."""
    outcome = apply_command(command, fresh(LATE), as_of=clock)
    assert outcome.applied
    assert outcome.assignment is not None


def test_the_skew_limit_near_9999_is_the_same_limit() -> None:
    """D2: 1 microsecond past max_clock_skew ahead of a clock near 9999 is
    refused, exactly at it is accepted."""
    late = attempt("t1", "learn", 60, LAST)
    assert apply_command(late, fresh(LATE), as_of=LAST - _SKEW).applied
    with pytest.raises(InvalidInputError) as error:
        apply_command(late, fresh(LATE), as_of=LAST - _SKEW - _US)
    assert error.value.field == "attempted_at"
    assert "D2" in error.value.rule


def test_a_service_clock_within_the_skew_of_9999_applies_an_attempt() -> None:
    """D2: ProgressService.apply with a clock near 9999-12-31 stores the
    attempt instead of failing with a bare error."""
    from mlc_progress._service import ProgressService
    from mlc_progress.adapters import FixedClock, InMemoryCatalog, InMemoryStore

    catalog = InMemoryCatalog()
    catalog.add_assignment("org-1", LATE)
    store = InMemoryStore()
    service = ProgressService(store.unit_of_work, catalog, FixedClock(LAST - _US))
    outcome = service.apply("org-1", attempt("t1", "learn", 90, LAST))
    assert outcome.applied
    stored = service.assignment("org-1", STUDENT, ASSIGNMENT)
    assert stored is not None
    assert stored.completion_percentage == 100.0


@pytest.mark.parametrize(
    ("available", "achieved", "accepted"),
    [
        (FIRST, FIRST, True),
        (datetime(1, 1, 15, tzinfo=UTC), FIRST, True),
        (datetime(1, 1, 15, tzinfo=UTC), datetime(1, 1, 15, tzinfo=UTC), True),
        (FIRST, FIRST + _US, False),
        (datetime(1, 1, 15, tzinfo=UTC), datetime(1, 1, 15, 0, 0, 0, 1, UTC), False),
    ],
    ids=[
        "at-availability-on-day-one",
        "two-weeks-before",
        "at-availability",
        "after-availability-on-day-one",
        "after-availability",
    ],
)
def test_a_free_play_window_reaching_before_year_one_is_checked(
    available: datetime, achieved: datetime, accepted: bool
) -> None:
    """D9: achieved_at within the 30 days before availability, where those
    days reach before 0001-01-01, is accepted; after availability refused."""
    when = datetime(1, 2, 1, tzinfo=UTC)
    command = free_play("r1", "learn", 90, achieved, when)
    state = fresh(created(available))
    if accepted:
        outcome = apply_command(command, state, as_of=when)
        assert changed(outcome)["learn"].completion_source is (
            CompletionSource.FREE_PLAY_RECONCILED
        )
    else:
        with pytest.raises(InvalidInputError) as error:
            apply_command(command, state, as_of=when)
        assert error.value.field == "achieved_at"
        assert "D9" in error.value.rule


def test_extending_a_window_that_ends_past_9999_is_refused_as_its_progress_is() -> None:
    """D15: an assignment whose estimated window ends after 9999 has no due
    date to extend: ExtendDueDate is refused naming estimated_duration, as
    the assignment's progress and every other command are."""
    from mlc_progress import assignment_progress

    structure = created(
        datetime(9999, 12, 1, tzinfo=UTC), estimated_duration=timedelta(days=60)
    )
    when = datetime(9999, 12, 2, tzinfo=UTC)
    with pytest.raises(InvalidInputError) as progress:
        assignment_progress(structure, [], student_id=STUDENT, as_of=when)
    for command in (
        extend("e1", datetime(9999, 12, 30, tzinfo=UTC), when),
        attempt("t1", "learn", 60, when),
    ):
        with pytest.raises(InvalidInputError) as error:
            apply_command(command, fresh(structure), as_of=when)
        assert error.value.field == progress.value.field == "estimated_duration"
        assert error.value.rule == progress.value.rule
