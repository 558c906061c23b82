"""The typed error of a stored record that breaks an invariant (D4, D18).

Records are valid by construction, so a corrupt stored row cannot become a
record. The read path of an adapter raises :class:`CorruptRecordError` for
it, naming the table, the row's key and the field; nothing is used
silently and nothing is stored by the transaction that met it. The row is
left for the repair (``ReconciliationService.repair``) or the organization
audit (``audit_organization``), which read it raw.
"""

from __future__ import annotations

from ._errors import InvalidInputError, StorageError

__all__ = ["CorruptRecordError"]

# Tables whose key is (organization, student, assignment, ...): the records
# a D18 repair recomputes.
_REPAIRABLE_TABLES = frozenset({"step_progress", "assignment_progress"})


class CorruptRecordError(StorageError, InvalidInputError):
    """Raised when a stored current record breaks an invariant (D4, D18).

    It is a :class:`StorageError` (``retryable=False``: retrying reads the
    same row) and, for callers written before it existed, an
    :class:`InvalidInputError` naming ``field``, ``value`` and ``rule``.
    ``table`` and ``key`` name the row (``key`` starts with the
    organization id). What to do: nothing of the command was stored; repair
    the row with ``ReconciliationService.repair(organization_id,
    student_id, assignment_id, ...)`` (or let the organization audit do it),
    then deliver the command again (D3 makes that safe). A row that no rule
    repairs raises a ``progress_repair_failed`` alert for support.

    >>> err = CorruptRecordError(
    ...     "step_progress", ("org-1", "ada", "a1", "s1"),
    ...     InvalidInputError("attempt_count", -1, "D4: a count is >= 0"))
    >>> (err.student_id, err.assignment_id, err.field, err.retryable)
    ('ada', 'a1', 'attempt_count', False)
    >>> isinstance(err, InvalidInputError)
    True
    """

    def __init__(
        self, table: str, key: tuple[str, ...], error: InvalidInputError
    ) -> None:
        self.table = table
        self.key = tuple(key)
        self.field = error.field
        self.value = error.value
        self.rule = error.rule
        self.retryable = False
        Exception.__init__(
            self,
            f"{table} {self.key!r} is corrupt: {error.field}={error.value!r}"
            f" is invalid: {error.rule}. Nothing was stored; repair it"
            " (ReconciliationService.repair or the organization audit, D18)",
        )

    def __reduce__(  # type: ignore[override]
        self,
    ) -> tuple[
        type[CorruptRecordError], tuple[str, tuple[str, ...], InvalidInputError]
    ]:
        return (
            type(self),
            (
                self.table,
                self.key,
                InvalidInputError(self.field, self.value, self.rule),
            ),
        )

    @property
    def organization_id(self) -> str | None:
        """The organization of the row, when the key names it."""
        return self.key[0] if self.key else None

    @property
    def student_id(self) -> str | None:
        """The student of the row, when the key names one."""
        return self.key[1] if len(self.key) > 1 else None

    @property
    def assignment_id(self) -> str | None:
        """The assignment of a step or assignment row; ``None`` for other
        tables, whose rows the D18 repair does not cover."""
        if self.table in _REPAIRABLE_TABLES and len(self.key) > 2:
            return self.key[2]
        return None
