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

The batch runner (:func:`~mlc_progress._batch_runner.run_batch`) also needs
the organization's roster (:class:`Roster`), each student's at-risk state
(:class:`RiskStore`) and the progress of its jobs (:class:`BatchJobStore`),
reached through a :class:`BatchUnitOfWork` of a :class:`BatchStore`.
The service's authorization logs its decisions to an :class:`AccessLog`,
reached through an :class:`AuthorizedUnitOfWork` of an
:class:`AuthorizedStore` (D19).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
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
from ._enums import ScopeType
from ._errors import InvalidInputError
from ._events import Destination, Event
from ._inconsistency import CorrectionRecord
from ._permissions import AccessLogEntry
from ._reconciliation_commands import (
    ChangeAssignment,
    ReconcileStudent,
    ReconciliationCommand,
)
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from ._risk import DismissalStats, RiskState
from ._structure import AssignmentStructure, Attempt, SequenceStructure
from ._telemetry import MetricsSink

__all__ = [
    "COMMAND_TYPES",
    "LOGGED_COMMAND_TYPES",
    "AccessLog",
    "AttemptLog",
    "AuditLog",
    "AuthorizedStore",
    "AuthorizedUnitOfWork",
    "BatchJobProgress",
    "BatchJobStore",
    "BatchStore",
    "BatchUnitOfWork",
    "Clock",
    "CommandLog",
    "CommandRecord",
    "CorrectionLog",
    "EditableCatalog",
    "Enrollment",
    "EventOutbox",
    "EventSink",
    "MetricsSink",
    "OutboxEntry",
    "ProgressRepository",
    "RawProgressReader",
    "RawRecord",
    "ReconciliationStore",
    "ReconciliationUnitOfWork",
    "RiskStore",
    "Roster",
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

#: Every kind a command log may hold: the commands, and the changes and
#: repairs of the reconciliation service (issue 6).
LOGGED_COMMAND_TYPES: Mapping[str, type[Command | ReconciliationCommand]] = {
    **COMMAND_TYPES,
    **{cls.__name__: cls for cls in (ChangeAssignment, ReconcileStudent)},
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
    command: Command | ReconciliationCommand
    recorded_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)

    @property
    def kind(self) -> str:
        """The command's class name, a key of :data:`LOGGED_COMMAND_TYPES`."""
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


def _distinct_ids(_: Any, attribute: Any, value: Any) -> None:
    v.identifiers(_, attribute, value)
    if len(set(value)) != len(value):
        raise InvalidInputError(attribute.name, value, "each id once")


@attrs.frozen(kw_only=True)
class Enrollment:
    """One student of an organization's roster, as the host enrolls them.

    ``class_ids`` are the classes the student is in; ``assignment_ids`` the
    assignments given to them, begun or not (an assignment not yet begun
    has no progress record, yet counts for pacing and engagement, D17);
    ``sequence_ids`` the sequences they follow beyond those their
    assignments name. A student who leaves keeps their entry (nothing is
    deleted); archive their assignments instead (D14).

    >>> Enrollment(student_id="ada", class_ids=("5B",),
    ...            assignment_ids=("fractions-1",)).class_ids
    ('5B',)
    """

    student_id: str = attrs.field(validator=v.identifier)
    class_ids: tuple[str, ...] = attrs.field(default=(), validator=_distinct_ids)
    assignment_ids: tuple[str, ...] = attrs.field(default=(), validator=_distinct_ids)
    sequence_ids: tuple[str, ...] = attrs.field(default=(), validator=_distinct_ids)


@attrs.frozen(kw_only=True)
class BatchJobProgress:
    """How far a batch job has come: the row a resumed run continues from.

    A job recomputes the summaries of an organization's students in the
    order of their ids as of ``as_of`` under the policy whose fingerprint is
    ``policy_fingerprint``. ``last_student_id`` is the last student of the
    last chunk committed (``None`` before the first); the counts are over
    every run of the job; ``failed_students`` are students whose stored
    records could not be read (D4: reported, not skipped silently).

    >>> from datetime import datetime, UTC
    >>> BatchJobProgress(job_id="j", as_of=datetime(2026, 9, 8, tzinfo=UTC),
    ...                  policy_fingerprint="p").finished
    False
    """

    job_id: str = attrs.field(validator=v.identifier)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    policy_fingerprint: str = attrs.field(validator=v.identifier)
    last_student_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    students_done: int = attrs.field(default=0, validator=v.count)
    chunks_written: int = attrs.field(default=0, validator=v.count)
    summaries_changed: int = attrs.field(default=0, validator=v.count)
    risk_states_changed: int = attrs.field(default=0, validator=v.count)
    events_emitted: int = attrs.field(default=0, validator=v.count)
    failed_students: tuple[str, ...] = attrs.field(default=(), validator=_distinct_ids)
    finished: bool = attrs.field(default=False, validator=v.boolean)

    def __attrs_post_init__(self) -> None:
        if (self.last_student_id is None) != (self.students_done == 0):
            raise InvalidInputError(
                "last_student_id",
                self.last_student_id,
                "set exactly when some student is done",
            )
        if (
            max(self.summaries_changed, self.risk_states_changed) > (self.students_done)
            or len(self.failed_students) > self.students_done
        ):
            raise InvalidInputError(
                "students_done",
                self.students_done,
                "D4: changed and failed students are students done",
            )


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
    same command. ``contains_many`` answers ``contains`` for many ids at
    once: the ones among ``command_ids`` in the log (this transaction's
    appends included), so a batch asks once, not once per command. A log
    without it still works: the service then asks ``contains`` per command.
    """

    def contains(self, organization_id: str, command_id: str) -> bool: ...

    def contains_many(
        self, organization_id: str, command_ids: Iterable[str]
    ) -> frozenset[str]: ...

    def get(self, organization_id: str, command_id: str) -> CommandRecord | None: ...

    def append(self, organization_id: str, entry: CommandRecord) -> None: ...


class AttemptLog(Protocol):
    """Port: every attempt ever applied, append-only, so repairs can
    recompute step records from it (D18).

    ``append`` of an ``attempt_id`` already logged raises
    :class:`ConflictError`. ``for_assignment`` returns the student's attempts
    on the assignment in the order they were appended. For batch summaries:
    ``for_student`` returns the student's attempts with ``after <
    attempted_at <= until``, in the order they were appended;
    ``activity_days`` the distinct UTC days of the student's attempts up to
    ``until``, ascending.
    """

    def append(self, organization_id: str, attempt: Attempt) -> None: ...

    def for_assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> tuple[Attempt, ...]: ...

    def for_student(
        self,
        organization_id: str,
        student_id: str,
        *,
        after: datetime,
        until: datetime,
    ) -> tuple[Attempt, ...]: ...

    def activity_days(
        self, organization_id: str, student_id: str, *, until: datetime
    ) -> tuple[date, ...]: ...


class SnapshotStore(Protocol):
    """Port: progress snapshots, append-only (spec: Progress History).

    ``append`` of a ``snapshot_id`` already stored raises
    :class:`ConflictError`. ``for_student`` returns the student's snapshots
    in the order they were appended; with ``scope_type``, only those of that
    scope.
    """

    def append(self, organization_id: str, snapshot: ProgressSnapshot) -> None: ...

    def for_student(
        self,
        organization_id: str,
        student_id: str,
        *,
        scope_type: ScopeType | None = None,
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
    than every earlier one; an ``event_id`` already stored (or repeated in
    ``events``) raises :class:`ConflictError` and appends none of them.
    ``pending`` returns undelivered entries by
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


class Roster(Protocol):
    """Port: the organization's students, as the host enrolls them.

    ``get`` and ``put`` follow the rules of :class:`ProgressRepository`
    (versioned; the key is the organization and the student id).
    ``student_ids`` lists the organization's student ids in ascending order,
    those greater than ``after`` when given, at most ``limit`` when given,
    so a batch job walks the roster in chunks and resumes after the last
    student it finished. ``count`` is how many students the roster holds.
    """

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[Enrollment] | None: ...

    def put(
        self, organization_id: str, record: Enrollment, *, expected_version: int
    ) -> int: ...

    def student_ids(
        self,
        organization_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[str, ...]: ...

    def count(self, organization_id: str) -> int: ...


class RiskStore(Protocol):
    """Port: each student's at-risk state (D17) and the organization's
    dismissal statistics, both versioned like :class:`ProgressRepository`.

    A state's key is the organization and its ``student_id``; the
    statistics are one record per organization.
    """

    def get(
        self, organization_id: str, student_id: str
    ) -> Versioned[RiskState] | None: ...

    def put(
        self, organization_id: str, record: RiskState, *, expected_version: int
    ) -> int: ...

    def dismissal_stats(
        self, organization_id: str
    ) -> Versioned[DismissalStats] | None: ...

    def put_dismissal_stats(
        self, organization_id: str, record: DismissalStats, *, expected_version: int
    ) -> int: ...


class BatchJobStore(Protocol):
    """Port: the progress of batch jobs, one versioned row per job id,
    written in the same transaction as each chunk of the job's results, so
    a killed job resumes after its last committed chunk. The rules are those
    of :class:`ProgressRepository`: a second runner of the same job gets a
    :class:`ConflictError`, never a chunk written twice.
    """

    def get(
        self, organization_id: str, job_id: str
    ) -> Versioned[BatchJobProgress] | None: ...

    def put(
        self, organization_id: str, record: BatchJobProgress, *, expected_version: int
    ) -> int: ...


class UnitOfWork(Protocol):
    """Port: one transaction over every repository.

    Use as a context manager; ``commit()`` inside the block stores every
    write of the block atomically; leaving the block without ``commit()``
    (or by an exception) stores none of them. Reads inside the block see the
    block's own writes. An adapter may hold writes back until ``commit()``
    (merging repeated writes of one record); a stale ``expected_version``
    is still refused at the write. A failed commit raises
    :class:`ConflictError` (a concurrent transaction won) or
    :class:`StorageError`, and stores nothing.
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


class BatchUnitOfWork(UnitOfWork, Protocol):
    """Port: a :class:`UnitOfWork` that also reaches what batch jobs need:
    the roster, the at-risk states and the jobs' progress, in the same
    transaction as everything else."""

    @property
    def roster(self) -> Roster: ...
    @property
    def risk(self) -> RiskStore: ...
    @property
    def jobs(self) -> BatchJobStore: ...


class BatchStore(Protocol):
    """A storage adapter for batch jobs: its units of work reach every port.
    The in-memory and SQLite adapters are both."""

    def unit_of_work(self) -> BatchUnitOfWork: ...


# -- reconciliation: corrections and raw reads (issue 6) ----------------------------


@attrs.frozen(kw_only=True)
class RawRecord:
    """A stored current record as it is, not validated (D18).

    ``key`` is the row's own id (the step id of a step row, the assignment
    id of an assignment row), ``version`` its version, ``body`` its stored
    data: the JSON-ready dict normally, or the stored text when it is not
    JSON at all. Give ``body`` to the checkers of ``_inconsistency``; never
    use it as a record.

    >>> RawRecord(key="s1", version=3, body={"step_id": "s1"}).version
    3
    """

    key: str = attrs.field(validator=v.identifier)
    version: int = attrs.field(validator=v.count)
    body: Any = attrs.field(hash=False)


class CorrectionLog(Protocol):
    """Port: the correction records of repairs (D18), append-only.

    ``append`` of a ``correction_id`` already stored raises
    :class:`ConflictError` and keeps the original. ``for_student`` returns
    the student's corrections, ``entries`` every correction of the
    organization, both in the order they were appended. Nothing is ever
    updated or deleted (spec: error rule 5).
    """

    def append(self, organization_id: str, correction: CorrectionRecord) -> None: ...

    def for_student(
        self, organization_id: str, student_id: str
    ) -> tuple[CorrectionRecord, ...]: ...

    def entries(self, organization_id: str) -> tuple[CorrectionRecord, ...]: ...


class RawProgressReader(Protocol):
    """Port: stored step and assignment records read raw, without building
    records, so the audit and the repair see corrupt rows (D4, D18).

    ``student_ids`` lists, in ascending order, the students with a step or
    assignment record (those after ``after``, at most ``limit``, so an
    audit pages through them); ``student_count`` counts them.
    ``assignment_ids`` lists a student's assignments with a record,
    ``assignment_students`` an assignment's students with a record, both
    ascending. ``steps`` returns a student's step rows of an assignment by
    stored step id; ``assignment`` the assignment row or ``None``. Reads see
    the transaction's own writes.
    """

    def student_ids(
        self,
        organization_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[str, ...]: ...

    def student_count(self, organization_id: str) -> int: ...

    def assignment_ids(
        self, organization_id: str, student_id: str
    ) -> tuple[str, ...]: ...

    def assignment_students(
        self, organization_id: str, assignment_id: str
    ) -> tuple[str, ...]: ...

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> Mapping[str, RawRecord]: ...

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> RawRecord | None: ...


class ReconciliationUnitOfWork(UnitOfWork, Protocol):
    """Port: a :class:`UnitOfWork` that also reaches the correction log and
    the raw reads, in the same transaction as everything else (issue 6)."""

    @property
    def corrections(self) -> CorrectionLog: ...
    @property
    def raw(self) -> RawProgressReader: ...


class ReconciliationStore(Protocol):
    """A storage adapter for the reconciliation service and the audit. The
    in-memory and SQLite adapters are both."""

    def unit_of_work(self) -> ReconciliationUnitOfWork: ...


class EditableCatalog(StructureCatalog, Protocol):
    """Port: a catalog the reconciliation service publishes versions to.

    ``add_assignment`` adds a version; reads then return the highest
    version; the same version with other content raises
    :class:`ConflictError`, the same content again is harmless (Q59).
    """

    def add_assignment(
        self, organization_id: str, structure: AssignmentStructure
    ) -> None: ...


# -- authorization: the access log (issue 7) ----------------------------------------


class AccessLog(Protocol):
    """Port: the access decisions the service logs (D19), append-only.

    The service appends one :class:`~mlc_progress._permissions.AccessLogEntry`
    per denied command and per denied report, under the organization whose
    data was asked for. ``append`` of an ``entry_id`` already stored raises
    :class:`ConflictError` and keeps the original. ``entries`` returns the
    organization's entries in the order they were appended; with
    ``student_id``, only those about that student. Nothing is ever updated
    or deleted.
    """

    def append(self, organization_id: str, entry: AccessLogEntry) -> None: ...

    def entries(
        self, organization_id: str, *, student_id: str | None = None
    ) -> tuple[AccessLogEntry, ...]: ...


class AuthorizedUnitOfWork(UnitOfWork, Protocol):
    """Port: a :class:`UnitOfWork` that also reaches the access log and the
    roster (the student's classes, which a teacher's grant depends on)."""

    @property
    def access_log(self) -> AccessLog: ...
    @property
    def roster(self) -> Roster: ...


class AuthorizedStore(Protocol):
    """A storage adapter whose units of work log access decisions. The
    in-memory and SQLite adapters are both."""

    def unit_of_work(self) -> AuthorizedUnitOfWork: ...


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


for _cls in (Versioned, CommandRecord, OutboxEntry, Enrollment, BatchJobProgress):
    attrs.resolve_types(_cls)
attrs.resolve_types(RawRecord)
