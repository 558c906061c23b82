"""SQLite adapters: the embedded default, on the standard library's ``sqlite3``.

One database file holds every port. Write transactions start with
``BEGIN IMMEDIATE``, so a read-modify-write holds the write lock from its
first read; a writer that waits longer than ``busy_timeout_ms`` gets a
:class:`StorageError` with ``retryable=True``, which the service retries.
The journal is WAL. ``synchronous="NORMAL"`` (the default) survives a crash
of the process at any moment; ``synchronous="FULL"`` also survives a power
loss, at the price of an fsync per commit.

Records are stored as JSON made by the one converter
(:mod:`mlc_progress._serialization`), beside indexed key columns; every key
starts with ``organization_id``. Append-only tables have triggers that abort
any ``UPDATE`` or ``DELETE``. The schema is versioned: ``schema_migrations``
lists the migrations applied, and opening a store applies the missing ones.
Driver errors come out as the library's errors.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Literal, NoReturn, Self, TypeVar

from .._commands import AuditEntry
from .._corruption import CorruptRecordError
from .._enums import ScopeType
from .._errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from .._events import Event
from .._inconsistency import CorrectionRecord
from .._permissions import AccessLogEntry
from .._ports import (
    LOGGED_COMMAND_TYPES,
    BatchJobProgress,
    CommandRecord,
    Enrollment,
    OutboxEntry,
    RawRecord,
    Versioned,
)
from .._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from .._risk import DismissalStats, RiskState
from .._serialization import event_from_dict, structure
from .._structure import AssignmentStructure, Attempt, SequenceStructure
from .._validate import RULE_TEXT as _RULE_TEXT
from .._validate import to_utc
from ._encoding import encode, encode_event

__all__ = [
    "APPEND_ONLY_TABLES",
    "MIGRATIONS",
    "SQLiteCatalog",
    "SQLiteStore",
    "SQLiteUnitOfWork",
]

T = TypeVar("T")

#: Tables whose rows are never updated or deleted (triggers enforce it).
APPEND_ONLY_TABLES = (
    "schema_migrations",
    "command_log",
    "attempt_log",
    "snapshots",
    "audit_log",
    "outbox",
    "outbox_deliveries",
    "assignment_structures",
    "sequence_structures",
)


def _append_only(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    )


_SCHEMA_1 = (
    """CREATE TABLE step_progress (
        organization_id TEXT NOT NULL, student_id TEXT NOT NULL,
        assignment_id TEXT NOT NULL, step_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, student_id, assignment_id, step_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE assignment_progress (
        organization_id TEXT NOT NULL, student_id TEXT NOT NULL,
        assignment_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, student_id, assignment_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE sequence_progress (
        organization_id TEXT NOT NULL, student_id TEXT NOT NULL,
        sequence_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, student_id, sequence_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE student_summaries (
        organization_id TEXT NOT NULL, student_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, student_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE command_log (
        organization_id TEXT NOT NULL, command_id TEXT NOT NULL,
        kind TEXT NOT NULL, body TEXT NOT NULL, recorded_at TEXT NOT NULL,
        PRIMARY KEY (organization_id, command_id)
    ) WITHOUT ROWID""",
    # Rowid tables below: the rowid keeps the order of appends.
    """CREATE TABLE attempt_log (
        organization_id TEXT NOT NULL, attempt_id TEXT NOT NULL,
        student_id TEXT NOT NULL, assignment_id TEXT NOT NULL,
        step_id TEXT NOT NULL, attempted_at TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, attempt_id)
    )""",
    """CREATE INDEX attempt_log_by_assignment
        ON attempt_log (organization_id, student_id, assignment_id)""",
    """CREATE TABLE snapshots (
        organization_id TEXT NOT NULL, snapshot_id TEXT NOT NULL,
        student_id TEXT NOT NULL, scope_type TEXT NOT NULL,
        scope_id TEXT NOT NULL, snapshot_date TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, snapshot_id)
    )""",
    "CREATE INDEX snapshots_by_student ON snapshots (organization_id, student_id)",
    """CREATE TABLE audit_log (
        organization_id TEXT NOT NULL, audit_id TEXT NOT NULL,
        student_id TEXT NOT NULL, occurred_at TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, audit_id)
    )""",
    "CREATE INDEX audit_log_by_student ON audit_log (organization_id, student_id)",
    """CREATE TABLE outbox (
        organization_id TEXT NOT NULL, event_id TEXT NOT NULL,
        student_id TEXT, event TEXT NOT NULL,
        destination TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, event_id)
    )""",
    "CREATE INDEX outbox_by_organization ON outbox (organization_id)",
    """CREATE TABLE outbox_deliveries (
        organization_id TEXT NOT NULL, event_id TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        PRIMARY KEY (organization_id, event_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE assignment_structures (
        organization_id TEXT NOT NULL, assignment_id TEXT NOT NULL,
        version INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, assignment_id, version)
    ) WITHOUT ROWID""",
    """CREATE TABLE sequence_structures (
        organization_id TEXT NOT NULL, sequence_id TEXT NOT NULL,
        revision INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, sequence_id, revision)
    ) WITHOUT ROWID""",
    *(sql for table in APPEND_ONLY_TABLES for sql in _append_only(table)),
)

# The batch runner's tables: current records, versioned like the others.
_SCHEMA_2 = (
    """CREATE TABLE enrollments (
        organization_id TEXT NOT NULL, student_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, student_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE risk_states (
        organization_id TEXT NOT NULL, student_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, student_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE dismissal_stats (
        organization_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE batch_jobs (
        organization_id TEXT NOT NULL, job_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0), body TEXT NOT NULL,
        PRIMARY KEY (organization_id, job_id)
    ) WITHOUT ROWID""",
    # A student's recent attempts and activity days, for batch summaries.
    """CREATE INDEX attempt_log_by_student_time
        ON attempt_log (organization_id, student_id, attempted_at)""",
)

# The reconciliation service's correction records (D18): append-only, with
# the same abort triggers as the tables of migration 1; the rowid keeps the
# order of appends.
_SCHEMA_CORRECTIONS = (
    """CREATE TABLE corrections (
        organization_id TEXT NOT NULL, correction_id TEXT NOT NULL,
        student_id TEXT NOT NULL, assignment_id TEXT NOT NULL, step_id TEXT,
        repair_id TEXT NOT NULL, corrected_at TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, correction_id)
    )""",
    "CREATE INDEX corrections_by_student ON corrections (organization_id, student_id)",
    *_append_only("corrections"),
)

# The access decisions of the service and the reports (D19): append-only,
# with the abort triggers; the rowid keeps the order of appends.
_SCHEMA_ACCESS = (
    """CREATE TABLE access_log (
        organization_id TEXT NOT NULL, entry_id TEXT NOT NULL,
        student_id TEXT, occurred_at TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (organization_id, entry_id)
    )""",
    "CREATE INDEX access_log_by_student ON access_log (organization_id, student_id)",
    *_append_only("access_log"),
)

#: The schema, as numbered migrations; a database records those it applied.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "progress records, logs, outbox and catalog", _SCHEMA_1),
    (2, "roster, at-risk states, dismissal statistics and batch jobs", _SCHEMA_2),
    (3, "correction records of repairs", _SCHEMA_CORRECTIONS),
    (4, "the access log of authorization decisions", _SCHEMA_ACCESS),
)

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _translate(exc: sqlite3.Error, what: str) -> NoReturn:
    """Raise the library's error for a driver error."""
    if isinstance(exc, sqlite3.IntegrityError):
        if "append-only" in str(exc):
            raise StorageError(f"{what}: {exc}") from exc
        raise ConflictError(f"{what}: {exc}") from exc
    if _is_busy(exc):
        raise StorageError(
            f"{what}: the database is busy ({exc}); try again", retryable=True
        ) from exc
    raise StorageError(f"{what}: {exc}") from exc


def _loads(what: str, body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        # Not JSON (JSONDecodeError is a ValueError), an integer past
        # Python's digit limit, or nested past the recursion limit (D18).
        raise InvalidInputError(what, body[:80], f"stored JSON ({exc})") from None


def _unstorable(exc: UnicodeEncodeError, what: str) -> NoReturn:
    """Text SQLite cannot store: it keeps UTF-8, which has no lone
    surrogates. The validators refuse such ids and texts; this covers text
    inside a record's mappings."""
    raise InvalidInputError(
        "text", exc.object, f"{what}: {_RULE_TEXT}, as SQLite stores UTF-8"
    ) from None


# The fields of a current record that repeat its row's key (after the
# organization), by table.
_KEY_FIELDS = {
    "step_progress": ("student_id", "assignment_id", "step_id"),
    "assignment_progress": ("student_id", "assignment_id"),
    "sequence_progress": ("student_id", "sequence_id"),
    "student_summaries": ("student_id",),
}


def _check_key(key: tuple[str, ...], record: Any) -> None:
    """A record stored under another key is corrupt: it would be used as the
    record of a student, assignment or step it does not describe (D18)."""
    for field, expected in zip(_KEY_FIELDS.get(key[0], ()), key[2:], strict=False):
        value = getattr(record, field, expected)
        if value != expected:
            raise InvalidInputError(
                field, value, f"D18: the record stored under {field} {expected!r}"
            )


def _encode(record: Any) -> str:
    """The stored JSON of ``record``: the converter's text (see _encoding)."""
    return encode(record)


class SQLiteStore:
    """Every port in one SQLite database file.

    ``synchronous`` is ``"NORMAL"`` (the default: every committed transaction
    survives a crash of the process) or ``"FULL"`` (it also survives a power
    loss or an operating-system crash). ``busy_timeout_ms`` is how long a
    writer waits for the write lock before a retryable :class:`StorageError`.
    ``connection_factory`` is passed to :func:`sqlite3.connect` (a seam for
    tests that inject driver failures). Each thread uses its own connection;
    a forked process opens its own.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with SQLiteStore(pathlib.Path(folder) / "progress.db") as store:
    ...         store.schema_version() == MIGRATIONS[-1][0]
    True
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_ms: int = 5000,
        connection_factory: type[sqlite3.Connection] = sqlite3.Connection,
        cache_size: int = 4096,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInputError(
                "synchronous", synchronous, "NORMAL (process-crash safe) or FULL"
            )
        if not (
            isinstance(busy_timeout_ms, int)
            and not isinstance(busy_timeout_ms, bool)
            and busy_timeout_ms >= 0
        ):
            raise InvalidInputError(
                "busy_timeout_ms", busy_timeout_ms, "a non-negative integer"
            )
        if not (
            isinstance(cache_size, int)
            and not isinstance(cache_size, bool)
            and cache_size > 0
        ):
            raise InvalidInputError("cache_size", cache_size, "a positive integer")
        text = os.fspath(path)
        if text == ":memory:" or text.startswith("file::memory:") or not text:
            raise InvalidInputError(
                "path", text, "a database file (use InMemoryStore for memory)"
            )
        self._path = Path(text)
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._factory = connection_factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._cache: dict[tuple[type, str], Any] = {}
        self._records: dict[tuple[str, ...], tuple[str, Any]] = {}
        self._cache_size = cache_size
        self._last_encoded: tuple[Any, str] | None = None
        self._outbox_floors: dict[str, int] = {}
        self._closed = False
        self.catalog = SQLiteCatalog(self)
        self._migrate()

    # -- lifecycle ------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def synchronous(self) -> str:
        return self._synchronous

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this store opened (in this process)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._closed = True
        pid = os.getpid()
        for opened_in, conn in connections:
            # A connection inherited through fork belongs to the parent.
            if opened_in == pid:
                conn.close()

    def unit_of_work(self) -> SQLiteUnitOfWork:
        """A new transaction over this store (enter it with ``with``)."""
        return SQLiteUnitOfWork(self)

    def schema_version(self) -> int:
        """The number of the last migration applied to the database."""
        row = self._read("SELECT max(version) FROM schema_migrations", ())
        return int(row[0][0] or 0)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound database file."""
        rows = self._read("PRAGMA integrity_check", ())
        return "\n".join(str(r[0]) for r in rows)

    # -- connections ----------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"the store for {self._path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        pid = os.getpid()
        if conn is not None and self._local.pid == pid:
            return conn
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
                factory=self._factory,
            )
        except sqlite3.Error as exc:
            _translate(exc, f"opening {self._path}")
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"{self._path}: WAL journal unavailable ({mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                _translate(exc, f"opening {self._path}")
            raise
        self._local.conn = conn
        self._local.pid = pid
        self._local.owner = None
        with self._lock:
            self._connections.append((pid, conn))
        return conn

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        conn = self._connection()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            _translate(exc, "reading")
        except UnicodeEncodeError as exc:
            _unstorable(exc, "reading")

    def _migrate(self) -> None:
        conn = self._connection()
        latest = MIGRATIONS[-1][0]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    " applied_at TEXT NOT NULL)"
                )
                row = conn.execute("SELECT max(version) FROM schema_migrations")
                current = int(row.fetchone()[0] or 0)
                if current > latest:
                    raise StorageError(
                        f"{self._path} has schema version {current}; this library"
                        f" knows up to {latest}: upgrade mlc_progress"
                    )
                for version, name, statements in MIGRATIONS:
                    if version <= current:
                        continue
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES"
                        " (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                        (version, name),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            _translate(exc, f"migrating {self._path}")

    # -- decoding ---------------------------------------------------------------------

    # Structuring a record (its D4 validation included) is the costly part of
    # a read. Two caches avoid it; both compare the exact stored text, so
    # neither can serve a stale record: current records are kept by their key
    # with the body last read or written, everything else by its body.

    def _decode_record(self, key: tuple[str, ...], cls: type[T], body: str) -> T:
        """The current record stored under ``key`` with ``body``."""
        hit = self._records.get(key)
        if hit is not None and hit[0] == body:
            found: T = hit[1]
            return found
        try:
            record = structure(_loads(cls.__name__, body), cls)
            _check_key(key, record)
        except InvalidInputError as error:
            # D18: a corrupt row is named, never used; the audit reads it raw.
            raise CorruptRecordError(key[0], key[1:], error) from error
        self._keep(key, body, record)
        return record

    def _encode_record(self, key: tuple[str, ...], record: Any) -> str:
        """The body to store under ``key``; the next read of it is free."""
        body = _encode(record)
        self._keep(key, body, record)
        return body

    def _keep(self, key: tuple[str, ...], body: str, record: Any) -> None:
        if len(self._records) >= self._cache_size:
            self._records.clear()
        self._records[key] = (body, record)

    def _decode(self, cls: type[T], body: str) -> T:
        """A record from its stored JSON; parsed once per distinct body."""
        found: T | None = self._cache.get((cls, body))
        if found is None:
            found = structure(_loads(cls.__name__, body), cls)
            self._remember(cls, body, found)
        return found

    def _decode_event(self, body: str) -> Event:
        """An event from its stored D23 envelope, cached like records."""
        # Events are cached under the OutboxEntry class, their stored form.
        found: Event | None = self._cache.get((OutboxEntry, body))
        if found is None:
            found = event_from_dict(_loads("outbox", body))
            self._remember(OutboxEntry, body, found)
        return found

    def _remember(self, cls: type, body: str, record: Any) -> None:
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[(cls, body)] = record

    def _encode(self, record: Any) -> str:
        """The stored JSON of a log entry.

        The last one encoded is remembered: an attempt goes to the command
        log and to the attempt log, and is encoded once.
        """
        last = self._last_encoded
        if last is not None and last[0] is record:
            return last[1]
        body = _encode(record)
        self._last_encoded = (record, body)
        return body


