"""Progress when content changes (spec: Progress Reconciliation Rules).

Pure functions from a student's records and two versions of an assignment's
structure to the new records, the snapshots and the events:

- :func:`migrate_progress`: the assignment changed (rules 1-6), with
  :func:`rollback_migration` restoring the records from the pre-migration
  snapshot;
- :func:`deprecate_content`, :func:`accept_replacement`,
  :func:`reconcile_content_change` and :func:`deprecation_impact`: content
  was deprecated (deprecated content rules 1-5).

Completion is monotone (D7): no function here ever makes a complete record
incomplete, re-dates a completion or drops a score. Nothing is deleted:
records of removed steps stay, marked complete by the system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import attrs

from . import _validate as v
from ._assignment import assignment_progress
from ._commands import AuditEntry
from ._completion import completion_percentage, completion_source_for
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    ScopeType,
    SnapshotTrigger,
    Stage,
    StepState,
)
from ._errors import InvalidInputError
from ._events import (
    AssignmentProgressMilestone,
    ContentDeprecated,
    Event,
    ProgressReconciled,
    ProgressSnapshotCreated,
    ReconciliationType,
    SequenceMilestone,
    SequenceProgressMilestone,
)
from ._mastery import mastery_level
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
)
from ._serialization import structure, unstructure
from ._structure import AssignmentStructure, SequenceStructure, StepDefinition
from ._tracking import ProgressState, initial_step_progress

__all__ = [
    "CompletionChange",
    "ContentDeprecation",
    "DeprecationImpact",
    "ReconciliationOutcome",
    "ReplacementOffer",
    "accept_replacement",
    "deprecate_content",
    "deprecation_impact",
    "match_steps",
    "migrate_progress",
    "reconcile_content_change",
    "rollback_migration",
]

#: ``state_snapshot["kind"]`` of the snapshots a rollback can restore.
SNAPSHOT_KINDS = ("pre_migration", "pre_content_change", "pre_rollback")

_ONE_MS = timedelta(milliseconds=1)
_SEQUENCE_MILESTONES = (
    (25, SequenceMilestone.QUARTER),
    (50, SequenceMilestone.HALF),
    (75, SequenceMilestone.THREE_QUARTERS),
    (100, SequenceMilestone.COMPLETE),
)


@attrs.frozen(kw_only=True)
class ReconciliationOutcome:
    """What a structure change, or its rollback, does to one student.

    ``state`` is the student's state once the outcome is stored: every record
    they hold, including those of steps the structure no longer has.
    ``steps`` are the step records to store (changed or new), ``assignment``
    and ``sequence`` the new records, ``snapshots`` the pre-change audit
    snapshot first, then any milestone snapshots. ``step_mapping`` maps each
    step of the new structure to the old step whose record it carries (for a
    rollback, each restored step to the step the change had moved it to).
    ``audit`` holds the audit entry of a change a person made (D19).
    ``applied`` is ``False`` when there was nothing to do; then nothing is to
    be stored and there are no events.
    """

    change_id: str
    applied: bool
    state: ProgressState
    steps: tuple[StepProgress, ...] = ()
    assignment: AssignmentProgress | None = None
    sequence: SequenceProgress | None = None
    snapshots: tuple[ProgressSnapshot, ...] = ()
    events: tuple[Event, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    consumed_ids: tuple[str, ...] = ()
    step_mapping: Mapping[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def audit_snapshot(self) -> ProgressSnapshot | None:
        """The pre-change snapshot a rollback restores (rule 6)."""
        return self.snapshots[0] if self.snapshots else None


# Matching steps across versions (rule 2) ---------------------------------


def _same_content(old: StepDefinition, new: StepDefinition) -> bool:
    return (old.element_id, old.stage) == (new.element_id, new.stage)


def _replaced(old: StepDefinition, new: StepDefinition) -> bool:
    """``new`` plays the game that replaces ``old``'s deprecated one."""
    return (
        old.replaced_by_game_id is not None
        and old.replaced_by_game_id == new.element_id
        and old.stage == new.stage
    )


def match_steps(old: AssignmentStructure, new: AssignmentStructure) -> dict[str, str]:
    """Which old step each new step continues: ``{new step_id: old step_id}``.

    A step keeping its id is the same step; other steps are matched by
    ``element_id`` and ``stage``, in order (spec: reconciliation rule 2), and
    then by the replacement game of a deprecated one. New steps left out
    were added, old steps left out removed. A step id that now names other
    content is refused: its records would mix two activities.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> def s(i, game):
    ...     return StepDefinition(step_id=i, element_id=game, stage=Stage.PLAY,
    ...                           target_score=80)
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0,
    ...                          steps=(s("s1", "pizza"), s("s2", "cake")))
    >>> v2 = AssignmentStructure(assignment_id="a", created_at=t0, version=2,
    ...                          steps=(s("n1", "cake"), s("n2", "pie")))
    >>> match_steps(v1, v2)
    {'n1': 's2'}
    """
    if new.assignment_id != old.assignment_id:
        raise InvalidInputError(
            "assignment_id",
            new.assignment_id,
            f"a new version of assignment {old.assignment_id!r}",
        )
    old_by_id = {d.step_id: d for d in old.steps}
    pairs: dict[str, str] = {}
    for d in new.steps:
        previous = old_by_id.get(d.step_id)
        if previous is None:
            continue
        if not (_same_content(previous, d) or _replaced(previous, d)):
            raise InvalidInputError(
                "steps",
                d.step_id,
                "reconciliation rule 2: a step id keeps its element_id and stage "
                f"across versions (was {previous.element_id!r} "
                f"{previous.stage.value}, now {d.element_id!r} {d.stage.value})",
            )
        pairs[d.step_id] = previous.step_id
    used = set(pairs.values())
    for rule in (_same_content, _replaced):
        for d in new.steps:
            if d.step_id in pairs:
                continue
            for candidate in old.steps:
                if candidate.step_id not in used and rule(candidate, d):
                    pairs[d.step_id] = candidate.step_id
                    used.add(candidate.step_id)
                    break
    return {d.step_id: pairs[d.step_id] for d in new.steps if d.step_id in pairs}


# The change of one student's records --------------------------------------


def _effective_completion(assignment: AssignmentProgress | None) -> float:
    """Completion as milestones see it: 0 until the assignment started (D16)."""
    if assignment is None or assignment.started_at is None:
        return 0.0
    return assignment.completion_percentage


def _carry(
    record: StepProgress,
    old: StepDefinition,
    new: StepDefinition,
    as_of: datetime,
    policy: Policy,
) -> StepProgress:
    """``record`` as the record of ``new`` (rules 1, 2).

    The record keeps everything: state, dates, scores, source. The target
    follows the new version unless a teacher had adjusted it for this student
    (the record's target differs from the old version's). A target the
    evidence now meets completes the step then (D8), as ``fresh_attempt``.
    """
    if record.step_id != new.step_id:
        record = attrs.evolve(record, step_id=new.step_id)
    if record.target_score != old.target_score or new.target_score == old.target_score:
        return record
    target = new.target_score
    meta = record.reconciliation_metadata
    passed = (record.attempt_count > 0 and record.best_score >= target) or (
        meta is not None and meta.original_score >= target
    )
    record = attrs.evolve(
        record,
        target_score=target,
        passed=passed,
        mastery_level=mastery_level(
            attempt_count=record.attempt_count,
            best_score=record.best_score,
            target_score=target,
            consistency_score=record.consistency_score,
            policy=policy,
        ),
    )
    source = None if record.is_complete else completion_source_for(record)
    if source is not None:
        done_at = max(as_of, record.started_at) if record.started_at else as_of
        record = attrs.evolve(
            record,
            state=StepState.COMPLETE,
            completed_at=done_at,
            completion_source=source,
            available_at=record.available_at or done_at,
        )
    return record


