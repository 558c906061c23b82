"""What the column table takes in, and the typed errors of its edges.

Integer columns of any width or sign give the int64 columns' figures: signed
ones are kept as given, unsigned ones held in a signed dtype, activity days
as int64 (Q133); what
int64 or float64 cannot hold exactly is refused as a limit of the table
(Q132); a column that is not an ndarray is copied (Q134); groups the record
path computes without error the kernel computes too (D8, D15). Bad
arguments to the table, to the column helpers and to the results' accessors
are ``InvalidInputError`` naming the argument, never a bare built-in error.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import numpy as np
import pytest

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    InvalidInputError,
    MasteryLevel,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
)
from mlc_progress._columnar_build import columns_from_histories
from mlc_progress.batch import (
    AssignmentRecords,
    StudentHistory,
    StudentResult,
    summarize_student,
)
from mlc_progress.columnar import (
    NAT,
    ColumnSummaries,
    StepColumns,
    code_of,
    from_us,
    member_of,
    rule_bits,
    summarize_columns,
    to_us,
)
from mlc_progress.testing.equality import bitwise_equal

from .test_columnar_support import differences

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=3)
ORG = "o"
MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999


def structure(
    aid: str = "a",
    steps: int = 2,
    *,
    created_at: datetime = T0,
    first_due: datetime | None = None,
    **fields: Any,
) -> AssignmentStructure:
    return AssignmentStructure(
        assignment_id=aid,
        created_at=created_at,
        steps=tuple(
            StepDefinition(
                step_id=f"s{i}",
                element_id="g",
                stage=Stage.PLAY,
                target_score=80,
                due_at=first_due if i == 0 else None,
            )
            for i in range(steps)
        ),
        **fields,
    )


def played(
    step_id: str,
    when: datetime,
    *,
    score: float = 10.0,
    attempts: int = 1,
    cv: float | None = None,
    m2: float = 0.0,
) -> StepProgress:
    """A step of ``a`` played by ``u``: complete at 80 or more, else in
    progress."""
    done = score >= 80
    return StepProgress(
        step_id=step_id,
        assignment_id="a",
        student_id="u",
        state=StepState.COMPLETE if done else StepState.IN_PROGRESS,
        started_at=when,
        completed_at=when if done else None,
        last_activity_at=when,
        attempt_count=attempts,
        best_score=score,
        latest_score=score,
        target_score=80,
        passed=done,
        time_on_task_ms=1000,
        session_count=1,
        mastery_level=MasteryLevel.LEARNING,
        consistency_score=cv,
        score_mean=score,
        score_m2=m2,
        first_attempt_at=when,
        first_score=score,
        latest_attempt_at=when,
    )


def history(*records: AssignmentRecords, **fields: Any) -> StudentHistory:
    return StudentHistory(
        student_id="u", organization_id=ORG, assignments=records, **fields
    )


def one_step(step: StepProgress) -> StudentHistory:
    """``u`` with one record of a one-step assignment."""
    return history(AssignmentRecords(structure=structure(steps=1), steps=(step,)))


def table(histories: list[StudentHistory], **changes: Any) -> StepColumns:
    """The table of ``histories`` with some columns replaced."""
    return StepColumns(**{**columns_from_histories(histories), **changes})


def sparse(**changes: Any) -> StepColumns:
    """Two steps, a record for the first only: the keyed layout."""
    fields: dict[str, Any] = {
        "organization_id": ORG,
        "student_ids": ("u",),
        "structures": (structure(),),
        "group_student": [0],
        "group_assignment": [0],
        "step_group": [0],
        "step_index": [0],
        "state": np.array([1], dtype=np.int8),
        "target_score": [80.0],
    }
    return StepColumns(**{**fields, **changes})


def record_path(h: StudentHistory, as_of: datetime) -> StudentResult:
    return summarize_student(h, as_of=as_of, run_id="r")


def kernel_records(columns: StepColumns, as_of: datetime, student: str = "u") -> Any:
    return summarize_columns(columns, as_of=as_of).records(student)


# -- integer columns of any dtype give the int64 figures ---------------------------------

AS_OF = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("days", [2, 3])
def test_an_activity_day_column_of_any_integer_dtype_gives_the_record_paths_streak(
    dtype: type, days: int
) -> None:
    """D20, Q39: narrow activity days (Arrow's date32 is int32) give the
    streak and engagement of the record path."""
    h = history(
        activity_days=tuple(AS_OF.date() - timedelta(days=k) for k in range(days))
    )
    wide = columns_from_histories([h])
    narrow = table([h], activity_day=wide["activity_day"].astype(dtype))
    got = kernel_records(narrow, AS_OF)
    assert got.summary.streak_days == days
    assert differences(got, record_path(h, AS_OF)) == []


def test_narrow_signed_count_columns_near_their_limits_give_the_int64_figures() -> None:
    """Signed columns are kept as given (no copy), so the kernel widens
    before it adds: counts and times at the top of int8, int16 and int32
    give the int64 columns' figures and the record path's."""
    when = T0 + timedelta(days=1)
    steps = tuple(
        attrs.evolve(
            played(f"s{i}", when, score=90.0, attempts=32_767),
            time_on_task_ms=2**31 - 1,
            session_count=127,
        )
        for i in range(3)
    )
    h = history(AssignmentRecords(structure=structure(steps=3), steps=steps))
    wide = columns_from_histories([h])
    narrow = table(
        [h],
        attempt_count=wide["attempt_count"].astype(np.int16),
        time_on_task_ms=wide["time_on_task_ms"].astype(np.int32),
        session_count=wide["session_count"].astype(np.int8),
    )
    got = kernel_records(narrow, NOW)
    assert got.assignments[0].time_on_task_ms == 3 * (2**31 - 1)
    assert bitwise_equal(got, kernel_records(table([h]), NOW))
    assert differences(got, record_path(h, NOW)) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_unsigned_code_columns_give_the_signed_columns_figures(dtype: type) -> None:
    """Steps without a record are filled as locked (Q17) whatever the
    dtype of the codes."""
    signed = summarize_columns(sparse(), as_of=NOW).records("u")
    unsigned = sparse(
        state=np.array([1], dtype=dtype),
        mastery_level=np.array([0], dtype=dtype),
        completion_source=np.array([0], dtype=dtype),
        previous_risk_rules=np.array([0], dtype=dtype),
    )
    assert bitwise_equal(summarize_columns(unsigned, as_of=NOW).records("u"), signed)


def test_an_unsigned_code_past_its_enum_is_refused_not_wrapped() -> None:
    """A uint8 state of 255 is refused as 255, not read as -1 or 3."""
    with pytest.raises(InvalidInputError) as err:
        sparse(state=np.array([255], dtype=np.uint8))
    assert (err.value.field, err.value.value) == ("state[0]", 255)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.uint64])
def test_keys_of_any_integer_dtype_give_the_int64_keys_figures(dtype: type) -> None:
    """step_group and step_index of any integer dtype key the same rows."""
    signed = summarize_columns(sparse(), as_of=NOW).records("u")
    other = sparse(
        step_group=np.array([0], dtype=dtype), step_index=np.array([0], dtype=dtype)
    )
    assert bitwise_equal(summarize_columns(other, as_of=NOW).records("u"), signed)


@pytest.mark.parametrize("raw", [2**63, 2**63 + 7, 2**64 - 1])
@pytest.mark.parametrize("name", ["due_at_override", "started_at"])
def test_a_uint64_time_past_int64_is_refused_naming_the_row(
    raw: int, name: str
) -> None:
    """D2: a time past year 9999 is refused, not wrapped to a time of 1969
    or to NAT."""
    with pytest.raises(InvalidInputError) as err:
        sparse(**{name: np.array([raw], dtype=np.uint64)})
    assert (err.value.field, err.value.value) == (f"{name}[0]", raw)


def test_a_count_past_int64_is_refused_as_a_limit_of_the_table() -> None:
    """Q132: a count of 2**63 or more is valid for a record (D4) but int64
    cannot hold it: both ways into the table refuse it, naming the row."""
    big = 2**63 + 5
    when = T0 + timedelta(days=1)
    with pytest.raises(InvalidInputError) as err:
        table(
            [one_step(played("s0", when, attempts=6))],
            attempt_count=np.array([big], dtype=np.uint64),
        )
    assert (err.value.field, err.value.value) == ("attempt_count[0]", big)
    assert err.value.rule.startswith("columnar: an integer fits in 64 bits")
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([one_step(played("s0", when, attempts=big))])
    assert (err.value.field, err.value.value) == ("attempt_count[0]", big)
    assert err.value.rule.startswith("columnar: an integer fits in 64 bits")


def test_a_uint64_count_within_int64_gives_the_record_paths_struggle_factor() -> None:
    """D17: the largest count int64 holds is the factor's N, not a negative
    number that drops the factor."""
    most = 2**63 - 1
    when = T0 + timedelta(days=1)
    as_of = T0 + timedelta(days=2)
    expected = record_path(one_step(played("s0", when, attempts=most)), as_of)
    assert expected.risk.assessment.codes == (f"stuck_on_step_{most}_attempts",)
    columns = table(
        [one_step(played("s0", when, attempts=6))],
        attempt_count=np.array([most], dtype=np.uint64),
    )
    assert kernel_records(columns, as_of).assessed_factors == (
        expected.risk.assessment.codes
    )


# -- floats are taken only when float64 holds them ---------------------------------------


@pytest.mark.parametrize("cv", [2**53 + 1, 2**53 - 1, 10**300])
def test_an_integer_ratio_float64_cannot_hold_is_refused(cv: int) -> None:
    """Q132: the record path computes N = round(100 * cv) with Python's
    integers; the table refuses an integer cv when float64 would round cv
    or 100 * cv, naming the row, with one rule for records and columns."""
    step = played("s0", T0 + timedelta(days=1), attempts=3, cv=cv)
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([one_step(step)])
    assert (err.value.field, err.value.value) == ("consistency_score[0]", cv)
    from_records = err.value.rule
    column = np.array([cv if cv < 2**63 else 2**62 + 1], dtype=np.int64)
    with pytest.raises(InvalidInputError) as err:
        table(
            [one_step(attrs.evolve(step, consistency_score=1.0))],
            consistency_score=column,
        )
    assert err.value.field == "consistency_score[0]"
    assert err.value.rule == from_records


def test_an_integer_m2_float64_cannot_hold_is_refused() -> None:
    """Q132: score_m2 is a ratio (D5): an int float64 would round is
    refused."""
    step = played("s0", T0 + timedelta(days=1), attempts=3, m2=2**53 + 1)
    with pytest.raises(InvalidInputError) as err:
        StepColumns.from_histories([one_step(step)])
    assert (err.value.field, err.value.value) == ("score_m2[0]", 2**53 + 1)


@pytest.mark.parametrize("cv", [2**40 + 1, 7])
def test_an_integer_ratio_float64_holds_gives_the_record_paths_factor(cv: int) -> None:
    """D17: an integer cv that float64 holds, with 100 times it, gives the
    record path's N, from records and from an int64 column alike."""
    step = played("s0", T0 + timedelta(days=1), attempts=3, cv=cv)
    as_of = T0 + timedelta(days=2)
    expected = record_path(one_step(step), as_of)
    assert expected.risk.assessment.codes == (f"inconsistent_scores_cv_{100 * cv}",)
    got = kernel_records(StepColumns.from_histories([one_step(step)]), as_of)
    assert differences(got, expected) == []
    column = table([one_step(step)], consistency_score=np.array([cv], dtype=np.int64))
    assert kernel_records(column, as_of).assessed_factors == (
        expected.risk.assessment.codes
    )


def test_a_long_double_column_is_taken_only_when_float64_holds_it() -> None:
    """D1: a long double target just above 100 is not rounded to a valid
    100.0; one float64 holds is taken as it is."""
    above = np.array([100], dtype=np.longdouble) + np.longdouble("1e-17")
    if above[0] != np.float64(above[0]):
        with pytest.raises(InvalidInputError) as err:
            sparse(target_score=above)
        assert err.value.field == "target_score[0]"
    else:  # long double is float64 here: the value is 100.0 itself
        assert sparse(target_score=above).target_score.tolist() == [100.0]
    exact = sparse(target_score=np.array([80.0], dtype=np.longdouble))
    assert exact.target_score.dtype == np.float64
    assert exact.target_score.tolist() == [80.0]


# -- what is handed over ------------------------------------------------------------------


@pytest.mark.parametrize("copy", [True, False])
def test_a_column_given_as_a_buffer_is_copied(copy: bool) -> None:
    """Q134: only an ndarray is handed over; a buffer stays the caller's,
    and changing it cannot change the checked table."""
    state = bytearray([1])
    target = array.array("d", [80.0])
    columns = sparse(state=state, target_score=memoryview(target), copy=copy)
    state[0] = 9
    target[0] = 250.0
    assert columns.state.tolist() == [1]
    assert columns.target_score.tolist() == [80.0]


# -- groups the record path computes -------------------------------------------------------


def both(h: StudentHistory, as_of: datetime) -> None:
    got = kernel_records(StepColumns.from_histories([h]), as_of)
    assert differences(got, record_path(h, as_of)) == []


def moved_past_9999() -> StudentHistory:
    """An extension to 9999-12-01 moving the first step's due date (a year
    after the assignment's) past year 9999 (D8)."""
    unit = structure(
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
        due_at=datetime(2030, 2, 1, tzinfo=UTC),
        first_due=datetime(2031, 1, 1, tzinfo=UTC),
    )
    stored = AssignmentProgress(
        assignment_id="a",
        student_id="u",
        due_at_override=datetime(9999, 12, 1, tzinfo=UTC),
    )
    return history(AssignmentRecords(structure=unit, progress=stored))


def test_a_moved_due_date_of_an_unassigned_group_is_not_refused() -> None:
    """D8: a group created after as_of is not computed, so its moved due
    date past year 9999 is never needed."""
    both(moved_past_9999(), as_of=datetime(2029, 6, 1, tzinfo=UTC))


def test_a_moved_due_date_of_an_assigned_group_is_refused_by_both_paths() -> None:
    """D8: once assigned, the moved date is needed; neither path can hold
    it, and both refuse it with the same rule."""
    h = moved_past_9999()
    as_of = datetime(2030, 1, 2, tzinfo=UTC)
    with pytest.raises(InvalidInputError) as err:
        summarize_columns(StepColumns.from_histories([h]), as_of=as_of)
    assert err.value.field == "due_at_override[0]"
    with pytest.raises(InvalidInputError) as record_error:
        record_path(h, as_of)
    assert record_error.value.rule == err.value.rule


FAR = structure(
    steps=1,
    created_at=datetime(9999, 6, 1, tzinfo=UTC),
    estimated_duration=timedelta(days=400),
)


def test_a_window_past_year_9999_of_an_unassigned_group_is_not_refused() -> None:
    """D15: the window of a group created after as_of is never needed."""
    both(
        history(AssignmentRecords(structure=FAR)),
        as_of=datetime(2030, 1, 1, tzinfo=UTC),
    )


def test_a_window_past_year_9999_under_an_override_is_not_refused() -> None:
    """D8, D15: with an extension and no next step the structure's own
    window end is never needed."""
    stored = AssignmentProgress(
        assignment_id="a",
        student_id="u",
        status=AssignmentStatus.NOT_STARTED,
        due_at_override=datetime(9999, 7, 1, tzinfo=UTC),
    )
    done = played("s0", datetime(9999, 6, 2, tzinfo=UTC), score=90.0)
    both(
        history(AssignmentRecords(structure=FAR, progress=stored, steps=(done,))),
        as_of=datetime(9999, 6, 3, tzinfo=UTC),
    )


# -- typed errors at the edges ------------------------------------------------------------


def _ragged(name: str) -> Callable[[], object]:
    return lambda: sparse(**{name: [[1], [1, 2]]})


TABLE_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("ragged state", _ragged("state"), "state"),
    ("ragged target", _ragged("target_score"), "target_score"),
    ("ragged started_at", _ragged("started_at"), "started_at"),
    ("student_ids 5", lambda: sparse(student_ids=5), "student_ids"),
    ("student_ids str", lambda: sparse(student_ids="u"), "student_ids"),
    ("structures 5", lambda: sparse(structures=5), "structures"),
    ("sequences 5", lambda: sparse(sequences=5), "sequences"),
    ("kept_concept 5", lambda: sparse(kept_concept=5), "kept_concept"),
    ("histories 5", lambda: StepColumns.from_histories(5), "histories"),  # type: ignore[arg-type]
    (
        "previous_risk 5",
        lambda: StepColumns.from_histories(
            [history()],
            previous_risk=5,  # type: ignore[arg-type]
        ),
        "previous_risk",
    ),
]


