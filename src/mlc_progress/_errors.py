"""The library's errors: one root, each child also a natural built-in.

Every error says which field, which value and which rule; catching
``ProgressError`` catches everything this library raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "InvalidInputError",
    "NotFoundError",
    "ProgressError",
    "StorageError",
]


class ProgressError(Exception):
    """Root of every error that mlc_progress raises deliberately."""


def _shown(value: object) -> str:
    """``repr(value)``, or what it is when it has none to give: an int
    past Python's digit limit for text, an object whose ``__repr__``
    fails. The message of a refusal is never itself an error.

    >>> _shown(10**5000)
    '<an int of 16610 bits>'
    """
    try:
        return repr(value)
    except Exception:
        if isinstance(value, int):
            return f"<an int of {value.bit_length()} bits>"
        return f"<a {type(value).__name__} without a repr>"


class InvalidInputError(ProgressError, ValueError):
    """Raised when a value breaks a rule of the spec or a decision.

    Happens at the edge: building a record, loading a policy, structuring JSON,
    applying a command. Nothing has changed when it is raised; fix the input.

    >>> err = InvalidInputError("best_score", 120.0, "D1: a score is in [0, 100]")
    >>> str(err)
    'best_score=120.0 is invalid: D1: a score is in [0, 100]'
    """

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={_shown(value)} is invalid: {rule}")

    def __reduce__(self) -> tuple[type[InvalidInputError], tuple[str, object, str]]:
        return (type(self), (self.field, self.value, self.rule))


class NotFoundError(ProgressError, LookupError):
    """Raised when a record, step or command target does not exist.

    Check the identifiers; nothing has changed.
    """


class ConflictError(ProgressError):
    """Raised when a write is based on a stale version of a record.

    Nothing was written. Reload and apply the command again; the service does
    this a bounded number of times before giving up.
    """


class StorageError(ProgressError):
    """Raised when the storage behind a port fails.

    ``retryable`` tells whether trying again may succeed (a busy database,
    say). Nothing partial is stored.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)
