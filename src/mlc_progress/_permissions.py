"""Who may do what to whose progress: one pure decision, deny by default (D19).

``authorize(actor, action, resource)`` answers every read and write with a
:class:`Decision` that carries a reason and the rule behind it. It reads no
clock and no storage: the caller says who the actor is (role, organization,
classes taught, children) and where the resource lives (organization,
student, classes). Anything it does not recognize, a role, an action or a
kind of resource, is denied, never raised. Nobody but a system admin crosses
an organization's boundary, so identical ids in two organizations never grant
anything.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

import attrs

from . import _validate as v
from ._commands import (
    AdjustTarget,
    ExtendDueDate,
    OverrideComplete,
    RequestTeacherReview,
)
from ._errors import InvalidInputError, ProgressError

__all__ = [
    "AccessLogEntry",
    "Action",
    "Actor",
    "ChildLink",
    "Decision",
    "PermissionDeniedError",
    "Resource",
    "ResourceKind",
    "Role",
    "access_log_entry",
    "authorize",
    "command_action",
    "require",
]

RULE = "D19"

_E = TypeVar("_E", bound=enum.StrEnum)


class Role(enum.StrEnum):
    """The roles of the spec's **Permissions** section."""

    STUDENT = "student"
    TEACHER = "teacher"
    ADMIN = "admin"
    SYSTEM_ADMIN = "system_admin"
    PARENT = "parent"


class Action(enum.StrEnum):
    """What an actor asks to do (spec: Permissions; Q21 in the docs).

    ``read_summary`` is the parents' simplified read; ``export_student_data``
    and ``deactivate_student`` are the privacy actions (subject access and
    pseudonymizing deactivation).
    """

    READ_OWN_PROGRESS = "read_own_progress"
    READ_SUMMARY = "read_summary"
    READ_HISTORY = "read_history"
    READ_CLASS = "read_class"
    READ_ORGANIZATION = "read_organization"
    OVERRIDE = "override"
    ADJUST_TARGET = "adjust_target"
    EXTEND_DEADLINE = "extend_deadline"
    EXPORT_REPORTS = "export_reports"
    EXPORT_BULK_DATA = "export_bulk_data"
    CONFIGURE_POLICY = "configure_policy"
    REPAIR = "repair"
    READ_RAW = "read_raw"
    EXPORT_STUDENT_DATA = "export_student_data"
    DEACTIVATE_STUDENT = "deactivate_student"


class ResourceKind(enum.StrEnum):
    """What a resource is; each action applies to some kinds only."""

    STEP = "step"
    ASSIGNMENT = "assignment"
    SEQUENCE = "sequence"
    SUMMARY = "summary"
    SNAPSHOT = "snapshot"
    RAW = "raw"
    POLICY = "policy"
    CLASS = "class"
    ORGANIZATION = "organization"
    STUDENT = "student"


class _Scope(enum.Enum):
    """How far a grant reaches from the actor."""

    SELF = "the actor's own records"
    CHILD_WITH_CONSENT = "the actor's own child, with the child's consent"
    TAUGHT_CLASS = "a class the actor teaches"
    ORGANIZATION = "the actor's organization"
    ANY_ORGANIZATION = "every organization"


_PROGRESS = frozenset(
    {
        ResourceKind.STEP,
        ResourceKind.ASSIGNMENT,
        ResourceKind.SEQUENCE,
        ResourceKind.SUMMARY,
    }
)

#: The kinds of resource each action applies to; any other kind is denied.
_KINDS: Mapping[Action, frozenset[ResourceKind]] = {
    Action.READ_OWN_PROGRESS: _PROGRESS,
    Action.READ_SUMMARY: frozenset({ResourceKind.SUMMARY}),
    Action.READ_HISTORY: frozenset({ResourceKind.SNAPSHOT}),
    Action.READ_CLASS: _PROGRESS | {ResourceKind.CLASS},
    Action.READ_ORGANIZATION: _PROGRESS
    | {ResourceKind.CLASS, ResourceKind.ORGANIZATION},
    Action.OVERRIDE: frozenset({ResourceKind.STEP}),
    Action.ADJUST_TARGET: frozenset({ResourceKind.STEP}),
    Action.EXTEND_DEADLINE: frozenset({ResourceKind.ASSIGNMENT}),
    Action.EXPORT_REPORTS: _PROGRESS | {ResourceKind.CLASS, ResourceKind.ORGANIZATION},
    Action.EXPORT_BULK_DATA: frozenset({ResourceKind.CLASS, ResourceKind.ORGANIZATION}),
    Action.CONFIGURE_POLICY: frozenset({ResourceKind.POLICY}),
    Action.REPAIR: _PROGRESS,
    Action.READ_RAW: frozenset({ResourceKind.RAW}),
    Action.EXPORT_STUDENT_DATA: frozenset({ResourceKind.STUDENT}),
    Action.DEACTIVATE_STUDENT: frozenset({ResourceKind.STUDENT}),
}

