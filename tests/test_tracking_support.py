"""Builders shared by the real-time tracking tests (no tests of its own).

Commands are applied the way a repository would: the ids consumed so far are
``seen`` (D3) and each outcome is folded into the state with
:meth:`ProgressState.after`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    Command,
    OverrideComplete,
    Stage,
    StepDefinition,
)
from mlc_progress._tracking import Outcome, ProgressState, apply_command
from mlc_progress.testing import strategies as mst

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
STUDENT = "ada"
ASSIGNMENT = "fractions-1"
TEACHER = "mr-lovelace"


def at(days: float = 0, *, hours: float = 0, minutes: float = 0) -> datetime:
    """``T0`` plus the given days, hours and minutes."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def definition(
    step_id: str,
    *,
    target: float = 80.0,
    stage: Stage = Stage.PLAY,
    optional: bool = False,
    deprecated: bool = False,
    concepts: tuple[str, ...] = (),
) -> StepDefinition:
    """A step whose game is ``game-<step_id>``."""
    return StepDefinition(
        step_id=step_id,
        element_id=f"game-{step_id}",
        stage=stage,
        target_score=target,
        optional=optional,
        deprecated=deprecated,
        concepts=concepts,
    )


def assignment(
    *steps: StepDefinition,
    due_in_days: float | None = 28,
    assignment_id: str = ASSIGNMENT,
) -> AssignmentStructure:
    """An assignment created at ``T0``, due ``due_in_days`` later."""
    return AssignmentStructure(
        assignment_id=assignment_id,
        created_at=T0,
        due_at=None if due_in_days is None else at(due_in_days),
        steps=steps,
    )


def three_steps() -> AssignmentStructure:
    """learn (LEARN), play (PLAY) and quiz (QUIZ), all required, target 80."""
    return assignment(
        definition("learn", stage=Stage.LEARN),
        definition("play"),
        definition("quiz", stage=Stage.QUIZ),
    )


def attempt(
    attempt_id: str,
    step_id: str,
    score: float,
    when: datetime,
    *,
    session_id: str = "k1",
    duration_ms: int = 60_000,
    student_id: str = STUDENT,
    assignment_id: str = ASSIGNMENT,
) -> Attempt:
    """One scored play of ``step_id``."""
    return Attempt(
        attempt_id=attempt_id,
        student_id=student_id,
        assignment_id=assignment_id,
        step_id=step_id,
        score=score,
        attempted_at=when,
        duration_ms=duration_ms,
        session_id=session_id,
    )


def override(command_id: str, step_id: str, when: datetime) -> OverrideComplete:
    """The teacher marks ``step_id`` complete."""
    return OverrideComplete(
        command_id=command_id,
        actor_id=TEACHER,
        reason="completed on paper in class",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        step_id=step_id,
        issued_at=when,
    )


def fresh(structure: AssignmentStructure, **more: Any) -> ProgressState:
    """Ada's state before anything happened."""
    return ProgressState(student_id=STUDENT, structure=structure, **more)


@attrs.frozen
class Replay:
    """A state after some commands, with every outcome and the consumed ids."""

    state: ProgressState
    outcomes: tuple[Outcome, ...]
    seen: frozenset[str]


def replay(
    state: ProgressState,
    commands: Iterable[Command],
    *,
    as_of: datetime,
    seen: frozenset[str] = frozenset(),
) -> Replay:
    """Apply ``commands`` in order as a repository would (D3)."""
    outcomes = []
    for command in commands:
        outcome = apply_command(command, state, as_of=as_of, seen=seen)
        state = state.after(outcome)
        seen = seen | set(outcome.consumed_ids)
        outcomes.append(outcome)
    return Replay(state=state, outcomes=tuple(outcomes), seen=seen)


# Generated histories -------------------------------------------------------

#: Latest time of a generated attempt, in hours after the assignment's creation.
HORIZON_HOURS = 24 * 30


@st.composite
def structures(draw: st.DrawFn) -> AssignmentStructure:
    """1 to 8 steps, some optional or deprecated, created at ``T0``."""
    generated = draw(
        mst.assignment_structures(
            assignment_id=ASSIGNMENT, min_steps=1, max_steps=8, min_time=T0, max_time=T0
        )
    )
    return attrs.evolve(generated, sequence_id=None)


@st.composite
def attempts_for(
    draw: st.DrawFn,
    structure: AssignmentStructure,
    *,
    min_size: int = 1,
    max_size: int = 12,
) -> list[Attempt]:
    """Attempts with distinct ids on ``structure``'s steps, after its creation.

    Times are whole hours, so ties on timestamps are common (D2).
    """
    step_ids = [d.step_id for d in structure.steps]
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    made = []
    for i in range(n):
        made.append(
            Attempt(
                attempt_id=f"t{i}",
                student_id=STUDENT,
                assignment_id=structure.assignment_id,
                step_id=draw(st.sampled_from(step_ids)),
                score=draw(
                    st.one_of(
                        st.integers(0, 100).map(float),
                        mst.scores(allow_subnormal=False),
                    )
                ),
                attempted_at=structure.created_at
                + timedelta(hours=draw(st.integers(0, HORIZON_HOURS))),
                duration_ms=draw(st.integers(0, 3_600_000)),
                session_id=draw(st.sampled_from(("k1", "k2", "k3"))),
            )
        )
    return made


def in_time_order(attempts: Sequence[Attempt]) -> list[Attempt]:
    """``attempts`` by timestamp (ties by id)."""
    return sorted(attempts, key=lambda a: (a.attempted_at, a.attempt_id))


def after_all(structure: AssignmentStructure) -> datetime:
    """A clock reading after every generated attempt."""
    return structure.created_at + timedelta(hours=HORIZON_HOURS + 1)
