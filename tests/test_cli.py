"""The ``mlc-progress`` command line: demo, ingest, report, batch and audit on
the SQLite default, with one-line errors (issue 7)."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from mlc_progress import (
    Stage,
    StepDefinition,
    StorageError,
    from_json,
    unstructure,
)
from mlc_progress import _cli_support as cli_support
from mlc_progress._cli_support import (
    BadLine,
    ClassList,
    ClassRoster,
    Database,
    ParsedLine,
    RosterStudent,
    ingest,
    parse_line,
)
from mlc_progress._service import ProgressService
from mlc_progress._structure import AssignmentStructure, Attempt
from mlc_progress._views import ClassOverview, OrganizationDashboardView
from mlc_progress.adapters import FixedClock
from mlc_progress.cli import _at_risk_table, _class_table, cli

AS_OF = "2026-11-02T09:00:00+00:00"
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
ORG = "demo-org"
DEMO = ("--classes", "2", "--students", "4", "--seed", "3", "--as-of", AS_OF)


def run(*args: str, input: str | None = None) -> Result:
    """Invoke the command line in-process; an uncaught exception fails the test."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def one_line_error(result: Result) -> str:
    """The single stderr line of a failed command (asserted to be one line)."""
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo database, built once; tests copy it before changing it."""
    folder = tmp_path_factory.mktemp("demo")
    db = folder / "demo.sqlite"
    result = run("demo", "--db", str(db), "--out", str(folder / "r.html"), *DEMO)
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def db(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database."""
    copy = tmp_path / "copy.sqlite"
    shutil.copy(demo_db, copy)
    return copy


# -- JSON Lines -------------------------------------------------------------------------

T0 = NOW - timedelta(days=10)


def structure_line(assignment_id: str = "fractions-1") -> dict[str, Any]:
    return {"type": "assignment_structure", **unstructure(_structure(assignment_id))}


def _structure(assignment_id: str) -> AssignmentStructure:
    return AssignmentStructure(
        assignment_id=assignment_id,
        created_at=T0,
        due_at=T0 + timedelta(days=14),
        steps=tuple(
            StepDefinition(
                step_id=f"s{i}", element_id=f"g{i}", stage=Stage.PLAY, target_score=80
            )
            for i in (1, 2, 3)
        ),
    )


def class_line(
    names: dict[str, str], assignment_ids: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "type": "class",
        **unstructure(
            ClassRoster(
                class_id="5b",
                name="Class 5B",
                students=tuple(
                    RosterStudent(student_id=k, name=v) for k, v in names.items()
                ),
                assignment_ids=assignment_ids,
            )
        ),
    }


def attempt_line(
    n: int, student: str = "ada", step: str = "s1", score: float = 85.0
) -> dict[str, Any]:
    return {
        "type": "attempt",
        **unstructure(
            Attempt(
                attempt_id=f"t{n}",
                student_id=student,
                assignment_id="fractions-1",
                step_id=step,
                score=score,
                attempted_at=T0 + timedelta(days=1, minutes=n),
                duration_ms=60_000,
                session_id="x1",
            )
        ),
    }


def jsonl(*items: dict[str, Any] | str) -> str:
    return "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)


