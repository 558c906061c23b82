"""Mastery level of a step (D6) and mastery score of an assignment (D12)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import _validate as v
from ._enums import MasteryLevel
from ._errors import InvalidInputError
from ._policy import DEFAULT_POLICY, Policy, check_policy
from ._records import StepProgress
from ._structure import AssignmentStructure

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
    check_policy(policy)
    return checked_mastery_level(
        v.count_argument("attempt_count", attempt_count),
        v.score_argument("best_score", best_score),
        v.target_argument("target_score", target_score),
        None
        if consistency_score is None
        else v.ratio_argument("consistency_score", consistency_score),
        policy,
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
    if not isinstance(structure, AssignmentStructure):
        raise InvalidInputError("structure", structure, "an AssignmentStructure")
    check_policy(policy)
    by_id = _by_id(steps)
    weights = policy.stage_weights
    total_weight = 0.0
    weighted = 0.0
    for definition in structure.steps:
        if not definition.required:
            continue
        w = weights.weight(definition.stage)
        total_weight += w
        progress = record_at(by_id, definition.step_id)
        if progress is not None and progress.attempt_count > 0:
            weighted += w * progress.best_score
    if total_weight == 0:
        return 0.0
    return min(weighted / total_weight, 100.0)


def record_at(by_id: Mapping[str, StepProgress], step_id: str) -> StepProgress | None:
    """The record filed under a step of the structure, checked to be that
    step's ``StepProgress`` (records of other ids are ignored, Q17)."""
    record = by_id.get(step_id)
    if record is None:
        return None
    if not isinstance(record, StepProgress):
        raise InvalidInputError(f"steps[{step_id!r}]", record, "a StepProgress record")
    if record.step_id != step_id:
        raise InvalidInputError(
            f"steps[{step_id!r}]",
            record.step_id,
            "the record of the step it is filed under",
        )
    return record


def _by_id(
    steps: Mapping[str, StepProgress] | Iterable[StepProgress],
) -> Mapping[str, StepProgress]:
    if isinstance(steps, Mapping):
        return steps
    records = v.instances("steps", steps, StepProgress, "StepProgress records")
    by_id: dict[str, StepProgress] = {}
    for step in records:
        by_id[step.step_id] = step
    return by_id
