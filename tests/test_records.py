"""Records: valid by construction, frozen, UTC-normalized (D2, D4)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentStatus,
    AssignmentStructure,
    Attempt,
    AuditEntry,
    CompletionSource,
    ConflictError,
    InvalidInputError,
    MasteryLevel,
    NotFoundError,
    OriginalContext,
    PacingStatus,
    ProgressError,
    ProgressSnapshot,
    ReconciliationMetadata,
    ScopeType,
    SnapshotTrigger,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    StorageError,
    StudentProgressSummary,
)
from mlc_progress._serialization import from_json, to_json
from mlc_progress.testing import strategies as mst

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def _definition(step_id: str, **changes: Any) -> StepDefinition:
    base = StepDefinition(
        step_id=step_id, element_id="game", stage=Stage.PLAY, target_score=80.0
    )
    return attrs.evolve(base, **changes)


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (StepState, ["locked", "available", "in_progress", "complete"]),
        (MasteryLevel, ["not_started", "learning", "proficient", "mastered"]),
        (
            CompletionSource,
            [
                "fresh_attempt",
                "free_play_reconciled",
                "teacher_override",
                "system_migration",
            ],
        ),
        (OriginalContext, ["all_games", "previous_assignment"]),
        (Stage, ["LEARN", "PLAY", "QUIZ", "CHALLENGE", "REVIEW"]),
        (AssignmentStatus, ["not_started", "in_progress", "complete", "archived"]),
        (PacingStatus, ["ahead", "on_track", "behind", "at_risk"]),
        (ScopeType, ["step", "assignment", "sequence", "student"]),
        (SnapshotTrigger, ["scheduled", "manual", "milestone", "intervention"]),
    ],
)
def test_enum_values_are_the_spec_strings(kind: type, values: list[str]) -> None:
    """Every enumeration has exactly the spec's strings as values, in order."""
    assert [member.value for member in kind] == values  # type: ignore[attr-defined]


def test_new_step_is_locked_and_not_started() -> None:
    """A step record built from its ids and target starts locked, untouched."""
    step = StepProgress(step_id="s", assignment_id="a", student_id="u", target_score=80)
    assert step.state is StepState.LOCKED
    assert step.mastery_level is MasteryLevel.NOT_STARTED
    assert (step.attempt_count, step.best_score, step.passed) == (0, 0.0, False)
    assert step.consistency_score is None
    assert not step.is_complete


def test_aware_datetimes_are_normalized_to_utc() -> None:
    """An aware datetime in another zone is stored as the same instant in UTC (D2)."""
    local = datetime(2026, 1, 1, 12, 0, tzinfo=PLUS_TWO)
    attempt = Attempt(
        attempt_id="t",
        student_id="u",
        assignment_id="a",
        step_id="s",
        score=50.0,
        attempted_at=local,
        duration_ms=0,
        session_id="x",
    )
    assert attempt.attempted_at == local
    assert attempt.attempted_at.tzinfo is UTC
    assert attempt.attempted_at.hour == 10


def test_records_are_frozen() -> None:
    """Assigning to a field of a record raises instead of changing it."""
    step = StepProgress(step_id="s", assignment_id="a", student_id="u", target_score=80)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        step.best_score = 90.0  # type: ignore[misc]


def test_evolve_revalidates_the_new_state() -> None:
    """A new state made with attrs.evolve is checked like a fresh record."""
    step = StepProgress(step_id="s", assignment_id="a", student_id="u", target_score=80)
    with pytest.raises(InvalidInputError) as info:
        attrs.evolve(step, best_score=120.0)
    assert info.value.field == "best_score"


def test_teacher_override_without_attempts_is_complete_and_not_started() -> None:
    """A step completed by override with no attempts is complete, mastery not_started (D6)."""
    step = StepProgress(
        step_id="s",
        assignment_id="a",
        student_id="u",
        target_score=80,
        state=StepState.COMPLETE,
        completed_at=T0,
        completion_source=CompletionSource.TEACHER_OVERRIDE,
    )
    assert step.is_complete
    assert step.mastery_level is MasteryLevel.NOT_STARTED
    assert not step.passed


def test_complete_step_keeps_completion_after_target_is_raised() -> None:
    """A complete step whose best no longer meets a raised target stays complete, not passed (D7)."""
    step = StepProgress(
        step_id="s",
        assignment_id="a",
        student_id="u",
        target_score=95,
        state=StepState.COMPLETE,
        started_at=T0,
        completed_at=T0,
        last_activity_at=T0,
        attempt_count=1,
        session_count=1,
        best_score=85.0,
        latest_score=85.0,
        score_mean=85.0,
        consistency_score=0.0,
        first_attempt_at=T0,
        first_score=85.0,
        latest_attempt_at=T0,
        mastery_level=MasteryLevel.PROFICIENT,
    )
    assert step.is_complete
    assert not step.passed


