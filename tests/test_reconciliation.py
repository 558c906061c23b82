"""Examples of the spec's Progress Reconciliation Rules: when assignments
change (rules 1-6) and when content is deprecated (rules 1-5)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev deps
import pytest

from mlc_progress import (
    AdjustTarget,
    ArchiveAssignment,
    AssignmentProgressMilestone,
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    CompletionSource,
    Destination,
    ExtendDueDate,
    InvalidInputError,
    ProgressReconciled,
    ProgressSnapshot,
    ReconciliationType,
    RequestTeacherReview,
    ScopeType,
    SequenceProgress,
    SequenceStructure,
    SnapshotTrigger,
    Stage,
    StepState,
    event_json_schemas,
    event_to_dict,
    from_json,
    to_json,
)
from mlc_progress._events import ContentDeprecated
from mlc_progress._inconsistency import check_assignment
from mlc_progress._reconciliation import (
    ReconciliationOutcome,
    accept_replacement,
    deprecate_content,
    deprecation_impact,
    match_steps,
    migrate_progress,
    reconcile_content_change,
    rollback_migration,
)
from mlc_progress._tracking import ProgressState, apply_command, initial_step_progress

from .test_reconciliation_support import (
    ASSIGNMENT,
    STUDENT,
    T0,
    TEACHER,
    at,
    attempt,
    definition,
    override,
    raw_records,
    replay,
    structure,
)

V1 = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("s2", "cake", stage=Stage.PLAY),
    definition("s3", "check", stage=Stage.QUIZ),
    due_at=at(days=21),
)
MIGRATED_AT = at(days=5)


def started() -> ProgressState:
    """s1 complete on day 1 (90), s2 in progress since day 2 (50), s3 locked."""
    return replay(
        [
            attempt("t1", "s1", 90, at(days=1)),
            attempt("t2", "s2", 50, at(days=2)),
        ],
        V1,
        as_of=at(days=3),
    )


def migrate(
    new: AssignmentStructure, state: ProgressState | None = None
) -> ReconciliationOutcome:
    return migrate_progress(
        state or started(), new, migration_id="m1", as_of=MIGRATED_AT
    )


def renamed_twice() -> tuple[ReconciliationOutcome, ReconciliationOutcome]:
    """m1 renames the cake step to cake-v2, m2 renames it again to cake-v3."""
    first = migrate(V2_RENAMED)
    second = migrate_progress(
        first.state, V3_RENAMED_AGAIN, migration_id="m2", as_of=at(days=6)
    )
    return first, second


def names(outcome: ReconciliationOutcome) -> list[str]:
    return [e.name for e in outcome.events]


# When assignments change, rule 1 -------------------------------------------


def test_rule1_completed_steps_stay_complete_with_dates_and_scores() -> None:
    """Rule 1: a complete step keeps its state, completion date, scores and source."""
    before = started().steps["s1"]
    v2 = structure(*V1.steps, definition("s4", "pie"), version=2)
    after = migrate(v2).state.steps["s1"]
    assert after == before
    assert after.completed_at == at(days=1)
    assert (after.best_score, after.completion_source) == (
        90,
        CompletionSource.FRESH_ATTEMPT,
    )


def test_rule1_a_teacher_override_stays_complete() -> None:
    """Rule 1: a step completed by override keeps ``teacher_override`` and its date."""
    state = replay([override("o1", "s2", at(days=2))], V1, state=started())
    v2 = structure(*V1.steps, version=2, due_at=at(days=28))
    kept = migrate(v2, state).state.steps["s2"]
    assert kept.completion_source is CompletionSource.TEACHER_OVERRIDE
    assert kept.completed_at == at(days=2)


# Rule 2 -----------------------------------------------------------------------


def test_rule2_in_progress_step_remapped_by_element_and_stage() -> None:
    """Rule 2: a step under a new id with the same element and stage carries
    the in-progress record, scores and all."""
    v2 = structure(
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("cake-v2", "cake", stage=Stage.PLAY),
        definition("s3", "check", stage=Stage.QUIZ),
        version=2,
    )
    outcome = migrate(v2)
    moved = outcome.state.steps["cake-v2"]
    old = started().steps["s2"]
    assert moved == attrs.evolve(old, step_id="cake-v2")
    assert outcome.step_mapping["cake-v2"] == "s2"
    # The old row stays stored, untouched, outside the structure.
    assert outcome.state.steps["s2"] == old


@pytest.mark.parametrize(
    ("new_steps", "expected"),
    [
        pytest.param(
            [("n1", "cake", Stage.PLAY), ("n2", "pizza", Stage.LEARN)],
            {"n1": "s2", "n2": "s1"},
            id="reordered-new-ids",
        ),
        pytest.param(
            [("n1", "cake", Stage.QUIZ)], {}, id="same-game-other-stage-is-new"
        ),
        pytest.param(
            [("s1", "pizza", Stage.LEARN), ("n9", "pie", Stage.PLAY)],
            {"s1": "s1"},
            id="kept-id-and-added",
        ),
    ],
)
def test_rule2_match_table(
    new_steps: list[tuple[str, str, Stage]], expected: dict[str, str]
) -> None:
    """Rule 2: steps match by id, else by element_id and stage."""
    v2 = structure(*(definition(i, e, stage=s) for i, e, s in new_steps), version=2)
    assert match_steps(V1, v2) == expected


def test_rule2_repeated_element_and_stage_match_in_order() -> None:
    """Rule 2: two steps playing the same game and stage match in order."""
    old = structure(definition("a", "g"), definition("b", "g"))
    new = structure(definition("x", "g"), definition("y", "g"), version=2)
    assert match_steps(old, new) == {"x": "a", "y": "b"}


def test_rule2_a_step_id_naming_other_content_is_refused() -> None:
    """Rule 2: reusing a step id for another game would mix two records."""
    v2 = structure(definition("s1", "other-game", stage=Stage.LEARN), version=2)
    with pytest.raises(InvalidInputError) as error:
        migrate(v2)
    assert error.value.field == "steps"


def test_rule2_structure_of_another_assignment_is_refused() -> None:
    """A new version belongs to the same assignment."""
    other = structure(*V1.steps, assignment_id="other", version=2)
    with pytest.raises(InvalidInputError):
        migrate(other)


def test_rule2_target_follows_the_new_version() -> None:
    """Rule 2: a changed template target applies; met evidence completes the
    step at the migration as ``fresh_attempt`` (D8)."""
    v2 = structure(
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("s2", "cake", target=45),
        definition("s3", "check", stage=Stage.QUIZ),
        version=2,
    )
    s2 = migrate(v2).state.steps["s2"]
    assert (s2.target_score, s2.passed, s2.state) == (45, True, StepState.COMPLETE)
    assert s2.completed_at == MIGRATED_AT
    assert s2.completion_source is CompletionSource.FRESH_ATTEMPT


def test_rule2_a_teacher_adjusted_target_is_kept() -> None:
    """Rule 2: a target a teacher adjusted for this student survives a new template."""
    state = started()
    state = attrs.evolve(
        state,
        steps={**state.steps, "s2": attrs.evolve(state.steps["s2"], target_score=60)},
    )
    v2 = structure(
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("s2", "cake", target=45),
        definition("s3", "check", stage=Stage.QUIZ),
        version=2,
    )
    assert migrate(v2, state).state.steps["s2"].target_score == 60


# Rule 3 -----------------------------------------------------------------------


def test_rule3_removed_unfinished_step_is_complete_by_migration() -> None:
    """Rule 3: a removed step's record stays, complete, ``system_migration``."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    retired = outcome.state.steps["s2"]
    before = started().steps["s2"]
    assert retired.state is StepState.COMPLETE
    assert retired.completion_source is CompletionSource.SYSTEM_MIGRATION
    assert retired.completed_at == MIGRATED_AT
    assert (retired.best_score, retired.attempt_count) == (
        before.best_score,
        before.attempt_count,
    )
    assert retired in outcome.steps