def setup_lines() -> list[dict[str, Any]]:
    return [structure_line(), class_line({"ada": "Ada", "bo": "Bo"}, ("fractions-1",))]


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A path where no database exists yet."""
    return tmp_path / "fresh.sqlite"


# -- demo -------------------------------------------------------------------------------


def test_demo_prints_the_class_overview_and_the_at_risk_list(
    tmp_path: Path, fresh: Path
) -> None:
    """demo replays a term, runs the batch, prints the class grid with a legend
    and the at-risk students with their reasons, and writes the HTML report."""
    out = tmp_path / "report.html"
    result = run("demo", "--db", str(fresh), "--out", str(out), *DEMO)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Organization demo-org: 2 classes, 8 students, 8 assignments" in text
    assert "Class 1: 4 students" in text
    assert "Legend: ✓ Complete" in text
    assert "! At risk" in text
    assert "At risk in Class 1:" in text
    assert "Recommended" in text
    assert f"Wrote the HTML report of Class 1 to {out}" in text
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page


def test_demo_shows_a_progress_bar_for_the_replay_and_the_batch(fresh: Path) -> None:
    """The replay and the batch report their progress (on stderr)."""
    result = run(
        "demo", "--db", str(fresh), "--out", str(fresh.with_suffix(".html")), *DEMO
    )
    assert "Replaying the term" in result.stderr
    assert "Running the batch" in result.stderr
    assert "8/8" in result.stderr  # the batch's students, done of total


def test_demo_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    """The same seed and time give the same organization and output."""
    outputs = []
    for name in ("qqq", "zzz"):
        db = tmp_path / f"{name}.sqlite"
        result = run(
            "demo", "--db", str(db), "--out", str(tmp_path / f"{name}.html"), *DEMO
        )
        outputs.append(result.stdout.replace(name, "X"))
    assert outputs[0] == outputs[1]


def test_demo_starts_afresh_and_keep_replays_nothing_twice(
    demo_db: Path, db: Path, tmp_path: Path
) -> None:
    """A second demo replaces its own database; --keep applies nothing twice (D3)."""
    out = str(tmp_path / "r.html")
    again = run("demo", "--db", str(db), "--out", out, *DEMO)
    assert again.exit_code == 0
    assert " 0 attempts and step starts" not in again.stdout
    kept = run("demo", "--db", str(db), "--out", out, "--keep", *DEMO)
    assert kept.exit_code == 0
    assert " 0 attempts and step starts replayed" in kept.stdout


def test_demo_refuses_to_replace_a_database_it_did_not_make(tmp_path: Path) -> None:
    """A file that demo did not make is never replaced."""
    other = tmp_path / "precious.sqlite"
    other.write_text("my data", encoding="utf-8")
    line = one_line_error(run("demo", "--db", str(other), *DEMO))
    assert "was not made by `mlc-progress demo`" in line
    assert other.read_text(encoding="utf-8") == "my data"


# -- ingest -----------------------------------------------------------------------------


def test_ingest_applies_structures_classes_and_attempts(fresh: Path) -> None:
    """Good lines are applied and counted; a re-run applies nothing twice (D3)."""
    text = jsonl(*setup_lines(), attempt_line(1), attempt_line(2, step="s2"))
    result = run("ingest", "-", "--db", str(fresh), "--as-of", AS_OF, input=text)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Read 4 lines: 2 applied, 0 already applied, 2 structures and classes"
        " stored, 0 refused.\n"
    )
    again = run("ingest", "-", "--db", str(fresh), "--as-of", AS_OF, input=text)
    assert "0 applied, 2 already applied" in again.stdout
    report = run("report", "class", "5b", "--db", str(fresh), "--as-of", AS_OF)
    assert "Ada [● On track]\n" in report.stdout
    assert "  fractions-1: 67% [● On track]\n" in report.stdout


BAD_LINES = [
    ("{not json", "line 3: line='{not json' is invalid: JSON"),
    ("[1, 2]", "line 3: line='[1, 2]' is invalid: a JSON object"),
    ('{"type": "teleport"}', "line 3: type='teleport' is invalid: one of attempt"),
    ('{"score": 50}', "line 3: type=None is invalid: one of attempt"),
    (
        json.dumps({**attempt_line(9), "score": 120}),
        "line 3: score=120.0 is invalid: D1: a score is a finite number in [0, 100]",
    ),
    (
        json.dumps({**attempt_line(9), "attempted_at": "2026-10-23T10:00:00"}),
        "line 3: attempted_at='2026-10-23T10:00:00' is invalid: D2",
    ),
    (
        json.dumps({**attempt_line(9), "colour": "red"}),
        "line 3: colour=['colour'] is invalid: unknown field for Attempt",
    ),
    (
        json.dumps({**attempt_line(9), "assignment_id": "nowhere"}),
        "line 3: assignment_id='nowhere' is not in organization 'demo-org'",
    ),
    (
        json.dumps({**attempt_line(9), "step_id": "s9"}),
        "line 3: step_id='s9' is not in assignment 'fractions-1'",
    ),
    (
        json.dumps({**attempt_line(9), "attempted_at": "2027-06-01T00:00:00Z"}),
        "line 3: attempted_at=",
    ),
    (
        json.dumps(class_line({"zed": "Zed"}, ("unknown-assignment",))),
        "line 3: assignment_id='unknown-assignment' is not in organization",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_ingest_reports_a_bad_line_with_its_number_and_applies_the_rest(
    fresh: Path, line: str, message: str
) -> None:
    """A bad line is reported on stderr as `line N: field=value is invalid:
    rule`; the good lines around it are applied; the exit code is 1."""
    text = jsonl(*setup_lines()) + line + "\n" + jsonl(attempt_line(1))
    result = run("ingest", "-", "--db", str(fresh), "--as-of", AS_OF, input=text)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "1 applied" in result.stdout
    assert "1 refused" in result.stdout


def test_a_half_bad_chunk_lands_its_good_lines_and_no_part_of_a_bad_one(
    fresh: Path,
) -> None:
    """When the service refuses a chunk, its good lines are applied one by one
    and the bad line changes nothing: no line is half applied."""
    lines = [*setup_lines(), attempt_line(1), attempt_line(2, step="s9")]
    lines += [attempt_line(3, step="s2"), attempt_line(4, student="bo")]
    result = run(
        "ingest",
        "-",
        "--db",
        str(fresh),
        "--as-of",
        AS_OF,
        "--chunk-size",
        "10",
        input=jsonl(*lines),
    )
    assert result.exit_code == 1
    assert result.stderr == "line 4: step_id='s9' is not in assignment 'fractions-1'\n"
    assert "3 applied" in result.stdout
    with Database(fresh) as database:
        uow = database.store.unit_of_work()
        with uow:
            logged = [
                a.attempt_id
                for s in ("ada", "bo")
                for a in uow.attempts.for_assignment(ORG, s, "fractions-1")
            ]
            assert not uow.commands.contains(ORG, "t2")
    assert logged == ["t1", "t3", "t4"]


@settings(max_examples=12)
@given(
    bad=st.lists(st.booleans(), min_size=1, max_size=12),
    chunk=st.integers(min_value=1, max_value=5),
)
def test_ingest_applies_exactly_the_good_lines_whatever_the_chunks(
    bad: list[bool], chunk: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Law: the good lines are applied and the bad ones reported by number,
    whatever the mix and the chunk size."""
    path = tmp_path_factory.mktemp("law") / "law.sqlite"
    lines = [json.dumps(x) for x in setup_lines()]
    for n, is_bad in enumerate(bad, start=1):
        step = "nope" if is_bad else "s1"
        lines.append(json.dumps(attempt_line(n, step=step, score=float(n))))
    with Database(path, create=True) as database:
        report = ingest(database, ORG, lines, clock=FixedClock(NOW), chunk_size=chunk)
    assert [b.line for b in report.bad] == [n + 2 for n, b in enumerate(bad, 1) if b]
    assert report.applied == bad.count(False)


