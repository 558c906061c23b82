"""Real-time tracking: one command applied to one student's records (pure).

``apply_command(command, state, as_of=...)`` returns an :class:`Outcome`: the
changed records, the events, the snapshots to create, the audit entry for a
person's action, and the ids consumed. It reads no clock and touches no
storage; the same inputs always give the same outcome, ids included.

Attempts, step starts and overrides may arrive in any order and more than
once (D2, D3). Every figure they change is a minimum, a maximum, a sum or a
running moment, and the earliest completing evidence dates a completion, so
any delivery order gives the records of timestamp order. The exceptions are
``session_count`` and ``last_session_id`` (Q13 compares a session with the
last one only) and the last bits of the running moments. The unlocking rule
and the other choices made here are written in ``docs/decisions.md``.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Container, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from . import _validate as v
from ._assignment import checked_assignment_progress, checked_window_end, layout
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
from ._consistency import checked_add_score, checked_consistency_from_moments
from ._enums import (
    AssignmentStatus,
    CompletionSource,
    MasteryLevel,
    ScopeType,
    SnapshotTrigger,
    StepState,
)
from ._errors import InvalidInputError, NotFoundError
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
from ._mastery import checked_mastery_level
from ._policy import DEFAULT_POLICY, Policy
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    ReconciliationMetadata,
    SequenceProgress,
    StepProgress,
)
from ._serialization import unstructure
from ._structure import (
    AssignmentStructure,
    Attempt,
    SequenceStructure,
    StepDefinition,
)

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

# Decimal places kept of a consistency score. The running moments of D5 differ
# in their last bits with the order of the attempts; rounding far below any
# meaningful difference makes the mastery test ``consistency < 0.15`` (D6)
# give the same answer whatever the delivery order.
CONSISTENCY_DIGITS = 9

_ONE_MS = timedelta(milliseconds=1)
_NO_TIME = timedelta(0)

_COMPLETE = StepState.COMPLETE
_LOCKED = StepState.LOCKED


def _frozen_steps(steps: object) -> object:
    """A read-only copy: the caller's dict can change after the state was
    checked, the state cannot (the core trusts what it checked). Anything
    else is left for the check, which refuses it with a typed error."""
    if isinstance(steps, Mapping):
        return MappingProxyType(dict(steps))
    return steps


@attrs.frozen(kw_only=True)
class ProgressState:
    """One student's records for one assignment, as read from storage.

    ``steps`` may omit steps never touched; they start as
    :func:`initial_step_progress` makes them. Records of steps that are not
    in ``structure`` are ignored (Q17). ``sequence_structure`` and
    ``sequence`` are given when the assignment belongs to a sequence. Records
    of another student, assignment or sequence are refused with
    :class:`InvalidInputError`.
    """

    student_id: str = attrs.field(validator=v.identifier)
    structure: AssignmentStructure = attrs.field(
        validator=attrs.validators.instance_of(AssignmentStructure)
    )
    assignment: AssignmentProgress | None = None
    steps: Mapping[str, StepProgress] = attrs.field(
        factory=dict, converter=_frozen_steps, hash=False
    )
    sequence_structure: SequenceStructure | None = None
    sequence: SequenceProgress | None = None

    def __attrs_post_init__(self) -> None:
        assignment_id = self.structure.assignment_id
        if not isinstance(self.steps, Mapping):
            raise InvalidInputError(
                "steps", self.steps, "a mapping of step id to StepProgress"
            )
        for key, record in self.steps.items():
            if not isinstance(record, StepProgress) or record.step_id != key:
                raise InvalidInputError(
                    f"steps[{key!r}]", record, "the StepProgress of that step"
                )
            if (record.student_id, record.assignment_id) != (
                self.student_id,
                assignment_id,
            ):
                raise InvalidInputError(
                    f"steps[{key!r}]",
                    (record.student_id, record.assignment_id),
                    f"a record of student {self.student_id!r} in {assignment_id!r}",
                )
        if self.assignment is not None and (
            self.assignment.student_id,
            self.assignment.assignment_id,
        ) != (self.student_id, assignment_id):
            raise InvalidInputError(
                "assignment",
                (self.assignment.student_id, self.assignment.assignment_id),
                f"the record of student {self.student_id!r} in {assignment_id!r}",
            )
        seq = self.sequence_structure
        if seq is not None and assignment_id not in seq.assignment_ids:
            raise InvalidInputError(
                "sequence_structure",
                seq.sequence_id,
                f"a sequence that contains {assignment_id!r}",
            )
        if self.sequence is not None and (
            seq is None
            or (self.sequence.sequence_id, self.sequence.student_id)
            != (seq.sequence_id, self.student_id)
        ):
            raise InvalidInputError(
                "sequence",
                (self.sequence.sequence_id, self.sequence.student_id),
                "the record of this student in sequence_structure",
            )

    def __reduce__(self) -> tuple[Any, ...]:
        # A read-only mapping does not pickle; the rebuilt state copies a dict.
        fields = {a.name: getattr(self, a.name) for a in attrs.fields(type(self))}
        fields["steps"] = _as_dict(self.steps)
        return _rebuild_state, (type(self), fields)

    def after(self, outcome: Outcome) -> ProgressState:
        """The state once ``outcome`` is stored: its records replace the old.

        What a repository holds after it persisted the outcome; an outcome
        that was not applied changes nothing.

        >>> from datetime import datetime, UTC
        >>> from mlc_progress import Attempt, StepDefinition, Stage
        >>> now = datetime(2026, 9, 1, 10, tzinfo=UTC)
        >>> s = AssignmentStructure(
        ...     assignment_id="a", created_at=datetime(2026, 9, 1, tzinfo=UTC),
        ...     steps=(StepDefinition(step_id="s1", element_id="g",
        ...                           stage=Stage.PLAY, target_score=80),))
        >>> state = ProgressState(student_id="u", structure=s)
        >>> play = Attempt(attempt_id="t1", student_id="u", assignment_id="a",
        ...                step_id="s1", score=60, attempted_at=now,
        ...                duration_ms=1000, session_id="k")
        >>> state = state.after(apply_command(play, state, as_of=now))
        >>> state.steps["s1"].attempt_count, state.assignment.status.value
        (1, 'in_progress')
        """
        if not outcome.applied:
            return self
        steps = _as_dict(self.steps)
        steps.update((s.step_id, s) for s in outcome.steps)
        return attrs.evolve(
            self,
            assignment=outcome.assignment or self.assignment,
            steps=steps,
            sequence=outcome.sequence or self.sequence,
        )


@attrs.frozen(kw_only=True)
class Outcome:
    """What applying one command produced.

    ``steps`` holds the step records that changed, and those the state did
    not hold yet, in step order; ``assignment`` and ``sequence`` are the new
    records when they changed, else ``None``. ``applied`` is ``False`` when
    the command's id was already applied (D3): then nothing changed and there
    are no events. ``consumed_ids`` are the ids a repository must record to
    enforce exactly-once.
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


