"""mlc_progress.testing.strategies: every strategy generates valid instances."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    CompletionSource,
    MasteryLevel,
    Policy,
    ProgressSnapshot,
    ReconciliationMetadata,
    SequenceProgress,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    StudentProgressSummary,
    consistency_from_moments,
    mastery_level,
)
from mlc_progress.testing import strategies as mst

LOW = datetime(2030, 1, 1, tzinfo=UTC)
HIGH = datetime(2030, 2, 1, tzinfo=UTC)
# Search without shrinking: only whether an example exists matters here.
SEARCH = settings(max_examples=2000, database=None, phases=[Phase.generate])


def _revalidated(record: Any) -> Any:
    """The record rebuilt through every validator and invariant check."""
    return attrs.evolve(record)


RECORD_STRATEGIES: list[tuple[st.SearchStrategy[Any], type]] = [
    (mst.step_definitions(), StepDefinition),
    (mst.assignment_structures(), AssignmentStructure),
    (mst.attempts(), Attempt),
    (mst.step_progress(), StepProgress),
    (mst.assignment_progress(), AssignmentProgress),
    (mst.sequence_progress(), SequenceProgress),
    (mst.progress_snapshots(), ProgressSnapshot),
    (mst.student_progress_summaries(), StudentProgressSummary),
    (mst.reconciliation_metadata(), ReconciliationMetadata),
    (mst.policies(), Policy),
]


@pytest.mark.parametrize(
    ("strategy", "cls"),
    RECORD_STRATEGIES,
    ids=[c.__name__ for _, c in RECORD_STRATEGIES],
)
@given(data=st.data())
def test_record_strategies_generate_valid_records(
    strategy: st.SearchStrategy[Any], cls: type, data: st.DataObject
) -> None:
    """Each record strategy generates instances that pass every validator again."""
    record = data.draw(strategy)
    assert type(record) is cls
    assert _revalidated(record) == record


@given(mst.scores(), mst.targets())
def test_scores_and_targets_are_in_range(score: float, target: float) -> None:
    """Scores are finite in [0, 100] and targets finite in (0, 100] (D1)."""
    assert math.isfinite(score)
    assert 0.0 <= score <= 100.0
    assert 0.0 < target <= 100.0


@given(mst.utc_datetimes(min_value=LOW, max_value=HIGH), mst.ids(), mst.stages())
def test_scalar_strategies_respect_their_rules(
    when: datetime, identifier: str, stage: Stage
) -> None:
    """Times are UTC within bounds, ids are not blank, stages are Stage members."""
    assert when.tzinfo is UTC
    assert LOW <= when <= HIGH
    assert identifier.strip()
    assert isinstance(stage, Stage)


@given(
    mst.attempts(
        student_id="u", assignment_id="a", step_id="s", min_time=LOW, max_time=HIGH
    )
)
def test_attempts_are_bound_to_ids_and_time_range(attempt: Attempt) -> None:
    """Bound attempts carry the given ids and a time within the given range."""
    assert (attempt.student_id, attempt.assignment_id, attempt.step_id) == (
        "u",
        "a",
        "s",
    )
    assert LOW <= attempt.attempted_at <= HIGH


@given(mst.assignment_structures(min_steps=2, max_steps=5, min_time=LOW, max_time=HIGH))
def test_structures_respect_their_options(structure: AssignmentStructure) -> None:
    """Structures have unique step ids, the asked number of steps and a due date after creation."""
    ids = [s.step_id for s in structure.steps]
    assert len(set(ids)) == len(ids)
    assert 2 <= len(ids) <= 5
    assert LOW <= structure.created_at <= HIGH
    if structure.due_at is not None:
        assert structure.due_at > structure.created_at


@given(
    mst.step_progress(
        step_id="s",
        assignment_id="a",
        student_id="u",
        target_score=75.0,
        min_time=LOW,
        max_time=HIGH,
    )
)
def test_step_progress_is_folded_consistently(step: StepProgress) -> None:
    """Generated steps keep the given ids and target and figures that follow from their attempts."""
    assert (step.step_id, step.assignment_id, step.student_id) == ("s", "a", "u")
    assert step.target_score == 75.0
    assert step.passed == step.target_met
    assert step.consistency_score == consistency_from_moments(
        step.attempt_count, step.score_mean, step.score_m2
    )
    assert step.mastery_level is mastery_level(
        attempt_count=step.attempt_count,
        best_score=step.best_score,
        target_score=step.target_score,
        consistency_score=step.consistency_score,
    )
    for when in (step.started_at, step.completed_at, step.last_activity_at):
        assert when is None or LOW <= when <= HIGH
    if step.state is StepState.IN_PROGRESS:
        assert not step.passed
    if step.state in (StepState.LOCKED, StepState.AVAILABLE):
        assert step.attempt_count == 0
    if step.completion_source is CompletionSource.FREE_PLAY_RECONCILED:
        assert step.reconciliation_metadata is not None


@given(mst.step_progress(states=[StepState.IN_PROGRESS, StepState.AVAILABLE]))
def test_step_progress_keeps_to_the_given_states(step: StepProgress) -> None:
    """Only the requested states are generated."""
    assert step.state in (StepState.IN_PROGRESS, StepState.AVAILABLE)


COVERAGE: list[tuple[str, Callable[[StepProgress], bool]]] = [
    *[
        (f"state {state}", lambda s, state=state: s.state is state)
        for state in StepState
    ],
    *[
        (
            f"complete by {source}",
            lambda s, source=source: s.is_complete and s.completion_source is source,
        )
        for source in CompletionSource
    ],
    *[
        (f"mastery {level}", lambda s, level=level: s.mastery_level is level)
        for level in MasteryLevel
    ],
    (
        "complete, target raised later",
        lambda s: s.is_complete and not s.passed and s.attempt_count > 0,
    ),
    ("several attempts", lambda s: s.attempt_count >= 3),
    ("several sessions", lambda s: s.session_count >= 2),
    (
        "completed for the student before they started",
        lambda s: (
            s.completed_at is not None
            and s.started_at is not None
            and s.completed_at < s.started_at
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "condition"), COVERAGE, ids=[name for name, _ in COVERAGE]
)
def test_step_progress_reaches_every_kind_of_step(
    name: str, condition: Callable[[StepProgress], bool]
) -> None:
    """The step strategy reaches every state, source and mastery level, and the edge cases."""
    found = find(mst.step_progress(), condition, settings=SEARCH)
    assert condition(found), name


@pytest.mark.parametrize("status", list(AssignmentStatus))
def test_assignment_progress_reaches_every_status(status: AssignmentStatus) -> None:
    """The assignment strategy generates every status."""
    found = find(
        mst.assignment_progress(), lambda p: p.status is status, settings=SEARCH
    )
    assert found.status is status


@given(data=st.data(), structure=mst.assignment_structures())
def test_step_progress_for_matches_the_structure(
    data: st.DataObject, structure: AssignmentStructure
) -> None:
    """Records for a structure follow its step order, ids and targets, for one student."""
    steps = data.draw(mst.step_progress_for(structure, student_id="u"))
    order = [s.step_id for s in structure.steps]
    assert [s.step_id for s in steps] == [
        i for i in order if i in {s.step_id for s in steps}
    ]
    for record in steps:
        definition = structure.step(record.step_id)
        assert record.target_score == definition.target_score
        assert record.assignment_id == structure.assignment_id
        assert record.student_id == "u"
        for when in (record.started_at, record.completed_at):
            assert when is None or when >= structure.created_at


def test_policies_vary_beyond_the_default() -> None:
    """The policy strategy generates policies other than the default."""
    found = find(mst.policies(), lambda p: p.learning_ratio != 0.7, settings=SEARCH)
    assert found != Policy()


def test_testing_package_imports_without_hypothesis() -> None:
    """Importing mlc_progress.testing does not import Hypothesis (an optional extra)."""
    code = (
        "import sys, mlc_progress.testing;"
        "assert 'hypothesis' not in sys.modules, 'hypothesis was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
