"""What the SQLite adapter promises beyond the shared contract.

WAL and the synchronous setting, versioned migrations, organization_id in
every key, triggers on append-only tables, busy and driver errors translated,
records stored and read back exactly.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    ConflictError,
    InvalidInputError,
    StorageError,
    audit_organization,
)
from mlc_progress._corruption import CorruptRecordError
from mlc_progress._inconsistency import CorrectionRecord
from mlc_progress.adapters import SQLiteStore
from mlc_progress.adapters.sqlite import APPEND_ONLY_TABLES, MIGRATIONS
from mlc_progress.testing import strategies as gen

from .test_service_support import (
    NOW,
    ORG,
    OVERRIDER,
    T0,
    attempt,
    dump,
    make_adapter,
    override,
    structure,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "progress.db") as made:
        yield made


def raw(store: SQLiteStore) -> sqlite3.Connection:
    """A plain driver connection to the store's file, in autocommit mode."""
    return sqlite3.connect(store.path, isolation_level=None)


# -- journal and durability -----------------------------------------------------------


def test_the_journal_is_wal(store: SQLiteStore) -> None:
    """The database file is in WAL mode."""
    with raw(store) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(("setting", "level"), [("NORMAL", 1), ("FULL", 2)])
def test_the_synchronous_setting_is_applied(
    tmp_path: Path, setting: Any, level: int
) -> None:
    """NORMAL (process-crash safe, the default) or FULL (power-loss safe) is
    the connection's PRAGMA synchronous."""
    with SQLiteStore(tmp_path / "p.db", synchronous=setting) as store:
        assert store.synchronous == setting
        assert store._connection().execute("PRAGMA synchronous").fetchone()[0] == level


def test_normal_is_the_default_synchronous_setting(store: SQLiteStore) -> None:
    """By default a store is process-crash safe: synchronous NORMAL in WAL."""
    assert store.synchronous == "NORMAL"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"synchronous": "OFF"}, "synchronous"),
        ({"busy_timeout_ms": -1}, "busy_timeout_ms"),
        ({"busy_timeout_ms": True}, "busy_timeout_ms"),
        ({"cache_size": 0}, "cache_size"),
    ],
)
def test_unsafe_or_malformed_options_are_refused(
    tmp_path: Path, options: dict[str, Any], field: str
) -> None:
    """Only NORMAL and FULL are offered; the busy timeout is a count of ms."""
    with pytest.raises(InvalidInputError) as raised:
        SQLiteStore(tmp_path / "p.db", **options)
    assert raised.value.field == field


@pytest.mark.parametrize("path", [":memory:", "file::memory:?cache=shared", ""])
def test_a_memory_database_is_refused(path: str) -> None:
    """SQLiteStore needs a file; InMemoryStore is the in-memory adapter."""
    with pytest.raises(InvalidInputError, match="InMemoryStore"):
        SQLiteStore(path)


# -- schema ---------------------------------------------------------------------------


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    """Opening a new file applies every migration and records it; reopening
    applies none again."""
    path = tmp_path / "p.db"
    with SQLiteStore(path) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]
    with SQLiteStore(path) as store:
        with raw(store) as conn:
            rows = conn.execute(
                "SELECT version, name FROM schema_migrations ORDER BY version"
            ).fetchall()
        assert rows == [(number, name) for number, name, _ in MIGRATIONS]


def test_a_later_migration_is_applied_to_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file made by an older schema gets the new migrations when opened,
    and keeps its data."""
    with make_adapter("sqlite", tmp_path) as adapter:
        adapter.service().apply(ORG, attempt("t1"))
        path = adapter.store.path
    newer = (
        *MIGRATIONS,
        (len(MIGRATIONS) + 1, "an index", ("CREATE INDEX extra ON outbox (event)",)),
    )
    monkeypatch.setattr("mlc_progress.adapters.sqlite.MIGRATIONS", newer)
    with SQLiteStore(path) as store:
        assert store.schema_version() == len(newer)
        with raw(store) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "extra" in names
        assert dump(store)["attempts u1/a1"] == (attempt("t1"),)


def test_a_database_from_a_newer_library_is_refused(store: SQLiteStore) -> None:
    """A schema version beyond this library's raises StorageError on open."""
    with raw(store) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'now')")
    with pytest.raises(StorageError, match="upgrade"):
        SQLiteStore(store.path)


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE"
        " 'sqlite_%' AND name != 'schema_migrations' ORDER BY name"
    )
    return [name for (name,) in rows]


