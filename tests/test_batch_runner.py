"""The batch runner over the ports: chunked, atomic per chunk, resumable.

Every behaviour runs on both reference adapters. The organization is a
synthetic one (``_synthetic``) whose term of activity went through
``ProgressService``, as production does; the expected results are computed
independently, by replaying the same commands through the pure core and
calling ``summarize_student`` in memory.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, cast

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlc_progress import (
    Attempt,
    ConflictError,
    InvalidInputError,
    Metric,
    MetricName,
    Policy,
    ProgressSnapshot,
    ScopeType,
    SnapshotTrigger,
    StartStep,
    StepProgress,
)
from mlc_progress._batch_runner import (
    END_AS_OF,
    FIRST_AS_OF,
    BatchReport,
    default_job_id,
    enroll,
    policy_fingerprint,
    read_student_history,
    run_batch,
    scheduled_snapshot_kinds,
)
from mlc_progress._events import StudentAtRiskDetected
from mlc_progress._history import AssignmentRecords
from mlc_progress._ports import BatchStore, BatchUnitOfWork, Enrollment
from mlc_progress._records import StudentProgressSummary
from mlc_progress._retention import student_snapshot
from mlc_progress._risk import dismiss_risk
from mlc_progress._rollups import (
    SequenceRecords,
    StudentHistory,
    StudentResult,
    organization_dashboard,
    summarize_student,
)
from mlc_progress._schedule import (
    Job,
    JobKind,
    due_jobs,
    iter_due_jobs,
    latest_slot,
    next_due,
)
from mlc_progress._service import ProgressService
from mlc_progress._synthetic import (
    SyntheticOrganization,
    synthetic_activity,
    synthetic_organization,
)
from mlc_progress._tracking import ProgressState, apply_command
from mlc_progress.adapters import (
    FixedClock,
    InMemoryCatalog,
    InMemoryStore,
    SQLiteStore,
)
from mlc_progress.testing.contract import BatchStoreContract

T0 = datetime(2026, 9, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=30, hours=9)
JOB = "nightly-1"
ADAPTERS = ("memory", "sqlite")

ORGANIZATION = synthetic_organization(
    seed=11,
    organization_id="org-batch",
    classes=2,
    students_per_class=12,
    assignments_per_class=3,
    steps_per_assignment=6,
    term_start=T0,
)
ORG = ORGANIZATION.organization_id
COMMANDS: tuple[StartStep | Attempt, ...] = tuple(
    synthetic_activity(ORGANIZATION, seed=11, until=AS_OF)
)
STUDENTS = tuple(sorted(s.student_id for c in ORGANIZATION.classes for s in c.students))


# -- the shipped contract, on both adapters ---------------------------------------------


class TestInMemoryBatchStore(BatchStoreContract):
    def make_store(self, tmp_path: Path) -> InMemoryStore:
        return InMemoryStore()


class TestSQLiteBatchStore(BatchStoreContract):
    def make_store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "progress.db")

    def reopen(self, store: BatchStore) -> SQLiteStore:
        assert isinstance(store, SQLiteStore)
        store.close()
        return SQLiteStore(store.path)


# -- setting up an organization ------------------------------------------------------


def enrollments(org: SyntheticOrganization) -> list[Enrollment]:
    return [
        Enrollment(
            student_id=student.student_id,
            class_ids=(klass.class_id,),
            assignment_ids=klass.assignment_ids,
        )
        for klass in org.classes
        for student in klass.students
    ]


def populate(
    store: BatchStore,
    catalog: Any,
    org: SyntheticOrganization = ORGANIZATION,
    commands: tuple[StartStep | Attempt, ...] = COMMANDS,
) -> None:
    """The organization's content, roster and term of activity, stored."""
    for structure in org.structures:
        catalog.add_assignment(org.organization_id, structure)
    for sequence in org.sequences:
        catalog.add_sequence(org.organization_id, sequence)
    service = ProgressService(store.unit_of_work, catalog, FixedClock(AS_OF))
    for i in range(0, len(commands), 400):
        service.apply_many(org.organization_id, commands[i : i + 400])
    enroll(store, org.organization_id, enrollments(org))


@dataclass
class Setup:
    store: BatchStore
    catalog: Any


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the populated organization, copied per test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    with SQLiteStore(path) as store:
        populate(store, store.catalog)
    return path


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


@pytest.fixture(params=ADAPTERS)
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, template: Path
) -> Iterator[Setup]:
    if request.param == "memory":
        store = InMemoryStore()
        catalog = InMemoryCatalog()
        populate(store, catalog)
        yield Setup(store=store, catalog=catalog)
        return
    path = tmp_path / "progress.db"
    copy_database(template, path)
    with SQLiteStore(path) as sqlite:
        yield Setup(store=sqlite, catalog=sqlite.catalog)


# -- the expected results, computed without the ports -----------------------------------


