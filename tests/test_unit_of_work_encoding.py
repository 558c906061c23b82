"""The SQLite adapter's JSON is the converter's JSON, byte for byte.

``adapters/_encoding`` builds each record's dict with a function made from
its fields instead of the converter's run-time dispatch; these tests hold
its text equal to ``json.dumps(unstructure(record))`` (and events to their
D23 envelope) for generated records and events of every kind, for times
with and without microseconds, for JSON state that is not plain JSON, and
for what the adapter stores through the service.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlc_progress import InvalidInputError
from mlc_progress._events import EVENT_TYPES
from mlc_progress._serialization import event_to_dict, unstructure
from mlc_progress.adapters import _encoding
from mlc_progress.adapters._encoding import encode, encode_event
from mlc_progress.testing import strategies as gen

from .test_events import EXAMPLES
from .test_service_support import ORG, attempt, make_adapter


def reference(record: Any) -> str:
    """The stored JSON by definition: the converter's data, dumped compact."""
    return json.dumps(unstructure(record), separators=(",", ":"), ensure_ascii=False)


def reference_event(event: Any) -> str:
    return json.dumps(event_to_dict(event), separators=(",", ":"), ensure_ascii=False)


_RECORDS = (
    gen.attempts()
    | gen.step_progress()
    | gen.assignment_progress()
    | gen.sequence_progress()
    | gen.progress_snapshots()
    | gen.student_progress_summaries(organization_id=ORG)
    | gen.assignment_structures()
)


@settings(max_examples=300)
@given(record=_RECORDS)
def test_any_record_encodes_as_the_converter_does(record: Any) -> None:
    """Attempts, step, assignment, sequence and summary records, snapshots
    and structures: the same text as the converter's."""
    assert encode(record) == reference(record)


def test_the_hot_records_have_a_built_encoder() -> None:
    """The records an attempt stores are built by a function of their own,
    not left to the converter (the speed the adapter relies on)."""
    from mlc_progress import (
        AssignmentProgress,
        Attempt,
        ProgressSnapshot,
        StepProgress,
        StepProgressUpdated,
    )

    for cls in (
        Attempt,
        StepProgress,
        AssignmentProgress,
        ProgressSnapshot,
        StepProgressUpdated,
    ):
        assert _encoding._record_builder(cls) is not None, cls.__name__


# -- events ------------------------------------------------------------------------


def _values(kind: Any, name: str) -> st.SearchStrategy[Any]:
    """Values for an event field of type ``kind`` (validators may refuse some;
    the event strategy then draws again)."""
    if kind is str:
        if name == "milestone":
            return st.sampled_from(["25", "50", "75", "100"])
        return gen.ids()
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=0, max_value=10**7)
    if kind is float:
        return st.floats(min_value=0.5, max_value=100.0) | st.sampled_from([100, 1])
    if kind is datetime:
        return gen.utc_datetimes()
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return st.sampled_from(list(kind))
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in arguments if a is not type(None)]
        return st.none() | _values(inner[0], name)
    if origin is tuple:
        return st.lists(_values(arguments[0], name), max_size=3).map(tuple)
    if origin in (Mapping, dict):
        return st.dictionaries(
            st.text(max_size=6), st.none() | st.integers() | st.text(max_size=6)
        )
    raise AssertionError(f"no values for {kind!r}")  # pragma: no cover


@st.composite
def events(draw: st.DrawFn) -> Any:
    cls = draw(st.sampled_from(sorted(EVENT_TYPES.values(), key=lambda c: c.name)))
    hints = typing.get_type_hints(cls)
    fields = {f.name: draw(_values(hints[f.name], f.name)) for f in attrs.fields(cls)}
    try:
        return cls(**fields)
    except InvalidInputError:
        assume(False)


@settings(max_examples=300)
@given(event=events())
def test_any_event_encodes_as_its_envelope(event: Any) -> None:
    """Every event kind, generated: the same text as the D23 envelope."""
    assert encode_event(event) == reference_event(event)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).name)
def test_the_cores_own_events_encode_as_their_envelopes(event: Any) -> None:
    """The events the core emits (and an at-risk event): the envelope's text."""
    assert encode_event(event) == reference_event(event)


