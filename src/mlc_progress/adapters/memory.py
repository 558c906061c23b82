"""In-memory adapters: the reference implementation of the ports.

:class:`InMemoryStore` keeps everything in dictionaries. A unit of work
buffers its writes and checks, at commit and under one lock, that nothing it
read or wrote has changed since (optimistic concurrency); then it applies the
buffer at once. So a failed or abandoned transaction leaves nothing behind,
and two threads can never both commit changes based on the same version.
"""

from __future__ import annotations

import bisect
import threading
import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Self

import attrs

from .._commands import AuditEntry
from .._enums import ScopeType
from .._errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from .._events import Destination, Event
from .._inconsistency import CorrectionRecord
from .._permissions import AccessLogEntry
from .._ports import (
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
from .._serialization import unstructure
from .._structure import AssignmentStructure, Attempt, SequenceStructure

__all__ = [
    "InMemoryCatalog",
    "InMemoryEventSink",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "Published",
]

_GroupKey = tuple[str, str, str]  # organization, student, assignment


class _Tables:
    """The committed state of one :class:`InMemoryStore`."""

    def __init__(self) -> None:
        # Current records, versioned.
        self.steps: dict[_GroupKey, dict[str, Versioned[StepProgress]]] = {}
        self.versioned: dict[tuple[str, ...], Versioned[Any]] = {}
        self.assignments_by_student: dict[tuple[str, str], set[str]] = {}
        # The roster's student ids per organization, kept sorted.
        self.roster: dict[str, list[str]] = {}
        # Append-only logs.
        self.commands: dict[tuple[str, str], CommandRecord] = {}
        self.attempt_ids: set[tuple[str, str]] = set()
        self.attempts: dict[_GroupKey, list[Attempt]] = {}
        self.attempts_by_student: dict[tuple[str, str], list[Attempt]] = {}
        self.snapshot_ids: set[tuple[str, str]] = set()
        self.snapshots: dict[tuple[str, str], list[ProgressSnapshot]] = {}
        self.audit_ids: set[tuple[str, str]] = set()
        self.audit: dict[tuple[str, str], list[AuditEntry]] = {}
        self.event_ids: set[tuple[str, str]] = set()
        self.outbox: dict[str, list[OutboxEntry]] = {}
        self.deliveries: dict[tuple[str, str], datetime] = {}
        self.position = 0
        # Correction records of repairs (D18), append-only.
        self.correction_ids: set[tuple[str, str]] = set()
        self.corrections: dict[str, list[CorrectionRecord]] = {}
        # Access decisions (D19), append-only.
        self.access_ids: set[tuple[str, str]] = set()
        self.access: dict[str, list[AccessLogEntry]] = {}


class InMemoryStore:
    """Every port in memory; thread-safe; the reference adapter.

    >>> store = InMemoryStore()
    >>> with store.unit_of_work() as uow:
    ...     uow.commands.contains("org-1", "attempt-1")
    False
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables = _Tables()

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """A new transaction over this store (enter it with ``with``)."""
        return InMemoryUnitOfWork(self)


class InMemoryUnitOfWork:
    """One optimistic transaction over an :class:`InMemoryStore`."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._active = False
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
        self._used = False
        # What this transaction read: versions of records and step groups.
        self._read_versions: dict[tuple[str, ...], int] = {}
        self._read_groups: dict[_GroupKey, dict[str, int]] = {}
        # What it wrote, not yet committed.
        # Each write keeps (version it was based on, new version, record).
        self._step_writes: dict[
            _GroupKey, dict[str, tuple[int, int, StepProgress]]
        ] = {}
        self._writes: dict[tuple[str, ...], tuple[int, int, Any]] = {}
        self._commands: dict[tuple[str, str], CommandRecord] = {}
        self._attempts: list[tuple[str, Attempt]] = []
        self._snapshots: list[tuple[str, ProgressSnapshot]] = []
        self._audit: list[tuple[str, AuditEntry]] = []
        self._events: list[tuple[str, Event]] = []
        self._deliveries: dict[tuple[str, str], datetime] = {}
        self._corrections: list[tuple[str, CorrectionRecord]] = []
        self._access: list[tuple[str, AccessLogEntry]] = []
        # Ids appended by this transaction, per log, to refuse duplicates.
        self._appended: set[tuple[str, str, str]] = set()

    # -- transaction ------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._active:
            raise StorageError("this unit of work is already in a transaction")
        if self._used:
            self._reset()
        self._active = self._used = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        # Leaving without commit discards the buffer: nothing was applied
        # (the next ``with`` starts from an empty one).
        self._active = False

    def commit(self) -> None:
        """Check nothing read or written changed since; then apply it all."""
        self.check()
        tables = self._store._tables
        with self._store._lock:
            self._validate(tables)
            self._apply(tables)
        self._active = False

    def claim(
        self, kind: str, key: tuple[str, str], committed: set[tuple[str, str]]
    ) -> None:
        """Reserve the id ``key`` of an append-only ``kind`` in this unit of
        work; a ``ConflictError`` if it is already stored or appended here."""
        self.check()
        with self._store._lock:
            taken = key in committed
        if taken or (kind, *key) in self._appended:
            raise ConflictError(f"{kind} id={key[1]!r} is already stored")
        self._appended.add((kind, *key))

    def check(self) -> None:
        if not self._active:
            raise StorageError(
                "no transaction: use the unit of work as `with uow:` and call"
                " commit() inside the block"
            )

    def _validate(self, t: _Tables) -> None:
        for key, version in self._read_versions.items():
            found = t.versioned.get(key)
            if (found.version if found else 0) != version:
                raise ConflictError(f"{key[0]} {key[1:]} changed since it was read")
        for group, versions in self._read_groups.items():
            current = t.steps.get(group, {})
            if {k: r.version for k, r in current.items()} != versions:
                raise ConflictError(f"step progress of {group} changed since read")
        for group, writes in self._step_writes.items():
            current = t.steps.get(group, {})
            for step_id, (base, _, _) in writes.items():
                found = current.get(step_id)
                if (found.version if found else 0) != base:
                    raise ConflictError(f"step {step_id!r} of {group} was written")
        for key, (base, _, _) in self._writes.items():
            found = t.versioned.get(key)
            if (found.version if found else 0) != base:
                raise ConflictError(f"{key[0]} {key[1:]} was written concurrently")
        for key in self._commands:
            if key in t.commands:
                raise ConflictError(f"command_id={key[1]!r} is already in the log")
        for org, attempt in self._attempts:
            if (org, attempt.attempt_id) in t.attempt_ids:
                raise ConflictError(f"attempt_id={attempt.attempt_id!r} is logged")
        for org, snapshot in self._snapshots:
            if (org, snapshot.snapshot_id) in t.snapshot_ids:
                raise ConflictError(f"snapshot_id={snapshot.snapshot_id!r} exists")
        for org, entry in self._audit:
            if (org, entry.audit_id) in t.audit_ids:
                raise ConflictError(f"audit_id={entry.audit_id!r} exists")
        for org, event in self._events:
            if (org, event.event_id) in t.event_ids:
                raise ConflictError(f"event_id={event.event_id!r} is in the outbox")
        for org, correction in self._corrections:
            if (org, correction.correction_id) in t.correction_ids:
                raise ConflictError(
                    f"correction_id={correction.correction_id!r} is stored"
                )
        for org, access in self._access:
            if (org, access.entry_id) in t.access_ids:
                raise ConflictError(f"entry_id={access.entry_id!r} is logged")

    def _apply(self, t: _Tables) -> None:
        for group, writes in self._step_writes.items():
            # Copy on write: a reader holding the old group keeps a stable view.
            merged = dict(t.steps.get(group, {}))
            for step_id, (_, version, record) in writes.items():
                merged[step_id] = Versioned(record=record, version=version)
            t.steps[group] = merged
        for key, (_, version, record) in self._writes.items():
            t.versioned[key] = Versioned(record=record, version=version)
            if key[0] == "assignment":
                t.assignments_by_student.setdefault((key[1], key[2]), set()).add(key[3])
            elif key[0] == "enrollment":
                ids = t.roster.setdefault(key[1], [])
                if not _holds(ids, key[2]):
                    bisect.insort(ids, key[2])
        t.commands.update(self._commands)
        for org, attempt in self._attempts:
            t.attempt_ids.add((org, attempt.attempt_id))
            group = (org, attempt.student_id, attempt.assignment_id)
            t.attempts.setdefault(group, []).append(attempt)
            t.attempts_by_student.setdefault((org, attempt.student_id), []).append(
                attempt
            )
        for org, snapshot in self._snapshots:
            t.snapshot_ids.add((org, snapshot.snapshot_id))
            t.snapshots.setdefault((org, snapshot.student_id), []).append(snapshot)
        for org, entry in self._audit:
            t.audit_ids.add((org, entry.audit_id))
            t.audit.setdefault((org, entry.student_id), []).append(entry)
        for org, event in self._events:
            t.position += 1
            t.event_ids.add((org, event.event_id))
            t.outbox.setdefault(org, []).append(
                OutboxEntry(position=t.position, event=event)
            )
        for org, correction in self._corrections:
            t.correction_ids.add((org, correction.correction_id))
            t.corrections.setdefault(org, []).append(correction)
        for org, access in self._access:
            t.access_ids.add((org, access.entry_id))
            t.access.setdefault(org, []).append(access)
        for key, when in self._deliveries.items():
            if key in t.event_ids:
                t.deliveries.setdefault(key, when)

    # -- helpers for the repositories ---------------------------------------------

    def _versioned(self, key: tuple[str, ...]) -> Versioned[Any] | None:
        self.check()
        written = self._writes.get(key)
        if written is not None:
            return Versioned(record=written[2], version=written[1])
        with self._store._lock:
            found = self._store._tables.versioned.get(key)
        self._read_versions.setdefault(key, found.version if found else 0)
        return found

    def _put(self, key: tuple[str, ...], record: Any, expected: int) -> int:
        self.check()
        written = self._writes.get(key)
        if written is not None:
            base, current = written[0], written[1]
        else:
            with self._store._lock:
                found = self._store._tables.versioned.get(key)
            base = current = found.version if found else 0
        if current != expected:
            raise ConflictError(
                f"{key[0]} {key[1:]} is at version {current}, not {expected}"
            )
        self._writes[key] = (base, expected + 1, record)
        return expected + 1


class _Progress:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Mapping[str, Versioned[StepProgress]]:
        uow = self._uow
        uow.check()
        group = (organization_id, student_id, assignment_id)
        with uow._store._lock:
            committed = uow._store._tables.steps.get(group, {})
        uow._read_groups.setdefault(group, {k: r.version for k, r in committed.items()})
        result = dict(committed)
        for step_id, (_, version, record) in uow._step_writes.get(group, {}).items():
            result[step_id] = Versioned(record=record, version=version)
        return result

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Versioned[AssignmentProgress] | None:
        return self._uow._versioned(
            ("assignment", organization_id, student_id, assignment_id)
        )

    def assignments_for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[Versioned[AssignmentProgress], ...]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            ids = set(
                uow._store._tables.assignments_by_student.get(
                    (organization_id, student_id), ()
                )
            )
        ids.update(
            key[3]
            for key in uow._writes
            if key[0] == "assignment" and key[1:3] == (organization_id, student_id)
        )
        found = (self.assignment(organization_id, student_id, a) for a in sorted(ids))
        return tuple(r for r in found if r is not None)

    def sequence(
        self, organization_id: str, student_id: str, sequence_id: str
    ) -> Versioned[SequenceProgress] | None:
        return self._uow._versioned(
            ("sequence", organization_id, student_id, sequence_id)
        )

    def put_step(
        self, organization_id: str, record: StepProgress, *, expected_version: int
    ) -> int:
        uow = self._uow
        uow.check()
        group = (organization_id, record.student_id, record.assignment_id)
        writes = uow._step_writes.get(group)
        written = writes.get(record.step_id) if writes else None
        if written is not None:
            base, current = written[0], written[1]
        else:
            with uow._store._lock:
                found = uow._store._tables.steps.get(group, {}).get(record.step_id)
            base = current = found.version if found else 0
        if current != expected_version:
            raise ConflictError(
                f"step {record.step_id!r} of {group} is at version {current},"
                f" not {expected_version}"
            )
        uow._step_writes.setdefault(group, {})[record.step_id] = (
            base,
            expected_version + 1,
            record,
        )
        return expected_version + 1

    def put_assignment(
        self,
        organization_id: str,
        record: AssignmentProgress,
        *,
        expected_version: int,
    ) -> int:
        key = ("assignment", organization_id, record.student_id, record.assignment_id)
        return self._uow._put(key, record, expected_version)

    def put_sequence(
        self, organization_id: str, record: SequenceProgress, *, expected_version: int
    ) -> int:
        key = ("sequence", organization_id, record.student_id, record.sequence_id)
        return self._uow._put(key, record, expected_version)


class _Summaries:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[StudentProgressSummary] | None:
        return self._uow._versioned(("summary", organization_id, student_id))

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
        key = ("summary", organization_id, record.student_id)
        return self._uow._put(key, record, expected_version)


class _Commands:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def contains(self, organization_id: str, command_id: str) -> bool:
        return self.get(organization_id, command_id) is not None

    def contains_many(
        self, organization_id: str, command_ids: Iterable[str]
    ) -> frozenset[str]:
        uow = self._uow
        uow.check()
        keys = [(organization_id, command_id) for command_id in command_ids]
        own = uow._commands
        with uow._store._lock:
            logged = uow._store._tables.commands
            return frozenset(key[1] for key in keys if key in own or key in logged)

    def get(self, organization_id: str, command_id: str) -> CommandRecord | None:
        uow = self._uow
        uow.check()
        key = (organization_id, command_id)
        found = uow._commands.get(key)
        if found is None:
            with uow._store._lock:
                found = uow._store._tables.commands.get(key)
        return found

    def append(self, organization_id: str, entry: CommandRecord) -> None:
        if self.contains(organization_id, entry.command_id):
            raise ConflictError(f"command_id={entry.command_id!r} is already logged")
        self._uow._commands[(organization_id, entry.command_id)] = entry


class _Attempts:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, attempt: Attempt) -> None:
        uow = self._uow
        uow.claim(
            "attempt",
            (organization_id, attempt.attempt_id),
            uow._store._tables.attempt_ids,
        )
        uow._attempts.append((organization_id, attempt))

    def for_assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> tuple[Attempt, ...]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            committed = list(
                uow._store._tables.attempts.get(
                    (organization_id, student_id, assignment_id), ()
                )
            )
        mine = [
            a
            for o, a in uow._attempts
            if o == organization_id
            and a.student_id == student_id
            and a.assignment_id == assignment_id
        ]
        return (*committed, *mine)

    def _of_student(self, organization_id: str, student_id: str) -> list[Attempt]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            found = list(
                uow._store._tables.attempts_by_student.get(
                    (organization_id, student_id), ()
                )
            )
        found.extend(
            a
            for o, a in uow._attempts
            if o == organization_id and a.student_id == student_id
        )
        return found

    def for_student(
        self,
        organization_id: str,
        student_id: str,
        *,
        after: datetime,
        until: datetime,
    ) -> tuple[Attempt, ...]:
        return tuple(
            a
            for a in self._of_student(organization_id, student_id)
            if after < a.attempted_at <= until
        )

    def activity_days(
        self, organization_id: str, student_id: str, *, until: datetime
    ) -> tuple[date, ...]:
        days = {
            a.attempted_at.date()
            for a in self._of_student(organization_id, student_id)
            if a.attempted_at <= until
        }
        return tuple(sorted(days))


