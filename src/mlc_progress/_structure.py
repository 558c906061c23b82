"""Inputs the spec assumes from the assignment model: structure and attempts."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from . import _validate as v
from ._enums import Stage
from ._errors import InvalidInputError

__all__ = ["AssignmentStructure", "Attempt", "SequenceStructure", "StepDefinition"]


@attrs.frozen(kw_only=True)
class StepDefinition:
    """One step of an assignment, in order.

    ``element_id`` names the game or content element the step plays; with
    ``stage`` it is how steps are matched across versions (spec,
    reconciliation rule 2). A ``deprecated`` step is not required (D10).
    """

    step_id: str = attrs.field(validator=v.identifier)
    element_id: str = attrs.field(validator=v.identifier)
    stage: Stage = attrs.field(validator=v.enum_of(Stage))
    target_score: float = attrs.field(validator=v.target)
    optional: bool = attrs.field(default=False, validator=v.boolean)
    deprecated: bool = attrs.field(default=False, validator=v.boolean)
    concepts: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    due_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    # Beyond the spec: inserted by the generation engine as remediation
    # (counted in SequenceProgress.remediation_count).
    remediation: bool = attrs.field(default=False, validator=v.boolean)
    # Beyond the spec: the game that replaces this step's deprecated game.
    replaced_by_game_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )

    @property
    def required(self) -> bool:
        """Required steps are neither optional nor deprecated (D10)."""
        return not (self.optional or self.deprecated)


@attrs.frozen(kw_only=True)
class AssignmentStructure:
    """An assignment's ordered steps and its dates.

    The pacing window runs from ``created_at`` to ``due_at``, or to
    ``created_at + estimated_duration`` without a due date (D15).
    """

    assignment_id: str = attrs.field(validator=v.identifier)
    steps: tuple[StepDefinition, ...] = attrs.field()
    created_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    due_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc_optional, validator=v.optional_utc_time
    )
    estimated_duration: timedelta | None = attrs.field(
        default=None, validator=v.positive_timedelta
    )
    sequence_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    version: int = attrs.field(default=1, validator=v.count)

    @steps.validator
    def _check_steps(self, attribute: attrs.Attribute[object], value: object) -> None:
        if not isinstance(value, tuple) or not all(
            isinstance(s, StepDefinition) for s in value
        ):
            raise InvalidInputError(
                "steps", value, "steps are a tuple of StepDefinition"
            )
        ids = [s.step_id for s in value]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(
                "steps", ids, "step ids are unique in an assignment"
            )

    def __attrs_post_init__(self) -> None:
        if self.due_at is not None and self.due_at <= self.created_at:
            raise InvalidInputError("due_at", self.due_at, "due_at is after created_at")

    def step(self, step_id: str) -> StepDefinition:
        """The step with ``step_id``; :class:`NotFoundError` if there is none."""
        for s in self.steps:
            if s.step_id == step_id:
                return s
        from ._errors import NotFoundError

        raise NotFoundError(
            f"step_id={step_id!r} is not in assignment {self.assignment_id!r}"
        )

    def index(self, step_id: str) -> int:
        """The position of ``step_id`` in the step order."""
        return self.steps.index(self.step(step_id))

    @property
    def required_steps(self) -> tuple[StepDefinition, ...]:
        return tuple(s for s in self.steps if s.required)

    def window_end(self, due_at_override: datetime | None = None) -> datetime | None:
        """End of the pacing window (D15), or ``None`` when there is none.

        ``due_at_override`` is a student's extended due date (D8).
        """
        if due_at_override is not None:
            return due_at_override
        if self.due_at is not None:
            return self.due_at
        if self.estimated_duration is not None:
            return self.created_at + self.estimated_duration
        return None


@attrs.frozen(kw_only=True)
class SequenceStructure:
    """The ordered assignments of a sequence."""

    sequence_id: str = attrs.field(validator=v.identifier)
    assignment_ids: tuple[str, ...] = attrs.field(validator=v.identifiers)

    def __attrs_post_init__(self) -> None:
        if len(set(self.assignment_ids)) != len(self.assignment_ids):
            raise InvalidInputError(
                "assignment_ids",
                self.assignment_ids,
                "assignment ids are unique in a sequence",
            )


@attrs.frozen(kw_only=True)
class Attempt:
    """One scored play of a step by a student (D1, D2, D3).

    ``score`` is a percentage; hosts convert raw game points first.
    """

    attempt_id: str = attrs.field(validator=v.identifier)
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    step_id: str = attrs.field(validator=v.identifier)
    score: float = attrs.field(validator=v.score)
    attempted_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    duration_ms: int = attrs.field(validator=v.duration_ms)
    session_id: str = attrs.field(validator=v.identifier)


for _cls in (StepDefinition, AssignmentStructure, SequenceStructure, Attempt):
    attrs.resolve_types(_cls)
