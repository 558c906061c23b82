"""Mastery level of a step (D6) and mastery score of an assignment (D12)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._enums import MasteryLevel
from ._errors import InvalidInputError
from ._policy import DEFAULT_POLICY, Policy
from ._records import StepProgress
from ._structure import AssignmentStructure
from ._validate import (
    check_count_value,
    check_ratio_value,
    check_score_value,
    check_target_value,
)

__all__ = ["mastery_level", "mastery_score"]


def mastery_level(
    *,
    attempt_count: int,
    best_score: float,
    target_score: float,
    consistency_score: float | None,
    policy: Policy = DEFAULT_POLICY,
) -> MasteryLevel:
    """The spec's mastery pseudo-code, branch for branch (D6).

    A ``None`` consistency counts as not consistent.

    >>> mastery_level(attempt_count=0, best_score=0, target_score=80,
    ...               consistency_score=None)
    <MasteryLevel.NOT_STARTED: 'not_started'>
    >>> mastery_level(attempt_count=3, best_score=90, target_score=80,
    ...               consistency_score=0.05)
    <MasteryLevel.MASTERED: 'mastered'>
    """
    check_count_value("attempt_count", attempt_count)
    check_score_value("best_score", best_score)
    check_target_value("target_score", target_score)
    if consistency_score is not None:
        check_ratio_value("consistency_score", consistency_score)
    return checked_mastery_level(
        attempt_count, best_score, target_score, consistency_score, policy
    )


def checked_mastery_level(
    attempt_count: int,
    best_score: float,
    target_score: float,
    consistency_score: float | None,
    policy: Policy,
) -> MasteryLevel:
    """:func:`mastery_level` on scores already checked (the core's records)."""
    if attempt_count == 0:
        return MasteryLevel.NOT_STARTED
    if best_score < target_score * policy.learning_ratio:
        return MasteryLevel.LEARNING
    if best_score < target_score:
        return MasteryLevel.PROFICIENT
    if (
        consistency_score is not None
        and consistency_score < policy.mastery_consistency_threshold
    ):
        return MasteryLevel.MASTERED
    return MasteryLevel.PROFICIENT


def mastery_score(
    structure: AssignmentStructure,
    steps: Mapping[str, StepProgress] | Iterable[StepProgress],
    *,
    policy: Policy = DEFAULT_POLICY,
) -> float:
    """Stage-weighted mean of best scores over required steps (D12).

    A required step without attempts contributes 0; no required steps give 0.0.
    ``steps`` may omit steps never touched.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> def step(i, stage):
    ...     return StepDefinition(step_id=i, element_id="g", stage=stage,
    ...                           target_score=80)
    >>> s = AssignmentStructure(
    ...     assignment_id="a", created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     steps=(step("l", Stage.LEARN), step("q", Stage.QUIZ)))
    >>> p = StepProgress(step_id="q", assignment_id="a", student_id="u",
    ...                  target_score=80)
    >>> mastery_score(s, [p])
    0.0
    """
    by_id = _by_id(steps)
    weights = policy.stage_weights
    total_weight = 0.0
    weighted = 0.0
    for definition in structure.steps:
        if not definition.required:
            continue
        w = weights.weight(definition.stage)
        total_weight += w
        progress = by_id.get(definition.step_id)
        if progress is not None and progress.attempt_count > 0:
            weighted += w * progress.best_score
    if total_weight == 0:
        return 0.0
    return min(weighted / total_weight, 100.0)


def _by_id(
    steps: Mapping[str, StepProgress] | Iterable[StepProgress],
) -> Mapping[str, StepProgress]:
    if isinstance(steps, Mapping):
        return steps
    if not isinstance(steps, Iterable):
        raise InvalidInputError("steps", steps, "StepProgress records")
    by_id: dict[str, StepProgress] = {}
    for step in steps:
        if not isinstance(step, StepProgress):
            raise InvalidInputError("steps", step, "a StepProgress record")
        by_id[step.step_id] = step
    return by_id
