"""Laws of migration (spec: When Assignments Change): it never un-completes
a step, never raises completion above 100, is idempotent, and a rollback
undoes it exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import StepState
from mlc_progress._inconsistency import check_assignment
from mlc_progress._reconciliation import (
    ReconciliationOutcome,
    deprecate_content,
    migrate_progress,
    reconcile_content_change,
    rollback_migration,
)
from mlc_progress._tracking import ProgressState, initial_step_progress

from .test_reconciliation_support import (
    AS_OF,
    STUDENT,
    new_versions,
    old_states,
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
