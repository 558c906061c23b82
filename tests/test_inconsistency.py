"""Examples of the spec's rules When Errors Occur (D4, D18): detect, audit,
repair, alert support, never delete."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev deps
import pytest

from mlc_progress import (
    AssignmentProgress,
    ProgressReconciled,
    ProgressRepairFailed,
    ReconciliationType,
    Stage,
    StepProgress,
    StepState,
    event_json_schemas,
    event_to_dict,
    from_json,
    to_json,
    unstructure,
)
from mlc_progress._inconsistency import (
    CorrectionRecord,
    Violations,
    check_assignment,
    check_step,
    load_assignment,
    load_progress,
    load_step,
    repair_assignment,
)
from mlc_progress._tracking import ProgressState

from .test_reconciliation_support import (
    STUDENT,
    at,
    attempt,
    definition,
    raw_records,
    replay,
    structure,
)

V1 = structure(
    definition("s1", "pizza", stage=Stage.LEARN),
    definition("s2", "cake", stage=Stage.PLAY),
    definition("s3", "check", stage=Stage.QUIZ),
    due_at=at(days=21),
)
LOG = [
    attempt("t1", "s1", 90, at(days=1)),
    attempt("t2", "s2", 50, at(days=2)),
    attempt("t3", "s2", 60, at(days=2, minutes=30)),
]
REPAIRED_AT = at(days=10)


def state() -> ProgressState:
    """s1 complete (90 on day 1), s2 in progress (50 then 60), s3 locked."""
    return replay(LOG, V1, as_of=at(days=3))


def stored() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The stored assignment and step records, by step id, as JSON data."""
    raw_assignment, raw_steps = raw_records(state())
    return raw_assignment, {raw["step_id"]: raw for raw in raw_steps}


def codes_of(found: tuple[Any, ...]) -> list[str]:
    return [x.code for x in found]


def repair(
    raw_assignment: object,
    raw_steps: dict[str, Any],
    *,
    attempts: list[Any] | None = None,
) -> Any:
    return repair_assignment(
        V1,
        raw_assignment,
        raw_steps,
        student_id=STUDENT,
        as_of=REPAIRED_AT,
        repair_id="r1",
        attempts=attempts,
    )


# Rule 1: detect -----------------------------------------------------------------

Change = Callable[[dict[str, Any]], None]


def _set(**fields: Any) -> Change:
    def change(raw: dict[str, Any]) -> None:
        raw.update(fields)

    return change


def _drop(field: str) -> Change:
    def change(raw: dict[str, Any]) -> None:
        del raw[field]

    return change


STEP_CORRUPTIONS: list[tuple[str, str, Change, str]] = [
    ("s1", "negative time", _set(time_on_task_ms=-5), "negative_time"),
    ("s1", "best over 100", _set(best_score=120.0), "score_out_of_range"),
    ("s1", "best is NaN", _set(best_score=float("nan")), "score_out_of_range"),
    ("s1", "target of 0", _set(target_score=0), "target_out_of_range"),
    (
        "s1",
        "completed before started",
        _set(
            started_at="2026-09-03T08:00:00Z", last_activity_at="2026-09-03T08:00:00Z"
        ),
        "completed_before_started",
    ),
    (
        "s2",
        "active before started",
        _set(last_activity_at="2026-08-01T00:00:00Z"),
        "activity_before_started",
    ),
    ("s2", "best below latest", _set(latest_score=70.0), "best_below_latest"),
    ("s2", "best below first", _set(first_score=75.0), "best_below_first"),
    ("s2", "passed without the target", _set(passed=True), "passed_without_target"),
    ("s1", "target met, not passed", _set(passed=False), "target_met_not_passed"),
    (
        "s1",
        "complete without a date",
        _set(completed_at=None),
        "completion_date_mismatch",
    ),
    ("s2", "unknown state", _set(state="finished"), "unknown_value"),
    ("s2", "negative count", _set(attempt_count=-1), "negative_count"),
    ("s2", "no attempts, yet scores", _set(attempt_count=0), "scores_without_attempts"),
    ("s2", "naive time", _set(started_at="2026-09-03T08:00:00"), "invalid_time"),
    ("s2", "unknown field", _set(colour="green"), "unknown_field"),
    ("s2", "missing id", _drop("step_id"), "missing_field"),
    ("s2", "blank id", _set(step_id="  "), "invalid_id"),
    ("s2", "locked with attempts", _set(state="locked"), "locked_with_activity"),
    (
        "s2",
        "in progress, never started",
        _set(started_at=None),
        "in_progress_not_started",
    ),
    (
        "s2",
        "latest before first",
        _set(
            first_attempt_at="2026-09-03T09:00:00Z",
            last_activity_at="2026-09-03T09:00:00Z",
        ),
        "attempts_out_of_order",
    ),
    ("s2", "flag as text", _set(passed="yes"), "wrong_type"),
    (
        "s2",
        "activity before latest attempt",
        _set(last_activity_at="2026-09-03T08:10:00Z"),
        "activity_before_latest_attempt",
    ),
]


