"""ProgressService end to end, on the in-memory and the SQLite adapter.

Each test runs on both adapters: the service must behave the same whatever
stores the records.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlc_progress import (
    AssignmentStatus,
    Command,
    CompletionSource,
    ConflictError,
    Destination,
    InvalidInputError,
    Metric,
    MetricName,
    NotFoundError,
    ProgressSnapshotCreated,
    Sampler,
    StepProgressUpdated,
    StepState,
    StorageError,
    event_to_dict,
)
from mlc_progress._ports import COMMAND_TYPES
from mlc_progress.adapters import FixedClock, InMemoryEventSink

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
    start,
    structure,
)


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with make_adapter(request.param, tmp_path) as made:
        yield made


class ListSink:
    """A metrics sink that keeps what it gets."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def record(self, metric: Metric) -> None:
        self.metrics.append(metric)


# -- one command ------------------------------------------------------------------


def test_an_attempt_stores_records_log_events_and_snapshots(adapter: Adapter) -> None:
    """One attempt stores its step and assignment records, the command and the
    attempt, its snapshots and its events, all as the core computed them."""
    outcome = adapter.service().apply(ORG, attempt("t1", score=90.0))
    assert outcome.applied
    stored = dump(adapter.store)
    assert {k: r for k, (r, _) in stored["steps u1/a1"].items()} == {
        s.step_id: s for s in outcome.steps
    }
    assert stored["assignment u1/a1"] == (outcome.assignment, 1)
    assert stored["attempts u1/a1"] == (attempt("t1", score=90.0),)
    assert stored["snapshots u1"] == outcome.snapshots
    assert [e for e, _ in stored["outbox"]] == list(outcome.events)
    with adapter.store.unit_of_work() as uow:
        logged = uow.commands.get(ORG, "t1")
    assert logged is not None
    assert (logged.command, logged.recorded_at) == (attempt("t1", score=90.0), NOW)


def test_a_redelivered_attempt_changes_nothing(adapter: Adapter) -> None:
    """Applying an attempt id again returns applied=False and stores nothing (D3)."""
    service = adapter.service()
    service.apply(ORG, attempt("t1", score=60.0))
    before = dump(adapter.store)
    again = service.apply(ORG, attempt("t1", score=99.0))
    assert not again.applied
    assert again.events == ()
    assert dump(adapter.store) == before


def test_a_late_attempt_counts_without_moving_activity_back(adapter: Adapter) -> None:
    """An attempt stamped before the last activity counts; last_activity_at
    and latest_score stay with the later attempt (D2)."""
    service = adapter.service()
    service.apply(ORG, attempt("t2", score=40.0, at=NOW))
    service.apply(ORG, attempt("t1", score=70.0, at=NOW - timedelta(hours=1)))
    step = service.steps(ORG, "u1", "a1")["s1"]
    assert (step.attempt_count, step.best_score, step.latest_score) == (2, 70.0, 40.0)
    assert step.last_activity_at == NOW


def test_versions_go_up_with_each_change(adapter: Adapter) -> None:
    """Each applied command that changes a record writes its next version."""
    service = adapter.service()
    outcomes = [
        service.apply(ORG, attempt(f"t{i}", score=10.0 * (i + 1))) for i in range(3)
    ]
    stored = dump(adapter.store)
    assert stored["steps u1/a1"]["s1"][1] == 3
    changed = sum(o.assignment is not None for o in outcomes)
    assert changed >= 1
    assert stored["assignment u1/a1"][1] == changed


def test_a_teacher_override_leaves_an_audit_entry(adapter: Adapter) -> None:
    """An override completes the step as teacher_override and stores the audit
    entry with actor and reason (D8)."""
    outcome = adapter.service().apply(ORG, override("c1"), actor=OVERRIDER)
    step = adapter.service().steps(ORG, "u1", "a1")["s1"]
    assert step.state is StepState.COMPLETE
    assert step.completion_source is CompletionSource.TEACHER_OVERRIDE
    (entry,) = dump(adapter.store)["audit u1"]
    assert entry == outcome.audit[0]
    assert (entry.actor_id, entry.reason, entry.command_id) == (
        "teacher-1",
        "finished_on_paper",
        "c1",
    )


