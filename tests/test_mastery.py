"""Mastery level of a step (D6) and mastery score of an assignment (D12)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    DEFAULT_POLICY,
    AssignmentStructure,
    MasteryLevel,
    Policy,
    Stage,
    StageWeights,
    StepDefinition,
    StepProgress,
    StepState,
    mastery_level,
    mastery_score,
)
from mlc_progress.testing import strategies as mst

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NS, LEARNING, PROFICIENT, MASTERED = (
    MasteryLevel.NOT_STARTED,
    MasteryLevel.LEARNING,
    MasteryLevel.PROFICIENT,
    MasteryLevel.MASTERED,
)
RANK = {NS: 0, LEARNING: 1, PROFICIENT: 2, MASTERED: 3}


@pytest.mark.parametrize(
    ("attempts", "best", "target", "consistency", "level"),
    [
        # attempt_count == 0
        (0, 0.0, 80.0, None, NS),
        # best < target * 0.7
        (1, 0.0, 80.0, 0.0, LEARNING),
        (3, 55.9, 80.0, 0.0, LEARNING),
        (1, math.nextafter(56.0, 0.0), 80.0, 0.0, LEARNING),
        # best == target * 0.7 exactly: no longer learning
        (1, 56.0, 80.0, 0.0, PROFICIENT),
        (1, 70.0, 100.0, 0.0, PROFICIENT),
        (1, 35.0, 50.0, None, PROFICIENT),
        (1, 63.0, 90.0, 0.0, PROFICIENT),
        # target * 0.7 <= best < target
        (2, 79.9, 80.0, 0.0, PROFICIENT),
        (2, math.nextafter(80.0, 0.0), 80.0, 0.0, PROFICIENT),
        # best >= target: mastered exactly when consistency < 0.15
        (2, 80.0, 80.0, 0.149, MASTERED),
        (2, 80.0, 80.0, 0.0, MASTERED),
        (2, 80.0, 80.0, math.nextafter(0.15, 0.0), MASTERED),
        (2, 80.0, 80.0, 0.15, PROFICIENT),
        (2, 80.0, 80.0, None, PROFICIENT),
        (2, 100.0, 80.0, 0.5, PROFICIENT),
        (1, 100.0, 100.0, 0.0, MASTERED),
    ],
)
def test_mastery_level_follows_the_spec_pseudo_code(
    attempts: int,
    best: float,
    target: float,
    consistency: float | None,
    level: MasteryLevel,
) -> None:
    """Each branch of the spec's mastery pseudo-code, at its exact boundaries (D6)."""
    assert (
        mastery_level(
            attempt_count=attempts,
            best_score=best,
            target_score=target,
            consistency_score=consistency,
        )
        is level
    )


@given(mst.targets())
def test_best_equal_to_float_learning_threshold_is_proficient(target: float) -> None:
    """A best equal to target * learning_ratio (as computed) is proficient, not learning (D6)."""
    best = target * DEFAULT_POLICY.learning_ratio
    level = mastery_level(
        attempt_count=1, best_score=best, target_score=target, consistency_score=None
    )
    assert level is PROFICIENT


@pytest.mark.parametrize(
    ("best", "consistency", "level"),
    [
        (39.9, 0.0, LEARNING),
        (40.0, 0.0, PROFICIENT),
        (80.0, 0.19, MASTERED),
        (80.0, 0.2, PROFICIENT),
    ],
)
def test_mastery_level_uses_the_policy_thresholds(
    best: float, consistency: float, level: MasteryLevel
) -> None:
    """An organization's learning ratio and consistency threshold replace 0.7 and 0.15."""
    policy = Policy(learning_ratio=0.5, mastery_consistency_threshold=0.2)
    assert (
        mastery_level(
            attempt_count=1,
            best_score=best,
            target_score=80.0,
            consistency_score=consistency,
            policy=policy,
        )
        is level
    )


@given(
    attempts=st.integers(min_value=1, max_value=50),
    bests=st.lists(mst.scores(), min_size=2, max_size=2),
    target=mst.targets(),
    consistency=st.none() | st.floats(min_value=0, max_value=3),
    policy=mst.policies(),
)
def test_mastery_level_never_decreases_as_best_score_increases(
    attempts: int,
    bests: list[float],
    target: float,
    consistency: float | None,
    policy: Policy,
) -> None:
    """With attempts, target and consistency fixed, a higher best never lowers the level."""
    low, high = sorted(bests)
    levels = [
        mastery_level(
            attempt_count=attempts,
            best_score=best,
            target_score=target,
            consistency_score=consistency,
            policy=policy,
        )
        for best in (low, high)
    ]
    assert RANK[levels[0]] <= RANK[levels[1]]