@pytest.mark.parametrize(
    ("original_score", "target", "passed"),
    [(90.0, 80.0, True), (80.0, 80.0, True), (79.9, 80.0, False)],
)
def test_reconciled_free_play_score_sets_passed_against_target(
    original_score: float, target: float, passed: bool
) -> None:
    """A reconciled free-play score meeting the target makes the step passed (D9, D7)."""
    meta = ReconciliationMetadata(
        original_score=original_score,
        original_context=OriginalContext.ALL_GAMES,
        reconciled_at=T0,
    )
    step = StepProgress(
        step_id="s",
        assignment_id="a",
        student_id="u",
        target_score=target,
        state=StepState.AVAILABLE,
        reconciliation_metadata=meta,
        passed=passed,
    )
    assert step.target_met is passed


@pytest.mark.parametrize(
    ("optional", "deprecated", "required"),
    [
        (False, False, True),
        (True, False, False),
        (False, True, False),
        (True, True, False),
    ],
)
def test_required_steps_are_neither_optional_nor_deprecated(
    optional: bool, deprecated: bool, required: bool
) -> None:
    """A step is required exactly when it is neither optional nor deprecated (D10)."""
    step = _definition("s", optional=optional, deprecated=deprecated)
    assert step.required is required


def test_structure_lists_required_steps_in_order() -> None:
    """required_steps keeps the step order and leaves out optional and deprecated steps."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(
            _definition("s1"),
            _definition("s2", optional=True),
            _definition("s3"),
            _definition("s4", deprecated=True),
        ),
    )
    assert [s.step_id for s in structure.required_steps] == ["s1", "s3"]
    assert structure.index("s3") == 2
    assert structure.step("s2").optional


def test_unknown_step_is_not_found() -> None:
    """Looking up a step id that is not in the assignment raises NotFoundError."""
    structure = AssignmentStructure(
        assignment_id="a", created_at=T0, steps=(_definition("s1"),)
    )
    with pytest.raises(NotFoundError) as info:
        structure.step("nope")
    assert isinstance(info.value, ProgressError)
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    ("due_at", "estimated", "override", "end"),
    [
        (T0 + timedelta(days=10), None, None, T0 + timedelta(days=10)),
        (None, timedelta(days=7), None, T0 + timedelta(days=7)),
        (T0 + timedelta(days=10), timedelta(days=7), None, T0 + timedelta(days=10)),
        (
            T0 + timedelta(days=10),
            None,
            T0 + timedelta(days=14),
            T0 + timedelta(days=14),
        ),
        (None, None, None, None),
    ],
)
def test_pacing_window_ends_at_override_then_due_then_estimate(
    due_at: datetime | None,
    estimated: timedelta | None,
    override: datetime | None,
    end: datetime | None,
) -> None:
    """The window ends at the student's extension, else due_at, else created_at + estimate (D15, D8)."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(),
        due_at=due_at,
        estimated_duration=estimated,
    )
    assert structure.window_end(override) == end


def test_summary_is_at_risk_exactly_with_factors() -> None:
    """A summary with risk factors is at risk and one without is not (D17)."""
    risky = StudentProgressSummary(
        student_id="u",
        organization_id="o",
        at_risk=True,
        risk_factors=("inactive_9_days",),
    )
    calm = StudentProgressSummary(student_id="u", organization_id="o")
    assert risky.at_risk
    assert not calm.at_risk


def test_invalid_input_error_names_field_value_and_rule() -> None:
    """The error message names the field, the value and the rule, and the error pickles."""
    err = InvalidInputError("best_score", 120.0, "D1: a score is in [0, 100]")
    assert str(err) == "best_score=120.0 is invalid: D1: a score is in [0, 100]"
    again = pickle.loads(pickle.dumps(err))
    assert (again.field, again.value, again.rule) == (err.field, err.value, err.rule)


def test_error_hierarchy_has_one_root() -> None:
    """Every library error is a ProgressError and also its natural built-in."""
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(NotFoundError, LookupError)
    for kind in (InvalidInputError, NotFoundError, ConflictError, StorageError):
        assert issubclass(kind, ProgressError)
    assert StorageError("busy", retryable=True).retryable
    assert not StorageError("gone").retryable


@given(mst.step_progress())
def test_generated_step_records_survive_revalidation(step: StepProgress) -> None:
    """Rebuilding any generated step record through its validators gives an equal record."""
    assert attrs.evolve(step) == step
    assert step.passed == step.target_met


