"""Dismissing an at-risk flag through the shell (Q51, beyond the spec; D19).

:func:`dismiss_risk_flag` is the imperative shell around the pure
:func:`~mlc_progress._risk.dismiss_risk`: in one unit of work it authorizes
the actor, loads the stored :class:`RiskState`, stores the dismissed state
and the organization's :class:`DismissalStats`, and appends the audit line
to the access log. A denial stores nothing and is logged, as the service
logs its denials.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from . import _validate as v
from ._errors import InvalidInputError
from ._pacing import utc_argument
from ._permissions import (
    AccessLogEntry,
    Action,
    Actor,
    PermissionDeniedError,
    Resource,
    ResourceKind,
    access_log_entry,
    authorize,
)
from ._ports import AuthorizedUnitOfWork, BatchUnitOfWork
from ._retry import retrying
from ._risk import DismissalStats, RiskDismissal, RiskState, dismiss_risk

__all__ = ["DISMISS_ACTION", "DismissalStore", "dismiss_risk_flag"]

#: The permission a dismissal needs: the spec's "override progress", a
#: teacher's audited write on a student of their class (D19). The resource
#: is the student's progress records (kind ``step``, the kind ``override``
#: applies to); so teachers of the student's classes and system admins may
#: dismiss, organization admins (who have no write on progress) may not.
DISMISS_ACTION = Action.OVERRIDE


class DismissalUnitOfWork(BatchUnitOfWork, AuthorizedUnitOfWork, Protocol):
    """A unit of work reaching the roster, the risk states and the access
    log. The in-memory and SQLite adapters' units of work are both."""


class DismissalStore(Protocol):
    """A storage adapter whose units of work are :class:`DismissalUnitOfWork`."""

    def unit_of_work(self) -> DismissalUnitOfWork: ...


class _Denied(Exception):
    """Leaves the transaction without storing anything."""

    def __init__(self, entry: AccessLogEntry, error: PermissionDeniedError) -> None:
        super().__init__(str(error))
        self.entry = entry
        self.error = error


def dismiss_risk_flag(
    store: DismissalStore,
    organization_id: str,
    student_id: str,
    *,
    actor: Actor,
    reason: str,
    as_of: datetime,
    dismissal_id: str | None = None,
    max_retries: int = 3,
) -> RiskDismissal:
    """Dismiss a student's at-risk flag as wrong, with a reason (Q51).

    In one unit of work: authorize ``actor`` for :data:`DISMISS_ACTION` on
    the student's records, with the student's classes from the roster
    (D19); apply :func:`~mlc_progress._risk.dismiss_risk` to the stored
    state; store the new state and the organization's dismissal statistics
    (counted per rule); append an allowed access-log line whose ``entry_id``
    is the dismissal's id and whose ``purpose`` is ``reason`` (the audit
    record: who, when, why). The dismissal stands in the state until the
    factor kinds change (a later batch run ends it).

    A denial stores nothing, is appended to the access log in a transaction
    of its own and raises :class:`PermissionDeniedError`. A student with no
    flag, or one already dismissed, raises :class:`InvalidInputError`
    (field ``at_risk`` or ``dismissal``). ``dismissal_id`` defaults to a new
    unique id. Conflicts and busy storage are retried ``max_retries`` times.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress._permissions import Role
    >>> from mlc_progress._risk import RiskRule
    >>> from mlc_progress.adapters import InMemoryStore
    >>> store = InMemoryStore()
    >>> with store.unit_of_work() as uow:
    ...     _ = uow.risk.put("org", RiskState(student_id="ada", at_risk=True,
    ...         rules=(RiskRule.ENGAGEMENT,), factors=("inactive_9_days",)),
    ...         expected_version=0)
    ...     uow.commit()
    >>> system = Actor(actor_id="ops", role=Role.SYSTEM_ADMIN, organization_id="org")
    >>> d = dismiss_risk_flag(store, "org", "ada", actor=system, reason="trip",
    ...     as_of=datetime(2026, 9, 8, tzinfo=UTC), dismissal_id="d-1")
    >>> d.rules, d.actor_id
    ((<RiskRule.ENGAGEMENT: 'engagement'>,), 'ops')
    """
    v.check_id_value("organization_id", organization_id)
    v.check_id_value("student_id", student_id)
    v.check_id_value("reason", reason)
    if not isinstance(actor, Actor):
        raise InvalidInputError("actor", actor, "an Actor")
    as_of = utc_argument("as_of", as_of)
    if dismissal_id is None:
        dismissal_id = f"dismissal-{uuid.uuid4().hex}"
    v.check_id_value("dismissal_id", dismissal_id)
    if not (
        isinstance(max_retries, int)
        and not isinstance(max_retries, bool)
        and max_retries >= 0
    ):
        raise InvalidInputError("max_retries", max_retries, "a non-negative integer")
    org, sid, chosen_id = organization_id, student_id, dismissal_id

    def work() -> RiskDismissal:
        with store.unit_of_work() as uow:
            enrolled = uow.roster.get(org, sid)
            resource = Resource.of_student(
                ResourceKind.STEP,
                organization_id=org,
                student_id=sid,
                class_ids=enrolled.record.class_ids if enrolled is not None else (),
            )
            decision = authorize(actor, DISMISS_ACTION, resource)
            if not decision.allowed:
                entry = access_log_entry(
                    actor,
                    DISMISS_ACTION,
                    resource,
                    decision,
                    entry_id=f"access-{uuid.uuid4().hex}",
                    occurred_at=as_of,
                )
                raise _Denied(
                    entry,
                    PermissionDeniedError(
                        actor.actor_id, str(DISMISS_ACTION), decision
                    ),
                )
            found = uow.risk.get(org, sid)
            state = found.record if found is not None else RiskState(student_id=sid)
            if (
                state.dismissal is not None
                and state.dismissal.dismissal_id == chosen_id
            ):
                # The same dismissal delivered again changes nothing (D3).
                return state.dismissal
            new_state, dismissal = dismiss_risk(
                state,
                dismissal_id=chosen_id,
                actor_id=actor.actor_id,
                reason=reason,
                dismissed_at=as_of,
            )
            uow.risk.put(org, new_state, expected_version=found.version if found else 0)
            stats = uow.risk.dismissal_stats(org)
            uow.risk.put_dismissal_stats(
                org,
                (stats.record if stats else DismissalStats()).add_dismissal(dismissal),
                expected_version=stats.version if stats else 0,
            )
            uow.access_log.append(
                org,
                access_log_entry(
                    actor,
                    DISMISS_ACTION,
                    resource,
                    decision,
                    entry_id=chosen_id,
                    occurred_at=as_of,
                    purpose=reason,
                ),
            )
            uow.commit()
            return dismissal

    try:
        return retrying(work, max_retries=max_retries)
    except _Denied as denied:
        entry, error = denied.entry, denied.error

    def log() -> None:
        with store.unit_of_work() as uow:
            uow.access_log.append(org, entry)
            uow.commit()

    retrying(log, max_retries=max_retries)
    raise error from None