def test_rule3_removed_complete_step_keeps_its_completion() -> None:
    """Rule 3 with rule 1: a removed complete step keeps its own date and source."""
    v2 = structure(definition("s2", "cake"), version=2)
    outcome = migrate(v2)
    assert outcome.state.steps["s1"] == started().steps["s1"]
    assert "s1" not in {s.step_id for s in outcome.steps}


def test_rule3_removed_step_without_a_record_gets_none() -> None:
    """Rule 3: a removed step nobody touched has nothing to preserve."""
    v2 = structure(
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("s2", "cake"),
        version=2,
    )
    assert "s3" not in migrate(v2).state.steps


# Rule 4 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [("new", "pie", False), ("s1", "pizza", False), ("s2", "cake", False)],
            StepState.AVAILABLE,
            id="first-is-available",
        ),
        pytest.param(
            [("s1", "pizza", False), ("new", "pie", False), ("s2", "cake", False)],
            StepState.AVAILABLE,
            id="after-complete-steps-is-available",
        ),
        pytest.param(
            [("s1", "pizza", False), ("s2", "cake", False), ("new", "pie", False)],
            StepState.LOCKED,
            id="after-an-unfinished-required-step-is-locked",
        ),
        pytest.param(
            [("s1", "pizza", False), ("s2", "cake", True), ("new", "pie", False)],
            StepState.AVAILABLE,
            id="after-an-optional-step-is-available",
        ),
    ],
)
def test_rule4_added_steps_locked_or_available_by_position(
    steps: list[tuple[str, str, bool]], expected: StepState
) -> None:
    """Rule 4: an added step is available once every required step before it
    is complete, else locked."""
    stage_of = {"pizza": Stage.LEARN, "cake": Stage.PLAY, "pie": Stage.PLAY}
    v2 = structure(
        *(definition(i, e, stage=stage_of[e], optional=o) for i, e, o in steps),
        version=2,
    )
    outcome = migrate(v2)
    record = outcome.state.steps.get("new") or initial_step_progress(
        v2, "new", student_id=STUDENT
    )
    assert record.state is expected


def test_rule4_migrated_records_are_a_fixed_point_of_tracking() -> None:
    """Rule 4 uses the real-time unlocking rule: the next command changes no step."""
    v2 = structure(
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("new", "pie"),
        definition("s2", "cake"),
        version=2,
    )
    state = migrate(v2).state
    review = RequestTeacherReview(
        command_id="r1",
        actor_id=TEACHER,
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        issued_at=at(days=6),
    )
    assert apply_command(review, state, as_of=at(days=6)).steps == ()


# Rule 5 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_steps", "expected"),
    [
        pytest.param([("s1", "pizza", Stage.LEARN)], 100.0, id="remove-unfinished"),
        pytest.param(
            [
                ("s1", "pizza", Stage.LEARN),
                ("s2", "cake", Stage.PLAY),
                ("s3", "check", Stage.QUIZ),
                ("s4", "pie", Stage.PLAY),
            ],
            25.0,
            id="add-one",
        ),
        pytest.param([("s2", "cake", Stage.PLAY)], 0.0, id="remove-the-complete-one"),
    ],
)
def test_rule5_percentages_recalculated(
    new_steps: list[tuple[str, str, Stage]], expected: float
) -> None:
    """Rule 5: completion is recomputed on the new structure (D10)."""
    v2 = structure(*(definition(i, e, stage=s) for i, e, s in new_steps), version=2)
    outcome = migrate(v2)
    assert outcome.assignment is not None
    assert outcome.assignment.completion_percentage == expected
    event = next(e for e in outcome.events if isinstance(e, ProgressReconciled))
    assert event.previous_completion_percentage == pytest.approx(100 / 3)
    assert event.new_completion_percentage == expected


def test_rule5_a_drop_emits_no_milestone() -> None:
    """D16: completion falling after a migration emits no milestone."""
    done = replay(
        [attempt("t1", "s1", 90, at(days=1))],
        structure(definition("s1", "pizza")),
    )
    v2 = structure(definition("s1", "pizza"), definition("s2", "cake"), version=2)
    outcome = migrate(v2, done)
    assert outcome.assignment is not None
    assert outcome.assignment.completion_percentage == 50
    assert outcome.assignment.status is AssignmentStatus.IN_PROGRESS
    assert names(outcome) == ["progress_snapshot_created", "progress_reconciled"]


def test_rule5_a_rise_emits_the_milestones_it_crosses() -> None:
    """D16: completion rising by a migration crosses milestones upwards."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    milestones = [
        e.milestone
        for e in outcome.events
        if isinstance(e, AssignmentProgressMilestone)
    ]
    assert milestones == ["50", "75", "100"]
    assert [s.notes for s in outcome.snapshots[1:]] == [
        "milestone_50",
        "milestone_75",
        "milestone_100;assignment_completed",
    ]


def test_rule5_archive_and_extended_due_date_survive() -> None:
    """A host's archive and a teacher's extension are no part of the structure."""
    state = started()
    assert state.assignment is not None
    state = attrs.evolve(
        state,
        assignment=attrs.evolve(
            state.assignment,
            status=AssignmentStatus.ARCHIVED,
            due_at_override=at(days=40),
        ),
    )
    v2 = structure(*V1.steps, definition("s4", "pie"), version=2)
    after = migrate(v2, state).assignment
    assert after is not None
    assert (after.status, after.due_at_override) == (
        AssignmentStatus.ARCHIVED,
        at(days=40),
    )


# Rule 6 and rollback --------------------------------------------------------


def test_rule6_audit_snapshot_captures_the_pre_migration_state() -> None:
    """Rule 6: a ``manual`` assignment snapshot, first in the outcome, with its event."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    assert (snapshot.trigger, snapshot.scope_type, snapshot.scope_id) == (
        SnapshotTrigger.MANUAL,
        ScopeType.ASSIGNMENT,
        ASSIGNMENT,
    )
    assert snapshot.notes == "pre_migration:m1"
    assert snapshot.state_snapshot["kind"] == "pre_migration"
    assert snapshot.metrics_snapshot["completion_percentage"] == pytest.approx(100 / 3)
    created = outcome.events[0]
    assert created.name == "progress_snapshot_created"
    assert created.snapshot_id == snapshot.snapshot_id  # type: ignore[union-attr]


