"""Laws of the inconsistency checker and the repair (D4, D18): no false alarm
on valid records, every injected corruption found, agreement with the
records' own validation, and a repair that restores the invariants once."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStructure,
    Attempt,
    InvalidInputError,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
    assignment_progress,
    structure,
    unstructure,
)
from mlc_progress._inconsistency import (
    Violations,
    check_assignment,
    check_step,
    load_assignment,
    load_step,
    repair_assignment,
)
from mlc_progress._tracking import ProgressState
from mlc_progress.testing import strategies as mst

from .test_reconciliation_support import ASSIGNMENT, at, history_batches, raw_records

# A batch of 40 students, each with at least one command, gives at least 80
# records (an assignment record and a step record each): 150 batches give
# well over 10,000.
STUDENTS_PER_BATCH = 40
BATCHES = 150
VALID_RECORDS = 10_000


def test_no_false_alarm_on_10000_valid_records() -> None:
    """Records made by the real-time core from generated histories (late,
    repeated and overridden attempts) pass every check: their own invariants,
    derived figures, aggregates and the attempt log (D18)."""
    checked = 0

    @settings(
        max_examples=BATCHES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(history_batches(students=STUDENTS_PER_BATCH))
    def run(batch: tuple[Any, list[tuple[ProgressState, list[Attempt]]]]) -> None:
        nonlocal checked
        on, students = batch
        for state, log in students:
            raw_assignment, raw_steps = raw_records(state)
            found = check_assignment(
                raw_assignment, on, raw_steps, student_id=state.student_id, attempts=log
            )
            assert found == (), [str(x) for x in found]
            checked += len(raw_steps) + (raw_assignment is not None)

    run()
    assert checked >= VALID_RECORDS


@given(
    st.lists(mst.step_progress(), min_size=5, max_size=5),
    st.lists(mst.assignment_progress(), min_size=2, max_size=2),
)
def test_no_false_alarm_on_records_of_the_strategies(
    steps: list[StepProgress], assignments: list[AssignmentProgress]
) -> None:
    """Every record the shared strategies build, in every state and from every
    completion source, passes its own checks and loads unchanged."""
    for step in steps:
        assert check_step(unstructure(step)) == ()
        assert load_step(unstructure(step)) == step
    for assignment in assignments:
        assert load_assignment(unstructure(assignment)) == assignment


@given(st.data())
def test_no_false_alarm_on_a_structure_and_its_records(data: st.DataObject) -> None:
    """A structure's generated step records, with the assignment record
    computed from them, pass the whole-assignment check."""
    on = data.draw(mst.assignment_structures(min_steps=1, max_steps=5))
    records = data.draw(mst.step_progress_for(on, student_id="u"))
    assignment = assignment_progress(on, records, student_id="u", as_of=mst.MAX_TIME)
    found = check_assignment(
        unstructure(assignment), on, [unstructure(r) for r in records], student_id="u"
    )
    assert found == (), [str(x) for x in found]


# Injected corruptions -------------------------------------------------------

Corruption = tuple[
    Callable[[StepProgress], bool], Callable[[dict[str, Any]], None], str
]


def _when(record: StepProgress) -> bool:
    return True


def _attempted(record: StepProgress) -> bool:
    return record.attempt_count > 0


STEP_CORRUPTIONS: dict[str, Corruption] = {
    "negative_time": (_when, lambda r: r.update(time_on_task_ms=-1), "negative_time"),
    "score_over_100": (
        _when,
        lambda r: r.update(best_score=100.5),
        "score_out_of_range",
    ),
    "score_nan": (
        _when,
        lambda r: r.update(latest_score=math.nan),
        "score_out_of_range",
    ),
    "target_of_zero": (
        _when,
        lambda r: r.update(target_score=0.0),
        "target_out_of_range",
    ),
    "negative_count": (_when, lambda r: r.update(attempt_count=-2), "negative_count"),
    "completed_before_started": (
        _when,
        lambda r: r.update(
            state="complete",
            completion_source="fresh_attempt",
            started_at="2099-12-31T00:00:00Z",
            completed_at="2099-01-01T00:00:00Z",
        ),
        "completed_before_started",
    ),
    "best_below_latest": (
        lambda s: _attempted(s) and s.best_score < 100,
        lambda r: r.update(latest_score=100.0),
        "best_below_latest",
    ),
    "passed_flipped": (
        _when,
        lambda r: r.update(passed=not r["passed"]),
        "passed_without_target",  # or target_met_not_passed: see the test
    ),
    "complete_without_date": (
        _when,
        lambda r: r.update(state="complete", completed_at=None),
        "completion_date_mismatch",
    ),
    "unknown_state": (_when, lambda r: r.update(state="done"), "unknown_value"),
    "naive_time": (
        _when,
        lambda r: r.update(started_at="2026-01-01T00:00:00"),
        "invalid_time",
    ),
    "unknown_field": (_when, lambda r: r.update(colour="green"), "unknown_field"),
    "missing_target": (_when, lambda r: r.pop("target_score"), "missing_field"),
    "blank_id": (_when, lambda r: r.update(student_id=""), "invalid_id"),
    "scores_without_attempts": (
        _attempted,
        lambda r: r.update(attempt_count=0),
        "scores_without_attempts",
    ),
    "locked_with_attempts": (
        _attempted,
        lambda r: r.update(state="locked", completed_at=None),
        "locked_with_activity",
    ),
}


@pytest.mark.parametrize("name", sorted(STEP_CORRUPTIONS))
@settings(max_examples=25)
@given(record=mst.step_progress(states=(StepState.IN_PROGRESS, StepState.COMPLETE)))
def test_checker_finds_every_injected_step_corruption(
    name: str, record: StepProgress
) -> None:
    """Each corruption of the list, injected into any valid step record it
    applies to, is found with its code, and the record is never loaded."""
    applies, corrupt, code = STEP_CORRUPTIONS[name]
    assume(applies(record))
    raw = unstructure(record)
    corrupt(raw)
    found = [x.code for x in check_step(raw)]
    if name == "passed_flipped":
        code = "target_met_not_passed" if record.target_met else "passed_without_target"
    assert code in found
    assert isinstance(load_step(raw), Violations)


ASSIGNMENT_CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "completion_over_100": (
        lambda r: r.update(completion_percentage=100.0 + 1e-9),
        "completion_over_100",
    ),
    "counts_do_not_add_up": (
        lambda r: r.update(steps_locked=r["steps_total"] + 1),
        "counts_do_not_add_up",
    ),
    "required_over_total": (
        lambda r: r.update(steps_required=r["steps_total"] + 1),
        "counts_do_not_add_up",
    ),
    "negative_time": (lambda r: r.update(time_on_task_ms=-7), "negative_time"),
    "pass_rate_negative": (
        lambda r: r.update(pass_rate=-0.5),
        "percentage_out_of_range",
    ),
}


@pytest.mark.parametrize("name", sorted(ASSIGNMENT_CORRUPTIONS))
@settings(max_examples=25)
@given(record=mst.assignment_progress())
def test_checker_finds_every_injected_assignment_corruption(
    name: str, record: AssignmentProgress
) -> None:
    """Each assignment corruption of the list is found in any valid record."""
    corrupt, code = ASSIGNMENT_CORRUPTIONS[name]
    raw = unstructure(record)
    corrupt(raw)
    assert code in load_assignment(raw).codes  # type: ignore[union-attr]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from(
        [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "1999-12-31T23:00:00+01:00",
            "locked",
            "available",
            "in_progress",
            "complete",
            "mastered",
            "teacher_override",
            {"original_score": 90, "original_context": "all_games"},
        ]
    ),
)


@given(
    record=mst.step_progress(),
    changes=st.dictionaries(
        st.sampled_from(sorted(attrs.fields_dict(StepProgress))),
        _VALUES,
        min_size=1,
        max_size=3,
    ),
)
def test_checker_agrees_with_the_records_own_validation(
    record: StepProgress, changes: dict[str, Any]
) -> None:
    """A stored step has no violation exactly when it builds a record, and
    reading it never raises."""
    raw = {**unstructure(record), **changes}
    try:
        structure(raw, StepProgress)
    except InvalidInputError:
        valid = False
    else:
        valid = True
    assert (check_step(raw) == ()) is valid
    assert isinstance(load_step(raw), StepProgress) is valid


# Repair ---------------------------------------------------------------------

REPAIRABLE: dict[str, Callable[[dict[str, Any]], None]] = {
    "passed_flipped": lambda r: r.update(passed=not r["passed"]),
    "score_garbage": lambda r: r.update(best_score=999.0, latest_score=-3.0),
    "negative_time": lambda r: r.update(time_on_task_ms=-1),
    "count_lost": lambda r: r.update(attempt_count=-1),
    "mastery_stale": lambda r: r.update(mastery_level="mastered"),
    "state_unknown": lambda r: r.update(state="??"),
    "times_swapped": lambda r: r.update(
        first_attempt_at=r["latest_attempt_at"], latest_attempt_at=r["first_attempt_at"]
    ),
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    history_batches(students=1),
    st.sampled_from(sorted(REPAIRABLE)),
    st.sampled_from(["step", "assignment", "both", "drop"]),
    st.data(),
)
def test_repair_with_the_log_restores_invariants_once(
    batch: tuple[Any, list[tuple[ProgressState, list[Attempt]]]],
    corruption: str,
    where: str,
    data: st.DataObject,
) -> None:
    """Given the attempt log, a repair restores every invariant, keeps every
    completion with its date, and a second repair adds nothing."""
    on, [(state, log)] = batch
    raw_assignment, raw_steps = raw_records(state)
    assume(raw_steps and raw_assignment is not None)
    index = data.draw(st.integers(min_value=0, max_value=len(raw_steps) - 1))
    victim = raw_steps[index]["step_id"]
    applied = {a.attempt_id: a for a in reversed(log)}.values()  # first wins (D3)
    attempted = any(a.step_id == victim for a in applied)
    dropped = where == "drop" and attempted
    if dropped:
        del raw_steps[index]
    elif where in ("step", "both") and (attempted or corruption == "passed_flipped"):
        REPAIRABLE[corruption](raw_steps[index])
    if where in ("assignment", "both"):
        raw_assignment["completion_percentage"] = 110.0
        raw_assignment["steps_completed"] = 99
    repaired = repair_assignment(
        on,
        raw_assignment,
        raw_steps,
        student_id=state.student_id,
        as_of=at(days=40),
        repair_id="r1",
        attempts=log,
    )
    assert not repaired.failed, [str(x) for x in repaired.remaining]
    fixed = {s.step_id: unstructure(s) for s in repaired.steps}
    after_steps = {r["step_id"]: r for r in raw_steps} | fixed
    after_assignment = (
        unstructure(repaired.assignment) if repaired.assignment else raw_assignment
    )
    assert (
        check_assignment(
            after_assignment,
            on,
            list(after_steps.values()),
            student_id=state.student_id,
            attempts=log,
        )
        == ()
    )
    for step_id, record in state.steps.items():
        if dropped and step_id == victim and not record.passed:
            # Only attempts are in the log: an override or moving past an
            # optional step is not, so a lost record cannot bring it back.
            continue
        if record.state is StepState.COMPLETE:
            kept = structure(after_steps[step_id], StepProgress)
            assert kept.state is StepState.COMPLETE
            if not (dropped and step_id == victim):
                assert kept.completed_at == record.completed_at
    again = repair_assignment(
        on,
        after_assignment,
        list(after_steps.values()),
        student_id=state.student_id,
        as_of=at(days=41),
        repair_id="r2",
        attempts=log,
    )
    assert (again.violations, again.corrections, again.events) == ((), (), ())


@given(
    st.lists(mst.step_progress(assignment_id=ASSIGNMENT, student_id="u"), max_size=4),
    st.sampled_from(["passed_flipped", "mastery_stale", "times_swapped"]),
)
def test_repair_without_a_log_never_uncompletes_or_redates(
    records: list[StepProgress], corruption: str
) -> None:
    """From step data alone a repair either restores the invariants, keeping
    each completion and its date, or changes nothing and alerts support."""
    unique = {r.step_id: r for r in records}
    raws = [unstructure(r) for r in unique.values()]
    for raw in raws:
        REPAIRABLE[corruption](raw)
    on = AssignmentStructure(
        assignment_id=ASSIGNMENT,
        created_at=mst.MIN_TIME,
        steps=tuple(
            StepDefinition(
                step_id=r.step_id,
                element_id="g",
                stage=Stage.PLAY,
                target_score=r.target_score,
            )
            for r in unique.values()
        ),
    )
    outcome = repair_assignment(
        on,
        None,
        raws,
        student_id="u",
        as_of=datetime(2100, 1, 2, tzinfo=UTC),
        repair_id="r1",
    )
    if outcome.failed:
        assert outcome.steps == ()
        return
    fixed = {s.step_id: s for s in outcome.steps}
    for step_id, record in unique.items():
        kept = fixed.get(step_id, record)
        if record.state is StepState.COMPLETE:
            assert kept.state is StepState.COMPLETE
            assert kept.completed_at == record.completed_at
        assert (kept.best_score, kept.attempt_count) == (
            record.best_score,
            record.attempt_count,
        )