class _Snapshots:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, snapshot: ProgressSnapshot) -> None:
        uow = self._uow
        uow.claim(
            "snapshot",
            (organization_id, snapshot.snapshot_id),
            uow._store._tables.snapshot_ids,
        )
        uow._snapshots.append((organization_id, snapshot))

    def for_student(
        self,
        organization_id: str,
        student_id: str,
        *,
        scope_type: ScopeType | None = None,
    ) -> tuple[ProgressSnapshot, ...]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            committed = list(
                uow._store._tables.snapshots.get((organization_id, student_id), ())
            )
        mine = [
            s
            for o, s in uow._snapshots
            if o == organization_id and s.student_id == student_id
        ]
        found = (*committed, *mine)
        if scope_type is None:
            return found
        return tuple(s for s in found if s.scope_type is scope_type)


class _Audit:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, entry: AuditEntry) -> None:
        uow = self._uow
        uow.claim(
            "audit", (organization_id, entry.audit_id), uow._store._tables.audit_ids
        )
        uow._audit.append((organization_id, entry))

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[AuditEntry, ...]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            committed = list(
                uow._store._tables.audit.get((organization_id, student_id), ())
            )
        mine = [
            e
            for o, e in uow._audit
            if o == organization_id and e.student_id == student_id
        ]
        return (*committed, *mine)


