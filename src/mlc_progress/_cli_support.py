"""The command line's work, apart from its parsing and printing (issue 7).

Each function here takes an open :class:`Database` (the SQLite default: the
store, its catalog and the class list in one file) and works through the
service and the ports: the demo organization replayed through
``apply_many``, JSON Lines ingest, the role reports and the batch (the
batch runner).

What the ports do not hold lives here, in a table of its own in the same
file: the class list (each class's name, its students with their display
names, and its assignments; the students are enrolled through the roster
port too).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from . import _validate as v
from ._batch_runner import BatchReport, batch_as_of
from ._batch_runner import run_batch as _run_batch
from ._commands import (
    AdjustTarget,
    ArchiveAssignment,
    AuditEntry,
    Command,
    ExtendDueDate,
    OverrideComplete,
    ReconcileFreePlay,
    RequestTeacherReview,
    StartStep,
)
from ._enums import ScopeType
from ._errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ProgressError,
    StorageError,
)
from ._events import StudentAtRiskDetected
from ._history import AssignmentRecords
from ._pacing import utc_argument
from ._permissions import (
    Action,
    Actor,
    PermissionDeniedError,
    Resource,
    ResourceKind,
    Role,
    access_log_entry,
    authorize,
    command_action,
)
from ._policy import DEFAULT_POLICY, Policy
from ._ports import Clock, Enrollment
from ._risk import RiskState
from ._rollups import (
    OrganizationDashboard,
    OrganizationDashboardAccumulator,
    SequenceRecords,
    StudentHistory,
    StudentResult,
    summarize_student,
)
from ._serialization import from_json, structure, to_json
from ._service import ProgressService
from ._structure import AssignmentStructure, Attempt, SequenceStructure
from ._synthetic import (
    SyntheticOrganization,
    synthetic_activity,
    synthetic_organization,
)
from ._views import (
    ClassOverview,
    Directory,
    OrganizationDashboardView,
    ParentReport,
    SortKey,
    StudentDetail,
    StudentReport,
    class_overview,
    organization_dashboard_view,
    parent_report,
    sort_rows,
    student_detail,
    student_report,
)
from .adapters.clock import FixedClock
from .adapters.sqlite import SQLiteStore

__all__ = [
    "COMMAND_LINE_TYPES",
    "DEMO_DAY",
    "LINE_TYPES",
    "LOCAL_ADMIN_ID",
    "BadLine",
    "ClassList",
    "ClassRoster",
    "Database",
    "DemoBuild",
    "IngestReport",
    "ParsedLine",
    "Rollup",
    "RosterStudent",
    "actor_from_classes",
    "authorize_report",
    "build_demo",
    "class_view",
    "demo_classes",
    "demo_organization",
    "ingest",
    "organization_view",
    "parse_as",
    "parse_line",
    "parse_role_and_id",
    "report_reads",
    "rollup",
    "run_batch",
    "student_view",
]

#: ``progress(done, total)``: how a long job reports how far it got.
Progress = Callable[[int, int], None]


# -- classes ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RosterStudent:
    """A student of a class and the name reports show (names are data, D19)."""

    student_id: str = attrs.field(validator=v.identifier)
    name: str = attrs.field(validator=v.text)


@attrs.frozen(kw_only=True)
class ClassRoster:
    """A class: its students in roster order and the assignments it follows.

    >>> c = ClassRoster(class_id="c1", name="Class 5",
    ...                 students=(RosterStudent(student_id="u1", name="Ada"),),
    ...                 assignment_ids=("a1",))
    >>> c.student_ids
    ('u1',)
    """

    class_id: str = attrs.field(validator=v.identifier)
    name: str = attrs.field(validator=v.text)
    teacher_id: str | None = attrs.field(default=None, validator=v.optional_identifier)
    students: tuple[RosterStudent, ...] = attrs.field(
        default=(), validator=v.tuple_of(RosterStudent)
    )
    assignment_ids: tuple[str, ...] = attrs.field(default=(), validator=v.identifiers)

    def __attrs_post_init__(self) -> None:
        ids = self.student_ids
        if len(set(ids)) != len(ids):
            raise InvalidInputError("students", ids, "a student is in a class once")
        if len(set(self.assignment_ids)) != len(self.assignment_ids):
            raise InvalidInputError(
                "assignment_ids", self.assignment_ids, "an assignment is listed once"
            )

    @property
    def student_ids(self) -> tuple[str, ...]:
        return tuple(s.student_id for s in self.students)


@attrs.frozen(kw_only=True)
class ClassList:
    """An organization's classes, as the command line keeps them.

    >>> r = ClassList(organization_id="o").with_class(ClassRoster(
    ...     class_id="c1", name="Class 5",
    ...     students=(RosterStudent(student_id="u1", name="Ada"),)))
    >>> r.classes_of("u1"), r.directory().student("u1")
    (('c1',), 'Ada')
    """

    organization_id: str = attrs.field(validator=v.identifier)
    classes: tuple[ClassRoster, ...] = attrs.field(
        default=(), validator=v.tuple_of(ClassRoster)
    )

    def __attrs_post_init__(self) -> None:
        ids = [c.class_id for c in self.classes]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("classes", ids, "class ids are unique")

    def with_class(self, klass: ClassRoster) -> ClassList:
        """This class list with ``klass`` added, or replacing the class of its id."""
        kept = [c for c in self.classes if c.class_id != klass.class_id]
        if len(kept) == len(self.classes):
            return attrs.evolve(self, classes=(*self.classes, klass))
        return attrs.evolve(
            self,
            classes=tuple(
                klass if c.class_id == klass.class_id else c for c in self.classes
            ),
        )

    def class_(self, class_id: str) -> ClassRoster:
        """The class ``class_id``; :class:`NotFoundError` when there is none."""
        for c in self.classes:
            if c.class_id == class_id:
                return c
        known = ", ".join(c.class_id for c in self.classes) or "none yet"
        raise NotFoundError(
            f"class_id={class_id!r} is not in organization"
            f" {self.organization_id!r} (classes: {known})"
        )

    @property
    def student_ids(self) -> tuple[str, ...]:
        """Every student of every class, in roster order, each once."""
        return tuple(dict.fromkeys(s for c in self.classes for s in c.student_ids))

    def classes_of(self, student_id: str) -> tuple[str, ...]:
        return tuple(c.class_id for c in self.classes if student_id in c.student_ids)

    def assignments_of(self, student_id: str) -> tuple[str, ...]:
        """The assignments of the student's classes, each once."""
        return tuple(
            dict.fromkeys(
                a
                for c in self.classes
                if student_id in c.student_ids
                for a in c.assignment_ids
            )
        )

    def directory(self) -> Directory:
        """Display names for the views; a later class's name for a student wins."""
        return Directory(
            students={s.student_id: s.name for c in self.classes for s in c.students},
            classes={c.class_id: c.name for c in self.classes},
        )