def expected_results(
    org: SyntheticOrganization = ORGANIZATION,
    commands: tuple[StartStep | Attempt, ...] = COMMANDS,
    *,
    job_id: str = JOB,
) -> list[StudentResult]:
    """Each student's result: the commands replayed through the pure core,
    then ``summarize_student`` on the records in memory."""
    steps: dict[tuple[str, str], dict[str, StepProgress]] = {}
    assignments: dict[tuple[str, str], Any] = {}
    sequences: dict[tuple[str, str], Any] = {}
    attempts: dict[str, list[Attempt]] = {}
    snapshots: dict[str, list[ProgressSnapshot]] = {}
    by_id = {s.sequence_id: s for s in org.sequences}
    seen: set[str] = set()
    for command in commands:
        sid, aid = command.student_id, command.assignment_id
        structure = org.structure(aid)
        qid = structure.sequence_id
        state = ProgressState(
            student_id=sid,
            structure=structure,
            assignment=assignments.get((sid, aid)),
            steps=steps.get((sid, aid), {}),
            sequence_structure=by_id[qid] if qid else None,
            sequence=sequences.get((sid, qid)) if qid else None,
        )
        outcome = apply_command(command, state, as_of=AS_OF, seen=seen)
        seen.update(outcome.consumed_ids)
        steps.setdefault((sid, aid), {}).update({s.step_id: s for s in outcome.steps})
        if outcome.assignment is not None:
            assignments[(sid, aid)] = outcome.assignment
        if outcome.sequence is not None and qid:
            sequences[(sid, qid)] = outcome.sequence
        if isinstance(command, Attempt):
            attempts.setdefault(sid, []).append(command)
        snapshots.setdefault(sid, []).extend(
            s for s in outcome.snapshots if s.scope_type is ScopeType.STUDENT
        )
    results = []
    for enrollment in sorted(enrollments(org), key=lambda e: e.student_id):
        sid = enrollment.student_id
        records = tuple(
            AssignmentRecords(
                structure=org.structure(aid),
                progress=assignments.get((sid, aid)),
                steps=tuple(
                    steps[(sid, aid)][d.step_id]
                    for d in org.structure(aid).steps
                    if d.step_id in steps.get((sid, aid), {})
                ),
            )
            for aid in sorted(enrollment.assignment_ids)
        )
        qids = sorted(
            {org.structure(a).sequence_id or "" for a in enrollment.assignment_ids}
        )
        history = StudentHistory(
            student_id=sid,
            organization_id=org.organization_id,
            class_ids=enrollment.class_ids,
            assignments=records,
            sequences=tuple(
                SequenceRecords(structure=by_id[q], progress=sequences.get((sid, q)))
                for q in qids
                if q
            ),
            attempts=tuple(attempts.get(sid, ())),
            snapshots=tuple(snapshots.get(sid, ())),
        )
        results.append(summarize_student(history, as_of=AS_OF, run_id=job_id))
    return results


EXPECTED = expected_results()


# -- reading back what a job stored ---------------------------------------------------


def dump(store: BatchStore, job_id: str = JOB) -> dict[str, Any]:
    """Everything a batch job writes, for comparison."""
    with store.unit_of_work() as uow:
        ids = uow.roster.student_ids(ORG)
        return {
            "summaries": {sid: uow.summaries.get(ORG, sid) for sid in ids},
            "risk": {sid: uow.risk.get(ORG, sid) for sid in ids},
            "snapshots": {
                sid: uow.snapshots.for_student(ORG, sid, scope_type=ScopeType.STUDENT)
                for sid in ids
            },
            "events": [e.event for e in uow.outbox.entries(ORG)],
            "stats": uow.risk.dismissal_stats(ORG),
            "job": uow.jobs.get(ORG, job_id),
        }


def batch_events(store: BatchStore, job_id: str = JOB) -> list[Any]:
    return [e for e in dump(store, job_id)["events"] if e.event_id.startswith(job_id)]


# -- what a run computes and stores ---------------------------------------------------------


def test_the_runner_stores_what_summarize_student_computes(setup: Setup) -> None:
    """Each student's stored summary and at-risk state, and the job's events,
    equal those ``summarize_student`` computes from the same records in
    memory; the dashboard folds every student."""
    report = run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    stored = dump(setup.store)
    assert [r.student_id for r in EXPECTED] == list(STUDENTS)
    assert {sid: v.record for sid, v in stored["summaries"].items()} == {
        r.student_id: r.summary for r in EXPECTED
    }
    assert {sid: v.record for sid, v in stored["risk"].items()} == {
        r.student_id: r.risk.state for r in EXPECTED
    }
    expected_events = [e for r in EXPECTED for e in r.events]
    assert batch_events(setup.store) == expected_events
    assert any(isinstance(e, StudentAtRiskDetected) for e in expected_events)
    assert report.dashboard == organization_dashboard(
        EXPECTED, organization_id=ORG, as_of=AS_OF
    )
    assert report.class_summaries == report.dashboard.classes
    assert len(report.class_summaries) == 2
    assert report.at_risk_count == sum(r.summary.at_risk for r in EXPECTED) > 0
    assert report.events_emitted == len(expected_events)
    assert report.summaries_changed == len(STUDENTS)


def test_the_report_says_what_the_run_did(setup: Setup) -> None:
    """A first run processes every student in ceil(n / chunk) chunks; it is
    not resumed and nothing failed."""
    report = run_batch(
        setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB, chunk_size=5
    )
    assert report.students_total == report.students_processed == len(STUDENTS)
    assert report.chunks_written == math.ceil(len(STUDENTS) / 5)
    assert report.students_done_before == 0
    assert not report.resumed
    assert report.failed_students == ()
    assert report.risk_states_changed == len(STUDENTS)
    assert report.dismissal_stats.raised.total() == sum(
        len(r.risk.raised) for r in EXPECTED
    )
    assert report.dismissal_stats == dump(setup.store)["stats"].record


