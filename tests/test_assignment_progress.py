"""assignment_progress: every figure of the record from step records (D10-D15)."""

from __future__ import annotations

import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import (
    AssignmentStatus,
    AssignmentStructure,
    CompletionSource,
    InvalidInputError,
    PacingStatus,
    Stage,
    StepDefinition,
    StepState,
    assignment_progress,
    average_score,
    mastery_score,
    next_step,
    pass_rate,
)
from mlc_progress.testing import strategies as mst

from ._steps import step_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _definition(
    step_id: str,
    stage: Stage,
    target: float = 80.0,
    **flags: Any,
) -> StepDefinition:
    base = StepDefinition(
        step_id=step_id, element_id=f"game-{step_id}", stage=stage, target_score=target
    )
    return attrs.evolve(base, **flags)


# A three-week assignment: three required steps, one optional, one deprecated.
STRUCTURE = AssignmentStructure(
    assignment_id="a",
    created_at=T0,
    due_at=day(20),
    steps=(
        _definition("learn", Stage.LEARN, 60.0),
        _definition("play", Stage.PLAY),
        _definition("quiz", Stage.QUIZ, due_at=day(14)),
        _definition("bonus", Stage.PLAY, optional=True),
        _definition("old", Stage.CHALLENGE, deprecated=True),
    ),
)
STEPS = (
    step_record(
        "learn",
        target=60.0,
        state=StepState.COMPLETE,
        attempts=[(day(1), 90.0)],
        completed_at=day(1),
        time_on_task_ms=60_000,
    ),
    step_record(
        "play",
        state=StepState.COMPLETE,
        attempts=[(day(3), 65.0), (day(4), 85.0)],
        completed_at=day(4),
        time_on_task_ms=120_000,
    ),
    step_record(
        "quiz",
        state=StepState.IN_PROGRESS,
        attempts=[(day(7), 70.0)],
        time_on_task_ms=90_000,
    ),
    # "bonus" has no record yet (locked); "old" is unlocked but deprecated.
    step_record("old", state=StepState.AVAILABLE),
)


def test_hand_worked_assignment_end_to_end() -> None:
    """Every figure of a small assignment matches the hand computation (D10-D15)."""
    progress = assignment_progress(STRUCTURE, STEPS, student_id="u", as_of=day(10))
    assert attrs.asdict(progress, recurse=False) == {
        "assignment_id": "a",
        "student_id": "u",
        "status": AssignmentStatus.IN_PROGRESS,
        # 2 of 3 required steps; in-progress quiz gives no partial credit.
        "completion_percentage": pytest.approx(200 / 3),
        "steps_total": 5,
        "steps_required": 3,
        "steps_completed": 2,
        "steps_in_progress": 1,
        "steps_locked": 1,
        "started_at": day(1),
        "completed_at": None,
        # 2 required steps in the last 28 days -> 0.5 a week; 1 left -> 2 weeks.
        "estimated_completion_date": day(10) + timedelta(weeks=2),
        "time_on_task_ms": 270_000,
        # mean best over complete steps with attempts: (90 + 85) / 2
        "average_score": 87.5,
        # (0.5 * 90 + 1.0 * 85 + 2.0 * 70) / (0.5 + 1.0 + 2.0)
        "mastery_score": pytest.approx(270 / 3.5),
        # first attempts: 90 >= 60 passes, 65 < 80 and 70 < 80 do not
        "pass_rate": pytest.approx(100 / 3),
        "next_step_id": "quiz",
        "next_step_due_at": day(14),
        "steps_per_week": 0.5,
        # expected 50 at half-time; 66.7 >= 50 - 10 but < 50 + 20
        "pacing_status": PacingStatus.ON_TRACK,
        "due_at_override": None,
    }


