"""Ports: what the service needs from the host, as small ``typing.Protocol``s.

A host application implements these for its database (or uses the in-memory
and SQLite adapters of :mod:`mlc_progress.adapters`) and checks its adapters
with the contract suite in :mod:`mlc_progress.testing.contract`.

Rules every port keeps:

- every method takes ``organization_id`` first, and no call reads or writes
  across organizations (D19);
- repositories are reached through a :class:`UnitOfWork`, one transaction:
  what it wrote is stored completely at ``commit()`` or not at all;
- current records are versioned: a write names the version it read
  (``0``: none yet) and a stale version raises :class:`ConflictError` and
  writes nothing;
- logs are append-only (D18): nothing is updated or deleted, and appending an
  id that is already there raises :class:`ConflictError` and keeps the
  original (D3);
- a storage failure raises :class:`StorageError`; ``retryable=True`` when
  trying again may succeed (a busy database).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar

import attrs

from . import _validate as v
from ._commands import (
    AdjustTarget,
    ArchiveAssignment,
    AuditEntry,
    Command,
    ExtendDueDate,
    OverrideComplete,
    ReconcileFreePlay,
    RequestTeacherReview,
    StartStep,
)
from ._events import Destination, Event
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from ._structure import AssignmentStructure, Attempt, SequenceStructure
from ._telemetry import MetricsSink

__all__ = [
    "COMMAND_TYPES",
    "AttemptLog",
    "AuditLog",
    "Clock",
    "CommandLog",
    "CommandRecord",
    "EventOutbox",
    "EventSink",
    "MetricsSink",
    "OutboxEntry",
    "ProgressRepository",
    "SnapshotStore",
    "Store",
    "StructureCatalog",
    "SummaryStore",
    "UnitOfWork",
    "Versioned",
]

T = TypeVar("T")

#: Every command class by its name: the ``kind`` a command log stores.
COMMAND_TYPES: Mapping[str, type[Command]] = {
    cls.__name__: cls
    for cls in (
        Attempt,
        StartStep,
        OverrideComplete,
        AdjustTarget,
        ExtendDueDate,
        ReconcileFreePlay,
        ArchiveAssignment,
        RequestTeacherReview,
    )
}


# -- records the ports exchange ---------------------------------------------------


@attrs.frozen(kw_only=True)
class Versioned(Generic[T]):
    """A current record with the version a later write must name.

    Versions start at 1 and go up by one with each write.

    >>> Versioned(record="r", version=1).version
    1
    """

    record: T
    version: int = attrs.field(validator=v.count)


@attrs.frozen(kw_only=True)
class CommandRecord:
    """One entry of the command log: an id consumed by a command, and when (D3).

    ``command_id`` is the id the core consumed (``Outcome.consumed_ids``),
    normally the command's own id.
    """

    command_id: str = attrs.field(validator=v.identifier)
    command: Command
    recorded_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)

    @property
    def kind(self) -> str:
        """The command's class name, a key of :data:`COMMAND_TYPES`."""
        return type(self.command).__name__


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """An event waiting in (or relayed from) the outbox.

    ``position`` orders the outbox: it grows with every append, so entries
    of one student come out in the order their commands committed.
    """

    position: int = attrs.field(validator=v.count)
    event: Event

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def student_id(self) -> str | None:
        """The event's student; ``None`` for an event about no one student."""
        found: str | None = getattr(self.event, "student_id", None)
        return found

    @property
    def destination(self) -> Destination:
        """Where the spec's Event Destinations send this event."""
        return type(self.event).destination


# -- the ports ----------------------------------------------------------------------


class Clock(Protocol):
    """Port: the current time. The service reads it; the core never does.

    ``now()`` returns a timezone-aware datetime (D2); the service normalizes
    it to UTC.
    """

    def now(self) -> datetime: ...


class StructureCatalog(Protocol):
    """Port: the host's assignment model (assignments and sequences).

    Both methods raise :class:`NotFoundError` for an id the organization does
    not have.
    """

    def assignment(
        self, organization_id: str, assignment_id: str
    ) -> AssignmentStructure: ...

    def sequence(self, organization_id: str, sequence_id: str) -> SequenceStructure: ...


class ProgressRepository(Protocol):
    """Port: current step, assignment and sequence progress, versioned.

    Reads return ``Versioned`` records (``None`` or an empty mapping when
    there is none). ``put_*`` stores a record if the stored version still
    equals ``expected_version`` (``0`` when there is none yet) and returns
    the new version; otherwise it raises :class:`ConflictError` and writes
    nothing. The key of a record is the organization plus the record's own
    ids (student, assignment, step or sequence).
    """

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Mapping[str, Versioned[StepProgress]]:
        """The student's step records of the assignment, by step id."""
        ...

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Versioned[AssignmentProgress] | None: ...

    def assignments_for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[Versioned[AssignmentProgress], ...]:
        """Every assignment record of the student, ordered by assignment id."""
        ...

    def sequence(
        self, organization_id: str, student_id: str, sequence_id: str
    ) -> Versioned[SequenceProgress] | None: ...

    def put_step(
        self, organization_id: str, record: StepProgress, *, expected_version: int
    ) -> int: ...

    def put_assignment(
        self,
        organization_id: str,
        record: AssignmentProgress,
        *,
        expected_version: int,
    ) -> int: ...

    def put_sequence(
        self, organization_id: str, record: SequenceProgress, *, expected_version: int
    ) -> int: ...


