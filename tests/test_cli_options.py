"""The command line's options as the how-to states them: a malformed
``--as`` is a misused option, an option one kind of report does not use is
refused, ``ingest`` counts the file's lines as its line numbers do, and
``demo --keep`` prints the demo's own counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlc_progress import _cli_support as support
from mlc_progress._cli_support import (
    ClassList,
    Database,
    ingest,
    parse_as,
)
from mlc_progress._errors import InvalidInputError
from mlc_progress._permissions import Role
from mlc_progress.adapters import FixedClock

from .test_cli import (
    AS_OF,
    NOW,
    ORG,
    attempt_line,
    db,
    demo_db,
    jsonl,
    one_line_error,
    run,
    setup_lines,
)
from .test_cli_authorization import access_log
from .test_cli_inputs import mine

__all__ = ["db", "demo_db", "mine"]  # the fixtures, shared with test_cli

DEMO = ("--classes", "1", "--students", "2", "--seed", "3", "--as-of", AS_OF)

# -- --as: a malformed value is a misused option --------------------------------------

MALFORMED_AS = ["teacher", ":x", "teacher:", "nobody:1", "Teacher:t1", "teacher: "]


@pytest.mark.parametrize("acting_as", MALFORMED_AS)
def test_a_malformed_as_exits_2_before_the_database_is_opened(
    tmp_path: Path, acting_as: str
) -> None:
    """``--as`` that is not ROLE:ID with a known role and an id exits 2 in one
    line naming the option, like a malformed --as-of: even where there is no
    database (which would be exit 1), and no file is created."""
    missing = tmp_path / "none.sqlite"
    result = run("report", "class", "class-1", "--as", acting_as, "--db", str(missing))
    line = one_line_error(result)
    assert result.exit_code == 2
    assert "Invalid value for '--as'" in line
    assert f"as={acting_as!r} is invalid: ROLE:ID" in line
    assert not missing.exists()


@pytest.mark.parametrize("acting_as", MALFORMED_AS)
def test_a_malformed_as_changes_nothing_in_the_database(
    db: Path, acting_as: str
) -> None:
    """Refused before the report is authorized: no denial is logged and no
    report is printed."""
    before = db.read_bytes()
    result = run("report", "class", "class-1", "--as", acting_as, "--db", str(db))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert access_log(db) == ()
    assert db.read_bytes() == before


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_parse_role_and_id_accepts_every_role(role: str) -> None:
    """Each of the spec's roles, with an id, is an actor the command line can name."""
    assert support.parse_role_and_id(f"{role}:x1") == (Role(role), "x1")


@pytest.mark.parametrize("text", MALFORMED_AS)
def test_parse_as_refuses_what_the_option_refuses(text: str) -> None:
    """The function refuses the option's malformed values with field ``as``."""
    with pytest.raises(InvalidInputError) as refused:
        parse_as(text, ClassList(organization_id=ORG))
    assert refused.value.field == "as"


# -- report: an option the kind of report does not use is refused -------------------

NOT_FOR_THIS_REPORT = [
    (("student", "class-1-st01", "--sort", "name"), "--sort applies only to class"),
    (("student", "class-1-st01", "--descending"), "--descending applies only to class"),
    (("class", "class-1", "--view", "teacher"), "--view applies only to student"),
    (("class", "class-1", "--view", "student"), "--view applies only to student"),
    (("organization", "--view", "parent"), "--view applies only to student"),
    (("organization", "--sort", "completion"), "--sort applies only to class"),
    (("organization", "--descending"), "--descending applies only to class"),
    (("class", "class-1", "--descending"), "--descending needs --sort"),
]


@pytest.mark.parametrize(
    ("args", "message"),
    NOT_FOR_THIS_REPORT,
    ids=[" ".join(a[:1] + a[-2:]) for a, _ in NOT_FOR_THIS_REPORT],
)
def test_an_option_the_report_does_not_use_exits_2_in_one_line(
    db: Path, args: tuple[str, ...], message: str
) -> None:
    """--sort and --descending are for class reports, --view for student
    reports, --descending only with --sort: elsewhere they are refused with
    exit 2 and one line, not silently ignored; nothing is printed or logged."""
    result = run("report", *args, "--db", str(db), "--as-of", AS_OF)
    line = one_line_error(result)
    assert result.exit_code == 2
    assert message in line
    assert result.stdout == ""
    assert access_log(db) == ()


