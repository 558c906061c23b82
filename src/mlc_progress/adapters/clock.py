"""Clocks: the system's, and a fixed one for tests and replays.

The service reads its clock once per transaction; the core never reads one.
Tests inject a :class:`FixedClock` rather than patching time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .. import _validate as v

__all__ = ["FixedClock", "SystemClock"]


class SystemClock:
    """The system's clock, in UTC.

    >>> SystemClock().now().tzinfo
    datetime.timezone.utc
    """

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told: ``set`` it or ``advance`` it.

    >>> clock = FixedClock(datetime(2026, 9, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(hours=1))
    >>> clock.now().isoformat()
    '2026-09-01T01:00:00+00:00'
    """

    def __init__(self, now: datetime) -> None:
        self._now = self._checked(now)

    @staticmethod
    def _checked(when: datetime) -> datetime:
        when = v.to_utc(when)
        v.check_time_value("now", when)
        return when

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        """Make ``now`` the time; it may go back (a replay)."""
        self._now = self._checked(now)

    def advance(self, by: timedelta) -> None:
        """Move the time forward (or back, with a negative ``by``)."""
        self._now = self._now + by