@pytest.mark.parametrize("chunk_size", [1, 7, 24, 500])
def test_the_result_does_not_depend_on_the_chunk_size(chunk_size: int) -> None:
    """Any chunk size stores the same summaries, states and events."""
    store, catalog = InMemoryStore(), InMemoryCatalog()
    populate(store, catalog)
    run_batch(store, catalog, ORG, as_of=AS_OF, job_id=JOB, chunk_size=chunk_size)
    stored = dump(store)
    assert {k: v.record for k, v in stored["summaries"].items()} == {
        r.student_id: r.summary for r in EXPECTED
    }
    assert batch_events(store) == [e for r in EXPECTED for e in r.events]
    assert stored["job"].record.chunks_written == math.ceil(len(STUDENTS) / chunk_size)


def test_progress_is_called_before_the_first_chunk_and_after_each(
    setup: Setup,
) -> None:
    """``progress(done, total)`` starts at 0 and follows each committed chunk."""
    calls: list[tuple[int, int]] = []
    run_batch(
        setup.store,
        setup.catalog,
        ORG,
        as_of=AS_OF,
        chunk_size=10,
        progress=lambda done, total: calls.append((done, total)),
    )
    n = len(STUDENTS)
    assert calls == [(0, n), (10, n), (20, n), (n, n)]


def test_each_chunk_is_timed_as_an_aggregation(setup: Setup) -> None:
    """Every chunk records ``progress_aggregation_time_ms`` for the
    organization with its student count, never sampled (D23)."""
    recorded: list[Metric] = []

    class Sink:
        def record(self, metric: Metric) -> None:
            recorded.append(metric)

    run_batch(
        setup.store,
        setup.catalog,
        ORG,
        as_of=AS_OF,
        chunk_size=10,
        metrics=Sink(),
        policy=Policy(metrics_sample_rate=0.0),
    )
    assert [m.name for m in recorded] == [MetricName.PROGRESS_AGGREGATION_TIME_MS] * 3
    assert [m.dimensions for m in recorded] == [
        {"aggregation_scope": "organization", "record_count": n} for n in (10, 10, 4)
    ]


# -- running again --------------------------------------------------------------------------


def test_running_a_finished_job_again_changes_nothing(setup: Setup) -> None:
    """A finished job run again writes nothing and reports the same result."""
    first = run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    before = dump(setup.store)
    calls: list[tuple[int, int]] = []
    again = run_batch(
        setup.store,
        setup.catalog,
        ORG,
        as_of=AS_OF,
        job_id=JOB,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert dump(setup.store) == before
    assert (again.students_processed, again.chunks_written) == (0, 0)
    assert again.resumed
    assert again.students_done_before == len(STUDENTS)
    assert calls == [(len(STUDENTS), len(STUDENTS))]
    assert (
        attrs.evolve(
            again,
            students_processed=first.students_processed,
            resumed=False,
            students_done_before=0,
            chunks_written=first.chunks_written,
        )
        == first
    )


def test_a_new_job_at_the_same_moment_changes_nothing(setup: Setup) -> None:
    """A second job as of the same moment finds every summary and state
    current: it writes none of them and emits no event (D17)."""
    run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    before = dump(setup.store)
    second = run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id="nightly-2")
    after = dump(setup.store)
    assert (second.summaries_changed, second.risk_states_changed) == (0, 0)
    assert second.events_emitted == 0
    assert second.students_processed == len(STUDENTS)
    assert {k: after[k] for k in before if k != "job"} == {
        k: before[k] for k in before if k != "job"
    }
    assert after["job"] == before["job"]


def test_a_later_job_emits_only_changes_of_flag_or_factor_kinds(setup: Setup) -> None:
    """A day later every state is re-assessed, but an event is emitted only
    for a student whose flag or set of factor kinds changed (D17)."""
    run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    states = {k: v.record for k, v in dump(setup.store)["risk"].items()}
    later = AS_OF + timedelta(days=1)
    report = run_batch(setup.store, setup.catalog, ORG, as_of=later)
    assert report.job_id == default_job_id(later)
    new = {k: v.record for k, v in dump(setup.store, report.job_id)["risk"].items()}
    changed = {
        sid
        for sid in STUDENTS
        if (states[sid].at_risk, set(states[sid].rules))
        != (new[sid].at_risk, set(new[sid].rules))
    }
    flagged = {
        e.student_id
        for e in batch_events(setup.store, report.job_id)
        if isinstance(e, StudentAtRiskDetected)
    }
    assert flagged == changed
    # Q97: a state is rewritten only when more than its assessment time moved.
    moved = {
        sid
        for sid in STUDENTS
        if attrs.evolve(states[sid], assessed_at=None)
        != attrs.evolve(new[sid], assessed_at=None)
    }
    assert report.risk_states_changed == len(moved)


