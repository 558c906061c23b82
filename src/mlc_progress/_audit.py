"""The organization audit: every stored progress record checked, reported and
optionally repaired (spec: When Errors Occur; D4, D18).

:func:`audit_organization` pages through the organization's students with a
stored step or assignment record, reads each student's records raw (never
building a record from a corrupt row), checks them with ``_inconsistency``
against the catalog's structure and the attempt log, and with
``repair=True`` repairs each broken student assignment in a transaction of
its own: corrected records, correction records, ``progress_reconciled``; or,
when no rule repairs it, one ``progress_repair_failed`` alert for support.
Repair ids derive from the stored data, so an audit run again over data it
could not repair alerts nobody twice, and over repaired data finds nothing.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

import attrs

from . import _validate as v
from ._errors import NotFoundError
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy
from ._ports import ReconciliationStore, ReconciliationUnitOfWork, StructureCatalog
from ._reconciliation_service import GroupRepair, repair_group
from ._retry import retrying
from ._serialization import register_enums
from ._structure import AssignmentStructure

__all__ = [
    "AuditFinding",
    "AuditReport",
    "AuditStatus",
    "audit_organization",
    "format_audit_report",
]

# Students read per page of the listing: bounded memory, few queries.
_PAGE = 500
# Tries of one student assignment's repair transaction (Q56).
_RETRIES = 3


class AuditStatus(enum.StrEnum):
    """What the audit did with one inconsistent student assignment."""

    REPAIRED = "repaired"
    ESCALATED = "escalated"
    ALREADY_ESCALATED = "already_escalated"
    REPAIRABLE = "repairable"
    UNREPAIRABLE = "unrepairable"


_STATUS = {
    "repaired": AuditStatus.REPAIRED,
    "failed": AuditStatus.ESCALATED,
    "done_before": AuditStatus.ALREADY_ESCALATED,
    "repairable": AuditStatus.REPAIRABLE,
    "unrepairable": AuditStatus.UNREPAIRABLE,
}


@attrs.frozen(kw_only=True)
class AuditFinding:
    """One student assignment whose stored records break an invariant.

    ``violations`` counts what was found by code; ``status`` says what the
    audit did; ``repair_id`` names the repair (its ids, corrections and
    event derive from it); ``corrections`` counts the correction records
    appended.
    """

    student_id: str = attrs.field(validator=v.identifier)
    assignment_id: str = attrs.field(validator=v.identifier)
    violations: Mapping[str, int] = attrs.field(hash=False)
    status: AuditStatus = attrs.field(validator=v.enum_of(AuditStatus))
    repair_id: str = attrs.field(validator=v.identifier)
    corrections: int = attrs.field(default=0, validator=v.count)


@attrs.frozen(kw_only=True)
class AuditReport:
    """What :func:`audit_organization` checked, found, repaired and escalated.

    ``violations`` counts every violation found, by code. A finding is one
    student assignment with violations (see :class:`AuditFinding`).
    ``repaired`` and ``escalated`` are what this run did; a dry run
    (``repair=False``) changes nothing and counts ``repairable`` and
    ``unrepairable`` instead. ``already_escalated`` counts student
    assignments an earlier audit escalated, not alerted again.
    """

    organization_id: str
    as_of: datetime
    repair: bool
    students_checked: int = 0
    assignments_checked: int = 0
    records_checked: int = 0
    violations: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    findings: tuple[AuditFinding, ...] = ()

    def _count(self, status: AuditStatus) -> int:
        return sum(1 for f in self.findings if f.status is status)

    @property
    def found(self) -> int:
        """Student assignments with at least one violation."""
        return len(self.findings)

    @property
    def violations_found(self) -> int:
        return sum(self.violations.values())

    @property
    def repaired(self) -> int:
        return self._count(AuditStatus.REPAIRED)

    @property
    def escalated(self) -> int:
        """Support alerts (``progress_repair_failed``) emitted by this run."""
        return self._count(AuditStatus.ESCALATED)

    @property
    def already_escalated(self) -> int:
        return self._count(AuditStatus.ALREADY_ESCALATED)

    @property
    def repairable(self) -> int:
        return self._count(AuditStatus.REPAIRABLE)

    @property
    def unrepairable(self) -> int:
        return self._count(AuditStatus.UNREPAIRABLE)

    @property
    def corrections(self) -> int:
        """Correction records appended by this run."""
        return sum(f.corrections for f in self.findings)


def audit_organization(
    store: ReconciliationStore,
    catalog: StructureCatalog,
    organization_id: str,
    *,
    as_of: datetime,
    repair: bool,
    policy: Policy = DEFAULT_POLICY,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Check every stored step and assignment record of the organization and,
    with ``repair``, repair what can be and escalate the rest (D18).

    Students are read a page at a time, each student's records raw; a
    student assignment with violations is repaired in a transaction of its
    own (see :func:`~mlc_progress._reconciliation_service.repair_group`),
    its repair id derived from the stored data. Records of an assignment the
    catalog lacks are escalated. ``progress(done, total)`` is called after
    each student. ``as_of`` dates the corrections and the events.

    >>> from datetime import UTC, datetime
    >>> from mlc_progress.adapters import InMemoryCatalog, InMemoryStore
    >>> report = audit_organization(InMemoryStore(), InMemoryCatalog(), "org-1",
    ...     as_of=datetime(2026, 9, 1, tzinfo=UTC), repair=True)
    >>> (report.students_checked, report.found, report.repaired, report.escalated)
    (0, 0, 0, 0)
    """
    v.check_id_value("organization_id", organization_id)
    as_of = utc_argument("as_of", as_of)
    structures: dict[str, AssignmentStructure | None] = {}

    # The logged changes read, shared by every student's check (a change
    # lists every student: read once per run, not once per student).
    changes: dict[str, object] = {}

    def structure_of(assignment_id: str) -> AssignmentStructure | None:
        if assignment_id not in structures:
            try:
                structures[assignment_id] = catalog.assignment(
                    organization_id, assignment_id
                )
            except NotFoundError:
                structures[assignment_id] = None
        return structures[assignment_id]

    def check(
        uow: ReconciliationUnitOfWork, student_id: str, assignment_id: str
    ) -> GroupRepair:
        return repair_group(
            uow,
            organization_id,
            student_id,
            assignment_id,
            structure_of(assignment_id),
            as_of=as_of,
            store=False,
            policy=policy,
            changes=changes,
        )

    with store.unit_of_work() as uow:
        total = uow.raw.student_count(organization_id)
    counts: Counter[str] = Counter()
    findings: list[AuditFinding] = []
    students = assignments = records = 0
    after: str | None = None
    while True:
        with store.unit_of_work() as uow:
            page = uow.raw.student_ids(organization_id, after=after, limit=_PAGE)
        if not page:
            break
        for student_id in page:
            with store.unit_of_work() as uow:
                checked = [
                    (aid, check(uow, student_id, aid))
                    for aid in uow.raw.assignment_ids(organization_id, student_id)
                ]
            for assignment_id, result in checked:
                assignments += 1
                records += result.records
                if result.status == "clean":
                    continue
                if repair and result.status != "done_before":
                    result = _repair(
                        store,
                        organization_id,
                        student_id,
                        assignment_id,
                        structure_of(assignment_id),
                        as_of=as_of,
                        policy=policy,
                        changes=changes,
                    )
                    if result.status == "clean":  # repaired meanwhile
                        continue
                found = Counter(x.code for x in result.outcome.violations)
                counts.update(found)
                findings.append(
                    AuditFinding(
                        student_id=student_id,
                        assignment_id=assignment_id,
                        violations=dict(sorted(found.items())),
                        status=_STATUS[result.status],
                        repair_id=result.repair_id,
                        corrections=len(result.outcome.corrections)
                        if result.status == "repaired"
                        else 0,
                    )
                )
            students += 1
            if progress is not None:
                progress(students, max(total, students))
        after = page[-1]
    return AuditReport(
        organization_id=organization_id,
        as_of=as_of,
        repair=repair,
        students_checked=students,
        assignments_checked=assignments,
        records_checked=records,
        violations=dict(sorted(counts.items())),
        findings=tuple(findings),
    )