@pytest.mark.parametrize(
    ("as_of", "pacing"),
    [
        (day(2), PacingStatus.AHEAD),  # expected 10
        (day(10), PacingStatus.ON_TRACK),  # expected 50
        (day(18), PacingStatus.BEHIND),  # expected 90
        (day(25), PacingStatus.AT_RISK),  # expected 100 (clamped)
    ],
)
def test_pacing_of_the_example_over_time(as_of: datetime, pacing: PacingStatus) -> None:
    """At 66.7 % complete the example moves from ahead to at risk as time passes (D15)."""
    progress = assignment_progress(STRUCTURE, STEPS, student_id="u", as_of=as_of)
    assert progress.pacing_status is pacing


def test_extended_due_date_widens_the_pacing_window() -> None:
    """A student's extended due date replaces the assignment's in pacing (D8, D15)."""
    progress = assignment_progress(
        STRUCTURE, STEPS, student_id="u", as_of=day(25), due_at_override=day(50)
    )
    # expected 50 at day 25 of 50
    assert progress.pacing_status is PacingStatus.ON_TRACK
    assert progress.due_at_override == day(50)


def test_without_window_pacing_is_on_track() -> None:
    """With no due date and no estimated duration pacing is on_track (D15)."""
    structure = attrs.evolve(STRUCTURE, due_at=None)
    progress = assignment_progress(structure, STEPS, student_id="u", as_of=day(300))
    assert progress.pacing_status is PacingStatus.ON_TRACK
    # The next step's own due date is still reported.
    assert progress.next_step_due_at == day(14)


def test_optional_and_deprecated_steps_are_outside_the_denominator() -> None:
    """Completing only optional or deprecated steps adds nothing; they never block (D10)."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(
            _definition("req", Stage.PLAY),
            _definition("opt", Stage.PLAY, optional=True),
            _definition("dep", Stage.PLAY, deprecated=True),
        ),
    )
    done = {"state": StepState.COMPLETE, "completed_at": day(1)}
    only_extras = [
        step_record("opt", attempts=[(day(1), 90.0)], **done),  # type: ignore[arg-type]
        step_record("dep", attempts=[(day(1), 90.0)], **done),  # type: ignore[arg-type]
    ]
    progress = assignment_progress(structure, only_extras, student_id="u", as_of=day(2))
    assert progress.completion_percentage == 0.0
    assert progress.steps_required == 1
    assert progress.steps_completed == 2

    only_required = [
        step_record("req", attempts=[(day(1), 90.0)], **done),  # type: ignore[arg-type]
        step_record("opt", state=StepState.AVAILABLE),
    ]
    progress = assignment_progress(
        structure, only_required, student_id="u", as_of=day(2)
    )
    assert progress.completion_percentage == 100.0
    assert progress.status is AssignmentStatus.COMPLETE
    assert progress.next_step_id is None


def test_in_progress_steps_give_no_partial_credit() -> None:
    """A step just short of its target counts nothing towards completion (spec)."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(_definition("s1", Stage.PLAY), _definition("s2", Stage.PLAY)),
    )
    steps = [
        step_record("s1", state=StepState.IN_PROGRESS, attempts=[(day(1), 79.99)]),
        step_record("s2", state=StepState.IN_PROGRESS, attempts=[(day(1), 50.0)]),
    ]
    progress = assignment_progress(structure, steps, student_id="u", as_of=day(2))
    assert progress.completion_percentage == 0.0
    assert progress.status is AssignmentStatus.IN_PROGRESS
    assert progress.steps_in_progress == 2