def test_a_dismissed_flag_stays_dismissed_and_is_not_counted(setup: Setup) -> None:
    """A teacher's dismissal, stored with the state, hides the student from
    the at-risk count of a later job while the factor kinds hold."""
    run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    target = next(r for r in EXPECTED if r.risk.state.at_risk)
    with setup.store.unit_of_work() as uow:
        found = uow.risk.get(ORG, target.student_id)
        assert found is not None
        state, _ = dismiss_risk(
            found.record,
            dismissal_id="d-1",
            actor_id="teacher-1",
            reason="family_holiday",
            dismissed_at=AS_OF,
        )
        uow.risk.put(ORG, state, expected_version=found.version)
        uow.commit()
    again = run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id="after")
    stored = dump(setup.store, "after")
    assert stored["risk"][target.student_id].record.dismissal is not None
    assert stored["summaries"][target.student_id].record.at_risk is False
    first_count = sum(r.summary.at_risk for r in EXPECTED)
    assert again.at_risk_count == first_count - 1
    assert again.events_emitted == 0


# -- refusals and failures -----------------------------------------------------------------


def test_a_job_resumes_only_as_it_began(setup: Setup) -> None:
    """Resuming a job with another as_of or policy raises InvalidInputError
    naming the field, and writes nothing."""
    run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    before = dump(setup.store)
    with pytest.raises(InvalidInputError) as moved:
        run_batch(
            setup.store, setup.catalog, ORG, as_of=AS_OF + timedelta(1), job_id=JOB
        )
    with pytest.raises(InvalidInputError) as other:
        run_batch(
            setup.store,
            setup.catalog,
            ORG,
            as_of=AS_OF,
            job_id=JOB,
            policy=Policy(risk_inactive_days=3),
        )
    assert (moved.value.field, other.value.field) == ("as_of", "policy")
    assert dump(setup.store) == before


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("chunk_size", 0), ("chunk_size", True), ("max_retries", -1), ("job_id", "")],
)
def test_bad_arguments_are_refused(keyword: str, value: Any) -> None:
    """A chunk size below 1, negative retries or an empty job id raise
    InvalidInputError before anything is read."""
    arguments: dict[str, Any] = {keyword: value}
    with pytest.raises(InvalidInputError) as refused:
        run_batch(InMemoryStore(), InMemoryCatalog(), ORG, as_of=AS_OF, **arguments)
    assert refused.value.field == keyword


def test_a_student_whose_records_cannot_be_read_is_reported(setup: Setup) -> None:
    """A student enrolled in content the catalog lacks is reported as failed
    in the job; every other student is summarized (D4: never silently)."""
    enroll(
        setup.store,
        ORG,
        [Enrollment(student_id="class-1-st05x", assignment_ids=("gone",))],
    )
    report = run_batch(
        setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB, chunk_size=4
    )
    assert report.failed_students == ("class-1-st05x",)
    assert report.students_processed == len(STUDENTS) + 1
    assert report.dashboard.figures.students == len(STUDENTS)
    stored = dump(setup.store)
    assert stored["summaries"]["class-1-st05x"] is None
    assert stored["job"].record.failed_students == ("class-1-st05x",)
    resumed = run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    assert resumed.failed_students == ("class-1-st05x",)
    assert resumed.dashboard == report.dashboard


def test_a_corrupt_stored_record_fails_only_its_student(
    tmp_path: Path, template: Path
) -> None:
    """A stored step row that breaks an invariant (D4) fails its student,
    who keeps no summary; every other student is summarized as expected."""
    path = tmp_path / "progress.db"
    copy_database(template, path)
    sid = STUDENTS[3]
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "UPDATE step_progress SET body = json_set(body, '$.attempt_count', -1)"
            " WHERE student_id = ?",
            (sid,),
        )
    conn.close()
    with SQLiteStore(path) as store:
        report = run_batch(store, store.catalog, ORG, as_of=AS_OF, job_id=JOB)
        stored = dump(store)
    assert report.failed_students == (sid,)
    assert stored["summaries"][sid] is None
    assert {k: v.record for k, v in stored["summaries"].items() if v} == {
        r.student_id: r.summary for r in EXPECTED if r.student_id != sid
    }


def test_enroll_writes_only_what_changed_and_refuses_other_records() -> None:
    """``enroll`` puts each entry once, counts changes, and refuses anything
    but an Enrollment before writing."""
    store = InMemoryStore()
    ada = Enrollment(student_id="ada", class_ids=("5B",))
    assert enroll(store, ORG, [ada, Enrollment(student_id="bo")]) == 2
    moved = Enrollment(student_id="ada", class_ids=("6A",))
    assert enroll(store, ORG, [moved, Enrollment(student_id="bo")]) == 1
    with pytest.raises(InvalidInputError):
        enroll(store, ORG, [cast(Enrollment, "cy")])
    with pytest.raises(InvalidInputError):
        enroll(store, ORG, [], max_retries=-1)
    with store.unit_of_work() as uow:
        found = uow.roster.get(ORG, "ada")
        assert uow.roster.student_ids(ORG) == ("ada", "bo")
    assert found is not None
    assert (found.record, found.version) == (moved, 2)


def test_an_empty_roster_finishes_at_once() -> None:
    """An organization without students finishes with an empty report."""
    report = run_batch(InMemoryStore(), InMemoryCatalog(), ORG, as_of=AS_OF)
    assert (report.students_total, report.chunks_written) == (0, 0)
    assert report.dashboard.figures.students == 0


# -- reading one student's history ----------------------------------------------------------