def test_rule6_rollback_restores_every_record_exactly() -> None:
    """Rule 6: rolling back from the snapshot gives the records back exactly."""
    before = started()
    v2 = structure(definition("n1", "cake"), definition("n2", "pie"), version=2)
    outcome = migrate(v2, before)
    back = rollback_migration(
        outcome.audit_snapshot,  # type: ignore[arg-type]
        outcome.state,
        rollback_id="r1",
        as_of=at(days=6),
    )
    assert back.applied
    assert back.state.structure == V1
    assert back.state.assignment == before.assignment
    for step_id, record in before.steps.items():
        assert back.state.steps[step_id] == record
    assert [e.name for e in back.events] == [
        "progress_snapshot_created",
        "progress_reconciled",
    ]
    assert back.audit_snapshot is not None
    assert back.audit_snapshot.notes == "pre_rollback:r1"


def test_rollback_from_stored_json_snapshot() -> None:
    """The snapshot read back from JSON storage restores the same records."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    stored = from_json(to_json(outcome.audit_snapshot), ProgressSnapshot)
    back = rollback_migration(stored, outcome.state, rollback_id="r1", as_of=at(days=6))
    assert back.state.steps["s2"] == started().steps["s2"]


@pytest.mark.parametrize("given", ["nothing", "the-first-rollback"])
def test_rollback_twice_changes_nothing_the_second_time(given: str) -> None:
    """A rollback of restored records has nothing to do, whether it is given
    the first rollback as the change since or no later change (Q152)."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    once = rollback_migration(
        snapshot, outcome.state, rollback_id="r1", as_of=at(days=6)
    )
    later = [stored(once)] if given == "the-first-rollback" else []
    twice = rollback_migration(
        snapshot, once.state, rollback_id="r2", as_of=at(days=7), later=later
    )
    assert not twice.applied
    assert (twice.steps, twice.events, twice.snapshots) == ((), (), ())


def test_rollback_locks_a_step_that_had_no_record() -> None:
    """A restored step without a pre-migration record gets its initial record,
    locked after the first step, as a missing one counts (Q17)."""
    one = replay(
        [attempt("t1", "s1", 50, at(days=1))],
        structure(definition("s1", "pizza"), definition("s2", "cake")),
    )
    assert "s2" not in one.steps
    # s1 becomes optional: it no longer blocks s2, which unlocks.
    v2 = structure(
        definition("s1", "pizza", optional=True), definition("s2", "cake"), version=2
    )
    outcome = migrate(v2, one)
    assert outcome.state.steps["s2"].state is StepState.AVAILABLE
    back = rollback_migration(
        outcome.audit_snapshot,  # type: ignore[arg-type]
        outcome.state,
        rollback_id="r1",
        as_of=at(days=6),
    )
    assert back.state.steps["s2"].state is StepState.LOCKED
    raw_assignment, raw_steps = raw_records(back.state)
    assert (
        check_assignment(
            raw_assignment, back.state.structure, raw_steps, student_id=STUDENT
        )
        == ()
    )


@pytest.mark.parametrize("problem", ["other-student", "not-pre-change"])
def test_rollback_refuses_a_foreign_or_wrong_snapshot(problem: str) -> None:
    """Only a pre-change snapshot of this student and assignment is restored."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    if problem == "other-student":
        snapshot = attrs.evolve(snapshot, student_id="someone-else")
    else:
        snapshot = attrs.evolve(snapshot, state_snapshot={"kind": "milestone"})
    with pytest.raises(InvalidInputError):
        rollback_migration(snapshot, outcome.state, rollback_id="r1", as_of=at(days=6))


# Rollback after progress made since the change (Q67) -------------------------

V2_RENAMED = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("cake-v2", "cake"),
    definition("s3", "check", stage=Stage.QUIZ),
    version=2,
)


def stored(outcome: ReconciliationOutcome) -> ProgressSnapshot:
    """The outcome's pre-change snapshot, read back from JSON storage."""
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    return from_json(to_json(snapshot), ProgressSnapshot)


def roll_back(
    outcome: ReconciliationOutcome,
    current: ProgressState,
    days: float = 8,
    *,
    later: tuple[ReconciliationOutcome, ...] = (),
) -> ReconciliationOutcome:
    return rollback_migration(
        stored(outcome),
        current,
        rollback_id="r1",
        as_of=at(days=days),
        later=[stored(change) for change in later],
    )


def teacher(command: type[Any], command_id: str, days: float, **more: Any) -> Any:
    return command(
        command_id=command_id,
        actor_id=TEACHER,
        reason="iep",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        issued_at=at(days=days),
        **more,
    )


def test_rollback_takes_back_progress_made_on_a_renamed_step() -> None:
    """Q67, D7: attempts made on the step a migration renamed come back to
    the old id with the completion they earned; the next step unlocks and
    the records pass the checker."""
    outcome = migrate(V2_RENAMED)
    assert outcome.step_mapping["cake-v2"] == "s2"
    after = replay(
        [attempt("t3", "cake-v2", 95, at(days=6))],
        V2_RENAMED,
        state=outcome.state,
        as_of=at(days=6),
    )
    back = roll_back(outcome, after)
    s2 = back.state.steps["s2"]
    assert (s2.attempt_count, s2.best_score, s2.state) == (2, 95, StepState.COMPLETE)
    assert s2.completed_at == at(days=6)
    assert back.state.steps["s3"].state is StepState.AVAILABLE
    assert back.state.steps["s1"] == started().steps["s1"]
    assert back.assignment is not None
    assert back.assignment.completion_percentage == pytest.approx(200 / 3)
    assert back.state.steps["cake-v2"] == after.steps["cake-v2"]  # nothing deleted
    raw_assignment, raw_steps = raw_records(back.state)
    assert check_assignment(raw_assignment, V1, raw_steps, student_id=STUDENT) == ()
    pre_rollback = back.audit_snapshot
    assert pre_rollback is not None
    assert pre_rollback.state_snapshot["carried"] == {"s2": "cake-v2"}


V3_RENAMED_AGAIN = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("cake-v3", "cake"),
    definition("s3", "check", stage=Stage.QUIZ),
    version=3,
)


def test_rollback_of_an_earlier_change_takes_back_play_on_a_step_renamed_again() -> (
    None
):
    """Q152: m1 renames s2 to cake-v2, m2 renames it again to cake-v3, the
    student passes under cake-v3; rolling back m1 alone brings that play back
    to s2 (attempts, best score, completion) by following m2's mapping."""
    first, second = renamed_twice()
    assert second.step_mapping["cake-v3"] == "cake-v2"
    after = replay(
        [attempt("t3", "cake-v3", 95, at(days=7))],
        V3_RENAMED_AGAIN,
        state=second.state,
        as_of=at(days=7),
    )
    back = roll_back(first, after, later=(second,))
    s2 = back.state.steps["s2"]
    assert (s2.attempt_count, s2.best_score, s2.state) == (2, 95, StepState.COMPLETE)
    assert s2.completed_at == at(days=7)
    assert back.state.steps["s3"].state is StepState.AVAILABLE
    assert back.assignment is not None
    assert back.assignment.completion_percentage == pytest.approx(200 / 3)
    assert back.state.steps["cake-v3"] == after.steps["cake-v3"]  # nothing deleted
    raw_assignment, raw_steps = raw_records(back.state)
    assert check_assignment(raw_assignment, V1, raw_steps, student_id=STUDENT) == ()
    assert back.step_mapping["s2"] == "cake-v3"
    pre_rollback = back.audit_snapshot
    assert pre_rollback is not None
    assert pre_rollback.state_snapshot["carried"] == {"s2": "cake-v3"}
    # Undoing this rollback puts the play back under cake-v3.
    again = rollback_migration(
        pre_rollback, back.state, rollback_id="r2", as_of=at(days=9)
    )
    assert again.state.steps["cake-v3"].attempt_count == 2


