"""Real-time tracking: one command applied to one student's records (pure).

``apply_command(command, state, as_of=...)`` returns an :class:`Outcome`: the
changed records, the events, the snapshots to create, the audit entry for a
person's action, and the ids consumed. It reads no clock and touches no
storage; the same inputs always give the same outcome, ids included.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import datetime
from typing import Any

import attrs

from ._assignment import assignment_progress
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
    command_id_of,
)
from ._completion import completion_source_for
from ._consistency import add_score, consistency_from_moments
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    ScopeType,
    SnapshotTrigger,
    StepState,
)
from ._errors import InvalidInputError
from ._events import (
    AssignmentProgressMilestone,
    Event,
    ProgressReconciled,
    ProgressSnapshotCreated,
    ReconciliationType,
    SequenceMilestone,
    SequenceProgressMilestone,
    StepProgressUpdated,
)
from ._mastery import mastery_level
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    ReconciliationMetadata,
    SequenceProgress,
    StepProgress,
)
from ._serialization import unstructure
from ._structure import AssignmentStructure, Attempt, SequenceStructure

__all__ = [
    "Outcome",
    "ProgressState",
    "apply_command",
    "initial_step_progress",
]

_SEQUENCE_MILESTONES = (
    (25, SequenceMilestone.QUARTER),
    (50, SequenceMilestone.HALF),
    (75, SequenceMilestone.THREE_QUARTERS),
    (100, SequenceMilestone.COMPLETE),
)


@attrs.frozen(kw_only=True)
class ProgressState:
    """One student's records for one assignment, as read from storage.

    ``steps`` may omit steps never touched; they start as
    :func:`initial_step_progress` makes them. ``sequence_structure`` and
    ``sequence`` are given when the assignment belongs to a sequence.
    """

    student_id: str
    structure: AssignmentStructure
    assignment: AssignmentProgress | None = None
    steps: Mapping[str, StepProgress] = attrs.field(factory=dict, hash=False)
    sequence_structure: SequenceStructure | None = None
    sequence: SequenceProgress | None = None


@attrs.frozen(kw_only=True)
class Outcome:
    """What applying one command produced.

    ``steps`` holds only the step records that changed; ``assignment`` and
    ``sequence`` are the new records when they changed, else ``None``.
    ``applied`` is ``False`` when the command's id was already applied (D3):
    then nothing changed and there are no events. ``consumed_ids`` are the
    ids a repository must record to enforce exactly-once.
    """

    command_id: str
    applied: bool
    steps: tuple[StepProgress, ...] = ()
    assignment: AssignmentProgress | None = None
    sequence: SequenceProgress | None = None
    events: tuple[Event, ...] = ()
    snapshots: tuple[ProgressSnapshot, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    consumed_ids: tuple[str, ...] = ()


def initial_step_progress(
    structure: AssignmentStructure, step_id: str, *, student_id: str
) -> StepProgress:
    """A step's record before anything happened: the first step is available
    from the assignment's creation, the others are locked."""
    definition = structure.step(step_id)
    first = structure.steps[0].step_id == step_id
    return StepProgress(
        step_id=step_id,
        assignment_id=structure.assignment_id,
        student_id=student_id,
        target_score=definition.target_score,
        state=StepState.AVAILABLE if first else StepState.LOCKED,
        available_at=structure.created_at if first else None,
    )


def apply_command(
    command: Command,
    state: ProgressState,
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    seen: Container[str] = frozenset(),
) -> Outcome:
    """Apply ``command`` to ``state`` as of the clock's ``as_of``.

    ``seen`` answers whether an id was already applied (the repository's
    command log); an id in it gives an unchanged outcome with no events (D3).
    Raises :class:`InvalidInputError` for a command that does not fit the
    state (another student, a time too far ahead of ``as_of`` (D2), a free-play
    score for another game) and :class:`NotFoundError` for an unknown step.
    Nothing is returned half-applied.
    """
    key = command_id_of(command)
    if key in seen:
        return Outcome(command_id=key, applied=False)
    if command.student_id != state.student_id:
        raise InvalidInputError(
            "student_id", command.student_id, f"the state is for {state.student_id!r}"
        )
    if command.assignment_id != state.structure.assignment_id:
        raise InvalidInputError(
            "assignment_id",
            command.assignment_id,
            f"the state is for {state.structure.assignment_id!r}",
        )
    return _Transition(command, state, as_of, policy, key).run()