def _as_dict(steps: Mapping[str, StepProgress]) -> dict[str, StepProgress]:
    """A new dict of a state's records; a read-only proxy copies its dict
    in C, ``dict(proxy)`` goes key by key."""
    if type(steps) is MappingProxyType:
        return steps.copy()
    return dict(steps)


def _rebuild_state(cls: type[ProgressState], fields: dict[str, Any]) -> ProgressState:
    return cls(**fields)


def initial_step_progress(
    structure: AssignmentStructure, step_id: str, *, student_id: str
) -> StepProgress:
    """A step's record before anything happened: the first step is available
    from the assignment's creation, the others are locked.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     steps=tuple(StepDefinition(step_id=i, element_id="g",
    ...                 stage=Stage.PLAY, target_score=80) for i in "xy"))
    >>> initial_step_progress(s, "y", student_id="u").state
    <StepState.LOCKED: 'locked'>
    """
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
    state (another student or assignment, a time more than
    ``max_clock_skew`` after ``as_of`` (D2), a free-play score for another
    game or outside its window (D9), a due date that is no extension (D8))
    and :class:`NotFoundError` for an unknown step. Nothing is returned
    half-applied.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import Attempt, StepDefinition, Stage
    >>> now = datetime(2026, 9, 1, 10, tzinfo=UTC)
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 9, 1, tzinfo=UTC),
    ...     steps=(StepDefinition(step_id="s1", element_id="g",
    ...                           stage=Stage.PLAY, target_score=80),))
    >>> play = Attempt(attempt_id="t1", student_id="u", assignment_id="a",
    ...                step_id="s1", score=85, attempted_at=now,
    ...                duration_ms=60_000, session_id="k")
    >>> out = apply_command(play, ProgressState(student_id="u", structure=s),
    ...                     as_of=now)
    >>> out.steps[0].state, out.assignment.completion_percentage
    (<StepState.COMPLETE: 'complete'>, 100.0)
    >>> [e.name for e in out.events][:2]
    ['step_progress_updated', 'progress_snapshot_created']
    >>> again = apply_command(play, ProgressState(student_id="u", structure=s),
    ...                       as_of=now, seen=set(out.consumed_ids))
    >>> again.applied, again.events
    (False, ())
    """
    key = command_id_of(command)
    if key in seen:
        return Outcome(command_id=key, applied=False)
    as_of = v.to_utc(as_of)
    v.check_time_value("as_of", as_of)
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


def _command_time(command: Command) -> tuple[str, datetime]:
    """The field that says when ``command`` happened, and its value."""
    if isinstance(command, Attempt):
        return "attempted_at", command.attempted_at
    if isinstance(command, StartStep):
        return "started_at", command.started_at
    return "issued_at", command.issued_at


def _effective_completion(assignment: AssignmentProgress | None) -> float:
    """Completion as milestones see it: 0 until the assignment started (D16)."""
    if assignment is None or assignment.started_at is None:
        return 0.0
    return assignment.completion_percentage


# Which completion wins a tie on time (see ``_Transition.complete``).
_RANK: Mapping[CompletionSource, int] = {
    CompletionSource.FRESH_ATTEMPT: 0,
    CompletionSource.FREE_PLAY_RECONCILED: 1,
    CompletionSource.TEACHER_OVERRIDE: 2,
    CompletionSource.SYSTEM_MIGRATION: 3,
}

# The fields of the spec's StepProgress: a change to another field alone is
# bookkeeping, not a step progress update to report.
_spec_view = operator.attrgetter(
    "state",
    "started_at",
    "completed_at",
    "last_activity_at",
    "attempt_count",
    "best_score",
    "latest_score",
    "target_score",
    "passed",
    "time_on_task_ms",
    "session_count",
    "mastery_level",
    "consistency_score",
    "completion_source",
    "reconciliation_metadata",
)


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


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
        self.student_id = state.student_id
        self.steps: dict[str, StepProgress] = _as_dict(state.steps)
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
        self.shape = layout(self.structure, policy.stage_weights)
        self.focus_score: dict[str, float] = {}
        self.created: set[str] = set()
        # Unlocking is needed on the first command and when a completion
        # changes; other commands leave the unlocked prefix as it was.
        self.completions_changed = state.assignment is None
        step_id: str | None = getattr(command, "step_id", None)
        # The optional steps before the command's step, moved past by working
        # on it (D7 rule 4); NotFoundError for an unknown step.
        self.skipped: tuple[StepDefinition, ...] = ()
        if step_id is not None:
            shape = self.shape
            index = shape.positions.get(step_id)
            if index is None:
                raise NotFoundError(
                    f"step_id={step_id!r} is not in assignment"
                    f" {self.structure.assignment_id!r}"
                )
            steps = self.structure.steps
            self.skipped = tuple(steps[i] for i in shape.not_required if i < index)
        self.reconciled = False
        self.counter = 0
        self.time_field, self.at = _command_time(command)

    # -- helpers --------------------------------------------------------------

    def step(self, step_id: str) -> StepProgress:
        """The current record of ``step_id``, made initial if there is none."""
        found = self.steps.get(step_id)
        if found is None:
            found = self.steps[step_id] = self.initial(step_id)
            self.created.add(step_id)
        return found

    def initial(self, step_id: str) -> StepProgress:
        return initial_step_progress(
            self.structure, step_id, student_id=self.student_id
        )

    def peek(self, step_id: str) -> StepProgress:
        """Like :meth:`step`, without adding an initial record to the state."""
        return self.steps.get(step_id) or self.initial(step_id)

    def put(self, new: StepProgress, *, differs: bool = False) -> None:
        """Make ``new`` the step's record; ``differs`` skips the comparison."""
        old = self.steps.get(new.step_id)
        if differs or new != old:
            self.steps[new.step_id] = new
            self.changed[new.step_id] = new
            if old is None or old.completed_at != new.completed_at:
                self.completions_changed = True

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{self.key}/{kind}/{self.counter}"

    def mastery(self, step: StepProgress) -> MasteryLevel:
        # The record's fields are checked (D4): the unchecked rule.
        return checked_mastery_level(
            step.attempt_count,
            step.best_score,
            step.target_score,
            step.consistency_score,
            self.policy,
        )

    def complete(
        self, step: StepProgress, at: datetime, source: CompletionSource, **more: Any
    ) -> StepProgress:
        """``step`` completed at ``at`` by ``source`` (D7).

        Completion is monotone, and the earliest completing evidence wins: a
        step already complete before ``at`` keeps its completion, one
        completed later is re-dated to ``at`` with ``source``; at the same
        instant the student's own attempt wins over free play, and free play
        over a teacher's override. So commands delivered late give the
        records of timestamp order. A migration's completion is never
        re-dated. A step completed by the student's own progress has started
        by then (D4).
        """
        done = step.completed_at
        if done is not None and (
            step.completion_source is CompletionSource.SYSTEM_MIGRATION
            or (done, _RANK[step.completion_source]) <= (at, _RANK[source])
        ):
            return step
        started = step.started_at
        if source is CompletionSource.FRESH_ATTEMPT:
            started = _earlier(started, at)
        return attrs.evolve(
            step,
            state=_COMPLETE,
            started_at=started,
            completed_at=at,
            completion_source=source,
            available_at=_earlier(step.available_at, at),
            **more,
        )

    # -- the commands -----------------------------------------------------------

    def run(self) -> Outcome:
        command = self.command
        before = self.state.assignment
        self.check_skew(self.time_field, self.at)
        if isinstance(command, Attempt):
            self.record_attempt(command)
        elif isinstance(command, StartStep):
            self.start_step(command)
        elif isinstance(command, OverrideComplete):
            self.override_complete(command)
        elif isinstance(command, AdjustTarget):
            self.adjust_target(command)
        elif isinstance(command, ExtendDueDate):
            self.extend_due_date(command)
        elif isinstance(command, ReconcileFreePlay):
            self.check_skew("achieved_at", command.achieved_at)
            self.reconcile_free_play(command)
        elif isinstance(command, ArchiveAssignment):
            self.archived = True
        if self.completions_changed:
            self.unlock()
        after = self.recompute()
        self.emit_step_events()
        self.assignment_events(before, after)
        if isinstance(command, RequestTeacherReview):
            self.snapshot(
                after, SnapshotTrigger.MANUAL, f"teacher_review:{command.actor_id}"
            )
        if self.reconciled:
            self.events.append(
                ProgressReconciled(
                    event_id=self.next_id("event"),
                    occurred_at=self.as_of,
                    assignment_id=self.structure.assignment_id,
                    student_id=self.student_id,
                    reconciliation_type=ReconciliationType.FREE_PLAY,
                    steps_affected=1,
                    previous_completion_percentage=_effective_completion(before),
                    new_completion_percentage=_effective_completion(after),
                )
            )
        sequence = self.sequence_update(before, after)
        self.audit_entry(before, after)
        written = self.in_step_order(self.created.union(self.changed))
        return Outcome(
            command_id=self.key,
            applied=True,
            steps=tuple(self.steps[step_id] for step_id in written),
            assignment=None if after == before else after,
            sequence=sequence,
            events=tuple(self.events),
            snapshots=tuple(self.snapshots),
            audit=tuple(self.audit),
            consumed_ids=(self.key,),
        )

    def check_skew(self, field: str, when: datetime) -> None:
        """D2: ``when`` is at most ``max_clock_skew`` after ``as_of``; the
        difference is compared, so a clock near 9999 needs no later date."""
        if when - self.as_of > self.policy.max_clock_skew:
            raise InvalidInputError(
                field,
                when,
                f"D2: at most {self.policy.max_clock_skew_seconds:g} s after "
                f"now ({self.as_of.isoformat()})",
            )

    def touch(
        self, step: StepProgress, when: datetime, session_id: str
    ) -> dict[str, Any]:
        """The fields an interaction with ``step`` at ``when`` changes.

        ``started_at`` is the earliest interaction and ``last_activity_at``
        the latest: a late interaction counts but never moves
        ``last_activity_at`` back (D2). A new session starts when the session
        id differs from that of the latest activity (Q13); a late interaction
        starts none.
        """
        started = _earlier(step.started_at, when)
        last = step.last_activity_at
        is_latest = last is None or when >= last
        new_session = is_latest and step.last_session_id != session_id
        return {
            "started_at": started,
            "last_activity_at": when if is_latest else last,
            "last_session_id": session_id if is_latest else step.last_session_id,
            "session_count": step.session_count + int(new_session),
            "available_at": _earlier(step.available_at, started),
        }

    def record_attempt(self, attempt: Attempt) -> None:
        """Fold one attempt into its step in O(1) (D2, D5, D6, D7, D13)."""
        step = self.step(attempt.step_id)
        when = attempt.attempted_at
        score = attempt.score
        target = step.target_score
        had = step.attempt_count
        count = had + 1
        mean, m2 = checked_add_score(had, step.score_mean, step.score_m2, score)
        consistency = checked_consistency_from_moments(count, mean, m2)
        if consistency is not None:
            consistency = round(consistency, CONSISTENCY_DIGITS)
        best = score if had == 0 or score > step.best_score else step.best_score
        first_at = step.first_attempt_at
        first_score = step.first_score
        if first_at is None or first_score is None or when < first_at:
            first_at, first_score = when, score
        elif when == first_at and score > first_score:
            first_score = score  # a tie on time: the higher score, in any order
        latest_at = step.latest_attempt_at
        latest = step.latest_score
        if latest_at is None or when > latest_at:
            latest_at, latest = when, score
        elif when == latest_at and score > latest:
            latest = score
        fields = self.touch(step, when, attempt.session_id)
        meta = step.reconciliation_metadata
        updated = StepProgress(
            step_id=step.step_id,
            assignment_id=step.assignment_id,
            student_id=step.student_id,
            state=_COMPLETE if step.state is _COMPLETE else StepState.IN_PROGRESS,
            started_at=fields["started_at"],
            completed_at=step.completed_at,
            last_activity_at=fields["last_activity_at"],
            attempt_count=count,
            best_score=best,
            latest_score=latest,
            target_score=target,
            passed=best >= target
            or (meta is not None and meta.original_score >= target),
            time_on_task_ms=step.time_on_task_ms + attempt.duration_ms,
            session_count=fields["session_count"],
            mastery_level=checked_mastery_level(
                count, best, target, consistency, self.policy
            ),
            consistency_score=consistency,
            completion_source=step.completion_source,
            reconciliation_metadata=meta,
            score_mean=mean,
            score_m2=m2,
            first_attempt_at=first_at,
            first_score=first_score,
            latest_attempt_at=latest_at,
            last_session_id=fields["last_session_id"],
            available_at=fields["available_at"],
        )
        if score >= target:
            # D7 rule 1; a late qualifying attempt re-dates the completion.
            updated = self.complete(updated, when, CompletionSource.FRESH_ATTEMPT)
        self.focus_score[attempt.step_id] = score
        self.put(updated, differs=True)  # attempt_count grew
        self.move_past_optional(attempt.step_id, when)

    def start_step(self, command: StartStep) -> None:
        step = self.step(command.step_id)
        self.put(
            attrs.evolve(
                step,
                **self.touch(step, command.started_at, command.session_id),
                state=_COMPLETE if step.state is _COMPLETE else StepState.IN_PROGRESS,
            )
        )
        self.move_past_optional(command.step_id, command.started_at)

    def move_past_optional(self, step_id: str, when: datetime) -> None:
        """D7 rule 4: working on a step moves past the optional (and
        deprecated, D10) steps before it, which complete then (Q2).

        Moving past a step is reaching it: its ``started_at`` is at most
        ``when``, even when it completed earlier in another way.
        """
        for definition in self.skipped:
            earlier = self.step(definition.step_id)
            moved = self.complete(earlier, when, CompletionSource.FRESH_ATTEMPT)
            if moved.started_at is None or moved.started_at > when:
                moved = attrs.evolve(moved, started_at=when)
            self.put(moved)

    def override_complete(self, command: OverrideComplete) -> None:
        """D7 rule 2, D8: completed at the override, as ``teacher_override``."""
        step = self.step(command.step_id)
        self.put(
            self.complete(step, command.issued_at, CompletionSource.TEACHER_OVERRIDE)
        )

    def adjust_target(self, command: AdjustTarget) -> None:
        """D8: a new target; a met one completes the step as ``fresh_attempt``,
        a raised one never un-completes it (D7)."""
        step = self.step(command.step_id)
        target = command.target_score
        meta = step.reconciliation_metadata
        passed = (step.attempt_count > 0 and step.best_score >= target) or (
            meta is not None and meta.original_score >= target
        )
        updated = attrs.evolve(step, target_score=target, passed=passed)
        updated = attrs.evolve(updated, mastery_level=self.mastery(updated))
        if updated.state is not _COMPLETE:
            source = completion_source_for(updated)
            if source is not None:
                # The evidence was there before; the step completes when the
                # target changed, or at its first interaction if later.
                done_at = command.issued_at
                if step.started_at is not None and step.started_at > done_at:
                    done_at = step.started_at
                updated = self.complete(updated, done_at, source)
        self.put(updated)

    def extend_due_date(self, command: ExtendDueDate) -> None:
        """D8: a due date after the current end; an estimated end past 9999
        has no date (D15), as for every figure of the assignment."""
        current = checked_window_end(self.structure, self.due_at_override)
        if command.due_at <= self.structure.created_at or (
            current is not None and command.due_at <= current
        ):
            raise InvalidInputError(
                "due_at",
                command.due_at,
                "D8: an extended due date is after the current one"
                + (f" ({current.isoformat()})" if current else "")
                + " and after the assignment's creation",
            )
        self.due_at_override = command.due_at

    def reconcile_free_play(self, command: ReconcileFreePlay) -> None:
        """D9: a qualifying free-play score completes the step; it is no attempt."""
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
        # The difference is compared: a window reaching before year 1 has
        # no start date, and needs none.
        before = reference - command.achieved_at
        if not (_NO_TIME <= before <= self.policy.free_play_window):
            raise InvalidInputError(
                "achieved_at",
                command.achieved_at,
                f"D9: within {self.policy.free_play_window_days} days before the "
                f"step became available ({reference.isoformat()})",
            )
        if step.state is _COMPLETE or command.score < step.target_score:
            return
        meta = ReconciliationMetadata(
            original_score=command.score,
            original_context=command.original_context,
            reconciled_at=command.issued_at,
        )
        self.focus_score[command.step_id] = command.score
        self.reconciled = True
        self.put(
            self.complete(
                step,
                command.issued_at,
                CompletionSource.FREE_PLAY_RECONCILED,
                reconciliation_metadata=meta,
                passed=True,
            )
        )

    # -- consequences -------------------------------------------------------------

    def unlock(self) -> None:
        """Unlock steps in order (D7, D10; see docs/decisions.md).

        A step is available once every required step before it is complete;
        optional and deprecated steps never block. It became available when
        the last of those completed (the first step: at the assignment's
        creation), or at its first interaction if that came earlier, so
        ``available_at`` does not depend on the order of delivery.
        """
        unlocked_at = self.structure.created_at
        for definition in self.structure.steps:
            step = self.step(definition.step_id)
            if step.state is _LOCKED:
                step = attrs.evolve(
                    step, state=StepState.AVAILABLE, available_at=unlocked_at
                )
                self.put(step)
            elif step.available_at is not None and step.available_at > unlocked_at:
                step = attrs.evolve(step, available_at=unlocked_at)
                self.put(step)
            if definition.required:
                if step.completed_at is None:
                    return
                if step.completed_at > unlocked_at:
                    unlocked_at = step.completed_at

    def recompute(self) -> AssignmentProgress:
        # The state's records were checked when it was built, and the ones
        # made here are the transition's own: no second check per step.
        return checked_assignment_progress(
            self.structure,
            self.shape,
            self.steps,
            student_id=self.student_id,
            as_of=self.as_of,
            policy=self.policy,
            archived=self.archived,
            due_at_override=self.due_at_override,
        )

    def in_step_order(self, step_ids: Collection[str]) -> list[str]:
        """``step_ids`` in the structure's order."""
        if len(step_ids) <= 1:
            return list(step_ids)
        return [d.step_id for d in self.structure.steps if d.step_id in step_ids]

    def emit_step_events(self) -> None:
        stored = self.state.steps
        for step_id in self.in_step_order(self.changed):
            new = self.changed[step_id]
            old = stored.get(step_id) or self.initial(step_id)
            if step_id not in self.focus_score and _spec_view(old) == _spec_view(new):
                continue  # only fields beyond the spec changed (available_at)
            previous = old.state
            self.events.append(
                StepProgressUpdated(
                    event_id=self.next_id("event"),
                    occurred_at=self.as_of,
                    step_id=new.step_id,
                    assignment_id=new.assignment_id,
                    student_id=new.student_id,
                    previous_state=previous,
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
        """The assignment-started snapshot, then one milestone event and one
        milestone snapshot per milestone crossed, ascending (D16)."""
        if (before is None or before.started_at is None) and (
            after.started_at is not None
        ):
            self.snapshot(after, SnapshotTrigger.MILESTONE, "assignment_started")
        previous = _effective_completion(before)
        new = _effective_completion(after)
        for milestone in self.policy.milestones:
            if not previous < milestone <= new:
                continue
            started = after.started_at or self.at
            self.events.append(
                AssignmentProgressMilestone(
                    event_id=self.next_id("event"),
                    occurred_at=self.as_of,
                    assignment_id=after.assignment_id,
                    student_id=after.student_id,
                    previous_percentage=previous,
                    new_percentage=new,
                    milestone=str(milestone),
                    time_to_milestone_ms=max(0, (self.at - started) // _ONE_MS),
                    steps_completed=after.steps_completed,
                    steps_remaining=after.steps_total - after.steps_completed,
                )
            )
            notes = f"milestone_{milestone}"
            if milestone == 100:
                notes += ";assignment_completed"
            self.snapshot(after, SnapshotTrigger.MILESTONE, notes)
        if previous < 100 <= new and 100 not in self.policy.milestones:
            self.snapshot(after, SnapshotTrigger.MILESTONE, "assignment_completed")

    def snapshot(
        self, assignment: AssignmentProgress, trigger: SnapshotTrigger, notes: str
    ) -> None:
        """An assignment-scope snapshot of every step, and its event."""
        snapshot_id = self.next_id("snapshot")
        steps = [self.peek(d.step_id) for d in self.structure.steps]
        metrics = {
            "completion_percentage": assignment.completion_percentage,
            "mastery_score": assignment.mastery_score,
            "time_on_task_ms": assignment.time_on_task_ms,
            "average_score": assignment.average_score,
            "pass_rate": assignment.pass_rate,
            "steps_completed": assignment.steps_completed,
        }
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
                metrics_snapshot=metrics,
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
        """The sequence record after this assignment changed, and its
        milestones (D16): ``started`` at the first interaction, then the
        quarters of assignments completed."""
        seq = self.state.sequence_structure
        if seq is None or after.started_at is None:
            return None
        previous = self.state.sequence
        total = len(seq.assignment_ids)
        was_complete = _effective_completion(before) >= 100
        now_complete = _effective_completion(after) >= 100
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
            student_id=self.student_id,
            completion_percentage=percentage,
            assignments_total=total,
            assignments_completed=completed,
            current_assignment_id=current,
            started_at=previous.started_at if previous else after.started_at,
            estimated_completion_date=previous.estimated_completion_date
            if previous
            else None,
            overall_mastery_score=overall,
            concepts_mastered=tuple(sorted(mastered)),
            concepts_in_progress=tuple(sorted(learning)),
            # Until a batch run counts the whole sequence: this assignment's
            # remediation steps, and full compliance while no review is due
            # (Q44, Q45).
            remediation_count=previous.remediation_count
            if previous
            else sum(1 for d in self.structure.steps if d.remediation),
            review_compliance_rate=previous.review_compliance_rate
            if previous
            else 100.0,
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
                    student_id=self.student_id,
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
        """Who did what, when and why, with the records before and after (D8, D19)."""
        command = self.command
        if not isinstance(command, _PERSONS_COMMANDS):
            return
        if isinstance(command, RequestTeacherReview):
            reason = "viewed the detailed progress report"
        else:
            reason = command.reason
        step_id: str | None = getattr(command, "step_id", None)
        old_step = new_step = None
        if step_id is not None:
            old_step = self.state.steps.get(step_id) or self.initial(step_id)
            new_step = self.steps[step_id]
        self.audit.append(
            AuditEntry(
                audit_id=self.next_id("audit"),
                occurred_at=command.issued_at,
                actor_id=command.actor_id,
                action=_ACTIONS[type(command)],
                reason=reason,
                command_id=self.key,
                student_id=command.student_id,
                assignment_id=command.assignment_id,
                step_id=step_id,
                before=_audit_view(old_step, before),
                after=_audit_view(new_step, after),
            )
        )


# Commands a person gives; each leaves an audit entry (D8, D19).
_PERSONS_COMMANDS = (
    OverrideComplete,
    AdjustTarget,
    ExtendDueDate,
    ArchiveAssignment,
    RequestTeacherReview,
)

_ACTIONS: Mapping[type, str] = {
    OverrideComplete: "override_complete",
    AdjustTarget: "adjust_target",
    ExtendDueDate: "extend_due_date",
    ArchiveAssignment: "archive_assignment",
    RequestTeacherReview: "request_teacher_review",
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