@given(
    best=mst.scores(),
    target=mst.targets(),
    consistency=st.none() | st.floats(min_value=0, max_value=3),
)
def test_mastered_requires_target_and_consistency(
    best: float, target: float, consistency: float | None
) -> None:
    """Mastered implies the target is met and consistency is below the threshold (D6)."""
    level = mastery_level(
        attempt_count=3,
        best_score=best,
        target_score=target,
        consistency_score=consistency,
    )
    if level is MASTERED:
        assert best >= target
        assert consistency is not None
        assert consistency < DEFAULT_POLICY.mastery_consistency_threshold
    else:
        assert level is not NS


def _definition(
    step_id: str, stage: Stage, *, optional: bool = False, deprecated: bool = False
) -> StepDefinition:
    return StepDefinition(
        step_id=step_id,
        element_id=f"game-{step_id}",
        stage=stage,
        target_score=50.0,
        optional=optional,
        deprecated=deprecated,
    )


def _attempted(step_id: str, best: float) -> StepProgress:
    return StepProgress(
        step_id=step_id,
        assignment_id="a",
        student_id="u",
        target_score=50.0,
        state=StepState.IN_PROGRESS if best < 50 else StepState.COMPLETE,
        started_at=T0,
        completed_at=None if best < 50 else T0,
        last_activity_at=T0,
        attempt_count=1,
        session_count=1,
        best_score=best,
        latest_score=best,
        passed=best >= 50,
        score_mean=best,
        consistency_score=0.0,
        first_attempt_at=T0,
        first_score=best,
        latest_attempt_at=T0,
        mastery_level=MasteryLevel.PROFICIENT,
    )


STRUCTURE = AssignmentStructure(
    assignment_id="a",
    created_at=T0,
    steps=(
        _definition("learn", Stage.LEARN),
        _definition("play", Stage.PLAY),
        _definition("quiz", Stage.QUIZ),
        _definition("challenge", Stage.CHALLENGE),
        _definition("review", Stage.REVIEW),
        _definition("bonus", Stage.QUIZ, optional=True),
        _definition("old", Stage.QUIZ, deprecated=True),
    ),
)


def test_mastery_score_is_the_stage_weighted_mean_of_required_steps() -> None:
    """Hand-computed D12 example: weights 0.5, 1, 2, 1.5, 1; unattempted counts 0; optional and deprecated left out."""
    steps = [
        _attempted("learn", 80.0),
        _attempted("play", 90.0),
        _attempted("quiz", 70.0),
        _attempted("challenge", 60.0),
        # "review" has no record: weight 1.0, contributes 0.
        _attempted("bonus", 100.0),
        _attempted("old", 100.0),
    ]
    # (0.5*80 + 1*90 + 2*70 + 1.5*60 + 1*0) / (0.5 + 1 + 2 + 1.5 + 1) = 360 / 6
    assert mastery_score(STRUCTURE, steps) == pytest.approx(60.0)
    assert mastery_score(STRUCTURE, {s.step_id: s for s in steps}) == pytest.approx(
        60.0
    )


def test_mastery_score_uses_the_policy_weights() -> None:
    """An organization's stage weights replace the spec's in the weighted mean (D12)."""
    steps = [_attempted("learn", 80.0), _attempted("quiz", 20.0)]
    weights = StageWeights(LEARN=1.0, PLAY=1.0, QUIZ=1.0, CHALLENGE=1.0, REVIEW=1.0)
    policy = Policy(stage_weights=weights)
    # (80 + 0 + 20 + 0 + 0) / 5
    assert mastery_score(STRUCTURE, steps, policy=policy) == pytest.approx(20.0)


def test_mastery_score_without_required_steps_is_zero() -> None:
    """An assignment with no required steps has a mastery score of 0.0 (D12)."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(_definition("bonus", Stage.QUIZ, optional=True),),
    )
    assert mastery_score(structure, [_attempted("bonus", 90.0)]) == 0.0
    assert mastery_score(STRUCTURE, []) == 0.0


@given(data=st.data(), structure=mst.assignment_structures(max_steps=6))
def test_mastery_score_lies_between_smallest_and_largest_contribution(
    data: st.DataObject, structure: AssignmentStructure
) -> None:
    """The mastery score is a weighted mean: within the range of the step contributions."""
    steps = data.draw(mst.step_progress_for(structure, student_id="u"))
    policy = data.draw(mst.policies())
    by_id = {s.step_id: s for s in steps}
    contributions = [
        by_id[d.step_id].best_score
        if d.step_id in by_id and by_id[d.step_id].attempt_count > 0
        else 0.0
        for d in structure.required_steps
    ]
    score = mastery_score(structure, steps, policy=policy)
    assert 0.0 <= score <= 100.0
    if contributions:
        assert min(contributions) - 1e-9 <= score <= max(contributions) + 1e-9
    else:
        assert score == 0.0
