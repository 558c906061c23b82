"""The columnar kernel equals the record path, figure for figure.

Properties hold every figure of ``summarize_columns`` (each assignment's
progress, the summary, the assessed D17 factors, the dismissal and the
change of flag) equal to ``summarize_student``'s, floats bit for bit, over
generated organizations and with the chunk sizes varied so that chunk
boundaries fall everywhere. Examples pin the edge cases; the validation
tests are in ``tests/test_columnar_validation.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentProgress,
    AssignmentStatus,
    AssignmentStructure,
    InvalidInputError,
    Stage,
    StepDefinition,
    StepProgress,
    StepState,
)
from mlc_progress import _columnar_columns as table_module
from mlc_progress import _columnar_kernel as kernel_module
from mlc_progress._columnar_fields import STEP_FIELDS
from mlc_progress.batch import (
    AssignmentRecords,
    RiskDismissal,
    RiskRule,
    RiskState,
    StudentHistory,
    summarize_student,
)
from mlc_progress.columnar import (
    NAT,
    StepColumns,
    code_of,
    from_us,
    member_of,
    rule_bits,
    summarize_columns,
    to_us,
)
from mlc_progress.testing import strategies as ms

from .test_columnar_support import (
    ORG,
    Organization,
    differences,
    organizations,
    record_path,
)

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def kernel(org: Organization, **sizes: int) -> dict[str, Any]:
    """The kernel's records of every student, with the chunk sizes given."""
    saved = (
        kernel_module._CHUNK_CELLS,
        table_module._CHUNK_ROWS,
        kernel_module._CONCEPT_WORDS,
    )
    kernel_module._CHUNK_CELLS = sizes.get("cells", saved[0])
    table_module._CHUNK_ROWS = sizes.get("rows", saved[1])
    kernel_module._CONCEPT_WORDS = sizes.get("words", saved[2])
    try:
        columns = StepColumns.from_histories(
            org.histories, organization_id=ORG, previous_risk=org.previous
        )
        result = summarize_columns(columns, as_of=org.as_of, policy=org.policy)
        return {r.student_id: r for r in result.to_records()}
    finally:
        (
            kernel_module._CHUNK_CELLS,
            table_module._CHUNK_ROWS,
            kernel_module._CONCEPT_WORDS,
        ) = saved


def assert_equal_paths(org: Organization, **sizes: int) -> None:
    expected = record_path(org)
    got = kernel(org, **sizes)
    assert set(got) == set(expected)
    for sid, result in expected.items():
        assert differences(got[sid], result) == [], sid


# -- the law ----------------------------------------------------------------------


@given(
    organizations(max_students=4),
    st.sampled_from([1, 2, 3, 7, 64, 1 << 16]),
    st.sampled_from([1, 2, 5, 1 << 16]),
    st.sampled_from([0, 1, 4]),
)
def test_the_kernel_equals_the_record_path_figure_for_figure(
    org: Organization, cells: int, rows: int, words: int
) -> None:
    """For any organization, policy and moment, every kernel figure equals
    ``summarize_student``'s, floats bit for bit, whatever the chunk sizes and
    whether concepts are held as bits or as pairs."""
    assert_equal_paths(org, cells=cells, rows=rows, words=words)


@given(organizations(max_students=4), st.data())
def test_a_standing_dismissal_hides_the_flag_as_the_record_path_does(
    org: Organization, data: st.DataObject
) -> None:
    """Stored states dismissing exactly the assessed rules keep the flag
    dismissed (D17, Q51): effective flag, factors and change of flag equal
    the record path's."""
    first = record_path(org)
    previous = dict(org.previous)
    for sid, result in first.items():
        assessment = result.risk.assessment
        if assessment.at_risk and data.draw(st.booleans()):
            previous[sid] = RiskState(
                student_id=sid,
                at_risk=True,
                rules=assessment.rules,
                factors=assessment.codes,
                dismissal=RiskDismissal(
                    dismissal_id="d",
                    student_id=sid,
                    actor_id="t",
                    reason="trip",
                    dismissed_at=org.as_of,
                    rules=assessment.rules,
                    factors=assessment.codes,
                ),
            )
    assert_equal_paths(attrs.evolve(org, previous=previous))


