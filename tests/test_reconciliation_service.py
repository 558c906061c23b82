"""The reconciliation service on both adapters (issue 6): migrations,
rollbacks, deprecations and repairs as commands, exactly once, append-only."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    CompletionSource,
    ExtendDueDate,
    InvalidInputError,
    NotFoundError,
    ProgressState,
    ReconciliationType,
    Stage,
    StepDefinition,
    StepState,
    StorageError,
    check_assignment,
    from_json,
    to_json,
    unstructure,
)
from mlc_progress._audit import audit_organization
from mlc_progress._corruption import CorruptRecordError
from mlc_progress._permissions import Actor, Role
from mlc_progress._ports import ReconciliationStore, ReconciliationUnitOfWork
from mlc_progress._reconciliation import migrate_progress
from mlc_progress._reconciliation_commands import (
    ChangeAction,
    ChangeAssignment,
    ReconcileStudent,
)
from mlc_progress._reconciliation_service import (
    STRUCTURE_ON,
    ChangeReport,
    ReconciliationService,
)
from mlc_progress._service import ProgressService
from mlc_progress._structure import SequenceStructure
from mlc_progress.adapters import (
    FixedClock,
    InMemoryCatalog,
    InMemoryStore,
    SQLiteCatalog,
    SQLiteStore,
)
from mlc_progress.testing.contract import ReconciliationStoreContract

from .test_reconciliation_support import new_versions

ORG = "org-1"
T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
ACTOR, REASON = "teacher-1", "curriculum_update"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def step(step_id: str, game: str, stage: Stage) -> StepDefinition:
    return StepDefinition(
        step_id=step_id, element_id=game, stage=stage, target_score=80
    )


V1 = AssignmentStructure(
    assignment_id="a1",
    created_at=T0,
    due_at=day(21),
    sequence_id="q1",
    steps=(
        step("learn", "pizza", Stage.LEARN),
        step("play", "cake", Stage.PLAY),
        step("quiz", "check", Stage.QUIZ),
    ),
)
# The cake step gets a new id, a pie step is inserted, the quiz is removed.
V2 = attrs.evolve(
    V1,
    version=2,
    steps=(
        step("learn", "pizza", Stage.LEARN),
        step("pie", "pie", Stage.PLAY),
        step("cake-v2", "cake", Stage.PLAY),
    ),
)
SEQUENCE = SequenceStructure(sequence_id="q1", assignment_ids=("a1", "a2"))


def play(
    attempt_id: str, student: str, step_id: str, score: float, when: datetime
) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id=student,
        assignment_id="a1",
        step_id=step_id,
        score=score,
        attempted_at=when,
        duration_ms=120_000,
        session_id=f"{student}-tablet",
    )


# Ada finished learn and is half-way through play; Bo finished both.
HISTORY = (
    play("t1", "ada", "learn", 90, day(1)),
    play("t2", "ada", "play", 55, day(2)),
    play("t3", "bo", "learn", 85, day(1)),
    play("t4", "bo", "play", 95, day(2)),
)


@attrs.define
class Env:
    """A store, its catalog and both services, the clock at day 5."""

    kind: str
    store: InMemoryStore | SQLiteStore
    catalog: InMemoryCatalog | SQLiteCatalog
    clock: FixedClock
    path: Path | None = None

    @property
    def tracking(self) -> ProgressService:
        return ProgressService(self.store.unit_of_work, self.catalog, self.clock)

    def service(
        self, unit_of_work: Callable[[], ReconciliationUnitOfWork] | None = None
    ) -> ReconciliationService:
        return ReconciliationService(
            unit_of_work or self.store.unit_of_work, self.catalog, self.clock
        )

    def state(self, student: str, structure: AssignmentStructure = V1) -> ProgressState:
        with self.store.unit_of_work() as uow:
            steps = uow.progress.steps(ORG, student, "a1")
            assignment = uow.progress.assignment(ORG, student, "a1")
            sequence = uow.progress.sequence(ORG, student, "q1")
        return ProgressState(
            student_id=student,
            structure=structure,
            assignment=assignment.record if assignment else None,
            steps={k: r.record for k, r in steps.items()},
            sequence_structure=SEQUENCE,
            sequence=sequence.record if sequence else None,
        )

    def everything(self) -> dict[str, Any]:
        """Every stored record, log entry and version, to compare runs."""
        with self.store.unit_of_work() as uow:
            found: dict[str, Any] = {
                "outbox": uow.outbox.entries(ORG),
                "corrections": uow.corrections.entries(ORG),
            }
            for student in ("ada", "bo", "cy"):
                found[student] = (
                    {
                        k: (r.version, r.record)
                        for k, r in uow.progress.steps(ORG, student, "a1").items()
                    },
                    uow.progress.assignment(ORG, student, "a1"),
                    uow.progress.sequence(ORG, student, "q1"),
                    uow.snapshots.for_student(ORG, student),
                    uow.audit.for_student(ORG, student),
                )
        found["structure"] = self.catalog.assignment(ORG, "a1")
        return found


def make_env(kind: str, tmp_path: Path) -> Env:
    clock = FixedClock(day(3))
    if kind == "memory":
        catalog = InMemoryCatalog()
        env = Env(kind=kind, store=InMemoryStore(), catalog=catalog, clock=clock)
    else:
        path = tmp_path / "progress.db"
        store = SQLiteStore(path)
        env = Env(kind=kind, store=store, catalog=store.catalog, clock=clock, path=path)
    env.catalog.add_assignment(ORG, V1)
    env.catalog.add_sequence(ORG, SEQUENCE)
    env.tracking.apply_many(ORG, HISTORY)
    clock.set(day(5))
    return env


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    made = make_env(request.param, tmp_path)
    try:
        yield made
    finally:
        if isinstance(made.store, SQLiteStore):
            made.store.close()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    made = make_env("sqlite", tmp_path)
    try:
        yield made
    finally:
        assert isinstance(made.store, SQLiteStore)
        made.store.close()


@contextlib.contextmanager
def raw_sql(env: Env) -> Iterator[sqlite3.Connection]:
    """A connection of its own to the database, outside the library."""
    assert env.path is not None
    conn = sqlite3.connect(env.path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def corrupt_step(env: Env, student: str, step_id: str, /, **changes: Any) -> None:
    """Rewrite a step row's JSON directly (a current-state table)."""
    with raw_sql(env) as conn:
        (body,) = conn.execute(
            "SELECT body FROM step_progress WHERE organization_id = ?"
            " AND student_id = ? AND assignment_id = 'a1' AND step_id = ?",
            (ORG, student, step_id),
        ).fetchone()
        conn.execute(
            "UPDATE step_progress SET body = ? WHERE organization_id = ?"
            " AND student_id = ? AND assignment_id = 'a1' AND step_id = ?",
            (json.dumps(json.loads(body) | changes), ORG, student, step_id),
        )


