"""Losing a score is impossible: concurrency, crashes, failures, tenants.

Each test names, in its docstring, the mechanism it proves: without that
mechanism the test fails.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlc_progress import Attempt, ConflictError, StorageError
from mlc_progress._service import ProgressService
from mlc_progress.adapters import (
    FixedClock,
    InMemoryEventSink,
    SQLiteStore,
)

from .test_service_support import (
    ADAPTERS,
    NOW,
    ORG,
    OVERRIDER,
    Adapter,
    FaultyStore,
    attempt,
    dump,
    make_adapter,
    override,
    structure,
)

PER_WRITER = 1000
FORK = multiprocessing.get_context("fork")


def deliver(service: ProgressService, commands: list[Attempt]) -> None:
    """Apply each command, delivering it again while storage says try again,
    as a host's queue consumer does (at least once; the log makes it once)."""
    for command in commands:
        while True:
            try:
                service.apply(ORG, command)
                break
            except (ConflictError, StorageError) as exc:
                if isinstance(exc, StorageError) and not exc.retryable:
                    raise


def writer_attempts(writer: str, count: int = PER_WRITER) -> list[Attempt]:
    """``count`` attempts by one writer, all on student u1's step s1."""
    return [
        attempt(f"{writer}-{i}", score=float(i % 79), session_id=writer)
        for i in range(count)
    ]


def assert_all_counted(store: Any, sent: int) -> None:
    """The step counts every attempt sent, once; the log holds each of them."""
    with store.unit_of_work() as uow:
        step = uow.progress.steps(ORG, "u1", "a1")["s1"].record
        logged = uow.attempts.for_assignment(ORG, "u1", "a1")
    assert step.attempt_count == sent
    assert len({a.attempt_id for a in logged}) == len(logged) == sent


