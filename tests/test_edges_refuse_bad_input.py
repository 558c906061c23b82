"""Bad input at every edge raises a typed error, and impossible records
cannot be built (D1, D4, D9): findings of a review, pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    CompletionSource,
    InvalidInputError,
    ProgressService,
    ProgressState,
    SequenceProgress,
    SequenceStructure,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    apply_command,
    assignment_progress,
    from_json,
    mastery_level,
)
from mlc_progress.adapters import FixedClock, InMemoryCatalog, InMemoryStore

T0 = datetime(2026, 9, 1, tzinfo=UTC)
STRUCTURE = AssignmentStructure(
    assignment_id="a",
    created_at=T0,
    sequence_id="q",
    steps=(
        StepDefinition(
            step_id="s1", element_id="g1", stage=Stage.PLAY, target_score=80
        ),
        StepDefinition(
            step_id="s2",
            element_id="g2",
            stage=Stage.REVIEW,
            target_score=80,
            remediation=True,
        ),
    ),
)


@pytest.mark.parametrize("command", ["hello", None, 42, {"attempt_id": "x"}])
def test_a_non_command_is_refused_by_the_core_and_the_service(command: Any) -> None:
    """apply_command and ProgressService.apply name the bad command."""
    state = ProgressState(student_id="u", structure=STRUCTURE)
    with pytest.raises(InvalidInputError) as core:
        apply_command(command, state, as_of=T0)
    assert core.value.field == "command"
    store = InMemoryStore()
    service = ProgressService(store.unit_of_work, InMemoryCatalog(), FixedClock(T0))
    with pytest.raises(InvalidInputError) as shell:
        service.apply("org-1", command)
    assert shell.value.field == "command"


@pytest.mark.parametrize("steps", [[1], "s1", None])
def test_progress_state_steps_must_be_a_mapping(steps: Any) -> None:
    """ProgressState refuses steps that are not a mapping of records."""
    with pytest.raises(InvalidInputError) as info:
        ProgressState(student_id="u", structure=STRUCTURE, steps=steps)
    assert info.value.field == "steps"


@pytest.mark.parametrize("steps", [["x"], [1, 2], None, 5])
def test_assignment_progress_refuses_what_is_not_step_records(steps: Any) -> None:
    """assignment_progress names the steps argument instead of failing inside."""
    with pytest.raises(InvalidInputError) as info:
        assignment_progress(STRUCTURE, steps, student_id="u", as_of=T0)
    assert info.value.field == "steps"


@pytest.mark.parametrize(
    ("best", "target", "field"),
    [
        ("a", 80, "best_score"),
        (float("nan"), 80, "best_score"),
        (50, 0, "target_score"),
    ],
)
def test_mastery_level_checks_its_numbers(best: Any, target: Any, field: str) -> None:
    """mastery_level refuses scores and targets outside D1."""
    with pytest.raises(InvalidInputError) as info:
        mastery_level(
            attempt_count=1,
            best_score=best,
            target_score=target,
            consistency_score=None,
        )
    assert info.value.field == field


@pytest.mark.parametrize("text", [5, None, "[" * 50_000 + "]" * 50_000])
def test_from_json_refuses_what_is_not_json_text(text: Any) -> None:
    """from_json refuses non-text and pathological nesting with a typed error."""
    with pytest.raises(InvalidInputError):
        from_json(text, StepProgress)


def _played(**changes: Any) -> StepProgress:
    step = StepProgress(
        step_id="s1",
        assignment_id="a",
        student_id="u",
        target_score=80,
        state=StepState.IN_PROGRESS,
        started_at=T0,
        last_activity_at=T0,
        attempt_count=1,
        session_count=1,
        best_score=50.0,
        latest_score=50.0,
        score_mean=50.0,
        consistency_score=0.0,
        first_attempt_at=T0,
        first_score=50.0,
        latest_attempt_at=T0,
        mastery_level=mastery_level(
            attempt_count=1, best_score=50.0, target_score=80, consistency_score=0.0
        ),
    )
    return attrs.evolve(step, **changes)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": StepState.AVAILABLE}, "state"),
        ({"session_count": 0}, "session_count"),
        (
            {
                "state": StepState.COMPLETE,
                "completed_at": T0,
                "completion_source": CompletionSource.FREE_PLAY_RECONCILED,
            },
            "reconciliation_metadata",
        ),
    ],
)
def test_impossible_step_records_cannot_be_built(
    changes: dict[str, Any], field: str
) -> None:
    """An available step with attempts, attempts without a session, and a
    free-play completion without its origin are refused (Q74, D4, D9)."""
    assert _played().attempt_count == 1
    with pytest.raises(InvalidInputError) as info:
        _played(**changes)
    assert info.value.field == field


def test_a_complete_assignment_must_have_started() -> None:
    """A complete assignment without started_at is refused (D14)."""
    with pytest.raises(InvalidInputError) as info:
        AssignmentProgress(
            assignment_id="a",
            student_id="u",
            status=AssignmentStatus.COMPLETE,
            completion_percentage=100.0,
            steps_total=1,
            steps_required=1,
            steps_completed=1,
            completed_at=T0,
        )
    assert info.value.field == "started_at"


def test_sequence_percentage_must_match_its_counts() -> None:
    """0 of 4 assignments complete cannot read 100 percent (D4)."""
    with pytest.raises(InvalidInputError) as info:
        SequenceProgress(
            sequence_id="q",
            student_id="u",
            started_at=T0,
            assignments_total=4,
            assignments_completed=0,
            completion_percentage=100.0,
        )
    assert info.value.field == "completion_percentage"


def test_a_new_sequence_record_starts_compliant_with_this_assignments_remediation() -> (
    None
):
    """Real time starts a sequence at 100 percent review compliance (nothing is
    due yet, Q44) and counts this assignment's remediation steps (Q45)."""
    state = ProgressState(
        student_id="u",
        structure=STRUCTURE,
        sequence_structure=SequenceStructure(
            sequence_id="q", assignment_ids=("a", "b")
        ),
    )
    attempt = Attempt(
        attempt_id="t1",
        student_id="u",
        assignment_id="a",
        step_id="s1",
        score=90.0,
        attempted_at=T0 + timedelta(hours=1),
        duration_ms=1000,
        session_id="k",
    )
    outcome = apply_command(attempt, state, as_of=T0 + timedelta(hours=1))
    assert outcome.sequence is not None
    assert outcome.sequence.review_compliance_rate == 100.0
    assert outcome.sequence.remediation_count == 1