def test_every_key_starts_with_the_organization(store: SQLiteStore) -> None:
    """Every table's primary key begins with organization_id (D19)."""
    with raw(store) as conn:
        tables = _tables(conn)
        # Every table the migrations create, however many later ones add.
        core = {"step_progress", "assignment_progress", "command_log", "outbox"}
        assert core <= set(tables)
        for table in tables:
            columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
            key = sorted((c[5], c[1]) for c in columns if c[5] > 0)
            assert key[0] == (1, "organization_id"), table


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_append_only_tables_refuse_update_and_delete(
    tmp_path: Path, table: str, verb: str
) -> None:
    """A trigger aborts any UPDATE or DELETE on an append-only table, even from
    outside the library; the rows stay (D18)."""
    with make_adapter("sqlite", tmp_path) as adapter:
        service = adapter.service()
        service.apply(ORG, attempt("t1", score=90.0))
        service.apply(ORG, override("c1", step_id="s2"), actor=OVERRIDER)
        service.relay_events(ORG, _Discard())
        with raw(adapter.store) as conn:
            column = conn.execute(f"PRAGMA table_info({table})").fetchone()[1]
            statement = (
                f"UPDATE {table} SET {column} = {column}"
                if verb == "UPDATE"
                else f"DELETE FROM {table}"
            )
            before = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert before > 0
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
            after = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert after == before


class _Discard:
    def publish(self, organization_id: str, destination: Any, envelope: Any) -> None:
        pass


# -- errors -----------------------------------------------------------------------------


def test_a_busy_database_raises_a_retryable_storage_error(tmp_path: Path) -> None:
    """A writer that cannot get the lock within busy_timeout_ms gets
    StorageError(retryable=True); once the lock is free, work goes on."""
    path = tmp_path / "p.db"
    with SQLiteStore(path, busy_timeout_ms=20) as store:
        holder = raw(store)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageError) as raised, store.unit_of_work():
                pass  # pragma: no cover - the lock is never granted
            assert raised.value.retryable
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        with store.unit_of_work() as uow:
            assert not uow.commands.contains(ORG, "t1")


def test_the_service_gives_up_on_a_database_that_stays_busy(tmp_path: Path) -> None:
    """The service retries a busy database max_retries times, then raises the
    retryable StorageError; nothing is stored."""
    with make_adapter("sqlite", tmp_path) as adapter:
        adapter.reopen(busy_timeout_ms=10)
        holder = raw(adapter.store)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageError) as raised:
                adapter.service(max_retries=2).apply(ORG, attempt("t1"))
            assert raised.value.retryable
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert dump(adapter.store)["attempts u1/a1"] == ()
        assert adapter.service().apply(ORG, attempt("t1")).applied


class _Failing(sqlite3.Connection):
    """A connection whose next matching statement raises ``error``."""

    error: sqlite3.Error | None = None
    match = ""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        failing = type(self).error
        if failing is not None and sql.startswith(type(self).match):
            type(self).error = None
            raise failing
        return super().execute(sql, parameters)


@pytest.mark.parametrize(
    ("error", "expected", "retryable"),
    [
        (sqlite3.OperationalError("disk I/O error"), StorageError, False),
        (sqlite3.OperationalError("database is locked"), StorageError, True),
        (
            sqlite3.DatabaseError("database disk image is malformed"),
            StorageError,
            False,
        ),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), ConflictError, None),
    ],
    ids=["io", "locked", "corrupt", "constraint"],
)
def test_driver_errors_become_the_librarys_errors(
    tmp_path: Path, error: sqlite3.Error, expected: type[Exception], retryable: Any
) -> None:
    """sqlite3 errors are translated: busy or locked to a retryable
    StorageError, constraint violations to ConflictError, others to StorageError."""

    class Failing(_Failing):
        pass

    with SQLiteStore(tmp_path / "p.db", connection_factory=Failing) as store:
        Failing.error, Failing.match = error, "SELECT 1 FROM command_log"
        with store.unit_of_work() as uow, pytest.raises(expected) as raised:
            uow.commands.contains(ORG, "t1")
        assert raised.value.__cause__ is error
        if retryable is not None:
            assert isinstance(raised.value, StorageError)
            assert raised.value.retryable is retryable


def test_a_corrupt_stored_record_is_not_read_silently(tmp_path: Path) -> None:
    """A stored record that breaks an invariant raises InvalidInputError on
    read, naming the field (D4)."""
    with make_adapter("sqlite", tmp_path) as adapter:
        adapter.service().apply(ORG, attempt("t1"))
        store = adapter.store
        with raw(store) as conn:
            conn.execute(
                "UPDATE step_progress SET body = replace(body,"
                " '\"attempt_count\":1', '\"attempt_count\":-1')"
            )
        with store.unit_of_work() as uow, pytest.raises(InvalidInputError) as raised:
            uow.progress.steps(ORG, "u1", "a1")
        assert raised.value.field == "attempt_count"


