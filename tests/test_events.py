"""The event stream: the spec's names and properties, the D23 envelope, and
the JSON Schemas generated from the event classes (spec: Telemetry)."""

from __future__ import annotations

import functools
import importlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    EVENT_TYPES,
    AssignmentProgressMilestone,
    AssignmentStructure,
    Attempt,
    Command,
    Destination,
    Event,
    InvalidInputError,
    OriginalContext,
    PacingStatus,
    ProgressReconciled,
    ProgressRepairFailed,
    ProgressSnapshotCreated,
    ReconcileFreePlay,
    RequestTeacherReview,
    SequenceProgressMilestone,
    SequenceStructure,
    Stage,
    StepProgressUpdated,
    StudentAtRiskDetected,
    event_from_dict,
    event_json_schema,
    event_json_schemas,
    event_to_dict,
)

from .test_tracking_support import (
    ASSIGNMENT,
    STUDENT,
    TEACHER,
    after_all,
    assignment,
    at,
    attempt,
    attempts_for,
    definition,
    fresh,
    override,
    replay,
    structures,
)

# The spec's property lists, copied from its Telemetry section, in its order.
SPEC_PROPERTIES: dict[str, list[str]] = {
    "step_progress_updated": [
        "step_id",
        "assignment_id",
        "student_id",
        "previous_state",
        "new_state",
        "score_achieved",
        "target_score",
        "passed",
        "attempt_count",
        "time_on_task_ms",
        "mastery_level",
        "completion_source",
    ],
    "assignment_progress_milestone": [
        "assignment_id",
        "student_id",
        "previous_percentage",
        "new_percentage",
        "milestone",
        "time_to_milestone_ms",
        "steps_completed",
        "steps_remaining",
    ],
    "sequence_progress_milestone": [
        "sequence_id",
        "student_id",
        "milestone",
        "assignments_completed",
        "overall_mastery_score",
        "concepts_mastered_count",
    ],
    "student_at_risk_detected": [
        "student_id",
        "assignment_id",
        "risk_factors",
        "pacing_status",
        "mastery_score",
        "days_since_activity",
        "intervention_recommended",
    ],
    "progress_snapshot_created": [
        "snapshot_id",
        "student_id",
        "scope_type",
        "scope_id",
        "trigger",
        "completion_percentage",
        "mastery_score",
    ],
    "progress_reconciled": [
        "assignment_id",
        "student_id",
        "reconciliation_type",
        "steps_affected",
        "previous_completion_percentage",
        "new_completion_percentage",
    ],
}

# The spec's enumerated property values.
SPEC_ENUMS: list[tuple[str, str, list[str]]] = [
    (
        "sequence_progress_milestone",
        "milestone",
        ["started", "quarter", "half", "three_quarters", "complete"],
    ),
    (
        "progress_reconciled",
        "reconciliation_type",
        ["free_play", "content_change", "error_repair", "migration"],
    ),
]

# Spec: Event Destinations.
DESTINATIONS = {
    "step_progress_updated": Destination.ANALYTICS_STREAM,
    "assignment_progress_milestone": Destination.ANALYTICS_STREAM,
    "sequence_progress_milestone": Destination.ANALYTICS_STREAM,
    "progress_reconciled": Destination.ANALYTICS_STREAM,
    "progress_snapshot_created": Destination.DATA_WAREHOUSE,
    "student_at_risk_detected": Destination.NOTIFICATION_SERVICE,
}

# jsonschema ships no type hints and types-jsonschema is no dev dependency.
jsonschema: Any = importlib.import_module("jsonschema")
Draft202012Validator = jsonschema.Draft202012Validator


def _date_time(value: object) -> bool:
    """RFC 3339 date-time, checked here since jsonschema needs an extra for it."""
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value).utcoffset() is not None


FORMATS = jsonschema.FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_date_time)