def test_ingest_reads_a_file(fresh: Path, tmp_path: Path) -> None:
    """SOURCE may be a file; blank lines are skipped, and counted as lines."""
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(*setup_lines()) + "\n\n" + jsonl(attempt_line(1)), "utf-8")
    result = run("ingest", str(source), "--db", str(fresh), "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "Read 5 lines: 1 applied" in result.stdout
    assert result.stdout.endswith(", 2 blank.\n")


PARSED = [
    ('{"type": "attempt"}', "attempt_id=None is invalid: a required field"),
    ("null", "line='null' is invalid: a JSON object"),
    ('"text"', "line='\"text\"' is invalid: a JSON object"),
]


@pytest.mark.parametrize(("text", "error"), PARSED)
def test_parse_line_names_field_value_and_rule(text: str, error: str) -> None:
    """A line that does not structure says which field, which value, which rule."""
    parsed = parse_line(7, text)
    assert isinstance(parsed, BadLine)
    assert str(parsed) == f"line 7: {error}"


def test_parse_line_structures_every_line_type_with_the_one_converter() -> None:
    """Each line type round-trips through the converter."""
    for data in (*setup_lines(), attempt_line(1)):
        parsed = parse_line(1, json.dumps(data))
        assert isinstance(parsed, ParsedLine)
        assert {"type": data["type"], **unstructure(parsed.item)} == data


def test_a_class_replaces_the_class_of_its_id() -> None:
    """with_class adds a new class and replaces one with the same id."""
    five = ClassRoster(class_id="5b", name="5B")
    listed = ClassList(organization_id="o").with_class(five)
    renamed = listed.with_class(ClassRoster(class_id="5b", name="Five B"))
    assert [c.name for c in renamed.classes] == ["Five B"]
    assert len(listed.with_class(ClassRoster(class_id="6a", name="6A")).classes) == 2


# -- report -----------------------------------------------------------------------------


def test_report_class_as_text_json_and_html(db: Path, tmp_path: Path) -> None:
    """A class report renders as text, as JSON the converter reads back, and
    as a self-contained page with the grid in SVG."""
    text = run("report", "class", "class-1", "--db", str(db), "--as-of", AS_OF)
    assert text.exit_code == 0
    assert text.stdout.startswith("Class 1: 4 students, 3 assignments")
    raw = run(
        "report",
        "class",
        "class-1",
        "--format",
        "json",
        "--db",
        str(db),
        "--as-of",
        AS_OF,
    )
    view = from_json(raw.stdout, ClassOverview)
    assert [c.assignment_id for c in view.columns] == [
        "class-1-a1",
        "class-1-a2",
        "class-1-a3",
    ]
    out = tmp_path / "class.html"
    page = run(
        "report",
        "class",
        "class-1",
        "--format",
        "html",
        "--out",
        str(out),
        "--db",
        str(db),
        "--as-of",
        AS_OF,
    )
    assert page.stdout == f"Wrote the class report (html) to {out}.\n"
    html = out.read_text(encoding="utf-8")
    assert "<svg" in html
    assert "Progress grid of Class 1" in html


def test_report_class_sorts_rows(db: Path) -> None:
    """--sort orders the grid (spec: Sort and filter)."""
    result = run(
        "report",
        "class",
        "class-1",
        "--sort",
        "completion",
        "--descending",
        "--db",
        str(db),
        "--as-of",
        AS_OF,
    )
    assert "Sorted by completion, descending" in result.stdout


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("student", "Progress of "),
        ("teacher", "Timeline:"),
        ("parent", "Progress report for "),
    ],
)
def test_report_student_in_each_role(db: Path, role: str, expected: str) -> None:
    """A student's report is the student's, the teacher's or the parent's view."""
    result = run(
        "report",
        "student",
        "class-1-st01",
        "--view",
        role,
        "--db",
        str(db),
        "--as-of",
        AS_OF,
    )
    assert result.exit_code == 0
    assert expected in result.stdout