class _Held:
    """A write of a current record held back until the transaction sends its
    writes: the row's key columns (their values are the key's, after the
    table), the version the file holds (``0``: no row) and the record to
    store with its new version."""

    __slots__ = ("columns", "record", "stored", "what")

    def __init__(
        self,
        columns: tuple[str, ...],
        stored: int,
        record: Versioned[Any],
        what: str,
    ) -> None:
        self.columns = columns
        self.stored = stored
        self.record = record
        self.what = what


# The key columns of the current-record tables written on the hot path.
_STEP_COLUMNS = ("organization_id", "student_id", "assignment_id", "step_id")
_ASSIGNMENT_COLUMNS = ("organization_id", "student_id", "assignment_id")
_SEQUENCE_COLUMNS = ("organization_id", "student_id", "sequence_id")


@functools.cache
def _select_sql(table: str, columns: tuple[str, ...]) -> str:
    where = " AND ".join(f"{c} = ?" for c in columns)
    return f"SELECT version, body FROM {table} WHERE {where}"


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}, version, body) VALUES ({marks}, ?, ?)"


@functools.cache
def _update_sql(table: str, columns: tuple[str, ...]) -> str:
    where = " AND ".join(f"{c} = ?" for c in columns)
    return f"UPDATE {table} SET version = ?, body = ? WHERE {where} AND version = ?"