def test_milestones_store_one_snapshot_each(adapter: Adapter) -> None:
    """Completing two of four steps crosses 25 and 50: two milestone snapshots
    and two milestone events are stored, in order (D16)."""
    service = adapter.service()
    service.apply(ORG, attempt("t1", step_id="s1", score=90.0))
    service.apply(ORG, attempt("t2", step_id="s2", score=95.0))
    stored = dump(adapter.store)
    notes = [s.notes for s in stored["snapshots u1"]]
    assert [n for n in notes if n and n.startswith("milestone")] == [
        "milestone_25",
        "milestone_50",
    ]
    milestones = [
        e.milestone
        for e, _ in stored["outbox"]
        if e.name == "assignment_progress_milestone"
    ]
    assert milestones == ["25", "50"]


def test_sequence_progress_is_stored_with_the_assignment(adapter: Adapter) -> None:
    """An attempt on an assignment of a sequence stores the sequence record."""
    service = adapter.service()
    service.apply(ORG, attempt("t1", assignment_id="a2", score=90.0))
    service.apply(ORG, attempt("t2", assignment_id="a2", step_id="s2", score=90.0))
    record, version = dump(adapter.store)["sequence u1"]
    assert record.assignments_completed == 1
    assert record.completion_percentage == 50.0
    assert record.current_assignment_id == "a3"
    assert version == 2


def test_start_step_marks_the_step_in_progress(adapter: Adapter) -> None:
    """A StartStep command stores the step as in_progress (spec: Step started)."""
    adapter.service().apply(ORG, start("c1"))
    step = adapter.service().steps(ORG, "u1", "a1")["s1"]
    assert step.state is StepState.IN_PROGRESS
    assert adapter.service().assignment(ORG, "u1", "a1").status is (  # type: ignore[union-attr]
        AssignmentStatus.IN_PROGRESS
    )


# -- refusals store nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (attempt("t1", assignment_id="nope"), NotFoundError),
        (attempt("t1", step_id="s9"), NotFoundError),
        (attempt("t1", at=NOW + timedelta(minutes=6)), InvalidInputError),
    ],
    ids=["unknown assignment", "unknown step", "beyond clock skew (D2)"],
)
def test_a_refused_command_stores_nothing(
    adapter: Adapter, command: Any, error: type[Exception]
) -> None:
    """A command that does not fit raises its typed error; nothing is stored."""
    before = dump(adapter.store)
    with pytest.raises(error):
        adapter.service().apply(ORG, command)
    assert dump(adapter.store) == before


def test_organization_id_must_be_an_id(adapter: Adapter) -> None:
    """An empty organization id is refused before anything is read (D3)."""
    with pytest.raises(InvalidInputError, match="organization_id"):
        adapter.service().apply("", attempt("t1"))


def test_another_organizations_structures_are_not_found(adapter: Adapter) -> None:
    """An organization without the assignment in its catalog gets NotFoundError."""
    with pytest.raises(NotFoundError):
        adapter.service().apply("org-2", attempt("t1"))


def test_a_sequence_missing_from_the_catalog_is_not_found(adapter: Adapter) -> None:
    """An assignment naming a sequence the catalog lacks: NotFoundError, and
    nothing is stored (no progress without its sequence record)."""
    adapter.catalog.add_assignment(ORG, structure("a4", steps=2, sequence_id="q9"))
    before = dump(adapter.store)
    with pytest.raises(NotFoundError, match="q9"):
        adapter.service().apply(ORG, attempt("t1", assignment_id="a4"))
    assert dump(adapter.store) == before


def test_a_naive_clock_is_refused(adapter: Adapter) -> None:
    """A clock returning a naive datetime is refused (D2)."""

    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 9, 4)  # naive on purpose

    service = adapter.service()
    service._clock = NaiveClock()
    with pytest.raises(InvalidInputError, match="clock"):
        service.apply(ORG, attempt("t1"))


def test_max_retries_must_be_a_count(adapter: Adapter) -> None:
    """max_retries is a non-negative integer."""
    with pytest.raises(InvalidInputError, match="max_retries"):
        adapter.service(max_retries=-1)


# -- batches ------------------------------------------------------------------------


def test_a_batch_applies_in_order_in_one_transaction(adapter: Adapter) -> None:
    """apply_many applies each command after the ones before it; a duplicate
    inside the batch is applied once."""
    outcomes = adapter.service().apply_many(
        ORG,
        [
            attempt("t1", score=30.0),
            attempt("t2", score=50.0),
            attempt("t1", score=30.0),
            attempt("t3", student_id="u2", score=90.0),
        ],
    )
    assert [o.applied for o in outcomes] == [True, True, False, True]
    service = adapter.service()
    assert service.steps(ORG, "u1", "a1")["s1"].attempt_count == 2
    assert service.steps(ORG, "u2", "a1")["s1"].state is StepState.COMPLETE


