"""The SQLite unit of work's identity map, held writes and catalog cache.

Each test counts or inspects the SQL a transaction sends, so it fails when
its mechanism is removed: reads served from the map (no second query),
repeated writes merged into one statement at commit, the map and the held
writes discarded with a rolled-back transaction, the map bounded, listing
reads sending held writes first, a failed send failing the transaction, and
structures kept for one transaction only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    ConflictError,
    StepProgress,
    StepState,
    StorageError,
)
from mlc_progress.adapters import SQLiteStore

from .test_service_support import ORG, T0, structure


class Recording(sqlite3.Connection):
    """A driver connection that records every statement; ``fail`` makes the
    next statement starting with it raise a driver error."""

    statements: ClassVar[list[str]] = []
    fail: ClassVar[str | None] = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cls = type(self)
        cls.statements.append(sql)
        if cls.fail is not None and sql.startswith(cls.fail):
            cls.fail = None
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return super().execute(sql, parameters)


def sent(prefix: str) -> int:
    """How many recorded statements start with ``prefix``."""
    return sum(1 for sql in Recording.statements if sql.startswith(prefix))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    Recording.statements = []
    Recording.fail = None
    with SQLiteStore(tmp_path / "p.db", connection_factory=Recording) as made:
        yield made
    Recording.fail = None


def step(step_id: str = "s1", student_id: str = "u1", **changes: Any) -> StepProgress:
    fields: dict[str, Any] = {"target_score": 80.0, **changes}
    return StepProgress(
        step_id=step_id, assignment_id="a1", student_id=student_id, **fields
    )


def assignment(student_id: str = "u1", **changes: Any) -> AssignmentProgress:
    fields: dict[str, Any] = {"steps_total": 2, **changes}
    return AssignmentProgress(assignment_id="a1", student_id=student_id, **fields)


def stored_row(store: SQLiteStore, table: str, student_id: str = "u1") -> Any:
    """The (version, body) of a row, read by a plain driver connection."""
    with sqlite3.connect(store.path) as conn:
        return conn.execute(
            f"SELECT version, body FROM {table} WHERE organization_id = ?"
            " AND student_id = ?",
            (ORG, student_id),
        ).fetchone()


def seed(store: SQLiteStore) -> None:
    """One step and one assignment record of u1, at version 1."""
    with store.unit_of_work() as uow:
        uow.progress.put_step(ORG, step(), expected_version=0)
        uow.progress.put_assignment(ORG, assignment(), expected_version=0)
        uow.commit()
    Recording.statements.clear()


# -- the identity map ---------------------------------------------------------------


def test_a_record_read_twice_in_a_transaction_is_queried_once(
    store: SQLiteStore,
) -> None:
    """The second read of a step group and of an assignment in one
    transaction sends no query and returns the same records."""
    seed(store)
    with store.unit_of_work() as uow:
        first = (
            uow.progress.steps(ORG, "u1", "a1"),
            uow.progress.assignment(ORG, "u1", "a1"),
        )
        again = (
            uow.progress.steps(ORG, "u1", "a1"),
            uow.progress.assignment(ORG, "u1", "a1"),
        )
    assert again == first
    assert sent("SELECT step_id, version, body FROM step_progress") == 1
    assert sent("SELECT version, body FROM assignment_progress") == 1


def test_a_read_after_a_write_is_answered_from_the_write(store: SQLiteStore) -> None:
    """After writes in the transaction, reads return them without a query,
    and nothing is written to the file before commit."""
    seed(store)
    later = step(state=StepState.AVAILABLE, available_at=T0)
    with store.unit_of_work() as uow:
        uow.progress.steps(ORG, "u1", "a1")
        uow.progress.assignment(ORG, "u1", "a1")
        Recording.statements.clear()
        uow.progress.put_step(ORG, later, expected_version=1)
        uow.progress.put_assignment(ORG, assignment(steps_total=3), expected_version=1)
        read = uow.progress.steps(ORG, "u1", "a1")["s1"]
        found = uow.progress.assignment(ORG, "u1", "a1")
        assert Recording.statements == []
    assert (read.record, read.version) == (later, 2)
    assert found is not None
    assert (found.record, found.version) == (assignment(steps_total=3), 2)


def test_repeated_writes_of_a_key_send_one_update_at_commit(
    store: SQLiteStore,
) -> None:
    """Three writes of a read step and assignment send nothing until commit,
    then one UPDATE each, from the version read to the last version, with the
    last record."""
    seed(store)
    with store.unit_of_work() as uow:
        uow.progress.steps(ORG, "u1", "a1")
        uow.progress.assignment(ORG, "u1", "a1")
        for version in (1, 2, 3):
            uow.progress.put_step(
                ORG, step(target_score=60.0 + version), expected_version=version
            )
            uow.progress.put_assignment(
                ORG, assignment(steps_total=2 + version), expected_version=version
            )
        assert sent("UPDATE") == 0
        uow.commit()
    assert sent("UPDATE step_progress") == 1
    assert sent("UPDATE assignment_progress") == 1
    version, body = stored_row(store, "step_progress")
    assert (version, '"target_score":63.0' in body) == (4, True)
    version, body = stored_row(store, "assignment_progress")
    assert (version, '"steps_total":5' in body) == (4, True)


def test_a_new_record_written_twice_is_inserted_once_at_its_last_version(
    store: SQLiteStore,
) -> None:
    """A record created and changed in one transaction goes out as one INSERT
    at version 2."""
    with store.unit_of_work() as uow:
        assert uow.progress.steps(ORG, "u1", "a1") == {}
        assert uow.progress.assignment(ORG, "u1", "a1") is None
        uow.progress.put_step(ORG, step(), expected_version=0)
        uow.progress.put_step(ORG, step(target_score=70.0), expected_version=1)
        uow.progress.put_assignment(ORG, assignment(), expected_version=0)
        uow.progress.put_assignment(ORG, assignment(steps_total=4), expected_version=1)
        uow.commit()
    assert sent("INSERT INTO step_progress") == 1
    assert sent("INSERT INTO assignment_progress") == 1
    assert sent("UPDATE") == 0
    assert stored_row(store, "step_progress")[0] == 2
    assert stored_row(store, "assignment_progress")[0] == 2


def test_a_stale_write_of_a_read_record_is_refused_at_the_put(
    store: SQLiteStore,
) -> None:
    """A read record written at a version it no longer has raises
    ConflictError at the put, before anything is sent; leaving the block
    stores nothing."""
    seed(store)
    with store.unit_of_work() as uow:
        uow.progress.steps(ORG, "u1", "a1")
        uow.progress.put_step(ORG, step(target_score=70.0), expected_version=1)
        with pytest.raises(ConflictError):
            uow.progress.put_step(ORG, step(target_score=75.0), expected_version=1)
        assert sent("UPDATE") == 0
    assert stored_row(store, "step_progress")[0] == 1


def test_a_record_not_read_is_written_through_and_checked_by_the_file(
    store: SQLiteStore,
) -> None:
    """A write of a record the transaction did not read goes out at once as
    UPDATE ... WHERE version = expected; a stale one is refused by it."""
    seed(store)
    with store.unit_of_work() as uow:
        uow.progress.put_assignment(ORG, assignment(steps_total=3), expected_version=1)
        assert sent("UPDATE assignment_progress") == 1
        with pytest.raises(ConflictError):
            uow.progress.put_step(ORG, step(target_score=70.0), expected_version=4)
        assert sent("UPDATE step_progress") == 1
        uow.commit()
    assert stored_row(store, "assignment_progress")[0] == 2
    assert stored_row(store, "step_progress")[0] == 1


def test_a_rollback_discards_the_map_and_the_held_writes(store: SQLiteStore) -> None:
    """A block left without commit forgets what it read and held: the same
    unit of work, used again after the file changed, reads the file, and
    its commit sends none of the forgotten writes."""
    seed(store)
    uow = store.unit_of_work()
    with uow:
        uow.progress.steps(ORG, "u1", "a1")
        uow.progress.put_step(ORG, step(target_score=70.0), expected_version=1)
    with sqlite3.connect(store.path) as other:
        other.execute(
            "UPDATE step_progress SET version = 5 WHERE organization_id = ?", (ORG,)
        )
    Recording.statements.clear()
    with uow:
        found = uow.progress.steps(ORG, "u1", "a1")["s1"]
        uow.commit()
    assert (found.record, found.version) == (step(), 5)
    assert sent("UPDATE") == 0
    assert stored_row(store, "step_progress")[0] == 5


def test_a_bounded_map_sends_its_held_writes_before_forgetting(
    tmp_path: Path,
) -> None:
    """With room for 3 records, a transaction reading and writing 10 students
    twice each stores every last write at version 2 (held writes are sent
    before the map is emptied)."""
    with SQLiteStore(tmp_path / "p.db", cache_size=3) as small:
        students = [f"u{i}" for i in range(10)]
        with small.unit_of_work() as uow:
            for student in students:
                assert uow.progress.assignment(ORG, student, "a1") is None
                uow.progress.put_assignment(
                    ORG, assignment(student), expected_version=0
                )
            for student in students:
                read = uow.progress.assignment(ORG, student, "a1")
                assert read is not None
                uow.progress.put_assignment(
                    ORG,
                    assignment(student, steps_total=7),
                    expected_version=read.version,
                )
            uow.commit()
        for student in students:
            version, body = stored_row(small, "assignment_progress", student)
            assert (version, '"steps_total":7' in body) == (2, True)


def test_listing_reads_send_the_held_writes_first(store: SQLiteStore) -> None:
    """A student's assignments, the raw reads and the roster listing run
    after the held writes went out, so they list them."""
    seed(store)
    with store.unit_of_work() as uow:
        uow.progress.assignment(ORG, "u1", "a1")
        uow.progress.put_assignment(
            ORG, assignment(status=AssignmentStatus.IN_PROGRESS), expected_version=1
        )
        assert sent("UPDATE") == 0
        listed = uow.progress.assignments_for_student(ORG, "u1")
        assert sent("UPDATE assignment_progress") == 1
        raw = uow.raw.assignment(ORG, "u1", "a1")
        uow.commit()
    assert [r.version for r in listed] == [2]
    assert raw is not None
    assert raw.version == 2
    assert sent("UPDATE assignment_progress") == 1


def test_a_failed_send_fails_the_whole_transaction(store: SQLiteStore) -> None:
    """When sending a held write fails, commit raises StorageError; a second
    commit of the same block is refused too, and nothing is stored."""
    seed(store)
    with store.unit_of_work() as uow:
        uow.progress.steps(ORG, "u1", "a1")
        uow.progress.put_step(ORG, step(target_score=70.0), expected_version=1)
        uow.progress.put_step(ORG, step("s2"), expected_version=0)
        Recording.fail = "UPDATE step_progress"
        with pytest.raises(StorageError, match="injected"):
            uow.commit()
        with pytest.raises(StorageError, match="failed"):
            uow.commit()
    assert stored_row(store, "step_progress")[0] == 1
    with store.unit_of_work() as uow:
        assert set(uow.progress.steps(ORG, "u1", "a1")) == {"s1"}


# -- the catalog --------------------------------------------------------------------


def test_a_structure_is_read_once_per_transaction(store: SQLiteStore) -> None:
    """Inside one transaction the catalog is queried once per assignment;
    each new transaction queries it again."""
    store.catalog.add_assignment(ORG, structure())
    Recording.statements.clear()
    for _ in range(2):
        with store.unit_of_work():
            first = store.catalog.assignment(ORG, "a1")
            assert store.catalog.assignment(ORG, "a1") is first
    assert sent("SELECT body FROM assignment_structures") == 2


def test_a_new_catalog_version_is_seen_by_the_next_transaction(
    store: SQLiteStore,
) -> None:
    """A version added between transactions is what the next one reads, and
    reads outside a transaction always go to the file."""
    store.catalog.add_assignment(ORG, structure())
    with store.unit_of_work():
        assert store.catalog.assignment(ORG, "a1").version == 1
    newer = attrs.evolve(structure(steps=5), version=2)
    store.catalog.add_assignment(ORG, newer)
    with store.unit_of_work():
        assert store.catalog.assignment(ORG, "a1") == newer
    newest = attrs.evolve(structure(steps=6), version=3)
    store.catalog.add_assignment(ORG, newest)
    assert store.catalog.assignment(ORG, "a1") == newest
    assert store.catalog.assignment(ORG, "a1") == newest
