"""The public calculators refuse impossible input with InvalidInputError
naming the argument, instead of a bare error or a silently wrong figure; the
core calls their checked twins on records already valid (D4)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from mlc_progress import (
    AssignmentStatus,
    AssignmentStructure,
    InvalidInputError,
    MasteryLevel,
    PacingStatus,
    Stage,
    StepDefinition,
    StepProgress,
    add_score,
    assignment_progress,
    assignment_status,
    average_score,
    completion_percentage,
    completion_source_for,
    consistency_from_moments,
    consistency_score,
    estimated_completion_date,
    mastery_level,
    mastery_score,
    next_step,
    pacing_status,
    pass_rate,
    steps_per_week,
)

NOW = datetime(2026, 9, 5, tzinfo=UTC)
NAN = float("nan")
# numpy as Any: the calculators are typed for plain numbers, and take numpy's.
np_: Any = np
STRUCTURE = AssignmentStructure(
    assignment_id="a1",
    created_at=NOW,
    steps=(
        StepDefinition(
            step_id="s1", element_id="g1", stage=Stage.LEARN, target_score=80.0
        ),
    ),
)


TWO_STEPS = AssignmentStructure(
    assignment_id="a1",
    created_at=NOW,
    steps=(
        StepDefinition(
            step_id="s1", element_id="g1", stage=Stage.LEARN, target_score=80.0
        ),
        StepDefinition(
            step_id="s2", element_id="g2", stage=Stage.QUIZ, target_score=80.0
        ),
    ),
)


def mastery(**given: Any) -> Any:
    arguments: dict[str, Any] = {
        "attempt_count": 1,
        "best_score": 50.0,
        "target_score": 80.0,
        "consistency_score": None,
        **given,
    }
    return mastery_level(**arguments)


def estimate(**given: Any) -> Any:
    arguments: dict[str, Any] = {
        "remaining_required": 2,
        "steps_per_week": 1.0,
        "as_of": NOW,
        **given,
    }
    return estimated_completion_date(**arguments)


CASES: list[tuple[str, Callable[[], object], str]] = [
    ("add_score: a score over 100", lambda: add_score(0, 0.0, 0.0, 150.0), "score"),
    ("add_score: a NaN score", lambda: add_score(0, 0.0, 0.0, NAN), "score"),
    ("add_score: a negative count", lambda: add_score(-1, 0.0, 0.0, 50.0), "count"),
    ("add_score: a mean over 100", lambda: add_score(1, 101.0, 0.0, 50.0), "mean"),
    ("add_score: a negative m2", lambda: add_score(1, 50.0, -1.0, 50.0), "m2"),
    (
        "consistency_from_moments: a negative count",
        lambda: consistency_from_moments(-2, 50.0, 10.0),
        "count",
    ),
    (
        "consistency_from_moments: a boolean count",
        lambda: consistency_from_moments(True, 50.0, 10.0),
        "count",
    ),
    ("consistency_score: a NaN score", lambda: consistency_score([NAN]), "scores"),
    (
        "consistency_score: text",
        lambda: consistency_score("80"),  # type: ignore[arg-type]
        "scores",
    ),
    (
        "mastery_level: a negative attempt count",
        lambda: mastery(attempt_count=-1),
        "attempt_count",
    ),
    (
        "mastery_level: a negative consistency",
        lambda: mastery(consistency_score=-0.1),
        "consistency_score",
    ),
    (
        "steps_per_week: a naive completion time",
        lambda: steps_per_week([datetime(2026, 9, 1)], as_of=NOW),
        "completed_at",
    ),
    (
        "steps_per_week: one time, not a list of them",
        lambda: steps_per_week(NOW, as_of=NOW),  # type: ignore[arg-type]
        "completed_at",
    ),
    (
        "completion_percentage: more complete than required",
        lambda: completion_percentage(3, 2),
        "required_complete",
    ),
    (
        "completion_percentage: a negative count",
        lambda: completion_percentage(-1, 2),
        "required_complete",
    ),
    (
        "assignment_status: a completion over 100",
        lambda: assignment_status(completion=150.0, any_activity=True),
        "completion",
    ),
    (
        "assignment_status: activity given as a number",
        lambda: assignment_status(completion=50.0, any_activity=1),  # type: ignore[arg-type]
        "any_activity",
    ),
    (
        "assignment_progress: archived given as a number",
        lambda: assignment_progress(
            STRUCTURE,
            {},
            student_id="u1",
            as_of=NOW,
            archived=1,  # type: ignore[arg-type]
        ),
        "archived",
    ),
    (
        "estimated_completion_date: a negative remainder",
        lambda: estimate(remaining_required=-3),
        "remaining_required",
    ),
    (
        "estimated_completion_date: a NaN rate",
        lambda: estimate(steps_per_week=NAN),
        "steps_per_week",
    ),
    (
        "estimated_completion_date: a naive completion",
        lambda: estimate(completed_at=datetime(2026, 9, 1)),
        "completed_at",
    ),
]


@pytest.mark.parametrize(
    ("call", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_public_calculator_refuses_impossible_input_naming_the_argument(
    call: Callable[[], object], field: str
) -> None:
    """InvalidInputError naming the argument, not a bare error or a figure."""
    with pytest.raises(InvalidInputError) as caught:
        call()
    assert caught.value.field == field


def test_aware_times_in_any_zone_are_still_accepted() -> None:
    """The checks normalize aware times to UTC (D2); they do not refuse them."""
    from datetime import timedelta, timezone

    paris = timezone(timedelta(hours=1))
    done = datetime(2026, 9, 1, 12, tzinfo=paris)
    assert steps_per_week([done, None], as_of=NOW) == 0.25
    assert estimate(remaining_required=0, completed_at=done) == done.astimezone(UTC)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: completion_percentage(np_.int64(3), np_.int64(4)), 75.0),
        (lambda: add_score(np_.int64(1), 60.0, 0.0, 100.0), (80.0, 800.0)),
        (lambda: add_score(1, np_.float32(60.0), 0.0, np_.int64(100)), (80.0, 800.0)),
        (lambda: consistency_score(np_.array([60, 100])), 0.25),
        (
            lambda: assignment_status(completion=50.0, any_activity=np_.bool_(True)),
            AssignmentStatus.IN_PROGRESS,
        ),
        (
            lambda: mastery_level(
                attempt_count=np_.int64(3),
                best_score=np_.int64(90),
                target_score=80.0,
                consistency_score=np_.float32(0.05),
            ),
            MasteryLevel.MASTERED,
        ),
        (
            lambda: pacing_status(
                actual_percentage=np_.int64(50), expected_percentage=np_.float64(50)
            ),
            PacingStatus.ON_TRACK,
        ),
        (
            lambda: estimate(remaining_required=np_.int64(3), steps_per_week=1.5),
            datetime(2026, 9, 19, tzinfo=UTC),
        ),
    ],
)
def test_numpy_scalars_are_the_numbers_and_flags_they_hold(
    call: Callable[[], Any], expected: Any
) -> None:
    """A numpy count, score, percentage or bool (what pandas and numpy sums
    give) is accepted as the plain value it holds, and the result is plain."""
    got = call()
    assert got == expected
    for value in got if isinstance(got, tuple) else (got,):
        assert type(value) in {float, datetime} or isinstance(value, enum.Enum)


def test_a_numpy_count_that_is_not_a_count_is_refused_naming_it() -> None:
    """The rule is the same for numpy values: a negative count is refused."""
    with pytest.raises(InvalidInputError) as caught:
        completion_percentage(np_.int64(-1), 2)
    assert caught.value.field == "required_complete"


def test_a_record_filed_under_another_steps_id_is_refused() -> None:
    """steps={"s1": <the s2 record>} is refused naming the key, never counted
    as step s1's progress (the fold trusts records keyed by their own id)."""
    record = StepProgress(
        step_id="s2", assignment_id="a1", student_id="u1", target_score=80.0
    )
    for call in (
        lambda: assignment_progress(
            TWO_STEPS, {"s1": record, "s2": record}, student_id="u1", as_of=NOW
        ),
        lambda: mastery_score(TWO_STEPS, {"s1": record}),
        lambda: next_step(TWO_STEPS, {"s1": record}),
    ):
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert caught.value.field == "steps['s1']"


