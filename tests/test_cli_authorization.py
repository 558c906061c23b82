"""``mlc-progress report --as ROLE:ID`` authorizes the read (D19): teachers
teach, students attend, the classes of the class list; a denial prints one
line, exits 1 and is logged; without ``--as`` the organization's admin acts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlc_progress._cli_support import LOCAL_ADMIN_ID, Database, ingest
from mlc_progress._permissions import AccessLogEntry
from mlc_progress.adapters import FixedClock

from .test_cli import AS_OF, NOW, ORG, db, demo_db, one_line_error, run

__all__ = ["db", "demo_db"]  # the fixtures, shared with test_cli


def access_log(path: Path) -> tuple[AccessLogEntry, ...]:
    with Database(path) as database:
        uow = database.store.unit_of_work()
        with uow:
            return uow.access_log.entries(ORG)


def report(path: Path, *args: str) -> tuple[int, str]:
    result = run("report", *args, "--db", str(path), "--as-of", AS_OF)
    return result.exit_code, result.stderr


ALLOWED = [
    ("a teacher, their class", ("class", "class-1", "--as", "teacher:class-1-teacher")),
    (
        "a teacher, a student of their class in detail",
        (
            "student",
            "class-1-st01",
            "--view",
            "teacher",
            "--as",
            "teacher:class-1-teacher",
        ),
    ),
    (
        "a student, their own",
        ("student", "class-1-st01", "--as", "student:class-1-st01"),
    ),
    ("an admin, the organization", ("organization", "--as", f"admin:{LOCAL_ADMIN_ID}")),
    ("the default actor, a class", ("class", "class-2")),
]


@pytest.mark.parametrize("args", [a for _, a in ALLOWED], ids=[n for n, _ in ALLOWED])
def test_an_allowed_report_prints_and_logs_nothing(
    db: Path, args: tuple[str, ...]
) -> None:
    """An allowed read prints the report and appends nothing to the access log."""
    assert report(db, *args) == (0, "")
    assert access_log(db) == ()


DENIED = [
    (
        "a teacher, another class",
        ("class", "class-1", "--as", "teacher:class-2-teacher"),
        "the student is not in a class the actor teaches",
    ),
    (
        "a student, another student",
        ("student", "class-1-st02", "--as", "student:class-1-st01"),
        "the records are not the actor's own",
    ),
    (
        "a student, the teacher's detail",
        (
            "student",
            "class-1-st01",
            "--view",
            "teacher",
            "--as",
            "student:class-1-st01",
        ),
        "a student may not read_class",
    ),
    (
        "a student, a class",
        ("class", "class-1", "--as", "student:class-1-st01"),
        "a student may not read_class",
    ),
    (
        "an admin, another organization",
        ("organization", "other-org"),
        "the resource belongs to another organization",
    ),
    (
        "a student exporting to a file",
        ("student", "class-1-st01", "--as", "student:class-1-st01", "--out", "x.txt"),
        "a student may not export_reports",
    ),
]


@pytest.mark.parametrize(
    ("args", "reason"), [d[1:] for d in DENIED], ids=[d[0] for d in DENIED]
)
def test_a_denied_report_prints_one_line_exits_1_and_is_logged(
    db: Path, tmp_path: Path, args: tuple[str, ...], reason: str
) -> None:
    """A denied read prints ``error: ...`` with the reason, exits 1, writes
    no file, and appends one denial to the access log of the organization
    asked about."""
    args = tuple(str(tmp_path / a) if a == "x.txt" else a for a in args)
    result = run("report", *args, "--db", str(db), "--as-of", AS_OF)
    assert result.exit_code == 1
    assert reason in one_line_error(result)
    assert result.stdout == ""
    assert not (tmp_path / "x.txt").exists()
    asked = "other-org" if "other-org" in args else ORG
    with Database(db) as database:
        uow = database.store.unit_of_work()
        with uow:
            (entry,) = uow.access_log.entries(asked)
    assert (entry.allowed, entry.reason, entry.occurred_at) == (False, reason, NOW)


@pytest.mark.parametrize("acting_as", ["teacher", "principal:p1"])
def test_a_malformed_as_is_refused_in_one_line(db: Path, acting_as: str) -> None:
    """``--as`` without ROLE:ID, or with a role the spec does not name, is a
    misused option (exit 2), not a denial: nothing is logged."""
    result = run("report", "class", "class-1", "--as", acting_as, "--db", str(db))
    assert f"as={acting_as!r} is invalid: ROLE:ID" in one_line_error(result)
    assert result.exit_code == 2
    assert access_log(db) == ()


def test_ingest_applies_a_teachers_command_only_for_their_class(db: Path) -> None:
    """An ingested person's command acts as the teacher it names, with the
    classes the class list gives them: their own student's line applies,
    another class's student's line is refused with the reason and logged."""

    def line(command_id: str, actor_id: str, student_id: str) -> str:
        return json.dumps(
            {
                "type": "override_complete",
                "command_id": command_id,
                "actor_id": actor_id,
                "reason": "finished_on_paper",
                "student_id": student_id,
                "assignment_id": "class-1-a1",
                "step_id": "class-1-a1-s1",
                "issued_at": AS_OF,
            }
        )

    lines = [
        line("o1", "class-1-teacher", "class-1-st01"),
        line("o2", "class-2-teacher", "class-1-st02"),
    ]
    with Database(db) as database:
        done = ingest(database, ORG, lines, clock=FixedClock(NOW))
    assert done.applied == 1
    (bad,) = done.bad
    assert bad.line == 2
    assert "the student is not in a class the actor teaches" in bad.error
    (entry,) = access_log(db)
    assert (entry.actor_id, entry.student_id) == ("class-2-teacher", "class-1-st02")