@given(
    st.lists(
        st.lists(ms.scores() | st.sampled_from([0.0, 0.1, 99.9, 5e-324]), max_size=9),
        min_size=1,
        max_size=20,
    )
)
def test_exact_row_sums_equal_math_fsum(rows: list[list[float]]) -> None:
    """The kernel's exact sums are ``math.fsum``, bit for bit (D17's mean)."""
    width = max(len(r) for r in rows)
    values = np.array([r + [0.0] * (width - len(r)) for r in rows]).reshape(
        len(rows), width
    )
    got = kernel_module._exact_sums(values)
    assert [repr(x) for x in got.tolist()] == [repr(math.fsum(r)) for r in rows]


@given(
    ms.utc_datetimes(),
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False, exclude_min=True)
    | st.sampled_from([0.5 / 604_800_000_000, 1.5 / 604_800_000_000, 2.0, 1e6]),
)
def test_projected_dates_equal_datetime_arithmetic(
    as_of: datetime, weeks: float
) -> None:
    """``as_of + timedelta(weeks=w)`` in microseconds, halves to even, and
    NaT where the date overflows (D15: the record path's None)."""
    try:
        expected = to_us(as_of + timedelta(weeks=weeks))
    except OverflowError:
        expected = NAT
    got = kernel_module._weeks_after(to_us(as_of), np.array([weeks]))
    assert int(got[0]) == expected


@given(st.floats(min_value=0.0, max_value=1e15, allow_nan=False))
def test_rounding_is_half_away_from_zero_as_the_decimal_rule(value: float) -> None:
    """D17's N: the kernel's rounding equals rounding the decimal text."""
    expected = int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    got = kernel_module._round_half_away(np.array([value]))
    assert int(got[0]) == expected


# -- builders for the examples -----------------------------------------------------


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def definition(
    step_id: str, stage: Stage = Stage.PLAY, *, optional: bool = False
) -> StepDefinition:
    return StepDefinition(
        step_id=step_id,
        element_id=f"game-{step_id}",
        stage=stage,
        target_score=80.0,
        optional=optional,
        concepts=(f"concept-{step_id}",),
    )


def played(
    structure: AssignmentStructure,
    step_id: str,
    best: float,
    when: datetime,
    *,
    student: str = "ada",
    attempts: int = 1,
) -> StepProgress:
    """A step played ``attempts`` times, all scoring ``best``, complete when
    the score meets the target."""
    complete = best >= 80.0
    return StepProgress(
        step_id=step_id,
        assignment_id=structure.assignment_id,
        student_id=student,
        state=StepState.COMPLETE if complete else StepState.IN_PROGRESS,
        started_at=when,
        completed_at=when if complete else None,
        last_activity_at=when,
        attempt_count=attempts,
        best_score=best,
        latest_score=best,
        target_score=80.0,
        passed=complete,
        time_on_task_ms=60_000 * attempts,
        session_count=1,
        consistency_score=0.0,
        score_mean=best,
        first_attempt_at=when,
        first_score=best,
        latest_attempt_at=when,
    )


UNIT = AssignmentStructure(
    assignment_id="fractions",
    created_at=T0,
    due_at=at(20),
    steps=(
        definition("learn", Stage.LEARN),
        definition("play"),
        definition("quiz", Stage.QUIZ),
        definition("extra", optional=True),
    ),
)


def organization(
    histories: list[StudentHistory], as_of: datetime, **previous: RiskState
) -> Organization:
    from mlc_progress import DEFAULT_POLICY

    return Organization(
        histories=tuple(histories),
        previous=dict(previous),
        policy=DEFAULT_POLICY,
        as_of=as_of,
    )


def history(
    *records: AssignmentRecords, student: str = "ada", **fields: Any
) -> StudentHistory:
    return StudentHistory(
        student_id=student, organization_id=ORG, assignments=records, **fields
    )