def test_reconciled_steps_count_as_completed() -> None:
    """Steps pre-completed by reconciliation or override count as completed (spec, D7)."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(_definition("s1", Stage.PLAY), _definition("s2", Stage.QUIZ)),
    )
    steps = [
        step_record(
            "s1",
            state=StepState.COMPLETE,
            completed_at=day(1),
            source=CompletionSource.SYSTEM_MIGRATION,
        ),
        step_record(
            "s2",
            state=StepState.COMPLETE,
            completed_at=day(2),
            source=CompletionSource.TEACHER_OVERRIDE,
        ),
    ]
    progress = assignment_progress(structure, steps, student_id="u", as_of=day(3))
    assert progress.completion_percentage == 100.0
    assert progress.status is AssignmentStatus.COMPLETE
    assert progress.completed_at == day(2)
    assert progress.estimated_completion_date == day(2)
    # Completion without attempts is no evidence of performance (D11, D12, D13).
    assert (progress.average_score, progress.mastery_score, progress.pass_rate) == (
        0.0,
        0.0,
        0.0,
    )


def test_zero_required_steps_is_100_percent() -> None:
    """No required steps gives 100 %: not_started before activity, complete after (D10, D14)."""
    structure = AssignmentStructure(
        assignment_id="a",
        created_at=T0,
        steps=(_definition("opt", Stage.PLAY, optional=True),),
    )
    untouched = assignment_progress(structure, [], student_id="u", as_of=day(1))
    assert untouched.completion_percentage == 100.0
    assert untouched.status is AssignmentStatus.NOT_STARTED
    assert untouched.estimated_completion_date is None
    played = [
        step_record("opt", state=StepState.IN_PROGRESS, attempts=[(day(1), 10.0)])
    ]
    touched = assignment_progress(structure, played, student_id="u", as_of=day(2))
    assert touched.status is AssignmentStatus.COMPLETE
    assert touched.completed_at == day(1)
    assert touched.next_step_id is None


def test_unlocked_but_untouched_assignment_is_not_started() -> None:
    """An available step without activity leaves the assignment not_started, pointing at it (D14)."""
    progress = assignment_progress(
        STRUCTURE,
        [step_record("learn", state=StepState.AVAILABLE)],
        student_id="u",
        as_of=day(1),
    )
    assert progress.status is AssignmentStatus.NOT_STARTED
    assert progress.next_step_id == "learn"
    assert progress.started_at is None
    assert progress.steps_locked == 4


def test_archived_is_kept_when_the_host_archives() -> None:
    """archived is the status only when the host says so (D14)."""
    progress = assignment_progress(
        STRUCTURE, STEPS, student_id="u", as_of=day(10), archived=True
    )
    assert progress.status is AssignmentStatus.ARCHIVED
    assert progress.completion_percentage == pytest.approx(200 / 3)


def test_steps_may_be_given_as_a_mapping() -> None:
    """Step records keyed by step id give the same result as a sequence of them."""
    as_list = assignment_progress(STRUCTURE, STEPS, student_id="u", as_of=day(10))
    as_map = assignment_progress(
        STRUCTURE, {s.step_id: s for s in STEPS}, student_id="u", as_of=day(10)
    )
    assert as_list == as_map


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"as_of": datetime(2026, 1, 10)}, "as_of"),
        (
            {"as_of": day(10), "due_at_override": datetime(2026, 2, 1)},
            "due_at_override",
        ),
    ],
)
def test_naive_times_are_rejected(kwargs: dict[str, datetime], field: str) -> None:
    """A naive as_of or extended due date is rejected with a typed error (D2)."""
    with pytest.raises(InvalidInputError) as info:
        assignment_progress(STRUCTURE, STEPS, student_id="u", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@given(data=st.data(), structure=mst.assignment_structures())
def test_generated_assignments_give_valid_progress(
    data: st.DataObject, structure: AssignmentStructure
) -> None:
    """assignment_progress never raises on generated steps and returns a valid record."""
    steps = data.draw(mst.step_progress_for(structure, student_id="u"))
    as_of = data.draw(mst.utc_datetimes(min_value=structure.created_at))
    policy = data.draw(mst.policies())
    progress = assignment_progress(
        structure, steps, student_id="u", as_of=as_of, policy=policy
    )
    assert attrs.evolve(progress) == progress
    assert 0.0 <= progress.completion_percentage <= 100.0
    assert progress.steps_total == len(structure.steps)
    assert progress.steps_required == len(structure.required_steps)
    complete_ids = {s.step_id for s in steps if s.is_complete}
    assert progress.steps_completed == len(complete_ids)
    required_ids = {d.step_id for d in structure.required_steps}
    if required_ids <= complete_ids:
        assert progress.completion_percentage == 100.0
    else:
        assert progress.completion_percentage < 100.0
        assert progress.status is not AssignmentStatus.COMPLETE
    if progress.status is AssignmentStatus.COMPLETE:
        assert progress.next_step_id is None


@given(data=st.data(), structure=mst.assignment_structures())
def test_one_pass_figures_equal_the_standalone_calculators(
    data: st.DataObject, structure: AssignmentStructure
) -> None:
    """assignment_progress folds every per-step rule in one pass; each figure
    equals the calculator that states the rule (D11, D12, D13, D14)."""
    steps = data.draw(mst.step_progress_for(structure, student_id="u"))
    as_of = data.draw(mst.utc_datetimes(min_value=structure.created_at))
    policy = data.draw(mst.policies())
    progress = assignment_progress(
        structure, steps, student_id="u", as_of=as_of, policy=policy
    )
    assert progress.mastery_score == mastery_score(structure, steps, policy=policy)
    assert progress.average_score == average_score(steps)
    assert progress.pass_rate == pass_rate(steps)
    upcoming = next_step(structure, steps)
    expected_next = (
        None
        if progress.completion_percentage >= 100.0 or upcoming is None
        else upcoming.step_id
    )
    assert progress.next_step_id == expected_next


def test_a_recycled_object_id_never_reuses_another_structures_layout() -> None:
    """The layout cache is keyed by identity and checks the structure is the
    one it was made for, so an id recycled after garbage collection cannot
    hand one assignment's steps to another."""
    from mlc_progress import DEFAULT_POLICY
    from mlc_progress._assignment import _LAYOUTS, Layout, layout

    weights = DEFAULT_POLICY.stage_weights
    other = AssignmentStructure(
        assignment_id="other",
        created_at=T0,
        steps=(_definition("x", Stage.QUIZ),),
    )
    # As if ``other`` had died and STRUCTURE been allocated at its address.
    stale = Layout(other, weights)
    _LAYOUTS[(id(STRUCTURE), id(weights))] = (weakref.ref(other), weights, stale)
    got = layout(STRUCTURE, weights)
    assert got is not stale
    assert got.ids == tuple(d.step_id for d in STRUCTURE.steps)
    assert layout(STRUCTURE, weights) is got