def test_rollback_of_an_earlier_change_keeps_play_on_a_step_a_later_one_removed() -> (
    None
):
    """Q152: play on the renamed step before a second change removed it comes
    back with the rolled back step, without the completion the removal gave
    it (system_migration, undone like the change's own work)."""
    first = migrate(V2_RENAMED)
    played = replay(
        [attempt("t3", "cake-v2", 60, at(days=6))],
        V2_RENAMED,
        state=first.state,
        as_of=at(days=6),
    )
    without_cake = structure(V2_RENAMED.steps[0], V2_RENAMED.steps[2], version=3)
    second = migrate_progress(played, without_cake, migration_id="m2", as_of=at(days=7))
    retired = second.state.steps["cake-v2"]
    assert retired.completion_source is CompletionSource.SYSTEM_MIGRATION
    back = roll_back(first, second.state, later=(second,))
    s2 = back.state.steps["s2"]
    assert (s2.attempt_count, s2.best_score, s2.state) == (
        2,
        60,
        StepState.IN_PROGRESS,
    )
    assert s2 == attrs.evolve(played.steps["cake-v2"], step_id="s2")
    assert back.state.steps["cake-v2"] == retired  # nothing deleted
    assert "s2" not in back.step_mapping  # no step of version 3 holds it


@pytest.mark.parametrize("cake_id", ["cake-v2", "cake-v3"])
def test_rollback_of_an_earlier_change_undoes_what_a_later_one_did(
    cake_id: str,
) -> None:
    """Q152, rule 6: with nothing done since, rolling back the first of two
    changes restores the records exactly, even when the second completed the
    renamed step by a lower target, keeping its id or renaming it again (a
    change's work, not the student's)."""
    first = migrate(V2_RENAMED)
    easier = attrs.evolve(
        V3_RENAMED_AGAIN,
        steps=(
            V3_RENAMED_AGAIN.steps[0],
            definition(cake_id, "cake", target=45),
            V3_RENAMED_AGAIN.steps[2],
        ),
    )
    second = migrate_progress(first.state, easier, migration_id="m2", as_of=at(days=6))
    assert second.state.steps[cake_id].state is StepState.COMPLETE
    back = roll_back(first, second.state, later=(second,))
    assert {k: back.state.steps[k] for k in started().steps} == started().steps
    assert back.state.assignment == started().assignment


def test_rollback_of_an_earlier_change_restores_the_sequence_a_later_one_moved() -> (
    None
):
    """Q152, D16: the second change completes the assignment (a lower target,
    the quiz removed) and counts it in the sequence; rolling back the first,
    with nothing done since, restores the sequence record exactly."""
    state, _ = sequence_case()
    first = migrate(V2_RENAMED, state)
    done = structure(
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("cake-v3", "cake", target=45),
        version=3,
    )
    second = migrate_progress(first.state, done, migration_id="m2", as_of=at(days=6))
    assert second.state.sequence is not None
    assert second.state.sequence.assignments_completed == 1
    back = roll_back(first, second.state, later=(second,))
    assert back.state.sequence == state.sequence
    assert back.state.assignment == state.assignment
    assert {k: back.state.steps[k] for k in state.steps} == state.steps


def test_an_older_snapshot_in_the_chain_rolls_back_as_before() -> None:
    """Q152: when a later change's snapshot was stored before changes kept
    ``step_mapping`` and ``after``, the later changes are not followed: the
    rollback works from its own snapshot alone, as it did then."""
    first, second = renamed_twice()
    after = replay(
        [attempt("t3", "cake-v3", 95, at(days=7))],
        V3_RENAMED_AGAIN,
        state=second.state,
        as_of=at(days=7),
    )
    snapshot = stored(second)
    data = {
        k: x
        for k, x in snapshot.state_snapshot.items()
        if k not in ("step_mapping", "after")
    }
    old_style = attrs.evolve(snapshot, state_snapshot=data)
    with_old = rollback_migration(
        stored(first), after, rollback_id="r1", as_of=at(days=8), later=[old_style]
    )
    assert with_old.state.structure == V1
    assert with_old.state.steps["s2"] == started().steps["s2"]
    assert with_old.state.steps["cake-v3"] == after.steps["cake-v3"]
    assert with_old.step_mapping == {"s1": "s1", "s2": "cake-v2", "s3": "s3"}


@pytest.mark.parametrize("problem", ["another-student", "twice", "the-rolled-back-one"])
def test_rollback_refuses_a_wrong_later_snapshot(problem: str) -> None:
    """Q152: a later snapshot of another student, one given twice or the
    rolled back change's own raises InvalidInputError naming it in
    ``later``, and restores nothing."""
    first, second = renamed_twice()
    later = [stored(second)]
    if problem == "another-student":
        later = [attrs.evolve(later[0], student_id="someone-else")]
    elif problem == "twice":
        later = later * 2
    else:
        later = [stored(first)]
    with pytest.raises(InvalidInputError) as error:
        rollback_migration(
            stored(first), second.state, rollback_id="r1", as_of=at(days=8), later=later
        )
    assert error.value.field == ("later[1]" if problem == "twice" else "later[0]")


def test_rollback_refuses_a_later_snapshot_that_is_not_one_before_a_change() -> None:
    """A later snapshot that is not a pre-change snapshot raises
    InvalidInputError naming the field inside ``later``."""
    first, second = renamed_twice()
    milestone = attrs.evolve(stored(second), state_snapshot={"kind": "milestone"})
    with pytest.raises(InvalidInputError) as error:
        rollback_migration(
            stored(first),
            second.state,
            rollback_id="r1",
            as_of=at(days=8),
            later=[milestone],
        )
    assert error.value.field == "later[0].state_snapshot.kind"


V4_RENAMED_THRICE = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("cake-v4", "cake"),
    definition("s3", "check", stage=Stage.QUIZ),
    version=4,
)


def renamed_three_times() -> tuple[list[ReconciliationOutcome], ProgressState]:
    """m1, m2 and m3 each rename the cake step; the student passes it (95)
    under cake-v4."""
    first, second = renamed_twice()
    third = migrate_progress(
        second.state, V4_RENAMED_THRICE, migration_id="m3", as_of=at(days=7)
    )
    after = replay(
        [attempt("t3", "cake-v4", 95, at(days=7))],
        V4_RENAMED_THRICE,
        state=third.state,
        as_of=at(days=7),
    )
    return [first, second, third], after


def test_rollback_follows_every_later_change_given_oldest_first() -> None:
    """Q152: given the snapshots of m2 and m3, oldest first, rolling back m1
    brings the pass made under cake-v4 back to s2."""
    (first, second, third), after = renamed_three_times()
    back = roll_back(first, after, later=(second, third))
    assert back.state.steps["s2"].state is StepState.COMPLETE
    assert back.step_mapping["s2"] == "cake-v4"


