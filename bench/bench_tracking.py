"""The cost of applying one attempt, next to building one record (issue 3).

Figures, measured side by side in one process, each a median over rounds:

- ``record_build_us``: building one ``StepProgress`` from its required fields,
  the baseline;
- ``record_build_full_us``: building one with every field set, as an attempt
  does (for orientation);
- ``attempt_apply_median_us`` and ``attempt_apply_p99_us``: ``apply_command``
  for one attempt on a 20-step assignment whose 20 step records are all in
  the state, events and the new assignment record included;
- ``attempt_cost_growth_x``: the cost of the 1,000th attempt on a step over
  that of the 1st. Both states have the assignment started and the step in
  progress; one holds 999 earlier attempts on the step (applied with
  ``apply_command``), the other none. Near 1 means no growth.

Rounds alternate between the baseline and the measured call, so a drift of
the machine affects both alike. Objects alive before the run (other
benchmarks' data, say) are frozen out of the garbage collector's scans, so
the tail measures this code and not the size of the rest of the heap.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mlc_progress import (
    AssignmentStructure,
    Attempt,
    Stage,
    StartStep,
    StepDefinition,
    StepProgress,
    StepState,
)
from mlc_progress._tracking import ProgressState, apply_command

STEPS = 20
T0 = datetime(2026, 9, 1, tzinfo=UTC)
STAGES = (Stage.LEARN, Stage.PLAY, Stage.QUIZ, Stage.CHALLENGE, Stage.REVIEW)

UNITS = {
    "record_build_us": "us",
    "record_build_full_us": "us",
    "attempt_apply_median_us": "us",
    "attempt_apply_p99_us": "us",
    "attempt_cost_growth_x": "x",
}

TARGETS = [
    (
        "attempt_apply_median_us",
        "<=",
        ("record_build_us", 10.0),
        "median attempt within 10x building one StepProgress",
    ),
    (
        "attempt_apply_p99_us",
        "<=",
        ("record_build_us", 30.0),
        "p99 attempt within 30x building one StepProgress",
    ),
    (
        "attempt_cost_growth_x",
        "<=",
        1.2,
        "the 1,000th attempt on a step costs at most 1.2x the 1st",
    ),
]


def structure() -> AssignmentStructure:
    """20 required steps of every stage, due in four weeks."""
    return AssignmentStructure(
        assignment_id="a1",
        created_at=T0,
        due_at=T0 + timedelta(days=28),
        steps=tuple(
            StepDefinition(
                step_id=f"s{i:02d}",
                element_id=f"game-{i}",
                stage=STAGES[i % len(STAGES)],
                target_score=80.0,
            )
            for i in range(STEPS)
        ),
    )


def play(attempt_id: str, step_id: str, score: float, when: datetime) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        student_id="u1",
        assignment_id="a1",
        step_id=step_id,
        score=score,
        attempted_at=when,
        duration_ms=90_000,
        session_id="k1",
    )


def half_done() -> ProgressState:
    """Ten steps complete, ten in progress: all 20 records in the state."""
    state = ProgressState(student_id="u1", structure=structure())
    as_of = T0 + timedelta(days=3)
    for i in range(STEPS):
        command = play(
            f"p{i}", f"s{i:02d}", 90.0 if i < 10 else 50.0, T0 + timedelta(hours=i + 1)
        )
        state = state.after(apply_command(command, state, as_of=as_of))
    assert len(state.steps) == STEPS
    assert all(s.state is not StepState.LOCKED for s in state.steps.values())
    return state


def with_history(attempts: int) -> ProgressState:
    """Step s05 in progress with ``attempts`` earlier attempts, the others untouched."""
    state = ProgressState(student_id="u1", structure=structure())
    as_of = T0 + timedelta(days=20)
    start = StartStep(
        command_id="c0",
        student_id="u1",
        assignment_id="a1",
        step_id="s00",
        started_at=T0 + timedelta(minutes=1),
        session_id="k1",
    )
    state = state.after(apply_command(start, state, as_of=as_of))
    for i in range(attempts):
        command = play(f"h{i}", "s00", float(i % 70), T0 + timedelta(minutes=2 + i))
        state = state.after(apply_command(command, state, as_of=as_of))
    assert state.steps["s00"].attempt_count == attempts
    return state


def per_call_us(call: Callable[[], object], n: int) -> list[float]:
    """``n`` timings of ``call``, each in microseconds."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        call()
        samples.append((clock() - start) / 1000)
    return samples


