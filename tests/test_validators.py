"""The validators' fast paths never change a verdict (D1-D4).

Each hot validator accepts the common case in one expression and otherwise
falls back to the full check; these properties hold every fast path to the
rule it shortcuts, on every kind of value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlc_progress import InvalidInputError
from mlc_progress import _validate as v


class _Float(float):
    """A float subclass, as numpy's float64 is."""


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([10**400, -(10**400), 2**1024, 2**1024 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1, max_value=101).map(_Float),
    st.text(max_size=4),
    st.sampled_from(
        ["", " ", "\t\n", "\u2003", "a", " a ", "\ud800", "Zo\u00eb\udfff"]
    ),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))])),
    st.datetimes(),
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """A finite value a float can hold: an int past 2**1024 is none."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _utf8(value: str) -> bool:
    """Whether UTF-8 can carry ``value`` (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite_in(value: Any, low: float, high: float, *, open_low: bool) -> bool:
    if not (_number(value) and _finite(value)):
        return False
    return bool((low < value if open_low else low <= value) and value <= high)


RULES: dict[str, Callable[[Any], bool]] = {
    "score": lambda x: _finite_in(x, 0, 100, open_low=False),
    "optional_score": lambda x: x is None or _finite_in(x, 0, 100, open_low=False),
    "target": lambda x: _finite_in(x, 0, 100, open_low=True),
    "percentage": lambda x: _finite_in(x, 0, 100, open_low=False),
    "count": lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 0,
    "duration_ms": lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 0,
    "ratio": lambda x: _number(x) and _finite(x) and x >= 0,
    "optional_ratio": lambda x: x is None or (_number(x) and _finite(x) and x >= 0),
    "identifier": lambda x: isinstance(x, str) and bool(x.strip()) and _utf8(x),
    "optional_identifier": lambda x: (
        x is None or (isinstance(x, str) and bool(x.strip()) and _utf8(x))
    ),
    "text": lambda x: isinstance(x, str) and _utf8(x),
    "utc_time": lambda x: isinstance(x, datetime) and x.tzinfo is UTC,
    "optional_utc_time": lambda x: (
        x is None or (isinstance(x, datetime) and x.tzinfo is UTC)
    ),
}


def _accepts(name: str, value: Any) -> bool:
    field = SimpleNamespace(name="field")  # validators read only the name
    try:
        getattr(v, name)(None, field, value)
    except InvalidInputError as error:
        refused: InvalidInputError | None = error
    else:
        refused = None
    assert refused is None or refused.field == "field"
    return refused is None


@pytest.mark.parametrize("name", sorted(RULES))
@given(value=values)
def test_a_validator_accepts_exactly_what_its_rule_allows(
    name: str, value: Any
) -> None:
    """Fast path or not, each validator's verdict is its rule's."""
    assert _accepts(name, value) == RULES[name](value)


@given(value=values)
def test_check_count_value_refuses_what_the_count_validator_refuses(
    value: Any,
) -> None:
    """D4: the count check of hand-written checks on stored data gives the
    count validator's verdict, naming the field it is given, with RULE_COUNT."""
    if RULES["count"](value):
        v.check_count_value("stored.count", value)
        return
    with pytest.raises(InvalidInputError) as error:
        v.check_count_value("stored.count", value)
    assert (error.value.field, error.value.rule) == ("stored.count", v.RULE_COUNT)


@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_a_utc_time_is_kept_as_the_same_object(moment: datetime) -> None:
    """Normalizing a datetime already in UTC returns it unchanged."""
    assert v.to_utc(moment) is moment
    assert v.to_utc_optional(moment) is moment


@given(moment=st.datetimes(timezones=st.just(timezone(timedelta(hours=-5)))))
def test_another_offset_is_normalized_to_the_same_instant_in_utc(
    moment: datetime,
) -> None:
    """An aware datetime elsewhere becomes the same instant in UTC (D2)."""
    for normalized in (v.to_utc(moment), v.to_utc_optional(moment)):
        assert normalized is not None
        assert normalized.tzinfo is UTC
        assert normalized == moment


@pytest.mark.parametrize("huge", [10**400, -(10**400)])
def test_an_int_too_large_for_a_float_is_refused_with_a_typed_error(huge: int) -> None:
    """A record field or a policy threshold given an int no float can hold
    is refused naming the field, not left to an OverflowError later."""
    from mlc_progress import Policy

    for name in ("score", "target", "percentage", "ratio"):
        assert not _accepts(name, huge)
    with pytest.raises(InvalidInputError) as error:
        Policy(max_clock_skew_seconds=huge)
    assert error.value.field == "max_clock_skew_seconds"


_OFF_THE_EDGE = [
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),
]


@pytest.mark.parametrize("moment", _OFF_THE_EDGE, ids=["early", "late"])
def test_an_aware_time_utc_cannot_hold_is_refused_naming_the_field(
    moment: datetime,
) -> None:
    """An aware time whose instant lies outside UTC's range is refused by
    the field's validator with the D2 rule, not a bare OverflowError."""
    from mlc_progress import Attempt, StepProgress

    assert v.to_utc(moment) is moment
    assert v.to_utc_optional(moment) is moment
    with pytest.raises(InvalidInputError) as error:
        Attempt(
            attempt_id="a",
            student_id="u",
            assignment_id="x",
            step_id="s",
            score=50.0,
            attempted_at=moment,
            duration_ms=1,
            session_id="z",
        )
    assert error.value.field == "attempted_at"
    assert error.value.rule == v.RULE_TIME
    assert "UTC can hold" in v.RULE_TIME
    with pytest.raises(InvalidInputError) as error:
        StepProgress(
            step_id="s",
            assignment_id="a",
            student_id="u",
            target_score=80.0,
            available_at=moment,
        )
    assert error.value.field == "available_at"
