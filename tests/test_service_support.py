"""Helpers for the service, adapter and reliability tests, and their own checks.

``make_adapter`` builds either reference adapter; ``FaultyStore`` wraps any
store and fails its k-th storage call; ``dump`` reads everything an
organization has, so two stores (or one store before and after) compare.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import pytest

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    ConflictError,
    OverrideComplete,
    SequenceStructure,
    Stage,
    StartStep,
    StepDefinition,
    StorageError,
)
from mlc_progress._permissions import Actor, Role
from mlc_progress._ports import Store, UnitOfWork
from mlc_progress._service import ProgressService
from mlc_progress.adapters import (
    FixedClock,
    InMemoryCatalog,
    InMemoryStore,
    SQLiteStore,
)

ORG = "org-1"
T0 = datetime(2026, 9, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=3)
ADAPTERS = ("memory", "sqlite")


def structure(
    assignment_id: str = "a1",
    *,
    steps: int = 4,
    sequence_id: str | None = None,
    optional: tuple[int, ...] = (),
) -> AssignmentStructure:
    """An assignment of ``steps`` PLAY/QUIZ steps ``s1``..., target 80."""
    return AssignmentStructure(
        assignment_id=assignment_id,
        created_at=T0,
        due_at=T0 + timedelta(days=14),
        sequence_id=sequence_id,
        steps=tuple(
            StepDefinition(
                step_id=f"s{i}",
                element_id=f"game-{i}",
                stage=Stage.QUIZ if i % 2 == 0 else Stage.PLAY,
                target_score=80.0,
                optional=i in optional,
                concepts=(f"c{i}",),
            )
            for i in range(1, steps + 1)
        ),
    )


def attempt(
    attempt_id: str,
    *,
    student_id: str = "u1",
    assignment_id: str = "a1",
    step_id: str = "s1",
    score: float = 50.0,
    at: datetime = NOW,
    session_id: str = "x1",
) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id=student_id,
        assignment_id=assignment_id,
        step_id=step_id,
        score=score,
        attempted_at=at,
        duration_ms=60_000,
        session_id=session_id,
    )


def start(
    command_id: str,
    *,
    student_id: str = "u1",
    step_id: str = "s1",
    at: datetime = NOW,
) -> StartStep:
    return StartStep(
        command_id=command_id,
        student_id=student_id,
        assignment_id="a1",
        step_id=step_id,
        started_at=at,
        session_id="x1",
    )


#: Who the ``override`` commands name: allowed everywhere, since these are
#: tests of storage; tests/test_service_authorization.py tests permissions.
OVERRIDER = Actor(actor_id="teacher-1", role=Role.SYSTEM_ADMIN, organization_id=ORG)


def override(
    command_id: str,
    *,
    student_id: str = "u1",
    step_id: str = "s1",
    at: datetime = NOW,
) -> OverrideComplete:
    return OverrideComplete(
        command_id=command_id,
        actor_id="teacher-1",
        reason="finished_on_paper",
        student_id=student_id,
        assignment_id="a1",
        step_id=step_id,
        issued_at=at,
    )


class Adapter:
    """A store, its catalog and a clock, ready for a service."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.clock = FixedClock(NOW)
        self.store: Any
        if kind == "memory":
            self.store = InMemoryStore()
            self.catalog: Any = InMemoryCatalog()
        else:
            self.store = SQLiteStore(folder / "progress.db")
            self.catalog = self.store.catalog
        self.catalog.add_assignment(ORG, structure())
        self.catalog.add_assignment(ORG, structure("a2", steps=2, sequence_id="q1"))
        self.catalog.add_assignment(ORG, structure("a3", steps=2, sequence_id="q1"))
        self.catalog.add_sequence(
            ORG, SequenceStructure(sequence_id="q1", assignment_ids=("a2", "a3"))
        )

    def service(self, store: Store | None = None, **options: Any) -> ProgressService:
        return ProgressService(
            (store or self.store).unit_of_work, self.catalog, self.clock, **options
        )

    def reopen(self, **options: Any) -> None:
        """Close and reopen a SQLite store (with ``options``); the in-memory
        one stays."""
        if self.kind == "sqlite":
            path = self.store.path
            self.store.close()
            self.store = SQLiteStore(path, **options)
            self.catalog = self.store.catalog

    def close(self) -> None:
        if self.kind == "sqlite":
            self.store.close()


@contextmanager
def make_adapter(kind: str, folder: Path) -> Iterator[Adapter]:
    adapter = Adapter(kind, folder)
    try:
        yield adapter
    finally:
        adapter.close()


