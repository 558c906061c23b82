"""Batch recomputation at scale: the columnar kernel, the record path and a
plain pandas groupby, side by side.

The workload is an organization of students x 10 assignments x 10 steps:
1,000 students (100,000 step records) and 10,000 students (1,000,000), so
the growth shows. The step records are first generated as columns, one
numpy array per field in the conventions of :mod:`mlc_progress.columnar`
(times in microseconds with NaT for none, NaN for no score; about 110 bytes
a record), with this week's attempt log: the records already in memory, as
a columnar store or export holds them. Figures:

- ``batch_100k_s``, ``batch_1m_s``: the columnar kernel, seconds from those
  arrays to every assignment's progress, every student's summary and the
  D17 flags: building the ``StepColumns``, which validates every rule of
  every record (the records' construction; the arrays are handed over,
  ``copy=False``), plus ``summarize_columns``. The best of seven runs (the
  100k run takes about 10 ms, so a single run is mostly noise);
  ``batch_columns_1m_s`` is the building-and-validating part of the best run
  of that part;
- ``batch_1m_peak_mib``: the peak resident memory (``ru_maxrss``) of the
  process that generated the 1M records and ran the kernel, read before the
  pandas and record-path comparisons run. Each size runs in a fresh child
  process, so the figure is that process's own peak: the interpreter,
  numpy, the library, the arrays and the kernel's work. Not ``tracemalloc``:
  it slows allocation, and resident memory is what a host pays for;
- ``batch_growth_x``: ``batch_1m_s / batch_100k_s``, shown for reading;
- ``pandas_1m_s`` (and ``pandas_100k_s``): a plain pandas groupby computing
  only the completion percentage (D10) and the stage-weighted mastery score
  (D12) per (student, assignment) over the same rows, from the same arrays,
  best of seven in the same process, so both sides are timed alike (pandas'
  first run costs about three times its best); the run checks that the
  kernel's figures equal pandas' within 1e-9;
- ``batch_records_100k_s``, ``batch_records_1m_s``: the record path,
  streaming from the same arrays: for each student it builds their 100
  ``StepProgress`` records and the ``StudentHistory``, calls
  ``summarize_student`` and folds the result into an
  ``OrganizationDashboardAccumulator`` (one run). The run
  checks that its completion and mastery equal the kernel's exactly, and on
  a sample of students that every figure of the kernel (the summary, every
  assignment's progress, the assessed factors) equals the record path's,
  floats bit for bit; ``batch_records_over_kernel_x`` is the ratio at 1M;
- ``batch_runner_sqlite_students_per_s``: ``run_batch`` over a SQLite file
  (reading and decoding every record, writing every summary and state), on
  300 students x 10 x 10 (30 with ``--quick``).

Targets: ``batch_1m_s <= 3 x pandas_1m_s``, ``batch_1m_s / batch_100k_s <=
11`` (linear growth), ``batch_1m_peak_mib <= 300``. ``--quick`` runs 100 and
1,000 students.

Run alone with ``python bench/bench_batch.py [--quick]``; ``--profile``
profiles the kernel at 1M with pyinstrument.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ASSIGNMENTS = 10
STEPS = 10
CLASS_SIZE = 25
ORG = "org-bench"
T0 = datetime(2026, 9, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=70)

UNITS = {
    "batch_100k_s": "s",
    "batch_1m_s": "s",
    "batch_columns_1m_s": "s",
    "batch_1m_peak_mib": "MiB",
    "batch_100k_peak_mib": "MiB",
    "pandas_100k_s": "s",
    "pandas_1m_s": "s",
    "batch_1m_over_pandas_x": "x",
    "batch_growth_x": "x",
    "batch_records_100k_s": "s",
    "batch_records_1m_s": "s",
    "batch_records_over_kernel_x": "x",
    "batch_runner_sqlite_students_per_s": "students/s",
}

TARGETS = [
    (
        "batch_1m_s",
        "<=",
        ("pandas_1m_s", 3.0),
        "1M step records recomputed within 3x a plain pandas groupby",
    ),
    (
        "batch_1m_s",
        "<=",
        ("batch_100k_s", 11.0),
        "10x the records costs at most 11x the time (linear growth)",
    ),
    (
        "batch_1m_peak_mib",
        "<=",
        300.0,
        "recomputing 1M step records stays under 300 MiB resident",
    ),
]

# Kernel and pandas: the best of this many runs, in the same process.
REPEATS = 7
# Students whose every figure is checked against the record path.
SAMPLE = 25


# -- the compact workload ----------------------------------------------------------


def generate(students: int, seed: int = 7) -> dict[str, Any]:
    """Every step record of the organization as columns, one row per
    (student, assignment, step) in that order, and this week's attempt log:
    the records already in memory, as a columnar store would hold them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = students * ASSIGNMENTS * STEPS
    a = np.tile(np.repeat(np.arange(ASSIGNMENTS), STEPS), students)
    k = np.tile(np.arange(STEPS), students * ASSIGNMENTS)
    # Later assignments and later steps are less often begun.
    begun = rng.random(n) < 0.95 - 0.05 * a - 0.02 * k
    attempts = np.where(begun, rng.integers(1, 8, n), 0).astype(np.int16)
    target = np.array([70.0, 75.0, 80.0, 85.0])[(a + k) % 4]
    best = np.where(begun, np.round(rng.uniform(20.0, 100.0, n), 1), 0.0)
    one = attempts == 1
    first = np.where(begun, np.round(best * rng.uniform(0.6, 1.0, n), 1), 0.0)
    first = np.where(one, best, first)
    latest = np.where(begun, np.round(best * rng.uniform(0.8, 1.0, n), 1), 0.0)
    latest = np.where(one, best, latest)
    mean = np.where(one, best, np.round((first + best + latest) / 3.0, 3))
    cv = np.where(one | ~begun, 0.0, rng.uniform(0.0, 0.4, n))
    m2 = np.round(attempts * (cv * mean) ** 2, 6)
    start = (7 * 24 * 60 * a + rng.integers(0, 6 * 24 * 60, n)).astype(np.int32)
    span = (attempts.astype(np.int32) - 1).clip(0) * rng.integers(10, 2000, n)
    # Every attempt is before AS_OF (day 70, minute 100,800).
    latest_at = np.minimum(start + 5 + span, 70 * 24 * 60 - 1).astype(np.int32)
    complete = begun & (best >= target)
    # Mastery (D6) and state codes, as the records will hold them.
    spread = np.sqrt(m2 / attempts.clip(1))
    consistency = np.divide(spread, mean, out=np.ones(n), where=mean > 0)
    mastery = np.select(
        [
            ~begun,
            best < 0.7 * target,
            best < target,
            consistency < 0.15,
        ],
        [0, 1, 2, 3],
        default=2,
    ).astype(np.int8)
    state = np.select([complete, begun, k == 0], [3, 2, 1], default=0).astype(np.int8)
    del a, k, one, cv, spread, consistency, span
    # As a columnar store holds them (the conventions of mlc_progress.columnar):
    # times in microseconds since the epoch, NaT for none, NaN for no score.
    nat = np.iinfo(np.int64).min
    t0 = int(T0.timestamp()) * 1_000_000
    minute = 60_000_000
    start_us = t0 + start.astype(np.int64) * minute
    latest_us = t0 + latest_at.astype(np.int64) * minute
    started_at = np.where(begun, start_us, nat)
    first_attempt_at = np.where(begun, start_us + 5 * minute, nat)
    del start_us
    last_activity_at = np.where(begun, latest_us, nat)
    completed_at = np.where(complete, latest_us, nat)
    ratio = np.divide(m2, attempts, out=np.zeros(n), where=begun)
    consistency_score = np.divide(
        np.sqrt(ratio), mean, out=np.full(n, np.nan), where=begun & (mean != 0)
    )
    del ratio
    # This week's attempt log: the latest attempt of each step played in it.
    recent = np.flatnonzero(begun & (latest_at > 63 * 24 * 60))
    return {
        "students": students,
        "student_ids": tuple(f"st{s:05d}" for s in range(students)),
        "attempts": attempts,
        "target": target,
        "best": best,
        "first": np.where(begun, first, np.nan),
        "latest": latest,
        "mean": mean,
        "m2": m2,
        "consistency": consistency_score,
        "started_at": started_at,
        "completed_at": completed_at,
        "last_activity_at": last_activity_at,
        "first_attempt_at": first_attempt_at,
        "mastery": mastery,
        "state": state,
        "passed": best >= target,
        "time_on_task_ms": attempts.astype(np.int32) * 60_000,
        "session_count": begun.astype(np.int8),
        "attempt_student": (recent // (ASSIGNMENTS * STEPS)).astype(np.int32),
        "attempt_assignment": ((recent // STEPS) % ASSIGNMENTS).astype(np.int8),
        "attempted_at": latest_us[recent],
        "attempt_duration_ms": np.full(len(recent), 60_000, dtype=np.int32),
        "attempt_key": recent,
    }


def structures() -> tuple[Any, ...]:
    from mlc_progress import AssignmentStructure, Stage, StepDefinition

    stages = (
        Stage.LEARN,
        Stage.PLAY,
        Stage.PLAY,
        Stage.QUIZ,
        Stage.CHALLENGE,
        Stage.REVIEW,
        Stage.PLAY,
        Stage.QUIZ,
        Stage.PLAY,
        Stage.REVIEW,
    )
    targets = (70.0, 75.0, 80.0, 85.0)
    return tuple(
        AssignmentStructure(
            assignment_id=f"a{a:02d}",
            created_at=T0 + timedelta(days=7 * a),
            due_at=T0 + timedelta(days=7 * a + 14),
            steps=tuple(
                StepDefinition(
                    step_id=f"s{k}",
                    element_id=f"game-{(a * 7 + k) % 40}",
                    stage=stages[k],
                    target_score=targets[(a + k) % 4],
                    optional=k == STEPS - 1,
                    concepts=(f"concept-{(a * 3 + k) % 30}",),
                )
                for k in range(STEPS)
            ),
        )
        for a in range(ASSIGNMENTS)
    )


class _Builder:
    """Builds one student's records from the arrays."""

    def __init__(self, data: dict[str, Any]) -> None:
        from mlc_progress import MasteryLevel, StepState
        from mlc_progress._structure import Attempt

        self.data = data
        self.structures = structures()
        # Every minute of the term, made once: times are then list lookups.
        self.minutes = [T0 + timedelta(minutes=m) for m in range(70 * 24 * 60)]
        self.mastery = (
            MasteryLevel.NOT_STARTED,
            MasteryLevel.LEARNING,
            MasteryLevel.PROFICIENT,
            MasteryLevel.MASTERED,
        )
        self.states = (
            StepState.LOCKED,
            StepState.AVAILABLE,
            StepState.IN_PROGRESS,
            StepState.COMPLETE,
        )
        self.complete = StepState.COMPLETE
        self.attempt = Attempt
        self.week = AS_OF - timedelta(days=7)

    def history(self, s: int) -> Any:
        import numpy as np

        from mlc_progress import StepProgress
        from mlc_progress._history import AssignmentRecords
        from mlc_progress._rollups import StudentHistory

        d = self.data
        lo, hi = s * ASSIGNMENTS * STEPS, (s + 1) * ASSIGNMENTS * STEPS
        t0, minute = int(T0.timestamp()) * 1_000_000, 60_000_000
        cols = [
            d[name][lo:hi].tolist()
            for name in (
                "attempts",
                "target",
                "best",
                "first",
                "latest",
                "mean",
                "m2",
                "consistency",
                "mastery",
                "state",
            )
        ]
        # Minutes since T0 (rows without attempts have no times: unused).
        begun = d["attempts"][lo:hi] > 0
        for name in ("started_at", "last_activity_at"):
            times = np.where(begun, d[name][lo:hi], t0)
            cols.append(((times - t0) // minute).tolist())
        minutes, mastery, states, complete = (
            self.minutes,
            self.mastery,
            self.states,
            self.complete,
        )
        sid = f"st{s:05d}"
        records = []
        recent = []
        row = 0
        for structure in self.structures:
            aid = structure.assignment_id
            steps = []
            for k in range(STEPS):
                n, target, best, first, latest, mean, m2, cv, m, st, start, last = (
                    c[row] for c in cols
                )
                row += 1
                state = states[st]
                if n:
                    started = minutes[start]
                    latest_at = minutes[last]
                    step = StepProgress(
                        step_id=f"s{k}",
                        assignment_id=aid,
                        student_id=sid,
                        state=state,
                        started_at=started,
                        completed_at=latest_at if state is complete else None,
                        last_activity_at=latest_at,
                        attempt_count=n,
                        best_score=best,
                        latest_score=latest,
                        target_score=target,
                        passed=best >= target,
                        time_on_task_ms=n * 60_000,
                        session_count=1,
                        mastery_level=mastery[m],
                        consistency_score=None if cv != cv else cv,
                        score_mean=mean,
                        score_m2=m2,
                        first_attempt_at=minutes[start + 5],
                        first_score=first,
                        latest_attempt_at=latest_at,
                        last_session_id="x1",
                    )
                    if latest_at > self.week:
                        recent.append(
                            self.attempt(
                                attempt_id=f"{sid}-{aid}-s{k}",
                                student_id=sid,
                                assignment_id=aid,
                                step_id=f"s{k}",
                                score=latest,
                                attempted_at=latest_at,
                                duration_ms=60_000,
                                session_id="x1",
                            )
                        )
                else:
                    step = StepProgress(
                        step_id=f"s{k}",
                        assignment_id=aid,
                        student_id=sid,
                        state=state,
                        target_score=target,
                    )
                steps.append(step)
            records.append(AssignmentRecords(structure=structure, steps=tuple(steps)))
        return StudentHistory(
            student_id=sid,
            organization_id=ORG,
            class_ids=(f"class-{s // CLASS_SIZE:03d}",),
            assignments=tuple(records),
            attempts=tuple(recent),
        )


# -- the record path ---------------------------------------------------------------


def records_batch(data: dict[str, Any]) -> tuple[float, array[float], Any]:
    """The record path, streaming: every student's summary, at-risk state
    and the dashboard; return the seconds, the completion and mastery of
    every (student, assignment), and the dashboard."""
    from mlc_progress._rollups import (
        OrganizationDashboardAccumulator,
        summarize_student,
    )

    builder = _Builder(data)
    figures: array[float] = array("d")
    started = time.perf_counter()
    board = OrganizationDashboardAccumulator(organization_id=ORG, as_of=AS_OF)
    for s in range(data["students"]):
        result = summarize_student(builder.history(s), as_of=AS_OF, run_id="bench")
        board.add(result)
        for p in result.assignments:
            figures.append(p.completion_percentage)
            figures.append(p.mastery_score)
    dashboard = board.result()
    return time.perf_counter() - started, figures, dashboard


# -- the columnar kernel -----------------------------------------------------------


def build_columns(data: dict[str, Any], catalog: tuple[Any, ...]) -> Any:
    """The ``StepColumns`` of the generated columns: every record rule
    validated, the arrays handed over (``copy=False``: a batch job builds
    them for the kernel alone). The rows are every step of every (student,
    assignment) in order, so they need no keys."""
    import numpy as np

    from mlc_progress.columnar import StepColumns

    students = data["students"]
    return StepColumns(
        copy=False,
        organization_id=ORG,
        student_ids=data["student_ids"],
        structures=catalog,
        group_student=np.repeat(np.arange(students, dtype=np.int32), ASSIGNMENTS),
        group_assignment=np.tile(np.arange(ASSIGNMENTS, dtype=np.int8), students),
        state=data["state"],
        target_score=data["target"],
        started_at=data["started_at"],
        completed_at=data["completed_at"],
        last_activity_at=data["last_activity_at"],
        attempt_count=data["attempts"],
        best_score=data["best"],
        latest_score=data["latest"],
        passed=data["passed"],
        time_on_task_ms=data["time_on_task_ms"],
        session_count=data["session_count"],
        mastery_level=data["mastery"],
        consistency_score=data["consistency"],
        score_mean=data["mean"],
        score_m2=data["m2"],
        first_attempt_at=data["first_attempt_at"],
        first_score=data["first"],
        latest_attempt_at=data["last_activity_at"],
        attempt_student=data["attempt_student"],
        attempt_assignment=data["attempt_assignment"],
        attempted_at=data["attempted_at"],
        attempt_duration_ms=data["attempt_duration_ms"],
        attempt_key=data["attempt_key"],
    )


def kernel_once(data: dict[str, Any], catalog: tuple[Any, ...]) -> Any:
    """One kernel run: columns, then every figure."""
    from mlc_progress.columnar import summarize_columns

    return summarize_columns(build_columns(data, catalog), as_of=AS_OF)


def kernel(data: dict[str, Any]) -> tuple[float, float, Any]:
    """The columnar kernel, best of ``REPEATS``: the seconds of the whole,
    the seconds of building the columns, and the last result."""
    from mlc_progress.columnar import summarize_columns

    catalog = structures()
    best = best_build = math.inf
    result = None
    for _ in range(REPEATS):
        result = None  # the previous run's arrays go before the next run
        started = time.perf_counter()
        columns = build_columns(data, catalog)
        built = time.perf_counter()
        result = summarize_columns(columns, as_of=AS_OF)
        done = time.perf_counter()
        del columns
        best = min(best, done - started)
        best_build = min(best_build, built - started)
    return best, best_build, result


def kernel_figures(result: Any) -> Any:
    """The kernel's completion and mastery of every (student, assignment),
    interleaved as the record path and pandas give them."""
    import numpy as np

    a = result.assignments
    return np.column_stack([a.completion_percentage, a.mastery_score]).ravel()


def check_sample(data: dict[str, Any], result: Any) -> int:
    """Every kernel figure of a sample of students equals the record path's
    (floats bit for bit); the number of students checked."""
    from mlc_progress._rollups import summarize_student
    from mlc_progress.testing.equality import bitwise_equal

    builder = _Builder(data)
    students = data["students"]
    sample = sorted({i * students // SAMPLE for i in range(SAMPLE)} | {students - 1})
    for s in sample:
        expected = summarize_student(builder.history(s), as_of=AS_OF, run_id="bench")
        got = result.records(s)
        pairs = [
            ("summary", got.summary, expected.summary),
            ("assignments", got.assignments, expected.assignments),
            ("factors", got.assessed_factors, expected.risk.assessment.codes),
            ("completion", got.completion_percentage, expected.completion_percentage),
            ("pacing", got.worst_pacing, expected.worst_pacing),
        ]
        for name, mine, theirs in pairs:
            if not bitwise_equal(mine, theirs):
                raise SystemExit(f"kernel and record path differ: student {s}, {name}")
    return len(sample)


# -- pandas and the runs ----------------------------------------------------------


def pandas_figures(data: dict[str, Any]) -> tuple[float, Any]:
    """The same completion and mastery per (student, assignment) with a plain
    pandas groupby; return the seconds and the figures, interleaved."""
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]  # no stubs in the bench extra

    weights = np.array([0.5, 1.0, 1.0, 2.0, 1.5, 1.0, 1.0, 2.0, 1.0, 1.0])
    required = np.arange(STEPS) != STEPS - 1
    students = data["students"]
    started = time.perf_counter()
    rows = students * ASSIGNMENTS * STEPS
    req = np.tile(required, students * ASSIGNMENTS)
    frame = pd.DataFrame(
        {
            "student": np.repeat(np.arange(students), ASSIGNMENTS * STEPS),
            "assignment": np.tile(np.repeat(np.arange(ASSIGNMENTS), STEPS), students),
            "required": req.astype(np.int64),
            "done": (req & (data["state"] == 3)).astype(np.int64),
            "weight": np.where(req, np.tile(weights, students * ASSIGNMENTS), 0.0),
        }
    )
    frame["weighted"] = frame["weight"] * data["best"]
    sums = frame.groupby(["student", "assignment"], sort=False)[
        ["required", "done", "weight", "weighted"]
    ].sum()
    completion = np.where(
        sums["required"] > 0, 100.0 * sums["done"] / sums["required"].clip(1), 100.0
    )
    mastery = np.where(
        sums["weight"] > 0, sums["weighted"] / sums["weight"].clip(1e-12), 0.0
    )
    elapsed = time.perf_counter() - started
    assert len(frame) == rows
    return elapsed, np.column_stack([completion, mastery]).ravel()


def best_of_pandas(data: dict[str, Any]) -> tuple[float, Any]:
    """``pandas_figures``, best of ``REPEATS``."""
    best = math.inf
    figures = None
    for _ in range(REPEATS):
        seconds, figures = pandas_figures(data)
        best = min(best, seconds)
    return best, figures


def measure_size(students: int) -> dict[str, float]:
    """One size, in this process: the kernel and its peak memory, then
    pandas and the record path, each checked against the kernel."""
    import numpy as np

    data = generate(students)
    seconds, build_s, result = kernel(data)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = kernel_figures(result)
    out = {"batch_s": seconds, "columns_s": build_s, "peak_mib": peak_mib}
    try:
        pandas_s, expected = best_of_pandas(data)
    except ImportError:  # pragma: no cover - the bench extra is missing
        pass
    else:
        gap = float(np.max(np.abs(figures - expected)))
        if gap > 1e-9:
            raise SystemExit(f"kernel and pandas disagree by {gap}")
        out["pandas_s"] = pandas_s
    check_sample(data, result)
    records_s, record_figures, dashboard = records_batch(data)
    assert dashboard.figures.students == students
    if not np.array_equal(np.asarray(record_figures), figures):
        raise SystemExit("kernel and record path disagree on completion or mastery")
    out["records_s"] = records_s
    return out


def _child(students: int) -> dict[str, float]:
    """``measure_size`` in a fresh process, for its own peak memory."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(students)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def runner_over_sqlite(students: int) -> float:
    """Students per second through ``run_batch`` over a SQLite file."""
    from mlc_progress._batch_runner import enroll, run_batch
    from mlc_progress._ports import Enrollment
    from mlc_progress.adapters import SQLiteStore

    data = generate(students, seed=3)
    builder = _Builder(data)
    with tempfile.TemporaryDirectory() as folder:
        with SQLiteStore(Path(folder) / "bench.db") as store:
            for structure in builder.structures:
                store.catalog.add_assignment(ORG, structure)
            enrolled = []
            for s in range(students):
                history = builder.history(s)
                with store.unit_of_work() as uow:
                    for records in history.assignments:
                        for step in records.steps:
                            uow.progress.put_step(ORG, step, expected_version=0)
                    for attempt in history.attempts:
                        uow.attempts.append(ORG, attempt)
                    uow.commit()
                enrolled.append(
                    Enrollment(
                        student_id=history.student_id,
                        class_ids=history.class_ids,
                        assignment_ids=tuple(
                            r.structure.assignment_id for r in history.assignments
                        ),
                    )
                )
            enroll(store, ORG, enrolled)
        # A fresh store: nothing decoded is cached from the writes.
        with SQLiteStore(Path(folder) / "bench.db") as store:
            started = time.perf_counter()
            report = run_batch(store, store.catalog, ORG, as_of=AS_OF, chunk_size=100)
            elapsed = time.perf_counter() - started
    assert report.students_processed == students
    return students / elapsed


def run(results: dict[str, float], quick: bool) -> None:
    small, large = (100, 1_000) if quick else (1_000, 10_000)
    first = _child(small)
    second = _child(large)
    results["batch_100k_s"] = first["batch_s"]
    results["batch_1m_s"] = second["batch_s"]
    results["batch_columns_1m_s"] = second["columns_s"]
    results["batch_100k_peak_mib"] = first["peak_mib"]
    results["batch_1m_peak_mib"] = second["peak_mib"]
    results["batch_growth_x"] = second["batch_s"] / first["batch_s"]
    if "pandas_s" in first and "pandas_s" in second:
        results["pandas_100k_s"] = first["pandas_s"]
        results["pandas_1m_s"] = second["pandas_s"]
        results["batch_1m_over_pandas_x"] = second["batch_s"] / second["pandas_s"]
    results["batch_records_100k_s"] = first["records_s"]
    results["batch_records_1m_s"] = second["records_s"]
    results["batch_records_over_kernel_x"] = second["records_s"] / second["batch_s"]
    results["batch_runner_sqlite_students_per_s"] = runner_over_sqlite(
        30 if quick else 300
    )


def profile(students: int) -> None:
    """Profile one kernel run with pyinstrument and print the tree."""
    from pyinstrument import Profiler

    data = generate(students)
    catalog = structures()
    kernel_once(data, catalog)  # warm caches and imports
    profiler = Profiler(interval=0.0005)
    profiler.start()
    kernel_once(data, catalog)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure_size(int(sys.argv[2]))))
    elif "--profile" in sys.argv:
        profile(1_000 if "--quick" in sys.argv else 10_000)
    else:
        figures: dict[str, float] = {}
        run(figures, "--quick" in sys.argv)
        for name, value in figures.items():
            print(f"{name:<40}{value:>14,.3f}  {UNITS.get(name, '')}")
