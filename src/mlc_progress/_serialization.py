"""The one cattrs converter: records to and from JSON-ready data.

Times are ISO-8601 strings in UTC with a ``Z`` suffix; durations are
seconds, a JSON number when it reads back exactly, else decimal text to the
microsecond; enums are their spec strings; tuples are JSON arrays. Unknown
keys are rejected. Every failure is an :class:`InvalidInputError` naming the
field.
"""

from __future__ import annotations

import enum
import json
import re
import typing
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

from . import _enums
from ._corruption import CorruptRecordError
from ._errors import InvalidInputError, ProgressError, _shown
from ._validate import RULE_TIME

__all__ = ["converter", "from_json", "structure", "to_json", "unstructure"]

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True)


def _unstructure_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInputError("datetime", value, "ISO-8601 text") from None
    else:
        raise InvalidInputError("datetime", value, "ISO-8601 text")
    if parsed.utcoffset() is None:
        raise InvalidInputError("datetime", value, RULE_TIME)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # its instant lies outside UTC's range (D2)
        raise InvalidInputError("datetime", value, RULE_TIME) from None


def _structure_float(value: Any, _: type) -> float:
    # JSON has no separate int and float; refuse booleans and strings (D1).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError("number", value, "D1: a number, not a boolean or text")
    try:
        return float(value)
    except OverflowError:
        # An integer beyond float range (JSON allows any length).
        raise InvalidInputError("number", value, "D1: a finite number") from None


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InvalidInputError("integer", value, "D4: an integer, not a boolean")
    return value


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("string", value, "a string")
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError("flag", value, "a boolean")
    return value


def _unstructure_timedelta(value: timedelta) -> float | str:
    """Seconds as a JSON number when that number reads back to the same
    microsecond (every duration below 2**52 us, about 142 years, so the form
    stored before stays); otherwise the exact seconds as decimal text."""
    seconds = value.total_seconds()
    try:
        if timedelta(seconds=seconds) == value:
            return seconds
    except OverflowError:  # rounded past timedelta.max
        pass
    micro = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    whole, fraction = divmod(abs(micro), 1_000_000)
    return f"{'-' if micro < 0 else ''}{whole}.{fraction:06d}"


# Decimal seconds, at most microseconds: the text form written above.
_SECONDS_TEXT = re.compile(r"(-?)([0-9]{1,15})(?:\.([0-9]{1,6}))?")
RULE_DURATION = (
    "a duration: seconds as a number, or as decimal text to the microsecond,"
    " within timedelta's range"
)


def _structure_timedelta(value: Any, _: type) -> timedelta:
    """Either form :func:`_unstructure_timedelta` writes, exactly; a number
    is read as before (float seconds, to the nearest microsecond)."""
    try:
        if isinstance(value, str):
            found = _SECONDS_TEXT.fullmatch(value)
            if found is None:
                raise InvalidInputError("duration", value, RULE_DURATION)
            sign, whole, fraction = found.groups()
            micro = int(whole) * 1_000_000 + int((fraction or "").ljust(6, "0"))
            return timedelta(microseconds=-micro if sign else micro)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError("duration", value, RULE_DURATION)
        return timedelta(seconds=value)
    except (OverflowError, ValueError):  # past timedelta's range, or NaN
        raise InvalidInputError("duration", value, RULE_DURATION) from None


def _is_array(kind: Any) -> bool:
    """A homogeneous tuple type, ``tuple[str, ...]``: a JSON array."""
    args = typing.get_args(kind)
    return typing.get_origin(kind) is tuple and len(args) == 2 and args[1] is ...


def _array_hook(kind: Any) -> Any:
    """Structure a homogeneous tuple from a JSON array only: cattrs' own hook
    iterates whatever it gets, splitting ``"xyz"`` into ``('x', 'y', 'z')``."""
    item = typing.get_args(kind)[0]
    structure_item = converter.get_structure_hook(item)

    def structure_array(value: Any, _: type) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise InvalidInputError("array", value, "a JSON array")
        return tuple([structure_item(element, item) for element in value])

    return structure_array


