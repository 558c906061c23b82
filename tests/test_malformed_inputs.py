"""Malformed inputs are rejected at the edge with a typed error naming the field (D1-D4)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    InvalidInputError,
    Policy,
    ProgressError,
    ProgressSnapshot,
    ReconciliationMetadata,
    ScopeType,
    SequenceProgress,
    SnapshotTrigger,
    Stage,
    StageWeights,
    StepDefinition,
    StepProgress,
    StepState,
    StudentProgressSummary,
    from_json,
    structure,
    unstructure,
)

from ._steps import step_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAIVE = datetime(2026, 1, 1)
NAN, INF = math.nan, math.inf


def bad(value: object) -> Any:
    """``value`` typed as Any, to hand a record what its annotations forbid."""
    return value


def attempt(**changes: Any) -> Attempt:
    fields: dict[str, Any] = {
        "attempt_id": "t",
        "student_id": "u",
        "assignment_id": "a",
        "step_id": "s",
        "score": 50.0,
        "attempted_at": T0,
        "duration_ms": 0,
        "session_id": "x",
    }
    return Attempt(**{**fields, **changes})


PLAYED = step_record("s", state=StepState.IN_PROGRESS, attempts=[(T0, 60.0)])


def step(**changes: Any) -> StepProgress:
    return attrs.evolve(PLAYED, **changes)


def definition(**changes: Any) -> StepDefinition:
    fields: dict[str, Any] = {
        "step_id": "s",
        "element_id": "g",
        "stage": Stage.PLAY,
        "target_score": 80.0,
    }
    return StepDefinition(**{**fields, **changes})


def assignment_structure(**changes: Any) -> AssignmentStructure:
    fields: dict[str, Any] = {
        "assignment_id": "a",
        "created_at": T0,
        "steps": (definition(),),
    }
    return AssignmentStructure(**{**fields, **changes})


def progress(**changes: Any) -> AssignmentProgress:
    fields: dict[str, Any] = {"assignment_id": "a", "student_id": "u"}
    return AssignmentProgress(**{**fields, **changes})


def snapshot(**changes: Any) -> ProgressSnapshot:
    fields: dict[str, Any] = {
        "snapshot_id": "n",
        "snapshot_date": T0,
        "student_id": "u",
        "scope_type": ScopeType.STEP,
        "scope_id": "s",
        "state_snapshot": {},
        "metrics_snapshot": {
            "completion_percentage": 0.0,
            "mastery_score": 0.0,
            "time_on_task_ms": 0,
        },
        "trigger": SnapshotTrigger.MANUAL,
    }
    return ProgressSnapshot(**{**fields, **changes})


def json_step(**changes: Any) -> Callable[[], object]:
    data = {**unstructure(PLAYED), **changes}
    text = json.dumps(data)
    return lambda: from_json(text, StepProgress)


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


STRUCTURE_DATA: dict[str, Any] = unstructure(assignment_structure())
STEP_DATA: dict[str, Any] = STRUCTURE_DATA["steps"][0]
META_DATA = {
    "original_score": 90,
    "original_context": "all_games",
    "reconciled_at": "2026-01-01T00:00:00Z",
}
PAST = T0 - timedelta(days=1)

CONSTRUCTED = [
    # D1 scores
    pytest.param(lambda: attempt(score=NAN), "score", id="score-nan"),
    pytest.param(lambda: attempt(score=INF), "score", id="score-inf"),
    pytest.param(lambda: attempt(score=-INF), "score", id="score-minus-inf"),
    pytest.param(lambda: attempt(score=-0.01), "score", id="score-negative"),
    pytest.param(lambda: attempt(score=100.01), "score", id="score-over-100"),
    pytest.param(lambda: attempt(score=True), "score", id="score-boolean"),
    pytest.param(lambda: step(best_score=bad("90")), "best_score", id="best-text"),
    pytest.param(lambda: definition(target_score=0), "target_score", id="target-0"),
    pytest.param(
        lambda: definition(target_score=-5.0), "target_score", id="target-negative"
    ),
    pytest.param(lambda: definition(target_score=NAN), "target_score", id="target-nan"),
    # D2 times and durations
    pytest.param(lambda: attempt(attempted_at=NAIVE), "attempted_at", id="naive-time"),
    pytest.param(
        lambda: attempt(attempted_at=bad("2026-01-01T00:00:00Z")),
        "attempted_at",
        id="time-as-text",
    ),
    pytest.param(
        lambda: attempt(duration_ms=-1), "duration_ms", id="duration-negative"
    ),
    pytest.param(lambda: attempt(duration_ms=1.5), "duration_ms", id="duration-float"),
    pytest.param(
        lambda: step(time_on_task_ms=True), "time_on_task_ms", id="duration-boolean"
    ),
    # D3 ids
    pytest.param(lambda: attempt(attempt_id=""), "attempt_id", id="id-empty"),
    pytest.param(lambda: attempt(session_id=" \t\n"), "session_id", id="id-whitespace"),
    pytest.param(lambda: attempt(student_id=bad(7)), "student_id", id="id-number"),
    # Counts
    pytest.param(lambda: step(attempt_count=True), "attempt_count", id="count-boolean"),
    pytest.param(lambda: step(session_count=-1), "session_count", id="count-negative"),
    # Enums: members, not their raw strings or unknown strings
    pytest.param(
        lambda: step(state=bad("in_progress")), "state", id="state-raw-string"
    ),
    pytest.param(lambda: step(state=bad("done")), "state", id="state-unknown"),
    pytest.param(lambda: definition(stage=bad("QUIZ")), "stage", id="stage-raw-string"),
    pytest.param(
        lambda: ReconciliationMetadata(
            original_score=90.0,
            original_context=bad("all_games"),
            reconciled_at=T0,
        ),
        "original_context",
        id="context-raw-string",
    ),
    pytest.param(lambda: definition(optional=bad("yes")), "optional", id="flag-text"),
    # D4 impossible states
    pytest.param(
        lambda: step(
            state=StepState.COMPLETE, started_at=T0, completed_at=PAST, best_score=90.0
        ),
        "completed_at",
        id="completed-before-started",
    ),
    pytest.param(
        lambda: step(state=StepState.COMPLETE, best_score=90.0, passed=True),
        "completed_at",
        id="complete-without-completed-at",
    ),
    pytest.param(
        lambda: step(completed_at=T0), "completed_at", id="completed-at-not-complete"
    ),
    pytest.param(
        lambda: step(started_at=None), "started_at", id="in-progress-not-started"
    ),
    pytest.param(
        lambda: step(state=StepState.LOCKED), "state", id="locked-with-attempts"
    ),
    pytest.param(
        lambda: step(latest_score=70.0), "latest_score", id="latest-above-best"
    ),
    pytest.param(lambda: step(first_score=70.0), "first_score", id="first-above-best"),
    pytest.param(lambda: step(passed=True), "passed", id="passed-below-target"),
    pytest.param(
        lambda: StepProgress(
            step_id="s",
            assignment_id="a",
            student_id="u",
            target_score=80.0,
            best_score=50.0,
        ),
        "attempt_count",
        id="score-without-attempts",
    ),
    pytest.param(
        lambda: step(first_attempt_at=None),
        "attempt_count",
        id="attempts-without-first",
    ),
    pytest.param(
        lambda: step(last_activity_at=PAST),
        "last_activity_at",
        id="activity-before-start",
    ),
    pytest.param(
        lambda: progress(
            status=AssignmentStatus.IN_PROGRESS,
            started_at=T0,
            steps_total=2,
            steps_completed=2,
            steps_in_progress=1,
        ),
        "steps_total",
        id="counts-do-not-add-up",
    ),
    pytest.param(
        lambda: progress(steps_total=1, steps_required=2),
        "steps_required",
        id="required-over-total",
    ),
    pytest.param(
        lambda: progress(completion_percentage=110.0),
        "completion_percentage",
        id="completion-110",
    ),
    pytest.param(
        lambda: progress(
            status=AssignmentStatus.COMPLETE,
            completion_percentage=50.0,
            completed_at=T0,
        ),
        "status",
        id="complete-at-50",
    ),
    pytest.param(
        lambda: progress(status=AssignmentStatus.NOT_STARTED, started_at=T0),
        "status",
        id="not-started-with-activity",
    ),
    pytest.param(
        lambda: progress(time_on_task_ms=-5), "time_on_task_ms", id="negative-time"
    ),
    pytest.param(
        lambda: SequenceProgress(
            sequence_id="q",
            student_id="u",
            started_at=T0,
            assignments_total=2,
            assignments_completed=3,
        ),
        "assignments_completed",
        id="sequence-over-complete",
    ),
    pytest.param(
        lambda: SequenceProgress(
            sequence_id="q",
            student_id="u",
            started_at=T0,
            concepts_mastered=("c",),
            concepts_in_progress=("c",),
        ),
        "concepts_in_progress",
        id="concept-mastered-and-in-progress",
    ),
    pytest.param(
        lambda: StudentProgressSummary(
            student_id="u", organization_id="o", at_risk=True
        ),
        "at_risk",
        id="at-risk-without-factors",
    ),
    pytest.param(
        lambda: StudentProgressSummary(
            student_id="u",
            organization_id="o",
            total_time_on_task_ms=10,
            time_on_task_this_week_ms=20,
        ),
        "time_on_task_this_week_ms",
        id="week-time-over-total",
    ),
    pytest.param(
        lambda: snapshot(metrics_snapshot={"completion_percentage": 0.0}),
        "metrics_snapshot",
        id="snapshot-metrics-missing",
    ),
    pytest.param(
        lambda: snapshot(
            metrics_snapshot={
                "completion_percentage": 0.0,
                "mastery_score": True,
                "time_on_task_ms": 0,
            }
        ),
        "metrics_snapshot.mastery_score",
        id="snapshot-metric-boolean",
    ),
    pytest.param(
        lambda: assignment_structure(steps=(definition(), definition())),
        "steps",
        id="duplicate-step-ids",
    ),
    pytest.param(
        lambda: assignment_structure(steps=[definition()]), "steps", id="steps-list"
    ),
    pytest.param(
        lambda: assignment_structure(due_at=T0), "due_at", id="due-at-created"
    ),
    pytest.param(
        lambda: assignment_structure(estimated_duration=timedelta(0)),
        "estimated_duration",
        id="duration-zero",
    ),
    # Policy values
    pytest.param(lambda: StageWeights(QUIZ=-1.0), "QUIZ", id="weight-negative"),
    pytest.param(lambda: StageWeights(LEARN=0.0), "LEARN", id="weight-zero"),
    pytest.param(
        lambda: Policy(milestones=(50, 25)), "milestones", id="milestones-down"
    ),
    pytest.param(
        lambda: Policy(milestones=(25, 25)), "milestones", id="milestones-repeated"
    ),
    pytest.param(lambda: Policy(milestones=(0, 50)), "milestones", id="milestone-0"),
    pytest.param(lambda: Policy(milestones=()), "milestones", id="milestones-empty"),
    pytest.param(
        lambda: Policy(learning_ratio=1.5), "learning_ratio", id="learning-ratio-over-1"
    ),
    pytest.param(
        lambda: Policy(pacing_on_track_points=40.0),
        "pacing_behind_points",
        id="bands-out-of-order",
    ),
    pytest.param(
        lambda: Policy(velocity_window_days=0),
        "velocity_window_days",
        id="window-zero",
    ),
    pytest.param(
        lambda: Policy(metrics_sample_rate=NAN), "metrics_sample_rate", id="rate-nan"
    ),
    pytest.param(
        lambda: Policy(risk_inactive_days=True), "risk_inactive_days", id="days-boolean"
    ),
]

DECODED = [
    # Scores and numbers in JSON
    pytest.param(json_step(best_score=NAN), "best_score", id="json-nan"),
    pytest.param(json_step(target_score=INF), "target_score", id="json-inf"),
    pytest.param(json_step(target_score=-INF), "target_score", id="json-minus-inf"),
    pytest.param(json_step(best_score=-1), "best_score", id="json-negative"),
    pytest.param(json_step(best_score=101), "best_score", id="json-over-100"),
    pytest.param(json_step(best_score=True), "best_score", id="json-boolean-score"),
    pytest.param(json_step(best_score="60"), "best_score", id="json-score-text"),
    pytest.param(json_step(target_score=0), "target_score", id="json-target-0"),
    pytest.param(
        lambda: from_json(
            json.dumps(unstructure(PLAYED)).replace(
                '"best_score": 60.0', '"best_score": ' + "9" * 400
            ),
            StepProgress,
        ),
        "best_score",
        id="json-huge-integer",
    ),
    pytest.param(json_step(attempt_count=True), "attempt_count", id="json-count-bool"),
    pytest.param(json_step(attempt_count=1.5), "attempt_count", id="json-count-float"),
    pytest.param(json_step(attempt_count="1"), "attempt_count", id="json-count-text"),
    # Times
    pytest.param(
        json_step(started_at="2026-01-01T00:00:00"), "started_at", id="json-naive"
    ),
    pytest.param(json_step(started_at="yesterday"), "started_at", id="json-bad-time"),
    pytest.param(json_step(started_at=1_767_225_600), "started_at", id="json-epoch"),
    # Ids, enums and keys
    pytest.param(json_step(step_id=""), "step_id", id="json-empty-id"),
    pytest.param(json_step(student_id="   "), "student_id", id="json-blank-id"),
    pytest.param(json_step(student_id=["u"]), "student_id", id="json-id-list"),
    pytest.param(json_step(state="done"), "state", id="json-unknown-state"),
    pytest.param(json_step(mastery_level="expert"), "mastery_level", id="json-level"),
    pytest.param(json_step(colour="blue"), "colour", id="json-unknown-key"),
    pytest.param(
        lambda: structure(without(unstructure(PLAYED), "target_score"), StepProgress),
        "target_score",
        id="json-missing-field",
    ),
    pytest.param(
        json_step(reconciliation_metadata={**META_DATA, "zz": 1}),
        "reconciliation_metadata.zz",
        id="json-nested-unknown-key",
    ),
    pytest.param(
        json_step(reconciliation_metadata={**META_DATA, "original_score": 120}),
        "reconciliation_metadata.original_score",
        id="json-nested-score",
    ),
    pytest.param(
        json_step(
            reconciliation_metadata={**META_DATA, "original_context": "elsewhere"}
        ),
        "reconciliation_metadata.original_context",
        id="json-nested-enum",
    ),
    pytest.param(
        json_step(reconciliation_metadata="free play"),
        "reconciliation_metadata",
        id="json-nested-wrong-type",
    ),
    # D4 invariants read back from JSON
    pytest.param(json_step(state="locked"), "state", id="json-locked-with-attempts"),
    pytest.param(json_step(latest_score=70.0), "latest_score", id="json-latest-above"),
    pytest.param(
        json_step(state="complete", completed_at="2025-12-31T00:00:00Z"),
        "completed_at",
        id="json-completed-before-started",
    ),
    pytest.param(
        lambda: structure(
            {
                "assignment_id": "a",
                "student_id": "u",
                "steps_total": 1,
                "steps_completed": 1,
                "steps_locked": 1,
            },
            AssignmentProgress,
        ),
        "steps_total",
        id="json-counts-do-not-add-up",
    ),
    # Wrong JSON shapes and text
    pytest.param(lambda: from_json("{", StepProgress), "StepProgress", id="json-text"),
    pytest.param(
        lambda: from_json("[]", StepProgress), "StepProgress", id="json-array"
    ),
    pytest.param(lambda: from_json("null", Attempt), "Attempt", id="json-null-record"),
    pytest.param(
        lambda: structure(
            {**STRUCTURE_DATA, "steps": {"s": STEP_DATA}}, AssignmentStructure
        ),
        "steps",
        id="json-steps-object",
    ),
    pytest.param(
        lambda: structure(
            {**STRUCTURE_DATA, "steps": [{**STEP_DATA, "stage": "QUIZZ"}]},
            AssignmentStructure,
        ),
        "steps.stage",
        id="json-unknown-stage",
    ),
    pytest.param(
        lambda: structure(
            {**STRUCTURE_DATA, "steps": [{**STEP_DATA, "target_score": 0}]},
            AssignmentStructure,
        ),
        "steps.target_score",
        id="json-nested-target-0",
    ),
    pytest.param(
        lambda: structure(
            {**STRUCTURE_DATA, "estimated_duration": "1 day"}, AssignmentStructure
        ),
        "estimated_duration",
        id="json-duration-text",
    ),
    pytest.param(
        lambda: structure(
            {**STRUCTURE_DATA, "estimated_duration": 1e300}, AssignmentStructure
        ),
        "estimated_duration",
        id="json-duration-huge",
    ),
    pytest.param(
        lambda: structure(
            {**unstructure(snapshot()), "state_snapshot": [1]}, ProgressSnapshot
        ),
        "state_snapshot",
        id="json-snapshot-state-array",
    ),
    # Policies from plain data, JSON and TOML
    pytest.param(
        lambda: Policy.from_dict({"stage_weights": {"QUIZ": -1}}),
        "stage_weights.QUIZ",
        id="policy-weight-negative",
    ),
    pytest.param(
        lambda: Policy.from_dict({"stage_weights": {"EXAM": 1}}),
        "stage_weights.EXAM",
        id="policy-unknown-stage",
    ),
    pytest.param(
        lambda: Policy.from_dict({"milestones": [50, 25]}),
        "milestones",
        id="policy-milestones-down",
    ),
    pytest.param(
        lambda: Policy.from_dict({"learning_ratio": True}),
        "learning_ratio",
        id="policy-boolean",
    ),
    pytest.param(
        lambda: Policy.from_dict({"bogus": 1}), "bogus", id="policy-unknown-key"
    ),
    pytest.param(lambda: Policy.from_dict(bad([1])), "Policy", id="policy-not-a-map"),
    pytest.param(
        lambda: Policy.from_toml("learning_ratio = "), "policy", id="toml-bad-text"
    ),
    pytest.param(
        lambda: Policy.from_toml("learning_ratio = -0.1"),
        "learning_ratio",
        id="toml-negative",
    ),
    pytest.param(
        lambda: Policy.from_toml("milestones = [25, 25]"),
        "milestones",
        id="toml-milestones-repeated",
    ),
    pytest.param(
        lambda: Policy.from_toml('velocity_window_days = "28"'),
        "velocity_window_days",
        id="toml-text-number",
    ),
    pytest.param(
        lambda: Policy.from_toml("[stage_weights]\nLEARN = 0"),
        "stage_weights.LEARN",
        id="toml-weight-zero",
    ),
    pytest.param(lambda: Policy.from_json("{"), "policy", id="policy-json-text"),
    pytest.param(
        lambda: Policy.from_json('{"risk_inconsistent_cv": NaN}'),
        "risk_inconsistent_cv",
        id="policy-json-nan",
    ),
    pytest.param(
        lambda: Policy.from_json('{"pacing_on_track_points": 40}'),
        "pacing_behind_points",
        id="policy-json-bands",
    ),
]


def _check(build: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        build()
    err = info.value
    assert isinstance(err, ProgressError)
    assert isinstance(err, ValueError)
    assert err.field == field
    assert field in str(err)


@pytest.mark.parametrize(("build", "field"), CONSTRUCTED)
def test_constructors_reject_malformed_values(
    build: Callable[[], object], field: str
) -> None:
    """Building a record from a malformed value raises InvalidInputError naming the field."""
    _check(build, field)


@pytest.mark.parametrize(("build", "field"), DECODED)
def test_decoders_reject_malformed_data(
    build: Callable[[], object], field: str
) -> None:
    """from_json, structure and the Policy loaders raise InvalidInputError naming the field."""
    _check(build, field)


def test_policy_file_with_bad_values_is_rejected(tmp_path: Path) -> None:
    """A TOML policy file with a bad value is rejected like TOML text."""
    path = tmp_path / "policy.toml"
    path.write_text("[stage_weights]\nQUIZ = -2.0\n")
    _check(lambda: Policy.from_toml(path), "stage_weights.QUIZ")


def test_rejected_update_leaves_the_record_unchanged() -> None:
    """A rejected evolve leaves the original record as it was (nothing changes)."""
    before = unstructure(PLAYED)
    _check(lambda: step(best_score=NAN), "best_score")
    assert unstructure(PLAYED) == before


def test_a_refused_int_too_long_for_text_is_still_a_typed_error() -> None:
    """A score with more digits than Python writes as text is refused as
    InvalidInputError, its message giving the int's size instead of failing
    to print it."""
    with pytest.raises(InvalidInputError) as raised:
        StepProgress(
            step_id="s1",
            assignment_id="a1",
            student_id="u1",
            target_score=80.0,
            best_score=10**5000,
        )
    assert raised.value.field == "best_score"
    assert "<an int of 16610 bits>" in str(raised.value)


@pytest.mark.parametrize("field", ["student_id", "session_id"])
def test_ids_with_a_lone_surrogate_are_refused(field: str) -> None:
    """UTF-8 (JSON, SQLite, any wire) cannot carry a lone surrogate, so an id
    holding one is refused at construction, naming the field (Q141)."""
    fields: dict[str, Any] = {
        "attempt_id": "t1",
        "student_id": "u1",
        "assignment_id": "a1",
        "step_id": "s1",
        "score": 50.0,
        "attempted_at": datetime(2026, 9, 1, tzinfo=UTC),
        "duration_ms": 1000,
        "session_id": "x1",
    }
    fields[field] = "Zo\u00eb" + chr(0xDC00)
    with pytest.raises(InvalidInputError) as raised:
        Attempt(**fields)
    assert raised.value.field == field
