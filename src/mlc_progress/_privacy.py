"""Privacy: a student's data as one document, and deactivation by pseudonym.

The spec's privacy questions, decided (Q33, Q34 in the docs):

- A subject-access request is answered with one JSON document holding every
  record of the student that the caller passes in: steps, assignments,
  sequences, summaries, snapshots, attempts, audit entries and the access
  log. Other students' records are filtered out, never exported.
- Deactivation deletes nothing (D18: raw data is never deleted). It appends
  a :class:`Pseudonym`: the student's id mapped to a keyed, deterministic
  pseudonym. Reads and reports apply the mapping (:func:`pseudonymize`), so
  the student no longer appears by id or name.

Both are authorized (``export_student_data`` and ``deactivate_student``: the
student's organization admin and the system admin, D19) and audited with an
:class:`AccessLogEntry`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import attrs

from . import _validate as v
from ._commands import AuditEntry
from ._enums import ScopeType
from ._errors import InvalidInputError
from ._permissions import (
    AccessLogEntry,
    Action,
    Actor,
    Resource,
    ResourceKind,
    access_log_entry,
    require,
)
from ._records import (
    AssignmentProgress,
    ProgressSnapshot,
    SequenceProgress,
    StepProgress,
    StudentProgressSummary,
)
from ._retention import STEP_AGGREGATE
from ._serialization import unstructure
from ._structure import Attempt

__all__ = [
    "EXPORT_FORMAT",
    "Deactivation",
    "Pseudonym",
    "StudentDataExport",
    "export_student_data",
    "pseudonym_for",
    "pseudonym_mapping",
    "pseudonymize",
    "pseudonymize_student",
]

EXPORT_FORMAT = "mlc_progress.student_data_export/1"
PSEUDONYM_PREFIX = "anon-"
MIN_KEY_BYTES = 16

_R = TypeVar("_R")


def pseudonym_for(student_id: str, *, organization_id: str, key: bytes) -> str:
    """The student's pseudonym: an HMAC-SHA-256 of organization and id.

    Deterministic for one key (deactivating twice gives one pseudonym) and
    unlinkable without it; the organization is part of the input, so equal
    ids in two organizations get different pseudonyms.

    >>> pseudonym_for("u1", organization_id="org", key=b"k" * 16)
    'anon-bec3e484ef4e6e82053b'
    """
    v.check_id_value("student_id", student_id)
    v.check_id_value("organization_id", organization_id)
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise InvalidInputError(
            "key",
            "<hidden>",
            f"privacy: a pseudonym key is at least {MIN_KEY_BYTES} bytes",
        )
    message = f"{organization_id}\x1f{student_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:20]


@attrs.frozen(kw_only=True)
class Pseudonym:
    """A deactivated student's id and the pseudonym that replaces it on read."""

    student_id: str = attrs.field(validator=v.identifier)
    organization_id: str = attrs.field(validator=v.identifier)
    pseudonym: str = attrs.field(validator=v.identifier)
    deactivated_at: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    actor_id: str = attrs.field(validator=v.identifier)
    reason: str = attrs.field(validator=v.identifier)


@attrs.frozen(kw_only=True)
class Deactivation:
    """What a deactivation appends: the pseudonym and its audit line."""

    pseudonym: Pseudonym = attrs.field(
        validator=attrs.validators.instance_of(Pseudonym)
    )
    audit: AccessLogEntry = attrs.field(
        validator=attrs.validators.instance_of(AccessLogEntry)
    )


def _student_resource(
    organization_id: str, student_id: str, class_ids: tuple[str, ...]
) -> Resource:
    return Resource.of_student(
        ResourceKind.STUDENT,
        organization_id=organization_id,
        student_id=student_id,
        class_ids=class_ids,
    )