def _check_version(current: int, expected: int, what: str) -> None:
    """Raise ConflictError unless ``expected`` is the version ``current``."""
    if current == expected:
        return
    if expected == 0:
        raise ConflictError(f"{what}: the record exists; version 0 is stale")
    raise ConflictError(f"{what}: the stored version is not {expected}")


class SQLiteUnitOfWork:
    """One ``BEGIN IMMEDIATE`` transaction on this thread's connection.

    The transaction holds the database's write lock from its first statement,
    so nothing else changes the file until it ends. That makes an identity
    map exact: each current record it reads or writes is kept by key, and a
    later read of that key in the transaction is answered from memory (no
    query, no decoding). A write of a record whose stored version is known
    this way is checked against it at once (a stale ``expected_version``
    raises :class:`ConflictError` at the put, as ever) and held back:
    repeated writes of one key merge, and ``commit()`` stores each held record
    once, at its last version, with ``UPDATE ... WHERE version = <stored>``
    before ``COMMIT``. A write of a key not read first goes to the file at
    once, checked by the same ``UPDATE``. Reads that list many rows (raw
    reads, a student's assignments, the roster) send the held writes first.
    Leaving without ``commit()`` discards the map and the held writes with
    the rest of the transaction. Appends to the logs go to the file at once,
    so a repeated id is refused at the append (D3).
    """

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = None
        self._marked = False
        self.progress = _Progress(self)
        self.summaries = _Summaries(self)
        self.commands = _Commands(self)
        self.attempts = _Attempts(self)
        self.snapshots = _Snapshots(self)
        self.audit = _Audit(self)
        self.outbox = _Outbox(self)
        self.roster = _Roster(self)
        self.risk = _Risk(self)
        self.jobs = _Jobs(self)
        self.corrections = _Corrections(self)
        self.raw = _Raw(self)
        self.access_log = _AccessLog(self)
        self._reset()

    def _reset(self) -> None:
        # The identity map: current records by (table, organization, *ids),
        # ``None`` for a key known to have no row; step records by group
        # (organization, student, assignment) when the group was read whole.
        self._rows: dict[tuple[str, ...], Versioned[Any] | None] = {}
        self._groups: dict[
            tuple[str, str, str], dict[str, Versioned[StepProgress]]
        ] = {}
        # Writes held back until commit (or a listing read), by key, in order.
        self._held: dict[tuple[str, ...], _Held] = {}
        # Structures the catalog read in this transaction.
        self._structures: dict[tuple[str, str, str], Any] = {}
        self._failed = False

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise StorageError("this unit of work is already in a transaction")
        store = self._store
        conn = store._connection()
        local = store._local
        if local.owner is not None:
            raise StorageError("another unit of work is open on this thread")
        if conn.in_transaction:
            # Left over from a rollback that failed: finish it first.
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                _translate(exc, "rolling back")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            _translate(exc, "beginning a transaction")
        local.owner = self
        self._conn = conn
        self._marked = False
        self._reset()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        conn = self._conn
        self._reset()  # the map and the held writes go with the transaction
        if conn is None:
            return
        self._conn = None
        self._store._local.owner = None
        # Nothing was committed either way; if this rollback fails, the next
        # transaction on this connection rolls back whatever is left.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")

    def commit(self) -> None:
        if self._failed:
            self._require()
            raise StorageError(
                "a write of this transaction failed: leave the block, nothing"
                " is committed"
            )
        self._flush()
        self._run("COMMIT", (), "committing")
        self._conn = None
        self._store._local.owner = None
        self._reset()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(
                "no transaction: use the unit of work as `with uow:` and call"
                " commit() inside the block"
            )
        return self._conn

    def _run(self, sql: str, params: Sequence[Any], what: str) -> sqlite3.Cursor:
        conn = self._require()
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            _translate(exc, what)
        except UnicodeEncodeError as exc:
            _unstorable(exc, what)

    def _decode(self, cls: type[T], body: str) -> T:
        return self._store._decode(cls, body)

    # -- the identity map and the held writes ---------------------------------------

    def _flush(self) -> None:
        """Store the held writes in the transaction now (each key once, at
        its last version); ``commit()`` does it first. A failure here fails
        the transaction: ``commit()`` then refuses."""
        held = self._held
        if not held:
            return
        self._held = {}
        encode = self._store._encode_record
        try:
            for key, write in held.items():
                body = encode(key, write.record.record)
                self._send(
                    key,
                    write.columns,
                    body,
                    write.stored,
                    write.record.version,
                    write.what,
                )
        except BaseException:
            self._failed = True
            raise

    def _send(
        self,
        key: tuple[str, ...],
        columns: tuple[str, ...],
        body: str,
        stored: int,
        version: int,
        what: str,
    ) -> None:
        """Write ``body`` at ``version`` over the row of ``key`` (the table,
        then the values of ``columns``) at version ``stored`` (``0``: insert);
        ConflictError when the file holds another version."""
        table, values = key[0], key[1:]
        if stored == 0:
            try:
                self._run(_insert_sql(table, columns), (*values, version, body), what)
            except ConflictError:
                raise ConflictError(
                    f"{what}: the record exists; version 0 is stale"
                ) from None
            return
        cursor = self._run(
            _update_sql(table, columns), (version, body, *values, stored), what
        )
        if cursor.rowcount != 1:
            raise ConflictError(f"{what}: the stored version is not {stored}")

    def _remember(self, key: tuple[str, ...], found: Versioned[Any] | None) -> None:
        rows = self._rows
        if len(rows) + len(self._groups) >= self._store._cache_size:
            self._forget()
        rows[key] = found

    def _remember_group(
        self, key: tuple[str, str, str], group: dict[str, Versioned[StepProgress]]
    ) -> None:
        if len(self._rows) + len(self._groups) >= self._store._cache_size:
            self._forget()
        self._groups[key] = group

    def _forget(self) -> None:
        """Bound the map: store the held writes, then drop what was read."""
        self._flush()
        self._rows.clear()
        self._groups.clear()

    def _hold(
        self,
        key: tuple[str, ...],
        columns: tuple[str, ...],
        stored: int,
        record: Versioned[Any],
        what: str,
    ) -> None:
        """Hold a write of ``record`` under ``key``; ``stored`` is the version
        the file holds when the key is not held yet."""
        write = self._held.get(key)
        if write is None:
            self._held[key] = _Held(columns, stored, record, what)
        else:
            write.record = record

    def _get(
        self, table: str, keys: Mapping[str, str], cls: type[T], what: str
    ) -> Versioned[T] | None:
        """The current record of ``table`` under ``keys``, or ``None``."""
        return self._get_key((table, *keys.values()), tuple(keys), cls, what)

    def _get_key(
        self, key: tuple[str, ...], columns: tuple[str, ...], cls: type[T], what: str
    ) -> Versioned[T] | None:
        """The current record under ``key`` (the table, then the values of the
        key ``columns``), or ``None``: from the map, else from the file."""
        rows = self._rows
        if key in rows:
            self._require()
            known: Versioned[T] | None = rows[key]
            return known
        row = self._run(_select_sql(key[0], columns), key[1:], what).fetchone()
        found = (
            None
            if row is None
            else Versioned(
                record=self._store._decode_record(key, cls, row[1]), version=row[0]
            )
        )
        self._remember(key, found)
        return found

    def _put(
        self,
        table: str,
        keys: Mapping[str, str],
        record: Any,
        expected: int,
        what: str,
    ) -> int:
        return self._put_key(
            (table, *keys.values()), tuple(keys), record, expected, what
        )

    def _put_key(
        self,
        key: tuple[str, ...],
        columns: tuple[str, ...],
        record: Any,
        expected: int,
        what: str,
    ) -> int:
        """Write ``record`` under ``key`` (the table, then the values of the
        key ``columns``) if its stored version is ``expected``."""
        rows = self._rows
        if key in rows:
            self._require()
            found = rows[key]
            _check_version(found.version if found else 0, expected, what)
            written = Versioned(record=record, version=expected + 1)
            rows[key] = written
            self._hold(key, columns, expected, written, what)
            return expected + 1
        self._write_through(key, columns, record, expected, what)
        self._remember(key, Versioned(record=record, version=expected + 1))
        return expected + 1

    def _write_through(
        self,
        key: tuple[str, ...],
        columns: tuple[str, ...],
        record: Any,
        expected: int,
        what: str,
    ) -> None:
        """Write a record whose version this transaction has not read: at
        once, checked by the file (``WHERE version = expected``)."""
        body = self._store._encode_record(key, record)
        self._send(key, columns, body, expected, expected + 1, what)


