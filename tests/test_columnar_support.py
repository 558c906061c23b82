"""Builders shared by the columnar tests; no tests of its own.

:func:`organizations` generates what a batch over an organization reads:
students' histories (structures shared or versioned, step records folded
from attempts by :mod:`mlc_progress.testing.strategies`, stored progress
records that archive or extend, attempt logs with repeated ids, activity
days, sequences with stored progress), stored risk states with dismissals,
a policy and an ``as_of``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from mlc_progress import (
    DEFAULT_POLICY,
    AssignmentStructure,
    Attempt,
    Policy,
    SequenceStructure,
)
from mlc_progress.batch import (
    AssignmentRecords,
    RiskDismissal,
    RiskFactor,
    RiskRule,
    RiskState,
    SequenceRecords,
    StudentHistory,
    StudentResult,
    summarize_student,
)
from mlc_progress.columnar import StudentRecords
from mlc_progress.testing import strategies as ms
from mlc_progress.testing.equality import bitwise_equal

START = datetime(2026, 1, 1, tzinfo=UTC)
# A short term, so that weeks, windows, streaks and rules all come into play.
END = START + timedelta(days=24)
ORG = "org-c"


@attrs.frozen
class Organization:
    """Histories, stored risk states, a policy and a moment."""

    histories: tuple[StudentHistory, ...]
    previous: dict[str, RiskState]
    policy: Policy
    as_of: datetime


_RULE_SETS = st.lists(st.sampled_from(RiskRule), unique=True, max_size=5).map(
    lambda found: tuple(sorted(found, key=list(RiskRule).index))
)


@st.composite
def _state(draw: st.DrawFn, student_id: str) -> RiskState | None:
    """A stored risk state or none; a dismissal stands on some flags."""
    if draw(st.booleans()):
        return None
    chosen = draw(_RULE_SETS)
    factors = tuple(RiskFactor(rule=r, amount=7).code for r in chosen)
    dismissal = None
    dismissed: bool = draw(st.booleans())
    if chosen and dismissed:
        dismissal = RiskDismissal(
            dismissal_id="d1",
            student_id=student_id,
            actor_id="t1",
            reason="trip",
            dismissed_at=START,
            rules=chosen,
            factors=factors,
        )
    return RiskState(
        student_id=student_id,
        at_risk=bool(chosen),
        rules=chosen,
        factors=factors,
        dismissal=dismissal,
    )


@st.composite
def _history(
    draw: st.DrawFn,
    student_id: str,
    catalog: list[AssignmentStructure],
    sequences: list[SequenceStructure],
    policy: Policy,
    as_of: datetime,
) -> StudentHistory:
    chosen = draw(
        st.lists(
            st.sampled_from(range(len(catalog))), unique=True, min_size=1, max_size=4
        )
        if catalog
        else st.just([])
    )
    structures = [catalog[i] for i in chosen]
    # Two versions of one assignment id never meet in one history.
    unique: dict[str, AssignmentStructure] = {}
    for s in structures:
        unique.setdefault(s.assignment_id, s)
    records = []
    for s in unique.values():
        steps = draw(
            ms.step_progress_for(
                s, student_id=student_id, max_attempts=7, max_time=END, policy=policy
            )
        )
        stored = None
        if draw(st.integers(0, 3)) == 0:
            stored = draw(
                ms.assignment_progress(
                    assignment_id=s.assignment_id,
                    student_id=student_id,
                    min_time=START,
                    max_time=END,
                )
            )
        records.append(AssignmentRecords(structure=s, progress=stored, steps=steps))
    ids = [s.assignment_id for s in unique.values()]
    attempts: list[Attempt] = []
    if ids:
        made = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(ids),
                    st.sampled_from(("t1", "t2", "t3", "t4", "t5", "t6")),
                    ms.utc_datetimes(
                        min_value=as_of - timedelta(days=9),
                        max_value=as_of + timedelta(days=1),
                    ),
                    st.integers(0, 3_600_000),
                ),
                max_size=8,
            )
        )
        attempts = [
            Attempt(
                attempt_id=attempt_id,
                student_id=student_id,
                assignment_id=aid,
                step_id="x",
                score=50.0,
                attempted_at=when,
                duration_ms=duration,
                session_id="k",
            )
            for aid, attempt_id, when, duration in made
        ]
    days = draw(
        st.lists(
            st.dates(
                min_value=(as_of - timedelta(days=12)).date(),
                max_value=(as_of + timedelta(days=1)).date(),
            ),
            max_size=10,
        )
    )
    followed = draw(
        st.lists(st.sampled_from(range(len(sequences))), unique=True, max_size=2)
        if sequences
        else st.just([])
    )
    seqs = []
    for q in followed:
        structure = sequences[q]
        stored_seq = None
        if draw(st.booleans()):
            stored_seq = draw(
                ms.sequence_progress(
                    sequence_id=structure.sequence_id,
                    student_id=student_id,
                    min_time=START,
                    max_time=END,
                )
            )
        seqs.append(SequenceRecords(structure=structure, progress=stored_seq))
    return StudentHistory(
        student_id=student_id,
        organization_id=ORG,
        class_ids=("c1",),
        assignments=tuple(records),
        sequences=tuple(seqs),
        attempts=tuple(attempts),
        activity_days=tuple(days),
    )


@st.composite
def organizations(draw: st.DrawFn, *, max_students: int = 3) -> Organization:
    """An organization's batch inputs (see the module docstring)."""
    policy = draw(st.just(DEFAULT_POLICY) | ms.policies(include_default=False))
    as_of = draw(
        ms.utc_datetimes(
            min_value=START - timedelta(days=2), max_value=END + timedelta(days=12)
        )
    )
    catalog: list[AssignmentStructure] = []
    for i in range(draw(st.integers(0, 4) | st.integers(2, 4))):
        # Some assignment ids come twice: two versions of one assignment.
        aid = f"a{draw(st.integers(0, i))}"
        structure = draw(
            ms.assignment_structures(
                assignment_id=aid,
                max_steps=6,
                min_time=START,
                max_time=START + timedelta(days=10),
            )
        )
        # Most steps required (the strategy makes a quarter of them so).
        steps = tuple(
            attrs.evolve(d, optional=False, deprecated=False)
            if draw(st.booleans())
            else d
            for d in structure.steps
        )
        structure = attrs.evolve(structure, steps=steps)
        if draw(st.booleans()):
            # Due within the term: pacing and its rule come into play.
            days = draw(st.floats(min_value=0.5, max_value=30.0))
            structure = attrs.evolve(
                structure, due_at=structure.created_at + timedelta(days=days)
            )
        catalog.append(structure)
    aids = sorted({s.assignment_id for s in catalog} | {"a-missing"})
    sequences = [
        SequenceStructure(
            sequence_id=f"q{j}",
            assignment_ids=tuple(
                draw(st.lists(st.sampled_from(aids), unique=True, max_size=3))
            ),
        )
        for j in range(draw(st.integers(0, 2)))
    ]
    n = draw(st.integers(0, max_students) | st.integers(1, max_students))
    students = [f"u{i}" for i in range(n)]
    histories = tuple(
        draw(_history(sid, catalog, sequences, policy, as_of)) for sid in students
    )
    previous: dict[str, RiskState] = {}
    for sid in students:
        state = draw(_state(sid))
        if state is not None:
            previous[sid] = state
    return Organization(
        histories=histories, previous=previous, policy=policy, as_of=as_of
    )