@pytest.mark.parametrize(
    ("step_id", "change", "code"),
    [pytest.param(s, c, code, id=name) for s, name, c, code in STEP_CORRUPTIONS],
)
def test_rule1_detects_each_corrupt_step(
    step_id: str, change: Change, code: str
) -> None:
    """Error rule 1: each impossible step state is found, by its code (D4)."""
    _, steps = stored()
    raw = steps[step_id]
    assert check_step(raw) == ()
    change(raw)
    assert code in codes_of(check_step(raw))
    assert isinstance(load_step(raw), Violations)


ASSIGNMENT_CORRUPTIONS: list[tuple[str, Change, str]] = [
    ("110 percent complete", _set(completion_percentage=110.0), "completion_over_100"),
    ("negative time", _set(time_on_task_ms=-1), "negative_time"),
    ("counts do not add up", _set(steps_locked=3), "counts_do_not_add_up"),
    ("more required than total", _set(steps_required=4), "counts_do_not_add_up"),
    (
        "completed before started",
        _set(completed_at="2026-08-01T00:00:00Z"),
        "completed_before_started",
    ),
    ("complete at 33 percent", _set(status="complete"), "status_mismatch"),
    (
        "stale completed count",
        _set(steps_completed=0),
        "aggregate_mismatch:steps_completed",
    ),
    (
        "stale percentage",
        _set(completion_percentage=50.0),
        "aggregate_mismatch:completion_percentage",
    ),
    ("stale average", _set(average_score=10.0), "aggregate_mismatch:average_score"),
    ("stale mastery", _set(mastery_score=99.0), "aggregate_mismatch:mastery_score"),
    ("stale next step", _set(next_step_id="s3"), "aggregate_mismatch:next_step_id"),
    (
        "foreign record",
        _set(student_id="someone-else"),
        "foreign_record",
    ),
]


@pytest.mark.parametrize(
    ("change", "code"),
    [pytest.param(c, code, id=name) for name, c, code in ASSIGNMENT_CORRUPTIONS],
)
def test_rule1_detects_each_corrupt_assignment(change: Change, code: str) -> None:
    """Error rule 1: impossible or stale assignment figures are found (D4, D18)."""
    raw_assignment, steps = stored()
    assert check_assignment(raw_assignment, V1, steps, student_id=STUDENT) == ()
    change(raw_assignment)
    found = check_assignment(raw_assignment, V1, steps, student_id=STUDENT)
    assert code in codes_of(found)
    assert isinstance(
        load_progress(V1, raw_assignment, steps, student_id=STUDENT), Violations
    )