class _Progress:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Mapping[str, Versioned[StepProgress]]:
        uow = self._uow
        group_key = (organization_id, student_id, assignment_id)
        group = uow._groups.get(group_key)
        if group is not None:
            uow._require()
            return dict(group)
        rows = uow._run(
            "SELECT step_id, version, body FROM step_progress WHERE"
            " organization_id = ? AND student_id = ? AND assignment_id = ?",
            group_key,
            "reading step progress",
        ).fetchall()
        decode = uow._store._decode_record
        key = ("step_progress", *group_key)
        group = {
            step_id: Versioned(
                record=decode((*key, step_id), StepProgress, body), version=version
            )
            for step_id, version, body in rows
        }
        uow._remember_group(group_key, group)
        return dict(group)

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Versioned[AssignmentProgress] | None:
        return self._uow._get_key(
            ("assignment_progress", organization_id, student_id, assignment_id),
            _ASSIGNMENT_COLUMNS,
            AssignmentProgress,
            "reading assignment progress",
        )

    def assignments_for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[Versioned[AssignmentProgress], ...]:
        self._uow._flush()
        rows = self._uow._run(
            "SELECT assignment_id, version, body FROM assignment_progress WHERE"
            " organization_id = ? AND student_id = ? ORDER BY assignment_id",
            (organization_id, student_id),
            "reading assignment progress",
        ).fetchall()
        decode = self._uow._store._decode_record
        key = ("assignment_progress", organization_id, student_id)
        return tuple(
            Versioned(record=decode((*key, a), AssignmentProgress, b), version=v)
            for a, v, b in rows
        )

    def sequence(
        self, organization_id: str, student_id: str, sequence_id: str
    ) -> Versioned[SequenceProgress] | None:
        return self._uow._get_key(
            ("sequence_progress", organization_id, student_id, sequence_id),
            _SEQUENCE_COLUMNS,
            SequenceProgress,
            "reading sequence progress",
        )

    def put_step(
        self, organization_id: str, record: StepProgress, *, expected_version: int
    ) -> int:
        uow = self._uow
        step_id = record.step_id
        group_key = (organization_id, record.student_id, record.assignment_id)
        key = ("step_progress", *group_key, step_id)
        what = f"writing step {step_id!r}"
        group = uow._groups.get(group_key)
        if group is None:
            # The group was not read in this transaction: write through (and
            # keep nothing: a later read of the group reads the file).
            uow._write_through(key, _STEP_COLUMNS, record, expected_version, what)
            return expected_version + 1
        uow._require()
        found = group.get(step_id)
        _check_version(found.version if found else 0, expected_version, what)
        written = Versioned(record=record, version=expected_version + 1)
        group[step_id] = written
        uow._hold(key, _STEP_COLUMNS, expected_version, written, what)
        return expected_version + 1

    def put_assignment(
        self,
        organization_id: str,
        record: AssignmentProgress,
        *,
        expected_version: int,
    ) -> int:
        return self._uow._put_key(
            (
                "assignment_progress",
                organization_id,
                record.student_id,
                record.assignment_id,
            ),
            _ASSIGNMENT_COLUMNS,
            record,
            expected_version,
            f"writing assignment {record.assignment_id!r}",
        )

    def put_sequence(
        self, organization_id: str, record: SequenceProgress, *, expected_version: int
    ) -> int:
        return self._uow._put_key(
            (
                "sequence_progress",
                organization_id,
                record.student_id,
                record.sequence_id,
            ),
            _SEQUENCE_COLUMNS,
            record,
            expected_version,
            f"writing sequence {record.sequence_id!r}",
        )


