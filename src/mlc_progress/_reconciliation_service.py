"""The reconciliation service: migrations, rollbacks, deprecations and repairs
as commands through the ports (spec: Progress Reconciliation Rules; D18).

The pure functions of ``_reconciliation`` and ``_inconsistency`` decide; this
shell reads the clock, loads each student's records, stores the outcome and
publishes a new structure version to the catalog. A structure change is one
:class:`~mlc_progress._reconciliation_commands.ChangeAssignment`, logged
before the catalog publishes, then one transaction per student: records
written over the versions read, snapshots, events to the outbox, audit
entries for a person's change (D8, D19) and the student's consumed id in the
command log. A repair is one transaction: corrected records, correction
records appended, the event, the consumed id. So every part runs exactly
once (D3): a re-run, or a run resumed after a crash, changes nothing more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from . import _validate as v
from ._commands import AuditEntry
from ._corruption import CorruptRecordError
from ._enums import ScopeType, SnapshotTrigger, Stage
from ._errors import InvalidInputError, NotFoundError
from ._events import Event, ProgressRepairFailed, ReconciliationType
from ._inconsistency import (
    CorrectionRecord,
    RepairOutcome,
    Violation,
    repair_assignment,
)
from ._policy import DEFAULT_POLICY, Policy
from ._ports import (
    Clock,
    CommandRecord,
    EditableCatalog,
    RawRecord,
    ReconciliationUnitOfWork,
)
from ._reconciliation import (
    SNAPSHOT_KINDS,
    DeprecationImpact,
    ReconciliationOutcome,
    ReplacementOffer,
    accept_replacement,
    deprecate_content,
    deprecation_impact,
    match_steps,
    migrate_progress,
    reconcile_content_change,
    rollback_migration,
)
from ._reconciliation_commands import ChangeAction, ChangeAssignment, ReconcileStudent
from ._records import ProgressSnapshot
from ._retry import check_shell, read_clock, retrying
from ._serialization import structure, unstructure
from ._structure import AssignmentStructure, Attempt
from ._tracking import ProgressState

__all__ = ["ChangeReport", "GroupRepair", "ReconciliationService", "repair_group"]

T = TypeVar("T")

#: ``state_snapshot["kind"]`` of the service's record of the structure a
#: student is on where no change's own snapshot says it: a change refused
#: them (``refused`` holds the error), or, called again, left them unchanged
#: (``refused`` is ``None``) (Q60, Q67). Not a pre-change snapshot: the
#: audit and rollbacks ignore it.
STRUCTURE_ON = "structure_on"


def _same_structure(a: AssignmentStructure, b: AssignmentStructure) -> bool:
    """``a`` and ``b`` are one structure, but for the version (Q152)."""
    return attrs.evolve(a, version=b.version) == b


def _read_only(
    errors: Mapping[str, InvalidInputError],
) -> Mapping[str, InvalidInputError]:
    """A read-only copy of ``errors`` (a frozen record holds no dict)."""
    if not isinstance(errors, Mapping):
        raise InvalidInputError("errors", errors, "a mapping of student id to error")
    return MappingProxyType(dict(errors))


@attrs.frozen(kw_only=True)
class ChangeReport:
    """What a structure change did, as a service command.

    ``applied`` is whether this call changed anything; ``resumed`` whether an
    earlier call had logged the change (this one finished it, or found it
    done). ``students`` are the students the change covers (those with records
    when it began; for a rollback, also those with records then who began
    after the change it rolls back); ``changed`` those whose records this call
    changed; ``done_before`` those an earlier call had done; ``failed`` those
    whose records refused the change, with nothing of theirs stored but a
    :data:`STRUCTURE_ON` snapshot of the structure they are on where none said
    it (Q60), retried by the next call (once the change has been undone since,
    it leaves them ``unchanged``); ``errors`` says why, per failed student: a
    :class:`CorruptRecordError` (repair the row, D18); an
    :class:`InvalidInputError` naming ``structure`` when their records are on
    another structure than the one the change starts from (they failed a
    change since: that one is called again for them first, Q60); for a
    rollback, an :class:`InvalidInputError` naming ``later`` when the student
    failed a change made after the one rolled back (call that change again for
    them, then the rollback), or naming ``steps`` when a student who began
    since has a step id the restored structure gives to other content (Q61,
    Q67). ``errors`` is read-only, holds exactly the ``failed`` students, and
    is left out of equality (errors compare by identity); ``to_json`` writes
    each as its type, field, value (text), rule and message. A deprecation
    also gives its ``offers`` and, on its first call, the ``impact`` the
    teacher is notified of.
    """

    change_id: str
    action: ChangeAction
    assignment_id: str
    from_version: int
    to_version: int
    applied: bool
    resumed: bool = False
    students: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    done_before: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    errors: Mapping[str, InvalidInputError] = attrs.field(
        factory=dict, converter=_read_only, eq=False, hash=False
    )
    offers: tuple[ReplacementOffer, ...] = ()
    impact: DeprecationImpact | None = None

    @errors.validator
    def _check_errors(self, _: object, value: Mapping[str, InvalidInputError]) -> None:
        if not all(isinstance(e, InvalidInputError) for e in value.values()):
            raise InvalidInputError(
                "errors", dict(value), "an InvalidInputError per failed student"
            )
        if tuple(value) != self.failed:
            raise InvalidInputError(
                "errors",
                tuple(value),
                f"Q60: one error per failed student, in order: {self.failed!r}",
            )


@attrs.frozen(kw_only=True)
class GroupRepair:
    """The check, and maybe repair, of one student's assignment (D18).

    ``status`` is ``clean``, ``repaired``, ``failed`` (support alerted),
    ``done_before`` (this repair id was consumed by an earlier run: nothing
    stored again), ``repairable`` or ``unrepairable`` (checked, not stored).
    ``records`` counts the stored rows read.
    """

    status: str
    outcome: RepairOutcome
    records: int
    repair_id: str


# Repairs --------------------------------------------------------------------


def _fingerprint(
    structure: AssignmentStructure | None,
    assignment: RawRecord | None,
    steps: Mapping[str, RawRecord],
    attempts: int,
) -> str:
    """A repair id that names the stored data it repairs.

    The same data (the same rows at the same versions, the same structure
    version, as many attempts) gives the same id, so an audit repeated over
    data it could not repair consumes the same id and alerts support once;
    any write bumps a version and gives a new id.
    """
    data = {
        "structure": None if structure is None else structure.version,
        "assignment": None
        if assignment is None
        else [assignment.version, assignment.body],
        "steps": [[k, r.version, r.body] for k, r in sorted(steps.items())],
        "attempts": attempts,
    }
    text = json.dumps(data, sort_keys=True, default=repr, separators=(",", ":"))
    return "audit-" + hashlib.sha256(text.encode()).hexdigest()[:20]


class _Replay:
    """Which logged attempts each step record counts, replayed change by
    change (Q109): a record's ``inherited`` copies, then its own attempts
    from ``start`` on (the earlier ones were superseded when a change
    replaced the record)."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.own: dict[str, list[Attempt]] = {}
        for attempt in attempts:
            self.own.setdefault(attempt.step_id, []).append(attempt)
        self.inherited: dict[str, list[Attempt]] = {}
        self.start: dict[str, int] = {}

    def counted(
        self, step_id: str, at: tuple[Mapping[str, list[Attempt]], Mapping[str, int]]
    ) -> list[Attempt]:
        """What the record of ``step_id`` counts in the replay state ``at``."""
        inherited, start = at
        return [
            *inherited.get(step_id, ()),
            *self.own.get(step_id, ())[start.get(step_id, 0) :],
        ]

    @property
    def now(self) -> tuple[Mapping[str, list[Attempt]], Mapping[str, int]]:
        return self.inherited, self.start

    def saved(self) -> tuple[dict[str, list[Attempt]], dict[str, int]]:
        """The state now; lists are replaced, never changed, so a copy of
        the mappings keeps it."""
        return dict(self.inherited), dict(self.start)

    def replace(self, records: Mapping[str, list[Attempt]], counts: _Counts) -> None:
        """A change stored each of ``records``' steps anew, counting those
        attempts; ``counts`` are the records' attempt counts before it."""
        for step_id, attempts_then in records.items():
            # The attempts the earlier record counted of its own are superseded.
            before = counts.get(step_id, 0) - len(self.inherited.get(step_id, ()))
            self.start[step_id] = self.start.get(step_id, 0) + max(before, 0)
            self.inherited[step_id] = attempts_then

    def attributed(self, attempts: Sequence[Attempt]) -> list[Attempt] | None:
        if not self.inherited:
            return None
        found = list(attempts)
        for step_id, copies in self.inherited.items():
            found.extend(
                attrs.evolve(a, step_id=step_id, attempt_id=f"{a.attempt_id}~{step_id}")
                for a in copies
            )
        # Own attempts a replacement superseded no longer count for their step.
        superseded = {
            a.attempt_id
            for step_id, n in self.start.items()
            for a in self.own.get(step_id, ())[:n]
        }
        return [a for a in found if a.attempt_id not in superseded]