def _retire(record: StepProgress, as_of: datetime) -> StepProgress:
    """A removed step's record: complete, by the system, if it was not (rule 3)."""
    if record.is_complete:
        return record
    done_at = max(as_of, record.started_at) if record.started_at else as_of
    return attrs.evolve(
        record,
        state=StepState.COMPLETE,
        completed_at=done_at,
        completion_source=CompletionSource.SYSTEM_MIGRATION,
        available_at=record.available_at or done_at,
    )


def _unlock(structure: AssignmentStructure, view: dict[str, StepProgress]) -> None:
    """Unlock by position (rule 4), by the real-time rule of ``apply_command``.

    A step is available once every required step before it is complete; it
    became available when the last of those completed, or at the
    assignment's creation. Steps are only ever unlocked, never locked again.
    """
    unlocked_at = structure.created_at
    for d in structure.steps:
        step = view[d.step_id]
        if step.state is StepState.LOCKED:
            step = attrs.evolve(
                step, state=StepState.AVAILABLE, available_at=unlocked_at
            )
        elif step.available_at is not None and step.available_at > unlocked_at:
            step = attrs.evolve(step, available_at=unlocked_at)
        view[d.step_id] = step
        if d.required:
            if step.completed_at is None:
                return
            unlocked_at = max(unlocked_at, step.completed_at)