def misfile(env: Env, student: str, step_id: str, as_id: str) -> Callable[[], None]:
    """Corrupt a stored step row, on either adapter: its record names step
    ``as_id`` (a row filed under another key, D18); returns the undo."""
    if isinstance(env.store, SQLiteStore):
        with raw_sql(env) as conn:
            (body,) = conn.execute(
                "SELECT body FROM step_progress WHERE organization_id = ?"
                " AND student_id = ? AND assignment_id = 'a1' AND step_id = ?",
                (ORG, student, step_id),
            ).fetchone()
        corrupt_step(env, student, step_id, step_id=as_id)

        def restore() -> None:
            with raw_sql(env) as conn:
                conn.execute(
                    "UPDATE step_progress SET body = ? WHERE organization_id = ?"
                    " AND student_id = ? AND assignment_id = 'a1' AND step_id = ?",
                    (body, ORG, student, step_id),
                )

        return restore
    group = env.store._tables.steps[(ORG, student, "a1")]
    row = group[step_id]
    group[step_id] = attrs.evolve(row, record=attrs.evolve(row.record, step_id=as_id))

    def put_back() -> None:
        group[step_id] = row

    return put_back


def events_named(env: Env, name: str) -> list[Any]:
    with env.store.unit_of_work() as uow:
        return [e.event for e in uow.outbox.entries(ORG) if e.event.name == name]


# -- the ports, on both adapters ------------------------------------------------------


class TestInMemoryReconciliationStore(ReconciliationStoreContract):
    def make_store(self, tmp_path: Path) -> InMemoryStore:
        return InMemoryStore()


class TestSQLiteReconciliationStore(ReconciliationStoreContract):
    def make_store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "progress.db")

    def reopen(self, store: ReconciliationStore) -> SQLiteStore:
        assert isinstance(store, SQLiteStore)
        store.close()
        return SQLiteStore(store.path)


# -- migrations -----------------------------------------------------------------------


V3 = attrs.evolve(
    V2,
    version=3,
    steps=(V2.steps[0], V2.steps[1], step("cake-v3", "cake", Stage.PLAY)),
)


def extra_reused_by_a_late_starter(env: Env) -> None:
    """m1 adds ``extra`` as the pie game, r1 rolls m1 back, m2 adds
    ``extra`` again as the donut game, and Cy, who began after all that,
    passes it (Q61: one id, two contents)."""
    extra = StepDefinition(
        step_id="extra", element_id="pie", stage=Stage.PLAY, target_score=80
    )
    env.service().migrate(
        ORG, attrs.evolve(V1, version=2, steps=(*V1.steps, extra)), migration_id="m1"
    )
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    donut = attrs.evolve(extra, element_id="donut")
    env.service().migrate(
        ORG, attrs.evolve(V1, version=4, steps=(*V1.steps, donut)), migration_id="m2"
    )
    env.tracking.apply(ORG, play("c1", "cy", "extra", 90, day(5)))


def renamed_twice_and_passed(env: Env) -> None:
    """m1 renames the cake step to cake-v2 (day 5), m2 renames it again to
    cake-v3 (day 6), and Ada passes it under cake-v3."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.clock.set(day(6))
    env.service().migrate(ORG, V3, migration_id="m2")
    env.tracking.apply(ORG, play("t9", "ada", "cake-v3", 95, day(6)))


def test_a_migration_stores_what_the_pure_function_decides(env: Env) -> None:
    """Each student's migrated records, snapshots, events and audit entry are
    stored exactly as migrate_progress gives them, and v2 is published."""
    before = {s: env.state(s) for s in ("ada", "bo")}
    report = env.service().migrate(
        ORG, V2, migration_id="m1", actor_id=ACTOR, reason=REASON
    )
    assert (report.applied, report.resumed) == (True, False)
    assert (report.from_version, report.to_version) == (1, 2)
    assert report.students == report.changed == ("ada", "bo")
    assert env.catalog.assignment(ORG, "a1") == V2
    for student, state in before.items():
        expected = migrate_progress(
            state, V2, migration_id="m1", as_of=day(5), actor_id=ACTOR, reason=REASON
        )
        after = env.state(student, V2)
        assert after.steps == expected.state.steps
        assert after.assignment == expected.assignment
        assert after.sequence == expected.state.sequence
        with env.store.unit_of_work() as uow:
            assert uow.snapshots.for_student(ORG, student)[
                -len(expected.snapshots) :
            ] == (expected.snapshots)
            assert uow.audit.for_student(ORG, student)[-1] == expected.audit[0]
            consumed = uow.commands.get(ORG, f"m1:{student}:a1")
        assert consumed is not None
        assert isinstance(consumed.command, ReconcileStudent)
        assert consumed.command.reconciliation_type is ReconciliationType.MIGRATION
    reconciled = events_named(env, "progress_reconciled")
    assert [(e.student_id, e.reconciliation_type) for e in reconciled] == [
        ("ada", ReconciliationType.MIGRATION),
        ("bo", ReconciliationType.MIGRATION),
    ]


def test_the_change_itself_is_in_the_command_log(env: Env) -> None:
    """A migration logs one ChangeAssignment with both versions and its students."""
    env.service().migrate(ORG, V2, migration_id="m1", actor_id=ACTOR, reason=REASON)
    with env.store.unit_of_work() as uow:
        logged = uow.commands.get(ORG, "m1")
    assert logged is not None
    change = logged.command
    assert isinstance(change, ChangeAssignment)
    assert (change.action, change.from_structure, change.to_structure) == (
        ChangeAction.MIGRATE,
        V1,
        V2,
    )
    assert (change.student_ids, change.actor_id) == (("ada", "bo"), "teacher-1")


def test_a_migration_run_again_changes_nothing(env: Env) -> None:
    """The same migration id again stores and emits nothing (D3)."""
    env.service().migrate(ORG, V2, migration_id="m1")
    stored = env.everything()
    env.clock.advance(timedelta(hours=1))
    again = env.service().migrate(ORG, V2, migration_id="m1")
    assert (again.applied, again.resumed, again.changed) == (False, True, ())
    assert again.done_before == ("ada", "bo")
    assert env.everything() == stored


def test_a_migration_cut_short_resumes_where_it_stopped(env: Env) -> None:
    """A migration interrupted after its first student finishes on the next
    call, with the result of an uninterrupted run."""
    bo_before = env.state("bo")
    opened = 0

    def failing_third() -> ReconciliationUnitOfWork:
        nonlocal opened
        opened += 1
        if opened == 3:  # the change, Ada, then Bo: Bo's transaction fails
            raise StorageError("the process died")
        return env.store.unit_of_work()

    with pytest.raises(StorageError, match="died"):
        env.service(failing_third).migrate(ORG, V2, migration_id="m1")
    assert env.state("bo") == bo_before
    assert env.catalog.assignment(ORG, "a1") == V2
    env.clock.advance(timedelta(hours=1))
    resumed = env.service().migrate(ORG, V2, migration_id="m1")
    assert (resumed.resumed, resumed.done_before, resumed.changed) == (
        True,
        ("ada",),
        ("bo",),
    )
    expected = migrate_progress(bo_before, V2, migration_id="m1", as_of=day(5))
    bo = env.state("bo", V2)
    assert (bo.steps, bo.assignment) == (expected.state.steps, expected.assignment)


def test_a_migration_to_an_older_version_is_refused(env: Env) -> None:
    """A migration must publish a later version; nothing changes otherwise."""
    stored = env.everything()
    with pytest.raises(InvalidInputError, match="after the catalog"):
        env.service().migrate(ORG, attrs.evolve(V2, version=1), migration_id="m1")
    assert env.everything() == stored


def test_a_person_names_a_reason(env: Env) -> None:
    """An actor without a reason is refused before anything changes (D8)."""
    stored = env.everything()
    with pytest.raises(InvalidInputError):
        env.service().migrate(ORG, V2, migration_id="m1", actor_id="teacher-1")
    assert env.everything() == stored


def test_an_id_of_another_command_is_refused(env: Env) -> None:
    """A change id that names an attempt in the log is refused (D3, Q54)."""
    with pytest.raises(InvalidInputError, match="another command"):
        env.service().migrate(ORG, V2, migration_id="t1")
    assert env.catalog.assignment(ORG, "a1") == V1


# -- rollbacks ------------------------------------------------------------------------


def test_a_rollback_restores_every_record_exactly(env: Env) -> None:
    """Rolling a migration back restores each student's records as they were
    and publishes the earlier structure as the next version."""
    before = env.everything()
    env.service().migrate(ORG, V2, migration_id="m1")
    env.clock.advance(timedelta(days=1))
    report = env.service().rollback(
        ORG, "a1", change_id="m1", rollback_id="undo-m1", actor_id=ACTOR, reason=REASON
    )
    assert report.changed == ("ada", "bo")
    assert env.catalog.assignment(ORG, "a1") == attrs.evolve(V1, version=3)
    for student in ("ada", "bo"):
        restored = env.state(student)
        steps, assignment, sequence, *_ = before[student]
        assert {k: restored.steps[k] for k in steps} == {
            k: record for k, (_, record) in steps.items()
        }
        assert restored.assignment == assignment.record
        assert restored.sequence == sequence.record
    with env.store.unit_of_work() as uow:
        last = uow.snapshots.for_student(ORG, "ada")[-1]
        entry = uow.audit.for_student(ORG, "ada")[-1]
    assert last.notes == "pre_rollback:undo-m1"
    assert (entry.action, entry.actor_id) == ("rollback_migration", "teacher-1")
    stored = env.everything()
    again = env.service().rollback(ORG, "a1", change_id="m1", rollback_id="undo-m1")
    assert not again.applied
    assert env.everything() == stored


def test_a_rollback_keeps_what_the_student_did_after_the_change(env: Env) -> None:
    """A rollback never takes back progress made after the change (D7, Q67):
    the step keeps its later attempt, and an audit finds the records agree
    with the attempt log."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply(ORG, play("t9", "ada", "learn", 97, day(5)))
    env.clock.advance(timedelta(days=1))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="undo-m1")
    learn = env.state("ada").steps["learn"]
    assert (learn.attempt_count, learn.best_score) == (2, 97)
    report = audit_organization(
        env.store, env.catalog, ORG, as_of=env.clock.now(), repair=False
    )
    assert report.violations == {}
    assert report.findings == ()


