"""Laws of the real-time core over generated histories (issue 3, item 8).

A history is a generated structure of 1 to 8 steps (some optional or
deprecated) and attempts with distinct ids and timestamps on a whole-hour
grid, so ties are common. Delivery is any permutation of them, with some
delivered again.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

import attrs
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    DEFAULT_POLICY,
    AssignmentProgressMilestone,
    AssignmentStructure,
    Attempt,
    Command,
    OverrideComplete,
    ProgressSnapshotCreated,
    StartStep,
    StepProgress,
    StepState,
    assignment_progress,
    structure,
    unstructure,
)
from mlc_progress._tracking import apply_command

from .test_tracking_support import (
    STUDENT,
    after_all,
    attempts_for,
    fresh,
    in_time_order,
    override,
    replay,
    structures,
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[AssignmentStructure, list[Attempt]]:
    built = draw(structures())
    return built, draw(attempts_for(built))


@st.composite
def deliveries(draw: st.DrawFn, attempts: list[Attempt]) -> list[Attempt]:
    """``attempts`` in any order, some of them delivered twice or more."""
    order = list(draw(st.permutations(attempts)))
    again = draw(st.lists(st.sampled_from(attempts), max_size=len(attempts)))
    for repeated in again:
        order.insert(draw(st.integers(0, len(order))), repeated)
    return order


def order_free(step: StepProgress) -> StepProgress:
    """``step`` without the fields that may depend on delivery order.

    The running moments and the consistency score agree within float
    tolerance only (D5); sessions compare with the last one only (Q13).
    """
    return attrs.evolve(
        step,
        score_mean=0.0,
        score_m2=0.0,
        consistency_score=None,
        # At least one session once played (D4), however many in order.
        session_count=min(step.session_count, 1),
        last_session_id=None,
    )


@given(data=st.data(), history=histories())
def test_any_delivery_order_gives_the_records_of_timestamp_order(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """Permuted and re-delivered attempts give timestamp order's records (D2, D3)."""
    built, attempts = history
    now = after_all(built)
    expected = replay(fresh(built), in_time_order(attempts), as_of=now).state
    delivered = data.draw(deliveries(attempts))
    actual = replay(fresh(built), delivered, as_of=now).state

    assert actual.assignment == expected.assignment
    assert actual.steps.keys() == expected.steps.keys()
    for step_id, want in expected.steps.items():
        got = actual.steps[step_id]
        assert order_free(got) == order_free(want)
        assert math.isclose(got.score_mean, want.score_mean, abs_tol=1e-9)
        assert math.isclose(got.score_m2, want.score_m2, rel_tol=1e-9, abs_tol=1e-6)
        if want.consistency_score is None:
            assert got.consistency_score is None
        else:
            assert got.consistency_score is not None
            assert math.isclose(
                got.consistency_score, want.consistency_score, abs_tol=1e-8
            )


