"""The service layer: commands applied through the ports, one transaction each.

:class:`ProgressService` is the imperative shell around the pure core
(``apply_command``): it reads the clock, loads the student's records in a
unit of work, applies the command, and stores the changed records, the
command-log entry, the attempt, the snapshots, the audit entries and the
events (in the outbox) atomically. The clock is read here and nowhere else.

Every person's command is authorized first (D19): the service builds the
resource from what it stores (the student's classes from the roster), asks
:func:`~mlc_progress._permissions.authorize`, and on a denial stores nothing
of the command, appends the decision to the access log in a transaction of
its own and raises :class:`~mlc_progress._permissions.PermissionDeniedError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from . import _validate as v
from ._commands import ArchiveAssignment, Command, command_id_of
from ._errors import (
    InvalidInputError,
    NotFoundError,
)
from ._permissions import RULE as _D19
from ._permissions import (
    AccessLogEntry,
    Action,
    Actor,
    Decision,
    PermissionDeniedError,
    Resource,
    ResourceKind,
    access_log_entry,
    authorize,
    command_action,
)
from ._policy import DEFAULT_POLICY, Policy
from ._ports import (
    AccessLog,
    Clock,
    CommandLog,
    CommandRecord,
    EventSink,
    OutboxEntry,
    Roster,
    StructureCatalog,
    UnitOfWork,
)
from ._records import AssignmentProgress, StepProgress
from ._retry import check_shell, read_clock, retrying
from ._serialization import event_to_dict
from ._structure import Attempt
from ._telemetry import MetricName, MetricsSink, Sampler, measure
from ._tracking import Outcome, ProgressState, apply_command

__all__ = ["ProgressService"]

T = TypeVar("T")

# The snapshot scopes the spec's snapshot_creation_time_ms metric names.
_METRIC_SCOPES = frozenset({"step", "assignment", "sequence"})


# The kind of resource each person's action writes (or, for a review, reads).
_ACTION_KINDS = {
    Action.OVERRIDE: ResourceKind.STEP,
    Action.ADJUST_TARGET: ResourceKind.STEP,
    Action.EXTEND_DEADLINE: ResourceKind.ASSIGNMENT,
    Action.READ_CLASS: ResourceKind.ASSIGNMENT,
}


class _Denied(Exception):
    """Raised inside a transaction to leave it without storing anything; the
    service then logs ``entry`` in a transaction of its own and raises
    ``error``."""

    def __init__(self, entry: AccessLogEntry, error: PermissionDeniedError) -> None:
        super().__init__(str(error))
        self.entry = entry
        self.error = error


def _access_decision(
    command: Command, actor: Actor | None, resource: Resource
) -> tuple[Action | str, Decision]:
    """The action ``command`` needs and the decision on it (D19).

    A person's command needs an actor, named by the command as its
    ``actor_id``; a system command needs none, and one given anyway may only
    touch the actor's own records (``read_own_progress``: a student recording
    their own attempt). Archiving is the host's (D14): never with an actor.
    """
    action = command_action(command)
    if actor is None:
        return action or Action.READ_OWN_PROGRESS, Decision(
            allowed=False,
            reason="a person's command needs an actor",
            rule=f"{_D19}: deny by default",
        )
    if action is None:
        if isinstance(command, ArchiveAssignment):
            return "archive_assignment", Decision(
                allowed=False,
                reason="archiving is the host's (D14): apply it without an actor",
                rule=f"{_D19}: deny by default",
            )
        action = Action.READ_OWN_PROGRESS
    elif getattr(command, "actor_id", None) != actor.actor_id:
        return action, Decision(
            allowed=False,
            reason="the command names another actor",
            rule=f"{_D19}: a person acts, and is audited, as themself",
        )
    return action, authorize(actor, action, resource)


def _check_actor(actor: object) -> None:
    if actor is not None and not isinstance(actor, Actor):
        raise InvalidInputError("actor", actor, "D19: None or an Actor")


def _check_ids(organization_id: str, student_id: str, assignment_id: str) -> None:
    v.check_id_value("organization_id", organization_id)
    v.check_id_value("student_id", student_id)
    v.check_id_value("assignment_id", assignment_id)


def _label(command: object) -> str:
    """How a batch's error note names a command: its id, or what it is when
    it is no command at all."""
    try:
        return repr(command_id_of(command))  # type: ignore[arg-type]
    except InvalidInputError:
        return f"not a command: {type(command).__name__}"


def _applied_before(
    uow: UnitOfWork, organization_id: str, batch: tuple[Command, ...]
) -> set[str] | None:
    """The ids of ``batch`` already in the command log, asked in one call
    (D3), or ``None`` (ask per command) for one command or a log without
    ``contains_many``. A command whose id is malformed is left out: it is
    refused, with its position, when its turn comes."""
    if len(batch) < 2:
        return None
    lookup: Callable[[str, Iterable[str]], frozenset[str]] | None = getattr(
        uow.commands, "contains_many", None
    )
    if lookup is None:
        return None
    ids = []
    for command in batch:
        try:
            ids.append(command_id_of(command))
        except InvalidInputError:
            continue
    return set(lookup(organization_id, ids))


class _SeenIn:
    """``seen`` for the core, answered by the command log (D3).

    ``absent`` holds ids this transaction already looked up and did not find,
    so the core's check of the command's own id costs no second query.
    """

    def __init__(
        self, log: CommandLog, organization_id: str, absent: frozenset[str]
    ) -> None:
        self._log = log
        self._organization_id = organization_id
        self._absent = absent

    def __contains__(self, command_id: object) -> bool:
        if not isinstance(command_id, str) or command_id in self._absent:
            return False
        return self._log.contains(self._organization_id, command_id)


class ProgressService:
    """Apply commands to stored progress, exactly once, atomically.

    ``unit_of_work`` makes a new :class:`~mlc_progress._ports.UnitOfWork`
    (an adapter's ``unit_of_work`` method); ``catalog`` gives structures;
    ``clock`` gives the time. A transaction that fails with
    :class:`ConflictError` or a retryable :class:`StorageError` is tried again,
    up to ``max_retries`` more times; then the error is raised and nothing
    of the command is stored.

    >>> from datetime import UTC, datetime
    >>> from mlc_progress import Attempt, AssignmentStructure, Stage, StepDefinition
    >>> from mlc_progress.adapters import FixedClock, InMemoryCatalog, InMemoryStore
    >>> catalog = InMemoryCatalog()
    >>> catalog.add_assignment("org-1", AssignmentStructure(
    ...     assignment_id="a1", created_at=datetime(2026, 9, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g1",
    ...                           stage=Stage.PLAY, target_score=80),)))
    >>> clock = FixedClock(datetime(2026, 9, 2, tzinfo=UTC))
    >>> service = ProgressService(InMemoryStore().unit_of_work, catalog, clock)
    >>> attempt = Attempt(attempt_id="t1", student_id="ada", assignment_id="a1",
    ...     step_id="s1", score=85.0, attempted_at=clock.now(), duration_ms=60_000,
    ...     session_id="x1")
    >>> service.apply("org-1", attempt).applied
    True
    >>> service.apply("org-1", attempt).applied  # re-delivered: no change (D3)
    False
    >>> service.assignment("org-1", "ada", "a1").completion_percentage
    100.0
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        catalog: StructureCatalog,
        clock: Clock,
        *,
        policy: Policy = DEFAULT_POLICY,
        metrics: MetricsSink | None = None,
        sampler: Sampler | None = None,
        max_retries: int = 3,
    ) -> None:
        check_shell(unit_of_work, policy, max_retries)
        self._unit_of_work = unit_of_work
        self._catalog = catalog
        self._clock = clock
        self._policy = policy
        self._metrics = metrics
        self._sampler = sampler or Sampler(rate=policy.metrics_sample_rate)
        self._max_retries = max_retries

    # -- commands -------------------------------------------------------------------

    def apply(
        self, organization_id: str, command: Command, *, actor: Actor | None = None
    ) -> Outcome:
        """Apply one command in one transaction and return its outcome.

        An id already applied gives ``applied=False`` and stores nothing (D3).
        A person's command (override, target, deadline, review) needs the
        ``actor`` it names, allowed by :func:`authorize` (D19); a denial
        stores nothing of the command, logs the decision and raises
        :class:`PermissionDeniedError`. Raises :class:`InvalidInputError` or
        :class:`NotFoundError` for a command that does not fit (nothing
        stored), and :class:`ConflictError` or :class:`StorageError` when
        storage keeps failing.
        """
        return self.apply_many(organization_id, (command,), actor=actor)[0]

    def apply_many(
        self,
        organization_id: str,
        commands: Iterable[Command],
        *,
        actor: Actor | None = None,
    ) -> tuple[Outcome, ...]:
        """Apply ``commands`` in order in one transaction: all or nothing.

        Later commands see what earlier ones changed. When one command is
        refused, or denied to ``actor``, nothing of the batch is stored, and
        the error carries a note naming the command's position and id. Use
        it for throughput: one commit for many attempts. ``commands`` that
        are no iterable, or an ``actor`` that is no :class:`Actor`, raise
        :class:`InvalidInputError` before anything is read.
        """
        v.check_id_value("organization_id", organization_id)
        _check_actor(actor)
        if not isinstance(commands, Iterable):
            raise InvalidInputError("commands", commands, "an iterable of commands")
        batch = tuple(commands)

        def work(uow: UnitOfWork, now: datetime) -> tuple[Outcome, ...]:
            applied = _applied_before(uow, organization_id, batch)
            outcomes = []
            for index, command in enumerate(batch):
                try:
                    key = command_id_of(command)  # the command's own check first
                    self._authorize(uow, organization_id, command, actor, now)
                    outcomes.append(
                        self._apply_one(
                            uow, organization_id, command, key, now, applied
                        )
                    )
                except (InvalidInputError, NotFoundError, _Denied) as exc:
                    if len(batch) > 1:
                        note = (
                            f"command {index} ({_label(command)}) of the"
                            " batch; nothing of the batch was stored"
                        )
                        (exc.error if isinstance(exc, _Denied) else exc).add_note(note)
                    raise
            return tuple(outcomes)

        try:
            return self._transact(work)
        except _Denied as denied:
            self._log_denial(denied)
            raise denied.error from None

    # -- authorization --------------------------------------------------------------

    def _authorize(
        self,
        uow: UnitOfWork,
        organization_id: str,
        command: Command,
        actor: Actor | None,
        now: datetime,
    ) -> None:
        """Raise :class:`_Denied` unless ``actor`` may apply ``command``, a
        command already checked (``command_id_of``)."""
        if actor is None and command_action(command) is None:
            return  # the system's own command (D19: attempts come from games)
        roster: Roster | None = getattr(uow, "roster", None)
        enrolled = roster.get(organization_id, command.student_id) if roster else None
        action = command_action(command)
        resource = Resource.of_student(
            ResourceKind.STEP if action is None else _ACTION_KINDS[action],
            organization_id=organization_id,
            student_id=command.student_id,
            class_ids=enrolled.record.class_ids if enrolled else (),
        )
        asked, decision = _access_decision(command, actor, resource)
        if decision.allowed:
            return
        who = actor or Actor(
            actor_id=str(getattr(command, "actor_id", None) or "unknown"),
            role="none",
            organization_id=organization_id,
        )
        entry = access_log_entry(
            who,
            asked,
            resource,
            decision,
            entry_id=f"access-{uuid.uuid4().hex}",
            occurred_at=now,
        )
        raise _Denied(entry, PermissionDeniedError(who.actor_id, str(asked), decision))

    def _log_denial(self, denied: _Denied) -> None:
        """Append a denial to the access log in its own transaction, when the
        store has one; otherwise say so on the error (D19)."""
        entry = denied.entry

        def log(uow: UnitOfWork, now: datetime) -> bool:
            access: AccessLog | None = getattr(uow, "access_log", None)
            if access is None:
                return False
            access.append(entry.organization_id, entry)
            return True

        if not self._transact(log):
            denied.error.add_note("not logged: the store has no access log")

    def _apply_one(
        self,
        uow: UnitOfWork,
        organization_id: str,
        command: Command,
        key: str,
        now: datetime,
        applied: set[str] | None = None,
    ) -> Outcome:
        """Apply one command, whose id is ``key``, in ``uow``. ``applied``,
        when given, holds every id of the batch already in the command log
        or applied earlier in the batch, and grows with this command's ids;
        otherwise the log is asked."""
        if (
            key in applied
            if applied is not None
            else uow.commands.contains(organization_id, key)
        ):
            # Re-delivered (D3): nothing to load, nothing to change.
            return Outcome(command_id=key, applied=False)
        student_id = command.student_id
        structure = self._catalog.assignment(organization_id, command.assignment_id)
        progress = uow.progress
        steps = progress.steps(organization_id, student_id, structure.assignment_id)
        assignment = progress.assignment(
            organization_id, student_id, structure.assignment_id
        )
        sequence_structure = sequence = None
        if structure.sequence_id is not None:
            sequence_structure = self._catalog.sequence(
                organization_id, structure.sequence_id
            )
            sequence = progress.sequence(
                organization_id, student_id, structure.sequence_id
            )
        state = ProgressState(
            student_id=student_id,
            structure=structure,
            assignment=assignment.record if assignment else None,
            steps={k: r.record for k, r in steps.items()},
            sequence_structure=sequence_structure,
            sequence=sequence.record if sequence else None,
        )
        seen = _SeenIn(uow.commands, organization_id, frozenset((key,)))
        if self._metrics is None:
            outcome = apply_command(
                command, state, as_of=now, policy=self._policy, seen=seen
            )
        else:
            with measure(
                self._metrics,
                MetricName.PROGRESS_CALCULATION_TIME_MS,
                {"calculation_type": "assignment", "step_count": len(structure.steps)},
                sampler=self._sampler,
            ):
                outcome = apply_command(
                    command, state, as_of=now, policy=self._policy, seen=seen
                )
        if not outcome.applied:
            return outcome
        if applied is not None:
            applied.update(outcome.consumed_ids)
        for step in outcome.steps:
            before = steps.get(step.step_id)
            progress.put_step(
                organization_id, step, expected_version=before.version if before else 0
            )
        if outcome.assignment is not None:
            progress.put_assignment(
                organization_id,
                outcome.assignment,
                expected_version=assignment.version if assignment else 0,
            )
        if outcome.sequence is not None:
            progress.put_sequence(
                organization_id,
                outcome.sequence,
                expected_version=sequence.version if sequence else 0,
            )
        for consumed in outcome.consumed_ids:
            uow.commands.append(
                organization_id,
                CommandRecord(command_id=consumed, command=command, recorded_at=now),
            )
        if isinstance(command, Attempt):
            uow.attempts.append(organization_id, command)
        for snapshot in outcome.snapshots:
            scope = snapshot.scope_type.value
            if self._metrics is None or scope not in _METRIC_SCOPES:
                uow.snapshots.append(organization_id, snapshot)
                continue
            with measure(
                self._metrics,
                MetricName.SNAPSHOT_CREATION_TIME_MS,
                {"snapshot_scope": scope},
                sampler=self._sampler,
            ):
                uow.snapshots.append(organization_id, snapshot)
        for entry in outcome.audit:
            uow.audit.append(organization_id, entry)
        if outcome.events:
            uow.outbox.append(organization_id, outcome.events)
        return outcome

    # -- events ---------------------------------------------------------------------

    def relay_events(
        self, organization_id: str, sink: EventSink, *, limit: int = 100
    ) -> int:
        """Publish up to ``limit`` pending events to ``sink``; return how many.

        Events go out in outbox order (so in order per student), each to its
        class's ``destination`` (spec: Event Destinations), as the D23
        envelope. Delivery is at least once: publishing stops at the first
        event the sink refuses, the ones before it are marked delivered, and
        the sink's error is raised; the refused event is relayed next time.
        ``limit`` is a whole number, 0 or more.
        """
        v.check_id_value("organization_id", organization_id)
        if not callable(getattr(sink, "publish", None)):
            raise InvalidInputError("sink", sink, "an EventSink (with publish)")
        if not (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0):
            raise InvalidInputError("limit", limit, "a whole number, 0 or more")

        def read(uow: UnitOfWork, now: datetime) -> tuple[OutboxEntry, ...]:
            return uow.outbox.pending(organization_id, limit=limit)

        pending = self._transact(read, commit=False)
        delivered: list[str] = []
        try:
            for entry in pending:
                sink.publish(
                    organization_id, entry.destination, event_to_dict(entry.event)
                )
                delivered.append(entry.event_id)
        finally:
            if delivered:

                def mark(uow: UnitOfWork, now: datetime) -> None:
                    uow.outbox.mark_delivered(
                        organization_id, delivered, delivered_at=now
                    )

                self._transact(mark)
        return len(delivered)

    # -- reads ----------------------------------------------------------------------

    def assignment(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> AssignmentProgress | None:
        """The student's stored assignment record, or ``None``."""
        _check_ids(organization_id, student_id, assignment_id)

        def read(uow: UnitOfWork, now: datetime) -> AssignmentProgress | None:
            found = uow.progress.assignment(organization_id, student_id, assignment_id)
            return found.record if found else None

        return self._transact(read, commit=False)

    def steps(
        self, organization_id: str, student_id: str, assignment_id: str
    ) -> dict[str, StepProgress]:
        """The student's stored step records of the assignment, by step id."""
        _check_ids(organization_id, student_id, assignment_id)

        def read(uow: UnitOfWork, now: datetime) -> dict[str, StepProgress]:
            found = uow.progress.steps(organization_id, student_id, assignment_id)
            return {k: r.record for k, r in found.items()}

        return self._transact(read, commit=False)

    # -- transactions ---------------------------------------------------------------

    def _now(self) -> datetime:
        return read_clock(self._clock)

    def _transact(
        self, work: Callable[[UnitOfWork, datetime], T], *, commit: bool = True
    ) -> T:
        """Run ``work`` in a new unit of work, retrying conflicts and busy
        storage up to ``max_retries`` times (Q56)."""

        def attempt() -> T:
            uow = self._unit_of_work()
            with uow:
                result = work(uow, self._now())
                if commit:
                    uow.commit()
            return result

        return retrying(attempt, max_retries=self._max_retries)
