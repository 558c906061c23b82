"""The organization audit finds, repairs and escalates injected corruptions
(D4, D18; issue 6)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    ProgressReconciled,
    ProgressRepairFailed,
    ReconciliationType,
    Stage,
    StepDefinition,
    check_assignment,
    unstructure,
)
from mlc_progress._audit import (
    AuditReport,
    AuditStatus,
    audit_organization,
    format_audit_report,
)
from mlc_progress._corruption import CorruptRecordError
from mlc_progress._service import ProgressService
from mlc_progress.adapters import (
    FixedClock,
    InMemoryCatalog,
    InMemoryStore,
    SQLiteStore,
)

ORG = "org-1"
T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)
STRUCTURE = AssignmentStructure(
    assignment_id="a1",
    created_at=T0,
    due_at=T0 + timedelta(days=21),
    steps=tuple(
        StepDefinition(step_id=i, element_id=f"game-{i}", stage=stage, target_score=80)
        for i, stage in (
            ("learn", Stage.LEARN),
            ("play", Stage.PLAY),
            ("quiz", Stage.QUIZ),
        )
    ),
)
STUDENTS = tuple(f"s{n:02}" for n in range(1, 10))


def seed(store: InMemoryStore | SQLiteStore, catalog: Any) -> None:
    """Every student finished learn (90) and is half-way through play (55)."""
    catalog.add_assignment(ORG, STRUCTURE)
    service = ProgressService(
        store.unit_of_work, catalog, FixedClock(T0 + timedelta(days=3))
    )
    attempts = [
        Attempt(
            attempt_id=f"{student}-{step_id}",
            student_id=student,
            assignment_id="a1",
            step_id=step_id,
            score=score,
            attempted_at=T0 + timedelta(days=day),
            duration_ms=60_000,
            session_id=student,
        )
        for student in STUDENTS
        for step_id, score, day in (("learn", 90, 1), ("play", 55, 2))
    ]
    service.apply_many(ORG, attempts)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "progress.db") as store:
        seed(store, store.catalog)
        yield store


@contextlib.contextmanager
def connect(store: SQLiteStore) -> Iterator[sqlite3.Connection]:
    """A connection of the test's own, outside the library and its triggers."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def rewrite(
    table: str, student: str, step_id: str | None, change: Callable[[str], str]
) -> Callable[[sqlite3.Connection], None]:
    """An injection: the stored body of one current-state row, changed."""
    where = "organization_id = ? AND student_id = ? AND assignment_id = 'a1'"
    keys: tuple[str, ...] = (ORG, student)
    if step_id is not None:
        where += " AND step_id = ?"
        keys += (step_id,)

    def inject(conn: sqlite3.Connection) -> None:
        (body,) = conn.execute(
            f"SELECT body FROM {table} WHERE {where}", keys
        ).fetchone()
        conn.execute(
            f"UPDATE {table} SET body = ? WHERE {where}", (change(body), *keys)
        )

    return inject


def fields(**changes: Any) -> Callable[[str], str]:
    return lambda body: json.dumps(json.loads(body) | changes)


def ghost_row(conn: sqlite3.Connection) -> None:
    """A valid step record of an assignment the catalog does not have."""
    (body,) = conn.execute(
        "SELECT body FROM step_progress WHERE organization_id = ? AND student_id = 's08'"
        " AND step_id = 'learn'",
        (ORG,),
    ).fetchone()
    conn.execute(
        "INSERT INTO step_progress VALUES (?, 's08', 'ghost', 'learn', 1, ?)",
        (ORG, json.dumps(json.loads(body) | {"assignment_id": "ghost"})),
    )


Injection = Callable[[sqlite3.Connection], None]