# -- examples ---------------------------------------------------------------------------


def test_a_worked_example_gives_the_record_paths_figures() -> None:
    """One student halfway through an assignment: completion 2 of 3
    required steps, stage-weighted mastery (D12), the next step (D14); the
    optional step has no record yet (Q17)."""
    quiz = StepProgress(
        step_id="quiz",
        assignment_id="fractions",
        student_id="ada",
        state=StepState.AVAILABLE,
        target_score=80.0,
    )
    steps = (
        played(UNIT, "learn", 90.0, at(1)),
        played(UNIT, "play", 85.0, at(2)),
        quiz,
    )
    org = organization([history(AssignmentRecords(structure=UNIT, steps=steps))], at(5))
    assert_equal_paths(org)
    progress = kernel(org)["ada"].assignments[0]
    assert progress.completion_percentage == pytest.approx(200 / 3)
    assert progress.mastery_score == pytest.approx((0.5 * 90 + 85) / 3.5)
    assert progress.next_step_id == "quiz"


def test_an_empty_table_gives_no_figures() -> None:
    """No students: empty results, and no records."""
    columns = StepColumns.from_histories([], organization_id=ORG)
    result = summarize_columns(columns, as_of=T0)
    assert result.to_records() == ()
    assert len(result.students.at_risk) == 0


def test_students_without_assignments_or_records_are_summarized() -> None:
    """A student with nothing and one with only untouched assignments
    (Q17): not started, and D17's engagement rule counts from creation."""
    org = organization(
        [
            history(student="ada"),
            history(AssignmentRecords(structure=UNIT), student="bo"),
        ],
        at(30),
    )
    assert_equal_paths(org)
    records = kernel(org)
    assert records["ada"].summary.active_assignments == 0
    assert records["bo"].assessed_factors[-1] == "inactive_30_days"


def test_an_assignment_created_after_as_of_is_not_assigned() -> None:
    """Only assignments created by ``as_of`` count; an attempt of a later
    one still shows as activity (Q39)."""
    later = attrs.evolve(UNIT, assignment_id="later", created_at=at(10), due_at=at(30))
    org = organization(
        [
            history(
                AssignmentRecords(structure=UNIT),
                AssignmentRecords(structure=later),
            )
        ],
        at(5),
    )
    assert_equal_paths(org)
    assert [p.assignment_id for p in kernel(org)["ada"].assignments] == ["fractions"]


def test_archived_and_extended_assignments_follow_the_stored_record() -> None:
    """The stored progress record archives (D14) or extends the due date
    (D8); the next step's due date moves with the extension."""
    stepped = attrs.evolve(
        UNIT, steps=tuple(attrs.evolve(d, due_at=at(10)) for d in UNIT.steps)
    )
    archived = AssignmentProgress(
        assignment_id="fractions", student_id="ada", status=AssignmentStatus.ARCHIVED
    )
    extended = AssignmentProgress(
        assignment_id="fractions", student_id="bo", due_at_override=at(30)
    )
    org = organization(
        [
            history(AssignmentRecords(structure=stepped, progress=archived)),
            history(
                AssignmentRecords(structure=stepped, progress=extended), student="bo"
            ),
        ],
        at(5),
    )
    assert_equal_paths(org)
    records = kernel(org)
    assert records["ada"].assignments[0].status is AssignmentStatus.ARCHIVED
    assert records["bo"].assignments[0].next_step_due_at == at(20)


def test_steps_completed_at_the_same_moment_are_ordered_by_id() -> None:
    """D17's mastery rule takes the last five completed steps; a tie at the
    threshold moment goes by (assignment_id, step_id), as heapq.nlargest."""
    steps = tuple(
        StepDefinition(
            step_id=f"s{i}", element_id="g", stage=Stage.PLAY, target_score=10.0
        )
        for i in range(8)
    )
    structure = AssignmentStructure(
        assignment_id="drill", created_at=T0, due_at=at(20), steps=steps
    )
    scores = [95.0, 12.0, 15.0, 90.0, 20.0, 85.0, 11.0, 13.0]
    records = tuple(
        attrs.evolve(
            played(structure, f"s{i}", score, at(1)),
            target_score=10.0,
            passed=True,
            state=StepState.COMPLETE,
            completed_at=at(2) if i < 6 else at(1),
        )
        for i, score in enumerate(scores)
    )
    org = organization(
        [history(AssignmentRecords(structure=structure, steps=records))], at(3)
    )
    assert_equal_paths(org)
    assert any(
        f.startswith("low_mastery_avg_") for f in kernel(org)["ada"].assessed_factors
    )


