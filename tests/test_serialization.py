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
    InvalidInputError,
    Policy,
    ProgressSnapshot,
    ReconciliationMetadata,
    SequenceProgress,
    SequenceStructure,
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


def _unit(duration: timedelta) -> AssignmentStructure:
    return AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(
            StepDefinition(
                step_id="s", element_id="e", stage=Stage.QUIZ, target_score=80.0
            ),
        ),
        estimated_duration=duration,
    )


@given(st.timedeltas(min_value=timedelta(microseconds=1)))
def test_every_duration_a_structure_accepts_survives_json_exactly(
    duration: timedelta,
) -> None:
    """Any positive duration, up to ``timedelta.max``, reads back to the
    microsecond, and its JSON text is the same when written again."""
    unit = _unit(duration)
    text = to_json(unit)
    assert from_json(text, AssignmentStructure).estimated_duration == duration
    assert to_json(from_json(text, AssignmentStructure)) == text
    assert structure(unstructure(duration), timedelta) == duration


def test_a_duration_past_float_seconds_is_written_as_exact_text() -> None:
    """100,000 days and 1 us has no exact float seconds: it is written as
    decimal text to the microsecond (a float dropped the microsecond)."""
    duration = timedelta(days=100_000, microseconds=1)
    assert timedelta(seconds=duration.total_seconds()) != duration
    data = json.loads(to_json(_unit(duration)))
    assert data["estimated_duration"] == "8640000000.000001"
    assert from_json(to_json(_unit(duration)), AssignmentStructure) == _unit(duration)
    assert unstructure(timedelta.max) == "86399999999999.999999"
    assert unstructure(-timedelta(days=100_000, microseconds=1)) == (
        "-8640000000.000001"
    )


def test_a_duration_float_seconds_hold_is_written_as_before() -> None:
    """Every duration whose float seconds read back exactly keeps the number
    stored before, and every number stored before reads as it did."""
    assert unstructure(timedelta(days=1, milliseconds=500)) == 86400.5
    assert unstructure(timedelta(days=3650, microseconds=7)) == 315360000.000007
    for stored in (86400.5, 86400, 315360000.000007):
        assert structure(stored, timedelta) == timedelta(seconds=stored)
    # The float the converter stored for 100,000 days and 1 us still reads,
    # to the nearest microsecond, as it did.
    old = timedelta(days=100_000, microseconds=1).total_seconds()
    assert structure(old, timedelta) == timedelta(seconds=old)


@pytest.mark.parametrize(
    "value",
    ["1 day", "1e5", "NaN", "1.1234567", "1.", ".5", " 1", "1" * 16, "١٢"],
)
def test_duration_text_is_decimal_seconds_to_the_microsecond(value: str) -> None:
    """Text other than decimal seconds with at most six decimals is refused,
    naming the field."""
    data = {**unstructure(_unit(timedelta(days=1))), "estimated_duration": value}
    with pytest.raises(InvalidInputError) as error:
        structure(data, AssignmentStructure)
    assert error.value.field == "estimated_duration"


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        1e300,
        -1e300,
        10**400,
        "99999999999999.999999",
        True,
        None,
        [1],
    ],
    ids=[
        "nan",
        "inf",
        "1e300",
        "-1e300",
        "10**400",
        "text-past-max",
        "true",
        "none",
        "list",
    ],
)
def test_a_duration_out_of_range_or_of_another_kind_is_a_typed_error(
    value: Any,
) -> None:
    """NaN, infinities, durations past ``timedelta``'s range and values of
    another kind are an ``InvalidInputError``, never a bare built-in error."""
    with pytest.raises(InvalidInputError) as error:
        structure(value, timedelta)
    assert error.value.field == "duration"


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00"]
)
def test_an_aware_time_utc_cannot_hold_is_a_typed_error(text: str) -> None:
    """ISO text whose instant lies outside UTC's range is refused with the
    D2 rule, not a bare OverflowError."""
    with pytest.raises(InvalidInputError) as error:
        structure(text, datetime)
    assert error.value.field == "datetime"
    with pytest.raises(InvalidInputError) as error:
        from_json(
            to_json(
                Attempt(
                    attempt_id="a",
                    student_id="u",
                    assignment_id="x",
                    step_id="s",
                    score=50.0,
                    attempted_at=T0,
                    duration_ms=1,
                    session_id="z",
                )
            ).replace("2026-01-01T00:00:00Z", text),
            Attempt,
        )
    assert error.value.field == "attempted_at"


_HUGE_INT = "9" * 5000


def test_from_json_refuses_an_integer_past_the_digit_limit() -> None:
    """JSON text holding an integer past Python's digit limit for text is an
    ``InvalidInputError``, not the bare ``ValueError`` of ``json.loads``."""
    text = '{"student_id":"u","organization_id":"o","badges_earned":' + _HUGE_INT + "}"
    with pytest.raises(InvalidInputError) as error:
        from_json(text, StudentProgressSummary)
    assert error.value.field == "StudentProgressSummary"


def test_to_json_of_an_integer_past_the_digit_limit_names_the_field() -> None:
    """A valid record holding an integer JSON text cannot write is refused
    naming the field, not with a bare ``ValueError``."""
    record = StudentProgressSummary(
        student_id="u", organization_id="o", badges_earned=10**5000
    )
    with pytest.raises(InvalidInputError) as error:
        to_json(record)
    assert error.value.field == "badges_earned"
    assert error.value.value == 10**5000


@pytest.mark.parametrize(
    "value", ["xyz", {"a1": 1}, 7, None], ids=["string", "object", "number", "null"]
)
def test_a_value_where_an_array_belongs_is_refused_naming_the_field(
    value: Any,
) -> None:
    """A JSON string or object is not split into a tuple: an array field
    takes a JSON array only, and the error names the field."""
    with pytest.raises(InvalidInputError) as error:
        from_json(
            json.dumps({"sequence_id": "q", "assignment_ids": value}),
            SequenceStructure,
        )
    assert error.value.field == "assignment_ids"
    with pytest.raises(InvalidInputError) as error:
        structure(
            {
                "step_id": "s",
                "element_id": "g",
                "stage": "PLAY",
                "target_score": 80.0,
                "concepts": value,
            },
            StepDefinition,
        )
    assert error.value.field == "concepts"
    built = structure(
        {"sequence_id": "q", "assignment_ids": ["a", "b"]}, SequenceStructure
    )
    assert built.assignment_ids == ("a", "b")
