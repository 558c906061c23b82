"""Field validators shared by every record (D1, D2, D3, D4).

Each validator has the attrs signature ``(instance, attribute, value)`` and
raises :class:`InvalidInputError` naming the field, the value and the rule.
They are deliberately plain functions: records are built on the hot path.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ._errors import InvalidInputError

RULE_SCORE = "D1: a score is a finite number in [0, 100], not a boolean"
RULE_TARGET = "D1: a target score is a finite number in (0, 100], not a boolean"
RULE_PERCENT = "D10: a percentage is a finite number in [0, 100], not a boolean"
RULE_COUNT = "D4: a count is a non-negative integer, not a boolean"
RULE_DURATION = "D2: a duration in ms is a non-negative integer, not a boolean"
RULE_ID = (
    "D3: an id is a non-empty string, not only whitespace, of valid Unicode"
    " (no lone surrogates)"
)
RULE_TEXT = "a string of valid Unicode (no lone surrogates)"
RULE_TIME = (
    "D2: a datetime is timezone-aware and its instant a time UTC can hold"
    " (it is normalized to UTC)"
)
RULE_RATIO = "D5: a ratio is a finite non-negative number, not a boolean"
RULE_JSON_READY = (
    "JSON-ready data that reads back equal: objects with string keys, arrays"
    " as lists, strings of valid Unicode, booleans, null, integers and finite"
    " numbers"
)


def to_utc(value: datetime) -> datetime:
    """Normalize an aware datetime to UTC; leave anything else to the validator.

    An aware time whose instant lies outside UTC's range (0001-01-01 00:00 at
    +01:00) is left as it is, so the validator refuses it naming the field (D2).

    >>> from datetime import timedelta, timezone
    >>> early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    >>> to_utc(early) is early
    True
    """
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # already normalized: the common case, kept as is
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            return value
    return value


def to_utc_optional(value: datetime | None) -> datetime | None:
    if value is None or (type(value) is datetime and value.tzinfo is UTC):
        return value
    return to_utc(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    """``math.isfinite``, false for an int too large to be a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_score_value(field: str, value: object) -> None:
    if not (_is_number(value) and finite(value) and 0 <= value <= 100):  # type: ignore[operator]
        raise InvalidInputError(field, value, RULE_SCORE)


def check_target_value(field: str, value: object) -> None:
    if not (_is_number(value) and finite(value) and 0 < value <= 100):  # type: ignore[operator]
        raise InvalidInputError(field, value, RULE_TARGET)


def check_percentage_value(field: str, value: object) -> None:
    if not (_is_number(value) and finite(value) and 0 <= value <= 100):  # type: ignore[operator]
        raise InvalidInputError(field, value, RULE_PERCENT)


def check_ratio_value(field: str, value: object) -> None:
    if not (_is_number(value) and finite(value) and value >= 0):  # type: ignore[operator]
        raise InvalidInputError(field, value, RULE_RATIO)


# Arguments of the public calculators (Q156): numbers of any numeric type
# (numpy scalars included, as pandas and numpy sums give them), checked and
# returned as the plain int, float or bool the checked twins compute with.
# Records stay stricter: their fields are plain values that JSON carries.


def _is_flag_type(value: object) -> bool:
    return isinstance(value, bool) or (
        type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    )


def _real(value: object) -> float | None:
    if _is_flag_type(value) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def count_argument(field: str, value: object) -> int:
    """``value`` as an int when it is a count (D4), else InvalidInputError."""
    if not _is_flag_type(value) and isinstance(value, numbers.Integral):
        count = int(value)
        if count >= 0:
            return count
    raise InvalidInputError(field, value, RULE_COUNT)


def _number_argument(
    field: str, value: object, rule: str, within: Callable[[float], bool]
) -> float:
    number = _real(value)
    if number is None or not within(number):
        raise InvalidInputError(field, value, rule)
    return number


def score_argument(field: str, value: object) -> float:
    """``value`` as a float when it is a score in [0, 100] (D1)."""
    return _number_argument(field, value, RULE_SCORE, lambda x: 0 <= x <= 100)


def target_argument(field: str, value: object) -> float:
    """``value`` as a float when it is a target score in (0, 100] (D1)."""
    return _number_argument(field, value, RULE_TARGET, lambda x: 0 < x <= 100)