def test_the_layout_follows_the_policys_stage_weights() -> None:
    """The same structure under other stage weights folds with those weights
    (D12): the cache is per (structure, weights)."""
    from mlc_progress import DEFAULT_POLICY, Policy, StageWeights

    heavy = Policy(stage_weights=StageWeights(QUIZ=9.0))
    plain = assignment_progress(STRUCTURE, STEPS, student_id="u", as_of=day(8))
    weighted = assignment_progress(
        STRUCTURE, STEPS, student_id="u", as_of=day(8), policy=heavy
    )
    again = assignment_progress(
        STRUCTURE, STEPS, student_id="u", as_of=day(8), policy=DEFAULT_POLICY
    )
    assert weighted.mastery_score == mastery_score(STRUCTURE, STEPS, policy=heavy)
    assert plain.mastery_score == mastery_score(STRUCTURE, STEPS)
    assert weighted.mastery_score != plain.mastery_score
    assert again == plain


def test_records_of_steps_outside_the_structure_are_ignored_unchecked() -> None:
    """Q17: a record of a step the structure does not have is ignored, even
    one of another student or no record at all; the structure's own records
    are still checked."""
    stray = attrs.evolve(STEPS[0], step_id="gone", student_id="someone-else")
    given: dict[str, Any] = {s.step_id: s for s in STEPS}
    plain = assignment_progress(STRUCTURE, given, student_id="u", as_of=day(8))
    given["gone"] = stray
    assert assignment_progress(STRUCTURE, given, student_id="u", as_of=day(8)) == plain
    given["gone"] = "not a record"
    assert assignment_progress(STRUCTURE, given, student_id="u", as_of=day(8)) == plain
    given["learn"] = attrs.evolve(STEPS[0], student_id="someone-else")
    with pytest.raises(InvalidInputError) as error:
        assignment_progress(STRUCTURE, given, student_id="u", as_of=day(8))
    assert error.value.field == "student_id"