def test_report_student_html_has_the_score_chart(db: Path) -> None:
    """A student's HTML report carries a score-over-time chart in SVG."""
    result = run(
        "report",
        "student",
        "class-1-st01",
        "--format",
        "html",
        "--db",
        str(db),
        "--as-of",
        AS_OF,
    )
    assert '<title id="chart-1-title">Score over time</title>' in result.stdout


def test_report_organization(db: Path) -> None:
    """The organization report compares its classes."""
    result = run("report", "organization", "--db", str(db), "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "Class 1: 4 students" in result.stdout
    raw = run(
        "report", "organization", "--format", "json", "--db", str(db), "--as-of", AS_OF
    )
    assert from_json(raw.stdout, OrganizationDashboardView).organization_id == ORG


# -- errors -----------------------------------------------------------------------------


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """A database with a structure and nothing else."""
    path = tmp_path / "empty.sqlite"
    run("ingest", "-", "--db", str(path), input=jsonl(structure_line()))
    return path


ERRORS = [
    (["report", "class", "class-1"], "no database at"),
    (["batch"], "no database at"),
    (["audit"], "no database at"),
    (["report", "class"], "report class needs the class's id"),
    (["report", "galaxy", "x"], "Invalid value for '{student|class|organization}'"),
    (["teleport"], "No such command 'teleport'"),
    (["ingest", "missing.jsonl"], "Invalid value for 'SOURCE'"),
    (["report", "organization", "--as-of", "2026-11-02"], "has no time zone"),
    (["report", "organization", "--as-of", "soon"], "is not an ISO-8601 time"),
]


@pytest.mark.parametrize(("argv", "message"), ERRORS)
def test_bad_input_exits_non_zero_with_one_line(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    """Bad input gives one line on stderr, no traceback, a non-zero exit."""
    line = one_line_error(run(*argv, "--db", str(tmp_path / "none.sqlite")))
    assert message in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "organization"], "has no students yet"),
        (["report", "class", "5b"], "class_id='5b' is not in organization"),
        (["report", "student", "ada"], "student_id='ada' has no assignments"),
    ],
)
def test_reports_on_an_empty_database_say_so_in_one_line(
    empty: Path, argv: list[str], message: str
) -> None:
    """A fresh database has nothing to report: one clear line, exit 1."""
    line = one_line_error(run(*argv, "--db", str(empty)))
    assert message in line