class _Outbox:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, events: Sequence[Event]) -> None:
        uow = self._uow
        uow.check()
        keys = [("event", organization_id, e.event_id) for e in events]
        with uow._store._lock:
            committed = uow._store._tables.event_ids
            taken = [k for k in keys if k[1:] in committed or k in uow._appended]
        if taken or len(set(keys)) != len(keys):
            raise ConflictError(f"event ids already in the outbox: {taken or keys}")
        uow._appended.update(keys)
        uow._events.extend((organization_id, e) for e in events)

    def _all(self, organization_id: str) -> tuple[list[OutboxEntry], set[str]]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            tables = uow._store._tables
            committed = list(tables.outbox.get(organization_id, ()))
            delivered = {
                event_id
                for (org, event_id) in tables.deliveries
                if org == organization_id
            }
            position = tables.position
        # This transaction's own events, after everything committed so far.
        for org, event in uow._events:
            if org == organization_id:
                position += 1
                committed.append(OutboxEntry(position=position, event=event))
        delivered.update(e for (o, e) in uow._deliveries if o == organization_id)
        return committed, delivered

    def pending(self, organization_id: str, *, limit: int) -> tuple[OutboxEntry, ...]:
        entries, delivered = self._all(organization_id)
        waiting = (e for e in entries if e.event_id not in delivered)
        return tuple(e for _, e in zip(range(max(limit, 0)), waiting, strict=False))

    def mark_delivered(
        self,
        organization_id: str,
        event_ids: Iterable[str],
        *,
        delivered_at: datetime,
    ) -> None:
        uow = self._uow
        uow.check()
        for event_id in event_ids:
            uow._deliveries.setdefault((organization_id, event_id), delivered_at)

    def entries(
        self, organization_id: str, *, after: int = 0, limit: int | None = None
    ) -> tuple[OutboxEntry, ...]:
        entries, _ = self._all(organization_id)
        found = [e for e in entries if e.position > after]
        return tuple(found if limit is None else found[: max(limit, 0)])


