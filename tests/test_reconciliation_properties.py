"""Laws of migration (spec: When Assignments Change): it never un-completes
a step, never raises completion above 100, is idempotent, and a rollback
undoes it exactly, never losing progress made after the change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mlc_progress import (
    AdjustTarget,
    ArchiveAssignment,
    AssignmentStatus,
    AssignmentStructure,
    Command,
    ExtendDueDate,
    InvalidInputError,
    ProgressError,
    ProgressSnapshot,
    StartStep,
    StepProgress,
    StepState,
)
from mlc_progress._inconsistency import check_assignment
from mlc_progress._reconciliation import (
    ReconciliationOutcome,
    deprecate_content,
    migrate_progress,
    reconcile_content_change,
    rollback_migration,
)
from mlc_progress._serialization import structure
from mlc_progress._tracking import ProgressState, apply_command, initial_step_progress

from .test_reconciliation_support import (
    AS_OF,
    ASSIGNMENT,
    STUDENT,
    TEACHER,
    attempt,
    new_versions,
    old_states,
    override,
    raw_records,
)


@st.composite
def migrations(draw: st.DrawFn) -> tuple[ProgressState, ReconciliationOutcome]:
    state = draw(old_states())
    new = draw(new_versions(state.structure))
    return state, migrate_progress(state, new, migration_id="m1", as_of=AS_OF)


@given(migrations())
def test_migration_never_uncompletes_a_step(
    case: tuple[ProgressState, ReconciliationOutcome],
) -> None:
    """Every complete record stays complete, with its date and source, under
    its old id and under the new step that carries it (D7, rule 1)."""
    before, outcome = case
    after = outcome.state.steps
    for step_id, record in before.steps.items():
        if record.state is StepState.COMPLETE:
            assert after[step_id].completed_at == record.completed_at
            assert after[step_id].completion_source is record.completion_source
    for new_id, old_id in outcome.step_mapping.items():
        old = before.steps.get(old_id)
        if old is not None and old.state is StepState.COMPLETE:
            assert after[new_id].completed_at == old.completed_at


@given(migrations())
def test_migration_never_drops_a_score(
    case: tuple[ProgressState, ReconciliationOutcome],
) -> None:
    """Every attempt figure of a record is kept, wherever it moves (rule 2)."""
    before, outcome = case
    after = outcome.state.steps
    for step_id, record in before.steps.items():
        kept = after[step_id]
        assert (kept.attempt_count, kept.best_score, kept.time_on_task_ms) == (
            record.attempt_count,
            record.best_score,
            record.time_on_task_ms,
        )
    for new_id, old_id in outcome.step_mapping.items():
        old = before.steps.get(old_id)
        carried = after.get(new_id)
        if old is not None and carried is not None:
            assert carried.best_score == old.best_score
        elif old is not None:  # an untouched record: not stored again (Q17)
            assert old.state in (StepState.LOCKED, StepState.AVAILABLE)
            assert (old.attempt_count, old.started_at) == (0, None)


@given(migrations())
def test_migration_keeps_completion_within_100_and_records_consistent(
    case: tuple[ProgressState, ReconciliationOutcome],
) -> None:
    """Completion stays in [0, 100] and the checker finds nothing (D4, D10)."""
    _, outcome = case
    if not outcome.applied:
        return
    assert outcome.assignment is not None
    assert 0 <= outcome.assignment.completion_percentage <= 100
    raw_assignment, raw_steps = raw_records(outcome.state)
    assert (
        check_assignment(
            raw_assignment, outcome.state.structure, raw_steps, student_id=STUDENT
        )
        == ()
    )


@given(migrations())
def test_migration_is_idempotent(
    case: tuple[ProgressState, ReconciliationOutcome],
) -> None:
    """Migrating the migrated records to the same version changes nothing."""
    _, outcome = case
    again = migrate_progress(
        outcome.state, outcome.state.structure, migration_id="m2", as_of=AS_OF
    )
    assert not again.applied
    assert again.state == outcome.state
    assert again.events == ()


@given(migrations())
def test_migration_then_rollback_is_the_identity(
    case: tuple[ProgressState, ReconciliationOutcome],
) -> None:
    """Rollback restores the structure, the assignment and every record the
    student had; any other record is outside the restored structure or the
    initial record standing in for a missing one (Q17)."""
    before, outcome = case
    if not outcome.applied:
        return
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    back = rollback_migration(snapshot, outcome.state, rollback_id="r1", as_of=AS_OF)
    assert back.state.structure == before.structure
    assert back.state.sequence == before.sequence
    if before.assignment is not None:
        assert back.state.assignment == before.assignment
    for step_id, record in back.state.steps.items():
        if step_id in before.steps:
            assert record == before.steps[step_id]
        elif step_id in {d.step_id for d in before.structure.steps}:
            assert record == initial_step_progress(
                before.structure, step_id, student_id=STUDENT
            )


LATER = AS_OF + timedelta(days=1)


_ACTIONS = ("attempt", "attempt", "start", "override", "target", "extend", "archive")


@st.composite
def progress_since(
    draw: st.DrawFn, on: ProgressState, since: datetime = AS_OF
) -> ProgressState:
    """``on`` after what a student and a teacher did in the day after
    ``since``: attempts, starts, overrides, adjusted targets, an extended due
    date, an archive. Commands the core refuses are left out, as a service
    would refuse them."""
    step_ids = [d.step_id for d in on.structure.steps]
    state = on
    for n in range(draw(st.integers(min_value=0, max_value=6))):
        when = since + timedelta(minutes=n + 1)
        kind = draw(st.sampled_from(_ACTIONS if step_ids else _ACTIONS[-2:]))
        step_id = draw(st.sampled_from(step_ids)) if step_ids else ""
        command: Command
        if kind == "attempt":
            score = draw(st.integers(min_value=0, max_value=100))
            command = attempt(f"late-{n}", step_id, float(score), when)
        elif kind == "start":
            command = StartStep(
                command_id=f"start-{n}",
                student_id=STUDENT,
                assignment_id=ASSIGNMENT,
                step_id=step_id,
                started_at=when,
                session_id="k1",
            )
        elif kind == "override":
            command = override(f"o-{n}", step_id, when)
        else:
            person: dict[str, Any] = {
                "command_id": f"c-{n}",
                "actor_id": TEACHER,
                "reason": "iep",
                "student_id": STUDENT,
                "assignment_id": ASSIGNMENT,
                "issued_at": when,
            }
            if kind == "target":
                target = draw(st.integers(min_value=1, max_value=100))
                command = AdjustTarget(
                    step_id=step_id, target_score=float(target), **person
                )
            elif kind == "extend":
                command = ExtendDueDate(due_at=when + timedelta(days=9000), **person)
            else:
                command = ArchiveAssignment(**person)
        try:
            state = state.after(
                apply_command(command, state, as_of=since + timedelta(days=1))
            )
        except ProgressError:
            continue
    return state


def assert_nothing_lost(
    changes: Sequence[ReconciliationOutcome],
    ends: Sequence[ProgressState],
    back: ReconciliationOutcome,
) -> None:
    """Every step of the restored structure holds what was done since the
    first of ``changes`` on it, under whatever id each change gave it: its
    attempts, a completion, a teacher's target; so do the due date and an
    archive. ``ends[n]`` is the state once what was done after
    ``changes[n]`` was done (the current one, last)."""
    current = ends[-1]
    for d in back.state.structure.steps:
        step_id = d.step_id
        stages: list[tuple[StepProgress, StepProgress]] = []
        final: StepProgress | None = None
        for change, end in zip(changes, ends, strict=True):
            moved_to = {old: new for new, old in change.step_mapping.items()}
            if step_id not in moved_to:
                break  # the change removed it
            step_id = moved_to[step_id]
            then = change.state
            left = then.steps.get(step_id) or initial_step_progress(
                then.structure, step_id, student_id=STUDENT
            )
            final = end.steps.get(step_id)
            if final is not None:
                stages.append((final, left))
        if final is None:
            continue
        got = back.state.steps.get(d.step_id) or initial_step_progress(
            back.state.structure, d.step_id, student_id=STUDENT
        )
        if any(now.attempt_count > left.attempt_count for now, left in stages):
            assert (got.attempt_count, got.best_score, got.latest_score) == (
                final.attempt_count,
                final.best_score,
                final.latest_score,
            )
        if any(now.is_complete and not left.is_complete for now, left in stages):
            assert got.state is StepState.COMPLETE
            assert (got.completed_at, got.completion_source) == (
                final.completed_at,
                final.completion_source,
            )
        if any(now.target_score != left.target_score for now, left in stages):
            assert got.target_score == final.target_score
    assert current.assignment is not None
    assert back.state.assignment is not None
    assert back.state.assignment.due_at_override == current.assignment.due_at_override
    if current.assignment.status is AssignmentStatus.ARCHIVED:
        assert back.state.assignment.status is AssignmentStatus.ARCHIVED
    raw_assignment, raw_steps = raw_records(back.state)
    assert (
        check_assignment(
            raw_assignment, back.state.structure, raw_steps, student_id=STUDENT
        )
        == ()
    )


@given(migrations(), st.data())
def test_a_rollback_never_loses_progress_made_after_the_migration(
    case: tuple[ProgressState, ReconciliationOutcome], data: st.DataObject
) -> None:
    """Q67, D7, D8: attempts, completions and a teacher's targets, due date
    and archive made after a migration survive its rollback, renamed steps
    included; the records stay consistent (D18)."""
    _, outcome = case
    if not outcome.applied:
        return
    current = data.draw(progress_since(outcome.state))
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    back = rollback_migration(snapshot, current, rollback_id="r1", as_of=LATER)
    assert_nothing_lost([outcome], [current], back)


@given(migrations(), st.data())
def test_undoing_a_rollback_never_loses_progress_made_after_it(
    case: tuple[ProgressState, ReconciliationOutcome], data: st.DataObject
) -> None:
    """Q67 for the rollback's own snapshot: rolling the rollback back keeps
    what was done on the restored structure in between."""
    _, outcome = case
    if not outcome.applied:
        return
    snapshot = outcome.audit_snapshot
    assert snapshot is not None
    back = rollback_migration(snapshot, outcome.state, rollback_id="r1", as_of=AS_OF)
    if not back.applied:
        return
    current = data.draw(progress_since(back.state))
    undone = back.audit_snapshot
    assert undone is not None
    again = rollback_migration(undone, current, rollback_id="r2", as_of=LATER)
    assert again.state.structure == outcome.state.structure
    assert_nothing_lost([back], [current], again)


SECOND = LATER + timedelta(days=1)


def another_version(old: AssignmentStructure) -> st.SearchStrategy[AssignmentStructure]:
    """A version after ``old``, as ``new_versions`` draws one, with ids of
    its own for the steps it renames and adds (no id is used twice)."""
    return new_versions(
        old,
        renamed="again-",
        added="again-added-",
        fates=("keep", "rename", "rename", "remove", "retarget"),
        most_added=2,
        games=("new-game", "third-game"),
    )


@st.composite
def two_changes(
    draw: st.DrawFn, *, played: bool
) -> tuple[ProgressState, list[ReconciliationOutcome], list[ProgressState]]:
    """A migration, what was done after it (if ``played``), a second change
    (another migration, renaming or removing steps again, or the first one's
    rollback), and what was done after that: the state before, both changes
    and the state after each one's later work."""
    before, first = draw(migrations())
    middle = draw(progress_since(first.state)) if played else first.state
    snapshot = first.audit_snapshot
    if draw(st.booleans()) or snapshot is None:
        newer = draw(another_version(middle.structure))
        second = migrate_progress(middle, newer, migration_id="m2", as_of=LATER)
    else:
        second = rollback_migration(snapshot, middle, rollback_id="r0", as_of=LATER)
    now = draw(progress_since(second.state, LATER)) if played else second.state
    return before, [first, second], [middle, now]