def percentage_argument(field: str, value: object) -> float:
    """``value`` as a float when it is a percentage in [0, 100] (D10)."""
    return _number_argument(field, value, RULE_PERCENT, lambda x: 0 <= x <= 100)


def ratio_argument(field: str, value: object) -> float:
    """``value`` as a float when it is finite and non-negative (D5)."""
    return _number_argument(field, value, RULE_RATIO, lambda x: x >= 0)


def flag_argument(field: str, value: object) -> bool:
    """``value`` as a bool when it is True or False (numpy's too)."""
    if _is_flag_type(value):
        return bool(value)
    raise InvalidInputError(field, value, "True or False")


_T = TypeVar("_T")


def instances(field: str, values: object, cls: type[_T], what: str) -> tuple[_T, ...]:
    """``values`` as a tuple, each a ``cls``; text or a lone value is no
    collection of them. Refusals name ``field`` and the value at fault."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInputError(field, values, what)
    items = tuple(values)
    for item in items:
        if not isinstance(item, cls):
            raise InvalidInputError(field, item, what)
    return items


def unicode_text(value: str) -> bool:
    """Whether ``value`` is valid Unicode, so that UTF-8 (JSON text, SQLite,
    any wire) can carry it: no lone surrogates. O(1) for ASCII text.

    >>> unicode_text("Zoë"), unicode_text("a" + chr(0xD800))
    (True, False)
    """
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_count_value(field: str, value: object) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise InvalidInputError(field, value, RULE_COUNT)


def check_id_value(field: str, value: object) -> None:
    if not (isinstance(value, str) and value.strip() and unicode_text(value)):
        raise InvalidInputError(field, value, RULE_ID)


def check_time_value(field: str, value: object) -> None:
    if not (isinstance(value, datetime) and value.tzinfo is UTC):
        raise InvalidInputError(field, value, RULE_TIME)


# Each validator below first accepts the common case (a plain float, int,
# str or UTC datetime within range) in one expression, and otherwise falls
# back to the full check, which accepts subclasses (numpy scalars, say) and
# raises for everything else. ``0 <= x <= 100`` is false for NaN and the
# infinities, so the fast path needs no ``isfinite``.
_PLAIN_NUMBER = (float, int)


def score(_: Any, attribute: Any, value: Any) -> None:
    if type(value) in _PLAIN_NUMBER and 0 <= value <= 100:
        return
    check_score_value(attribute.name, value)


def optional_score(_: Any, attribute: Any, value: Any) -> None:
    if value is None or (type(value) in _PLAIN_NUMBER and 0 <= value <= 100):
        return
    check_score_value(attribute.name, value)


def target(_: Any, attribute: Any, value: Any) -> None:
    if type(value) in _PLAIN_NUMBER and 0 < value <= 100:
        return
    check_target_value(attribute.name, value)


def percentage(_: Any, attribute: Any, value: Any) -> None:
    if type(value) in _PLAIN_NUMBER and 0 <= value <= 100:
        return
    check_percentage_value(attribute.name, value)


def count(_: Any, attribute: Any, value: Any) -> None:
    if type(value) is int and value >= 0:
        return
    check_count_value(attribute.name, value)


def duration_ms(_: Any, attribute: Any, value: Any) -> None:
    if type(value) is int and value >= 0:
        return
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise InvalidInputError(attribute.name, value, RULE_DURATION)


def ratio(_: Any, attribute: Any, value: Any) -> None:
    if type(value) is float and 0 <= value < math.inf:
        return
    check_ratio_value(attribute.name, value)


def optional_ratio(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        ratio(instance, attribute, value)


def identifier(_: Any, attribute: Any, value: Any) -> None:
    if type(value) is str and value and value.isascii() and not value.isspace():
        return
    check_id_value(attribute.name, value)


def optional_identifier(_: Any, attribute: Any, value: Any) -> None:
    if value is None or (
        type(value) is str and value and value.isascii() and not value.isspace()
    ):
        return
    check_id_value(attribute.name, value)


def identifiers(_: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, tuple):
        raise InvalidInputError(attribute.name, value, "a collection field is a tuple")
    for item in value:
        check_id_value(attribute.name, item)


def utc_time(_: Any, attribute: Any, value: Any) -> None:
    if value.__class__ is datetime and value.tzinfo is UTC:
        return
    check_time_value(attribute.name, value)


def optional_utc_time(_: Any, attribute: Any, value: Any) -> None:
    if value is None or (value.__class__ is datetime and value.tzinfo is UTC):
        return
    check_time_value(attribute.name, value)


def boolean(_: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(attribute.name, value, "a flag is a boolean")


def enum_of(kind: type) -> Any:
    """Validator accepting only members of ``kind`` (not their raw strings)."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, kind):
            names = ", ".join(repr(m.value) for m in kind)  # type: ignore[attr-defined]
            raise InvalidInputError(attribute.name, value, f"one of {names}")

    return check