class _Roster:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[Enrollment] | None:
        return self._uow._versioned(("enrollment", organization_id, student_id))

    def put(
        self, organization_id: str, record: Enrollment, *, expected_version: int
    ) -> int:
        key = ("enrollment", organization_id, record.student_id)
        return self._uow._put(key, record, expected_version)

    def _ids(
        self, organization_id: str, after: str | None, limit: int | None
    ) -> tuple[list[str], list[str]]:
        """Up to ``limit`` committed ids after ``after``, and the ids this
        transaction enrolls that are not committed yet."""
        uow = self._uow
        uow.check()
        writes = [
            key[2]
            for key in uow._writes
            if key[0] == "enrollment"
            and key[1] == organization_id
            and (after is None or key[2] > after)
        ]
        with uow._store._lock:
            committed = uow._store._tables.roster.get(organization_id, [])
            start = 0 if after is None else bisect.bisect_right(committed, after)
            stop = len(committed) if limit is None else start + max(limit, 0)
            found = committed[start:stop]
            mine = sorted(sid for sid in writes if not _holds(committed, sid))
        return found, mine

    def student_ids(
        self,
        organization_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[str, ...]:
        found, mine = self._ids(organization_id, after, limit)
        merged = sorted((*found, *mine)) if mine else found
        return tuple(merged if limit is None else merged[: max(limit, 0)])

    def count(self, organization_id: str) -> int:
        _, mine = self._ids(organization_id, None, 0)
        uow = self._uow
        with uow._store._lock:
            committed = len(uow._store._tables.roster.get(organization_id, ()))
        return committed + len(mine)


def _holds(ordered: list[str], item: str) -> bool:
    at = bisect.bisect_left(ordered, item)
    return at < len(ordered) and ordered[at] == item


class _Risk:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, organization_id: str, student_id: str) -> Versioned[RiskState] | None:
        return self._uow._versioned(("risk", organization_id, student_id))

    def put(
        self, organization_id: str, record: RiskState, *, expected_version: int
    ) -> int:
        key = ("risk", organization_id, record.student_id)
        return self._uow._put(key, record, expected_version)

    def dismissal_stats(self, organization_id: str) -> Versioned[DismissalStats] | None:
        return self._uow._versioned(("dismissal_stats", organization_id))

    def put_dismissal_stats(
        self, organization_id: str, record: DismissalStats, *, expected_version: int
    ) -> int:
        key = ("dismissal_stats", organization_id)
        return self._uow._put(key, record, expected_version)