_TEACHER = _Scope.TAUGHT_CLASS
_ADMIN = _Scope.ORGANIZATION

#: Every grant there is; a (role, action) pair missing here is denied (D19).
_GRANTS: Mapping[Role, Mapping[Action, _Scope]] = {
    Role.STUDENT: {
        Action.READ_OWN_PROGRESS: _Scope.SELF,
        Action.READ_SUMMARY: _Scope.SELF,
        Action.READ_HISTORY: _Scope.SELF,
    },
    Role.TEACHER: {
        Action.READ_CLASS: _TEACHER,
        Action.READ_SUMMARY: _TEACHER,
        Action.READ_HISTORY: _TEACHER,
        Action.OVERRIDE: _TEACHER,
        Action.ADJUST_TARGET: _TEACHER,
        Action.EXTEND_DEADLINE: _TEACHER,
        Action.EXPORT_REPORTS: _TEACHER,
    },
    Role.ADMIN: {
        Action.READ_CLASS: _ADMIN,
        Action.READ_ORGANIZATION: _ADMIN,
        Action.READ_SUMMARY: _ADMIN,
        Action.READ_HISTORY: _ADMIN,
        Action.EXPORT_REPORTS: _ADMIN,
        Action.EXPORT_BULK_DATA: _ADMIN,
        Action.CONFIGURE_POLICY: _ADMIN,
        Action.EXPORT_STUDENT_DATA: _ADMIN,
        Action.DEACTIVATE_STUDENT: _ADMIN,
    },
    Role.SYSTEM_ADMIN: dict.fromkeys(Action, _Scope.ANY_ORGANIZATION),
    Role.PARENT: {Action.READ_SUMMARY: _Scope.CHILD_WITH_CONSENT},
}


def _parse(kind: type[_E], value: object) -> _E | None:
    """The member whose value is exactly ``value``, or ``None``."""
    if isinstance(value, kind):
        return value
    if type(value) is str:
        try:
            return kind(value)
        except ValueError:
            return None
    return None


def _as_role(value: str) -> str:
    # Known text becomes the member, so records compare and serialize alike;
    # unknown text is kept as given and denied by ``authorize``.
    return _parse(Role, value) or value


def _as_kind(value: str) -> str:
    return _parse(ResourceKind, value) or value


@attrs.frozen(kw_only=True)
class ChildLink:
    """A parent's child, and whether the child consented to sharing (D19)."""

    student_id: str = attrs.field(validator=v.identifier)
    consent: bool = attrs.field(validator=v.boolean)


@attrs.frozen(kw_only=True)
class Actor:
    """Who asks: a person (or the system) in one organization.

    ``role`` is a :class:`Role`, or any text the host passed on; text that is
    not exactly a role's value is kept here and denied by :func:`authorize`.
    ``class_ids`` are the classes a teacher teaches (for a student, the
    classes enrolled in; they grant a student nothing). ``children`` are a
    parent's children with their consent.

    >>> Actor(actor_id="t1", role=Role.TEACHER, organization_id="org",
    ...       class_ids=("c1",)).role
    <Role.TEACHER: 'teacher'>
    """

    actor_id: str = attrs.field(validator=v.identifier)
    role: str = attrs.field(converter=_as_role, validator=v.text)
    organization_id: str = attrs.field(validator=v.identifier)
    class_ids: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)
    children: tuple[ChildLink, ...] = attrs.field(default=())

    @children.validator
    def _check_children(
        self, attribute: attrs.Attribute[object], value: object
    ) -> None:
        if not isinstance(value, tuple) or not all(
            isinstance(c, ChildLink) for c in value
        ):
            raise InvalidInputError("children", value, "a tuple of ChildLink")
        ids = [c.student_id for c in value]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(
                "children", ids, "a child is listed once, with one consent"
            )


@attrs.frozen(kw_only=True)
class Resource:
    """What is asked for, and where it lives.

    ``student_id`` is the student whose records these are (``None`` for a
    class, an organization or a policy); ``class_ids`` are the classes the
    student is enrolled in, or the class itself. The service fills these in
    from its own enrolment data, never from the request.

    >>> Resource.of_student(ResourceKind.STEP, organization_id="org",
    ...                     student_id="s1", class_ids=("c1",)).kind
    <ResourceKind.STEP: 'step'>
    """

    kind: str = attrs.field(converter=_as_kind, validator=v.text)
    organization_id: str = attrs.field(validator=v.identifier)
    student_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    class_ids: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)

    @classmethod
    def of_student(
        cls,
        kind: ResourceKind | str,
        *,
        organization_id: str,
        student_id: str,
        class_ids: tuple[str, ...] = (),
    ) -> Resource:
        """A student's records of ``kind``, with the student's classes."""
        return cls(
            kind=kind,
            organization_id=organization_id,
            student_id=student_id,
            class_ids=class_ids,
        )

    @classmethod
    def of_class(cls, *, organization_id: str, class_id: str) -> Resource:
        """A class as a whole (the class overview)."""
        return cls(
            kind=ResourceKind.CLASS,
            organization_id=organization_id,
            class_ids=(class_id,),
        )

    @classmethod
    def of_organization(
        cls,
        *,
        organization_id: str,
        kind: ResourceKind | str = ResourceKind.ORGANIZATION,
    ) -> Resource:
        """An organization as a whole, or its policy (``kind=POLICY``)."""
        return cls(kind=kind, organization_id=organization_id)


