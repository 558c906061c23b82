"""Dask speed-up of the batch: 2 worker processes against one process.

Each task receives only a partition spec (first student, count) and builds
its students' records itself, standing in for a worker reading its own
partition from storage; nothing but the spec travels from the client. The
one-process baseline runs the same function over every spec in turn, so both
sides do identical work and the ratio is the engine's speed-up. The full run
covers 10,000 students x 10 assignments x 10 steps, like ``batch_1m``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)

UNITS = {"dask_1m_speedup": "x", "dask_1m_s": "s", "dask_local_1m_s": "s"}

TARGETS = [
    (
        "dask_1m_speedup",
        ">=",
        1.6,
        "batch on a LocalCluster of 2 worker processes over one process",
    ),
]


def summarize_slice(first: int, count: int, assignments: int, steps: int) -> int:
    """Build and summarize students ``first .. first + count``; the number of
    students at risk (a small result, so little travels back)."""
    from mlc_progress._rollups import summarize_student
    from mlc_progress._synthetic import synthetic_histories, synthetic_structures

    structures = synthetic_structures(assignments=assignments, steps=steps, as_of=AS_OF)
    at_risk = 0
    for history in synthetic_histories(
        structures, students=count, as_of=AS_OF, first_student=first
    ):
        result = summarize_student(history, as_of=AS_OF, run_id="bench")
        at_risk += result.summary.at_risk
    return at_risk


def run(results: dict[str, float], quick: bool) -> None:
    from distributed import Client, LocalCluster

    students = 400 if quick else 10_000
    size = 10
    slices = 8 if quick else 40
    per = students // slices
    specs = [(k * per, per) for k in range(slices)]

    start = time.perf_counter()
    local = sum(summarize_slice(first, count, size, size) for first, count in specs)
    local_s = time.perf_counter() - start

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        # Workers up, and the library imported, before the clock starts.
        client.run(summarize_slice, 0, 1, size, size)
        start = time.perf_counter()
        futures = client.map(
            summarize_slice,
            [f for f, _ in specs],
            [c for _, c in specs],
            [size] * len(specs),
            [size] * len(specs),
            pure=False,
        )
        distributed = sum(client.gather(futures))
        dask_s = time.perf_counter() - start
    if distributed != local:
        raise AssertionError(f"dask gave {distributed} at risk, one process {local}")
    results["dask_local_1m_s"] = local_s
    results["dask_1m_s"] = dask_s
    results["dask_1m_speedup"] = local_s / dask_s


if __name__ == "__main__":
    figures: dict[str, float] = {}
    run(figures, quick=False)
    for name, value in figures.items():
        print(f"{name:24} {value:10.3f}")
