"""Step completion (D7) and completion, average, pass rate, status (D10, D11, D13, D14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentStatus,
    AssignmentStructure,
    CompletionSource,
    InvalidInputError,
    OriginalContext,
    ReconciliationMetadata,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    assignment_status,
    average_score,
    completion_percentage,
    completion_source_for,
    next_step,
    pass_rate,
)

from ._steps import step_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.mark.parametrize(
    ("complete", "required", "percentage"),
    [
        (0, 4, 0.0),
        (1, 4, 25.0),
        (3, 8, 37.5),
        (2, 3, 200 / 3),
        (4, 4, 100.0),
        (0, 0, 100.0),
    ],
)
def test_completion_percentage_counts_required_steps(
    complete: int, required: int, percentage: float
) -> None:
    """completion = 100 * required_complete / required; no required steps gives 100.0 (D10)."""
    assert completion_percentage(complete, required) == pytest.approx(percentage)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0))
def test_completion_percentage_is_within_0_and_100(required: int, seed: int) -> None:
    """completion_percentage never leaves [0, 100] for counts a student can have (D10)."""
    complete = seed % (required + 1)
    assert 0.0 <= completion_percentage(complete, required) <= 100.0


@given(st.integers(), st.integers())
def test_completion_percentage_refuses_counts_no_student_can_have(
    complete: int, required: int
) -> None:
    """A negative count, or more steps complete than required, is an
    InvalidInputError naming the count, never a clamped figure (D10)."""
    if 0 <= complete <= required:
        assert 0.0 <= completion_percentage(complete, required) <= 100.0
        return
    with pytest.raises(InvalidInputError) as caught:
        completion_percentage(complete, required)
    assert caught.value.field in {"required_complete", "required"}


META = ReconciliationMetadata(
    original_score=85.0, original_context=OriginalContext.ALL_GAMES, reconciled_at=T0
)


@pytest.mark.parametrize(
    ("step", "optional", "moved_past", "source"),
    [
        # Rule 1: best_score >= target_score.
        (
            step_record("s", state=StepState.IN_PROGRESS, attempts=[(T0, 80.0)]),
            False,
            False,
            CompletionSource.FRESH_ATTEMPT,
        ),
        (
            step_record("s", state=StepState.IN_PROGRESS, attempts=[(T0, 79.9)]),
            False,
            False,
            None,
        ),
        # Rule 3: a reconciled free-play score meeting the target.
        (
            step_record("s", meta=META),
            False,
            False,
            CompletionSource.FREE_PLAY_RECONCILED,
        ),
        (step_record("s", target=90.0, meta=META), False, False, None),
        # Rule 4: an optional step the student has moved past.
        (step_record("s"), True, True, CompletionSource.FRESH_ATTEMPT),
        (step_record("s"), True, False, None),
        (step_record("s"), False, True, None),
        # Completion is monotone: a complete step keeps its source (rule 2 included).
        (
            step_record(
                "s",
                state=StepState.COMPLETE,
                completed_at=T0,
                source=CompletionSource.TEACHER_OVERRIDE,
            ),
            False,
            False,
            CompletionSource.TEACHER_OVERRIDE,
        ),
    ],
)
def test_completion_source_follows_the_spec_rules(
    step: StepProgress,
    optional: bool,
    moved_past: bool,
    source: CompletionSource | None,
) -> None:
    """A step is complete by an attempt, a free-play score or moving past an optional step (D7)."""
    assert (
        completion_source_for(step, optional=optional, moved_past=moved_past) is source
    )


def test_average_score_is_mean_best_over_completed_steps_with_attempts() -> None:
    """average_score averages best scores of complete steps with attempts only (D11)."""
    steps = [
        step_record(
            "a",
            state=StepState.COMPLETE,
            attempts=[(day(1), 70.0), (day(2), 90.0)],
            completed_at=day(2),
        ),
        step_record(
            "b",
            state=StepState.COMPLETE,
            attempts=[(day(3), 85.0)],
            completed_at=day(3),
        ),
        # Complete by override without attempts: left out.
        step_record(
            "c",
            state=StepState.COMPLETE,
            completed_at=day(4),
            source=CompletionSource.TEACHER_OVERRIDE,
        ),
        # In progress: left out.
        step_record("d", state=StepState.IN_PROGRESS, attempts=[(day(5), 10.0)]),
    ]
    assert average_score(steps) == pytest.approx((90.0 + 85.0) / 2)


def test_average_score_without_completed_attempts_is_zero() -> None:
    """average_score is 0.0 when no complete step has an attempt (D11)."""
    steps = [step_record("d", state=StepState.IN_PROGRESS, attempts=[(day(5), 60.0)])]
    assert average_score(steps) == 0.0
    assert average_score([]) == 0.0


def test_pass_rate_judges_the_earliest_attempt_even_when_it_arrives_late() -> None:
    """A late attempt stamped before the others is the first attempt for pass rate (D13, D2)."""
    late_first = step_record(
        "late",
        state=StepState.COMPLETE,
        # Arrival order: 90 stamped day 3 arrives first, 50 stamped day 1 later.
        attempts=[(day(3), 90.0), (day(1), 50.0)],
        completed_at=day(3),
    )
    assert late_first.first_score == 50.0
    assert late_first.latest_score == 90.0
    first_try = step_record(
        "first-try",
        state=StepState.COMPLETE,
        attempts=[(day(2), 85.0)],
        completed_at=day(2),
    )
    untouched = step_record("untouched")
    # One of the two attempted steps passed on its first attempt.
    assert pass_rate([late_first, first_try, untouched]) == pytest.approx(50.0)


def test_pass_rate_without_attempts_is_zero() -> None:
    """pass_rate is 0.0 when no step has an attempt (D13)."""
    assert pass_rate([step_record("s")]) == 0.0
    assert pass_rate([]) == 0.0


@pytest.mark.parametrize(
    ("completion", "activity", "archived", "status"),
    [
        (0.0, False, False, AssignmentStatus.NOT_STARTED),
        (100.0, False, False, AssignmentStatus.NOT_STARTED),
        (0.0, True, False, AssignmentStatus.IN_PROGRESS),
        (99.9, True, False, AssignmentStatus.IN_PROGRESS),
        (100.0, True, False, AssignmentStatus.COMPLETE),
        (50.0, True, True, AssignmentStatus.ARCHIVED),
        (0.0, False, True, AssignmentStatus.ARCHIVED),
    ],
)
def test_assignment_status_follows_d14(
    completion: float, activity: bool, archived: bool, status: AssignmentStatus
) -> None:
    """not_started before activity, complete at 100, archived only by the host (D14)."""
    assert (
        assignment_status(
            completion=completion, any_activity=activity, archived=archived
        )
        is status
    )


STRUCTURE = AssignmentStructure(
    assignment_id="a",
    created_at=T0,
    steps=tuple(
        StepDefinition(step_id=i, element_id="g", stage=Stage.PLAY, target_score=80.0)
        for i in ("s1", "s2", "s3", "s4")
    ),
)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({}, "s1"),
        ({"s1": StepState.AVAILABLE}, "s1"),
        ({"s1": StepState.LOCKED, "s2": StepState.AVAILABLE}, "s2"),
        ({"s1": StepState.COMPLETE, "s2": StepState.IN_PROGRESS}, "s2"),
        ({"s1": StepState.COMPLETE, "s3": StepState.AVAILABLE}, "s3"),
        (dict.fromkeys(("s1", "s2", "s3", "s4"), StepState.COMPLETE), None),
    ],
)
def test_next_step_is_first_not_complete_and_not_locked(
    states: dict[str, StepState], expected: str | None
) -> None:
    """The next step is the first in order neither complete nor locked; no record counts as locked (D14)."""
    records = []
    for step_id, state in states.items():
        started = day(1) if state is StepState.IN_PROGRESS else None
        done = day(1) if state is StepState.COMPLETE else None
        records.append(
            step_record(step_id, state=state, started_at=started, completed_at=done)
        )
    found = next_step(STRUCTURE, records)
    assert (None if found is None else found.step_id) == expected