@attrs.frozen(kw_only=True)
class Decision:
    """The answer of :func:`authorize`: allowed or not, why, and by which rule."""

    allowed: bool = attrs.field(validator=v.boolean)
    reason: str = attrs.field(validator=v.identifier)
    rule: str = attrs.field(validator=v.identifier)


def _deny(reason: str, rule: str = f"{RULE}: deny by default") -> Decision:
    return Decision(allowed=False, reason=reason, rule=rule)


def authorize(actor: Actor, action: Action | str, resource: Resource) -> Decision:
    """Decide whether ``actor`` may do ``action`` on ``resource`` (D19).

    Pure and total: it never raises, whatever it is given. Denied unless a
    grant covers the role, the action, the kind of resource and the actor's
    relation to it (own records, own child with consent, a class taught, the
    organization). Only a system admin crosses organizations.

    >>> teacher = Actor(actor_id="t1", role=Role.TEACHER,
    ...                 organization_id="org-a", class_ids=("c1",))
    >>> step = Resource.of_student(ResourceKind.STEP, organization_id="org-a",
    ...                            student_id="s1", class_ids=("c1",))
    >>> authorize(teacher, Action.OVERRIDE, step).allowed
    True
    >>> elsewhere = attrs.evolve(step, organization_id="org-b")
    >>> authorize(teacher, Action.OVERRIDE, elsewhere).reason
    'the resource belongs to another organization'
    """
    given: tuple[object, object] = (actor, resource)  # callers may be untyped
    if not (isinstance(given[0], Actor) and isinstance(given[1], Resource)):
        return _deny("the actor or the resource is not recognized")
    role = _parse(Role, actor.role)
    if role is None:
        return _deny(f"unknown role {actor.role!r}")
    known = _parse(Action, action)
    if known is None:
        return _deny(f"unknown action {action!r}")
    kind = _parse(ResourceKind, resource.kind)
    if kind is None:
        return _deny(f"unknown kind of resource {resource.kind!r}")
    if kind not in _KINDS[known]:
        return _deny(f"{known.value} does not apply to the kind {kind.value!r}")
    scope = _GRANTS[role].get(known)
    if scope is None:
        return _deny(f"{_article(role.value)} may not {known.value}", _RULES[role])
    if (
        scope is not _Scope.ANY_ORGANIZATION
        and actor.organization_id != resource.organization_id
    ):
        return _deny(
            "the resource belongs to another organization",
            f"{RULE}: no role but the system admin crosses an organization",
        )
    if scope is _Scope.SELF and (
        resource.student_id is None or resource.student_id != actor.actor_id
    ):
        return _deny("the records are not the actor's own", _RULES[role])
    if scope is _Scope.CHILD_WITH_CONSENT:
        link = next(
            (c for c in actor.children if c.student_id == resource.student_id), None
        )
        if link is None or resource.student_id is None:
            return _deny("the student is not the actor's child", _RULES[role])
        if not link.consent:
            return _deny("the student has not consented", _RULES[role])
    if scope is _Scope.TAUGHT_CLASS and not (
        set(resource.class_ids) & set(actor.class_ids)
    ):
        return _deny("the student is not in a class the actor teaches", _RULES[role])
    return Decision(
        allowed=True,
        reason=f"{_article(role.value)} may {known.value} on {scope.value}",
        rule=_RULES[role],
    )


_RULES: Mapping[Role, str] = {
    Role.STUDENT: f"{RULE}: students read their own progress and history",
    Role.TEACHER: f"{RULE}: teachers read and act on students of classes they teach",
    Role.ADMIN: f"{RULE}: admins read their organization",
    Role.SYSTEM_ADMIN: f"{RULE}: system admins everything",
    Role.PARENT: f"{RULE}: parents read simplified summaries of their own"
    " children, only with the student's consent",
}