def test_rule1_aggregate_violation_names_stored_and_recomputed_values() -> None:
    """A mismatch says what was stored and what the steps give."""
    raw_assignment, steps = stored()
    raw_assignment["steps_completed"] = 0
    (found,) = check_assignment(raw_assignment, V1, steps, student_id=STUDENT)
    assert (found.record, found.field, found.value, found.expected) == (
        "assignment",
        "steps_completed",
        0,
        1,
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            _set(attempt_count=1), "attempt_log_mismatch:attempt_count", id="count"
        ),
        pytest.param(
            _set(time_on_task_ms=1), "attempt_log_mismatch:time_on_task_ms", id="time"
        ),
        pytest.param(
            _set(best_score=65.0), "attempt_log_mismatch:best_score", id="best"
        ),
    ],
)
def test_rule1_detects_steps_that_disagree_with_the_attempt_log(
    change: Change, code: str
) -> None:
    """Error rule 1: given the host's attempt log, valid records that disagree
    with it are found (D18)."""
    _, steps = stored()
    change(steps["s2"])
    assert check_step(steps["s2"]) == ()
    found = codes_of(
        check_assignment(None, V1, steps, student_id=STUDENT, attempts=LOG)
    )
    assert code in found


def test_rule1_duplicates_are_found() -> None:
    """Two records of one step cannot both be right."""
    _, steps = stored()
    both = [*steps.values(), copy.deepcopy(steps["s2"])]
    assert "duplicate_record" in codes_of(
        check_assignment(None, V1, both, student_id=STUDENT)
    )


@pytest.mark.parametrize(
    "junk",
    [
        None,
        7,
        "text",
        [],
        ["a"],
        {"step_id": 5},
        {1: 2},
        {"step_id": "s1", "state": None},
    ],
)
def test_loaders_never_raise_on_junk(junk: object) -> None:
    """Bad stored data is reported, never raised (D18)."""
    assert isinstance(load_step(junk), Violations)
    assert isinstance(load_assignment(junk), Violations)
    found = load_progress(V1, junk, [junk], student_id=STUDENT)
    assert isinstance(found, Violations)
    assert found.violations


def test_loaders_return_valid_records() -> None:
    """Valid stored data loads into the same records."""
    raw_assignment, steps = stored()
    loaded = load_progress(V1, raw_assignment, steps, student_id=STUDENT, attempts=LOG)
    assert isinstance(loaded, ProgressState)
    assert loaded.steps == state().steps
    assert loaded.assignment == state().assignment
    assert isinstance(load_step(steps["s1"]), StepProgress)
    assert isinstance(load_assignment(raw_assignment), AssignmentProgress)


# Rules 2 and 3: audit and repair ------------------------------------------------


def test_rule2_correction_records_before_after_and_reason() -> None:
    """Error rule 2: each correction keeps the stored record verbatim, the
    corrected one, the reason and the violations."""
    raw_assignment, steps = stored()
    raw_assignment["completion_percentage"] = 110.0
    original = copy.deepcopy(raw_assignment)
    outcome = repair(raw_assignment, steps)
    (correction,) = outcome.corrections
    assert correction.step_id is None
    assert correction.before == original
    assert correction.after == json.loads(json.dumps(unstructure(outcome.assignment)))
    assert "completion_over_100" in correction.reason
    assert codes_of(correction.violations) == ["completion_over_100"]
    assert (correction.actor_id, correction.corrected_at) == ("system", REPAIRED_AT)
    assert not correction.from_attempt_log


def test_rule3_aggregates_recomputed_from_step_data() -> None:
    """Error rule 3: aggregates are recomputed from the step records."""
    raw_assignment, steps = stored()
    raw_assignment.update(completion_percentage=110.0, steps_completed=2)
    outcome = repair(raw_assignment, steps)
    assert outcome.repaired
    assert not outcome.failed
    assert outcome.assignment is not None
    assert outcome.assignment.completion_percentage == pytest.approx(100 / 3)
    assert outcome.assignment.steps_completed == 1
    assert outcome.steps == ()
    (event,) = outcome.events
    assert isinstance(event, ProgressReconciled)
    assert event.reconciliation_type is ReconciliationType.ERROR_REPAIR
    assert (event.previous_completion_percentage, event.steps_affected) == (100.0, 0)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        pytest.param(
            _set(passed=True),
            lambda s: not s.passed,
            id="passed-recomputed",
        ),
        pytest.param(
            _set(latest_score=70.0),
            lambda s: s.best_score == 70.0,
            id="best-is-at-least-latest",
        ),
        pytest.param(
            _set(state="locked"),
            lambda s: s.state is StepState.IN_PROGRESS,
            id="locked-with-attempts-is-in-progress",
        ),
        pytest.param(
            _set(last_activity_at="2026-09-01T00:00:00Z"),
            lambda s: (
                s.started_at == at(days=2)
                and s.last_activity_at == at(days=2, minutes=30)
            ),
            id="times-ordered",
        ),
        pytest.param(
            _set(mastery_level="mastered"),
            lambda s: s.mastery_level.value == "proficient",
            id="mastery-recomputed",
        ),
        pytest.param(
            _set(consistency_score=0.9),
            lambda s: s.consistency_score == pytest.approx(1 / 11),
            id="consistency-recomputed",
        ),
    ],
)
def test_rule3_step_repaired_from_its_own_data(
    change: Change, check: Callable[[StepProgress], bool]
) -> None:
    """Error rule 3: derived figures and contradictory times are rebuilt from
    the record's own data."""
    raw_assignment, steps = stored()
    change(steps["s2"])
    outcome = repair(raw_assignment, steps)
    assert not outcome.failed, outcome.remaining
    (fixed,) = outcome.steps
    assert fixed.step_id == "s2"
    assert check(fixed)


