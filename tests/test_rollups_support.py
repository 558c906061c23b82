"""Builders shared by the batch tests (rollups, risk); no tests of its own.

Step records are made the way production makes them: attempts applied by the
real-time core (:func:`apply_command`), each outcome folded into the state as
a repository would store it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStructure,
    Attempt,
    SequenceProgress,
    SequenceStructure,
    Stage,
    StepDefinition,
    StepProgress,
)
from mlc_progress._rollups import AssignmentRecords
from mlc_progress._tracking import Outcome, ProgressState, apply_command

T0 = datetime(2026, 9, 1, tzinfo=UTC)
STUDENT = "ada"
ORG = "org-1"


def at(days: float = 0, *, hours: float = 0, minutes: float = 0) -> datetime:
    """``T0`` plus the given time."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def step(
    step_id: str,
    *,
    target: float = 80.0,
    stage: Stage = Stage.PLAY,
    optional: bool = False,
    concepts: tuple[str, ...] = (),
    remediation: bool = False,
    due_at: datetime | None = None,
) -> StepDefinition:
    """A step whose game is ``game-<step_id>``."""
    return StepDefinition(
        step_id=step_id,
        element_id=f"game-{step_id}",
        stage=stage,
        target_score=target,
        optional=optional,
        concepts=concepts,
        remediation=remediation,
        due_at=due_at,
    )


def assignment(
    assignment_id: str,
    *steps: StepDefinition,
    created_at: datetime = T0,
    due_in_days: float | None = 20,
) -> AssignmentStructure:
    """An assignment created at ``created_at`` and due ``due_in_days`` later."""
    return AssignmentStructure(
        assignment_id=assignment_id,
        steps=steps,
        created_at=created_at,
        due_at=None
        if due_in_days is None
        else created_at + timedelta(days=due_in_days),
    )


@attrs.frozen
class Played:
    """An assignment's records after some attempts, as real time left them."""

    structure: AssignmentStructure
    assignment: AssignmentProgress | None
    steps: dict[str, StepProgress]
    last_as_of: datetime | None

    def records(self) -> AssignmentRecords:
        return AssignmentRecords(
            structure=self.structure,
            progress=self.assignment,
            steps=tuple(
                self.steps[d.step_id]
                for d in self.structure.steps
                if d.step_id in self.steps
            ),
        )


def fold(state: ProgressState, outcome: Outcome) -> ProgressState:
    """The state once ``outcome`` is stored."""
    steps = dict(state.steps)
    steps.update((s.step_id, s) for s in outcome.steps)
    return attrs.evolve(
        state,
        steps=steps,
        assignment=outcome.assignment or state.assignment,
        sequence=outcome.sequence or state.sequence,
    )


def attempt(
    attempt_id: str,
    assignment_id: str,
    step_id: str,
    score: float,
    when: datetime,
    *,
    duration_ms: int = 60_000,
    session_id: str = "k1",
) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id=STUDENT,
        assignment_id=assignment_id,
        step_id=step_id,
        score=score,
        attempted_at=when,
        duration_ms=duration_ms,
        session_id=session_id,
    )


def play(
    structure: AssignmentStructure,
    plays: Iterable[tuple[str, float, datetime]],
    *,
    prefix: str = "",
) -> Played:
    """Apply ``(step_id, score, when)`` attempts in order, each as of its time."""
    state = ProgressState(student_id=STUDENT, structure=structure)
    last: datetime | None = None
    for i, (step_id, score, when) in enumerate(plays):
        command = attempt(
            f"{prefix}{structure.assignment_id}-{i}",
            structure.assignment_id,
            step_id,
            score,
            when,
        )
        state = fold(state, apply_command(command, state, as_of=when))
        last = when
    return Played(
        structure=structure,
        assignment=state.assignment,
        steps=dict(state.steps),
        last_as_of=last,
    )


def attempts_of(
    structure: AssignmentStructure, plays: Sequence[tuple[str, float, datetime]]
) -> tuple[Attempt, ...]:
    """The attempts :func:`play` applies, for a history's attempt log."""
    return tuple(
        attempt(f"{structure.assignment_id}-{i}", structure.assignment_id, s, sc, t)
        for i, (s, sc, t) in enumerate(plays)
    )


