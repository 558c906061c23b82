"""The command line on awkward input: lines that are no UTF-8 or hold
overlong numbers, times at the calendar's ends, and ``demo --keep`` on a
database demo did not make."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlc_progress import SnapshotTrigger, StudentProgressSummary
from mlc_progress._cli_support import BadLine, Database, demo_organization, parse_line
from mlc_progress._errors import InvalidInputError
from mlc_progress._retention import student_snapshot
from mlc_progress.cli import cli

from .test_cli import (
    AS_OF,
    ORG,
    attempt_line,
    jsonl,
    one_line_error,
    setup_lines,
)

DEMO = ("--classes", "1", "--students", "2", "--seed", "3", "--as-of", AS_OF)
#: A JSON line with an integer past Python's 4300-digit limit for text.
OVERLONG = '{"type": "attempt", "score": ' + "1" * 5000 + "}"


def run(*args: str, input: str | bytes | None = None) -> Result:
    """Invoke the command line in-process; an uncaught exception fails the test."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    """A user's database: one class (5b) of two students, two attempts."""
    path = tmp_path / "mine.sqlite"
    text = jsonl(*setup_lines(), attempt_line(1), attempt_line(2, student="bo"))
    result = run("ingest", "-", "--db", str(path), "--as-of", AS_OF, input=text)
    assert result.exit_code == 0, result.output
    return path


# -- ingest: lines that are no JSON or no UTF-8 ---------------------------------------


def test_an_integer_past_the_digit_limit_is_a_bad_line() -> None:
    """json.loads refuses it with a plain ValueError: still one BadLine with
    its number, field and rule."""
    parsed = parse_line(7, OVERLONG)
    assert isinstance(parsed, BadLine)
    assert parsed.line == 7
    assert parsed.error.startswith('line=\'{"type": "attempt", "score": 111')
    assert "is invalid: JSON (Exceeds the limit (4300 digits)" in parsed.error


def test_ingest_reports_an_overlong_integer_and_applies_the_rest(
    tmp_path: Path,
) -> None:
    """The line is reported with its number and the run goes on (Q112)."""
    db = tmp_path / "x.sqlite"
    text = jsonl(*setup_lines(), OVERLONG, attempt_line(1))
    result = run("ingest", "-", "--db", str(db), "--as-of", AS_OF, input=text)
    assert result.exit_code == 1
    assert result.stderr.startswith("line 3: line=")
    assert len(result.stderr.splitlines()) == 1
    assert "1 applied" in result.stdout
    assert "1 refused" in result.stdout


def test_parse_line_refuses_text_that_is_no_utf8() -> None:
    """A byte that is no UTF-8, read with surrogateescape, makes the line bad."""
    parsed = parse_line(4, '{"session_id": "\udcff"}')
    assert parsed == BadLine(
        line=4, error='line=\'{"session_id": "\\udcff"}\' is invalid: UTF-8 text'
    )


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_a_line_that_is_no_utf8_is_one_bad_line(tmp_path: Path, source: str) -> None:
    """A byte that is no UTF-8 is reported as its line; the good lines before
    and after it are applied (a bad line never stops the run)."""
    db = tmp_path / "x.sqlite"
    data = (
        jsonl(*setup_lines(), attempt_line(1)).encode()
        + b'{"type": "attempt", "session_id": "\xff"}\n'
        + jsonl(attempt_line(2, student="bo")).encode()
    )
    if source == "file":
        path = tmp_path / "in.jsonl"
        path.write_bytes(data)
        result = run("ingest", str(path), "--db", str(db), "--as-of", AS_OF)
    else:
        result = run("ingest", "-", "--db", str(db), "--as-of", AS_OF, input=data)
    assert result.exit_code == 1
    assert result.stderr == (
        'line 4: line=\'{"type": "attempt", "session_id": "\\udcff"}\' is'
        " invalid: UTF-8 text\n"
    )
    assert result.stdout.startswith("Read 5 lines: 2 applied, 0 already applied")


# -- --as-of at the calendar's ends ---------------------------------------------------


@pytest.mark.parametrize(
    "as_of",
    [
        "0001-01-02T00:00:00Z",
        "0001-01-08T23:59:59Z",
        "0001-01-01T00:00:00+05:00",
        "9999-10-01T00:00:00Z",
        "9999-09-30T20:00:00-05:00",
        "9999-12-05T00:00:00Z",
        "9999-12-31T00:00:00Z",
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ("batch",),
        ("report", "organization"),
        ("report", "class", "5b"),
        ("report", "student", "ada"),
        ("ingest", "-"),
        ("audit",),
    ],
)
def test_an_as_of_where_the_batch_cannot_run_is_one_line(
    mine: Path, command: tuple[str, ...], as_of: str
) -> None:
    """Every --as-of is a time the batch runs at (0001-01-09T00:00Z to before
    9999-10-01T00:00Z): outside, one line naming the range and exit 2, not a
    traceback from the schedule or the trend periods."""
    result = run(*command, "--db", str(mine), "--as-of", as_of, input="")
    line = one_line_error(result)
    assert result.exit_code == 2
    assert (
        "is outside the times the batch runs at: from 0001-01-09T00:00:00Z to"
        " before 9999-10-01T00:00:00Z" in line
    )


@pytest.mark.parametrize(
    "as_of", ["0001-01-09T00:00:00Z", "9999-09-30T23:59:59.999999Z"]
)
def test_the_batch_and_the_reports_run_at_the_ends_of_the_range(
    mine: Path, as_of: str
) -> None:
    """The first and the last moment of the range work, batch then report."""
    for command in (("batch",), ("report", "organization"), ("report", "class", "5b")):
        result = run(*command, "--db", str(mine), "--as-of", as_of)
        assert result.exit_code == 0, result.output


