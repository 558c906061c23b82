"""StepColumns refuses what the records refuse (D1-D4, D7, D9, Q74).

Each bad column is named with its first bad row (``best_score[2]``), the
value and the rule; for a field ``StepProgress`` has, the error is the one
building that record raises.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStructure,
    CompletionSource,
    InvalidInputError,
    MasteryLevel,
    ProgressSnapshot,
    ScopeType,
    SequenceStructure,
    SnapshotTrigger,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
)
from mlc_progress.batch import (
    AssignmentRecords,
    RiskRule,
    RiskState,
    SequenceRecords,
    StudentHistory,
    summarize_student,
)
from mlc_progress.columnar import NAT, StepColumns, code_of, summarize_columns, to_us

T0 = datetime(2026, 9, 1, tzinfo=UTC)
ORG = "org-v"
MAX_US = 253_402_300_799_999_999


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


STRUCTURE = AssignmentStructure(
    assignment_id="a1",
    created_at=T0,
    due_at=at(500),
    steps=tuple(
        StepDefinition(
            step_id=f"s{i}", element_id=f"g{i}", stage=Stage.PLAY, target_score=80.0
        )
        for i in range(5)
    ),
)


def _played(step_id: str, best: float, *, complete: bool) -> StepProgress:
    return StepProgress(
        step_id=step_id,
        assignment_id="a1",
        student_id="ada",
        state=StepState.COMPLETE if complete else StepState.IN_PROGRESS,
        started_at=at(1),
        completed_at=at(3) if complete else None,
        last_activity_at=at(3),
        attempt_count=2,
        best_score=best,
        latest_score=best - 5,
        target_score=80.0,
        passed=best >= 80.0,
        time_on_task_ms=120_000,
        session_count=1,
        mastery_level=MasteryLevel.PROFICIENT if best >= 80 else MasteryLevel.LEARNING,
        consistency_score=0.1,
        score_mean=best - 2.5,
        score_m2=12.5,
        first_attempt_at=at(2),
        first_score=best - 10,
        latest_attempt_at=at(3),
    )


# One of each kind: complete, in progress, available, locked, and completed
# by a teacher before any attempt.
RECORDS = (
    _played("s0", 90.0, complete=True),
    _played("s1", 60.0, complete=False),
    StepProgress(
        step_id="s2",
        assignment_id="a1",
        student_id="ada",
        state=StepState.AVAILABLE,
        target_score=80.0,
    ),
    StepProgress(step_id="s3", assignment_id="a1", student_id="ada", target_score=80.0),
    StepProgress(
        step_id="s4",
        assignment_id="a1",
        student_id="ada",
        state=StepState.COMPLETE,
        completed_at=at(4),
        target_score=80.0,
        completion_source=CompletionSource.TEACHER_OVERRIDE,
    ),
)


def history(*records: StepProgress, **fields: Any) -> StudentHistory:
    return StudentHistory(
        student_id="ada",
        organization_id=ORG,
        assignments=(AssignmentRecords(structure=STRUCTURE, steps=records),),
        **fields,
    )


def arguments() -> dict[str, Any]:
    """The keyword arguments of a valid table of ``RECORDS``, as arrays one
    may change."""
    from mlc_progress._columnar_build import columns_from_histories

    found = columns_from_histories([history(*RECORDS)])
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in found.items()}


def refused(**changes: Any) -> InvalidInputError:
    """The error of a table of ``RECORDS`` with ``changes`` (whole columns)."""
    with pytest.raises(InvalidInputError) as err:
        StepColumns(**{**arguments(), **changes})
    return err.value


def column(name: str, row: int, value: Any) -> dict[str, Any]:
    """``name`` with ``value`` at ``row``."""
    values = arguments()[name].copy()
    values[row] = value
    return {name: values}


# The column of a record field: the reconciliation metadata is kept as the
# score it carries (D9).
COLUMN_OF = {"reconciliation_metadata": "reconciled_score"}


def _column_field(field: str) -> str:
    return COLUMN_OF.get(field, field)


def _column_value(field: str, value: Any) -> Any:
    if field in {"state", "mastery_level", "completion_source"}:
        return code_of(value)
    if isinstance(value, datetime) or (value is None and field.endswith("_at")):
        return to_us(value)
    if value is None:
        return math.nan
    return value


# -- the record's rules, column by column -------------------------------------------

# (row, the record's fields changed): each breaks one rule of StepProgress.
CORRUPTIONS: list[tuple[int, dict[str, Any]]] = [
    (0, {"best_score": 101.0}),
    (0, {"best_score": math.nan}),
    (1, {"latest_score": -0.5}),
    (0, {"target_score": 0.0}),
    (0, {"consistency_score": math.inf}),
    (0, {"score_mean": 100.5}),
    (0, {"score_m2": -1.0}),
    (0, {"first_score": 120.0}),
    (1, {"completed_at": at(5)}),
    (0, {"completed_at": at(0.5)}),
    (0, {"last_activity_at": at(0.5), "completed_at": at(0.5)}),
    (1, {"started_at": None}),
    (2, {"attempt_count": 1}),
    (2, {"started_at": at(1)}),
    (3, {"started_at": at(1)}),
    (4, {"completion_source": CompletionSource.FREE_PLAY_RECONCILED}),
    (3, {"best_score": 5.0}),
    (3, {"consistency_score": 0.0}),
    (3, {"first_attempt_at": at(1)}),
    (4, {"mastery_level": MasteryLevel.LEARNING}),
    (0, {"first_attempt_at": None}),
    (0, {"latest_attempt_at": None}),
    (0, {"first_score": None}),
    (0, {"session_count": 0}),
    (1, {"latest_score": 70.0}),
    (0, {"first_score": 95.0}),
    (0, {"latest_attempt_at": at(1.5)}),
    (0, {"last_activity_at": at(2.5), "completed_at": at(2.5)}),
    (0, {"first_attempt_at": at(0.5)}),
    (0, {"passed": False}),
    (1, {"passed": True}),
    (4, {"passed": True}),
]


@pytest.mark.parametrize(("row", "changes"), CORRUPTIONS)
def test_a_broken_record_rule_is_refused_as_the_record_refuses_it(
    row: int, changes: dict[str, Any]
) -> None:
    """The table's error names the column and row, and carries the value
    and rule that building the record raises."""
    with pytest.raises(InvalidInputError) as expected:
        attrs.evolve(RECORDS[row], **changes)
    values: dict[str, Any] = {}
    for name, value in changes.items():
        values.update(column(name, row, _column_value(name, value)))
    got = refused(**values)
    assert got.field == f"{_column_field(expected.value.field)}[{row}]"
    assert got.rule == expected.value.rule
    mine, theirs = got.value, expected.value.value
    if isinstance(theirs, float) and math.isnan(theirs):
        assert isinstance(mine, float)
        assert math.isnan(mine)
    else:
        assert mine == theirs


@given(st.lists(st.sampled_from(range(len(CORRUPTIONS))), min_size=1, max_size=4))
def test_the_first_bad_row_is_reported(picked: list[int]) -> None:
    """With several broken rows, the error is the one a loop building the
    records in order meets first."""
    args = arguments()
    broken: dict[int, dict[str, Any]] = {}
    for i in picked:
        row, changes = CORRUPTIONS[i]
        broken.setdefault(row, dict(changes))
    for row, changes in broken.items():
        for name, value in changes.items():
            args[name][row] = _column_value(name, value)
    first = min(broken)
    with pytest.raises(InvalidInputError) as expected:
        attrs.evolve(RECORDS[first], **broken[first])
    with pytest.raises(InvalidInputError) as got:
        StepColumns(**args)
    assert got.value.field == f"{_column_field(expected.value.field)}[{first}]"
    assert got.value.rule == expected.value.rule


@pytest.mark.parametrize(
    ("name", "row", "value", "rule"),
    [
        ("state", 2, 7, "one of 'locked'"),
        ("mastery_level", 3, -1, "one of 'not_started'"),
        ("completion_source", 3, 9, "one of 'fresh_attempt'"),
        ("attempt_count", 3, -2, "D4: a count"),
        ("time_on_task_ms", 3, -5, "D2: a duration"),
        ("session_count", 3, -1, "D4: a count"),
        ("started_at", 0, MAX_US + 1, "D2: a datetime"),
        ("completed_at", 4, NAT + 1, "D2: a datetime"),
        ("latest_attempt_at", 0, MAX_US + 7, "D2: a datetime"),
        ("reconciled_score", 4, 150.0, "D1: a score"),
    ],
)
def test_a_value_out_of_its_range_names_the_column_and_row(
    name: str, row: int, value: Any, rule: str
) -> None:
    """Codes, counts, durations, times and the reconciled score are checked
    like the record's fields (D1, D2, D4)."""
    err = refused(**column(name, row, value))
    assert err.field == f"{name}[{row}]"
    assert err.rule.startswith(rule)