class _Jobs:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(
        self, organization_id: str, job_id: str
    ) -> Versioned[BatchJobProgress] | None:
        return self._uow._versioned(("batch_job", organization_id, job_id))

    def put(
        self, organization_id: str, record: BatchJobProgress, *, expected_version: int
    ) -> int:
        key = ("batch_job", organization_id, record.job_id)
        return self._uow._put(key, record, expected_version)


class _Corrections:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, correction: CorrectionRecord) -> None:
        uow = self._uow
        uow.claim(
            "correction",
            (organization_id, correction.correction_id),
            uow._store._tables.correction_ids,
        )
        uow._corrections.append((organization_id, correction))

    def entries(self, organization_id: str) -> tuple[CorrectionRecord, ...]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            committed = list(uow._store._tables.corrections.get(organization_id, ()))
        mine = [c for o, c in uow._corrections if o == organization_id]
        return (*committed, *mine)

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[CorrectionRecord, ...]:
        return tuple(
            c for c in self.entries(organization_id) if c.student_id == student_id
        )


class _AccessLog:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, organization_id: str, entry: AccessLogEntry) -> None:
        uow = self._uow
        uow.claim(
            "access", (organization_id, entry.entry_id), uow._store._tables.access_ids
        )
        uow._access.append((organization_id, entry))

    def entries(
        self, organization_id: str, *, student_id: str | None = None
    ) -> tuple[AccessLogEntry, ...]:
        uow = self._uow
        uow.check()
        with uow._store._lock:
            committed = list(uow._store._tables.access.get(organization_id, ()))
        mine = [e for o, e in uow._access if o == organization_id]
        return tuple(
            e
            for e in (*committed, *mine)
            if student_id is None or e.student_id == student_id
        )