@pytest.mark.parametrize(
    ("chain", "field"),
    [
        pytest.param((2, 1), "later[0]", id="reversed"),
        pytest.param((2,), "later[0]", id="a-change-missing"),
        pytest.param((1,), "later", id="the-last-change-missing"),
        pytest.param((), "later", id="none-given"),
        pytest.param((1, 2, 1), "later[2]", id="one-twice"),
    ],
)
def test_rollback_refuses_a_later_chain_that_does_not_reach_the_current_structure(
    chain: tuple[int, ...], field: str
) -> None:
    """Q152: later snapshots out of order, with a change missing, or none
    while changes were made since, raise InvalidInputError naming the first
    one that does not follow (``later[n]``) or ``later`` when the chain
    stops short of the current structure; the pass made since is never
    silently dropped."""
    changes, after = renamed_three_times()
    with pytest.raises(InvalidInputError) as error:
        roll_back(changes[0], after, later=tuple(changes[n] for n in chain))
    assert error.value.field == field


def test_rollback_refuses_the_snapshot_of_an_earlier_change_as_later() -> None:
    """Q152: rolling back m2 with m1's snapshot as a later one is refused,
    naming ``later[0]``: m1 did not start from what m2 published."""
    (first, second, third), after = renamed_three_times()
    with pytest.raises(InvalidInputError) as error:
        roll_back(second, after, later=(first, third))
    assert error.value.field == "later[0]"


@pytest.mark.parametrize("given", ["none", "one-snapshot", "text"])
def test_rollback_refuses_later_that_is_not_a_collection(given: str) -> None:
    """Q152: ``later=None``, one snapshot alone or text raise
    InvalidInputError naming ``later``, not a bare TypeError."""
    first, second = renamed_twice()
    value: Any = {"none": None, "one-snapshot": stored(second), "text": "m2"}[given]
    with pytest.raises(InvalidInputError) as error:
        rollback_migration(
            stored(first), second.state, rollback_id="r1", as_of=at(days=8), later=value
        )
    assert error.value.field == "later"


def without_published_structure(snapshot: ProgressSnapshot) -> ProgressSnapshot:
    """``snapshot`` as stored before ``after`` held the published structure."""
    data = dict(snapshot.state_snapshot)
    data["after"] = {k: x for k, x in data["after"].items() if k != "structure"}
    return attrs.evolve(snapshot, state_snapshot=data)


def test_a_snapshot_without_the_published_structure_is_checked_by_its_step_ids() -> (
    None
):
    """Q152: in a snapshot stored before ``after`` held the published
    structure, the chain is checked by step ids: the right chain is
    followed, none given while the cake step was renamed again is refused."""
    (first, second, third), after = renamed_three_times()
    snapshots = [without_published_structure(stored(c)) for c in (first, second, third)]
    back = rollback_migration(
        snapshots[0], after, rollback_id="r1", as_of=at(days=8), later=snapshots[1:]
    )
    assert back.state.steps["s2"].state is StepState.COMPLETE
    with pytest.raises(InvalidInputError) as error:
        rollback_migration(snapshots[0], after, rollback_id="r1", as_of=at(days=8))
    assert error.value.field == "later"


def test_rolling_back_again_keeps_play_made_since_the_first_rollback() -> None:
    """Q152: a change rolled back already is undone; rolling it back again
    without later snapshots changes nothing, and keeps the attempt made on
    the restored step since (the renamed step's older record is not taken
    back over it)."""
    first = migrate(V2_RENAMED)
    played = replay(
        [attempt("t3", "cake-v2", 60, at(days=6))],
        V2_RENAMED,
        state=first.state,
        as_of=at(days=6),
    )
    back = roll_back(first, played, days=7)
    assert back.state.steps["s2"].attempt_count == 2
    more = replay(
        [attempt("t4", "s2", 70, at(days=8))], V1, state=back.state, as_of=at(days=8)
    )
    again = roll_back(first, more, days=9)
    assert not again.applied
    assert again.state.steps["s2"] == more.steps["s2"]
    assert again.state.steps["s2"].attempt_count == 3


V3_WITHOUT_CAKE = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("s3", "check", stage=Stage.QUIZ),
    version=3,
)
V4_CAKE_AGAIN = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("cake-v4", "cake"),
    definition("s3", "check", stage=Stage.QUIZ),
    version=4,
)


@pytest.mark.parametrize(
    ("before_removal", "after_readding", "comes_from"),
    [
        pytest.param(60, 95, "cake-v4", id="a-pass-on-the-step-added-back"),
        pytest.param(95, 40, "cake-v2", id="a-pass-before-the-removal"),
        pytest.param(60, 40, "cake-v4", id="neither-passed-the-newer-one"),
    ],
)
def test_rollback_of_an_earlier_change_takes_back_play_on_a_step_added_back(
    before_removal: float, after_readding: float, comes_from: str
) -> None:
    """Q152, D7: m1 renames s2 to cake-v2 (played), m2 removes it, m3 adds
    the cake game back as cake-v4 (played); rolling back m1 takes s2's
    record from the step added back, unless only the removed one is
    complete; s2 is then mapped to cake-v4, so undoing the rollback puts the
    play back there."""
    first = migrate(V2_RENAMED)
    played = replay(
        [attempt("t3", "cake-v2", before_removal, at(days=5.5))],
        V2_RENAMED,
        state=first.state,
        as_of=at(days=5.5),
    )
    second = migrate_progress(
        played, V3_WITHOUT_CAKE, migration_id="m2", as_of=at(days=6)
    )
    third = migrate_progress(
        second.state, V4_CAKE_AGAIN, migration_id="m3", as_of=at(days=7)
    )
    after = replay(
        [attempt("t4", "cake-v4", after_readding, at(days=7))],
        V4_CAKE_AGAIN,
        state=third.state,
        as_of=at(days=7),
    )
    assert after.assignment is not None
    back = roll_back(first, after, later=(second, third))
    source = (
        played.steps["cake-v2"] if comes_from == "cake-v2" else after.steps[comes_from]
    )
    assert back.state.steps["s2"] == attrs.evolve(source, step_id="s2")
    assert back.step_mapping["s2"] == "cake-v4"
    pre_rollback = back.audit_snapshot
    assert pre_rollback is not None
    assert pre_rollback.state_snapshot["carried"] == {"s2": comes_from}
    assert back.state.steps["cake-v4"] == after.steps["cake-v4"]  # nothing deleted
    raw_assignment, raw_steps = raw_records(back.state)
    assert check_assignment(raw_assignment, V1, raw_steps, student_id=STUDENT) == ()
    if max(before_removal, after_readding) >= 80:
        assert back.state.steps["s2"].state is StepState.COMPLETE
        assert back.assignment is not None
        assert (
            back.assignment.completion_percentage
            >= after.assignment.completion_percentage
        )
    undone = rollback_migration(
        pre_rollback, back.state, rollback_id="r2", as_of=at(days=9)
    )
    assert undone.state.steps["cake-v4"] == after.steps["cake-v4"]