def later_snapshots(changes: Sequence[ReconciliationOutcome]) -> list[ProgressSnapshot]:
    """The pre-change snapshots of the changes that changed anything."""
    return [c.audit_snapshot for c in changes if c.audit_snapshot is not None]


@given(two_changes(played=True))
def test_rolling_back_an_earlier_change_never_loses_progress_made_since(
    case: tuple[ProgressState, list[ReconciliationOutcome], list[ProgressState]],
) -> None:
    """Q152, D7, D8: rolling back the first of two changes keeps what was
    done after either, under whatever id the second change gave a step
    (followed through its mapping); the records stay consistent (D18)."""
    _, changes, ends = case
    first, second = changes
    if not first.applied:
        return
    snapshot = first.audit_snapshot
    assert snapshot is not None
    back = rollback_migration(
        snapshot,
        ends[-1],
        rollback_id="r1",
        as_of=SECOND,
        later=later_snapshots([second]),
    )
    assert back.state.structure == snapshot_structure(first)
    assert_nothing_lost(changes, ends, back)


@given(two_changes(played=False))
def test_rolling_back_the_first_of_two_changes_restores_the_records_exactly(
    case: tuple[ProgressState, list[ReconciliationOutcome], list[ProgressState]],
) -> None:
    """Rule 6, Q152: with nothing done since, rolling back the first of two
    changes restores every record the student had before it, whatever the
    second one did (a completion by its lower target is undone too)."""
    before, changes, ends = case
    first, second = changes
    if not first.applied:
        return
    snapshot = first.audit_snapshot
    assert snapshot is not None
    back = rollback_migration(
        snapshot,
        ends[-1],
        rollback_id="r1",
        as_of=SECOND,
        later=later_snapshots([second]),
    )
    assert back.state.structure == before.structure
    if before.assignment is not None:
        assert back.state.assignment == before.assignment
    for step_id, record in before.steps.items():
        if step_id in {d.step_id for d in before.structure.steps}:
            assert back.state.steps[step_id] == record