def test_each_option_still_works_for_its_own_report(db: Path) -> None:
    """--view on a student report and --sort with --descending on a class
    report are applied."""
    teacher = run(
        "report", "student", "class-1-st01", "--view", "teacher", "--db", str(db),
        "--as-of", AS_OF,
    )  # fmt: skip
    assert teacher.exit_code == 0, teacher.output
    assert "Timeline:" in teacher.stdout
    grid = run(
        "report", "class", "class-1", "--sort", "name", "--descending", "--db",
        str(db), "--as-of", AS_OF,
    )  # fmt: skip
    assert grid.exit_code == 0, grid.output
    assert "Sorted by name, descending" in grid.stdout


# -- ingest: "Read N lines" counts the file's lines ----------------------------------

BAD_SCORE = {**attempt_line(9), "score": 120}


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_ingest_counts_every_line_of_the_file_blank_ones_included(
    tmp_path: Path, source: str
) -> None:
    """N in "Read N lines" counts blank lines as the bad lines' numbers do:
    the last line of a file is line N, and the counts after it (blank lines
    included) add up to N."""
    text = (
        jsonl(*setup_lines())
        + "\n"
        + jsonl(attempt_line(1))
        + "  \n"
        + jsonl(BAD_SCORE)
    )
    db = tmp_path / "x.sqlite"
    if source == "file":
        path = tmp_path / "in.jsonl"
        path.write_text(text, encoding="utf-8")
        result = run("ingest", str(path), "--db", str(db), "--as-of", AS_OF)
    else:
        result = run("ingest", "-", "--db", str(db), "--as-of", AS_OF, input=text)
    assert result.exit_code == 1
    assert result.stderr.startswith("line 6: score=120.0 is invalid")
    assert result.stdout == (
        "Read 6 lines: 1 applied, 0 already applied, 2 structures and classes"
        " stored, 1 refused, 2 blank.\n"
    )


def test_ingest_counts_trailing_blank_lines_and_says_one_line(tmp_path: Path) -> None:
    """Blank lines at the end are lines of the file too; one line is "1 line"."""
    db = tmp_path / "x.sqlite"
    first = run("ingest", "-", "--db", str(db), "--as-of", AS_OF, input="\n")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("Read 1 line: 0 applied")
    assert first.stdout.endswith(", 1 blank.\n")
    text = jsonl(*setup_lines()) + "\n\n"
    result = run("ingest", "-", "--db", str(db), "--as-of", AS_OF, input=text)
    assert result.stdout == (
        "Read 4 lines: 0 applied, 0 already applied, 2 structures and classes"
        " stored, 0 refused, 2 blank.\n"
    )


def test_the_ingest_report_counts_lines_and_blank_lines(tmp_path: Path) -> None:
    """IngestReport.lines is every line read, blank ones included, and the
    counts of what became of each add up to it."""
    lines = [*jsonl(*setup_lines(), "", attempt_line(1), "", BAD_SCORE).splitlines()]
    with Database(tmp_path / "x.sqlite", create=True) as database:
        done = ingest(database, ORG, lines, clock=FixedClock(NOW))
    assert (done.lines, done.blank, done.applied, done.catalog) == (6, 2, 1, 2)
    assert [b.line for b in done.bad] == [6]
    total = done.applied + done.duplicates + done.catalog + len(done.bad) + done.blank
    assert total == done.lines


# -- demo --keep: the demo's own counts, singular or plural --------------------------


def test_demo_keep_prints_the_demos_own_counts(mine: Path, tmp_path: Path) -> None:
    """Into a database with another class, demo --keep counts its own class
    and students ("1 class, 2 students"), not the user's too; the at-risk
    line counts the whole organization and says so."""
    out = str(tmp_path / "r.html")
    kept = run("demo", "--db", str(mine), "--out", out, "--keep", *DEMO)
    assert kept.exit_code == 0, kept.output
    assert (
        "Organization demo-org: 1 class, 2 students, 4 assignments made by the demo;"
        in kept.stdout
    )
    assert " of 4 students of demo-org " in kept.stdout
    assert "1 classes" not in kept.stdout


def test_demo_says_one_class_and_one_student_in_the_singular(tmp_path: Path) -> None:
    """A demo of one class of one student says "1 class, 1 student"."""
    db = tmp_path / "d.sqlite"
    args = ("--classes", "1", "--students", "1", "--seed", "3", "--as-of", AS_OF)
    result = run("demo", "--db", str(db), "--out", str(tmp_path / "r.html"), *args)
    assert result.exit_code == 0, result.output
    assert "Organization demo-org: 1 class, 1 student, 4 assignments" in result.stdout
    assert " of 1 student of demo-org " in result.stdout
    assert "1 students" not in result.stdout
    assert "1 classes" not in result.stdout