def _repair(
    store: ReconciliationStore,
    organization_id: str,
    student_id: str,
    assignment_id: str,
    structure: AssignmentStructure | None,
    *,
    as_of: datetime,
    policy: Policy,
    changes: dict[str, object],
) -> GroupRepair:
    """Repair one student assignment in a transaction of its own, reading
    its records again inside it; conflicts and busy storage are retried."""

    def attempt() -> GroupRepair:
        with store.unit_of_work() as uow:
            result = repair_group(
                uow,
                organization_id,
                student_id,
                assignment_id,
                structure,
                as_of=as_of,
                policy=policy,
                changes=changes,
            )
            uow.commit()
        return result

    return retrying(attempt, max_retries=_RETRIES)


def format_audit_report(report: AuditReport) -> str:
    """The report as the command line prints it: one ``name: count`` line
    per figure, the violations by code indented under ``found``.

    >>> from datetime import UTC, datetime
    >>> print(format_audit_report(AuditReport(organization_id="org-1",
    ...     as_of=datetime(2026, 9, 1, tzinfo=UTC), repair=True)))
    audit of org-1 as of 2026-09-01T00:00:00Z (repair)
    students checked: 0
    assignments checked: 0
    records checked: 0
    found: 0 (0 violations)
    repaired: 0 (0 correction records)
    escalated: 0
    already escalated: 0
    """
    when = report.as_of.isoformat().replace("+00:00", "Z")
    mode = "repair" if report.repair else "dry run: nothing changed"
    lines = [
        f"audit of {report.organization_id} as of {when} ({mode})",
        f"students checked: {report.students_checked}",
        f"assignments checked: {report.assignments_checked}",
        f"records checked: {report.records_checked}",
        f"found: {report.found} ({report.violations_found} violations)",
        *(f"  {code}: {n}" for code, n in report.violations.items()),
    ]
    if report.repair:
        lines += [
            f"repaired: {report.repaired} ({report.corrections} correction records)",
            f"escalated: {report.escalated}",
        ]
    else:
        lines += [
            f"repaired: 0 ({report.repairable} repairable)",
            f"escalated: 0 ({report.unrepairable} unrepairable)",
        ]
    lines.append(f"already escalated: {report.already_escalated}")
    return "\n".join(lines)


register_enums(AuditStatus)
for _cls in (AuditFinding, AuditReport):
    attrs.resolve_types(_cls)
