"""Contract suites for storage adapters: run them against your own.

Subclass a contract as a ``Test...`` class in your test suite and say how to
make your adapter; pytest then runs every guarantee of the ports against it::

    from mlc_progress.testing.contract import RepositoryContract

    class TestMyStore(RepositoryContract):
        def make_store(self, tmp_path):
            return MyStore(dsn=...)

:class:`RepositoryContract` checks a :class:`~mlc_progress._ports.Store`
(its unit of work and every repository); :class:`BatchStoreContract` checks
the ports batch jobs add (:class:`~mlc_progress._ports.BatchStore`: roster,
at-risk states, job progress, a student's recent attempts);
:class:`AccessLogContract` checks the access log of an
:class:`~mlc_progress._ports.AuthorizedStore`; :class:`CatalogContract`
checks a :class:`~mlc_progress._ports.StructureCatalog`. The in-memory and SQLite
adapters of :mod:`mlc_progress.adapters` pass them all. The base classes are not
named ``Test...``, so pytest collects only your subclasses. Needs the
``testing`` extra (pytest).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .._commands import (
    AuditEntry,
    Command,
    OverrideComplete,
    StartStep,
    command_id_of,
)
from .._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    PacingStatus,
    ScopeType,
    SnapshotTrigger,
    Stage,
    StepState,
)
from .._errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from .._events import (
    Destination,
    Event,
    ProgressSnapshotCreated,
    StepProgressUpdated,
    StudentAtRiskDetected,
)
from .._inconsistency import CorrectionRecord, Violation
from .._permissions import AccessLogEntry
from .._ports import (
    AuthorizedStore,
    BatchJobProgress,
    BatchStore,
    BatchUnitOfWork,
    CommandRecord,
    Enrollment,
    RawRecord,
    ReconciliationStore,
    Store,
    StructureCatalog,
    UnitOfWork,
)
from .._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from .._risk import DismissalStats, RiskRule, RiskState, RuleCounts, dismiss_risk
from .._structure import (
    AssignmentStructure,
    Attempt,
    SequenceStructure,
    StepDefinition,
)

__all__ = [
    "AccessLogContract",
    "BatchStoreContract",
    "CatalogContract",
    "ReconciliationStoreContract",
    "RepositoryContract",
]

ORG = "org-a"
OTHER_ORG = "org-b"
T0 = datetime(2026, 9, 1, tzinfo=UTC)


# -- sample records -------------------------------------------------------------------


def _step(step_id: str = "s1", student_id: str = "u1", **changes: Any) -> StepProgress:
    fields: dict[str, Any] = {
        "step_id": step_id,
        "assignment_id": "a1",
        "student_id": student_id,
        "target_score": 80.0,
    }
    fields.update(changes)
    return StepProgress(**fields)


def _assignment(student_id: str = "u1", **changes: Any) -> AssignmentProgress:
    fields: dict[str, Any] = {
        "assignment_id": "a1",
        "student_id": student_id,
        "steps_total": 2,
        "steps_required": 2,
    }
    fields.update(changes)
    return AssignmentProgress(**fields)


def _sequence(student_id: str = "u1", **changes: Any) -> SequenceProgress:
    fields: dict[str, Any] = {
        "sequence_id": "q1",
        "student_id": student_id,
        "assignments_total": 2,
        "started_at": T0,
    }
    fields.update(changes)
    return SequenceProgress(**fields)


def _summary(
    student_id: str = "u1", organization_id: str = ORG, **changes: Any
) -> StudentProgressSummary:
    return StudentProgressSummary(
        student_id=student_id, organization_id=organization_id, **changes
    )


def _attempt(attempt_id: str, student_id: str = "u1", score: float = 50.0) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id=student_id,
        assignment_id="a1",
        step_id="s1",
        score=score,
        attempted_at=T0 + timedelta(hours=1),
        duration_ms=1000,
        session_id="x1",
    )


def _event(event_id: str, student_id: str = "u1") -> Event:
    return StepProgressUpdated(
        event_id=event_id,
        occurred_at=T0,
        step_id="s1",
        assignment_id="a1",
        student_id=student_id,
        previous_state=StepState.AVAILABLE,
        new_state=StepState.IN_PROGRESS,
        score_achieved=50.0,
        target_score=80.0,
        passed=False,
        attempt_count=1,
        time_on_task_ms=1000,
        mastery_level=MasteryLevel.LEARNING,
        completion_source=CompletionSource.FRESH_ATTEMPT,
    )


def _snapshot(snapshot_id: str, student_id: str = "u1") -> ProgressSnapshot:
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=T0,
        student_id=student_id,
        scope_type=ScopeType.ASSIGNMENT,
        scope_id="a1",
        state_snapshot={"assignment": {"completion_percentage": 50.0}},
        metrics_snapshot={
            "completion_percentage": 50.0,
            "mastery_score": 40.0,
            "time_on_task_ms": 1000,
        },
        trigger=SnapshotTrigger.MILESTONE,
        notes="milestone_50",
    )


def _audit(audit_id: str, student_id: str = "u1") -> AuditEntry:
    return AuditEntry(
        audit_id=audit_id,
        occurred_at=T0,
        actor_id="teacher-1",
        action="override_complete",
        reason="finished_on_paper",
        command_id=f"cmd-{audit_id}",
        student_id=student_id,
        assignment_id="a1",
        step_id="s1",
        before={"step": {"state": "available"}},
        after={"step": {"state": "complete"}},
    )


def _structure(version: int = 1, steps: int = 2) -> AssignmentStructure:
    return AssignmentStructure(
        assignment_id="a1",
        created_at=T0,
        due_at=T0 + timedelta(days=14),
        version=version,
        steps=tuple(
            StepDefinition(
                step_id=f"s{i}",
                element_id=f"game-{i}",
                stage=Stage.PLAY,
                target_score=80.0,
            )
            for i in range(1, steps + 1)
        ),
    )


# The versioned records, each as (read, put, a record, the record changed).
_Reader = Callable[[UnitOfWork, str], Any]
_Writer = Callable[[UnitOfWork, str, Any, int], int]
_VERSIONED: dict[str, tuple[_Reader, _Writer, Any, Any]] = {
    "step": (
        lambda uow, org: uow.progress.steps(org, "u1", "a1").get("s1"),
        lambda uow, org, r, v: uow.progress.put_step(org, r, expected_version=v),
        _step(),
        _step(state=StepState.AVAILABLE, available_at=T0),
    ),
    "assignment": (
        lambda uow, org: uow.progress.assignment(org, "u1", "a1"),
        lambda uow, org, r, v: uow.progress.put_assignment(org, r, expected_version=v),
        _assignment(),
        _assignment(
            status=AssignmentStatus.IN_PROGRESS,
            started_at=T0,
            steps_in_progress=1,
            pacing_status=PacingStatus.AHEAD,
        ),
    ),
    "sequence": (
        lambda uow, org: uow.progress.sequence(org, "u1", "q1"),
        lambda uow, org, r, v: uow.progress.put_sequence(org, r, expected_version=v),
        _sequence(),
        _sequence(assignments_completed=1, completion_percentage=50.0),
    ),
    "summary": (
        lambda uow, org: uow.summaries.get(org, "u1"),
        lambda uow, org, r, v: uow.summaries.put(
            org, _summary(organization_id=org, active_assignments=r), expected_version=v
        ),
        1,
        2,
    ),
}


def _record_of(kind: str, found: Any) -> Any:
    """The comparable part of a versioned read: the record (or, for the
    summary, the field the writer varies)."""
    if found is None:
        return None
    return found.record.active_assignments if kind == "summary" else found.record


class RepositoryContract(abc.ABC):
    """The guarantees of every storage port, as tests.

    Implement :meth:`make_store`; implement :meth:`reopen` when the store
    persists (a new store over the same data), so the suite checks that
    everything survives. ``tmp_path`` is pytest's temporary directory.
    """

    @abc.abstractmethod
    def make_store(self, tmp_path: Path) -> Store:
        """A new, empty store."""

    def reopen(self, store: Store) -> Store:
        """A store over the same data as ``store`` (default: ``store``)."""
        return store

    def close(self, store: Store) -> None:
        """Release ``store`` at the end of a test (default: its ``close()``)."""
        closer = getattr(store, "close", None)
        if callable(closer):
            closer()

    # -- fixtures -------------------------------------------------------------------

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        # pytest makes one instance per test, so this list is the test's own.
        self._opened: list[Store] = [self.make_store(tmp_path)]
        try:
            yield self._opened[0]
        finally:
            for each in reversed(self._opened):
                self.close(each)

    def _reopened(self, store: Store) -> Store:
        new = self.reopen(store)
        if new is not store:
            self._opened.append(new)
        return new

    # -- versioned records ----------------------------------------------------------

    @pytest.mark.parametrize("kind", sorted(_VERSIONED))
    def test_a_written_record_reads_back_at_version_one(
        self, store: Store, kind: str
    ) -> None:
        """A record written at expected version 0 reads back equal, version 1."""
        read, put, record, _ = _VERSIONED[kind]
        with store.unit_of_work() as uow:
            assert read(uow, ORG) is None
            assert put(uow, ORG, record, 0) == 1
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert found is not None
        assert found.version == 1
        assert _record_of(kind, found) == record

    @pytest.mark.parametrize("kind", sorted(_VERSIONED))
    def test_each_write_adds_one_to_the_version(self, store: Store, kind: str) -> None:
        """Writing at the current version stores the record at version + 1."""
        read, put, record, changed = _VERSIONED[kind]
        with store.unit_of_work() as uow:
            put(uow, ORG, record, 0)
            uow.commit()
        with store.unit_of_work() as uow:
            assert put(uow, ORG, changed, 1) == 2
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert found.version == 2
        assert _record_of(kind, found) == changed

    @pytest.mark.parametrize("kind", sorted(_VERSIONED))
    @pytest.mark.parametrize("stale", [0, 2, 7])
    def test_a_stale_version_raises_conflict_and_writes_nothing(
        self, store: Store, kind: str, stale: int
    ) -> None:
        """A write naming a version other than the stored one is refused with
        ConflictError, and the stored record stays as it was."""
        read, put, record, changed = _VERSIONED[kind]
        with store.unit_of_work() as uow:
            put(uow, ORG, record, 0)
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                put(uow, ORG, changed, stale)
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert (found.version, _record_of(kind, found)) == (1, record)

    def test_a_missing_record_cannot_be_written_at_a_later_version(
        self, store: Store
    ) -> None:
        """Writing a record that does not exist at expected version 1 conflicts."""
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.progress.put_step(ORG, _step(), expected_version=1)
            assert uow.progress.steps(ORG, "u1", "a1") == {}

    def test_steps_are_read_by_student_and_assignment(self, store: Store) -> None:
        """``steps`` returns the student's step records of one assignment only."""
        other_assignment = StepProgress(
            step_id="s1", assignment_id="a2", student_id="u1", target_score=80.0
        )
        with store.unit_of_work() as uow:
            uow.progress.put_step(ORG, _step("s1"), expected_version=0)
            uow.progress.put_step(ORG, _step("s2"), expected_version=0)
            uow.progress.put_step(ORG, _step("s1", "u2"), expected_version=0)
            uow.progress.put_step(ORG, other_assignment, expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            found = uow.progress.steps(ORG, "u1", "a1")
        assert {k: (r.record, r.version) for k, r in found.items()} == {
            "s1": (_step("s1"), 1),
            "s2": (_step("s2"), 1),
        }

    def test_assignments_for_student_lists_that_students_records(
        self, store: Store
    ) -> None:
        """``assignments_for_student`` lists the student's records by assignment id."""
        second = AssignmentProgress(assignment_id="a0", student_id="u1")
        with store.unit_of_work() as uow:
            uow.progress.put_assignment(ORG, _assignment(), expected_version=0)
            uow.progress.put_assignment(ORG, second, expected_version=0)
            uow.progress.put_assignment(ORG, _assignment("u2"), expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            found = uow.progress.assignments_for_student(ORG, "u1")
        assert [r.record for r in found] == [second, _assignment()]

    def test_a_summary_of_another_organization_is_refused(self, store: Store) -> None:
        """A summary is stored only under its own organization (D19)."""
        with store.unit_of_work() as uow:
            with pytest.raises(InvalidInputError):
                uow.summaries.put(
                    ORG, _summary(organization_id=OTHER_ORG), expected_version=0
                )
            assert uow.summaries.get(ORG, "u1") is None
            assert uow.summaries.get(OTHER_ORG, "u1") is None

    # -- transactions ---------------------------------------------------------------

    def test_leaving_without_commit_stores_nothing(self, store: Store) -> None:
        """A unit of work left without commit() stores none of its writes."""
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, ORG)
        self._assert_empty(store, ORG)

    def test_an_exception_in_the_block_stores_nothing(self, store: Store) -> None:
        """An exception inside the block discards every write of the block."""

        class Boom(Exception):
            pass

        def fail_midway() -> None:
            with store.unit_of_work() as uow:
                self._write_one_of_everything(uow, ORG)
                raise Boom

        with pytest.raises(Boom):
            fail_midway()
        self._assert_empty(store, ORG)

    def test_a_refused_write_leaves_the_others_to_roll_back(self, store: Store) -> None:
        """After a conflict mid-transaction, leaving the block stores nothing."""
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, ORG)
            with pytest.raises(ConflictError):
                uow.progress.put_step(ORG, _step(), expected_version=0)
        self._assert_empty(store, ORG)

    def test_a_transaction_reads_its_own_writes(self, store: Store) -> None:
        """Reads inside a unit of work see what it wrote before committing."""
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, ORG)
            self._assert_one_of_everything(uow, ORG)

    def test_commit_stores_everything_at_once(self, store: Store) -> None:
        """After commit every write of the block is stored."""
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, ORG)
            uow.commit()
        with store.unit_of_work() as uow:
            self._assert_one_of_everything(uow, ORG)

    def test_a_unit_of_work_can_be_used_again(self, store: Store) -> None:
        """The same unit of work object runs one transaction per ``with`` block."""
        uow = store.unit_of_work()
        with uow:
            uow.progress.put_step(ORG, _step(), expected_version=0)
            uow.commit()
        with uow:
            assert uow.progress.steps(ORG, "u1", "a1")["s1"].version == 1

    def test_repositories_refuse_work_outside_a_transaction(self, store: Store) -> None:
        """Using a repository outside ``with`` raises StorageError."""
        uow = store.unit_of_work()
        with pytest.raises(StorageError):
            uow.progress.steps(ORG, "u1", "a1")
        with uow:
            uow.commit()
            with pytest.raises(StorageError):
                uow.commands.contains(ORG, "c1")

    # -- one transaction's view: repeated reads and writes ----------------------------

    @pytest.mark.parametrize("kind", sorted(_VERSIONED))
    def test_repeated_writes_in_one_transaction_store_the_last_at_its_version(
        self, store: Store, kind: str
    ) -> None:
        """Writes of one record in one transaction, each naming the version the
        one before returned: reads in the block see the last; commit stores
        it at that version."""
        read, put, record, changed = _VERSIONED[kind]
        with store.unit_of_work() as uow:
            put(uow, ORG, record, 0)
            uow.commit()
        with store.unit_of_work() as uow:
            assert read(uow, ORG).version == 1
            assert put(uow, ORG, changed, 1) == 2
            assert put(uow, ORG, record, 2) == 3
            assert put(uow, ORG, changed, 3) == 4
            found = read(uow, ORG)
            assert (found.version, _record_of(kind, found)) == (4, changed)
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert (found.version, _record_of(kind, found)) == (4, changed)

    @pytest.mark.parametrize("kind", sorted(_VERSIONED))
    def test_a_version_passed_within_the_transaction_is_stale(
        self, store: Store, kind: str
    ) -> None:
        """After a write in the block, the version it replaced is stale: a
        write naming it raises ConflictError, and the block's own write stays."""
        read, put, record, changed = _VERSIONED[kind]
        with store.unit_of_work() as uow:
            assert put(uow, ORG, record, 0) == 1
            with pytest.raises(ConflictError):
                put(uow, ORG, changed, 0)
            assert put(uow, ORG, changed, 1) == 2
            with pytest.raises(ConflictError):
                put(uow, ORG, record, 1)
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert (found.version, _record_of(kind, found)) == (2, changed)

    @pytest.mark.parametrize("kind", sorted(_VERSIONED))
    def test_a_transaction_left_without_commit_leaves_nothing_to_the_next(
        self, store: Store, kind: str
    ) -> None:
        """The same unit of work, used again after a block left without
        commit(): it reads the stored record, and the version it read before
        is the one to name again; nothing of the first block is stored."""
        read, put, record, changed = _VERSIONED[kind]
        with store.unit_of_work() as uow:
            put(uow, ORG, record, 0)
            uow.commit()
        uow = store.unit_of_work()
        with uow:
            assert read(uow, ORG).version == 1
            assert put(uow, ORG, changed, 1) == 2
        with uow:
            found = read(uow, ORG)
            assert (found.version, _record_of(kind, found)) == (1, record)
            with pytest.raises(ConflictError):
                put(uow, ORG, changed, 2)
            assert put(uow, ORG, changed, 1) == 2
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert (found.version, _record_of(kind, found)) == (2, changed)

    def test_listings_in_the_block_include_its_own_latest_writes(
        self, store: Store
    ) -> None:
        """A student's assignments and step group, listed after writes in the
        same block, show each record at its last write."""
        second = AssignmentProgress(assignment_id="a0", student_id="u1")
        with store.unit_of_work() as uow:
            uow.progress.put_assignment(ORG, _assignment(), expected_version=0)
            uow.progress.put_step(ORG, _step("s1"), expected_version=0)
            uow.commit()
        changed = _assignment(
            status=AssignmentStatus.IN_PROGRESS, started_at=T0, steps_in_progress=1
        )
        started = _step("s1", state=StepState.AVAILABLE, available_at=T0)
        with store.unit_of_work() as uow:
            read = uow.progress.assignment(ORG, "u1", "a1")
            assert read is not None
            assert read.version == 1
            assert set(uow.progress.steps(ORG, "u1", "a1")) == {"s1"}
            uow.progress.put_assignment(ORG, changed, expected_version=1)
            uow.progress.put_assignment(ORG, second, expected_version=0)
            uow.progress.put_step(ORG, started, expected_version=1)
            uow.progress.put_step(ORG, _step("s2"), expected_version=0)
            listed = uow.progress.assignments_for_student(ORG, "u1")
            assert [(r.record, r.version) for r in listed] == [
                (second, 1),
                (changed, 2),
            ]
            steps = uow.progress.steps(ORG, "u1", "a1")
            assert {k: (r.record, r.version) for k, r in steps.items()} == {
                "s1": (started, 2),
                "s2": (_step("s2"), 1),
            }

    def test_contains_many_names_the_ids_in_the_log(self, store: Store) -> None:
        """``contains_many`` gives the ids among those asked that the log holds,
        the block's own appends included, in the organization asked only."""
        with store.unit_of_work() as uow:
            for command_id in ("c1", "c3"):
                uow.commands.append(
                    ORG,
                    CommandRecord(
                        command_id=command_id,
                        command=_attempt(command_id),
                        recorded_at=T0,
                    ),
                )
            uow.commit()
        with store.unit_of_work() as uow:
            uow.commands.append(
                ORG,
                CommandRecord(command_id="c2", command=_attempt("c2"), recorded_at=T0),
            )
            asked = ["c1", "c2", "c4", "c1", "c9"]
            assert uow.commands.contains_many(ORG, asked) == {"c1", "c2"}
            assert uow.commands.contains_many(ORG, iter(["c3"])) == {"c3"}
            assert uow.commands.contains_many(ORG, []) == frozenset()
            assert uow.commands.contains_many(OTHER_ORG, asked) == frozenset()

    def test_contains_many_answers_for_a_thousand_ids(self, store: Store) -> None:
        """``contains_many`` of 1,200 ids, all but every seventh logged, names
        exactly the logged ones."""
        ids = [f"c{i:04d}" for i in range(1200)]
        logged = [c for i, c in enumerate(ids) if i % 7]
        with store.unit_of_work() as uow:
            for command_id in logged:
                uow.commands.append(
                    ORG,
                    CommandRecord(
                        command_id=command_id,
                        command=_attempt(command_id),
                        recorded_at=T0,
                    ),
                )
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.commands.contains_many(ORG, ids) == frozenset(logged)

    # -- append-only logs -----------------------------------------------------------

    def test_the_command_log_refuses_a_duplicate_and_keeps_the_first(
        self, store: Store
    ) -> None:
        """Appending a command id twice raises ConflictError; the first stays (D3)."""
        first = CommandRecord(command_id="c1", command=_attempt("c1"), recorded_at=T0)
        second = CommandRecord(
            command_id="c1", command=_attempt("c1", score=99.0), recorded_at=T0
        )
        with store.unit_of_work() as uow:
            assert not uow.commands.contains(ORG, "c1")
            uow.commands.append(ORG, first)
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.commands.append(ORG, second)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.commands.contains(ORG, "c1")
            assert uow.commands.get(ORG, "c1") == first
            assert uow.commands.get(ORG, "c2") is None

    def test_the_command_log_refuses_a_duplicate_in_one_transaction(
        self, store: Store
    ) -> None:
        """Two appends of one id in the same transaction: the second conflicts."""
        entry = CommandRecord(command_id="c1", command=_attempt("c1"), recorded_at=T0)
        with store.unit_of_work() as uow:
            uow.commands.append(ORG, entry)
            with pytest.raises(ConflictError):
                uow.commands.append(ORG, entry)
            assert uow.commands.contains(ORG, "c1")

    def test_the_command_log_keeps_every_kind_of_command(self, store: Store) -> None:
        """Each command kind reads back from the log equal to what was appended."""
        commands: list[Command] = [
            _attempt("t1"),
            StartStep(
                command_id="c2",
                student_id="u1",
                assignment_id="a1",
                step_id="s1",
                started_at=T0,
                session_id="x1",
            ),
            OverrideComplete(
                command_id="c3",
                actor_id="teacher-1",
                reason="finished_on_paper",
                student_id="u1",
                assignment_id="a1",
                step_id="s1",
                issued_at=T0,
            ),
        ]
        entries = [
            CommandRecord(
                command_id=command_id_of(c),
                command=c,
                recorded_at=T0 + timedelta(seconds=i),
            )
            for i, c in enumerate(commands)
        ]
        with store.unit_of_work() as uow:
            for entry in entries:
                uow.commands.append(ORG, entry)
            uow.commit()
        with store.unit_of_work() as uow:
            assert [uow.commands.get(ORG, e.command_id) for e in entries] == entries

    def test_the_attempt_log_keeps_order_and_refuses_duplicates(
        self, store: Store
    ) -> None:
        """Attempts read back in the order appended; an attempt id is logged once."""
        with store.unit_of_work() as uow:
            uow.attempts.append(ORG, _attempt("t2"))
            uow.attempts.append(ORG, _attempt("t1"))
            uow.attempts.append(ORG, _attempt("t9", student_id="u2"))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.attempts.append(ORG, _attempt("t3"))
            with pytest.raises(ConflictError):
                uow.attempts.append(ORG, _attempt("t1", score=99.0))
            uow.commit()
        with store.unit_of_work() as uow:
            found = uow.attempts.for_assignment(ORG, "u1", "a1")
        assert found == (_attempt("t2"), _attempt("t1"), _attempt("t3"))

    def test_snapshots_keep_order_and_refuse_duplicates(self, store: Store) -> None:
        """Snapshots read back per student in order; a snapshot id is stored once."""
        with store.unit_of_work() as uow:
            uow.snapshots.append(ORG, _snapshot("p2"))
            uow.snapshots.append(ORG, _snapshot("p1"))
            uow.snapshots.append(ORG, _snapshot("p3", student_id="u2"))
            with pytest.raises(ConflictError):
                uow.snapshots.append(ORG, _snapshot("p1"))
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.snapshots.append(ORG, _snapshot("p2"))
            assert uow.snapshots.for_student(ORG, "u1") == (
                _snapshot("p2"),
                _snapshot("p1"),
            )

    def test_the_audit_log_keeps_order_and_refuses_duplicates(
        self, store: Store
    ) -> None:
        """Audit entries read back per student in order; an audit id is stored once."""
        with store.unit_of_work() as uow:
            uow.audit.append(ORG, _audit("e2"))
            uow.audit.append(ORG, _audit("e1"))
            uow.audit.append(ORG, _audit("e3", student_id="u2"))
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.audit.append(ORG, _audit("e1"))
            assert uow.audit.for_student(ORG, "u1") == (_audit("e2"), _audit("e1"))

    # -- outbox -----------------------------------------------------------------------

    def test_the_outbox_keeps_commit_order_per_student(self, store: Store) -> None:
        """Pending events come out by position: append order, across transactions."""
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("e1"), _event("e2", "u2")])
            uow.commit()
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("e3"), _event("e0")])
            uow.commit()
        with store.unit_of_work() as uow:
            pending = uow.outbox.pending(ORG, limit=10)
        assert [e.event_id for e in pending] == ["e1", "e2", "e3", "e0"]
        positions = [e.position for e in pending]
        assert positions == sorted(positions)
        assert len(set(positions)) == 4
        assert [e.event_id for e in pending if e.student_id == "u1"] == [
            "e1",
            "e3",
            "e0",
        ]
        assert pending[0].event == _event("e1")
        assert pending[0].destination is Destination.ANALYTICS_STREAM

    def test_the_outbox_refuses_a_duplicate_event_id(self, store: Store) -> None:
        """An event id is stored in the outbox once; a repeat conflicts."""
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("e1")])
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.outbox.append(ORG, [_event("e1")])
            uow.commit()
        with store.unit_of_work() as uow:
            assert [e.event_id for e in uow.outbox.entries(ORG)] == ["e1"]

    @pytest.mark.parametrize(
        "refused",
        [("e2", "e1"), ("e3", "e3")],
        ids=["a stored id after a new one", "an id repeated in the list"],
    )
    def test_a_refused_outbox_append_appends_none_of_its_events(
        self, store: Store, refused: tuple[str, str]
    ) -> None:
        """Appending events is all or nothing: when one is refused, the
        events before it in the list are not appended either."""
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("e1")])
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.outbox.append(ORG, [_event(i) for i in refused])
            uow.commit()
        with store.unit_of_work() as uow:
            assert [e.event_id for e in uow.outbox.entries(ORG)] == ["e1"]

    def test_an_event_committed_after_a_rolled_back_append_is_pending(
        self, store: Store
    ) -> None:
        """A transaction's own, uncommitted events leave no trace on what is
        pending later: after it rolls back (a store may give their positions
        out again), an event committed next is pending."""
        with store.unit_of_work() as uow:  # left without commit
            uow.outbox.append(OTHER_ORG, [_event("b1")])
            uow.outbox.append(ORG, [_event("a1")])
            assert [e.event_id for e in uow.outbox.pending(ORG, limit=10)] == ["a1"]
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("a2")])
            uow.commit()
        with store.unit_of_work() as uow:
            assert [e.event_id for e in uow.outbox.pending(ORG, limit=10)] == ["a2"]

    def test_delivered_events_leave_pending_but_stay_in_the_outbox(
        self, store: Store
    ) -> None:
        """mark_delivered removes entries from pending, not from entries; twice
        is harmless; the limit caps pending."""
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event(f"e{i}") for i in range(5)])
            uow.commit()
        with store.unit_of_work() as uow:
            uow.outbox.mark_delivered(ORG, ["e0", "e2"], delivered_at=T0)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.outbox.mark_delivered(ORG, ["e0", "unknown"], delivered_at=T0)
            uow.commit()
        with store.unit_of_work() as uow:
            assert [e.event_id for e in uow.outbox.pending(ORG, limit=10)] == [
                "e1",
                "e3",
                "e4",
            ]
            assert [e.event_id for e in uow.outbox.pending(ORG, limit=2)] == [
                "e1",
                "e3",
            ]
            every = uow.outbox.entries(ORG)
            assert [e.event_id for e in every] == [f"e{i}" for i in range(5)]
            later = uow.outbox.entries(ORG, after=every[2].position, limit=1)
            assert [e.event_id for e in later] == ["e3"]

    def test_deliveries_not_committed_leave_events_pending(self, store: Store) -> None:
        """Deliveries marked in a transaction that does not commit do not count."""
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("e1"), _event("e2")])
            uow.commit()
        with store.unit_of_work() as uow:
            uow.outbox.mark_delivered(ORG, ["e1"], delivered_at=T0)
            assert [e.event_id for e in uow.outbox.pending(ORG, limit=10)] == ["e2"]
        with store.unit_of_work() as uow:
            pending = uow.outbox.pending(ORG, limit=10)
        assert [e.event_id for e in pending] == ["e1", "e2"]

    def test_every_event_kind_goes_to_its_destination(self, store: Store) -> None:
        """Outbox entries name the spec's destination of their event class."""
        snapshot = ProgressSnapshotCreated(
            event_id="e2",
            occurred_at=T0,
            snapshot_id="p1",
            student_id="u1",
            scope_type=ScopeType.ASSIGNMENT,
            scope_id="a1",
            trigger=SnapshotTrigger.MILESTONE,
            completion_percentage=50.0,
            mastery_score=40.0,
        )
        risk = StudentAtRiskDetected(
            event_id="e3",
            occurred_at=T0,
            student_id="u1",
            assignment_id="a1",
            risk_factors=("inactive_9_days",),
            pacing_status=PacingStatus.BEHIND,
            mastery_score=40.0,
            days_since_activity=9,
            intervention_recommended="teacher_notification",
        )
        with store.unit_of_work() as uow:
            uow.outbox.append(ORG, [_event("e1"), snapshot, risk])
            uow.commit()
        with store.unit_of_work() as uow:
            pending = uow.outbox.pending(ORG, limit=10)
        assert [(e.event, e.destination) for e in pending] == [
            (_event("e1"), Destination.ANALYTICS_STREAM),
            (snapshot, Destination.DATA_WAREHOUSE),
            (risk, Destination.NOTIFICATION_SERVICE),
        ]

    # -- organizations and persistence ----------------------------------------------

    def test_organizations_never_see_each_other(self, store: Store) -> None:
        """Two organizations with the same ids: each reads only its own (D19)."""
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, ORG)
            uow.commit()
        self._assert_empty(store, OTHER_ORG)
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, OTHER_ORG)
            uow.outbox.mark_delivered(OTHER_ORG, ["e1"], delivered_at=T0)
            uow.commit()
        with store.unit_of_work() as uow:
            self._assert_one_of_everything(uow, ORG)
            assert [e.event_id for e in uow.outbox.pending(ORG, limit=10)] == ["e1"]
            assert uow.outbox.pending(OTHER_ORG, limit=10) == ()

    def test_everything_survives_reopening(self, store: Store) -> None:
        """What was committed is there in a store reopened over the same data."""
        with store.unit_of_work() as uow:
            self._write_one_of_everything(uow, ORG)
            uow.commit()
        reopened = self._reopened(store)
        with reopened.unit_of_work() as uow:
            self._assert_one_of_everything(uow, ORG)

    # -- the service on this store ----------------------------------------------------

    def test_the_service_applies_an_attempt_exactly_once(self, store: Store) -> None:
        """Through ProgressService, a re-delivered attempt changes nothing (D3)."""
        service = self._service(store)
        attempt = _attempt("t1", score=90.0)
        first = service.apply(ORG, attempt)
        again = service.apply(ORG, attempt)
        assert first.applied
        assert not again.applied
        assert again.events == ()
        with store.unit_of_work() as uow:
            steps = uow.progress.steps(ORG, "u1", "a1")
            assert steps["s1"].record.attempt_count == 1
            assert uow.attempts.for_assignment(ORG, "u1", "a1") == (attempt,)
            assert uow.commands.contains(ORG, "t1")
            events = [e.event for e in uow.outbox.pending(ORG, limit=100)]
            assert events == list(first.events)
            assert uow.snapshots.for_student(ORG, "u1") == first.snapshots

    def test_a_batch_applies_an_id_repeated_in_it_once(self, store: Store) -> None:
        """``apply_many`` with an id twice in the batch and one already applied:
        each id is applied once, the repeats change nothing (D3)."""
        service = self._service(store)
        assert service.apply(ORG, _attempt("t0", score=10.0)).applied
        batch = [
            _attempt("t1", score=20.0),
            _attempt("t0", score=99.0),
            _attempt("t2", score=30.0),
            _attempt("t1", score=99.0),
        ]
        outcomes = service.apply_many(ORG, batch)
        assert [o.applied for o in outcomes] == [True, False, True, False]
        assert outcomes[3].events == ()
        with store.unit_of_work() as uow:
            step = uow.progress.steps(ORG, "u1", "a1")["s1"]
            logged = uow.attempts.for_assignment(ORG, "u1", "a1")
            assert uow.commands.contains_many(ORG, ["t0", "t1", "t2"]) == {
                "t0",
                "t1",
                "t2",
            }
        assert step.record.attempt_count == 3
        assert step.record.best_score == 30.0
        assert [a.attempt_id for a in logged] == ["t0", "t1", "t2"]

    def test_a_refused_command_leaves_nothing_of_its_batch(self, store: Store) -> None:
        """A batch whose third command is refused stores nothing, not even the
        records the first two wrote to the block; the batch without it then
        applies in full."""
        service = self._service(store)
        unknown_step = StartStep(
            command_id="c9",
            student_id="u1",
            assignment_id="a1",
            step_id="s9",
            started_at=T0 + timedelta(hours=1),
            session_id="x1",
        )
        batch: list[Command] = [
            _attempt("t1", score=90.0),
            _attempt("t2", score=95.0),
            unknown_step,
        ]
        with pytest.raises(NotFoundError):
            service.apply_many(ORG, batch)
        self._assert_empty(store, ORG)
        assert [o.applied for o in service.apply_many(ORG, batch[:2])] == [True] * 2
        with store.unit_of_work() as uow:
            step = uow.progress.steps(ORG, "u1", "a1")["s1"]
        assert (step.record.attempt_count, step.version) == (2, 2)

    def test_two_threads_never_apply_a_command_twice(self, store: Store) -> None:
        """Two threads delivering the same attempts: each is applied once (D3)."""
        service = self._service(store)
        attempts = [_attempt(f"t{i}", score=float(i)) for i in range(40)]
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                for attempt in attempts:
                    while True:
                        try:
                            service.apply(ORG, attempt)
                            break
                        except (ConflictError, StorageError) as exc:
                            if isinstance(exc, StorageError) and not exc.retryable:
                                raise
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with store.unit_of_work() as uow:
            step = uow.progress.steps(ORG, "u1", "a1")["s1"].record
            logged = uow.attempts.for_assignment(ORG, "u1", "a1")
        assert step.attempt_count == len(attempts)
        assert sorted(a.attempt_id for a in logged) == sorted(
            a.attempt_id for a in attempts
        )

    # -- helpers ----------------------------------------------------------------

    def _service(self, store: Store) -> Any:
        from .._service import ProgressService
        from ..adapters.clock import FixedClock
        from ..adapters.memory import InMemoryCatalog

        catalog = InMemoryCatalog()
        catalog.add_assignment(ORG, _structure())
        clock = FixedClock(T0 + timedelta(hours=2))
        return ProgressService(store.unit_of_work, catalog, clock, max_retries=10)

    @staticmethod
    def _write_one_of_everything(uow: UnitOfWork, org: str) -> None:
        uow.progress.put_step(org, _step(), expected_version=0)
        uow.progress.put_assignment(org, _assignment(), expected_version=0)
        uow.progress.put_sequence(org, _sequence(), expected_version=0)
        uow.summaries.put(org, _summary(organization_id=org), expected_version=0)
        uow.commands.append(
            org, CommandRecord(command_id="t1", command=_attempt("t1"), recorded_at=T0)
        )
        uow.attempts.append(org, _attempt("t1"))
        uow.snapshots.append(org, _snapshot("p1"))
        uow.audit.append(org, _audit("e1"))
        uow.outbox.append(org, [_event("e1")])

    @staticmethod
    def _assert_one_of_everything(uow: UnitOfWork, org: str) -> None:
        assert {
            k: r.record for k, r in uow.progress.steps(org, "u1", "a1").items()
        } == {"s1": _step()}
        found = uow.progress.assignment(org, "u1", "a1")
        assert found is not None
        assert found.record == _assignment()
        sequence = uow.progress.sequence(org, "u1", "q1")
        assert sequence is not None
        assert sequence.record == _sequence()
        summary = uow.summaries.get(org, "u1")
        assert summary is not None
        assert summary.record == _summary(organization_id=org)
        assert uow.commands.contains(org, "t1")
        assert uow.attempts.for_assignment(org, "u1", "a1") == (_attempt("t1"),)
        assert uow.snapshots.for_student(org, "u1") == (_snapshot("p1"),)
        assert uow.audit.for_student(org, "u1") == (_audit("e1"),)
        assert [e.event for e in uow.outbox.entries(org)] == [_event("e1")]

    @staticmethod
    def _assert_empty(store: Store, org: str) -> None:
        with store.unit_of_work() as uow:
            assert uow.progress.steps(org, "u1", "a1") == {}
            assert uow.progress.assignment(org, "u1", "a1") is None
            assert uow.progress.assignments_for_student(org, "u1") == ()
            assert uow.progress.sequence(org, "u1", "q1") is None
            assert uow.summaries.get(org, "u1") is None
            assert not uow.commands.contains(org, "t1")
            assert uow.attempts.for_assignment(org, "u1", "a1") == ()
            assert uow.snapshots.for_student(org, "u1") == ()
            assert uow.audit.for_student(org, "u1") == ()
            assert uow.outbox.pending(org, limit=10) == ()
            assert uow.outbox.entries(org) == ()