def test_a_refused_command_voids_the_whole_batch(adapter: Adapter) -> None:
    """One refused command stores nothing of the batch; the error names its
    position and id."""
    before = dump(adapter.store)
    with pytest.raises(NotFoundError) as raised:
        adapter.service().apply_many(
            ORG, [attempt("t1"), attempt("t2", step_id="s9"), attempt("t3")]
        )
    assert raised.value.__notes__ == [
        "command 1 ('t2') of the batch; nothing of the batch was stored"
    ]
    assert dump(adapter.store) == before


# -- retries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        lambda: ConflictError("lost a race"),
        lambda: StorageError("busy", retryable=True),
    ],
    ids=["conflict", "retryable storage error"],
)
def test_conflicts_and_busy_storage_are_retried(adapter: Adapter, error: Any) -> None:
    """A commit that fails with a conflict or a retryable error is tried again;
    the command is stored once."""

    class FirstCommitFails(FaultyStore):
        commits = 0

        def tick(self, name: str) -> None:
            if name == "commit":
                self.commits += 1
                if self.commits == 1:
                    raise error()

    store = FirstCommitFails(adapter.store)
    outcome = adapter.service(store, max_retries=1).apply(
        ORG, attempt("t1", score=90.0)
    )
    assert outcome.applied
    assert store.commits == 2
    assert adapter.service().steps(ORG, "u1", "a1")["s1"].attempt_count == 1
    assert dump(adapter.store)["attempts u1/a1"] == (attempt("t1", score=90.0),)


def test_retries_are_bounded(adapter: Adapter) -> None:
    """After max_retries more tries the conflict is raised and nothing stored."""

    class AlwaysConflicting(FaultyStore):
        def tick(self, name: str) -> None:
            self.calls += 1
            if name == "commit":
                raise ConflictError("always")

    before = dump(adapter.store)
    store = AlwaysConflicting(adapter.store)
    with pytest.raises(ConflictError):
        adapter.service(store, max_retries=2).apply(ORG, attempt("t1"))
    assert dump(adapter.store) == before


def test_a_storage_error_that_is_not_retryable_is_raised_at_once(
    adapter: Adapter,
) -> None:
    """A non-retryable StorageError is not retried."""
    faulty = FaultyStore(adapter.store, fail_at=1)
    with pytest.raises(StorageError):
        adapter.service(faulty, max_retries=5).apply(ORG, attempt("t1"))
    assert faulty.calls == 1


# -- the outbox relay -------------------------------------------------------------------


def test_relay_publishes_each_event_to_its_destination_once(adapter: Adapter) -> None:
    """Relayed events go, as D23 envelopes, to their class's destination, in
    outbox order; a second relay has nothing left."""
    service = adapter.service()
    first = service.apply(ORG, attempt("t1", score=90.0))
    second = service.apply(ORG, attempt("t2", student_id="u2", score=40.0))
    sink = InMemoryEventSink()
    events = [*first.events, *second.events]
    assert service.relay_events(ORG, sink) == len(events)
    assert service.relay_events(ORG, sink) == 0
    assert [(p.organization_id, p.destination, p.envelope) for p in sink.published] == [
        (ORG, type(e).destination, event_to_dict(e)) for e in events
    ]
    kinds = {type(e) for e in events}
    assert {StepProgressUpdated, ProgressSnapshotCreated} <= kinds
    assert sink.envelopes(Destination.DATA_WAREHOUSE) == [
        event_to_dict(e) for e in events if isinstance(e, ProgressSnapshotCreated)
    ]


def test_relay_respects_the_limit(adapter: Adapter) -> None:
    """relay_events publishes at most ``limit`` events per call, oldest first."""
    service = adapter.service()
    outcome = service.apply(ORG, attempt("t1", score=90.0))
    sink = InMemoryEventSink()
    assert service.relay_events(ORG, sink, limit=1) == 1
    assert sink.envelopes() == [event_to_dict(outcome.events[0])]