def test_rollback_of_an_untouched_renamed_step_restores_the_old_record() -> None:
    """Q67: a renamed step nobody played since comes back exactly, even when
    the migration completed it by a lower target (undone by the rollback)."""
    v2 = attrs.evolve(
        V2_RENAMED,
        steps=(V2_RENAMED.steps[0], definition("cake-v2", "cake", target=45)),
    )
    outcome = migrate(v2)
    assert outcome.state.steps["cake-v2"].state is StepState.COMPLETE
    back = roll_back(outcome, outcome.state)
    assert back.state.steps["s2"] == started().steps["s2"]
    assert back.state.assignment == started().assignment


def test_rolling_back_the_rollback_keeps_play_on_the_restored_step() -> None:
    """Q67 both ways: after a rollback, play on the restored step comes back
    to the renamed step when the rollback itself is undone."""
    outcome = migrate(V2_RENAMED)
    back = roll_back(outcome, outcome.state, days=6)
    assert back.state.steps["s2"] == started().steps["s2"]
    later = replay(
        [attempt("t3", "s2", 95, at(days=7))], V1, state=back.state, as_of=at(days=7)
    )
    again = roll_back(back, later, days=8)
    assert again.state.structure == V2_RENAMED
    moved = again.state.steps["cake-v2"]
    assert (moved.attempt_count, moved.state) == (2, StepState.COMPLETE)


@pytest.mark.parametrize("target", [45, 95])
def test_rollback_keeps_a_target_a_teacher_set_after_the_migration(
    target: float,
) -> None:
    """D8, Q67: a target adjusted after the migration stays, and so does the
    completion a lowered one gave (D7) although no attempt was made."""
    outcome = migrate(structure(*V1.steps, definition("s4", "pie"), version=2))
    after = replay(
        [teacher(AdjustTarget, "c1", 6, step_id="s2", target_score=target)],
        outcome.state.structure,
        state=outcome.state,
        as_of=at(days=6),
    )
    back = roll_back(outcome, after)
    s2 = back.state.steps["s2"]
    assert s2.target_score == target
    assert s2.state is (StepState.COMPLETE if target < 50 else StepState.IN_PROGRESS)
    assert s2 == after.steps["s2"]


def test_rollback_keeps_a_due_date_extended_or_an_archive_after_the_migration() -> None:
    """D8, D14, Q67: a teacher's extension and an archive made after the
    migration stay; the figures are recomputed with them."""
    outcome = migrate(structure(*V1.steps, definition("s4", "pie"), version=2))
    after = replay(
        [
            teacher(ExtendDueDate, "c1", 6, due_at=at(days=40)),
            teacher(ArchiveAssignment, "c2", 6.5),
        ],
        outcome.state.structure,
        state=outcome.state,
        as_of=at(days=7),
    )
    back = roll_back(outcome, after)
    assert back.assignment is not None
    assert back.assignment.due_at_override == at(days=40)
    assert back.assignment.status is AssignmentStatus.ARCHIVED
    assert {k: back.state.steps[k] for k in started().steps} == started().steps


def sequence_case() -> tuple[ProgressState, SequenceStructure]:
    seq = SequenceStructure(sequence_id="seq", assignment_ids=(ASSIGNMENT, "a2"))
    state = ProgressState(student_id=STUDENT, structure=V1, sequence_structure=seq)
    return replay(started_commands(), V1, state=state, as_of=at(days=3)), seq


def started_commands() -> list[Attempt]:
    return [attempt("t1", "s1", 90, at(days=1)), attempt("t2", "s2", 50, at(days=2))]


def test_rollback_keeps_the_sequence_count_of_an_assignment_completed_since() -> None:
    """D16, Q67: completing the assignment after the migration counts it in
    the sequence; the rollback keeps the completed steps and the count."""
    state, _ = sequence_case()
    v2 = structure(*V1.steps[:2], version=2)  # the quiz is removed
    outcome = migrate(v2, state)
    after = replay(
        [attempt("t3", "s2", 95, at(days=6))], v2, state=outcome.state, as_of=at(days=6)
    )
    assert after.sequence is not None
    assert after.sequence.assignments_completed == 1
    back = roll_back(outcome, after)
    assert back.assignment is not None
    assert back.assignment.status is AssignmentStatus.IN_PROGRESS  # quiz is back
    assert back.state.sequence is not None
    assert back.state.sequence.assignments_completed == 0
    # Completing v1 again counts the assignment once.
    done = replay(
        [attempt("t4", "s3", 99, at(days=9))], V1, state=back.state, as_of=at(days=9)
    )
    assert done.sequence is not None
    assert done.sequence.assignments_completed == 1
    # And when the kept steps complete v1, the count stays.
    v2_more = structure(*V1.steps, definition("s4", "pie"), version=2)
    moved = migrate(v2_more, state)
    finished = replay(
        [
            attempt("t3", "s2", 95, at(days=6)),
            attempt("t4", "s3", 95, at(days=6.1)),
            attempt("t5", "s4", 95, at(days=6.2)),
        ],
        v2_more,
        state=moved.state,
        as_of=at(days=7),
    )
    back = roll_back(moved, finished)
    assert back.assignment is not None
    assert back.assignment.status is AssignmentStatus.COMPLETE
    assert_sequence_moved_by_this_assignment(back, finished)


def assert_sequence_moved_by_this_assignment(
    back: ReconciliationOutcome, current: ProgressState
) -> None:
    """The rollback's sequence is ``current``'s, this assignment's share of
    mastery moved by the rollback's change of figures (Q66)."""
    was, now = current.sequence, back.state.sequence
    assert was is not None
    assert now is not None
    assert current.assignment is not None
    assert back.assignment is not None
    assert (now.assignments_completed, now.current_assignment_id) == (
        was.assignments_completed,
        was.current_assignment_id,
    )
    share = (back.assignment.mastery_score - current.assignment.mastery_score) / 2
    assert now.overall_mastery_score == pytest.approx(was.overall_mastery_score + share)


def test_rollback_keeps_sequence_progress_made_in_another_assignment() -> None:
    """D16, Q67: the sequence record is shared; what the student completed in
    another assignment after the migration stays counted."""
    state, seq = sequence_case()
    v2 = structure(*V1.steps, definition("s4", "pie"), version=2)
    outcome = migrate(v2, state)
    a2 = AssignmentStructure(
        assignment_id="a2",
        created_at=T0,
        steps=(definition("x1", "maze"),),
    )
    other = ProgressState(
        student_id=STUDENT,
        structure=a2,
        sequence_structure=seq,
        sequence=outcome.state.sequence,
    )
    done = Attempt(
        attempt_id="u1",
        student_id=STUDENT,
        assignment_id="a2",
        step_id="x1",
        score=95,
        attempted_at=at(days=6),
        duration_ms=60_000,
        session_id="k1",
    )
    other = other.after(apply_command(done, other, as_of=at(days=6)))
    assert other.sequence is not None
    assert other.sequence.assignments_completed == 1
    current = attrs.evolve(outcome.state, sequence=other.sequence)
    back = roll_back(outcome, current)
    assert_sequence_moved_by_this_assignment(back, current)
    assert {k: back.state.steps[k] for k in state.steps} == state.steps