def test_a_students_history_reads_assignments_not_yet_begun(setup: Setup) -> None:
    """An enrolled assignment without records is in the history (for pacing
    and engagement), and attempts are those of the trailing week."""
    sid = STUDENTS[0]
    with setup.store.unit_of_work() as uow:
        history = read_student_history(uow, setup.catalog, ORG, sid, as_of=AS_OF)
    klass = next(c for c in ORGANIZATION.classes if sid.startswith(c.class_id))
    assert [a.structure.assignment_id for a in history.assignments] == sorted(
        klass.assignment_ids
    )
    assert history.class_ids == (klass.class_id,)
    week = [
        c
        for c in COMMANDS
        if isinstance(c, Attempt)
        and c.student_id == sid
        and AS_OF - timedelta(days=7) < c.attempted_at <= AS_OF
    ]
    assert history.attempts == tuple(week)
    assert set(history.activity_days) == {
        c.attempted_at.date()
        for c in COMMANDS
        if isinstance(c, Attempt) and c.student_id == sid
    }


def test_records_of_steps_a_migration_removed_are_left_out(setup: Setup) -> None:
    """A stored step record of a step the current structure lacks stays
    stored and is left out of the history."""
    sid = STUDENTS[0]
    stray = StepProgress(
        step_id="removed-step",
        assignment_id="class-1-a1",
        student_id=sid,
        target_score=80.0,
    )
    with setup.store.unit_of_work() as uow:
        uow.progress.put_step(ORG, stray, expected_version=0)
        uow.commit()
    with setup.store.unit_of_work() as uow:
        history = read_student_history(uow, setup.catalog, ORG, sid, as_of=AS_OF)
        assert "removed-step" in uow.progress.steps(ORG, sid, "class-1-a1")
    steps = {s.step_id for a in history.assignments for s in a.steps}
    assert "removed-step" not in steps


# -- kill and resume --------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process being killed: nothing catches it."""


class Killing:
    """Wraps a store; the ``at``-th write call (counted over every unit of
    work) raises :class:`Killed` before it happens, leaving the chunk's
    transaction open with its earlier writes."""

    WRITES = frozenset({"put", "append", "put_dismissal_stats", "commit"})

    def __init__(self, inner: BatchStore, at: int | None) -> None:
        self.inner = inner
        self.at = at
        self.writes = 0

    def tick(self) -> None:
        self.writes += 1
        if self.writes == self.at:
            raise Killed

    def unit_of_work(self) -> BatchUnitOfWork:
        return cast(
            BatchUnitOfWork, _KillingUnitOfWork(self, self.inner.unit_of_work())
        )


class _Repository:
    def __init__(self, owner: Killing, inner: object) -> None:
        self._owner = owner
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in Killing.WRITES:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._owner.tick()
            return target(*args, **kwargs)

        return call


class _KillingUnitOfWork:
    def __init__(self, owner: Killing, inner: BatchUnitOfWork) -> None:
        self._owner = owner
        self._inner = inner
        for name in (
            "progress",
            "summaries",
            "commands",
            "attempts",
            "snapshots",
            "audit",
            "outbox",
            "roster",
            "risk",
            "jobs",
        ):
            setattr(self, name, _Repository(owner, getattr(inner, name)))

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._owner.tick()
        self._inner.commit()


def chunk_boundaries(chunk_size: int) -> list[int]:
    """The count of write calls (commits included) at the end of each chunk
    of an uninterrupted run."""
    store, catalog = _populated_memory()
    counter = Killing(store, at=None)
    ends: list[int] = []
    run_batch(
        counter,
        catalog,
        ORG,
        as_of=AS_OF,
        job_id=JOB,
        chunk_size=chunk_size,
        progress=lambda done, total: ends.append(counter.writes) if done else None,
    )
    return ends


def assert_only_first_chunks(store: BatchStore, chunks: int, chunk_size: int) -> None:
    """What a killed run left: exactly its committed chunks, whole."""
    stored = dump(store)
    done = STUDENTS[: chunks * chunk_size]
    assert {k for k, v in stored["summaries"].items() if v is not None} == set(done)
    assert {k for k, v in stored["risk"].items() if v is not None} == set(done)
    assert batch_events(store) == [
        e for r in EXPECTED if r.student_id in done for e in r.events
    ]
    job = stored["job"]
    if chunks == 0:
        assert job is None
    else:
        assert job.record.students_done == len(done)
        assert job.record.last_student_id == done[-1]
        assert not job.record.finished


def assert_resumed_equals_uninterrupted(
    resumed: BatchReport, store: BatchStore, reference: BatchStore, *, done_before: int
) -> None:
    """The resumed job did only the rest, and the store equals that of an
    uninterrupted run on a copy."""
    uninterrupted = run_batch(
        reference, _catalog_of(reference), ORG, as_of=AS_OF, job_id=JOB, chunk_size=10
    )
    assert resumed.resumed == (done_before > 0)
    assert resumed.students_done_before == done_before
    assert resumed.students_processed == len(STUDENTS) - done_before
    assert dump(store) == dump(reference)
    assert (
        attrs.evolve(
            resumed,
            students_processed=uninterrupted.students_processed,
            students_done_before=0,
            chunks_written=uninterrupted.chunks_written,
            resumed=False,
        )
        == uninterrupted
    )


_CATALOGS: dict[int, Any] = {}