# Each injected corruption: its name, the student, the injection, a code the
# audit must report, and what it must do.
CASES: list[tuple[str, str, Injection, str, AuditStatus]] = [
    (
        "completion-over-100",
        "s01",
        rewrite(
            "assignment_progress", "s01", None, fields(completion_percentage=110.0)
        ),
        "completion_over_100",
        AuditStatus.REPAIRED,
    ),
    (
        "negative-time",
        "s02",
        rewrite("step_progress", "s02", "play", fields(time_on_task_ms=-5)),
        "negative_time",
        AuditStatus.REPAIRED,
    ),
    (
        "passed-flag",
        "s03",
        rewrite("step_progress", "s03", "learn", fields(passed=False)),
        "target_met_not_passed",
        AuditStatus.REPAIRED,
    ),
    (
        "stale-aggregate",
        "s04",
        rewrite("assignment_progress", "s04", None, fields(steps_in_progress=0)),
        "aggregate_mismatch:steps_in_progress",
        AuditStatus.REPAIRED,
    ),
    (
        "truncated-json",
        "s05",
        rewrite("step_progress", "s05", "play", lambda body: body[:25]),
        "not_an_object",
        AuditStatus.ESCALATED,
    ),
    (
        "unknown-field",
        "s06",
        rewrite("step_progress", "s06", "play", fields(hacked=True)),
        "unknown_field",
        AuditStatus.ESCALATED,
    ),
    (
        "misfiled",
        "s07",
        rewrite("step_progress", "s07", "play", fields(step_id="quiz")),
        "misfiled_record",
        AuditStatus.ESCALATED,
    ),
    ("no-structure", "s08", ghost_row, "unknown_assignment", AuditStatus.ESCALATED),
]
CORRUPTIONS = [pytest.param(*case[1:], id=case[0]) for case in CASES]


def inject_all(store: SQLiteStore) -> None:
    with connect(store) as conn:
        for _, _, inject, _, _ in CASES:
            inject(conn)


def dump(store: SQLiteStore) -> list[str]:
    """The whole database as SQL text: equal dumps, equal databases."""
    with connect(store) as conn:
        return list(conn.iterdump())


def audit(store: Any, catalog: Any, *, repair: bool, **more: Any) -> AuditReport:
    return audit_organization(store, catalog, ORG, as_of=AS_OF, repair=repair, **more)


def by_student(report: AuditReport) -> dict[str, AuditStatus]:
    return {f.student_id: f.status for f in report.findings}


# -- one injected corruption at a time ------------------------------------------------


@pytest.mark.parametrize(("student", "inject", "code", "status"), CORRUPTIONS)
def test_each_injected_corruption_is_found_and_handled(
    db: SQLiteStore,
    student: str,
    inject: Injection,
    code: str,
    status: AuditStatus,
) -> None:
    """The audit reports the injected corruption by code and repairs it, or
    escalates it when no rule can."""
    with connect(db) as conn:
        inject(conn)
    report = audit(db, db.catalog, repair=True)
    (finding,) = report.findings
    assert finding.student_id == student
    assert code in finding.violations
    assert finding.status is status
    assert report.violations == finding.violations


# -- all of them at once --------------------------------------------------------------


def test_the_audit_repairs_what_it_can_and_escalates_the_rest(db: SQLiteStore) -> None:
    """Over every injected corruption: each is found, four are repaired with
    correction records and progress_reconciled, four are escalated with one
    progress_repair_failed each; repaired records read on the normal path."""
    inject_all(db)
    report = audit(db, db.catalog, repair=True)
    assert (report.students_checked, report.assignments_checked) == (9, 10)
    assert by_student(report) == {case[1]: case[4] for case in CASES}
    assert (report.found, report.repaired, report.escalated) == (8, 4, 4)
    assert report.already_escalated == 0
    for _, _, _, code, _ in CASES:
        assert report.violations[code] >= 1
    with db.unit_of_work() as uow:
        events = [e.event for e in uow.outbox.entries(ORG)]
        corrections = uow.corrections.entries(ORG)
    alerts = [e for e in events if isinstance(e, ProgressRepairFailed)]
    repairs = [
        e
        for e in events
        if isinstance(e, ProgressReconciled)
        and e.reconciliation_type is ReconciliationType.ERROR_REPAIR
    ]
    assert sorted(e.student_id for e in alerts) == ["s05", "s06", "s07", "s08"]
    assert sorted(e.student_id for e in repairs) == ["s01", "s02", "s03", "s04"]
    assert sorted({c.student_id for c in corrections}) == ["s01", "s02", "s03", "s04"]
    assert len(corrections) == report.corrections
    assert all(c.before is not None and c.actor_id == "system" for c in corrections)
    tracking = ProgressService(db.unit_of_work, db.catalog, FixedClock(AS_OF))
    for student in ("s01", "s02", "s03", "s04"):
        steps = tracking.steps(ORG, student, "a1")
        assignment = tracking.assignment(ORG, student, "a1")
        assert (
            check_assignment(
                unstructure(assignment),
                STRUCTURE,
                [unstructure(s) for s in steps.values()],
                student_id=student,
            )
            == ()
        )
    for student in ("s05", "s06", "s07"):
        with pytest.raises(CorruptRecordError):
            tracking.steps(ORG, student, "a1")