def test_a_refused_event_is_relayed_again_in_order(adapter: Adapter) -> None:
    """When the sink fails on the k-th event, the ones before are marked
    delivered, the error is raised, and the next relay resumes at the k-th:
    at least once, in order per student."""
    service = adapter.service()
    outcome = service.apply(ORG, attempt("t1", score=90.0))
    events = [event_to_dict(e) for e in outcome.events]
    assert len(events) >= 3

    class FailingOnce(InMemoryEventSink):
        failed = False

        def publish(
            self, organization_id: str, destination: Any, envelope: Any
        ) -> None:
            if envelope == events[1] and not self.failed:
                self.failed = True
                raise RuntimeError("sink down")
            super().publish(organization_id, destination, envelope)

    sink = FailingOnce()
    with pytest.raises(RuntimeError, match="sink down"):
        service.relay_events(ORG, sink)
    assert sink.envelopes() == events[:1]
    assert dump(adapter.store)["pending"] == tuple(
        e.event_id for e in outcome.events[1:]
    )
    assert service.relay_events(ORG, sink) == len(events) - 1
    assert sink.envelopes() == events


def test_relay_is_per_organization(adapter: Adapter) -> None:
    """Relaying one organization publishes none of another's events (D19)."""
    service = adapter.service()
    service.apply(ORG, attempt("t1", score=90.0))
    sink = InMemoryEventSink()
    assert service.relay_events("org-2", sink) == 0
    assert sink.published == []


# -- telemetry and the clock -------------------------------------------------------------


def test_calculation_time_is_sampled_and_snapshot_time_is_not(
    adapter: Adapter,
) -> None:
    """progress_calculation_time_ms is recorded when the sampler keeps it;
    snapshot_creation_time_ms always, one per snapshot (D23)."""
    kept, dropped = ListSink(), ListSink()
    keep = Sampler(rate=0.1, random=lambda: 0.05)
    drop = Sampler(rate=0.1, random=lambda: 0.5)
    first = adapter.service(metrics=kept, sampler=keep).apply(
        ORG, attempt("t1", score=90.0)
    )
    second = adapter.service(metrics=dropped, sampler=drop).apply(
        ORG, attempt("t2", student_id="u2", score=90.0)
    )
    assert [m.name for m in kept.metrics] == [
        MetricName.PROGRESS_CALCULATION_TIME_MS,
        *[MetricName.SNAPSHOT_CREATION_TIME_MS] * len(first.snapshots),
    ]
    assert kept.metrics[0].dimensions == {
        "calculation_type": "assignment",
        "step_count": 4,
    }
    assert [m.name for m in dropped.metrics] == [
        MetricName.SNAPSHOT_CREATION_TIME_MS
    ] * len(second.snapshots)
    assert {m.dimensions["snapshot_scope"] for m in dropped.metrics} == {"assignment"}


def test_the_clock_is_read_for_every_transaction(adapter: Adapter) -> None:
    """Events and log entries carry the clock's time at the command."""
    service = adapter.service()
    first = service.apply(ORG, attempt("t1"))
    adapter.clock.advance(timedelta(minutes=10))
    second = service.apply(ORG, attempt("t2", at=NOW + timedelta(minutes=9)))
    assert {e.occurred_at for e in first.events} == {NOW}
    assert {e.occurred_at for e in second.events} == {NOW + timedelta(minutes=10)}


def test_the_service_survives_reopening(adapter: Adapter) -> None:
    """After reopening the store the service continues from what was stored."""
    adapter.service().apply(ORG, attempt("t1", score=50.0))
    adapter.reopen()
    service = adapter.service()
    assert not service.apply(ORG, attempt("t1", score=50.0)).applied
    service.apply(ORG, attempt("t2", score=70.0))
    step = service.steps(ORG, "u1", "a1")["s1"]
    assert (step.attempt_count, step.best_score) == (2, 70.0)


def test_a_fixed_clock_is_settable() -> None:
    """FixedClock.set moves the time, and refuses naive datetimes (D2)."""
    clock = FixedClock(NOW)
    clock.set(NOW + timedelta(days=1))
    assert clock.now() == NOW + timedelta(days=1)
    with pytest.raises(InvalidInputError):
        clock.set(datetime(2026, 9, 1))  # naive on purpose


def test_the_command_log_knows_every_kind_of_command() -> None:
    """COMMAND_TYPES names each member of Command, by class name."""
    assert set(COMMAND_TYPES.values()) == set(typing.get_args(Command))
    assert all(cls.__name__ == kind for kind, cls in COMMAND_TYPES.items())