def test_rule3_completion_date_is_never_restamped() -> None:
    """Error rule 3: a valid completion keeps its date; the start moves instead."""
    raw_assignment, steps = stored()
    steps["s1"].update(started_at="2026-09-03T08:00:00Z", last_activity_at=None)
    outcome = repair(raw_assignment, steps)
    (fixed,) = outcome.steps
    assert fixed.completed_at == at(days=1)
    assert fixed.started_at == at(days=1)


def test_rule3_step_rebuilt_from_the_attempt_log() -> None:
    """Error rule 3: with the log, attempt figures are re-folded from it, and a
    qualifying attempt completes its step when it happened."""
    raw_assignment, steps = stored()
    late_pass = attempt("t4", "s2", 85, at(days=2, minutes=40))
    log = [*LOG, late_pass]
    outcome = repair(raw_assignment, steps, attempts=log)
    assert not outcome.failed, outcome.remaining
    (fixed,) = outcome.steps
    assert (fixed.attempt_count, fixed.best_score, fixed.latest_score) == (3, 85, 85)
    assert fixed.state is StepState.COMPLETE
    assert fixed.completed_at == at(days=2, minutes=40)
    assert outcome.assignment is not None
    assert outcome.assignment.steps_completed == 2
    assert all(c.from_attempt_log for c in outcome.corrections)


def test_rule3_missing_record_recreated_from_the_attempt_log() -> None:
    """Error rule 3: a step with logged attempts but no record gets one."""
    raw_assignment, steps = stored()
    del steps["s2"]
    outcome = repair(raw_assignment, steps, attempts=LOG)
    assert not outcome.failed, outcome.remaining
    fixed = next(s for s in outcome.steps if s.step_id == "s2")
    assert (fixed.attempt_count, fixed.best_score) == (2, 60)
    created = next(c for c in outcome.corrections if c.step_id == "s2")
    assert created.before is None


def test_rule3_negative_time_is_repaired_from_the_log() -> None:
    """Error rule 3: the log knows the time a corrupt record lost."""
    raw_assignment, steps = stored()
    steps["s2"]["time_on_task_ms"] = -5
    outcome = repair(raw_assignment, steps, attempts=LOG)
    (fixed,) = outcome.steps
    assert fixed.time_on_task_ms == 120_000


def test_repair_twice_adds_nothing_the_second_time() -> None:
    """A repair of repaired records finds nothing and writes nothing."""
    raw_assignment, steps = stored()
    steps["s2"].update(passed=True)
    raw_assignment.update(completion_percentage=110.0)
    first = repair(raw_assignment, steps)
    assert first.repaired
    steps.update({s.step_id: unstructure(s) for s in first.steps})
    again = repair(unstructure(first.assignment), steps)
    assert not again.repaired
    assert not again.failed
    assert (again.violations, again.corrections, again.events) == ((), (), ())