# Generated scenarios ---------------------------------------------------------

CONCEPTS = ("c1", "c2", "c3", "c4")


@attrs.frozen
class Scenario:
    """A sequence of assignments and a time-ordered list of attempts."""

    sequence: SequenceStructure
    structures: tuple[AssignmentStructure, ...]
    attempts: tuple[Attempt, ...]


@st.composite
def scenarios(draw: st.DrawFn, *, max_attempts: int = 24) -> Scenario:
    """One to three assignments in a sequence; attempts strictly increasing
    in time, all after every assignment's creation."""
    n = draw(st.integers(1, 3))
    structures = []
    for i in range(n):
        k = draw(st.integers(1, 4))
        steps = tuple(
            StepDefinition(
                step_id=f"s{j}",
                element_id=f"g{i}{j}",
                stage=draw(st.sampled_from(Stage)),
                target_score=draw(st.sampled_from((40.0, 60.0, 80.0, 100.0))),
                optional=draw(st.booleans()) and j > 0,
                concepts=tuple(
                    draw(st.lists(st.sampled_from(CONCEPTS), max_size=2, unique=True))
                ),
                remediation=draw(st.booleans()),
            )
            for j in range(k)
        )
        created = T0 + timedelta(hours=draw(st.integers(0, 72)))
        due = draw(st.none() | st.integers(5, 40))
        structures.append(
            AssignmentStructure(
                assignment_id=f"a{i}",
                steps=steps,
                created_at=created,
                due_at=None if due is None else created + timedelta(days=due),
                sequence_id="seq",
            )
        )
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(0, 3),
                st.sampled_from((0.0, 20.0, 39.5, 40.0, 55.0, 60.0, 80.0, 95.0, 100.0))
                | st.floats(0, 100),
                st.integers(1, 3000),
                st.integers(0, 600_000),
                st.sampled_from(("k1", "k2")),
            ),
            max_size=max_attempts,
        )
    )
    when = T0 + timedelta(days=4)
    made = []
    for i, (a, s, score, gap, duration, session) in enumerate(raw):
        when += timedelta(minutes=gap)
        structure = structures[a]
        made.append(
            Attempt(
                attempt_id=f"t{i}",
                student_id=STUDENT,
                assignment_id=structure.assignment_id,
                step_id=structure.steps[s % len(structure.steps)].step_id,
                score=score,
                attempted_at=when,
                duration_ms=duration,
                session_id=session,
            )
        )
    return Scenario(
        sequence=SequenceStructure(
            sequence_id="seq", assignment_ids=tuple(s.assignment_id for s in structures)
        ),
        structures=tuple(structures),
        attempts=tuple(made),
    )


@attrs.frozen
class RealTime:
    """What the real-time core left after a scenario."""

    played: dict[str, Played]
    sequence: SequenceProgress | None
    ever_mastered: frozenset[str]
    last_as_of: datetime | None


def run_real_time(scenario: Scenario) -> RealTime:
    """Apply the scenario's attempts through :func:`apply_command`, each as of
    its own time, keeping the sequence record shared across assignments."""
    states = {
        s.assignment_id: ProgressState(
            student_id=STUDENT, structure=s, sequence_structure=scenario.sequence
        )
        for s in scenario.structures
    }
    last: dict[str, datetime] = {}
    sequence: SequenceProgress | None = None
    ever: set[str] = set()
    final: datetime | None = None
    for command in scenario.attempts:
        aid = command.assignment_id
        state = attrs.evolve(states[aid], sequence=sequence)
        outcome = apply_command(command, state, as_of=command.attempted_at)
        state = fold(state, outcome)
        states[aid] = state
        sequence = state.sequence
        last[aid] = command.attempted_at
        final = command.attempted_at
        structure = state.structure
        for changed in outcome.steps:
            if changed.mastery_level.value == "mastered":
                ever.update(structure.step(changed.step_id).concepts)
    return RealTime(
        played={
            aid: Played(
                structure=s.structure,
                assignment=s.assignment,
                steps=dict(s.steps),
                last_as_of=last.get(aid),
            )
            for aid, s in states.items()
        },
        sequence=sequence,
        ever_mastered=frozenset(ever),
        last_as_of=final,
    )