@functools.cache
def validator(name: str) -> Any:
    schema = event_json_schemas()[name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def errors(wire: dict[str, Any]) -> list[str]:
    """Schema violations of ``wire``, as messages."""
    return [e.message for e in validator(wire["event"]).iter_errors(wire)]


def emitted_by_the_core() -> list[Event]:
    """The events of one afternoon: every kind the real-time core emits."""
    sequence = SequenceStructure(
        sequence_id="unit-3", assignment_ids=(ASSIGNMENT, "a2")
    )
    structure = assignment(definition("learn", stage=Stage.LEARN), definition("play"))
    free_play = ReconcileFreePlay(
        command_id="r1",
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        step_id="play",
        element_id="game-play",
        stage=Stage.PLAY,
        score=95,
        achieved_at=at(-3),
        original_context=OriginalContext.PREVIOUS_ASSIGNMENT,
        issued_at=at(1, hours=2),
    )
    review = RequestTeacherReview(
        command_id="v1",
        actor_id=TEACHER,
        student_id=STUDENT,
        assignment_id=ASSIGNMENT,
        issued_at=at(2),
    )
    result = replay(
        fresh(structure, sequence_structure=sequence),
        [
            attempt("t1", "learn", 40, at(1)),
            attempt("t2", "learn", 90, at(1, hours=1)),
            free_play,
            review,
        ],
        as_of=at(3),
    )
    return [event for outcome in result.outcomes for event in outcome.events]


EMITTED = emitted_by_the_core()
AT_RISK = StudentAtRiskDetected(
    event_id="risk-1",
    occurred_at=at(9),
    student_id=STUDENT,
    assignment_id=ASSIGNMENT,
    risk_factors=("inactive_9_days", "behind_pace_40_percent"),
    pacing_status=PacingStatus.AT_RISK,
    mastery_score=52.0,
    days_since_activity=9,
    intervention_recommended="teacher_notification",
)
EXAMPLES = [*EMITTED, AT_RISK]


def test_the_core_emits_every_real_time_event_kind() -> None:
    """The afternoon above covers the five kinds the core emits."""
    assert {type(e) for e in EMITTED} == {
        StepProgressUpdated,
        AssignmentProgressMilestone,
        SequenceProgressMilestone,
        ProgressSnapshotCreated,
        ProgressReconciled,
    }
    assert len({e.event_id for e in EMITTED}) == len(EMITTED)


@pytest.mark.parametrize("name", sorted(SPEC_PROPERTIES))
def test_property_names_are_exactly_the_spec_lists(name: str) -> None:
    """Event classes, their schemas and their wire form use the spec's names (D23)."""
    cls = EVENT_TYPES[name]
    schema = event_json_schema(cls)["properties"]["properties"]
    assert list(schema["properties"]) == SPEC_PROPERTIES[name]
    assert schema["required"] == sorted(SPEC_PROPERTIES[name])
    for event in EXAMPLES:
        if event.name == name:
            assert list(event_to_dict(event)["properties"]) == SPEC_PROPERTIES[name]


@pytest.mark.parametrize(("name", "field", "values"), SPEC_ENUMS)
def test_enumerated_properties_take_the_spec_values(
    name: str, field: str, values: list[str]
) -> None:
    """Enumerations in the schema are the spec's strings."""
    schema = event_json_schemas()[name]["properties"]["properties"]["properties"]
    assert schema[field]["enum"] == values


@pytest.mark.parametrize(("name", "destination"), sorted(DESTINATIONS.items()))
def test_each_event_goes_where_the_spec_sends_it(
    name: str, destination: Destination
) -> None:
    """Real-time events to analytics, snapshots to the warehouse, at-risk to notifications."""
    assert EVENT_TYPES[name].destination is destination


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_class_has_a_valid_draft_2020_12_schema(name: str) -> None:
    """Each schema is itself valid and closed to unknown fields."""
    schema = event_json_schemas()[name]
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["event"] == {"const": name}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["properties"]["additionalProperties"] is False


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.name}:{e.event_id}")
def test_every_example_event_validates_against_its_schema(event: Event) -> None:
    """The wire form of every event kind is valid, JSON text included (D23)."""
    wire = json.loads(json.dumps(event_to_dict(event)))
    assert errors(wire) == []
    assert wire["occurred_at"].endswith("Z")


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.name}:{e.event_id}")
def test_the_envelope_round_trips(event: Event) -> None:
    """``event_from_dict(event_to_dict(e)) == e``, through JSON text as well."""
    assert event_from_dict(event_to_dict(event)) == event
    assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.name}:{e.event_id}")
def test_the_schema_rejects_an_extra_and_a_missing_property(event: Event) -> None:
    """Properties are exactly the spec's: none more, none fewer."""
    wire = event_to_dict(event)
    extra = {**wire, "properties": {**wire["properties"], "extra": 1}}
    assert errors(extra) != []
    first = next(iter(wire["properties"]))
    missing = {**wire, "properties": dict(list(wire["properties"].items())[1:])}
    assert first not in missing["properties"]
    assert errors(missing) != []
    with pytest.raises(InvalidInputError):
        event_from_dict(extra)
    with pytest.raises(InvalidInputError):
        event_from_dict(missing)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("occurred_at", "2026-09-01T10:00:00"),
        ("occurred_at", "2026-09-01T10:00:00+02:00"),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2026-13-01T10:00:00Z"),
        ("event_id", ""),
        ("event_id", "   "),
    ],
    ids=["naive", "not-utc", "not-a-time", "impossible-date", "empty-id", "blank-id"],
)
def test_the_schema_rejects_a_bad_envelope(change: str, value: str) -> None:
    """D23: a non-blank event id and an ISO-8601 UTC time."""
    wire = {**event_to_dict(EMITTED[0]), change: value}
    assert errors(wire) != []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("score_achieved", 101),
        ("score_achieved", "80"),
        ("target_score", 0),
        ("attempt_count", -1),
        ("attempt_count", 1.5),
        ("passed", "yes"),
        ("new_state", "done"),
        ("completion_source", "magic"),
    ],
)
def test_the_schema_rejects_values_outside_the_rules(field: str, value: object) -> None:
    """Schemas carry the validators' ranges and the spec's enumerations (D1, D4)."""
    step_event = next(e for e in EMITTED if isinstance(e, StepProgressUpdated))
    wire = event_to_dict(step_event)
    wire["properties"][field] = value
    assert errors(wire) != []


