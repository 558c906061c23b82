"""One student's records for one assignment, as stored: the input that batch
rollups and role views share (spec: Progress State Storage).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from . import _validate as v
from ._assignment import assignment_progress
from ._enums import AssignmentStatus
from ._errors import InvalidInputError
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._records import AssignmentProgress, StepProgress
from ._structure import AssignmentStructure

__all__ = ["AssignmentRecords"]


@attrs.frozen(kw_only=True)
class AssignmentRecords:
    """One assignment of one student as stored: its structure, the stored
    progress record (``None`` before there is one) and the step records
    (steps never touched may be left out, Q17).

    Every step record is of this assignment, of a step of its structure,
    once, and of one student: the progress record's student when there is
    one.

    >>> from datetime import datetime, UTC
    >>> s = AssignmentStructure(assignment_id="a", steps=(),
    ...                         created_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> AssignmentRecords(structure=s).student_id is None
    True
    """

    structure: AssignmentStructure = attrs.field(
        validator=v.instance_of(AssignmentStructure)
    )
    progress: AssignmentProgress | None = attrs.field(
        default=None, validator=v.optional_instance_of(AssignmentProgress)
    )
    steps: tuple[StepProgress, ...] = attrs.field(
        default=(), validator=v.tuple_of(StepProgress)
    )

    def __attrs_post_init__(self) -> None:
        aid = self.structure.assignment_id
        if self.progress is not None and self.progress.assignment_id != aid:
            raise InvalidInputError(
                "progress", self.progress.assignment_id, f"the progress of {aid!r}"
            )
        known = {d.step_id for d in self.structure.steps}
        student = self.progress.student_id if self.progress is not None else None
        seen: set[str] = set()
        for step in self.steps:
            if step.assignment_id != aid or step.step_id not in known:
                raise InvalidInputError(
                    "steps", (step.assignment_id, step.step_id), f"a step of {aid!r}"
                )
            if step.step_id in seen:
                raise InvalidInputError("steps", step.step_id, "one record per step")
            seen.add(step.step_id)
            student = student or step.student_id
            if step.student_id != student:
                raise InvalidInputError(
                    "steps",
                    (step.assignment_id, step.student_id, step.step_id),
                    "step records are this assignment's and one student's",
                )

    @property
    def student_id(self) -> str | None:
        """The student the records are of; ``None`` when there are none."""
        if self.progress is not None:
            return self.progress.student_id
        return self.steps[0].student_id if self.steps else None

    @property
    def active(self) -> bool:
        """Not archived by the host (D14); no record yet is not archived."""
        return (
            self.progress is None
            or self.progress.status is not AssignmentStatus.ARCHIVED
        )

    def step(self, step_id: str) -> StepProgress | None:
        """The record of ``step_id``, or ``None`` (untouched, Q17)."""
        return next((s for s in self.steps if s.step_id == step_id), None)

    def current(
        self, *, student_id: str, as_of: datetime, policy: Policy = DEFAULT_POLICY
    ) -> AssignmentProgress:
        """The assignment's progress recomputed from the step records as of
        ``as_of`` (the calculator the real-time core uses). The stored record
        contributes only what the steps cannot tell: archiving and an
        extended due date (D8, D14)."""
        stored = self.progress
        return assignment_progress(
            self.structure,
            self.steps,
            student_id=student_id,
            as_of=as_of,
            policy=policy,
            archived=stored is not None and stored.status is AssignmentStatus.ARCHIVED,
            due_at_override=stored.due_at_override if stored is not None else None,
        )

    def with_progress(
        self, *, student_id: str, as_of: datetime, policy: Policy = DEFAULT_POLICY
    ) -> AssignmentRecords:
        """These records with a progress record: the stored one when there
        is one, else the one :meth:`current` computes as of ``as_of`` (an
        assignment the student has not begun shows as not started, 0 %).

        >>> from datetime import datetime, UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> s = AssignmentStructure(assignment_id="a", steps=(), created_at=t)
        >>> r = AssignmentRecords(structure=s).with_progress(student_id="u", as_of=t)
        >>> r.progress.student_id, r.progress.status.value
        ('u', 'not_started')
        """
        if self.progress is not None:
            return self
        as_of = utc_argument("as_of", as_of)
        return attrs.evolve(
            self,
            progress=self.current(student_id=student_id, as_of=as_of, policy=policy),
        )


attrs.resolve_types(AssignmentRecords)