def batch_us(call: Callable[[], object], n: int) -> float:
    """The mean time of ``call`` over a batch of ``n``, in microseconds."""
    start = time.perf_counter_ns()
    for _ in range(n):
        call()
    return (time.perf_counter_ns() - start) / 1000 / n


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(results: dict[str, float], quick: bool) -> None:
    gc.collect()
    gc.freeze()
    try:
        measure(results, quick)
    finally:
        gc.unfreeze()


def measure(results: dict[str, float], quick: bool) -> None:
    rounds = 3 if quick else 9
    batch = 2_000 if quick else 20_000
    calls = 300 if quick else 3_000

    def build() -> StepProgress:
        return StepProgress(
            step_id="s00", assignment_id="a1", student_id="u1", target_score=80.0
        )

    full = half_done().steps["s15"]

    def build_full() -> StepProgress:
        return StepProgress(
            step_id=full.step_id,
            assignment_id=full.assignment_id,
            student_id=full.student_id,
            state=full.state,
            started_at=full.started_at,
            completed_at=full.completed_at,
            last_activity_at=full.last_activity_at,
            attempt_count=full.attempt_count,
            best_score=full.best_score,
            latest_score=full.latest_score,
            target_score=full.target_score,
            passed=full.passed,
            time_on_task_ms=full.time_on_task_ms,
            session_count=full.session_count,
            mastery_level=full.mastery_level,
            consistency_score=full.consistency_score,
            completion_source=full.completion_source,
            reconciliation_metadata=full.reconciliation_metadata,
            score_mean=full.score_mean,
            score_m2=full.score_m2,
            first_attempt_at=full.first_attempt_at,
            first_score=full.first_score,
            latest_attempt_at=full.latest_attempt_at,
            last_session_id=full.last_session_id,
            available_at=full.available_at,
        )

    state = half_done()
    as_of = T0 + timedelta(days=4)
    attempt = play("next", "s15", 60.0, T0 + timedelta(days=3, hours=1))
    outcome = apply_command(attempt, state, as_of=as_of)
    assert outcome.applied
    assert outcome.events

    def apply() -> object:
        return apply_command(attempt, state, as_of=as_of)

    first_state = with_history(0)
    late_state = with_history(999)
    growth_as_of = T0 + timedelta(days=20)
    next_attempt = play("n", "s00", 55.0, T0 + timedelta(days=19))

    def first() -> object:
        return apply_command(next_attempt, first_state, as_of=growth_as_of)

    def thousandth() -> object:
        return apply_command(next_attempt, late_state, as_of=growth_as_of)

    builds: list[float] = []
    full_builds: list[float] = []
    medians: list[float] = []
    p99s: list[float] = []
    growth: list[float] = []
    batch_us(apply, calls)  # warm up
    for _ in range(rounds):
        gc.collect()
        builds.append(batch_us(build, batch))
        full_builds.append(batch_us(build_full, batch // 4))
        samples = per_call_us(apply, calls)
        medians.append(statistics.median(samples))
        p99s.append(percentile(samples, 0.99))
        one = statistics.median(per_call_us(first, calls // 3))
        many = statistics.median(per_call_us(thousandth, calls // 3))
        growth.append(many / one)

    results["record_build_us"] = statistics.median(builds)
    results["record_build_full_us"] = statistics.median(full_builds)
    results["attempt_apply_median_us"] = statistics.median(medians)
    results["attempt_apply_p99_us"] = statistics.median(p99s)
    results["attempt_cost_growth_x"] = statistics.median(growth)