def test_a_free_play_completion_keeps_its_reconciled_score() -> None:
    """D9: a step completed by free play needs the score it came from; with
    it, passed follows the reconciled score."""
    args = arguments()
    args["completion_source"][4] = code_of(CompletionSource.FREE_PLAY_RECONCILED)
    with pytest.raises(InvalidInputError) as err:
        StepColumns(**args)
    assert (err.value.field, err.value.value) == ("reconciled_score[4]", None)
    args["reconciled_score"][4] = 85.0
    with pytest.raises(InvalidInputError) as err:
        StepColumns(**args)
    assert err.value.field == "passed[4]"
    args["passed"][4] = True
    assert StepColumns(**args).rows == 5


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("best_score", np.array([True] * 5), "D1: a score"),
        ("started_at", np.zeros(5), "D2: times are int64"),
        ("attempt_count", np.zeros(5), "D4: a count"),
        ("passed", np.zeros(5, dtype=np.int8), "a flag is a boolean"),
        ("best_score", np.zeros(4), "one value per row (5)"),
        ("best_score", np.zeros((5, 1)), "a column is one-dimensional"),
        (
            "started_at",
            np.array(["2026-09-01T00:00:00.0000001"] * 5, dtype="datetime64[ns]"),
            "D2: times have microsecond precision",
        ),
    ],
)
def test_a_column_of_the_wrong_kind_is_refused(
    name: str, value: Any, rule: str
) -> None:
    """Booleans are not scores, floats are not times or counts, lengths
    match, and nanoseconds are not silently dropped (D1, D2)."""
    err = refused(**{name: value})
    assert err.field == name
    assert err.rule.startswith(rule)


