"""numpy for the columnar kernel, and the conventions its columns share.

numpy is an optional dependency (the ``columnar`` extra): this module is the
one place that imports it, so the error says which extra to install. Times
are int64 microseconds since 1970-01-01 UTC with :data:`NAT` for "none";
enumerations are int8 codes, the member's position in its enum.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

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


def to_us(moment: datetime | None) -> int:
    """Microseconds since 1970-01-01 UTC; :data:`NAT` for ``None``.

    >>> to_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)), to_us(None) == NAT
    (1000000, True)
    """
    if moment is None:
        return NAT
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime | None:
    """The UTC datetime of ``value`` microseconds; ``None`` for :data:`NAT`.

    >>> from_us(1_000_000).isoformat(), from_us(NAT)
    ('1970-01-01T00:00:01+00:00', None)
    """
    if value == NAT:
        return None
    return _EPOCH + timedelta(microseconds=int(value))


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
    return list(type(member)).index(member)


def member_of(kind: type[E], code: int) -> E:
    """The member of ``kind`` with ``code``.

    >>> from mlc_progress import StepState
    >>> member_of(StepState, 0)
    <StepState.LOCKED: 'locked'>
    """
    return list(kind)[int(code)]