def test_a_rollback_keeps_the_sequence_and_the_teachers_due_date_since(
    env: Env,
) -> None:
    """D8, D16, Q67 through the service: after the migration Ada completes
    the sequence's other assignment, finishes the renamed cake step and gets
    an extension; the rollback stores a sequence record that still counts
    a2, keeps the due date and takes the cake play back to ``play``."""
    a2 = AssignmentStructure(
        assignment_id="a2",
        created_at=T0,
        sequence_id="q1",
        steps=(step("maze", "maze", Stage.PLAY),),
    )
    env.catalog.add_assignment(ORG, a2)
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply(
        ORG, attrs.evolve(play("u1", "ada", "maze", 95, day(5)), assignment_id="a2")
    )
    env.tracking.apply(ORG, play("t9", "ada", "cake-v2", 92, day(5)))
    admin = Actor(actor_id=ACTOR, role=Role.SYSTEM_ADMIN, organization_id=ORG)
    extend = ExtendDueDate(
        command_id="x1",
        actor_id=ACTOR,
        reason="ill",
        student_id="ada",
        assignment_id="a1",
        due_at=day(40),
        issued_at=day(5),
    )
    env.tracking.apply(ORG, extend, actor=admin)
    counted = env.state("ada", V2).sequence
    assert counted is not None
    assert counted.assignments_completed == 1
    env.clock.advance(timedelta(days=1))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="undo-m1")
    ada = env.state("ada")
    assert ada.sequence is not None
    assert ada.sequence.assignments_completed == 1
    assert ada.assignment is not None
    assert ada.assignment.due_at_override == day(40)
    assert (ada.steps["play"].attempt_count, ada.steps["play"].state) == (
        2,
        StepState.COMPLETE,
    )
    report = audit_organization(
        env.store, env.catalog, ORG, as_of=env.clock.now(), repair=False
    )
    assert report.findings == ()


def test_rolling_back_an_earlier_change_keeps_play_on_a_step_renamed_again(
    env: Env,
) -> None:
    """Q152 through the service: m1 renames the cake step to cake-v2, m2
    renames it again to cake-v3, Ada passes under cake-v3; rolling back m1
    alone brings that play back to ``play``, and the audit finds the records
    in agreement with the attempt log."""
    renamed_twice_and_passed(env)
    env.clock.set(day(7))
    report = env.service().rollback(ORG, "a1", change_id="m1", rollback_id="undo-m1")
    assert report.changed == ("ada", "bo")
    assert env.catalog.assignment(ORG, "a1") == attrs.evolve(V1, version=4)
    cake = env.state("ada").steps["play"]
    assert (cake.attempt_count, cake.best_score, cake.state) == (
        2,
        95,
        StepState.COMPLETE,
    )
    assert env.state("ada").steps["cake-v3"].attempt_count == 2  # nothing deleted
    found = audit_organization(
        env.store, env.catalog, ORG, as_of=env.clock.now(), repair=False
    )
    assert found.findings == ()
    # Undoing the rollback brings version 3 back, the play under cake-v3.
    env.service().rollback(ORG, "a1", change_id="undo-m1", rollback_id="redo")
    assert env.catalog.assignment(ORG, "a1").steps == V3.steps
    assert env.state("ada", V3).steps["cake-v3"].attempt_count == 2


def test_a_rollback_of_an_unknown_change_is_not_found(env: Env) -> None:
    """Rolling back a change the assignment never had raises NotFoundError."""
    with pytest.raises(NotFoundError):
        env.service().rollback(ORG, "a1", change_id="nope", rollback_id="r1")
    assert env.catalog.assignment(ORG, "a1") == V1


# -- deprecations ---------------------------------------------------------------------


def test_deprecating_a_game_recalculates_and_notifies_the_teacher(env: Env) -> None:
    """Without a replacement the cake step stops counting; scores stay; the
    quiz unlocks; the teacher's notification is in the outbox."""
    ada_before = env.state("ada")
    report = env.service().deprecate(
        ORG,
        "a1",
        element_id="cake",
        deprecation_id="cake-eol",
        actor_id=ACTOR,
        reason=REASON,
    )
    assert report.changed == ("ada", "bo")
    assert report.impact is not None
    assert (report.impact.students_total, report.impact.students_with_scores) == (2, 2)
    assert not env.catalog.assignment(ORG, "a1").step("play").required
    ada = env.state("ada", env.catalog.assignment(ORG, "a1"))
    assert ada.steps["play"] == ada_before.steps["play"]
    assert ada.steps["quiz"].state is StepState.AVAILABLE
    assert ada.assignment is not None
    assert ada.assignment.completion_percentage == 50.0
    (notice,) = events_named(env, "content_deprecated")
    assert notice.students_affected == 2
    kinds = {e.reconciliation_type for e in events_named(env, "progress_reconciled")}
    assert kinds == {ReconciliationType.CONTENT_CHANGE}
    stored = env.everything()
    again = env.service().deprecate(
        ORG,
        "a1",
        element_id="cake",
        deprecation_id="cake-eol",
        actor_id=ACTOR,
        reason=REASON,
    )
    assert (again.applied, again.resumed) == (False, True)
    assert env.everything() == stored


