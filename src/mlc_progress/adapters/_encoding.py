"""JSON text for the SQLite adapter, byte for byte the converter's, faster.

The stored JSON of a record is ``json.dumps(unstructure(record))`` (the one
converter, :mod:`mlc_progress._serialization`). The converter finds each
field's hook at run time; here a small function per record class builds the
same dict from the class's fields once, then the same ``json`` encoder writes
it. Only what is provably the same is done this way:

- ``str``, ``int``, ``float``, ``bool`` and text enums (every member text
  equal to its value, as a ``StrEnum``'s) go as they are: the converter
  leaves a text enum as it is too, and ``json`` writes it as its text, which
  is also the value an event's envelope carries;
- a ``datetime`` in UTC is written as the converter writes it (ISO-8601 with
  ``Z``); any other ``datetime`` goes through the converter's own hook;
- ``X | None``, tuples of ``X`` and nested records of these kinds are built
  the same way; mappings (a snapshot's JSON state) go as they are, and ``json``
  refuses anything in them that is not plain JSON;
- a class with any other field type uses the converter, and so does any
  record whose dict ``json`` refuses (the converter then decides), and any
  event with a field that can hold a mapping (its envelope writes enums in
  it by value).

``tests/test_unit_of_work_encoding.py`` holds every output equal to the
converter's, for generated records and events of every kind.
"""

from __future__ import annotations

import enum
import json
import threading
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from .._serialization import (
    _unstructure_datetime,
    event_to_dict,
    unstructure,
    unwritable,
)

__all__ = ["encode", "encode_event"]

_Build = Callable[[Any], Any]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _reference(record: Any) -> str:
    """The stored JSON of ``record``, by the converter (the definition)."""
    try:
        return _dumps(unstructure(record))
    except ValueError as exc:
        raise unwritable(record, exc, _RULE_JSON) from None


def _reference_event(event: Any) -> str:
    """The stored JSON of an event: its D23 envelope, by the converter."""
    try:
        return _dumps(event_to_dict(event))
    except ValueError as exc:
        raise unwritable(event, exc, _RULE_JSON) from None


_RULE_JSON = "a record is stored as JSON text, which must be able to write it"


def _as_is(value: Any) -> Any:
    return value


# The text of recent UTC times: the records of one attempt repeat its time
# in many fields. Equal UTC datetimes have equal text; the cache is bounded.
_TIMES: dict[datetime, str] = {}
_TIMES_KEPT = 1024


def _datetime(value: datetime) -> str:
    if type(value) is datetime and value.tzinfo is UTC:
        text = _TIMES.get(value)
        if text is None:
            if len(_TIMES) >= _TIMES_KEPT:
                _TIMES.clear()
            text = _TIMES[value] = value.isoformat().replace("+00:00", "Z")
        return text
    return _unstructure_datetime(value)


def _optional(build: _Build) -> _Build:
    if build is _as_is:
        return _as_is

    def optional(value: Any) -> Any:
        return None if value is None else build(value)

    return optional


def _sequence(build: _Build) -> _Build:
    if build is _as_is:
        return list

    def sequence(values: Any) -> Any:
        return [build(value) for value in values]

    return sequence


_PLAIN = (str, int, float, bool)


def _text_enum(kind: type[enum.Enum]) -> bool:
    """Whether every member of ``kind`` is text equal to its value: then
    ``json`` writes the member as the converter's (and the envelope's) value."""
    return issubclass(kind, str) and all(
        str.__str__(member) == member.value for member in kind
    )