class _Summaries:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[StudentProgressSummary] | None:
        return self._uow._get(
            "student_summaries",
            {"organization_id": organization_id, "student_id": student_id},
            StudentProgressSummary,
            "reading a student summary",
        )

    def put(
        self,
        organization_id: str,
        record: StudentProgressSummary,
        *,
        expected_version: int,
    ) -> int:
        if record.organization_id != organization_id:
            raise InvalidInputError(
                "organization_id",
                record.organization_id,
                f"D19: the summary belongs to organization {organization_id!r}",
            )
        return self._uow._put(
            "student_summaries",
            {"organization_id": organization_id, "student_id": record.student_id},
            record,
            expected_version,
            f"writing the summary of {record.student_id!r}",
        )


# Ids per ``IN (...)`` query: well under SQLite's limit on bound values.
_IN_CHUNK = 500


class _Commands:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def contains(self, organization_id: str, command_id: str) -> bool:
        row = self._uow._run(
            "SELECT 1 FROM command_log WHERE organization_id = ? AND command_id = ?",
            (organization_id, command_id),
            "reading the command log",
        ).fetchone()
        return row is not None

    def contains_many(
        self, organization_id: str, command_ids: Iterable[str]
    ) -> frozenset[str]:
        wanted = list(dict.fromkeys(command_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(
                command_id
                for (command_id,) in self._uow._run(
                    "SELECT command_id FROM command_log WHERE organization_id = ?"
                    f" AND command_id IN ({marks})",
                    (organization_id, *chunk),
                    "reading the command log",
                )
            )
        return frozenset(found)

    def get(self, organization_id: str, command_id: str) -> CommandRecord | None:
        uow = self._uow
        row = uow._run(
            "SELECT kind, body, recorded_at FROM command_log"
            " WHERE organization_id = ? AND command_id = ?",
            (organization_id, command_id),
            "reading the command log",
        ).fetchone()
        if row is None:
            return None
        kind, body, recorded_at = row
        cls = LOGGED_COMMAND_TYPES.get(kind)
        if cls is None:
            raise StorageError(f"command_log: unknown command kind {kind!r}")
        return CommandRecord(
            command_id=command_id,
            command=uow._decode(cls, body),
            recorded_at=datetime.fromisoformat(recorded_at),
        )

    def append(self, organization_id: str, entry: CommandRecord) -> None:
        try:
            self._uow._run(
                "INSERT INTO command_log VALUES (?, ?, ?, ?, ?)",
                (
                    organization_id,
                    entry.command_id,
                    entry.kind,
                    self._uow._store._encode(entry.command),
                    entry.recorded_at.isoformat(),
                ),
                "appending to the command log",
            )
        except ConflictError:
            raise ConflictError(
                f"command_id={entry.command_id!r} is already in the command log"
            ) from None


class _Attempts:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, attempt: Attempt) -> None:
        body = self._uow._store._encode(attempt)
        try:
            self._uow._run(
                "INSERT INTO attempt_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    organization_id,
                    attempt.attempt_id,
                    attempt.student_id,
                    attempt.assignment_id,
                    attempt.step_id,
                    attempt.attempted_at.isoformat(),
                    body,
                ),
                "appending to the attempt log",
            )
        except ConflictError:
            raise ConflictError(
                f"attempt_id={attempt.attempt_id!r} is already in the attempt log"
            ) from None

    def for_assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> tuple[Attempt, ...]:
        uow = self._uow
        rows = uow._run(
            "SELECT body FROM attempt_log WHERE organization_id = ?"
            " AND student_id = ? AND assignment_id = ? ORDER BY rowid",
            (organization_id, student_id, assignment_id),
            "reading the attempt log",
        ).fetchall()
        return tuple(uow._decode(Attempt, body) for (body,) in rows)

    def for_student(
        self,
        organization_id: str,
        student_id: str,
        *,
        after: datetime,
        until: datetime,
    ) -> tuple[Attempt, ...]:
        uow = self._uow
        # ISO-8601 UTC text sorts as time does; the bounds are widened by a
        # second and the exact test is made on the decoded attempts.
        rows = uow._run(
            "SELECT body FROM attempt_log WHERE organization_id = ?"
            " AND student_id = ? AND attempted_at > ? AND attempted_at <= ?"
            " ORDER BY rowid",
            (
                organization_id,
                student_id,
                _bound(after - _SECOND),
                _bound(until + _SECOND),
            ),
            "reading the attempt log",
        ).fetchall()
        found = (uow._decode(Attempt, body) for (body,) in rows)
        return tuple(a for a in found if after < a.attempted_at <= until)

    def activity_days(
        self, organization_id: str, student_id: str, *, until: datetime
    ) -> tuple[date, ...]:
        rows = self._uow._run(
            "SELECT DISTINCT substr(attempted_at, 1, 10) FROM attempt_log"
            " WHERE organization_id = ? AND student_id = ? AND attempted_at <= ?",
            (organization_id, student_id, _bound(until)),
            "reading the attempt log",
        ).fetchall()
        return tuple(sorted(date.fromisoformat(day) for (day,) in rows))