class SummaryStore(Protocol):
    """Port: ``StudentProgressSummary`` by organization and student, versioned.

    ``put`` follows the rules of :class:`ProgressRepository`; a summary whose
    ``organization_id`` is not ``organization_id`` raises
    :class:`InvalidInputError`.
    """

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[StudentProgressSummary] | None: ...

    def put(
        self,
        organization_id: str,
        record: StudentProgressSummary,
        *,
        expected_version: int,
    ) -> int: ...


class CommandLog(Protocol):
    """Port: the append-only log of applied command ids, the basis of D3.

    ``append`` of an id already in the log raises :class:`ConflictError`
    and keeps the first entry: two transactions can never both apply the
    same command.
    """

    def contains(self, organization_id: str, command_id: str) -> bool: ...

    def get(self, organization_id: str, command_id: str) -> CommandRecord | None: ...

    def append(self, organization_id: str, entry: CommandRecord) -> None: ...


class AttemptLog(Protocol):
    """Port: every attempt ever applied, append-only, so repairs can
    recompute step records from it (D18).

    ``append`` of an ``attempt_id`` already logged raises
    :class:`ConflictError`. ``for_assignment`` returns the student's attempts
    on the assignment in the order they were appended.
    """

    def append(self, organization_id: str, attempt: Attempt) -> None: ...

    def for_assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> tuple[Attempt, ...]: ...


class SnapshotStore(Protocol):
    """Port: progress snapshots, append-only (spec: Progress History).

    ``append`` of a ``snapshot_id`` already stored raises
    :class:`ConflictError`. ``for_student`` returns the student's snapshots
    in the order they were appended.
    """

    def append(self, organization_id: str, snapshot: ProgressSnapshot) -> None: ...

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[ProgressSnapshot, ...]: ...


class AuditLog(Protocol):
    """Port: who did what, when and why (D8, D19), append-only.

    ``append`` of an ``audit_id`` already stored raises :class:`ConflictError`.
    """

    def append(self, organization_id: str, entry: AuditEntry) -> None: ...

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[AuditEntry, ...]: ...


class EventOutbox(Protocol):
    """Port: events stored in the same transaction as the records they
    describe, relayed afterwards (at least once, in order per student).

    ``append`` stores events in the given order, each with a position larger
    than every earlier one; an ``event_id`` already stored raises
    :class:`ConflictError`. ``pending`` returns undelivered entries by
    position; ``mark_delivered`` records deliveries in an append-only table
    (marking twice is harmless); ``entries`` returns every entry, delivered
    or not, after a position.
    """

    def append(self, organization_id: str, events: Sequence[Event]) -> None: ...

    def pending(
        self, organization_id: str, *, limit: int
    ) -> tuple[OutboxEntry, ...]: ...

    def mark_delivered(
        self,
        organization_id: str,
        event_ids: Iterable[str],
        *,
        delivered_at: datetime,
    ) -> None: ...

    def entries(
        self, organization_id: str, *, after: int = 0, limit: int | None = None
    ) -> tuple[OutboxEntry, ...]: ...


class UnitOfWork(Protocol):
    """Port: one transaction over every repository.

    Use as a context manager; ``commit()`` inside the block stores every
    write of the block atomically; leaving the block without ``commit()``
    (or by an exception) stores none of them. Reads inside the block see the
    block's own writes. A failed commit raises :class:`ConflictError` (a
    concurrent transaction won) or :class:`StorageError`, and stores nothing.
    """

    @property
    def progress(self) -> ProgressRepository: ...
    @property
    def summaries(self) -> SummaryStore: ...
    @property
    def commands(self) -> CommandLog: ...
    @property
    def attempts(self) -> AttemptLog: ...
    @property
    def snapshots(self) -> SnapshotStore: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def outbox(self) -> EventOutbox: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class Store(Protocol):
    """A storage adapter: it hands out units of work."""

    def unit_of_work(self) -> UnitOfWork: ...


class EventSink(Protocol):
    """Port: where relayed events go (spec: Event Destinations).

    ``publish`` receives the event's organization, its destination and the
    D23 envelope (``event_to_dict``). Raising means not delivered: the event
    stays pending and is relayed again later (at least once).
    """

    def publish(
        self,
        organization_id: str,
        destination: Destination,
        envelope: Mapping[str, Any],
    ) -> None: ...


for _cls in (Versioned, CommandRecord, OutboxEntry):
    attrs.resolve_types(_cls)