# -- who acts: actors from the class list (D19) ------------------------------------

#: The actor id of the default actor of ``report``: the organization's admin
#: acting locally, on the machine that holds the database.
LOCAL_ADMIN_ID = "local-admin"


def actor_from_classes(classes: ClassList, role: Role | str, actor_id: str) -> Actor:
    """The actor ``actor_id`` acting as ``role`` in the class list's
    organization: a teacher teaches the classes naming them ``teacher_id``;
    a student attends the classes listing them; other roles get no classes.

    >>> c = ClassList(organization_id="o").with_class(ClassRoster(
    ...     class_id="c1", name="Class 5", teacher_id="t1",
    ...     students=(RosterStudent(student_id="u1", name="Ada"),)))
    >>> actor_from_classes(c, "teacher", "t1").class_ids
    ('c1',)
    """
    if role == Role.TEACHER:
        taught = tuple(k.class_id for k in classes.classes if k.teacher_id == actor_id)
    elif role == Role.STUDENT:
        taught = classes.classes_of(actor_id)
    else:
        taught = ()
    return Actor(
        actor_id=actor_id,
        role=role,
        organization_id=classes.organization_id,
        class_ids=taught,
    )


def parse_role_and_id(text: str) -> tuple[Role, str]:
    """The role and the id of ``--as ROLE:ID``: ROLE one of the spec's roles
    (D19, exactly as written), ID an identifier; otherwise
    :class:`InvalidInputError` naming ``as`` (a misused option, refused
    before anything is read).

    >>> parse_role_and_id("teacher:t1")
    (<Role.TEACHER: 'teacher'>, 't1')
    >>> parse_role_and_id("nobody:1")
    Traceback (most recent call last):
    ...
    mlc_progress._errors.InvalidInputError: as='nobody:1' is invalid: ROLE:ID ...
    """
    role, sep, actor_id = text.partition(":")
    roles = {r.value: r for r in Role}
    if not (sep and role in roles and actor_id.strip() and v.unicode_text(actor_id)):
        raise InvalidInputError(
            "as",
            text,
            f"ROLE:ID with ROLE one of {', '.join(roles)}, such as teacher:t1",
        )
    return roles[role], actor_id


def parse_as(text: str | None, classes: ClassList) -> Actor:
    """The actor of ``--as ROLE:ID`` (:func:`parse_role_and_id`); without it,
    the organization's admin acting locally (:data:`LOCAL_ADMIN_ID`).

    >>> parse_as(None, ClassList(organization_id="o")).role
    <Role.ADMIN: 'admin'>
    >>> parse_as("student:u1", ClassList(organization_id="o")).actor_id
    'u1'
    """
    if text is None:
        return actor_from_classes(classes, Role.ADMIN, LOCAL_ADMIN_ID)
    return actor_from_classes(classes, *parse_role_and_id(text))


