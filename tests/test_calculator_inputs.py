"""The public calculators refuse impossible input with InvalidInputError
naming the argument, instead of a bare error or a silently wrong figure; the
core calls their checked twins on records already valid (D4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mlc_progress import (
    AssignmentStructure,
    InvalidInputError,
    Stage,
    StepDefinition,
    add_score,
    assignment_progress,
    assignment_status,
    completion_percentage,
    consistency_from_moments,
    consistency_score,
    estimated_completion_date,
    mastery_level,
    steps_per_week,
)

NOW = datetime(2026, 9, 5, tzinfo=UTC)
NAN = float("nan")
STRUCTURE = AssignmentStructure(
    assignment_id="a1",
    created_at=NOW,
    steps=(
        StepDefinition(
            step_id="s1", element_id="g1", stage=Stage.LEARN, target_score=80.0
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