def test_a_streak_longer_than_a_window_reads_the_next_one() -> None:
    """D20: 150 consecutive days of activity give a streak of 150 (the
    kernel's 64-day windows chain)."""
    days = tuple(date(2026, 9, 1) + timedelta(days=i) for i in range(150))
    org = organization([history(activity_days=days)], at(149.5))
    assert_equal_paths(org)
    assert kernel(org)["ada"].summary.streak_days == 150


def test_a_streak_of_step_activity_longer_than_a_window_reads_the_next_one() -> None:
    """D20 from step records alone: a step started each day for 100 days
    gives a streak of 100, also when the records are read in chunks."""
    steps = tuple(
        StepDefinition(
            step_id=f"d{i:03d}", element_id="g", stage=Stage.PLAY, target_score=80.0
        )
        for i in range(100)
    )
    long = AssignmentStructure(
        assignment_id="daily", created_at=T0, due_at=at(120), steps=steps
    )
    records = tuple(played(long, f"d{i:03d}", 50.0, at(i + 0.5)) for i in range(100))
    org = organization(
        [history(AssignmentRecords(structure=long, steps=records))], at(99.75)
    )
    assert_equal_paths(org)
    assert_equal_paths(org, cells=7)
    assert kernel(org)["ada"].summary.streak_days == 100


def test_the_dense_layout_without_keys_equals_the_keyed_layout() -> None:
    """Rows given as every step of every group, in order, need no keys and
    give the same figures."""
    steps = tuple(
        played(UNIT, d.step_id, 70.0 + 5 * i, at(i + 1))
        for i, d in enumerate(UNIT.steps)
    )
    keyed = StepColumns.from_histories(
        [history(AssignmentRecords(structure=UNIT, steps=steps))]
    )
    assert keyed.dense
    fields: dict[str, Any] = {
        name: getattr(keyed, name)
        for name in (*STEP_FIELDS, "group_student", "group_assignment")
    }
    bare = StepColumns(
        organization_id=ORG, student_ids=("ada",), structures=(UNIT,), **fields
    )
    one = summarize_columns(keyed, as_of=at(9)).to_records()
    two = summarize_columns(bare, as_of=at(9)).to_records()
    assert one == two


def test_datetime64_columns_equal_microsecond_columns() -> None:
    """Times may be given as datetime64 of any unit that converts exactly."""
    steps = (played(UNIT, "learn", 90.0, at(1)),)
    columns = StepColumns.from_histories(
        [history(AssignmentRecords(structure=UNIT, steps=steps))]
    )
    started = columns.started_at.astype("datetime64[us]").astype("datetime64[s]")
    other = StepColumns(
        organization_id=ORG,
        student_ids=columns.student_ids,
        structures=columns.structures,
        group_student=columns.group_student,
        group_assignment=columns.group_assignment,
        step_group=columns.step_group,
        step_index=columns.step_index,
        state=columns.state,
        target_score=columns.target_score,
        started_at=started,
        completed_at=columns.completed_at.astype("datetime64[us]"),
        last_activity_at=columns.last_activity_at,
        attempt_count=columns.attempt_count,
        best_score=columns.best_score,
        latest_score=columns.latest_score,
        passed=columns.passed,
        time_on_task_ms=columns.time_on_task_ms,
        session_count=columns.session_count,
        consistency_score=columns.consistency_score,
        score_mean=columns.score_mean,
        first_attempt_at=columns.first_attempt_at,
        first_score=columns.first_score,
        latest_attempt_at=columns.latest_attempt_at,
    )
    assert np.array_equal(other.started_at, columns.started_at)
    assert (
        summarize_columns(other, as_of=at(3)).to_records()
        == summarize_columns(columns, as_of=at(3)).to_records()
    )