def _catalog_of(store: BatchStore) -> Any:
    if isinstance(store, SQLiteStore):
        return store.catalog
    return _CATALOGS[id(store)]


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("kill_in_chunk", [1, 2, 3])
def test_a_run_killed_mid_chunk_leaves_whole_chunks_and_resumes(
    kind: str, kill_in_chunk: int, tmp_path: Path, template: Path
) -> None:
    """Killed in the middle of a chunk's transaction, a run leaves only the
    chunks committed before; the same job run again does the rest, and the
    store then equals that of an uninterrupted run."""
    chunk_size = 10
    ends = [0, *chunk_boundaries(chunk_size)]
    stores: list[BatchStore] = []
    for name in ("killed", "reference"):
        if kind == "memory":
            memory, catalog = _populated_memory()
            _CATALOGS[id(memory)] = catalog
            stores.append(memory)
        else:
            copy_database(template, tmp_path / f"{name}.db")
            stores.append(SQLiteStore(tmp_path / f"{name}.db"))
    killed, reference = stores
    # A few writes into the chunk, after those of the chunks before it.
    at = ends[kill_in_chunk - 1] + 5
    assert at < ends[kill_in_chunk]
    with pytest.raises(Killed):
        run_batch(
            Killing(killed, at=at),
            _catalog_of(killed),
            ORG,
            as_of=AS_OF,
            job_id=JOB,
            chunk_size=chunk_size,
        )
    assert_only_first_chunks(killed, kill_in_chunk - 1, chunk_size)
    resumed = run_batch(
        killed, _catalog_of(killed), ORG, as_of=AS_OF, job_id=JOB, chunk_size=chunk_size
    )
    assert_resumed_equals_uninterrupted(
        resumed, killed, reference, done_before=(kill_in_chunk - 1) * chunk_size
    )
    for opened in stores:
        if isinstance(opened, SQLiteStore):
            opened.close()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from mlc_progress._batch_runner import run_batch
    from mlc_progress.adapters import SQLiteStore

    path, org, as_of, job, chunk, block_after = sys.argv[1:]
    store = SQLiteStore(path)
    done = []

    class Blocking:
        # Its units of work block for good at the given summary write after
        # the first chunk committed: the transaction is open, half written.
        def __init__(self):
            self.puts = 0

        def unit_of_work(self):
            return Unit(self, store.unit_of_work())

    class Summaries:
        def __init__(self, owner, inner):
            self.owner, self.inner = owner, inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def put(self, *args, **kwargs):
            result = self.inner.put(*args, **kwargs)
            if done:
                self.owner.puts += 1
                if self.owner.puts == int(block_after):
                    print("BLOCKED", flush=True)
                    time.sleep(600)
            return result

    class Unit:
        def __init__(self, owner, inner):
            self.inner = inner
            self.summaries = Summaries(owner, inner.summaries)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *info):
            return self.inner.__exit__(*info)

    def progress(d, total):
        if d:
            done.append(d)
            print("DONE", d, flush=True)

    run_batch(Blocking(), store.catalog, org, as_of=datetime.fromisoformat(as_of),
              job_id=job, chunk_size=int(chunk), progress=progress)
    print("FINISHED", flush=True)
    """
)


def test_a_process_killed_with_sigkill_resumes_to_the_same_result(
    tmp_path: Path, template: Path
) -> None:
    """A runner process SIGKILLed inside its second chunk's transaction leaves
    the first chunk whole and nothing of the second; running the same job
    again in-process finishes it, equal to an uninterrupted run on a copy."""
    killed_path, reference_path = tmp_path / "killed.db", tmp_path / "reference.db"
    copy_database(template, killed_path)
    copy_database(template, reference_path)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(killed_path),
            ORG,
            AS_OF.isoformat(),
            JOB,
            "10",
            "4",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lines = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("BLOCKED"):
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert lines == ["DONE 10", "BLOCKED"]
    assert child.returncode == -signal.SIGKILL
    with SQLiteStore(killed_path) as killed, SQLiteStore(reference_path) as reference:
        assert killed.integrity_check() == "ok"
        assert_only_first_chunks(killed, 1, 10)
        resumed = run_batch(
            killed, killed.catalog, ORG, as_of=AS_OF, job_id=JOB, chunk_size=10
        )
        assert_resumed_equals_uninterrupted(resumed, killed, reference, done_before=10)


def test_a_run_stopped_between_chunks_resumes(setup: Setup) -> None:
    """An exception after a chunk committed (here from the progress callback)
    stops the run; the next run of the job starts after that chunk."""

    def stop(done: int, total: int) -> None:
        if done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(
            setup.store,
            setup.catalog,
            ORG,
            as_of=AS_OF,
            job_id=JOB,
            chunk_size=10,
            progress=stop,
        )
    assert_only_first_chunks(setup.store, 2, 10)
    calls: list[tuple[int, int]] = []
    resumed = run_batch(
        setup.store,
        setup.catalog,
        ORG,
        as_of=AS_OF,
        job_id=JOB,
        chunk_size=10,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(20, 24), (24, 24)]
    assert resumed.students_processed == 4
    assert resumed.dashboard == organization_dashboard(
        EXPECTED, organization_id=ORG, as_of=AS_OF
    )


# Each example sets up an organization and runs the job up to four times: a
# quarter of the profile's examples keeps the default run fast.
@settings(max_examples=max(10, settings().max_examples // 4))
@given(
    chunk_size=st.integers(1, 30),
    kills=st.lists(st.integers(1, 400), max_size=3),
)
def test_any_sequence_of_kills_ends_in_the_uninterrupted_result(
    chunk_size: int, kills: list[int]
) -> None:
    """Killed at any write any number of times, then run to the end, a job
    stores exactly what one uninterrupted run stores."""
    store, catalog = _populated_memory()
    for at in kills:
        with contextlib.suppress(Killed):
            run_batch(
                Killing(store, at=at),
                catalog,
                ORG,
                as_of=AS_OF,
                job_id=JOB,
                chunk_size=chunk_size,
            )
    final = run_batch(
        store, catalog, ORG, as_of=AS_OF, job_id=JOB, chunk_size=chunk_size
    )
    stored = dump(store)
    assert {k: v.record for k, v in stored["summaries"].items()} == {
        r.student_id: r.summary for r in EXPECTED
    }
    assert {k: v.version for k, v in stored["summaries"].items()} == dict.fromkeys(
        STUDENTS, 1
    )
    assert batch_events(store) == [e for r in EXPECTED for e in r.events]
    assert final.events_emitted == len(batch_events(store))
    assert final.dashboard == organization_dashboard(
        EXPECTED, organization_id=ORG, as_of=AS_OF
    )


def _populated_memory() -> tuple[InMemoryStore, InMemoryCatalog]:
    """A fresh in-memory store holding the populated organization."""
    store, catalog = InMemoryStore(), InMemoryCatalog()
    populate(store, catalog)
    return store, catalog


# -- concurrency ---------------------------------------------------------------------------------


def test_a_chunk_that_meets_a_conflict_is_computed_again() -> None:
    """A concurrent write to a record a chunk read makes its commit conflict;
    the chunk is computed again from the new state and the job completes."""
    store, catalog = _populated_memory()
    sid = STUDENTS[0]
    interfered: list[bool] = []

    class Interfering:
        def unit_of_work(self) -> BatchUnitOfWork:
            inner = store.unit_of_work()
            original = inner.commit

            def commit() -> None:
                if not interfered:
                    interfered.append(True)
                    with store.unit_of_work() as other:
                        other.roster.put(
                            ORG,
                            Enrollment(
                                student_id=sid,
                                class_ids=("class-1",),
                                assignment_ids=("class-1-a1",),
                            ),
                            expected_version=1,
                        )
                        other.commit()
                original()

            inner.commit = commit  # type: ignore[method-assign]
            return inner

    report = run_batch(Interfering(), catalog, ORG, as_of=AS_OF, job_id=JOB)
    assert interfered == [True]
    with store.unit_of_work() as uow:
        history = read_student_history(uow, catalog, ORG, sid, as_of=AS_OF)
        summary = uow.summaries.get(ORG, sid)
    assert summary is not None
    assert summary.record == summarize_student(history, as_of=AS_OF, run_id=JOB).summary
    assert report.students_processed == len(STUDENTS)


def test_conflicts_beyond_the_retries_are_raised() -> None:
    """A chunk that conflicts every time raises ConflictError after
    ``max_retries`` more tries, and leaves nothing of the chunk."""
    store, catalog = _populated_memory()
    tries: list[int] = []

    class Conflicting:
        def unit_of_work(self) -> BatchUnitOfWork:
            inner = store.unit_of_work()

            def commit() -> None:
                tries.append(1)
                raise ConflictError("a concurrent writer won")

            inner.commit = commit  # type: ignore[method-assign]
            return inner

    with pytest.raises(ConflictError):
        run_batch(Conflicting(), catalog, ORG, as_of=AS_OF, max_retries=2)
    assert len(tries) == 3
    assert dump(store)["summaries"] == dict.fromkeys(STUDENTS)


@pytest.mark.parametrize("overtaken_after", [0, 10])
def test_a_run_overtaken_by_another_run_of_the_job_reports_every_student(
    setup: Setup, overtaken_after: int
) -> None:
    """When another run of the same job commits chunks while this one runs
    (before its first chunk, or between two), this run re-reads the students
    that run wrote: its dashboard, class summaries and at-risk count fold
    every student, as an uninterrupted run's do."""
    other: list[BatchReport] = []

    def overtaken(done: int, total: int) -> None:
        if done >= overtaken_after and not other:
            other.append(
                run_batch(
                    setup.store,
                    setup.catalog,
                    ORG,
                    as_of=AS_OF,
                    job_id=JOB,
                    chunk_size=7,
                )
            )

    mine = run_batch(
        setup.store,
        setup.catalog,
        ORG,
        as_of=AS_OF,
        job_id=JOB,
        chunk_size=10,
        progress=overtaken,
    )
    expected = organization_dashboard(EXPECTED, organization_id=ORG, as_of=AS_OF)
    assert other[0].dashboard == expected
    assert mine.dashboard == expected
    assert mine.class_summaries == expected.classes
    assert mine.at_risk_count == sum(r.summary.at_risk for r in EXPECTED) > 0
    assert mine.students_processed == overtaken_after
    assert {k: v.record for k, v in dump(setup.store)["summaries"].items()} == {
        r.student_id: r.summary for r in EXPECTED
    }