WRONG_TYPES: list[tuple[str, Callable[[], object], str]] = [
    (
        "mastery_level: a policy that is not one",
        lambda: mastery(policy="strict"),
        "policy",
    ),
    (
        "pacing_status: a policy that is not one",
        lambda: pacing_status(
            actual_percentage=1,
            expected_percentage=2,
            policy="strict",  # type: ignore[arg-type]
        ),
        "policy",
    ),
    (
        "steps_per_week: a policy that is not one",
        lambda: steps_per_week([], as_of=NOW, policy="strict"),  # type: ignore[arg-type]
        "policy",
    ),
    (
        "assignment_progress: a policy that is not one",
        lambda: assignment_progress(
            STRUCTURE,
            [],
            student_id="u1",
            as_of=NOW,
            policy="strict",  # type: ignore[arg-type]
        ),
        "policy",
    ),
    (
        "completion_source_for: not a record",
        lambda: completion_source_for("not a record"),  # type: ignore[arg-type]
        "step",
    ),
    (
        "average_score: not records",
        lambda: average_score(["not a record"]),  # type: ignore[list-item]
        "steps",
    ),
    ("pass_rate: not records", lambda: pass_rate(5), "steps"),  # type: ignore[arg-type]
    (
        "next_step: not a structure",
        lambda: next_step("not a structure", []),  # type: ignore[arg-type]
        "structure",
    ),
    (
        "mastery_score: not a structure",
        lambda: mastery_score("not a structure", []),  # type: ignore[arg-type]
        "structure",
    ),
]


@pytest.mark.parametrize(
    ("call", "field"), [c[1:] for c in WRONG_TYPES], ids=[c[0] for c in WRONG_TYPES]
)
def test_a_wrong_kind_of_argument_is_a_typed_error_naming_it(
    call: Callable[[], object], field: str
) -> None:
    """A policy, record or structure that is not one is InvalidInputError
    naming the argument (Q156), not AttributeError."""
    with pytest.raises(InvalidInputError) as caught:
        call()
    assert caught.value.field == field