# -- dates datetime cannot hold -------------------------------------------------

# The quiz (the next step) due a year after the assignment: an extension
# moves it 380 days past the new due date (D8).
LATE_QUIZ = attrs.evolve(
    STRUCTURE,
    steps=tuple(
        attrs.evolve(d, due_at=day(400)) if d.step_id == "quiz" else d
        for d in STRUCTURE.steps
    ),
)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("structure", "override"),
    [
        (LATE_QUIZ, datetime(9999, 12, 1, tzinfo=UTC)),
        (LATE_QUIZ, LAST - timedelta(days=380) + timedelta(microseconds=1)),
        (STRUCTURE, datetime(1, 1, 1, tzinfo=UTC)),
    ],
    ids=["past-9999", "one-microsecond-past-9999", "before-year-1"],
)
def test_a_moved_step_due_date_datetime_cannot_hold_is_refused(
    structure: AssignmentStructure, override: datetime
) -> None:
    """D8: an extension moving the next step's own due date past 9999 or
    before year 1 is an InvalidInputError naming due_at_override, with the
    column kernel's rule text."""
    with pytest.raises(InvalidInputError) as error:
        assignment_progress(
            structure, STEPS, student_id="u", as_of=day(8), due_at_override=override
        )
    assert error.value.field == "due_at_override"
    assert error.value.value == override
    assert error.value.rule == "D8: the step's moved due date lies before year 10000"


def test_a_moved_step_due_date_up_to_9999_is_computed() -> None:
    """D8: the largest extension whose moved step date still fits is kept."""
    progress = assignment_progress(
        LATE_QUIZ,
        STEPS,
        student_id="u",
        as_of=day(8),
        due_at_override=LAST - timedelta(days=380),
    )
    assert progress.next_step_id == "quiz"
    assert progress.next_step_due_at == LAST


FAR = attrs.evolve(STRUCTURE, due_at=None, estimated_duration=timedelta(days=3_000_000))


@pytest.mark.parametrize(
    "override", [None, day(50)], ids=["no-extension", "extension-with-next-step"]
)
def test_an_estimated_window_ending_past_9999_is_refused_where_needed(
    override: datetime | None,
) -> None:
    """D15: created_at + estimated_duration past 9999 has no date; pacing
    without an extension, or an extension moving the next step (D8), needs
    it: an InvalidInputError naming estimated_duration."""
    with pytest.raises(InvalidInputError) as error:
        assignment_progress(
            FAR, STEPS, student_id="u", as_of=day(8), due_at_override=override
        )
    assert error.value.field == "estimated_duration"
    assert error.value.value == timedelta(days=3_000_000)
    assert error.value.rule == "D15: the pacing window ends before year 10000"


def test_an_estimated_window_past_9999_not_needed_is_not_refused() -> None:
    """D15: with an extension and no next step (every required step
    complete) the window's own end is never read: the progress is computed."""
    quiz = step_record(
        "quiz",
        state=StepState.COMPLETE,
        attempts=[(day(7), 70.0), (day(9), 85.0)],
        completed_at=day(9),
    )
    done = [quiz if s.step_id == "quiz" else s for s in STEPS]
    progress = assignment_progress(
        FAR, done, student_id="u", as_of=day(10), due_at_override=day(50)
    )
    assert progress.next_step_id is None
    assert progress.completion_percentage == 100.0
    assert progress.due_at_override == day(50)
