"""``mlc-progress``: the command line (the ``cli`` extra: click and rich).

Thin on purpose: it parses, calls :mod:`mlc_progress._cli_support`, and
prints. Every command works on ``./mlc-progress.sqlite`` with no
configuration (``--db`` or ``MLC_PROGRESS_DB`` name another file); on bad
input it exits non-zero with one line on stderr. See
``docs/howto-command-line.md``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from . import _cli_support as support
from ._audit import audit_organization, format_audit_report
from ._batch_runner import END_AS_OF, FIRST_AS_OF, batch_as_of
from ._errors import ProgressError
from ._html import (
    render_class_overview_html,
    render_organization_html,
    render_parent_report_html,
    render_student_detail_html,
    render_student_report_html,
)
from ._policy import DEFAULT_POLICY, Policy
from ._views import (
    CellStatus,
    ClassOverview,
    Colour,
    OrganizationDashboardView,
    ParentReport,
    SortKey,
    StudentDetail,
    StudentReport,
    organization_dashboard_view,
    render_class_overview_text,
    render_organization_text,
    render_parent_report_text,
    render_student_detail_text,
    render_student_report_text,
    risk_factor_text,
    status_badge,
    view_to_json,
)
from .adapters.clock import FixedClock, SystemClock

__all__ = ["DEFAULT_DB", "DEFAULT_ORG", "cli", "main"]

#: The database every command uses when not told otherwise.
DEFAULT_DB = "mlc-progress.sqlite"
#: The organization every command uses when not told otherwise.
DEFAULT_ORG = "demo-org"

View = (
    StudentReport
    | StudentDetail
    | ParentReport
    | ClassOverview
    | OrganizationDashboardView
)


# -- one-line errors -----------------------------------------------------------------


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {' '.join(message.splitlines())}", err=True)
    sys.exit(code)


class _OneLineGroup(click.Group):
    """A group whose every failure is one line on stderr and an exit code:
    1 for refused input or storage, 2 for a misused command line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        try:
            code = super().main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            _fail(exc.format_message() + where, exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("interrupted", 130)
        except ProgressError as exc:
            _fail(str(exc))
        except (OSError, UnicodeError) as exc:
            _fail(str(exc))
        sys.exit(code if isinstance(code, int) else 0)


# -- options -------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class _IsoTime(click.ParamType[datetime]):
    """An ISO-8601 time with a zone (D2), normalized to UTC, at which the
    batch runs (``FIRST_AS_OF`` to before ``END_AS_OF``): every command's
    time dates what a later batch or report reads."""

    name = "ISO-8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value))
            except ValueError:
                self.fail(f"{value!r} is not an ISO-8601 time", param, ctx)
        if parsed.utcoffset() is None:
            self.fail(
                f"{value!r} has no time zone (D2: give one, e.g. 2026-11-02T09:00Z)",
                param,
                ctx,
            )
        try:
            return batch_as_of(parsed)
        except ProgressError:
            self.fail(
                f"{value!r} is outside the times the batch runs at: from"
                f" {_stamp(FIRST_AS_OF)} to before {_stamp(END_AS_OF)}",
                param,
                ctx,
            )


class _ActingAs(click.ParamType[str]):
    """``ROLE:ID``: one of the spec's roles and an id (D19), checked while the
    command line is parsed, before any database is opened."""

    name = "ROLE:ID"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        try:
            support.parse_role_and_id(str(value))
        except ProgressError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun that agrees with it: "1 class", "2 classes"."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """The database, organization and policy options every command takes."""
    for option in reversed(
        (
            click.option(
                "--db",
                type=click.Path(dir_okay=False, path_type=Path),
                default=DEFAULT_DB,
                envvar="MLC_PROGRESS_DB",
                show_default=True,
                help="The SQLite database file (env MLC_PROGRESS_DB).",
            ),
            click.option(
                "--org",
                default=DEFAULT_ORG,
                envvar="MLC_PROGRESS_ORG",
                show_default=True,
                help="The organization (env MLC_PROGRESS_ORG).",
            ),
            click.option(
                "--policy",
                "policy_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                envvar="MLC_PROGRESS_POLICY",
                help="A TOML file of policy thresholds (default: the spec's).",
            ),
        )
    ):
        command = option(command)
    return command


def _as_of_option(help_text: str) -> Callable[[Callable[..., Any]], Any]:
    return click.option(
        "--as-of", "as_of", type=_IsoTime(), default=None, help=help_text
    )


def _policy(path: Path | None) -> Policy:
    return DEFAULT_POLICY if path is None else Policy.from_toml(path)


def _now(as_of: datetime | None) -> datetime:
    return as_of if as_of is not None else support.now_utc()


# -- printing ------------------------------------------------------------------------

_STYLES = {
    Colour.GREEN: "green",
    Colour.YELLOW: "yellow",
    Colour.ORANGE: "dark_orange",
    Colour.RED: "bold red",
    Colour.GREY: "grey50",
}


def _console() -> Console:
    return Console(highlight=False)


@contextlib.contextmanager
def _progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, updated by ``(done, total)``."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _legend() -> Text:
    text = Text("Legend: ")
    for status in CellStatus:
        badge = status_badge(status)
        text.append(f"{badge.symbol} {badge.label}", style=_STYLES[badge.colour])
        text.append("   ")
    return text


def _class_table(view: ClassOverview) -> Table:
    """The roster grid: a symbol and the percentage in every cell, the
    row's pacing and at-risk flag in words; colour repeats what they say
    (never alone). Names are data, never markup: every one is a Text."""
    table = Table(title=Text(view.accessible_text), title_justify="left")
    table.add_column("Student", no_wrap=True, min_width=8)
    for column in view.columns:
        table.add_column(Text(column.title), no_wrap=True)
    table.add_column("Pacing", no_wrap=True)
    table.add_column("At risk", no_wrap=True)
    for row in view.rows:
        cells = [
            Text(
                f"{cell.badge.symbol} {cell.completion.display}"
                if cell.completion
                else cell.badge.symbol,
                style=_STYLES[cell.badge.colour],
            )
            for cell in row.cells
        ]
        table.add_row(
            Text(row.student_name),
            *cells,
            Text(
                f"{row.badge.symbol} {row.badge.label}", style=_STYLES[row.badge.colour]
            ),
            Text("yes", style="bold") if row.at_risk else Text("no"),
        )
    return table


def _at_risk_table(
    rollup: support.Rollup, roster: support.ClassList, class_id: str
) -> Table | None:
    """The class's students flagged at risk, why (D17) and what to do.

    Names are data, never markup: every one is a Text."""
    members = set(roster.class_(class_id).student_ids)
    flagged = [r for r in rollup.at_risk if r.student_id in members]
    if not flagged:
        return None
    names = roster.directory()
    table = Table(
        title=Text(
            f"At risk in {names.class_(class_id)}: {len(flagged)} of"
            f" {_plural(len(members), 'student')}"
        ),
        title_justify="left",
    )
    table.add_column("Student", no_wrap=True)
    table.add_column("Why")
    table.add_column("Recommended")
    for r in flagged:
        table.add_row(
            Text(names.student(r.student_id)),
            Text("; ".join(risk_factor_text(f) for f in r.summary.risk_factors)),
            Text(r.risk.assessment.intervention_recommended.replace("_", " ")),
        )
    return table


def _classes_table(view: OrganizationDashboardView) -> Table:
    """The organization's classes side by side; names are data, never markup."""
    table = Table(title="Classes side by side", title_justify="left")
    for heading in ("Class", "Students", "Completion rate", "Mastery", "At risk"):
        table.add_column(heading)
    for c in view.classes:
        table.add_row(
            Text(c.class_name),
            Text(c.students.display),
            Text(c.completion_rate.display if c.completion_rate else "\N{EN DASH}"),
            Text(c.average_mastery.display if c.average_mastery else "\N{EN DASH}"),
            Text(c.at_risk.display),
        )
    return table


def _render(view: View, fmt: str) -> str:
    if fmt == "json":
        return view_to_json(view) + "\n"
    renderers: dict[type, tuple[Callable[[Any], str], Callable[[Any], str]]] = {
        StudentReport: (render_student_report_text, render_student_report_html),
        StudentDetail: (render_student_detail_text, render_student_detail_html),
        ParentReport: (render_parent_report_text, render_parent_report_html),
        ClassOverview: (render_class_overview_text, render_class_overview_html),
        OrganizationDashboardView: (render_organization_text, render_organization_html),
    }
    text, page = renderers[type(view)]
    return page(view) if fmt == "html" else text(view) + "\n"


def _write(path: Path, content: str) -> None:
    path.write_text(content, encoding="utf-8")


# -- commands ------------------------------------------------------------------------


@click.group(
    cls=_OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="mlc-progress", prog_name="mlc-progress")
def cli() -> None:
    """Track learning progress in a SQLite file: demo, ingest, report, batch
    and audit. Every command works with no configuration on
    ./mlc-progress.sqlite and organization demo-org."""


@cli.command()
@_common
@click.option("--seed", type=int, default=7, show_default=True, help="The random seed.")
@click.option("--classes", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option(
    "--students",
    type=click.IntRange(1, 500),
    default=24,
    show_default=True,
    help="Students per class.",
)
@click.option(
    "--class",
    "class_id",
    default=None,
    help="The class to show and write (default: the first).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default="mlc-progress-report.html",
    show_default=True,
    help="Where to write the class's HTML report.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Replay into the existing database instead of starting afresh.",
)
@_as_of_option("The demo's now, mid-term (ISO-8601 with a zone; default: now).")
def demo(
    db: Path,
    org: str,
    policy_file: Path | None,
    seed: int,
    classes: int,
    students: int,
    class_id: str | None,
    out: Path,
    keep: bool,
    as_of: datetime | None,
) -> None:
    """Build a synthetic organization, replay a term, run the batch, and show
    a class overview, the at-risk students and an HTML report."""
    policy = _policy(policy_file)
    now = _now(as_of)
    support.demo_term_start(now)  # refused before any file is touched
    if db.exists() and not keep:
        if not support.Database.made_by_demo(db):
            raise click.ClickException(
                f"{db} exists and was not made by `mlc-progress demo`: give another"
                " --db, or --keep to replay into it"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    console = _console()
    with support.Database(db, create=True) as database:
        with _progress_bar("Replaying the term") as update:
            built = support.build_demo(
                database,
                organization_id=org,
                seed=seed,
                classes=classes,
                students_per_class=students,
                as_of=now,
                policy=policy,
                progress=update,
            )
        with _progress_bar("Running the batch") as update:
            done = support.run_batch(
                database, org, as_of=now, policy=policy, progress=update
            )
        roster = database.classes(org)
        chosen = class_id or built.organization.classes[0].class_id
        rollup = support.rollup(
            database,
            org,
            as_of=now,
            policy=policy,
            student_ids=roster.class_(chosen).student_ids,
        )
        view = support.class_view(
            database, org, chosen, as_of=now, policy=policy, rollup_=rollup
        )
        term = built.organization
        own = {s.student_id for c in term.classes for s in c.students}
        replayed = _plural(
            built.applied, "attempt or step start", "attempts and step starts"
        )
        click.echo(
            f"Organization {org}: {_plural(len(term.classes), 'class', 'classes')},"
            f" {_plural(len(own), 'student')},"
            f" {_plural(len(term.structures), 'assignment')} made by the demo;"
            f" {replayed} replayed, as of {now:%Y-%m-%d %H:%M} UTC."
        )
        console.print(_class_table(view))
        console.print(_legend())
        flagged = _at_risk_table(rollup, roster, chosen)
        if flagged is None:
            click.echo(f"No student of {view.class_name} is at risk.")
        else:
            console.print(flagged)
        click.echo(
            f"{done.at_risk_count} of {_plural(done.students_total, 'student')} of"
            f" {org} {'is' if done.at_risk_count == 1 else 'are'} at risk:"
            " mlc-progress report organization"
        )
        _write(out, render_class_overview_html(view))
    first = roster.class_(chosen).student_ids[0]
    click.echo(f"Wrote the HTML report of {view.class_name} to {out}.")
    click.echo(
        f"Next: mlc-progress report student {first} --format html --out student.html"
    )


@cli.command()
@click.argument(
    "source", type=click.File("r", encoding="utf-8", errors="surrogateescape")
)
@_common
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Commands applied per transaction.",
)
@_as_of_option("The service's clock (ISO-8601 with a zone; default: now).")
def ingest(
    source: Any,
    db: Path,
    org: str,
    policy_file: Path | None,
    chunk_size: int,
    as_of: datetime | None,
) -> None:
    """Apply attempts, commands, structures and classes from JSON Lines
    (SOURCE, or - for standard input). Each line is applied fully or not at
    all; bad lines (not UTF-8, not JSON, refused) are reported with their
    numbers and the exit code is 1."""
    policy = _policy(policy_file)
    clock = FixedClock(as_of) if as_of is not None else SystemClock()
    with support.Database(db, create=True) as database:
        report = support.ingest(
            database, org, source, clock=clock, policy=policy, chunk_size=chunk_size
        )
    for bad in report.bad:
        click.echo(str(bad), err=True)
    blank = f", {report.blank} blank" if report.blank else ""
    click.echo(
        f"Read {_plural(report.lines, 'line')}: {report.applied} applied,"
        f" {report.duplicates} already applied,"
        f" {_plural(report.catalog, 'structure or class', 'structures and classes')}"
        f" stored, {len(report.bad)} refused{blank}."
    )
    if report.bad:
        sys.exit(1)


#: The report options that apply to one kind of report only.
_ONLY_FOR = {"role": "student", "sort": "class", "descending": "class"}


def _refuse_unused_report_options(ctx: click.Context, scope: str) -> None:
    """A usage error (exit 2) for an option given that this kind of report
    would ignore: ``--view`` is for student reports, ``--sort`` and
    ``--descending`` for class reports, ``--descending`` only with ``--sort``."""

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source not in (None, ParameterSource.DEFAULT)

    for name, kind in _ONLY_FOR.items():
        if given(name) and scope != kind:
            flag = next(p.opts[0] for p in ctx.command.params if p.name == name)
            raise click.UsageError(
                f"{flag} applies only to {kind} reports, not to {scope} reports",
                ctx,
            )
    if given("descending") and not given("sort"):
        raise click.UsageError("--descending needs --sort", ctx)


@cli.command()
@click.argument("scope", type=click.Choice(["student", "class", "organization"]))
@click.argument("identifier", required=False)
@_common
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (default: standard output).",
)
@click.option(
    "--view",
    "role",
    type=click.Choice(["student", "teacher", "parent"]),
    default="student",
    show_default=True,
    help="Whose view of a student (student reports only).",
)
@click.option(
    "--sort",
    type=click.Choice([k.value for k in SortKey]),
    default=None,
    help="Sort a class's rows (class reports only).",
)
@click.option(
    "--descending", is_flag=True, help="Sort in descending order (with --sort)."
)
@click.option(
    "--as",
    "acting_as",
    type=_ActingAs(),
    default=None,
    help="Who asks, e.g. teacher:t1 or student:u1: a teacher teaches the"
    " classes whose teacher_id is their id, a student attends the classes"
    " that list them; the class list names no parent's children, so a parent"
    " is denied. Default: the organization's admin acting locally,"
    f" {support.LOCAL_ADMIN_ID}.",
)
@_as_of_option("The time the report is computed at (default: now).")
def report(
    scope: str,
    identifier: str | None,
    db: Path,
    org: str,
    policy_file: Path | None,
    fmt: str,
    out: Path | None,
    role: str,
    sort: str | None,
    descending: bool,
    acting_as: str | None,
    as_of: datetime | None,
) -> None:
    """Print a student, class or organization report as text, JSON or a
    self-contained HTML page. IDENTIFIER is the student or class id (for an
    organization: its id, default --org). The read is authorized first
    (D19); a denial is logged and exits 1."""
    _refuse_unused_report_options(click.get_current_context(), scope)
    policy = _policy(policy_file)
    now = _now(as_of)
    if scope != "organization" and not identifier:
        raise click.UsageError(f"report {scope} needs the {scope}'s id")
    view: View
    with support.Database(db) as database:
        classes = database.classes(org)
        actor = support.parse_as(acting_as, classes)
        reads = support.report_reads(
            actor,
            classes,
            scope,
            identifier or org,
            view=role,
            export=out is not None,
        )
        support.authorize_report(database, actor, reads, now=now)
        if scope == "student":
            assert identifier is not None
            view = support.student_view(
                database, org, identifier, as_of=now, role=role, policy=policy
            )
        elif scope == "class":
            assert identifier is not None
            view = support.class_view(
                database,
                org,
                identifier,
                as_of=now,
                sort=SortKey(sort) if sort else None,
                descending=descending,
                policy=policy,
            )
        else:
            view = support.organization_view(
                database, identifier or org, as_of=now, policy=policy
            )
    content = _render(view, fmt)
    if out is None:
        click.echo(content, nl=False)
    else:
        _write(out, content)
        click.echo(f"Wrote the {scope} report ({fmt}) to {out}.")


@cli.command()
@_common
@_as_of_option("The time the batch computes at (default: now).")
def batch(db: Path, org: str, policy_file: Path | None, as_of: datetime | None) -> None:
    """Run the scheduled recomputations: every student's summary, the class
    summaries and the organization dashboard."""
    policy = _policy(policy_file)
    now = _now(as_of)
    with support.Database(db) as database:
        with _progress_bar("Running the batch") as update:
            done = support.run_batch(
                database, org, as_of=now, policy=policy, progress=update
            )
        names = database.classes(org).directory()
    view = organization_dashboard_view(done.dashboard, directory=names, policy=policy)
    click.echo(
        f"Batch {done.job_id} of {org}: {done.students_processed} of"
        f" {_plural(done.students_total, 'student')} processed"
        + (f" ({done.students_done_before} in earlier runs)" if done.resumed else "")
        + f", {_plural(done.summaries_changed, 'summary', 'summaries')} and"
        f" {_plural(done.risk_states_changed, 'at-risk state')} changed,"
        f" {_plural(done.events_emitted, 'event')},"
        f" {_plural(done.at_risk_count, 'student')} at risk."
    )
    if done.scheduled_snapshots:
        click.echo(
            "Scheduled snapshots taken: "
            + ", ".join(k.value for k in done.scheduled_snapshots)
            + "."
        )
    if done.failed_students:
        click.echo(
            "Students whose stored records could not be read (run mlc-progress"
            " audit): " + ", ".join(done.failed_students),
            err=True,
        )
    if view.classes:
        _console().print(_classes_table(view))
    if done.failed_students:
        sys.exit(1)


@cli.command()
@_common
@click.option(
    "--repair",
    is_flag=True,
    help="Repair what can be repaired; alert support for the rest (D18).",
)
@_as_of_option("The time that dates repairs and alerts (default: now).")
def audit(
    db: Path,
    org: str,
    policy_file: Path | None,
    repair: bool,
    as_of: datetime | None,
) -> None:
    """Check every stored progress record against its invariants (D4, D18);
    with --repair, repair them. Exits 1 while a problem remains."""
    policy = _policy(policy_file)
    now = _now(as_of)
    with support.Database(db) as database, _progress_bar("Auditing") as update:
        result = audit_organization(
            database.store,
            database.catalog,
            org,
            as_of=now,
            repair=repair,
            policy=policy,
            progress=update,
        )
    for f in result.findings:
        codes = ", ".join(f"{code} x{n}" for code, n in f.violations.items())
        click.echo(
            f"student {f.student_id}, assignment {f.assignment_id}:"
            f" {f.status.value.replace('_', ' ')} ({codes})"
        )
    click.echo(format_audit_report(result))
    if result.found > result.repaired:
        sys.exit(1)


def main() -> None:
    """The ``mlc-progress`` entry point."""
    cli.main(prog_name="mlc-progress")