def test_accepting_a_replacement_carries_each_record_over(env: Env) -> None:
    """A deprecation with a replacement offers it; accepting it makes the step
    play the new game, and every record, complete or not, carries over."""
    service = env.service()
    offered = service.deprecate(
        ORG,
        "a1",
        element_id="cake",
        replaced_by_game_id="cake-deluxe",
        deprecation_id="cake-eol",
    )
    (offer,) = offered.offers
    assert env.catalog.assignment(ORG, "a1").step("play").required
    records = {s: env.state(s).steps["play"] for s in ("ada", "bo")}
    accepted = service.accept_replacement(
        ORG, offer, change_id="take-deluxe", actor_id=ACTOR, reason=REASON
    )
    assert accepted.to_version == 3
    current = env.catalog.assignment(ORG, "a1")
    assert current.step("play").element_id == "cake-deluxe"
    for student, record in records.items():
        assert env.state(student, current).steps["play"] == record
    with pytest.raises(InvalidInputError):
        service.accept_replacement(ORG, offer, change_id="take-again")


def test_deprecating_content_no_step_plays_changes_nothing(env: Env) -> None:
    """Deprecating a game the assignment does not use logs and emits nothing."""
    stored = env.everything()
    report = env.service().deprecate(ORG, "a1", element_id="chess", deprecation_id="d1")
    assert (report.applied, report.students, report.offers) == (False, (), ())
    assert env.everything() == stored


# -- repairs --------------------------------------------------------------------------


def test_a_repair_recomputes_and_appends_corrections(env: Env) -> None:
    """An assignment record out of step with its steps is recomputed; the
    correction, the event, the audit entry and the consumed id are stored;
    a re-run changes nothing."""
    with env.store.unit_of_work() as uow:
        found = uow.progress.assignment(ORG, "ada", "a1")
        assert found is not None
        wrong = attrs.evolve(found.record, steps_in_progress=0)
        uow.progress.put_assignment(ORG, wrong, expected_version=found.version)
        uow.commit()
    outcome = env.service().repair(
        ORG, "ada", "a1", repair_id="fix-1", actor_id=ACTOR, reason=REASON
    )
    assert outcome.repaired
    assert not outcome.failed
    (correction,) = env.service().corrections(ORG, "ada")
    assert correction.before == unstructure(wrong)
    assert correction.after == unstructure(env.state("ada").assignment)
    assert correction.actor_id == "teacher-1"
    (event,) = events_named(env, "progress_reconciled")
    assert event.reconciliation_type is ReconciliationType.ERROR_REPAIR
    with env.store.unit_of_work() as uow:
        entry = uow.audit.for_student(ORG, "ada")[-1]
        assert uow.commands.contains(ORG, "fix-1:ada:a1")
    assert (entry.action, entry.reason) == ("repair_progress", "curriculum_update")
    stored = env.everything()
    assert env.service().repair(ORG, "ada", "a1", repair_id="fix-1").corrections == ()
    assert env.everything() == stored


def test_consistent_records_need_no_repair(env: Env) -> None:
    """Repairing consistent records finds nothing and stores nothing."""
    stored = env.everything()
    outcome = env.service().repair(ORG, "bo", "a1", repair_id="fix-1")
    assert (outcome.violations, outcome.events) == ((), ())
    assert env.everything() == stored


@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_correction_records_are_append_only(sqlite_env: Env, verb: str) -> None:
    """An UPDATE or DELETE on the corrections table aborts, even from outside
    the library; the rows stay (D18)."""
    corrupt_step(sqlite_env, "ada", "play", time_on_task_ms=-5)
    assert sqlite_env.service().repair(ORG, "ada", "a1", repair_id="fix-1").repaired
    statement = (
        "UPDATE corrections SET body = '{}'"
        if verb == "UPDATE"
        else "DELETE FROM corrections"
    )
    with raw_sql(sqlite_env) as conn:
        assert conn.execute("SELECT count(*) FROM corrections").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM corrections").fetchone()[0] == 1


# -- corrupt rows on the normal path --------------------------------------------------


def test_a_corrupt_row_gives_the_typed_error_and_stores_nothing(
    sqlite_env: Env,
) -> None:
    """An attempt meeting a corrupt stored row raises CorruptRecordError naming
    the row and field; nothing of the attempt is stored; after the repair the
    same attempt is applied."""
    env = sqlite_env
    corrupt_step(env, "ada", "play", time_on_task_ms=-5)
    attempt = play("t9", "ada", "play", 85, day(5))
    with pytest.raises(CorruptRecordError) as raised:
        env.tracking.apply(ORG, attempt)
    error = raised.value
    assert (error.table, error.key) == ("step_progress", (ORG, "ada", "a1", "play"))
    assert (error.student_id, error.assignment_id, error.field) == (
        "ada",
        "a1",
        "time_on_task_ms",
    )
    assert not error.retryable
    with env.store.unit_of_work() as uow:
        assert not uow.commands.contains(ORG, "t9")
        assert [
            a.attempt_id for a in uow.attempts.for_assignment(ORG, "ada", "a1")
        ] == [
            "t1",
            "t2",
        ]
    assert error.student_id is not None
    assert error.assignment_id is not None
    outcome = env.service().repair(
        ORG, error.student_id, error.assignment_id, repair_id="fix-t9"
    )
    assert outcome.repaired
    assert env.tracking.apply(ORG, attempt).applied
    assert env.state("ada").steps["play"].time_on_task_ms == 240_000


def test_a_row_filed_under_another_key_is_corrupt(sqlite_env: Env) -> None:
    """A step row whose record names another step raises CorruptRecordError."""
    corrupt_step(sqlite_env, "ada", "play", step_id="quiz")
    with pytest.raises(CorruptRecordError) as raised:
        sqlite_env.tracking.apply(ORG, play("t9", "ada", "play", 85, day(5)))
    assert raised.value.field == "step_id"


def test_a_student_with_a_corrupt_row_is_left_for_repair(sqlite_env: Env) -> None:
    """A migration meeting a corrupt record migrates the others, reports the
    student as failed, and migrates them on the next call after a repair."""
    env = sqlite_env
    corrupt_step(env, "bo", "learn", passed=False)
    report = env.service().migrate(ORG, V2, migration_id="m1")
    assert (report.changed, report.failed) == (("ada",), ("bo",))
    assert env.service().repair(ORG, "bo", "a1", repair_id="fix-bo").repaired
    resumed = env.service().migrate(ORG, V2, migration_id="m1")
    assert (resumed.changed, resumed.done_before, resumed.failed) == (
        ("bo",),
        ("ada",),
        (),
    )
    bo = env.state("bo", V2)
    assert bo.steps["cake-v2"].completion_source is CompletionSource.FRESH_ATTEMPT
    assert (
        check_assignment(
            unstructure(bo.assignment),
            V2,
            [unstructure(s) for s in bo.steps.values()],
            student_id="bo",
        )
        == ()
    )