# -- keys, groups and the other tables -------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        (column("step_group", 1, 3), "step_group[1]", "an index of a group"),
        (column("step_index", 1, 5), "step_index[1]", "a step of 'a1'"),
        (column("step_index", 1, 0), "step_index[1]", "one record per step"),
        (column("group_student", 0, 1), "group_student[0]", "an index into"),
        (column("group_assignment", 0, 2), "group_assignment[0]", "an index into"),
        (column("due_at_override", 0, MAX_US + 1), "due_at_override[0]", "D2"),
        ({"step_index": None}, "step_index", "step_group and step_index come"),
        (
            {"step_group": None, "step_index": None, "group_student": [0, 0]}
            | {"group_assignment": [0, 1], "archived": [False] * 2}
            | {"due_at_override": [NAT] * 2}
            | {"structures": (STRUCTURE, attrs.evolve(STRUCTURE, assignment_id="b"))},
            "step_group",
            "rows without",
        ),
    ],
)
def test_rows_are_of_a_group_and_a_step_once(
    changes: dict[str, Any], field: str, rule: str
) -> None:
    """Q17 and AssignmentRecords' rules: a record is of a step of its
    group's structure, once; without keys the rows are the full layout."""
    err = refused(**changes)
    assert err.field == field
    assert err.rule.startswith(rule)