_Counts = Mapping[object, int]


def _rows(data: Mapping[str, Any]) -> dict[object, Mapping[str, Any]]:
    """The stored step rows a pre-change snapshot holds, by step id."""
    return {
        row.get("step_id"): row
        for row in data.get("steps", ())
        if isinstance(row, Mapping)
    }


def _count(row: Mapping[str, Any] | None) -> int:
    count = None if row is None else row.get("attempt_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _complete(row: Mapping[str, Any] | None) -> bool:
    return row is not None and row.get("state") == "complete"


def _left(data: Mapping[str, Any]) -> dict[str, tuple[int, object]]:
    """A snapshot's ``after``: each row's attempt count and target as the
    change left them (Q152); empty in a snapshot stored before it."""
    after = data.get("after")
    steps = after.get("steps") if isinstance(after, Mapping) else None
    if not isinstance(steps, Mapping):
        return {}
    return {
        step_id: (_count(left), left.get("target_score"))
        for step_id, left in steps.items()
        if isinstance(step_id, str) and isinstance(left, Mapping)
    }


def _held(
    held: Mapping[str, Any] | None,
    carried: Mapping[str, Any] | None,
    left: tuple[int, object] | None,
) -> bool:
    """Whether a change kept the complete record ``held`` already stored
    under a step's id instead of the one it carried there (Q64, D7): when
    the carried record (``None``: the initial one) was not complete. One
    that was not complete before can be completed by its new target; then
    what the change ``left`` tells them apart."""
    if not _complete(held) or _complete(carried):
        return False
    if carried is None or left is None or held is None:
        return True
    return left == (_count(held), held.get("target_score"))


def _logged_change(
    uow: ReconciliationUnitOfWork,
    organization_id: str,
    change_id: str,
    changes: dict[str, object] | None,
) -> object:
    """The command logged under ``change_id`` (``None`` if none). ``changes``
    keeps what one run read, by id: the log keeps the first entry of an id
    for good (D3), so an organization's audit reads each change once, not
    once per student (a change lists every student)."""
    if changes is not None and change_id in changes:
        return changes[change_id]
    found = uow.commands.get(organization_id, change_id)
    if found is None:
        return None
    if changes is not None:
        changes[change_id] = found.command
    return found.command


def _attributed(
    uow: ReconciliationUnitOfWork,
    organization_id: str,
    student_id: str,
    assignment_id: str,
    attempts: Sequence[Attempt],
    changes: dict[str, object] | None = None,
) -> list[Attempt] | None:
    """The attempt log as the student's step records count it (D18, Q109).

    A change that matched a step to one with another id carried the old
    record, and the attempts it counted then, to the new id, unless a
    complete record was stored under that id (Q64); the log keeps them
    under the old id. A rollback carries back the records of renamed steps
    that moved on since (its snapshot's ``carried``, Q152), and restores
    every other record it does not keep to the rolled back change's
    snapshot: such a record counts again what it counted then (the attempt
    count its snapshot's ``after`` gives is the snapshot's); one it took
    back from the snapshot of a later change that removed the step counts
    what it counted then (the newest such snapshot with that many
    attempts). A student who began after a change is reconciled by its
    rollback as by a migration (Q67): that snapshot is replayed as one.
    Replaying the
    student's changes in order (their pre-change snapshots, and the changes
    the command log holds) gives each step the attempts it inherited: the
    first ``attempt_count`` (the record's, in the snapshot) of what the
    record it came from counted. Inherited attempts are copies with ids of
    their own, so none counts twice for one step (D3). ``None`` when no
    change carried anything: the log is as they count it.
    """
    replay = _Replay(attempts)
    # The replay state, and the rows' counts, when each change's snapshot
    # was taken: what a rollback of that change restores.
    then: dict[str, tuple[tuple[dict[str, list[Attempt]], dict[str, int]], _Counts]]
    then = {}
    for snapshot in uow.snapshots.for_student(organization_id, student_id):
        data = snapshot.state_snapshot
        change_id = data.get("change_id")
        if (
            snapshot.scope_type is not ScopeType.ASSIGNMENT
            or snapshot.scope_id != assignment_id
            or data.get("kind") not in SNAPSHOT_KINDS
            or not isinstance(change_id, str)
        ):
            continue
        rows = _rows(data)
        counts = {step_id: _count(row) for step_id, row in rows.items()}
        then.setdefault(change_id, (replay.saved(), counts))
        change = _logged_change(uow, organization_id, change_id, changes)
        if not isinstance(change, ChangeAssignment):
            continue  # changed by the pure functions, outside this service
        left = _left(data)
        moves: dict[str, str | None] = {}
        records: dict[str, list[Attempt]] = {}
        if data.get("kind") == "pre_rollback":
            # The records it took back from a renamed step; an older
            # snapshot has no ``carried``: that rollback carried none.
            back = data.get("carried", {})
            if isinstance(back, Mapping):
                moves = {n: o for n, o in back.items() if isinstance(o, str) and n != o}
            earlier = then.get(change.rolled_back_id or "")
            if earlier is not None:
                state, restored = earlier
                since = list(then)[list(then).index(change.rolled_back_id or "") :]
                for step_id, (count, _) in left.items():
                    if step_id in moves:
                        continue  # carried
                    if count != restored.get(step_id, 0):
                        if count == counts.get(step_id, 0):
                            continue  # kept as it was (Q67)
                        # Taken back from the snapshot of a later change
                        # that removed the step (Q152): the newest whose
                        # row had as many attempts.
                        sources = [
                            then[c][0]
                            for c in since[1:]
                            if then[c][1].get(step_id, 0) == count
                        ]
                        if not sources:
                            continue
                        state = sources[-1]
                    else:
                        state = earlier[0]
                    counted = replay.counted(step_id, state)[:count]
                    now = replay.counted(step_id, replay.now)
                    if counted != now[: counts.get(step_id, 0)]:
                        records[step_id] = counted
        else:
            mapping = match_steps(change.from_structure, change.to_structure)
            for d in change.to_structure.steps:
                new, old = d.step_id, mapping.get(d.step_id)
                held, carried = rows.get(new), None if old is None else rows.get(old)
                if old == new or _held(held, carried, left.get(new)):
                    continue
                if old is not None or held is not None:
                    moves[new] = old  # None: its initial record replaced the row
        for new, old in moves.items():
            records[new] = (
                []
                if old is None
                else replay.counted(old, replay.now)[: counts.get(old, 0)]
            )
        replay.replace(records, counts)
    return replay.attributed(attempts)


def _misfiled(steps: Mapping[str, RawRecord]) -> list[Violation]:
    """Step rows whose record names another step than the row's key."""
    found = []
    for key, row in steps.items():
        body = row.body
        if isinstance(body, Mapping) and "step_id" in body and body["step_id"] != key:
            found.append(
                Violation(
                    code="misfiled_record",
                    record=f"step:{key}",
                    field="step_id",
                    value=body["step_id"],
                    expected=key,
                    rule="D3: a record is stored under its own key",
                )
            )
    return found


def _alert(
    repair_id: str,
    student_id: str,
    assignment_id: str,
    violations: Sequence[Violation],
    as_of: datetime,
    diagnostics: Mapping[str, Any],
) -> RepairOutcome:
    """A failed repair for what ``repair_assignment`` cannot see: a support
    alert with the diagnostics, and nothing to store (D18)."""
    prefix = f"{repair_id}:{student_id}:{assignment_id}"
    found = tuple(violations)
    alert = ProgressRepairFailed(
        event_id=f"{prefix}/event/1",
        occurred_at=as_of,
        assignment_id=assignment_id,
        student_id=student_id,
        violations=tuple(dict.fromkeys(x.code for x in found)),
        diagnostics={
            "repair_id": repair_id,
            "found": [unstructure(x) for x in found],
            **diagnostics,
        },
    )
    return RepairOutcome(
        repair_id=repair_id,
        violations=found,
        remaining=found,
        events=(alert,),
        consumed_ids=(prefix,),
    )


def repair_group(
    uow: ReconciliationUnitOfWork,
    organization_id: str,
    student_id: str,
    assignment_id: str,
    structure: AssignmentStructure | None,
    *,
    as_of: datetime,
    repair_id: str | None = None,
    store: bool = True,
    actor_id: str | None = None,
    reason: str | None = None,
    policy: Policy = DEFAULT_POLICY,
    changes: dict[str, object] | None = None,
) -> GroupRepair:
    """Check one student's stored records of an assignment, read raw, and
    repair them in ``uow`` (D18). The caller commits. ``changes``, shared by
    the calls of one run, keeps the logged changes read (``_logged_change``).

    ``structure`` is the assignment's current structure, ``None`` when the
    catalog lacks it (then the records are escalated: nothing can be
    recomputed). ``repair_id`` ``None`` derives the id from the stored data
    (the audit's). With ``store`` the outcome is written: corrected records
    over the versions read, correction records appended, the event to the
    outbox, an audit entry when a person (``actor_id`` with ``reason``)
    repairs, and the consumed id in the command log; a repair id already
    consumed stores nothing again (D3).
    """
    raw_steps = uow.raw.steps(organization_id, student_id, assignment_id)
    raw_assignment = uow.raw.assignment(organization_id, student_id, assignment_id)
    logged = uow.attempts.for_assignment(organization_id, student_id, assignment_id)
    records = len(raw_steps) + (raw_assignment is not None)
    if repair_id is None:
        repair_id = _fingerprint(structure, raw_assignment, raw_steps, len(logged))
    bodies = {k: r.body for k, r in raw_steps.items()}
    body = None if raw_assignment is None else raw_assignment.body
    misfiled = _misfiled(raw_steps)
    if structure is None:
        outcome = _alert(
            repair_id,
            student_id,
            assignment_id,
            [
                Violation(
                    code="unknown_assignment",
                    record="assignment",
                    field="assignment_id",
                    value=assignment_id,
                    rule="D18: stored progress belongs to an assignment of the catalog",
                ),
                *misfiled,
            ],
            as_of,
            {"assignment": body, "steps": bodies},
        )
    else:

        def run(attempts: Sequence[Attempt]) -> RepairOutcome:
            return repair_assignment(
                structure,
                body,
                bodies,
                student_id=student_id,
                as_of=as_of,
                repair_id=repair_id,
                attempts=attempts,
                actor_id=actor_id or "system",
                policy=policy,
            )

        outcome = run(logged)
        if outcome.violations:
            # Only then read the changes: records carried to a new step id
            # count attempts the log keeps under the old one.
            attributed = _attributed(
                uow, organization_id, student_id, assignment_id, logged, changes
            )
            if attributed is not None:
                outcome = run(attributed)
        if misfiled:
            outcome = _alert(
                repair_id,
                student_id,
                assignment_id,
                [*misfiled, *outcome.violations],
                as_of,
                {
                    "structure_version": structure.version,
                    "assignment": body,
                    "steps": bodies,
                },
            )
    if not outcome.violations:
        return GroupRepair(
            status="clean", outcome=outcome, records=records, repair_id=repair_id
        )
    if any(uow.commands.contains(organization_id, c) for c in outcome.consumed_ids):
        quiet = attrs.evolve(
            outcome,
            steps=(),
            assignment=None,
            corrections=(),
            events=(),
            consumed_ids=(),
        )
        return GroupRepair(
            status="done_before", outcome=quiet, records=records, repair_id=repair_id
        )
    if not store:
        status = "unrepairable" if outcome.failed else "repairable"
        return GroupRepair(
            status=status, outcome=outcome, records=records, repair_id=repair_id
        )
    for step in outcome.steps:
        row = raw_steps.get(step.step_id)
        uow.progress.put_step(
            organization_id, step, expected_version=row.version if row else 0
        )
    if outcome.assignment is not None:
        uow.progress.put_assignment(
            organization_id,
            outcome.assignment,
            expected_version=raw_assignment.version if raw_assignment else 0,
        )
    for correction in outcome.corrections:
        uow.corrections.append(organization_id, correction)
    if outcome.events:
        uow.outbox.append(organization_id, outcome.events)
    for consumed in outcome.consumed_ids:
        if actor_id is not None and reason is not None:
            uow.audit.append(
                organization_id,
                AuditEntry(
                    audit_id=f"{consumed}/audit/1",
                    occurred_at=as_of,
                    actor_id=actor_id,
                    action="repair_progress",
                    reason=reason,
                    command_id=repair_id,
                    student_id=student_id,
                    assignment_id=assignment_id,
                    before={"violations": [unstructure(x) for x in outcome.violations]},
                    after={
                        "repaired": outcome.repaired,
                        "corrections": [c.correction_id for c in outcome.corrections],
                        "remaining": [unstructure(x) for x in outcome.remaining],
                    },
                ),
            )
        uow.commands.append(
            organization_id,
            CommandRecord(
                command_id=consumed,
                command=ReconcileStudent(
                    command_id=consumed,
                    change_id=repair_id,
                    reconciliation_type=ReconciliationType.ERROR_REPAIR,
                    student_id=student_id,
                    assignment_id=assignment_id,
                    issued_at=as_of,
                    actor_id=actor_id,
                ),
                recorded_at=as_of,
            ),
        )
    status = "failed" if outcome.failed else "repaired"
    return GroupRepair(
        status=status, outcome=outcome, records=records, repair_id=repair_id
    )


# The service ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _State:
    """A student's records as read, with the versions a write must name."""

    state: ProgressState
    step_versions: Mapping[str, int]
    assignment_version: int
    sequence_version: int


def _check_actor(actor_id: str | None, reason: str | None) -> None:
    if actor_id is None and reason is None:
        return
    v.check_id_value("actor_id", actor_id)
    v.check_id_value("reason", reason)


_STAGES = ", ".join(repr(m.value) for m in Stage)


def _check_arguments(
    organization_id: str,
    actor_id: str | None,
    reason: str | None,
    ids: Mapping[str, object] | None = None,
) -> None:
    """A public method's ids and actor, checked before anything is read."""
    v.check_id_value("organization_id", organization_id)
    for field, value in (ids or {}).items():
        v.check_id_value(field, value)
    _check_actor(actor_id, reason)


class ReconciliationService:
    """Migrations, rollbacks, deprecations and repairs on stored progress.

    ``unit_of_work`` makes a :class:`~mlc_progress._ports.ReconciliationUnitOfWork`
    (an adapter's ``unit_of_work``); ``catalog`` is where new structure
    versions are published (both adapters' catalogs are); ``clock`` gives
    the time. Each transaction that fails with :class:`ConflictError` or a
    retryable :class:`StorageError` is tried again up to ``max_retries``
    more times. A person's change or repair names ``actor_id`` and
    ``reason`` (D8) and leaves an audit entry per student (D19).

    >>> from datetime import UTC, datetime
    >>> from mlc_progress import Attempt, AssignmentStructure, Stage, StepDefinition
    >>> from mlc_progress.adapters import FixedClock, InMemoryCatalog, InMemoryStore
    >>> from mlc_progress._service import ProgressService
    >>> def step(i): return StepDefinition(step_id=i, element_id=i,
    ...                                    stage=Stage.PLAY, target_score=80)
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a1", created_at=t0,
    ...                          steps=(step("s1"), step("s2")))
    >>> store, catalog, clock = InMemoryStore(), InMemoryCatalog(), FixedClock(t0)
    >>> catalog.add_assignment("org-1", v1)
    >>> ProgressService(store.unit_of_work, catalog, clock).apply("org-1", Attempt(
    ...     attempt_id="t1", student_id="ada", assignment_id="a1", step_id="s1",
    ...     score=90, attempted_at=t0, duration_ms=1000, session_id="x")).applied
    True
    >>> service = ReconciliationService(store.unit_of_work, catalog, clock)
    >>> v2 = AssignmentStructure(assignment_id="a1", created_at=t0, version=2,
    ...                          steps=(step("s1"), step("s2"), step("s3")))
    >>> report = service.migrate("org-1", v2, migration_id="m1")
    >>> report.changed, catalog.assignment("org-1", "a1").version
    (('ada',), 2)
    >>> service.migrate("org-1", v2, migration_id="m1").applied  # D3
    False
    """

    def __init__(
        self,
        unit_of_work: Callable[[], ReconciliationUnitOfWork],
        catalog: EditableCatalog,
        clock: Clock,
        *,
        policy: Policy = DEFAULT_POLICY,
        max_retries: int = 3,
    ) -> None:
        check_shell(unit_of_work, policy, max_retries)
        self._unit_of_work = unit_of_work
        self._catalog = catalog
        self._clock = clock
        self._policy = policy
        self._max_retries = max_retries

    # -- structure changes ------------------------------------------------------

    def migrate(
        self,
        organization_id: str,
        new_structure: AssignmentStructure,
        *,
        migration_id: str,
        actor_id: str | None = None,
        reason: str | None = None,
    ) -> ChangeReport:
        """Publish ``new_structure`` and migrate every student of the
        assignment to it (reconciliation rules 1-6, :func:`migrate_progress`).

        The new version must come after the catalog's current one, and a
        step id must keep its content (rule 2); otherwise
        :class:`InvalidInputError` and nothing changes.
        """
        _check_arguments(
            organization_id, actor_id, reason, {"migration_id": migration_id}
        )
        if not isinstance(new_structure, AssignmentStructure):
            raise InvalidInputError(
                "new_structure", new_structure, "an AssignmentStructure"
            )

        def make(
            uow: ReconciliationUnitOfWork,
            current: AssignmentStructure,
            students: tuple[str, ...],
            now: datetime,
        ) -> tuple[ChangeAssignment, tuple[Event, ...]]:
            if new_structure.version <= current.version:
                raise InvalidInputError(
                    "new_structure.version",
                    new_structure.version,
                    "a migration publishes a version after the catalog's"
                    f" current {current.version}",
                )
            match_steps(current, new_structure)
            return ChangeAssignment(
                command_id=migration_id,
                action=ChangeAction.MIGRATE,
                assignment_id=current.assignment_id,
                from_structure=current,
                to_structure=new_structure,
                student_ids=students,
                issued_at=now,
                actor_id=actor_id,
                reason=reason,
            ), ()

        return self._change(
            organization_id,
            new_structure.assignment_id,
            migration_id,
            "migration_id",
            ChangeAction.MIGRATE,
            make,
            actor_id,
            reason,
        )

    def rollback(
        self,
        organization_id: str,
        assignment_id: str,
        *,
        change_id: str,
        rollback_id: str,
        actor_id: str | None = None,
        reason: str | None = None,
    ) -> ChangeReport:
        """Undo the change ``change_id`` (a migration, a content change or a
        rollback): publish its earlier structure again, as the next version,
        and restore each student's records from the snapshot taken before it,
        keeping progress made since, under whatever id a later change gave a
        step (reconciliation rule 6, Q67, Q152, :func:`rollback_migration`,
        given the snapshots of the later changes). Students whose records
        began after the change are reconciled to the earlier structure by
        rules 1-6 (:func:`migrate_progress`, with their own pre-change
        snapshot); others without a snapshot of it keep their records (the
        change left them as they were). A student who failed a change made
        since is ``failed`` here too (Q67). Raises :class:`NotFoundError`
        when the assignment has no change ``change_id``.
        """
        _check_arguments(
            organization_id,
            actor_id,
            reason,
            {
                "assignment_id": assignment_id,
                "change_id": change_id,
                "rollback_id": rollback_id,
            },
        )

        def make(
            uow: ReconciliationUnitOfWork,
            current: AssignmentStructure,
            students: tuple[str, ...],
            now: datetime,
        ) -> tuple[ChangeAssignment, tuple[Event, ...]]:
            found = uow.commands.get(organization_id, change_id)
            target = found.command if found is not None else None
            if not (
                isinstance(target, ChangeAssignment)
                and target.assignment_id == assignment_id
            ):
                raise NotFoundError(
                    f"change_id={change_id!r} is no change of assignment"
                    f" {assignment_id!r} in organization {organization_id!r}"
                )
            restored = attrs.evolve(target.from_structure, version=current.version + 1)
            # Students who began after the change are reconciled to the
            # restored structure (Q67).
            covered = frozenset(target.student_ids)
            since = tuple(s for s in students if s not in covered)
            return ChangeAssignment(
                command_id=rollback_id,
                action=ChangeAction.ROLLBACK,
                assignment_id=assignment_id,
                from_structure=current,
                to_structure=restored,
                student_ids=(*target.student_ids, *since),
                issued_at=now,
                actor_id=actor_id,
                reason=reason,
                rolled_back_id=change_id,
            ), ()

        return self._change(
            organization_id,
            assignment_id,
            rollback_id,
            "rollback_id",
            ChangeAction.ROLLBACK,
            make,
            actor_id,
            reason,
        )

    def deprecate(
        self,
        organization_id: str,
        assignment_id: str,
        *,
        element_id: str,
        deprecation_id: str,
        stage: Stage | None = None,
        replaced_by_game_id: str | None = None,
        actor_id: str | None = None,
        reason: str | None = None,
    ) -> ChangeReport:
        """Deprecate a game (or one ``stage`` of it) in the assignment
        (deprecated content rules 1-5, :func:`deprecate_content`).

        Without a replacement the steps playing it are no longer required and
        every student's records are recalculated; with one, each step gets a
        :class:`ReplacementOffer` (in the report) for
        :meth:`accept_replacement`. The teacher's ``content_deprecated``
        notification, with the impact on the class, goes to the outbox in
        the transaction that logs the change. Content no step plays, or
        already deprecated, changes nothing.
        """
        _check_arguments(
            organization_id,
            actor_id,
            reason,
            {
                "assignment_id": assignment_id,
                "element_id": element_id,
                "deprecation_id": deprecation_id,
            },
        )
        if stage is not None and not isinstance(stage, Stage):
            raise InvalidInputError("stage", stage, f"None or one of {_STAGES}")
        if replaced_by_game_id is not None:
            v.check_id_value("replaced_by_game_id", replaced_by_game_id)
        impact: list[DeprecationImpact] = []

        def make(
            uow: ReconciliationUnitOfWork,
            current: AssignmentStructure,
            students: tuple[str, ...],
            now: datetime,
        ) -> tuple[ChangeAssignment, tuple[Event, ...]] | None:
            change = deprecate_content(
                current,
                element_id=element_id,
                stage=stage,
                replaced_by_game_id=replaced_by_game_id,
                deprecation_id=deprecation_id,
                as_of=now,
            )
            if not change.changed:
                return None
            states = []
            for student_id in students:
                try:
                    states.append(self._load(uow, organization_id, student_id, current))
                except CorruptRecordError:
                    continue  # left for the repair; reported by the loop
            found = deprecation_impact(change, [s.state for s in states], as_of=now)
            impact.append(found)
            return ChangeAssignment(
                command_id=deprecation_id,
                action=ChangeAction.DEPRECATE,
                assignment_id=assignment_id,
                from_structure=current,
                to_structure=change.after,
                student_ids=students,
                issued_at=now,
                actor_id=actor_id,
                reason=reason,
                element_id=element_id,
                stage=stage,
                replaced_by_game_id=replaced_by_game_id,
            ), found.events

        report = self._change(
            organization_id,
            assignment_id,
            deprecation_id,
            "deprecation_id",
            ChangeAction.DEPRECATE,
            make,
            actor_id,
            reason,
        )
        offers: tuple[ReplacementOffer, ...] = ()
        if report.applied or report.resumed:
            offers = self._offers(organization_id, deprecation_id)
        return attrs.evolve(report, offers=offers, impact=impact[0] if impact else None)

    def accept_replacement(
        self,
        organization_id: str,
        offer: ReplacementOffer,
        *,
        change_id: str,
        actor_id: str | None = None,
        reason: str | None = None,
    ) -> ChangeReport:
        """Accept a deprecation's replacement offer: the step plays the
        replacement game, and each student's record carries over
        (deprecated content rules 1 and 5, :func:`accept_replacement`).
        A stale offer raises :class:`InvalidInputError`."""
        _check_arguments(organization_id, actor_id, reason, {"change_id": change_id})
        if not isinstance(offer, ReplacementOffer):
            raise InvalidInputError("offer", offer, "a ReplacementOffer")

        def make(
            uow: ReconciliationUnitOfWork,
            current: AssignmentStructure,
            students: tuple[str, ...],
            now: datetime,
        ) -> tuple[ChangeAssignment, tuple[Event, ...]]:
            return ChangeAssignment(
                command_id=change_id,
                action=ChangeAction.ACCEPT_REPLACEMENT,
                assignment_id=offer.assignment_id,
                from_structure=current,
                to_structure=accept_replacement(current, offer),
                student_ids=students,
                issued_at=now,
                actor_id=actor_id,
                reason=reason,
                element_id=offer.element_id,
                stage=offer.stage,
                replaced_by_game_id=offer.replaced_by_game_id,
                offer_id=offer.offer_id,
            ), ()

        return self._change(
            organization_id,
            offer.assignment_id,
            change_id,
            "change_id",
            ChangeAction.ACCEPT_REPLACEMENT,
            make,
            actor_id,
            reason,
        )

    # -- repairs ------------------------------------------------------------------

    def repair(
        self,
        organization_id: str,
        student_id: str,
        assignment_id: str,
        *,
        repair_id: str,
        actor_id: str | None = None,
        reason: str | None = None,
    ) -> RepairOutcome:
        """Check and repair one student's stored records of an assignment,
        read raw, in one transaction (D18, :func:`repair_assignment`).

        Consistent records give an empty outcome. A repair stores the
        corrected records, appends its correction records and emits
        ``progress_reconciled`` (``error_repair``); one that cannot restore
        every invariant stores nothing but the ``progress_repair_failed``
        alert for support. The repair id is consumed either way: a re-run
        stores and emits nothing (its outcome still lists what is wrong).
        Use it when the service raised :class:`CorruptRecordError`.
        """
        _check_arguments(
            organization_id,
            actor_id,
            reason,
            {
                "student_id": student_id,
                "assignment_id": assignment_id,
                "repair_id": repair_id,
            },
        )
        try:
            structure: AssignmentStructure | None = self._catalog.assignment(
                organization_id, assignment_id
            )
        except NotFoundError:
            structure = None

        def work(uow: ReconciliationUnitOfWork, now: datetime) -> GroupRepair:
            return repair_group(
                uow,
                organization_id,
                student_id,
                assignment_id,
                structure,
                as_of=now,
                repair_id=repair_id,
                actor_id=actor_id,
                reason=reason,
                policy=self._policy,
            )

        return self._transact(work).outcome

    def corrections(
        self, organization_id: str, student_id: str
    ) -> tuple[CorrectionRecord, ...]:
        """The student's correction records, in the order appended."""
        _check_arguments(organization_id, None, None, {"student_id": student_id})

        def read(
            uow: ReconciliationUnitOfWork, now: datetime
        ) -> tuple[CorrectionRecord, ...]:
            return uow.corrections.for_student(organization_id, student_id)

        return self._transact(read, commit=False)

    # -- the machinery ------------------------------------------------------------

    def _change(
        self,
        organization_id: str,
        assignment_id: str,
        change_id: str,
        id_field: str,
        action: ChangeAction,
        make: Callable[
            [ReconciliationUnitOfWork, AssignmentStructure, tuple[str, ...], datetime],
            tuple[ChangeAssignment, tuple[Event, ...]] | None,
        ],
        actor_id: str | None,
        reason: str | None,
    ) -> ChangeReport:
        """Log the change ``make`` builds, publish it, and apply it to each
        student; the caller has checked the arguments."""

        def begin(
            uow: ReconciliationUnitOfWork, now: datetime
        ) -> tuple[ChangeAssignment | None, bool, int]:
            found = uow.commands.get(organization_id, change_id)
            if found is not None:
                logged = found.command
                if not (
                    isinstance(logged, ChangeAssignment)
                    and logged.action is action
                    and logged.assignment_id == assignment_id
                ):
                    raise InvalidInputError(
                        id_field,
                        change_id,
                        "D3: the id of another command in the log (Q54: the"
                        " first wins)",
                    )
                return logged, True, logged.from_structure.version
            current = self._catalog.assignment(organization_id, assignment_id)
            students = uow.raw.assignment_students(organization_id, assignment_id)
            made = make(uow, current, students, now)
            if made is None:
                return None, False, current.version
            change, events = made
            uow.commands.append(
                organization_id,
                CommandRecord(command_id=change_id, command=change, recorded_at=now),
            )
            if events:
                uow.outbox.append(organization_id, events)
            return change, False, current.version

        change, resumed, from_version = self._transact(begin)
        if change is None:
            return ChangeReport(
                change_id=change_id,
                action=action,
                assignment_id=assignment_id,
                from_version=from_version,
                to_version=from_version,
                applied=False,
            )
        # Published after the change is logged, so a crash in between is
        # finished by the next call; the same version again is harmless.
        self._catalog.add_assignment(organization_id, change.to_structure)
        covered = self._covered(organization_id, change)
        latest = self._catalog.assignment(organization_id, assignment_id)
        changed, done = [], []
        errors: dict[str, InvalidInputError] = {}
        for student_id in change.student_ids:

            def work(
                uow: ReconciliationUnitOfWork,
                now: datetime,
                student_id: str = student_id,
            ) -> str:
                return self._change_student(
                    uow, organization_id, change, student_id, now, covered, latest
                )

            try:
                status = self._transact(work)
            except InvalidInputError as error:
                # A corrupt row, or a rollback this student's snapshots
                # refuse: nothing of theirs was stored; the others go on and
                # the next call retries them (D18, Q67). Where no snapshot
                # says which structure they are on, a record of it is
                # appended, so later changes refuse them too (Q60).
                errors[student_id] = error

                def record(
                    uow: ReconciliationUnitOfWork,
                    now: datetime,
                    student_id: str = student_id,
                    error: InvalidInputError = error,
                ) -> None:
                    self._record_structure_on(
                        uow, organization_id, change, student_id, now, error
                    )

                self._transact(record)
                continue
            if status == "changed":
                changed.append(student_id)
            elif status == "done":
                done.append(student_id)
        return ChangeReport(
            change_id=change_id,
            action=action,
            assignment_id=assignment_id,
            from_version=change.from_structure.version,
            to_version=change.to_structure.version,
            applied=not resumed or bool(changed),
            resumed=resumed,
            students=change.student_ids,
            changed=tuple(changed),
            done_before=tuple(done),
            failed=tuple(errors),
            errors=errors,
        )

    def _change_student(
        self,
        uow: ReconciliationUnitOfWork,
        organization_id: str,
        change: ChangeAssignment,
        student_id: str,
        now: datetime,
        covered: frozenset[str],
        latest: AssignmentStructure,
    ) -> str:
        """One student's part of ``change``: ``changed``, ``done`` (consumed
        before) or ``unchanged`` (nothing to do). ``covered``: for a
        rollback, the students the rolled back change covered; ``latest``:
        the catalog's structure now.

        The structure a student is on is the one their latest pre-change
        snapshot of the assignment says the change left (``after``), or,
        with none, the one the change starts from (Q60). When this change
        is no longer the catalog's latest and the student is on the
        catalog's structure (the change was undone since: rolled back), it
        does nothing for them. A student on another structure than the one
        it starts from is behind (they failed a change since) and is
        refused, except by a rollback of a change they have a snapshot of,
        which checks its own chain (Q152).
        """
        if uow.commands.contains(organization_id, change.consumed_id(student_id)):
            return "done"
        on, by, refused = self._structure_on(
            uow, organization_id, student_id, change.assignment_id
        )

        def unchanged() -> str:
            # Called again, the change that refused them leaves them as
            # they were: their refusal is lifted (Q60).
            if refused and by == change.command_id:
                self._record_structure_on(
                    uow, organization_id, change, student_id, now, None
                )
            return "unchanged"

        if latest.version != change.to_structure.version and _same_structure(
            on or change.from_structure, latest
        ):
            return "unchanged"  # level with the catalog: undone since (Q60, Q67)
        if on is not None and not _same_structure(on, change.from_structure):
            behind = InvalidInputError(
                "structure",
                on.version,
                f"Q60: the student's records are on version {on.version} of"
                f" {change.assignment_id!r} (as change {by!r} left them), not"
                f" on version {change.from_structure.version}, which change"
                f" {change.command_id!r} starts from: they failed a change"
                " made since, and no later change applies to them until it"
                " has been called again for them",
            )
            if change.action is not ChangeAction.ROLLBACK or student_id not in covered:
                raise behind
        loaded = self._load(uow, organization_id, student_id, change.from_structure)
        common: dict[str, Any] = {
            "as_of": change.issued_at,
            "policy": self._policy,
            "actor_id": change.actor_id,
            "reason": change.reason,
        }
        outcome: ReconciliationOutcome
        if change.action is ChangeAction.ROLLBACK:
            assert change.rolled_back_id is not None
            found = self._snapshot_before(
                uow,
                organization_id,
                student_id,
                change.assignment_id,
                change.rolled_back_id,
            )
            if found is not None:
                snapshot, later = found
                try:
                    outcome = rollback_migration(
                        snapshot,
                        loaded.state,
                        rollback_id=change.command_id,
                        later=later,
                        **common,
                    )
                except InvalidInputError as error:
                    if not error.field.startswith("later"):
                        raise
                    raise InvalidInputError(
                        error.field,
                        error.value,
                        f"{error.rule}. The student has no snapshot of a change"
                        f" made after {change.rolled_back_id!r}: call the change"
                        " they failed again (after a repair), then this"
                        " rollback (Q67)",
                    ) from error
            elif student_id not in covered:
                # Records begun after the change: reconciled to the restored
                # structure like any new version, with their own pre-change
                # snapshot, so this can be rolled back too (Q67).
                outcome = migrate_progress(
                    loaded.state,
                    change.to_structure,
                    migration_id=change.command_id,
                    **common,
                )
            else:
                return unchanged()  # the change left them as they were
        elif change.action is ChangeAction.MIGRATE:
            outcome = migrate_progress(
                loaded.state,
                change.to_structure,
                migration_id=change.command_id,
                **common,
            )
        else:
            outcome = reconcile_content_change(
                loaded.state,
                change.to_structure,
                change_id=change.command_id,
                **common,
            )
        if not outcome.applied:
            return unchanged()
        self._store(uow, organization_id, change, loaded, outcome, now)
        return "changed"

    def _store(
        self,
        uow: ReconciliationUnitOfWork,
        organization_id: str,
        change: ChangeAssignment,
        loaded: _State,
        outcome: ReconciliationOutcome,
        now: datetime,
    ) -> None:
        progress = uow.progress
        for step in outcome.steps:
            progress.put_step(
                organization_id,
                step,
                expected_version=loaded.step_versions.get(step.step_id, 0),
            )
        if outcome.assignment is not None:
            progress.put_assignment(
                organization_id,
                outcome.assignment,
                expected_version=loaded.assignment_version,
            )
        if outcome.sequence is not None:
            progress.put_sequence(
                organization_id,
                outcome.sequence,
                expected_version=loaded.sequence_version,
            )
        for snapshot in outcome.snapshots:
            uow.snapshots.append(organization_id, snapshot)
        for entry in outcome.audit:
            uow.audit.append(organization_id, entry)
        if outcome.events:
            uow.outbox.append(organization_id, outcome.events)
        for consumed in outcome.consumed_ids:
            uow.commands.append(
                organization_id,
                CommandRecord(
                    command_id=consumed,
                    command=ReconcileStudent(
                        command_id=consumed,
                        change_id=change.command_id,
                        reconciliation_type=change.action.reconciliation_type,
                        student_id=loaded.state.student_id,
                        assignment_id=change.assignment_id,
                        issued_at=change.issued_at,
                        actor_id=change.actor_id,
                    ),
                    recorded_at=now,
                ),
            )

    def _load(
        self,
        uow: ReconciliationUnitOfWork,
        organization_id: str,
        student_id: str,
        structure: AssignmentStructure,
    ) -> _State:
        """The student's records under ``structure``; a corrupt record raises
        :class:`CorruptRecordError` (D18)."""
        aid = structure.assignment_id
        steps = uow.progress.steps(organization_id, student_id, aid)
        assignment = uow.progress.assignment(organization_id, student_id, aid)
        sequence_structure = sequence = None
        if structure.sequence_id is not None:
            sequence_structure = self._catalog.sequence(
                organization_id, structure.sequence_id
            )
            sequence = uow.progress.sequence(
                organization_id, student_id, structure.sequence_id
            )
        try:
            state = ProgressState(
                student_id=student_id,
                structure=structure,
                assignment=assignment.record if assignment else None,
                steps={k: r.record for k, r in steps.items()},
                sequence_structure=sequence_structure,
                sequence=sequence.record if sequence else None,
            )
        except InvalidInputError as error:
            # A record stored under another student's or step's key.
            raise CorruptRecordError(
                "step_progress", (organization_id, student_id, aid), error
            ) from error
        return _State(
            state=state,
            step_versions={k: r.version for k, r in steps.items()},
            assignment_version=assignment.version if assignment else 0,
            sequence_version=sequence.version if sequence else 0,
        )

    def _covered(
        self, organization_id: str, change: ChangeAssignment
    ) -> frozenset[str]:
        """For a rollback, the students the change it rolls back covered,
        read once per call (the log never changes); a student with records
        who is not among them began after it (Q67). Empty otherwise."""
        if change.rolled_back_id is None:
            return frozenset()
        rolled_back_id = change.rolled_back_id

        def read(uow: ReconciliationUnitOfWork, now: datetime) -> frozenset[str]:
            found = uow.commands.get(organization_id, rolled_back_id)
            target = found.command if found is not None else None
            if not isinstance(target, ChangeAssignment):
                return frozenset(change.student_ids)
            return frozenset(target.student_ids)

        return self._transact(read, commit=False)

    @staticmethod
    def _structure_on(
        uow: ReconciliationUnitOfWork,
        organization_id: str,
        student_id: str,
        assignment_id: str,
    ) -> tuple[AssignmentStructure | None, str | None, bool]:
        """The structure the student's latest pre-change snapshot of the
        assignment says the change left (Q152 ``after.structure``), or the
        service's later record of it (:data:`STRUCTURE_ON`), that change's
        id, and whether it refused them; ``None`` when nothing says (Q60)."""
        for snapshot in reversed(
            uow.snapshots.for_student(
                organization_id, student_id, scope_type=ScopeType.ASSIGNMENT
            )
        ):
            data = snapshot.state_snapshot
            kind = data.get("kind")
            if snapshot.scope_id != assignment_id or (
                kind not in SNAPSHOT_KINDS and kind != STRUCTURE_ON
            ):
                continue
            after = data.get("after")
            raw = after.get("structure") if isinstance(after, Mapping) else None
            if raw is None:
                return None, None, False  # stored before ``after`` kept it
            try:
                on = structure(raw, AssignmentStructure)
            except InvalidInputError as error:
                raise InvalidInputError(
                    "state_snapshot.after.structure",
                    raw,
                    f"Q152: the structure the change published ({error.rule})",
                ) from error
            change_id = data.get("change_id")
            return (
                on,
                change_id if isinstance(change_id, str) else None,
                kind == STRUCTURE_ON and data.get("refused") is not None,
            )
        return None, None, False

    def _record_structure_on(
        self,
        uow: ReconciliationUnitOfWork,
        organization_id: str,
        change: ChangeAssignment,
        student_id: str,
        now: datetime,
        error: InvalidInputError | None,
    ) -> None:
        """Append a :data:`STRUCTURE_ON` snapshot (Q60, Q67). ``error``: the
        change refused the student; recorded only when nothing says which
        structure they are on (they count as on the one it starts from), so
        every later change refuses them until it is called again for them.
        ``None``: called again, it left them unchanged, on the structure it
        publishes. Appended only: nothing stored changes."""
        try:
            on, _, _ = self._structure_on(
                uow, organization_id, student_id, change.assignment_id
            )
        except InvalidInputError:
            return  # a corrupt snapshot: every change refuses them already
        if error is not None and on is not None:
            return  # their latest snapshot says it already
        placed = change.from_structure if error is not None else change.to_structure
        refused = (
            None
            if error is None
            else {
                "type": type(error).__name__,
                "field": error.field,
                "value": repr(error.value),
                "rule": error.rule,
            }
        )
        known = uow.snapshots.for_student(organization_id, student_id)
        metrics = {"completion_percentage": 0.0, "mastery_score": 0.0}
        metrics["time_on_task_ms"] = 0.0
        try:
            row = uow.progress.assignment(
                organization_id, student_id, change.assignment_id
            )
        except InvalidInputError:
            row = None  # a corrupt row: no metrics to copy
        if row is not None:
            metrics = {
                "completion_percentage": row.record.completion_percentage,
                "mastery_score": row.record.mastery_score,
                "time_on_task_ms": float(row.record.time_on_task_ms),
            }
        uow.snapshots.append(
            organization_id,
            ProgressSnapshot(
                snapshot_id=(
                    f"{change.command_id}:{student_id}:{change.assignment_id}"
                    f":{STRUCTURE_ON}:{len(known)}"
                ),
                snapshot_date=now,
                student_id=student_id,
                scope_type=ScopeType.ASSIGNMENT,
                scope_id=change.assignment_id,
                state_snapshot={
                    "kind": STRUCTURE_ON,
                    "change_id": change.command_id,
                    "after": {"structure": unstructure(placed)},
                    "refused": refused,
                },
                metrics_snapshot=metrics,
                trigger=SnapshotTrigger.MANUAL,
                notes=f"{STRUCTURE_ON}:{change.command_id}",
            ),
        )

    @staticmethod
    def _snapshot_before(
        uow: ReconciliationUnitOfWork,
        organization_id: str,
        student_id: str,
        assignment_id: str,
        change_id: str,
    ) -> tuple[ProgressSnapshot, tuple[ProgressSnapshot, ...]] | None:
        """The student's snapshot taken before ``change_id`` (rule 6), and
        those taken before each change of the assignment after it, oldest
        first, so the rollback finds a step a later change renamed (Q152)."""
        found: ProgressSnapshot | None = None
        later: list[ProgressSnapshot] = []
        for snapshot in uow.snapshots.for_student(organization_id, student_id):
            data = snapshot.state_snapshot
            if not (
                snapshot.scope_type is ScopeType.ASSIGNMENT
                and snapshot.scope_id == assignment_id
                and data.get("kind") in SNAPSHOT_KINDS
            ):
                continue
            if found is not None:
                later.append(snapshot)
            elif data.get("change_id") == change_id:
                found = snapshot
        return None if found is None else (found, tuple(later))

    def _offers(
        self, organization_id: str, deprecation_id: str
    ) -> tuple[ReplacementOffer, ...]:
        """A logged deprecation's offers, made again from the log."""

        def read(
            uow: ReconciliationUnitOfWork, now: datetime
        ) -> tuple[ReplacementOffer, ...]:
            found = uow.commands.get(organization_id, deprecation_id)
            change = found.command if found is not None else None
            if not isinstance(change, ChangeAssignment) or change.element_id is None:
                return ()
            return deprecate_content(
                change.from_structure,
                element_id=change.element_id,
                stage=change.stage,
                replaced_by_game_id=change.replaced_by_game_id,
                deprecation_id=deprecation_id,
                as_of=change.issued_at,
            ).offers

        return self._transact(read, commit=False)

    def _now(self) -> datetime:
        return read_clock(self._clock)

    def _transact(
        self,
        work: Callable[[ReconciliationUnitOfWork, datetime], T],
        *,
        commit: bool = True,
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


for _cls in (ChangeReport, GroupRepair, _State):
    attrs.resolve_types(_cls)