def test_a_student_a_rollback_refuses_is_failed_and_the_others_go_on(
    env: Env,
) -> None:
    """Q67: Ada failed m1 (a corrupt row, since put right), so she has no
    snapshot of it and rolling back m0 refuses her chain: she is reported
    failed with the error naming ``later``, nothing of hers is stored, and
    Bo, after her, is rolled back; the same call again stops at her again."""
    env.service().migrate(ORG, V2, migration_id="m0")
    restore = misfile(env, "ada", "learn", "pie")
    env.clock.set(day(6))
    assert env.service().migrate(ORG, V3, migration_id="m1").failed == ("ada",)
    restore()
    ada = env.everything()["ada"]
    env.clock.set(day(7))
    report = env.service().rollback(ORG, "a1", change_id="m0", rollback_id="r0")
    assert (report.changed, report.failed) == (("bo",), ("ada",))
    assert report.errors["ada"].field == "later"
    assert "call the change they failed again" in str(report.errors["ada"])
    assert env.everything()["ada"] == ada
    assert env.state("bo").steps["play"].state is StepState.COMPLETE
    again = env.service().rollback(ORG, "a1", change_id="m0", rollback_id="r0")
    assert (again.changed, again.done_before, again.failed) == ((), ("bo",), ("ada",))


def test_a_refused_student_is_rolled_back_once_the_change_they_missed_is_done(
    env: Env,
) -> None:
    """Q67: after m1 is called again (Ada migrated to V3 with its snapshot),
    the rollback of m0 called again finishes for her: her records are those
    before m0, her scores kept, and the audit finds nothing."""
    before = env.state("ada")
    env.service().migrate(ORG, V2, migration_id="m0")
    restore = misfile(env, "ada", "learn", "pie")
    env.clock.set(day(6))
    env.service().migrate(ORG, V3, migration_id="m1")
    restore()
    env.clock.set(day(7))
    env.service().rollback(ORG, "a1", change_id="m0", rollback_id="r0")
    finished = env.service().migrate(ORG, V3, migration_id="m1")
    assert (finished.changed, finished.done_before) == (("ada",), ("bo",))
    assert env.catalog.assignment(ORG, "a1") == attrs.evolve(V1, version=4)
    resumed = env.service().rollback(ORG, "a1", change_id="m0", rollback_id="r0")
    assert (resumed.changed, resumed.done_before, resumed.failed) == (
        ("ada",),
        ("bo",),
        (),
    )
    after = env.state("ada")
    assert {k: after.steps[k] for k in before.steps} == before.steps
    assert after.assignment == before.assignment
    assert audit_findings(env) == ()


def test_a_rollback_reconciles_a_student_who_began_after_the_change(
    env: Env,
) -> None:
    """Q67: Cy first plays under cake-v2, after m0 renamed cake; rolling m0
    back reconciles Cy to the restored structure (rules 1-6): the play counts
    on ``play``, the assignment is computed for V1, with a pre-change
    snapshot, and the audit finds nothing."""
    env.service().migrate(ORG, V2, migration_id="m0")
    env.tracking.apply(ORG, play("c1", "cy", "cake-v2", 90, day(5)))
    env.clock.set(day(6))
    report = env.service().rollback(ORG, "a1", change_id="m0", rollback_id="r0")
    assert report.changed == ("ada", "bo", "cy")
    cy = env.state("cy")
    assert (cy.steps["play"].attempt_count, cy.steps["play"].best_score) == (1, 90)
    assert cy.assignment is not None
    assert (cy.assignment.steps_total, cy.assignment.steps_completed) == (3, 1)
    with env.store.unit_of_work() as uow:
        (snapshot,) = [
            s
            for s in uow.snapshots.for_student(ORG, "cy")
            if s.state_snapshot.get("change_id") == "r0"
        ]
    assert snapshot.notes == "pre_migration:r0"
    assert audit_findings(env) == ()
    env.tracking.apply(ORG, play("c2", "cy", "play", 95, day(6)))
    assert env.state("cy").steps["play"].attempt_count == 2
    assert audit_findings(env) == ()


def test_undoing_the_rollback_returns_a_late_student_to_the_change(env: Env) -> None:
    """Q67: the reconciliation of a student who began after m0 is undone with
    the rollback: Cy's play is back under cake-v2, and the audit agrees."""
    env.service().migrate(ORG, V2, migration_id="m0")
    env.tracking.apply(ORG, play("c1", "cy", "cake-v2", 90, day(5)))
    cy = env.state("cy", V2)
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m0", rollback_id="r0")
    env.clock.set(day(7))
    env.service().rollback(ORG, "a1", change_id="r0", rollback_id="r1")
    back = env.state("cy", V2)
    assert back.steps["cake-v2"] == cy.steps["cake-v2"]
    assert back.assignment is not None
    assert cy.assignment is not None
    assert back.assignment.completion_percentage == cy.assignment.completion_percentage
    assert audit_findings(env) == ()


def test_a_late_student_whose_step_id_names_other_content_is_refused(
    env: Env,
) -> None:
    """Q61, Q67: when the restored structure gives a step id of Cy's other
    content, rules 1-6 cannot reconcile Cy: Cy is failed with the error
    naming ``steps``, keeps every record (gaining only the record of the
    structure Cy is on, Q60), and the others are rolled back."""
    extra_reused_by_a_late_starter(env)
    cy = env.everything()["cy"]
    env.clock.set(day(6))
    report = env.service().rollback(ORG, "a1", change_id="r1", rollback_id="r2")
    assert (report.changed, report.failed) == (("ada", "bo"), ("cy",))
    assert report.errors["cy"].field == "steps"
    steps, assignment, sequence, snapshots, audit = env.everything()["cy"]
    assert (steps, assignment, sequence, audit) == (cy[0], cy[1], cy[2], cy[4])
    assert snapshots[:-1] == cy[3]
    assert snapshots[-1].state_snapshot["kind"] == STRUCTURE_ON


def test_rolling_back_again_takes_a_removed_step_back_from_its_removal(
    env: Env,
) -> None:
    """Q109, Q152: the second rollback of m0 takes ``play`` back from the
    snapshot of the change that removed it (its two attempts), not from the
    row an intermediate rollback restored (one): the audit attributes the
    attempts as that snapshot counted them and finds nothing."""
    env.service().migrate(ORG, V2, migration_id="c0")
    env.tracking.apply(ORG, play("p0", "ada", "cake-v2", 95, day(5)))
    env.clock.set(day(6))
    env.service().migrate(ORG, attrs.evolve(V2, version=3), migration_id="c1")
    env.clock.set(day(7))
    env.service().rollback(ORG, "a1", change_id="c0", rollback_id="c2")
    env.clock.set(day(8))
    learn_quiz = attrs.evolve(V1, version=5, steps=(V1.steps[0], V1.steps[2]))
    env.service().migrate(ORG, learn_quiz, migration_id="c3")
    env.clock.set(day(9))
    env.service().rollback(ORG, "a1", change_id="c1", rollback_id="c4")
    assert audit_findings(env) == ()
    env.clock.set(day(10))
    env.service().rollback(ORG, "a1", change_id="c0", rollback_id="c5")
    assert env.state("ada").steps["play"].attempt_count == 2
    assert audit_findings(env) == ()