# -- batch ports ------------------------------------------------------------------


def _risk_state(student_id: str = "u1", *, dismissed: bool = False) -> RiskState:
    state = RiskState(
        student_id=student_id,
        at_risk=True,
        rules=(RiskRule.ENGAGEMENT,),
        factors=("inactive_9_days",),
        assessed_at=T0,
    )
    if dismissed:
        state, _ = dismiss_risk(
            state,
            dismissal_id="d1",
            actor_id="teacher-1",
            reason="on_a_school_trip",
            dismissed_at=T0 + timedelta(hours=1),
        )
    return state


def _job(**changes: Any) -> BatchJobProgress:
    fields: dict[str, Any] = {"job_id": "j1", "as_of": T0, "policy_fingerprint": "p1"}
    fields.update(changes)
    return BatchJobProgress(**fields)


_BatchReader = Callable[[BatchUnitOfWork, str], Any]
_BatchWriter = Callable[[BatchUnitOfWork, str, Any, int], int]
_BATCH_VERSIONED: dict[str, tuple[_BatchReader, _BatchWriter, Any, Any]] = {
    "enrollment": (
        lambda uow, org: uow.roster.get(org, "u1"),
        lambda uow, org, r, v: uow.roster.put(org, r, expected_version=v),
        Enrollment(student_id="u1", class_ids=("c1",), assignment_ids=("a1",)),
        Enrollment(student_id="u1", class_ids=("c1", "c2"), assignment_ids=("a1",)),
    ),
    "risk_state": (
        lambda uow, org: uow.risk.get(org, "u1"),
        lambda uow, org, r, v: uow.risk.put(org, r, expected_version=v),
        _risk_state(),
        _risk_state(dismissed=True),
    ),
    "dismissal_stats": (
        lambda uow, org: uow.risk.dismissal_stats(org),
        lambda uow, org, r, v: uow.risk.put_dismissal_stats(org, r, expected_version=v),
        DismissalStats(),
        DismissalStats(
            raised=RuleCounts(engagement=2), dismissed=RuleCounts(engagement=1)
        ),
    ),
    "batch_job": (
        lambda uow, org: uow.jobs.get(org, "j1"),
        lambda uow, org, r, v: uow.jobs.put(org, r, expected_version=v),
        _job(),
        _job(last_student_id="u1", students_done=1, chunks_written=1),
    ),
}


