"""Commands of the reconciliation service, as the command log keeps them.

A structure change (migration, rollback, deprecation, accepted replacement)
is one :class:`ChangeAssignment`, logged under its own id before the catalog
publishes the new version: it holds both versions and the students it
covers, so a change cut short resumes exactly where it stopped. Each
student it reaches, and each repair, consumes one id, logged as a
:class:`ReconcileStudent` in the same transaction as the student's records
(D3: a re-run changes nothing).
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from . import _validate as v
from ._enums import Stage
from ._errors import InvalidInputError
from ._events import ReconciliationType
from ._serialization import register_enums
from ._structure import AssignmentStructure

__all__ = [
    "ChangeAction",
    "ChangeAssignment",
    "ReconcileStudent",
    "ReconciliationCommand",
]


class ChangeAction(enum.StrEnum):
    """What a :class:`ChangeAssignment` does (spec: Progress Reconciliation)."""

    MIGRATE = "migrate_assignment"
    ROLLBACK = "rollback_migration"
    DEPRECATE = "deprecate_content"
    ACCEPT_REPLACEMENT = "accept_replacement"

    @property
    def reconciliation_type(self) -> ReconciliationType:
        """The ``progress_reconciled`` type of the students' events."""
        if self in (ChangeAction.MIGRATE, ChangeAction.ROLLBACK):
            return ReconciliationType.MIGRATION
        return ReconciliationType.CONTENT_CHANGE


def _check_actor(actor_id: str | None, reason: str | None) -> None:
    if (actor_id is None) != (reason is None):
        raise InvalidInputError(
            "reason", reason, "D8, D19: a person's change names who and why"
        )


@attrs.frozen(kw_only=True)
class ChangeAssignment:
    """One change of an assignment's structure, for every student it covers.

    ``from_structure`` is the version the students' records were under,
    ``to_structure`` the version the catalog publishes; ``student_ids`` the
    students with records when the change began. ``actor_id`` and
    ``reason`` name the person who asked (both or neither, D8). The other
    fields say what was changed: ``rolled_back_id`` the change a rollback
    undoes; ``element_id``, ``stage`` and ``replaced_by_game_id`` the
    deprecated content; ``offer_id`` the accepted replacement offer.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import StepDefinition, Stage
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> v1 = AssignmentStructure(assignment_id="a", created_at=t0, steps=(
    ...     StepDefinition(step_id="s1", element_id="g", stage=Stage.PLAY,
    ...                    target_score=80),))
    >>> v2 = AssignmentStructure(assignment_id="a", created_at=t0, version=2,
    ...                          steps=v1.steps)
    >>> ChangeAssignment(command_id="m1", action=ChangeAction.MIGRATE,
    ...     assignment_id="a", from_structure=v1, to_structure=v2,
    ...     student_ids=("ada",), issued_at=t0).consumed_id("ada")
    'm1:ada:a'
    """

    command_id: str = attrs.field(validator=v.identifier)
    action: ChangeAction = attrs.field(validator=v.enum_of(ChangeAction))
    assignment_id: str = attrs.field(validator=v.identifier)
    from_structure: AssignmentStructure = attrs.field(
        validator=attrs.validators.instance_of(AssignmentStructure)
    )
    to_structure: AssignmentStructure = attrs.field(
        validator=attrs.validators.instance_of(AssignmentStructure)
    )
    student_ids: tuple[str, ...] = attrs.field(validator=v.identifiers)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    actor_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    reason: str | None = attrs.field(default=None, validator=v.optional_identifier)
    rolled_back_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    element_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    stage: Stage | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.enum_of(Stage))
    )
    replaced_by_game_id: str | None = attrs.field(
        default=None, validator=v.optional_identifier
    )
    offer_id: str | None = attrs.field(default=None, validator=v.optional_identifier)

    def __attrs_post_init__(self) -> None:
        for name, s in (
            ("from_structure", self.from_structure),
            ("to_structure", self.to_structure),
        ):
            if s.assignment_id != self.assignment_id:
                raise InvalidInputError(
                    f"{name}.assignment_id",
                    s.assignment_id,
                    f"a version of assignment {self.assignment_id!r}",
                )
        if len(set(self.student_ids)) != len(self.student_ids):
            raise InvalidInputError("student_ids", self.student_ids, "each id once")
        _check_actor(self.actor_id, self.reason)

    def consumed_id(self, student_id: str) -> str:
        """The id a student's part of the change consumes (D3)."""
        return f"{self.command_id}:{student_id}:{self.assignment_id}"


@attrs.frozen(kw_only=True)
class ReconcileStudent:
    """One student's records changed by a structure change or a repair.

    ``command_id`` is the id consumed (the pure outcome's
    ``consumed_ids``); ``change_id`` the change or repair it belongs to.

    >>> from datetime import datetime, UTC
    >>> ReconcileStudent(command_id="r1:ada:a", change_id="r1",
    ...     reconciliation_type=ReconciliationType.ERROR_REPAIR,
    ...     student_id="ada", assignment_id="a",
    ...     issued_at=datetime(2026, 9, 1, tzinfo=UTC)).actor_id is None
    True
    """

    command_id: str = attrs.field(validator=v.identifier)
    change_id: str = attrs.field(validator=v.identifier)
    reconciliation_type: ReconciliationType = attrs.field(
        validator=v.enum_of(ReconciliationType)
    )
    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    issued_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    actor_id: str | None = attrs.field(default=None, validator=v.optional_identifier)


#: The commands of this module, as a command log entry may hold them.
ReconciliationCommand = ChangeAssignment | ReconcileStudent

register_enums(ChangeAction, ReconciliationType)
for _cls in (ChangeAssignment, ReconcileStudent):
    attrs.resolve_types(_cls)