# -- the audit after changes ---------------------------------------------------------


def test_records_carried_to_a_new_step_id_agree_with_the_log(env: Env) -> None:
    """After a migration renames a step, its carried record still agrees with
    the attempt log (kept under the old id): the audit finds nothing, before
    and after more play, a rollback that takes the played record back to the
    old id (Q67) and play on the restored step."""

    def audit() -> int:
        return audit_organization(
            env.store, env.catalog, ORG, as_of=env.clock.now(), repair=True
        ).found

    env.service().migrate(ORG, V2, migration_id="m1")
    assert audit() == 0
    env.tracking.apply(ORG, play("t5", "ada", "cake-v2", 70, day(5)))
    assert env.state("ada", V2).steps["cake-v2"].attempt_count == 2
    assert audit() == 0
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    assert env.state("ada").steps["play"].attempt_count == 2  # t2 and t5
    assert audit() == 0
    env.tracking.apply(ORG, play("t6", "ada", "play", 90, day(6)))
    assert env.state("ada").steps["play"].attempt_count == 3
    assert audit() == 0


def audit_findings(env: Env) -> tuple[Any, ...]:
    """What a dry-run audit finds now."""
    return audit_organization(
        env.store, env.catalog, ORG, as_of=env.clock.now(), repair=False
    ).findings


def test_undoing_a_rollback_leaves_records_the_audit_agrees_with(env: Env) -> None:
    """Q109, Q152: migrate with a rename, pass the renamed step, roll back,
    undo the rollback: the records are those before the rollback (the play
    under cake-v2 again, the old step's row back to its one attempt, kept
    outside the structure) and the audit attributes the log to them: it
    finds nothing."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply(ORG, play("t9", "ada", "cake-v2", 95, day(5)))
    before = env.state("ada", V2)
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    assert env.state("ada").steps["play"].attempt_count == 2
    assert audit_findings(env) == ()
    env.clock.set(day(7))
    report = env.service().rollback(ORG, "a1", change_id="r1", rollback_id="r2")
    assert report.changed == ("ada", "bo")
    assert env.catalog.assignment(ORG, "a1") == attrs.evolve(V2, version=4)
    after = env.state("ada", V2)
    assert after.steps == {**before.steps, "quiz": after.steps["quiz"]}
    assert (after.steps["quiz"].attempt_count, after.steps["quiz"].state) == (
        0,
        StepState.AVAILABLE,
    )
    assert after.assignment is not None
    assert before.assignment is not None
    assert after.assignment.completion_percentage == (
        before.assignment.completion_percentage
    )
    assert (after.steps["play"].attempt_count, after.steps["play"].best_score) == (
        1,
        55,
    )
    assert audit_findings(env) == ()
    # Play goes on under the structure brought back; the audit still agrees.
    env.tracking.apply(ORG, play("t10", "ada", "cake-v2", 60, day(7)))
    assert env.state("ada", V2).steps["cake-v2"].attempt_count == 3
    assert audit_findings(env) == ()


def test_undoing_a_rollback_after_play_on_the_restored_step_agrees_with_the_log(
    env: Env,
) -> None:
    """Q67, Q152: play on the step a rollback restored moves it on, so the
    undo carries that record to cake-v2 and keeps it on ``play`` (nothing
    lost); undoing the undo restores ``play`` again; the audit finds nothing
    after each step."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply(ORG, play("t9", "ada", "cake-v2", 95, day(5)))
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    env.tracking.apply(ORG, play("t10", "ada", "play", 40, day(6)))
    env.clock.set(day(7))
    env.service().rollback(ORG, "a1", change_id="r1", rollback_id="r2")
    ada = env.state("ada", V2)
    assert (ada.steps["cake-v2"].attempt_count, ada.steps["play"].attempt_count) == (
        3,
        3,
    )
    assert audit_findings(env) == ()
    env.clock.set(day(8))
    env.service().rollback(ORG, "a1", change_id="r2", rollback_id="r3")
    assert env.catalog.assignment(ORG, "a1").steps == V1.steps
    assert env.state("ada").steps["play"].attempt_count == 3
    assert audit_findings(env) == ()


