"""The service authorizes every person's command (D19): a denied write stores
nothing of the command, is logged to the access log, and raises."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from mlc_progress import ArchiveAssignment, ExtendDueDate
from mlc_progress._commands import Command
from mlc_progress._permissions import (
    AccessLogEntry,
    Actor,
    PermissionDeniedError,
    Role,
)
from mlc_progress._ports import AuthorizedStore, Enrollment
from mlc_progress.adapters import InMemoryStore, SQLiteStore
from mlc_progress.testing.contract import AccessLogContract

from .test_service_support import (
    ADAPTERS,
    NOW,
    ORG,
    Adapter,
    attempt,
    dump,
    make_adapter,
    override,
)

TEACHER = Actor(
    actor_id="teacher-1", role=Role.TEACHER, organization_id=ORG, class_ids=("c1",)
)


class TestInMemoryAccessLog(AccessLogContract):
    def make_store(self, tmp_path: Path) -> InMemoryStore:
        return InMemoryStore()


class TestSQLiteAccessLog(AccessLogContract):
    def make_store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "progress.db")

    def reopen(self, store: AuthorizedStore) -> SQLiteStore:
        assert isinstance(store, SQLiteStore)
        store.close()
        return SQLiteStore(store.path)


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with make_adapter(request.param, tmp_path) as made:
        enroll(made, "u1", "c1")
        enroll(made, "u2", "c2")
        yield made


def enroll(adapter: Adapter, student_id: str, *class_ids: str) -> None:
    with adapter.store.unit_of_work() as uow:
        uow.roster.put(
            ORG,
            Enrollment(student_id=student_id, class_ids=class_ids),
            expected_version=0,
        )
        uow.commit()


def access_log(adapter: Adapter, org: str = ORG) -> tuple[AccessLogEntry, ...]:
    with adapter.store.unit_of_work() as uow:
        entries: tuple[AccessLogEntry, ...] = uow.access_log.entries(org)
    return entries


def logged(adapter: Adapter, command_id: str) -> bool:
    with adapter.store.unit_of_work() as uow:
        found: bool = uow.commands.contains(ORG, command_id)
    return found


def extend(command_id: str, *, actor_id: str = "teacher-1") -> ExtendDueDate:
    return ExtendDueDate(
        command_id=command_id,
        actor_id=actor_id,
        reason="illness",
        student_id="u1",
        assignment_id="a1",
        due_at=NOW + timedelta(days=30),
        issued_at=NOW,
    )


def archive(command_id: str) -> ArchiveAssignment:
    return ArchiveAssignment(
        command_id=command_id,
        actor_id="teacher-1",
        reason="term_ended",
        student_id="u1",
        assignment_id="a1",
        issued_at=NOW,
    )


# -- granted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [override("c1"), extend("c1")], ids=["override", "extend"]
)
def test_a_teacher_of_the_students_class_applies_a_command_with_an_audit_entry(
    adapter: Adapter, command: Command
) -> None:
    """A teacher of a class the roster puts the student in is allowed: the
    command is applied, audited with the teacher (Q85), and nothing is logged
    as denied."""
    outcome = adapter.service().apply(ORG, command, actor=TEACHER)
    assert outcome.applied
    assert logged(adapter, "c1")
    (entry,) = dump(adapter.store)["audit u1"]
    assert entry.actor_id == "teacher-1"
    assert access_log(adapter) == ()


def test_a_system_command_needs_no_actor(adapter: Adapter) -> None:
    """An attempt comes from the game system: applied without an actor."""
    assert adapter.service().apply(ORG, attempt("t1", score=90.0)).applied


def test_a_student_may_record_their_own_attempt(adapter: Adapter) -> None:
    """A system command given with an actor is checked too: a student's own
    attempt passes (read_own_progress on their own records)."""
    student = Actor(actor_id="u1", role=Role.STUDENT, organization_id=ORG)
    assert adapter.service().apply(ORG, attempt("t1"), actor=student).applied


def test_a_denied_command_can_be_applied_later_by_someone_allowed(
    adapter: Adapter,
) -> None:
    """A denial stores nothing, so the same command id is not consumed (D3):
    the teacher of the class applies it afterwards."""
    other = attrs.evolve(TEACHER, class_ids=("c2",))
    with pytest.raises(PermissionDeniedError):
        adapter.service().apply(ORG, override("c1"), actor=other)
    assert adapter.service().apply(ORG, override("c1"), actor=TEACHER).applied
    assert len(access_log(adapter)) == 1


# -- denied ---------------------------------------------------------------------------

DENIALS: list[tuple[str, Command, Actor | None, str]] = [
    ("no actor", override("c1"), None, "a person's command needs an actor"),
    (
        "a teacher of another class",
        override("c1"),
        attrs.evolve(TEACHER, class_ids=("c2",)),
        "the student is not in a class the actor teaches",
    ),
    (
        "another organization with colliding ids",
        override("c1"),
        attrs.evolve(TEACHER, organization_id="org-2"),
        "the resource belongs to another organization",
    ),
    (
        "an unknown role",
        override("c1"),
        attrs.evolve(TEACHER, role="principal"),
        "unknown role 'principal'",
    ),
    (
        "an admin overriding",
        override("c1"),
        Actor(actor_id="teacher-1", role=Role.ADMIN, organization_id=ORG),
        "an admin may not override",
    ),
    (
        "a student extending their own deadline",
        extend("c1", actor_id="u1"),
        Actor(actor_id="u1", role=Role.STUDENT, organization_id=ORG),
        "a student may not extend_deadline",
    ),
    (
        "a command naming another actor",
        extend("c1", actor_id="teacher-2"),
        TEACHER,
        "the command names another actor",
    ),
    (
        "an attempt of another student",
        attempt("c1", student_id="u1"),
        Actor(actor_id="u2", role=Role.STUDENT, organization_id=ORG),
        "the records are not the actor's own",
    ),
    (
        "archiving with an actor (an action no role has)",
        archive("c1"),
        TEACHER,
        "archiving is the host's (D14): apply it without an actor",
    ),
]


@pytest.mark.parametrize(
    ("command", "actor", "reason"),
    [row[1:] for row in DENIALS],
    ids=[row[0] for row in DENIALS],
)
def test_a_denied_command_changes_nothing_and_is_logged(
    adapter: Adapter, command: Command, actor: Actor | None, reason: str
) -> None:
    """The service raises PermissionDeniedError with the reason; no record,
    no command-log entry, no audit, no event is stored; the access log holds
    exactly the denial, under the organization asked about."""
    service = adapter.service()
    service.apply(ORG, attempt("t0", score=40.0))
    before = dump(adapter.store)
    with pytest.raises(PermissionDeniedError) as raised:
        service.apply(ORG, command, actor=actor)
    assert raised.value.decision.reason == reason
    assert dump(adapter.store) == before
    assert not logged(adapter, "c1")
    (entry,) = access_log(adapter)
    assert (entry.allowed, entry.reason, entry.student_id) == (False, reason, "u1")
    assert entry.occurred_at == NOW
    if actor is not None:
        assert (entry.actor_id, entry.actor_organization_id) == (
            actor.actor_id,
            actor.organization_id,
        )


def test_a_denial_in_a_batch_stores_nothing_of_the_batch(adapter: Adapter) -> None:
    """apply_many is all or nothing: one denied command refuses the batch,
    the error names its position, and one denial is logged."""
    of_u2 = attrs.evolve(extend("c2"), student_id="u2")  # u2 is in class c2
    batch: list[Command] = [override("c1"), of_u2, override("c3", step_id="s2")]
    before = dump(adapter.store)
    with pytest.raises(PermissionDeniedError) as raised:
        adapter.service().apply_many(ORG, batch, actor=TEACHER)
    assert "command 1 ('c2') of the batch" in " ".join(raised.value.__notes__)
    assert dump(adapter.store) == before
    assert [e.action for e in access_log(adapter)] == ["extend_deadline"]


def test_a_store_without_an_access_log_still_denies(tmp_path: Path) -> None:
    """A host's unit of work without ``access_log`` still refuses the command;
    the error says the denial was not logged."""

    class Plain:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name == "access_log":
                raise AttributeError(name)
            return getattr(self._inner, name)

        def __enter__(self) -> Plain:
            self._inner.__enter__()
            return self

        def __exit__(self, *exc: object) -> None:
            self._inner.__exit__(*exc)

    with make_adapter("memory", tmp_path) as made:
        store = made.store
        service = made.service()
        service._unit_of_work = lambda: Plain(store.unit_of_work())
        with pytest.raises(PermissionDeniedError) as raised:
            service.apply(ORG, override("c1"))
        assert "not logged" in " ".join(raised.value.__notes__)
        assert access_log(made) == ()