_SECOND = timedelta(seconds=1)


def _bound(moment: datetime) -> str:
    """``moment`` as the attempt log stores times (ISO-8601, UTC)."""
    return to_utc(moment).isoformat()


class _Snapshots:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, snapshot: ProgressSnapshot) -> None:
        try:
            self._uow._run(
                "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    organization_id,
                    snapshot.snapshot_id,
                    snapshot.student_id,
                    snapshot.scope_type.value,
                    snapshot.scope_id,
                    snapshot.snapshot_date.isoformat(),
                    _encode(snapshot),
                ),
                "appending a snapshot",
            )
        except ConflictError:
            raise ConflictError(
                f"snapshot_id={snapshot.snapshot_id!r} is already stored"
            ) from None

    def for_student(
        self,
        organization_id: str,
        student_id: str,
        *,
        scope_type: ScopeType | None = None,
    ) -> tuple[ProgressSnapshot, ...]:
        uow = self._uow
        if scope_type is None:
            rows = uow._run(
                "SELECT body FROM snapshots WHERE organization_id = ?"
                " AND student_id = ? ORDER BY rowid",
                (organization_id, student_id),
                "reading snapshots",
            ).fetchall()
        else:
            rows = uow._run(
                "SELECT body FROM snapshots WHERE organization_id = ?"
                " AND student_id = ? AND scope_type = ? ORDER BY rowid",
                (organization_id, student_id, scope_type.value),
                "reading snapshots",
            ).fetchall()
        return tuple(uow._decode(ProgressSnapshot, body) for (body,) in rows)


class _AppendOnlyLog(Generic[T]):
    """One append-only table of records: each row keyed by organization and
    id, with the student it concerns, a time and the record as JSON. The
    table's triggers refuse UPDATE and DELETE; a repeated id is a conflict."""

    def __init__(
        self, uow: SQLiteUnitOfWork, *, table: str, kind: type[T], what: str
    ) -> None:
        self._uow = uow
        self._table = table
        self._kind = kind
        self._what = what

    def insert(
        self,
        organization_id: str,
        id_field: str,
        columns: tuple[object, ...],
        record: T,
    ) -> None:
        """Append ``record``; ``columns`` are the table's key and index columns
        after ``organization_id``, the first being the record's id."""
        values = (organization_id, *columns, _encode(record))
        marks = ", ".join("?" * len(values))
        try:
            self._uow._run(
                f"INSERT INTO {self._table} VALUES ({marks})",
                values,
                f"appending to the {self._what}",
            )
        except ConflictError:
            raise ConflictError(
                f"{id_field}={columns[0]!r} is already in the {self._what}"
            ) from None

    def select(
        self, organization_id: str, student_id: str | None = None
    ) -> tuple[T, ...]:
        """The records of the organization (of one student), in append order."""
        sql = f"SELECT body FROM {self._table} WHERE organization_id = ?"
        params: tuple[str, ...] = (organization_id,)
        if student_id is not None:
            sql += " AND student_id = ?"
            params = (organization_id, student_id)
        rows = self._uow._run(
            sql + " ORDER BY rowid", params, f"reading the {self._what}"
        ).fetchall()
        return tuple(self._uow._decode(self._kind, body) for (body,) in rows)


class _Audit:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._log = _AppendOnlyLog(
            uow, table="audit_log", kind=AuditEntry, what="audit log"
        )

    def append(self, organization_id: str, entry: AuditEntry) -> None:
        self._log.insert(
            organization_id,
            "audit_id",
            (entry.audit_id, entry.student_id, entry.occurred_at.isoformat()),
            entry,
        )

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[AuditEntry, ...]:
        return self._log.select(organization_id, student_id)


class _Outbox:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, events: Sequence[Event]) -> None:
        """Append all of ``events`` or, when one is refused, none of them."""
        rows = [
            (
                organization_id,
                event.event_id,
                getattr(event, "student_id", None),
                type(event).name,
                type(event).destination.value,
                encode_event(event),
            )
            for event in events
        ]
        if not rows:
            return
        uow = self._uow
        # Entries of this transaction are not committed yet: no outbox floor
        # may rest on them (a rollback gives their rowids out again).
        uow._marked = True
        if len(rows) == 1:
            self._insert(rows[0])
            return
        what = "appending to the outbox"
        uow._run("SAVEPOINT outbox_append", (), what)
        try:
            for row in rows:
                self._insert(row)
        except BaseException:
            uow._run("ROLLBACK TO outbox_append", (), what)
            raise
        finally:
            uow._run("RELEASE outbox_append", (), what)

    def _insert(self, row: tuple[str | None, ...]) -> None:
        try:
            self._uow._run(
                "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)",
                row,
                "appending to the outbox",
            )
        except ConflictError:
            raise ConflictError(
                f"event_id={row[1]!r} is already in the outbox"
            ) from None

    def _entries(self, rows: Iterable[tuple[int, str]]) -> tuple[OutboxEntry, ...]:
        decode = self._uow._store._decode_event
        return tuple(
            OutboxEntry(position=position, event=decode(body))
            for position, body in rows
        )

    def pending(self, organization_id: str, *, limit: int) -> tuple[OutboxEntry, ...]:
        # Every entry before the first pending one seen by an earlier call is
        # delivered for good (deliveries are never removed and new entries get
        # larger rowids), so the scan starts there, not at the outbox's start.
        floors = self._uow._store._outbox_floors
        floor = floors.get(organization_id, 0)
        rows = self._uow._run(
            "SELECT o.rowid, o.body FROM outbox AS o WHERE o.organization_id = ?"
            " AND o.rowid >= ? AND NOT EXISTS (SELECT 1 FROM outbox_deliveries"
            " AS d WHERE d.organization_id = o.organization_id"
            " AND d.event_id = o.event_id) ORDER BY o.rowid LIMIT ?",
            (organization_id, floor, max(limit, 0)),
            "reading the outbox",
        ).fetchall()
        if rows and not self._uow._marked:
            # (Not after this transaction's own, uncommitted deliveries.)
            floors[organization_id] = rows[0][0]
        return self._entries(rows)

    def mark_delivered(
        self,
        organization_id: str,
        event_ids: Iterable[str],
        *,
        delivered_at: datetime,
    ) -> None:
        when = delivered_at.isoformat()
        self._uow._marked = True
        for event_id in event_ids:
            self._uow._run(
                "INSERT OR IGNORE INTO outbox_deliveries"
                " SELECT organization_id, event_id, ? FROM outbox"
                " WHERE organization_id = ? AND event_id = ?",
                (when, organization_id, event_id),
                "recording a delivery",
            )

    def entries(
        self, organization_id: str, *, after: int = 0, limit: int | None = None
    ) -> tuple[OutboxEntry, ...]:
        rows = self._uow._run(
            "SELECT rowid, body FROM outbox WHERE organization_id = ?"
            " AND rowid > ? ORDER BY rowid LIMIT ?",
            (organization_id, after, -1 if limit is None else max(limit, 0)),
            "reading the outbox",
        ).fetchall()
        return self._entries(rows)