#: A bad argument, past the type checker.
NOTHING: Any = None


# -- the calendar's ends -----------------------------------------------------------------


def test_the_batch_runs_only_where_what_it_derives_stays_in_the_calendar() -> None:
    """The range starts where the schedule's look back (8 days, D21) stays
    in year 1 and ends at the last quarter: the trend quarter of a snapshot
    dated as_of must end in the calendar."""
    assert (
        datetime(1, 1, 9, tzinfo=UTC),
        datetime(9999, 10, 1, tzinfo=UTC),
    ) == (FIRST_AS_OF, END_AS_OF)


@pytest.mark.parametrize(
    "as_of",
    [
        datetime(1, 1, 2, tzinfo=UTC),
        FIRST_AS_OF - timedelta(microseconds=1),
        END_AS_OF,
        datetime(9999, 12, 5, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
    ],
)
def test_an_as_of_outside_the_batch_range_is_refused_storing_nothing(
    as_of: datetime,
) -> None:
    """A moment whose schedule or trend periods leave the calendar raises
    InvalidInputError naming as_of (not an OverflowError or ValueError), and
    no job row, summary or snapshot is written."""
    store, catalog = InMemoryStore(), InMemoryCatalog()
    enroll(store, ORG, [Enrollment(student_id="ada")])
    with pytest.raises(InvalidInputError) as refused:
        run_batch(store, catalog, ORG, as_of=as_of, job_id=JOB)
    assert refused.value.field == "as_of"
    assert "a batch runs from 0001-01-09" in str(refused.value)
    with store.unit_of_work() as uow:
        assert uow.jobs.get(ORG, JOB) is None
        assert uow.summaries.get(ORG, "ada") is None


@pytest.mark.parametrize(
    "as_of",
    [FIRST_AS_OF, datetime(9999, 9, 27, tzinfo=UTC), END_AS_OF - timedelta(hours=1)],
)
def test_the_batch_runs_at_the_ends_of_its_range(as_of: datetime) -> None:
    """The first moment of the range and the last hours before its end run,
    snapshot slots included (9999-09-27 is a Sunday, a weekly slot)."""
    store, catalog = InMemoryStore(), InMemoryCatalog()
    enroll(store, ORG, [Enrollment(student_id="ada")])
    report = run_batch(store, catalog, ORG, as_of=as_of)
    assert report.students_processed == 1
    assert report.dashboard.figures.students == 1


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 8, 23, tzinfo=UTC),
        datetime(9999, 12, 24, tzinfo=UTC),
        datetime(9999, 12, 31, 23, tzinfo=UTC),
    ],
)
def test_slots_near_the_calendar_ends_are_a_typed_error(at: datetime) -> None:
    """The schedule looks 8 days either side of a moment for its slots (D21):
    within 8 days of the calendar's ends that is InvalidInputError, not the
    rrule's OverflowError or ValueError."""
    with pytest.raises(InvalidInputError) as kinds:
        scheduled_snapshot_kinds(at)
    assert kinds.value.field == "at"
    for kind in (JobKind.DAILY_SNAPSHOT, JobKind.WEEKLY_ROLLUP):
        with pytest.raises(InvalidInputError) as latest:
            latest_slot(kind, at=at)
        with pytest.raises(InvalidInputError) as after:
            next_due(Job(kind=kind, target_id=ORG), last_run=at, now=at)
        assert (latest.value.field, after.value.field) == ("at", "last_run")