converter.register_structure_hook_factory(_is_array, _array_hook)
converter.register_unstructure_hook(datetime, _unstructure_datetime)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(timedelta, _unstructure_timedelta)
converter.register_structure_hook(timedelta, _structure_timedelta)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)


def _enum_hook(kind: type[enum.Enum]) -> Any:
    def structure_enum(value: Any, _: type) -> enum.Enum:
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(repr(m.value) for m in kind)
            raise InvalidInputError(kind.__name__, value, f"one of {names}") from None

    return structure_enum


# The spec's enums are StrEnums; without their own hooks the ``str`` hook
# above would win the dispatch and let any text through.
_ENUMS: tuple[type[enum.Enum], ...] = (
    _enums.AssignmentStatus,
    _enums.CompletionSource,
    _enums.MasteryLevel,
    _enums.OriginalContext,
    _enums.PacingStatus,
    _enums.ScopeType,
    _enums.SnapshotTrigger,
    _enums.Stage,
    _enums.StepState,
)
for _kind in _ENUMS:
    converter.register_structure_hook(_kind, _enum_hook(_kind))

# Fields named by the hooks above rather than by a record; the path replaces them.
_GENERIC_FIELDS = frozenset(
    (
        "datetime",
        "duration",
        "number",
        "integer",
        "string",
        "flag",
        "array",
        *(k.__name__ for k in _ENUMS),
    )
)


def _first_error(group: BaseException, path: str = "") -> BaseException:
    """Dig the innermost error out of cattrs' exception groups."""
    if isinstance(group, ForbiddenExtraKeysError):
        keys = sorted(group.extra_fields)
        return InvalidInputError(
            f"{path}{keys[0]}" if keys else path or "record",
            keys,
            f"unknown field for {group.cl.__name__}",
        )
    if isinstance(group, BaseExceptionGroup):
        for inner in group.exceptions:
            note = next(iter(getattr(inner, "__notes__", []) or []), "")
            name = getattr(note, "name", None)
            prefix = f"{path}{name}." if isinstance(name, str) else path
            found = _first_error(inner, prefix)
            if found is not None:
                return found
    if isinstance(group, InvalidInputError):
        if path and (
            group.field in _GENERIC_FIELDS
            or group.field in {k.__name__ for k in _EVENT_ENUMS}
        ):
            return InvalidInputError(path.rstrip("."), group.value, group.rule)
        if path:
            # A nested record's own validator: qualify its field with the path.
            return InvalidInputError(f"{path}{group.field}", group.value, group.rule)
        return group
    if isinstance(group, KeyError):
        field = path.rstrip(".") or str(group.args[0])
        return InvalidInputError(field, None, "a required field")
    if (
        isinstance(group, ValueError | TypeError | AttributeError | ArithmeticError)
        and path
    ):
        return InvalidInputError(
            path.rstrip("."), str(group), "one of the spec's values"
        )
    return group