def pseudonymize_student(
    actor: Actor,
    *,
    student_id: str,
    organization_id: str,
    key: bytes,
    reason: str,
    as_of: datetime,
    entry_id: str,
    class_ids: tuple[str, ...] = (),
) -> Deactivation:
    """Deactivate a student by pseudonym; nothing is deleted (Q34).

    Raises :class:`PermissionDeniedError` unless ``actor`` may
    ``deactivate_student`` (the organization's admin, a system admin).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._permissions import Role
    >>> admin = Actor(actor_id="a1", role=Role.ADMIN, organization_id="org")
    >>> done = pseudonymize_student(admin, student_id="u1", organization_id="org",
    ...     key=b"k" * 16, reason="account closed", entry_id="log-1",
    ...     as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> done.pseudonym.pseudonym, done.audit.action
    ('anon-bec3e484ef4e6e82053b', 'deactivate_student')
    """
    v.check_id_value("reason", reason)
    resource = _student_resource(organization_id, student_id, class_ids)
    decision = require(actor, Action.DEACTIVATE_STUDENT, resource)
    pseudonym = Pseudonym(
        student_id=student_id,
        organization_id=organization_id,
        pseudonym=pseudonym_for(student_id, organization_id=organization_id, key=key),
        deactivated_at=as_of,
        actor_id=actor.actor_id,
        reason=reason,
    )
    audit = access_log_entry(
        actor,
        Action.DEACTIVATE_STUDENT,
        resource,
        decision,
        entry_id=entry_id,
        occurred_at=as_of,
        purpose=reason,
    )
    return Deactivation(pseudonym=pseudonym, audit=audit)


def pseudonym_mapping(
    pseudonyms: Iterable[Pseudonym], *, organization_id: str
) -> dict[str, str]:
    """Student id to pseudonym for one organization (records carry no
    organization, so a mapping is always applied within one).

    >>> pseudonym_mapping([], organization_id="org")
    {}
    """
    return {
        p.student_id: p.pseudonym
        for p in pseudonyms
        if p.organization_id == organization_id
    }


def _library_id(text: str, student_id: str, mapping: Mapping[str, str]) -> str:
    # D22's aggregate ids are built by the library from the student's id
    # (step_aggregate/<student_id>/...); a host's ids are left as written (Q34).
    prefix = f"{STEP_AGGREGATE}/{student_id}/"
    if student_id in mapping and text.startswith(prefix):
        return f"{STEP_AGGREGATE}/{mapping[student_id]}/{text[len(prefix) :]}"
    return text


def _replace_field(owner: Any, name: str, old: Any, mapping: Mapping[str, str]) -> Any:
    """Field ``name`` (value ``old``) of a record or mapping ``owner``."""
    if name == "student_id" and isinstance(old, str):
        return mapping.get(old, old)
    get = owner.get if isinstance(owner, Mapping) else partial(getattr, owner)
    student_id = get("student_id", None)
    if not isinstance(student_id, str):
        return _replace(old, mapping)
    if (
        name == "scope_id"
        and isinstance(old, str)
        and get("scope_type", None) == ScopeType.STUDENT
    ):
        return mapping.get(old, old)
    if name in ("snapshot_id", "aggregate_id") and isinstance(old, str):
        new = _library_id(old, student_id, mapping)
        return old if new == old else new
    if name == "snapshot_ids" and isinstance(old, list | tuple):
        ids = [
            _library_id(i, student_id, mapping) if isinstance(i, str) else i
            for i in old
        ]
        return old if ids == list(old) else type(old)(ids)
    return _replace(old, mapping)