@pytest.mark.parametrize("milestone", ["0", "101", "025", "fifty", ""])
def test_a_milestone_is_the_text_of_a_percentage(milestone: str) -> None:
    """assignment_progress_milestone.milestone is '1' to '100' (D16)."""
    event = next(e for e in EMITTED if isinstance(e, AssignmentProgressMilestone))
    wire = event_to_dict(event)
    wire["properties"]["milestone"] = milestone
    assert errors(wire) != []
    with pytest.raises(InvalidInputError) as error:
        event_from_dict(wire)
    assert error.value.field == "milestone"


def test_an_envelope_field_inside_the_properties_is_refused() -> None:
    """``event_id`` belongs to the envelope, not to the properties (D23)."""
    wire = event_to_dict(EMITTED[0])
    wire["properties"]["event_id"] = "other"
    with pytest.raises(InvalidInputError) as error:
        event_from_dict(wire)
    assert error.value.field == "properties.event_id"


@pytest.mark.parametrize(
    ("wire", "field"),
    [
        ([], "event"),
        ({"event": "no_such_event", "properties": {}}, "event"),
        ({**event_to_dict(AT_RISK), "version": 2}, "version"),
        ({**event_to_dict(AT_RISK), "properties": []}, "properties"),
    ],
    ids=["not-an-object", "unknown-name", "unknown-envelope-field", "list-properties"],
)
def test_a_malformed_envelope_raises_naming_the_field(wire: Any, field: str) -> None:
    """event_from_dict refuses what is no D23 envelope, naming what is wrong."""
    with pytest.raises(InvalidInputError) as error:
        event_from_dict(wire)
    assert error.value.field == field


def test_wire_values_are_plain_json_types() -> None:
    """Enumerated values go out as plain strings, not enum members."""
    for event in EXAMPLES:
        for value in event_to_dict(event)["properties"].values():
            assert type(value) in (str, int, float, bool, list, dict, type(None))


@given(built=structures(), data=st.data())
def test_every_event_of_a_generated_history_validates(
    built: AssignmentStructure, data: st.DataObject
) -> None:
    """Over generated attempts and overrides, every event validates and round-trips."""
    played: list[Attempt] = data.draw(attempts_for(built, max_size=8))
    commands: list[Command] = [
        *played,
        override("o1", built.steps[-1].step_id, at(2)),
    ]
    ordered = data.draw(st.permutations(commands))
    result = replay(fresh(built), ordered, as_of=after_all(built))
    for outcome in result.outcomes:
        for event in outcome.events:
            wire = json.loads(json.dumps(event_to_dict(event)))
            assert errors(wire) == []
            assert event_from_dict(wire) == event
            assert event.occurred_at == after_all(built).astimezone(UTC)


def _repair_failed(diagnostics: Any) -> ProgressRepairFailed:
    return ProgressRepairFailed(
        event_id="e",
        occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
        assignment_id="a",
        student_id="u",
        violations=("v",),
        diagnostics=diagnostics,
    )


@pytest.mark.parametrize(
    ("diagnostics", "field"),
    [
        ({"step_ids": ("s1",)}, "diagnostics.step_ids"),
        ({"score": float("nan")}, "diagnostics.score"),
        ({1: "a", "b": 2}, "diagnostics"),
        ([("a", 1)], "diagnostics"),
    ],
)
def test_repair_failed_diagnostics_that_would_not_read_back_are_refused(
    diagnostics: Any, field: str
) -> None:
    """The alert's diagnostics are JSON-ready data: what the wire would give
    back different is refused at construction naming the path."""
    with pytest.raises(InvalidInputError) as error:
        _repair_failed(diagnostics)
    assert error.value.field == field


def test_repair_failed_diagnostics_read_back_equal_from_the_wire() -> None:
    """JSON-ready diagnostics survive the D23 envelope, through JSON text."""
    event = _repair_failed({"step_ids": ["s1"], "found": [{"n": 1, "x": None}]})
    assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event