def test_a_bad_policy_file_is_one_line(db: Path, tmp_path: Path) -> None:
    """A policy that does not load is refused in one line."""
    policy = tmp_path / "policy.toml"
    policy.write_text("learning_ratio = 7\n", encoding="utf-8")
    line = one_line_error(run("batch", "--db", str(db), "--policy", str(policy)))
    assert "learning_ratio=7" in line


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """A misused command line exits 2; refused input exits 1."""
    assert run("report").exit_code == 2
    assert run("report", "class", "x", "--db", str(tmp_path / "no.db")).exit_code == 1


# -- batch and audit --------------------------------------------------------------------


def test_batch_writes_every_student_summary(db: Path) -> None:
    """batch runs the batch job as of its time: every student processed and
    summarized, the classes printed side by side."""
    later = (NOW + timedelta(hours=1)).isoformat()
    result = run("batch", "--db", str(db), "--as-of", later)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "Batch student-summaries@2026-11-02T10:00:00Z of demo-org: 8 of 8 students"
        " processed, "
    )
    assert "Classes side by side" in result.stdout
    with Database(db) as database:
        uow = database.store.unit_of_work()
        with uow:
            summary = uow.summaries.get(ORG, "class-1-st01")
    assert summary is not None
    assert summary.record.organization_id == ORG


def rename_with_markup(db: Path, tmp_path: Path) -> None:
    """Ingest class lines naming class-1, its students and class-2 with
    rich's markup syntax: names are data, to show as written."""
    with Database(db) as database:
        roster = database.classes(ORG)
    one = roster.class_("class-1")
    renamed = [
        attrs.evolve(
            one,
            name="Room [/oops] 9",
            students=tuple(
                attrs.evolve(s, name=f"[bold]{s.name}[/bold]") for s in one.students
            ),
        ),
        attrs.evolve(roster.class_("class-2"), name="[red]Loud[/red]"),
    ]
    lines = tmp_path / "names.jsonl"
    lines.write_text(jsonl(*({"type": "class", **unstructure(c)} for c in renamed)))
    assert run("ingest", str(lines), "--db", str(db), "--as-of", AS_OF).exit_code == 0


def test_batch_prints_class_names_as_written_never_as_markup(
    db: Path, tmp_path: Path
) -> None:
    """A class named 'Room [/oops] 9' or '[red]Loud[/red]' is printed as
    written by batch, not parsed as rich markup (no MarkupError traceback)."""
    rename_with_markup(db, tmp_path)
    later = (NOW + timedelta(hours=1)).isoformat()
    result = run("batch", "--db", str(db), "--as-of", later)
    assert result.exit_code == 0, result.output
    assert "Room [/oops] 9" in result.stdout
    assert "[red]Loud[/red]" in result.stdout