def test_groups_are_in_student_order_and_once_per_assignment() -> None:
    """A student's groups come together; an assignment appears once per
    student (StudentHistory's rule)."""
    two = StepColumns.from_histories(
        [history(*RECORDS), attrs.evolve(history(), student_id="bo")]
    )
    base: dict[str, Any] = {
        "organization_id": ORG,
        "student_ids": two.student_ids,
        "structures": two.structures,
        "state": np.zeros(0, dtype=np.int8),
        "target_score": np.zeros(0),
        "step_group": np.zeros(0, dtype=np.int64),
        "step_index": np.zeros(0, dtype=np.int64),
    }
    with pytest.raises(InvalidInputError) as err:
        StepColumns(**base, group_student=[1, 0], group_assignment=[0, 0])
    assert (err.value.field, err.value.rule) == (
        "group_student[1]",
        "groups are in student order",
    )
    with pytest.raises(InvalidInputError) as err:
        StepColumns(**base, group_student=[0, 0], group_assignment=[0, 0])
    assert (err.value.field, err.value.value) == ("group_assignment[1]", "a1")


def attempts(**changes: Any) -> dict[str, Any]:
    """One attempt of student 0 on structure 0, with ``changes``."""
    return {
        "attempt_student": [0],
        "attempt_assignment": [0],
        "attempted_at": [0],
        "attempt_duration_ms": [0],
        "attempt_key": [0],
        **changes,
    }


def members(**changes: Any) -> dict[str, Any]:
    """Student 0 following one sequence without stored progress."""
    return {
        "sequences": (SequenceStructure(sequence_id="q", assignment_ids=()),),
        "member_student": [0],
        "member_sequence": [0],
        "member_stored": [False] * len(changes.get("member_student", [0])),
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        (
            attempts(attempt_student=[1]),
            "attempt_student[0]",
            "an index into student_ids",
        ),
        (attempts(attempted_at=[NAT]), "attempted_at[0]", "D2: a datetime"),
        (
            attempts(attempt_duration_ms=[-1]),
            "attempt_duration_ms[0]",
            "D2: a duration",
        ),
        (
            {"activity_student": [0], "activity_day": [3_000_000]},
            "activity_day[0]",
            "Q39: a day between",
        ),
        ({"previous_risk_rules": [40]}, "previous_risk_rules[0]", "D17: a set of"),
        (
            {"previous_risk_dismissed": [True]},
            "previous_risk_dismissed[0]",
            "a dismissal stands only",
        ),
        (
            members(member_sequence=[1]),
            "member_sequence[0]",
            "an index into sequences",
        ),
        (
            members(member_student=[0, 0], member_sequence=[0, 0]),
            "member_sequence[1]",
            "one entry per sequence",
        ),
        (
            members(kept_member=[0], kept_concept=("c",)),
            "kept_member[0]",
            "Q46: a concept kept by a stored",
        ),
        ({"kept_member": [0], "kept_concept": ()}, "kept_concept", "one value per"),
        ({"student_ids": (" ",)}, "student_ids", "D3: an id"),
        ({"organization_id": ""}, "organization_id", "D3: an id"),
        ({"structures": ("a1",)}, "structures", "an AssignmentStructure"),
    ],
)
def test_the_other_tables_are_checked(
    changes: dict[str, Any], field: str, rule: str
) -> None:
    """Attempts, activity days, stored risk states and sequences follow the
    rules of their records (D2, D3, D17, Q39, Q46)."""
    err = refused(**changes)
    assert err.field == field
    assert err.rule.startswith(rule)


def test_an_attempt_of_an_assignment_the_student_does_not_have_is_refused() -> None:
    """StudentHistory's rule: attempts are of a listed assignment."""
    other = attrs.evolve(STRUCTURE, assignment_id="a2")
    err = refused(structures=(STRUCTURE, other), **attempts(attempt_assignment=[1]))
    assert (err.field, err.value) == ("attempt_assignment[0]", "a2")


def test_student_ids_are_unique() -> None:
    err = refused(student_ids=("ada", "ada"), previous_risk_rules=[0, 0])
    assert (err.field, err.value) == ("student_ids", "ada")


# -- from_histories: one organization, and what it cannot carry ----------------------