def test_windows_reaching_before_year_one_are_refused_by_both_paths() -> None:
    """Where the velocity window (D15) or the week (Q37) before as_of
    reaches before year 1, both paths refuse with the same typed error."""
    from mlc_progress import Policy

    h = history(AssignmentRecords(structure=UNIT))
    columns = StepColumns.from_histories([h])
    policy = Policy(velocity_window_days=800_000)
    with pytest.raises(InvalidInputError) as err:
        summarize_student(h, as_of=at(5), run_id="r", policy=policy)
    assert err.value.field == "velocity_window_days"
    with pytest.raises(InvalidInputError) as err:
        summarize_columns(columns, as_of=at(5), policy=policy)
    assert err.value.field == "velocity_window_days"
    # Nothing assigned yet: the record path computes nothing to overflow.
    early = T0 - timedelta(days=1)
    assert summarize_student(h, as_of=early, run_id="r", policy=policy)
    assert summarize_columns(columns, as_of=early, policy=policy).to_records()
    with pytest.raises(InvalidInputError) as err:
        summarize_columns(columns, as_of=datetime(1, 1, 3, tzinfo=UTC))
    assert err.value.field == "as_of"
    with pytest.raises(InvalidInputError) as err:
        summarize_student(h, as_of=datetime(1, 1, 3, tzinfo=UTC), run_id="r")
    assert err.value.field == "as_of"


def test_to_records_gives_one_student_or_all() -> None:
    """``to_records`` by id gives that student's records only; an unknown
    student or an unassigned group is refused."""
    org = organization(
        [
            history(AssignmentRecords(structure=UNIT)),
            history(student="bo"),
        ],
        at(1),
    )
    columns = StepColumns.from_histories(org.histories)
    result = summarize_columns(columns, as_of=at(1))
    assert [r.student_id for r in result.to_records("bo")] == ["bo"]
    assert result.records(0) == result.to_records("ada")[0]
    with pytest.raises(InvalidInputError) as err:
        result.records("nobody")
    assert err.value.field == "student_id"
    late = summarize_columns(columns, as_of=T0 - timedelta(days=1))
    with pytest.raises(InvalidInputError) as err:
        late.assignment_progress(0)
    assert err.value.field == "group"


def test_the_risk_state_columns_are_the_stored_states() -> None:
    """A stored dismissal is kept as the rules it dismissed and a flag."""
    state = RiskState(
        student_id="ada",
        at_risk=True,
        rules=(RiskRule.ENGAGEMENT,),
        factors=("inactive_9_days",),
        dismissal=RiskDismissal(
            dismissal_id="d",
            student_id="ada",
            actor_id="t",
            reason="trip",
            dismissed_at=T0,
            rules=(RiskRule.ENGAGEMENT,),
            factors=("inactive_9_days",),
        ),
    )
    columns = StepColumns.from_histories([history()], previous_risk={"ada": state})
    assert columns.previous_risk_rules.tolist() == [rule_bits(state.rules)] == [4]
    assert columns.previous_risk_dismissed.tolist() == [True]


def test_codes_and_times_round_trip() -> None:
    """Enumeration codes are positions; times are microseconds, NaT none."""
    assert member_of(StepState, code_of(StepState.IN_PROGRESS)) is StepState.IN_PROGRESS
    assert from_us(to_us(at(1.5))) == at(1.5)
    assert from_us(NAT) is None


def test_the_table_is_immutable_and_its_columns_read_only() -> None:
    """Validated once, the table cannot change: no attribute is set and no
    column is written through it."""
    columns = StepColumns.from_histories([history()])
    with pytest.raises(AttributeError):
        columns.organization_id = "other"
    with pytest.raises(ValueError, match="read-only"):
        columns.group_student[:] = 0
    assert "students=1" in repr(columns)