class _Raw:
    """Raw reads: records kept in memory are valid, so these are their
    JSON-ready forms; reads are tracked like the typed ones."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _groups(self, organization_id: str) -> set[tuple[str, str]]:
        """Every (student, assignment) with a step or assignment record."""
        uow = self._uow
        uow.check()
        with uow._store._lock:
            t = uow._store._tables
            found = {(g[1], g[2]) for g in t.steps if g[0] == organization_id}
            found.update(
                (k[2], k[3])
                for k in t.versioned
                if k[0] == "assignment" and k[1] == organization_id
            )
        found.update((g[1], g[2]) for g in uow._step_writes if g[0] == organization_id)
        found.update(
            (k[2], k[3])
            for k in uow._writes
            if k[0] == "assignment" and k[1] == organization_id
        )
        return found

    def student_ids(
        self,
        organization_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[str, ...]:
        ids = sorted(
            {s for s, _ in self._groups(organization_id) if after is None or s > after}
        )
        return tuple(ids if limit is None else ids[: max(limit, 0)])

    def student_count(self, organization_id: str) -> int:
        return len({s for s, _ in self._groups(organization_id)})

    def assignment_ids(self, organization_id: str, student_id: str) -> tuple[str, ...]:
        groups = self._groups(organization_id)
        return tuple(sorted({a for s, a in groups if s == student_id}))

    def assignment_students(
        self, organization_id: str, assignment_id: str
    ) -> tuple[str, ...]:
        groups = self._groups(organization_id)
        return tuple(sorted({s for s, a in groups if a == assignment_id}))

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Mapping[str, RawRecord]:
        found = self._uow.progress.steps(organization_id, student_id, assignment_id)
        return {
            k: RawRecord(key=k, version=r.version, body=unstructure(r.record))
            for k, r in found.items()
        }

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> RawRecord | None:
        found = self._uow.progress.assignment(
            organization_id, student_id, assignment_id
        )
        if found is None:
            return None
        return RawRecord(
            key=assignment_id, version=found.version, body=unstructure(found.record)
        )


class InMemoryCatalog:
    """A :class:`~mlc_progress._ports.StructureCatalog` held in memory.

    Structures are added, never replaced: an assignment's reads return its
    highest ``version``; a sequence's reads return the one added last.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import Stage, StepDefinition
    >>> catalog = InMemoryCatalog()
    >>> catalog.add_assignment("org-1", AssignmentStructure(
    ...     assignment_id="a1", created_at=datetime(2026, 9, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g1",
    ...                           stage=Stage.PLAY, target_score=80),)))
    >>> catalog.assignment("org-1", "a1").steps[0].step_id
    's1'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assignments: dict[tuple[str, str], dict[int, AssignmentStructure]] = {}
        self._sequences: dict[tuple[str, str], list[SequenceStructure]] = {}

    def add_assignment(
        self, organization_id: str, structure: AssignmentStructure
    ) -> None:
        """Add ``structure``; the same version with other content raises
        :class:`ConflictError` (a version, once published, is fixed)."""
        key = (organization_id, structure.assignment_id)
        with self._lock:
            versions = self._assignments.setdefault(key, {})
            existing = versions.get(structure.version)
            if existing is not None and existing != structure:
                raise ConflictError(
                    f"assignment {structure.assignment_id!r} version"
                    f" {structure.version} already exists with other content"
                )
            versions[structure.version] = structure

    def add_sequence(self, organization_id: str, structure: SequenceStructure) -> None:
        """Add ``structure``; it replaces earlier ones for reads."""
        with self._lock:
            history = self._sequences.setdefault(
                (organization_id, structure.sequence_id), []
            )
            if not history or history[-1] != structure:
                history.append(structure)

    def assignment(
        self, organization_id: str, assignment_id: str
    ) -> AssignmentStructure:
        with self._lock:
            versions = self._assignments.get((organization_id, assignment_id))
            if versions:
                return versions[max(versions)]
        raise NotFoundError(
            f"assignment_id={assignment_id!r} is not in organization"
            f" {organization_id!r}"
        )

    def sequence(self, organization_id: str, sequence_id: str) -> SequenceStructure:
        with self._lock:
            history = self._sequences.get((organization_id, sequence_id))
            if history:
                return history[-1]
        raise NotFoundError(
            f"sequence_id={sequence_id!r} is not in organization {organization_id!r}"
        )


@attrs.frozen(kw_only=True)
class Published:
    """One event an :class:`InMemoryEventSink` received."""

    organization_id: str
    destination: Destination
    envelope: Mapping[str, Any] = attrs.field(hash=False)


class InMemoryEventSink:
    """An :class:`~mlc_progress._ports.EventSink` that keeps what it receives.

    >>> sink = InMemoryEventSink()
    >>> sink.published
    []
    """

    def __init__(self) -> None:
        self.published: list[Published] = []
        self._lock = threading.Lock()

    def publish(
        self,
        organization_id: str,
        destination: Destination,
        envelope: Mapping[str, Any],
    ) -> None:
        with self._lock:
            self.published.append(
                Published(
                    organization_id=organization_id,
                    destination=destination,
                    envelope=envelope,
                )
            )

    def envelopes(self, destination: Destination | None = None) -> list[Any]:
        """The envelopes received, optionally for one destination."""
        return [
            p.envelope
            for p in self.published
            if destination is None or p.destination is destination
        ]


attrs.resolve_types(Published)