def test_a_snapshot_stored_before_the_change_record_rolls_back_as_before() -> None:
    """Q67: a pre-change snapshot without ``step_mapping`` and ``after`` (kept
    since this fix) still restores exactly; a renamed step's later play is
    then not found (its record stays stored under the new id)."""
    outcome = migrate(V2_RENAMED)
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    data = {
        k: x
        for k, x in snapshot.state_snapshot.items()
        if k not in ("step_mapping", "after")
    }
    old_style = attrs.evolve(snapshot, state_snapshot=data)
    back = rollback_migration(
        old_style, outcome.state, rollback_id="r1", as_of=at(days=6)
    )
    assert {k: back.state.steps[k] for k in started().steps} == started().steps
    after = replay(
        [attempt("t3", "cake-v2", 95, at(days=6))],
        V2_RENAMED,
        state=outcome.state,
        as_of=at(days=6),
    )
    back = rollback_migration(old_style, after, rollback_id="r1", as_of=at(days=7))
    assert back.state.steps["s2"] == started().steps["s2"]
    assert back.state.steps["cake-v2"] == after.steps["cake-v2"]


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("step_mapping", [["cake-v2", "s2"]], "state_snapshot.step_mapping"),
        ("after", {"steps": []}, "state_snapshot.after"),
        (
            "after",
            {"steps": {"s1": {"target_score": "80", "complete": True}}},
            "state_snapshot.after.steps['s1']",
        ),
        (
            "after",
            {
                "steps": {
                    "s1": {"target_score": 80, "complete": True, "attempt_count": -1}
                }
            },
            "state_snapshot.after.steps['s1']",
        ),
    ],
)
def test_rollback_refuses_a_malformed_change_record(
    key: str, value: Any, field: str
) -> None:
    """A stored snapshot whose change record is corrupt raises
    InvalidInputError naming the field, and restores nothing (D18)."""
    outcome = migrate(V2_RENAMED)
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    bad = attrs.evolve(snapshot, state_snapshot={**snapshot.state_snapshot, key: value})
    with pytest.raises(InvalidInputError) as error:
        rollback_migration(bad, outcome.state, rollback_id="r1", as_of=at(days=6))
    assert error.value.field == field


# Outcomes as data -----------------------------------------------------------


def test_same_structure_again_changes_nothing() -> None:
    """Idempotence: the structure a student is on already is no change."""
    outcome = migrate(V1)
    assert not outcome.applied
    assert (outcome.steps, outcome.events, outcome.snapshots) == ((), (), ())


def test_student_without_records_has_nothing_to_migrate() -> None:
    """A student who never opened the assignment starts on the new version."""
    empty = ProgressState(student_id=STUDENT, structure=V1)
    v2 = structure(definition("s4", "pie"), version=2)
    outcome = migrate(v2, empty)
    assert not outcome.applied
    assert outcome.state.structure == v2


def test_ids_are_deterministic_and_per_student() -> None:
    """The same change gives the same ids; ids name the change and the student."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    first, second = migrate(v2), migrate(v2)
    assert first == second
    assert first.consumed_ids == (f"m1:{STUDENT}:{ASSIGNMENT}",)
    assert all(e.event_id.startswith(first.consumed_ids[0]) for e in first.events)


def test_every_event_matches_its_schema() -> None:
    """Events of migrations, rollbacks and deprecations validate (D23)."""
    schemas = event_json_schemas()
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate(v2)
    back = rollback_migration(
        outcome.audit_snapshot,  # type: ignore[arg-type]
        outcome.state,
        rollback_id="r1",
        as_of=at(days=6),
    )
    change = deprecate_content(
        V1, element_id="cake", deprecation_id="d1", as_of=at(days=4)
    )
    impact = deprecation_impact(change, [started()], as_of=at(days=4))
    for event in (*outcome.events, *back.events, *impact.events):
        wire = json.loads(json.dumps(event_to_dict(event)))
        jsonschema.validate(wire, schemas[event.name])


def test_sequence_counts_follow_a_migration() -> None:
    """A migration that takes completion away uncounts the assignment in its
    sequence; completing it again counts it once."""
    one = structure(definition("s1", "pizza"))
    seq = SequenceStructure(sequence_id="seq", assignment_ids=(ASSIGNMENT, "next"))
    state = ProgressState(student_id=STUDENT, structure=one, sequence_structure=seq)
    state = replay([attempt("t1", "s1", 90, at(days=1))], one, state=state)
    assert state.sequence is not None
    assert state.sequence.assignments_completed == 1
    v2 = structure(definition("s1", "pizza"), definition("s2", "cake"), version=2)
    outcome = migrate(v2, state)
    assert outcome.sequence is not None
    assert (
        outcome.sequence.assignments_completed,
        outcome.sequence.current_assignment_id,
    ) == (
        0,
        ASSIGNMENT,
    )
    again = replay([attempt("t2", "s2", 95, at(days=6))], v2, state=outcome.state)
    assert again.sequence is not None
    assert isinstance(again.sequence, SequenceProgress)
    assert again.sequence.assignments_completed == 1


def test_migrated_records_pass_the_checker() -> None:
    """Migration writes only consistent records (D18 finds nothing)."""
    v2 = structure(
        definition("n0", "pie"),
        definition("s1", "pizza", stage=Stage.LEARN),
        definition("cake-v2", "cake"),
        version=2,
    )
    state = migrate(v2).state
    raw_assignment, raw_steps = raw_records(state)
    assert check_assignment(raw_assignment, v2, raw_steps, student_id=STUDENT) == ()


# When content is deprecated ---------------------------------------------------


def test_deprecated_rule1_replacement_is_offered_not_forced() -> None:
    """Rule 1: with a replacement, the step stays required and an offer is data."""
    change = deprecate_content(
        V1,
        element_id="cake",
        replaced_by_game_id="cake-2",
        deprecation_id="d1",
        as_of=at(days=4),
    )
    step = change.after.step("s2")
    assert step.required
    assert step.replaced_by_game_id == "cake-2"
    (offer,) = change.offers
    assert (offer.step_id, offer.element_id, offer.replaced_by_game_id) == (
        "s2",
        "cake",
        "cake-2",
    )


def test_deprecated_rule1_accepting_keeps_the_record_and_its_scores() -> None:
    """Rule 1 with rule 5: accepting the offer keeps the step's id and record."""
    change = deprecate_content(
        V1,
        element_id="cake",
        replaced_by_game_id="cake-2",
        deprecation_id="d1",
        as_of=at(days=4),
    )
    accepted = accept_replacement(change.after, change.offers[0])
    assert accepted.step("s2").element_id == "cake-2"
    state = reconcile_content_change(
        started(), change.after, change_id="d1", as_of=at(days=4)
    ).state
    outcome = reconcile_content_change(
        state, accepted, change_id="d2", as_of=at(days=5)
    )
    assert outcome.state.steps["s2"] == started().steps["s2"]
    assert outcome.step_mapping["s2"] == "s2"


def test_deprecated_rule1_a_stale_offer_is_refused() -> None:
    """An offer for a step that changed since is refused."""
    change = deprecate_content(
        V1,
        element_id="cake",
        replaced_by_game_id="cake-2",
        deprecation_id="d1",
        as_of=at(days=4),
    )
    accepted = accept_replacement(change.after, change.offers[0])
    with pytest.raises(InvalidInputError):
        accept_replacement(accepted, change.offers[0])


