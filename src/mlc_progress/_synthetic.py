"""A realistic synthetic organization, reproducible from a seed.

Used by the command line's ``demo``, the benchmarks and the batch tests: a
few classes of students with different strengths and habits, assignments in
sequences, and a term of attempts in time order. Everything is derived from
``random.Random(seed)``, so the same seed gives the same organization.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from . import _validate as v
from ._commands import StartStep
from ._enums import Stage
from ._errors import InvalidInputError
from ._pacing import utc_argument
from ._records import StepProgress
from ._structure import AssignmentStructure, Attempt, SequenceStructure, StepDefinition

if TYPE_CHECKING:
    from ._rollups import StudentHistory

__all__ = [
    "StudentProfile",
    "SyntheticClass",
    "SyntheticOrganization",
    "synthetic_activity",
    "synthetic_histories",
    "synthetic_organization",
    "synthetic_structures",
]

_STAGE_CYCLE = (
    Stage.LEARN,
    Stage.PLAY,
    Stage.PLAY,
    Stage.QUIZ,
    Stage.CHALLENGE,
    Stage.REVIEW,
)
_FIRST_NAMES = (
    "Ada",
    "Bo",
    "Cy",
    "Dee",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lia",
    "Max",
    "Nia",
    "Oto",
    "Pia",
    "Quin",
    "Rae",
    "Sol",
    "Tia",
    "Uma",
    "Vic",
    "Wen",
    "Xia",
    "Yan",
    "Zoe",
)


@attrs.frozen(kw_only=True)
class StudentProfile:
    """How a synthetic student plays: ``skill`` in [0, 1] sets the scores,
    ``diligence`` in [0, 1] how often they come back, ``stops_after_day``
    when they drop out (``None``: never)."""

    student_id: str
    name: str
    skill: float
    diligence: float
    stops_after_day: int | None


@attrs.frozen(kw_only=True)
class SyntheticClass:
    class_id: str
    teacher_id: str
    students: tuple[StudentProfile, ...]
    assignment_ids: tuple[str, ...]


@attrs.frozen(kw_only=True)
class SyntheticOrganization:
    organization_id: str
    term_start: datetime
    term_days: int
    classes: tuple[SyntheticClass, ...]
    structures: tuple[AssignmentStructure, ...]
    sequences: tuple[SequenceStructure, ...]

    def structure(self, assignment_id: str) -> AssignmentStructure:
        for s in self.structures:
            if s.assignment_id == assignment_id:
                return s
        raise KeyError(assignment_id)


def synthetic_organization(
    *,
    seed: int = 7,
    organization_id: str = "demo-org",
    classes: int = 3,
    students_per_class: int = 24,
    assignments_per_class: int = 4,
    steps_per_assignment: int = 6,
    term_start: datetime,
    term_days: int = 84,
) -> SyntheticOrganization:
    """Build an organization: classes, their students and their assignments.

    Each class follows one sequence of ``assignments_per_class`` assignments
    spread evenly over the term; every sixth step is optional.
    """
    rng = random.Random(seed)
    built: list[SyntheticClass] = []
    structures: list[AssignmentStructure] = []
    sequences: list[SequenceStructure] = []
    span = term_days / assignments_per_class
    for c in range(classes):
        class_id = f"class-{c + 1}"
        sequence_id = f"{class_id}-seq"
        assignment_ids: list[str] = []
        for a in range(assignments_per_class):
            assignment_id = f"{class_id}-a{a + 1}"
            created = term_start + timedelta(days=round(a * span))
            steps = tuple(
                StepDefinition(
                    step_id=f"{assignment_id}-s{k + 1}",
                    element_id=f"game-{(c * 31 + a * 7 + k) % 40 + 1}",
                    stage=_STAGE_CYCLE[k % len(_STAGE_CYCLE)],
                    target_score=float(rng.choice((70, 75, 80, 80, 85))),
                    optional=k % 6 == 5,
                    concepts=(f"concept-{(a * 3 + k) % 12 + 1}",),
                )
                for k in range(steps_per_assignment)
            )
            structures.append(
                AssignmentStructure(
                    assignment_id=assignment_id,
                    steps=steps,
                    created_at=created,
                    due_at=created + timedelta(days=round(span)),
                    sequence_id=sequence_id,
                )
            )
            assignment_ids.append(assignment_id)
        sequences.append(
            SequenceStructure(
                sequence_id=sequence_id, assignment_ids=tuple(assignment_ids)
            )
        )
        students = tuple(
            StudentProfile(
                student_id=f"{class_id}-st{i + 1:02d}",
                name=f"{_FIRST_NAMES[(c * students_per_class + i) % len(_FIRST_NAMES)]}"
                f" {chr(ord('A') + (i * 7 + c) % 26)}.",
                skill=min(max(rng.betavariate(4, 2), 0.05), 0.99),
                diligence=min(max(rng.betavariate(3, 1.5), 0.05), 1.0),
                stops_after_day=rng.randrange(10, term_days)
                if rng.random() < 0.12
                else None,
            )
            for i in range(students_per_class)
        )
        built.append(
            SyntheticClass(
                class_id=class_id,
                teacher_id=f"{class_id}-teacher",
                students=students,
                assignment_ids=tuple(assignment_ids),
            )
        )
    return SyntheticOrganization(
        organization_id=organization_id,
        term_start=term_start,
        term_days=term_days,
        classes=tuple(built),
        structures=tuple(structures),
        sequences=tuple(sequences),
    )


def synthetic_activity(
    org: SyntheticOrganization, *, seed: int = 7, until: datetime | None = None
) -> Iterator[StartStep | Attempt]:
    """A term of step starts and attempts for every student, in time order.

    A student opens each assignment's steps in order, starts a step, plays
    until passing or giving up, and comes back on later days according to
    their diligence; a student with ``stops_after_day`` stops then.
    """
    rng = random.Random(seed * 7919 + 1)
    events: list[tuple[datetime, str, StartStep | Attempt]] = []
    end = org.term_start + timedelta(days=org.term_days)
    for klass in org.classes:
        for student in klass.students:
            stop = (
                org.term_start + timedelta(days=student.stops_after_day)
                if student.stops_after_day is not None
                else end
            )
            counter = 0
            for assignment_id in klass.assignment_ids:
                structure = org.structure(assignment_id)
                clock = structure.created_at + timedelta(
                    hours=rng.uniform(2, 72) / max(student.diligence, 0.1)
                )
                for step in structure.steps:
                    if step.optional and rng.random() < 0.5:
                        continue
                    session = f"{student.student_id}-{clock:%Y%m%d}"
                    if clock >= stop:
                        break
                    counter += 1
                    events.append(
                        (
                            clock,
                            f"{student.student_id}-{counter:05d}",
                            StartStep(
                                command_id=f"{student.student_id}-start-{counter:05d}",
                                student_id=student.student_id,
                                assignment_id=assignment_id,
                                step_id=step.step_id,
                                started_at=clock,
                                session_id=session,
                            ),
                        )
                    )
                    # Sessions on the step: a student who does not pass comes
                    # back on a later day (diligent ones more often), and
                    # improves with practice.
                    tries = 0
                    passed = False
                    for visit in range(1 + round(3 * student.diligence)):
                        if visit:
                            clock += timedelta(hours=rng.uniform(16, 40))
                            session = f"{student.student_id}-{clock:%Y%m%d}"
                        for _ in range(4):
                            clock += timedelta(minutes=rng.uniform(3, 15))
                            if clock >= stop:
                                break
                            tries += 1
                            mean = 100 * student.skill + 10 * math.log(tries) + 4
                            score = round(min(max(rng.gauss(mean, 11), 0.0), 100.0), 1)
                            counter += 1
                            events.append(
                                (
                                    clock,
                                    f"{student.student_id}-{counter:05d}",
                                    Attempt(
                                        attempt_id=f"{student.student_id}-att-{counter:05d}",
                                        student_id=student.student_id,
                                        assignment_id=assignment_id,
                                        step_id=step.step_id,
                                        score=score,
                                        attempted_at=clock,
                                        duration_ms=rng.randrange(60_000, 600_000),
                                        session_id=session,
                                    ),
                                )
                            )
                            passed = score >= step.target_score
                            if passed or rng.random() > student.diligence:
                                break
                        if passed or clock >= stop:
                            break
                    gap_hours = rng.expovariate(1.0 + 2 * student.diligence) * 24
                    clock += timedelta(hours=min(gap_hours, 24 * 6))
    events.sort(key=lambda item: (item[0], item[1]))
    for when, _, command in events:
        if until is not None and when > until:
            return
        yield command


def synthetic_structures(
    *, assignments: int, steps: int, as_of: datetime, seed: int = 7
) -> tuple[AssignmentStructure, ...]:
    """``assignments`` assignments of ``steps`` steps, created over the two
    months before ``as_of``, each due a month after its creation."""
    as_of = _checked("assignments", assignments, "steps", steps, as_of, seed)
    rng = random.Random(seed)
    try:
        return _structures(rng, assignments, steps, as_of)
    except OverflowError:
        raise InvalidInputError(
            "as_of",
            as_of,
            "the structures' dates (60 days before as_of, then 5 days later an"
            " assignment) fit the calendar",
        ) from None


def _structures(
    rng: random.Random, assignments: int, steps: int, as_of: datetime
) -> tuple[AssignmentStructure, ...]:
    return tuple(
        AssignmentStructure(
            assignment_id=f"a{a + 1:02d}",
            steps=tuple(
                StepDefinition(
                    step_id=f"a{a + 1:02d}-s{k + 1:02d}",
                    element_id=f"game-{rng.randrange(1, 60)}",
                    stage=_STAGE_CYCLE[k % len(_STAGE_CYCLE)],
                    target_score=float(rng.choice((70, 75, 80, 85))),
                    optional=k % 10 == 9,
                    concepts=(f"concept-{(a + k) % 15 + 1}",),
                )
                for k in range(steps)
            ),
            created_at=as_of - timedelta(days=60 - a * 5),
            due_at=as_of - timedelta(days=30 - a * 5),
        )
        for a in range(assignments)
    )


def synthetic_histories(
    structures: tuple[AssignmentStructure, ...],
    *,
    students: int,
    as_of: datetime,
    seed: int = 7,
    organization_id: str = "bench-org",
    first_student: int = 0,
) -> Iterator[StudentHistory]:
    """Students' batch inputs with valid step records built directly.

    Fast enough for benchmarks of a million step records: each step's record
    is folded from a few generated scores with the running functions, without
    replaying commands. Untouched steps have no record (their initial state).
    Arguments are checked when called, not when the first student is drawn.
    """
    as_of = _checked("students", students, "first_student", first_student, as_of, seed)
    v.check_id_value("organization_id", organization_id)
    structures = v.instances(
        "structures", structures, AssignmentStructure, "AssignmentStructures"
    )
    return _histories(structures, students, as_of, seed, organization_id, first_student)


def _histories(
    structures: tuple[AssignmentStructure, ...],
    students: int,
    as_of: datetime,
    seed: int,
    organization_id: str,
    first_student: int,
) -> Iterator[StudentHistory]:
    from ._rollups import AssignmentRecords, StudentHistory

    for n in range(first_student, first_student + students):
        rng = random.Random(seed * 1_000_003 + n)
        student_id = f"student-{n:06d}"
        skill = rng.betavariate(4, 2)
        records = []
        for structure in structures:
            reached = rng.randrange(0, len(structure.steps) + 1)
            try:
                steps = _played(rng, skill, structure, reached, student_id, as_of)
            except OverflowError:
                raise InvalidInputError(
                    "as_of",
                    as_of,
                    "the generated attempts (up to 30 hours apart) fit the calendar",
                ) from None
            records.append(AssignmentRecords(structure=structure, steps=tuple(steps)))
        yield StudentHistory(
            student_id=student_id,
            organization_id=organization_id,
            class_ids=(f"class-{n % 40:02d}",),
            assignments=tuple(records),
        )


def _played(
    rng: random.Random,
    skill: float,
    structure: AssignmentStructure,
    reached: int,
    student_id: str,
    as_of: datetime,
) -> list[StepProgress]:
    """One student's records of one assignment: the steps up to ``reached``,
    played before ``as_of``."""
    clock = structure.created_at + timedelta(hours=rng.uniform(1, 48))
    steps = []
    for k, step in enumerate(structure.steps[: reached + 1]):
        if clock >= as_of:
            break
        complete = k < reached
        scores = _scores(rng, skill, step.target_score, complete)
        steps.append(_step_record(step, structure, student_id, scores, clock, complete))
        clock += timedelta(hours=rng.uniform(2, 30))
    return steps


def _checked(
    name: str, count: int, other: str, more: int, as_of: datetime, seed: int
) -> datetime:
    """The generators' arguments checked (counts of at least 0, an aware
    time, an integer seed); ``as_of`` in UTC."""
    v.check_count_value(name, count)
    v.check_count_value(other, more)
    if not (isinstance(seed, int) and not isinstance(seed, bool)):
        raise InvalidInputError("seed", seed, "an integer")
    return utc_argument("as_of", as_of)


def _scores(
    rng: random.Random, skill: float, target: float, complete: bool
) -> list[float]:
    tries = rng.randrange(1, 5)
    scores = [
        round(min(max(rng.gauss(100 * skill, 12), 0.0), target - 0.5), 1)
        for _ in range(tries)
    ]
    if complete:
        scores.append(round(rng.uniform(target, 100.0), 1))
    return scores


def _step_record(
    step: StepDefinition,
    structure: AssignmentStructure,
    student_id: str,
    scores: list[float],
    start: datetime,
    complete: bool,
) -> StepProgress:
    from ._consistency import add_score, consistency_from_moments
    from ._enums import CompletionSource, StepState
    from ._mastery import mastery_level

    count = 0
    mean = m2 = 0.0
    for score in scores:
        mean, m2 = add_score(count, mean, m2, score)
        count += 1
    best = max(scores)
    last = start + timedelta(minutes=7 * len(scores))
    consistency = consistency_from_moments(count, mean, m2)
    return StepProgress(
        step_id=step.step_id,
        assignment_id=structure.assignment_id,
        student_id=student_id,
        target_score=step.target_score,
        state=StepState.COMPLETE if complete else StepState.IN_PROGRESS,
        started_at=start,
        completed_at=last if complete else None,
        last_activity_at=last,
        attempt_count=count,
        best_score=best,
        latest_score=scores[-1],
        passed=best >= step.target_score,
        time_on_task_ms=count * 240_000,
        session_count=1,
        mastery_level=mastery_level(
            attempt_count=count,
            best_score=best,
            target_score=step.target_score,
            consistency_score=consistency,
        ),
        consistency_score=consistency,
        completion_source=CompletionSource.FRESH_ATTEMPT,
        score_mean=mean,
        score_m2=m2,
        first_attempt_at=start + timedelta(minutes=7),
        first_score=scores[0],
        latest_attempt_at=last,
        last_session_id=f"{student_id}-{start:%Y%m%d}",
        available_at=start,
    )