def test_a_far_future_snapshot_already_stored_breaks_no_later_report(
    mine: Path,
) -> None:
    """A student snapshot dated 9999-12-05 (stored by a batch run then, before
    such runs were refused) is not history as of now: reports and the batch
    as of now leave it out instead of dying in its trend quarter."""
    far = student_snapshot(
        StudentProgressSummary(student_id="ada", organization_id=ORG),
        snapshot_id="scheduled/daily/far",
        snapshot_date=datetime(9999, 12, 5, tzinfo=UTC),
        trigger=SnapshotTrigger.SCHEDULED,
    )
    with Database(mine) as database, database.store.unit_of_work() as uow:
        uow.snapshots.append(ORG, far)
        uow.commit()
    for command in (
        ("report", "organization"),
        ("report", "class", "5b"),
        ("report", "student", "ada"),
        ("batch",),
    ):
        result = run(*command, "--db", str(mine), "--as-of", AS_OF)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("as_of", ["0001-01-09T00:00:00Z", "0001-02-25T23:59:59Z"])
def test_a_demo_whose_term_would_start_before_year_1_is_one_line(
    tmp_path: Path, as_of: str
) -> None:
    """The demo's term starts 56 days before --as-of: a term that would
    start before the calendar is refused in one line, before any file is
    touched (the demo's own database is not replaced)."""
    db = tmp_path / "d.sqlite"
    out = tmp_path / "r.html"
    assert run("demo", "--db", str(db), "--out", str(out), *DEMO).exit_code == 0
    out.unlink()
    args = ("--classes", "1", "--students", "2", "--as-of", as_of)
    line = one_line_error(run("demo", "--db", str(db), "--out", str(out), *args))
    assert "the demo runs from 0001-02-26T00:00:00+00:00" in line
    assert not out.exists()
    with Database(db) as database, database.store.unit_of_work() as uow:
        assert uow.roster.count(ORG) == 2


def test_demo_organization_refuses_an_as_of_outside_its_range() -> None:
    """As a function too: InvalidInputError naming as_of, not OverflowError."""
    for as_of in (datetime(1, 2, 1, tzinfo=UTC), datetime(9999, 12, 5, tzinfo=UTC)):
        with pytest.raises(InvalidInputError) as refused:
            demo_organization(
                organization_id=ORG,
                seed=3,
                classes=1,
                students_per_class=2,
                as_of=as_of,
            )
        assert refused.value.field == "as_of"


# -- demo --keep on a database demo did not make --------------------------------------


def test_demo_keep_never_marks_a_database_it_did_not_make(
    mine: Path, tmp_path: Path
) -> None:
    """After ``demo --keep`` the user's database is still not the demo's: a
    plain ``demo`` refuses to replace it, and every ingested attempt stays."""
    out = str(tmp_path / "r.html")
    assert run("demo", "--db", str(mine), "--out", out, "--keep", *DEMO).exit_code == 0
    assert not Database.made_by_demo(mine)
    line = one_line_error(run("demo", "--db", str(mine), "--out", out, *DEMO))
    assert "was not made by `mlc-progress demo`" in line
    with Database(mine) as database, database.store.unit_of_work() as uow:
        assert uow.commands.contains(ORG, "t1")
        assert uow.commands.contains(ORG, "t2")


def test_demo_marks_the_databases_it_makes(tmp_path: Path) -> None:
    """A database demo created, with or without --keep, is the demo's: the
    next demo may replace it."""
    out = str(tmp_path / "r.html")
    for name, keep in (("plain.sqlite", ()), ("kept.sqlite", ("--keep",))):
        db = tmp_path / name
        assert run("demo", "--db", str(db), "--out", out, *keep, *DEMO).exit_code == 0
        assert Database.made_by_demo(db)
        assert run("demo", "--db", str(db), "--out", out, *DEMO).exit_code == 0


def test_a_database_opened_on_an_existing_file_cannot_be_marked(mine: Path) -> None:
    """Only the Database that created the file may mark it as the demo's."""
    with Database(mine, create=True) as database:
        assert not database.created
        with pytest.raises(InvalidInputError) as refused:
            database.mark_demo()
    assert refused.value.field == "db"
    assert not Database.made_by_demo(mine)


def test_demo_keep_merges_its_classes_into_the_users_class_list(
    mine: Path, tmp_path: Path
) -> None:
    """The demo's classes join the organization's class list: the user's
    class 5b keeps its students and its report, and its students keep their
    class on the roster (D19 reads it)."""
    out = str(tmp_path / "r.html")
    kept = run("demo", "--db", str(mine), "--out", out, "--keep", *DEMO)
    assert kept.exit_code == 0, kept.output
    assert "Wrote the HTML report of Class 1" in kept.stdout  # the demo's class
    with Database(mine) as database:
        classes = database.classes(ORG)
        with database.store.unit_of_work() as uow:
            ada = uow.roster.get(ORG, "ada")
    assert [c.class_id for c in classes.classes] == ["5b", "class-1"]
    assert classes.class_("5b").student_ids == ("ada", "bo")
    assert ada is not None
    assert ada.record.class_ids == ("5b",)
    report = run("report", "class", "5b", "--db", str(mine), "--as-of", AS_OF)
    assert report.exit_code == 0, report.output
    assert "Ada" in report.stdout