class Coded(enum.StrEnum):
    """A text enum whose value is not its text: json and the envelope differ."""

    value: str

    def __new__(cls, text: str, code: str) -> Coded:
        member = str.__new__(cls, text)
        member._value_ = code
        return member

    ALPHA = ("alpha", "a-code")


class Level(enum.Enum):
    """An enum that is not text."""

    HIGH = "high"


@attrs.frozen(kw_only=True)
class Odd:
    """A record with enums json cannot take as they are."""

    coded: Coded
    level: Level
    levels: tuple[Level, ...] = ()


@attrs.frozen(kw_only=True)
class OddEvent:
    """An event of such enums, one held in JSON-ready details."""

    name: typing.ClassVar[str] = "odd_event"

    event_id: str
    occurred_at: datetime
    coded: Coded
    details: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class CodedEvent:
    """An event of a text enum whose value is not its text."""

    name: typing.ClassVar[str] = "coded_event"

    event_id: str
    occurred_at: datetime
    coded: Coded
    codes: tuple[Coded, ...]


def test_enums_that_are_not_plain_text_take_the_converters_path() -> None:
    """A text enum whose value differs from its text, and an enum that is
    not text: records and envelopes are still the converter's text (the
    envelope carries the value, a record the text)."""
    record = Odd(coded=Coded.ALPHA, level=Level.HIGH, levels=(Level.HIGH,))
    assert encode(record) == reference(record)
    coded = CodedEvent(
        event_id="e1",
        occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
        coded=Coded.ALPHA,
        codes=(Coded.ALPHA,),
    )
    assert encode_event(coded) == reference_event(coded)
    assert '"coded":"a-code"' in encode_event(coded)
    event = OddEvent(
        event_id="e1",
        occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
        coded=Coded.ALPHA,
        details={"coded": Coded.ALPHA},
    )
    assert encode_event(event) == reference_event(event)
    assert '"a-code"' in encode_event(event)


def test_an_event_holding_a_mapping_takes_the_converters_path() -> None:
    """An event whose field can hold a mapping is written by the converter's
    envelope, which turns enums inside it into their values."""
    from mlc_progress._events import ProgressRepairFailed

    assert _encoding._event_builder(ProgressRepairFailed) is None
    assert _encoding._event_builder(OddEvent) is None
    event = OddEvent(
        event_id="e1",
        occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
        coded=Coded.ALPHA,
        details={"nested": [{"coded": Coded.ALPHA}]},
    )
    assert encode_event(event) == reference_event(event)


# -- times and JSON state --------------------------------------------------------------