class _Ids:
    """Deterministic ids: the same change of the same student gives the same
    ids, so a retried change is recognized (D3)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.counter = 0

    def __call__(self, kind: str) -> str:
        self.counter += 1
        return f"{self.prefix}/{kind}/{self.counter}"


def _metrics(assignment: AssignmentProgress) -> dict[str, float]:
    return {
        "completion_percentage": assignment.completion_percentage,
        "mastery_score": assignment.mastery_score,
        "time_on_task_ms": assignment.time_on_task_ms,
        "average_score": assignment.average_score,
        "pass_rate": assignment.pass_rate,
        "steps_completed": assignment.steps_completed,
    }


def _snapshot_event(
    snapshot: ProgressSnapshot, assignment: AssignmentProgress, event_id: str
) -> ProgressSnapshotCreated:
    return ProgressSnapshotCreated(
        event_id=event_id,
        occurred_at=snapshot.snapshot_date,
        snapshot_id=snapshot.snapshot_id,
        student_id=snapshot.student_id,
        scope_type=snapshot.scope_type,
        scope_id=snapshot.scope_id,
        trigger=snapshot.trigger,
        completion_percentage=assignment.completion_percentage,
        mastery_score=assignment.mastery_score,
    )


def _audit_snapshot(
    kind: str,
    change_id: str,
    state: ProgressState,
    measured: AssignmentProgress,
    snapshot_id: str,
    as_of: datetime,
    change: Mapping[str, Any],
) -> ProgressSnapshot:
    """Everything needed to restore ``state`` exactly (rule 6), and ``change``:
    what the change made of it (``step_mapping``, ``after``, maybe
    ``carried``), so a rollback tells progress made since from the change's
    own work (Q67).

    Trigger ``manual``: the change is an explicit action, not a schedule, a
    milestone or an intervention; ``notes`` say which change it preceded.
    """
    records = sorted(state.steps.values(), key=lambda s: s.step_id)
    sequence_structure = state.sequence_structure
    return ProgressSnapshot(
        snapshot_id=snapshot_id,
        snapshot_date=as_of,
        student_id=state.student_id,
        scope_type=ScopeType.ASSIGNMENT,
        scope_id=state.structure.assignment_id,
        state_snapshot={
            "kind": kind,
            "change_id": change_id,
            "structure": unstructure(state.structure),
            "assignment": None
            if state.assignment is None
            else unstructure(state.assignment),
            "steps": [unstructure(s) for s in records],
            "sequence_structure": None
            if sequence_structure is None
            else unstructure(sequence_structure),
            "sequence": None if state.sequence is None else unstructure(state.sequence),
            **change,
        },
        metrics_snapshot=_metrics(measured),
        trigger=SnapshotTrigger.MANUAL,
        notes=f"{kind}:{change_id}",
    )


def _after_change(
    structure: AssignmentStructure,
    rows: Mapping[str, StepProgress],
    sequence: SequenceProgress | None,
    student: str,
) -> dict[str, Any]:
    """The ``after`` entry of a pre-change snapshot: per step record the
    change leaves (a step without one has its initial record, Q17), the
    target, completion and attempt count; the sequence record then; and the
    structure the change published, which the next change starts from
    (Q152)."""
    records = dict(rows)
    for d in structure.steps:
        if d.step_id not in records:
            records[d.step_id] = initial_step_progress(
                structure, d.step_id, student_id=student
            )
    return {
        "steps": {
            k: {
                "target_score": r.target_score,
                "complete": r.is_complete,
                "attempt_count": r.attempt_count,
            }
            for k, r in sorted(records.items())
        },
        "sequence": None if sequence is None else unstructure(sequence),
        "structure": unstructure(structure),
    }


def _milestones(
    before: AssignmentProgress | None,
    after: AssignmentProgress,
    structure: AssignmentStructure,
    view: Mapping[str, StepProgress],
    ids: _Ids,
    as_of: datetime,
    policy: Policy,
) -> tuple[list[Event], list[ProgressSnapshot]]:
    """D16: one event and one snapshot per milestone crossed upwards, as
    ``apply_command`` gives them; a drop gives none."""
    events: list[Event] = []
    snapshots: list[ProgressSnapshot] = []
    previous = _effective_completion(before)
    new = _effective_completion(after)
    notes_list: list[str] = []
    for milestone in policy.milestones:
        if not previous < milestone <= new:
            continue
        started = after.started_at or as_of
        events.append(
            AssignmentProgressMilestone(
                event_id=ids("event"),
                occurred_at=as_of,
                assignment_id=after.assignment_id,
                student_id=after.student_id,
                previous_percentage=previous,
                new_percentage=new,
                milestone=str(milestone),
                time_to_milestone_ms=max(0, (as_of - started) // _ONE_MS),
                steps_completed=after.steps_completed,
                steps_remaining=after.steps_total - after.steps_completed,
            )
        )
        notes_list.append(
            f"milestone_{milestone}"
            + (";assignment_completed" if milestone == 100 else "")
        )
    if previous < 100 <= new and 100 not in policy.milestones:
        notes_list.append("assignment_completed")
    for notes in notes_list:
        steps = [view[d.step_id] for d in structure.steps]
        snapshot = ProgressSnapshot(
            snapshot_id=ids("snapshot"),
            snapshot_date=as_of,
            student_id=after.student_id,
            scope_type=ScopeType.ASSIGNMENT,
            scope_id=after.assignment_id,
            state_snapshot={
                "assignment": unstructure(after),
                "steps": [unstructure(s) for s in steps],
            },
            metrics_snapshot=_metrics(after),
            trigger=SnapshotTrigger.MILESTONE,
            notes=notes,
        )
        snapshots.append(snapshot)
        events.append(_snapshot_event(snapshot, after, ids("event")))
    return events, snapshots


def _sequence_moved(
    state: ProgressState,
    before: AssignmentProgress | None,
    after: AssignmentProgress,
) -> SequenceProgress | None:
    """The sequence record once this assignment's figures changed from
    ``before`` to ``after``; ``None`` without a sequence or when it does not
    change.

    The real-time core counts an assignment when it completes; a change that
    completes it, or takes completion away, moves the count the same way, and
    the overall mastery by this assignment's share, so later updates stay
    right (Q66).
    """
    seq, structure_of_seq = state.sequence, state.sequence_structure
    if seq is None or structure_of_seq is None:
        return None
    total = len(structure_of_seq.assignment_ids)
    was = _effective_completion(before) >= 100
    now = _effective_completion(after) >= 100
    completed = seq.assignments_completed + int(now and not was) - int(was and not now)
    completed = min(max(completed, 0), total)
    old_mastery = before.mastery_score if before is not None else 0.0
    overall = seq.overall_mastery_score + (after.mastery_score - old_mastery) / total
    current = seq.current_assignment_id
    if was and not now:
        current = after.assignment_id
    elif now and not was:
        index = structure_of_seq.assignment_ids.index(after.assignment_id)
        later = structure_of_seq.assignment_ids[index + 1 :]
        current = later[0] if later else None
    new = attrs.evolve(
        seq,
        assignments_completed=completed,
        completion_percentage=completion_percentage(completed, total),
        overall_mastery_score=min(max(overall, 0.0), 100.0),
        current_assignment_id=current,
    )
    return None if new == seq else new


def _sequence_events(
    seq: SequenceProgress, new: SequenceProgress, ids: _Ids, as_of: datetime
) -> list[Event]:
    """The sequence milestones ``seq`` crosses upwards to ``new`` (D16)."""
    return [
        SequenceProgressMilestone(
            event_id=ids("event"),
            occurred_at=as_of,
            sequence_id=new.sequence_id,
            student_id=new.student_id,
            milestone=name,
            assignments_completed=new.assignments_completed,
            overall_mastery_score=new.overall_mastery_score,
            concepts_mastered_count=len(new.concepts_mastered),
        )
        for threshold, name in _SEQUENCE_MILESTONES
        if seq.completion_percentage < threshold <= new.completion_percentage
    ]


def _check_actor(actor_id: str | None, reason: str | None) -> None:
    """A person's change names who and why (D8, D19); the system's names neither."""
    if actor_id is None:
        if reason is not None:
            raise InvalidInputError(
                "actor_id", None, "D19: a reason is given by someone"
            )
        return
    v.check_id_value("actor_id", actor_id)
    if reason is None:
        raise InvalidInputError("reason", None, "D8: a person's change has a reason")
    v.check_id_value("reason", reason)


def _audit_entry(
    actor_id: str | None,
    reason: str | None,
    action: str,
    change_id: str,
    student_id: str,
    ids: _Ids,
    as_of: datetime,
    before: tuple[AssignmentStructure, AssignmentProgress | None],
    after: tuple[AssignmentStructure, AssignmentProgress | None],
) -> tuple[AuditEntry, ...]:
    """The audit entry of a change a person made (D19); none for the system."""
    if actor_id is None or reason is None:
        return ()

    def view(side: tuple[AssignmentStructure, AssignmentProgress | None]) -> Any:
        on, assignment = side
        return {
            "structure_version": on.version,
            "assignment": None if assignment is None else unstructure(assignment),
        }

    return (
        AuditEntry(
            audit_id=ids("audit"),
            occurred_at=as_of,
            actor_id=actor_id,
            action=action,
            reason=reason,
            command_id=change_id,
            student_id=student_id,
            assignment_id=before[0].assignment_id,
            before=view(before),
            after=view(after),
        ),
    )


def _change(
    state: ProgressState,
    new_structure: AssignmentStructure,
    *,
    change_id: str,
    as_of: datetime,
    policy: Policy,
    kind: ReconciliationType,
    actor_id: str | None,
    reason: str | None,
) -> ReconciliationOutcome:
    as_of = utc_argument("as_of", as_of)
    _check_actor(actor_id, reason)
    old = state.structure
    mapping = match_steps(old, new_structure)
    if new_structure == old or (not state.steps and state.assignment is None):
        # Nothing changed, or nothing to carry: the student's records will
        # start from the new structure (Q17).
        return ReconciliationOutcome(
            change_id=change_id,
            applied=False,
            state=attrs.evolve(state, structure=new_structure),
            step_mapping=mapping,
        )
    student = state.student_id
    ids = _Ids(f"{change_id}:{student}:{old.assignment_id}")
    rows = dict(state.steps)
    old_defs = {d.step_id: d for d in old.steps}

    view: dict[str, StepProgress] = {}
    for d in new_structure.steps:
        old_id = mapping.get(d.step_id)
        carried = rows.get(old_id) if old_id is not None else None
        if carried is not None and old_id is not None:
            record = _carry(carried, old_defs[old_id], d, as_of, policy)
        else:
            record = initial_step_progress(new_structure, d.step_id, student_id=student)
        held = rows.get(d.step_id)
        if held is not None and held.is_complete and not record.is_complete:
            # A complete record stays complete (D7), even one of an earlier
            # version that had a step with this id.
            record = held
        view[d.step_id] = record
    _unlock(new_structure, view)

    matched = set(mapping.values())
    retired = {
        d.step_id: _retire(rows[d.step_id], as_of)
        for d in old.steps
        if d.step_id not in matched and d.step_id in rows
    }
    writes = [
        record
        for step_id, record in view.items()
        if record != rows.get(step_id)
        and not (
            step_id not in rows
            and record
            == initial_step_progress(new_structure, step_id, student_id=student)
        )
    ]
    writes.extend(r for step_id, r in retired.items() if r != rows[step_id])

    before = state.assignment
    measured = before or assignment_progress(
        old, rows, student_id=student, as_of=as_of, policy=policy
    )
    after = assignment_progress(
        new_structure,
        view,
        student_id=student,
        as_of=as_of,
        policy=policy,
        archived=before is not None and before.status is AssignmentStatus.ARCHIVED,
        due_at_override=before.due_at_override if before is not None else None,
    )
    kind_name = (
        "pre_migration"
        if kind is ReconciliationType.MIGRATION
        else "pre_content_change"
    )
    new_rows = {**rows, **{r.step_id: r for r in writes}}
    snapshot_id = ids("snapshot")
    # The sequence record the change leaves, once; its events are made below.
    sequence = _sequence_moved(state, before, after)
    audit = _audit_snapshot(
        kind_name,
        change_id,
        state,
        measured,
        snapshot_id,
        as_of,
        {
            "step_mapping": mapping,
            "after": _after_change(
                new_structure, new_rows, sequence or state.sequence, student
            ),
        },
    )
    events: list[Event] = [_snapshot_event(audit, measured, ids("event"))]
    events.append(
        ProgressReconciled(
            event_id=ids("event"),
            occurred_at=as_of,
            assignment_id=old.assignment_id,
            student_id=student,
            reconciliation_type=kind,
            steps_affected=len(writes),
            previous_completion_percentage=_effective_completion(before),
            new_completion_percentage=_effective_completion(after),
        )
    )
    milestone_events, milestone_snapshots = _milestones(
        before, after, new_structure, view, ids, as_of, policy
    )
    events.extend(milestone_events)
    if sequence is not None and state.sequence is not None:
        events.extend(_sequence_events(state.sequence, sequence, ids, as_of))
    audit_entries = _audit_entry(
        actor_id,
        reason,
        "migrate_assignment"
        if kind is ReconciliationType.MIGRATION
        else "reconcile_content_change",
        change_id,
        student,
        ids,
        as_of,
        (old, before),
        (new_structure, after),
    )
    return ReconciliationOutcome(
        change_id=change_id,
        applied=True,
        state=ProgressState(
            student_id=student,
            structure=new_structure,
            assignment=after,
            steps=new_rows,
            sequence_structure=state.sequence_structure,
            sequence=sequence or state.sequence,
        ),
        steps=tuple(writes),
        assignment=after,
        sequence=sequence,
        snapshots=(audit, *milestone_snapshots),
        events=tuple(events),
        audit=audit_entries,
        consumed_ids=(ids.prefix,),
        step_mapping=mapping,
    )


def migrate_progress(
    state: ProgressState,
    new_structure: AssignmentStructure,
    *,
    migration_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    actor_id: str | None = None,
    reason: str | None = None,
) -> ReconciliationOutcome:
    """A student's records moved to a new version of their assignment
    (spec: When Assignments Change, rules 1-6).

    ``state`` holds the student's records under the current structure
    (``state.structure``), including any records of steps an earlier version
    removed. Steps are matched by :func:`match_steps`:

    1. complete steps stay complete, with their dates, scores and source;
    2. every matched record moves to its new step (in-progress work
       included); its target follows the new version unless a teacher had
       adjusted it;
    3. removed steps keep their records, marked complete with
       ``completion_source = 'system_migration'`` unless already complete;
    4. added steps start in their initial state, and every step is unlocked
       by its position with the rule of ``apply_command``;
    5. the assignment's figures are recomputed on the new structure (a drop
       emits no milestone, D16; a rise emits those it crosses);
    6. a pre-migration snapshot (trigger ``manual``) holds everything
       :func:`rollback_migration` needs.

    Events: ``progress_snapshot_created`` for the audit snapshot, then
    ``progress_reconciled`` (``migration``). Applying the same structure
    again changes nothing; a student without any record has nothing to
    migrate. A person's migration names ``actor_id`` and ``reason`` and
    gets an audit entry (D19). Raises :class:`InvalidInputError` for a
    structure of another assignment or a step id that now names other
    content.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import (Attempt, StepDefinition, Stage, ProgressState,
    ...     apply_command)
    >>> def s(i, game):
    ...     return StepDefinition(step_id=i, element_id=game, stage=Stage.PLAY,
    ...                           target_score=80)
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0,
    ...                          steps=(s("s1", "pizza"), s("s2", "cake")))
    >>> play = Attempt(attempt_id="t1", student_id="u", assignment_id="a",
    ...     step_id="s1", score=90, attempted_at=t0, duration_ms=1000,
    ...     session_id="k")
    >>> state = ProgressState(student_id="u", structure=v1)
    >>> state = state.after(apply_command(play, state, as_of=t0))
    >>> v2 = AssignmentStructure(assignment_id="a", created_at=t0, version=2,
    ...     steps=(s("s1", "pizza"), s("s2", "cake"), s("s3", "pie")))
    >>> out = migrate_progress(state, v2, migration_id="m1", as_of=t0)
    >>> out.state.steps["s1"].state, round(out.assignment.completion_percentage, 1)
    (<StepState.COMPLETE: 'complete'>, 33.3)
    >>> [e.name for e in out.events]
    ['progress_snapshot_created', 'progress_reconciled']
    """
    return _change(
        state,
        new_structure,
        change_id=migration_id,
        as_of=as_of,
        policy=policy,
        kind=ReconciliationType.MIGRATION,
        actor_id=actor_id,
        reason=reason,
    )


def reconcile_content_change(
    state: ProgressState,
    new_structure: AssignmentStructure,
    *,
    change_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    actor_id: str | None = None,
    reason: str | None = None,
) -> ReconciliationOutcome:
    """A student's records recalculated after content was deprecated or
    replaced (spec: When Content is Deprecated, rules 2, 3, 5).

    The same rules as :func:`migrate_progress`, with
    ``reconciliation_type = 'content_change'``: a deprecated step leaves the
    required count (D10) and stops blocking the steps after it, which
    unlock; its record and scores stay as they are; an accepted replacement
    keeps the step's record (:func:`accept_replacement`).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage, ProgressState
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0, steps=(
    ...     StepDefinition(step_id="s1", element_id="old-game", stage=Stage.PLAY,
    ...                    target_score=80),))
    >>> change = deprecate_content(v1, element_id="old-game",
    ...                            deprecation_id="d1", as_of=t0)
    >>> state = ProgressState(student_id="u", structure=v1)
    >>> reconcile_content_change(state, change.after, change_id="d1",
    ...                          as_of=t0).applied  # no records: nothing to do
    False
    """
    return _change(
        state,
        new_structure,
        change_id=change_id,
        as_of=as_of,
        policy=policy,
        kind=ReconciliationType.CONTENT_CHANGE,
        actor_id=actor_id,
        reason=reason,
    )


def _restore(snapshot: ProgressSnapshot) -> ProgressState:
    """The state a pre-change snapshot captured, exactly."""
    data = snapshot.state_snapshot
    if data.get("kind") not in SNAPSHOT_KINDS:
        raise InvalidInputError(
            "state_snapshot.kind",
            data.get("kind"),
            f"a snapshot taken before a change, one of {SNAPSHOT_KINDS}",
        )
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list | tuple):
        raise InvalidInputError("state_snapshot.steps", raw_steps, "a list of records")
    steps = [structure(raw, StepProgress) for raw in raw_steps]
    raw_assignment = data.get("assignment")
    raw_seq_structure = data.get("sequence_structure")
    raw_sequence = data.get("sequence")
    return ProgressState(
        student_id=snapshot.student_id,
        structure=structure(data.get("structure"), AssignmentStructure),
        assignment=None
        if raw_assignment is None
        else structure(raw_assignment, AssignmentProgress),
        steps={s.step_id: s for s in steps},
        sequence_structure=None
        if raw_seq_structure is None
        else structure(raw_seq_structure, SequenceStructure),
        sequence=None
        if raw_sequence is None
        else structure(raw_sequence, SequenceProgress),
    )


class _Left(NamedTuple):
    """What a change left of one step record: its target, completion and
    attempt count."""

    target_score: float
    complete: bool
    attempt_count: int


@attrs.frozen(kw_only=True)
class _ChangeMade:
    """What a change made, as its pre-change snapshot holds it (Q67).

    ``mapping`` maps a step after the change to the step before it that it
    continues; ``steps`` and ``sequence`` are what the change left, ``None``
    (unknown) in a snapshot stored before they were kept; ``structure`` the
    structure it published, ``None`` in a snapshot stored before it was kept
    (Q152).
    """

    mapping: Mapping[str, str]
    steps: Mapping[str, _Left] | None
    sequence: SequenceProgress | None
    structure: AssignmentStructure | None = None


def _change_made(snapshot: ProgressSnapshot) -> _ChangeMade:
    """Read ``step_mapping`` and ``after`` of a pre-change snapshot; an older
    snapshot without them reads as no mapping and nothing known (Q67)."""
    data = snapshot.state_snapshot
    mapping = data.get("step_mapping", {})
    if not (
        isinstance(mapping, Mapping)
        and all(isinstance(k, str) and isinstance(o, str) for k, o in mapping.items())
    ):
        raise InvalidInputError(
            "state_snapshot.step_mapping",
            mapping,
            "Q67: step ids after the change mapped to the step ids before it",
        )
    after = data.get("after")
    if after is None:
        return _ChangeMade(mapping=dict(mapping), steps=None, sequence=None)
    raw_steps = after.get("steps") if isinstance(after, Mapping) else None
    if not isinstance(raw_steps, Mapping):
        raise InvalidInputError(
            "state_snapshot.after", after, "Q67: what the change left, per step"
        )
    steps: dict[str, _Left] = {}
    for step_id, left in raw_steps.items():
        fields = left if isinstance(left, Mapping) else {}
        target: Any = fields.get("target_score")  # checked below
        complete = fields.get("complete")
        count: Any = fields.get("attempt_count")  # checked below
        field = f"state_snapshot.after.steps[{step_id!r}]"
        if not (isinstance(step_id, str) and isinstance(complete, bool)):
            raise InvalidInputError(
                field,
                left,
                "Q67: a target in (0, 100], complete (a bool) and an attempt_count",
            )
        v.check_target_value(field, target)
        v.check_count_value(field, count)
        steps[step_id] = _Left(float(target), complete, count)
    raw_sequence = after.get("sequence")
    raw_structure = after.get("structure")
    try:
        published = (
            None
            if raw_structure is None
            else structure(raw_structure, AssignmentStructure)
        )
    except InvalidInputError as error:
        raise InvalidInputError(
            "state_snapshot.after.structure",
            raw_structure,
            f"Q152: the structure the change published ({error.field}: {error.rule})",
        ) from error
    return _ChangeMade(
        mapping=dict(mapping),
        steps=steps,
        sequence=None
        if raw_sequence is None
        else structure(raw_sequence, SequenceProgress),
        structure=published,
    )


def _advanced_since(
    before: StepProgress, now: StepProgress, left: _Left | None
) -> bool:
    """Whether the step moved on after the change by what a change never does
    itself (Q67): it has more attempts, became complete (an attempt, a
    teacher's override or lowered target, a free-play score, moving past it)
    or a teacher set its target, compared with what the change ``left``.
    (A change completes steps only as ``system_migration`` or, when a new
    target is met by earlier evidence, as ``fresh_attempt``; rolling back
    undoes those.) Without ``left`` (an older snapshot), against ``before``:
    more attempts, or completion by a teacher's override or free play.
    """
    if left is not None:
        return (
            now.attempt_count > left.attempt_count
            or now.target_score != left.target_score
            or (now.is_complete and not left.complete)
        )
    if now.attempt_count > before.attempt_count:
        return True
    return (
        now.is_complete
        and not before.is_complete
        and now.completion_source
        in (CompletionSource.TEACHER_OVERRIDE, CompletionSource.FREE_PLAY_RECONCILED)
    )


def _left(made: _ChangeMade, step_id: str) -> _Left | None:
    return None if made.steps is None else made.steps.get(step_id)


class _Stage(NamedTuple):
    """One change, from the rolled back one up to now (Q152): what it made,
    ``forward`` (each step before it: the step after it), and the step and
    sequence records it left as the next change found them (the current
    ones, for the last change)."""

    made: _ChangeMade
    forward: Mapping[str, str]
    rows: Mapping[str, StepProgress]
    sequence: SequenceProgress | None


def _stage(made: _ChangeMade, then: ProgressState) -> _Stage:
    forward = {before: after for after, before in made.mapping.items()}
    return _Stage(made, forward, then.steps, then.sequence)


_RULE_LATER = (
    "Q152: the pre-change snapshots of the changes made since, oldest first"
    " (a collection: one snapshot alone is no list of them)"
)


def _later_given(later: object) -> tuple[object, ...]:
    """``later`` as a tuple; a single snapshot, text or ``None`` is refused."""
    if isinstance(later, ProgressSnapshot | str | bytes | Mapping) or not isinstance(
        later, Iterable
    ):
        raise InvalidInputError("later", later, _RULE_LATER)
    return tuple(later)


def _leads_to(made: _ChangeMade, then: AssignmentStructure) -> bool:
    """Whether ``then`` is the structure the change ``made`` published
    (Q152): equal but for the version (a host may publish a rolled back
    structure again as its next version). A snapshot stored before it kept
    that structure tells only its step ids: ``then`` holds every step the
    change mapped, and only steps the change left a record for."""
    if made.structure is not None:
        return _same_structure(made.structure, then)
    ids = {d.step_id for d in then.steps}
    return set(made.mapping) <= ids and (made.steps is None or ids <= set(made.steps))


def _same_structure(a: AssignmentStructure, b: AssignmentStructure) -> bool:
    """``a`` and ``b`` are one structure, but for the version (a host may
    publish a rolled back structure again as its next version)."""
    return attrs.evolve(a, version=b.version) == b


class _History(NamedTuple):
    """The changes a rollback goes through (Q152): ``stages``, from the
    rolled back one up to now; ``followed`` when each later one is followed
    through its mapping; ``undone`` when, no later change given, the current
    structure is the one the rolled back change started from: it was undone
    already, and the rollback changes nothing."""

    stages: list[_Stage]
    followed: bool
    undone: bool


def _history(
    made: _ChangeMade,
    later: object,
    current: ProgressState,
    first_id: str,
    started_from: AssignmentStructure,
) -> _History:
    """The rolled back change and each one after it, in order (Q152).

    ``later`` are the pre-change snapshots of the changes since, oldest
    first; each holds the records the change before it left, and was taken
    on the structure that change published; the last change published the
    current structure. A chain that does not lead so from the rolled back
    change to ``current`` (out of order, a change missing, extra or earlier)
    is refused, naming ``later[n]`` or ``later``: following it would lose
    play made since. Without later changes, the current structure may also
    be the one the rolled back change started from (``undone``). When one of
    the snapshots was stored before changes kept ``step_mapping`` and
    ``after``, the later ones are not followed: the rollback works from its
    own snapshot alone, as it did then; one stored before ``after`` held the
    published structure is checked as far as its step ids tell.
    """
    given = _later_given(later)
    student, assignment_id = current.student_id, current.structure.assignment_id
    seen = {first_id}
    found: list[tuple[ProgressState, _ChangeMade]] = []
    previous, previous_id = made, first_id
    for n, snapshot in enumerate(given):
        field = f"later[{n}]"
        if not isinstance(snapshot, ProgressSnapshot):
            raise InvalidInputError(field, snapshot, "Q152: a pre-change snapshot")
        if snapshot.snapshot_id in seen:
            raise InvalidInputError(
                field,
                snapshot.snapshot_id,
                "Q152: the snapshot of a later change, each once",
            )
        seen.add(snapshot.snapshot_id)
        if (snapshot.student_id, snapshot.scope_type, snapshot.scope_id) != (
            student,
            ScopeType.ASSIGNMENT,
            assignment_id,
        ):
            raise InvalidInputError(
                field,
                snapshot.snapshot_id,
                f"Q152: a snapshot of student {student!r} in {assignment_id!r}",
            )
        try:
            then, then_made = _restore(snapshot), _change_made(snapshot)
        except InvalidInputError as error:
            raise InvalidInputError(
                f"{field}.{error.field}", error.value, error.rule
            ) from error
        if then.structure.assignment_id != assignment_id:
            raise InvalidInputError(
                f"{field}.state_snapshot.structure",
                then.structure.assignment_id,
                f"Q152: a snapshot of student {student!r} in {assignment_id!r}",
            )
        if not _leads_to(previous, then.structure):
            raise InvalidInputError(
                field,
                snapshot.snapshot_id,
                f"Q152: the snapshot of the change right after the one of "
                f"{previous_id!r}, taken on the structure that change published",
            )
        found.append((then, then_made))
        previous, previous_id = then_made, snapshot.snapshot_id
    if (
        not given
        and not (
            made.structure is not None
            and _same_structure(made.structure, current.structure)
        )
        and _same_structure(started_from, current.structure)
    ):
        return _History([_stage(made, current)], followed=False, undone=True)
    if not _leads_to(previous, current.structure):
        raise InvalidInputError(
            "later",
            tuple(getattr(s, "snapshot_id", s) for s in given),
            f"{_RULE_LATER}, up to the change that published the current "
            f"structure (version {current.structure.version}); the change of "
            f"{previous_id!r} published another",
        )
    mades = [made, *(m for _, m in found)]
    if any(m.steps is None for m in mades):
        return _History([_stage(made, current)], followed=False, undone=False)
    ends = [*(then for then, _ in found), current]
    stages = [_stage(m, end) for m, end in zip(mades, ends, strict=True)]
    return _History(stages, followed=True, undone=False)


class _Trail(NamedTuple):
    """Where a restored step went through the changes since (Q152): its id
    at the last change that kept it, its record there, each record met on
    the way with what its change left, and whether the current structure
    still has it."""

    step_id: str
    record: StepProgress | None
    met: tuple[tuple[StepProgress, _Left | None], ...]
    current: bool


def _trail(step_id: str, history: list[_Stage]) -> _Trail | None:
    """Follow ``step_id`` through each change's mapping; ``None`` when the
    rolled back change did not keep it."""
    at = history[0].forward.get(step_id)
    if at is None:
        return None
    met: list[tuple[StepProgress, _Left | None]] = []
    n = 0
    while True:
        stage = history[n]
        record = stage.rows.get(at)
        if record is not None:
            met.append((record, _left(stage.made, at)))
        n += 1
        following = history[n].forward.get(at) if n < len(history) else None
        if following is None:
            # Now, or removed by the next change: its record as it found it.
            return _Trail(at, record, tuple(met), n == len(history))
        at = following


def _readded(
    old: AssignmentStructure, now: AssignmentStructure, reached: Mapping[str, str]
) -> dict[str, str]:
    """Each step of ``old`` no trail brings to ``now`` (the rolled back change
    or a later one removed it): the step of ``now`` no trail reaches that
    plays its content, paired as :func:`match_steps` pairs (the same id
    first, then the same game and stage in order, then the replacement
    game) (Q152)."""
    taken = set(reached.values())
    free = [d for d in now.steps if d.step_id not in taken]
    ended = [d for d in old.steps if d.step_id not in reached]

    def same_id(before: StepDefinition, after: StepDefinition) -> bool:
        return before.step_id == after.step_id and (
            _same_content(before, after) or _replaced(before, after)
        )

    pairs: dict[str, str] = {}
    for rule in (same_id, _same_content, _replaced):
        for d in free:
            if d.step_id in taken:
                continue
            for candidate in ended:
                if candidate.step_id not in pairs and rule(candidate, d):
                    pairs[candidate.step_id] = d.step_id
                    taken.add(d.step_id)
                    break
    return pairs


def _since_added(
    step_id: str, history: list[_Stage]
) -> tuple[tuple[StepProgress, _Left | None], ...]:
    """The records of the current step ``step_id`` back to the change that
    added it, each with what its change left (Q152)."""
    met: list[tuple[StepProgress, _Left | None]] = []
    at: str | None = step_id
    for stage in reversed(history):
        if at is None:
            break
        record = stage.rows.get(at)
        if record is not None:
            met.append((record, _left(stage.made, at)))
        at = stage.made.mapping.get(at)
    return tuple(met)


def _last_left(history: list[_Stage], step_id: str) -> _Left | None:
    """What the latest change that knew the row of ``step_id`` left of it."""
    for stage in reversed(history):
        left = _left(stage.made, step_id)
        if left is not None:
            return left
    return None


def rollback_migration(
    snapshot: ProgressSnapshot,
    current: ProgressState,
    *,
    rollback_id: str,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    actor_id: str | None = None,
    reason: str | None = None,
    later: Iterable[ProgressSnapshot] = (),
) -> ReconciliationOutcome:
    """Restore the records a pre-change snapshot holds (reconciliation rule 6).

    ``snapshot`` is the ``audit_snapshot`` of a migration or content change,
    as stored (JSON-ready data is enough); ``current`` the student's state
    now. Every record the student had before the change comes back exactly,
    except a step moved on since (new attempts, a completion, a teacher's
    target): completion is monotone (D7), so that record stays, taken back
    from the step the changes moved it to if it was renamed, the steps after
    it unlock (rule 4) and the assignment is recomputed (Q67). A due date a
    teacher extended, or an archive, since the change stays; the sequence
    record keeps what was counted since (D16). The structure comes back with the records
    (``state.structure``: the host restores its catalog); a step of the
    restored structure that had no record gets its initial record, which
    counts the same (Q17). Records the change created for steps outside the
    restored structure stay stored and are ignored, so nothing is deleted,
    and the pre-rollback snapshot this outcome starts with holds them. One
    ``progress_reconciled`` (``migration``); no milestones, the restored
    figures were reported when first reached. A second rollback changes
    nothing. ``later`` are the pre-change snapshots of the changes made to
    the student's assignment after this one (the service passes them),
    oldest first: a step they renamed or removed again is followed through
    each one's ``step_mapping``, so play under its newest id comes back too,
    and what they did themselves is undone with the rest; a step removed on
    the way that a later change added back (the same game and stage) takes
    back the record of the step added back when it moved on, unless only the
    removed one is complete (Q152). Raises :class:`InvalidInputError` for a
    snapshot, or a later one, that is not a pre-change snapshot of this
    student and assignment, and for ``later`` when it is no collection or
    does not lead, change by change, from this change to the current
    structure (naming ``later[n]``, or ``later``); with no later snapshots,
    a current structure that is the one this change started from means the
    change was undone already, and the rollback changes nothing.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage, ProgressState, StepProgress
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> def s(i):
    ...     return StepDefinition(step_id=i, element_id=i, stage=Stage.PLAY,
    ...                           target_score=80)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0, steps=(s("x"),))
    >>> v2 = AssignmentStructure(assignment_id="a", created_at=t0, version=2,
    ...                          steps=(s("y"),))
    >>> x = StepProgress(step_id="x", assignment_id="a", student_id="u",
    ...                  target_score=80, state=StepState.AVAILABLE)
    >>> before = ProgressState(student_id="u", structure=v1, steps={"x": x})
    >>> moved = migrate_progress(before, v2, migration_id="m1", as_of=t0)
    >>> moved.state.steps["x"].completion_source.value
    'system_migration'
    >>> back = rollback_migration(moved.audit_snapshot, moved.state,
    ...                           rollback_id="r1", as_of=t0)
    >>> back.state.steps["x"] == x and back.state.structure == v1
    True
    """
    as_of = utc_argument("as_of", as_of)
    _check_actor(actor_id, reason)
    restored = _restore(snapshot)
    made = _change_made(snapshot)
    old = restored.structure
    if (current.student_id, current.structure.assignment_id) != (
        restored.student_id,
        old.assignment_id,
    ):
        raise InvalidInputError(
            "snapshot",
            snapshot.snapshot_id,
            f"a snapshot of student {current.student_id!r} in "
            f"{current.structure.assignment_id!r}",
        )
    student = restored.student_id
    history, followed, undone = _history(
        made, later, current, snapshot.snapshot_id, old
    )
    if undone:
        # Rolled back already: the records are as the rollback and what was
        # done since left them (Q152).
        return ReconciliationOutcome(
            change_id=rollback_id,
            applied=False,
            state=current,
            step_mapping={d.step_id: d.step_id for d in old.steps},
        )
    # Where each step the change kept went, through the changes since.
    trails = {
        before: trail
        for before in history[0].forward
        if (trail := _trail(before, history)) is not None
    }
    # Each restored step, and the step of the current structure it is now:
    # where its trail leads, or the step a later change added back with its
    # content when its trail ended at a removal.
    back_mapping = {k: t.step_id for k, t in trails.items() if t.current}
    readded = _readded(old, current.structure, back_mapping) if followed else {}
    back_mapping.update(readded)
    order = [d.step_id for d in old.steps] + sorted(
        set(restored.steps) - {d.step_id for d in old.steps}
    )
    chosen: dict[str, StepProgress] = {}
    kept: dict[str, StepProgress] = {}
    carried: dict[str, str] = {}
    for step_id in order:
        wanted = restored.steps.get(step_id)
        now = current.steps.get(step_id)
        trail = trails.get(step_id)
        moved = None if trail is None else trail.record
        again_id = readded.get(step_id)
        again = None if again_id is None else current.steps.get(again_id)
        if wanted is None:
            if now is None and moved is None and again is None:
                continue
            wanted = initial_step_progress(old, step_id, student_id=student)
        # What moved on since, and the id it comes back from (Q67, Q152).
        found: tuple[StepProgress, str] | None = None
        if (
            trail is not None
            and moved is not None
            and any(_advanced_since(wanted, r, left) for r, left in trail.met)
        ):
            # Progress made on the step, under whatever id the changes
            # since gave it, comes back with it.
            found = moved, trail.step_id
        elif (
            now is not None
            and (trail is None or trail.step_id != step_id)
            and _advanced_since(wanted, now, _last_left(history, step_id))
        ):
            # D7: what the student did after the change stays.
            found = now, step_id
        if (
            again is not None
            and again_id is not None
            and (found is None or again.is_complete or not found[0].is_complete)
            and any(
                _advanced_since(wanted, r, left)
                for r, left in _since_added(again_id, history)
            )
        ):
            # Play on the step added back: the complete one of the two
            # records, or this newer one (Q152).
            found = again, again_id
        if found is None:
            chosen[step_id] = wanted
            continue
        record, source = found
        kept[step_id] = chosen[step_id] = attrs.evolve(record, step_id=step_id)
        if source != step_id:
            carried[step_id] = source
    if kept:
        # A kept completion unlocks the steps after it, by the real-time
        # rule (rule 4), as a change's records are.
        view = {
            d.step_id: chosen.get(d.step_id)
            or initial_step_progress(old, d.step_id, student_id=student)
            for d in old.steps
        }
        _unlock(old, view)
        chosen.update(view)
    writes = [
        chosen[step_id]
        for step_id in order
        if step_id in chosen
        and chosen[step_id] != current.steps.get(step_id)
        and not (
            step_id not in current.steps
            and step_id not in restored.steps
            and chosen[step_id]
            == initial_step_progress(old, step_id, student_id=student)
        )
    ]
    before = restored.assignment
    latest = current.assignment or before
    # A change keeps these as they were: a difference is a teacher's since (D8).
    due_at = None if latest is None else latest.due_at_override
    archived = latest is not None and latest.status is AssignmentStatus.ARCHIVED
    if kept or (
        before is not None
        and (
            before.due_at_override != due_at
            or (before.status is AssignmentStatus.ARCHIVED) != archived
        )
    ):
        merged = {**restored.steps, **chosen}
        assignment = assignment_progress(
            old,
            {d.step_id: merged[d.step_id] for d in old.steps if d.step_id in merged},
            student_id=student,
            as_of=as_of,
            policy=policy,
            archived=archived,
            due_at_override=due_at,
        )
    else:
        assignment = before or assignment_progress(
            old,
            restored.steps,
            student_id=student,
            as_of=as_of,
            policy=policy,
            archived=archived,
            due_at_override=due_at,
        )
    # The sequence record has not moved since when each change found it as
    # the one before left it, and it is still as the last left it; in an
    # older snapshot, when no step moved on (Q152).
    untouched = (
        all(stage.sequence == stage.made.sequence for stage in history)
        if made.steps is not None
        else not kept
    )
    sequence = _sequence_back(restored, current, untouched, assignment)
    new_rows = {**current.steps, **{r.step_id: r for r in writes}}
    state = ProgressState(
        student_id=student,
        structure=old,
        assignment=assignment,
        steps=new_rows,
        sequence_structure=restored.sequence_structure,
        sequence=sequence if sequence is not None else current.sequence,
    )
    if (
        not writes
        and current.structure == old
        and current.assignment == assignment
        and (sequence is None or sequence == current.sequence)
    ):
        return ReconciliationOutcome(
            change_id=rollback_id, applied=False, state=state, step_mapping=back_mapping
        )
    ids = _Ids(f"{rollback_id}:{student}:{old.assignment_id}")
    measured = current.assignment or assignment_progress(
        current.structure, current.steps, student_id=student, as_of=as_of, policy=policy
    )
    audit = _audit_snapshot(
        "pre_rollback",
        rollback_id,
        current,
        measured,
        ids("snapshot"),
        as_of,
        {
            "step_mapping": back_mapping,
            "after": _after_change(old, new_rows, state.sequence, student),
            "carried": carried,
        },
    )
    events: list[Event] = [
        _snapshot_event(audit, measured, ids("event")),
        ProgressReconciled(
            event_id=ids("event"),
            occurred_at=as_of,
            assignment_id=old.assignment_id,
            student_id=student,
            reconciliation_type=ReconciliationType.MIGRATION,
            steps_affected=len(writes),
            previous_completion_percentage=_effective_completion(current.assignment),
            new_completion_percentage=_effective_completion(assignment),
        ),
    ]
    return ReconciliationOutcome(
        change_id=rollback_id,
        applied=True,
        state=state,
        steps=tuple(writes),
        assignment=assignment,
        sequence=sequence if sequence != current.sequence else None,
        snapshots=(audit,),
        events=tuple(events),
        audit=_audit_entry(
            actor_id,
            reason,
            "rollback_migration",
            rollback_id,
            student,
            ids,
            as_of,
            (current.structure, current.assignment),
            (old, assignment),
        ),
        consumed_ids=(ids.prefix,),
        step_mapping=back_mapping,
    )


def _sequence_back(
    restored: ProgressState,
    current: ProgressState,
    untouched: bool,
    assignment: AssignmentProgress,
) -> SequenceProgress | None:
    """The sequence record after a rollback (D16, Q67, Q152).

    When it has not moved since the change (``untouched``: it is the
    record each change left), the snapshot's record, moved by this
    assignment's restored figures if they differ. Otherwise the current
    record, which counts what happened since in every assignment of the
    sequence, moved by this assignment's change of figures. Without a
    sequence, the snapshot's (``None`` keeps the current one). No milestones.
    """
    if restored.sequence is None or current.sequence is None:
        return restored.sequence
    base, before = (
        (restored, restored.assignment) if untouched else (current, current.assignment)
    )
    return _sequence_moved(base, before, assignment) or base.sequence


# Deprecated content --------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplacementOffer:
    """A deprecated game's replacement, offered for one step (deprecated
    content rule 1). Data for the teacher: :func:`accept_replacement` takes
    it; ignoring it leaves the step as it is."""

    offer_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)
    element_id: str = attrs.field(validator=v.identifier)
    stage: Stage = attrs.field(validator=v.enum_of(Stage))
    replaced_by_game_id: str = attrs.field(validator=v.identifier)
    offered_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)


@attrs.frozen(kw_only=True)
class ContentDeprecation:
    """What deprecating a game (or one stage of it) does to one assignment.

    ``after`` is the new structure (``before`` when no step plays the
    content, or nothing changes); ``step_ids`` the steps that play it;
    ``offers`` one :class:`ReplacementOffer` per step when the game has a
    replacement.
    """

    deprecation_id: str = attrs.field(validator=v.identifier)
    element_id: str = attrs.field(validator=v.identifier)
    stage: Stage | None = attrs.field(
        validator=attrs.validators.optional(v.enum_of(Stage))
    )
    replaced_by_game_id: str | None = attrs.field(validator=v.optional_identifier)
    before: AssignmentStructure
    after: AssignmentStructure
    step_ids: tuple[str, ...] = attrs.field(validator=v.identifiers)
    offers: tuple[ReplacementOffer, ...] = ()
    deprecated_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)

    @property
    def changed(self) -> bool:
        """Whether the structure changed, so students' records need
        :func:`reconcile_content_change`."""
        return self.after != self.before


def deprecate_content(
    structure: AssignmentStructure,
    *,
    element_id: str,
    stage: Stage | None = None,
    replaced_by_game_id: str | None = None,
    deprecation_id: str,
    as_of: datetime,
) -> ContentDeprecation:
    """The structure once a game (or one ``stage`` of it) is deprecated.

    With a replacement (rule 1) each step playing it records
    ``replaced_by_game_id`` and gets a :class:`ReplacementOffer`; it stays
    required until the teacher accepts. Without one (rules 2, 3) each such
    step is marked ``deprecated``: it is no longer required (D10), so it
    leaves the completion count and stops blocking progression. The step
    and its records are kept (rule 5). Deprecating again changes nothing.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0, steps=(
    ...     StepDefinition(step_id="s1", element_id="old-game", stage=Stage.PLAY,
    ...                    target_score=80),))
    >>> gone = deprecate_content(v1, element_id="old-game", deprecation_id="d1",
    ...                          as_of=t0)
    >>> gone.after.steps[0].required, gone.after.version
    (False, 2)
    >>> offered = deprecate_content(v1, element_id="old-game",
    ...     replaced_by_game_id="new-game", deprecation_id="d2", as_of=t0)
    >>> offered.after.steps[0].required, offered.offers[0].replaced_by_game_id
    (True, 'new-game')
    """
    as_of = utc_argument("as_of", as_of)
    if replaced_by_game_id is not None and replaced_by_game_id == element_id:
        raise InvalidInputError(
            "replaced_by_game_id",
            replaced_by_game_id,
            "a game is replaced by another game",
        )
    affected = tuple(
        d.step_id
        for d in structure.steps
        if d.element_id == element_id and (stage is None or d.stage == stage)
    )
    steps = []
    offers = []
    for d in structure.steps:
        if d.step_id not in affected:
            steps.append(d)
        elif replaced_by_game_id is None:
            steps.append(attrs.evolve(d, deprecated=True))
        else:
            steps.append(attrs.evolve(d, replaced_by_game_id=replaced_by_game_id))
            offers.append(
                ReplacementOffer(
                    offer_id=f"{deprecation_id}:{structure.assignment_id}/offer/"
                    f"{d.step_id}",
                    assignment_id=structure.assignment_id,
                    step_id=d.step_id,
                    element_id=d.element_id,
                    stage=d.stage,
                    replaced_by_game_id=replaced_by_game_id,
                    offered_at=as_of,
                )
            )
    after = structure
    if tuple(steps) != structure.steps:
        after = attrs.evolve(
            structure, steps=tuple(steps), version=structure.version + 1
        )
    return ContentDeprecation(
        deprecation_id=deprecation_id,
        element_id=element_id,
        stage=stage,
        replaced_by_game_id=replaced_by_game_id,
        before=structure,
        after=after,
        step_ids=affected,
        offers=tuple(offers),
        deprecated_at=as_of,
    )


def accept_replacement(
    structure: AssignmentStructure, offer: ReplacementOffer
) -> AssignmentStructure:
    """The structure with ``offer`` accepted: the step keeps its id and plays
    the replacement game, required again (deprecated content rule 1).

    Run :func:`reconcile_content_change` for each student: the step's record
    carries over, complete or in progress, with its scores (rule 5). Raises
    :class:`InvalidInputError` when the offer is stale (the step changed).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0, steps=(
    ...     StepDefinition(step_id="s1", element_id="old-game", stage=Stage.PLAY,
    ...                    target_score=80),))
    >>> offered = deprecate_content(v1, element_id="old-game",
    ...     replaced_by_game_id="new-game", deprecation_id="d1", as_of=t0)
    >>> v3 = accept_replacement(offered.after, offered.offers[0])
    >>> v3.steps[0].element_id, v3.version
    ('new-game', 3)
    """
    if offer.assignment_id != structure.assignment_id:
        raise InvalidInputError(
            "offer.assignment_id",
            offer.assignment_id,
            f"an offer for assignment {structure.assignment_id!r}",
        )
    step = structure.step(offer.step_id)
    if (step.element_id, step.stage, step.replaced_by_game_id) != (
        offer.element_id,
        offer.stage,
        offer.replaced_by_game_id,
    ):
        raise InvalidInputError(
            "offer",
            offer.offer_id,
            "an offer for the step as it is: it changed since the offer",
        )
    replaced = attrs.evolve(
        step,
        element_id=offer.replaced_by_game_id,
        replaced_by_game_id=None,
        deprecated=False,
    )
    steps = tuple(replaced if d.step_id == step.step_id else d for d in structure.steps)
    return attrs.evolve(structure, steps=steps, version=structure.version + 1)


@attrs.frozen(kw_only=True)
class CompletionChange:
    """One student's completion percentage before and after a change."""

    student_id: str = attrs.field(validator=v.identifier)
    previous_percentage: float = attrs.field(validator=v.percentage)
    new_percentage: float = attrs.field(validator=v.percentage)