def test_consistent_records_need_no_repair() -> None:
    """Nothing is corrected, and no event emitted, when nothing is wrong."""
    raw_assignment, steps = stored()
    outcome = repair(raw_assignment, steps, attempts=LOG)
    assert (outcome.violations, outcome.corrections, outcome.events) == ((), (), ())


# Rule 4: notify support ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            _set(best_score=150.0), "score_out_of_range", id="score-without-log"
        ),
        pytest.param(_set(colour="green"), "unknown_field", id="unknown-field"),
        pytest.param(_set(time_on_task_ms=-5), "negative_time", id="time-without-log"),
        pytest.param(_set(student_id="bo"), "foreign_record", id="foreign"),
        pytest.param(_set(attempt_count=0), "scores_without_attempts", id="count-lost"),
    ],
)
def test_rule4_support_alerted_when_repair_cannot_restore(
    change: Change, code: str
) -> None:
    """Error rule 4: what no rule recovers fails the repair: nothing to store,
    one alert with the diagnostics."""
    raw_assignment, steps = stored()
    change(steps["s2"])
    outcome = repair(raw_assignment, steps)
    assert outcome.failed
    assert not outcome.repaired
    assert (outcome.steps, outcome.assignment, outcome.corrections) == ((), None, ())
    (alert,) = outcome.events
    assert isinstance(alert, ProgressRepairFailed)
    assert code in alert.violations
    assert (
        json.loads(json.dumps(steps["s2"], default=str)) in alert.diagnostics["steps"]
    )
    assert alert.diagnostics["repair_id"] == "r1"


# Rule 5: preserve raw data -------------------------------------------------------


def test_rule5_nothing_is_deleted_only_corrections_added() -> None:
    """Error rule 5: untouched records are not rewritten, corrected ones keep
    their stored form in the correction, no record disappears."""
    raw_assignment, steps = stored()
    original = copy.deepcopy(steps)
    steps["s2"]["passed"] = True
    outcome = repair(raw_assignment, steps)
    assert {s.step_id for s in outcome.steps} == {"s2"}
    assert outcome.corrections[0].before == json.loads(
        json.dumps({**original["s2"], "passed": True}, default=str)
    )
    assert steps["s1"] == original["s1"]  # the input is not modified


def test_repair_events_match_their_schemas() -> None:
    """Repair and alert events validate against the event schemas (D23)."""
    schemas = event_json_schemas()
    raw_assignment, steps = stored()
    raw_assignment["completion_percentage"] = 110.0
    good = repair(raw_assignment, steps)
    steps["s2"]["colour"] = "green"
    bad = repair(raw_assignment, steps)
    for event in (*good.events, *bad.events):
        wire = json.loads(json.dumps(event_to_dict(event)))
        jsonschema.validate(wire, schemas[event.name])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            _set(mastery_level="mastered"),
            "derived_mismatch:mastery_level",
            id="mastery",
        ),
        pytest.param(
            _set(consistency_score=0.5),
            "derived_mismatch:consistency_score",
            id="consistency",
        ),
    ],
)
def test_rule1_detects_stale_derived_step_figures(change: Change, code: str) -> None:
    """A step's mastery (D6) and consistency (D5) must follow from its own
    scores; a stale one is found although the record itself is constructible."""
    _, steps = stored()
    change(steps["s2"])
    assert check_step(steps["s2"]) == ()
    assert code in codes_of(check_assignment(None, V1, steps, student_id=STUDENT))


def test_correction_records_round_trip_through_json() -> None:
    """Corrections are appended to storage as JSON and read back unchanged."""
    raw_assignment, steps = stored()
    steps["s2"]["passed"] = True
    raw_assignment["completion_percentage"] = 110.0
    outcome = repair(raw_assignment, steps)
    for correction in outcome.corrections:
        assert from_json(to_json(correction), CorrectionRecord) == correction


def test_violation_reads_as_a_sentence() -> None:
    """A violation's text names the record, field, value, code and rule."""
    _, steps = stored()
    steps["s1"]["time_on_task_ms"] = -5
    (found,) = check_step(steps["s1"])
    assert str(found).startswith("step:s1.time_on_task_ms=-5: negative_time (D2")