def test_histories_of_two_organizations_are_refused() -> None:
    """D19: one table is one organization."""
    other = attrs.evolve(history(), student_id="bo", organization_id="org-x")
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([history(), other])
    assert (err.value.field, err.value.value) == ("organization_id", "org-x")
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([])
    assert err.value.field == "organization_id"


def test_histories_with_snapshots_are_refused() -> None:
    """The kernel computes no trends: snapshots would be silently unused."""
    snapshot = ProgressSnapshot(
        snapshot_id="x",
        snapshot_date=T0,
        student_id="ada",
        scope_type=ScopeType.STUDENT,
        scope_id="ada",
        state_snapshot={},
        metrics_snapshot={
            "completion_percentage": 0.0,
            "mastery_score": 0.0,
            "time_on_task_ms": 0,
        },
        trigger=SnapshotTrigger.SCHEDULED,
    )
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([history(snapshots=(snapshot,))])
    assert err.value.field == "snapshots"
    assert "trend_samples" in err.value.rule


def test_a_stored_risk_state_must_be_of_a_student_of_the_table() -> None:
    state = RiskState(
        student_id="bo", at_risk=True, rules=(RiskRule.PACING,), factors=("x",)
    )
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([history()], previous_risk={"bo": state})
    assert (err.value.field, err.value.value) == ("previous_risk", "bo")
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([history()], previous_risk={"ada": state})
    assert err.value.rule == "the stored RiskState of that student"


def test_sequences_and_their_kept_concepts_are_carried() -> None:
    """Each sequence a student follows is a row; a stored progress keeps its
    mastered concepts (Q46)."""
    from mlc_progress import SequenceProgress

    sequence = SequenceStructure(sequence_id="q", assignment_ids=("a1",))
    stored = SequenceProgress(
        sequence_id="q",
        student_id="ada",
        started_at=T0,
        concepts_mastered=("c1", "c2"),
    )
    columns = StepColumns.from_histories(
        [history(sequences=(SequenceRecords(structure=sequence, progress=stored),))]
    )
    assert columns.member_stored.tolist() == [True]
    assert columns.kept_concept == ("c1", "c2")
    assert columns.kept_member.tolist() == [0, 0]


def test_totals_that_would_not_fit_in_64_bits_are_refused() -> None:
    """Python's integers do not overflow; int64 sums would, so the table
    refuses times whose total could pass 2**62 rather than wrap."""
    err = refused(time_on_task_ms=np.full(5, 2**61, dtype=np.int64))
    assert (err.field, err.value) == ("time_on_task_ms", 2**61)
    assert err.rule.startswith("columnar: the total time")


def test_a_pacing_window_past_year_9999_is_refused() -> None:
    """D15: a window ending after datetime's range cannot be paced; the
    table takes the structure, and summarize_columns refuses an assigned
    group that needs that end (no extension, or an extension moving the
    next step's due date, D8), naming the group."""
    far = AssignmentStructure(
        assignment_id="a1",
        created_at=datetime(9999, 6, 1, tzinfo=UTC),
        estimated_duration=timedelta(days=400),
        steps=STRUCTURE.steps,
    )
    with pytest.raises(OverflowError):
        far.window_end()
    as_of = datetime(9999, 6, 3, tzinfo=UTC)
    extended = AssignmentProgress(
        assignment_id="a1",
        student_id="ada",
        due_at_override=datetime(9999, 7, 1, tzinfo=UTC),
    )
    for stored in (None, extended):
        one = StudentHistory(
            student_id="ada",
            organization_id=ORG,
            assignments=(AssignmentRecords(structure=far, progress=stored),),
        )
        columns = StepColumns.from_histories([one])
        with pytest.raises(InvalidInputError) as err:
            summarize_columns(columns, as_of=as_of)
        assert err.value.field == "group_assignment[0]"
        assert err.value.rule.startswith("D15")
        with pytest.raises(InvalidInputError) as record_error:
            summarize_student(one, as_of=as_of, run_id="r")
        assert record_error.value.rule == err.value.rule