def structure(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from JSON-ready ``data``; raises :class:`InvalidInputError`."""
    try:
        return converter.structure(data, cls)
    except ProgressError:
        raise
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        err = _first_error(exc)
        if isinstance(err, ProgressError):
            raise err from None
        raise InvalidInputError(cls.__name__, data, str(err)) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidInputError(cls.__name__, data, str(exc)) from None


def unstructure(record: Any) -> Any:
    """JSON-ready data for ``record`` (dicts, lists, strings, numbers)."""
    return converter.unstructure(record)


def to_json(record: Any) -> str:
    """``record`` as compact JSON text with sorted keys; a valid record JSON
    text cannot hold (an integer past Python's digit limit) raises
    :class:`InvalidInputError` naming the field."""
    try:
        return json.dumps(unstructure(record), sort_keys=True, separators=(",", ":"))
    except ValueError as exc:
        raise unwritable(record, exc) from None


RULE_JSON_TEXT = "JSON text must be able to write it"


def unwritable(
    record: Any, exc: ValueError, rule: str = RULE_JSON_TEXT
) -> InvalidInputError:
    """The typed refusal of a valid record JSON text cannot hold: an integer
    past Python's digit limit for text (``sys.get_int_max_str_digits``),
    named by its field (``summary.badges_earned`` in a nested record) when
    it is one of the record's own.

    >>> from mlc_progress import StudentProgressSummary
    >>> s = StudentProgressSummary(
    ...     student_id="u", organization_id="o", badges_earned=10**5000)
    >>> unwritable(s, ValueError("too many digits")).field
    'badges_earned'
    """
    found = _overlong_int(record, "")
    if found is None:
        return InvalidInputError(type(record).__name__, record, f"{rule} ({exc})")
    return InvalidInputError(found[0], found[1], f"{rule} ({exc})")


def _overlong_int(record: Any, path: str) -> tuple[str, int] | None:
    """The path and value of the first integer field ``str`` refuses."""
    if not attrs.has(type(record)):
        return None
    for field in attrs.fields(type(record)):
        value = getattr(record, field.name)
        if isinstance(value, int):
            try:
                str(value)
            except ValueError:
                return f"{path}{field.name}", value
        elif attrs.has(type(value)):
            found = _overlong_int(value, f"{path}{field.name}.")
            if found is not None:
                return found
    return None


def from_json(text: str, cls: type[T]) -> T:
    """Inverse of :func:`to_json`; raises :class:`InvalidInputError`."""
    if not isinstance(text, str | bytes | bytearray):
        raise InvalidInputError(cls.__name__, text, "JSON text")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError, or an integer past the digit limit.
        raise InvalidInputError(
            cls.__name__, text[:80], f"valid JSON ({exc})"
        ) from None
    try:
        return structure(data, cls)
    except RecursionError:
        raise InvalidInputError(
            cls.__name__, text[:80], "JSON nested too deep"
        ) from None


def event_to_dict(event: Any) -> dict[str, Any]:
    """An event as the wire envelope of D23, plain JSON data.

    ``{"event": name, "event_id": ..., "occurred_at": ..., "properties": {...}}``
    where ``properties`` are exactly the spec's property names; enumerated
    values are their spec strings and times ISO-8601 UTC text.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import SequenceMilestone, SequenceProgressMilestone
    >>> e = SequenceProgressMilestone(
    ...     event_id="e1", occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
    ...     sequence_id="q", student_id="u", milestone=SequenceMilestone.HALF,
    ...     assignments_completed=2, overall_mastery_score=70.0,
    ...     concepts_mastered_count=3)
    >>> wire = event_to_dict(e)
    >>> wire["occurred_at"], type(wire["properties"]["milestone"])
    ('2026-09-01T00:00:00Z', <class 'str'>)
    >>> event_from_dict(wire) == e
    True
    """
    data = converter.unstructure(event)
    return {
        "event": type(event).name,
        "event_id": data.pop("event_id"),
        "occurred_at": data.pop("occurred_at"),
        "properties": {key: _plain(value) for key, value in data.items()},
    }


def _plain(value: Any) -> Any:
    # The converter leaves StrEnum members as they are (they are strings);
    # the wire carries the plain spec strings.
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_ENVELOPE = frozenset({"event", "event_id", "occurred_at", "properties"})


def _register_event_enums() -> None:
    """Give every enum an event field uses its own structure hook.

    Without one the ``str`` hook wins for a StrEnum and the event's
    validator then refuses the plain text of a valid member.
    """
    from ._events import EVENT_TYPES

    for cls in EVENT_TYPES.values():
        for field in attrs.fields(cls):
            for kind in (field.type, *typing.get_args(field.type)):
                if (
                    isinstance(kind, type)
                    and issubclass(kind, enum.Enum)
                    and kind not in _ENUMS
                    and kind not in _EVENT_ENUMS
                ):
                    _EVENT_ENUMS.add(kind)
                    converter.register_structure_hook(kind, _enum_hook(kind))


_EVENT_ENUMS: set[type[enum.Enum]] = set()
_register_event_enums()


def event_from_dict(data: Any) -> Any:
    """Inverse of :func:`event_to_dict`; raises :class:`InvalidInputError`."""
    from ._events import EVENT_TYPES

    if not isinstance(data, dict):
        raise InvalidInputError("event", data, "an event is a JSON object")
    extra = set(data) - _ENVELOPE
    if extra:
        raise InvalidInputError(sorted(extra)[0], data, "unknown envelope field")
    name = data.get("event")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidInputError("event", name, f"one of {sorted(EVENT_TYPES)}")
    properties = data.get("properties")
    if not isinstance(properties, dict):
        raise InvalidInputError("properties", properties, "a JSON object")
    misplaced = set(properties) & _ENVELOPE
    if misplaced:
        raise InvalidInputError(
            f"properties.{sorted(misplaced)[0]}",
            properties,
            "D23: an envelope field, not an event property",
        )
    flat = {
        **properties,
        "event_id": data.get("event_id"),
        "occurred_at": data.get("occurred_at"),
    }
    return structure(flat, cls)


def register_enums(*kinds: type[enum.Enum]) -> None:
    """Structure each enum in ``kinds`` strictly, by its spec string.

    Without its own hook a StrEnum is structured by the ``str`` hook, which
    lets any text through. An error names the field by its path, as for the
    spec's own enums. For the modules that define enums of their own.

    >>> class Shade(enum.StrEnum):
    ...     DARK = "dark"
    >>> register_enums(Shade)
    >>> structure("dark", Shade)
    <Shade.DARK: 'dark'>
    """
    global _GENERIC_FIELDS
    for kind in kinds:
        converter.register_structure_hook(kind, _enum_hook(kind))
    _GENERIC_FIELDS = _GENERIC_FIELDS | {kind.__name__ for kind in kinds}


def _structure_date(value: Any, _: type) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInputError("date", value, "an ISO-8601 calendar date")


# Calendar days (a student's activity days) travel as ISO-8601 dates.
converter.register_unstructure_hook(date, date.isoformat)
converter.register_structure_hook(date, _structure_date)
_GENERIC_FIELDS = _GENERIC_FIELDS | {"date"}


def _unstructure_error(error: InvalidInputError) -> dict[str, Any]:
    """A typed refusal as JSON-ready data a host can log: its type, field,
    value (its JSON-ready data, or its text when it has none), rule and
    message, and for a corrupt row the table and key (D18).

    >>> unstructure(InvalidInputError("best_score", 120.0, "D1: in [0, 100]"))
    {'type': 'InvalidInputError', 'field': 'best_score', 'value': 120.0, \
'rule': 'D1: in [0, 100]', 'message': 'best_score=120.0 is invalid: D1: in [0, 100]'}
    """
    try:
        value = converter.unstructure(error.value)
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        value = _shown(error.value)
    data: dict[str, Any] = {
        "type": type(error).__name__,
        "field": error.field,
        "value": value,
        "rule": error.rule,
        "message": str(error),
    }
    if isinstance(error, CorruptRecordError):
        data["table"] = error.table
        data["key"] = list(error.key)
    return data


_ERROR_KEYS = {"type", "field", "value", "rule", "message", "table", "key"}


def _structure_error(data: Any, _: type) -> InvalidInputError:
    """Read back what :func:`_unstructure_error` wrote: a
    :class:`CorruptRecordError` when it names its table and key, else an
    :class:`InvalidInputError`; its value is the data written."""
    if not isinstance(data, dict) or not _ERROR_KEYS >= set(data) >= {
        "type",
        "field",
        "value",
        "rule",
    }:
        raise InvalidInputError(
            "error", data, "an object with type, field, value and rule"
        )
    field, value, rule = data["field"], data["value"], data["rule"]
    if not all(isinstance(x, str) for x in (data["type"], field, rule)):
        raise InvalidInputError("error", data, "type, field and rule as text")
    error = InvalidInputError(field, value, rule)
    table, key = data.get("table"), data.get("key")
    if data["type"] == "CorruptRecordError" and isinstance(table, str):
        if not (isinstance(key, list) and all(isinstance(k, str) for k in key)):
            raise InvalidInputError("error.key", key, "a corrupt row's key, as text")
        return CorruptRecordError(table, tuple(key), error)
    return error


converter.register_unstructure_hook(InvalidInputError, _unstructure_error)
converter.register_structure_hook(InvalidInputError, _structure_error)