@given(data=st.data(), history=histories())
def test_attempt_count_equals_the_distinct_attempt_ids(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """``attempt_count`` and time on task count each attempt id once (D3)."""
    built, attempts = history
    result = replay(
        fresh(built), data.draw(deliveries(attempts)), as_of=after_all(built)
    )
    counts = Counter(a.step_id for a in attempts)
    for step_id, record in result.state.steps.items():
        assert record.attempt_count == counts[step_id]
        assert record.time_on_task_ms == sum(
            a.duration_ms for a in attempts if a.step_id == step_id
        )
        if counts[step_id]:
            assert record.best_score == max(
                a.score for a in attempts if a.step_id == step_id
            )
    assert result.state.assignment is not None
    assert result.state.assignment.time_on_task_ms == sum(
        a.duration_ms for a in attempts
    )


@given(data=st.data(), history=histories())
def test_every_outcome_holds_valid_records_that_agree_with_the_calculator(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """Outcome records round-trip through the converter, and the assignment
    equals ``assignment_progress`` over the stored step records (D4, Q17)."""
    built, attempts = history
    now = after_all(built)
    state = fresh(built)
    seen: frozenset[str] = frozenset()
    for command in data.draw(deliveries(attempts)):
        outcome = apply_command(command, state, as_of=now, seen=seen)
        seen |= set(outcome.consumed_ids)
        for record in (*outcome.steps, outcome.assignment, *outcome.snapshots):
            if record is not None:
                assert structure(unstructure(record), type(record)) == record
        state = state.after(outcome)
        assert state.assignment == assignment_progress(
            built,
            state.steps,
            student_id=state.student_id,
            as_of=now,
            due_at_override=state.assignment.due_at_override
            if state.assignment
            else None,
        )


@given(data=st.data(), history=histories())
def test_reapplying_a_consumed_id_changes_nothing(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """Any id already consumed gives ``applied=False``, no records, no events (D3)."""
    built, attempts = history
    now = after_all(built)
    result = replay(fresh(built), data.draw(deliveries(attempts)), as_of=now)
    again = data.draw(st.sampled_from(attempts))
    outcome = apply_command(again, result.state, as_of=now, seen=result.seen)
    assert not outcome.applied
    assert (outcome.steps, outcome.assignment, outcome.sequence) == ((), None, None)
    assert (outcome.events, outcome.snapshots, outcome.audit) == ((), (), ())
    assert outcome.consumed_ids == ()
    assert sum(o.applied for o in result.outcomes) == len(attempts)


@given(data=st.data(), history=histories())
def test_last_activity_never_moves_backwards(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """A late attempt counts but never moves ``last_activity_at`` back (D2)."""
    built, attempts = history
    state = fresh(built)
    result = replay(state, data.draw(deliveries(attempts)), as_of=after_all(built))
    latest: dict[str, datetime] = {}
    for outcome in result.outcomes:
        for record in outcome.steps:
            previous = latest.get(record.step_id)
            if previous is not None:
                assert record.last_activity_at is not None
                assert record.last_activity_at >= previous
            if record.last_activity_at is not None:
                latest[record.step_id] = record.last_activity_at
    for record in result.state.steps.values():
        played = [a.attempted_at for a in attempts if a.step_id == record.step_id]
        if played:
            assert record.last_activity_at == max(played)
            assert record.started_at is not None
            assert record.started_at <= min(played)


@st.composite
def mixed_commands(
    draw: st.DrawFn, built: AssignmentStructure, attempts: list[Attempt]
) -> list[Command]:
    """The attempts, some steps started and some teacher overrides, in any order."""
    step_ids = [d.step_id for d in built.steps]

    def when() -> datetime:
        return built.created_at + timedelta(hours=draw(st.integers(0, 24 * 30)))

    overrides = [
        override(f"o{i}", draw(st.sampled_from(step_ids)), when())
        for i in range(draw(st.integers(0, 3)))
    ]
    starts = [
        StartStep(
            command_id=f"c{i}",
            student_id=STUDENT,
            assignment_id=built.assignment_id,
            step_id=draw(st.sampled_from(step_ids)),
            started_at=when(),
            session_id="k1",
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    commands: list[Command] = [*attempts, *overrides, *starts]
    return list(draw(st.permutations(commands)))


def command_time(command: Command) -> tuple[datetime, str]:
    """When ``command`` happened, and its id to order ties."""
    if isinstance(command, Attempt):
        return command.attempted_at, command.attempt_id
    if isinstance(command, StartStep):
        return command.started_at, command.command_id
    assert isinstance(command, OverrideComplete)
    return command.issued_at, command.command_id


@given(data=st.data(), history=histories())
def test_commands_in_any_order_give_the_records_of_time_order(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """Attempts, starts and overrides in any order give time order's records.

    The earliest completing evidence wins (D7) and every other figure is a
    minimum, a maximum or a sum, so delivery order does not matter (D2).
    """
    built, attempts = history
    commands = data.draw(mixed_commands(built, attempts))
    now = after_all(built)
    expected = replay(fresh(built), sorted(commands, key=command_time), as_of=now)
    actual = replay(fresh(built), commands, as_of=now)
    assert actual.state.assignment == expected.state.assignment
    for step_id, want in expected.state.steps.items():
        assert order_free(actual.state.steps[step_id]) == order_free(want)


@given(data=st.data(), history=histories())
def test_completion_never_decreases_under_attempts_and_overrides(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """Completion percentage never drops and a complete step stays complete (D7)."""
    built, attempts = history
    commands = data.draw(mixed_commands(built, attempts))
    result = replay(fresh(built), commands, as_of=after_all(built))
    completion = 0.0
    complete: set[str] = set()
    for outcome in result.outcomes:
        if outcome.assignment is not None:
            assert outcome.assignment.completion_percentage >= completion
            completion = outcome.assignment.completion_percentage
        for record in outcome.steps:
            if record.step_id in complete:
                assert record.state is StepState.COMPLETE
            if record.state is StepState.COMPLETE:
                complete.add(record.step_id)


@given(data=st.data(), history=histories())
def test_milestones_are_emitted_once_per_crossing_in_ascending_order(
    data: st.DataObject, history: tuple[AssignmentStructure, list[Attempt]]
) -> None:
    """Each milestone reached fires one event and one snapshot, ascending (D16)."""
    built, attempts = history
    commands = data.draw(mixed_commands(built, attempts))
    result = replay(fresh(built), commands, as_of=after_all(built))
    fired = [
        event
        for outcome in result.outcomes
        for event in outcome.events
        if isinstance(event, AssignmentProgressMilestone)
    ]
    final = result.state.assignment
    assert final is not None
    reached = final.completion_percentage if final.started_at is not None else 0.0
    assert [int(e.milestone) for e in fired] == [
        m for m in DEFAULT_POLICY.milestones if m <= reached
    ]
    for event in fired:
        assert event.previous_percentage < int(event.milestone) <= event.new_percentage
    notes = [
        s.notes
        for outcome in result.outcomes
        for s in outcome.snapshots
        if s.notes is not None and s.notes.startswith("milestone_")
    ]
    assert [n.split(";")[0] for n in notes] == [
        f"milestone_{e.milestone}" for e in fired
    ]
    snapshot_events = [
        e
        for outcome in result.outcomes
        for e in outcome.events
        if isinstance(e, ProgressSnapshotCreated)
    ]
    assert len(snapshot_events) == sum(len(o.snapshots) for o in result.outcomes)