def _timed_attempt(
    attempt_id: str,
    when: datetime,
    *,
    student_id: str = "u1",
    assignment_id: str = "a1",
) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id=student_id,
        assignment_id=assignment_id,
        step_id="s1",
        score=60.0,
        attempted_at=when,
        duration_ms=1000,
        session_id="x1",
    )


def _student_snapshot(snapshot_id: str) -> ProgressSnapshot:
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=T0,
        student_id="u1",
        scope_type=ScopeType.STUDENT,
        scope_id="u1",
        state_snapshot={"summary": {"streak_days": 0}},
        metrics_snapshot={
            "completion_percentage": 0.0,
            "mastery_score": 0.0,
            "time_on_task_ms": 0,
        },
        trigger=SnapshotTrigger.SCHEDULED,
        notes="daily",
    )


class BatchStoreContract(abc.ABC):
    """The guarantees of the ports batch jobs add to a store
    (:class:`~mlc_progress._ports.BatchStore`): the roster, at-risk states
    and dismissal statistics, job progress, and a student's recent attempts,
    activity days and snapshots by scope.

    Implement :meth:`make_store` (and :meth:`reopen` when the store
    persists), as for :class:`RepositoryContract`.
    """

    @abc.abstractmethod
    def make_store(self, tmp_path: Path) -> BatchStore:
        """A new, empty store."""

    def reopen(self, store: BatchStore) -> BatchStore:
        """A store over the same data as ``store`` (default: ``store``)."""
        return store

    def close(self, store: BatchStore) -> None:
        """Release ``store`` at the end of a test (default: its ``close()``)."""
        closer = getattr(store, "close", None)
        if callable(closer):
            closer()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BatchStore]:
        self._opened: list[BatchStore] = [self.make_store(tmp_path)]
        try:
            yield self._opened[0]
        finally:
            for each in reversed(self._opened):
                self.close(each)

    # -- versioned records ----------------------------------------------------------

    @pytest.mark.parametrize("kind", sorted(_BATCH_VERSIONED))
    def test_a_batch_record_reads_back_at_version_one(
        self, store: BatchStore, kind: str
    ) -> None:
        """An enrollment, risk state, dismissal statistics or job row written
        at version 0 reads back equal, at version 1, also after reopening."""
        read, put, record, _ = _BATCH_VERSIONED[kind]
        with store.unit_of_work() as uow:
            assert read(uow, ORG) is None
            assert put(uow, ORG, record, 0) == 1
            uow.commit()
        reopened = self.reopen(store)
        if reopened is not store:
            self._opened.append(reopened)
        with reopened.unit_of_work() as uow:
            found = read(uow, ORG)
            assert read(uow, OTHER_ORG) is None
        assert (found.record, found.version) == (record, 1)

    @pytest.mark.parametrize("kind", sorted(_BATCH_VERSIONED))
    @pytest.mark.parametrize("stale", [0, 2])
    def test_a_stale_batch_write_conflicts_and_writes_nothing(
        self, store: BatchStore, kind: str, stale: int
    ) -> None:
        """A write at the current version goes to version + 1; one naming
        another version raises ConflictError and changes nothing."""
        read, put, record, changed = _BATCH_VERSIONED[kind]
        with store.unit_of_work() as uow:
            put(uow, ORG, record, 0)
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                put(uow, ORG, changed, stale)
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
            assert (found.record, found.version) == (record, 1)
            assert put(uow, ORG, changed, 1) == 2
            uow.commit()
        with store.unit_of_work() as uow:
            found = read(uow, ORG)
        assert (found.record, found.version) == (changed, 2)

    @pytest.mark.parametrize("kind", sorted(_BATCH_VERSIONED))
    def test_a_batch_write_without_commit_is_not_stored(
        self, store: BatchStore, kind: str
    ) -> None:
        """A batch record written in a unit of work left without commit is
        read back inside it, and gone after it."""
        read, put, record, _ = _BATCH_VERSIONED[kind]
        with store.unit_of_work() as uow:
            put(uow, ORG, record, 0)
            assert read(uow, ORG).record == record
        with store.unit_of_work() as uow:
            assert read(uow, ORG) is None

    def test_batch_repositories_refuse_work_outside_a_transaction(
        self, store: BatchStore
    ) -> None:
        """Using a batch repository outside ``with`` raises StorageError."""
        uow = store.unit_of_work()
        calls: list[Callable[[], object]] = [
            lambda: uow.roster.student_ids(ORG),
            lambda: uow.roster.count(ORG),
            lambda: uow.risk.get(ORG, "u1"),
            lambda: uow.risk.dismissal_stats(ORG),
            lambda: uow.jobs.get(ORG, "j1"),
            lambda: uow.attempts.for_student(ORG, "u1", after=T0, until=T0),
            lambda: uow.attempts.activity_days(ORG, "u1", until=T0),
        ]
        for call in calls:
            with pytest.raises(StorageError):
                call()

    # -- the roster -------------------------------------------------------------------

    def _enroll(self, store: BatchStore, org: str, *student_ids: str) -> None:
        with store.unit_of_work() as uow:
            for sid in student_ids:
                uow.roster.put(org, Enrollment(student_id=sid), expected_version=0)
            uow.commit()

    def test_the_roster_lists_student_ids_in_order_in_pages(
        self, store: BatchStore
    ) -> None:
        """``student_ids`` lists ids ascending, after ``after``, at most
        ``limit``; ``count`` counts them; organizations are apart (D19)."""
        self._enroll(store, ORG, "u3", "u10", "u1", "u2")
        self._enroll(store, OTHER_ORG, "u0", "u9")
        with store.unit_of_work() as uow:
            assert uow.roster.student_ids(ORG) == ("u1", "u10", "u2", "u3")
            assert uow.roster.student_ids(ORG, limit=2) == ("u1", "u10")
            assert uow.roster.student_ids(ORG, after="u10", limit=2) == ("u2", "u3")
            assert uow.roster.student_ids(ORG, after="u15") == ("u2", "u3")
            assert uow.roster.student_ids(ORG, after="u3") == ()
            assert uow.roster.student_ids(ORG, limit=0) == ()
            assert uow.roster.count(ORG) == 4
            assert uow.roster.count(OTHER_ORG) == 2
            assert uow.roster.count("org-none") == 0

    def test_the_roster_lists_a_transactions_own_enrollments(
        self, store: BatchStore
    ) -> None:
        """Students enrolled in a unit of work are listed and counted in it,
        once each, and only after commit outside it."""
        self._enroll(store, ORG, "u2")
        with store.unit_of_work() as uow:
            uow.roster.put(ORG, Enrollment(student_id="u1"), expected_version=0)
            uow.roster.put(
                ORG, Enrollment(student_id="u2", class_ids=("c1",)), expected_version=1
            )
            assert uow.roster.student_ids(ORG) == ("u1", "u2")
            assert uow.roster.student_ids(ORG, limit=1) == ("u1",)
            assert uow.roster.count(ORG) == 2
        with store.unit_of_work() as uow:
            assert uow.roster.student_ids(ORG) == ("u2",)

    def test_a_risk_state_is_kept_per_student(self, store: BatchStore) -> None:
        """Each student's at-risk state is stored under their own id."""
        with store.unit_of_work() as uow:
            uow.risk.put(ORG, _risk_state("u1"), expected_version=0)
            uow.risk.put(ORG, _risk_state("u2", dismissed=True), expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            first, second = uow.risk.get(ORG, "u1"), uow.risk.get(ORG, "u2")
            assert uow.risk.get(OTHER_ORG, "u1") is None
        assert first is not None
        assert first.record == _risk_state("u1")
        assert second is not None
        assert second.record == _risk_state("u2", dismissed=True)

    # -- a student's attempts and snapshots -----------------------------------------

    def test_attempts_of_a_student_are_read_by_time_window(
        self, store: BatchStore
    ) -> None:
        """``for_student`` gives the student's attempts on any assignment with
        ``after < attempted_at <= until``, in the order appended."""
        hour = timedelta(hours=1)
        late = _timed_attempt("t1", T0 + 3 * hour, assignment_id="a2")
        edge = _timed_attempt("t2", T0 + hour)
        inside = _timed_attempt("t3", T0 + 2 * hour + timedelta(microseconds=1))
        before = _timed_attempt("t4", T0 + hour - timedelta(microseconds=1))
        other = _timed_attempt("t5", T0 + 2 * hour, student_id="u2")
        with store.unit_of_work() as uow:
            for attempt in (late, edge, inside, before, other):
                uow.attempts.append(ORG, attempt)
            assert uow.attempts.for_student(
                ORG, "u1", after=T0 + hour, until=T0 + 3 * hour
            ) == (late, inside)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.attempts.for_student(
                ORG,
                "u1",
                after=T0 + hour - 2 * timedelta(microseconds=1),
                until=T0 + 2 * hour + timedelta(microseconds=1),
            ) == (edge, inside, before)
            assert uow.attempts.for_student(ORG, "u1", after=T0, until=T0 + hour) == (
                edge,
                before,
            )
            assert (
                uow.attempts.for_student(OTHER_ORG, "u1", after=T0, until=T0 + 9 * hour)
                == ()
            )

    def test_activity_days_are_the_utc_days_with_an_attempt(
        self, store: BatchStore
    ) -> None:
        """``activity_days`` lists each UTC day with an attempt up to
        ``until``, once, ascending."""
        day = timedelta(days=1)
        with store.unit_of_work() as uow:
            for i, when in enumerate(
                (T0 + 2 * day, T0 + timedelta(hours=23), T0, T0 + day, T0 + 5 * day)
            ):
                uow.attempts.append(ORG, _timed_attempt(f"t{i}", when))
            uow.attempts.append(ORG, _timed_attempt("t9", T0, student_id="u2"))
            uow.commit()
        with store.unit_of_work() as uow:
            days = uow.attempts.activity_days(ORG, "u1", until=T0 + 2 * day)
            assert uow.attempts.activity_days(ORG, "u3", until=T0 + 9 * day) == ()
        assert days == (T0.date(), (T0 + day).date(), (T0 + 2 * day).date())

    def test_snapshots_are_read_by_scope(self, store: BatchStore) -> None:
        """``for_student`` with ``scope_type`` gives only that scope's
        snapshots, in the order appended."""
        with store.unit_of_work() as uow:
            uow.snapshots.append(ORG, _student_snapshot("p2"))
            uow.snapshots.append(ORG, _snapshot("p1"))
            uow.snapshots.append(ORG, _student_snapshot("p3"))
            uow.commit()
        with store.unit_of_work() as uow:
            found = uow.snapshots.for_student(ORG, "u1", scope_type=ScopeType.STUDENT)
            every = uow.snapshots.for_student(ORG, "u1")
        assert [s.snapshot_id for s in found] == ["p2", "p3"]
        assert [s.snapshot_id for s in every] == ["p2", "p1", "p3"]


class CatalogContract(abc.ABC):
    """The guarantees of a :class:`~mlc_progress._ports.StructureCatalog`
    that can be added to (``add_assignment``, ``add_sequence``)."""

    @abc.abstractmethod
    def make_catalog(self, tmp_path: Path) -> Any:
        """A new, empty catalog with ``add_assignment`` and ``add_sequence``."""

    # An optional hook, deliberately empty: most catalogs hold nothing to release.
    def close(self, catalog: Any) -> None:  # noqa: B027
        """Release ``catalog`` at the end of a test (default: nothing)."""

    @pytest.fixture
    def catalog(self, tmp_path: Path) -> Iterator[Any]:
        made = self.make_catalog(tmp_path)
        try:
            yield made
        finally:
            self.close(made)

    def test_an_unknown_id_raises_not_found(self, catalog: StructureCatalog) -> None:
        """Reading an assignment or sequence the organization lacks: NotFoundError."""
        with pytest.raises(NotFoundError):
            catalog.assignment(ORG, "a1")
        with pytest.raises(NotFoundError):
            catalog.sequence(ORG, "q1")

    def test_the_highest_version_of_an_assignment_is_read(self, catalog: Any) -> None:
        """Reads give the assignment's highest version, whatever the order added."""
        catalog.add_assignment(ORG, _structure(version=2, steps=3))
        catalog.add_assignment(ORG, _structure(version=1))
        assert catalog.assignment(ORG, "a1") == _structure(version=2, steps=3)

    def test_a_published_version_is_fixed(self, catalog: Any) -> None:
        """Re-adding a version with other content conflicts; the same content is
        harmless."""
        catalog.add_assignment(ORG, _structure())
        catalog.add_assignment(ORG, _structure())
        with pytest.raises(ConflictError):
            catalog.add_assignment(ORG, _structure(steps=3))
        assert catalog.assignment(ORG, "a1") == _structure()

    def test_the_last_sequence_added_is_read(self, catalog: Any) -> None:
        """A sequence reads as the structure added last."""
        catalog.add_sequence(
            ORG, SequenceStructure(sequence_id="q1", assignment_ids=("a1",))
        )
        later = SequenceStructure(sequence_id="q1", assignment_ids=("a1", "a2"))
        catalog.add_sequence(ORG, later)
        assert catalog.sequence(ORG, "q1") == later

    def test_organizations_have_their_own_catalog(self, catalog: Any) -> None:
        """The same assignment id in two organizations: each reads its own (D19)."""
        catalog.add_assignment(ORG, _structure(steps=1))
        catalog.add_assignment(OTHER_ORG, _structure(steps=3))
        assert len(catalog.assignment(ORG, "a1").steps) == 1
        assert len(catalog.assignment(OTHER_ORG, "a1").steps) == 3
        with pytest.raises(NotFoundError):
            catalog.sequence(OTHER_ORG, "q1")


# -- reconciliation: correction log and raw reads (issue 6) ---------------------------


def _correction(
    correction_id: str, student_id: str = "u1", step_id: str | None = "s1"
) -> CorrectionRecord:
    return CorrectionRecord(
        correction_id=correction_id,
        repair_id="r1",
        student_id=student_id,
        assignment_id="a1",
        step_id=step_id,
        before={"time_on_task_ms": -5, "scores": [1, 2.5], "note": None},
        after={"time_on_task_ms": 1000},
        reason="D18 repair from step data: negative_time",
        violations=(
            Violation(
                code="negative_time",
                record="step:s1",
                field="time_on_task_ms",
                value=-5,
                rule="D2",
                expected=1000,
            ),
        ),
        from_attempt_log=True,
        actor_id="system",
        corrected_at=T0,
    )


class ReconciliationStoreContract(abc.ABC):
    """The guarantees of the ports the reconciliation service and the audit
    add to a store (:class:`~mlc_progress._ports.ReconciliationStore`): the
    append-only correction log and the raw reads of step and assignment
    records (D18).

    Implement :meth:`make_store` (and :meth:`reopen` when the store
    persists), as for :class:`RepositoryContract`.
    """

    @abc.abstractmethod
    def make_store(self, tmp_path: Path) -> ReconciliationStore:
        """A new, empty store."""

    def reopen(self, store: ReconciliationStore) -> ReconciliationStore:
        """A store over the same data as ``store`` (default: ``store``)."""
        return store

    def close(self, store: ReconciliationStore) -> None:
        """Release ``store`` at the end of a test (default: its ``close()``)."""
        closer = getattr(store, "close", None)
        if callable(closer):
            closer()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ReconciliationStore]:
        self._opened: list[ReconciliationStore] = [self.make_store(tmp_path)]
        try:
            yield self._opened[0]
        finally:
            for each in reversed(self._opened):
                self.close(each)

    def _reopened(self, store: ReconciliationStore) -> ReconciliationStore:
        new = self.reopen(store)
        if new is not store:
            self._opened.append(new)
        return new

    # -- the correction log -----------------------------------------------------------

    def test_corrections_read_back_in_append_order(
        self, store: ReconciliationStore
    ) -> None:
        """Corrections read back equal, per student and for the organization,
        in the order appended, also after reopening."""
        with store.unit_of_work() as uow:
            uow.corrections.append(ORG, _correction("c2"))
            uow.corrections.append(ORG, _correction("c1", step_id=None))
            uow.corrections.append(ORG, _correction("c3", student_id="u2"))
            uow.commit()
        with self._reopened(store).unit_of_work() as uow:
            assert uow.corrections.for_student(ORG, "u1") == (
                _correction("c2"),
                _correction("c1", step_id=None),
            )
            assert [c.correction_id for c in uow.corrections.entries(ORG)] == [
                "c2",
                "c1",
                "c3",
            ]
            assert uow.corrections.entries(OTHER_ORG) == ()

    def test_a_correction_id_is_stored_once(self, store: ReconciliationStore) -> None:
        """Appending a correction id already stored, or twice in one
        transaction, raises ConflictError and keeps the first."""
        with store.unit_of_work() as uow:
            uow.corrections.append(ORG, _correction("c1"))
            with pytest.raises(ConflictError):
                uow.corrections.append(ORG, _correction("c1", student_id="u2"))
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.corrections.append(ORG, _correction("c1", student_id="u3"))
            assert uow.corrections.entries(ORG) == (_correction("c1"),)

    def test_corrections_without_commit_are_not_stored(
        self, store: ReconciliationStore
    ) -> None:
        """A correction appended in a transaction left without commit() is
        not stored; the transaction itself reads it."""
        with store.unit_of_work() as uow:
            uow.corrections.append(ORG, _correction("c1"))
            assert uow.corrections.for_student(ORG, "u1") == (_correction("c1"),)
        with store.unit_of_work() as uow:
            assert uow.corrections.entries(ORG) == ()

    # -- raw reads --------------------------------------------------------------------

    def test_raw_reads_return_the_stored_data_and_versions(
        self, store: ReconciliationStore
    ) -> None:
        """Raw step and assignment rows are the records' JSON-ready data with
        their versions; a missing row is absent."""
        from .._serialization import unstructure

        changed = _step(state=StepState.AVAILABLE, available_at=T0)
        with store.unit_of_work() as uow:
            assert uow.raw.steps(ORG, "u1", "a1") == {}
            assert uow.raw.assignment(ORG, "u1", "a1") is None
            uow.progress.put_step(ORG, _step(), expected_version=0)
            uow.progress.put_assignment(ORG, _assignment(), expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.progress.put_step(ORG, changed, expected_version=1)
            uow.commit()
        with self._reopened(store).unit_of_work() as uow:
            steps = uow.raw.steps(ORG, "u1", "a1")
            found = uow.raw.assignment(ORG, "u1", "a1")
            assert uow.raw.steps(OTHER_ORG, "u1", "a1") == {}
        assert steps == {
            "s1": RawRecord(key="s1", version=2, body=unstructure(changed))
        }
        assert found == RawRecord(key="a1", version=1, body=unstructure(_assignment()))

    def test_students_with_progress_are_listed_in_pages(
        self, store: ReconciliationStore
    ) -> None:
        """student_ids lists students with a step or assignment record in
        ascending order, after a given id, at most limit; student_count
        counts them; each organization its own."""
        with store.unit_of_work() as uow:
            uow.progress.put_step(ORG, _step(student_id="u3"), expected_version=0)
            uow.progress.put_assignment(ORG, _assignment("u1"), expected_version=0)
            uow.progress.put_step(ORG, _step(student_id="u2"), expected_version=0)
            uow.progress.put_assignment(ORG, _assignment("u2"), expected_version=0)
            uow.progress.put_sequence(ORG, _sequence("u9"), expected_version=0)
            uow.progress.put_step(OTHER_ORG, _step(student_id="u0"), expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.raw.student_ids(ORG) == ("u1", "u2", "u3")
            assert uow.raw.student_ids(ORG, limit=2) == ("u1", "u2")
            assert uow.raw.student_ids(ORG, after="u1", limit=5) == ("u2", "u3")
            assert uow.raw.student_ids(ORG, after="u3") == ()
            assert uow.raw.student_count(ORG) == 3
            assert uow.raw.student_ids(OTHER_ORG) == ("u0",)
            assert uow.raw.student_count("org-none") == 0

    def test_assignments_and_their_students_are_listed(
        self, store: ReconciliationStore
    ) -> None:
        """assignment_ids lists a student's assignments with a record;
        assignment_students an assignment's students; both ascending."""
        other = StepProgress(
            step_id="s1", assignment_id="a0", student_id="u1", target_score=80.0
        )
        with store.unit_of_work() as uow:
            uow.progress.put_step(ORG, _step(), expected_version=0)
            uow.progress.put_step(ORG, other, expected_version=0)
            uow.progress.put_assignment(ORG, _assignment("u2"), expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.raw.assignment_ids(ORG, "u1") == ("a0", "a1")
            assert uow.raw.assignment_ids(ORG, "u2") == ("a1",)
            assert uow.raw.assignment_students(ORG, "a1") == ("u1", "u2")
            assert uow.raw.assignment_students(ORG, "a0") == ("u1",)
            assert uow.raw.assignment_students(OTHER_ORG, "a1") == ()

    def test_raw_reads_see_the_transactions_own_writes(
        self, store: ReconciliationStore
    ) -> None:
        """Inside a unit of work, raw reads and listings include what it wrote."""
        with store.unit_of_work() as uow:
            uow.progress.put_step(ORG, _step(student_id="u5"), expected_version=0)
            assert uow.raw.student_ids(ORG) == ("u5",)
            assert uow.raw.assignment_ids(ORG, "u5") == ("a1",)
            assert uow.raw.steps(ORG, "u5", "a1")["s1"].version == 1

    def test_raw_reads_see_writes_over_records_read_in_the_block(
        self, store: ReconciliationStore
    ) -> None:
        """Records read, then written twice in the block: raw reads show the
        last write, at its version."""
        with store.unit_of_work() as uow:
            uow.progress.put_step(ORG, _step(), expected_version=0)
            uow.progress.put_assignment(ORG, _assignment(), expected_version=0)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.progress.steps(ORG, "u1", "a1")["s1"].version == 1
            assert uow.progress.assignment(ORG, "u1", "a1") is not None
            for version in (1, 2):
                uow.progress.put_step(
                    ORG, _step(target_score=70.0 + version), expected_version=version
                )
                uow.progress.put_assignment(
                    ORG, _assignment(steps_total=2 + version), expected_version=version
                )
            step = uow.raw.steps(ORG, "u1", "a1")["s1"]
            assignment = uow.raw.assignment(ORG, "u1", "a1")
        assert (step.version, step.body["target_score"]) == (3, 72.0)
        assert assignment is not None
        assert (assignment.version, assignment.body["steps_total"]) == (3, 4)


# -- the access log (issue 7) --------------------------------------------------------


def _access(entry_id: str, student_id: str | None = "u1") -> AccessLogEntry:
    return AccessLogEntry(
        entry_id=entry_id,
        occurred_at=T0,
        actor_id="t9",
        role="teacher",
        actor_organization_id=ORG,
        action="override",
        resource_kind="step",
        organization_id=ORG,
        student_id=student_id,
        allowed=False,
        reason="the student is not in a class the actor teaches",
        rule="D19: teachers read and act on students of classes they teach",
    )


class AccessLogContract(abc.ABC):
    """The guarantees of the access log
    (:class:`~mlc_progress._ports.AuthorizedStore`): append-only, in append
    order, per organization, refusing a duplicate id, gone without commit.

    Implement :meth:`make_store` (and :meth:`reopen` when the store
    persists), as for :class:`RepositoryContract`.
    """

    @abc.abstractmethod
    def make_store(self, tmp_path: Path) -> AuthorizedStore:
        """A new, empty store."""

    def reopen(self, store: AuthorizedStore) -> AuthorizedStore:
        """A store over the same data as ``store`` (default: ``store``)."""
        return store

    def close(self, store: AuthorizedStore) -> None:
        """Release ``store`` at the end of a test (default: its ``close()``)."""
        closer = getattr(store, "close", None)
        if callable(closer):
            closer()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[AuthorizedStore]:
        self._opened: list[AuthorizedStore] = [self.make_store(tmp_path)]
        try:
            yield self._opened[0]
        finally:
            for each in reversed(self._opened):
                self.close(each)

    def test_access_entries_read_back_in_order_per_organization(
        self, store: AuthorizedStore
    ) -> None:
        """Entries read back equal, in append order, filtered by student,
        never across organizations, also after reopening."""
        entries = [_access("e2"), _access("e1", student_id="u2"), _access("e3", None)]
        with store.unit_of_work() as uow:
            for entry in entries:
                uow.access_log.append(ORG, entry)
            uow.commit()
        reopened = self.reopen(store)
        if reopened is not store:
            self._opened.append(reopened)
        with reopened.unit_of_work() as uow:
            assert uow.access_log.entries(ORG) == tuple(entries)
            assert uow.access_log.entries(ORG, student_id="u2") == (entries[1],)
            assert uow.access_log.entries(OTHER_ORG) == ()

    def test_the_access_log_refuses_a_duplicate_and_keeps_the_first(
        self, store: AuthorizedStore
    ) -> None:
        """Appending an entry id already logged raises ConflictError, in the
        same transaction or a later one; the first entry stays."""
        first = _access("e1")
        with store.unit_of_work() as uow:
            uow.access_log.append(ORG, first)
            with pytest.raises(ConflictError):
                uow.access_log.append(ORG, _access("e1", student_id="u2"))
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                uow.access_log.append(ORG, _access("e1", student_id="u3"))
            assert uow.access_log.entries(ORG) == (first,)

    def test_an_access_entry_without_commit_is_not_stored(
        self, store: AuthorizedStore
    ) -> None:
        """An entry appended in a unit of work left without commit is read
        inside it and gone after it."""
        with store.unit_of_work() as uow:
            uow.access_log.append(ORG, _access("e1"))
            assert len(uow.access_log.entries(ORG)) == 1
        with store.unit_of_work() as uow:
            assert uow.access_log.entries(ORG) == ()

    def test_the_access_log_refuses_work_outside_a_transaction(
        self, store: AuthorizedStore
    ) -> None:
        """Using the access log outside ``with`` raises StorageError."""
        uow = store.unit_of_work()
        with pytest.raises(StorageError):
            uow.access_log.entries(ORG)
        with pytest.raises(StorageError):
            uow.access_log.append(ORG, _access("e1"))