def record_path(org: Organization) -> dict[str, StudentResult]:
    """``summarize_student`` for every student of ``org``."""
    return {
        h.student_id: summarize_student(
            h,
            as_of=org.as_of,
            run_id="r",
            policy=org.policy,
            previous_risk=org.previous.get(h.student_id),
        )
        for h in org.histories
    }


def differences(got: StudentRecords, expected: StudentResult) -> list[str]:
    """Every figure where the kernel and the record path differ; floats are
    compared bit for bit (by ``repr``)."""
    found = []
    pairs: list[tuple[str, Any, Any]] = [
        ("summary", got.summary, expected.summary),
        ("assignments", got.assignments, expected.assignments),
        (
            "completion_percentage",
            got.completion_percentage,
            expected.completion_percentage,
        ),
        ("worst_pacing", got.worst_pacing, expected.worst_pacing),
        ("assessed_factors", got.assessed_factors, expected.risk.assessment.codes),
        (
            "dismissal_stands",
            got.dismissal_stands,
            expected.risk.state.dismissal is not None,
        ),
        ("risk_changed", got.risk_changed, bool(expected.events)),
    ]
    for name, mine, theirs in pairs:
        if not bitwise_equal(mine, theirs):
            found.append(f"{name}: {mine!r} != {theirs!r}")
    return found