def test_deprecated_rule2_no_replacement_marks_the_step_deprecated() -> None:
    """Rule 2: without a replacement the step is deprecated, so not required (D10)."""
    change = deprecate_content(
        V1, element_id="cake", deprecation_id="d1", as_of=at(days=4)
    )
    step = change.after.step("s2")
    assert step.deprecated
    assert not step.required
    assert change.step_ids == ("s2",)
    assert change.after.version == V1.version + 1


def test_deprecated_rule2_the_step_stops_blocking_progression() -> None:
    """Rule 2: the step after the deprecated one unlocks."""
    change = deprecate_content(
        V1, element_id="cake", deprecation_id="d1", as_of=at(days=4)
    )
    outcome = reconcile_content_change(
        started(), change.after, change_id="d1", as_of=at(days=4)
    )
    assert outcome.state.steps["s3"].state is StepState.AVAILABLE


@pytest.mark.parametrize(
    ("element_id", "expected"),
    [
        pytest.param("cake", 100.0, id="unfinished-step-leaves-the-count"),
        pytest.param("pizza", 50.0, id="finished-step-leaves-the-count-too"),
        pytest.param("absent-game", 200 / 3, id="unused-content-changes-nothing"),
    ],
)
def test_deprecated_rule3_completion_excludes_deprecated_steps(
    element_id: str, expected: float
) -> None:
    """Rule 3: deprecated steps leave the required count (D10), whichever way
    that moves the percentage (s1 and s3 complete, s2 in progress: 2 of 3)."""
    state = replay([attempt("t3", "s3", 95, at(days=2))], V1, state=started())
    change = deprecate_content(
        V1, element_id=element_id, deprecation_id="d1", as_of=at(days=4)
    )
    outcome = reconcile_content_change(
        state, change.after, change_id="d1", as_of=at(days=4)
    )
    after = outcome.assignment if outcome.applied else state.assignment
    assert after is not None
    assert after.completion_percentage == pytest.approx(expected)
    impact = deprecation_impact(change, [state], as_of=at(days=4))
    if change.step_ids:
        assert impact.changes[0].new_percentage == pytest.approx(expected)
    else:
        assert (impact.changes, impact.events) == ((), ())


def test_deprecated_rule3_reconciliation_type_is_content_change() -> None:
    """Rule 3: the recalculation is reported as ``content_change``."""
    change = deprecate_content(
        V1, element_id="cake", deprecation_id="d1", as_of=at(days=4)
    )
    outcome = reconcile_content_change(
        started(), change.after, change_id="d1", as_of=at(days=4)
    )
    (event,) = [e for e in outcome.events if isinstance(e, ProgressReconciled)]
    assert event.reconciliation_type is ReconciliationType.CONTENT_CHANGE
    assert outcome.audit_snapshot is not None
    assert outcome.audit_snapshot.notes == "pre_content_change:d1"


def test_deprecated_rule4_teacher_is_notified_with_the_impact() -> None:
    """Rule 4: one ``content_deprecated`` notification with students and
    percentages affected."""
    untouched = ProgressState(student_id="bo", structure=V1)
    change = deprecate_content(
        V1, element_id="pizza", deprecation_id="d1", as_of=at(days=4)
    )
    impact = deprecation_impact(change, [started(), untouched], as_of=at(days=4))
    (event,) = impact.events
    assert isinstance(event, ContentDeprecated)
    assert event.destination is Destination.NOTIFICATION_SERVICE
    assert (event.step_ids, event.element_id, event.stage) == (("s1",), "pizza", None)
    assert (
        event.students_total,
        event.students_affected,
        event.students_with_scores,
    ) == (
        2,
        1,
        1,
    )
    assert event.average_completion_before == pytest.approx(100 / 6)
    assert event.average_completion_after == 0.0
    assert event.largest_completion_drop == pytest.approx(100 / 3)
    assert not event.replacement_offered


def test_deprecated_rule5_historical_scores_remain() -> None:
    """Rule 5: the deprecated step's record, scores and all, is untouched."""
    change = deprecate_content(
        V1, element_id="cake", deprecation_id="d1", as_of=at(days=4)
    )
    outcome = reconcile_content_change(
        started(), change.after, change_id="d1", as_of=at(days=4)
    )
    assert outcome.state.steps["s2"] == started().steps["s2"]
    assert "s2" not in {s.step_id for s in outcome.steps}


def test_deprecating_one_stage_leaves_the_others() -> None:
    """A deprecated stage of a game affects only the steps of that stage."""
    two = structure(
        definition("p", "pizza", stage=Stage.PLAY),
        definition("q", "pizza", stage=Stage.QUIZ),
    )
    change = deprecate_content(
        two, element_id="pizza", stage=Stage.QUIZ, deprecation_id="d1", as_of=at(days=1)
    )
    assert change.step_ids == ("q",)
    assert change.after.step("p").required
    assert not change.after.step("q").required


def test_deprecating_again_changes_nothing() -> None:
    """A second deprecation of the same content is no change."""
    once = deprecate_content(
        V1, element_id="cake", deprecation_id="d1", as_of=at(days=4)
    )
    twice = deprecate_content(
        once.after, element_id="cake", deprecation_id="d2", as_of=at(days=5)
    )
    assert once.changed
    assert not twice.changed


def test_a_game_cannot_replace_itself() -> None:
    """A replacement is another game."""
    with pytest.raises(InvalidInputError):
        deprecate_content(
            V1,
            element_id="cake",
            replaced_by_game_id="cake",
            deprecation_id="d1",
            as_of=at(days=4),
        )


def test_a_persons_change_leaves_an_audit_entry() -> None:
    """D19: a migration or rollback by a person records who, when, what and why."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    outcome = migrate_progress(
        started(),
        v2,
        migration_id="m1",
        as_of=MIGRATED_AT,
        actor_id="admin-1",
        reason="sequence v2 rollout",
    )
    (entry,) = outcome.audit
    assert (entry.actor_id, entry.action, entry.reason, entry.command_id) == (
        "admin-1",
        "migrate_assignment",
        "sequence v2 rollout",
        "m1",
    )
    assert (entry.before["structure_version"], entry.after["structure_version"]) == (
        1,
        2,
    )
    assert entry.occurred_at == MIGRATED_AT
    back = rollback_migration(
        outcome.audit_snapshot,  # type: ignore[arg-type]
        outcome.state,
        rollback_id="r1",
        as_of=at(days=6),
        actor_id="admin-1",
        reason="v2 broke the quiz",
    )
    assert [e.action for e in back.audit] == ["rollback_migration"]
    assert migrate(v2).audit == ()  # the system's own change: no person


@pytest.mark.parametrize(
    ("actor_id", "reason"), [("admin-1", None), (None, "why"), ("  ", "why")]
)
def test_a_persons_change_needs_actor_and_reason(
    actor_id: str | None, reason: str | None
) -> None:
    """D8, D19: who and why come together."""
    v2 = structure(definition("s1", "pizza", stage=Stage.LEARN), version=2)
    with pytest.raises(InvalidInputError):
        migrate_progress(
            started(),
            v2,
            migration_id="m1",
            as_of=MIGRATED_AT,
            actor_id=actor_id,
            reason=reason,
        )