@attrs.frozen(kw_only=True)
class DeprecationImpact:
    """The impact of a deprecation on the students of an assignment, and the
    teacher notification that reports it (deprecated content rule 4).

    ``changes`` lists the students whose completion changed;
    ``students_with_scores`` counts those with scores on the deprecated
    steps, which are kept (rule 5). ``events`` hold one
    ``content_deprecated`` notification when some step plays the content.
    """

    deprecation_id: str
    assignment_id: str
    step_ids: tuple[str, ...]
    students_total: int
    students_affected: int
    students_with_scores: int
    changes: tuple[CompletionChange, ...] = ()
    events: tuple[Event, ...] = ()


def _completion_of(
    structure: AssignmentStructure, rows: Mapping[str, StepProgress]
) -> float:
    """D10 completion of ``rows`` under ``structure``."""
    required = [d for d in structure.steps if d.required]
    done = sum(
        1 for d in required if (r := rows.get(d.step_id)) is not None and r.is_complete
    )
    return completion_percentage(done, len(required))


def deprecation_impact(
    deprecation: ContentDeprecation,
    students: Iterable[ProgressState],
    *,
    as_of: datetime,
) -> DeprecationImpact:
    """How ``deprecation`` changes the completion of each of ``students``
    (their states under ``deprecation.before``), and the teacher
    notification (deprecated content rule 4).

    Completion can rise (an unfinished step no longer counts) or drop (a
    finished one no longer counts either, D10); both are reported, so no
    figure changes silently.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage, ProgressState
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0, steps=(
    ...     StepDefinition(step_id="s1", element_id="old-game", stage=Stage.PLAY,
    ...                    target_score=80),))
    >>> gone = deprecate_content(v1, element_id="old-game", deprecation_id="d1",
    ...                          as_of=t0)
    >>> impact = deprecation_impact(
    ...     gone, [ProgressState(student_id="u", structure=v1)], as_of=t0)
    >>> impact.students_affected, impact.changes[0].new_percentage
    (1, 100.0)
    >>> impact.events[0].name
    'content_deprecated'
    """
    as_of = utc_argument("as_of", as_of)
    before, after = deprecation.before, deprecation.after
    changes: list[CompletionChange] = []
    previous_total = new_total = drop = 0.0
    total = with_scores = 0
    for state in students:
        if state.structure.assignment_id != before.assignment_id:
            raise InvalidInputError(
                "students",
                state.structure.assignment_id,
                f"states of assignment {before.assignment_id!r}",
            )
        total += 1
        previous = _completion_of(before, state.steps)
        new = _completion_of(after, state.steps)
        previous_total += previous
        new_total += new
        drop = max(drop, previous - new)
        if previous != new:
            changes.append(
                CompletionChange(
                    student_id=state.student_id,
                    previous_percentage=previous,
                    new_percentage=new,
                )
            )
        if any(
            (r := state.steps.get(step_id)) is not None and r.attempt_count > 0
            for step_id in deprecation.step_ids
        ):
            with_scores += 1
    events: tuple[Event, ...] = ()
    if deprecation.step_ids:
        events = (
            ContentDeprecated(
                event_id=f"{deprecation.deprecation_id}:{before.assignment_id}"
                "/notification",
                occurred_at=as_of,
                assignment_id=before.assignment_id,
                step_ids=deprecation.step_ids,
                element_id=deprecation.element_id,
                stage=deprecation.stage,
                replaced_by_game_id=deprecation.replaced_by_game_id,
                replacement_offered=bool(deprecation.offers),
                students_total=total,
                students_affected=len(changes),
                students_with_scores=with_scores,
                average_completion_before=_mean(previous_total, total),
                average_completion_after=_mean(new_total, total),
                largest_completion_drop=min(drop, 100.0),
            ),
        )
    return DeprecationImpact(
        deprecation_id=deprecation.deprecation_id,
        assignment_id=before.assignment_id,
        step_ids=deprecation.step_ids,
        students_total=total,
        students_affected=len(changes),
        students_with_scores=with_scores,
        changes=tuple(changes),
        events=events,
    )


def _mean(total: float, n: int) -> float:
    return min(max(total / n, 0.0), 100.0) if n else 0.0


for _cls in (
    ReconciliationOutcome,
    ReplacementOffer,
    ContentDeprecation,
    CompletionChange,
    DeprecationImpact,
):
    attrs.resolve_types(_cls)