def _holds_mapping(kind: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a field of type ``kind`` can hold a mapping (JSON state)."""
    if kind in (Mapping, dict) or typing.get_origin(kind) in (Mapping, dict):
        return True
    if isinstance(kind, type) and attrs.has(kind):
        if kind in seen:
            return False
        hints = typing.get_type_hints(kind)
        return any(
            _holds_mapping(hints.get(f.name, f.type), seen | {kind})
            for f in attrs.fields(kind)
        )
    return any(_holds_mapping(a, seen) for a in typing.get_args(kind))


def _builder(kind: Any) -> _Build | None:
    """How the converter's data for a field of type ``kind`` is built, or
    ``None`` when this module does not prove it the same."""
    if kind in _PLAIN:
        return _as_is
    if kind is datetime:
        return _datetime
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _as_is if _text_enum(kind) else None
    if isinstance(kind, type) and attrs.has(kind):
        return _record_builder(kind)
    origin = typing.get_origin(kind)
    arguments = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in arguments if a is not type(None)]
        if len(others) == 1 and len(arguments) == 2:
            inner = _builder(others[0])
            return None if inner is None else _optional(inner)
        return None
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        inner = _builder(arguments[0])
        return None if inner is None else _sequence(inner)
    if origin in (Mapping, dict) or kind in (Mapping, dict):
        # JSON-ready data (a snapshot's state); json refuses what is not.
        return _as_is
    return None


_BUILDERS: dict[type, _Build | None] = {}


# Building is under one re-entrant lock: another thread must never see the
# placeholder of a class being built and cache its own class as "converter
# only" for good.
_BUILDING = threading.RLock()


def _record_builder(cls: type) -> _Build | None:
    """A function building the converter's dict of a ``cls`` record."""
    found = _BUILDERS.get(cls, _UNSEEN)
    if found is not _UNSEEN:
        return found  # type: ignore[return-value]
    with _BUILDING:
        if cls in _BUILDERS:
            return _BUILDERS[cls]
        return _build_record(cls)


_UNSEEN = object()


def _build_record(cls: type) -> _Build | None:
    _BUILDERS[cls] = None  # a class that holds itself is left to the converter
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # pragma: no cover - an unresolvable type
        return None
    fields = []
    for field in attrs.fields(cls):
        build = _builder(hints.get(field.name, field.type))
        if build is None:
            return None
        fields.append((field.name, None if build is _as_is else build))
    # One straight-line function per class, as the converter makes its own.
    scope: dict[str, Any] = {}
    items = []
    for number, (name, build) in enumerate(fields):
        if build is None:
            items.append(f"{name!r}: r.{name}")
        else:
            scope[f"_b{number}"] = build
            items.append(f"{name!r}: _b{number}(r.{name})")
    source = "def record(r):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, f"<encoding {cls.__qualname__}>", "exec"), scope)
    record: _Build = scope["record"]
    _BUILDERS[cls] = record
    return record


def encode(record: Any) -> str:
    """``record``'s stored JSON, equal to the converter's text.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import Attempt
    >>> attempt = Attempt(attempt_id="t1", student_id="u", assignment_id="a",
    ...     step_id="s", score=80.0, duration_ms=1000, session_id="k",
    ...     attempted_at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> encode(attempt) == _reference(attempt)
    True
    """
    build = _record_builder(type(record))
    if build is None:
        return _reference(record)
    try:
        return _dumps(build(record))
    except (TypeError, ValueError):
        return _reference(record)


_EVENT_BUILDERS: dict[type, _Build | None] = {}


def _event_builder(cls: type) -> _Build | None:
    """The record builder of an event class, or ``None`` when its envelope
    is left to the converter: an event field that holds a mapping may hold
    enums, which the envelope writes by value (``_plain``)."""
    if cls not in _EVENT_BUILDERS:
        build = _record_builder(cls)
        hints = typing.get_type_hints(cls)
        if build is not None and any(
            _holds_mapping(hints.get(f.name, f.type)) for f in attrs.fields(cls)
        ):
            build = None
        _EVENT_BUILDERS[cls] = build
    return _EVENT_BUILDERS[cls]


def encode_event(event: Any) -> str:
    """``event``'s stored JSON (its D23 envelope), equal to the converter's.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import AssignmentProgressMilestone
    >>> event = AssignmentProgressMilestone(event_id="e1",
    ...     occurred_at=datetime(2026, 9, 1, tzinfo=UTC), assignment_id="a",
    ...     student_id="u", previous_percentage=20.0, new_percentage=50.0,
    ...     milestone="50", time_to_milestone_ms=1000, steps_completed=1,
    ...     steps_remaining=1)
    >>> encode_event(event) == _reference_event(event)
    True
    """
    build = _event_builder(type(event))
    if build is None:
        return _reference_event(event)
    try:
        data = build(event)
        return _dumps(
            {
                "event": type(event).name,
                "event_id": data.pop("event_id"),
                "occurred_at": data.pop("occurred_at"),
                "properties": data,
            }
        )
    except (TypeError, ValueError, KeyError):
        return _reference_event(event)