def report_reads(
    actor: Actor,
    classes: ClassList,
    scope: str,
    identifier: str,
    *,
    view: str = "student",
    export: bool = False,
) -> tuple[tuple[Action, Resource], ...]:
    """Every (action, resource) a report needs allowed, after the table of
    docs/howto-views.md: a student's dashboard is ``read_own_progress`` to
    the student, ``read_organization`` to an admin and ``read_class`` to
    others; the teacher's detail is ``read_class`` and ``read_history``; the
    parent's letter ``read_summary``; a class ``read_class``; an
    organization ``read_organization``; writing to a file also
    ``export_reports`` (D19).

    >>> c = ClassList(organization_id="o")
    >>> [a.value for a, _ in report_reads(parse_as("student:u1", c), c,
    ...                                   "student", "u1")]
    ['read_own_progress']
    """
    org = classes.organization_id
    reads: list[tuple[Action, Resource]] = []
    if scope == "student":
        of = Resource.of_student(
            ResourceKind.SUMMARY,
            organization_id=org,
            student_id=identifier,
            class_ids=classes.classes_of(identifier),
        )
        shown = of
        if view == "teacher":
            shown = attrs.evolve(of, kind=ResourceKind.ASSIGNMENT)
            reads.append((Action.READ_CLASS, shown))
            reads.append(
                (Action.READ_HISTORY, attrs.evolve(of, kind=ResourceKind.SNAPSHOT))
            )
        elif view == "parent":
            reads.append((Action.READ_SUMMARY, of))
        elif actor.role == Role.STUDENT:
            reads.append((Action.READ_OWN_PROGRESS, of))
        elif actor.role == Role.ADMIN:
            reads.append((Action.READ_ORGANIZATION, of))
        else:
            reads.append((Action.READ_CLASS, of))
    elif scope == "class":
        shown = Resource.of_class(organization_id=org, class_id=identifier)
        reads.append((Action.READ_CLASS, shown))
    else:
        shown = Resource.of_organization(organization_id=identifier)
        reads.append((Action.READ_ORGANIZATION, shown))
    if export:
        reads.append((Action.EXPORT_REPORTS, shown))
    return tuple(reads)


def authorize_report(
    db: Database,
    actor: Actor,
    reads: Iterable[tuple[Action, Resource]],
    *,
    now: datetime,
) -> None:
    """Ask :func:`authorize` for each read; at the first denial append the
    decision to the access log and raise :class:`PermissionDeniedError`
    (D19). Allowed reads are not logged."""
    for action, resource in reads:
        decision = authorize(actor, action, resource)
        if decision.allowed:
            continue
        entry = access_log_entry(
            actor,
            action,
            resource,
            decision,
            entry_id=f"access-{uuid.uuid4().hex}",
            occurred_at=now,
        )
        uow = db.store.unit_of_work()
        with uow:
            uow.access_log.append(resource.organization_id, entry)
            uow.commit()
        raise PermissionDeniedError(actor.actor_id, action.value, decision)