class PermissionDeniedError(ProgressError, PermissionError):
    """Raised by :func:`require` when :func:`authorize` denies an action.

    Nothing has changed. ``decision`` says why; log it (see
    :func:`access_log_entry`) and show the actor a refusal, not the data.
    """

    def __init__(self, actor_id: str, action: str, decision: Decision) -> None:
        self.actor_id = actor_id
        self.action = action
        self.decision = decision
        super().__init__(
            f"{actor_id} may not {action}: {decision.reason} ({decision.rule})"
        )

    def __reduce__(
        self,
    ) -> tuple[type[PermissionDeniedError], tuple[str, str, Decision]]:
        return (type(self), (self.actor_id, self.action, self.decision))


def require(actor: Actor, action: Action | str, resource: Resource) -> Decision:
    """:func:`authorize`, raising :class:`PermissionDeniedError` on a denial.

    >>> parent = Actor(actor_id="p1", role=Role.PARENT, organization_id="org",
    ...                children=(ChildLink(student_id="kid", consent=False),))
    >>> summary = Resource.of_student(ResourceKind.SUMMARY,
    ...                               organization_id="org", student_id="kid")
    >>> require(parent, Action.READ_SUMMARY, summary)
    Traceback (most recent call last):
    ...
    mlc_progress._permissions.PermissionDeniedError: p1 may not read_summary: ...
    """
    decision = authorize(actor, action, resource)
    if not decision.allowed:
        actor_id = actor.actor_id if isinstance(actor, Actor) else repr(actor)
        raise PermissionDeniedError(actor_id, str(action), decision)
    return decision


def command_action(command: object) -> Action | None:
    """The action a person's command needs, or ``None`` for system commands.

    Attempts, step starts and free-play reconciliation come from the game
    system, not a person; archiving is the host's (D14).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import ExtendDueDate
    >>> command_action(ExtendDueDate(
    ...     command_id="c", actor_id="t1", reason="illness", student_id="s1",
    ...     assignment_id="a1", due_at=datetime(2026, 10, 1, tzinfo=UTC),
    ...     issued_at=datetime(2026, 9, 1, tzinfo=UTC)))
    <Action.EXTEND_DEADLINE: 'extend_deadline'>
    """
    if isinstance(command, OverrideComplete):
        return Action.OVERRIDE
    if isinstance(command, AdjustTarget):
        return Action.ADJUST_TARGET
    if isinstance(command, ExtendDueDate):
        return Action.EXTEND_DEADLINE
    if isinstance(command, RequestTeacherReview):
        return Action.READ_CLASS
    return None


@attrs.frozen(kw_only=True)
class AccessLogEntry:
    """One decision as an append-only log line: who, when, what, on what, why.

    ``allowed`` and ``reason``/``rule`` are the decision; ``purpose`` is the
    actor's own reason when the action needs one (an export, a deactivation).
    """

    entry_id: str = attrs.field(validator=v.identifier)
    occurred_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    actor_id: str = attrs.field(validator=v.identifier)
    role: str = attrs.field(validator=v.text)
    actor_organization_id: str = attrs.field(validator=v.identifier)
    action: str = attrs.field(validator=v.text)
    resource_kind: str = attrs.field(validator=v.text)
    organization_id: str = attrs.field(validator=v.identifier)
    student_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    allowed: bool = attrs.field(validator=v.boolean)
    reason: str = attrs.field(validator=v.identifier)
    rule: str = attrs.field(validator=v.identifier)
    purpose: str | None = attrs.field(default=None, validator=v.optional_identifier)


def access_log_entry(
    actor: Actor,
    action: Action | str,
    resource: Resource,
    decision: Decision,
    *,
    entry_id: str,
    occurred_at: datetime,
    purpose: str | None = None,
) -> AccessLogEntry:
    """The log line for ``decision``; the service appends one per denied
    write and per privacy action (D19: a denied write changes nothing and is
    logged).

    >>> from datetime import datetime, UTC
    >>> admin = Actor(actor_id="a1", role=Role.ADMIN, organization_id="org")
    >>> res = Resource.of_organization(organization_id="org")
    >>> d = authorize(admin, Action.READ_RAW, res)
    >>> entry = access_log_entry(admin, Action.READ_RAW, res, d, entry_id="e1",
    ...                          occurred_at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> entry.allowed, entry.reason
    (False, "read_raw does not apply to the kind 'organization'")
    """
    return AccessLogEntry(
        entry_id=entry_id,
        occurred_at=occurred_at,
        actor_id=actor.actor_id,
        role=str(actor.role),
        actor_organization_id=actor.organization_id,
        action=str(action),
        resource_kind=str(resource.kind),
        organization_id=resource.organization_id,
        student_id=resource.student_id,
        allowed=decision.allowed,
        reason=decision.reason,
        rule=decision.rule,
        purpose=purpose,
    )


for _cls in (ChildLink, Actor, Resource, Decision, AccessLogEntry):
    attrs.resolve_types(_cls)


def _article(noun: str) -> str:
    """``noun`` with its indefinite article: "an admin", "a teacher"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"