def test_a_rollback_without_undo_leaves_records_the_audit_agrees_with(
    env: Env,
) -> None:
    """Q109, Q67: migrate with a rename, pass the renamed step, roll back:
    the play comes back to ``play`` and the audit finds nothing."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply(ORG, play("t9", "ada", "cake-v2", 95, day(5)))
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    cake = env.state("ada").steps["play"]
    assert (cake.attempt_count, cake.best_score, cake.state) == (
        2,
        95,
        StepState.COMPLETE,
    )
    assert audit_findings(env) == ()


def test_undoing_the_rollback_of_an_earlier_change_agrees_with_the_log(
    env: Env,
) -> None:
    """Q152's chain: m1 renames cake to cake-v2, m2 to cake-v3, Ada passes
    under cake-v3; rolling back m1 and then undoing that rollback leave
    records the audit agrees with, each time, with the play where Q152
    puts it."""
    renamed_twice_and_passed(env)
    env.clock.set(day(7))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="undo-m1")
    assert env.state("ada").steps["play"].attempt_count == 2
    assert audit_findings(env) == ()
    env.clock.set(day(8))
    env.service().rollback(ORG, "a1", change_id="undo-m1", rollback_id="redo")
    ada = env.state("ada", V3)
    assert env.catalog.assignment(ORG, "a1").steps == V3.steps
    assert (ada.steps["cake-v3"].attempt_count, ada.steps["play"].attempt_count) == (
        2,
        1,
    )
    assert ada.steps["cake-v2"].attempt_count == 1
    assert audit_findings(env) == ()


# -- laws -----------------------------------------------------------------------------


@settings(max_examples=20)
@given(
    scores=st.lists(
        st.tuples(st.sampled_from(["learn", "play", "quiz"]), st.integers(0, 100)),
        max_size=6,
    )
)
def test_migrate_then_roll_back_is_the_identity(
    scores: list[tuple[str, int]],
) -> None:
    """For any history, migrating and rolling back through the service leaves
    every record of the students as it was (rule 6)."""
    store, catalog, clock = InMemoryStore(), InMemoryCatalog(), FixedClock(day(3))
    catalog.add_assignment(ORG, V1)
    catalog.add_sequence(ORG, SEQUENCE)
    attempts = [
        play(f"t{i}", "ada", step_id, score, day(1) + timedelta(hours=i))
        for i, (step_id, score) in enumerate(scores)
    ]
    ProgressService(store.unit_of_work, catalog, clock).apply_many(ORG, attempts)
    env = Env(kind="memory", store=store, catalog=catalog, clock=clock)
    before = env.state("ada")
    service = env.service()
    service.migrate(ORG, V2, migration_id="m1")
    service.rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    after = env.state("ada")
    assert {k: after.steps[k] for k in before.steps} == before.steps
    report = audit_organization(store, catalog, ORG, as_of=day(5), repair=False)
    assert report.found == 0
    assert after.assignment == before.assignment
    assert after.sequence == before.sequence


@settings(max_examples=30)
@given(data=st.data())
def test_the_audit_agrees_after_any_changes_rollbacks_and_undos(
    data: st.DataObject,
) -> None:
    """Q109, Q152, Q67: after a rename and play on the renamed step, then any
    sequence of migrations (steps renamed, removed, added, ids used again),
    rollbacks of any earlier change (undos of rollbacks among them) and
    play, by students of the start and students who first play after a
    change, no student fails and the audit finds every stored record in
    agreement with the log."""
    store, catalog, clock = InMemoryStore(), InMemoryCatalog(), FixedClock(day(3))
    catalog.add_assignment(ORG, V1)
    catalog.add_sequence(ORG, SEQUENCE)
    env = Env(kind="memory", store=store, catalog=catalog, clock=clock)
    env.tracking.apply_many(ORG, HISTORY)
    clock.set(day(5))
    service = env.service()
    service.migrate(ORG, V2, migration_id="c0")
    env.tracking.apply(ORG, play("p0", "ada", "cake-v2", 95, day(5)))
    changes = ["c0"]
    refused: set[str] = set()
    for n in range(1, data.draw(st.integers(min_value=1, max_value=6)) + 1):
        clock.set(day(5 + n))
        current = catalog.assignment(ORG, "a1")
        kind = data.draw(st.sampled_from(("migrate", "rollback", "rollback", "play")))
        if kind == "migrate":
            try:
                new = data.draw(new_versions(current))
                report = service.migrate(ORG, new, migration_id=f"c{n}")
            except InvalidInputError:
                continue  # an id drawn twice, or one naming other content (Q61)
            assert set(report.failed) <= refused
            changes.append(f"c{n}")
        elif kind == "rollback":
            target = data.draw(st.sampled_from(changes))
            report = service.rollback(ORG, "a1", change_id=target, rollback_id=f"c{n}")
            # Only a student who began since, when an id of theirs names
            # other content in the restored structure (Q61), is refused.
            assert all(
                student in refused or (student in ("cy", "dee") and e.field == "steps")
                for student, e in report.errors.items()
            ), report.errors
            refused.update(report.errors)
            changes.append(f"c{n}")
        elif current.steps:
            student = data.draw(st.sampled_from(("ada", "bo", "cy", "dee")))
            step_id = data.draw(st.sampled_from([d.step_id for d in current.steps]))
            score = data.draw(st.integers(min_value=0, max_value=100))
            env.tracking.apply(ORG, play(f"p{n}", student, step_id, score, day(5 + n)))
        audit = audit_organization(store, catalog, ORG, as_of=day(5 + n), repair=False)
        assert [f for f in audit.findings if f.student_id not in refused] == []


# Review 3 -------------------------------------------------------------------


def test_a_change_report_with_a_failed_student_is_written_as_json_and_read_back(
    env: Env,
) -> None:
    """Q60: ``to_json`` writes each failed student's error as its type,
    field, value, rule and message, and ``from_json`` reads it back typed."""
    misfile(env, "ada", "learn", "pie")
    report = env.service().migrate(ORG, V2, migration_id="m1")
    assert report.failed == ("ada",)
    data = json.loads(to_json(report))
    assert data["failed"] == ["ada"]
    assert data["errors"]["ada"]["type"] == "CorruptRecordError"
    assert data["errors"]["ada"]["message"] == str(report.errors["ada"])
    back = from_json(to_json(report), ChangeReport)
    assert back == report
    assert isinstance(back.errors["ada"], CorruptRecordError)
    assert back.errors["ada"].field == report.errors["ada"].field


def test_a_change_reports_errors_are_read_only_and_name_the_failed_students() -> None:
    """Q60: ``errors`` cannot be changed after construction, and holds an
    error for exactly the ``failed`` students, or the report is refused."""
    error = InvalidInputError("steps", "x", "a rule")
    fields: dict[str, Any] = {
        "change_id": "m1",
        "action": ChangeAction.MIGRATE,
        "assignment_id": "a1",
        "from_version": 1,
        "to_version": 2,
        "applied": True,
    }
    given_errors = {"ada": error}
    report = ChangeReport(**fields, failed=("ada",), errors=given_errors)
    given_errors["bo"] = error
    assert list(report.errors) == ["ada"]
    with pytest.raises(TypeError):
        report.errors["bo"] = error  # type: ignore[index]
    with pytest.raises(InvalidInputError) as missing:
        ChangeReport(**fields, failed=("ada", "bo"), errors={"ada": error})
    assert missing.value.field == "errors"
    with pytest.raises(InvalidInputError) as extra:
        ChangeReport(**fields, errors={"ada": error})
    assert extra.value.field == "errors"
    with pytest.raises(InvalidInputError):
        ChangeReport(**fields, failed=("ada",), errors={"ada": "no error"})  # type: ignore[dict-item]


class _Counting:
    """A unit of work that counts command-log reads by id."""

    def __init__(self, inner: Any, seen: list[str]) -> None:
        self._inner, self._seen = inner, seen

    def __enter__(self) -> _Counting:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._inner.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if name != "commands":
            return found
        seen = self._seen

        class Commands:
            def __getattr__(self, attr: str) -> Any:
                return getattr(found, attr)

            def get(self, organization_id: str, command_id: str) -> Any:
                seen.append(command_id)
                return found.get(organization_id, command_id)

        return Commands()


def test_a_rollback_reads_the_rolled_back_change_once_not_per_student(
    env: Env,
) -> None:
    """Q67 (no timing): with 40 students who began after m1, rolling m1
    back reads m1's log entry, which lists every student, a fixed number of
    times, not once per student."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply_many(
        ORG, [play(f"c{n}", f"late-{n}", "cake-v2", 90, day(5)) for n in range(40)]
    )
    seen: list[str] = []
    service = env.service(lambda: _Counting(env.store.unit_of_work(), seen))
    env.clock.set(day(6))
    report = service.rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    assert len(report.changed) == 42
    assert seen.count("m1") <= 2


class _CountingStore:
    """A store whose units of work count command-log reads by id."""

    def __init__(self, inner: Any, seen: list[str]) -> None:
        self._inner, self._seen = inner, seen

    def unit_of_work(self) -> _Counting:
        return _Counting(self._inner.unit_of_work(), self._seen)


def test_an_audit_reads_each_logged_change_once_not_per_student(env: Env) -> None:
    """Q109 (no timing): 40 students played the cake step before m1 renamed
    it, so the audit attributes each one's log through m1, whose entry
    lists every student; it reads that entry a fixed number of times, not
    once per student, and still finds every record in agreement."""
    env.tracking.apply_many(
        ORG, [play(f"c{n}", f"early-{n}", "play", 90, day(4)) for n in range(40)]
    )
    env.service().migrate(ORG, V2, migration_id="m1")
    seen: list[str] = []
    report = audit_organization(
        _CountingStore(env.store, seen),
        env.catalog,
        ORG,
        as_of=day(6),
        repair=False,
    )
    assert report.findings == ()
    assert report.students_checked == 42
    assert seen.count("m1") <= 2