class _Transition:
    """The work of one ``apply_command`` call; private, used once."""

    def __init__(
        self,
        command: Command,
        state: ProgressState,
        as_of: datetime,
        policy: Policy,
        key: str,
    ) -> None:
        self.command = command
        self.state = state
        self.as_of = as_of
        self.policy = policy
        self.key = key
        self.structure = state.structure
        self.steps: dict[str, StepProgress] = dict(state.steps)
        self.changed: dict[str, StepProgress] = {}
        self.events: list[Event] = []
        self.snapshots: list[ProgressSnapshot] = []
        self.audit: list[AuditEntry] = []
        self.due_at_override = (
            state.assignment.due_at_override if state.assignment else None
        )
        self.archived = (
            state.assignment is not None
            and state.assignment.status is AssignmentStatus.ARCHIVED
        )
        self.focus_score: dict[str, float] = {}

    # -- helpers --------------------------------------------------------------

    def step(self, step_id: str) -> StepProgress:
        found = self.steps.get(step_id)
        if found is None:
            found = initial_step_progress(
                self.structure, step_id, student_id=self.state.student_id
            )
            self.steps[step_id] = found
        return found

    def put(self, new: StepProgress) -> None:
        old = self.step(new.step_id)
        if new != old:
            self.steps[new.step_id] = new
            self.changed[new.step_id] = new

    def check_skew(self, field: str, when: datetime) -> None:
        if when > self.as_of + self.policy.max_clock_skew:
            raise InvalidInputError(
                field,
                when,
                f"D2: at most {self.policy.max_clock_skew_seconds:g} s after "
                f"now ({self.as_of.isoformat()})",
            )

    def next_id(self, kind: str) -> str:
        self._counter = getattr(self, "_counter", 0) + 1
        return f"{self.key}/{kind}/{self._counter}"

    def mastery(self, step: StepProgress) -> MasteryLevel:
        return mastery_level(
            attempt_count=step.attempt_count,
            best_score=step.best_score,
            target_score=step.target_score,
            consistency_score=step.consistency_score,
            policy=self.policy,
        )

    # -- the commands -----------------------------------------------------------

    def run(self) -> Outcome:
        command = self.command
        before_assignment = self.state.assignment
        if isinstance(command, Attempt):
            self.check_skew("attempted_at", command.attempted_at)
            self.record_attempt(command)
        elif isinstance(command, StartStep):
            self.check_skew("started_at", command.started_at)
            self.start_step(command)
        elif isinstance(command, OverrideComplete):
            self.check_skew("issued_at", command.issued_at)
            self.override_complete(command)
        elif isinstance(command, AdjustTarget):
            self.check_skew("issued_at", command.issued_at)
            self.adjust_target(command)
        elif isinstance(command, ExtendDueDate):
            self.check_skew("issued_at", command.issued_at)
            self.extend_due_date(command)
        elif isinstance(command, ReconcileFreePlay):
            self.check_skew("issued_at", command.issued_at)
            self.check_skew("achieved_at", command.achieved_at)
            self.reconcile_free_play(command)
        elif isinstance(command, ArchiveAssignment):
            self.check_skew("issued_at", command.issued_at)
            self.archived = True
        else:
            self.check_skew("issued_at", command.issued_at)
        self.unlock()
        new_assignment = self.recompute()
        self.emit_step_events()
        assignment_changed = new_assignment != before_assignment
        self.assignment_events(before_assignment, new_assignment)
        if isinstance(command, RequestTeacherReview):
            self.snapshot(
                new_assignment,
                SnapshotTrigger.MANUAL,
                f"teacher_review:{command.actor_id}",
            )
        if isinstance(command, ReconcileFreePlay) and self.changed:
            self.events.append(
                ProgressReconciled(
                    event_id=self.next_id("event"),
                    occurred_at=self.as_of,
                    assignment_id=self.structure.assignment_id,
                    student_id=self.state.student_id,
                    reconciliation_type=ReconciliationType.FREE_PLAY,
                    steps_affected=1,
                    previous_completion_percentage=_completion(before_assignment),
                    new_completion_percentage=new_assignment.completion_percentage,
                )
            )
        sequence = self.sequence_update(before_assignment, new_assignment)
        self.audit_entry(before_assignment, new_assignment)
        return Outcome(
            command_id=self.key,
            applied=True,
            steps=tuple(
                self.changed[d.step_id]
                for d in self.structure.steps
                if d.step_id in self.changed
            ),
            assignment=new_assignment if assignment_changed else None,
            sequence=sequence,
            events=tuple(self.events),
            snapshots=tuple(self.snapshots),
            audit=tuple(self.audit),
            consumed_ids=(self.key,),
        )

    def touch(
        self, step: StepProgress, when: datetime, session_id: str
    ) -> dict[str, Any]:
        """Fields of an interaction at ``when``: start, activity, session.

        Late interactions count but never move ``last_activity_at`` back (D2).
        """
        started = (
            step.started_at if step.started_at and step.started_at <= when else when
        )
        last = step.last_activity_at
        is_latest = last is None or when >= last
        new_session = step.last_session_id != session_id and is_latest
        return {
            "started_at": started,
            "last_activity_at": when if is_latest else last,
            "last_session_id": session_id if is_latest else step.last_session_id,
            "session_count": step.session_count + (1 if new_session else 0),
            "available_at": step.available_at
            if step.available_at is not None and step.available_at <= started
            else started,
        }

    def record_attempt(self, attempt: Attempt) -> None:
        step = self.step(attempt.step_id)
        self.structure.step(attempt.step_id)  # NotFoundError for unknown steps
        when = attempt.attempted_at
        score = attempt.score
        count = step.attempt_count + 1
        mean, m2 = add_score(step.attempt_count, step.score_mean, step.score_m2, score)
        best = max(step.best_score, score) if step.attempt_count else score
        first_at = step.first_attempt_at
        if first_at is None or when < first_at:
            first_at, first_score = when, score
        elif when == first_at:
            first_score = max(step.first_score or 0.0, score)
        else:
            first_score = step.first_score if step.first_score is not None else score
        latest_at = step.latest_attempt_at
        if latest_at is None or when > latest_at:
            latest_at, latest = when, score
        elif when == latest_at:
            latest = max(step.latest_score, score)
        else:
            latest = step.latest_score
        consistency = consistency_from_moments(count, mean, m2)
        fields = self.touch(step, when, attempt.session_id)
        updated = attrs.evolve(
            step,
            **fields,
            attempt_count=count,
            best_score=best,
            latest_score=latest,
            score_mean=mean,
            score_m2=m2,
            consistency_score=consistency,
            first_attempt_at=first_at,
            first_score=first_score,
            latest_attempt_at=latest_at,
            time_on_task_ms=step.time_on_task_ms + attempt.duration_ms,
            mastery_level=mastery_level(
                attempt_count=count,
                best_score=best,
                target_score=step.target_score,
                consistency_score=consistency,
                policy=self.policy,
            ),
            passed=best >= step.target_score
            or _reconciled_meets(step, step.target_score),
            state=StepState.COMPLETE
            if step.state is StepState.COMPLETE
            else StepState.IN_PROGRESS,
        )
        if score >= step.target_score and (
            updated.state is not StepState.COMPLETE
            or (
                updated.completion_source is CompletionSource.FRESH_ATTEMPT
                and updated.completed_at is not None
                and when < updated.completed_at
            )
        ):
            # Completed by this attempt; a late qualifying attempt moves the
            # completion back to when it really happened, so delivery order
            # does not change the record.
            updated = attrs.evolve(
                updated,
                state=StepState.COMPLETE,
                completed_at=when,
                completion_source=CompletionSource.FRESH_ATTEMPT,
            )
        self.focus_score[attempt.step_id] = score
        self.put(updated)
        self.move_past_optional(attempt.step_id, when)

    def start_step(self, command: StartStep) -> None:
        self.structure.step(command.step_id)
        step = self.step(command.step_id)
        fields = self.touch(step, command.started_at, command.session_id)
        self.put(
            attrs.evolve(
                step,
                **fields,
                state=StepState.COMPLETE
                if step.state is StepState.COMPLETE
                else StepState.IN_PROGRESS,
            )
        )
        self.move_past_optional(command.step_id, command.started_at)

    def move_past_optional(self, step_id: str, when: datetime) -> None:
        """D7 rule 4: optional steps before one the student works on are
        moved past and so complete."""
        for definition in self.structure.steps:
            if definition.step_id == step_id:
                return
            if definition.required:
                continue
            earlier = self.step(definition.step_id)
            if earlier.state is StepState.COMPLETE:
                continue
            source = completion_source_for(earlier, optional=True, moved_past=True)
            assert source is not None
            done_at = max(when, earlier.started_at) if earlier.started_at else when
            # Moving past a step is reaching it: it starts and completes then,
            # so a later attempt on it cannot complete it "before it started".
            self.put(
                attrs.evolve(
                    earlier,
                    state=StepState.COMPLETE,
                    started_at=earlier.started_at or done_at,
                    completed_at=done_at,
                    completion_source=source,
                    available_at=earlier.available_at or done_at,
                )
            )

    def override_complete(self, command: OverrideComplete) -> None:
        self.structure.step(command.step_id)
        step = self.step(command.step_id)
        if step.state is StepState.COMPLETE:
            return
        done_at = command.issued_at
        if step.started_at is not None and step.started_at > done_at:
            done_at = step.started_at
        self.put(
            attrs.evolve(
                step,
                state=StepState.COMPLETE,
                completed_at=done_at,
                completion_source=CompletionSource.TEACHER_OVERRIDE,
                available_at=step.available_at or done_at,
            )
        )

    def adjust_target(self, command: AdjustTarget) -> None:
        self.structure.step(command.step_id)
        step = self.step(command.step_id)
        target = command.target_score
        passed = (step.attempt_count > 0 and step.best_score >= target) or (
            _reconciled_meets(step, target)
        )
        updated = attrs.evolve(step, target_score=target, passed=passed)
        updated = attrs.evolve(updated, mastery_level=self.mastery(updated))
        if updated.state is not StepState.COMPLETE:
            source = completion_source_for(updated)
            if source is not None:
                # D8: a lowered target met by an earlier attempt completes the
                # step as a fresh attempt; the evidence was an attempt.
                done_at = command.issued_at
                if step.started_at is not None and step.started_at > done_at:
                    done_at = step.started_at
                updated = attrs.evolve(
                    updated,
                    state=StepState.COMPLETE,
                    completed_at=done_at,
                    completion_source=source,
                    available_at=step.available_at or done_at,
                )
        self.put(updated)

    def extend_due_date(self, command: ExtendDueDate) -> None:
        current = self.structure.window_end(self.due_at_override)
        if command.due_at <= self.structure.created_at or (
            current is not None and command.due_at <= current
        ):
            raise InvalidInputError(
                "due_at",
                command.due_at,
                "D8: an extended due date is after the current one"
                + (f" ({current.isoformat()})" if current else ""),
            )
        self.due_at_override = command.due_at

    def reconcile_free_play(self, command: ReconcileFreePlay) -> None:
        definition = self.structure.step(command.step_id)
        if (command.element_id, command.stage) != (
            definition.element_id,
            definition.stage,
        ):
            raise InvalidInputError(
                "element_id",
                (command.element_id, command.stage.value),
                "D9: a free-play score is for the step's own game and stage "
                f"({definition.element_id!r}, {definition.stage.value!r})",
            )
        step = self.step(command.step_id)
        reference = step.available_at or command.issued_at
        window_start = reference - self.policy.free_play_window
        if not (window_start <= command.achieved_at <= reference):
            raise InvalidInputError(
                "achieved_at",
                command.achieved_at,
                f"D9: within {self.policy.free_play_window_days} days before the "
                f"step became available ({reference.isoformat()})",
            )
        if step.state is StepState.COMPLETE or command.score < step.target_score:
            return
        meta = ReconciliationMetadata(
            original_score=command.score,
            original_context=command.original_context,
            reconciled_at=command.issued_at,
        )
        done_at = command.issued_at
        if step.started_at is not None and step.started_at > done_at:
            done_at = step.started_at
        self.focus_score[command.step_id] = command.score
        self.put(
            attrs.evolve(
                step,
                state=StepState.COMPLETE,
                completed_at=done_at,
                completion_source=CompletionSource.FREE_PLAY_RECONCILED,
                reconciliation_metadata=meta,
                passed=True,
                available_at=step.available_at or done_at,
            )
        )

    # -- consequences -------------------------------------------------------------

    def unlock(self) -> None:
        """Unlock steps in order up to the first required step not complete.

        A step is available once every required step before it is complete;
        optional and deprecated steps never block (D7 rule 4, D10).
        """
        for definition in self.structure.steps:
            step = self.step(definition.step_id)
            if step.state is StepState.LOCKED:
                when = self.unlock_time(definition.step_id)
                self.put(
                    attrs.evolve(step, state=StepState.AVAILABLE, available_at=when)
                )
            if definition.required and self.steps[definition.step_id].state is not (
                StepState.COMPLETE
            ):
                return

    def unlock_time(self, step_id: str) -> datetime:
        """When the step became available: the latest completion before it,
        or the assignment's creation for the first step."""
        latest = self.structure.created_at
        for definition in self.structure.steps:
            if definition.step_id == step_id:
                break
            done = self.steps[definition.step_id].completed_at
            if done is not None and done > latest:
                latest = done
        return latest

    def recompute(self) -> AssignmentProgress:
        return assignment_progress(
            self.structure,
            self.steps,
            student_id=self.state.student_id,
            as_of=self.as_of,
            policy=self.policy,
            archived=self.archived,
            due_at_override=self.due_at_override,
        )

    def emit_step_events(self) -> None:
        for definition in self.structure.steps:
            new = self.changed.get(definition.step_id)
            if new is None:
                continue
            old = self.state.steps.get(definition.step_id) or initial_step_progress(
                self.structure, definition.step_id, student_id=self.state.student_id
            )
            self.events.append(
                StepProgressUpdated(
                    event_id=self.next_id("event"),
                    occurred_at=self.as_of,
                    step_id=new.step_id,
                    assignment_id=new.assignment_id,
                    student_id=new.student_id,
                    previous_state=old.state,
                    new_state=new.state,
                    score_achieved=self.focus_score.get(new.step_id, new.latest_score),
                    target_score=new.target_score,
                    passed=new.passed,
                    attempt_count=new.attempt_count,
                    time_on_task_ms=new.time_on_task_ms,
                    mastery_level=new.mastery_level,
                    completion_source=new.completion_source,
                )
            )

    def assignment_events(
        self, before: AssignmentProgress | None, after: AssignmentProgress
    ) -> None:
        was_started = before is not None and before.status is not (
            AssignmentStatus.NOT_STARTED
        )
        if not was_started and after.status not in (
            AssignmentStatus.NOT_STARTED,
            AssignmentStatus.ARCHIVED,
        ):
            self.snapshot(after, SnapshotTrigger.MILESTONE, "assignment_started")
        previous = _completion(before)
        new = after.completion_percentage
        for milestone in self.policy.milestones:
            if previous < milestone <= new:
                started = after.started_at or self.as_of
                self.events.append(
                    AssignmentProgressMilestone(
                        event_id=self.next_id("event"),
                        occurred_at=self.as_of,
                        assignment_id=after.assignment_id,
                        student_id=after.student_id,
                        previous_percentage=previous,
                        new_percentage=new,
                        milestone=str(milestone),
                        time_to_milestone_ms=max(
                            0, int((self.as_of - started).total_seconds() * 1000)
                        ),
                        steps_completed=after.steps_completed,
                        steps_remaining=after.steps_total - after.steps_completed,
                    )
                )
                notes = f"milestone_{milestone}"
                if milestone == 100:
                    notes += ";assignment_completed"
                self.snapshot(after, SnapshotTrigger.MILESTONE, notes)
        became_complete = previous < 100 <= after.completion_percentage
        if became_complete and 100 not in self.policy.milestones:
            self.snapshot(after, SnapshotTrigger.MILESTONE, "assignment_completed")

    def snapshot(
        self, assignment: AssignmentProgress, trigger: SnapshotTrigger, notes: str
    ) -> None:
        snapshot_id = self.next_id("snapshot")
        steps = [
            self.steps[d.step_id]
            for d in self.structure.steps
            if d.step_id in self.steps
        ]
        self.snapshots.append(
            ProgressSnapshot(
                snapshot_id=snapshot_id,
                snapshot_date=self.as_of,
                student_id=assignment.student_id,
                scope_type=ScopeType.ASSIGNMENT,
                scope_id=assignment.assignment_id,
                state_snapshot={
                    "assignment": unstructure(assignment),
                    "steps": [unstructure(s) for s in steps],
                },
                metrics_snapshot={
                    "completion_percentage": assignment.completion_percentage,
                    "mastery_score": assignment.mastery_score,
                    "time_on_task_ms": assignment.time_on_task_ms,
                    "average_score": assignment.average_score,
                    "pass_rate": assignment.pass_rate,
                    "steps_completed": assignment.steps_completed,
                },
                trigger=trigger,
                notes=notes,
            )
        )
        self.events.append(
            ProgressSnapshotCreated(
                event_id=self.next_id("event"),
                occurred_at=self.as_of,
                snapshot_id=snapshot_id,
                student_id=assignment.student_id,
                scope_type=ScopeType.ASSIGNMENT,
                scope_id=assignment.assignment_id,
                trigger=trigger,
                completion_percentage=assignment.completion_percentage,
                mastery_score=assignment.mastery_score,
            )
        )

    def sequence_update(
        self, before: AssignmentProgress | None, after: AssignmentProgress
    ) -> SequenceProgress | None:
        seq = self.state.sequence_structure
        if seq is None or after.status is AssignmentStatus.NOT_STARTED:
            return None
        if after.assignment_id not in seq.assignment_ids:
            raise InvalidInputError(
                "sequence_structure",
                seq.sequence_id,
                f"the sequence does not contain {after.assignment_id!r}",
            )
        previous = self.state.sequence
        total = len(seq.assignment_ids)
        was_complete = before is not None and before.completion_percentage >= 100
        now_complete = after.completion_percentage >= 100
        completed = previous.assignments_completed if previous else 0
        if now_complete and not was_complete:
            completed = min(completed + 1, total)
        old_mastery = before.mastery_score if before else 0.0
        overall = previous.overall_mastery_score if previous else 0.0
        overall = min(
            max(overall + (after.mastery_score - old_mastery) / total, 0.0), 100.0
        )
        mastered = set(previous.concepts_mastered) if previous else set()
        learning = set(previous.concepts_in_progress) if previous else set()
        for definition in self.structure.steps:
            record = self.steps.get(definition.step_id)
            if record is None or record.attempt_count == 0:
                continue
            if record.mastery_level is MasteryLevel.MASTERED:
                mastered.update(definition.concepts)
            else:
                learning.update(definition.concepts)
        learning -= mastered
        if now_complete:
            index = seq.assignment_ids.index(after.assignment_id)
            current = seq.assignment_ids[index + 1] if index + 1 < total else None
        else:
            current = after.assignment_id
        percentage = 100.0 * completed / total
        new = SequenceProgress(
            sequence_id=seq.sequence_id,
            student_id=self.state.student_id,
            completion_percentage=percentage,
            assignments_total=total,
            assignments_completed=completed,
            current_assignment_id=current,
            started_at=previous.started_at
            if previous
            else (after.started_at or self.as_of),
            estimated_completion_date=previous.estimated_completion_date
            if previous
            else None,
            overall_mastery_score=overall,
            concepts_mastered=tuple(sorted(mastered)),
            concepts_in_progress=tuple(sorted(learning)),
            remediation_count=previous.remediation_count if previous else 0,
            review_compliance_rate=previous.review_compliance_rate if previous else 0.0,
        )
        if new == previous:
            return None
        crossed: list[SequenceMilestone] = []
        if previous is None:
            crossed.append(SequenceMilestone.STARTED)
        old_percentage = previous.completion_percentage if previous else 0.0
        crossed.extend(
            name
            for threshold, name in _SEQUENCE_MILESTONES
            if old_percentage < threshold <= percentage
        )
        for name in crossed:
            self.events.append(
                SequenceProgressMilestone(
                    event_id=self.next_id("event"),
                    occurred_at=self.as_of,
                    sequence_id=seq.sequence_id,
                    student_id=self.state.student_id,
                    milestone=name,
                    assignments_completed=completed,
                    overall_mastery_score=overall,
                    concepts_mastered_count=len(mastered),
                )
            )
        return new

    def audit_entry(
        self, before: AssignmentProgress | None, after: AssignmentProgress
    ) -> None:
        command = self.command
        if not isinstance(
            command, OverrideComplete | AdjustTarget | ExtendDueDate | ArchiveAssignment
        ):
            return
        step_id = getattr(command, "step_id", None)
        old_step = self.state.steps.get(step_id) if step_id else None
        new_step = self.changed.get(step_id) if step_id else None
        self.audit.append(
            AuditEntry(
                audit_id=self.next_id("audit"),
                occurred_at=command.issued_at,
                actor_id=command.actor_id,
                action=_ACTIONS[type(command)],
                reason=command.reason,
                command_id=self.key,
                student_id=command.student_id,
                assignment_id=command.assignment_id,
                step_id=step_id,
                before=_audit_view(old_step, before),
                after=_audit_view(new_step or old_step, after),
            )
        )


_ACTIONS: Mapping[type, str] = {
    OverrideComplete: "override_complete",
    AdjustTarget: "adjust_target",
    ExtendDueDate: "extend_due_date",
    ArchiveAssignment: "archive_assignment",
}


def _audit_view(
    step: StepProgress | None, assignment: AssignmentProgress | None
) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if step is not None:
        view["step"] = unstructure(step)
    if assignment is not None:
        view["assignment"] = unstructure(assignment)
    return view


def _completion(assignment: AssignmentProgress | None) -> float:
    return assignment.completion_percentage if assignment is not None else 0.0


def _reconciled_meets(step: StepProgress, target: float) -> bool:
    meta = step.reconciliation_metadata
    return meta is not None and meta.original_score >= target