@contextmanager
def fast_thread_switches() -> Iterator[None]:
    """Switch threads every microsecond, so transactions interleave often."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


# -- concurrency -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ADAPTERS)
def test_two_threads_lose_no_attempt(kind: str, tmp_path: Path) -> None:
    """Two threads apply 1,000 attempts each to one step: all 2,000 count.

    Mechanism: versioned writes under a serializing transaction. The
    in-memory store refuses a commit whose reads changed (optimistic check at
    commit); SQLite holds the write lock from the first read (BEGIN
    IMMEDIATE) and writes only at the version read. Without them, two
    read-modify-writes of the step overwrite each other and attempts vanish
    from attempt_count.
    """
    with make_adapter(kind, tmp_path) as adapter:
        errors: list[BaseException] = []

        def run(writer: str) -> None:
            try:
                deliver(adapter.service(), writer_attempts(writer))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in ("A", "B")]
        with fast_thread_switches():
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert_all_counted(adapter.store, 2 * PER_WRITER)


def _process_writer(path: str, writer: str) -> None:
    with SQLiteStore(path) as store:
        service = ProgressService(store.unit_of_work, store.catalog, FixedClock(NOW))
        deliver(service, writer_attempts(writer))


def test_two_processes_lose_no_attempt(tmp_path: Path) -> None:
    """Two processes apply 1,000 attempts each to one step of one SQLite file:
    all 2,000 count.

    Mechanism: SQLite's file lock taken by BEGIN IMMEDIATE before the step is
    read, the busy timeout that makes the other process wait, and the
    retryable StorageError when it waits too long. Without the write lock at
    the first read, both processes read the same version and one update is
    lost (or fails without retry).
    """
    with make_adapter("sqlite", tmp_path) as adapter:
        path = str(adapter.store.path)
    workers = [FORK.Process(target=_process_writer, args=(path, w)) for w in ("A", "B")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    with SQLiteStore(path) as store:
        assert store.integrity_check() == "ok"
        assert_all_counted(store, 2 * PER_WRITER)


# -- crashes ------------------------------------------------------------------------------


def _crashing_writer(path: str, prefix: str, ack_fd: int, batch: int) -> None:
    """Apply attempts until killed; after each commit, write the ids to ack_fd."""
    store = SQLiteStore(path)
    service = ProgressService(store.unit_of_work, store.catalog, FixedClock(NOW))
    for n in range(100_000):
        commands = writer_attempts(f"{prefix}{n}", batch)
        if batch == 1:
            service.apply(ORG, commands[0])
        else:
            service.apply_many(ORG, commands)
        os.write(ack_fd, "".join(f"{c.attempt_id}\n" for c in commands).encode())


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_writer_killed_at_random_moments_loses_no_acknowledged_attempt(
    tmp_path: Path,
) -> None:
    """SIGKILL a writer at random moments, 30 times: after each kill the file
    passes PRAGMA integrity_check, every acknowledged attempt is there, and
    each step's attempt_count equals its logged attempts.

    Mechanism: the atomic, durable commit (WAL) of one transaction holding
    the records, the logs and the outbox, and acknowledging only after
    commit. Without one transaction per command, a kill between two writes
    leaves an attempt logged but not counted (or counted but not logged).
    """
    with make_adapter("sqlite", tmp_path) as adapter:
        path = str(adapter.store.path)
    chooser = random.Random(20260901)
    acknowledged: set[str] = set()
    for round_number in range(30):
        read_fd, write_fd = os.pipe()
        batch = chooser.choice((1, 1, 5))
        worker = FORK.Process(
            target=_crashing_writer,
            args=(path, f"r{round_number}-", write_fd, batch),
        )
        worker.start()
        os.close(write_fd)
        first = os.read(read_fd, 64)  # the writer is committing by now
        assert first
        threading.Event().wait(chooser.uniform(0.0, 0.03))
        os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
        worker.join(timeout=30)
        assert worker.exitcode == -signal.SIGKILL
        acknowledged.update((first.decode() + _read_all(read_fd)).split())
        os.close(read_fd)
        with SQLiteStore(path) as store:
            assert store.integrity_check() == "ok"
            with store.unit_of_work() as uow:
                logged = {
                    a.attempt_id for a in uow.attempts.for_assignment(ORG, "u1", "a1")
                }
                step = uow.progress.steps(ORG, "u1", "a1")["s1"].record
                missing = [i for i in acknowledged if not uow.commands.contains(ORG, i)]
            assert missing == []
            assert acknowledged <= logged
            assert step.attempt_count == len(logged)
    assert len(acknowledged) >= 30  # every round acknowledged something


# -- failures -----------------------------------------------------------------------------


def _prepared(kind: str, folder: Path) -> Adapter:
    """An adapter with some history: the next attempt completes step s1."""
    adapter = Adapter(kind, folder)
    service = adapter.service()
    service.apply(ORG, attempt("t1", score=40.0))
    service.apply(ORG, override("c1", step_id="s3"), actor=OVERRIDER)
    return adapter


COMMAND = attempt("t2", score=90.0)  # completes s1: records, snapshots, events


@pytest.mark.parametrize("kind", ADAPTERS)
def test_a_storage_call_failing_at_any_position_leaves_nothing_partial(
    kind: str, tmp_path: Path
) -> None:
    """For every k, the k-th storage call of one command fails: a typed error
    is raised, nothing of the command is stored, and a retry stores exactly
    what an undisturbed run stores.

    Mechanism: the unit of work's atomicity (the in-memory buffer applied only
    at commit; SQLite's ROLLBACK). Without it, a failure after the first
    write leaves records, log entries or events of a half-applied command.
    """
    reference = _prepared(kind, tmp_path / "reference")
    probe = FaultyStore(reference.store)
    reference.service(probe).apply(ORG, COMMAND)
    expected = dump(reference.store)
    reference.close()
    calls = probe.calls
    assert calls >= 10
    for k in range(1, calls + 1):
        adapter = _prepared(kind, tmp_path / f"k{k}")
        try:
            before = dump(adapter.store)
            faulty = FaultyStore(adapter.store, fail_at=k)
            with pytest.raises(StorageError, match="injected"):
                adapter.service(faulty).apply(ORG, COMMAND)
            assert faulty.calls == k
            assert dump(adapter.store) == before, f"partial state after call {k}"
            assert adapter.service().apply(ORG, COMMAND).applied
            assert dump(adapter.store) == expected
        finally:
            adapter.close()


class _FailingAt(sqlite3.Connection):
    """A driver connection whose k-th statement after ``arm()`` fails."""

    fail_at: int | None = None
    count = 0

    @classmethod
    def arm(cls, k: int | None) -> None:
        cls.fail_at, cls.count = k, 0

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cls = type(self)
        if cls.fail_at is not None:
            cls.count += 1
            if cls.count == cls.fail_at:
                raise sqlite3.OperationalError("disk I/O error (injected)")
        return super().execute(sql, parameters)


def test_a_driver_statement_failing_at_any_position_leaves_nothing_partial(
    tmp_path: Path,
) -> None:
    """For every k, the k-th SQL statement of one command fails (BEGIN and
    COMMIT included): StorageError is raised, the file holds nothing of the
    command, and a retry succeeds.

    Mechanism: the command's statements run between BEGIN IMMEDIATE and
    COMMIT, and any driver error rolls back. Without the transaction, the
    statements before k would stay in the file.
    """
    reference = _prepared("sqlite", tmp_path / "reference")
    reference.reopen(connection_factory=_FailingAt)
    _FailingAt.arm(10**9)
    reference.service().apply(ORG, COMMAND)
    statements = _FailingAt.count
    _FailingAt.arm(None)
    expected = dump(reference.store)
    reference.close()
    assert statements >= 12
    for k in range(1, statements + 1):
        adapter = _prepared("sqlite", tmp_path / f"k{k}")
        adapter.reopen(connection_factory=_FailingAt)
        try:
            before = dump(adapter.store)
            _FailingAt.arm(k)
            with pytest.raises(StorageError, match="injected") as raised:
                adapter.service().apply(ORG, COMMAND)
            _FailingAt.arm(None)
            assert not raised.value.retryable
            assert dump(adapter.store) == before, f"partial state after SQL {k}"
            assert adapter.service().apply(ORG, COMMAND).applied
            assert dump(adapter.store) == expected
        finally:
            _FailingAt.arm(None)
            adapter.close()


# -- tenants ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ADAPTERS)
def test_colliding_organizations_never_leak(kind: str, tmp_path: Path) -> None:
    """Two organizations with the same student, assignment, step and attempt
    ids: each sees only its own records, logs and events.

    Mechanism: organization_id in every key and every query. Without it, the
    second organization's attempt "t1" would be taken for a re-delivery of
    the first's, and records would mix.
    """
    other = "org-2"
    with make_adapter(kind, tmp_path) as adapter:
        adapter.catalog.add_assignment(other, structure())
        service = adapter.service()
        mine = service.apply(ORG, attempt("t1", score=90.0))
        theirs = service.apply(other, attempt("t1", score=30.0))
        assert mine.applied
        assert theirs.applied
        service.apply(other, attempt("t2", score=35.0, student_id="u2"))
        ours, their_dump = dump(adapter.store, ORG), dump(adapter.store, other)
        assert ours["steps u1/a1"]["s1"][0].best_score == 90.0
        assert their_dump["steps u1/a1"]["s1"][0].best_score == 30.0
        assert ours["steps u2/a1"] == {}
        assert ours["attempts u1/a1"] == (attempt("t1", score=90.0),)
        assert their_dump["attempts u1/a1"] == (attempt("t1", score=30.0),)
        assert {e for e, _ in ours["outbox"]} == set(mine.events)
        sink = InMemoryEventSink()
        service.relay_events(other, sink)
        assert {p.organization_id for p in sink.published} == {other}
        assert len(sink.published) == len(their_dump["outbox"])
        assert dump(adapter.store, ORG)["pending"] == ours["pending"]
