"""The batch runner: an organization's student summaries and at-risk flags,
recomputed over the ports in chunks, resumably (spec: Batch Updates,
Student Progress Summary, At-Risk Student Detection; D17, D20, D21).

:func:`run_batch` walks the organization's roster in ascending student ids,
a chunk at a time. For each student it reads their records through the
ports (one student in memory at a time), calls the pure batch layer
(:func:`~mlc_progress._rollups.summarize_student`), and writes, in ONE unit
of work per chunk, every changed :class:`StudentProgressSummary` and
:class:`RiskState`, the ``student_at_risk_detected`` events (to the outbox),
the intervention snapshots, the scheduled snapshots when ``as_of`` is a
snapshot slot (D21), the dismissal statistics and the job's progress row.
A run killed at any moment leaves whole chunks behind; running the job
again (same ``job_id``) continues after the last committed chunk, and the
stored result equals that of an uninterrupted run. Running a finished job
again changes nothing, and so does a new job at the same ``as_of``: only
what changed is written, and D17's event fires only on a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from . import _validate as v
from ._enums import ScopeType
from ._errors import InvalidInputError, NotFoundError
from ._history import AssignmentRecords
from ._pacing import utc_argument
from ._policy import DEFAULT_POLICY, Policy, check_policy
from ._ports import (
    BatchJobProgress,
    BatchStore,
    BatchUnitOfWork,
    Enrollment,
    StructureCatalog,
)
from ._records import ProgressSnapshot
from ._retry import check_retries, retrying
from ._risk import DismissalStats, RiskState
from ._rollups import (
    ClassSummary,
    OrganizationDashboard,
    OrganizationDashboardAccumulator,
    SequenceRecords,
    StudentHistory,
    StudentResult,
    TrendPeriod,
    daily_snapshots,
    period_start,
    summarize_student,
    weekly_rollup_snapshot,
)
from ._schedule import SLOT_REACH, JobKind, latest_slot
from ._structure import AssignmentStructure, SequenceStructure
from ._telemetry import MetricName, MetricsSink, measure

__all__ = [
    "END_AS_OF",
    "FIRST_AS_OF",
    "BatchReport",
    "ProgressCallback",
    "default_job_id",
    "enroll",
    "policy_fingerprint",
    "read_student_history",
    "run_batch",
    "scheduled_snapshot_kinds",
]

T = TypeVar("T")

#: ``progress(done, total)``: students done in the job so far, and in all.
ProgressCallback = Callable[[int, int], None]

_WEEK = timedelta(days=7)

#: The earliest ``as_of`` a batch runs at: the schedule looks
#: :data:`~mlc_progress._schedule.SLOT_REACH` back for a slot (D21), further
#: than the trailing week reaches (Q37), and both must stay in the calendar.
FIRST_AS_OF = datetime.min.replace(tzinfo=UTC) + max(SLOT_REACH, _WEEK)

#: The first ``as_of`` past the batch's range: a run stores snapshots dated
#: ``as_of``, and every trend period that holds one (the quarter is the
#: longest) must end in the calendar, or no later report could fold it.
END_AS_OF = min(
    period_start(datetime.max.replace(tzinfo=UTC), period) for period in TrendPeriod
)

#: Appended to the fingerprint of a job at a snapshot slot run without its
#: scheduled snapshots, so it resumes only that way.
_NO_SNAPSHOTS = "+no-scheduled-snapshots"

#: The id prefix of each kind of scheduled snapshot (``_rollups`` builds them).
_SCHEDULED_PREFIXES = {
    JobKind.DAILY_SNAPSHOT: "scheduled/daily/",
    JobKind.WEEKLY_ROLLUP: "scheduled/weekly/",
}


def _kinds(_: Any, attribute: Any, value: Any) -> None:
    if not (
        isinstance(value, tuple)
        and all(isinstance(k, JobKind) for k in value)
        and len(set(value)) == len(value)
    ):
        raise InvalidInputError(attribute.name, value, "distinct JobKind members")


@attrs.frozen(kw_only=True)
class BatchReport:
    """What a run of a batch job did, and the job's result.

    ``students_processed`` and ``chunks_written`` are this run's;
    ``students_done_before`` were done by earlier runs of the job, and
    ``resumed`` says there were such runs. ``summaries_changed``,
    ``risk_states_changed``, ``events_emitted`` and ``failed_students``
    count the whole job, so a killed and resumed job reports what an
    uninterrupted one does. ``at_risk_count`` is the organization's
    effective at-risk students as of ``as_of`` (not dismissed, D17);
    ``class_summaries`` and ``dashboard`` fold every student of the roster
    (those of earlier runs re-read, never re-written); ``dismissal_stats``
    are the organization's, as stored. ``scheduled_snapshots`` are the
    clock jobs whose snapshots the job took (see
    :func:`scheduled_snapshot_kinds`).
    """

    job_id: str = attrs.field(validator=v.identifier)
    organization_id: str = attrs.field(validator=v.identifier)
    as_of: datetime = attrs.field(converter=v.to_utc, validator=v.utc_time)
    students_total: int = attrs.field(validator=v.count)
    students_processed: int = attrs.field(validator=v.count)
    students_done_before: int = attrs.field(validator=v.count)
    chunks_written: int = attrs.field(validator=v.count)
    resumed: bool = attrs.field(validator=v.boolean)
    summaries_changed: int = attrs.field(validator=v.count)
    risk_states_changed: int = attrs.field(validator=v.count)
    at_risk_count: int = attrs.field(validator=v.count)
    events_emitted: int = attrs.field(validator=v.count)
    failed_students: tuple[str, ...] = attrs.field(validator=v.identifiers)
    class_summaries: tuple[ClassSummary, ...]
    dashboard: OrganizationDashboard
    dismissal_stats: DismissalStats
    scheduled_snapshots: tuple[JobKind, ...] = attrs.field(default=(), validator=_kinds)


def scheduled_snapshot_kinds(
    as_of: datetime, *, policy: Policy = DEFAULT_POLICY
) -> tuple[JobKind, ...]:
    """The scheduled snapshots a batch job as of ``as_of`` takes (D21):
    ``daily_snapshot`` when ``as_of`` is exactly a daily slot
    (``policy.schedule.snapshot_hour_utc``, 00:00 UTC), and also
    ``weekly_rollup`` when it is the weekly slot (Sunday 00:00 UTC). Any
    other moment takes none: the host's scheduler runs the job at the slot
    :func:`~mlc_progress._schedule.due_jobs` names. A moment within 8 days of
    the calendar's ends raises :class:`InvalidInputError`
    (:func:`~mlc_progress._schedule.latest_slot`).

    >>> from datetime import datetime, UTC
    >>> [k.value for k in scheduled_snapshot_kinds(datetime(2026, 10, 4, tzinfo=UTC))]
    ['daily_snapshot', 'weekly_rollup']
    >>> scheduled_snapshot_kinds(datetime(2026, 10, 2, tzinfo=UTC))
    (<JobKind.DAILY_SNAPSHOT: 'daily_snapshot'>,)
    >>> scheduled_snapshot_kinds(datetime(2026, 10, 2, 9, tzinfo=UTC))
    ()
    """
    as_of = utc_argument("as_of", as_of)
    return tuple(
        kind
        for kind in (JobKind.DAILY_SNAPSHOT, JobKind.WEEKLY_ROLLUP)
        if latest_slot(kind, at=as_of, policy=policy) == as_of
    )


def batch_as_of(as_of: datetime) -> datetime:
    """``as_of`` in UTC, refused outside ``[FIRST_AS_OF, END_AS_OF)``: the
    one home of the batch's range, which the command line and the demo
    check too."""
    as_of = utc_argument("as_of", as_of)
    if not FIRST_AS_OF <= as_of < END_AS_OF:
        raise InvalidInputError(
            "as_of",
            as_of,
            f"a batch runs from {FIRST_AS_OF.isoformat()} (D21: its schedule looks"
            f" {SLOT_REACH.days} days back) to before {END_AS_OF.isoformat()} (the"
            " trend periods of the snapshots it stores end in the calendar)",
        )
    return as_of


def _check_port(field: str, port: object, kind: str, method: str) -> None:
    if not callable(getattr(port, method, None)):
        raise InvalidInputError(field, port, f"a {kind} (with {method})")


def default_job_id(as_of: datetime) -> str:
    """The job id of a run that names none: one job per ``as_of``, so the
    same command run again after a kill resumes it.

    >>> from datetime import datetime, UTC
    >>> default_job_id(datetime(2026, 9, 8, 2, tzinfo=UTC))
    'student-summaries@2026-09-08T02:00:00Z'
    """
    stamp = utc_argument("as_of", as_of).isoformat().replace("+00:00", "Z")
    return f"student-summaries@{stamp}"


def policy_fingerprint(policy: Policy) -> str:
    """A short digest of every threshold of ``policy``: a job refuses to be
    resumed under another policy, which would mix two rule sets.

    >>> policy_fingerprint(Policy()) == policy_fingerprint(Policy())
    True
    >>> policy_fingerprint(Policy()) == policy_fingerprint(Policy(risk_inactive_days=9))
    False
    """
    check_policy(policy)
    text = json.dumps(policy.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- reading one student ------------------------------------------------------------


class _Structures:
    """The catalog's structures, read once per run: a run computes every
    student against the same version of the content."""

    def __init__(self, catalog: StructureCatalog, organization_id: str) -> None:
        self._catalog = catalog
        self._organization_id = organization_id
        self._assignments: dict[str, AssignmentStructure] = {}
        self._sequences: dict[str, SequenceStructure] = {}

    def assignment(self, assignment_id: str) -> AssignmentStructure:
        found = self._assignments.get(assignment_id)
        if found is None:
            found = self._catalog.assignment(self._organization_id, assignment_id)
            self._assignments[assignment_id] = found
        return found

    def sequence(self, sequence_id: str) -> SequenceStructure:
        found = self._sequences.get(sequence_id)
        if found is None:
            found = self._catalog.sequence(self._organization_id, sequence_id)
            self._sequences[sequence_id] = found
        return found


def read_student_history(
    uow: BatchUnitOfWork,
    catalog: StructureCatalog,
    organization_id: str,
    student_id: str,
    *,
    as_of: datetime,
) -> StudentHistory:
    """One student's :class:`StudentHistory` as stored, for a batch run as of
    ``as_of`` (decisions: batch inputs).

    Assignments are those of the student's enrollment and those with a
    stored record, by id; each with its structure, stored record and the
    step records of the structure's steps (records of steps a migration
    removed stay stored and are left out). Sequences are those of the
    enrollment and of the assignments. Attempts are those of the trailing
    week; activity days every UTC day with an attempt up to ``as_of``;
    snapshots the student-scope ones dated up to ``as_of`` (a later one is
    not yet history). A student who is not enrolled reads
    with no classes. Raises :class:`NotFoundError` for content the catalog
    lacks and :class:`InvalidInputError` for stored records that break an
    invariant (D4).

    >>> from datetime import datetime, UTC
    >>> from mlc_progress import AssignmentStructure
    >>> from mlc_progress.adapters import InMemoryCatalog, InMemoryStore
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> catalog = InMemoryCatalog()
    >>> catalog.add_assignment("org-1", AssignmentStructure(
    ...     assignment_id="a1", steps=(), created_at=t0))
    >>> store = InMemoryStore()
    >>> enroll(store, "org-1", [Enrollment(student_id="ada", assignment_ids=("a1",))])
    1
    >>> with store.unit_of_work() as uow:
    ...     history = read_student_history(uow, catalog, "org-1", "ada", as_of=t0)
    >>> [a.structure.assignment_id for a in history.assignments]
    ['a1']
    """
    v.check_id_value("organization_id", organization_id)
    v.check_id_value("student_id", student_id)
    as_of = utc_argument("as_of", as_of)
    return _read_history(
        uow, _Structures(catalog, organization_id), organization_id, student_id, as_of
    )


def _read_history(
    uow: BatchUnitOfWork,
    structures: _Structures,
    organization_id: str,
    student_id: str,
    as_of: datetime,
    skip_snapshots: Callable[[ProgressSnapshot], bool] | None = None,
) -> StudentHistory:
    org, sid = organization_id, student_id
    found = uow.roster.get(org, sid)
    enrollment = found.record if found is not None else Enrollment(student_id=sid)
    stored = {
        p.record.assignment_id: p.record
        for p in uow.progress.assignments_for_student(org, sid)
    }
    assignment_ids = sorted({*enrollment.assignment_ids, *stored})
    assignments: list[AssignmentRecords] = []
    sequence_ids = set(enrollment.sequence_ids)
    for aid in assignment_ids:
        structure = structures.assignment(aid)
        if structure.sequence_id is not None:
            sequence_ids.add(structure.sequence_id)
        records = uow.progress.steps(org, sid, aid)
        steps = tuple(
            records[d.step_id].record for d in structure.steps if d.step_id in records
        )
        assignments.append(
            AssignmentRecords(
                structure=structure, progress=stored.get(aid), steps=steps
            )
        )
    sequences = []
    for qid in sorted(sequence_ids):
        progress = uow.progress.sequence(org, sid, qid)
        sequences.append(
            SequenceRecords(
                structure=structures.sequence(qid),
                progress=progress.record if progress is not None else None,
            )
        )
    listed = set(assignment_ids)
    attempts = tuple(
        a
        for a in uow.attempts.for_student(org, sid, after=as_of - _WEEK, until=as_of)
        if a.assignment_id in listed
    )
    snapshots = tuple(
        s
        for s in uow.snapshots.for_student(org, sid, scope_type=ScopeType.STUDENT)
        if s.snapshot_date <= as_of
        and (skip_snapshots is None or not skip_snapshots(s))
    )
    return StudentHistory(
        student_id=sid,
        organization_id=org,
        class_ids=enrollment.class_ids,
        assignments=tuple(assignments),
        sequences=tuple(sequences),
        attempts=attempts,
        activity_days=uow.attempts.activity_days(org, sid, until=as_of),
        snapshots=snapshots,
    )


# -- the runner ------------------------------------------------------------------------


@attrs.frozen
class _Job:
    """What every chunk of one run shares."""

    store: BatchStore
    structures: _Structures
    organization_id: str
    job_id: str
    as_of: datetime
    policy: Policy
    fingerprint: str
    chunk_size: int
    metrics: MetricsSink | None
    max_retries: int
    scheduled: tuple[JobKind, ...] = ()

    def new_progress(self) -> BatchJobProgress:
        return BatchJobProgress(
            job_id=self.job_id, as_of=self.as_of, policy_fingerprint=self.fingerprint
        )

    def check(self, found: BatchJobProgress) -> None:
        """A job resumes only as it began: same moment, same policy."""
        if found.as_of != self.as_of:
            raise InvalidInputError(
                "as_of",
                self.as_of,
                f"job {self.job_id!r} runs as of {found.as_of.isoformat()}",
            )
        base = self.fingerprint.removesuffix(_NO_SNAPSHOTS)
        if (
            found.policy_fingerprint != self.fingerprint
            and found.policy_fingerprint.removesuffix(_NO_SNAPSHOTS) == base
        ):
            raise InvalidInputError(
                "scheduled_snapshots",
                not self.fingerprint.endswith(_NO_SNAPSHOTS),
                f"job {self.job_id!r} began "
                + ("without" if found.policy_fingerprint != base else "with")
                + " its scheduled snapshots",
            )
        if found.policy_fingerprint != self.fingerprint:
            raise InvalidInputError(
                "policy",
                self.fingerprint,
                f"job {self.job_id!r} runs under policy {found.policy_fingerprint}",
            )

    def summarize(
        self, uow: BatchUnitOfWork, student_id: str, *, replay: bool = False
    ) -> tuple[StudentResult, RiskState | None, int, StudentHistory]:
        """One student's result, the stored state it started from, that
        state's version and the history read. ``replay`` re-reads a student
        an earlier run of this job wrote, leaving out the snapshots the job
        made. A job at a snapshot slot never reads the scheduled snapshots of
        its own slot (whoever stored them), so its results do not depend on
        how far an earlier run of it, or another job at the slot, came."""
        org = self.organization_id
        own = f"{self.job_id}/{student_id}/"
        prefixes = tuple(_SCHEDULED_PREFIXES[k] for k in self.scheduled)
        as_of = self.as_of

        def skip(snapshot: ProgressSnapshot) -> bool:
            sid = snapshot.snapshot_id
            if replay and sid.startswith(own):
                return True
            return snapshot.snapshot_date == as_of and sid.startswith(prefixes)

        history = _read_history(
            uow,
            self.structures,
            org,
            student_id,
            self.as_of,
            skip_snapshots=skip,
        )
        stored = uow.risk.get(org, student_id)
        previous = stored.record if stored is not None else None
        result = summarize_student(
            history,
            as_of=self.as_of,
            run_id=self.job_id,
            policy=self.policy,
            previous_risk=previous,
        )
        return result, previous, stored.version if stored is not None else 0, history

    def scheduled_for(
        self, history: StudentHistory, result: StudentResult
    ) -> tuple[ProgressSnapshot, ...]:
        """The scheduled snapshots of one student the job takes (D21)."""
        out: list[ProgressSnapshot] = []
        if JobKind.DAILY_SNAPSHOT in self.scheduled:
            out.extend(daily_snapshots(history, result, slot=self.as_of))
        if JobKind.WEEKLY_ROLLUP in self.scheduled:
            out.append(weekly_rollup_snapshot(result, slot=self.as_of))
        return tuple(out)


@attrs.frozen
class _Chunk:
    """A chunk's results, the job's row after it, and the row it began from
    (``None``: the job had none yet)."""

    progress: BatchJobProgress
    started: BatchJobProgress | None
    results: tuple[StudentResult, ...] = ()
    students: int = 0


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _transact(
    store: BatchStore, max_retries: int, work: Callable[[BatchUnitOfWork], T]
) -> T:
    """Run ``work`` in a new unit of work, retrying conflicts and busy
    storage up to ``max_retries`` times (as the service does, Q56)."""

    def attempt() -> T:
        with store.unit_of_work() as uow:
            return work(uow)

    return retrying(attempt, max_retries=max_retries)


def _write_chunk(job: _Job, uow: BatchUnitOfWork) -> _Chunk:
    """Compute and write the next chunk of the job in ``uow``; commit."""
    org = job.organization_id
    found = uow.jobs.get(org, job.job_id)
    started = found.record if found is not None else None
    progress = started if started is not None else job.new_progress()
    job.check(progress)
    if progress.finished:
        return _Chunk(progress=progress, started=started)
    ids = uow.roster.student_ids(
        org, after=progress.last_student_id, limit=job.chunk_size
    )
    with measure(
        job.metrics,
        MetricName.PROGRESS_AGGREGATION_TIME_MS,
        {"aggregation_scope": "organization", "record_count": len(ids)},
    ):
        stats_found = uow.risk.dismissal_stats(org)
        stats_before = stats_found.record if stats_found else DismissalStats()
        stats = stats_before
        results: list[StudentResult] = []
        failed: list[str] = []
        summaries = states = events = 0
        for sid in ids:
            try:
                result, previous, version, history = job.summarize(uow, sid)
            except (InvalidInputError, NotFoundError):
                # D4: a student whose stored records break an invariant is
                # reported in the job, not skipped silently; the rest go on.
                failed.append(sid)
                continue
            summary = result.summary
            stored = uow.summaries.get(org, sid)
            if stored is None or stored.record != summary:
                uow.summaries.put(
                    org, summary, expected_version=stored.version if stored else 0
                )
                summaries += 1
            # Q97: written only when it differs; the moment of assessment
            # alone is not a change.
            if previous is None or attrs.evolve(
                previous, assessed_at=None
            ) != attrs.evolve(result.risk.state, assessed_at=None):
                uow.risk.put(org, result.risk.state, expected_version=version)
                states += 1
            for snapshot in result.snapshots:
                uow.snapshots.append(org, snapshot)
            scheduled = job.scheduled_for(history, result)
            if scheduled:
                # D21, D3: ids come from the slot; those already stored (by
                # another job at the slot) are not appended again.
                stored_ids = {
                    s.snapshot_id for s in uow.snapshots.for_student(org, sid)
                }
                for snapshot in scheduled:
                    if snapshot.snapshot_id not in stored_ids:
                        uow.snapshots.append(org, snapshot)
            if result.events:
                uow.outbox.append(org, result.events)
                events += len(result.events)
            stats = stats.add_update(result.risk)
            results.append(result)
        if stats != stats_before:
            uow.risk.put_dismissal_stats(
                org, stats, expected_version=stats_found.version if stats_found else 0
            )
        progress = attrs.evolve(
            progress,
            last_student_id=ids[-1] if ids else progress.last_student_id,
            students_done=progress.students_done + len(ids),
            chunks_written=progress.chunks_written + (1 if ids else 0),
            summaries_changed=progress.summaries_changed + summaries,
            risk_states_changed=progress.risk_states_changed + states,
            events_emitted=progress.events_emitted + events,
            failed_students=(*progress.failed_students, *failed),
            finished=len(ids) < job.chunk_size,
        )
        uow.jobs.put(
            org, progress, expected_version=found.version if found is not None else 0
        )
        uow.commit()
    return _Chunk(
        progress=progress, started=started, results=tuple(results), students=len(ids)
    )


def _replay(
    job: _Job, done: BatchJobProgress, *, after: str | None = None
) -> Iterator[StudentResult]:
    """The results of the students other runs of the job wrote, after
    ``after`` up to ``done``'s last, re-read (never re-written), a chunk per
    unit of work left without commit."""
    last = done.last_student_id
    if last is None:
        return
    skip = frozenset(done.failed_students)
    while True:

        def read(
            uow: BatchUnitOfWork, after: str | None = after
        ) -> tuple[tuple[str, ...], list[StudentResult]]:
            listed = uow.roster.student_ids(
                job.organization_id, after=after, limit=job.chunk_size
            )
            ids = tuple(sid for sid in listed if sid <= last)
            found: list[StudentResult] = []
            for sid in ids:
                if sid in skip:
                    continue
                try:
                    found.append(job.summarize(uow, sid, replay=True)[0])
                except (InvalidInputError, NotFoundError):
                    continue
            return ids, found

        ids, results = _transact(job.store, job.max_retries, read)
        yield from results
        if len(ids) < job.chunk_size:
            return
        after = ids[-1]


def run_batch(
    store: BatchStore,
    catalog: StructureCatalog,
    organization_id: str,
    *,
    as_of: datetime,
    policy: Policy = DEFAULT_POLICY,
    chunk_size: int = 500,
    progress: ProgressCallback | None = None,
    job_id: str | None = None,
    metrics: MetricsSink | None = None,
    max_retries: int = 3,
    scheduled_snapshots: bool = True,
) -> BatchReport:
    """Recompute the summaries and at-risk flags of an organization's roster
    as of ``as_of``, ``chunk_size`` students per transaction (spec: Batch
    Updates; D17, D20).

    When ``as_of`` is a snapshot slot (:func:`scheduled_snapshot_kinds`,
    D21) and ``scheduled_snapshots`` is true, each chunk also appends its
    students' daily snapshots and, on the weekly slot, their weekly rollups,
    skipping ids already stored, so every one is stored exactly once however
    often the job is killed, resumed or run again. A job resumes only with
    the ``scheduled_snapshots`` it began with.

    ``job_id`` names the job (default: :func:`default_job_id`); running it
    again resumes after its last committed chunk, or changes nothing once
    it finished. ``progress(done, total)`` is called before the first chunk
    and after each committed one. Each chunk's time goes to ``metrics`` as
    ``progress_aggregation_time_ms`` (never sampled, D23). A chunk that
    meets a conflict or busy storage is retried up to ``max_retries``
    times, then the error is raised (the chunk stored nothing). A student
    whose stored records cannot be read (content missing from the catalog,
    a record breaking an invariant, D4) is listed in ``failed_students``
    and the others go on. The dashboard folds every student of the roster:
    those another run of the job wrote meanwhile are re-read as an earlier
    run's are. Raises :class:`InvalidInputError` for a job id already used
    with another ``as_of`` or policy, and for an ``as_of`` outside
    ``[FIRST_AS_OF, END_AS_OF)``.

    >>> from datetime import datetime, UTC
    >>> from mlc_progress.adapters import InMemoryCatalog, InMemoryStore
    >>> store = InMemoryStore()
    >>> enroll(store, "org-1", [Enrollment(student_id="ada")])
    1
    >>> report = run_batch(store, InMemoryCatalog(), "org-1",
    ...                    as_of=datetime(2026, 9, 8, tzinfo=UTC))
    >>> report.students_processed, report.summaries_changed, report.resumed
    (1, 1, False)
    >>> again = run_batch(store, InMemoryCatalog(), "org-1",
    ...                   as_of=datetime(2026, 9, 8, tzinfo=UTC))
    >>> again.students_processed, again.resumed
    (0, True)
    """
    _check_port("store", store, "BatchStore", "unit_of_work")
    _check_port("catalog", catalog, "StructureCatalog", "assignment")
    if metrics is not None:
        _check_port("metrics", metrics, "MetricsSink", "record")
    v.check_id_value("organization_id", organization_id)
    as_of = batch_as_of(as_of)
    check_policy(policy)
    if progress is not None and not callable(progress):
        raise InvalidInputError("progress", progress, "None or progress(done, total)")
    if not (_whole(chunk_size) and chunk_size > 0):
        raise InvalidInputError("chunk_size", chunk_size, "a positive integer")
    check_retries(max_retries)
    if job_id is None:
        job_id = default_job_id(as_of)
    v.check_id_value("job_id", job_id)
    if not isinstance(scheduled_snapshots, bool):
        raise InvalidInputError(
            "scheduled_snapshots", scheduled_snapshots, "True or False"
        )
    slot_kinds = scheduled_snapshot_kinds(as_of, policy=policy)
    fingerprint = policy_fingerprint(policy)
    if slot_kinds and not scheduled_snapshots:
        fingerprint += _NO_SNAPSHOTS
    job = _Job(
        store=store,
        structures=_Structures(catalog, organization_id),
        organization_id=organization_id,
        job_id=job_id,
        as_of=as_of,
        policy=policy,
        fingerprint=fingerprint,
        chunk_size=chunk_size,
        metrics=metrics,
        max_retries=max_retries,
        scheduled=slot_kinds if scheduled_snapshots else (),
    )

    def start(uow: BatchUnitOfWork) -> tuple[BatchJobProgress | None, int]:
        found = uow.jobs.get(organization_id, job_id)
        return (found.record if found else None), uow.roster.count(organization_id)

    earlier, total = _transact(store, max_retries, start)
    if earlier is not None:
        job.check(earlier)
    board = OrganizationDashboardAccumulator(
        organization_id=organization_id, as_of=as_of, policy=policy
    )
    before = earlier.students_done if earlier is not None else 0
    if earlier is not None:
        for result in _replay(job, earlier):
            board.add(result)
    if progress is not None:
        progress(before, max(total, before))
    processed = chunks = 0
    seen = earlier.last_student_id if earlier is not None else None
    while True:
        chunk = _transact(store, max_retries, lambda uow: _write_chunk(job, uow))
        began = chunk.started
        if began is not None and began.last_student_id != seen:
            # Another run of the job committed chunks since this run last
            # looked: their students are re-read, as an earlier run's are.
            for result in _replay(job, began, after=seen):
                board.add(result)
        seen = chunk.progress.last_student_id
        for result in chunk.results:
            board.add(result)
        processed += chunk.students
        chunks += 1 if chunk.students else 0
        done = chunk.progress
        if chunk.students and progress is not None:
            progress(done.students_done, max(total, done.students_done))
        if done.finished:
            break

    def stats(uow: BatchUnitOfWork) -> DismissalStats:
        found = uow.risk.dismissal_stats(organization_id)
        return found.record if found is not None else DismissalStats()

    dashboard = board.result()
    return BatchReport(
        job_id=job_id,
        organization_id=organization_id,
        as_of=as_of,
        students_total=max(total, done.students_done),
        students_processed=processed,
        students_done_before=before,
        chunks_written=chunks,
        resumed=earlier is not None,
        summaries_changed=done.summaries_changed,
        risk_states_changed=done.risk_states_changed,
        at_risk_count=dashboard.figures.at_risk_students,
        events_emitted=done.events_emitted,
        failed_students=done.failed_students,
        class_summaries=dashboard.classes,
        dashboard=dashboard,
        dismissal_stats=_transact(store, max_retries, stats),
        scheduled_snapshots=job.scheduled,
    )


def enroll(
    store: BatchStore,
    organization_id: str,
    enrollments: Iterable[Enrollment],
    *,
    max_retries: int = 3,
) -> int:
    """Put students on the organization's roster in one transaction, each
    as given (replacing their entry); returns how many entries changed.

    >>> from mlc_progress.adapters import InMemoryStore
    >>> store = InMemoryStore()
    >>> enroll(store, "org-1", [Enrollment(student_id="ada", class_ids=("5B",))])
    1
    >>> enroll(store, "org-1", [Enrollment(student_id="ada", class_ids=("5B",))])
    0
    """
    _check_port("store", store, "BatchStore", "unit_of_work")
    v.check_id_value("organization_id", organization_id)
    check_retries(max_retries)
    if not isinstance(enrollments, Iterable):
        raise InvalidInputError("enrollments", enrollments, "an iterable of Enrollment")
    entries = tuple(enrollments)
    for entry in entries:
        if not isinstance(entry, Enrollment):
            raise InvalidInputError("enrollments", entry, "an Enrollment")

    def work(uow: BatchUnitOfWork) -> int:
        changed = 0
        for entry in entries:
            found = uow.roster.get(organization_id, entry.student_id)
            if found is not None and found.record == entry:
                continue
            uow.roster.put(
                organization_id,
                entry,
                expected_version=found.version if found is not None else 0,
            )
            changed += 1
        uow.commit()
        return changed

    return _transact(store, max_retries, work)