@pytest.mark.parametrize(
    ("call", "field"),
    [(c, f) for _, c, f in TABLE_CASES],
    ids=[n for n, _, _ in TABLE_CASES],
)
def test_bad_arguments_to_the_table_are_typed_errors(
    call: Callable[[], object], field: str
) -> None:
    """A ragged column or an argument that is no sequence is refused
    naming the argument."""
    with pytest.raises(InvalidInputError) as err:
        call()
    assert err.value.field == field


def two_groups() -> ColumnSummaries:
    """One student with two assigned groups."""
    h = history(
        AssignmentRecords(structure=structure("a")),
        AssignmentRecords(structure=structure("b")),
    )
    return summarize_columns(StepColumns.from_histories([h]), as_of=NOW)


ACCESSOR_CASES: list[tuple[str, Callable[[ColumnSummaries], object], str]] = [
    ("group 2", lambda r: r.assignment_progress(2), "group"),
    ("group -1", lambda r: r.assignment_progress(-1), "group"),
    ("group -2", lambda r: r.assignment_progress(-2), "group"),
    ("group 'x'", lambda r: r.assignment_progress("x"), "group"),  # type: ignore[arg-type]
    ("group True", lambda r: r.assignment_progress(True), "group"),
    ("group 0.0", lambda r: r.assignment_progress(0.0), "group"),  # type: ignore[arg-type]
    ("student 1", lambda r: r.records(1), "student"),
    ("student -1", lambda r: r.records(-1), "student"),
    ("student 0.5", lambda r: r.records(0.5), "student"),  # type: ignore[arg-type]
    ("student None", lambda r: r.records(None), "student"),  # type: ignore[arg-type]
    ("student False", lambda r: r.summary(False), "student"),
    ("summary [0]", lambda r: r.summary([0]), "student"),  # type: ignore[arg-type]
    ("factors 'x'", lambda r: r.assessed_factors("x"), "student_id"),
]