_SNAPSHOT: dict[str, Any] = {
    "snapshot_id": "s",
    "snapshot_date": T0,
    "student_id": "u",
    "scope_type": ScopeType.STEP,
    "scope_id": "x",
    "state_snapshot": {},
    "metrics_snapshot": {
        "completion_percentage": 1.0,
        "mastery_score": 2.0,
        "time_on_task_ms": 3,
    },
    "trigger": SnapshotTrigger.MANUAL,
}


def test_snapshot_notes_with_a_lone_surrogate_are_refused() -> None:
    """Q141: snapshot notes are valid Unicode; a lone surrogate is refused
    naming ``notes``, by the constructor and by ``from_json``."""
    with pytest.raises(InvalidInputError) as error:
        ProgressSnapshot(**_SNAPSHOT, notes="checked \ud800")
    assert error.value.field == "notes"
    text = to_json(ProgressSnapshot(**_SNAPSHOT, notes="checked")).replace(
        '"checked"', '"checked \\ud800"'
    )
    with pytest.raises(InvalidInputError) as error:
        from_json(text, ProgressSnapshot)
    assert error.value.field == "notes"
    assert ProgressSnapshot(**_SNAPSHOT, notes="Zoë").notes == "Zoë"
    assert ProgressSnapshot(**_SNAPSHOT).notes is None


_T = datetime(2026, 9, 1, tzinfo=UTC)
_NOT_JSON_READY = [
    ({"steps": ("s1", "s2")}, "state_snapshot.steps"),
    ({"score": float("nan")}, "state_snapshot.score"),
    ({"at": {"when": _T}}, "state_snapshot.at.when"),
    ({"steps": [{"s1": float("inf")}]}, "state_snapshot.steps[0].s1"),
    ({1: "a"}, "state_snapshot"),
    ({"a": 1, 2: "b"}, "state_snapshot"),
    ({"note": "a\ud800"}, "state_snapshot.note"),
    ({"a\ud800": 1}, "state_snapshot"),
    ({"ids": {"x"}}, "state_snapshot.ids"),
    ("not a mapping", "state_snapshot"),
]


@pytest.mark.parametrize(("state", "field"), _NOT_JSON_READY)
def test_snapshot_state_that_would_not_read_back_equal_is_refused(
    state: Any, field: str
) -> None:
    """A state with tuples, NaN, times, sets, non-string keys or lone
    surrogates is refused at construction naming the path, since JSON would
    give it back different (or ``to_json`` could not write it)."""
    with pytest.raises(InvalidInputError) as error:
        ProgressSnapshot(**{**_SNAPSHOT, "state_snapshot": state})
    assert error.value.field == field


def test_snapshot_metrics_that_are_not_json_ready_are_refused() -> None:
    """The metrics mapping follows the same rule, keys included."""
    metrics = {**_SNAPSHOT["metrics_snapshot"]}
    for bad, field in (
        ({**metrics, 5: 1.0}, "metrics_snapshot"),
        ({**metrics, "mastery_score": float("nan")}, "metrics_snapshot.mastery_score"),
    ):
        with pytest.raises(InvalidInputError) as error:
            ProgressSnapshot(**{**_SNAPSHOT, "metrics_snapshot": bad})
        assert error.value.field == field


def _audit(**fields: Any) -> AuditEntry:
    return AuditEntry(
        audit_id="a",
        occurred_at=_T,
        actor_id="t",
        action="x",
        reason="r",
        command_id="c",
        student_id="u",
        assignment_id="a",
        **fields,
    )


@pytest.mark.parametrize("side", ["before", "after"])
def test_audit_copies_that_would_not_read_back_equal_are_refused(side: str) -> None:
    """An audit entry's before/after copies are JSON-ready, like snapshots."""
    for bad, path in (
        ({"concepts": ("c1",)}, "concepts"),
        ({"at": _T}, "at"),
        ({"x": [float("nan")]}, "x[0]"),
    ):
        with pytest.raises(InvalidInputError) as error:
            _audit(**{side: bad})
        assert error.value.field == f"{side}.{path}"


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
_JSON_OBJECTS = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        _JSON_LEAVES,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=10,
    ),
    max_size=4,
)


@given(state=_JSON_OBJECTS)
def test_json_ready_mappings_read_back_equal(state: dict[str, Any]) -> None:
    """Whatever the records accept in these mappings reads back equal."""
    snapshot = ProgressSnapshot(**{**_SNAPSHOT, "state_snapshot": state})
    assert from_json(to_json(snapshot), ProgressSnapshot) == snapshot
    entry = _audit(before=state, after={"nested": [state, {"n": None}]})
    assert from_json(to_json(entry), AuditEntry) == entry