def _replace(value: Any, mapping: Mapping[str, str]) -> Any:
    if attrs.has(type(value)):
        changes = {}
        for field in attrs.fields(type(value)):
            old = getattr(value, field.name)
            new = _replace_field(value, field.name, old, mapping)
            if new is not old:
                changes[field.name] = new
        return attrs.evolve(value, **changes) if changes else value
    if isinstance(value, Mapping):
        replaced = {
            k: _replace_field(value, k, item, mapping) for k, item in value.items()
        }
        return value if replaced == dict(value) else replaced
    if isinstance(value, list | tuple):
        items = [_replace(item, mapping) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    return value


def pseudonymize(record: _R, mapping: Mapping[str, str]) -> _R:
    """``record`` as reads and reports show it after deactivations.

    Every ``student_id`` field, in the record and in nested records and
    mappings (snapshots' state, audit entries' before and after), is replaced
    by its pseudonym, and so is every id the library builds from it (Q34): a
    student snapshot's ``scope_id`` and the ``step_aggregate/<student_id>/``
    prefix of D22's aggregate ids. Ids a host chose are left as written. The
    stored record is untouched: this is a view.

    >>> from mlc_progress import StepProgress
    >>> step = StepProgress(step_id="s", assignment_id="a", student_id="u1",
    ...                     target_score=80)
    >>> pseudonymize(step, {"u1": "anon-1"}).student_id
    'anon-1'
    """
    result: _R = _replace(record, mapping)
    return result


@attrs.frozen(kw_only=True)
class StudentDataExport:
    """A subject-access export: the document and the audit line of the export."""

    document: Mapping[str, Any] = attrs.field(hash=False)
    audit: AccessLogEntry = attrs.field(
        validator=attrs.validators.instance_of(AccessLogEntry)
    )

    def to_json(self) -> str:
        """The document as indented JSON with sorted keys."""
        return json.dumps(self.document, sort_keys=True, indent=2, ensure_ascii=False)


def export_student_data(
    actor: Actor,
    *,
    student_id: str,
    organization_id: str,
    purpose: str,
    as_of: datetime,
    export_id: str,
    class_ids: tuple[str, ...] = (),
    steps: Iterable[StepProgress] = (),
    assignments: Iterable[AssignmentProgress] = (),
    sequences: Iterable[SequenceProgress] = (),
    summaries: Iterable[StudentProgressSummary] = (),
    snapshots: Iterable[ProgressSnapshot] = (),
    attempts: Iterable[Attempt] = (),
    audit_entries: Iterable[AuditEntry] = (),
    access_log: Iterable[AccessLogEntry] = (),
    pseudonyms: Iterable[Pseudonym] = (),
) -> StudentDataExport:
    """Every record of one student as one JSON-ready document (Q33).

    Records of other students (and summaries, access-log lines and pseudonyms
    of other organizations) are left out. Lists are in a stable order.
    Raises :class:`PermissionDeniedError` unless ``actor`` may
    ``export_student_data``.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._permissions import Role
    >>> admin = Actor(actor_id="a1", role=Role.ADMIN, organization_id="org")
    >>> out = export_student_data(admin, student_id="u1", organization_id="org",
    ...     purpose="subject access request 17", export_id="x1",
    ...     as_of=datetime(2026, 9, 1, tzinfo=UTC))
    >>> out.document["format"], out.document["counts"]["steps"]
    ('mlc_progress.student_data_export/1', 0)
    """
    v.check_id_value("purpose", purpose)
    v.check_id_value("export_id", export_id)
    resource = _student_resource(organization_id, student_id, class_ids)
    decision = require(actor, Action.EXPORT_STUDENT_DATA, resource)

    def mine(records: Iterable[_R]) -> list[_R]:
        return [r for r in records if getattr(r, "student_id", None) == student_id]

    sections: dict[str, list[Any]] = {
        "steps": sorted(mine(steps), key=lambda s: (s.assignment_id, s.step_id)),
        "assignments": sorted(mine(assignments), key=lambda a: a.assignment_id),
        "sequences": sorted(mine(sequences), key=lambda s: s.sequence_id),
        "summaries": [
            s for s in mine(summaries) if s.organization_id == organization_id
        ],
        "snapshots": sorted(
            mine(snapshots), key=lambda s: (s.snapshot_date, s.snapshot_id)
        ),
        "attempts": sorted(
            mine(attempts), key=lambda a: (a.attempted_at, a.attempt_id)
        ),
        "audit_entries": sorted(
            mine(audit_entries), key=lambda e: (e.occurred_at, e.audit_id)
        ),
        "access_log": sorted(
            (e for e in mine(access_log) if e.organization_id == organization_id),
            key=lambda e: (e.occurred_at, e.entry_id),
        ),
        "pseudonyms": [
            p for p in mine(pseudonyms) if p.organization_id == organization_id
        ],
    }
    document = {
        "format": EXPORT_FORMAT,
        "export_id": export_id,
        "exported_at": unstructure(as_of),
        "student_id": student_id,
        "organization_id": organization_id,
        "counts": {name: len(records) for name, records in sections.items()},
        "records": {
            name: [unstructure(r) for r in records]
            for name, records in sections.items()
        },
    }
    audit = access_log_entry(
        actor,
        Action.EXPORT_STUDENT_DATA,
        resource,
        decision,
        entry_id=export_id,
        occurred_at=as_of,
        purpose=purpose,
    )
    return StudentDataExport(document=document, audit=audit)


for _cls in (Pseudonym, Deactivation, StudentDataExport):
    attrs.resolve_types(_cls)