def positive_timedelta(_: Any, attribute: Any, value: Any) -> None:
    if value is not None and not (
        isinstance(value, timedelta) and value > timedelta(0)
    ):
        raise InvalidInputError(attribute.name, value, "a duration is positive")


def order(
    field: str, earlier: datetime | None, later: datetime | None, rule: str
) -> None:
    """Reject ``later < earlier`` when both are set (D4)."""
    if earlier is not None and later is not None and later < earlier:
        raise InvalidInputError(field, later, rule)


def text(_: Any, attribute: Any, value: Any) -> None:
    """Any string of valid Unicode, the empty one included (names, titles,
    free text)."""
    if not (isinstance(value, str) and unicode_text(value)):
        raise InvalidInputError(attribute.name, value, RULE_TEXT)


def optional_text(instance: Any, attribute: Any, value: Any) -> None:
    """``None`` or a string of valid Unicode (free text, Q141)."""
    if value is not None:
        text(instance, attribute, value)


def instance_of(kind: type) -> Any:
    """Validator accepting only instances of ``kind``."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, kind):
            raise InvalidInputError(attribute.name, value, f"a {kind.__name__}")

    return check


def optional_instance_of(kind: type) -> Any:
    """Validator accepting ``None`` or an instance of ``kind``."""
    inner = instance_of(kind)

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def tuple_of(kind: type) -> Any:
    """Validator accepting a tuple whose items are all instances of ``kind``."""

    def check(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, tuple) or not all(isinstance(x, kind) for x in value):
            raise InvalidInputError(
                attribute.name, value, f"a tuple of {kind.__name__}"
            )

    return check


def _json_fault(value: Any, path: str) -> tuple[str, object] | None:
    """The path and value of the first part of ``value`` that is not
    JSON-ready (:data:`RULE_JSON_READY`), or ``None``."""
    kind = type(value)
    if kind is str:
        return None if value.isascii() or unicode_text(value) else (path, value)
    if kind is float:
        return None if math.isfinite(value) else (path, value)
    if value is None or kind is bool:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not (isinstance(key, str) and unicode_text(key)):
                return (path, key)
            fault = _json_fault(item, f"{path}.{key}")
            if fault is not None:
                return fault
        return None
    if kind is list:
        for index, item in enumerate(value):
            fault = _json_fault(item, f"{path}[{index}]")
            if fault is not None:
                return fault
        return None
    # Subclasses (a StrEnum member, a numpy float) write as their base type.
    if isinstance(value, str):
        return None if unicode_text(value) else (path, value)
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, int):
        # Any length: JSON has no limit; one past Python's digit limit for
        # text is refused when written, naming its field (``to_json``).
        return None
    return (path, value)  # a tuple, a datetime, a set: JSON reads back other


def json_ready(_: Any, attribute: Any, value: Any) -> None:
    """A mapping of JSON-ready data that reads back equal (snapshots, audit
    copies, diagnostics); the error names the path of the first bad part.

    >>> from types import SimpleNamespace
    >>> field = SimpleNamespace(name="state")
    >>> json_ready(None, field, {"steps": ["s1"], "score": 70.0})
    >>> json_ready(None, field, {"steps": ("s1",)})
    Traceback (most recent call last):
    ...
    mlc_progress._errors.InvalidInputError: state.steps=('s1',) is invalid: ...
    """
    name = attribute.name
    if not isinstance(value, Mapping):
        raise InvalidInputError(name, value, f"a JSON object: {RULE_JSON_READY}")
    try:
        fault = _json_fault(value if isinstance(value, dict) else dict(value), name)
    except RecursionError:
        raise InvalidInputError(
            name, "...", "JSON-ready data nested less deep"
        ) from None
    if fault is not None:
        raise InvalidInputError(fault[0], fault[1], RULE_JSON_READY)