@pytest.mark.parametrize("cells", [997, 1 << 16])
def test_a_synthetic_school_gives_the_record_paths_figures(cells: int) -> None:
    """A reproducible school of 120 students x 12 assignments x 10 steps
    (steps never reached have no record), at three moments of the term,
    in one chunk and in many."""
    from mlc_progress import DEFAULT_POLICY
    from mlc_progress._synthetic import synthetic_histories, synthetic_structures

    end = datetime(2026, 11, 1, tzinfo=UTC)
    structures = synthetic_structures(assignments=12, steps=10, as_of=end)
    histories = tuple(
        synthetic_histories(
            structures, students=120, as_of=end, organization_id=ORG, seed=11
        )
    )
    for as_of in (end - timedelta(days=40), end - timedelta(days=3), end):
        org = Organization(
            histories=histories, previous={}, policy=DEFAULT_POLICY, as_of=as_of
        )
        assert_equal_paths(org, cells=cells)


def test_core_imports_and_works_without_numpy() -> None:
    """numpy is an extra: the core imports and summarizes without it, and
    importing the columnar module says which extra to install."""
    code = (
        "import sys\n"
        "sys.modules['numpy'] = None\n"
        "from datetime import datetime, UTC\n"
        "import mlc_progress\n"
        "from mlc_progress.batch import StudentHistory, summarize_student\n"
        "h = StudentHistory(student_id='u', organization_id='o')\n"
        "r = summarize_student(h, as_of=datetime(2026, 1, 1, tzinfo=UTC), run_id='r')\n"
        "assert r.summary.engagement_score == 0.0\n"
        "try:\n"
        "    import mlc_progress.columnar\n"
        "except ImportError as err:\n"
        "    print(err)\n"
        "else:\n"
        "    raise SystemExit('imported without numpy')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'mlc-progress[columnar]'" in done.stdout


def _one_row(**more: Any) -> tuple[StepColumns, np.ndarray]:
    """A one-row table whose ``best_score`` column is the returned array."""
    best = np.array([0.0])
    table = StepColumns(
        organization_id=ORG,
        student_ids=("ada",),
        structures=(UNIT,),
        group_student=[0],
        group_assignment=[0],
        step_group=[0],
        step_index=[0],
        state=np.array([1], dtype=np.int8),
        target_score=[UNIT.steps[0].target_score],
        best_score=best,
        **more,
    )
    return table, best


def test_a_table_copies_what_it_checked_and_the_caller_keeps_their_arrays() -> None:
    """By default the checked columns are copied: a later change to the
    caller's array cannot put an invalid score into the table (D1)."""
    table, best = _one_row()
    best[0] = 250.0
    assert table.best_score[0] == 0.0
    assert not np.shares_memory(table.best_score, best)


def test_arrays_handed_over_without_a_copy_become_read_only() -> None:
    """``copy=False`` saves the copy by taking the arrays over: writing
    through them afterwards raises instead of changing checked figures."""
    table, best = _one_row(copy=False)
    assert np.shares_memory(table.best_score, best)
    with pytest.raises(ValueError, match="read-only"):
        best[0] = 250.0
    assert table.best_score[0] == 0.0


def test_copy_is_a_flag() -> None:
    """``copy`` must be a boolean, named in the error."""
    with pytest.raises(InvalidInputError) as error:
        _one_row(copy="no")
    assert error.value.field == "copy"


def test_arrays_handed_over_to_a_refused_table_stay_the_callers() -> None:
    """A table refused by its checks takes nothing over: the caller's
    arrays stay writable."""
    best = np.array([250.0])
    with pytest.raises(InvalidInputError):
        StepColumns(
            copy=False,
            organization_id=ORG,
            student_ids=("ada",),
            structures=(UNIT,),
            group_student=[0],
            group_assignment=[0],
            step_group=[0],
            step_index=[0],
            state=np.array([1], dtype=np.int8),
            target_score=[UNIT.steps[0].target_score],
            best_score=best,
        )
    best[0] = 0.0
    assert best.flags.writeable
