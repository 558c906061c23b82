"""How the shell retries a transaction, and how it reads the clock.

Shared by the service, the reconciliation service, the batch runner and the
audit, so they retry alike (Q56) and read time alike (D2).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from . import _validate as v
from ._errors import ConflictError, InvalidInputError, StorageError
from ._policy import check_policy
from ._ports import Clock

__all__ = ["check_retries", "check_shell", "read_clock", "retrying"]

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


def check_shell(unit_of_work: object, policy: object, max_retries: object) -> None:
    """Refuse, naming the argument, what a service of the shell cannot be
    built with: ``unit_of_work`` makes units of work (an adapter's
    ``unit_of_work`` method, not the store), ``policy`` is a ``Policy`` and
    ``max_retries`` a whole number of at least 0 (Q150).

    >>> from mlc_progress import DEFAULT_POLICY
    >>> try:
    ...     check_shell(lambda: None, DEFAULT_POLICY, -1)
    ... except InvalidInputError as refused:
    ...     print(refused.field)
    max_retries
    """
    if not callable(unit_of_work):
        raise InvalidInputError(
            "unit_of_work",
            unit_of_work,
            "a callable that makes a unit of work (an adapter's unit_of_work)",
        )
    check_policy(policy)
    check_retries(max_retries)


def check_retries(max_retries: object) -> None:
    """Refuse, naming the argument, a ``max_retries`` that is not a whole
    number of at least 0."""
    if not (
        isinstance(max_retries, int)
        and not isinstance(max_retries, bool)
        and max_retries >= 0
    ):
        raise InvalidInputError("max_retries", max_retries, "a non-negative integer")