def dump(
    store: Store,
    org: str = ORG,
    students: tuple[str, ...] = ("u1", "u2"),
    assignments: tuple[str, ...] = ("a1", "a2", "a3"),
) -> dict[str, Any]:
    """Everything ``org`` has for ``students`` in ``assignments``, comparable."""
    result: dict[str, Any] = {}
    with store.unit_of_work() as uow:
        for student in students:
            for assignment_id in assignments:
                key = f"{student}/{assignment_id}"
                steps = uow.progress.steps(org, student, assignment_id)
                result[f"steps {key}"] = {
                    k: (r.record, r.version) for k, r in sorted(steps.items())
                }
                found = uow.progress.assignment(org, student, assignment_id)
                result[f"assignment {key}"] = (
                    (found.record, found.version) if found else None
                )
                result[f"attempts {key}"] = uow.attempts.for_assignment(
                    org, student, assignment_id
                )
            sequence = uow.progress.sequence(org, student, "q1")
            result[f"sequence {student}"] = (
                (sequence.record, sequence.version) if sequence else None
            )
            result[f"snapshots {student}"] = uow.snapshots.for_student(org, student)
            result[f"audit {student}"] = uow.audit.for_student(org, student)
        result["outbox"] = tuple((e.event, e.event_id) for e in uow.outbox.entries(org))
        result["pending"] = tuple(
            e.event_id for e in uow.outbox.pending(org, limit=10**6)
        )
    return result


class FaultyStore:
    """Wraps a store; its ``fail_at``-th storage call raises ``error``.

    Every call to a repository method and every ``commit`` counts, from 1;
    ``calls`` tells how many a piece of work made.
    """

    def __init__(
        self,
        store: Store,
        *,
        fail_at: int | None = None,
        error: Callable[[], Exception] = lambda: StorageError("injected failure"),
    ) -> None:
        self.inner = store
        self.fail_at = fail_at
        self.error = error
        self.calls = 0

    def tick(self, name: str) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error()

    def unit_of_work(self) -> UnitOfWork:
        return _FaultyUnitOfWork(self, self.inner.unit_of_work())


class _Counting:
    """A repository whose every method call ticks the faulty store first."""

    def __init__(self, owner: FaultyStore, inner: object, name: str) -> None:
        self._owner = owner
        self._inner = inner
        self._name = name

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._inner, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._owner.tick(f"{self._name}.{method}")
            return target(*args, **kwargs)

        return call


class _FaultyUnitOfWork:
    def __init__(self, owner: FaultyStore, inner: UnitOfWork) -> None:
        self._owner = owner
        self._inner = inner
        self.progress: Any = _Counting(owner, inner.progress, "progress")
        self.summaries: Any = _Counting(owner, inner.summaries, "summaries")
        self.commands: Any = _Counting(owner, inner.commands, "commands")
        self.attempts: Any = _Counting(owner, inner.attempts, "attempts")
        self.snapshots: Any = _Counting(owner, inner.snapshots, "snapshots")
        self.audit: Any = _Counting(owner, inner.audit, "audit")
        self.outbox: Any = _Counting(owner, inner.outbox, "outbox")

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._owner.tick("commit")
        self._inner.commit()


# -- checks of the helpers themselves ---------------------------------------------


@pytest.mark.parametrize("kind", ADAPTERS)
def test_faulty_store_counts_every_storage_call(kind: str, tmp_path: Path) -> None:
    """The wrapper counts repository calls and the commit of one command."""
    with make_adapter(kind, tmp_path) as adapter:
        faulty = FaultyStore(adapter.store)
        adapter.service(faulty).apply(ORG, attempt("t1"))
        # contains, steps, assignment, put_step, put_assignment, append
        # command, append attempt, snapshot, outbox, commit at least.
        assert faulty.calls >= 10


def test_faulty_store_raises_at_the_chosen_call(tmp_path: Path) -> None:
    """The call numbered ``fail_at`` raises the configured error."""
    with make_adapter("memory", tmp_path) as adapter:
        faulty = FaultyStore(
            adapter.store, fail_at=2, error=lambda: ConflictError("injected")
        )
        with pytest.raises(ConflictError, match="injected"):
            adapter.service(faulty, max_retries=0).apply(ORG, attempt("t1"))
        assert faulty.calls == 2


@pytest.mark.parametrize("kind", ADAPTERS)
def test_dump_sees_what_the_service_stored(kind: str, tmp_path: Path) -> None:
    """``dump`` lists the attempt, its step record and its events."""
    with make_adapter(kind, tmp_path) as adapter:
        assert dump(adapter.store)["outbox"] == ()
        adapter.service().apply(ORG, attempt("t1"))
        seen = dump(adapter.store)
        assert seen["attempts u1/a1"] == (attempt("t1"),)
        assert seen["steps u1/a1"]["s1"][0].attempt_count == 1
        assert len(seen["outbox"]) == len(seen["pending"]) > 0