def test_a_later_change_refuses_a_student_who_failed_a_rollback(env: Env) -> None:
    """Q60: Ada failed r1 (the rollback of m1), so her records are still on
    the structure m1 published; m2 refuses her with an error naming the
    structure she is on, stores nothing of hers, and changes the others."""
    env.service().migrate(ORG, V2, migration_id="m1")
    restore = misfile(env, "ada", "learn", "pie")
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    restore()
    before = env.everything()
    env.clock.set(day(7))
    current = env.catalog.assignment(ORG, "a1")
    m2 = attrs.evolve(current, version=current.version + 1)
    report = env.service().migrate(ORG, m2, migration_id="m2")
    assert report.failed == ("ada",)
    assert report.changed == ("bo",)
    assert report.errors["ada"].field == "structure"
    assert report.errors["ada"].value == V2.version
    assert "'m1'" in report.errors["ada"].rule
    assert env.everything()["ada"] == before["ada"]


def test_a_student_who_failed_a_rollback_gets_it_after_a_later_change(
    env: Env,
) -> None:
    """D3, Q60, Q67: Ada passes cake-v2 after m1; a corrupt row fails her
    in r1 and is put right; m2 follows and refuses her. Calling r1 and m2
    again brings her level: her passed cake step counts in the current
    structure, and the audit finds nothing."""
    env.service().migrate(ORG, V2, migration_id="m1")
    env.tracking.apply(ORG, play("t9", "ada", "cake-v2", 95, day(5)))
    restore = misfile(env, "ada", "learn", "pie")
    env.clock.set(day(6))
    assert env.service().rollback(
        ORG, "a1", change_id="m1", rollback_id="r1"
    ).failed == ("ada",)
    restore()
    env.clock.set(day(7))
    current = env.catalog.assignment(ORG, "a1")
    m2 = attrs.evolve(current, version=current.version + 1)
    assert env.service().migrate(ORG, m2, migration_id="m2").failed == ("ada",)
    again = env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    assert (again.failed, again.changed) == ((), ("ada",))
    finished = env.service().migrate(ORG, m2, migration_id="m2")
    assert (finished.failed, finished.changed) == ((), ("ada",))
    ada = env.state("ada", env.catalog.assignment(ORG, "a1"))
    assert ada.steps["play"].is_complete
    assert audit_findings(env) == ()


def test_retrying_a_change_after_its_rollback_leaves_its_failed_student_unchanged(
    env: Env,
) -> None:
    """Q60, Q67: Ada fails m1 (a corrupt row, put right), m1 is rolled back,
    then m1 is called again: Ada is already on the catalog's structure, so
    she is not moved to the structure the rollback retired (``unchanged``),
    and the audit finds nothing."""
    restore = misfile(env, "ada", "learn", "pie")
    assert env.service().migrate(ORG, V2, migration_id="m1").failed == ("ada",)
    restore()
    env.clock.set(day(6))
    env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    before = env.everything()
    env.clock.set(day(7))
    report = env.service().migrate(ORG, V2, migration_id="m1")
    assert (report.failed, report.changed, report.applied) == ((), (), False)
    assert env.catalog.assignment(ORG, "a1").steps == V1.steps
    assert env.everything()["ada"] == before["ada"]
    assert audit_findings(env) == ()


def test_a_late_student_a_rollback_refused_is_refused_by_later_changes(
    env: Env,
) -> None:
    """Q60, Q61, Q67: Cy played ``extra`` while it was the donut game; the
    rollback r2 restores ``extra`` as the pie game and refuses Cy. The next
    migration refuses Cy too (naming ``structure`` and r2) and stores
    nothing of Cy's, so Cy's donut pass is not carried forward as pie."""
    extra_reused_by_a_late_starter(env)
    env.clock.set(day(6))
    refused = env.service().rollback(ORG, "a1", change_id="r1", rollback_id="r2")
    assert refused.failed == ("cy",)
    env.clock.set(day(7))
    current = env.catalog.assignment(ORG, "a1")
    m3 = attrs.evolve(current, version=current.version + 1)
    before = env.everything()["cy"]
    report = env.service().migrate(ORG, m3, migration_id="m3")
    assert (report.changed, report.failed) == (("ada", "bo"), ("cy",))
    assert report.errors["cy"].field == "structure"
    assert "'r2'" in report.errors["cy"].rule
    assert env.everything()["cy"] == before


def test_a_later_change_refuses_a_student_who_failed_the_first_change(
    env: Env,
) -> None:
    """D3, Q60: a corrupt row fails Ada in m1, her first change (she has no
    snapshot), and is put right; m2 refuses her, naming ``structure`` and
    m1, until m1 is called again for her; then m2 finishes for her, and the
    audit finds nothing."""
    restore = misfile(env, "ada", "learn", "pie")
    assert env.service().migrate(ORG, V2, migration_id="m1").failed == ("ada",)
    restore()
    env.clock.set(day(7))
    m2 = attrs.evolve(V2, version=3, steps=V2.steps[:2])
    report = env.service().migrate(ORG, m2, migration_id="m2")
    assert (report.changed, report.failed) == (("bo",), ("ada",))
    assert report.errors["ada"].field == "structure"
    assert report.errors["ada"].value == V1.version
    assert "'m1'" in report.errors["ada"].rule
    again = env.service().migrate(ORG, V2, migration_id="m1")
    assert (again.failed, again.changed) == ((), ("ada",))
    finished = env.service().migrate(ORG, m2, migration_id="m2")
    assert (finished.failed, finished.changed) == ((), ("ada",))
    assert audit_findings(env) == ()


def test_a_rollback_called_again_lifts_its_refusal_of_a_student_it_leaves_unchanged(
    env: Env,
) -> None:
    """Q60, Q67: m1 dies before Ada, so it covers her but leaves her as she
    was; a corrupt row fails her in r1 (the rollback of m1), which records
    her refusal; once the row is put right r1 called again leaves her
    unchanged and lifts it, so m2 then applies to her and the audit finds
    nothing."""
    opened = 0

    def dying_at_ada() -> ReconciliationUnitOfWork:
        nonlocal opened
        opened += 1
        if opened == 2:  # the change, then Ada: her transaction fails
            raise StorageError("the process died")
        return env.store.unit_of_work()

    with pytest.raises(StorageError, match="died"):
        env.service(dying_at_ada).migrate(ORG, V2, migration_id="m1")
    restore = misfile(env, "ada", "learn", "pie")
    env.clock.set(day(6))
    refused = env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    assert refused.failed == ("ada",)
    restore()
    again = env.service().rollback(ORG, "a1", change_id="m1", rollback_id="r1")
    assert (again.failed, again.changed) == ((), ())
    with env.store.unit_of_work() as uow:
        lifted = uow.snapshots.for_student(ORG, "ada")[-1].state_snapshot
    assert (lifted["kind"], lifted["change_id"], lifted["refused"]) == (
        STRUCTURE_ON,
        "r1",
        None,
    )
    env.clock.set(day(7))
    current = env.catalog.assignment(ORG, "a1")
    m2 = attrs.evolve(current, version=current.version + 1, steps=current.steps[:2])
    report = env.service().migrate(ORG, m2, migration_id="m2")
    assert (report.failed, report.changed) == ((), ("ada", "bo"))
    assert audit_findings(env) == ()
