"""The public services check their arguments first: a bad one raises
InvalidInputError naming it, never a bare AttributeError or TypeError, and
changes nothing (house rule: one error root)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    InvalidInputError,
    Policy,
    ProgressService,
    ReconciliationService,
    Stage,
    StepDefinition,
)
from mlc_progress._batch_runner import enroll, run_batch
from mlc_progress._permissions import Actor
from mlc_progress._ports import Enrollment
from mlc_progress.adapters import FixedClock, InMemoryCatalog, InMemoryStore

ORG = "org-1"
T0 = datetime(2026, 9, 1, tzinfo=UTC)
NOW = datetime(2026, 9, 2, tzinfo=UTC)
ADA = Actor(actor_id="ada", role="student", organization_id=ORG)


def _any(value: object) -> Any:
    """A bad argument, past the type checker."""
    return value


def _attempt(attempt_id: str = "t1") -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id="ada",
        assignment_id="a1",
        step_id="s1",
        score=85.0,
        attempted_at=NOW,
        duration_ms=60_000,
        session_id="x1",
    )


class _Sink:
    def __init__(self) -> None:
        self.published: list[Any] = []

    def publish(self, *args: Any) -> None:
        self.published.append(args)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def catalog() -> InMemoryCatalog:
    catalog = InMemoryCatalog()
    catalog.add_assignment(
        ORG,
        AssignmentStructure(
            assignment_id="a1",
            created_at=T0,
            steps=(
                StepDefinition(
                    step_id="s1", element_id="g1", stage=Stage.PLAY, target_score=80
                ),
            ),
        ),
    )
    return catalog


@pytest.fixture
def service(store: InMemoryStore, catalog: InMemoryCatalog) -> ProgressService:
    return ProgressService(store.unit_of_work, catalog, FixedClock(NOW))


@pytest.fixture
def reconciliation(
    store: InMemoryStore, catalog: InMemoryCatalog
) -> ReconciliationService:
    return ReconciliationService(store.unit_of_work, catalog, FixedClock(NOW))


def _refused(call: Callable[[], object], field: str) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as refused:
        call()
    assert refused.value.field == field
    return refused.value


# -- ProgressService -----------------------------------------------------------------


@pytest.mark.parametrize("command", [None, "t1", {"attempt_id": "t1"}])
def test_a_non_command_with_an_actor_is_refused_as_a_command(
    service: ProgressService, command: Any
) -> None:
    """With an actor, the command is checked before its student is read."""
    _refused(lambda: service.apply(ORG, command, actor=ADA), "command")


def test_a_non_command_in_a_batch_is_named_by_its_position(
    service: ProgressService,
) -> None:
    """The command's own check stays in the batch loop: the note names its
    position, and nothing of the batch is stored."""
    error = _refused(
        lambda: service.apply_many(ORG, [_attempt(), _any(None)], actor=ADA), "command"
    )
    assert error.__notes__ == [
        "command 1 (not a command: NoneType) of the batch; nothing of the batch"
        " was stored"
    ]
    assert service.steps(ORG, "ada", "a1") == {}


@pytest.mark.parametrize("actor", ["ada", 5, {"actor_id": "ada"}])
def test_an_actor_that_is_no_actor_is_refused_storing_nothing(
    service: ProgressService, actor: Any
) -> None:
    """``actor`` is None or an Actor (D19)."""
    _refused(lambda: service.apply(ORG, _attempt(), actor=actor), "actor")
    assert service.steps(ORG, "ada", "a1") == {}


@pytest.mark.parametrize("commands", [None, 5, _attempt()])
def test_commands_that_are_no_iterable_are_refused(
    service: ProgressService, commands: Any
) -> None:
    """apply_many takes an iterable of commands (one attempt is not one)."""
    _refused(lambda: service.apply_many(ORG, commands), "commands")
    assert service.steps(ORG, "ada", "a1") == {}


@pytest.mark.parametrize("limit", ["10", None, 2.5, -1, True])
def test_a_limit_that_is_no_count_is_refused_and_nothing_is_relayed(
    service: ProgressService, limit: Any
) -> None:
    """``limit`` is a whole number, 0 or more, not a bool; the events stay
    pending for the next relay."""
    service.apply(ORG, _attempt())
    sink = _Sink()
    _refused(lambda: service.relay_events(ORG, sink, limit=limit), "limit")
    assert sink.published == []
    assert service.relay_events(ORG, sink) == len(sink.published) > 0


@pytest.mark.parametrize("sink", [None, "sink", object()])
def test_a_sink_without_publish_is_refused(service: ProgressService, sink: Any) -> None:
    """relay_events names a sink that cannot publish."""
    service.apply(ORG, _attempt())
    _refused(lambda: service.relay_events(ORG, sink), "sink")
    assert service.relay_events(ORG, _Sink()) > 0


@pytest.mark.parametrize("field", ["organization_id", "student_id", "assignment_id"])
@pytest.mark.parametrize("read", ["assignment", "steps"])
def test_reads_refuse_an_id_that_is_no_id(
    service: ProgressService, field: str, read: str
) -> None:
    """The reads name a bad id instead of answering nothing."""
    ids: dict[str, Any] = {
        "organization_id": ORG,
        "student_id": "ada",
        "assignment_id": "a1",
    }
    ids[field] = None
    _refused(lambda: getattr(service, read)(*ids.values()), field)


def test_the_services_refuse_a_store_given_for_its_unit_of_work(
    store: InMemoryStore, catalog: InMemoryCatalog
) -> None:
    """The first argument makes units of work (``store.unit_of_work``); a
    store itself is named when the service is built, not at first use."""
    _refused(
        lambda: ProgressService(store, catalog, FixedClock(NOW)),  # type: ignore[arg-type]
        "unit_of_work",
    )
    _refused(
        lambda: ReconciliationService(store, catalog, FixedClock(NOW)),  # type: ignore[arg-type]
        "unit_of_work",
    )


@pytest.mark.parametrize(
    ("keyword", "value"), [("policy", None), ("policy", "strict"), ("max_retries", -1)]
)
def test_the_services_refuse_a_policy_that_is_no_policy(
    store: InMemoryStore, catalog: InMemoryCatalog, keyword: str, value: Any
) -> None:
    """Both services name a bad policy when built, not at first use."""
    arguments: dict[str, Any] = {keyword: value}
    _refused(
        lambda: ProgressService(
            store.unit_of_work, catalog, FixedClock(NOW), **arguments
        ),
        keyword,
    )
    _refused(
        lambda: ReconciliationService(
            store.unit_of_work, catalog, FixedClock(NOW), **arguments
        ),
        keyword,
    )


# -- ReconciliationService -----------------------------------------------------------


RECONCILIATION_CALLS: list[tuple[str, Callable[[ReconciliationService], Any], str]] = [
    (
        "migrate-None",
        lambda s: s.migrate(ORG, _any(None), migration_id="m1"),
        "new_structure",
    ),
    (
        "migrate-text",
        lambda s: s.migrate(ORG, _any("a1"), migration_id="m1"),
        "new_structure",
    ),
    (
        "accept-None",
        lambda s: s.accept_replacement(ORG, _any(None), change_id="c1"),
        "offer",
    ),
    (
        "repair-None",
        lambda s: s.repair(ORG, _any(None), "a1", repair_id="r1"),
        "student_id",
    ),
    (
        "repair-assignment",
        lambda s: s.repair(ORG, "ada", _any(5), repair_id="r1"),
        "assignment_id",
    ),
    (
        "rollback-None",
        lambda s: s.rollback(ORG, _any(None), change_id="m1", rollback_id="r1"),
        "assignment_id",
    ),
    (
        "deprecate-element",
        lambda s: s.deprecate(ORG, "a1", element_id=_any(None), deprecation_id="d1"),
        "element_id",
    ),
    (
        "deprecate-stage",
        lambda s: s.deprecate(
            ORG, "a1", element_id="g1", stage=_any("play"), deprecation_id="d1"
        ),
        "stage",
    ),
    (
        "deprecate-replacement",
        lambda s: s.deprecate(
            ORG, "a1", element_id="g1", replaced_by_game_id="", deprecation_id="d1"
        ),
        "replaced_by_game_id",
    ),
    (
        "migrate-actor",
        lambda s: s.migrate(ORG, _any(None), migration_id="m1", actor_id="t1"),
        "reason",
    ),
    ("corrections-None", lambda s: s.corrections(ORG, _any(None)), "student_id"),
]


@pytest.mark.parametrize(
    ("call", "field"),
    [(call, field) for _, call, field in RECONCILIATION_CALLS],
    ids=[name for name, _, _ in RECONCILIATION_CALLS],
)
def test_reconciliation_refuses_bad_arguments_before_reading(
    reconciliation: ReconciliationService,
    store: InMemoryStore,
    call: Callable[[ReconciliationService], Any],
    field: str,
) -> None:
    """Each method names its bad argument and stores nothing: the change or
    repair id stays free for the corrected call."""
    _refused(lambda: call(reconciliation), field)
    with store.unit_of_work() as uow:
        assert uow.commands.get(ORG, "r1") is None
        assert uow.commands.get(ORG, "m1") is None


# -- the batch runner ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("policy", None),
        ("policy", Policy),
        ("progress", "bar"),
        ("metrics", "sink"),
    ],
)
def test_run_batch_refuses_bad_arguments_before_reading(
    keyword: str, value: Any
) -> None:
    """A policy that is no Policy, a progress that cannot be called or a
    metrics sink that cannot record is named; no job row is written."""
    store = InMemoryStore()
    enroll(store, ORG, [Enrollment(student_id="ada")])
    arguments: dict[str, Any] = {keyword: value}
    _refused(
        lambda: run_batch(
            store, InMemoryCatalog(), ORG, as_of=NOW, job_id="j1", **arguments
        ),
        keyword,
    )
    with store.unit_of_work() as uow:
        assert uow.jobs.get(ORG, "j1") is None


@pytest.mark.parametrize("field", ["store", "catalog"])
def test_run_batch_refuses_ports_that_are_no_ports(field: str) -> None:
    """The store and the catalog are named when they lack their methods."""
    ports: dict[str, Any] = {"store": InMemoryStore(), "catalog": InMemoryCatalog()}
    ports[field] = None
    _refused(lambda: run_batch(ports["store"], ports["catalog"], ORG, as_of=NOW), field)


@pytest.mark.parametrize("enrollments", [None, 5])
def test_enroll_refuses_enrollments_that_are_no_iterable(enrollments: Any) -> None:
    """``enroll`` takes an iterable of Enrollment."""
    store = InMemoryStore()
    _refused(lambda: enroll(store, ORG, enrollments), "enrollments")
    _refused(lambda: enroll(_any(None), ORG, []), "store")
    with store.unit_of_work() as uow:
        assert uow.roster.student_ids(ORG) == ()
