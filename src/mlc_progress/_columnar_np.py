"""numpy for the columnar kernel, and the conventions its columns share.

numpy is an optional dependency (the ``columnar`` extra): this module is the
one place that imports it, so the error says which extra to install. Times
are int64 microseconds since 1970-01-01 UTC with :data:`NAT` for "none";
enumerations are integer codes, the member's position in its enum. The
helpers refuse what they cannot convert with ``InvalidInputError`` (D2).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from ._errors import InvalidInputError
from ._pacing import utc_argument

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "mlc_progress.columnar needs numpy: install the extra,"
        " pip install 'mlc-progress[columnar]'"
    ) from exc

__all__ = [
    "MAX_US",
    "MIN_US",
    "NAT",
    "Array",
    "code_of",
    "day_number",
    "from_day_number",
    "from_us",
    "member_of",
    "np",
    "to_us",
]

Array = npt.NDArray[Any]

#: "No time": the int64 minimum, which is also numpy's ``NaT``.
NAT = int(np.iinfo(np.int64).min)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: The range of ``datetime`` in microseconds since the epoch (D2).
MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999

E = TypeVar("E", bound=enum.Enum)


_RULE_US = (
    "D2: microseconds since 1970-01-01 UTC between 0001-01-01 and"
    " 9999-12-31T23:59:59.999999, or NAT"
)


def _integer(field: str, value: Any) -> int:
    """``value`` as an int: a Python or numpy integer, not a boolean."""
    if value.__class__ is int:
        return int(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    raise InvalidInputError(field, value, "an integer, not a boolean")


def to_us(moment: datetime | None) -> int:
    """Microseconds since 1970-01-01 UTC; :data:`NAT` for ``None``. A naive
    datetime is refused (D2).

    >>> to_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)), to_us(None) == NAT
    (1000000, True)
    """
    if moment is None:
        return NAT
    delta = utc_argument("moment", moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int | np.integer[Any]) -> datetime | None:
    """The UTC datetime of ``value`` microseconds; ``None`` for :data:`NAT`;
    a value outside ``datetime``'s range is refused (D2).

    >>> from_us(1_000_000).isoformat(), from_us(NAT)
    ('1970-01-01T00:00:01+00:00', None)
    """
    value = _integer("value", value)
    if value == NAT:
        return None
    if not MIN_US <= value <= MAX_US:
        raise InvalidInputError("value", value, _RULE_US)
    return _EPOCH + timedelta(microseconds=value)


def day_number(day: date) -> int:
    """Days since 1970-01-01.

    >>> day_number(date(1970, 1, 2))
    1
    """
    return day.toordinal() - _EPOCH_ORDINAL


def from_day_number(value: int) -> date:
    """The date ``value`` days after 1970-01-01.

    >>> from_day_number(1)
    datetime.date(1970, 1, 2)
    """
    return date.fromordinal(int(value) + _EPOCH_ORDINAL)


def code_of(member: enum.Enum) -> int:
    """A member's code: its position in its enum.

    >>> from mlc_progress import StepState
    >>> code_of(StepState.COMPLETE)
    3
    """
    if not isinstance(member, enum.Enum):
        raise InvalidInputError("member", member, "a member of an enumeration")
    return list(type(member)).index(member)


def member_of(kind: type[E], code: int | np.integer[Any]) -> E:
    """The member of ``kind`` with ``code``; a code outside the enum is
    refused.

    >>> from mlc_progress import StepState
    >>> member_of(StepState, 0)
    <StepState.LOCKED: 'locked'>
    """
    if not (isinstance(kind, type) and issubclass(kind, enum.Enum)):
        raise InvalidInputError("kind", kind, "an enumeration")
    members = list(kind)
    position = _integer("code", code)
    if not 0 <= position < len(members):
        raise InvalidInputError(
            "code",
            position,
            f"a code of {kind.__name__}: 0 to {len(members) - 1}",
        )
    return members[position]