def same_steps(a: AssignmentStructure, b: AssignmentStructure) -> bool:
    """One structure, but for the version."""
    return attrs.evolve(a, version=b.version) == b


@given(two_changes(played=True), st.sampled_from(("none-given", "an-earlier-one")))
def test_a_later_chain_that_does_not_reach_the_current_structure_is_refused(
    case: tuple[ProgressState, list[ReconciliationOutcome], list[ProgressState]],
    wrong: str,
) -> None:
    """Q152: rolling back the first of two changes without the second's
    snapshot, or the second with the first's snapshot as a later one,
    raises InvalidInputError naming ``later`` or ``later[0]``, whatever the
    changes did and whatever was done since."""
    before, changes, ends = case
    first, second = changes
    assume(first.applied and second.applied)
    v1, v2, v3 = before.structure, first.state.structure, second.state.structure
    assume(not same_steps(v1, v2) and not same_steps(v2, v3))
    if wrong == "none-given":
        assume(not same_steps(v1, v3))  # else the first change is undone already
        rolled_back, later, field = first, [], "later"
    else:
        rolled_back, later = second, later_snapshots([first])
        field = "later" if same_steps(v3, v1) else "later[0]"
    snapshot = rolled_back.audit_snapshot
    assert snapshot is not None
    with pytest.raises(InvalidInputError) as error:
        rollback_migration(
            snapshot, ends[-1], rollback_id="r1", as_of=SECOND, later=later
        )
    assert error.value.field == field


def snapshot_structure(change: ReconciliationOutcome) -> Any:
    """The structure before ``change``, as its snapshot holds it."""
    snapshot = change.audit_snapshot
    assert snapshot is not None
    return structure(snapshot.state_snapshot["structure"], AssignmentStructure)


@given(old_states(), st.data())
def test_deprecation_never_uncompletes_and_keeps_scores(
    state: ProgressState, data: st.DataObject
) -> None:
    """Deprecated content leaves every record's completion and scores (rules 3, 5)."""
    element = data.draw(st.sampled_from([d.element_id for d in state.structure.steps]))
    change = deprecate_content(
        state.structure, element_id=element, deprecation_id="d1", as_of=AS_OF
    )
    outcome = reconcile_content_change(state, change.after, change_id="d1", as_of=AS_OF)
    for step_id, record in state.steps.items():
        kept = outcome.state.steps[step_id]
        if record.state is StepState.COMPLETE:
            assert kept.completed_at == record.completed_at
        assert (kept.best_score, kept.attempt_count) == (
            record.best_score,
            record.attempt_count,
        )