class _Roster:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[Enrollment] | None:
        return self._uow._get(
            "enrollments",
            {"organization_id": organization_id, "student_id": student_id},
            Enrollment,
            "reading an enrollment",
        )

    def put(
        self, organization_id: str, record: Enrollment, *, expected_version: int
    ) -> int:
        return self._uow._put(
            "enrollments",
            {"organization_id": organization_id, "student_id": record.student_id},
            record,
            expected_version,
            f"enrolling {record.student_id!r}",
        )

    def student_ids(
        self,
        organization_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[str, ...]:
        self._uow._flush()
        rows = self._uow._run(
            "SELECT student_id FROM enrollments WHERE organization_id = ?"
            " AND student_id > ? ORDER BY student_id LIMIT ?",
            (
                organization_id,
                "" if after is None else after,
                -1 if limit is None else max(limit, 0),
            ),
            "reading the roster",
        ).fetchall()
        return tuple(sid for (sid,) in rows)

    def count(self, organization_id: str) -> int:
        self._uow._flush()
        row = self._uow._run(
            "SELECT count(*) FROM enrollments WHERE organization_id = ?",
            (organization_id,),
            "counting the roster",
        ).fetchone()
        return int(row[0])


class _Risk:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def get(self, organization_id: str, student_id: str) -> Versioned[RiskState] | None:
        return self._uow._get(
            "risk_states",
            {"organization_id": organization_id, "student_id": student_id},
            RiskState,
            "reading an at-risk state",
        )

    def put(
        self, organization_id: str, record: RiskState, *, expected_version: int
    ) -> int:
        return self._uow._put(
            "risk_states",
            {"organization_id": organization_id, "student_id": record.student_id},
            record,
            expected_version,
            f"writing the at-risk state of {record.student_id!r}",
        )

    def dismissal_stats(self, organization_id: str) -> Versioned[DismissalStats] | None:
        return self._uow._get(
            "dismissal_stats",
            {"organization_id": organization_id},
            DismissalStats,
            "reading dismissal statistics",
        )

    def put_dismissal_stats(
        self, organization_id: str, record: DismissalStats, *, expected_version: int
    ) -> int:
        return self._uow._put(
            "dismissal_stats",
            {"organization_id": organization_id},
            record,
            expected_version,
            "writing dismissal statistics",
        )


class _Jobs:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def get(
        self, organization_id: str, job_id: str
    ) -> Versioned[BatchJobProgress] | None:
        return self._uow._get(
            "batch_jobs",
            {"organization_id": organization_id, "job_id": job_id},
            BatchJobProgress,
            "reading a batch job",
        )

    def put(
        self, organization_id: str, record: BatchJobProgress, *, expected_version: int
    ) -> int:
        return self._uow._put(
            "batch_jobs",
            {"organization_id": organization_id, "job_id": record.job_id},
            record,
            expected_version,
            f"writing batch job {record.job_id!r}",
        )


class _Corrections:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._log = _AppendOnlyLog(
            uow, table="corrections", kind=CorrectionRecord, what="correction records"
        )

    def append(self, organization_id: str, correction: CorrectionRecord) -> None:
        self._log.insert(
            organization_id,
            "correction_id",
            (
                correction.correction_id,
                correction.student_id,
                correction.assignment_id,
                correction.step_id,
                correction.repair_id,
                correction.corrected_at.isoformat(),
            ),
            correction,
        )

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[CorrectionRecord, ...]:
        return self._log.select(organization_id, student_id)

    def entries(self, organization_id: str) -> tuple[CorrectionRecord, ...]:
        return self._log.select(organization_id)


class _AccessLog:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._log = _AppendOnlyLog(
            uow, table="access_log", kind=AccessLogEntry, what="access log"
        )

    def append(self, organization_id: str, entry: AccessLogEntry) -> None:
        self._log.insert(
            organization_id,
            "entry_id",
            (entry.entry_id, entry.student_id, entry.occurred_at.isoformat()),
            entry,
        )

    def entries(
        self, organization_id: str, *, student_id: str | None = None
    ) -> tuple[AccessLogEntry, ...]:
        return self._log.select(organization_id, student_id)


def _raw_body(body: str) -> Any:
    """A stored body as JSON-ready data, or the text itself when it is not
    JSON (the checkers report it as not an object)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body


# Students and assignments with a step or an assignment record.
_GROUPS = (
    "SELECT {col} FROM step_progress WHERE {where}"
    " UNION SELECT {col} FROM assignment_progress WHERE {where}"
)


class _Raw:
    def __init__(self, uow: SQLiteUnitOfWork) -> None:
        self._uow = uow

    def student_ids(
        self,
        organization_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[str, ...]:
        where = "organization_id = ? AND student_id > ?"
        bound = "" if after is None else after
        self._uow._flush()
        rows = self._uow._run(
            _GROUPS.format(col="student_id", where=where) + " ORDER BY 1 LIMIT ?",
            (
                organization_id,
                bound,
                organization_id,
                bound,
                -1 if limit is None else max(limit, 0),
            ),
            "listing students with progress",
        ).fetchall()
        return tuple(sid for (sid,) in rows)

    def student_count(self, organization_id: str) -> int:
        where = "organization_id = ?"
        self._uow._flush()
        row = self._uow._run(
            "SELECT count(*) FROM ("
            + _GROUPS.format(col="student_id", where=where)
            + ")",
            (organization_id, organization_id),
            "counting students with progress",
        ).fetchone()
        return int(row[0])

    def assignment_ids(self, organization_id: str, student_id: str) -> tuple[str, ...]:
        where = "organization_id = ? AND student_id = ?"
        self._uow._flush()
        rows = self._uow._run(
            _GROUPS.format(col="assignment_id", where=where) + " ORDER BY 1",
            (organization_id, student_id, organization_id, student_id),
            "listing a student's assignments",
        ).fetchall()
        return tuple(aid for (aid,) in rows)

    def assignment_students(
        self, organization_id: str, assignment_id: str
    ) -> tuple[str, ...]:
        where = "organization_id = ? AND assignment_id = ?"
        self._uow._flush()
        rows = self._uow._run(
            _GROUPS.format(col="student_id", where=where) + " ORDER BY 1",
            (organization_id, assignment_id, organization_id, assignment_id),
            "listing an assignment's students",
        ).fetchall()
        return tuple(sid for (sid,) in rows)

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Mapping[str, RawRecord]:
        self._uow._flush()
        rows = self._uow._run(
            "SELECT step_id, version, body FROM step_progress WHERE"
            " organization_id = ? AND student_id = ? AND assignment_id = ?"
            " ORDER BY step_id",
            (organization_id, student_id, assignment_id),
            "reading raw step progress",
        ).fetchall()
        return {
            step_id: RawRecord(key=step_id, version=version, body=_raw_body(body))
            for step_id, version, body in rows
        }

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> RawRecord | None:
        self._uow._flush()
        row = self._uow._run(
            "SELECT version, body FROM assignment_progress WHERE"
            " organization_id = ? AND student_id = ? AND assignment_id = ?",
            (organization_id, student_id, assignment_id),
            "reading raw assignment progress",
        ).fetchone()
        if row is None:
            return None
        return RawRecord(key=assignment_id, version=row[0], body=_raw_body(row[1]))


class SQLiteCatalog:
    """A :class:`~mlc_progress._ports.StructureCatalog` in the store's file.

    Structures are appended, never replaced: an assignment's reads return
    its highest ``version``; a sequence's reads return the one added last.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    @property
    def store(self) -> SQLiteStore:
        """The store whose file holds this catalog."""
        return self._store

    def _write(self, work: Any, what: str) -> None:
        store = self._store
        conn = store._connection()
        if store._local.owner is not None:
            raise StorageError(f"{what}: a unit of work is open on this thread")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            _translate(exc, what)
        except UnicodeEncodeError as exc:
            _unstorable(exc, what)

    def add_assignment(
        self, organization_id: str, structure: AssignmentStructure
    ) -> None:
        """Add ``structure``; the same version with other content raises
        :class:`ConflictError` (a version, once published, is fixed)."""
        store = self._store

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT body FROM assignment_structures WHERE organization_id = ?"
                " AND assignment_id = ? AND version = ?",
                (organization_id, structure.assignment_id, structure.version),
            ).fetchone()
            if row is not None:
                if store._decode(AssignmentStructure, row[0]) != structure:
                    raise ConflictError(
                        f"assignment {structure.assignment_id!r} version"
                        f" {structure.version} already exists with other content"
                    )
                return
            conn.execute(
                "INSERT INTO assignment_structures VALUES (?, ?, ?, ?)",
                (
                    organization_id,
                    structure.assignment_id,
                    structure.version,
                    _encode(structure),
                ),
            )

        self._write(work, f"adding assignment {structure.assignment_id!r}")

    def add_sequence(self, organization_id: str, structure: SequenceStructure) -> None:
        """Add ``structure``; it replaces earlier ones for reads."""
        store = self._store

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT revision, body FROM sequence_structures WHERE"
                " organization_id = ? AND sequence_id = ?"
                " ORDER BY revision DESC LIMIT 1",
                (organization_id, structure.sequence_id),
            ).fetchone()
            if row is not None and store._decode(SequenceStructure, row[1]) == (
                structure
            ):
                return
            conn.execute(
                "INSERT INTO sequence_structures VALUES (?, ?, ?, ?)",
                (
                    organization_id,
                    structure.sequence_id,
                    (row[0] if row else 0) + 1,
                    _encode(structure),
                ),
            )

        self._write(work, f"adding sequence {structure.sequence_id!r}")

    def _open_transaction(self) -> SQLiteUnitOfWork | None:
        """The unit of work open on this thread's connection, if any.

        Within it, the catalog cannot change: the transaction holds the write
        lock, and this catalog refuses to write while it is open. So a
        structure read once is kept for the rest of that transaction (and
        only for it: the next transaction reads the catalog again).
        """
        local = self._store._local
        if getattr(local, "pid", None) != os.getpid():
            return None  # inherited through fork: the parent's transaction
        owner: SQLiteUnitOfWork | None = getattr(local, "owner", None)
        return owner

    def assignment(
        self, organization_id: str, assignment_id: str
    ) -> AssignmentStructure:
        owner = self._open_transaction()
        key = ("assignment", organization_id, assignment_id)
        if owner is not None and key in owner._structures:
            kept: AssignmentStructure = owner._structures[key]
            return kept
        rows = self._store._read(
            "SELECT body FROM assignment_structures WHERE organization_id = ?"
            " AND assignment_id = ? ORDER BY version DESC LIMIT 1",
            (organization_id, assignment_id),
        )
        if not rows:
            raise NotFoundError(
                f"assignment_id={assignment_id!r} is not in organization"
                f" {organization_id!r}"
            )
        found = self._store._decode(AssignmentStructure, rows[0][0])
        if owner is not None:
            owner._structures[key] = found
        return found

    def sequence(self, organization_id: str, sequence_id: str) -> SequenceStructure:
        owner = self._open_transaction()
        key = ("sequence", organization_id, sequence_id)
        if owner is not None and key in owner._structures:
            kept: SequenceStructure = owner._structures[key]
            return kept
        rows = self._store._read(
            "SELECT body FROM sequence_structures WHERE organization_id = ?"
            " AND sequence_id = ? ORDER BY revision DESC LIMIT 1",
            (organization_id, sequence_id),
        )
        if not rows:
            raise NotFoundError(
                f"sequence_id={sequence_id!r} is not in organization"
                f" {organization_id!r}"
            )
        found = self._store._decode(SequenceStructure, rows[0][0])
        if owner is not None:
            owner._structures[key] = found
        return found
