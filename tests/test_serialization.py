"""The converter: records to JSON-ready data and back, losslessly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStructure,
    Attempt,
    Policy,
    ProgressSnapshot,
    ReconciliationMetadata,
    SequenceProgress,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    StudentProgressSummary,
    from_json,
    structure,
    to_json,
    unstructure,
)
from mlc_progress.testing import strategies as mst

T0 = datetime(2026, 1, 1, tzinfo=UTC)

RECORDS: list[tuple[st.SearchStrategy[Any], type]] = [
    (mst.reconciliation_metadata(), ReconciliationMetadata),
    (mst.step_progress(), StepProgress),
    (mst.assignment_progress(), AssignmentProgress),
    (mst.sequence_progress(), SequenceProgress),
    (mst.progress_snapshots(), ProgressSnapshot),
    (mst.student_progress_summaries(), StudentProgressSummary),
    (mst.step_definitions(), StepDefinition),
    (mst.assignment_structures(), AssignmentStructure),
    (mst.attempts(), Attempt),
    (mst.policies(), Policy),
]
IDS = [cls.__name__ for _, cls in RECORDS]


@pytest.mark.parametrize(("strategy", "cls"), RECORDS, ids=IDS)
@given(data=st.data())
def test_structure_inverts_unstructure(
    strategy: st.SearchStrategy[Any], cls: type, data: st.DataObject
) -> None:
    """structure(unstructure(x)) == x for every record and input."""
    record = data.draw(strategy)
    assert structure(unstructure(record), cls) == record


@pytest.mark.parametrize(("strategy", "cls"), RECORDS, ids=IDS)
@given(data=st.data())
def test_from_json_inverts_to_json(
    strategy: st.SearchStrategy[Any], cls: type, data: st.DataObject
) -> None:
    """from_json(to_json(x)) == x for every record and input."""
    record = data.draw(strategy)
    text = to_json(record)
    assert from_json(text, cls) == record
    assert to_json(from_json(text, cls)) == text


def test_json_uses_utc_iso_times_and_spec_strings() -> None:
    """Times are ISO-8601 UTC with a Z suffix; enums are the spec's strings; keys sorted."""
    step = StepProgress(
        step_id="s",
        assignment_id="a",
        student_id="u",
        target_score=80,
        state=StepState.IN_PROGRESS,
        started_at=T0 + timedelta(microseconds=5),
    )
    data = json.loads(to_json(step))
    assert data["started_at"] == "2026-01-01T00:00:00.000005Z"
    assert data["state"] == "in_progress"
    assert data["mastery_level"] == "not_started"
    assert list(data) == sorted(data)
    assert " " not in to_json(step)


def test_structure_normalizes_offset_times_to_utc() -> None:
    """An ISO time with an offset is read as the same instant in UTC (D2)."""
    data = {
        "assignment_id": "a",
        "created_at": "2026-01-01T02:00:00+02:00",
        "steps": [
            {"step_id": "s", "element_id": "e", "stage": "QUIZ", "target_score": 80}
        ],
        "estimated_duration": 86400.5,
    }
    loaded = structure(data, AssignmentStructure)
    assert loaded.created_at == T0
    assert loaded.created_at.tzinfo is UTC
    assert loaded.steps[0].stage is Stage.QUIZ
    assert loaded.estimated_duration == timedelta(days=1, milliseconds=500)


def test_integral_float_counts_are_accepted() -> None:
    """A JSON count written as 2.0 is read as the integer 2."""
    data = {
        "step_id": "s",
        "assignment_id": "a",
        "student_id": "u",
        "target_score": 80,
        "state": "available",
        "session_count": 2.0,
    }
    loaded = structure(data, StepProgress)
    assert loaded.session_count == 2
    assert isinstance(loaded.session_count, int)