@given(
    moment=gen.utc_datetimes(),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_times_encode_as_the_converter_writes_them(
    moment: datetime, micros: int
) -> None:
    """UTC times with or without microseconds: ISO-8601 with Z, as the
    converter writes them, repeated or not."""
    record = attempt("t1", at=moment.replace(microsecond=micros))
    assert encode(record) == reference(record)
    assert encode(record) == reference(record)


def test_times_stay_right_when_the_kept_texts_are_replaced() -> None:
    """More distinct times than the encoder keeps: each still encodes as the
    converter writes it."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    records = [
        attempt(f"t{i}", at=start + timedelta(microseconds=7 * i))
        for i in range(3 * _encoding._TIMES_KEPT)
    ]
    for record in records + records[:10]:
        assert encode(record) == reference(record)


def test_a_time_in_another_zone_takes_the_converters_path() -> None:
    """A datetime whose zone is not the UTC singleton is written by the
    converter's own hook (same text)."""
    other_utc = timezone(timedelta(0))
    assert encode_time(datetime(2026, 9, 1, 12, tzinfo=other_utc)) == (
        "2026-09-01T12:00:00Z"
    )
    assert encode_time(
        datetime(2026, 9, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    ) == ("2026-09-01T12:00:00Z")


def encode_time(moment: datetime) -> str:
    text: str = _encoding._datetime(moment)
    return text


@pytest.mark.parametrize(
    "state",
    [
        types.MappingProxyType({"a": 1}),
        types.MappingProxyType({"nested": {"flag": True, "none": None}}),
    ],
    ids=["read-only mapping", "read-only mapping of plain JSON"],
)
def test_snapshot_state_that_is_not_plain_json_takes_the_converters_path(
    state: Any,
) -> None:
    """A snapshot state in read-only mappings (times and tuples are refused
    at construction, Q155): the converter decides, and the text is its
    own."""
    snapshot = attrs.evolve(_a_snapshot(), state_snapshot=state)
    assert encode(snapshot) == reference(snapshot)


def _a_snapshot() -> Any:
    from mlc_progress import ProgressSnapshot, ScopeType, SnapshotTrigger

    return ProgressSnapshot(
        snapshot_id="p1",
        snapshot_date=datetime(2026, 9, 1, tzinfo=UTC),
        student_id="u1",
        scope_type=ScopeType.ASSIGNMENT,
        scope_id="a1",
        state_snapshot={},
        metrics_snapshot={
            "completion_percentage": 50.0,
            "mastery_score": 40.0,
            "time_on_task_ms": 1000,
        },
        trigger=SnapshotTrigger.MILESTONE,
    )


# -- what the service stores -------------------------------------------------------------


def test_every_stored_body_is_the_converters_text(tmp_path: Path) -> None:
    """After attempts in a batch, an override and milestones through the
    service, the file's JSON bodies are the converter's text of exactly the
    records and events the service applied (the last of each current one)."""
    from mlc_progress import Attempt

    from .test_service_support import OVERRIDER, override

    commands = [
        attempt("t1", score=90.0),
        attempt("t2", step_id="s2", score=95.0),
        attempt("t3", assignment_id="a2", score=90.0),
    ]
    with make_adapter("sqlite", tmp_path) as adapter:
        service = adapter.service()
        outcomes = [
            *service.apply_many(ORG, commands),
            service.apply(ORG, override("c1", step_id="s3"), actor=OVERRIDER),
        ]
        store = adapter.store
        current = {
            table: {body for (body,) in store._read(f"SELECT body FROM {table}", ())}
            for table in ("step_progress", "assignment_progress", "sequence_progress")
        }
        logged = {
            table: [
                body
                for (body,) in store._read(
                    f"SELECT body FROM {table} ORDER BY rowid", ()
                )
            ]
            for table in ("attempt_log", "snapshots", "audit_log", "outbox")
        }
    last: dict[tuple[Any, ...], Any] = {}
    for outcome in outcomes:
        for record in (*outcome.steps, outcome.assignment, outcome.sequence):
            if record is not None:
                key = (
                    type(record),
                    record.student_id,
                    getattr(record, "assignment_id", None),
                    getattr(record, "step_id", None),
                    getattr(record, "sequence_id", None),
                )
                last[key] = record
    by_table = {
        "step_progress": "StepProgress",
        "assignment_progress": "AssignmentProgress",
        "sequence_progress": "SequenceProgress",
    }
    for table, name in by_table.items():
        assert current[table] == {
            reference(r) for r in last.values() if type(r).__name__ == name
        }
    assert logged == {
        "attempt_log": [reference(c) for c in commands if isinstance(c, Attempt)],
        "snapshots": [reference(s) for o in outcomes for s in o.snapshots],
        "audit_log": [reference(a) for o in outcomes for a in o.audit],
        "outbox": [reference_event(e) for o in outcomes for e in o.events],
    }
    assert len(logged["outbox"]) >= 5
    assert logged["audit_log"] != []


@attrs.frozen(kw_only=True)
class _Inner:
    name: str


@attrs.frozen(kw_only=True)
class _Outer:
    inner: _Inner
    count: int


def test_a_class_built_in_another_thread_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While one thread builds a record's encoder, another asking for a
    class that holds it waits, instead of seeing the placeholder and
    caching its own class as converter-only for good."""
    import threading

    started, release = threading.Event(), threading.Event()
    real = typing.get_type_hints

    def slow_hints(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if cls is _Inner:
            started.set()
            release.wait(5)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(typing, "get_type_hints", slow_hints)
    built: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: built.update(inner=_encoding._record_builder(_Inner))
    )
    second = threading.Thread(
        target=lambda: built.update(outer=_encoding._record_builder(_Outer))
    )
    first.start()
    assert started.wait(5)
    second.start()
    second.join(0.2)  # without the lock it would be done, with None cached
    release.set()
    first.join(5)
    second.join(5)
    assert built["inner"] is not None
    assert built["outer"] is not None
    assert built["outer"](_Outer(inner=_Inner(name="x"), count=2)) == {
        "inner": {"name": "x"},
        "count": 2,
    }