@pytest.mark.parametrize(
    ("call", "field"),
    [(c, f) for _, c, f in ACCESSOR_CASES],
    ids=[n for n, _, _ in ACCESSOR_CASES],
)
def test_a_bad_group_or_student_is_a_typed_error(
    call: Callable[[ColumnSummaries], object], field: str
) -> None:
    """A position is an int from 0 within the table, never counted from the
    end; anything else is refused naming the argument."""
    with pytest.raises(InvalidInputError) as err:
        call(two_groups())
    assert err.value.field == field


def test_numpy_integer_positions_are_accepted() -> None:
    """Positions read from the figures' arrays (numpy integers) work."""
    result = two_groups()
    assert result.records(np.int64(0)) == result.records(0)
    assert result.assignment_progress(np.intp(1)) == result.assignment_progress(1)
    assert result.assignment_progress(1).assignment_id == "b"


HELPER_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("to_us naive", lambda: to_us(datetime(2026, 1, 1)), "moment"),
    ("to_us date", lambda: to_us(date(2026, 1, 1)), "moment"),  # type: ignore[arg-type]
    ("from_us 2**62", lambda: from_us(2**62), "value"),
    ("from_us past 9999", lambda: from_us(MAX_US + 1), "value"),
    ("from_us before 1", lambda: from_us(MIN_US - 1), "value"),
    ("from_us float", lambda: from_us(1.5), "value"),  # type: ignore[arg-type]
    ("from_us bool", lambda: from_us(True), "value"),
    ("member_of 4", lambda: member_of(StepState, 4), "code"),
    ("member_of -1", lambda: member_of(StepState, -1), "code"),
    ("member_of str", lambda: member_of(StepState, "0"), "code"),  # type: ignore[arg-type]
    ("member_of kind", lambda: member_of(str, 0), "kind"),  # type: ignore[type-var]
    ("code_of str", lambda: code_of("locked"), "member"),  # type: ignore[arg-type]
    ("rule_bits [1]", lambda: rule_bits([1]), "rules"),  # type: ignore[list-item]
    ("rule_bits 5", lambda: rule_bits(5), "rules"),  # type: ignore[arg-type]
    ("rule_bits str", lambda: rule_bits("pacing"), "rules"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("call", "field"),
    [(c, f) for _, c, f in HELPER_CASES],
    ids=[n for n, _, _ in HELPER_CASES],
)
def test_a_column_helper_refuses_bad_input_with_a_typed_error(
    call: Callable[[], object], field: str
) -> None:
    """D2: times are aware and within datetime's range; codes are within
    their enum, members are members, rules are rules."""
    with pytest.raises(InvalidInputError) as err:
        call()
    assert err.value.field == field


def test_the_column_helpers_take_the_edges_and_numpy_integers() -> None:
    """The first and last microsecond round trip; an aware time in another
    zone is its UTC instant; numpy integers are codes and times."""
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert (to_us(first), to_us(last)) == (MIN_US, MAX_US)
    assert from_us(np.int64(MIN_US)) == first
    assert from_us(MAX_US) == last
    assert from_us(np.int64(NAT)) is None
    east = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert to_us(east) == to_us(T0)
    assert member_of(StepState, np.int8(3)) is StepState.COMPLETE
    assert code_of(StepState.COMPLETE) == 3
