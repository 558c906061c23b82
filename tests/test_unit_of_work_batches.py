"""Batches through the service: one command-log lookup, exactly once, all or
nothing, on both adapters.

``apply_many`` asks the command log once for the whole batch
(``contains_many``) and keeps the ids it applies, so an id repeated in the
batch is applied once (D3). A log without ``contains_many`` is asked per
command. A conflict anywhere in the batch stores nothing. A batch stores
exactly what applying its commands one by one stores (a property).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlc_progress import ConflictError, InvalidInputError
from mlc_progress._ports import Store

from .test_service_support import (
    ADAPTERS,
    ORG,
    Adapter,
    FaultyStore,
    attempt,
    dump,
    make_adapter,
)


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with make_adapter(request.param, tmp_path) as made:
        yield made


class Counting(FaultyStore):
    """Counts the calls of each repository method, by name."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.names: list[str] = []

    def tick(self, name: str) -> None:
        super().tick(name)
        self.names.append(name)


class _Commands:
    """A command log without ``contains_many``: a host's log written before it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def contains(self, organization_id: str, command_id: str) -> bool:
        found: bool = self._inner.contains(organization_id, command_id)
        return found

    def get(self, organization_id: str, command_id: str) -> Any:
        return self._inner.get(organization_id, command_id)

    def append(self, organization_id: str, entry: Any) -> None:
        self._inner.append(organization_id, entry)


class WithoutContainsMany(FaultyStore):
    """A store whose command log lacks ``contains_many``."""

    def unit_of_work(self) -> Any:
        uow: Any = super().unit_of_work()
        uow.commands = _Commands(uow.commands)
        return uow


class ConflictAtPut(FaultyStore):
    """A store whose ``put_step`` number ``at`` (counted over every
    transaction) raises ConflictError, as a lost race would."""

    def __init__(self, store: Store, at: int) -> None:
        super().__init__(store)
        self.at = at
        self.puts = 0

    def tick(self, name: str) -> None:
        super().tick(name)
        if name == "progress.put_step":
            self.puts += 1
            if self.puts == self.at:
                raise ConflictError("lost a race (injected)")


BATCH = [
    attempt("t1", score=30.0),
    attempt("t2", score=85.0),
    attempt("t1", score=30.0),
    attempt("t3", student_id="u2", score=90.0),
]


def test_a_batch_asks_the_command_log_once(adapter: Adapter) -> None:
    """A batch of four looks its ids up with one ``contains_many`` and no
    ``contains``; a single command asks ``contains`` once."""
    counting = Counting(adapter.store)
    service = adapter.service(counting)
    service.apply_many(ORG, BATCH)
    assert counting.names.count("commands.contains_many") == 1
    assert counting.names.count("commands.contains") == 0
    counting.names.clear()
    service.apply(ORG, attempt("t4"))
    assert counting.names.count("commands.contains") == 1
    assert counting.names.count("commands.contains_many") == 0


def test_an_id_repeated_in_a_batch_is_applied_once(adapter: Adapter) -> None:
    """The second t1 of the batch changes nothing and emits nothing (D3):
    the batch remembers the ids it applied."""
    outcomes = adapter.service().apply_many(ORG, BATCH)
    assert [o.applied for o in outcomes] == [True, True, False, True]
    assert outcomes[2].events == ()
    stored = dump(adapter.store)
    assert [a.attempt_id for a in stored["attempts u1/a1"]] == ["t1", "t2"]
    assert stored["steps u1/a1"]["s1"][0].attempt_count == 2


def test_a_log_without_contains_many_is_asked_per_command(adapter: Adapter) -> None:
    """Without ``contains_many`` the batch asks ``contains`` per command and
    stores the same as with it."""
    plain = WithoutContainsMany(adapter.store)
    outcomes = adapter.service(plain).apply_many(ORG, BATCH)
    assert [o.applied for o in outcomes] == [True, True, False, True]
    stored = dump(adapter.store)
    assert [a.attempt_id for a in stored["attempts u1/a1"]] == ["t1", "t2"]


def test_a_malformed_command_is_refused_with_its_position(adapter: Adapter) -> None:
    """A batch holding something that is not a command is refused with a
    note naming its position (the batch's lookup of ids leaves it out), and
    stores nothing."""
    before = dump(adapter.store)
    batch: list[Any] = [attempt("t1"), "not a command"]
    with pytest.raises(InvalidInputError) as raised:
        adapter.service().apply_many(ORG, batch)
    assert raised.value.__notes__ == [
        "command 1 (not a command: str) of the batch; nothing of the batch was stored"
    ]
    assert dump(adapter.store) == before


def test_a_conflict_inside_a_batch_stores_nothing(adapter: Adapter) -> None:
    """A ConflictError at the third attempt's step write, not retried,
    leaves nothing of the batch; retried, the batch is applied once."""
    before = dump(adapter.store)
    with pytest.raises(ConflictError, match="injected"):
        adapter.service(ConflictAtPut(adapter.store, 3), max_retries=0).apply_many(
            ORG, BATCH
        )
    assert dump(adapter.store) == before
    outcomes = adapter.service(ConflictAtPut(adapter.store, 3)).apply_many(ORG, BATCH)
    assert [o.applied for o in outcomes] == [True, True, False, True]
    assert [a.attempt_id for a in dump(adapter.store)["attempts u1/a1"]] == [
        "t1",
        "t2",
    ]


_IDS = st.sampled_from([f"t{i}" for i in range(6)])
_ATTEMPTS = st.lists(
    st.tuples(
        _IDS,
        st.sampled_from(["u1", "u2"]),
        st.sampled_from(["s1", "s2"]),
        st.floats(min_value=0, max_value=100, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=_ATTEMPTS, split=st.integers(min_value=0, max_value=12))
@pytest.mark.parametrize("kind", ADAPTERS)
def test_a_batch_stores_what_one_by_one_stores(
    kind: str, rows: list[tuple[str, str, str, float]], split: int
) -> None:
    """Any attempts, ids repeated or not, applied as two batches store exactly
    what applying them one at a time stores: records, versions, logs, events."""
    commands = [
        attempt(attempt_id, student_id=student, step_id=step, score=score)
        for attempt_id, student, step, score in rows
    ]
    folder = Path(tempfile.mkdtemp(prefix="mlc-batch-"))
    try:
        with (
            make_adapter(kind, folder / "one") as one,
            make_adapter(kind, folder / "many") as many,
        ):
            single = one.service()
            singly = [single.apply(ORG, c).applied for c in commands]
            batched = many.service()
            together = [
                o.applied
                for part in (commands[:split], commands[split:])
                if part
                for o in batched.apply_many(ORG, part)
            ]
            assert together == singly
            assert dump(many.store) == dump(one.store)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
