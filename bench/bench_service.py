"""Attempts per second through ProgressService, on each reference adapter.

One run measures, on the same synthetic workload (students working through a
five-step assignment, each attempt on the step they are at):

- ``service_memory_attempts_per_s``: one transaction per attempt, in memory;
- ``service_sqlite_attempts_per_s``: one transaction per attempt, SQLite file
  in a temporary directory, default synchronous (NORMAL);
- ``service_sqlite_full_attempts_per_s``: the same with synchronous=FULL
  (power-loss safe), for comparison;
- ``service_sqlite_batch_attempts_per_s``: ``apply_many``, 500 attempts per
  transaction (100 with ``--quick``);
- ``core_apply_command_us``: the pure core alone per attempt, the floor
  under every figure above;
- ``service_sqlite_batch_shell_us``: what the service and SQLite add per
  attempt in a batch: the batched run's microseconds per attempt less the
  core's, both measured in this run.

Run alone with ``python bench/bench_service.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    Stage,
    StepDefinition,
    apply_command,
)
from mlc_progress._service import ProgressService
from mlc_progress._tracking import ProgressState
from mlc_progress.adapters import (
    FixedClock,
    InMemoryCatalog,
    InMemoryStore,
    SQLiteStore,
)

ORG = "org-bench"
CREATED = datetime(2026, 9, 1, tzinfo=UTC)
NOW = CREATED + timedelta(days=3)
STEPS = 5
STUDENTS = 50

UNITS = {
    "service_memory_attempts_per_s": "attempts/s",
    "service_sqlite_attempts_per_s": "attempts/s",
    "service_sqlite_full_attempts_per_s": "attempts/s",
    "service_sqlite_batch_attempts_per_s": "attempts/s",
    "core_apply_command_us": "us",
    "service_sqlite_batch_shell_us": "us",
}

TARGETS = [
    (
        "service_memory_attempts_per_s",
        ">=",
        10_000.0,
        "service on the in-memory adapter, one transaction per attempt",
    ),
    (
        "service_sqlite_attempts_per_s",
        ">=",
        1_500.0,
        "service on SQLite (WAL, synchronous NORMAL), one transaction per attempt",
    ),
    (
        "service_sqlite_batch_attempts_per_s",
        ">=",
        15_000.0,
        "service on SQLite, apply_many with 500 attempts per transaction",
    ),
]


def structure() -> AssignmentStructure:
    return AssignmentStructure(
        assignment_id="a1",
        created_at=CREATED,
        due_at=CREATED + timedelta(days=14),
        steps=tuple(
            StepDefinition(
                step_id=f"s{i}",
                element_id=f"game-{i}",
                stage=(Stage.LEARN, Stage.PLAY, Stage.QUIZ)[i % 3],
                target_score=80.0,
            )
            for i in range(1, STEPS + 1)
        ),
    )


def workload(count: int, prefix: str) -> list[Attempt]:
    """``count`` attempts, round-robin over students, each on the step the
    student is at; about half pass, so steps complete and unlock."""
    at_step = [1] * STUDENTS
    attempts = []
    for i in range(count):
        student = i % STUDENTS
        score = float(60 + (i * 37) % 41)
        attempts.append(
            Attempt(
                attempt_id=f"{prefix}-{i}",
                student_id=f"student-{student}",
                assignment_id="a1",
                step_id=f"s{at_step[student]}",
                score=score,
                attempted_at=NOW,
                duration_ms=45_000,
                session_id=f"session-{student}",
            )
        )
        if score >= 80 and at_step[student] < STEPS:
            at_step[student] += 1
    return attempts


def _rate(
    apply: Callable[[ProgressService, list[Attempt]], None],
    service: ProgressService,
    attempts: list[Attempt],
) -> float:
    """Attempts per second of ``apply(service, attempts)``."""
    start = time.perf_counter()
    apply(service, attempts)
    return len(attempts) / (time.perf_counter() - start)


def _one_by_one(service: ProgressService, attempts: list[Attempt]) -> None:
    for attempt in attempts:
        service.apply(ORG, attempt)


def _batches_of(size: int) -> Callable[[ProgressService, list[Attempt]], None]:
    def batched(service: ProgressService, attempts: list[Attempt]) -> None:
        for start in range(0, len(attempts), size):
            service.apply_many(ORG, attempts[start : start + size])

    return batched


def core_us(count: int) -> float:
    """Microseconds per attempt of ``apply_command`` alone, state kept in a dict."""
    shape = structure()
    states: dict[str, ProgressState] = {}
    attempts = workload(count, "core")
    start = time.perf_counter()
    for attempt in attempts:
        state = states.get(attempt.student_id) or ProgressState(
            student_id=attempt.student_id, structure=shape
        )
        outcome = apply_command(attempt, state, as_of=NOW)
        steps = dict(state.steps)
        steps.update((s.step_id, s) for s in outcome.steps)
        states[attempt.student_id] = ProgressState(
            student_id=attempt.student_id,
            structure=shape,
            steps=steps,
            assignment=outcome.assignment or state.assignment,
        )
    return (time.perf_counter() - start) / count * 1e6


def run(results: dict[str, float], quick: bool) -> None:
    count = 300 if quick else 3000
    batched = _batches_of(100 if quick else 500)
    clock = FixedClock(NOW)

    catalog = InMemoryCatalog()
    catalog.add_assignment(ORG, structure())
    memory = ProgressService(InMemoryStore().unit_of_work, catalog, clock)
    _one_by_one(memory, workload(50, "warm"))
    results["service_memory_attempts_per_s"] = _rate(
        _one_by_one, memory, workload(count, "memory")
    )

    with tempfile.TemporaryDirectory(prefix="mlc-bench-") as folder:
        for name, synchronous, apply, size in (
            ("sqlite", "NORMAL", _one_by_one, count),
            ("sqlite_full", "FULL", _one_by_one, count // 4),
            ("sqlite_batch", "NORMAL", batched, count * 2),
        ):
            path = Path(folder) / f"{name}.db"
            with SQLiteStore(path, synchronous=synchronous) as store:  # type: ignore[arg-type]
                store.catalog.add_assignment(ORG, structure())
                service = ProgressService(store.unit_of_work, store.catalog, clock)
                apply(service, workload(100, "warm"))
                results[f"service_{name}_attempts_per_s"] = _rate(
                    apply, service, workload(size, name)
                )

    results["core_apply_command_us"] = core_us(count)
    results["service_sqlite_batch_shell_us"] = (
        1e6 / results["service_sqlite_batch_attempts_per_s"]
        - results["core_apply_command_us"]
    )


if __name__ == "__main__":
    figures: dict[str, float] = {}
    run(figures, quick="--quick" in sys.argv[1:])
    for figure, value in figures.items():
        print(f"{figure:40} {value:12.1f} {UNITS[figure]}")
