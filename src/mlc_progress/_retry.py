"""How the shell retries a transaction, and how it reads the clock.

Shared by the service, the reconciliation service, the batch runner and the
audit, so they retry alike (Q56) and read time alike (D2).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from . import _validate as v
from ._errors import ConflictError, StorageError
from ._ports import Clock

__all__ = ["read_clock", "retrying"]

T = TypeVar("T")


def retrying(attempt: Callable[[], T], *, max_retries: int) -> T:
    """Call ``attempt`` until it returns, trying again at most ``max_retries``
    more times on a ``ConflictError`` or a retryable ``StorageError``.

    Anything else is raised at once. There is no sleep: a busy database's
    own timeout does the waiting (Q56).

    >>> calls = []
    >>> def flaky() -> str:
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConflictError("stale")
    ...     return "done"
    >>> retrying(flaky, max_retries=3), len(calls)
    ('done', 3)
    """
    tries = 0
    while True:
        try:
            return attempt()
        except ConflictError:
            if tries >= max_retries:
                raise
        except StorageError as exc:
            if not exc.retryable or tries >= max_retries:
                raise
        tries += 1


def read_clock(clock: Clock) -> datetime:
    """The clock's now in UTC; a naive reading raises ``InvalidInputError`` (D2)."""
    now = v.to_utc(clock.now())
    v.check_time_value("clock.now()", now)
    return now