def test_demo_tables_show_names_as_written_never_as_markup(
    db: Path, tmp_path: Path
) -> None:
    """The class grid and the at-risk table show student, class and
    assignment names with brackets as written: every data cell and title
    is text, never markup."""
    rename_with_markup(db, tmp_path)
    with Database(db) as database:
        roster = database.classes(ORG)
        ids = roster.class_("class-1").student_ids
        rollup = cli_support.rollup(database, ORG, as_of=NOW, student_ids=ids)
        view = cli_support.class_view(
            database, ORG, "class-1", as_of=NOW, rollup_=rollup
        )
    title = f"[i]{view.columns[0].title}[/i]"
    view = attrs.evolve(
        view,
        columns=tuple(attrs.evolve(c, title=f"[i]{c.title}[/i]") for c in view.columns),
    )
    flagged = _at_risk_table(rollup, roster, "class-1")
    assert flagged is not None
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(_class_table(view))
    console.print(flagged)
    shown = console.export_text()
    assert "Room [/oops] 9" in shown
    assert "At risk in Room [/oops] 9" in shown
    assert "[bold]Ada A.[/bold]" in shown
    assert title in shown


def test_batch_again_at_the_same_time_resumes_the_finished_job(db: Path) -> None:
    """The demo ran the job of its time; running it again processes no one."""
    result = run("batch", "--db", str(db), "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "0 of 8 students processed (8 in earlier runs)" in result.stdout


def corrupt(db: Path, student: str, change: dict[str, Any]) -> str:
    """Change one stored step row in place, as a faulty writer would."""
    conn = sqlite3.connect(db)
    step_id, body = conn.execute(
        "SELECT step_id, body FROM step_progress WHERE student_id = ?"
        " ORDER BY step_id LIMIT 1",
        (student,),
    ).fetchone()
    data = {**json.loads(body), **change}
    conn.execute(
        "UPDATE step_progress SET body = ? WHERE student_id = ? AND step_id = ?",
        (json.dumps(data), student, step_id),
    )
    conn.commit()
    conn.close()
    return str(step_id)


def test_audit_finds_nothing_in_a_sound_database(db: Path) -> None:
    """A database written by the service passes every check."""
    result = run("audit", "--db", str(db), "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "students checked: 8\n" in result.stdout
    assert "found: 0 (0 violations)\n" in result.stdout


def test_audit_reports_and_repairs_a_broken_record(db: Path) -> None:
    """audit lists what is broken and exits 1; --repair corrects it with a
    correction record and a progress_reconciled event (D18); then it is clean."""
    corrupt(db, "class-1-st01", {"passed": True, "attempt_count": 0})
    found = run("audit", "--db", str(db), "--as-of", AS_OF)
    assert found.exit_code == 1
    assert found.stdout.startswith(
        "student class-1-st01, assignment class-1-a1: repairable ("
    )
    assert "(dry run: nothing changed)" in found.stdout
    repaired = run("audit", "--repair", "--db", str(db), "--as-of", AS_OF)
    assert repaired.exit_code == 0, repaired.output
    assert "repaired: 1 (" in repaired.stdout
    assert run("audit", "--db", str(db), "--as-of", AS_OF).exit_code == 0
    with Database(db) as database:
        uow = database.store.unit_of_work()
        with uow:
            corrections = uow.corrections.for_student(ORG, "class-1-st01")
            events = [e.event.name for e in uow.outbox.entries(ORG)]
    assert len(corrections) >= 1
    assert events[-1] == "progress_reconciled"


def test_audit_alerts_support_when_a_record_cannot_be_repaired(db: Path) -> None:
    """An unknown field is not guessed away: the repair stores nothing but a
    progress_repair_failed alert, and audit keeps exiting 1."""
    corrupt(db, "class-1-st02", {"mystery": 1})
    result = run("audit", "--repair", "--db", str(db), "--as-of", AS_OF)
    assert result.exit_code == 1
    assert "escalated: 1\n" in result.stdout
    with Database(db) as database:
        uow = database.store.unit_of_work()
        with uow:
            events = [e.event.name for e in uow.outbox.entries(ORG)]
    assert events[-1] == "progress_repair_failed"


# -- the installed script ---------------------------------------------------------------


def test_the_installed_script_runs() -> None:
    """`mlc-progress --help` works from the installed entry point."""
    script = Path(sys.executable).parent / "mlc-progress"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "demo" in done.stdout
    assert "audit" in done.stdout


def test_a_report_on_broken_records_points_to_the_audit(db: Path) -> None:
    """A stored record that breaks an invariant is reported in one line with
    the way out, not shown (D4, D18)."""
    corrupt(db, "class-1-st01", {"time_on_task_ms": -5})
    line = one_line_error(
        run("report", "student", "class-1-st01", "--db", str(db), "--as-of", AS_OF)
    )
    assert "time_on_task_ms=-5" in line
    assert line.endswith("run `mlc-progress audit --repair`")


def test_every_command_works_with_no_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no option and no environment, the commands share
    ./mlc-progress.sqlite and the organization demo-org."""
    monkeypatch.chdir(tmp_path)
    for name in ("MLC_PROGRESS_DB", "MLC_PROGRESS_ORG", "MLC_PROGRESS_POLICY"):
        monkeypatch.delenv(name, raising=False)
    assert run("demo", "--classes", "1", "--students", "2").exit_code == 0
    assert (tmp_path / "mlc-progress.sqlite").exists()
    assert (tmp_path / "mlc-progress-report.html").exists()
    for argv in (
        ("report", "class", "class-1"),
        ("report", "student", "class-1-st01"),
        ("report", "organization"),
        ("batch",),
        ("audit",),
        ("ingest", "-"),
    ):
        result = run(*argv, input="")
        assert result.exit_code == 0, (argv, result.output)


def test_the_database_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLC_PROGRESS_DB names the database when --db is not given."""
    path = tmp_path / "from-env.sqlite"
    monkeypatch.setenv("MLC_PROGRESS_DB", str(path))
    result = run("ingest", "-", input=jsonl(structure_line()))
    assert result.exit_code == 0
    assert path.exists()


def test_a_class_line_enrolls_its_students_for_the_batch(fresh: Path) -> None:
    """A class line enrolls its students through the roster port: their
    classes become the classes they are in; assignments are never taken
    away (their progress stays, D14)."""
    run("ingest", "-", "--db", str(fresh), input=jsonl(*setup_lines()))
    moved = class_line({"bo": "Bo"}, ())
    run("ingest", "-", "--db", str(fresh), input=jsonl(moved))
    with Database(fresh) as database:
        uow = database.store.unit_of_work()
        with uow:
            ada = uow.roster.get(ORG, "ada")
            bo = uow.roster.get(ORG, "bo")
    assert ada is not None
    assert bo is not None
    assert (ada.record.class_ids, ada.record.assignment_ids) == ((), ("fractions-1",))
    assert (bo.record.class_ids, bo.record.assignment_ids) == (
        ("5b",),
        ("fractions-1",),
    )


def test_a_storage_failure_stops_ingest_and_says_how_to_resume(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When storage keeps failing, ingest stops with one line that says which
    lines are stored; running it again applies the rest, nothing twice."""
    text = jsonl(*setup_lines(), attempt_line(1), attempt_line(2, step="s2"))

    def busy(*args: object, **kwargs: object) -> None:
        raise StorageError("the database is busy", retryable=True)

    with monkeypatch.context() as patch:
        patch.setattr(ProgressService, "apply_many", busy)
        line = one_line_error(run("ingest", "-", "--db", str(fresh), input=text))
    assert line == (
        "error: the database is busy; the lines before line 3 are stored: run the"
        " same ingest again to apply the rest (D3)"
    )
    again = run("ingest", "-", "--db", str(fresh), "--as-of", AS_OF, input=text)
    assert "2 applied, 0 already applied" in again.stdout


def test_a_deeply_nested_line_is_reported_and_the_run_goes_on(fresh: Path) -> None:
    """A pathologically nested JSON line is one bad line, not a traceback; the
    good lines after it are applied (Q112)."""
    nested = "[" * 100_000 + "]" * 100_000
    lines: list[dict[str, Any] | str] = [*setup_lines(), nested, attempt_line(1)]
    result = run(
        "ingest", "-", "--db", str(fresh), "--as-of", AS_OF, input=jsonl(*lines)
    )
    assert result.exit_code == 1
    assert f"line {len(lines) - 1}: line=" in result.stderr
    assert "nested too deep" in result.stderr
    assert "Traceback" not in result.stderr
    assert "1 applied" in result.stdout