def test_a_second_unit_of_work_on_one_thread_is_refused(store: SQLiteStore) -> None:
    """Nesting units of work on one thread's connection raises StorageError."""
    with store.unit_of_work():
        with pytest.raises(StorageError, match="another unit of work"):
            store.unit_of_work().__enter__()
        with pytest.raises(StorageError):
            store.catalog.add_assignment(ORG, structure())


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    """After close(), a unit of work raises StorageError."""
    store = SQLiteStore(tmp_path / "p.db")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.unit_of_work().__enter__()


def test_each_thread_has_its_own_connection(store: SQLiteStore) -> None:
    """Two threads get two connections; both see the same committed data."""
    seen: list[sqlite3.Connection] = []

    def use() -> None:
        seen.append(store._connection())

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()
    assert seen[0] is not store._connection()


def test_integrity_check_reports_ok(store: SQLiteStore) -> None:
    """integrity_check() runs PRAGMA integrity_check."""
    assert store.integrity_check() == "ok"


# -- records round trip -----------------------------------------------------------------


_ROUND_TRIP = settings(
    max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_ROUND_TRIP
@given(
    step=gen.step_progress(),
    assignment=gen.assignment_progress(),
    sequence=gen.sequence_progress(),
    summary=gen.student_progress_summaries(organization_id=ORG),
)
def test_any_record_reads_back_equal(
    store: SQLiteStore, step: Any, assignment: Any, sequence: Any, summary: Any
) -> None:
    """Every valid record is stored as JSON and read back equal."""
    with store.unit_of_work() as uow:
        progress = uow.progress
        found = progress.steps(ORG, step.student_id, step.assignment_id).get(
            step.step_id
        )
        progress.put_step(ORG, step, expected_version=found.version if found else 0)
        old = progress.assignment(ORG, assignment.student_id, assignment.assignment_id)
        progress.put_assignment(
            ORG, assignment, expected_version=old.version if old else 0
        )
        old_seq = progress.sequence(ORG, sequence.student_id, sequence.sequence_id)
        progress.put_sequence(
            ORG, sequence, expected_version=old_seq.version if old_seq else 0
        )
        old_sum = uow.summaries.get(ORG, summary.student_id)
        uow.summaries.put(
            ORG, summary, expected_version=old_sum.version if old_sum else 0
        )
        uow.commit()
    # A second store over the file has no cache: it reads what was stored.
    with SQLiteStore(store.path) as fresh, fresh.unit_of_work() as uow:
        progress = uow.progress
        assert (
            progress.steps(ORG, step.student_id, step.assignment_id)[
                step.step_id
            ].record
            == step
        )
        read = progress.assignment(ORG, assignment.student_id, assignment.assignment_id)
        assert read is not None
        assert read.record == assignment
        read_seq = progress.sequence(ORG, sequence.student_id, sequence.sequence_id)
        assert read_seq is not None
        assert read_seq.record == sequence
        read_sum = uow.summaries.get(ORG, summary.student_id)
        assert read_sum is not None
        assert read_sum.record == summary


@_ROUND_TRIP
@given(
    snapshots=st.lists(
        gen.progress_snapshots(), max_size=3, unique_by=lambda s: s.snapshot_id
    )
)
def test_any_snapshot_reads_back_equal(store: SQLiteStore, snapshots: Any) -> None:
    """Snapshots read back equal, whatever their JSON state holds."""
    org = f"org-{id(snapshots)}"
    with store.unit_of_work() as uow:
        for snapshot in snapshots:
            uow.snapshots.append(org, snapshot)
        uow.commit()
    with SQLiteStore(store.path) as fresh, fresh.unit_of_work() as uow:
        for snapshot in snapshots:
            assert snapshot in uow.snapshots.for_student(org, snapshot.student_id)


def test_every_event_class_reads_back_from_the_outbox(tmp_path: Path) -> None:
    """Events of every kind the service emits, sequence milestones included,
    read back equal from the outbox."""
    with make_adapter("sqlite", tmp_path) as adapter:
        service = adapter.service()
        outcomes = [
            service.apply(ORG, attempt("t1", assignment_id="a2", score=90.0)),
            service.apply(
                ORG, attempt("t2", assignment_id="a2", step_id="s2", score=90.0)
            ),
        ]
        adapter.reopen()  # read from the file, not from a cache
        stored = [e for e, _ in dump(adapter.store)["outbox"]]
    emitted = [e for o in outcomes for e in o.events]
    assert stored == emitted
    assert {type(e).name for e in emitted} >= {
        "step_progress_updated",
        "assignment_progress_milestone",
        "sequence_progress_milestone",
        "progress_snapshot_created",
    }


# -- what cannot be stored, and rows that cannot be read -----------------------------


def test_text_utf8_cannot_hold_is_refused_with_a_typed_error(tmp_path: Path) -> None:
    """A lone surrogate in a correction's copy of corrupt stored data (ids,
    texts and the other records' mappings refuse one at construction) is
    refused as InvalidInputError; nothing is stored."""
    correction = CorrectionRecord(
        correction_id="c1",
        repair_id="r1",
        student_id="u1",
        assignment_id="a1",
        step_id="s1",
        before={"note": "a" + chr(0xD800)},
        after={"note": "a"},
        reason="repair",
        violations=(),
        from_attempt_log=False,
        actor_id="system",
        corrected_at=T0,
    )
    with SQLiteStore(tmp_path / "p.db") as store:
        with store.unit_of_work() as uow:
            with pytest.raises(InvalidInputError) as raised:
                uow.corrections.append(ORG, correction)
            uow.commit()
        assert raised.value.field == "text"
        with store.unit_of_work() as uow:
            assert uow.corrections.for_student(ORG, "u1") == ()


def test_an_integer_json_cannot_write_is_refused_naming_its_field(
    tmp_path: Path,
) -> None:
    """A valid attempt whose duration has more digits than Python writes as
    text is refused as InvalidInputError naming ``duration_ms``, not a bare
    ValueError, and nothing of it is stored."""
    huge = attrs.evolve(attempt("t1"), duration_ms=10**5000)
    with make_adapter("sqlite", tmp_path) as adapter:
        with pytest.raises(InvalidInputError) as raised:
            adapter.service().apply(ORG, huge)
        assert raised.value.field == "duration_ms"
        with adapter.store.unit_of_work() as uow:
            assert uow.attempts.for_assignment(ORG, "u1", "a1") == ()


CORRUPT_BODIES = {
    "nested too deep": "[" * 100_000 + "]" * 100_000,
    "an integer of 5000 digits": '{"steps_total": ' + "9" * 5000 + "}",
}


def _corrupt_assignment(store: SQLiteStore, body: str) -> None:
    with store.unit_of_work() as uow:
        uow.progress.put_assignment(
            ORG,
            AssignmentProgress(assignment_id="a1", student_id="u1"),
            expected_version=0,
        )
        uow.commit()
    with raw(store) as conn:
        conn.execute("UPDATE assignment_progress SET body = ?", (body,))


@pytest.mark.parametrize("body", CORRUPT_BODIES.values(), ids=CORRUPT_BODIES.keys())
def test_a_row_json_cannot_read_is_a_corrupt_record(
    store: SQLiteStore, body: str
) -> None:
    """Stored text that is not readable JSON, however it fails, raises
    CorruptRecordError on a typed read (D18)."""
    _corrupt_assignment(store, body)
    with store.unit_of_work() as uow, pytest.raises(CorruptRecordError):
        uow.progress.assignment(ORG, "u1", "a1")


def test_the_audit_reads_a_row_json_cannot_read(store: SQLiteStore) -> None:
    """The raw read the audit relies on returns such a row instead of failing,
    so the audit checks the student (D18)."""
    _corrupt_assignment(store, CORRUPT_BODIES["an integer of 5000 digits"])
    with store.unit_of_work() as uow:
        found = uow.raw.assignment(ORG, "u1", "a1")
    assert found is not None
    assert found.version == 1
    report = audit_organization(store, store.catalog, ORG, as_of=NOW, repair=False)
    assert report.students_checked == 1


def test_a_process_forked_in_a_transaction_reads_the_catalog_from_the_file(
    tmp_path: Path,
) -> None:
    """A child forked inside a unit of work has no transaction of its own:
    its catalog reads go to the file (Q128), not to the parent's per-
    transaction copy, so it sees a version published after the fork."""
    store = SQLiteStore(tmp_path / "p.db")
    store.catalog.add_assignment(ORG, structure())
    answer_r, answer_w = os.pipe()
    go_r, go_w = os.pipe()
    with store.unit_of_work():
        assert store.catalog.assignment(ORG, "a1").version == 1
        pid = os.fork()
        if pid == 0:  # the child
            try:
                os.read(go_r, 1)  # until version 2 is published
                found = store.catalog.assignment(ORG, "a1").version
            except BaseException:
                found = -1
            os.write(answer_w, str(found).encode())
            os._exit(0)
    store.catalog.add_assignment(ORG, attrs.evolve(structure(), version=2))
    os.write(go_w, b"x")
    found = int(os.read(answer_r, 16))
    os.waitpid(pid, 0)
    store.close()
    assert found == 2
