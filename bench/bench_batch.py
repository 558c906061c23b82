"""Batch recomputation at scale, next to a plain pandas groupby.

The workload is an organization of students x 10 assignments x 10 steps:
1,000 students (100,000 step records) and 10,000 students (1,000,000), so
the growth shows. The step records are first generated in a compact form
(one numpy array per field, about 60 bytes a record), never as a million
``StepProgress`` objects at once (those alone would take about 384 MiB);
then the batch computation streams: for each student it builds their 100
``StepProgress`` records, the ``StudentHistory`` and calls
``summarize_student``, folding the result into an
``OrganizationDashboardAccumulator`` (400 classes of 25), so memory is one
student plus the accumulators. Figures:

- ``batch_100k_s``, ``batch_1m_s``: seconds from the compact arrays to every
  student's summary, at-risk state and the dashboard;
- ``batch_1m_peak_mib``: the peak resident memory (``ru_maxrss``) of the
  process that generated and recomputed the 1M records. Each size runs in a
  fresh child process, so the figure is that process's own peak: the
  interpreter, numpy, the library, the arrays and the streaming work. Not
  ``tracemalloc``: it slows allocation-heavy Python two to three times, so
  time and memory could not come from the same run, and resident memory is
  what a host pays for;
- ``batch_growth_x``: ``batch_1m_s / batch_100k_s``, shown for reading;
- ``pandas_1m_s`` (and ``pandas_100k_s``): a plain pandas groupby computing
  only the completion percentage (D10) and the stage-weighted mastery score
  (D12) per (student, assignment) over the same rows, from the same arrays;
  the run checks that both compute the same figures;
- ``batch_runner_sqlite_students_per_s``: ``run_batch`` over a SQLite file
  (reading and decoding every record, writing every summary and state), on
  300 students x 10 x 10 (30 with ``--quick``).

Targets: ``batch_1m_s <= 3 x pandas_1m_s`` (out of reach in pure Python:
pandas runs the two sums in C over columns, the batch builds and validates
every record and computes every field of the spec for each student; the
margin is printed), ``batch_1m_s / batch_100k_s <= 11`` (linear growth),
``batch_1m_peak_mib <= 300``. ``--quick`` runs 100 and 1,000 students.

Run alone with ``python bench/bench_batch.py [--quick]``.
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
    "batch_1m_peak_mib": "MiB",
    "batch_100k_peak_mib": "MiB",
    "pandas_100k_s": "s",
    "pandas_1m_s": "s",
    "batch_1m_over_pandas_x": "x",
    "batch_growth_x": "x",
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


# -- the compact workload ----------------------------------------------------------


def generate(students: int, seed: int = 7) -> dict[str, Any]:
    """Every step record of the organization as numpy arrays, one row per
    (student, assignment, step) in that order."""
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
    return {
        "students": students,
        "attempts": attempts,
        "target": target,
        "best": best,
        "first": first,
        "latest": latest,
        "mean": mean,
        "m2": m2,
        "start": start,
        "latest_at": latest_at,
        "mastery": mastery,
        "state": state,
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
        from mlc_progress import StepProgress
        from mlc_progress._history import AssignmentRecords
        from mlc_progress._rollups import StudentHistory

        d = self.data
        lo, hi = s * ASSIGNMENTS * STEPS, (s + 1) * ASSIGNMENTS * STEPS
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
                "start",
                "latest_at",
                "mastery",
                "state",
            )
        ]
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
                n, target, best, first, latest, mean, m2, start, last, m, st = (
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
                        consistency_score=math.sqrt(m2 / n) / mean if mean else None,
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


def batch(data: dict[str, Any]) -> tuple[float, array[float], Any]:
    """Recompute every student's summary, streaming; return the seconds, the
    completion and mastery of every (student, assignment), and the
    dashboard."""
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


def measure_size(students: int) -> dict[str, float]:
    """One size, in this process: the batch, its peak memory, then pandas."""
    data = generate(students)
    seconds, figures, dashboard = batch(data)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert dashboard.figures.students == students
    result = {"batch_s": seconds, "peak_mib": peak_mib}
    try:
        import numpy as np

        pandas_s, expected = pandas_figures(data)
    except ImportError:  # pragma: no cover - the bench extra is missing
        return result
    gap = float(np.max(np.abs(np.asarray(figures) - expected)))
    if gap > 1e-9:
        raise SystemExit(f"batch and pandas disagree by {gap}")
    result["pandas_s"] = pandas_s
    return result


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
    results["batch_100k_peak_mib"] = first["peak_mib"]
    results["batch_1m_peak_mib"] = second["peak_mib"]
    results["batch_growth_x"] = second["batch_s"] / first["batch_s"]
    if "pandas_s" in first and "pandas_s" in second:
        results["pandas_100k_s"] = first["pandas_s"]
        results["pandas_1m_s"] = second["pandas_s"]
        results["batch_1m_over_pandas_x"] = second["batch_s"] / second["pandas_s"]
    results["batch_runner_sqlite_students_per_s"] = runner_over_sqlite(
        30 if quick else 300
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure_size(int(sys.argv[2]))))
    else:
        figures: dict[str, float] = {}
        run(figures, "--quick" in sys.argv)
        for name, value in figures.items():
            print(f"{name:<40}{value:>14,.3f}  {UNITS.get(name, '')}")
