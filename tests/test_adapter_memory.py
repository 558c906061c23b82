"""What the in-memory adapter promises beyond the shared contract.

Its transactions are optimistic: they run side by side, and a commit is
refused when anything the transaction read or wrote changed since.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlc_progress import (
    AssignmentProgress,
    ConflictError,
    StepProgress,
    StepState,
)
from mlc_progress.adapters import InMemoryEventSink, InMemoryStore
from mlc_progress.adapters.memory import Published
from mlc_progress.testing.contract import _event

from .test_service_support import ORG, T0

STEP = StepProgress(step_id="s1", assignment_id="a1", student_id="u1", target_score=80)


def test_a_commit_based_on_a_stale_read_is_refused() -> None:
    """Two transactions read a step; the second to commit its change conflicts
    and stores nothing."""
    store = InMemoryStore()
    first, second = store.unit_of_work(), store.unit_of_work()
    with first, second:
        assert first.progress.steps(ORG, "u1", "a1") == {}
        assert second.progress.steps(ORG, "u1", "a1") == {}
        first.progress.put_step(ORG, STEP, expected_version=0)
        second.progress.put_step(ORG, STEP, expected_version=0)
        second.commit()
        with pytest.raises(ConflictError):
            first.commit()
    with store.unit_of_work() as uow:
        assert uow.progress.steps(ORG, "u1", "a1")["s1"].version == 1


def test_a_commit_whose_reads_changed_is_refused_even_without_overlapping_writes() -> (
    None
):
    """A transaction that read the steps and wrote only the assignment
    conflicts when another committed a new step meanwhile (no write skew)."""
    store = InMemoryStore()
    reader, writer = store.unit_of_work(), store.unit_of_work()
    with reader, writer:
        reader.progress.steps(ORG, "u1", "a1")
        writer.progress.put_step(ORG, STEP, expected_version=0)
        writer.commit()
        reader.progress.put_assignment(
            ORG,
            AssignmentProgress(assignment_id="a1", student_id="u1"),
            expected_version=0,
        )
        with pytest.raises(ConflictError):
            reader.commit()
    with store.unit_of_work() as uow:
        assert uow.progress.assignment(ORG, "u1", "a1") is None


def test_a_read_of_a_record_that_changed_refuses_the_commit() -> None:
    """Reading an assignment that another transaction then changes makes the
    reader's commit conflict."""
    store = InMemoryStore()
    record = AssignmentProgress(assignment_id="a1", student_id="u1")
    reader, writer = store.unit_of_work(), store.unit_of_work()
    with reader, writer:
        assert reader.progress.assignment(ORG, "u1", "a1") is None
        writer.progress.put_assignment(ORG, record, expected_version=0)
        writer.commit()
        reader.progress.put_step(ORG, STEP, expected_version=0)
        with pytest.raises(ConflictError):
            reader.commit()


def test_two_transactions_appending_one_command_id_conflict() -> None:
    """Two concurrent appends of one command id: the second commit conflicts (D3)."""
    from mlc_progress._ports import CommandRecord

    from .test_service_support import attempt

    entry = CommandRecord(command_id="t1", command=attempt("t1"), recorded_at=T0)
    store = InMemoryStore()
    first, second = store.unit_of_work(), store.unit_of_work()
    with first, second:
        first.commands.append(ORG, entry)
        second.commands.append(ORG, entry)
        first.commit()
        with pytest.raises(ConflictError):
            second.commit()


def test_outbox_positions_follow_commit_order() -> None:
    """Events get their positions when their transaction commits, so the
    outbox order is the commit order."""
    store = InMemoryStore()
    early, late = store.unit_of_work(), store.unit_of_work()
    with early, late:
        early.outbox.append(ORG, [_event("e-early")])
        late.outbox.append(ORG, [_event("e-late")])
        late.commit()
        early.commit()
    with store.unit_of_work() as uow:
        assert [e.event_id for e in uow.outbox.entries(ORG)] == ["e-late", "e-early"]


def test_disjoint_transactions_both_commit() -> None:
    """Transactions on different students never conflict."""
    store = InMemoryStore()
    first, second = store.unit_of_work(), store.unit_of_work()
    other = StepProgress(
        step_id="s1", assignment_id="a1", student_id="u2", target_score=80
    )
    with first, second:
        first.progress.steps(ORG, "u1", "a1")
        second.progress.steps(ORG, "u2", "a1")
        first.progress.put_step(ORG, STEP, expected_version=0)
        second.progress.put_step(ORG, other, expected_version=0)
        first.commit()
        second.commit()
    with store.unit_of_work() as uow:
        assert uow.progress.steps(ORG, "u2", "a1")["s1"].record == other


def test_writing_a_record_twice_in_one_transaction_commits_the_last() -> None:
    """A transaction may write a record twice; it commits the last write."""
    store = InMemoryStore()
    available = StepProgress(
        step_id="s1",
        assignment_id="a1",
        student_id="u1",
        target_score=80,
        state=StepState.AVAILABLE,
        available_at=T0 + timedelta(days=1),
    )
    with store.unit_of_work() as uow:
        assert uow.progress.put_step(ORG, STEP, expected_version=0) == 1
        assert uow.progress.put_step(ORG, available, expected_version=1) == 2
        uow.commit()
    with store.unit_of_work() as uow:
        found = uow.progress.steps(ORG, "u1", "a1")["s1"]
    assert (found.record, found.version) == (available, 2)


def test_the_event_sink_keeps_what_it_receives() -> None:
    """InMemoryEventSink records each publication and filters by destination."""
    from mlc_progress import Destination

    sink = InMemoryEventSink()
    sink.publish(ORG, Destination.MONITORING, {"event": "x"})
    assert sink.published == [
        Published(
            organization_id=ORG,
            destination=Destination.MONITORING,
            envelope={"event": "x"},
        )
    ]
    assert sink.envelopes(Destination.ANALYTICS_STREAM) == []
    assert sink.envelopes(Destination.MONITORING) == [{"event": "x"}]