def test_a_second_audit_finds_and_changes_nothing_new(db: SQLiteStore) -> None:
    """Run again, the audit repairs nothing, alerts nobody twice, and leaves
    the database exactly as it was; what it could not repair it reports as
    already escalated."""
    inject_all(db)
    audit(db, db.catalog, repair=True)
    before = dump(db)
    again = audit(db, db.catalog, repair=True)
    assert (again.repaired, again.escalated, again.corrections) == (0, 0, 0)
    assert again.already_escalated == 4
    assert set(by_student(again).values()) == {AuditStatus.ALREADY_ESCALATED}
    assert dump(db) == before


def test_a_dry_run_reports_and_changes_nothing(db: SQLiteStore) -> None:
    """Without repair the audit counts what it could repair and what not, and
    writes nothing."""
    inject_all(db)
    before = dump(db)
    report = audit(db, db.catalog, repair=False)
    assert (report.found, report.repairable, report.unrepairable) == (8, 4, 4)
    assert (report.repaired, report.escalated) == (0, 0)
    assert dump(db) == before


def test_the_report_prints_the_counts(db: SQLiteStore) -> None:
    """format_audit_report prints found, repaired and escalated, and the
    violations by code."""
    inject_all(db)
    dry = format_audit_report(audit(db, db.catalog, repair=False)).splitlines()
    assert (
        dry[0] == "audit of org-1 as of 2026-09-11T08:00:00Z (dry run: nothing changed)"
    )
    assert "repaired: 0 (4 repairable)" in dry
    assert "escalated: 0 (4 unrepairable)" in dry
    lines = format_audit_report(audit(db, db.catalog, repair=True)).splitlines()
    assert lines[0] == "audit of org-1 as of 2026-09-11T08:00:00Z (repair)"
    assert "students checked: 9" in lines
    assert any(line.startswith("found: 8 (") for line in lines)
    assert any(line.startswith("repaired: 4 (") for line in lines)
    assert "escalated: 4" in lines
    assert "already escalated: 0" in lines
    assert "  unknown_field: 1" in lines


def test_the_audit_pages_through_students_and_reports_progress(
    db: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pages of two students every student is checked once, and
    progress(done, total) is called after each."""
    monkeypatch.setattr("mlc_progress._audit._PAGE", 2)
    calls: list[tuple[int, int]] = []
    report = audit(
        db,
        db.catalog,
        repair=False,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert report.students_checked == 9
    assert calls == [(n, 9) for n in range(1, 10)]


def test_a_clean_organization_gives_a_clean_report(db: SQLiteStore) -> None:
    """Consistent records: every record checked, nothing found, nothing stored."""
    before = dump(db)
    report = audit(db, db.catalog, repair=True)
    assert report.records_checked == 9 * 3  # two steps and the assignment each
    assert (report.found, report.violations) == (0, {})
    assert dump(db) == before


def test_the_audit_repairs_on_the_in_memory_store() -> None:
    """In memory, an assignment record out of step with its steps is repaired,
    and a second audit finds nothing."""
    store, catalog = InMemoryStore(), InMemoryCatalog()
    seed(store, catalog)
    with store.unit_of_work() as uow:
        found = uow.progress.assignment(ORG, "s03", "a1")
        assert found is not None
        stale = attrs.evolve(found.record, steps_in_progress=0)
        uow.progress.put_assignment(ORG, stale, expected_version=found.version)
        uow.commit()
    report = audit(store, catalog, repair=True)
    assert by_student(report) == {"s03": AuditStatus.REPAIRED}
    with store.unit_of_work() as uow:
        (correction,) = uow.corrections.for_student(ORG, "s03")
    assert correction.before == unstructure(stale)
    assert audit(store, catalog, repair=True).found == 0


def test_a_naive_as_of_is_refused(db: SQLiteStore) -> None:
    """as_of must be timezone-aware (D2)."""
    with pytest.raises(ValueError, match="as_of"):
        audit_organization(
            db,
            db.catalog,
            ORG,
            as_of=datetime(2026, 9, 1),
            repair=False,
        )
