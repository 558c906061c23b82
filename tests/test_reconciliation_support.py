"""Builders and strategies shared by the reconciliation and inconsistency
tests (no tests of its own).

Histories are applied as a repository would: ids consumed so far are ``seen``
(D3) and each outcome is folded into the state with ``ProgressState.after``.
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
    StartStep,
    StepDefinition,
    StepProgress,
    StepState,
    assignment_progress,
    unstructure,
)
from mlc_progress._tracking import ProgressState, apply_command
from mlc_progress.testing import strategies as mst

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
STUDENT = "ada"
ASSIGNMENT = "fractions-1"
TEACHER = "mr-lovelace"


def at(days: float = 0, *, minutes: float = 0) -> datetime:
    """``T0`` plus the given days and minutes."""
    return T0 + timedelta(days=days, minutes=minutes)


def definition(
    step_id: str,
    element_id: str | None = None,
    *,
    stage: Stage = Stage.PLAY,
    target: float = 80.0,
    optional: bool = False,
    deprecated: bool = False,
    replaced_by: str | None = None,
) -> StepDefinition:
    """A step playing ``element_id`` (by default the game ``game-<step_id>``)."""
    return StepDefinition(
        step_id=step_id,
        element_id=element_id or f"game-{step_id}",
        stage=stage,
        target_score=target,
        optional=optional,
        deprecated=deprecated,
        replaced_by_game_id=replaced_by,
    )


def structure(
    *steps: StepDefinition,
    version: int = 1,
    due_at: datetime | None = None,
    assignment_id: str = ASSIGNMENT,
) -> AssignmentStructure:
    return AssignmentStructure(
        assignment_id=assignment_id,
        created_at=T0,
        due_at=due_at,
        steps=steps,
        version=version,
    )


def attempt(
    attempt_id: str,
    step_id: str,
    score: float,
    when: datetime,
    *,
    session: str = "k1",
    duration_ms: int = 60_000,
    student_id: str = STUDENT,
) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id=student_id,
        assignment_id=ASSIGNMENT,
        step_id=step_id,
        score=score,
        attempted_at=when,
        duration_ms=duration_ms,
        session_id=session,
    )


def override(command_id: str, step_id: str, when: datetime) -> OverrideComplete:
    return OverrideComplete(
        command_id=command_id,
        actor_id=TEACHER,
        reason="done on paper",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        step_id=step_id,
        issued_at=when,
    )


def replay(
    commands: Iterable[Command],
    on: AssignmentStructure,
    *,
    state: ProgressState | None = None,
    as_of: datetime | None = None,
    student_id: str = STUDENT,
) -> ProgressState:
    """The state after applying ``commands`` in order, each exactly once."""
    current = state or ProgressState(student_id=student_id, structure=on)
    seen: set[str] = set()
    for command in commands:
        outcome = apply_command(command, current, as_of=as_of or at(days=60), seen=seen)
        seen.update(outcome.consumed_ids)
        current = current.after(outcome)
    return current


def raw_records(state: ProgressState) -> tuple[Any, list[Any]]:
    """The stored form of a state: the assignment and every step, as JSON data."""
    raw_assignment = None if state.assignment is None else unstructure(state.assignment)
    return raw_assignment, [unstructure(s) for s in state.steps.values()]


def with_assignment(state: ProgressState, as_of: datetime) -> ProgressState:
    """``state`` with its assignment record computed from its steps."""
    return attrs.evolve(
        state,
        assignment=assignment_progress(
            state.structure,
            state.steps,
            student_id=state.student_id,
            as_of=as_of,
        ),
    )


def complete_steps(state: ProgressState) -> dict[str, StepProgress]:
    return {k: s for k, s in state.steps.items() if s.state is StepState.COMPLETE}


# Strategies ---------------------------------------------------------------

AS_OF = datetime(2100, 1, 2, tzinfo=UTC)


@st.composite
def old_states(draw: st.DrawFn) -> ProgressState:
    """A student's valid records for a generated structure, with an
    assignment record computed from them, or none at all."""
    old = draw(
        mst.assignment_structures(
            assignment_id=ASSIGNMENT, min_steps=1, max_steps=6
        ).filter(lambda s: s.created_at < AS_OF)
    )
    records = draw(mst.step_progress_for(old, student_id=STUDENT, max_time=AS_OF))
    state = ProgressState(
        student_id=STUDENT, structure=old, steps={r.step_id: r for r in records}
    )
    stored_assignment: bool = draw(st.booleans())
    if records and stored_assignment:
        state = with_assignment(state, AS_OF)
    return state


@st.composite
def new_versions(
    draw: st.DrawFn,
    old: AssignmentStructure,
    *,
    renamed: str = "renamed-",
    added: str = "added-",
    fates: tuple[str, ...] = ("keep", "keep", "rename", "remove", "retarget"),
    most_added: int = 3,
    games: tuple[str, ...] = ("new-game", "other-game"),
) -> AssignmentStructure:
    """A later version of ``old``: steps kept (some under a new id, some with
    a new target or flags), removed, added and reordered. ``renamed`` and
    ``added`` prefix the new ids (longer than any old id)."""
    steps: list[StepDefinition] = []
    for n, d in enumerate(old.steps):
        fate = draw(st.sampled_from(fates))
        if fate == "remove":
            continue
        if fate == "rename":
            d = attrs.evolve(d, step_id=f"{renamed}{n}")
        elif fate == "retarget":
            d = attrs.evolve(
                d,
                target_score=draw(mst.targets()),
                optional=draw(st.booleans()),
                deprecated=draw(st.booleans()),
            )
        steps.append(d)
    for n in range(draw(st.integers(min_value=0, max_value=most_added))):
        steps.append(
            StepDefinition(
                step_id=f"{added}{n}",
                element_id=draw(st.sampled_from(games)),
                stage=draw(mst.stages()),
                target_score=draw(mst.targets()),
                optional=draw(st.booleans()),
            )
        )
    steps = draw(st.permutations(steps)) if draw(st.booleans()) else steps
    return attrs.evolve(old, steps=tuple(steps), version=old.version + 1)


_KINDS = ("attempt", "attempt", "attempt", "start", "override")


@st.composite
def history_batches(
    draw: st.DrawFn, *, students: int
) -> tuple[AssignmentStructure, list[tuple[ProgressState, list[Attempt]]]]:
    """One structure and ``students`` students' histories through
    ``apply_command``: attempts (some late, some repeated), starts and
    overrides. Drawn from plain integers so that thousands of records are
    cheap; returns each student's state and attempt log."""
    n_steps = draw(st.integers(min_value=1, max_value=5))
    kinds = draw(
        st.lists(
            st.sampled_from(("required", "required", "optional", "deprecated")),
            min_size=n_steps,
            max_size=n_steps,
        )
    )
    targets = draw(
        st.lists(
            st.integers(min_value=1, max_value=100), min_size=n_steps, max_size=n_steps
        )
    )
    on = structure(
        *(
            definition(
                f"s{i}",
                stage=tuple(Stage)[i % 5],
                target=float(targets[i]),
                optional=kinds[i] == "optional",
                deprecated=kinds[i] == "deprecated",
            )
            for i in range(n_steps)
        ),
        due_at=at(days=14),
    )
    events = st.tuples(
        st.integers(min_value=0, max_value=n_steps - 1),
        st.integers(min_value=0, max_value=100),
        st.integers(min_value=0, max_value=20_000),
        st.integers(min_value=0, max_value=14),
        st.sampled_from(_KINDS),
    )
    batch = []
    for k in range(students):
        student = f"student-{k}"
        history = draw(st.lists(events, min_size=1, max_size=12))
        commands: list[Command] = []
        for step_index, score, minute, number, kind in history:
            step_id = f"s{step_index}"
            when = at(minutes=minute)
            session = f"k{number % 3}"
            if kind == "attempt":
                commands.append(
                    attempt(
                        f"t{number}",
                        step_id,
                        float(score),
                        when,
                        session=session,
                        duration_ms=score * 1000,
                        student_id=student,
                    )
                )
            elif kind == "start":
                commands.append(
                    StartStep(
                        command_id=f"start-{number}",
                        student_id=student,
                        assignment_id=ASSIGNMENT,
                        step_id=step_id,
                        started_at=when,
                        session_id=session,
                    )
                )
            else:
                commands.append(
                    attrs.evolve(
                        override(f"o{number}", step_id, when), student_id=student
                    )
                )
        state = replay(commands, on, as_of=at(days=30), student_id=student)
        log = [c for c in commands if isinstance(c, Attempt)]
        batch.append((state, log))
    return on, batch


def state_of(records: Sequence[StepProgress], on: AssignmentStructure) -> ProgressState:
    return ProgressState(
        student_id=STUDENT, structure=on, steps={r.step_id: r for r in records}
    )