@pytest.mark.parametrize(
    "call",
    [
        lambda: latest_slot(JobKind.DAILY_SNAPSHOT, at=AS_OF, policy=NOTHING),
        lambda: next_due(NOTHING, last_run=None, now=AS_OF),
        lambda: due_jobs(AS_OF, last_runs=NOTHING, student_activity={}),
        lambda: due_jobs(AS_OF, last_runs={}, student_activity=NOTHING),
        lambda: due_jobs(AS_OF, last_runs={}, student_activity={}, class_ids="5b"),
        lambda: iter_due_jobs(AS_OF, last_runs={}, student_activity={}, policy=NOTHING),
        lambda: scheduled_snapshot_kinds(AS_OF, policy=NOTHING),
        lambda: policy_fingerprint(NOTHING),
    ],
    ids=[
        "latest_slot-policy",
        "next_due-job",
        "due_jobs-last_runs",
        "due_jobs-student_activity",
        "due_jobs-class_ids",
        "iter_due_jobs-policy",
        "scheduled_snapshot_kinds-policy",
        "policy_fingerprint",
    ],
)
def test_the_schedule_refuses_what_is_no_policy_job_or_mapping(call: Any) -> None:
    """The schedule's public functions name a bad argument in
    InvalidInputError (not AttributeError), even before a job is yielded."""
    with pytest.raises(InvalidInputError):
        call()


def test_a_history_leaves_out_snapshots_dated_after_as_of(setup: Setup) -> None:
    """Snapshots dated after as_of are not yet history: a far-future one
    stored (by a batch run then) changes neither the history nor the trends
    of a run now."""
    sid = STUDENTS[0]
    far = student_snapshot(
        StudentProgressSummary(student_id=sid, organization_id=ORG),
        snapshot_id="far-future",
        snapshot_date=datetime(9999, 12, 5, tzinfo=UTC),
        trigger=SnapshotTrigger.SCHEDULED,
    )
    with setup.store.unit_of_work() as uow:
        uow.snapshots.append(ORG, far)
        uow.commit()
    with setup.store.unit_of_work() as uow:
        history = read_student_history(uow, setup.catalog, ORG, sid, as_of=AS_OF)
    assert far not in history.snapshots
    report = run_batch(setup.store, setup.catalog, ORG, as_of=AS_OF, job_id=JOB)
    assert report.dashboard == organization_dashboard(
        EXPECTED, organization_id=ORG, as_of=AS_OF
    )