# -- the database file -----------------------------------------------------------------

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cli_classes (
        organization_id TEXT NOT NULL, revision INTEGER NOT NULL,
        body TEXT NOT NULL, PRIMARY KEY (organization_id, revision)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS cli_meta (
        key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL
    ) WITHOUT ROWID""",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb}"
        f" ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for table in ("cli_classes", "cli_meta")
        for verb in ("UPDATE", "DELETE")
    ),
)

#: What ``cli_meta`` says of a database that ``demo`` made (and may replace).
DEMO_MARK = "mlc-progress demo"


@contextlib.contextmanager
def _driver_errors(what: str) -> Iterator[None]:
    """The driver's errors as the library's (a busy file may be retried)."""
    try:
        yield
    except sqlite3.Error as exc:
        busy = "locked" in str(exc) or "busy" in str(exc)
        raise StorageError(f"{what}: {exc}", retryable=busy) from exc


class Database:
    """The SQLite default: store, catalog and class list in one file.

    ``create=False`` refuses a path with no file (reports never create one);
    ``created`` says this one made the file. Use as a context manager;
    :meth:`close` closes every connection.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = Path(path)
        self.created = not self.path.exists()
        if not create and self.created:
            raise NotFoundError(
                f"no database at {self.path}: run `mlc-progress demo` or"
                " `mlc-progress ingest FILE` first, or give --db"
            )
        if self.path.exists() and self.path.is_dir():
            raise InvalidInputError(
                "db", str(self.path), "a database file, not a folder"
            )
        self.store = SQLiteStore(self.path)
        self.catalog = self.store.catalog
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            for sql in _SCHEMA:
                self._conn.execute(sql)
        except sqlite3.Error as exc:
            self.store.close()
            raise InvalidInputError(
                "db", str(self.path), f"a database ({exc})"
            ) from None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()
        self.store.close()

    @staticmethod
    def made_by_demo(path: str | os.PathLike[str]) -> bool:
        """Whether the file at ``path`` is a database that ``demo`` made."""
        try:
            conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        except sqlite3.Error:
            return False
        try:
            row = conn.execute(
                "SELECT value FROM cli_meta WHERE key = 'created_by'"
            ).fetchone()
        except sqlite3.Error:
            return False
        finally:
            conn.close()
        return row is not None and row[0] == DEMO_MARK

    def mark_demo(self) -> None:
        """Record that ``demo`` made this database (so it may replace it);
        :class:`InvalidInputError` for a database this one did not create."""
        if not self.created:
            raise InvalidInputError(
                "db", str(self.path), "a database demo made: it marks only its own"
            )
        self._conn.execute(
            "INSERT OR IGNORE INTO cli_meta VALUES ('created_by', ?)", (DEMO_MARK,)
        )

    # -- classes ----------------------------------------------------------------------

    def classes(self, organization_id: str) -> ClassList:
        """The organization's latest class list; an empty one before any."""
        with _driver_errors("reading the class list"):
            row = self._conn.execute(
                "SELECT body FROM cli_classes WHERE organization_id = ?"
                " ORDER BY revision DESC LIMIT 1",
                (organization_id,),
            ).fetchone()
        if row is None:
            return ClassList(organization_id=organization_id)
        return from_json(row[0], ClassList)

    def put_classes(self, classes: ClassList) -> None:
        """Store ``classes`` as the organization's new class list, and enroll
        their students through the store's roster port (what the batch
        reads): each student's ``class_ids`` become the classes they are now
        in; assignments are added to their ``assignment_ids``, never removed
        (their progress stays, D14). Two transactions, enrollments first;
        calling again completes an interrupted call."""
        organization_id = classes.organization_id
        before = self.classes(organization_id)
        affected = dict.fromkeys((*before.student_ids, *classes.student_ids))
        uow = self.store.unit_of_work()
        with uow:
            for student_id in affected:
                found = uow.roster.get(organization_id, student_id)
                given = found.record.assignment_ids if found else ()
                record = Enrollment(
                    student_id=student_id,
                    class_ids=classes.classes_of(student_id),
                    assignment_ids=tuple(
                        dict.fromkeys((*given, *classes.assignments_of(student_id)))
                    ),
                    sequence_ids=found.record.sequence_ids if found else (),
                )
                if found is None or found.record != record:
                    uow.roster.put(
                        organization_id,
                        record,
                        expected_version=found.version if found else 0,
                    )
            uow.commit()
        # A second transaction (the store's connection is the port's): an
        # interrupted call is completed by calling again, as both are
        # idempotent.
        if before == classes:
            return
        conn = self._conn
        with _driver_errors("storing the class list"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT max(revision) FROM cli_classes WHERE organization_id = ?",
                    (organization_id,),
                ).fetchone()
                conn.execute(
                    "INSERT INTO cli_classes VALUES (?, ?, ?)",
                    (organization_id, int(row[0] or 0) + 1, to_json(classes)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- raw rows ---------------------------------------------------------------------

    def student_ids(self, organization_id: str) -> tuple[str, ...]:
        """The roster's students (ascending), then every other student with
        stored progress."""
        uow = self.store.unit_of_work()
        with uow:
            enrolled = uow.roster.student_ids(organization_id)
        with _driver_errors("listing students"):
            rows = self._conn.execute(
                "SELECT student_id FROM assignment_progress WHERE organization_id = ?"
                " UNION SELECT student_id FROM step_progress WHERE organization_id = ?"
                " ORDER BY 1",
                (organization_id, organization_id),
            ).fetchall()
        return tuple(dict.fromkeys((*enrolled, *(r[0] for r in rows))))


# -- the demo --------------------------------------------------------------------------

#: The demo's now is day 56 of its 84-day term: two thirds through.
DEMO_DAY = 56
_DEMO_TERM_DAYS = 84
_DEMO_REACH = timedelta(days=DEMO_DAY)


def demo_term_start(as_of: datetime) -> datetime:
    """The demo's term start, :data:`DEMO_DAY` days before ``as_of`` (at
    00:00 UTC). The demo runs the batch at ``as_of``, so ``as_of`` is in the
    batch's range (``FIRST_AS_OF`` to before ``END_AS_OF``) and the term
    starts in the calendar; otherwise :class:`InvalidInputError`.

    >>> demo_term_start(datetime(2026, 11, 1, 9, tzinfo=UTC)).isoformat()
    '2026-09-06T00:00:00+00:00'
    """
    as_of = batch_as_of(as_of)
    first = datetime.min.replace(tzinfo=UTC) + _DEMO_REACH
    if as_of < first:
        raise InvalidInputError(
            "as_of",
            as_of,
            f"the demo runs from {first.isoformat()} (its term starts {DEMO_DAY}"
            " days before)",
        )
    return (as_of - _DEMO_REACH).replace(hour=0, minute=0, second=0, microsecond=0)


def demo_organization(
    *,
    organization_id: str,
    seed: int,
    classes: int,
    students_per_class: int,
    as_of: datetime,
) -> SyntheticOrganization:
    """The demo's organization: its term started :data:`DEMO_DAY` days
    before ``as_of`` (:func:`demo_term_start`), so the demo is always
    mid-term.

    >>> org = demo_organization(organization_id="o", seed=7, classes=1,
    ...     students_per_class=2, as_of=datetime(2026, 11, 1, 9, tzinfo=UTC))
    >>> org.term_start.isoformat(), len(org.classes[0].students)
    ('2026-09-06T00:00:00+00:00', 2)
    """
    start = demo_term_start(as_of)
    for field, value in (("classes", classes), ("students", students_per_class)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise InvalidInputError(field, value, "a positive whole number")
    return synthetic_organization(
        seed=seed,
        organization_id=organization_id,
        classes=classes,
        students_per_class=students_per_class,
        term_start=start,
        term_days=_DEMO_TERM_DAYS,
    )


def demo_classes(org: SyntheticOrganization) -> ClassList:
    """The synthetic organization's classes as a class list ("Class 1", ...)."""
    return ClassList(
        organization_id=org.organization_id,
        classes=tuple(
            ClassRoster(
                class_id=c.class_id,
                name=f"Class {n}",
                teacher_id=c.teacher_id,
                students=tuple(
                    RosterStudent(student_id=s.student_id, name=s.name)
                    for s in c.students
                ),
                assignment_ids=c.assignment_ids,
            )
            for n, c in enumerate(org.classes, start=1)
        ),
    )


def _command_time(command: Command) -> datetime:
    if isinstance(command, Attempt):
        return command.attempted_at
    if isinstance(command, StartStep):
        return command.started_at
    return command.issued_at


@attrs.frozen(kw_only=True)
class DemoBuild:
    """What :func:`build_demo` stored."""

    organization: SyntheticOrganization
    as_of: datetime
    commands: int
    applied: int


def build_demo(
    db: Database,
    *,
    organization_id: str,
    seed: int,
    classes: int,
    students_per_class: int,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    chunk_size: int = 250,
    progress: Progress | None = None,
) -> DemoBuild:
    """Store the demo organization and replay its term up to ``as_of``.

    The structures go to the catalog, the classes into the class list
    (a class of the same id replaced, the others kept) and the roster; the
    attempts and step starts are applied in time order through
    ``ProgressService.apply_many``, ``chunk_size`` per transaction, with a
    replay clock at each chunk's last event. Replaying into a database that
    already holds them changes nothing (D3). Only a database ``db`` created
    is marked as the demo's (so a later demo may replace it).
    """
    org = demo_organization(
        organization_id=organization_id,
        seed=seed,
        classes=classes,
        students_per_class=students_per_class,
        as_of=as_of,
    )
    if db.created:
        db.mark_demo()
    for s in org.structures:
        db.catalog.add_assignment(organization_id, s)
    for q in org.sequences:
        db.catalog.add_sequence(organization_id, q)
    merged = db.classes(organization_id)
    for klass in demo_classes(org).classes:
        merged = merged.with_class(klass)
    db.put_classes(merged)
    commands: list[Command] = list(synthetic_activity(org, seed=seed, until=as_of))
    clock = FixedClock(org.term_start)
    service = ProgressService(db.store.unit_of_work, db.catalog, clock, policy=policy)
    applied = 0
    total = len(commands)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, chunk_size):
        chunk = commands[start : start + chunk_size]
        clock.set(max(_command_time(c) for c in chunk))
        applied += sum(o.applied for o in service.apply_many(organization_id, chunk))
        if progress is not None:
            progress(start + len(chunk), total)
    return DemoBuild(
        organization=org,
        as_of=utc_argument("as_of", as_of),
        commands=total,
        applied=applied,
    )


# -- ingest ----------------------------------------------------------------------------

#: The commands a JSON Lines ``type`` names.
COMMAND_LINE_TYPES: Mapping[str, type[Command]] = {
    "attempt": Attempt,
    "start_step": StartStep,
    "override_complete": OverrideComplete,
    "adjust_target": AdjustTarget,
    "extend_due_date": ExtendDueDate,
    "reconcile_free_play": ReconcileFreePlay,
    "archive_assignment": ArchiveAssignment,
    "request_teacher_review": RequestTeacherReview,
}

#: Every ``type`` a line may have: the commands, the host's structures, a class.
LINE_TYPES: Mapping[str, type[Any]] = {
    **COMMAND_LINE_TYPES,
    "assignment_structure": AssignmentStructure,
    "sequence_structure": SequenceStructure,
    "class": ClassRoster,
}

LineItem = Command | AssignmentStructure | SequenceStructure | ClassRoster


@attrs.frozen(kw_only=True)
class ParsedLine:
    """A line that structured into a command, a structure or a class."""

    line: int
    item: LineItem


@attrs.frozen(kw_only=True)
class BadLine:
    """A line refused, with what was wrong: ``<field>=<value> is invalid: <rule>``.

    >>> str(BadLine(line=3, error="score=120 is invalid: D1"))
    'line 3: score=120 is invalid: D1'
    """

    line: int
    error: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def _message(error: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(error).splitlines()) or type(error).__name__


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_line(number: int, text: str) -> ParsedLine | BadLine | None:
    """One JSON Lines line: ``{"type": ..., ...fields}`` structured by the one
    converter; ``None`` for a blank line.

    A line that is no UTF-8 text (read with ``surrogateescape``) or no JSON
    (an integer past Python's digit limit, say) is a :class:`BadLine`.

    >>> parse_line(1, '{"type": "attempt", "score": 120}').error
    'attempt_id=None is invalid: a required field'
    >>> parse_line(2, "  ") is None
    True
    >>> print(parse_line(3, '"' + chr(0xDCFF) + '"'))  # the byte 0xff, escaped
    line 3: line='"\\udcff"' is invalid: UTF-8 text
    """
    if not text.strip():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return BadLine(
            line=number,
            error=str(InvalidInputError("line", _clip(text.strip()), "UTF-8 text")),
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return BadLine(
            line=number,
            error=str(
                InvalidInputError(
                    "line", _clip(text.strip()), f"JSON ({exc.msg}, column {exc.colno})"
                )
            ),
        )
    except RecursionError:
        return BadLine(
            line=number,
            error=str(
                InvalidInputError("line", _clip(text.strip()), "JSON nested too deep")
            ),
        )
    except ValueError as exc:  # an integer past the digit limit, say
        reason = _message(exc).split(";")[0]
        return BadLine(
            line=number,
            error=str(
                InvalidInputError("line", _clip(text.strip()), f"JSON ({reason})")
            ),
        )
    names = ", ".join(LINE_TYPES)
    if not isinstance(data, dict):
        return BadLine(
            line=number,
            error=str(InvalidInputError("line", _clip(text.strip()), "a JSON object")),
        )
    fields = dict(data)
    kind = fields.pop("type", None)
    cls = LINE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return BadLine(
            line=number, error=str(InvalidInputError("type", kind, f"one of {names}"))
        )
    try:
        item = structure(fields, cls)
    except ProgressError as exc:
        return BadLine(line=number, error=_message(exc))
    return ParsedLine(line=number, item=item)


@attrs.frozen(kw_only=True)
class IngestReport:
    """What :func:`ingest` did with its ``lines`` (every line read, numbered
    as ``bad`` lines are): ``applied`` commands, ``duplicates`` already
    applied before (D3), ``catalog`` structures and classes stored, the
    ``bad`` lines in line order, and ``blank`` lines skipped. Each line is
    exactly one of these."""

    lines: int
    blank: int
    applied: int
    duplicates: int
    catalog: int
    bad: tuple[BadLine, ...]


def ingest(
    db: Database,
    organization_id: str,
    lines: Iterable[str],
    *,
    clock: Clock,
    policy: Policy = DEFAULT_POLICY,
    chunk_size: int = 500,
) -> IngestReport:
    """Apply JSON Lines to the organization: each line fully or not at all.

    Commands go through ``ProgressService.apply_many``, ``chunk_size`` at a
    time in one transaction; when the service refuses a chunk (nothing of it
    is stored), its lines are applied one transaction each, so every good
    line lands and every refused one is reported. Structure and class lines
    are stored in line order, after the commands before them. A storage
    failure stops the run: the lines before it are stored, and re-running
    the file applies only the rest (D3).
    """
    v.check_id_value("organization_id", organization_id)
    service = ProgressService(db.store.unit_of_work, db.catalog, clock, policy=policy)
    pending: list[tuple[int, Command]] = []
    bad: list[BadLine] = []
    counts = {"lines": 0, "blank": 0, "applied": 0, "duplicates": 0, "catalog": 0}

    def count(applied: bool) -> None:
        counts["applied" if applied else "duplicates"] += 1

    def flush() -> None:
        if not pending:
            return
        try:
            outcomes = service.apply_many(organization_id, [c for _, c in pending])
        except (ConflictError, StorageError) as exc:
            raise StorageError(
                f"{_message(exc)}; the lines before line {pending[0][0]} are"
                " stored: run the same ingest again to apply the rest (D3)"
            ) from exc
        except (InvalidInputError, NotFoundError):
            # Refused as a whole, stored not at all: isolate the bad lines.
            for line, command in pending:
                try:
                    count(service.apply(organization_id, command).applied)
                except (InvalidInputError, NotFoundError) as exc:
                    bad.append(BadLine(line=line, error=_message(exc)))
        else:
            for outcome in outcomes:
                count(outcome.applied)
        pending.clear()

    def apply_as_named(line: int, command: Command) -> None:
        # A person's command acts as the teacher it names, whose classes
        # come from the class list, never from the line (D19).
        named = str(getattr(command, "actor_id", ""))
        actor = actor_from_classes(db.classes(organization_id), Role.TEACHER, named)
        try:
            count(service.apply(organization_id, command, actor=actor).applied)
        except (InvalidInputError, NotFoundError, PermissionDeniedError) as exc:
            bad.append(BadLine(line=line, error=_message(exc)))

    for number, text in enumerate(lines, start=1):
        counts["lines"] = number
        parsed = parse_line(number, text)
        if parsed is None:
            counts["blank"] += 1
            continue
        if isinstance(parsed, BadLine):
            bad.append(parsed)
            continue
        item = parsed.item
        if not isinstance(item, AssignmentStructure | SequenceStructure | ClassRoster):
            if command_action(item) is not None:
                flush()
                apply_as_named(parsed.line, item)
                continue
            pending.append((parsed.line, item))
            if len(pending) >= chunk_size:
                flush()
            continue
        flush()
        try:
            _store_catalog_item(db, organization_id, item)
        except (InvalidInputError, NotFoundError, ConflictError) as exc:
            bad.append(BadLine(line=parsed.line, error=_message(exc)))
        else:
            counts["catalog"] += 1
    flush()
    return IngestReport(
        lines=counts["lines"],
        blank=counts["blank"],
        applied=counts["applied"],
        duplicates=counts["duplicates"],
        catalog=counts["catalog"],
        bad=tuple(sorted(bad, key=lambda b: b.line)),
    )


def _store_catalog_item(
    db: Database,
    organization_id: str,
    item: AssignmentStructure | SequenceStructure | ClassRoster,
) -> None:
    if isinstance(item, AssignmentStructure):
        db.catalog.add_assignment(organization_id, item)
    elif isinstance(item, SequenceStructure):
        db.catalog.add_sequence(organization_id, item)
    else:
        for assignment_id in item.assignment_ids:
            db.catalog.assignment(organization_id, assignment_id)  # NotFoundError
        db.put_classes(db.classes(organization_id).with_class(item))


# -- one student's records -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Stored:
    """A student's stored records as reports read them."""

    history: StudentHistory
    audit: tuple[AuditEntry, ...]
    risk: RiskState | None


def _stored(
    db: Database, organization_id: str, student_id: str, *, as_of: datetime
) -> _Stored:
    """What the store holds of a student, read as the batch runner reads it
    as of ``as_of`` (the enrollment's assignments and classes, and those
    with progress; the snapshots dated up to ``as_of``; decisions: batch
    inputs), with every attempt (the score charts need them), the audit
    entries and the stored at-risk state (D17). A stored record that breaks
    an invariant is reported, with the way out (D18)."""
    try:
        return _read_stored(db, organization_id, student_id, as_of)
    except InvalidInputError as exc:
        raise StorageError(
            f"the stored progress of {student_id!r} breaks an invariant ({exc}):"
            " run `mlc-progress audit --repair`"
        ) from exc


def _read_stored(
    db: Database, organization_id: str, student_id: str, as_of: datetime
) -> _Stored:
    org, sid = organization_id, student_id
    uow = db.store.unit_of_work()
    with uow:
        progress = uow.progress
        found = uow.roster.get(org, sid)
        enrollment = found.record if found is not None else Enrollment(student_id=sid)
        stored = {
            r.record.assignment_id: r.record
            for r in progress.assignments_for_student(org, sid)
        }
        assignments: list[AssignmentRecords] = []
        attempts: list[Attempt] = []
        sequence_ids = dict.fromkeys(enrollment.sequence_ids)
        for assignment_id in sorted({*enrollment.assignment_ids, *stored}):
            structure_ = db.catalog.assignment(org, assignment_id)
            steps = progress.steps(org, sid, assignment_id)
            assignments.append(
                AssignmentRecords(
                    structure=structure_,
                    progress=stored.get(assignment_id),
                    steps=tuple(
                        steps[d.step_id].record
                        for d in structure_.steps
                        if d.step_id in steps
                    ),
                )
            )
            attempts.extend(uow.attempts.for_assignment(org, sid, assignment_id))
            if structure_.sequence_id is not None:
                sequence_ids[structure_.sequence_id] = None
        sequences = []
        for sequence_id in sorted(sequence_ids):
            found_sequence = progress.sequence(org, sid, sequence_id)
            sequences.append(
                SequenceRecords(
                    structure=db.catalog.sequence(org, sequence_id),
                    progress=found_sequence.record if found_sequence else None,
                )
            )
        snapshots = tuple(
            s
            for s in uow.snapshots.for_student(org, sid, scope_type=ScopeType.STUDENT)
            if s.snapshot_date <= as_of
        )
        audit_entries = uow.audit.for_student(org, sid)
        risk = uow.risk.get(org, sid)
    history = StudentHistory(
        student_id=sid,
        organization_id=org,
        class_ids=enrollment.class_ids,
        assignments=tuple(assignments),
        sequences=tuple(sequences),
        attempts=tuple(attempts),
        snapshots=snapshots,
    )
    return _Stored(
        history=history,
        audit=audit_entries,
        risk=risk.record if risk is not None else None,
    )


def _summarize(stored: _Stored, *, as_of: datetime, policy: Policy) -> StudentResult:
    """The batch's result for the student as of ``as_of``, read-only: the
    stored at-risk state keeps a teacher's dismissal standing (D17)."""
    return summarize_student(
        stored.history,
        as_of=as_of,
        run_id=f"report/{as_of.isoformat()}",
        policy=policy,
        previous_risk=stored.risk,
    )


# -- the rollup of reports -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Rollup:
    """Every student's batch result as of ``as_of``, computed for a report
    (nothing stored), and the dashboard they fold into."""

    organization_id: str
    as_of: datetime
    results: tuple[StudentResult, ...]
    dashboard: OrganizationDashboard

    @property
    def at_risk(self) -> tuple[StudentResult, ...]:
        """The students flagged at risk (D17), in the order computed."""
        return tuple(r for r in self.results if r.summary.at_risk)

    def result(self, student_id: str) -> StudentResult:
        for r in self.results:
            if r.student_id == student_id:
                return r
        raise NotFoundError(f"student_id={student_id!r} is not in the rollup")


def rollup(
    db: Database,
    organization_id: str,
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    student_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Rollup:
    """Summarize the organization's students as of ``as_of`` with the batch
    layer's :func:`~mlc_progress.batch.summarize_student`, storing nothing
    (the ``batch`` command stores, with ``run_batch``). ``student_ids``
    limits it (a class's report).
    """
    as_of = utc_argument("as_of", as_of)
    ids = (
        tuple(student_ids)
        if student_ids is not None
        else db.student_ids(organization_id)
    )
    board = OrganizationDashboardAccumulator(
        organization_id=organization_id, as_of=as_of, policy=policy
    )
    results: list[StudentResult] = []
    if progress is not None:
        progress(0, len(ids))
    for n, student_id in enumerate(ids, start=1):
        stored = _stored(db, organization_id, student_id, as_of=as_of)
        result = _summarize(stored, as_of=as_of, policy=policy)
        results.append(result)
        board.add(result)
        if progress is not None:
            progress(n, len(ids))
    return Rollup(
        organization_id=organization_id,
        as_of=as_of,
        results=tuple(results),
        dashboard=board.result(),
    )


def run_batch(
    db: Database,
    organization_id: str,
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    progress: Progress | None = None,
) -> BatchReport:
    """The scheduled recomputation, stored: the batch runner over the
    database's store and catalog (one job per ``as_of``, resumable)."""
    return _run_batch(
        db.store,
        db.catalog,
        organization_id,
        as_of=as_of,
        policy=policy,
        progress=progress,
    )


# -- reports ---------------------------------------------------------------------------


def _records_as_of(
    history: StudentHistory, result: StudentResult
) -> list[AssignmentRecords]:
    """The student's assignments created by ``as_of``, each with the progress
    the rollup recomputed as of then (pacing moves with time, D15)."""
    fresh = {p.assignment_id: p for p in result.assignments}
    return [
        attrs.evolve(a, progress=fresh[a.structure.assignment_id])
        for a in history.assignments
        if a.structure.assignment_id in fresh
    ]


def student_view(
    db: Database,
    organization_id: str,
    student_id: str,
    *,
    as_of: datetime,
    role: str = "student",
    policy: Policy = DEFAULT_POLICY,
) -> StudentReport | StudentDetail | ParentReport:
    """A student's report as ``role`` sees it: ``student`` (dashboard and
    assignment details), ``teacher`` (student detail) or ``parent``."""
    as_of = utc_argument("as_of", as_of)
    roster = db.classes(organization_id)
    stored = _stored(db, organization_id, student_id, as_of=as_of)
    history = stored.history
    if not history.assignments:
        raise NotFoundError(
            f"student_id={student_id!r} has no assignments in organization"
            f" {organization_id!r}"
        )
    result = _summarize(stored, as_of=as_of, policy=policy)
    records = _records_as_of(history, result)
    names = roster.directory()
    attempts = [a for a in history.attempts if a.attempted_at <= as_of]
    if role == "student":
        return student_report(
            student_id,
            records,
            as_of=as_of,
            attempts=attempts,
            summary=result.summary,
            sequences=result.sequences,
            directory=names,
            policy=policy,
        )
    if role == "teacher":
        return student_detail(
            student_id,
            records,
            as_of=as_of,
            attempts=attempts,
            audit=[e for e in stored.audit if e.occurred_at <= as_of],
            risk_events=[
                e for e in result.events if isinstance(e, StudentAtRiskDetected)
            ],
            summary=result.summary,
            directory=names,
            policy=policy,
        )
    if role == "parent":
        return parent_report(
            student_id,
            summary=result.summary,
            assignments=records,
            as_of=as_of,
            directory=names,
            policy=policy,
        )
    raise InvalidInputError("role", role, "one of student, teacher, parent")


def class_view(
    db: Database,
    organization_id: str,
    class_id: str,
    *,
    as_of: datetime,
    sort: SortKey | None = None,
    descending: bool = False,
    policy: Policy = DEFAULT_POLICY,
    rollup_: Rollup | None = None,
) -> ClassOverview:
    """The class's roster grid as of ``as_of``, from a fresh rollup of its
    students (or from ``rollup_`` when the caller has one)."""
    roster = db.classes(organization_id)
    klass = roster.class_(class_id)
    if rollup_ is None:
        rollup_ = rollup(
            db,
            organization_id,
            as_of=as_of,
            policy=policy,
            student_ids=klass.student_ids,
        )
    results = [rollup_.result(s) for s in klass.student_ids]
    # Columns are the assignments given by then; later ones are not shown.
    given = [
        a
        for a in klass.assignment_ids
        if db.catalog.assignment(organization_id, a).created_at <= rollup_.as_of
    ]
    view = class_overview(
        class_id,
        students=klass.student_ids,
        assignment_ids=given,
        progress=[p for r in results for p in r.assignments],
        as_of=rollup_.as_of,
        summaries=[r.summary for r in results],
        directory=roster.directory(),
    )
    return view if sort is None else sort_rows(view, sort, descending=descending)


def organization_view(
    db: Database,
    organization_id: str,
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    rollup_: Rollup | None = None,
) -> OrganizationDashboardView:
    """The admin's organization dashboard as of ``as_of``."""
    if rollup_ is None:
        if not db.student_ids(organization_id):
            raise NotFoundError(
                f"organization_id={organization_id!r} has no students yet: run"
                " `mlc-progress demo` or `mlc-progress ingest FILE` first"
            )
        rollup_ = rollup(db, organization_id, as_of=as_of, policy=policy)
    return organization_dashboard_view(
        rollup_.dashboard,
        directory=db.classes(organization_id).directory(),
        policy=policy,
    )


def now_utc() -> datetime:
    """The system's time in UTC (the shell's clock; the core reads none)."""
    return datetime.now(UTC)


for _cls in (
    RosterStudent,
    ClassRoster,
    ClassList,
    ParsedLine,
    BadLine,
    IngestReport,
    DemoBuild,
    Rollup,
):
    attrs.resolve_types(_cls)
